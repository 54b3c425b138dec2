/*
 * fuzz_json_number.c - libFuzzer target for the JSON codec's hand-written number paths.
 *
 * 1. Parse: the input, cut at the first byte that cannot belong to a JSON number, is placed
 *    as the single element of a tensor's data. When it is a valid JSON number, the decoder must
 *    store exactly (float)strtod(text) - the reading TF Serving and the corpus prescribe - or
 *    reject it exactly when that value is outside float range; when it is not valid JSON
 *    (leading zeros, "1.", ".5", "+1"), the decoder must reject it.
 * 2. Format: the first 4 input bytes as a float's bits; atrous_json_format_float must write
 *    text that reads back (strtof) to the same bits, NaN to NaN.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_json.h"
#include "json_float.h"

#define MAX_TOKEN 400

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int is_json_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return 0;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static void check_parse(const uint8_t *data, size_t size)
{
    char token[MAX_TOKEN + 1];
    size_t n = 0;
    while (n < size && n < MAX_TOKEN && strchr("0123456789+-.eE", data[n]) && data[n])
        n++;
    if (n == 0)
        return;
    memcpy(token, data, n);
    token[n] = '\0';
    char doc[MAX_TOKEN + 256];
    int len = snprintf(doc, sizeof(doc),
                       "{\"value\":{\"shape\":[1,1,1,1],\"data\":[%s]},\"filters\":{\"shape\":[1,1,"
                       "1,1],\"data\":[1]},\"output_shape\":[1,1,1,1],\"rate\":1,\"padding\":"
                       "\"SAME\"}",
                       token);
    struct atrous_request req;
    struct atrous_error err;
    atrous_request_init(&req);
    enum atrous_status st = atrous_json_decode_request(doc, (size_t)len, NULL, &req, &err);
    if (!is_json_number(token)) {
        if (st == ATROUS_OK) {
            fprintf(stderr, "accepted a non-JSON number '%s'\n", token);
            abort();
        }
    } else {
        float want = (float)strtod(token, NULL);
        if (isinf(want)) {
            if (st == ATROUS_OK) {
                fprintf(stderr, "accepted out-of-range '%s'\n", token);
                abort();
            }
        } else if (st != ATROUS_OK || memcmp(&req.value[0], &want, sizeof(want)) != 0) {
            fprintf(stderr, "'%s': status %d, got %.9g want %.9g (%s)\n", token, (int)st,
                    st == ATROUS_OK ? req.value[0] : 0.0f, want, err.message);
            abort();
        }
    }
    atrous_request_release(&req);
}

static void check_format(const uint8_t *data, size_t size)
{
    if (size < 4)
        return;
    float f;
    memcpy(&f, data, sizeof(f));
    char buf[64];
    size_t len = atrous_json_format_float(f, buf);
    if (len == 0 || len >= 32 || buf[len] != '\0')
        abort();
    if (isnan(f)) {
        if (strcmp(buf, "NaN") != 0)
            abort();
        return;
    }
    if (isinf(f)) {
        if (strcmp(buf, f > 0 ? "Infinity" : "-Infinity") != 0)
            abort();
        return;
    }
    float back = strtof(buf, NULL);
    if (memcmp(&back, &f, sizeof(f)) != 0) {
        fprintf(stderr, "format %a -> '%s' -> %a\n", f, buf, back);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_parse(data, size);
    check_format(data, size);
    return 0;
}
