/*
 * spec_client.c - see spec_client.h. Written from the public specifications only.
 */
#include "spec_client.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SC_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

static void say(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_size, const char *fmt, ...)
{
    if (why == NULL || why_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
}

/* --- HTTP --------------------------------------------------------------------------------- */

int sc_get(uint16_t port, const char *path, struct http_client_response *out)
{
    return http_client_request(port, "GET", path, NULL, NULL, 0, out);
}

int sc_post_raw(uint16_t port, const char *path, const char *content_type, const void *body,
                size_t len, struct http_client_response *out)
{
    char ct[128];
    const char *headers[2] = {NULL, NULL};
    if (content_type != NULL) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        headers[0] = ct;
    }
    return http_client_request(port, "POST", path, headers, body != NULL ? body : "", len, out);
}

int sc_post_json(uint16_t port, const char *path, const json_t *body,
                 struct http_client_response *out)
{
    char *text = json_dumps(body, SC_JSON_FLAGS);
    if (text == NULL)
        return -1;
    int rc = sc_post_raw(port, path, "application/json", text, strlen(text), out);
    free(text);
    return rc;
}

int sc_post_binary(uint16_t port, const char *path, const char *content_type, const json_t *header,
                   const struct sc_chunk *chunks, size_t chunk_count,
                   struct http_client_response *out)
{
    char *text = json_dumps(header, SC_JSON_FLAGS);
    if (text == NULL)
        return -1;
    size_t json_len = strlen(text);
    size_t total = json_len;
    for (size_t i = 0; i < chunk_count; i++)
        total += chunks[i].len;
    char *body = malloc(total + 1);
    if (body == NULL) {
        free(text);
        return -1;
    }
    memcpy(body, text, json_len);
    size_t at = json_len;
    for (size_t i = 0; i < chunk_count; i++) {
        if (chunks[i].len > 0)
            memcpy(body + at, chunks[i].data, chunks[i].len);
        at += chunks[i].len;
    }
    free(text);
    char ihcl[96];
    snprintf(ihcl, sizeof(ihcl), "Inference-Header-Content-Length: %zu", json_len);
    char ct[128];
    const char *headers[3] = {ihcl, NULL, NULL};
    if (content_type != NULL) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        headers[1] = ct;
    }
    int rc = http_client_request(port, "POST", path, headers, body, total, out);
    free(body);
    return rc;
}

json_t *sc_body_json(const struct http_client_response *r, char *why, size_t why_size)
{
    if (r->body == NULL || r->body_len == 0) {
        say(why, why_size, "the body is empty, a JSON object was expected");
        return NULL;
    }
    json_error_t err;
    json_t *v = json_loadb(r->body, r->body_len, 0, &err);
    if (v == NULL)
        say(why, why_size, "the body is not JSON (%s at %d): %.200s", err.text, err.position,
            r->body);
    return v;
}

int sc_check_error_body(const struct http_client_response *r, char *why, size_t why_size)
{
    if (r->status < 400) {
        say(why, why_size, "status %d is not an HTTP error status; body: %.300s", r->status,
            r->body != NULL ? r->body : "");
        return -1;
    }
    json_t *v = sc_body_json(r, why, why_size);
    if (v == NULL)
        return -1;
    const json_t *e = json_is_object(v) ? json_object_get(v, "error") : NULL;
    int rc = 0;
    if (!json_is_string(e)) {
        say(why, why_size, "status %d but the body has no \"error\" string: %.300s", r->status,
            r->body);
        rc = -1;
    } else if (json_string_length(e) == 0) {
        say(why, why_size, "status %d with an empty \"error\" message", r->status);
        rc = -1;
    }
    json_decref(v);
    return rc;
}

/* --- v2 inference requests ---------------------------------------------------------------- */

static json_t *shape_json(const int64_t *shape, int rank)
{
    json_t *a = json_array();
    for (int i = 0; i < rank; i++)
        json_array_append_new(a, json_integer(shape[i]));
    return a;
}

static json_t *tensor_head(const char *name, const char *datatype, const int64_t *shape, int rank)
{
    json_t *t = json_object();
    json_object_set_new(t, "name", json_string(name));
    json_object_set_new(t, "shape", shape_json(shape, rank));
    json_object_set_new(t, "datatype", json_string(datatype));
    return t;
}

json_t *sc_input_fp32(const char *name, const int64_t *shape, int rank, const float *data,
                      size_t count)
{
    json_t *t = tensor_head(name, "FP32", shape, rank);
    json_t *d = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(d, json_real((double)data[i]));
    json_object_set_new(t, "data", d);
    return t;
}

json_t *sc_input_int(const char *name, const char *datatype, const int64_t *shape, int rank,
                     const int64_t *data, size_t count)
{
    json_t *t = tensor_head(name, datatype, shape, rank);
    json_t *d = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(d, json_integer(data[i]));
    json_object_set_new(t, "data", d);
    return t;
}

json_t *sc_input_strings(const char *name, const int64_t *shape, int rank,
                         const char *const *strings, size_t count)
{
    json_t *t = tensor_head(name, "BYTES", shape, rank);
    json_t *d = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(d, json_string(strings[i]));
    json_object_set_new(t, "data", d);
    return t;
}

json_t *sc_input_binary(const char *name, const char *datatype, const int64_t *shape, int rank,
                        size_t bytes)
{
    json_t *t = tensor_head(name, datatype, shape, rank);
    json_t *p = json_object();
    json_object_set_new(p, "binary_data_size", json_integer((json_int_t)bytes));
    json_object_set_new(t, "parameters", p);
    return t;
}

json_t *sc_output_request(const char *name, int binary)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    if (binary >= 0) {
        json_t *p = json_object();
        json_object_set_new(p, "binary_data", json_boolean(binary != 0));
        json_object_set_new(o, "parameters", p);
    }
    return o;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void *sc_le_fp32(const float *data, size_t count, size_t *len)
{
    unsigned char *b = malloc(count * 4 + 1);
    if (b == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        put_le(b + 4 * i, u, 4);
    }
    *len = count * 4;
    return b;
}

void *sc_le_int32(const int64_t *data, size_t count, size_t *len)
{
    unsigned char *b = malloc(count * 4 + 1);
    if (b == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++)
        put_le(b + 4 * i, (uint32_t)(int32_t)data[i], 4);
    *len = count * 4;
    return b;
}

void *sc_le_int64(const int64_t *data, size_t count, size_t *len)
{
    unsigned char *b = malloc(count * 8 + 1);
    if (b == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++)
        put_le(b + 8 * i, (uint64_t)data[i], 8);
    *len = count * 8;
    return b;
}

void *sc_le_bytes(const char *const *strings, size_t count, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += 4 + strlen(strings[i]);
    unsigned char *b = malloc(total + 1);
    if (b == NULL)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(strings[i]);
        put_le(b + at, (uint32_t)n, 4);
        memcpy(b + at + 4, strings[i], n);
        at += 4 + n;
    }
    *len = total;
    return b;
}

/* --- JSON helpers ------------------------------------------------------------------------- */

int sc_json_int(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || fabs(d) > 9007199254740992.0)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (*s == '\0')
            return -1;
        char *end = NULL;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0' || isspace((unsigned char)*s))
            return -1;
        *out = n;
        return 0;
    }
    return -1;
}

struct flat {
    double *data;
    size_t count, cap;
    int64_t shape[SC_MAX_RANK];
    int rank; /* -1 until the first leaf fixes it */
};

static int flat_walk(const json_t *v, int depth, struct flat *f, char *why, size_t why_size)
{
    if (json_is_array(v)) {
        if (depth >= SC_MAX_RANK) {
            say(why, why_size, "nesting deeper than %d", SC_MAX_RANK);
            return -1;
        }
        size_t n = json_array_size(v);
        if (f->rank >= 0 && depth >= f->rank) {
            say(why, why_size, "ragged nesting: a list where a number was expected");
            return -1;
        }
        if (f->shape[depth] < 0)
            f->shape[depth] = (int64_t)n;
        else if (f->shape[depth] != (int64_t)n) {
            say(why, why_size, "ragged nesting: lists of %" PRId64 " and %zu at depth %d",
                f->shape[depth], n, depth);
            return -1;
        }
        if (n == 0 && f->rank < 0)
            f->rank = depth + 1;
        for (size_t i = 0; i < n; i++) {
            if (flat_walk(json_array_get(v, i), depth + 1, f, why, why_size) != 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_number(v)) {
        say(why, why_size, "a tensor element is not a number");
        return -1;
    }
    if (f->rank < 0)
        f->rank = depth;
    else if (f->rank != depth) {
        say(why, why_size, "ragged nesting: numbers at depths %d and %d", f->rank, depth);
        return -1;
    }
    if (f->count == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 256;
        double *d = realloc(f->data, cap * sizeof(*d));
        if (d == NULL) {
            say(why, why_size, "out of memory");
            return -1;
        }
        f->data = d;
        f->cap = cap;
    }
    f->data[f->count++] = json_number_value(v);
    return 0;
}

int sc_flatten(const json_t *v, double **data, size_t *count, int64_t *shape, int *rank, char *why,
               size_t why_size)
{
    struct flat f = {.rank = -1};
    for (int i = 0; i < SC_MAX_RANK; i++)
        f.shape[i] = -1;
    if (flat_walk(v, 0, &f, why, why_size) != 0) {
        free(f.data);
        return -1;
    }
    if (f.rank < 0)
        f.rank = 0;
    *data = f.data != NULL ? f.data : malloc(sizeof(double));
    *count = f.count;
    *rank = f.rank;
    for (int i = 0; i < f.rank; i++)
        shape[i] = f.shape[i];
    return 0;
}

static json_t *nested_at(const float *data, const int64_t *shape, int rank, size_t *at)
{
    if (rank == 0)
        return json_real((double)data[(*at)++]);
    json_t *a = json_array();
    for (int64_t i = 0; i < shape[0]; i++)
        json_array_append_new(a, nested_at(data, shape + 1, rank - 1, at));
    return a;
}

json_t *sc_nested(const float *data, const int64_t *shape, int rank)
{
    size_t at = 0;
    return nested_at(data, shape, rank, &at);
}

/* --- v2 inference responses --------------------------------------------------------------- */

static int elem_size(const char *datatype)
{
    if (strcmp(datatype, "FP32") == 0 || strcmp(datatype, "INT32") == 0 ||
        strcmp(datatype, "UINT32") == 0)
        return 4;
    if (strcmp(datatype, "FP64") == 0 || strcmp(datatype, "INT64") == 0 ||
        strcmp(datatype, "UINT64") == 0)
        return 8;
    return 0;
}

static double decode_elem(const char *datatype, const unsigned char *p)
{
    if (strcmp(datatype, "FP32") == 0) {
        uint32_t u = (uint32_t)get_le(p, 4);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    if (strcmp(datatype, "FP64") == 0) {
        uint64_t u = get_le(p, 8);
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    if (strcmp(datatype, "INT32") == 0)
        return (int32_t)(uint32_t)get_le(p, 4);
    if (strcmp(datatype, "UINT32") == 0)
        return (uint32_t)get_le(p, 4);
    if (strcmp(datatype, "INT64") == 0)
        return (double)(int64_t)get_le(p, 8);
    return (double)get_le(p, 8);
}

static int parse_header_length(const char *s, size_t *out)
{
    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (size_t)n;
    return 0;
}

static int parse_output(const json_t *o, size_t index, const unsigned char *bin, size_t bin_len,
                        size_t *bin_at, struct sc_tensor *t, char *why, size_t why_size)
{
    const json_t *name = json_object_get(o, "name");
    const json_t *datatype = json_object_get(o, "datatype");
    const json_t *shape = json_object_get(o, "shape");
    const json_t *params = json_object_get(o, "parameters");
    if (!json_is_string(name) || !json_is_string(datatype) || !json_is_array(shape)) {
        say(why, why_size,
            "outputs[%zu] lacks \"name\" ($string), \"datatype\" ($string) or \"shape\" "
            "($array) of $response_output",
            index);
        return -1;
    }
    t->name = strdup(json_string_value(name));
    t->datatype = strdup(json_string_value(datatype));
    if (json_array_size(shape) > SC_MAX_RANK) {
        say(why, why_size, "outputs[%zu].shape has rank %zu", index, json_array_size(shape));
        return -1;
    }
    t->rank = (int)json_array_size(shape);
    size_t expect = 1;
    for (int i = 0; i < t->rank; i++) {
        const json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0) {
            say(why, why_size,
                "outputs[%zu].shape[%d] is not a non-negative integer $number (\"Each "
                "dimension must be an integer representable as an unsigned 64-bit integer\")",
                index, i);
            return -1;
        }
        t->shape[i] = (int64_t)json_integer_value(d);
        expect *= (size_t)t->shape[i];
    }
    if (params != NULL && !json_is_object(params)) {
        say(why, why_size, "outputs[%zu].parameters is not a $parameters object", index);
        return -1;
    }
    const json_t *bds = params != NULL ? json_object_get(params, "binary_data_size") : NULL;
    if (bds != NULL) {
        int64_t size = 0;
        if (!json_is_integer(bds) || (size = (int64_t)json_integer_value(bds)) < 0) {
            say(why, why_size, "outputs[%zu].parameters.binary_data_size is not an int64 >= 0",
                index);
            return -1;
        }
        int es = elem_size(t->datatype);
        if (es == 0) {
            say(why, why_size, "outputs[%zu] has datatype %s, which this client cannot decode",
                index, t->datatype);
            return -1;
        }
        if ((size_t)size != expect * (size_t)es) {
            say(why, why_size,
                "outputs[%zu].binary_data_size is %" PRId64 " but shape x %s size is %zu bytes",
                index, size, t->datatype, expect * (size_t)es);
            return -1;
        }
        if (*bin_at + (size_t)size > bin_len) {
            say(why, why_size,
                "outputs[%zu] says binary_data_size %" PRId64 " but only %zu bytes follow the "
                "JSON object",
                index, size, bin_len - *bin_at);
            return -1;
        }
        t->data = malloc((expect + 1) * sizeof(double));
        if (t->data == NULL)
            return -1;
        for (size_t i = 0; i < expect; i++)
            t->data[i] = decode_elem(t->datatype, bin + *bin_at + i * (size_t)es);
        t->count = expect;
        t->binary = true;
        *bin_at += (size_t)size;
        return 0;
    }
    const json_t *data = json_object_get(o, "data");
    if (data == NULL) {
        say(why, why_size, "outputs[%zu] has neither \"data\" nor parameters.binary_data_size",
            index);
        return -1;
    }
    if (!json_is_array(data)) {
        say(why, why_size,
            "outputs[%zu].data is not a JSON array (\"Tensor data given "
            "explicitly is provided in a JSON array\")",
            index);
        return -1;
    }
    int64_t nshape[SC_MAX_RANK];
    int nrank = 0;
    char inner[256];
    if (sc_flatten(data, &t->data, &t->count, nshape, &nrank, inner, sizeof(inner)) != 0) {
        say(why, why_size, "outputs[%zu].data: %s", index, inner);
        return -1;
    }
    if (t->count != expect) {
        say(why, why_size, "outputs[%zu].data holds %zu elements but its shape says %zu", index,
            t->count, expect);
        return -1;
    }
    return 0;
}

int sc_parse_infer_response(const struct http_client_response *r, struct sc_infer_response *out,
                            char *why, size_t why_size)
{
    memset(out, 0, sizeof(*out));
    const char *ihcl = http_client_header(r, "Inference-Header-Content-Length");
    size_t body_len = r->body != NULL ? r->body_len : 0;
    size_t json_len = body_len;
    if (ihcl != NULL) {
        out->has_header_length = true;
        if (parse_header_length(ihcl, &json_len) != 0 || json_len > body_len) {
            say(why, why_size,
                "Inference-Header-Content-Length \"%s\" is not a length within the %zu-byte "
                "body",
                ihcl, body_len);
            return -1;
        }
    }
    if (json_len == 0) {
        say(why, why_size, "the response has no JSON object");
        return -1;
    }
    json_error_t err;
    out->json = json_loadb(r->body, json_len, 0, &err);
    if (out->json == NULL || !json_is_object(out->json)) {
        say(why, why_size,
            "the first %zu bytes (%s) are not a JSON object (%s at %d); Content-Type: %s", json_len,
            ihcl != NULL ? "Inference-Header-Content-Length" : "the whole body",
            out->json == NULL ? err.text : "not an object", out->json == NULL ? err.position : 0,
            http_client_header(r, "Content-Type") ? http_client_header(r, "Content-Type")
                                                  : "(none)");
        return -1;
    }
    out->json_len = json_len;
    out->binary_len = body_len - json_len;
    const json_t *outputs = json_object_get(out->json, "outputs");
    if (!json_is_array(outputs)) {
        say(why, why_size, "the inference response has no \"outputs\" array: %.300s", r->body);
        return -1;
    }
    out->output_count = json_array_size(outputs);
    out->outputs = calloc(out->output_count + 1, sizeof(*out->outputs));
    if (out->outputs == NULL)
        return -1;
    const unsigned char *bin = (const unsigned char *)r->body + json_len;
    size_t bin_at = 0;
    for (size_t i = 0; i < out->output_count; i++) {
        const json_t *o = json_array_get(outputs, i);
        if (!json_is_object(o)) {
            say(why, why_size, "outputs[%zu] is not a $response_output object", i);
            return -1;
        }
        if (parse_output(o, i, bin, out->binary_len, &bin_at, &out->outputs[i], why, why_size) != 0)
            return -1;
    }
    if (bin_at != out->binary_len) {
        say(why, why_size,
            "%zu bytes follow the JSON object but the outputs' binary_data_size add up to %zu",
            out->binary_len, bin_at);
        return -1;
    }
    return 0;
}

void sc_infer_response_free(struct sc_infer_response *r)
{
    for (size_t i = 0; r->outputs != NULL && i < r->output_count; i++) {
        free(r->outputs[i].name);
        free(r->outputs[i].datatype);
        free(r->outputs[i].data);
    }
    free(r->outputs);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

const struct sc_tensor *sc_find_output(const struct sc_infer_response *r, const char *name)
{
    for (size_t i = 0; i < r->output_count; i++) {
        if (r->outputs[i].name != NULL && strcmp(r->outputs[i].name, name) == 0)
            return &r->outputs[i];
    }
    return NULL;
}

/* --- conformance cases -------------------------------------------------------------------- */

static int read_shape4(const json_t *a, int64_t *shape, char *why, size_t why_size,
                       const char *what)
{
    if (!json_is_array(a) || json_array_size(a) != 4) {
        say(why, why_size, "%s is not a list of 4 numbers", what);
        return -1;
    }
    for (size_t i = 0; i < 4; i++) {
        if (!json_is_integer(json_array_get(a, i))) {
            say(why, why_size, "%s[%zu] is not an integer", what, i);
            return -1;
        }
        shape[i] = (int64_t)json_integer_value(json_array_get(a, i));
    }
    return 0;
}

static int read_tensor(const json_t *t, int64_t *shape, float **data, size_t *count, char *why,
                       size_t why_size, const char *what)
{
    if (!json_is_object(t) ||
        read_shape4(json_object_get(t, "shape"), shape, why, why_size, what) != 0)
        return -1;
    const json_t *d = json_object_get(t, "data");
    size_t n = 1;
    for (int i = 0; i < 4; i++)
        n *= (size_t)shape[i];
    if (!json_is_array(d) || json_array_size(d) != n) {
        say(why, why_size, "%s.data does not hold %zu numbers", what, n);
        return -1;
    }
    *data = malloc((n + 1) * sizeof(float));
    if (*data == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        (*data)[i] = (float)json_number_value(json_array_get(d, i));
    *count = n;
    return 0;
}

int sc_case_load(const char *dir, const char *name, struct sc_case *out, char *why, size_t why_size)
{
    memset(out, 0, sizeof(*out));
    char path[4096];
    snprintf(path, sizeof(path), "%s/valid", dir);
    /* The folder's files are NNN_<name>.json: find ours by its name. */
    DIR *d = opendir(path);
    if (d == NULL) {
        say(why, why_size, "cannot list %s: %s", path, strerror(errno));
        return -1;
    }
    char found[512] = "";
    char want[300];
    snprintf(want, sizeof(want), "_%s.json", name);
    size_t wl = strlen(want);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        size_t ll = strlen(e->d_name);
        if (ll >= wl && strcmp(e->d_name + ll - wl, want) == 0)
            snprintf(found, sizeof(found), "%s", e->d_name);
    }
    closedir(d);
    if (found[0] == '\0') {
        say(why, why_size, "no case %s in %s", name, path);
        return -1;
    }
    char file[4700];
    snprintf(file, sizeof(file), "%s/%s", path, found);
    json_error_t err;
    json_t *c = json_load_file(file, 0, &err);
    if (c == NULL) {
        say(why, why_size, "%s: %s", file, err.text);
        return -1;
    }
    int rc = -1;
    const json_t *rate = json_object_get(c, "rate");
    const json_t *padding = json_object_get(c, "padding");
    const json_t *expected = json_object_get(c, "expected");
    if (read_tensor(json_object_get(c, "value"), out->value_shape, &out->value, &out->value_count,
                    why, why_size, "value") != 0 ||
        read_tensor(json_object_get(c, "filters"), out->filters_shape, &out->filters,
                    &out->filters_count, why, why_size, "filters") != 0 ||
        read_shape4(json_object_get(c, "output_shape"), out->output_shape, why, why_size,
                    "output_shape") != 0 ||
        read_tensor(expected, out->expected_shape, &out->expected, &out->expected_count, why,
                    why_size, "expected") != 0)
        goto done;
    if (!json_is_integer(rate) || !json_is_string(padding)) {
        say(why, why_size, "%s: rate or padding missing", file);
        goto done;
    }
    out->rate = (int64_t)json_integer_value(rate);
    out->padding = strdup(json_string_value(padding));
    out->name = strdup(name);
    rc = 0;
done:
    json_decref(c);
    return rc;
}

void sc_case_free(struct sc_case *c)
{
    free(c->name);
    free(c->value);
    free(c->filters);
    free(c->padding);
    free(c->expected);
    memset(c, 0, sizeof(*c));
}

int sc_compare(const int64_t *shape, int rank, const double *got, size_t count,
               const struct sc_case *c, char *why, size_t why_size)
{
    bool same = rank == 4;
    for (int i = 0; same && i < 4; i++)
        same = shape[i] == c->expected_shape[i];
    if (!same) {
        char s[128] = "";
        size_t at = 0;
        for (int i = 0; i < rank && at < sizeof(s); i++)
            at += (size_t)snprintf(s + at, sizeof(s) - at, "%s%" PRId64, i ? "," : "", shape[i]);
        say(why, why_size,
            "output shape [%s], expected [%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "]", s,
            c->expected_shape[0], c->expected_shape[1], c->expected_shape[2], c->expected_shape[3]);
        return -1;
    }
    if (count != c->expected_count) {
        say(why, why_size, "%zu output elements, expected %zu", count, c->expected_count);
        return -1;
    }
    size_t bad = 0, first = 0;
    double worst = 0;
    for (size_t i = 0; i < count; i++) {
        double e = c->expected[i];
        double err = fabs(got[i] - e) / (1e-4 + 1e-4 * fabs(e));
        if (!isfinite(got[i]) || !(err <= 1.0)) {
            if (bad++ == 0)
                first = i;
        }
        if (isfinite(err) && err > worst)
            worst = err;
    }
    if (bad > 0) {
        say(why, why_size,
            "%zu of %zu elements outside |got-exp| <= 1e-4 + 1e-4*|exp|; first at %zu: got %.9g, "
            "expected %.9g",
            bad, count, first, got[first], (double)c->expected[first]);
        return -1;
    }
    return 0;
}

/* --- .npy --------------------------------------------------------------------------------- */

int sc_write_npy_f32(const char *path, const int64_t *shape, int rank, const float *data, char *why,
                     size_t why_size)
{
    char dict[256];
    size_t at = (size_t)snprintf(dict, sizeof(dict),
                                 "{'descr': '<f4', 'fortran_order': False, "
                                 "'shape': (");
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        at += (size_t)snprintf(dict + at, sizeof(dict) - at, "%" PRId64 "%s", shape[i],
                               rank == 1 ? "," : (i + 1 < rank ? ", " : ""));
        n *= (size_t)shape[i];
    }
    at += (size_t)snprintf(dict + at, sizeof(dict) - at, "), }");
    /* magic (6) + version (2) + header length (2) + dict + padding + '\n' = multiple of 64 */
    size_t total = 10 + at + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t header_len = at + pad + 1;
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        say(why, why_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char pre[10] = {0x93,
                             'N',
                             'U',
                             'M',
                             'P',
                             'Y',
                             1,
                             0,
                             (unsigned char)(header_len & 0xff),
                             (unsigned char)(header_len >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, at, f) == at;
    for (size_t i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t len = 0;
    void *le = sc_le_fp32(data, n, &len);
    ok = ok && le != NULL && fwrite(le, 1, len, f) == len;
    free(le);
    if (fclose(f) != 0)
        ok = 0;
    if (!ok) {
        say(why, why_size, "%s: write failed", path);
        return -1;
    }
    return 0;
}
