/*
 * test_http_drain.c - SIGTERM with --drain-timeout shorter than the work in flight: whatever
 * stage a request is in when the timeout comes (uploading, queued, computing, or its answer
 * half sent to a client that reads slowly), no client ever gets a success status with its
 * body cut short. An answer already being sent is sent whole; the others end with their
 * connection closed without an answer, or an error status.
 *
 * The answer being sent is 64 MiB, far more than the sockets buffer, and its client reads
 * nothing until the daemon has logged the drain timeout: so at the timeout it is certainly
 * half sent. Before issue 12 the stop then closed that connection: a 200 cut short.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"

#define WAIT_MS 30000

/* Everything the server sends on fd until it closes the connection (malloc'd). */
struct raw {
    char *data;
    size_t len;
};

/* Reads n connections at once, as their clients would, until the server has closed each. */
static void read_to_end(const int *fds, struct raw *out, size_t n)
{
    size_t cap[8];
    bool open[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        cap[i] = 1 << 20;
        out[i].data = malloc(cap[i] + 1);
        out[i].len = 0;
        assert_non_null(out[i].data);
        open[i] = true;
    }
    int64_t deadline = test_now_ms() + WAIT_MS;
    for (size_t left = n; left > 0;) {
        struct pollfd pfd[8];
        for (size_t i = 0; i < n; i++)
            pfd[i] = (struct pollfd){.fd = open[i] ? fds[i] : -1, .events = POLLIN};
        int64_t wait = deadline - test_now_ms();
        if (wait <= 0)
            fail_msg("the server neither finished nor closed %zu connection(s)", left);
        if (poll(pfd, n, (int)wait) <= 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (!open[i] || pfd[i].revents == 0)
                continue;
            if (out[i].len == cap[i]) {
                cap[i] *= 2;
                out[i].data = realloc(out[i].data, cap[i] + 1);
                assert_non_null(out[i].data);
            }
            ssize_t got = read(fds[i], out[i].data + out[i].len, cap[i] - out[i].len);
            if (got > 0) {
                out[i].len += (size_t)got;
                continue;
            }
            open[i] = false; /* closed (or reset) */
            left--;
        }
    }
    for (size_t i = 0; i < n; i++)
        out[i].data[out[i].len] = '\0';
}

/* What a client got: the status (0 when nothing), and whether the body was all there. */
struct outcome {
    int status;
    bool whole;
    const char *output_shape_at; /* X-Output-Shape's value in the raw text, or NULL */
};

static struct outcome judge(const struct raw *r)
{
    struct outcome o = {0};
    if (r->len == 0 || strncmp(r->data, "HTTP/1.", 7) != 0)
        return o;
    o.status = atoi(r->data + 9);
    const char *end = strstr(r->data, "\r\n\r\n");
    if (end == NULL)
        return o; /* the head itself was cut */
    const char *cl = NULL;
    for (const char *line = strstr(r->data, "\r\n") + 2; line < end;
         line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            cl = line + 15;
        if (strncasecmp(line, "X-Output-Shape:", 15) == 0)
            o.output_shape_at = line + 15;
    }
    size_t body = r->len - (size_t)(end + 4 - r->data);
    o.whole = cl != NULL && strtoull(cl, NULL, 10) == body;
    return o;
}

/* The invariant of the drain: a success status comes with its whole body. */
static void assert_never_a_cut_success(const char *who, const struct raw *r)
{
    struct outcome o = judge(r);
    if (o.status >= 200 && o.status < 300 && !o.whole)
        fail_msg("%s: a %d whose body was cut short (%zu bytes in all)", who, o.status, r->len);
}

static void test_drain_never_cuts_a_success_short(void **state)
{
    (void)state;
    struct test_daemon d;
    char why[2048];
    const char *args[] = {"--drain-timeout", "1", "--compute-threads", "1", NULL};
    if (test_daemon_start(&d, args, why, sizeof(why)) != 0)
        fail_msg("%s", why);

    /* big: 1x1x1x1 value, 2x2 filter, rate 4095, VALID: a 64 MiB answer (4096x4096 floats). */
    static const float one[1] = {1.0f};
    static const float filter[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    static const int64_t big_output[4] = {1, 4096, 4096, 1};
    struct http_op_args big = {
        .value_shape = {.rank = 4, .dims = {1, 1, 1, 1}},
        .value = one,
        .value_count = 1,
        .filters_shape = {.rank = 4, .dims = {2, 2, 1, 1}},
        .filters = filter,
        .filters_count = 4,
        .output_shape = big_output,
        .output_shape_len = 4,
        .rate = 4095,
        .padding = "VALID",
    };
    int sending = http_op_open(d.port, &big, HTTP_OP_BINARY);
    assert_true(sending >= 0);
    /* Its answer has started to arrive; the client reads nothing yet. */
    struct pollfd pfd = {.fd = sending, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);

    /* uploading: half a body, never finished. */
    static const int64_t small_value[4] = {1, 6, 5, 3}, small_filters[4] = {3, 3, 4, 3};
    struct http_op_args small;
    assert_int_equal(http_op_zeros(&small, small_value, small_filters, 2), 0);
    struct http_upload up;
    assert_int_equal(http_op_start_upload(d.port, &small, &up), 0);
    int uploading = up.fd;

    /* computing and queued behind it: whatever stage they reach, the invariant holds. */
    static const int64_t heavy_value[4] = {4, 64, 64, 128}, heavy_filters[4] = {9, 9, 128, 128};
    struct http_op_args heavy;
    assert_int_equal(http_op_zeros(&heavy, heavy_value, heavy_filters, 2), 0);
    int computing = http_op_open(d.port, &heavy, HTTP_OP_BINARY);
    int queued = http_op_open(d.port, &small, HTTP_OP_BINARY);
    assert_true(computing >= 0 && queued >= 0);
    /* At least the upload and the answer being sent in flight, and the /metrics request. */
    assert_int_equal(test_daemon_wait_metric(&d, "atrousd_http_requests_in_flight", 3, WAIT_MS), 0);

    assert_int_equal(test_daemon_signal(&d, SIGTERM), 0);
    assert_int_equal(test_daemon_wait_log(&d, "drain timeout", WAIT_MS), 0);

    int fds[4] = {sending, uploading, computing, queued};
    struct raw r[4];
    read_to_end(fds, r, 4);

    /* The half-sent answer arrives whole. */
    struct outcome o = judge(&r[0]);
    if (o.status != 200 || !o.whole)
        fail_msg("the answer being sent at the drain timeout: status %d, %s (%zu bytes)", o.status,
                 o.whole ? "whole" : "cut short", r[0].len);
    assert_non_null(o.output_shape_at);
    assert_int_equal(strncmp(o.output_shape_at, " 1,4096,4096,1\r\n", 16), 0);
    /* The upload gets no answer: its connection is closed. */
    assert_true(judge(&r[1]).status == 0 || judge(&r[1]).status >= 400);
    static const char *const who[4] = {"sending", "uploading", "computing", "queued"};
    for (int i = 0; i < 4; i++) {
        assert_never_a_cut_success(who[i], &r[i]);
        free(r[i].data);
    }

    assert_int_equal(test_daemon_wait_exit(&d, WAIT_MS), 0);
    assert_true(WIFEXITED(d.wait_status));
    assert_int_equal(WEXITSTATUS(d.wait_status), 0);
    close(sending);
    http_op_upload_free(&up);
    close(computing);
    close(queued);
    http_op_zeros_free(&small);
    http_op_zeros_free(&heavy);
    test_daemon_stop(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drain_never_cuts_a_success_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
