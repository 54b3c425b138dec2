/*
 * compress_fixtures.h - zlib as the tests' reference for content codings: packing request
 * bodies in the three formats a "gzip" or "deflate" body may take, unpacking what the server
 * sent, and decoding a response by its Content-Encoding.
 */
#ifndef TESTS_COMPRESS_FIXTURES_H
#define TESTS_COMPRESS_FIXTURES_H

#include <stddef.h>

#include "http_client.h"

/* zlib's windowBits of the formats: zlib (RFC 1950, HTTP's "deflate"), gzip (RFC 1952), raw
 * deflate (RFC 1951, what some clients send as "deflate"). */
#define FIXTURE_ZLIB 15
#define FIXTURE_GZIP 31
#define FIXTURE_RAW  (-15)

/* Compresses len bytes in a format at a zlib level (1-9). malloc'd; NULL on failure. */
unsigned char *fixture_pack(const void *in, size_t len, int wbits, int level, size_t *out_len);

/* Inflates exactly one stream of the format, nothing after it. malloc'd (and NUL-terminated,
 * not counted in *out_len); NULL when the data is not that. */
char *fixture_unpack(const void *in, size_t len, int wbits, size_t *out_len);

/* Replaces r's body by its decoded self when Content-Encoding says gzip or deflate (zlib
 * format, as RFC 9110 means it). Returns 0 (also when there is no coding), -1 when the body is
 * not what its Content-Encoding says. */
int fixture_decode_response(struct http_client_response *r);

#endif
