/*
 * atrous_binary.h - the binary wire form of POST /v1/atrous_conv2d_transpose:
 *
 *   ?value_shape=1,4,4,2&filters_shape=3,3,3,2&output_shape=1,4,4,3&rate=2&padding=SAME
 *   Content-Type: application/octet-stream
 *   body: value then filters, float32 little-endian, row-major
 *
 * Response body: the output, float32 little-endian NHWC, with X-Output-Shape: 1,4,4,3.
 * Those five query keys are required once; unknown and repeated keys are errors. Optional:
 *   dtype=float32|bfloat16|float16   the element type of value and filters in the body (the
 *                                    half types take 2 bytes per element, widened exactly)
 *   output_dtype=...                 the answer's element type (default: dtype)
 *   precision=f32|bf16               what the compute may use (default f32, strict)
 */
#ifndef ATROUS_BINARY_H
#define ATROUS_BINARY_H

#include <stddef.h>

#include "atrous_error.h"
#include "atrous_request.h"
#include "atrous_tensor.h"

/* One decoded query parameter (already percent-decoded); value may be NULL for "?key". */
struct atrous_query_param {
    const char *key;
    const char *value;
};

/* What a binary request's query says, parsed once (the server does it at admission, before
 * the body is read) and handed on with the request: the shapes and attributes, and the sizes
 * they imply. The head owns nothing; its tensors are NULL until atrous_binary_decode_body. */
struct atrous_binary_plan {
    struct atrous_request head;
    size_t value_elements, filters_elements;
    size_t body_bytes; /* what the body must hold: (value + filters elements) * dtype size */
};

/*
 * Parses the query parameters into out, without looking at a body. Lets the server answer
 * 400/413 before reading the body. ATROUS_INVALID_ARGUMENT names the parameter at fault (field
 * "value", "filters", "output_shape", "rate", "padding", or the unknown key itself);
 * ATROUS_TOO_LARGE past limits. On failure *out is all zero.
 *
 * Query syntax: integer lists are decimal integers separated by single commas ("1,4,4,2"; no
 * spaces, no '+', no empty items); "" is the empty list; a key without a value is an error.
 */
enum atrous_status atrous_binary_decode_query(const struct atrous_query_param *params, size_t count,
                                              const struct atrous_decode_limits *limits,
                                              struct atrous_binary_plan *out,
                                              struct atrous_error *err);

/*
 * Decodes the body of a request whose query plan parsed: the body must be exactly
 * plan->body_bytes (else ATROUS_INVALID_ARGUMENT naming "body", quoting both sizes). When body
 * is 4-byte aligned the tensors point into it (borrowed, no copy) and body must outlive *out;
 * a misaligned body is copied into storage the request owns. Either way release *out with
 * atrous_request_release(). On failure *out is left released.
 */
enum atrous_status atrous_binary_decode_body(const struct atrous_binary_plan *plan,
                                             const void *body, size_t len,
                                             struct atrous_request *out, struct atrous_error *err);

/*
 * atrous_binary_decode_body for a body the caller owns in a buffer of room bytes (4-byte
 * aligned): a 16-bit body is widened to float32 in place when room holds the widened tensors
 * (plan->value_elements + plan->filters_elements floats), and the tensors point into buf
 * (borrowed, no allocation); otherwise exactly atrous_binary_decode_body. The server's body
 * buffer for a 16-bit request is allocated that large: the widening then takes no fresh memory
 * of its own.
 */
enum atrous_status atrous_binary_decode_body_in_place(const struct atrous_binary_plan *plan,
                                                      void *buf, size_t len, size_t room,
                                                      struct atrous_request *out,
                                                      struct atrous_error *err);

/* Both steps at once, for callers that have the whole request (fuzzing, tests of the form). */
enum atrous_status atrous_binary_decode_request(const struct atrous_query_param *params,
                                                size_t count, const void *body, size_t len,
                                                const struct atrous_decode_limits *limits,
                                                struct atrous_request *out,
                                                struct atrous_error *err);

/* Writes "1,4,4,3" (the X-Output-Shape value) into buf: always NUL-terminated when size > 0,
 * truncated when too small. */
void atrous_binary_format_shape(const struct atrous_shape *shape, char *buf, size_t size);

#endif
