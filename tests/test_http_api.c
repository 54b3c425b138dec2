/*
 * test_http_api.c - the HTTP API of the real daemon over sockets: operations endpoints, both
 * request forms, Accept switching, content types, the 4xx answers decided from headers, request
 * ids, the access log, keep-alive and chunked uploads, and random problems against the naive
 * reference.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpus.h"
#include "daemon.h"
#include "http_client.h"
#include "http_fixture.h"
#include "naive_ref.h"

/* The corpus case most tests send: SAME padding at rate 2, batch 2. */
#define SAMPLE_CASE "sweep_k2x2_r2_same"

static int setup(void **state)
{
    return http_fixture_setup(state, SAMPLE_CASE, NULL);
}

static int teardown(void **state)
{
    return http_fixture_teardown(state);
}

static uint16_t port_of(const struct http_fixture *f)
{
    return f->daemon->port;
}

/* GET (or HEAD) a path on a fresh connection. */
static void get(struct http_fixture *f, const char *method, const char *path,
                struct http_client_response *r)
{
    assert_int_equal(http_client_request(port_of(f), method, path, NULL, NULL, 0, r), 0);
}

/* Asserts an error answer: status, JSON error body with code, field (NULL: null), and the
 * request id echoed in both the body and the header. */
static void assert_error(const struct http_client_response *r, int status, const char *code,
                         const char *field)
{
    struct http_error_body e;
    assert_int_equal(r->status, status);
    assert_string_equal(http_client_header(r, "Content-Type"), "application/json");
    assert_int_equal(http_error_parse(r->body, r->body_len, &e), 0);
    assert_string_equal(e.code, code);
    if (field == NULL) {
        assert_null(e.field);
    } else {
        assert_non_null(e.field);
        assert_string_equal(e.field, field);
        assert_non_null(strstr(e.error, field)); /* the message names the argument too */
    }
    assert_non_null(http_client_header(r, "X-Request-Id"));
    assert_string_equal(e.request_id, http_client_header(r, "X-Request-Id"));
    http_error_free(&e);
}

/* Asserts a 200 answer of the sample case in the given form. */
static void assert_sample_output(struct http_fixture *f, const struct http_client_response *r,
                                 const char *content_type)
{
    struct http_op_output out;
    char why[512];
    assert_int_equal(r->status, 200);
    assert_string_equal(http_client_header(r, "Content-Type"), content_type);
    assert_int_equal(http_op_parse(r, &out), 0);
    int rc = http_op_check(&out, &f->sample.expected_shape, f->sample.expected,
                           f->sample.expected_count, why, sizeof(why));
    if (rc != 0)
        fail_msg("%s", why);
    http_op_output_free(&out);
}

static void test_http_healthz_answers_ok(void **state)
{
    struct http_client_response r;
    get(*state, "GET", "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    assert_non_null(http_client_header(&r, "X-Request-Id"));
    http_client_response_free(&r);
}

static void test_http_readyz_is_ready_after_the_selftest(void **state)
{
    struct http_fixture *f = *state;
    struct http_client_response r;
    get(f, "GET", "/readyz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ready\"}");
    http_client_response_free(&r);
    /* Written just after readiness turns on, through the log's flusher: wait for it. */
    assert_int_equal(test_daemon_wait_log(f->daemon, "\"msg\":\"ready\"", 30000), 0);
}

static void test_http_head_is_allowed_where_get_is(void **state)
{
    const char *paths[] = {"/healthz", "/readyz", "/metrics", "/v1/info"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct http_client_response r;
        get(*state, "HEAD", paths[i], &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, 0);
        assert_non_null(http_client_header(&r, "Content-Length"));
        http_client_response_free(&r);
    }
}

static void test_http_unknown_path_is_404(void **state)
{
    struct http_client_response r;
    get(*state, "GET", "/v2/nothing?x=1", &r);
    assert_error(&r, 404, "not_found", NULL);
    http_client_response_free(&r);
}

static void test_http_wrong_method_is_405_with_allow(void **state)
{
    struct {
        const char *method, *path, *allow;
    } cases[] = {
        {"GET", HTTP_CLIENT_OP_PATH, "POST"}, {"PUT", HTTP_CLIENT_OP_PATH, "POST"},
        {"POST", "/healthz", "GET, HEAD"},    {"DELETE", "/metrics", "GET, HEAD"},
        {"OPTIONS", "/v1/info", "GET, HEAD"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_client_response r;
        get(*state, cases[i].method, cases[i].path, &r);
        assert_error(&r, 405, "method_not_allowed", NULL);
        assert_string_equal(http_client_header(&r, "Allow"), cases[i].allow);
        http_client_response_free(&r);
    }
}

static void test_http_info_reports_engine_threads_and_limits(void **state)
{
    struct http_client_response r;
    get(*state, "GET", "/v1/info", &r);
    assert_int_equal(r.status, 200);
    json_t *root = json_loadb(r.body, r.body_len, 0, NULL);
    assert_non_null(root);
    const char *version = NULL, *onednn = NULL, *isa = NULL;
    int avx512 = -1;
    json_int_t workers = 0, omp = 0, usable = 0, max_body = 0, port = 0;
    assert_int_equal(json_unpack(root,
                                 "{s:s, s:{s:s, s:s, s:b}, s:{s:I, s:I, s:I}, s:{s:I}, "
                                 "s:{s:I}}",
                                 "version", &version, "engine", "onednn_version", &onednn,
                                 "cpu_isa", &isa, "avx512", &avx512, "threads", "compute_workers",
                                 &workers, "omp_threads_per_worker", &omp, "usable_cpus", &usable,
                                 "limits", "max_body_bytes", &max_body, "status", "port", &port),
                     0);
    assert_true(strlen(onednn) > 0 && strlen(isa) > 0);
    assert_true(workers >= 1 && omp >= 1 && workers * omp <= usable);
    assert_int_equal(max_body, 64 << 20);
    assert_int_equal(port, port_of(*state));
    json_decref(root);
    http_client_response_free(&r);
}

static void test_http_metrics_are_prometheus_text(void **state)
{
    struct http_client_response r;
    get(*state, "GET", "/healthz", &r);
    http_client_response_free(&r);
    get(*state, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(http_client_header(&r, "Content-Type"),
                        "text/plain; version=0.0.4; charset=utf-8");
    const char *expected[] = {
        "atrousd_http_requests_total{endpoint=\"healthz\",status=\"200\"} ",
        "# TYPE atrousd_http_request_duration_seconds histogram\n",
        "atrousd_http_request_duration_seconds_bucket{endpoint=\"healthz\",le=\"+Inf\"} ",
        "atrousd_op_stage_duration_seconds_count{stage=\"compute\"} ",
        "atrousd_build_info{version=\"",
        "\natrousd_queue_depth ",
        "\natrousd_http_requests_in_flight ",
        "\natrousd_primitive_cache_hits_total ",
        "\natrousd_primitive_cache_misses_total ",
        "\natrousd_primitive_cache_evictions_total ",
        "atrousd_http_request_bytes_total{endpoint=\"op\"} ",
        "atrousd_http_response_bytes_total{endpoint=\"healthz\"} ",
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        if (strstr(r.body, expected[i]) == NULL)
            fail_msg("/metrics lacks '%s'", expected[i]);
    }
    http_client_response_free(&r);
}

static void test_http_json_request_answers_json(void **state)
{
    struct http_fixture *f = *state;
    struct http_client_response r;
    assert_int_equal(http_op_call(port_of(f), &f->args, HTTP_OP_JSON, NULL, NULL, &r), 0);
    assert_sample_output(f, &r, "application/json");
    assert_null(http_client_header(&r, "X-Output-Shape"));
    http_client_response_free(&r);
}

static void test_http_binary_request_answers_binary(void **state)
{
    struct http_fixture *f = *state;
    struct http_client_response r;
    assert_int_equal(http_op_call(port_of(f), &f->args, HTTP_OP_BINARY, NULL, NULL, &r), 0);
    assert_sample_output(f, &r, "application/octet-stream");
    assert_string_equal(http_client_header(&r, "X-Output-Shape"), "2,5,7,5");
    http_client_response_free(&r);
}

static void test_http_accept_switches_the_answer_both_ways(void **state)
{
    struct http_fixture *f = *state;
    struct http_client_response r;
    assert_int_equal(
        http_op_call(port_of(f), &f->args, HTTP_OP_JSON, "application/octet-stream", NULL, &r), 0);
    assert_sample_output(f, &r, "application/octet-stream");
    assert_non_null(http_client_header(&r, "X-Output-Shape"));
    http_client_response_free(&r);
    assert_int_equal(
        http_op_call(port_of(f), &f->args, HTTP_OP_BINARY, "application/json", NULL, &r), 0);
    assert_sample_output(f, &r, "application/json");
    http_client_response_free(&r);
}

static void test_http_accept_wildcards_and_quality(void **state)
{
    struct http_fixture *f = *state;
    struct {
        enum http_op_form form;
        const char *accept, *expected;
    } cases[] = {
        {HTTP_OP_JSON, "*/*", "application/json"},
        {HTTP_OP_BINARY, "*/*", "application/octet-stream"},
        {HTTP_OP_BINARY, "application/*", "application/octet-stream"},
        {HTTP_OP_JSON, "text/html, application/octet-stream;q=0.5", "application/octet-stream"},
        {HTTP_OP_BINARY, "application/octet-stream;q=0.2, application/json", "application/json"},
        {HTTP_OP_JSON, "application/json;q=0, */*", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_client_response r;
        assert_int_equal(
            http_op_call(port_of(f), &f->args, cases[i].form, cases[i].accept, NULL, &r), 0);
        assert_sample_output(f, &r, cases[i].expected);
        http_client_response_free(&r);
    }
}

static void test_http_unsupported_accept_is_406(void **state)
{
    struct http_fixture *f = *state;
    struct http_client_response r;
    assert_int_equal(http_op_call(port_of(f), &f->args, HTTP_OP_JSON, "text/html", NULL, &r), 0);
    assert_error(&r, 406, "not_acceptable", NULL);
    http_client_response_free(&r);
}

static void test_http_content_type_parameters_are_ignored(void **state)
{
    struct http_fixture *f = *state;
    size_t len = 0;
    char *body = http_op_json(&f->args, &len);
    const char *headers[] = {"Content-Type: Application/JSON ; charset=utf-8", NULL};
    struct http_client_response r;
    assert_int_equal(
        http_client_request(port_of(f), "POST", HTTP_CLIENT_OP_PATH, headers, body, len, &r), 0);
    assert_sample_output(f, &r, "application/json");
    http_client_response_free(&r);
    free(body);
}

static void test_http_unsupported_content_type_is_415(void **state)
{
    struct http_fixture *f = *state;
    const char *text[] = {"Content-Type: text/plain", NULL};
    const char *brotli[] = {"Content-Type: application/json", "Content-Encoding: br", NULL};
    const char *const *cases[] = {text, brotli, NULL /* no Content-Type at all */};
    for (size_t i = 0; i < 3; i++) {
        struct http_client_response r;
        assert_int_equal(
            http_client_request(port_of(f), "POST", HTTP_CLIENT_OP_PATH, cases[i], "{}", 2, &r), 0);
        assert_error(&r, 415, "unsupported_media_type", NULL);
        http_client_response_free(&r);
    }
}

static void post_json_text(struct http_fixture *f, const char *json, struct http_client_response *r)
{
    const char *headers[] = {"Content-Type: application/json", NULL};
    assert_int_equal(http_client_request(port_of(f), "POST", HTTP_CLIENT_OP_PATH, headers, json,
                                         strlen(json), r),
                     0);
}

static void test_http_malformed_json_is_400(void **state)
{
    const char *bodies[] = {"", "{", "[1,2]", "{\"value\": }", "nul"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct http_client_response r;
        struct http_error_body e;
        post_json_text(*state, bodies[i], &r);
        assert_int_equal(r.status, 400);
        assert_int_equal(http_error_parse(r.body, r.body_len, &e), 0);
        assert_string_equal(e.code, "invalid_argument");
        http_error_free(&e);
        http_client_response_free(&r);
    }
}

static void test_http_unknown_json_field_is_400_naming_it(void **state)
{
    struct http_client_response r;
    post_json_text(*state,
                   "{\"value\":{\"shape\":[1,1,1,1],\"data\":[1]},\"filters\":{\"shape\":[1,1,1,1],"
                   "\"data\":[1]},\"output_shape\":[1,1,1,1],\"rate\":1,\"padding\":\"SAME\","
                   "\"strides\":2}",
                   &r);
    assert_error(&r, 400, "invalid_argument", "strides");
    http_client_response_free(&r);
}

static void test_http_nested_array_tensors_are_accepted(void **state)
{
    struct http_client_response r;
    post_json_text(*state,
                   "{\"value\":[[[[1],[2]],[[3],[4]]]],\"filters\":[[[[0.5]]]],"
                   "\"output_shape\":[1,2,2,1],\"rate\":2,\"padding\":\"SAME\"}",
                   &r);
    struct http_op_output out;
    assert_int_equal(r.status, 200);
    assert_int_equal(http_op_parse(&r, &out), 0);
    assert_int_equal(out.count, 4);
    for (size_t i = 0; i < 4; i++)
        assert_true(out.data[i] == 0.5f * (float)(i + 1));
    http_op_output_free(&out);
    http_client_response_free(&r);
}

static void test_http_op_errors_name_the_argument(void **state)
{
    struct http_fixture *f = *state;
    struct http_op_args a = f->args;
    a.rate = 0;
    struct http_client_response r;
    for (int form = HTTP_OP_JSON; form <= HTTP_OP_BINARY; form++) {
        assert_int_equal(http_op_call(port_of(f), &a, (enum http_op_form)form, NULL, NULL, &r), 0);
        assert_error(&r, 400, "invalid_argument", "rate");
        http_client_response_free(&r);
    }
}

/* Sends only the headers of a binary request and reads the answer: it must come before any
 * body byte is sent. */
static void binary_headers_only(struct http_fixture *f, const char *target, const char *length,
                                struct http_client_response *r)
{
    int fd = http_client_connect(port_of(f), HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(http_client_sendf(fd,
                                       "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: "
                                       "application/octet-stream\r\nContent-Length: %s\r\n\r\n",
                                       target, length),
                     0);
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, r), 0);
    close(fd);
}

static void test_http_binary_length_mismatch_is_400_before_the_body(void **state)
{
    struct http_fixture *f = *state;
    char *target = http_op_binary_target(&f->args);
    struct http_client_response r;
    binary_headers_only(f, target, "100", &r);
    assert_error(&r, 400, "invalid_argument", "body");
    http_client_response_free(&r);
    free(target);
}

static void test_http_binary_query_errors_are_400(void **state)
{
    const char *targets[] = {
        HTTP_CLIENT_OP_PATH "?value_shape=1,1,1,1&filters_shape=1,1,1,1&output_shape=1,1,1,1"
                            "&rate=1",
        HTTP_CLIENT_OP_PATH "?value_shape=1,1,1,1&filters_shape=1,1,1,1&output_shape=1,1,1,1"
                            "&rate=1&padding=SAME&stride=2",
        HTTP_CLIENT_OP_PATH "?value_shape=1,x,1,1&filters_shape=1,1,1,1&output_shape=1,1,1,1"
                            "&rate=1&padding=SAME",
    };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        struct http_client_response r;
        struct http_error_body e;
        binary_headers_only(*state, targets[i], "8", &r);
        assert_int_equal(r.status, 400);
        assert_int_equal(http_error_parse(r.body, r.body_len, &e), 0);
        assert_non_null(e.field);
        http_error_free(&e);
        http_client_response_free(&r);
    }
}

static void test_http_request_id_is_echoed_when_sane(void **state)
{
    struct http_fixture *f = *state;
    const char *sane[] = {"X-Request-Id: abc-123_XYZ.42", NULL};
    struct http_client_response r;
    assert_int_equal(http_client_request(port_of(f), "GET", "/healthz", sane, NULL, 0, &r), 0);
    assert_string_equal(http_client_header(&r, "X-Request-Id"), "abc-123_XYZ.42");
    http_client_response_free(&r);

    char long_id[200 + 16];
    snprintf(long_id, sizeof(long_id), "X-Request-Id: %0200d", 7);
    const char *too_long[] = {long_id, NULL};
    const char *spaced[] = {"X-Request-Id: two words", NULL};
    const char *const *insane[] = {too_long, spaced};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(http_client_request(port_of(f), "GET", "/healthz", insane[i], NULL, 0, &r),
                         0);
        const char *id = http_client_header(&r, "X-Request-Id");
        assert_non_null(id);
        assert_int_equal(strlen(id), 24); /* generated instead */
        http_client_response_free(&r);
    }
}

static void test_http_access_log_line_has_every_field(void **state)
{
    struct http_fixture *f = *state;
    const char *headers[] = {"X-Request-Id: access-log-check-1", NULL};
    struct http_client_response r;
    assert_int_equal(http_op_call(port_of(f), &f->args, HTTP_OP_BINARY, NULL, headers, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    assert_int_equal(
        test_daemon_wait_log(f->daemon, "\"request_id\":\"access-log-check-1\"", 10000), 0);
    char *log = test_daemon_log(f->daemon);
    char *start = strstr(log, "\"request_id\":\"access-log-check-1\"");
    while (start > log && start[-1] != '\n')
        start--;
    char *end = strchr(start, '\n');
    json_t *line = json_loadb(start, (size_t)(end - start), 0, NULL);
    assert_non_null(line);
    const char *keys[] = {"ts",         "level",        "request_id", "method",   "path",
                          "status",     "bytes_in",     "bytes_out",  "parse_us", "queue_us",
                          "compute_us", "serialize_us", "total_us"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (json_object_get(line, keys[i]) == NULL)
            fail_msg("access log line lacks %s", keys[i]);
    }
    assert_int_equal(json_integer_value(json_object_get(line, "status")), 200);
    assert_string_equal(json_string_value(json_object_get(line, "method")), "POST");
    /* The form and kernel that computed it: "deconv:jit:..." or "conv:brgconv:...". */
    const char *impl = json_string_value(json_object_get(line, "implementation"));
    assert_non_null(impl);
    assert_true(strncmp(impl, "deconv:", 7) == 0 || strncmp(impl, "conv:", 5) == 0);
    /* /metrics counts it under the same name, with its compute time (the access line is
     * written before the request is recorded in the metrics: wait for the count). */
    char series[160];
    snprintf(series, sizeof(series),
             "atrousd_compute_implementation_requests_total{implementation=\"%s\"}", impl);
    assert_int_equal(test_daemon_wait_metric(f->daemon, series, 1, 10000), 0);
    snprintf(series, sizeof(series),
             "atrousd_compute_implementation_seconds_total{implementation=\"%s\"}", impl);
    double seconds = 0;
    assert_int_equal(test_daemon_metric(f->daemon, series, &seconds), 0);
    /* At least this request's own compute time (others may have run on it too). */
    assert_true(seconds * 1e6 + 0.5 >=
                (double)json_integer_value(json_object_get(line, "compute_us")));
    assert_int_equal(json_integer_value(json_object_get(line, "bytes_in")),
                     (f->args.value_count + f->args.filters_count) * 4);
    assert_int_equal(json_integer_value(json_object_get(line, "bytes_out")),
                     f->sample.expected_count * 4);
    json_decref(line);
    free(log);
}

static void test_http_keep_alive_serves_several_requests(void **state)
{
    struct http_fixture *f = *state;
    int fd = http_client_connect(port_of(f), HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    size_t len = 0;
    char *body = http_op_json(&f->args, &len);
    for (int i = 0; i < 3; i++) {
        struct http_client_response r;
        assert_int_equal(http_client_sendf(fd,
                                           "POST " HTTP_CLIENT_OP_PATH " HTTP/1.1\r\nHost: t\r\n"
                                           "Content-Type: application/json\r\nContent-Length: "
                                           "%zu\r\n\r\n",
                                           len),
                         0);
        assert_int_equal(http_client_send(fd, body, len, HTTP_CLIENT_TIMEOUT_MS), 0);
        assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
        assert_sample_output(f, &r, "application/json");
        http_client_response_free(&r);
        assert_int_equal(http_client_sendf(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
        assert_int_equal(r.status, 200);
        http_client_response_free(&r);
    }
    free(body);
    close(fd);
}

static void test_http_chunked_upload_is_accepted(void **state)
{
    struct http_fixture *f = *state;
    size_t len = 0;
    char *body = http_op_json(&f->args, &len);
    int fd = http_client_connect(port_of(f), HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(http_client_sendf(fd, "POST " HTTP_CLIENT_OP_PATH " HTTP/1.1\r\nHost: t\r\n"
                                           "Content-Type: application/json\r\n"
                                           "Transfer-Encoding: chunked\r\n\r\n"),
                     0);
    assert_int_equal(http_client_send_chunks(fd, body, len), 0);
    struct http_client_response r;
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_sample_output(f, &r, "application/json");
    http_client_response_free(&r);
    free(body);
    close(fd);
}

static void test_http_expect_100_continue_works(void **state)
{
    struct http_fixture *f = *state;
    const char *headers[] = {"Expect: 100-continue", NULL};
    struct http_client_response r;
    assert_int_equal(http_op_call(port_of(f), &f->args, HTTP_OP_BINARY, NULL, headers, &r), 0);
    assert_sample_output(f, &r, "application/octet-stream");
    http_client_response_free(&r);
}

/* Held-out problems: random shapes and data, checked against the naive reference. */
static void test_http_random_problems_match_the_naive_loop(void **state)
{
    struct http_fixture *f = *state;
    struct naive_rng rng = {naive_ref_seed("test_http_api")};
    for (int i = 0; i < 4; i++) {
        struct naive_problem p;
        struct corpus_case c;
        struct http_op_args a;
        naive_ref_random_problem(&rng, &naive_default_bounds, &p);
        assert_int_equal(naive_ref_make_case(&rng, &p, &c), 0);
        http_op_args_from_case(&c, &a);
        for (int form = HTTP_OP_JSON; form <= HTTP_OP_BINARY; form++) {
            struct http_client_response r;
            struct http_op_output out;
            char why[512];
            assert_int_equal(http_op_call(port_of(f), &a, (enum http_op_form)form, NULL, NULL, &r),
                             0);
            if (r.status != 200)
                fail_msg("%s: status %d: %s", c.name, r.status, r.body ? r.body : "");
            assert_int_equal(http_op_parse(&r, &out), 0);
            if (http_op_check(&out, &c.expected_shape, c.expected, c.expected_count, why,
                              sizeof(why)) != 0)
                fail_msg("%s: %s", c.name, why);
            http_op_output_free(&out);
            http_client_response_free(&r);
        }
        corpus_case_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_healthz_answers_ok),
        cmocka_unit_test(test_http_readyz_is_ready_after_the_selftest),
        cmocka_unit_test(test_http_head_is_allowed_where_get_is),
        cmocka_unit_test(test_http_unknown_path_is_404),
        cmocka_unit_test(test_http_wrong_method_is_405_with_allow),
        cmocka_unit_test(test_http_info_reports_engine_threads_and_limits),
        cmocka_unit_test(test_http_metrics_are_prometheus_text),
        cmocka_unit_test(test_http_json_request_answers_json),
        cmocka_unit_test(test_http_binary_request_answers_binary),
        cmocka_unit_test(test_http_accept_switches_the_answer_both_ways),
        cmocka_unit_test(test_http_accept_wildcards_and_quality),
        cmocka_unit_test(test_http_unsupported_accept_is_406),
        cmocka_unit_test(test_http_content_type_parameters_are_ignored),
        cmocka_unit_test(test_http_unsupported_content_type_is_415),
        cmocka_unit_test(test_http_malformed_json_is_400),
        cmocka_unit_test(test_http_unknown_json_field_is_400_naming_it),
        cmocka_unit_test(test_http_nested_array_tensors_are_accepted),
        cmocka_unit_test(test_http_op_errors_name_the_argument),
        cmocka_unit_test(test_http_binary_length_mismatch_is_400_before_the_body),
        cmocka_unit_test(test_http_binary_query_errors_are_400),
        cmocka_unit_test(test_http_request_id_is_echoed_when_sane),
        cmocka_unit_test(test_http_access_log_line_has_every_field),
        cmocka_unit_test(test_http_keep_alive_serves_several_requests),
        cmocka_unit_test(test_http_chunked_upload_is_accepted),
        cmocka_unit_test(test_http_expect_100_continue_works),
        cmocka_unit_test(test_http_random_problems_match_the_naive_loop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
