/*
 * model_repo.h - the model repository's life in the server: scanning --model-dir, reading each
 * folder's files (regular files only, bounded in size), versions and lookups. It reads bytes,
 * hands them to proto to decode (atrous_model_config.h, atrous_npy.h) and to lib to check and
 * prepare (atrous_model.h).
 *
 * A repository (struct atrousd_repo) is an immutable, reference-counted snapshot: a sorted
 * set of served models (struct atrousd_served), each itself reference-counted, so that two
 * snapshots built one after the other share the models that did not change. The model manager
 * (models.h) swaps the snapshot requests see; a request holds a reference on the snapshot it
 * was admitted with until it ends, so it never sees two versions of a model, and a model
 * version that is no longer served is freed when the last snapshot holding it is released.
 * Any number of threads may read a snapshot while they hold a reference.
 */
#ifndef ATROUSD_MODEL_REPO_H
#define ATROUSD_MODEL_REPO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "atrous_engine.h"
#include "atrous_error.h"
#include "atrous_model.h"
#include "atrous_model_config.h"

#define ATROUSD_MODEL_REPO_DEFAULT_MAX 1024

struct atrousd_model_limits {
    size_t max_filters_elements; /* per model; 0 = ATROUS_MAX_ELEMENTS_HARD */
    size_t max_models;           /* per repository; 0 = ATROUSD_MODEL_REPO_DEFAULT_MAX */
};

/*
 * Loads the model in folder dir: config.json (at most ATROUS_MODEL_CONFIG_MAX_BYTES) and the
 * filters file it names (at most the bytes its configured shape takes), each opened without
 * blocking (a FIFO named config.json cannot stall start-up) and refused unless a regular file.
 * Symbolic links are followed (Kubernetes volumes present files as links); the check is on
 * the opened descriptor, so nothing can be swapped in between. Then every check of the config
 * format, the filters (finite) and that the model can run. Messages start with the file at
 * fault and name the config field in err->field. *out is owned by the caller
 * (atrous_model_free). Returns ATROUS_OK, ATROUS_INVALID_ARGUMENT, ATROUS_TOO_LARGE or
 * ATROUS_NO_MEMORY.
 */
enum atrous_status atrousd_model_load(const char *dir, const struct atrousd_model_limits *limits,
                                      struct atrous_model **out, struct atrous_error *err);

/* What identifies a file's content without reading it: two stamps that differ mean the file
 * was changed, replaced or removed. */
struct atrousd_file_stamp {
    dev_t dev;
    ino_t ino;
    int64_t size, mtime_ns, ctime_ns;
};

/* The stamps of the two files a model was loaded from. */
struct atrousd_folder_stamp {
    struct atrousd_file_stamp config, filters;
    char filters_file[ATROUS_MODEL_FILE_NAME_MAX + 1]; /* the name config.json gave */
};

/*
 * atrousd_model_load with what a reload needs: the config document may be given (override,
 * override_len bytes: a config.json document used instead of the folder's, as Triton's load
 * API takes one; NULL reads dir/config.json), and *stamp (may be NULL) receives the stamps of
 * the files read (config's is zero for an override). The filters file is always the folder's.
 */
enum atrous_status
atrousd_model_load_with(const char *dir, const char *override, size_t override_len,
                        const struct atrousd_model_limits *limits, struct atrous_model **out,
                        struct atrousd_folder_stamp *stamp, struct atrous_error *err);

/* True when the files a folder's model was loaded from are still those (stat, not read). */
bool atrousd_folder_unchanged(const char *dir, const struct atrousd_folder_stamp *stamp);

/*
 * Reads only the config document of a folder (bounded, regular file) and decodes it: the name
 * and version a load would give, without the filters. For the repository index and for finding
 * a model's folders by name. Errors as atrousd_model_load reports them.
 */
enum atrous_status atrousd_model_peek(const char *dir, char name[ATROUS_MODEL_NAME_MAX + 1],
                                      char version[ATROUS_MODEL_VERSION_MAX + 1],
                                      struct atrous_error *err);

/* The sub-folders of root that hold models (not starting with '.'), as sorted malloc'd paths
 * "root/name", at most max (0: ATROUSD_MODEL_REPO_DEFAULT_MAX). Free with
 * atrousd_folders_free. Fails when root cannot be read or holds more. */
enum atrous_status atrousd_folders_list(const char *root, size_t max, char ***out, size_t *count,
                                        struct atrous_error *err);
void atrousd_folders_free(char **folders, size_t count);

/*
 * A served model: one model version as loaded from a folder, prepared, and shared by every
 * snapshot that holds it. Fields are read-only once built; refs is the snapshots' (and the
 * manager's) count, and the last atrousd_served_release frees it.
 */
struct atrousd_served {
    struct atrous_model *model; /* owned, prepared */
    char *dir;                  /* the folder it was loaded from (owned) */
    struct atrousd_folder_stamp stamp;
    bool override;  /* loaded with a config override, not the folder's config.json */
    size_t metrics; /* its number in the metrics (atrousd_metrics_model), 0: none */
    _Atomic size_t refs;
    _Atomic bool retired;           /* no longer in the current snapshot */
    _Atomic uint64_t *retired_held; /* counts retired versions not yet freed (may be NULL) */
};

/* A served model of model (taken) and a copy of dir, with one reference; NULL on out of
 * memory (model is then freed). */
struct atrousd_served *atrousd_served_create(struct atrous_model *model, const char *dir,
                                             const struct atrousd_folder_stamp *stamp);
void atrousd_served_ref(struct atrousd_served *served);
/* Drops a reference; the last frees the model. Accepts NULL. */
void atrousd_served_release(struct atrousd_served *served);
/* Marks it no longer served by the current snapshot: it counts in *retired_held until freed. */
void atrousd_served_retire(struct atrousd_served *served);

/* A repository: a snapshot of served models, sorted by (name, version, folder). Opaque. */
struct atrousd_repo;

/* Called once per folder that failed to load (or prepare), with its path and the reason. */
typedef void (*atrousd_model_report_fn)(void *ctx, const char *dir, const struct atrous_error *err);

/*
 * Loads every model folder of root (sub-folders not starting with '.'; plain files such as a
 * README are ignored), in name order. A folder that fails is reported through report (which
 * may be NULL) and skipped; the others still load. When two folders hold the same name and
 * version, the first in folder-name order loads and the other is reported. Fails as a whole only
 * when root cannot be read, holds more than max_models folders, or memory runs out. *out is owned
 * by the caller (atrousd_repo_free); *failed (may be NULL) receives the count of folders
 * reported.
 */
enum atrous_status atrousd_repo_load(const char *root, const struct atrousd_model_limits *limits,
                                     atrousd_model_report_fn report, void *ctx,
                                     struct atrousd_repo **out, size_t *failed,
                                     struct atrous_error *err);

/* An empty repository (no --model-dir), so the server needs no NULL checks. */
enum atrous_status atrousd_repo_create_empty(struct atrousd_repo **out, struct atrous_error *err);

/*
 * A snapshot of count served models (each gets a reference of the snapshot's; the caller keeps
 * its own), sorted. When two hold the same name and version, the one from the earlier folder
 * (in name order, as at start) is kept and report (may be NULL) is called with the other's
 * folder. *out has one reference.
 * Returns ATROUS_OK or ATROUS_NO_MEMORY.
 */
enum atrous_status atrousd_repo_build(struct atrousd_served *const *served, size_t count,
                                      atrousd_model_report_fn report, void *ctx,
                                      struct atrousd_repo **out, struct atrous_error *err);

/* Prepares every model (atrous_model_prepare); a model that fails is reported, removed from
 * the repository and freed. Returns how many were removed. Call before the repository is
 * shared. */
size_t atrousd_repo_prepare(struct atrousd_repo *repo, struct atrous_engine *engine,
                            atrousd_model_report_fn report, void *ctx);

/* Takes a reference; drops one (the last frees the snapshot and releases its models). Both
 * thread-safe; release accepts NULL. atrousd_repo_free is atrousd_repo_release: it drops the
 * creator's reference. */
struct atrousd_repo *atrousd_repo_ref(struct atrousd_repo *repo);
void atrousd_repo_release(struct atrousd_repo *repo);
void atrousd_repo_free(struct atrousd_repo *repo);

/* Number of models (each version counts) and the i-th in (name, version) order (borrowed). */
size_t atrousd_repo_count(const struct atrousd_repo *repo);
const struct atrous_model *atrousd_repo_at(const struct atrousd_repo *repo, size_t i);

/* The i-th served model (borrowed), or NULL. */
struct atrousd_served *atrousd_repo_served(const struct atrousd_repo *repo, size_t i);

/* The folder the i-th model was loaded from (borrowed). */
const char *atrousd_repo_dir(const struct atrousd_repo *repo, size_t i);

/* The model of that name and version (NULL or "" version: the highest), or NULL (borrowed). */
const struct atrous_model *atrousd_repo_find(const struct atrousd_repo *repo, const char *name,
                                             const char *version);

/* The same as a served model (its metrics number, its folder), or NULL. */
const struct atrousd_served *atrousd_repo_find_served(const struct atrousd_repo *repo,
                                                      const char *name, const char *version);

/* The versions of a name, lowest first, as an array of count models (borrowed; count is 0 and
 * the array NULL when the name is unknown). *first (may be NULL) receives the index of the first
 * (for atrousd_repo_at). */
size_t atrousd_repo_versions(const struct atrousd_repo *repo, const char *name, size_t *first,
                             const struct atrous_model *const **versions);

#endif
