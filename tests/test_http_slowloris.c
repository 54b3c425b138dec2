/*
 * test_http_slowloris.c - slow clients against the real daemon (--connection-timeout 2): a
 * client trickling its request line, its headers or its body one byte a second is cut off
 * once the request is late (libmicrohttpd's own timeout only counts idle time, which such a
 * client never reaches; server/deadline.h), and the cut is logged as 408. While an attacker
 * keeps 200 such connections open (opening a new one for every one cut off), normal requests
 * are answered correctly. The attack lasts until every slow connection has been cut at least
 * once and enough normal requests were answered (bounded): nothing here asserts how fast.
 *
 * The file-descriptor limit is raised to its hard limit first (the daemon inherits it); when
 * the hard limit is too low for 200 connections, the attack uses as many as fit and says so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"

#define TIMEOUT_S "2"
/* Slow connections the attacker keeps open; the attack lasts at least ATTACK_MS, and at most
 * ATTACK_MAX_MS waiting for every slow connection to be cut and NORMAL_REQUESTS answered. */
#define SLOW_CONNECTIONS 200
#define ATTACK_MS        6000
#define ATTACK_MAX_MS    60000
#define NORMAL_REQUESTS  20
/* Descriptors kept for everything else (the daemon's own, the test's). */
#define FD_RESERVE 64
/* Each slow connection sends one byte this often. */
#define TRICKLE_MS 1000
/* How long a trickle may go on before the test gives up on the daemon cutting it. */
#define TRICKLE_MAX_MS 20000

static const int64_t small_value[4] = {1, 6, 5, 3};
static const int64_t small_filters[4] = {3, 3, 4, 3};

/* Slow connections that fit under the descriptor limit, raised to the hard limit. */
static size_t slow_connections_possible(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return 0;
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
        getrlimit(RLIMIT_NOFILE, &lim);
    }
    if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= SLOW_CONNECTIONS + FD_RESERVE)
        return SLOW_CONNECTIONS;
    size_t n = lim.rlim_cur > FD_RESERVE ? (size_t)lim.rlim_cur - FD_RESERVE : 0;
    fprintf(stderr, "RLIMIT_NOFILE hard limit %llu: the attack uses %zu slow connections\n",
            (unsigned long long)lim.rlim_cur, n);
    return n;
}

static int setup(void **state)
{
    slow_connections_possible(); /* before the daemon starts: it inherits the limit */
    const char *args[] = {"--connection-timeout", TIMEOUT_S, "--max-connections", "512", NULL};
    return test_daemon_group_setup(state, args);
}

/* One slow client: a socket, what it sends first, and when it sends its next byte. */
struct slow {
    int fd;
    int64_t next_ms;
    int64_t opened_ms;
};

static int slow_open(const struct test_daemon *d, struct slow *s, const char *prefix)
{
    /* Before connecting: the daemon's deadline for it starts later, when it accepts. */
    s->opened_ms = test_now_ms();
    s->fd = http_client_connect(d->port, HTTP_CLIENT_TIMEOUT_MS);
    if (s->fd < 0)
        return -1;
    s->next_ms = s->opened_ms + TRICKLE_MS;
    return http_client_send(s->fd, prefix, strlen(prefix), HTTP_CLIENT_TIMEOUT_MS);
}

/* Sends the next byte when due and notices a close by the server. Returns true when the
 * connection was cut off (its socket is closed then). */
static bool slow_step(struct slow *s, int64_t now)
{
    char buf[512];
    ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
    bool closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    if (!closed && now >= s->next_ms) {
        closed = send(s->fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN;
        s->next_ms = now + TRICKLE_MS;
    }
    if (closed) {
        close(s->fd);
        s->fd = -1;
    }
    return closed;
}

static size_t count_occurrences(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_slowloris_trickling_clients_are_cut_off(void **state)
{
    struct test_daemon *d = *state;
    /* Request line, headers and body, each one byte a second. */
    const char *prefixes[] = {
        "G",
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: slow-headers\r\nX-Slow: ",
        "POST " HTTP_CLIENT_OP_PATH " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\nX-Request-Id: slow-body\r\n\r\n{",
    };
    struct slow slow[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(slow_open(d, &slow[i], prefixes[i]), 0);
    int64_t cut_ms[3] = {0, 0, 0};
    int left = 3;
    for (int64_t deadline = test_now_ms() + TRICKLE_MAX_MS; left > 0 && test_now_ms() < deadline;) {
        int64_t now = test_now_ms();
        for (int i = 0; i < 3; i++) {
            if (slow[i].fd >= 0 && slow_step(&slow[i], now)) {
                cut_ms[i] = now - slow[i].opened_ms;
                left--;
            }
        }
        test_pause_ms(20);
    }
    for (int i = 0; i < 3; i++) {
        if (slow[i].fd >= 0)
            fail_msg("slow client %d (%s...) still connected after 20 s", i, prefixes[i]);
        /* Never before the 2 s timeout (the deadline starts once the daemon has accepted the
         * connection, after opened_ms; libmicrohttpd's idle timer reads a coarse clock, a
         * tick or two behind). That it is cut at all, though each byte restarted that idle
         * timer, is the check above. */
        if (cut_ms[i] < 2000 - 100)
            fail_msg("slow client %d cut off after %lld ms", i, (long long)cut_ms[i]);
    }
    /* The two whose request line had arrived are in the access log as 408 (the one cut in
     * its headers before its X-Request-Id was read, under a generated id). */
    assert_int_equal(test_daemon_wait_log(d, "\"request_id\":\"slow-body\"", 10000), 0);
    char *log = test_daemon_log(d);
    const char *line = strstr(log, "\"request_id\":\"slow-body\"");
    const char *end = strchr(line, '\n');
    const char *status = strstr(line, "\"status\":408");
    assert_true(status != NULL && (end == NULL || status < end));
    free(log);
    /* The log flusher writes lines in batches: the other 408 may reach the log after
     * slow-body's, so wait until both are there (then check there is no third). */
    size_t late = 0;
    for (int64_t deadline = test_now_ms() + 10000; test_now_ms() < deadline; test_pause_ms(20)) {
        log = test_daemon_log(d);
        late = count_occurrences(log, "request not received within");
        free(log);
        if (late >= 2)
            break;
    }
    assert_int_equal(late, 2);
}

static void test_slowloris_200_slow_connections_do_not_stop_normal_requests(void **state)
{
    struct test_daemon *d = *state;
    size_t count = slow_connections_possible();
    if (count < 20)
        skip();
    struct slow *slow = calloc(count, sizeof(*slow));
    assert_non_null(slow);
    const char *prefix = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    for (size_t i = 0; i < count; i++)
        assert_int_equal(slow_open(d, &slow[i], prefix), 0);
    /* They hold connections: all are open at the daemon. */
    struct http_op_args a;
    assert_int_equal(http_op_zeros(&a, small_value, small_filters, 2), 0);
    size_t cut = 0, normal = 0;
    bool *was_cut = calloc(count, sizeof(*was_cut));
    assert_non_null(was_cut);
    size_t all_cut = 0;
    int64_t worst_ms = 0;
    int64_t start = test_now_ms();
    while (test_now_ms() - start < ATTACK_MS || ((all_cut < count || normal < NORMAL_REQUESTS) &&
                                                 test_now_ms() - start < ATTACK_MAX_MS)) {
        int64_t now = test_now_ms();
        for (size_t i = 0; i < count; i++) {
            if (slow[i].fd >= 0 && slow_step(&slow[i], now)) {
                cut++;
                all_cut += !was_cut[i];
                was_cut[i] = true;
            }
            /* The attacker replaces every connection it loses. */
            if (slow[i].fd < 0)
                assert_int_equal(slow_open(d, &slow[i], prefix), 0);
        }
        struct http_client_response r;
        int64_t t0 = test_now_ms();
        enum http_op_form form = normal % 2 ? HTTP_OP_BINARY : HTTP_OP_JSON;
        assert_int_equal(http_op_call(d->port, &a, form, NULL, NULL, &r), 0);
        int64_t took = test_now_ms() - t0;
        worst_ms = took > worst_ms ? took : worst_ms;
        assert_int_equal(r.status, 200);
        struct http_op_output out;
        assert_int_equal(http_op_parse(&r, &out), 0);
        assert_int_equal(out.count, 1 * 6 * 5 * 4);
        for (size_t k = 0; k < out.count; k++)
            assert_true(out.data[k] == 0.0f);
        http_op_output_free(&out);
        http_client_response_free(&r);
        normal++;
        test_pause_ms(20);
    }
    fprintf(stderr,
            "slowloris: %zu slow connections held for %lld ms, %zu cut off and replaced; %zu "
            "normal requests all 200, slowest %lld ms\n",
            count, (long long)(test_now_ms() - start), cut, normal, (long long)worst_ms);
    /* Every slow connection was cut at least once, and normal requests were served meanwhile. */
    assert_int_equal(all_cut, count);
    assert_true(normal >= NORMAL_REQUESTS);
    free(was_cut);
    for (size_t i = 0; i < count; i++) {
        if (slow[i].fd >= 0)
            close(slow[i].fd);
    }
    free(slow);
    http_op_zeros_free(&a);
    struct http_client_response r;
    assert_int_equal(http_client_request(d->port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slowloris_trickling_clients_are_cut_off),
        cmocka_unit_test(test_slowloris_200_slow_connections_do_not_stop_normal_requests),
    };
    return cmocka_run_group_tests(tests, setup, test_daemon_group_teardown);
}
