/*
 * model_repo.c - the model repository of --model-dir: lists the model folders, reads each
 * folder's config and filters into memory (regular files only, every read bounded before it
 * starts), has proto decode them and lib check and prepare them, and answers lookups by name
 * and version.
 */
#include "model_repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atrous_model_config.h"
#include "atrous_npy.h"

struct atrousd_repo {
    struct atrous_model **models; /* sorted by (name, version_number, dir) */
    char **dirs;                  /* dirs[i]: the folder models[i] was loaded from (owned) */
    size_t count;
};

/* Opens path for reading as a regular file of at most max bytes; *size receives its size.
 * O_NONBLOCK: opening a FIFO (or a device) would otherwise wait for a writer and stall
 * start-up; fstat on the descriptor (not the path) then refuses anything but a regular file,
 * so nothing can be swapped in between the check and the read. */
static enum atrous_status open_regular(const char *path, const char *field, int *fd, uint64_t *size,
                                       struct atrous_error *err)
{
    struct stat sb;
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (*fd < 0)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field, "%s: cannot open: %s", path,
                                strerror(errno));
    if (fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field, "%s: not a regular file",
                                path);
    *size = (uint64_t)sb.st_size;
    return ATROUS_OK;
}

/* Reads exactly size bytes of an open file into a malloc'd, NUL-terminated buffer. A file
 * that shrank while read fails; one that grew is read only to the size checked before. */
static enum atrous_status read_exactly(int fd, const char *path, const char *field, size_t size,
                                       char **out, struct atrous_error *err)
{
    size_t done = 0;
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, field, "%s: out of memory for %zu bytes",
                                path, size);
    while (done < size) {
        ssize_t n = read(fd, buf + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field, "%s: read failed: %s",
                                    path, n < 0 ? strerror(errno) : "file shrank while read");
        }
        done += (size_t)n;
    }
    buf[size] = '\0';
    *out = buf;
    return ATROUS_OK;
}

/* Reads config.json of a folder (at most ATROUS_MODEL_CONFIG_MAX_BYTES). */
static enum atrous_status read_config(const char *path, char **out, size_t *len,
                                      struct atrous_error *err)
{
    enum atrous_status st;
    uint64_t size = 0;
    int fd = -1;
    if ((st = open_regular(path, "", &fd, &size, err)))
        goto out;
    if (size > ATROUS_MODEL_CONFIG_MAX_BYTES) {
        st = atrous_error_set(err, ATROUS_TOO_LARGE, "",
                              "%s: %" PRIu64 " bytes, more than the %d allowed", path, size,
                              ATROUS_MODEL_CONFIG_MAX_BYTES);
        goto out;
    }
    *len = (size_t)size;
    st = read_exactly(fd, path, "", (size_t)size, out, err);
out:
    if (fd >= 0)
        close(fd);
    return st;
}

/* Reads the filters file the config names into model->filters: the size is checked against
 * the configured shape before a byte is read, then proto decodes the bytes. */
static enum atrous_status read_filters(struct atrous_model *m, const char *dir,
                                       const struct atrous_model_config *config,
                                       const struct atrousd_model_limits *limits,
                                       struct atrous_error *err)
{
    static const char field[] = "filters.file";
    enum atrous_status st;
    char path[PATH_MAX];
    char *bytes = NULL;
    uint64_t size = 0;
    int fd = -1;
    size_t max = limits ? limits->max_filters_elements : 0;
    if (snprintf(path, sizeof(path), "%s/%s", dir, config->filters_file) >= (int)sizeof(path))
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field, "%s/%s: path too long", dir,
                                ATROUS_MODEL_CONFIG_FILE);
    if ((st = open_regular(path, field, &fd, &size, err)) ||
        (st = atrous_npy_check_file_size(path, &m->filters_shape, max, config->filters_npy, size,
                                         field, err)) ||
        (st = read_exactly(fd, path, field, (size_t)size, &bytes, err)))
        goto out;
    st = config->filters_npy
             ? atrous_npy_decode_f32(bytes, (size_t)size, path, &m->filters_shape, max, field,
                                     &m->filters, err)
             : atrous_npy_decode_raw_f32(bytes, (size_t)size, path, &m->filters_shape, max, field,
                                         &m->filters, err);
    if (st != ATROUS_OK)
        goto out;
    /* The decoder checked the element count against the limits. */
    atrous_shape_elements(&m->filters_shape, field, &m->filters_elements, NULL);
    if ((st = atrous_model_check_filters(m, field, err)) && err != NULL) {
        struct atrous_error why = *err;
        atrous_error_set(err, st, field, "%s: %s", path, why.message);
    }
out:
    if (fd >= 0)
        close(fd);
    free(bytes);
    return st;
}

enum atrous_status atrousd_model_load(const char *dir, const struct atrousd_model_limits *limits,
                                      struct atrous_model **out, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    char path[PATH_MAX], folder[ATROUS_MODEL_NAME_MAX + 2];
    char *text = NULL;
    size_t len = 0;
    struct atrous_model_config config = {0};

    if (snprintf(path, sizeof(path), "%s/%s", dir, ATROUS_MODEL_CONFIG_FILE) >= (int)sizeof(path))
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "", "%s: path too long", dir);
    /* The folder's last component is the default name (too long a one is no valid name). */
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    snprintf(folder, sizeof(folder), "%.*s", (int)strcspn(base, "/"), base);
    if ((st = read_config(path, &text, &len, err)) ||
        (st = atrous_model_config_decode(text, len, path, folder, &config, err)) ||
        (st = read_filters(config.model, dir, &config, limits, err)))
        goto out;
    if ((st = atrous_model_check_runnable(config.model, err)) && err != NULL) {
        struct atrous_error why = *err;
        atrous_error_set(err, st, why.field, "%s: %s", path, why.message);
        goto out;
    }
    *out = config.model;
    config.model = NULL;
out:
    free(text);
    atrous_model_free(config.model);
    return st;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A loaded model and its folder, while the repository is being built. */
struct loaded {
    struct atrous_model *model;
    char *dir;
};

static int compare_loaded(const void *a, const void *b)
{
    const struct loaded *x = a, *y = b;
    int c = strcmp(x->model->name, y->model->name);
    if (c == 0)
        c = (x->model->version_number > y->model->version_number) -
            (x->model->version_number < y->model->version_number);
    return c ? c : strcmp(x->dir, y->dir);
}

/* The sub-folders of root to load (sorted, malloc'd names), at most max. */
static enum atrous_status list_folders(const char *root, size_t max, char ***out, size_t *count,
                                       struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    DIR *d = opendir(root);
    if (d == NULL)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                "model directory %s: cannot open: %s", root, strerror(errno));
    names = calloc(max, sizeof(*names));
    if (names == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory listing %s", root);
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat sb;
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", root, e->d_name) >= (int)sizeof(path) ||
            stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        if (n == max) {
            st = atrous_error_set(err, ATROUS_TOO_LARGE, "",
                                  "model directory %s holds more than %zu folders", root, max);
            goto out;
        }
        if ((names[n] = strdup(path)) == NULL) {
            st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory listing %s", root);
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof(*names), compare_names);
    *out = names;
    *count = n;
    names = NULL;
out:
    for (size_t i = 0; names != NULL && i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return st;
}

enum atrous_status atrousd_repo_create_empty(struct atrousd_repo **out, struct atrous_error *err)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the repository");
    return ATROUS_OK;
}

/* Drops the i-th model from the repository (freeing it). */
static void repo_remove(struct atrousd_repo *repo, size_t i)
{
    atrous_model_free(repo->models[i]);
    free(repo->dirs[i]);
    memmove(&repo->models[i], &repo->models[i + 1],
            (repo->count - i - 1) * sizeof(repo->models[0]));
    memmove(&repo->dirs[i], &repo->dirs[i + 1], (repo->count - i - 1) * sizeof(repo->dirs[0]));
    repo->count--;
}

enum atrous_status atrousd_repo_load(const char *root, const struct atrousd_model_limits *limits,
                                     atrousd_model_report_fn report, void *ctx,
                                     struct atrousd_repo **out, size_t *failed,
                                     struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrousd_repo *repo = NULL;
    struct loaded *loaded = NULL;
    char **folders = NULL;
    size_t folder_count = 0, failures = 0, n = 0;
    size_t max = limits && limits->max_models ? limits->max_models : ATROUSD_MODEL_REPO_DEFAULT_MAX;

    if ((st = list_folders(root, max, &folders, &folder_count, err)) ||
        (st = atrousd_repo_create_empty(&repo, err)))
        goto out;
    size_t cap = folder_count ? folder_count : 1;
    loaded = calloc(cap, sizeof(*loaded));
    repo->models = calloc(cap, sizeof(*repo->models));
    repo->dirs = calloc(cap, sizeof(*repo->dirs));
    if (loaded == NULL || repo->models == NULL || repo->dirs == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the repository");
        goto out;
    }
    for (size_t i = 0; i < folder_count; i++) {
        struct atrous_error model_err;
        atrous_error_clear(&model_err);
        st = atrousd_model_load(folders[i], limits, &loaded[n].model, &model_err);
        if (st == ATROUS_NO_MEMORY) {
            if (err)
                *err = model_err;
            goto out;
        }
        if (st != ATROUS_OK) {
            failures++;
            if (report)
                report(ctx, folders[i], &model_err);
            st = ATROUS_OK;
            continue;
        }
        loaded[n].dir = folders[i];
        folders[i] = NULL;
        n++;
    }
    qsort(loaded, n, sizeof(*loaded), compare_loaded);
    for (size_t i = 0; i < n; i++) {
        repo->models[i] = loaded[i].model;
        repo->dirs[i] = loaded[i].dir;
    }
    repo->count = n;
    n = 0; /* the repository owns them now */
    for (size_t i = 1; i < repo->count;) {
        const struct atrous_model *a = repo->models[i - 1], *b = repo->models[i];
        if (strcmp(a->name, b->name) != 0 || a->version_number != b->version_number) {
            i++;
            continue;
        }
        struct atrous_error dup;
        atrous_error_set(&dup, ATROUS_INVALID_ARGUMENT, "name",
                         "%s/%s: model '%s' version %s is already loaded from %s", repo->dirs[i],
                         ATROUS_MODEL_CONFIG_FILE, b->name, b->version, repo->dirs[i - 1]);
        failures++;
        if (report)
            report(ctx, repo->dirs[i], &dup);
        repo_remove(repo, i);
    }
    *out = repo;
    repo = NULL;
out:
    for (size_t i = 0; i < n; i++) {
        atrous_model_free(loaded[i].model);
        free(loaded[i].dir);
    }
    free(loaded);
    for (size_t i = 0; i < folder_count; i++)
        free(folders[i]);
    free(folders);
    atrousd_repo_free(repo);
    if (failed)
        *failed = failures;
    return st;
}

size_t atrousd_repo_prepare(struct atrousd_repo *repo, struct atrous_engine *engine,
                            atrousd_model_report_fn report, void *ctx)
{
    size_t removed = 0;
    for (size_t i = 0; i < repo->count;) {
        struct atrous_error err;
        atrous_error_clear(&err);
        if (atrous_model_prepare(repo->models[i], engine, &err) == ATROUS_OK) {
            i++;
            continue;
        }
        if (report)
            report(ctx, repo->dirs[i], &err);
        repo_remove(repo, i);
        removed++;
    }
    return removed;
}

void atrousd_repo_free(struct atrousd_repo *repo)
{
    if (repo == NULL)
        return;
    for (size_t i = 0; i < repo->count; i++) {
        atrous_model_free(repo->models[i]);
        free(repo->dirs[i]);
    }
    free(repo->models);
    free(repo->dirs);
    free(repo);
}

size_t atrousd_repo_count(const struct atrousd_repo *repo)
{
    return repo->count;
}

const struct atrous_model *atrousd_repo_at(const struct atrousd_repo *repo, size_t i)
{
    return i < repo->count ? repo->models[i] : NULL;
}

const char *atrousd_repo_dir(const struct atrousd_repo *repo, size_t i)
{
    return i < repo->count ? repo->dirs[i] : NULL;
}

size_t atrousd_repo_versions(const struct atrousd_repo *repo, const char *name, size_t *first,
                             const struct atrous_model *const **versions)
{
    /* Lower bound of name in the sorted array, then the run of equal names. */
    size_t lo = 0, hi = repo->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(repo->models[mid]->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < repo->count && strcmp(repo->models[end]->name, name) == 0)
        end++;
    if (first)
        *first = lo;
    if (versions)
        *versions = end > lo ? (const struct atrous_model *const *)&repo->models[lo] : NULL;
    return end - lo;
}

const struct atrous_model *atrousd_repo_find(const struct atrousd_repo *repo, const char *name,
                                             const char *version)
{
    const struct atrous_model *const *versions = NULL;
    size_t count = atrousd_repo_versions(repo, name, NULL, &versions);
    if (count == 0)
        return NULL;
    if (version == NULL || version[0] == '\0')
        return versions[count - 1];
    for (size_t i = 0; i < count; i++)
        if (strcmp(versions[i]->version, version) == 0)
            return versions[i];
    return NULL;
}
