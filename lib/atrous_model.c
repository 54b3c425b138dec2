/*
 * atrous_model.c - the model as a computational object: its naming rules, the checks that it
 * can run, the shape rule that turns a value into its output, and its prepared filters.
 */
#include "atrous_model.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* The smallest value the model takes: 1 for each dimension the request chooses, else the
 * fixed one. */
static void probe_shape(const struct atrous_model *m, struct atrous_shape *out)
{
    int64_t dims[4];
    for (int i = 0; i < 4; i++)
        dims[i] = m->input_shape[i] == -1 ? 1 : m->input_shape[i];
    atrous_shape_make(out, dims, 4, NULL);
}

enum atrous_status atrous_model_check_filters(const struct atrous_model *model, const char *field,
                                              struct atrous_error *err)
{
    for (size_t i = 0; i < model->filters_elements; i++)
        if (!isfinite(model->filters[i]))
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                    "element %zu is not finite (%g)", i, (double)model->filters[i]);
    return ATROUS_OK;
}

enum atrous_status atrous_model_check_runnable(const struct atrous_model *model,
                                               struct atrous_error *err)
{
    struct atrous_problem p;
    struct atrous_shape shape;
    struct atrous_error why;
    probe_shape(model, &shape);
    if (atrous_model_problem(model, &shape, NULL, &p, &why) != ATROUS_OK)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "", "the model cannot run: %s",
                                why.message);
    for (size_t i = 0; i < model->warmup_count; i++) {
        atrous_shape_make(&shape, model->warmup[i], 4, NULL);
        if (atrous_model_problem(model, &shape, NULL, &p, &why) != ATROUS_OK)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "warmup", "warmup[%zu]: %s", i,
                                    why.message);
    }
    return ATROUS_OK;
}

void atrous_model_free(struct atrous_model *model)
{
    if (model == NULL)
        return;
    if (model->prepared != NULL)
        model->prepared_free(model->prepared);
    atrous_aligned_free(model->filters);
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

bool atrous_model_ready(const struct atrous_model *model)
{
    return model->prepared != NULL;
}
