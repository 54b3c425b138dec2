/*
 * models.c - the model manager: the current snapshot and its swaps, the start-up load, rescans
 * (SIGHUP, poll), the repository extension's index, load and unload, and what the index says
 * about each folder.
 *
 * Decisions:
 *   - One thread changes the repository (the queue's single worker; at start, main): so the
 *     notes about folders and the building of snapshots need no lock; only the pointer to the
 *     current snapshot is shared, behind a mutex held for a pointer copy and a reference.
 *   - A folder is the unit of loading (one folder, one model version). An explicit load of a
 *     name reloads every folder whose config names it, and unloads the versions of that name
 *     no folder holds any more; a folder that fails keeps its previous version serving.
 *   - A config override (load with "config") replaces every version of the name with the one
 *     model it describes, its filters read from the folder that served the name (else the
 *     folder on disk with its highest version). It lasts until the next load of the name.
 */
#include "models.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atrous_kserve_repo.h"
#include "log.h"

/* What the index says about a folder that is not serving, or whose last load failed. */
struct note {
    char *dir;
    char *error;   /* the last load's failure (malloc'd), or NULL */
    bool unloaded; /* an unload request took its model away */
};

struct atrousd_models {
    char *root; /* "" without a repository */
    enum atrousd_model_control mode;
    uint64_t poll_secs;
    char *load_models;
    struct atrousd_model_limits limits;
    struct atrous_engine *engine;
    struct atrousd_metrics *metrics;
    int omp_threads;

    pthread_mutex_t current_lock;
    struct atrousd_repo *current; /* one reference, the manager's */

    /* Touched only by the thread that changes the repository. */
    struct note *notes;
    size_t note_count;

    struct atrousd_queue *queue; /* one worker: the manager's thread */
    _Atomic bool rescan_pending;
    bool stopped;

    pthread_t poller;
    bool poller_running;
    pthread_mutex_t poll_lock;
    pthread_cond_t poll_wake;
    bool poll_stop; /* under poll_lock */

    _Atomic uint64_t retired_held, loads_ok, loads_failed;
};

/* --- notes ---------------------------------------------------------------------------------- */

static struct note *note_find(struct atrousd_models *mm, const char *dir)
{
    for (size_t i = 0; i < mm->note_count; i++)
        if (strcmp(mm->notes[i].dir, dir) == 0)
            return &mm->notes[i];
    return NULL;
}

/* The note of dir, made when absent; NULL on out of memory (the note is then lost). */
static struct note *note_get(struct atrousd_models *mm, const char *dir)
{
    struct note *n = note_find(mm, dir);
    if (n != NULL)
        return n;
    struct note *grown = realloc(mm->notes, (mm->note_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    mm->notes = grown;
    n = &mm->notes[mm->note_count];
    *n = (struct note){.dir = strdup(dir)};
    if (n->dir == NULL)
        return NULL;
    mm->note_count++;
    return n;
}

static void note_failed(struct atrousd_models *mm, const char *dir, const char *error)
{
    struct note *n = note_get(mm, dir);
    if (n == NULL)
        return;
    free(n->error);
    n->error = strdup(error);
    n->unloaded = false;
}

/* A successful load: nothing more to say about the folder. */
static void note_clear(struct atrousd_models *mm, const char *dir)
{
    struct note *n = note_find(mm, dir);
    if (n == NULL)
        return;
    free(n->dir);
    free(n->error);
    *n = mm->notes[--mm->note_count];
}

static void note_unloaded(struct atrousd_models *mm, const char *dir)
{
    struct note *n = note_get(mm, dir);
    if (n == NULL)
        return;
    free(n->error);
    n->error = NULL;
    n->unloaded = true;
}

/* Forgets folders that are gone from the disk and serve nothing. */
static void notes_prune(struct atrousd_models *mm, char *const *folders, size_t count)
{
    for (size_t i = 0; i < mm->note_count;) {
        bool present = false;
        for (size_t k = 0; k < count && !present; k++)
            present = strcmp(folders[k], mm->notes[i].dir) == 0;
        if (present) {
            i++;
            continue;
        }
        note_clear(mm, mm->notes[i].dir);
    }
}

/* --- logging -------------------------------------------------------------------------------- */

static void log_failed(const char *dir, const struct atrous_error *err, bool keeps_serving)
{
    struct atrousd_log_field fields[] = {
        LOG_STR("dir", dir),
        LOG_STR("code", atrous_status_code(err->status)),
        LOG_STR("field", err->field[0] ? err->field : NULL),
        LOG_STR("error", err->message),
        LOG_BOOL("previous_version_serving", keeps_serving),
    };
    atrousd_log_fields(ATROUSD_LOG_ERROR,
                       keeps_serving ? "model reload failed" : "model folder skipped", fields,
                       sizeof(fields) / sizeof(fields[0]));
}

static void log_loaded(const struct atrousd_served *s, const char *why)
{
    const struct atrous_model *m = s->model;
    char filters[128];
    atrous_shape_format(&m->filters_shape, filters, sizeof(filters));
    struct atrousd_log_field fields[] = {
        LOG_STR("model", m->name),
        LOG_STR("version", m->version),
        LOG_STR("dir", s->dir),
        LOG_INT("rate", m->rate),
        LOG_STR("padding", atrous_padding_name(m->padding)),
        LOG_STR("filters_shape", filters),
        LOG_UINT("prepared_layouts", atrous_filters_layout_count(m->prepared)),
        LOG_STR("trigger", why),
        LOG_BOOL("config_override", s->override),
    };
    atrousd_log_fields(ATROUSD_LOG_INFO, "model loaded", fields,
                       sizeof(fields) / sizeof(fields[0]));
}

static void log_unloaded(const struct atrousd_served *s, const char *why)
{
    struct atrousd_log_field fields[] = {
        LOG_STR("model", s->model->name),
        LOG_STR("version", s->model->version),
        LOG_STR("dir", s->dir),
        LOG_STR("trigger", why),
    };
    atrousd_log_fields(ATROUSD_LOG_INFO, "model unloaded", fields,
                       sizeof(fields) / sizeof(fields[0]));
}

/* --- loading one folder --------------------------------------------------------------------- */

/* Loads and prepares the folder dir (with an override document when given) into a served
 * model with one reference. Counts the attempt. */
static enum atrous_status load_folder(struct atrousd_models *mm, const char *dir,
                                      const char *override, size_t override_len,
                                      struct atrousd_served **out, struct atrous_error *err)
{
    struct atrous_model *model = NULL;
    struct atrousd_folder_stamp stamp;
    enum atrous_status st =
        atrousd_model_load_with(dir, override, override_len, &mm->limits, &model, &stamp, err);
    if (st == ATROUS_OK && (st = atrous_model_prepare(model, mm->engine, err)) != ATROUS_OK &&
        err != NULL) {
        struct atrous_error why = *err;
        atrous_error_set(err, st, why.field, "%s: %s", dir, why.message);
    }
    if (st != ATROUS_OK) {
        atrous_model_free(model);
        atomic_fetch_add(&mm->loads_failed, 1);
        return st;
    }
    struct atrousd_served *s = atrousd_served_create(model, dir, &stamp);
    if (s == NULL) {
        atomic_fetch_add(&mm->loads_failed, 1);
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "%s: out of memory", dir);
    }
    s->override = override != NULL;
    s->retired_held = &mm->retired_held;
    s->metrics = atrousd_metrics_model(mm->metrics, model->name, model->version);
    if (s->metrics == 0)
        atrousd_logf(ATROUSD_LOG_WARN,
                     "model %s version %s has no series of its own in /metrics and no statistics "
                     "(more than %d versions since start, or out of memory)",
                     model->name, model->version, ATROUSD_METRICS_MODELS_MAX);
    atomic_fetch_add(&mm->loads_ok, 1);
    *out = s;
    return ATROUS_OK;
}

/* --- snapshots ------------------------------------------------------------------------------ */

/* A growing list of served models, each holding a reference of the list's. */
struct served_list {
    struct atrousd_served **items;
    size_t count, cap;
    bool failed; /* out of memory: the list is incomplete and must not be published */
};

/* Adds s, taking the caller's reference (ref: take a new one instead). */
static void list_add(struct served_list *l, struct atrousd_served *s, bool ref)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct atrousd_served **grown = realloc(l->items, cap * sizeof(*grown));
        if (grown == NULL) {
            l->failed = true;
            if (!ref)
                atrousd_served_release(s);
            return;
        }
        l->items = grown;
        l->cap = cap;
    }
    if (ref)
        atrousd_served_ref(s);
    l->items[l->count++] = s;
}

static void list_free(struct served_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        atrousd_served_release(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* Drops the models of l loaded from dir, but keep: a folder serves one model at a time. */
static void list_drop_dir(struct served_list *l, const char *dir, const struct atrousd_served *keep)
{
    for (size_t i = 0; i < l->count;) {
        if (l->items[i] != keep && strcmp(l->items[i]->dir, dir) == 0) {
            atrousd_served_release(l->items[i]);
            l->items[i] = l->items[--l->count];
            continue;
        }
        i++;
    }
}

static bool list_holds(const struct served_list *l, const struct atrousd_served *s)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->items[i] == s)
            return true;
    return false;
}

/* The served model of the current snapshot loaded from dir, or NULL (borrowed). */
static struct atrousd_served *served_from(const struct atrousd_repo *repo, const char *dir)
{
    for (size_t i = 0; i < atrousd_repo_count(repo); i++) {
        struct atrousd_served *s = atrousd_repo_served(repo, i);
        if (strcmp(s->dir, dir) == 0)
            return s;
    }
    return NULL;
}

static void report_duplicate(void *arg, const char *dir, const struct atrous_error *err)
{
    struct atrousd_models *mm = arg;
    note_failed(mm, dir, err->message);
    log_failed(dir, err, false);
}

/*
 * Makes list the current snapshot: the served models of the old one that the new one lacks
 * are retired (logged as unloaded with why), the pointer is swapped, and the old snapshot is
 * released (its models go when the last request holding it ends). Nothing changes on failure.
 */
static enum atrous_status publish(struct atrousd_models *mm, struct served_list *list,
                                  const char *why, struct atrous_error *err)
{
    struct atrousd_repo *next = NULL;
    if (list->failed)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the repository");
    enum atrous_status st =
        atrousd_repo_build(list->items, list->count, report_duplicate, mm, &next, err);
    if (st != ATROUS_OK)
        return st;
    struct atrousd_repo *old = mm->current;
    for (size_t i = 0; i < atrousd_repo_count(old); i++) {
        struct atrousd_served *s = atrousd_repo_served(old, i);
        bool kept = false;
        for (size_t k = 0; k < atrousd_repo_count(next) && !kept; k++)
            kept = atrousd_repo_served(next, k) == s;
        if (!kept) {
            atrousd_served_retire(s);
            log_unloaded(s, why);
        }
    }
    pthread_mutex_lock(&mm->current_lock);
    mm->current = next;
    pthread_mutex_unlock(&mm->current_lock);
    atrousd_repo_release(old);
    return ATROUS_OK;
}

/* --- rescans -------------------------------------------------------------------------------- */

/*
 * Brings the served set in line with the folder: new and changed folders load (a failure keeps
 * the folder's previous model), removed folders unload, unchanged ones stay as they are.
 * Returns ATROUS_OK, or the reason the folder could not be listed (nothing changes then).
 */
static enum atrous_status rescan(struct atrousd_models *mm, const char *why, size_t *failed,
                                 struct atrous_error *err)
{
    char **folders = NULL;
    size_t count = 0, failures = 0;
    struct served_list list = {0};
    bool changed = false;
    enum atrous_status st =
        atrousd_folders_list(mm->root, mm->limits.max_models, &folders, &count, err);
    if (st != ATROUS_OK)
        goto out;
    struct atrousd_repo *cur = mm->current;
    for (size_t i = 0; i < count; i++) {
        struct atrousd_served *was = served_from(cur, folders[i]);
        if (was != NULL && !was->override && atrousd_folder_unchanged(folders[i], &was->stamp)) {
            list_add(&list, was, true);
            continue;
        }
        struct atrousd_served *now = NULL;
        struct atrous_error why_failed;
        atrous_error_clear(&why_failed);
        if (load_folder(mm, folders[i], NULL, 0, &now, &why_failed) == ATROUS_OK) {
            note_clear(mm, folders[i]);
            log_loaded(now, why);
            list_add(&list, now, false);
            changed = true;
            continue;
        }
        failures++;
        note_failed(mm, folders[i], why_failed.message);
        log_failed(folders[i], &why_failed, was != NULL);
        if (was != NULL)
            list_add(&list, was, true);
    }
    for (size_t i = 0; i < atrousd_repo_count(cur) && !changed; i++)
        changed = !list_holds(&list, atrousd_repo_served(cur, i));
    notes_prune(mm, folders, count);
    if (changed)
        st = publish(mm, &list, why, err);
out:
    list_free(&list);
    atrousd_folders_free(folders, count);
    if (failed)
        *failed = failures;
    return st;
}

/* --- explicit loads ------------------------------------------------------------------------- */

/* The last path component of dir. */
static const char *base_name(const char *dir)
{
    const char *slash = strrchr(dir, '/');
    return slash && slash[1] ? slash + 1 : dir;
}

/* The folders that hold model name: their config names it, or (when the config cannot be
 * read) the folder is named like it, so that its failure is reported. */
static enum atrous_status candidates(struct atrousd_models *mm, const char *name, char ***out,
                                     size_t *count, struct atrous_error *err)
{
    char **folders = NULL;
    size_t n = 0, kept = 0;
    enum atrous_status st =
        atrousd_folders_list(mm->root, mm->limits.max_models, &folders, &n, err);
    if (st != ATROUS_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        char got[ATROUS_MODEL_NAME_MAX + 1], version[ATROUS_MODEL_VERSION_MAX + 1];
        struct atrous_error why;
        bool match = atrousd_model_peek(folders[i], got, version, &why) == ATROUS_OK
                         ? strcmp(got, name) == 0
                         : strcmp(base_name(folders[i]), name) == 0;
        if (match)
            folders[kept++] = folders[i];
        else
            free(folders[i]);
    }
    *out = folders;
    *count = kept;
    return ATROUS_OK;
}

/* The served models of the current snapshot that are not name's, with a reference each. */
static void keep_others(struct atrousd_models *mm, const char *name, struct served_list *list)
{
    for (size_t i = 0; i < atrousd_repo_count(mm->current); i++) {
        struct atrousd_served *s = atrousd_repo_served(mm->current, i);
        if (strcmp(s->model->name, name) != 0)
            list_add(list, s, true);
    }
}

/* The folder a config override reads its filters from: the one serving name's highest version,
 * else the candidate whose config gives the highest version, else the first candidate. */
static const char *override_folder(struct atrousd_models *mm, const char *name, char **folders,
                                   size_t count)
{
    const struct atrousd_served *s = atrousd_repo_find_served(mm->current, name, NULL);
    if (s != NULL)
        return s->dir;
    const char *best = count > 0 ? folders[0] : NULL;
    int64_t best_version = -1;
    for (size_t i = 0; i < count; i++) {
        char got[ATROUS_MODEL_NAME_MAX + 1], version[ATROUS_MODEL_VERSION_MAX + 1];
        struct atrous_error why;
        if (atrousd_model_peek(folders[i], got, version, &why) != ATROUS_OK)
            continue;
        int64_t v = strtoll(version, NULL, 10);
        if (v > best_version)
            best_version = v, best = folders[i];
    }
    return best;
}

/*
 * Loads (or reloads) model name from its folders, or from override with the filters of its
 * folder. Returns ATROUS_OK when every folder loaded; ATROUS_INVALID_ARGUMENT with the first
 * failure otherwise (the folders that loaded are served all the same, the others keep their
 * previous version), or with field "model" and *missing set when no folder holds the name.
 */
static enum atrous_status load_named(struct atrousd_models *mm, const char *name,
                                     const char *override, size_t override_len, const char *why,
                                     bool *missing, struct atrous_error *err)
{
    char **folders = NULL;
    size_t count = 0, failures = 0;
    struct served_list list = {0};
    struct atrous_error first;
    atrous_error_clear(&first);
    *missing = false;
    enum atrous_status st = candidates(mm, name, &folders, &count, err);
    if (st != ATROUS_OK)
        return st;
    const char *from = override ? override_folder(mm, name, folders, count) : NULL;
    if (count == 0 && (override == NULL || from == NULL)) {
        *missing = true;
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "model",
                              "model '%s' is not in the repository %s: no folder's config.json "
                              "names it",
                              name, mm->root);
        goto out;
    }
    keep_others(mm, name, &list);
    if (override != NULL) {
        struct atrousd_served *now = NULL;
        st = load_folder(mm, from, override, override_len, &now, &first);
        if (st == ATROUS_OK && strcmp(now->model->name, name) != 0) {
            st = atrous_error_set(&first, ATROUS_INVALID_ARGUMENT, "name",
                                  "the config override names model '%s', not '%s'",
                                  now->model->name, name);
            atrousd_served_release(now);
        }
        if (st != ATROUS_OK) {
            /* Nothing changes: the versions of name keep serving. */
            note_failed(mm, from, first.message);
            log_failed(from, &first, atrousd_repo_find(mm->current, name, NULL) != NULL);
            *err = first;
            st = ATROUS_INVALID_ARGUMENT;
            goto out;
        }
        note_clear(mm, from);
        log_loaded(now, why);
        list_drop_dir(&list, from, NULL);
        list_add(&list, now, false);
    } else {
        for (size_t i = 0; i < count; i++) {
            struct atrousd_served *now = NULL, *was = served_from(mm->current, folders[i]);
            struct atrous_error why_failed;
            atrous_error_clear(&why_failed);
            enum atrous_status one = load_folder(mm, folders[i], NULL, 0, &now, &why_failed);
            if (one == ATROUS_OK && strcmp(now->model->name, name) != 0) {
                one = atrous_error_set(&why_failed, ATROUS_INVALID_ARGUMENT, "name",
                                       "%s: config.json now names model '%s'", folders[i],
                                       now->model->name);
                atrousd_served_release(now);
            }
            if (one == ATROUS_OK) {
                note_clear(mm, folders[i]);
                log_loaded(now, why);
                list_drop_dir(&list, folders[i], NULL);
                list_add(&list, now, false);
                continue;
            }
            if (failures++ == 0)
                first = why_failed;
            note_failed(mm, folders[i], why_failed.message);
            log_failed(folders[i], &why_failed, was != NULL && strcmp(was->model->name, name) == 0);
            if (was != NULL && strcmp(was->model->name, name) == 0)
                list_add(&list, was, true);
        }
    }
    if ((st = publish(mm, &list, why, err)) != ATROUS_OK)
        goto out;
    if (failures > 0) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, first.field,
                              "failed to load '%s' (%zu of %zu folders; the versions loaded "
                              "before keep serving): %s",
                              name, failures, count, first.message);
    }
out:
    list_free(&list);
    atrousd_folders_free(folders, count);
    return st;
}

/* Unloads every version of name; *count receives how many were served. */
static enum atrous_status unload_named(struct atrousd_models *mm, const char *name, size_t *count,
                                       struct atrous_error *err)
{
    struct served_list list = {0};
    keep_others(mm, name, &list);
    *count = atrousd_repo_count(mm->current) - list.count;
    enum atrous_status st = ATROUS_OK;
    if (*count > 0) {
        for (size_t i = 0; i < atrousd_repo_count(mm->current); i++) {
            struct atrousd_served *s = atrousd_repo_served(mm->current, i);
            if (strcmp(s->model->name, name) == 0)
                note_unloaded(mm, s->dir);
        }
        st = publish(mm, &list, "unload request", err);
    }
    list_free(&list);
    return st;
}

/* --- the index ------------------------------------------------------------------------------ */

/* The index's entries with the strings they point to (all owned). */
struct index {
    struct atrous_kserve_index_entry *entries;
    char **strings;
    size_t count, string_count;
    bool failed;
};

/* A copy of s owned by the index; "" on out of memory (the index is then marked failed). */
static const char *index_string(struct index *x, const char *s)
{
    char **grown = realloc(x->strings, (x->string_count + 1) * sizeof(*grown));
    char *copy = s ? strdup(s) : NULL;
    if (grown == NULL || (s != NULL && copy == NULL)) {
        free(copy);
        if (grown != NULL)
            x->strings = grown;
        x->failed = true;
        return "";
    }
    x->strings = grown;
    x->strings[x->string_count++] = copy;
    return copy;
}

static void index_add(struct index *x, const char *name, const char *version, const char *state,
                      const char *reason)
{
    struct atrous_kserve_index_entry *grown = realloc(x->entries, (x->count + 1) * sizeof(*grown));
    if (grown == NULL) {
        x->failed = true;
        return;
    }
    x->entries = grown;
    x->entries[x->count++] = (struct atrous_kserve_index_entry){
        .name = index_string(x, name),
        .version = version ? index_string(x, version) : NULL,
        .state = state,
        .reason = index_string(x, reason),
    };
}

static void index_free(struct index *x)
{
    for (size_t i = 0; i < x->string_count; i++)
        free(x->strings[i]);
    free(x->strings);
    free(x->entries);
    memset(x, 0, sizeof(*x));
}

static int compare_entries(const void *a, const void *b)
{
    const struct atrous_kserve_index_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    if ((x->version == NULL) != (y->version == NULL))
        return x->version == NULL ? -1 : 1;
    if (x->version != NULL) {
        size_t lx = strlen(x->version), ly = strlen(y->version);
        if (lx != ly) /* canonical digits: the shorter is the smaller */
            return lx < ly ? -1 : 1;
        if ((c = strcmp(x->version, y->version)) != 0)
            return c;
    }
    return strcmp(x->state, y->state);
}

/* Why a folder on disk serves nothing. */
static const char *idle_reason(const struct atrousd_models *mm, const struct note *n)
{
    if (n != NULL && n->error != NULL)
        return n->error;
    if (n != NULL && n->unloaded)
        return "unloaded";
    switch (mm->mode) {
    case ATROUSD_MODEL_CONTROL_EXPLICIT:
        return "not loaded: load it with POST /v2/repository/models/<name>/load";
    case ATROUSD_MODEL_CONTROL_POLL:
        return "not loaded yet: the next poll of the repository loads it";
    case ATROUSD_MODEL_CONTROL_NONE:
        break;
    }
    return "not loaded yet: added since the last scan (SIGHUP rescans the repository)";
}

/* The index, every entry or those of name (NULL: all), READY ones only when ready_only. */
static enum atrous_status build_index(struct atrousd_models *mm, const char *name, bool ready_only,
                                      struct index *x, struct atrous_error *err)
{
    char **folders = NULL;
    size_t count = 0;
    memset(x, 0, sizeof(*x));
    struct atrousd_repo *cur = mm->current;
    for (size_t i = 0; i < atrousd_repo_count(cur); i++) {
        const struct atrousd_served *s = atrousd_repo_served(cur, i);
        const struct note *n = note_find(mm, s->dir);
        char reason[ATROUS_ERROR_MESSAGE_MAX + 96] = "";
        if (name != NULL && strcmp(s->model->name, name) != 0)
            continue;
        if (n != NULL && n->error != NULL)
            snprintf(reason, sizeof(reason),
                     "the last load of its folder failed; this version keeps serving: %s",
                     n->error);
        index_add(x, s->model->name, s->model->version, "READY", reason);
    }
    if (!ready_only && mm->root[0] != '\0') {
        enum atrous_status st =
            atrousd_folders_list(mm->root, mm->limits.max_models, &folders, &count, err);
        if (st != ATROUS_OK) {
            index_free(x);
            return st;
        }
        for (size_t i = 0; i < count; i++) {
            if (served_from(cur, folders[i]) != NULL)
                continue;
            char got[ATROUS_MODEL_NAME_MAX + 1], version[ATROUS_MODEL_VERSION_MAX + 1];
            struct atrous_error why;
            bool known = atrousd_model_peek(folders[i], got, version, &why) == ATROUS_OK;
            const char *entry_name = known ? got : base_name(folders[i]);
            if (name != NULL && strcmp(entry_name, name) != 0)
                continue;
            const struct note *n = note_find(mm, folders[i]);
            /* A config that cannot be read is its own reason when no load said more. */
            const char *reason =
                !known && (n == NULL || n->error == NULL) ? why.message : idle_reason(mm, n);
            index_add(x, entry_name, known ? version : NULL, "UNAVAILABLE", reason);
        }
    }
    atrousd_folders_free(folders, count);
    if (x->failed) {
        index_free(x);
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the index");
    }
    qsort(x->entries, x->count, sizeof(*x->entries), compare_entries);
    return ATROUS_OK;
}

/* Answers the index (of name, or all) as the reply's JSON body. */
static void reply_index(struct atrousd_models *mm, const char *name, bool ready_only,
                        const char *request_id, struct http_reply *reply)
{
    struct index x;
    struct atrous_error err;
    atrous_error_clear(&err);
    if (build_index(mm, name, ready_only, &x, &err) != ATROUS_OK) {
        atrousd_reply_status(reply, err.status, &err, request_id);
        return;
    }
    size_t len = 0;
    char *body = atrous_kserve_encode_index(x.entries, x.count, &len);
    index_free(&x);
    if (body == NULL) {
        atrousd_reply_fail(reply, ATROUSD_FAIL_NO_MEMORY, NULL, request_id,
                           "the server is out of memory; retry later");
        return;
    }
    reply->status = 200;
    atrousd_reply_body(reply, ATROUSD_CONTENT_TYPE_JSON, body, len);
}

/* --- the manager ---------------------------------------------------------------------------- */

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

enum atrous_status atrousd_models_create(const struct atrousd_models_config *config,
                                         struct atrousd_models **out, struct atrous_error *err)
{
    struct atrousd_models *mm = calloc(1, sizeof(*mm));
    if (mm == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the models");
    mm->root = dup_or_empty(config->root);
    mm->load_models = dup_or_empty(config->load_models);
    mm->mode = config->mode;
    mm->poll_secs = config->poll_secs;
    mm->limits = config->limits;
    mm->engine = config->engine;
    mm->metrics = config->metrics;
    mm->omp_threads = config->omp_threads;
    pthread_mutex_init(&mm->current_lock, NULL);
    pthread_mutex_init(&mm->poll_lock, NULL);
    pthread_cond_init(&mm->poll_wake, NULL);
    enum atrous_status st =
        mm->root && mm->load_models
            ? atrousd_repo_create_empty(&mm->current, err)
            : atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the models");
    if (st != ATROUS_OK) {
        atrousd_models_free(mm);
        return st;
    }
    *out = mm;
    return ATROUS_OK;
}

/* The explicit mode's start: each name of --load-model, or everything for "*". */
static enum atrous_status load_listed(struct atrousd_models *mm, size_t *failed,
                                      struct atrous_error *err)
{
    if (strcmp(mm->load_models, "*") == 0)
        return rescan(mm, "start", failed, err);
    char *names = strdup(mm->load_models), *save = NULL;
    if (names == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory");
    enum atrous_status st = ATROUS_OK;
    for (char *name = strtok_r(names, ",", &save); name && st == ATROUS_OK;
         name = strtok_r(NULL, ",", &save)) {
        bool missing = false;
        st = load_named(mm, name, NULL, 0, "start", &missing, err);
        if (st != ATROUS_OK && err != NULL) {
            struct atrous_error why = *err;
            atrous_error_set(err, st, why.field, "--load-model %s: %s", name, why.message);
        }
    }
    free(names);
    return st;
}

enum atrous_status atrousd_models_load_initial(struct atrousd_models *mm, struct atrous_error *err)
{
    size_t failed = 0;
    enum atrous_status st = ATROUS_OK;
    if (mm->root[0] == '\0')
        return ATROUS_OK;
    if (mm->mode == ATROUSD_MODEL_CONTROL_EXPLICIT)
        st = load_listed(mm, &failed, err);
    else
        st = rescan(mm, "start", &failed, err);
    if (st != ATROUS_OK)
        return st;
    struct atrousd_log_field fields[] = {
        LOG_STR("model_dir", mm->root),
        LOG_STR("model_control_mode", atrousd_model_control_name(mm->mode)),
        LOG_UINT("models", atrousd_repo_count(mm->current)),
        LOG_UINT("folders_skipped", failed),
    };
    atrousd_log_fields(failed ? ATROUSD_LOG_WARN : ATROUSD_LOG_INFO, "model repository loaded",
                       fields, sizeof(fields) / sizeof(fields[0]));
    return ATROUS_OK;
}

/* A rescan queued on the manager's thread (SIGHUP, poll). */
struct rescan_job {
    struct atrousd_job job; /* first: the queue hands this pointer back */
    struct atrousd_models *mm;
    char reason[32];
};

static void run_rescan(struct atrousd_job *job, struct atrous_workspace *ws)
{
    (void)ws;
    struct rescan_job *r = (struct rescan_job *)job;
    struct atrousd_models *mm = r->mm;
    /* From here a new request queues another rescan: changes made while this one reads the
     * disk are not lost. */
    atomic_store(&mm->rescan_pending, false);
    struct atrous_error err;
    atrous_error_clear(&err);
    size_t failed = 0;
    if (rescan(mm, r->reason, &failed, &err) != ATROUS_OK) {
        struct atrousd_log_field fields[] = {
            LOG_STR("model_dir", mm->root),
            LOG_STR("trigger", r->reason),
            LOG_STR("error", err.message),
        };
        atrousd_log_fields(ATROUSD_LOG_ERROR, "model repository rescan failed; nothing changed",
                           fields, sizeof(fields) / sizeof(fields[0]));
    } else {
        struct atrousd_log_field fields[] = {
            LOG_STR("trigger", r->reason),
            LOG_UINT("models", atrousd_repo_count(mm->current)),
            LOG_UINT("folders_failed", failed),
        };
        atrousd_log_fields(ATROUSD_LOG_DEBUG, "model repository rescanned", fields,
                           sizeof(fields) / sizeof(fields[0]));
    }
    free(r);
}

static void cancel_rescan(struct atrousd_job *job)
{
    struct rescan_job *r = (struct rescan_job *)job;
    atomic_store(&r->mm->rescan_pending, false);
    free(r);
}

void atrousd_models_rescan(struct atrousd_models *mm, const char *reason)
{
    if (mm == NULL || mm->root[0] == '\0' || mm->queue == NULL)
        return;
    if (mm->mode == ATROUSD_MODEL_CONTROL_EXPLICIT) {
        atrousd_logf(ATROUSD_LOG_INFO,
                     "%s: --model-control-mode explicit: the repository is not rescanned (use "
                     "the load and unload requests)",
                     reason);
        return;
    }
    if (atomic_exchange(&mm->rescan_pending, true))
        return; /* one is waiting already: it will see this change too */
    struct rescan_job *r = calloc(1, sizeof(*r));
    if (r == NULL || !atrousd_queue_reserve(mm->queue)) {
        atomic_store(&mm->rescan_pending, false);
        atrousd_logf(ATROUSD_LOG_WARN,
                     "%s: the model manager is busy (or out of memory); the "
                     "rescan is skipped: send it again",
                     reason);
        free(r);
        return;
    }
    r->mm = mm;
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
    r->job.run = run_rescan;
    r->job.cancel = cancel_rescan;
    atrousd_queue_push(mm->queue, &r->job);
}

static void *poll_main(void *arg)
{
    struct atrousd_models *mm = arg;
    pthread_mutex_lock(&mm->poll_lock);
    while (!mm->poll_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)mm->poll_secs;
        while (!mm->poll_stop &&
               pthread_cond_timedwait(&mm->poll_wake, &mm->poll_lock, &until) != ETIMEDOUT)
            ;
        if (mm->poll_stop)
            break;
        pthread_mutex_unlock(&mm->poll_lock);
        atrousd_models_rescan(mm, "poll");
        pthread_mutex_lock(&mm->poll_lock);
    }
    pthread_mutex_unlock(&mm->poll_lock);
    return NULL;
}

enum atrous_status atrousd_models_start(struct atrousd_models *mm, struct atrous_error *err)
{
    struct atrousd_queue_config qc = {
        .workers = 1,
        .omp_threads = mm->omp_threads > 0 ? mm->omp_threads : 1,
        .capacity = ATROUSD_MODELS_QUEUE_DEPTH,
    };
    enum atrous_status st = atrousd_queue_create(mm->engine, &qc, &mm->queue, err);
    if (st != ATROUS_OK)
        return st;
    if (mm->mode == ATROUSD_MODEL_CONTROL_POLL && mm->root[0] != '\0' && mm->poll_secs > 0) {
        if (pthread_create(&mm->poller, NULL, poll_main, mm) != 0)
            return atrous_error_set(err, ATROUS_INTERNAL, "",
                                    "could not start the repository poller");
        mm->poller_running = true;
    }
    return ATROUS_OK;
}

void atrousd_models_stop(struct atrousd_models *mm)
{
    if (mm == NULL || mm->stopped)
        return;
    mm->stopped = true;
    if (mm->poller_running) {
        pthread_mutex_lock(&mm->poll_lock);
        mm->poll_stop = true;
        pthread_cond_signal(&mm->poll_wake);
        pthread_mutex_unlock(&mm->poll_lock);
        pthread_join(mm->poller, NULL);
        mm->poller_running = false;
    }
    atrousd_queue_shutdown(mm->queue);
}

void atrousd_models_free(struct atrousd_models *mm)
{
    if (mm == NULL)
        return;
    atrousd_models_stop(mm);
    atrousd_queue_free(mm->queue);
    atrousd_repo_release(mm->current);
    for (size_t i = 0; i < mm->note_count; i++) {
        free(mm->notes[i].dir);
        free(mm->notes[i].error);
    }
    free(mm->notes);
    pthread_mutex_destroy(&mm->current_lock);
    pthread_mutex_destroy(&mm->poll_lock);
    pthread_cond_destroy(&mm->poll_wake);
    free(mm->root);
    free(mm->load_models);
    free(mm);
}

struct atrousd_repo *atrousd_models_acquire(struct atrousd_models *mm)
{
    pthread_mutex_lock(&mm->current_lock);
    struct atrousd_repo *repo = atrousd_repo_ref(mm->current);
    pthread_mutex_unlock(&mm->current_lock);
    return repo;
}

struct atrousd_queue *atrousd_models_queue(struct atrousd_models *mm)
{
    return mm ? mm->queue : NULL;
}

/* A load or unload in a mode that does not take them: Triton's answer, with the way out. */
static bool refuse_control(struct atrousd_models *mm, const char *request_id,
                           struct http_reply *reply)
{
    if (mm->mode == ATROUSD_MODEL_CONTROL_EXPLICIT && mm->root[0] != '\0')
        return false;
    if (mm->root[0] == '\0')
        atrousd_reply_fail(reply, ATROUSD_FAIL_INVALID_ARGUMENT, "model", request_id,
                           "there is no model repository (--model-dir) to load from");
    else
        atrousd_reply_fail(reply, ATROUSD_FAIL_INVALID_ARGUMENT, "model_control_mode", request_id,
                           "explicit model load / unload is not allowed with "
                           "--model-control-mode %s: the repository %s; start with "
                           "--model-control-mode explicit to control models by request",
                           atrousd_model_control_name(mm->mode),
                           mm->mode == ATROUSD_MODEL_CONTROL_POLL ? "is polled for changes"
                                                                  : "is rescanned on SIGHUP");
    return true;
}

void atrousd_models_handle(struct atrousd_models *mm, enum atrousd_endpoint endpoint,
                           const char *model, const void *body, size_t len, const char *request_id,
                           struct http_reply *reply)
{
    struct atrous_error err;
    atrous_error_clear(&err);
    if (endpoint == ATROUSD_EP_V2_REPO_INDEX) {
        bool ready_only = false;
        if (atrous_kserve_decode_index_request(body, len, &ready_only, &err) != ATROUS_OK)
            atrousd_reply_status(reply, err.status, &err, request_id);
        else
            reply_index(mm, NULL, ready_only, request_id, reply);
        return;
    }
    if (refuse_control(mm, request_id, reply))
        return;
    if (endpoint == ATROUSD_EP_V2_REPO_LOAD) {
        struct atrous_kserve_load_request load;
        bool missing = false;
        if (atrous_kserve_decode_load_request(body, len, &load, &err) != ATROUS_OK) {
            atrousd_reply_status(reply, err.status, &err, request_id);
            return;
        }
        enum atrous_status st =
            load_named(mm, model, load.config, load.config_len, "load request", &missing, &err);
        atrous_kserve_load_request_release(&load);
        if (missing)
            atrousd_reply_fail(reply, ATROUSD_FAIL_NOT_FOUND, "model", request_id, "%s",
                               err.message);
        else if (st != ATROUS_OK)
            atrousd_reply_status(reply, st, &err, request_id);
        else
            reply_index(mm, model, false, request_id, reply);
        return;
    }
    bool dependents = false;
    size_t count = 0;
    if (atrous_kserve_decode_unload_request(body, len, &dependents, &err) != ATROUS_OK ||
        unload_named(mm, model, &count, &err) != ATROUS_OK) {
        atrousd_reply_status(reply, err.status, &err, request_id);
        return;
    }
    /* Unloading a model that is not loaded succeeds (nothing to do), as a retried unload
     * must; the index in the answer says what the repository holds. */
    reply_index(mm, model, false, request_id, reply);
}

void atrousd_models_figures(struct atrousd_models *mm, uint64_t *loaded, uint64_t *retired_held,
                            uint64_t *loads_ok, uint64_t *loads_failed)
{
    struct atrousd_repo *repo = atrousd_models_acquire(mm);
    *loaded = atrousd_repo_count(repo);
    atrousd_repo_release(repo);
    *retired_held = atomic_load(&mm->retired_held);
    *loads_ok = atomic_load(&mm->loads_ok);
    *loads_failed = atomic_load(&mm->loads_failed);
}

enum atrousd_model_control atrousd_models_mode(const struct atrousd_models *mm)
{
    return mm->mode;
}
