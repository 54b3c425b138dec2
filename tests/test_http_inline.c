/*
 * test_http_inline.c - the inline fast path (--inline-max-flops): binary op requests estimated
 * under the threshold are computed on their I/O thread, with the same answers, an "inline": 1
 * field in their access-log line, and /healthz still answering while a flood of them runs;
 * JSON requests, requests over the threshold, every request with the threshold 0, and
 * requests whose answer will be compressed (Accept-Encoding) go through the compute queue.
 *
 * The flood test checks liveness, not latency: the flood runs until the health checks are
 * done, so each check is answered while inline requests keep the I/O threads busy (a stalled
 * I/O thread would leave it unanswered, and the client's bound fail it). How fast /healthz
 * answers is a benchmark's business (make bench), not a test's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "http_client.h"

/* Flood threads, and the health checks that must be answered while they run. */
#define FLOOD_THREADS 2
#define HEALTH_CHECKS 20

static int setup(void **state)
{
    const char *args[] = {"--compute-threads", "1", NULL};
    return test_daemon_group_setup(state, args);
}

/* value 3 * filter 2 = 6: a 1x1x1x1 problem (2 FLOPs, inline-eligible by default). */
static const float one_value[1] = {3.0f};
static const float one_filter[1] = {2.0f};
static const int64_t one_output[4] = {1, 1, 1, 1};

static struct http_op_args one_by_one(void)
{
    struct http_op_args a = {
        .value_shape = {.rank = 4, .dims = {1, 1, 1, 1}},
        .value = one_value,
        .value_count = 1,
        .filters_shape = {.rank = 4, .dims = {1, 1, 1, 1}},
        .filters = one_filter,
        .filters_count = 1,
        .output_shape = one_output,
        .output_shape_len = 4,
        .rate = 1,
        .padding = "VALID",
    };
    return a;
}

/* The access-log line of a request id (malloc'd), after waiting for it. */
static char *log_line(const struct test_daemon *d, const char *id)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "\"request_id\":\"%s\"", id);
    assert_int_equal(test_daemon_wait_log(d, needle, 10000), 0);
    char *log = test_daemon_log(d);
    assert_non_null(log);
    char *start = strstr(log, needle);
    assert_non_null(start);
    while (start > log && start[-1] != '\n')
        start--;
    size_t len = strcspn(start, "\n");
    char *line = strndup(start, len);
    free(log);
    return line;
}

/* Sends the 1x1x1x1 problem in a form with a request id and checks the answer 6. */
static void call_one(const struct test_daemon *d, enum http_op_form form, const char *id)
{
    char header[128];
    snprintf(header, sizeof(header), "X-Request-Id: %s", id);
    const char *headers[] = {header, NULL};
    struct http_op_args a = one_by_one();
    struct http_client_response r;
    struct http_op_output out;
    assert_int_equal(http_op_call(d->port, &a, form, NULL, headers, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(http_op_parse(&r, &out), 0);
    assert_int_equal(out.count, 1);
    assert_true(out.data[0] == 6.0f);
    http_op_output_free(&out);
    http_client_response_free(&r);
}

static void test_http_inline_binary_answers_and_is_logged_inline(void **state)
{
    const struct test_daemon *d = *state;
    call_one(d, HTTP_OP_BINARY, "inline-binary-1");
    char *line = log_line(d, "inline-binary-1");
    if (strstr(line, "\"inline\":1") == NULL)
        fail_msg("a tiny binary request was not computed inline: %s", line);
    assert_non_null(strstr(line, "\"queue_us\":0"));
    free(line);
}

static void test_http_json_is_never_inline(void **state)
{
    const struct test_daemon *d = *state;
    call_one(d, HTTP_OP_JSON, "inline-json-1");
    char *line = log_line(d, "inline-json-1");
    if (strstr(line, "\"inline\"") != NULL)
        fail_msg("a JSON request was computed inline: %s", line);
    free(line);
}

/* A binary op cheap enough to be inline whose 1 KiB answer the client asks gzip for is deflated
 * on a worker, not on the I/O thread; its 4-byte answer (under --compress-min-bytes) stays
 * inline with the same header. */
static void test_http_compressed_answers_are_not_inline(void **state)
{
    const struct test_daemon *d = *state;
    static const int64_t value[4] = {1, 8, 8, 4};
    static const int64_t filters[4] = {3, 3, 4, 4};
    struct http_op_args a;
    assert_int_equal(http_op_zeros(&a, value, filters, 2), 0);
    const char *ids[] = {"inline-gzip-1", "inline-plain-1"};
    for (int i = 0; i < 2; i++) {
        char id[64];
        snprintf(id, sizeof(id), "X-Request-Id: %s", ids[i]);
        const char *headers[] = {id, i == 0 ? "Accept-Encoding: gzip" : NULL, NULL};
        struct http_client_response r;
        assert_int_equal(http_op_call(d->port, &a, HTTP_OP_BINARY, NULL, headers, &r), 0);
        assert_int_equal(r.status, 200);
        const char *coding = http_client_header(&r, "Content-Encoding");
        assert_true(i == 0 ? coding != NULL && strcmp(coding, "gzip") == 0 : coding == NULL);
        http_client_response_free(&r);
        char *line = log_line(d, ids[i]);
        if ((strstr(line, "\"inline\":1") != NULL) != (i == 1))
            fail_msg("%s: %s", i == 0 ? "a compressed answer was made inline" : "not inline", line);
        free(line);
    }
    http_op_zeros_free(&a);
    const char *gzip[] = {"X-Request-Id: inline-gzip-small", "Accept-Encoding: gzip", NULL};
    struct http_op_args one = one_by_one();
    struct http_client_response r;
    assert_int_equal(http_op_call(d->port, &one, HTTP_OP_BINARY, NULL, gzip, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(http_client_header(&r, "Content-Encoding"));
    http_client_response_free(&r);
    char *line = log_line(d, "inline-gzip-small");
    if (strstr(line, "\"inline\":1") == NULL)
        fail_msg("a 4-byte answer under --compress-min-bytes was not inline: %s", line);
    free(line);
}

static void test_http_inline_threshold_zero_queues_everything(void **state)
{
    (void)state;
    struct test_daemon d;
    char why[256];
    const char *args[] = {"--compute-threads", "1", "--inline-max-flops", "0", NULL};
    if (test_daemon_start(&d, args, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    call_one(&d, HTTP_OP_BINARY, "inline-off-1");
    char *line = log_line(&d, "inline-off-1");
    if (strstr(line, "\"inline\"") != NULL)
        fail_msg("--inline-max-flops 0 still computed inline: %s", line);
    free(line);
    assert_int_equal(test_daemon_stop(&d), 0);
}

struct flood {
    const struct test_daemon *d;
    struct http_op_args args;
    atomic_bool stop;
    atomic_int ok, failed;
};

/* Sends inline-eligible 1x32x32x16 -> 16 requests (4.7 MFLOP each) until told to stop. */
static void *flood_main(void *arg)
{
    struct flood *f = arg;
    while (!atomic_load(&f->stop)) {
        struct http_client_response r;
        if (http_op_call(f->d->port, &f->args, HTTP_OP_BINARY, NULL, NULL, &r) != 0) {
            atomic_fetch_add(&f->failed, 1);
            continue;
        }
        atomic_fetch_add(r.status == 200 ? &f->ok : &f->failed, 1);
        http_client_response_free(&r);
    }
    return NULL;
}

static void test_http_healthz_answers_during_an_inline_flood(void **state)
{
    const struct test_daemon *d = *state;
    static const int64_t value[4] = {1, 32, 32, 16};
    static const int64_t filters[4] = {3, 3, 16, 16};
    struct flood f = {.d = d};
    assert_int_equal(http_op_zeros(&f.args, value, filters, 2), 0);
    pthread_t threads[FLOOD_THREADS];
    for (int i = 0; i < FLOOD_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, flood_main, &f), 0);
    /* The flood is under way before the first check. */
    while (atomic_load(&f.ok) + atomic_load(&f.failed) == 0)
        test_pause_ms(1);
    int answered = 0;
    for (int i = 0; i < HEALTH_CHECKS; i++) {
        struct http_client_response r;
        if (http_client_request(d->port, "GET", "/healthz", NULL, NULL, 0, &r) != 0)
            break; /* no answer within the client's bound */
        answered += r.status == 200;
        http_client_response_free(&r);
    }
    atomic_store(&f.stop, true);
    for (int i = 0; i < FLOOD_THREADS; i++)
        pthread_join(threads[i], NULL);
    http_op_zeros_free(&f.args);
    if (answered != HEALTH_CHECKS)
        fail_msg("%d of %d health checks answered 200 during the inline flood", answered,
                 HEALTH_CHECKS);
    assert_true(atomic_load(&f.ok) > 0);
    assert_int_equal(atomic_load(&f.failed), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_inline_binary_answers_and_is_logged_inline),
        cmocka_unit_test(test_http_json_is_never_inline),
        cmocka_unit_test(test_http_compressed_answers_are_not_inline),
        cmocka_unit_test(test_http_inline_threshold_zero_queues_everything),
        cmocka_unit_test(test_http_healthz_answers_during_an_inline_flood),
    };
    return cmocka_run_group_tests(tests, setup, test_daemon_group_teardown);
}
