/*
 * handlers.c - routing decisions, the one compute pipeline of the op, KServe v2 infer and TF
 * Serving predict (with same-shape batching for the models) and the operations endpoints on
 * plain structs. HTTP status codes are chosen here, from the library's status codes.
 */
#include "handlers.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "atrous_json.h"
#include "atrous_json_writer.h"
#include "compress.h"
#include "compute_queue.h"
#include "info.h"
#include "media.h"
#include "version.h"

#define CONTENT_TYPE_JSON    "application/json"
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

/* How much of a client-supplied string (path, media type) an error message quotes. */
#define QUOTE_MAX 96

void http_reply_init(struct http_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
}

void http_reply_release(struct http_reply *reply)
{
    free(reply->body);
    http_reply_init(reply);
}

bool atrousd_request_id_sane(const char *id)
{
    if (id == NULL || id[0] == '\0')
        return false;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++, n++) {
        if (n >= ATROUSD_REQUEST_ID_MAX || *p <= 0x20 || *p >= 0x7f)
            return false;
    }
    return true;
}

static void set_body(struct http_reply *reply, const char *content_type, char *body, size_t len)
{
    free(reply->body);
    reply->content_type = content_type;
    reply->body = body;
    reply->body_len = body ? len : 0;
}

static void reply_verror(struct http_reply *reply, unsigned status, const char *code,
                         const char *field, const char *request_id, const char *fmt, va_list ap)
{
    reply->status = status;
    reply->error_code = code;
    vsnprintf(reply->error_message, sizeof(reply->error_message), fmt, ap);
    if (status == 429 || status == 503)
        reply->retry_after_s = ATROUSD_RETRY_AFTER_S;
    size_t len = 0;
    char *body = atrous_json_encode_error(reply->error_message, code,
                                          field && field[0] ? field : NULL, request_id, &len);
    set_body(reply, CONTENT_TYPE_JSON, body, len);
}

void atrousd_reply_error(struct http_reply *reply, unsigned status, const char *code,
                         const char *field, const char *request_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_verror(reply, status, code, field, request_id, fmt, ap);
    va_end(ap);
}

/* Maps a library failure to its HTTP answer. Internal failures keep their detail for the
 * log and tell the client only where to look. */
static void reply_status(struct http_reply *reply, enum atrous_status st,
                         const struct atrous_error *err, const char *request_id)
{
    switch (st) {
    case ATROUS_INVALID_ARGUMENT:
        atrousd_reply_error(reply, 400, atrous_status_code(st), err->field, request_id, "%s",
                            err->message);
        break;
    case ATROUS_TOO_LARGE:
        atrousd_reply_error(reply, 413, atrous_status_code(st), err->field, request_id, "%s",
                            err->message);
        break;
    case ATROUS_NO_MEMORY:
        snprintf(reply->error_detail, sizeof(reply->error_detail), "%s", err->message);
        atrousd_reply_error(reply, 503, atrous_status_code(st), NULL, request_id,
                            "the server is out of memory for this request; retry later");
        break;
    default:
        snprintf(reply->error_detail, sizeof(reply->error_detail), "%.32s: %.360s",
                 atrous_status_code(st), err->message);
        atrousd_reply_error(reply, 500, "internal", NULL, request_id,
                            "internal error; the server log has the detail under request_id %s",
                            request_id);
        break;
    }
}

/* True when the body comes compressed (gzip or deflate): Content-Length then counts the
 * compressed bytes, and the body's own size is known once the HTTP layer has inflated it. */
static bool body_compressed(const struct http_exchange *ex)
{
    enum atrousd_coding coding;
    return atrousd_coding_parse(ex->content_encoding, &coding) && coding != ATROUSD_CODING_IDENTITY;
}

/* The refusals every compute request shares: 503 while draining or warming up, 415 for a
 * Content-Encoding other than gzip, deflate and identity. */
static bool refuse_compute(struct server_ctx *ctx, const struct http_exchange *ex,
                           struct http_reply *reply)
{
    const char *id = ex->request_id;
    if (atomic_load(&ctx->draining)) {
        reply->close_connection = true;
        atrousd_reply_error(reply, 503, "unavailable", NULL, id,
                            "the server is draining (shutting down); retry on another instance");
        return true;
    }
    if (!atomic_load(&ctx->ready)) {
        atrousd_reply_error(reply, 503, "unavailable", NULL, id,
                            "the server is warming up (start-up self-test); retry shortly");
        return true;
    }
    enum atrousd_coding coding;
    if (!atrousd_coding_parse(ex->content_encoding, &coding)) {
        atrousd_reply_error(reply, 415, "unsupported_media_type", NULL, id,
                            "Content-Encoding '%.*s' is not supported; send the body as one of "
                            "%s, or uncompressed",
                            QUOTE_MAX, ex->content_encoding, ATROUSD_CODINGS_ACCEPTED);
        return true;
    }
    return false;
}

/*
 * Estimates a binary op's cost from its query's shapes (before validation: a shape of another
 * rank or with a negative dim is never inline; the worker rejects it) and decides whether the I/O
 * thread may run it (--inline-max-flops, ATROUSD_INLINE_MAX_BYTES). Doubles, so no product
 * overflows; the estimate ignores padding, so it errs on the costly side.
 */
static void plan_inline(const struct server_ctx *ctx, const struct atrous_request *head,
                        size_t body_bytes, struct request_plan *plan)
{
    const struct atrous_shape *f = &head->filters_shape;
    plan->cost_flops = 0;
    plan->run_inline = false;
    if (f->rank != 4 || head->value_shape.rank != 4 || head->output_shape_len != 4)
        return;
    double out = 1, taps = (double)f->dims[0] * (double)f->dims[1] * (double)f->dims[3];
    for (int i = 0; i < 4; i++) {
        if (head->output_shape[i] < 0 || f->dims[i] < 0 || head->value_shape.dims[i] < 0)
            return;
        out *= (double)head->output_shape[i];
    }
    plan->cost_flops = 2.0 * out * taps;
    double bytes = (double)body_bytes + 4.0 * out;
    plan->run_inline = ctx->config.inline_max_flops > 0 &&
                       plan->cost_flops <= (double)ctx->config.inline_max_flops &&
                       bytes <= (double)ATROUSD_INLINE_MAX_BYTES;
}

static bool precheck_op(struct server_ctx *ctx, const struct http_exchange *ex,
                        struct request_plan *plan, struct http_reply *reply)
{
    const char *id = ex->request_id;
    if (refuse_compute(ctx, ex, reply))
        return true;
    if (!atrousd_media_content_form(ex->content_type, &plan->request_form)) {
        atrousd_reply_error(reply, 415, "unsupported_media_type", NULL, id,
                            "Content-Type must be %s or %s, got '%.*s'", ATROUSD_MEDIA_JSON,
                            ATROUSD_MEDIA_BINARY, QUOTE_MAX,
                            ex->content_type ? ex->content_type : "(none)");
        return true;
    }
    if (!atrousd_media_accept(ex->accept, plan->request_form, &plan->response_form)) {
        atrousd_reply_error(reply, 406, "not_acceptable", NULL, id,
                            "Accept '%.*s' allows neither %s nor %s", QUOTE_MAX, ex->accept,
                            ATROUSD_MEDIA_JSON, ATROUSD_MEDIA_BINARY);
        return true;
    }
    if (plan->request_form != ATROUS_FORM_BINARY)
        return false;
    if (ex->query_truncated) {
        atrousd_reply_error(reply, 400, atrous_status_code(ATROUS_INVALID_ARGUMENT), "query", id,
                            "query: more than %d parameters; the binary form takes value_shape, "
                            "filters_shape, output_shape, rate and padding",
                            ATROUSD_MAX_QUERY_PARAMS);
        return true;
    }
    struct atrous_request head;
    struct atrous_error err;
    size_t implied = 0;
    atrous_request_init(&head);
    atrous_error_clear(&err);
    enum atrous_status st = atrous_binary_decode_query(ex->query, ex->query_count,
                                                       &ctx->decode_limits, &head, &implied, &err);
    if (st == ATROUS_OK)
        plan_inline(ctx, &head, implied, plan);
    atrous_request_release(&head);
    if (st != ATROUS_OK) {
        reply_status(reply, st, &err, id);
        return true;
    }
    if (implied > ctx->config.max_body_bytes) {
        atrousd_reply_error(reply, 413, atrous_status_code(ATROUS_TOO_LARGE), "body", id,
                            "body: the query implies %zu bytes (value and filters as float32), "
                            "over --max-body-bytes %" PRIu64,
                            implied, ctx->config.max_body_bytes);
        return true;
    }
    if (ex->has_content_length && ex->content_length != implied && !body_compressed(ex)) {
        atrousd_reply_error(reply, 400, atrous_status_code(ATROUS_INVALID_ARGUMENT), "body", id,
                            "body: Content-Length is %" PRIu64 " bytes but value and filters "
                            "take %zu bytes as float32",
                            ex->content_length, implied);
        return true;
    }
    plan->body_expected = implied;
    return false;
}

bool atrousd_header_decimal(const char *v, uint64_t *out)
{
    uint64_t n = 0;
    if (v == NULL || *v < '0' || *v > '9')
        return false;
    for (; *v >= '0' && *v <= '9'; v++) {
        if (n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    *out = n;
    return *v == '\0';
}

/* KServe and TF Serving routes: the model (404), then for infer and predict the refusals of
 * every compute request, the Content-Type (415) and the JSON document's size (413). */
static bool precheck_model(struct server_ctx *ctx, const struct http_exchange *ex,
                           struct request_plan *plan, struct http_reply *reply)
{
    const char *id = ex->request_id;
    struct atrous_error err;
    enum atrous_status st;
    atrous_error_clear(&err);
    if (plan->endpoint >= ATROUSD_EP_TFS_STATUS)
        st = atrous_tfs_find_model(ctx->repo, &plan->tfs, &plan->model, &err);
    else
        st = atrous_kserve_find_model(ctx->repo, &plan->kserve, &plan->model, &err);
    if (st != ATROUS_OK) {
        atrousd_reply_error(reply, 404, "not_found", "model", id, "%s", err.message);
        return true;
    }
    plan->metrics_model = atrousd_ctx_model_metrics_index(ctx, plan->model);
    if (!atrousd_route_computes(plan->endpoint))
        return false;
    if (refuse_compute(ctx, ex, reply))
        return true;
    if (!atrousd_media_model_body(ex->content_type)) {
        atrousd_reply_error(reply, 415, "unsupported_media_type", NULL, id,
                            "Content-Type must be %s (or %s with the binary tensor extension), "
                            "got '%.*s'",
                            ATROUSD_MEDIA_JSON, ATROUSD_MEDIA_BINARY, QUOTE_MAX, ex->content_type);
        return true;
    }
    /* The JSON part is parsed into a document tree (tens of bytes per number): its own limit,
     * decided before the body is read when the headers give its size. */
    uint64_t json_len = 0;
    bool known = false;
    if (plan->endpoint == ATROUSD_EP_V2_INFER && ex->inference_header_length != NULL)
        known = atrousd_header_decimal(ex->inference_header_length, &json_len);
    else if (ex->has_content_length && !body_compressed(ex))
        known = true, json_len = ex->content_length;
    if (known && json_len > ctx->config.max_json_bytes) {
        reply->close_connection = true;
        atrousd_reply_error(reply, 413, atrous_status_code(ATROUS_TOO_LARGE), "body", id,
                            "body: the JSON document is %" PRIu64 " bytes, over --max-json-bytes "
                            "%" PRIu64 "%s",
                            json_len, ctx->config.max_json_bytes,
                            plan->endpoint == ATROUSD_EP_V2_INFER
                                ? "; send large tensors with the binary tensor extension"
                                : "");
        return true;
    }
    if (ctx->config.max_batch > 1 && plan->model != NULL)
        plan->batch_class = plan->model;
    return false;
}

bool atrousd_precheck(struct server_ctx *ctx, const struct http_exchange *ex,
                      struct request_plan *plan, struct http_reply *reply)
{
    const char *id = ex->request_id;
    memset(plan, 0, sizeof(*plan));
    plan->endpoint = atrousd_route_parse(ex->path, &plan->kserve, &plan->tfs);
    if (plan->endpoint == ATROUSD_EP_UNKNOWN) {
        atrousd_reply_error(reply, 404, "not_found", NULL, id,
                            "no endpoint at '%.*s'; see /v1/info and proto/README.md", QUOTE_MAX,
                            ex->path ? ex->path : "");
        return true;
    }
    if (!atrousd_route_allows(plan->endpoint, ex->method)) {
        reply->allow = atrousd_route_allow_header(plan->endpoint);
        atrousd_reply_error(reply, 405, "method_not_allowed", NULL, id,
                            "method %.*s is not allowed on %s; allowed: %s", QUOTE_MAX,
                            ex->method ? ex->method : "", ex->path, reply->allow);
        return true;
    }
    if (ex->has_content_length && ex->content_length > ctx->config.max_body_bytes) {
        reply->close_connection = true;
        atrousd_reply_error(reply, 413, atrous_status_code(ATROUS_TOO_LARGE), "body", id,
                            "body: Content-Length %" PRIu64 " is over --max-body-bytes %" PRIu64,
                            ex->content_length, ctx->config.max_body_bytes);
        return true;
    }
    if (plan->endpoint == ATROUSD_EP_OP)
        return precheck_op(ctx, ex, plan, reply);
    if (atrousd_route_names_model(plan->endpoint))
        return precheck_model(ctx, ex, plan, reply);
    return false;
}

static void reply_json_status(struct http_reply *reply, unsigned status, const char *value)
{
    struct atrous_jw *w = atrous_jw_create();
    size_t len = 0;
    char *body = NULL;
    if (w != NULL) {
        atrous_jw_object_begin(w);
        atrous_jw_key(w, "status");
        atrous_jw_string(w, value);
        atrous_jw_object_end(w);
        body = atrous_jw_take(w, &len);
        atrous_jw_free(w);
    }
    reply->status = status;
    set_body(reply, CONTENT_TYPE_JSON, body, len);
}

/* Ready to take compute requests: the self-test passed and no drain started. */
static bool serving(struct server_ctx *ctx, struct http_reply *reply)
{
    if (atomic_load(&ctx->draining)) {
        reply->close_connection = true;
        reply->retry_after_s = ATROUSD_RETRY_AFTER_S;
        return false;
    }
    if (!atomic_load(&ctx->ready)) {
        reply->retry_after_s = ATROUSD_RETRY_AFTER_S;
        return false;
    }
    return true;
}

void atrousd_handle_endpoint(struct server_ctx *ctx, const struct http_exchange *ex,
                             const struct request_plan *plan, struct http_reply *reply)
{
    const char *id = ex->request_id;
    const char *type = CONTENT_TYPE_JSON;
    struct atrousd_metrics_snapshot snap;
    unsigned status = 200;
    size_t len = 0;
    char *body = NULL;
    bool ready;
    switch (plan->endpoint) {
    case ATROUSD_EP_HEALTHZ:
        reply_json_status(reply, 200, "ok");
        return;
    case ATROUSD_EP_READYZ:
        if (atomic_load(&ctx->draining)) {
            reply->close_connection = true;
            atrousd_reply_error(reply, 503, "unavailable", NULL, id, "draining: shutting down");
        } else if (!atomic_load(&ctx->ready)) {
            atrousd_reply_error(reply, 503, "unavailable", NULL, id,
                                "warming up: the start-up self-test has not passed yet");
        } else {
            reply_json_status(reply, 200, "ready");
        }
        return;
    case ATROUSD_EP_METRICS:
        atrousd_ctx_snapshot(ctx, &snap);
        body = atrousd_metrics_render(ctx->metrics, &snap, &len);
        type = CONTENT_TYPE_METRICS;
        break;
    case ATROUSD_EP_INFO:
        body = atrousd_info_render(ctx, &len);
        break;
    case ATROUSD_EP_V2_SERVER:
        body = atrous_kserve_encode_server_metadata(ATROUSD_NAME, ATROUSD_VERSION, &len);
        break;
    case ATROUSD_EP_V2_LIVE:
        body = atrous_kserve_encode_live(true, &len);
        break;
    case ATROUSD_EP_V2_READY:
        ready = serving(ctx, reply);
        status = ready ? 200 : 503;
        body = atrous_kserve_encode_ready(ready, &len);
        break;
    case ATROUSD_EP_V2_MODEL_METADATA:
        body = atrous_kserve_encode_model_metadata(ctx->repo, plan->model, &len);
        break;
    case ATROUSD_EP_V2_MODEL_READY:
        ready = serving(ctx, reply);
        status = ready ? 200 : 503;
        body = atrous_kserve_encode_model_ready(plan->model, ready, &len);
        break;
    case ATROUSD_EP_V2_MODEL_CONFIG:
        body = atrous_kserve_encode_model_config(plan->model, &len);
        break;
    case ATROUSD_EP_TFS_STATUS:
        body = atrous_tfs_encode_status(ctx->repo, &plan->tfs, &len);
        break;
    case ATROUSD_EP_TFS_METADATA:
        body = atrous_tfs_encode_metadata(plan->model, &len);
        break;
    default:
        atrousd_reply_error(reply, 500, "internal", NULL, id, "internal error: no handler for %s",
                            ex->path ? ex->path : "");
        return;
    }
    if (body == NULL) {
        snprintf(reply->error_detail, sizeof(reply->error_detail), "out of memory rendering %s",
                 ex->path);
        atrousd_reply_error(reply, 503, atrous_status_code(ATROUS_NO_MEMORY), NULL, id,
                            "the server is out of memory; retry later");
        return;
    }
    reply->status = status;
    set_body(reply, type, body, len);
}

static uint64_t elapsed_us(uint64_t from_ns, uint64_t to_ns)
{
    return to_ns > from_ns ? (to_ns - from_ns) / 1000 : 0;
}

/* Allocates the output of a validated problem into *output (NULL when empty) and computes it,
 * with prepared filters when given, else with the raw filters buffer. Every compute endpoint
 * runs through here. */
static enum atrous_status compute(struct server_ctx *ctx, struct atrous_workspace *workspace,
                                  const struct atrous_problem *problem, const float *value,
                                  const float *filters, struct atrous_filters *prepared,
                                  float **output, struct atrous_error *err)
{
    /* Validation bounded output_elements by --max-output-elements (< 2^31), so the byte
     * count cannot overflow. */
    size_t bytes = problem->output_elements * sizeof(float);
    *output = NULL;
    if (bytes > 0 && (*output = atrous_aligned_alloc(bytes)) == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for %zu output bytes",
                                bytes);
    if (prepared != NULL)
        return atrous_engine_run_filters(ctx->engine, workspace, problem, value, prepared, *output,
                                         err);
    return atrous_engine_run(ctx->engine, workspace, problem, value, filters, *output, err);
}

/* One compute request (the op, KServe infer, TF Serving predict) on its way through a
 * worker. */
struct compute_run {
    const struct http_exchange *ex;
    const struct request_plan *plan;
    struct http_reply *reply;
    struct atrous_request request; /* the op */
    struct atrous_kserve_request kserve;
    struct atrous_tfs_request tfs;
    const struct atrous_request *op; /* request, kserve.op or tfs.op */
    struct atrous_problem problem;
    enum atrous_status st;
    struct atrous_error err;
    const float *output;  /* the result; may point into a batch's buffer */
    float *owned;         /* output memory this run frees (a batch's, for its first run) */
    uint64_t computed_ns; /* when its compute ended; 0 before */
    bool done;            /* computed, or failed before */
};

static void run_decode(struct server_ctx *ctx, struct compute_run *r)
{
    const struct http_exchange *ex = r->ex;
    atrous_request_init(&r->request);
    atrous_kserve_request_init(&r->kserve);
    atrous_tfs_request_init(&r->tfs);
    atrous_error_clear(&r->err);
    r->reply->has_stages = true;
    uint64_t t0 = atrousd_now_ns();
    if (r->plan->endpoint == ATROUSD_EP_OP) {
        r->op = &r->request;
        if (r->plan->request_form == ATROUS_FORM_JSON)
            r->st = atrous_json_decode_request(ex->body, ex->body_len, &ctx->decode_limits,
                                               &r->request, &r->err);
        else
            r->st = atrous_binary_decode_request(ex->query, ex->query_count, ex->body, ex->body_len,
                                                 &ctx->decode_limits, &r->request, &r->err);
    } else if (r->plan->endpoint == ATROUSD_EP_TFS_PREDICT) {
        r->op = &r->tfs.op;
        r->st = atrous_tfs_decode_predict(r->plan->model, ex->body, ex->body_len, &ctx->tfs_limits,
                                          &r->tfs, &r->err);
    } else {
        r->op = &r->kserve.op;
        r->st = atrous_kserve_decode_infer(r->plan->model, ex->body, ex->body_len,
                                           ex->inference_header_length, &ctx->kserve_limits,
                                           &r->kserve, &r->err);
    }
    if (r->st == ATROUS_OK)
        r->st = atrous_request_validate(r->op, &ctx->op_limits, &r->problem, &r->err);
    r->reply->parse_us = elapsed_us(t0, atrousd_now_ns());
}

static void run_compute(struct server_ctx *ctx, struct atrous_workspace *workspace,
                        struct compute_run *r)
{
    uint64_t t0 = atrousd_now_ns();
    struct atrous_filters *prepared = r->plan->model ? r->plan->model->prepared : NULL;
    r->st = compute(ctx, workspace, &r->problem, r->op->value, r->op->filters, prepared, &r->owned,
                    &r->err);
    r->output = r->owned;
    r->computed_ns = atrousd_now_ns();
    r->reply->compute_us = elapsed_us(t0, r->computed_ns);
}

/* The KServe answer: JSON, or with the binary extension the JSON header then the output's
 * bytes in one body (Inference-Header-Content-Length tells them apart). */
static enum atrous_status encode_kserve(struct compute_run *r, const struct atrous_shape *shape)
{
    struct atrous_kserve_reply kr;
    enum atrous_status st = atrous_kserve_encode_infer(&r->kserve, shape, r->output, &kr, &r->err);
    if (st != ATROUS_OK)
        return st;
    if (!r->kserve.binary_output) {
        set_body(r->reply, CONTENT_TYPE_JSON, kr.header, kr.header_len);
        kr.header = NULL;
    } else {
        char *body = malloc(kr.header_len + kr.binary_len + 1);
        if (body == NULL) {
            atrous_kserve_reply_release(&kr);
            return atrous_error_set(&r->err, ATROUS_NO_MEMORY, "",
                                    "out of memory for a %zu byte response",
                                    kr.header_len + kr.binary_len);
        }
        memcpy(body, kr.header, kr.header_len);
        if (kr.binary_len > 0)
            memcpy(body + kr.header_len, kr.binary, kr.binary_len);
        set_body(r->reply, ATROUSD_MEDIA_BINARY, body, kr.header_len + kr.binary_len);
        r->reply->inference_header_length = kr.header_len;
    }
    atrous_kserve_reply_release(&kr);
    return ATROUS_OK;
}

/* The op's answer: JSON, or the output's bytes with X-Output-Shape. An op never runs in a
 * batch, so its output is its own. */
static enum atrous_status encode_op(struct compute_run *r, const struct atrous_shape *shape)
{
    if (r->plan->response_form == ATROUS_FORM_JSON) {
        char *body = NULL;
        size_t len = 0;
        enum atrous_status st = atrous_json_encode_output(shape, r->output, &body, &len, &r->err);
        if (st == ATROUS_OK)
            set_body(r->reply, CONTENT_TYPE_JSON, body, len);
        return st;
    }
    /* The output buffer is the body: no copy (aligned_alloc memory is free()-able). */
    set_body(r->reply, ATROUSD_MEDIA_BINARY, (char *)r->owned,
             r->problem.output_elements * sizeof(float));
    r->owned = NULL;
    atrous_binary_format_shape(shape, r->reply->output_shape, sizeof(r->reply->output_shape));
    return ATROUS_OK;
}

static void run_encode(struct compute_run *r)
{
    struct http_reply *reply = r->reply;
    if (r->st == ATROUS_OK) {
        struct atrous_shape shape;
        atrous_problem_output_shape(&r->problem, &shape);
        if (r->plan->endpoint == ATROUSD_EP_OP) {
            r->st = encode_op(r, &shape);
        } else if (r->plan->endpoint == ATROUSD_EP_TFS_PREDICT) {
            char *body = NULL;
            size_t len = 0;
            r->st = atrous_tfs_encode_predict(&r->tfs, &shape, r->output, &body, &len, &r->err);
            if (r->st == ATROUS_OK)
                set_body(reply, CONTENT_TYPE_JSON, body, len);
        } else {
            r->st = encode_kserve(r, &shape);
        }
    }
    if (r->st != ATROUS_OK)
        reply_status(reply, r->st, &r->err, r->ex->request_id);
    else
        reply->status = 200;
    if (r->computed_ns != 0)
        reply->serialize_us = elapsed_us(r->computed_ns, atrousd_now_ns());
}

static void run_release(struct compute_run *r)
{
    atrous_request_release(&r->request);
    atrous_kserve_request_release(&r->kserve);
    atrous_tfs_request_release(&r->tfs);
    atrous_aligned_free(r->owned);
    r->owned = NULL;
}

void atrousd_handle_compute(struct server_ctx *ctx, const struct http_exchange *ex,
                            const struct request_plan *plan, struct atrous_workspace *workspace,
                            struct http_reply *reply)
{
    struct compute_run r = {.ex = ex, .plan = plan, .reply = reply};
    run_decode(ctx, &r);
    if (r.st == ATROUS_OK)
        run_compute(ctx, workspace, &r);
    run_encode(&r);
    run_release(&r);
}

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
            memcpy(value + at, group[i]->op->value,
                   group[i]->problem.value_elements * sizeof(float));
        at += group[i]->problem.value_elements;
    }
    float *output = NULL;
    uint64_t t0 = atrousd_now_ns();
    enum atrous_status st =
        compute(ctx, workspace, &stacked, value, NULL, model->prepared, &output, &err);
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
        r->reply->compute_us = elapsed_us(t0, t1);
        r->reply->batch_size = n;
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
            atrousd_reply_error(calls[i].reply, 503, atrous_status_code(ATROUS_NO_MEMORY), NULL,
                                calls[i].ex->request_id,
                                "the server is out of memory for this request; retry later");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        runs[i] =
            (struct compute_run){.ex = calls[i].ex, .plan = calls[i].plan, .reply = calls[i].reply};
        run_decode(ctx, &runs[i]);
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
                q->problem.batch > 0 && rows + q->problem.batch <= limit) {
                group[n++] = q;
                rows += q->problem.batch;
            }
        }
        if (n < 2 || !compute_stacked(ctx, workspace, group, n)) {
            for (size_t k = 0; k < n; k++)
                run_compute(ctx, workspace, group[k]);
        }
        for (size_t k = 0; k < n; k++)
            group[k]->done = true;
    }
    for (size_t i = 0; i < count; i++)
        run_encode(&runs[i]);
    for (size_t i = 0; i < count; i++)
        run_release(&runs[i]);
out:
    free(group);
    free(runs);
}

void atrousd_handle(struct server_ctx *ctx, const struct http_exchange *ex,
                    struct http_reply *reply)
{
    struct http_exchange whole = *ex;
    struct request_plan plan;
    whole.has_content_length = true;
    whole.content_length = ex->body_len;
    if (atrousd_precheck(ctx, &whole, &plan, reply))
        return;
    if (atrousd_route_computes(plan.endpoint))
        atrousd_handle_compute(ctx, &whole, &plan, NULL, reply);
    else
        atrousd_handle_endpoint(ctx, &whole, &plan, reply);
}
