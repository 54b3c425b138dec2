/*
 * naive_ref.c - the six-deep gather loop of SEMANTICS.md section 1, and random problems.
 * Deliberately simple: no blocking, no reuse of the library's pads or sizes.
 */
#include "naive_ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void naive_ref_output_shape(const int64_t value[4], const int64_t filters[4], int64_t rate,
                            bool same, int64_t output[4])
{
    output[0] = value[0];
    output[1] = same ? value[1] : value[1] + (filters[0] - 1) * rate;
    output[2] = same ? value[2] : value[2] + (filters[1] - 1) * rate;
    output[3] = filters[2];
}

size_t naive_ref_elements(const int64_t dims[4])
{
    return (size_t)dims[0] * (size_t)dims[1] * (size_t)dims[2] * (size_t)dims[3];
}

/* One output element in double: the sum of its value*filter terms and of their magnitudes.
 * SAME: P = (K-1)*rate, pad_top = P/2 (floor), the rest at the bottom; VALID: none. Only the
 * top/left pads enter the gather formula. */
static void output_at(const struct naive_problem *p, const float *value, const float *filters,
                      int64_t n, int64_t oh, int64_t ow, int64_t oc, double *sum, double *mag)
{
    const int64_t H = p->value[1], W = p->value[2], IC = p->value[3];
    const int64_t KH = p->filters[0], KW = p->filters[1], OC = p->filters[2];
    const int64_t pad_top = p->same ? (KH - 1) * p->rate / 2 : 0;
    const int64_t pad_left = p->same ? (KW - 1) * p->rate / 2 : 0;
    *sum = 0.0;
    *mag = 0.0;
    for (int64_t kh = 0; kh < KH; kh++) {
        int64_t ih = oh + pad_top - p->rate * kh;
        if (ih < 0 || ih >= H)
            continue;
        for (int64_t kw = 0; kw < KW; kw++) {
            int64_t iw = ow + pad_left - p->rate * kw;
            if (iw < 0 || iw >= W)
                continue;
            const float *v = value + ((n * H + ih) * W + iw) * IC;
            const float *f = filters + ((kh * KW + kw) * OC + oc) * IC;
            for (int64_t ic = 0; ic < IC; ic++) {
                double term = (double)v[ic] * (double)f[ic];
                *sum += term;
                *mag += term < 0 ? -term : term;
            }
        }
    }
}

/* Every output element in the output's NHWC order; float_output or double_output gets it. */
static void run_all(const struct naive_problem *p, const float *value, const float *filters,
                    float *float_output, double *double_output, double *abs_sum)
{
    const int64_t N = p->output[0], OH = p->output[1], OW = p->output[2], OC = p->filters[2];
    size_t at = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++)
                for (int64_t oc = 0; oc < OC; oc++, at++) {
                    double sum, mag;
                    output_at(p, value, filters, n, oh, ow, oc, &sum, &mag);
                    if (float_output != NULL)
                        float_output[at] = (float)sum;
                    if (double_output != NULL)
                        double_output[at] = sum;
                    if (abs_sum != NULL)
                        abs_sum[at] = mag;
                }
}

void naive_ref_run(const struct naive_problem *p, const float *value, const float *filters,
                   float *output)
{
    run_all(p, value, filters, output, NULL, NULL);
}

void naive_ref_run_double(const struct naive_problem *p, const float *value, const float *filters,
                          double *output, double *abs_sum)
{
    run_all(p, value, filters, NULL, output, abs_sum);
}

uint64_t naive_ref_seed(const char *who)
{
    uint64_t seed;
    const char *env = getenv("ATROUS_TEST_SEED");
    if (env && env[0]) {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        seed = (uint64_t)now.tv_sec * 1000000007ULL ^ (uint64_t)now.tv_nsec ^
               ((uint64_t)getpid() << 32);
    }
    printf("%s: ATROUS_TEST_SEED=%llu (set it to replay this run)\n", who,
           (unsigned long long)seed);
    fflush(stdout);
    return seed;
}

uint64_t naive_rng_next(struct naive_rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int64_t naive_rng_range(struct naive_rng *rng, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(naive_rng_next(rng) % (uint64_t)(hi - lo + 1));
}

void naive_rng_fill(struct naive_rng *rng, float *data, size_t count)
{
    for (size_t i = 0; i < count; i++)
        data[i] = (float)((double)(naive_rng_next(rng) >> 11) * 0x1.0p-52 - 1.0);
}

const struct naive_bounds naive_default_bounds = {
    .max_batch = 3,
    .max_spatial = 24,
    .max_channels = 40,
    .max_filter = 6,
    .max_rate = 6,
    .max_macs = 4u << 20,
};

/* Channel counts: half the time one of the sizes around oneDNN's 16-wide blocks, so both
 * block-aligned and ragged tails are always covered; otherwise uniform. */
static int64_t random_channels(struct naive_rng *rng, int64_t max)
{
    static const int64_t edges[] = {1, 3, 15, 16, 17, 31, 32, 33, 40};
    if (naive_rng_next(rng) & 1) {
        int64_t pick = edges[naive_rng_range(rng, 0, sizeof(edges) / sizeof(edges[0]) - 1)];
        if (pick <= max)
            return pick;
    }
    return naive_rng_range(rng, 1, max);
}

void naive_ref_random_problem(struct naive_rng *rng, const struct naive_bounds *b,
                              struct naive_problem *out)
{
    struct naive_problem p;
    do {
        memset(&p, 0, sizeof(p));
        /* An empty batch one time in eight: it must work, but says little about numbers. */
        p.value[0] = naive_rng_range(rng, 0, 7) == 0 ? 0 : naive_rng_range(rng, 1, b->max_batch);
        p.value[1] = naive_rng_range(rng, 1, b->max_spatial);
        p.value[2] = naive_rng_range(rng, 1, b->max_spatial);
        p.value[3] = random_channels(rng, b->max_channels);
        p.filters[0] = naive_rng_range(rng, 1, b->max_filter);
        p.filters[1] = naive_rng_range(rng, 1, b->max_filter);
        p.filters[2] = random_channels(rng, b->max_channels);
        p.filters[3] = p.value[3];
        p.rate = naive_rng_range(rng, 1, b->max_rate);
        p.same = naive_rng_next(rng) & 1;
        naive_ref_output_shape(p.value, p.filters, p.rate, p.same, p.output);
    } while (naive_ref_elements(p.value) * (size_t)(p.filters[0] * p.filters[1] * p.filters[2]) >
             b->max_macs);
    *out = p;
}

static int copy_shape(const int64_t dims[4], struct atrous_shape *shape, float **data,
                      size_t *count)
{
    memset(shape, 0, sizeof(*shape));
    shape->rank = 4;
    memcpy(shape->dims, dims, 4 * sizeof(dims[0]));
    *count = naive_ref_elements(dims);
    *data = NULL;
    return *count == 0 || (*data = malloc(*count * sizeof(float))) != NULL ? 0 : -1;
}

int naive_ref_make_case(struct naive_rng *rng, const struct naive_problem *p,
                        struct corpus_case *out)
{
    char name[160];
    memset(out, 0, sizeof(*out));
    snprintf(name, sizeof(name), "random_%lldx%lldx%lldx%lld_k%lldx%lldx%lld_r%lld_%s",
             (long long)p->value[0], (long long)p->value[1], (long long)p->value[2],
             (long long)p->value[3], (long long)p->filters[0], (long long)p->filters[1],
             (long long)p->filters[2], (long long)p->rate, p->same ? "same" : "valid");
    out->name = strdup(name);
    out->padding = strdup(p->same ? "SAME" : "VALID");
    out->output_shape = malloc(4 * sizeof(int64_t));
    if (out->name == NULL || out->padding == NULL || out->output_shape == NULL ||
        copy_shape(p->value, &out->value_shape, &out->value, &out->value_count) ||
        copy_shape(p->filters, &out->filters_shape, &out->filters, &out->filters_count) ||
        copy_shape(p->output, &out->expected_shape, &out->expected, &out->expected_count))
        return -1;
    out->padding_len = strlen(out->padding);
    memcpy(out->output_shape, p->output, 4 * sizeof(int64_t));
    out->output_shape_len = 4;
    out->rate = p->rate;
    out->has_expected = true;
    naive_rng_fill(rng, out->value, out->value_count);
    naive_rng_fill(rng, out->filters, out->filters_count);
    naive_ref_run(p, out->value, out->filters, out->expected);
    return 0;
}

void naive_problem_from_case(const struct corpus_case *c, struct naive_problem *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < 4; i++) {
        out->value[i] = c->value_shape.dims[i];
        out->filters[i] = c->filters_shape.dims[i];
        out->output[i] = c->output_shape[i];
    }
    out->rate = c->rate;
    out->same = c->padding_len == 4 && memcmp(c->padding, "SAME", 4) == 0;
}
