/*
 * codec_suite.c - the codec tests' shared fixture: engine, cases and the example model.
 */
#include "codec_suite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_model_config.h"
#include "atrous_npy.h"

/* Reads a whole file into a malloc'd buffer; NULL on failure. */
static char *read_file(const char *path, size_t *len)
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

struct atrous_model *codec_suite_load_model(const char *dir, char *why, size_t why_size)
{
    char path[512];
    size_t len = 0, filters_len = 0;
    struct atrous_error err;
    struct atrous_model_config config = {0};
    char *filters = NULL;
    const char *base = strrchr(dir, '/');
    snprintf(path, sizeof(path), "%s/%s", dir, ATROUS_MODEL_CONFIG_FILE);
    char *text = read_file(path, &len);
    if (text == NULL) {
        snprintf(why, why_size, "%s: cannot read", path);
        goto out;
    }
    if (atrous_model_config_decode(text, len, path, base ? base + 1 : dir, &config, &err)) {
        snprintf(why, why_size, "%s", err.message);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, config.filters_file);
    if ((filters = read_file(path, &filters_len)) == NULL) {
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

int codec_suite_setup(void **state)
{
    struct atrous_error err = {0};
    char why[ATROUS_ERROR_MESSAGE_MAX] = "";
    struct codec_suite *s = calloc(1, sizeof(*s));
    if (s == NULL || atrous_engine_create(NULL, &s->engine, &err) != ATROUS_OK ||
        atrous_workspace_create(s->engine, &s->workspace, &err) != ATROUS_OK) {
        fprintf(stderr, "setup: %s\n", err.message);
        return -1;
    }
    s->example = codec_suite_load_model(CODEC_SUITE_EXAMPLE_DIR, why, sizeof(why));
    if (s->example == NULL || atrous_model_prepare(s->example, s->engine, &err) != ATROUS_OK) {
        fprintf(stderr, "setup: %s%s\n", why, err.message);
        return -1;
    }
    s->cases = proto_cases_load(&s->count);
    *state = s;
    return 0;
}

int codec_suite_teardown(void **state)
{
    struct codec_suite *s = *state;
    proto_cases_free(s->cases, s->count);
    atrous_model_free(s->example);
    atrous_workspace_free(s->workspace);
    atrous_engine_free(s->engine);
    free(s);
    return 0;
}
