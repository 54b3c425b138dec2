/*
 * fuzz_validate.c - libFuzzer target for the op's validation and, differentially, the engine.
 *
 * The input (fuzz_input.h encoding) gives value and filters shapes, output_shape, rate and a
 * padding string. atrous_op_validate() must never crash or overflow whatever they are. When it
 * accepts a problem small enough to compute quickly, the engine's result is compared with the
 * independent naive reference (tests/naive_ref.c) under the corpus tolerance, and the accepted
 * output shape must be the one the formula gives; any disagreement aborts (a finding).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "atrous_engine.h"
#include "fuzz_input.h"
#include "naive_ref.h"

/* Problems larger than this are validated but not computed (keeps executions fast). */
#define MAX_ELEMENTS 4096
#define MAX_MACS     (1 << 18)

static struct atrous_engine *engine;
static struct atrous_workspace *workspace;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct atrous_engine_config config = {.cache_capacity = 64};
    if (atrous_engine_create(&config, &engine, NULL) ||
        atrous_workspace_create(engine, &workspace, NULL))
        abort();
    atrous_engine_set_thread_parallelism(1);
    return 0;
}

static void read_shape(struct fuzz_reader *r, struct atrous_shape *shape)
{
    shape->rank = (int)fuzz_count(r, ATROUS_MAX_RANK);
    for (int i = 0; i < shape->rank; i++)
        shape->dims[i] = fuzz_number(r);
}

static void check_against_reference(const struct atrous_problem *p, const struct atrous_shape *vs,
                                    const struct atrous_shape *fs, const char *padding)
{
    struct naive_problem np = {.rate = p->rate, .same = padding[0] == 'S'};
    for (int i = 0; i < 4; i++) {
        np.value[i] = vs->dims[i];
        np.filters[i] = fs->dims[i];
    }
    naive_ref_output_shape(np.value, np.filters, np.rate, np.same, np.output);
    struct atrous_shape out;
    atrous_problem_output_shape(p, &out);
    for (int i = 0; i < 4; i++)
        if (out.dims[i] != np.output[i])
            abort(); /* validation accepted a shape the formula does not give */

    float *value = calloc(p->value_elements + 1, sizeof(float));
    float *filters = calloc(p->filters_elements + 1, sizeof(float));
    float *got = calloc(p->output_elements + 1, sizeof(float));
    float *want = calloc(p->output_elements + 1, sizeof(float));
    if (!value || !filters || !got || !want)
        abort();
    struct naive_rng rng = {.state = p->value_elements * 31 + p->filters_elements};
    naive_rng_fill(&rng, value, p->value_elements);
    naive_rng_fill(&rng, filters, p->filters_elements);
    struct atrous_error err;
    if (atrous_engine_run(engine, workspace, p, value, filters, got, &err) != ATROUS_OK) {
        fprintf(stderr, "engine failed on a valid problem: %s\n", err.message);
        abort();
    }
    naive_ref_run(&np, value, filters, want);
    for (size_t i = 0; i < p->output_elements; i++)
        if (!(corpus_scaled_error(got[i], want[i]) <= 1.0)) {
            fprintf(stderr, "mismatch at %zu: got %.9g want %.9g\n", i, got[i], want[i]);
            abort();
        }
    free(value);
    free(filters);
    free(got);
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_reader r = {data, size, 0};
    struct atrous_shape vs, fs;
    int64_t output_shape[16];
    char padding[32];

    read_shape(&r, &vs);
    read_shape(&r, &fs);
    size_t out_len = fuzz_count(&r, 15);
    for (size_t i = 0; i < out_len; i++)
        output_shape[i] = fuzz_number(&r);
    int64_t rate = fuzz_number(&r);
    static const char *const paddings[] = {"SAME", "VALID", "same", "EXPLICIT"};
    uint8_t pick = fuzz_byte(&r);
    size_t padding_len;
    if (pick < 4) {
        padding_len = strlen(paddings[pick]);
        memcpy(padding, paddings[pick], padding_len + 1);
    } else {
        padding_len = fuzz_byte(&r) % sizeof(padding);
        for (size_t i = 0; i < padding_len; i++)
            padding[i] = (char)fuzz_byte(&r);
    }

    struct atrous_limits limits = {.max_input_elements = 1 << 20, .max_output_elements = 1 << 20};
    struct atrous_problem p;
    struct atrous_error err;
    enum atrous_status st = atrous_op_validate(&vs, &fs, output_shape, out_len, rate, padding,
                                               padding_len, &limits, &p, &err);
    if (st != ATROUS_OK) {
        if (err.field[0] == '\0' || err.message[0] == '\0')
            abort(); /* every rejection names an argument and says why */
        return 0;
    }
    double macs =
        (double)p.value_elements * (double)p.filter_h * (double)p.filter_w * (double)p.out_c;
    if (p.value_elements <= MAX_ELEMENTS && p.output_elements <= MAX_ELEMENTS &&
        p.filters_elements <= MAX_ELEMENTS && macs <= MAX_MACS)
        check_against_reference(&p, &vs, &fs, padding);
    return 0;
}
