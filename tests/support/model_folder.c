/*
 * model_folder.c - a model folder read with stdio and decoded by proto (see model_folder.h).
 */
#include "model_folder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_model_config.h"
#include "atrous_npy.h"

char *model_folder_read_file(const char *path, size_t *len)
{
    FILE *in = fopen(path, "rb");
    char *buf = NULL;
    long size = -1;
    if (in != NULL && fseek(in, 0, SEEK_END) == 0 && (size = ftell(in)) >= 0 &&
        fseek(in, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size + 1)) != NULL &&
        fread(buf, 1, (size_t)size, in) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    if (in != NULL)
        fclose(in);
    if (buf != NULL) {
        buf[size] = '\0';
        *len = (size_t)size;
    }
    return buf;
}

struct atrous_model *model_folder_load(const char *dir, char *why, size_t why_size)
{
    char path[512];
    size_t len = 0, filters_len = 0;
    struct atrous_error err;
    struct atrous_model_config config = {0};
    char *filters = NULL;
    const char *base = strrchr(dir, '/');
    snprintf(path, sizeof(path), "%s/%s", dir, ATROUS_MODEL_CONFIG_FILE);
    char *text = model_folder_read_file(path, &len);
    if (text == NULL) {
        snprintf(why, why_size, "%s: cannot read", path);
        goto out;
    }
    if (atrous_model_config_decode(text, len, path, base ? base + 1 : dir, &config, &err)) {
        snprintf(why, why_size, "%s", err.message);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, config.filters_file);
    if ((filters = model_folder_read_file(path, &filters_len)) == NULL) {
        snprintf(why, why_size, "%s: cannot read", path);
        goto fail;
    }
    struct atrous_model *m = config.model;
    if ((config.filters_npy
             ? atrous_npy_decode_f32(filters, filters_len, path, &m->filters_shape, 0,
                                     "filters.file", &m->filters, &err)
             : atrous_npy_decode_raw_f32(filters, filters_len, path, &m->filters_shape, 0,
                                         "filters.file", &m->filters, &err)) ||
        atrous_shape_elements(&m->filters_shape, "filters", &m->filters_elements, &err) ||
        atrous_model_check_filters(m, "filters.file", &err) ||
        atrous_model_check_runnable(m, &err)) {
        snprintf(why, why_size, "%s", err.message);
        goto fail;
    }
    goto out;
fail:
    atrous_model_free(config.model);
    config.model = NULL;
out:
    free(text);
    free(filters);
    return config.model;
}
