/*
 * server_ctx.h - the one context struct of the service (STYLE.md rule 5): configuration,
 * engine, compute queue, metrics and the few pieces of shared state (readiness, draining,
 * in-flight count, the memory budget). libmicrohttpd gets it as its closure; handlers take
 * it as their first argument.
 */
#ifndef ATROUSD_SERVER_CTX_H
#define ATROUSD_SERVER_CTX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_engine.h"
#include "atrous_kserve.h"
#include "atrous_model.h"
#include "model_repo.h"
#include "atrous_request.h"
#include "atrous_tfserving.h"
#include "budget.h"
#include "compute_queue.h"
#include "config.h"
#include "cpus.h"
#include "metrics.h"

/* Small compute jobs (ATROUSD_SMALL_JOB_*) are queued ahead of large ones that have waited less
 * than this: about two 1x64x64x256 -> 256 requests of one core. */
#define ATROUSD_LARGE_MAX_WAIT_US 100000

/* Request ids we accept from X-Request-Id are at most this long; generated ones are 24. */
#define ATROUSD_REQUEST_ID_MAX 128

struct server_ctx {
    struct atrousd_config config; /* effective (thread counts after the budget) */
    struct atrousd_cpus cpus;
    struct atrousd_thread_budget budget;
    struct atrous_engine *engine; /* owned */
    struct atrous_engine_info engine_info;
    struct atrousd_queue *queue;     /* owned; NULL until atrousd_ctx_start_workers */
    struct atrousd_metrics *metrics; /* owned */
    struct atrous_limits op_limits;  /* from --max-tensor/output-elements */
    struct atrous_decode_limits decode_limits;
    struct atrousd_repo *repo; /* owned; empty without --model-dir; read-only once serving */
    struct atrous_kserve_limits kserve_limits; /* --max-tensor-elements, --max-json-bytes */
    struct atrous_tfs_limits tfs_limits;
    uint16_t port;     /* bound port, once listening */
    double start_time; /* Unix time */
    uint64_t request_id_seed;
    _Atomic bool ready;              /* self-test passed */
    _Atomic bool draining;           /* SIGTERM received */
    _Atomic uint64_t in_flight;      /* requests received, not yet completed */
    struct atrousd_budget memory;    /* --max-memory-bytes: every request's worst case */
    struct atrousd_memory container; /* the memory the default budget was derived from */
    _Atomic uint64_t request_seq;
};

/*
 * Creates a context with the engine and metrics (not yet ready, no workers). config is
 * copied; cpus and budget describe the thread budget (NULL: detect and use config's
 * requests). The caller frees it with atrousd_ctx_free.
 */
enum atrous_status atrousd_ctx_create(const struct atrousd_config *config,
                                      const struct atrousd_cpus *cpus,
                                      const struct atrousd_thread_budget *budget,
                                      struct server_ctx **out, struct atrous_error *err);

/*
 * Loads the model repository of --model-dir (an empty one without it) and prepares every model
 * on the calling thread with the workers' OpenMP team size. A model folder that fails is logged
 * (one line with the folder and the reason) and skipped; only a directory that cannot be read
 * at all fails the call. Also labels the per-model metrics. Call before serving.
 */
enum atrous_status atrousd_ctx_load_models(struct server_ctx *ctx, struct atrous_error *err);

/* The metrics number of the model a route names (struct atrousd_request_sample.model): 1 for
 * the generic model (model NULL), 2 + its repository index for a repository model. */
size_t atrousd_ctx_model_metrics_index(const struct server_ctx *ctx,
                                       const struct atrous_model *model);

/* Starts the compute workers and the queue (budget.compute_workers x budget.omp_threads). */
enum atrous_status atrousd_ctx_start_workers(struct server_ctx *ctx, struct atrous_error *err);

/*
 * The SIGHUP hook (run on the signal thread while serving, signals.h): the one place where a
 * reload starts. Today it reloads nothing and says so; the model repository's rescan (fleet
 * operation) and TLS certificate reloads belong here.
 */
void atrousd_ctx_reload(struct server_ctx *ctx);

/* Frees the queue (cancelling waiting jobs), the models, the engine and the metrics. Accepts
 * NULL. */
void atrousd_ctx_free(struct server_ctx *ctx);

/* Writes a fresh request id (24 hex digits, unique within the process) into buf. */
void atrousd_ctx_request_id(struct server_ctx *ctx, char *buf, size_t size);

/* The values /metrics reads from other modules. */
void atrousd_ctx_snapshot(struct server_ctx *ctx, struct atrousd_metrics_snapshot *out);

#endif
