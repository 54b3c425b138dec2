/*
 * test_json_doc.c - proto/json_doc.h, the lean document of the KServe v2 and TF Serving
 * decoders: rectangular lists of numbers folded into one value (flat and nested), ragged and
 * mixed lists kept element by element, the grammar (duplicate keys, \u0000, depth; the NaN,
 * Infinity and -Infinity tokens taken, and told apart from numbers too large for float32),
 * float32 conversion at extreme exponents, exact integers at the int64 edges, whitespace
 * anywhere, and every truncation of a body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_doc.h"

static struct atrous__jd *parse_ok(const char *text)
{
    struct atrous__jd *doc = NULL;
    struct atrous_error err;
    if (atrous__jd_parse(text, strlen(text), 64, &doc, &err) != ATROUS_OK)
        fail_msg("%s: %s", text, err.message);
    return doc;
}

/* Parses text, which must fail as invalid JSON with field "" and a message holding expect. */
static void parse_fails(const char *text, size_t len, const char *expect)
{
    struct atrous__jd *doc = NULL;
    struct atrous_error err;
    enum atrous_status st = atrous__jd_parse(text, len, 64, &doc, &err);
    if (st != ATROUS_INVALID_ARGUMENT)
        fail_msg("%.*s: status %d, expected a syntax error", (int)len, text, st);
    assert_null(doc);
    assert_string_equal(err.field, "");
    if (strstr(err.message, "invalid JSON at byte ") != err.message ||
        strstr(err.message, expect) == NULL)
        fail_msg("%.*s: \"%s\" lacks \"%s\"", (int)len, text, err.message, expect);
}

/* The exact integers of NUMBERS v, re-scanned from the text. */
static size_t exact_ints(const struct atrous__jd_value *v, int64_t *out, size_t cap)
{
    struct atrous__jd_numbers it;
    struct atrous__jr_number n;
    size_t count = 0;
    atrous__jd_numbers_begin(v, &it);
    while (count < cap && atrous__jd_numbers_next(&it, &n))
        assert_int_equal(atrous__jr_number_int64(&n, &out[count++]), ATROUS__JR_INT_OK);
    return count;
}

static void test_json_doc_folds_flat_and_nested_lists_of_numbers(void **state)
{
    (void)state;
    struct atrous__jd *doc = parse_ok("{\"flat\": [1, 2.5, -3e0], \"nested\": [[[1, 2], [3, 4]], "
                                      "[[5, 6], [7, 8]]], \"empty\": [], \"empties\": [[], []]}");
    const struct atrous__jd_value *flat = atrous__jd_get(atrous__jd_root(doc), "flat");
    assert_int_equal(flat->kind, ATROUS__JD_NUMBERS);
    assert_int_equal(flat->rank, 1);
    assert_int_equal(flat->size, 3);
    assert_true(atrous__jd_floats(flat)[1] == 2.5f && atrous__jd_floats(flat)[2] == -3.0f);

    const struct atrous__jd_value *nested = atrous__jd_get(atrous__jd_root(doc), "nested");
    assert_int_equal(nested->kind, ATROUS__JD_NUMBERS);
    assert_int_equal(nested->rank, 3);
    assert_int_equal(nested->size, 8);
    for (int i = 0; i < 3; i++)
        assert_int_equal(nested->u.dims[i], 2);
    for (int i = 0; i < 8; i++)
        assert_true(atrous__jd_floats(nested)[i] == (float)(i + 1));
    /* An element of a folded list is a view: its own numbers, and its own text position. */
    struct atrous__jd_value row, cell;
    int64_t ints[8];
    assert_true(atrous__jd_list_at(nested, 1, &row));
    assert_int_equal(row.rank, 2);
    assert_true(atrous__jd_floats(&row)[0] == 5.0f);
    assert_true(atrous__jd_list_at(&row, 1, &cell));
    assert_int_equal(exact_ints(&cell, ints, 8), 2);
    assert_int_equal(ints[0], 7);
    assert_int_equal(ints[1], 8);
    assert_false(atrous__jd_list_at(nested, 2, &row));

    const struct atrous__jd_value *empty = atrous__jd_get(atrous__jd_root(doc), "empty");
    assert_true(atrous__jd_is_list(empty) && atrous__jd_list_size(empty) == 0);
    const struct atrous__jd_value *empties = atrous__jd_get(atrous__jd_root(doc), "empties");
    assert_int_equal(empties->rank, 2);
    assert_int_equal(empties->u.dims[0], 2);
    assert_int_equal(empties->u.dims[1], 0);
    assert_int_equal(empties->size, 0);
    atrous__jd_free(doc);
}

static void test_json_doc_keeps_ragged_and_mixed_lists_element_by_element(void **state)
{
    (void)state;
    /* Numbers before a string are scanned twice (fast path, then element by element): the
     * floats that follow must still line up with their values. */
    struct atrous__jd *doc =
        parse_ok("[[1, 2], [3], [4, \"x\", [5, 6]], [[7]], 8, true, null, {\"k\": [9, 10]}]");
    const struct atrous__jd_value *root = atrous__jd_root(doc);
    struct atrous__jd_value e, inner;
    assert_int_equal(root->kind, ATROUS__JD_ARRAY);
    assert_int_equal(atrous__jd_list_size(root), 8);
    assert_true(atrous__jd_list_at(root, 1, &e));
    assert_int_equal(e.kind, ATROUS__JD_NUMBERS);
    assert_true(atrous__jd_floats(&e)[0] == 3.0f);
    assert_true(atrous__jd_list_at(root, 2, &e));
    assert_int_equal(e.kind, ATROUS__JD_ARRAY);
    assert_true(atrous__jd_list_at(&e, 0, &inner) && atrous__jd_floats(&inner)[0] == 4.0f);
    assert_true(atrous__jd_list_at(&e, 1, &inner));
    assert_string_equal(atrous__jd_string(&inner), "x");
    assert_true(atrous__jd_list_at(&e, 2, &inner) && atrous__jd_floats(&inner)[1] == 6.0f);
    assert_true(atrous__jd_list_at(root, 3, &e) && e.rank == 2 && atrous__jd_floats(&e)[0] == 7);
    assert_true(atrous__jd_list_at(root, 4, &e));
    assert_string_equal(atrous__jd_kind_name(&e), "a number");
    assert_true(atrous__jd_floats(&e)[0] == 8.0f);
    assert_true(atrous__jd_list_at(root, 5, &e));
    bool b = false;
    assert_true(atrous__jd_boolean(&e, &b) && b);
    assert_true(atrous__jd_list_at(root, 6, &e));
    assert_string_equal(atrous__jd_kind_name(&e), "null");
    assert_true(atrous__jd_list_at(root, 7, &e));
    const struct atrous__jd_value *k = atrous__jd_get(&e, "k");
    assert_true(k != NULL && atrous__jd_floats(k)[1] == 10.0f);
    atrous__jd_free(doc);
    /* Empty containers (the fuzzer's first finding: no keys to sort in {}). */
    doc = parse_ok("{\"o\": {}, \"l\": [{}, []]}");
    assert_int_equal(atrous__jd_get(atrous__jd_root(doc), "o")->size, 0);
    atrous__jd_free(doc);
}

static void test_json_doc_is_strict_json(void **state)
{
    (void)state;
    static const struct {
        const char *text, *expect;
    } bad[] = {
        {"", "expected a JSON value, got the end of the body"},
        {"  ", "expected a JSON value"},
        {"[nan]", "expected a JSON value"},
        {"[-NaN]", "expected a digit or Infinity after '-'"},
        {"[Inf]", "expected a number"},
        {"[infinity]", "expected a JSON value"},
        {"{\"a\": 1, \"b\": 2, \"a\": 3}", "byte 17: duplicate key \"a\""},
        {"{\"a\\u0000b\": 1}", "\\u0000"},
        {"[\"a\\u0000\"]", "\\u0000"},
        {"[1, 2,]", "expected a JSON value"},
        {"[1 2]", "expected ',' or ']'"},
        {"[01]", "expected ',' or ']'"},
        {"[1.]", "expected a digit after the decimal point"},
        {"[-]", "expected a digit or Infinity"},
        {"{\"a\" 1}", "expected ':'"},
        {"{1: 2}", "expected a member name"},
        {"[1] x", "expected the end of the body"},
        {"[\"\xC3\x28\"]", "UTF-8"},
        {"[tru]", "expected a JSON value"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        parse_fails(bad[i].text, strlen(bad[i].text), bad[i].expect);
    /* Many keys: the duplicate check sorts rather than compares every pair. */
    char big[64 * 1024];
    size_t n = (size_t)sprintf(big, "{");
    for (int i = 0; i < 3000; i++)
        n += (size_t)sprintf(big + n, "\"k%d\": %d, ", i, i);
    sprintf(big + n, "\"k1234\": 0}");
    parse_fails(big, strlen(big), "duplicate key \"k1234\"");
    big[n] = '\0';
    sprintf(big + n, "\"last\": 0}");
    atrous__jd_free(parse_ok(big));
}

static void test_json_doc_bounds_nesting(void **state)
{
    (void)state;
    enum { DEEP = 100000 };
    char *text = malloc(2 * DEEP + 2);
    /* 64 levels are fine, 65 are not; 100000 fail the same way, without deep recursion. */
    for (int depth = 64; depth <= 65; depth++) {
        memset(text, '[', (size_t)depth);
        memset(text + depth, ']', (size_t)depth);
        text[2 * depth] = '\0';
        if (depth == 64) {
            struct atrous__jd *doc = parse_ok(text);
            /* [[...[]...]]: a rectangular list of 64 levels is past ATROUS_MAX_RANK, so the
             * levels above 8 are general lists. */
            assert_true(atrous__jd_is_list(atrous__jd_root(doc)));
            atrous__jd_free(doc);
        } else {
            parse_fails(text, strlen(text), "byte 64: nesting deeper than 64 levels");
        }
    }
    memset(text, '[', DEEP);
    parse_fails(text, DEEP, "nesting deeper than 64 levels");
    for (int i = 0; i < DEEP; i++)
        memcpy(text + 2 * i, "{\"", 2);
    parse_fails(text, 2 * DEEP, "");
    free(text);
}

static void test_json_doc_converts_extreme_exponents_to_float32(void **state)
{
    (void)state;
    struct atrous__jd *doc =
        parse_ok("[3.4028235e38, 3.40282356e38, 3.4028236e38, 1e39, 1e400, -1e400, 1e-45, 8e-46, "
                 "7e-46, 1e-400, 0e999999999999, -0.0, -0, 0.000000000000000000000000000001e30, "
                 "100000000000000000000000000000000000000000000000000e-50]");
    const float *f = atrous__jd_floats(atrous__jd_root(doc));
    assert_true(f[0] == FLT_MAX);
    assert_true(f[1] == FLT_MAX); /* under FLT_MAX + half an ulp: rounds down */
    assert_true(isnan(f[2]));     /* past it: too large for float32, marked */
    assert_true(isnan(f[3]) && isnan(f[4]) && isnan(f[5]));
    size_t first;
    assert_true(atrous__jd_too_large(atrous__jd_root(doc), &first));
    assert_int_equal(first, 2);
    assert_true(f[6] == 0x1p-149f); /* the smallest subnormal */
    assert_true(f[7] == 0x1p-149f); /* over half of it */
    assert_true(f[8] == 0.0f && f[9] == 0.0f && f[10] == 0.0f);
    assert_true(f[11] == 0.0f && signbit(f[11]) && signbit(f[12]));
    assert_true(f[13] == 1.0f && f[14] == 1.0f);
    atrous__jd_free(doc);
}

/* The tokens TF Serving documents and atrousd writes are numbers; a number too large for
 * float32 is told apart from a NaN token, also after a list is read a second time. */
static void test_json_doc_reads_nan_and_infinity_tokens(void **state)
{
    (void)state;
    struct atrous__jd *doc = parse_ok("[NaN, Infinity, -Infinity, 1e39, -0.5, NaN]");
    const struct atrous__jd_value *root = atrous__jd_root(doc);
    assert_int_equal(root->kind, ATROUS__JD_NUMBERS);
    assert_int_equal(root->size, 6);
    const float *f = atrous__jd_floats(root);
    assert_true(isnan(f[0]) && isnan(f[5]));
    assert_true(isinf(f[1]) && f[1] > 0);
    assert_true(isinf(f[2]) && f[2] < 0);
    assert_true(f[4] == -0.5f);
    size_t at;
    assert_true(atrous__jd_too_large(root, &at));
    assert_int_equal(at, 3); /* 1e39, not the NaN tokens */
    struct atrous__jd_value e;
    assert_true(atrous__jd_list_at(root, 5, &e));
    assert_false(atrous__jd_too_large(&e, &at));
    int64_t i;
    assert_true(atrous__jd_list_at(root, 0, &e));
    assert_false(atrous__jd_integer(&e, &i));
    atrous__jd_free(doc);
    /* Nested lists fold with the tokens in them; rows are views of the same numbers. */
    doc = parse_ok("{\"v\": [[NaN, 1], [2, -Infinity]], \"w\": [3, 4e40]}");
    const struct atrous__jd_value *v = atrous__jd_get(atrous__jd_root(doc), "v");
    assert_int_equal(v->kind, ATROUS__JD_NUMBERS);
    assert_int_equal(v->rank, 2);
    assert_false(atrous__jd_too_large(v, &at));
    const struct atrous__jd_value *w = atrous__jd_get(atrous__jd_root(doc), "w");
    assert_true(atrous__jd_too_large(w, &at));
    assert_int_equal(at, 1);
    atrous__jd_free(doc);
    /* A list first scanned as numbers, then element by element: its too-large number is
     * counted once, at its place. */
    doc = parse_ok("[1e39, NaN, \"x\", [5e38]]");
    root = atrous__jd_root(doc);
    assert_int_equal(root->kind, ATROUS__JD_ARRAY);
    assert_true(atrous__jd_list_at(root, 0, &e));
    assert_true(atrous__jd_too_large(&e, &at));
    assert_int_equal(at, 0);
    assert_true(atrous__jd_list_at(root, 1, &e));
    assert_false(atrous__jd_too_large(&e, &at));
    assert_true(atrous__jd_list_at(root, 3, &e));
    assert_true(atrous__jd_too_large(&e, &at));
    assert_int_equal(at, 0);
    atrous__jd_free(doc);
}

static void test_json_doc_reads_integers_exactly_at_the_int64_edges(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool ok;
        int64_t value;
    } cases[] = {
        {"9223372036854775807", true, INT64_MAX},
        {"-9223372036854775808", true, INT64_MIN},
        {"9007199254740993", true, 9007199254740993LL}, /* not a double */
        {"-0", true, 0},
        {"9223372036854775808", false, 0},
        {"-9223372036854775809", false, 0},
        {"99999999999999999999999", false, 0},
        {"1.0", false, 0}, /* the envelope's integers are integer literals, as in jansson */
        {"1e2", false, 0},
        {"\"1\"", false, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct atrous__jd *doc = parse_ok(cases[i].text);
        int64_t v = -1;
        bool ok = atrous__jd_integer(atrous__jd_root(doc), &v);
        if (ok != cases[i].ok || (ok && v != cases[i].value))
            fail_msg("%s: %s %" PRId64, cases[i].text, ok ? "read" : "refused", v);
        atrous__jd_free(doc);
    }
    /* Inside a list the text is re-scanned, so every element is exact too. */
    struct atrous__jd *doc = parse_ok("[[9223372036854775807, -9223372036854775808], [1e2, 0]]");
    int64_t ints[4];
    assert_int_equal(exact_ints(atrous__jd_root(doc), ints, 4), 4);
    assert_true(ints[0] == INT64_MAX && ints[1] == INT64_MIN && ints[2] == 100 && ints[3] == 0);
    atrous__jd_free(doc);
}

static void test_json_doc_takes_whitespace_anywhere_between_tokens(void **state)
{
    (void)state;
    struct atrous__jd *doc = parse_ok(" \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ \t\r\n[ 1 \t\r\n, \n2 "
                                      "] \t, \r\n[3,4\t]\n] \r, \"b\"\n:\ttrue\n} \t\r\n");
    const struct atrous__jd_value *a = atrous__jd_get(atrous__jd_root(doc), "a");
    assert_int_equal(a->kind, ATROUS__JD_NUMBERS);
    assert_int_equal(a->rank, 2);
    int64_t ints[4];
    assert_int_equal(exact_ints(a, ints, 4), 4);
    assert_true(ints[0] == 1 && ints[3] == 4);
    atrous__jd_free(doc);
}

static void test_json_doc_rejects_every_truncation(void **state)
{
    (void)state;
    const char *text = "{\"inputs\": [{\"name\": \"v\\u00e9\", \"shape\": [2, 2], \"data\": "
                       "[[1.5e-3, -2], [3, 4E+2]], \"p\": {\"t\": true, \"f\": false, \"n\": "
                       "null}}, [\"x\", 1, [2]]]}";
    const size_t len = strlen(text);
    for (size_t cut = 0; cut < len; cut++) {
        /* Its own allocation, so that ASan sees any read past the cut. */
        char *prefix = malloc(cut ? cut : 1);
        memcpy(prefix, text, cut);
        parse_fails(prefix, cut, "");
        free(prefix);
    }
    atrous__jd_free(parse_ok(text));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_doc_folds_flat_and_nested_lists_of_numbers),
        cmocka_unit_test(test_json_doc_keeps_ragged_and_mixed_lists_element_by_element),
        cmocka_unit_test(test_json_doc_is_strict_json),
        cmocka_unit_test(test_json_doc_bounds_nesting),
        cmocka_unit_test(test_json_doc_converts_extreme_exponents_to_float32),
        cmocka_unit_test(test_json_doc_reads_nan_and_infinity_tokens),
        cmocka_unit_test(test_json_doc_reads_integers_exactly_at_the_int64_edges),
        cmocka_unit_test(test_json_doc_takes_whitespace_anywhere_between_tokens),
        cmocka_unit_test(test_json_doc_rejects_every_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
