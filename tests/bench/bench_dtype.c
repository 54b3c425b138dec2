/*
 * bench_dtype.c - what the 16-bit wire types cost the server per MB, side by side with a plain
 * memory copy of the same bytes in the same run (issue 13 item 5): rounding float32 to bfloat16
 * and float16 (a 16-bit answer), widening them to float32 (a 16-bit request), and the server's
 * own paths - a bfloat16 binary body decoded (proto/atrous_binary.c, widened into the
 * request's storage) and a float32 output rounded in place into a bfloat16 answer.
 *
 *   bench_dtype [--mb N] [--repeat R]     (default 32 MB of float32, best of 15)
 *
 * "MB" is 10^6 bytes of float32 (the side the engine sees), so rows compare directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_binary.h"
#include "atrous_dtype.h"
#include "bench_v2.h"

/* The best of repeat runs of one conversion, in seconds. */
#define BEST_OF(repeat, best, stmt)                                                                \
    do {                                                                                           \
        best = 1e30;                                                                               \
        for (int r_ = 0; r_ < (repeat); r_++) {                                                    \
            double t0_ = bench_now_seconds();                                                      \
            stmt;                                                                                  \
            double t_ = bench_now_seconds() - t0_;                                                 \
            if (t_ < best)                                                                         \
                best = t_;                                                                         \
        }                                                                                          \
    } while (0)

static void row(const char *what, double mb, double seconds, double copy_seconds)
{
    printf("%-52s %9.3f ms/MB %8.2f GB/s %7.2fx memcpy\n", what, seconds * 1e3 / mb,
           mb / 1e3 / seconds, seconds / copy_seconds);
}

int main(int argc, char **argv)
{
    double mb = 32;
    int repeat = 15;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--mb") == 0)
            mb = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[i + 1]);
    }
    if (mb <= 0 || repeat < 1) {
        fprintf(stderr, "usage: %s [--mb N] [--repeat R]\n", argv[0]);
        return 2;
    }
    const size_t n = (size_t)(mb * 1e6 / 4);
    float *f32 = atrous_aligned_alloc(n * 4), *back = atrous_aligned_alloc(n * 4);
    unsigned char *half = atrous_aligned_alloc(n * 2);
    if (f32 == NULL || back == NULL || half == NULL)
        return 1;
    uint32_t seed = 2026;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        f32[i] = (float)(int32_t)seed / 2147483648.0f;
    }
    memset(back, 0, n * 4);
    memset(half, 0, n * 2);
    double copy, t;
    printf("dtype conversions: %.0f MB of float32 (%zu elements), best of %d, one thread\n", mb, n,
           repeat);
    BEST_OF(repeat, copy, memcpy(back, f32, n * 4));
    row("memcpy of the float32 (baseline)", mb, copy, copy);
    BEST_OF(repeat, t, atrous_dtype_narrow(ATROUS_DTYPE_BFLOAT16, f32, half, n));
    row("float32 -> bfloat16 (round to nearest even)", mb, t, copy);
    BEST_OF(repeat, t, atrous_dtype_widen(ATROUS_DTYPE_BFLOAT16, half, back, n));
    row("bfloat16 -> float32 (exact)", mb, t, copy);
    BEST_OF(repeat, t, atrous_dtype_narrow(ATROUS_DTYPE_FLOAT16, f32, half, n));
    row("float32 -> float16 (round to nearest even)", mb, t, copy);
    BEST_OF(repeat, t, atrous_dtype_widen(ATROUS_DTYPE_FLOAT16, half, back, n));
    row("float16 -> float32 (exact)", mb, t, copy);
    BEST_OF(repeat, t, atrous_dtype_quantize(ATROUS_DTYPE_BFLOAT16, back, n));
    row("float32 rounded to bfloat16 values in place (JSON)", mb, t, copy);

    /* The server's paths: a bfloat16 binary body decoded, and an answer rounded in place. */
    char shape[64];
    snprintf(shape, sizeof(shape), "1,1,%zu,1", n - 1);
    struct atrous_query_param query[] = {
        {"value_shape", shape}, {"filters_shape", "1,1,1,1"}, {"output_shape", shape},
        {"rate", "1"},          {"padding", "SAME"},          {"dtype", "bfloat16"},
    };
    struct atrous_binary_plan plan;
    struct atrous_error err;
    if (atrous_binary_decode_query(query, 6, NULL, &plan, &err) != ATROUS_OK) {
        fprintf(stderr, "bench_dtype: %s\n", err.message);
        return 1;
    }
    atrous_dtype_narrow(ATROUS_DTYPE_BFLOAT16, f32, half, n);
    int failed = 0;
    BEST_OF(repeat, t, {
        struct atrous_request req;
        failed |= atrous_binary_decode_body(&plan, half, n * 2, &req, &err) != ATROUS_OK;
        atrous_request_release(&req);
    });
    row("a bfloat16 binary body decoded (alloc + widen)", mb, t, copy);
    /* The float32 form's costliest decode: a misaligned body copied into fresh storage. */
    query[5] = (struct atrous_query_param){"dtype", "float32"};
    if (atrous_binary_decode_query(query, 6, NULL, &plan, &err) != ATROUS_OK)
        return 1;
    unsigned char *odd = atrous_aligned_alloc(n * 4 + 64);
    if (odd == NULL)
        return 1;
    memcpy(odd + 1, f32, n * 4);
    BEST_OF(repeat, t, {
        struct atrous_request req;
        failed |= atrous_binary_decode_body(&plan, odd + 1, n * 4, &req, &err) != ATROUS_OK;
        atrous_request_release(&req);
    });
    row("a misaligned float32 body decoded (alloc + copy)", mb, t, copy);
    atrous_aligned_free(odd);
    /* Rounding in place costs the same whatever the floats are (no branches). */
    memcpy(back, f32, n * 4);
    BEST_OF(repeat, t, atrous_dtype_narrow(ATROUS_DTYPE_BFLOAT16, back, back, n));
    row("an answer rounded in place to bfloat16", mb, t, copy);
    BEST_OF(repeat, t, atrous_dtype_narrow(ATROUS_DTYPE_FLOAT16, back, back, n));
    row("an answer rounded in place to float16", mb, t, copy);
    atrous_aligned_free(f32);
    atrous_aligned_free(back);
    atrous_aligned_free(half);
    return failed;
}
