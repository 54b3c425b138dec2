/*
 * atrous_binary.c - the binary wire form: shapes and attributes in the query string, the two
 * tensors as raw float32 little-endian bytes in the body, used in place.
 *
 * Decisions:
 *   - Integer lists ("1,4,4,2") are decimal integers separated by single commas: no spaces, no
 *     '+', no empty items ("1,,2", "1,", ",1"); leading zeros are harmless and accepted. An
 *     empty value ("value_shape=") is the empty list, a rank-0 shape that the op's validation
 *     then rejects by name. A key without '=' (value NULL) is an error.
 *   - Tensor shapes must be non-negative (the body size depends on them); output_shape and
 *     rate may be negative here so that the op's validation reports them like TensorFlow.
 *   - The body is used in place when it is 4-byte aligned; otherwise it is copied into aligned
 *     storage the request owns (a server's buffer has no alignment promise, and reading floats
 *     through a misaligned pointer is undefined behaviour).
 */
#include "atrous_binary.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "wire_text.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "atrous_binary.c uses little-endian float32 bodies in place: a big-endian host must swap"
#endif
_Static_assert(sizeof(float) == 4, "the binary form carries IEEE 754 binary32 floats");

enum param {
    PARAM_VALUE_SHAPE,
    PARAM_FILTERS_SHAPE,
    PARAM_OUTPUT_SHAPE,
    PARAM_RATE,
    PARAM_PADDING,
    PARAM_REQUIRED, /* the ones before are required, the ones after optional */
    PARAM_DTYPE = PARAM_REQUIRED,
    PARAM_OUTPUT_DTYPE,
    PARAM_PRECISION,
    PARAM_COUNT,
};

static const char *const param_names[PARAM_COUNT] = {
    "value_shape", "filters_shape", "output_shape", "rate",
    "padding",     "dtype",         "output_dtype", "precision",
};

/* The argument each parameter describes: the field errors name. */
static const char *const param_fields[PARAM_COUNT] = {
    "value", "filters", "output_shape", "rate", "padding", "dtype", "output_dtype", "precision",
};

static const char *const param_examples[PARAM_COUNT] = {
    "value_shape=1,4,4,2", "filters_shape=3,3,3,2", "output_shape=1,4,4,3", "rate=2",
    "padding=SAME",        "dtype=bfloat16",        "output_dtype=float32", "precision=bf16",
};

#define PARAMS_ALLOWED                                                                             \
    "value_shape, filters_shape, output_shape, rate, padding, dtype, output_dtype, precision"

/*
 * Parses one decimal integer at *p (an optional '-', then digits) and advances *p past it.
 * Returns false with a reason on syntax errors and overflow.
 */
static bool parse_int(const char **p, int64_t *out, const char **why)
{
    const char *s = *p;
    bool negative = false;
    uint64_t v = 0;
    if (*s == '-') {
        negative = true;
        s++;
    }
    if (*s < '0' || *s > '9') {
        *why = *s == ',' || *s == '\0' ? "an empty item" : "a character that is not a digit";
        return false;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
            v = UINT64_MAX; /* saturate; reported below */
    }
    if (v > (negative ? (UINT64_C(1) << 63) : (uint64_t)INT64_MAX)) {
        *why = "a number outside the 64-bit integer range";
        return false;
    }
    *out = negative ? (int64_t)(0 - v) : (int64_t)v;
    *p = s;
    return true;
}

/* Parses "1,4,4,2" into dims (at most max items, the first keep stored); INVALID naming field
 * on any syntax error, overflow, or too many items. */
static enum atrous_status parse_list(enum param which, const char *text, size_t max, int64_t *dims,
                                     size_t keep, size_t *count, struct atrous_error *err)
{
    const char *p = text, *why = NULL;
    char quoted[ATROUS__QUOTE_SIZE];
    size_t n = 0;
    *count = 0;
    if (*p == '\0')
        return ATROUS_OK;
    for (;;) {
        int64_t v;
        if (n == max) {
            atrous__quote(text, strlen(text), quoted, sizeof(quoted));
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, param_fields[which],
                                    "%s=%s has more than %zu items", param_names[which], quoted,
                                    max);
        }
        if (!parse_int(&p, &v, &why))
            break;
        if (n < keep)
            dims[n] = v;
        n++;
        if (*p == '\0') {
            *count = n;
            return ATROUS_OK;
        }
        if (*p != ',') {
            why = "a character that is not a digit or ','";
            break;
        }
        p++;
    }
    atrous__quote(text, strlen(text), quoted, sizeof(quoted));
    return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, param_fields[which],
                            "%s=%s must be comma-separated integers such as %s; item %zu has %s",
                            param_names[which], quoted, param_examples[which], n + 1, why);
}

/* A tensor's shape: at most ATROUS_MAX_RANK non-negative dims, and its element count within the
 * limit. */
static enum atrous_status parse_shape(enum param which, const char *text,
                                      const struct atrous_decode_limits *limits,
                                      struct atrous_shape *shape, size_t *elements,
                                      struct atrous_error *err)
{
    const char *field = param_fields[which];
    char quoted[160];
    size_t rank;
    enum atrous_status st;
    if ((st = parse_list(which, text, ATROUS_MAX_RANK, shape->dims, ATROUS_MAX_RANK, &rank, err)))
        return st;
    shape->rank = (int)rank;
    for (size_t i = 0; i < rank; i++) {
        if (shape->dims[i] < 0) {
            atrous_shape_format(shape, quoted, sizeof(quoted));
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                    "%s shape %s has a negative dimension", field, quoted);
        }
    }
    if ((st = atrous_shape_elements(shape, field, elements, err)))
        return st;
    return atrous_request_check_elements(field, shape, *elements,
                                         limits ? limits->max_tensor_elements : 0, err);
}

/* Finds each parameter once; unknown and repeated keys are errors. */
static enum atrous_status collect(const struct atrous_query_param *params, size_t count,
                                  const char *values[PARAM_COUNT], struct atrous_error *err)
{
    bool seen[PARAM_COUNT] = {false};
    char quoted[ATROUS__QUOTE_SIZE];
    for (size_t i = 0; i < count; i++) {
        const char *key = params[i].key ? params[i].key : "";
        int p = 0;
        while (p < PARAM_COUNT && strcmp(key, param_names[p]) != 0)
            p++;
        if (p == PARAM_COUNT) {
            atrous__quote(key, strlen(key), quoted, sizeof(quoted));
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, key,
                                    "unknown query parameter \"%s\" (allowed: " PARAMS_ALLOWED ")",
                                    quoted);
        }
        if (seen[p])
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, param_fields[p],
                                    "query parameter %s is given more than once", param_names[p]);
        seen[p] = true;
        values[p] = params[i].value;
        if (values[p] == NULL)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, param_fields[p],
                                    "query parameter %s has no value (expected e.g. %s)",
                                    param_names[p], param_examples[p]);
    }
    for (int p = 0; p < PARAM_REQUIRED; p++)
        if (!seen[p])
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, param_fields[p],
                                    "missing query parameter %s (e.g. %s)", param_names[p],
                                    param_examples[p]);
    return ATROUS_OK;
}

/* dtype= and output_dtype=: a native dtype name; anything else is a 400 that lists them. */
static enum atrous_status parse_dtype(enum param which, const char *text, enum atrous_dtype *out,
                                      struct atrous_error *err)
{
    char quoted[ATROUS__QUOTE_SIZE];
    if (atrous_dtype_parse(text, strlen(text), out))
        return ATROUS_OK;
    atrous__quote(text, strlen(text), quoted, sizeof(quoted));
    return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, param_fields[which],
                            "%s=%s is not supported: the accepted dtypes are " ATROUS_DTYPE_NAMES
                            "; cast the tensors to one of them",
                            param_names[which], quoted);
}

static enum atrous_status parse_precision(const char *text, enum atrous_precision *out,
                                          struct atrous_error *err)
{
    char quoted[ATROUS__QUOTE_SIZE];
    if (atrous_precision_parse(text, strlen(text), out))
        return ATROUS_OK;
    atrous__quote(text, strlen(text), quoted, sizeof(quoted));
    return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "precision",
                            "precision=%s is not supported: use f32 (strict, the default) or "
                            "bf16 (bfloat16 compute with float32 accumulation)",
                            quoted);
}

/* Everything decode_query computes, kept for decode_request. */
static enum atrous_status decode_query(const struct atrous_query_param *params, size_t count,
                                       const struct atrous_decode_limits *limits,
                                       struct atrous_request *out, size_t *value_elements,
                                       size_t *filters_elements, size_t *body_bytes,
                                       struct atrous_error *err)
{
    const char *values[PARAM_COUNT] = {NULL};
    size_t rate_len, floats;
    int64_t rate[1];
    enum atrous_status st;

    if ((st = collect(params, count, values, err)))
        return st;
    if ((st = parse_shape(PARAM_VALUE_SHAPE, values[PARAM_VALUE_SHAPE], limits, &out->value_shape,
                          value_elements, err)))
        return st;
    if ((st = parse_shape(PARAM_FILTERS_SHAPE, values[PARAM_FILTERS_SHAPE], limits,
                          &out->filters_shape, filters_elements, err)))
        return st;
    if ((st =
             parse_list(PARAM_OUTPUT_SHAPE, values[PARAM_OUTPUT_SHAPE], ATROUS_OUTPUT_SHAPE_LEN_MAX,
                        out->output_shape, ATROUS_MAX_RANK, &out->output_shape_len, err)))
        return st;
    /* rate is a list of exactly one integer: "" and "1,2" are errors. */
    if ((st = parse_list(PARAM_RATE, values[PARAM_RATE], 1, rate, 1, &rate_len, err)))
        return st;
    if (rate_len != 1)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "rate",
                                "query parameter rate is empty: expected an integer such as "
                                "rate=2");
    out->rate = rate[0];
    out->padding_len = strlen(values[PARAM_PADDING]);
    snprintf(out->padding, sizeof(out->padding), "%s", values[PARAM_PADDING]);
    if (values[PARAM_DTYPE] &&
        (st = parse_dtype(PARAM_DTYPE, values[PARAM_DTYPE], &out->value_dtype, err)))
        return st;
    out->filters_dtype = out->value_dtype;
    out->output_dtype = out->value_dtype;
    if (values[PARAM_OUTPUT_DTYPE] &&
        (st = parse_dtype(PARAM_OUTPUT_DTYPE, values[PARAM_OUTPUT_DTYPE], &out->output_dtype, err)))
        return st;
    if (values[PARAM_PRECISION] &&
        (st = parse_precision(values[PARAM_PRECISION], &out->precision, err)))
        return st;

    if (__builtin_add_overflow(*value_elements, *filters_elements, &floats) ||
        __builtin_mul_overflow(floats, atrous_dtype_size(out->value_dtype), body_bytes))
        return atrous_error_set(err, ATROUS_TOO_LARGE, "body",
                                "value (%zu elements) and filters (%zu elements) need a body "
                                "larger than memory",
                                *value_elements, *filters_elements);
    return ATROUS_OK;
}

enum atrous_status atrous_binary_decode_query(const struct atrous_query_param *params, size_t count,
                                              const struct atrous_decode_limits *limits,
                                              struct atrous_binary_plan *out,
                                              struct atrous_error *err)
{
    memset(out, 0, sizeof(*out));
    atrous_request_init(&out->head);
    atrous_error_clear(err);
    const enum atrous_status st =
        decode_query(params, count, limits, &out->head, &out->value_elements,
                     &out->filters_elements, &out->body_bytes, err);
    if (st != ATROUS_OK) {
        memset(out, 0, sizeof(*out));
        atrous_request_init(&out->head);
    }
    return st;
}

enum atrous_status atrous_binary_decode_body(const struct atrous_binary_plan *plan,
                                             const void *body, size_t len,
                                             struct atrous_request *out, struct atrous_error *err)
{
    const float *floats = body;
    enum atrous_status st = ATROUS_OK;
    char value_text[160], filters_text[160];
    const enum atrous_dtype dtype = plan->head.value_dtype;

    /* The plan's head owns nothing (no storage), so a copy is a request of its own. */
    *out = plan->head;
    out->storage = NULL;
    if (len != plan->body_bytes) {
        atrous_shape_format(&out->value_shape, value_text, sizeof(value_text));
        atrous_shape_format(&out->filters_shape, filters_text, sizeof(filters_text));
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "body",
                              "the body has %zu bytes but value %s and filters %s need %zu "
                              "(%zu bytes per %s: %zu + %zu elements)",
                              len, value_text, filters_text, plan->body_bytes,
                              atrous_dtype_size(dtype), atrous_dtype_name(dtype),
                              plan->value_elements, plan->filters_elements);
        goto out;
    }
    if (len > 0 && dtype != ATROUS_DTYPE_FLOAT32) {
        /* 16-bit elements: widened exactly into float32 storage the request owns (admission
         * counts it: twice the body). */
        const size_t count = plan->value_elements + plan->filters_elements;
        out->storage = atrous_aligned_alloc(count * sizeof(float));
        if (out->storage == NULL) {
            st = atrous_error_set(err, ATROUS_NO_MEMORY, "body",
                                  "out of memory widening a %zu-byte %s body", len,
                                  atrous_dtype_name(dtype));
            goto out;
        }
        atrous_dtype_widen(dtype, body, out->storage, count);
        floats = out->storage;
    } else if (len > 0 && (uintptr_t)body % _Alignof(float) != 0) {
        out->storage = atrous_aligned_alloc(len);
        if (out->storage == NULL) {
            st = atrous_error_set(err, ATROUS_NO_MEMORY, "body",
                                  "out of memory copying a misaligned %zu-byte body", len);
            goto out;
        }
        memcpy(out->storage, body, len);
        floats = out->storage;
    }
    out->value = plan->value_elements ? floats : NULL;
    out->filters = plan->filters_elements ? floats + plan->value_elements : NULL;
out:
    if (st != ATROUS_OK)
        atrous_request_release(out);
    return st;
}

enum atrous_status atrous_binary_decode_body_in_place(const struct atrous_binary_plan *plan,
                                                      void *buf, size_t len, size_t room,
                                                      struct atrous_request *out,
                                                      struct atrous_error *err)
{
    const enum atrous_dtype dtype = plan->head.value_dtype;
    const size_t count = plan->value_elements + plan->filters_elements;
    /* count * 4 cannot overflow: the body of count 2-byte elements is in memory. */
    if (dtype == ATROUS_DTYPE_FLOAT32 || len != plan->body_bytes || len == 0 ||
        room < count * sizeof(float) || (uintptr_t)buf % _Alignof(float) != 0)
        return atrous_binary_decode_body(plan, buf, len, out, err);
    atrous_dtype_widen_in_place(dtype, buf, count);
    *out = plan->head;
    out->storage = NULL;
    out->value = plan->value_elements ? (const float *)buf : NULL;
    out->filters = plan->filters_elements ? (const float *)buf + plan->value_elements : NULL;
    return ATROUS_OK;
}

enum atrous_status atrous_binary_decode_request(const struct atrous_query_param *params,
                                                size_t count, const void *body, size_t len,
                                                const struct atrous_decode_limits *limits,
                                                struct atrous_request *out,
                                                struct atrous_error *err)
{
    struct atrous_binary_plan plan;
    enum atrous_status st = atrous_binary_decode_query(params, count, limits, &plan, err);
    if (st != ATROUS_OK) {
        atrous_request_init(out);
        return st;
    }
    return atrous_binary_decode_body(&plan, body, len, out, err);
}

void atrous_binary_format_shape(const struct atrous_shape *shape, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    for (int i = 0; i < shape->rank && used < size; i++) {
        const int n =
            snprintf(buf + used, size - used, i ? ",%lld" : "%lld", (long long)shape->dims[i]);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}
