/*
 * atrous_json.c - the JSON wire form: the request's grammar, decoded in one pass without
 * recursion and without a DOM (the scanners are in json_reader.c), and the encoders for the
 * output and error bodies.
 *
 * Decisions (DESIGN.md section 3 leaves them to proto/):
 *   - Tensor numbers are float32 as TF Serving converts them: the correctly rounded double,
 *     cast. A finite number that would become infinite in float32 (1e39) is rejected rather
 *     than silently turned into Infinity; NaN, Infinity and -Infinity are accepted as tokens.
 *     Numbers too small for float32 round to zero or a subnormal, as every parser does.
 *   - Integers (shape dims, output_shape, rate) are numbers with an exact integer value in
 *     int64: 4, 4.0, 4e0 and 0.4e1 are 4; 4.5, NaN, "4" and true are rejected.
 *   - A tensor is {"shape": [...], "data": [...flat...]} (keys in any order, nothing else), nested
 *     arrays (shape inferred, rectangular, rank <= ATROUS_MAX_RANK), or a bare number (rank 0,
 *     which the op's validation then rejects by name).
 *   - Syntax errors (not JSON, bad UTF-8, control characters in strings, trailing data) have
 *     field "" and quote the byte offset; everything else names the field at fault.
 */
#include "atrous_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_json_writer.h"
#include "json_float.h"
#include "json_reader.h"
#include "wire_text.h"

/* Top-level members, in the order missing ones are reported. */
enum member {
    MEMBER_VALUE,
    MEMBER_FILTERS,
    MEMBER_OUTPUT_SHAPE,
    MEMBER_RATE,
    MEMBER_PADDING,
    MEMBER_DTYPE, /* optional from here on */
    MEMBER_OUTPUT_DTYPE,
    MEMBER_PRECISION,
    MEMBER_COUNT,
};

static const char *const member_names[MEMBER_COUNT] = {
    "value", "filters", "output_shape", "rate", "padding", "dtype", "output_dtype", "precision",
};

#define MEMBERS_ALLOWED                                                                            \
    "value, filters, output_shape, rate, padding, dtype, output_dtype, precision"

/* Keys longer than this cannot be ours; the first KEY_MAX bytes are kept for the message. */
#define KEY_MAX 64
/* Tensors start on 64-byte boundaries inside the shared storage. */
#define ALIGN_FLOATS (ATROUS_TENSOR_ALIGN / sizeof(float))
/* First allocation when the element count is not known in advance. */
#define ARENA_INITIAL_FLOATS 1024

/*
 * Float storage for both tensors: one ATROUS_TENSOR_ALIGN-aligned allocation. It is sized
 * exactly when a shape comes before its data, and otherwise doubles, never past bound: the most
 * numbers the body can hold (each takes a byte and a separator). So memory stays within about
 * twice the body length whatever the body claims.
 */
struct arena {
    float *data;
    size_t len;   /* floats in use */
    size_t cap;   /* floats allocated */
    size_t bound; /* most floats the body can produce, alignment padding included */
};

struct tensor {
    const char *name; /* "value" or "filters": the field errors name */
    struct atrous_shape shape;
    size_t offset;  /* first float in the arena */
    size_t count;   /* floats decoded */
    bool has_dtype; /* the tensor object's own "dtype" member */
    enum atrous_dtype dtype;
};

struct parser {
    struct atrous__jr r;
    struct arena arena;
    size_t body_len;
    size_t max_elements; /* per tensor; SIZE_MAX when unlimited */
    size_t max_depth;
    size_t depth; /* containers open */
    struct atrous_error *err;
};

static enum atrous_status enter(struct parser *ps)
{
    return atrous__jr_enter(&ps->r, &ps->depth, ps->max_depth);
}

static void leave(struct parser *ps)
{
    ps->depth--;
    ps->r.p++;
}

/* After an element: consumes ',' (true, more follow) or the closing bracket (false). */
static enum atrous_status next_element(struct parser *ps, char close, bool *more)
{
    struct atrous__jr *r = &ps->r;
    atrous__jr_skip_ws(r);
    if (atrous__jr_peek_is(r, ',')) {
        r->p++;
        atrous__jr_skip_ws(r);
        *more = true;
        return ATROUS_OK;
    }
    if (atrous__jr_peek_is(r, close)) {
        *more = false;
        return ATROUS_OK;
    }
    return atrous__jr_syntax_error(r, close == ']' ? "expected ',' or ']' in an array"
                                                   : "expected ',' or '}' after an object member");
}

/* A value of the wrong kind where field wanted something else: INVALID naming the field (what
 * says what was wanted), or a syntax error when no JSON value starts here at all. */
static enum atrous_status wrong_kind(struct parser *ps, const char *field, const char *what)
{
    const enum atrous__jr_kind kind = atrous__jr_peek_kind(&ps->r);
    if (kind == ATROUS__JR_INVALID)
        return atrous__jr_syntax_error(&ps->r, "expected a JSON value");
    return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, field, "%s, got %s at byte %zu", what,
                            atrous__jr_kind_name(kind), atrous__jr_offset(&ps->r));
}

/* Opens the container at the cursor ('[' or '{'), or fails as wrong_kind(field, what) when
 * something else is there. *more is false when the container is empty. */
static enum atrous_status open_container(struct parser *ps, char open, const char *field,
                                         const char *what, bool *more)
{
    struct atrous__jr *r = &ps->r;
    enum atrous_status st;
    if (!atrous__jr_peek_is(r, open))
        return wrong_kind(ps, field, what);
    if ((st = enter(ps)))
        return st;
    atrous__jr_skip_ws(r);
    *more = !atrous__jr_peek_is(r, open == '[' ? ']' : '}');
    return ATROUS_OK;
}

/* Reads an object key and the ':' after it into key (KEY_MAX + 1 bytes). */
static enum atrous_status read_key(struct parser *ps, char *key, size_t *len)
{
    struct atrous__jr *r = &ps->r;
    enum atrous_status st;
    if (!atrous__jr_peek_is(r, '"'))
        return atrous__jr_syntax_error(r, "expected a member name (a string)");
    if ((st = atrous__jr_string(r, key, KEY_MAX, len)))
        return st;
    atrous__jr_skip_ws(r);
    if ((st = atrous__jr_expect(r, ':', "expected ':' after a member name")))
        return st;
    atrous__jr_skip_ws(r);
    return ATROUS_OK;
}

static bool key_is(const char *key, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(key, name, len) == 0;
}

/*
 * Reads an integer for field; what describes it in messages ("rate", "output_shape[2]",
 * "value.shape[0]"). Non-numbers, fractions, NaN, infinities and values outside int64 are
 * INVALID naming field.
 */
static enum atrous_status read_int(struct parser *ps, const char *field, const char *what,
                                   int64_t *out)
{
    struct atrous__jr_number n;
    char text[ATROUS__QUOTE_SIZE];
    enum atrous_status st;
    if (atrous__jr_peek_kind(&ps->r) != ATROUS__JR_NUMBER) {
        char wanted[80];
        snprintf(wanted, sizeof(wanted), "%s must be an integer", what);
        return wrong_kind(ps, field, wanted);
    }
    const size_t at = atrous__jr_offset(&ps->r);
    if ((st = atrous__jr_number(&ps->r, &n)))
        return st;
    switch (atrous__jr_number_int64(&n, out)) {
    case ATROUS__JR_INT_OK:
        return ATROUS_OK;
    case ATROUS__JR_INT_NOT_INTEGER:
        atrous__quote(n.text, n.len, text, sizeof(text));
        return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, field,
                                "%s must be an integer, got %s at byte %zu", what, text, at);
    case ATROUS__JR_INT_OUT_OF_RANGE:
        break;
    }
    atrous__quote(n.text, n.len, text, sizeof(text));
    return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, field,
                            "%s = %s at byte %zu is outside the 64-bit integer range", what, text,
                            at);
}

/* Makes room for extra more floats: exactly (a known shape) or by doubling (numbers arriving
 * one by one), never doubling past the bound. */
static enum atrous_status arena_reserve(struct parser *ps, size_t extra, bool exact,
                                        const char *field)
{
    struct arena *a = &ps->arena;
    if (a->cap - a->len >= extra)
        return ATROUS_OK;
    /* extra never exceeds bound (callers check), and bound is about body_len / 2: no overflow. */
    const size_t need = a->len + extra;
    size_t cap = need;
    if (!exact) {
        cap = a->cap ? a->cap * 2 : ARENA_INITIAL_FLOATS;
        if (cap > a->bound)
            cap = a->bound;
        if (cap < need)
            cap = need;
    }
    float *data = atrous_aligned_alloc(cap * sizeof(float));
    if (data == NULL)
        return atrous_error_set(ps->err, ATROUS_NO_MEMORY, field,
                                "out of memory allocating %zu bytes for %s", cap * sizeof(float),
                                field);
    if (a->len > 0)
        memcpy(data, a->data, a->len * sizeof(float));
    atrous_aligned_free(a->data);
    a->data = data;
    a->cap = cap;
    return ATROUS_OK;
}

/* Appends one float of tensor t, stopping as soon as the tensor passes the element limit. */
static inline enum atrous_status push_float(struct parser *ps, const struct tensor *t, float f)
{
    struct arena *a = &ps->arena;
    if (a->len - t->offset >= ps->max_elements)
        return atrous_error_set(ps->err, ATROUS_TOO_LARGE, t->name,
                                "%s has more than %zu elements, over the limit", t->name,
                                ps->max_elements);
    if (a->len == a->cap) {
        enum atrous_status st;
        if ((st = arena_reserve(ps, 1, false, t->name)))
            return st;
    }
    a->data[a->len++] = f;
    return ATROUS_OK;
}

/* Scans the number at the cursor into tensor t. */
static inline enum atrous_status read_float(struct parser *ps, const struct tensor *t)
{
    struct atrous__jr_number n;
    float f;
    enum atrous_status st;
    const size_t at = atrous__jr_offset(&ps->r);
    if ((st = atrous__jr_number(&ps->r, &n)))
        return st;
    if (!atrous__jr_number_float(&n, &f)) {
        char text[ATROUS__QUOTE_SIZE];
        atrous__quote(n.text, n.len, text, sizeof(text));
        return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                "%s: the number %s at byte %zu is outside the float32 range "
                                "(magnitude up to 3.4028235e38; send Infinity or -Infinity for "
                                "infinite values)",
                                t->name, text, at);
    }
    return push_float(ps, t, f);
}

/* "shape": an array of at most ATROUS_MAX_RANK non-negative integers. */
static enum atrous_status read_shape(struct parser *ps, struct tensor *t)
{
    struct atrous__jr *r = &ps->r;
    enum atrous_status st;
    char what[48];
    bool more;
    snprintf(what, sizeof(what), "%s.shape must be an array of integers", t->name);
    if ((st = open_container(ps, '[', t->name, what, &more)))
        return st;
    t->shape.rank = 0;
    while (more) {
        int64_t dim;
        const size_t at = atrous__jr_offset(r);
        snprintf(what, sizeof(what), "%s.shape[%d]", t->name, t->shape.rank);
        if ((st = read_int(ps, t->name, what, &dim)))
            return st;
        if (dim < 0)
            return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                    "%s must be >= 0, got %" PRId64 " at byte %zu", what, dim, at);
        if (t->shape.rank == ATROUS_MAX_RANK)
            return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                    "%s.shape has more than %d dimensions", t->name,
                                    ATROUS_MAX_RANK);
        t->shape.dims[t->shape.rank++] = dim;
        if ((st = next_element(ps, ']', &more)))
            return st;
    }
    leave(ps);
    return ATROUS_OK;
}

/* "data": a flat array of numbers; expected is the shape's element count, or SIZE_MAX when the
 * shape has not been read yet. */
static enum atrous_status read_data(struct parser *ps, struct tensor *t, size_t expected)
{
    struct atrous__jr *r = &ps->r;
    enum atrous_status st;
    char text[160];
    bool more;
    snprintf(text, sizeof(text), "%s.data must be a flat array of numbers", t->name);
    if ((st = open_container(ps, '[', t->name, text, &more)))
        return st;
    /* The hot loop of the decoder: a number, then ',' or ']'. */
    while (more) {
        if (atrous__jr_peek_kind(r) != ATROUS__JR_NUMBER) {
            snprintf(text, sizeof(text),
                     "%s.data must be a flat array of numbers (the shape goes in %s.shape)",
                     t->name, t->name);
            return wrong_kind(ps, t->name, text);
        }
        if (ps->arena.len - t->offset == expected) {
            atrous_shape_format(&t->shape, text, sizeof(text));
            return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                    "%s.data has more than %zu numbers, the element count of "
                                    "shape %s",
                                    t->name, expected, text);
        }
        if ((st = read_float(ps, t)))
            return st;
        if (atrous__jr_peek_is(r, ',')) {
            r->p++;
            atrous__jr_skip_ws(r);
            continue;
        }
        if ((st = next_element(ps, ']', &more)))
            return st;
    }
    leave(ps);
    return ATROUS_OK;
}

static enum atrous_status read_dtype(struct parser *ps, const char *field, const char *what,
                                     enum atrous_dtype *out);

/* {"shape": [...], "data": [...], "dtype": "..." (optional)} in any order. */
static enum atrous_status read_flat_tensor(struct parser *ps, struct tensor *t)
{
    enum atrous_status st;
    char key[KEY_MAX + 1], text[160];
    size_t key_len, expected = SIZE_MAX;
    bool have_shape = false, have_data = false, more;

    if ((st = open_container(ps, '{', t->name, t->name, &more)))
        return st;
    while (more) {
        if ((st = read_key(ps, key, &key_len)))
            return st;
        if (key_is(key, key_len, "shape")) {
            if (have_shape)
                return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                        "duplicate member \"shape\" in %s", t->name);
            have_shape = true;
            if ((st = read_shape(ps, t)))
                return st;
            if ((st = atrous_shape_elements(&t->shape, t->name, &expected, ps->err)))
                return st;
            if ((st = atrous_request_check_elements(t->name, &t->shape, expected, ps->max_elements,
                                                    ps->err)))
                return st;
            if (!have_data && expected > ps->body_len / 2) {
                atrous_shape_format(&t->shape, text, sizeof(text));
                return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                        "%s shape %s has %zu elements, more numbers than a "
                                        "%zu-byte body can hold",
                                        t->name, text, expected, ps->body_len);
            }
            if (!have_data && (st = arena_reserve(ps, expected, true, t->name)))
                return st;
        } else if (key_is(key, key_len, "data")) {
            if (have_data)
                return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                        "duplicate member \"data\" in %s", t->name);
            have_data = true;
            if ((st = read_data(ps, t, expected)))
                return st;
            t->count = ps->arena.len - t->offset;
        } else if (key_is(key, key_len, "dtype")) {
            if (t->has_dtype)
                return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                        "duplicate member \"dtype\" in %s", t->name);
            t->has_dtype = true;
            char what[32];
            snprintf(what, sizeof(what), "%s.dtype", t->name);
            if ((st = read_dtype(ps, t->name, what, &t->dtype)))
                return st;
        } else {
            atrous__quote(key, key_len, text, sizeof(text));
            return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                    "unknown member \"%s\" in %s (allowed: shape, data, dtype)",
                                    text, t->name);
        }
        /* Whichever member came second, the data must now match the shape. */
        if (have_shape && have_data && t->count != expected) {
            atrous_shape_format(&t->shape, text, sizeof(text));
            return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                    "%s.data has %zu numbers but shape %s has %zu elements",
                                    t->name, t->count, text, expected);
        }
        if ((st = next_element(ps, '}', &more)))
            return st;
    }
    leave(ps);
    if (!have_shape || !have_data)
        return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                "%s is missing \"%s\" (a tensor is {\"shape\": [...], \"data\": "
                                "[...]} or nested arrays)",
                                t->name, have_shape ? "data" : "shape");
    return ATROUS_OK;
}

/*
 * Nested arrays, walked iteratively: the rank is fixed by the first number (or the first empty
 * innermost array), the size of each level by the first array of that level to close, and
 * every later array must agree. Numbers go straight to the arena in row-major order.
 */
static enum atrous_status read_nested_tensor(struct parser *ps, struct tensor *t)
{
    struct atrous__jr *r = &ps->r;
    enum atrous_status st;
    int rank = -1;                 /* unknown yet */
    int depth = 0;                 /* arrays of this tensor open */
    size_t count[ATROUS_MAX_RANK]; /* elements so far in the open array at each depth */
    bool known[ATROUS_MAX_RANK] = {false};
    int64_t dims[ATROUS_MAX_RANK] = {0};
    enum { OPEN, ELEMENT, AFTER, CLOSE, DONE } state = OPEN;

    while (state != DONE) {
        switch (state) {
        case OPEN: /* at '[' */
            if (rank >= 0 && depth >= rank)
                return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                        "%s is ragged: an array at byte %zu where a number is "
                                        "expected (rank %d)",
                                        t->name, atrous__jr_offset(r), rank);
            if (depth == ATROUS_MAX_RANK)
                return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                        "%s is nested more than %d arrays deep (byte %zu): "
                                        "tensors have rank <= %d",
                                        t->name, ATROUS_MAX_RANK, atrous__jr_offset(r),
                                        ATROUS_MAX_RANK);
            if ((st = enter(ps)))
                return st;
            count[depth++] = 0;
            atrous__jr_skip_ws(r);
            state = atrous__jr_peek_is(r, ']') ? CLOSE : ELEMENT;
            break;
        case ELEMENT: /* at the first byte of an element */
            if (atrous__jr_peek_is(r, '[')) {
                state = OPEN;
                break;
            }
            if (atrous__jr_peek_kind(r) != ATROUS__JR_NUMBER) {
                char what[80];
                snprintf(what, sizeof(what), "%s must hold only numbers and arrays", t->name);
                return wrong_kind(ps, t->name, what);
            }
            if (rank < 0)
                rank = depth;
            else if (depth != rank)
                return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                        "%s is ragged: a number at byte %zu where an array is "
                                        "expected (rank %d)",
                                        t->name, atrous__jr_offset(r), rank);
            if ((st = read_float(ps, t)))
                return st;
            count[depth - 1]++;
            state = AFTER;
            break;
        case AFTER: { /* after an element */
            bool more;
            if ((st = next_element(ps, ']', &more)))
                return st;
            state = more ? ELEMENT : CLOSE;
            break;
        }
        case CLOSE: { /* at ']' */
            const int level = depth - 1;
            const size_t n = count[level];
            if (n == 0 && rank < 0)
                rank = depth; /* [] or [[], []]: the innermost level is empty */
            if (!known[level]) {
                known[level] = true;
                dims[level] = (int64_t)n;
            } else if (dims[level] != (int64_t)n) {
                return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                        "%s is ragged: the array ending at byte %zu has %zu "
                                        "elements where the first at its depth had %" PRId64,
                                        t->name, atrous__jr_offset(r), n, dims[level]);
            }
            leave(ps);
            depth--;
            if (depth == 0) {
                state = DONE;
            } else {
                count[depth - 1]++;
                state = AFTER;
            }
            break;
        }
        case DONE:
            break;
        }
    }
    /* Every level below rank has closed at least once, so every dim is known. */
    t->shape.rank = rank;
    for (int i = 0; i < rank; i++)
        t->shape.dims[i] = dims[i];
    t->count = ps->arena.len - t->offset;
    return ATROUS_OK;
}

/* A tensor in any of its forms. */
static enum atrous_status read_tensor(struct parser *ps, struct tensor *t)
{
    struct arena *a = &ps->arena;
    enum atrous_status st;
    /* Start on a cache line; the padding is at most ALIGN_FLOATS - 1 floats. */
    const size_t pad = (ALIGN_FLOATS - a->len % ALIGN_FLOATS) % ALIGN_FLOATS;
    if (pad > 0) {
        if ((st = arena_reserve(ps, pad, true, t->name)))
            return st;
        a->len += pad;
    }
    t->offset = a->len;
    switch (atrous__jr_peek_kind(&ps->r)) {
    case ATROUS__JR_OBJECT:
        return read_flat_tensor(ps, t);
    case ATROUS__JR_ARRAY:
        return read_nested_tensor(ps, t);
    case ATROUS__JR_NUMBER:
        t->shape.rank = 0; /* a scalar: the op's validation names the wrong rank */
        if ((st = read_float(ps, t)))
            return st;
        t->count = 1;
        return ATROUS_OK;
    default: {
        char what[120];
        snprintf(what, sizeof(what),
                 "%s must be {\"shape\": [...], \"data\": [...]} or nested arrays of numbers",
                 t->name);
        return wrong_kind(ps, t->name, what);
    }
    }
}

/* "output_shape": at most ATROUS_OUTPUT_SHAPE_LEN_MAX integers, the first ATROUS_MAX_RANK kept. */
static enum atrous_status read_output_shape(struct parser *ps, struct atrous_request *out)
{
    enum atrous_status st;
    bool more;
    if ((st = open_container(ps, '[', "output_shape", "output_shape must be an array of integers",
                             &more)))
        return st;
    while (more) {
        char what[32];
        int64_t v;
        if (out->output_shape_len == ATROUS_OUTPUT_SHAPE_LEN_MAX)
            return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, "output_shape",
                                    "output_shape has more than %d elements",
                                    ATROUS_OUTPUT_SHAPE_LEN_MAX);
        snprintf(what, sizeof(what), "output_shape[%zu]", out->output_shape_len);
        if ((st = read_int(ps, "output_shape", what, &v)))
            return st;
        if (out->output_shape_len < ATROUS_MAX_RANK)
            out->output_shape[out->output_shape_len] = v;
        out->output_shape_len++;
        if ((st = next_element(ps, ']', &more)))
            return st;
    }
    leave(ps);
    return ATROUS_OK;
}

static enum atrous_status read_padding(struct parser *ps, struct atrous_request *out)
{
    if (!atrous__jr_peek_is(&ps->r, '"'))
        return wrong_kind(ps, "padding", "padding must be a string (\"SAME\" or \"VALID\")");
    return atrous__jr_string(&ps->r, out->padding, ATROUS_PADDING_MAX, &out->padding_len);
}

/* A dtype name for field ("dtype", "output_dtype", or a tensor's own, whose messages call it
 * what: "value.dtype"). Anything but the three names is a 400 that lists them and tells the
 * client to cast. */
static enum atrous_status read_dtype(struct parser *ps, const char *field, const char *what_name,
                                     enum atrous_dtype *out)
{
    /* len is the string's full length, which may exceed what dtype holds; atrous__quote reads
     * at most ATROUS__QUOTE_MAX bytes, so the buffer must hold that many (a fuzzer found a
     * stack overflow when it held 31). */
    char dtype[ATROUS__QUOTE_MAX + 1], text[ATROUS__QUOTE_SIZE], what[80];
    size_t len;
    enum atrous_status st;
    const size_t at = atrous__jr_offset(&ps->r);
    if (!atrous__jr_peek_is(&ps->r, '"')) {
        snprintf(what, sizeof(what), "%s must be a string: one of " ATROUS_DTYPE_NAMES, what_name);
        return wrong_kind(ps, field, what);
    }
    if ((st = atrous__jr_string(&ps->r, dtype, ATROUS__QUOTE_MAX, &len)))
        return st;
    if (len <= ATROUS__QUOTE_MAX && atrous_dtype_parse(dtype, len, out))
        return ATROUS_OK;
    atrous__quote(dtype, len, text, sizeof(text));
    return atrous_error_set(
        ps->err, ATROUS_INVALID_ARGUMENT, field,
        "%s \"%s\" at byte %zu is not supported: the accepted dtypes are " ATROUS_DTYPE_NAMES
        "; cast the tensor to one of them",
        what_name, text, at);
}

/* "precision": "f32" or "bf16". */
static enum atrous_status read_precision(struct parser *ps, enum atrous_precision *out)
{
    char text[ATROUS__QUOTE_MAX + 1], quoted[ATROUS__QUOTE_SIZE];
    size_t len;
    enum atrous_status st;
    const size_t at = atrous__jr_offset(&ps->r);
    if (!atrous__jr_peek_is(&ps->r, '"'))
        return wrong_kind(ps, "precision", "precision must be the string \"f32\" or \"bf16\"");
    if ((st = atrous__jr_string(&ps->r, text, ATROUS__QUOTE_MAX, &len)))
        return st;
    if (len <= ATROUS__QUOTE_MAX && atrous_precision_parse(text, len, out))
        return ATROUS_OK;
    atrous__quote(text, len, quoted, sizeof(quoted));
    return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, "precision",
                            "precision \"%s\" at byte %zu is not supported: use \"f32\" (strict, "
                            "the default) or \"bf16\" (bfloat16 compute, float32 accumulation)",
                            quoted, at);
}

/* What the request-level members say, once read. */
struct request_types {
    bool has_dtype, has_output_dtype;
    enum atrous_dtype dtype, output_dtype;
};

static enum atrous_status read_member(struct parser *ps, enum member m, struct tensor *value,
                                      struct tensor *filters, struct request_types *types,
                                      struct atrous_request *out)
{
    switch (m) {
    case MEMBER_VALUE:
        return read_tensor(ps, value);
    case MEMBER_FILTERS:
        return read_tensor(ps, filters);
    case MEMBER_OUTPUT_SHAPE:
        return read_output_shape(ps, out);
    case MEMBER_RATE:
        return read_int(ps, "rate", "rate", &out->rate);
    case MEMBER_PADDING:
        return read_padding(ps, out);
    case MEMBER_DTYPE:
        types->has_dtype = true;
        return read_dtype(ps, "dtype", "dtype", &types->dtype);
    case MEMBER_OUTPUT_DTYPE:
        types->has_output_dtype = true;
        return read_dtype(ps, "output_dtype", "output_dtype", &types->output_dtype);
    case MEMBER_PRECISION:
        return read_precision(ps, &out->precision);
    case MEMBER_COUNT:
        break;
    }
    return atrous_error_set(ps->err, ATROUS_INTERNAL, "", "no reader for member %d", (int)m);
}

/* The top-level object, member by member. */
static enum atrous_status read_request(struct parser *ps, struct tensor *value,
                                       struct tensor *filters, struct request_types *types,
                                       struct atrous_request *out)
{
    struct atrous__jr *r = &ps->r;
    enum atrous_status st;
    bool seen[MEMBER_COUNT] = {false};
    bool more;
    char key[KEY_MAX + 1], text[ATROUS__QUOTE_SIZE];
    size_t key_len;

    atrous__jr_skip_ws(r);
    if (r->p == r->end)
        return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, "",
                                "the request body is empty: expected a JSON object");
    if ((st = open_container(ps, '{', "", "the request body must be a JSON object", &more)))
        return st;
    while (more) {
        int m = 0;
        if ((st = read_key(ps, key, &key_len)))
            return st;
        while (m < MEMBER_COUNT && !key_is(key, key_len, member_names[m]))
            m++;
        atrous__quote(key, key_len, text, sizeof(text));
        if (m == MEMBER_COUNT)
            return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, key,
                                    "unknown field \"%s\" (allowed: " MEMBERS_ALLOWED ")", text);
        if (seen[m])
            return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, key, "duplicate field \"%s\"",
                                    text);
        seen[m] = true;
        if ((st = read_member(ps, (enum member)m, value, filters, types, out)))
            return st;
        if ((st = next_element(ps, '}', &more)))
            return st;
    }
    leave(ps);
    atrous__jr_skip_ws(r);
    if (r->p != r->end)
        return atrous__jr_syntax_error(r, "expected the end of the body after the JSON object");
    for (int m = 0; m < MEMBER_DTYPE; m++)
        if (!seen[m])
            return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, member_names[m],
                                    "missing required field \"%s\"", member_names[m]);
    return ATROUS_OK;
}

/* Rounds a tensor's numbers to its dtype; a finite number that becomes infinite is an error. */
static enum atrous_status round_tensor(struct parser *ps, const struct tensor *t)
{
    if (t->dtype == ATROUS_DTYPE_FLOAT32 || t->count == 0)
        return ATROUS_OK;
    float *data = ps->arena.data + t->offset;
    for (size_t i = 0; i < t->count; i++) {
        const float x = data[i];
        data[i] = atrous_dtype_round(t->dtype, x);
        if (isinf(data[i]) && !isinf(x)) {
            char text[ATROUS__FLOAT_TEXT_MAX + 1];
            text[atrous__float_text(x, text)] = '\0';
            return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, t->name,
                                    "%s: element %zu (%s) is outside the %s range (magnitude "
                                    "up to %g; send Infinity or -Infinity for infinite values)",
                                    t->name, i, text, atrous_dtype_name(t->dtype),
                                    (double)atrous_dtype_max(t->dtype));
        }
    }
    return ATROUS_OK;
}

/*
 * The dtypes once the whole body is read (members may come in any order): a tensor's own
 * "dtype", else the request's, else float32; the output's is "output_dtype", else the value's.
 * Numbers were read as float32 and are now rounded once more, to nearest even, to a 16-bit
 * dtype: the same value as rounding the number's float32 reading directly.
 */
static enum atrous_status settle_dtypes(struct parser *ps, struct tensor *value,
                                        struct tensor *filters, const struct request_types *types,
                                        struct atrous_request *out)
{
    enum atrous_status st;
    const enum atrous_dtype fallback = types->has_dtype ? types->dtype : ATROUS_DTYPE_FLOAT32;
    if (!value->has_dtype)
        value->dtype = fallback;
    if (!filters->has_dtype)
        filters->dtype = fallback;
    if ((st = round_tensor(ps, value)) || (st = round_tensor(ps, filters)))
        return st;
    out->value_dtype = value->dtype;
    out->filters_dtype = filters->dtype;
    out->output_dtype = types->has_output_dtype ? types->output_dtype : value->dtype;
    return ATROUS_OK;
}

enum atrous_status atrous_json_decode_request(const char *body, size_t len,
                                              const struct atrous_decode_limits *limits,
                                              struct atrous_request *out, struct atrous_error *err)
{
    struct tensor value = {.name = "value"}, filters = {.name = "filters"};
    struct request_types types = {.has_dtype = false};
    struct parser ps = {
        .r = {.start = body, .p = body, .end = body + len, .err = err},
        .body_len = len,
        .max_elements = SIZE_MAX,
        .max_depth = ATROUS_JSON_DEFAULT_MAX_DEPTH,
        .err = err,
    };
    enum atrous_status st;

    atrous_request_init(out);
    atrous_error_clear(err);
    if (limits && limits->max_tensor_elements)
        ps.max_elements = limits->max_tensor_elements;
    if (limits && limits->max_depth)
        ps.max_depth = limits->max_depth;
    /* Each number takes at least a byte and a separator; two tensors add alignment padding. */
    ps.arena.bound = len / 2 + 2 * ALIGN_FLOATS;

    if ((st = read_request(&ps, &value, &filters, &types, out)))
        goto out;
    if ((st = settle_dtypes(&ps, &value, &filters, &types, out)))
        goto out;
    out->value_shape = value.shape;
    out->filters_shape = filters.shape;
    out->value = value.count ? ps.arena.data + value.offset : NULL;
    out->filters = filters.count ? ps.arena.data + filters.offset : NULL;
    out->storage = ps.arena.data;
    ps.arena.data = NULL;
out:
    atrous_aligned_free(ps.arena.data);
    if (st != ATROUS_OK)
        atrous_request_release(out);
    return st;
}

/* Longest decimal int64 ("-9223372036854775808") plus a separator. */
#define INT_TEXT_MAX 21

enum atrous_status atrous_json_encode_output(const struct atrous_shape *shape, const float *data,
                                             char **out, size_t *out_len, struct atrous_error *err)
{
    return atrous_json_encode_output_as(shape, data, ATROUS_DTYPE_FLOAT32, NULL, out, out_len, err);
}

enum atrous_status atrous_json_encode_output_as(const struct atrous_shape *shape, const float *data,
                                                enum atrous_dtype dtype, const char *precision,
                                                char **out, size_t *out_len,
                                                struct atrous_error *err)
{
    static const char head[] = "{\"output\":{\"shape\":[";
    static const char dtype_key[] = "],\"dtype\":\"";
    static const char data_key[] = "\",\"data\":[";
    static const char precision_key[] = "]},\"compute_precision\":\"";
    static const char tail[] = "]}}";
    size_t count, cap;
    enum atrous_status st;
    char *buf = NULL, *w;

    *out = NULL;
    *out_len = 0;
    if ((st = atrous_shape_elements(shape, "output", &count, err)))
        return st;
    /* Each float takes at most ATROUS__FLOAT_TEXT_MAX bytes and a comma; the slack lets the last
     * float be written in place without a bounds check per value. */
    if (__builtin_mul_overflow(count, (size_t)ATROUS__FLOAT_TEXT_MAX + 1, &cap) ||
        __builtin_add_overflow(cap,
                               sizeof(head) + sizeof(dtype_key) + sizeof(data_key) +
                                   sizeof(precision_key) + sizeof(tail) + 64 +
                                   (size_t)ATROUS_MAX_RANK * INT_TEXT_MAX + 32,
                               &cap))
        return atrous_error_set(err, ATROUS_TOO_LARGE, "output",
                                "the JSON encoding of %zu floats is larger than memory", count);
    buf = malloc(cap);
    if (buf == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "output",
                                "out of memory allocating %zu bytes for the JSON output", cap);
    w = buf;
    memcpy(w, head, sizeof(head) - 1);
    w += sizeof(head) - 1;
    for (int i = 0; i < shape->rank; i++)
        w += sprintf(w, i ? ",%" PRId64 : "%" PRId64, shape->dims[i]);
    w += sprintf(w, "%s%s%s", dtype_key, atrous_dtype_name(dtype), data_key);
    /* A 16-bit output is the float32 result rounded once to the dtype; its value is written as
     * the float32 it widens to exactly, which reads back to the same 16-bit value. */
    if (dtype == ATROUS_DTYPE_FLOAT32) {
        for (size_t i = 0; i < count; i++) {
            if (i > 0)
                *w++ = ',';
            w += atrous__float_text(data[i], w);
        }
    } else {
        for (size_t i = 0; i < count; i++) {
            if (i > 0)
                *w++ = ',';
            w += atrous__float_text(atrous_dtype_round(dtype, data[i]), w);
        }
    }
    if (precision != NULL) {
        w += sprintf(w, "%s%.8s\"}", precision_key, precision);
        *out_len = (size_t)(w - buf);
    } else {
        memcpy(w, tail, sizeof(tail)); /* with its NUL */
        *out_len = (size_t)(w - buf) + sizeof(tail) - 1;
    }
    *out = buf;
    return ATROUS_OK;
}

char *atrous_json_encode_error(const char *message, const char *code, const char *field,
                               const char *request_id, size_t *out_len)
{
    char *text = NULL;
    struct atrous_jw *w = atrous_jw_create();
    if (w == NULL)
        goto out;
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "error");
    atrous_jw_string(w, message);
    atrous_jw_key(w, "code");
    atrous_jw_string(w, code);
    atrous_jw_key(w, "field");
    atrous_jw_string(w, field && field[0] ? field : NULL);
    atrous_jw_key(w, "request_id");
    atrous_jw_string(w, request_id);
    atrous_jw_object_end(w);
    text = atrous_jw_take(w, out_len);
out:
    atrous_jw_free(w);
    return text;
}
