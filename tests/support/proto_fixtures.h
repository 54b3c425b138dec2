/*
 * proto_fixtures.h - what the proto/ codec tests share: a growable text buffer for building
 * request documents, the whole conformance corpus loaded once (through corpus.h), and each
 * case rendered as a JSON request (flat, data-first or nested) and as a binary request.
 */
#ifndef TESTS_PROTO_FIXTURES_H
#define TESTS_PROTO_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_binary.h"
#include "atrous_request.h"
#include "corpus.h"

/* A growable NUL-terminated buffer; aborts the test process on out of memory. */
struct proto_buf {
    char *data;
    size_t len, cap;
};

void proto_buf_put(struct proto_buf *b, const void *bytes, size_t n);
void proto_buf_printf(struct proto_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends f as atrous_json_format_float writes it. */
void proto_buf_float(struct proto_buf *b, float f);
void proto_buf_free(struct proto_buf *b);
/* Appends [a, b, ...]. */
void proto_buf_ints(struct proto_buf *b, const int64_t *v, size_t n);
/* Appends n floats as one flat list. */
void proto_buf_floats(struct proto_buf *b, const float *data, size_t n);
/* Appends dims[0..rank) of data as nested lists; returns the data that follows. */
const float *proto_buf_nested(struct proto_buf *b, const int64_t *dims, int rank,
                              const float *data);

/* One corpus case and the folder it came from ("valid", "invalid" or "quirks"). */
struct proto_case {
    struct corpus_case c;
    const char *folder;
};

/* Loads every case of the three folders; fails the running test when the corpus is missing or
 * unreadable. Free with proto_cases_free(). */
struct proto_case *proto_cases_load(size_t *count);
void proto_cases_free(struct proto_case *cases, size_t count);

enum proto_tensor_form {
    PROTO_FLAT,            /* {"shape": [...], "data": [...]} */
    PROTO_FLAT_DATA_FIRST, /* {"data": [...], "shape": [...]} */
    PROTO_NESTED,          /* nested arrays */
};

/* The case as a JSON request body (numbers in the shortest round-trip form), members in the
 * order value, filters, output_shape, rate, padding, dtype. Nested arrays cannot carry the
 * inner dims of an empty tensor ([0, 4, 5, 2] is written [] and reads back as [0]). */
void proto_case_json(const struct corpus_case *c, enum proto_tensor_form form,
                     struct proto_buf *out);

/* The case as a binary request: query parameters (pointing into q) and the body bytes. */
struct proto_query {
    struct atrous_query_param params[5];
    char text[5][512];
};
void proto_case_query(const struct corpus_case *c, struct proto_query *q);
void proto_case_body(const struct corpus_case *c, struct proto_buf *out);

/* Asserts that a decoded request holds exactly the case's arguments: shapes, bit-exact data,
 * output_shape, rate and padding. */
void proto_assert_request_is_case(const struct atrous_request *r, const struct corpus_case *c);

#endif
