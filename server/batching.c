/*
 * batching.c - stacks the decoded, valid requests of one repository model and one H and W into
 * one compute call and points each request's output into the stacked result.
 */
#include "batching.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "pipeline.h"

/* Computes the group's runs (one model, one H and W, decoded and valid) as one call on their
 * values stacked along N, and points each run's output into the stacked output. False when
 * the stacked problem is over a limit or its input does not fit in memory: run them alone. */
static bool compute_stacked(struct server_ctx *ctx, struct atrous_workspace *workspace,
                            struct compute_run *const *group, size_t n)
{
    const struct atrous_problem *first = &group[0]->problem;
    const struct atrous_model *model = group[0]->plan->model;
    struct atrous_shape value_shape = {.rank = 4};
    int64_t output_shape[4] = {0, first->out_h, first->out_w, first->out_c};
    for (size_t i = 0; i < n; i++)
        output_shape[0] += group[i]->problem.batch;
    value_shape.dims[0] = output_shape[0];
    value_shape.dims[1] = first->in_h;
    value_shape.dims[2] = first->in_w;
    value_shape.dims[3] = first->in_c;
    const char *padding = atrous_padding_name(model->padding);
    struct atrous_problem stacked;
    struct atrous_error err;
    if (atrous_op_validate(&value_shape, &model->filters_shape, output_shape, 4, model->rate,
                           padding, strlen(padding), &ctx->op_limits, &stacked, &err) != ATROUS_OK)
        return false;
    float *value = atrous_aligned_alloc(stacked.value_elements * sizeof(float));
    if (value == NULL)
        return false;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (group[i]->problem.value_elements > 0)
            memcpy(value + at, group[i]->request.op->value,
                   group[i]->problem.value_elements * sizeof(float));
        at += group[i]->problem.value_elements;
    }
    float *output = NULL;
    uint64_t t0 = atrousd_now_ns();
    enum atrous_precision ran;
    stacked.precision = first->precision; /* a group shares one precision */
    enum atrous_status st = atrousd_compute(ctx, workspace, &stacked, value, NULL, model->prepared,
                                            &output, &ran, &err);
    uint64_t t1 = atrousd_now_ns();
    atrous_aligned_free(value);
    at = 0;
    for (size_t i = 0; i < n; i++) {
        struct compute_run *r = group[i];
        r->st = st;
        if (st != ATROUS_OK)
            r->err = err;
        r->output = output ? output + at : NULL;
        at += r->problem.output_elements;
        r->computed_ns = t1;
        r->reply->compute_us = atrousd_elapsed_us(t0, t1);
        r->reply->batch_size = n;
        r->reply->compute_precision = atrous_precision_name(ran);
        if (st == ATROUS_OK)
            r->reply->inference_rows = (uint64_t)r->problem.batch;
    }
    if (st == ATROUS_OK) { /* one execution of all the rows, counted by the first request */
        group[0]->reply->executed = true;
        group[0]->reply->execution_rows = (uint64_t)stacked.batch;
    }
    group[0]->owned = output;
    atrousd_metrics_record_batch(ctx->metrics, n);
    return true;
}

void atrousd_handle_model_batch(struct server_ctx *ctx, const struct atrousd_call *calls,
                                size_t count, struct atrous_workspace *workspace)
{
    struct compute_run *runs = calloc(count, sizeof(*runs));
    struct compute_run **group = calloc(count, sizeof(*group));
    if (runs == NULL || group == NULL) {
        for (size_t i = 0; i < count; i++)
            atrousd_reply_fail(calls[i].reply, ATROUSD_FAIL_NO_MEMORY, NULL,
                               calls[i].ex->request_id,
                               "the server is out of memory for this request; retry later");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        runs[i] =
            (struct compute_run){.ex = calls[i].ex, .plan = calls[i].plan, .reply = calls[i].reply};
        atrousd_run_decode(ctx, &runs[i]);
    }
    /* Groups: the first run not yet done, and every later one it can stack with. */
    int64_t max_rows = (int64_t)ctx->config.max_batch;
    for (size_t i = 0; i < count; i++) {
        struct compute_run *r = &runs[i];
        if (r->done || r->st != ATROUS_OK)
            continue;
        size_t n = 0;
        int64_t rows = r->problem.batch, limit = max_rows;
        const struct atrous_model *model = r->plan->model;
        /* A model's max_batch_size bounds its batches too, as Triton's batcher does. */
        if (model != NULL && model->max_batch_size > 0 && model->max_batch_size < limit)
            limit = model->max_batch_size;
        group[n++] = r;
        for (size_t j = i + 1; j < count && rows > 0 && model != NULL; j++) {
            struct compute_run *q = &runs[j];
            if (!q->done && q->st == ATROUS_OK && q->plan->model == model &&
                q->problem.in_h == r->problem.in_h && q->problem.in_w == r->problem.in_w &&
                q->problem.precision == r->problem.precision && q->problem.batch > 0 &&
                rows + q->problem.batch <= limit) {
                group[n++] = q;
                rows += q->problem.batch;
            }
        }
        if (n < 2 || !compute_stacked(ctx, workspace, group, n)) {
            for (size_t k = 0; k < n; k++)
                atrousd_run_compute(ctx, workspace, group[k]);
        }
        for (size_t k = 0; k < n; k++)
            group[k]->done = true;
    }
    for (size_t i = 0; i < count; i++)
        atrousd_run_encode(&runs[i]);
    for (size_t i = 0; i < count; i++)
        atrousd_run_release(&runs[i]);
out:
    free(group);
    free(runs);
}
