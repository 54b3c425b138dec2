/*
 * fuzz_model.h - the repository model the protocol fuzz targets serve (fuzz_input.h names it):
 * made in memory once for the codec targets (fuzz_kserve, fuzz_tfserving), or written as a model
 * folder for fuzz_request, which loads it through the server's own start-up path; and what the
 * codec targets do alike with a decoded request (read its tensors, make its output).
 * Header-only (static inline).
 */
#ifndef TESTS_FUZZ_MODEL_H
#define TESTS_FUZZ_MODEL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atrous_model.h"
#include "atrous_request.h"
#include "fuzz_input.h"

#define FUZZ_MODEL_KH       3
#define FUZZ_MODEL_KW       3
#define FUZZ_MODEL_OC       4
#define FUZZ_MODEL_ELEMENTS (FUZZ_MODEL_KH * FUZZ_MODEL_KW * FUZZ_MODEL_OC * FUZZ_MODEL_IC)

static inline void fuzz_model_filters(float *out)
{
    for (int i = 0; i < FUZZ_MODEL_ELEMENTS; i++)
        out[i] = (float)((i * 5) % 9 - 4) / 8.0f;
}

/* The model in memory, not prepared (the codecs need no engine). Aborts on out of memory. */
static inline struct atrous_model *fuzz_model_create(void)
{
    struct atrous_model *m = calloc(1, sizeof(*m));
    if (m == NULL)
        abort();
    snprintf(m->name, sizeof(m->name), "%s", FUZZ_MODEL_NAME);
    snprintf(m->version, sizeof(m->version), "1");
    m->version_number = 1;
    m->rate = 2;
    m->padding = ATROUS_PADDING_SAME;
    m->filters_shape = (struct atrous_shape){
        .rank = 4, .dims = {FUZZ_MODEL_KH, FUZZ_MODEL_KW, FUZZ_MODEL_OC, FUZZ_MODEL_IC}};
    m->filters_elements = FUZZ_MODEL_ELEMENTS;
    m->filters = atrous_aligned_alloc(FUZZ_MODEL_ELEMENTS * sizeof(float));
    if (m->filters == NULL)
        abort();
    fuzz_model_filters(m->filters);
    m->input_shape[0] = m->input_shape[1] = m->input_shape[2] = -1;
    m->input_shape[3] = FUZZ_MODEL_IC;
    m->max_batch_size = 8;
    return m;
}

/* The model in memory, made on the first call and kept for the whole run. */
static inline const struct atrous_model *fuzz_model_shared(void)
{
    static struct atrous_model *model;
    if (model == NULL)
        model = fuzz_model_create();
    return model;
}

/* Reads count floats, so that ASan sees a tensor that ends early. */
static inline void fuzz_touch(const float *data, size_t count)
{
    volatile float sink = 0;
    for (size_t i = 0; i < count; i++)
        sink += data[i];
    (void)sink;
}

/* Largest output the codec targets encode (bigger ones only slow the run down). */
#define FUZZ_MAX_OUTPUT (1 << 16)

/* When op validates and its output has at most FUZZ_MAX_OUTPUT elements: *shape, and that many
 * zeroed floats (plus one, so an empty output is not NULL) for the encoder to write (free()).
 * NULL otherwise. */
static inline float *fuzz_output_for(const struct atrous_request *op, struct atrous_problem *p,
                                     struct atrous_shape *shape)
{
    struct atrous_error err;
    if (atrous_request_validate(op, NULL, p, &err) != ATROUS_OK ||
        p->output_elements > FUZZ_MAX_OUTPUT)
        return NULL;
    atrous_problem_output_shape(p, shape);
    return calloc(p->output_elements + 1, sizeof(float));
}

/* Writes the model as dir/m/config.json + filters.bin (dir must exist). Returns 0 or -1. */
static inline int fuzz_model_write(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, FUZZ_MODEL_NAME);
    if (mkdir(path, 0700) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/%s/config.json", dir, FUZZ_MODEL_NAME);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "{\"rate\": 2, \"padding\": \"SAME\", \"max_batch_size\": 8, \"filters\": "
            "{\"shape\": [%d, %d, %d, %d], \"file\": \"filters.bin\"}}\n",
            FUZZ_MODEL_KH, FUZZ_MODEL_KW, FUZZ_MODEL_OC, FUZZ_MODEL_IC);
    if (fclose(f) != 0)
        return -1;
    float filters[FUZZ_MODEL_ELEMENTS];
    fuzz_model_filters(filters);
    snprintf(path, sizeof(path), "%s/%s/filters.bin", dir, FUZZ_MODEL_NAME);
    f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t n = fwrite(filters, sizeof(float), FUZZ_MODEL_ELEMENTS, f);
    return fclose(f) == 0 && n == FUZZ_MODEL_ELEMENTS ? 0 : -1;
}

#endif
