/*
 * make_seeds.c - writes the fuzz targets' seed corpora from the conformance corpus, so that
 * fuzzing starts from every valid, invalid and quirky case rather than from nothing.
 *
 *   make_seeds OUT_DIR     writes OUT_DIR/validate/, OUT_DIR/json/, OUT_DIR/binary/
 *
 * Cases whose encoding exceeds SEED_MAX_BYTES are left out (libFuzzer runs with a matching
 * -max_len; huge inputs only slow it down). Reads the corpus from $ATROUS_TEST_DATA or
 * tests/data/conformance.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "corpus.h"
#include "fuzz_input.h"

#define SEED_MAX_BYTES 65536

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "make_seeds: cannot write %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    return fclose(f);
}

static void put_shape(uint8_t *buf, size_t *len, const struct atrous_shape *s)
{
    buf[(*len)++] = fuzz_count_byte((size_t)s->rank);
    for (int i = 0; i < s->rank; i++)
        fuzz_put_number(buf, len, s->dims[i]);
}

static int write_validate_seed(const char *dir, const struct corpus_case *c)
{
    uint8_t buf[512];
    size_t len = 0;
    put_shape(buf, &len, &c->value_shape);
    put_shape(buf, &len, &c->filters_shape);
    buf[len++] = fuzz_count_byte(c->output_shape_len);
    for (size_t i = 0; i < c->output_shape_len && i < 15; i++)
        fuzz_put_number(buf, &len, c->output_shape[i]);
    fuzz_put_number(buf, &len, c->rate);
    static const char *const known[] = {"SAME", "VALID", "same", "EXPLICIT"};
    int pick = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(c->padding, known[i]) == 0)
            pick = i;
    if (pick >= 0) {
        buf[len++] = (uint8_t)pick;
    } else {
        size_t n = c->padding_len < 31 ? c->padding_len : 31;
        buf[len++] = 4;
        buf[len++] = (uint8_t)n;
        memcpy(buf + len, c->padding, n);
        len += n;
    }
    return write_file(dir, c->name, buf, len);
}

/* A growable text buffer for the JSON and binary seeds. */
struct text {
    char *data;
    size_t len, cap;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 64);
        t->data = realloc(t->data, t->cap);
        if (t->data == NULL)
            abort();
    }
}

static void json_tensor(struct text *t, const char *key, const struct atrous_shape *s,
                        const float *data, size_t count)
{
    text_printf(t, "\"%s\":{\"shape\":[", key);
    for (int i = 0; i < s->rank; i++)
        text_printf(t, "%s%lld", i ? "," : "", (long long)s->dims[i]);
    text_printf(t, "],\"data\":[");
    for (size_t i = 0; i < count; i++)
        text_printf(t, "%s%.9g", i ? "," : "", data[i]);
    text_printf(t, "]}");
}

static int write_json_seed(const char *dir, const struct corpus_case *c)
{
    struct text t = {malloc(4096), 0, 4096};
    text_printf(&t, "{");
    json_tensor(&t, "value", &c->value_shape, c->value, c->value_count);
    text_printf(&t, ",");
    json_tensor(&t, "filters", &c->filters_shape, c->filters, c->filters_count);
    text_printf(&t, ",\"output_shape\":[");
    for (size_t i = 0; i < c->output_shape_len; i++)
        text_printf(&t, "%s%lld", i ? "," : "", (long long)c->output_shape[i]);
    text_printf(&t, "],\"rate\":%lld,\"padding\":\"%s\"}", (long long)c->rate, c->padding);
    int rc = t.len <= SEED_MAX_BYTES ? write_file(dir, c->name, t.data, t.len) : 0;
    free(t.data);
    return rc;
}

static void shape_list(struct text *t, const int64_t *dims, size_t count)
{
    for (size_t i = 0; i < count; i++)
        text_printf(t, "%s%lld", i ? "," : "", (long long)dims[i]);
}

static int write_binary_seed(const char *dir, const struct corpus_case *c)
{
    struct text t = {malloc(4096), 0, 4096};
    text_printf(&t, "value_shape=");
    shape_list(&t, c->value_shape.dims, (size_t)c->value_shape.rank);
    text_printf(&t, "&filters_shape=");
    shape_list(&t, c->filters_shape.dims, (size_t)c->filters_shape.rank);
    text_printf(&t, "&output_shape=");
    shape_list(&t, c->output_shape, c->output_shape_len);
    text_printf(&t, "&rate=%lld&padding=%s\n", (long long)c->rate, c->padding);
    size_t body = (c->value_count + c->filters_count) * sizeof(float);
    int rc = 0;
    if (t.len + body <= SEED_MAX_BYTES) {
        t.data = realloc(t.data, t.len + body + 1);
        if (t.data == NULL)
            abort();
        if (c->value_count) /* an empty tensor has no data pointer */
            memcpy(t.data + t.len, c->value, c->value_count * sizeof(float));
        if (c->filters_count)
            memcpy(t.data + t.len + c->value_count * sizeof(float), c->filters,
                   c->filters_count * sizeof(float));
        rc = write_file(dir, c->name, t.data, t.len + body);
    }
    free(t.data);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        printf("usage: %s OUT_DIR\nWrites fuzz seed corpora (validate/, json/, binary/) from the "
               "conformance corpus in $ATROUS_TEST_DATA or %s.\n",
               argv[0], CORPUS_DEFAULT_DIR);
        return argc == 2 ? 0 : 2;
    }
    const char *targets[] = {"validate", "json", "binary"};
    char dirs[3][1024];
    mkdir(argv[1], 0755);
    for (int i = 0; i < 3; i++) {
        snprintf(dirs[i], sizeof(dirs[i]), "%s/%s", argv[1], targets[i]);
        mkdir(dirs[i], 0755);
    }
    const char *folders[] = {"valid", "invalid", "quirks"};
    size_t written = 0;
    for (int f = 0; f < 3; f++) {
        char **paths;
        size_t count;
        char why[256];
        if (corpus_list(folders[f], &paths, &count, why, sizeof(why))) {
            fprintf(stderr, "make_seeds: %s\n", why);
            return 1;
        }
        for (size_t i = 0; i < count; i++) {
            struct corpus_case c;
            if (corpus_load(paths[i], &c, why, sizeof(why))) {
                fprintf(stderr, "make_seeds: %s\n", why);
                return 1;
            }
            if (write_validate_seed(dirs[0], &c) || write_json_seed(dirs[1], &c) ||
                write_binary_seed(dirs[2], &c))
                return 1;
            written++;
            corpus_case_free(&c);
        }
        corpus_paths_free(paths, count);
    }
    printf("make_seeds: seeds from %zu corpus cases in %s\n", written, argv[1]);
    return 0;
}
