/*
 * media.c - a small, allocation-free parser for Content-Type and Accept values.
 */
#include "media.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest media range we compare; longer ones match nothing. */
#define MEDIA_RANGE_MAX 128

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Copies the media range at [p, end) up to ';' into buf, trimmed. Returns where the
 * parameters start (at ';' or end). */
static const char *media_range(const char *p, const char *end, char *buf, size_t size)
{
    p = skip_space(p, end);
    const char *stop = p;
    while (stop < end && *stop != ';')
        stop++;
    const char *last = stop;
    while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
        last--;
    size_t len = (size_t)(last - p);
    if (len >= size)
        len = 0; /* too long to be one of ours */
    memcpy(buf, p, len);
    buf[len] = '\0';
    return stop;
}

static bool form_of(const char *range, enum atrous_wire_form *out)
{
    if (strcasecmp(range, ATROUSD_MEDIA_JSON) == 0) {
        *out = ATROUS_FORM_JSON;
        return true;
    }
    if (strcasecmp(range, ATROUSD_MEDIA_BINARY) == 0) {
        *out = ATROUS_FORM_BINARY;
        return true;
    }
    return false;
}

bool atrousd_media_content_form(const char *content_type, enum atrous_wire_form *out)
{
    if (content_type == NULL)
        return false;
    char range[MEDIA_RANGE_MAX];
    media_range(content_type, content_type + strlen(content_type), range, sizeof(range));
    return form_of(range, out);
}

double atrousd_media_quality(const char *p, const char *end)
{
    double q = 1.0;
    while (p < end && *p == ';') {
        p = skip_space(p + 1, end);
        const char *stop = p;
        while (stop < end && *stop != ';')
            stop++;
        if (stop - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char num[16];
            size_t len = (size_t)(stop - p - 2);
            if (len == 0 || len >= sizeof(num))
                return -1;
            memcpy(num, p + 2, len);
            num[len] = '\0';
            char *tail = NULL;
            q = strtod(num, &tail);
            while (*tail == ' ' || *tail == '\t')
                tail++;
            if (*tail != '\0' || q < 0 || q > 1)
                return -1;
        }
        p = stop;
    }
    return q;
}

bool atrousd_media_accept(const char *accept, enum atrous_wire_form request_form,
                          enum atrous_wire_form *out)
{
    if (accept == NULL || *skip_space(accept, accept + strlen(accept)) == '\0') {
        *out = request_form;
        return true;
    }
    /* Per form, the q of the most specific range that matches it (RFC 9110 section 12.5.1:
     * "application/json;q=0, *" "/" "*" refuses JSON even though the wildcard allows it). */
    double q_of[2] = {0, 0};
    int specificity[2] = {0, 0}; /* 0 none, 1 any type, 2 application/any, 3 exact */
    const char *p = accept, *end = accept + strlen(accept);
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        char range[MEDIA_RANGE_MAX];
        const char *params = media_range(p, stop, range, sizeof(range));
        double q = atrousd_media_quality(params, stop);
        enum atrous_wire_form form;
        int level = strcmp(range, "*/*") == 0                 ? 1
                    : strcasecmp(range, "application/*") == 0 ? 2
                    : form_of(range, &form)                   ? 3
                                                              : 0;
        for (int f = 0; f < 2 && level > 0 && q >= 0; f++) {
            if (level == 3 && (int)form != f)
                continue;
            if (level > specificity[f] || (level == specificity[f] && q > q_of[f])) {
                specificity[f] = level;
                q_of[f] = q;
            }
        }
        p = comma ? comma + 1 : end;
    }
    int own = (int)request_form, other = 1 - own;
    if (q_of[own] <= 0 && q_of[other] <= 0)
        return false;
    *out = (enum atrous_wire_form)(q_of[own] >= q_of[other] ? own : other);
    return true;
}

bool atrousd_media_model_body(const char *content_type)
{
    if (content_type == NULL)
        return true;
    enum atrous_wire_form form;
    char range[MEDIA_RANGE_MAX];
    media_range(content_type, content_type + strlen(content_type), range, sizeof(range));
    return form_of(range, &form) || strcasecmp(range, ATROUSD_MEDIA_FORM) == 0;
}

const char *atrousd_media_type(enum atrous_wire_form form)
{
    return form == ATROUS_FORM_BINARY ? ATROUSD_MEDIA_BINARY : ATROUSD_MEDIA_JSON;
}
