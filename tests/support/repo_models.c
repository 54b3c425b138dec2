/*
 * repo_models.c - the lifecycle tests' model, its files, its requests and the naive reference.
 */
#include "repo_models.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "corpus.h"
#include "naive_ref.h"

static float value_data[REPO_VALUE];
static bool value_made;

const float *repo_value(void)
{
    if (!value_made) {
        for (size_t i = 0; i < REPO_VALUE; i++)
            value_data[i] = (float)((int)(i * 7 % 11) - 5) / 4.0f;
        value_made = true;
    }
    return value_data;
}

void repo_variant_make(struct repo_variant *v, uint64_t seed, int64_t rate)
{
    /* Filters of the same sign pattern scaled by (1 + seed): outputs of two seeds differ by a
     * factor, so no element agrees within tolerance unless it is zero in both. */
    for (size_t i = 0; i < REPO_FILTERS; i++)
        v->filters[i] = (float)(1 + seed) * ((float)((int)(i * 5 % 9) - 4) / 8.0f + 0.0625f);
    v->rate = rate;
    struct naive_problem p = {
        .value = {REPO_N, REPO_H, REPO_W, REPO_IC},
        .filters = {REPO_KH, REPO_KW, REPO_OC, REPO_IC},
        .rate = rate,
        .same = true,
    };
    naive_ref_output_shape(p.value, p.filters, rate, true, p.output);
    naive_ref_run(&p, repo_value(), v->filters, v->expected);
}

void repo_config_text(char *buf, size_t size, const char *name, const char *version, int64_t rate,
                      const char *extra)
{
    snprintf(buf, size,
             "{\"name\": \"%s\", \"version\": \"%s\", \"rate\": %" PRId64
             ", \"padding\": \"SAME\", "
             "\"filters\": {\"shape\": [%d, %d, %d, %d], \"file\": \"filters.npy\"}%s}\n",
             name, version, rate, REPO_KH, REPO_KW, REPO_OC, REPO_IC, extra);
}

/* Writes bytes to dir/name through dir/.name.tmp and a rename. */
static int write_replacing(const char *dir, const char *name, const void *bytes, size_t len)
{
    char tmp[1200], path[1200];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        return -1;
    size_t done = fwrite(bytes, 1, len, f);
    if (fclose(f) != 0 || done != len)
        return -1;
    return rename(tmp, path);
}

int repo_write_model(const char *root, const char *folder, const char *name, const char *version,
                     int64_t rate, const float *filters, const char *extra)
{
    char dir[1024], config[1024];
    snprintf(dir, sizeof(dir), "%s/%s", root, folder);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    /* numpy's .npy 1.0: magic, version, header length, the dict padded to 128 bytes. */
    unsigned char npy[128 + REPO_FILTERS * sizeof(float)];
    const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }";
    size_t header = 128 - 10;
    memcpy(npy, "\x93NUMPY\x01\x00", 8);
    npy[8] = (unsigned char)header;
    npy[9] = 0;
    memset(npy + 10, ' ', header);
    memcpy(npy + 10, dict, sizeof(dict) - 1);
    npy[127] = '\n';
    memcpy(npy + 128, filters, REPO_FILTERS * sizeof(float));
    repo_config_text(config, sizeof(config), name, version, rate, extra);
    if (write_replacing(dir, "filters.npy", npy, sizeof(npy)) != 0)
        return -1;
    return write_replacing(dir, "config.json", config, strlen(config));
}

int repo_break_filters(const char *root, const char *folder)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/%s", root, folder);
    static const char junk[] = "not a numpy file";
    return write_replacing(dir, "filters.npy", junk, sizeof(junk) - 1);
}

char *repo_infer_body(size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (f == NULL)
        return NULL;
    fprintf(
        f,
        "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [%d, %d, %d, %d], "
        "\"data\": [",
        REPO_N, REPO_H, REPO_W, REPO_IC);
    const float *v = repo_value();
    for (size_t i = 0; i < REPO_VALUE; i++)
        fprintf(f, "%s%.9g", i ? ", " : "", (double)v[i]);
    fprintf(f, "]}]}");
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

int repo_infer(uint16_t port, const char *model, const char *const *headers,
               struct http_client_response *r)
{
    char path[256];
    size_t len = 0;
    char *body = repo_infer_body(&len);
    if (body == NULL)
        return -1;
    const char *with_type[16] = {"Content-Type: application/json"};
    size_t n = 1;
    for (size_t i = 0; headers != NULL && headers[i] != NULL && n < 15; i++)
        with_type[n++] = headers[i];
    with_type[n] = NULL;
    snprintf(path, sizeof(path), "/v2/models/%s/infer", model);
    int rc = http_client_request(port, "POST", path, with_type, body, len, r);
    free(body);
    return rc;
}

int repo_match(const struct http_client_response *r, const struct repo_variant *variants,
               size_t count, char *why, size_t why_size)
{
    json_error_t jerr;
    float got[REPO_OUTPUT];
    int found = -1;
    if (r->status != 200) {
        snprintf(why, why_size, "status %d: %.300s", r->status, r->body ? r->body : "");
        return -1;
    }
    json_t *doc = json_loadb(r->body ? r->body : "", r->body_len, 0, &jerr);
    const json_t *out = json_array_get(json_object_get(doc, "outputs"), 0);
    const json_t *data = json_object_get(out, "data");
    const json_t *shape = json_object_get(out, "shape");
    if (json_array_size(data) != REPO_OUTPUT || json_array_size(shape) != 4 ||
        json_integer_value(json_array_get(shape, 3)) != REPO_OC) {
        snprintf(why, why_size, "not the model's answer: %.300s", r->body ? r->body : "");
        json_decref(doc);
        return -1;
    }
    for (size_t i = 0; i < REPO_OUTPUT; i++)
        got[i] = (float)json_number_value(json_array_get(data, i));
    json_decref(doc);
    for (size_t k = 0; k < count && found < 0; k++) {
        struct corpus_comparison cmp;
        corpus_compare(got, variants[k].expected, REPO_OUTPUT, &cmp);
        if (cmp.failures == 0)
            found = (int)k;
    }
    if (found < 0)
        snprintf(why, why_size, "the answer matches none of the %zu versions (a mix?)", count);
    return found;
}

int repo_post(uint16_t port, const char *path, const char *body, struct http_client_response *r)
{
    const char *headers[] = {"Content-Type: application/json", NULL};
    return http_client_request(port, "POST", path, headers, body ? body : "",
                               body ? strlen(body) : 0, r);
}
