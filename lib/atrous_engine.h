/*
 * atrous_engine.h - runs validated problems through oneDNN, with a bounded cache of compiled
 * primitives. The only module that includes dnnl.h.
 *
 * Each problem runs in one of two equivalent forms, chosen per problem (and team size and
 * precision) when it is first compiled: oneDNN's dilated deconvolution, or the forward
 * convolution with the filters flipped in both spatial dims and the pads mirrored
 * (pad' = (K-1)*rate - pad), which oneDNN 2.6 runs with brgemm kernels. Cheap problems time
 * both; larger ones follow the cost model's measured rule (lib/atrous_engine_plan.c, "Choosing the
 * form"). Implementation names say which: "deconv:jit:avx512_core", "conv:brgconv:avx512_core".
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

/* The form problems run in. AUTO (the default, zero) chooses per problem; the others force
 * one form for every problem (tests compare both with a reference; make bench shows today's
 * deconvolution path next to the chosen one). A forced form oneDNN cannot create fails. */
enum atrous_form {
    ATROUS_FORM_AUTO = 0,
    ATROUS_FORM_DECONV = 1,
    ATROUS_FORM_CONV = 2,
};

struct atrous_engine_config {
    size_t cache_capacity;    /* distinct problems kept compiled; 0 = the default above */
    enum atrous_form form;    /* AUTO unless a test or benchmark forces one */
    uint64_t measured_for_ms; /* how long a problem's measured run time stands in for the cost
                                 model after its last run (atrous_engine_estimate); 0 = the
                                 default, a minute */
};

struct atrous_engine_info {
    char onednn_version[48]; /* "2.6.3 (commit ...)" */
    char cpu_isa[48];        /* the ISA oneDNN dispatches to, e.g. "avx512_core_amx" */
    bool avx512;             /* true when cpu_isa includes AVX-512 (avx512_core or newer) */
    bool bf16;               /* true when precision BF16 runs in bf16 (avx512_core_bf16 or AMX) */
    bool amx;                /* true when oneDNN dispatches to AMX (avx512_core_amx) */
    char threading[16];      /* oneDNN's CPU threading runtime, e.g. "OpenMP" */
    double fma_peak_gflops;  /* single-core f32 FMA peak measured at engine creation */
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
                                           struct atrous_workspace **out, struct atrous_error *err);
void atrous_workspace_free(struct atrous_workspace *workspace);

/*
 * Computes output = atrous_conv2d_transpose(value, filters) for a problem validated by
 * atrous_op_validate(). Buffers hold problem->value_elements, filters_elements and
 * output_elements floats; any alignment works, 64 bytes is fastest. Every output element is
 * written. problem->precision BF16 rounds value (per call, into the workspace) and filters to
 * bfloat16 and accumulates in f32 (README "bf16 compute: the error bound") when the CPU has
 * bf16 support; otherwise, and for F32, the computation is strict f32.
 * workspace may be NULL. Thread-safe. Returns ATROUS_OK, ATROUS_NO_MEMORY or
 * ATROUS_ENGINE (with the failing oneDNN call in err).
 */
enum atrous_status atrous_engine_run(struct atrous_engine *engine,
                                     struct atrous_workspace *workspace,
                                     const struct atrous_problem *problem, const float *value,
                                     const float *filters, float *output, struct atrous_error *err);

/*
 * Prepared filters: a model's filters, held once by the process and run by many requests.
 *
 * atrous_filters_create() copies TensorFlow's [KH, KW, OC, IC] buffer into aligned memory.
 * The primitive's preferred weights layout can differ from problem to problem (it depends on
 * the spatial sizes and the batch as well as the channels), so the object keeps a small map
 * from each layout a compiled primitive asked for to the filters reordered into it: the
 * reorder runs once per distinct layout, the first time a problem needs it (or ahead of time,
 * through atrous_filters_prepare()), and every later run of any thread reads the reordered
 * buffer. The map holds at most ATROUS_FILTERS_MAX_LAYOUTS layouts; problems wanting another
 * one still run correctly, reordering per call through the workspace as atrous_engine_run()
 * does for raw filters.
 *
 * Threads: any number of threads may run and prepare the same filters object at once. Layouts
 * are added under a lock and are read-only once published; runs that find their layout take
 * no lock.
 */
#define ATROUS_FILTERS_MAX_LAYOUTS 8

struct atrous_filters;

/* Creates prepared filters from TensorFlow-layout data of the given shape (rank 4
 * [KH, KW, OC, IC], every dim >= 1, at most ATROUS_MAX_ELEMENTS_HARD elements), copying the
 * data. Runs nothing yet. The caller owns *out and frees it with atrous_filters_free() before
 * the engine. Returns ATROUS_OK, ATROUS_INVALID_ARGUMENT (field "filters"), ATROUS_TOO_LARGE
 * or ATROUS_NO_MEMORY. */
enum atrous_status atrous_filters_create(struct atrous_engine *engine,
                                         const struct atrous_shape *shape, const float *data,
                                         struct atrous_filters **out, struct atrous_error *err);

/* Frees the filters and every reordered copy. No run may be using them. Accepts NULL. */
void atrous_filters_free(struct atrous_filters *filters);

/* The filters' shape [KH, KW, OC, IC] and their TensorFlow-layout copy (borrowed, 64-byte
 * aligned, valid until atrous_filters_free). */
const struct atrous_shape *atrous_filters_shape(const struct atrous_filters *filters);
const float *atrous_filters_data(const struct atrous_filters *filters);

/* How many reordered layouts the filters hold (0..ATROUS_FILTERS_MAX_LAYOUTS). */
size_t atrous_filters_layout_count(const struct atrous_filters *filters);

/*
 * Warms the filters for a problem ahead of its first request: compiles (and caches) the
 * problem's primitive for the calling thread's team size and reorders the filters into its
 * layout unless they already hold it. problem must come from atrous_op_validate() with
 * filters of this object's shape (else ATROUS_INVALID_ARGUMENT, field "filters"). An empty
 * problem needs nothing. Thread-safe. Returns ATROUS_OK, ATROUS_INVALID_ARGUMENT,
 * ATROUS_NO_MEMORY or ATROUS_ENGINE.
 */
enum atrous_status atrous_filters_prepare(struct atrous_engine *engine,
                                          struct atrous_filters *filters,
                                          const struct atrous_problem *problem,
                                          struct atrous_error *err);

/*
 * atrous_engine_run() with prepared filters instead of a raw filters buffer: the same result,
 * without comparing or reordering filters on any call after the first for a layout. The
 * problem's filters shape must be the object's (else ATROUS_INVALID_ARGUMENT, field
 * "filters"). workspace may be NULL. Thread-safe.
 */
enum atrous_status atrous_engine_run_filters(struct atrous_engine *engine,
                                             struct atrous_workspace *workspace,
                                             const struct atrous_problem *problem,
                                             const float *value, struct atrous_filters *filters,
                                             float *output, struct atrous_error *err);

/* Writes the form and oneDNN implementation that runs this problem (e.g.
 * "conv:brgconv:avx512_core") into buf, compiling and caching the primitive if needed. */
enum atrous_status atrous_engine_implementation(struct atrous_engine *engine,
                                                const struct atrous_problem *problem, char *buf,
                                                size_t size, struct atrous_error *err);

/*
 * Compute-time estimate, for admission: what one run of a problem costs before it is queued.
 *
 * atrous_engine_estimate() is cheap enough for an I/O thread on every request: it never
 * creates a primitive. The first estimate of a problem (per team size) creates oneDNN's
 * primitive descriptor only, to learn which implementation oneDNN would run (about 10-200 us,
 * up to a few ms for huge filters), and caches that; later estimates are a hash lookup. The
 * time comes from a cost model per implementation class scaled by the FMA peak measured at
 * engine creation (lib/atrous_cost.c has the table), or, once the problem has been compiled
 * and run at least once in this engine with that team size, from its own measured run time
 * (a moving average), for a minute after its last run (then the model again: a run slowed by
 * a busy host must not keep a problem refused for good). Slow paths show: a problem only oneDNN's
 * reference kernel takes (ref:any, ~0.3 GFLOP/s) is estimated in proportion.
 */
struct atrous_estimate {
    double seconds;         /* estimated wall time of one run on the given team */
    double flops;           /* nominal floating-point operations (atrous_problem_flops) */
    const char *impl;       /* what will run it, e.g. "deconv:jit:avx512_core" (borrowed: static or
                               owned by the engine, valid until atrous_engine_free); "none" for an
                               empty problem, which never reaches oneDNN */
    bool measured;          /* true when seconds is the problem's own measured run time */
    size_t workspace_bytes; /* what a run holds in its workspace besides value, filters and
                               output: oneDNN's scratchpad, for bf16 the converted value, and
                               for raw filters in another layout (or flipped), the prepared
                               filters and the copy compared against (see
                               atrous_workspace_trim); 0 for an empty problem */
};

/* Estimates one run of problem (from atrous_op_validate) on a team of threads threads
 * (< 1 counts as 1). Thread-safe. Returns ATROUS_OK, ATROUS_NO_MEMORY or ATROUS_ENGINE. */
enum atrous_status atrous_engine_estimate(struct atrous_engine *engine,
                                          const struct atrous_problem *problem, int threads,
                                          struct atrous_estimate *out, struct atrous_error *err);

/* The bytes a workspace holds in its buffers (scratchpad, converted value, prepared filters
 * and their source copy), which it keeps and grows to the largest problem it has run. */
size_t atrous_workspace_held_bytes(const struct atrous_workspace *workspace);

/* Frees those buffers; the next run allocates what it needs again (and reorders its filters
 * again). For a caller that bounds the memory its workspaces keep after a large problem. */
void atrous_workspace_trim(struct atrous_workspace *workspace);

/* The implementation of the last problem the workspace ran (the same names as
 * atrous_estimate.impl; borrowed, valid until atrous_engine_free), or NULL when it has run
 * nothing through oneDNN yet. For access logs and metrics after a run. */
const char *atrous_workspace_last_implementation(const struct atrous_workspace *workspace);

/* The precision the last problem the workspace ran was computed in: BF16 only when it was
 * asked for and the CPU has bf16 support; F32 otherwise (and before any run). */
enum atrous_precision atrous_workspace_last_precision(const struct atrous_workspace *workspace);

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
