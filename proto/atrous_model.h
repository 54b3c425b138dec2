/*
 * atrous_model.h - the model repository: named, versioned filters loaded from folders at start,
 * so that clients send only `value` (KServe v2 and TF Serving endpoints).
 *
 * A model is a folder holding config.json and the filters file it names:
 *
 *   models/edges/config.json
 *     {"name": "edges", "version": "1", "rate": 2, "padding": "SAME",
 *      "filters": {"shape": [3, 3, 4, 2], "file": "filters.npy"},
 *      "input_shape": [-1, -1, -1, 2], "max_batch_size": 8, "warmup": [[1, 64, 64, 2]]}
 *   models/edges/filters.npy   float32 '<f4', C order, shape [KH, KW, OC, IC]
 *
 * Required: rate (>= 1), padding ("SAME" or "VALID"), filters.shape (4 dims >= 1) and
 * filters.file (a file name in the folder: *.npy, or *.bin / *.raw for bare float32
 * little-endian data). Optional: name (default: the folder's name; letters, digits, '_', '-',
 * '.', at most ATROUS_MODEL_NAME_MAX, not starting with '.' or '-'), version (a positive
 * integer, as a JSON integer or a string of digits; default "1"), input_shape ([N, H, W, IC],
 * -1 for a dimension the request chooses; default all -1 but IC), max_batch_size (>= 0, 0 = no
 * limit but the element limits; default 0), warmup (value shapes [N, H, W, IC] whose
 * primitives and filter layouts are made at start). Unknown keys are errors, so typos surface.
 *
 * The output follows from the input by the op's shape rule: [N, H, W, OC] for SAME,
 * [N, H + (KH-1)*rate, W + (KW-1)*rate, OC] for VALID.
 *
 * Ownership: the repository owns its models; lookups return borrowed pointers valid until
 * atrous_model_repo_free(). After start-up the repository is read-only and may be read by any
 * number of threads.
 */
#ifndef ATROUS_MODEL_H
#define ATROUS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_engine.h"
#include "atrous_error.h"
#include "atrous_op.h"
#include "atrous_request.h"
#include "atrous_tensor.h"

#define ATROUS_MODEL_NAME_MAX         64
#define ATROUS_MODEL_VERSION_MAX      18 /* digits: below 10^18, so any version fits int64 */
#define ATROUS_MODEL_WARMUP_MAX       8
#define ATROUS_MODEL_CONFIG_FILE      "config.json"
#define ATROUS_MODEL_CONFIG_MAX_BYTES (1 << 20)
#define ATROUS_MODEL_REPO_DEFAULT_MAX 1024

/* The name of the built-in model that takes filters, output_shape, rate and padding from each
 * request (KServe v2 only). No repository model may take it. */
#define ATROUS_GENERIC_MODEL_NAME    "atrous_conv2d_transpose"
#define ATROUS_GENERIC_MODEL_VERSION "1"

struct atrous_model {
    char name[ATROUS_MODEL_NAME_MAX + 1];
    char version[ATROUS_MODEL_VERSION_MAX + 1]; /* canonical digits, no leading zero */
    int64_t version_number;
    int64_t rate;
    enum atrous_padding padding;
    struct atrous_shape filters_shape; /* [KH, KW, OC, IC] */
    float *filters;                    /* TensorFlow layout, aligned, owned */
    size_t filters_elements;
    int64_t input_shape[4]; /* -1 where the request chooses; [3] is always IC */
    int64_t max_batch_size; /* 0: not limited */
    int64_t warmup[ATROUS_MODEL_WARMUP_MAX][4];
    size_t warmup_count;
    char *dir;                       /* the folder it was loaded from (owned) */
    struct atrous_filters *prepared; /* owned; NULL until atrous_model_prepare() */
};

struct atrous_model_limits {
    size_t max_filters_elements; /* per model; 0 = ATROUS_MAX_ELEMENTS_HARD */
    size_t max_models;           /* per repository; 0 = ATROUS_MODEL_REPO_DEFAULT_MAX */
};

/*
 * Loads the model in folder dir (config.json and its filters file). Checks every field, the
 * filters file against the configured shape, that the filters are finite, that the warmup
 * shapes are valid for the model and that the model can run at all (a 1x1 value, or the fixed
 * input dims, through the op's validation). Messages start with the file at fault and name
 * the config field in err->field. *out is owned by the caller (atrous_model_free). Returns
 * ATROUS_OK, ATROUS_INVALID_ARGUMENT, ATROUS_TOO_LARGE or ATROUS_NO_MEMORY.
 */
enum atrous_status atrous_model_load(const char *dir, const struct atrous_model_limits *limits,
                                     struct atrous_model **out, struct atrous_error *err);

/* Frees a model, its filters and prepared filters. Accepts NULL. */
void atrous_model_free(struct atrous_model *model);

/*
 * The output shape [N, OH, OW, OC] the model gives for a value of shape value_shape (rank 4
 * [N, H, W, IC]), by the shape rule above. Checks the value against the model's input_shape
 * and max_batch_size first, naming "value" in messages. Overflow-checked. Returns ATROUS_OK or
 * ATROUS_INVALID_ARGUMENT.
 */
enum atrous_status atrous_model_output_shape(const struct atrous_model *model,
                                             const struct atrous_shape *value_shape, int64_t out[4],
                                             struct atrous_error *err);

/* The model's input and output shapes as metadata documents show them: [N, H, W, IC] and
 * [N, OH, OW, OC] with -1 for every dimension the request chooses (a fixed input dim fixes the
 * output dim the rule derives from it). */
void atrous_model_io_dims(const struct atrous_model *model, int64_t input[4], int64_t output[4]);

/* The validated problem of running the model on a value of this shape (output shape by the
 * rule, then atrous_op_validate with limits, which may be NULL). */
enum atrous_status atrous_model_problem(const struct atrous_model *model,
                                        const struct atrous_shape *value_shape,
                                        const struct atrous_limits *limits,
                                        struct atrous_problem *out, struct atrous_error *err);

/* Completes a request for the model from its value_shape: the output shape by the rule
 * (checked as atrous_model_output_shape checks it), then the model's filters (borrowed), rate
 * and padding. On failure the request's output shape and model fields are left as they were. */
enum atrous_status atrous_model_fill_request(const struct atrous_model *model,
                                             struct atrous_request *op, struct atrous_error *err);

/*
 * Makes the model's prepared filters on engine (atrous_filters_create) and warms them for
 * each warmup shape with the calling thread's team size (call it from a thread whose
 * parallelism matches the compute workers'). Idempotent. Returns what lib returns.
 */
enum atrous_status atrous_model_prepare(struct atrous_model *model, struct atrous_engine *engine,
                                        struct atrous_error *err);

/* A repository: every model loaded from the folders of one directory. Opaque. */
struct atrous_model_repo;

/* Called once per folder that failed to load (or prepare), with its path and the reason. */
typedef void (*atrous_model_report_fn)(void *ctx, const char *dir, const struct atrous_error *err);

/*
 * Loads every model folder of root (sub-folders not starting with '.'; plain files such as a
 * README are ignored), in name order. A folder that fails is reported through report (which
 * may be NULL) and skipped; the others still load. When two folders hold the same name and
 * version, the first in folder-name order loads and the other is reported. Fails as a whole only
 * when root cannot be read, holds more than max_models folders, or memory runs out. *out is owned
 * by the caller (atrous_model_repo_free); *failed (may be NULL) receives the count of folders
 * reported.
 */
enum atrous_status atrous_model_repo_load(const char *root,
                                          const struct atrous_model_limits *limits,
                                          atrous_model_report_fn report, void *ctx,
                                          struct atrous_model_repo **out, size_t *failed,
                                          struct atrous_error *err);

/* An empty repository (no --model-dir), so the server needs no NULL checks. */
enum atrous_status atrous_model_repo_create_empty(struct atrous_model_repo **out,
                                                  struct atrous_error *err);

/* Prepares every model (atrous_model_prepare); a model that fails is reported, removed from
 * the repository and freed. Returns how many were removed. Call before serving. */
size_t atrous_model_repo_prepare(struct atrous_model_repo *repo, struct atrous_engine *engine,
                                 atrous_model_report_fn report, void *ctx);

/* Frees the repository and every model in it. Accepts NULL. */
void atrous_model_repo_free(struct atrous_model_repo *repo);

/* Number of models (each version counts) and the i-th in (name, version) order (borrowed). */
size_t atrous_model_repo_count(const struct atrous_model_repo *repo);
const struct atrous_model *atrous_model_repo_at(const struct atrous_model_repo *repo, size_t i);

/* The model of that name and version (NULL or "" version: the highest), or NULL (borrowed). */
const struct atrous_model *atrous_model_repo_find(const struct atrous_model_repo *repo,
                                                  const char *name, const char *version);

/* The versions of a name, lowest first: *first receives the index of the first (for
 * atrous_model_repo_at) and the return value the count (0 when the name is unknown). */
size_t atrous_model_repo_versions(const struct atrous_model_repo *repo, const char *name,
                                  size_t *first);

/* True when name is a valid model name (see the format above). */
bool atrous_model_name_valid(const char *name, size_t len);

/* True when the len bytes at s are a canonical version: digits, no leading zero, at most
 * ATROUS_MODEL_VERSION_MAX of them. */
bool atrous_model_version_valid(const char *s, size_t len);

/*
 * Parses "{name}[/versions/{version}]" at the start of a URL path segment (the name ends at
 * '/', ':' or the end), as the KServe and TF Serving paths spell a model. Copies the name and
 * the version ("" when none) and returns what follows, or NULL when either is not valid.
 */
const char *atrous_model_parse_path(const char *s, char name[ATROUS_MODEL_NAME_MAX + 1],
                                    char version[ATROUS_MODEL_VERSION_MAX + 1]);

#endif
