/*
 * governor.c - a request's worst-case memory and estimated compute time, checked against
 * --max-memory-bytes and --max-compute-ms before it is committed (the rules are in the
 * header).
 */
#include "governor.h"

#include <inttypes.h>
#include <strings.h>

#include "atrous_engine.h"

/* a * b, saturating: a saturated worst case simply never fits the budget. */
static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The body buffer: one that grows as it arrives may be caught moving to its last size, the
 * old buffer (at most half of it: atrousd_governor_body_cap) still held. */
static uint64_t body_bytes(uint64_t body, bool growing)
{
    return growing ? add_sat(body, body / 2) : body;
}

size_t atrousd_governor_body_cap(size_t cap, size_t need, size_t limit)
{
    if (need <= cap)
        return cap;
    if (need > limit)
        return 0;
    size_t next = cap == 0 ? need : cap;
    while (next < need)
        next = next <= limit / 4 ? next * 2 : limit;
    /* Never between half the limit and the limit: from there the next step would hold both. */
    return next > limit / 2 ? limit : next;
}

/* True when the headers do not tell how large the body will be in memory: chunked, or
 * compressed (inflated as it arrives, up to --max-body-bytes). */
static bool body_size_unknown(const struct http_exchange *ex)
{
    return !ex->has_content_length ||
           (ex->content_encoding != NULL && strcasecmp(ex->content_encoding, "identity") != 0);
}

/* What decoding a body of this size may hold besides the body itself; a JSON part over
 * max_json is refused by its decoder before it is parsed. */
static uint64_t decode_bytes(const struct request_plan *plan, uint64_t body, uint64_t max_json)
{
    /* Binary op: a float32 body's aligned copy when misaligned (the body's size), or a 16-bit
     * body widened to float32 (twice its size). */
    if (plan->endpoint == ATROUSD_EP_OP)
        return plan->request_form == ATROUS_FORM_BINARY
                   ? mul_sat(body, 4 / atrous_dtype_size(plan->binary.head.value_dtype))
                   : mul_sat(body, ATROUSD_GOVERNOR_OP_JSON_BYTES_PER_BYTE);
    uint64_t json = body;
    /* A JSON part longer than the body is refused by the decoder; counted as all JSON. */
    if (plan->endpoint == ATROUSD_EP_V2_INFER && plan->has_header_length &&
        plan->header_length <= body)
        json = plan->header_length;
    uint64_t parsed = json < max_json ? json : max_json;
    /* The binary parts' datatypes are in the JSON header, not known here: each part counts as
     * 16-bit elements widened to float32 (twice its size), the worst case (an FP32 part's
     * misaligned copy is its size). */
    return add_sat(mul_sat(parsed, ATROUSD_GOVERNOR_DOC_BYTES_PER_BYTE),
                   mul_sat(body - json, ATROUSD_GOVERNOR_WIDEN_BYTES_PER_BYTE));
}

/* The output, its encoding, a batch's stacked copy of the value, and what the engine's
 * workspace holds while computing it (est->workspace_bytes). */
static uint64_t problem_bytes(const struct request_plan *plan, const struct atrous_problem *problem,
                              const struct atrous_estimate *est)
{
    /* A 16-bit binary answer is rounded in place in the float32 output: nothing more. A KServe
     * 16-bit answer is a rounded copy (4 bytes per element at most), within the JSON answer
     * counted below for KServe. */
    uint64_t elements = problem->output_elements;
    uint64_t bytes = add_sat(mul_sat(elements, sizeof(float)), est->workspace_bytes);
    bool binary_answer =
        plan->endpoint == ATROUSD_EP_OP && plan->response_form == ATROUS_FORM_BINARY;
    if (!binary_answer) /* KServe may answer either way: the larger, JSON, is counted */
        bytes = add_sat(bytes, mul_sat(elements, ATROUSD_GOVERNOR_JSON_BYTES_PER_FLOAT));
    if (plan->batch_class != NULL)
        bytes = add_sat(bytes, mul_sat(problem->value_elements, sizeof(float)));
    return bytes;
}

/* The worst case from a body of body bytes, and the problem's share when admission knows it
 * (plan->problem_bytes; 0 otherwise). A growing body (its size unknown: body is its cap) is
 * counted without its decoding, which is reserved once the body is complete and its size
 * known (atrousd_governor_body_complete): the cap times a JSON decoder's factor would refuse
 * every chunked or compressed JSON request in a small container. */
static uint64_t worst_bytes(const struct server_ctx *ctx, const struct request_plan *plan,
                            uint64_t body, bool growing)
{
    uint64_t bytes = add_sat(ATROUSD_GOVERNOR_REQUEST_OVERHEAD, body_bytes(body, growing));
    if (!growing)
        bytes = add_sat(bytes, decode_bytes(plan, body, ctx->config.max_json_bytes));
    return add_sat(bytes, plan->problem_bytes);
}

/* The worst case once a grown body is complete: its buffer (body_cap) is held, its decoding
 * is that of its length. */
static uint64_t complete_bytes(const struct server_ctx *ctx, const struct request_plan *plan,
                               uint64_t body_cap, uint64_t body_len)
{
    uint64_t bytes = add_sat(ATROUSD_GOVERNOR_REQUEST_OVERHEAD, body_cap);
    bytes = add_sat(bytes, decode_bytes(plan, body_len, ctx->config.max_json_bytes));
    return add_sat(bytes, plan->problem_bytes);
}

/* The field a too-costly problem is blamed on: a repository model's client controls only its
 * value; otherwise the larger of the two tensors (the cost grows with value elements times
 * filter taps per input channel), the filters on a tie. */
static const char *cost_field(const struct request_plan *plan, const struct atrous_problem *p)
{
    if (plan->model != NULL)
        return "value";
    return p->filters_elements >= p->value_elements ? "filters" : "value";
}

/*
 * Estimates the problem: true (reply filled with 400 too_large) when its compute time is over
 * --max-compute-ms; else *bytes is the memory its output, answer and compute take. An engine
 * that cannot even plan the problem is left to fail its compute, with the detail logged.
 */
static bool judge(struct server_ctx *ctx, const char *request_id, const struct request_plan *plan,
                  const struct atrous_problem *problem, uint64_t *bytes, double *seconds,
                  struct http_reply *reply)
{
    uint64_t limit_ms = ctx->config.max_compute_ms;
    struct atrous_estimate est = {.seconds = 0, .workspace_bytes = 0};
    struct atrous_error err;
    atrous_error_clear(&err);
    if (atrous_engine_estimate(ctx->engine, problem, ctx->budget.omp_threads, &est, &err) !=
        ATROUS_OK)
        est = (struct atrous_estimate){.seconds = 0, .workspace_bytes = 0};
    *bytes = problem_bytes(plan, problem, &est);
    *seconds = est.seconds;
    if (est.seconds * 1e3 <= (double)limit_ms)
        return false;
    const char *field = cost_field(plan, problem);
    atrousd_reply_fail(reply, ATROUSD_FAIL_TOO_LARGE, field, request_id,
                       "%s: this problem would take about %.1f s to compute (%s; %.3g GFLOP "
                       "on oneDNN's %s with %d thread%s), over --max-compute-ms %" PRIu64
                       "; make %s smaller or split the request",
                       field, est.seconds, est.measured ? "measured" : "estimated", est.flops / 1e9,
                       est.impl, ctx->budget.omp_threads, ctx->budget.omp_threads == 1 ? "" : "s",
                       limit_ms, field);
    return true;
}

/* KServe v2 infer or TF Serving predict: a JSON document, counted at the lean document's
 * worst case. */
static bool plan_is_model_json(const struct request_plan *plan)
{
    return plan->endpoint == ATROUSD_EP_V2_INFER || plan->endpoint == ATROUSD_EP_TFS_PREDICT;
}

/* Reserves bytes more for the request; false with reply filled when they do not fit: 400
 * too_large naming field when the request alone would exceed the whole budget, else 503. */
static bool take(struct server_ctx *ctx, const struct request_plan *plan,
                 struct atrousd_reservation *memory, uint64_t bytes, const char *field,
                 const char *request_id, struct http_reply *reply)
{
    if (memory == NULL)
        return true; /* the synchronous path (tests, fuzzing) counts nothing */
    uint64_t total = add_sat(memory->bytes, bytes);
    if (memory->budget == NULL)
        memory->budget = &ctx->memory;
    if (!atrousd_budget_could_fit(&ctx->memory, total)) {
        atrousd_reply_fail(reply, ATROUSD_FAIL_TOO_LARGE, field, request_id,
                           "%s: this request may need %" PRIu64 " bytes of memory, more than "
                           "the server's whole budget (--max-memory-bytes %" PRIu64 ")%s",
                           field, total, ctx->memory.limit,
                           plan_is_model_json(plan)
                               ? "; a JSON document is counted at its worst case per byte: "
                                 "send large tensors with the binary tensor extension"
                               : "");
        return false;
    }
    if (!atrousd_budget_grow(memory, bytes)) {
        atrousd_reply_fail(reply, ATROUSD_FAIL_MEMORY_BUDGET, NULL, request_id,
                           "the server's memory budget (--max-memory-bytes %" PRIu64
                           ") cannot take the %" PRIu64 " bytes this request may need "
                           "right now; retry later",
                           ctx->memory.limit, total);
        return false;
    }
    return true;
}

bool atrousd_governor_admit(struct server_ctx *ctx, const struct http_exchange *ex,
                            struct request_plan *plan, struct atrousd_reservation *memory,
                            struct http_reply *reply)
{
    /* A binary op's shapes are all in its query. Shapes that fail validation are answered by
     * the pipeline, in TensorFlow's order, as before. */
    plan->has_problem =
        plan->endpoint == ATROUSD_EP_OP && plan->request_form == ATROUS_FORM_BINARY &&
        atrous_request_validate(&plan->binary.head, &ctx->op_limits, &plan->problem, NULL) ==
            ATROUS_OK;
    plan->problem_bytes = 0;
    double seconds = 0;
    if (plan->has_problem &&
        judge(ctx, ex->request_id, plan, &plan->problem, &plan->problem_bytes, &seconds, reply))
        goto refused;
    /* Few FLOPs can still be slow (oneDNN's reference path): the I/O thread runs only what is
     * fast in fact. The estimate is for a worker's team; inline runs on one thread. */
    if (plan->run_inline && seconds * ctx->budget.omp_threads > ATROUSD_GOVERNOR_INLINE_MAX_SECONDS)
        plan->run_inline = false;
    bool growing = body_size_unknown(ex);
    uint64_t body = growing ? ctx->config.max_body_bytes : ex->content_length;
    uint64_t bytes = worst_bytes(ctx, plan, body, growing);
    /* Blame the output when it is the larger share of what does not fit. */
    const char *field = plan->problem_bytes > bytes / 2 ? "output_shape" : "body";
    if (!take(ctx, plan, memory, bytes, field, ex->request_id, reply))
        goto refused;
    return false;
refused:
    reply->close_connection = true; /* the body is not read */
    return true;
}

bool atrousd_governor_body_complete(struct server_ctx *ctx, const struct http_exchange *ex,
                                    const struct request_plan *plan, size_t body_cap,
                                    size_t body_len, struct atrousd_reservation *memory,
                                    struct http_reply *reply)
{
    if (memory == NULL || !body_size_unknown(ex))
        return false;
    uint64_t bytes = complete_bytes(ctx, plan, body_cap, body_len);
    if (bytes <= memory->bytes) {
        atrousd_budget_shrink(memory, bytes);
        return false;
    }
    return !take(ctx, plan, memory, bytes - memory->bytes, "body", ex->request_id, reply);
}

bool atrousd_governor_admit_problem(struct server_ctx *ctx, const struct http_exchange *ex,
                                    const struct request_plan *plan,
                                    const struct atrous_problem *problem, struct http_reply *reply)
{
    if (plan->has_problem)
        return false; /* a binary op: settled at admission from the same query */
    uint64_t bytes = 0;
    double seconds = 0;
    if (judge(ctx, ex->request_id, plan, problem, &bytes, &seconds, reply))
        return true;
    const char *field = plan->model != NULL ? "value" : "output_shape";
    return !take(ctx, plan, ex->memory, bytes, field, ex->request_id, reply);
}

void atrousd_governor_settle(struct atrous_workspace *workspace)
{
    if (workspace != NULL && atrous_workspace_held_bytes(workspace) > ATROUSD_WORKSPACE_KEEP_BYTES)
        atrous_workspace_trim(workspace);
}
