/*
 * compress_fixtures.c - zlib packing and unpacking for the content-coding tests.
 */
#include "compress_fixtures.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

unsigned char *fixture_pack(const void *in, size_t len, int wbits, int level, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, (uLong)len);
    unsigned char *out = malloc(cap);
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (out == NULL || deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        free(out);
        out = NULL;
    }
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

char *fixture_unpack(const void *in, size_t len, int wbits, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, wbits) != Z_OK)
        return NULL;
    size_t cap = len * 4 + 64, used = 0;
    char *out = malloc(cap + 1);
    int ret = Z_OK;
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)len;
    while (out != NULL && ret == Z_OK) {
        if (used == cap) {
            char *grown = realloc(out, cap * 2 + 1);
            if (grown == NULL)
                break;
            out = grown;
            cap *= 2;
        }
        zs.next_out = (unsigned char *)out + used;
        zs.avail_out = (uInt)(cap - used);
        ret = inflate(&zs, Z_NO_FLUSH);
        used = cap - zs.avail_out;
        if (ret == Z_BUF_ERROR && zs.avail_out > 0)
            break; /* the data ended before the stream did */
        if (ret == Z_BUF_ERROR)
            ret = Z_OK;
    }
    inflateEnd(&zs);
    if (out == NULL || ret != Z_STREAM_END || zs.avail_in != 0) {
        free(out);
        return NULL;
    }
    out[used] = '\0';
    *out_len = used;
    return out;
}

int fixture_decode_response(struct http_client_response *r)
{
    const char *coding = http_client_header(r, "Content-Encoding");
    int wbits;
    if (coding == NULL)
        return 0;
    if (strcasecmp(coding, "gzip") == 0)
        wbits = FIXTURE_GZIP;
    else if (strcasecmp(coding, "deflate") == 0)
        wbits = FIXTURE_ZLIB;
    else
        return -1;
    size_t len;
    char *plain = fixture_unpack(r->body, r->body_len, wbits, &len);
    if (plain == NULL)
        return -1;
    free(r->body);
    r->body = plain;
    r->body_len = len;
    return 0;
}
