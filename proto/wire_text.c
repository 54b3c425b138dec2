/*
 * wire_text.c - UTF-8 checks and encoding for the JSON reader and writer, and quoting of user
 * text in messages for both codecs.
 */
#include "wire_text.h"

#include <stdio.h>
#include <string.h>

size_t atrous__utf8_sequence(const unsigned char *s, size_t n, size_t *bad)
{
    size_t need, i;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    const unsigned char c = s[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90; /* no overlong forms */
        else if (c == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        /* 0x80..0xC1 (continuation bytes, overlong leads) and 0xF5..0xFF. */
        if (bad)
            *bad = 1;
        return 0;
    }
    for (i = 1; i < need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            if (bad)
                *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need;
}

size_t atrous__utf8_encode(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

void atrous__quote(const char *s, size_t len, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    for (size_t i = 0; i < len && i < ATROUS__QUOTE_MAX && used + 5 < size; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F || c == '"' || c == '\\')
            used += (size_t)snprintf(buf + used, size - used, "\\x%02X", c);
        else
            buf[used++] = (char)c;
    }
    if (len > ATROUS__QUOTE_MAX && used + 4 < size) {
        memcpy(buf + used, "...", 3);
        used += 3;
    }
    buf[used] = '\0';
}

bool atrous__name_listed(const char *name, const char *const *names)
{
    while (*names != NULL && strcmp(name, *names) != 0)
        names++;
    return *names != NULL;
}
