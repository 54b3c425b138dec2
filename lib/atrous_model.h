/*
 * atrous_model.h - a model as a computational object: fixed filters with their rate and
 * padding, the input it takes, the shape rule that turns a value's shape into the output's,
 * and the filters prepared on an engine. No files and no JSON: the server reads a model's
 * folder (server/model_repo.h) and proto decodes its config document and filters
 * (proto/atrous_model_config.h, proto/atrous_npy.h) into this struct.
 *
 * The output follows from the input by the op's shape rule: [N, H, W, OC] for SAME,
 * [N, H + (KH-1)*rate, W + (KW-1)*rate, OC] for VALID.
 *
 * Ownership: a model owns its filters and prepared filters. Once prepared it is read-only and
 * may be read by any number of threads.
 */
#ifndef ATROUS_MODEL_H
#define ATROUS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_dtype.h"
#include "atrous_error.h"
#include "atrous_op.h"
#include "atrous_tensor.h"

#define ATROUS_MODEL_NAME_MAX    64
#define ATROUS_MODEL_VERSION_MAX 18 /* digits: below 10^18, so any version fits int64 */
#define ATROUS_MODEL_WARMUP_MAX  8

/* The name of the built-in model that takes filters, output_shape, rate and padding from each
 * request (KServe v2 only). No repository model may take it. */
#define ATROUS_GENERIC_MODEL_NAME    "atrous_conv2d_transpose"
#define ATROUS_GENERIC_MODEL_VERSION "1"

/* The engine's types (atrous_engine.h), declared only: the model's attributes and shape rule
 * are used by proto's codecs, which neither include nor link the engine. */
struct atrous_engine;
struct atrous_filters;

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
    enum atrous_dtype dtype;         /* the declared type of value, filters and output: what TF
                                        Serving reads and writes, what KServe metadata declares;
                                        the filters are rounded to it (default float32) */
    enum atrous_precision precision; /* the compute precision requests get by default */
    struct atrous_filters *prepared; /* owned; NULL until atrous_model_prepare() */
    /* Frees prepared (atrous_filters_free, set by atrous_model_prepare): a pointer, so that
     * atrous_model_free links without the engine wherever no model is ever prepared. */
    void (*prepared_free)(struct atrous_filters *prepared);
};

/* Frees a model, its filters and prepared filters. Accepts NULL. */
void atrous_model_free(struct atrous_model *model);

/* True when name is a valid model name: 1 to ATROUS_MODEL_NAME_MAX letters, digits, '_', '-'
 * or '.', not starting with '.' or '-'. */
bool atrous_model_name_valid(const char *name, size_t len);

/* True when the len bytes at s are a canonical version: digits, no leading zero, at most
 * ATROUS_MODEL_VERSION_MAX of them. */
bool atrous_model_version_valid(const char *s, size_t len);

/* Every filter element is finite; else ATROUS_INVALID_ARGUMENT naming field with "element i
 * is not finite (x)". */
enum atrous_status atrous_model_check_filters(const struct atrous_model *model, const char *field,
                                              struct atrous_error *err);

/* The model can run: a smallest value (1 for each dimension the request chooses, else the
 * fixed one) and each warmup shape pass the op's validation. ATROUS_INVALID_ARGUMENT with
 * field "" ("the model cannot run: ...") or "warmup" ("warmup[i]: ..."). */
enum atrous_status atrous_model_check_runnable(const struct atrous_model *model,
                                               struct atrous_error *err);

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

/*
 * Makes the model's prepared filters on engine (atrous_filters_create) and warms them for
 * each warmup shape with the calling thread's team size (call it from a thread whose
 * parallelism matches the compute workers'). Idempotent. Returns what lib returns.
 */
enum atrous_status atrous_model_prepare(struct atrous_model *model, struct atrous_engine *engine,
                                        struct atrous_error *err);

/* True once atrous_model_prepare succeeded: the model may serve. */
bool atrous_model_ready(const struct atrous_model *model);

#endif
