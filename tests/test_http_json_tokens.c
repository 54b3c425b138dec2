/*
 * test_http_json_tokens.c - the JSON number tokens NaN, Infinity and -Infinity (TF Serving's
 * REST API documents them, Python's json.dumps writes them, atrousd's answers hold them) on
 * every JSON form of the real daemon: the op's JSON, KServe v2 JSON (a repository model and
 * the generic model) and TF Serving's rows and columns. Each form's answer is read back as the
 * next request's value, twice: every answer the service writes, it reads. Values are checked
 * against the naive reference (non-finite ones by class, finite ones within the corpus
 * tolerance). jansson reads no such tokens, so answers are read here as text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "http_client.h"
#include "http_model_fixtures.h"
#include "naive_ref.h"

/* value [1, 2, 3, 2] through 1x1 filters mixing the two channels (rate 1, VALID): a NaN or an
 * infinity in a pixel reaches both of its outputs, Infinity + -Infinity makes NaN. */
#define PIXELS   6
#define CHANNELS 2
#define COUNT    (PIXELS * CHANNELS)
static const int64_t value_dims[4] = {1, 2, 3, CHANNELS};
static const int64_t filter_dims[4] = {1, 1, CHANNELS, CHANNELS};
static const float filters[4] = {1.0f, 0.5f, 0.25f, 1.0f}; /* [oc][ic] */
/* The first request's value, as text (with the tokens) and as floats. */
static const char *const value_text[COUNT] = {"NaN",       "1",    "Infinity", "1",
                                              "-Infinity", "2",    "Infinity", "-Infinity",
                                              "0.5",       "-0.0", "1e-45",    "-3.25"};

static int write_model(struct repo_fixture *f)
{
    struct corpus_case model = {.rate = 1, .padding = "VALID", .filters_count = 4};
    model.filters = (float *)filters;
    model.filters_shape.rank = 4;
    memcpy(model.filters_shape.dims, filter_dims, sizeof(filter_dims));
    return fixture_write_case_model(f->root, "tok", "tok", &model, "", 1);
}

static int setup(void **state)
{
    return repo_fixture_setup_args(state, "tokens", NULL, write_model);
}

static int teardown(void **state)
{
    return repo_fixture_teardown(state);
}

/* The JSON list after "key": in text (brackets balanced; numbers only inside), or fails. */
static void list_after(const char *text, const char *key, const char **start, size_t *len)
{
    char quoted[64];
    snprintf(quoted, sizeof(quoted), "\"%s\"", key);
    const char *p = strstr(text, quoted);
    if (p == NULL)
        fail_msg("no %s in %.300s", quoted, text);
    p += strlen(quoted);
    while (*p == ' ' || *p == ':')
        p++;
    if (*p != '[')
        fail_msg("%s is not a list in %.300s", quoted, text);
    int depth = 0;
    const char *q = p;
    do {
        depth += *q == '[' ? 1 : *q == ']' ? -1 : 0;
        q++;
    } while (depth > 0 && *q);
    assert_int_equal(depth, 0);
    *start = p;
    *len = (size_t)(q - p);
}

/* Reads the numbers of a (nested) list's text, tokens included, with strtof. */
static size_t read_numbers(const char *text, size_t len, float *out, size_t cap)
{
    size_t n = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        if (*p == '[' || *p == ']' || *p == ',' || *p == ' ') {
            p++;
            continue;
        }
        char *next;
        float f = strtof(p, &next);
        if (next == p || n == cap)
            fail_msg("not a number list: %.*s", (int)len, text);
        out[n++] = f;
        p = next;
    }
    return n;
}

/* The naive reference's output for value, and a check of got against it: the same class
 * (NaN, +Infinity, -Infinity) for non-finite values, the corpus tolerance for the rest. */
static void expect_reference(const float *value, const float *got, size_t count, const char *what)
{
    struct naive_problem p = {.rate = 1, .same = false};
    memcpy(p.value, value_dims, sizeof(value_dims));
    memcpy(p.filters, filter_dims, sizeof(filter_dims));
    naive_ref_output_shape(p.value, p.filters, 1, false, p.output);
    assert_int_equal(naive_ref_elements(p.output), count);
    float want[COUNT];
    naive_ref_run(&p, value, filters, want);
    for (size_t i = 0; i < count; i++) {
        bool same = isnan(want[i])   ? isnan(got[i])
                    : isinf(want[i]) ? got[i] == want[i]
                                     : fabsf(got[i] - want[i]) <= 1e-4f + 1e-4f * fabsf(want[i]);
        if (!same)
            fail_msg("%s: element %zu is %g, want %g", what, i, got[i], want[i]);
    }
}

/* A value list's text in a form: flat, or nested as [N][H][W][C] (depth 4) or [H][W][C]. */
static void put_value(struct proto_buf *b, const char *const *texts, int depth)
{
    for (size_t i = 0; i < COUNT; i++) {
        const size_t w = (size_t)value_dims[2], c = CHANNELS, row = w * c;
        if (depth > 0)
            proto_buf_printf(b, "%s",
                             i == 0         ? (depth == 4 ? "[[[[" : "[[[")
                             : i % row == 0 ? "]], [["
                             : i % c == 0   ? "], ["
                                            : ", ");
        else
            proto_buf_printf(b, "%s", i == 0 ? "[" : ", ");
        proto_buf_printf(b, "%s", texts[i]);
    }
    proto_buf_printf(b, "%s", depth == 4 ? "]]]]" : depth == 3 ? "]]]" : "]");
}

enum form {
    OP,             /* {"value": {"shape", "data"}, "filters", ...} -> {"output": {"data"}} */
    KSERVE,         /* repository model: {"inputs": [{"data"}]} -> {"outputs": [{"data"}]} */
    KSERVE_GENERIC, /* the generic model, filters and attributes as inputs and parameters */
    TFS_ROWS,       /* {"instances": [[[..]]]} -> {"predictions": ...} */
    TFS_COLUMNS,    /* {"inputs": [[[[..]]]]} -> {"outputs": ...} */
};

/* The request body of a form; the value is either texts (the tokens as written) or, for the
 * next round, the previous answer's list text as it is. */
static void request_body(enum form form, const char *const *texts, const char *list, size_t len,
                         struct proto_buf *b)
{
    struct proto_buf v = {0};
    if (list)
        proto_buf_put(&v, list, len);
    else
        put_value(&v, texts, form == TFS_ROWS ? 3 : form == TFS_COLUMNS ? 4 : 0);
    switch (form) {
    case OP:
        proto_buf_printf(b,
                         "{\"value\": {\"shape\": [1, 2, 3, 2], \"data\": %.*s}, "
                         "\"filters\": {\"shape\": [1, 1, 2, 2], \"data\": [1, 0.5, 0.25, 1]}, "
                         "\"output_shape\": [1, 2, 3, 2], \"rate\": 1, \"padding\": \"VALID\"}",
                         (int)v.len, v.data);
        break;
    case KSERVE:
        proto_buf_printf(b,
                         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", "
                         "\"shape\": [1, 2, 3, 2], \"data\": %.*s}]}",
                         (int)v.len, v.data);
        break;
    case KSERVE_GENERIC:
        proto_buf_printf(b,
                         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", "
                         "\"shape\": [1, 2, 3, 2], \"data\": %.*s}, {\"name\": \"filters\", "
                         "\"datatype\": \"FP32\", \"shape\": [1, 1, 2, 2], \"data\": "
                         "[1, 0.5, 0.25, 1]}, {\"name\": \"output_shape\", \"datatype\": "
                         "\"INT64\", \"shape\": [4], \"data\": [1, 2, 3, 2]}], \"parameters\": "
                         "{\"rate\": 1, \"padding\": \"VALID\"}}",
                         (int)v.len, v.data);
        break;
    case TFS_ROWS:
        proto_buf_printf(b, "{\"instances\": [%.*s]}", (int)v.len, v.data);
        break;
    case TFS_COLUMNS:
        proto_buf_printf(b, "{\"inputs\": %.*s}", (int)v.len, v.data);
        break;
    }
    proto_buf_free(&v);
}

static const char *form_path(enum form form)
{
    switch (form) {
    case OP:
        return HTTP_CLIENT_OP_PATH;
    case KSERVE:
        return "/v2/models/tok/infer";
    case KSERVE_GENERIC:
        return "/v2/models/atrous_conv2d_transpose/infer";
    default:
        return "/v1/models/tok:predict";
    }
}

/* The answer's output list key, and how a TF Serving row answer is fed back (its list holds
 * the instances: their elements, not the list, go inside "instances"). */
static const char *answer_key(enum form form)
{
    return form == TFS_ROWS ? "predictions" : form == TFS_COLUMNS ? "outputs" : "data";
}

/* True when text holds "Infinity" not preceded by '-'. */
static bool positive_infinity(const char *text)
{
    for (const char *p = text; (p = strstr(p, "Infinity")) != NULL; p++)
        if (p == text || p[-1] != '-')
            return true;
    return false;
}

static void round_trips(void **state, enum form form, const char *name)
{
    float value[COUNT], got[COUNT];
    for (size_t i = 0; i < COUNT; i++)
        value[i] = strtof(value_text[i], NULL);
    char *answer = NULL;
    const char *list = NULL;
    size_t list_len = 0;
    for (int round = 0; round < 3; round++) {
        struct proto_buf b = {0};
        if (list != NULL && form == TFS_ROWS) {
            /* "predictions": [<row>] -> "instances": [<row>] */
            list++;
            list_len -= 2;
        }
        request_body(form, value_text, list, list_len, &b);
        const char *headers[] = {"Content-Type: application/json", NULL};
        struct http_client_response r;
        assert_int_equal(http_client_request(repo_fixture_port(state), "POST", form_path(form),
                                             headers, b.data, b.len, &r),
                         0);
        if (r.status != 200)
            fail_msg("%s round %d: status %d: %s\nrequest: %.*s", name, round, r.status,
                     r.body ? r.body : "", (int)b.len, b.data);
        free(answer);
        answer = r.body;
        r.body = NULL;
        http_client_response_free(&r);
        proto_buf_free(&b);
        list_after(answer, answer_key(form), &list, &list_len);
        /* Every answer holds all three tokens (the value's, mixed by the filters). */
        char text[4096];
        snprintf(text, sizeof(text), "%.*s", (int)list_len, list);
        if (!strstr(text, "NaN") || !strstr(text, "-Infinity") || !positive_infinity(text))
            fail_msg("%s round %d: the answer lacks a token: %s", name, round, text);
        char what[64];
        snprintf(what, sizeof(what), "%s round %d", name, round);
        assert_int_equal(read_numbers(list, list_len, got, COUNT), COUNT);
        expect_reference(value, got, COUNT, what);
        memcpy(value, got, sizeof(value)); /* the next round's value */
    }
    free(answer);
}

static void test_json_tokens_round_trip_on_the_op(void **state)
{
    round_trips(state, OP, "op JSON");
}

static void test_json_tokens_round_trip_on_kserve(void **state)
{
    round_trips(state, KSERVE, "KServe v2 JSON, repository model");
    round_trips(state, KSERVE_GENERIC, "KServe v2 JSON, generic model");
}

static void test_json_tokens_round_trip_on_tf_serving(void **state)
{
    round_trips(state, TFS_ROWS, "TF Serving rows");
    round_trips(state, TFS_COLUMNS, "TF Serving columns");
}

/* Spellings that are not the tokens stay errors on every form. */
static void test_json_token_misspellings_are_400(void **state)
{
    const char *bad[] = {"nan", "-NaN", "Inf", "inf", "+Infinity", "INFINITY", "NaN1"};
    const enum form forms[] = {OP, KSERVE, TFS_ROWS, TFS_COLUMNS};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (size_t k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
            const char *texts[COUNT];
            for (size_t j = 0; j < COUNT; j++)
                texts[j] = j == 3 ? bad[i] : value_text[j];
            struct proto_buf b = {0};
            request_body(forms[k], texts, NULL, 0, &b);
            const char *headers[] = {"Content-Type: application/json", NULL};
            struct http_client_response r;
            assert_int_equal(http_client_request(repo_fixture_port(state), "POST",
                                                 form_path(forms[k]), headers, b.data, b.len, &r),
                             0);
            char code[64];
            if (r.status != 400 || fixture_error_code(&r, code, sizeof(code)) != 0 ||
                strcmp(code, "invalid_argument") != 0)
                fail_msg("%s on %s: %d %.200s", bad[i], form_path(forms[k]), r.status, r.body);
            http_client_response_free(&r);
            proto_buf_free(&b);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_tokens_round_trip_on_the_op),
        cmocka_unit_test(test_json_tokens_round_trip_on_kserve),
        cmocka_unit_test(test_json_tokens_round_trip_on_tf_serving),
        cmocka_unit_test(test_json_token_misspellings_are_400),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
