/*
 * test_http_limits.c - the daemon's limits over sockets: 413 from Content-Length before the
 * body is read, 413 for chunked bodies counted as they arrive (and a closed connection far
 * past the limit), 400 too_large for tensors and outputs over their element limits (a size
 * computed from shapes is not content: DESIGN.md section 3), 503 before the body is read when
 * the memory budget (--max-memory-bytes) cannot take a request's worst case now (400 too_large
 * when it never could), and idle connections cut off after --connection-timeout (recorded as
 * 408).
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

#define MAX_BODY 65536
/* One 60000-byte JSON upload's worst case fits (body, 4x for decoding, 64 KiB of overhead:
 * 365536 bytes, server/governor.h), two do not. */
#define MAX_MEMORY         "500000"
#define UPLOAD_WORST_BYTES 365536

static int setup(void **state)
{
    const char *args[] = {"--max-body-bytes",
                          "64k",
                          "--max-memory-bytes",
                          MAX_MEMORY,
                          "--max-tensor-elements",
                          "4096",
                          "--max-output-elements",
                          "8192",
                          "--connection-timeout",
                          "2",
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
        assert_non_null(strstr(e.error, field));
    }
    http_error_free(&e);
}

/* Opens a connection and sends the headers of a JSON op request with this Content-Length
 * value (or chunked when length is NULL); no body. */
static int open_upload(const struct test_daemon *d, const char *length)
{
    int fd = http_client_connect(d->port, HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    int rc = length ? http_client_sendf(fd,
                                        "POST " HTTP_CLIENT_OP_PATH " HTTP/1.1\r\nHost: t\r\n"
                                        "Content-Type: application/json\r\n"
                                        "Content-Length: %s\r\n\r\n",
                                        length)
                    : http_client_sendf(fd, "POST " HTTP_CLIENT_OP_PATH " HTTP/1.1\r\nHost: t\r\n"
                                            "Content-Type: application/json\r\n"
                                            "Transfer-Encoding: chunked\r\n\r\n");
    assert_int_equal(rc, 0);
    return fd;
}

static void assert_healthy(const struct test_daemon *d)
{
    struct http_client_response r;
    assert_int_equal(http_client_request(d->port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
}

static void test_http_content_length_over_limit_is_413_before_the_body(void **state)
{
    /* A lying Content-Length: no body byte is ever sent, yet the answer comes. */
    const char *lengths[] = {"10485760", "999999999999999"};
    for (size_t i = 0; i < 2; i++) {
        int fd = open_upload(*state, lengths[i]);
        struct http_client_response r;
        assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
        assert_error(&r, 413, "too_large", "body");
        assert_string_equal(http_client_header(&r, "Connection"), "close");
        http_client_response_free(&r);
        assert_int_equal(http_client_wait_closed(fd, HTTP_CLIENT_TIMEOUT_MS), 0);
        close(fd);
    }
}

/* Sends size bytes of JSON whitespace in 4 KiB chunks; stops quietly if the server closes. */
static void send_chunks(int fd, size_t size)
{
    char chunk[4096];
    memset(chunk, ' ', sizeof(chunk));
    for (size_t sent = 0; sent < size; sent += sizeof(chunk)) {
        if (http_client_sendf(fd, "%zx\r\n", sizeof(chunk)) != 0 ||
            http_client_send(fd, chunk, sizeof(chunk), HTTP_CLIENT_TIMEOUT_MS) != 0 ||
            http_client_sendf(fd, "\r\n") != 0)
            return;
    }
    http_client_sendf(fd, "0\r\n\r\n");
}

static void test_http_chunked_body_over_limit_is_413(void **state)
{
    int fd = open_upload(*state, NULL);
    send_chunks(fd, MAX_BODY + 8192);
    struct http_client_response r;
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_error(&r, 413, "too_large", "body");
    http_client_response_free(&r);
    close(fd);
}

static void test_http_chunked_body_far_over_limit_is_cut_off(void **state)
{
    /* Past the limit plus the 1 MiB grace the server stops reading and closes. */
    int fd = open_upload(*state, NULL);
    send_chunks(fd, (size_t)4 << 20);
    assert_int_equal(http_client_wait_closed(fd, HTTP_CLIENT_TIMEOUT_MS), 0);
    close(fd);
    assert_healthy(*state);
}

static void test_http_tensor_over_element_limit_is_400_too_large(void **state)
{
    const struct test_daemon *d = *state;
    /* value 1x64x64x2 = 8192 elements > 4096. The binary form is refused from its query. */
    static float value[8192], filters[2 * 3];
    const int64_t out_shape[] = {1, 64, 64, 3};
    struct http_op_args a = {
        .value_shape = {4, {1, 64, 64, 2}},
        .value = value,
        .value_count = 8192,
        .filters_shape = {4, {1, 1, 3, 2}},
        .filters = filters,
        .filters_count = 6,
        .output_shape = out_shape,
        .output_shape_len = 4,
        .rate = 1,
        .padding = "SAME",
    };
    struct http_client_response r;
    for (int form = HTTP_OP_JSON; form <= HTTP_OP_BINARY; form++) {
        assert_int_equal(http_op_call(d->port, &a, (enum http_op_form)form, NULL, NULL, &r), 0);
        assert_error(&r, 400, "too_large", "value");
        http_client_response_free(&r);
    }
}

static void test_http_output_over_element_limit_is_400_too_large(void **state)
{
    const struct test_daemon *d = *state;
    /* output 1x8x8x200 = 12800 elements > 8192, inputs small. */
    static float value[64], filters[200];
    const int64_t out_shape[] = {1, 8, 8, 200};
    struct http_op_args a = {
        .value_shape = {4, {1, 8, 8, 1}},
        .value = value,
        .value_count = 64,
        .filters_shape = {4, {1, 1, 200, 1}},
        .filters = filters,
        .filters_count = 200,
        .output_shape = out_shape,
        .output_shape_len = 4,
        .rate = 2,
        .padding = "SAME",
    };
    struct http_client_response r;
    for (int form = HTTP_OP_JSON; form <= HTTP_OP_BINARY; form++) {
        assert_int_equal(http_op_call(d->port, &a, (enum http_op_form)form, NULL, NULL, &r), 0);
        assert_error(&r, 400, "too_large", "output_shape");
        http_client_response_free(&r);
    }
}

static void test_http_memory_budget_full_is_503_before_the_body(void **state)
{
    /* The first upload holds its worst case of the budget while the rest of its body is
     * awaited (half of it sent: 29 s more before --connection-timeout 2 would cut it, however
     * loaded the machine); the second cannot get its own and is told to retry, from its
     * headers alone. */
    assert_int_equal(
        test_daemon_wait_metric_at_most(*state, "atrousd_memory_budget_in_use_bytes", 0, 10000), 0);
    int first = open_upload(*state, "60000");
    char half[30000];
    memset(half, ' ', sizeof(half));
    assert_int_equal(http_client_send(first, half, sizeof(half), HTTP_CLIENT_TIMEOUT_MS), 0);
    const struct test_daemon *d = *state;
    assert_int_equal(
        test_daemon_wait_metric(d, "atrousd_memory_budget_in_use_bytes", UPLOAD_WORST_BYTES, 10000),
        0);
    int second = open_upload(*state, "60000");
    struct http_client_response r;
    assert_int_equal(http_client_read(second, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_error(&r, 503, "resource_exhausted", NULL);
    assert_string_equal(http_client_header(&r, "Retry-After"), "1");
    http_client_response_free(&r);
    close(second);
    close(first);
}

static void test_http_chunked_body_gets_its_decoding_reserved_when_complete(void **state)
{
    /* A chunked JSON upload holds the body's cap (64 KiB + 1.5 x 64 KiB = 163840) while it
     * arrives; its decoding (4x) is reserved once the body is complete and its size known:
     * 64 KiB + 64 KiB (its buffer) + 4 x 64 KiB = 393216. With another upload holding
     * 165536 meanwhile, that no longer fits in 500000: 503 after the body, with Retry-After.
     * Both send most of their bodies at once: each KiB received gives a second more before
     * --connection-timeout 2 would cut them off, whatever the machine's load. */
    const struct test_daemon *d = *state;
    /* The previous test's uploads are closed, but the daemon may not have seen it yet. */
    assert_int_equal(
        test_daemon_wait_metric_at_most(d, "atrousd_memory_budget_in_use_bytes", 0, 10000), 0);
    int chunked = open_upload(d, NULL);
    char chunk[4096];
    memset(chunk, ' ', sizeof(chunk));
    for (int i = 0; i < 14; i++) {
        assert_int_equal(http_client_sendf(chunked, "%zx\r\n", sizeof(chunk)), 0);
        assert_int_equal(http_client_send(chunked, chunk, sizeof(chunk), HTTP_CLIENT_TIMEOUT_MS),
                         0);
        assert_int_equal(http_client_sendf(chunked, "\r\n"), 0);
    }
    assert_int_equal(
        test_daemon_wait_metric(d, "atrousd_memory_budget_in_use_bytes", 163840, 10000), 0);
    int other = open_upload(d, "20000");
    for (int i = 0; i < 4; i++)
        assert_int_equal(http_client_send(other, chunk, sizeof(chunk), HTTP_CLIENT_TIMEOUT_MS), 0);
    assert_int_equal(
        test_daemon_wait_metric(d, "atrousd_memory_budget_in_use_bytes", 163840 + 165536, 10000),
        0);
    assert_int_equal(http_client_sendf(chunked, "0\r\n\r\n"), 0);
    struct http_client_response r;
    assert_int_equal(http_client_read(chunked, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_error(&r, 503, "resource_exhausted", NULL);
    assert_string_equal(http_client_header(&r, "Retry-After"), "1");
    http_client_response_free(&r);
    close(chunked);
    close(other);
    assert_int_equal(
        test_daemon_wait_metric_at_most(d, "atrousd_memory_budget_in_use_bytes", 0, 10000), 0);
}

static void test_http_request_larger_than_the_whole_budget_is_400_too_large(void **state)
{
    /* A KServe JSON part counts 100 bytes per byte against the budget (its worst case): 8000
     * bytes of it (64 KiB + 8000 + 800000) can never fit in 500000, whatever else is held, so
     * it is not asked to retry; the refusal comes from the headers and names the remedy. */
    const struct test_daemon *d = *state;
    int fd = http_client_connect(d->port, HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(http_client_sendf(fd, "POST /v2/models/atrous_conv2d_transpose/infer "
                                           "HTTP/1.1\r\nHost: t\r\nContent-Type: "
                                           "application/json\r\nContent-Length: 8000\r\n\r\n"),
                     0);
    struct http_client_response r;
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_error(&r, 400, "too_large", "body");
    assert_non_null(strstr(r.body, "--max-memory-bytes"));
    assert_non_null(strstr(r.body, "binary tensor extension"));
    assert_null(http_client_header(&r, "Retry-After"));
    http_client_response_free(&r);
    close(fd);
}

static void test_http_idle_connection_is_cut_off_and_logged_as_408(void **state)
{
    const struct test_daemon *d = *state;
    int fd = http_client_connect(d->port, HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    /* Half a request, then silence: libmicrohttpd closes it after --connection-timeout 2. */
    assert_int_equal(http_client_sendf(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: "
                                           "stalled-client-1\r\n"),
                     0);
    assert_int_equal(http_client_wait_closed(fd, HTTP_CLIENT_TIMEOUT_MS), 0);
    close(fd);
    assert_int_equal(test_daemon_wait_log(d, "\"status\":408", 10000), 0);
    assert_healthy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_content_length_over_limit_is_413_before_the_body),
        cmocka_unit_test(test_http_chunked_body_over_limit_is_413),
        cmocka_unit_test(test_http_chunked_body_far_over_limit_is_cut_off),
        cmocka_unit_test(test_http_tensor_over_element_limit_is_400_too_large),
        cmocka_unit_test(test_http_output_over_element_limit_is_400_too_large),
        cmocka_unit_test(test_http_memory_budget_full_is_503_before_the_body),
        cmocka_unit_test(test_http_chunked_body_gets_its_decoding_reserved_when_complete),
        cmocka_unit_test(test_http_request_larger_than_the_whole_budget_is_400_too_large),
        cmocka_unit_test(test_http_idle_connection_is_cut_off_and_logged_as_408),
    };
    return cmocka_run_group_tests(tests, setup, test_daemon_group_teardown);
}
