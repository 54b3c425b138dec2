/*
 * bench_compute.c - the compute paths side by side in one run, against the FMA peak measured
 * in the same run (issue 13).
 *
 * For each shape the issue names, these contenders run the same problem on the same data:
 *   today   - the library forced to the dilated deconvolution (ATROUS_FORM_DECONV): the path
 *             every problem took before issue 13;
 *   chosen  - the library as the service runs it (ATROUS_FORM_AUTO): the deconvolution or the
 *             forward convolution with flipped filters, whichever the engine chose;
 *   bf16    - the chosen library path with precision BF16 (value converted per call, filters
 *             once), f32 accumulation and output;
 *   direct  - hand-written oneDNN 2.6: f32 deconvolution (what "today" should match), and the
 *             best bf16 primitive (deconvolution or convolution, faster of the two, src already
 *             bf16: no conversion per call);
 *   1st     - the chosen library path's first call: compiling (both forms planned and, for a
 *             cheap problem, timed) plus one run.
 * GFLOP/s counts every tap of a dense deconvolution, including taps that land in the padding,
 * which oneDNN skips: small SAME problems can therefore show a little over 100% of peak. The
 * f32 peak is measured here; the bf16 peak is twice it on avx512_bf16 (vdpbf16ps: two
 * multiply-adds per lane). Contenders alternate in rounds so that drift on this shared
 * machine hits all alike; the table reports medians. Usage: bench_compute [--threads N]
 * [--seconds S]
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
    int compute_bound; /* the 90%-of-peak shapes */
};

static const struct shape_case cases[] = {
    {"1x8x8x4->4", 1, 8, 8, 4, 4, 3, 2, "SAME", 0},
    {"1x32x32x16->16", 1, 32, 32, 16, 16, 3, 2, "SAME", 0},
    {"1x64x64x256->256", 1, 64, 64, 256, 256, 3, 2, "SAME", 1},
    {"1x65x65x256->256 r4", 1, 65, 65, 256, 256, 3, 4, "SAME", 1},
    {"8x32x32x64->64", 8, 32, 32, 64, 64, 3, 2, "SAME", 1},
    {"1x56x56x17->13 5x5 r3 VALID", 1, 56, 56, 17, 13, 5, 3, "VALID", 0},
    {"1x128x128x128->64", 1, 128, 128, 128, 64, 3, 2, "SAME", 1},
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
    char impl[64];
};

/* TF filters [KH, KW, OC, IC] flipped in KH and KW (the forward convolution's weights). */
static void flip(const struct atrous_problem *p, const float *from, float *to)
{
    size_t block = (size_t)(p->out_c * p->in_c);
    for (int64_t kh = 0; kh < p->filter_h; kh++)
        for (int64_t kw = 0; kw < p->filter_w; kw++)
            memcpy(to + ((p->filter_h - 1 - kh) * p->filter_w + (p->filter_w - 1 - kw)) * block,
                   from + (kh * p->filter_w + kw) * block, block * sizeof(float));
}

/* Reorders from (a memory of md_from over data) into a new memory of md_to. */
static dnnl_memory_t reordered(struct direct *d, const dnnl_memory_desc_t *md_from, void *data,
                               const dnnl_memory_desc_t *md_to)
{
    dnnl_memory_t from, to;
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t reorder;
    CHECK(dnnl_memory_create(&from, md_from, d->engine, data));
    CHECK(dnnl_memory_create(&to, md_to, d->engine, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, md_from, d->engine, md_to, d->engine, NULL));
    CHECK(dnnl_primitive_create(&reorder, rpd));
    dnnl_exec_arg_t rargs[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    CHECK(dnnl_primitive_execute(reorder, d->stream, 2, rargs));
    CHECK(dnnl_stream_wait(d->stream));
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(from);
    return to;
}

/* The reference: what a careful oneDNN user writes for a fixed problem, in one form (conv:
 * flipped filters, mirrored pads) and data type (bf16: src and weights converted once here).
 * Returns -1 when oneDNN has no implementation. */
static int direct_setup(struct direct *d, const struct atrous_problem *p, int conv, int bf16,
                        float *value, const float *filters, float *output)
{
    CHECK(dnnl_engine_create(&d->engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags));
    dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t src_dims = {p->batch, p->in_c, p->in_h, p->in_w};
    dnnl_dims_t w_dims = {p->out_c, p->in_c, p->filter_h, p->filter_w};
    dnnl_dims_t dst_dims = {p->batch, p->out_c, p->out_h, p->out_w};
    dnnl_dims_t tf_strides = {p->in_c, 1, p->filter_w * p->out_c * p->in_c, p->out_c * p->in_c};
    dnnl_dims_t strides = {1, 1};
    dnnl_dims_t dil = {p->filter_h == 1 ? 0 : p->rate - 1, p->filter_w == 1 ? 0 : p->rate - 1};
    int64_t sh = conv ? (p->filter_h - 1) * (dil[0] + 1) : 0;
    int64_t sw = conv ? (p->filter_w - 1) * (dil[1] + 1) : 0;
    int64_t sign = conv ? -1 : 1;
    dnnl_dims_t pl = {sh + sign * p->pad_top, sw + sign * p->pad_left};
    dnnl_dims_t pr = {sh + sign * p->pad_bottom, sw + sign * p->pad_right};
    dnnl_memory_desc_t user_src, src_md, dst_md, any_w, user_w;
    CHECK(dnnl_memory_desc_init_by_tag(&user_src, 4, src_dims, dnnl_f32, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dt, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&any_w, 4, w_dims, dt, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_strides(&user_w, 4, w_dims, dnnl_f32, tf_strides));
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st;
    if (conv) {
        dnnl_convolution_desc_t desc;
        CHECK(dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference,
                                                         dnnl_convolution_direct, &src_md, &any_w,
                                                         NULL, &dst_md, strides, dil, pl, pr));
        st = dnnl_primitive_desc_create(&pd, &desc, NULL, d->engine, NULL);
    } else {
        dnnl_deconvolution_desc_t desc;
        CHECK(dnnl_dilated_deconvolution_forward_desc_init(
            &desc, dnnl_forward_inference, dnnl_deconvolution_direct, &src_md, &any_w, NULL,
            &dst_md, strides, dil, pl, pr));
        st = dnnl_primitive_desc_create(&pd, &desc, NULL, d->engine, NULL);
    }
    if (st != dnnl_success) {
        dnnl_stream_destroy(d->stream);
        dnnl_engine_destroy(d->engine);
        return -1;
    }
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(d->impl, sizeof(d->impl), "%s:%s", conv ? "conv" : "deconv", impl);
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    CHECK(dnnl_primitive_create(&d->prim, pd));
    if (bf16)
        d->src = reordered(d, &user_src, value, &src_md);
    else
        CHECK(dnnl_memory_create(&d->src, &src_md, d->engine, value));
    CHECK(dnnl_memory_create(&d->dst, &dst_md, d->engine, output));
    float *flipped = NULL;
    if (conv) {
        flipped = malloc(p->filters_elements * sizeof(float));
        flip(p, filters, flipped);
    }
    d->weights = reordered(d, &user_w, conv ? flipped : (void *)filters, w_md);
    free(flipped);
    dnnl_primitive_desc_destroy(pd);
    return 0;
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

#define ROUNDS 16 /* even */

/* The contenders, in the order they run within a round (rotated each round). */
enum { C_DIRECT, C_TODAY, C_CHOSEN, C_BF16, C_DIRECT_BF16, C_COUNT };

struct lib_run {
    struct atrous_engine *engine;
    struct atrous_workspace *ws;
    const struct atrous_problem *p;
    const float *value, *filters;
    float *out;
};

static void lib_call(struct lib_run *r)
{
    struct atrous_error err;
    if (atrous_engine_run(r->engine, r->ws, r->p, r->value, r->filters, r->out, &err)) {
        fprintf(stderr, "bench_compute: %s\n", err.message);
        exit(1);
    }
}

static struct atrous_engine *engine_of(enum atrous_form form, struct atrous_workspace **ws)
{
    struct atrous_error err;
    struct atrous_engine *engine;
    struct atrous_engine_config config = {.form = form};
    if (atrous_engine_create(&config, &engine, &err) || atrous_workspace_create(engine, ws, &err)) {
        fprintf(stderr, "bench_compute: %s\n", err.message);
        exit(1);
    }
    return engine;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

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
                   "Today's deconvolution path, the chosen f32 path and bf16 compute, through "
                   "libatrous and direct oneDNN, for the issue's shapes.\n",
                   argv[0]);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    omp_set_num_threads(threads);
    struct atrous_workspace *ws_today, *ws_chosen;
    struct atrous_engine *today = engine_of(ATROUS_FORM_DECONV, &ws_today);
    struct atrous_engine *chosen = engine_of(ATROUS_FORM_AUTO, &ws_chosen);
    struct atrous_engine_info info;
    atrous_engine_get_info(chosen, &info);
    double peak1 = fma_peak_gflops();
    double peak = peak1 * threads;
    double peak16 = peak * (info.bf16 ? 2 : 1);
    printf("compute: %d OpenMP thread(s); FMA peak measured now %.0f GFLOP/s per core (f32), "
           "bf16 peak %.0f (%s); oneDNN %s dispatching to %s\n",
           threads, peak1, peak16 / threads,
           info.bf16 ? "2x: avx512_bf16" : "no bf16: bf16 runs f32", info.onednn_version,
           info.cpu_isa);
    printf("%-28s | %-19s | %-37s | %-42s | %-14s | %s\n", "", "today (deconv lib)",
           "chosen f32 (library)", "bf16 compute (library)", "direct bf16", "");
    printf("%-28s | %7s %5s %5s | %7s %5s %6s %16s | %7s %5s %5s %22s | %7s %6s | %8s %7s %8s\n",
           "shape (3x3 r2 SAME unless said)", "GFLOP/s", "%pk", "/dir", "GFLOP/s", "%pk", "/today",
           "primitive", "GFLOP/s", "%pk16", "/f32", "primitive", "GFLOP/s", "%pk16", "1st ms",
           "errf32", "errbf16");

    char verdicts[4096] = "";
#define VERDICT(...)                                                                               \
    snprintf(verdicts + strlen(verdicts), sizeof(verdicts) - strlen(verdicts), __VA_ARGS__)
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
        struct atrous_problem p, pb;
        struct atrous_error err;
        atrous_shape_make(&vs, vdims, 4, NULL);
        atrous_shape_make(&fs, fdims, 4, NULL);
        if (atrous_op_validate(&vs, &fs, out_shape, 4, sc->rate, sc->padding, strlen(sc->padding),
                               NULL, &p, &err)) {
            fprintf(stderr, "bench_compute: %s: %s\n", sc->label, err.message);
            return 1;
        }
        pb = p;
        pb.precision = ATROUS_PRECISION_BF16;
        float *value = atrous_aligned_alloc(p.value_elements * sizeof(float));
        float *filters = atrous_aligned_alloc(p.filters_elements * sizeof(float));
        float *out[C_COUNT];
        for (int k = 0; k < C_COUNT; k++)
            out[k] = atrous_aligned_alloc(p.output_elements * sizeof(float));
        srand(7);
        for (size_t i = 0; i < p.value_elements; i++)
            value[i] = (float)rand() / RAND_MAX - 0.5f;
        for (size_t i = 0; i < p.filters_elements; i++)
            filters[i] = (float)rand() / RAND_MAX - 0.5f;

        struct direct d, d16[2];
        direct_setup(&d, &p, 0, 0, value, filters, out[C_DIRECT]);
        int have16[2];
        for (int k = 0; k < 2; k++)
            have16[k] = direct_setup(&d16[k], &p, k, 1, value, filters, out[C_DIRECT_BF16]) == 0;
        struct lib_run runs[C_COUNT] = {
            [C_TODAY] = {today, ws_today, &p, value, filters, out[C_TODAY]},
            [C_CHOSEN] = {chosen, ws_chosen, &p, value, filters, out[C_CHOSEN]},
            [C_BF16] = {chosen, ws_chosen, &pb, value, filters, out[C_BF16]},
        };
        double t0 = now_seconds();
        lib_call(&runs[C_CHOSEN]); /* compiles: the 1st-call cost */
        double first_ms = (now_seconds() - t0) * 1e3;
        lib_call(&runs[C_TODAY]);
        lib_call(&runs[C_BF16]);
        /* The faster direct bf16 form, by a few calls each. */
        int best16 = -1;
        double best16_t = 1e30;
        for (int k = 0; k < 2; k++) {
            if (!have16[k])
                continue;
            direct_run(&d16[k]);
            t0 = now_seconds();
            for (int i = 0; i < 3; i++)
                direct_run(&d16[k]);
            double t = now_seconds() - t0;
            if (t < best16_t) {
                best16_t = t;
                best16 = k;
            }
        }
        t0 = now_seconds();
        direct_run(&d);
        direct_run(&d);
        double one = (now_seconds() - t0) / 2;
        long per_round = (long)(seconds / ROUNDS / (one > 1e-7 ? one : 1e-7));
        if (per_round < 1)
            per_round = 1;

        double times[C_COUNT][ROUNDS];
        for (int r = 0; r < ROUNDS; r++)
            for (int turn = 0; turn < C_COUNT; turn++) {
                int k = (turn + r) % C_COUNT;
                if (k == C_DIRECT_BF16 && best16 < 0) {
                    times[k][r] = 0;
                    continue;
                }
                t0 = now_seconds();
                for (long i = 0; i < per_round; i++) {
                    if (k == C_DIRECT)
                        direct_run(&d);
                    else if (k == C_DIRECT_BF16)
                        direct_run(&d16[best16]);
                    else
                        lib_call(&runs[k]);
                }
                times[k][r] = (now_seconds() - t0) / per_round;
            }
        double ms[C_COUNT], gf[C_COUNT];
        for (int k = 0; k < C_COUNT; k++) {
            ms[k] = median(times[k], ROUNDS) * 1e3;
            gf[k] = ms[k] > 0 ? atrous_problem_flops(&p) / (ms[k] * 1e-3) / 1e9 : 0;
        }
        char impl[96] = "", impl16[96] = "";
        atrous_engine_implementation(chosen, &p, impl, sizeof(impl), &err);
        atrous_engine_implementation(chosen, &pb, impl16, sizeof(impl16), &err);
        double err32 = max_diff(out[C_CHOSEN], out[C_DIRECT], p.output_elements);
        double err16 = max_diff(out[C_BF16], out[C_DIRECT], p.output_elements);
        printf("%-28s | %7.1f %4.0f%% %5.2f | %7.1f %4.0f%% %5.2fx %16s | %7.1f %4.0f%% %4.2fx "
               "%22s | %7.1f %5.0f%% | %8.2f %7.1e %8.1e\n",
               sc->label, gf[C_TODAY], 100 * gf[C_TODAY] / peak, ms[C_TODAY] / ms[C_DIRECT],
               gf[C_CHOSEN], 100 * gf[C_CHOSEN] / peak, ms[C_TODAY] / ms[C_CHOSEN], impl,
               gf[C_BF16], 100 * gf[C_BF16] / peak16, ms[C_CHOSEN] / ms[C_BF16], impl16,
               gf[C_DIRECT_BF16], 100 * gf[C_DIRECT_BF16] / peak16, first_ms, err32, err16);
        if (best16 >= 0)
            printf("%-28s   direct bf16 primitive: %s\n", "", d16[best16].impl);
        /* Verdicts. "Not slower than today" allows 5% of noise on this shared machine. */
        char today_impl[96] = "";
        atrous_engine_implementation(today, &p, today_impl, sizeof(today_impl), &err);
        int same_path = strcmp(today_impl, impl) == 0;
        VERDICT("  %-28s chosen vs today: %.2fx %s", sc->label, ms[C_TODAY] / ms[C_CHOSEN],
                same_path                            ? "met (the same primitive: the gap is noise)"
                : ms[C_CHOSEN] <= ms[C_TODAY] * 1.05 ? "met"
                                                     : "NOT MET");
        if (sc->compute_bound)
            VERDICT("; chosen >= 90%% of f32 peak: %.0f%% %s", 100 * gf[C_CHOSEN] / peak,
                    strstr(impl, "brg") == NULL  ? "(no brgemm kernel: target n/a)"
                    : gf[C_CHOSEN] >= 0.9 * peak ? "met"
                                                 : "NOT MET");
        if (c == 2)
            VERDICT("; bf16 >= 1.8x chosen f32: %.2fx %s; bf16 >= 80%% of bf16 peak: %.0f%% %s",
                    ms[C_CHOSEN] / ms[C_BF16], ms[C_CHOSEN] / ms[C_BF16] >= 1.8 ? "met" : "NOT MET",
                    100 * gf[C_BF16] / peak16, gf[C_BF16] >= 0.8 * peak16 ? "met" : "NOT MET");
        VERDICT("\n");
        direct_free(&d);
        for (int k = 0; k < 2; k++)
            if (have16[k])
                direct_free(&d16[k]);
        atrous_aligned_free(value);
        atrous_aligned_free(filters);
        for (int k = 0; k < C_COUNT; k++)
            atrous_aligned_free(out[k]);
    }
    printf("targets (issue 13), this run:\n%s", verdicts);
    printf("(one shared 2-core machine: other jobs' load moves single figures by 10%% or more; "
           "compare columns of one run)\n");
    atrous_workspace_free(ws_today);
    atrous_workspace_free(ws_chosen);
    atrous_engine_free(today);
    atrous_engine_free(chosen);
    return 0;
}
