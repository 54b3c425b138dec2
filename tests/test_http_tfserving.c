/*
 * test_http_tfserving.c - TF Serving's v1 REST API of the real daemon, started with --model-dir
 * on a scratch repository whose models are the conformance cases' filters: every valid case
 * through :predict in the row format (instances, bare and {"value": ...}) and the columnar one
 * (inputs), checked against the corpus; model status and metadata; TF Serving's 404 message
 * for unknown models and versions; 405; 400 for bodies TF Serving rejects; 413 over
 * --max-json-bytes; the native endpoints beside /v1/models are untouched.
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
#include "http_model_fixtures.h"

#define JSON_CAP       "512k"
#define JSON_CAP_BYTES (512u << 10)

/* Besides the cases' models: two versions of model "multi". */
static int write_more(struct repo_fixture *f)
{
    return fixture_write_case_model(f->root, "multi_1", "multi", &f->cases[0], "", 1) != 0 ||
                   fixture_write_case_model(f->root, "multi_3", "multi", &f->cases[1],
                                            ", \"version\": 3", 1) != 0
               ? -1
               : 0;
}

static int setup(void **state)
{
    return repo_fixture_setup(state, "tfs", JSON_CAP, write_more);
}

static int teardown(void **state)
{
    return repo_fixture_teardown(state);
}

enum predict_form {
    ROWS,       /* {"instances": [<[H][W][IC]>, ...]} */
    ROWS_NAMED, /* {"instances": [{"value": <[H][W][IC]>}, ...]} */
    COLUMNS,    /* {"inputs": <[N][H][W][IC]>} */
};

static void predict_body(const struct corpus_case *c, enum predict_form form, struct proto_buf *b)
{
    const int64_t *dims = c->value_shape.dims;
    size_t row = (size_t)(dims[1] * dims[2] * dims[3]);
    if (form == COLUMNS) {
        proto_buf_printf(b, "{\"signature_name\": \"serving_default\", \"inputs\": ");
        proto_buf_nested(b, dims, 4, c->value);
        proto_buf_printf(b, "}");
        return;
    }
    proto_buf_printf(b, "{\"instances\": [");
    for (int64_t n = 0; n < dims[0]; n++) {
        proto_buf_printf(b, "%s%s", n ? ", " : "", form == ROWS_NAMED ? "{\"value\": " : "");
        proto_buf_nested(b, dims + 1, 3, c->value + (size_t)n * row);
        proto_buf_printf(b, "%s", form == ROWS_NAMED ? "}" : "");
    }
    proto_buf_printf(b, "]}");
}

/* Reads {"predictions": [...]} or {"outputs": [...]}: the nested list's shape (following first
 * elements) and its numbers. */
static int predict_output(const struct http_client_response *r, const char *key,
                          struct fixture_output *o)
{
    json_error_t jerr;
    memset(o, 0, sizeof(*o));
    o->doc = json_loadb(r->body ? r->body : "", r->body_len, 0, &jerr);
    const json_t *v = json_object_get(o->doc, key);
    if (v == NULL || json_object_size(o->doc) != 1)
        return -1;
    for (const json_t *p = v; json_is_array(p) && o->shape.rank < ATROUS_MAX_RANK;
         p = json_array_get(p, 0))
        o->shape.dims[o->shape.rank++] = (int64_t)json_array_size(p);
    size_t count = fixture_shape_count(&o->shape);
    o->data = calloc(count + 1, sizeof(float));
    return fixture_read_numbers(v, o, count) == 0 && o->count == count ? 0 : -1;
}

static void predict_case(void **state, const char *path, const struct corpus_case *c,
                         enum predict_form form)
{
    struct proto_buf b = {0};
    struct http_client_response r;
    struct fixture_output out;
    char why[512];
    predict_body(c, form, &b);
    const char *headers[] = {"Content-Type: application/json", NULL};
    assert_int_equal(
        http_client_request(repo_fixture_port(state), "POST", path, headers, b.data, b.len, &r), 0);
    if (r.status != 200)
        fail_msg("%s %s: status %d: %s", path, c->name, r.status, r.body);
    assert_string_equal(http_client_header(&r, "Content-Type"), "application/json");
    if (predict_output(&r, form == COLUMNS ? "outputs" : "predictions", &out) != 0)
        fail_msg("%s %s: not a predict answer: %.200s", path, c->name, r.body);
    if (fixture_check_output(&out, c, 0, 0, why, sizeof(why)) != 0)
        fail_msg("%s: %s", path, why);
    fixture_output_free(&out);
    http_client_response_free(&r);
    proto_buf_free(&b);
}

static void test_tfs_predict_reproduces_the_corpus(void **state)
{
    struct repo_fixture *f = *state;
    char path[96];
    for (size_t i = 0; i < f->count; i++) {
        char name[32];
        repo_fixture_case_model(i, name, sizeof(name));
        snprintf(path, sizeof(path), "/v1/models/%s:predict", name);
        predict_case(state, path, &f->cases[i], (enum predict_form)(i % 3));
        if (i % 3 != COLUMNS)
            predict_case(state, path, &f->cases[i], COLUMNS);
    }
}

static void test_tfs_versions_route_to_their_filters(void **state)
{
    struct repo_fixture *f = *state;
    predict_case(state, "/v1/models/multi/versions/1:predict", &f->cases[0], ROWS);
    predict_case(state, "/v1/models/multi/versions/3:predict", &f->cases[1], ROWS);
    predict_case(state, "/v1/models/multi:predict", &f->cases[1], COLUMNS); /* the highest */
}

static void test_tfs_status_and_metadata(void **state)
{
    json_t *doc = repo_fixture_get_json(state, "/v1/models/multi", 200);
    json_t *list = json_object_get(doc, "model_version_status");
    assert_int_equal(json_array_size(list), 2); /* versions 1 and 3 */
    json_t *first = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(first, "state")), "AVAILABLE");
    json_decref(doc);
    doc = repo_fixture_get_json(state, "/v1/models/multi/versions/3", 200);
    list = json_object_get(doc, "model_version_status");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "version")),
                        "3");
    json_decref(doc);
    doc = repo_fixture_get_json(state, "/v1/models/case05/metadata", 200);
    json_t *sig = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "metadata"), "signature_def"),
                        "signature_def"),
        "serving_default");
    assert_non_null(json_object_get(json_object_get(sig, "inputs"), "value"));
    assert_string_equal(json_string_value(json_object_get(sig, "method_name")),
                        "tensorflow/serving/predict");
    json_decref(doc);
    /* The native endpoints under /v1 are not model paths. */
    doc = repo_fixture_get_json(state, "/v1/info", 200);
    assert_non_null(json_object_get(doc, "models"));
    json_decref(doc);
}

static void expect_status(void **state, const char *method, const char *path, const char *body,
                          int status, const char *code, const char *message_part)
{
    struct http_client_response r;
    assert_int_equal(http_client_request(repo_fixture_port(state), method, path, NULL, body,
                                         body ? strlen(body) : 0, &r),
                     0);
    if (r.status != status)
        fail_msg("%s %s: %d, expected %d: %s", method, path, r.status, status, r.body);
    char got[64];
    assert_int_equal(fixture_error_code(&r, got, sizeof(got)), 0);
    assert_string_equal(got, code);
    if (message_part != NULL && strstr(r.body, message_part) == NULL)
        fail_msg("%s %s: '%s' not in %s", method, path, message_part, r.body);
    http_client_response_free(&r);
}

static void test_tfs_errors(void **state)
{
    expect_status(state, "GET", "/v1/models/half", NULL, 404, "not_found",
                  "Servable not found for request: Latest(half)");
    expect_status(state, "GET", "/v1/models/case00/versions/2/metadata", NULL, 404, "not_found",
                  "Specific(case00, 2)");
    expect_status(state, "POST", "/v1/models/nope:predict", "{}", 404, "not_found", "nope");
    expect_status(state, "GET", "/v1/models/case00/labels/x", NULL, 404, "not_found", NULL);
    expect_status(state, "GET", "/v1/models/case00:predict", NULL, 405, "method_not_allowed", NULL);
    expect_status(state, "POST", "/v1/models/case00", "{}", 405, "method_not_allowed", NULL);
    expect_status(state, "POST", "/v1/models/case00:predict",
                  "{\"instances\": [[[[1]]]], \"inputs\": [[[[1]]]]}", 400, "invalid_argument",
                  NULL);
    expect_status(state, "POST", "/v1/models/case00:predict", "{}", 400, "invalid_argument", NULL);
    expect_status(state, "POST", "/v1/models/case00:predict", "{\"instances\": []}", 400,
                  "invalid_argument", NULL);
    expect_status(state, "POST", "/v1/models/case00:predict",
                  "{\"instances\": [[[[1, 2, 3, 4, 5, 6, 7]]]]}", 400, "invalid_argument", NULL);
    expect_status(state, "POST", "/v1/models/case00:predict",
                  "{\"signature_name\": \"other\", \"instances\": [[[[1]]]]}", 400,
                  "invalid_argument", NULL);
    /* A number past float32 (NaN and Infinity tokens are numbers: test_http_json_tokens). */
    expect_status(state, "POST", "/v1/models/case00:predict", "{\"instances\": [[[[-1e39]]]]}", 400,
                  "invalid_argument", NULL);

    /* Over --max-json-bytes: answered from Content-Length, before the body. */
    int fd = http_client_connect(repo_fixture_port(state), HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(http_client_sendf(fd,
                                       "POST /v1/models/case00:predict HTTP/1.1\r\nHost: t\r\n"
                                       "Content-Length: %u\r\n\r\n",
                                       JSON_CAP_BYTES + 1),
                     0);
    struct http_client_response r;
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "--max-json-bytes"));
    http_client_response_free(&r);
    close(fd);
}

static void test_tfs_metrics_carry_model_labels(void **state)
{
    struct repo_fixture *f = *state;
    double v = 0;
    assert_int_equal(test_daemon_metric(f->daemon,
                                        "atrousd_model_requests_total{model=\"multi\","
                                        "version=\"3\",endpoint=\"tfs_predict\",status=\"200\"}",
                                        &v),
                     0);
    assert_true(v >= 2);
    assert_int_equal(test_daemon_metric(f->daemon,
                                        "atrousd_http_requests_total{endpoint=\"tfs_predict\","
                                        "status=\"404\"}",
                                        &v),
                     0);
    assert_true(v >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tfs_predict_reproduces_the_corpus),
        cmocka_unit_test(test_tfs_versions_route_to_their_filters),
        cmocka_unit_test(test_tfs_status_and_metadata),
        cmocka_unit_test(test_tfs_errors),
        cmocka_unit_test(test_tfs_metrics_carry_model_labels),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
