/*
 * atrous_request.c - the decoded request's lifetime, and the hand-over to the op's validation.
 */
#include "atrous_request.h"

#include <string.h>

void atrous_request_init(struct atrous_request *request)
{
    memset(request, 0, sizeof(*request));
}

void atrous_request_release(struct atrous_request *request)
{
    if (request == NULL)
        return;
    atrous_aligned_free(request->storage);
    atrous_request_init(request);
}

enum atrous_status atrous_request_check_elements(const char *field,
                                                 const struct atrous_shape *shape, size_t elements,
                                                 size_t max, struct atrous_error *err)
{
    char text[160];
    if (max == 0 || elements <= max)
        return ATROUS_OK;
    atrous_shape_format(shape, text, sizeof(text));
    return atrous_error_set(err, ATROUS_TOO_LARGE, field,
                            "%s shape %s has %zu elements, over the limit of %zu", field, text,
                            elements, max);
}

enum atrous_status atrous_request_validate(const struct atrous_request *request,
                                           const struct atrous_limits *limits,
                                           struct atrous_problem *out, struct atrous_error *err)
{
    /* The request keeps ATROUS_MAX_RANK entries of a longer output_shape and the first
     * ATROUS_PADDING_MAX bytes of a longer padding. Hand the op buffers that hold everything its
     * contract lets it read: output_shape_len integers (the tail is zeros, never quoted: the op
     * summarises lists that long) and at most ATROUS_PADDING_MAX bytes of padding (a string that
     * long cannot equal "SAME" or "VALID" either way). */
    int64_t output_shape[ATROUS_OUTPUT_SHAPE_LEN_MAX] = {0};
    size_t output_shape_len = request->output_shape_len;
    size_t padding_len = request->padding_len;
    if (output_shape_len > ATROUS_OUTPUT_SHAPE_LEN_MAX)
        output_shape_len = ATROUS_OUTPUT_SHAPE_LEN_MAX;
    memcpy(output_shape, request->output_shape,
           (output_shape_len < ATROUS_MAX_RANK ? output_shape_len : ATROUS_MAX_RANK) *
               sizeof(int64_t));
    if (padding_len > ATROUS_PADDING_MAX)
        padding_len = ATROUS_PADDING_MAX;
    const enum atrous_status st = atrous_op_validate(
        &request->value_shape, &request->filters_shape, output_shape, output_shape_len,
        request->rate, request->padding, padding_len, limits, out, err);
    if (st == ATROUS_OK)
        out->precision = request->precision;
    return st;
}
