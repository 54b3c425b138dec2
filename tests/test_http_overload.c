/*
 * test_http_overload.c - the compute queue under pressure, with one worker and a queue of
 * one: while a heavy request computes and a second waits, a third is refused at once with
 * 429 + Retry-After (from its headers alone, before its body is sent, when the queue is
 * already full), and the waiting one, held past --request-timeout before its compute could
 * start, gets 504 and its wait is counted in atrousd_queue_wait_seconds (the autoscaling
 * signal). /healthz keeps answering throughout.
 *
 * Ordering is established by the daemon's own gauges (compute_active, queue_depth), never by
 * sleeping, and no check assumes the heavy request outlasts the others: the scene is checked
 * afterwards (the waiting request still queued, so the worker was busy all along, for longer
 * than --request-timeout), and a try whose heavy request finished too early proves nothing and
 * is made again with a heavier one (suspected of failing 2 in ~12 fresh-clone runs, issue 12).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"

/* About 43 GFLOP per image of the batch (2 * N*H*W*IC * KH*KW*OC): ~0.4 s of one AVX-512 core
 * for 4 images (13 MB of body), seconds elsewhere. */
static const int64_t heavy_filters[4] = {9, 9, 128, 128};
static const int64_t tiny_value[4] = {1, 4, 4, 2};
static const int64_t tiny_filters[4] = {3, 3, 3, 2};
/* The batches of the heavy request, one per try: it must compute for longer than
 * --request-timeout after the tiny one has queued behind it. */
static const int64_t heavy_batches[] = {8, 12, 12, 12, 12};

#define POLL_MS 30000
/* Long enough that a worker's wake-up on a loaded machine never reaches it (with 50 ms the heavy
 * request itself was answered 504 under load, never computing: 2 of 3 runs failed at load
 * average 16), short enough for the heavy request to outlast it. */
#define REQUEST_TIMEOUT_MS 500

static int setup(void **state)
{
    const char *args[] = {"--compute-threads", "1", "--omp-threads", "1", "--queue-depth", "1",
                          "--request-timeout", "500", /* REQUEST_TIMEOUT_MS */
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
    int fd = http_op_open(d->port, a, HTTP_OP_BINARY);
    assert_true(fd >= 0);
    return fd;
}

static double metric(const struct test_daemon *d, const char *series)
{
    double v = -1;
    assert_int_equal(test_daemon_metric(d, series, &v), 0);
    return v;
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* Polls a gauge until it reaches min; false (at once) when the heavy request's answer arrives
 * first, or at the bound. */
static bool wait_gauge_unless_answered(const struct test_daemon *d, const char *series,
                                       int computing)
{
    int64_t deadline = test_now_ms() + POLL_MS;
    while (test_now_ms() < deadline) {
        if (metric(d, series) >= 1)
            return true;
        if (readable(computing))
            return false;
        test_pause_ms(5);
    }
    fail_msg("%s never reached 1", series);
    return false;
}

static void read_and_drop(int fd)
{
    struct http_client_response r;
    if (http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r) == 0)
        http_client_response_free(&r);
    close(fd);
}

/*
 * One try: a heavy request computes, a tiny one waits (the queue of one is full), two more are
 * refused. True when the scene held throughout and everything was checked; false when the
 * heavy request finished too early to prove anything (all is drained, nothing asserted).
 */
static bool try_full_queue(const struct test_daemon *d, int64_t batch)
{
    const int64_t heavy_value[4] = {batch, 64, 64, 128};
    struct http_op_args heavy, tiny;
    assert_int_equal(http_op_zeros(&heavy, heavy_value, heavy_filters, 2), 0);
    assert_int_equal(http_op_zeros(&tiny, tiny_value, tiny_filters, 2), 0);
    double waits_before = metric(d, "atrousd_queue_wait_seconds_count");
    double waited_before = metric(d, "atrousd_queue_wait_seconds_sum");
    int computing = send_op(d, &heavy), waiting = -1, refused = -1, early = -1;
    struct http_client_response r1 = {0}, r2 = {0};
    bool scene = wait_gauge_unless_answered(d, "atrousd_compute_active", computing);
    if (scene) {
        waiting = send_op(d, &tiny);
        scene = wait_gauge_unless_answered(d, "atrousd_queue_depth", computing);
    }
    int64_t queued_ms = test_now_ms();
    if (scene) {
        /* The queue is full: refused at once, not after the heavy request. */
        refused = send_op(d, &tiny);
        assert_int_equal(http_client_read(refused, false, HTTP_CLIENT_TIMEOUT_MS, &r1), 0);
        /* Still full: a request announcing tens of MB gets its 429 from the headers alone,
         * without the body ever being sent, and the connection is closed since the body is
         * never read. */
        char *target = http_op_binary_target(&heavy);
        assert_non_null(target);
        early = http_client_connect(d->port, HTTP_CLIENT_TIMEOUT_MS);
        assert_true(early >= 0);
        assert_int_equal(
            http_client_sendf(
                early,
                "POST %s HTTP/1.1\r\nHost: test\r\n"
                "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
                target, (heavy.value_count + heavy.filters_count) * sizeof(float)),
            0);
        free(target);
        assert_int_equal(http_client_read(early, false, HTTP_CLIENT_TIMEOUT_MS, &r2), 0);
        /* Health checks do not wait behind compute. */
        struct http_client_response h;
        assert_int_equal(http_client_request(d->port, "GET", "/healthz", NULL, NULL, 0, &h), 0);
        assert_int_equal(h.status, 200);
        http_client_response_free(&h);
        /* The waiting request has now been queued longer than --request-timeout... */
        while (test_now_ms() - queued_ms <= REQUEST_TIMEOUT_MS + 50)
            test_pause_ms(5);
        /* ...and if it is still queued, the worker was busy with the heavy one all along:
         * every answer above came while the queue was full. */
        scene = metric(d, "atrousd_queue_depth") == 1 && !readable(computing);
    }
    if (scene) {
        assert_error(&r1, 429, "resource_exhausted");
        assert_string_equal(http_client_header(&r1, "Retry-After"), "1");
        assert_error(&r2, 429, "resource_exhausted");
        assert_string_equal(http_client_header(&r2, "Connection"), "close");
        assert_int_equal(http_client_wait_closed(early, HTTP_CLIENT_TIMEOUT_MS), 0);
        struct http_client_response r;
        assert_int_equal(http_client_read(computing, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
        assert_int_equal(r.status, 200);
        char shape[64];
        snprintf(shape, sizeof(shape), "%lld,64,64,128", (long long)batch);
        assert_string_equal(http_client_header(&r, "X-Output-Shape"), shape);
        http_client_response_free(&r);
        assert_int_equal(http_client_read(waiting, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
        assert_error(&r, 504, "deadline_exceeded");
        http_client_response_free(&r);
        /* The autoscaling signal: both requests a worker took in this try count, the 504
         * included (it waited past --request-timeout); the 429s never entered the queue. */
        assert_int_equal(test_daemon_wait_metric(d, "atrousd_queue_wait_seconds_count",
                                                 waits_before + 2, POLL_MS),
                         0);
        assert_true(metric(d, "atrousd_queue_wait_seconds_count") == waits_before + 2);
        assert_true(metric(d, "atrousd_queue_wait_seconds_sum") - waited_before >
                    REQUEST_TIMEOUT_MS / 1000.0);
        close(computing);
        close(waiting);
        close(early);
        close(refused);
    } else {
        fprintf(stderr,
                "overload: the %lld-image request finished before the scene was checked; "
                "trying again\n",
                (long long)batch);
        read_and_drop(computing);
        if (waiting >= 0)
            read_and_drop(waiting);
        if (refused >= 0)
            close(refused);
        if (early >= 0)
            close(early);
    }
    http_client_response_free(&r1);
    http_client_response_free(&r2);
    http_op_zeros_free(&heavy);
    http_op_zeros_free(&tiny);
    return scene;
}

static void test_http_full_queue_is_429_and_late_start_is_504(void **state)
{
    const struct test_daemon *d = *state;
    bool checked = false;
    for (size_t i = 0; i < sizeof(heavy_batches) / sizeof(heavy_batches[0]) && !checked; i++)
        checked = try_full_queue(d, heavy_batches[i]);
    if (!checked)
        fail_msg("the heavy request never outlasted the checks");
    assert_true(metric(d, "atrousd_http_requests_total{endpoint=\"op\",status=\"429\"}") >= 1);
    assert_true(metric(d, "atrousd_http_requests_total{endpoint=\"op\",status=\"504\"}") >= 1);
}

static void test_http_queue_recovers_after_overload(void **state)
{
    /* Every slot the overload took is back: requests go through the queue again. With a
     * short --request-timeout a loaded machine may leave one in the queue longer (504, the
     * right answer then: a stalled worker wake-up, not a stuck queue); a stuck queue would
     * answer 429 or nothing. So: three answers of 200 within a generous bound, never a 429. */
    const struct test_daemon *d = *state;
    struct http_op_args tiny;
    assert_int_equal(http_op_zeros(&tiny, tiny_value, tiny_filters, 2), 0);
    int ok = 0, late = 0;
    for (int64_t deadline = test_now_ms() + POLL_MS; ok < 3 && test_now_ms() < deadline;) {
        struct http_client_response r;
        assert_int_equal(http_op_call(d->port, &tiny, HTTP_OP_JSON, NULL, NULL, &r), 0);
        if (r.status == 504)
            late++;
        else
            assert_int_equal(r.status, 200);
        ok += r.status == 200;
        http_client_response_free(&r);
    }
    if (ok < 3)
        fail_msg("only %d of the requests after the overload got 200 (%d waited too long)", ok,
                 late);
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
