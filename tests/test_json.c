/*
 * test_json.c - proto/atrous_json.h: the JSON request decoder (every conformance case in three
 * layouts, then malformed bodies of every kind), float32 text in both directions bit-exact,
 * and the output and error encoders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atrous_json.h"
#include "json_float.h"
#include "proto_fixtures.h"

/* A one-element tensor and a well-formed request around replaceable members. */
#define T1 "{\"shape\": [1, 1, 1, 1], \"data\": [1]}"
#define DOC(value, filters, output_shape, rate, padding)                                           \
    "{\"value\": " value ", \"filters\": " filters ", \"output_shape\": " output_shape             \
    ", \"rate\": " rate ", \"padding\": " padding "}"
#define GOOD DOC(T1, T1, "[1, 1, 1, 1]", "1", "\"SAME\"")

static uint32_t float_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    return bits;
}

static float bits_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

/* Equal bit for bit, except that any NaN equals any NaN. */
static void assert_same_float(float got, float want)
{
    if (isnan(want)) {
        assert_true(isnan(got));
        return;
    }
    if (float_bits(got) != float_bits(want))
        fail_msg("got %.9g (0x%08x), want %.9g (0x%08x)", got, float_bits(got), want,
                 float_bits(want));
}

static enum atrous_status decode_limited(const char *body, size_t len, size_t max_elements,
                                         size_t max_depth, struct atrous_request *r,
                                         struct atrous_error *e)
{
    const struct atrous_decode_limits limits = {.max_tensor_elements = max_elements,
                                                .max_depth = max_depth};
    return atrous_json_decode_request(body, len, &limits, r, e);
}

static enum atrous_status decode(const char *text, struct atrous_request *r, struct atrous_error *e)
{
    return decode_limited(text, strlen(text), 0, 0, r, e);
}

/* Decodes len bytes and asserts the failure: status, field, a part of the message, and that
 * nothing is left allocated. */
static void assert_rejected_n(const char *body, size_t len, enum atrous_status status,
                              const char *field, const char *message_part)
{
    struct atrous_request r;
    struct atrous_error e;
    const enum atrous_status st = decode_limited(body, len, 0, 0, &r, &e);
    if (st != status)
        fail_msg("status %d (%s: %s), want %d for %.*s", st, e.field, e.message, status,
                 (int)(len < 200 ? len : 200), body);
    assert_int_equal(e.status, status);
    assert_string_equal(e.field, field);
    if (strstr(e.message, message_part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", e.message, message_part);
    assert_null(r.storage);
    assert_null(r.value);
}

static void assert_rejected(const char *text, const char *field, const char *message_part)
{
    assert_rejected_n(text, strlen(text), ATROUS_INVALID_ARGUMENT, field, message_part);
}

/* --- the conformance corpus ------------------------------------------------------------- */

/* Decodes every case in one layout, checks it against the case, then validates it: valid cases
 * pass, invalid ones fail, and the two quirks take atrousd's documented side. */
static void decode_corpus(enum proto_tensor_form form)
{
    size_t count;
    struct proto_case *cases = proto_cases_load(&count);
    assert_true(count >= 94);
    for (size_t i = 0; i < count; i++) {
        struct proto_buf doc = {0};
        struct atrous_request r;
        struct atrous_error e;
        struct atrous_problem p;
        if (form == PROTO_NESTED && (cases[i].c.value_count == 0 || cases[i].c.filters_count == 0))
            continue; /* nested arrays cannot say [0, 4, 5, 2]; the flat forms cover it */
        proto_case_json(&cases[i].c, form, &doc);
        if (decode_limited(doc.data, doc.len, 0, 0, &r, &e) != ATROUS_OK)
            fail_msg("%s: %s (%s)", cases[i].c.name, e.message, e.field);
        proto_assert_request_is_case(&r, &cases[i].c);
        const enum atrous_status st = atrous_request_validate(&r, NULL, &p, &e);
        const bool expect_ok = cases[i].c.has_expected &&
                               strcmp(cases[i].c.name, "quirk_rate1_output_shape_len2") != 0;
        if ((st == ATROUS_OK) != expect_ok)
            fail_msg("%s/%s: validate gave %d (%s)", cases[i].folder, cases[i].c.name, st,
                     e.message);
        atrous_request_release(&r);
        proto_buf_free(&doc);
    }
    proto_cases_free(cases, count);
}

static void test_json_decodes_every_conformance_case_flat(void **state)
{
    (void)state;
    decode_corpus(PROTO_FLAT);
}

static void test_json_decodes_every_conformance_case_data_before_shape(void **state)
{
    (void)state;
    decode_corpus(PROTO_FLAT_DATA_FIRST);
}

static void test_json_decodes_every_conformance_case_nested(void **state)
{
    (void)state;
    decode_corpus(PROTO_NESTED);
}

static json_t *tensor_json(const struct atrous_shape *shape, const float *data, size_t n)
{
    json_t *t = json_object(), *dims = json_array(), *values = json_array();
    for (int i = 0; i < shape->rank; i++)
        json_array_append_new(dims, json_integer(shape->dims[i]));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(values, json_real(data[i]));
    json_object_set_new(t, "shape", dims);
    json_object_set_new(t, "data", values);
    return t;
}

/* jansson writes each float's double with 17 significant digits: long mantissas that take the
 * decoder's slow path, and must still give the float back exactly. */
static void test_json_decodes_every_conformance_case_written_by_jansson(void **state)
{
    size_t count;
    (void)state;
    struct proto_case *cases = proto_cases_load(&count);
    for (size_t i = 0; i < count; i++) {
        const struct corpus_case *c = &cases[i].c;
        struct atrous_request r;
        struct atrous_error e;
        json_t *doc = json_object(), *output_shape = json_array();
        for (size_t k = 0; k < c->output_shape_len; k++)
            json_array_append_new(output_shape, json_integer(c->output_shape[k]));
        json_object_set_new(doc, "value", tensor_json(&c->value_shape, c->value, c->value_count));
        json_object_set_new(doc, "filters",
                            tensor_json(&c->filters_shape, c->filters, c->filters_count));
        json_object_set_new(doc, "output_shape", output_shape);
        json_object_set_new(doc, "rate", json_integer(c->rate));
        json_object_set_new(doc, "padding", json_stringn(c->padding, c->padding_len));
        char *text = json_dumps(doc, JSON_COMPACT);
        assert_non_null(text);
        if (decode(text, &r, &e) != ATROUS_OK)
            fail_msg("%s: %s", c->name, e.message);
        proto_assert_request_is_case(&r, c);
        atrous_request_release(&r);
        free(text);
        json_decref(doc);
    }
    proto_cases_free(cases, count);
}

/* --- tensors ------------------------------------------------------------------------------ */

static void test_json_stores_tensors_aligned_in_request_storage(void **state)
{
    struct atrous_request r;
    struct atrous_error e;
    (void)state;
    assert_int_equal(
        decode(DOC("[[[[1, 2], [3, 4]]]]", "{\"data\": [5, 6, 7], \"shape\": [1, 1, 3, 1]}",
                   "[1,2,2,2]", "2", "\"VALID\""),
               &r, &e),
        ATROUS_OK);
    assert_non_null(r.storage);
    assert_int_equal((uintptr_t)r.value % ATROUS_TENSOR_ALIGN, 0);
    assert_int_equal((uintptr_t)r.filters % ATROUS_TENSOR_ALIGN, 0);
    assert_true(r.value >= r.storage && r.filters > r.value);
    assert_int_equal(r.value_shape.rank, 4);
    assert_int_equal(r.value_shape.dims[2], 2);
    assert_int_equal(r.value_shape.dims[3], 2);
    const float want_value[] = {1, 2, 3, 4}, want_filters[] = {5, 6, 7};
    assert_memory_equal(r.value, want_value, sizeof(want_value));
    assert_memory_equal(r.filters, want_filters, sizeof(want_filters));
    atrous_request_release(&r);
    assert_null(r.storage);
}

static void test_json_infers_shapes_of_empty_nested_arrays(void **state)
{
    static const struct {
        const char *value;
        int rank;
        int64_t dims[3];
    } cases[] = {
        {"[]", 1, {0}},
        {"[[], []]", 2, {2, 0}},
        {"[[[]]]", 3, {1, 1, 0}},
        {"[[[], []], [[], []]]", 3, {2, 2, 0}},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct atrous_request r;
        struct atrous_error e;
        char doc[512];
        snprintf(doc, sizeof(doc),
                 "{\"value\": %s, \"filters\": [1], \"output_shape\": [], \"rate\": 1, "
                 "\"padding\": \"SAME\"}",
                 cases[i].value);
        assert_int_equal(decode(doc, &r, &e), ATROUS_OK);
        assert_int_equal(r.value_shape.rank, cases[i].rank);
        for (int d = 0; d < cases[i].rank; d++)
            assert_int_equal(r.value_shape.dims[d], cases[i].dims[d]);
        assert_null(r.value);
        atrous_request_release(&r);
    }
}

static void test_json_accepts_a_scalar_tensor_as_rank_zero(void **state)
{
    struct atrous_request r;
    struct atrous_error e;
    struct atrous_problem p;
    (void)state;
    assert_int_equal(decode(DOC("2.5", T1, "[1,1,1,1]", "1", "\"SAME\""), &r, &e), ATROUS_OK);
    assert_int_equal(r.value_shape.rank, 0);
    assert_true(r.value[0] == 2.5f);
    /* The op's validation, not the decoder, names the wrong rank. */
    assert_int_equal(atrous_request_validate(&r, NULL, &p, &e), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(e.field, "value");
    atrous_request_release(&r);
}

static void test_json_rejects_ragged_nested_arrays(void **state)
{
    (void)state;
    assert_rejected(DOC("[[1, 2], [3]]", T1, "[1]", "1", "\"SAME\""), "value", "ragged");
    assert_rejected(DOC("[[1, 2], [3, 4, 5]]", T1, "[1]", "1", "\"SAME\""), "value", "ragged");
    assert_rejected(DOC("[[1, 2], 3]", T1, "[1]", "1", "\"SAME\""), "value", "ragged");
    assert_rejected(DOC("[1, [2]]", T1, "[1]", "1", "\"SAME\""), "value", "ragged");
    assert_rejected(DOC("[[], [1]]", T1, "[1]", "1", "\"SAME\""), "value", "ragged");
    assert_rejected(DOC("[[[1]], [[1], [2]]]", T1, "[1]", "1", "\"SAME\""), "value", "ragged");
    assert_rejected(DOC(T1, "[[[1]], [[]]]", "[1]", "1", "\"SAME\""), "filters", "ragged");
}

static void test_json_rejects_non_numbers_inside_tensors(void **state)
{
    (void)state;
    assert_rejected(DOC("[[1, \"2\"]]", T1, "[1]", "1", "\"SAME\""), "value", "got a string");
    assert_rejected(DOC("[1, null]", T1, "[1]", "1", "\"SAME\""), "value", "got null");
    assert_rejected(DOC("[true]", T1, "[1]", "1", "\"SAME\""), "value", "got a boolean");
    assert_rejected(DOC("[{}]", T1, "[1]", "1", "\"SAME\""), "value", "got an object");
    assert_rejected(DOC("{\"shape\": [2], \"data\": [1, \"x\"]}", T1, "[1]", "1", "\"SAME\""),
                    "value", "flat array of numbers");
    assert_rejected(DOC("{\"shape\": [1, 2], \"data\": [[1, 2]]}", T1, "[1]", "1", "\"SAME\""),
                    "value", "flat array of numbers");
    assert_rejected(DOC(T1, "\"weights\"", "[1]", "1", "\"SAME\""), "filters",
                    "filters must be {\"shape\"");
    assert_rejected(DOC(T1, "true", "[1]", "1", "\"SAME\""), "filters", "got a boolean");
}

static void test_json_rejects_tensor_ranks_above_the_maximum(void **state)
{
    (void)state;
    assert_rejected(DOC("[[[[[[[[[1]]]]]]]]]", T1, "[1]", "1", "\"SAME\""), "value",
                    "nested more than 8");
    assert_rejected(
        DOC("{\"shape\": [1,1,1,1,1,1,1,1,1], \"data\": [1]}", T1, "[1]", "1", "\"SAME\""), "value",
        "more than 8 dimensions");
    /* Rank 8 itself is fine for the decoder. */
    struct atrous_request r;
    struct atrous_error e;
    assert_int_equal(
        decode(DOC("[[[[[[[[1]]]]]]]]", "{\"shape\": [1,1,1,1,1,1,1,1], \"data\": [1]}", "[1]", "1",
                   "\"SAME\""),
               &r, &e),
        ATROUS_OK);
    assert_int_equal(r.value_shape.rank, 8);
    assert_int_equal(r.filters_shape.rank, 8);
    atrous_request_release(&r);
}

static void test_json_rejects_bad_shape_dims(void **state)
{
    (void)state;
    assert_rejected(DOC("{\"shape\": [1, -1], \"data\": []}", T1, "[1]", "1", "\"SAME\""), "value",
                    "value.shape[1] must be >= 0, got -1");
    assert_rejected(DOC("{\"shape\": [1.5], \"data\": [1]}", T1, "[1]", "1", "\"SAME\""), "value",
                    "value.shape[0] must be an integer, got 1.5");
    assert_rejected(DOC("{\"shape\": [\"2\"], \"data\": [1, 2]}", T1, "[1]", "1", "\"SAME\""),
                    "value", "got a string");
    assert_rejected(DOC(T1, "{\"shape\": 4, \"data\": [1]}", "[1]", "1", "\"SAME\""), "filters",
                    "filters.shape must be an array of integers, got a number");
    assert_rejected(DOC(T1, "{\"shape\": [NaN], \"data\": [1]}", "[1]", "1", "\"SAME\""), "filters",
                    "must be an integer, got NaN");
    assert_rejected(DOC(T1, "{\"shape\": [1e30], \"data\": [1]}", "[1]", "1", "\"SAME\""),
                    "filters", "outside the 64-bit integer range");
    /* The product overflows size_t: too large, not malformed. */
    assert_rejected_n(
        DOC("{\"shape\": [4294967296, 4294967296, 16], \"data\": []}", T1, "[1]", "1", "\"SAME\""),
        strlen(DOC("{\"shape\": [4294967296, 4294967296, 16], \"data\": []}", T1, "[1]", "1",
                   "\"SAME\"")),
        ATROUS_TOO_LARGE, "value", "more elements than fit");
}

static void test_json_rejects_data_length_not_matching_shape(void **state)
{
    (void)state;
    assert_rejected(DOC("{\"shape\": [2, 2], \"data\": [1, 2, 3]}", T1, "[1]", "1", "\"SAME\""),
                    "value", "value.data has 3 numbers but shape [2, 2] has 4 elements");
    assert_rejected(DOC("{\"shape\": [2], \"data\": [1, 2, 3]}", T1, "[1]", "1", "\"SAME\""),
                    "value", "more than 2 numbers");
    assert_rejected(DOC("{\"data\": [1, 2, 3], \"shape\": [2, 2]}", T1, "[1]", "1", "\"SAME\""),
                    "value", "value.data has 3 numbers but shape [2, 2] has 4 elements");
    assert_rejected(DOC(T1, "{\"data\": [], \"shape\": [1]}", "[1]", "1", "\"SAME\""), "filters",
                    "has 0 numbers");
}

static void test_json_rejects_incomplete_or_odd_tensor_objects(void **state)
{
    (void)state;
    assert_rejected(DOC("{\"shape\": [1]}", T1, "[1]", "1", "\"SAME\""), "value",
                    "value is missing \"data\"");
    assert_rejected(DOC("{\"data\": [1]}", T1, "[1]", "1", "\"SAME\""), "value",
                    "value is missing \"shape\"");
    assert_rejected(DOC("{}", T1, "[1]", "1", "\"SAME\""), "value", "missing \"shape\"");
    assert_rejected(
        DOC("{\"shape\": [1], \"data\": [1], \"kind\": \"float32\"}", T1, "[1]", "1", "\"SAME\""),
        "value", "unknown member \"kind\" in value (allowed: shape, data, dtype)");
    assert_rejected(
        DOC("{\"shape\": [1], \"shape\": [1], \"data\": [1]}", T1, "[1]", "1", "\"SAME\""), "value",
        "duplicate member \"shape\"");
    assert_rejected(
        DOC("{\"shape\": [1], \"data\": [1], \"data\": [1]}", T1, "[1]", "1", "\"SAME\""), "value",
        "duplicate member \"data\"");
}

static void test_json_enforces_max_tensor_elements_before_allocating(void **state)
{
    struct atrous_request r;
    struct atrous_error e;
    (void)state;
    /* A known shape is checked before its data is read: a huge claim costs nothing. */
    const char *claim =
        DOC("{\"shape\": [1000000, 1000000], \"data\": [1]}", T1, "[1]", "1", "\"SAME\"");
    assert_int_equal(decode_limited(claim, strlen(claim), 1000, 0, &r, &e), ATROUS_TOO_LARGE);
    assert_string_equal(e.field, "value");
    assert_non_null(strstr(e.message, "over the limit of 1000"));
    assert_null(r.storage);
    /* Data read before its shape, and nested arrays: stopped as soon as the count passes. */
    const char *flat =
        DOC(T1, "{\"data\": [1, 2, 3, 4, 5], \"shape\": [5]}", "[1]", "1", "\"SAME\"");
    assert_int_equal(decode_limited(flat, strlen(flat), 4, 0, &r, &e), ATROUS_TOO_LARGE);
    assert_string_equal(e.field, "filters");
    const char *nested = DOC("[[1, 2], [3, 4], [5, 6]]", T1, "[1]", "1", "\"SAME\"");
    assert_int_equal(decode_limited(nested, strlen(nested), 5, 0, &r, &e), ATROUS_TOO_LARGE);
    assert_string_equal(e.field, "value");
    /* At the limit is fine. */
    assert_int_equal(decode_limited(nested, strlen(nested), 6, 0, &r, &e), ATROUS_OK);
    atrous_request_release(&r);
}

static void test_json_rejects_shape_the_body_cannot_fill_without_allocating(void **state)
{
    (void)state;
    /* No limit configured: 10^12 elements cannot fit in a short body, so it is malformed (and
     * nothing near 4 TB is ever requested). */
    assert_rejected(
        DOC("{\"shape\": [1000000, 1000000], \"data\": [1]}", T1, "[1]", "1", "\"SAME\""), "value",
        "more numbers than a");
}

/* --- numbers ------------------------------------------------------------------------------- */

/* Decodes `numbers` (a comma-separated list) as value.data and returns the floats. */
static float *decode_numbers(const char *numbers, size_t count, struct atrous_request *r)
{
    struct proto_buf doc = {0};
    struct atrous_error e;
    proto_buf_printf(&doc,
                     "{\"value\": {\"shape\": [%zu], \"data\": [%s]}, \"filters\": " T1
                     ", \"output_shape\": [1], \"rate\": 1, \"padding\": \"SAME\"}",
                     count, numbers);
    if (decode_limited(doc.data, doc.len, 0, 0, r, &e) != ATROUS_OK)
        fail_msg("%s", e.message);
    proto_buf_free(&doc);
    return (float *)r->value;
}

static void test_json_accepts_nan_and_infinity_tokens(void **state)
{
    struct atrous_request r;
    (void)state;
    const float *v = decode_numbers("NaN, Infinity, -Infinity, -0, 0.0, -0.0e5", 6, &r);
    assert_true(isnan(v[0]));
    assert_same_float(v[1], INFINITY);
    assert_same_float(v[2], -INFINITY);
    assert_same_float(v[3], -0.0f);
    assert_same_float(v[4], 0.0f);
    assert_same_float(v[5], -0.0f);
    atrous_request_release(&r);
}

static void test_json_rejects_malformed_numbers(void **state)
{
    static const char *const bad[] = {
        "01",  "1.",   ".5",       "+1",   "-",    "1e",  "1e+",  "--1",       "0x10", "nan",
        "inf", "-NaN", "infinity", "1.e5", "1e5.", "- 1", "NaNa", "Infinityx", "1_000"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char doc[256];
        snprintf(doc, sizeof(doc),
                 DOC("{\"shape\": [1], \"data\": [%s]}", T1, "[1]", "1", "\"SAME\""), bad[i]);
        assert_rejected(doc, "", "invalid JSON at byte");
    }
}

static void test_json_accepts_every_json_number_form(void **state)
{
    struct atrous_request r;
    (void)state;
    const float *v = decode_numbers("1E5, 1e+5, 1e-5, 2.5E-1, -0.75, 123456789, 0.000001", 7, &r);
    const float want[] = {1e5f, 1e5f, 1e-5f, 0.25f, -0.75f, 123456789.0f, 1e-6f};
    for (size_t i = 0; i < 7; i++)
        assert_same_float(v[i], want[i]);
    atrous_request_release(&r);
}

/* Numbers past FLT_MAX are refused (not silently infinite); ones below the smallest
 * subnormal round to zero as strtof would. */
static void test_json_rejects_finite_numbers_beyond_float_range(void **state)
{
    static const char *const too_big[] = {
        "1e39",
        "-1e39",
        "3.4028236e38",
        "1e400",
        "1e99999999999",
        "340282356779733661637539395458142568448", /* FLT_MAX + half an ulp: ties to infinity */
        /* One below that still rounds to it as a double first (TF Serving's conversion). */
        "340282356779733661637539395458142568447",
    };
    struct atrous_request r;
    (void)state;
    for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++) {
        char doc[512];
        snprintf(doc, sizeof(doc),
                 DOC(T1, "{\"shape\": [1], \"data\": [%s]}", "[1]", "1", "\"SAME\""), too_big[i]);
        assert_rejected(doc, "filters", "outside the float32 range");
    }
    /* The largest float and the numbers that still round down to it are accepted. */
    const float *v = decode_numbers("3.4028235e38, -3.40282356e38, "
                                    "340282356779733000000000000000000000000",
                                    3, &r);
    assert_same_float(v[0], FLT_MAX);
    assert_same_float(v[1], -FLT_MAX);
    assert_same_float(v[2], FLT_MAX);
    atrous_request_release(&r);
}

static void test_json_rounds_tiny_numbers_to_zero_or_subnormals(void **state)
{
    struct atrous_request r;
    (void)state;
    const float *v = decode_numbers("1e-50, -1e-50, 1e-45, 7.1e-46, 1e-400, 1.1754944e-38, "
                                    "0.000000000000000000000000000000000000000000001401298464",
                                    7, &r);
    assert_same_float(v[0], 0.0f);
    assert_same_float(v[1], -0.0f);
    assert_same_float(v[2], bits_float(1)); /* the smallest subnormal */
    assert_same_float(v[3], bits_float(1)); /* just above half of it, 7.006e-46 */
    assert_same_float(v[4], 0.0f);
    assert_same_float(v[5], FLT_MIN);
    assert_same_float(v[6], bits_float(1));
    atrous_request_release(&r);
}

/* A reference token generator: random signs, digit counts (1 to 30), point positions and
 * exponents over float32's whole range. */
static size_t random_token(uint64_t *s, char *buf, size_t size)
{
    size_t used = 0;
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    const uint64_t r = *s;
    const int int_digits = 1 + (int)(r % 12);
    const int frac_digits = (int)((r >> 8) % 20);
    const int power = -48 + (int)((r >> 16) % 87); /* first digit's power: 1e-48 .. 1e38 */
    if (r >> 63)
        buf[used++] = '-';
    for (int i = 0; i < int_digits; i++) {
        *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
        buf[used++] = (char)('0' + (i == 0 ? 1 + *s % 9 : *s % 10));
    }
    if (frac_digits > 0) {
        buf[used++] = '.';
        for (int i = 0; i < frac_digits; i++) {
            *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
            buf[used++] = (char)('0' + *s % 10);
        }
    }
    used += (size_t)snprintf(buf + used, size - used, "e%d", power - (int_digits - 1));
    return used;
}

static void test_json_parses_numbers_as_the_rounded_double_cast_to_float(void **state)
{
    enum { COUNT = 100000 };
    struct proto_buf numbers = {0};
    struct atrous_request r;
    float *want = malloc(COUNT * sizeof(float));
    uint64_t s = 0x2545F4914F6CDD1DULL;
    size_t kept = 0;
    (void)state;
    assert_non_null(want);
    while (kept < COUNT) {
        char token[96];
        const size_t n = random_token(&s, token, sizeof(token));
        const double d = strtod(token, NULL);
        if (fabs(d) >= 0x1.ffffffp127)
            continue; /* rejected by design, tested above */
        if (kept)
            proto_buf_put(&numbers, ",", 1);
        proto_buf_put(&numbers, token, n);
        want[kept++] = (float)d;
    }
    const float *got = decode_numbers(numbers.data, COUNT, &r);
    for (size_t i = 0; i < COUNT; i++)
        assert_same_float(got[i], want[i]);
    atrous_request_release(&r);
    proto_buf_free(&numbers);
    free(want);
}

static void test_json_parses_hard_and_long_numbers_like_strtod(void **state)
{
    struct proto_buf numbers = {0}, long_one = {0}, long_zeros = {0};
    struct atrous_request r;
    (void)state;
    /* Midpoints between floats and one digit past them, where rounding twice (decimal to double
     * to float) can differ from rounding once: atrousd follows TF Serving (double, then cast). */
    const char *hard[] = {
        "1.000000059604644775390625",            /* exactly halfway between 1 and next float */
        "1.00000005960464477539062500000000001", /* a hair above halfway */
        "1.0000000596046447753906249999999999",  /* a hair below */
        "16777217",                              /* 2^24 + 1: halfway, ties to even */
        "16777219",
        "9007199254740993", /* 2^53 + 1, past the fast path */
        "0.1",
        "0.2",
        "0.3",
        "3.14159265358979323846264338327950288419716939937510",
        "1.17549435082228750796873653722224568e-38", /* FLT_MIN, with all its digits */
        "1.4012984643248170709237295832899161312802619418765e-45",
        "7.0064923216240853546186479164495806564013097093825e-46", /* half the least subnormal */
        "123456789012345678901234567890",
        "0.000000000000000000000000000001234567890123",
    };
    size_t count = sizeof(hard) / sizeof(hard[0]);
    for (size_t i = 0; i < count; i++)
        proto_buf_printf(&numbers, "%s%s", i ? "," : "", hard[i]);
    /* 1200 significant digits (beyond what any rounding decision needs) and 1000 leading
     * zeros after the point. */
    proto_buf_printf(&long_one, "2.");
    for (int i = 0; i < 1200; i++)
        proto_buf_printf(&long_one, "%d", (i * 7 + 3) % 10);
    proto_buf_printf(&long_zeros, "0.");
    for (int i = 0; i < 1000; i++)
        proto_buf_printf(&long_zeros, "0");
    proto_buf_printf(&long_zeros, "15e1010");
    proto_buf_printf(&numbers, ",%s,%s", long_one.data, long_zeros.data);
    const float *got = decode_numbers(numbers.data, count + 2, &r);
    for (size_t i = 0; i < count; i++)
        assert_same_float(got[i], (float)strtod(hard[i], NULL));
    assert_same_float(got[count], (float)strtod(long_one.data, NULL));
    assert_same_float(got[count + 1], 1.5e9f);
    /* TF Serving's double rounding: a hair above halfway still reads as 1.0. */
    assert_same_float(got[1], 1.0f);
    atrous_request_release(&r);
    proto_buf_free(&numbers);
    proto_buf_free(&long_one);
    proto_buf_free(&long_zeros);
}

/* --- integers: output_shape and rate --------------------------------------------------------- */

static void test_json_integers_accept_integral_numbers_in_any_notation(void **state)
{
    struct atrous_request r;
    struct atrous_error e;
    (void)state;
    assert_int_equal(decode(DOC(T1, T1, "[1.0, 4e0, 0.4e1, 400e-2, -0, 100000000000000000000e-20]",
                                "2.000", "\"SAME\""),
                            &r, &e),
                     ATROUS_OK);
    assert_int_equal(r.output_shape_len, 6);
    const int64_t want[] = {1, 4, 4, 4, 0, 1};
    for (int i = 0; i < 6; i++)
        assert_int_equal(r.output_shape[i], want[i]);
    assert_int_equal(r.rate, 2);
    atrous_request_release(&r);
    /* The int64 extremes are integers like any other. */
    assert_int_equal(decode(DOC(T1, T1, "[9223372036854775807, -9223372036854775808, -5]",
                                "-9223372036854775808", "\"SAME\""),
                            &r, &e),
                     ATROUS_OK);
    assert_true(r.output_shape[0] == INT64_MAX);
    assert_true(r.output_shape[1] == INT64_MIN);
    assert_int_equal(r.output_shape[2], -5);
    assert_true(r.rate == INT64_MIN);
    atrous_request_release(&r);
}

static void test_json_integers_reject_fractions_nan_and_other_types(void **state)
{
    (void)state;
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1.5", "\"SAME\""), "rate",
                    "rate must be an integer, got 1.5");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "NaN", "\"SAME\""), "rate", "got NaN");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "Infinity", "\"SAME\""), "rate", "got Infinity");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1e-400", "\"SAME\""), "rate", "got 1e-400");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "\"2\"", "\"SAME\""), "rate", "got a string");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "true", "\"SAME\""), "rate", "got a boolean");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "null", "\"SAME\""), "rate", "got null");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "[2]", "\"SAME\""), "rate", "got an array");
    assert_rejected(DOC(T1, T1, "[1,1,1.25,1]", "1", "\"SAME\""), "output_shape",
                    "output_shape[2] must be an integer, got 1.25");
    assert_rejected(DOC(T1, T1, "[1,1,\"1\",1]", "1", "\"SAME\""), "output_shape", "got a string");
    assert_rejected(DOC(T1, T1, "4", "1", "\"SAME\""), "output_shape",
                    "output_shape must be an array of integers, got a number");
    assert_rejected(DOC(T1, T1, "{\"shape\": [4]}", "1", "\"SAME\""), "output_shape",
                    "got an object");
}

static void test_json_integers_reject_values_outside_int64(void **state)
{
    (void)state;
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "9223372036854775808", "\"SAME\""), "rate",
                    "outside the 64-bit integer range");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "-9223372036854775809", "\"SAME\""), "rate",
                    "outside the 64-bit integer range");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1e19", "\"SAME\""), "rate",
                    "outside the 64-bit integer range");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "123456789012345678901234567890.5", "\"SAME\""),
                    "rate", "outside the 64-bit integer range");
    assert_rejected(DOC(T1, T1, "[1, 1e400, 1, 1]", "1", "\"SAME\""), "output_shape",
                    "output_shape[1] = 1e400 at byte");
    /* Twenty significant digits below 10^19 are a fraction, not an overflow. */
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1.0000000000000000001", "\"SAME\""), "rate",
                    "must be an integer");
}

static void test_json_output_shape_keeps_its_true_length_up_to_the_maximum(void **state)
{
    struct proto_buf doc = {0}, list = {0};
    struct atrous_request r;
    struct atrous_error e;
    struct atrous_problem p;
    (void)state;
    for (int i = 0; i < ATROUS_OUTPUT_SHAPE_LEN_MAX; i++)
        proto_buf_printf(&list, "%s%d", i ? "," : "", i + 1);
    proto_buf_printf(&doc, DOC(T1, T1, "[%s]", "1", "\"SAME\""), list.data);
    assert_int_equal(decode(doc.data, &r, &e), ATROUS_OK);
    assert_int_equal(r.output_shape_len, ATROUS_OUTPUT_SHAPE_LEN_MAX);
    assert_int_equal(r.output_shape[ATROUS_MAX_RANK - 1], ATROUS_MAX_RANK);
    assert_int_equal(atrous_request_validate(&r, NULL, &p, &e), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(e.field, "output_shape");
    assert_non_null(strstr(e.message, "got 64 elements"));
    atrous_request_release(&r);
    proto_buf_free(&doc);
    proto_buf_printf(&doc, DOC(T1, T1, "[%s,65]", "1", "\"SAME\""), list.data);
    assert_rejected(doc.data, "output_shape", "more than 64 elements");
    proto_buf_free(&doc);
    proto_buf_free(&list);
}

/* --- members ------------------------------------------------------------------------------- */

static void test_json_rejects_unknown_field_naming_it(void **state)
{
    (void)state;
    assert_rejected("{\"value\": " T1 ", \"filter\": " T1 "}", "filter",
                    "unknown field \"filter\" (allowed: value, filters, output_shape, rate, "
                    "padding, dtype, output_dtype, precision)");
    assert_rejected("{\"Rate\": 1}", "Rate", "unknown field \"Rate\"");
    assert_rejected("{\"\": 1}", "", "unknown field \"\"");
    /* Escapes are decoded before the name is matched. */
    assert_rejected("{\"r\\u0061te\": 1, \"rate\": 2}", "rate", "duplicate field \"rate\"");
}

static void test_json_rejects_duplicate_fields(void **state)
{
    (void)state;
    assert_rejected("{\"value\": " T1 ", \"value\": " T1 "}", "value", "duplicate field \"value\"");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1, \"rate\": 1", "\"SAME\""), "rate",
                    "duplicate field \"rate\"");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1", "\"SAME\", \"padding\": \"SAME\""), "padding",
                    "duplicate field");
    assert_rejected(
        DOC(T1, T1, "[1,1,1,1]", "1", "\"SAME\", \"dtype\": \"float32\", \"dtype\": \"float32\""),
        "dtype", "duplicate field");
}

static void test_json_rejects_missing_required_fields(void **state)
{
    (void)state;
    assert_rejected("{}", "value", "missing required field \"value\"");
    assert_rejected("{\"value\": " T1 "}", "filters", "missing required field \"filters\"");
    assert_rejected("{\"value\": " T1 ", \"filters\": " T1 "}", "output_shape",
                    "missing required field \"output_shape\"");
    assert_rejected("{\"value\": " T1 ", \"filters\": " T1 ", \"output_shape\": []}", "rate",
                    "missing required field \"rate\"");
    assert_rejected("{\"rate\": 1, \"value\": " T1 ", \"filters\": " T1 ", \"output_shape\": []}",
                    "padding", "missing required field \"padding\"");
}

static void test_json_accepts_the_three_dtypes_and_refuses_others(void **state)
{
    struct atrous_request r;
    struct atrous_error e;
    (void)state;
    assert_int_equal(
        decode(DOC(T1, T1, "[1,1,1,1]", "1", "\"SAME\", \"dtype\": \"float32\""), &r, &e),
        ATROUS_OK);
    atrous_request_release(&r);
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1", "\"SAME\", \"dtype\": \"float64\""), "dtype",
                    "dtype \"float64\" at byte");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1", "\"SAME\", \"dtype\": \"FLOAT32\""), "dtype",
                    "the accepted dtypes are float32, bfloat16, float16; cast");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1", "\"SAME\", \"output_dtype\": \"int32\""),
                    "output_dtype", "output_dtype \"int32\" at byte");
    assert_rejected(
        DOC("{\"shape\": [1], \"data\": [1], \"dtype\": \"float64\"}", T1, "[1]", "1", "\"SAME\""),
        "value", "value.dtype \"float64\" at byte");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1", "\"SAME\", \"precision\": \"fp16\""), "precision",
                    "\"f32\"");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1", "\"SAME\", \"dtype\": 32"), "dtype",
                    "got a number");
}

/* Regression (found by fuzz_json): a dtype string longer than the decoder's buffer made the
 * error message quote bytes past the buffer's end (a stack overflow under ASan). */
static void test_json_quotes_a_long_dtype_without_overflow(void **state)
{
    (void)state;
    assert_rejected("{\"dtype\":\"{}{302,-0.902450681,-0.615747631,0.523257077,-0.600345552\"}",
                    "dtype", "{}{302,-0.902450681,-0.615747631,0.52325...\" at byte 9");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1",
                        "\"SAME\", \"dtype\": \"float32float32float32float32float32float32\""),
                    "dtype", "is not supported");
}

/* The request's dtype applies to both tensors, a tensor's own overrides it, members in any
 * order; numbers are rounded to nearest even to their dtype; the output is the value's dtype
 * unless output_dtype says otherwise; precision is kept. */
static void test_json_dtypes_round_numbers_to_each_tensors_dtype(void **state)
{
    struct atrous_request r;
    struct atrous_error e;
    (void)state;
    /* 1.00390625 = 1 + 2^-8 is a bfloat16 tie (to 1) and exact in float16; 0.1 is neither. */
    assert_int_equal(decode("{\"value\": {\"data\": [1.00390625, 0.1], \"shape\": [1,1,2,1]},"
                            " \"filters\": {\"dtype\": \"float16\", \"shape\": [1,1,1,1], \"data\":"
                            " [0.1]}, \"output_shape\": [1,1,2,1], \"rate\": 1, \"padding\":"
                            " \"SAME\", \"dtype\": \"bfloat16\", \"precision\": \"bf16\"}",
                            &r, &e),
                     ATROUS_OK);
    assert_int_equal(r.value_dtype, ATROUS_DTYPE_BFLOAT16);
    assert_int_equal(r.filters_dtype, ATROUS_DTYPE_FLOAT16);
    assert_int_equal(r.output_dtype, ATROUS_DTYPE_BFLOAT16);
    assert_int_equal(r.precision, ATROUS_PRECISION_BF16);
    assert_true(r.value[0] == 1.0f);
    assert_true(r.value[1] == atrous_bf16_to_f32(0x3dcd));
    assert_true(r.filters[0] == atrous_f16_to_f32(0x2e66));
    atrous_request_release(&r);
    /* Nested arrays and output_dtype; the default stays float32 and exact. */
    assert_int_equal(decode("{\"output_dtype\": \"float16\", \"value\": [[[[0.1]]]], \"filters\":"
                            " [[[[0.1]]]], \"output_shape\": [1,1,1,1], \"rate\": 1, \"padding\":"
                            " \"SAME\"}",
                            &r, &e),
                     ATROUS_OK);
    assert_int_equal(r.value_dtype, ATROUS_DTYPE_FLOAT32);
    assert_int_equal(r.output_dtype, ATROUS_DTYPE_FLOAT16);
    assert_int_equal(r.precision, ATROUS_PRECISION_F32);
    assert_true(r.value[0] == 0.1f);
    atrous_request_release(&r);
}

/* A finite number that rounds to infinity in its dtype is an error naming the tensor (the
 * float32 rule, applied to the dtype's range); Infinity itself is accepted. */
static void test_json_number_out_of_a_dtypes_range_is_an_error(void **state)
{
    struct atrous_request r;
    struct atrous_error e;
    (void)state;
    assert_rejected(DOC("{\"shape\": [1,1,2,1], \"data\": [1, 65520]}", T1, "[1,1,2,1]", "1",
                        "\"SAME\", \"dtype\": \"float16\""),
                    "value", "value: element 1 (65520) is outside the float16 range");
    assert_rejected(DOC(T1, "{\"shape\": [1,1,1,1], \"data\": [3.4e38], \"dtype\": \"bfloat16\"}",
                        "[1,1,1,1]", "1", "\"SAME\""),
                    "filters", "outside the bfloat16 range");
    assert_int_equal(decode(DOC("{\"shape\": [1,1,2,1], \"data\": [65519, -Infinity]}", T1,
                                "[1,1,2,1]", "1", "\"SAME\", \"dtype\": \"float16\""),
                            &r, &e),
                     ATROUS_OK);
    assert_true(r.value[0] == 65504.0f);
    assert_true(r.value[1] < 0 && r.value[1] * 0 != 0);
    atrous_request_release(&r);
}

static void test_json_encode_output_rounds_to_the_dtype_and_says_the_precision(void **state)
{
    (void)state;
    const int64_t dims[2] = {1, 3};
    struct atrous_shape shape;
    struct atrous_error e;
    char *text = NULL;
    size_t len = 0;
    const float data[3] = {0.1f, 1.00390625f, 70000.0f};
    assert_int_equal(atrous_shape_make(&shape, dims, 2, NULL), ATROUS_OK);
    assert_int_equal(
        atrous_json_encode_output_as(&shape, data, ATROUS_DTYPE_FLOAT16, "bf16", &text, &len, &e),
        ATROUS_OK);
    assert_string_equal(text, "{\"output\":{\"shape\":[1,3],\"dtype\":\"float16\",\"data\":["
                              "0.099975586,1.0039062,Infinity]},\"compute_precision\":\"bf16\"}");
    assert_int_equal(len, strlen(text));
    free(text);
    assert_int_equal(
        atrous_json_encode_output_as(&shape, data, ATROUS_DTYPE_BFLOAT16, NULL, &text, &len, &e),
        ATROUS_OK);
    assert_string_equal(text, "{\"output\":{\"shape\":[1,3],\"dtype\":\"bfloat16\",\"data\":["
                              "0.100097656,1,70144]}}");
    free(text);
}

static void test_json_padding_must_be_a_string(void **state)
{
    (void)state;
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1", "1"), "padding",
                    "padding must be a string (\"SAME\" or \"VALID\"), got a number");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1", "null"), "padding", "got null");
    assert_rejected(DOC(T1, T1, "[1,1,1,1]", "1", "[\"SAME\"]"), "padding", "got an array");
}

static void test_json_padding_decodes_escapes_and_keeps_its_true_length(void **state)
{
    struct atrous_request r;
    struct atrous_error e;
    struct atrous_problem p;
    (void)state;
    assert_int_equal(decode(DOC(T1, T1, "[1,1,1,1]", "1", "\"\\u0053A\\u004dE\""), &r, &e),
                     ATROUS_OK);
    assert_string_equal(r.padding, "SAME");
    assert_int_equal(r.padding_len, 4);
    assert_int_equal(atrous_request_validate(&r, NULL, &p, &e), ATROUS_OK);
    atrous_request_release(&r);
    /* An embedded NUL is kept and counted, so "SA\0ME" is not "SAME". */
    assert_int_equal(decode(DOC(T1, T1, "[1,1,1,1]", "1", "\"SA\\u0000ME\""), &r, &e), ATROUS_OK);
    assert_int_equal(r.padding_len, 5);
    assert_memory_equal(r.padding, "SA\0ME", 5);
    assert_int_equal(atrous_request_validate(&r, NULL, &p, &e), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(e.field, "padding");
    atrous_request_release(&r);
    /* Every escape, a surrogate pair (U+1F600) and raw UTF-8. */
    assert_int_equal(decode(DOC(T1, T1, "[1,1,1,1]", "1",
                                "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\ud83d\\ude00\xc3\xa9\""),
                            &r, &e),
                     ATROUS_OK);
    assert_string_equal(r.padding, "\"\\/\b\f\n\r\t\xf0\x9f\x98\x80\xc3\xa9");
    atrous_request_release(&r);
    /* Long strings are cut at ATROUS_PADDING_MAX bytes, with the true length kept. */
    struct proto_buf doc = {0}, pad = {0};
    for (int i = 0; i < 100; i++)
        proto_buf_put(&pad, "SAME", 4);
    proto_buf_printf(&doc, DOC(T1, T1, "[1,1,1,1]", "1", "\"%s\""), pad.data);
    assert_int_equal(decode(doc.data, &r, &e), ATROUS_OK);
    assert_int_equal(r.padding_len, 400);
    assert_int_equal(strlen(r.padding), ATROUS_PADDING_MAX);
    assert_int_equal(atrous_request_validate(&r, NULL, &p, &e), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(e.field, "padding");
    atrous_request_release(&r);
    proto_buf_free(&doc);
    proto_buf_free(&pad);
}

static void test_json_rejects_bad_escapes_and_lone_surrogates(void **state)
{
    (void)state;
    assert_rejected(DOC(T1, T1, "[1]", "1", "\"\\ud83d\""), "", "unpaired high surrogate");
    assert_rejected(DOC(T1, T1, "[1]", "1", "\"\\ud83d\\u0041\""), "", "unpaired high surrogate");
    assert_rejected(DOC(T1, T1, "[1]", "1", "\"\\ude00\""), "", "unpaired low surrogate");
    assert_rejected(DOC(T1, T1, "[1]", "1", "\"\\u12g4\""), "", "4 hex digits");
    assert_rejected(DOC(T1, T1, "[1]", "1", "\"\\x41\""), "", "invalid escape");
    assert_rejected(DOC(T1, T1, "[1]", "1", "\"\\U0041\""), "", "invalid escape");
}

static void test_json_rejects_invalid_utf8_anywhere_in_strings(void **state)
{
    static const char *const bad[] = {
        "\xff",             /* never valid */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong */
        "\xed\xa0\x80",     /* an encoded surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xc3",             /* truncated */
        "\x80",             /* stray continuation */
        "SAME\xe2\x82",     /* truncated at the end */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char doc[256];
        snprintf(doc, sizeof(doc), DOC(T1, T1, "[1]", "1", "\"%s\""), bad[i]);
        assert_rejected(doc, "", "valid UTF-8");
        snprintf(doc, sizeof(doc), "{\"%s\": 1}", bad[i]);
        assert_rejected(doc, "", "valid UTF-8");
    }
}

static void test_json_rejects_unescaped_control_characters(void **state)
{
    (void)state;
    assert_rejected(DOC(T1, T1, "[1]", "1", "\"SA\nME\""), "", "control characters");
    assert_rejected(DOC(T1, T1, "[1]", "1", "\"\t\""), "", "control characters");
    assert_rejected("{\"val\x01ue\": 1}", "", "byte 0x01");
}

/* --- the body as a whole --------------------------------------------------------------------- */

static void test_json_rejects_empty_bodies(void **state)
{
    (void)state;
    assert_rejected_n("", 0, ATROUS_INVALID_ARGUMENT, "", "empty");
    assert_rejected_n(NULL, 0, ATROUS_INVALID_ARGUMENT, "", "empty");
    assert_rejected(" \r\n\t ", "", "empty");
}

static void test_json_rejects_bodies_that_are_not_objects(void **state)
{
    (void)state;
    assert_rejected("[1, 2]", "", "must be a JSON object, got an array");
    assert_rejected("\"SAME\"", "", "got a string");
    assert_rejected("42", "", "got a number");
    assert_rejected("hello", "", "invalid JSON at byte 0: expected a JSON value, got 'h'");
    assert_rejected("\xef\xbb\xbf{}", "", "byte 0xEF"); /* a byte-order mark */
}

static void test_json_rejects_trailing_garbage(void **state)
{
    (void)state;
    assert_rejected(GOOD "x", "", "expected the end of the body");
    assert_rejected(GOOD " {}", "", "expected the end of the body");
    assert_rejected(GOOD ",", "", "expected the end of the body");
    /* Whitespace after the object is fine. */
    struct atrous_request r;
    struct atrous_error e;
    assert_int_equal(decode(" \n" GOOD " \r\n\t", &r, &e), ATROUS_OK);
    atrous_request_release(&r);
}

static void test_json_rejects_embedded_nul_bytes(void **state)
{
    static const char good[] = GOOD;
    (void)state;
    /* A NUL before, inside and after the object; the body length counts it. */
    char body[sizeof(good) + 1];
    const size_t at[] = {0, 1, 10, 20, 40, sizeof(good) - 3, sizeof(good) - 2, sizeof(good) - 1};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        memcpy(body, good, at[i]);
        body[at[i]] = '\0';
        memcpy(body + at[i] + 1, good + at[i], sizeof(good) - 1 - at[i]);
        assert_rejected_n(body, sizeof(good), ATROUS_INVALID_ARGUMENT, "", "a NUL byte");
    }
}

static void test_json_syntax_errors_name_the_byte_offset(void **state)
{
    (void)state;
    assert_rejected("{\"value\" " T1 "}", "", "invalid JSON at byte 9: expected ':'");
    assert_rejected("{\"rate\": 1 \"padding\": 2}", "",
                    "invalid JSON at byte 11: expected ',' or '}' after an object member, got "
                    "'\"'");
    assert_rejected("{\"rate\": 1,}", "", "invalid JSON at byte 11: expected a member name");
    assert_rejected("{\"value\": [1, 2,]}", "", "invalid JSON at byte 16");
    assert_rejected("{\"value\": [1 2]}", "", "invalid JSON at byte 13: expected ',' or ']'");
    assert_rejected("{\"value\": tru}", "", "invalid JSON at byte 10");
}

static void test_json_every_truncation_of_a_valid_body_is_rejected(void **state)
{
    static const char body[] = "{\"value\": [[[[0.5, -1e-3], [NaN, Infinity]]]], \"filters\": "
                               "{\"data\": [-Infinity, 2, 3E2, 4], \"shape\": [1, 1, 2, 2]}, "
                               "\"output_shape\": [1, 1, 2, 2], \"rate\": 1.0, "
                               "\"padding\": \"\\u0053AME\\ud83d\\ude00\xc3\xa9\", "
                               "\"dtype\": \"float32\"}";
    struct atrous_request r;
    struct atrous_error e;
    (void)state;
    assert_int_equal(decode(body, &r, &e), ATROUS_OK);
    atrous_request_release(&r);
    for (size_t len = 0; len < sizeof(body) - 1; len++) {
        const char *copy = len ? strndup(body, len) : NULL; /* no readable byte past the end */
        assert_int_equal(decode_limited(copy, len, 0, 0, &r, &e), ATROUS_INVALID_ARGUMENT);
        assert_null(r.storage);
        free((void *)copy);
    }
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) * 1e-9;
}

static void test_json_rejects_deep_nesting_quickly_without_recursion(void **state)
{
    enum { DEPTH = 100000 };
    static const char *const prefixes[] = {
        "",
        "{\"value\": ",
        "{\"value\": {\"data\": ",
        "{\"value\": {\"shape\": ",
        "{\"padding\": ",
        "{\"rate\": ",
        "{\"output_shape\": ",
        "{\"unknown\": ",
    };
    struct timespec start;
    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
        struct proto_buf doc = {0};
        struct atrous_request r;
        struct atrous_error e;
        proto_buf_printf(&doc, "%s", prefixes[p]);
        for (int i = 0; i < DEPTH; i++)
            proto_buf_put(&doc, "[", 1);
        for (int i = 0; i < DEPTH; i++)
            proto_buf_put(&doc, "]", 1);
        assert_int_equal(decode_limited(doc.data, doc.len, 0, 0, &r, &e), ATROUS_INVALID_ARGUMENT);
        proto_buf_free(&doc);
    }
    assert_true(seconds_since(&start) < 1.0);
}

static void test_json_enforces_the_configured_nesting_depth(void **state)
{
    struct atrous_request r;
    struct atrous_error e;
    const char *doc = DOC("[[[[1]]]]", T1, "[1,1,1,1]", "1", "\"SAME\"");
    (void)state;
    /* The object, then four arrays: depth 5. */
    assert_int_equal(decode_limited(doc, strlen(doc), 0, 5, &r, &e), ATROUS_OK);
    atrous_request_release(&r);
    assert_int_equal(decode_limited(doc, strlen(doc), 0, 4, &r, &e), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(e.field, "");
    assert_non_null(strstr(e.message, "nesting deeper than 4 levels"));
    assert_null(r.storage);
}

/* --- float text: format, and the round trip through the decoder ------------------------------ */

static void test_json_format_float_writes_the_shortest_round_trip_text(void **state)
{
    static const struct {
        uint32_t bits;
        const char *text;
    } cases[] = {
        {0x00000000, "0"},
        {0x80000000, "-0"},
        {0x3f800000, "1"},
        {0xbf000000, "-0.5"},
        {0x3dcccccd, "0.1"},
        {0x4b800000, "16777216"},
        {0x4cbebc20, "100000000"},
        {0x4e6e6b28, "1e9"},
        {0x4ceb79a3, "123456790"},
        {0x3727c5ac, "0.00001"},
        {0x358637bd, "1e-6"},
        {0x7f7fffff, "3.4028235e38"},
        {0xff7fffff, "-3.4028235e38"},
        {0x00800000, "1.1754944e-38"},
        {0x00000001, "1e-45"},
        {0x80000001, "-1e-45"},
        {0x007fffff, "1.1754942e-38"},
        {0x7f800000, "Infinity"},
        {0xff800000, "-Infinity"},
        {0x7fc00000, "NaN"},
        {0xffc00001, "NaN"},
        {0x7f800001, "NaN"},
        {0x3eaaaaab, "0.33333334"},
        {0xb8d1b717, "-0.0001"},
        {0x374f2049, "0.000012345678"},
        {0xb74f2049, "-0.000012345678"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        const size_t n = atrous_json_format_float(bits_float(cases[i].bits), buf);
        assert_string_equal(buf, cases[i].text);
        assert_int_equal(n, strlen(cases[i].text));
    }
}

/* Shortest: no text with fewer significant digits reads back to the float, and the text
 * given is the closest of that length (checked against printf's correctly rounded digits). */
static void test_json_format_float_matches_a_brute_force_shortest_search(void **state)
{
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    (void)state;
    for (int i = 0; i < 20000; i++) {
        char ours[32], ref[48];
        int digits;
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        const float f = bits_float((uint32_t)s);
        if (!isfinite(f) || f == 0)
            continue;
        atrous_json_format_float(f, ours);
        for (digits = 1; digits <= 9; digits++) {
            snprintf(ref, sizeof(ref), "%.*e", digits - 1, f);
            if (strtof(ref, NULL) == f)
                break;
        }
        assert_true(strtod(ours, NULL) == strtod(ref, NULL));
    }
}

/* Encodes random bit patterns of every class with atrous_json_encode_output, hands the data
 * array to the decoder as a request, and demands every float back bit for bit. */
static void test_json_float_round_trip_is_bit_exact_over_all_classes(void **state)
{
    enum { RANDOM = 1 << 19 };
    static const uint32_t special[] = {
        0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000,
        0x80800000, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
        0x7f800001, 0x7fffffff, 0x3f800000, 0x3f800001, 0x3f7fffff, 0x4b7fffff, 0x4b800001,
        0x3dcccccd, 0x00400000, 0x00000002, 0x34000000, 0x33ffffff,
    };
    const size_t nspecial = sizeof(special) / sizeof(special[0]);
    const size_t total = nspecial + 254 + RANDOM; /* + every power of two */
    float *in = malloc(total * sizeof(float));
    struct atrous_shape shape = {.rank = 1, .dims = {(int64_t)total}};
    struct atrous_error e;
    struct atrous_request r;
    struct proto_buf doc = {0};
    uint64_t s = 0xD1B54A32D192ED03ULL;
    char *text;
    size_t len, n = 0;
    (void)state;
    assert_non_null(in);
    for (size_t i = 0; i < nspecial; i++)
        in[n++] = bits_float(special[i]);
    for (uint32_t exponent = 1; exponent < 255; exponent++)
        in[n++] = bits_float(exponent << 23);
    while (n < total) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        in[n++] = bits_float((uint32_t)(s >> 17));
    }
    assert_int_equal(atrous_json_encode_output(&shape, in, &text, &len, &e), ATROUS_OK);
    assert_int_equal(strlen(text), len);
    const char *data = strstr(text, "\"data\":[");
    assert_non_null(data);
    data += strlen("\"data\":");
    proto_buf_printf(&doc,
                     "{\"value\": {\"shape\": [%zu], \"data\": %.*s}, \"filters\": " T1
                     ", \"output_shape\": [1], \"rate\": 1, \"padding\": \"SAME\"}",
                     total, (int)(text + len - 2 - data), data);
    assert_int_equal(decode_limited(doc.data, doc.len, 0, 0, &r, &e), ATROUS_OK);
    for (size_t i = 0; i < total; i++)
        assert_same_float(r.value[i], in[i]);
    atrous_request_release(&r);
    proto_buf_free(&doc);
    free(text);
    free(in);
}

/* --- encoders -------------------------------------------------------------------------------- */

static void test_json_encode_output_writes_shape_dtype_and_data(void **state)
{
    const struct atrous_shape shape = {.rank = 2, .dims = {2, 3}};
    const float data[] = {1.0f, -0.5f, NAN, -INFINITY, 0.1f, 3e38f};
    struct atrous_error e;
    char *text;
    size_t len;
    (void)state;
    assert_int_equal(atrous_json_encode_output(&shape, data, &text, &len, &e), ATROUS_OK);
    assert_string_equal(text, "{\"output\":{\"shape\":[2,3],\"dtype\":\"float32\",\"data\":"
                              "[1,-0.5,NaN,-Infinity,0.1,3e38]}}");
    assert_int_equal(len, strlen(text));
    free(text);
}

static void test_json_encode_output_handles_empty_and_scalar_tensors(void **state)
{
    const struct atrous_shape empty = {.rank = 4, .dims = {0, 4, 5, 3}};
    const struct atrous_shape scalar = {.rank = 0};
    const float one = 7.0f;
    struct atrous_error e;
    char *text;
    size_t len;
    (void)state;
    assert_int_equal(atrous_json_encode_output(&empty, NULL, &text, &len, &e), ATROUS_OK);
    assert_string_equal(text,
                        "{\"output\":{\"shape\":[0,4,5,3],\"dtype\":\"float32\",\"data\":[]}}");
    free(text);
    assert_int_equal(atrous_json_encode_output(&scalar, &one, &text, &len, &e), ATROUS_OK);
    assert_string_equal(text, "{\"output\":{\"shape\":[],\"dtype\":\"float32\",\"data\":[7]}}");
    free(text);
}

static void test_json_encode_output_refuses_sizes_that_overflow(void **state)
{
    const struct atrous_shape product = {
        .rank = 3, .dims = {INT64_C(1) << 31, INT64_C(1) << 31, INT64_C(1) << 31}};
    const struct atrous_shape text_size = {.rank = 1, .dims = {INT64_C(1) << 62}};
    const struct atrous_shape negative = {.rank = 2, .dims = {2, -1}};
    struct atrous_error e;
    char *text = (char *)"untouched";
    size_t len = 1;
    (void)state;
    /* The data pointer is never read: the size check comes first. */
    assert_int_equal(atrous_json_encode_output(&product, NULL, &text, &len, &e), ATROUS_TOO_LARGE);
    assert_null(text);
    assert_int_equal(len, 0);
    assert_int_equal(atrous_json_encode_output(&text_size, NULL, &text, &len, &e),
                     ATROUS_TOO_LARGE);
    assert_null(text);
    assert_int_equal(atrous_json_encode_output(&negative, NULL, &text, &len, &e),
                     ATROUS_INVALID_ARGUMENT);
}

static void test_json_encode_error_writes_the_four_members(void **state)
{
    size_t len;
    (void)state;
    char *text = atrous_json_encode_error("rate must be >= 1, got 0", "invalid_argument", "rate",
                                          "req-1", &len);
    assert_string_equal(text, "{\"error\":\"rate must be >= 1, got 0\",\"code\":"
                              "\"invalid_argument\",\"field\":\"rate\",\"request_id\":\"req-1\"}");
    assert_int_equal(len, strlen(text));
    free(text);
    /* An empty or absent field is null; strings are escaped and bad UTF-8 replaced. */
    text = atrous_json_encode_error("bad \"x\"\n\xff", "too_large", "", "id", &len);
    assert_string_equal(text, "{\"error\":\"bad \\\"x\\\"\\n\xef\xbf\xbd\",\"code\":\"too_large\","
                              "\"field\":null,\"request_id\":\"id\"}");
    free(text);
    text = atrous_json_encode_error("m", "internal", NULL, "id", &len);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    assert_non_null(doc);
    assert_true(json_is_null(json_object_get(doc, "field")));
    assert_string_equal(json_string_value(json_object_get(doc, "code")), "internal");
    json_decref(doc);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_decodes_every_conformance_case_flat),
        cmocka_unit_test(test_json_decodes_every_conformance_case_data_before_shape),
        cmocka_unit_test(test_json_decodes_every_conformance_case_nested),
        cmocka_unit_test(test_json_decodes_every_conformance_case_written_by_jansson),
        cmocka_unit_test(test_json_stores_tensors_aligned_in_request_storage),
        cmocka_unit_test(test_json_infers_shapes_of_empty_nested_arrays),
        cmocka_unit_test(test_json_accepts_a_scalar_tensor_as_rank_zero),
        cmocka_unit_test(test_json_rejects_ragged_nested_arrays),
        cmocka_unit_test(test_json_rejects_non_numbers_inside_tensors),
        cmocka_unit_test(test_json_rejects_tensor_ranks_above_the_maximum),
        cmocka_unit_test(test_json_rejects_bad_shape_dims),
        cmocka_unit_test(test_json_rejects_data_length_not_matching_shape),
        cmocka_unit_test(test_json_rejects_incomplete_or_odd_tensor_objects),
        cmocka_unit_test(test_json_enforces_max_tensor_elements_before_allocating),
        cmocka_unit_test(test_json_rejects_shape_the_body_cannot_fill_without_allocating),
        cmocka_unit_test(test_json_accepts_nan_and_infinity_tokens),
        cmocka_unit_test(test_json_rejects_malformed_numbers),
        cmocka_unit_test(test_json_accepts_every_json_number_form),
        cmocka_unit_test(test_json_rejects_finite_numbers_beyond_float_range),
        cmocka_unit_test(test_json_rounds_tiny_numbers_to_zero_or_subnormals),
        cmocka_unit_test(test_json_parses_numbers_as_the_rounded_double_cast_to_float),
        cmocka_unit_test(test_json_parses_hard_and_long_numbers_like_strtod),
        cmocka_unit_test(test_json_integers_accept_integral_numbers_in_any_notation),
        cmocka_unit_test(test_json_integers_reject_fractions_nan_and_other_types),
        cmocka_unit_test(test_json_integers_reject_values_outside_int64),
        cmocka_unit_test(test_json_output_shape_keeps_its_true_length_up_to_the_maximum),
        cmocka_unit_test(test_json_rejects_unknown_field_naming_it),
        cmocka_unit_test(test_json_rejects_duplicate_fields),
        cmocka_unit_test(test_json_rejects_missing_required_fields),
        cmocka_unit_test(test_json_accepts_the_three_dtypes_and_refuses_others),
        cmocka_unit_test(test_json_dtypes_round_numbers_to_each_tensors_dtype),
        cmocka_unit_test(test_json_number_out_of_a_dtypes_range_is_an_error),
        cmocka_unit_test(test_json_encode_output_rounds_to_the_dtype_and_says_the_precision),
        cmocka_unit_test(test_json_quotes_a_long_dtype_without_overflow),
        cmocka_unit_test(test_json_padding_must_be_a_string),
        cmocka_unit_test(test_json_padding_decodes_escapes_and_keeps_its_true_length),
        cmocka_unit_test(test_json_rejects_bad_escapes_and_lone_surrogates),
        cmocka_unit_test(test_json_rejects_invalid_utf8_anywhere_in_strings),
        cmocka_unit_test(test_json_rejects_unescaped_control_characters),
        cmocka_unit_test(test_json_rejects_empty_bodies),
        cmocka_unit_test(test_json_rejects_bodies_that_are_not_objects),
        cmocka_unit_test(test_json_rejects_trailing_garbage),
        cmocka_unit_test(test_json_rejects_embedded_nul_bytes),
        cmocka_unit_test(test_json_syntax_errors_name_the_byte_offset),
        cmocka_unit_test(test_json_every_truncation_of_a_valid_body_is_rejected),
        cmocka_unit_test(test_json_rejects_deep_nesting_quickly_without_recursion),
        cmocka_unit_test(test_json_enforces_the_configured_nesting_depth),
        cmocka_unit_test(test_json_format_float_writes_the_shortest_round_trip_text),
        cmocka_unit_test(test_json_format_float_matches_a_brute_force_shortest_search),
        cmocka_unit_test(test_json_float_round_trip_is_bit_exact_over_all_classes),
        cmocka_unit_test(test_json_encode_output_writes_shape_dtype_and_data),
        cmocka_unit_test(test_json_encode_output_handles_empty_and_scalar_tensors),
        cmocka_unit_test(test_json_encode_output_refuses_sizes_that_overflow),
        cmocka_unit_test(test_json_encode_error_writes_the_four_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
