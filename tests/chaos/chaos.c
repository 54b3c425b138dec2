/*
 * chaos.c - `make chaos`: normal clients and adversaries against one daemon at once, on
 * loopback, for CHAOS_SECONDS (default 60), then checks (issue 12 item 9):
 *
 *   normal clients    CHAOS_NORMAL threads, each a closed loop over the conformance corpus's
 *                     valid cases, JSON and binary in turn; every 200 is checked against the
 *                     corpus; any status but 200, or 429/503 with Retry-After, is a failure
 *   health            GET /healthz every 10 ms
 *   slow readers      CHAOS_SLOW_READERS connections asking for the largest answer the
 *                     defaults allow (1x4096x4096x1 float32, 64 MiB, from a 148-byte JSON
 *                     request) and reading 1 KiB every 2 s; each reconnects when cut off
 *   tricklers         CHAOS_TRICKLERS uploads announcing 1 MiB and sending a byte every 500 ms
 *   expensive         one client sending, again and again, the most expensive problem the
 *                     default --max-compute-ms accepts (estimated just under 5 s)
 *   stalled log       the daemon's stderr is a pipe that nobody reads during the run
 *
 * and asserts: the normal clients saw no failure and their p99 is under CHAOS_NORMAL_P99_MS
 * (default 1000); /healthz p99 is under 50 ms; the daemon's peak RSS (VmHWM) stayed within
 * baseline + --max-memory-bytes (CHAOS_BUDGET, default 1g) + CHAOS_RSS_CONSTANT_MIB (default
 * 64); afterwards every valid corpus case is answered correctly in both forms, and SIGTERM
 * ends the daemon with exit status 0. Prints one summary; exits 0 when everything held.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corpus.h"
#include "daemon.h"
#include "http_client.h"

#define MIB ((uint64_t)1 << 20)

#define HEALTH_EVERY_MS   10
#define HEALTH_P99_MS     50.0
#define SLOW_CHUNK        1024
#define SLOW_EVERY_MS     2000
#define TRICKLE_EVERY_MS  500
#define TRICKLE_ANNOUNCED (1 << 20)
#define RETRY_PAUSE_MS    100
#define SAMPLES_MAX       (1 << 21)

/* The most expensive problem the defaults accept: oneDNN's gemm path, 137 GFLOP, estimated at
 * 4.65 s on the development VM (a search over 54,633 shapes within the default limits; README
 * "Compute limit"). A 50 MiB binary body. */
static const int64_t expensive_value[4] = {1, 128, 128, 512};
static const int64_t expensive_filters[4] = {64, 64, 2, 512};

/* "1g", "512m", "64k" or a plain number, as the daemon reads --max-memory-bytes. */
static uint64_t bytes_of(const char *text)
{
    char *end = NULL;
    uint64_t v = strtoull(text, &end, 10);
    switch (end ? *end : '\0') {
    case 'g':
    case 'G':
        return v << 30;
    case 'm':
    case 'M':
        return v << 20;
    case 'k':
    case 'K':
        return v << 10;
    default:
        return v;
    }
}

static int env_int(const char *name, int fallback)
{
    const char *v = getenv(name);
    return v && v[0] ? atoi(v) : fallback;
}

/* Latencies in ms, appended from several threads. */
struct samples {
    pthread_mutex_t lock;
    double *v;
    size_t n;
};

static void samples_add(struct samples *s, double ms)
{
    pthread_mutex_lock(&s->lock);
    if (s->n < SAMPLES_MAX)
        s->v[s->n++] = ms;
    pthread_mutex_unlock(&s->lock);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(struct samples *s, double p)
{
    if (s->n == 0)
        return 0;
    qsort(s->v, s->n, sizeof(double), cmp_double);
    size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
    return s->v[i];
}

struct chaos {
    struct test_daemon daemon;
    int log_fd;               /* read end of the daemon's stderr */
    _Atomic bool log_stalled; /* the log reader stops reading */
    _Atomic bool log_stop;    /* the log reader drains what is left and ends */
    _Atomic uint64_t log_bytes, log_lines;
    _Atomic bool stop;         /* clients finish their current request and end */
    struct corpus_case *cases; /* the valid cases with an expected output */
    size_t case_count;
    struct samples normal, health;
    _Atomic uint64_t normal_ok, normal_retry, normal_failures, health_failures;
    _Atomic uint64_t slow_cut, trickle_cut, expensive_ok, expensive_refused, expensive_over;
    _Atomic uint64_t expensive_other;
    struct samples expensive;
    pthread_mutex_t report_lock;
    char first_failure[512];
};

static void note_failure(struct chaos *c, _Atomic uint64_t *counter, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note_failure(struct chaos *c, _Atomic uint64_t *counter, const char *fmt, ...)
{
    atomic_fetch_add(counter, 1);
    pthread_mutex_lock(&c->report_lock);
    if (c->first_failure[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->first_failure, sizeof(c->first_failure), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&c->report_lock);
}

/* Reads the daemon's stderr, except while stalled (then the pipe fills and stays full). */
static void *log_reader(void *arg)
{
    struct chaos *c = arg;
    char buf[65536];
    for (;;) {
        if (atomic_load(&c->log_stalled) && !atomic_load(&c->log_stop)) {
            test_pause_ms(20);
            continue;
        }
        struct pollfd p = {.fd = c->log_fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) {
            if (atomic_load(&c->log_stop))
                break;
            continue;
        }
        ssize_t n = read(c->log_fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        atomic_fetch_add(&c->log_bytes, (uint64_t)n);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '\n')
                atomic_fetch_add(&c->log_lines, 1);
    }
    return NULL;
}

/* Starts the daemon with its stderr on a pipe; reads the pipe up to the "ready" line. */
static int start_daemon(struct chaos *c, const char *budget)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        const char *bin = test_daemon_bin();
        execl(bin, bin, "--host", "127.0.0.1", "--port", "0", "--max-memory-bytes", budget,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    c->daemon.pid = pid;
    c->log_fd = fds[0];
    char text[65536];
    size_t len = 0;
    for (int64_t deadline = test_now_ms() + TEST_DAEMON_START_MS; test_now_ms() < deadline;) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fds[0], text + len, sizeof(text) - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        text[len] = '\0';
        const char *port = strstr(text, "\"port\":");
        if (port != NULL && c->daemon.port == 0)
            c->daemon.port = (uint16_t)atoi(port + 7);
        if (strstr(text, "\"msg\":\"ready\"") != NULL && c->daemon.port != 0)
            return 0;
        if (len + 1 >= sizeof(text))
            len = 0; /* long start-up output: keep scanning the rest */
    }
    return -1;
}

/* One normal request: a corpus case in a form; returns false on a failure (noted). */
static bool normal_request(struct chaos *c, const struct corpus_case *cc, enum http_op_form form)
{
    struct http_op_args a;
    struct http_client_response r;
    http_op_args_from_case(cc, &a);
    int64_t t0 = test_now_ms();
    if (http_op_call(c->daemon.port, &a, form, NULL, NULL, &r) != 0) {
        note_failure(c, &c->normal_failures, "normal %s: no answer", cc->name);
        return false;
    }
    samples_add(&c->normal, (double)(test_now_ms() - t0));
    bool ok = true;
    if (r.status == 200) {
        struct http_op_output out;
        char why[256];
        if (http_op_parse(&r, &out) != 0 ||
            http_op_check(&out, &cc->expected_shape, cc->expected, cc->expected_count, why,
                          sizeof(why)) != 0) {
            note_failure(c, &c->normal_failures, "normal %s: wrong answer", cc->name);
            ok = false;
        } else {
            atomic_fetch_add(&c->normal_ok, 1);
        }
        http_op_output_free(&out);
    } else if ((r.status == 429 || r.status == 503) &&
               http_client_header(&r, "Retry-After") != NULL) {
        atomic_fetch_add(&c->normal_retry, 1);
        test_pause_ms(RETRY_PAUSE_MS);
    } else {
        note_failure(c, &c->normal_failures, "normal %s: status %d: %.200s", cc->name, r.status,
                     r.body ? r.body : "");
        ok = false;
    }
    http_client_response_free(&r);
    return ok;
}

static void *normal_client(void *arg)
{
    struct chaos *c = arg;
    for (size_t i = 0; !atomic_load(&c->stop); i++)
        normal_request(c, &c->cases[i % c->case_count], i % 2 ? HTTP_OP_BINARY : HTTP_OP_JSON);
    return NULL;
}

static void *health_client(void *arg)
{
    struct chaos *c = arg;
    while (!atomic_load(&c->stop)) {
        struct http_client_response r;
        int64_t t0 = test_now_ms();
        int rc = http_client_request(c->daemon.port, "GET", "/healthz", NULL, NULL, 0, &r);
        samples_add(&c->health, (double)(test_now_ms() - t0));
        if (rc != 0 || r.status != 200)
            note_failure(c, &c->health_failures, "/healthz: %s %d", rc ? "no answer" : "status",
                         rc ? 0 : r.status);
        if (rc == 0)
            http_client_response_free(&r);
        test_pause_ms(HEALTH_EVERY_MS);
    }
    return NULL;
}

/* A slow reader: a 64 MiB answer read 1 KiB every 2 s, again whenever it is cut off. */
static void *slow_reader(void *arg)
{
    struct chaos *c = arg;
    static const char body[] =
        "{\"value\":{\"shape\":[1,1,1,1],\"data\":[1]},\"filters\":{\"shape\":[2,2,1,1],\"data\":"
        "[1,1,1,1]},\"output_shape\":[1,4096,4096,1],\"rate\":4095,\"padding\":\"VALID\"}";
    const char *headers[] = {"Content-Type: application/json", "Accept: application/octet-stream",
                             NULL};
    char buf[SLOW_CHUNK];
    while (!atomic_load(&c->stop)) {
        int fd = http_client_connect(c->daemon.port, HTTP_CLIENT_TIMEOUT_MS);
        if (fd < 0) {
            test_pause_ms(RETRY_PAUSE_MS);
            continue;
        }
        http_client_send_request(fd, "POST", HTTP_CLIENT_OP_PATH, headers, body, sizeof(body) - 1);
        while (!atomic_load(&c->stop)) {
            ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                atomic_fetch_add(&c->slow_cut, 1);
                break;
            }
            test_pause_ms(SLOW_EVERY_MS);
        }
        close(fd);
    }
    return NULL;
}

/* A trickling upload: 1 MiB announced, a byte every 500 ms, again whenever it is cut off. */
static void *trickler(void *arg)
{
    struct chaos *c = arg;
    while (!atomic_load(&c->stop)) {
        int fd = http_client_connect(c->daemon.port, HTTP_CLIENT_TIMEOUT_MS);
        if (fd < 0) {
            test_pause_ms(RETRY_PAUSE_MS);
            continue;
        }
        http_client_sendf(fd,
                          "POST " HTTP_CLIENT_OP_PATH " HTTP/1.1\r\nHost: t\r\nContent-Type: "
                          "application/json\r\nContent-Length: %d\r\n\r\n{",
                          TRICKLE_ANNOUNCED);
        while (!atomic_load(&c->stop)) {
            char sink[512];
            ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
            bool closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
                          send(fd, " ", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0;
            if (closed) {
                atomic_fetch_add(&c->trickle_cut, 1);
                break;
            }
            test_pause_ms(TRICKLE_EVERY_MS);
        }
        close(fd);
    }
    return NULL;
}

/* Sends a large binary op as curl does, with Expect: 100-continue: its 50 MiB body goes only
 * after the server's 100 Continue, so a refusal from the headers is read, not reset. Returns
 * 0 with *r filled, or -1. */
static int expensive_call(uint16_t port, const char *target, const void *body, size_t len,
                          struct http_client_response *r)
{
    int fd = http_client_connect(port, HTTP_CLIENT_TIMEOUT_MS);
    if (fd < 0)
        return -1;
    int rc = http_client_sendf(fd,
                               "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: "
                               "application/octet-stream\r\nContent-Length: %zu\r\nExpect: "
                               "100-continue\r\n\r\n",
                               target, len);
    char head[13] = {0};
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (rc == 0 && poll(&p, 1, HTTP_CLIENT_TIMEOUT_MS) == 1 && recv(fd, head, 12, MSG_PEEK) == 12 &&
        strncmp(head, "HTTP/1.1 100", 12) == 0)
        rc = http_client_send(fd, body, len, HTTP_CLIENT_TIMEOUT_MS);
    if (rc == 0)
        rc = http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, r);
    close(fd);
    return rc;
}

static void *expensive_client(void *arg)
{
    struct chaos *c = arg;
    struct http_op_args a;
    size_t len = 0;
    if (http_op_zeros(&a, expensive_value, expensive_filters, 1) != 0)
        return NULL;
    char *target = http_op_binary_target(&a);
    void *body = http_op_binary_body(&a, &len);
    while (target != NULL && body != NULL && !atomic_load(&c->stop)) {
        struct http_client_response r;
        int64_t t0 = test_now_ms();
        if (expensive_call(c->daemon.port, target, body, len, &r) != 0) {
            atomic_fetch_add(&c->expensive_other, 1);
            test_pause_ms(RETRY_PAUSE_MS);
            continue;
        }
        if (r.status == 200) {
            atomic_fetch_add(&c->expensive_ok, 1);
            samples_add(&c->expensive, (double)(test_now_ms() - t0));
        } else if (r.status == 429 || r.status == 503) {
            atomic_fetch_add(&c->expensive_refused, 1);
            test_pause_ms(RETRY_PAUSE_MS);
        } else if (r.status == 400 && r.body && strstr(r.body, "--max-compute-ms")) {
            /* Once it has run, the estimate is its measured time: under this load, over. */
            atomic_fetch_add(&c->expensive_over, 1);
            test_pause_ms(RETRY_PAUSE_MS);
        } else {
            atomic_fetch_add(&c->expensive_other, 1);
            fprintf(stderr, "chaos: expensive problem answered %d: %.300s\n", r.status,
                    r.body ? r.body : "");
        }
        http_client_response_free(&r);
    }
    free(target);
    free(body);
    http_op_zeros_free(&a);
    return NULL;
}

static int load_cases(struct chaos *c)
{
    char **paths = NULL, why[512];
    size_t count = 0;
    if (corpus_list("valid", &paths, &count, why, sizeof(why)) != 0) {
        fprintf(stderr, "chaos: corpus: %s\n", why);
        return -1;
    }
    c->cases = calloc(count, sizeof(*c->cases));
    for (size_t i = 0; c->cases && i < count; i++) {
        struct corpus_case cc;
        if (corpus_load(paths[i], &cc, why, sizeof(why)) == 0 && cc.has_expected)
            c->cases[c->case_count++] = cc;
        else
            corpus_case_free(&cc);
    }
    corpus_paths_free(paths, count);
    return c->case_count > 0 ? 0 : -1;
}

/* Every valid case in both forms, after the storm. Returns the number answered wrongly. */
static size_t check_corpus(struct chaos *c)
{
    size_t wrong = 0;
    uint64_t before = atomic_load(&c->normal_failures);
    for (size_t i = 0; i < c->case_count; i++) {
        for (int form = HTTP_OP_JSON; form <= HTTP_OP_BINARY; form++) {
            /* Retries are the budget's or the queue's to ask for; a wrong answer is not. */
            for (int attempt = 0; attempt < 50; attempt++) {
                uint64_t retries = atomic_load(&c->normal_retry);
                if (!normal_request(c, &c->cases[i], (enum http_op_form)form)) {
                    wrong++;
                    break;
                }
                if (atomic_load(&c->normal_retry) == retries)
                    break;
            }
        }
    }
    (void)before;
    return wrong;
}

static pthread_t *spawn(size_t n, void *(*fn)(void *), struct chaos *c)
{
    pthread_t *t = calloc(n ? n : 1, sizeof(*t));
    for (size_t i = 0; t && i < n; i++)
        pthread_create(&t[i], NULL, fn, c);
    return t;
}

static void join(pthread_t *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++)
        pthread_join(t[i], NULL);
    free(t);
}

int main(void)
{
    static struct chaos c;
    int seconds = env_int("CHAOS_SECONDS", 60);
    int normal_n = env_int("CHAOS_NORMAL", 4), slow_n = env_int("CHAOS_SLOW_READERS", 20);
    int trickle_n = env_int("CHAOS_TRICKLERS", 20), expensive_n = env_int("CHAOS_EXPENSIVE", 1);
    bool stall = env_int("CHAOS_STALL_LOG", 1) != 0;
    double normal_p99_bound = env_int("CHAOS_NORMAL_P99_MS", 1000);
    uint64_t constant = (uint64_t)env_int("CHAOS_RSS_CONSTANT_MIB", 64) * MIB;
    const char *budget_text = getenv("CHAOS_BUDGET") ? getenv("CHAOS_BUDGET") : "1g";
    uint64_t budget = bytes_of(budget_text);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&c.report_lock, NULL);
    pthread_mutex_init(&c.normal.lock, NULL);
    pthread_mutex_init(&c.health.lock, NULL);
    pthread_mutex_init(&c.expensive.lock, NULL);
    c.normal.v = malloc(SAMPLES_MAX * sizeof(double));
    c.health.v = malloc(SAMPLES_MAX * sizeof(double));
    c.expensive.v = malloc(SAMPLES_MAX * sizeof(double));
    if (load_cases(&c) != 0 || start_daemon(&c, budget_text) != 0) {
        fprintf(stderr, "chaos: could not load the corpus or start %s\n", test_daemon_bin());
        if (c.daemon.pid > 0)
            kill(c.daemon.pid, SIGKILL);
        return 1;
    }
    pthread_t log_thread;
    pthread_create(&log_thread, NULL, log_reader, &c);
    uint64_t baseline = 0, peak = 0, rss = 0;
    test_daemon_memory(&c.daemon, &baseline, &peak);
    bool reset = test_daemon_reset_peak(&c.daemon) == 0;
    atomic_store(&c.log_stalled, stall);
    fprintf(stderr,
            "chaos: %d s on port %u: %d normal clients, /healthz every %d ms, %d slow readers, "
            "%d tricklers, %d expensive, log pipe %s; budget %s, baseline RSS %" PRIu64 " MiB\n",
            seconds, c.daemon.port, normal_n, HEALTH_EVERY_MS, slow_n, trickle_n, expensive_n,
            stall ? "stalled" : "read", budget_text, baseline / MIB);
    pthread_t *normal = spawn((size_t)normal_n, normal_client, &c);
    pthread_t *health = spawn(1, health_client, &c);
    pthread_t *slow = spawn((size_t)slow_n, slow_reader, &c);
    pthread_t *trickle = spawn((size_t)trickle_n, trickler, &c);
    pthread_t *expensive = spawn((size_t)expensive_n, expensive_client, &c);
    uint64_t worst = 0;
    for (int64_t end = test_now_ms() + (int64_t)seconds * 1000; test_now_ms() < end;) {
        if (test_daemon_memory(&c.daemon, &rss, &peak) == 0)
            worst = rss > worst ? rss : worst;
        test_pause_ms(100);
    }
    atomic_store(&c.stop, true);
    join(slow, (size_t)slow_n);
    join(trickle, (size_t)trickle_n);
    join(normal, (size_t)normal_n);
    join(health, 1);
    join(expensive, (size_t)expensive_n);
    if (test_daemon_memory(&c.daemon, &rss, &peak) == 0)
        worst = peak > worst ? peak : worst;
    /* The storm is over: read the log again, and check every answer. */
    atomic_store(&c.log_stalled, false);
    uint64_t during_failures = atomic_load(&c.normal_failures);
    atomic_store(&c.stop, false);
    size_t wrong = check_corpus(&c);
    double n50 = percentile(&c.normal, 0.50), n99 = percentile(&c.normal, 0.99);
    double h50 = percentile(&c.health, 0.50), h99 = percentile(&c.health, 0.99);
    double e50 = percentile(&c.expensive, 0.50);
    double hmax = c.health.n ? c.health.v[c.health.n - 1] : 0;
    double nmax = c.normal.n ? c.normal.v[c.normal.n - 1] : 0;
    double emax = c.expensive.n ? c.expensive.v[c.expensive.n - 1] : 0;
    double drops = 0;
    test_daemon_metric(&c.daemon, "atrousd_log_lines_dropped_total", &drops);
    double refused = 0;
    test_daemon_metric(&c.daemon, "atrousd_memory_budget_refused_total", &refused);
    kill(c.daemon.pid, SIGTERM);
    int exit_code = test_daemon_wait_exit(&c.daemon, TEST_DAEMON_STOP_MS) == 0 &&
                            WIFEXITED(c.daemon.wait_status)
                        ? WEXITSTATUS(c.daemon.wait_status)
                        : -1;
    if (exit_code == -1)
        kill(c.daemon.pid, SIGKILL);
    atomic_store(&c.log_stop, true);
    pthread_join(log_thread, NULL);
    uint64_t bound = baseline + budget + constant;
    printf("chaos: normal: %zu requests, %" PRIu64 " ok, %" PRIu64
           " told to retry (429/503), %" PRIu64
           " failures during the run; p50 %.1f ms, p99 %.1f ms (bound %.0f), max %.1f ms\n",
           c.normal.n, atomic_load(&c.normal_ok), atomic_load(&c.normal_retry), during_failures,
           n50, n99, normal_p99_bound, nmax);
    printf("chaos: /healthz: %zu probes, %" PRIu64 " failures; p50 %.2f ms, p99 %.2f ms (bound "
           "%.0f), max %.1f ms\n",
           c.health.n, atomic_load(&c.health_failures), h50, h99, HEALTH_P99_MS, hmax);
    printf("chaos: expensive: %" PRIu64 " computed (p50 %.0f ms, max %.0f ms), %" PRIu64
           " refused 429/503, %" PRIu64 " refused 400 over --max-compute-ms once measured, %" PRIu64
           " other; slow readers cut %" PRIu64 " times, tricklers cut %" PRIu64
           " times; budget refusals %.0f\n",
           atomic_load(&c.expensive_ok), e50, emax, atomic_load(&c.expensive_refused),
           atomic_load(&c.expensive_over), atomic_load(&c.expensive_other),
           atomic_load(&c.slow_cut), atomic_load(&c.trickle_cut), refused);
    printf("chaos: RSS baseline %" PRIu64 " MiB, peak %" PRIu64 " MiB (VmHWM%s), bound %" PRIu64
           " MiB = baseline + budget %" PRIu64 " MiB + %" PRIu64 " MiB\n",
           baseline / MIB, worst / MIB, reset ? " since the start of the run" : " since start",
           bound / MIB, budget / MIB, constant / MIB);
    printf("chaos: log: %" PRIu64 " lines read (%" PRIu64 " bytes), %.0f dropped by the daemon; "
           "after the run %zu of %zu corpus answers wrong; daemon exit %d\n",
           atomic_load(&c.log_lines), atomic_load(&c.log_bytes), drops, wrong, 2 * c.case_count,
           exit_code);
    if (c.first_failure[0])
        printf("chaos: first failure: %s\n", c.first_failure);
    bool ok = during_failures == 0 && atomic_load(&c.health_failures) == 0 &&
              n99 < normal_p99_bound && h99 < HEALTH_P99_MS && worst <= bound && wrong == 0 &&
              exit_code == 0 && atomic_load(&c.normal_ok) > 0;
    printf("chaos: %s\n", ok ? "PASSED" : "FAILED");
    return ok ? 0 : 1;
}
