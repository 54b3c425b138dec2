/*
 * test_kserve_spec_client.c - an independent conformance client: atrousd's KServe v2 (Open
 * Inference Protocol) and TensorFlow Serving REST endpoints driven by tests/spec_client.[ch],
 * which was written from the public specifications only, never from the server's code.
 *
 * The group setup writes a model directory in a temporary folder (one folder per repository
 * model, config.json and filters.npy as README.md documents them, each built from a
 * conformance case's filters) and starts the real daemon on it. Every check that fails prints
 * "DEVIATION", what the server did, and the clause of the specification it breaks, and the
 * test goes on checking the rest, failing at the end with the count.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"
#include "spec_client.h"

#define GENERIC_MODEL "atrous_conv2d_transpose"
#define UNKNOWN_MODEL "no_such_model_spec_client"
#define OCTET         "application/octet-stream"

/* How the daemon is pointed at a model directory (README.md, "Serving models"). */
#ifndef SPEC_MODEL_DIR_FLAG
#define SPEC_MODEL_DIR_FLAG "--model-dir"
#endif

/* Cases the generic model runs (tests/data/conformance/valid): both paddings, rates 2 to 6,
 * odd, even and asymmetric kernels, batches of 1 to 3, 1 to 17 channels. */
static const char *const GENERIC_CASES[] = {
    "sweep_k3x3_r2_valid", "sweep_k5x5_r2_same",  "even_k4_r2_same", "batch3_k3x2_r3_valid",
    "asym_k2x4_r3_same",   "ch17_to1_k5_r2_same", "rate6_k3_same",   "spatial1x1_valid_k3_r2",
};
#define GENERIC_CASE_COUNT (sizeof(GENERIC_CASES) / sizeof(GENERIC_CASES[0]))

/* Repository models, one per case: the model's filters, rate and padding are the case's. The
 * first is the one the metadata, binary and TF Serving tests use (batch 3, VALID, rate 3). */
struct repo_model {
    const char *name;
    const char *case_name;
};
static const struct repo_model REPO_MODELS[] = {
    {"spec_batch3_k3x2_r3_valid", "batch3_k3x2_r3_valid"},
    {"spec_k5x5_r2_same", "sweep_k5x5_r2_same"},
    {"spec_even_k4_r2_same", "even_k4_r2_same"},
};
#define REPO_COUNT (sizeof(REPO_MODELS) / sizeof(REPO_MODELS[0]))

struct fixture {
    struct test_daemon daemon;
    char dir[64]; /* the model directory */
    struct sc_case repo[REPO_COUNT];
    struct sc_case generic[GENERIC_CASE_COUNT];
};

/* --- deviations --------------------------------------------------------------------------- */

struct ctx {
    const char *test;
    int deviations;
};

static void deviation(struct ctx *c, const char *clause, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void deviation(struct ctx *c, const char *clause, const char *fmt, ...)
{
    char what[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    fprintf(stderr, "DEVIATION [%s]: %s\n    spec: %s\n", c->test, what, clause);
    c->deviations++;
}

static void note(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct ctx *c, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    fprintf(stderr, "note [%s]: %s\n", c->test, what);
}

#define CTX struct ctx ctx_ = {.test = __func__, .deviations = 0}, *cx = &ctx_
#define CTX_END()                                                                                  \
    do {                                                                                           \
        if (cx->deviations > 0)                                                                    \
            fail_msg("%s: %d deviation(s) from the specifications, listed above", cx->test,        \
                     cx->deviations);                                                              \
    } while (0)

/* Status line and a short body, for messages. */
#define RESP_FMT     "HTTP %d, body: %.400s"
#define RESP_ARGS(r) (r)->status, (r)->body != NULL ? (r)->body : ""

/* --- the model directory ------------------------------------------------------------------ */

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* One model folder: config.json and filters.npy (README.md, "Serving models"). */
static int write_model(const char *dir, const char *name, const struct sc_case *c, char *why,
                       size_t why_size)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (mkdir(path, 0755) != 0) {
        snprintf(why, why_size, "mkdir %s failed", path);
        return -1;
    }
    json_t *cfg = json_object();
    json_object_set_new(cfg, "rate", json_integer(c->rate));
    json_object_set_new(cfg, "padding", json_string(c->padding));
    json_t *filters = json_object();
    json_t *shape = json_array();
    for (int i = 0; i < 4; i++)
        json_array_append_new(shape, json_integer(c->filters_shape[i]));
    json_object_set_new(filters, "shape", shape);
    json_object_set_new(filters, "file", json_string("filters.npy"));
    json_object_set_new(cfg, "filters", filters);
    char *text = json_dumps(cfg, JSON_INDENT(2));
    json_decref(cfg);
    snprintf(path, sizeof(path), "%s/%s/config.json", dir, name);
    int rc = text != NULL ? write_text(path, text) : -1;
    free(text);
    if (rc != 0) {
        snprintf(why, why_size, "cannot write %s", path);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s/filters.npy", dir, name);
    return sc_write_npy_f32(path, c->filters_shape, 4, c->filters, why, why_size);
}

static void remove_model_dir(const char *dir)
{
    char path[512];
    for (size_t i = 0; i < REPO_COUNT; i++) {
        snprintf(path, sizeof(path), "%s/%s/config.json", dir, REPO_MODELS[i].name);
        unlink(path);
        snprintf(path, sizeof(path), "%s/%s/filters.npy", dir, REPO_MODELS[i].name);
        unlink(path);
        snprintf(path, sizeof(path), "%s/%s", dir, REPO_MODELS[i].name);
        rmdir(path);
    }
    rmdir(dir);
}

static const char *corpus_root(void)
{
    const char *d = getenv("ATROUS_TEST_DATA");
    return d != NULL && d[0] != '\0' ? d : "tests/data/conformance";
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char why[1024];
    if (f == NULL)
        return -1;
    for (size_t i = 0; i < GENERIC_CASE_COUNT; i++) {
        if (sc_case_load(corpus_root(), GENERIC_CASES[i], &f->generic[i], why, sizeof(why)) != 0) {
            fprintf(stderr, "corpus: %s\n", why);
            return -1;
        }
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/atrous-specclient-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        fprintf(stderr, "mkdtemp failed\n");
        return -1;
    }
    for (size_t i = 0; i < REPO_COUNT; i++) {
        if (sc_case_load(corpus_root(), REPO_MODELS[i].case_name, &f->repo[i], why, sizeof(why)) !=
                0 ||
            write_model(f->dir, REPO_MODELS[i].name, &f->repo[i], why, sizeof(why)) != 0) {
            fprintf(stderr, "model directory: %s\n", why);
            remove_model_dir(f->dir);
            return -1;
        }
    }
    const char *args[] = {SPEC_MODEL_DIR_FLAG, f->dir, NULL};
    if (test_daemon_start(&f->daemon, args, why, sizeof(why)) != 0) {
        fprintf(stderr, "daemon (%s %s %s): %s\n", test_daemon_bin(), SPEC_MODEL_DIR_FLAG, f->dir,
                why);
        remove_model_dir(f->dir);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = test_daemon_stop(&f->daemon);
    remove_model_dir(f->dir);
    for (size_t i = 0; i < REPO_COUNT; i++)
        sc_case_free(&f->repo[i]);
    for (size_t i = 0; i < GENERIC_CASE_COUNT; i++)
        sc_case_free(&f->generic[i]);
    free(f);
    if (rc != 0)
        fprintf(stderr, "the daemon did not exit 0 on SIGTERM (%d)\n", rc);
    return rc == 0 ? 0 : -1;
}

static uint16_t port_of(void **state)
{
    return ((struct fixture *)*state)->daemon.port;
}

/* --- shared checks ------------------------------------------------------------------------ */

static void path_of(char *out, size_t size, const char *fmt, const char *model)
{
    snprintf(out, size, fmt, model);
}

/* A GET that must answer 200 with a JSON object; NULL (and a deviation) otherwise. */
static json_t *get_object(struct ctx *cx, uint16_t port, const char *path, const char *clause)
{
    struct http_client_response r = {0};
    if (sc_get(port, path, &r) != 0) {
        deviation(cx, clause, "GET %s: no HTTP response", path);
        return NULL;
    }
    json_t *v = NULL;
    char why[512];
    if (r.status != 200) {
        deviation(cx, clause, "GET %s: " RESP_FMT ", expected 200", path, RESP_ARGS(&r));
    } else if ((v = sc_body_json(&r, why, sizeof(why))) == NULL) {
        deviation(cx, clause, "GET %s: %s", path, why);
    } else if (!json_is_object(v)) {
        deviation(cx, clause, "GET %s: the body is JSON but not an object: %.300s", path, r.body);
        json_decref(v);
        v = NULL;
    }
    http_client_response_free(&r);
    return v;
}

/* An error answer: HTTP error status and {"error": $string}. want_status 0: any >= 400. */
static void expect_error(struct ctx *cx, const struct http_client_response *r, int want_status,
                         const char *what, const char *clause)
{
    char why[600];
    if (sc_check_error_body(r, why, sizeof(why)) != 0)
        deviation(cx, clause, "%s: %s", what, why);
    if (want_status != 0 && r->status != want_status && r->status >= 400)
        deviation(cx, clause, "%s: HTTP %d, expected %d; body: %.300s", what, r->status,
                  want_status, r->body != NULL ? r->body : "");
}

/* A $metadata_tensor of a name in a metadata "inputs"/"outputs" array, or NULL. */
static const json_t *tensor_named(const json_t *list, const char *name)
{
    size_t i;
    const json_t *t;
    json_array_foreach(list, i, t)
    {
        const json_t *n = json_object_get(t, "name");
        if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
            return t;
    }
    return NULL;
}

/* Checks one $metadata_tensor's fields; returns its rank (or -1) and its shape in shape. */
static int check_metadata_tensor(struct ctx *cx, const char *where, const json_t *t, int64_t *shape)
{
    const char *cl = SC_SPEC_OIP ", $metadata_tensor = {\"name\": $string, \"datatype\": "
                                 "$string, \"shape\": [$number, ...]}; variable-size dimensions "
                                 "are -1";
    const json_t *name = json_object_get(t, "name");
    const json_t *dt = json_object_get(t, "datatype");
    const json_t *sh = json_object_get(t, "shape");
    if (!json_is_object(t) || !json_is_string(name) || !json_is_string(dt) || !json_is_array(sh)) {
        char *s = json_dumps(t, JSON_COMPACT);
        deviation(cx, cl, "%s: %s", where, s != NULL ? s : "?");
        free(s);
        return -1;
    }
    if (json_array_size(sh) > SC_MAX_RANK)
        return -1;
    size_t i;
    const json_t *d;
    json_array_foreach(sh, i, d)
    {
        if (!json_is_integer(d) || json_integer_value(d) < -1) {
            deviation(cx, cl, "%s: shape[%zu] is not an integer >= -1", where, i);
            return -1;
        }
        shape[i] = (int64_t)json_integer_value(d);
    }
    return (int)json_array_size(sh);
}

static const char *datatype_of(const json_t *t)
{
    const json_t *dt = json_object_get(t, "datatype");
    return json_is_string(dt) ? json_string_value(dt) : "";
}

/* A metadata dimension agrees with an actual size when it is -1 or equal. */
static bool dim_fits(int64_t meta, int64_t actual)
{
    return meta == -1 || meta == actual;
}

/* POSTs a v2 inference request (JSON) and parses the answer; 0 when it parsed. */
static int infer_json(struct ctx *cx, uint16_t port, const char *model, const json_t *req,
                      struct sc_infer_response *out, struct http_client_response *raw)
{
    char path[256];
    path_of(path, sizeof(path), "/v2/models/%s/infer", model);
    memset(out, 0, sizeof(*out));
    if (sc_post_json(port, path, req, raw) != 0) {
        deviation(cx, SC_SPEC_OIP ", Inference", "POST %s: no HTTP response", path);
        return -1;
    }
    if (raw->status != 200) {
        deviation(cx,
                  SC_SPEC_OIP ", \"A successful inference request is indicated by a 200 "
                              "HTTP status code\"",
                  "POST %s: " RESP_FMT, path, RESP_ARGS(raw));
        return -1;
    }
    char why[600];
    if (sc_parse_infer_response(raw, out, why, sizeof(why)) != 0) {
        deviation(cx, SC_SPEC_OIP ", Inference Response JSON Object / " SC_SPEC_BINARY,
                  "POST %s: %s", path, why);
        return -1;
    }
    return 0;
}

/* The checks every successful inference response gets: model_name, id, and the "output"
 * tensor (FP32, exact shape, values of the case), as JSON or binary as asked. */
static void check_infer_result(struct ctx *cx, const char *what, const struct sc_infer_response *r,
                               const char *model, const char *id, const struct sc_case *c,
                               bool want_binary)
{
    const json_t *mn = json_object_get(r->json, "model_name");
    if (!json_is_string(mn))
        deviation(cx,
                  SC_SPEC_OIP ", $inference_response = {\"model_name\": $string, ...} "
                              "(not #optional)",
                  "%s: the response has no \"model_name\" string", what);
    else if (strcmp(json_string_value(mn), model) != 0)
        deviation(cx, SC_SPEC_OIP ", \"model_name\": The name of the model used for inference",
                  "%s: model_name \"%s\", expected \"%s\"", what, json_string_value(mn), model);
    if (id != NULL) {
        const json_t *rid = json_object_get(r->json, "id");
        if (!json_is_string(rid) || strcmp(json_string_value(rid), id) != 0)
            deviation(cx,
                      SC_SPEC_OIP ", \"id\": Optional, but if specified this identifier "
                                  "must be returned in the response",
                      "%s: sent id \"%s\", the response has %s%s%s", what, id,
                      json_is_string(rid) ? "\"" : "",
                      json_is_string(rid) ? json_string_value(rid) : "no \"id\" string",
                      json_is_string(rid) ? "\"" : "");
    }
    const struct sc_tensor *t = sc_find_output(r, "output");
    if (t == NULL) {
        deviation(cx,
                  SC_SPEC_OIP ", \"the inference server must return the requested output "
                              "tensor\"",
                  "%s: no output named \"output\" among %zu outputs", what, r->output_count);
        return;
    }
    if (strcmp(t->datatype, "FP32") != 0)
        deviation(cx, SC_SPEC_OIP ", $response_output.datatype (Tensor Data Types)",
                  "%s: output datatype \"%s\", the model's metadata says FP32", what, t->datatype);
    if (want_binary && !t->binary)
        deviation(cx,
                  SC_SPEC_BINARY ", \"binary_data\" : true if the output should be "
                                 "returned as binary data / \"binary_data_output\" : true if "
                                 "all outputs should be returned as binary data",
                  "%s: binary output asked for, the output came as JSON \"data\"", what);
    if (!want_binary && t->binary)
        deviation(cx,
                  SC_SPEC_BINARY ", \"false (or not given) if the tensor should be returned "
                                 "as JSON\"; \"If binary_data is specified on an output it "
                                 "overrides this setting\"",
                  "%s: JSON output asked for, the output came as binary data", what);
    char why[600];
    if (sc_compare(t->shape, t->rank, t->data, t->count, c, why, sizeof(why)) != 0)
        deviation(cx,
                  "conformance corpus (tests/data/conformance/README.md): exact shape and "
                  "|got - exp| <= 1e-4 + 1e-4*|exp|",
                  "%s, case %s: %s", what, c->name, why);
}

/* The generic model's request for a case, all tensors as JSON. */
static json_t *generic_request(const struct sc_case *c, const char *id, const char *os_type)
{
    json_t *req = json_object();
    if (id != NULL)
        json_object_set_new(req, "id", json_string(id));
    json_t *params = json_object();
    json_object_set_new(params, "rate", json_integer(c->rate));
    json_object_set_new(params, "padding", json_string(c->padding));
    json_object_set_new(req, "parameters", params);
    json_t *inputs = json_array();
    json_array_append_new(inputs,
                          sc_input_fp32("value", c->value_shape, 4, c->value, c->value_count));
    json_array_append_new(
        inputs, sc_input_fp32("filters", c->filters_shape, 4, c->filters, c->filters_count));
    const int64_t four = 4;
    json_array_append_new(inputs,
                          sc_input_int("output_shape", os_type, &four, 1, c->output_shape, 4));
    json_object_set_new(req, "inputs", inputs);
    json_t *outputs = json_array();
    json_array_append_new(outputs, sc_output_request("output", -1));
    json_object_set_new(req, "outputs", outputs);
    return req;
}

/* A repository model's request: the single input "value". */
static json_t *repo_request(const struct sc_case *c, const char *id, int binary_output)
{
    json_t *req = json_object();
    if (id != NULL)
        json_object_set_new(req, "id", json_string(id));
    json_t *inputs = json_array();
    json_array_append_new(inputs,
                          sc_input_fp32("value", c->value_shape, 4, c->value, c->value_count));
    json_object_set_new(req, "inputs", inputs);
    json_t *outputs = json_array();
    json_array_append_new(outputs, sc_output_request("output", binary_output));
    json_object_set_new(req, "outputs", outputs);
    return req;
}

/* --- health and server metadata ----------------------------------------------------------- */

static void test_v2_health_live_and_ready_answer_200(void **state)
{
    CTX;
    const char *paths[] = {"/v2/health/live", "/v2/health/ready"};
    for (size_t i = 0; i < 2; i++) {
        struct http_client_response r = {0};
        if (sc_get(port_of(state), paths[i], &r) != 0)
            deviation(cx, SC_SPEC_OIP ", Health", "GET %s: no HTTP response", paths[i]);
        else if (r.status != 200)
            deviation(cx,
                      SC_SPEC_OIP ", Health: \"A 200 status code indicates true and a 4xx "
                                  "status code indicates false\"",
                      "GET %s: " RESP_FMT, paths[i], RESP_ARGS(&r));
        http_client_response_free(&r);
    }
    CTX_END();
}

static void test_v2_server_metadata_has_name_version_extensions(void **state)
{
    CTX;
    const char *cl = SC_SPEC_OIP ", $metadata_server_response = {\"name\": $string, \"version\": "
                                 "$string, \"extensions\": [$string, ...]}";
    json_t *v = get_object(cx, port_of(state), "/v2", cl);
    if (v == NULL) {
        CTX_END();
        return;
    }
    if (!json_is_string(json_object_get(v, "name")))
        deviation(cx, cl, "\"name\" is not a string");
    if (!json_is_string(json_object_get(v, "version")))
        deviation(cx, cl, "\"version\" is not a string");
    const json_t *ext = json_object_get(v, "extensions");
    bool binary = false, config = false;
    if (!json_is_array(ext)) {
        deviation(cx, cl, "\"extensions\" is not an array");
    } else {
        size_t i;
        const json_t *e;
        json_array_foreach(ext, i, e)
        {
            if (!json_is_string(e)) {
                deviation(cx, cl, "extensions[%zu] is not a string", i);
                continue;
            }
            binary |= strcmp(json_string_value(e), "binary_tensor_data") == 0;
            config |= strcmp(json_string_value(e), "model_configuration") == 0;
        }
        if (!binary)
            deviation(cx,
                      SC_SPEC_BINARY ": \"Because this extension is supported, Triton "
                                     "reports binary_tensor_data in the extensions field of "
                                     "its Server Metadata\"",
                      "the server speaks the binary tensor data extension but \"extensions\" "
                      "does not list \"binary_tensor_data\"");
        if (!config)
            deviation(cx,
                      SC_SPEC_CONFIG ": \"Because this extension is supported, Triton "
                                     "reports model_configuration in the extensions field "
                                     "of its Server Metadata\"",
                      "the server serves /v2/models/<name>/config but \"extensions\" does not "
                      "list \"model_configuration\"");
    }
    json_decref(v);
    CTX_END();
}

/* --- model metadata, ready, config -------------------------------------------------------- */

/* Common $metadata_model_response checks; returns the object (or NULL). */
static json_t *model_metadata(struct ctx *cx, uint16_t port, const char *model)
{
    const char *cl = SC_SPEC_OIP ", $metadata_model_response = {\"name\": $string, "
                                 "\"versions\": [$string, ...] #optional, \"platform\": "
                                 "$string, \"inputs\": [$metadata_tensor, ...], \"outputs\": "
                                 "[$metadata_tensor, ...]}";
    char path[256];
    path_of(path, sizeof(path), "/v2/models/%s", model);
    json_t *v = get_object(cx, port, path, cl);
    if (v == NULL)
        return NULL;
    const json_t *name = json_object_get(v, "name");
    if (!json_is_string(name) || strcmp(json_string_value(name), model) != 0)
        deviation(cx, cl, "GET %s: \"name\" is not \"%s\"", path, model);
    const json_t *versions = json_object_get(v, "versions");
    if (versions != NULL) {
        size_t i;
        const json_t *e;
        if (!json_is_array(versions))
            deviation(cx, cl, "GET %s: \"versions\" is not an array", path);
        json_array_foreach(versions, i, e)
        {
            if (!json_is_string(e))
                deviation(cx, cl, "GET %s: versions[%zu] is not a $string", path, i);
        }
    }
    const json_t *platform = json_object_get(v, "platform");
    if (!json_is_string(platform))
        deviation(cx, cl, "GET %s: \"platform\" is not a string", path);
    const char *lists[] = {"inputs", "outputs"};
    for (int l = 0; l < 2; l++) {
        const json_t *a = json_object_get(v, lists[l]);
        if (!json_is_array(a) || json_array_size(a) == 0) {
            deviation(cx, cl, "GET %s: \"%s\" is not a non-empty array", path, lists[l]);
            continue;
        }
        size_t i;
        const json_t *t;
        json_array_foreach(a, i, t)
        {
            char where[300];
            int64_t shape[SC_MAX_RANK];
            snprintf(where, sizeof(where), "GET %s: %s[%zu]", path, lists[l], i);
            check_metadata_tensor(cx, where, t, shape);
        }
    }
    return v;
}

static void test_v2_generic_model_metadata(void **state)
{
    CTX;
    json_t *v = model_metadata(cx, port_of(state), GENERIC_MODEL);
    if (v == NULL) {
        CTX_END();
        return;
    }
    const char *cl = SC_SPEC_OIP ", \"inputs\": The inputs required by the model; \"outputs\": "
                                 "The outputs produced by the model (datatype, shape)";
    const json_t *inputs = json_object_get(v, "inputs");
    const json_t *outputs = json_object_get(v, "outputs");
    const char *fp32_rank4[] = {"value", "filters"};
    for (int i = 0; i < 2; i++) {
        const json_t *t = tensor_named(inputs, fp32_rank4[i]);
        int64_t shape[SC_MAX_RANK];
        if (t == NULL) {
            deviation(cx, cl, "no input \"%s\"", fp32_rank4[i]);
        } else {
            if (strcmp(datatype_of(t), "FP32") != 0)
                deviation(cx, cl, "input \"%s\" has datatype \"%s\", not FP32", fp32_rank4[i],
                          datatype_of(t));
            if (check_metadata_tensor(cx, fp32_rank4[i], t, shape) != 4)
                deviation(cx, cl, "input \"%s\" is not of rank 4", fp32_rank4[i]);
        }
    }
    const json_t *os = tensor_named(inputs, "output_shape");
    int64_t shape[SC_MAX_RANK];
    if (os == NULL) {
        deviation(cx, cl, "no input \"output_shape\"");
    } else {
        if (strcmp(datatype_of(os), "INT32") != 0 && strcmp(datatype_of(os), "INT64") != 0)
            deviation(cx, cl, "input \"output_shape\" has datatype \"%s\"", datatype_of(os));
        if (check_metadata_tensor(cx, "output_shape", os, shape) != 1 || !dim_fits(shape[0], 4))
            deviation(cx, cl, "input \"output_shape\" does not have shape [4]");
    }
    const json_t *out = tensor_named(outputs, "output");
    if (out == NULL) {
        deviation(cx, cl, "no output \"output\"");
    } else {
        if (strcmp(datatype_of(out), "FP32") != 0)
            deviation(cx, cl, "output \"output\" has datatype \"%s\"", datatype_of(out));
        if (check_metadata_tensor(cx, "output", out, shape) != 4)
            deviation(cx, cl, "output \"output\" is not of rank 4");
    }
    json_decref(v);
    CTX_END();
}

static void test_v2_repository_model_metadata(void **state)
{
    CTX;
    struct fixture *f = *state;
    for (size_t m = 0; m < REPO_COUNT; m++) {
        const struct sc_case *c = &f->repo[m];
        json_t *v = model_metadata(cx, port_of(state), REPO_MODELS[m].name);
        if (v == NULL)
            continue;
        const char *cl = SC_SPEC_OIP ", \"inputs\": The inputs required by the model; "
                                     "\"outputs\": The outputs produced by the model";
        const json_t *inputs = json_object_get(v, "inputs");
        const json_t *outputs = json_object_get(v, "outputs");
        if (json_array_size(inputs) != 1)
            deviation(cx, cl, "%s: %zu inputs; a repository model's only input is \"value\"",
                      REPO_MODELS[m].name, json_array_size(inputs));
        const json_t *t = tensor_named(inputs, "value");
        int64_t shape[SC_MAX_RANK];
        if (t == NULL) {
            deviation(cx, cl, "%s: no input \"value\"", REPO_MODELS[m].name);
        } else {
            if (strcmp(datatype_of(t), "FP32") != 0)
                deviation(cx, cl, "%s: input \"value\" datatype \"%s\"", REPO_MODELS[m].name,
                          datatype_of(t));
            if (check_metadata_tensor(cx, "value", t, shape) != 4)
                deviation(cx, cl, "%s: input \"value\" is not of rank 4", REPO_MODELS[m].name);
            else if (!dim_fits(shape[3], c->filters_shape[3]))
                deviation(cx, cl,
                          "%s: input \"value\" has %" PRId64 " channels; the filters take %" PRId64,
                          REPO_MODELS[m].name, shape[3], c->filters_shape[3]);
        }
        t = tensor_named(outputs, "output");
        if (t == NULL) {
            deviation(cx, cl, "%s: no output \"output\"", REPO_MODELS[m].name);
        } else {
            if (strcmp(datatype_of(t), "FP32") != 0)
                deviation(cx, cl, "%s: output datatype \"%s\"", REPO_MODELS[m].name,
                          datatype_of(t));
            if (check_metadata_tensor(cx, "output", t, shape) != 4)
                deviation(cx, cl, "%s: output is not of rank 4", REPO_MODELS[m].name);
            else if (!dim_fits(shape[3], c->filters_shape[2]))
                deviation(cx, cl, "%s: output has %" PRId64 " channels; the filters give %" PRId64,
                          REPO_MODELS[m].name, shape[3], c->filters_shape[2]);
        }
        json_decref(v);
    }
    CTX_END();
}

static void test_v2_model_ready(void **state)
{
    CTX;
    const char *models[] = {GENERIC_MODEL, REPO_MODELS[0].name, REPO_MODELS[1].name};
    for (size_t i = 0; i < 3; i++) {
        char path[256];
        path_of(path, sizeof(path), "/v2/models/%s/ready", models[i]);
        struct http_client_response r = {0};
        if (sc_get(port_of(state), path, &r) != 0) {
            deviation(cx, SC_SPEC_OIP ", Model Ready", "GET %s: no response", path);
            continue;
        }
        if (r.status != 200)
            deviation(cx, SC_SPEC_OIP ", Model Ready: \"A 200 status code indicates true\"",
                      "GET %s: " RESP_FMT, path, RESP_ARGS(&r));
        /* The OIP revision gives a body {"name", "ready"}; the v2 text says it should be
         * empty. Either is accepted; a body that says "ready": false contradicts the 200. */
        if (r.body_len > 0) {
            json_t *v = json_loadb(r.body, r.body_len, 0, NULL);
            const json_t *ready = v != NULL ? json_object_get(v, "ready") : NULL;
            if (ready != NULL && !json_is_true(ready))
                deviation(cx,
                          SC_SPEC_OIP ", $ready_model_response = {\"name\": $string, "
                                      "\"ready\": $bool}",
                          "GET %s: 200 with body %.200s", path, r.body);
            json_decref(v);
        }
        http_client_response_free(&r);
    }
    struct http_client_response r = {0};
    char path[256];
    path_of(path, sizeof(path), "/v2/models/%s/ready", UNKNOWN_MODEL);
    if (sc_get(port_of(state), path, &r) == 0 && (r.status < 400 || r.status >= 500))
        deviation(cx, SC_SPEC_OIP ", Health: \"a 4xx status code indicates false\"",
                  "GET %s (no such model): " RESP_FMT, path, RESP_ARGS(&r));
    http_client_response_free(&r);
    CTX_END();
}

/* The config's tensors against the metadata's, as perf_analyzer matches them. */
static void check_config_tensors(struct ctx *cx, const char *model, const json_t *cfg,
                                 const json_t *meta, const char *cfg_key, const char *meta_key,
                                 int64_t max_batch)
{
    const char *cl = SC_SPEC_CONFIG ": ModelConfig JSON, \"input\"/\"output\": [{\"name\", "
                                    "\"data_type\": \"TYPE_<datatype>\", \"dims\"}], dims "
                                    "without the batch dimension when max_batch_size > 0; "
                                    "perf_analyzer fails with \"no metadata found for input "
                                    "tensor\" when a name is not in the metadata";
    const json_t *list = json_object_get(cfg, cfg_key);
    const json_t *mlist = json_object_get(meta, meta_key);
    if (!json_is_array(list)) {
        deviation(cx, cl, "%s: config has no \"%s\" array", model, cfg_key);
        return;
    }
    if (json_array_size(list) != json_array_size(mlist))
        deviation(cx, cl, "%s: config lists %zu %s, metadata %zu %s", model, json_array_size(list),
                  cfg_key, json_array_size(mlist), meta_key);
    size_t i;
    const json_t *t;
    json_array_foreach(list, i, t)
    {
        const json_t *name = json_object_get(t, "name");
        const json_t *dt = json_object_get(t, "data_type");
        const json_t *dims = json_object_get(t, "dims");
        if (!json_is_string(name) || !json_is_string(dt) || !json_is_array(dims)) {
            char *s = json_dumps(t, JSON_COMPACT);
            deviation(cx, cl, "%s: %s[%zu] lacks name, data_type or dims: %s", model, cfg_key, i,
                      s != NULL ? s : "?");
            free(s);
            continue;
        }
        const json_t *mt = tensor_named(mlist, json_string_value(name));
        if (mt == NULL) {
            deviation(cx, cl, "%s: config %s \"%s\" is not in the metadata's %s", model, cfg_key,
                      json_string_value(name), meta_key);
            continue;
        }
        /* model_config.proto's TYPE_STRING is the protocol's BYTES; the others are
         * TYPE_<datatype> */
        char want[64];
        if (strcmp(datatype_of(mt), "BYTES") == 0)
            snprintf(want, sizeof(want), "TYPE_STRING");
        else
            snprintf(want, sizeof(want), "TYPE_%s", datatype_of(mt));
        if (strcmp(json_string_value(dt), want) != 0)
            deviation(cx, cl, "%s: %s \"%s\" data_type \"%s\", metadata datatype %s -> %s", model,
                      cfg_key, json_string_value(name), json_string_value(dt), datatype_of(mt),
                      want);
        const json_t *mshape = json_object_get(mt, "shape");
        size_t skip = max_batch > 0 ? 1 : 0;
        bool ok = json_array_size(dims) + skip == json_array_size(mshape);
        if (ok && skip == 1)
            ok = json_integer_value(json_array_get(mshape, 0)) == -1;
        for (size_t k = 0; ok && k < json_array_size(dims); k++) {
            int64_t d;
            ok = sc_json_int(json_array_get(dims, k), &d) == 0 &&
                 d == (int64_t)json_integer_value(json_array_get(mshape, k + skip));
        }
        if (!ok) {
            char *a = json_dumps(dims, JSON_COMPACT), *b = json_dumps(mshape, JSON_COMPACT);
            deviation(cx, cl,
                      "%s: %s \"%s\" dims %s with max_batch_size %" PRId64
                      " do not match the metadata shape %s",
                      model, cfg_key, json_string_value(name), a ? a : "?", max_batch, b ? b : "?");
            free(a);
            free(b);
        }
    }
}

static void test_v2_model_config_as_perf_analyzer_reads_it(void **state)
{
    CTX;
    const char *models[] = {GENERIC_MODEL, REPO_MODELS[0].name};
    const char *cl = SC_SPEC_CONFIG ": GET v2/models/${MODEL_NAME}/config, 200 and the JSON "
                                    "of ModelConfig (name, max_batch_size, input, output)";
    for (size_t m = 0; m < 2; m++) {
        char path[256];
        path_of(path, sizeof(path), "/v2/models/%s/config", models[m]);
        json_t *cfg = get_object(cx, port_of(state), path, cl);
        path_of(path, sizeof(path), "/v2/models/%s", models[m]);
        json_t *meta = get_object(cx, port_of(state), path, SC_SPEC_OIP ", Model Metadata");
        if (cfg != NULL && meta != NULL) {
            const json_t *name = json_object_get(cfg, "name");
            if (!json_is_string(name) || strcmp(json_string_value(name), models[m]) != 0)
                deviation(cx, cl, "%s: config \"name\" is not the model's name", models[m]);
            int64_t max_batch = 0;
            const json_t *mb = json_object_get(cfg, "max_batch_size");
            if (mb == NULL)
                note(cx, "%s: no max_batch_size (proto3 JSON omits a 0; perf_analyzer reads 0)",
                     models[m]);
            else if (sc_json_int(mb, &max_batch) != 0 || max_batch < 0)
                deviation(cx, cl, "%s: max_batch_size is not an integer >= 0", models[m]);
            check_config_tensors(cx, models[m], cfg, meta, "input", "inputs", max_batch);
            check_config_tensors(cx, models[m], cfg, meta, "output", "outputs", max_batch);
        }
        json_decref(cfg);
        json_decref(meta);
    }
    CTX_END();
}

/* --- inference, JSON ---------------------------------------------------------------------- */

static void test_v2_generic_model_infers_corpus_cases_json(void **state)
{
    CTX;
    struct fixture *f = *state;
    for (size_t i = 0; i < GENERIC_CASE_COUNT; i++) {
        const struct sc_case *c = &f->generic[i];
        /* output_shape as INT64 and as INT32, alternating */
        const char *os_type = i % 2 == 0 ? "INT64" : "INT32";
        char id[128], what[256];
        snprintf(id, sizeof(id), "spec-%s-%zu", c->name, i);
        snprintf(what, sizeof(what), "%s case %s (output_shape %s)", GENERIC_MODEL, c->name,
                 os_type);
        json_t *req = generic_request(c, id, os_type);
        struct sc_infer_response r;
        struct http_client_response raw = {0};
        if (infer_json(cx, port_of(state), GENERIC_MODEL, req, &r, &raw) == 0)
            check_infer_result(cx, what, &r, GENERIC_MODEL, id, c, false);
        sc_infer_response_free(&r);
        http_client_response_free(&raw);
        json_decref(req);
    }
    CTX_END();
}

static void test_v2_repository_models_infer_corpus_cases_json(void **state)
{
    CTX;
    struct fixture *f = *state;
    for (size_t m = 0; m < REPO_COUNT; m++) {
        const struct sc_case *c = &f->repo[m];
        char id[128], what[256];
        snprintf(id, sizeof(id), "spec-repo-%zu", m);
        snprintf(what, sizeof(what), "repository model %s", REPO_MODELS[m].name);
        json_t *req = repo_request(c, id, -1);
        struct sc_infer_response r;
        struct http_client_response raw = {0};
        if (infer_json(cx, port_of(state), REPO_MODELS[m].name, req, &r, &raw) == 0)
            check_infer_result(cx, what, &r, REPO_MODELS[m].name, id, c, false);
        sc_infer_response_free(&r);
        http_client_response_free(&raw);
        json_decref(req);
    }
    CTX_END();
}

static void test_v2_infer_without_outputs_returns_all_outputs(void **state)
{
    CTX;
    struct fixture *f = *state;
    const struct sc_case *c = &f->repo[0];
    json_t *req = repo_request(c, NULL, -1);
    json_object_del(req, "outputs");
    struct sc_infer_response r;
    struct http_client_response raw = {0};
    if (infer_json(cx, port_of(state), REPO_MODELS[0].name, req, &r, &raw) == 0)
        check_infer_result(cx, "no \"outputs\" in the request", &r, REPO_MODELS[0].name, NULL, c,
                           false);
    sc_infer_response_free(&r);
    http_client_response_free(&raw);
    json_decref(req);
    CTX_END();
}

/* "Tensor elements may be presented in their natural multi-dimensional representation, or as
 * a flattened one-dimensional representation": the request's data nested [N][H][W][C], and an
 * id with quotes, a backslash and non-ASCII text that must come back unchanged. */
static void test_v2_nested_input_data_and_an_id_with_escapes(void **state)
{
    CTX;
    struct fixture *f = *state;
    const char *id = "quote\" backslash\\ caf\u00e9 \u2603";
    for (size_t m = 0; m < REPO_COUNT; m++) {
        const struct sc_case *c = &f->repo[m];
        json_t *req = repo_request(c, id, -1);
        json_t *value = json_array_get(json_object_get(req, "inputs"), 0);
        json_object_set_new(value, "data", sc_nested(c->value, c->value_shape, 4));
        struct sc_infer_response r;
        struct http_client_response raw = {0};
        char what[256];
        snprintf(what, sizeof(what), "%s, nested \"data\"", REPO_MODELS[m].name);
        if (infer_json(cx, port_of(state), REPO_MODELS[m].name, req, &r, &raw) == 0)
            check_infer_result(cx, what, &r, REPO_MODELS[m].name, id, c, false);
        sc_infer_response_free(&r);
        http_client_response_free(&raw);
        json_decref(req);
    }
    CTX_END();
}

/* --- inference, binary tensor data extension ---------------------------------------------- */

/* The headers a response with binary data must carry. */
static void check_binary_headers(struct ctx *cx, const char *what,
                                 const struct http_client_response *raw,
                                 const struct sc_infer_response *r, bool has_binary)
{
    if (has_binary && !r->has_header_length)
        deviation(cx,
                  SC_SPEC_BINARY ": \"If any binary data is present in the request or "
                                 "response the Inference-Header-Content-Length header must "
                                 "be provided to give the length of the JSON object\"",
                  "%s: binary output without Inference-Header-Content-Length", what);
    const char *cl = http_client_header(raw, "Content-Length");
    if (cl != NULL && strtoull(cl, NULL, 10) != raw->body_len)
        deviation(cx,
                  SC_SPEC_BINARY ": \"Content-Length continues to give the full body "
                                 "length\"",
                  "%s: Content-Length %s for a %zu-byte body", what, cl, raw->body_len);
    if (!has_binary && r->binary_len > 0)
        deviation(cx, SC_SPEC_BINARY, "%s: %zu bytes after the JSON object of a JSON response",
                  what, r->binary_len);
}

static int infer_binary(struct ctx *cx, uint16_t port, const char *model, const char *content_type,
                        const json_t *header, const struct sc_chunk *chunks, size_t n,
                        struct sc_infer_response *out, struct http_client_response *raw)
{
    char path[256];
    path_of(path, sizeof(path), "/v2/models/%s/infer", model);
    memset(out, 0, sizeof(*out));
    if (sc_post_binary(port, path, content_type, header, chunks, n, raw) != 0) {
        deviation(cx, SC_SPEC_BINARY, "POST %s: no HTTP response", path);
        return -1;
    }
    if (raw->status != 200) {
        deviation(cx,
                  SC_SPEC_BINARY ": tensors \"in the HTTP body after the JSON object\", "
                                 "\"binary_data_size\" on $request_input",
                  "POST %s (binary request): " RESP_FMT, path, RESP_ARGS(raw));
        return -1;
    }
    char why[600];
    if (sc_parse_infer_response(raw, out, why, sizeof(why)) != 0) {
        deviation(cx, SC_SPEC_BINARY, "POST %s: %s", path, why);
        return -1;
    }
    return 0;
}

static void test_v2_binary_inputs_and_binary_output(void **state)
{
    CTX;
    struct fixture *f = *state;
    /* every input binary (output_shape INT32: 16 bytes), "binary_data": true on the output */
    for (size_t i = 0; i < 2; i++) {
        const struct sc_case *c = &f->generic[i];
        size_t vl = 0, fl = 0, ol = 0;
        void *vb = sc_le_fp32(c->value, c->value_count, &vl);
        void *fb = sc_le_fp32(c->filters, c->filters_count, &fl);
        void *ob = sc_le_int32(c->output_shape, 4, &ol);
        json_t *req = json_object();
        json_object_set_new(req, "id", json_string("binary-1"));
        json_t *params = json_object();
        json_object_set_new(params, "rate", json_integer(c->rate));
        json_object_set_new(params, "padding", json_string(c->padding));
        json_object_set_new(req, "parameters", params);
        json_t *inputs = json_array();
        const int64_t four = 4;
        json_array_append_new(inputs, sc_input_binary("value", "FP32", c->value_shape, 4, vl));
        json_array_append_new(inputs, sc_input_binary("filters", "FP32", c->filters_shape, 4, fl));
        json_array_append_new(inputs, sc_input_binary("output_shape", "INT32", &four, 1, ol));
        json_object_set_new(req, "inputs", inputs);
        json_t *outputs = json_array();
        json_array_append_new(outputs, sc_output_request("output", 1));
        json_object_set_new(req, "outputs", outputs);
        struct sc_chunk chunks[] = {{vb, vl}, {fb, fl}, {ob, ol}};
        struct sc_infer_response r;
        struct http_client_response raw = {0};
        char what[256];
        snprintf(what, sizeof(what), "all-binary request, case %s", c->name);
        if (infer_binary(cx, port_of(state), GENERIC_MODEL, OCTET, req, chunks, 3, &r, &raw) == 0) {
            check_binary_headers(cx, what, &raw, &r, true);
            check_infer_result(cx, what, &r, GENERIC_MODEL, "binary-1", c, true);
        }
        sc_infer_response_free(&r);
        http_client_response_free(&raw);
        json_decref(req);
        free(vb);
        free(fb);
        free(ob);
    }
    CTX_END();
}

static void test_v2_mixed_inputs_and_request_level_binary_data_output(void **state)
{
    CTX;
    struct fixture *f = *state;
    /* value binary, filters and output_shape (INT64) as JSON; no "outputs" and
     * "binary_data_output": true, so every output comes binary */
    const struct sc_case *c = &f->generic[2];
    size_t vl = 0;
    void *vb = sc_le_fp32(c->value, c->value_count, &vl);
    json_t *req = json_object();
    json_object_set_new(req, "id", json_string("mixed-1"));
    json_t *params = json_object();
    json_object_set_new(params, "rate", json_integer(c->rate));
    json_object_set_new(params, "padding", json_string(c->padding));
    json_object_set_new(params, "binary_data_output", json_true());
    json_object_set_new(req, "parameters", params);
    json_t *inputs = json_array();
    const int64_t four = 4;
    json_array_append_new(inputs, sc_input_binary("value", "FP32", c->value_shape, 4, vl));
    json_array_append_new(
        inputs, sc_input_fp32("filters", c->filters_shape, 4, c->filters, c->filters_count));
    json_array_append_new(inputs,
                          sc_input_int("output_shape", "INT64", &four, 1, c->output_shape, 4));
    json_object_set_new(req, "inputs", inputs);
    struct sc_chunk chunks[] = {{vb, vl}};
    struct sc_infer_response r;
    struct http_client_response raw = {0};
    const char *what = "binary value + JSON filters, \"binary_data_output\": true";
    if (infer_binary(cx, port_of(state), GENERIC_MODEL, OCTET, req, chunks, 1, &r, &raw) == 0) {
        check_binary_headers(cx, what, &raw, &r, true);
        check_infer_result(cx, what, &r, GENERIC_MODEL, "mixed-1", c, true);
    }
    sc_infer_response_free(&r);
    http_client_response_free(&raw);
    json_decref(req);
    free(vb);
    CTX_END();
}

static void test_v2_repository_model_binary_request_json_response(void **state)
{
    CTX;
    struct fixture *f = *state;
    const struct sc_case *c = &f->repo[0];
    size_t vl = 0;
    void *vb = sc_le_fp32(c->value, c->value_count, &vl);
    json_t *req = json_object();
    json_object_set_new(req, "id", json_string("repo-bin-in"));
    json_t *inputs = json_array();
    json_array_append_new(inputs, sc_input_binary("value", "FP32", c->value_shape, 4, vl));
    json_object_set_new(req, "inputs", inputs);
    json_t *outputs = json_array();
    json_array_append_new(outputs, sc_output_request("output", -1));
    json_object_set_new(req, "outputs", outputs);
    struct sc_chunk chunks[] = {{vb, vl}};
    struct sc_infer_response r;
    struct http_client_response raw = {0};
    const char *what = "binary input without Content-Type, output not asked binary";
    if (infer_binary(cx, port_of(state), REPO_MODELS[0].name, NULL, req, chunks, 1, &r, &raw) ==
        0) {
        check_binary_headers(cx, what, &raw, &r, false);
        if (r.has_header_length && r.json_len != raw.body_len)
            deviation(cx, SC_SPEC_BINARY,
                      "%s: Inference-Header-Content-Length %zu for a JSON "
                      "body of %zu bytes",
                      what, r.json_len, raw.body_len);
        check_infer_result(cx, what, &r, REPO_MODELS[0].name, "repo-bin-in", c, false);
    }
    sc_infer_response_free(&r);
    http_client_response_free(&raw);
    json_decref(req);
    free(vb);
    CTX_END();
}

static void test_v2_repository_model_binary_output_switches(void **state)
{
    CTX;
    struct fixture *f = *state;
    const struct sc_case *c = &f->repo[0];
    /* JSON request; "binary_data": true on the output -> binary */
    json_t *req = repo_request(c, "repo-bin-out", 1);
    struct sc_infer_response r;
    struct http_client_response raw = {0};
    const char *what = "JSON request, \"binary_data\": true";
    if (infer_json(cx, port_of(state), REPO_MODELS[0].name, req, &r, &raw) == 0) {
        check_binary_headers(cx, what, &raw, &r, true);
        check_infer_result(cx, what, &r, REPO_MODELS[0].name, "repo-bin-out", c, true);
    }
    sc_infer_response_free(&r);
    http_client_response_free(&raw);
    json_decref(req);

    /* "binary_data_output": true but "binary_data": false on the output -> JSON */
    req = repo_request(c, "repo-override", 0);
    json_t *params = json_object();
    json_object_set_new(params, "binary_data_output", json_true());
    json_object_set_new(req, "parameters", params);
    what = "\"binary_data_output\": true overridden by \"binary_data\": false";
    if (infer_json(cx, port_of(state), REPO_MODELS[0].name, req, &r, &raw) == 0) {
        check_binary_headers(cx, what, &raw, &r, false);
        check_infer_result(cx, what, &r, REPO_MODELS[0].name, "repo-override", c, false);
    }
    sc_infer_response_free(&r);
    http_client_response_free(&raw);
    json_decref(req);

    /* "binary_data_output": true, no "outputs" -> binary */
    req = repo_request(c, "repo-all-bin", -1);
    json_object_del(req, "outputs");
    params = json_object();
    json_object_set_new(params, "binary_data_output", json_true());
    json_object_set_new(req, "parameters", params);
    what = "\"binary_data_output\": true, no \"outputs\"";
    if (infer_json(cx, port_of(state), REPO_MODELS[0].name, req, &r, &raw) == 0) {
        check_binary_headers(cx, what, &raw, &r, true);
        check_infer_result(cx, what, &r, REPO_MODELS[0].name, "repo-all-bin", c, true);
    }
    sc_infer_response_free(&r);
    http_client_response_free(&raw);
    json_decref(req);
    CTX_END();
}

/* The generic model's metadata lists "rate" (INT32 [1]) and "padding" (BYTES [1]) among its
 * inputs; a client that builds its request from the metadata sends them as tensors. */
static void test_v2_generic_model_takes_rate_and_padding_as_its_metadata_inputs(void **state)
{
    CTX;
    struct fixture *f = *state;
    const int64_t one = 1, four = 4;
    json_t *meta = model_metadata(cx, port_of(state), GENERIC_MODEL);
    const json_t *inputs = meta != NULL ? json_object_get(meta, "inputs") : NULL;
    if (tensor_named(inputs, "rate") == NULL || tensor_named(inputs, "padding") == NULL) {
        note(cx, "the generic model's metadata does not list rate/padding inputs; skipped");
        json_decref(meta);
        CTX_END();
        return;
    }
    json_decref(meta);
    for (size_t i = 3; i < 5; i++) {
        const struct sc_case *c = &f->generic[i];
        json_t *req = generic_request(c, "as-inputs", "INT64");
        json_object_del(req, "parameters");
        json_t *in = json_object_get(req, "inputs");
        json_array_append_new(in, sc_input_int("rate", "INT32", &one, 1, &c->rate, 1));
        const char *pad[] = {c->padding};
        json_array_append_new(in, sc_input_strings("padding", &one, 1, pad, 1));
        struct sc_infer_response r;
        struct http_client_response raw = {0};
        char what[256];
        snprintf(what, sizeof(what), "rate and padding as JSON input tensors, case %s", c->name);
        if (infer_json(cx, port_of(state), GENERIC_MODEL, req, &r, &raw) == 0)
            check_infer_result(cx, what, &r, GENERIC_MODEL, "as-inputs", c, false);
        sc_infer_response_free(&r);
        http_client_response_free(&raw);
        json_decref(req);
    }
    /* the same, every tensor binary: BYTES as a 4-byte length and the bytes */
    const struct sc_case *c = &f->generic[5];
    size_t vl = 0, fl = 0, ol = 0, rl = 0, pl = 0;
    const char *pad[] = {c->padding};
    void *vb = sc_le_fp32(c->value, c->value_count, &vl);
    void *fb = sc_le_fp32(c->filters, c->filters_count, &fl);
    void *ob = sc_le_int64(c->output_shape, 4, &ol);
    void *rb = sc_le_int32(&c->rate, 1, &rl);
    void *pb = sc_le_bytes(pad, 1, &pl);
    json_t *req = json_object();
    json_t *in = json_array();
    json_array_append_new(in, sc_input_binary("value", "FP32", c->value_shape, 4, vl));
    json_array_append_new(in, sc_input_binary("filters", "FP32", c->filters_shape, 4, fl));
    json_array_append_new(in, sc_input_binary("output_shape", "INT64", &four, 1, ol));
    json_array_append_new(in, sc_input_binary("rate", "INT32", &one, 1, rl));
    json_array_append_new(in, sc_input_binary("padding", "BYTES", &one, 1, pl));
    json_object_set_new(req, "inputs", in);
    json_t *params = json_object();
    json_object_set_new(params, "binary_data_output", json_true());
    json_object_set_new(req, "parameters", params);
    struct sc_chunk chunks[] = {{vb, vl}, {fb, fl}, {ob, ol}, {rb, rl}, {pb, pl}};
    struct sc_infer_response r;
    struct http_client_response raw = {0};
    char what[256];
    snprintf(what, sizeof(what), "five binary input tensors (BYTES padding), case %s", c->name);
    if (infer_binary(cx, port_of(state), GENERIC_MODEL, OCTET, req, chunks, 5, &r, &raw) == 0) {
        check_binary_headers(cx, what, &raw, &r, true);
        check_infer_result(cx, what, &r, GENERIC_MODEL, NULL, c, true);
    }
    sc_infer_response_free(&r);
    http_client_response_free(&raw);
    json_decref(req);
    free(vb);
    free(fb);
    free(ob);
    free(rb);
    free(pb);
    CTX_END();
}

/* v2/models/<name>[/versions/<version>]/...: the versions the metadata lists can be asked for. */
static void test_v2_versioned_endpoints(void **state)
{
    CTX;
    struct fixture *f = *state;
    const char *model = REPO_MODELS[0].name;
    const char *cl = SC_SPEC_OIP ": \"versions\": The model versions that may be explicitly "
                                 "requested via the appropriate endpoint; URLs "
                                 "v2/models/${MODEL_NAME}[/versions/${MODEL_VERSION}]";
    json_t *meta = model_metadata(cx, port_of(state), model);
    const json_t *versions = meta != NULL ? json_object_get(meta, "versions") : NULL;
    if (!json_is_array(versions) || json_array_size(versions) == 0 ||
        !json_is_string(json_array_get(versions, 0))) {
        note(cx, "%s lists no versions; nothing to request explicitly", model);
        json_decref(meta);
        CTX_END();
        return;
    }
    char version[64];
    snprintf(version, sizeof(version), "%s", json_string_value(json_array_get(versions, 0)));
    json_decref(meta);

    char base[256], path[320];
    snprintf(base, sizeof(base), "/v2/models/%s/versions/%s", model, version);
    json_t *v = get_object(cx, port_of(state), base, cl);
    const json_t *name = v != NULL ? json_object_get(v, "name") : NULL;
    if (v != NULL && (!json_is_string(name) || strcmp(json_string_value(name), model) != 0))
        deviation(cx, cl, "GET %s: \"name\" is not \"%s\"", base, model);
    json_decref(v);

    struct http_client_response raw = {0};
    snprintf(path, sizeof(path), "%s/ready", base);
    if (sc_get(port_of(state), path, &raw) != 0 || raw.status != 200)
        deviation(cx, cl, "GET %s: " RESP_FMT, path, RESP_ARGS(&raw));
    http_client_response_free(&raw);

    snprintf(path, sizeof(path), "%s/config", base);
    v = get_object(cx, port_of(state), path,
                   SC_SPEC_CONFIG ": GET "
                                  "v2/models/${MODEL_NAME}[/versions/"
                                  "${MODEL_VERSION}]/config");
    json_decref(v);

    json_t *req = repo_request(&f->repo[0], "versioned", -1);
    snprintf(path, sizeof(path), "%s/infer", base);
    struct sc_infer_response r;
    memset(&r, 0, sizeof(r));
    char why[600];
    if (sc_post_json(port_of(state), path, req, &raw) != 0 || raw.status != 200) {
        deviation(cx, cl, "POST %s: " RESP_FMT, path, RESP_ARGS(&raw));
    } else if (sc_parse_infer_response(&raw, &r, why, sizeof(why)) != 0) {
        deviation(cx, SC_SPEC_OIP ", Inference Response JSON Object", "POST %s: %s", path, why);
    } else {
        check_infer_result(cx, path, &r, model, "versioned", &f->repo[0], false);
        const json_t *mv = json_object_get(r.json, "model_version");
        if (!json_is_string(mv) || strcmp(json_string_value(mv), version) != 0)
            deviation(cx,
                      SC_SPEC_OIP ", \"model_version\": The specific model version used "
                                  "for inference",
                      "POST %s: model_version is not \"%s\"", path, version);
    }
    sc_infer_response_free(&r);
    http_client_response_free(&raw);
    json_decref(req);

    snprintf(path, sizeof(path), "/v2/models/%s/versions/987654321", model);
    if (sc_get(port_of(state), path, &raw) == 0)
        expect_error(cx, &raw, 0, "GET a version the model does not have",
                     SC_SPEC_OIP ": \"A failed model metadata request must be indicated by an "
                                 "HTTP error status\" with {\"error\": $string}");
    http_client_response_free(&raw);
    CTX_END();
}

/* --- v2 errors ---------------------------------------------------------------------------- */

static void test_v2_unknown_model_is_an_error_with_error_json(void **state)
{
    CTX;
    struct fixture *f = *state;
    const char *cl_meta = SC_SPEC_OIP ": \"A failed model metadata request must be indicated by "
                                      "an HTTP error status (typically 400). The HTTP body must "
                                      "contain the $metadata_model_error_response object\" "
                                      "{\"error\": $string}";
    const char *cl_infer = SC_SPEC_OIP ": \"A failed inference request must be indicated by an "
                                       "HTTP error status (typically 400). The HTTP body must "
                                       "contain the $inference_error_response object\"";
    char path[256];
    struct http_client_response r = {0};
    path_of(path, sizeof(path), "/v2/models/%s", UNKNOWN_MODEL);
    if (sc_get(port_of(state), path, &r) == 0)
        expect_error(cx, &r, 0, "GET /v2/models/<unknown>", cl_meta);
    http_client_response_free(&r);

    path_of(path, sizeof(path), "/v2/models/%s/config", UNKNOWN_MODEL);
    if (sc_get(port_of(state), path, &r) == 0)
        expect_error(cx, &r, 0, "GET /v2/models/<unknown>/config",
                     SC_SPEC_CONFIG ": \"A failed model configuration request must be indicated "
                                    "by an HTTP error status (typically 400). The HTTP body must "
                                    "contain the $model_configuration_error_response object\"");
    http_client_response_free(&r);

    json_t *req = repo_request(&f->repo[0], "unknown", -1);
    path_of(path, sizeof(path), "/v2/models/%s/infer", UNKNOWN_MODEL);
    if (sc_post_json(port_of(state), path, req, &r) == 0)
        expect_error(cx, &r, 0, "POST /v2/models/<unknown>/infer", cl_infer);
    http_client_response_free(&r);
    json_decref(req);
    CTX_END();
}

struct bad_request {
    const char *what;
    const char *model; /* NULL: the generic model */
    const char *body;  /* JSON text */
};

static void test_v2_malformed_requests_are_400_with_error_json(void **state)
{
    CTX;
    const char *cl = SC_SPEC_OIP ": \"A failed inference request must be indicated by an HTTP "
                                 "error status (typically 400). The HTTP body must contain the "
                                 "$inference_error_response object\" {\"error\": <error message "
                                 "string>}";
    const char *repo = REPO_MODELS[0].name;
    static const struct bad_request bad[] = {
        {"body is not JSON", NULL, "{\"inputs\": ["},
        {"body is a JSON array", NULL, "[]"},
        {"no \"inputs\"", NULL, "{\"id\": \"x\"}"},
        {"\"inputs\" is not an array", NULL, "{\"inputs\": {}}"},
        {"input without \"shape\"", "repo",
         "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"data\": [1]}]}"},
        {"input without \"datatype\"", "repo",
         "{\"inputs\": [{\"name\": \"value\", \"shape\": [1,1,1,2], \"data\": [1, 2]}]}"},
        {"data holds fewer elements than the shape", "repo",
         "{\"inputs\": [{\"name\": \"value\", \"shape\": [1,2,2,5], \"datatype\": \"FP32\", "
         "\"data\": [1, 2, 3]}]}"},
        {"data element is a string", "repo",
         "{\"inputs\": [{\"name\": \"value\", \"shape\": [1,1,1,5], \"datatype\": \"FP32\", "
         "\"data\": [1, 2, \"x\", 4, 5]}]}"},
        {"unknown input name", "repo",
         "{\"inputs\": [{\"name\": \"nope\", \"shape\": [1,1,1,5], \"datatype\": \"FP32\", "
         "\"data\": [1, 2, 3, 4, 5]}]}"},
        {"negative dimension", "repo",
         "{\"inputs\": [{\"name\": \"value\", \"shape\": [1,-1,1,5], \"datatype\": \"FP32\", "
         "\"data\": [1, 2, 3, 4, 5]}]}"},
        {"unknown output requested", "repo",
         "{\"inputs\": [{\"name\": \"value\", \"shape\": [1,1,1,5], \"datatype\": \"FP32\", "
         "\"data\": [1, 2, 3, 4, 5]}], \"outputs\": [{\"name\": \"nope\"}]}"},
        {"generic model without filters", NULL,
         "{\"parameters\": {\"rate\": 2, \"padding\": \"SAME\"}, \"inputs\": [{\"name\": "
         "\"value\", \"shape\": [1,1,1,1], \"datatype\": \"FP32\", \"data\": [1]}, {\"name\": "
         "\"output_shape\", \"shape\": [4], \"datatype\": \"INT64\", \"data\": [1,1,1,1]}]}"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *model = bad[i].model != NULL ? repo : GENERIC_MODEL;
        char path[256], what[300];
        path_of(path, sizeof(path), "/v2/models/%s/infer", model);
        snprintf(what, sizeof(what), "POST %s, %s", path, bad[i].what);
        struct http_client_response r = {0};
        if (sc_post_raw(port_of(state), path, "application/json", bad[i].body, strlen(bad[i].body),
                        &r) != 0)
            deviation(cx, cl, "%s: no HTTP response", what);
        else
            expect_error(cx, &r, 400, what, cl);
        http_client_response_free(&r);
    }

    /* binary_data_size larger than the bytes after the JSON object */
    struct fixture *f = *state;
    const struct sc_case *c = &f->repo[0];
    size_t vl = 0;
    void *vb = sc_le_fp32(c->value, c->value_count, &vl);
    json_t *req = json_object();
    json_t *inputs = json_array();
    json_array_append_new(inputs, sc_input_binary("value", "FP32", c->value_shape, 4, vl));
    json_object_set_new(req, "inputs", inputs);
    struct sc_chunk chunks[] = {{vb, vl - 4}};
    char path[256];
    path_of(path, sizeof(path), "/v2/models/%s/infer", repo);
    struct http_client_response r = {0};
    if (sc_post_binary(port_of(state), path, OCTET, req, chunks, 1, &r) == 0)
        expect_error(cx, &r, 400, "binary_data_size beyond the body",
                     SC_SPEC_BINARY " / " SC_SPEC_OIP " inference error object");
    http_client_response_free(&r);

    /* Inference-Header-Content-Length larger than the body */
    char *text = json_dumps(req, JSON_COMPACT);
    char ihcl[80];
    snprintf(ihcl, sizeof(ihcl), "Inference-Header-Content-Length: %zu", strlen(text) + 1000);
    const char *headers[] = {"Content-Type: application/octet-stream", ihcl, NULL};
    if (http_client_request(port_of(state), "POST", path, headers, text, strlen(text), &r) == 0)
        expect_error(cx, &r, 400, "Inference-Header-Content-Length beyond the body",
                     SC_SPEC_BINARY " / " SC_SPEC_OIP " inference error object");
    http_client_response_free(&r);
    free(text);
    json_decref(req);
    free(vb);
    CTX_END();
}

/* --- TensorFlow Serving REST -------------------------------------------------------------- */

/* The per-example tensors of a batch [N,H,W,C]: a list of N nested [H][W][C] lists. */
static json_t *instances_of(const struct sc_case *c)
{
    json_t *a = json_array();
    size_t per = c->value_count / (size_t)c->value_shape[0];
    for (int64_t n = 0; n < c->value_shape[0]; n++)
        json_array_append_new(a, sc_nested(c->value + (size_t)n * per, c->value_shape + 1, 3));
    return a;
}

static void tfs_predict(struct ctx *cx, uint16_t port, const char *path, const json_t *body,
                        const char *key, const struct sc_case *c, const char *what)
{
    const char *cl = SC_SPEC_TFS ", Predict API: \"A request in row format has response "
                                 "formatted as {\\\"predictions\\\": ...}\" / \"A request in "
                                 "columnar format has response formatted as "
                                 "{\\\"outputs\\\": ...}\"; \"If the output of the model "
                                 "contains only one named tensor, we omit the name\"";
    struct http_client_response r = {0};
    if (sc_post_json(port, path, body, &r) != 0) {
        deviation(cx, cl, "%s: no HTTP response", what);
        return;
    }
    char why[600];
    json_t *v = NULL;
    if (r.status != 200) {
        deviation(cx, cl, "%s: POST %s: " RESP_FMT, what, path, RESP_ARGS(&r));
    } else if ((v = sc_body_json(&r, why, sizeof(why))) == NULL) {
        deviation(cx, cl, "%s: %s", what, why);
    } else {
        const json_t *out = json_object_get(v, key);
        double *data = NULL;
        size_t count = 0;
        int64_t shape[SC_MAX_RANK];
        int rank = 0;
        if (out == NULL) {
            deviation(cx, cl, "%s: no \"%s\" key: %.300s", what, key, r.body);
        } else if (json_is_object(out) || (json_is_array(out) && json_array_size(out) > 0 &&
                                           json_is_object(json_array_get(out, 0)))) {
            deviation(cx, cl, "%s: \"%s\" names the single output instead of omitting the name",
                      what, key);
        } else if (sc_flatten(out, &data, &count, shape, &rank, why, sizeof(why)) != 0) {
            deviation(cx, cl, "%s: \"%s\": %s", what, key, why);
        } else if (sc_compare(shape, rank, data, count, c, why, sizeof(why)) != 0) {
            deviation(cx,
                      "conformance corpus: exact shape and |got - exp| <= 1e-4 + 1e-4*|exp| "
                      "(the nesting of \""
                      "predictions\"/\"outputs\" gives the shape)",
                      "%s, case %s: %s", what, c->name, why);
        }
        free(data);
    }
    json_decref(v);
    http_client_response_free(&r);
}

static void test_tfs_predict_row_format_instances(void **state)
{
    CTX;
    struct fixture *f = *state;
    for (size_t m = 0; m < REPO_COUNT; m++) {
        char path[256], what[256];
        path_of(path, sizeof(path), "/v1/models/%s:predict", REPO_MODELS[m].name);
        snprintf(what, sizeof(what), "%s, \"instances\"", REPO_MODELS[m].name);
        json_t *body = json_object();
        json_object_set_new(body, "instances", instances_of(&f->repo[m]));
        tfs_predict(cx, port_of(state), path, body, "predictions", &f->repo[m], what);
        json_decref(body);
    }
    CTX_END();
}

static void test_tfs_predict_columnar_inputs(void **state)
{
    CTX;
    struct fixture *f = *state;
    for (size_t m = 0; m < REPO_COUNT; m++) {
        const struct sc_case *c = &f->repo[m];
        char path[256], what[256];
        path_of(path, sizeof(path), "/v1/models/%s:predict", REPO_MODELS[m].name);
        /* "inputs" as the single input tensor itself */
        snprintf(what, sizeof(what), "%s, \"inputs\": <tensor>", REPO_MODELS[m].name);
        json_t *body = json_object();
        json_object_set_new(body, "inputs", sc_nested(c->value, c->value_shape, 4));
        tfs_predict(cx, port_of(state), path, body, "outputs", c, what);
        json_decref(body);
        /* "inputs" as a map of input name to tensor */
        snprintf(what, sizeof(what), "%s, \"inputs\": {\"value\": <tensor>}", REPO_MODELS[m].name);
        body = json_object();
        json_t *map = json_object();
        json_object_set_new(map, "value", sc_nested(c->value, c->value_shape, 4));
        json_object_set_new(body, "inputs", map);
        tfs_predict(cx, port_of(state), path, body, "outputs", c, what);
        json_decref(body);
    }
    CTX_END();
}

/* Reads the first version out of a model status; -1 when none. */
static int64_t status_version(struct ctx *cx, const json_t *v, const char *what)
{
    const char *cl = SC_SPEC_TFS ", Model status API: \"returns a JSON representation of "
                                 "GetModelStatusResponse\" {\"model_version_status\": "
                                 "[{\"version\", \"state\": \"AVAILABLE\", \"status\": "
                                 "{\"error_code\": \"OK\", \"error_message\": \"\"}}]}";
    const json_t *list = json_object_get(v, "model_version_status");
    if (!json_is_array(list) || json_array_size(list) == 0) {
        deviation(cx, cl, "%s: no non-empty \"model_version_status\" array", what);
        return -1;
    }
    int64_t first = -1;
    size_t i;
    const json_t *s;
    json_array_foreach(list, i, s)
    {
        int64_t ver = 0;
        if (sc_json_int(json_object_get(s, "version"), &ver) != 0)
            deviation(cx, cl, "%s: model_version_status[%zu].version is not an int64", what, i);
        else if (first < 0)
            first = ver;
        const json_t *state = json_object_get(s, "state");
        if (!json_is_string(state) || strcmp(json_string_value(state), "AVAILABLE") != 0)
            deviation(cx, cl, "%s: model_version_status[%zu].state is not \"AVAILABLE\"", what, i);
        const json_t *st = json_object_get(s, "status");
        if (st != NULL) {
            /* proto3 JSON may omit the default OK; when present it must say OK */
            const json_t *code = json_object_get(st, "error_code");
            if (code != NULL &&
                !(json_is_string(code) && strcmp(json_string_value(code), "OK") == 0) &&
                !(json_is_integer(code) && json_integer_value(code) == 0))
                deviation(cx, cl, "%s: model_version_status[%zu].status.error_code is not OK", what,
                          i);
        }
    }
    return first;
}

static void test_tfs_model_status(void **state)
{
    CTX;
    const char *model = REPO_MODELS[0].name;
    char path[256];
    path_of(path, sizeof(path), "/v1/models/%s", model);
    json_t *v = get_object(cx, port_of(state), path, SC_SPEC_TFS ", Model status API");
    int64_t version = v != NULL ? status_version(cx, v, path) : -1;
    json_decref(v);
    if (version >= 0) {
        /* GET http://host:port/v1/models/${MODEL_NAME}[/versions/${VERSION}] */
        char vpath[300];
        snprintf(vpath, sizeof(vpath), "/v1/models/%s/versions/%" PRId64, model, version);
        v = get_object(cx, port_of(state), vpath,
                       SC_SPEC_TFS ", Model status API URL: GET "
                                   "/v1/models/${MODEL_NAME}[/versions/${VERSION}]");
        if (v != NULL)
            status_version(cx, v, vpath);
        json_decref(v);
        /* POST .../versions/${VERSION}:predict */
        struct fixture *f = *state;
        snprintf(vpath, sizeof(vpath), "/v1/models/%s/versions/%" PRId64 ":predict", model,
                 version);
        json_t *body = json_object();
        json_object_set_new(body, "instances", instances_of(&f->repo[0]));
        tfs_predict(cx, port_of(state), vpath, body, "predictions", &f->repo[0],
                    "predict with /versions/${VERSION}");
        json_decref(body);
    }
    CTX_END();
}

static void check_signature_tensor(struct ctx *cx, const json_t *map, const char *key,
                                   const char *what, const char *cl)
{
    const json_t *t = json_object_get(map, key);
    if (!json_is_object(t)) {
        deviation(cx, cl, "%s: no \"%s\" tensor in the signature", what, key);
        return;
    }
    const json_t *dt = json_object_get(t, "dtype");
    if (!json_is_string(dt) || strcmp(json_string_value(dt), "DT_FLOAT") != 0)
        deviation(cx, cl, "%s: \"%s\".dtype is not \"DT_FLOAT\"", what, key);
    const json_t *ts = json_object_get(t, "tensor_shape");
    const json_t *unknown = json_object_get(ts, "unknown_rank");
    const json_t *dims = json_object_get(ts, "dim");
    if (!json_is_object(ts) || !json_is_boolean(unknown)) {
        deviation(cx, cl,
                  "%s: \"%s\".tensor_shape.unknown_rank is not a boolean "
                  "(perf_analyzer reads it with GetBool())",
                  what, key);
        return;
    }
    if (json_is_true(unknown))
        return;
    if (!json_is_array(dims) || json_array_size(dims) != 4) {
        deviation(cx, cl, "%s: \"%s\".tensor_shape.dim is not a list of 4 {\"size\"}", what, key);
        return;
    }
    size_t i;
    const json_t *d;
    json_array_foreach(dims, i, d)
    {
        int64_t size = 0;
        if (sc_json_int(json_object_get(d, "size"), &size) != 0 || size < -1)
            deviation(cx, cl, "%s: \"%s\".tensor_shape.dim[%zu].size is not an int64 >= -1", what,
                      key, i);
    }
}

static void test_tfs_model_metadata(void **state)
{
    CTX;
    const char *model = REPO_MODELS[0].name;
    const char *cl = SC_SPEC_TFS ", Model Metadata API: \"returns a JSON representation of "
                                 "GetModelMetadataResponse\" {\"model_spec\": {\"name\", "
                                 "\"signature_name\", \"version\"}, \"metadata\": "
                                 "{\"signature_def\": {\"signature_def\": {<name>: {\"inputs\", "
                                 "\"outputs\", \"method_name\"}}}}} (as perf_analyzer's "
                                 "InitTFServe reads it)";
    char path[256];
    path_of(path, sizeof(path), "/v1/models/%s/metadata", model);
    json_t *v = get_object(cx, port_of(state), path, cl);
    if (v == NULL) {
        CTX_END();
        return;
    }
    const json_t *spec = json_object_get(v, "model_spec");
    const json_t *name = json_object_get(spec, "name");
    if (!json_is_string(name) || strcmp(json_string_value(name), model) != 0)
        deviation(cx, cl, "model_spec.name is not \"%s\"", model);
    const json_t *sigs = json_object_get(
        json_object_get(json_object_get(v, "metadata"), "signature_def"), "signature_def");
    const json_t *sig = json_object_get(sigs, "serving_default");
    if (!json_is_object(sigs) || json_object_size(sigs) == 0) {
        char *text = json_dumps(v, JSON_COMPACT);
        deviation(cx, cl, "no metadata.signature_def.signature_def map: %.300s",
                  text != NULL ? text : "?");
        free(text);
    } else if (!json_is_object(sig)) {
        deviation(cx, cl,
                  "no \"serving_default\" signature (perf_analyzer's default "
                  "-signature-name; \"If unspecified default serving signature is "
                  "used\")");
    } else {
        check_signature_tensor(cx, json_object_get(sig, "inputs"), "value", "inputs", cl);
        check_signature_tensor(cx, json_object_get(sig, "outputs"), "output", "outputs", cl);
        const json_t *method = json_object_get(sig, "method_name");
        if (!json_is_string(method) ||
            strcmp(json_string_value(method), "tensorflow/serving/predict") != 0)
            deviation(cx, cl, "serving_default.method_name is not \"tensorflow/serving/predict\"");
        /* the signature named in a request must be accepted */
        struct fixture *f = *state;
        char ppath[256];
        path_of(ppath, sizeof(ppath), "/v1/models/%s:predict", model);
        json_t *body = json_object();
        json_object_set_new(body, "signature_name", json_string("serving_default"));
        json_object_set_new(body, "instances", instances_of(&f->repo[0]));
        tfs_predict(cx, port_of(state), ppath, body, "predictions", &f->repo[0],
                    "\"signature_name\": \"serving_default\"");
        json_decref(body);
    }
    json_decref(v);
    CTX_END();
}

static void test_tfs_errors_have_error_json(void **state)
{
    CTX;
    struct fixture *f = *state;
    const char *cl = SC_SPEC_TFS ": \"In case of error, all APIs will return a JSON object in "
                                 "the response body with error as key and the error message as "
                                 "the value\"; \"An incorrect request URL or body returns an "
                                 "HTTP error status\"";
    struct http_client_response r = {0};
    char path[256];

    path_of(path, sizeof(path), "/v1/models/%s", UNKNOWN_MODEL);
    if (sc_get(port_of(state), path, &r) == 0)
        expect_error(cx, &r, 0, "GET /v1/models/<unknown>", cl);
    http_client_response_free(&r);

    path_of(path, sizeof(path), "/v1/models/%s:predict", UNKNOWN_MODEL);
    json_t *body = json_object();
    json_object_set_new(body, "instances", instances_of(&f->repo[0]));
    if (sc_post_json(port_of(state), path, body, &r) == 0)
        expect_error(cx, &r, 404,
                     "POST /v1/models/<unknown>:predict (the spec's example "
                     "answers 404 Not Found)",
                     cl);
    http_client_response_free(&r);

    path_of(path, sizeof(path), "/v1/models/%s:predict", REPO_MODELS[0].name);
    json_object_set_new(body, "inputs", sc_nested(f->repo[0].value, f->repo[0].value_shape, 4));
    if (sc_post_json(port_of(state), path, body, &r) == 0)
        expect_error(cx, &r, 400, "both \"instances\" and \"inputs\"",
                     SC_SPEC_TFS ": \"A request can have either of them but NOT both\"");
    http_client_response_free(&r);
    json_decref(body);

    const char *bad[] = {"{\"instances\": [", "{}", "{\"instances\": [[[[1, 2]]], [[1]]]}",
                         "{\"instances\": [\"a\"]}"};
    const char *what[] = {"body is not JSON", "neither \"instances\" nor \"inputs\"",
                          "ragged instances", "string instances for a DT_FLOAT input"};
    for (size_t i = 0; i < 4; i++) {
        if (sc_post_raw(port_of(state), path, "application/json", bad[i], strlen(bad[i]), &r) == 0)
            expect_error(cx, &r, 400, what[i], cl);
        http_client_response_free(&r);
    }
    CTX_END();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_health_live_and_ready_answer_200),
        cmocka_unit_test(test_v2_server_metadata_has_name_version_extensions),
        cmocka_unit_test(test_v2_generic_model_metadata),
        cmocka_unit_test(test_v2_repository_model_metadata),
        cmocka_unit_test(test_v2_model_ready),
        cmocka_unit_test(test_v2_model_config_as_perf_analyzer_reads_it),
        cmocka_unit_test(test_v2_generic_model_infers_corpus_cases_json),
        cmocka_unit_test(test_v2_repository_models_infer_corpus_cases_json),
        cmocka_unit_test(test_v2_infer_without_outputs_returns_all_outputs),
        cmocka_unit_test(test_v2_nested_input_data_and_an_id_with_escapes),
        cmocka_unit_test(test_v2_binary_inputs_and_binary_output),
        cmocka_unit_test(test_v2_mixed_inputs_and_request_level_binary_data_output),
        cmocka_unit_test(test_v2_repository_model_binary_request_json_response),
        cmocka_unit_test(test_v2_repository_model_binary_output_switches),
        cmocka_unit_test(test_v2_generic_model_takes_rate_and_padding_as_its_metadata_inputs),
        cmocka_unit_test(test_v2_versioned_endpoints),
        cmocka_unit_test(test_v2_unknown_model_is_an_error_with_error_json),
        cmocka_unit_test(test_v2_malformed_requests_are_400_with_error_json),
        cmocka_unit_test(test_tfs_predict_row_format_instances),
        cmocka_unit_test(test_tfs_predict_columnar_inputs),
        cmocka_unit_test(test_tfs_model_status),
        cmocka_unit_test(test_tfs_model_metadata),
        cmocka_unit_test(test_tfs_errors_have_error_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
