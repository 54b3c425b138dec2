/*
 * atrous_model.c - model folders (config.json + filters) and the repository that holds them:
 * strict config parsing with jansson, filters read through atrous_npy, the shape rule that
 * turns a model's input into its output, and lookups by name and version.
 */
#include "atrous_model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "atrous_npy.h"
#include "wire_text.h"

/* Longest filters file name (one path component). */
#define FILE_NAME_MAX 255

struct atrous_model_repo {
    struct atrous_model **models; /* sorted by (name, version_number) */
    size_t count;
};

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

bool atrous_model_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > ATROUS_MODEL_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

bool atrous_model_version_valid(const char *s, size_t len)
{
    if (len == 0 || len > ATROUS_MODEL_VERSION_MAX || s[0] == '0')
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
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

/* Reads a whole small file (the config) into a malloc'd buffer. */
static enum atrous_status read_small_file(const char *path, size_t max, char **out, size_t *len,
                                          struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct stat sb;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "", "cannot open: %s", strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = fail(err, ATROUS_INVALID_ARGUMENT, path, "", "not a regular file");
        goto out;
    }
    if ((uint64_t)sb.st_size > max) {
        st = fail(err, ATROUS_TOO_LARGE, path, "", "%" PRIu64 " bytes, more than the %zu allowed",
                  (uint64_t)sb.st_size, max);
        goto out;
    }
    size_t size = (size_t)sb.st_size, done = 0;
    buf = malloc(size + 1);
    if (buf == NULL) {
        st = fail(err, ATROUS_NO_MEMORY, path, "", "out of memory");
        goto out;
    }
    while (done < size) {
        ssize_t n = read(fd, buf + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            st = fail(err, ATROUS_INVALID_ARGUMENT, path, "", "read failed");
            goto out;
        }
        done += (size_t)n;
    }
    buf[size] = '\0';
    *out = buf;
    *len = size;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return st;
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
                                             const char *dir, const char *path,
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
        const char *base = strrchr(dir, '/');
        base = base && base[1] ? base + 1 : dir;
        size_t len = strcspn(base, "/");
        if (!atrous_model_name_valid(base, len))
            return fail(err, ATROUS_INVALID_ARGUMENT, path, "name",
                        "no \"name\" given and the folder's name is not a valid model name");
        snprintf(m->name, sizeof(m->name), "%.*s", (int)len, base);
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
static enum atrous_status parse_filters(struct atrous_model *m, const json_t *root, const char *dir,
                                        const char *path, const struct atrous_model_limits *limits,
                                        struct atrous_error *err)
{
    static const char *const keys[] = {"shape", "file", NULL};
    enum atrous_status st;
    const json_t *filters = json_object_get(root, "filters");
    int64_t dims[4];
    char file_path[PATH_MAX];

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
        strcmp(name, "..") == 0 || strlen(name) > FILE_NAME_MAX)
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "filters.file",
                    "\"filters.file\" must be the name of a file in the model's folder");
    const char *ext = strrchr(name, '.');
    bool npy = ext && strcmp(ext, ".npy") == 0;
    if (!npy && !(ext && (strcmp(ext, ".bin") == 0 || strcmp(ext, ".raw") == 0)))
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "filters.file",
                    "\"filters.file\" must end in .npy (NumPy) or .bin / .raw (bare float32 "
                    "little-endian), got \"%s\"",
                    name);
    if (snprintf(file_path, sizeof(file_path), "%s/%s", dir, name) >= (int)sizeof(file_path))
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "filters.file", "path too long");
    size_t max = limits ? limits->max_filters_elements : 0;
    st = npy ? atrous_npy_read_f32(file_path, &m->filters_shape, max, "filters.file", &m->filters,
                                   err)
             : atrous_npy_read_raw_f32(file_path, &m->filters_shape, max, "filters.file",
                                       &m->filters, err);
    if (st != ATROUS_OK)
        return st;
    m->filters_elements = (size_t)(dims[0] * dims[1] * dims[2] * dims[3]); /* checked above */
    for (size_t i = 0; i < m->filters_elements; i++)
        if (!isfinite(m->filters[i]))
            return fail(err, ATROUS_INVALID_ARGUMENT, file_path, "filters.file",
                        "element %zu is not finite (%g)", i, (double)m->filters[i]);
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

/* The smallest value the model takes: 1 for each dimension the request chooses, else the
 * fixed one. */
static void probe_shape(const struct atrous_model *m, struct atrous_shape *out)
{
    int64_t dims[4];
    for (int i = 0; i < 4; i++)
        dims[i] = m->input_shape[i] == -1 ? 1 : m->input_shape[i];
    atrous_shape_make(out, dims, 4, NULL);
}

/* The model must run: its warmup shapes, and a smallest value (1x1, or the fixed dims), pass
 * the op's validation. */
static enum atrous_status check_runnable(const struct atrous_model *m, const char *path,
                                         struct atrous_error *err)
{
    struct atrous_problem p;
    struct atrous_shape shape;
    probe_shape(m, &shape);
    if (atrous_model_problem(m, &shape, NULL, &p, err) != ATROUS_OK)
        return fail(err, ATROUS_INVALID_ARGUMENT, path, "", "the model cannot run: %s",
                    err ? err->message : "");
    for (size_t i = 0; i < m->warmup_count; i++) {
        atrous_shape_make(&shape, m->warmup[i], 4, NULL);
        if (atrous_model_problem(m, &shape, NULL, &p, err) != ATROUS_OK)
            return fail(err, ATROUS_INVALID_ARGUMENT, path, "warmup", "warmup[%zu]: %s", i,
                        err ? err->message : "");
    }
    return ATROUS_OK;
}

enum atrous_status atrous_model_load(const char *dir, const struct atrous_model_limits *limits,
                                     struct atrous_model **out, struct atrous_error *err)
{
    static const char *const keys[] = {"name",    "version",        "rate",
                                       "padding", "filters",        "input_shape",
                                       "warmup",  "max_batch_size", NULL};
    enum atrous_status st = ATROUS_OK;
    char path[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    json_t *root = NULL;
    json_error_t jerr;
    struct atrous_model *m = calloc(1, sizeof(*m));

    if (m == NULL || (m->dir = strdup(dir)) == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "%s: out of memory", dir);
        goto out;
    }
    if (snprintf(path, sizeof(path), "%s/%s", dir, ATROUS_MODEL_CONFIG_FILE) >= (int)sizeof(path)) {
        st = fail(err, ATROUS_INVALID_ARGUMENT, dir, "", "path too long");
        goto out;
    }
    if ((st = read_small_file(path, ATROUS_MODEL_CONFIG_MAX_BYTES, &text, &len, err)))
        goto out;
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
        (st = parse_name_version(m, root, dir, path, err)) || (st = parse_op(m, root, path, err)) ||
        (st = parse_filters(m, root, dir, path, limits, err)) ||
        (st = parse_input(m, root, path, err)) || (st = check_runnable(m, path, err)))
        goto out;
    *out = m;
    m = NULL;
out:
    json_decref(root);
    free(text);
    atrous_model_free(m);
    return st;
}

void atrous_model_free(struct atrous_model *model)
{
    if (model == NULL)
        return;
    atrous_filters_free(model->prepared);
    atrous_aligned_free(model->filters);
    free(model->dir);
    free(model);
}

enum atrous_status atrous_model_output_shape(const struct atrous_model *model,
                                             const struct atrous_shape *value_shape, int64_t out[4],
                                             struct atrous_error *err)
{
    char text[160];
    atrous_shape_format(value_shape, text, sizeof(text));
    if (value_shape->rank != 4)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "value",
                                "value must be rank 4 [N, H, W, IC], got shape %s", text);
    for (int i = 0; i < 4; i++) {
        const int64_t d = value_shape->dims[i];
        if (d < 0)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "value",
                                    "value shape %s has a negative dimension", text);
        if (model->input_shape[i] != -1 && d != model->input_shape[i])
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "value",
                                    "value shape %s does not fit model '%s' input [%" PRId64
                                    ", %" PRId64 ", %" PRId64 ", %" PRId64 "] (-1: any) at "
                                    "dimension %d",
                                    text, model->name, model->input_shape[0], model->input_shape[1],
                                    model->input_shape[2], model->input_shape[3], i);
    }
    if (model->max_batch_size > 0 && value_shape->dims[0] > model->max_batch_size)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "value",
                                "value shape %s has batch %" PRId64 ", more than model '%s' "
                                "max_batch_size %" PRId64,
                                text, value_shape->dims[0], model->name, model->max_batch_size);
    out[0] = value_shape->dims[0];
    out[1] = value_shape->dims[1];
    out[2] = value_shape->dims[2];
    out[3] = model->filters_shape.dims[2];
    if (model->padding == ATROUS_PADDING_VALID) {
        for (int d = 1; d <= 2; d++) {
            int64_t grow;
            if (__builtin_mul_overflow(model->filters_shape.dims[d - 1] - 1, model->rate, &grow) ||
                __builtin_add_overflow(out[d], grow, &out[d]))
                return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "value",
                                        "value shape %s is too large: the VALID output size "
                                        "overflows 64 bits",
                                        text);
        }
    }
    return ATROUS_OK;
}

void atrous_model_io_dims(const struct atrous_model *model, int64_t input[4], int64_t output[4])
{
    struct atrous_shape probe;
    probe_shape(model, &probe);
    /* atrous_model_load ran this very probe through the op, so the rule cannot fail. */
    if (atrous_model_output_shape(model, &probe, output, NULL) != ATROUS_OK)
        memset(output, 0, 4 * sizeof(output[0]));
    for (int i = 0; i < 4; i++) {
        input[i] = model->input_shape[i];
        if (i < 3 && input[i] == -1)
            output[i] = -1;
    }
}

enum atrous_status atrous_model_problem(const struct atrous_model *model,
                                        const struct atrous_shape *value_shape,
                                        const struct atrous_limits *limits,
                                        struct atrous_problem *out, struct atrous_error *err)
{
    int64_t output_shape[4];
    enum atrous_status st = atrous_model_output_shape(model, value_shape, output_shape, err);
    if (st != ATROUS_OK)
        return st;
    const char *padding = atrous_padding_name(model->padding);
    return atrous_op_validate(value_shape, &model->filters_shape, output_shape, 4, model->rate,
                              padding, strlen(padding), limits, out, err);
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
    op->rate = model->rate;
    const char *padding = atrous_padding_name(model->padding);
    op->padding_len = strlen(padding);
    memcpy(op->padding, padding, op->padding_len + 1);
    return ATROUS_OK;
}

enum atrous_status atrous_model_prepare(struct atrous_model *model, struct atrous_engine *engine,
                                        struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrous_filters *filters = NULL;
    if (model->prepared != NULL)
        return ATROUS_OK;
    if ((st = atrous_filters_create(engine, &model->filters_shape, model->filters, &filters, err)))
        goto out;
    for (size_t i = 0; i < model->warmup_count; i++) {
        struct atrous_shape shape;
        struct atrous_problem p;
        atrous_shape_make(&shape, model->warmup[i], 4, NULL);
        if ((st = atrous_model_problem(model, &shape, NULL, &p, err)) ||
            (st = atrous_filters_prepare(engine, filters, &p, err)))
            goto out;
    }
    model->prepared = filters;
    filters = NULL;
out:
    atrous_filters_free(filters);
    return st;
}

/* Repository. */

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int compare_models(const void *a, const void *b)
{
    const struct atrous_model *x = *(struct atrous_model *const *)a;
    const struct atrous_model *y = *(struct atrous_model *const *)b;
    int c = strcmp(x->name, y->name);
    if (c == 0)
        c = (x->version_number > y->version_number) - (x->version_number < y->version_number);
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

enum atrous_status atrous_model_repo_create_empty(struct atrous_model_repo **out,
                                                  struct atrous_error *err)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the repository");
    return ATROUS_OK;
}

/* Drops the i-th model from the repository (freeing it). */
static void repo_remove(struct atrous_model_repo *repo, size_t i)
{
    atrous_model_free(repo->models[i]);
    memmove(&repo->models[i], &repo->models[i + 1],
            (repo->count - i - 1) * sizeof(repo->models[0]));
    repo->count--;
}

enum atrous_status atrous_model_repo_load(const char *root,
                                          const struct atrous_model_limits *limits,
                                          atrous_model_report_fn report, void *ctx,
                                          struct atrous_model_repo **out, size_t *failed,
                                          struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrous_model_repo *repo = NULL;
    char **folders = NULL;
    size_t folder_count = 0, failures = 0;
    size_t max = limits && limits->max_models ? limits->max_models : ATROUS_MODEL_REPO_DEFAULT_MAX;

    if ((st = list_folders(root, max, &folders, &folder_count, err)) ||
        (st = atrous_model_repo_create_empty(&repo, err)))
        goto out;
    repo->models = calloc(folder_count ? folder_count : 1, sizeof(*repo->models));
    if (repo->models == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the repository");
        goto out;
    }
    for (size_t i = 0; i < folder_count; i++) {
        struct atrous_error model_err;
        atrous_error_clear(&model_err);
        st = atrous_model_load(folders[i], limits, &repo->models[repo->count], &model_err);
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
        repo->count++;
    }
    qsort(repo->models, repo->count, sizeof(*repo->models), compare_models);
    for (size_t i = 1; i < repo->count;) {
        const struct atrous_model *a = repo->models[i - 1], *b = repo->models[i];
        if (strcmp(a->name, b->name) != 0 || a->version_number != b->version_number) {
            i++;
            continue;
        }
        struct atrous_error dup;
        atrous_error_set(&dup, ATROUS_INVALID_ARGUMENT, "name",
                         "%s/%s: model '%s' version %s is already loaded from %s", b->dir,
                         ATROUS_MODEL_CONFIG_FILE, b->name, b->version, a->dir);
        failures++;
        if (report)
            report(ctx, b->dir, &dup);
        repo_remove(repo, i);
    }
    *out = repo;
    repo = NULL;
out:
    for (size_t i = 0; i < folder_count; i++)
        free(folders[i]);
    free(folders);
    atrous_model_repo_free(repo);
    if (failed)
        *failed = failures;
    return st;
}

size_t atrous_model_repo_prepare(struct atrous_model_repo *repo, struct atrous_engine *engine,
                                 atrous_model_report_fn report, void *ctx)
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
            report(ctx, repo->models[i]->dir, &err);
        repo_remove(repo, i);
        removed++;
    }
    return removed;
}

void atrous_model_repo_free(struct atrous_model_repo *repo)
{
    if (repo == NULL)
        return;
    for (size_t i = 0; i < repo->count; i++)
        atrous_model_free(repo->models[i]);
    free(repo->models);
    free(repo);
}

size_t atrous_model_repo_count(const struct atrous_model_repo *repo)
{
    return repo->count;
}

const struct atrous_model *atrous_model_repo_at(const struct atrous_model_repo *repo, size_t i)
{
    return i < repo->count ? repo->models[i] : NULL;
}

size_t atrous_model_repo_versions(const struct atrous_model_repo *repo, const char *name,
                                  size_t *first)
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
    return end - lo;
}

const struct atrous_model *atrous_model_repo_find(const struct atrous_model_repo *repo,
                                                  const char *name, const char *version)
{
    size_t first = 0;
    size_t count = atrous_model_repo_versions(repo, name, &first);
    if (count == 0)
        return NULL;
    if (version == NULL || version[0] == '\0')
        return repo->models[first + count - 1];
    for (size_t i = first; i < first + count; i++)
        if (strcmp(repo->models[i]->version, version) == 0)
            return repo->models[i];
    return NULL;
}
