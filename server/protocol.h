/*
 * protocol.h - the wire protocols as adapters of one shape: each decodes a body into the op's
 * request, encodes the op's answer, and describes its errors. The pipeline (pipeline.h) holds
 * one request and calls the adapter admission chose (request_plan.protocol), so a new protocol
 * or a new dtype touches its adapter here, not the pipeline.
 *
 *   native JSON     POST /v1/atrous_conv2d_transpose, application/json      (atrous_json.h)
 *   native binary   the same path, application/octet-stream + query         (atrous_binary.h)
 *   KServe v2       POST /v2/models/.../infer, JSON or the binary extension  (atrous_kserve.h)
 *   TF Serving      POST /v1/models/...:predict                             (atrous_tfserving.h)
 *
 * The native adapters answer in the form the request asked for (request_plan.response_form).
 */
#ifndef ATROUSD_PROTOCOL_H
#define ATROUSD_PROTOCOL_H

#include "admission.h"
#include "atrous_kserve.h"
#include "atrous_op.h"
#include "atrous_request.h"
#include "atrous_tfserving.h"
#include "reply.h"
#include "server_ctx.h"

/* One decoded request in its protocol's own terms. The pipeline reads only op; the rest is the
 * adapter's (what its encoder needs: a KServe id and output form, TF Serving's row/column
 * choice). */
struct atrousd_wire_request {
    const struct atrous_request *op; /* ready for atrous_request_validate once decoded */
    union {
        struct atrous_request native;
        struct atrous_kserve_request kserve;
        struct atrous_tfs_request tfs;
    } u;
};

struct atrousd_protocol {
    const char *name;
    /* Decodes ex's body (with what admission planned) into req; on failure req is left
     * released and err says why. */
    enum atrous_status (*decode)(const struct server_ctx *ctx, const struct http_exchange *ex,
                                 const struct request_plan *plan, struct atrousd_wire_request *req,
                                 struct atrous_error *err);
    /* Encodes the answer: output holds problem's output elements. *owned is the output's own
     * buffer (NULL when output points into a batch's); an encoder that sends it as the body
     * takes it and sets *owned to NULL. */
    enum atrous_status (*encode)(const struct request_plan *plan,
                                 const struct atrousd_wire_request *req,
                                 const struct atrous_problem *problem, const float *output,
                                 float **owned, struct http_reply *reply, struct atrous_error *err);
    /* Frees what decode made. Accepts a request that decode failed on. */
    void (*release)(struct atrousd_wire_request *req);
    /* Answers a failure of this request (decode, validation, compute or encode). */
    void (*describe_error)(struct http_reply *reply, enum atrous_status status,
                           const struct atrous_error *err, const char *request_id);
};

/* The adapter of a compute endpoint (the op's by its request form); NULL for the others. */
const struct atrousd_protocol *atrousd_protocol_for(const struct request_plan *plan);

#endif
