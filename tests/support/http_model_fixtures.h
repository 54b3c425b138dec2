/*
 * http_model_fixtures.h - what the model endpoints' integration tests share
 * (test_http_kserve.c, test_http_tfserving.c, test_http_batching.c): the group fixture of a
 * daemon on a scratch model repository whose models are the conformance cases' filters
 * (repo_fixture_*), KServe v2 request bodies (JSON and binary tensor extension) for a
 * repository model and for the generic model, and KServe / TF Serving answers read back into a
 * shape and floats. Header-only (static inline), like model_fixtures.h.
 */
#ifndef TESTS_MODELS_HTTP_MODEL_FIXTURES_H
#define TESTS_MODELS_HTTP_MODEL_FIXTURES_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "corpus.h"
#include "daemon.h"
#include "http_client.h"
#include "model_fixtures.h"
#include "proto_fixtures.h"

/* How a KServe infer body is written. */
struct kserve_body_opts {
    bool generic;       /* the generic model: value, filters, output_shape, rate and padding */
    bool binary_input;  /* FP32 inputs as binary parts (the binary tensor extension) */
    bool binary_output; /* ask for the output as binary data */
    const char *id;     /* "id", or NULL */
};

/* One KServe infer body: b receives the whole body; *header_len the JSON header's length (the
 * Inference-Header-Content-Length) when binary_input, else the whole length. value (count
 * floats of shape) replaces the case's value when not NULL. */
static inline void fixture_kserve_body(const struct corpus_case *c,
                                       const struct atrous_shape *shape, const float *value,
                                       size_t count, const struct kserve_body_opts *o,
                                       struct proto_buf *b, size_t *header_len)
{
    struct proto_buf parts = {0};
    if (value == NULL) {
        shape = &c->value_shape;
        value = c->value;
        count = c->value_count;
    }
    proto_buf_printf(b, "{");
    if (o->id != NULL)
        proto_buf_printf(b, "\"id\": \"%s\", ", o->id);
    proto_buf_printf(b, "\"inputs\": [");
    for (int t = 0; t < (o->generic ? 2 : 1); t++) {
        const struct atrous_shape *s = t == 0 ? shape : &c->filters_shape;
        const float *data = t == 0 ? value : c->filters;
        size_t n = t == 0 ? count : c->filters_count;
        proto_buf_printf(b,
                         "%s{\"name\": \"%s\", \"datatype\": \"FP32\", \"shape\": ", t ? ", " : "",
                         t == 0 ? "value" : "filters");
        proto_buf_ints(b, s->dims, (size_t)s->rank);
        if (o->binary_input) {
            proto_buf_printf(b, ", \"parameters\": {\"binary_data_size\": %zu}}", n * 4);
            proto_buf_put(&parts, data, n * sizeof(float));
        } else {
            proto_buf_printf(b, ", \"data\": ");
            proto_buf_floats(b, data, n);
            proto_buf_printf(b, "}");
        }
    }
    if (o->generic) {
        int64_t dims[1] = {(int64_t)c->output_shape_len};
        proto_buf_printf(b, ", {\"name\": \"output_shape\", \"datatype\": \"INT64\", \"shape\": ");
        proto_buf_ints(b, dims, 1);
        proto_buf_printf(b, ", \"data\": ");
        proto_buf_ints(b, c->output_shape, c->output_shape_len);
        proto_buf_printf(b, "}");
    }
    proto_buf_printf(b, "]");
    if (o->binary_output)
        proto_buf_printf(b, ", \"outputs\": [{\"name\": \"output\", \"parameters\": "
                            "{\"binary_data\": true}}]");
    if (o->generic)
        proto_buf_printf(b, ", \"parameters\": {\"rate\": %" PRId64 ", \"padding\": \"%s\"}",
                         c->rate, c->padding);
    proto_buf_printf(b, "}");
    *header_len = b->len;
    if (parts.len > 0)
        proto_buf_put(b, parts.data, parts.len);
    proto_buf_free(&parts);
}

/* A decoded model answer: the output tensor and, for KServe, the JSON document (header). */
struct fixture_output {
    struct atrous_shape shape;
    float *data; /* NULL when empty */
    size_t count;
    json_t *doc; /* the answer's JSON (KServe header, or TF Serving body) */
};

static inline void fixture_output_free(struct fixture_output *o)
{
    free(o->data);
    json_decref(o->doc);
    memset(o, 0, sizeof(*o));
}

/* Copies a JSON list of integers into dims; -1 unless every element is an integer. */
static inline int fixture_read_dims(const json_t *list, struct atrous_shape *out)
{
    if (!json_is_array(list) || json_array_size(list) > ATROUS_MAX_RANK)
        return -1;
    out->rank = (int)json_array_size(list);
    for (int i = 0; i < out->rank; i++) {
        const json_t *d = json_array_get(list, (size_t)i);
        if (!json_is_integer(d))
            return -1;
        out->dims[i] = json_integer_value(d);
    }
    return 0;
}

/* Appends the numbers of a (nested) JSON list to o->data in row-major order. */
static inline int fixture_read_numbers(const json_t *v, struct fixture_output *o, size_t cap)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (fixture_read_numbers(json_array_get(v, i), o, cap) != 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_number(v) || o->count >= cap)
        return -1;
    o->data[o->count++] = (float)json_number_value(v);
    return 0;
}

static inline size_t fixture_shape_count(const struct atrous_shape *s)
{
    size_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= (size_t)s->dims[i];
    return n;
}

/*
 * Reads a KServe infer answer: application/json {"outputs": [{"name": "output", "shape",
 * "data"}]} or application/octet-stream with Inference-Header-Content-Length (the header's
 * output has "parameters": {"binary_data_size"} and its bytes follow). Returns 0, or -1 with
 * the reason in why.
 */
static inline int fixture_kserve_output(const struct http_client_response *r,
                                        struct fixture_output *o, char *why, size_t why_size)
{
    memset(o, 0, sizeof(*o));
    const char *ihcl = http_client_header(r, "Inference-Header-Content-Length");
    const char *type = http_client_header(r, "Content-Type");
    size_t header_len = r->body_len;
    if (ihcl != NULL) {
        header_len = (size_t)strtoull(ihcl, NULL, 10);
        if (header_len > r->body_len || type == NULL ||
            strcmp(type, "application/octet-stream") != 0) {
            snprintf(why, why_size, "binary answer: IHCL %s, Content-Type %s, %zu bytes", ihcl,
                     type ? type : "(none)", r->body_len);
            return -1;
        }
    } else if (type == NULL || strcmp(type, "application/json") != 0) {
        snprintf(why, why_size, "Content-Type %s without IHCL", type ? type : "(none)");
        return -1;
    }
    json_error_t jerr;
    o->doc = json_loadb(r->body ? r->body : "", header_len, 0, &jerr);
    const json_t *out = json_array_get(json_object_get(o->doc, "outputs"), 0);
    if (out == NULL || json_array_size(json_object_get(o->doc, "outputs")) != 1 ||
        strcmp(json_string_value(json_object_get(out, "name")) ?: "", "output") != 0 ||
        strcmp(json_string_value(json_object_get(out, "datatype")) ?: "", "FP32") != 0 ||
        fixture_read_dims(json_object_get(out, "shape"), &o->shape) != 0) {
        snprintf(why, why_size, "not a KServe answer: %.300s", r->body ? r->body : "");
        return -1;
    }
    size_t count = fixture_shape_count(&o->shape);
    o->data = calloc(count + 1, sizeof(float));
    if (ihcl != NULL) {
        json_t *size = json_object_get(json_object_get(out, "parameters"), "binary_data_size");
        if (!json_is_integer(size) || (size_t)json_integer_value(size) != count * 4 ||
            r->body_len - header_len != count * 4 || json_object_get(out, "data") != NULL) {
            snprintf(why, why_size, "binary output of %zu elements: size %s, %zu bytes", count,
                     json_dumps(size, JSON_ENCODE_ANY) ?: "?", r->body_len - header_len);
            return -1;
        }
        if (count > 0)
            memcpy(o->data, r->body + header_len, count * 4);
        o->count = count;
        return 0;
    }
    if (fixture_read_numbers(json_object_get(out, "data"), o, count) != 0 || o->count != count) {
        snprintf(why, why_size, "output data does not hold %zu numbers", count);
        return -1;
    }
    return 0;
}

/* Checks an answer against the case's expected output (exact shape, corpus tolerance).
 * batch_offset/batch_rows pick rows [offset, offset + rows) of the expected batch when the
 * answer is for part of the case's value (rows 0 = the whole). Returns 0, or -1 with why. */
static inline int fixture_check_output(const struct fixture_output *o, const struct corpus_case *c,
                                       int64_t batch_offset, int64_t batch_rows, char *why,
                                       size_t why_size)
{
    struct atrous_shape want = c->expected_shape;
    const float *expected = c->expected;
    size_t per_row = fixture_shape_count(&want) / (size_t)(want.dims[0] ? want.dims[0] : 1);
    if (batch_rows > 0) {
        want.dims[0] = batch_rows;
        expected += (size_t)batch_offset * per_row;
    }
    if (o->shape.rank != want.rank ||
        memcmp(o->shape.dims, want.dims, sizeof(int64_t) * (size_t)want.rank) != 0) {
        char got[128], exp[128];
        atrous_shape_format(&o->shape, got, sizeof(got));
        atrous_shape_format(&want, exp, sizeof(exp));
        snprintf(why, why_size, "%s: output shape %s, expected %s", c->name, got, exp);
        return -1;
    }
    struct corpus_comparison cmp;
    corpus_compare(o->data, expected, o->count, &cmp);
    if (cmp.failures > 0) {
        snprintf(why, why_size, "%s: %zu elements off (worst %.3g at %zu)", c->name, cmp.failures,
                 cmp.worst, cmp.worst_index);
        return -1;
    }
    return 0;
}

/* The value of an error body's "error" (a KServe / TF Serving client reads only that) and its
 * "code" (atrousd's own); -1 unless the body is a JSON object with a string "error". */
static inline int fixture_error_code(const struct http_client_response *r, char *code, size_t size)
{
    json_error_t jerr;
    json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, 0, &jerr);
    int rc = json_is_string(json_object_get(doc, "error")) ? 0 : -1;
    snprintf(code, size, "%s", json_string_value(json_object_get(doc, "code")) ?: "");
    json_decref(doc);
    return rc;
}

/* The group fixture of the model-serving HTTP tests: every valid corpus case, a scratch model
 * repository that the test file fills, and a daemon serving it with --model-dir and the flags a
 * setup gives. */
struct repo_fixture {
    struct test_daemon *daemon;
    char root[256];
    struct corpus_case *cases; /* the valid cases, in corpus order */
    size_t count;
};

/* The name of case i's model when the repository holds every case: "case%02zu". */
static inline void repo_fixture_case_model(size_t i, char *buf, size_t size)
{
    snprintf(buf, size, "case%02zu", i);
}

/* *state becomes a malloc'd struct repo_fixture: the valid cases; when every_case, each written
 * as its model (repo_fixture_case_model); then write_models' folders (write_models may be NULL);
 * and the daemon started on them with extra flags after --model-dir (NULL-terminated, at most
 * 12). Returns 0, or -1 with the reason on stderr. */
static inline int repo_fixture_start(void **state, const char *who, bool every_case,
                                     const char *const *extra,
                                     int (*write_models)(struct repo_fixture *f))
{
    char name[64];
    struct repo_fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || fixture_valid_cases(&f->cases, &f->count) != 0 ||
        fixture_scratch_dir(f->root, sizeof(f->root), who) != 0)
        goto fail;
    for (size_t i = 0; every_case && i < f->count; i++) {
        repo_fixture_case_model(i, name, sizeof(name));
        if (fixture_write_case_model(f->root, name, name, &f->cases[i], "", 1) != 0)
            goto fail;
    }
    if (write_models != NULL && write_models(f) != 0)
        goto fail;
    const char *args[16] = {"--model-dir", f->root};
    for (size_t i = 0; extra != NULL && extra[i] != NULL && i < 12; i++)
        args[2 + i] = extra[i];
    void *daemon = NULL;
    if (test_daemon_group_setup(&daemon, args) == 0) {
        f->daemon = daemon;
        *state = f;
        return 0;
    }
fail:
    fprintf(stderr, "setup: cannot build the scratch model repository\n");
    if (f != NULL) {
        fixture_remove_tree(f->root);
        fixture_cases_free(f->cases, f->count);
        free(f);
    }
    return -1;
}

/* A repository of write_models' folders only, and the daemon with extra flags. */
static inline int repo_fixture_setup_args(void **state, const char *who, const char *const *extra,
                                          int (*write_models)(struct repo_fixture *f))
{
    return repo_fixture_start(state, who, false, extra, write_models);
}

/* A repository of every case as model "caseNN" plus write_more's folders, and the daemon with
 * --max-json-bytes json_cap. */
static inline int repo_fixture_setup(void **state, const char *who, const char *json_cap,
                                     int (*write_more)(struct repo_fixture *f))
{
    const char *extra[] = {"--max-json-bytes", json_cap, NULL};
    return repo_fixture_start(state, who, true, extra, write_more);
}

/* Stops the daemon (failing unless it exits 0), removes the repository, frees the fixture. */
static inline int repo_fixture_teardown(void **state)
{
    struct repo_fixture *f = *state;
    void *daemon = f->daemon;
    int rc = test_daemon_group_teardown(&daemon);
    fixture_remove_tree(f->root);
    fixture_cases_free(f->cases, f->count);
    free(f);
    return rc;
}

/* The fixture's daemon port. */
static inline uint16_t repo_fixture_port(void **state)
{
    return ((struct repo_fixture *)*state)->daemon->port;
}

/* GET path from the fixture's daemon: asserts the status and a JSON answer, returns the body
 * parsed (the caller decrefs). */
static inline json_t *repo_fixture_get_json(void **state, const char *path, int status)
{
    struct http_client_response r;
    assert_int_equal(http_client_request(repo_fixture_port(state), "GET", path, NULL, NULL, 0, &r),
                     0);
    if (r.status != status)
        fail_msg("GET %s: status %d, expected %d: %s", path, r.status, status, r.body);
    json_error_t jerr;
    json_t *doc = json_loadb(r.body ? r.body : "", r.body_len, 0, &jerr);
    assert_non_null(doc);
    assert_string_equal(http_client_header(&r, "Content-Type"), "application/json");
    http_client_response_free(&r);
    return doc;
}

#endif
