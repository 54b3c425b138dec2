/*
 * model_fixtures.h - what the model tests share, at every layer (test_model, test_model_formats,
 * test_model_repo, the codec tests, the HTTP model tests): the valid corpus cases, models made
 * in memory from a case, .npy files built in memory, and model folders written into a scratch
 * directory. Needs lib and the corpus reader only. Header-only (static inline), so that a test
 * takes what it calls and nothing links what it does not.
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

/* Writes len bytes to path (creating or truncating it); returns 0 or -1. */
static inline int fixture_write_file(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t done = fwrite(bytes, 1, len, f);
    return fclose(f) == 0 && done == len ? 0 : -1;
}

/* A .npy file in memory: version major.0, the header dict padded to 64 bytes with spaces and a
 * newline as numpy does, then bytes of data. Returns a malloc'd buffer of *len bytes, or NULL. */
static inline unsigned char *fixture_npy_bytes(int major, const char *dict, const void *data,
                                               size_t bytes, size_t *len)
{
    size_t prefix = major == 1 ? 10 : 12, text = strlen(dict) + 1;
    size_t total = (prefix + text + 63) / 64 * 64, header_len = total - prefix;
    unsigned char *buf = malloc(total + bytes + 1);
    if (buf == NULL)
        return NULL;
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
    *len = total + bytes;
    return buf;
}

/* Writes fixture_npy_bytes' file to path. Returns 0 or -1. */
static inline int fixture_write_npy(const char *path, int major, const char *dict, const void *data,
                                    size_t bytes)
{
    size_t len = 0;
    unsigned char *buf = fixture_npy_bytes(major, dict, data, bytes, &len);
    int rc = buf ? fixture_write_file(path, buf, len) : -1;
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

/* A model folder's config.json for a case: its rate, padding and filters shape, the file
 * filters.npy, named name unless name is NULL (then the folder names it); extra is appended
 * inside the object (e.g. ", \"max_batch_size\": 4") and may be "". Returns snprintf's count. */
static inline int fixture_case_config(const struct corpus_case *c, const char *name,
                                      const char *extra, char *buf, size_t size)
{
    const int64_t *d = c->filters_shape.dims;
    char name_member[128] = "";
    if (name != NULL)
        snprintf(name_member, sizeof(name_member), "\"name\": \"%s\", ", name);
    return snprintf(buf, size,
                    "{%s\"rate\": %lld, \"padding\": \"%s\", \"filters\": {\"shape\": [%lld, "
                    "%lld, %lld, %lld], \"file\": \"filters.npy\"}%s}\n",
                    name_member, (long long)c->rate, c->padding, (long long)d[0], (long long)d[1],
                    (long long)d[2], (long long)d[3], extra);
}

/* Writes root/folder/config.json (fixture_case_config) and root/folder/filters.npy (format
 * version npy_major.0): a model made of a rank-4 case's filters, rate and padding. Returns 0
 * or -1. */
static inline int fixture_write_case_model(const char *root, const char *folder, const char *name,
                                           const struct corpus_case *c, const char *extra,
                                           int npy_major)
{
    char dir[1024], path[1100], dict[256], config[1024];
    snprintf(dir, sizeof(dir), "%s/%s", root, folder);
    int n = fixture_case_config(c, name, extra, config, sizeof(config));
    if (c->filters_shape.rank != 4 || n < 0 || (size_t)n >= sizeof(config) || mkdir(dir, 0755) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/config.json", dir);
    if (fixture_write_file(path, config, (size_t)n) != 0)
        return -1;
    fixture_npy_dict(&c->filters_shape, dict, sizeof(dict));
    snprintf(path, sizeof(path), "%s/filters.npy", dir);
    return fixture_write_npy(path, npy_major, dict, c->filters, c->filters_count * sizeof(float));
}

/* Loads the valid corpus cases (rank-4 shapes, as every valid case has). Returns 0, or -1 with
 * the reason on stderr. Free with fixture_cases_free. */
static inline int fixture_valid_cases(struct corpus_case **out, size_t *count)
{
    char why[512];
    char **paths = NULL;
    size_t n = 0;
    *out = NULL;
    *count = 0;
    if (corpus_list("valid", &paths, &n, why, sizeof(why)) != 0) {
        fprintf(stderr, "corpus: %s\n", why);
        return -1;
    }
    struct corpus_case *cases = calloc(n, sizeof(*cases));
    int rc = cases ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = corpus_load(paths[i], &cases[i], why, sizeof(why));
        if (rc != 0)
            fprintf(stderr, "corpus: %s\n", why);
        *count = i + 1;
    }
    corpus_paths_free(paths, n);
    *out = cases;
    return rc;
}

static inline void fixture_cases_free(struct corpus_case *cases, size_t count)
{
    for (size_t i = 0; cases != NULL && i < count; i++)
        corpus_case_free(&cases[i]);
    free(cases);
}

/* The case whose name is name, or NULL. */
static inline const struct corpus_case *fixture_find_case(const struct corpus_case *cases,
                                                          size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    }
    return NULL;
}

#endif
