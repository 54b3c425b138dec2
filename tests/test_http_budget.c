/*
 * test_http_budget.c - resource governance against the real daemon (issue 12 items 1-3): the
 * memory budget (--max-memory-bytes) shown in /v1/info and /metrics; forty clients whose
 * 180-byte JSON requests each make a 64 MiB answer and who never read it, while the daemon's
 * RSS (VmHWM from /proc) stays within baseline + budget + a constant; a reader taking 1 KiB
 * every 2 s, and one draining far below --min-send-rate, cut off with their memory released;
 * a problem that would hold a worker for many seconds refused at once with 400 too_large (the
 * binary form from its headers alone, before its 4.5 MiB body is sent); and a problem cheap in
 * FLOPs but slow (memory-bound) kept off the I/O thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"

#define MIB ((uint64_t)1 << 20)

/* The budget, and the answer drain rate: a 64 MiB answer must leave within 3 s + 4 s. */
#define BUDGET_MIB    512
#define TIMEOUT_S     "3"
#define MIN_SEND_RATE "16m"
/* Well above what the 64 MiB answers of the slow-reader cases take even on a loaded host (8 s
 * measured at load average 9: their first run faults in the whole output), and far below the slow
 * problem's estimate of minutes. The default, 5 s, made those cases fail on a busy machine when the
 * measured time of the first run refused the rest. */
#define MAX_COMPUTE_MS "30000"

/* What the daemon may hold besides the budget (README "Memory budget"): libmicrohttpd's
 * connection pools, the workers' workspaces and allocator slack. Under AddressSanitizer, the
 * shadow of everything allocated and the quarantine of freed blocks (capped in setup) too. */
#define RSS_CONSTANT_MIB    64
#define ASAN_QUARANTINE_MIB 32

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Never-reading clients, each asking for a 16M-element (64 MiB as float32) answer. */
#define HOARDERS 40
#define HUGE_OUT 4096 /* output 1x4096x4096x1 from a 1x1x1x1 value, 2x2 filters, rate 4095 */

static int setup(void **state)
{
    if (UNDER_ASAN) {
        /* ASan keeps freed blocks resident (256 MiB by default): cap it for the RSS bound. */
        static char options[1024];
        const char *old = getenv("ASAN_OPTIONS");
        snprintf(options, sizeof(options), "%s%squarantine_size_mb=%d", old ? old : "",
                 old && old[0] ? ":" : "", ASAN_QUARANTINE_MIB);
        setenv("ASAN_OPTIONS", options, 1);
    }
    char budget[32];
    snprintf(budget, sizeof(budget), "%dm", BUDGET_MIB);
    const char *args[] = {"--max-memory-bytes",
                          budget,
                          "--connection-timeout",
                          TIMEOUT_S,
                          "--min-send-rate",
                          MIN_SEND_RATE,
                          "--max-connections",
                          "256",
                          "--max-compute-ms",
                          MAX_COMPUTE_MS,
                          NULL};
    return test_daemon_group_setup(state, args);
}

static void assert_error(const struct http_client_response *r, int status, const char *code,
                         const char *field)
{
    struct http_error_body e;
    assert_int_equal(r->status, status);
    assert_int_equal(http_error_parse(r->body, r->body_len, &e), 0);
    assert_string_equal(e.code, code);
    if (field != NULL) {
        assert_non_null(e.field);
        assert_string_equal(e.field, field);
    }
    http_error_free(&e);
}

static void test_budget_is_in_info_and_metrics(void **state)
{
    const struct test_daemon *d = *state;
    struct http_client_response r;
    assert_int_equal(http_client_request(d->port, "GET", "/v1/info", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    char expected[64];
    snprintf(expected, sizeof(expected), "\"budget_bytes\":%llu",
             (unsigned long long)(BUDGET_MIB * MIB));
    assert_non_null(strstr(r.body, expected));
    snprintf(expected, sizeof(expected), "\"max_memory_bytes\":%llu",
             (unsigned long long)(BUDGET_MIB * MIB));
    assert_non_null(strstr(r.body, expected));
    assert_non_null(strstr(r.body, "\"max_compute_ms\":" MAX_COMPUTE_MS));
    http_client_response_free(&r);
    double v = 0;
    assert_int_equal(test_daemon_metric(d, "atrousd_memory_budget_bytes", &v), 0);
    assert_true(v == (double)(BUDGET_MIB * MIB));
    /* The start-up line says it too. */
    assert_int_equal(test_daemon_wait_log(d, "\"memory\":{\"budget_bytes\":", 1000), 0);
}

/* value 1x1024x1024x1, filters 384x384x1x1, SAME, rate 1: 309 GFLOP nominal. Filters this
 * wide over an output this large are past the engine's cap for planning the forward
 * convolution (lib/atrous_engine_plan.c, CONV_MAX_SPAN_PRODUCT), so it is the deconvolution on
 * oneDNN's reference kernel, estimated at minutes (as the convolution it would still be ~25 s
 * at one output channel of 16 lanes). (The problem that used to stand here, 1x256x256x1 *
 * 64x64x16x1, took 26 s only because the deconvolution had nothing but the reference kernel
 * for it; as the forward convolution it runs in 0.1 s.) */
static const int64_t slow_value[4] = {1, 1024, 1024, 1};
static const int64_t slow_filters[4] = {384, 384, 1, 1};

static void test_budget_slow_path_problem_is_refused_before_its_body(void **state)
{
    const struct test_daemon *d = *state;
    struct http_op_args a;
    assert_int_equal(http_op_zeros(&a, slow_value, slow_filters, 1), 0);
    /* Binary: the headers alone are answered; the 4.5 MiB body is never sent. */
    char *target = http_op_binary_target(&a);
    assert_non_null(target);
    int fd = http_client_connect(d->port, HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(http_client_sendf(fd,
                                       "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: "
                                       "application/octet-stream\r\nContent-Length: %d\r\n\r\n",
                                       target, 4 * (1024 * 1024 + 384 * 384)),
                     0);
    struct http_client_response r;
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_error(&r, 400, "too_large", "value"); /* the larger tensor */
    assert_non_null(strstr(r.body, "--max-compute-ms"));
    http_client_response_free(&r);
    close(fd);
    free(target);
    /* JSON: decoded, then refused before any compute (the worker is free at once). */
    assert_int_equal(http_op_call(d->port, &a, HTTP_OP_JSON, NULL, NULL, &r), 0);
    assert_error(&r, 400, "too_large", "value"); /* the larger tensor */
    http_client_response_free(&r);
    http_op_zeros_free(&a);
    /* A problem of the same size on the fast path is computed. */
    static const int64_t fast_value[4] = {1, 64, 64, 16};
    static const int64_t fast_filters[4] = {3, 3, 16, 16};
    assert_int_equal(http_op_zeros(&a, fast_value, fast_filters, 2), 0);
    assert_int_equal(http_op_call(d->port, &a, HTTP_OP_BINARY, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    http_op_zeros_free(&a);
}

/* The access-log line of a request (malloc'd), or NULL. */
static char *log_line(const struct test_daemon *d, const char *id)
{
    char needle[96];
    snprintf(needle, sizeof(needle), "\"request_id\":\"%s\"", id);
    char *log = test_daemon_log(d);
    char *line = NULL;
    const char *at = log ? strstr(log, needle) : NULL;
    if (at != NULL) {
        const char *start = at, *end = strchr(at, '\n');
        while (start > log && start[-1] != '\n')
            start--;
        line = strndup(start, end ? (size_t)(end - start) : strlen(start));
    }
    free(log);
    return line;
}

static void test_budget_slow_path_under_the_inline_flops_goes_to_the_queue(void **state)
{
    /* 7.2 MFLOP, within --inline-max-flops, but a 1x1 filter over 1900x1900 pixels moves
     * 29 MB (value and output): milliseconds of memory traffic, computed by a worker, not on
     * the I/O thread that answers /healthz. A problem as cheap that is fast in fact stays
     * inline. */
    const struct test_daemon *d = *state;
    static const int64_t ref_value[4] = {1, 1900, 1900, 1}, ref_filters[4] = {1, 1, 1, 1};
    static const int64_t fast_value[4] = {1, 8, 8, 4}, fast_filters[4] = {3, 3, 4, 4};
    const char *ids[] = {"X-Request-Id: inline-ref", NULL, "X-Request-Id: inline-fast", NULL};
    const int64_t *shapes[][2] = {{ref_value, ref_filters}, {fast_value, fast_filters}};
    for (int i = 0; i < 2; i++) {
        struct http_op_args a;
        struct http_client_response r;
        assert_int_equal(http_op_zeros(&a, shapes[i][0], shapes[i][1], 1), 0);
        assert_int_equal(http_op_call(d->port, &a, HTTP_OP_BINARY, NULL, &ids[2 * i], &r), 0);
        assert_int_equal(r.status, 200);
        http_client_response_free(&r);
        http_op_zeros_free(&a);
    }
    char *ref = NULL, *fast = NULL;
    for (int64_t deadline = test_now_ms() + 10000; test_now_ms() < deadline;) {
        free(ref);
        free(fast);
        ref = log_line(d, "inline-ref");
        fast = log_line(d, "inline-fast");
        if (ref != NULL && fast != NULL)
            break;
        test_pause_ms(20);
    }
    assert_non_null(ref);
    assert_non_null(fast);
    assert_null(strstr(ref, "\"inline\":1"));
    assert_non_null(strstr(fast, "\"inline\":1"));
    free(ref);
    free(fast);
}

/* The JSON request of under 200 bytes whose answer is 16M floats (64 MiB). */
static void huge_answer_request(char *buf, size_t size)
{
    snprintf(buf, size,
             "{\"value\":{\"shape\":[1,1,1,1],\"data\":[1]},\"filters\":{\"shape\":[2,2,1,1],"
             "\"data\":[1,1,1,1]},\"output_shape\":[1,%d,%d,1],\"rate\":%d,\"padding\":\"VALID\"}",
             HUGE_OUT, HUGE_OUT, HUGE_OUT - 1);
}

static int send_huge_answer_request(uint16_t port, const char *request_id, bool binary_answer)
{
    char body[256], id[96];
    huge_answer_request(body, sizeof(body));
    snprintf(id, sizeof(id), "X-Request-Id: %s", request_id);
    const char *headers[] = {"Content-Type: application/json", id,
                             binary_answer ? "Accept: application/octet-stream" : NULL, NULL};
    int fd = http_client_connect(port, HTTP_CLIENT_TIMEOUT_MS);
    if (fd < 0)
        return -1;
    if (http_client_send_request(fd, "POST", HTTP_CLIENT_OP_PATH, headers, body, strlen(body)) !=
        0) {
        close(fd);
        return -1;
    }
    return fd;
}

static double op_count(const struct test_daemon *d, int status)
{
    char series[128];
    double v = 0;
    snprintf(series, sizeof(series), "atrousd_http_requests_total{endpoint=\"op\",status=\"%d\"}",
             status);
    assert_int_equal(test_daemon_metric(d, series, &v), 0);
    return v;
}

static void test_budget_forty_never_reading_clients_stay_within_it(void **state)
{
    struct test_daemon *d = *state;
    char body[256];
    huge_answer_request(body, sizeof(body));
    assert_true(strlen(body) < 200);
    uint64_t baseline = 0, peak = 0;
    assert_int_equal(test_daemon_memory(d, &baseline, &peak), 0);
    bool reset = test_daemon_reset_peak(d) == 0;
    double done_before = op_count(d, 200) + op_count(d, 503);
    int fds[HOARDERS];
    for (int i = 0; i < HOARDERS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "hoarder-%d", i);
        fds[i] = send_huge_answer_request(d->port, id, i % 2 == 0);
        assert_true(fds[i] >= 0);
    }
    /* Nobody reads. Every request ends: refused (503), or answered and then cut off when its
     * reader never takes it (--connection-timeout); meanwhile the RSS is sampled. */
    uint64_t rss = 0, worst_rss = 0;
    double done = 0;
    for (int64_t deadline = test_now_ms() + 180000; test_now_ms() < deadline;) {
        assert_int_equal(test_daemon_memory(d, &rss, &peak), 0);
        worst_rss = rss > worst_rss ? rss : worst_rss;
        done = op_count(d, 200) + op_count(d, 503) - done_before;
        if (done >= HOARDERS)
            break;
        test_pause_ms(50);
    }
    assert_int_equal(test_daemon_memory(d, &rss, &peak), 0);
    peak = peak > worst_rss ? peak : worst_rss;
    uint64_t constant = RSS_CONSTANT_MIB * MIB;
    if (UNDER_ASAN) /* shadow: 1/8 of what is mapped; the capped quarantine */
        constant += (baseline + BUDGET_MIB * MIB) / 8 + ASAN_QUARANTINE_MIB * MIB;
    fprintf(stderr,
            "budget: %d never-reading clients of 64 MiB answers: RSS baseline %llu MiB, peak "
            "%llu MiB (VmHWM%s), budget %d MiB, bound %llu MiB\n",
            HOARDERS, (unsigned long long)(baseline / MIB), (unsigned long long)(peak / MIB),
            reset ? " since the attack" : " since start", BUDGET_MIB,
            (unsigned long long)((baseline + BUDGET_MIB * MIB + constant) / MIB));
    assert_true(done >= HOARDERS);
    assert_true(peak <= baseline + BUDGET_MIB * MIB + constant);
    /* Each client's first bytes are a 200 (cut off later) or a 503 with Retry-After. */
    for (int i = 0; i < HOARDERS; i++) {
        char head[64] = {0};
        ssize_t n = recv(fds[i], head, sizeof(head) - 1, MSG_DONTWAIT);
        assert_true(n > 12);
        assert_true(strncmp(head, "HTTP/1.1 200", 12) == 0 ||
                    strncmp(head, "HTTP/1.1 503", 12) == 0);
        close(fds[i]);
    }
    assert_int_equal(test_daemon_wait_metric_at_most(d, "atrousd_memory_budget_in_use_bytes", 0,
                                                     HTTP_CLIENT_TIMEOUT_MS),
                     0);
}

/* Reads chunk bytes every every_ms until the daemon has logged the request's end; returns the
 * bytes read by then. */
static uint64_t read_slowly_until_logged(const struct test_daemon *d, int fd, const char *id,
                                         size_t chunk, int every_ms)
{
    char needle[96];
    snprintf(needle, sizeof(needle), "\"request_id\":\"%s\"", id);
    char *buf = malloc(chunk);
    assert_non_null(buf);
    uint64_t got = 0;
    for (int64_t deadline = test_now_ms() + 120000; test_now_ms() < deadline;) {
        if (test_daemon_wait_log(d, needle, 0) == 0)
            break;
        ssize_t n = recv(fd, buf, chunk, MSG_DONTWAIT);
        if (n > 0)
            got += (uint64_t)n;
        test_pause_ms(every_ms);
    }
    free(buf);
    assert_int_equal(test_daemon_wait_log(d, needle, 0), 0);
    return got;
}

static void test_budget_reader_of_1k_every_2s_is_cut_off(void **state)
{
    const struct test_daemon *d = *state;
    int fd = send_huge_answer_request(d->port, "sipper-1k", true);
    assert_true(fd >= 0);
    uint64_t got = read_slowly_until_logged(d, fd, "sipper-1k", 1024, 2000);
    char *line = log_line(d, "sipper-1k");
    assert_non_null(line);
    fprintf(stderr, "budget: 1 KiB / 2 s reader cut off after %llu bytes: %s\n",
            (unsigned long long)got, line);
    assert_non_null(strstr(line, "\"status\":200"));
    assert_non_null(strstr(line, "\"termination\":\"timeout"));
    assert_true(got < 64 * MIB);
    free(line);
    close(fd);
    assert_int_equal(test_daemon_wait_metric_at_most(d, "atrousd_memory_budget_in_use_bytes", 0,
                                                     HTTP_CLIENT_TIMEOUT_MS),
                     0);
}

static void test_budget_reader_below_the_send_rate_is_cut_off(void **state)
{
    const struct test_daemon *d = *state;
    /* 1 MiB every 250 ms keeps the connection busy (libmicrohttpd's idle timer never fires)
     * but is a quarter of --min-send-rate: the answer's deadline (3 s + 64 MiB at 16 MiB/s)
     * cuts it off long before the 16 s it would take. */
    int fd = send_huge_answer_request(d->port, "sipper-drain", true);
    assert_true(fd >= 0);
    int rcvbuf = 256 << 10;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    uint64_t got = read_slowly_until_logged(d, fd, "sipper-drain", 1 << 20, 250);
    char *line = log_line(d, "sipper-drain");
    assert_non_null(line);
    fprintf(stderr, "budget: 4 MiB/s reader cut off after %llu bytes: %s\n",
            (unsigned long long)got, line);
    assert_non_null(strstr(line, "\"status\":200"));
    assert_non_null(
        strstr(line, "answer not read within --connection-timeout and --min-send-rate"));
    assert_true(got < 64 * MIB);
    free(line);
    close(fd);
    assert_int_equal(test_daemon_wait_metric_at_most(d, "atrousd_memory_budget_in_use_bytes", 0,
                                                     HTTP_CLIENT_TIMEOUT_MS),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_is_in_info_and_metrics),
        cmocka_unit_test(test_budget_slow_path_problem_is_refused_before_its_body),
        cmocka_unit_test(test_budget_slow_path_under_the_inline_flops_goes_to_the_queue),
        cmocka_unit_test(test_budget_forty_never_reading_clients_stay_within_it),
        cmocka_unit_test(test_budget_reader_of_1k_every_2s_is_cut_off),
        cmocka_unit_test(test_budget_reader_below_the_send_rate_is_cut_off),
    };
    return cmocka_run_group_tests(tests, setup, test_daemon_group_teardown);
}
