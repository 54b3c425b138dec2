/*
 * atrous_kserve.h - the KServe v2 / Open Inference Protocol wire form, with Triton's binary
 * tensor data extension and the model configuration extension (proto/KSERVE.md has the whole
 * API with curl examples).
 *
 * Models:
 *   - repository models (atrous_model.h): one input "value" [N, H, W, IC], one output
 *     "output" [N, OH, OW, OC] (datatypes: the model's declared dtype), rate and padding fixed
 *     by the model;
 *   - the built-in generic model "atrous_conv2d_transpose" (version "1"): inputs "value" and
 *     "filters" (FP32, BF16 or FP16 each), "output_shape" (INT32 or INT64, [4]), and rate and
 * padding either as request parameters {"rate": 2, "padding": "SAME"} or as inputs "rate"
 * (INT32/INT64 [1]) and "padding" (BYTES [1]).
 *
 * Decoding produces the same struct atrous_request as the native codecs, so the server
 * validates (atrous_request_validate) and runs it identically; for a repository model the
 * request's filters are the model's (borrowed) and output_shape follows from the model's rule.
 *
 * Binary extension: the body is the JSON header (Inference-Header-Content-Length bytes) then
 * each input with "parameters": {"binary_data_size": n} in input order, raw little-endian,
 * row-major. The header length must not exceed the body; each size must equal the input's
 * element count times its type size (overflow-checked; for BYTES, a 4-byte length then the
 * bytes); the parts must fill the rest of the body exactly. FP32 parts are used in place when
 * 4-byte aligned within the body, else copied. Outputs are returned as binary data when the
 * request asks: "outputs": [{"name": "output", "parameters": {"binary_data": true}}], or the
 * request parameter "binary_data_output": true (a per-output flag overrides it).
 *
 * Status codes the server uses (server/reply.h): ATROUS_INVALID_ARGUMENT and ATROUS_TOO_LARGE
 * (a size computed from shapes) 400, ATROUS_CONTENT_TOO_LARGE (the JSON part over its byte
 * limit) 413, ATROUS_NO_MEMORY 503 (overload: retryable), an engine failure 500; a model the URL
 * names but the repository lacks 404. Error bodies are atrousd's native error body ({"error",
 * "code", "field", "request_id"}), whose "error" string is what KServe clients read.
 */
#ifndef ATROUS_KSERVE_H
#define ATROUS_KSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_error.h"
#include "atrous_model.h"
#include "atrous_model_config.h"
#include "atrous_request.h"
#include "atrous_tensor.h"

/* The extensions GET /v2 lists. */
#define ATROUS_KSERVE_EXTENSIONS                                                                   \
    {                                                                                              \
        "binary_tensor_data", "model_configuration", "model_repository", "statistics"              \
    }

/* The "platform" of atrousd's models in metadata and config documents. */
#define ATROUS_KSERVE_PLATFORM "atrousd_onednn"

/* The request- and output-level "parameters" keys of the dtype work: the compute precision a
 * request asks ("f32" | "bf16"), the datatype a requested output asks (KServe name), and the
 * response parameter that says what the compute ran in. */
#define ATROUS_KSERVE_PARAM_PRECISION         "precision"
#define ATROUS_KSERVE_PARAM_DATATYPE          "datatype"
#define ATROUS_KSERVE_PARAM_COMPUTE_PRECISION "compute_precision"

/* Longest request "id" echoed back; a longer one is a 400. */
#define ATROUS_KSERVE_ID_MAX 256

/* What a /v2 path asks for (the methods each takes: server/router.h). */
enum atrous_kserve_route_kind {
    ATROUS_KSERVE_ROUTE_NONE,            /* not a /v2 path atrousd serves: 404 */
    ATROUS_KSERVE_ROUTE_SERVER_METADATA, /* GET  /v2 */
    ATROUS_KSERVE_ROUTE_LIVE,            /* GET  /v2/health/live */
    ATROUS_KSERVE_ROUTE_READY,           /* GET  /v2/health/ready */
    ATROUS_KSERVE_ROUTE_MODEL_METADATA,  /* GET  /v2/models/{name}[/versions/{v}] */
    ATROUS_KSERVE_ROUTE_MODEL_READY,     /* GET  /v2/models/{name}[/versions/{v}]/ready */
    ATROUS_KSERVE_ROUTE_MODEL_CONFIG,    /* GET  /v2/models/{name}[/versions/{v}]/config */
    ATROUS_KSERVE_ROUTE_INFER,           /* POST /v2/models/{name}[/versions/{v}]/infer */
    ATROUS_KSERVE_ROUTE_MODEL_STATS,     /* GET  /v2/models[/{name}[/versions/{v}]]/stats */
    ATROUS_KSERVE_ROUTE_REPO_INDEX,      /* POST /v2/repository/index */
    ATROUS_KSERVE_ROUTE_REPO_LOAD,       /* POST /v2/repository/models/{name}/load */
    ATROUS_KSERVE_ROUTE_REPO_UNLOAD,     /* POST /v2/repository/models/{name}/unload */
};

struct atrous_kserve_route {
    enum atrous_kserve_route_kind kind;
    char model[ATROUS_MODEL_NAME_MAX + 1];      /* "" for server routes and /v2/models/stats */
    char version[ATROUS_MODEL_VERSION_MAX + 1]; /* "" when the path names none */
};

/* Parses a request path (without the query string). Returns false (kind NONE) for anything
 * else, including model names or versions that no model can have. "/v2/models/stats" is the
 * statistics of every model, as in Triton (so a model named "stats" has no metadata path). */
bool atrous_kserve_parse_path(const char *path, struct atrous_kserve_route *out);

/* True when the route names the built-in generic model (name ATROUS_GENERIC_MODEL_NAME,
 * version "" or "1"); any other name is looked up in the server's repository. */
bool atrous_kserve_route_generic(const struct atrous_kserve_route *route);

/* The error for a route whose model the server lacks: ATROUS_INVALID_ARGUMENT, field "model",
 * "model 'x' [version 'v'] is not available" (the server answers 404). */
enum atrous_status atrous_kserve_model_missing(const struct atrous_kserve_route *route,
                                               struct atrous_error *err);

/*
 * The one parser of the Inference-Header-Content-Length header (the server reads it once, at
 * admission, and hands the number on): optional blanks, decimal digits, optional blanks, no
 * overflow. ATROUS_INVALID_ARGUMENT naming the header otherwise.
 */
enum atrous_status atrous_kserve_parse_header_length(const char *text, uint64_t *out,
                                                     struct atrous_error *err);

struct atrous_kserve_limits {
    size_t max_tensor_elements; /* per input tensor; 0 = the hard ceiling only */
    size_t max_json_bytes;      /* the JSON part; 0 = ATROUS_DOM_DEFAULT_MAX_JSON_BYTES */
};

/* A decoded inference request. */
struct atrous_kserve_request {
    struct atrous_request op;         /* ready for atrous_request_validate */
    const struct atrous_model *model; /* borrowed; NULL for the generic model */
    char *id;                         /* the request's "id" (owned, NUL-terminated); NULL if none */
    bool binary_output;               /* answer "output" as binary data */
    bool has_precision;               /* parameters.precision was given (else the model's) */
    void *owned[2];                   /* aligned copies of tensor data, freed on release */
};

/* Makes an empty request (safe to release). */
void atrous_kserve_request_init(struct atrous_kserve_request *request);

/* Frees what the request owns and resets it. */
void atrous_kserve_request_release(struct atrous_kserve_request *request);

/*
 * Decodes POST .../infer for model (NULL: the generic model). body holds the whole request
 * body of len bytes; header_length is the Inference-Header-Content-Length header's value as
 * atrous_kserve_parse_header_length read it (NULL when absent: the body is all JSON); it must
 * not exceed len (ATROUS_INVALID_ARGUMENT). Tensors point into body where they can
 * (binary FP32 parts, 4-byte aligned), so body must outlive *out. On failure *out is left
 * released and err names the input or field at fault. Returns ATROUS_OK,
 * ATROUS_INVALID_ARGUMENT, ATROUS_TOO_LARGE or ATROUS_NO_MEMORY.
 */
enum atrous_status atrous_kserve_decode_infer(const struct atrous_model *model, const void *body,
                                              size_t len, const uint64_t *header_length,
                                              const struct atrous_kserve_limits *limits,
                                              struct atrous_kserve_request *out,
                                              struct atrous_error *err);

/* An encoded inference response. When binary is non-NULL the body is header followed by the
 * binary_len bytes at binary (borrowed: the output buffer the caller passed), sent with
 * Content-Type: application/octet-stream and Inference-Header-Content-Length: header_len;
 * otherwise header is the whole application/json body. */
struct atrous_kserve_reply {
    char *header; /* malloc'd, NUL-terminated */
    size_t header_len;
    const void *binary;
    size_t binary_len;
    void *owned_binary; /* a 16-bit output's rounded copy (binary points at it), or NULL */
};

/*
 * Encodes the response to request: {"model_name", "model_version", "id" (when the request had
 * one), "outputs": [{"name": "output", "datatype": "FP32", "shape": [...], "data": [...]}]}, or
 * with "parameters": {"binary_data_size": n} instead of "data" when binary output was asked.
 * data holds the elements of shape and must outlive the reply when binary. Returns ATROUS_OK,
 * ATROUS_TOO_LARGE or ATROUS_NO_MEMORY.
 */
enum atrous_status atrous_kserve_encode_infer(const struct atrous_kserve_request *request,
                                              const struct atrous_shape *shape, const float *data,
                                              struct atrous_kserve_reply *out,
                                              struct atrous_error *err);

/* The same, with the output in the request's output dtype (request->op.output_dtype: "datatype"
 * is its KServe name, each element rounded once to it; a binary 16-bit answer is a rounded copy
 * the reply owns) and, when precision is non-NULL, "parameters": {"compute_precision":
 * precision} on the response. */
enum atrous_status atrous_kserve_encode_infer_as(const struct atrous_kserve_request *request,
                                                 const struct atrous_shape *shape,
                                                 const float *data, const char *precision,
                                                 struct atrous_kserve_reply *out,
                                                 struct atrous_error *err);

/* Frees the reply's header. Accepts an all-zero reply. */
void atrous_kserve_reply_release(struct atrous_kserve_reply *reply);

/*
 * Documents. Each returns a malloc'd NUL-terminated JSON text (length in *len) or NULL on out
 * of memory.
 *   server_metadata  {"name", "version", "extensions": [...]}                       GET /v2
 *   live / ready     {"live": b} / {"ready": b}                          GET /v2/health/...
 *   model_ready      {"name", "version", "ready"}                    GET /v2/models/.../ready
 *   model_metadata   {"name", "versions", "platform", "inputs", "outputs"}  (-1: variable dim)
 *   model_config     {"name", "platform", "backend", "max_batch_size", "input", "output",
 *                     "parameters"}: what perf_analyzer and tritonclient read
 * model NULL means the generic model; versions lists a repository model's versions (lowest
 * first, version_count of them; ignored for the generic model).
 */
char *atrous_kserve_encode_server_metadata(const char *name, const char *version, size_t *len);

/* What the server's compute offers, for GET /v2: the dtypes inputs may have and whether bf16
 * compute (and AMX) is there; {"name", "version", "extensions", "datatypes": [...], "bf16": b,
 * "amx": b}. */
char *atrous_kserve_encode_server_metadata_caps(const char *name, const char *version, bool bf16,
                                                bool amx, size_t *len);
char *atrous_kserve_encode_live(bool live, size_t *len);
char *atrous_kserve_encode_ready(bool ready, size_t *len);
char *atrous_kserve_encode_model_ready(const struct atrous_model *model, bool ready, size_t *len);
char *atrous_kserve_encode_model_metadata(const struct atrous_model *model,
                                          const struct atrous_model *const *versions,
                                          size_t version_count, size_t *len);
char *atrous_kserve_encode_model_config(const struct atrous_model *model, size_t *len);

#endif
