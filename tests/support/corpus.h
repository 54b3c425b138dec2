/*
 * corpus.h - loads the conformance corpus (tests/data/conformance, one JSON case per file) for
 * the tests, and the corpus's tolerance rule |got - exp| <= 1e-4 + 1e-4 * |exp|.
 *
 * Tests sit outside the service's layers (DESIGN.md section 2), which is why this file may use
 * jansson even though lib/ never sees JSON: the JSON parsing stays in corpus.c, and what the
 * tests get is plain C (shapes, float arrays, strings).
 */
#ifndef TESTS_CORPUS_H
#define TESTS_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_tensor.h"

/* Where the tests read the corpus when ATROUS_TEST_DATA is not set (relative to the repo root,
 * where `make test` runs). */
#define CORPUS_DEFAULT_DIR "tests/data/conformance"

/* The corpus's tolerance (conformance/README.md, "Recommended tolerance"). */
#define CORPUS_ATOL 1e-4
#define CORPUS_RTOL 1e-4

/* One case file. Every pointer is owned by the case and freed by corpus_case_free(). */
struct corpus_case {
    char *name;                      /* "err_rate_zero": the file name after its NNN_ prefix */
    char *path;                      /* the file it was read from */
    struct atrous_shape value_shape; /* value.shape, as given */
    float *value;                    /* value.data as float32; NULL when empty */
    size_t value_count;
    struct atrous_shape filters_shape;
    float *filters;
    size_t filters_count;
    int64_t *output_shape; /* the output_shape list as given (2 to 5 numbers) */
    size_t output_shape_len;
    int64_t rate;
    char *padding; /* as given, NUL-terminated; padding_len excludes the NUL */
    size_t padding_len;
    bool has_expected; /* true for cases with an "expected" output */
    struct atrous_shape expected_shape;
    float *expected; /* NULL when the output is empty */
    size_t expected_count;
    bool has_pads;          /* meta.pads_tblr present */
    int64_t pads_tblr[4];   /* pad_top, pad_bottom, pad_left, pad_right */
    char *error_kind;       /* expected_error.kind; NULL for cases with an output */
    char *error_stage;      /* "python", "op_attr", "SpaceToBatchND", "Conv2DBackpropInput" */
    char *message_contains; /* expected_error.message_contains */
};

/* The corpus directory: $ATROUS_TEST_DATA when set and non-empty, else CORPUS_DEFAULT_DIR. */
const char *corpus_dir(void);

/* Lists the *.json files of corpus_dir()/folder ("valid", "invalid" or "quirks"), sorted by
 * name, as full paths. Returns 0, or -1 with a reason in why (a missing directory is an error,
 * and so is a folder without cases). The caller frees the list with corpus_paths_free(). */
int corpus_list(const char *folder, char ***paths, size_t *count, char *why, size_t why_size);
void corpus_paths_free(char **paths, size_t count);

/* Reads one case file into *out (zeroed first). Returns 0, or -1 with a reason in why (file
 * unreadable, JSON malformed, a field missing or of the wrong type, data length not matching
 * the shape). Free with corpus_case_free() either way. */
int corpus_load(const char *path, struct corpus_case *out, char *why, size_t why_size);
void corpus_case_free(struct corpus_case *c);

/* |got - exp| / (atol + rtol * |exp|): at most 1 passes. Infinite when got is NaN or
 * infinite (the corpus's expected values are all finite). */
double corpus_scaled_error(double got, double expected);

/* The result of comparing an output with its expected values elementwise. */
struct corpus_comparison {
    double worst;       /* largest scaled error seen */
    size_t worst_index; /* where it was */
    size_t failures;    /* elements with scaled error > 1 (NaN and Inf included) */
    size_t non_finite;  /* elements of got that are NaN or infinite */
};

/* Compares count elements of got with expected under the tolerance rule. */
void corpus_compare(const float *got, const float *expected, size_t count,
                    struct corpus_comparison *out);

/* Writes a reason into why (when not NULL) and returns -1, so failures read
 * `return corpus_fail(why, ...)`. */
int corpus_fail(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The engine's types, declared only: corpus_check (corpus_check.c) is the one part of the
 * corpus support that needs the engine. */
struct atrous_engine;
struct atrous_workspace;

/* Runs a case with an expected output through the library as a service would: validation
 * (atrous_op_validate, no limits), then atrous_engine_run into a buffer filled with NaN first,
 * so an element the engine forgets to write fails. Checks the exact shape, then every element
 * under the tolerance rule. Returns 0 when all holds, else -1 with the reason in why; *cmp is
 * filled whenever the run got that far. Safe to call from several threads at once (each with
 * its own workspace; workspace may be NULL). */
int corpus_check(struct atrous_engine *engine, struct atrous_workspace *workspace,
                 const struct corpus_case *c, struct corpus_comparison *cmp, char *why,
                 size_t why_size);

#endif
