/*
 * make_seeds.c - writes the fuzz targets' seed corpora from the conformance corpus, so that
 * fuzzing starts from every valid, invalid and quirky case rather than from nothing.
 *
 *   make_seeds OUT_DIR     writes OUT_DIR/validate/, OUT_DIR/json/, OUT_DIR/binary/,
 *                          OUT_DIR/kserve/, OUT_DIR/tfserving/, OUT_DIR/npy/, OUT_DIR/request/,
 *                          OUT_DIR/model_config/
 *
 * The KServe seeds send each case to the generic model (JSON and the binary extension) and,
 * for cases whose value has the fuzz model's channel count (fuzz_model.h), to that model; the
 * TF Serving seeds those values as rows and columns; the npy seeds each case's filters as a
 * .npy file; the request seeds whole exchanges (fuzz_input.h) for every route; the model_config
 * seeds each case as a model folder (config document and filters file).
 *
 * Cases whose encoding exceeds SEED_MAX_BYTES are left out (libFuzzer runs with a matching
 * -max_len; huge inputs only slow it down). Reads the corpus from $ATROUS_TEST_DATA or
 * tests/data/conformance.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "corpus.h"
#include "fuzz_input.h"
#include "fuzz_model.h"

#define SEED_MAX_BYTES 65536

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "make_seeds: cannot write %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    return fclose(f);
}

static void put_shape(uint8_t *buf, size_t *len, const struct atrous_shape *s)
{
    buf[(*len)++] = fuzz_count_byte((size_t)s->rank);
    for (int i = 0; i < s->rank; i++)
        fuzz_put_number(buf, len, s->dims[i]);
}

static int write_validate_seed(const char *dir, const struct corpus_case *c)
{
    uint8_t buf[512];
    size_t len = 0;
    put_shape(buf, &len, &c->value_shape);
    put_shape(buf, &len, &c->filters_shape);
    buf[len++] = fuzz_count_byte(c->output_shape_len);
    for (size_t i = 0; i < c->output_shape_len && i < 15; i++)
        fuzz_put_number(buf, &len, c->output_shape[i]);
    fuzz_put_number(buf, &len, c->rate);
    static const char *const known[] = {"SAME", "VALID", "same", "EXPLICIT"};
    int pick = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(c->padding, known[i]) == 0)
            pick = i;
    if (pick >= 0) {
        buf[len++] = (uint8_t)pick;
    } else {
        size_t n = c->padding_len < 31 ? c->padding_len : 31;
        buf[len++] = 4;
        buf[len++] = (uint8_t)n;
        memcpy(buf + len, c->padding, n);
        len += n;
    }
    return write_file(dir, c->name, buf, len);
}

/* A growable text buffer for the JSON and binary seeds. */
struct text {
    char *data;
    size_t len, cap;
};

static void text_put(struct text *t, const void *data, size_t len);
static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 64);
        t->data = realloc(t->data, t->cap);
        if (t->data == NULL)
            abort();
    }
}

static void json_tensor(struct text *t, const char *key, const struct atrous_shape *s,
                        const float *data, size_t count)
{
    text_printf(t, "\"%s\":{\"shape\":[", key);
    for (int i = 0; i < s->rank; i++)
        text_printf(t, "%s%lld", i ? "," : "", (long long)s->dims[i]);
    text_printf(t, "],\"data\":[");
    for (size_t i = 0; i < count; i++)
        text_printf(t, "%s%.9g", i ? "," : "", data[i]);
    text_printf(t, "]}");
}

static int write_json_seed_as(const char *dir, const struct corpus_case *c, const char *name,
                              const char *types)
{
    struct text t = {malloc(4096), 0, 4096};
    text_printf(&t, "{%s", types);
    json_tensor(&t, "value", &c->value_shape, c->value, c->value_count);
    text_printf(&t, ",");
    json_tensor(&t, "filters", &c->filters_shape, c->filters, c->filters_count);
    text_printf(&t, ",\"output_shape\":[");
    for (size_t i = 0; i < c->output_shape_len; i++)
        text_printf(&t, "%s%lld", i ? "," : "", (long long)c->output_shape[i]);
    text_printf(&t, "],\"rate\":%lld,\"padding\":\"%s\"}", (long long)c->rate, c->padding);
    int rc = t.len <= SEED_MAX_BYTES ? write_file(dir, name, t.data, t.len) : 0;
    free(t.data);
    return rc;
}

/* Each case as float32, and with the dtype members (request-level dtype, the output's, the
 * precision) so that the fuzzer starts from them. */
static int write_json_seed(const char *dir, const struct corpus_case *c)
{
    char name[256];
    snprintf(name, sizeof(name), "%s_f16", c->name);
    return write_json_seed_as(dir, c, c->name, "") ||
           write_json_seed_as(dir, c, name,
                              "\"dtype\":\"float16\",\"output_dtype\":\"bfloat16\","
                              "\"precision\":\"bf16\",");
}

static void shape_list(struct text *t, const int64_t *dims, size_t count)
{
    for (size_t i = 0; i < count; i++)
        text_printf(t, "%s%lld", i ? "," : "", (long long)dims[i]);
}

/* The binary form's query string for case c. */
static void binary_query(struct text *t, const struct corpus_case *c)
{
    text_printf(t, "value_shape=");
    shape_list(t, c->value_shape.dims, (size_t)c->value_shape.rank);
    text_printf(t, "&filters_shape=");
    shape_list(t, c->filters_shape.dims, (size_t)c->filters_shape.rank);
    text_printf(t, "&output_shape=");
    shape_list(t, c->output_shape, c->output_shape_len);
    text_printf(t, "&rate=%lld&padding=%s", (long long)c->rate, c->padding);
}

static int write_binary_seed(const char *dir, const struct corpus_case *c)
{
    struct text t = {malloc(4096), 0, 4096};
    binary_query(&t, c);
    text_printf(&t, "\n");
    size_t body = (c->value_count + c->filters_count) * sizeof(float);
    int rc = 0;
    if (t.len + body <= SEED_MAX_BYTES) {
        t.data = realloc(t.data, t.len + body + 1);
        if (t.data == NULL)
            abort();
        if (c->value_count) /* an empty tensor has no data pointer */
            memcpy(t.data + t.len, c->value, c->value_count * sizeof(float));
        if (c->filters_count)
            memcpy(t.data + t.len + c->value_count * sizeof(float), c->filters,
                   c->filters_count * sizeof(float));
        rc = write_file(dir, c->name, t.data, t.len + body);
    }
    free(t.data);
    if (rc != 0)
        return rc;
    /* The same as bfloat16: each float's top half (a truncation: any 16-bit pattern will do). */
    struct text h = {malloc(4096), 0, 4096};
    binary_query(&h, c);
    text_printf(&h, "&dtype=bfloat16&precision=bf16\n");
    const size_t count = c->value_count + c->filters_count;
    for (size_t i = 0; i < count && h.len + 2 * count <= SEED_MAX_BYTES; i++) {
        const float f = i < c->value_count ? c->value[i] : c->filters[i - c->value_count];
        uint32_t bits;
        memcpy(&bits, &f, sizeof(bits));
        const unsigned char half[2] = {(unsigned char)(bits >> 16), (unsigned char)(bits >> 24)};
        text_put(&h, half, 2);
    }
    char name[256];
    snprintf(name, sizeof(name), "%s_bf16", c->name);
    if (h.len <= SEED_MAX_BYTES)
        rc = write_file(dir, name, h.data, h.len);
    free(h.data);
    return rc;
}

static struct text text_new(void)
{
    struct text t = {malloc(4096), 0, 4096};
    if (t.data == NULL)
        abort();
    return t;
}

static void text_put(struct text *t, const void *data, size_t len)
{
    if (t->len + len + 1 > t->cap) {
        t->cap = (t->len + len + 1) * 2;
        t->data = realloc(t->data, t->cap);
        if (t->data == NULL)
            abort();
    }
    if (len > 0)
        memcpy(t->data + t->len, data, len);
    t->len += len;
}

static void dims_list(struct text *t, const int64_t *dims, size_t n)
{
    text_printf(t, "[");
    shape_list(t, dims, n);
    text_printf(t, "]");
}

static void floats_list(struct text *t, const float *data, size_t n)
{
    text_printf(t, "[");
    for (size_t i = 0; i < n; i++)
        text_printf(t, "%s%.9g", i ? "," : "", data[i]);
    text_printf(t, "]");
}

/* data as nested lists of dims[0..rank); returns what follows. */
static const float *nested_list(struct text *t, const int64_t *dims, int rank, const float *data)
{
    if (rank == 0) {
        text_printf(t, "%.9g", *data);
        return data + 1;
    }
    text_printf(t, "[");
    for (int64_t i = 0; i < dims[0]; i++) {
        if (i)
            text_printf(t, ",");
        data = nested_list(t, dims + 1, rank - 1, data);
    }
    text_printf(t, "]");
    return data;
}

/* A KServe infer body for case c: the generic model's five arguments or the fuzz model's
 * value; JSON data, or binary parts after the JSON header (whose length goes to *header). */
static void kserve_body(const struct corpus_case *c, bool generic, bool binary, struct text *t,
                        size_t *header)
{
    struct text parts = text_new();
    text_printf(t, "{\"inputs\":[");
    for (int k = 0; k < (generic ? 2 : 1); k++) {
        const struct atrous_shape *s = k ? &c->filters_shape : &c->value_shape;
        const float *data = k ? c->filters : c->value;
        size_t n = k ? c->filters_count : c->value_count;
        text_printf(t, "%s{\"name\":\"%s\",\"datatype\":\"FP32\",\"shape\":", k ? "," : "",
                    k ? "filters" : "value");
        dims_list(t, s->dims, (size_t)s->rank);
        if (binary) {
            text_printf(t, ",\"parameters\":{\"binary_data_size\":%zu}}", n * sizeof(float));
            text_put(&parts, data, n * sizeof(float));
        } else {
            text_printf(t, ",\"data\":");
            floats_list(t, data, n);
            text_printf(t, "}");
        }
    }
    if (generic) {
        text_printf(t,
                    ",{\"name\":\"output_shape\",\"datatype\":\"INT64\",\"shape\":[%zu],"
                    "\"data\":",
                    c->output_shape_len);
        dims_list(t, c->output_shape, c->output_shape_len);
        text_printf(t, "}");
    }
    text_printf(t, "]");
    if (generic)
        text_printf(t, ",\"parameters\":{\"rate\":%lld,\"padding\":\"%s\"}", (long long)c->rate,
                    c->padding);
    if (binary)
        text_printf(t, ",\"outputs\":[{\"name\":\"output\",\"parameters\":"
                       "{\"binary_data\":true}}]");
    text_printf(t, "}");
    *header = t->len;
    text_put(t, parts.data, parts.len);
    free(parts.data);
}

/* A TF Serving :predict body for the fuzz model: rows or columns. */
static void predict_body(const struct corpus_case *c, bool columns, struct text *t)
{
    const int64_t *d = c->value_shape.dims;
    if (columns) {
        text_printf(t, "{\"inputs\":");
        nested_list(t, d, 4, c->value);
        text_printf(t, "}");
        return;
    }
    text_printf(t, "{\"instances\":[");
    const float *v = c->value;
    for (int64_t n = 0; n < d[0]; n++) {
        if (n)
            text_printf(t, ",");
        v = nested_list(t, d + 1, 3, v);
    }
    text_printf(t, "]}");
}

static int write_text_seed(const char *dir, const char *name, const struct text *t)
{
    return t->len <= SEED_MAX_BYTES ? write_file(dir, name, t->data, t->len) : 0;
}

static bool fits_fuzz_model(const struct corpus_case *c)
{
    return c->value_shape.rank == 4 && c->value_shape.dims[3] == FUZZ_MODEL_IC &&
           c->value_count > 0;
}

static int write_kserve_seeds(const char *dir, const struct corpus_case *c)
{
    int rc = 0;
    for (int variant = 0; variant < 4 && rc == 0; variant++) {
        bool generic = variant < 2, binary = variant % 2 == 1;
        if (!generic && !fits_fuzz_model(c))
            continue;
        struct text t = text_new(), body = text_new();
        size_t header = 0;
        uint8_t prefix[FUZZ_KSERVE_PREFIX];
        kserve_body(c, generic, binary, &body, &header);
        fuzz_put_ihcl(prefix, generic, binary, header);
        text_put(&t, prefix, sizeof(prefix));
        text_put(&t, body.data, body.len);
        char name[256];
        snprintf(name, sizeof(name), "%s_%s_%s", c->name, generic ? "generic" : "model",
                 binary ? "binary" : "json");
        rc = write_text_seed(dir, name, &t);
        free(t.data);
        free(body.data);
    }
    return rc;
}

static int write_tfserving_seeds(const char *dir, const struct corpus_case *c)
{
    int rc = 0;
    for (int columns = 0; columns < 2 && rc == 0 && fits_fuzz_model(c); columns++) {
        struct text t = text_new();
        char name[256];
        predict_body(c, columns, &t);
        snprintf(name, sizeof(name), "%s_%s", c->name, columns ? "columns" : "rows");
        rc = write_text_seed(dir, name, &t);
        free(t.data);
    }
    return rc;
}

/* The case's filters as a .npy file of format version major.0, appended to t. */
static void npy_file(struct text *t, const struct corpus_case *c, int major)
{
    struct text dict = text_new();
    text_printf(&dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < c->filters_shape.rank; i++)
        text_printf(&dict, "%lld, ", (long long)c->filters_shape.dims[i]);
    text_printf(&dict, "), }");
    size_t prefix = major == 1 ? 10 : 12;
    size_t total = (prefix + dict.len + 1 + 63) / 64 * 64, header_len = total - prefix;
    uint8_t head[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (uint8_t)major, 0};
    for (size_t i = 0; i < prefix - 8; i++)
        head[8 + i] = (uint8_t)(header_len >> (8 * i));
    size_t start = t->len;
    text_put(t, head, prefix);
    text_put(t, dict.data, dict.len);
    while (t->len - start < total - 1)
        text_put(t, " ", 1);
    text_put(t, "\n", 1);
    text_put(t, c->filters, c->filters_count * sizeof(float));
    free(dict.data);
}

/* The case's filters as a .npy file, version 1.0 (and 2.0 for every third case). */
static int write_npy_seed(const char *dir, const struct corpus_case *c, size_t index)
{
    struct text t = text_new();
    npy_file(&t, c, index % 3 == 2 ? 2 : 1);
    int rc = write_text_seed(dir, c->name, &t);
    free(t.data);
    return rc;
}

/* The case as a model folder (fuzz_input.h's fuzz_model_config form): its rate, padding and
 * filters shape in a config document, then the filters as .npy (versions 1.0 to 3.0 in turn)
 * or, for every fourth case, as a raw .bin file; every other case also names and versions the
 * model, fixes its input and batch size and asks for a warmup. */
static int write_model_config_seed(const char *dir, const struct corpus_case *c, size_t index)
{
    bool raw = index % 4 == 3, full = index % 2 == 1;
    struct text t = text_new();
    uint8_t flags = FUZZ_MODEL_CONFIG_FILTERS;
    text_put(&t, &flags, 1);
    text_printf(&t, "{%s\"rate\": %lld, \"padding\": \"%s\", \"filters\": {\"shape\": ",
                full ? "\"name\": \"edges\", \"version\": 3, " : "", (long long)c->rate,
                c->padding);
    dims_list(&t, c->filters_shape.dims, (size_t)c->filters_shape.rank);
    text_printf(&t, ", \"file\": \"filters.%s\"}", raw ? "bin" : "npy");
    if (full && c->value_shape.rank == 4) {
        text_printf(&t,
                    ", \"input_shape\": [-1, %lld, -1, %lld], \"max_batch_size\": 4, "
                    "\"warmup\": [",
                    (long long)c->value_shape.dims[1], (long long)c->value_shape.dims[3]);
        dims_list(&t, c->value_shape.dims, 4);
        text_printf(&t, "]");
    }
    text_printf(&t, "}");
    text_put(&t, "", 1);
    if (raw)
        text_put(&t, c->filters, c->filters_count * sizeof(float));
    else
        npy_file(&t, c, 1 + (int)(index % 3));
    int rc = write_text_seed(dir, c->name, &t);
    free(t.data);
    return rc;
}

/* One fuzz_request exchange: method, a path of the table, Content-Type, no Accept; a name
 * ending in "_batch" sets the method byte's high bit (also run as a batch). */
static int write_request_seed(const char *dir, const char *name, const char *method,
                              const char *path, const char *content_type, bool ihcl, size_t header,
                              const char *query, const struct text *body)
{
    size_t name_len = strlen(name);
    bool batch = name_len > 6 && strcmp(name + name_len - 6, "_batch") == 0;
    struct text t = text_new();
    uint8_t prefix[FUZZ_REQUEST_PREFIX] = {
        fuzz_table_index(fuzz_methods, FUZZ_TABLE_COUNT(fuzz_methods), method),
        fuzz_table_index(fuzz_paths, FUZZ_PATH_COUNT, path),
        fuzz_table_index(fuzz_content_types, FUZZ_TABLE_COUNT(fuzz_content_types), content_type),
        0,
    };
    fuzz_put_ihcl(prefix + 4, false, ihcl, header);
    if (batch)
        prefix[0] |= 0x80;
    text_put(&t, prefix, sizeof(prefix));
    text_printf(&t, "%s\n", query ? query : "");
    if (body != NULL)
        text_put(&t, body->data, body->len);
    int rc = write_text_seed(dir, name, &t);
    free(t.data);
    return rc;
}

static int write_request_seeds(const char *dir, const struct corpus_case *c, size_t index)
{
    char name[256];
    int rc = 0;
    struct text body = text_new(), query = text_new();
    size_t header = 0;
    if (index < FUZZ_PATH_CUSTOM) { /* every GET route once */
        snprintf(name, sizeof(name), "get_%zu", index);
        rc |= write_request_seed(dir, name, "GET", fuzz_paths[index], NULL, false, 0, NULL, NULL);
    }
    /* The native op, JSON and binary. */
    body.len = 0;
    text_printf(&body, "{");
    json_tensor(&body, "value", &c->value_shape, c->value, c->value_count);
    text_printf(&body, ",");
    json_tensor(&body, "filters", &c->filters_shape, c->filters, c->filters_count);
    text_printf(&body, ",\"output_shape\":");
    dims_list(&body, c->output_shape, c->output_shape_len);
    text_printf(&body, ",\"rate\":%lld,\"padding\":\"%s\"}", (long long)c->rate, c->padding);
    snprintf(name, sizeof(name), "%s_op_json", c->name);
    rc |= write_request_seed(dir, name, "POST", "/v1/atrous_conv2d_transpose", "application/json",
                             false, 0, NULL, &body);
    binary_query(&query, c);
    body.len = 0;
    text_put(&body, c->value, c->value_count * sizeof(float));
    text_put(&body, c->filters, c->filters_count * sizeof(float));
    snprintf(name, sizeof(name), "%s_op_binary", c->name);
    rc |= write_request_seed(dir, name, "POST", "/v1/atrous_conv2d_transpose",
                             "application/octet-stream", false, 0, query.data, &body);
    /* KServe: the generic model, and the fuzz model when the value fits it. */
    for (int variant = 0; variant < 4; variant++) {
        bool generic = variant < 2, binary = variant % 2 == 1;
        if (!generic && !fits_fuzz_model(c))
            continue;
        body.len = 0;
        kserve_body(c, generic, binary, &body, &header);
        snprintf(name, sizeof(name), "%s_v2_%s_%s%s", c->name, generic ? "generic" : "model",
                 binary ? "binary" : "json", generic ? "" : "_batch");
        rc |= write_request_seed(
            dir, name, "POST",
            generic ? "/v2/models/atrous_conv2d_transpose/infer" : "/v2/models/m/infer",
            binary ? "application/octet-stream" : "application/json", binary, header, NULL, &body);
    }
    if (fits_fuzz_model(c)) {
        body.len = 0;
        predict_body(c, index % 2 == 1, &body);
        snprintf(name, sizeof(name), "%s_tfs%s", c->name, index % 2 ? "_batch" : "");
        rc |= write_request_seed(dir, name, "POST", "/v1/models/m:predict", "application/json",
                                 false, 0, NULL, &body);
    }
    free(body.data);
    free(query.data);
    return rc;
}

/* Model spellings of URL paths for atrous_model_parse_path (no filters flag: all text). */
static int write_model_path_seeds(const char *dir)
{
    static const char *const paths[] = {"m", "edges/versions/12:predict", "example/versions/0",
                                        "a.b-c_d/infer", "m/versions/1/ready"};
    int rc = 0;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]) && rc == 0; i++) {
        char name[32];
        struct text t = text_new();
        text_put(&t, "", 1);
        text_put(&t, paths[i], strlen(paths[i]));
        snprintf(name, sizeof(name), "path_%zu", i);
        rc = write_text_seed(dir, name, &t);
        free(t.data);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        printf("usage: %s OUT_DIR\nWrites fuzz seed corpora (validate/, json/, binary/, kserve/, "
               "tfserving/, npy/, request/, model_config/) from the conformance corpus in "
               "$ATROUS_TEST_DATA or "
               "%s.\n",
               argv[0], CORPUS_DEFAULT_DIR);
        return argc == 2 ? 0 : 2;
    }
    const char *targets[] = {"validate",  "json", "binary",  "kserve",
                             "tfserving", "npy",  "request", "model_config"};
    char dirs[8][1024];
    mkdir(argv[1], 0755);
    for (int i = 0; i < 8; i++) {
        snprintf(dirs[i], sizeof(dirs[i]), "%s/%s", argv[1], targets[i]);
        mkdir(dirs[i], 0755);
    }
    if (write_model_path_seeds(dirs[7]))
        return 1;
    const char *folders[] = {"valid", "invalid", "quirks"};
    size_t written = 0;
    for (int f = 0; f < 3; f++) {
        char **paths;
        size_t count;
        char why[256];
        if (corpus_list(folders[f], &paths, &count, why, sizeof(why))) {
            fprintf(stderr, "make_seeds: %s\n", why);
            return 1;
        }
        for (size_t i = 0; i < count; i++) {
            struct corpus_case c;
            if (corpus_load(paths[i], &c, why, sizeof(why))) {
                fprintf(stderr, "make_seeds: %s\n", why);
                return 1;
            }
            if (write_validate_seed(dirs[0], &c) || write_json_seed(dirs[1], &c) ||
                write_binary_seed(dirs[2], &c) || write_kserve_seeds(dirs[3], &c) ||
                write_tfserving_seeds(dirs[4], &c) || write_npy_seed(dirs[5], &c, written) ||
                write_request_seeds(dirs[6], &c, written) ||
                write_model_config_seed(dirs[7], &c, written))
                return 1;
            written++;
            corpus_case_free(&c);
        }
        corpus_paths_free(paths, count);
    }
    printf("make_seeds: seeds from %zu corpus cases in %s\n", written, argv[1]);
    return 0;
}
