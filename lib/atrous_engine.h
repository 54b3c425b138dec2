/*
 * atrous_engine.h - runs validated problems through oneDNN's dilated deconvolution primitive,
 * with a bounded cache of compiled primitives. The only module that includes dnnl.h.
 *
 * Data stays where the caller has it: value and output are NHWC float32 buffers the caller
 * owns; filters are TensorFlow's [KH, KW, OC, IC] buffer (oneDNN tag hwoi), reordered into
 * the primitive's preferred layout inside the workspace when that layout differs.
 *
 * Threads: one engine serves any number of threads at once. Each thread that runs problems
 * should own a workspace (stream and scratch buffers reused across calls); passing NULL
 * makes a temporary one per call, which is correct but slower. oneDNN parallelises one call
 * over an OpenMP team whose size is set per calling thread with
 * atrous_engine_set_thread_parallelism().
 */
#ifndef ATROUS_ENGINE_H
#define ATROUS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "atrous_cache.h"
#include "atrous_error.h"
#include "atrous_op.h"

#define ATROUS_ENGINE_DEFAULT_CACHE_CAPACITY 256

struct atrous_engine;
struct atrous_workspace;

struct atrous_engine_config {
    size_t cache_capacity; /* distinct problems kept compiled; 0 = the default above */
};

struct atrous_engine_info {
    char onednn_version[48]; /* "2.6.3 (commit ...)" */
    char cpu_isa[48];        /* the ISA oneDNN dispatches to, e.g. "avx512_core_amx" */
    bool avx512;             /* true when cpu_isa includes AVX-512 (avx512_core or newer) */
    char threading[16];      /* oneDNN's CPU threading runtime, e.g. "OpenMP" */
};

/* Creates an engine on the CPU. The caller owns *out and frees it with atrous_engine_free()
 * once no thread uses it. */
enum atrous_status atrous_engine_create(const struct atrous_engine_config *config,
                                        struct atrous_engine **out, struct atrous_error *err);

/* Frees the engine and its cached primitives. Accepts NULL. */
void atrous_engine_free(struct atrous_engine *engine);

/* Creates a per-thread workspace (use it from one thread at a time). Free it before the
 * engine. */
enum atrous_status atrous_workspace_create(struct atrous_engine *engine,
                                           struct atrous_workspace **out,
                                           struct atrous_error *err);
void atrous_workspace_free(struct atrous_workspace *workspace);

/*
 * Computes output = atrous_conv2d_transpose(value, filters) for a problem validated by
 * atrous_op_validate(). Buffers hold problem->value_elements, filters_elements and
 * output_elements floats; any alignment works, 64 bytes is fastest. Every output element is
 * written. workspace may be NULL. Thread-safe. Returns ATROUS_OK, ATROUS_NO_MEMORY or
 * ATROUS_ENGINE (with the failing oneDNN call in err).
 */
enum atrous_status atrous_engine_run(struct atrous_engine *engine,
                                     struct atrous_workspace *workspace,
                                     const struct atrous_problem *problem, const float *value,
                                     const float *filters, float *output,
                                     struct atrous_error *err);

/* Writes the name of the oneDNN implementation that runs this problem (e.g.
 * "jit:avx512_core") into buf, compiling and caching the primitive if needed. */
enum atrous_status atrous_engine_implementation(struct atrous_engine *engine,
                                                const struct atrous_problem *problem, char *buf,
                                                size_t size, struct atrous_error *err);

/* Counters of the primitive cache. */
void atrous_engine_cache_stats(struct atrous_engine *engine, struct atrous_cache_stats *out);

/* oneDNN version, the ISA it dispatches to, threading runtime. */
void atrous_engine_get_info(const struct atrous_engine *engine, struct atrous_engine_info *out);

/* Sets how many OpenMP threads oneDNN may use for calls made from the calling thread (>= 1).
 * Compute workers call this once at start; primitives are cached per team size. */
void atrous_engine_set_thread_parallelism(int threads);

/* The OpenMP team size calls from this thread will use. */
int atrous_engine_thread_parallelism(void);

#endif
