/*
 * atrous_model_config.c - a model folder's config.json decoded from bytes in memory with
 * jansson (strict: unknown keys, duplicate keys and wrong types are errors naming the field),
 * the URL spelling of a model, and the step that completes an op request for a model.
 */
#include "atrous_model_config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "wire_text.h"

/* Records "<path>: <message>" with field and status. */
__attribute__((format(printf, 5, 6))) static enum atrous_status
fail(struct atrous_error *err, enum atrous_status status, const char *path, const char *field,
     const char *fmt, ...)
{
    char message[ATROUS_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return atrous_error_set(err, status, field, "%s: %s", path, message);
}

const char *atrous_model_parse_path(const char *s, char name[ATROUS_MODEL_NAME_MAX + 1],
                                    char version[ATROUS_MODEL_VERSION_MAX + 1])
{
    static const char versions[] = "/versions/";
    size_t name_len = strcspn(s, "/:");
    if (!atrous_model_name_valid(s, name_len))
        return NULL;
    memcpy(name, s, name_len);
    name[name_len] = '\0';
    version[0] = '\0';
    s += name_len;
    if (strncmp(s, versions, sizeof(versions) - 1) != 0)
        return s;
    s += sizeof(versions) - 1;
    size_t version_len = strcspn(s, "/:");
    if (!atrous_model_version_valid(s, version_len))
        return NULL;
    memcpy(version, s, version_len);
    version[version_len] = '\0';
    return s + version_len;
}

/* An integer member (or an error naming it). */
static enum atrous_status get_int(const json_t *v, const char *path, const char *field,
                                  int64_t *out, struct atrous_error *err)
{
    if (!json_is_integer(v))
        return fail(err, ATROUS_INVALID_ARGUMENT, path, field, "\"%s\" must be an integer", field);
    *out = (int64_t)json_integer_value(v);
    return ATROUS_OK;
}

/* A JSON array of exactly 4 integers, each either -1 (when allow_any) or >= min. */
static enum atrous_status get_dims4(const json_t *v, const char *path, const char *field,
                                    int64_t min, bool allow_any, int64_t out[4],
                                    struct atrous_error *err)
{
    if (!json_is_array(v) || json_array_size(v) != 4)
        return fail(err, ATROUS_INVALID_ARGUMENT, path, field,
                    "\"%s\" must be a list of 4 integers", field);
    for (size_t i = 0; i < 4; i++) {
        const json_t *d = json_array_get(v, i);
        if (!json_is_integer(d) ||
            !(json_integer_value(d) >= min || (allow_any && json_integer_value(d) == -1)))
            return fail(err, ATROUS_INVALID_ARGUMENT, path, field,
                        "\"%s\"[%zu] must be an integer >= %" PRId64 "%s", field, i, min,
                        allow_any ? " or -1" : "");
        out[i] = (int64_t)json_integer_value(d);
    }
    return ATROUS_OK;
}

/* Rejects members of obj not in names (a NULL-terminated list). */
static enum atrous_status only_known_keys(const json_t *obj, const char *const *names,
                                          const char *path, const char *where,
                                          struct atrous_error *err)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        if (!atrous__name_listed(key, names))
            return fail(err, ATROUS_INVALID_ARGUMENT, path, key, "unknown key \"%s\"%s", key,
                        where);
    }
    return ATROUS_OK;
}

static enum atrous_status parse_name_version(struct atrous_model *m, const json_t *root,
                                             const char *folder_name, const char *path,
                                             struct atrous_error *err)
{
    const json_t *name = json_object_get(root, "name");
    const json_t *version = json_object_get(root, "version");
    if (name != NULL) {
        if (!json_is_string(name) ||
            !atrous_model_name_valid(json_string_value(name), json_string_length(name)))
            return fail(err, ATROUS_INVALID_ARGUMENT, path, "name",
                        "\"name\" must be 1 to %d letters, digits, '_', '-' or '.', not starting "
                        "with '.' or '-'",
                        ATROUS_MODEL_NAME_MAX);
        snprintf(m->name, sizeof(m->name), "%s", json_string_value(name));
    } else {
        size_t len = strlen(folder_name);
        if (!atrous_model_name_valid(folder_name, len))
            return fail(err, ATROUS_INVALID_ARGUMENT, path, "name",
                        "no \"name\" given and the folder's name is not a valid model name");
        snprintf(m->name, sizeof(m->name), "%.*s", (int)len, folder_name);
    }
    if (strcmp(m->name, ATROUS_GENERIC_MODEL_NAME) == 0)
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "name",
                    "\"%s\" is the built-in generic model's name", ATROUS_GENERIC_MODEL_NAME);
    if (version == NULL) {
        snprintf(m->version, sizeof(m->version), "1");
    } else if (json_is_integer(version) && json_integer_value(version) >= 1 &&
               json_integer_value(version) < 1000000000000000000LL) {
        snprintf(m->version, sizeof(m->version), "%" PRId64, (int64_t)json_integer_value(version));
    } else if (json_is_string(version) && atrous_model_version_valid(json_string_value(version),
                                                                     json_string_length(version))) {
        snprintf(m->version, sizeof(m->version), "%s", json_string_value(version));
    } else {
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "version",
                    "\"version\" must be a positive integer below 10^18 (a number or a string "
                    "of digits without leading zeros)");
    }
    m->version_number = strtoll(m->version, NULL, 10);
    return ATROUS_OK;
}

static enum atrous_status parse_op(struct atrous_model *m, const json_t *root, const char *path,
                                   struct atrous_error *err)
{
    enum atrous_status st;
    const json_t *rate = json_object_get(root, "rate");
    const json_t *padding = json_object_get(root, "padding");
    if (rate == NULL)
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "rate", "\"rate\" is required");
    if ((st = get_int(rate, path, "rate", &m->rate, err)))
        return st;
    if (m->rate < 1)
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "rate",
                    "\"rate\" must be >= 1, got %" PRId64, m->rate);
    if (padding == NULL)
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "padding", "\"padding\" is required");
    if (json_is_string(padding) && strcmp(json_string_value(padding), "SAME") == 0)
        m->padding = ATROUS_PADDING_SAME;
    else if (json_is_string(padding) && strcmp(json_string_value(padding), "VALID") == 0)
        m->padding = ATROUS_PADDING_VALID;
    else
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "padding",
                    "\"padding\" must be \"SAME\" or \"VALID\"");
    return ATROUS_OK;
}

/* "filters": {"shape": [...], "file": "..."}: checks the entry and reads the file. */
/* "filters": {"shape": [...], "file": "..."}: the entry only; the server reads the file. */
static enum atrous_status parse_filters(struct atrous_model *m, const json_t *root,
                                        const char *path, struct atrous_model_config *out,
                                        struct atrous_error *err)
{
    static const char *const keys[] = {"shape", "file", NULL};
    enum atrous_status st;
    const json_t *filters = json_object_get(root, "filters");
    int64_t dims[4];

    if (!json_is_object(filters))
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "filters",
                    "\"filters\" must be an object {\"shape\": [KH, KW, OC, IC], \"file\": "
                    "\"filters.npy\"}");
    if ((st = only_known_keys(filters, keys, path, " in \"filters\"", err)) ||
        (st = get_dims4(json_object_get(filters, "shape"), path, "filters.shape", 1, false, dims,
                        err)))
        return st;
    atrous_shape_make(&m->filters_shape, dims, 4, NULL);
    const json_t *file = json_object_get(filters, "file");
    const char *name = json_string_value(file);
    if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0 || strlen(name) > ATROUS_MODEL_FILE_NAME_MAX)
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "filters.file",
                    "\"filters.file\" must be the name of a file in the model's folder");
    const char *ext = strrchr(name, '.');
    bool npy = ext && strcmp(ext, ".npy") == 0;
    if (!npy && !(ext && (strcmp(ext, ".bin") == 0 || strcmp(ext, ".raw") == 0)))
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "filters.file",
                    "\"filters.file\" must end in .npy (NumPy) or .bin / .raw (bare float32 "
                    "little-endian), got \"%s\"",
                    name);
    snprintf(out->filters_file, sizeof(out->filters_file), "%s", name);
    out->filters_npy = npy;
    return ATROUS_OK;
}

/* input_shape, max_batch_size, warmup: the optional members about the input. */
static enum atrous_status parse_input(struct atrous_model *m, const json_t *root, const char *path,
                                      struct atrous_error *err)
{
    enum atrous_status st;
    const int64_t ic = m->filters_shape.dims[3];
    const json_t *input_shape = json_object_get(root, "input_shape");
    const json_t *max_batch = json_object_get(root, "max_batch_size");
    const json_t *warmup = json_object_get(root, "warmup");

    m->input_shape[0] = m->input_shape[1] = m->input_shape[2] = -1;
    m->input_shape[3] = ic;
    if (input_shape != NULL) {
        if ((st = get_dims4(input_shape, path, "input_shape", 1, true, m->input_shape, err)))
            return st;
        if (m->input_shape[3] != -1 && m->input_shape[3] != ic)
            return fail(err, ATROUS_INVALID_ARGUMENT, path, "input_shape",
                        "\"input_shape\"[3] is %" PRId64 " but the filters take %" PRId64
                        " input channels",
                        m->input_shape[3], ic);
        m->input_shape[3] = ic;
    }
    if (max_batch != NULL) {
        if ((st = get_int(max_batch, path, "max_batch_size", &m->max_batch_size, err)))
            return st;
        if (m->max_batch_size < 0 || m->max_batch_size > INT32_MAX)
            return fail(err, ATROUS_INVALID_ARGUMENT, path, "max_batch_size",
                        "\"max_batch_size\" must be between 0 and %d", INT32_MAX);
    }
    if (warmup != NULL) {
        if (!json_is_array(warmup) || json_array_size(warmup) > ATROUS_MODEL_WARMUP_MAX)
            return fail(err, ATROUS_INVALID_ARGUMENT, path, "warmup",
                        "\"warmup\" must be a list of at most %d value shapes [N, H, W, IC]",
                        ATROUS_MODEL_WARMUP_MAX);
        for (size_t i = 0; i < json_array_size(warmup); i++)
            if ((st = get_dims4(json_array_get(warmup, i), path, "warmup", 1, false, m->warmup[i],
                                err)))
                return st;
        m->warmup_count = json_array_size(warmup);
    }
    return ATROUS_OK;
}

/* dtype and precision: the model's declared element type and its default compute precision. */
static enum atrous_status parse_types(struct atrous_model *m, const json_t *root, const char *path,
                                      struct atrous_error *err)
{
    const json_t *dtype = json_object_get(root, "dtype");
    const json_t *precision = json_object_get(root, "precision");
    m->dtype = ATROUS_DTYPE_FLOAT32;
    m->precision = ATROUS_PRECISION_F32;
    if (dtype != NULL &&
        !(json_is_string(dtype) &&
          atrous_dtype_parse(json_string_value(dtype), json_string_length(dtype), &m->dtype)))
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "dtype",
                    "\"dtype\" must be one of \"float32\", \"bfloat16\", \"float16\"");
    if (precision != NULL &&
        !(json_is_string(precision) &&
          atrous_precision_parse(json_string_value(precision), json_string_length(precision),
                                 &m->precision)))
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "precision",
                    "\"precision\" must be \"f32\" or \"bf16\"");
    return ATROUS_OK;
}

enum atrous_status atrous_model_config_decode(const char *text, size_t len, const char *path,
                                              const char *folder_name,
                                              struct atrous_model_config *out,
                                              struct atrous_error *err)
{
    static const char *const keys[] = {"name",    "version",     "rate",   "padding",
                                       "filters", "input_shape", "warmup", "max_batch_size",
                                       "dtype",   "precision",   NULL};
    enum atrous_status st = ATROUS_OK;
    json_t *root = NULL;
    json_error_t jerr;
    struct atrous_model *m = calloc(1, sizeof(*m));

    memset(out, 0, sizeof(*out));
    if (m == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "%s: out of memory", path);
        goto out;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        st = fail(err, ATROUS_INVALID_ARGUMENT, path, "", "invalid JSON at line %d column %d: %s",
                  jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        st = fail(err, ATROUS_INVALID_ARGUMENT, path, "", "the config must be a JSON object");
        goto out;
    }
    if ((st = only_known_keys(root, keys, path, "", err)) ||
        (st = parse_name_version(m, root, folder_name, path, err)) ||
        (st = parse_op(m, root, path, err)) || (st = parse_filters(m, root, path, out, err)) ||
        (st = parse_input(m, root, path, err)) || (st = parse_types(m, root, path, err)))
        goto out;
    out->model = m;
    m = NULL;
out:
    json_decref(root);
    atrous_model_free(m);
    return st;
}

enum atrous_status atrous_model_fill_request(const struct atrous_model *model,
                                             struct atrous_request *op, struct atrous_error *err)
{
    int64_t output_shape[4];
    enum atrous_status st = atrous_model_output_shape(model, &op->value_shape, output_shape, err);
    if (st != ATROUS_OK)
        return st;
    memcpy(op->output_shape, output_shape, sizeof(output_shape));
    op->output_shape_len = 4;
    op->filters_shape = model->filters_shape;
    op->filters = model->filters;
    op->filters_dtype = model->dtype;
    op->rate = model->rate;
    const char *padding = atrous_padding_name(model->padding);
    op->padding_len = strlen(padding);
    memcpy(op->padding, padding, op->padding_len + 1);
    return ATROUS_OK;
}
