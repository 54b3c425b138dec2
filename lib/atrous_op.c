/*
 * atrous_op.c - validation of the op's arguments in TensorFlow's order (SEMANTICS.md section
 * 3), with messages that quote the caller's own shapes rather than TensorFlow's per-phase ones.
 */
#include "atrous_op.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define SHAPE_TEXT 160

/* Everything a message may quote, formatted once. */
struct texts {
    char value[SHAPE_TEXT];
    char filters[SHAPE_TEXT];
    char output[SHAPE_TEXT];
};

static void format_ints(const int64_t *dims, size_t count, char *buf, size_t size)
{
    struct atrous_shape shape = {0};
    /* Quote at most ATROUS_MAX_RANK numbers; longer lists are summarised by their length. */
    if (count > ATROUS_MAX_RANK) {
        snprintf(buf, size, "(a list of %zu numbers)", count);
        return;
    }
    shape.rank = (int)count;
    for (size_t i = 0; i < count; i++)
        shape.dims[i] = dims[i];
    atrous_shape_format(&shape, buf, size);
}

static bool padding_is(const char *padding, size_t len, const char *name)
{
    return padding != NULL && len == strlen(name) && memcmp(padding, name, len) == 0;
}

/* Quotes a user's padding string safely: printable ASCII only, at most 40 bytes. */
static void format_padding(const char *padding, size_t len, char *buf, size_t size)
{
    size_t used = 0;
    for (size_t i = 0; i < len && i < 40 && used + 5 < size; i++) {
        unsigned char c = (unsigned char)padding[i];
        if (c >= 0x20 && c < 0x7f && c != '\'')
            buf[used++] = (char)c;
        else
            used += (size_t)snprintf(buf + used, size - used, "\\x%02x", c);
    }
    if (len > 40 && used + 4 < size) {
        memcpy(buf + used, "...", 3);
        used += 3;
    }
    buf[used] = '\0';
}

static enum atrous_status check_rank(const struct atrous_shape *shape, const char *field,
                                     const char *layout, struct atrous_error *err)
{
    char text[SHAPE_TEXT];
    if (shape->rank == 4)
        return ATROUS_OK;
    atrous_shape_format(shape, text, sizeof(text));
    return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                            "%s must be a 4-D tensor %s, got shape %s (rank %d)", field, layout,
                            text, shape->rank);
}

/* What TensorFlow's shape rule demands of output_shape's spatial dim d (1 = height, 2 =
 * width), given the value's size and the padding. (k-1)*rate was overflow-checked by the
 * caller; the sum may still overflow (a huge value size is one way not to fit), and then this
 * returns false. */
static bool required_output_size(const struct atrous_problem *p, int d, int64_t *out)
{
    int64_t in = d == 1 ? p->in_h : p->in_w;
    int64_t k = d == 1 ? p->filter_h : p->filter_w;
    if (p->padding == ATROUS_PADDING_SAME) {
        *out = in;
        return true;
    }
    return !__builtin_add_overflow(in, (k - 1) * p->rate, out);
}

static enum atrous_status spatial_error(const struct atrous_problem *p, int d,
                                        const struct texts *t, struct atrous_error *err)
{
    const char *what = d == 1 ? "height" : "width";
    int64_t in = d == 1 ? p->in_h : p->in_w;
    int64_t got = d == 1 ? p->out_h : p->out_w;
    int64_t k = d == 1 ? p->filter_h : p->filter_w;
    if (p->padding == ATROUS_PADDING_SAME)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "output_shape",
                                "output_shape %s does not fit value %s: with SAME padding the "
                                "output %s must equal the value %s (%" PRId64 "), got %" PRId64,
                                t->output, t->value, what, what, in, got);
    int64_t need;
    if (!required_output_size(p, d, &need))
        return atrous_error_set(
            err, ATROUS_INVALID_ARGUMENT, "output_shape",
            "output_shape %s does not fit value %s and filters %s: with VALID "
            "padding the output %s must be value %s + (filter %s - 1) * rate "
            "= %" PRId64 " + %" PRId64 " * %" PRId64 ", which overflows 64-bit sizes",
            t->output, t->value, t->filters, what, what, what, in, k - 1, p->rate);
    return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "output_shape",
                            "output_shape %s does not fit value %s and filters %s: with VALID "
                            "padding the output %s must be value %s + (filter %s - 1) * rate = "
                            "%" PRId64 " + %" PRId64 " * %" PRId64 " = %" PRId64 ", got %" PRId64,
                            t->output, t->value, t->filters, what, what, what, in, k - 1, p->rate,
                            need, got);
}

static enum atrous_status batch_error(const struct atrous_problem *p, int64_t out_batch,
                                      const struct texts *t, struct atrous_error *err)
{
    return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "output_shape",
                            "output_shape %s batch %" PRId64 " does not match value %s batch "
                            "%" PRId64,
                            t->output, out_batch, t->value, p->batch);
}

static enum atrous_status out_channel_error(const struct atrous_problem *p, int64_t filters_oc,
                                            const struct texts *t, struct atrous_error *err)
{
    return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "output_shape",
                            "`output_shape` channel count must be compatible with `filters` "
                            "output channel count: output_shape %s has %" PRId64
                            " channels, filters %s has %" PRId64 " output channels (dimension 2)",
                            t->output, p->out_c, t->filters, filters_oc);
}

static enum atrous_status padding_error(const char *padding, size_t len, struct atrous_error *err)
{
    char text[200];
    format_padding(padding, len, text, sizeof(text));
    return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "padding",
                            "`padding` must be either 'VALID' or 'SAME' (case-sensitive), "
                            "got '%s'",
                            text);
}

/* Size ceilings, checked once TensorFlow's own checks pass. */
static enum atrous_status check_sizes(const struct atrous_problem *p,
                                      const struct atrous_limits *limits, const struct texts *t,
                                      struct atrous_error *err)
{
    /* (K-1)*rate fits in int64 (derive_pads checked it) but may be INT64_MAX, so the dilated
     * extent (K-1)*rate + 1 is computed unsigned. */
    const uint64_t extent_h = (uint64_t)((p->filter_h - 1) * p->rate) + 1;
    const uint64_t extent_w = (uint64_t)((p->filter_w - 1) * p->rate) + 1;
    if (extent_h > ATROUS_MAX_EXTENT || extent_w > ATROUS_MAX_EXTENT)
        return atrous_error_set(err, ATROUS_TOO_LARGE, p->rate > 1 ? "rate" : "filters",
                                "rate %" PRId64 " with filters %s spans %" PRIu64 "x%" PRIu64
                                " pixels, over atrousd's limit of %" PRId64 " per side",
                                p->rate, t->filters, extent_h, extent_w, ATROUS_MAX_EXTENT);
    /* Pads are below the extent ceiling here, so the subtractions cannot overflow; adding
     * them to output sizes up to INT64_MAX could. */
    if (p->out_h > ATROUS_MAX_EXTENT - (p->pad_top + p->pad_bottom) ||
        p->out_w > ATROUS_MAX_EXTENT - (p->pad_left + p->pad_right))
        return atrous_error_set(err, ATROUS_TOO_LARGE, "output_shape",
                                "output_shape %s is over atrousd's limit of %" PRId64
                                " pixels per side (padding included)",
                                t->output, ATROUS_MAX_EXTENT);

    size_t max_in = ATROUS_MAX_ELEMENTS_HARD, max_out = ATROUS_MAX_ELEMENTS_HARD;
    if (limits && limits->max_input_elements && limits->max_input_elements < max_in)
        max_in = limits->max_input_elements;
    if (limits && limits->max_output_elements && limits->max_output_elements < max_out)
        max_out = limits->max_output_elements;
    if (p->value_elements > max_in)
        return atrous_error_set(err, ATROUS_TOO_LARGE, "value",
                                "value %s has %zu elements, over the limit of %zu", t->value,
                                p->value_elements, max_in);
    if (p->filters_elements > max_in)
        return atrous_error_set(err, ATROUS_TOO_LARGE, "filters",
                                "filters %s has %zu elements, over the limit of %zu", t->filters,
                                p->filters_elements, max_in);
    if (p->output_elements > max_out)
        return atrous_error_set(err, ATROUS_TOO_LARGE, "output_shape",
                                "output_shape %s has %zu elements, over the limit of %zu",
                                t->output, p->output_elements, max_out);
    return ATROUS_OK;
}

/* Pads and the TF kernels' spatial checks, shared by both rate paths. */
static enum atrous_status derive_pads(struct atrous_problem *p, const struct texts *t,
                                      struct atrous_error *err)
{
    int64_t ph, pw;
    if (__builtin_mul_overflow(p->filter_h - 1, p->rate, &ph) ||
        __builtin_mul_overflow(p->filter_w - 1, p->rate, &pw))
        return atrous_error_set(err, ATROUS_TOO_LARGE, "rate",
                                "rate %" PRId64 " is too large for filters %s: the dilated "
                                "filter size overflows 64-bit arithmetic",
                                p->rate, t->filters);
    if (p->padding == ATROUS_PADDING_SAME) {
        p->pad_top = ph / 2;
        p->pad_bottom = ph - p->pad_top;
        p->pad_left = pw / 2;
        p->pad_right = pw - p->pad_left;
    } else {
        p->pad_top = p->pad_bottom = p->pad_left = p->pad_right = 0;
    }
    return ATROUS_OK;
}

static bool spatial_fits(const struct atrous_problem *p, int d)
{
    int64_t in = d == 1 ? p->in_h : p->in_w;
    int64_t out = d == 1 ? p->out_h : p->out_w;
    int64_t k = d == 1 ? p->filter_h : p->filter_w;
    if (p->padding == ATROUS_PADDING_SAME)
        return in == out;
    /* VALID: out == in + (k-1)*rate, computed without overflow. */
    int64_t span, need;
    if (__builtin_mul_overflow(k - 1, p->rate, &span) || __builtin_add_overflow(in, span, &need))
        return false;
    return out == need;
}

/* rate > 1: TF's SpaceToBatchND rejects a spatial mismatch before the batch check when the
 * padded value size is not a multiple of rate; Conv2DBackpropInput checks batch first. */
static bool space_to_batch_divisible(const struct atrous_problem *p, int d)
{
    int64_t in_value = d == 1 ? p->in_h : p->in_w;
    int64_t out = d == 1 ? p->out_h : p->out_w;
    int64_t pads = d == 1 ? p->pad_top + p->pad_bottom : p->pad_left + p->pad_right;
    int64_t padded_out, padded_value;
    if (__builtin_add_overflow(out, pads, &padded_out))
        return false;
    int64_t extra = (p->rate - padded_out % p->rate) % p->rate;
    if (__builtin_add_overflow(in_value, extra, &padded_value))
        return false;
    return padded_value % p->rate == 0;
}

enum atrous_status atrous_op_validate(const struct atrous_shape *value,
                                      const struct atrous_shape *filters,
                                      const int64_t *output_shape, size_t output_shape_len,
                                      int64_t rate, const char *padding, size_t padding_len,
                                      const struct atrous_limits *limits,
                                      struct atrous_problem *out, struct atrous_error *err)
{
    struct texts t;
    struct atrous_problem p;
    enum atrous_status st;

    atrous_error_clear(err);
    memset(&p, 0, sizeof(p));
    atrous_shape_format(value, t.value, sizeof(t.value));
    atrous_shape_format(filters, t.filters, sizeof(t.filters));
    format_ints(output_shape, output_shape_len, t.output, sizeof(t.output));

    /* Ranks and signs first: TensorFlow indexes dim 3 of both before anything else. */
    if ((st = check_rank(value, "value", "[batch, height, width, in_channels]", err)))
        return st;
    if ((st = check_rank(filters, "filters", "[height, width, out_channels, in_channels]", err)))
        return st;
    for (int i = 0; i < 4; i++) {
        if (value->dims[i] < 0)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "value",
                                    "value shape %s has a negative dimension", t.value);
        if (filters->dims[i] < 1)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "filters",
                                    "filters shape %s must have every dimension >= 1", t.filters);
    }
    p.batch = value->dims[0];
    p.in_h = value->dims[1];
    p.in_w = value->dims[2];
    p.in_c = value->dims[3];
    p.filter_h = filters->dims[0];
    p.filter_w = filters->dims[1];
    const int64_t filters_oc = filters->dims[2];
    p.rate = rate;

    /* 1. value channels vs filters input channels (TF's Python wrapper). */
    if (value->dims[3] != filters->dims[3])
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "value",
                                "`value` channel count must be compatible with `filters` input "
                                "channel count: value %s has %" PRId64 " channels, filters %s has "
                                "%" PRId64 " input channels (dimension 3)",
                                t.value, value->dims[3], t.filters, filters->dims[3]);
    /* 2. rate. */
    if (rate < 1)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "rate",
                                "`rate` cannot be less than one, got rate=%" PRId64, rate);

    const bool same = padding_is(padding, padding_len, "SAME");
    const bool valid = padding_is(padding, padding_len, "VALID");
    if (rate == 1 && !same && !valid) /* rate 1: the op attribute is checked first */
        return padding_error(padding, padding_len, err);

    /* 3. output_shape must be [N, OH, OW, OC] at every rate (TF allows [OH, OW] at rate 1). */
    if (output_shape_len != 4) {
        if (rate == 1 && output_shape_len == 2)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "output_shape",
                                    "`output_shape` must have 4 elements [batch, height, width, "
                                    "out_channels], got 2: %s (TensorFlow accepts [height, "
                                    "width] at rate 1 only; atrousd requires all four at every "
                                    "rate)",
                                    t.output);
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "output_shape",
                                "`output_shape` must have shape (4,) [batch, height, width, "
                                "out_channels], got %zu elements: %s",
                                output_shape_len, t.output);
    }
    p.out_h = output_shape[1];
    p.out_w = output_shape[2];
    p.out_c = output_shape[3];
    for (int i = 0; i < 4; i++)
        if (output_shape[i] < 0)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "output_shape",
                                    "output_shape %s has a negative dimension", t.output);
    p.padding = valid ? ATROUS_PADDING_VALID : ATROUS_PADDING_SAME;

    if (rate == 1) {
        /* Conv2DBackpropInput's order: batch, channel divisibility, spatial, channel match. */
        if (output_shape[0] != p.batch)
            return batch_error(&p, output_shape[0], &t, err);
        if (p.out_c % filters_oc != 0)
            return out_channel_error(&p, filters_oc, &t, err);
        if ((st = derive_pads(&p, &t, err)))
            return st;
        for (int d = 1; d <= 2; d++)
            if (!spatial_fits(&p, d))
                return spatial_error(&p, d, &t, err);
        /* A multiple of filters[2] reads as a grouped convolution on TF's oneDNN builds;
         * stock TF, and atrousd, reject it (DESIGN.md section 1). */
        if (p.out_c != filters_oc)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "output_shape",
                                    "`output_shape` %s channel count %" PRId64 " doesn't match "
                                    "filters %s output channels %" PRId64 " (dimension 2); "
                                    "grouped convolutions are not supported",
                                    t.output, p.out_c, t.filters, filters_oc);
    } else {
        /* 4-5. output channels, then padding (Python wrapper). */
        if (p.out_c != filters_oc)
            return out_channel_error(&p, filters_oc, &t, err);
        if (!same && !valid)
            return padding_error(padding, padding_len, err);
        /* 6. SpaceToBatchND: N * rate^2 must fit in int64. */
        int64_t rate2, phases;
        if (__builtin_mul_overflow(rate, rate, &rate2) ||
            __builtin_mul_overflow(p.batch, rate2, &phases))
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "rate",
                                    "rate %" PRId64 " is too large for value %s: batch %" PRId64
                                    " * rate^2 overflows 64-bit sizes (TensorFlow: \"caused by "
                                    "overflow when multiplying\")",
                                    rate, t.value, p.batch);
        if ((st = derive_pads(&p, &t, err)))
            return st;
        for (int d = 1; d <= 2; d++)
            if (!space_to_batch_divisible(&p, d))
                return spatial_error(&p, d, &t, err);
        /* 7. Conv2DBackpropInput per phase: batch, then spatial sizes. */
        if (output_shape[0] != p.batch)
            return batch_error(&p, output_shape[0], &t, err);
        for (int d = 1; d <= 2; d++)
            if (!spatial_fits(&p, d))
                return spatial_error(&p, d, &t, err);
    }
    p.out_c = filters_oc;

    if ((st = atrous_shape_elements(value, "value", &p.value_elements, err)))
        return st;
    if ((st = atrous_shape_elements(filters, "filters", &p.filters_elements, err)))
        return st;
    struct atrous_shape out_shape;
    atrous_problem_output_shape(&p, &out_shape);
    if ((st = atrous_shape_elements(&out_shape, "output_shape", &p.output_elements, err)))
        return st;
    if ((st = check_sizes(&p, limits, &t, err)))
        return st;
    *out = p;
    return ATROUS_OK;
}

void atrous_problem_output_shape(const struct atrous_problem *problem, struct atrous_shape *out)
{
    memset(out, 0, sizeof(*out));
    out->rank = 4;
    out->dims[0] = problem->batch;
    out->dims[1] = problem->out_h;
    out->dims[2] = problem->out_w;
    out->dims[3] = problem->out_c;
}

double atrous_problem_flops(const struct atrous_problem *p)
{
    return 2.0 * (double)p->value_elements * (double)p->filter_h * (double)p->filter_w *
           (double)p->out_c;
}

const char *atrous_padding_name(enum atrous_padding padding)
{
    return padding == ATROUS_PADDING_VALID ? "VALID" : "SAME";
}
