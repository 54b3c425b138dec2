/*
 * bench_compress.c - what gzip and deflate cost per MB in the server's own code paths
 * (server/compress.h), side by side with what the same bytes cost without a coding:
 *
 *   request:  a KServe v2 JSON infer body of a 1x64x64x32 FP32 value (131,072 numbers written
 *             %.9g, as bench_json's), compressed as tritonclient does (gzip.compress, level 9;
 *             zlib.compress, level 6), inflated by atrousd_inflate_feed in 16 KiB pieces into a
 *             body that grows as the server's does; anchors: copying the plain body in the same
 *             pieces (the identity path) and decoding it (atrous_kserve_decode_infer)
 *   answer:   the op's JSON answer of 131,072 floats and the same floats as float32 bytes,
 *             deflated by atrousd_deflate (gzip, level ATROUSD_DEFLATE_LEVEL); anchor: encoding
 *             that JSON answer (atrous_json_encode_output)
 *
 * Each row is the best of --repeat runs, in MB/s of uncompressed bytes and ms per MB.
 *
 * Usage: bench_compress [--repeat R] [--bodies DIR]
 *   --bodies DIR also writes the wrk bodies of bench_compress.sh there: v2.json, v2.json.gz,
 *   v2.bin and v2.bin.gz (the binary tensor extension, value in and output out as binary),
 *   v2.ihcl (its JSON header length) and filters.bin (random 3x3x32x32 float32).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atrous_json.h"
#include "atrous_kserve.h"
#include "atrous_model.h"
#include "compress.h"
#include "bench_v2.h"
#include "compress_fixtures.h"

#define FLOATS (64 * 64 * 32)
#define PIECE  ((size_t)16 << 10) /* body bytes per libmicrohttpd callback, about */
#define MB     1e6

/* The server's body buffer: doubling from a first guess (four times the compressed size). */
static bool grow(struct atrousd_inflate_sink *sink, size_t need)
{
    size_t cap = sink->cap ? sink->cap : need;
    while (cap < need)
        cap *= 2;
    if (cap > sink->limit)
        cap = sink->limit;
    unsigned char *p = realloc(sink->data, cap);
    if (p == NULL)
        return false;
    sink->data = p;
    sink->cap = cap;
    return true;
}

/* Inflates packed in PIECE-sized pieces; returns the seconds and checks the result. */
static double inflate_once(enum atrousd_coding coding, const unsigned char *packed, size_t n,
                           const char *plain, size_t plain_len)
{
    struct atrousd_inflate_sink sink = {.limit = (size_t)64 << 20, .reserve = grow};
    double t0 = bench_now_seconds();
    grow(&sink, n * 4);
    struct atrousd_inflate *z = atrousd_inflate_create(coding);
    for (size_t at = 0; at < n; at += PIECE) {
        size_t step = n - at < PIECE ? n - at : PIECE;
        if (atrousd_inflate_feed(z, packed + at, step, &sink) != ATROUSD_INFLATE_OK)
            exit((fprintf(stderr, "bench_compress: inflate failed\n"), 1));
    }
    bool done = atrousd_inflate_finished(z);
    atrousd_inflate_free(z);
    double t = bench_now_seconds() - t0;
    if (!done || sink.len != plain_len || memcmp(sink.data, plain, plain_len) != 0)
        exit((fprintf(stderr, "bench_compress: inflated body differs\n"), 1));
    free(sink.data);
    return t;
}

/* The identity path: the body copied in PIECE-sized pieces into a buffer of its size. */
static double copy_once(const char *plain, size_t len)
{
    double t0 = bench_now_seconds();
    unsigned char *body = malloc(len);
    for (size_t at = 0; at < len; at += PIECE)
        memcpy(body + at, plain + at, len - at < PIECE ? len - at : PIECE);
    double t = bench_now_seconds() - t0;
    if (memcmp(body, plain, len) != 0)
        exit(1);
    free(body);
    return t;
}

static double decode_once(const struct atrous_model *m, const char *doc, size_t len)
{
    struct atrous_kserve_request req;
    struct atrous_error err;
    double t0 = bench_now_seconds();
    if (atrous_kserve_decode_infer(m, doc, len, NULL, NULL, &req, &err) != ATROUS_OK)
        exit((fprintf(stderr, "bench_compress: decode failed: %s\n", err.message), 1));
    atrous_kserve_request_release(&req);
    return bench_now_seconds() - t0;
}

static double deflate_once(const void *in, size_t len, size_t *out_len)
{
    void *out = NULL;
    double t0 = bench_now_seconds();
    if (atrousd_deflate(ATROUSD_CODING_GZIP, in, len, false, &out, out_len) != ATROUSD_DEFLATE_OK)
        exit((fprintf(stderr, "bench_compress: deflate did not shrink\n"), 1));
    double t = bench_now_seconds() - t0;
    free(out);
    return t;
}

static double encode_once(const float *data, size_t n, size_t *len)
{
    struct atrous_shape shape = {.rank = 4, .dims = {1, 64, 64, 32}};
    struct atrous_error err;
    char *body = NULL;
    double t0 = bench_now_seconds();
    if (atrous_json_encode_output(&shape, data, &body, len, &err) != ATROUS_OK || n == 0)
        exit(1);
    double t = bench_now_seconds() - t0;
    free(body);
    return t;
}

static void row(const char *what, size_t bytes, double seconds, const char *note)
{
    printf("%-52s %9.1f %9.2f  %s\n", what, (double)bytes / MB / seconds,
           seconds * 1e3 / ((double)bytes / MB), note);
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "bench_compress: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static int write_bodies(const char *dir, const char *json, size_t json_len, const float *value,
                        const unsigned char *json_gz, size_t json_gz_len)
{
    char hdr[512];
    int hlen = snprintf(hdr, sizeof(hdr),
                        "{\"inputs\":[{\"name\":\"value\",\"datatype\":\"FP32\",\"shape\":"
                        "[1,64,64,32],\"parameters\":{\"binary_data_size\":%zu}}],\"outputs\":"
                        "[{\"name\":\"output\",\"parameters\":{\"binary_data\":true}}]}",
                        (size_t)FLOATS * 4);
    size_t bin_len = (size_t)hlen + FLOATS * 4, bin_gz_len;
    unsigned char *bin = malloc(bin_len);
    memcpy(bin, hdr, (size_t)hlen);
    memcpy(bin + hlen, value, FLOATS * 4);
    unsigned char *bin_gz = fixture_pack(bin, bin_len, FIXTURE_GZIP, 9, &bin_gz_len);
    float filters[3 * 3 * 32 * 32];
    bench_fill(filters, sizeof(filters) / sizeof(filters[0]), 0x51ed270b27f9b1c3ULL);
    char ihcl[32];
    int ilen = snprintf(ihcl, sizeof(ihcl), "%d\n", hlen);
    int rc = write_file(dir, "v2.json", json, json_len) ||
             write_file(dir, "v2.json.gz", json_gz, json_gz_len) ||
             write_file(dir, "v2.bin", bin, bin_len) ||
             write_file(dir, "v2.bin.gz", bin_gz, bin_gz_len) ||
             write_file(dir, "v2.ihcl", ihcl, (size_t)ilen) ||
             write_file(dir, "filters.bin", filters, sizeof(filters));
    free(bin);
    free(bin_gz);
    return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
    int repeat = 5;
    const char *bodies = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--bodies") == 0)
            bodies = argv[i + 1];
    }
    if (repeat < 1)
        repeat = 1;
    float *value = malloc(FLOATS * sizeof(float));
    bench_fill(value, FLOATS, 0x9e3779b97f4a7c15ULL);
    size_t json_len, gz_len, zl_len;
    char *json = bench_v2_body(value, FLOATS, &json_len);
    unsigned char *gz = fixture_pack(json, json_len, FIXTURE_GZIP, 9, &gz_len);
    unsigned char *zl = fixture_pack(json, json_len, FIXTURE_ZLIB, 6, &zl_len);
    if (bodies != NULL && write_bodies(bodies, json, json_len, value, gz, gz_len) != 0)
        return 1;
    struct atrous_model *m = bench_v2_model();
    double t_gz = 1e9, t_zl = 1e9, t_copy = 1e9, t_decode = 1e9;
    double t_deflate_json = 1e9, t_deflate_bin = 1e9, t_encode = 1e9;
    size_t answer_len = 0, answer_gz = 0, bin_gz = 0;
    char *answer = NULL;
    struct atrous_shape shape = {.rank = 4, .dims = {1, 64, 64, 32}};
    struct atrous_error err;
    atrous_json_encode_output(&shape, value, &answer, &answer_len, &err);
    for (int r = 0; r < repeat; r++) {
        double t;
        if ((t = inflate_once(ATROUSD_CODING_GZIP, gz, gz_len, json, json_len)) < t_gz)
            t_gz = t;
        if ((t = inflate_once(ATROUSD_CODING_DEFLATE, zl, zl_len, json, json_len)) < t_zl)
            t_zl = t;
        if ((t = copy_once(json, json_len)) < t_copy)
            t_copy = t;
        if ((t = decode_once(m, json, json_len)) < t_decode)
            t_decode = t;
        if ((t = deflate_once(answer, answer_len, &answer_gz)) < t_deflate_json)
            t_deflate_json = t;
        if ((t = deflate_once(value, FLOATS * 4, &bin_gz)) < t_deflate_bin)
            t_deflate_bin = t;
        size_t len;
        if ((t = encode_once(value, FLOATS, &len)) < t_encode)
            t_encode = t;
    }
    char note[160];
    printf("compress: best of %d, one thread; MB = 10^6 bytes of the uncompressed body\n", repeat);
    printf("%-52s %9s %9s  %s\n", "row", "MB/s", "ms/MB", "");
    snprintf(note, sizeof(note), "%.2f MB -> %.2f MB (%.0f %%), %.2fx the decode's time",
             json_len / MB, gz_len / MB, 100.0 * (double)gz_len / (double)json_len,
             t_gz / t_decode);
    row("inflate gzip (level 9) KServe JSON request", json_len, t_gz, note);
    snprintf(note, sizeof(note), "%.2f MB -> %.2f MB, %.2fx the decode's time", json_len / MB,
             zl_len / MB, t_zl / t_decode);
    row("inflate deflate (zlib, level 6) same body", json_len, t_zl, note);
    snprintf(note, sizeof(note), "anchor: the identity path's body copy (inflate gzip %.0fx it)",
             t_gz / t_copy);
    row("copy the plain body (16 KiB pieces)", json_len, t_copy, note);
    row("decode the plain body (atrous_kserve_decode_infer)", json_len, t_decode,
        "anchor: what the body costs anyway");
    snprintf(note, sizeof(note), "%.2f MB -> %.2f MB (%.0f %%), %.2fx the encode's time",
             answer_len / MB, answer_gz / MB, 100.0 * (double)answer_gz / (double)answer_len,
             t_deflate_json / t_encode);
    row("deflate gzip (level 1) JSON answer", answer_len, t_deflate_json, note);
    row("encode the JSON answer (atrous_json_encode_output)", answer_len, t_encode,
        "anchor: what the answer costs anyway");
    snprintf(note, sizeof(note), "%.2f MB -> %.2f MB (%.0f %%): why binary needs asking",
             FLOATS * 4 / MB, bin_gz / MB, 100.0 * (double)bin_gz / (FLOATS * 4.0));
    row("deflate gzip (level 1) float32 answer", FLOATS * 4, t_deflate_bin, note);
    free(answer);
    free(json);
    free(gz);
    free(zl);
    free(value);
    atrous_model_free(m);
    return 0;
}
