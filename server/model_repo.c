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
    struct atrousd_served **served; /* sorted by (name, version_number, dir); a reference each */
    struct atrous_model **models;   /* models[i] = served[i]->model, for the versions arrays */
    size_t count;
    _Atomic size_t refs;
};

static void stamp_of(const struct stat *sb, struct atrousd_file_stamp *out)
{
    out->dev = sb->st_dev;
    out->ino = sb->st_ino;
    out->size = (int64_t)sb->st_size;
    out->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    out->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
}

/* Opens path for reading as a regular file of at most max bytes; *size receives its size.
 * O_NONBLOCK: opening a FIFO (or a device) would otherwise wait for a writer and stall
 * start-up; fstat on the descriptor (not the path) then refuses anything but a regular file,
 * so nothing can be swapped in between the check and the read. */
static enum atrous_status open_regular(const char *path, const char *field, int *fd, uint64_t *size,
                                       struct atrousd_file_stamp *stamp, struct atrous_error *err)
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
    if (stamp != NULL)
        stamp_of(&sb, stamp);
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
                                      struct atrousd_file_stamp *stamp, struct atrous_error *err)
{
    enum atrous_status st;
    uint64_t size = 0;
    int fd = -1;
    if ((st = open_regular(path, "", &fd, &size, stamp, err)))
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
                                       struct atrousd_file_stamp *stamp, struct atrous_error *err)
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
    if ((st = open_regular(path, field, &fd, &size, stamp, err)) ||
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
    /* A 16-bit model's filters are of its dtype: rounded once here (an overflow is then a
     * non-finite element, which the check below reports). */
    atrous_dtype_quantize(m->dtype, m->filters, m->filters_elements);
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

/* The config document's path in dir and the folder's last component (the default name). */
static enum atrous_status folder_paths(const char *dir, char path[PATH_MAX],
                                       char folder[ATROUS_MODEL_NAME_MAX + 2],
                                       struct atrous_error *err)
{
    if (snprintf(path, PATH_MAX, "%s/%s", dir, ATROUS_MODEL_CONFIG_FILE) >= PATH_MAX)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "", "%s: path too long", dir);
    /* Too long a last component is no valid name, which the decoder reports. */
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    snprintf(folder, ATROUS_MODEL_NAME_MAX + 2, "%.*s", (int)strcspn(base, "/"), base);
    return ATROUS_OK;
}

enum atrous_status
atrousd_model_load_with(const char *dir, const char *override, size_t override_len,
                        const struct atrousd_model_limits *limits, struct atrous_model **out,
                        struct atrousd_folder_stamp *stamp, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    char path[PATH_MAX], folder[ATROUS_MODEL_NAME_MAX + 2];
    char *text = NULL;
    size_t len = 0;
    struct atrous_model_config config = {0};
    struct atrousd_folder_stamp local = {0};

    if ((st = folder_paths(dir, path, folder, err)))
        return st;
    if (override != NULL) {
        /* Messages name the override, not a file the user did not send. */
        snprintf(path, sizeof(path), "%s (config override)", folder);
        st = atrous_model_config_decode(override, override_len, path, folder, &config, err);
    } else if ((st = read_config(path, &text, &len, &local.config, err)) == ATROUS_OK) {
        st = atrous_model_config_decode(text, len, path, folder, &config, err);
    }
    if (st != ATROUS_OK ||
        (st = read_filters(config.model, dir, &config, limits, &local.filters, err)))
        goto out;
    if ((st = atrous_model_check_runnable(config.model, err)) && err != NULL) {
        struct atrous_error why = *err;
        atrous_error_set(err, st, why.field, "%s: %s", path, why.message);
        goto out;
    }
    snprintf(local.filters_file, sizeof(local.filters_file), "%s", config.filters_file);
    if (stamp != NULL)
        *stamp = local;
    *out = config.model;
    config.model = NULL;
out:
    free(text);
    atrous_model_free(config.model);
    return st;
}

enum atrous_status atrousd_model_load(const char *dir, const struct atrousd_model_limits *limits,
                                      struct atrous_model **out, struct atrous_error *err)
{
    return atrousd_model_load_with(dir, NULL, 0, limits, out, NULL, err);
}

enum atrous_status atrousd_model_peek(const char *dir, char name[ATROUS_MODEL_NAME_MAX + 1],
                                      char version[ATROUS_MODEL_VERSION_MAX + 1],
                                      struct atrous_error *err)
{
    enum atrous_status st;
    char path[PATH_MAX], folder[ATROUS_MODEL_NAME_MAX + 2];
    char *text = NULL;
    size_t len = 0;
    struct atrous_model_config config = {0};
    if ((st = folder_paths(dir, path, folder, err)) ||
        (st = read_config(path, &text, &len, NULL, err)) ||
        (st = atrous_model_config_decode(text, len, path, folder, &config, err)))
        goto out;
    snprintf(name, ATROUS_MODEL_NAME_MAX + 1, "%s", config.model->name);
    snprintf(version, ATROUS_MODEL_VERSION_MAX + 1, "%s", config.model->version);
out:
    free(text);
    atrous_model_free(config.model);
    return st;
}

/* The stamp of path now; false when it cannot be had (gone). */
static bool stamp_path(const char *path, struct atrousd_file_stamp *out)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return false;
    stamp_of(&sb, out);
    return true;
}

static bool same_stamp(const struct atrousd_file_stamp *a, const struct atrousd_file_stamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

bool atrousd_folder_unchanged(const char *dir, const struct atrousd_folder_stamp *stamp)
{
    char path[PATH_MAX];
    struct atrousd_file_stamp now;
    if (snprintf(path, sizeof(path), "%s/%s", dir, ATROUS_MODEL_CONFIG_FILE) >= (int)sizeof(path) ||
        !stamp_path(path, &now) || !same_stamp(&now, &stamp->config))
        return false;
    if (snprintf(path, sizeof(path), "%s/%s", dir, stamp->filters_file) >= (int)sizeof(path) ||
        !stamp_path(path, &now) || !same_stamp(&now, &stamp->filters))
        return false;
    return true;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum atrous_status atrousd_folders_list(const char *root, size_t max, char ***out, size_t *count,
                                        struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    if (max == 0)
        max = ATROUSD_MODEL_REPO_DEFAULT_MAX;
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
    atrousd_folders_free(names, n);
    closedir(d);
    return st;
}

void atrousd_folders_free(char **folders, size_t count)
{
    for (size_t i = 0; folders != NULL && i < count; i++)
        free(folders[i]);
    free(folders);
}

/* Served models. */

struct atrousd_served *atrousd_served_create(struct atrous_model *model, const char *dir,
                                             const struct atrousd_folder_stamp *stamp)
{
    struct atrousd_served *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->dir = strdup(dir)) == NULL) {
        free(s);
        atrous_model_free(model);
        return NULL;
    }
    s->model = model;
    if (stamp != NULL)
        s->stamp = *stamp;
    atomic_init(&s->refs, 1);
    return s;
}

void atrousd_served_ref(struct atrousd_served *served)
{
    atomic_fetch_add_explicit(&served->refs, 1, memory_order_relaxed);
}

void atrousd_served_release(struct atrousd_served *served)
{
    if (served == NULL || atomic_fetch_sub_explicit(&served->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (atomic_load(&served->retired) && served->retired_held != NULL)
        atomic_fetch_sub(served->retired_held, 1);
    atrous_model_free(served->model);
    free(served->dir);
    free(served);
}

void atrousd_served_retire(struct atrousd_served *served)
{
    bool was = atomic_exchange(&served->retired, true);
    if (!was && served->retired_held != NULL)
        atomic_fetch_add(served->retired_held, 1);
}

/* Snapshots. */

static int compare_served(const void *a, const void *b)
{
    const struct atrousd_served *x = *(struct atrousd_served *const *)a;
    const struct atrousd_served *y = *(struct atrousd_served *const *)b;
    int c = strcmp(x->model->name, y->model->name);
    if (c == 0)
        c = (x->model->version_number > y->model->version_number) -
            (x->model->version_number < y->model->version_number);
    return c ? c : strcmp(x->dir, y->dir);
}

static enum atrous_status repo_alloc(size_t cap, struct atrousd_repo **out,
                                     struct atrous_error *err)
{
    struct atrousd_repo *repo = calloc(1, sizeof(*repo));
    if (repo != NULL && cap > 0) {
        repo->served = calloc(cap, sizeof(*repo->served));
        repo->models = calloc(cap, sizeof(*repo->models));
        if (repo->served == NULL || repo->models == NULL) {
            free(repo->served);
            free(repo->models);
            free(repo);
            repo = NULL;
        }
    }
    if (repo == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the repository");
    atomic_init(&repo->refs, 1);
    *out = repo;
    return ATROUS_OK;
}

enum atrous_status atrousd_repo_create_empty(struct atrousd_repo **out, struct atrous_error *err)
{
    return repo_alloc(0, out, err);
}

/* Drops the i-th model from the repository (releasing it). */
static void repo_remove(struct atrousd_repo *repo, size_t i)
{
    atrousd_served_release(repo->served[i]);
    memmove(&repo->served[i], &repo->served[i + 1],
            (repo->count - i - 1) * sizeof(repo->served[0]));
    memmove(&repo->models[i], &repo->models[i + 1],
            (repo->count - i - 1) * sizeof(repo->models[0]));
    repo->count--;
}

/* Sorts the snapshot and drops (reporting) the later in folder-name order of two folders with
 * one name and version. */
static void repo_sort(struct atrousd_repo *repo, atrousd_model_report_fn report, void *ctx)
{
    qsort(repo->served, repo->count, sizeof(*repo->served), compare_served);
    for (size_t i = 0; i < repo->count; i++)
        repo->models[i] = repo->served[i]->model;
    for (size_t i = 1; i < repo->count;) {
        const struct atrous_model *a = repo->models[i - 1], *b = repo->models[i];
        if (strcmp(a->name, b->name) != 0 || a->version_number != b->version_number) {
            i++;
            continue;
        }
        struct atrous_error dup;
        atrous_error_set(&dup, ATROUS_INVALID_ARGUMENT, "name",
                         "%s/%s: model '%s' version %s is already loaded from %s",
                         repo->served[i]->dir, ATROUS_MODEL_CONFIG_FILE, b->name, b->version,
                         repo->served[i - 1]->dir);
        if (report)
            report(ctx, repo->served[i]->dir, &dup);
        repo_remove(repo, i);
    }
}

enum atrous_status atrousd_repo_build(struct atrousd_served *const *served, size_t count,
                                      atrousd_model_report_fn report, void *ctx,
                                      struct atrousd_repo **out, struct atrous_error *err)
{
    struct atrousd_repo *repo = NULL;
    enum atrous_status st = repo_alloc(count, &repo, err);
    if (st != ATROUS_OK)
        return st;
    for (size_t i = 0; i < count; i++) {
        atrousd_served_ref(served[i]);
        repo->served[i] = served[i];
    }
    repo->count = count;
    /* Ties go to the earlier folder name, as at start, whatever order the caller had. */
    repo_sort(repo, report, ctx);
    *out = repo;
    return ATROUS_OK;
}

enum atrous_status atrousd_repo_load(const char *root, const struct atrousd_model_limits *limits,
                                     atrousd_model_report_fn report, void *ctx,
                                     struct atrousd_repo **out, size_t *failed,
                                     struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrousd_repo *repo = NULL;
    char **folders = NULL;
    size_t folder_count = 0, failures = 0;
    size_t max = limits && limits->max_models ? limits->max_models : ATROUSD_MODEL_REPO_DEFAULT_MAX;

    if ((st = atrousd_folders_list(root, max, &folders, &folder_count, err)) ||
        (st = repo_alloc(folder_count, &repo, err)))
        goto out;
    for (size_t i = 0; i < folder_count; i++) {
        struct atrous_error model_err;
        struct atrous_model *model = NULL;
        struct atrousd_folder_stamp stamp;
        atrous_error_clear(&model_err);
        st = atrousd_model_load_with(folders[i], NULL, 0, limits, &model, &stamp, &model_err);
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
        if ((repo->served[repo->count] = atrousd_served_create(model, folders[i], &stamp)) ==
            NULL) {
            st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the repository");
            goto out;
        }
        repo->count++;
    }
    size_t loaded = repo->count;
    repo_sort(repo, report, ctx);
    failures += loaded - repo->count;
    *out = repo;
    repo = NULL;
out:
    atrousd_folders_free(folders, folder_count);
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
            report(ctx, repo->served[i]->dir, &err);
        repo_remove(repo, i);
        removed++;
    }
    return removed;
}

struct atrousd_repo *atrousd_repo_ref(struct atrousd_repo *repo)
{
    atomic_fetch_add_explicit(&repo->refs, 1, memory_order_relaxed);
    return repo;
}

void atrousd_repo_release(struct atrousd_repo *repo)
{
    if (repo == NULL || atomic_fetch_sub_explicit(&repo->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < repo->count; i++)
        atrousd_served_release(repo->served[i]);
    free(repo->served);
    free(repo->models);
    free(repo);
}

void atrousd_repo_free(struct atrousd_repo *repo)
{
    atrousd_repo_release(repo);
}

size_t atrousd_repo_count(const struct atrousd_repo *repo)
{
    return repo->count;
}

const struct atrous_model *atrousd_repo_at(const struct atrousd_repo *repo, size_t i)
{
    return i < repo->count ? repo->models[i] : NULL;
}

struct atrousd_served *atrousd_repo_served(const struct atrousd_repo *repo, size_t i)
{
    return i < repo->count ? repo->served[i] : NULL;
}

const char *atrousd_repo_dir(const struct atrousd_repo *repo, size_t i)
{
    return i < repo->count ? repo->served[i]->dir : NULL;
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

/* The index of the model of that name and version (NULL or "": the highest), or count. */
static size_t find_index(const struct atrousd_repo *repo, const char *name, const char *version)
{
    size_t first = 0;
    size_t count = atrousd_repo_versions(repo, name, &first, NULL);
    if (count == 0)
        return repo->count;
    if (version == NULL || version[0] == '\0')
        return first + count - 1;
    for (size_t i = first; i < first + count; i++)
        if (strcmp(repo->models[i]->version, version) == 0)
            return i;
    return repo->count;
}

const struct atrous_model *atrousd_repo_find(const struct atrousd_repo *repo, const char *name,
                                             const char *version)
{
    return atrousd_repo_at(repo, find_index(repo, name, version));
}

const struct atrousd_served *atrousd_repo_find_served(const struct atrousd_repo *repo,
                                                      const char *name, const char *version)
{
    return atrousd_repo_served(repo, find_index(repo, name, version));
}
