/*
 * json_reader.h - the lexical half of the JSON request decoder: a cursor over the body, and
 * strict scanners for whitespace, literals, strings (UTF-8 validated, escapes decoded) and
 * numbers (JSON numbers plus NaN, Infinity, -Infinity), with conversions to float32 and int64.
 * The grammar of the request itself lives in atrous_json.c. Internal to proto/.
 *
 * Every scanner returns ATROUS_OK or ATROUS_INVALID_ARGUMENT; on failure it has written a
 * message naming the byte offset into the reader's error (field "": the body is not JSON).
 */
#ifndef ATROUS_JSON_READER_H
#define ATROUS_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_error.h"

struct atrous__jr {
    const char *start;        /* the body, for offsets in messages */
    const char *p;            /* next unread byte */
    const char *end;          /* one past the last byte */
    struct atrous_error *err; /* may be NULL */
};

/* What the next value is, judged from its first bytes (literals are matched whole). */
enum atrous__jr_kind {
    ATROUS__JR_INVALID, /* no JSON value starts here (or the body ended) */
    ATROUS__JR_OBJECT,
    ATROUS__JR_ARRAY,
    ATROUS__JR_STRING,
    ATROUS__JR_NUMBER, /* includes NaN, Infinity, -Infinity */
    ATROUS__JR_BOOLEAN,
    ATROUS__JR_NULL,
};

enum atrous__jr_number_class {
    ATROUS__JR_FINITE,
    ATROUS__JR_NAN,
    ATROUS__JR_INFINITY, /* sign in negative */
};

/*
 * A scanned number: |value| = sig * 10^exp10, plus less than one unit of sig's last digit when
 * truncated (nonzero digits past the 19 significant ones kept). text/len is the token itself.
 */
struct atrous__jr_number {
    enum atrous__jr_number_class cls;
    bool negative;
    bool truncated;
    int digits; /* significant digits in sig (0 when sig is 0) */
    uint64_t sig;
    int64_t exp10; /* saturates far outside any range that matters */
    const char *text;
    size_t len;
};

enum atrous__jr_int_result {
    ATROUS__JR_INT_OK,
    ATROUS__JR_INT_NOT_INTEGER,  /* fractional, NaN or infinite */
    ATROUS__JR_INT_OUT_OF_RANGE, /* an integer outside int64 */
};

/* Skips JSON whitespace (space, tab, CR, LF). */
static inline void atrous__jr_skip_ws(struct atrous__jr *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

/* Byte offset of the cursor. */
static inline size_t atrous__jr_offset(const struct atrous__jr *r)
{
    return (size_t)(r->p - r->start);
}

/* True when the next byte is c (no whitespace skipped). */
static inline bool atrous__jr_peek_is(const struct atrous__jr *r, char c)
{
    return r->p < r->end && *r->p == c;
}

/* Records "invalid JSON at byte N: <what>, got <the byte there>" and returns
 * ATROUS_INVALID_ARGUMENT. */
enum atrous_status atrous__jr_syntax_error(struct atrous__jr *r, const char *what);

/* Enters the container whose bracket is at the cursor: consumes the bracket and counts it in
 * *depth, or fails with "invalid JSON at byte N: nesting deeper than max_depth levels". */
enum atrous_status atrous__jr_enter(struct atrous__jr *r, size_t *depth, size_t max_depth);

/* Consumes c or fails with a syntax error saying what was expected. */
enum atrous_status atrous__jr_expect(struct atrous__jr *r, char c, const char *what);

/* Classifies the value at the cursor without consuming it. */
enum atrous__jr_kind atrous__jr_peek_kind(const struct atrous__jr *r);

/* "an object", "a string", ...: for messages such as "rate must be an integer, got a string". */
const char *atrous__jr_kind_name(enum atrous__jr_kind kind);

/*
 * Scans the string at the cursor (which is at its opening quote). The decoded bytes go to buf:
 * the first min(length, cap) of them followed by a NUL, so buf holds cap + 1 bytes; *len gets
 * the full decoded length. Rejects unescaped control characters (NUL included), ill-formed
 * UTF-8, bad escapes and unpaired surrogate escapes.
 */
enum atrous_status atrous__jr_string(struct atrous__jr *r, char *buf, size_t cap, size_t *len);

/* Scans the number token at the cursor (strict JSON grammar, or NaN / Infinity / -Infinity). */
enum atrous_status atrous__jr_number(struct atrous__jr *r, struct atrous__jr_number *out);

/*
 * The number as float32: the correctly rounded double, then rounded to float, as TF Serving
 * (RapidJSON's double, cast) and the conformance corpus define it. Returns false when a finite
 * number rounds past FLT_MAX: atrousd rejects it rather than silently turn it into infinity
 * (clients can send Infinity). Finite numbers too small for float round to zero or a subnormal,
 * as any float parser does.
 */
bool atrous__jr_number_float(const struct atrous__jr_number *n, float *out);

/* The number as an exact int64: 1, 1.0, 1e2 and -0 are integers; 1.5, NaN and Infinity are
 * not; 1e19 is an integer out of range. */
enum atrous__jr_int_result atrous__jr_number_int64(const struct atrous__jr_number *n, int64_t *out);

#endif
