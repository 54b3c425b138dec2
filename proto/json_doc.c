/*
 * json_doc.c - the lean JSON document: a recursive-descent parser (depth bounded by the caller)
 * over json_reader's scanners, with a fast path for lists of numbers, and the accessors.
 *
 * Values under construction wait on a stack until their container closes; the container then
 * either folds them into one NUMBERS value (every element NUMBERS of one shape: a rectangular
 * nested list) or copies them into the document's arena as its elements. A list whose first
 * element is a number is first scanned as a flat list of numbers without any value per number;
 * only when something else turns up in it is it scanned again element by element.
 */
#include "json_doc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_tensor.h"
#include "wire_text.h"

/* Arena chunks: at least this many bytes each. */
#define CHUNK_MIN ((size_t)64 << 10)
/* First allocation of the float array and of the stacks, in elements. */
#define INITIAL_NUMBERS 1024
#define INITIAL_STACK   64

struct chunk {
    struct chunk *next;
    size_t used, cap;
    size_t pad; /* keeps the data after the header 16-byte aligned */
};

struct atrous__jd {
    const char *start, *end; /* the body */
    struct atrous__jd_value root;
    float *numbers;    /* every number of the body, in order, as float32 */
    size_t count, cap; /* numbers used and allocated */
    size_t *too_large; /* indexes (ascending) of the numbers too large for float32 */
    size_t too_large_count, too_large_cap;
    size_t bound; /* the most numbers the body can hold */
    struct chunk *chunks;
};

/* A member waiting for its object to close; at is its key's byte offset, for messages. */
struct pending_member {
    struct atrous__jd_member m;
    size_t at;
};

struct parser {
    struct atrous__jr r;
    struct atrous__jd *doc;
    size_t max_depth, depth;
    struct atrous__jd_value *values; /* finished values whose container is still open */
    size_t nvalues, values_cap;
    struct pending_member *members;
    size_t nmembers, members_cap;
    struct atrous_error *err;
};

static enum atrous_status no_memory(struct parser *ps)
{
    return atrous_error_set(ps->err, ATROUS_NO_MEMORY, "", "out of memory parsing the JSON body");
}

/* Bump allocation from the document's chunks, 16-byte aligned; freed with the document. */
static void *doc_alloc(struct atrous__jd *doc, size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    struct chunk *c = doc->chunks;
    if (c == NULL || c->cap - c->used < bytes) {
        const size_t cap = bytes > CHUNK_MIN ? bytes : CHUNK_MIN;
        if ((c = malloc(sizeof(*c) + cap)) == NULL)
            return NULL;
        c->next = doc->chunks;
        c->used = 0;
        c->cap = cap;
        doc->chunks = c;
    }
    void *p = (char *)(c + 1) + c->used;
    c->used += bytes;
    return p;
}

/* Grows *items (of size bytes each) so that one more fits. */
static bool grow(void **items, size_t *cap, size_t used, size_t size)
{
    if (used < *cap)
        return true;
    const size_t n = *cap ? *cap * 2 : INITIAL_STACK;
    void *p = realloc(*items, n * size);
    if (p == NULL)
        return false;
    *items = p;
    *cap = n;
    return true;
}

static enum atrous_status push_value(struct parser *ps, const struct atrous__jd_value *v)
{
    if (!grow((void **)&ps->values, &ps->values_cap, ps->nvalues, sizeof(*ps->values)))
        return no_memory(ps);
    ps->values[ps->nvalues++] = *v;
    return ATROUS_OK;
}

/* Opens the container at the cursor and skips the whitespace inside it. */
static enum atrous_status enter(struct parser *ps)
{
    enum atrous_status st = atrous__jr_enter(&ps->r, &ps->depth, ps->max_depth);
    atrous__jr_skip_ws(&ps->r);
    return st;
}

/* A NUMBERS value of rank 0 or 1 whose numbers start at the cursor's text. */
static struct atrous__jd_value numbers_value(struct parser *ps, const char *text, size_t first)
{
    return (struct atrous__jd_value){.kind = ATROUS__JD_NUMBERS,
                                     .size = ps->doc->count - first,
                                     .first = first,
                                     .text = text,
                                     .text_first = first,
                                     .doc = ps->doc};
}

/* Scans the number at the cursor (NaN, Infinity and -Infinity included) into the document's
 * floats. */
static enum atrous_status scan_number(struct parser *ps)
{
    struct atrous__jd *doc = ps->doc;
    struct atrous__jr_number n;
    float f;
    enum atrous_status st = atrous__jr_number(&ps->r, &n);
    if (st != ATROUS_OK)
        return st;
    if (!atrous__jr_number_float(&n, &f)) {
        /* Too large for float32: the readers say so when they meet it (an integer reader
         * rescans the text and may take it). */
        if (!grow((void **)&doc->too_large, &doc->too_large_cap, doc->too_large_count,
                  sizeof(*doc->too_large)))
            return no_memory(ps);
        doc->too_large[doc->too_large_count++] = doc->count;
        f = NAN;
    }
    if (doc->count == doc->cap) {
        /* Each number takes a byte and a separator: bound is never passed. */
        size_t cap = doc->cap ? doc->cap * 2 : INITIAL_NUMBERS;
        if (cap > doc->bound)
            cap = doc->bound;
        float *p = realloc(doc->numbers, cap * sizeof(float));
        if (p == NULL)
            return no_memory(ps);
        doc->numbers = p;
        doc->cap = cap;
    }
    doc->numbers[doc->count++] = f;
    return ATROUS_OK;
}

static enum atrous_status parse_value(struct parser *ps);

/* After an element: consumes ',' (true: more follow) or the closing bracket (false). */
static enum atrous_status next_element(struct parser *ps, char close, bool *more)
{
    struct atrous__jr *r = &ps->r;
    atrous__jr_skip_ws(r);
    *more = atrous__jr_peek_is(r, ',');
    if (*more || atrous__jr_peek_is(r, close)) {
        r->p++;
        atrous__jr_skip_ws(r);
        if (!*more)
            ps->depth--;
        return ATROUS_OK;
    }
    return atrous__jr_syntax_error(r, close == ']' ? "expected ',' or ']' in an array"
                                                   : "expected ',' or '}' after an object member");
}

static bool same_shape(const struct atrous__jd_value *a, const struct atrous__jd_value *b)
{
    return a->rank == b->rank &&
           (a->rank == 0 || memcmp(a->u.dims, b->u.dims, (size_t)a->rank * sizeof(int64_t)) == 0);
}

/* Closes the list that opened at text: its elements are the values from base up. */
static enum atrous_status close_list(struct parser *ps, size_t base, const char *text)
{
    const size_t n = ps->nvalues - base;
    const struct atrous__jd_value *e = ps->values + base;
    bool fold = e[0].kind == ATROUS__JD_NUMBERS && e[0].rank < ATROUS_MAX_RANK;
    for (size_t i = 1; fold && i < n; i++)
        fold = e[i].kind == ATROUS__JD_NUMBERS && same_shape(&e[i], &e[0]);
    struct atrous__jd_value v = {.kind = ATROUS__JD_ARRAY, .size = n, .doc = ps->doc};
    if (fold) {
        /* The elements' numbers are consecutive in the document, so the list is their span. */
        int64_t *dims = doc_alloc(ps->doc, (size_t)(e[0].rank + 1) * sizeof(int64_t));
        if (dims == NULL)
            return no_memory(ps);
        dims[0] = (int64_t)n;
        if (e[0].rank > 0)
            memcpy(dims + 1, e[0].u.dims, (size_t)e[0].rank * sizeof(int64_t));
        v = numbers_value(ps, text, e[0].first);
        v.rank = e[0].rank + 1;
        v.u.dims = dims;
    } else {
        struct atrous__jd_value *items = doc_alloc(ps->doc, n * sizeof(*items));
        if (items == NULL)
            return no_memory(ps);
        memcpy(items, e, n * sizeof(*items));
        v.u.items = items;
    }
    ps->nvalues = base;
    return push_value(ps, &v);
}

/* The fast path: a list of numbers only, scanned straight into the floats. Returns with *done
 * false (and nothing consumed) when an element is not a number. */
static enum atrous_status scan_number_list(struct parser *ps, const char *open, bool *done)
{
    struct atrous__jr *r = &ps->r;
    const char *restart = r->p;
    const size_t first = ps->doc->count;
    enum atrous_status st;
    *done = false;
    for (;;) {
        if ((st = scan_number(ps)))
            return st;
        atrous__jr_skip_ws(r);
        if (atrous__jr_peek_is(r, ',')) {
            r->p++;
            atrous__jr_skip_ws(r);
            if (atrous__jr_peek_kind(r) == ATROUS__JR_NUMBER)
                continue;
            break; /* a mixed list (or a syntax error): the general path reads it */
        }
        if (atrous__jr_peek_is(r, ']')) {
            int64_t *dims = doc_alloc(ps->doc, sizeof(int64_t));
            if (dims == NULL)
                return no_memory(ps);
            r->p++;
            atrous__jr_skip_ws(r);
            ps->depth--;
            struct atrous__jd_value v = numbers_value(ps, open, first);
            dims[0] = (int64_t)v.size;
            v.rank = 1;
            v.u.dims = dims;
            *done = true;
            return push_value(ps, &v);
        }
        return atrous__jr_syntax_error(r, "expected ',' or ']' in an array");
    }
    r->p = restart;
    ps->doc->count = first;
    while (ps->doc->too_large_count > 0 &&
           ps->doc->too_large[ps->doc->too_large_count - 1] >= first)
        ps->doc->too_large_count--;
    return ATROUS_OK;
}

static enum atrous_status parse_array(struct parser *ps)
{
    static const int64_t empty_dims[1] = {0};
    struct atrous__jr *r = &ps->r;
    const char *open = r->p;
    const size_t base = ps->nvalues;
    enum atrous_status st;
    bool more = true;
    if ((st = enter(ps)))
        return st;
    if (atrous__jr_peek_is(r, ']')) {
        /* [] is the empty tensor of shape [0]. */
        struct atrous__jd_value v = numbers_value(ps, open, ps->doc->count);
        v.rank = 1;
        v.u.dims = empty_dims;
        r->p++;
        atrous__jr_skip_ws(r);
        ps->depth--;
        return push_value(ps, &v);
    }
    if (atrous__jr_peek_kind(r) == ATROUS__JR_NUMBER) {
        bool done;
        if ((st = scan_number_list(ps, open, &done)) || done)
            return st;
    }
    while (more) {
        if ((st = parse_value(ps)) || (st = next_element(ps, ']', &more)))
            return st;
    }
    return close_list(ps, base, open);
}

static int compare_members(const void *a, const void *b)
{
    const struct pending_member *x = a, *y = b;
    const int c = strcmp(x->m.key, y->m.key);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* Rejects a key given twice among the pending members from base up (sorting them: they are
 * scratch once copied), naming the first repeat in document order. */
static enum atrous_status check_duplicates(struct parser *ps, size_t base)
{
    struct pending_member *m = ps->members + base;
    const size_t n = ps->nmembers - base;
    const struct pending_member *repeat = NULL;
    qsort(m, n, sizeof(*m), compare_members);
    for (size_t i = 1; i < n; i++)
        if (strcmp(m[i].m.key, m[i - 1].m.key) == 0 && (repeat == NULL || m[i].at < repeat->at))
            repeat = &m[i];
    if (repeat == NULL)
        return ATROUS_OK;
    char text[ATROUS__QUOTE_SIZE];
    atrous__quote(repeat->m.key, strlen(repeat->m.key), text, sizeof(text));
    return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, "",
                            "invalid JSON at byte %zu: duplicate key \"%s\"", repeat->at, text);
}

/* Scans the string at the cursor into the arena: *out NUL-terminated. */
static enum atrous_status parse_string(struct parser *ps, const char **out, size_t *len)
{
    struct atrous__jr *r = &ps->r;
    const char *at = r->p;
    char probe[1];
    enum atrous_status st;
    /* First measure (and validate), then decode into a buffer of the right size. */
    if ((st = atrous__jr_string(r, probe, 0, len)))
        return st;
    char *s = doc_alloc(ps->doc, *len + 1);
    if (s == NULL)
        return no_memory(ps);
    r->p = at;
    if ((st = atrous__jr_string(r, s, *len, len)))
        return st;
    if (memchr(s, '\0', *len) != NULL)
        return atrous_error_set(ps->err, ATROUS_INVALID_ARGUMENT, "",
                                "invalid JSON at byte %zu: strings may not hold \\u0000",
                                (size_t)(at - r->start));
    *out = s;
    return ATROUS_OK;
}

static enum atrous_status parse_object(struct parser *ps)
{
    struct atrous__jr *r = &ps->r;
    const size_t base = ps->nmembers;
    enum atrous_status st;
    bool more;
    if ((st = enter(ps)))
        return st;
    more = !atrous__jr_peek_is(r, '}');
    if (!more) {
        r->p++;
        atrous__jr_skip_ws(r);
        ps->depth--;
    }
    while (more) {
        struct pending_member pm = {.at = atrous__jr_offset(r)};
        size_t len;
        if (!atrous__jr_peek_is(r, '"'))
            return atrous__jr_syntax_error(r, "expected a member name (a string)");
        if ((st = parse_string(ps, &pm.m.key, &len)))
            return st;
        atrous__jr_skip_ws(r);
        if ((st = atrous__jr_expect(r, ':', "expected ':' after a member name")))
            return st;
        atrous__jr_skip_ws(r);
        if ((st = parse_value(ps)))
            return st;
        pm.m.value = ps->values[--ps->nvalues];
        if (!grow((void **)&ps->members, &ps->members_cap, ps->nmembers, sizeof(*ps->members)))
            return no_memory(ps);
        ps->members[ps->nmembers++] = pm;
        if ((st = next_element(ps, '}', &more)))
            return st;
    }
    const size_t n = ps->nmembers - base;
    struct atrous__jd_member *members = doc_alloc(ps->doc, n * sizeof(*members));
    if (members == NULL)
        return no_memory(ps);
    for (size_t i = 0; i < n; i++)
        members[i] = ps->members[base + i].m;
    if (n > 1 && (st = check_duplicates(ps, base)))
        return st;
    ps->nmembers = base;
    const struct atrous__jd_value v = {
        .kind = ATROUS__JD_OBJECT, .size = n, .u.members = members, .doc = ps->doc};
    return push_value(ps, &v);
}

/* Parses the value at the cursor (whitespace before it skipped) and pushes it; the cursor
 * ends past the whitespace after it. */
static enum atrous_status parse_value(struct parser *ps)
{
    struct atrous__jr *r = &ps->r;
    struct atrous__jd_value v = {.doc = ps->doc};
    enum atrous_status st;
    const char *at = r->p;
    switch (atrous__jr_peek_kind(r)) {
    case ATROUS__JR_OBJECT:
        return parse_object(ps);
    case ATROUS__JR_ARRAY:
        return parse_array(ps);
    case ATROUS__JR_STRING:
        v.kind = ATROUS__JD_STRING;
        if ((st = parse_string(ps, &v.u.string, &v.size)))
            return st;
        break;
    case ATROUS__JR_NUMBER:
        if ((st = scan_number(ps)))
            return st;
        v = numbers_value(ps, at, ps->doc->count - 1);
        break;
    case ATROUS__JR_BOOLEAN:
        v.kind = ATROUS__JD_BOOLEAN;
        v.size = *at == 't';
        r->p += v.size ? 4 : 5;
        break;
    case ATROUS__JR_NULL:
        v.kind = ATROUS__JD_NULL;
        r->p += 4;
        break;
    case ATROUS__JR_INVALID:
        return atrous__jr_syntax_error(r, "expected a JSON value");
    }
    atrous__jr_skip_ws(r);
    return push_value(ps, &v);
}

enum atrous_status atrous__jd_parse(const char *text, size_t len, size_t max_depth,
                                    struct atrous__jd **out, struct atrous_error *err)
{
    struct atrous__jd *doc = calloc(1, sizeof(*doc));
    struct parser ps = {
        .r = {.start = text, .p = text, .end = text + len, .err = err},
        .doc = doc,
        .max_depth = max_depth,
        .err = err,
    };
    enum atrous_status st = ATROUS_OK;
    *out = NULL;
    if (doc == NULL) {
        st = no_memory(&ps);
        goto out;
    }
    doc->start = text;
    doc->end = text + len;
    doc->bound = len / 2 + 1;
    atrous__jr_skip_ws(&ps.r);
    if ((st = parse_value(&ps)))
        goto out;
    if (ps.r.p != ps.r.end) {
        st = atrous__jr_syntax_error(&ps.r, "expected the end of the body after the JSON value");
        goto out;
    }
    doc->root = ps.values[0];
    *out = doc;
    doc = NULL;
out:
    free(ps.values);
    free(ps.members);
    atrous__jd_free(doc);
    return st;
}

void atrous__jd_free(struct atrous__jd *doc)
{
    if (doc == NULL)
        return;
    while (doc->chunks != NULL) {
        struct chunk *next = doc->chunks->next;
        free(doc->chunks);
        doc->chunks = next;
    }
    free(doc->numbers);
    free(doc->too_large);
    free(doc);
}

const struct atrous__jd_value *atrous__jd_root(const struct atrous__jd *doc)
{
    return &doc->root;
}

const struct atrous__jd_value *atrous__jd_get(const struct atrous__jd_value *obj, const char *key)
{
    if (obj == NULL || obj->kind != ATROUS__JD_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->size; i++)
        if (strcmp(obj->u.members[i].key, key) == 0)
            return &obj->u.members[i].value;
    return NULL;
}

const char *atrous__jd_unknown_key(const struct atrous__jd_value *obj, const char *const *names)
{
    for (size_t i = 0; obj != NULL && obj->kind == ATROUS__JD_OBJECT && i < obj->size; i++) {
        const char *key = obj->u.members[i].key;
        if (!atrous__name_listed(key, names))
            return key;
    }
    return NULL;
}

const char *atrous__jd_kind_name(const struct atrous__jd_value *v)
{
    if (v == NULL)
        return "nothing";
    switch (v->kind) {
    case ATROUS__JD_OBJECT:
        return "an object";
    case ATROUS__JD_ARRAY:
        return "a list";
    case ATROUS__JD_STRING:
        return "a string";
    case ATROUS__JD_NUMBERS:
        return v->rank == 0 ? "a number" : "a list";
    case ATROUS__JD_BOOLEAN:
        return "a boolean";
    case ATROUS__JD_NULL:
        break;
    }
    return "null";
}

bool atrous__jd_is_list(const struct atrous__jd_value *v)
{
    return v != NULL &&
           (v->kind == ATROUS__JD_ARRAY || (v->kind == ATROUS__JD_NUMBERS && v->rank > 0));
}

size_t atrous__jd_list_size(const struct atrous__jd_value *v)
{
    if (!atrous__jd_is_list(v))
        return 0;
    return v->kind == ATROUS__JD_ARRAY ? v->size : (size_t)v->u.dims[0];
}

bool atrous__jd_list_at(const struct atrous__jd_value *v, size_t i, struct atrous__jd_value *out)
{
    if (i >= atrous__jd_list_size(v))
        return false;
    if (v->kind == ATROUS__JD_ARRAY) {
        *out = v->u.items[i];
        return true;
    }
    /* An element of a rectangular list: the same text, the numbers of row i. out may be v. */
    struct atrous__jd_value e = *v;
    e.size = v->size / (size_t)v->u.dims[0];
    e.rank = v->rank - 1;
    e.u.dims = v->u.dims + 1;
    e.first = v->first + i * e.size;
    *out = e;
    return true;
}

const char *atrous__jd_string(const struct atrous__jd_value *v)
{
    return v != NULL && v->kind == ATROUS__JD_STRING ? v->u.string : NULL;
}

bool atrous__jd_boolean(const struct atrous__jd_value *v, bool *out)
{
    if (v == NULL || v->kind != ATROUS__JD_BOOLEAN)
        return false;
    *out = v->size != 0;
    return true;
}

bool atrous__jd_integer(const struct atrous__jd_value *v, int64_t *out)
{
    struct atrous__jd_numbers it;
    struct atrous__jr_number n;
    if (v == NULL || v->kind != ATROUS__JD_NUMBERS || v->rank != 0)
        return false;
    atrous__jd_numbers_begin(v, &it);
    if (!atrous__jd_numbers_next(&it, &n))
        return false;
    for (size_t i = 0; i < n.len; i++)
        if (n.text[i] == '.' || n.text[i] == 'e' || n.text[i] == 'E')
            return false;
    return atrous__jr_number_int64(&n, out) == ATROUS__JR_INT_OK;
}

const float *atrous__jd_floats(const struct atrous__jd_value *v)
{
    return v->doc->numbers ? v->doc->numbers + v->first : NULL; /* NULL: the body has none */
}

bool atrous__jd_too_large(const struct atrous__jd_value *v, size_t *index)
{
    const struct atrous__jd *doc = v->doc;
    size_t lo = 0, hi = doc->too_large_count;
    /* The first too-large index at or after v->first (the list is ascending). */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (doc->too_large[mid] < v->first)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == doc->too_large_count || doc->too_large[lo] >= v->first + v->size)
        return false;
    *index = doc->too_large[lo] - v->first;
    return true;
}

void atrous__jd_numbers_begin(const struct atrous__jd_value *v, struct atrous__jd_numbers *it)
{
    it->r =
        (struct atrous__jr){.start = v->doc->start, .p = v->text, .end = v->doc->end, .err = NULL};
    it->skip = v->first - v->text_first;
    it->left = v->size;
}

bool atrous__jd_numbers_next(struct atrous__jd_numbers *it, struct atrous__jr_number *out)
{
    struct atrous__jr *r = &it->r;
    while (it->left > 0) {
        /* The text was parsed: only brackets, commas and whitespace lie between numbers. */
        while (r->p < r->end && (*r->p == '[' || *r->p == ']' || *r->p == ',' || *r->p == ' ' ||
                                 *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
            r->p++;
        if (atrous__jr_number(r, out) != ATROUS_OK)
            return false;
        if (it->skip == 0) {
            it->left--;
            return true;
        }
        it->skip--;
    }
    return false;
}
