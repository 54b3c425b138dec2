/*
 * json_doc.h - a lean JSON document for the KServe v2 and TF Serving request decoders, built on
 * json_reader's scanners. Internal to proto/.
 *
 * Why not a general DOM (jansson, which these decoders used): a tensor in JSON is a list of
 * numbers, and a DOM spends a node and an allocation on each one (about 40 bytes for what is a
 * 4-byte float) and parses it several times slower than json_reader. Here a list of numbers,
 * flat or nested, is one node as long as it is rectangular: its shape, and its numbers,
 * converted once while parsing to float32 (the correctly rounded double, then cast, as TF
 * Serving converts) into one array the document owns. Integer readers re-scan the numbers'
 * text, so INT32 / INT64 values stay exact. Everything else (objects, strings, booleans,
 * ragged or mixed lists) gets a node per value, as in any DOM: that is the small envelope
 * around the tensors.
 *
 * The grammar is JSON with the number tokens NaN, Infinity and -Infinity, which TF Serving's
 * REST API documents, Python's json.dumps writes, and atrousd's own answers hold (so that every
 * answer can be sent back), as the native API's reader takes them. Duplicate keys and
 * "\u0000" in strings (keys and names are C strings) are rejected, and nesting is bounded.
 * Syntax errors are ATROUS_INVALID_ARGUMENT with field "" and the message
 * "invalid JSON at byte N: ...".
 *
 * Cost: a request holding tensors costs 4 bytes per number (the float32 copies; their array
 * grows by doubling, so up to 8, and 12 for the moment it moves) plus 16 bytes per innermost
 * list of a nested tensor (its length, kept after its parent folds it). Bodies that are not
 * tensors (long mixed lists, many strings) cost a value of 56 bytes per element, about what
 * jansson spent: the codecs bound them with their JSON byte limit.
 */
#ifndef ATROUS_JSON_DOC_H
#define ATROUS_JSON_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_error.h"
#include "json_reader.h"

/* A parsed body; owns every value reachable from its root. */
struct atrous__jd;

enum atrous__jd_kind {
    ATROUS__JD_NULL,
    ATROUS__JD_BOOLEAN,
    ATROUS__JD_STRING,
    ATROUS__JD_NUMBERS, /* one number (rank 0), or a rectangular nested list of numbers */
    ATROUS__JD_ARRAY,   /* any other list */
    ATROUS__JD_OBJECT,
};

struct atrous__jd_member;

/* A value, borrowed from its document. */
struct atrous__jd_value {
    enum atrous__jd_kind kind;
    int rank;    /* NUMBERS: 0 for one number, else the levels of lists (<= ATROUS_MAX_RANK) */
    size_t size; /* ARRAY: elements; OBJECT: members; STRING: bytes; NUMBERS: numbers;
                    BOOLEAN: 1 for true */
    union {
        const struct atrous__jd_value *items;    /* ARRAY */
        const struct atrous__jd_member *members; /* OBJECT, in document order */
        const char *string;                      /* STRING, NUL-terminated, no NUL inside */
        const int64_t *dims;                     /* NUMBERS of rank >= 1: length per level */
    } u;
    /* NUMBERS: the numbers are the document's floats [first, first + size); their text starts
     * at text, which begins with the number of index text_first (an element of a nested list
     * shares its parent's text and skips the numbers before it). */
    size_t first;
    const char *text;
    size_t text_first;
    const struct atrous__jd *doc;
};

struct atrous__jd_member {
    const char *key; /* NUL-terminated, no NUL inside */
    struct atrous__jd_value value;
};

/* Parses len bytes of JSON (one value, whitespace around it) with containers nested at most
 * max_depth deep. On success *out is the document (atrous__jd_free it). */
enum atrous_status atrous__jd_parse(const char *text, size_t len, size_t max_depth,
                                    struct atrous__jd **out, struct atrous_error *err);

/* Frees the document and every value of it; accepts NULL. */
void atrous__jd_free(struct atrous__jd *doc);

/* The document's value (borrowed). */
const struct atrous__jd_value *atrous__jd_root(const struct atrous__jd *doc);

/* The member value of obj named key; NULL when obj is NULL, not an object, or lacks it. */
const struct atrous__jd_value *atrous__jd_get(const struct atrous__jd_value *obj, const char *key);

/* The first member of obj whose key is not in names (NULL-terminated), or NULL: the codecs
 * reject unknown keys so that typos surface. */
const char *atrous__jd_unknown_key(const struct atrous__jd_value *obj, const char *const *names);

/* "an object", "a list", "a string", "a number", "a boolean", "null" (NULL: "nothing"). */
const char *atrous__jd_kind_name(const struct atrous__jd_value *v);

/* Lists: an ARRAY, or NUMBERS of rank >= 1 (its elements are NUMBERS of rank - 1). */
bool atrous__jd_is_list(const struct atrous__jd_value *v);
size_t atrous__jd_list_size(const struct atrous__jd_value *v);

/* Element i of a list into *out (a copy, or a view into NUMBERS); false when v is not a list
 * or i is past its end. */
bool atrous__jd_list_at(const struct atrous__jd_value *v, size_t i, struct atrous__jd_value *out);

/* The string's text, or NULL when v is not a string. */
const char *atrous__jd_string(const struct atrous__jd_value *v);

/* True when v is a boolean (and then *out its value). */
bool atrous__jd_boolean(const struct atrous__jd_value *v, bool *out);

/* True when v is one number written as an integer (no fraction, no exponent) within int64,
 * which is what the envelope's integers (shape dims, sizes, rate) must be; *out the value. */
bool atrous__jd_integer(const struct atrous__jd_value *v, int64_t *out);

/* The float32 values of NUMBERS v (v->size of them). A number too large for float32 reads as
 * NaN there: atrous__jd_too_large tells it from a NaN token. */
const float *atrous__jd_floats(const struct atrous__jd_value *v);

/* True when a number of NUMBERS v is too large for float32; *index is the first such, counted
 * from v's first number. */
bool atrous__jd_too_large(const struct atrous__jd_value *v, size_t *index);

/* Scans the numbers of NUMBERS v again, in order, for exact conversions (integers). */
struct atrous__jd_numbers {
    struct atrous__jr r;
    size_t skip; /* numbers of the shared text before v's first */
    size_t left; /* numbers of v still to return */
};
void atrous__jd_numbers_begin(const struct atrous__jd_value *v, struct atrous__jd_numbers *it);
/* The next number into *out; false after the last. */
bool atrous__jd_numbers_next(struct atrous__jd_numbers *it, struct atrous__jr_number *out);

#endif
