/*
 * selftest.c - known problems for the start-up self-test, their reference answers from the
 * op's definition (DESIGN.md section 1) and the comparison.
 *
 *   out[n,oh,ow,oc] = sum over kh,kw,ic of
 *       value[n, oh + pad_top - rate*kh, ow + pad_left - rate*kw, ic] * filters[kh,kw,oc,ic]
 */
#include "selftest.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_op.h"

#define SELFTEST_ATOL 1e-4
#define SELFTEST_RTOL 1e-4

struct selftest_case {
    const char *name;
    int64_t value[4], filters[4], output[4];
    int64_t rate;
    const char *padding;
};

/* Both paddings, rates 1..3, odd and even filters, channels on both sides, batch 2. */
static const struct selftest_case cases[] = {
    {"same_r2", {2, 5, 6, 3}, {3, 3, 4, 3}, {2, 5, 6, 4}, 2, "SAME"},
    {"valid_r3", {1, 4, 3, 2}, {2, 3, 3, 2}, {1, 7, 9, 3}, 3, "VALID"},
    {"same_r1", {1, 3, 4, 2}, {2, 2, 1, 2}, {1, 3, 4, 1}, 1, "SAME"},
};

/* Deterministic inputs in [-1, 1) that are exact in float32 (multiples of 1/64). */
static void fill(float *data, size_t count, uint32_t seed)
{
    uint32_t x = seed;
    for (size_t i = 0; i < count; i++) {
        x = x * 1664525u + 1013904223u;
        data[i] = (float)((int)(x >> 25) - 64) / 64.0f;
    }
}

static void reference(const struct atrous_problem *p, const float *value, const float *filters,
                      double *out)
{
    for (int64_t n = 0; n < p->batch; n++)
        for (int64_t oh = 0; oh < p->out_h; oh++)
            for (int64_t ow = 0; ow < p->out_w; ow++)
                for (int64_t oc = 0; oc < p->out_c; oc++) {
                    double sum = 0;
                    for (int64_t kh = 0; kh < p->filter_h; kh++) {
                        int64_t h = oh + p->pad_top - p->rate * kh;
                        if (h < 0 || h >= p->in_h)
                            continue;
                        for (int64_t kw = 0; kw < p->filter_w; kw++) {
                            int64_t w = ow + p->pad_left - p->rate * kw;
                            if (w < 0 || w >= p->in_w)
                                continue;
                            for (int64_t ic = 0; ic < p->in_c; ic++)
                                sum += (double)
                                           value[((n * p->in_h + h) * p->in_w + w) * p->in_c + ic] *
                                       filters[((kh * p->filter_w + kw) * p->out_c + oc) * p->in_c +
                                               ic];
                        }
                    }
                    out[((n * p->out_h + oh) * p->out_w + ow) * p->out_c + oc] = sum;
                }
}

static enum atrous_status run_case(struct atrous_engine *engine, struct atrous_workspace *ws,
                                   const struct selftest_case *c, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrous_shape value_shape, filters_shape;
    struct atrous_problem p;
    float *value = NULL, *filters = NULL, *output = NULL;
    double *expected = NULL;

    if ((st = atrous_shape_make(&value_shape, c->value, 4, err)) ||
        (st = atrous_shape_make(&filters_shape, c->filters, 4, err)) ||
        (st = atrous_op_validate(&value_shape, &filters_shape, c->output, 4, c->rate, c->padding,
                                 strlen(c->padding), NULL, &p, err)))
        goto out;
    value = calloc(p.value_elements, sizeof(float));
    filters = calloc(p.filters_elements, sizeof(float));
    output = calloc(p.output_elements, sizeof(float));
    expected = calloc(p.output_elements, sizeof(double));
    if (!value || !filters || !output || !expected) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "self-test %s: out of memory", c->name);
        goto out;
    }
    fill(value, p.value_elements, 17);
    fill(filters, p.filters_elements, 29);
    reference(&p, value, filters, expected);
    if ((st = atrous_engine_run(engine, ws, &p, value, filters, output, err)))
        goto out;
    for (size_t i = 0; i < p.output_elements; i++) {
        double got = output[i], exp = expected[i];
        if (!(fabs(got - exp) <= SELFTEST_ATOL + SELFTEST_RTOL * fabs(exp))) {
            st = atrous_error_set(err, ATROUS_INTERNAL, "",
                                  "self-test %s: output[%zu] is %.9g, expected %.9g", c->name, i,
                                  got, exp);
            goto out;
        }
    }
out:
    free(value);
    free(filters);
    free(output);
    free(expected);
    return st;
}

enum atrous_status atrousd_selftest_run(struct atrous_engine *engine,
                                        struct atrous_workspace *workspace,
                                        struct atrous_error *err)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum atrous_status st = run_case(engine, workspace, &cases[i], err);
        if (st != ATROUS_OK)
            return st;
    }
    return ATROUS_OK;
}
