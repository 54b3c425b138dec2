/*
 * compress.c - content codings with zlib: Content-Encoding and Accept-Encoding parsing, a
 * streaming inflater bounded by the body limit, and a one-shot deflater for answers.
 */
#define ZLIB_CONST /* next_in is const */
#include "compress.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "media.h"

/* zlib counts in uInt: buffers are handed to it in steps of at most this. */
#define ZLIB_STEP ((size_t)1 << 30)

/* zlib's windowBits: 15 (32 KiB window) for the zlib format, +16 for gzip, negative for raw
 * deflate. */
#define WBITS_ZLIB 15
#define WBITS_GZIP (15 + 16)
#define WBITS_RAW  (-15)

const char *atrousd_coding_name(enum atrousd_coding coding)
{
    switch (coding) {
    case ATROUSD_CODING_GZIP:
        return "gzip";
    case ATROUSD_CODING_DEFLATE:
        return "deflate";
    case ATROUSD_CODING_IDENTITY:
        break;
    }
    return "identity";
}

/* The element [p, end) trimmed of spaces and tabs. */
static void trim(const char **p, const char **end)
{
    while (*p < *end && (**p == ' ' || **p == '\t'))
        (*p)++;
    while (*end > *p && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
        (*end)--;
}

static bool token_is(const char *p, const char *end, const char *name)
{
    size_t n = strlen(name);
    return (size_t)(end - p) == n && strncasecmp(p, name, n) == 0;
}

/* The coding a token names: 0..2 as enum atrousd_coding, 3 for "*", -1 for anything else. */
#define TOKEN_STAR 3
static int token_coding(const char *p, const char *end)
{
    if (token_is(p, end, "gzip") || token_is(p, end, "x-gzip"))
        return ATROUSD_CODING_GZIP;
    if (token_is(p, end, "deflate"))
        return ATROUSD_CODING_DEFLATE;
    if (token_is(p, end, "identity"))
        return ATROUSD_CODING_IDENTITY;
    if (token_is(p, end, "*"))
        return TOKEN_STAR;
    return -1;
}

bool atrousd_coding_parse(const char *content_encoding, enum atrousd_coding *out)
{
    *out = ATROUSD_CODING_IDENTITY;
    if (content_encoding == NULL)
        return true;
    const char *p = content_encoding, *end = p + strlen(p);
    unsigned applied = 0;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end, *start = p;
        trim(&start, &stop);
        int c = token_coding(start, stop);
        if (start < stop && c != ATROUSD_CODING_IDENTITY) {
            if (c < 0 || c == TOKEN_STAR || applied++ > 0)
                return false;
            *out = (enum atrousd_coding)c;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return true;
}

void atrousd_accept_encoding_parse(const char *value, struct atrousd_accept_encoding *out)
{
    memset(out, 0, sizeof(*out));
    out->q[ATROUSD_CODING_IDENTITY] = 1;
    if (value == NULL)
        return; /* absent: anything goes, and identity is what a server sends */
    out->present = true;
    double listed[4] = {-1, -1, -1, -1}; /* per token_coding; -1: not listed */
    const char *p = value, *end = p + strlen(p);
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *params = memchr(p, ';', (size_t)(stop - p));
        const char *name = p, *name_end = params ? params : stop;
        trim(&name, &name_end);
        int c = token_coding(name, name_end);
        double q = atrousd_media_quality(params ? params : stop, stop);
        if (c >= 0 && q >= 0 && q > listed[c])
            listed[c] = q; /* a coding listed twice counts with its best q */
        p = comma ? comma + 1 : end;
    }
    /* RFC 9110 12.5.3: "*" stands for every coding not listed; identity is acceptable unless
     * it or "*" says q=0, and a coding nobody listed is not acceptable. */
    for (int c = 0; c < 3; c++) {
        out->named[c] = listed[c] >= 0;
        if (out->named[c])
            out->q[c] = listed[c];
        else if (listed[TOKEN_STAR] >= 0)
            out->q[c] = listed[TOKEN_STAR];
        else
            out->q[c] = c == ATROUSD_CODING_IDENTITY ? 1 : 0;
    }
    out->identity_ranked = out->named[ATROUSD_CODING_IDENTITY] || listed[TOKEN_STAR] >= 0;
}

bool atrousd_coding_choose(const struct atrousd_accept_encoding *ae, size_t len, size_t min_bytes,
                           bool binary, enum atrousd_coding *out)
{
    const bool identity_ok = ae->q[ATROUSD_CODING_IDENTITY] > 0;
    enum atrousd_coding best = ATROUSD_CODING_IDENTITY;
    double best_q = 0;
    /* gzip first, so that it wins a tie. */
    const enum atrousd_coding order[2] = {ATROUSD_CODING_GZIP, ATROUSD_CODING_DEFLATE};
    for (int i = 0; i < 2; i++) {
        enum atrousd_coding c = order[i];
        bool usable = ae->q[c] > 0 && (!binary || ae->named[c] || !identity_ok);
        if (usable && ae->q[c] > best_q) {
            best = c;
            best_q = ae->q[c];
        }
    }
    *out = ATROUSD_CODING_IDENTITY;
    if (!identity_ok) {
        *out = best;
        return best != ATROUSD_CODING_IDENTITY;
    }
    if (!ae->present || best == ATROUSD_CODING_IDENTITY || min_bytes == 0 || len < min_bytes)
        return true;
    /* "gzip;q=0.5, identity" prefers identity; an identity nobody ranked loses to any coding
     * the client listed. */
    if (ae->identity_ranked && best_q < ae->q[ATROUSD_CODING_IDENTITY])
        return true;
    *out = best;
    return true;
}

/* --- Inflate --- */

struct atrousd_inflate {
    z_stream zs;
    enum atrousd_coding coding;
    bool started;          /* inflateInit2 done (after the first two bytes) */
    bool ended;            /* the current stream (gzip member) ended */
    bool gzip_format;      /* the data is gzip: more members may follow */
    bool failed;           /* an error was returned; nothing more is taken */
    unsigned members;      /* gzip members ended */
    unsigned char head[2]; /* the first bytes, while the format is not yet known */
    size_t head_len;
    const char *error; /* why the data was refused (static) */
};

struct atrousd_inflate *atrousd_inflate_create(enum atrousd_coding coding)
{
    struct atrousd_inflate *z = calloc(1, sizeof(*z));
    if (z != NULL)
        z->coding = coding;
    return z;
}

void atrousd_inflate_free(struct atrousd_inflate *z)
{
    if (z == NULL)
        return;
    if (z->started)
        inflateEnd(&z->zs);
    free(z);
}

static enum atrousd_inflate_status fail(struct atrousd_inflate *z, enum atrousd_inflate_status st,
                                        const char *why)
{
    z->failed = true;
    z->error = why;
    return st;
}

/* The zlib format's two-byte header (RFC 1950 2.2): method 8, window up to 32 KiB, check
 * bits making the pair a multiple of 31. */
static bool zlib_header(const unsigned char h[2])
{
    return (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((h[0] << 8) | h[1]) % 31 == 0;
}

/* Picks the format from the first two bytes and starts zlib. */
static enum atrousd_inflate_status start(struct atrousd_inflate *z)
{
    int wbits;
    z->gzip_format = z->head[0] == 0x1f && z->head[1] == 0x8b;
    if (z->gzip_format)
        wbits = WBITS_GZIP;
    else if (zlib_header(z->head))
        wbits = WBITS_ZLIB; /* "deflate" as RFC 9110 means it; also taken as gzip (Triton) */
    else if (z->coding == ATROUSD_CODING_DEFLATE)
        wbits = WBITS_RAW; /* "deflate" as some clients send it */
    else
        return fail(z, ATROUSD_INFLATE_BAD_DATA, "not gzip data (no gzip header)");
    int ret = inflateInit2(&z->zs, wbits);
    if (ret == Z_MEM_ERROR)
        return fail(z, ATROUSD_INFLATE_NO_MEMORY, "out of memory");
    if (ret != Z_OK)
        return fail(z, ATROUSD_INFLATE_BAD_DATA, "the decoder could not start");
    z->started = true;
    return ATROUSD_INFLATE_OK;
}

/* Inflates [in, in + len) into the sink. */
static enum atrousd_inflate_status run(struct atrousd_inflate *z, const unsigned char *in,
                                       size_t len, struct atrousd_inflate_sink *sink)
{
    z_stream *zs = &z->zs;
    for (;;) {
        if (zs->avail_in == 0 && len > 0) {
            size_t step = len < ZLIB_STEP ? len : ZLIB_STEP;
            zs->next_in = in;
            zs->avail_in = (uInt)step;
            in += step;
            len -= step;
        }
        if (z->ended) {
            if (zs->avail_in == 0)
                return ATROUSD_INFLATE_OK;
            if (!z->gzip_format)
                return fail(z, ATROUSD_INFLATE_BAD_DATA,
                            "bytes follow the end of the compressed data");
            inflateReset(zs); /* the next gzip member */
            z->ended = false;
        }
        size_t room_to = sink->cap < sink->limit ? sink->cap : sink->limit;
        unsigned char probe;
        bool probing = false;
        if (sink->len >= room_to) {
            if (sink->len >= sink->limit) {
                /* At the limit: one more byte of output would be over it. */
                probing = true;
            } else {
                if (!sink->reserve(sink, sink->len + 1))
                    return fail(z, ATROUSD_INFLATE_NO_ROOM, "no room for the body");
                room_to = sink->cap < sink->limit ? sink->cap : sink->limit;
            }
        }
        size_t room = probing ? 1 : room_to - sink->len;
        if (room > ZLIB_STEP)
            room = ZLIB_STEP;
        zs->next_out = probing ? &probe : sink->data + sink->len;
        zs->avail_out = (uInt)room;
        int ret = inflate(zs, Z_NO_FLUSH);
        size_t produced = room - zs->avail_out;
        if (probing && produced > 0)
            return fail(z, ATROUSD_INFLATE_OVER_LIMIT, "the body inflates past the limit");
        sink->len += produced;
        switch (ret) {
        case Z_STREAM_END:
            z->ended = true;
            z->members++;
            continue;
        case Z_OK:
        case Z_BUF_ERROR: /* no progress possible: out of input or of room */
            if (zs->avail_out > 0 && zs->avail_in == 0 && len == 0)
                return ATROUSD_INFLATE_OK;
            continue; /* more room (or the next step of input) is needed */
        case Z_MEM_ERROR:
            return fail(z, ATROUSD_INFLATE_NO_MEMORY, "out of memory");
        default: /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
            if (z->members > 0)
                return fail(z, ATROUSD_INFLATE_BAD_DATA,
                            "bytes after the end of the gzip data are not another gzip member");
            return fail(z, ATROUSD_INFLATE_BAD_DATA,
                        zs->msg ? zs->msg : "the data is not valid for its coding");
        }
    }
}

enum atrousd_inflate_status atrousd_inflate_feed(struct atrousd_inflate *z, const void *data,
                                                 size_t len, struct atrousd_inflate_sink *sink)
{
    const unsigned char *in = data;
    if (z->failed)
        return ATROUSD_INFLATE_BAD_DATA;
    if (!z->started) {
        while (z->head_len < 2 && len > 0) {
            z->head[z->head_len++] = *in++;
            len--;
        }
        if (z->head_len < 2)
            return ATROUSD_INFLATE_OK;
        enum atrousd_inflate_status st = start(z);
        if (st != ATROUSD_INFLATE_OK)
            return st;
        z->zs.avail_in = 0;
        if ((st = run(z, z->head, 2, sink)) != ATROUSD_INFLATE_OK)
            return st;
    }
    return run(z, in, len, sink);
}

bool atrousd_inflate_finished(const struct atrousd_inflate *z)
{
    return z->ended && !z->failed;
}

const char *atrousd_inflate_error(const struct atrousd_inflate *z)
{
    if (z->error)
        return z->error;
    return z->ended ? "no error" : "the compressed data ends early (truncated)";
}

/* --- Deflate --- */

enum atrousd_deflate_status atrousd_deflate(enum atrousd_coding coding, const void *in, size_t len,
                                            bool must, void **out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    *out = NULL;
    *out_len = 0;
    if (len == 0 || (!must && len < 2))
        return ATROUSD_DEFLATE_NOT_SMALLER;
    int wbits = coding == ATROUSD_CODING_GZIP ? WBITS_GZIP : WBITS_ZLIB;
    if (deflateInit2(&zs, ATROUSD_DEFLATE_LEVEL, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return ATROUSD_DEFLATE_NO_MEMORY;
    /* Not smaller than the input is not worth sending: len - 1 bytes at most. */
    size_t cap = must ? (size_t)deflateBound(&zs, (uLong)len) : len - 1;
    if (must && cap < len) /* deflateBound in uLong wrapped (a body over 4 GiB on 32 bits) */
        cap = len + len / 1000 + 64;
    unsigned char *buf = malloc(cap);
    if (buf == NULL) {
        deflateEnd(&zs);
        return ATROUSD_DEFLATE_NO_MEMORY;
    }
    const unsigned char *ip = in;
    size_t in_left = len, out_used = 0;
    enum atrousd_deflate_status st = ATROUSD_DEFLATE_NOT_SMALLER;
    for (;;) {
        size_t in_step = in_left < ZLIB_STEP ? in_left : ZLIB_STEP;
        size_t out_step = cap - out_used < ZLIB_STEP ? cap - out_used : ZLIB_STEP;
        zs.next_in = ip;
        zs.avail_in = (uInt)in_step;
        zs.next_out = buf + out_used;
        zs.avail_out = (uInt)out_step;
        int ret = deflate(&zs, in_step == in_left ? Z_FINISH : Z_NO_FLUSH);
        ip += in_step - zs.avail_in;
        in_left -= in_step - zs.avail_in;
        out_used += out_step - zs.avail_out;
        if (ret == Z_STREAM_END) {
            st = ATROUSD_DEFLATE_OK;
            break;
        }
        if (ret == Z_STREAM_ERROR || out_used == cap)
            break; /* out of room: it does not shrink */
    }
    deflateEnd(&zs);
    if (st != ATROUSD_DEFLATE_OK) {
        free(buf);
        return st;
    }
    void *shrunk = realloc(buf, out_used);
    *out = shrunk ? shrunk : buf;
    *out_len = out_used;
    return ATROUSD_DEFLATE_OK;
}
