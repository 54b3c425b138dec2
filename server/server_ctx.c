/*
 * server_ctx.c - creation and teardown of the service context (with the memory budget's
 * default), request ids.
 */
#include "server_ctx.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "version.h"

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        /* No entropy yet (early boot): ids only need to be unique, not secret. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
    }
    return seed;
}

enum atrous_status atrousd_ctx_create(const struct atrousd_config *config,
                                      const struct atrousd_cpus *cpus,
                                      const struct atrousd_thread_budget *budget,
                                      struct server_ctx **out, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct server_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the context");
    ctx->config = *config;
    if (cpus != NULL)
        ctx->cpus = *cpus;
    else
        atrousd_cpus_detect(NULL, &ctx->cpus);
    if (budget != NULL)
        ctx->budget = *budget;
    else
        atrousd_cpus_budget(ctx->cpus.usable, (int)config->compute_threads,
                            (int)config->omp_threads, &ctx->budget);
    /* I/O threads mostly wait in poll(); one per usable CPU lets every core receive, send and
     * run the cheap inline requests (--inline-max-flops) at once. */
    if (ctx->config.io_threads == 0)
        ctx->config.io_threads = ctx->cpus.usable < 1 ? 1
                                 : ctx->cpus.usable > ATROUSD_IO_THREADS_MAX
                                     ? ATROUSD_IO_THREADS_MAX
                                     : (uint64_t)ctx->cpus.usable;
    atrousd_memory_detect(NULL, &ctx->container);
    if (ctx->config.max_memory_bytes == 0)
        ctx->config.max_memory_bytes = ctx->container.usable > 0
                                           ? ctx->container.usable / ATROUSD_BUDGET_DEFAULT_DIVISOR
                                           : ATROUSD_BUDGET_FALLBACK_BYTES;
    atrousd_budget_init(&ctx->memory, ctx->config.max_memory_bytes);
    ctx->config.compute_threads = (uint64_t)ctx->budget.compute_workers;
    ctx->config.omp_threads = (uint64_t)ctx->budget.omp_threads;
    ctx->op_limits.max_input_elements = (size_t)config->max_tensor_elements;
    ctx->op_limits.max_output_elements = (size_t)config->max_output_elements;
    ctx->decode_limits.max_tensor_elements = (size_t)config->max_tensor_elements;
    ctx->decode_limits.max_depth = 0;
    ctx->kserve_limits.max_tensor_elements = (size_t)config->max_tensor_elements;
    ctx->kserve_limits.max_json_bytes = (size_t)config->max_json_bytes;
    ctx->tfs_limits.max_tensor_elements = (size_t)config->max_tensor_elements;
    ctx->tfs_limits.max_json_bytes = (size_t)config->max_json_bytes;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    ctx->start_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    ctx->request_id_seed = random_seed();
    atomic_init(&ctx->random_state, random_seed());

    ctx->metrics = atrousd_metrics_create();
    if (ctx->metrics == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for metrics");
        goto out;
    }
    struct atrous_engine_config engine_config = {.cache_capacity = (size_t)config->cache_capacity};
    if ((st = atrous_engine_create(&engine_config, &ctx->engine, err)))
        goto out;
    ctx->generic_metrics = atrousd_metrics_model(ctx->metrics, ATROUS_GENERIC_MODEL_NAME,
                                                 ATROUS_GENERIC_MODEL_VERSION);
    struct atrousd_models_config models_config = {
        .root = config->model_dir,
        .mode = config->model_control_mode,
        .poll_secs = config->repository_poll_secs,
        .load_models = config->load_models,
        .limits = {.max_filters_elements = (size_t)config->max_tensor_elements},
        .engine = ctx->engine,
        .metrics = ctx->metrics,
        .omp_threads = ctx->budget.omp_threads,
    };
    if ((st = atrousd_models_create(&models_config, &ctx->models, err)))
        goto out;
    /* Authentication (auth.h): the token file is read now, so a bad one stops the start. */
    struct atrousd_auth_config auth_config = {
        .token_file = config->auth_token_file,
        .open_paths = config->auth_open_paths,
        .reload_ms = config->auth_reload_ms,
    };
    if ((st = atrousd_auth_create(&auth_config, &ctx->auth, err)))
        goto out;
    atrous_engine_get_info(ctx->engine, &ctx->engine_info);
    *out = ctx;
    ctx = NULL;
out:
    atrousd_ctx_free(ctx);
    return st;
}

enum atrous_status atrousd_ctx_start_workers(struct server_ctx *ctx, struct atrous_error *err)
{
    struct atrousd_queue_config qc = {
        .workers = ctx->budget.compute_workers,
        .omp_threads = ctx->budget.omp_threads,
        .capacity = (size_t)ctx->config.queue_depth,
        .max_batch = (size_t)ctx->config.max_batch,
        .max_delay_us = ctx->config.max_queue_delay_us,
        .large_max_wait_us = ATROUSD_LARGE_MAX_WAIT_US,
    };
    enum atrous_status st = atrousd_queue_create(ctx->engine, &qc, &ctx->queue, err);
    return st == ATROUS_OK ? atrousd_models_start(ctx->models, err) : st;
}

struct atrousd_queue *atrousd_ctx_queue_for(const struct server_ctx *ctx,
                                            enum atrousd_endpoint endpoint)
{
    return atrousd_route_manages_models(endpoint) ? atrousd_models_queue(ctx->models) : ctx->queue;
}

void atrousd_ctx_free(struct server_ctx *ctx)
{
    if (ctx == NULL)
        return;
    atrousd_auth_free(ctx->auth);
    atrousd_queue_free(ctx->queue);
    atrousd_models_free(ctx->models); /* its prepared filters belong to the engine */
    atrous_engine_free(ctx->engine);
    atrousd_metrics_free(ctx->metrics);
    atrousd_tls_free(ctx->tls);
    free(ctx);
}

enum atrous_status atrousd_ctx_load_models(struct server_ctx *ctx, struct atrous_error *err)
{
    /* Warm-up primitives are cached per team size: the workers' one. */
    atrous_engine_set_thread_parallelism(ctx->budget.omp_threads);
    return atrousd_models_load_initial(ctx->models, err);
}

void atrousd_ctx_reload(struct server_ctx *ctx)
{
    const struct atrousd_config *c = &ctx->config;
    /* TLS (tls.h): the certificate, key and client CA files, at once on this thread (a few
     * small files; a failure keeps the credentials in use). */
    if (ctx->tls != NULL)
        atrousd_tls_reload(ctx->tls, "SIGHUP");
    /* Authentication (auth.h): the token file is reread on the auth thread. */
    atrousd_auth_reload_async(ctx->auth, "SIGHUP");
    if (c->model_dir[0] == '\0') {
        atrousd_logf(ATROUSD_LOG_INFO, "reload: no model repository (--model-dir) to rescan; the "
                                       "process goes on serving");
        return;
    }
    if (c->model_control_mode == ATROUSD_MODEL_CONTROL_EXPLICIT) {
        atrousd_logf(ATROUSD_LOG_INFO,
                     "reload: --model-control-mode explicit: the repository is not rescanned "
                     "(models change by load and unload requests)");
        return;
    }
    atrousd_logf(ATROUSD_LOG_INFO, "reload: rescanning the model repository %s", c->model_dir);
    atrousd_models_rescan(ctx->models, "SIGHUP");
}

uint64_t atrousd_ctx_random64(void *arg)
{
    struct server_ctx *ctx = arg;
    uint64_t z = atomic_fetch_add_explicit(&ctx->random_state, UINT64_C(0x9e3779b97f4a7c15),
                                           memory_order_relaxed) +
                 UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void atrousd_ctx_request_id(struct server_ctx *ctx, char *buf, size_t size)
{
    uint64_t seq = atomic_fetch_add_explicit(&ctx->request_seq, 1, memory_order_relaxed);
    snprintf(buf, size, "%016" PRIx64 "%08" PRIx64, ctx->request_id_seed,
             seq & UINT64_C(0xffffffff));
}

void atrousd_ctx_snapshot(struct server_ctx *ctx, struct atrousd_metrics_snapshot *out)
{
    memset(out, 0, sizeof(*out));
    if (ctx->queue != NULL) {
        out->queue_depth = atrousd_queue_depth(ctx->queue);
        out->compute_active = atrousd_queue_active(ctx->queue);
    }
    out->queue_capacity = ctx->config.queue_depth;
    out->compute_workers = (uint64_t)ctx->budget.compute_workers;
    out->omp_threads = (uint64_t)ctx->budget.omp_threads;
    out->io_threads = ctx->config.io_threads;
    out->usable_cpus = (uint64_t)ctx->cpus.usable;
    out->in_flight = atomic_load(&ctx->in_flight);
    out->memory_budget_bytes = ctx->memory.limit;
    out->memory_in_use_bytes = atrousd_budget_in_use(&ctx->memory);
    out->memory_peak_bytes = atrousd_budget_peak(&ctx->memory);
    out->memory_refused = atrousd_budget_refused(&ctx->memory);
    struct atrous_cache_stats cache;
    atrous_engine_cache_stats(ctx->engine, &cache);
    out->cache_hits = cache.hits;
    out->cache_misses = cache.misses;
    out->cache_evictions = cache.evictions;
    out->cache_entries = cache.entries;
    out->cache_capacity = cache.capacity;
    out->log_lines_dropped = atrousd_log_lines_dropped();
    out->ready = atomic_load(&ctx->ready);
    out->draining = atomic_load(&ctx->draining);
    out->start_time_seconds = ctx->start_time;
    out->version = ATROUSD_VERSION;
    out->onednn_version = ctx->engine_info.onednn_version;
    out->cpu_isa = ctx->engine_info.cpu_isa;
    out->avx512 = ctx->engine_info.avx512;
    atrousd_models_figures(ctx->models, &out->models_loaded, &out->models_retired_held,
                           &out->model_loads_ok, &out->model_loads_failed);
    atrousd_auth_figures(ctx->auth, &out->auth);
}
