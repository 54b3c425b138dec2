/*
 * atrous_op.h - the op's arguments, validated in TensorFlow's order, and the shape rules that
 * turn them into a fully derived problem (sizes, pads) the engine can run.
 *
 * Semantics (../shared/conformance/SEMANTICS.md):
 *   value [N, H, W, IC], filters [KH, KW, OC, IC], output [N, OH, OW, OC] = output_shape
 *   SAME : P = (K-1)*rate, pad_top = P/2, pad_bottom = P - pad_top; requires H == OH
 *   VALID: no pads; requires H == OH - (K-1)*rate
 * atrousd's decisions where TensorFlow is odd (DESIGN.md section 1): output_shape has exactly
 * 4 elements at every rate; N = 0 is valid; at rate 1 an output channel count that is a
 * multiple of filters[2] is rejected; every size computation is overflow-checked.
 */
#ifndef ATROUS_OP_H
#define ATROUS_OP_H

#include <stddef.h>
#include <stdint.h>

#include "atrous_error.h"
#include "atrous_tensor.h"

enum atrous_padding {
    ATROUS_PADDING_SAME,
    ATROUS_PADDING_VALID,
};

/* Hard ceiling on any spatial extent (dilated filter size, padded output size). oneDNN's
 * kernels index spatial positions in 32-bit ints, and TensorFlow itself materialises rate^2
 * phase images, so problems beyond this are not runnable anywhere; we reject them cleanly. */
#define ATROUS_MAX_EXTENT ((int64_t)1 << 24)

/* Hard ceiling on the elements of any one tensor, whatever the configured limits: oneDNN's
 * JIT kernels compute some offsets in 32-bit ints. */
#define ATROUS_MAX_ELEMENTS_HARD ((size_t)INT32_MAX)

/* Caller's size limits, checked after TensorFlow's own checks and before any allocation.
 * 0 means "only the hard ceilings above". */
struct atrous_limits {
    size_t max_input_elements;  /* per input tensor: value, filters */
    size_t max_output_elements; /* the output tensor */
};

/* A validated problem: every size the engine needs, derived once. */
/* The arithmetic a run uses. F32 (the default, zero) is strict f32 end to end. BF16 rounds
 * value and filters to bfloat16 and accumulates in f32: about twice the throughput on CPUs with
 * avx512_bf16 (or AMX), with a stated error bound (README). An engine without bf16 support runs
 * F32 and says so (atrous_workspace_last_precision). */
enum atrous_precision {
    ATROUS_PRECISION_F32 = 0,
    ATROUS_PRECISION_BF16 = 1,
};

struct atrous_problem {
    int64_t batch, in_h, in_w, in_c; /* value [N, H, W, IC] */
    int64_t filter_h, filter_w;      /* filters [KH, KW, OC, IC] */
    int64_t out_h, out_w, out_c;     /* output [N, OH, OW, OC] */
    int64_t rate;                    /* >= 1 */
    enum atrous_padding padding;
    int64_t pad_top, pad_bottom, pad_left, pad_right;
    size_t value_elements, filters_elements, output_elements;
    enum atrous_precision precision; /* what the caller asks for: atrous_op_validate sets F32,
                                        the caller may then ask for BF16 */
};

/*
 * Validates the op's arguments exactly in TensorFlow's order and fills *out.
 *   value, filters   shapes as the caller gave them (any rank; rank 4 is required)
 *   output_shape     output_shape_len integers as given (4 required)
 *   padding          padding_len bytes, compared exactly ("SAME" or "VALID", case-sensitive)
 *   limits           may be NULL (hard ceilings only)
 * Returns ATROUS_OK, ATROUS_INVALID_ARGUMENT (what TensorFlow rejects) or ATROUS_TOO_LARGE
 * (valid for TensorFlow but over a size limit). err names the argument at fault and quotes
 * the caller's own shapes.
 */
enum atrous_status atrous_op_validate(const struct atrous_shape *value,
                                      const struct atrous_shape *filters,
                                      const int64_t *output_shape, size_t output_shape_len,
                                      int64_t rate, const char *padding, size_t padding_len,
                                      const struct atrous_limits *limits,
                                      struct atrous_problem *out, struct atrous_error *err);

/* The output tensor's shape [N, OH, OW, OC]. */
void atrous_problem_output_shape(const struct atrous_problem *problem, struct atrous_shape *out);

/* Nominal floating-point operations: 2 * N*H*W*IC * KH*KW*OC (taps that fall outside the
 * output count too, as in a dense deconvolution). Used by benchmarks. */
double atrous_problem_flops(const struct atrous_problem *problem);

/* "SAME" or "VALID". */
const char *atrous_padding_name(enum atrous_padding padding);

#endif
