/*
 * atrous_engine.c - the oneDNN side of libatrous: the engine, per-thread workspaces (stream,
 * scratch buffers, memory objects bound to the last problem), the raw filters' preparation
 * (flip, reorder, bf16 conversion), and runs. Which form and implementation a problem runs in,
 * and its cost estimate, are atrous_engine_plan.c's; prepared filters are
 * atrous_engine_filters.c's.
 */
#include "atrous_engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atrous_cost.h"

struct atrous_workspace {
    struct atrous_engine *engine;
    struct atrous_workspace *next, *prev; /* the engine's list of live workspaces */
    /* Written by the owning thread only (a plain add), read by stats from any thread. */
    atomic_uint_fast64_t repeat_hits;
    dnnl_stream_t stream;
    void *scratch; /* oneDNN scratchpad (user-managed, so concurrent calls never share one) */
    size_t scratch_capacity;
    void *weights; /* filters reordered to the primitive's layout */
    size_t weights_capacity;
    void *flipped; /* conv form: the raw filters flipped, before their reorder */
    size_t flipped_capacity;
    void *converted; /* bf16: the value converted per call */
    size_t converted_capacity;
    /* Memory objects bound to the last problem this workspace ran, re-pointed at each call's
     * buffers: creating five of them per call costs more than a small problem's compute. */
    struct atrous_cache_entry *bound; /* held reference; NULL when nothing is bound */
    struct atrous_cache_key bound_key;
    dnnl_memory_t src, dst, user_weights, weights_mem, scratch_mem;
    dnnl_memory_t user_src; /* bf16: the caller's f32 value, converted into src */
    /* A copy of the filters last reordered into `weights` for the bound problem. Clients
     * usually send the same filters with every request; a memcmp is far cheaper than the
     * reorder it saves. */
    void *reordered_from;
    size_t reordered_from_capacity;
    bool weights_current;
    /* Prepared filters resolved for the bound problem: the id of the last atrous_filters run
     * here (0 = none) and its buffer in the bound primitive's layout (NULL when the filters
     * have no room for that layout: they then take the reorder path above). */
    uint64_t prepared_id;
    const void *prepared_weights;
    /* The buffers src, dst and weights_mem point at now: re-pointing is a call into oneDNN,
     * skipped when a caller passes the same buffer again. */
    const void *src_at, *dst_at, *weights_at;
};

/* How long a measured run time stands in for the cost model by default
 * (atrous_engine_config.measured_for_ms). A run slowed by a busy host (a first run faulting in
 * a 64 MiB output took 8 s at load average 9) would otherwise be the estimate for
 * good: admission refuses the problem over --max-compute-ms, so it never runs again to correct
 * it. After this long without a run the model speaks again, and the next run measures anew
 * (record_run drops the stale average). A problem the model underestimates is thus admitted
 * again once a minute, until a run measures it (requests arriving during that run are admitted
 * too); a new problem's first runs are admitted the same way, so nothing is opened. */
#define DEFAULT_MEASURED_FOR_MS 60000

uint64_t atrous__engine_monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* Branch-free, so that the repeat path's compare is a few vector instructions. */
static bool same_key(const struct atrous_cache_key *a, const struct atrous_cache_key *b)
{
    int64_t diff = 0;
    for (int i = 0; i < ATROUS_CACHE_KEY_WORDS; i++)
        diff |= a->words[i] ^ b->words[i];
    return diff == 0;
}

enum atrous_status atrous_engine_create(const struct atrous_engine_config *config,
                                        struct atrous_engine **out, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    size_t capacity = config && config->cache_capacity ? config->cache_capacity
                                                       : ATROUS_ENGINE_DEFAULT_CACHE_CAPACITY;
    struct atrous_engine *engine = calloc(1, sizeof(*engine));
    if (engine == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory creating the engine");
    atomic_init(&engine->next_filters_id, 0);
    uint64_t measured_for_ms =
        config && config->measured_for_ms ? config->measured_for_ms : DEFAULT_MEASURED_FOR_MS;
    engine->measured_for_ns = measured_for_ms * 1000000ULL;
    pthread_mutex_init(&engine->workspaces_lock, NULL);
    pthread_mutex_init(&engine->names_lock, NULL);
    engine->cache = atrous_cache_create(capacity, atrous__engine_compiled_free);
    /* Estimates outnumber compiled problems: admission sees problems it then refuses. */
    engine->estimates = atrous_cache_create(capacity * 4, free);
    if (engine->cache == NULL || engine->estimates == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory creating the cache");
        goto out;
    }
    DNNL_TRY(dnnl_engine_create(&engine->cpu, dnnl_cpu, 0));
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    engine->bf16 = (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
    engine->form = config ? config->form : ATROUS_FORM_AUTO;
    engine->fma_peak_gflops = atrous_cost_measure_fma_peak();
    *out = engine;
    engine = NULL;
out:
    atrous_engine_free(engine);
    return st;
}

void atrous_engine_free(struct atrous_engine *engine)
{
    if (engine == NULL)
        return;
    atrous_cache_free(engine->cache);
    atrous_cache_free(engine->estimates);
    if (engine->cpu)
        dnnl_engine_destroy(engine->cpu);
    pthread_mutex_destroy(&engine->workspaces_lock);
    pthread_mutex_destroy(&engine->names_lock);
    free(engine);
}

enum atrous_status atrous_workspace_create(struct atrous_engine *engine,
                                           struct atrous_workspace **out, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrous_workspace *ws = calloc(1, sizeof(*ws));
    if (ws == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for a workspace");
    ws->engine = engine;
    atomic_init(&ws->repeat_hits, 0);
    DNNL_TRY(dnnl_stream_create(&ws->stream, engine->cpu, dnnl_stream_default_flags));
    pthread_mutex_lock(&engine->workspaces_lock);
    ws->next = engine->workspaces;
    if (ws->next)
        ws->next->prev = ws;
    engine->workspaces = ws;
    pthread_mutex_unlock(&engine->workspaces_lock);
    *out = ws;
    ws = NULL;
out:
    atrous_workspace_free(ws);
    return st;
}

static void unbind(struct atrous_workspace *ws)
{
    dnnl_memory_destroy(ws->src);
    dnnl_memory_destroy(ws->dst);
    dnnl_memory_destroy(ws->user_weights);
    dnnl_memory_destroy(ws->weights_mem);
    dnnl_memory_destroy(ws->scratch_mem);
    dnnl_memory_destroy(ws->user_src);
    ws->src = ws->dst = ws->user_weights = ws->weights_mem = ws->scratch_mem = NULL;
    ws->user_src = NULL;
    atrous_cache_release(ws->engine->cache, ws->bound);
    ws->bound = NULL;
    ws->weights_current = false;
    ws->prepared_id = 0;
    ws->prepared_weights = NULL;
    ws->src_at = ws->dst_at = ws->weights_at = NULL;
}

void atrous_workspace_free(struct atrous_workspace *ws)
{
    if (ws == NULL)
        return;
    unbind(ws);
    if (ws->stream) { /* set only once the workspace is on the engine's list */
        struct atrous_engine *engine = ws->engine;
        pthread_mutex_lock(&engine->workspaces_lock);
        if (ws->prev)
            ws->prev->next = ws->next;
        else
            engine->workspaces = ws->next;
        if (ws->next)
            ws->next->prev = ws->prev;
        engine->freed_repeat_hits += atomic_load_explicit(&ws->repeat_hits, memory_order_relaxed);
        pthread_mutex_unlock(&engine->workspaces_lock);
        dnnl_stream_destroy(ws->stream);
    }
    atrous_aligned_free(ws->scratch);
    atrous_aligned_free(ws->weights);
    atrous_aligned_free(ws->reordered_from);
    atrous_aligned_free(ws->flipped);
    atrous_aligned_free(ws->converted);
    free(ws);
}

/* Grows a workspace buffer to at least size bytes (contents are not kept). */
static enum atrous_status reserve(void **buf, size_t *capacity, size_t size,
                                  struct atrous_error *err)
{
    if (size <= *capacity)
        return ATROUS_OK;
    atrous_aligned_free(*buf);
    *buf = atrous_aligned_alloc(size);
    *capacity = *buf ? size : 0;
    if (*buf == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "",
                                "out of memory for %zu bytes of engine scratch", size);
    return ATROUS_OK;
}

/* Makes the workspace's memory objects describe entry's problem. The scratch, converted value
 * and prepared weights buffers are bound here too: their handles change only when they grow. */
static enum atrous_status bind(struct atrous_workspace *ws, struct atrous_cache_entry *entry,
                               const struct atrous_cache_key *key, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    const struct compiled *c = atrous_cache_entry_value(entry);
    dnnl_engine_t cpu = ws->engine->cpu;
    bool preparing = c->preparing;

    unbind(ws);
    if ((st = reserve(&ws->scratch, &ws->scratch_capacity, c->scratch_bytes, err)) ||
        (st = reserve(&ws->converted, &ws->converted_capacity, c->converted_bytes, err)))
        goto out;
    if (preparing &&
        ((c->weights_reorder &&
          (st = reserve(&ws->weights, &ws->weights_capacity, c->weights_bytes, err))) ||
         (c->flip &&
          (st = reserve(&ws->flipped, &ws->flipped_capacity, c->user_weights_bytes, err))) ||
         (st = reserve(&ws->reordered_from, &ws->reordered_from_capacity, c->user_weights_bytes,
                       err))))
        goto out;
    if (c->src_reorder) {
        DNNL_TRY(dnnl_memory_create(&ws->user_src, &c->src_md, cpu, DNNL_MEMORY_NONE));
        DNNL_TRY(dnnl_memory_create(&ws->src, &c->prim_src_md, cpu, ws->converted));
    } else {
        DNNL_TRY(dnnl_memory_create(&ws->src, &c->src_md, cpu, DNNL_MEMORY_NONE));
    }
    DNNL_TRY(dnnl_memory_create(&ws->dst, &c->dst_md, cpu, DNNL_MEMORY_NONE));
    DNNL_TRY(dnnl_memory_create(&ws->scratch_mem, &c->scratch_md, cpu, ws->scratch));
    if (c->weights_reorder)
        DNNL_TRY(dnnl_memory_create(&ws->user_weights, &c->user_weights_md, cpu, DNNL_MEMORY_NONE));
    DNNL_TRY(dnnl_memory_create(&ws->weights_mem, &c->weights_md, cpu, DNNL_MEMORY_NONE));
    atrous_cache_retain(ws->engine->cache, entry);
    ws->bound = entry;
    ws->bound_key = *key;
out:
    if (st != ATROUS_OK)
        unbind(ws);
    return st;
}

/* Copies TensorFlow-layout filters [KH, KW, OC, IC] into to, flipped in KH and KW: the conv
 * form's weights. Each (kh, kw) block of OC*IC floats moves whole. */
void atrous__engine_flip_filters(const struct compiled *c, const float *from, float *to)
{
    size_t block = (size_t)c->filter_block;
    for (int64_t kh = 0; kh < c->filter_h; kh++)
        for (int64_t kw = 0; kw < c->filter_w; kw++)
            memcpy(to + (size_t)((c->filter_h - 1 - kh) * c->filter_w + (c->filter_w - 1 - kw)) *
                            block,
                   from + (size_t)(kh * c->filter_w + kw) * block, block * sizeof(float));
}

/* Points mem at handle unless it points there already; *at tracks where it points. */
static dnnl_status_t point_at(dnnl_memory_t mem, const void **at, const void *handle)
{
    if (*at == handle)
        return dnnl_success;
    /* oneDNN reads src and weights only; its API takes non-const handles. */
    dnnl_status_t st = dnnl_memory_set_data_handle(mem, (void *)handle);
    *at = st == dnnl_success ? handle : NULL;
    return st;
}

/* Folds one measured run into the problem's moving average (weight 1/4: a run disturbed by a
 * neighbour moves the estimate a quarter of the way), or starts it anew when the last run is
 * older than measured_for_ns: an estimate that went stale (an outlier that kept the problem
 * refused) must not weigh on the fresh run. Threads racing here lose an update at worst, which
 * an average does not mind. The struct is shared and otherwise read-only, hence the casts. */
static void record_run(const struct compiled *c, uint64_t ns, uint64_t end_ns,
                       uint64_t measured_for_ns)
{
    atomic_uint_fast64_t *avg = (atomic_uint_fast64_t *)&c->run_ns;
    uint64_t old = atomic_load_explicit(avg, memory_order_relaxed);
    uint64_t at = atomic_load_explicit(&c->run_at_ns, memory_order_relaxed);
    if (end_ns - at > measured_for_ns)
        old = 0;
    uint64_t now = old == 0 ? ns : (3 * old + ns) / 4;
    atomic_store_explicit(avg, now ? now : 1, memory_order_relaxed);
    atomic_store_explicit((atomic_uint_fast64_t *)&c->run_at_ns, end_ns, memory_order_relaxed);
}

/* Brings the raw filters (TensorFlow layout) into the weights buffer of the bound problem:
 * flipped for the conv form, reordered (and for bf16 converted) when the layouts differ. A
 * copy of what was prepared last lets the same filters skip all of it next time. */
static enum atrous_status prepare_raw(struct atrous_workspace *ws, const struct compiled *c,
                                      const float *filters, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    void *target = c->weights_reorder ? ws->weights : ws->flipped;
    DNNL_TRY(point_at(ws->weights_mem, &ws->weights_at, target));
    if (ws->weights_current && memcmp(ws->reordered_from, filters, c->user_weights_bytes) == 0)
        return ATROUS_OK;
    ws->weights_current = false;
    const float *from = filters;
    if (c->flip) {
        atrous__engine_flip_filters(c, filters, ws->flipped);
        from = ws->flipped;
    }
    if (c->weights_reorder) {
        DNNL_TRY(dnnl_memory_set_data_handle(ws->user_weights, (void *)from));
        dnnl_exec_arg_t reorder_args[] = {{DNNL_ARG_FROM, ws->user_weights},
                                          {DNNL_ARG_TO, ws->weights_mem}};
        DNNL_TRY(dnnl_primitive_execute(c->weights_reorder, ws->stream, 2, reorder_args));
    }
    memcpy(ws->reordered_from, filters, c->user_weights_bytes);
    ws->weights_current = true;
out:
    return st;
}

/* Runs entry's primitive. The weights come from prepared filters when given, else from the raw
 * TensorFlow-layout filters buffer. */
static enum atrous_status execute(struct atrous_workspace *ws, struct atrous_cache_entry *entry,
                                  const struct atrous_cache_key *key, const float *value,
                                  const float *filters, struct atrous_filters *prepared,
                                  float *output, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    const struct compiled *c = atrous_cache_entry_value(entry);

    if (ws->bound != entry && (st = bind(ws, entry, key, err)))
        return st;
    DNNL_TRY(point_at(c->src_reorder ? ws->user_src : ws->src, &ws->src_at, value));
    DNNL_TRY(point_at(ws->dst, &ws->dst_at, output));
    if (prepared != NULL && ws->prepared_id != prepared->id) {
        if ((st = atrous__engine_filters_weights(prepared, c, ws->engine->cpu, ws->stream,
                                                 &ws->prepared_weights, err)))
            goto out;
        ws->prepared_id = prepared->id;
    }
    if (prepared != NULL && ws->prepared_weights != NULL) {
        DNNL_TRY(point_at(ws->weights_mem, &ws->weights_at, ws->prepared_weights));
    } else if (c->preparing) {
        if (prepared != NULL)
            filters = prepared->data; /* no room for this layout: prepare per call */
        if ((st = prepare_raw(ws, c, filters, err)))
            goto out;
    } else {
        DNNL_TRY(point_at(ws->weights_mem, &ws->weights_at, filters));
    }
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, ws->src},
                              {DNNL_ARG_WEIGHTS, ws->weights_mem},
                              {DNNL_ARG_DST, ws->dst},
                              {DNNL_ARG_SCRATCHPAD, ws->scratch_mem}};
    /* oneDNN copies the arguments into a node-allocated map on every call: a scratchpad the
     * primitive does not use would cost an allocation per call (a tenth of a tiny problem). */
    int nargs = c->scratch_bytes ? 4 : 3;
    uint64_t t0 = c->timed ? atrous__engine_monotonic_ns() : 0;
    if (c->src_reorder) {
        /* bf16: the value rounded to nearest even, once per call. */
        dnnl_exec_arg_t convert_args[] = {{DNNL_ARG_FROM, ws->user_src}, {DNNL_ARG_TO, ws->src}};
        DNNL_TRY(dnnl_primitive_execute(c->src_reorder, ws->stream, 2, convert_args));
    }
    DNNL_TRY(dnnl_primitive_execute(c->prim, ws->stream, nargs, args));
    DNNL_TRY(dnnl_stream_wait(ws->stream));
    if (c->timed) {
        uint64_t t1 = atrous__engine_monotonic_ns();
        record_run(c, t1 - t0, t1, ws->engine->measured_for_ns);
    }
out:
    return st;
}

/* atrous_engine_run() and atrous_engine_run_filters(): exactly one of filters and prepared is
 * non-NULL. */
enum atrous_status atrous__engine_run(struct atrous_engine *engine,
                                      struct atrous_workspace *workspace,
                                      const struct atrous_problem *problem, const float *value,
                                      const float *filters, struct atrous_filters *prepared,
                                      float *output, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrous_workspace *temporary = NULL;
    struct atrous_cache_entry *entry = NULL;

    if (problem->output_elements == 0)
        return ATROUS_OK;
    if (problem->value_elements == 0) {
        /* An empty sum: no value pixel reaches any output pixel. */
        memset(output, 0, problem->output_elements * sizeof(float));
        return ATROUS_OK;
    }
    if (workspace == NULL) {
        if ((st = atrous_workspace_create(engine, &temporary, err)))
            goto out;
        workspace = temporary;
    }
    struct atrous_cache_key key;
    atrous__engine_make_key(engine, problem, &key);
    if (workspace->bound && same_key(&workspace->bound_key, &key)) {
        /* The problem this workspace ran last: its reference keeps the primitive alive, so
         * the shared cache (hash, lock) is not needed. */
        atomic_store_explicit(&workspace->repeat_hits,
                              atomic_load_explicit(&workspace->repeat_hits, memory_order_relaxed) +
                                  1,
                              memory_order_relaxed);
        st = execute(workspace, workspace->bound, &key, value, filters, prepared, output, err);
        goto out;
    }
    if ((st = atrous__engine_lookup(engine, problem, &key, &entry, err)))
        goto out;
    st = execute(workspace, entry, &key, value, filters, prepared, output, err);
out:
    atrous_cache_release(engine->cache, entry);
    atrous_workspace_free(temporary);
    return st;
}

enum atrous_status atrous_engine_run(struct atrous_engine *engine,
                                     struct atrous_workspace *workspace,
                                     const struct atrous_problem *problem, const float *value,
                                     const float *filters, float *output, struct atrous_error *err)
{
    return atrous__engine_run(engine, workspace, problem, value, filters, NULL, output, err);
}

size_t atrous_workspace_held_bytes(const struct atrous_workspace *workspace)
{
    return workspace->scratch_capacity + workspace->weights_capacity +
           workspace->reordered_from_capacity + workspace->flipped_capacity +
           workspace->converted_capacity;
}

void atrous_workspace_trim(struct atrous_workspace *workspace)
{
    /* The memory objects point into the buffers: the next run binds afresh. */
    unbind(workspace);
    atrous_aligned_free(workspace->scratch);
    atrous_aligned_free(workspace->weights);
    atrous_aligned_free(workspace->reordered_from);
    atrous_aligned_free(workspace->flipped);
    atrous_aligned_free(workspace->converted);
    workspace->scratch = workspace->weights = workspace->reordered_from = NULL;
    workspace->flipped = workspace->converted = NULL;
    workspace->scratch_capacity = workspace->weights_capacity = 0;
    workspace->reordered_from_capacity = workspace->flipped_capacity = 0;
    workspace->converted_capacity = 0;
}

const char *atrous_workspace_last_implementation(const struct atrous_workspace *workspace)
{
    if (workspace == NULL || workspace->bound == NULL)
        return NULL;
    const struct compiled *c = atrous_cache_entry_value(workspace->bound);
    return c->name;
}

enum atrous_precision atrous_workspace_last_precision(const struct atrous_workspace *workspace)
{
    if (workspace == NULL || workspace->bound == NULL)
        return ATROUS_PRECISION_F32;
    const struct compiled *c = atrous_cache_entry_value(workspace->bound);
    return c->precision;
}

void atrous_engine_cache_stats(struct atrous_engine *engine, struct atrous_cache_stats *out)
{
    atrous_cache_get_stats(engine->cache, out);
    pthread_mutex_lock(&engine->workspaces_lock);
    out->hits += engine->freed_repeat_hits;
    for (const struct atrous_workspace *ws = engine->workspaces; ws; ws = ws->next)
        out->hits += atomic_load_explicit(&ws->repeat_hits, memory_order_relaxed);
    pthread_mutex_unlock(&engine->workspaces_lock);
}

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41:
        return "sse41";
    case dnnl_cpu_isa_avx:
        return "avx";
    case dnnl_cpu_isa_avx2:
        return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
        return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
        return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
        return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
        return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
        return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
        return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
        return "avx512_core_amx";
    default:
        return "unknown";
    }
}

void atrous_engine_get_info(const struct atrous_engine *engine, struct atrous_engine_info *out)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(out->onednn_version, sizeof(out->onednn_version), "%d.%d.%d (commit %.12s)", v->major,
             v->minor, v->patch, v->hash ? v->hash : "unknown");
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    snprintf(out->cpu_isa, sizeof(out->cpu_isa), "%s", isa_name(isa));
    out->avx512 = (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
    out->bf16 = (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
    out->amx = (isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx;
    snprintf(out->threading, sizeof(out->threading), "%s",
             v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
    out->fma_peak_gflops = engine->fma_peak_gflops;
}

void atrous_engine_set_thread_parallelism(int threads)
{
    omp_set_num_threads(threads < 1 ? 1 : threads);
}

int atrous_engine_thread_parallelism(void)
{
    return omp_get_max_threads();
}
