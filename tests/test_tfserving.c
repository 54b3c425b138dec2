/*
 * test_tfserving.c - the TF Serving REST codec (proto/atrous_tfserving.c): every valid
 * conformance case sent as :predict to a repository model made from its filters, in the row
 * and columnar formats, with and without {"value": ...} objects, decoded, validated, run
 * through lib and compared with the expected output, the answer read back; malformed bodies;
 * paths; the status and metadata documents.
 */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "atrous_engine.h"
#include "atrous_kserve.h"
#include "atrous_model.h"
#include "atrous_tfserving.h"
#include "corpus.h"
#include "model_fixtures.h"
#include "codec_suite.h"
#include "proto_fixtures.h"

/* The :predict body of case c: row format (one [H][W][IC] instance per batch element) or
 * columnar ([N][H][W][IC]), each tensor bare or wrapped in {"value": ...}. */
static void build_predict(const struct corpus_case *c, bool columnar, bool wrapped,
                          struct proto_buf *b)
{
    const int64_t *dims = c->value_shape.dims;
    const size_t per = (size_t)(dims[1] * dims[2] * dims[3]);
    if (columnar) {
        proto_buf_printf(b, "{\"signature_name\": \"serving_default\", \"inputs\": %s",
                         wrapped ? "{\"value\": " : "");
        proto_buf_nested(b, dims, 4, c->value);
        proto_buf_printf(b, "%s}", wrapped ? "}" : "");
        return;
    }
    proto_buf_printf(b, "{\"instances\": [");
    for (int64_t n = 0; n < dims[0]; n++) {
        proto_buf_printf(b, "%s%s", n ? ", " : "", wrapped ? "{\"value\": " : "");
        proto_buf_nested(b, dims + 1, 3, c->value + (size_t)n * per);
        proto_buf_printf(b, "%s", wrapped ? "}" : "");
    }
    proto_buf_printf(b, "]}");
}

/* Checks that a nested JSON list holds data in shape dims, bit-exact; returns the data that
 * follows. */
static const float *check_nested(const json_t *v, const int64_t *dims, int rank, const float *data)
{
    if (rank == 0) {
        assert_true(json_is_number(v));
        assert_true((float)json_number_value(v) == *data);
        return data + 1;
    }
    assert_true(json_is_array(v));
    assert_int_equal(json_array_size(v), dims[0]);
    for (size_t i = 0; i < json_array_size(v); i++)
        data = check_nested(json_array_get(v, i), dims + 1, rank - 1, data);
    return data;
}

static void test_tfserving_cases_through_repository_models(void **state)
{
    struct codec_suite *s = *state;
    struct atrous_error err;
    size_t runs = 0;
    for (size_t i = 0; i < s->count; i++) {
        const struct corpus_case *c = &s->cases[i].c;
        if (strcmp(s->cases[i].folder, "valid") != 0 || c->value_shape.dims[0] == 0)
            continue;
        struct atrous_model *m = fixture_model_from_case(c);
        assert_non_null(m);
        assert_int_equal(atrous_model_prepare(m, s->engine, &err), ATROUS_OK);
        for (int form = 0; form < 2; form++) {
            bool columnar = form == 1, wrapped = (i + (size_t)form) % 2 == 0;
            struct proto_buf body = {0};
            struct atrous_tfs_request req;
            struct atrous_problem p;
            build_predict(c, columnar, wrapped, &body);
            if (atrous_tfs_decode_predict(m, body.data, body.len, NULL, &req, &err))
                fail_msg("%s: decode: %s", c->name, err.message);
            assert_int_equal(req.columnar, columnar);
            if (atrous_request_validate(&req.op, NULL, &p, &err))
                fail_msg("%s: validate: %s", c->name, err.message);
            float *got = calloc(p.output_elements + 1, sizeof(float));
            assert_non_null(got);
            for (size_t k = 0; k < p.output_elements; k++)
                got[k] = NAN;
            if (atrous_engine_run_filters(s->engine, s->workspace, &p, req.op.value, m->prepared,
                                          got, &err))
                fail_msg("%s: run: %s", c->name, err.message);
            struct corpus_comparison cmp;
            corpus_compare(got, c->expected, c->expected_count, &cmp);
            if (cmp.failures)
                fail_msg("%s: %zu elements out of tolerance", c->name, cmp.failures);

            struct atrous_shape out_shape;
            char *text = NULL;
            size_t len = 0;
            json_error_t jerr;
            atrous_problem_output_shape(&p, &out_shape);
            assert_int_equal(atrous_tfs_encode_predict(&req, &out_shape, got, &text, &len, &err),
                             ATROUS_OK);
            json_t *doc = json_loadb(text, len, 0, &jerr);
            assert_non_null(doc);
            assert_int_equal(json_object_size(doc), 1);
            check_nested(json_object_get(doc, columnar ? "outputs" : "predictions"), out_shape.dims,
                         4, got);
            json_decref(doc);
            free(text);
            free(got);
            atrous_tfs_request_release(&req);
            proto_buf_free(&body);
            runs++;
        }
        atrous_model_free(m);
    }
    printf("TF Serving predict requests run: %zu\n", runs);
    assert_true(runs >= 100);
}

static void test_tfserving_rejects_bad_bodies(void **state)
{
    struct codec_suite *s = *state;
    static const struct {
        const char *what, *body;
        enum atrous_status status;
        const char *expect;
    } tests[] = {
        {"row format", "{\"instances\": [[[[1, 2]]], [[[3, 4]]]]}", ATROUS_OK, ""},
        {"row format, objects", "{\"instances\": [{\"value\": [[[1, 2]]]}]}", ATROUS_OK, ""},
        {"columnar", "{\"inputs\": {\"value\": [[[[1, 2]]]]}}", ATROUS_OK, ""},
        {"both", "{\"instances\": [[[[1, 2]]]], \"inputs\": [[[[1, 2]]]]}", ATROUS_INVALID_ARGUMENT,
         "not both"},
        {"neither", "{\"signature_name\": \"serving_default\"}", ATROUS_INVALID_ARGUMENT,
         "has neither"},
        {"unknown key", "{\"instance\": [[[[1, 2]]]]}", ATROUS_INVALID_ARGUMENT,
         "unknown key \"instance\""},
        {"other signature", "{\"signature_name\": \"predict\", \"inputs\": [[[[1, 2]]]]}",
         ATROUS_INVALID_ARGUMENT, "signature_name must be \"serving_default\""},
        {"not JSON", "{\"inputs\": [[[[1, 2]]]]", ATROUS_INVALID_ARGUMENT, "invalid JSON"},
        {"not an object", "[1]", ATROUS_INVALID_ARGUMENT, "JSON object"},
        {"NaN token", "{\"inputs\": [[[[NaN, 2]]]]}", ATROUS_OK, ""},
        {"empty instances", "{\"instances\": []}", ATROUS_INVALID_ARGUMENT, "non-empty list"},
        {"instance of rank 2", "{\"instances\": [[[1, 2]]]}", ATROUS_INVALID_ARGUMENT,
         "instances[0] has 2 levels"},
        {"instance of rank 4", "{\"instances\": [[[[[1, 2]]]]]}", ATROUS_INVALID_ARGUMENT,
         "nested deeper than 3 levels"},
        {"ragged instances", "{\"instances\": [[[[1, 2]]], [[[3, 4], [5, 6]]]]}",
         ATROUS_INVALID_ARGUMENT, "instances[1]: nested data does not match shape [1, 1, 2]"},
        {"mixed instances", "{\"instances\": [[[[1, 2]]], {\"value\": [[[3, 4]]]}]}",
         ATROUS_INVALID_ARGUMENT, "all be lists"},
        {"other input name", "{\"instances\": [{\"x\": [[[1, 2]]]}]}", ATROUS_INVALID_ARGUMENT,
         "names input 'x'"},
        {"object without value", "{\"inputs\": {}}", ATROUS_INVALID_ARGUMENT,
         "lacks input 'value'"},
        {"columnar of rank 3", "{\"inputs\": [[[1, 2]]]}", ATROUS_INVALID_ARGUMENT,
         "it has 3 levels"},
        {"string number", "{\"inputs\": [[[[1, \"2\"]]]]}", ATROUS_INVALID_ARGUMENT,
         "element 1 must be a number, got a string"},
        {"boolean", "{\"instances\": [[[[true, 2]]]]}", ATROUS_INVALID_ARGUMENT, "got a boolean"},
        {"channels not the model's", "{\"inputs\": [[[[1, 2, 3]]]]}", ATROUS_INVALID_ARGUMENT,
         "does not fit model 'example' input"},
        {"batch over max_batch_size",
         "{\"instances\": [[[[1, 2]]], [[[1, 2]]], [[[1, 2]]], "
         "[[[1, 2]]], [[[1, 2]]], [[[1, 2]]], [[[1, 2]]], "
         "[[[1, 2]]], [[[1, 2]]]]}",
         ATROUS_INVALID_ARGUMENT, "max_batch_size 8"},
        {"float32 overflow", "{\"inputs\": [[[[1, 1e39]]]]}", ATROUS_INVALID_ARGUMENT,
         "too large for float32"},
        {"float32 overflow in the second instance", "{\"instances\": [[[[1, 2]]], [[[3, 1e39]]]]}",
         ATROUS_INVALID_ARGUMENT, "instances[1]: element 1 is too large for float32"},
        {"instances with whitespace everywhere",
         " {\n\"instances\"\t:\r\n[ [ [ [ 1 ,\t2 ] ] ] ,\n[[[3,4]]]\n]\t}\n", ATROUS_OK, ""},
        {"Infinity tokens", "{\"instances\": [[[[Infinity, -Infinity]]]]}", ATROUS_OK, ""},
        {"float32 overflow next to a NaN token", "{\"instances\": [[[[NaN, -1e39]]]]}",
         ATROUS_INVALID_ARGUMENT, "element 1 is too large for float32"},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        struct atrous_error err;
        struct atrous_tfs_request req;
        enum atrous_status st = atrous_tfs_decode_predict(s->example, tests[i].body,
                                                          strlen(tests[i].body), NULL, &req, &err);
        if (st != tests[i].status)
            fail_msg("%s: status %d, expected %d (%s)", tests[i].what, st, tests[i].status,
                     st ? err.message : "accepted");
        if (st != ATROUS_OK && strstr(err.message, tests[i].expect) == NULL)
            fail_msg("%s: \"%s\" lacks \"%s\"", tests[i].what, err.message, tests[i].expect);
        if (st == ATROUS_OK) {
            assert_ptr_equal(req.op.filters, s->example->filters);
            assert_int_equal(req.op.value_shape.dims[3], 2);
            assert_int_equal(req.op.output_shape[3], 4);
        }
        atrous_tfs_request_release(&req);
        assert_null(req.owned);
    }
}

/* Every prefix of a valid body, row and columnar, is a 400 naming the JSON, never a crash. */
static void test_tfserving_rejects_every_truncation(void **state)
{
    struct codec_suite *s = *state;
    static const char *const bodies[] = {
        "{\"signature_name\": \"serving_default\", \"instances\": [{\"value\": [[[1.5, "
        "-2e-3]]]}, {\"value\": [[[3, 4E+1]]]}]}",
        "{\"inputs\": [[[[1, 2]], [[3, 4]]]]}",
    };
    for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
        const size_t len = strlen(bodies[b]);
        for (size_t cut = 0; cut <= len; cut++) {
            struct atrous_error err;
            struct atrous_tfs_request req;
            char *body = malloc(cut ? cut : 1); /* ASan sees reads past the cut */
            memcpy(body, bodies[b], cut);
            enum atrous_status st =
                atrous_tfs_decode_predict(s->example, body, cut, NULL, &req, &err);
            if (cut == len)
                assert_int_equal(st, ATROUS_OK);
            else if (st != ATROUS_INVALID_ARGUMENT || strstr(err.message, "invalid JSON") == NULL)
                fail_msg("body %zu cut at %zu: status %d: %s", b, cut, st,
                         st ? err.message : "accepted");
            atrous_tfs_request_release(&req);
            free(body);
        }
    }
}

static void test_tfserving_limits(void **state)
{
    struct codec_suite *s = *state;
    struct atrous_error err;
    struct atrous_tfs_request req;
    const char *body = "{\"instances\": [[[[1, 2]]], [[[3, 4]]]]}";
    const struct atrous_tfs_limits elements = {.max_tensor_elements = 3};
    const struct atrous_tfs_limits json = {.max_json_bytes = 10};
    assert_int_equal(
        atrous_tfs_decode_predict(s->example, body, strlen(body), &elements, &req, &err),
        ATROUS_TOO_LARGE);
    assert_non_null(strstr(err.message, "4 elements, over the limit of 3"));
    assert_int_equal(atrous_tfs_decode_predict(s->example, body, strlen(body), &json, &req, &err),
                     ATROUS_CONTENT_TOO_LARGE);
    assert_non_null(strstr(err.message, "over the limit of 10"));
}

static void test_tfserving_paths_and_lookup(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        enum atrous_tfs_route_kind kind;
        const char *model, *version;
    } good[] = {
        {"/v1/models/example", ATROUS_TFS_ROUTE_STATUS, "example", ""},
        {"/v1/models/example/versions/1", ATROUS_TFS_ROUTE_STATUS, "example", "1"},
        {"/v1/models/example/metadata", ATROUS_TFS_ROUTE_METADATA, "example", ""},
        {"/v1/models/example/versions/7/metadata", ATROUS_TFS_ROUTE_METADATA, "example", "7"},
        {"/v1/models/example:predict", ATROUS_TFS_ROUTE_PREDICT, "example", ""},
        {"/v1/models/example/versions/1:predict", ATROUS_TFS_ROUTE_PREDICT, "example", "1"},
    };
    static const char *const bad[] = {
        "/v1/models/",
        "/v1/models/example/",
        "/v1/models/example:classify",
        "/v1/models/example:predict/",
        "/v1/models/example/labels/stable",
        "/v1/models/example/versions/x:predict",
        "/v1/models/example/versions/:predict",
        "/v1/atrous_conv2d_transpose",
        "/v2/models/example",
        "/v1/models/.x",
    };
    struct atrous_tfs_route r;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!atrous_tfs_parse_path(good[i].path, &r))
            fail_msg("%s rejected", good[i].path);
        assert_int_equal(r.kind, good[i].kind);
        assert_string_equal(r.model, good[i].model);
        assert_string_equal(r.version, good[i].version);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (atrous_tfs_parse_path(bad[i], &r))
            fail_msg("%s accepted", bad[i]);
        assert_int_equal(r.kind, ATROUS_TFS_ROUTE_NONE);
    }

    struct atrous_error err;
    assert_true(atrous_tfs_parse_path("/v1/models/example:predict", &r));
    assert_string_equal(r.model, "example");
    assert_true(atrous_tfs_parse_path("/v1/models/half:predict", &r));
    assert_int_equal(atrous_tfs_model_missing(&r, &err), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.message, "Servable not found for request: Latest(half)");
    assert_true(atrous_tfs_parse_path("/v1/models/example/versions/3", &r));
    assert_int_equal(atrous_tfs_model_missing(&r, &err), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.message, "Servable not found for request: Specific(example, 3)");
    /* The generic model exists only on the v2 API. */
    assert_true(atrous_tfs_parse_path("/v1/models/atrous_conv2d_transpose:predict", &r));
    assert_int_equal(atrous_tfs_model_missing(&r, &err), ATROUS_INVALID_ARGUMENT);
}

static void test_tfserving_documents(void **state)
{
    struct codec_suite *s = *state;
    struct atrous_tfs_route r;
    json_error_t jerr;
    size_t len = 0;

    assert_true(atrous_tfs_parse_path("/v1/models/example", &r));
    char *text = atrous_tfs_encode_status(&r, (const struct atrous_model *[]){s->example}, 1, &len);
    assert_non_null(text);
    json_t *doc = json_loadb(text, len, 0, &jerr);
    assert_non_null(doc);
    json_t *v = json_array_get(json_object_get(doc, "model_version_status"), 0);
    assert_string_equal(json_string_value(json_object_get(v, "version")), "1");
    assert_string_equal(json_string_value(json_object_get(v, "state")), "AVAILABLE");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(v, "status"), "error_code")), "OK");
    json_decref(doc);
    free(text);

    text = atrous_tfs_encode_metadata(s->example, &len);
    assert_non_null(text);
    doc = json_loadb(text, len, 0, &jerr);
    assert_non_null(doc);
    json_t *spec = json_object_get(doc, "model_spec");
    assert_string_equal(json_string_value(json_object_get(spec, "name")), "example");
    assert_string_equal(json_string_value(json_object_get(spec, "version")), "1");
    json_t *sig = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "metadata"), "signature_def"),
                        "signature_def"),
        "serving_default");
    assert_string_equal(json_string_value(json_object_get(sig, "method_name")),
                        "tensorflow/serving/predict");
    static const char *const in_dims[4] = {"-1", "-1", "-1", "2"};
    static const char *const out_dims[4] = {"-1", "-1", "-1", "4"};
    json_t *in = json_object_get(json_object_get(sig, "inputs"), "value");
    json_t *out = json_object_get(json_object_get(sig, "outputs"), "output");
    assert_string_equal(json_string_value(json_object_get(in, "dtype")), "DT_FLOAT");
    for (size_t i = 0; i < 4; i++) {
        json_t *dim = json_object_get(json_object_get(in, "tensor_shape"), "dim");
        assert_string_equal(json_string_value(json_object_get(json_array_get(dim, i), "size")),
                            in_dims[i]);
        dim = json_object_get(json_object_get(out, "tensor_shape"), "dim");
        assert_string_equal(json_string_value(json_object_get(json_array_get(dim, i), "size")),
                            out_dims[i]);
    }
    json_decref(doc);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tfserving_cases_through_repository_models),
        cmocka_unit_test(test_tfserving_rejects_bad_bodies),
        cmocka_unit_test(test_tfserving_rejects_every_truncation),
        cmocka_unit_test(test_tfserving_limits),
        cmocka_unit_test(test_tfserving_paths_and_lookup),
        cmocka_unit_test(test_tfserving_documents),
    };
    return cmocka_run_group_tests(tests, codec_suite_setup, codec_suite_teardown);
}
