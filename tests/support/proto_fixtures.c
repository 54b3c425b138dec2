/*
 * proto_fixtures.c - shared helpers of the proto/ codec tests (see proto_fixtures.h).
 */
#include "proto_fixtures.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "atrous_json.h"
#include "json_float.h"

static void buf_reserve(struct proto_buf *b, size_t n)
{
    if (b->cap - b->len > n)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= n)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        fprintf(stderr, "proto_fixtures: out of memory\n");
        abort();
    }
    b->data = data;
    b->cap = cap;
}

void proto_buf_put(struct proto_buf *b, const void *bytes, size_t n)
{
    buf_reserve(b, n);
    if (n > 0) /* bytes may be NULL for an empty tensor */
        memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void proto_buf_printf(struct proto_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void proto_buf_float(struct proto_buf *b, float f)
{
    char text[32];
    proto_buf_put(b, text, atrous_json_format_float(f, text));
}

void proto_buf_free(struct proto_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

struct proto_case *proto_cases_load(size_t *count)
{
    static const char *const folders[] = {"valid", "invalid", "quirks"};
    struct proto_case *cases = NULL;
    size_t used = 0;
    char why[512];
    for (size_t f = 0; f < sizeof(folders) / sizeof(folders[0]); f++) {
        char **paths = NULL;
        size_t n = 0;
        if (corpus_list(folders[f], &paths, &n, why, sizeof(why)) != 0)
            fail_msg("%s", why);
        struct proto_case *grown = realloc(cases, (used + n) * sizeof(*cases));
        assert_non_null(grown);
        cases = grown;
        for (size_t i = 0; i < n; i++) {
            cases[used].folder = folders[f];
            if (corpus_load(paths[i], &cases[used].c, why, sizeof(why)) != 0)
                fail_msg("%s", why);
            used++;
        }
        corpus_paths_free(paths, n);
    }
    *count = used;
    return cases;
}

void proto_cases_free(struct proto_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++)
        corpus_case_free(&cases[i].c);
    free(cases);
}

void proto_buf_ints(struct proto_buf *b, const int64_t *v, size_t n)
{
    proto_buf_put(b, "[", 1);
    for (size_t i = 0; i < n; i++)
        proto_buf_printf(b, "%s%lld", i ? ", " : "", (long long)v[i]);
    proto_buf_put(b, "]", 1);
}

void proto_buf_floats(struct proto_buf *b, const float *data, size_t n)
{
    proto_buf_put(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            proto_buf_put(b, ",", 1);
        proto_buf_float(b, data[i]);
    }
    proto_buf_put(b, "]", 1);
}

const float *proto_buf_nested(struct proto_buf *b, const int64_t *dims, int rank, const float *data)
{
    if (rank == 0) {
        proto_buf_float(b, *data);
        return data + 1;
    }
    proto_buf_put(b, "[", 1);
    for (int64_t i = 0; i < dims[0]; i++) {
        if (i)
            proto_buf_put(b, ",", 1);
        data = proto_buf_nested(b, dims + 1, rank - 1, data);
    }
    proto_buf_put(b, "]", 1);
    return data;
}

static void put_tensor(struct proto_buf *b, const struct atrous_shape *s, const float *data,
                       size_t n, enum proto_tensor_form form)
{
    switch (form) {
    case PROTO_FLAT:
        proto_buf_printf(b, "{\"shape\": ");
        proto_buf_ints(b, s->dims, (size_t)s->rank);
        proto_buf_printf(b, ", \"data\": ");
        proto_buf_floats(b, data, n);
        proto_buf_printf(b, "}");
        break;
    case PROTO_FLAT_DATA_FIRST:
        proto_buf_printf(b, "{ \"data\" :");
        proto_buf_floats(b, data, n);
        proto_buf_printf(b, ",\n\t\"shape\" : ");
        proto_buf_ints(b, s->dims, (size_t)s->rank);
        proto_buf_printf(b, " }");
        break;
    case PROTO_NESTED:
        proto_buf_nested(b, s->dims, s->rank, data);
        break;
    }
}

void proto_case_json(const struct corpus_case *c, enum proto_tensor_form form,
                     struct proto_buf *out)
{
    proto_buf_printf(out, "{\"value\": ");
    put_tensor(out, &c->value_shape, c->value, c->value_count, form);
    proto_buf_printf(out, ", \"filters\": ");
    put_tensor(out, &c->filters_shape, c->filters, c->filters_count, form);
    proto_buf_printf(out, ", \"output_shape\": ");
    proto_buf_ints(out, c->output_shape, c->output_shape_len);
    proto_buf_printf(out, ", \"rate\": %lld, \"padding\": \"%s\", \"dtype\": \"float32\"}",
                     (long long)c->rate, c->padding);
}

static void format_list(const int64_t *v, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "", (long long)v[i]);
}

void proto_case_query(const struct corpus_case *c, struct proto_query *q)
{
    static const char *const keys[5] = {"value_shape", "filters_shape", "output_shape", "rate",
                                        "padding"};
    format_list(c->value_shape.dims, (size_t)c->value_shape.rank, q->text[0], sizeof(q->text[0]));
    format_list(c->filters_shape.dims, (size_t)c->filters_shape.rank, q->text[1],
                sizeof(q->text[1]));
    format_list(c->output_shape, c->output_shape_len, q->text[2], sizeof(q->text[2]));
    snprintf(q->text[3], sizeof(q->text[3]), "%lld", (long long)c->rate);
    snprintf(q->text[4], sizeof(q->text[4]), "%s", c->padding);
    for (int i = 0; i < 5; i++) {
        q->params[i].key = keys[i];
        q->params[i].value = q->text[i];
    }
}

void proto_case_body(const struct corpus_case *c, struct proto_buf *out)
{
    proto_buf_put(out, c->value, c->value_count * sizeof(float));
    proto_buf_put(out, c->filters, c->filters_count * sizeof(float));
}

void proto_assert_request_is_case(const struct atrous_request *r, const struct corpus_case *c)
{
    assert_true(atrous_shape_equal(&r->value_shape, &c->value_shape));
    assert_true(atrous_shape_equal(&r->filters_shape, &c->filters_shape));
    if (c->value_count > 0)
        assert_memory_equal(r->value, c->value, c->value_count * sizeof(float));
    if (c->filters_count > 0)
        assert_memory_equal(r->filters, c->filters, c->filters_count * sizeof(float));
    assert_int_equal(r->output_shape_len, c->output_shape_len);
    for (size_t i = 0; i < c->output_shape_len && i < ATROUS_MAX_RANK; i++)
        assert_int_equal(r->output_shape[i], c->output_shape[i]);
    assert_int_equal(r->rate, c->rate);
    assert_int_equal(r->padding_len, c->padding_len);
    assert_memory_equal(r->padding, c->padding, c->padding_len);
}
