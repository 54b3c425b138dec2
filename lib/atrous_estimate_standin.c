/*
 * atrous_estimate_standin.c - STAND-IN until the `engine` branch's atrous_engine_estimate()
 * lands (see the header): FLOPs over a fixed speed per oneDNN implementation class.
 */
#include "atrous_estimate_standin.h"

#include <string.h>

/* Single-thread speeds in FLOP/s, measured on the development VM (AVX-512) with
 * 1x64x64x256 -> 256 3x3 (jit:avx512_core, 103-110 GFLOP/s) and 1x64x64x1 with 64x64x16x1
 * filters (ref:any, 0.41 GFLOP/s), each taken a little lower; gemm and anything unknown sit
 * between them. */
#define JIT_FLOPS_PER_S     60e9
#define GEMM_FLOPS_PER_S    5e9
#define REF_FLOPS_PER_S     0.3e9
#define UNKNOWN_FLOPS_PER_S 1e9
/* Writing the output costs time of its own when a huge rate makes FLOPs tiny. */
#define OUTPUT_BYTES_PER_S 2e9

static double speed(const char *impl)
{
    if (strncmp(impl, "ref", 3) == 0)
        return REF_FLOPS_PER_S;
    if (strstr(impl, "gemm") != NULL)
        return GEMM_FLOPS_PER_S;
    if (strncmp(impl, "jit", 3) == 0 || strncmp(impl, "brg", 3) == 0)
        return JIT_FLOPS_PER_S;
    return UNKNOWN_FLOPS_PER_S;
}

enum atrous_status atrous_engine_estimate(struct atrous_engine *engine,
                                          const struct atrous_problem *problem, int threads,
                                          struct atrous_estimate *out, struct atrous_error *err)
{
    static _Thread_local char impl[64];
    if (threads < 1)
        threads = 1;
    /* Primitives are compiled per team size: ask for the one the compute will use. */
    int before = atrous_engine_thread_parallelism();
    atrous_engine_set_thread_parallelism(threads);
    enum atrous_status st = atrous_engine_implementation(engine, problem, impl, sizeof(impl), err);
    atrous_engine_set_thread_parallelism(before);
    if (st != ATROUS_OK)
        return st;
    out->flops = atrous_problem_flops(problem);
    out->impl = impl;
    out->seconds = out->flops / (speed(impl) * threads) +
                   (double)problem->output_elements * sizeof(float) / OUTPUT_BYTES_PER_S;
    return ATROUS_OK;
}
