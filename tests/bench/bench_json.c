/*
 * bench_json.c - the JSON codec against jansson, side by side: decoding a request whose
 * tensors hold N floats, and encoding an output of N floats, in floats per second and in peak
 * memory per float. Each contender runs in its own child process so that its peak resident
 * memory (getrusage) is its own.
 *
 *   jansson decode: json_loadb + reading every number of the data arrays as float
 *   ours decode:    atrous_json_decode_request (floats land in the request's tensor storage)
 *   jansson encode: building the output document as a json_t and json_dumps
 *   ours encode:    atrous_json_encode_output
 * Both encoders' outputs are decoded back and compared bit-exactly with the input floats.
 *
 * Then the KServe v2 JSON infer body of a 1x64x64x32 FP32 input (131,072 numbers, flat "data")
 * for a 3x3x32x32 repository model:
 *   jansson v2:     json_loadb (what the codec did before) + reading inputs[0].data as float
 *   atrousd v2:     atrous_kserve_decode_infer (the lean document, floats into the request)
 *
 * Usage: bench_json [--floats N] [--repeat R]
 */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atrous_json.h"
#include "atrous_kserve.h"
#include "atrous_model.h"
#include "bench_v2.h"

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A request document: value [1, n/16, 1, 16] (so n floats) and a 1x1x16x16 filter. */
static char *make_request(const float *data, size_t n, size_t *len)
{
    size_t cap = n * 20 + 4096, used = 0;
    char *doc = malloc(cap);
    used += (size_t)sprintf(doc, "{\"value\":{\"shape\":[1,%zu,1,16],\"data\":[", n / 16);
    for (size_t i = 0; i < n; i++)
        used += (size_t)sprintf(doc + used, "%s%.9g", i ? "," : "", data[i]);
    used += (size_t)sprintf(doc + used, "]},\"filters\":{\"shape\":[1,1,16,16],\"data\":[");
    for (size_t i = 0; i < 256; i++)
        used += (size_t)sprintf(doc + used, "%s0.5", i ? "," : "");
    used += (size_t)sprintf(
        doc + used, "]},\"output_shape\":[1,%zu,1,16],\"rate\":1,\"padding\":\"SAME\"}", n / 16);
    *len = used;
    return doc;
}

static struct atrous_model *v2_model;

struct result {
    double seconds;
    long rss_kb;
    int exact;
};

/* The op body's value.data, or (v2) the KServe body's inputs[0].data, parsed as the KServe
 * codec used to (duplicate keys rejected). */
static void decode_jansson(const char *doc, size_t len, size_t n, float *sink, bool v2)
{
    json_error_t e;
    json_t *root = json_loadb(doc, len, v2 ? JSON_REJECT_DUPLICATES : 0, &e);
    json_t *data = v2 ? json_object_get(json_array_get(json_object_get(root, "inputs"), 0), "data")
                      : json_object_get(json_object_get(root, "value"), "data");
    for (size_t i = 0; i < n; i++)
        sink[i] = (float)json_number_value(json_array_get(data, i));
    json_decref(root);
}

static int decode_ours(const char *doc, size_t len, size_t n, float *sink)
{
    struct atrous_request req;
    struct atrous_error err;
    atrous_request_init(&req);
    if (atrous_json_decode_request(doc, len, NULL, &req, &err) != ATROUS_OK) {
        fprintf(stderr, "bench_json: decode failed: %s\n", err.message);
        exit(1);
    }
    memcpy(sink, req.value, n * sizeof(float));
    atrous_request_release(&req);
    return 0;
}

static void decode_v2_ours(const char *doc, size_t len, size_t n, float *sink)
{
    struct atrous_kserve_request req;
    struct atrous_error err;
    if (atrous_kserve_decode_infer(v2_model, doc, len, NULL, NULL, &req, &err) != ATROUS_OK) {
        fprintf(stderr, "bench_json: v2 decode failed: %s\n", err.message);
        exit(1);
    }
    memcpy(sink, req.op.value, n * sizeof(float));
    atrous_kserve_request_release(&req);
}

static char *encode_jansson(const float *data, size_t n, size_t *len)
{
    json_t *root = json_object(), *out = json_object(), *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_real(data[i]));
    json_object_set_new(out, "shape", json_pack("[iiii]", 1, (int)(n / 16), 1, 16));
    json_object_set_new(out, "dtype", json_string("float32"));
    json_object_set_new(out, "data", arr);
    json_object_set_new(root, "output", out);
    char *text = json_dumps(root, JSON_COMPACT);
    *len = strlen(text);
    json_decref(root);
    return text;
}

static char *encode_ours(const float *data, size_t n, size_t *len)
{
    int64_t dims[4] = {1, (int64_t)(n / 16), 1, 16};
    struct atrous_shape shape;
    atrous_shape_make(&shape, dims, 4, NULL);
    char *text = NULL;
    struct atrous_error err;
    if (atrous_json_encode_output(&shape, data, &text, len, &err) != ATROUS_OK) {
        fprintf(stderr, "bench_json: encode failed: %s\n", err.message);
        exit(1);
    }
    return text;
}

/* Reads back an encoded output's data with jansson (a neutral parser) into got. */
static int read_back(const char *text, size_t len, const float *want, size_t n)
{
    json_error_t e;
    json_t *root = json_loadb(text, len, 0, &e);
    json_t *data = json_object_get(json_object_get(root, "output"), "data");
    int exact = json_array_size(data) == n;
    for (size_t i = 0; exact && i < n; i++) {
        float f = (float)json_number_value(json_array_get(data, i));
        exact = memcmp(&f, &want[i], sizeof(f)) == 0;
    }
    json_decref(root);
    return exact;
}

enum contender {
    DECODE_JANSSON,
    DECODE_OURS,
    ENCODE_JANSSON,
    ENCODE_OURS,
    DECODE_V2_JANSSON,
    DECODE_V2_OURS,
};

static struct result run_child(enum contender who, const float *data, size_t n, const char *doc,
                               size_t doc_len, int repeat)
{
    int fds[2];
    struct result r = {0};
    if (pipe(fds))
        exit(1);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        long base = peak_rss_kb();
        float *sink = malloc(n * sizeof(float));
        memset(sink, 0, n * sizeof(float));
        double best = 1e9;
        int exact = 1;
        char *last = NULL;
        size_t last_len = 0;
        for (int k = 0; k < repeat; k++) {
            free(last);
            last = NULL;
            double t0 = bench_now_seconds();
            switch (who) {
            case DECODE_JANSSON:
                decode_jansson(doc, doc_len, n, sink, false);
                break;
            case DECODE_OURS:
                decode_ours(doc, doc_len, n, sink);
                break;
            case ENCODE_JANSSON:
                last = encode_jansson(data, n, &last_len);
                break;
            case ENCODE_OURS:
                last = encode_ours(data, n, &last_len);
                break;
            case DECODE_V2_JANSSON:
                decode_jansson(doc, doc_len, n, sink, true);
                break;
            case DECODE_V2_OURS:
                decode_v2_ours(doc, doc_len, n, sink);
                break;
            }
            double dt = bench_now_seconds() - t0;
            if (dt < best)
                best = dt;
        }
        /* Peak memory is read before the check, whose jansson parse would dominate it. */
        long rss = peak_rss_kb() - base;
        if (last)
            exact = read_back(last, last_len, data, n);
        else
            exact = memcmp(sink, data, n * sizeof(float)) == 0;
        free(last);
        struct result out = {best, rss, exact};
        if (write(fds[1], &out, sizeof(out)) != sizeof(out))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], &r, sizeof(r)) != sizeof(r))
        r.seconds = NAN;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return r;
}

int main(int argc, char **argv)
{
    size_t n = 1 << 20;
    int repeat = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--floats") && i + 1 < argc)
            n = (size_t)atol(argv[++i]) / 16 * 16;
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else {
            printf("usage: %s [--floats N] [--repeat R]\nJSON codec vs jansson: floats/s and "
                   "peak memory per float.\n",
                   argv[0]);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    float *data = malloc(n * sizeof(float));
    bench_fill(data, n, 0x9e3779b97f4a7c15ULL);
    size_t doc_len;
    char *doc = make_request(data, n, &doc_len);
    printf("json codec: %zu floats (%.1f MB request document), best of %d\n", n, doc_len / 1e6,
           repeat);
    printf("%-10s %-10s %12s %10s %12s %8s %s\n", "operation", "codec", "floats/s", "MB/s",
           "bytes/float", "ratio", "round trip");
    const char *names[] = {"jansson", "atrousd"};
    const char *ops[] = {"decode", "encode", "v2 decode"};
    float *v2_data = malloc(V2_FLOATS * sizeof(float));
    bench_fill(v2_data, V2_FLOATS, 0x9e3779b97f4a7c15ULL);
    size_t v2_len;
    char *v2_doc = bench_v2_body(v2_data, V2_FLOATS, &v2_len);
    v2_model = bench_v2_model();
    for (int op = 0; op < 3; op++) {
        struct result base = {0};
        if (op == 2)
            printf("KServe v2 infer body, value [1,64,64,32]: %d floats (%.1f MB)\n", V2_FLOATS,
                   v2_len / 1e6);
        for (int c = 0; c < 2; c++) {
            enum contender who = (enum contender)(op * 2 + c);
            const size_t count = op == 2 ? V2_FLOATS : n;
            const size_t len = op == 2 ? v2_len : doc_len;
            struct result r = op == 2 ? run_child(who, v2_data, count, v2_doc, len, repeat)
                                      : run_child(who, data, count, doc, len, repeat);
            if (c == 0)
                base = r;
            printf("%-10s %-10s %12.3g %10.1f %12.1f %7.2fx %s\n", ops[op], names[c],
                   count / r.seconds, len / r.seconds / 1e6, r.rss_kb * 1024.0 / (double)count,
                   base.seconds / r.seconds, r.exact ? "bit-exact" : "NOT EXACT");
        }
    }
    atrous_model_free(v2_model);
    free(v2_doc);
    free(v2_data);
    printf("targets: decode >= 5x jansson, encode >= 4x jansson, memory a small multiple of the "
           "4 bytes/float binary size\n");
    free(doc);
    free(data);
    return 0;
}
