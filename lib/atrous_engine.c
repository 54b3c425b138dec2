/*
 * atrous_engine.c - the oneDNN side of libatrous: primitive creation, the cache of compiled
 * primitives, and execution.
 *
 * Two forms compute the same op (NHWC src/dst, weights in the layout the primitive prefers):
 *   deconv  oneDNN's dilated deconvolution (deconvolution_direct, dilation rate-1, the
 *           problem's pads) - the op as TensorFlow states it;
 *   conv    the equivalent forward convolution: the filters flipped in both spatial dims,
 *           pads mirrored (pad' = (K-1)*rate - pad per side), the same dilation. Same output
 *           and FLOPs, summation order aside; oneDNN 2.6 has brgemm kernels for it where the
 *           deconvolution has only direct JIT ones.
 * Which one runs is decided per problem when it is first compiled (choose_form()): both are
 * timed when a run is cheap, else the cost model's measured table decides. Precision BF16
 * (on a CPU with avx512_bf16/AMX) converts value per call and filters once per layout to
 * bf16, accumulates and writes f32; f32 stays strict (no fpmath down-conversion).
 */
#include "atrous_engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <inttypes.h>

#include <dnnl.h>
#include <dnnl_debug.h>

#include "atrous_cost.h"

/* The two OpenMP calls we make, declared from the OpenMP specification rather than through
 * omp.h, which clang (our fuzzing compiler) does not ship without libomp-dev; the symbols come
 * from libgomp, the runtime Debian's oneDNN is built against. */
extern void omp_set_num_threads(int threads);
extern int omp_get_max_threads(void);

/* Records the failing call and its status, then jumps to the function's `out` label. The
 * enclosing function must declare `enum atrous_status st` and `struct atrous_error *err`. */
#define DNNL_TRY(call)                                                                             \
    do {                                                                                           \
        dnnl_status_t dnnl_st_ = (call);                                                           \
        if (dnnl_st_ != dnnl_success) {                                                            \
            st = atrous_error_set(                                                                 \
                err, dnnl_st_ == dnnl_out_of_memory ? ATROUS_NO_MEMORY : ATROUS_ENGINE, "",        \
                "oneDNN call failed: %s: %s", #call, dnnl_status2str(dnnl_st_));                   \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#define ENGINE_MAX_NAMES 64
#define ENGINE_NAME_MAX  80 /* "deconv:" + an impl_info_str of up to 63 */

struct atrous_engine {
    dnnl_engine_t cpu;
    bool bf16;                /* precision BF16 computes in bf16 (the ISA has avx512_bf16) */
    enum atrous_form form;    /* the config's: AUTO, or a form forced for every problem */
    uint64_t measured_for_ns; /* a measured run time is the estimate this long after the run */
    struct atrous_cache *cache;
    /* Hits served by a workspace's repeat path are counted in the workspace (a shared atomic
     * would be a locked add on a cache line every thread writes); stats sum the live
     * workspaces and what freed ones left behind. */
    pthread_mutex_t workspaces_lock;
    struct atrous_workspace *workspaces; /* live ones, linked through next/prev */
    uint64_t freed_repeat_hits;
    /* Identities of prepared filters: never reused, so a workspace may remember which filters
     * it last resolved without holding on to them. */
    atomic_uint_fast64_t next_filters_id;
    /* The cost model's inputs: the FMA peak measured at creation, and per problem key the
     * implementation oneDNN would pick (a primitive descriptor's answer, kept so that repeated
     * estimates create nothing). */
    double fma_peak_gflops;
    struct atrous_cache *estimates;
    /* Implementation names handed out as borrowed strings: interned here so that they outlive
     * evictions from either cache. oneDNN has a few dozen names; the table never fills in
     * practice, and a full one answers "other". */
    pthread_mutex_t names_lock;
    size_t name_count;
    char names[ENGINE_MAX_NAMES][ENGINE_NAME_MAX];
};

/* One layout of prepared filters: the weights memory descriptor a compiled primitive reads,
 * and the filters reordered into it. Immutable once published. */
struct filters_layout {
    dnnl_memory_desc_t md;
    bool flipped; /* the filters flipped for the conv form (same md, other contents) */
    void *weights;
};

struct atrous_filters {
    uint64_t id;
    struct atrous_shape shape; /* [KH, KW, OC, IC] */
    float *data;               /* TensorFlow layout, aligned */
    size_t bytes;
    pthread_mutex_t lock;       /* serialises adding layouts; readers never take it */
    atomic_size_t layout_count; /* layouts[0, layout_count) are published */
    struct filters_layout layouts[ATROUS_FILTERS_MAX_LAYOUTS];
};

struct atrous_workspace {
    struct atrous_engine *engine;
    struct atrous_workspace *next, *prev; /* the engine's list of live workspaces */
    /* Written by the owning thread only (a plain add), read by stats from any thread. */
    atomic_uint_fast64_t repeat_hits;
    dnnl_stream_t stream;
    void *scratch; /* oneDNN scratchpad (user-managed, so concurrent calls never share one) */
    size_t scratch_capacity;
    void *weights; /* filters reordered to the primitive's layout */
    size_t weights_capacity;
    void *flipped; /* conv form: the raw filters flipped, before their reorder */
    size_t flipped_capacity;
    void *converted; /* bf16: the value converted per call */
    size_t converted_capacity;
    /* Memory objects bound to the last problem this workspace ran, re-pointed at each call's
     * buffers: creating five of them per call costs more than a small problem's compute. */
    struct atrous_cache_entry *bound; /* held reference; NULL when nothing is bound */
    struct atrous_cache_key bound_key;
    dnnl_memory_t src, dst, user_weights, weights_mem, scratch_mem;
    dnnl_memory_t user_src; /* bf16: the caller's f32 value, converted into src */
    /* A copy of the filters last reordered into `weights` for the bound problem. Clients
     * usually send the same filters with every request; a memcmp is far cheaper than the
     * reorder it saves. */
    void *reordered_from;
    size_t reordered_from_capacity;
    bool weights_current;
    /* Prepared filters resolved for the bound problem: the id of the last atrous_filters run
     * here (0 = none) and its buffer in the bound primitive's layout (NULL when the filters
     * have no room for that layout: they then take the reorder path above). */
    uint64_t prepared_id;
    const void *prepared_weights;
    /* The buffers src, dst and weights_mem point at now: re-pointing is a call into oneDNN,
     * skipped when a caller passes the same buffer again. */
    const void *src_at, *dst_at, *weights_at;
};

/* One compiled problem: what the cache stores. */
struct compiled {
    dnnl_primitive_t prim;
    dnnl_primitive_t weights_reorder; /* NULL when the primitive takes TF's layout as is */
    dnnl_primitive_t src_reorder;     /* bf16: f32 value -> bf16; NULL for f32 */
    /* src_md and user_weights_md are the caller's f32 layouts; prim_src_md what the primitive
     * reads (src_md for f32, its bf16 twin for bf16). */
    dnnl_memory_desc_t src_md, prim_src_md, dst_md, user_weights_md, weights_md, scratch_md;
    size_t weights_bytes, user_weights_bytes, scratch_bytes;
    size_t converted_bytes; /* bf16: the converted value; 0 for f32 */
    enum atrous_form form;  /* DECONV or CONV */
    bool flip;              /* conv form: weights are TF's filters flipped in KH and KW */
    bool preparing;         /* raw filters need flipping and/or reordering before a run */
    int64_t filter_h, filter_w, filter_block; /* for the flip; block = OC*IC */
    enum atrous_precision precision;          /* what the primitive computes in */
    char impl[64];                            /* oneDNN's impl_info_str */
    const char *name; /* "deconv:" or "conv:" + impl, interned in the engine */
    /* Measured run time (ns, a moving average; 0 until the first timed run), read by the
     * estimator. Runs are timed only when the model says they take over TIMED_RUN_SECONDS:
     * two clock reads are a few percent of the smallest problems' ~1 us. run_at_ns is when
     * the last timed run ended (CLOCK_MONOTONIC): see DEFAULT_MEASURED_FOR_MS. */
    bool timed;
    atomic_uint_fast64_t run_ns;
    atomic_uint_fast64_t run_at_ns;
};

#define TIMED_RUN_SECONDS 20e-6

/* How long a measured run time stands in for the cost model by default
 * (atrous_engine_config.measured_for_ms). A run slowed by a busy host (a first run faulting in
 * a 64 MiB output took 8 s at load average 9) would otherwise be the estimate for
 * good: admission refuses the problem over --max-compute-ms, so it never runs again to correct
 * it. After this long without a run the model speaks again, and the next run measures anew. A
 * problem the model underestimates thus gets one over-long run per minute at most; a first run
 * of a new problem costs the same, so nothing is opened. */
#define DEFAULT_MEASURED_FOR_MS 60000

static uint64_t monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void compiled_free(void *value)
{
    struct compiled *c = value;
    if (c == NULL)
        return;
    dnnl_primitive_destroy(c->prim);
    dnnl_primitive_destroy(c->weights_reorder);
    dnnl_primitive_destroy(c->src_reorder);
    free(c);
}

/* Pads and dilations of a problem in a form, as oneDNN wants them. A dimension with a 1-tap
 * filter gets dilation 0: the result is the same and huge rates then never reach oneDNN's int
 * fields. The conv form mirrors the pads: pad' = (K-1)*rate - pad on each side. */
static void onednn_geometry(const struct atrous_problem *p, enum atrous_form form,
                            dnnl_dims_t dilates, dnnl_dims_t pad_l, dnnl_dims_t pad_r)
{
    dilates[0] = p->filter_h == 1 ? 0 : p->rate - 1;
    dilates[1] = p->filter_w == 1 ? 0 : p->rate - 1;
    /* Validation bounds the dilated extents by ATROUS_MAX_EXTENT: no overflow. */
    int64_t span_h = form == ATROUS_FORM_CONV ? (p->filter_h - 1) * (dilates[0] + 1) : 0;
    int64_t span_w = form == ATROUS_FORM_CONV ? (p->filter_w - 1) * (dilates[1] + 1) : 0;
    int64_t sign = form == ATROUS_FORM_CONV ? -1 : 1;
    pad_l[0] = span_h + sign * p->pad_top;
    pad_l[1] = span_w + sign * p->pad_left;
    pad_r[0] = span_h + sign * p->pad_bottom;
    pad_r[1] = span_w + sign * p->pad_right;
}

/* The precision a problem runs in on this engine: BF16 only when asked and supported. */
static enum atrous_precision effective_precision(const struct atrous_engine *engine,
                                                 const struct atrous_problem *p)
{
    return p->precision == ATROUS_PRECISION_BF16 && engine->bf16 ? ATROUS_PRECISION_BF16
                                                                 : ATROUS_PRECISION_F32;
}

static void make_key_threads(const struct atrous_engine *engine, const struct atrous_problem *p,
                             int threads, struct atrous_cache_key *key)
{
    _Static_assert(ATROUS_CACHE_KEY_WORDS == 16, "make_key fills every word");
    int64_t *w = key->words;
    w[0] = p->batch;
    w[1] = p->in_h;
    w[2] = p->in_w;
    w[3] = p->in_c;
    w[4] = p->filter_h;
    w[5] = p->filter_w;
    w[6] = p->out_h;
    w[7] = p->out_w;
    w[8] = p->out_c;
    w[9] = p->rate;
    w[10] = p->pad_top;
    w[11] = p->pad_bottom;
    w[12] = p->pad_left;
    w[13] = p->pad_right;
    /* oneDNN sizes its parallel decomposition for the team size at creation time. */
    w[14] = threads;
    w[15] = (int64_t)effective_precision(engine, p);
}

/* The key of a problem run from the calling thread, with its team size. */
static void make_key(const struct atrous_engine *engine, const struct atrous_problem *p,
                     struct atrous_cache_key *key)
{
    make_key_threads(engine, p, omp_get_max_threads(), key);
}

/* An engine-lifetime copy of "<path>:<impl>" (see struct atrous_engine's names). */
static const char *intern_name(struct atrous_engine *engine, const char *path, const char *impl)
{
    char name[ENGINE_NAME_MAX];
    snprintf(name, sizeof(name), "%s:%s", path, impl);
    const char *found = "other";
    pthread_mutex_lock(&engine->names_lock);
    for (size_t i = 0; i < engine->name_count; i++)
        if (strcmp(engine->names[i], name) == 0) {
            found = engine->names[i];
            goto out;
        }
    if (engine->name_count < ENGINE_MAX_NAMES) {
        memcpy(engine->names[engine->name_count], name, sizeof(name));
        found = engine->names[engine->name_count++];
    }
out:
    pthread_mutex_unlock(&engine->names_lock);
    return found;
}

/* Branch-free, so that the repeat path's compare is a few vector instructions. */
static bool same_key(const struct atrous_cache_key *a, const struct atrous_cache_key *b)
{
    int64_t diff = 0;
    for (int i = 0; i < ATROUS_CACHE_KEY_WORDS; i++)
        diff |= a->words[i] ^ b->words[i];
    return diff == 0;
}

/* Creates the primitive descriptor of the problem in one form and precision (what oneDNN would
 * run, without compiling it) and fills c's user-side memory descriptors (src, dst,
 * TensorFlow-layout weights) and the src the primitive reads. */
static enum atrous_status create_pd(struct atrous_engine *engine, const struct atrous_problem *p,
                                    enum atrous_form form, enum atrous_precision precision,
                                    struct compiled *c, dnnl_primitive_desc_t *out,
                                    struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_dims_t src_dims = {p->batch, p->in_c, p->in_h, p->in_w};
    dnnl_dims_t weights_dims = {p->out_c, p->in_c, p->filter_h, p->filter_w};
    dnnl_dims_t dst_dims = {p->batch, p->out_c, p->out_h, p->out_w};
    dnnl_dims_t strides = {1, 1}, dilates, pad_l, pad_r;
    dnnl_data_type_t compute = precision == ATROUS_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
    onednn_geometry(p, form, dilates, pad_l, pad_r);

    DNNL_TRY(dnnl_memory_desc_init_by_tag(&c->src_md, 4, src_dims, dnnl_f32, dnnl_nhwc));
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&c->prim_src_md, 4, src_dims, compute, dnnl_nhwc));
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&c->dst_md, 4, dst_dims, dnnl_f32, dnnl_nhwc));
    /* TF's [KH, KW, OC, IC] buffer seen as oneDNN's {OC, IC, KH, KW} dims ("hwoi"); 2.6 has
     * no tag for that order, so it is spelled with strides. The conv form's flipped copy has
     * the same layout. */
    dnnl_dims_t tf_filter_strides = {p->in_c, 1, p->filter_w * p->out_c * p->in_c,
                                     p->out_c * p->in_c};
    DNNL_TRY(dnnl_memory_desc_init_by_strides(&c->user_weights_md, 4, weights_dims, dnnl_f32,
                                              tf_filter_strides));
    dnnl_memory_desc_t any_weights_md;
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&any_weights_md, 4, weights_dims, compute,
                                          dnnl_format_tag_any));

    DNNL_TRY(dnnl_primitive_attr_create(&attr));
    /* Strict whatever ONEDNN_DEFAULT_FPMATH_MODE says: implicit bf16/tf32 math breaks 1e-4.
     * BF16 is asked for through the data types, never through this mode. */
    DNNL_TRY(dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_fpmath_mode_strict));
    DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    if (form == ATROUS_FORM_CONV) {
        dnnl_convolution_desc_t desc;
        DNNL_TRY(dnnl_dilated_convolution_forward_desc_init(
            &desc, dnnl_forward_inference, dnnl_convolution_direct, &c->prim_src_md,
            &any_weights_md, NULL, &c->dst_md, strides, dilates, pad_l, pad_r));
        DNNL_TRY(dnnl_primitive_desc_create(out, &desc, attr, engine->cpu, NULL));
    } else {
        dnnl_deconvolution_desc_t desc;
        DNNL_TRY(dnnl_dilated_deconvolution_forward_desc_init(
            &desc, dnnl_forward_inference, dnnl_deconvolution_direct, &c->prim_src_md,
            &any_weights_md, NULL, &c->dst_md, strides, dilates, pad_l, pad_r));
        DNNL_TRY(dnnl_primitive_desc_create(out, &desc, attr, engine->cpu, NULL));
    }
out:
    dnnl_primitive_attr_destroy(attr);
    return st;
}

/* The implementation a primitive descriptor picked (borrowed from pd). */
static const char *pd_impl(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success ||
        impl == NULL)
        return "unknown";
    return impl;
}

static const char *form_name(enum atrous_form form)
{
    return form == ATROUS_FORM_CONV ? "conv" : "deconv";
}

/* Fills the rest of c from its primitive descriptor: everything but the primitives. */
static void describe(struct atrous_engine *engine, const struct atrous_problem *p,
                     const_dnnl_primitive_desc_t pd, enum atrous_form form,
                     enum atrous_precision precision, struct compiled *c)
{
    c->form = form;
    c->precision = precision;
    c->flip = form == ATROUS_FORM_CONV && (p->filter_h > 1 || p->filter_w > 1);
    c->filter_h = p->filter_h;
    c->filter_w = p->filter_w;
    c->filter_block = p->out_c * p->in_c;
    snprintf(c->impl, sizeof(c->impl), "%s", pd_impl(pd));
    c->name = intern_name(engine, form_name(form), c->impl);
    c->weights_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    c->scratch_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    c->weights_bytes = dnnl_memory_desc_get_size(&c->weights_md);
    c->user_weights_bytes = dnnl_memory_desc_get_size(&c->user_weights_md);
    c->scratch_bytes = dnnl_memory_desc_get_size(&c->scratch_md);
    c->converted_bytes =
        precision == ATROUS_PRECISION_BF16 ? dnnl_memory_desc_get_size(&c->prim_src_md) : 0;
    /* Raw filters need preparing per workspace (flip and/or reorder) before the primitive
     * reads them: known once, read by every run. */
    c->preparing = c->flip || !dnnl_memory_desc_equal(&c->weights_md, &c->user_weights_md);
}

/* What a run of a compiled (or planned) problem holds in a workspace (bind()): the scratchpad;
 * for filters that need preparing, the reordered filters, the copy compared against and, for
 * the conv form, the flipped copy; for bf16, the converted value. */
static size_t workspace_bytes(const struct compiled *c)
{
    size_t bytes = c->scratch_bytes + c->converted_bytes;
    if (c->preparing)
        bytes +=
            c->user_weights_bytes +
            (dnnl_memory_desc_equal(&c->weights_md, &c->user_weights_md) ? 0 : c->weights_bytes) +
            (c->flip ? c->user_weights_bytes : 0);
    return bytes;
}

/*
 * Choosing the form (the decisions):
 *  - Both forms are planned (primitive descriptors). A form oneDNN cannot create is skipped; a
 *    BF16 problem neither form can run in bf16 runs in f32 (and says so).
 *  - When each form's modelled run is at most TIMING_MAX_RUN_SECONDS and the buffers a timing
 *    needs (src, dst, both forms' weights and scratchpads, zero-filled) are at most
 *    TIMING_MAX_BYTES, both primitives are created and timed on this CPU and team: one warm-up
 *    run each, then alternating runs while TIMING_BUDGET_SECONDS last (at most TIMING_ROUNDS
 *    each); the lower best time wins, a tie goes to the deconvolution (today's path). Worst
 *    case a compile spends about 2 warm-ups + 2 runs of a 10 ms problem timing (~40 ms).
 *  - Otherwise the measured rule decides: the cost model (lib/atrous_cost.c: brgemm kernels run
 *    at ~0.85-0.97 of the FMA peak, direct JIT ones at ~0.75-0.80, GEMM 0.5, reference 0.003)
 *    predicts both forms and the faster wins, a tie going to the deconvolution. On the hosts
 *    measured that is the forward convolution wherever oneDNN has a brgemm kernel for it and
 *    not for the deconvolution (large channel counts), and the deconvolution elsewhere.
 *  - The forward convolution is planned only when out_w*KW and out_h*KH are at most
 *    CONV_MAX_SPAN_PRODUCT: oneDNN's brgconv descriptor creation grows with them (measured
 *    1.5 ms at 256x64, 26 ms at 1024x96, 240 ms at 1024x384) and estimates run on I/O
 *    threads. Problems past it (huge filters over large outputs) keep the deconvolution;
 *    at that size they are far over any compute limit either way.
 *  - An engine config may force one form (tests, make bench); a forced form has no cap.
 */
#define CONV_MAX_SPAN_PRODUCT  65536
#define TIMING_MAX_RUN_SECONDS 10e-3
#define TIMING_MAX_BYTES       ((size_t)16 << 20)
#define TIMING_BUDGET_SECONDS  30e-3
#define TIMING_ROUNDS          3

/* A form being considered: its descriptors (c, filled by describe()) and its pd. */
struct candidate {
    struct compiled *c;
    dnnl_primitive_desc_t pd;
    double model_seconds;
};

static void candidates_free(struct candidate *cand, int count)
{
    for (int i = 0; i < count; i++) {
        dnnl_primitive_desc_destroy(cand[i].pd);
        compiled_free(cand[i].c);
        cand[i].pd = NULL;
        cand[i].c = NULL;
    }
}

/* Implementations this engine must not use because they compute wrong results: oneDNN 2.6.3's
 * bf16 1x1 deconvolution ("jit_bf16_1x1") is off by ~0.9 on outputs of magnitude ~1 when the
 * input channels are not a multiple of 16 (1x6x5x17 -> 16, rate 3; found by
 * test_engine_forms). The forward convolution (brgconv_1x1) is right there; without it the
 * problem runs in f32. */
static bool known_wrong(const struct compiled *c)
{
    return c->precision == ATROUS_PRECISION_BF16 && c->form == ATROUS_FORM_DECONV &&
           strstr(c->impl, "1x1") != NULL;
}

/* Plans the forms the engine allows for p in precision: *count candidates (0..2, deconv
 * first). With none, err says why the first form failed. */
static enum atrous_status plan(struct atrous_engine *engine, const struct atrous_problem *p,
                               enum atrous_precision precision, int threads, struct candidate *cand,
                               int *count, struct atrous_error *err)
{
    static const enum atrous_form forms[] = {ATROUS_FORM_DECONV, ATROUS_FORM_CONV};
    enum atrous_status first = ATROUS_OK;
    *count = 0;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        if (engine->form != ATROUS_FORM_AUTO && engine->form != forms[i])
            continue;
        if (engine->form == ATROUS_FORM_AUTO && forms[i] == ATROUS_FORM_CONV &&
            (p->out_w * p->filter_w > CONV_MAX_SPAN_PRODUCT ||
             p->out_h * p->filter_h > CONV_MAX_SPAN_PRODUCT))
            continue;
        struct atrous_error why;
        struct candidate *k = &cand[*count];
        k->pd = NULL;
        k->c = calloc(1, sizeof(*k->c));
        if (k->c == NULL)
            return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory planning a problem");
        atomic_init(&k->c->run_ns, 0);
        atomic_init(&k->c->run_at_ns, 0);
        enum atrous_status st = create_pd(engine, p, forms[i], precision, k->c, &k->pd, &why);
        if (st != ATROUS_OK) {
            compiled_free(k->c);
            k->c = NULL;
            if (first == ATROUS_OK) {
                first = st;
                if (err)
                    *err = why;
            }
            if (st == ATROUS_NO_MEMORY)
                break;
            continue;
        }
        describe(engine, p, k->pd, forms[i], precision, k->c);
        if (known_wrong(k->c)) {
            dnnl_primitive_desc_destroy(k->pd);
            compiled_free(k->c);
            k->pd = NULL;
            k->c = NULL;
            if (first == ATROUS_OK) {
                first = atrous_error_set(
                    err, ATROUS_ENGINE, "", "oneDNN's %s computes this problem wrongly",
                    forms[i] == ATROUS_FORM_CONV ? "convolution" : "deconvolution");
            }
            continue;
        }
        k->model_seconds =
            atrous_cost_model_seconds(p, k->c->impl, threads, engine->fma_peak_gflops);
        (*count)++;
    }
    if (*count > 0)
        return ATROUS_OK;
    return first != ATROUS_OK ? first
                              : atrous_error_set(err, ATROUS_ENGINE, "", "no form to run in");
}

/* plan() in the problem's precision, and in f32 when bf16 has no implementation. */
static enum atrous_status plan_any(struct atrous_engine *engine, const struct atrous_problem *p,
                                   int threads, struct candidate *cand, int *count,
                                   struct atrous_error *err)
{
    enum atrous_precision precision = effective_precision(engine, p);
    enum atrous_status st = plan(engine, p, precision, threads, cand, count, err);
    if (st != ATROUS_OK && st != ATROUS_NO_MEMORY && precision == ATROUS_PRECISION_BF16)
        st = plan(engine, p, ATROUS_PRECISION_F32, threads, cand, count, err);
    return st;
}

/* The measured rule: the candidate the cost model says is faster (ties: the first, deconv). */
static int rule_pick(const struct candidate *cand, int count)
{
    return count == 2 && cand[1].model_seconds < cand[0].model_seconds ? 1 : 0;
}

static double now_seconds(void)
{
    return (double)monotonic_ns() * 1e-9;
}

/* Runs a primitive once on dummy buffers and returns the seconds it took (< 0 on failure). */
static double time_once(dnnl_primitive_t prim, dnnl_stream_t stream, int nargs,
                        const dnnl_exec_arg_t *args)
{
    double t0 = now_seconds();
    if (dnnl_primitive_execute(prim, stream, nargs, args) != dnnl_success ||
        dnnl_stream_wait(stream) != dnnl_success)
        return -1;
    return now_seconds() - t0;
}

/* Times the two candidates (their primitives created) on zero-filled buffers and returns the
 * index of the faster in *pick. Fails only for memory or oneDNN errors; the caller then uses
 * the rule. */
static enum atrous_status time_candidates(struct atrous_engine *engine, struct candidate *cand,
                                          int *pick, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    dnnl_stream_t stream = NULL;
    void *buf[6] = {NULL};
    dnnl_memory_t mem[6] = {NULL};
    const struct compiled *c0 = cand[0].c, *c1 = cand[1].c;
    const dnnl_memory_desc_t *mds[6] = {&c0->prim_src_md, &c0->dst_md,     &c0->weights_md,
                                        &c1->weights_md,  &c0->scratch_md, &c1->scratch_md};
    for (int i = 0; i < 6; i++) {
        size_t size = dnnl_memory_desc_get_size(mds[i]);
        if (size == 0)
            continue;
        if ((buf[i] = atrous_aligned_alloc(size)) == NULL) {
            st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory timing a problem");
            goto out;
        }
        memset(buf[i], 0, size);
        DNNL_TRY(dnnl_memory_create(&mem[i], mds[i], engine->cpu, buf[i]));
    }
    DNNL_TRY(dnnl_stream_create(&stream, engine->cpu, dnnl_stream_default_flags));
    dnnl_exec_arg_t args[2][4] = {{{DNNL_ARG_SRC, mem[0]},
                                   {DNNL_ARG_DST, mem[1]},
                                   {DNNL_ARG_WEIGHTS, mem[2]},
                                   {DNNL_ARG_SCRATCHPAD, mem[4]}},
                                  {{DNNL_ARG_SRC, mem[0]},
                                   {DNNL_ARG_DST, mem[1]},
                                   {DNNL_ARG_WEIGHTS, mem[3]},
                                   {DNNL_ARG_SCRATCHPAD, mem[5]}}};
    int nargs[2] = {mem[4] ? 4 : 3, mem[5] ? 4 : 3};
    double best[2], start = now_seconds();
    for (int k = 0; k < 2; k++)
        if ((best[k] = time_once(cand[k].c->prim, stream, nargs[k], args[k])) < 0) {
            st = atrous_error_set(err, ATROUS_ENGINE, "", "oneDNN failed timing a problem");
            goto out;
        }
    for (int round = 0; round < TIMING_ROUNDS && now_seconds() - start < TIMING_BUDGET_SECONDS;
         round++)
        for (int turn = 0; turn < 2; turn++) {
            int k = (turn + round) % 2; /* alternate who goes first */
            double t = time_once(cand[k].c->prim, stream, nargs[k], args[k]);
            if (t >= 0 && t < best[k])
                best[k] = t;
        }
    *pick = best[1] < best[0] ? 1 : 0;
out:
    if (stream)
        dnnl_stream_destroy(stream);
    for (int i = 0; i < 6; i++) {
        dnnl_memory_destroy(mem[i]);
        atrous_aligned_free(buf[i]);
    }
    return st;
}

/* True when timing both candidates is cheap enough (see "Choosing the form"). */
static bool worth_timing(const struct candidate *cand, int count)
{
    if (count != 2)
        return false;
    size_t bytes = cand[0].c->converted_bytes + dnnl_memory_desc_get_size(&cand[0].c->prim_src_md) +
                   dnnl_memory_desc_get_size(&cand[0].c->dst_md);
    for (int k = 0; k < 2; k++) {
        if (cand[k].model_seconds > TIMING_MAX_RUN_SECONDS)
            return false;
        bytes += cand[k].c->weights_bytes + cand[k].c->scratch_bytes;
    }
    return bytes <= TIMING_MAX_BYTES;
}

/* Creates the primitive of a planned candidate. */
static enum atrous_status create_primitive(struct candidate *k, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    if (k->c->prim == NULL)
        DNNL_TRY(dnnl_primitive_create(&k->c->prim, k->pd));
out:
    return st;
}

/* Completes the chosen candidate: its primitive and the reorders around it. */
static enum atrous_status finish(struct atrous_engine *engine, const struct atrous_problem *p,
                                 struct candidate *k, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    dnnl_primitive_desc_t reorder_pd = NULL;
    struct compiled *c = k->c;
    if ((st = create_primitive(k, err)))
        goto out;
    c->timed = atrous_cost_model_seconds(p, c->impl, omp_get_max_threads(),
                                         engine->fma_peak_gflops) > TIMED_RUN_SECONDS;
    if (!dnnl_memory_desc_equal(&c->weights_md, &c->user_weights_md)) {
        DNNL_TRY(dnnl_reorder_primitive_desc_create(&reorder_pd, &c->user_weights_md, engine->cpu,
                                                    &c->weights_md, engine->cpu, NULL));
        DNNL_TRY(dnnl_primitive_create(&c->weights_reorder, reorder_pd));
        dnnl_primitive_desc_destroy(reorder_pd);
        reorder_pd = NULL;
    }
    if (c->precision == ATROUS_PRECISION_BF16) {
        DNNL_TRY(dnnl_reorder_primitive_desc_create(&reorder_pd, &c->src_md, engine->cpu,
                                                    &c->prim_src_md, engine->cpu, NULL));
        DNNL_TRY(dnnl_primitive_create(&c->src_reorder, reorder_pd));
    }
out:
    dnnl_primitive_desc_destroy(reorder_pd);
    return st;
}

static enum atrous_status compile(struct atrous_engine *engine, const struct atrous_problem *p,
                                  struct compiled **out, struct atrous_error *err)
{
    struct candidate cand[2] = {{0}};
    int count = 0, pick = 0;
    enum atrous_status st = plan_any(engine, p, omp_get_max_threads(), cand, &count, err);
    if (st != ATROUS_OK)
        goto out;
    pick = rule_pick(cand, count);
    if (worth_timing(cand, count)) {
        struct atrous_error ignored;
        int timed_pick = 0;
        if (create_primitive(&cand[0], &ignored) == ATROUS_OK &&
            create_primitive(&cand[1], &ignored) == ATROUS_OK &&
            time_candidates(engine, cand, &timed_pick, &ignored) == ATROUS_OK)
            pick = timed_pick;
    }
    if ((st = finish(engine, p, &cand[pick], err)))
        goto out;
    *out = cand[pick].c;
    cand[pick].c = NULL;
out:
    candidates_free(cand, count);
    return st;
}

/* Finds the compiled primitive for a problem, compiling it on a miss. */
static enum atrous_status lookup(struct atrous_engine *engine, const struct atrous_problem *p,
                                 const struct atrous_cache_key *key,
                                 struct atrous_cache_entry **out, struct atrous_error *err)
{
    struct atrous_cache_entry *entry = atrous_cache_acquire(engine->cache, key);
    if (entry == NULL) {
        struct compiled *c = NULL;
        enum atrous_status st = compile(engine, p, &c, err);
        if (st != ATROUS_OK)
            return st;
        entry = atrous_cache_insert(engine->cache, key, c);
        if (entry == NULL)
            return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory caching a problem");
    }
    *out = entry;
    return ATROUS_OK;
}

enum atrous_status atrous_engine_create(const struct atrous_engine_config *config,
                                        struct atrous_engine **out, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    size_t capacity = config && config->cache_capacity ? config->cache_capacity
                                                       : ATROUS_ENGINE_DEFAULT_CACHE_CAPACITY;
    struct atrous_engine *engine = calloc(1, sizeof(*engine));
    if (engine == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory creating the engine");
    atomic_init(&engine->next_filters_id, 0);
    uint64_t measured_for_ms =
        config && config->measured_for_ms ? config->measured_for_ms : DEFAULT_MEASURED_FOR_MS;
    engine->measured_for_ns = measured_for_ms * 1000000ULL;
    pthread_mutex_init(&engine->workspaces_lock, NULL);
    pthread_mutex_init(&engine->names_lock, NULL);
    engine->cache = atrous_cache_create(capacity, compiled_free);
    /* Estimates outnumber compiled problems: admission sees problems it then refuses. */
    engine->estimates = atrous_cache_create(capacity * 4, free);
    if (engine->cache == NULL || engine->estimates == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory creating the cache");
        goto out;
    }
    DNNL_TRY(dnnl_engine_create(&engine->cpu, dnnl_cpu, 0));
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    engine->bf16 = (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
    engine->form = config ? config->form : ATROUS_FORM_AUTO;
    engine->fma_peak_gflops = atrous_cost_measure_fma_peak();
    *out = engine;
    engine = NULL;
out:
    atrous_engine_free(engine);
    return st;
}

void atrous_engine_free(struct atrous_engine *engine)
{
    if (engine == NULL)
        return;
    atrous_cache_free(engine->cache);
    atrous_cache_free(engine->estimates);
    if (engine->cpu)
        dnnl_engine_destroy(engine->cpu);
    pthread_mutex_destroy(&engine->workspaces_lock);
    pthread_mutex_destroy(&engine->names_lock);
    free(engine);
}

enum atrous_status atrous_workspace_create(struct atrous_engine *engine,
                                           struct atrous_workspace **out, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrous_workspace *ws = calloc(1, sizeof(*ws));
    if (ws == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for a workspace");
    ws->engine = engine;
    atomic_init(&ws->repeat_hits, 0);
    DNNL_TRY(dnnl_stream_create(&ws->stream, engine->cpu, dnnl_stream_default_flags));
    pthread_mutex_lock(&engine->workspaces_lock);
    ws->next = engine->workspaces;
    if (ws->next)
        ws->next->prev = ws;
    engine->workspaces = ws;
    pthread_mutex_unlock(&engine->workspaces_lock);
    *out = ws;
    ws = NULL;
out:
    atrous_workspace_free(ws);
    return st;
}

static void unbind(struct atrous_workspace *ws)
{
    dnnl_memory_destroy(ws->src);
    dnnl_memory_destroy(ws->dst);
    dnnl_memory_destroy(ws->user_weights);
    dnnl_memory_destroy(ws->weights_mem);
    dnnl_memory_destroy(ws->scratch_mem);
    dnnl_memory_destroy(ws->user_src);
    ws->src = ws->dst = ws->user_weights = ws->weights_mem = ws->scratch_mem = NULL;
    ws->user_src = NULL;
    atrous_cache_release(ws->engine->cache, ws->bound);
    ws->bound = NULL;
    ws->weights_current = false;
    ws->prepared_id = 0;
    ws->prepared_weights = NULL;
    ws->src_at = ws->dst_at = ws->weights_at = NULL;
}

void atrous_workspace_free(struct atrous_workspace *ws)
{
    if (ws == NULL)
        return;
    unbind(ws);
    if (ws->stream) { /* set only once the workspace is on the engine's list */
        struct atrous_engine *engine = ws->engine;
        pthread_mutex_lock(&engine->workspaces_lock);
        if (ws->prev)
            ws->prev->next = ws->next;
        else
            engine->workspaces = ws->next;
        if (ws->next)
            ws->next->prev = ws->prev;
        engine->freed_repeat_hits += atomic_load_explicit(&ws->repeat_hits, memory_order_relaxed);
        pthread_mutex_unlock(&engine->workspaces_lock);
        dnnl_stream_destroy(ws->stream);
    }
    atrous_aligned_free(ws->scratch);
    atrous_aligned_free(ws->weights);
    atrous_aligned_free(ws->reordered_from);
    atrous_aligned_free(ws->flipped);
    atrous_aligned_free(ws->converted);
    free(ws);
}

/* Grows a workspace buffer to at least size bytes (contents are not kept). */
static enum atrous_status reserve(void **buf, size_t *capacity, size_t size,
                                  struct atrous_error *err)
{
    if (size <= *capacity)
        return ATROUS_OK;
    atrous_aligned_free(*buf);
    *buf = atrous_aligned_alloc(size);
    *capacity = *buf ? size : 0;
    if (*buf == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "",
                                "out of memory for %zu bytes of engine scratch", size);
    return ATROUS_OK;
}

/* Makes the workspace's memory objects describe entry's problem. The scratch, converted value
 * and prepared weights buffers are bound here too: their handles change only when they grow. */
static enum atrous_status bind(struct atrous_workspace *ws, struct atrous_cache_entry *entry,
                               const struct atrous_cache_key *key, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    const struct compiled *c = atrous_cache_entry_value(entry);
    dnnl_engine_t cpu = ws->engine->cpu;
    bool preparing = c->preparing;

    unbind(ws);
    if ((st = reserve(&ws->scratch, &ws->scratch_capacity, c->scratch_bytes, err)) ||
        (st = reserve(&ws->converted, &ws->converted_capacity, c->converted_bytes, err)))
        goto out;
    if (preparing &&
        ((c->weights_reorder &&
          (st = reserve(&ws->weights, &ws->weights_capacity, c->weights_bytes, err))) ||
         (c->flip &&
          (st = reserve(&ws->flipped, &ws->flipped_capacity, c->user_weights_bytes, err))) ||
         (st = reserve(&ws->reordered_from, &ws->reordered_from_capacity, c->user_weights_bytes,
                       err))))
        goto out;
    if (c->src_reorder) {
        DNNL_TRY(dnnl_memory_create(&ws->user_src, &c->src_md, cpu, DNNL_MEMORY_NONE));
        DNNL_TRY(dnnl_memory_create(&ws->src, &c->prim_src_md, cpu, ws->converted));
    } else {
        DNNL_TRY(dnnl_memory_create(&ws->src, &c->src_md, cpu, DNNL_MEMORY_NONE));
    }
    DNNL_TRY(dnnl_memory_create(&ws->dst, &c->dst_md, cpu, DNNL_MEMORY_NONE));
    DNNL_TRY(dnnl_memory_create(&ws->scratch_mem, &c->scratch_md, cpu, ws->scratch));
    if (c->weights_reorder)
        DNNL_TRY(dnnl_memory_create(&ws->user_weights, &c->user_weights_md, cpu, DNNL_MEMORY_NONE));
    DNNL_TRY(dnnl_memory_create(&ws->weights_mem, &c->weights_md, cpu, DNNL_MEMORY_NONE));
    atrous_cache_retain(ws->engine->cache, entry);
    ws->bound = entry;
    ws->bound_key = *key;
out:
    if (st != ATROUS_OK)
        unbind(ws);
    return st;
}

/* Copies TensorFlow-layout filters [KH, KW, OC, IC] into to, flipped in KH and KW: the conv
 * form's weights. Each (kh, kw) block of OC*IC floats moves whole. */
static void flip_filters(const struct compiled *c, const float *from, float *to)
{
    size_t block = (size_t)c->filter_block;
    for (int64_t kh = 0; kh < c->filter_h; kh++)
        for (int64_t kw = 0; kw < c->filter_w; kw++)
            memcpy(to + (size_t)((c->filter_h - 1 - kh) * c->filter_w + (c->filter_w - 1 - kw)) *
                            block,
                   from + (size_t)(kh * c->filter_w + kw) * block, block * sizeof(float));
}

static enum atrous_status filters_weights(struct atrous_filters *f, const struct compiled *c,
                                          dnnl_engine_t cpu, dnnl_stream_t stream, const void **out,
                                          struct atrous_error *err);

/* Points mem at handle unless it points there already; *at tracks where it points. */
static dnnl_status_t point_at(dnnl_memory_t mem, const void **at, const void *handle)
{
    if (*at == handle)
        return dnnl_success;
    /* oneDNN reads src and weights only; its API takes non-const handles. */
    dnnl_status_t st = dnnl_memory_set_data_handle(mem, (void *)handle);
    *at = st == dnnl_success ? handle : NULL;
    return st;
}

/* Folds one measured run into the problem's moving average (weight 1/4: a run disturbed by a
 * neighbour moves the estimate a quarter of the way). Threads racing here lose an update at
 * worst, which an average does not mind. The struct is shared and otherwise read-only, hence
 * the cast. */
static void record_run(const struct compiled *c, uint64_t ns, uint64_t end_ns)
{
    atomic_uint_fast64_t *avg = (atomic_uint_fast64_t *)&c->run_ns;
    uint64_t old = atomic_load_explicit(avg, memory_order_relaxed);
    uint64_t now = old == 0 ? ns : (3 * old + ns) / 4;
    atomic_store_explicit(avg, now ? now : 1, memory_order_relaxed);
    atomic_store_explicit((atomic_uint_fast64_t *)&c->run_at_ns, end_ns, memory_order_relaxed);
}

/* Brings the raw filters (TensorFlow layout) into the weights buffer of the bound problem:
 * flipped for the conv form, reordered (and for bf16 converted) when the layouts differ. A
 * copy of what was prepared last lets the same filters skip all of it next time. */
static enum atrous_status prepare_raw(struct atrous_workspace *ws, const struct compiled *c,
                                      const float *filters, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    void *target = c->weights_reorder ? ws->weights : ws->flipped;
    DNNL_TRY(point_at(ws->weights_mem, &ws->weights_at, target));
    if (ws->weights_current && memcmp(ws->reordered_from, filters, c->user_weights_bytes) == 0)
        return ATROUS_OK;
    ws->weights_current = false;
    const float *from = filters;
    if (c->flip) {
        flip_filters(c, filters, ws->flipped);
        from = ws->flipped;
    }
    if (c->weights_reorder) {
        DNNL_TRY(dnnl_memory_set_data_handle(ws->user_weights, (void *)from));
        dnnl_exec_arg_t reorder_args[] = {{DNNL_ARG_FROM, ws->user_weights},
                                          {DNNL_ARG_TO, ws->weights_mem}};
        DNNL_TRY(dnnl_primitive_execute(c->weights_reorder, ws->stream, 2, reorder_args));
    }
    memcpy(ws->reordered_from, filters, c->user_weights_bytes);
    ws->weights_current = true;
out:
    return st;
}

/* Runs entry's primitive. The weights come from prepared filters when given, else from the raw
 * TensorFlow-layout filters buffer. */
static enum atrous_status execute(struct atrous_workspace *ws, struct atrous_cache_entry *entry,
                                  const struct atrous_cache_key *key, const float *value,
                                  const float *filters, struct atrous_filters *prepared,
                                  float *output, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    const struct compiled *c = atrous_cache_entry_value(entry);

    if (ws->bound != entry && (st = bind(ws, entry, key, err)))
        return st;
    DNNL_TRY(point_at(c->src_reorder ? ws->user_src : ws->src, &ws->src_at, value));
    DNNL_TRY(point_at(ws->dst, &ws->dst_at, output));
    if (prepared != NULL && ws->prepared_id != prepared->id) {
        if ((st = filters_weights(prepared, c, ws->engine->cpu, ws->stream, &ws->prepared_weights,
                                  err)))
            goto out;
        ws->prepared_id = prepared->id;
    }
    if (prepared != NULL && ws->prepared_weights != NULL) {
        DNNL_TRY(point_at(ws->weights_mem, &ws->weights_at, ws->prepared_weights));
    } else if (c->preparing) {
        if (prepared != NULL)
            filters = prepared->data; /* no room for this layout: prepare per call */
        if ((st = prepare_raw(ws, c, filters, err)))
            goto out;
    } else {
        DNNL_TRY(point_at(ws->weights_mem, &ws->weights_at, filters));
    }
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, ws->src},
                              {DNNL_ARG_WEIGHTS, ws->weights_mem},
                              {DNNL_ARG_DST, ws->dst},
                              {DNNL_ARG_SCRATCHPAD, ws->scratch_mem}};
    /* oneDNN copies the arguments into a node-allocated map on every call: a scratchpad the
     * primitive does not use would cost an allocation per call (a tenth of a tiny problem). */
    int nargs = c->scratch_bytes ? 4 : 3;
    uint64_t t0 = c->timed ? monotonic_ns() : 0;
    if (c->src_reorder) {
        /* bf16: the value rounded to nearest even, once per call. */
        dnnl_exec_arg_t convert_args[] = {{DNNL_ARG_FROM, ws->user_src}, {DNNL_ARG_TO, ws->src}};
        DNNL_TRY(dnnl_primitive_execute(c->src_reorder, ws->stream, 2, convert_args));
    }
    DNNL_TRY(dnnl_primitive_execute(c->prim, ws->stream, nargs, args));
    DNNL_TRY(dnnl_stream_wait(ws->stream));
    if (c->timed) {
        uint64_t t1 = monotonic_ns();
        record_run(c, t1 - t0, t1);
    }
out:
    return st;
}

/* atrous_engine_run() and atrous_engine_run_filters(): exactly one of filters and prepared is
 * non-NULL. */
static enum atrous_status run(struct atrous_engine *engine, struct atrous_workspace *workspace,
                              const struct atrous_problem *problem, const float *value,
                              const float *filters, struct atrous_filters *prepared, float *output,
                              struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrous_workspace *temporary = NULL;
    struct atrous_cache_entry *entry = NULL;

    if (problem->output_elements == 0)
        return ATROUS_OK;
    if (problem->value_elements == 0) {
        /* An empty sum: no value pixel reaches any output pixel. */
        memset(output, 0, problem->output_elements * sizeof(float));
        return ATROUS_OK;
    }
    if (workspace == NULL) {
        if ((st = atrous_workspace_create(engine, &temporary, err)))
            goto out;
        workspace = temporary;
    }
    struct atrous_cache_key key;
    make_key(engine, problem, &key);
    if (workspace->bound && same_key(&workspace->bound_key, &key)) {
        /* The problem this workspace ran last: its reference keeps the primitive alive, so
         * the shared cache (hash, lock) is not needed. */
        atomic_store_explicit(&workspace->repeat_hits,
                              atomic_load_explicit(&workspace->repeat_hits, memory_order_relaxed) +
                                  1,
                              memory_order_relaxed);
        st = execute(workspace, workspace->bound, &key, value, filters, prepared, output, err);
        goto out;
    }
    if ((st = lookup(engine, problem, &key, &entry, err)))
        goto out;
    st = execute(workspace, entry, &key, value, filters, prepared, output, err);
out:
    atrous_cache_release(engine->cache, entry);
    atrous_workspace_free(temporary);
    return st;
}

enum atrous_status atrous_engine_run(struct atrous_engine *engine,
                                     struct atrous_workspace *workspace,
                                     const struct atrous_problem *problem, const float *value,
                                     const float *filters, float *output, struct atrous_error *err)
{
    return run(engine, workspace, problem, value, filters, NULL, output, err);
}

/* Prepared filters: creation, layouts, runs. */

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
        flip_filters(c, f->data, flipped);
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
static enum atrous_status filters_weights(struct atrous_filters *f, const struct compiled *c,
                                          dnnl_engine_t cpu, dnnl_stream_t stream, const void **out,
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
    make_key(engine, problem, &key);
    if ((st = lookup(engine, problem, &key, &entry, err)))
        goto out;
    DNNL_TRY(dnnl_stream_create(&stream, engine->cpu, dnnl_stream_default_flags));
    st = filters_weights(filters, atrous_cache_entry_value(entry), engine->cpu, stream, &weights,
                         err);
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
    return run(engine, workspace, problem, value, NULL, filters, output, err);
}

enum atrous_status atrous_engine_implementation(struct atrous_engine *engine,
                                                const struct atrous_problem *problem, char *buf,
                                                size_t size, struct atrous_error *err)
{
    struct atrous_cache_entry *entry = NULL;
    struct atrous_cache_key key;
    make_key(engine, problem, &key);
    enum atrous_status st = lookup(engine, problem, &key, &entry, err);
    if (st != ATROUS_OK)
        return st;
    const struct compiled *c = atrous_cache_entry_value(entry);
    snprintf(buf, size, "%s", c->name);
    atrous_cache_release(engine->cache, entry);
    return ATROUS_OK;
}

/* What the estimate cache keeps per problem key: the path and implementation oneDNN would
 * run, and the model's time for it. */
struct estimated {
    const char *name; /* interned */
    double seconds;
    size_t workspace_bytes;
};

/* The model's estimate for a problem nobody has compiled yet at this team size: the forms'
 * primitive descriptors, no primitive, and the measured rule's choice between them. When the
 * compile will time both forms and may choose either, the workspace bytes are the larger of
 * the two (admission needs a bound); once compiled, the estimate follows the chosen form. */
static enum atrous_status estimate_uncompiled(struct atrous_engine *engine,
                                              const struct atrous_problem *p, int threads,
                                              struct estimated *out, struct atrous_error *err)
{
    struct candidate cand[2] = {{0}};
    int count = 0;
    enum atrous_status st = plan_any(engine, p, threads, cand, &count, err);
    if (st == ATROUS_OK) {
        const struct candidate *k = &cand[rule_pick(cand, count)];
        out->name = k->c->name;
        out->seconds = k->model_seconds;
        out->workspace_bytes = workspace_bytes(k->c);
        if (worth_timing(cand, count)) {
            size_t other = workspace_bytes(cand[0].c == k->c ? cand[1].c : cand[0].c);
            if (other > out->workspace_bytes)
                out->workspace_bytes = other;
        }
    }
    candidates_free(cand, count);
    return st;
}

enum atrous_status atrous_engine_estimate(struct atrous_engine *engine,
                                          const struct atrous_problem *problem, int threads,
                                          struct atrous_estimate *out, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrous_cache_key key;
    struct atrous_cache_entry *entry = NULL;

    if (threads < 1)
        threads = 1;
    out->flops = atrous_problem_flops(problem);
    out->workspace_bytes = 0;
    if (problem->output_elements == 0 || problem->value_elements == 0) {
        /* Never reaches oneDNN: at most a memset of the output. */
        out->impl = "none";
        out->measured = false;
        out->seconds = atrous_cost_model_seconds(problem, NULL, 1, engine->fma_peak_gflops);
        return ATROUS_OK;
    }
    make_key_threads(engine, problem, threads, &key);
    if ((entry = atrous_cache_peek(engine->cache, &key)) != NULL) {
        const struct compiled *c = atrous_cache_entry_value(entry);
        uint64_t ns = atomic_load_explicit(&c->run_ns, memory_order_relaxed);
        uint64_t at = atomic_load_explicit(&c->run_at_ns, memory_order_relaxed);
        if (ns != 0 && monotonic_ns() - at > engine->measured_for_ns)
            ns = 0; /* stale: the model again, until the next run */
        out->impl = c->name;
        out->measured = ns != 0;
        out->workspace_bytes = workspace_bytes(c);
        out->seconds =
            ns ? (double)ns * 1e-9
               : atrous_cost_model_seconds(problem, c->impl, threads, engine->fma_peak_gflops);
        atrous_cache_release(engine->cache, entry);
        return ATROUS_OK;
    }
    if ((entry = atrous_cache_acquire(engine->estimates, &key)) == NULL) {
        struct estimated *e = calloc(1, sizeof(*e));
        if (e == NULL)
            return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory estimating");
        if ((st = estimate_uncompiled(engine, problem, threads, e, err))) {
            free(e);
            return st;
        }
        if ((entry = atrous_cache_insert(engine->estimates, &key, e)) == NULL)
            return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory estimating");
    }
    const struct estimated *e = atrous_cache_entry_value(entry);
    out->impl = e->name;
    out->seconds = e->seconds;
    out->measured = false;
    out->workspace_bytes = e->workspace_bytes;
    atrous_cache_release(engine->estimates, entry);
    return ATROUS_OK;
}

size_t atrous_workspace_held_bytes(const struct atrous_workspace *workspace)
{
    return workspace->scratch_capacity + workspace->weights_capacity +
           workspace->reordered_from_capacity + workspace->flipped_capacity +
           workspace->converted_capacity;
}

void atrous_workspace_trim(struct atrous_workspace *workspace)
{
    /* The memory objects point into the buffers: the next run binds afresh. */
    unbind(workspace);
    atrous_aligned_free(workspace->scratch);
    atrous_aligned_free(workspace->weights);
    atrous_aligned_free(workspace->reordered_from);
    atrous_aligned_free(workspace->flipped);
    atrous_aligned_free(workspace->converted);
    workspace->scratch = workspace->weights = workspace->reordered_from = NULL;
    workspace->flipped = workspace->converted = NULL;
    workspace->scratch_capacity = workspace->weights_capacity = 0;
    workspace->reordered_from_capacity = workspace->flipped_capacity = 0;
    workspace->converted_capacity = 0;
}

const char *atrous_workspace_last_implementation(const struct atrous_workspace *workspace)
{
    if (workspace == NULL || workspace->bound == NULL)
        return NULL;
    const struct compiled *c = atrous_cache_entry_value(workspace->bound);
    return c->name;
}

enum atrous_precision atrous_workspace_last_precision(const struct atrous_workspace *workspace)
{
    if (workspace == NULL || workspace->bound == NULL)
        return ATROUS_PRECISION_F32;
    const struct compiled *c = atrous_cache_entry_value(workspace->bound);
    return c->precision;
}

void atrous_engine_cache_stats(struct atrous_engine *engine, struct atrous_cache_stats *out)
{
    atrous_cache_get_stats(engine->cache, out);
    pthread_mutex_lock(&engine->workspaces_lock);
    out->hits += engine->freed_repeat_hits;
    for (const struct atrous_workspace *ws = engine->workspaces; ws; ws = ws->next)
        out->hits += atomic_load_explicit(&ws->repeat_hits, memory_order_relaxed);
    pthread_mutex_unlock(&engine->workspaces_lock);
}

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41:
        return "sse41";
    case dnnl_cpu_isa_avx:
        return "avx";
    case dnnl_cpu_isa_avx2:
        return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
        return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
        return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
        return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
        return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
        return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
        return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
        return "avx512_core_amx";
    default:
        return "unknown";
    }
}

void atrous_engine_get_info(const struct atrous_engine *engine, struct atrous_engine_info *out)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(out->onednn_version, sizeof(out->onednn_version), "%d.%d.%d (commit %.12s)", v->major,
             v->minor, v->patch, v->hash ? v->hash : "unknown");
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    snprintf(out->cpu_isa, sizeof(out->cpu_isa), "%s", isa_name(isa));
    out->avx512 = (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
    out->bf16 = (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
    out->amx = (isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx;
    snprintf(out->threading, sizeof(out->threading), "%s",
             v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
    out->fma_peak_gflops = engine->fma_peak_gflops;
}

void atrous_engine_set_thread_parallelism(int threads)
{
    omp_set_num_threads(threads < 1 ? 1 : threads);
}

int atrous_engine_thread_parallelism(void)
{
    return omp_get_max_threads();
}
