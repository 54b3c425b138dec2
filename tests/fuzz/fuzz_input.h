/*
 * fuzz_input.h - the byte encodings the fuzz targets read (validation's tagged numbers below,
 * then the KServe and whole-request prefixes), shared by the targets and the seed maker so that
 * seeds built from the conformance corpus decode to those cases.
 *
 * Numbers are "tagged": a tag byte below FUZZ_TAG_RAW is the value itself (small numbers are
 * what interesting shapes are made of); FUZZ_TAG_RAW is followed by 8 raw little-endian bytes
 * (huge, negative, overflowing). A rank/length byte below FUZZ_RANK_BIAS means 4 (the common
 * case), otherwise (byte - FUZZ_RANK_BIAS) % (limit + 1).
 */
#ifndef TESTS_FUZZ_INPUT_H
#define TESTS_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define FUZZ_TAG_RAW   255
#define FUZZ_RANK_BIAS 200

struct fuzz_reader {
    const uint8_t *data;
    size_t size, pos;
};

static inline uint8_t fuzz_byte(struct fuzz_reader *r)
{
    return r->pos < r->size ? r->data[r->pos++] : 0;
}

static inline int64_t fuzz_number(struct fuzz_reader *r)
{
    uint8_t tag = fuzz_byte(r);
    if (tag != FUZZ_TAG_RAW)
        return tag;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)fuzz_byte(r) << (8 * i);
    int64_t s;
    memcpy(&s, &v, sizeof(s));
    return s;
}

static inline size_t fuzz_count(struct fuzz_reader *r, size_t limit)
{
    uint8_t b = fuzz_byte(r);
    return b < FUZZ_RANK_BIAS ? 4 : (size_t)(b - FUZZ_RANK_BIAS) % (limit + 1);
}

/* Appends the tagged encoding of v to buf at *len (buf must have 9 bytes free). */
static inline void fuzz_put_number(uint8_t *buf, size_t *len, int64_t v)
{
    if (v >= 0 && v < FUZZ_TAG_RAW) {
        buf[(*len)++] = (uint8_t)v;
        return;
    }
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    buf[(*len)++] = FUZZ_TAG_RAW;
    for (int i = 0; i < 8; i++)
        buf[(*len)++] = (uint8_t)(u >> (8 * i));
}

/* The rank/length byte for count (4 is the common, short form). */
static inline uint8_t fuzz_count_byte(size_t count)
{
    return count == 4 ? 0 : (uint8_t)(FUZZ_RANK_BIAS + count);
}

/*
 * fuzz_kserve: [flags][h0][h1][h2] then the body. flags bit 0: an Inference-Header-Content-Length
 * header is sent; bit 1: the generic model (else the repository model); bit 2: the header's
 * text is the three bytes h0 h1 h2 as they are (else the decimal of h0 | h1 << 8 | h2 << 16).
 */
#define FUZZ_KSERVE_PREFIX   4
#define FUZZ_KSERVE_IHCL     1
#define FUZZ_KSERVE_GENERIC  2
#define FUZZ_KSERVE_IHCL_RAW 4

/* The repository model fuzz_kserve, fuzz_tfserving and fuzz_request serve: filters
 * [3, 3, 4, 2] (element i is ((i * 5) % 9 - 4) / 8, as tests/models/example), rate 2, SAME,
 * named "m", input [-1, -1, -1, 2], max_batch_size 8. */
#define FUZZ_MODEL_NAME "m"
#define FUZZ_MODEL_IC   2

/*
 * fuzz_request: [method][path][content type][accept][ihcl flags][h0][h1][h2], then, when the path
 * byte picks FUZZ_PATH_CUSTOM, the path up to '\n'; then the query string up to '\n' (may be
 * empty: "\n"); then the body. Bytes index the tables below modulo their size (the method byte's
 * low 7 bits; its high bit also runs the request as a batch); the ihcl flags are fuzz_kserve's.
 */
#define FUZZ_REQUEST_PREFIX 8
static const char *const fuzz_methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"};
static const char *const fuzz_paths[] = {
    "/v2/models/m/infer",
    "/v2/models/atrous_conv2d_transpose/infer",
    "/v2/models/m/versions/1/infer",
    "/v1/models/m:predict",
    "/v1/models/m/versions/1:predict",
    "/v1/atrous_conv2d_transpose",
    "/v2/models/m",
    "/v2/models/m/ready",
    "/v2/models/m/config",
    "/v2/models/atrous_conv2d_transpose",
    "/v2/health/ready",
    "/v2/health/live",
    "/v2",
    "/v1/models/m",
    "/v1/models/m/metadata",
    "/v1/info",
    "/metrics",
    "/healthz",
    "/readyz",
    NULL, /* FUZZ_PATH_CUSTOM: the path follows in the input */
};
#define FUZZ_PATH_COUNT  (sizeof(fuzz_paths) / sizeof(fuzz_paths[0]))
#define FUZZ_PATH_CUSTOM (FUZZ_PATH_COUNT - 1)
static const char *const fuzz_content_types[] = {NULL,
                                                 "application/json",
                                                 "application/octet-stream",
                                                 "application/x-www-form-urlencoded",
                                                 "text/html",
                                                 "application/json; charset=utf-8"};
static const char *const fuzz_accepts[] = {NULL, "application/json", "application/octet-stream",
                                           "*/*", "application/xml"};
#define FUZZ_TABLE_COUNT(t) (sizeof(t) / sizeof((t)[0]))

/*
 * fuzz_model_config: [flags] then the config text; with FUZZ_MODEL_CONFIG_FILTERS, the text ends
 * at the first NUL byte and the filters file's bytes follow it (else the whole rest is the text,
 * NUL bytes included). The flags index fuzz_folder_names modulo its size: the folder name the
 * model's name defaults to.
 */
#define FUZZ_MODEL_CONFIG_PREFIX  1
#define FUZZ_MODEL_CONFIG_FILTERS 0x80
static const char *const fuzz_folder_names[] = {
    "m",
    "edges.v2",
    "",
    ".hidden",
    "-dash",
    "atrous_conv2d_transpose",
    "a/b",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",  /* 64: the longest */
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65: one too many */
};

/* The index of s in a table (for the seed maker), or 0. */
static inline uint8_t fuzz_table_index(const char *const *table, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i] != NULL && s != NULL && strcmp(table[i], s) == 0)
            return (uint8_t)i;
    }
    return 0;
}

/* The Inference-Header-Content-Length value flags and h0..h2 ask for (buf: 16 bytes), or NULL. */
static inline const char *fuzz_ihcl(const uint8_t *prefix4, char *buf)
{
    if (!(prefix4[0] & FUZZ_KSERVE_IHCL))
        return NULL;
    if (prefix4[0] & FUZZ_KSERVE_IHCL_RAW) {
        memcpy(buf, prefix4 + 1, 3);
        buf[3] = '\0';
        return buf;
    }
    unsigned v = prefix4[1] | (unsigned)prefix4[2] << 8 | (unsigned)prefix4[3] << 16;
    snprintf(buf, 16, "%u", v);
    return buf;
}

/* Writes the four prefix bytes of a KServe input with a header of length len (or none). */
static inline void fuzz_put_ihcl(uint8_t *out4, bool generic, bool has, size_t len)
{
    out4[0] = (uint8_t)((has ? FUZZ_KSERVE_IHCL : 0) | (generic ? FUZZ_KSERVE_GENERIC : 0));
    out4[1] = (uint8_t)len;
    out4[2] = (uint8_t)(len >> 8);
    out4[3] = (uint8_t)(len >> 16);
}

#endif
