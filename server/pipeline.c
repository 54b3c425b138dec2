/*
 * pipeline.c - decode, validate, compute, encode: one request through its protocol adapter.
 */
#include "pipeline.h"

#include <string.h>

#include "clock.h"
#include "endpoints.h"
#include "governor.h"

enum atrous_status atrousd_compute(struct server_ctx *ctx, struct atrous_workspace *workspace,
                                   const struct atrous_problem *problem, const float *value,
                                   const float *filters, struct atrous_filters *prepared,
                                   float **output, enum atrous_precision *ran,
                                   struct atrous_error *err)
{
    /* Validation bounded output_elements by --max-output-elements (< 2^31), so the byte
     * count cannot overflow. */
    size_t bytes = problem->output_elements * sizeof(float);
    enum atrous_status st;
    *output = NULL;
    *ran = ATROUS_PRECISION_F32;
    if (bytes > 0 && (*output = atrous_aligned_alloc(bytes)) == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for %zu output bytes",
                                bytes);
    if (prepared != NULL)
        st = atrous_engine_run_filters(ctx->engine, workspace, problem, value, prepared, *output,
                                       err);
    else
        st = atrous_engine_run(ctx->engine, workspace, problem, value, filters, *output, err);
    /* What ran, as the engine reports it. An empty problem reaches no kernel: nothing was
     * rounded, f32. Without a workspace (the synchronous path of tests) the engine's contract
     * says it: bf16 exactly when asked for and the CPU has it. */
    if (st == ATROUS_OK && problem->value_elements > 0 && problem->output_elements > 0 &&
        problem->filters_elements > 0)
        *ran = workspace != NULL ? atrous_workspace_last_precision(workspace)
               : problem->precision == ATROUS_PRECISION_BF16 && ctx->engine_info.bf16
                   ? ATROUS_PRECISION_BF16
                   : ATROUS_PRECISION_F32;
    return st;
}

void atrousd_run_decode(struct server_ctx *ctx, struct compute_run *r)
{
    const struct atrousd_protocol *protocol = r->plan->protocol;
    memset(&r->request, 0, sizeof(r->request));
    atrous_error_clear(&r->err);
    r->reply->has_stages = true;
    uint64_t t0 = atrousd_now_ns();
    if (protocol == NULL)
        r->st = atrous_error_set(&r->err, ATROUS_INTERNAL, "", "no protocol for %s",
                                 r->ex->path ? r->ex->path : "");
    else
        r->st = protocol->decode(ctx, r->ex, r->plan, &r->request, &r->err);
    if (r->st == ATROUS_OK)
        r->st = atrous_request_validate(r->request.op, &ctx->op_limits, &r->problem, &r->err);
    r->reply->parse_us = atrousd_elapsed_us(t0, atrousd_now_ns());
    /* Shapes known: the cost check and the output's memory (governor.h), before any compute. */
    r->refused = r->st == ATROUS_OK &&
                 atrousd_governor_admit_problem(ctx, r->ex, r->plan, &r->problem, r->reply);
    if (r->refused)
        r->st = ATROUS_TOO_LARGE; /* nothing more runs; the reply already holds the answer */
}

void atrousd_run_compute(struct server_ctx *ctx, struct atrous_workspace *workspace,
                         struct compute_run *r)
{
    uint64_t t0 = atrousd_now_ns();
    struct atrous_filters *prepared = r->plan->model ? r->plan->model->prepared : NULL;
    enum atrous_precision ran;
    r->st = atrousd_compute(ctx, workspace, &r->problem, r->request.op->value,
                            r->request.op->filters, prepared, &r->owned, &ran, &r->err);
    r->reply->compute_precision = atrous_precision_name(ran);
    r->output = r->owned;
    r->computed_ns = atrousd_now_ns();
    r->reply->compute_us = atrousd_elapsed_us(t0, r->computed_ns);
    if (r->st == ATROUS_OK) {
        r->reply->inference_rows = (uint64_t)r->problem.batch;
        r->reply->executed = true;
        r->reply->execution_rows = (uint64_t)r->problem.batch;
    }
}

void atrousd_run_encode(struct compute_run *r)
{
    const struct atrousd_protocol *protocol = r->plan->protocol;
    if (r->refused)
        return;
    if (r->st == ATROUS_OK)
        r->st = protocol->encode(r->plan, &r->request, &r->problem, r->output, &r->owned, r->reply,
                                 &r->err);
    if (r->st == ATROUS_OK)
        r->reply->status = 200;
    else if (protocol != NULL)
        protocol->describe_error(r->reply, r->st, &r->err, r->ex->request_id);
    else
        atrousd_reply_status(r->reply, r->st, &r->err, r->ex->request_id);
    if (r->computed_ns != 0)
        r->reply->serialize_us = atrousd_elapsed_us(r->computed_ns, atrousd_now_ns());
}

void atrousd_run_release(struct compute_run *r)
{
    if (r->plan->protocol != NULL)
        r->plan->protocol->release(&r->request);
    atrous_aligned_free(r->owned);
    r->owned = NULL;
}

void atrousd_handle_compute(struct server_ctx *ctx, const struct http_exchange *ex,
                            const struct request_plan *plan, struct atrous_workspace *workspace,
                            struct http_reply *reply)
{
    struct compute_run r = {.ex = ex, .plan = plan, .reply = reply};
    atrousd_run_decode(ctx, &r);
    if (r.st == ATROUS_OK)
        atrousd_run_compute(ctx, workspace, &r);
    atrousd_run_encode(&r);
    atrousd_run_release(&r);
}

void atrousd_handle_job(struct server_ctx *ctx, const struct http_exchange *ex,
                        const struct request_plan *plan, struct atrous_workspace *workspace,
                        struct http_reply *reply)
{
    if (atrousd_route_manages_models(plan->endpoint))
        atrousd_models_handle(ctx->models, plan->endpoint, plan->kserve.model, ex->body,
                              ex->body_len, ex->request_id, reply);
    else
        atrousd_handle_compute(ctx, ex, plan, workspace, reply);
}

void atrousd_handle(struct server_ctx *ctx, const struct http_exchange *ex,
                    struct http_reply *reply)
{
    struct http_exchange whole = *ex;
    struct request_plan plan;
    whole.has_content_length = true;
    whole.content_length = ex->body_len;
    if (!atrousd_precheck(ctx, &whole, &plan, reply)) {
        if (atrousd_route_on_worker(plan.endpoint))
            atrousd_handle_job(ctx, &whole, &plan, NULL, reply);
        else
            atrousd_handle_endpoint(ctx, &whole, &plan, reply);
    }
    atrousd_plan_release(&plan);
}
