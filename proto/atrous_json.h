/*
 * atrous_json.h - the JSON wire form of POST /v1/atrous_conv2d_transpose (DESIGN.md section 3).
 *
 * Request:
 *   {"value": {"shape": [1,4,4,2], "data": [...flat...]} | [[[[...nested...]]]],
 *    "filters": same forms, "output_shape": [1,4,4,3], "rate": 2, "padding": "SAME",
 *    "dtype": "float32" (optional: float32, bfloat16 or float16, for both tensors; a tensor object
 *    may carry its own "dtype"), "output_dtype" (optional: the answer's, default the value's),
 *    "precision": "f32" | "bf16" (optional)}
 * Numbers of a 16-bit tensor are read as float32, then rounded to nearest even to the dtype; a
 * finite number that rounds to infinity in its dtype is an error naming the tensor.
 * Numbers are any JSON number plus the tokens NaN, Infinity and -Infinity; integers in
 * output_shape and rate must be integral. Unknown or duplicate keys are errors. Strings must
 * be valid UTF-8. Nesting deeper than the limit is an error, never a stack overflow.
 * A tensor number becomes float32 as TF Serving converts it (the nearest double, then cast);
 * a finite number that would become infinite (1e39) is an error, not Infinity. Integers are
 * numbers with an exact int64 value (2, 2.0, 2e0; not 2.5). The decisions are listed at the
 * top of atrous_json.c.
 *
 * Response: {"output": {"shape": [...], "dtype": "float32", "data": [...]}} with floats that
 * read back bit-exact as float32, and NaN / Infinity / -Infinity for non-finite values.
 */
#ifndef ATROUS_JSON_H
#define ATROUS_JSON_H

#include <stddef.h>

#include "atrous_error.h"
#include "atrous_request.h"
#include "atrous_tensor.h"

#define ATROUS_JSON_DEFAULT_MAX_DEPTH 64

/*
 * Decodes a request body of len bytes (not necessarily NUL-terminated; embedded NULs are
 * errors). On success *out owns its tensor data (release with atrous_request_release). On
 * failure *out is left released and err names the field: ATROUS_INVALID_ARGUMENT for
 * malformed input (field "" when the body is not JSON at all), ATROUS_TOO_LARGE past
 * limits, ATROUS_NO_MEMORY when allocation fails. Memory used is bounded by a small multiple
 * of len.
 */
enum atrous_status atrous_json_decode_request(const char *body, size_t len,
                                              const struct atrous_decode_limits *limits,
                                              struct atrous_request *out, struct atrous_error *err);

/*
 * Encodes {"output": {"shape": ..., "dtype": "float32", "data": ...}} for a tensor of shape
 * with shape's element count of floats. *out is malloc'd (caller frees), *out_len its length
 * (no NUL counted, but one follows). ATROUS_NO_MEMORY or ATROUS_TOO_LARGE on failure.
 */
enum atrous_status atrous_json_encode_output(const struct atrous_shape *shape, const float *data,
                                             char **out, size_t *out_len, struct atrous_error *err);

/*
 * The same in dtype: {"output": {"shape", "dtype": "<dtype>", "data"}, "compute_precision":
 * precision} with each float32 of data rounded once to dtype (to nearest, ties to even) and
 * written as the float32 it widens to. precision ("f32"/"bf16": what the compute ran in) may be
 * NULL, and the member is then left out.
 */
enum atrous_status atrous_json_encode_output_as(const struct atrous_shape *shape, const float *data,
                                                enum atrous_dtype dtype, const char *precision,
                                                char **out, size_t *out_len,
                                                struct atrous_error *err);

/*
 * Encodes the error body every error answer carries:
 *   {"error": message, "code": code, "field": field or null, "request_id": request_id}
 * field may be NULL or "" (written as null). Strings are escaped; invalid UTF-8 in them is
 * replaced. Returns a malloc'd NUL-terminated string (length in *out_len), or NULL on out of
 * memory.
 */
char *atrous_json_encode_error(const char *message, const char *code, const char *field,
                               const char *request_id, size_t *out_len);

#endif
