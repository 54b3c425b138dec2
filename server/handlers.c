/*
 * handlers.c - routing decisions, the op pipeline and the operations endpoints on plain
 * structs. HTTP status codes are chosen here, from the library's status codes.
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
#include "compute_queue.h"
#include "info.h"
#include "media.h"

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

static bool precheck_op(struct server_ctx *ctx, const struct http_exchange *ex,
                        struct request_plan *plan, struct http_reply *reply)
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
    if (ex->content_encoding != NULL && strcasecmp(ex->content_encoding, "identity") != 0) {
        atrousd_reply_error(reply, 415, "unsupported_media_type", NULL, id,
                            "Content-Encoding '%.*s' is not supported; send the body "
                            "uncompressed",
                            QUOTE_MAX, ex->content_encoding);
        return true;
    }
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
    if (ex->has_content_length && ex->content_length != implied) {
        atrousd_reply_error(reply, 400, atrous_status_code(ATROUS_INVALID_ARGUMENT), "body", id,
                            "body: Content-Length is %" PRIu64 " bytes but value and filters "
                            "take %zu bytes as float32",
                            ex->content_length, implied);
        return true;
    }
    plan->body_expected = implied;
    return false;
}

bool atrousd_precheck(struct server_ctx *ctx, const struct http_exchange *ex,
                      struct request_plan *plan, struct http_reply *reply)
{
    const char *id = ex->request_id;
    memset(plan, 0, sizeof(*plan));
    plan->endpoint = atrousd_route(ex->path);
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

void atrousd_handle_endpoint(struct server_ctx *ctx, const struct http_exchange *ex,
                             const struct request_plan *plan, struct http_reply *reply)
{
    const char *id = ex->request_id;
    const char *type = CONTENT_TYPE_JSON;
    struct atrousd_metrics_snapshot snap;
    size_t len = 0;
    char *body = NULL;
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
    reply->status = 200;
    set_body(reply, type, body, len);
}

static uint64_t elapsed_us(uint64_t from_ns, uint64_t to_ns)
{
    return to_ns > from_ns ? (to_ns - from_ns) / 1000 : 0;
}

void atrousd_handle_op(struct server_ctx *ctx, const struct http_exchange *ex,
                       const struct request_plan *plan, struct atrous_workspace *workspace,
                       struct http_reply *reply)
{
    const char *id = ex->request_id;
    struct atrous_request request;
    struct atrous_problem problem;
    struct atrous_error err;
    float *output = NULL;
    enum atrous_status st;
    atrous_request_init(&request);
    atrous_error_clear(&err);
    reply->has_stages = true;

    uint64_t t0 = atrousd_now_ns();
    if (plan->request_form == ATROUS_FORM_JSON)
        st =
            atrous_json_decode_request(ex->body, ex->body_len, &ctx->decode_limits, &request, &err);
    else
        st = atrous_binary_decode_request(ex->query, ex->query_count, ex->body, ex->body_len,
                                          &ctx->decode_limits, &request, &err);
    if (st == ATROUS_OK)
        st = atrous_request_validate(&request, &ctx->op_limits, &problem, &err);
    uint64_t t1 = atrousd_now_ns();
    reply->parse_us = elapsed_us(t0, t1);
    if (st != ATROUS_OK) {
        reply_status(reply, st, &err, id);
        goto out;
    }

    /* Validation bounded output_elements by --max-output-elements (< 2^31), so the byte
     * count cannot overflow. */
    size_t output_bytes = problem.output_elements * sizeof(float);
    if (output_bytes > 0 && (output = atrous_aligned_alloc(output_bytes)) == NULL) {
        st = atrous_error_set(&err, ATROUS_NO_MEMORY, "", "out of memory for %zu output bytes",
                              output_bytes);
        reply_status(reply, st, &err, id);
        goto out;
    }
    st = atrous_engine_run(ctx->engine, workspace, &problem, request.value, request.filters, output,
                           &err);
    uint64_t t2 = atrousd_now_ns();
    reply->compute_us = elapsed_us(t1, t2);
    if (st != ATROUS_OK) {
        reply_status(reply, st, &err, id);
        goto out;
    }

    struct atrous_shape shape;
    atrous_problem_output_shape(&problem, &shape);
    if (plan->response_form == ATROUS_FORM_JSON) {
        char *body = NULL;
        size_t len = 0;
        st = atrous_json_encode_output(&shape, output, &body, &len, &err);
        if (st != ATROUS_OK) {
            reply_status(reply, st, &err, id);
            goto out;
        }
        set_body(reply, CONTENT_TYPE_JSON, body, len);
    } else {
        /* The output buffer is the body: no copy (aligned_alloc memory is free()-able). */
        set_body(reply, ATROUSD_MEDIA_BINARY, (char *)output, output_bytes);
        output = NULL;
        atrous_binary_format_shape(&shape, reply->output_shape, sizeof(reply->output_shape));
    }
    reply->status = 200;
    reply->serialize_us = elapsed_us(t2, atrousd_now_ns());
out:
    atrous_aligned_free(output);
    atrous_request_release(&request);
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
    if (plan.endpoint == ATROUSD_EP_OP)
        atrousd_handle_op(ctx, &whole, &plan, NULL, reply);
    else
        atrousd_handle_endpoint(ctx, &whole, &plan, reply);
}
