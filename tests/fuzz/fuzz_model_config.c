/*
 * fuzz_model_config.c - libFuzzer target for a model folder decoded from bytes: the config
 * document (proto/atrous_model_config.c), the filters file it names (proto/atrous_npy.c, .npy or
 * raw), and the model's own checks and shape rule (lib/atrous_model.c), in the order the
 * server's repository runs them after reading the files (server/model_repo.c, atrousd_model_load).
 * The same text also goes through atrous_model_parse_path, the model's spelling in URLs.
 *
 * Input (fuzz_input.h): one flags byte (folder name, whether a filters file follows), the config
 * text, and when the flags say so a NUL byte and the filters file's bytes. Every rejection must
 * name the file; an accepted config must hold only what its format allows (name, version, rate,
 * padding, shapes, warmup, the file name and its kind); a runnable model's smallest value, its
 * warmup shapes and a request completed for it must pass the op's validation with the output the
 * shape rule gives.
 */
#include <stdlib.h>
#include <string.h>

#include "atrous_model_config.h"
#include "atrous_npy.h"
#include "fuzz_input.h"

#define CONFIG_PATH   "fuzz/m/config.json"
#define FILTERS_PATH  "fuzz/m/filters"
#define FILTERS_FIELD "filters.file"
#define MAX_FILTERS   (1 << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* What the config format allows, on a model the decoder accepted. */
static void check_config(const struct atrous_model_config *config)
{
    const struct atrous_model *m = config->model;
    if (m == NULL || m->filters != NULL || m->prepared != NULL ||
        !atrous_model_name_valid(m->name, strlen(m->name)) ||
        strcmp(m->name, ATROUS_GENERIC_MODEL_NAME) == 0 ||
        !atrous_model_version_valid(m->version, strlen(m->version)) ||
        m->version_number != strtoll(m->version, NULL, 10) || m->rate < 1 ||
        (m->padding != ATROUS_PADDING_SAME && m->padding != ATROUS_PADDING_VALID) ||
        m->filters_shape.rank != 4 || m->input_shape[3] != m->filters_shape.dims[3] ||
        m->max_batch_size < 0 || m->max_batch_size > INT32_MAX ||
        m->warmup_count > ATROUS_MODEL_WARMUP_MAX)
        abort();
    for (int i = 0; i < 4; i++) {
        if (m->filters_shape.dims[i] < 1 || (m->input_shape[i] < 1 && m->input_shape[i] != -1))
            abort();
    }
    for (size_t w = 0; w < m->warmup_count; w++) {
        for (int i = 0; i < 4; i++)
            if (m->warmup[w][i] < 1)
                abort();
    }
    const char *file = config->filters_file, *ext = strrchr(file, '.');
    if (file[0] == '\0' || strchr(file, '/') != NULL || strcmp(file, ".") == 0 ||
        strcmp(file, "..") == 0 || ext == NULL ||
        config->filters_npy != (strcmp(ext, ".npy") == 0) ||
        (!config->filters_npy && strcmp(ext, ".bin") != 0 && strcmp(ext, ".raw") != 0))
        abort();
}

/* The filters file as the repository reads it: its size checked against the configured shape
 * before it is read, then decoded, then every element finite. */
static enum atrous_status decode_filters(struct atrous_model_config *config, const uint8_t *bytes,
                                         size_t len)
{
    struct atrous_model *m = config->model;
    struct atrous_error err;
    enum atrous_status st =
        atrous_npy_check_file_size(FILTERS_PATH, &m->filters_shape, MAX_FILTERS,
                                   config->filters_npy, len, FILTERS_FIELD, &err);
    if (st == ATROUS_OK)
        st = config->filters_npy
                 ? atrous_npy_decode_f32(bytes, len, FILTERS_PATH, &m->filters_shape, MAX_FILTERS,
                                         FILTERS_FIELD, &m->filters, &err)
                 : atrous_npy_decode_raw_f32(bytes, len, FILTERS_PATH, &m->filters_shape,
                                             MAX_FILTERS, FILTERS_FIELD, &m->filters, &err);
    if (st != ATROUS_OK) {
        if (m->filters != NULL || strcmp(err.field, FILTERS_FIELD) != 0 ||
            !starts_with(err.message, FILTERS_PATH))
            abort();
        return st;
    }
    if (atrous_shape_elements(&m->filters_shape, FILTERS_FIELD, &m->filters_elements, NULL) ||
        m->filters_elements > MAX_FILTERS || m->filters == NULL ||
        (uintptr_t)m->filters % ATROUS_TENSOR_ALIGN != 0)
        abort();
    /* The data is the file's tail as it lies. */
    if (memcmp(m->filters, bytes + len - m->filters_elements * sizeof(float),
               m->filters_elements * sizeof(float)) != 0)
        abort();
    st = atrous_model_check_filters(m, FILTERS_FIELD, &err);
    if (st != ATROUS_OK && err.message[0] == '\0')
        abort();
    return st;
}

/* A runnable model: its smallest value, its warmup shapes, its metadata dims and a request
 * completed for it agree with the op's validation. */
static void check_runnable(const struct atrous_model *m)
{
    struct atrous_error err;
    struct atrous_problem p, q;
    struct atrous_shape probe;
    int64_t dims[4], out[4], input[4], output[4];
    for (int i = 0; i < 4; i++)
        dims[i] = m->input_shape[i] == -1 ? 1 : m->input_shape[i];
    atrous_shape_make(&probe, dims, 4, NULL);
    if (atrous_model_output_shape(m, &probe, out, &err) != ATROUS_OK ||
        atrous_model_problem(m, &probe, NULL, &p, &err) != ATROUS_OK || p.out_h != out[1] ||
        p.out_w != out[2] || p.out_c != out[3])
        abort();
    for (size_t w = 0; w < m->warmup_count; w++) {
        struct atrous_shape shape;
        atrous_shape_make(&shape, m->warmup[w], 4, NULL);
        if (atrous_model_problem(m, &shape, NULL, &q, &err) != ATROUS_OK)
            abort();
    }
    atrous_model_io_dims(m, input, output);
    for (int i = 0; i < 4; i++) {
        if (input[i] != m->input_shape[i] || (output[i] != -1 && output[i] < 1) ||
            (output[i] == -1) != (i < 3 && input[i] == -1))
            abort();
    }
    struct atrous_request op;
    atrous_request_init(&op);
    op.value_shape = probe;
    if (atrous_model_fill_request(m, &op, &err) != ATROUS_OK || op.filters != m->filters ||
        atrous_request_validate(&op, NULL, &q, &err) != ATROUS_OK || memcmp(&p, &q, sizeof(p)) != 0)
        abort();
}

/* atrous_model_parse_path on the text: a name and version it accepts are valid ones, and what
 * it returns lies inside the text. */
static void check_parse_path(const char *text)
{
    char name[ATROUS_MODEL_NAME_MAX + 1], version[ATROUS_MODEL_VERSION_MAX + 1];
    const char *rest = atrous_model_parse_path(text, name, version);
    if (rest == NULL)
        return;
    if (rest < text || rest > text + strlen(text) || !atrous_model_name_valid(name, strlen(name)) ||
        (version[0] != '\0' && !atrous_model_version_valid(version, strlen(version))) ||
        (*rest != '\0' && *rest != '/' && *rest != ':'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FUZZ_MODEL_CONFIG_PREFIX)
        return 0;
    const uint8_t flags = data[0];
    const char *folder = fuzz_folder_names[flags % FUZZ_TABLE_COUNT(fuzz_folder_names)];
    data += FUZZ_MODEL_CONFIG_PREFIX;
    size -= FUZZ_MODEL_CONFIG_PREFIX;
    /* The config and the filters file in allocations of their own, so ASan sees reads past
     * either; the config NUL-terminated as the repository reads it, its length without. */
    const uint8_t *nul = (flags & FUZZ_MODEL_CONFIG_FILTERS) ? memchr(data, '\0', size) : NULL;
    size_t text_len = nul ? (size_t)(nul - data) : size;
    size_t filters_len = nul ? size - text_len - 1 : 0;
    char *text = malloc(text_len + 1);
    uint8_t *filters = malloc(filters_len ? filters_len : 1);
    if (text == NULL || filters == NULL)
        abort();
    memcpy(text, data, text_len);
    text[text_len] = '\0';
    if (filters_len)
        memcpy(filters, nul + 1, filters_len);

    struct atrous_model_config config;
    struct atrous_error err;
    if (atrous_model_config_decode(text, text_len, CONFIG_PATH, folder, &config, &err) !=
        ATROUS_OK) {
        if (config.model != NULL || !starts_with(err.message, CONFIG_PATH))
            abort();
    } else {
        check_config(&config);
        if ((nul == NULL || decode_filters(&config, filters, filters_len) == ATROUS_OK) &&
            atrous_model_check_runnable(config.model, &err) == ATROUS_OK)
            check_runnable(config.model);
        atrous_model_free(config.model);
    }
    check_parse_path(text);
    free(filters);
    free(text);
    return 0;
}
