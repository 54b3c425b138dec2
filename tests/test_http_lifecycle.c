/*
 * test_http_lifecycle.c - start-up and shutdown of the real daemon: SIGTERM drains (readyz
 * and new op requests 503 on open connections, new connections refused, in-flight requests
 * -- uploading or computing -- finish with 200, exit 0), a second signal exits at once, the
 * drain timeout bounds the wait; flags, environment twins, --help, --version and
 * --health-probe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"

/* About 43 GFLOP per 4 images: hundreds of milliseconds of compute on one worker (see
 * test_http_overload). */
static const int64_t heavy_filters[4] = {9, 9, 128, 128};
static const int64_t small_value[4] = {1, 6, 5, 3};
static const int64_t small_filters[4] = {3, 3, 4, 3};

#define WAIT_MS 30000

static void start(struct test_daemon *d, const char *const *args)
{
    char why[2048];
    if (test_daemon_start(d, args, why, sizeof(why)) != 0)
        fail_msg("%s", why);
}

/* Starts a half-sent upload and waits until the daemon counts it in flight (with the /metrics
 * request that reads the gauge: 2). */
static void start_upload(const struct test_daemon *d, const struct http_op_args *a,
                         struct http_upload *up)
{
    assert_int_equal(http_op_start_upload(d->port, a, up), 0);
    assert_int_equal(test_daemon_wait_metric(d, "atrousd_http_requests_in_flight", 2, WAIT_MS), 0);
}

/* A keep-alive connection that has already been served once. */
static int open_keep_alive(const struct test_daemon *d)
{
    int fd = http_client_connect(d->port, HTTP_CLIENT_TIMEOUT_MS);
    struct http_client_response r;
    assert_true(fd >= 0);
    assert_int_equal(http_client_sendf(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    return fd;
}

static void assert_unavailable(const struct http_client_response *r)
{
    struct http_error_body e;
    assert_int_equal(r->status, 503);
    assert_non_null(http_client_header(r, "Retry-After"));
    assert_int_equal(http_error_parse(r->body, r->body_len, &e), 0);
    assert_string_equal(e.code, "unavailable");
    http_error_free(&e);
}

/* A daemon with one upload held half-sent, which keeps a drain waiting. */
struct held {
    struct test_daemon d;
    struct http_op_args a;
    struct http_upload upload;
};

static void hold_upload(struct held *h, const char *const *args)
{
    memset(h, 0, sizeof(*h));
    start(&h->d, args);
    assert_int_equal(http_op_zeros(&h->a, small_value, small_filters, 2), 0);
    start_upload(&h->d, &h->a, &h->upload);
}

static void release_held(struct held *h)
{
    http_op_upload_free(&h->upload);
    http_op_zeros_free(&h->a);
    test_daemon_stop(&h->d);
}

static void assert_exit_code(struct test_daemon *d, int code)
{
    assert_int_equal(test_daemon_wait_exit(d, WAIT_MS), 0);
    assert_true(WIFEXITED(d->wait_status));
    assert_int_equal(WEXITSTATUS(d->wait_status), code);
}

static void test_http_sigterm_drains_and_lets_an_upload_finish(void **state)
{
    (void)state;
    struct held h;
    hold_upload(&h, NULL);
    struct test_daemon *d = &h.d;
    int ready_conn = open_keep_alive(d), op_conn = open_keep_alive(d);

    assert_int_equal(test_daemon_signal(d, SIGTERM), 0);
    assert_int_equal(test_daemon_wait_log(d, "\"msg\":\"draining\"", WAIT_MS), 0);

    /* Open connections are still served, but told the truth. */
    struct http_client_response r;
    assert_int_equal(http_client_sendf(ready_conn, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(http_client_read(ready_conn, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_unavailable(&r);
    assert_string_equal(http_client_header(&r, "Connection"), "close");
    http_client_response_free(&r);
    assert_int_equal(http_op_send(op_conn, &h.a, HTTP_OP_JSON, NULL, NULL), 0);
    assert_int_equal(http_client_read(op_conn, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_unavailable(&r);
    http_client_response_free(&r);

    /* No new connections. */
    errno = 0;
    int refused = http_client_connect(d->port, HTTP_CLIENT_TIMEOUT_MS);
    assert_int_equal(refused, -1);
    assert_int_equal(errno, ECONNREFUSED);

    /* The request that was in flight completes. */
    assert_int_equal(http_op_finish_upload(&h.upload, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(http_client_header(&r, "X-Output-Shape"), "1,6,5,4");
    http_client_response_free(&r);

    assert_exit_code(d, 0);
    assert_int_equal(test_daemon_wait_log(d, "\"msg\":\"stopped\"", 1000), 0);
    close(ready_conn);
    close(op_conn);
    release_held(&h);
}

/* True when a computing request's answer is there to read. */
static bool answered(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void test_http_sigterm_lets_a_computing_request_finish(void **state)
{
    (void)state;
    /* Judged when SIGTERM came while the heavy request computed (compute_active seen, its
     * answer not yet there); a request that finished first proves nothing, so the try is made
     * again with a heavier one. */
    static const int64_t batches[] = {4, 8, 8};
    bool judged = false;
    for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]) && !judged; i++) {
        struct test_daemon d;
        struct http_op_args a;
        const char *args[] = {"--compute-threads", "1", NULL};
        start(&d, args);
        const int64_t value[4] = {batches[i], 64, 64, 128};
        assert_int_equal(http_op_zeros(&a, value, heavy_filters, 2), 0);
        int fd = http_op_open(d.port, &a, HTTP_OP_BINARY);
        assert_true(fd >= 0);
        double active = 0;
        int64_t deadline = test_now_ms() + WAIT_MS;
        while (!answered(fd) && test_now_ms() < deadline &&
               (test_daemon_metric(&d, "atrousd_compute_active", &active) != 0 || active < 1))
            test_pause_ms(5);
        judged = active >= 1 && !answered(fd);
        assert_int_equal(test_daemon_signal(&d, SIGTERM), 0);

        struct http_client_response r;
        assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, (size_t)batches[i] * 64 * 64 * 128 * sizeof(float));
        http_client_response_free(&r);
        assert_exit_code(&d, 0);
        close(fd);
        http_op_zeros_free(&a);
        test_daemon_stop(&d);
    }
    assert_true(judged);
}

static void test_http_second_signal_exits_at_once(void **state)
{
    (void)state;
    struct held h;
    hold_upload(&h, NULL);
    assert_int_equal(test_daemon_signal(&h.d, SIGTERM), 0);
    assert_int_equal(test_daemon_wait_log(&h.d, "\"msg\":\"draining\"", WAIT_MS), 0);
    assert_int_equal(test_daemon_signal(&h.d, SIGINT), 0);
    assert_exit_code(&h.d, 128 + SIGINT);
    release_held(&h);
}

static void test_http_drain_timeout_bounds_the_wait(void **state)
{
    (void)state;
    struct held h;
    const char *args[] = {"--drain-timeout", "1", NULL};
    hold_upload(&h, args); /* never finished */
    assert_int_equal(test_daemon_signal(&h.d, SIGTERM), 0);
    assert_exit_code(&h.d, 0);
    assert_int_equal(test_daemon_wait_log(&h.d, "drain timeout", 1000), 0);
    assert_int_equal(http_client_wait_closed(h.upload.fd, HTTP_CLIENT_TIMEOUT_MS), 0);
    release_held(&h);
}

static void test_http_health_probe_follows_readyz(void **state)
{
    (void)state;
    struct test_daemon d;
    start(&d, NULL);
    char port[16], env_port[32];
    snprintf(port, sizeof(port), "%u", d.port);
    snprintf(env_port, sizeof(env_port), "ATROUSD_PORT=%u", d.port);
    const char *by_flag[] = {"--health-probe", "--port", port, NULL};
    const char *by_env[] = {"--health-probe", NULL};
    const char *env[] = {env_port, NULL};
    assert_int_equal(test_daemon_run_once(by_flag, NULL, WAIT_MS, NULL), 0);
    assert_int_equal(test_daemon_run_once(by_env, env, WAIT_MS, NULL), 0);
    assert_int_equal(test_daemon_stop(&d), 0);
    /* Nothing listens there any more. */
    assert_int_equal(test_daemon_run_once(by_flag, NULL, WAIT_MS, NULL), 1);
}

static void test_http_help_lists_every_flag_with_its_environment_twin(void **state)
{
    (void)state;
    const char *args[] = {"--help", NULL};
    char *out = NULL;
    assert_int_equal(test_daemon_run_once(args, NULL, WAIT_MS, &out), 0);
    const char *expected[] = {
        "--host",
        "ATROUSD_HOST",
        "--port",
        "ATROUSD_PORT",
        "--io-threads",
        "--compute-threads",
        "--omp-threads",
        "--queue-depth",
        "--max-body-bytes",
        "ATROUSD_MAX_BODY_BYTES",
        "--max-tensor-elements",
        "--max-output-elements",
        "--max-connections",
        "--connection-timeout",
        "--request-timeout",
        "--drain-timeout",
        "ATROUSD_DRAIN_TIMEOUT",
        "--cache-capacity",
        "--log-level",
        "--log-format",
        "--health-probe",
        "--version",
        "default 67108864",
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        if (strstr(out, expected[i]) == NULL)
            fail_msg("--help lacks %s", expected[i]);
    }
    /* The statuses it names are the ones answered (DESIGN section 3): 413 is for content over
     * --max-body-bytes (or --max-json-bytes) only; a size computed from shapes is 400
     * too_large. */
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strstr(line, "413") != NULL && strstr(line, "--max-body-bytes ") == NULL &&
            strstr(line, "--max-json-bytes ") == NULL)
            fail_msg("--help names 413 for another limit: %s", line);
        if ((strstr(line, "--max-tensor-elements ") || strstr(line, "--max-output-elements ")) &&
            strstr(line, "400 too_large") == NULL)
            fail_msg("--help does not say 400 too_large: %s", line);
    }
    free(out);
    const char *version[] = {"--version", NULL};
    assert_int_equal(test_daemon_run_once(version, NULL, WAIT_MS, &out), 0);
    assert_non_null(strstr(out, "atrousd "));
    free(out);
}

static void test_http_invalid_flags_exit_2_with_a_message(void **state)
{
    (void)state;
    struct {
        const char *args[4];
        const char *env, *message;
    } cases[] = {
        {{"--port", "70000", NULL}, NULL, "--port"},
        {{"--max-body-bytes", "lots", NULL}, NULL, "--max-body-bytes"},
        {{"--log-level", "loud", NULL}, NULL, "--log-level"},
        {{"--host", "localhost", NULL}, NULL, "--host"},
        {{"--bogus", NULL}, NULL, "unknown flag"},
        {{"--queue-depth", NULL}, NULL, "needs a value"},
        {{NULL}, "ATROUSD_COMPUTE_THREADS=-1", "ATROUSD_COMPUTE_THREADS"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {cases[i].env, NULL};
        char *out = NULL;
        assert_int_equal(test_daemon_run_once(cases[i].args, env, WAIT_MS, &out), 2);
        if (strstr(out, cases[i].message) == NULL)
            fail_msg("case %zu: message lacks '%s': %s", i, cases[i].message, out);
        free(out);
    }
}

/* The effective max_body_bytes as /v1/info reports it. */
static long long info_max_body(const struct test_daemon *d)
{
    struct http_client_response r;
    assert_int_equal(http_client_request(d->port, "GET", "/v1/info", NULL, NULL, 0, &r), 0);
    const char *key = strstr(r.body, "\"max_body_bytes\":");
    assert_non_null(key);
    long long v = strtoll(key + strlen("\"max_body_bytes\":"), NULL, 10);
    http_client_response_free(&r);
    return v;
}

static void test_http_flag_wins_over_environment(void **state)
{
    (void)state;
    struct test_daemon d;
    setenv("ATROUSD_MAX_BODY_BYTES", "1000", 1);
    start(&d, NULL);
    assert_int_equal(info_max_body(&d), 1000);
    assert_int_equal(test_daemon_stop(&d), 0);
    const char *args[] = {"--max-body-bytes", "2k", NULL};
    start(&d, args);
    unsetenv("ATROUSD_MAX_BODY_BYTES");
    assert_int_equal(info_max_body(&d), 2048);
    assert_int_equal(test_daemon_stop(&d), 0);
}

static void test_http_oversubscribed_threads_are_clamped(void **state)
{
    (void)state;
    struct test_daemon d;
    const char *args[] = {"--compute-threads", "64", "--omp-threads", "64", NULL};
    start(&d, args);
    assert_int_equal(test_daemon_wait_log(&d, "clamped", 1000), 0);
    struct http_client_response r;
    assert_int_equal(http_client_request(d.port, "GET", "/v1/info", NULL, NULL, 0, &r), 0);
    assert_non_null(strstr(r.body, "\"clamped\":true"));
    http_client_response_free(&r);
    assert_int_equal(test_daemon_stop(&d), 0);
}

static void test_http_io_thread_pool_and_text_logs(void **state)
{
    (void)state;
    struct test_daemon d;
    struct http_op_args a;
    const char *args[] = {"--io-threads", "3", "--log-format", "text", NULL};
    start(&d, args);
    assert_int_equal(http_op_zeros(&a, small_value, small_filters, 2), 0);
    for (int i = 0; i < 6; i++) {
        struct http_client_response r;
        assert_int_equal(http_op_call(d.port, &a, HTTP_OP_BINARY, "application/json", NULL, &r), 0);
        assert_int_equal(r.status, 200);
        http_client_response_free(&r);
    }
    /* Wait for an op request's own line: the first request line may be a start-up /readyz
     * 503 (a warning, flushed at once) while the op's lines still wait for --log-flush-ms. */
    assert_int_equal(
        test_daemon_wait_log(&d, " path=/v1/atrous_conv2d_transpose status=200 ", WAIT_MS), 0);
    char *log = test_daemon_log(&d);
    assert_null(strstr(log, "{\"ts\""));
    assert_non_null(strstr(log, " request request_id="));
    free(log);
    http_op_zeros_free(&a);
    assert_int_equal(test_daemon_stop(&d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_sigterm_drains_and_lets_an_upload_finish),
        cmocka_unit_test(test_http_sigterm_lets_a_computing_request_finish),
        cmocka_unit_test(test_http_second_signal_exits_at_once),
        cmocka_unit_test(test_http_drain_timeout_bounds_the_wait),
        cmocka_unit_test(test_http_health_probe_follows_readyz),
        cmocka_unit_test(test_http_help_lists_every_flag_with_its_environment_twin),
        cmocka_unit_test(test_http_invalid_flags_exit_2_with_a_message),
        cmocka_unit_test(test_http_flag_wins_over_environment),
        cmocka_unit_test(test_http_oversubscribed_threads_are_clamped),
        cmocka_unit_test(test_http_io_thread_pool_and_text_logs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
