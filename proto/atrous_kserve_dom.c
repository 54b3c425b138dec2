/*
 * atrous_kserve_dom.c - tensors for the KServe v2 and TF Serving codecs: parsing into a
 * json_doc, shape inference of nested lists, checked copies into typed buffers, flat and
 * nested output.
 */
#include "atrous_kserve_dom.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "atrous_json.h"
#include "atrous_op.h"

size_t atrous__dom_max_json(size_t configured)
{
    return configured ? configured : ATROUS_DOM_DEFAULT_MAX_JSON_BYTES;
}

size_t atrous__dom_max_elements(size_t configured)
{
    return configured && configured < ATROUS_MAX_ELEMENTS_HARD ? configured
                                                               : ATROUS_MAX_ELEMENTS_HARD;
}

enum atrous_status atrous__dom_parse(const char *text, size_t len, struct atrous__jd **out,
                                     struct atrous_error *err)
{
    return atrous__jd_parse(text, len, ATROUS_JSON_DEFAULT_MAX_DEPTH, out, err);
}

enum atrous_status atrous__dom_nested_shape(const struct atrous__jd_value *v, int max_rank,
                                            const char *field, struct atrous_shape *out,
                                            struct atrous_error *err)
{
    /* A rectangular list of numbers knows its dims; a general list has its first element's. */
    struct atrous__jd_value item = *v;
    memset(out, 0, sizeof(*out));
    while (atrous__jd_is_list(&item)) {
        if (out->rank == max_rank)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                    "%s is nested deeper than %d levels", field, max_rank);
        out->dims[out->rank++] = (int64_t)atrous__jd_list_size(&item);
        if (!atrous__jd_list_at(&item, 0, &item))
            break;
    }
    return ATROUS_OK;
}

/* The copy in progress. */
struct reader {
    enum atrous__dom_type type;
    void *dst;
    size_t index; /* of the next element, row-major */
    const char *field;
    struct atrous_error *err;
};

static enum atrous_status bad_element(struct reader *r, const char *what)
{
    return atrous_error_set(r->err, ATROUS_INVALID_ARGUMENT, r->field, "%s: element %zu %s",
                            r->field, r->index, what);
}

/* Stores one exactly scanned number as the reader's integer type. */
static enum atrous_status put_int(struct reader *r, const struct atrous__jr_number *n)
{
    int64_t i;
    switch (atrous__jr_number_int64(n, &i)) {
    case ATROUS__JR_INT_OK:
        break;
    case ATROUS__JR_INT_NOT_INTEGER:
        return bad_element(r, "must be an integer");
    case ATROUS__JR_INT_OUT_OF_RANGE:
        return bad_element(r, r->type == ATROUS__DOM_I32 ? "is out of the INT32 range"
                                                         : "is out of the INT64 range");
    }
    if (r->type == ATROUS__DOM_I32) {
        if (i < INT32_MIN || i > INT32_MAX)
            return bad_element(r, "is out of the INT32 range");
        ((int32_t *)r->dst)[r->index++] = (int32_t)i;
    } else {
        ((int64_t *)r->dst)[r->index++] = i;
    }
    return ATROUS_OK;
}

/* Stores the numbers of v (NUMBERS), in order: floats from the document's float32 copies,
 * integers scanned again from the text so that they are exact. */
static enum atrous_status put_numbers(struct reader *r, const struct atrous__jd_value *v)
{
    if (v->size == 0) /* dst and the document's floats may both be NULL then */
        return ATROUS_OK;
    if (r->type == ATROUS__DOM_F32) {
        size_t too_large;
        if (atrous__jd_too_large(v, &too_large)) {
            r->index += too_large;
            return bad_element(r, "is too large for float32");
        }
        memcpy((float *)r->dst + r->index, atrous__jd_floats(v), v->size * sizeof(float));
        r->index += v->size;
        return ATROUS_OK;
    }
    struct atrous__jd_numbers it;
    struct atrous__jr_number n;
    enum atrous_status st;
    atrous__jd_numbers_begin(v, &it);
    while (atrous__jd_numbers_next(&it, &n))
        if ((st = put_int(r, &n)))
            return st;
    return ATROUS_OK;
}

/* One element where a number belongs. */
static enum atrous_status put(struct reader *r, const struct atrous__jd_value *v)
{
    if (v->kind != ATROUS__JD_NUMBERS || v->rank != 0)
        return atrous_error_set(r->err, ATROUS_INVALID_ARGUMENT, r->field,
                                "%s: element %zu must be a number, got %s", r->field, r->index,
                                atrous__jd_kind_name(v));
    return put_numbers(r, v);
}

/* The nested data differs from shape at depth: what it found there is got. */
static enum atrous_status mismatch(struct reader *r, const struct atrous_shape *shape, int depth,
                                   const struct atrous__jd_value *got)
{
    char text[160];
    atrous_shape_format(shape, text, sizeof(text));
    return atrous_error_set(r->err, ATROUS_INVALID_ARGUMENT, r->field,
                            "%s: nested data does not match shape %s: at depth %d expected a "
                            "list of %" PRId64 ", got %s%s",
                            r->field, text, depth, shape->dims[depth], atrous__jd_kind_name(got),
                            atrous__jd_is_list(got) ? " of another length" : "");
}

/* A rectangular list of numbers at depth: its dims checked against shape's from depth on,
 * finding the difference a walk of its elements would find first, then its numbers stored. */
static enum atrous_status put_block(struct reader *r, const struct atrous__jd_value *v,
                                    const struct atrous_shape *shape, int depth)
{
    struct atrous__jd_value level = *v;
    for (int k = depth; k < shape->rank; k++) {
        if (!atrous__jd_is_list(&level) || atrous__jd_list_size(&level) != (size_t)shape->dims[k])
            return mismatch(r, shape, k, &level);
        if (!atrous__jd_list_at(&level, 0, &level))
            return ATROUS_OK; /* an empty level: no element to store */
    }
    if (level.rank > 0)
        return put(r, &level); /* deeper than the shape: names the first element */
    return put_numbers(r, v);
}

/* Walks nested lists that must match shape from depth on (depth <= ATROUS_MAX_RANK). */
static enum atrous_status walk(struct reader *r, const struct atrous__jd_value *v,
                               const struct atrous_shape *shape, int depth)
{
    struct atrous__jd_value item;
    if (v->kind == ATROUS__JD_NUMBERS)
        return put_block(r, v, shape, depth);
    if (depth == shape->rank)
        return put(r, v);
    if (atrous__jd_list_size(v) != (size_t)shape->dims[depth] || !atrous__jd_is_list(v))
        return mismatch(r, shape, depth, v);
    for (size_t i = 0; atrous__jd_list_at(v, i, &item); i++) {
        enum atrous_status st = walk(r, &item, shape, depth + 1);
        if (st != ATROUS_OK)
            return st;
    }
    return ATROUS_OK;
}

enum atrous_status atrous__dom_read(const struct atrous__jd_value *data,
                                    const struct atrous_shape *shape, bool allow_flat,
                                    enum atrous__dom_type type, void *dst, const char *field,
                                    struct atrous_error *err)
{
    struct reader r = {type, dst, 0, field, err};
    struct atrous__jd_value first;
    size_t count = 0;
    enum atrous_status st = atrous_shape_elements(shape, field, &count, err);
    if (st != ATROUS_OK)
        return st;
    if (!atrous__jd_is_list(data))
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                "%s: data must be a list, got %s", field,
                                atrous__jd_kind_name(data));
    bool nested = atrous__jd_list_at(data, 0, &first) && atrous__jd_is_list(&first);
    if (!allow_flat || nested || shape->rank == 1)
        return walk(&r, data, shape, 0);
    if (atrous__jd_list_size(data) != count) {
        char text[160];
        atrous_shape_format(shape, text, sizeof(text));
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                "%s: data has %zu elements, shape %s needs %zu", field,
                                atrous__jd_list_size(data), text, count);
    }
    if (data->kind == ATROUS__JD_NUMBERS)
        return put_numbers(&r, data);
    for (size_t i = 0; i < count; i++)
        if ((st = put(&r, &data->u.items[i])))
            return st;
    return ATROUS_OK;
}

void atrous__dom_write_flat(struct atrous_jw *w, const float *data, size_t count)
{
    atrous_jw_array_begin(w);
    for (size_t i = 0; i < count; i++)
        atrous_jw_float(w, data[i]);
    atrous_jw_array_end(w);
}

/* Writes one level and returns the data that follows it. */
static const float *write_level(struct atrous_jw *w, const int64_t *dims, int rank,
                                const float *data)
{
    if (rank == 0) {
        atrous_jw_float(w, *data);
        return data + 1;
    }
    atrous_jw_array_begin(w);
    for (int64_t i = 0; i < dims[0]; i++)
        data = write_level(w, dims + 1, rank - 1, data);
    atrous_jw_array_end(w);
    return data;
}

void atrous__dom_write_nested(struct atrous_jw *w, const int64_t *dims, int rank, const float *data)
{
    write_level(w, dims, rank, data);
}

enum atrous_status atrous__dom_take(struct atrous_jw *w, char **out, size_t *out_len,
                                    struct atrous_error *err)
{
    *out = atrous_jw_take(w, out_len);
    if (*out == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory writing a response");
    return ATROUS_OK;
}

char *atrous__dom_finish(struct atrous_jw *w, size_t *len)
{
    char *text = w ? atrous_jw_take(w, len) : NULL;
    atrous_jw_free(w);
    return text;
}
