/*
 * atrous_cost.h - what a problem costs before it runs: the FMA peak of this CPU (measured),
 * the multiply-adds a problem really does, and a model of how fast each class of oneDNN
 * implementation runs them. The engine's estimator (atrous_engine_estimate) combines this
 * model with the implementation oneDNN picks for the problem and, once the problem has run,
 * with its own measured times. No oneDNN here: the model is plain arithmetic, testable alone.
 */
#ifndef ATROUS_COST_H
#define ATROUS_COST_H

#include <stdbool.h>

#include "atrous_op.h"

/* Implementation classes, from oneDNN's impl_info_str. Their speeds differ by two orders of
 * magnitude on the same problem (brgconv ~0.9 of the FMA peak, ref:any ~0.002). */
enum atrous_impl_class {
    ATROUS_IMPL_BRGEMM, /* "brgconv:...", "brgconv_1x1:...", "brg_...": brgemm kernels */
    ATROUS_IMPL_JIT,    /* "jit:...", "jit_1x1:...", "jit_bf16:...": direct JIT kernels */
    ATROUS_IMPL_GEMM,   /* "gemm:jit", "x64:gemm:jit": im2col/col2im around a GEMM */
    ATROUS_IMPL_REF,    /* "ref:any" and anything unknown (assumed slowest) */
};

/* The class of an implementation name. NULL counts as ATROUS_IMPL_REF. */
enum atrous_impl_class atrous_cost_impl_class(const char *impl);

/* Vector lanes of f32 the implementation computes with: 16 for AVX-512 ISAs in the name, 8 for
 * AVX2, 4 otherwise. */
int atrous_cost_impl_lanes(const char *impl);

/* True when the implementation computes with bf16 inputs ("bf16" in its ISA). */
bool atrous_cost_impl_bf16(const char *impl);

/* Measures this CPU's single-core f32 FMA peak in GFLOP/s with a short register-only loop
 * (about 2 ms: the best of a few repetitions, so that a neighbour's burst on a shared core
 * does not lower it much). AVX-512 when the CPU has it, else AVX2+FMA, else an assumed
 * scalar figure. */
double atrous_cost_measure_fma_peak(void);

/* Multiply-adds the problem really does: taps whose value index falls inside the image, which
 * is what the JIT and brgemm kernels compute (taps landing in the padding are skipped; at large
 * rates that is most of them). At most atrous_problem_flops()/2. */
double atrous_cost_effective_macs(const struct atrous_problem *problem);

/*
 * Modelled wall time in seconds of one run of problem by an implementation named impl on a
 * team of threads threads (>= 1), given the single-core f32 FMA peak peak_gflops:
 *   fixed overhead + max(compute, memory traffic)
 * where compute = MACs / (threads * peak * fraction(class) * lane use of the output channels)
 * (bf16 implementations twice the peak) and the MACs are effective for JIT/brgemm kernels and
 * nominal for GEMM and reference ones (they compute the padding too). The fractions are a
 * table measured on this project's host and written down in atrous_cost.c.
 */
double atrous_cost_model_seconds(const struct atrous_problem *problem, const char *impl,
                                 int threads, double peak_gflops);

#endif
