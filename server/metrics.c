/*
 * metrics.c - relaxed atomic counters (exact totals, no locks on the request path) and
 * Prometheus text rendering.
 */
#include "metrics.h"

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* A cumulative count and duration. */
struct duration {
    _Atomic uint64_t count, ns;
};

/* The executions of one batch size (0 in size: a free slot, claimed once). */
struct batch_slot {
    _Atomic uint64_t size;
    struct duration input, infer, output;
};

/* One model version's series: by endpoint (KServe and TF Serving endpoints only), and the
 * statistics extension's figures of its inference requests. */
struct model_series {
    char *name, *version;
    _Atomic uint64_t requests[MODEL_EP_SLOTS][MODEL_STATUS_SLOTS];
    struct histogram duration[MODEL_EP_SLOTS];
    struct duration success, fail, queue, input, infer, output;
    _Atomic uint64_t inference_count, execution_count, last_inference_ms;
    struct batch_slot batches[ATROUSD_STATS_BATCH_SIZES];
};

/* The requests one implementation computed and their compute time. A slot's name is set once
 * under implementations_lock, before the count that covers it is published. */
struct implementation_series {
    char name[96];
    _Atomic uint64_t requests, compute_us;
};

struct atrousd_metrics {
    _Atomic uint64_t requests[ATROUSD_EP_COUNT][STATUS_SLOTS];
    /* Appended under models_lock, read without it: a series is complete before the count that
     * covers it is published (release), and never moves or goes away until the metrics do. */
    struct model_series *models[ATROUSD_METRICS_MODELS_MAX];
    _Atomic size_t model_count;
    pthread_mutex_t models_lock;
    _Atomic uint64_t batches, batched_requests;
    struct histogram duration[ATROUSD_EP_COUNT];
    struct histogram stages[ATROUSD_STAGE_COUNT];
    struct histogram queue_wait; /* every job a worker took, 504s included */
    _Atomic uint64_t bytes_in[ATROUSD_EP_COUNT];
    _Atomic uint64_t bytes_out[ATROUSD_EP_COUNT];
    struct implementation_series implementations[ATROUSD_METRICS_IMPLEMENTATIONS_MAX + 1];
    _Atomic size_t implementation_count; /* slot COUNT (past the last) is "other" */
    pthread_mutex_t implementations_lock;
};

static const char *const stage_names[ATROUSD_STAGE_COUNT] = {"parse", "queue", "compute",
                                                             "serialize"};

struct atrousd_metrics *atrousd_metrics_create(void)
{
    struct atrousd_metrics *m = calloc(1, sizeof(struct atrousd_metrics));
    if (m != NULL) {
        pthread_mutex_init(&m->models_lock, NULL);
        pthread_mutex_init(&m->implementations_lock, NULL);
        strcpy(m->implementations[ATROUSD_METRICS_IMPLEMENTATIONS_MAX].name, "other");
    }
    return m;
}

static void series_free(struct model_series *ms)
{
    if (ms == NULL)
        return;
    free(ms->name);
    free(ms->version);
    free(ms);
}

void atrousd_metrics_free(struct atrousd_metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < atomic_load(&m->model_count); i++)
        series_free(m->models[i]);
    pthread_mutex_destroy(&m->models_lock);
    pthread_mutex_destroy(&m->implementations_lock);
    free(m);
}

size_t atrousd_metrics_model(struct atrousd_metrics *m, const char *name, const char *version)
{
    size_t number = 0;
    pthread_mutex_lock(&m->models_lock);
    size_t count = atomic_load_explicit(&m->model_count, memory_order_relaxed);
    for (size_t i = 0; i < count && number == 0; i++) {
        if (strcmp(m->models[i]->name, name) == 0 && strcmp(m->models[i]->version, version) == 0)
            number = i + 1;
    }
    if (number == 0 && count < ATROUSD_METRICS_MODELS_MAX) {
        struct model_series *ms = calloc(1, sizeof(*ms));
        if (ms != NULL && (ms->name = strdup(name)) != NULL &&
            (ms->version = strdup(version)) != NULL) {
            m->models[count] = ms;
            atomic_store_explicit(&m->model_count, count + 1, memory_order_release);
            number = count + 1;
        } else {
            series_free(ms);
        }
    }
    pthread_mutex_unlock(&m->models_lock);
    return number;
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
    if (model == 0 || model > atomic_load_explicit(&m->model_count, memory_order_acquire) ||
        ep < MODEL_EP_FIRST || ep >= ATROUSD_EP_UNKNOWN)
        return NULL;
    return m->models[model - 1];
}

static void add_duration(struct duration *d, uint64_t ns)
{
    atomic_fetch_add_explicit(&d->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&d->ns, ns, memory_order_relaxed);
}

/* The slot of a batch size: found, or claimed once; NULL when every slot holds another. */
static struct batch_slot *batch_slot(struct model_series *ms, uint64_t size)
{
    for (size_t i = 0; i < ATROUSD_STATS_BATCH_SIZES; i++) {
        uint64_t have = atomic_load_explicit(&ms->batches[i].size, memory_order_acquire);
        if (have == 0) {
            uint64_t expected = 0;
            if (atomic_compare_exchange_strong(&ms->batches[i].size, &expected, size))
                return &ms->batches[i];
            have = expected;
        }
        if (have == size)
            return &ms->batches[i];
    }
    return NULL;
}

/* The statistics extension: success/fail with the request's whole time, the stages of a
 * successful one, the inferences (rows) and the executions it accounts for. Batch size 0 is
 * listed as itself: a request may carry no rows. */
static void record_inference(struct model_series *ms, const struct atrousd_request_sample *s)
{
    uint64_t total_ns = s->total_us * 1000u;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    atomic_store_explicit(&ms->last_inference_ms,
                          (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u,
                          memory_order_relaxed);
    if (s->status != 200) {
        add_duration(&ms->fail, total_ns);
        return;
    }
    add_duration(&ms->success, total_ns);
    add_duration(&ms->queue, s->stage_us[ATROUSD_STAGE_QUEUE] * 1000u);
    add_duration(&ms->input, s->stage_us[ATROUSD_STAGE_PARSE] * 1000u);
    add_duration(&ms->infer, s->stage_us[ATROUSD_STAGE_COMPUTE] * 1000u);
    add_duration(&ms->output, s->stage_us[ATROUSD_STAGE_SERIALIZE] * 1000u);
    atomic_fetch_add_explicit(&ms->inference_count, s->inference_rows, memory_order_relaxed);
    if (!s->executed)
        return;
    atomic_fetch_add_explicit(&ms->execution_count, 1, memory_order_relaxed);
    struct batch_slot *b = batch_slot(ms, s->execution_rows + 1);
    if (b == NULL)
        return;
    add_duration(&b->input, s->stage_us[ATROUSD_STAGE_PARSE] * 1000u);
    add_duration(&b->infer, s->stage_us[ATROUSD_STAGE_COMPUTE] * 1000u);
    add_duration(&b->output, s->stage_us[ATROUSD_STAGE_SERIALIZE] * 1000u);
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

/* The series of implementation name, made on first use; "other" when there is no room. The
 * engine names few implementations, so a scan beats a hash; the lock is taken only by the
 * first request an implementation computes. */
static struct implementation_series *implementation_of(struct atrousd_metrics *m, const char *name)
{
    size_t count = atomic_load_explicit(&m->implementation_count, memory_order_acquire);
    for (size_t i = 0; i < count; i++) {
        if (strcmp(m->implementations[i].name, name) == 0)
            return &m->implementations[i];
    }
    struct implementation_series *series = &m->implementations[ATROUSD_METRICS_IMPLEMENTATIONS_MAX];
    if (count == ATROUSD_METRICS_IMPLEMENTATIONS_MAX || strlen(name) >= sizeof(series->name))
        return series; /* "other", without the lock */
    pthread_mutex_lock(&m->implementations_lock);
    size_t now = atomic_load_explicit(&m->implementation_count, memory_order_relaxed);
    size_t i = count;
    while (i < now && strcmp(m->implementations[i].name, name) != 0)
        i++;
    if (i < now) {
        series = &m->implementations[i];
    } else if (now < ATROUSD_METRICS_IMPLEMENTATIONS_MAX && strlen(name) < sizeof(series->name)) {
        series = &m->implementations[now];
        strcpy(series->name, name);
        atomic_store_explicit(&m->implementation_count, now + 1, memory_order_release);
    }
    pthread_mutex_unlock(&m->implementations_lock);
    return series;
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
        if (ep == ATROUSD_EP_V2_INFER || ep == ATROUSD_EP_TFS_PREDICT)
            record_inference(ms, s);
    }
    if (s->has_stages) {
        for (int i = 0; i < ATROUSD_STAGE_COUNT; i++)
            observe(&m->stages[i], s->stage_us[i]);
    }
    if (s->dequeued)
        observe(&m->queue_wait, s->stage_us[ATROUSD_STAGE_QUEUE]);
    if (s->implementation != NULL) {
        struct implementation_series *is = implementation_of(m, s->implementation);
        atomic_fetch_add_explicit(&is->requests, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&is->compute_us, s->stage_us[ATROUSD_STAGE_COMPUTE],
                                  memory_order_relaxed);
    }
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

/* model_labels without an endpoint: a model version's own series. */
#define NO_ENDPOINT ((size_t)-1)

/* `model="...",version="...",endpoint="...",` for a model series (no endpoint: e NO_ENDPOINT). */
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
    if (e == NO_ENDPOINT)
        fputs("\",", f);
    else
        fprintf(f, "\",endpoint=\"%s\",",
                atrousd_route_label((enum atrousd_endpoint)(e + MODEL_EP_FIRST)));
    if (fclose(f) == 0)
        snprintf(buf, size, "%s", p);
    free(p);
}

static uint64_t series_count(const struct atrousd_metrics *m)
{
    return atomic_load_explicit(&m->model_count, memory_order_acquire);
}

/* A counter of the model series at offset, one sample per version with a successful inference. */
static void render_version_counter(FILE *f, const struct atrousd_metrics *m, const char *name,
                                   const char *help, size_t offset)
{
    char labels[256];
    header(f, name, "counter", help);
    for (size_t i = 0; i < series_count(m); i++) {
        const struct model_series *ms = m->models[i];
        if (load(&ms->success.count) == 0)
            continue;
        model_labels(labels, sizeof(labels), ms, NO_ENDPOINT);
        fprintf(f, "%s{%.*s} %llu\n", name, (int)strlen(labels) - 1, labels,
                (unsigned long long)load((const _Atomic uint64_t *)((const char *)ms + offset)));
    }
}

/* The statistics extension's figures, per model version that saw an inference request. */
static void render_inference_stats(FILE *f, const struct atrousd_metrics *m)
{
    char labels[256];
    size_t count = series_count(m);
    static const char *const stage[] = {"queue", "compute_input", "compute_infer",
                                        "compute_output"};
    header(f, "atrousd_model_inferences_total", "counter",
           "Inference requests (KServe infer, TF Serving predict) by model, version and result, "
           "as GET /v2/models/stats counts them.");
    for (size_t i = 0; i < count; i++) {
        const struct model_series *ms = m->models[i];
        model_labels(labels, sizeof(labels), ms, NO_ENDPOINT);
        if (load(&ms->success.count) + load(&ms->fail.count) == 0)
            continue;
        fprintf(f, "atrousd_model_inferences_total{%sresult=\"success\"} %llu\n", labels,
                (unsigned long long)load(&ms->success.count));
        fprintf(f, "atrousd_model_inferences_total{%sresult=\"fail\"} %llu\n", labels,
                (unsigned long long)load(&ms->fail.count));
    }
    header(f, "atrousd_model_inference_seconds_total", "counter",
           "Cumulative time of inference requests by model, version and result (the statistics' "
           "success and fail ns), and of the stages of the successful ones.");
    for (size_t i = 0; i < count; i++) {
        const struct model_series *ms = m->models[i];
        if (load(&ms->success.count) + load(&ms->fail.count) == 0)
            continue;
        model_labels(labels, sizeof(labels), ms, NO_ENDPOINT);
        const struct duration *d[] = {&ms->queue, &ms->input, &ms->infer, &ms->output};
        fprintf(f, "atrousd_model_inference_seconds_total{%sresult=\"success\"} %.9f\n", labels,
                (double)load(&ms->success.ns) / 1e9);
        fprintf(f, "atrousd_model_inference_seconds_total{%sresult=\"fail\"} %.9f\n", labels,
                (double)load(&ms->fail.ns) / 1e9);
        for (size_t k = 0; k < 4; k++)
            fprintf(f, "atrousd_model_inference_seconds_total{%sstage=\"%s\"} %.9f\n", labels,
                    stage[k], (double)load(&d[k]->ns) / 1e9);
    }
    render_version_counter(
        f, m, "atrousd_model_inference_count_total",
        "Inferences (rows: each request counts its batch dimension) by model and version.",
        offsetof(struct model_series, inference_count));
    render_version_counter(f, m, "atrousd_model_execution_count_total",
                           "Compute executions (a batch counts once) by model and version.",
                           offsetof(struct model_series, execution_count));
    header(f, "atrousd_model_last_inference_timestamp_seconds", "gauge",
           "Unix time of the last inference request by model and version.");
    for (size_t i = 0; i < count; i++) {
        const struct model_series *ms = m->models[i];
        uint64_t last = load(&ms->last_inference_ms);
        if (last == 0)
            continue;
        model_labels(labels, sizeof(labels), ms, NO_ENDPOINT);
        fprintf(f, "atrousd_model_last_inference_timestamp_seconds{%.*s} %.3f\n",
                (int)strlen(labels) - 1, labels, (double)last / 1e3);
    }
}

/* Per-model series: only those that saw a request, so that a large repository stays short. */
static void render_models(FILE *f, const struct atrousd_metrics *m)
{
    char labels[256];
    size_t count = series_count(m);
    header(f, "atrousd_model_requests_total", "counter",
           "Finished KServe v2 and TF Serving requests by model, version, endpoint and status.");
    for (size_t i = 0; i < count; i++) {
        for (size_t e = 0; e < MODEL_EP_SLOTS; e++) {
            for (size_t st = 0; st < MODEL_STATUS_SLOTS; st++) {
                uint64_t v = load(&m->models[i]->requests[e][st]);
                if (v == 0)
                    continue;
                model_labels(labels, sizeof(labels), m->models[i], e);
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
    for (size_t i = 0; i < count; i++) {
        for (size_t e = 0; e < MODEL_EP_SLOTS; e++) {
            if (load(&m->models[i]->duration[e].count) == 0)
                continue;
            model_labels(labels, sizeof(labels), m->models[i], e);
            render_histogram(f, "atrousd_model_request_duration_seconds", labels,
                             &m->models[i]->duration[e]);
        }
    }
    render_inference_stats(f, m);
    counter(f, "atrousd_batches_total",
            "Compute calls that ran several repository-model requests stacked along N.",
            load(&m->batches));
    counter(f, "atrousd_batched_requests_total", "Requests computed as part of a batch.",
            load(&m->batched_requests));
}

static void read_duration(const struct duration *d, struct atrous_kserve_duration *out)
{
    out->count = load(&d->count);
    out->ns = load(&d->ns);
}

static int compare_batches(const void *a, const void *b)
{
    const struct atrous_kserve_batch_stats *x = a, *y = b;
    return (x->batch_size > y->batch_size) - (x->batch_size < y->batch_size);
}

bool atrousd_metrics_model_stats(const struct atrousd_metrics *m, size_t model,
                                 struct atrous_kserve_model_stats *out,
                                 struct atrous_kserve_batch_stats *batches)
{
    memset(out, 0, sizeof(*out));
    out->batches = batches;
    const struct model_series *ms = model_of(m, model, MODEL_EP_FIRST);
    if (ms == NULL)
        return false;
    out->name = ms->name;
    out->version = ms->version;
    out->last_inference = load(&ms->last_inference_ms);
    out->inference_count = load(&ms->inference_count);
    out->execution_count = load(&ms->execution_count);
    read_duration(&ms->success, &out->success);
    read_duration(&ms->fail, &out->fail);
    read_duration(&ms->queue, &out->queue);
    read_duration(&ms->input, &out->compute_input);
    read_duration(&ms->infer, &out->compute_infer);
    read_duration(&ms->output, &out->compute_output);
    for (size_t i = 0; i < ATROUSD_STATS_BATCH_SIZES; i++) {
        const struct batch_slot *b = &ms->batches[i];
        uint64_t size = load(&b->size);
        /* A slot claimed but not yet counted is left out until its first execution lands. */
        if (size == 0 || load(&b->infer.count) == 0)
            continue;
        struct atrous_kserve_batch_stats *o = &batches[out->batch_count++];
        o->batch_size = size - 1; /* slots hold size + 1, so that 0 marks a free one */
        read_duration(&b->input, &o->compute_input);
        read_duration(&b->infer, &o->compute_infer);
        read_duration(&b->output, &o->compute_output);
    }
    qsort(batches, out->batch_count, sizeof(*batches), compare_batches);
    return true;
}

/* Per implementation that computed at least one request; "other" only once used. */
static void render_implementation_family(FILE *f, const struct atrousd_metrics *m,
                                         const char *metric, const char *help, bool seconds)
{
    size_t count = atomic_load_explicit(&m->implementation_count, memory_order_acquire);
    const struct implementation_series *other =
        &m->implementations[ATROUSD_METRICS_IMPLEMENTATIONS_MAX];
    bool with_other = load(&other->requests) > 0;
    header(f, metric, "counter", help);
    for (size_t i = 0; i < count + with_other; i++) {
        const struct implementation_series *is = i < count ? &m->implementations[i] : other;
        fprintf(f, "%s{implementation=\"", metric);
        label_value(f, is->name);
        if (seconds)
            fprintf(f, "\"} %.6f\n", (double)load(&is->compute_us) * 1e-6);
        else
            fprintf(f, "\"} %llu\n", (unsigned long long)load(&is->requests));
    }
}

static void render_implementations(FILE *f, const struct atrousd_metrics *m)
{
    render_implementation_family(
        f, m, "atrousd_compute_implementation_requests_total",
        "Op requests computed, by what ran them: the form (deconv, or the equivalent forward "
        "conv) and oneDNN's kernel, as chosen per problem on this CPU.",
        false);
    render_implementation_family(
        f, m, "atrousd_compute_implementation_seconds_total",
        "Compute time of those requests (a batch's time counts for each of its requests).", true);
}

/* Bearer-token authentication (auth.h): only when a token file is configured. */
static void render_auth(FILE *f, const struct atrousd_auth_figures *a)
{
    if (!a->enabled)
        return;
    gauge(f, "atrousd_auth_tokens", "Tokens the token file holds (--auth-token-file).",
          (double)a->tokens);
    header(f, "atrousd_auth_refused_total", "counter",
           "Requests answered 401 (400 for duplicate headers) for their credentials, by reason.");
    for (int r = 0; r < ATROUSD_AUTH_REASON_COUNT; r++)
        fprintf(f, "atrousd_auth_refused_total{reason=\"%s\"} %llu\n",
                atrousd_auth_reason_name((enum atrousd_auth_reason)r),
                (unsigned long long)a->refused[r]);
    header(f, "atrousd_auth_reloads_total", "counter",
           "Token file reloads (SIGHUP, or the file changed) by result; a failed one keeps the "
           "previous tokens.");
    fprintf(f, "atrousd_auth_reloads_total{result=\"ok\"} %llu\n",
            (unsigned long long)a->reloads_ok);
    fprintf(f, "atrousd_auth_reloads_total{result=\"failed\"} %llu\n",
            (unsigned long long)a->reloads_failed);
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
    gauge(f, "atrousd_models_loaded", "Model versions being served (the repository's snapshot).",
          (double)s->models_loaded);
    gauge(f, "atrousd_models_retired_in_use",
          "Model versions replaced or unloaded but still held by requests in flight (freed when "
          "the last ends).",
          (double)s->models_retired_held);
    header(f, "atrousd_model_loads_total", "counter",
           "Model folder loads (start, SIGHUP or poll rescans, load requests) by result.");
    fprintf(f, "atrousd_model_loads_total{result=\"ok\"} %llu\n",
            (unsigned long long)s->model_loads_ok);
    fprintf(f, "atrousd_model_loads_total{result=\"failed\"} %llu\n",
            (unsigned long long)s->model_loads_failed);
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
    render_implementations(f, m);
    render_auth(f, &s->auth);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}
