/*
 * atrous_json_writer.c - the streaming JSON writer: one growable buffer, a stack of open
 * containers that places commas, RFC 8259 string escaping with ill-formed UTF-8 replaced by
 * U+FFFD, and a sticky failure flag so callers check for out-of-memory once, at the end.
 */
#include "atrous_json_writer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_float.h"
#include "wire_text.h"

#define INITIAL_CAPACITY 256
#define INITIAL_DEPTH    16

/* One open container: whether it is an object, and whether it has a member yet. */
struct level {
    bool object;
    bool has_members;
};

struct atrous_jw {
    char *buf; /* NUL-terminated while len < cap */
    size_t len, cap;
    struct level *stack;
    size_t depth, stack_cap;
    bool after_key; /* the next value belongs to the key just written */
    bool failed;
};

struct atrous_jw *atrous_jw_create(void)
{
    struct atrous_jw *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->buf = malloc(INITIAL_CAPACITY);
    w->stack = malloc(INITIAL_DEPTH * sizeof(*w->stack));
    if (w->buf == NULL || w->stack == NULL) {
        atrous_jw_free(w);
        return NULL;
    }
    w->cap = INITIAL_CAPACITY;
    w->stack_cap = INITIAL_DEPTH;
    w->buf[0] = '\0';
    return w;
}

void atrous_jw_free(struct atrous_jw *w)
{
    if (w == NULL)
        return;
    free(w->buf);
    free(w->stack);
    free(w);
}

bool atrous_jw_failed(const struct atrous_jw *w)
{
    return w->failed;
}

/* Makes room for n more bytes and the NUL; false (and failed set) when memory runs out. */
static bool reserve(struct atrous_jw *w, size_t n)
{
    if (w->failed)
        return false;
    if (w->cap - w->len > n)
        return true;
    size_t cap = w->cap ? w->cap : INITIAL_CAPACITY;
    while (cap - w->len <= n) {
        if (cap > SIZE_MAX / 2) {
            w->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *buf = realloc(w->buf, cap);
    if (buf == NULL) {
        w->failed = true;
        return false;
    }
    w->buf = buf;
    w->cap = cap;
    return true;
}

static void put(struct atrous_jw *w, const void *bytes, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->buf + w->len, bytes, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void put_char(struct atrous_jw *w, char c)
{
    put(w, &c, 1);
}

/* The comma before a member or element of the innermost open container, unless it is the
 * first. */
static void separate(struct atrous_jw *w)
{
    struct level *top = &w->stack[w->depth - 1];
    if (top->has_members)
        put_char(w, ',');
    top->has_members = true;
}

/* The comma before a value, unless it follows its key or opens the document. */
static void before_value(struct atrous_jw *w)
{
    if (w->after_key)
        w->after_key = false;
    else if (w->depth > 0)
        separate(w);
}

static void push(struct atrous_jw *w, bool object)
{
    if (w->failed)
        return;
    if (w->depth == w->stack_cap) {
        struct level *stack = realloc(w->stack, 2 * w->stack_cap * sizeof(*stack));
        if (stack == NULL) {
            w->failed = true;
            return;
        }
        w->stack = stack;
        w->stack_cap *= 2;
    }
    w->stack[w->depth++] = (struct level){.object = object, .has_members = false};
}

static void pop(struct atrous_jw *w, char close)
{
    if (w->failed || w->depth == 0)
        return;
    w->depth--;
    w->after_key = false;
    put_char(w, close);
}

void atrous_jw_object_begin(struct atrous_jw *w)
{
    before_value(w);
    put_char(w, '{');
    push(w, true);
}

void atrous_jw_object_end(struct atrous_jw *w)
{
    pop(w, '}');
}

void atrous_jw_array_begin(struct atrous_jw *w)
{
    before_value(w);
    put_char(w, '[');
    push(w, false);
}

void atrous_jw_array_end(struct atrous_jw *w)
{
    pop(w, ']');
}

/* A quoted, escaped string: RFC 8259 escapes for '"', '\\' and control characters, UTF-8
 * passed through when well-formed and each ill-formed subpart replaced by U+FFFD. */
static void put_string(struct atrous_jw *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    put_char(w, '"');
    while (*p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        put(w, run, (size_t)(p - run));
        const unsigned char c = *p;
        if (c == '\0')
            break;
        if (c == '"' || c == '\\') {
            const char esc[2] = {'\\', (char)c};
            put(w, esc, 2);
            p++;
        } else if (c < 0x20) {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            switch (c) {
            case '\b':
                put(w, "\\b", 2);
                break;
            case '\f':
                put(w, "\\f", 2);
                break;
            case '\n':
                put(w, "\\n", 2);
                break;
            case '\r':
                put(w, "\\r", 2);
                break;
            case '\t':
                put(w, "\\t", 2);
                break;
            default:
                put(w, esc, 6);
            }
            p++;
        } else {
            size_t bad;
            const size_t k = atrous__utf8_sequence(p, strnlen((const char *)p, 4), &bad);
            if (k > 0) {
                put(w, p, k);
                p += k;
            } else {
                put(w, "\xEF\xBF\xBD", 3);
                p += bad;
            }
        }
    }
    put_char(w, '"');
}

void atrous_jw_key(struct atrous_jw *w, const char *key)
{
    if (w->depth > 0 && w->stack[w->depth - 1].object)
        separate(w);
    put_string(w, key ? key : "");
    put_char(w, ':');
    w->after_key = true;
}

void atrous_jw_string(struct atrous_jw *w, const char *s)
{
    if (s == NULL) {
        atrous_jw_null(w);
        return;
    }
    before_value(w);
    put_string(w, s);
}

static void put_number(struct atrous_jw *w, const char *text, int n)
{
    before_value(w);
    if (n > 0)
        put(w, text, (size_t)n);
}

void atrous_jw_int(struct atrous_jw *w, int64_t v)
{
    char text[24];
    put_number(w, text, snprintf(text, sizeof(text), "%" PRId64, v));
}

void atrous_jw_uint(struct atrous_jw *w, uint64_t v)
{
    char text[24];
    put_number(w, text, snprintf(text, sizeof(text), "%" PRIu64, v));
}

void atrous_jw_double(struct atrous_jw *w, double v)
{
    char text[32];
    int n = 0;
    if (!isfinite(v)) {
        atrous_jw_null(w);
        return;
    }
    /* The shortest of 15, 16 or 17 significant digits that reads back exactly. The process
     * runs in the C locale (nothing calls setlocale), so the decimal point is '.'. */
    for (int precision = 15; precision <= 17; precision++) {
        n = snprintf(text, sizeof(text), "%.*g", precision, v);
        if (strtod(text, NULL) == v)
            break;
    }
    put_number(w, text, n);
}

void atrous_jw_float(struct atrous_jw *w, float v)
{
    char text[32];
    put_number(w, text, (int)atrous_json_format_float(v, text));
}

void atrous_jw_bool(struct atrous_jw *w, bool v)
{
    put_number(w, v ? "true" : "false", v ? 4 : 5);
}

void atrous_jw_null(struct atrous_jw *w)
{
    put_number(w, "null", 4);
}

char *atrous_jw_take(struct atrous_jw *w, size_t *len)
{
    char *buf = NULL;
    if (!w->failed && reserve(w, 0)) {
        buf = w->buf;
        buf[w->len] = '\0';
        if (len)
            *len = w->len;
    } else {
        free(w->buf);
        if (len)
            *len = 0;
    }
    w->buf = NULL;
    w->cap = 0;
    w->len = 0;
    w->depth = 0;
    w->after_key = false;
    w->failed = false;
    return buf;
}
