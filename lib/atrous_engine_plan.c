/*
 * atrous_engine_plan.c - which form and implementation runs a problem: planning both forms,
 * the measured rule, timing both at the first compile, compiling the chosen one into the cache,
 * and the cost estimate admission asks for before anything is compiled.
 *
 * Two forms compute the same op (NHWC src/dst, weights in the layout the primitive prefers):
 *   deconv  oneDNN's dilated deconvolution (deconvolution_direct, dilation rate-1, the
 *           problem's pads) - the op as TensorFlow states it;
 *   conv    the equivalent forward convolution: the filters flipped in both spatial dims,
 *           pads mirrored (pad' = (K-1)*rate - pad per side), the same dilation. Same output
 *           and FLOPs, summation order aside; oneDNN 2.6 has brgemm kernels for it where the
 *           deconvolution has only direct JIT ones.
 * Which one runs is decided per problem when it is first compiled (compile()): both are
 * timed when a run is cheap, else the cost model's measured table decides. Precision BF16
 * (on a CPU with avx512_bf16/AMX) converts value per call and filters once per layout to
 * bf16, accumulates and writes f32; f32 stays strict (no fpmath down-conversion).
 */
#include "atrous_engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_cost.h"

void atrous__engine_compiled_free(void *value)
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
void atrous__engine_make_key(const struct atrous_engine *engine, const struct atrous_problem *p,
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
        atrous__engine_compiled_free(cand[i].c);
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
            atrous__engine_compiled_free(k->c);
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
            atrous__engine_compiled_free(k->c);
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
    return (double)atrous__engine_monotonic_ns() * 1e-9;
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
enum atrous_status atrous__engine_lookup(struct atrous_engine *engine,
                                         const struct atrous_problem *p,
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

enum atrous_status atrous_engine_implementation(struct atrous_engine *engine,
                                                const struct atrous_problem *problem, char *buf,
                                                size_t size, struct atrous_error *err)
{
    struct atrous_cache_entry *entry = NULL;
    struct atrous_cache_key key;
    atrous__engine_make_key(engine, problem, &key);
    enum atrous_status st = atrous__engine_lookup(engine, problem, &key, &entry, err);
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
        if (ns != 0 && atrous__engine_monotonic_ns() - at > engine->measured_for_ns)
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
