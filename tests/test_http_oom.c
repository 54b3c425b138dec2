/*
 * test_http_oom.c - out of memory during a request, simulated: this test binary defines
 * aligned_alloc(3) itself, which every allocation that grows with a request goes through
 * (atrous_aligned_alloc: decoded tensors, misaligned binary bodies, the output, and the
 * engine's weights and workspace buffers). Armed on the test's own thread only, it fails the
 * k-th such allocation of one request, for every k until the request no longer allocates
 * that many times; the request runs through atrousd_handle() (the handlers the daemon's
 * workers run) in both request forms and both answer forms.
 *
 * Every answer must be 200 or 503 out_of_memory (never a crash, a 500 or a leak: make check
 * runs this under LeakSanitizer). What is not simulated: failures of small fixed-size malloc
 * calls (JSON writer buffers, jansson, libmicrohttpd's pool), which ASan's own allocator
 * would not let a test interpose safely; and the HTTP body buffer (server/http.c), which
 * goes through the same atrous_aligned_alloc and answers 503 the same way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "http_client.h"
#include "server_ctx.h"

/* Armed on this thread: the number of aligned allocations left before one fails (0 fails
 * the next one); -1 = disarmed. */
static _Thread_local long allocations_left = -1;
/* Set when an armed allocation failed. */
static _Thread_local int failed_one;

void *aligned_alloc(size_t alignment, size_t size)
{
    static void *(*real)(size_t, size_t);
    if (real == NULL)
        real = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    if (allocations_left == 0) {
        allocations_left = -1;
        failed_one = 1;
        errno = ENOMEM;
        return NULL;
    }
    if (allocations_left > 0)
        allocations_left--;
    return real(alignment, size);
}

static int setup(void **state)
{
    struct atrousd_config cfg;
    struct atrousd_cpus cpus = {.affinity = 1, .usable = 1};
    struct atrousd_thread_budget budget = {.compute_workers = 1, .omp_threads = 1};
    struct atrous_error err;
    struct server_ctx *ctx = NULL;
    atrousd_config_defaults(&cfg);
    if (atrousd_ctx_create(&cfg, &cpus, &budget, &ctx, &err) != ATROUS_OK)
        return -1;
    atomic_store(&ctx->ready, true);
    *state = ctx;
    return 0;
}

static int teardown(void **state)
{
    atrousd_ctx_free(*state);
    return 0;
}

/* Fails the k-th aligned allocation of the request for k = 0, 1, ... until the request runs
 * without reaching the k-th; every answer is 200 or 503 out_of_memory. Returns how many
 * failures were injected. */
static int run_with_failures(struct server_ctx *ctx, const struct http_exchange *ex)
{
    int injected = 0;
    for (long k = 0; k < 1000; k++) {
        struct http_reply reply;
        http_reply_init(&reply);
        failed_one = 0;
        allocations_left = k;
        atrousd_handle(ctx, ex, &reply);
        allocations_left = -1;
        if (!failed_one) {
            assert_int_equal(reply.status, 200);
            http_reply_release(&reply);
            return injected;
        }
        injected++;
        if (reply.status != 200) {
            struct http_error_body e;
            if (reply.status != 503)
                fail_msg("allocation %ld failed: status %u (%s)", k, reply.status,
                         reply.error_message);
            assert_int_equal(http_error_parse(reply.body, reply.body_len, &e), 0);
            assert_string_equal(e.code, "out_of_memory");
            assert_int_equal(reply.retry_after_s, ATROUSD_RETRY_AFTER_S);
            http_error_free(&e);
        }
        http_reply_release(&reply);
    }
    fail_msg("the request still allocated after 1000 injected failures");
    return injected;
}

/* A problem large enough to use the engine's own buffers: 1x8x8x4 -> 3x3x5x4, rate 2. */
static void args(struct http_op_args *a)
{
    static const int64_t value[4] = {1, 8, 8, 4}, filters[4] = {3, 3, 5, 4};
    assert_int_equal(http_op_zeros(a, value, filters, 2), 0);
}

static void test_oom_json_request_is_503_never_a_crash(void **state)
{
    struct http_op_args a;
    size_t len = 0;
    args(&a);
    char *json = http_op_json(&a, &len);
    assert_non_null(json);
    const char *accepts[] = {NULL, "application/octet-stream"};
    for (int i = 0; i < 2; i++) {
        struct http_exchange ex = {
            .method = "POST",
            .path = ATROUSD_OP_PATH,
            .content_type = "application/json",
            .accept = accepts[i],
            .request_id = "oom-test",
            .body = json,
            .body_len = len,
        };
        int injected = run_with_failures(*state, &ex);
        fprintf(stderr, "JSON request, %s answer: %d allocation failures, each answered\n",
                accepts[i] ? "binary" : "JSON", injected);
        assert_true(injected >= 2); /* at least the tensors and the output */
    }
    free(json);
    http_op_zeros_free(&a);
}

static void test_oom_binary_request_is_503_never_a_crash(void **state)
{
    struct http_op_args a;
    size_t len = 0;
    args(&a);
    char *target = http_op_binary_target(&a);
    void *body = http_op_binary_body(&a, &len);
    assert_non_null(target);
    assert_non_null(body);
    /* The query as libmicrohttpd would hand it over: key=value pairs after the '?'. */
    struct atrous_query_param query[8];
    size_t count = 0;
    char *save = NULL;
    for (char *pair = strtok_r(strchr(target, '?') + 1, "&", &save); pair && count < 8;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        *eq = '\0';
        query[count++] = (struct atrous_query_param){pair, eq + 1};
    }
    /* Aligned and misaligned bodies (the latter is copied, one more allocation). */
    unsigned char *copy = malloc(len + 1);
    assert_non_null(copy);
    memcpy(copy + 1, body, len);
    const void *bodies[] = {body, copy + 1};
    const char *accepts[] = {NULL, "application/json"};
    for (int i = 0; i < 2; i++) {
        struct http_exchange ex = {
            .method = "POST",
            .path = ATROUSD_OP_PATH,
            .content_type = "application/octet-stream",
            .accept = accepts[i],
            .request_id = "oom-test",
            .query = query,
            .query_count = count,
            .body = bodies[i],
            .body_len = len,
        };
        int injected = run_with_failures(*state, &ex);
        fprintf(stderr,
                "binary request (%s body), %s answer: %d allocation failures, each "
                "answered\n",
                i ? "misaligned" : "aligned", accepts[i] ? "JSON" : "binary", injected);
        assert_true(injected >= 1);
    }
    free(copy);
    free(body);
    free(target);
    http_op_zeros_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_json_request_is_503_never_a_crash),
        cmocka_unit_test(test_oom_binary_request_is_503_never_a_crash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
