/*
 * test_http_dtypes.c - bfloat16 and float16 tensors through the real daemon on every wire form:
 * each valid corpus case converted to the dtype (value and filters rounded to nearest even) is
 * sent as native binary (2 bytes per element: half the float32 body, asserted), native JSON,
 * KServe v2 JSON and binary extension (generic model), and TF Serving (a repository model
 * declaring the dtype, whose filters the server rounds at load). Each answer must be in the
 * dtype (every value representable, X-Output-Dtype / "datatype" saying it) and within the
 * corpus tolerance plus one rounding of the dtype of the reference computed, in double, from
 * the converted inputs (tests/support/naive_ref.c). The precision parameter: f32 always runs
 * f32; bf16 runs bf16 only where /v1/info says the engine has it, and the answer says which.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atrous_dtype.h"
#include "daemon.h"
#include "http_client.h"
#include "http_model_fixtures.h"
#include "naive_ref.h"

#define JSON_CAP "4m"

static const enum atrous_dtype half_types[2] = {ATROUS_DTYPE_BFLOAT16, ATROUS_DTYPE_FLOAT16};
static const char *const model_prefix[2] = {"bf16_", "f16_"};

/* Each case twice more, as a model declaring each 16-bit dtype: "bf16_NN", "f16_NN". */
static int write_models(struct repo_fixture *f)
{
    char name[32];
    for (size_t i = 0; i < f->count; i++) {
        for (int t = 0; t < 2; t++) {
            char extra[64];
            snprintf(name, sizeof(name), "%s%02zu", model_prefix[t], i);
            snprintf(extra, sizeof(extra), ", \"dtype\": \"%s\"", atrous_dtype_name(half_types[t]));
            if (fixture_write_case_model(f->root, name, name, &f->cases[i], extra, 1) != 0)
                return -1;
        }
    }
    return 0;
}

static int setup(void **state)
{
    const char *extra[] = {"--max-json-bytes", JSON_CAP, NULL};
    return repo_fixture_start(state, "dtypes", false, extra, write_models);
}

static int teardown(void **state)
{
    return repo_fixture_teardown(state);
}

/* A case converted to a dtype: the rounded inputs (as float32, exact), their 16-bit encodings,
 * and the reference output computed from the rounded inputs. */
struct half_case {
    enum atrous_dtype dtype;
    float *value, *filters, *ref;
    unsigned char *bytes; /* value then filters, 2 bytes each, little-endian */
    size_t value_count, filters_count, out_count;
};

static void half_case_make(const struct corpus_case *c, enum atrous_dtype dtype,
                           struct half_case *h)
{
    struct naive_problem p;
    memset(h, 0, sizeof(*h));
    h->dtype = dtype;
    h->value_count = c->value_count;
    h->filters_count = c->filters_count;
    h->value = calloc(h->value_count + 1, sizeof(float));
    h->filters = calloc(h->filters_count + 1, sizeof(float));
    h->bytes = calloc(2 * (h->value_count + h->filters_count) + 1, 1);
    assert_non_null(h->value);
    assert_non_null(h->filters);
    assert_non_null(h->bytes);
    for (size_t i = 0; i < h->value_count; i++)
        h->value[i] = atrous_dtype_round(dtype, c->value[i]);
    for (size_t i = 0; i < h->filters_count; i++)
        h->filters[i] = atrous_dtype_round(dtype, c->filters[i]);
    atrous_dtype_narrow(dtype, h->value, h->bytes, h->value_count);
    atrous_dtype_narrow(dtype, h->filters, h->bytes + 2 * h->value_count, h->filters_count);
    naive_problem_from_case(c, &p);
    h->out_count = naive_ref_elements(p.output);
    h->ref = calloc(h->out_count + 1, sizeof(float));
    assert_non_null(h->ref);
    naive_ref_run(&p, h->value, h->filters, h->ref);
}

static void half_case_free(struct half_case *h)
{
    free(h->value);
    free(h->filters);
    free(h->bytes);
    free(h->ref);
}

/* The spacing of dtype's values at |x|: one rounding of the output is at most half of it. */
static double dtype_ulp(enum atrous_dtype dtype, double x)
{
    const float a = (float)fabs(x);
    const uint16_t h =
        dtype == ATROUS_DTYPE_BFLOAT16 ? atrous_f32_to_bf16(a) : atrous_f32_to_f16(a);
    const uint16_t up = (uint16_t)(h + 1);
    const float lo = dtype == ATROUS_DTYPE_BFLOAT16 ? atrous_bf16_to_f32(h) : atrous_f16_to_f32(h);
    const float hi =
        dtype == ATROUS_DTYPE_BFLOAT16 ? atrous_bf16_to_f32(up) : atrous_f16_to_f32(up);
    return isfinite(hi) ? (double)hi - (double)lo : (double)lo / 128;
}

/* Every element a value of the dtype, and within the corpus tolerance plus one rounding of the
 * dtype of the reference. Returns 0, or -1 with why. */
static int check_half(const struct half_case *h, const float *got, size_t count, char *why,
                      size_t size)
{
    if (count != h->out_count) {
        snprintf(why, size, "%zu elements, expected %zu", count, h->out_count);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const double ref = h->ref[i], g = got[i];
        if (atrous_dtype_round(h->dtype, got[i]) != got[i]) {
            snprintf(why, size, "element %zu = %.9g is not a %s value", i, g,
                     atrous_dtype_name(h->dtype));
            return -1;
        }
        const double bound = 1e-4 + 1e-4 * fabs(ref) + dtype_ulp(h->dtype, ref) / 2;
        if (!(fabs(g - ref) <= bound)) {
            snprintf(why, size, "element %zu = %.9g, reference %.9g (bound %.3g)", i, g, ref,
                     bound);
            return -1;
        }
    }
    return 0;
}

/* Widens a 2-byte answer of count elements; NULL unless it holds exactly that. */
static float *widen_answer(enum atrous_dtype dtype, const void *bytes, size_t len, size_t count)
{
    if (len != 2 * count)
        return NULL;
    float *out = calloc(count + 1, sizeof(float));
    if (out != NULL)
        atrous_dtype_widen(dtype, bytes, out, count);
    return out;
}

/* Native binary: dtype= in the query, 2-byte elements in the body (half the float32 one), the
 * answer 2-byte elements with X-Output-Dtype. */
static void native_binary_case(uint16_t port, const struct corpus_case *c,
                               const struct half_case *h)
{
    struct http_op_args a;
    struct http_client_response r;
    char target[2048], why[512];
    size_t f32_len = 0;
    http_op_args_from_case(c, &a);
    char *base = http_op_binary_target(&a);
    void *f32_body = http_op_binary_body(&a, &f32_len);
    assert_non_null(base);
    snprintf(target, sizeof(target), "%s&dtype=%s", base, atrous_dtype_name(h->dtype));
    const size_t len = 2 * (h->value_count + h->filters_count);
    assert_int_equal(len * 2, f32_len); /* half the bytes of the float32 request */
    const char *headers[] = {"Content-Type: application/octet-stream", NULL};
    assert_int_equal(http_client_request(port, "POST", target, headers, h->bytes, len, &r), 0);
    if (r.status != 200)
        fail_msg("%s as %s binary: status %d: %s", c->name, atrous_dtype_name(h->dtype), r.status,
                 r.body);
    assert_string_equal(http_client_header(&r, "X-Output-Dtype"), atrous_dtype_name(h->dtype));
    assert_string_equal(http_client_header(&r, "X-Compute-Precision"), "f32");
    float *got = widen_answer(h->dtype, r.body, r.body_len, h->out_count);
    if (got == NULL)
        fail_msg("%s: answer of %zu bytes for %zu elements", c->name, r.body_len, h->out_count);
    if (check_half(h, got, h->out_count, why, sizeof(why)) != 0)
        fail_msg("%s as %s binary: %s", c->name, atrous_dtype_name(h->dtype), why);
    free(got);
    free(base);
    free(f32_body);
    http_client_response_free(&r);
}

/* Reads {"output": {"shape", "dtype", "data"}, "compute_precision"} checking the dtype. */
static float *json_answer(const struct http_client_response *r, const char *dtype, size_t *count)
{
    json_error_t jerr;
    json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, 0, &jerr);
    const json_t *out = json_object_get(doc, "output");
    const json_t *data = json_object_get(out, "data");
    float *got = NULL;
    if (json_is_array(data) &&
        strcmp(json_string_value(json_object_get(out, "dtype")) ?: "", dtype) == 0 &&
        strcmp(json_string_value(json_object_get(doc, "compute_precision")) ?: "", "f32") == 0) {
        *count = json_array_size(data);
        got = calloc(*count + 1, sizeof(float));
        for (size_t i = 0; got != NULL && i < *count; i++)
            got[i] = (float)json_number_value(json_array_get(data, i));
    }
    json_decref(doc);
    return got;
}

/* Native JSON: the request-level "dtype"; numbers written exactly (they are dtype values). */
static void native_json_case(uint16_t port, const struct corpus_case *c, const struct half_case *h)
{
    struct http_op_args a;
    struct http_client_response r;
    struct proto_buf b = {0};
    char why[512];
    size_t len = 0, count = 0;
    http_op_args_from_case(c, &a);
    a.value = h->value;
    a.filters = h->filters;
    char *json = http_op_json(&a, &len);
    assert_non_null(json);
    assert_true(len > 1 && json[0] == '{');
    proto_buf_printf(&b, "{\"dtype\": \"%s\", %s", atrous_dtype_name(h->dtype), json + 1);
    const char *headers[] = {"Content-Type: application/json", NULL};
    assert_int_equal(
        http_client_request(port, "POST", HTTP_CLIENT_OP_PATH, headers, b.data, b.len, &r), 0);
    if (r.status != 200)
        fail_msg("%s as %s JSON: status %d: %s", c->name, atrous_dtype_name(h->dtype), r.status,
                 r.body);
    assert_string_equal(http_client_header(&r, "X-Output-Dtype"), atrous_dtype_name(h->dtype));
    float *got = json_answer(&r, atrous_dtype_name(h->dtype), &count);
    if (got == NULL)
        fail_msg("%s: not a %s answer: %.200s", c->name, atrous_dtype_name(h->dtype), r.body);
    if (check_half(h, got, count, why, sizeof(why)) != 0)
        fail_msg("%s as %s JSON: %s", c->name, atrous_dtype_name(h->dtype), why);
    free(got);
    free(json);
    proto_buf_free(&b);
    http_client_response_free(&r);
}

/* KServe v2, generic model: value and filters as BF16/FP16, JSON numbers or binary parts of 2
 * bytes per element; the answer as JSON or binary, "datatype" the dtype. */
static void kserve_case(uint16_t port, const struct corpus_case *c, const struct half_case *h,
                        bool binary_input, bool binary_output)
{
    struct proto_buf b = {0};
    struct http_client_response r;
    char why[512], ihcl[64];
    const char *type = atrous_dtype_kserve_name(h->dtype);
    int64_t out_len[1] = {(int64_t)c->output_shape_len};
    proto_buf_printf(&b, "{\"inputs\": [");
    for (int t = 0; t < 2; t++) {
        const struct atrous_shape *s = t == 0 ? &c->value_shape : &c->filters_shape;
        const size_t n = t == 0 ? h->value_count : h->filters_count;
        proto_buf_printf(&b,
                         "%s{\"name\": \"%s\", \"datatype\": \"%s\", \"shape\": ", t ? ", " : "",
                         t == 0 ? "value" : "filters", type);
        proto_buf_ints(&b, s->dims, (size_t)s->rank);
        if (binary_input) {
            proto_buf_printf(&b, ", \"parameters\": {\"binary_data_size\": %zu}}", 2 * n);
        } else {
            proto_buf_printf(&b, ", \"data\": ");
            proto_buf_floats(&b, t == 0 ? h->value : h->filters, n);
            proto_buf_printf(&b, "}");
        }
    }
    proto_buf_printf(&b, ", {\"name\": \"output_shape\", \"datatype\": \"INT64\", \"shape\": ");
    proto_buf_ints(&b, out_len, 1);
    proto_buf_printf(&b, ", \"data\": ");
    proto_buf_ints(&b, c->output_shape, c->output_shape_len);
    proto_buf_printf(&b, "}], \"parameters\": {\"rate\": %lld, \"padding\": \"%s\"}",
                     (long long)c->rate, c->padding);
    proto_buf_printf(&b,
                     ", \"outputs\": [{\"name\": \"output\", \"parameters\": {\"binary_data\": "
                     "%s}}]}",
                     binary_output ? "true" : "false");
    const size_t header_len = b.len;
    if (binary_input)
        proto_buf_put(&b, h->bytes, 2 * (h->value_count + h->filters_count));
    snprintf(ihcl, sizeof(ihcl), "Inference-Header-Content-Length: %zu", header_len);
    const char *headers[] = {binary_input ? "Content-Type: application/octet-stream"
                                          : "Content-Type: application/json",
                             binary_input ? ihcl : NULL, NULL};
    assert_int_equal(http_client_request(port, "POST", "/v2/models/atrous_conv2d_transpose/infer",
                                         headers, b.data, b.len, &r),
                     0);
    if (r.status != 200)
        fail_msg("%s as %s KServe: status %d: %s", c->name, type, r.status, r.body);
    const char *answer_ihcl = http_client_header(&r, "Inference-Header-Content-Length");
    assert_true((answer_ihcl != NULL) == binary_output);
    const size_t json_len = answer_ihcl ? (size_t)strtoull(answer_ihcl, NULL, 10) : r.body_len;
    assert_true(json_len <= r.body_len);
    json_error_t jerr;
    json_t *doc = json_loadb(r.body, json_len, 0, &jerr);
    const json_t *out = json_array_get(json_object_get(doc, "outputs"), 0);
    assert_non_null(out);
    assert_string_equal(json_string_value(json_object_get(out, "datatype")), type);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "parameters"), "compute_precision")),
        "f32");
    float *got = NULL;
    size_t count = 0;
    if (binary_output) {
        const json_t *size =
            json_object_get(json_object_get(out, "parameters"), "binary_data_size");
        assert_int_equal(json_integer_value(size), 2 * h->out_count);
        count = h->out_count;
        got = widen_answer(h->dtype, r.body + json_len, r.body_len - json_len, count);
    } else {
        const json_t *data = json_object_get(out, "data");
        count = json_array_size(data);
        got = calloc(count + 1, sizeof(float));
        for (size_t i = 0; got != NULL && i < count; i++)
            got[i] = (float)json_number_value(json_array_get(data, i));
    }
    if (got == NULL || check_half(h, got, count, why, sizeof(why)) != 0)
        fail_msg("%s as %s KServe (%s in, %s out): %s", c->name, type,
                 binary_input ? "binary" : "JSON", binary_output ? "binary" : "JSON",
                 got ? why : "no answer data");
    free(got);
    json_decref(doc);
    proto_buf_free(&b);
    http_client_response_free(&r);
}

/* TF Serving: a model declaring the dtype; the numbers sent are the case's own float32 values,
 * which the server rounds to the model's dtype (as the reference's inputs were). */
static void tfs_case(uint16_t port, size_t index, const struct corpus_case *c,
                     const struct half_case *h, int t)
{
    struct proto_buf b = {0};
    struct http_client_response r;
    struct fixture_output out;
    char path[96], why[512];
    snprintf(path, sizeof(path), "/v1/models/%s%02zu:predict", model_prefix[t], index);
    proto_buf_printf(&b, "{\"inputs\": ");
    proto_buf_nested(&b, c->value_shape.dims, 4, c->value);
    proto_buf_printf(&b, "}");
    const char *headers[] = {"Content-Type: application/json", NULL};
    assert_int_equal(http_client_request(port, "POST", path, headers, b.data, b.len, &r), 0);
    if (r.status != 200)
        fail_msg("%s: status %d: %s", path, r.status, r.body);
    assert_string_equal(http_client_header(&r, "X-Output-Dtype"), atrous_dtype_name(h->dtype));
    json_error_t jerr;
    memset(&out, 0, sizeof(out));
    out.doc = json_loadb(r.body, r.body_len, 0, &jerr);
    out.data = calloc(h->out_count + 1, sizeof(float));
    assert_non_null(out.data);
    if (fixture_read_numbers(json_object_get(out.doc, "outputs"), &out, h->out_count) != 0 ||
        check_half(h, out.data, out.count, why, sizeof(why)) != 0)
        fail_msg("%s (%s): %s", path, c->name, why);
    fixture_output_free(&out);
    proto_buf_free(&b);
    http_client_response_free(&r);
}

static void test_dtypes_every_case_on_every_wire_form(void **state)
{
    struct repo_fixture *f = *state;
    const uint16_t port = repo_fixture_port(state);
    for (size_t i = 0; i < f->count; i++) {
        for (int t = 0; t < 2; t++) {
            struct half_case h;
            half_case_make(&f->cases[i], half_types[t], &h);
            native_binary_case(port, &f->cases[i], &h);
            native_json_case(port, &f->cases[i], &h);
            kserve_case(port, &f->cases[i], &h, i % 2 == 0, i % 3 == 0);
            tfs_case(port, i, &f->cases[i], &h, t);
            half_case_free(&h);
        }
    }
}

/* The metadata documents declare a model's dtype. */
static void test_dtypes_model_metadata_declares_the_dtype(void **state)
{
    json_t *doc = repo_fixture_get_json(state, "/v2/models/f16_00", 200);
    const json_t *in = json_array_get(json_object_get(doc, "inputs"), 0);
    const json_t *out = json_array_get(json_object_get(doc, "outputs"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "datatype")), "FP16");
    assert_string_equal(json_string_value(json_object_get(out, "datatype")), "FP16");
    json_decref(doc);
    doc = repo_fixture_get_json(state, "/v2/models/bf16_00/config", 200);
    in = json_array_get(json_object_get(doc, "input"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "data_type")), "TYPE_BF16");
    json_decref(doc);
    doc = repo_fixture_get_json(state, "/v1/models/bf16_00/metadata", 200);
    char *text = json_dumps(doc, JSON_COMPACT);
    assert_non_null(strstr(text, "\"dtype\":\"DT_BFLOAT16\""));
    free(text);
    json_decref(doc);
}

/* /v1/info and /v2 say whether bf16 compute (and AMX) is there; both agree. */
static bool engine_has_bf16(void **state)
{
    json_t *info = repo_fixture_get_json(state, "/v1/info", 200);
    const json_t *engine = json_object_get(info, "engine");
    assert_true(json_is_boolean(json_object_get(engine, "bf16")));
    assert_true(json_is_boolean(json_object_get(engine, "amx")));
    const bool bf16 = json_is_true(json_object_get(engine, "bf16"));
    json_t *v2 = repo_fixture_get_json(state, "/v2", 200);
    assert_true(json_is_true(json_object_get(v2, "bf16")) == bf16);
    assert_true(json_equal(json_object_get(v2, "amx"), json_object_get(engine, "amx")));
    json_decref(v2);
    json_decref(info);
    return bf16;
}

/*
 * precision=bf16 on the native binary form and KServe: the request succeeds; it says bf16 only
 * where the engine has bf16 (else f32: a CPU without avx512_bf16 computes in f32 and says so);
 * precision=f32 and no precision say f32. A bf16 answer is checked against the bound of bf16
 * compute (README "bf16 compute: the error bound"): relative to the sum of |value*filter|.
 */
static void test_dtypes_precision_is_honoured_and_reported(void **state)
{
    struct repo_fixture *f = *state;
    const uint16_t port = repo_fixture_port(state);
    const bool bf16 = engine_has_bf16(state);
    const struct corpus_case *c = &f->cases[0];
    struct http_op_args a;
    struct http_client_response r;
    char target[2048];
    size_t len = 0;
    http_op_args_from_case(c, &a);
    char *base = http_op_binary_target(&a);
    void *body = http_op_binary_body(&a, &len);
    const char *headers[] = {"Content-Type: application/octet-stream", NULL};
    const char *const asks[3] = {"", "&precision=f32", "&precision=bf16"};
    for (int k = 0; k < 3; k++) {
        snprintf(target, sizeof(target), "%s%s", base, asks[k]);
        assert_int_equal(http_client_request(port, "POST", target, headers, body, len, &r), 0);
        assert_int_equal(r.status, 200);
        const char *ran = http_client_header(&r, "X-Compute-Precision");
        assert_non_null(ran);
        if (k < 2)
            assert_string_equal(ran, "f32");
        else if (!bf16)
            assert_string_equal(ran, "f32");
        else
            assert_true(strcmp(ran, "bf16") == 0 || strcmp(ran, "f32") == 0);
        assert_string_equal(http_client_header(&r, "X-Output-Dtype"), "float32");
        assert_int_equal(r.body_len, 4 * c->expected_count);
        /* Whatever ran, the answer is near the float32 one: bf16 keeps 8 bits of each input. */
        for (size_t i = 0; i < c->expected_count; i++) {
            float got;
            memcpy(&got, r.body + 4 * i, 4);
            if (strcmp(ran, "f32") == 0)
                assert_true(corpus_scaled_error(got, c->expected[i]) <= 1);
            else
                assert_true(isfinite(got));
        }
        http_client_response_free(&r);
    }
    /* A bad precision is a 400 naming it. */
    snprintf(target, sizeof(target), "%s&precision=fp8", base);
    assert_int_equal(http_client_request(port, "POST", target, headers, body, len, &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"field\":\"precision\""));
    http_client_response_free(&r);
    free(base);
    free(body);
}

/* Dtypes the service does not take: 400 naming the argument, listing the accepted dtypes and
 * telling the client to cast; on every form. */
static void test_dtypes_other_dtypes_are_400_saying_to_cast(void **state)
{
    struct repo_fixture *f = *state;
    const uint16_t port = repo_fixture_port(state);
    struct http_op_args a;
    struct http_client_response r;
    char target[2048];
    size_t len = 0;
    http_op_args_from_case(&f->cases[0], &a);
    char *base = http_op_binary_target(&a);
    void *body = http_op_binary_body(&a, &len);
    const char *bin[] = {"Content-Type: application/octet-stream", NULL};
    const char *json[] = {"Content-Type: application/json", NULL};
    snprintf(target, sizeof(target), "%s&dtype=float64", base);
    assert_int_equal(http_client_request(port, "POST", target, bin, body, len, &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "float32, bfloat16, float16"));
    assert_non_null(strstr(r.body, "cast"));
    http_client_response_free(&r);
    static const char op_json[] = "{\"value\": [[[[1]]]], \"filters\": [[[[1]]]], \"output_shape\":"
                                  " [1,1,1,1], \"rate\": 1, \"padding\": \"SAME\", \"dtype\": "
                                  "\"int8\"}";
    assert_int_equal(
        http_client_request(port, "POST", HTTP_CLIENT_OP_PATH, json, op_json, strlen(op_json), &r),
        0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"field\":\"dtype\""));
    assert_non_null(strstr(r.body, "cast"));
    http_client_response_free(&r);
    static const char v2[] =
        "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"INT8\", \"shape\": [1,1,1,1], "
        "\"data\": [1]}, {\"name\": \"filters\", \"datatype\": \"FP32\", \"shape\": [1,1,1,1], "
        "\"data\": [1]}, {\"name\": \"output_shape\", \"datatype\": \"INT64\", \"shape\": [4], "
        "\"data\": [1,1,1,1]}], \"parameters\": {\"rate\": 1, \"padding\": \"SAME\"}}";
    assert_int_equal(http_client_request(port, "POST", "/v2/models/atrous_conv2d_transpose/infer",
                                         json, v2, strlen(v2), &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "FP32, BF16, FP16"));
    http_client_response_free(&r);
    free(base);
    free(body);
}

/* output_dtype / the requested output's datatype: a float16 request answered in float32 is the
 * float32 result of the float16 inputs (no rounding of the output). */
static void test_dtypes_output_dtype_can_differ_from_the_inputs(void **state)
{
    struct repo_fixture *f = *state;
    const uint16_t port = repo_fixture_port(state);
    const struct corpus_case *c = &f->cases[0];
    struct half_case h;
    struct http_op_args a;
    struct http_client_response r;
    char target[2048];
    half_case_make(c, ATROUS_DTYPE_FLOAT16, &h);
    http_op_args_from_case(c, &a);
    char *base = http_op_binary_target(&a);
    snprintf(target, sizeof(target), "%s&dtype=float16&output_dtype=float32", base);
    const char *headers[] = {"Content-Type: application/octet-stream", NULL};
    const size_t len = 2 * (h.value_count + h.filters_count);
    assert_int_equal(http_client_request(port, "POST", target, headers, h.bytes, len, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(http_client_header(&r, "X-Output-Dtype"), "float32");
    assert_int_equal(r.body_len, 4 * h.out_count);
    for (size_t i = 0; i < h.out_count; i++) {
        float got;
        memcpy(&got, r.body + 4 * i, 4);
        assert_true(corpus_scaled_error(got, h.ref[i]) <= 1);
    }
    http_client_response_free(&r);
    free(base);
    half_case_free(&h);
}

/* Sends a binary op's headers and half its body, waits for the daemon to reserve the request's
 * memory (admission does it from the headers), and returns what is reserved; *fd stays open
 * with the upload pending. */
static double reserve_half_upload(const struct test_daemon *d, const char *target, const void *body,
                                  size_t len, int *fd)
{
    double in_use = 0;
    assert_int_equal(test_daemon_wait_metric_at_most(d, "atrousd_memory_budget_in_use_bytes", 0,
                                                     HTTP_CLIENT_TIMEOUT_MS),
                     0);
    *fd = http_client_connect(d->port, HTTP_CLIENT_TIMEOUT_MS);
    assert_true(*fd >= 0);
    assert_int_equal(http_client_sendf(*fd,
                                       "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: "
                                       "application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
                                       target, len),
                     0);
    assert_int_equal(http_client_send(*fd, body, len / 2, HTTP_CLIENT_TIMEOUT_MS), 0);
    for (int64_t deadline = test_now_ms() + HTTP_CLIENT_TIMEOUT_MS;
         in_use == 0 && test_now_ms() < deadline;) {
        assert_int_equal(test_daemon_metric(d, "atrousd_memory_budget_in_use_bytes", &in_use), 0);
        if (in_use == 0)
            test_pause_ms(5); /* polling an observable condition */
    }
    assert_true(in_use > 0);
    return in_use;
}

static void finish_upload(int fd, const void *body, size_t len)
{
    struct http_client_response r;
    assert_int_equal(
        http_client_send(fd, (const char *)body + len / 2, len - len / 2, HTTP_CLIENT_TIMEOUT_MS),
        0);
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    close(fd);
}

/* The memory budget counts a 16-bit binary request exactly: its 2-byte body and the float32
 * buffers it is widened into (4 bytes per element), where a float32 request counts its 4-byte
 * body and its aligned copy: for E input elements, 8E against 6E, all else equal. */
static void test_dtypes_budget_counts_the_wire_bytes_and_the_widened_buffers(void **state)
{
    struct repo_fixture *f = *state;
    const struct test_daemon *d = f->daemon;
    static const int64_t value[4] = {1, 48, 48, 16}, filters[4] = {3, 3, 16, 16};
    struct http_op_args a;
    char target[2048];
    size_t f32_len = 0;
    int fd;
    assert_int_equal(http_op_zeros(&a, value, filters, 2), 0);
    char *base = http_op_binary_target(&a);
    void *f32_body = http_op_binary_body(&a, &f32_len);
    const size_t elements = a.value_count + a.filters_count;
    unsigned char *half_body = calloc(2 * elements, 1);
    assert_non_null(half_body);
    const double f32_bytes = reserve_half_upload(d, base, f32_body, f32_len, &fd);
    finish_upload(fd, f32_body, f32_len);
    snprintf(target, sizeof(target), "%s&dtype=bfloat16", base);
    const double bf16_bytes = reserve_half_upload(d, target, half_body, 2 * elements, &fd);
    finish_upload(fd, half_body, 2 * elements);
    fprintf(stderr, "dtypes: %zu input elements reserve %.0f bytes as float32, %.0f as bfloat16\n",
            elements, f32_bytes, bf16_bytes);
    assert_true(f32_bytes - bf16_bytes == 2.0 * (double)elements);
    free(half_body);
    free(base);
    free(f32_body);
    http_op_zeros_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes_every_case_on_every_wire_form),
        cmocka_unit_test(test_dtypes_model_metadata_declares_the_dtype),
        cmocka_unit_test(test_dtypes_precision_is_honoured_and_reported),
        cmocka_unit_test(test_dtypes_other_dtypes_are_400_saying_to_cast),
        cmocka_unit_test(test_dtypes_output_dtype_can_differ_from_the_inputs),
        cmocka_unit_test(test_dtypes_budget_counts_the_wire_bytes_and_the_widened_buffers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
