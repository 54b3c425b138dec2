/*
 * atrous_engine_internal.h - what the engine's files share (internal to lib/: only
 * lib/atrous_engine*.c include it; not part of the API, which is atrous_engine.h).
 *
 * The engine is split by job: atrous_engine.c creates the engine and its workspaces and runs
 * problems; atrous_engine_plan.c chooses each problem's form and implementation, compiles it
 * and estimates its cost; atrous_engine_filters.c holds prepared filters. They share the engine
 * and compiled-problem structs, the prepared filters' layouts, the DNNL_TRY macro and the few
 * functions below.
 */
#ifndef ATROUS_ENGINE_INTERNAL_H
#define ATROUS_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dnnl.h>
#include <dnnl_debug.h>

#include "atrous_cache.h"
#include "atrous_engine.h"
#include "atrous_error.h"
#include "atrous_op.h"

/* The two OpenMP calls we make, declared from the OpenMP specification rather than through
 * omp.h, which clang (our fuzzing compiler) does not ship without libomp-dev; the symbols come
 * from libgomp, the runtime Debian's oneDNN is built against. */
extern void omp_set_num_threads(int threads);
extern int omp_get_max_threads(void);

/* Records the failing call and its status, then jumps to the function's `out` label. The
 * enclosing function must declare `enum atrous_status st` and `struct atrous_error *err`. */
#define DNNL_TRY(call)                                                                             \
    do {                                                                                           \
        dnnl_status_t dnnl_st_ = (call);                                                           \
        if (dnnl_st_ != dnnl_success) {                                                            \
            st = atrous_error_set(                                                                 \
                err, dnnl_st_ == dnnl_out_of_memory ? ATROUS_NO_MEMORY : ATROUS_ENGINE, "",        \
                "oneDNN call failed: %s: %s", #call, dnnl_status2str(dnnl_st_));                   \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#define ENGINE_MAX_NAMES 64
#define ENGINE_NAME_MAX  80 /* "deconv:" + an impl_info_str of up to 63 */

struct atrous_engine {
    dnnl_engine_t cpu;
    bool bf16;                /* precision BF16 computes in bf16 (the ISA has avx512_bf16) */
    enum atrous_form form;    /* the config's: AUTO, or a form forced for every problem */
    uint64_t measured_for_ns; /* a measured run time is the estimate this long after the run */
    struct atrous_cache *cache;
    /* Hits served by a workspace's repeat path are counted in the workspace (a shared atomic
     * would be a locked add on a cache line every thread writes); stats sum the live
     * workspaces and what freed ones left behind. */
    pthread_mutex_t workspaces_lock;
    struct atrous_workspace *workspaces; /* live ones, linked through next/prev */
    uint64_t freed_repeat_hits;
    /* Identities of prepared filters: never reused, so a workspace may remember which filters
     * it last resolved without holding on to them. */
    atomic_uint_fast64_t next_filters_id;
    /* The cost model's inputs: the FMA peak measured at creation, and per problem key the
     * implementation oneDNN would pick (a primitive descriptor's answer, kept so that repeated
     * estimates create nothing). */
    double fma_peak_gflops;
    struct atrous_cache *estimates;
    /* Implementation names handed out as borrowed strings: interned here so that they outlive
     * evictions from either cache. oneDNN has a few dozen names; the table never fills in
     * practice, and a full one answers "other". */
    pthread_mutex_t names_lock;
    size_t name_count;
    char names[ENGINE_MAX_NAMES][ENGINE_NAME_MAX];
};

/* One layout of prepared filters: the weights memory descriptor a compiled primitive reads,
 * and the filters reordered into it. Immutable once published. */
struct filters_layout {
    dnnl_memory_desc_t md;
    bool flipped; /* the filters flipped for the conv form (same md, other contents) */
    void *weights;
};

struct atrous_filters {
    uint64_t id;
    struct atrous_shape shape; /* [KH, KW, OC, IC] */
    float *data;               /* TensorFlow layout, aligned */
    size_t bytes;
    pthread_mutex_t lock;       /* serialises adding layouts; readers never take it */
    atomic_size_t layout_count; /* layouts[0, layout_count) are published */
    struct filters_layout layouts[ATROUS_FILTERS_MAX_LAYOUTS];
};

/* One compiled problem: what the cache stores. */
struct compiled {
    dnnl_primitive_t prim;
    dnnl_primitive_t weights_reorder; /* NULL when the primitive takes TF's layout as is */
    dnnl_primitive_t src_reorder;     /* bf16: f32 value -> bf16; NULL for f32 */
    /* src_md and user_weights_md are the caller's f32 layouts; prim_src_md what the primitive
     * reads (src_md for f32, its bf16 twin for bf16). */
    dnnl_memory_desc_t src_md, prim_src_md, dst_md, user_weights_md, weights_md, scratch_md;
    size_t weights_bytes, user_weights_bytes, scratch_bytes;
    size_t converted_bytes; /* bf16: the converted value; 0 for f32 */
    enum atrous_form form;  /* DECONV or CONV */
    bool flip;              /* conv form: weights are TF's filters flipped in KH and KW */
    bool preparing;         /* raw filters need flipping and/or reordering before a run */
    int64_t filter_h, filter_w, filter_block; /* for the flip; block = OC*IC */
    enum atrous_precision precision;          /* what the primitive computes in */
    char impl[64];                            /* oneDNN's impl_info_str */
    const char *name; /* "deconv:" or "conv:" + impl, interned in the engine */
    /* Measured run time (ns, a moving average; 0 until the first timed run), read by the
     * estimator. Runs are timed only when the model says they take over TIMED_RUN_SECONDS:
     * two clock reads are a few percent of the smallest problems' ~1 us. run_at_ns is when
     * the last timed run ended (CLOCK_MONOTONIC): see DEFAULT_MEASURED_FOR_MS
     * (atrous_engine.c). */
    bool timed;
    atomic_uint_fast64_t run_ns;
    atomic_uint_fast64_t run_at_ns;
};

#define TIMED_RUN_SECONDS 20e-6

/* atrous_engine.c */

/* The time source of run measurements and form timings (CLOCK_MONOTONIC, ns). */
uint64_t atrous__engine_monotonic_ns(void);

/* Copies TensorFlow-layout filters [KH, KW, OC, IC] into to, flipped in KH and KW: the conv
 * form's weights. */
void atrous__engine_flip_filters(const struct compiled *c, const float *from, float *to);

/* atrous_engine_run() and atrous_engine_run_filters(): exactly one of filters and prepared is
 * non-NULL. */
enum atrous_status atrous__engine_run(struct atrous_engine *engine,
                                      struct atrous_workspace *workspace,
                                      const struct atrous_problem *problem, const float *value,
                                      const float *filters, struct atrous_filters *prepared,
                                      float *output, struct atrous_error *err);

/* atrous_engine_plan.c */

/* Frees a compiled problem (the cache's destructor). Accepts NULL. */
void atrous__engine_compiled_free(void *value);

/* The cache key of a problem run from the calling thread, with its team size. */
void atrous__engine_make_key(const struct atrous_engine *engine, const struct atrous_problem *p,
                             struct atrous_cache_key *key);

/* Finds the compiled primitive for a problem, compiling it on a miss. *out holds a reference
 * the caller releases with atrous_cache_release(engine->cache, ...). */
enum atrous_status atrous__engine_lookup(struct atrous_engine *engine,
                                         const struct atrous_problem *p,
                                         const struct atrous_cache_key *key,
                                         struct atrous_cache_entry **out, struct atrous_error *err);

/* atrous_engine_filters.c */

/* Finds (or makes) f's weights in the layout c's primitive reads; *out is NULL when a new
 * layout has no room left (the caller then reorders per call). */
enum atrous_status atrous__engine_filters_weights(struct atrous_filters *f,
                                                  const struct compiled *c, dnnl_engine_t cpu,
                                                  dnnl_stream_t stream, const void **out,
                                                  struct atrous_error *err);

#endif
