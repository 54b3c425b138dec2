/*
 * test_engine.c - lib/atrous_engine.h: results against the naive reference, the primitive
 * cache seen through the engine (hits, capacity, evictions), the workspace's reuse of bound
 * problems and reordered filters, odd buffers, and several threads at once.
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
#include "engine_fixture.h"
#include "atrous_op.h"
#include "corpus.h"
#include "naive_ref.h"

/* Builds a problem [N, H, W, IC] x [KH, KW, OC, IC] at rate with the output shape the shape
 * rule gives, then a case with deterministic random data and the naive reference's output. */
static void make_case(int64_t n, int64_t h, int64_t w, int64_t ic, int64_t kh, int64_t kw,
                      int64_t oc, int64_t rate, bool same, uint64_t seed, struct corpus_case *c)
{
    struct naive_rng rng = {seed};
    struct naive_problem p = {
        .value = {n, h, w, ic}, .filters = {kh, kw, oc, ic}, .rate = rate, .same = same};
    naive_ref_output_shape(p.value, p.filters, p.rate, p.same, p.output);
    assert_int_equal(naive_ref_make_case(&rng, &p, c), 0);
}

/* Runs a case through the engine and fails the test unless it matches its expected output. */
static void check_case(struct atrous_engine *engine, struct atrous_workspace *ws,
                       const struct corpus_case *c)
{
    struct corpus_comparison cmp;
    char why[1024];
    if (corpus_check(engine, ws, c, &cmp, why, sizeof(why)) != 0)
        fail_msg("%s", why);
}

/* Recomputes a case's expected output after its filters changed. */
static void refresh_expected(struct corpus_case *c)
{
    struct naive_problem p;
    naive_problem_from_case(c, &p);
    naive_ref_run(&p, c->value, c->filters, c->expected);
}

static struct atrous_cache_stats stats_of(struct atrous_engine *engine)
{
    struct atrous_cache_stats s;
    atrous_engine_cache_stats(engine, &s);
    return s;
}

static struct atrous_engine *engine_with_capacity(size_t capacity)
{
    struct atrous_engine_config config = {.cache_capacity = capacity};
    return engine_fixture_engine(&config);
}

static void test_engine_info_reports_onednn_and_the_isa(void **state)
{
    struct atrous_engine *engine = engine_with_capacity(0);
    struct atrous_engine_info info;
    (void)state;
    memset(&info, 0, sizeof(info));
    atrous_engine_get_info(engine, &info);
    printf("oneDNN %s, ISA %s, threading %s\n", info.onednn_version, info.cpu_isa, info.threading);
    assert_true(info.onednn_version[0] >= '0' && info.onednn_version[0] <= '9');
    assert_true(info.cpu_isa[0] != '\0');
    assert_int_equal(info.avx512, strstr(info.cpu_isa, "avx512") != NULL);
    assert_string_equal(info.threading, "OpenMP");
    assert_int_equal(stats_of(engine).capacity, ATROUS_ENGINE_DEFAULT_CACHE_CAPACITY);
    atrous_engine_free(engine);
    atrous_engine_free(NULL);
}

/* Runs c twice and checks that the first run compiled (a miss) and the second was a hit. */
static void check_second_run_hits(struct atrous_engine *engine, struct atrous_workspace *ws,
                                  const struct corpus_case *c)
{
    struct atrous_cache_stats s0 = stats_of(engine);
    check_case(engine, ws, c);
    struct atrous_cache_stats s1 = stats_of(engine);
    assert_int_equal(s1.misses - s0.misses, 1);
    assert_int_equal(s1.hits - s0.hits, 0);
    assert_int_equal(s1.entries - s0.entries, 1);
    check_case(engine, ws, c);
    struct atrous_cache_stats s2 = stats_of(engine);
    assert_int_equal(s2.misses - s1.misses, 0);
    assert_int_equal(s2.hits - s1.hits, 1);
    assert_int_equal(s2.entries, s1.entries);
}

static void test_engine_second_identical_call_is_a_cache_hit(void **state)
{
    struct atrous_engine *engine = engine_with_capacity(0);
    struct atrous_workspace *ws = engine_fixture_workspace(engine);
    struct corpus_case c;
    (void)state;
    make_case(2, 9, 7, 5, 3, 3, 6, 2, true, 1, &c);
    check_second_run_hits(engine, ws, &c);
    corpus_case_free(&c);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
}

/* The repeat path counts its hits in the workspace: they must survive the workspace and add
 * up over several. */
static void test_engine_repeat_hits_are_kept_after_the_workspace_is_freed(void **state)
{
    struct atrous_engine *engine = engine_with_capacity(0);
    struct atrous_workspace *a = engine_fixture_workspace(engine),
                            *b = engine_fixture_workspace(engine);
    struct corpus_case c;
    (void)state;
    make_case(1, 5, 6, 2, 3, 3, 2, 2, true, 1, &c);
    for (int i = 0; i < 3; i++)
        check_case(engine, a, &c); /* a miss, then 2 repeat hits */
    for (int i = 0; i < 2; i++)
        check_case(engine, b, &c); /* a hit through the cache, then 1 repeat hit */
    assert_int_equal(stats_of(engine).hits, 4);
    atrous_workspace_free(a);
    assert_int_equal(stats_of(engine).hits, 4);
    check_case(engine, b, &c);
    atrous_workspace_free(b);
    struct atrous_cache_stats s = stats_of(engine);
    assert_int_equal(s.hits, 5);
    assert_int_equal(s.misses, 1);
    corpus_case_free(&c);
    atrous_engine_free(engine);
}

static void test_engine_second_identical_call_without_workspace_is_a_cache_hit(void **state)
{
    struct atrous_engine *engine = engine_with_capacity(0);
    struct corpus_case c;
    (void)state;
    make_case(1, 6, 11, 3, 2, 4, 7, 3, false, 2, &c);
    check_second_run_hits(engine, NULL, &c);
    corpus_case_free(&c);
    atrous_engine_free(engine);
}

static void test_engine_small_cache_keeps_entries_within_capacity_and_counts_evictions(void **state)
{
    enum { CAPACITY = 3, PROBLEMS = 8 };
    struct atrous_engine *engine = engine_with_capacity(CAPACITY);
    struct atrous_workspace *ws = engine_fixture_workspace(engine);
    struct corpus_case c[PROBLEMS];
    (void)state;
    assert_int_equal(stats_of(engine).capacity, CAPACITY);
    for (int i = 0; i < PROBLEMS; i++) {
        make_case(1, 4 + i, 5, 3, 3, 3, 2, 2, true, 100 + i, &c[i]); /* distinct heights */
        check_case(engine, ws, &c[i]);
        struct atrous_cache_stats s = stats_of(engine);
        assert_true(s.entries <= CAPACITY);
        assert_int_equal(s.misses, i + 1);
        assert_int_equal(s.evictions, i < CAPACITY ? 0 : i + 1 - CAPACITY);
    }
    /* The first problem was evicted: running it again compiles it again, evicting another. */
    check_case(engine, NULL, &c[0]);
    struct atrous_cache_stats s = stats_of(engine);
    assert_int_equal(s.misses, PROBLEMS + 1);
    assert_int_equal(s.evictions, PROBLEMS + 1 - CAPACITY);
    assert_int_equal(s.entries, CAPACITY);
    /* The most recent problem is still there. */
    check_case(engine, NULL, &c[PROBLEMS - 1]);
    assert_int_equal(stats_of(engine).misses, PROBLEMS + 1);
    for (int i = 0; i < PROBLEMS; i++)
        corpus_case_free(&c[i]);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
}

static void test_engine_uses_new_filters_for_the_same_problem(void **state)
{
    /* The workspace skips the weights reorder when the filters equal the last ones it
     * reordered; different filters, in a new buffer or changed in place, must be used. */
    struct atrous_engine *engine = engine_with_capacity(0);
    struct atrous_workspace *ws = engine_fixture_workspace(engine);
    struct corpus_case c, d;
    (void)state;
    make_case(1, 8, 8, 16, 3, 3, 16, 2, true, 3, &c);
    make_case(1, 8, 8, 16, 3, 3, 16, 2, true, 4, &d); /* same problem, other data */
    check_case(engine, ws, &c);
    check_case(engine, ws, &d);
    check_case(engine, ws, &c);
    c.filters[c.filters_count - 1] += 0.5f; /* the last tap only */
    refresh_expected(&c);
    check_case(engine, ws, &c);
    c.filters[0] = -c.filters[0]; /* in place, the first tap */
    refresh_expected(&c);
    check_case(engine, ws, &c);
    corpus_case_free(&c);
    corpus_case_free(&d);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
}

/* What a run keeps in its workspace is what the estimate says it takes once the problem is
 * compiled, and at most what it says before (when the compile times both forms, the estimate
 * bounds either); trimming frees it all and the next run is still right. */
static void test_engine_workspace_bytes_are_estimated_and_trimmed(void **state)
{
    struct atrous_engine *engine = engine_with_capacity(0);
    struct corpus_case c[3];
    (void)state;
    make_case(1, 8, 8, 16, 3, 3, 16, 2, true, 11, &c[0]);   /* jit: filters reordered */
    make_case(1, 1, 1, 1, 2, 2, 1, 50, false, 12, &c[1]);   /* huge rate: gemm with scratch */
    make_case(1, 16, 16, 1, 16, 16, 4, 1, true, 13, &c[2]); /* large filters, few channels */
    int threads = atrous_engine_thread_parallelism();
    size_t nonzero = 0;
    for (int i = 0; i < 3; i++) {
        struct atrous_problem p;
        struct atrous_estimate before, after;
        struct atrous_error err;
        assert_int_equal(atrous_op_validate(&c[i].value_shape, &c[i].filters_shape,
                                            c[i].output_shape, c[i].output_shape_len, c[i].rate,
                                            c[i].padding, c[i].padding_len, NULL, &p, &err),
                         ATROUS_OK);
        assert_int_equal(atrous_engine_estimate(engine, &p, threads, &before, &err), ATROUS_OK);
        struct atrous_workspace *ws = engine_fixture_workspace(engine);
        assert_int_equal(atrous_workspace_held_bytes(ws), 0);
        check_case(engine, ws, &c[i]);
        assert_true(atrous_workspace_held_bytes(ws) <= before.workspace_bytes);
        assert_int_equal(atrous_engine_estimate(engine, &p, threads, &after, &err), ATROUS_OK);
        assert_int_equal(after.workspace_bytes, atrous_workspace_held_bytes(ws));
        nonzero += after.workspace_bytes > 0;
        atrous_workspace_trim(ws);
        assert_int_equal(atrous_workspace_held_bytes(ws), 0);
        check_case(engine, ws, &c[i]);
        assert_int_equal(atrous_workspace_held_bytes(ws), after.workspace_bytes);
        atrous_workspace_free(ws);
        corpus_case_free(&c[i]);
    }
    assert_true(nonzero >= 2);
    atrous_engine_free(engine);
}

static void test_engine_alternating_problems_on_one_workspace(void **state)
{
    struct atrous_engine *engine = engine_with_capacity(0);
    struct atrous_workspace *ws = engine_fixture_workspace(engine);
    struct corpus_case c[3];
    (void)state;
    make_case(2, 5, 6, 17, 3, 2, 33, 3, true, 5, &c[0]);
    make_case(1, 12, 3, 1, 1, 5, 4, 1, false, 6, &c[1]);
    make_case(3, 7, 7, 32, 4, 4, 16, 2, false, 7, &c[2]);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 3; i++)
            check_case(engine, ws, &c[i]);
    assert_int_equal(stats_of(engine).misses, 3);
    for (int i = 0; i < 3; i++)
        corpus_case_free(&c[i]);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
}

static void test_engine_workspace_keeps_an_evicted_problem_runnable(void **state)
{
    /* Capacity 1: workspace B's problem evicts workspace A's, which A still holds. */
    struct atrous_engine *engine = engine_with_capacity(1);
    struct atrous_workspace *a = engine_fixture_workspace(engine),
                            *b = engine_fixture_workspace(engine);
    struct corpus_case ca, cb;
    (void)state;
    make_case(1, 6, 6, 4, 3, 3, 5, 2, true, 8, &ca);
    make_case(1, 7, 5, 4, 3, 3, 5, 2, true, 9, &cb);
    check_case(engine, a, &ca);
    check_case(engine, b, &cb);
    assert_int_equal(stats_of(engine).evictions, 1);
    check_case(engine, a, &ca);
    check_case(engine, b, &cb);
    assert_true(stats_of(engine).entries <= 1);
    corpus_case_free(&ca);
    corpus_case_free(&cb);
    atrous_workspace_free(a);
    atrous_workspace_free(b);
    atrous_engine_free(engine);
}

static void test_engine_empty_value_gives_a_zero_output(void **state)
{
    /* VALID with a value of width 0: the output is 1 x 5 x (0 + 2*3) x 2 and every term of
     * every sum falls outside the value. */
    struct atrous_engine *engine = engine_with_capacity(0);
    struct corpus_case c;
    (void)state;
    make_case(1, 3, 0, 2, 3, 3, 2, 3, false, 10, &c);
    assert_true(c.expected_count > 0);
    check_case(engine, NULL, &c); /* the output starts as NaN: each element must be written */
    corpus_case_free(&c);
    /* An empty batch: nothing to write, nothing compiled. */
    make_case(0, 4, 5, 2, 3, 3, 3, 2, true, 11, &c);
    check_case(engine, NULL, &c);
    assert_int_equal(stats_of(engine).misses, 0);
    corpus_case_free(&c);
    atrous_engine_free(engine);
}

static void test_engine_accepts_unaligned_buffers(void **state)
{
    struct atrous_engine *engine = engine_with_capacity(0);
    struct atrous_workspace *ws = engine_fixture_workspace(engine);
    struct corpus_case c;
    struct atrous_problem p;
    struct atrous_error err;
    struct corpus_comparison cmp;
    (void)state;
    make_case(2, 5, 7, 19, 3, 3, 21, 2, true, 12, &c);
    assert_int_equal(atrous_op_validate(&c.value_shape, &c.filters_shape, c.output_shape, 4, c.rate,
                                        c.padding, c.padding_len, NULL, &p, &err),
                     ATROUS_OK);
    /* Each buffer one float past a 64-byte boundary. */
    float *value = malloc((c.value_count + 17) * sizeof(float));
    float *filters = malloc((c.filters_count + 17) * sizeof(float));
    float *output = malloc((c.expected_count + 17) * sizeof(float));
    assert_non_null(value);
    assert_non_null(filters);
    assert_non_null(output);
    float *v = value + (16 - ((uintptr_t)value / sizeof(float)) % 16) % 16 + 1;
    float *f = filters + (16 - ((uintptr_t)filters / sizeof(float)) % 16) % 16 + 1;
    float *o = output + (16 - ((uintptr_t)output / sizeof(float)) % 16) % 16 + 1;
    memcpy(v, c.value, c.value_count * sizeof(float));
    memcpy(f, c.filters, c.filters_count * sizeof(float));
    assert_int_equal(atrous_engine_run(engine, ws, &p, v, f, o, &err), ATROUS_OK);
    corpus_compare(o, c.expected, c.expected_count, &cmp);
    assert_int_equal(cmp.failures, 0);
    free(value);
    free(filters);
    free(output);
    corpus_case_free(&c);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
}

static void test_engine_implementation_names_a_kernel_and_is_cached(void **state)
{
    struct atrous_engine *engine = engine_with_capacity(0);
    struct corpus_case c;
    struct atrous_problem p;
    struct atrous_error err;
    char impl[64] = "";
    (void)state;
    make_case(1, 9, 9, 8, 3, 3, 8, 2, true, 13, &c);
    assert_int_equal(atrous_op_validate(&c.value_shape, &c.filters_shape, c.output_shape, 4, c.rate,
                                        c.padding, c.padding_len, NULL, &p, &err),
                     ATROUS_OK);
    assert_int_equal(atrous_engine_implementation(engine, &p, impl, sizeof(impl), &err), ATROUS_OK);
    printf("implementation for %s: %s\n", c.name, impl);
    assert_true(impl[0] != '\0');
    assert_int_equal(stats_of(engine).misses, 1);
    check_case(engine, NULL, &c); /* the primitive compiled for the query is reused */
    assert_int_equal(stats_of(engine).misses, 1);
    assert_int_equal(stats_of(engine).hits, 1);
    corpus_case_free(&c);
    atrous_engine_free(engine);
}

static void test_engine_team_size_is_part_of_the_cache_key(void **state)
{
    struct atrous_engine *engine = engine_with_capacity(0);
    struct atrous_workspace *ws = engine_fixture_workspace(engine);
    struct corpus_case c;
    const int saved = atrous_engine_thread_parallelism();
    (void)state;
    atrous_engine_set_thread_parallelism(0); /* clamped to 1 */
    assert_int_equal(atrous_engine_thread_parallelism(), 1);
    make_case(1, 10, 10, 16, 3, 3, 16, 2, true, 14, &c);
    check_case(engine, ws, &c);
    atrous_engine_set_thread_parallelism(2);
    assert_int_equal(atrous_engine_thread_parallelism(), 2);
    check_case(engine, ws, &c);
    assert_int_equal(stats_of(engine).misses, 2);
    atrous_engine_set_thread_parallelism(saved);
    corpus_case_free(&c);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
}

/* Several threads, each with its own workspace, run random problems on one engine. Each also
 * runs one problem shared by all threads, so they race to compile and insert the same key. */
enum { WORKERS = 4, PROBLEMS_PER_WORKER = 12 };

struct worker {
    struct atrous_engine *engine;
    uint64_t seed;
    const struct corpus_case *shared;
    int failures;
    char first_failure[1024];
    double worst;
};

static void worker_check(struct worker *w, struct atrous_workspace *ws, const struct corpus_case *c)
{
    struct corpus_comparison cmp;
    char why[1024];
    if (corpus_check(w->engine, ws, c, &cmp, why, sizeof(why)) != 0) {
        if (w->failures++ == 0)
            snprintf(w->first_failure, sizeof(w->first_failure), "%s", why);
    } else if (cmp.worst > w->worst) {
        w->worst = cmp.worst;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct atrous_workspace *ws = NULL;
    struct atrous_error err;
    struct naive_rng rng = {w->seed};
    const struct naive_bounds bounds = {.max_batch = 2,
                                        .max_spatial = 16,
                                        .max_channels = 40,
                                        .max_filter = 5,
                                        .max_rate = 4,
                                        .max_macs = 1u << 20};
    /* Two cores are shared by all workers: one OpenMP thread each. */
    atrous_engine_set_thread_parallelism(1);
    if (atrous_workspace_create(w->engine, &ws, &err) != ATROUS_OK) {
        w->failures++;
        snprintf(w->first_failure, sizeof(w->first_failure), "workspace: %s", err.message);
        return NULL;
    }
    for (int i = 0; i < PROBLEMS_PER_WORKER; i++) {
        struct naive_problem p;
        struct corpus_case c;
        naive_ref_random_problem(&rng, &bounds, &p);
        if (naive_ref_make_case(&rng, &p, &c) != 0) {
            w->failures++;
            corpus_case_free(&c);
            break;
        }
        worker_check(w, ws, &c);
        worker_check(w, ws, w->shared);
        worker_check(w, ws, &c); /* again, now through the workspace's bound problem */
        corpus_case_free(&c);
    }
    atrous_workspace_free(ws);
    return NULL;
}

static void test_engine_threads_with_own_workspaces_match_naive_reference(void **state)
{
    struct atrous_engine *engine = engine_with_capacity(16); /* small: evictions under load */
    struct worker workers[WORKERS];
    pthread_t threads[WORKERS];
    struct corpus_case shared;
    const uint64_t seed = naive_ref_seed("test_engine threads");
    (void)state;
    make_case(2, 11, 9, 24, 3, 3, 20, 2, true, seed, &shared);
    memset(workers, 0, sizeof(workers));
    for (int t = 0; t < WORKERS; t++) {
        workers[t].engine = engine;
        workers[t].seed = seed + 0x1000u * (uint64_t)(t + 1);
        workers[t].shared = &shared;
        assert_int_equal(pthread_create(&threads[t], NULL, worker_main, &workers[t]), 0);
    }
    for (int t = 0; t < WORKERS; t++)
        pthread_join(threads[t], NULL);
    double worst = 0;
    int failures = 0;
    for (int t = 0; t < WORKERS; t++) {
        if (workers[t].failures)
            print_error("thread %d: %d failures, first: %s\n", t, workers[t].failures,
                        workers[t].first_failure);
        failures += workers[t].failures;
        worst = workers[t].worst > worst ? workers[t].worst : worst;
    }
    printf("threads: worst scaled error %.6g over %d problems\n", worst,
           WORKERS * PROBLEMS_PER_WORKER * 3);
    struct atrous_cache_stats s = stats_of(engine);
    assert_true(s.entries <= 16);
    assert_int_equal(failures, 0);
    corpus_case_free(&shared);
    atrous_engine_free(engine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_info_reports_onednn_and_the_isa),
        cmocka_unit_test(test_engine_second_identical_call_is_a_cache_hit),
        cmocka_unit_test(test_engine_repeat_hits_are_kept_after_the_workspace_is_freed),
        cmocka_unit_test(test_engine_second_identical_call_without_workspace_is_a_cache_hit),
        cmocka_unit_test(
            test_engine_small_cache_keeps_entries_within_capacity_and_counts_evictions),
        cmocka_unit_test(test_engine_uses_new_filters_for_the_same_problem),
        cmocka_unit_test(test_engine_workspace_bytes_are_estimated_and_trimmed),
        cmocka_unit_test(test_engine_alternating_problems_on_one_workspace),
        cmocka_unit_test(test_engine_workspace_keeps_an_evicted_problem_runnable),
        cmocka_unit_test(test_engine_empty_value_gives_a_zero_output),
        cmocka_unit_test(test_engine_accepts_unaligned_buffers),
        cmocka_unit_test(test_engine_implementation_names_a_kernel_and_is_cached),
        cmocka_unit_test(test_engine_team_size_is_part_of_the_cache_key),
        cmocka_unit_test(test_engine_threads_with_own_workspaces_match_naive_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
