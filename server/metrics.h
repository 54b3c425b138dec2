/*
 * metrics.h - the service's counters and latency histograms, updated lock-free from any
 * thread, and their rendering in the Prometheus text exposition format 0.0.4.
 *
 * Values that live elsewhere (queue depth, in-flight requests, cache counters, readiness) are
 * passed in at render time as a snapshot, so this module depends on nothing else.
 */
#ifndef ATROUSD_METRICS_H
#define ATROUSD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_kserve_repo.h"
#include "auth.h"
#include "router.h"

/* Most (model, version) pairs with series of their own over the process's life: every version
 * ever served gets one, kept so that counters never go back; past this, new versions are
 * counted only in the totals (a warning is logged once). */
#define ATROUSD_METRICS_MODELS_MAX 4096

/* Distinct implementations (form and oneDNN kernel, e.g. "conv:brgconv:avx512_core") with
 * series of their own; a CPU dispatches to a handful. Past this, runs are counted under
 * implementation="other". */
#define ATROUSD_METRICS_IMPLEMENTATIONS_MAX 32

/* Distinct execution batch sizes listed per model in the statistics' batch_stats. */
#define ATROUSD_STATS_BATCH_SIZES 32

/* Request stages timed per op request (each gets a histogram). */
enum atrousd_stage {
    ATROUSD_STAGE_PARSE,     /* decode + validate */
    ATROUSD_STAGE_QUEUE,     /* waiting for a compute worker */
    ATROUSD_STAGE_COMPUTE,   /* oneDNN */
    ATROUSD_STAGE_SERIALIZE, /* encode the response */
    ATROUSD_STAGE_COUNT
};

struct atrousd_metrics;

/* What one finished request contributes. */
struct atrousd_request_sample {
    enum atrousd_endpoint endpoint;
    size_t model;    /* atrousd_metrics_model's number; 0: no model */
    unsigned status; /* 100..599; other values are counted as 0 ("no response") */
    uint64_t total_us;
    uint64_t bytes_in, bytes_out;
    bool has_stages; /* op requests that reached a worker */
    uint64_t stage_us[ATROUSD_STAGE_COUNT];
    /* Left the compute queue (computed, or 504 for waiting past --request-timeout): its
     * stage_us[ATROUSD_STAGE_QUEUE] is a queue wait, the autoscaling signal. */
    bool dequeued;
    /* What computed the answer (the engine's name, as in the access log), NULL when nothing
     * did: counted with its compute time in atrousd_compute_implementation_*. */
    const char *implementation;
    /* The statistics extension, for inference requests (KServe infer, TF Serving predict). */
    uint64_t inference_rows; /* the value's batch dimension N */
    bool executed;           /* this request accounts for one execution (alone, or a batch's
                                first), of execution_rows rows */
    uint64_t execution_rows;
};

/* Values owned by other modules, read when /metrics is served. */
struct atrousd_metrics_snapshot {
    uint64_t queue_depth, queue_capacity;
    uint64_t compute_active, compute_workers, omp_threads, io_threads, usable_cpus;
    uint64_t in_flight;
    uint64_t memory_budget_bytes, memory_in_use_bytes, memory_peak_bytes, memory_refused;
    uint64_t cache_hits, cache_misses, cache_evictions, cache_entries, cache_capacity;
    uint64_t log_lines_dropped; /* log lines a stalled or failing sink made us drop */
    bool ready, draining;
    double start_time_seconds; /* Unix time the process started */
    const char *version, *onednn_version, *cpu_isa;
    bool avx512;
    /* The model repository (models.h). */
    uint64_t models_loaded;       /* model versions being served */
    uint64_t models_retired_held; /* retired versions still held by requests in flight */
    uint64_t model_loads_ok, model_loads_failed; /* folder loads since start */
    struct atrousd_auth_figures auth;            /* bearer tokens (auth.h) */
};

/* Creates zeroed metrics (NULL on out of memory); free with atrousd_metrics_free. */
struct atrousd_metrics *atrousd_metrics_create(void);
void atrousd_metrics_free(struct atrousd_metrics *m);

/*
 * The number of a model version's series (1, 2, ...), made on first use: the same name and
 * version always get the same number, across reloads. 0 when there is no room
 * (ATROUSD_METRICS_MODELS_MAX) or memory. Thread-safe; takes a lock (call it when a model is
 * loaded, not per request).
 */
size_t atrousd_metrics_model(struct atrousd_metrics *m, const char *name, const char *version);

/*
 * The statistics extension's figures of model number model: out's counters, name and version
 * (borrowed from the metrics, which outlive them), and its batch sizes in batches (room for
 * ATROUSD_STATS_BATCH_SIZES), smallest first. A number without series gives zeros and false.
 */
bool atrousd_metrics_model_stats(const struct atrousd_metrics *m, size_t model,
                                 struct atrous_kserve_model_stats *out,
                                 struct atrous_kserve_batch_stats *batches);

/* Records one compute call that ran requests (>= 2) stacked together. Thread-safe. */
void atrousd_metrics_record_batch(struct atrousd_metrics *m, size_t requests);

/* Records one finished request. Thread-safe. */
void atrousd_metrics_record(struct atrousd_metrics *m, const struct atrousd_request_sample *s);

/* The number of finished requests of model (numbered as in the sample) on endpoint with this
 * status (for tests). */
uint64_t atrousd_metrics_model_count(const struct atrousd_metrics *m, size_t model,
                                     enum atrousd_endpoint endpoint, unsigned status);

/* The number of finished requests with this endpoint and status (for tests). */
uint64_t atrousd_metrics_count(const struct atrousd_metrics *m, enum atrousd_endpoint endpoint,
                               unsigned status);

/* Renders every metric; returns a malloc'd text (length in *len) or NULL on out of memory. */
char *atrousd_metrics_render(const struct atrousd_metrics *m,
                             const struct atrousd_metrics_snapshot *snap, size_t *len);

#endif
