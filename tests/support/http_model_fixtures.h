/*
 * http_model_fixtures.h - what the model endpoints' integration tests share
 * (test_http_kserve.c, test_http_tfserving.c, test_http_batching.c): a scratch model
 * repository whose models are conformance cases' filters, KServe v2 request bodies (JSON and
 * binary tensor extension) for a repository model and for the generic model, and KServe /
 * TF Serving answers read back into a shape and floats. Header-only (static inline), like
 * model_fixtures.h, since the tests' support archive takes only the .c files directly in tests/.
 */
#ifndef TESTS_MODELS_HTTP_MODEL_FIXTURES_H
#define TESTS_MODELS_HTTP_MODEL_FIXTURES_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "corpus.h"
#include "daemon.h"
#include "http_client.h"
#include "model_fixtures.h"
#include "proto_fixtures.h"

/* Writes root/folder/config.json and root/folder/filters.npy: a model named name made of the
 * case's filters, rate and padding; extra is appended inside the config object (e.g.
 * ", \"max_batch_size\": 4") and may be "". Returns 0 or -1. */
static inline int fixture_write_case_model(const char *root, const char *folder, const char *name,
                                           const struct corpus_case *c, const char *extra)
{
    char dir[1024], path[1100], dict[256];
    snprintf(dir, sizeof(dir), "%s/%s", root, folder);
    if (mkdir(dir, 0755) != 0)
        return -1;
    struct proto_buf b = {0};
    proto_buf_printf(&b,
                     "{\"name\": \"%s\", \"rate\": %" PRId64 ", \"padding\": \"%s\", "
                     "\"filters\": {\"shape\": ",
                     name, c->rate, c->padding);
    fixture_put_ints(&b, c->filters_shape.dims, (size_t)c->filters_shape.rank);
    proto_buf_printf(&b, ", \"file\": \"filters.npy\"}%s}\n", extra);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    int rc = fixture_write_file(path, b.data, b.len);
    proto_buf_free(&b);
    fixture_npy_dict(&c->filters_shape, dict, sizeof(dict));
    snprintf(path, sizeof(path), "%s/filters.npy", dir);
    if (rc == 0)
        rc = fixture_write_npy(path, 1, dict, c->filters, c->filters_count * sizeof(float));
    return rc;
}

/* Loads the valid corpus cases (rank-4 shapes, as every valid case has). Returns 0, or -1 with
 * the reason on stderr. Free with fixture_cases_free. */
static inline int fixture_valid_cases(struct corpus_case **out, size_t *count)
{
    char why[512];
    char **paths = NULL;
    size_t n = 0;
    *out = NULL;
    *count = 0;
    if (corpus_list("valid", &paths, &n, why, sizeof(why)) != 0) {
        fprintf(stderr, "corpus: %s\n", why);
        return -1;
    }
    struct corpus_case *cases = calloc(n, sizeof(*cases));
    int rc = cases ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = corpus_load(paths[i], &cases[i], why, sizeof(why));
        if (rc != 0)
            fprintf(stderr, "corpus: %s\n", why);
        *count = i + 1;
    }
    corpus_paths_free(paths, n);
    *out = cases;
    return rc;
}

static inline void fixture_cases_free(struct corpus_case *cases, size_t count)
{
    for (size_t i = 0; cases != NULL && i < count; i++)
        corpus_case_free(&cases[i]);
    free(cases);
}

/* The case whose name is name, or NULL. */
static inline const struct corpus_case *fixture_find_case(const struct corpus_case *cases,
                                                          size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    }
    return NULL;
}

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
        fixture_put_ints(b, s->dims, (size_t)s->rank);
        if (o->binary_input) {
            proto_buf_printf(b, ", \"parameters\": {\"binary_data_size\": %zu}}", n * 4);
            proto_buf_put(&parts, data, n * sizeof(float));
        } else {
            proto_buf_printf(b, ", \"data\": ");
            fixture_put_flat(b, data, n);
            proto_buf_printf(b, "}");
        }
    }
    if (o->generic) {
        int64_t dims[1] = {(int64_t)c->output_shape_len};
        proto_buf_printf(b, ", {\"name\": \"output_shape\", \"datatype\": \"INT64\", \"shape\": ");
        fixture_put_ints(b, dims, 1);
        proto_buf_printf(b, ", \"data\": ");
        fixture_put_ints(b, c->output_shape, c->output_shape_len);
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
 * repository that the test file fills (write_models), and a daemon serving it with --model-dir
 * and the flags a setup gives. */
struct repo_fixture {
    struct test_daemon *daemon;
    char root[256];
    struct corpus_case *cases;
    size_t count;
};

/* Sets the fixture up with extra daemon flags after --model-dir (NULL-terminated, at most 12).
 * Returns 0, or -1 with the reason on stderr. */
static inline int repo_fixture_setup_args(void **state, const char *who, const char *const *extra,
                                          int (*write_models)(struct repo_fixture *f))
{
    struct repo_fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || fixture_valid_cases(&f->cases, &f->count) != 0 ||
        fixture_scratch_dir(f->root, sizeof(f->root), who) != 0 || write_models(f) != 0) {
        fprintf(stderr, "setup: cannot build the scratch model repository\n");
        return -1;
    }
    const char *args[16] = {"--model-dir", f->root};
    for (size_t i = 0; extra != NULL && extra[i] != NULL && i < 12; i++)
        args[2 + i] = extra[i];
    void *daemon = NULL;
    if (test_daemon_group_setup(&daemon, args) != 0)
        return -1;
    f->daemon = daemon;
    *state = f;
    return 0;
}

/* Sets the fixture up with --max-json-bytes json_cap. */
static inline int repo_fixture_setup(void **state, const char *who, const char *json_cap,
                                     int (*write_models)(struct repo_fixture *f))
{
    const char *extra[] = {"--max-json-bytes", json_cap, NULL};
    return repo_fixture_setup_args(state, who, extra, write_models);
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

#endif
