/*
 * corpus.c - reads the conformance corpus's JSON case files into plain C structs, and the
 * corpus's tolerance rule. The only test file that includes jansson.h (see corpus.h for why a
 * test may use it at all).
 */
#include "corpus.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "atrous_op.h"

const char *corpus_dir(void)
{
    const char *dir = getenv("ATROUS_TEST_DATA");
    return dir && dir[0] ? dir : CORPUS_DEFAULT_DIR;
}

int corpus_fail(char *why, size_t why_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why != NULL && why_size > 0)
        vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return -1;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_json_file(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".json") == 0;
}

void corpus_paths_free(char **paths, size_t count)
{
    if (paths == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(paths[i]);
    free(paths);
}

int corpus_list(const char *folder, char ***paths, size_t *count, char *why, size_t why_size)
{
    char dir_path[4096];
    char **list = NULL;
    size_t used = 0, capacity = 0;
    struct dirent *entry;
    int rc = -1;

    snprintf(dir_path, sizeof(dir_path), "%s/%s", corpus_dir(), folder);
    DIR *dir = opendir(dir_path);
    if (dir == NULL)
        return corpus_fail(
            why, why_size,
            "cannot open corpus folder %s (set ATROUS_TEST_DATA or run from the repo "
            "root)",
            dir_path);
    while ((entry = readdir(dir)) != NULL) {
        if (!is_json_file(entry->d_name))
            continue;
        if (used == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            char **grown = realloc(list, capacity * sizeof(*list));
            if (grown == NULL) {
                corpus_fail(why, why_size, "out of memory listing %s", dir_path);
                goto out;
            }
            list = grown;
        }
        size_t size = strlen(dir_path) + 1 + strlen(entry->d_name) + 1;
        if ((list[used] = malloc(size)) == NULL) {
            corpus_fail(why, why_size, "out of memory listing %s", dir_path);
            goto out;
        }
        snprintf(list[used++], size, "%s/%s", dir_path, entry->d_name);
    }
    if (used == 0) {
        corpus_fail(why, why_size, "corpus folder %s holds no .json cases", dir_path);
        goto out;
    }
    qsort(list, used, sizeof(*list), compare_strings);
    *paths = list;
    *count = used;
    list = NULL;
    rc = 0;
out:
    closedir(dir);
    corpus_paths_free(list, used);
    return rc;
}

void corpus_case_free(struct corpus_case *c)
{
    if (c == NULL)
        return;
    free(c->name);
    free(c->path);
    free(c->value);
    free(c->filters);
    free(c->output_shape);
    free(c->padding);
    free(c->expected);
    free(c->error_kind);
    free(c->error_stage);
    free(c->message_contains);
    memset(c, 0, sizeof(*c));
}

/* Copies a JSON string member (which may hold NUL bytes) into a fresh NUL-terminated buffer. */
static int get_string(json_t *obj, const char *key, char **out, size_t *len, char *why,
                      size_t why_size)
{
    json_t *s = json_object_get(obj, key);
    if (!json_is_string(s))
        return corpus_fail(why, why_size, "\"%s\" is missing or not a string", key);
    size_t n = json_string_length(s);
    if ((*out = malloc(n + 1)) == NULL)
        return corpus_fail(why, why_size, "out of memory reading \"%s\"", key);
    memcpy(*out, json_string_value(s), n);
    (*out)[n] = '\0';
    if (len)
        *len = n;
    return 0;
}

/* Reads an array of integers (at most max of them) into a fresh array. */
static int get_ints(json_t *array, const char *what, size_t max, int64_t **out, size_t *count,
                    char *why, size_t why_size)
{
    if (!json_is_array(array))
        return corpus_fail(why, why_size, "%s is missing or not a list", what);
    size_t n = json_array_size(array);
    if (n > max)
        return corpus_fail(why, why_size, "%s has %zu numbers, more than %zu", what, n, max);
    if ((*out = calloc(n ? n : 1, sizeof(**out))) == NULL)
        return corpus_fail(why, why_size, "out of memory reading %s", what);
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(array, i);
        if (!json_is_integer(item))
            return corpus_fail(why, why_size, "%s[%zu] is not an integer", what, i);
        (*out)[i] = (int64_t)json_integer_value(item);
    }
    *count = n;
    return 0;
}

/* Reads {"shape": [...], "data": [...]} into a shape and a float32 array whose length must be
 * the product of the shape. */
static int get_tensor(json_t *obj, const char *key, struct atrous_shape *shape, float **data,
                      size_t *count, char *why, size_t why_size)
{
    char what[64];
    int64_t *dims = NULL;
    size_t rank = 0, elements = 1;
    int rc = -1;
    json_t *tensor = json_object_get(obj, key);

    snprintf(what, sizeof(what), "%s.shape", key);
    if (!json_is_object(tensor)) {
        corpus_fail(why, why_size, "\"%s\" is missing or not an object", key);
        goto out;
    }
    if (get_ints(json_object_get(tensor, "shape"), what, ATROUS_MAX_RANK, &dims, &rank, why,
                 why_size))
        goto out;
    memset(shape, 0, sizeof(*shape));
    shape->rank = (int)rank;
    for (size_t i = 0; i < rank; i++) {
        if (dims[i] < 0) {
            corpus_fail(why, why_size, "%s has a negative dimension", what);
            goto out;
        }
        shape->dims[i] = dims[i];
        elements *= (size_t)dims[i];
    }
    json_t *values = json_object_get(tensor, "data");
    if (!json_is_array(values) || json_array_size(values) != elements) {
        corpus_fail(why, why_size, "%s.data is not a list of %zu numbers", key, elements);
        goto out;
    }
    *data = NULL;
    if (elements > 0 && (*data = malloc(elements * sizeof(float))) == NULL) {
        corpus_fail(why, why_size, "out of memory reading %s.data", key);
        goto out;
    }
    for (size_t i = 0; i < elements; i++) {
        json_t *item = json_array_get(values, i);
        if (!json_is_number(item)) {
            corpus_fail(why, why_size, "%s.data[%zu] is not a number", key, i);
            goto out;
        }
        /* The corpus writes the shortest decimal of each float32: read as double, then round
         * to float32, and the bits are exact. */
        (*data)[i] = (float)json_number_value(item);
    }
    *count = elements;
    rc = 0;
out:
    free(dims);
    return rc;
}

/* The name a case file must carry: its file name without the "NNN_" prefix and ".json". */
static bool name_matches_path(const char *name, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *underscore = strchr(base, '_');
    if (underscore == NULL)
        return false;
    const char *stem = underscore + 1;
    size_t stem_len = strlen(stem) - strlen(".json");
    return strlen(name) == stem_len && strncmp(stem, name, stem_len) == 0;
}

static int load_error(json_t *root, struct corpus_case *c, char *why, size_t why_size)
{
    json_t *error = json_object_get(root, "expected_error");
    if (!json_is_object(error))
        return corpus_fail(why, why_size, "neither \"expected\" nor \"expected_error\" is present");
    if (get_string(error, "kind", &c->error_kind, NULL, why, why_size) ||
        get_string(error, "stage", &c->error_stage, NULL, why, why_size) ||
        get_string(error, "message_contains", &c->message_contains, NULL, why, why_size))
        return -1;
    return 0;
}

static int load_meta_pads(json_t *root, struct corpus_case *c, char *why, size_t why_size)
{
    int64_t *pads = NULL;
    size_t count = 0;
    json_t *meta = json_object_get(root, "meta");
    json_t *pads_json = json_is_object(meta) ? json_object_get(meta, "pads_tblr") : NULL;
    if (pads_json == NULL)
        return 0;
    if (get_ints(pads_json, "meta.pads_tblr", 4, &pads, &count, why, why_size) || count != 4) {
        free(pads);
        return corpus_fail(why, why_size, "meta.pads_tblr is not a list of 4 integers");
    }
    memcpy(c->pads_tblr, pads, sizeof(c->pads_tblr));
    c->has_pads = true;
    free(pads);
    return 0;
}

static int load_fields(json_t *root, struct corpus_case *c, char *why, size_t why_size)
{
    if (!json_is_object(root))
        return corpus_fail(why, why_size, "the file is not a JSON object");
    if (get_string(root, "name", &c->name, NULL, why, why_size))
        return -1;
    if (!name_matches_path(c->name, c->path))
        return corpus_fail(why, why_size, "\"name\" %s does not match the file name", c->name);
    if (get_tensor(root, "value", &c->value_shape, &c->value, &c->value_count, why, why_size) ||
        get_tensor(root, "filters", &c->filters_shape, &c->filters, &c->filters_count, why,
                   why_size))
        return -1;
    if (get_ints(json_object_get(root, "output_shape"), "output_shape", ATROUS_MAX_RANK,
                 &c->output_shape, &c->output_shape_len, why, why_size))
        return -1;
    json_t *rate = json_object_get(root, "rate");
    if (!json_is_integer(rate))
        return corpus_fail(why, why_size, "\"rate\" is missing or not an integer");
    c->rate = (int64_t)json_integer_value(rate);
    if (get_string(root, "padding", &c->padding, &c->padding_len, why, why_size))
        return -1;
    if (load_meta_pads(root, c, why, why_size))
        return -1;
    if (json_object_get(root, "expected") == NULL)
        return load_error(root, c, why, why_size);
    c->has_expected = true;
    return get_tensor(root, "expected", &c->expected_shape, &c->expected, &c->expected_count, why,
                      why_size);
}

int corpus_load(const char *path, struct corpus_case *out, char *why, size_t why_size)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    if ((out->path = strdup(path)) == NULL)
        return corpus_fail(why, why_size, "out of memory");
    /* JSON_ALLOW_NUL: a padding string may legitimately carry "\u0000". */
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (root == NULL)
        return corpus_fail(why, why_size, "%s: line %d: %s", path, jerr.line, jerr.text);
    int rc = load_fields(root, out, why, why_size);
    json_decref(root);
    if (rc != 0) {
        /* Prefix the reason with the file so a failing test says which case is broken. */
        char reason[512];
        snprintf(reason, sizeof(reason), "%s", why);
        corpus_fail(why, why_size, "%s: %s", path, reason);
    }
    return rc;
}

double corpus_scaled_error(double got, double expected)
{
    if (!isfinite(got))
        return INFINITY;
    return fabs(got - expected) / (CORPUS_ATOL + CORPUS_RTOL * fabs(expected));
}

void corpus_compare(const float *got, const float *expected, size_t count,
                    struct corpus_comparison *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < count; i++) {
        double e = corpus_scaled_error(got[i], expected[i]);
        if (!isfinite(got[i]))
            out->non_finite++;
        if (!(e <= 1.0))
            out->failures++;
        if (e > out->worst) {
            out->worst = e;
            out->worst_index = i;
        }
    }
}
