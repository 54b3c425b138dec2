/*
 * test_dtype.c - lib/atrous_dtype.h: names, and the conversions checked exhaustively over all
 * 65536 16-bit patterns and against independent references for rounding: the C compiler's own
 * _Float16 conversion (libgcc's soft-float or the F16C instruction) for float16, and a
 * brute-force nearest-value search in double precision for bfloat16.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "atrous_dtype.h"

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* The reference bfloat16 rounding: the two bfloat16 values around f (truncation and the next
 * one away from zero), the nearer in exact double arithmetic, the even one on a tie. Values
 * that overflow: IEEE says Infinity when |f| >= the largest finite + half an ulp. */
static uint16_t ref_bf16(float f)
{
    const uint32_t u = bits_of(f);
    if (isnan(f))
        return 0; /* not used: NaNs are checked apart */
    const uint16_t lo = (uint16_t)(u >> 16);
    const uint16_t hi = (uint16_t)(lo + 1);
    const double x = fabs((double)f);
    const double a = fabs((double)float_of((uint32_t)lo << 16));
    if ((lo & 0x7fff) == 0x7f80)
        return lo; /* Infinity itself */
    /* The value above the largest finite: the would-be next power, 2^128, not Infinity. */
    const double b =
        (hi & 0x7fff) == 0x7f80 ? ldexp(1.0, 128) : fabs((double)float_of((uint32_t)hi << 16));
    if (x - a < b - x)
        return lo;
    if (x - a > b - x)
        return hi;
    return (lo & 1) ? hi : lo;
}

static uint16_t ref_f16(float f)
{
    _Float16 h = (_Float16)f;
    uint16_t out;
    memcpy(&out, &h, sizeof(out));
    return out;
}

static void test_names_round_trip_in_both_spellings(void **state)
{
    (void)state;
    const char *native[] = {"float32", "bfloat16", "float16"};
    const char *kserve[] = {"FP32", "BF16", "FP16"};
    for (int i = 0; i < ATROUS_DTYPE_COUNT; i++) {
        enum atrous_dtype d;
        assert_true(atrous_dtype_parse(native[i], strlen(native[i]), &d));
        assert_int_equal(d, i);
        assert_string_equal(atrous_dtype_name(d), native[i]);
        assert_true(atrous_dtype_parse_kserve(kserve[i], strlen(kserve[i]), &d));
        assert_int_equal(d, i);
        assert_string_equal(atrous_dtype_kserve_name(d), kserve[i]);
    }
    enum atrous_dtype d = ATROUS_DTYPE_BFLOAT16;
    assert_false(atrous_dtype_parse("FP32", 4, &d));
    assert_false(atrous_dtype_parse("float64", 7, &d));
    assert_false(atrous_dtype_parse("float3", 6, &d));
    assert_false(atrous_dtype_parse_kserve("FP64", 4, &d));
    assert_false(atrous_dtype_parse_kserve("fp16", 4, &d));
    assert_int_equal(d, ATROUS_DTYPE_BFLOAT16); /* untouched on failure */
    assert_int_equal(atrous_dtype_size(ATROUS_DTYPE_FLOAT32), 4);
    assert_int_equal(atrous_dtype_size(ATROUS_DTYPE_BFLOAT16), 2);
    assert_int_equal(atrous_dtype_size(ATROUS_DTYPE_FLOAT16), 2);
}

static void test_precision_names(void **state)
{
    (void)state;
    enum atrous_precision p = ATROUS_PRECISION_F32;
    assert_true(atrous_precision_parse("bf16", 4, &p));
    assert_int_equal(p, ATROUS_PRECISION_BF16);
    assert_true(atrous_precision_parse("f32", 3, &p));
    assert_int_equal(p, ATROUS_PRECISION_F32);
    assert_false(atrous_precision_parse("fp32", 4, &p));
    assert_false(atrous_precision_parse("bf1", 3, &p));
    assert_string_equal(atrous_precision_name(ATROUS_PRECISION_BF16), "bf16");
    assert_string_equal(atrous_precision_name(ATROUS_PRECISION_F32), "f32");
}

/* Every bfloat16 pattern widens to the float32 with the same top half, and rounds back to
 * itself; NaNs stay NaN with their sign. */
static void test_bf16_all_patterns_widen_exactly_and_round_back(void **state)
{
    (void)state;
    for (uint32_t h = 0; h <= 0xffff; h++) {
        const float f = atrous_bf16_to_f32((uint16_t)h);
        assert_int_equal(bits_of(f), h << 16);
        const uint16_t back = atrous_f32_to_bf16(f);
        if (isnan(f)) {
            assert_true(isnan(atrous_bf16_to_f32(back)));
            assert_int_equal(back & 0x8000, h & 0x8000);
        } else {
            assert_int_equal(back, h);
        }
    }
}

/* Every float16 pattern widens to the float32 of the same value (the compiler's _Float16 says
 * which) and rounds back to itself. */
static void test_f16_all_patterns_widen_exactly_and_round_back(void **state)
{
    (void)state;
    for (uint32_t h = 0; h <= 0xffff; h++) {
        const uint16_t h16 = (uint16_t)h;
        _Float16 ref;
        memcpy(&ref, &h16, sizeof(ref));
        const float f = atrous_f16_to_f32(h16);
        if (isnan((float)ref)) {
            assert_true(isnan(f));
            assert_int_equal(bits_of(f) >> 31, h >> 15);
            const uint16_t back = atrous_f32_to_f16(f);
            assert_true(isnan(atrous_f16_to_f32(back)));
            assert_int_equal(back & 0x8000, h & 0x8000);
            continue;
        }
        assert_int_equal(bits_of(f), bits_of((float)ref));
        assert_int_equal(atrous_f32_to_f16(f), h16);
    }
}

/* The float32 values where rounding decides: for each 16-bit value, the midpoint to its
 * successor and the floats one and two ulps either side, plus a stride through every float32
 * exponent. */
static void check_rounding_at(float f)
{
    if (isnan(f))
        return;
    const uint16_t bf = atrous_f32_to_bf16(f), bf_ref = ref_bf16(f);
    if (bf != bf_ref)
        fail_msg("bf16(%a) = 0x%04x, reference 0x%04x", (double)f, bf, bf_ref);
    const uint16_t h = atrous_f32_to_f16(f), h_ref = ref_f16(f);
    if (h != h_ref)
        fail_msg("f16(%a) = 0x%04x, reference 0x%04x", (double)f, h, h_ref);
}

static void test_rounding_matches_references_at_every_midpoint(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 0xffff; h++) {
        /* bfloat16 midpoints are float32 patterns h<<16 | 0x8000. */
        const uint32_t mid = (h << 16) | 0x8000u;
        for (int d = -2; d <= 2; d++)
            check_rounding_at(float_of(mid + (uint32_t)d));
        /* float16 midpoints: the average of two neighbours, exact in float32 (when finite). */
        const float a = atrous_f16_to_f32((uint16_t)h), b = atrous_f16_to_f32((uint16_t)(h + 1));
        if (isfinite(a) && isfinite(b) && (h & 0x7fff) != 0x7fff) {
            const float m = (float)(((double)a + (double)b) / 2);
            for (int d = -2; d <= 2; d++)
                check_rounding_at(float_of(bits_of(m) + (uint32_t)d));
        }
    }
    /* A stride through the whole float32 space, both signs. */
    for (uint64_t u = 0; u <= 0xffffffffu; u += 0x1003u)
        check_rounding_at(float_of((uint32_t)u));
}

static void test_rounding_edge_cases(void **state)
{
    (void)state;
    /* Overflow: float16 Infinity from 65520 (the midpoint past 65504) on, ties to even. */
    assert_int_equal(atrous_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(atrous_f32_to_f16(65519.996f), 0x7bff);
    assert_int_equal(atrous_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(atrous_f32_to_f16(-1e30f), 0xfc00);
    assert_int_equal(atrous_f32_to_f16(INFINITY), 0x7c00);
    /* The smallest float16 subnormal is 2^-24; half of it ties to even, zero. */
    assert_int_equal(atrous_f32_to_f16(0x1p-24f), 0x0001);
    assert_int_equal(atrous_f32_to_f16(0x1p-25f), 0x0000);
    assert_int_equal(atrous_f32_to_f16(0x1.000002p-25f), 0x0001);
    assert_int_equal(atrous_f32_to_f16(-0.0f), 0x8000);
    /* bfloat16: 1 + 2^-8 is a tie, to even (1); 1 + 3*2^-8 ties up to 1 + 2^-6. */
    assert_int_equal(atrous_f32_to_bf16(1.00390625f), 0x3f80);
    assert_int_equal(atrous_f32_to_bf16(1.01171875f), 0x3f82);
    assert_int_equal(atrous_f32_to_bf16(float_of(0x7f7fffffu)), 0x7f80); /* FLT_MAX: Inf */
    assert_int_equal(atrous_f32_to_bf16(float_of(0x7f7f7fffu)), 0x7f7f);
    assert_int_equal(atrous_f32_to_bf16(float_of(0x00000001u)), 0x0000); /* subnormal, down */
    /* NaN stays NaN, quiet, sign kept. */
    const float snan = float_of(0xff800001u);
    assert_true(isnan(atrous_bf16_to_f32(atrous_f32_to_bf16(snan))));
    assert_int_equal(atrous_f32_to_bf16(snan) & 0x8000, 0x8000);
    assert_int_equal(atrous_f32_to_f16(NAN) & 0x7e00, 0x7e00);
    assert_true(atrous_dtype_max(ATROUS_DTYPE_FLOAT16) == 65504.0f);
}

/* The bulk conversions agree with the scalar ones at every length (vector bodies and tails),
 * at an odd byte alignment, and in place. */
static void test_bulk_conversions_match_scalar_at_any_alignment(void **state)
{
    (void)state;
    enum { N = 4099 };
    float *src = malloc(N * sizeof(float)), *wide = malloc(N * sizeof(float));
    unsigned char *bytes = malloc(2 * N + 1);
    float *inplace = malloc(N * sizeof(float));
    assert_non_null(src);
    assert_non_null(wide);
    assert_non_null(bytes);
    assert_non_null(inplace);
    uint32_t seed = 12345;
    for (size_t i = 0; i < N; i++) {
        seed = seed * 1664525u + 1013904223u;
        src[i] = float_of(seed);
    }
    const enum atrous_dtype types[] = {ATROUS_DTYPE_BFLOAT16, ATROUS_DTYPE_FLOAT16};
    for (size_t t = 0; t < 2; t++) {
        const enum atrous_dtype dt = types[t];
        for (size_t n = 0; n <= N; n += n < 70 ? 1 : 1009) {
            unsigned char *odd = bytes + 1;
            atrous_dtype_narrow(dt, src, odd, n);
            for (size_t i = 0; i < n; i++) {
                const uint16_t want = dt == ATROUS_DTYPE_BFLOAT16 ? atrous_f32_to_bf16(src[i])
                                                                  : atrous_f32_to_f16(src[i]);
                const uint16_t got = (uint16_t)(odd[2 * i] | odd[2 * i + 1] << 8);
                assert_int_equal(got, want);
            }
            atrous_dtype_widen(dt, odd, wide, n);
            for (size_t i = 0; i < n; i++) {
                const uint16_t h = (uint16_t)(odd[2 * i] | odd[2 * i + 1] << 8);
                const float want =
                    dt == ATROUS_DTYPE_BFLOAT16 ? atrous_bf16_to_f32(h) : atrous_f16_to_f32(h);
                assert_memory_equal(&wide[i], &want, sizeof(float));
            }
            memcpy(inplace, src, n * sizeof(float));
            atrous_dtype_narrow(dt, inplace, inplace, n);
            assert_memory_equal(inplace, odd, n * 2);
            /* And back in place: the 2-byte elements at the start widen to fill the buffer. */
            atrous_dtype_widen_in_place(dt, inplace, n);
            assert_memory_equal(inplace, wide, n * sizeof(float));
        }
    }
    free(src);
    free(wide);
    free(bytes);
    free(inplace);
}

static void test_quantize_rounds_and_reports_the_first_overflow(void **state)
{
    (void)state;
    float data[] = {1.0009765625f, 0.1f, INFINITY, 70000.0f, 1e6f, NAN};
    assert_int_equal(atrous_dtype_quantize(ATROUS_DTYPE_FLOAT16, data, 6), 3);
    assert_true(data[0] == 1.0009765625f); /* exact in float16 */
    assert_true(data[1] == atrous_f16_to_f32(atrous_f32_to_f16(0.1f)));
    assert_true(isinf(data[2]) && isinf(data[3]) && isinf(data[4]));
    assert_true(isnan(data[5]));
    float ok[] = {0.1f, -3.0f};
    assert_int_equal(atrous_dtype_quantize(ATROUS_DTYPE_BFLOAT16, ok, 2), 2);
    assert_true(ok[0] == atrous_bf16_to_f32(0x3dcd));
    float same[] = {0.1f};
    assert_int_equal(atrous_dtype_quantize(ATROUS_DTYPE_FLOAT32, same, 1), 1);
    assert_true(same[0] == 0.1f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip_in_both_spellings),
        cmocka_unit_test(test_precision_names),
        cmocka_unit_test(test_bf16_all_patterns_widen_exactly_and_round_back),
        cmocka_unit_test(test_f16_all_patterns_widen_exactly_and_round_back),
        cmocka_unit_test(test_rounding_matches_references_at_every_midpoint),
        cmocka_unit_test(test_rounding_edge_cases),
        cmocka_unit_test(test_bulk_conversions_match_scalar_at_any_alignment),
        cmocka_unit_test(test_quantize_rounds_and_reports_the_first_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
