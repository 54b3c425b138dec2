/*
 * test_http_hostile.c - a catalogue of hostile input against the running daemon: truncated
 * and non-UTF-8 JSON, 10^5-deep nesting, numbers out of float range, duplicate keys, bad and
 * overflowing shapes, data that does not match its shape, lying Content-Length, bodies one
 * byte over the limit (declared or chunked), wrong Content-Type, unknown and repeated query
 * keys, absurd rates, outputs of terabytes, path tricks, very long URLs, header floods and
 * ambiguous framing.
 *
 * Every case asserts the exact status, and for atrousd's own answers the JSON error body with
 * its code and the field at fault. Cases that libmicrohttpd answers itself (its HTML 400, 413,
 * 414, 431, 505, or a close without an answer) assert what it actually does. Every test ends
 * by proving that the daemon is still alive and still computes the right answer in both
 * forms; the last one checks that no request context or body memory was left behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "corpus.h"
#include "daemon.h"
#include "http_client.h"
#include "http_fixture.h"

/* The corpus case every test ends with, in both forms. */
#define SAMPLE_CASE "sweep_k2x2_r2_same"
/* --max-body-bytes of the daemon under test. */
#define MAX_BODY (1024 * 1024)
/* --connection-timeout (seconds): a stalled upload is cut off after it. */
#define CONN_TIMEOUT_S 3
/* Levels of nesting sent by the deep-nesting cases. */
#define DEEP 100000

/* A small valid problem written by hand: value 1x2x2x1, filters 2x2x1x1 of ones, rate 2,
 * VALID, output 1x4x4x1. OP_JSON(value, filters, output_shape, rate) fills in the rest. */
#define VALUE_OK   "{\"shape\": [1,2,2,1], \"data\": [1,2,3,4]}"
#define FILTERS_OK "{\"shape\": [2,2,1,1], \"data\": [1,1,1,1]}"
#define OP_JSON(value, filters, output_shape, rate)                                                \
    "{\"value\": " value ", \"filters\": " filters ", \"output_shape\": " output_shape             \
    ", \"rate\": " rate ", \"padding\": \"VALID\"}"
#define SMALL_OK OP_JSON(VALUE_OK, FILTERS_OK, "[1,4,4,1]", "2")
/* Its binary query (32 bytes of body: 4 value and 4 filter floats). */
#define SMALL_QUERY                                                                                \
    HTTP_CLIENT_OP_PATH "?value_shape=1,2,2,1&filters_shape=2,2,1,1&output_shape=1,4,4,1"
#define SMALL_BODY_BYTES 32

static int setup(void **state)
{
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", CONN_TIMEOUT_S);
    const char *args[] = {"--max-body-bytes", "1m", "--connection-timeout", timeout, NULL};
    return http_fixture_setup(state, SAMPLE_CASE, args);
}

static int teardown(void **state)
{
    return http_fixture_teardown(state);
}

static uint16_t port_of(void **state)
{
    return ((struct http_fixture *)*state)->daemon->port;
}

/* --- the proof after every case --------------------------------------------------------- */

/* The daemon still runs, /healthz answers, and the sample case comes back right as JSON and
 * as binary. */
static void assert_still_serving(void **state)
{
    struct http_fixture *f = *state;
    assert_true(test_daemon_alive(f->daemon));
    struct http_client_response r;
    assert_int_equal(http_client_request(port_of(state), "GET", "/healthz", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    for (int form = HTTP_OP_JSON; form <= HTTP_OP_BINARY; form++) {
        struct http_op_output out;
        char why[512];
        assert_int_equal(
            http_op_call(port_of(state), &f->args, (enum http_op_form)form, NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(http_op_parse(&r, &out), 0);
        int rc = http_op_check(&out, &f->sample.expected_shape, f->sample.expected,
                               f->sample.expected_count, why, sizeof(why));
        if (rc != 0)
            fail_msg("after a hostile case the sample answer is wrong: %s", why);
        http_op_output_free(&out);
        http_client_response_free(&r);
    }
}

/* --- sending and asserting -------------------------------------------------------------- */

/* Sends raw bytes on a fresh connection and reads one answer. A failed send is ignored: the
 * server may close early (431) and its answer is still there to read. */
static int raw_exchange(void **state, const void *data, size_t len, struct http_client_response *r)
{
    int fd = http_client_connect(port_of(state), HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    (void)http_client_send(fd, data, len, HTTP_CLIENT_TIMEOUT_MS);
    int rc = http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, r);
    close(fd);
    return rc;
}

/* POSTs body to the op with a Content-Type (NULL: none) and reads the answer. */
static void post(void **state, const char *target, const char *content_type, const void *body,
                 size_t len, struct http_client_response *r)
{
    char header[256];
    snprintf(header, sizeof(header), "Content-Type: %s", content_type ? content_type : "");
    const char *headers[] = {content_type ? header : NULL, NULL};
    assert_int_equal(
        http_client_request(port_of(state), "POST", target, headers, body ? body : "", len, r), 0);
}

static void post_json(void **state, const char *body, size_t len, struct http_client_response *r)
{
    post(state, HTTP_CLIENT_OP_PATH, "application/json", body, len, r);
}

/* POSTs a binary request with len zero bytes of body. */
static void post_binary(void **state, const char *target, size_t len,
                        struct http_client_response *r)
{
    void *zeros = calloc(1, len + 1);
    assert_non_null(zeros);
    post(state, target, "application/octet-stream", zeros, len, r);
    free(zeros);
}

/* An atrousd error answer: status, JSON body with code, field (NULL: null) named in the
 * message too, and the request id echoed in header and body. */
static void assert_error(const struct http_client_response *r, int status, const char *code,
                         const char *field)
{
    struct http_error_body e;
    if (r->status != status)
        fail_msg("expected %d, got %d: %.300s", status, r->status, r->body ? r->body : "");
    assert_string_equal(http_client_header(r, "Content-Type"), "application/json");
    assert_int_equal(http_error_parse(r->body, r->body_len, &e), 0);
    assert_string_equal(e.code, code);
    if (field == NULL) {
        if (e.field != NULL)
            fail_msg("expected field null, got \"%s\": %s", e.field, e.error);
    } else {
        if (e.field == NULL || strcmp(e.field, field) != 0)
            fail_msg("expected field \"%s\", got %s%s%s: %s", field, e.field ? "\"" : "",
                     e.field ? e.field : "null", e.field ? "\"" : "", e.error);
        assert_non_null(strstr(e.error, field));
    }
    assert_non_null(http_client_header(r, "X-Request-Id"));
    assert_string_equal(e.request_id, http_client_header(r, "X-Request-Id"));
    http_error_free(&e);
}

static void expect_json(void **state, const char *body, int status, const char *code,
                        const char *field)
{
    struct http_client_response r;
    post_json(state, body, strlen(body), &r);
    assert_error(&r, status, code, field);
    http_client_response_free(&r);
}

static void expect_binary(void **state, const char *target, size_t len, int status,
                          const char *code, const char *field)
{
    struct http_client_response r;
    post_binary(state, target, len, &r);
    assert_error(&r, status, code, field);
    http_client_response_free(&r);
}

/* An answer libmicrohttpd wrote itself: the status, its HTML (no X-Request-Id: atrousd never
 * saw the request) and Connection: close. */
static void assert_mhd_answer(const struct http_client_response *r, int status)
{
    assert_int_equal(r->status, status);
    assert_null(http_client_header(r, "X-Request-Id"));
    const char *connection = http_client_header(r, "Connection");
    assert_non_null(connection);
    assert_string_equal(connection, "close");
}

/* A malloc'd string: prefix, n copies of unit, suffix. */
static char *repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
    size_t lp = strlen(prefix), lu = strlen(unit), ls = strlen(suffix);
    char *s = malloc(lp + lu * n + ls + 1);
    assert_non_null(s);
    memcpy(s, prefix, lp);
    for (size_t i = 0; i < n; i++)
        memcpy(s + lp + i * lu, unit, lu);
    memcpy(s + lp + lu * n, suffix, ls + 1);
    return s;
}

/* --- JSON bodies ------------------------------------------------------------------------- */

static void test_hostile_truncated_json_is_400(void **state)
{
    /* Every prefix of a valid body, cut anywhere, is malformed JSON; the answer is a 400 that
     * names no field (the body is not a document) or the field the cut fell into. */
    const char *body = SMALL_OK;
    size_t len = strlen(body);
    for (size_t cut = 0; cut < len; cut++) {
        struct http_client_response r;
        struct http_error_body e;
        post_json(state, body, cut, &r);
        if (r.status != 400)
            fail_msg("prefix of %zu bytes: expected 400, got %d", cut, r.status);
        assert_int_equal(http_error_parse(r.body, r.body_len, &e), 0);
        assert_string_equal(e.code, "invalid_argument");
        assert_true(e.field == NULL || strstr(e.error, e.field) != NULL);
        http_error_free(&e);
        http_client_response_free(&r);
    }
    assert_still_serving(state);
}

static void test_hostile_non_utf8_json_is_400(void **state)
{
    static const char *const bodies[] = {
        /* a lone continuation byte, an invalid lead byte, an overlong '/', a UTF-16
         * surrogate encoded as UTF-8, a sequence cut short, a code point past U+10FFFF */
        "{\"padding\": \"\x80\"}",
        "{\"padding\": \"\xff\xfe\"}",
        "{\"padding\": \"\xc0\xaf\"}",
        "{\"padding\": \"\xed\xa0\x80\"}",
        "{\"val\xc3\": 1}",
        "{\"padding\": \"\xf4\x90\x80\x80\"}",
        /* bytes outside any string */
        "\xef\xbb\xbf{}",
        "{\"rate\": 2\xa0}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        expect_json(state, bodies[i], 400, "invalid_argument", NULL);
    /* Escaped lone surrogates are not characters either. */
    expect_json(state, "{\"padding\": \"\\ud800\"}", 400, "invalid_argument", NULL);
    expect_json(state, "{\"padding\": \"\\udc00\\ud800\"}", 400, "invalid_argument", NULL);
    /* NUL bytes, inside a string and after the document. */
    static const char nul_in_string[] = "{\"padding\": \"VALID\0\"}";
    static const char nul_after[] = "{\"rate\": 2}\0";
    struct http_client_response r;
    post_json(state, nul_in_string, sizeof(nul_in_string) - 1, &r);
    assert_error(&r, 400, "invalid_argument", NULL);
    http_client_response_free(&r);
    post_json(state, nul_after, sizeof(nul_after) - 1, &r);
    assert_error(&r, 400, "invalid_argument", NULL);
    http_client_response_free(&r);
    assert_still_serving(state);
}

static void test_hostile_deep_nesting_is_400(void **state)
{
    /* 10^5 levels, closed and unclosed, wherever a value may stand: the decoder stops at its
     * depth limit (or at the first value of the wrong kind) without recursing that deep. */
    struct {
        const char *prefix, *unit, *suffix;
        const char *field;
    } cases[] = {
        {"{\"value\": ", "[", "", "value"},
        {"{\"value\": {\"shape\": [1], \"data\": ", "[", "}}", "value"},
        {"{\"filters\": {\"shape\": ", "[", "}}", "filters"},
        {"{\"rate\": ", "[", "}", "rate"},
        {"{\"output_shape\": ", "{\"a\":", "}", "output_shape"},
        {"{\"zzz\": ", "[", "}", "zzz"},
        {"{\"a\":", "{\"a\":", "}", "a"},
        {"", "[", "", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *open = repeat(cases[i].prefix, cases[i].unit, DEEP, cases[i].suffix);
        expect_json(state, open, 400, "invalid_argument", cases[i].field);
        free(open);
    }
    char *closed = repeat("{\"value\": ", "[", DEEP, "");
    char *both = repeat(closed, "]", DEEP, "}");
    expect_json(state, both, 400, "invalid_argument", "value");
    free(both);
    free(closed);
    assert_still_serving(state);
}

static void test_hostile_numbers_out_of_float_range_are_400(void **state)
{
    expect_json(
        state,
        OP_JSON("{\"shape\": [1,2,2,1], \"data\": [1e39,2,3,4]}", FILTERS_OK, "[1,4,4,1]", "2"),
        400, "invalid_argument", "value");
    expect_json(
        state,
        OP_JSON("{\"shape\": [1,2,2,1], \"data\": [1,-3.5e38,3,4]}", FILTERS_OK, "[1,4,4,1]", "2"),
        400, "invalid_argument", "value");
    expect_json(
        state,
        OP_JSON("{\"shape\": [1,2,2,1], \"data\": [1,2,1e400,4]}", FILTERS_OK, "[1,4,4,1]", "2"),
        400, "invalid_argument", "value");
    expect_json(
        state,
        OP_JSON(VALUE_OK, "{\"shape\": [2,2,1,1], \"data\": [1,1,1,-1e309]}", "[1,4,4,1]", "2"),
        400, "invalid_argument", "filters");
    /* A 60000-digit integer is a number too, and far out of range. */
    char *digits =
        repeat("{\"value\": {\"shape\": [1,2,2,1], \"data\": [1", "0", 60000,
               ",2,3,4]}, \"filters\": " FILTERS_OK ", \"output_shape\": [1,4,4,1], \"rate\": 2, "
               "\"padding\": \"VALID\"}");
    expect_json(state, digits, 400, "invalid_argument", "value");
    free(digits);
    /* Integers: out of the int64 range, fractional, or a lowercase non-number. */
    expect_json(state, OP_JSON(VALUE_OK, FILTERS_OK, "[1,4e400,4,1]", "2"), 400, "invalid_argument",
                "output_shape");
    expect_json(state, OP_JSON(VALUE_OK, FILTERS_OK, "[1,4.5,4,1]", "2"), 400, "invalid_argument",
                "output_shape");
    expect_json(state, OP_JSON(VALUE_OK, FILTERS_OK, "[1,4,4,1]", "1e400"), 400, "invalid_argument",
                "rate");
    expect_json(state, OP_JSON(VALUE_OK, FILTERS_OK, "[1,4,4,1]", "2.5"), 400, "invalid_argument",
                "rate");
    expect_json(state, OP_JSON(VALUE_OK, FILTERS_OK, "[1,4,4,1]", "-0"), 400, "invalid_argument",
                "rate");
    expect_json(
        state,
        OP_JSON("{\"shape\": [1,2,2,1], \"data\": [nan,2,3,4]}", FILTERS_OK, "[1,4,4,1]", "2"), 400,
        "invalid_argument", NULL);
    /* Underflow is not an error: 1e-400 is 0, as TensorFlow reads it. */
    struct http_client_response r;
    const char *tiny =
        OP_JSON("{\"shape\": [1,2,2,1], \"data\": [1e-400,2,3,4]}", FILTERS_OK, "[1,4,4,1]", "2.0");
    post_json(state, tiny, strlen(tiny), &r);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    assert_still_serving(state);
}

static void test_hostile_duplicate_keys_are_400(void **state)
{
    expect_json(state,
                "{\"value\": " VALUE_OK ", \"filters\": " FILTERS_OK ", \"output_shape\": "
                "[1,4,4,1], \"rate\": 2, \"rate\": 3, \"padding\": \"VALID\"}",
                400, "invalid_argument", "rate");
    expect_json(state,
                "{\"value\": " VALUE_OK ", \"value\": " VALUE_OK ", \"filters\": " FILTERS_OK
                ", \"output_shape\": [1,4,4,1], \"rate\": 2, \"padding\": \"VALID\"}",
                400, "invalid_argument", "value");
    expect_json(state,
                OP_JSON("{\"shape\": [1,2,2,1], \"shape\": [1,2,2,1], \"data\": [1,2,3,4]}",
                        FILTERS_OK, "[1,4,4,1]", "2"),
                400, "invalid_argument", "value");
    expect_json(state,
                OP_JSON(VALUE_OK, "{\"shape\": [2,2,1,1], \"data\": [1,1,1,1], \"data\": []}",
                        "[1,4,4,1]", "2"),
                400, "invalid_argument", "filters");
    expect_json(state,
                "{\"dtype\": \"float32\", \"value\": " VALUE_OK ", \"filters\": " FILTERS_OK
                ", \"output_shape\": [1,4,4,1], \"rate\": 2, \"padding\": \"VALID\", "
                "\"dtype\": \"float32\"}",
                400, "invalid_argument", "dtype");
    assert_still_serving(state);
}

static void test_hostile_bad_dims_are_rejected_by_name(void **state)
{
    static const struct {
        const char *shape;
        int status;
        bool too_large; /* a size computed from the shape over a limit: 400 too_large */
    } value_shapes[] = {
        {"[1,-2,2,1]", 400, false},
        {"[1,2.5,2,1]", 400, false},
        {"[1,\"2\",2,1]", 400, false},
        {"[1,true,2,1]", 400, false},
        {"[1,null,2,1]", 400, false},
        {"[1e300,1,1,1]", 400, false},
        {"[1,1,1,1,1,1,1,1,1]", 400, false},
        {"{\"0\": 1}", 400, false},
        {"[1,99999999999,2,1]", 400, true},
        {"[1,2,2,2]", 400, false},
        {"[-9223372036854775808,1,1,1]", 400, false},
    };
    for (size_t i = 0; i < sizeof(value_shapes) / sizeof(value_shapes[0]); i++) {
        char body[512];
        snprintf(body, sizeof(body),
                 OP_JSON("{\"shape\": %s, \"data\": [1,2,3,4]}", FILTERS_OK, "[1,4,4,1]", "2"),
                 value_shapes[i].shape);
        expect_json(state, body, value_shapes[i].status,
                    value_shapes[i].too_large ? "too_large" : "invalid_argument", "value");
    }
    /* Filters must have every dimension >= 1; output_shape must be 4 positive-fitting ints. */
    expect_json(state, OP_JSON(VALUE_OK, "{\"shape\": [0,2,1,1], \"data\": []}", "[1,2,4,1]", "2"),
                400, "invalid_argument", "filters");
    expect_json(state,
                OP_JSON(VALUE_OK, "{\"shape\": [2,2,-1,1], \"data\": [1,1,1,1]}", "[1,4,4,1]", "2"),
                400, "invalid_argument", "filters");
    expect_json(state, OP_JSON(VALUE_OK, FILTERS_OK, "[1,-4,4,1]", "2"), 400, "invalid_argument",
                "output_shape");
    expect_json(state, OP_JSON(VALUE_OK, FILTERS_OK, "[1,4,4]", "2"), 400, "invalid_argument",
                "output_shape");
    expect_json(state, OP_JSON(VALUE_OK, FILTERS_OK, "[]", "2"), 400, "invalid_argument",
                "output_shape");
    /* The binary form's lists. */
    static const struct {
        const char *query;
        int status;
        const char *field;
        bool too_large;
    } queries[] = {
        {"value_shape=1,-2,2,1&filters_shape=2,2,1,1", 400, "value", false},
        {"value_shape=1,2.5,2,1&filters_shape=2,2,1,1", 400, "value", false},
        {"value_shape=1,,2,1&filters_shape=2,2,1,1", 400, "value", false},
        {"value_shape=1,2,2,1,&filters_shape=2,2,1,1", 400, "value", false},
        {"value_shape=+1,2,2,1&filters_shape=2,2,1,1", 400, "value", false},
        {"value_shape=1%202,2,1&filters_shape=2,2,1,1", 400, "value", false},
        {"value_shape=1,2,2,1&filters_shape=2,2,1,x", 400, "filters", false},
        {"value_shape=1,99999999999,2,1&filters_shape=2,2,1,1", 400, "value", true},
        {"value_shape=1,2,2,1&filters_shape=2,2,99999999999,1", 400, "filters", true},
    };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        char target[512];
        snprintf(target, sizeof(target),
                 HTTP_CLIENT_OP_PATH "?%s&output_shape=1,4,4,1&rate=2&padding=VALID",
                 queries[i].query);
        expect_binary(state, target, SMALL_BODY_BYTES, queries[i].status,
                      queries[i].too_large ? "too_large" : "invalid_argument", queries[i].field);
    }
    /* Zero is a legal size: an empty batch or an empty image computes an empty or zero
     * output of the right shape, never a crash in the engine. */
    static const char *const empty_ok[] = {
        OP_JSON("{\"shape\": [0,2,2,1], \"data\": []}", FILTERS_OK, "[0,4,4,1]", "2"),
        OP_JSON("{\"shape\": [1,0,2,1], \"data\": []}", FILTERS_OK, "[1,2,4,1]", "2"),
        OP_JSON("{\"shape\": [1,0,0,1], \"data\": []}", FILTERS_OK, "[1,2,2,1]", "2"),
    };
    for (size_t i = 0; i < sizeof(empty_ok) / sizeof(empty_ok[0]); i++) {
        struct http_client_response r;
        post_json(state, empty_ok[i], strlen(empty_ok[i]), &r);
        assert_int_equal(r.status, 200);
        http_client_response_free(&r);
    }
    assert_still_serving(state);
}

static void test_hostile_element_counts_overflowing_64_bits_are_too_large(void **state)
{
    /* Products past 2^64: 2^32 four times, INT64_MAX squared. */
    expect_json(state,
                OP_JSON("{\"shape\": [4294967296,4294967296,4294967296,4294967296], \"data\": []}",
                        FILTERS_OK, "[1,4,4,1]", "2"),
                400, "too_large", "value");
    expect_json(state,
                OP_JSON("{\"shape\": [9223372036854775807,9223372036854775807,1,1], \"data\": []}",
                        FILTERS_OK, "[1,4,4,1]", "2"),
                400, "too_large", "value");
    expect_json(state,
                OP_JSON(VALUE_OK, "{\"shape\": [4294967296,4294967296,4294967296,1], \"data\": []}",
                        "[1,4,4,1]", "2"),
                400, "too_large", "filters");
    expect_binary(state,
                  HTTP_CLIENT_OP_PATH "?value_shape=4294967296,4294967296,4294967296,4294967296"
                                      "&filters_shape=2,2,1,1&output_shape=1,4,4,1&rate=2"
                                      "&padding=VALID",
                  SMALL_BODY_BYTES, 400, "too_large", "value");
    expect_binary(state,
                  HTTP_CLIENT_OP_PATH "?value_shape=1,2,2,1&filters_shape=9223372036854775807,"
                                      "9223372036854775807,1,1&output_shape=1,4,4,1&rate=2"
                                      "&padding=VALID",
                  SMALL_BODY_BYTES, 400, "too_large", "filters");
    /* An output_shape whose product overflows is refused by the shape rule first. */
    expect_json(state,
                OP_JSON(VALUE_OK, FILTERS_OK,
                        "[9223372036854775807,9223372036854775807,9223372036854775807,1]", "2"),
                400, "invalid_argument", "output_shape");
    assert_still_serving(state);
}

static void test_hostile_data_not_matching_shape_is_400(void **state)
{
    expect_json(state,
                OP_JSON("{\"shape\": [1,2,2,1], \"data\": [1,2,3]}", FILTERS_OK, "[1,4,4,1]", "2"),
                400, "invalid_argument", "value");
    expect_json(
        state,
        OP_JSON("{\"shape\": [1,2,2,1], \"data\": [1,2,3,4,5]}", FILTERS_OK, "[1,4,4,1]", "2"), 400,
        "invalid_argument", "value");
    expect_json(state, OP_JSON(VALUE_OK, "{\"shape\": [2,2,1,1], \"data\": []}", "[1,4,4,1]", "2"),
                400, "invalid_argument", "filters");
    /* Nested arrays that are not rectangular. */
    expect_json(state, OP_JSON("[[[[1],[2]],[[3]]]]", FILTERS_OK, "[1,4,4,1]", "2"), 400,
                "invalid_argument", "value");
    /* Binary bodies (with an honest Content-Length) shorter, longer, empty. */
    const size_t sizes[] = {SMALL_BODY_BYTES - 4, SMALL_BODY_BYTES - 1, SMALL_BODY_BYTES + 4, 0};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        expect_binary(state, SMALL_QUERY "&rate=2&padding=VALID", sizes[i], 400, "invalid_argument",
                      "body");
    assert_still_serving(state);
}

/* --- HTTP framing and limits ------------------------------------------------------------ */

/* Opens a connection and sends the headers of a POST to the op with a Content-Type, a
 * Content-Length value (NULL: chunked) and optional extra header lines. */
static int open_post(void **state, const char *target, const char *content_type, const char *length,
                     const char *extra)
{
    int fd = http_client_connect(port_of(state), HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    int rc = http_client_sendf(
        fd, "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: %s\r\n%s%s%s%s\r\n", target, content_type,
        length ? "Content-Length: " : "", length ? length : "Transfer-Encoding: chunked", "\r\n",
        extra ? extra : "");
    assert_int_equal(rc, 0);
    return fd;
}

/* The sample JSON padded with trailing spaces to exactly size bytes (malloc'd). */
static char *padded_json(void **state, size_t size)
{
    struct http_fixture *f = *state;
    size_t len = 0;
    char *json = http_op_json(&f->args, &len);
    assert_non_null(json);
    assert_true(len <= size);
    char *body = malloc(size);
    assert_non_null(body);
    memcpy(body, json, len);
    memset(body + len, ' ', size - len);
    free(json);
    return body;
}

/* Sends body as chunks of at most 4 KiB and the last chunk. */
static void send_chunked(int fd, const char *body, size_t len)
{
    for (size_t off = 0; off < len; off += 4096) {
        size_t n = len - off < 4096 ? len - off : 4096;
        if (http_client_sendf(fd, "%zx\r\n", n) != 0 ||
            http_client_send(fd, body + off, n, HTTP_CLIENT_TIMEOUT_MS) != 0 ||
            http_client_sendf(fd, "\r\n") != 0)
            return;
    }
    http_client_sendf(fd, "0\r\n\r\n");
}

static void test_hostile_content_length_lies(void **state)
{
    struct http_client_response r;
    const char *json = SMALL_OK;
    /* Short: the server reads only what was declared, which is not a document. */
    int fd = open_post(state, HTTP_CLIENT_OP_PATH, "application/json", "10", NULL);
    assert_int_equal(http_client_send(fd, json, strlen(json), HTTP_CLIENT_TIMEOUT_MS), 0);
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_error(&r, 400, "invalid_argument", NULL);
    http_client_response_free(&r);
    close(fd);
    /* Binary, short or long: refused from the headers, before any body byte. */
    const char *binary_lengths[] = {"8", "40"};
    for (size_t i = 0; i < 2; i++) {
        fd = open_post(state, SMALL_QUERY "&rate=2&padding=VALID", "application/octet-stream",
                       binary_lengths[i], NULL);
        assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
        assert_error(&r, 400, "invalid_argument", "body");
        assert_string_equal(http_client_header(&r, "Connection"), "close");
        http_client_response_free(&r);
        close(fd);
    }
    /* Long, and the client half-closes: no answer can be complete, and the connection is
     * closed without one. (libmicrohttpd 0.9.75 under epoll notices a FIN that arrives
     * together with the last data only at --connection-timeout, so no time is asserted.) */
    char length[32];
    snprintf(length, sizeof(length), "%zu", strlen(json) + 100);
    fd = open_post(state, HTTP_CLIENT_OP_PATH, "application/json", length, NULL);
    assert_int_equal(http_client_send(fd, json, strlen(json), HTTP_CLIENT_TIMEOUT_MS), 0);
    shutdown(fd, SHUT_WR);
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), -1);
    close(fd);
    /* Long, and the client stalls: cut off after --connection-timeout, logged as 408. */
    /* t0 before the request: the daemon's timeout for it can only start later. */
    int64_t t0 = test_now_ms();
    fd = open_post(state, HTTP_CLIENT_OP_PATH, "application/json", length,
                   "X-Request-Id: hostile-long-content-length\r\n");
    assert_int_equal(http_client_send(fd, json, strlen(json), HTTP_CLIENT_TIMEOUT_MS), 0);
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), -1);
    /* libmicrohttpd's idle timer reads CLOCK_MONOTONIC_COARSE (a tick or two behind). */
    assert_true(test_now_ms() - t0 >= CONN_TIMEOUT_S * 1000 - 100);
    close(fd);
    struct http_fixture *f = *state;
    assert_int_equal(test_daemon_wait_log(f->daemon, "hostile-long-content-length", 10000), 0);
    char *log = test_daemon_log(f->daemon);
    const char *line = strstr(log, "\"request_id\":\"hostile-long-content-length\"");
    assert_non_null(line);
    const char *end = strchr(line, '\n');
    const char *status = strstr(line, "\"status\":408");
    assert_true(status != NULL && (end == NULL || status < end));
    free(log);
    assert_still_serving(state);
}

static void test_hostile_body_limit_one_byte_over_is_413(void **state)
{
    struct http_client_response r;
    char length[32];
    /* Declared: refused before the body, the connection closed. */
    snprintf(length, sizeof(length), "%d", MAX_BODY + 1);
    int fd = open_post(state, HTTP_CLIENT_OP_PATH, "application/json", length, NULL);
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_error(&r, 413, "too_large", "body");
    assert_string_equal(http_client_header(&r, "Connection"), "close");
    http_client_response_free(&r);
    assert_int_equal(http_client_wait_closed(fd, HTTP_CLIENT_TIMEOUT_MS), 0);
    close(fd);
    /* Exactly at the limit is served. */
    char *body = padded_json(state, MAX_BODY + 1);
    post_json(state, body, MAX_BODY, &r);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    /* Chunked: counted as it arrives; one byte over is 413, exactly at the limit is 200. */
    const size_t sizes[] = {MAX_BODY + 1, MAX_BODY};
    for (size_t i = 0; i < 2; i++) {
        fd = open_post(state, HTTP_CLIENT_OP_PATH, "application/json", NULL, NULL);
        send_chunked(fd, body, sizes[i]);
        assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
        if (sizes[i] > MAX_BODY)
            assert_error(&r, 413, "too_large", "body");
        else
            assert_int_equal(r.status, 200);
        http_client_response_free(&r);
        close(fd);
    }
    free(body);
    /* Binary: a query implying 8 bytes over the limit (float32 granularity) is refused from
     * the query; exactly at the limit is served. */
    expect_binary(state,
                  HTTP_CLIENT_OP_PATH "?value_shape=1,1,1,131073&filters_shape=1,1,1,131073"
                                      "&output_shape=1,1,1,1&rate=2&padding=SAME",
                  0, 413, "too_large", "body");
    post_binary(state,
                HTTP_CLIENT_OP_PATH "?value_shape=1,1,1,131072&filters_shape=1,1,1,131072"
                                    "&output_shape=1,1,1,1&rate=2&padding=SAME",
                MAX_BODY, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(http_client_header(&r, "X-Output-Shape"), "1,1,1,1");
    http_client_response_free(&r);
    assert_still_serving(state);
}

static void test_hostile_wrong_content_type_is_415(void **state)
{
    static const char *const types[] = {
        NULL,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "json",
        "application/",
        "application/octet-stream-x",
    };
    const char *json = SMALL_OK;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct http_client_response r;
        post(state, HTTP_CLIENT_OP_PATH, types[i], json, strlen(json), &r);
        assert_error(&r, 415, "unsupported_media_type", NULL);
        http_client_response_free(&r);
    }
    /* A body in a coding other than gzip and deflate is refused too. */
    struct http_client_response r;
    const char *headers[] = {"Content-Type: application/json", "Content-Encoding: br", NULL};
    assert_int_equal(http_client_request(port_of(state), "POST", HTTP_CLIENT_OP_PATH, headers, json,
                                         strlen(json), &r),
                     0);
    assert_error(&r, 415, "unsupported_media_type", NULL);
    http_client_response_free(&r);
    /* A JSON body sent as binary, and binary sent as JSON: the declared form is decoded. */
    post(state, HTTP_CLIENT_OP_PATH, "application/octet-stream", json, strlen(json), &r);
    assert_error(&r, 400, "invalid_argument", "value");
    http_client_response_free(&r);
    char zeros[SMALL_BODY_BYTES] = {0};
    post(state, SMALL_QUERY "&rate=2&padding=VALID", "application/json", zeros, sizeof(zeros), &r);
    assert_error(&r, 400, "invalid_argument", NULL);
    http_client_response_free(&r);
    assert_still_serving(state);
}

static void test_hostile_unknown_and_repeated_query_keys_are_400(void **state)
{
    static const struct {
        const char *extra;
        const char *field;
    } cases[] = {
        {"&rate=2&padding=VALID&extra=1", "extra"},
        {"&rate=2&padding=VALID&Rate=2", "Rate"},
        {"&rate=2&padding=VALID&rate=2", "rate"},
        {"&rate=2&padding=VALID&padding=SAME", "padding"},
        {"&rate=2&padding=VALID&value_shape=1,2,2,1", "value"},
        {"&rate=2&padding", "padding"},
        {"&rate=2&padding=VALID&a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12", "query"},
        {"&rate=2&padding=VALID&=x", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char target[512];
        snprintf(target, sizeof(target), SMALL_QUERY "%s", cases[i].extra);
        expect_binary(state, target, SMALL_BODY_BYTES, 400, "invalid_argument", cases[i].field);
    }
    /* The JSON form takes everything from its body and ignores the query (as TF Serving
     * does), even a query that names the op's arguments. */
    struct http_client_response r;
    const char *json = SMALL_OK;
    post(state, HTTP_CLIENT_OP_PATH "?rate=7&rate=9&unknown=1", "application/json", json,
         strlen(json), &r);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    assert_still_serving(state);
}

static void test_hostile_absurd_rates_are_rejected_by_name(void **state)
{
    static const char *const rates[] = {"2147483647", "1356819205"};
    for (size_t i = 0; i < 2; i++) {
        char body[1024], target[512];
        /* The output shape cannot fit: 400 naming output_shape, in both forms. */
        snprintf(body, sizeof(body), "%s", SMALL_OK);
        char *at = strstr(body, "\"rate\": 2");
        assert_non_null(at);
        snprintf(at, sizeof(body) - (size_t)(at - body), "\"rate\": %s, \"padding\": \"VALID\"}",
                 rates[i]);
        expect_json(state, body, 400, "invalid_argument", "output_shape");
        snprintf(target, sizeof(target), SMALL_QUERY "&rate=%s&padding=SAME", rates[i]);
        expect_binary(state, target, SMALL_BODY_BYTES, 400, "invalid_argument", "output_shape");
        /* The output shape that would fit spans billions of pixels a side: too_large on the rate,
         * before any allocation (400 too_large: a computed size, not content). */
        long long side = atoll(rates[i]) + 1;
        snprintf(
            body, sizeof(body),
            OP_JSON("{\"shape\": [1,1,1,1], \"data\": [1]}", FILTERS_OK, "[1,%lld,%lld,1]", "%s"),
            side, side, rates[i]);
        expect_json(state, body, 400, "too_large", "rate");
        snprintf(target, sizeof(target),
                 HTTP_CLIENT_OP_PATH "?value_shape=1,1,1,1&filters_shape=2,2,1,1"
                                     "&output_shape=1,%lld,%lld,1&rate=%s&padding=VALID",
                 side, side, rates[i]);
        expect_binary(state, target, 20, 400, "too_large", "rate");
    }
    static const char *const bad[] = {
        "9223372036854775807", "9223372036854775808", "-2147483648", "0", "-1",
        "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char target[512];
        snprintf(target, sizeof(target), SMALL_QUERY "&rate=%s&padding=VALID", bad[i]);
        expect_binary(state, target, SMALL_BODY_BYTES, 400, "invalid_argument", "rate");
    }
    assert_still_serving(state);
}

/* The daemon's peak resident memory in KiB (VmHWM), or -1. */
static long peak_rss_kib(void **state)
{
    struct http_fixture *f = *state;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)f->daemon->pid);
    FILE *in = fopen(path, "re");
    long kib = -1;
    while (in != NULL && fgets(line, sizeof(line), in) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    }
    if (in != NULL)
        fclose(in);
    return kib;
}

static void test_hostile_terabyte_output_is_too_large_before_allocation(void **state)
{
    /* value 1x1x1x1, filters 2x2xOCx1 at rate 10^6, VALID: the output is 1 x 1000001 x
     * 1000001 x OC, 4 TB per output channel. The limit is checked on the shapes; the peak
     * resident memory of the daemon does not move. */
    long before = peak_rss_kib(state);
    assert_true(before > 0);
    expect_json(state,
                OP_JSON("{\"shape\": [1,1,1,1], \"data\": [1]}", FILTERS_OK,
                        "[1,1000001,1000001,1]", "1000000"),
                400, "too_large", "output_shape");
    expect_binary(state,
                  HTTP_CLIENT_OP_PATH "?value_shape=1,1,1,1&filters_shape=2,2,1,1"
                                      "&output_shape=1,1000001,1000001,1&rate=1000000"
                                      "&padding=VALID",
                  20, 400, "too_large", "output_shape");
    expect_binary(state,
                  HTTP_CLIENT_OP_PATH "?value_shape=1,1,1,1&filters_shape=2,2,4096,1"
                                      "&output_shape=1,4097,4097,4096&rate=4096&padding=VALID",
                  4 * (1 + 4 * 4096), 400, "too_large", "output_shape");
    long after = peak_rss_kib(state);
    assert_true(after - before < 64 * 1024);
    assert_still_serving(state);
}

/* --- paths, URLs, headers, request lines --------------------------------------------------- */

static void test_hostile_path_tricks_are_404(void **state)
{
    static const char *const targets[] = {
        "/v1/../healthz",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/v1/atrous_conv2d_transpose/../../../etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "//healthz",
        "/healthz/",
        "/healthz/.",
        "/HEALTHZ",
        "/healthz%2500",
        "/v1/info;.js",
        "http://127.0.0.1/healthz/", /* absolute-form is served as its path (test_http_framing) */
        "*",
        "",
    };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        struct http_client_response r;
        char request[512];
        int n = snprintf(request, sizeof(request),
                         "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", targets[i]);
        assert_int_equal(raw_exchange(state, request, (size_t)n, &r), 0);
        if (targets[i][0] == '\0') {
            assert_mhd_answer(&r, 400); /* "GET  HTTP/1.1": no target at all */
        } else {
            assert_error(&r, 404, "not_found", NULL);
        }
        http_client_response_free(&r);
    }
    /* A percent-encoded NUL would cut the decoded path or a query value short
     * ("/healthz%00.txt" reading as /healthz): refused, wherever it is in the target. */
    static const char *const nul_paths[] = {"/healthz%00.txt", "/%00", "/v1/info%00/x?a=1",
                                            "/healthz?x=%00"};
    for (size_t i = 0; i < sizeof(nul_paths) / sizeof(nul_paths[0]); i++) {
        struct http_client_response r;
        assert_int_equal(
            http_client_request(port_of(state), "GET", nul_paths[i], NULL, NULL, 0, &r), 0);
        assert_error(&r, 400, "invalid_argument", NULL);
        assert_string_equal(http_client_header(&r, "Connection"), "close");
        http_client_response_free(&r);
    }
    assert_still_serving(state);
}

static void test_hostile_very_long_urls(void **state)
{
    struct http_client_response r;
    /* Over --connection-memory (128 KiB): libmicrohttpd's own 414. */
    char *request = repeat("GET /", "a", 200 * 1024, " HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(raw_exchange(state, request, strlen(request), &r), 0);
    assert_mhd_answer(&r, 414);
    http_client_response_free(&r);
    free(request);
    request = repeat("POST " HTTP_CLIENT_OP_PATH "?value_shape=", "1,", 100 * 1024,
                     "1 HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: 32\r\n\r\n");
    assert_int_equal(raw_exchange(state, request, strlen(request), &r), 0);
    assert_mhd_answer(&r, 414);
    http_client_response_free(&r);
    free(request);
    /* Under it: atrousd's own answers, quoting only the start of what it was sent. */
    request = repeat("GET /", "a", 100 * 1024, " HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(raw_exchange(state, request, strlen(request), &r), 0);
    assert_error(&r, 404, "not_found", NULL);
    assert_true(r.body_len < 512);
    http_client_response_free(&r);
    free(request);
    request = repeat("POST " HTTP_CLIENT_OP_PATH "?value_shape=", "1,", 40 * 1024,
                     "1&filters_shape=2,2,1,1&output_shape=1,4,4,1&rate=2&padding=VALID "
                     "HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: 32\r\n\r\n");
    assert_int_equal(raw_exchange(state, request, strlen(request), &r), 0);
    assert_error(&r, 400, "invalid_argument", "value");
    assert_true(r.body_len < 1024);
    http_client_response_free(&r);
    free(request);
    /* Thousands of query arguments in a target well within the limit: more than
     * libmicrohttpd's memory pool holds records for. It used to queue a 431 and then forget the
     * request, leaving the client without an answer until --connection-timeout closed it. */
    request = repeat("POST " HTTP_CLIENT_OP_PATH "?value_shape=1,1,1,1&filters_shape=1,1,1,1"
                     "&output_shape=1,2,2,1&rate=2&padding=SAME",
                     "&", 8000,
                     " HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: 8\r\n\r\n12345678");
    assert_int_equal(raw_exchange(state, request, strlen(request), &r), 0);
    assert_error(&r, 400, "invalid_argument", "query");
    http_client_response_free(&r);
    free(request);
    request = repeat("GET /healthz?", "a=1&", 4000, "b=2 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(raw_exchange(state, request, strlen(request), &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    free(request);
    assert_still_serving(state);
}

static void test_hostile_header_floods(void **state)
{
    struct http_client_response r;
    /* 20000 small headers, or one 200 KiB header: over --connection-memory, 431. */
    char *request =
        repeat("GET /healthz HTTP/1.1\r\nHost: t\r\n", "X-Flood: 0123456789\r\n", 20000, "\r\n");
    assert_int_equal(raw_exchange(state, request, strlen(request), &r), 0);
    assert_mhd_answer(&r, 431);
    http_client_response_free(&r);
    free(request);
    request = repeat("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ", "b", 200 * 1024, "\r\n\r\n");
    assert_int_equal(raw_exchange(state, request, strlen(request), &r), 0);
    assert_mhd_answer(&r, 431);
    http_client_response_free(&r);
    free(request);
    /* 1000 headers that fit are served (each costs its text and about 50 bytes of
     * bookkeeping in the connection's memory, so 2000 of these would not fit in 128 KiB);
     * so is a 64 KiB X-Request-Id, which is not echoed
     * (ids are at most 128 printable characters) but replaced by a generated one. */
    request = repeat("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n",
                     "X-Flood: 0123456789\r\n", 1000, "\r\n");
    assert_int_equal(raw_exchange(state, request, strlen(request), &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    free(request);
    request = repeat("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Request-Id: ", "i",
                     64 * 1024, "\r\n\r\n");
    assert_int_equal(raw_exchange(state, request, strlen(request), &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(http_client_header(&r, "X-Request-Id"));
    assert_true(strlen(http_client_header(&r, "X-Request-Id")) <= 128);
    http_client_response_free(&r);
    free(request);
    /* A header line without a colon is a framing error: libmicrohttpd's 400. */
    static const char no_colon[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n";
    assert_int_equal(raw_exchange(state, no_colon, sizeof(no_colon) - 1, &r), 0);
    assert_mhd_answer(&r, 400);
    http_client_response_free(&r);
    assert_still_serving(state);
}

static void test_hostile_ambiguous_framing_is_400_and_closed(void **state)
{
    /* Framing a proxy in front could read differently (request smuggling): atrousd refuses
     * it before reading the body and closes the connection. */
    static const char *const requests[] = {
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
        "Transfer-Encoding: gzip\r\n\r\n{}",
        "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        struct http_client_response r;
        char request[512];
        int n = snprintf(request, sizeof(request),
                         "POST " HTTP_CLIENT_OP_PATH " HTTP/1.1\r\nHost: t\r\n"
                         "Content-Type: application/json\r\n%s",
                         requests[i]);
        int fd = http_client_connect(port_of(state), HTTP_CLIENT_TIMEOUT_MS);
        assert_true(fd >= 0);
        assert_int_equal(http_client_send(fd, request, (size_t)n, HTTP_CLIENT_TIMEOUT_MS), 0);
        assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
        assert_error(&r, 400, "invalid_argument", NULL);
        assert_string_equal(http_client_header(&r, "Connection"), "close");
        http_client_response_free(&r);
        int64_t t0 = test_now_ms();
        assert_int_equal(http_client_wait_closed(fd, HTTP_CLIENT_TIMEOUT_MS), 0);
        assert_true(test_now_ms() - t0 < CONN_TIMEOUT_S * 1000);
        close(fd);
    }
    /* The same Content-Length twice is not ambiguous. */
    struct http_client_response r;
    const char *same[] = {"Content-Length: 0", "Connection: close", NULL};
    assert_int_equal(http_client_request(port_of(state), "GET", "/healthz", same, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    assert_still_serving(state);
}

static void test_hostile_malformed_framing_is_answered_by_libmicrohttpd(void **state)
{
    /* libmicrohttpd 0.9.75 answers these itself, before atrousd sees a request: an invalid
     * Content-Length gets its HTML 400 (413 past 2^64), written with its header block twice;
     * a client reads the first, status and all. */
    static const struct {
        const char *headers;
        int status;
    } cases[] = {
        {"Content-Length: -1\r\n\r\n", 400},
        {"Content-Length: abc\r\n\r\n", 400},
        {"Content-Length: +5\r\n\r\n{}", 400},
        {"Content-Length: 2, 2\r\n\r\n{}", 400},
        {"Content-Length: 18446744073709551616\r\n\r\n", 413},
        {"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400},
        {"Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n{}\r\n0\r\n\r\n", 413},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_client_response r;
        char request[512];
        int n = snprintf(request, sizeof(request),
                         "POST " HTTP_CLIENT_OP_PATH " HTTP/1.1\r\nHost: t\r\n"
                         "Content-Type: application/json\r\n%s",
                         cases[i].headers);
        assert_int_equal(raw_exchange(state, request, (size_t)n, &r), 0);
        assert_mhd_answer(&r, cases[i].status);
        http_client_response_free(&r);
    }
    /* A chunk that claims 2^64-1 bytes: counted against the body limit as it arrives, and
     * the connection closed without an answer once far past it. */
    int fd = open_post(state, HTTP_CLIENT_OP_PATH, "application/json", NULL, NULL);
    assert_int_equal(http_client_sendf(fd, "ffffffffffffffff\r\n"), 0);
    char block[65536];
    memset(block, ' ', sizeof(block));
    for (int i = 0; i < 48; i++) {
        if (http_client_send(fd, block, sizeof(block), HTTP_CLIENT_TIMEOUT_MS) != 0)
            break;
    }
    struct http_client_response r;
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), -1);
    close(fd);
    /* Request lines: garbage is dropped without an answer, an unknown version gets 505, a
     * method in lowercase is another method (405), and leading empty lines are skipped. */
    static const char garbage[] = "GARBAGE\r\n\r\n";
    assert_int_equal(raw_exchange(state, garbage, sizeof(garbage) - 1, &r), -1);
    static const char version[] = "GET /healthz HTTP/9.9\r\nHost: t\r\n\r\n";
    assert_int_equal(raw_exchange(state, version, sizeof(version) - 1, &r), 0);
    assert_mhd_answer(&r, 505);
    http_client_response_free(&r);
    static const char extra[] = "GET /healthz HTTP/1.1 extra\r\nHost: t\r\n\r\n";
    assert_int_equal(raw_exchange(state, extra, sizeof(extra) - 1, &r), 0);
    assert_mhd_answer(&r, 400);
    http_client_response_free(&r);
    static const char lower[] = "post " HTTP_CLIENT_OP_PATH " HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(raw_exchange(state, lower, sizeof(lower) - 1, &r), 0);
    assert_error(&r, 405, "method_not_allowed", NULL);
    http_client_response_free(&r);
    static const char leading[] = "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(raw_exchange(state, leading, sizeof(leading) - 1, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    assert_still_serving(state);
}

/* Polls a gauge until it is at most max; returns its last value. */
static double wait_gauge_at_most(void **state, const char *series, double max)
{
    struct http_fixture *f = *state;
    double v = -1;
    for (int64_t deadline = test_now_ms() + 10000; test_now_ms() < deadline;) {
        if (test_daemon_metric(f->daemon, series, &v) == 0 && v <= max)
            break;
        test_pause_ms(20);
    }
    return v;
}

static void test_hostile_catalogue_leaves_nothing_behind(void **state)
{
    /* After the whole catalogue: no request context left (the one in flight is the /metrics
     * request itself), no memory held in the budget, and no sanitizer report in the log. */
    struct http_fixture *f = *state;
    assert_true(wait_gauge_at_most(state, "atrousd_http_requests_in_flight", 1) <= 1);
    assert_true(wait_gauge_at_most(state, "atrousd_memory_budget_in_use_bytes", 0) == 0);
    assert_true(wait_gauge_at_most(state, "atrousd_queue_depth", 0) == 0);
    char *log = test_daemon_log(f->daemon);
    assert_non_null(log);
    assert_null(strstr(log, "runtime error:"));
    assert_null(strstr(log, "==ERROR:"));
    free(log);
    assert_still_serving(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_truncated_json_is_400),
        cmocka_unit_test(test_hostile_non_utf8_json_is_400),
        cmocka_unit_test(test_hostile_deep_nesting_is_400),
        cmocka_unit_test(test_hostile_numbers_out_of_float_range_are_400),
        cmocka_unit_test(test_hostile_duplicate_keys_are_400),
        cmocka_unit_test(test_hostile_bad_dims_are_rejected_by_name),
        cmocka_unit_test(test_hostile_element_counts_overflowing_64_bits_are_too_large),
        cmocka_unit_test(test_hostile_data_not_matching_shape_is_400),
        cmocka_unit_test(test_hostile_content_length_lies),
        cmocka_unit_test(test_hostile_body_limit_one_byte_over_is_413),
        cmocka_unit_test(test_hostile_wrong_content_type_is_415),
        cmocka_unit_test(test_hostile_unknown_and_repeated_query_keys_are_400),
        cmocka_unit_test(test_hostile_absurd_rates_are_rejected_by_name),
        cmocka_unit_test(test_hostile_terabyte_output_is_too_large_before_allocation),
        cmocka_unit_test(test_hostile_path_tricks_are_404),
        cmocka_unit_test(test_hostile_very_long_urls),
        cmocka_unit_test(test_hostile_header_floods),
        cmocka_unit_test(test_hostile_ambiguous_framing_is_400_and_closed),
        cmocka_unit_test(test_hostile_malformed_framing_is_answered_by_libmicrohttpd),
        cmocka_unit_test(test_hostile_catalogue_leaves_nothing_behind),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
