/*
 * test_http_compress.c - content codings against the real daemon (--max-body-bytes 2m,
 * --compress-min-bytes 512, a scratch --model-dir with one model made of a corpus case):
 * gzip, zlib-format deflate and raw deflate request bodies on every form (the op's JSON and
 * binary, KServe v2 JSON and binary extension, TF Serving; with Content-Length and chunked)
 * give the corpus's answer; answers compressed as Accept-Encoding asks (q-values, "*" and
 * binary answers, identity refused, the threshold), KServe binary answers keeping the
 * uncompressed Inference-Header-Content-Length; a zip bomb is 413 at the limit while the
 * daemon's peak RSS stays far below what it inflates to; truncated, trailing and mislabelled
 * data 400; unknown codings 415 with the accepted ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compress_fixtures.h"
#include "daemon.h"
#include "http_client.h"
#include "http_model_fixtures.h"

#define CASE_NAME     "large_1x33x47x24_to20_k3_r2_same"
#define MODEL_PATH    "/v2/models/m/infer"
#define PREDICT_PATH  "/v1/models/m:predict"
#define BODY_LIMIT    (2u << 20)
#define COMPRESS_MIN  512
#define BOMB_BYTES    ((size_t)64 << 20)
#define RSS_GROWTH_KB (24u << 10) /* far below the 64 MiB a bomb inflates to */

static int write_model(struct repo_fixture *f)
{
    const struct corpus_case *c = fixture_find_case(f->cases, f->count, CASE_NAME);
    return c ? fixture_write_case_model(f->root, "m", "m", c, "", 1) : -1;
}

static int setup(void **state)
{
    const char *args[] = {
        "--max-body-bytes", "2m", "--compress-min-bytes", "512", "--max-json-bytes", "2m", NULL};
    return repo_fixture_setup_args(state, "compress", args, write_model);
}

static int teardown(void **state)
{
    return repo_fixture_teardown(state);
}

/* The case the tests send (its model is "m"). */
static const struct corpus_case *case_of(void **state)
{
    struct repo_fixture *f = *state;
    return fixture_find_case(f->cases, f->count, CASE_NAME);
}

/* POSTs body (compressed in format wbits when coding is not NULL) with extra headers. */
static void post(void **state, const char *target, const char *coding, int wbits,
                 const char *const *extra, const void *body, size_t len,
                 struct http_client_response *r)
{
    const char *headers[8];
    size_t n = 0;
    char coding_header[64];
    const void *send = body;
    size_t send_len = len;
    unsigned char *packed = NULL;
    if (coding != NULL) {
        packed = fixture_pack(body, len, wbits, 6, &send_len);
        assert_non_null(packed);
        send = packed;
        snprintf(coding_header, sizeof(coding_header), "Content-Encoding: %s", coding);
        headers[n++] = coding_header;
    }
    for (; extra && *extra && n < 7; extra++)
        headers[n++] = *extra;
    headers[n] = NULL;
    assert_int_equal(
        http_client_request(repo_fixture_port(state), "POST", target, headers, send, send_len, r),
        0);
    free(packed);
}

/* A KServe infer body for the case (JSON, or binary input and output); header_len its IHCL. */
static void kserve_body(const struct corpus_case *c, bool binary, struct proto_buf *b,
                        size_t *header_len)
{
    struct kserve_body_opts o = {.binary_input = binary, .binary_output = binary};
    fixture_kserve_body(c, NULL, NULL, 0, &o, b, header_len);
}

static void expect_kserve_case(const struct http_client_response *r, const struct corpus_case *c,
                               const char *what)
{
    struct fixture_output out;
    char why[512];
    if (r->status != 200)
        fail_msg("%s: status %d: %.300s", what, r->status, r->body ? r->body : "");
    if (fixture_kserve_output(r, &out, why, sizeof(why)) != 0 ||
        fixture_check_output(&out, c, 0, 0, why, sizeof(why)) != 0)
        fail_msg("%s: %s", what, why);
    fixture_output_free(&out);
}

static void expect_op_case(const struct http_client_response *r, const struct corpus_case *c,
                           const char *what)
{
    struct http_op_output out;
    char why[512];
    if (r->status != 200)
        fail_msg("%s: status %d: %.300s", what, r->status, r->body ? r->body : "");
    if (http_op_parse(r, &out) != 0 || http_op_check(&out, &c->expected_shape, c->expected,
                                                     c->expected_count, why, sizeof(why)) != 0)
        fail_msg("%s: %s", what, r->status == 200 ? why : "not an op answer");
    http_op_output_free(&out);
}

static void tfs_body(const struct corpus_case *c, struct proto_buf *b)
{
    proto_buf_printf(b, "{\"inputs\": ");
    proto_buf_nested(b, c->value_shape.dims, 4, c->value);
    proto_buf_printf(b, "}");
}

static void test_http_compressed_bodies_on_every_form(void **state)
{
    const struct corpus_case *c = case_of(state);
    const struct {
        const char *coding;
        int wbits;
    } codings[] = {
        {"gzip", FIXTURE_GZIP},
        {"deflate", FIXTURE_ZLIB}, /* RFC 9110's deflate, tritonclient's zlib.compress */
        {"deflate", FIXTURE_RAW},  /* raw deflate, as some clients send it */
        {"x-gzip", FIXTURE_GZIP},
    };
    struct http_op_args args;
    http_op_args_from_case(c, &args);
    size_t json_len, bin_len, header_len;
    char *json = http_op_json(&args, &json_len);
    char *target = http_op_binary_target(&args);
    void *bin = http_op_binary_body(&args, &bin_len);
    struct proto_buf kjson = {0}, kbin = {0}, tfs = {0};
    kserve_body(c, false, &kjson, &header_len);
    kserve_body(c, true, &kbin, &header_len);
    tfs_body(c, &tfs);
    /* TF Serving's answer is checked against the same request sent plain (test_http_tfserving
     * checks that one against the corpus). */
    struct http_client_response plain_tfs;
    const char *json_type[] = {"Content-Type: application/json", NULL};
    post(state, PREDICT_PATH, NULL, 0, json_type, tfs.data, tfs.len, &plain_tfs);
    assert_int_equal(plain_tfs.status, 200);
    char ihcl[64];
    snprintf(ihcl, sizeof(ihcl), "Inference-Header-Content-Length: %zu", header_len);
    const char *bin_headers[] = {"Content-Type: application/octet-stream", ihcl, NULL};
    for (size_t i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
        const char *coding = codings[i].coding;
        const int wbits = codings[i].wbits;
        char what[96];
        struct http_client_response r;
        snprintf(what, sizeof(what), "op JSON, %s (windowBits %d)", coding, wbits);
        post(state, HTTP_CLIENT_OP_PATH, coding, wbits, json_type, json, json_len, &r);
        expect_op_case(&r, c, what);
        http_client_response_free(&r);
        snprintf(what, sizeof(what), "op binary, %s (windowBits %d)", coding, wbits);
        post(state, target, coding, wbits, bin_headers, bin, bin_len, &r);
        expect_op_case(&r, c, what);
        http_client_response_free(&r);
        snprintf(what, sizeof(what), "KServe JSON, %s (windowBits %d)", coding, wbits);
        post(state, MODEL_PATH, coding, wbits, json_type, kjson.data, kjson.len, &r);
        expect_kserve_case(&r, c, what);
        http_client_response_free(&r);
        /* Inference-Header-Content-Length counts the uncompressed JSON header (Triton). */
        snprintf(what, sizeof(what), "KServe binary extension, %s (windowBits %d)", coding, wbits);
        post(state, MODEL_PATH, coding, wbits, bin_headers, kbin.data, kbin.len, &r);
        expect_kserve_case(&r, c, what);
        http_client_response_free(&r);
        post(state, PREDICT_PATH, coding, wbits, json_type, tfs.data, tfs.len, &r);
        if (r.status != 200 || r.body_len != plain_tfs.body_len ||
            memcmp(r.body, plain_tfs.body, r.body_len) != 0)
            fail_msg("TF Serving, %s (windowBits %d): status %d, %zu bytes: %.200s", coding, wbits,
                     r.status, r.body_len, r.body ? r.body : "");
        http_client_response_free(&r);
    }
    /* A chunked gzip body (no Content-Length: the inflated size is all there is to count). */
    size_t packed_len;
    unsigned char *packed = fixture_pack(kjson.data, kjson.len, FIXTURE_GZIP, 6, &packed_len);
    assert_non_null(packed);
    int fd = http_client_connect(repo_fixture_port(state), HTTP_CLIENT_TIMEOUT_MS);
    assert_true(fd >= 0);
    assert_int_equal(http_client_sendf(fd, "POST " MODEL_PATH " HTTP/1.1\r\nHost: t\r\n"
                                           "Content-Type: application/json\r\n"
                                           "Content-Encoding: gzip\r\n"
                                           "Transfer-Encoding: chunked\r\n\r\n"),
                     0);
    assert_int_equal(http_client_send_chunks(fd, packed, packed_len), 0);
    struct http_client_response r;
    assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    expect_kserve_case(&r, c, "KServe JSON, chunked gzip");
    http_client_response_free(&r);
    close(fd);
    free(packed);
    http_client_response_free(&plain_tfs);
    proto_buf_free(&kjson);
    proto_buf_free(&kbin);
    proto_buf_free(&tfs);
    free(json);
    free(target);
    free(bin);
}

/* The coding of an answer ("identity" when none) after checking Vary. */
static const char *answer_coding(const struct http_client_response *r)
{
    const char *vary = http_client_header(r, "Vary");
    if (vary == NULL || strstr(vary, "Accept-Encoding") == NULL)
        fail_msg("no Vary: Accept-Encoding on a %d answer", r->status);
    const char *coding = http_client_header(r, "Content-Encoding");
    return coding ? coding : "identity";
}

static void test_http_answers_compressed_as_accept_encoding_asks(void **state)
{
    const struct corpus_case *c = case_of(state);
    struct proto_buf kjson = {0}, kbin = {0};
    size_t header_len, bin_header_len;
    kserve_body(c, false, &kjson, &header_len);
    kserve_body(c, true, &kbin, &bin_header_len);
    struct http_op_args args;
    http_op_args_from_case(c, &args);
    size_t bin_len;
    char *target = http_op_binary_target(&args);
    void *bin = http_op_binary_body(&args, &bin_len);
    const struct {
        const char *accept; /* Accept-Encoding, or NULL */
        int form;           /* 0 KServe JSON, 1 KServe binary output, 2 op binary */
        const char *want;   /* the answer's coding */
    } cases[] = {
        {NULL, 0, "identity"},
        {"gzip", 0, "gzip"},
        {"deflate", 0, "deflate"},
        {"gzip;q=0.5, deflate;q=0.8", 0, "deflate"},
        {"deflate, gzip", 0, "gzip"},
        {"gzip;q=0", 0, "identity"},
        {"gzip;q=0.4, identity;q=0.9", 0, "identity"},
        {"*", 0, "gzip"},
        {"br", 0, "identity"},
        /* Binary tensor answers only when the coding is named. */
        {"*", 1, "identity"},
        {"gzip", 1, "gzip"},
        {"*", 2, "identity"},
        {"deflate, *", 2, "deflate"},
        {"*, identity;q=0", 2, "gzip"},
    };
    char ihcl[64];
    snprintf(ihcl, sizeof(ihcl), "Inference-Header-Content-Length: %zu", bin_header_len);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char accept[96], what[160];
        const char *headers[4] = {NULL};
        size_t n = 0;
        if (cases[i].accept) {
            snprintf(accept, sizeof(accept), "Accept-Encoding: %s", cases[i].accept);
            headers[n++] = accept;
        }
        snprintf(what, sizeof(what), "Accept-Encoding %s, %s answer",
                 cases[i].accept ? cases[i].accept : "(absent)",
                 cases[i].form == 0   ? "KServe JSON"
                 : cases[i].form == 1 ? "KServe binary"
                                      : "op binary");
        struct http_client_response r;
        if (cases[i].form == 0) {
            headers[n++] = "Content-Type: application/json";
            post(state, MODEL_PATH, NULL, 0, headers, kjson.data, kjson.len, &r);
        } else if (cases[i].form == 1) {
            headers[n++] = "Content-Type: application/octet-stream";
            headers[n++] = ihcl;
            post(state, MODEL_PATH, NULL, 0, headers, kbin.data, kbin.len, &r);
        } else {
            headers[n++] = "Content-Type: application/octet-stream";
            post(state, target, NULL, 0, headers, bin, bin_len, &r);
        }
        const char *got = answer_coding(&r);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: Content-Encoding %s, want %s", what, got, cases[i].want);
        size_t sent = r.body_len;
        if (fixture_decode_response(&r) != 0)
            fail_msg("%s: the body is not %s data", what, got);
        if (strcmp(got, "identity") != 0 && cases[i].form == 0 && sent >= r.body_len / 4 * 3)
            fail_msg("%s: %zu bytes sent for %zu", what, sent, r.body_len);
        if (cases[i].form == 2)
            expect_op_case(&r, c, what);
        else
            expect_kserve_case(&r, c, what); /* the IHCL splits the decoded body */
        http_client_response_free(&r);
    }
    /* Small answers are sent as they are, unless identity is refused. */
    struct http_client_response r;
    const char *gzip[] = {"Accept-Encoding: gzip", NULL};
    assert_int_equal(
        http_client_request(repo_fixture_port(state), "GET", "/healthz", gzip, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.body_len < COMPRESS_MIN);
    assert_string_equal(answer_coding(&r), "identity");
    http_client_response_free(&r);
    const char *must[] = {"Accept-Encoding: gzip, identity;q=0", NULL};
    assert_int_equal(
        http_client_request(repo_fixture_port(state), "GET", "/healthz", must, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(answer_coding(&r), "gzip");
    assert_int_equal(fixture_decode_response(&r), 0);
    assert_non_null(strstr(r.body, "\"ok\""));
    http_client_response_free(&r);
    /* Identity refused and none of ours accepted: 406. */
    const char *none[] = {"Accept-Encoding: br, identity;q=0", NULL};
    assert_int_equal(
        http_client_request(repo_fixture_port(state), "GET", "/healthz", none, NULL, 0, &r), 0);
    assert_int_equal(r.status, 406);
    char code[64];
    assert_int_equal(fixture_error_code(&r, code, sizeof(code)), 0);
    assert_string_equal(code, "not_acceptable");
    http_client_response_free(&r);
    /* The metrics (text) follow the same rules. */
    assert_int_equal(
        http_client_request(repo_fixture_port(state), "GET", "/metrics", gzip, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(answer_coding(&r), "gzip");
    assert_int_equal(fixture_decode_response(&r), 0);
    assert_non_null(strstr(r.body, "atrousd_http_requests_total"));
    http_client_response_free(&r);
    proto_buf_free(&kjson);
    proto_buf_free(&kbin);
    free(target);
    free(bin);
}

/* The daemon's resident set now and its peak, in KiB, from /proc/<pid>/status. */
static void daemon_rss(const struct test_daemon *d, unsigned long *rss_kb, unsigned long *hwm_kb)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)d->pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    *rss_kb = *hwm_kb = 0;
    while (fgets(line, sizeof(line), f)) {
        sscanf(line, "VmRSS: %lu", rss_kb);
        sscanf(line, "VmHWM: %lu", hwm_kb);
    }
    fclose(f);
    assert_true(*rss_kb > 0 && *hwm_kb > 0);
}

/* Starts a new peak-RSS measurement (Linux: "5" to clear_refs resets VmHWM). */
static void daemon_rss_reset_peak(const struct test_daemon *d)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)d->pid);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs("5", f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static void expect_body_error(const struct http_client_response *r, int status, const char *code,
                              const char *message_part, const char *what)
{
    struct http_error_body e;
    if (r->status != status || http_error_parse(r->body, r->body_len, &e) != 0)
        fail_msg("%s: status %d, want %d: %.300s", what, r->status, status, r->body ? r->body : "");
    if (strcmp(e.code, code) != 0 || e.field == NULL || strcmp(e.field, "body") != 0 ||
        strstr(e.error, message_part) == NULL)
        fail_msg("%s: code %s, field %s: %s", what, e.code, e.field ? e.field : "null", e.error);
    http_error_free(&e);
}

static void test_http_zip_bomb_is_413_at_the_limit(void **state)
{
    struct repo_fixture *f = *state;
    const struct corpus_case *c = case_of(state);
    unsigned char *zeros = calloc(1, BOMB_BYTES);
    assert_non_null(zeros);
    size_t bomb_len;
    unsigned char *bomb = fixture_pack(zeros, BOMB_BYTES, FIXTURE_GZIP, 9, &bomb_len);
    free(zeros);
    assert_non_null(bomb);
    assert_true(bomb_len < BODY_LIMIT / 8); /* the raw body is well within the limit */
    unsigned long rss_before, hwm_before, rss_after, hwm_after;
    daemon_rss(f->daemon, &rss_before, &hwm_before);
    daemon_rss_reset_peak(f->daemon);
    const char *targets[] = {MODEL_PATH, HTTP_CLIENT_OP_PATH, PREDICT_PATH};
    const char *headers[] = {"Content-Type: application/json", "Content-Encoding: gzip", NULL};
    for (size_t i = 0; i < 3; i++) {
        struct http_client_response r;
        assert_int_equal(
            http_client_request(f->daemon->port, "POST", targets[i], headers, bomb, bomb_len, &r),
            0);
        expect_body_error(&r, 413, "too_large", "inflates past --max-body-bytes", targets[i]);
        http_client_response_free(&r);
    }
    daemon_rss(f->daemon, &rss_after, &hwm_after);
    if (hwm_after > rss_before + RSS_GROWTH_KB)
        fail_msg("peak RSS grew from %lu to %lu KiB for three %zu-byte bombs", rss_before,
                 hwm_after, bomb_len);
    /* A compressed op body that inflates to one byte under the limit is served (its buffer
     * grows to the limit as it inflates, server/governor.h). */
    struct http_op_args args;
    http_op_args_from_case(c, &args);
    size_t json_len;
    char *json = http_op_json(&args, &json_len);
    assert_non_null(json);
    char *padded = malloc(BODY_LIMIT - 1);
    assert_non_null(padded);
    assert_true(json_len < BODY_LIMIT - 1);
    memcpy(padded, json, json_len);
    memset(padded + json_len, ' ', BODY_LIMIT - 1 - json_len);
    struct http_client_response under;
    const char *json_type[] = {"Content-Type: application/json", NULL};
    post(state, HTTP_CLIENT_OP_PATH, "gzip", FIXTURE_GZIP, json_type, padded, BODY_LIMIT - 1,
         &under);
    expect_op_case(&under, c, "a gzip op body one byte under the limit");
    http_client_response_free(&under);
    free(padded);
    free(json);
    /* Still serving. */
    struct proto_buf kjson = {0};
    size_t header_len;
    kserve_body(c, false, &kjson, &header_len);
    struct http_client_response r;
    post(state, MODEL_PATH, "gzip", FIXTURE_GZIP, headers, kjson.data, kjson.len, &r);
    expect_kserve_case(&r, c, "KServe JSON after the bombs");
    http_client_response_free(&r);
    proto_buf_free(&kjson);
    free(bomb);
}

static void test_http_broken_compressed_bodies_are_400(void **state)
{
    const struct corpus_case *c = case_of(state);
    struct proto_buf kjson = {0};
    size_t header_len, n, gz_len;
    kserve_body(c, false, &kjson, &header_len);
    unsigned char *packed = fixture_pack(kjson.data, kjson.len, FIXTURE_GZIP, 6, &gz_len);
    unsigned char *raw = fixture_pack(kjson.data, kjson.len, FIXTURE_RAW, 6, &n);
    unsigned char *longer = malloc(gz_len + 16);
    assert_true(packed && raw && longer);
    memcpy(longer, packed, gz_len);
    memcpy(longer + gz_len, "and then garbage", 16);
    const struct {
        const char *coding;
        const void *body;
        size_t len;
        const char *message;
    } cases[] = {
        {"gzip", packed, gz_len / 2, "truncated"},
        {"gzip", packed, gz_len - 1, "truncated"},
        {"gzip", longer, gz_len + 16, "not another gzip member"},
        {"gzip", kjson.data, kjson.len, "not gzip data"},
        {"gzip", raw, n, "not gzip data"},
        {"deflate", kjson.data, kjson.len, "not valid deflate data"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char coding[64], what[64];
        snprintf(coding, sizeof(coding), "Content-Encoding: %s", cases[i].coding);
        snprintf(what, sizeof(what), "broken body %zu (%s)", i, cases[i].coding);
        const char *headers[] = {"Content-Type: application/json", coding, NULL};
        struct http_client_response r;
        assert_int_equal(http_client_request(repo_fixture_port(state), "POST", MODEL_PATH, headers,
                                             cases[i].body, cases[i].len, &r),
                         0);
        expect_body_error(&r, 400, "invalid_argument", cases[i].message, what);
        http_client_response_free(&r);
    }
    free(longer);
    free(raw);
    free(packed);
    proto_buf_free(&kjson);
}

static void test_http_unknown_codings_are_415(void **state)
{
    const char *codings[] = {"br", "compress", "zstd", "gzip, gzip", "gzip, deflate", "*"};
    const char *targets[] = {MODEL_PATH, HTTP_CLIENT_OP_PATH, PREDICT_PATH};
    for (size_t i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
        for (size_t t = 0; t < 3; t++) {
            char coding[64];
            snprintf(coding, sizeof(coding), "Content-Encoding: %s", codings[i]);
            const char *headers[] = {"Content-Type: application/json", coding, NULL};
            struct http_client_response r;
            assert_int_equal(http_client_request(repo_fixture_port(state), "POST", targets[t],
                                                 headers, "{}", 2, &r),
                             0);
            char code[64];
            if (r.status != 415 || fixture_error_code(&r, code, sizeof(code)) != 0 ||
                strcmp(code, "unsupported_media_type") != 0 ||
                strstr(r.body, "gzip, deflate") == NULL)
                fail_msg("%s with %s: %d %.200s", targets[t], codings[i], r.status, r.body);
            const char *accepted = http_client_header(&r, "Accept-Encoding");
            assert_non_null(accepted);
            assert_non_null(strstr(accepted, "gzip"));
            assert_non_null(strstr(accepted, "deflate"));
            http_client_response_free(&r);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_compressed_bodies_on_every_form),
        cmocka_unit_test(test_http_answers_compressed_as_accept_encoding_asks),
        cmocka_unit_test(test_http_zip_bomb_is_413_at_the_limit),
        cmocka_unit_test(test_http_broken_compressed_bodies_are_400),
        cmocka_unit_test(test_http_unknown_codings_are_415),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
