/*
 * model_fixtures.h - what the model repository's tests share (test_model.c, test_kserve.c,
 * test_tfserving.c): writing model folders and .npy files into a scratch directory, and
 * repository models made in memory from a conformance case. Header-only (static inline), since
 * the tests' support archive takes only the .c files directly in tests/.
 */
#ifndef TESTS_MODELS_MODEL_FIXTURES_H
#define TESTS_MODELS_MODEL_FIXTURES_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atrous_model.h"
#include "corpus.h"
#include "proto_fixtures.h"

/* Writes len bytes to path (creating or truncating it); returns 0 or -1. */
static inline int fixture_write_file(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t done = fwrite(bytes, 1, len, f);
    return fclose(f) == 0 && done == len ? 0 : -1;
}

/* Writes a .npy file: version major.0, the header dict padded to 64 bytes with spaces and a
 * newline as numpy does, then bytes of data. Returns 0 or -1. */
static inline int fixture_write_npy(const char *path, int major, const char *dict, const void *data,
                                    size_t bytes)
{
    size_t prefix = major == 1 ? 10 : 12, text = strlen(dict) + 1;
    size_t total = (prefix + text + 63) / 64 * 64, header_len = total - prefix;
    unsigned char *buf = malloc(total + bytes);
    if (buf == NULL)
        return -1;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < prefix - 8; i++)
        buf[8 + i] = (unsigned char)(header_len >> (8 * i));
    memset(buf + prefix, ' ', header_len);
    memcpy(buf + prefix, dict, strlen(dict));
    buf[total - 1] = '\n';
    if (bytes)
        memcpy(buf + total, data, bytes);
    int rc = fixture_write_file(path, buf, total + bytes);
    free(buf);
    return rc;
}

/* The numpy header dict of a float32 C-order array of this shape. */
static inline void fixture_npy_dict(const struct atrous_shape *shape, char *buf, size_t size)
{
    int n = snprintf(buf, size, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < shape->rank; i++)
        n += snprintf(buf + n, size - (size_t)n, "%lld, ", (long long)shape->dims[i]);
    snprintf(buf + n, size - (size_t)n, "), }");
}

/* Makes a fresh scratch directory from a mkdtemp template; returns 0 or -1. */
static inline int fixture_scratch_dir(char *path, size_t size, const char *who)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, size, "%s/atrousd-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", who);
    return mkdtemp(path) ? 0 : -1;
}

static inline int fixture_remove_entry(const char *path, const struct stat *sb, int flag,
                                       struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes a scratch directory and everything below it. */
static inline void fixture_remove_tree(const char *path)
{
    nftw(path, fixture_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A repository model made in memory from a corpus case with rank-4 shapes: its filters, rate
 * and padding, name "case" version "1", any input size. NULL on out of memory. */
static inline struct atrous_model *fixture_model_from_case(const struct corpus_case *c)
{
    struct atrous_model *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    snprintf(m->name, sizeof(m->name), "case");
    snprintf(m->version, sizeof(m->version), "1");
    m->version_number = 1;
    m->rate = c->rate;
    m->padding = strcmp(c->padding, "VALID") == 0 ? ATROUS_PADDING_VALID : ATROUS_PADDING_SAME;
    m->filters_shape = c->filters_shape;
    m->filters_elements = c->filters_count;
    m->filters = atrous_aligned_alloc(c->filters_count * sizeof(float));
    if (m->filters == NULL) {
        atrous_model_free(m);
        return NULL;
    }
    memcpy(m->filters, c->filters, c->filters_count * sizeof(float));
    m->input_shape[0] = m->input_shape[1] = m->input_shape[2] = -1;
    m->input_shape[3] = c->filters_shape.dims[3];
    return m;
}

/* Appends [a, b, ...]. */
static inline void fixture_put_ints(struct proto_buf *b, const int64_t *v, size_t n)
{
    proto_buf_put(b, "[", 1);
    for (size_t i = 0; i < n; i++)
        proto_buf_printf(b, "%s%lld", i ? ", " : "", (long long)v[i]);
    proto_buf_put(b, "]", 1);
}

/* Appends n floats as a flat list (shortest round-trip text). */
static inline void fixture_put_flat(struct proto_buf *b, const float *data, size_t n)
{
    proto_buf_put(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            proto_buf_put(b, ",", 1);
        proto_buf_float(b, data[i]);
    }
    proto_buf_put(b, "]", 1);
}

/* Appends dims[0..rank) of data as nested lists; returns the data that follows. */
static inline const float *fixture_put_nested(struct proto_buf *b, const int64_t *dims, int rank,
                                              const float *data)
{
    if (rank == 0) {
        proto_buf_float(b, *data);
        return data + 1;
    }
    proto_buf_put(b, "[", 1);
    for (int64_t i = 0; i < dims[0]; i++) {
        if (i)
            proto_buf_put(b, ",", 1);
        data = fixture_put_nested(b, dims + 1, rank - 1, data);
    }
    proto_buf_put(b, "]", 1);
    return data;
}

#endif
