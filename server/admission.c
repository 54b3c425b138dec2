/*
 * admission.c - the decisions made from the request line and headers, in the order a request
 * meets them: route and method, the body's declared size, then the op's or the model route's
 * own checks. Each reply goes through the failure table (reply.h).
 */
#include "admission.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "atrous_kserve_repo.h"
#include "governor.h"
#include "compress.h"
#include "media.h"
#include "protocol.h"

/* How much of a client-supplied string (path, media type) an error message quotes. */
#define QUOTE_MAX 96

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

enum atrousd_serving atrousd_serving_check(struct server_ctx *ctx, struct http_reply *reply)
{
    if (atomic_load(&ctx->draining)) {
        reply->close_connection = true;
        reply->retry_after_s = ATROUSD_RETRY_AFTER_S;
        return ATROUSD_DRAINING;
    }
    if (!atomic_load(&ctx->ready)) {
        reply->retry_after_s = ATROUSD_RETRY_AFTER_S;
        return ATROUSD_WARMING_UP;
    }
    return ATROUSD_SERVING;
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
    switch (atrousd_serving_check(ctx, reply)) {
    case ATROUSD_DRAINING:
        atrousd_reply_fail(reply, ATROUSD_FAIL_UNAVAILABLE, NULL, id,
                           "the server is draining (shutting down); retry on another instance");
        return true;
    case ATROUSD_WARMING_UP:
        atrousd_reply_fail(reply, ATROUSD_FAIL_UNAVAILABLE, NULL, id,
                           "the server is warming up (start-up self-test); retry shortly");
        return true;
    case ATROUSD_SERVING:
        break;
    }
    enum atrousd_coding coding;
    if (!atrousd_coding_parse(ex->content_encoding, &coding)) {
        atrousd_reply_fail(reply, ATROUSD_FAIL_UNSUPPORTED_MEDIA_TYPE, NULL, id,
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
static void plan_inline(const struct server_ctx *ctx, struct request_plan *plan)
{
    const struct atrous_request *head = &plan->binary.head;
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
    double bytes = (double)plan->binary.body_bytes + 4.0 * out;
    plan->run_inline = ctx->config.inline_max_flops > 0 &&
                       plan->cost_flops <= (double)ctx->config.inline_max_flops &&
                       bytes <= (double)ATROUSD_INLINE_MAX_BYTES;
}

/* The op: serving, media types (415, 406), and for the binary form its query, parsed here
 * once for the whole request (400), and the size it implies (413, 400). */
static bool admit_op(struct server_ctx *ctx, const struct http_exchange *ex,
                     struct request_plan *plan, struct http_reply *reply)
{
    const char *id = ex->request_id;
    if (refuse_compute(ctx, ex, reply))
        return true;
    if (!atrousd_media_content_form(ex->content_type, &plan->request_form)) {
        atrousd_reply_fail(reply, ATROUSD_FAIL_UNSUPPORTED_MEDIA_TYPE, NULL, id,
                           "Content-Type must be %s or %s, got '%.*s'", ATROUSD_MEDIA_JSON,
                           ATROUSD_MEDIA_BINARY, QUOTE_MAX,
                           ex->content_type ? ex->content_type : "(none)");
        return true;
    }
    if (!atrousd_media_accept(ex->accept, plan->request_form, &plan->response_form)) {
        atrousd_reply_fail(reply, ATROUSD_FAIL_NOT_ACCEPTABLE, NULL, id,
                           "Accept '%.*s' allows neither %s nor %s", QUOTE_MAX, ex->accept,
                           ATROUSD_MEDIA_JSON, ATROUSD_MEDIA_BINARY);
        return true;
    }
    plan->protocol = atrousd_protocol_for(plan);
    if (plan->request_form != ATROUS_FORM_BINARY)
        return false;
    if (ex->query_truncated) {
        atrousd_reply_fail(reply, ATROUSD_FAIL_INVALID_ARGUMENT, "query", id,
                           "query: more than %d parameters; the binary form takes value_shape, "
                           "filters_shape, output_shape, rate and padding",
                           ATROUSD_MAX_QUERY_PARAMS);
        return true;
    }
    struct atrous_error err;
    atrous_error_clear(&err);
    enum atrous_status st = atrous_binary_decode_query(ex->query, ex->query_count,
                                                       &ctx->decode_limits, &plan->binary, &err);
    if (st != ATROUS_OK) {
        atrousd_reply_status(reply, st, &err, id);
        return true;
    }
    plan_inline(ctx, plan);
    size_t implied = plan->binary.body_bytes;
    if (implied > ctx->config.max_body_bytes) {
        atrousd_reply_fail(reply, ATROUSD_FAIL_CONTENT_TOO_LARGE, "body", id,
                           "body: the query implies %zu bytes (value and filters as float32), "
                           "over --max-body-bytes %" PRIu64,
                           implied, ctx->config.max_body_bytes);
        return true;
    }
    if (ex->has_content_length && ex->content_length != implied && !body_compressed(ex)) {
        atrousd_reply_fail(reply, ATROUSD_FAIL_INVALID_ARGUMENT, "body", id,
                           "body: Content-Length is %" PRIu64 " bytes but value and filters "
                           "take %zu bytes as float32",
                           ex->content_length, implied);
        return true;
    }
    plan->body_expected = implied;
    return false;
}

void atrousd_plan_release(struct request_plan *plan)
{
    atrousd_repo_release(plan->repo);
    plan->repo = NULL;
    plan->model = NULL;
}

/* The model a KServe or TF Serving route names: the generic model (KServe only) or the
 * repository's, looked up in the snapshot the request then holds to its end; 404 in the
 * protocol's words when there is none. */
static bool admit_model_name(struct server_ctx *ctx, const struct http_exchange *ex,
                             struct request_plan *plan, struct http_reply *reply)
{
    struct atrous_error err;
    bool tfs = atrousd_route_is_tfs(plan->endpoint);
    atrous_error_clear(&err);
    plan->model = NULL;
    if (!tfs && atrous_kserve_route_generic(&plan->kserve)) {
        plan->metrics_model = ctx->generic_metrics;
        return false;
    }
    plan->repo = atrousd_models_acquire(ctx->models);
    const struct atrousd_served *served =
        tfs ? atrousd_repo_find_served(plan->repo, plan->tfs.model, plan->tfs.version)
            : atrousd_repo_find_served(plan->repo, plan->kserve.model, plan->kserve.version);
    if (served != NULL) {
        plan->model = served->model;
        plan->metrics_model = served->metrics;
        return false;
    }
    if (tfs)
        atrous_tfs_model_missing(&plan->tfs, &err);
    else
        atrous_kserve_model_missing(&plan->kserve, &err);
    atrousd_reply_fail(reply, ATROUSD_FAIL_NOT_FOUND, "model", ex->request_id, "%s", err.message);
    return true;
}

/* KServe and TF Serving routes: the model (404), then for infer and predict the refusals of
 * every compute request, the Content-Type (415), the JSON document's size (413) and the
 * Inference-Header-Content-Length (400), read here once. */
static bool admit_model(struct server_ctx *ctx, const struct http_exchange *ex,
                        struct request_plan *plan, struct http_reply *reply)
{
    const char *id = ex->request_id;
    /* The statistics of every model name none. */
    if (plan->endpoint == ATROUSD_EP_V2_MODEL_STATS && plan->kserve.model[0] == '\0')
        return false;
    if (admit_model_name(ctx, ex, plan, reply))
        return true;
    if (!atrousd_route_computes(plan->endpoint))
        return false;
    if (refuse_compute(ctx, ex, reply))
        return true;
    if (!atrousd_media_model_body(ex->content_type)) {
        atrousd_reply_fail(reply, ATROUSD_FAIL_UNSUPPORTED_MEDIA_TYPE, NULL, id,
                           "Content-Type must be %s (or %s with the binary tensor extension), "
                           "got '%.*s'",
                           ATROUSD_MEDIA_JSON, ATROUSD_MEDIA_BINARY, QUOTE_MAX, ex->content_type);
        return true;
    }
    plan->protocol = atrousd_protocol_for(plan);
    struct atrous_error ihcl_err;
    enum atrous_status ihcl = ATROUS_OK;
    atrous_error_clear(&ihcl_err);
    bool binary_extension =
        plan->endpoint == ATROUSD_EP_V2_INFER && ex->inference_header_length != NULL;
    if (binary_extension) {
        ihcl = atrous_kserve_parse_header_length(ex->inference_header_length, &plan->header_length,
                                                 &ihcl_err);
        plan->has_header_length = ihcl == ATROUS_OK;
    }
    /* The JSON part is parsed into a document tree (tens of bytes per number): its own limit,
     * decided before the body is read when the headers give its size. */
    uint64_t json_len = 0;
    bool known = false;
    if (binary_extension)
        known = plan->has_header_length, json_len = plan->header_length;
    else if (ex->has_content_length && !body_compressed(ex))
        known = true, json_len = ex->content_length;
    if (known && json_len > ctx->config.max_json_bytes) {
        reply->close_connection = true;
        atrousd_reply_fail(reply, ATROUSD_FAIL_CONTENT_TOO_LARGE, "body", id,
                           "body: the JSON document is %" PRIu64 " bytes, over --max-json-bytes "
                           "%" PRIu64 "%s",
                           json_len, ctx->config.max_json_bytes,
                           plan->endpoint == ATROUSD_EP_V2_INFER
                               ? "; send large tensors with the binary tensor extension"
                               : "");
        return true;
    }
    if (ihcl != ATROUS_OK) {
        atrousd_reply_status(reply, ihcl, &ihcl_err, id);
        return true;
    }
    if (ctx->config.max_batch > 1 && plan->model != NULL)
        plan->batch_class = plan->model;
    return false;
}

/* The repository extension's requests: refused while warming up or draining (the model
 * manager runs only while serving), their small JSON bodies bounded before they are read. */
static bool admit_repository(struct server_ctx *ctx, const struct http_exchange *ex,
                             struct http_reply *reply)
{
    if (refuse_compute(ctx, ex, reply))
        return true;
    if (ex->has_content_length && ex->content_length > ATROUS_KSERVE_REPO_MAX_BODY) {
        reply->close_connection = true;
        atrousd_reply_fail(reply, ATROUSD_FAIL_CONTENT_TOO_LARGE, "body", ex->request_id,
                           "body: Content-Length %" PRIu64 " is over the %zu bytes a repository "
                           "request may have",
                           ex->content_length, ATROUS_KSERVE_REPO_MAX_BODY);
        return true;
    }
    return false;
}

/* The challenges of RFC 6750 section 3 (static: the reply borrows them). */
#define CHALLENGE "Bearer realm=\"" ATROUSD_AUTH_REALM "\""

/* Bearer tokens (auth.h): 401 with WWW-Authenticate without a known token (with
 * error="invalid_token" when one was sent), 400 invalid_request for two Authorization headers.
 * Neither the token nor any part of the header is quoted back. A request with a body is
 * answered with Connection: close (its body is never read). */
static bool refuse_unauthenticated(struct server_ctx *ctx, const struct http_exchange *ex,
                                   struct request_plan *plan, struct http_reply *reply)
{
    const char *id = ex->request_id;
    enum atrousd_auth_verdict v = atrousd_auth_check(ctx->auth, ex->path, ex->authorization,
                                                     ex->authorization_count, plan->token_id);
    switch (v) {
    case ATROUSD_AUTH_OPEN:
    case ATROUSD_AUTH_OK:
        return false;
    case ATROUSD_AUTH_MISSING:
        reply->www_authenticate = CHALLENGE;
        atrousd_reply_fail(reply, ATROUSD_FAIL_UNAUTHENTICATED, "Authorization", id,
                           "Authorization: this endpoint needs a bearer token (send the header "
                           "'Authorization: Bearer <token>')");
        break;
    case ATROUSD_AUTH_INVALID:
        reply->www_authenticate = CHALLENGE ", error=\"invalid_token\"";
        atrousd_reply_fail(reply, ATROUSD_FAIL_UNAUTHENTICATED, "Authorization", id,
                           "Authorization: the bearer token is not valid (unknown, revoked or "
                           "malformed)");
        break;
    case ATROUSD_AUTH_DUPLICATE:
        reply->www_authenticate = CHALLENGE ", error=\"invalid_request\"";
        atrousd_reply_fail(reply, ATROUSD_FAIL_INVALID_ARGUMENT, "Authorization", id,
                           "Authorization: %u headers were sent; send exactly one",
                           ex->authorization_count);
        break;
    }
    if (ex->method == NULL || (strcmp(ex->method, "GET") != 0 && strcmp(ex->method, "HEAD") != 0))
        reply->close_connection = true;
    return true;
}

bool atrousd_precheck(struct server_ctx *ctx, const struct http_exchange *ex,
                      struct request_plan *plan, struct http_reply *reply)
{
    const char *id = ex->request_id;
    memset(plan, 0, sizeof(*plan));
    plan->endpoint = atrousd_route_parse(ex->path, &plan->kserve, &plan->tfs);
    if (plan->endpoint == ATROUSD_EP_UNKNOWN) {
        atrousd_reply_fail(reply, ATROUSD_FAIL_NOT_FOUND, NULL, id,
                           "no endpoint at '%.*s'; see /v1/info and proto/README.md", QUOTE_MAX,
                           ex->path ? ex->path : "");
        return true;
    }
    if (!atrousd_route_allows(plan->endpoint, ex->method)) {
        reply->allow = atrousd_route_allow_header(plan->endpoint);
        atrousd_reply_fail(reply, ATROUSD_FAIL_METHOD_NOT_ALLOWED, NULL, id,
                           "method %.*s is not allowed on %s; allowed: %s", QUOTE_MAX,
                           ex->method ? ex->method : "", ex->path, reply->allow);
        return true;
    }
    /* Authentication: the route is known and nothing about the repository or the body has
     * been revealed yet; a missing or wrong token is answered here. */
    if (refuse_unauthenticated(ctx, ex, plan, reply))
        return true;
    if (ex->has_content_length && ex->content_length > ctx->config.max_body_bytes) {
        reply->close_connection = true;
        atrousd_reply_fail(reply, ATROUSD_FAIL_CONTENT_TOO_LARGE, "body", id,
                           "body: Content-Length %" PRIu64 " is over --max-body-bytes %" PRIu64,
                           ex->content_length, ctx->config.max_body_bytes);
        return true;
    }
    if (plan->endpoint == ATROUSD_EP_OP && admit_op(ctx, ex, plan, reply))
        return true;
    if (atrousd_route_names_model(plan->endpoint) && admit_model(ctx, ex, plan, reply))
        return true;
    if (atrousd_route_manages_models(plan->endpoint) && admit_repository(ctx, ex, reply))
        return true;
    /* Cost and memory (governor.h): a binary op estimated over --max-compute-ms is refused
     * here, and every compute request's worst case (body, decoded tensors, and a binary op's
     * output and answer) is reserved against the memory budget before its body is read. */
    return atrousd_route_computes(plan->endpoint) &&
           atrousd_governor_admit(ctx, ex, plan, ex->memory, reply);
}
