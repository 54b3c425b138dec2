/*
 * info.c - the /v1/info document, built with the JSON writer.
 */
#include "info.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "atrous_json_writer.h"
#include "atrous_model.h"
#include "server_ctx.h"
#include "version.h"

#if defined(__clang__)
#define BUILD_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define BUILD_COMPILER "gcc " __VERSION__
#else
#define BUILD_COMPILER "unknown"
#endif

#ifdef __OPTIMIZE__
#define BUILD_OPTIMIZED true
#else
#define BUILD_OPTIMIZED false
#endif

static void key_uint(struct atrous_jw *w, const char *key, uint64_t v)
{
    atrous_jw_key(w, key);
    atrous_jw_uint(w, v);
}

static void write_engine(struct atrous_jw *w, struct server_ctx *ctx)
{
    struct atrous_cache_stats cache;
    atrous_engine_cache_stats(ctx->engine, &cache);
    atrous_jw_key(w, "engine");
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "onednn_version");
    atrous_jw_string(w, ctx->engine_info.onednn_version);
    atrous_jw_key(w, "cpu_isa");
    atrous_jw_string(w, ctx->engine_info.cpu_isa);
    atrous_jw_key(w, "avx512");
    atrous_jw_bool(w, ctx->engine_info.avx512);
    atrous_jw_key(w, "threading");
    atrous_jw_string(w, ctx->engine_info.threading);
    atrous_jw_key(w, "bf16");
    atrous_jw_bool(w, ctx->engine_info.bf16);
    atrous_jw_key(w, "amx");
    atrous_jw_bool(w, ctx->engine_info.amx);
    atrous_jw_key(w, "fpmath");
    atrous_jw_string(w, "strict f32");
    atrous_jw_key(w, "dtypes");
    atrous_jw_array_begin(w);
    for (int i = 0; i < ATROUS_DTYPE_COUNT; i++)
        atrous_jw_string(w, atrous_dtype_name((enum atrous_dtype)i));
    atrous_jw_array_end(w);
    atrous_jw_key(w, "precisions");
    atrous_jw_array_begin(w);
    atrous_jw_string(w, "f32");
    atrous_jw_string(w, "bf16");
    atrous_jw_array_end(w);
    key_uint(w, "cache_capacity", cache.capacity);
    key_uint(w, "cache_entries", cache.entries);
    atrous_jw_object_end(w);
}

void atrousd_info_write_threads(struct atrous_jw *w, const void *arg)
{
    const struct server_ctx *ctx = arg;
    atrous_jw_object_begin(w);
    key_uint(w, "usable_cpus", (uint64_t)ctx->cpus.usable);
    key_uint(w, "affinity_cpus", (uint64_t)ctx->cpus.affinity);
    atrous_jw_key(w, "cgroup_cpu_quota");
    if (ctx->cpus.has_quota)
        atrous_jw_double(w, ctx->cpus.quota_cpus);
    else
        atrous_jw_null(w);
    key_uint(w, "io_threads", ctx->config.io_threads);
    key_uint(w, "compute_workers", (uint64_t)ctx->budget.compute_workers);
    key_uint(w, "omp_threads_per_worker", (uint64_t)ctx->budget.omp_threads);
    atrous_jw_key(w, "clamped");
    atrous_jw_bool(w, ctx->budget.clamped);
    atrous_jw_object_end(w);
}

void atrousd_info_write_memory(struct atrous_jw *w, const void *arg)
{
    const struct server_ctx *ctx = arg;
    const struct atrousd_memory *m = &ctx->container;
    atrous_jw_object_begin(w);
    key_uint(w, "budget_bytes", ctx->memory.limit);
    key_uint(w, "in_use_bytes", atrousd_budget_in_use(&ctx->memory));
    key_uint(w, "peak_bytes", atrousd_budget_peak(&ctx->memory));
    key_uint(w, "refused", atrousd_budget_refused(&ctx->memory));
    atrous_jw_key(w, "container_limit_bytes");
    if (m->has_limit)
        atrous_jw_uint(w, m->cgroup_limit);
    else
        atrous_jw_null(w);
    atrous_jw_key(w, "cgroup");
    atrous_jw_string(w, m->cgroup_version == 2   ? "v2 memory.max"
                        : m->cgroup_version == 1 ? "v1 memory.limit_in_bytes"
                                                 : "none");
    key_uint(w, "physical_bytes", m->physical);
    atrous_jw_object_end(w);
}

static void write_limits(struct atrous_jw *w, const struct atrousd_config *c)
{
    atrous_jw_key(w, "limits");
    atrous_jw_object_begin(w);
    key_uint(w, "max_body_bytes", c->max_body_bytes);
    key_uint(w, "max_memory_bytes", c->max_memory_bytes);
    key_uint(w, "max_compute_ms", c->max_compute_ms);
    key_uint(w, "min_send_rate", c->min_send_rate);
    key_uint(w, "max_tensor_elements", c->max_tensor_elements);
    key_uint(w, "max_output_elements", c->max_output_elements);
    key_uint(w, "queue_depth", c->queue_depth);
    key_uint(w, "max_connections", c->max_connections);
    key_uint(w, "max_connections_per_ip", c->max_connections_per_ip);
    key_uint(w, "connection_timeout_s", c->connection_timeout_s);
    key_uint(w, "request_timeout_ms", c->request_timeout_ms);
    key_uint(w, "drain_timeout_s", c->drain_timeout_s);
    key_uint(w, "max_json_bytes", c->max_json_bytes);
    key_uint(w, "max_batch", c->max_batch);
    key_uint(w, "max_queue_delay_us", c->max_queue_delay_us);
    atrous_jw_object_end(w);
}

/* [dims...], after "key": when key is not NULL. */
static void write_dims(struct atrous_jw *w, const char *key, const int64_t *dims, int rank)
{
    if (key != NULL)
        atrous_jw_key(w, key);
    atrous_jw_array_begin(w);
    for (int i = 0; i < rank; i++)
        atrous_jw_int(w, dims[i]);
    atrous_jw_array_end(w);
}

/* The repository's models: what each computes and how far it is prepared. */
static void write_models(struct atrous_jw *w, const struct server_ctx *ctx)
{
    atrous_jw_key(w, "model_dir");
    if (ctx->config.model_dir[0])
        atrous_jw_string(w, ctx->config.model_dir);
    else
        atrous_jw_null(w);
    atrous_jw_key(w, "models");
    atrous_jw_array_begin(w);
    struct atrousd_repo *repo = atrousd_models_acquire(ctx->models);
    size_t count = atrousd_repo_count(repo);
    for (size_t i = 0; i < count; i++) {
        const struct atrous_model *m = atrousd_repo_at(repo, i);
        int64_t input[4], output[4];
        atrous_model_io_dims(m, input, output);
        atrous_jw_object_begin(w);
        atrous_jw_key(w, "name");
        atrous_jw_string(w, m->name);
        atrous_jw_key(w, "version");
        atrous_jw_string(w, m->version);
        key_uint(w, "rate", (uint64_t)m->rate);
        atrous_jw_key(w, "padding");
        atrous_jw_string(w, atrous_padding_name(m->padding));
        write_dims(w, "filters_shape", m->filters_shape.dims, m->filters_shape.rank);
        write_dims(w, "input_shape", input, 4);
        write_dims(w, "output_shape", output, 4);
        key_uint(w, "max_batch_size", (uint64_t)m->max_batch_size);
        atrous_jw_key(w, "warmup");
        atrous_jw_array_begin(w);
        for (size_t k = 0; k < m->warmup_count; k++)
            write_dims(w, NULL, m->warmup[k], 4);
        atrous_jw_array_end(w);
        key_uint(w, "prepared_layouts", atrous_filters_layout_count(m->prepared));
        atrous_jw_object_end(w);
    }
    atrous_jw_array_end(w);
    atrousd_repo_release(repo);
}

char *atrousd_info_render(struct server_ctx *ctx, size_t *len)
{
    struct atrous_jw *w = atrous_jw_create();
    if (w == NULL)
        return NULL;
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "name");
    atrous_jw_string(w, ATROUSD_NAME);
    atrous_jw_key(w, "version");
    atrous_jw_string(w, ATROUSD_VERSION);
    atrous_jw_key(w, "api");
    atrous_jw_string(w, ATROUSD_API_VERSION);
    atrous_jw_key(w, "build");
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "compiler");
    atrous_jw_string(w, BUILD_COMPILER);
    atrous_jw_key(w, "optimized");
    atrous_jw_bool(w, BUILD_OPTIMIZED);
    atrous_jw_object_end(w);
    write_engine(w, ctx);
    atrous_jw_key(w, "threads");
    atrousd_info_write_threads(w, ctx);
    write_limits(w, &ctx->config);
    atrous_jw_key(w, "memory");
    atrousd_info_write_memory(w, ctx);
    write_models(w, ctx);
    atrous_jw_key(w, "status");
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "ready");
    atrous_jw_bool(w, atomic_load(&ctx->ready));
    atrous_jw_key(w, "draining");
    atrous_jw_bool(w, atomic_load(&ctx->draining));
    atrous_jw_key(w, "port");
    atrous_jw_uint(w, ctx->port);
    atrous_jw_object_end(w);
    atrous_jw_key(w, "config");
    atrousd_config_write_json(w, &ctx->config);
    atrous_jw_object_end(w);
    char *out = atrous_jw_take(w, len);
    atrous_jw_free(w);
    return out;
}
