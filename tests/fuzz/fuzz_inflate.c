/*
 * fuzz_inflate.c - libFuzzer target for server/compress.h's request decoder, which reads bytes
 * straight from the network.
 *
 * Input: byte 0 picks the coding (even gzip, odd deflate) and, with byte 1, the limit (1 to
 * 64 KiB) and the piece size the body arrives in (1 to 256 bytes); the rest is the body. When
 * the rest is short, it is first compressed with zlib in the chosen format, so that the fuzzer
 * also walks valid streams cut and spliced anywhere. Checks: the sink never grows past the limit
 * and never holds more than it was given room for; after an error no more is taken; a finished
 * stream reported finished produced at most the limit; the decoder frees without leaks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool reserve(struct atrousd_inflate_sink *sink, size_t need)
{
    if (need <= sink->len || need > sink->limit)
        abort(); /* the decoder asked for nothing new, or past the limit */
    size_t cap = sink->cap ? sink->cap * 2 : 16;
    if (cap < need)
        cap = need;
    if (cap > sink->limit)
        cap = sink->limit;
    unsigned char *p = realloc(sink->data, cap);
    if (p == NULL)
        return false;
    sink->data = p;
    sink->cap = cap;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    enum atrousd_coding coding = data[0] & 1 ? ATROUSD_CODING_DEFLATE : ATROUSD_CODING_GZIP;
    size_t limit = 1 + (((size_t)data[0] >> 1) << 9) + data[1]; /* 1 .. 65279 */
    size_t piece = 1 + data[1];
    const uint8_t *body = data + 2;
    size_t len = size - 2;
    unsigned char *packed = NULL;
    if (len < 64 && len > 0) {
        /* A short input becomes a valid stream of its bytes (gzip, zlib or raw deflate). */
        int wbits = coding == ATROUSD_CODING_GZIP ? 31 : (data[1] & 1 ? 15 : -15);
        uLong bound = compressBound((uLong)len) + 32;
        packed = malloc(bound);
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        if (packed != NULL &&
            deflateInit2(&zs, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
            zs.next_in = (unsigned char *)body;
            zs.avail_in = (uInt)len;
            zs.next_out = packed;
            zs.avail_out = (uInt)bound;
            if (deflate(&zs, Z_FINISH) == Z_STREAM_END) {
                body = packed;
                len = bound - zs.avail_out;
            }
            deflateEnd(&zs);
        }
    }
    struct atrousd_inflate_sink sink = {.limit = limit, .reserve = reserve};
    struct atrousd_inflate *z = atrousd_inflate_create(coding);
    if (z == NULL) {
        free(packed);
        return 0;
    }
    enum atrousd_inflate_status st = ATROUSD_INFLATE_OK;
    for (size_t at = 0; at < len && st == ATROUSD_INFLATE_OK; at += piece) {
        size_t n = len - at < piece ? len - at : piece;
        st = atrousd_inflate_feed(z, body + at, n, &sink);
        if (sink.len > sink.cap || sink.cap > sink.limit)
            abort();
    }
    if (st != ATROUSD_INFLATE_OK) {
        if (atrousd_inflate_finished(z) || atrousd_inflate_feed(z, "x", 1, &sink) == 0)
            abort(); /* an error is final */
    }
    if (atrousd_inflate_finished(z) && sink.len > limit)
        abort();
    (void)atrousd_inflate_error(z);
    atrousd_inflate_free(z);
    free(sink.data);
    free(packed);
    return 0;
}
