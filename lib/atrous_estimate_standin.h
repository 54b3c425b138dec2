/*
 * atrous_estimate_standin.h - STAND-IN for atrous_engine_estimate(), which the `engine` branch
 * adds to atrous_engine.h (calibrated per oneDNN implementation class, refined from measured
 * runs). Same declaration, so the server's cost check does not change when the real one
 * lands: delete this file and its .c then, and include atrous_engine.h instead.
 *
 * This version asks oneDNN which implementation runs the problem (atrous_engine_implementation)
 * and divides the problem's FLOPs by a fixed speed per implementation class, measured once on
 * the development VM (AVX-512, one thread): jit ~100 GFLOP/s, ref ~0.4 GFLOP/s.
 */
#ifndef ATROUS_ESTIMATE_STANDIN_H
#define ATROUS_ESTIMATE_STANDIN_H

#include "atrous_engine.h"

struct atrous_estimate {
    double seconds;   /* expected compute time with the given team size */
    double flops;     /* atrous_problem_flops */
    const char *impl; /* oneDNN's implementation name ("jit:avx512_core", "ref:any"); borrowed,
                         valid until the calling thread's next estimate */
};

/*
 * Estimates how long the problem takes on a team of threads (>= 1): compiles and caches the
 * problem's primitive for that team size if needed (as its first run would), then FLOPs over
 * the implementation's speed. Returns ATROUS_OK, or what atrous_engine_implementation returns.
 */
enum atrous_status atrous_engine_estimate(struct atrous_engine *engine,
                                          const struct atrous_problem *problem, int threads,
                                          struct atrous_estimate *out, struct atrous_error *err);

#endif
