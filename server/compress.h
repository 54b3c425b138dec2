/*
 * compress.h - HTTP content codings (RFC 9110 section 8.4) on plain buffers, with no sockets:
 * which coding a Content-Encoding names, which one an Accept-Encoding prefers for an answer,
 * inflating a request body as it arrives within a byte limit, and deflating an answer. zlib
 * does the work (Debian's zlib1g; the codings are zlib's own formats).
 *
 * Decisions:
 *   - Requests: "gzip" (and its alias "x-gzip") and "deflate". "deflate" is meant to be the
 *     zlib format (RFC 9110 8.4.1.2; what tritonclient's request_compression_algorithm sends,
 *     zlib.compress), but some clients send raw deflate data under that name, so the first
 *     bytes decide: a zlib or gzip header is read as such, anything else as raw deflate.
 *     Concatenated gzip members are one body (RFC 1952 2.2); any other byte after the end of
 *     the compressed data is an error, as is data that ends before it.
 *   - The inflated size is what --max-body-bytes bounds: the body grows only through the
 *     caller's reserve callback (which claims memory) and never past the limit, so a small
 *     body that inflates to gigabytes (a "zip bomb") is stopped at the limit.
 *   - Answers: gzip or zlib-format deflate, whichever the client gives the higher q (gzip on
 *     a tie), at zlib's fastest level: it writes JSON tensors at ~110 MB/s to ~45 % of their
 *     size, where level 6 takes 6x longer for ~41 %. An answer is compressed when the client
 *     accepts a coding at least as much as identity and the answer has at least min_bytes;
 *     binary tensor answers (float32 bytes, which shrink by ~7 %) only when the client names
 *     the coding itself, not through "*". A client that refuses identity ("identity;q=0", or
 *     "*;q=0" without identity) gets a coding whatever the size, or 406 when it accepts none
 *     of ours. An answer that would not shrink is sent as it is.
 */
#ifndef ATROUSD_COMPRESS_H
#define ATROUSD_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>

enum atrousd_coding {
    ATROUSD_CODING_IDENTITY,
    ATROUSD_CODING_GZIP,
    ATROUSD_CODING_DEFLATE,
};

/* The codings a request body may use, for 415 messages and the Accept-Encoding header. */
#define ATROUSD_CODINGS_ACCEPTED "gzip, deflate"

/* zlib's level for answers (1 = fastest; see the decisions above). */
#define ATROUSD_DEFLATE_LEVEL 1

/* "gzip", "deflate" or "identity". */
const char *atrousd_coding_name(enum atrousd_coding coding);

/*
 * The coding a Content-Encoding value applies: NULL, empty and "identity" are identity;
 * "gzip", "x-gzip" and "deflate" (any case, spaces around) theirs; "identity" entries in a
 * list are ignored. False (415) for any other coding, or for more than one coding applied.
 */
bool atrousd_coding_parse(const char *content_encoding, enum atrousd_coding *out);

/* What an Accept-Encoding value allows, as q values (0 = refused). */
struct atrousd_accept_encoding {
    bool present;         /* the header was sent (an empty value allows identity only) */
    double q[3];          /* per enum atrousd_coding, after "*" and the defaults */
    bool named[3];        /* the coding itself is listed (not only through "*") */
    bool identity_ranked; /* identity's q comes from the header (itself or "*") */
};

/* Reads an Accept-Encoding value (NULL: absent). Elements that are malformed (a q outside
 * [0, 1], not a number) are ignored, as a lenient server does. */
void atrousd_accept_encoding_parse(const char *value, struct atrousd_accept_encoding *out);

/*
 * The coding of an answer of len bytes (binary: float32 tensor bytes) under ae, compressing
 * acceptable answers of at least min_bytes (0: only when identity is refused). False when
 * the client refuses identity and accepts none of our codings (406).
 */
bool atrousd_coding_choose(const struct atrousd_accept_encoding *ae, size_t len, size_t min_bytes,
                           bool binary, enum atrousd_coding *out);

/* --- Inflating a request body as it arrives --- */

struct atrousd_inflate;

/* The buffer the inflated body goes to; the caller owns it and grows it in reserve. */
struct atrousd_inflate_sink {
    unsigned char *data;
    size_t len, cap;
    size_t limit; /* the most inflated bytes accepted (--max-body-bytes) */
    /* Makes cap at least need (len < need <= limit), updating data and cap; false when it
     * cannot (out of memory or budget: the caller has decided its answer then). */
    bool (*reserve)(struct atrousd_inflate_sink *sink, size_t need);
    void *cls; /* for reserve */
};

enum atrousd_inflate_status {
    ATROUSD_INFLATE_OK,         /* all input taken; more may follow */
    ATROUSD_INFLATE_OVER_LIMIT, /* the body inflates past sink->limit (413) */
    ATROUSD_INFLATE_BAD_DATA,   /* not data of the coding, or bytes after its end (400) */
    ATROUSD_INFLATE_NO_ROOM,    /* reserve failed */
    ATROUSD_INFLATE_NO_MEMORY,  /* zlib's own state could not be allocated (503) */
};

/* A decoder for gzip or deflate (not identity). NULL when out of memory. zlib allocates its
 * state (~7 KiB) and window (32 KiB) lazily, on the first data. */
struct atrousd_inflate *atrousd_inflate_create(enum atrousd_coding coding);
void atrousd_inflate_free(struct atrousd_inflate *z);

/* Inflates len bytes of the body into sink. After an error the decoder takes no more. */
enum atrousd_inflate_status atrousd_inflate_feed(struct atrousd_inflate *z, const void *data,
                                                 size_t len, struct atrousd_inflate_sink *sink);

/* Once the body is complete: true when the compressed data ended (false: truncated, 400). */
bool atrousd_inflate_finished(const struct atrousd_inflate *z);

/* What went wrong, for the 400 message (a static string: zlib's reason, never the data). */
const char *atrousd_inflate_error(const struct atrousd_inflate *z);

/* --- Compressing an answer --- */

enum atrousd_deflate_status {
    ATROUSD_DEFLATE_OK,
    ATROUSD_DEFLATE_NOT_SMALLER, /* would not shrink; nothing allocated */
    ATROUSD_DEFLATE_NO_MEMORY,
};

/*
 * Compresses len bytes (len > 0) with coding (gzip or deflate) into *out (malloc'd, *out_len
 * bytes). With must false, gives up when the result would not be smaller than the input (and
 * never allocates more than len bytes for it); with must true (identity refused) it always
 * compresses. zlib's state takes ~256 KiB while it runs.
 */
enum atrousd_deflate_status atrousd_deflate(enum atrousd_coding coding, const void *in, size_t len,
                                            bool must, void **out, size_t *out_len);

#endif
