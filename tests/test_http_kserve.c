/*
 * test_http_kserve.c - the KServe v2 endpoints of the real daemon, started with --model-dir on
 * a scratch repository whose models are the conformance cases' filters (plus two versions of
 * one name, and broken folders that must be logged and skipped): every valid case through its
 * repository model and through the generic model, as JSON and with the binary tensor extension
 * both ways, checked against the corpus; health, metadata, readiness and config documents;
 * 404 for unknown models and versions, 405, 400s, 413 (body, JSON cap), 415; per-model metrics
 * and /v1/info; readiness and infer while draining.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"
#include "http_model_fixtures.h"

#define JSON_CAP       "1m"
#define JSON_CAP_BYTES (1u << 20)

/* The cases the versioned model is made of: version 1, then version 2. */
#define V1_CASE "sweep_k3x3_r2_same"
#define V2_CASE "even_k4_r2_same"

/* Besides the cases' models: two versions of one name, and broken folders. */
static int write_more(struct repo_fixture *f)
{
    const struct corpus_case *v1 = fixture_find_case(f->cases, f->count, V1_CASE);
    const struct corpus_case *v2 = fixture_find_case(f->cases, f->count, V2_CASE);
    if (v1 == NULL || v2 == NULL ||
        fixture_write_case_model(f->root, "versioned_a", "versioned", v1, ", \"version\": 1", 1) ||
        fixture_write_case_model(f->root, "versioned_b", "versioned", v2, ", \"version\": \"2\"",
                                 1))
        return -1;
    /* Broken folders next to the good ones: a bad key, and filters of the wrong shape. */
    if (fixture_write_case_model(f->root, "broken_padding", "broken_padding", v1,
                                 ", \"padding_typo\": 1", 1) != 0)
        return -1;
    struct corpus_case wrong = *v1;
    wrong.filters_shape.dims[0] += 1; /* the config says one more row than the file holds */
    char path[600], config[512];
    if (fixture_write_case_model(f->root, "broken_npy", "broken_npy", v1, "", 1) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/broken_npy/config.json", f->root);
    int n = fixture_case_config(&wrong, NULL, "", config, sizeof(config));
    return fixture_write_file(path, config, (size_t)n);
}

static int setup(void **state)
{
    return repo_fixture_setup(state, "kserve", JSON_CAP, write_more);
}

static int teardown(void **state)
{
    return repo_fixture_teardown(state);
}

/* POSTs an infer body (with Inference-Header-Content-Length when binary input) to path. */
static void post_infer(void **state, const char *path, const struct proto_buf *b, size_t header_len,
                       bool binary_input, struct http_client_response *r)
{
    char ihcl[64];
    snprintf(ihcl, sizeof(ihcl), "Inference-Header-Content-Length: %zu", header_len);
    const char *headers[] = {binary_input ? "Content-Type: application/octet-stream"
                                          : "Content-Type: application/json",
                             binary_input ? ihcl : NULL, NULL};
    assert_int_equal(
        http_client_request(repo_fixture_port(state), "POST", path, headers, b->data, b->len, r),
        0);
}

/* Sends case c to path in the given way and checks the answer against the corpus. */
static void infer_case(void **state, const char *path, const struct corpus_case *c,
                       const struct kserve_body_opts *o)
{
    struct proto_buf b = {0};
    size_t header_len = 0;
    struct http_client_response r;
    struct fixture_output out;
    char why[512];
    fixture_kserve_body(c, NULL, NULL, 0, o, &b, &header_len);
    post_infer(state, path, &b, header_len, o->binary_input, &r);
    if (r.status != 200)
        fail_msg("%s %s: status %d: %s", path, c->name, r.status, r.body);
    if (fixture_kserve_output(&r, &out, why, sizeof(why)) != 0 ||
        fixture_check_output(&out, c, 0, 0, why, sizeof(why)) != 0)
        fail_msg("%s (%s): %s", path, c->name, why);
    assert_true((http_client_header(&r, "Inference-Header-Content-Length") != NULL) ==
                o->binary_output);
    if (o->id != NULL)
        assert_string_equal(json_string_value(json_object_get(out.doc, "id")), o->id);
    fixture_output_free(&out);
    http_client_response_free(&r);
    proto_buf_free(&b);
}

static void test_kserve_health_and_server_metadata(void **state)
{
    json_t *doc = repo_fixture_get_json(state, "/v2/health/live", 200);
    assert_true(json_is_true(json_object_get(doc, "live")));
    json_decref(doc);
    doc = repo_fixture_get_json(state, "/v2/health/ready", 200);
    assert_true(json_is_true(json_object_get(doc, "ready")));
    json_decref(doc);
    doc = repo_fixture_get_json(state, "/v2", 200);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "atrousd");
    json_t *ext = json_object_get(doc, "extensions");
    /* perf_analyzer asks for server-side statistics only when "statistics" is listed. */
    const char *const listed[] = {"binary_tensor_data", "model_configuration", "model_repository",
                                  "statistics"};
    assert_int_equal(json_array_size(ext), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_array_get(ext, i)), listed[i]);
    json_decref(doc);

    struct http_client_response r;
    assert_int_equal(http_client_request(repo_fixture_port(state), "HEAD", "/v2/health/ready", NULL,
                                         NULL, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
}

static void test_kserve_repository_models_reproduce_the_corpus(void **state)
{
    struct repo_fixture *f = *state;
    char path[128], name[64];
    for (size_t i = 0; i < f->count; i++) {
        repo_fixture_case_model(i, name, sizeof(name));
        snprintf(path, sizeof(path), "/v2/models/%s/infer", name);
        /* Each case in one of four input/output combinations, plus JSON both ways for all. */
        struct kserve_body_opts json = {.id = "rq-1"};
        struct kserve_body_opts mixed = {.binary_input = i % 2 == 0, .binary_output = i % 4 < 2};
        infer_case(state, path, &f->cases[i], &json);
        infer_case(state, path, &f->cases[i], &mixed);
    }
    /* Binary both ways through the versioned path. */
    repo_fixture_case_model(0, name, sizeof(name));
    snprintf(path, sizeof(path), "/v2/models/%s/versions/1/infer", name);
    struct kserve_body_opts binary = {.binary_input = true, .binary_output = true};
    infer_case(state, path, &f->cases[0], &binary);
}

static void test_kserve_generic_model_reproduces_the_corpus(void **state)
{
    struct repo_fixture *f = *state;
    for (size_t i = 0; i < f->count; i++) {
        struct kserve_body_opts o = {
            .generic = true, .binary_input = i % 2 == 1, .binary_output = i % 3 == 0};
        infer_case(state, "/v2/models/atrous_conv2d_transpose/infer", &f->cases[i], &o);
    }
    struct kserve_body_opts json = {.generic = true};
    infer_case(state, "/v2/models/atrous_conv2d_transpose/versions/1/infer", &f->cases[0], &json);
}

static void test_kserve_versions_route_to_their_filters(void **state)
{
    struct repo_fixture *f = *state;
    const struct corpus_case *v1 = fixture_find_case(f->cases, f->count, V1_CASE);
    const struct corpus_case *v2 = fixture_find_case(f->cases, f->count, V2_CASE);
    struct kserve_body_opts o = {0};
    infer_case(state, "/v2/models/versioned/versions/1/infer", v1, &o);
    infer_case(state, "/v2/models/versioned/versions/2/infer", v2, &o);
    infer_case(state, "/v2/models/versioned/infer", v2, &o); /* the highest */
    json_t *doc = repo_fixture_get_json(state, "/v2/models/versioned", 200);
    json_t *versions = json_object_get(doc, "versions");
    assert_int_equal(json_array_size(versions), 2);
    json_decref(doc);
    doc = repo_fixture_get_json(state, "/v2/models/versioned/versions/1/ready", 200);
    assert_string_equal(json_string_value(json_object_get(doc, "version")), "1");
    assert_true(json_is_true(json_object_get(doc, "ready")));
    json_decref(doc);
}

static void test_kserve_model_documents(void **state)
{
    struct repo_fixture *f = *state;
    const struct corpus_case *c = &f->cases[0];
    json_t *doc = repo_fixture_get_json(state, "/v2/models/case00", 200);
    assert_string_equal(json_string_value(json_object_get(doc, "platform")), "atrousd_onednn");
    json_t *in = json_array_get(json_object_get(doc, "inputs"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "name")), "value");
    json_t *dims = json_object_get(in, "shape");
    assert_int_equal(json_integer_value(json_array_get(dims, 3)), c->filters_shape.dims[3]);
    json_decref(doc);
    doc = repo_fixture_get_json(state, "/v2/models/case00/config", 200);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "case00");
    assert_non_null(json_object_get(doc, "max_batch_size"));
    json_decref(doc);
    doc = repo_fixture_get_json(state, "/v2/models/atrous_conv2d_transpose", 200);
    assert_int_equal(json_array_size(json_object_get(doc, "inputs")), 5);
    json_decref(doc);
    doc = repo_fixture_get_json(state, "/v2/models/atrous_conv2d_transpose/versions/1/ready", 200);
    assert_true(json_is_true(json_object_get(doc, "ready")));
    json_decref(doc);
    doc = repo_fixture_get_json(state, "/v2/models/atrous_conv2d_transpose/config", 200);
    json_decref(doc);
}

/* An error answer: status, atrousd's error body with the request id, and the code. */
static void expect_error(const struct http_client_response *r, int status, const char *code)
{
    char got[64];
    if (r->status != status)
        fail_msg("status %d, expected %d: %s", r->status, status, r->body);
    assert_int_equal(fixture_error_code(r, got, sizeof(got)), 0);
    assert_string_equal(got, code);
    struct http_error_body e;
    assert_int_equal(http_error_parse(r->body, r->body_len, &e), 0);
    assert_string_equal(e.request_id, http_client_header(r, "X-Request-Id"));
    http_error_free(&e);
}

static void test_kserve_unknown_models_versions_and_paths_are_404(void **state)
{
    const char *paths[] = {"/v2/models/nope",
                           "/v2/models/nope/ready",
                           "/v2/models/case00/versions/7",
                           "/v2/models/case00/versions/7/config",
                           "/v2/models/atrous_conv2d_transpose/versions/2",
                           "/v2/models/broken_npy",
                           "/v2/models/broken_padding/ready",
                           "/v2/models",
                           "/v2/models/case00/x",
                           "/v2/health"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct http_client_response r;
        assert_int_equal(
            http_client_request(repo_fixture_port(state), "GET", paths[i], NULL, NULL, 0, &r), 0);
        expect_error(&r, 404, "not_found");
        http_client_response_free(&r);
    }
    struct http_client_response r;
    const char body[] = "{\"inputs\": []}";
    assert_int_equal(http_client_request(repo_fixture_port(state), "POST", "/v2/models/nope/infer",
                                         NULL, body, sizeof(body) - 1, &r),
                     0);
    expect_error(&r, 404, "not_found");
    assert_non_null(strstr(r.body, "nope"));
    http_client_response_free(&r);
}

static void test_kserve_wrong_methods_are_405_with_allow(void **state)
{
    struct {
        const char *method, *path, *allow;
    } cases[] = {
        {"GET", "/v2/models/case00/infer", "POST"},
        {"POST", "/v2/models/case00", "GET, HEAD"},
        {"PUT", "/v2/health/live", "GET, HEAD"},
        {"DELETE", "/v2/models/case00/ready", "GET, HEAD"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_client_response r;
        assert_int_equal(http_client_request(repo_fixture_port(state), cases[i].method,
                                             cases[i].path, NULL, "", 0, &r),
                         0);
        expect_error(&r, 405, "method_not_allowed");
        assert_string_equal(http_client_header(&r, "Allow"), cases[i].allow);
        http_client_response_free(&r);
    }
}

/* POSTs text to case00's infer with extra headers and expects status and code. */
static void expect_infer_error(void **state, const char *body, size_t len,
                               const char *const *headers, int status, const char *code)
{
    struct http_client_response r;
    assert_int_equal(http_client_request(repo_fixture_port(state), "POST",
                                         "/v2/models/case00/infer", headers, body, len, &r),
                     0);
    expect_error(&r, status, code);
    http_client_response_free(&r);
}

static void test_kserve_bad_requests_are_400(void **state)
{
    struct repo_fixture *f = *state;
    const char *bodies[] = {
        "{",
        "[]",
        "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP64\", \"shape\": [1,1,1,1], "
        "\"data\": [1]}]}",
        "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1,1,1,1], "
        "\"data\": [1, 2]}]}",
        "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1,1,1,99], "
        "\"data\": []}], \"bogus\": 1}",
        "{\"inputs\": [{\"name\": \"filters\", \"datatype\": \"FP32\", \"shape\": [1], "
        "\"data\": [1]}]}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        expect_infer_error(state, bodies[i], strlen(bodies[i]), NULL, 400, "invalid_argument");

    /* A value whose channels differ from the model's filters: the op's validation. */
    const struct corpus_case *c = &f->cases[0];
    struct atrous_shape shape = c->value_shape;
    shape.dims[3] += 1;
    size_t count = fixture_shape_count(&shape);
    float *zeros = calloc(count, sizeof(float));
    struct proto_buf b = {0};
    size_t header_len = 0;
    struct kserve_body_opts o = {0};
    fixture_kserve_body(c, &shape, zeros, count, &o, &b, &header_len);
    expect_infer_error(state, b.data, b.len, NULL, 400, "invalid_argument");
    proto_buf_free(&b);
    free(zeros);

    /* The binary extension: a header length past the body, not a number, sizes that disagree. */
    o.binary_input = true;
    fixture_kserve_body(c, NULL, NULL, 0, &o, &b, &header_len);
    const char *past[] = {"Inference-Header-Content-Length: 99999", NULL};
    expect_infer_error(state, b.data, b.len, past, 400, "invalid_argument");
    const char *nan[] = {"Inference-Header-Content-Length: 12x", NULL};
    expect_infer_error(state, b.data, b.len, nan, 400, "invalid_argument");
    char ihcl[64];
    snprintf(ihcl, sizeof(ihcl), "Inference-Header-Content-Length: %zu", header_len);
    const char *ok[] = {ihcl, NULL};
    expect_infer_error(state, b.data, b.len - 4, ok, 400, "invalid_argument"); /* part short */
    proto_buf_put(&b, "abcd", 4);
    expect_infer_error(state, b.data, b.len, ok, 400, "invalid_argument"); /* bytes left over */
    proto_buf_free(&b);

    /* The generic model validates like the native API: rate 0 is TensorFlow's error. */
    struct corpus_case bad = f->cases[0];
    bad.rate = 0;
    struct kserve_body_opts generic = {.generic = true};
    fixture_kserve_body(&bad, NULL, NULL, 0, &generic, &b, &header_len);
    struct http_client_response r;
    assert_int_equal(http_client_request(repo_fixture_port(state), "POST",
                                         "/v2/models/atrous_conv2d_transpose/infer", NULL, b.data,
                                         b.len, &r),
                     0);
    expect_error(&r, 400, "invalid_argument");
    assert_non_null(strstr(r.body, "rate"));
    http_client_response_free(&r);
    proto_buf_free(&b);
}

/* Sends only the headers of a POST with this Content-Length (and extra header) and reads the
 * answer the server gives before any body byte. */
static void expect_headers_only_answer(void **state, uint64_t length, const char *extra, int status,
                                       const char *code)
{
    int fd = http_client_connect(repo_fixture_port(state), HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(http_client_sendf(fd,
                                       "POST /v2/models/case00/infer HTTP/1.1\r\nHost: t\r\n"
                                       "Content-Type: application/json\r\n%s"
                                       "Content-Length: %" PRIu64 "\r\n\r\n",
                                       extra, length),
                     0);
    struct http_client_response r;
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    expect_error(&r, status, code);
    http_client_response_free(&r);
    close(fd);
}

static void test_kserve_limits_and_media_types(void **state)
{
    /* JSON over --max-json-bytes, from Content-Length or from the binary header's length. */
    expect_headers_only_answer(state, JSON_CAP_BYTES + 1, "", 413, "too_large");
    char ihcl[96];
    snprintf(ihcl, sizeof(ihcl), "Inference-Header-Content-Length: %u\r\n", JSON_CAP_BYTES + 1);
    expect_headers_only_answer(state, JSON_CAP_BYTES + 2, ihcl, 413, "too_large");
    /* The body over --max-body-bytes (64 MiB by default). */
    expect_headers_only_answer(state, (uint64_t)1 << 30, "", 413, "too_large");
    /* A binary body may be larger than the JSON cap: only its header counts. */
    struct repo_fixture *f = *state;
    const struct corpus_case *c =
        fixture_find_case(f->cases, f->count, "large_1x33x47x24_to20_k3_r2_same");
    assert_non_null(c);
    char path[64];
    snprintf(path, sizeof(path), "/v2/models/case%02zu/infer", (size_t)(c - f->cases));
    struct kserve_body_opts o = {.binary_input = true, .binary_output = true};
    infer_case(state, path, c, &o);

    const char *html[] = {"Content-Type: text/html", NULL};
    expect_infer_error(state, "{}", 2, html, 415, "unsupported_media_type");
    const char *brotli[] = {"Content-Encoding: br", NULL};
    expect_infer_error(state, "{}", 2, brotli, 415, "unsupported_media_type");
    /* A body that is not what its coding says. */
    const char *gzip[] = {"Content-Encoding: gzip", NULL};
    expect_infer_error(state, "{}", 2, gzip, 400, "invalid_argument");
    /* curl -d's default Content-Type is accepted, as KServe and TF Serving servers do. */
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    expect_infer_error(state, "{", 1, form, 400, "invalid_argument");
}

static void test_kserve_bad_folders_are_logged_and_skipped(void **state)
{
    struct repo_fixture *f = *state;
    char *log = test_daemon_log(f->daemon);
    assert_non_null(log);
    assert_non_null(strstr(log, "model folder skipped"));
    assert_non_null(strstr(log, "broken_padding"));
    assert_non_null(strstr(log, "broken_npy"));
    assert_non_null(strstr(log, "\"folders_skipped\":2"));
    free(log);
    json_t *info = repo_fixture_get_json(state, "/v1/info", 200);
    json_t *models = json_object_get(info, "models");
    assert_int_equal(json_array_size(models), f->count + 2);
    json_t *first = json_array_get(models, 0);
    assert_string_equal(json_string_value(json_object_get(first, "name")), "case00");
    assert_int_equal(json_integer_value(json_object_get(first, "rate")), f->cases[0].rate);
    assert_string_equal(json_string_value(json_object_get(first, "padding")), f->cases[0].padding);
    assert_int_equal(json_array_size(json_object_get(first, "filters_shape")), 4);
    assert_non_null(json_object_get(first, "input_shape"));
    assert_true(json_is_integer(json_object_get(first, "prepared_layouts")));
    json_decref(info);
}

static void test_kserve_metrics_carry_model_labels(void **state)
{
    struct repo_fixture *f = *state;
    struct kserve_body_opts o = {0};
    infer_case(state, "/v2/models/versioned/versions/1/infer",
               fixture_find_case(f->cases, f->count, V1_CASE), &o);
    double v = 0;
    assert_int_equal(test_daemon_metric(f->daemon,
                                        "atrousd_model_requests_total{model=\"versioned\","
                                        "version=\"1\",endpoint=\"v2_infer\",status=\"200\"}",
                                        &v),
                     0);
    assert_true(v >= 1);
    assert_int_equal(
        test_daemon_metric(f->daemon, "atrousd_model_requests_total{model=\"nope\"", &v), 0);
    assert_true(v == 0); /* unknown models get no series of their own */
    assert_int_equal(test_daemon_metric(f->daemon,
                                        "atrousd_model_request_duration_seconds_count{model="
                                        "\"atrous_conv2d_transpose\",version=\"1\",endpoint="
                                        "\"v2_infer\"}",
                                        &v),
                     0);
    assert_true(v >= 1);
    /* The access log is written by a flusher, after the metrics counted the request. */
    assert_int_equal(
        test_daemon_wait_log(f->daemon, "\"model\":\"versioned\",\"version\":\"1\"", 10000), 0);
    char *log = test_daemon_log(f->daemon);
    assert_non_null(strstr(log, "\"model\":\"versioned\",\"version\":\"1\""));
    free(log);
}

/* A daemon of its own: an upload held in flight keeps the drain going while readiness and
 * infer are asked on connections opened before SIGTERM. */
static void test_kserve_readiness_and_infer_while_draining(void **state)
{
    struct repo_fixture *f = *state;
    struct test_daemon d;
    char why[512];
    const char *args[] = {"--model-dir", f->root, NULL};
    assert_int_equal(test_daemon_start(&d, args, why, sizeof(why)), 0);
    struct proto_buf b = {0};
    size_t header_len = 0;
    struct kserve_body_opts o = {0};
    fixture_kserve_body(&f->cases[0], NULL, NULL, 0, &o, &b, &header_len);
    int upload = http_client_connect(d.port, HTTP_CLIENT_TIMEOUT_MS);
    int ready_conn = http_client_connect(d.port, HTTP_CLIENT_TIMEOUT_MS);
    int model_conn = http_client_connect(d.port, HTTP_CLIENT_TIMEOUT_MS);
    int infer_conn = http_client_connect(d.port, HTTP_CLIENT_TIMEOUT_MS);
    assert_true(upload >= 0 && ready_conn >= 0 && model_conn >= 0 && infer_conn >= 0);
    assert_int_equal(http_client_sendf(upload,
                                       "POST /v2/models/case00/infer HTTP/1.1\r\nHost: t\r\n"
                                       "Content-Length: %zu\r\n\r\n",
                                       b.len),
                     0);
    assert_int_equal(http_client_send(upload, b.data, b.len / 2, HTTP_CLIENT_TIMEOUT_MS), 0);
    /* In flight: this upload and the /metrics request that reads the gauge (waiting for 1
     * would pass on the scrape alone, and the upload's headers could then arrive after the
     * SIGTERM and get 503). */
    assert_int_equal(test_daemon_wait_metric(&d, "atrousd_http_requests_in_flight", 2, 30000), 0);

    assert_int_equal(test_daemon_signal(&d, SIGTERM), 0);
    assert_int_equal(test_daemon_wait_log(&d, "\"msg\":\"draining\"", 30000), 0);
    struct http_client_response r;
    assert_int_equal(
        http_client_sendf(ready_conn, "GET /v2/health/ready HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    assert_int_equal(http_client_read(ready_conn, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"ready\":false}");
    http_client_response_free(&r);
    assert_int_equal(
        http_client_sendf(model_conn, "GET /v2/models/case00/ready HTTP/1.1\r\nHost: t\r\n\r\n"),
        0);
    assert_int_equal(http_client_read(model_conn, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 503);
    http_client_response_free(&r);
    assert_int_equal(http_client_send_request(infer_conn, "POST", "/v2/models/case00/infer", NULL,
                                              b.data, b.len),
                     0);
    assert_int_equal(http_client_read(infer_conn, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    expect_error(&r, 503, "unavailable");
    http_client_response_free(&r);

    /* The request in flight still completes with its result. */
    assert_int_equal(
        http_client_send(upload, b.data + b.len / 2, b.len - b.len / 2, HTTP_CLIENT_TIMEOUT_MS), 0);
    assert_int_equal(http_client_read(upload, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    struct fixture_output out;
    if (r.status != 200 || fixture_kserve_output(&r, &out, why, sizeof(why)) != 0 ||
        fixture_check_output(&out, &f->cases[0], 0, 0, why, sizeof(why)) != 0)
        fail_msg("in-flight infer: %d %s", r.status, why);
    fixture_output_free(&out);
    http_client_response_free(&r);
    assert_int_equal(test_daemon_wait_exit(&d, 30000), 0);
    assert_true(WIFEXITED(d.wait_status) && WEXITSTATUS(d.wait_status) == 0);
    close(upload);
    close(ready_conn);
    close(model_conn);
    close(infer_conn);
    proto_buf_free(&b);
    test_daemon_stop(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kserve_health_and_server_metadata),
        cmocka_unit_test(test_kserve_repository_models_reproduce_the_corpus),
        cmocka_unit_test(test_kserve_generic_model_reproduces_the_corpus),
        cmocka_unit_test(test_kserve_versions_route_to_their_filters),
        cmocka_unit_test(test_kserve_model_documents),
        cmocka_unit_test(test_kserve_unknown_models_versions_and_paths_are_404),
        cmocka_unit_test(test_kserve_wrong_methods_are_405_with_allow),
        cmocka_unit_test(test_kserve_bad_requests_are_400),
        cmocka_unit_test(test_kserve_limits_and_media_types),
        cmocka_unit_test(test_kserve_bad_folders_are_logged_and_skipped),
        cmocka_unit_test(test_kserve_metrics_carry_model_labels),
        cmocka_unit_test(test_kserve_readiness_and_infer_while_draining),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
