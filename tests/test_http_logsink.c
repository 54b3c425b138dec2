/*
 * test_http_logsink.c - a stalled log collector does not stop the service: the real daemon
 * with its stderr on a 4 KiB pipe that the test does not read answers thousands of requests
 * (each of which logs an access line) and /healthz throughout, counts the lines it had to
 * drop in /metrics, and once the pipe is read again writes a line saying how many it dropped.
 *
 * Before the flusher (issue 12), the I/O threads wrote the log themselves and blocked in
 * write(2) once the pipe was full, after about a dozen lines: every request, /healthz
 * included, then hung. Here each request must be answered within the client's bound
 * (HTTP_CLIENT_TIMEOUT_MS): a wait for an observable answer, not a timing assertion.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"

/* Requests sent while nobody reads the pipe: their access lines (~400 bytes each with the long
 * request id below) are about 3 MB, far over the pipe and the daemon's 1 MiB backlog. */
#define REQUESTS   8000
#define CONNECTION 200 /* requests per keep-alive connection */

static const int64_t small_value[4] = {1, 6, 5, 3};
static const int64_t small_filters[4] = {3, 3, 4, 3};

/* Reads the pipe in a thread of its own until the daemon closes it, keeping the text. */
struct reader {
    int fd;
    pthread_mutex_t lock;
    char *text;
    size_t len, cap;
    bool eof;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    char buf[65536];
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof(buf));
        pthread_mutex_lock(&r->lock);
        if (n <= 0) {
            r->eof = true;
            pthread_mutex_unlock(&r->lock);
            return NULL;
        }
        if (r->len + (size_t)n + 1 > r->cap) {
            size_t cap = (r->len + (size_t)n + 1) * 2;
            char *grown = realloc(r->text, cap);
            if (grown == NULL) {
                pthread_mutex_unlock(&r->lock);
                continue; /* keep draining; the search just sees less */
            }
            r->text = grown;
            r->cap = cap;
        }
        memcpy(r->text + r->len, buf, (size_t)n);
        r->len += (size_t)n;
        r->text[r->len] = '\0';
        pthread_mutex_unlock(&r->lock);
    }
}

static bool reader_has(struct reader *r, const char *needle)
{
    pthread_mutex_lock(&r->lock);
    bool found = r->text != NULL && strstr(r->text, needle) != NULL;
    pthread_mutex_unlock(&r->lock);
    return found;
}

static void get_healthz(const struct test_daemon *d)
{
    struct http_client_response r;
    assert_int_equal(http_client_request(d->port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
}

static void test_logsink_stalled_stderr_pipe_drops_lines_and_serving_goes_on(void **state)
{
    (void)state;
    struct test_daemon d;
    int pipe_fd = -1;
    char why[2048];
    if (test_daemon_start_piped(&d, NULL, &pipe_fd, why, sizeof(why)) != 0)
        fail_msg("%s", why);

    /* Nobody reads the pipe from here on. */
    char id[128];
    memset(id, 'r', 100);
    id[100] = '\0';
    char id_header[160];
    snprintf(id_header, sizeof(id_header), "X-Request-Id: %s", id);
    const char *headers[] = {id_header, NULL};
    int sent = 0;
    while (sent < REQUESTS) {
        int fd = http_client_connect(d.port, HTTP_CLIENT_TIMEOUT_MS);
        assert_true(fd >= 0);
        for (int i = 0; i < CONNECTION && sent < REQUESTS; i++, sent++) {
            struct http_client_response r;
            assert_int_equal(http_client_send_request(fd, "GET", "/healthz", headers, NULL, 0), 0);
            if (http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r) != 0)
                fail_msg("request %d got no answer while stderr was stalled", sent);
            assert_int_equal(r.status, 200);
            http_client_response_free(&r);
        }
        close(fd);
        get_healthz(&d); /* a fresh connection too */
    }

    /* The lines it could not write are counted. */
    double dropped = 0;
    assert_int_equal(test_daemon_metric(&d, "atrousd_log_lines_dropped_total", &dropped), 0);
    if (dropped <= 0)
        fail_msg("%d requests with a stalled stderr, yet no log line dropped", REQUESTS);
    /* Compute requests flow too, with correct answers. */
    struct http_op_args a;
    assert_int_equal(http_op_zeros(&a, small_value, small_filters, 2), 0);
    for (int form = 0; form < 2; form++) {
        struct http_client_response r;
        struct http_op_output out;
        assert_int_equal(
            http_op_call(d.port, &a, form ? HTTP_OP_BINARY : HTTP_OP_JSON, NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(http_op_parse(&r, &out), 0);
        assert_int_equal(out.count, 1 * 6 * 5 * 4);
        http_op_output_free(&out);
        http_client_response_free(&r);
    }
    http_op_zeros_free(&a);
    fprintf(stderr, "logsink: %d requests answered with stderr stalled; %.0f log lines dropped\n",
            REQUESTS, dropped);

    /* The collector comes back: the daemon says how many lines it dropped. */
    struct reader rd = {.fd = pipe_fd, .lock = PTHREAD_MUTEX_INITIALIZER};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
    int64_t deadline = test_now_ms() + HTTP_CLIENT_TIMEOUT_MS;
    while (!reader_has(&rd, "\"msg\":\"log lines dropped") && test_now_ms() < deadline) {
        get_healthz(&d); /* more lines, so the flusher has something to write */
        test_pause_ms(10);
    }
    bool reported = reader_has(&rd, "\"msg\":\"log lines dropped");
    assert_int_equal(test_daemon_stop(&d), 0);
    pthread_join(t, NULL);
    close(pipe_fd);
    if (!reported)
        fail_msg("no 'log lines dropped' line once the pipe was read (%zu bytes read)", rd.len);
    const char *line = strstr(rd.text, "\"msg\":\"log lines dropped");
    const char *lines = strstr(line, "\"lines\":");
    assert_non_null(lines);
    assert_true(strtoull(lines + strlen("\"lines\":"), NULL, 10) > 0);
    free(rd.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logsink_stalled_stderr_pipe_drops_lines_and_serving_goes_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
