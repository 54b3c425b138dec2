/*
 * test_op.c - lib/atrous_op.h beyond the corpus: ranks and signs, TensorFlow's order when
 * several things are wrong, absurd rates, size limits, padding strings compared by length,
 * and the pads and sizes a validated problem carries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "atrous_op.h"
#include "corpus.h"

/* One call's arguments, rank-4 value and filters unless value_rank/filters_rank say else. */
struct args {
    int64_t value[ATROUS_MAX_RANK];
    int value_rank;
    int64_t filters[ATROUS_MAX_RANK];
    int filters_rank;
    int64_t output[ATROUS_MAX_RANK + 1];
    size_t output_len;
    int64_t rate;
    const char *padding;
    size_t padding_len;
    const struct atrous_limits *limits;
};

/* A valid call: value [1, 4, 4, 2], filters [3, 3, 3, 2], output [1, 4, 4, 3], rate 2, SAME. */
static struct args base(void)
{
    struct args a = {
        .value = {1, 4, 4, 2},
        .value_rank = 4,
        .filters = {3, 3, 3, 2},
        .filters_rank = 4,
        .output = {1, 4, 4, 3},
        .output_len = 4,
        .rate = 2,
        .padding = "SAME",
        .padding_len = 4,
    };
    return a;
}

static enum atrous_status validate(const struct args *a, struct atrous_problem *p,
                                   struct atrous_error *err)
{
    struct atrous_shape value, filters;
    assert_int_equal(atrous_shape_make(&value, a->value, a->value_rank, NULL), ATROUS_OK);
    assert_int_equal(atrous_shape_make(&filters, a->filters, a->filters_rank, NULL), ATROUS_OK);
    return atrous_op_validate(&value, &filters, a->output, a->output_len, a->rate, a->padding,
                              a->padding_len, a->limits, p, err);
}

/* Validates a and checks that it fails with status, naming field. */
static void expect_rejected(const struct args *a, enum atrous_status status, const char *field,
                            struct atrous_error *err)
{
    struct atrous_problem p;
    enum atrous_status st = validate(a, &p, err);
    if (st != status || strcmp(err->field, field) != 0)
        fail_msg("expected %s naming '%s', got %s naming '%s': %s", atrous_status_code(status),
                 field, atrous_status_code(st), err->field, err->message);
    assert_int_equal(err->status, status);
}

static void expect_message_has(const struct atrous_error *err, const char *text)
{
    if (strstr(err->message, text) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err->message, text);
}

static void test_op_accepts_a_valid_call_and_derives_every_size(void **state)
{
    struct args a = base();
    struct atrous_problem p;
    struct atrous_error err;
    struct atrous_shape out;
    (void)state;
    a.value[0] = 2, a.value[1] = 5, a.value[2] = 7, a.value[3] = 3;
    a.filters[0] = 3, a.filters[1] = 4, a.filters[2] = 6, a.filters[3] = 3;
    a.output[0] = 2, a.output[1] = 5, a.output[2] = 7, a.output[3] = 6;
    assert_int_equal(validate(&a, &p, &err), ATROUS_OK);
    assert_int_equal(err.status, ATROUS_OK);
    assert_int_equal(p.batch, 2);
    assert_int_equal(p.in_h, 5);
    assert_int_equal(p.in_w, 7);
    assert_int_equal(p.in_c, 3);
    assert_int_equal(p.filter_h, 3);
    assert_int_equal(p.filter_w, 4);
    assert_int_equal(p.out_h, 5);
    assert_int_equal(p.out_w, 7);
    assert_int_equal(p.out_c, 6);
    assert_int_equal(p.rate, 2);
    assert_int_equal(p.padding, ATROUS_PADDING_SAME);
    assert_int_equal(p.value_elements, 2 * 5 * 7 * 3);
    assert_int_equal(p.filters_elements, 3 * 4 * 6 * 3);
    assert_int_equal(p.output_elements, 2 * 5 * 7 * 6);
    atrous_problem_output_shape(&p, &out);
    assert_int_equal(out.rank, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(out.dims[i], a.output[i]);
    /* 2 * N*H*W*IC * KH*KW*OC */
    assert_true(atrous_problem_flops(&p) == 2.0 * 210 * 3 * 4 * 6);
    assert_string_equal(atrous_padding_name(p.padding), "SAME");
    assert_string_equal(atrous_padding_name(ATROUS_PADDING_VALID), "VALID");
}

static void test_op_pads_match_the_corpus(void **state)
{
    char **paths = NULL;
    size_t count = 0, checked = 0;
    char why[512];
    (void)state;
    if (corpus_list("valid", &paths, &count, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    for (size_t i = 0; i < count; i++) {
        struct corpus_case c;
        struct atrous_problem p;
        struct atrous_error err;
        if (corpus_load(paths[i], &c, why, sizeof(why)) != 0)
            fail_msg("%s", why);
        assert_true(c.has_pads);
        assert_int_equal(atrous_op_validate(&c.value_shape, &c.filters_shape, c.output_shape,
                                            c.output_shape_len, c.rate, c.padding, c.padding_len,
                                            NULL, &p, &err),
                         ATROUS_OK);
        const int64_t got[4] = {p.pad_top, p.pad_bottom, p.pad_left, p.pad_right};
        for (int k = 0; k < 4; k++)
            if (got[k] != c.pads_tblr[k])
                fail_msg("%s: pad %d is %lld, the corpus says %lld", c.name, k, (long long)got[k],
                         (long long)c.pads_tblr[k]);
        checked++;
        corpus_case_free(&c);
    }
    corpus_paths_free(paths, count);
    assert_int_equal(checked, count);
}

static void test_op_same_puts_the_odd_pad_at_bottom_right(void **state)
{
    /* SEMANTICS.md section 1: 2x2 at rate 1 pads 0/1, at rate 3 1/2; 4x4 at rate 2 3/3. */
    static const struct {
        int64_t k, rate, top, bottom;
    } cases[] = {{2, 1, 0, 1}, {2, 3, 1, 2}, {4, 2, 3, 3}, {2, 2, 1, 1}, {5, 3, 6, 6}};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct args a = base();
        struct atrous_problem p;
        struct atrous_error err;
        a.filters[0] = a.filters[1] = cases[i].k;
        a.rate = cases[i].rate;
        assert_int_equal(validate(&a, &p, &err), ATROUS_OK);
        assert_int_equal(p.pad_top, cases[i].top);
        assert_int_equal(p.pad_bottom, cases[i].bottom);
        assert_int_equal(p.pad_left, cases[i].top);
        assert_int_equal(p.pad_right, cases[i].bottom);
    }
}

static void test_op_valid_padding_has_no_pads(void **state)
{
    struct args a = base();
    struct atrous_problem p;
    struct atrous_error err;
    (void)state;
    a.padding = "VALID";
    a.padding_len = 5;
    a.output[1] = 4 + 2 * 2;
    a.output[2] = 4 + 2 * 2;
    assert_int_equal(validate(&a, &p, &err), ATROUS_OK);
    assert_int_equal(p.padding, ATROUS_PADDING_VALID);
    assert_int_equal(p.pad_top + p.pad_bottom + p.pad_left + p.pad_right, 0);
    assert_int_equal(p.out_h, 8);
}

static void test_op_rejects_value_and_filters_not_rank_4(void **state)
{
    struct atrous_error err;
    (void)state;
    for (int rank = 0; rank <= ATROUS_MAX_RANK; rank++) {
        if (rank == 4)
            continue;
        struct args a = base();
        a.value_rank = rank;
        expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "value", &err);
        a = base();
        a.filters_rank = rank;
        expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "filters", &err);
    }
    struct args a = base();
    a.value_rank = 3;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "value", &err);
    expect_message_has(&err, "[1, 4, 4]");
}

static void test_op_rejects_negative_dims_naming_the_argument(void **state)
{
    struct atrous_error err;
    (void)state;
    for (int i = 0; i < 4; i++) {
        struct args a = base();
        a.value[i] = -1;
        expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "value", &err);
        a = base();
        a.filters[i] = -3;
        expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "filters", &err);
        a = base();
        a.output[i] = -4;
        expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
        expect_message_has(&err, "-4");
    }
}

static void test_op_rejects_zero_filter_dims(void **state)
{
    struct atrous_error err;
    (void)state;
    for (int i = 0; i < 4; i++) {
        struct args a = base();
        a.filters[i] = 0;
        expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "filters", &err);
    }
}

static void test_op_accepts_an_empty_batch(void **state)
{
    struct args a = base();
    struct atrous_problem p;
    struct atrous_error err;
    (void)state;
    a.value[0] = 0;
    a.output[0] = 0;
    assert_int_equal(validate(&a, &p, &err), ATROUS_OK);
    assert_int_equal(p.batch, 0);
    assert_int_equal(p.value_elements, 0);
    assert_int_equal(p.output_elements, 0);
    assert_int_equal(p.out_h, 4);
    assert_int_equal(p.out_c, 3);
    /* ... and N = 0 is still checked against output_shape[0]. */
    a.output[0] = 1;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
}

static void test_op_rejects_rate_below_one(void **state)
{
    static const int64_t rates[] = {0, -1, -2, INT64_MIN};
    struct atrous_error err;
    (void)state;
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        struct args a = base();
        a.rate = rates[i];
        expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "rate", &err);
        expect_message_has(&err, "`rate` cannot be less than one");
    }
}

static void test_op_rejects_rate_2147483647_with_3x3_filter_as_too_large(void **state)
{
    struct args a = base();
    struct atrous_error err;
    (void)state;
    struct atrous_problem p;
    a.rate = 2147483647;
    expect_rejected(&a, ATROUS_TOO_LARGE, "rate", &err);
    expect_message_has(&err, "2147483647");
    /* VALID with the output_shape the shape rule wants (4294967298 per side): too large as
     * well, though here the output_shape is as much at fault as the rate. */
    a.padding = "VALID";
    a.padding_len = 5;
    a.output[1] = a.output[2] = 4 + 2 * (int64_t)2147483647;
    assert_int_equal(validate(&a, &p, &err), ATROUS_TOO_LARGE);
}

static void test_op_rejects_rate_1356819205_with_batch_10_as_invalid(void **state)
{
    /* TF's regression test for issue #46915: N * rate^2 overflows int64 in SpaceToBatchND,
     * which TF reports as InvalidArgument. */
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.value[0] = 10, a.value[1] = 1, a.value[2] = 1, a.value[3] = 1;
    a.filters[0] = 1, a.filters[1] = 1, a.filters[2] = 1, a.filters[3] = 1;
    a.output[0] = 1, a.output[1] = 1, a.output[2] = 1, a.output[3] = 1;
    a.rate = 1356819205;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "rate", &err);
    expect_message_has(&err, "1356819205");
    expect_message_has(&err, "[10, 1, 1, 1]");
}

static void test_op_rejects_multi_terabyte_output_before_allocating(void **state)
{
    /* value [1, 1000, 1000, 1] (4 MB) and filters [1, 1, 10^6, 1] (4 MB) ask for an output of
     * 10^12 floats (4 TB). Only shapes are passed: nothing is, or could have been, allocated. */
    const struct atrous_limits limits = {.max_input_elements = 1 << 24,
                                         .max_output_elements = 1 << 26};
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.value[1] = a.value[2] = 1000, a.value[3] = 1;
    a.filters[0] = a.filters[1] = 1, a.filters[2] = 1000000, a.filters[3] = 1;
    a.output[1] = a.output[2] = 1000, a.output[3] = 1000000;
    a.rate = 1;
    a.limits = &limits;
    expect_rejected(&a, ATROUS_TOO_LARGE, "output_shape", &err);
    expect_message_has(&err, "[1, 1000, 1000, 1000000]");
    /* Without configured limits the hard ceiling still rejects it. */
    a.limits = NULL;
    expect_rejected(&a, ATROUS_TOO_LARGE, "output_shape", &err);
}

static void test_op_output_element_overflow_is_too_large(void **state)
{
    /* value 2^46 elements fits in size_t, the output 2^86 does not. */
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.value[1] = a.value[2] = (int64_t)1 << 23, a.value[3] = 1;
    a.filters[0] = a.filters[1] = 1, a.filters[2] = (int64_t)1 << 40, a.filters[3] = 1;
    a.output[1] = a.output[2] = (int64_t)1 << 23, a.output[3] = (int64_t)1 << 40;
    a.rate = 1;
    expect_rejected(&a, ATROUS_TOO_LARGE, "output_shape", &err);
}

static void test_op_limits_name_the_tensor_over_them(void **state)
{
    struct atrous_limits limits = {.max_input_elements = 31, .max_output_elements = 0};
    struct args a = base(); /* value 32 elements, filters 54, output 48 */
    struct atrous_problem p;
    struct atrous_error err;
    (void)state;
    a.limits = &limits;
    expect_rejected(&a, ATROUS_TOO_LARGE, "value", &err);
    limits.max_input_elements = 53;
    expect_rejected(&a, ATROUS_TOO_LARGE, "filters", &err);
    limits.max_input_elements = 54;
    limits.max_output_elements = 47;
    expect_rejected(&a, ATROUS_TOO_LARGE, "output_shape", &err);
    limits.max_output_elements = 48;
    assert_int_equal(validate(&a, &p, &err), ATROUS_OK);
}

static void test_op_rejects_sizes_beyond_the_extent_ceiling(void **state)
{
    struct args a = base();
    struct atrous_error err;
    (void)state;
    /* A 2^25-tap filter at rate 1 is the filters' fault... */
    a.value[1] = a.value[2] = 1, a.value[3] = 1;
    a.filters[0] = (int64_t)1 << 25, a.filters[1] = 1, a.filters[2] = 1, a.filters[3] = 1;
    a.output[1] = (int64_t)1 << 25, a.output[2] = 1, a.output[3] = 1;
    a.rate = 1;
    a.padding = "VALID";
    a.padding_len = 5;
    expect_rejected(&a, ATROUS_TOO_LARGE, "filters", &err);
    /* ... and an output side of INT64_MAX (where adding the pads would overflow) the
     * output_shape's. */
    a = base();
    a.value[1] = a.output[1] = INT64_MAX;
    a.value[2] = a.output[2] = 1;
    a.value[3] = a.output[3] = 1;
    a.filters[0] = 3, a.filters[1] = 1, a.filters[2] = 1, a.filters[3] = 1;
    a.rate = 1;
    expect_rejected(&a, ATROUS_TOO_LARGE, "output_shape", &err);
}

static void test_op_dilated_filter_of_int64_max_span_is_too_large(void **state)
{
    /* (KH-1)*rate == INT64_MAX exactly (INT64_MAX is divisible by 7), with an empty value
     * and output so that every TF check passes: the span + 1 must not overflow. */
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.value[1] = a.output[1] = 0;
    a.value[2] = a.output[2] = 1;
    a.value[3] = a.output[3] = 1;
    a.filters[0] = INT64_MAX / 7 + 1, a.filters[1] = 1, a.filters[2] = 1, a.filters[3] = 1;
    a.rate = 7;
    expect_rejected(&a, ATROUS_TOO_LARGE, "rate", &err);
}

static void test_op_valid_size_arithmetic_overflow_is_rejected(void **state)
{
    /* VALID needs OH == H + (KH-1)*rate, which overflows here: a mismatch, not a crash. */
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.value[1] = INT64_MAX - 1;
    a.output[1] = INT64_MAX;
    a.rate = 1;
    a.padding = "VALID";
    a.padding_len = 5;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
    a.rate = 3;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
}

static void test_op_rejects_padding_with_an_embedded_nul(void **state)
{
    static const int64_t rates[] = {1, 2};
    struct atrous_error err;
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        struct args a = base();
        a.rate = rates[i];
        a.padding = "SAME\0x";
        a.padding_len = 6;
        expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "padding", &err);
        expect_message_has(&err, "SAME\\x00x"); /* quoted, with the NUL made visible */
        a.padding = "VALID\0";
        a.padding_len = 6;
        expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "padding", &err);
    }
}

static void test_op_compares_padding_by_its_length(void **state)
{
    static const struct {
        const char *text;
        size_t len;
    } rejected[] = {{"same", 4}, {"Same", 4},     {"SAM", 3}, {"SAMEX", 5},
                    {"FULL", 4}, {"EXPLICIT", 8}, {"", 0},    {" SAME", 5}};
    struct args a = base();
    struct atrous_problem p;
    struct atrous_error err;
    (void)state;
    for (size_t i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++) {
        a.padding = rejected[i].text;
        a.padding_len = rejected[i].len;
        expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "padding", &err);
    }
    /* padding_len bytes are the string: "SAME" followed by anything else is "SAME". */
    a.padding = "SAMEX";
    a.padding_len = 4;
    assert_int_equal(validate(&a, &p, &err), ATROUS_OK);
    a.padding = NULL;
    a.padding_len = 0;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "padding", &err);
}

static void test_op_value_channel_mismatch_beats_everything(void **state)
{
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.value[3] = 5; /* filters[3] is 2 */
    a.rate = 0;
    a.padding = "FULL";
    a.output_len = 3;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "value", &err);
    expect_message_has(&err, "channel count must be compatible with `filters` input");
}

static void test_op_rejects_rate_before_padding(void **state)
{
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.rate = 0;
    a.padding = "FULL";
    a.output[3] = 9;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "rate", &err);
}

static void test_op_rate1_checks_padding_before_output_shape(void **state)
{
    /* At rate 1 TF's op attribute check comes before Conv2DBackpropInput's shape checks. */
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.rate = 1;
    a.padding = "same";
    a.output_len = 3;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "padding", &err);
}

static void test_op_rate2_checks_output_shape_before_padding(void **state)
{
    /* At rate > 1 TF's Python wrapper checks output_shape's length, then its channels, then
     * the padding. */
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.padding = "same";
    a.output_len = 3;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
    expect_message_has(&err, "`output_shape` must have shape (4,)");
    a.output_len = 4;
    a.output[3] = 5;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
    expect_message_has(&err, "channel count must be compatible with `filters` output");
}

static void test_op_rate1_checks_batch_before_channel_divisibility(void **state)
{
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.rate = 1;
    a.output[0] = 2;
    a.output[3] = 5;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
    expect_message_has(&err, "batch");
    a.output[0] = 1;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
    expect_message_has(&err, "channel count");
}

static void test_op_rate2_space_to_batch_check_comes_before_batch(void **state)
{
    /* 3x3 SAME at rate 2: padded output height 8+4 = 12 is even. A value height of 7 fails
     * SpaceToBatchND's divisibility before the batch check; 6 passes it, so the batch
     * mismatch is reported first. */
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.value[0] = 2, a.value[1] = 7, a.value[2] = 8;
    a.output[0] = 1, a.output[1] = 8, a.output[2] = 8;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
    expect_message_has(&err, "height");
    a.value[1] = 6;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
    expect_message_has(&err, "batch");
}

static void test_op_spatial_message_quotes_the_callers_shapes(void **state)
{
    /* TF would say "actual = 3, computed = 4" about per-phase sizes; we quote the caller. */
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.value[1] = 6, a.value[2] = 8;
    a.output[1] = 8, a.output[2] = 8;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
    expect_message_has(&err, "[1, 8, 8, 3]");
    expect_message_has(&err, "[1, 6, 8, 2]");
    assert_null(strstr(err.message, "actual"));
}

static void test_op_rejects_output_shape_of_length_2_at_rate_1(void **state)
{
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.rate = 1;
    a.output[0] = 4, a.output[1] = 4;
    a.output_len = 2;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
    expect_message_has(&err, "[4, 4]");
}

static void test_op_rejects_output_shape_of_any_length_but_4(void **state)
{
    struct args a = base();
    struct atrous_error err;
    (void)state;
    for (size_t len = 0; len <= ATROUS_MAX_RANK + 1; len++) {
        if (len == 4)
            continue;
        a.output_len = len;
        expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
    }
    /* Long lists are summarised rather than quoted. */
    expect_message_has(&err, "(a list of 9 numbers)");
}

static void test_op_rejects_rate1_output_channels_multiple_of_filters(void **state)
{
    struct args a = base();
    struct atrous_error err;
    (void)state;
    a.rate = 1;
    a.output[3] = 6; /* filters[2] is 3 */
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
    expect_message_has(&err, "[1, 4, 4, 6]");
    a.rate = 2;
    expect_rejected(&a, ATROUS_INVALID_ARGUMENT, "output_shape", &err);
}

static void test_op_accepts_a_null_error_struct(void **state)
{
    struct args a = base();
    struct atrous_problem p;
    (void)state;
    a.rate = 0;
    assert_int_equal(validate(&a, &p, NULL), ATROUS_INVALID_ARGUMENT);
    a.rate = 2147483647;
    assert_int_equal(validate(&a, &p, NULL), ATROUS_TOO_LARGE);
    a.rate = 2;
    assert_int_equal(validate(&a, &p, NULL), ATROUS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_accepts_a_valid_call_and_derives_every_size),
        cmocka_unit_test(test_op_pads_match_the_corpus),
        cmocka_unit_test(test_op_same_puts_the_odd_pad_at_bottom_right),
        cmocka_unit_test(test_op_valid_padding_has_no_pads),
        cmocka_unit_test(test_op_rejects_value_and_filters_not_rank_4),
        cmocka_unit_test(test_op_rejects_negative_dims_naming_the_argument),
        cmocka_unit_test(test_op_rejects_zero_filter_dims),
        cmocka_unit_test(test_op_accepts_an_empty_batch),
        cmocka_unit_test(test_op_rejects_rate_below_one),
        cmocka_unit_test(test_op_rejects_rate_2147483647_with_3x3_filter_as_too_large),
        cmocka_unit_test(test_op_rejects_rate_1356819205_with_batch_10_as_invalid),
        cmocka_unit_test(test_op_rejects_multi_terabyte_output_before_allocating),
        cmocka_unit_test(test_op_output_element_overflow_is_too_large),
        cmocka_unit_test(test_op_limits_name_the_tensor_over_them),
        cmocka_unit_test(test_op_rejects_sizes_beyond_the_extent_ceiling),
        cmocka_unit_test(test_op_dilated_filter_of_int64_max_span_is_too_large),
        cmocka_unit_test(test_op_valid_size_arithmetic_overflow_is_rejected),
        cmocka_unit_test(test_op_rejects_padding_with_an_embedded_nul),
        cmocka_unit_test(test_op_compares_padding_by_its_length),
        cmocka_unit_test(test_op_value_channel_mismatch_beats_everything),
        cmocka_unit_test(test_op_rejects_rate_before_padding),
        cmocka_unit_test(test_op_rate1_checks_padding_before_output_shape),
        cmocka_unit_test(test_op_rate2_checks_output_shape_before_padding),
        cmocka_unit_test(test_op_rate1_checks_batch_before_channel_divisibility),
        cmocka_unit_test(test_op_rate2_space_to_batch_check_comes_before_batch),
        cmocka_unit_test(test_op_spatial_message_quotes_the_callers_shapes),
        cmocka_unit_test(test_op_rejects_output_shape_of_length_2_at_rate_1),
        cmocka_unit_test(test_op_rejects_output_shape_of_any_length_but_4),
        cmocka_unit_test(test_op_rejects_rate1_output_channels_multiple_of_filters),
        cmocka_unit_test(test_op_accepts_a_null_error_struct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
