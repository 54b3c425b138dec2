/*
 * test_engine_forms.c - the two forms the engine runs a problem in (the dilated deconvolution
 * and the equivalent forward convolution with flipped filters and mirrored pads), each forced
 * through the engine config and compared with the corpus and the naive reference, raw and
 * prepared filters; and bf16 compute (precision BF16) against the stated error bound (README
 * "bf16 compute: the error bound") with a double-precision reference, in each form.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_engine.h"
#include "engine_fixture.h"
#include "corpus.h"
#include "naive_ref.h"

#define RANDOM_PER_FORM 60

static const enum atrous_form forms[] = {ATROUS_FORM_DECONV, ATROUS_FORM_CONV, ATROUS_FORM_AUTO};
static const char *const form_names[] = {"deconv", "conv", "auto"};

static void validate_case(const struct corpus_case *c, struct atrous_problem *p)
{
    struct atrous_error err;
    if (atrous_op_validate(&c->value_shape, &c->filters_shape, c->output_shape, c->output_shape_len,
                           c->rate, c->padding, c->padding_len, NULL, p, &err) != ATROUS_OK)
        fail_msg("%s: %s", c->name, err.message);
}

/* The implementation name says the form that ran: "deconv:..." or "conv:...". */
static bool names_form(const char *impl, enum atrous_form form)
{
    if (impl == NULL)
        return false;
    if (form == ATROUS_FORM_CONV)
        return strncmp(impl, "conv:", 5) == 0;
    if (form == ATROUS_FORM_DECONV)
        return strncmp(impl, "deconv:", 7) == 0;
    return strncmp(impl, "conv:", 5) == 0 || strncmp(impl, "deconv:", 7) == 0;
}

/* Every valid corpus case through each forced form (and the free choice), raw filters. */
static void test_forms_corpus_valid_cases_match_in_each_form(void **state)
{
    (void)state;
    char **paths = NULL, why[1024];
    size_t count = 0;
    if (corpus_list("valid", &paths, &count, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        struct atrous_engine *engine = engine_fixture_of_form(forms[f]);
        struct atrous_workspace *ws = engine_fixture_workspace(engine);
        size_t failures = 0;
        double worst = 0;
        for (size_t i = 0; i < count; i++) {
            struct corpus_case c;
            struct corpus_comparison cmp;
            if (corpus_load(paths[i], &c, why, sizeof(why)) != 0)
                fail_msg("%s", why);
            if (corpus_check(engine, ws, &c, &cmp, why, sizeof(why)) != 0) {
                print_error("%s form: %s\n", form_names[f], why);
                failures++;
            } else if (cmp.worst > worst) {
                worst = cmp.worst;
            }
            const char *impl = atrous_workspace_last_implementation(ws);
            if (impl != NULL && !names_form(impl, forms[f])) {
                print_error("%s form: %s ran as %s\n", form_names[f], c.name, impl);
                failures++;
            }
            corpus_case_free(&c);
        }
        printf("corpus, %s form: %zu cases, worst scaled error %.4g\n", form_names[f], count,
               worst);
        atrous_workspace_free(ws);
        atrous_engine_free(engine);
        assert_int_equal(failures, 0);
    }
    corpus_paths_free(paths, count);
}

/* Runs c through prepared filters and compares with its expected output. */
static void check_prepared(struct atrous_engine *engine, struct atrous_workspace *ws,
                           struct atrous_filters *filters, const struct corpus_case *c,
                           size_t *failures)
{
    struct atrous_problem p;
    struct atrous_error err;
    struct corpus_comparison cmp;
    validate_case(c, &p);
    float *out = malloc((p.output_elements ? p.output_elements : 1) * sizeof(float));
    assert_non_null(out);
    if (atrous_engine_run_filters(engine, ws, &p, c->value, filters, out, &err) != ATROUS_OK)
        fail_msg("%s: %s", c->name, err.message);
    corpus_compare(out, c->expected, c->expected_count, &cmp);
    if (cmp.failures) {
        print_error("%s: prepared filters, %zu elements off (worst %.3g)\n", c->name, cmp.failures,
                    cmp.worst);
        (*failures)++;
    }
    free(out);
}

/* Random problems through each forced form, raw filters (corpus_check) and prepared filters;
 * one prepared filters object serves the deconvolution engine and the convolution engine in
 * turn, so a flipped layout and a plain one of the same memory descriptor must stay apart. */
static void test_forms_random_problems_match_naive_reference(void **state)
{
    (void)state;
    struct naive_rng rng = {naive_ref_seed("test_engine_forms random problems")};
    struct atrous_engine *deconv = engine_fixture_of_form(ATROUS_FORM_DECONV);
    struct atrous_engine *conv = engine_fixture_of_form(ATROUS_FORM_CONV);
    struct atrous_workspace *ws_deconv = engine_fixture_workspace(deconv),
                            *ws_conv = engine_fixture_workspace(conv);
    size_t failures = 0;
    double worst[2] = {0, 0};
    for (int i = 0; i < RANDOM_PER_FORM; i++) {
        struct naive_problem np;
        struct corpus_case c;
        struct corpus_comparison cmp;
        char why[1024];
        struct atrous_error err;
        naive_ref_random_problem(&rng, &naive_default_bounds, &np);
        assert_int_equal(naive_ref_make_case(&rng, &np, &c), 0);
        struct atrous_engine *engines[2] = {deconv, conv};
        struct atrous_workspace *wss[2] = {ws_deconv, ws_conv};
        for (int k = 0; k < 2; k++) {
            if (corpus_check(engines[k], wss[k], &c, &cmp, why, sizeof(why)) != 0) {
                print_error("%s form, random problem %d: %s\n", form_names[k], i, why);
                failures++;
            } else if (cmp.worst > worst[k]) {
                worst[k] = cmp.worst;
            }
        }
        struct atrous_filters *filters = NULL;
        assert_int_equal(atrous_filters_create(deconv, &c.filters_shape, c.filters, &filters, &err),
                         ATROUS_OK);
        for (int round = 0; round < 2; round++)
            for (int k = 0; k < 2; k++)
                check_prepared(engines[k], wss[k], filters, &c, &failures);
        atrous_filters_free(filters);
        corpus_case_free(&c);
    }
    printf("random problems: %d per form, worst scaled error deconv %.4g, conv %.4g\n",
           RANDOM_PER_FORM, worst[0], worst[1]);
    atrous_workspace_free(ws_deconv);
    atrous_workspace_free(ws_conv);
    atrous_engine_free(deconv);
    atrous_engine_free(conv);
    assert_int_equal(failures, 0);
}

/* The forced form is what runs and what every report names. */
static void test_forms_forced_form_is_named_everywhere(void **state)
{
    (void)state;
    struct corpus_case c;
    struct naive_rng rng = {7};
    struct naive_problem np = {{1, 16, 16, 32}, {3, 3, 32, 32}, {1, 16, 16, 32}, 2, true};
    assert_int_equal(naive_ref_make_case(&rng, &np, &c), 0);
    for (int k = 0; k < 2; k++) {
        struct atrous_engine *engine = engine_fixture_of_form(forms[k]);
        struct atrous_workspace *ws = engine_fixture_workspace(engine);
        struct atrous_problem p;
        struct atrous_estimate est;
        struct atrous_error err;
        struct corpus_comparison cmp;
        char impl[96], why[512];
        validate_case(&c, &p);
        assert_int_equal(atrous_engine_estimate(engine, &p, 1, &est, &err), ATROUS_OK);
        assert_true(names_form(est.impl, forms[k]));
        assert_int_equal(corpus_check(engine, ws, &c, &cmp, why, sizeof(why)), 0);
        assert_true(names_form(atrous_workspace_last_implementation(ws), forms[k]));
        assert_int_equal(atrous_engine_implementation(engine, &p, impl, sizeof(impl), &err),
                         ATROUS_OK);
        assert_true(names_form(impl, forms[k]));
        printf("%s form: %s\n", form_names[k], impl);
        atrous_workspace_free(ws);
        atrous_engine_free(engine);
    }
    corpus_case_free(&c);
}

/*
 * bf16 compute. The bound (README "bf16 compute: the error bound"), for an output of n terms
 * value*filter with S = sum |value*filter|:
 *   |got - exact| <= ((2u + u^2) + gamma(n-1) * (1 + u)^2) * S + n * 2^-126
 * with u = 2^-8 (bf16 rounding), gamma(k) = k*2^-24 / (1 - k*2^-24) (f32 accumulation in any
 * order) and n * 2^-126 for subnormals flushed to zero by the bf16 dot-product instructions.
 */
static double bf16_bound(double n, double s)
{
    const double u = ldexp(1, -8), u32 = ldexp(1, -24);
    double k = n > 1 ? n - 1 : 0;
    double gamma = k * u32 / (1 - k * u32);
    return (2 * u + u * u + gamma * (1 + u) * (1 + u)) * s + n * ldexp(1, -126);
}

struct bound_stats {
    double worst_ratio;  /* largest err / bound seen */
    double worst_scaled; /* largest err / S seen (S > 0) */
    const char *where;
    size_t outputs, violations;
    size_t runs, bf16_runs; /* problems run, and of those computed in bf16 */
};

/* Runs a case in bf16 and checks every output against the bound; updates stats. */
static void check_bf16_case(struct atrous_engine *engine, struct atrous_workspace *ws, bool bf16,
                            const struct corpus_case *c, struct bound_stats *stats,
                            const char *label)
{
    struct atrous_problem p;
    struct atrous_error err;
    struct naive_problem np;
    validate_case(c, &p);
    p.precision = ATROUS_PRECISION_BF16;
    naive_problem_from_case(c, &np);
    size_t n_out = p.output_elements;
    float *out = malloc((n_out ? n_out : 1) * sizeof(float));
    double *exact = malloc((n_out ? n_out : 1) * sizeof(double));
    double *mag = malloc((n_out ? n_out : 1) * sizeof(double));
    assert_true(out && exact && mag);
    if (atrous_engine_run(engine, ws, &p, c->value, c->filters, out, &err) != ATROUS_OK)
        fail_msg("%s: %s", c->name, err.message);
    /* Without bf16 support never bf16; with it, bf16 unless the engine had to fall back to f32
     * (an implementation it knows to be wrong, lib/atrous_engine_plan.c known_wrong()). */
    bool ran_bf16 = false;
    if (p.value_elements > 0 && n_out > 0) {
        ran_bf16 = atrous_workspace_last_precision(ws) == ATROUS_PRECISION_BF16;
        if (!bf16)
            assert_false(ran_bf16);
        stats->runs++;
        stats->bf16_runs += ran_bf16;
    }
    bf16 = ran_bf16;
    naive_ref_run_double(&np, c->value, c->filters, exact, mag);
    double terms = (double)(p.filter_h * p.filter_w * p.in_c);
    for (size_t i = 0; i < n_out; i++) {
        double e = fabs((double)out[i] - exact[i]);
        /* Without bf16 the run is f32: the corpus tolerance applies instead. */
        double bound = bf16 ? bf16_bound(terms, mag[i]) : 1e-4 + 1e-4 * fabs(exact[i]);
        if (!(e <= bound)) {
            if (stats->violations++ < 5)
                print_error("%s %s: output %zu = %.9g, exact %.9g, S %.6g: error %.3g over the "
                            "bound %.3g\n",
                            label, c->name, i, out[i], exact[i], mag[i], e, bound);
            continue;
        }
        double ratio = bound > 0 ? e / bound : 0;
        if (ratio > stats->worst_ratio) {
            stats->worst_ratio = ratio;
            stats->where = label;
        }
        if (mag[i] > 0 && e / mag[i] > stats->worst_scaled)
            stats->worst_scaled = e / mag[i];
    }
    stats->outputs += n_out;
    free(out);
    free(exact);
    free(mag);
}

static void test_bf16_compute_within_the_stated_bound(void **state)
{
    (void)state;
    char **paths = NULL, why[1024];
    size_t count = 0;
    struct bound_stats stats = {0, 0, "", 0, 0, 0, 0};
    struct naive_rng rng = {naive_ref_seed("test_engine_forms bf16")};
    if (corpus_list("valid", &paths, &count, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        struct atrous_engine *engine = engine_fixture_of_form(forms[f]);
        struct atrous_workspace *ws = engine_fixture_workspace(engine);
        struct atrous_engine_info info;
        atrous_engine_get_info(engine, &info);
        for (size_t i = 0; i < count; i++) {
            struct corpus_case c;
            if (corpus_load(paths[i], &c, why, sizeof(why)) != 0)
                fail_msg("%s", why);
            check_bf16_case(engine, ws, info.bf16, &c, &stats, form_names[f]);
            corpus_case_free(&c);
        }
        for (int i = 0; i < RANDOM_PER_FORM; i++) {
            struct naive_problem np;
            struct corpus_case c;
            naive_ref_random_problem(&rng, &naive_default_bounds, &np);
            assert_int_equal(naive_ref_make_case(&rng, &np, &c), 0);
            check_bf16_case(engine, ws, info.bf16, &c, &stats, form_names[f]);
            corpus_case_free(&c);
        }
        if (f == 0)
            printf("bf16 support: %s (ISA %s)\n", info.bf16 ? "yes" : "no: runs f32", info.cpu_isa);
        atrous_workspace_free(ws);
        atrous_engine_free(engine);
    }
    corpus_paths_free(paths, count);
    printf("bf16 compute: %zu outputs (corpus + %d random problems, per form), worst "
           "error/bound %.4g (%s form), worst error/S %.3g\n",
           stats.outputs, RANDOM_PER_FORM, stats.worst_ratio, stats.where, stats.worst_scaled);
    printf("bf16 compute: %zu of %zu runs in bf16 (the rest f32 by fallback)\n", stats.bf16_runs,
           stats.runs);
    assert_int_equal(stats.violations, 0);
    assert_true(stats.outputs > 1000);
    /* Fallbacks are the exception: most runs are bf16 where the CPU has it. */
    struct atrous_engine *probe = engine_fixture_of_form(ATROUS_FORM_AUTO);
    struct atrous_engine_info info;
    atrous_engine_get_info(probe, &info);
    atrous_engine_free(probe);
    if (info.bf16)
        assert_true(stats.bf16_runs * 10 > stats.runs * 8);
}

/* Prepared filters hold their bf16 layout next to the f32 one; the estimate counts the
 * converted value; an f32 problem after a bf16 one is f32 again. */
static void test_bf16_layouts_estimate_and_reported_precision(void **state)
{
    (void)state;
    struct atrous_engine *engine = engine_fixture_of_form(ATROUS_FORM_AUTO);
    struct atrous_workspace *ws = engine_fixture_workspace(engine);
    struct atrous_engine_info info;
    atrous_engine_get_info(engine, &info);
    struct corpus_case c;
    struct naive_rng rng = {11};
    struct naive_problem np = {{2, 12, 12, 32}, {3, 3, 32, 32}, {2, 12, 12, 32}, 2, true};
    assert_int_equal(naive_ref_make_case(&rng, &np, &c), 0);
    struct atrous_problem p, pb;
    struct atrous_error err;
    validate_case(&c, &p);
    pb = p;
    pb.precision = ATROUS_PRECISION_BF16;
    assert_int_equal(atrous_workspace_last_precision(ws), ATROUS_PRECISION_F32);

    struct atrous_filters *filters = NULL;
    assert_int_equal(atrous_filters_create(engine, &c.filters_shape, c.filters, &filters, &err),
                     ATROUS_OK);
    float *out = malloc(p.output_elements * sizeof(float));
    assert_non_null(out);
    assert_int_equal(atrous_engine_run_filters(engine, ws, &p, c.value, filters, out, &err),
                     ATROUS_OK);
    size_t f32_layouts = atrous_filters_layout_count(filters);
    struct atrous_estimate est;
    assert_int_equal(atrous_engine_estimate(engine, &pb, 1, &est, &err), ATROUS_OK);
    printf("bf16 estimate: %s, %.3g s, workspace %zu bytes\n", est.impl, est.seconds,
           est.workspace_bytes);
    assert_int_equal(atrous_engine_run_filters(engine, ws, &pb, c.value, filters, out, &err),
                     ATROUS_OK);
    if (info.bf16) {
        assert_int_equal(atrous_workspace_last_precision(ws), ATROUS_PRECISION_BF16);
        assert_non_null(strstr(est.impl, "bf16"));
        /* The converted value is counted, and is what the workspace holds besides the rest. */
        assert_true(est.workspace_bytes >= p.value_elements * 2);
        /* The bf16 weights are a layout of their own, made once. */
        assert_int_equal(atrous_filters_layout_count(filters), f32_layouts + 1);
        assert_int_equal(atrous_engine_run_filters(engine, ws, &pb, c.value, filters, out, &err),
                         ATROUS_OK);
        assert_int_equal(atrous_filters_layout_count(filters), f32_layouts + 1);
    } else {
        assert_int_equal(atrous_workspace_last_precision(ws), ATROUS_PRECISION_F32);
    }
    /* Raw filters in bf16: the workspace holds what the compiled estimate says. */
    atrous_workspace_trim(ws);
    assert_int_equal(atrous_engine_run(engine, ws, &pb, c.value, c.filters, out, &err), ATROUS_OK);
    assert_int_equal(
        atrous_engine_estimate(engine, &pb, atrous_engine_thread_parallelism(), &est, &err),
        ATROUS_OK);
    assert_int_equal(atrous_workspace_held_bytes(ws), est.workspace_bytes);
    /* f32 again. */
    assert_int_equal(atrous_engine_run(engine, ws, &p, c.value, c.filters, out, &err), ATROUS_OK);
    assert_int_equal(atrous_workspace_last_precision(ws), ATROUS_PRECISION_F32);
    struct corpus_comparison cmp;
    corpus_compare(out, c.expected, c.expected_count, &cmp);
    assert_int_equal(cmp.failures, 0);
    free(out);
    atrous_filters_free(filters);
    corpus_case_free(&c);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
}

int main(void)
{
    /* Ask oneDNN for bf16 math by default: f32 runs must stay strict whatever it says. */
    setenv("ONEDNN_DEFAULT_FPMATH_MODE", "BF16", 0);
    atrous_engine_set_thread_parallelism(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms_corpus_valid_cases_match_in_each_form),
        cmocka_unit_test(test_forms_random_problems_match_naive_reference),
        cmocka_unit_test(test_forms_forced_form_is_named_everywhere),
        cmocka_unit_test(test_bf16_compute_within_the_stated_bound),
        cmocka_unit_test(test_bf16_layouts_estimate_and_reported_precision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
