/*
 * atrous_tfserving.h - TensorFlow Serving's v1 REST API for repository models (proto/KSERVE.md
 * has the endpoints with curl examples):
 *
 *   POST /v1/models/{name}[/versions/{v}]:predict
 *        {"instances": [<[H][W][IC] nested list> | {"value": <same>}, ...]}  (row format)
 *        {"inputs": <[N][H][W][IC] nested list> | {"value": <same>}}          (columnar format)
 *        optional "signature_name": "serving_default"; both instances and inputs is an error.
 *     -> {"predictions": [<[OH][OW][OC]>, ...]} or {"outputs": <[N][OH][OW][OC]>}
 *   GET  /v1/models/{name}[/versions/{v}]           model status (GetModelStatusResponse)
 *   GET  /v1/models/{name}[/versions/{v}]/metadata  signature "serving_default" (value -> output)
 *
 * Decoding produces the struct atrous_request the native codecs produce (filters borrowed from
 * the model, output_shape by its rule), so the server validates and runs it identically.
 * Numbers are strict JSON read into a lean document (see atrous_kserve_dom.h for the cost and
 * the JSON size limit): NaN and Infinity tokens, which TF Serving accepts, are rejected here.
 * Status codes as in atrous_kserve.h (413 only for a body over the JSON byte limit), 404 with
 * atrous_tfs_model_missing's message; errors carry "error" as TF Serving writes it.
 */
#ifndef ATROUS_TFSERVING_H
#define ATROUS_TFSERVING_H

#include <stdbool.h>
#include <stddef.h>

#include "atrous_error.h"
#include "atrous_model.h"
#include "atrous_model_config.h"
#include "atrous_request.h"
#include "atrous_tensor.h"

/* The one signature every repository model has. */
#define ATROUS_TFS_SIGNATURE "serving_default"

enum atrous_tfs_route_kind {
    ATROUS_TFS_ROUTE_NONE,     /* not a /v1/models path atrousd serves: 404 */
    ATROUS_TFS_ROUTE_STATUS,   /* GET  /v1/models/{name}[/versions/{v}] */
    ATROUS_TFS_ROUTE_METADATA, /* GET  /v1/models/{name}[/versions/{v}]/metadata */
    ATROUS_TFS_ROUTE_PREDICT,  /* POST /v1/models/{name}[/versions/{v}]:predict */
};

struct atrous_tfs_route {
    enum atrous_tfs_route_kind kind;
    char model[ATROUS_MODEL_NAME_MAX + 1];
    char version[ATROUS_MODEL_VERSION_MAX + 1]; /* "" when the path names none */
};

/* Parses a request path (without the query string); false (kind NONE) for anything else,
 * including /v1/models/{name}/labels/... (labels are not supported). */
bool atrous_tfs_parse_path(const char *path, struct atrous_tfs_route *out);

/* The error for a route whose model the server's repository lacks: ATROUS_INVALID_ARGUMENT
 * with TF Serving's message ("Servable not found for request: Latest(name)" or
 * "Specific(name, v)"); the server answers 404. */
enum atrous_status atrous_tfs_model_missing(const struct atrous_tfs_route *route,
                                            struct atrous_error *err);

struct atrous_tfs_limits {
    size_t max_tensor_elements; /* the value tensor; 0 = the hard ceiling only */
    size_t max_json_bytes;      /* the body; 0 = ATROUS_DOM_DEFAULT_MAX_JSON_BYTES */
};

struct atrous_tfs_request {
    struct atrous_request op;         /* ready for atrous_request_validate */
    const struct atrous_model *model; /* borrowed */
    bool columnar;                    /* "inputs" given: answer {"outputs": ...} */
    float *owned;                     /* the value's data (aligned), freed on release */
};

void atrous_tfs_request_init(struct atrous_tfs_request *request);
void atrous_tfs_request_release(struct atrous_tfs_request *request);

/*
 * Decodes a :predict body of len bytes for model. The value is copied out of the JSON, so body
 * need not outlive *out (the model must). On failure *out is left released. Returns ATROUS_OK,
 * ATROUS_INVALID_ARGUMENT, ATROUS_TOO_LARGE or ATROUS_NO_MEMORY.
 */
enum atrous_status atrous_tfs_decode_predict(const struct atrous_model *model, const void *body,
                                             size_t len, const struct atrous_tfs_limits *limits,
                                             struct atrous_tfs_request *out,
                                             struct atrous_error *err);

/*
 * Encodes the answer to request: {"predictions": [...]} for the row format (one
 * [OH][OW][OC] list per instance) or {"outputs": [...]} for the columnar one ([N][OH][OW][OC]).
 * data holds the elements of shape (rank 4). *out is malloc'd (NUL-terminated), *out_len its
 * length. ATROUS_NO_MEMORY or ATROUS_TOO_LARGE on failure.
 */
enum atrous_status atrous_tfs_encode_predict(const struct atrous_tfs_request *request,
                                             const struct atrous_shape *shape, const float *data,
                                             char **out, size_t *out_len, struct atrous_error *err);

/*
 * Documents (malloc'd JSON, length in *len; NULL on out of memory):
 *   status    {"model_version_status": [{"version", "state": "AVAILABLE",
 *              "status": {"error_code": "OK", "error_message": ""}}]} for route's version, or
 *              every version of the name when the route names none (versions: the
 *              name's version_count models, lowest first)
 *   metadata  {"model_spec": {...}, "metadata": {"signature_def": {"signature_def":
 *              {"serving_default": {"inputs": {"value": ...}, "outputs": {"output": ...},
 *              "method_name": "tensorflow/serving/predict"}}}}}
 */
char *atrous_tfs_encode_status(const struct atrous_tfs_route *route,
                               const struct atrous_model *const *versions, size_t version_count,
                               size_t *len);
char *atrous_tfs_encode_metadata(const struct atrous_model *model, size_t *len);

#endif
