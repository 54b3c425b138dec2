/*
 * metrics.c - relaxed atomic counters (exact totals, no locks on the request path) and
 * Prometheus text rendering.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Histogram bucket upper bounds in microseconds (rendered in seconds); +Inf is implicit. */
static const uint64_t bucket_us[] = {
    100,    250,    500,    1000,    2500,    5000,    10000,    25000,    50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};
#define BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

/* Statuses 100..599 each get a counter; index 0 counts requests that got no response. */
#define STATUS_MIN   100
#define STATUS_SLOTS 501

struct histogram {
    _Atomic uint64_t buckets[BUCKETS + 1]; /* non-cumulative; the last is +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
};

/* The statuses a model route can answer get a counter each per model; the rest share one. */
static const unsigned model_statuses[] = {200, 400, 404, 405, 408, 413, 415, 429, 500, 503, 504};
#define MODEL_STATUS_SLOTS (sizeof(model_statuses) / sizeof(model_statuses[0]) + 1)
#define MODEL_EP_FIRST     ATROUSD_EP_V2_SERVER
#define MODEL_EP_SLOTS     (ATROUSD_EP_UNKNOWN - MODEL_EP_FIRST)

/* One model's series, by endpoint (KServe and TF Serving endpoints only). */
struct model_series {
    char *name, *version;
    _Atomic uint64_t requests[MODEL_EP_SLOTS][MODEL_STATUS_SLOTS];
    struct histogram duration[MODEL_EP_SLOTS];
};

struct atrousd_metrics {
    _Atomic uint64_t requests[ATROUSD_EP_COUNT][STATUS_SLOTS];
    struct model_series *models; /* set once before serving */
    size_t model_count;
    _Atomic uint64_t batches, batched_requests;
    struct histogram duration[ATROUSD_EP_COUNT];
    struct histogram stages[ATROUSD_STAGE_COUNT];
    struct histogram queue_wait; /* every job a worker took, 504s included */
    _Atomic uint64_t bytes_in[ATROUSD_EP_COUNT];
    _Atomic uint64_t bytes_out[ATROUSD_EP_COUNT];
};

static const char *const stage_names[ATROUSD_STAGE_COUNT] = {"parse", "queue", "compute",
                                                             "serialize"};

struct atrousd_metrics *atrousd_metrics_create(void)
{
    return calloc(1, sizeof(struct atrousd_metrics));
}

static void free_models(struct atrousd_metrics *m)
{
    for (size_t i = 0; i < m->model_count; i++) {
        free(m->models[i].name);
        free(m->models[i].version);
    }
    free(m->models);
    m->models = NULL;
    m->model_count = 0;
}

void atrousd_metrics_free(struct atrousd_metrics *m)
{
    if (m != NULL)
        free_models(m);
    free(m);
}

bool atrousd_metrics_set_models(struct atrousd_metrics *m, const char *const *names,
                                const char *const *versions, size_t count)
{
    free_models(m);
    if (count == 0)
        return true;
    m->models = calloc(count, sizeof(*m->models));
    if (m->models == NULL)
        return false;
    m->model_count = count;
    for (size_t i = 0; i < count; i++) {
        m->models[i].name = strdup(names[i]);
        m->models[i].version = strdup(versions[i]);
        if (m->models[i].name == NULL || m->models[i].version == NULL) {
            free_models(m);
            return false;
        }
    }
    return true;
}

void atrousd_metrics_record_batch(struct atrousd_metrics *m, size_t requests)
{
    atomic_fetch_add_explicit(&m->batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->batched_requests, requests, memory_order_relaxed);
}

static size_t model_status_slot(unsigned status)
{
    for (size_t i = 0; i < MODEL_STATUS_SLOTS - 1; i++) {
        if (model_statuses[i] == status)
            return i;
    }
    return MODEL_STATUS_SLOTS - 1;
}

/* The model series of a sample, or NULL when it has none. */
static struct model_series *model_of(const struct atrousd_metrics *m, size_t model,
                                     enum atrousd_endpoint ep)
{
    if (model == 0 || model > m->model_count || ep < MODEL_EP_FIRST || ep >= ATROUSD_EP_UNKNOWN)
        return NULL;
    return &m->models[model - 1];
}

static void observe(struct histogram *h, uint64_t us)
{
    size_t i = 0;
    while (i < BUCKETS && us > bucket_us[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

static size_t status_slot(unsigned status)
{
    return status >= STATUS_MIN && status < STATUS_MIN + STATUS_SLOTS - 1 ? status - STATUS_MIN + 1
                                                                          : 0;
}

void atrousd_metrics_record(struct atrousd_metrics *m, const struct atrousd_request_sample *s)
{
    enum atrousd_endpoint ep = s->endpoint < ATROUSD_EP_COUNT ? s->endpoint : ATROUSD_EP_UNKNOWN;
    atomic_fetch_add_explicit(&m->requests[ep][status_slot(s->status)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->bytes_in[ep], s->bytes_in, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->bytes_out[ep], s->bytes_out, memory_order_relaxed);
    observe(&m->duration[ep], s->total_us);
    struct model_series *ms = model_of(m, s->model, ep);
    if (ms != NULL) {
        size_t e = (size_t)(ep - MODEL_EP_FIRST);
        atomic_fetch_add_explicit(&ms->requests[e][model_status_slot(s->status)], 1,
                                  memory_order_relaxed);
        observe(&ms->duration[e], s->total_us);
    }
    if (s->has_stages) {
        for (int i = 0; i < ATROUSD_STAGE_COUNT; i++)
            observe(&m->stages[i], s->stage_us[i]);
    }
    if (s->dequeued)
        observe(&m->queue_wait, s->stage_us[ATROUSD_STAGE_QUEUE]);
}

uint64_t atrousd_metrics_count(const struct atrousd_metrics *m, enum atrousd_endpoint endpoint,
                               unsigned status)
{
    if (endpoint >= ATROUSD_EP_COUNT)
        return 0;
    return atomic_load_explicit(&m->requests[endpoint][status_slot(status)], memory_order_relaxed);
}

uint64_t atrousd_metrics_model_count(const struct atrousd_metrics *m, size_t model,
                                     enum atrousd_endpoint endpoint, unsigned status)
{
    const struct model_series *ms = model_of(m, model, endpoint);
    if (ms == NULL)
        return 0;
    return atomic_load_explicit(&ms->requests[endpoint - MODEL_EP_FIRST][model_status_slot(status)],
                                memory_order_relaxed);
}

static uint64_t load(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's series; labels is "" or `name="value",` (with the trailing comma). */
static void render_histogram(FILE *f, const char *name, const char *labels,
                             const struct histogram *h)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= BUCKETS; i++) {
        cumulative += load(&h->buckets[i]);
        if (i < BUCKETS)
            fprintf(f, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, (double)bucket_us[i] / 1e6,
                    (unsigned long long)cumulative);
        else
            fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
                    (unsigned long long)cumulative);
    }
    /* The label list without its trailing comma, for _sum and _count. */
    int n = 0;
    while (labels[n] != '\0')
        n++;
    int trimmed = n > 0 ? n - 1 : 0;
    const char *open = n > 0 ? "{" : "", *close = n > 0 ? "}" : "";
    fprintf(f, "%s_sum%s%.*s%s %.6f\n", name, open, trimmed, labels, close,
            (double)load(&h->sum_us) / 1e6);
    fprintf(f, "%s_count%s%.*s%s %llu\n", name, open, trimmed, labels, close,
            (unsigned long long)load(&h->count));
}

static void gauge(FILE *f, const char *name, const char *help, double value)
{
    header(f, name, "gauge", help);
    fprintf(f, "%s %.17g\n", name, value);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t value)
{
    header(f, name, "counter", help);
    fprintf(f, "%s %llu\n", name, (unsigned long long)value);
}

/* Label values we render come from our own tables and the oneDNN version string; quotes,
 * backslashes and newlines are escaped as the format requires. */
static void label_value(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void render_requests(FILE *f, const struct atrousd_metrics *m)
{
    header(f, "atrousd_http_requests_total", "counter",
           "Finished HTTP requests by endpoint and status (status 0: no response was sent).");
    for (int ep = 0; ep < ATROUSD_EP_COUNT; ep++) {
        for (unsigned slot = 0; slot < STATUS_SLOTS; slot++) {
            uint64_t v = load(&m->requests[ep][slot]);
            if (v == 0)
                continue;
            fprintf(f, "atrousd_http_requests_total{endpoint=\"%s\",status=\"%u\"} %llu\n",
                    atrousd_route_label((enum atrousd_endpoint)ep),
                    slot == 0 ? 0 : slot - 1 + STATUS_MIN, (unsigned long long)v);
        }
    }
    header(f, "atrousd_http_request_duration_seconds", "histogram",
           "Time from the request line to the end of the response, by endpoint.");
    for (int ep = 0; ep < ATROUSD_EP_COUNT; ep++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "endpoint=\"%s\",",
                 atrousd_route_label((enum atrousd_endpoint)ep));
        render_histogram(f, "atrousd_http_request_duration_seconds", labels, &m->duration[ep]);
    }
    header(f, "atrousd_op_stage_duration_seconds", "histogram",
           "Op request stages: parse (decode+validate), queue, compute, serialize.");
    for (int i = 0; i < ATROUSD_STAGE_COUNT; i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "stage=\"%s\",", stage_names[i]);
        render_histogram(f, "atrousd_op_stage_duration_seconds", labels, &m->stages[i]);
    }
    /* The stage histogram leaves out requests that never computed; a queue that makes
     * requests time out (504) is the fullest one, so the autoscaling signal counts them. */
    header(f, "atrousd_queue_wait_seconds", "histogram",
           "Time requests waited for a compute worker, every request a worker took (those "
           "answered 504 after --request-timeout included). rate(_sum)/rate(_count) is the "
           "mean wait, the autoscaling signal (docker/k8s/autoscaling/).");
    render_histogram(f, "atrousd_queue_wait_seconds", "", &m->queue_wait);
    const char *byte_names[2] = {"atrousd_http_request_bytes_total",
                                 "atrousd_http_response_bytes_total"};
    const char *byte_help[2] = {"Request body bytes received, by endpoint.",
                                "Response body bytes sent, by endpoint."};
    for (int dir = 0; dir < 2; dir++) {
        header(f, byte_names[dir], "counter", byte_help[dir]);
        for (int ep = 0; ep < ATROUSD_EP_COUNT; ep++) {
            uint64_t v = load(dir == 0 ? &m->bytes_in[ep] : &m->bytes_out[ep]);
            fprintf(f, "%s{endpoint=\"%s\"} %llu\n", byte_names[dir],
                    atrousd_route_label((enum atrousd_endpoint)ep), (unsigned long long)v);
        }
    }
}

/* `model="...",version="...",endpoint="...",` for a model series. */
static void model_labels(char *buf, size_t size, const struct model_series *ms, size_t e)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    buf[0] = '\0';
    if (f == NULL)
        return;
    fputs("model=\"", f);
    label_value(f, ms->name);
    fputs("\",version=\"", f);
    label_value(f, ms->version);
    fprintf(f, "\",endpoint=\"%s\",",
            atrousd_route_label((enum atrousd_endpoint)(e + MODEL_EP_FIRST)));
    if (fclose(f) == 0)
        snprintf(buf, size, "%s", p);
    free(p);
}

/* Per-model series: only those that saw a request, so that a large repository stays short. */
static void render_models(FILE *f, const struct atrousd_metrics *m)
{
    char labels[256];
    header(f, "atrousd_model_requests_total", "counter",
           "Finished KServe v2 and TF Serving requests by model, version, endpoint and status.");
    for (size_t i = 0; i < m->model_count; i++) {
        for (size_t e = 0; e < MODEL_EP_SLOTS; e++) {
            for (size_t st = 0; st < MODEL_STATUS_SLOTS; st++) {
                uint64_t v = load(&m->models[i].requests[e][st]);
                if (v == 0)
                    continue;
                model_labels(labels, sizeof(labels), &m->models[i], e);
                if (st < MODEL_STATUS_SLOTS - 1)
                    fprintf(f, "atrousd_model_requests_total{%sstatus=\"%u\"} %llu\n", labels,
                            model_statuses[st], (unsigned long long)v);
                else
                    fprintf(f, "atrousd_model_requests_total{%sstatus=\"other\"} %llu\n", labels,
                            (unsigned long long)v);
            }
        }
    }
    header(f, "atrousd_model_request_duration_seconds", "histogram",
           "Time from the request line to the end of the response, by model, version and "
           "endpoint.");
    for (size_t i = 0; i < m->model_count; i++) {
        for (size_t e = 0; e < MODEL_EP_SLOTS; e++) {
            if (load(&m->models[i].duration[e].count) == 0)
                continue;
            model_labels(labels, sizeof(labels), &m->models[i], e);
            render_histogram(f, "atrousd_model_request_duration_seconds", labels,
                             &m->models[i].duration[e]);
        }
    }
    counter(f, "atrousd_batches_total",
            "Compute calls that ran several repository-model requests stacked along N.",
            load(&m->batches));
    counter(f, "atrousd_batched_requests_total", "Requests computed as part of a batch.",
            load(&m->batched_requests));
}

char *atrousd_metrics_render(const struct atrousd_metrics *m,
                             const struct atrousd_metrics_snapshot *s, size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    if (f == NULL)
        return NULL;
    header(f, "atrousd_build_info", "gauge", "Build and engine of this process (always 1).");
    fputs("atrousd_build_info{version=\"", f);
    label_value(f, s->version);
    fputs("\",onednn_version=\"", f);
    label_value(f, s->onednn_version);
    fputs("\",cpu_isa=\"", f);
    label_value(f, s->cpu_isa);
    fprintf(f, "\",avx512=\"%s\"} 1\n", s->avx512 ? "true" : "false");
    gauge(f, "atrousd_start_time_seconds", "Unix time the process started.", s->start_time_seconds);
    gauge(f, "atrousd_ready", "1 when /readyz answers 200.", s->ready ? 1 : 0);
    gauge(f, "atrousd_draining", "1 after SIGTERM, while in-flight requests finish.",
          s->draining ? 1 : 0);
    render_requests(f, m);
    render_models(f, m);
    gauge(f, "atrousd_http_requests_in_flight", "Requests received and not yet answered.",
          (double)s->in_flight);
    gauge(f, "atrousd_memory_budget_bytes",
          "The memory budget of all requests together (--max-memory-bytes).",
          (double)s->memory_budget_bytes);
    gauge(f, "atrousd_memory_budget_in_use_bytes",
          "Memory reserved right now by requests (their worst case: bodies, decoded tensors, "
          "outputs, answers being sent).",
          (double)s->memory_in_use_bytes);
    gauge(f, "atrousd_memory_budget_peak_bytes", "The most memory ever reserved at once.",
          (double)s->memory_peak_bytes);
    counter(f, "atrousd_memory_budget_refused_total",
            "Reservations the memory budget could not take (requests answered 503 or 400).",
            s->memory_refused);
    gauge(f, "atrousd_queue_depth", "Op requests waiting for a compute worker.",
          (double)s->queue_depth);
    gauge(f, "atrousd_queue_capacity", "Queue depth beyond which requests get 429.",
          (double)s->queue_capacity);
    gauge(f, "atrousd_compute_active", "Op requests being computed right now.",
          (double)s->compute_active);
    gauge(f, "atrousd_compute_workers", "Compute worker threads.", (double)s->compute_workers);
    gauge(f, "atrousd_omp_threads_per_worker", "oneDNN OpenMP team size per worker.",
          (double)s->omp_threads);
    gauge(f, "atrousd_io_threads", "HTTP I/O threads.", (double)s->io_threads);
    gauge(f, "atrousd_usable_cpus", "CPUs this process may use (affinity and cgroup quota).",
          (double)s->usable_cpus);
    counter(f, "atrousd_primitive_cache_hits_total", "oneDNN primitive cache hits.", s->cache_hits);
    counter(f, "atrousd_primitive_cache_misses_total",
            "oneDNN primitive cache misses (primitives compiled).", s->cache_misses);
    counter(f, "atrousd_primitive_cache_evictions_total", "oneDNN primitive cache evictions.",
            s->cache_evictions);
    gauge(f, "atrousd_primitive_cache_entries", "Compiled primitives held.",
          (double)s->cache_entries);
    gauge(f, "atrousd_primitive_cache_capacity", "Compiled primitives kept at most.",
          (double)s->cache_capacity);
    counter(f, "atrousd_log_lines_dropped_total",
            "Log lines dropped because the log sink (stderr) was stalled or failing.",
            s->log_lines_dropped);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}
