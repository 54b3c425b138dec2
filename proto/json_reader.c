/*
 * json_reader.c - the JSON request decoder's scanners: literals, strings, numbers, and the
 * conversions of numbers to float32 and int64.
 *
 * Numbers are scanned once into (sig, exp10): the first 19 significant digits and a power of
 * ten. Nearly every float a client sends (at most 9 significant digits, exponent within +-22)
 * then converts exactly with one double multiplication or division (Clinger's fast path: both
 * operands are exact doubles, so IEEE arithmetic rounds the true quotient once, correctly).
 * Anything else goes to strtod, which glibc rounds correctly, on a rewritten token.
 */
#include "json_reader.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_text.h"

/* The fast path needs double arithmetic done in double, not in a wider format. */
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "json_reader.c needs FLT_EVAL_METHOD == 0 (SSE2 double arithmetic)"
#endif

/* Significant digits kept in sig: 10^19 - 1 < 2^64. */
#define SIG_DIGITS_MAX 19
/* Exponents saturate here: far past any float or int64, and no int64 overflow when combined
 * with digit counts bounded by the body size. */
#define EXPONENT_SATURATE 100000000
/* The slow path keeps this many significant digits plus one sticky digit standing for the
 * rest; any decision between two doubles needs at most 768 (the digits of the longest
 * halfway point), so the result is still correctly rounded. */
#define SLOW_DIGITS_MAX 800

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Describes the byte at p for messages: 'x', a NUL byte, byte 0xC3, the end of the body. */
static void describe_byte(const struct atrous__jr *r, const char *p, char *buf, size_t size)
{
    if (p >= r->end) {
        snprintf(buf, size, "the end of the body");
        return;
    }
    const unsigned char c = (unsigned char)*p;
    if (c == 0)
        snprintf(buf, size, "a NUL byte");
    else if (c > 0x20 && c < 0x7F && c != '\'')
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02X", c);
}

static enum atrous_status error_at(struct atrous__jr *r, const char *p, const char *what)
{
    char got[32];
    describe_byte(r, p, got, sizeof(got));
    return atrous_error_set(r->err, ATROUS_INVALID_ARGUMENT, "",
                            "invalid JSON at byte %zu: %s, got %s", (size_t)(p - r->start), what,
                            got);
}

enum atrous_status atrous__jr_syntax_error(struct atrous__jr *r, const char *what)
{
    return error_at(r, r->p, what);
}

enum atrous_status atrous__jr_enter(struct atrous__jr *r, size_t *depth, size_t max_depth)
{
    if (*depth >= max_depth)
        return atrous_error_set(r->err, ATROUS_INVALID_ARGUMENT, "",
                                "invalid JSON at byte %zu: nesting deeper than %zu levels",
                                atrous__jr_offset(r), max_depth);
    ++*depth;
    r->p++;
    return ATROUS_OK;
}

enum atrous_status atrous__jr_expect(struct atrous__jr *r, char c, const char *what)
{
    if (atrous__jr_peek_is(r, c)) {
        r->p++;
        return ATROUS_OK;
    }
    return error_at(r, r->p, what);
}

static bool literal_at(const struct atrous__jr *r, const char *word)
{
    const size_t n = strlen(word);
    return (size_t)(r->end - r->p) >= n && memcmp(r->p, word, n) == 0;
}

enum atrous__jr_kind atrous__jr_peek_kind(const struct atrous__jr *r)
{
    if (r->p >= r->end)
        return ATROUS__JR_INVALID;
    switch (*r->p) {
    case '{':
        return ATROUS__JR_OBJECT;
    case '[':
        return ATROUS__JR_ARRAY;
    case '"':
        return ATROUS__JR_STRING;
    case '-':
    case 'N':
    case 'I':
        return ATROUS__JR_NUMBER;
    case 't':
        return literal_at(r, "true") ? ATROUS__JR_BOOLEAN : ATROUS__JR_INVALID;
    case 'f':
        return literal_at(r, "false") ? ATROUS__JR_BOOLEAN : ATROUS__JR_INVALID;
    case 'n':
        return literal_at(r, "null") ? ATROUS__JR_NULL : ATROUS__JR_INVALID;
    default:
        return is_digit(*r->p) ? ATROUS__JR_NUMBER : ATROUS__JR_INVALID;
    }
}

const char *atrous__jr_kind_name(enum atrous__jr_kind kind)
{
    switch (kind) {
    case ATROUS__JR_OBJECT:
        return "an object";
    case ATROUS__JR_ARRAY:
        return "an array";
    case ATROUS__JR_STRING:
        return "a string";
    case ATROUS__JR_NUMBER:
        return "a number";
    case ATROUS__JR_BOOLEAN:
        return "a boolean";
    case ATROUS__JR_NULL:
        return "null";
    case ATROUS__JR_INVALID:
        break;
    }
    return "not a JSON value";
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape at p (just past the 'u'). */
static bool read_hex4(const struct atrous__jr *r, const char *p, uint32_t *out)
{
    uint32_t v = 0;
    if (r->end - p < 4)
        return false;
    for (int i = 0; i < 4; i++) {
        const int h = hex_value(p[i]);
        if (h < 0)
            return false;
        v = v * 16 + (uint32_t)h;
    }
    *out = v;
    return true;
}

/* Appends bytes to the caller's bounded buffer while counting the full length. */
static void put_bytes(char *buf, size_t cap, size_t *len, const void *bytes, size_t n)
{
    if (*len < cap) {
        const size_t room = cap - *len;
        memcpy(buf + *len, bytes, n < room ? n : room);
    }
    *len += n;
}

/* Decodes the escape at r->p (at the backslash) into buf. */
static enum atrous_status read_escape(struct atrous__jr *r, char *buf, size_t cap, size_t *len)
{
    const char *at = r->p;
    if (r->end - at < 2)
        return error_at(r, at + 1, "unterminated escape in string");
    char c;
    switch (at[1]) {
    case '"':
        c = '"';
        break;
    case '\\':
        c = '\\';
        break;
    case '/':
        c = '/';
        break;
    case 'b':
        c = '\b';
        break;
    case 'f':
        c = '\f';
        break;
    case 'n':
        c = '\n';
        break;
    case 'r':
        c = '\r';
        break;
    case 't':
        c = '\t';
        break;
    case 'u': {
        uint32_t cp, low;
        unsigned char utf8[4];
        if (!read_hex4(r, at + 2, &cp))
            return error_at(r, at, "\\u must be followed by 4 hex digits");
        r->p = at + 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return error_at(r, at, "unpaired low surrogate escape in string");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            /* A high surrogate must be followed by a low one: together one code point. */
            if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
                !read_hex4(r, r->p + 2, &low) || low < 0xDC00 || low > 0xDFFF)
                return error_at(r, at, "unpaired high surrogate escape in string");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            r->p += 6;
        }
        put_bytes(buf, cap, len, utf8, atrous__utf8_encode(cp, utf8));
        return ATROUS_OK;
    }
    default:
        return error_at(r, at + 1, "invalid escape in string");
    }
    put_bytes(buf, cap, len, &c, 1);
    r->p = at + 2;
    return ATROUS_OK;
}

enum atrous_status atrous__jr_string(struct atrous__jr *r, char *buf, size_t cap, size_t *len)
{
    enum atrous_status st = ATROUS_OK;
    size_t n = 0;
    if ((st = atrous__jr_expect(r, '"', "expected a string")))
        goto out;
    for (;;) {
        /* Copy the longest run of plain ASCII at once. */
        const char *run = r->p;
        while (r->p < r->end && (unsigned char)*r->p >= 0x20 && (unsigned char)*r->p < 0x80 &&
               *r->p != '"' && *r->p != '\\')
            r->p++;
        put_bytes(buf, cap, &n, run, (size_t)(r->p - run));
        if (r->p >= r->end) {
            st = error_at(r, r->p, "unterminated string");
            goto out;
        }
        const unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            break;
        }
        if (c == '\\') {
            if ((st = read_escape(r, buf, cap, &n)))
                goto out;
        } else if (c < 0x20) {
            st = error_at(r, r->p, "control characters in strings must be escaped");
            goto out;
        } else {
            const size_t k =
                atrous__utf8_sequence((const unsigned char *)r->p, (size_t)(r->end - r->p), NULL);
            if (k == 0) {
                st = error_at(r, r->p, "strings must be valid UTF-8");
                goto out;
            }
            put_bytes(buf, cap, &n, r->p, k);
            r->p += k;
        }
    }
out:
    buf[n < cap ? n : cap] = '\0';
    *len = n;
    return st;
}

enum atrous_status atrous__jr_number(struct atrous__jr *r, struct atrous__jr_number *out)
{
    const char *p = r->p, *const end = r->end;
    uint64_t sig = 0;
    int digits = 0;
    int64_t exp10 = 0;
    bool truncated = false;

    out->text = p;
    out->cls = ATROUS__JR_FINITE;
    out->negative = false;
    if (p < end && *p == '-') {
        out->negative = true;
        p++;
    }
    if (p >= end)
        return error_at(r, p, "expected a number");
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        do {
            const unsigned d = (unsigned)(*p - '0');
            if (digits < SIG_DIGITS_MAX) {
                sig = sig * 10 + d;
                digits++;
            } else {
                exp10++;
                truncated |= d != 0;
            }
            p++;
        } while (p < end && is_digit(*p));
    } else if (end - p >= 8 && memcmp(p, "Infinity", 8) == 0) {
        out->cls = ATROUS__JR_INFINITY;
        p += 8;
        goto done;
    } else if (!out->negative && end - p >= 3 && memcmp(p, "NaN", 3) == 0) {
        out->cls = ATROUS__JR_NAN;
        p += 3;
        goto done;
    } else {
        return error_at(
            r, p, out->negative ? "expected a digit or Infinity after '-'" : "expected a number");
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p))
            return error_at(r, p, "expected a digit after the decimal point");
        do {
            const unsigned d = (unsigned)(*p - '0');
            if (digits < SIG_DIGITS_MAX) {
                /* Leading zeros of 0.00ddd only move the exponent. */
                if (sig != 0 || d != 0) {
                    sig = sig * 10 + d;
                    digits++;
                }
                exp10--;
            } else {
                truncated |= d != 0;
            }
            p++;
        } while (p < end && is_digit(*p));
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        bool negative_exp = false;
        int64_t e = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            negative_exp = *p == '-';
            p++;
        }
        if (p >= end || !is_digit(*p))
            return error_at(r, p, "expected a digit in the exponent");
        do {
            if (e < EXPONENT_SATURATE)
                e = e * 10 + (*p - '0');
            p++;
        } while (p < end && is_digit(*p));
        exp10 += negative_exp ? -e : e;
    }
done:
    out->sig = sig;
    out->digits = digits;
    out->exp10 = exp10;
    out->truncated = truncated;
    out->len = (size_t)(p - out->text);
    r->p = p;
    return ATROUS_OK;
}

static const double exact_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * strtod on the token rewritten as "<significant digits>e<exponent>": no decimal point, so the
 * locale cannot matter, and very long digit strings are cut to SLOW_DIGITS_MAX plus a sticky
 * digit, so the buffer is bounded.
 */
static double slow_path(const struct atrous__jr_number *n)
{
    char buf[SLOW_DIGITS_MAX + 32];
    size_t used = 0;
    bool rest_nonzero = false;
    const int64_t first = n->exp10 + n->digits - 1; /* power of ten of the first digit */
    for (size_t i = 0; i < n->len; i++) {
        const char c = n->text[i];
        if (c == 'e' || c == 'E')
            break;
        if (!is_digit(c) || (used == 0 && c == '0'))
            continue;
        if (used < SLOW_DIGITS_MAX)
            buf[used++] = c;
        else
            rest_nonzero |= c != '0';
    }
    int64_t exponent = first - (int64_t)used + 1;
    if (rest_nonzero) {
        buf[used++] = '1';
        exponent--;
    }
    snprintf(buf + used, sizeof(buf) - used, "e%lld", (long long)exponent);
    return strtod(buf, NULL);
}

bool atrous__jr_number_float(const struct atrous__jr_number *n, float *out)
{
    double d;
    if (n->cls == ATROUS__JR_NAN) {
        *out = NAN;
        return true;
    }
    if (n->cls == ATROUS__JR_INFINITY) {
        *out = n->negative ? -INFINITY : INFINITY;
        return true;
    }
    uint64_t sig = n->sig;
    int64_t exp10 = n->exp10;
    if (sig == 0) {
        d = 0.0;
    } else {
        if (!n->truncated && sig > (UINT64_C(1) << 53)) {
            /* 1.50000000000000000 fits the fast path once its zeros are gone. */
            while (sig % 10 == 0) {
                sig /= 10;
                exp10++;
            }
        }
        const int64_t first = n->exp10 + n->digits - 1;
        if (!n->truncated && sig <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22)
            d = exp10 < 0 ? (double)sig / exact_pow10[-exp10] : (double)sig * exact_pow10[exp10];
        else if (first >= 39) /* >= 1e39: past FLT_MAX whatever the digits */
            return false;
        else if (first <= -47) /* < 1e-46: under half the smallest subnormal, 7e-46 */
            d = 0.0;
        else
            d = slow_path(n);
    }
    /* Past FLT_MAX plus half an ulp, the float rounding would give infinity. Checked on the
     * double because converting an out-of-range double to float is undefined in ISO C. */
    if (d >= 0x1.ffffffp127)
        return false;
    const float f = (float)d;
    *out = n->negative ? -f : f;
    return true;
}

enum atrous__jr_int_result atrous__jr_number_int64(const struct atrous__jr_number *n, int64_t *out)
{
    if (n->cls != ATROUS__JR_FINITE)
        return ATROUS__JR_INT_NOT_INTEGER;
    if (n->sig == 0) {
        *out = 0;
        return ATROUS__JR_INT_OK;
    }
    uint64_t sig = n->sig;
    int64_t exp10 = n->exp10;
    const int64_t first = exp10 + n->digits - 1;
    /* With nonzero digits past the 19th, the value is fractional unless it is >= 10^19. */
    if (n->truncated)
        return first >= 19 ? ATROUS__JR_INT_OUT_OF_RANGE : ATROUS__JR_INT_NOT_INTEGER;
    while (sig % 10 == 0) {
        sig /= 10;
        exp10++;
    }
    if (exp10 < 0)
        return ATROUS__JR_INT_NOT_INTEGER;
    if (first >= 19)
        return ATROUS__JR_INT_OUT_OF_RANGE;
    /* Now sig * 10^exp10 < 10^19 < 2^64: no overflow in the loop. */
    for (int64_t i = 0; i < exp10; i++)
        sig *= 10;
    const uint64_t limit = n->negative ? UINT64_C(1) << 63 : (UINT64_C(1) << 63) - 1;
    if (sig > limit)
        return ATROUS__JR_INT_OUT_OF_RANGE;
    if (!n->negative)
        *out = (int64_t)sig;
    else if (sig == UINT64_C(1) << 63)
        *out = INT64_MIN;
    else
        *out = -(int64_t)sig;
    return ATROUS__JR_INT_OK;
}
