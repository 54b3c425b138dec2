/*
 * naive_ref.h - an independent reference for atrous_conv2d_transpose, written straight from
 * the formula in SEMANTICS.md section 1 (gather form, accumulated in double), and the random
 * problems the tests compare the library against it on.
 *
 * Nothing here calls lib/: pads and output sizes are derived again from the formula, so a
 * mistake in the library's shape rules cannot hide in the reference too. (corpus.h's struct
 * is reused only as a container for a generated case.)
 */
#ifndef TESTS_NAIVE_REF_H
#define TESTS_NAIVE_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corpus.h"

/* One problem in TensorFlow's terms. */
struct naive_problem {
    int64_t value[4];   /* [N, H, W, IC] */
    int64_t filters[4]; /* [KH, KW, OC, IC] */
    int64_t output[4];  /* [N, OH, OW, OC] */
    int64_t rate;       /* >= 1 */
    bool same;          /* SAME padding, else VALID */
};

/* The output shape TensorFlow's shape rule allows for this value, filters, rate and padding:
 * [N, H, W, OC] for SAME, [N, H + (KH-1)*rate, W + (KW-1)*rate, OC] for VALID. */
void naive_ref_output_shape(const int64_t value[4], const int64_t filters[4], int64_t rate,
                            bool same, int64_t output[4]);

/* Product of four non-negative dims. */
size_t naive_ref_elements(const int64_t dims[4]);

/* output[n,oh,ow,oc] = sum over kh,kw,ic of
 *     value[n, oh + pad_top - rate*kh, ow + pad_left - rate*kw, ic] * filters[kh,kw,oc,ic]
 * with out-of-range value indices contributing nothing; each sum is accumulated in double and
 * rounded to float once. output holds naive_ref_elements(p->output) floats. */
void naive_ref_run(const struct naive_problem *p, const float *value, const float *filters,
                   float *output);

/* naive_ref_run() without the final rounding: each output in double, and in abs_sum (when not
 * NULL) the sum of |value * filter| over the same terms, S, the scale error bounds of reduced
 * precision are stated against (README "bf16 compute: the error bound"). Both hold
 * naive_ref_elements(p->output) doubles. */
void naive_ref_run_double(const struct naive_problem *p, const float *value, const float *filters,
                          double *output, double *abs_sum);

/* A small, fast, reproducible generator (splitmix64); one per thread. */
struct naive_rng {
    uint64_t state;
};

/* The seed for a test run: $ATROUS_TEST_SEED when set (decimal or 0x hex), else one taken from
 * the clock and the process id. Prints "<who>: ATROUS_TEST_SEED=<seed>" to stdout so that any
 * failure can be replayed. */
uint64_t naive_ref_seed(const char *who);

uint64_t naive_rng_next(struct naive_rng *rng);

/* A uniform integer in [lo, hi]. */
int64_t naive_rng_range(struct naive_rng *rng, int64_t lo, int64_t hi);

/* count floats uniform in [-1, 1). */
void naive_rng_fill(struct naive_rng *rng, float *data, size_t count);

/* Bounds of a random problem. A drawn problem whose multiply-adds (N*H*W*IC*KH*KW*OC) exceed
 * max_macs is drawn again, which keeps test time bounded without narrowing any one range. */
struct naive_bounds {
    int64_t max_batch;    /* batch drawn from 0..max_batch */
    int64_t max_spatial;  /* H and W from 1..max_spatial */
    int64_t max_channels; /* IC and OC from 1..max_channels */
    int64_t max_filter;   /* KH and KW from 1..max_filter, independently */
    int64_t max_rate;     /* rate from 1..max_rate */
    size_t max_macs;
};

/* The ranges the issue asks for: batch 0-3, spatial 1-24, channels 1-40, filters up to 6x6,
 * rates 1-6. */
extern const struct naive_bounds naive_default_bounds;

/* Draws a problem within bounds, both paddings equally likely. */
void naive_ref_random_problem(struct naive_rng *rng, const struct naive_bounds *bounds,
                              struct naive_problem *out);

/* Makes a case from a problem: random value and filters, expected output from naive_ref_run,
 * output_shape from the shape rule. The case's name says the problem ("random_2x5x7x3_...").
 * Returns 0, or -1 on out of memory. Free with corpus_case_free(). */
int naive_ref_make_case(struct naive_rng *rng, const struct naive_problem *p,
                        struct corpus_case *out);

/* The problem a corpus case describes (it must have rank-4 shapes and 4-element output). */
void naive_problem_from_case(const struct corpus_case *c, struct naive_problem *out);

#endif
