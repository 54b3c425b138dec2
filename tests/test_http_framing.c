/*
 * test_http_framing.c - the head of a request as RFC 9112 wants it, against the real daemon
 * (--max-body-bytes 1m): header names with whitespace or control bytes, a NUL inside a header
 * line (a framing header's above all), a folded line, Transfer-Encoding in an HTTP/1.0 request,
 * and an HTTP/1.1 request without exactly one valid Host are refused with 400 and Connection:
 * close, before anything behind them is read as a request of its own; an absolute-form target is
 * served like its origin-form path; a NUL in the target, literal or as %00, path or query, is 400;
 * and an error answered from the headers, while the client goes on sending its body, reaches the
 * client whole - no reset under it (the connection lingers, server/linger.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"

static int setup(void **state)
{
    const char *args[] = {"--max-body-bytes", "1m", NULL};
    return test_daemon_group_setup(state, args);
}

static uint16_t port_of(void **state)
{
    return ((struct test_daemon *)*state)->port;
}

/* Sends raw bytes on a fresh connection and reads one answer; returns the connection (still
 * open) so the caller can see what follows. */
static int exchange(void **state, const void *data, size_t len, struct http_client_response *r)
{
    int fd = http_client_connect(port_of(state), HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(http_client_send(fd, data, len, HTTP_CLIENT_TIMEOUT_MS), 0);
    if (http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, r) != 0)
        fail_msg("no answer to: %.*s", (int)(len < 200 ? len : 200), (const char *)data);
    return fd;
}

/* The request is refused with atrousd's own 400 and the connection closes: nothing after the
 * head (a body that a proxy may have framed differently) is read as another request. */
static void expect_refused(void **state, const void *data, size_t len, const char *why)
{
    struct http_client_response r;
    int fd = exchange(state, data, len, &r);
    struct http_error_body e;
    if (r.status != 400)
        fail_msg("%s: expected 400, got %d %s", why, r.status, r.body ? r.body : "");
    assert_int_equal(http_error_parse(r.body, r.body_len, &e), 0);
    assert_string_equal(e.code, "invalid_argument");
    http_error_free(&e);
    const char *connection = http_client_header(&r, "Connection");
    if (connection == NULL || strcmp(connection, "close") != 0)
        fail_msg("%s: the 400 does not close the connection", why);
    http_client_response_free(&r);
    /* No second answer: the connection ends after the 400. */
    struct http_client_response more;
    if (http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &more) == 0)
        fail_msg("%s: a second answer (%d) followed the 400", why, more.status);
    close(fd);
}

static void expect_status(void **state, const void *data, size_t len, int status)
{
    struct http_client_response r;
    int fd = exchange(state, data, len, &r);
    if (r.status != status)
        fail_msg("expected %d, got %d for: %.*s", status, r.status, (int)(len < 200 ? len : 200),
                 (const char *)data);
    http_client_response_free(&r);
    close(fd);
}

#define REFUSED(s, text, why)   expect_refused(s, text, sizeof(text) - 1, why)
#define STATUS(s, text, status) expect_status(s, text, sizeof(text) - 1, status)

/* A request smuggled in a body: 34 bytes. */
#define SMUGGLED "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

static void test_framing_header_names_with_whitespace_or_control_bytes_are_400(void **state)
{
    /* libmicrohttpd 0.9.75 keeps "Content-Length " as a header of its own and reads no body:
     * the 34 bytes would be served as a second request. */
    REFUSED(state, "POST /v1/info HTTP/1.1\r\nHost: t\r\nContent-Length : 34\r\n\r\n" SMUGGLED,
            "space before the colon");
    REFUSED(state, "POST /v1/info HTTP/1.1\r\nHost: t\r\nContent-Length\t: 34\r\n\r\n" SMUGGLED,
            "tab before the colon");
    REFUSED(state, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Bad\x01Name: 1\r\n\r\n",
            "a control byte in a name");
    REFUSED(state, "GET /healthz HTTP/1.1\r\nHost: t\r\nX Bad: 1\r\n\r\n", "a space in a name");
    REFUSED(state, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-\x7f: 1\r\n\r\n", "DEL in a name");
    REFUSED(state, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n",
            "a folded line (obs-fold)");
    /* The same requests written correctly are served. */
    STATUS(state, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Good-Name_1.~!#$%&'*+^`|: 1\r\n\r\n", 200);
}

static void test_framing_a_nul_inside_a_header_line_is_400(void **state)
{
    /* libmicrohttpd reads "0<NUL>34" as 0, a proxy may read 34 or refuse: smuggling. */
    static const char length[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\0"
                                 "34\r\nX-After: 1\r\n\r\n" SMUGGLED;
    REFUSED(state, length, "a NUL inside Content-Length");
    static const char length_last[] =
        "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\0 34\r\n\r\n" SMUGGLED;
    REFUSED(state, length_last, "a NUL inside Content-Length, the last header");
    static const char length_end[] =
        "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\0\r\n\r\n";
    REFUSED(state, length_end, "a NUL ending Content-Length");
    static const char transfer[] = "POST /v1/info HTTP/1.1\r\nHost: t\r\n"
                                   "Transfer-Encoding: chunked\0, gzip\r\n\r\n0\r\n\r\n";
    REFUSED(state, transfer, "a NUL inside Transfer-Encoding");
    static const char host[] = "GET /healthz HTTP/1.1\r\nHost: t\0evil\r\n\r\n";
    REFUSED(state, host, "a NUL inside Host");
    static const char other[] = "GET /healthz HTTP/1.1\r\nX-Other: a\0b\r\nHost: t\r\n\r\n";
    REFUSED(state, other, "a NUL inside any header");
    /* Bare LF line endings are still read (RFC 9112 section 2.2 lets a recipient accept them). */
    STATUS(state, "GET /healthz HTTP/1.1\nHost: t\nX-A: 1\n\n", 200);
    STATUS(state, "GET /healthz HTTP/1.1\r\nHost: t\nX-A: 1\r\n\n", 200);
}

static void test_framing_http11_needs_exactly_one_valid_host(void **state)
{
    REFUSED(state, "GET /healthz HTTP/1.1\r\n\r\n", "HTTP/1.1 without Host");
    REFUSED(state, "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "two Host headers");
    REFUSED(state, "GET /healthz HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "Host twice, same value");
    REFUSED(state, "GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", "two Hosts in HTTP/1.0");
    REFUSED(state, "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", "a Host with a space");
    REFUSED(state, "GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n", "a Host with a slash");
    STATUS(state, "GET /healthz HTTP/1.0\r\n\r\n", 200); /* HTTP/1.0 needs none */
    STATUS(state, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", 200);
    STATUS(state, "GET /healthz HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200);
    STATUS(state, "GET /healthz HTTP/1.1\r\nHost:\r\n\r\n", 200); /* empty: allowed */
}

/* RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 request means faulty framing. A 1.0
 * intermediary does not know chunked and reads the body by Content-Length or up to the close;
 * libmicrohttpd 0.9.75 read it as chunked, so what followed the last chunk of a keep-alive 1.0
 * connection was served as a request of its own. */
static void test_framing_transfer_encoding_in_http10_is_400(void **state)
{
    REFUSED(state,
            "POST /v1/info HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n"
            "\r\n0\r\n\r\n" SMUGGLED,
            "HTTP/1.0 with Transfer-Encoding: chunked, keep-alive");
    REFUSED(state,
            "POST " HTTP_CLIENT_OP_PATH " HTTP/1.0\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            "HTTP/1.0 op with a chunked body");
    REFUSED(state,
            "GET /healthz HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "HTTP/1.0 GET with Transfer-Encoding");
    /* HTTP/1.0 framed by Content-Length, and HTTP/1.1 chunked, are read as before. */
    STATUS(state, "POST /v1/info HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}", 405);
    STATUS(state,
           "POST /v1/info HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 405);
}

static void test_framing_absolute_form_is_served_as_its_path(void **state)
{
    char request[256];
    int n = snprintf(request, sizeof(request),
                     "GET http://127.0.0.1:%u/healthz HTTP/1.1\r\nHost: ignored\r\n\r\n",
                     port_of(state));
    struct http_client_response r;
    int fd = exchange(state, request, (size_t)n, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"ok\""));
    http_client_response_free(&r);
    close(fd);
    STATUS(state, "GET HTTPS://example.com/readyz HTTP/1.1\r\nHost: x\r\n\r\n", 200);
    STATUS(state, "GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n", 404); /* path "/" */
    STATUS(state, "GET http://example.com/nope HTTP/1.1\r\nHost: x\r\n\r\n", 404);

    /* The op in binary form, query and all. */
    static const int64_t value[4] = {1, 6, 5, 3}, filters[4] = {3, 3, 4, 3};
    struct http_op_args a;
    assert_int_equal(http_op_zeros(&a, value, filters, 2), 0);
    char *target = http_op_binary_target(&a);
    size_t len = 0;
    void *body = http_op_binary_body(&a, &len);
    char absolute[1024];
    snprintf(absolute, sizeof(absolute), "http://atrousd.example:80%s", target);
    const char *headers[] = {"Content-Type: application/octet-stream", NULL};
    fd = http_client_connect(port_of(state), HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(http_client_send_request(fd, "POST", absolute, headers, body, len), 0);
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(http_client_header(&r, "X-Output-Shape"), "1,6,5,4");
    http_client_response_free(&r);
    close(fd);
    free(body);
    free(target);
    http_op_zeros_free(&a);
}

static void test_framing_a_nul_anywhere_in_the_target_is_400(void **state)
{
    REFUSED(state, "GET /healthz?x=%00 HTTP/1.1\r\nHost: t\r\n\r\n", "%00 in a query value");
    REFUSED(state,
            "POST " HTTP_CLIENT_OP_PATH "?value_shape=1,4%00,4,2&filters_shape=3,3,3,2"
            "&output_shape=1,4,4,3&rate=2&padding=SAME HTTP/1.1\r\nHost: t\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 344\r\n\r\n",
            "%00 in a binary query value");
    REFUSED(state, "GET /healthz%00 HTTP/1.1\r\nHost: t\r\n\r\n", "%00 in the path");
    static const char literal[] = "GET /healthz\0/x HTTP/1.1\r\nHost: t\r\n\r\n";
    REFUSED(state, literal, "a literal NUL in the target");
    static const char literal_query[] = "GET /healthz?a=1\0b HTTP/1.1\r\nHost: t\r\n\r\n";
    REFUSED(state, literal_query, "a literal NUL in the query");
    STATUS(state, "GET /healthz?x=%01 HTTP/1.1\r\nHost: t\r\n\r\n", 200);
}

/* The client's view of its socket: TCP_CLOSE_WAIT once the server's FIN has arrived. */
static int tcp_state(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
        return -1;
    return info.tcpi_state;
}

static void test_framing_an_early_error_is_not_reset_under_a_client_still_sending(void **state)
{
    /* 4 MiB announced, over --max-body-bytes 1m: 413 from the headers. The client does not
     * read; it waits until the answer and the server's end-of-file have arrived, then sends
     * its whole body, then reads. Without lingering, the body hits a closed socket: the
     * kernel resets the connection and the client's writes fail. */
    size_t body_len = (size_t)4 << 20;
    int fd = http_client_connect(port_of(state), HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(http_client_sendf(fd,
                                       "POST " HTTP_CLIENT_OP_PATH " HTTP/1.1\r\nHost: t\r\n"
                                       "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                                       "\r\n",
                                       body_len),
                     0);
    int64_t deadline = test_now_ms() + HTTP_CLIENT_TIMEOUT_MS;
    while (tcp_state(fd) != TCP_CLOSE_WAIT && test_now_ms() < deadline)
        test_pause_ms(5);
    assert_int_equal(tcp_state(fd), TCP_CLOSE_WAIT);
    char *body = malloc(64 << 10);
    assert_non_null(body);
    memset(body, ' ', 64 << 10);
    for (size_t sent = 0; sent < body_len; sent += 64 << 10) {
        if (http_client_send(fd, body, 64 << 10, HTTP_CLIENT_TIMEOUT_MS) != 0)
            fail_msg("sending the body failed after %zu bytes: the connection was reset", sent);
    }
    free(body);
    struct http_client_response r;
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 413);
    assert_string_equal(http_client_header(&r, "Connection"), "close");
    http_client_response_free(&r);
    assert_int_equal(http_client_wait_closed(fd, HTTP_CLIENT_TIMEOUT_MS), 0);
    close(fd);
    /* And the daemon serves on. */
    STATUS(state, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_header_names_with_whitespace_or_control_bytes_are_400),
        cmocka_unit_test(test_framing_a_nul_inside_a_header_line_is_400),
        cmocka_unit_test(test_framing_http11_needs_exactly_one_valid_host),
        cmocka_unit_test(test_framing_transfer_encoding_in_http10_is_400),
        cmocka_unit_test(test_framing_absolute_form_is_served_as_its_path),
        cmocka_unit_test(test_framing_a_nul_anywhere_in_the_target_is_400),
        cmocka_unit_test(test_framing_an_early_error_is_not_reset_under_a_client_still_sending),
    };
    return cmocka_run_group_tests(tests, setup, test_daemon_group_teardown);
}
