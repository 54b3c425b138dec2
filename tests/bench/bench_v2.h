/*
 * bench_v2.h - what the benchmarks of the KServe v2 JSON path share: the clock, the floats,
 * the infer body of a 1x64x64x32 FP32 value and the 3x3x32x32 repository model it is for (in
 * memory: the codecs need no engine). Header-only (static inline): each .c file of tests/bench is a
 * program of its own.
 */
#ifndef TESTS_BENCH_BENCH_V2_H
#define TESTS_BENCH_BENCH_V2_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atrous_model.h"

/* The v2 body's value: [1, 64, 64, 32]. */
#define V2_FLOATS (64 * 64 * 32)

static inline double bench_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Floats of every magnitude the service sees: mostly O(1) with long mantissas (xorshift from
 * seed). */
static inline void bench_fill(float *data, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        data[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

/* {"inputs": [{"name": "value", "datatype": "FP32", "shape": [1, 64, 64, 32], "data": [...]}]}
 * with n numbers written %.9g (malloc'd, length in *len). */
static inline char *bench_v2_body(const float *data, size_t n, size_t *len)
{
    size_t cap = n * 20 + 4096, used = 0;
    char *doc = malloc(cap);
    used += (size_t)sprintf(doc, "{\"inputs\":[{\"name\":\"value\",\"datatype\":\"FP32\","
                                 "\"shape\":[1,64,64,32],\"data\":[");
    for (size_t i = 0; i < n; i++)
        used += (size_t)sprintf(doc + used, "%s%.9g", i ? "," : "", data[i]);
    used += (size_t)sprintf(doc + used, "]}]}");
    *len = used;
    return doc;
}

/* A repository model "m64" taking [N, H, W, 32] with zero 3x3x32x32 filters (atrous_model_free
 * it). */
static inline struct atrous_model *bench_v2_model(void)
{
    struct atrous_model *m = calloc(1, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "m64");
    snprintf(m->version, sizeof(m->version), "1");
    m->version_number = 1;
    m->rate = 2;
    m->padding = ATROUS_PADDING_SAME;
    m->filters_shape = (struct atrous_shape){.rank = 4, .dims = {3, 3, 32, 32}};
    m->filters_elements = 3 * 3 * 32 * 32;
    m->filters = atrous_aligned_alloc(m->filters_elements * sizeof(float));
    memset(m->filters, 0, m->filters_elements * sizeof(float));
    m->input_shape[0] = m->input_shape[1] = m->input_shape[2] = -1;
    m->input_shape[3] = 32;
    return m;
}

#endif
