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
    /* I/O threads mostly wait in epoll; one per usable CPU lets every core receive, send and
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

    ctx->metrics = atrousd_metrics_create();
    if (ctx->metrics == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for metrics");
        goto out;
    }
    struct atrous_engine_config engine_config = {.cache_capacity = (size_t)config->cache_capacity};
    if ((st = atrous_engine_create(&engine_config, &ctx->engine, err)))
        goto out;
    if ((st = atrousd_repo_create_empty(&ctx->repo, err)))
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
    return atrousd_queue_create(ctx->engine, &qc, &ctx->queue, err);
}

void atrousd_ctx_free(struct server_ctx *ctx)
{
    if (ctx == NULL)
        return;
    atrousd_queue_free(ctx->queue);
    atrousd_repo_free(ctx->repo); /* its prepared filters belong to the engine */
    atrous_engine_free(ctx->engine);
    atrousd_metrics_free(ctx->metrics);
    free(ctx);
}

static void report_model(void *arg, const char *dir, const struct atrous_error *err)
{
    (void)arg;
    struct atrousd_log_field fields[] = {
        LOG_STR("dir", dir),
        LOG_STR("code", atrous_status_code(err->status)),
        LOG_STR("field", err->field[0] ? err->field : NULL),
        LOG_STR("error", err->message),
    };
    atrousd_log_fields(ATROUSD_LOG_ERROR, "model folder skipped", fields,
                       sizeof(fields) / sizeof(fields[0]));
}

static void log_model(const struct atrous_model *m, const char *dir)
{
    char filters[128];
    atrous_shape_format(&m->filters_shape, filters, sizeof(filters));
    struct atrousd_log_field fields[] = {
        LOG_STR("model", m->name),
        LOG_STR("version", m->version),
        LOG_STR("dir", dir),
        LOG_INT("rate", m->rate),
        LOG_STR("padding", atrous_padding_name(m->padding)),
        LOG_STR("filters_shape", filters),
        LOG_UINT("prepared_layouts", atrous_filters_layout_count(m->prepared)),
    };
    atrousd_log_fields(ATROUSD_LOG_INFO, "model loaded", fields,
                       sizeof(fields) / sizeof(fields[0]));
}

/* Labels the per-model metrics: the generic model first, then the repository in order. */
static void label_model_metrics(struct server_ctx *ctx)
{
    size_t count = atrousd_repo_count(ctx->repo);
    const char **names = calloc(count + 1, sizeof(*names));
    const char **versions = calloc(count + 1, sizeof(*versions));
    bool ok = names != NULL && versions != NULL;
    if (ok) {
        names[0] = ATROUS_GENERIC_MODEL_NAME;
        versions[0] = ATROUS_GENERIC_MODEL_VERSION;
        for (size_t i = 0; i < count; i++) {
            names[i + 1] = atrousd_repo_at(ctx->repo, i)->name;
            versions[i + 1] = atrousd_repo_at(ctx->repo, i)->version;
        }
        ok = atrousd_metrics_set_models(ctx->metrics, names, versions, count + 1);
    }
    if (!ok)
        atrousd_logf(ATROUSD_LOG_WARN, "out of memory for per-model metrics; left out");
    free(names);
    free(versions);
}

enum atrous_status atrousd_ctx_load_models(struct server_ctx *ctx, struct atrous_error *err)
{
    struct atrousd_repo *repo = NULL;
    size_t failed = 0;
    enum atrous_status st;
    if (ctx->config.model_dir[0] == '\0') {
        st = atrousd_repo_create_empty(&repo, err);
    } else {
        struct atrousd_model_limits limits = {
            .max_filters_elements = (size_t)ctx->config.max_tensor_elements,
        };
        st = atrousd_repo_load(ctx->config.model_dir, &limits, report_model, NULL, &repo, &failed,
                               err);
        if (st == ATROUS_OK) {
            /* Warm-up primitives are cached per team size: the workers' one. */
            atrous_engine_set_thread_parallelism(ctx->budget.omp_threads);
            failed += atrousd_repo_prepare(repo, ctx->engine, report_model, NULL);
        }
    }
    if (st != ATROUS_OK)
        return st;
    atrousd_repo_free(ctx->repo);
    ctx->repo = repo;
    size_t count = atrousd_repo_count(repo);
    for (size_t i = 0; i < count; i++)
        log_model(atrousd_repo_at(repo, i), atrousd_repo_dir(repo, i));
    label_model_metrics(ctx);
    if (ctx->config.model_dir[0] != '\0') {
        struct atrousd_log_field fields[] = {
            LOG_STR("model_dir", ctx->config.model_dir),
            LOG_UINT("models", count),
            LOG_UINT("folders_skipped", failed),
        };
        atrousd_log_fields(failed ? ATROUSD_LOG_WARN : ATROUSD_LOG_INFO, "model repository loaded",
                           fields, sizeof(fields) / sizeof(fields[0]));
    }
    return ATROUS_OK;
}

size_t atrousd_ctx_model_metrics_index(const struct server_ctx *ctx,
                                       const struct atrous_model *model)
{
    if (model == NULL)
        return 1;
    size_t first = 0;
    size_t n = atrousd_repo_versions(ctx->repo, model->name, &first, NULL);
    for (size_t i = first; i < first + n; i++) {
        if (atrousd_repo_at(ctx->repo, i) == model)
            return i + 2;
    }
    return 0;
}

void atrousd_ctx_reload(struct server_ctx *ctx)
{
    (void)ctx;
    atrousd_logf(ATROUSD_LOG_INFO, "reload: nothing to reload yet (the model repository is read "
                                   "once at start); the process goes on serving");
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
}
