/*
 * spec_client.h - a small client of three public HTTP protocols, written from their published
 * specifications only (never from atrousd's code), so that a test can show that an independent
 * client works against the server unchanged:
 *
 *   - the Open Inference Protocol / KServe v2 REST API (health, server and model metadata,
 *     model ready, inference request and response JSON objects);
 *   - Triton's binary tensor data extension (Inference-Header-Content-Length, the parameters
 *     binary_data_size, binary_data and binary_data_output);
 *   - TensorFlow Serving's REST API (predict in row and columnar format, model status,
 *     model metadata).
 *
 * Requests are built as the specifications show them and responses are parsed as they define
 * them, including what they allow and a lazy client might not expect (tensor data nested or
 * flat, int64 fields as proto3 JSON strings). Conformance cases are read from their documented
 * JSON format (tests/data/conformance/README.md); the .npy writer follows NumPy's format spec.
 */
#ifndef TESTS_SPEC_CLIENT_H
#define TESTS_SPEC_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_client.h"

/* Where the clauses the tests quote come from. */
#define SC_SPEC_OIP                                                                                \
    "KServe Predict Protocol v2 / Open Inference Protocol REST "                                   \
    "(https://github.com/kserve/kserve/blob/master/docs/predict-api/v2/required_api.md, "          \
    "https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/"          \
    "inference_rest.md)"
#define SC_SPEC_BINARY                                                                             \
    "Triton binary tensor data extension (https://github.com/triton-inference-server/server/"      \
    "blob/main/docs/protocol/extension_binary_data.md)"
#define SC_SPEC_CONFIG                                                                             \
    "Triton model configuration extension (https://github.com/triton-inference-server/server/"     \
    "blob/main/docs/protocol/extension_model_configuration.md) as perf_analyzer reads it "         \
    "(https://github.com/triton-inference-server/perf_analyzer/blob/main/src/model_parser.cc)"
#define SC_SPEC_TFS                                                                                \
    "TensorFlow Serving RESTful API (https://www.tensorflow.org/tfx/serving/api_rest)"

#define SC_MAX_RANK 8

/* --- HTTP --------------------------------------------------------------------------------- */

/* GET path. Returns 0 with *out filled, or -1 when no response came. */
int sc_get(uint16_t port, const char *path, struct http_client_response *out);

/* POST a JSON value (dumped compact, floats with 9 significant digits: exact for float32) with
 * Content-Type: application/json. Returns 0 with *out filled, or -1. */
int sc_post_json(uint16_t port, const char *path, const json_t *body,
                 struct http_client_response *out);

/* POST raw bytes with the given Content-Type (may be NULL). */
int sc_post_raw(uint16_t port, const char *path, const char *content_type, const void *body,
                size_t len, struct http_client_response *out);

/* One binary tensor chunk that follows the JSON header of a binary request. */
struct sc_chunk {
    const void *data;
    size_t len;
};

/* POST an inference request of the binary tensor data extension: the JSON header, then the
 * chunks in order, with Inference-Header-Content-Length giving the JSON length and the given
 * Content-Type (the extension's example sends application/octet-stream; NULL sends none, which
 * the extension does not require). */
int sc_post_binary(uint16_t port, const char *path, const char *content_type, const json_t *header,
                   const struct sc_chunk *chunks, size_t chunk_count,
                   struct http_client_response *out);

/* Parses the whole body as one JSON value (object or array). NULL with why on failure. */
json_t *sc_body_json(const struct http_client_response *r, char *why, size_t why_size);

/* Checks an error answer: status >= 400 and a JSON object body with "error" a string (the
 * error JSON object of both the v2 protocol and TF Serving). Returns 0, or -1 with why. */
int sc_check_error_body(const struct http_client_response *r, char *why, size_t why_size);

/* --- v2 inference requests ---------------------------------------------------------------- */

/* {"name", "shape", "datatype": "FP32", "data": [flat]} */
json_t *sc_input_fp32(const char *name, const int64_t *shape, int rank, const float *data,
                      size_t count);

/* {"name", "shape", "datatype", "data": [flat integers]} (INT32 or INT64) */
json_t *sc_input_int(const char *name, const char *datatype, const int64_t *shape, int rank,
                     const int64_t *data, size_t count);

/* {"name", "shape", "datatype": "BYTES", "data": [strings]} */
json_t *sc_input_strings(const char *name, const int64_t *shape, int rank,
                         const char *const *strings, size_t count);

/* {"name", "shape", "datatype", "parameters": {"binary_data_size": bytes}} */
json_t *sc_input_binary(const char *name, const char *datatype, const int64_t *shape, int rank,
                        size_t bytes);

/* {"name"} with "parameters": {"binary_data": b} when binary is 0 or 1 (-1: no parameter). */
json_t *sc_output_request(const char *name, int binary);

/* Little-endian encodings of the binary extension (malloc'd, *len in bytes). */
void *sc_le_fp32(const float *data, size_t count, size_t *len);
void *sc_le_int32(const int64_t *data, size_t count, size_t *len);
void *sc_le_int64(const int64_t *data, size_t count, size_t *len);
/* BYTES elements: each a 4-byte little-endian length, then its bytes. */
void *sc_le_bytes(const char *const *strings, size_t count, size_t *len);

/* --- v2 inference responses --------------------------------------------------------------- */

/* One output tensor of a response, decoded. */
struct sc_tensor {
    char *name;
    char *datatype;
    int64_t shape[SC_MAX_RANK];
    int rank;
    double *data; /* the element values (float32, int32 and int64 below 2^53 are exact) */
    size_t count;
    bool binary; /* it came as binary data (binary_data_size), not as JSON "data" */
};

struct sc_infer_response {
    json_t *json;           /* the inference response JSON object (owned) */
    size_t json_len;        /* its length in the body */
    bool has_header_length; /* the response carried Inference-Header-Content-Length */
    size_t binary_len;      /* bytes after the JSON object */
    struct sc_tensor *outputs;
    size_t output_count;
};

/* Parses a 200 inference response per the v2 protocol and the binary extension: the JSON
 * object (the first Inference-Header-Content-Length bytes when that header is present, else
 * the whole body), then for every output either its JSON "data" (nested or flat, row-major)
 * or, when its parameters carry binary_data_size, that many bytes of the binary part, taken
 * in the order of the outputs. Checks the structure the specs require (types of the fields,
 * element count = product of the shape, binary sizes adding up to the body). Returns 0, or
 * -1 with why quoting what does not hold. Free with sc_infer_response_free either way. */
int sc_parse_infer_response(const struct http_client_response *r, struct sc_infer_response *out,
                            char *why, size_t why_size);
void sc_infer_response_free(struct sc_infer_response *r);

/* The output of that name, or NULL. */
const struct sc_tensor *sc_find_output(const struct sc_infer_response *r, const char *name);

/* --- JSON helpers ------------------------------------------------------------------------- */

/* An integer given as a JSON integer, a JSON real with an integral value, or (proto3 JSON
 * int64/uint64) a decimal string. Returns 0, or -1. */
int sc_json_int(const json_t *v, int64_t *out);

/* Flattens a number or (nested) array of numbers in row-major order and derives its shape
 * (which must be rectangular). Returns 0 with *data malloc'd, or -1 with why. */
int sc_flatten(const json_t *v, double **data, size_t *count, int64_t *shape, int *rank, char *why,
               size_t why_size);

/* The nested-list form of a row-major tensor (TF Serving's natural notation). */
json_t *sc_nested(const float *data, const int64_t *shape, int rank);

/* --- conformance cases and models --------------------------------------------------------- */

/* A valid conformance case, read from its documented JSON format. */
struct sc_case {
    char *name;
    int64_t value_shape[4];
    float *value;
    size_t value_count;
    int64_t filters_shape[4];
    float *filters;
    size_t filters_count;
    int64_t output_shape[4];
    int64_t rate;
    char *padding;
    int64_t expected_shape[4];
    float *expected;
    size_t expected_count;
};

/* Loads the case whose file name contains name from <dir>/valid. Returns 0, or -1 with why. */
int sc_case_load(const char *dir, const char *name, struct sc_case *out, char *why,
                 size_t why_size);
void sc_case_free(struct sc_case *c);

/* Compares got with the case's expected output: exact shape, and every element within
 * |got - exp| <= 1e-4 + 1e-4 * |exp|. Returns 0, or -1 with why. */
int sc_compare(const int64_t *shape, int rank, const double *got, size_t count,
               const struct sc_case *c, char *why, size_t why_size);

/* Writes a float32 little-endian C-order array as a version 1.0 .npy file (NumPy's format:
 * magic, version, header length, a dict literal padded with spaces to a multiple of 64 bytes
 * and ended by a newline, then the data). Returns 0, or -1 with why. */
int sc_write_npy_f32(const char *path, const int64_t *shape, int rank, const float *data, char *why,
                     size_t why_size);

#endif
