/*
 * test_binary.c - proto/atrous_binary.h: the query string (every key once, integer lists,
 * limits, overflow) and the body (exact size, used in place, copied when misaligned), over the
 * whole conformance corpus and the edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_binary.h"
#include "atrous_dtype.h"
#include "proto_fixtures.h"

/* A good query for value [1, 2, 2, 1] and filters [1, 1, 1, 1]: 5 floats, 20 bytes. */
static void good_query(struct atrous_query_param p[5])
{
    p[0] = (struct atrous_query_param){"value_shape", "1,2,2,1"};
    p[1] = (struct atrous_query_param){"filters_shape", "1,1,1,1"};
    p[2] = (struct atrous_query_param){"output_shape", "1,2,2,1"};
    p[3] = (struct atrous_query_param){"rate", "1"};
    p[4] = (struct atrous_query_param){"padding", "SAME"};
}

static enum atrous_status query(const struct atrous_query_param *p, size_t n, size_t max_elements,
                                struct atrous_request *r, size_t *bytes, struct atrous_error *e)
{
    const struct atrous_decode_limits limits = {.max_tensor_elements = max_elements};
    struct atrous_binary_plan plan;
    enum atrous_status st = atrous_binary_decode_query(p, n, &limits, &plan, e);
    *r = plan.head;
    *bytes = plan.body_bytes;
    return st;
}

/* One decoded query: the request, the error and the implied body size. */
struct decoded {
    struct atrous_request r;
    struct atrous_error e;
    size_t bytes;
};

/* Decodes good_query() with the non-NULL entries of values (by parameter index) put in. */
static enum atrous_status query_with(const char *const values[5], size_t max_elements,
                                     struct decoded *d)
{
    struct atrous_query_param p[5];
    good_query(p);
    for (int i = 0; i < 5; i++)
        if (values[i])
            p[i].value = values[i];
    return query(p, 5, max_elements, &d->r, &d->bytes, &d->e);
}

/* Decodes the query with parameter `which` set to `value` and asserts the failure. */
static void assert_query_rejected_n(const struct atrous_query_param *p, size_t n,
                                    enum atrous_status status, const char *field,
                                    const char *message_part)
{
    struct atrous_request r;
    struct atrous_error e;
    size_t bytes = 99;
    const enum atrous_status st = query(p, n, 0, &r, &bytes, &e);
    if (st != status)
        fail_msg("status %d (%s: %s), want %d", st, e.field, e.message, status);
    assert_string_equal(e.field, field);
    if (strstr(e.message, message_part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", e.message, message_part);
    assert_int_equal(bytes, 0);
    assert_int_equal(r.value_shape.rank, 0);
    assert_null(r.storage);
}

static void assert_param_rejected(int which, const char *value, enum atrous_status status,
                                  const char *field, const char *message_part)
{
    struct atrous_query_param p[5];
    good_query(p);
    p[which].value = value;
    assert_query_rejected_n(p, 5, status, field, message_part);
}

static void test_binary_decodes_every_conformance_case_in_place(void **state)
{
    size_t count;
    (void)state;
    struct proto_case *cases = proto_cases_load(&count);
    assert_true(count >= 94);
    for (size_t i = 0; i < count; i++) {
        const struct corpus_case *c = &cases[i].c;
        struct proto_query q;
        struct proto_buf body = {0};
        struct atrous_request r;
        struct atrous_error e;
        size_t bytes;
        proto_case_query(c, &q);
        proto_case_body(c, &body);
        assert_int_equal(query(q.params, 5, 0, &r, &bytes, &e), ATROUS_OK);
        assert_int_equal(bytes, body.len);
        if (atrous_binary_decode_request(q.params, 5, body.data, body.len, NULL, &r, &e) !=
            ATROUS_OK)
            fail_msg("%s: %s", c->name, e.message);
        proto_assert_request_is_case(&r, c);
        /* realloc'd memory is aligned, so nothing was copied. */
        assert_null(r.storage);
        assert_ptr_equal(r.value, c->value_count ? (const float *)body.data : NULL);
        assert_ptr_equal(r.filters, (const float *)body.data + c->value_count);
        atrous_request_release(&r);
        proto_buf_free(&body);
    }
    proto_cases_free(cases, count);
}

static void test_binary_copies_a_misaligned_body_into_aligned_storage(void **state)
{
    const float floats[5] = {1.5f, -2.0f, 3.25f, 4.0f, 0.5f};
    struct atrous_query_param p[5];
    struct atrous_request r;
    struct atrous_error e;
    char *raw = malloc(sizeof(floats) + 1);
    (void)state;
    assert_non_null(raw);
    good_query(p);
    memcpy(raw + 1, floats, sizeof(floats));
    assert_int_equal(atrous_binary_decode_request(p, 5, raw + 1, sizeof(floats), NULL, &r, &e),
                     ATROUS_OK);
    assert_non_null(r.storage);
    assert_int_equal((uintptr_t)r.value % ATROUS_TENSOR_ALIGN, 0);
    assert_memory_equal(r.value, floats, 4 * sizeof(float));
    assert_memory_equal(r.filters, floats + 4, sizeof(float));
    free(raw); /* the request no longer depends on the body */
    assert_true(r.filters[0] == 0.5f);
    atrous_request_release(&r);
    assert_null(r.storage);
}

static void test_binary_rejects_a_body_of_the_wrong_size(void **state)
{
    float floats[6] = {0};
    struct atrous_query_param p[5];
    struct atrous_request r;
    struct atrous_error e;
    (void)state;
    good_query(p);
    const size_t wrong[] = {0, 4, 19, 21, 24};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        char want[64];
        assert_int_equal(atrous_binary_decode_request(p, 5, floats, wrong[i], NULL, &r, &e),
                         ATROUS_INVALID_ARGUMENT);
        assert_string_equal(e.field, "body");
        snprintf(want, sizeof(want), "the body has %zu bytes", wrong[i]);
        assert_non_null(strstr(e.message, want));
        assert_non_null(strstr(e.message, "need 20"));
        assert_null(r.value);
        assert_int_equal(r.value_shape.rank, 0);
    }
}

static void test_binary_query_reports_the_body_size_it_implies(void **state)
{
    struct atrous_query_param p[5];
    struct decoded d;
    (void)state;
    assert_int_equal(query_with((const char *[5]){"2,33,47,24", "3,3,20,24"}, 0, &d), ATROUS_OK);
    assert_int_equal(d.bytes, 4 * (2 * 33 * 47 * 24 + 3 * 3 * 20 * 24));
    assert_int_equal(d.r.value_shape.rank, 4);
    assert_int_equal(d.r.value_shape.dims[1], 33);
    assert_int_equal(d.r.filters_shape.dims[2], 20);
    assert_int_equal(d.r.output_shape_len, 4);
    assert_int_equal(d.r.rate, 1);
    assert_string_equal(d.r.padding, "SAME");
    assert_int_equal(d.r.padding_len, 4);
    /* Parameter order does not matter. */
    good_query(p);
    const struct atrous_query_param swapped[5] = {p[4], p[2], p[0], p[3], p[1]};
    assert_int_equal(query(swapped, 5, 0, &d.r, &d.bytes, &d.e), ATROUS_OK);
    assert_int_equal(d.bytes, 20);
}

static void test_binary_rejects_an_unknown_key_naming_it(void **state)
{
    struct atrous_query_param p[6];
    (void)state;
    good_query(p);
    p[5] = (struct atrous_query_param){"padding_mode", "SAME"};
    assert_query_rejected_n(p, 6, ATROUS_INVALID_ARGUMENT, "padding_mode",
                            "unknown query parameter \"padding_mode\" (allowed: value_shape, "
                            "filters_shape, output_shape, rate, padding, dtype, output_dtype, "
                            "precision)");
    p[5] = (struct atrous_query_param){"", "1"};
    assert_query_rejected_n(p, 6, ATROUS_INVALID_ARGUMENT, "", "unknown query parameter \"\"");
    p[5] = (struct atrous_query_param){"Rate", "1"};
    assert_query_rejected_n(p, 6, ATROUS_INVALID_ARGUMENT, "Rate", "unknown");
}

static void test_binary_rejects_a_repeated_key_naming_it(void **state)
{
    static const char *const fields[5] = {"value", "filters", "output_shape", "rate", "padding"};
    struct atrous_query_param p[6];
    (void)state;
    for (int k = 0; k < 5; k++) {
        good_query(p);
        p[5] = p[k];
        assert_query_rejected_n(p, 6, ATROUS_INVALID_ARGUMENT, fields[k],
                                "is given more than once");
    }
}

static void test_binary_rejects_a_missing_key_naming_it(void **state)
{
    static const char *const fields[5] = {"value", "filters", "output_shape", "rate", "padding"};
    static const char *const keys[5] = {"value_shape", "filters_shape", "output_shape", "rate",
                                        "padding"};
    struct atrous_query_param p[5], rest[4];
    (void)state;
    for (int k = 0; k < 5; k++) {
        char want[64];
        size_t n = 0;
        good_query(p);
        for (int i = 0; i < 5; i++)
            if (i != k)
                rest[n++] = p[i];
        snprintf(want, sizeof(want), "missing query parameter %s", keys[k]);
        assert_query_rejected_n(rest, n, ATROUS_INVALID_ARGUMENT, fields[k], want);
    }
    assert_query_rejected_n(NULL, 0, ATROUS_INVALID_ARGUMENT, "value", "missing");
}

static void test_binary_rejects_a_key_without_a_value(void **state)
{
    (void)state;
    assert_param_rejected(0, NULL, ATROUS_INVALID_ARGUMENT, "value", "has no value");
    assert_param_rejected(4, NULL, ATROUS_INVALID_ARGUMENT, "padding", "has no value");
}

static void test_binary_rejects_malformed_integer_lists(void **state)
{
    static const char *const bad[] = {"1,,2", "1,",  ",1",  " 1",   "1 ,2", "1, 2", "+1", "1.0",
                                      "a",    "0x1", "1;2", "1,2,", "-",    "--1",  "1-", "1e3"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_param_rejected(0, bad[i], ATROUS_INVALID_ARGUMENT, "value",
                              "must be comma-separated integers");
        assert_param_rejected(1, bad[i], ATROUS_INVALID_ARGUMENT, "filters", "filters_shape=");
        assert_param_rejected(2, bad[i], ATROUS_INVALID_ARGUMENT, "output_shape", "output_shape=");
        assert_param_rejected(3, bad[i], ATROUS_INVALID_ARGUMENT, "rate", "rate=");
    }
    assert_param_rejected(0, "1,,2", ATROUS_INVALID_ARGUMENT, "value", "item 2 has an empty item");
    assert_param_rejected(3, "", ATROUS_INVALID_ARGUMENT, "rate", "rate is empty");
    assert_param_rejected(3, "1,2", ATROUS_INVALID_ARGUMENT, "rate", "more than 1 items");
}

static void test_binary_rejects_integers_outside_int64(void **state)
{
    (void)state;
    assert_param_rejected(3, "9223372036854775808", ATROUS_INVALID_ARGUMENT, "rate",
                          "outside the 64-bit integer range");
    assert_param_rejected(3, "-9223372036854775809", ATROUS_INVALID_ARGUMENT, "rate",
                          "outside the 64-bit integer range");
    assert_param_rejected(2, "1,99999999999999999999999,1,1", ATROUS_INVALID_ARGUMENT,
                          "output_shape", "item 2 has a number outside");
    assert_param_rejected(0, "18446744073709551617", ATROUS_INVALID_ARGUMENT, "value",
                          "outside the 64-bit integer range");
}

static void test_binary_accepts_int64_extremes_and_leading_zeros(void **state)
{
    struct decoded d;
    (void)state;
    assert_int_equal(query_with((const char *[5]){"0001,02,2,1", NULL,
                                                  "9223372036854775807,-9223372036854775808,-1,0",
                                                  "-9223372036854775808"},
                                0, &d),
                     ATROUS_OK);
    assert_int_equal(d.r.value_shape.dims[0], 1);
    assert_int_equal(d.r.value_shape.dims[1], 2);
    assert_true(d.r.output_shape[0] == INT64_MAX);
    assert_true(d.r.output_shape[1] == INT64_MIN);
    assert_int_equal(d.r.output_shape[2], -1);
    assert_true(d.r.rate == INT64_MIN);
}

static void test_binary_rejects_negative_tensor_dims(void **state)
{
    (void)state;
    assert_param_rejected(0, "1,-2,2,1", ATROUS_INVALID_ARGUMENT, "value",
                          "value shape [1, -2, 2, 1] has a negative dimension");
    assert_param_rejected(1, "-1,1,1,1", ATROUS_INVALID_ARGUMENT, "filters", "negative");
}

static void test_binary_rejects_lists_longer_than_the_maximum(void **state)
{
    char list[512] = "";
    struct decoded d;
    (void)state;
    assert_param_rejected(0, "1,1,1,1,1,1,1,1,1", ATROUS_INVALID_ARGUMENT, "value",
                          "has more than 8 items");
    for (int i = 0; i < ATROUS_OUTPUT_SHAPE_LEN_MAX; i++)
        strcat(list, i ? ",7" : "7");
    assert_int_equal(query_with((const char *[5]){[2] = list}, 0, &d), ATROUS_OK);
    assert_int_equal(d.r.output_shape_len, ATROUS_OUTPUT_SHAPE_LEN_MAX);
    strcat(list, ",7");
    assert_param_rejected(2, list, ATROUS_INVALID_ARGUMENT, "output_shape", "more than 64 items");
}

static void test_binary_empty_lists_are_rank_zero(void **state)
{
    struct decoded d;
    struct atrous_problem prob;
    (void)state;
    assert_int_equal(query_with((const char *[5]){[0] = "", [2] = ""}, 0, &d), ATROUS_OK);
    assert_int_equal(d.r.value_shape.rank, 0);
    assert_int_equal(d.r.output_shape_len, 0);
    assert_int_equal(d.bytes, 8); /* a rank-0 tensor holds one element */
    assert_int_equal(atrous_request_validate(&d.r, NULL, &prob, &d.e), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(d.e.field, "value");
}

static void test_binary_sizes_that_overflow_are_too_large(void **state)
{
    struct atrous_query_param p[5];
    struct decoded d;
    (void)state;
    /* The element count overflows size_t. */
    assert_param_rejected(0, "4294967296,4294967296,16", ATROUS_TOO_LARGE, "value",
                          "more elements than fit");
    /* Each count fits, their bytes do not. */
    assert_param_rejected(0, "4611686018427387904", ATROUS_TOO_LARGE, "body", "larger than memory");
    good_query(p);
    p[0].value = "2305843009213693952";
    p[1].value = "2305843009213693952";
    assert_query_rejected_n(p, 5, ATROUS_TOO_LARGE, "body", "larger than memory");
    /* A zero dim makes even huge ones empty. */
    assert_int_equal(
        query_with((const char *[5]){"0,9223372036854775807,9223372036854775807,1"}, 0, &d),
        ATROUS_OK);
    assert_int_equal(d.bytes, 4);
}

static void test_binary_enforces_max_tensor_elements(void **state)
{
    struct decoded d;
    (void)state;
    assert_int_equal(query_with((const char *[5]){NULL}, 4, &d), ATROUS_OK);
    assert_int_equal(query_with((const char *[5]){NULL}, 3, &d), ATROUS_TOO_LARGE);
    assert_string_equal(d.e.field, "value");
    assert_non_null(strstr(d.e.message, "value shape [1, 2, 2, 1] has 4 elements, over the "
                                        "limit of 3"));
    assert_int_equal(query_with((const char *[5]){"1,1,1,1", "2,2,1,1"}, 3, &d), ATROUS_TOO_LARGE);
    assert_string_equal(d.e.field, "filters");
}

static void test_binary_keeps_padding_as_given(void **state)
{
    char long_padding[200];
    struct decoded d;
    struct atrous_problem prob;
    (void)state;
    assert_int_equal(query_with((const char *[5]){[4] = "same"}, 0, &d), ATROUS_OK);
    assert_string_equal(d.r.padding, "same");
    assert_int_equal(atrous_request_validate(&d.r, NULL, &prob, &d.e), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(d.e.field, "padding");
    memset(long_padding, 'V', sizeof(long_padding) - 1);
    long_padding[sizeof(long_padding) - 1] = '\0';
    assert_int_equal(query_with((const char *[5]){[4] = long_padding}, 0, &d), ATROUS_OK);
    assert_int_equal(d.r.padding_len, sizeof(long_padding) - 1);
    assert_int_equal(strlen(d.r.padding), ATROUS_PADDING_MAX);
    assert_int_equal(query_with((const char *[5]){[4] = ""}, 0, &d), ATROUS_OK);
    assert_int_equal(d.r.padding_len, 0);
}

static void test_binary_empty_tensors_have_null_data(void **state)
{
    const float filters[1] = {2.0f};
    struct atrous_query_param p[5];
    struct atrous_request r;
    struct atrous_error e;
    (void)state;
    good_query(p);
    p[0].value = "0,2,2,1";
    p[2].value = "0,2,2,1";
    assert_int_equal(atrous_binary_decode_request(p, 5, filters, sizeof(filters), NULL, &r, &e),
                     ATROUS_OK);
    assert_null(r.value);
    assert_ptr_equal(r.filters, filters);
    atrous_request_release(&r);
}

static void test_binary_format_shape_writes_the_output_shape_header(void **state)
{
    const struct atrous_shape shape = {.rank = 4, .dims = {1, 4, 4, 3}};
    const struct atrous_shape big = {.rank = 2, .dims = {INT64_MAX, -5}};
    const struct atrous_shape scalar = {.rank = 0};
    char buf[64];
    (void)state;
    atrous_binary_format_shape(&shape, buf, sizeof(buf));
    assert_string_equal(buf, "1,4,4,3");
    atrous_binary_format_shape(&big, buf, sizeof(buf));
    assert_string_equal(buf, "9223372036854775807,-5");
    atrous_binary_format_shape(&scalar, buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* Too small: cut, still terminated, nothing written past size. */
    memset(buf, 'x', sizeof(buf));
    atrous_binary_format_shape(&shape, buf, 4);
    assert_string_equal(buf, "1,4");
    assert_int_equal(buf[4], 'x');
    atrous_binary_format_shape(&shape, buf, 0);
    assert_int_equal(buf[0], '1');
}

/* dtype=bfloat16 / float16: the body is 2 bytes per element, widened exactly into storage the
 * request owns (at any alignment); output_dtype defaults to dtype; precision is parsed. */
static void test_binary_half_dtypes_take_two_bytes_per_element_widened_exactly(void **state)
{
    (void)state;
    static const char *const names[2] = {"bfloat16", "float16"};
    const enum atrous_dtype types[2] = {ATROUS_DTYPE_BFLOAT16, ATROUS_DTYPE_FLOAT16};
    for (int t = 0; t < 2; t++) {
        struct atrous_query_param p[8];
        struct atrous_binary_plan plan;
        struct atrous_request r;
        struct atrous_error e;
        good_query(p);
        p[5] = (struct atrous_query_param){"dtype", names[t]};
        p[6] = (struct atrous_query_param){"precision", "bf16"};
        assert_int_equal(atrous_binary_decode_query(p, 7, NULL, &plan, &e), ATROUS_OK);
        assert_int_equal(plan.body_bytes, 10); /* 5 elements of 2 bytes */
        assert_int_equal(plan.head.value_dtype, types[t]);
        assert_int_equal(plan.head.filters_dtype, types[t]);
        assert_int_equal(plan.head.output_dtype, types[t]);
        assert_int_equal(plan.head.precision, ATROUS_PRECISION_BF16);
        const float values[5] = {1.0f, -2.5f, 0.099609375f, 65504.0f, 0.0f};
        unsigned char body[11];
        for (int i = 0; i < 5; i++) {
            const uint16_t h = types[t] == ATROUS_DTYPE_BFLOAT16 ? atrous_f32_to_bf16(values[i])
                                                                 : atrous_f32_to_f16(values[i]);
            body[1 + 2 * i] = (unsigned char)h;
            body[2 + 2 * i] = (unsigned char)(h >> 8);
        }
        /* Odd address: the 2-byte elements are read at any alignment. */
        assert_int_equal(atrous_binary_decode_body(&plan, body + 1, 10, &r, &e), ATROUS_OK);
        assert_non_null(r.storage);
        for (int i = 0; i < 4; i++)
            assert_true(r.value[i] == atrous_dtype_round(types[t], values[i]));
        assert_true(r.filters[0] == 0.0f);
        atrous_request_release(&r);
        /* In the caller's buffer with room for the widened tensors: the same values, no
         * allocation; without the room, a copy as above. */
        float room[5];
        memcpy(room, body + 1, 10);
        assert_int_equal(atrous_binary_decode_body_in_place(&plan, room, 10, sizeof(room), &r, &e),
                         ATROUS_OK);
        assert_null(r.storage);
        assert_ptr_equal(r.value, room);
        for (int i = 0; i < 4; i++)
            assert_true(r.value[i] == atrous_dtype_round(types[t], values[i]));
        atrous_request_release(&r);
        memcpy(room, body + 1, 10);
        assert_int_equal(atrous_binary_decode_body_in_place(&plan, room, 10, 19, &r, &e),
                         ATROUS_OK);
        assert_non_null(r.storage);
        assert_true(r.value[1] == atrous_dtype_round(types[t], values[1]));
        atrous_request_release(&r);
        /* A float32-sized body is the wrong size, and says why. */
        unsigned char big[20] = {0};
        assert_int_equal(atrous_binary_decode_body(&plan, big, 20, &r, &e),
                         ATROUS_INVALID_ARGUMENT);
        assert_non_null(strstr(e.message, "2 bytes per"));
        assert_non_null(strstr(e.message, names[t]));
    }
}

static void test_binary_output_dtype_overrides_and_other_dtypes_are_refused(void **state)
{
    (void)state;
    struct atrous_query_param p[8];
    struct atrous_binary_plan plan;
    struct atrous_error e;
    good_query(p);
    p[5] = (struct atrous_query_param){"dtype", "float16"};
    p[6] = (struct atrous_query_param){"output_dtype", "float32"};
    assert_int_equal(atrous_binary_decode_query(p, 7, NULL, &plan, &e), ATROUS_OK);
    assert_int_equal(plan.head.value_dtype, ATROUS_DTYPE_FLOAT16);
    assert_int_equal(plan.head.output_dtype, ATROUS_DTYPE_FLOAT32);
    assert_int_equal(plan.head.precision, ATROUS_PRECISION_F32);
    good_query(p);
    p[5] = (struct atrous_query_param){"dtype", "float64"};
    assert_query_rejected_n(p, 6, ATROUS_INVALID_ARGUMENT, "dtype",
                            "the accepted dtypes are float32, bfloat16, float16; cast");
    p[5] = (struct atrous_query_param){"output_dtype", "int8"};
    assert_query_rejected_n(p, 6, ATROUS_INVALID_ARGUMENT, "output_dtype", "cast");
    p[5] = (struct atrous_query_param){"precision", "tf32"};
    assert_query_rejected_n(p, 6, ATROUS_INVALID_ARGUMENT, "precision", "f32");
    p[5] = (struct atrous_query_param){"dtype", NULL};
    assert_query_rejected_n(p, 6, ATROUS_INVALID_ARGUMENT, "dtype", "has no value");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_decodes_every_conformance_case_in_place),
        cmocka_unit_test(test_binary_copies_a_misaligned_body_into_aligned_storage),
        cmocka_unit_test(test_binary_rejects_a_body_of_the_wrong_size),
        cmocka_unit_test(test_binary_query_reports_the_body_size_it_implies),
        cmocka_unit_test(test_binary_rejects_an_unknown_key_naming_it),
        cmocka_unit_test(test_binary_half_dtypes_take_two_bytes_per_element_widened_exactly),
        cmocka_unit_test(test_binary_output_dtype_overrides_and_other_dtypes_are_refused),
        cmocka_unit_test(test_binary_rejects_a_repeated_key_naming_it),
        cmocka_unit_test(test_binary_rejects_a_missing_key_naming_it),
        cmocka_unit_test(test_binary_rejects_a_key_without_a_value),
        cmocka_unit_test(test_binary_rejects_malformed_integer_lists),
        cmocka_unit_test(test_binary_rejects_integers_outside_int64),
        cmocka_unit_test(test_binary_accepts_int64_extremes_and_leading_zeros),
        cmocka_unit_test(test_binary_rejects_negative_tensor_dims),
        cmocka_unit_test(test_binary_rejects_lists_longer_than_the_maximum),
        cmocka_unit_test(test_binary_empty_lists_are_rank_zero),
        cmocka_unit_test(test_binary_sizes_that_overflow_are_too_large),
        cmocka_unit_test(test_binary_enforces_max_tensor_elements),
        cmocka_unit_test(test_binary_keeps_padding_as_given),
        cmocka_unit_test(test_binary_empty_tensors_have_null_data),
        cmocka_unit_test(test_binary_format_shape_writes_the_output_shape_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
