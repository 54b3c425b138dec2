/*
 * repo_models.h - what the model lifecycle tests share (test_http_models.c,
 * test_http_reload.c): one small model written into a scratch repository (and rewritten in
 * place, the filters replaced by rename as a deployment would), KServe v2 infer requests for it,
 * and every answer checked against the naive reference (naive_ref.h) for the filters it should
 * have used.
 */
#ifndef TESTS_REPO_MODELS_H
#define TESTS_REPO_MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_client.h"

/* The model every lifecycle test serves: filters [3, 3, 4, 2], rate 2, SAME, and the value it
 * is asked about, [1, 8, 8, 2]. Small, so that hundreds of requests cost little. */
#define REPO_KH      3
#define REPO_KW      3
#define REPO_OC      4
#define REPO_IC      2
#define REPO_N       1
#define REPO_H       8
#define REPO_W       8
#define REPO_RATE    2
#define REPO_FILTERS (REPO_KH * REPO_KW * REPO_OC * REPO_IC)
#define REPO_VALUE   (REPO_N * REPO_H * REPO_W * REPO_IC)
#define REPO_OUTPUT  (REPO_N * REPO_H * REPO_W * REPO_OC)

/* One set of filters and what they give for the test value at a rate. */
struct repo_variant {
    float filters[REPO_FILTERS];
    int64_t rate;
    float expected[REPO_OUTPUT]; /* the naive reference on repo_value() */
};

/* The test value (deterministic). */
const float *repo_value(void);

/* Fills v with filters drawn from seed (far apart for different seeds: every output element
 * differs by much more than the tolerance) and computes its expected output at rate. */
void repo_variant_make(struct repo_variant *v, uint64_t seed, int64_t rate);

/* Writes root/folder/config.json (name, version, rate, SAME, filters [3, 3, 4, 2] from
 * filters.npy; extra appended inside the object, may be "") and root/folder/filters.npy,
 * creating the folder when needed. The filters file is written aside and renamed over the
 * old one, so a reader sees the old file or the new one, never half of each. 0 or -1. */
int repo_write_model(const char *root, const char *folder, const char *name, const char *version,
                     int64_t rate, const float *filters, const char *extra);

/* Replaces root/folder/filters.npy (by rename) with bytes that are not a valid .npy. */
int repo_break_filters(const char *root, const char *folder);

/* The config document (as config.json holds it) of the test model with these settings. */
void repo_config_text(char *buf, size_t size, const char *name, const char *version, int64_t rate,
                      const char *extra);

/* A KServe v2 JSON infer body for repo_value() (malloc'd, length in *len). */
char *repo_infer_body(size_t *len);

/* POSTs the infer body to /v2/models/<model>/infer with extra headers (NULL-terminated, may be
 * NULL). 0 with *r filled, or -1 when no answer came. */
int repo_infer(uint16_t port, const char *model, const char *const *headers,
               struct http_client_response *r);

/*
 * Which of the count variants a 200 answer matches, all of its elements within the corpus
 * tolerance; -1 when it matches none (a mix of versions, or a wrong answer), with the reason
 * in why. The variants' expected outputs are far apart, so no answer matches two.
 */
int repo_match(const struct http_client_response *r, const struct repo_variant *variants,
               size_t count, char *why, size_t why_size);

/* POST path with a body (NULL: none) as the Triton client sends it (Content-Type:
 * application/json). 0 with *r, or -1. */
int repo_post(uint16_t port, const char *path, const char *body, struct http_client_response *r);

#endif
