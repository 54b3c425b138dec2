/*
 * model_repo.h - the model repository's life in the server: scanning --model-dir, reading each
 * folder's files (regular files only, bounded in size), versions and lookups. It reads bytes,
 * hands them to proto to decode (atrous_model_config.h, atrous_npy.h) and to lib to check and
 * prepare (atrous_model.h).
 *
 * A repository is immutable once built and prepared, so any number of threads may read it
 * while it lives. Lookups return models borrowed from the repository. That is the hook for a
 * later hot reload: build a new repository, swap the context's pointer atomically, and free the
 * old one only when the last request admitted with it completes (a per-request reference taken
 * at admission next to request_plan.model); a request never sees two versions of the
 * repository.
 */
#ifndef ATROUSD_MODEL_REPO_H
#define ATROUSD_MODEL_REPO_H

#include <stdbool.h>
#include <stddef.h>

#include "atrous_engine.h"
#include "atrous_error.h"
#include "atrous_model.h"

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

/* A repository: every model loaded from the folders of one directory. Opaque. */
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

/* Prepares every model (atrous_model_prepare); a model that fails is reported, removed from
 * the repository and freed. Returns how many were removed. Call before serving. */
size_t atrousd_repo_prepare(struct atrousd_repo *repo, struct atrous_engine *engine,
                            atrousd_model_report_fn report, void *ctx);

/* Frees the repository and every model in it. Accepts NULL. */
void atrousd_repo_free(struct atrousd_repo *repo);

/* Number of models (each version counts) and the i-th in (name, version) order (borrowed). */
size_t atrousd_repo_count(const struct atrousd_repo *repo);
const struct atrous_model *atrousd_repo_at(const struct atrousd_repo *repo, size_t i);

/* The folder the i-th model was loaded from (borrowed). */
const char *atrousd_repo_dir(const struct atrousd_repo *repo, size_t i);

/* The model of that name and version (NULL or "" version: the highest), or NULL (borrowed). */
const struct atrous_model *atrousd_repo_find(const struct atrousd_repo *repo, const char *name,
                                             const char *version);

/* The versions of a name, lowest first, as an array of count models (borrowed; count is 0 and
 * the array NULL when the name is unknown). *first (may be NULL) receives the index of the first
 * (for atrousd_repo_at). */
size_t atrousd_repo_versions(const struct atrousd_repo *repo, const char *name, size_t *first,
                             const struct atrous_model *const **versions);

#endif
