/*
 * atrous_cost.c - the cost model behind atrous_engine_estimate().
 *
 * The table of fractions of the single-core FMA peak below was measured on this project's host
 * (AMD EPYC, AVX-512 with avx512_bf16, FMA peak 118 GFLOP/s per core as measured by
 * atrous_cost_measure_fma_peak, oneDNN 2.6.3, one thread, f32) on the shapes of
 * tests/bench/bench_compute.c and the slow shapes of tests/test_cost.c, counting effective
 * multiply-adds for JIT/brgemm kernels and nominal ones for GEMM and reference kernels. It is
 * meant to be right within a factor of about 1.5, which is what an admission limit needs; the
 * estimator replaces it with the problem's own measured time once the problem has run.
 *
 *   class    measured                                                      fraction used
 *   brgemm   1x32x32x64->64 r2 conv: 0.93; 1x128x128x128->64: 0.95         0.85
 *   jit      1x32x32x64->64 r2 deconv: 0.93; 1x56x56x17->13 5x5: 0.80      0.80
 *   gemm     1x64x64x16->16 r100 (x64:gemm:jit): 77 GFLOP/s nominal        0.50
 *   ref      1x256x256x1->1 64x64 r1 (ref:any): 0.36 GFLOP/s nominal       0.003
 *            (1x256x256x1->16: 8.6 GFLOP in ~26 s, the same rate)
 * (On the Intel host, peak 216 GFLOP/s, jit deconvolution reached 0.75-0.78 and
 * brgconv 0.91-0.97 on 1x64x64x256->256: the model's 0.80/0.85 sit between the two hosts.)
 * The same fractions apply to bf16 kernels ("..._bf16" ISAs) against twice the f32 peak
 * (vdpbf16ps does two multiply-adds per lane); their memory traffic counts 2-byte src and
 * weights plus the value's conversion per call. The engine also uses this table to choose
 * between the deconvolution and the forward convolution of a problem too large to time.
 *
 * Small channel counts waste vector lanes: every class here vectorises over output channels,
 * so 3 output channels on 16 lanes run at about 3/16 of the rate (measured 17-22 GFLOP/s for
 * 1x64x64x16->3 against ~120 for ->16). Memory traffic bounds 1x1-like problems from below.
 */
#include "atrous_cost.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include <immintrin.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

enum atrous_impl_class atrous_cost_impl_class(const char *impl)
{
    if (impl == NULL)
        return ATROUS_IMPL_REF;
    if (strstr(impl, "brg") != NULL)
        return ATROUS_IMPL_BRGEMM;
    if (strstr(impl, "gemm") != NULL)
        return ATROUS_IMPL_GEMM;
    if (strncmp(impl, "jit", 3) == 0 || strstr(impl, ":jit") != NULL)
        return ATROUS_IMPL_JIT;
    return ATROUS_IMPL_REF;
}

int atrous_cost_impl_lanes(const char *impl)
{
    if (impl == NULL)
        return 4;
    if (strstr(impl, "avx512") != NULL)
        return 16;
    if (strstr(impl, "avx2") != NULL)
        return 8;
    return 4;
}

bool atrous_cost_impl_bf16(const char *impl)
{
    return impl != NULL && strstr(impl, "bf16") != NULL;
}

/* 12 independent accumulator chains (named registers) hide the FMA latency on two FMA ports;
 * the empty asm keeps the compiler from folding the chains. */
#define FMA_PEAK_LOOP(vec, fmadd, set1, lanes)                                                     \
    const vec a = set1(1.0000001f), b = set1(0.9999999f);                                          \
    vec c0 = set1(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;                                 \
    vec c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;                                    \
    const long iters = 100 * 1000;                                                                 \
    double best = 0;                                                                               \
    for (int rep = 0; rep < 6; rep++) {                                                            \
        double t0 = now_seconds();                                                                 \
        for (long it = 0; it < iters; it++) {                                                      \
            c0 = fmadd(c0, a, b);                                                                  \
            c1 = fmadd(c1, a, b);                                                                  \
            c2 = fmadd(c2, a, b);                                                                  \
            c3 = fmadd(c3, a, b);                                                                  \
            c4 = fmadd(c4, a, b);                                                                  \
            c5 = fmadd(c5, a, b);                                                                  \
            c6 = fmadd(c6, a, b);                                                                  \
            c7 = fmadd(c7, a, b);                                                                  \
            c8 = fmadd(c8, a, b);                                                                  \
            c9 = fmadd(c9, a, b);                                                                  \
            c10 = fmadd(c10, a, b);                                                                \
            c11 = fmadd(c11, a, b);                                                                \
            __asm__ volatile(""                                                                    \
                             : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5),         \
                               "+x"(c6), "+x"(c7), "+x"(c8), "+x"(c9), "+x"(c10), "+x"(c11));      \
        }                                                                                          \
        double dt = now_seconds() - t0;                                                            \
        double gflops = (double)iters * 12 * (lanes)*2 / dt / 1e9;                                 \
        if (gflops > best)                                                                         \
            best = gflops;                                                                         \
    }                                                                                              \
    return best

__attribute__((target("avx512f"))) static double fma_peak_avx512(void)
{
    FMA_PEAK_LOOP(__m512, _mm512_fmadd_ps, _mm512_set1_ps, 16);
}

__attribute__((target("avx2,fma"))) static double fma_peak_avx2(void)
{
    FMA_PEAK_LOOP(__m256, _mm256_fmadd_ps, _mm256_set1_ps, 8);
}

double atrous_cost_measure_fma_peak(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return fma_peak_avx512();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return fma_peak_avx2();
    return 8.0; /* SSE: 4 lanes, one multiply and one add per cycle at ~1 GHz; a floor */
}

/* Pairs (o, k), 0 <= o < out and 0 <= k < taps, whose input index o + pad - rate*k lies in
 * [0, in). Per tap that is the overlap of [rate*k - pad, rate*k - pad + in) with [0, out).
 * Filters wider than the loop bound get the bound min(out, in) * taps: never below the truth
 * for the JIT kernels that a filter that wide would meet only in theory. */
static double effective_taps(int64_t out, int64_t in, int64_t taps, int64_t rate, int64_t pad)
{
    if (taps > 65536)
        return (double)(out < in ? out : in) * (double)taps;
    double sum = 0;
    for (int64_t k = 0; k < taps; k++) {
        int64_t lo = rate * k - pad, hi = lo + in;
        if (lo < 0)
            lo = 0;
        if (hi > out)
            hi = out;
        if (hi > lo)
            sum += (double)(hi - lo);
    }
    return sum;
}

double atrous_cost_effective_macs(const struct atrous_problem *p)
{
    return (double)p->batch * (double)p->in_c * (double)p->out_c *
           effective_taps(p->out_h, p->in_h, p->filter_h, p->rate, p->pad_top) *
           effective_taps(p->out_w, p->in_w, p->filter_w, p->rate, p->pad_left);
}

/* The table of the file comment. */
static double class_fraction(enum atrous_impl_class cls)
{
    switch (cls) {
    case ATROUS_IMPL_BRGEMM:
        return 0.85;
    case ATROUS_IMPL_JIT:
        return 0.80;
    case ATROUS_IMPL_GEMM:
        return 0.50;
    case ATROUS_IMPL_REF:
    default:
        return 0.003;
    }
}

/* Fixed cost of one call (argument map, stream wait) and of waking each extra OpenMP thread;
 * measured as ~1 us for the smallest problem on one thread. */
#define CALL_OVERHEAD_SECONDS   1.5e-6
#define THREAD_OVERHEAD_SECONDS 1.0e-6
/* Memory bandwidth one core streams tensors at (bytes/s); a floor for problems with little
 * arithmetic per byte. */
#define CORE_BANDWIDTH 8e9

double atrous_cost_model_seconds(const struct atrous_problem *p, const char *impl, int threads,
                                 double peak_gflops)
{
    if (threads < 1)
        threads = 1;
    if (peak_gflops <= 0)
        peak_gflops = 8.0;
    double overhead = CALL_OVERHEAD_SECONDS + THREAD_OVERHEAD_SECONDS * (threads - 1);
    if (p->output_elements == 0)
        return overhead;
    enum atrous_impl_class cls = atrous_cost_impl_class(impl);
    double macs = cls == ATROUS_IMPL_BRGEMM || cls == ATROUS_IMPL_JIT
                      ? atrous_cost_effective_macs(p)
                      : atrous_problem_flops(p) / 2;
    double lanes = atrous_cost_impl_lanes(impl);
    double used = (double)p->out_c / (lanes * ceil((double)p->out_c / lanes));
    double peak = peak_gflops * 1e9 * (atrous_cost_impl_bf16(impl) ? 2 : 1);
    /* Reference kernels are scalar: lane use does not apply to them. */
    double rate = threads * peak * class_fraction(cls) * (cls == ATROUS_IMPL_REF ? 1 : used);
    double compute = 2 * macs / rate;
    double bytes = 4.0 * ((double)p->value_elements + (double)p->output_elements +
                          (double)p->filters_elements);
    if (atrous_cost_impl_bf16(impl))
        /* bf16 src and weights (2 bytes each), f32 dst, and the value's conversion per call
         * (read 4 bytes, write 2). */
        bytes = 8.0 * (double)p->value_elements + 4.0 * (double)p->output_elements +
                2.0 * (double)p->filters_elements;
    double memory = bytes / (CORE_BANDWIDTH * threads);
    return overhead + (compute > memory ? compute : memory);
}
