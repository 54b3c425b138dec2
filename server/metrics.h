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

#include "router.h"

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
    size_t model;    /* 1 + index into atrousd_metrics_set_models' list; 0: no model */
    unsigned status; /* 100..599; other values are counted as 0 ("no response") */
    uint64_t total_us;
    uint64_t bytes_in, bytes_out;
    bool has_stages; /* op requests that reached a worker */
    uint64_t stage_us[ATROUSD_STAGE_COUNT];
    /* Left the compute queue (computed, or 504 for waiting past --request-timeout): its
     * stage_us[ATROUSD_STAGE_QUEUE] is a queue wait, the autoscaling signal. */
    bool dequeued;
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
};

/* Creates zeroed metrics (NULL on out of memory); free with atrousd_metrics_free. */
struct atrousd_metrics *atrousd_metrics_create(void);
void atrousd_metrics_free(struct atrousd_metrics *m);

/*
 * Gives the model routes' series their labels: model i of the list is names[i] version
 * versions[i] (copied). Call once before serving (not thread-safe). Returns false on out of
 * memory (the per-model series are then left out).
 */
bool atrousd_metrics_set_models(struct atrousd_metrics *m, const char *const *names,
                                const char *const *versions, size_t count);

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
