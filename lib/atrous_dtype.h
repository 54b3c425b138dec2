/*
 * atrous_dtype.h - the element types a tensor may have on the wire (float32, bfloat16,
 * float16), their names in each protocol, and the conversions between them and the engine's
 * float32: exact widening of the 16-bit types, and rounding to nearest, ties to even (IEEE 754
 * roundTiesToEven) from float32 to them.
 *
 * The engine computes in float32 (or, when asked, bf16 with f32 accumulation: atrous_op.h's
 * atrous_precision), so a 16-bit tensor is widened once when it is decoded and the float32
 * result rounded once to the output's dtype when it is encoded: the most accurate answer the
 * types allow. 16-bit data is little-endian and may sit at any alignment.
 *
 * Rounding: NaN stays NaN (made quiet, sign kept); a finite float32 whose magnitude rounds past
 * the type's largest finite value becomes Infinity of its sign, as IEEE 754 says (float16:
 * |x| >= 65520; bfloat16: |x| >= 0x1.ffp127 rounded up); float32 subnormals round to float16
 * subnormals or zero.
 */
#ifndef ATROUS_DTYPE_H
#define ATROUS_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_op.h"

enum atrous_dtype {
    ATROUS_DTYPE_FLOAT32 = 0, /* the default: zero-initialised requests are float32 */
    ATROUS_DTYPE_BFLOAT16 = 1,
    ATROUS_DTYPE_FLOAT16 = 2,
};

#define ATROUS_DTYPE_COUNT 3

/* What every "not accepted" message lists. */
#define ATROUS_DTYPE_NAMES        "float32, bfloat16, float16"
#define ATROUS_DTYPE_KSERVE_NAMES "FP32, BF16, FP16"

/* Bytes per element: 4 or 2. */
size_t atrous_dtype_size(enum atrous_dtype dtype);

/* "float32", "bfloat16", "float16" (the native API's and TensorFlow's names). */
const char *atrous_dtype_name(enum atrous_dtype dtype);

/* "FP32", "BF16", "FP16" (KServe v2 / Triton datatype names). */
const char *atrous_dtype_kserve_name(enum atrous_dtype dtype);

/* Parses a native name (len bytes, exact and case-sensitive); false when it is none. */
bool atrous_dtype_parse(const char *text, size_t len, enum atrous_dtype *out);

/* Parses a KServe datatype name; false when it is none of the three. */
bool atrous_dtype_parse_kserve(const char *text, size_t len, enum atrous_dtype *out);

/* "f32" or "bf16": the compute precision's wire name (X-Compute-Precision, precision=). */
const char *atrous_precision_name(enum atrous_precision precision);

/* Parses "f32" or "bf16"; false for anything else. */
bool atrous_precision_parse(const char *text, size_t len, enum atrous_precision *out);

/* One element: exact widening, and rounding to nearest even. */
float atrous_bf16_to_f32(uint16_t bits);
float atrous_f16_to_f32(uint16_t bits);
uint16_t atrous_f32_to_bf16(float value);
uint16_t atrous_f32_to_f16(float value);

/* The dtype's value nearest to value (ties to even), as a float32 (exact). The identity for
 * FLOAT32. */
float atrous_dtype_round(enum atrous_dtype dtype, float value);

/*
 * Widens count elements of dtype at src (little-endian, any alignment) into dst, exactly. For
 * FLOAT32 a copy. src and dst must not overlap.
 */
void atrous_dtype_widen(enum atrous_dtype dtype, const void *src, float *dst, size_t count);

/*
 * Widens count elements of dtype held at the start of buf into float32 filling buf (which has
 * room for count floats and is 4-byte aligned): the same values as atrous_dtype_widen, without a
 * second buffer. For FLOAT32 nothing to do.
 */
void atrous_dtype_widen_in_place(enum atrous_dtype dtype, void *buf, size_t count);

/*
 * Rounds count float32 elements at src to dtype, writing dtype's little-endian bytes to dst
 * (any alignment). For FLOAT32 a copy. dst may equal src (in place, the 16-bit elements then
 * packed at the start of the buffer); otherwise they must not overlap.
 */
void atrous_dtype_narrow(enum atrous_dtype dtype, const float *src, void *dst, size_t count);

/*
 * Rounds count float32 elements in place to dtype's values (still float32). Returns the index
 * of the first element that was finite and became infinite (out of the dtype's range), or
 * count when none did; every element is rounded either way.
 */
size_t atrous_dtype_quantize(enum atrous_dtype dtype, float *data, size_t count);

/* The largest finite value of dtype (for messages). */
float atrous_dtype_max(enum atrous_dtype dtype);

#endif
