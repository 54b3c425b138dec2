/*
 * test_cost.c - lib/atrous_cost.h (the cost model: implementation classes, effective
 * multiply-adds, the modelled time) and atrous_engine_estimate() built on it: cheap (no
 * primitive compiled), honest about slow paths, refined by measured runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "atrous_cost.h"
#include "atrous_engine.h"
#include "engine_fixture.h"
#include "atrous_op.h"
#include "naive_ref.h"

/* A validated problem value [n, h, w, ic] x filters [kh, kw, oc, ic] at rate, with the output
 * shape TensorFlow's shape rule gives. */
static struct atrous_problem problem_of(int64_t n, int64_t h, int64_t w, int64_t ic, int64_t kh,
                                        int64_t kw, int64_t oc, int64_t rate, bool same)
{
    struct naive_problem np = {
        .value = {n, h, w, ic}, .filters = {kh, kw, oc, ic}, .rate = rate, .same = same};
    naive_ref_output_shape(np.value, np.filters, rate, same, np.output);
    struct atrous_shape vs, fs;
    struct atrous_problem p;
    struct atrous_error err;
    atrous_shape_make(&vs, np.value, 4, NULL);
    atrous_shape_make(&fs, np.filters, 4, NULL);
    const char *padding = same ? "SAME" : "VALID";
    if (atrous_op_validate(&vs, &fs, np.output, 4, rate, padding, strlen(padding), NULL, &p, &err))
        fail_msg("atrous_op_validate: %s", err.message);
    return p;
}

static struct atrous_estimate estimate_of(struct atrous_engine *engine,
                                          const struct atrous_problem *p, int threads)
{
    struct atrous_estimate e;
    struct atrous_error err;
    if (atrous_engine_estimate(engine, p, threads, &e, &err) != ATROUS_OK)
        fail_msg("atrous_engine_estimate: %s", err.message);
    return e;
}

static void test_cost_classifies_onednn_implementation_names(void **state)
{
    (void)state;
    assert_int_equal(atrous_cost_impl_class("brgconv:avx512_core"), ATROUS_IMPL_BRGEMM);
    assert_int_equal(atrous_cost_impl_class("brgconv_1x1:avx512_core_bf16"), ATROUS_IMPL_BRGEMM);
    assert_int_equal(atrous_cost_impl_class("jit:avx512_core"), ATROUS_IMPL_JIT);
    assert_int_equal(atrous_cost_impl_class("jit_bf16_1x1:avx512_core_bf16"), ATROUS_IMPL_JIT);
    assert_int_equal(atrous_cost_impl_class("x64:gemm:jit"), ATROUS_IMPL_GEMM);
    assert_int_equal(atrous_cost_impl_class("ref:any"), ATROUS_IMPL_REF);
    assert_int_equal(atrous_cost_impl_class("something new"), ATROUS_IMPL_REF);
    assert_int_equal(atrous_cost_impl_class(NULL), ATROUS_IMPL_REF);
    assert_int_equal(atrous_cost_impl_lanes("jit:avx512_core"), 16);
    assert_int_equal(atrous_cost_impl_lanes("jit:avx2"), 8);
    assert_int_equal(atrous_cost_impl_lanes("ref:any"), 4);
    assert_true(atrous_cost_impl_bf16("brgconv:avx512_core_bf16"));
    assert_false(atrous_cost_impl_bf16("brgconv:avx512_core"));
}

/* Counts, by brute force over every (output, tap) pair, the taps whose value index is inside
 * the image. */
static double brute_force_macs(const struct atrous_problem *p)
{
    double th = 0, tw = 0;
    for (int64_t o = 0; o < p->out_h; o++)
        for (int64_t k = 0; k < p->filter_h; k++) {
            int64_t i = o + p->pad_top - p->rate * k;
            th += i >= 0 && i < p->in_h;
        }
    for (int64_t o = 0; o < p->out_w; o++)
        for (int64_t k = 0; k < p->filter_w; k++) {
            int64_t i = o + p->pad_left - p->rate * k;
            tw += i >= 0 && i < p->in_w;
        }
    return (double)p->batch * (double)p->in_c * (double)p->out_c * th * tw;
}

static void test_cost_effective_macs_count_taps_inside_the_image(void **state)
{
    (void)state;
    struct naive_rng rng = {naive_ref_seed("test_cost")};
    for (int i = 0; i < 300; i++) {
        struct naive_problem np;
        naive_ref_random_problem(&rng, &naive_default_bounds, &np);
        struct atrous_problem p =
            problem_of(np.value[0], np.value[1], np.value[2], np.value[3], np.filters[0],
                       np.filters[1], np.filters[2], np.rate, np.same);
        double want = brute_force_macs(&p);
        assert_true(atrous_cost_effective_macs(&p) == want);
        assert_true(want <= atrous_problem_flops(&p) / 2);
    }
    /* At rate 100 almost every tap of a 3x3 filter lands in SAME padding of a 64x64 image. */
    struct atrous_problem wide = problem_of(1, 64, 64, 16, 3, 3, 16, 100, true);
    assert_true(atrous_cost_effective_macs(&wide) < atrous_problem_flops(&wide) / 2 / 5);
}

static void test_cost_model_orders_classes_and_scales_with_threads(void **state)
{
    (void)state;
    struct atrous_problem p = problem_of(1, 64, 64, 256, 3, 3, 256, 2, true);
    double peak = 200;
    double brg = atrous_cost_model_seconds(&p, "brgconv:avx512_core", 1, peak);
    double jit = atrous_cost_model_seconds(&p, "jit:avx512_core", 1, peak);
    double gemm = atrous_cost_model_seconds(&p, "gemm:jit", 1, peak);
    double ref = atrous_cost_model_seconds(&p, "ref:any", 1, peak);
    double bf16 = atrous_cost_model_seconds(&p, "brgconv:avx512_core_bf16", 1, peak);
    assert_true(brg < jit && jit < gemm && gemm < ref);
    assert_true(ref > 100 * jit);
    assert_true(bf16 < brg * 0.6);
    assert_true(atrous_cost_model_seconds(&p, "jit:avx512_core", 2, peak) < jit * 0.6);
    /* 4.6 GFLOP of effective work at 0.80 * 200 GFLOP/s: about 29 ms. */
    assert_true(jit > 0.02 && jit < 0.04);
    /* Three output channels use 3 of 16 lanes. */
    struct atrous_problem narrow = problem_of(1, 64, 64, 16, 3, 3, 3, 2, true);
    struct atrous_problem full = problem_of(1, 64, 64, 16, 3, 3, 16, 2, true);
    double t3 = atrous_cost_model_seconds(&narrow, "jit:avx512_core", 1, peak);
    double t16 = atrous_cost_model_seconds(&full, "jit:avx512_core", 1, peak);
    assert_true(t3 > t16 * 0.9);
}

static void test_estimate_compiles_nothing_and_names_the_implementation(void **state)
{
    (void)state;
    struct atrous_engine *engine = engine_fixture_engine(NULL);
    struct atrous_problem p = problem_of(1, 32, 32, 16, 3, 3, 16, 2, true);
    struct atrous_estimate e = estimate_of(engine, &p, 1);
    assert_non_null(e.impl);
    /* A fast kernel in either form: "deconv:jit:..." or "conv:brgconv:...". */
    assert_true(strncmp(e.impl, "deconv:", 7) == 0 || strncmp(e.impl, "conv:", 5) == 0);
    assert_true(strstr(e.impl, "jit") != NULL || strstr(e.impl, "brg") != NULL);
    assert_true(e.flops == atrous_problem_flops(&p));
    assert_true(e.seconds > 0 && e.seconds < 0.01);
    assert_false(e.measured);
    struct atrous_cache_stats s;
    atrous_engine_cache_stats(engine, &s);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.misses, 0);
    /* Cached: the same borrowed name again. */
    struct atrous_estimate again = estimate_of(engine, &p, 1);
    assert_ptr_equal(again.impl, e.impl);
    assert_true(again.seconds == e.seconds);
    atrous_engine_free(engine);
}

/* The slow path of the issue: a 64x64 filter on one input channel at rate 1, which oneDNN 2.6
 * can only run as a deconvolution with its reference kernel (~26 s on this host). The
 * deconvolution forced, the estimate shows it; chosen freely, the engine runs the forward
 * convolution instead (brgemm kernels), estimated a hundred times faster. */
static void test_estimate_exposes_the_reference_kernel_slow_path(void **state)
{
    (void)state;
    struct atrous_engine *engine = engine_fixture_of_form(ATROUS_FORM_DECONV);
    struct atrous_problem p = problem_of(1, 256, 256, 1, 64, 64, 16, 1, true);
    struct atrous_estimate e = estimate_of(engine, &p, 1);
    printf("estimate for 1x256x256x1 * 64x64x16x1 r1: %.1f s by %s\n", e.seconds, e.impl);
    assert_non_null(strstr(e.impl, "deconv:ref"));
    assert_true(e.seconds > 10);
    /* Two threads halve it, still far over any sensible per-request limit. */
    struct atrous_estimate two = estimate_of(engine, &p, 2);
    assert_true(two.seconds > 5 && two.seconds < e.seconds);
    atrous_engine_free(engine);
    engine = engine_fixture_engine(NULL);
    struct atrous_estimate chosen = estimate_of(engine, &p, 1);
    printf("chosen freely: %.3f s by %s\n", chosen.seconds, chosen.impl);
    assert_null(strstr(chosen.impl, "ref"));
    assert_true(chosen.seconds * 100 < e.seconds);
    atrous_engine_free(engine);
}

/* Filters so wide over an output so large that oneDNN's convolution descriptor would take a
 * noticeable time to create (out_w*KW over 65536): the estimate plans the deconvolution only. */
static void test_estimate_skips_the_convolution_past_its_planning_cap(void **state)
{
    (void)state;
    struct atrous_engine *engine = engine_fixture_engine(NULL);
    struct atrous_problem p = problem_of(1, 1024, 1024, 1, 384, 384, 1, 1, true);
    struct atrous_estimate e = estimate_of(engine, &p, 1);
    printf("estimate for 1x1024x1024x1 * 384x384x1x1 r1: %.0f s by %s\n", e.seconds, e.impl);
    assert_int_equal(strncmp(e.impl, "deconv:", 7), 0);
    assert_true(e.seconds > 60);
    atrous_engine_free(engine);
}

static void test_estimate_of_an_empty_problem_is_tiny(void **state)
{
    (void)state;
    struct atrous_engine *engine = engine_fixture_engine(NULL);
    struct atrous_problem p = problem_of(0, 8, 8, 4, 3, 3, 4, 2, true);
    struct atrous_estimate e = estimate_of(engine, &p, 1);
    assert_string_equal(e.impl, "none");
    assert_true(e.seconds < 1e-4);
    assert_true(e.flops == 0);
    atrous_engine_free(engine);
}

/* Runs p once on zero-filled tensors (the estimate cares about the run's time, not its values);
 * returns the wall time of the run call alone, in seconds. */
static double run_on_zeros(struct atrous_engine *engine, struct atrous_workspace *ws,
                           const struct atrous_problem *p)
{
    float *value = calloc(p->value_elements, sizeof(float));
    float *filters = calloc(p->filters_elements, sizeof(float));
    float *output = calloc(p->output_elements, sizeof(float));
    struct atrous_error err;
    struct timespec t0, t1;
    assert_true(value && filters && output);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(atrous_engine_run(engine, ws, p, value, filters, output, &err), ATROUS_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(value);
    free(filters);
    free(output);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

/* Once a problem has run (and its runs are long enough to be timed), the estimate is its own
 * measured time and names the implementation that ran, as the workspace reports it. */
static void test_estimate_is_refined_by_measured_runs(void **state)
{
    (void)state;
    struct atrous_engine *engine = engine_fixture_engine(NULL);
    struct atrous_workspace *ws = engine_fixture_workspace(engine);
    assert_null(atrous_workspace_last_implementation(ws));
    atrous_engine_set_thread_parallelism(1);
    struct atrous_problem p = problem_of(1, 32, 32, 32, 3, 3, 32, 2, true);
    struct atrous_estimate before = estimate_of(engine, &p, 1);
    assert_false(before.measured);
    for (int i = 0; i < 3; i++)
        run_on_zeros(engine, ws, &p);
    struct atrous_estimate after = estimate_of(engine, &p, 1);
    assert_true(after.measured);
    assert_true(after.seconds > 0);
    assert_ptr_equal(after.impl, atrous_workspace_last_implementation(ws));
    /* Another team size is another compiled problem: not measured yet. */
    assert_false(estimate_of(engine, &p, 2).measured);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
}

/* A measured time is the estimate only for a while after the run: a run slowed by a busy host
 * must not keep its problem refused for good (admission refusing it means it never runs to
 * correct the figure). */
static void test_measured_time_gives_way_to_the_model_after_a_while(void **state)
{
    (void)state;
    /* A second, so that a loaded host's pause between a run and the next line cannot make the
     * measurement stale before it is looked at. */
    struct atrous_engine_config config = {.measured_for_ms = 1000};
    struct atrous_engine *engine = engine_fixture_engine(&config);
    struct atrous_workspace *ws = engine_fixture_workspace(engine);
    atrous_engine_set_thread_parallelism(1);
    struct atrous_problem p = problem_of(1, 32, 32, 32, 3, 3, 32, 2, true);
    assert_false(estimate_of(engine, &p, 1).measured);
    run_on_zeros(engine, ws, &p);
    assert_true(estimate_of(engine, &p, 1).measured);
    struct timespec pause = {.tv_sec = 1, .tv_nsec = 300 * 1000000L};
    nanosleep(&pause, NULL);
    struct atrous_estimate stale = estimate_of(engine, &p, 1);
    assert_false(stale.measured);
    assert_true(stale.seconds > 0);
    /* The model of the compiled implementation: the one that ran (timing both forms at compile
     * may have chosen another than the uncompiled estimate's rule named). */
    assert_string_equal(stale.impl, atrous_workspace_last_implementation(ws));
    /* The next run measures anew: its own time, at most the wall time of the call (averaged
     * with a slower stale run it could be more). */
    double wall = run_on_zeros(engine, ws, &p);
    struct atrous_estimate fresh = estimate_of(engine, &p, 1);
    assert_true(fresh.measured);
    if (fresh.seconds > wall)
        fail_msg("the fresh estimate %.6f s is more than the run that made it (%.6f s)",
                 fresh.seconds, wall);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_classifies_onednn_implementation_names),
        cmocka_unit_test(test_cost_effective_macs_count_taps_inside_the_image),
        cmocka_unit_test(test_cost_model_orders_classes_and_scales_with_threads),
        cmocka_unit_test(test_estimate_compiles_nothing_and_names_the_implementation),
        cmocka_unit_test(test_estimate_exposes_the_reference_kernel_slow_path),
        cmocka_unit_test(test_estimate_skips_the_convolution_past_its_planning_cap),
        cmocka_unit_test(test_estimate_of_an_empty_problem_is_tiny),
        cmocka_unit_test(test_estimate_is_refined_by_measured_runs),
        cmocka_unit_test(test_measured_time_gives_way_to_the_model_after_a_while),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
