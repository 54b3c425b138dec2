/*
 * test_http_limits.c - the daemon's limits over sockets: 413 from Content-Length before the
 * body is read, 413 for chunked bodies counted as they arrive (and a closed connection far
 * past the limit), 400 too_large for tensors and outputs over their element limits (a size
 * computed from shapes is not content: DESIGN.md section 3), 429 when request
 * bodies would exceed --max-buffered-bytes, and idle connections cut off after
 * --connection-timeout (recorded as 408).
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

#define MAX_BODY     65536
#define MAX_BUFFERED 100000

static int setup(void **state)
{
    const char *args[] = {"--max-body-bytes",
                          "64k",
                          "--max-buffered-bytes",
                          "100000",
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

static void test_http_buffered_bodies_over_budget_are_429(void **state)
{
    /* The first upload holds 60000 bytes of the 100000 budget while it waits for its body;
     * the second cannot get its 60000 and is told to retry at once. */
    int first = open_upload(*state, "60000");
    const struct test_daemon *d = *state;
    assert_int_equal(
        test_daemon_wait_metric(d, "atrousd_request_body_buffered_bytes", 60000, 10000), 0);
    int second = open_upload(*state, "60000");
    struct http_client_response r;
    assert_int_equal(http_client_read(second, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_error(&r, 429, "resource_exhausted", NULL);
    assert_string_equal(http_client_header(&r, "Retry-After"), "1");
    http_client_response_free(&r);
    close(second);
    close(first);
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
        cmocka_unit_test(test_http_buffered_bodies_over_budget_are_429),
        cmocka_unit_test(test_http_idle_connection_is_cut_off_and_logged_as_408),
    };
    return cmocka_run_group_tests(tests, setup, test_daemon_group_teardown);
}
