/*
 * test_engine_filters.c - prepared filters (atrous_filters_*, atrous_engine_run_filters): the
 * same results as atrous_engine_run with the raw filters buffer, across input sizes that make
 * oneDNN pick other primitives, mixed with raw runs on one workspace, from several threads at
 * once, and the argument checks.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "atrous_engine.h"
#include "atrous_op.h"

/* Problems the tests run: value [N, H, W, IC] with the filters below (3x3, OC 16, IC 8). */
static const int64_t sizes[][3] = {
    {1, 8, 8}, {1, 17, 5}, {2, 32, 32}, {3, 9, 31}, {1, 64, 48}, {4, 6, 6}, {1, 1, 1},
};
#define SIZE_COUNT (sizeof(sizes) / sizeof(sizes[0]))
#define KH         3
#define KW         3
#define OC         16
#define IC         8
#define RATE       2
#define THREADS    4

static void fill(float *data, size_t count, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < count; i++) {
        x = x * 1664525u + 1013904223u;
        data[i] = (float)(x >> 8) / (float)(1u << 24) - 0.5f;
    }
}

/* One validated problem of the table, with its value and raw-path output. */
struct prepared_case {
    struct atrous_problem problem;
    float *value;
    float *expected;
};

struct suite {
    struct atrous_engine *engine;
    struct atrous_workspace *workspace;
    struct atrous_shape filters_shape;
    float *filters;
    struct prepared_case cases[SIZE_COUNT];
};

static void make_problem(const int64_t size[3], const char *padding, struct atrous_problem *out)
{
    struct atrous_error err;
    int64_t vdims[4] = {size[0], size[1], size[2], IC};
    int64_t fdims[4] = {KH, KW, OC, IC};
    int64_t oh = size[1], ow = size[2];
    if (strcmp(padding, "VALID") == 0) {
        oh += (KH - 1) * RATE;
        ow += (KW - 1) * RATE;
    }
    int64_t output_shape[4] = {size[0], oh, ow, OC};
    struct atrous_shape vs, fs;
    assert_int_equal(atrous_shape_make(&vs, vdims, 4, &err), ATROUS_OK);
    assert_int_equal(atrous_shape_make(&fs, fdims, 4, &err), ATROUS_OK);
    assert_int_equal(atrous_op_validate(&vs, &fs, output_shape, 4, RATE, padding, strlen(padding),
                                        NULL, out, &err),
                     ATROUS_OK);
}

static int suite_setup(void **state)
{
    struct atrous_error err;
    struct suite *s = calloc(1, sizeof(*s));
    int64_t fdims[4] = {KH, KW, OC, IC};
    if (s == NULL || atrous_engine_create(NULL, &s->engine, &err) != ATROUS_OK ||
        atrous_workspace_create(s->engine, &s->workspace, &err) != ATROUS_OK ||
        atrous_shape_make(&s->filters_shape, fdims, 4, &err) != ATROUS_OK)
        return -1;
    atrous_engine_set_thread_parallelism(1);
    s->filters = atrous_aligned_alloc(KH * KW * OC * IC * sizeof(float));
    fill(s->filters, KH * KW * OC * IC, 99);
    for (size_t i = 0; i < SIZE_COUNT; i++) {
        struct prepared_case *c = &s->cases[i];
        make_problem(sizes[i], i % 2 ? "VALID" : "SAME", &c->problem);
        c->value = atrous_aligned_alloc(c->problem.value_elements * sizeof(float));
        c->expected = atrous_aligned_alloc(c->problem.output_elements * sizeof(float));
        fill(c->value, c->problem.value_elements, (uint32_t)i + 1);
        if (atrous_engine_run(s->engine, s->workspace, &c->problem, c->value, s->filters,
                              c->expected, &err) != ATROUS_OK) {
            fprintf(stderr, "raw run failed: %s\n", err.message);
            return -1;
        }
    }
    *state = s;
    return 0;
}

static int suite_teardown(void **state)
{
    struct suite *s = *state;
    for (size_t i = 0; i < SIZE_COUNT; i++) {
        atrous_aligned_free(s->cases[i].value);
        atrous_aligned_free(s->cases[i].expected);
    }
    atrous_aligned_free(s->filters);
    atrous_workspace_free(s->workspace);
    atrous_engine_free(s->engine);
    free(s);
    return 0;
}

/* Runs case c with prepared filters and requires the raw path's exact bytes: both read the same
 * reordered weights through the same primitive. */
static void run_and_compare(struct suite *s, struct atrous_workspace *ws, struct atrous_filters *f,
                            const struct prepared_case *c)
{
    struct atrous_error err;
    size_t bytes = c->problem.output_elements * sizeof(float);
    float *got = malloc(bytes ? bytes : 1);
    assert_non_null(got);
    memset(got, 0xff, bytes); /* NaN: an element left unwritten fails */
    enum atrous_status st =
        atrous_engine_run_filters(s->engine, ws, &c->problem, c->value, f, got, &err);
    if (st != ATROUS_OK)
        fail_msg("run_filters: %s", err.message);
    assert_memory_equal(got, c->expected, bytes);
    free(got);
}

static void test_filters_match_raw_run_across_input_sizes(void **state)
{
    struct suite *s = *state;
    struct atrous_error err;
    struct atrous_filters *f = NULL;
    assert_int_equal(atrous_filters_create(s->engine, &s->filters_shape, s->filters, &f, &err),
                     ATROUS_OK);
    /* Twice over: the second round reuses the layouts the first one made. */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < SIZE_COUNT; i++)
            run_and_compare(s, s->workspace, f, &s->cases[i]);
    }
    /* This machine's primitives reorder 3x3x16x8 filters at least once; the count shows how
     * many layouts the problems above asked for. */
    printf("prepared filters hold %zu layout(s) after %zu problems\n",
           atrous_filters_layout_count(f), SIZE_COUNT);
    assert_true(atrous_filters_layout_count(f) >= 1);
    assert_true(atrous_filters_layout_count(f) <= ATROUS_FILTERS_MAX_LAYOUTS);
    /* No workspace: a temporary one per call, same answer. */
    run_and_compare(s, NULL, f, &s->cases[2]);
    atrous_filters_free(f);
}

static void test_filters_copy_the_callers_data(void **state)
{
    struct suite *s = *state;
    struct atrous_error err;
    struct atrous_filters *f = NULL;
    size_t count = KH * KW * OC * IC;
    float *mine = malloc(count * sizeof(float));
    assert_non_null(mine);
    memcpy(mine, s->filters, count * sizeof(float));
    assert_int_equal(atrous_filters_create(s->engine, &s->filters_shape, mine, &f, &err),
                     ATROUS_OK);
    fill(mine, count, 12345); /* the caller reuses its buffer */
    assert_memory_equal(atrous_filters_data(f), s->filters, count * sizeof(float));
    assert_int_equal((uintptr_t)atrous_filters_data(f) % ATROUS_TENSOR_ALIGN, 0);
    assert_true(atrous_shape_equal(atrous_filters_shape(f), &s->filters_shape));
    run_and_compare(s, s->workspace, f, &s->cases[0]);
    free(mine);
    atrous_filters_free(f);
}

/* Raw and prepared runs of the same problem alternate on one workspace: the raw path's memo of
 * the last reordered filters must survive prepared runs in between, and each run must read its
 * own weights. */
static void test_filters_alternate_with_raw_runs_on_one_workspace(void **state)
{
    struct suite *s = *state;
    struct atrous_error err;
    struct atrous_filters *f = NULL;
    struct atrous_workspace *ws = NULL;
    const struct prepared_case *c = &s->cases[2];
    size_t count = KH * KW * OC * IC, out_bytes = c->problem.output_elements * sizeof(float);
    float *other = atrous_aligned_alloc(count * sizeof(float));
    float *other_expected = atrous_aligned_alloc(out_bytes);
    float *got = atrous_aligned_alloc(out_bytes);
    assert_non_null(other);
    assert_non_null(other_expected);
    assert_non_null(got);
    fill(other, count, 777);
    assert_int_equal(atrous_workspace_create(s->engine, &ws, &err), ATROUS_OK);
    assert_int_equal(
        atrous_engine_run(s->engine, ws, &c->problem, c->value, other, other_expected, &err),
        ATROUS_OK);
    assert_int_equal(atrous_filters_create(s->engine, &s->filters_shape, s->filters, &f, &err),
                     ATROUS_OK);
    for (int i = 0; i < 3; i++) {
        run_and_compare(s, ws, f, c);
        assert_int_equal(atrous_engine_run(s->engine, ws, &c->problem, c->value, other, got, &err),
                         ATROUS_OK);
        assert_memory_equal(got, other_expected, out_bytes);
    }
    atrous_filters_free(f);
    atrous_workspace_free(ws);
    atrous_aligned_free(other);
    atrous_aligned_free(other_expected);
    atrous_aligned_free(got);
}

static void test_filters_prepare_makes_the_layout_ahead(void **state)
{
    struct suite *s = *state;
    struct atrous_error err;
    struct atrous_filters *f = NULL;
    const struct prepared_case *c = &s->cases[4];
    assert_int_equal(atrous_filters_create(s->engine, &s->filters_shape, s->filters, &f, &err),
                     ATROUS_OK);
    assert_int_equal(atrous_filters_layout_count(f), 0);
    assert_int_equal(atrous_filters_prepare(s->engine, f, &c->problem, &err), ATROUS_OK);
    size_t warmed = atrous_filters_layout_count(f);
    assert_true(warmed <= 1); /* 0 when the primitive reads TensorFlow's layout as is */
    assert_int_equal(atrous_filters_prepare(s->engine, f, &c->problem, &err), ATROUS_OK);
    run_and_compare(s, s->workspace, f, c);
    assert_int_equal(atrous_filters_layout_count(f), warmed); /* the run found it */
    atrous_filters_free(f);
}

static void test_filters_reject_bad_shapes(void **state)
{
    struct suite *s = *state;
    struct atrous_error err;
    struct atrous_filters *f = NULL;
    struct atrous_shape shape;
    const int64_t rank3[3] = {3, 3, 2};
    const int64_t zero[4] = {3, 0, 2, 2};
    const int64_t negative[4] = {3, 3, -2, 2};
    const float data[18] = {0};

    assert_int_equal(atrous_shape_make(&shape, rank3, 3, &err), ATROUS_OK);
    assert_int_equal(atrous_filters_create(s->engine, &shape, data, &f, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "filters");
    assert_non_null(strstr(err.message, "[3, 3, 2]"));
    assert_int_equal(atrous_shape_make(&shape, zero, 4, &err), ATROUS_OK);
    assert_int_equal(atrous_filters_create(s->engine, &shape, data, &f, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_int_equal(atrous_shape_make(&shape, negative, 4, &err), ATROUS_OK);
    assert_int_equal(atrous_filters_create(s->engine, &shape, data, &f, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_null(f);
}

static void test_filters_reject_a_problem_of_other_filters(void **state)
{
    struct suite *s = *state;
    struct atrous_error err;
    struct atrous_filters *f = NULL;
    struct atrous_shape shape;
    const int64_t dims[4] = {KH, KW, OC, IC + 1};
    size_t count = KH * KW * OC * (IC + 1);
    float *data = calloc(count, sizeof(float));
    float out[1];
    assert_non_null(data);
    assert_int_equal(atrous_shape_make(&shape, dims, 4, &err), ATROUS_OK);
    assert_int_equal(atrous_filters_create(s->engine, &shape, data, &f, &err), ATROUS_OK);
    assert_int_equal(atrous_engine_run_filters(s->engine, s->workspace, &s->cases[0].problem,
                                               s->cases[0].value, f, out, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "filters");
    assert_int_equal(atrous_filters_prepare(s->engine, f, &s->cases[0].problem, &err),
                     ATROUS_INVALID_ARGUMENT);
    atrous_filters_free(f);
    free(data);
}

static void test_filters_empty_batch_gives_empty_output(void **state)
{
    struct suite *s = *state;
    struct atrous_error err;
    struct atrous_filters *f = NULL;
    struct atrous_problem p;
    const int64_t size[3] = {0, 5, 5};
    float dummy = 1.0f;
    make_problem(size, "SAME", &p);
    assert_int_equal(atrous_filters_create(s->engine, &s->filters_shape, s->filters, &f, &err),
                     ATROUS_OK);
    assert_int_equal(atrous_filters_prepare(s->engine, f, &p, &err), ATROUS_OK);
    assert_int_equal(
        atrous_engine_run_filters(s->engine, s->workspace, &p, &dummy, f, &dummy, &err), ATROUS_OK);
    assert_true(dummy == 1.0f);
    atrous_filters_free(f);
}

struct worker {
    struct suite *suite;
    struct atrous_filters *filters;
    int index;
    int failures;
    char why[ATROUS_ERROR_MESSAGE_MAX + 64];
};

/* Each thread runs every problem, starting at a different one, with its own workspace. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct suite *s = w->suite;
    struct atrous_error err;
    struct atrous_workspace *ws = NULL;
    atrous_engine_set_thread_parallelism(1);
    if (atrous_workspace_create(s->engine, &ws, &err) != ATROUS_OK) {
        w->failures++;
        snprintf(w->why, sizeof(w->why), "workspace: %s", err.message);
        return NULL;
    }
    for (size_t k = 0; k < 2 * SIZE_COUNT; k++) {
        const struct prepared_case *c = &s->cases[(k + (size_t)w->index) % SIZE_COUNT];
        size_t bytes = c->problem.output_elements * sizeof(float);
        float *got = malloc(bytes ? bytes : 1);
        if (got == NULL ||
            atrous_engine_run_filters(s->engine, ws, &c->problem, c->value, w->filters, got,
                                      &err) != ATROUS_OK ||
            memcmp(got, c->expected, bytes) != 0) {
            w->failures++;
            snprintf(w->why, sizeof(w->why), "thread %d, problem %zu: %s", w->index,
                     (k + (size_t)w->index) % SIZE_COUNT, got ? err.message : "no memory");
        }
        free(got);
    }
    atrous_workspace_free(ws);
    return NULL;
}

static void test_filters_shared_by_threads(void **state)
{
    struct suite *s = *state;
    struct atrous_error err;
    struct atrous_filters *f = NULL;
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    assert_int_equal(atrous_filters_create(s->engine, &s->filters_shape, s->filters, &f, &err),
                     ATROUS_OK);
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.suite = s, .filters = f, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        if (workers[i].failures) {
            failures += workers[i].failures;
            print_error("%s\n", workers[i].why);
        }
    }
    assert_int_equal(failures, 0);
    assert_true(atrous_filters_layout_count(f) <= ATROUS_FILTERS_MAX_LAYOUTS);
    atrous_filters_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters_match_raw_run_across_input_sizes),
        cmocka_unit_test(test_filters_copy_the_callers_data),
        cmocka_unit_test(test_filters_alternate_with_raw_runs_on_one_workspace),
        cmocka_unit_test(test_filters_prepare_makes_the_layout_ahead),
        cmocka_unit_test(test_filters_reject_bad_shapes),
        cmocka_unit_test(test_filters_reject_a_problem_of_other_filters),
        cmocka_unit_test(test_filters_empty_batch_gives_empty_output),
        cmocka_unit_test(test_filters_shared_by_threads),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
