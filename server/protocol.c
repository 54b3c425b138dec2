/*
 * protocol.c - the four wire adapters. Each is a decode/encode/release triple over its proto
 * codec; errors are the native JSON error body for all four (reply.h).
 */
#include "protocol.h"

#include <stdlib.h>
#include <string.h>

#include "atrous_binary.h"
#include "atrous_json.h"
#include "media.h"

/* Native: the request form picks the decoder, the response form the encoder. */

static enum atrous_status native_json_decode(const struct server_ctx *ctx,
                                             const struct http_exchange *ex,
                                             const struct request_plan *plan,
                                             struct atrousd_wire_request *req,
                                             struct atrous_error *err)
{
    (void)plan;
    req->op = &req->u.native;
    return atrous_json_decode_request(ex->body, ex->body_len, &ctx->decode_limits, &req->u.native,
                                      err);
}

static enum atrous_status native_binary_decode(const struct server_ctx *ctx,
                                               const struct http_exchange *ex,
                                               const struct request_plan *plan,
                                               struct atrousd_wire_request *req,
                                               struct atrous_error *err)
{
    (void)ctx;
    req->op = &req->u.native;
    /* The query was parsed at admission: only the body is decoded here, in its own buffer when
     * the server gave it room (a 16-bit body widened in place). */
    if (ex->body_room != NULL)
        return atrous_binary_decode_body_in_place(&plan->binary, ex->body_room, ex->body_len,
                                                  ex->room_len, &req->u.native, err);
    return atrous_binary_decode_body(&plan->binary, ex->body, ex->body_len, &req->u.native, err);
}

/* The op's answer: JSON, or the output's bytes with X-Output-Shape. An op never runs in a
 * batch, so its output is its own and becomes the body without a copy (aligned_alloc memory is
 * freed with atrous_aligned_free, as every body is). */
static enum atrous_status native_encode(const struct request_plan *plan,
                                        const struct atrousd_wire_request *req,
                                        const struct atrous_problem *problem, const float *output,
                                        float **owned, struct http_reply *reply,
                                        struct atrous_error *err)
{
    struct atrous_shape shape;
    const enum atrous_dtype dtype = req->u.native.output_dtype;
    atrous_problem_output_shape(problem, &shape);
    reply->output_dtype = atrous_dtype_name(dtype);
    if (plan->response_form == ATROUS_FORM_JSON) {
        char *body = NULL;
        size_t len = 0;
        enum atrous_status st = atrous_json_encode_output_as(
            &shape, output, dtype, reply->compute_precision, &body, &len, err);
        if (st == ATROUS_OK)
            atrousd_reply_body(reply, ATROUSD_CONTENT_TYPE_JSON, body, len);
        return st;
    }
    /* A 16-bit answer is rounded in place: its 2-byte elements packed at the buffer's start. */
    if (*owned != NULL)
        atrous_dtype_narrow(dtype, *owned, *owned, problem->output_elements);
    atrousd_reply_body(reply, ATROUSD_MEDIA_BINARY, (char *)*owned,
                       problem->output_elements * atrous_dtype_size(dtype));
    *owned = NULL;
    atrous_binary_format_shape(&shape, reply->output_shape, sizeof(reply->output_shape));
    return ATROUS_OK;
}

static void native_release(struct atrousd_wire_request *req)
{
    atrous_request_release(&req->u.native);
}

/* KServe v2: JSON, or with the binary extension the JSON header then the output's bytes in one
 * body (Inference-Header-Content-Length tells them apart). */

static enum atrous_status kserve_decode(const struct server_ctx *ctx,
                                        const struct http_exchange *ex,
                                        const struct request_plan *plan,
                                        struct atrousd_wire_request *req, struct atrous_error *err)
{
    req->op = &req->u.kserve.op;
    return atrous_kserve_decode_infer(plan->model, ex->body, ex->body_len,
                                      plan->has_header_length ? &plan->header_length : NULL,
                                      &ctx->kserve_limits, &req->u.kserve, err);
}

static enum atrous_status kserve_encode(const struct request_plan *plan,
                                        const struct atrousd_wire_request *req,
                                        const struct atrous_problem *problem, const float *output,
                                        float **owned, struct http_reply *reply,
                                        struct atrous_error *err)
{
    (void)plan;
    (void)owned;
    struct atrous_shape shape;
    struct atrous_kserve_reply kr;
    atrous_problem_output_shape(problem, &shape);
    reply->output_dtype = atrous_dtype_name(req->u.kserve.op.output_dtype);
    enum atrous_status st = atrous_kserve_encode_infer_as(&req->u.kserve, &shape, output,
                                                          reply->compute_precision, &kr, err);
    if (st != ATROUS_OK)
        return st;
    if (!req->u.kserve.binary_output) {
        atrousd_reply_body(reply, ATROUSD_CONTENT_TYPE_JSON, kr.header, kr.header_len);
        kr.header = NULL;
    } else {
        char *body = malloc(kr.header_len + kr.binary_len + 1);
        if (body == NULL) {
            atrous_kserve_reply_release(&kr);
            return atrous_error_set(err, ATROUS_NO_MEMORY, "",
                                    "out of memory for a %zu byte response",
                                    kr.header_len + kr.binary_len);
        }
        memcpy(body, kr.header, kr.header_len);
        if (kr.binary_len > 0)
            memcpy(body + kr.header_len, kr.binary, kr.binary_len);
        atrousd_reply_body(reply, ATROUSD_MEDIA_BINARY, body, kr.header_len + kr.binary_len);
        reply->inference_header_length = kr.header_len;
    }
    atrous_kserve_reply_release(&kr);
    return ATROUS_OK;
}

static void kserve_release(struct atrousd_wire_request *req)
{
    atrous_kserve_request_release(&req->u.kserve);
}

/* TF Serving: rows or columns as the request was. */

static enum atrous_status tfs_decode(const struct server_ctx *ctx, const struct http_exchange *ex,
                                     const struct request_plan *plan,
                                     struct atrousd_wire_request *req, struct atrous_error *err)
{
    req->op = &req->u.tfs.op;
    return atrous_tfs_decode_predict(plan->model, ex->body, ex->body_len, &ctx->tfs_limits,
                                     &req->u.tfs, err);
}

static enum atrous_status tfs_encode(const struct request_plan *plan,
                                     const struct atrousd_wire_request *req,
                                     const struct atrous_problem *problem, const float *output,
                                     float **owned, struct http_reply *reply,
                                     struct atrous_error *err)
{
    (void)plan;
    (void)owned;
    struct atrous_shape shape;
    char *body = NULL;
    size_t len = 0;
    atrous_problem_output_shape(problem, &shape);
    reply->output_dtype = atrous_dtype_name(req->u.tfs.op.output_dtype);
    enum atrous_status st =
        atrous_tfs_encode_predict(&req->u.tfs, &shape, output, &body, &len, err);
    if (st == ATROUS_OK)
        atrousd_reply_body(reply, ATROUSD_CONTENT_TYPE_JSON, body, len);
    return st;
}

static void tfs_release(struct atrousd_wire_request *req)
{
    atrous_tfs_request_release(&req->u.tfs);
}

static const struct atrousd_protocol native_json = {
    "native_json", native_json_decode, native_encode, native_release, atrousd_reply_status,
};
static const struct atrousd_protocol native_binary = {
    "native_binary", native_binary_decode, native_encode, native_release, atrousd_reply_status,
};
static const struct atrousd_protocol kserve = {
    "kserve_v2", kserve_decode, kserve_encode, kserve_release, atrousd_reply_status,
};
static const struct atrousd_protocol tfserving = {
    "tfserving", tfs_decode, tfs_encode, tfs_release, atrousd_reply_status,
};

const struct atrousd_protocol *atrousd_protocol_for(const struct request_plan *plan)
{
    switch (plan->endpoint) {
    case ATROUSD_EP_OP:
        return plan->request_form == ATROUS_FORM_BINARY ? &native_binary : &native_json;
    case ATROUSD_EP_V2_INFER:
        return &kserve;
    case ATROUSD_EP_TFS_PREDICT:
        return &tfserving;
    default:
        return NULL;
    }
}
