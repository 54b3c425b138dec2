/*
 * models.h - the model repository's life while the server runs, after Triton's model control
 * modes (--model-control-mode):
 *
 *   none      every folder of --model-dir loads at start; SIGHUP rescans the folder: new and
 *             changed folders load, removed ones unload. The load and unload requests are
 *             refused (as in Triton).
 *   poll      the same, and the folder is rescanned every --repository-poll-secs too.
 *   explicit  only the models --load-model names load at start ("*": all); then models change
 *             only through POST /v2/repository/models/{name}/load and /unload.
 *
 * A change is atomic per model: the loader reads, checks and prepares the new version off to
 * the side, then one swap of the repository snapshot (model_repo.h) makes it the one new
 * requests see. Requests in flight hold the snapshot they were admitted with, so they finish on
 * the version they started with; a version no longer served is freed when the last of them
 * ends. A folder that fails to load keeps the version it served (if any) and its reason shows
 * in the repository index. A folder is rescanned only when its config.json or filters file
 * changed (inode, size, times): an unchanged model is not reloaded.
 *
 * Everything that reads the disk (loads, rescans, the index) runs on the manager's own thread,
 * one task at a time, never on an I/O or compute thread: the HTTP layer queues repository
 * requests on atrousd_models_queue() (bounded: a full queue answers 429) and resumes them when
 * done, as it does compute jobs.
 */
#ifndef ATROUSD_MODELS_H
#define ATROUSD_MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_engine.h"
#include "atrous_error.h"
#include "compute_queue.h"
#include "config.h"
#include "metrics.h"
#include "model_repo.h"
#include "reply.h"
#include "router.h"

/* Repository requests waiting for the manager's thread; more are answered 429. */
#define ATROUSD_MODELS_QUEUE_DEPTH 16

struct atrousd_models_config {
    const char *root;                /* --model-dir; "" or NULL: no repository */
    enum atrousd_model_control mode; /* --model-control-mode */
    uint64_t poll_secs;              /* --repository-poll-secs (poll mode) */
    const char *load_models;         /* --load-model: comma-separated names, "*" = all */
    struct atrousd_model_limits limits;
    struct atrous_engine *engine;    /* borrowed: prepares models */
    struct atrousd_metrics *metrics; /* borrowed: numbers each version's series */
    int omp_threads;                 /* the compute workers' team size (warm-ups) */
};

struct atrousd_models;

/* A manager holding an empty repository; nothing loaded, no thread. Strings are copied. */
enum atrous_status atrousd_models_create(const struct atrousd_models_config *config,
                                         struct atrousd_models **out, struct atrous_error *err);

/*
 * The start-up load, on the calling thread (whose OpenMP team size must be the workers'): in
 * none and poll mode every folder (a bad folder is logged and skipped; only a --model-dir that
 * cannot be read fails), in explicit mode what --load-model names (a name that does not load
 * fails the start). Logs one line per model and a summary.
 */
enum atrous_status atrousd_models_load_initial(struct atrousd_models *mm, struct atrous_error *err);

/* Starts the manager's thread (and the poller in poll mode). Call once serving. */
enum atrous_status atrousd_models_start(struct atrousd_models *mm, struct atrous_error *err);

/*
 * Stops the poller and the manager's thread: requests still waiting are cancelled (their
 * cancel callback runs on the calling thread: call it before the HTTP daemon stops), a load in
 * progress finishes. Idempotent; accepts NULL.
 */
void atrousd_models_stop(struct atrousd_models *mm);

/* Stops if needed and frees the manager and its snapshot (models still held by requests go
 * when those end). Accepts NULL. Free before the engine and the metrics. */
void atrousd_models_free(struct atrousd_models *mm);

/* The current snapshot with a reference the caller releases (atrousd_repo_release). Any
 * thread; a short lock, never held while loading. */
struct atrousd_repo *atrousd_models_acquire(struct atrousd_models *mm);

/* The queue repository requests wait in for the manager's thread (NULL before start). */
struct atrousd_queue *atrousd_models_queue(struct atrousd_models *mm);

/*
 * Asks for a rescan of the repository folder (SIGHUP), in none and poll mode; in explicit mode
 * it is logged and nothing changes. Returns at once (any thread, the signal thread too): the
 * rescan runs on the manager's thread; requests made while one is waiting fold into it.
 */
void atrousd_models_rescan(struct atrousd_models *mm, const char *reason);

/*
 * Answers a repository request on the manager's thread (the queue's worker): the index (body
 * {"ready": bool}), a load of model (body {} or {"parameters": {"config": "..."}}) or an
 * unload. The reply gets the index (or, after a load or unload, the model's entries) as JSON,
 * or the error.
 */
void atrousd_models_handle(struct atrousd_models *mm, enum atrousd_endpoint endpoint,
                           const char *model, const void *body, size_t len, const char *request_id,
                           struct http_reply *reply);

/* Figures for /metrics: versions served, retired versions still held, folder loads. */
void atrousd_models_figures(struct atrousd_models *mm, uint64_t *loaded, uint64_t *retired_held,
                            uint64_t *loads_ok, uint64_t *loads_failed);

/* The control mode, for /v1/info and the logs. */
enum atrousd_model_control atrousd_models_mode(const struct atrousd_models *mm);

#endif
