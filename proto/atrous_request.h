/*
 * atrous_request.h - one decoded op request, whichever wire form it came in, and the step
 * that validates it into a runnable problem.
 *
 * Decoders (atrous_json.h, atrous_binary.h) fill this struct; they check the wire (syntax,
 * types, that each tensor's data matches its own shape, limits) but leave the op's rules
 * (ranks, channels, rate, padding, the shape rule) to atrous_request_validate(), so every
 * form gets the same TensorFlow-ordered checks and messages.
 */
#ifndef ATROUS_REQUEST_H
#define ATROUS_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "atrous_dtype.h"
#include "atrous_error.h"
#include "atrous_op.h"
#include "atrous_tensor.h"

/* Bytes of the padding string kept for validation and messages; longer strings keep their
 * true length in padding_len (so they never compare equal to "SAME"/"VALID"). */
#define ATROUS_PADDING_MAX 64

/* Longest output_shape list a decoder accepts before calling the body malformed. */
#define ATROUS_OUTPUT_SHAPE_LEN_MAX 64

enum atrous_wire_form {
    ATROUS_FORM_JSON,
    ATROUS_FORM_BINARY,
};

struct atrous_request {
    struct atrous_shape value_shape; /* as given: any rank up to ATROUS_MAX_RANK */
    struct atrous_shape filters_shape;
    const float *value;                    /* value_shape's element count, NHWC row-major;
                                              NULL when the tensor has no elements */
    const float *filters;                  /* [KH, KW, OC, IC] row-major; NULL when empty */
    int64_t output_shape[ATROUS_MAX_RANK]; /* the first min(len, ATROUS_MAX_RANK) given */
    size_t output_shape_len;               /* as given, <= ATROUS_OUTPUT_SHAPE_LEN_MAX */
    int64_t rate;
    char padding[ATROUS_PADDING_MAX + 1]; /* NUL-terminated, truncated copy */
    size_t padding_len;                   /* true byte length as given */
    float *storage;                       /* decoder-owned tensor data (JSON, or a misaligned
                                             binary body copied); NULL if borrowed */
    /* The wire element types: value and filters are float32 here whatever they were on the
     * wire (16-bit ones widened exactly, or JSON numbers rounded to their dtype, by the
     * decoder); the output is rounded once to output_dtype by the encoder. All default to
     * float32 (zero). */
    enum atrous_dtype value_dtype, filters_dtype;
    enum atrous_dtype output_dtype;  /* the value's dtype unless the request asks another */
    enum atrous_precision precision; /* what the request asks the compute to use */
};

/* Limits a decoder enforces before allocating. 0 means no limit of that kind. */
struct atrous_decode_limits {
    size_t max_tensor_elements; /* per tensor (value, filters): 400 too_large over it */
    size_t max_depth;           /* JSON nesting depth; 0 = ATROUS_JSON_DEFAULT_MAX_DEPTH */
};

/*
 * The per-tensor element limit both decoders apply once a shape is known: ATROUS_TOO_LARGE
 * naming field ("value shape [..] has N elements, over the limit of M") when elements, the
 * element count of shape, exceeds max. max is 0 or SIZE_MAX for no limit.
 */
enum atrous_status atrous_request_check_elements(const char *field,
                                                 const struct atrous_shape *shape, size_t elements,
                                                 size_t max, struct atrous_error *err);

/* Makes an empty request (safe to release). The decoders call this themselves: *out need not
 * be initialised before a decode, and is overwritten (not released) by it. */
void atrous_request_init(struct atrous_request *request);

/* Frees what the request owns and resets it. Accepts a request that was only initialised. */
void atrous_request_release(struct atrous_request *request);

/* Runs the op's validation (atrous_op_validate) on a decoded request, and asks the problem
 * for the request's precision. */
enum atrous_status atrous_request_validate(const struct atrous_request *request,
                                           const struct atrous_limits *limits,
                                           struct atrous_problem *out, struct atrous_error *err);

#endif
