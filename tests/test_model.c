/*
 * test_model.c - the model as a computational object (lib/atrous_model.c,
 * lib/atrous_model_prepare.c), made in memory: no files, no JSON decoding. Every valid
 * conformance case as a model reproduces its output with prepared filters; the shape rule
 * (SAME, VALID, fixed input dims, batch limit, overflow); the metadata dims; the checks that
 * filters are finite and that a model can run; the naming rules of models and versions.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "atrous_engine.h"
#include "atrous_model.h"
#include "corpus.h"
#include "model_fixtures.h"

static float example_value(size_t i)
{
    return (float)((int)(i * 5) % 9 - 4) / 8.0f;
}

/* The shipped example model's attributes (tests/models/example), made in memory. */
static struct atrous_model *example_model(void)
{
    struct atrous_model *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    snprintf(m->name, sizeof(m->name), "example");
    snprintf(m->version, sizeof(m->version), "1");
    m->version_number = 1;
    m->rate = 2;
    m->padding = ATROUS_PADDING_SAME;
    const int64_t dims[4] = {3, 3, 4, 2};
    atrous_shape_make(&m->filters_shape, dims, 4, NULL);
    m->filters_elements = 72;
    m->filters = atrous_aligned_alloc(72 * sizeof(float));
    assert_non_null(m->filters);
    for (size_t i = 0; i < 72; i++)
        m->filters[i] = example_value(i);
    m->input_shape[0] = m->input_shape[1] = m->input_shape[2] = -1;
    m->input_shape[3] = 2;
    m->max_batch_size = 8;
    return m;
}

/* Every valid case (rank-4, the shape rule holds) as a model: it passes its checks, prepares
 * (once: a second prepare keeps the same filters), and with its prepared filters reproduces the
 * case's output from the case's value. */
static void test_model_conformance_cases_as_models_reproduce_outputs(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_engine *engine = NULL;
    struct atrous_workspace *ws = NULL;
    struct corpus_case *cases = NULL;
    size_t count = 0;
    double worst = 0;
    assert_int_equal(fixture_valid_cases(&cases, &count), 0);
    assert_int_equal(atrous_engine_create(NULL, &engine, &err), ATROUS_OK);
    assert_int_equal(atrous_workspace_create(engine, &ws, &err), ATROUS_OK);
    for (size_t i = 0; i < count; i++) {
        const struct corpus_case *c = &cases[i];
        struct atrous_model *m = fixture_model_from_case(c);
        assert_non_null(m);
        if (atrous_model_check_filters(m, "filters", &err) != ATROUS_OK ||
            atrous_model_check_runnable(m, &err) != ATROUS_OK)
            fail_msg("%s: %s", c->name, err.message);
        assert_false(atrous_model_ready(m));
        if (atrous_model_prepare(m, engine, &err) != ATROUS_OK)
            fail_msg("%s: %s", c->name, err.message);
        assert_true(atrous_model_ready(m));
        const struct atrous_filters *prepared = m->prepared;
        assert_int_equal(atrous_model_prepare(m, engine, &err), ATROUS_OK);
        assert_ptr_equal(m->prepared, prepared);

        int64_t out_shape[4];
        struct atrous_problem p;
        assert_int_equal(atrous_model_output_shape(m, &c->value_shape, out_shape, &err), ATROUS_OK);
        for (int d = 0; d < 4; d++)
            assert_int_equal(out_shape[d], c->output_shape[d]);
        if (atrous_model_problem(m, &c->value_shape, NULL, &p, &err) != ATROUS_OK)
            fail_msg("%s: %s", c->name, err.message);
        float *got = calloc(p.output_elements + 1, sizeof(float));
        assert_non_null(got);
        for (size_t k = 0; k < p.output_elements; k++)
            got[k] = NAN;
        if (atrous_engine_run_filters(engine, ws, &p, c->value, m->prepared, got, &err))
            fail_msg("%s: %s", c->name, err.message);
        struct corpus_comparison cmp;
        corpus_compare(got, c->expected, c->expected_count, &cmp);
        if (cmp.failures)
            fail_msg("%s: %zu elements out of tolerance", c->name, cmp.failures);
        if (cmp.worst > worst)
            worst = cmp.worst;
        free(got);
        atrous_model_free(m);
    }
    printf("conformance cases as models: %zu, worst scaled error %.4g\n", count, worst);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
    fixture_cases_free(cases, count);
}

static void test_model_output_shape_rule(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_model *m = example_model();
    struct atrous_shape shape;
    int64_t out[4];

    const int64_t v[4] = {2, 10, 7, 2};
    atrous_shape_make(&shape, v, 4, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_OK);
    assert_true(out[0] == 2 && out[1] == 10 && out[2] == 7 && out[3] == 4);
    m->padding = ATROUS_PADDING_VALID; /* 3x3 at rate 2: 4 more rows and columns */
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_OK);
    assert_true(out[0] == 2 && out[1] == 14 && out[2] == 11 && out[3] == 4);
    struct atrous_problem p;
    assert_int_equal(atrous_model_problem(m, &shape, NULL, &p, &err), ATROUS_OK);
    assert_int_equal(p.out_h, 14);

    const int64_t huge[4] = {1, INT64_MAX - 1, 1, 2};
    atrous_shape_make(&shape, huge, 4, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "overflows"));
    const int64_t batch9[4] = {9, 4, 4, 2};
    atrous_shape_make(&shape, batch9, 4, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "max_batch_size 8"));
    assert_string_equal(err.field, "value");
    const int64_t channels3[4] = {1, 4, 4, 3};
    atrous_shape_make(&shape, channels3, 4, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "[-1, -1, -1, 2]"));
    m->input_shape[1] = 32;
    const int64_t rows16[4] = {1, 16, 4, 2};
    atrous_shape_make(&shape, rows16, 4, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "dimension 1"));
    const int64_t negative[4] = {1, 32, -4, 2};
    atrous_shape_make(&shape, negative, 4, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "negative"));
    const int64_t rank3[3] = {16, 4, 2};
    atrous_shape_make(&shape, rank3, 3, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "rank 4"));
    atrous_model_free(m);
}

/* Metadata dims: -1 where the request chooses, a fixed input dim fixing the output dim the rule
 * derives from it (grown by the VALID rule), the output channels from the filters. */
static void test_model_io_dims(void **state)
{
    (void)state;
    struct atrous_model *m = example_model();
    int64_t input[4], output[4];
    atrous_model_io_dims(m, input, output);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(input[i], -1);
        assert_int_equal(output[i], -1);
    }
    assert_int_equal(input[3], 2);
    assert_int_equal(output[3], 4);
    m->input_shape[1] = 32;
    m->padding = ATROUS_PADDING_VALID;
    atrous_model_io_dims(m, input, output);
    assert_int_equal(input[1], 32);
    assert_int_equal(output[1], 36);
    assert_int_equal(output[2], -1);
    atrous_model_free(m);
}

/* A filter that is not finite, a model no value can run, and a warmup shape the model cannot
 * take are each refused with the element, the reason or the warmup named. */
static void test_model_checks_filters_and_runnable(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_model *m = example_model();
    assert_int_equal(atrous_model_check_filters(m, "filters.file", &err), ATROUS_OK);
    assert_int_equal(atrous_model_check_runnable(m, &err), ATROUS_OK);
    m->filters[5] = NAN;
    assert_int_equal(atrous_model_check_filters(m, "filters.file", &err), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "filters.file");
    assert_non_null(strstr(err.message, "element 5 is not finite"));
    m->filters[5] = 0;
    m->filters[71] = -INFINITY;
    assert_int_equal(atrous_model_check_filters(m, "filters.file", &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "element 71"));
    m->filters[71] = 0;

    m->warmup_count = 2;
    const int64_t good[4] = {1, 16, 16, 2}, bad[4] = {1, 8, 8, 5};
    memcpy(m->warmup[0], good, sizeof(good));
    memcpy(m->warmup[1], bad, sizeof(bad));
    assert_int_equal(atrous_model_check_runnable(m, &err), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "warmup");
    assert_non_null(strstr(err.message, "warmup[1]"));
    m->warmup_count = 1;
    assert_int_equal(atrous_model_check_runnable(m, &err), ATROUS_OK);

    m->rate = 100000000; /* the filters dilate past any shape the op accepts */
    assert_int_equal(atrous_model_check_runnable(m, &err), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "");
    assert_non_null(strstr(err.message, "the model cannot run"));
    atrous_model_free(m);
}

static void test_model_names_and_versions(void **state)
{
    (void)state;
    static const char *const good_names[] = {
        "m",     "edges",  "edges.v2",
        "a_b-c", "0model", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    static const char *const bad_names[] = {
        "",      ".hidden",
        "-dash", "a/b",
        "a b",   "a:b",
        "é",     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof(good_names) / sizeof(good_names[0]); i++)
        if (!atrous_model_name_valid(good_names[i], strlen(good_names[i])))
            fail_msg("\"%s\" refused", good_names[i]);
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
        if (atrous_model_name_valid(bad_names[i], strlen(bad_names[i])))
            fail_msg("\"%s\" accepted", bad_names[i]);
    /* Exactly the len bytes count: a prefix of a name, and a NUL inside them refused. */
    assert_true(atrous_model_name_valid("a/b", 1));
    assert_false(atrous_model_name_valid("a\0b", 3));

    static const char *const good_versions[] = {"1", "10", "999999999999999999"};
    static const char *const bad_versions[] = {
        "", "0", "01", "1a", "-1", "+1", "1000000000000000000"};
    for (size_t i = 0; i < sizeof(good_versions) / sizeof(good_versions[0]); i++)
        if (!atrous_model_version_valid(good_versions[i], strlen(good_versions[i])))
            fail_msg("version \"%s\" refused", good_versions[i]);
    for (size_t i = 0; i < sizeof(bad_versions) / sizeof(bad_versions[0]); i++)
        if (atrous_model_version_valid(bad_versions[i], strlen(bad_versions[i])))
            fail_msg("version \"%s\" accepted", bad_versions[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_conformance_cases_as_models_reproduce_outputs),
        cmocka_unit_test(test_model_output_shape_rule),
        cmocka_unit_test(test_model_io_dims),
        cmocka_unit_test(test_model_checks_filters_and_runnable),
        cmocka_unit_test(test_model_names_and_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
