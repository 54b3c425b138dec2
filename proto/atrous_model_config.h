/*
 * atrous_model_config.h - the wire side of repository models: a model folder's config.json
 * decoded from bytes in memory, the "{name}[/versions/{v}]" spelling of a model in KServe and
 * TF Serving paths, and the step that completes an op request for a model. No file I/O: the
 * server reads the folder (server/model_repo.h) and hands the bytes here.
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
 * primitives and filter layouts are made at start), dtype ("float32" (default), "bfloat16" or
 * "float16": the declared element type of value, filters and output - what TF Serving requests
 * are read as and answered in, what KServe metadata declares; the filters are rounded to it
 * once at load), precision ("f32" (default) or "bf16": the compute precision a request gets
 * unless it asks otherwise). Unknown keys are errors, so typos surface.
 */
#ifndef ATROUS_MODEL_CONFIG_H
#define ATROUS_MODEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "atrous_error.h"
#include "atrous_model.h"
#include "atrous_request.h"

#define ATROUS_MODEL_CONFIG_FILE      "config.json"
#define ATROUS_MODEL_CONFIG_MAX_BYTES (1 << 20)

/* Longest filters file name (one path component). */
#define ATROUS_MODEL_FILE_NAME_MAX 255

/* A decoded config document. */
struct atrous_model_config {
    struct atrous_model *model; /* owned: every attribute set, filters still NULL */
    char filters_file[ATROUS_MODEL_FILE_NAME_MAX + 1]; /* a name in the folder, no '/' */
    bool filters_npy;                                  /* .npy (else bare float32: .bin/.raw) */
};

/*
 * Decodes the len bytes of a config document. path names the document in messages ("<path>:
 * ..."), folder_name is the default model name (the folder's last component). Checks every
 * field as the format above says, naming it in err->field. On success out->model is owned by
 * the caller (atrous_model_free) and still needs its filters (out->filters_file) and the
 * model's own checks (atrous_model_check_filters, atrous_model_check_runnable). Returns
 * ATROUS_OK, ATROUS_INVALID_ARGUMENT or ATROUS_NO_MEMORY.
 */
enum atrous_status atrous_model_config_decode(const char *text, size_t len, const char *path,
                                              const char *folder_name,
                                              struct atrous_model_config *out,
                                              struct atrous_error *err);

/*
 * Parses "{name}[/versions/{version}]" at the start of a URL path segment (the name ends at
 * '/', ':' or the end), as the KServe and TF Serving paths spell a model. Copies the name and
 * the version ("" when none) and returns what follows, or NULL when either is not valid.
 */
const char *atrous_model_parse_path(const char *s, char name[ATROUS_MODEL_NAME_MAX + 1],
                                    char version[ATROUS_MODEL_VERSION_MAX + 1]);

/* Completes a request for the model from its value_shape: the output shape by the rule
 * (checked as atrous_model_output_shape checks it), then the model's filters (borrowed), rate
 * and padding. On failure the request's output shape and model fields are left as they were. */
enum atrous_status atrous_model_fill_request(const struct atrous_model *model,
                                             struct atrous_request *op, struct atrous_error *err);

#endif
