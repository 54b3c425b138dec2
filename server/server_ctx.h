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
#include "auth.h"
#include "budget.h"
#include "compute_queue.h"
#include "config.h"
#include "cpus.h"
#include "metrics.h"
#include "models.h"
#include "tls.h"

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
    struct atrousd_models *models;             /* owned: the repository's snapshots (models.h) */
    size_t generic_metrics;                    /* the generic model's number in the metrics */
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
    _Atomic uint64_t random_state; /* atrousd_ctx_random64 (trace and span ids) */
    struct atrousd_tls *tls;       /* owned (tls.h); NULL = plain HTTP */
    struct atrousd_auth *auth;     /* owned; NULL: no --auth-token-file (auth.h) */
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
 * The start-up load of the model repository (models.h: every folder of --model-dir, or in
 * explicit mode what --load-model names), on the calling thread with the workers' OpenMP team
 * size. A model folder that fails is logged (one line with the folder and the reason) and
 * skipped; a directory that cannot be read at all, or an explicit --load-model that fails, fails
 * the call. Call before serving.
 */
enum atrous_status atrousd_ctx_load_models(struct server_ctx *ctx, struct atrous_error *err);

/* Starts the compute workers and the queue (budget.compute_workers x budget.omp_threads), and
 * the model manager's thread. */
enum atrous_status atrousd_ctx_start_workers(struct server_ctx *ctx, struct atrous_error *err);

/* The compute queue, or the model manager's, that a request of this endpoint waits in. */
struct atrousd_queue *atrousd_ctx_queue_for(const struct server_ctx *ctx,
                                            enum atrousd_endpoint endpoint);

/*
 * The SIGHUP hook (run on the signal thread while serving, signals.h): the one place where a
 * reload starts. It asks the model manager for a rescan of the repository (models.h; in
 * explicit mode only logged), and the auth thread to reread the token file (auth.h), and
 * returns at once: both run on threads of their own, so the signal thread is never held up by
 * a slow disk.
 */
void atrousd_ctx_reload(struct server_ctx *ctx);

/* Frees the queue (cancelling waiting jobs), the models, the engine and the metrics. Accepts
 * NULL. */
void atrousd_ctx_free(struct server_ctx *ctx);

/* 64 random-looking bits (splitmix64 over a seed from getrandom): unique within the process and
 * not guessable from outside, for trace and span ids. Any thread; arg is the context. */
uint64_t atrousd_ctx_random64(void *ctx);

/* Writes a fresh request id (24 hex digits, unique within the process) into buf. */
void atrousd_ctx_request_id(struct server_ctx *ctx, char *buf, size_t size);

/* The values /metrics reads from other modules. */
void atrousd_ctx_snapshot(struct server_ctx *ctx, struct atrousd_metrics_snapshot *out);

#endif
