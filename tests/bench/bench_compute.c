/*
 * bench_compute.c - libatrous against a direct oneDNN call, side by side in one run.
 *
 * For each shape the issue names, two contenders run the same problem on the same data:
 *   direct  - the best hand-written oneDNN 2.6 use: NHWC src/dst, weights reordered ONCE into
 *             the primitive's layout, memory objects made once, then execute + wait per call;
 *   library - atrous_engine_run() with a workspace, as the service calls it per request
 *             (cache lookup, filters compared with the last ones it reordered);
 *   fresh   - the library when every call brings different filters (two buffers that differ
 *             in their last element, alternated: a full compare, a reorder and a copy each
 *             call - the worst case of the filters memo);
 *   1st       - the library's first call of the problem: compiling the primitive (a cache
 *             miss) plus one run.
 * GFLOP/s counts every tap of a dense deconvolution, including taps that land in the padding,
 * which oneDNN skips: small SAME problems can therefore show a little over 100% of peak.
 * They alternate in rounds so that drift on this shared machine hits both alike; the table
 * reports the median per-call time of each, GFLOP/s, the share of the FMA peak this program
 * measures itself, and library/direct. Usage: bench_compute [--threads N] [--seconds S]
 */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dnnl.h>

#include "atrous_engine.h"

extern void omp_set_num_threads(int threads);
extern int omp_get_max_threads(void);

#define CHECK(call)                                                                                \
    do {                                                                                           \
        dnnl_status_t s_ = (call);                                                                 \
        if (s_ != dnnl_success) {                                                                  \
            fprintf(stderr, "bench_compute: %s failed (%d)\n", #call, (int)s_);                    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

struct shape_case {
    const char *label;
    int64_t n, h, w, ic, oc, k, rate;
    const char *padding;
};

static const struct shape_case cases[] = {
    {"1x8x8x4->4", 1, 8, 8, 4, 4, 3, 2, "SAME"},
    {"1x32x32x16->16", 1, 32, 32, 16, 16, 3, 2, "SAME"},
    {"1x64x64x256->256", 1, 64, 64, 256, 256, 3, 2, "SAME"},
    {"1x65x65x256->256 r4", 1, 65, 65, 256, 256, 3, 4, "SAME"},
    {"8x32x32x64->64", 8, 32, 32, 64, 64, 3, 2, "SAME"},
    {"1x56x56x17->13 5x5 r3 VALID", 1, 56, 56, 17, 13, 5, 3, "VALID"},
    {"1x128x128x128->64", 1, 128, 128, 128, 64, 3, 2, "SAME"},
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Single-core AVX-512 FMA peak: 12 independent accumulator chains (named registers, not an
 * array the compiler might keep in memory) hide the 4-cycle FMA latency on 2 FMA ports. */
__attribute__((target("avx512f"))) static double fma_peak_gflops(void)
{
    const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(0.9999999f);
    __m512 c0 = _mm512_set1_ps(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    __m512 c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    const long iters = 50 * 1000 * 1000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_seconds();
        for (long it = 0; it < iters; it++) {
#define FMA12(x) x = _mm512_fmadd_ps(x, a, b)
            FMA12(c0);
            FMA12(c1);
            FMA12(c2);
            FMA12(c3);
            FMA12(c4);
            FMA12(c5);
            FMA12(c6);
            FMA12(c7);
            FMA12(c8);
            FMA12(c9);
            FMA12(c10);
            FMA12(c11);
#undef FMA12
            __asm__ volatile(""
                             : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6),
                               "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
        }
        double dt = now_seconds() - t0;
        double gflops = (double)iters * 12 * 16 * 2 / dt / 1e9;
        if (gflops > best)
            best = gflops;
    }
    return best;
}

struct direct {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t src, weights, dst;
};

/* The reference: what a careful oneDNN user writes for a fixed problem. */
static void direct_setup(struct direct *d, const struct atrous_problem *p, float *value,
                         const float *filters, float *output)
{
    CHECK(dnnl_engine_create(&d->engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags));
    dnnl_dims_t src_dims = {p->batch, p->in_c, p->in_h, p->in_w};
    dnnl_dims_t w_dims = {p->out_c, p->in_c, p->filter_h, p->filter_w};
    dnnl_dims_t dst_dims = {p->batch, p->out_c, p->out_h, p->out_w};
    dnnl_dims_t tf_strides = {p->in_c, 1, p->filter_w * p->out_c * p->in_c, p->out_c * p->in_c};
    dnnl_dims_t strides = {1, 1}, dil = {p->rate - 1, p->rate - 1};
    dnnl_dims_t pl = {p->pad_top, p->pad_left}, pr = {p->pad_bottom, p->pad_right};
    dnnl_memory_desc_t src_md, dst_md, any_w, user_w;
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&any_w, 4, w_dims, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_strides(&user_w, 4, w_dims, dnnl_f32, tf_strides));
    dnnl_deconvolution_desc_t desc;
    CHECK(dnnl_dilated_deconvolution_forward_desc_init(&desc, dnnl_forward_inference,
                                                       dnnl_deconvolution_direct, &src_md, &any_w,
                                                       NULL, &dst_md, strides, dil, pl, pr));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, d->engine, NULL));
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    CHECK(dnnl_primitive_create(&d->prim, pd));
    CHECK(dnnl_memory_create(&d->src, &src_md, d->engine, value));
    CHECK(dnnl_memory_create(&d->dst, &dst_md, d->engine, output));
    CHECK(dnnl_memory_create(&d->weights, w_md, d->engine, DNNL_MEMORY_ALLOCATE));
    dnnl_memory_t user;
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t reorder;
    CHECK(dnnl_memory_create(&user, &user_w, d->engine, (void *)filters));
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &user_w, d->engine, w_md, d->engine, NULL));
    CHECK(dnnl_primitive_create(&reorder, rpd));
    dnnl_exec_arg_t rargs[] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, d->weights}};
    CHECK(dnnl_primitive_execute(reorder, d->stream, 2, rargs));
    CHECK(dnnl_stream_wait(d->stream));
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(user);
    dnnl_primitive_desc_destroy(pd);
}

static void direct_run(struct direct *d)
{
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, d->src}, {DNNL_ARG_WEIGHTS, d->weights}, {DNNL_ARG_DST, d->dst}};
    CHECK(dnnl_primitive_execute(d->prim, d->stream, 3, args));
    CHECK(dnnl_stream_wait(d->stream));
}

static void direct_free(struct direct *d)
{
    dnnl_memory_destroy(d->src);
    dnnl_memory_destroy(d->weights);
    dnnl_memory_destroy(d->dst);
    dnnl_primitive_destroy(d->prim);
    dnnl_stream_destroy(d->stream);
    dnnl_engine_destroy(d->engine);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define ROUNDS 16 /* even: each contender runs first in half of them */

int main(int argc, char **argv)
{
    int threads = 1;
    double seconds = 0.6; /* per case and contender */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            printf("usage: %s [--threads N] [--seconds S]\n"
                   "Compares libatrous with a direct oneDNN call for the issue's shapes.\n",
                   argv[0]);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    omp_set_num_threads(threads);
    double peak1 = fma_peak_gflops();
    double peak = peak1 * threads;
    printf("compute: libatrous vs direct oneDNN, %d OpenMP thread(s); measured FMA peak %.0f "
           "GFLOP/s per core\n",
           threads, peak1);
    printf("%-28s %10s %10s %10s %8s %7s %8s %8s %9s  %s\n", "shape (3x3 r2 SAME unless said)",
           "direct ms", "library ms", "fresh ms", "GFLOP/s", "%peak", "lib/dir", "fresh/dir",
           "1st ms", "implementation");

    struct atrous_error err;
    struct atrous_engine *engine;
    struct atrous_workspace *ws;
    if (atrous_engine_create(NULL, &engine, &err) || atrous_workspace_create(engine, &ws, &err)) {
        fprintf(stderr, "bench_compute: %s\n", err.message);
        return 1;
    }
    int worst_ok = 1;
    char misses[1024] = "";
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct shape_case *sc = &cases[c];
        int64_t oh = sc->h, ow = sc->w;
        if (!strcmp(sc->padding, "VALID")) {
            oh += (sc->k - 1) * sc->rate;
            ow += (sc->k - 1) * sc->rate;
        }
        int64_t vdims[4] = {sc->n, sc->h, sc->w, sc->ic};
        int64_t fdims[4] = {sc->k, sc->k, sc->oc, sc->ic};
        int64_t out_shape[4] = {sc->n, oh, ow, sc->oc};
        struct atrous_shape vs, fs;
        struct atrous_problem p;
        atrous_shape_make(&vs, vdims, 4, NULL);
        atrous_shape_make(&fs, fdims, 4, NULL);
        if (atrous_op_validate(&vs, &fs, out_shape, 4, sc->rate, sc->padding, strlen(sc->padding),
                               NULL, &p, &err)) {
            fprintf(stderr, "bench_compute: %s: %s\n", sc->label, err.message);
            return 1;
        }
        float *value = atrous_aligned_alloc(p.value_elements * sizeof(float));
        float *filters = atrous_aligned_alloc(p.filters_elements * sizeof(float));
        float *filters2 = atrous_aligned_alloc(p.filters_elements * sizeof(float));
        float *out_lib = atrous_aligned_alloc(p.output_elements * sizeof(float));
        float *out_dir = atrous_aligned_alloc(p.output_elements * sizeof(float));
        srand(7);
        for (size_t i = 0; i < p.value_elements; i++)
            value[i] = (float)rand() / RAND_MAX - 0.5f;
        for (size_t i = 0; i < p.filters_elements; i++)
            filters[i] = (float)rand() / RAND_MAX - 0.5f;
        memcpy(filters2, filters, p.filters_elements * sizeof(float));
        filters2[p.filters_elements - 1] += 1.0f;

        struct direct d;
        direct_setup(&d, &p, value, filters, out_dir);
        /* Warm both (primitive creation, page faults), and size the rounds from one call. The
         * library's first call compiles the problem: what a cache miss costs
         * (--cache-capacity keeps that many problems compiled). */
        double t0 = now_seconds();
        if (atrous_engine_run(engine, ws, &p, value, filters, out_lib, &err)) {
            fprintf(stderr, "bench_compute: %s\n", err.message);
            return 1;
        }
        double first_ms = (now_seconds() - t0) * 1e3;
        t0 = now_seconds();
        direct_run(&d);
        direct_run(&d);
        double one = (now_seconds() - t0) / 2;
        long per_round = (long)(seconds / ROUNDS / (one > 1e-7 ? one : 1e-7));
        if (per_round < 1)
            per_round = 1;

        double dir_t[ROUNDS], lib_t[ROUNDS], fresh_t[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            /* Odd rounds run the library first: whichever runs first after the fresh-filters
             * contender (which reorders and so evicts) pays for it, a bias of a few percent
             * on the smallest problem. */
            for (int turn = 0; turn < 2; turn++) {
                t0 = now_seconds();
                if ((turn == 0) == (r % 2 == 0)) {
                    for (long i = 0; i < per_round; i++)
                        direct_run(&d);
                    dir_t[r] = (now_seconds() - t0) / per_round;
                } else {
                    for (long i = 0; i < per_round; i++)
                        atrous_engine_run(engine, ws, &p, value, filters, out_lib, &err);
                    lib_t[r] = (now_seconds() - t0) / per_round;
                }
            }
            t0 = now_seconds();
            for (long i = 0; i < per_round; i++)
                atrous_engine_run(engine, ws, &p, value, i % 2 ? filters2 : filters, out_lib, &err);
            fresh_t[r] = (now_seconds() - t0) / per_round;
        }
        /* Leave out_lib holding the result for `filters`, which direct used. */
        atrous_engine_run(engine, ws, &p, value, filters, out_lib, &err);
        double dir_ms = median(dir_t, ROUNDS) * 1e3, lib_ms = median(lib_t, ROUNDS) * 1e3;
        double fresh_ms = median(fresh_t, ROUNDS) * 1e3;
        double maxdiff = 0;
        for (size_t i = 0; i < p.output_elements; i++)
            maxdiff = fmax(maxdiff, fabs((double)out_lib[i] - out_dir[i]));
        char impl[64] = "";
        atrous_engine_implementation(engine, &p, impl, sizeof(impl), &err);
        double gflops = atrous_problem_flops(&p) / (lib_ms * 1e-3) / 1e9;
        double ratio = lib_ms / dir_ms;
        printf("%-28s %10.4f %10.4f %10.4f %8.1f %6.1f%% %7.3fx %7.3fx %9.3f  %s%s\n", sc->label,
               dir_ms, lib_ms, fresh_ms, gflops, 100 * gflops / peak, ratio, fresh_ms / dir_ms,
               first_ms, impl, maxdiff > 1e-3 ? "  RESULTS DIFFER" : "");
        if (ratio > 1.05) {
            worst_ok = 0;
            /* A miss is reported with its absolute cost: on a sub-microsecond call, the
             * library's fixed per-call work (key compare, re-pointing memory, the filters
             * compare) is the whole difference. */
            snprintf(misses + strlen(misses), sizeof(misses) - strlen(misses),
                     "  MISSED  %s: %.3fx = %.0f ns more per call than direct (%.0f ns)\n",
                     sc->label, ratio, (lib_ms - dir_ms) * 1e6, dir_ms * 1e6);
        }
        direct_free(&d);
        atrous_aligned_free(value);
        atrous_aligned_free(filters);
        atrous_aligned_free(filters2);
        atrous_aligned_free(out_lib);
        atrous_aligned_free(out_dir);
    }
    printf("target: library within 5%% of direct for every shape: %s\n%s",
           worst_ok ? "met" : "not met", misses);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
    return 0;
}
