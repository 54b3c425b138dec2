/*
 * atrous_engine_filters.c - prepared filters: a model's filters held once, reordered into each
 * layout a compiled primitive asks for (at most ATROUS_FILTERS_MAX_LAYOUTS), and run by any
 * number of threads (atrous_engine.h, "Prepared filters").
 */
#include "atrous_engine_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum atrous_status atrous_filters_create(struct atrous_engine *engine,
                                         const struct atrous_shape *shape, const float *data,
                                         struct atrous_filters **out, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrous_filters *f = NULL;
    char text[160];
    size_t elements = 0;

    atrous_shape_format(shape, text, sizeof(text));
    if (shape->rank != 4)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "filters",
                                "filters must be rank 4 [KH, KW, OC, IC], got shape %s", text);
    for (int i = 0; i < 4; i++)
        if (shape->dims[i] < 1)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "filters",
                                    "filters %s must have every dimension >= 1", text);
    if ((st = atrous_shape_elements(shape, "filters", &elements, err)))
        return st;
    if (elements > ATROUS_MAX_ELEMENTS_HARD)
        return atrous_error_set(err, ATROUS_TOO_LARGE, "filters",
                                "filters %s have %zu elements, over the limit of %zu", text,
                                elements, ATROUS_MAX_ELEMENTS_HARD);
    f = calloc(1, sizeof(*f));
    if (f == NULL || pthread_mutex_init(&f->lock, NULL) != 0) {
        free(f);
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for filters %s", text);
    }
    f->shape = *shape;
    f->bytes = elements * sizeof(float); /* elements <= INT32_MAX: no overflow */
    f->data = atrous_aligned_alloc(f->bytes);
    if (f->data == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "",
                              "out of memory for %zu bytes of filters %s", f->bytes, text);
        goto out;
    }
    memcpy(f->data, data, f->bytes);
    atomic_init(&f->layout_count, 0);
    f->id = atomic_fetch_add(&engine->next_filters_id, 1) + 1;
    *out = f;
    f = NULL;
out:
    atrous_filters_free(f);
    return st;
}

void atrous_filters_free(struct atrous_filters *filters)
{
    if (filters == NULL)
        return;
    size_t count = atomic_load(&filters->layout_count);
    for (size_t i = 0; i < count; i++)
        atrous_aligned_free(filters->layouts[i].weights);
    atrous_aligned_free(filters->data);
    pthread_mutex_destroy(&filters->lock);
    free(filters);
}

const struct atrous_shape *atrous_filters_shape(const struct atrous_filters *filters)
{
    return &filters->shape;
}

const float *atrous_filters_data(const struct atrous_filters *filters)
{
    return filters->data;
}

size_t atrous_filters_layout_count(const struct atrous_filters *filters)
{
    return atomic_load_explicit(&filters->layout_count, memory_order_acquire);
}

/* The published layout equal to md (and flipped or not), or NULL. Scans layouts[from, count).
 * The md holds the data type: a bf16 layout never matches an f32 one. */
static const struct filters_layout *find_layout(const struct atrous_filters *f,
                                                const dnnl_memory_desc_t *md, bool flipped,
                                                size_t from, size_t count)
{
    for (size_t i = from; i < count; i++)
        if (f->layouts[i].flipped == flipped && dnnl_memory_desc_equal(&f->layouts[i].md, md))
            return &f->layouts[i];
    return NULL;
}

/* Makes a new buffer of f's filters in c's weights layout: flipped for the conv form, then
 * reordered (and converted) when the layout differs from TensorFlow's. */
static enum atrous_status reorder_filters(const struct atrous_filters *f, const struct compiled *c,
                                          dnnl_engine_t cpu, dnnl_stream_t stream, void **out,
                                          struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    dnnl_memory_t from = NULL, to = NULL;
    void *flipped = NULL, *weights = NULL;
    if (c->flip) {
        if ((flipped = atrous_aligned_alloc(c->user_weights_bytes)) == NULL) {
            st = atrous_error_set(err, ATROUS_NO_MEMORY, "",
                                  "out of memory for %zu bytes of flipped filters",
                                  c->user_weights_bytes);
            goto out;
        }
        atrous__engine_flip_filters(c, f->data, flipped);
    }
    if (c->weights_reorder == NULL) {
        *out = flipped;
        flipped = NULL;
        goto out;
    }
    if ((weights = atrous_aligned_alloc(c->weights_bytes)) == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "",
                              "out of memory for %zu bytes of reordered filters", c->weights_bytes);
        goto out;
    }
    DNNL_TRY(dnnl_memory_create(&from, &c->user_weights_md, cpu, flipped ? flipped : f->data));
    DNNL_TRY(dnnl_memory_create(&to, &c->weights_md, cpu, weights));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    DNNL_TRY(dnnl_primitive_execute(c->weights_reorder, stream, 2, args));
    DNNL_TRY(dnnl_stream_wait(stream));
    *out = weights;
    weights = NULL;
out:
    dnnl_memory_destroy(from);
    dnnl_memory_destroy(to);
    atrous_aligned_free(weights);
    atrous_aligned_free(flipped);
    return st;
}

/* Finds (or makes) f's weights in the layout c's primitive reads: f's own data when that is
 * TensorFlow's layout, else a reordered copy. *out is NULL when a new layout has no room left;
 * the caller then reorders per call. */
enum atrous_status atrous__engine_filters_weights(struct atrous_filters *f,
                                                  const struct compiled *c, dnnl_engine_t cpu,
                                                  dnnl_stream_t stream, const void **out,
                                                  struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    if (!c->preparing) {
        *out = f->data;
        return ATROUS_OK;
    }
    size_t count = atomic_load_explicit(&f->layout_count, memory_order_acquire);
    const struct filters_layout *layout = find_layout(f, &c->weights_md, c->flip, 0, count);
    if (layout != NULL) {
        *out = layout->weights;
        return ATROUS_OK;
    }
    pthread_mutex_lock(&f->lock);
    /* Another thread may have published layouts since the scan above. */
    size_t now = atomic_load_explicit(&f->layout_count, memory_order_relaxed);
    layout = find_layout(f, &c->weights_md, c->flip, count, now);
    if (layout != NULL) {
        *out = layout->weights;
    } else if (now == ATROUS_FILTERS_MAX_LAYOUTS) {
        *out = NULL;
    } else {
        void *weights = NULL;
        if ((st = reorder_filters(f, c, cpu, stream, &weights, err)) == ATROUS_OK) {
            f->layouts[now].md = c->weights_md;
            f->layouts[now].flipped = c->flip;
            f->layouts[now].weights = weights;
            atomic_store_explicit(&f->layout_count, now + 1, memory_order_release);
            *out = weights;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return st;
}

static enum atrous_status check_filters_shape(const struct atrous_problem *p,
                                              const struct atrous_filters *f,
                                              struct atrous_error *err)
{
    const int64_t *d = f->shape.dims;
    if (p->filter_h == d[0] && p->filter_w == d[1] && p->out_c == d[2] && p->in_c == d[3])
        return ATROUS_OK;
    char text[160];
    atrous_shape_format(&f->shape, text, sizeof(text));
    return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "filters",
                            "the problem needs filters [%" PRId64 ", %" PRId64 ", %" PRId64
                            ", %" PRId64 "], the prepared filters are %s",
                            p->filter_h, p->filter_w, p->out_c, p->in_c, text);
}

enum atrous_status atrous_filters_prepare(struct atrous_engine *engine,
                                          struct atrous_filters *filters,
                                          const struct atrous_problem *problem,
                                          struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrous_cache_entry *entry = NULL;
    dnnl_stream_t stream = NULL;
    const void *weights = NULL;
    struct atrous_cache_key key;

    if ((st = check_filters_shape(problem, filters, err)))
        return st;
    if (problem->output_elements == 0 || problem->value_elements == 0)
        return ATROUS_OK; /* runs of empty problems never reach oneDNN */
    atrous__engine_make_key(engine, problem, &key);
    if ((st = atrous__engine_lookup(engine, problem, &key, &entry, err)))
        goto out;
    DNNL_TRY(dnnl_stream_create(&stream, engine->cpu, dnnl_stream_default_flags));
    st = atrous__engine_filters_weights(filters, atrous_cache_entry_value(entry), engine->cpu,
                                        stream, &weights, err);
out:
    if (stream)
        dnnl_stream_destroy(stream);
    atrous_cache_release(engine->cache, entry);
    return st;
}

enum atrous_status atrous_engine_run_filters(struct atrous_engine *engine,
                                             struct atrous_workspace *workspace,
                                             const struct atrous_problem *problem,
                                             const float *value, struct atrous_filters *filters,
                                             float *output, struct atrous_error *err)
{
    enum atrous_status st = check_filters_shape(problem, filters, err);
    if (st != ATROUS_OK)
        return st;
    return atrous__engine_run(engine, workspace, problem, value, NULL, filters, output, err);
}
