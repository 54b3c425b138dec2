/*
 * atrous_model_prepare.c - a model's filters prepared on the engine (reordered once into the
 * layout its primitives want) and warmed for its warmup shapes. Its own file so that the rest of
 * the model (attributes, shape rule) links without oneDNN.
 */
#include "atrous_engine.h"
#include "atrous_model.h"

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
    model->prepared_free = atrous_filters_free;
    filters = NULL;
out:
    atrous_filters_free(filters);
    return st;
}
