/*
 * test_http_overload.c - the compute queue under pressure, with one worker and a queue of
 * one: while a heavy request computes and a second waits, a third is refused at once with
 * 429 + Retry-After (from its headers alone, before its body is sent, when the queue is
 * already full), and the waiting one, held past --request-timeout before its compute could
 * start, gets 504 and its wait is counted in atrousd_queue_wait_seconds (the autoscaling
 * signal). /healthz keeps answering throughout.
 *
 * Ordering is established by polling the daemon's own gauges (compute_active, queue_depth),
 * never by sleeping; the heavy request takes hundreds of milliseconds of compute, far longer
 * than the few polls and small requests that follow it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"

/* About 43 GFLOP (2 * N*H*W*IC * KH*KW*OC): ~0.4 s on one AVX-512 core, seconds elsewhere;
 * 13 MB of body. */
static const int64_t heavy_value[4] = {4, 64, 64, 128};
static const int64_t heavy_filters[4] = {9, 9, 128, 128};
static const int64_t tiny_value[4] = {1, 4, 4, 2};
static const int64_t tiny_filters[4] = {3, 3, 3, 2};

#define POLL_MS 30000

static int setup(void **state)
{
    const char *args[] = {"--compute-threads", "1", "--omp-threads", "1", "--queue-depth", "1",
                          "--request-timeout", "50",
                          /* The tiny requests must queue, not run on the I/O thread. */
                          "--inline-max-flops", "0", NULL};
    return test_daemon_group_setup(state, args);
}

static void assert_error(const struct http_client_response *r, int status, const char *code)
{
    struct http_error_body e;
    assert_int_equal(r->status, status);
    assert_int_equal(http_error_parse(r->body, r->body_len, &e), 0);
    assert_string_equal(e.code, code);
    http_error_free(&e);
}

static int send_op(const struct test_daemon *d, const struct http_op_args *a)
{
    int fd = http_client_connect(d->port, HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(http_op_send(fd, a, HTTP_OP_BINARY, NULL, NULL), 0);
    return fd;
}

static void test_http_full_queue_is_429_and_late_start_is_504(void **state)
{
    const struct test_daemon *d = *state;
    struct http_op_args heavy, tiny;
    assert_int_equal(http_op_zeros(&heavy, heavy_value, heavy_filters, 2), 0);
    assert_int_equal(http_op_zeros(&tiny, tiny_value, tiny_filters, 2), 0);

    int computing = send_op(d, &heavy);
    assert_int_equal(test_daemon_wait_metric(d, "atrousd_compute_active", 1, POLL_MS), 0);
    int waiting = send_op(d, &tiny);
    assert_int_equal(test_daemon_wait_metric(d, "atrousd_queue_depth", 1, POLL_MS), 0);

    /* The queue is full: the answer comes at once, not after the heavy request. */
    struct http_client_response r;
    int refused = send_op(d, &tiny);
    assert_int_equal(http_client_read(refused, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_error(&r, 429, "resource_exhausted");
    assert_string_equal(http_client_header(&r, "Retry-After"), "1");
    http_client_response_free(&r);
    close(refused);
    /* Still full: a request announcing 13 MB gets its 429 from the headers alone, without
     * the body ever being sent, and the connection is closed since the body is never read. */
    char *target = http_op_binary_target(&heavy);
    assert_non_null(target);
    int early = http_client_connect(d->port, HTTP_CLIENT_TIMEOUT_MS);
    assert_true(early >= 0);
    assert_int_equal(http_client_sendf(early,
                                       "POST %s HTTP/1.1\r\nHost: test\r\n"
                                       "Content-Type: application/octet-stream\r\n"
                                       "Content-Length: %zu\r\n\r\n",
                                       target,
                                       (heavy.value_count + heavy.filters_count) * sizeof(float)),
                     0);
    free(target);
    assert_int_equal(http_client_read(early, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_error(&r, 429, "resource_exhausted");
    assert_string_equal(http_client_header(&r, "Connection"), "close");
    http_client_response_free(&r);
    assert_int_equal(http_client_wait_closed(early, HTTP_CLIENT_TIMEOUT_MS), 0);
    close(early);

    double active = 0;
    assert_int_equal(test_daemon_metric(d, "atrousd_compute_active", &active), 0);
    assert_true(active == 1); /* still computing the heavy one when the 429s came */

    /* Health checks do not wait behind compute. */
    assert_int_equal(http_client_request(d->port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);

    assert_int_equal(http_client_read(computing, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(http_client_header(&r, "X-Output-Shape"), "4,64,64,128");
    http_client_response_free(&r);
    assert_int_equal(http_client_read(waiting, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_error(&r, 504, "deadline_exceeded");
    http_client_response_free(&r);
    close(computing);
    close(waiting);

    double count = 0;
    assert_int_equal(test_daemon_metric(
                         d, "atrousd_http_requests_total{endpoint=\"op\",status=\"429\"}", &count),
                     0);
    assert_true(count >= 1);
    assert_int_equal(test_daemon_metric(
                         d, "atrousd_http_requests_total{endpoint=\"op\",status=\"504\"}", &count),
                     0);
    assert_true(count >= 1);
    /* The autoscaling signal: both requests a worker took count, the 504 included (it waited
     * past the 50 ms --request-timeout); the 429s never entered the queue. */
    assert_int_equal(test_daemon_wait_metric(d, "atrousd_queue_wait_seconds_count", 2, POLL_MS), 0);
    assert_int_equal(test_daemon_metric(d, "atrousd_queue_wait_seconds_count", &count), 0);
    assert_true(count == 2);
    assert_int_equal(test_daemon_metric(d, "atrousd_queue_wait_seconds_sum", &count), 0);
    assert_true(count > 0.05);
    http_op_zeros_free(&heavy);
    http_op_zeros_free(&tiny);
}

static void test_http_queue_recovers_after_overload(void **state)
{
    const struct test_daemon *d = *state;
    struct http_op_args tiny;
    struct http_client_response r;
    assert_int_equal(http_op_zeros(&tiny, tiny_value, tiny_filters, 2), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(http_op_call(d->port, &tiny, HTTP_OP_JSON, NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        http_client_response_free(&r);
    }
    http_op_zeros_free(&tiny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_full_queue_is_429_and_late_start_is_504),
        cmocka_unit_test(test_http_queue_recovers_after_overload),
    };
    return cmocka_run_group_tests(tests, setup, test_daemon_group_teardown);
}
