/*
 * test_kserve.c - the KServe v2 codec (proto/atrous_kserve*.c): every valid conformance case
 * sent to a repository model made from its filters and to the generic model, as JSON (flat and
 * nested) and with the binary tensor extension (aligned and not), decoded, validated, run
 * through lib and compared with the case's expected output; the invalid cases through the
 * generic model fail validation with TensorFlow's message; malformed bodies of every kind;
 * responses and documents read back with jansson.
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
#include "atrous_json.h"
#include "atrous_kserve.h"
#include "atrous_kserve_repo.h"
#include "atrous_model.h"
#include "corpus.h"
#include "model_fixtures.h"
#include "codec_suite.h"
#include "proto_fixtures.h"

/* Decodes as the server does: the Inference-Header-Content-Length text (NULL: absent) read by
 * its one parser, then the body. */
static enum atrous_status decode_infer_text(const struct atrous_model *m, const void *body,
                                            size_t len, const char *ihcl,
                                            const struct atrous_kserve_limits *limits,
                                            struct atrous_kserve_request *out,
                                            struct atrous_error *err)
{
    uint64_t header = 0;
    if (ihcl != NULL) {
        enum atrous_status st = atrous_kserve_parse_header_length(ihcl, &header, err);
        if (st != ATROUS_OK) {
            atrous_kserve_request_init(out);
            return st;
        }
    }
    return atrous_kserve_decode_infer(m, body, len, ihcl ? &header : NULL, limits, out, err);
}

/* How a test request is written. */
enum form {
    FORM_FLAT,
    FORM_NESTED,
    FORM_BINARY,
};

struct request_opts {
    bool generic; /* all of the op's inputs, else value only */
    enum form form;
    size_t pad;           /* spaces after the JSON header (moves the binary parts) */
    bool int32;           /* output_shape and rate as INT32, else INT64 */
    bool attrs_as_inputs; /* rate and padding as inputs, else request parameters */
    bool binary_output;
    const char *id;
};

static void put_input_head(struct proto_buf *b, const char *name, const char *datatype,
                           const int64_t *dims, size_t rank)
{
    proto_buf_printf(b, "{\"name\": \"%s\", \"datatype\": \"%s\", \"shape\": ", name, datatype);
    proto_buf_ints(b, dims, rank);
}

/* An FP32 input as JSON data or as a binary part (appended to *binary). */
static void put_f32(struct proto_buf *b, struct proto_buf *binary, const char *name,
                    const struct atrous_shape *shape, const float *data, size_t count,
                    enum form form)
{
    put_input_head(b, name, "FP32", shape->dims, (size_t)shape->rank);
    if (form == FORM_BINARY) {
        proto_buf_printf(b, ", \"parameters\": {\"binary_data_size\": %zu}}",
                         count * sizeof(float));
        proto_buf_put(binary, data, count * sizeof(float));
    } else if (form == FORM_NESTED && count > 0) {
        proto_buf_printf(b, ", \"data\": ");
        proto_buf_nested(b, shape->dims, shape->rank, data);
        proto_buf_printf(b, "}");
    } else {
        proto_buf_printf(b, ", \"data\": ");
        proto_buf_floats(b, data, count);
        proto_buf_printf(b, "}");
    }
}

/* An INT32 / INT64 input of n integers, shape [n]. */
static void put_ints_input(struct proto_buf *b, struct proto_buf *binary, const char *name,
                           const int64_t *v, size_t n, bool int32, enum form form)
{
    int64_t dims[1] = {(int64_t)n};
    put_input_head(b, name, int32 ? "INT32" : "INT64", dims, 1);
    if (form != FORM_BINARY) {
        proto_buf_printf(b, ", \"data\": ");
        proto_buf_ints(b, v, n);
        proto_buf_printf(b, "}");
        return;
    }
    proto_buf_printf(b, ", \"parameters\": {\"binary_data_size\": %zu}}", n * (int32 ? 4 : 8));
    for (size_t i = 0; i < n; i++) {
        int32_t narrow = (int32_t)v[i];
        proto_buf_put(binary, int32 ? (const void *)&narrow : (const void *)&v[i], int32 ? 4 : 8);
    }
}

/*
 * The KServe request for corpus case c. Returns the JSON header's length for the binary form
 * (the Inference-Header-Content-Length), else 0.
 */
static size_t build_request(const struct corpus_case *c, const struct request_opts *o,
                            struct proto_buf *b)
{
    struct proto_buf binary = {0};
    proto_buf_printf(b, "{");
    if (o->id)
        proto_buf_printf(b, "\"id\": \"%s\", ", o->id);
    proto_buf_printf(b, "\"inputs\": [");
    put_f32(b, &binary, "value", &c->value_shape, c->value, c->value_count, o->form);
    if (o->generic) {
        proto_buf_printf(b, ", ");
        put_f32(b, &binary, "filters", &c->filters_shape, c->filters, c->filters_count, o->form);
        proto_buf_printf(b, ", ");
        put_ints_input(b, &binary, "output_shape", c->output_shape, c->output_shape_len, o->int32,
                       o->form);
        if (o->attrs_as_inputs) {
            proto_buf_printf(b, ", ");
            put_ints_input(b, &binary, "rate", &c->rate, 1, o->int32, o->form);
            proto_buf_printf(b,
                             ", {\"name\": \"padding\", \"datatype\": \"BYTES\", \"shape\": [1]");
            if (o->form == FORM_BINARY) {
                uint32_t n = (uint32_t)c->padding_len;
                proto_buf_printf(b, ", \"parameters\": {\"binary_data_size\": %zu}}",
                                 4 + c->padding_len);
                proto_buf_put(&binary, &n, 4);
                proto_buf_put(&binary, c->padding, c->padding_len);
            } else {
                proto_buf_printf(b, ", \"data\": [\"%s\"]}", c->padding);
            }
        }
    }
    proto_buf_printf(b, "]");
    if (o->generic && !o->attrs_as_inputs)
        proto_buf_printf(b, ", \"parameters\": {\"rate\": %" PRId64 ", \"padding\": \"%s\"}",
                         c->rate, c->padding);
    if (o->binary_output)
        proto_buf_printf(b, ", \"outputs\": [{\"name\": \"output\", \"parameters\": "
                            "{\"binary_data\": true}}]");
    proto_buf_printf(b, "}");
    for (size_t i = 0; i < o->pad; i++)
        proto_buf_put(b, " ", 1);
    size_t header = o->form == FORM_BINARY ? b->len : 0;
    proto_buf_put(b, binary.data, binary.len);
    proto_buf_free(&binary);
    return header;
}

/* Reads a response's JSON header back and checks its envelope; returns the parsed document. */
static json_t *read_reply(const struct atrous_kserve_reply *r, const char *model,
                          const char *version, const char *id, const int64_t *dims, int rank)
{
    json_error_t jerr;
    json_t *doc = json_loadb(r->header, r->header_len, 0, &jerr);
    if (doc == NULL)
        fail_msg("response is not JSON: %s: %s", jerr.text, r->header);
    assert_string_equal(json_string_value(json_object_get(doc, "model_name")), model);
    assert_string_equal(json_string_value(json_object_get(doc, "model_version")), version);
    if (id)
        assert_string_equal(json_string_value(json_object_get(doc, "id")), id);
    else
        assert_null(json_object_get(doc, "id"));
    json_t *out = json_array_get(json_object_get(doc, "outputs"), 0);
    assert_non_null(out);
    assert_int_equal(json_array_size(json_object_get(doc, "outputs")), 1);
    assert_string_equal(json_string_value(json_object_get(out, "name")), "output");
    assert_string_equal(json_string_value(json_object_get(out, "datatype")), "FP32");
    json_t *shape = json_object_get(out, "shape");
    assert_int_equal(json_array_size(shape), (size_t)rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(json_integer_value(json_array_get(shape, (size_t)i)), dims[i]);
    return doc;
}

/*
 * Decodes body for model (NULL: generic), validates, runs through lib (prepared filters for a
 * model), compares with c's expected output, encodes the response and reads it back.
 */
static void run_case(struct codec_suite *s, const struct corpus_case *c,
                     const struct atrous_model *m, const struct proto_buf *body, size_t header,
                     const struct request_opts *o)
{
    struct atrous_error err;
    struct atrous_kserve_request req;
    struct atrous_kserve_reply reply;
    struct atrous_problem p;
    char ihcl[32];
    snprintf(ihcl, sizeof(ihcl), "%zu", header);
    if (decode_infer_text(m, body->data, body->len, o->form == FORM_BINARY ? ihcl : NULL, NULL,
                          &req, &err))
        fail_msg("%s: decode: %s", c->name, err.message);
    assert_int_equal(req.binary_output, o->binary_output);
    if (atrous_request_validate(&req.op, NULL, &p, &err) != ATROUS_OK)
        fail_msg("%s: validate: %s", c->name, err.message);
    float *got = calloc(p.output_elements + 1, sizeof(float));
    assert_non_null(got);
    for (size_t i = 0; i < p.output_elements; i++)
        got[i] = NAN;
    enum atrous_status st =
        m ? atrous_engine_run_filters(s->engine, s->workspace, &p, req.op.value, m->prepared, got,
                                      &err)
          : atrous_engine_run(s->engine, s->workspace, &p, req.op.value, req.op.filters, got, &err);
    if (st != ATROUS_OK)
        fail_msg("%s: run: %s", c->name, err.message);
    struct corpus_comparison cmp;
    corpus_compare(got, c->expected, c->expected_count, &cmp);
    if (cmp.failures)
        fail_msg("%s: %zu elements out of tolerance", c->name, cmp.failures);

    struct atrous_shape out_shape;
    atrous_problem_output_shape(&p, &out_shape);
    assert_int_equal(atrous_kserve_encode_infer(&req, &out_shape, got, &reply, &err), ATROUS_OK);
    json_t *doc = read_reply(&reply, m ? m->name : ATROUS_GENERIC_MODEL_NAME, "1", o->id,
                             out_shape.dims, out_shape.rank);
    json_t *out = json_array_get(json_object_get(doc, "outputs"), 0);
    if (o->binary_output) {
        assert_ptr_equal(reply.binary, got);
        assert_int_equal(reply.binary_len, p.output_elements * sizeof(float));
        assert_null(json_object_get(out, "data"));
        assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "parameters"),
                                                            "binary_data_size")),
                         reply.binary_len);
    } else {
        json_t *data = json_object_get(out, "data");
        assert_null(reply.binary);
        assert_int_equal(json_array_size(data), p.output_elements);
        for (size_t i = 0; i < p.output_elements; i++)
            assert_true((float)json_number_value(json_array_get(data, i)) == got[i]);
    }
    json_decref(doc);
    atrous_kserve_reply_release(&reply);
    atrous_kserve_request_release(&req);
    free(got);
}

static void test_kserve_cases_through_repository_models(void **state)
{
    struct codec_suite *s = *state;
    struct atrous_error err;
    size_t runs = 0;
    for (size_t i = 0; i < s->count; i++) {
        const struct corpus_case *c = &s->cases[i].c;
        if (strcmp(s->cases[i].folder, "valid") != 0)
            continue;
        struct atrous_model *m = fixture_model_from_case(c);
        assert_non_null(m);
        assert_int_equal(atrous_model_prepare(m, s->engine, &err), ATROUS_OK);
        for (int f = FORM_FLAT; f <= FORM_BINARY; f++) {
            struct request_opts o = {.form = (enum form)f,
                                     .pad = i % 4,
                                     .binary_output = (i + (size_t)f) % 2 == 0,
                                     .id = f == FORM_NESTED ? "req-42" : NULL};
            struct proto_buf body = {0};
            size_t header = build_request(c, &o, &body);
            run_case(s, c, m, &body, header, &o);
            proto_buf_free(&body);
            runs++;
        }
        atrous_model_free(m);
    }
    printf("repository-model requests run: %zu\n", runs);
}

static void test_kserve_cases_through_the_generic_model(void **state)
{
    struct codec_suite *s = *state;
    size_t runs = 0;
    for (size_t i = 0; i < s->count; i++) {
        const struct corpus_case *c = &s->cases[i].c;
        if (strcmp(s->cases[i].folder, "valid") != 0)
            continue;
        for (int f = FORM_FLAT; f <= FORM_BINARY; f++) {
            struct request_opts o = {.generic = true,
                                     .form = (enum form)f,
                                     .pad = (i + 1) % 4,
                                     .int32 = i % 2 == 1,
                                     .attrs_as_inputs = (i / 2) % 2 == 1,
                                     .binary_output = f == FORM_BINARY && i % 3 != 0,
                                     .id = "abc"};
            struct proto_buf body = {0};
            size_t header = build_request(c, &o, &body);
            run_case(s, c, NULL, &body, header, &o);
            proto_buf_free(&body);
            runs++;
        }
    }
    printf("generic-model requests run: %zu\n", runs);
}

/* The invalid cases decode (the wire is fine) and then fail validation as TensorFlow would. */
static void test_kserve_invalid_cases_fail_validation_like_tensorflow(void **state)
{
    struct codec_suite *s = *state;
    struct atrous_error err;
    size_t checked = 0;
    for (size_t i = 0; i < s->count; i++) {
        const struct corpus_case *c = &s->cases[i].c;
        if (strcmp(s->cases[i].folder, "invalid") != 0)
            continue;
        struct request_opts o = {.generic = true,
                                 .form = i % 2 ? FORM_BINARY : FORM_FLAT,
                                 .attrs_as_inputs = i % 3 == 0};
        struct proto_buf body = {0};
        struct atrous_kserve_request req;
        struct atrous_problem p;
        char ihcl[32];
        size_t header = build_request(c, &o, &body);
        snprintf(ihcl, sizeof(ihcl), "%zu", header);
        if (decode_infer_text(NULL, body.data, body.len, o.form == FORM_BINARY ? ihcl : NULL, NULL,
                              &req, &err))
            fail_msg("%s: decode: %s", c->name, err.message);
        assert_int_equal(atrous_request_validate(&req.op, NULL, &p, &err), ATROUS_INVALID_ARGUMENT);
        if (strcmp(c->error_stage, "python") == 0 &&
            strstr(err.message, c->message_contains) == NULL)
            fail_msg("%s: \"%s\" lacks \"%s\"", c->name, err.message, c->message_contains);
        /* The native JSON codec's request gives the very same rejection. */
        struct proto_buf native = {0};
        struct atrous_request native_req;
        struct atrous_error native_err;
        proto_case_json(c, PROTO_FLAT, &native);
        assert_int_equal(
            atrous_json_decode_request(native.data, native.len, NULL, &native_req, &native_err),
            ATROUS_OK);
        assert_int_equal(atrous_request_validate(&native_req, NULL, &p, &native_err),
                         ATROUS_INVALID_ARGUMENT);
        assert_string_equal(err.message, native_err.message);
        assert_string_equal(err.field, native_err.field);
        atrous_request_release(&native_req);
        proto_buf_free(&native);
        atrous_kserve_request_release(&req);
        proto_buf_free(&body);
        checked++;
    }
    assert_true(checked >= 20);
}

/* A binary value part at an aligned offset is used in place; at an odd one it is copied. */
static void test_kserve_binary_data_in_place_when_aligned(void **state)
{
    struct codec_suite *s = *state;
    struct atrous_error err;
    const float value[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (size_t shift = 0; shift < 2; shift++) {
        struct proto_buf b = {0};
        struct atrous_kserve_request req;
        char ihcl[32];
        proto_buf_printf(&b, "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", "
                             "\"shape\": [1, 2, 2, 2], \"parameters\": {\"binary_data_size\": "
                             "32}}]}");
        /* The buffer is malloc'd (16-byte aligned): pad the header to 4k or 4k+1 bytes. */
        while (b.len % 4 != shift)
            proto_buf_put(&b, " ", 1);
        size_t header = b.len;
        proto_buf_put(&b, value, sizeof(value));
        snprintf(ihcl, sizeof(ihcl), "%zu", header);
        assert_int_equal(decode_infer_text(s->example, b.data, b.len, ihcl, NULL, &req, &err),
                         ATROUS_OK);
        if (shift == 0) {
            assert_ptr_equal(req.op.value, b.data + header);
            assert_null(req.owned[0]);
        } else {
            assert_ptr_equal(req.op.value, req.owned[0]);
        }
        assert_memory_equal(req.op.value, value, sizeof(value));
        /* A repository model's request: filters, output_shape, rate, padding from the model. */
        assert_int_equal(req.op.output_shape_len, 4);
        assert_int_equal(req.op.output_shape[3], 4);
        assert_ptr_equal(req.op.filters, s->example->filters);
        assert_int_equal(req.op.rate, 2);
        assert_string_equal(req.op.padding, "SAME");
        atrous_kserve_request_release(&req);
        proto_buf_free(&b);
    }
}

/* One malformed request: body text, optional binary tail, header value, expected outcome. */
struct bad_request {
    const char *what;
    bool generic;
    const char *json;
    size_t tail;      /* bytes of binary data appended after the JSON */
    const char *ihcl; /* "" = the JSON's length, NULL = no header, else as given */
    enum atrous_status status;
    const char *expect;
};

static void check_bad(struct codec_suite *s, const struct bad_request *t,
                      const struct atrous_kserve_limits *limits)
{
    struct atrous_error err;
    struct atrous_kserve_request req;
    struct proto_buf b = {0};
    char ihcl[32];
    const unsigned char zeros[64] = {0};
    proto_buf_printf(&b, "%s", t->json);
    snprintf(ihcl, sizeof(ihcl), "%zu", b.len);
    proto_buf_put(&b, zeros, t->tail);
    const char *header = t->ihcl == NULL ? NULL : t->ihcl[0] ? t->ihcl : ihcl;
    enum atrous_status st = decode_infer_text(t->generic ? NULL : s->example, b.data, b.len, header,
                                              limits, &req, &err);
    if (st != t->status)
        fail_msg("%s: status %d, expected %d (%s)", t->what, st, t->status,
                 st ? err.message : "accepted");
    if (st != ATROUS_OK && strstr(err.message, t->expect) == NULL)
        fail_msg("%s: \"%s\" lacks \"%s\"", t->what, err.message, t->expect);
    if (st == ATROUS_OK)
        atrous_kserve_request_release(&req);
    /* A failed decode leaves the request released. */
    assert_null(req.id);
    assert_null(req.owned[0]);
    proto_buf_free(&b);
}

#define VALUE_JSON(extra)                                                                          \
    "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 2], "        \
    "\"data\": [0.5, 1]}]" extra "}"
#define VALUE_BIN(size)                                                                            \
    "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 2], "        \
    "\"parameters\": {\"binary_data_size\": " size "}}]}"

static void test_kserve_rejects_malformed_binary_bodies(void **state)
{
    struct codec_suite *s = *state;
    const struct bad_request tests[] = {
        {"well formed", false, VALUE_BIN("8"), 8, "", ATROUS_OK, ""},
        {"IHCL larger than the body", false, VALUE_BIN("8"), 8, "100000", ATROUS_INVALID_ARGUMENT,
         "exceeds the body's"},
        {"IHCL not a number", false, VALUE_BIN("8"), 8, "12x", ATROUS_INVALID_ARGUMENT,
         "decimal byte count"},
        {"IHCL negative", false, VALUE_BIN("8"), 8, "-5", ATROUS_INVALID_ARGUMENT,
         "decimal byte count"},
        {"IHCL empty", false, VALUE_BIN("8"), 8, " ", ATROUS_INVALID_ARGUMENT,
         "decimal byte count"},
        {"IHCL overflowing", false, VALUE_BIN("8"), 8, "99999999999999999999999",
         ATROUS_INVALID_ARGUMENT, "not a byte count"},
        {"IHCL cutting the JSON", false, VALUE_BIN("8"), 8, "20", ATROUS_INVALID_ARGUMENT,
         "invalid JSON"},
        {"binary data without IHCL", false, VALUE_BIN("8"), 8, NULL, ATROUS_INVALID_ARGUMENT,
         "invalid JSON"},
        {"binary size but IHCL absent, no tail", false, VALUE_BIN("8"), 0, NULL,
         ATROUS_INVALID_ARGUMENT, "no Inference-Header-Content-Length"},
        {"size not matching the shape", false, VALUE_BIN("12"), 12, "", ATROUS_INVALID_ARGUMENT,
         "binary_data_size 12 does not match shape [1, 1, 1, 2] of FP32"},
        {"size overflowing", false, VALUE_BIN("9223372036854775807"), 8, "",
         ATROUS_INVALID_ARGUMENT, "does not match shape"},
        {"negative size", false, VALUE_BIN("-8"), 8, "", ATROUS_INVALID_ARGUMENT,
         "binary_data_size must be an integer >= 0"},
        {"size as a string", false, VALUE_BIN("\"8\""), 8, "", ATROUS_INVALID_ARGUMENT,
         "binary_data_size must be an integer"},
        {"missing part", false, VALUE_BIN("8"), 4, "", ATROUS_INVALID_ARGUMENT,
         "runs past the end of the body (4 bytes left"},
        {"extra bytes", false, VALUE_BIN("8"), 12, "", ATROUS_INVALID_ARGUMENT,
         "4 bytes after the JSON header"},
        {"IHCL shorter than the body without binary inputs", false, VALUE_JSON(""), 3, "",
         ATROUS_INVALID_ARGUMENT, "3 bytes after"},
        {"data and binary size", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 2], "
         "\"data\": [1, 2], \"parameters\": {\"binary_data_size\": 8}}]}",
         8, "", ATROUS_INVALID_ARGUMENT, "both \"data\" and binary_data_size"},
        {"element count overflowing", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [4294967296, "
         "4294967296, 2, 1], \"parameters\": {\"binary_data_size\": 8}}]}",
         8, "", ATROUS_TOO_LARGE, ""},
        {"element count over the hard ceiling", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 65536, "
         "65536, 2], \"parameters\": {\"binary_data_size\": 8}}]}",
         8, "", ATROUS_TOO_LARGE, "over the limit"},
        {"generic: output_shape size for INT32 sent as INT64", true,
         "{\"inputs\": [{\"name\": \"output_shape\", \"datatype\": \"INT32\", \"shape\": [4], "
         "\"parameters\": {\"binary_data_size\": 32}}]}",
         32, "", ATROUS_INVALID_ARGUMENT, "4 elements of 4 bytes"},
        {"generic: BYTES length disagreeing", true,
         "{\"inputs\": [{\"name\": \"padding\", \"datatype\": \"BYTES\", \"shape\": [1], "
         "\"parameters\": {\"binary_data_size\": 8}}]}",
         8, "", ATROUS_INVALID_ARGUMENT, "the BYTES element says 0 bytes"},
        {"generic: BYTES shorter than its length", true,
         "{\"inputs\": [{\"name\": \"padding\", \"datatype\": \"BYTES\", \"shape\": [1], "
         "\"parameters\": {\"binary_data_size\": 2}}]}",
         2, "", ATROUS_INVALID_ARGUMENT, "too small for a BYTES element"},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        check_bad(s, &tests[i], NULL);
}

static void test_kserve_rejects_bad_envelopes_and_types(void **state)
{
    struct codec_suite *s = *state;
    const struct bad_request tests[] = {
        {"well formed JSON", false, VALUE_JSON(", \"id\": \"x\""), 0, NULL, ATROUS_OK, ""},
        {"not JSON", false, "{\"inputs\": [", 0, NULL, ATROUS_INVALID_ARGUMENT, "invalid JSON"},
        {"NaN token (as TF Serving and the native API take it)", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 2], "
         "\"data\": [NaN, -Infinity]}]}",
         0, NULL, ATROUS_OK, ""},
        {"NaN token as a shape", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, NaN, 2], "
         "\"data\": [1, 2]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "shape"},
        {"duplicate key", false, "{\"inputs\": [], \"inputs\": []}", 0, NULL,
         ATROUS_INVALID_ARGUMENT, "invalid JSON"},
        {"not an object", false, "[1, 2]", 0, NULL, ATROUS_INVALID_ARGUMENT, "JSON object"},
        {"unknown top-level key", false, VALUE_JSON(", \"input\": 1"), 0, NULL,
         ATROUS_INVALID_ARGUMENT, "unknown key \"input\""},
        {"no inputs", false, "{\"inputs\": []}", 0, NULL, ATROUS_INVALID_ARGUMENT,
         "non-empty list"},
        {"id not a string", false, VALUE_JSON(", \"id\": 5"), 0, NULL, ATROUS_INVALID_ARGUMENT,
         "\"id\" must be a string"},
        {"wrong datatype", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP64\", \"shape\": [1, 1, 1, 2], "
         "\"data\": [0.5, 1]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT,
         "input 'value' has datatype FP64: the accepted datatypes are FP32, BF16, FP16; cast"},
        {"unknown input key", false,
         "{\"inputs\": [{\"name\": \"value\", \"dtype\": \"FP32\", \"shape\": [1, 1, 1, 2], "
         "\"data\": [0.5, 1]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "unknown key \"dtype\" in inputs[0]"},
        {"repository model given filters", false,
         "{\"inputs\": [{\"name\": \"filters\", \"datatype\": \"FP32\", \"shape\": [1], "
         "\"data\": [1]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "model 'example' takes only 'value'"},
        {"duplicate input", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1], "
         "\"data\": [1]}, {\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1], "
         "\"data\": [1]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "given twice"},
        {"no data", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1]}]}", 0, NULL,
         ATROUS_INVALID_ARGUMENT, "has no data"},
        {"negative dim", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, -1], "
         "\"data\": []}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "shape[1] must be an integer >= 0"},
        {"rank 9", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 1, 1, "
         "1, 1, 1, 1], \"data\": [1]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "at most 8 integers"},
        {"flat data too short", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 2], "
         "\"data\": [0.5]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "data has 1 elements, shape [1, 1, 1, 2] needs 2"},
        {"nested data not rectangular", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 2, 1, 2], "
         "\"data\": [[[[1, 2]], [[3]]]]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "nested data does not match shape [1, 2, 1, 2]"},
        {"string element", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 2], "
         "\"data\": [0.5, \"1\"]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "element 1 must be a number, got a string"},
        {"float32 overflow", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 2], "
         "\"data\": [0.5, 1e39]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "too large for float32"},
        {"value of the wrong rank for the model", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [2], "
         "\"data\": [0.5, 1]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "value must be rank 4"},
        {"batch over max_batch_size", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [9, 0, 1, 2], "
         "\"data\": []}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "max_batch_size 8"},
        {"rate parameter differing from the model's", false,
         VALUE_JSON(", \"parameters\": "
                    "{\"rate\": 3}"),
         0, NULL, ATROUS_INVALID_ARGUMENT, "model 'example' has rate 2"},
        {"rate parameter equal to the model's", false,
         VALUE_JSON(", \"parameters\": {\"rate\": 2, \"padding\": \"SAME\", \"x\": 1}"), 0, NULL,
         ATROUS_OK, ""},
        {"binary_data_output not a boolean", false,
         VALUE_JSON(", \"parameters\": {\"binary_data_output\": 1}"), 0, NULL,
         ATROUS_INVALID_ARGUMENT, "must be a boolean"},
        {"unknown output", false, VALUE_JSON(", \"outputs\": [{\"name\": \"out\"}]"), 0, NULL,
         ATROUS_INVALID_ARGUMENT, "unknown output 'out'"},
        {"output requested twice", false,
         VALUE_JSON(", \"outputs\": [{\"name\": \"output\"}, {\"name\": \"output\"}]"), 0, NULL,
         ATROUS_INVALID_ARGUMENT, "requested twice"},
        {"classification", false,
         VALUE_JSON(", \"outputs\": [{\"name\": \"output\", \"parameters\": "
                    "{\"classification\": 2}}]"),
         0, NULL, ATROUS_INVALID_ARGUMENT, "classification"},
        {"generic: missing filters", true,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": "
         "[1]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "missing input 'filters'"},
        {"generic: output_shape as FP32", true,
         "{\"inputs\": [{\"name\": \"output_shape\", \"datatype\": \"FP32\", \"shape\": [4], "
         "\"data\": [1, 2, 3, 4]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "must be INT32 or INT64, got FP32"},
        {"generic: output_shape 2-D", true,
         "{\"inputs\": [{\"name\": \"output_shape\", \"datatype\": \"INT64\", \"shape\": [2, 2], "
         "\"data\": [1, 2, 3, 4]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "must be 1-D"},
        {"generic: fractional output_shape", true,
         "{\"inputs\": [{\"name\": \"output_shape\", \"datatype\": \"INT64\", \"shape\": [4], "
         "\"data\": [1, 2.5, 3, 4]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "element 1 must be an integer"},
        {"generic: INT32 out of range", true,
         "{\"inputs\": [{\"name\": \"rate\", \"datatype\": \"INT32\", \"shape\": [1], "
         "\"data\": [4294967296]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "out of the INT32 range"},
        {"generic: padding as INT32", true,
         "{\"inputs\": [{\"name\": \"padding\", \"datatype\": \"INT32\", \"shape\": [1], "
         "\"data\": [1]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "must be BYTES, got INT32"},
        {"generic: padding not a string", true,
         "{\"inputs\": [{\"name\": \"padding\", \"datatype\": \"BYTES\", \"shape\": [1], "
         "\"data\": [1]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "one string"},
        {"generic: rate twice", true,
         "{\"inputs\": [{\"name\": \"rate\", \"datatype\": \"INT32\", \"shape\": [1], \"data\": "
         "[2]}], \"parameters\": {\"rate\": 2}}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "both as an input and as a parameter"},
        {"generic: rate of two elements", true,
         "{\"inputs\": [{\"name\": \"rate\", \"datatype\": \"INT32\", \"shape\": [2], \"data\": "
         "[2, 2]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "input 'rate' has 2 elements"},
        {"generic: unknown input", true,
         "{\"inputs\": [{\"name\": \"strides\", \"datatype\": \"INT32\", \"shape\": [1], "
         "\"data\": [2]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "unknown input 'strides'"},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        check_bad(s, &tests[i], NULL);
}

/* Cases of the JSON reader that the corpus does not reach, as check_bad runs them. */
static void test_kserve_json_reader_edges(void **state)
{
    struct codec_suite *s = *state;
#define GENERIC_WITH(output_shape_type, output_shape_data)                                         \
    "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": [1]}, " \
    "{\"name\": \"filters\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": [1]}, "             \
    "{\"name\": \"output_shape\", \"datatype\": \"" output_shape_type "\", \"shape\": [4], "       \
    "\"data\": " output_shape_data "}], \"parameters\": {\"rate\": 1, \"padding\": \"SAME\"}}"
    const struct bad_request tests[] = {
        {"INT64 at both edges", true,
         GENERIC_WITH("INT64", "[9223372036854775807, -9223372036854775808, 1e2, 4.0]"), 0, NULL,
         ATROUS_OK, ""},
        {"INT64 past the edge", true, GENERIC_WITH("INT64", "[1, 9223372036854775808, 1, 1]"), 0,
         NULL, ATROUS_INVALID_ARGUMENT, "output_shape: element 1 is out of the INT64 range"},
        {"INT32 at the edge", true, GENERIC_WITH("INT32", "[2147483647, -2147483648, 1, 1]"), 0,
         NULL, ATROUS_OK, ""},
        {"INT32 past the edge", true, GENERIC_WITH("INT32", "[1, 1, 1, -2147483649]"), 0, NULL,
         ATROUS_INVALID_ARGUMENT, "output_shape: element 3 is out of the INT32 range"},
        {"integers nested like the shape", true, GENERIC_WITH("INT64", "[[1, 2, 3, 4]]"), 0, NULL,
         ATROUS_INVALID_ARGUMENT, "at depth 0 expected a list of 4, got a list of another length"},
        {"shape dims must be integer literals", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 2.0], "
         "\"data\": [0.5, 1]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "shape[3] must be an integer >= 0"},
        {"data deeper than the shape", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 2], "
         "\"data\": [[[[[0.5], [1]]]]]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "value: element 0 must be a number, got a list"},
        {"data shallower than the shape", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 2], "
         "\"data\": [[[0.5]]]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "at depth 3 expected a list of 2, got a number"},
        {"ragged deep inside", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 2, 1, 2], "
         "\"data\": [[[[1, 2]], [[3, 4, 5]]]]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT,
         "at depth 3 expected a list of 2, got a list of "
         "another length"},
        {"a number where a list of 0 goes", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [2, 0, 1, 2], "
         "\"data\": [[], 5]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "at depth 1 expected a list of 0, got a number"},
        {"float32 overflow in nested data", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 2, 2], "
         "\"data\": [[[[1, 2], [3, 1e39]]]]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "value: element 3 is too large for float32"},
        {"mixed list", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, 1, 1, 3], "
         "\"data\": [1, 2, null]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "value: element 2 must be a number, got null"},
        {"nesting past the document's depth", false,
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": "
         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]"
         "]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]}",
         0, NULL, ATROUS_INVALID_ARGUMENT, "nesting deeper than 64 levels"},
        {"inputs not objects", false, "{\"inputs\": [[1, 2]]}", 0, NULL, ATROUS_INVALID_ARGUMENT,
         "inputs[0] must be an object, got a list"},
        {"outputs not objects", false, VALUE_JSON(", \"outputs\": [1]"), 0, NULL,
         ATROUS_INVALID_ARGUMENT, "outputs[0] must be an object"},
    };
#undef GENERIC_WITH
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        check_bad(s, &tests[i], NULL);
    /* The exact values, read back. */
    struct atrous_kserve_request req;
    struct atrous_error err;
    const char *body = tests[0].json;
    assert_int_equal(decode_infer_text(NULL, body, strlen(body), NULL, NULL, &req, &err),
                     ATROUS_OK);
    assert_true(req.op.output_shape[0] == INT64_MAX && req.op.output_shape[1] == INT64_MIN);
    assert_true(req.op.output_shape[2] == 100 && req.op.output_shape[3] == 4);
    atrous_kserve_request_release(&req);
}

/* Copies text into b with JSON whitespace between every two tokens. */
static void put_spaced(struct proto_buf *b, const char *text, size_t len)
{
    static const char ws[] = " \t\r\n";
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        const char c = text[i];
        proto_buf_put(b, &c, 1);
        if (c == '"' && (i == 0 || text[i - 1] != '\\'))
            in_string = !in_string;
        if (!in_string && strchr("{}[],:", c) != NULL)
            proto_buf_put(b, ws + i % 4, 4 - i % 4);
    }
}

/*
 * float32 through the v2 JSON path bit-exactly: random bit patterns (every finite float is as
 * likely as its bits: subnormals, both zeros, the extremes), written with %.9g and in the
 * shortest form, flat and nested, compact and with whitespace between every token.
 */
static void test_kserve_json_float32_round_trip(void **state)
{
    struct codec_suite *s = *state;
    enum { H = 64, W = 64, C = 2, COUNT = H * W * C, ROUNDS = 8 };
    const int64_t dims[4] = {1, H, W, C};
    struct atrous_shape shape;
    float *want = malloc(COUNT * sizeof(float));
    uint64_t seed = 0x2545F4914F6CDD1DULL;
    atrous_shape_make(&shape, dims, 4, NULL);
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < COUNT; i++) {
            uint32_t bits;
            do {
                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                bits = (uint32_t)(seed >> 32);
            } while ((bits & 0x7F800000u) == 0x7F800000u); /* bit-exact: no NaN payloads */
            memcpy(&want[i], &bits, sizeof(bits));
        }
        const bool shortest = round & 1, nested = round & 2, spaced = round & 4;
        struct proto_buf body = {0}, text = {0};
        put_input_head(&text, "value", "FP32", dims, 4);
        proto_buf_printf(&text, ", \"data\": ");
        for (int64_t i = 0, row = W * C; i < COUNT; i++) {
            if (nested)
                proto_buf_printf(&text, "%s",
                                 i == 0         ? "[[[["
                                 : i % row == 0 ? "]], [["
                                 : i % C == 0   ? "], ["
                                                : "");
            else if (i == 0)
                proto_buf_printf(&text, "[");
            if (i % C != 0 || (!nested && i > 0))
                proto_buf_printf(&text, ", ");
            if (shortest)
                proto_buf_float(&text, want[i]);
            else
                proto_buf_printf(&text, "%.9g", want[i]);
        }
        proto_buf_printf(&text, nested ? "]]]]}" : "]}");
        proto_buf_printf(&body, "{\"inputs\": [");
        if (spaced)
            put_spaced(&body, text.data, text.len);
        else
            proto_buf_put(&body, text.data, text.len);
        proto_buf_printf(&body, "]}");
        struct atrous_kserve_request req;
        struct atrous_error err;
        if (decode_infer_text(s->example, body.data, body.len, NULL, NULL, &req, &err) != ATROUS_OK)
            fail_msg("round %d: %s", round, err.message);
        assert_int_equal(req.op.value_shape.rank, 4);
        assert_int_equal(req.op.value_shape.dims[1], H);
        for (size_t i = 0; i < COUNT; i++)
            if (memcmp(&req.op.value[i], &want[i], sizeof(float)) != 0)
                fail_msg("round %d: element %zu: got %a, sent %.9g (%a)", round, i,
                         (double)req.op.value[i], (double)want[i], (double)want[i]);
        atrous_kserve_request_release(&req);
        proto_buf_free(&body);
        proto_buf_free(&text);
    }
    free(want);
}

/* Every prefix of a valid body (binary or not) is a 400 naming the JSON, never a crash. */
static void test_kserve_rejects_every_truncation(void **state)
{
    struct codec_suite *s = *state;
    const char *text =
        "{\"id\": \"a\\u00e9\", \"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", "
        "\"shape\": [1, 1, 2, 2], \"data\": [[[[0.5, -1.5e-3], [2E+1, 3]]]], \"parameters\": "
        "{}}], \"parameters\": {\"binary_data_output\": false}, \"outputs\": [{\"name\": "
        "\"output\", \"parameters\": {\"binary_data\": true}}]}";
    const size_t len = strlen(text);
    for (size_t cut = 0; cut <= len; cut++) {
        struct atrous_kserve_request req;
        struct atrous_error err;
        char *body = malloc(cut ? cut : 1); /* ASan sees reads past the cut */
        memcpy(body, text, cut);
        enum atrous_status st = decode_infer_text(s->example, body, cut, NULL, NULL, &req, &err);
        if (cut == len)
            assert_int_equal(st, ATROUS_OK);
        else if (st != ATROUS_INVALID_ARGUMENT || strstr(err.message, "invalid JSON") == NULL ||
                 err.field[0] != '\0')
            fail_msg("cut at %zu: status %d: %s", cut, st, st ? err.message : "accepted");
        atrous_kserve_request_release(&req);
        free(body);
    }
}

static void test_kserve_limits(void **state)
{
    struct codec_suite *s = *state;
    const struct atrous_kserve_limits small = {.max_tensor_elements = 1};
    const struct atrous_kserve_limits short_json = {.max_json_bytes = 50};
    const struct bad_request over_elements = {
        "value over max_tensor_elements", false, VALUE_JSON(""), 0, NULL, ATROUS_TOO_LARGE,
        "2 elements, over the limit of 1"};
    const struct bad_request over_json = {
        "JSON over max_json_bytes",
        false,
        VALUE_JSON(", \"id\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""),
        0,
        NULL,
        ATROUS_CONTENT_TOO_LARGE,
        "binary tensor extension"};
    check_bad(s, &over_elements, &small);
    check_bad(s, &over_json, &short_json);
}

static void test_kserve_paths(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        enum atrous_kserve_route_kind kind;
        const char *model, *version;
    } good[] = {
        {"/v2", ATROUS_KSERVE_ROUTE_SERVER_METADATA, "", ""},
        {"/v2/health/live", ATROUS_KSERVE_ROUTE_LIVE, "", ""},
        {"/v2/health/ready", ATROUS_KSERVE_ROUTE_READY, "", ""},
        {"/v2/models/example", ATROUS_KSERVE_ROUTE_MODEL_METADATA, "example", ""},
        {"/v2/models/example/versions/12", ATROUS_KSERVE_ROUTE_MODEL_METADATA, "example", "12"},
        {"/v2/models/example/ready", ATROUS_KSERVE_ROUTE_MODEL_READY, "example", ""},
        {"/v2/models/a.b-c_d/versions/1/config", ATROUS_KSERVE_ROUTE_MODEL_CONFIG, "a.b-c_d", "1"},
        {"/v2/models/atrous_conv2d_transpose/infer", ATROUS_KSERVE_ROUTE_INFER,
         "atrous_conv2d_transpose", ""},
        {"/v2/models/example/versions/3/infer", ATROUS_KSERVE_ROUTE_INFER, "example", "3"},
        /* Triton's statistics and model repository extensions. */
        {"/v2/models/stats", ATROUS_KSERVE_ROUTE_MODEL_STATS, "", ""},
        {"/v2/models/example/stats", ATROUS_KSERVE_ROUTE_MODEL_STATS, "example", ""},
        {"/v2/models/example/versions/2/stats", ATROUS_KSERVE_ROUTE_MODEL_STATS, "example", "2"},
        {"/v2/repository/index", ATROUS_KSERVE_ROUTE_REPO_INDEX, "", ""},
        {"/v2/repository/models/example/load", ATROUS_KSERVE_ROUTE_REPO_LOAD, "example", ""},
        {"/v2/repository/models/a.b-c_d/unload", ATROUS_KSERVE_ROUTE_REPO_UNLOAD, "a.b-c_d", ""},
    };
    static const char *const bad[] = {
        "/v2/",
        "/v2/health",
        "/v2/models",
        "/v2/models/",
        "/v2/models/example/",
        "/v2/models/example/infer/",
        "/v2/models/example/versions/",
        "/v2/models/example/versions",
        "/v2/models/example/versions/01/infer",
        "/v2/models/example/versions/1x",
        "/v2/models/.hidden",
        "/v2/models/a:b/infer",
        "/v2/models/example/stats/",
        "/v2/models/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "/v1/models/example",
        "/v2/repository/index/",
        "/v2/repository/models/example",
        "/v2/repository/models/example/versions/1/load",
        "/v2/repository/models/.hidden/load",
        "/v2/repository/models//unload",
        "/v2/repository/example/load",
    };
    struct atrous_kserve_route r;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!atrous_kserve_parse_path(good[i].path, &r))
            fail_msg("%s rejected", good[i].path);
        assert_int_equal(r.kind, good[i].kind);
        assert_string_equal(r.model, good[i].model);
        assert_string_equal(r.version, good[i].version);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (atrous_kserve_parse_path(bad[i], &r))
            fail_msg("%s accepted", bad[i]);
        assert_int_equal(r.kind, ATROUS_KSERVE_ROUTE_NONE);
    }
}

/* The repository extension's bodies as tritonclient sends them, and what is refused. */
static void test_kserve_repository_bodies(void **state)
{
    (void)state;
    struct atrous_error err;
    bool flag = true;
    assert_int_equal(atrous_kserve_decode_index_request("", 0, &flag, &err), ATROUS_OK);
    assert_false(flag);
    assert_int_equal(atrous_kserve_decode_index_request("{\"ready\": true}", 15, &flag, &err),
                     ATROUS_OK);
    assert_true(flag);
    assert_int_equal(atrous_kserve_decode_index_request("{\"ready\": 1}", 12, &flag, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "ready");
    assert_int_equal(atrous_kserve_decode_index_request("[]", 2, &flag, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_int_equal(atrous_kserve_decode_index_request("{\"redy\": true}", 14, &flag, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "redy");

    struct atrous_kserve_load_request load;
    assert_int_equal(atrous_kserve_decode_load_request("{}", 2, &load, &err), ATROUS_OK);
    assert_null(load.config);
    static const char with_config[] = "{\"parameters\": {\"config\": \"{\\\"rate\\\": 2}\"}}";
    assert_int_equal(
        atrous_kserve_decode_load_request(with_config, sizeof(with_config) - 1, &load, &err),
        ATROUS_OK);
    assert_string_equal(load.config, "{\"rate\": 2}");
    assert_int_equal(load.config_len, 11);
    atrous_kserve_load_request_release(&load);
    static const char *const bad_loads[] = {
        "{\"parameters\": {\"config\": 1}}",
        "{\"parameters\": {\"file:1/filters.npy\": \"AAAA\"}}",
        "{\"parameters\": {\"other\": \"x\"}}",
        "{\"parameters\": []}",
        "{\"params\": {}}",
        "{\"parameters\": {\"config\": \"a\", \"config\": \"b\"}}",
        "{",
    };
    for (size_t i = 0; i < sizeof(bad_loads) / sizeof(bad_loads[0]); i++) {
        if (atrous_kserve_decode_load_request(bad_loads[i], strlen(bad_loads[i]), &load, &err) !=
            ATROUS_INVALID_ARGUMENT)
            fail_msg("accepted: %s", bad_loads[i]);
        assert_null(load.config);
    }

    static const char unload[] = "{\"parameters\": {\"unload_dependents\": false}}";
    assert_int_equal(atrous_kserve_decode_unload_request(unload, sizeof(unload) - 1, &flag, &err),
                     ATROUS_OK);
    assert_false(flag);
    assert_int_equal(atrous_kserve_decode_unload_request("", 0, &flag, &err), ATROUS_OK);
    assert_int_equal(atrous_kserve_decode_unload_request(
                         "{\"parameters\": {\"unload_dependents\": \"no\"}}", 40, &flag, &err),
                     ATROUS_INVALID_ARGUMENT);

    const struct atrous_kserve_index_entry entries[] = {
        {"a", "1", "READY", ""},
        {"b", NULL, "UNAVAILABLE", "x: bad"},
    };
    size_t len = 0;
    char *text = atrous_kserve_encode_index(entries, 2, &len);
    assert_string_equal(text, "[{\"name\":\"a\",\"version\":\"1\",\"state\":\"READY\","
                              "\"reason\":\"\"},{\"name\":\"b\",\"state\":\"UNAVAILABLE\","
                              "\"reason\":\"x: bad\"}]");
    free(text);
}

/* Which routes name the generic model (the server looks every other name up in its
 * repository), and the 404's words when the repository lacks one. */
static void test_kserve_generic_route_and_missing_model(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_kserve_route r;
    assert_true(
        atrous_kserve_parse_path("/v2/models/atrous_conv2d_transpose/versions/1/infer", &r));
    assert_true(atrous_kserve_route_generic(&r));
    assert_true(atrous_kserve_parse_path("/v2/models/atrous_conv2d_transpose/ready", &r));
    assert_true(atrous_kserve_route_generic(&r));
    assert_true(atrous_kserve_parse_path("/v2/models/atrous_conv2d_transpose/versions/2", &r));
    assert_false(atrous_kserve_route_generic(&r));
    assert_true(atrous_kserve_parse_path("/v2/models/example/ready", &r));
    assert_false(atrous_kserve_route_generic(&r));
    assert_true(atrous_kserve_parse_path("/v2/models/example/versions/2/ready", &r));
    assert_int_equal(atrous_kserve_model_missing(&r, &err), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.message, "model 'example' version '2' is not available");
    assert_string_equal(err.field, "model");
    assert_true(atrous_kserve_parse_path("/v2/models/nope", &r));
    assert_int_equal(atrous_kserve_model_missing(&r, &err), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.message, "model 'nope' is not available");
}

/* Reads a document back; len points at the length the encoder wrote (read after the call). */
static json_t *parse_doc(char *text, const size_t *len)
{
    json_error_t jerr;
    assert_non_null(text);
    assert_int_equal(strlen(text), *len);
    json_t *doc = json_loadb(text, *len, 0, &jerr);
    if (doc == NULL)
        fail_msg("not JSON: %s: %s", jerr.text, text);
    free(text);
    return doc;
}

/* dims of a JSON list of integers, compared with want. */
static void assert_dims(const json_t *list, const int64_t *want, size_t n)
{
    assert_int_equal(json_array_size(list), n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(json_integer_value(json_array_get(list, i)), want[i]);
}

static void test_kserve_documents(void **state)
{
    struct codec_suite *s = *state;
    size_t len = 0;
    json_t *doc = parse_doc(atrous_kserve_encode_server_metadata("atrousd", "0.3.0", &len), &len);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "atrousd");
    json_t *ext = json_object_get(doc, "extensions");
    assert_string_equal(json_string_value(json_array_get(ext, 0)), "binary_tensor_data");
    assert_string_equal(json_string_value(json_array_get(ext, 1)), "model_configuration");
    json_decref(doc);

    doc = parse_doc(atrous_kserve_encode_live(true, &len), &len);
    assert_true(json_is_true(json_object_get(doc, "live")));
    json_decref(doc);
    doc = parse_doc(atrous_kserve_encode_ready(false, &len), &len);
    assert_true(json_is_false(json_object_get(doc, "ready")));
    json_decref(doc);
    doc = parse_doc(atrous_kserve_encode_model_ready(s->example, true, &len), &len);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "example");
    assert_true(json_is_true(json_object_get(doc, "ready")));
    json_decref(doc);

    /* The example model: value [-1, -1, -1, 2] -> output [-1, -1, -1, 4]. */
    const int64_t value[4] = {-1, -1, -1, 2}, output[4] = {-1, -1, -1, 4};
    doc = parse_doc(atrous_kserve_encode_model_metadata(
                        s->example, (const struct atrous_model *[]){s->example}, 1, &len),
                    &len);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "example");
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "versions"), 0)),
                        "1");
    assert_string_equal(json_string_value(json_object_get(doc, "platform")),
                        ATROUS_KSERVE_PLATFORM);
    json_t *in = json_array_get(json_object_get(doc, "inputs"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "name")), "value");
    assert_string_equal(json_string_value(json_object_get(in, "datatype")), "FP32");
    assert_dims(json_object_get(in, "shape"), value, 4);
    json_t *out = json_array_get(json_object_get(doc, "outputs"), 0);
    assert_string_equal(json_string_value(json_object_get(out, "name")), "output");
    assert_dims(json_object_get(out, "shape"), output, 4);
    json_decref(doc);

    /* Its config: batched (max_batch_size 8), so dims leave the batch out. */
    doc = parse_doc(atrous_kserve_encode_model_config(s->example, &len), &len);
    assert_int_equal(json_integer_value(json_object_get(doc, "max_batch_size")), 8);
    in = json_array_get(json_object_get(doc, "input"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "data_type")), "TYPE_FP32");
    assert_dims(json_object_get(in, "dims"), value + 1, 3);
    out = json_array_get(json_object_get(doc, "output"), 0);
    assert_dims(json_object_get(out, "dims"), output + 1, 3);
    json_t *params = json_object_get(doc, "parameters");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(params, "padding"), "string_value")),
        "SAME");
    json_decref(doc);

    /* A model with fixed spatial dims and VALID padding: the output dims follow the rule. */
    struct atrous_model fixed = *s->example;
    fixed.input_shape[1] = 10;
    fixed.padding = ATROUS_PADDING_VALID;
    fixed.max_batch_size = 0;
    const int64_t fixed_in[4] = {-1, 10, -1, 2}, fixed_out[4] = {-1, 14, -1, 4};
    doc = parse_doc(atrous_kserve_encode_model_metadata(
                        &fixed, (const struct atrous_model *[]){&fixed}, 1, &len),
                    &len);
    assert_dims(json_object_get(json_array_get(json_object_get(doc, "inputs"), 0), "shape"),
                fixed_in, 4);
    assert_dims(json_object_get(json_array_get(json_object_get(doc, "outputs"), 0), "shape"),
                fixed_out, 4);
    json_decref(doc);
    doc = parse_doc(atrous_kserve_encode_model_config(&fixed, &len), &len);
    assert_dims(json_object_get(json_array_get(json_object_get(doc, "input"), 0), "dims"), fixed_in,
                4);
    json_decref(doc);

    /* The generic model: five inputs, rate and padding optional in the config. */
    doc = parse_doc(atrous_kserve_encode_model_metadata(NULL, NULL, 0, &len), &len);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), ATROUS_GENERIC_MODEL_NAME);
    assert_int_equal(json_array_size(json_object_get(doc, "inputs")), 5);
    json_decref(doc);
    doc = parse_doc(atrous_kserve_encode_model_config(NULL, &len), &len);
    json_t *inputs = json_object_get(doc, "input");
    assert_int_equal(json_array_size(inputs), 5);
    assert_true(json_is_true(json_object_get(json_array_get(inputs, 3), "optional")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(inputs, 4), "data_type")),
                        "TYPE_STRING");
    json_decref(doc);
}

/* The request-level flag asks for binary output; a per-output flag overrides it. */
static void test_kserve_binary_output_flags(void **state)
{
    struct codec_suite *s = *state;
    static const struct {
        const char *extra;
        bool binary;
    } cases[] = {
        {"", false},
        {", \"parameters\": {\"binary_data_output\": true}", true},
        {", \"parameters\": {\"binary_data_output\": true}, \"outputs\": [{\"name\": \"output\", "
         "\"parameters\": {\"binary_data\": false}}]",
         false},
        {", \"outputs\": [{\"name\": \"output\", \"parameters\": {\"binary_data\": true}}]", true},
        {", \"outputs\": [{\"name\": \"output\"}]", false},
        {", \"outputs\": []", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct atrous_error err;
        struct atrous_kserve_request req;
        struct proto_buf b = {0};
        proto_buf_printf(&b,
                         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", "
                         "\"shape\": [1, 1, 1, 2], \"data\": [[[[0.5, 1]]]]}]%s}",
                         cases[i].extra);
        if (decode_infer_text(s->example, b.data, b.len, NULL, NULL, &req, &err))
            fail_msg("%s: %s", cases[i].extra, err.message);
        assert_int_equal(req.binary_output, cases[i].binary);
        atrous_kserve_request_release(&req);
        proto_buf_free(&b);
    }
}

/* BF16 / FP16 inputs (JSON rounded to the datatype, binary 2-byte parts widened), the output's
 * datatype (the value's, or the requested output's parameter), the precision parameter and the
 * model's default, and a 16-bit answer encoded as its rounded copy. */
static void test_kserve_half_datatypes_precision_and_output_datatype(void **state)
{
    struct codec_suite *s = *state;
    struct atrous_error err;
    struct atrous_kserve_request req;
    struct atrous_kserve_reply reply;
    struct proto_buf b = {0};
    /* JSON FP16 value: 0.1 rounds to the float16 0x2e66; the output datatype follows. */
    proto_buf_printf(&b, "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP16\", "
                         "\"shape\": [1, 1, 1, 2], \"data\": [0.1, 70000]}]}");
    assert_int_equal(decode_infer_text(s->example, b.data, b.len, NULL, NULL, &req, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "value");
    assert_non_null(strstr(err.message, "element 1 is outside the FP16 range"));
    proto_buf_free(&b);
    proto_buf_printf(&b, "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP16\", "
                         "\"shape\": [1, 1, 1, 2], \"data\": [0.1, 1]}], \"parameters\": "
                         "{\"precision\": \"bf16\"}}");
    assert_int_equal(decode_infer_text(s->example, b.data, b.len, NULL, NULL, &req, &err),
                     ATROUS_OK);
    assert_int_equal(req.op.value_dtype, ATROUS_DTYPE_FLOAT16);
    assert_int_equal(req.op.output_dtype, ATROUS_DTYPE_FLOAT16);
    assert_int_equal(req.op.precision, ATROUS_PRECISION_BF16);
    assert_true(req.op.value[0] == atrous_f16_to_f32(0x2e66));
    /* Encoded: the datatype, the rounded values, the compute precision. */
    const int64_t dims[2] = {1, 2};
    struct atrous_shape shape;
    atrous_shape_make(&shape, dims, 2, NULL);
    const float out[2] = {0.1f, 65519.0f};
    assert_int_equal(atrous_kserve_encode_infer_as(&req, &shape, out, "f32", &reply, &err),
                     ATROUS_OK);
    assert_non_null(strstr(reply.header, "\"datatype\":\"FP16\""));
    assert_non_null(strstr(reply.header, "[0.099975586,65504]"));
    assert_non_null(strstr(reply.header, "\"parameters\":{\"compute_precision\":\"f32\"}"));
    atrous_kserve_reply_release(&reply);
    atrous_kserve_request_release(&req);
    proto_buf_free(&b);

    /* Binary BF16 parts of 2 bytes per element, a BF16 answer asked as FP32 and binary. */
    const char *head = "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"BF16\", \"shape\": "
                       "[1, 1, 1, 2], \"parameters\": {\"binary_data_size\": 4}}], \"outputs\": "
                       "[{\"name\": \"output\", \"parameters\": {\"binary_data\": true, "
                       "\"datatype\": \"BF16\"}}]}";
    const unsigned char part[4] = {0x80, 0x3f, 0xc0, 0xbf}; /* 1.0, -1.5 */
    char ihcl[32];
    proto_buf_printf(&b, "%s", head);
    proto_buf_put(&b, part, sizeof(part));
    snprintf(ihcl, sizeof(ihcl), "%zu", strlen(head));
    assert_int_equal(decode_infer_text(s->example, b.data, b.len, ihcl, NULL, &req, &err),
                     ATROUS_OK);
    assert_true(req.op.value[0] == 1.0f && req.op.value[1] == -1.5f);
    assert_int_equal(req.op.output_dtype, ATROUS_DTYPE_BFLOAT16);
    assert_int_equal(req.op.precision, ATROUS_PRECISION_F32); /* the model's default */
    assert_int_equal(atrous_kserve_encode_infer_as(&req, &shape, out, NULL, &reply, &err),
                     ATROUS_OK);
    assert_int_equal(reply.binary_len, 4);
    const unsigned char *bytes = reply.binary;
    assert_int_equal(bytes[0] | bytes[1] << 8, atrous_f32_to_bf16(0.1f));
    assert_null(strstr(reply.header, "compute_precision"));
    atrous_kserve_reply_release(&reply);
    atrous_kserve_request_release(&req);
    proto_buf_free(&b);

    /* A wrong size for a 2-byte part, and an output datatype the service does not write. */
    proto_buf_printf(&b, "%s", head);
    proto_buf_put(&b, part, sizeof(part));
    proto_buf_put(&b, part, sizeof(part));
    assert_int_equal(decode_infer_text(s->example, b.data, b.len, ihcl, NULL, &req, &err),
                     ATROUS_INVALID_ARGUMENT);
    proto_buf_free(&b);
    proto_buf_printf(&b, "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", "
                         "\"shape\": [1, 1, 1, 2], \"data\": [1, 2]}], \"outputs\": [{\"name\": "
                         "\"output\", \"parameters\": {\"datatype\": \"FP64\"}}]}");
    assert_int_equal(decode_infer_text(s->example, b.data, b.len, NULL, NULL, &req, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "FP32, BF16, FP16"));
    proto_buf_free(&b);
    proto_buf_printf(&b, "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", "
                         "\"shape\": [1, 1, 1, 2], \"data\": [1, 2]}], \"parameters\": "
                         "{\"precision\": \"tf32\"}}");
    assert_int_equal(decode_infer_text(s->example, b.data, b.len, NULL, NULL, &req, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "precision");
    proto_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kserve_cases_through_repository_models),
        cmocka_unit_test(test_kserve_cases_through_the_generic_model),
        cmocka_unit_test(test_kserve_invalid_cases_fail_validation_like_tensorflow),
        cmocka_unit_test(test_kserve_binary_data_in_place_when_aligned),
        cmocka_unit_test(test_kserve_rejects_malformed_binary_bodies),
        cmocka_unit_test(test_kserve_rejects_bad_envelopes_and_types),
        cmocka_unit_test(test_kserve_json_reader_edges),
        cmocka_unit_test(test_kserve_json_float32_round_trip),
        cmocka_unit_test(test_kserve_rejects_every_truncation),
        cmocka_unit_test(test_kserve_limits),
        cmocka_unit_test(test_kserve_paths),
        cmocka_unit_test(test_kserve_repository_bodies),
        cmocka_unit_test(test_kserve_generic_route_and_missing_model),
        cmocka_unit_test(test_kserve_documents),
        cmocka_unit_test(test_kserve_half_datatypes_precision_and_output_datatype),
        cmocka_unit_test(test_kserve_binary_output_flags),
    };
    return cmocka_run_group_tests(tests, codec_suite_setup, codec_suite_teardown);
}
