/*
 * atrous_kserve_dom.c - jansson tensors for the KServe v2 and TF Serving codecs: parsing,
 * shape inference of nested arrays, checked copies into typed buffers, flat and nested output.
 */
#include "atrous_kserve_dom.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

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

json_t *atrous__dom_parse(const char *text, size_t len, struct atrous_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                         "invalid JSON at byte %d (line %d, column %d): %s", jerr.position,
                         jerr.line, jerr.column, jerr.text);
    return root;
}

const char *atrous__dom_unknown_key(const json_t *obj, const char *const *names)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        const char *const *n = names;
        while (*n != NULL && strcmp(key, *n) != 0)
            n++;
        if (*n == NULL)
            return key;
    }
    return NULL;
}

const char *atrous__dom_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

enum atrous_status atrous__dom_nested_shape(const json_t *v, int max_rank, const char *field,
                                            struct atrous_shape *out, struct atrous_error *err)
{
    memset(out, 0, sizeof(*out));
    while (json_is_array(v)) {
        if (out->rank == max_rank)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                    "%s is nested deeper than %d levels", field, max_rank);
        out->dims[out->rank++] = (int64_t)json_array_size(v);
        if (json_array_size(v) == 0)
            break;
        v = json_array_get(v, 0);
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

/* Converts one JSON value to the reader's type and stores it. */
static enum atrous_status put(struct reader *r, const json_t *v)
{
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v))
        d = json_real_value(v);
    else
        return atrous_error_set(r->err, ATROUS_INVALID_ARGUMENT, r->field,
                                "%s: element %zu must be a number, got %s", r->field, r->index,
                                atrous__dom_kind(v));
    if (r->type == ATROUS__DOM_F32) {
        float f = (float)d;
        if (isinf(f))
            return bad_element(r, "is too large for float32");
        ((float *)r->dst)[r->index++] = f;
        return ATROUS_OK;
    }
    int64_t i;
    if (json_is_integer(v)) {
        i = (int64_t)json_integer_value(v);
    } else {
        /* An integral real such as 4.0; 2^63 is the first double past int64. */
        if (d != trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return bad_element(r, "must be an integer");
        i = (int64_t)d;
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

/* Walks nested lists that must match shape from depth on (depth <= ATROUS_MAX_RANK). */
static enum atrous_status walk(struct reader *r, const json_t *v, const struct atrous_shape *shape,
                               int depth)
{
    if (depth == shape->rank)
        return put(r, v);
    if (!json_is_array(v) || json_array_size(v) != (size_t)shape->dims[depth]) {
        char text[160];
        atrous_shape_format(shape, text, sizeof(text));
        return atrous_error_set(r->err, ATROUS_INVALID_ARGUMENT, r->field,
                                "%s: nested data does not match shape %s: at depth %d expected a "
                                "list of %" PRId64 ", got %s%s",
                                r->field, text, depth, shape->dims[depth], atrous__dom_kind(v),
                                json_is_array(v) ? " of another length" : "");
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        enum atrous_status st = walk(r, json_array_get(v, i), shape, depth + 1);
        if (st != ATROUS_OK)
            return st;
    }
    return ATROUS_OK;
}

enum atrous_status atrous__dom_read(const json_t *data, const struct atrous_shape *shape,
                                    bool allow_flat, enum atrous__dom_type type, void *dst,
                                    const char *field, struct atrous_error *err)
{
    struct reader r = {type, dst, 0, field, err};
    size_t count = 0;
    enum atrous_status st = atrous_shape_elements(shape, field, &count, err);
    if (st != ATROUS_OK)
        return st;
    if (!json_is_array(data))
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                "%s: data must be a list, got %s", field, atrous__dom_kind(data));
    bool nested = json_array_size(data) > 0 && json_is_array(json_array_get(data, 0));
    if (!allow_flat || nested || shape->rank == 1)
        return walk(&r, data, shape, 0);
    if (json_array_size(data) != count) {
        char text[160];
        atrous_shape_format(shape, text, sizeof(text));
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                "%s: data has %zu elements, shape %s needs %zu", field,
                                json_array_size(data), text, count);
    }
    for (size_t i = 0; i < count; i++)
        if ((st = put(&r, json_array_get(data, i))))
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
