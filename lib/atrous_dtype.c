/*
 * atrous_dtype.c - the wire element types and their conversions to and from float32.
 *
 * Decisions:
 *   - Conversions are bit manipulation in plain C11 with selects instead of branches, so that
 *     the bulk loops vectorize (GCC at -O2 and above; the loops are marked for it) and run
 *     the same on every x86-64, with or without F16C / AVX512-BF16: a wire conversion costs a
 *     small fraction of a memory copy (make bench: bench_dtype).
 *   - float16 <-> float32 follows F. Giesen's exact constructions ("half to float done quick",
 *     2012): widening is exact; narrowing rounds ties to even through the FPU for subnormals
 *     and by integer carry for normals. Neither depends on the rounding mode except the
 *     subnormal step, which uses the default (round to nearest even) that the process never
 *     changes.
 *   - NaNs stay NaNs: their sign is kept and they become quiet; the payload's top bits are kept
 *     for bfloat16 (a truncation) and dropped for float16 (the canonical quiet NaN).
 */
#include "atrous_dtype.h"

#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "atrous_dtype.c reads 16-bit wire elements in place: a big-endian host must swap"
#endif

/* A 16-bit load or store at any alignment (the bytes of a body have no alignment promise). */
typedef uint16_t u16_any __attribute__((aligned(1), may_alias));

static const char *const native_names[ATROUS_DTYPE_COUNT] = {"float32", "bfloat16", "float16"};
static const char *const kserve_names[ATROUS_DTYPE_COUNT] = {"FP32", "BF16", "FP16"};

static inline uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static inline float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

size_t atrous_dtype_size(enum atrous_dtype dtype)
{
    return dtype == ATROUS_DTYPE_FLOAT32 ? 4 : 2;
}

const char *atrous_dtype_name(enum atrous_dtype dtype)
{
    return (unsigned)dtype < ATROUS_DTYPE_COUNT ? native_names[dtype] : "unknown";
}

const char *atrous_dtype_kserve_name(enum atrous_dtype dtype)
{
    return (unsigned)dtype < ATROUS_DTYPE_COUNT ? kserve_names[dtype] : "unknown";
}

static bool parse_in(const char *const *names, const char *text, size_t len, enum atrous_dtype *out)
{
    for (int i = 0; i < ATROUS_DTYPE_COUNT; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], text, len) == 0) {
            *out = (enum atrous_dtype)i;
            return true;
        }
    }
    return false;
}

bool atrous_dtype_parse(const char *text, size_t len, enum atrous_dtype *out)
{
    return parse_in(native_names, text, len, out);
}

bool atrous_dtype_parse_kserve(const char *text, size_t len, enum atrous_dtype *out)
{
    return parse_in(kserve_names, text, len, out);
}

const char *atrous_precision_name(enum atrous_precision precision)
{
    return precision == ATROUS_PRECISION_BF16 ? "bf16" : "f32";
}

bool atrous_precision_parse(const char *text, size_t len, enum atrous_precision *out)
{
    if (len == 3 && memcmp(text, "f32", 3) == 0) {
        *out = ATROUS_PRECISION_F32;
        return true;
    }
    if (len == 4 && memcmp(text, "bf16", 4) == 0) {
        *out = ATROUS_PRECISION_BF16;
        return true;
    }
    return false;
}

float atrous_dtype_max(enum atrous_dtype dtype)
{
    switch (dtype) {
    case ATROUS_DTYPE_BFLOAT16:
        return float_of(0x7f7f0000u); /* 0x1.fep127, about 3.3895e38 */
    case ATROUS_DTYPE_FLOAT16:
        return 65504.0f;
    case ATROUS_DTYPE_FLOAT32:
        break;
    }
    return float_of(0x7f7fffffu);
}

/* bfloat16 is float32's top half: widening appends 16 zero bits. */
static inline float bf16_to_f32(uint16_t h)
{
    return float_of((uint32_t)h << 16);
}

/* Adds just under half a bfloat16 ulp plus the kept bit's parity, then truncates: ties go to
 * the even neighbour, the largest values carry into the exponent and become Infinity. */
static inline uint16_t f32_to_bf16(float f)
{
    const uint32_t u = bits_of(f);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

static inline float f16_to_f32(uint16_t h)
{
    const uint32_t shifted_exp = 0x7c00u << 13;
    const uint32_t magnitude = ((uint32_t)h & 0x7fffu) << 13;
    const uint32_t exp = magnitude & shifted_exp;
    const uint32_t normal = magnitude + ((127u - 15u) << 23);
    /* Infinity and NaN: the exponent becomes float32's all-ones. */
    const uint32_t special = normal + ((128u - 16u) << 23);
    /* Zero and subnormals: renormalised exactly by one float subtraction. */
    const uint32_t small = bits_of(float_of(normal + (1u << 23)) - float_of(113u << 23));
    /* A NaN becomes quiet (as the F16C instruction makes it). */
    const uint32_t quiet = magnitude > shifted_exp ? 0x00400000u : 0;
    const uint32_t out = exp == shifted_exp ? special | quiet : exp == 0 ? small : normal;
    return float_of(out | (((uint32_t)h & 0x8000u) << 16));
}

static inline uint16_t f32_to_f16(float f)
{
    const uint32_t f32_infinity = 255u << 23;
    const uint32_t f16_overflow = (127u + 16u) << 23; /* 65536: Infinity from here on */
    const uint32_t denorm_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    const uint32_t u = bits_of(f);
    const uint32_t sign = u & 0x80000000u;
    const uint32_t a = u ^ sign;
    /* NaN: quiet, the payload's top bits kept (as the F16C instruction does); Infinity. */
    const uint32_t big = a > f32_infinity ? 0x7e00u | ((a >> 13) & 0x3ffu) : 0x7c00u;
    /* Below 2^-14 the result is subnormal: adding the magic number makes the FPU round the
     * mantissa at the right place, ties to even. */
    const uint32_t small = bits_of(float_of(a) + float_of(denorm_magic)) - denorm_magic;
    /* Normal: rebias, add just under half an ulp plus the kept bit's parity, truncate; a carry
     * past 65504 reaches 0x7c00, Infinity. */
    const uint32_t normal = (a + ((uint32_t)(15 - 127) << 23) + 0xfffu + ((a >> 13) & 1u)) >> 13;
    const uint32_t out = a >= f16_overflow ? big : a < (113u << 23) ? small : normal;
    return (uint16_t)(out | (sign >> 16));
}

float atrous_bf16_to_f32(uint16_t bits)
{
    return bf16_to_f32(bits);
}

float atrous_f16_to_f32(uint16_t bits)
{
    return f16_to_f32(bits);
}

uint16_t atrous_f32_to_bf16(float value)
{
    return f32_to_bf16(value);
}

uint16_t atrous_f32_to_f16(float value)
{
    return f32_to_f16(value);
}

float atrous_dtype_round(enum atrous_dtype dtype, float value)
{
    switch (dtype) {
    case ATROUS_DTYPE_BFLOAT16:
        return bf16_to_f32(f32_to_bf16(value));
    case ATROUS_DTYPE_FLOAT16:
        return f16_to_f32(f32_to_f16(value));
    case ATROUS_DTYPE_FLOAT32:
        break;
    }
    return value;
}

/* The bulk loops: one element per iteration, no branches, restrict pointers, so the compiler
 * vectorizes them. */
/* x86-64 CPUs with F16C (every AVX2 and AVX-512 one) convert 8 float16 per instruction, with
 * the same results as the C below (round to nearest even from the instruction's immediate, not
 * MXCSR; NaNs quieted with their top payload bits): 3-4x faster than the C (make bench). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ATROUS__HAVE_F16C 1
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define ATROUS__VECTORIZE __attribute__((optimize("tree-vectorize")))
#else
#define ATROUS__VECTORIZE /* clang vectorizes at -O2 */
#endif

ATROUS__VECTORIZE static void widen_bf16(const u16_any *restrict src, float *restrict dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = bf16_to_f32(src[i]);
}

ATROUS__VECTORIZE static void widen_f16(const u16_any *restrict src, float *restrict dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f16_to_f32(src[i]);
}

ATROUS__VECTORIZE static void narrow_bf16(const float *restrict src, u16_any *restrict dst,
                                          size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f32_to_bf16(src[i]);
}

ATROUS__VECTORIZE static void narrow_f16(const float *restrict src, u16_any *restrict dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f32_to_f16(src[i]);
}

#ifdef ATROUS__HAVE_F16C
__attribute__((target("avx,f16c"))) static void widen_f16_f16c(const u16_any *restrict src,
                                                               float *restrict dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const void *)(src + i))));
    for (; i < n; i++)
        dst[i] = f16_to_f32(src[i]);
}

__attribute__((target("avx,f16c"))) static void narrow_f16_f16c(const float *restrict src,
                                                                u16_any *restrict dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((void *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = f32_to_f16(src[i]);
}

static bool has_f16c(void)
{
    /* Every AVX2 CPU has F16C (clang 14 knows no "f16c" here, and AVX2 also says the OS saves
     * the YMM registers); an AVX-only CPU with F16C takes the C loops. */
    return __builtin_cpu_supports("avx2");
}
#else
static bool has_f16c(void)
{
    return false;
}
#define widen_f16_f16c  widen_f16
#define narrow_f16_f16c narrow_f16
#endif

void atrous_dtype_widen(enum atrous_dtype dtype, const void *src, float *dst, size_t count)
{
    switch (dtype) {
    case ATROUS_DTYPE_BFLOAT16:
        widen_bf16(src, dst, count);
        return;
    case ATROUS_DTYPE_FLOAT16:
        if (has_f16c())
            widen_f16_f16c(src, dst, count);
        else
            widen_f16(src, dst, count);
        return;
    case ATROUS_DTYPE_FLOAT32:
        break;
    }
    if (count > 0)
        memcpy(dst, src, count * sizeof(float));
}

void atrous_dtype_widen_in_place(enum atrous_dtype dtype, void *buf, size_t count)
{
    /* From the end: the step over elements [k, k + n) reads bytes [2k, 2k + 2n) (copied first)
     * and writes [4k, 4k + 4n), never below 4k >= 2k, where the elements not yet widened lie. */
    enum { CHUNK = 1024 };
    uint16_t chunk[CHUNK];
    float *out = buf;
    const unsigned char *in = buf;
    if (dtype == ATROUS_DTYPE_FLOAT32)
        return;
    for (size_t end = count; end > 0;) {
        const size_t n = end < CHUNK ? end : CHUNK;
        const size_t k = end - n;
        memcpy(chunk, in + 2 * k, 2 * n);
        atrous_dtype_widen(dtype, chunk, out + k, n);
        end = k;
    }
}

/* Elements narrowed per step of an in-place narrowing: through a stack buffer, so that no
 * store of a step lands on a float32 not yet read. */
#define NARROW_CHUNK 1024

void atrous_dtype_narrow(enum atrous_dtype dtype, const float *src, void *dst, size_t count)
{
    void (*narrow)(const float *restrict, u16_any *restrict, size_t) =
        dtype == ATROUS_DTYPE_BFLOAT16 ? narrow_bf16
        : has_f16c()                   ? narrow_f16_f16c
                                       : narrow_f16;
    if (dtype == ATROUS_DTYPE_FLOAT32) {
        if (count > 0 && dst != src)
            memcpy(dst, src, count * sizeof(float));
        return;
    }
    if ((const void *)src != dst) {
        narrow(src, dst, count);
        return;
    }
    /* In place: step k writes bytes [2k*C, 2(k+1)*C) after reading [4k*C, 4(k+1)*C). */
    uint16_t chunk[NARROW_CHUNK];
    unsigned char *out = dst;
    for (size_t at = 0; at < count; at += NARROW_CHUNK) {
        const size_t n = count - at < NARROW_CHUNK ? count - at : NARROW_CHUNK;
        narrow(src + at, chunk, n);
        memmove(out + at * 2, chunk, n * 2);
    }
}

size_t atrous_dtype_quantize(enum atrous_dtype dtype, float *data, size_t count)
{
    size_t first_overflow = count;
    if (dtype == ATROUS_DTYPE_FLOAT32)
        return count;
    for (size_t i = 0; i < count; i++) {
        const float r = atrous_dtype_round(dtype, data[i]);
        /* Finite in, infinite out: past the dtype's range. */
        if (first_overflow == count && (bits_of(r) & 0x7fffffffu) == 0x7f800000u &&
            (bits_of(data[i]) & 0x7fffffffu) < 0x7f800000u)
            first_overflow = i;
        data[i] = r;
    }
    return first_overflow;
}
