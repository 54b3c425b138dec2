/*
 * test_json_writer.c - proto/atrous_json_writer.h: commas in nested containers, RFC 8259
 * escaping, ill-formed UTF-8 replaced, every number kind, and the buffer hand-over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_json_writer.h"

/* Takes the writer's text, compares it with want, and frees it. */
static void assert_text(struct atrous_jw *w, const char *want)
{
    size_t len = 0;
    assert_false(atrous_jw_failed(w));
    char *text = atrous_jw_take(w, &len);
    assert_non_null(text);
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));
    free(text);
}

/* The text of one string value. */
static void assert_string_text(const char *s, const char *want)
{
    struct atrous_jw *w = atrous_jw_create();
    assert_non_null(w);
    atrous_jw_string(w, s);
    assert_text(w, want);
    atrous_jw_free(w);
}

static void test_jw_places_commas_in_nested_containers(void **state)
{
    struct atrous_jw *w = atrous_jw_create();
    (void)state;
    assert_non_null(w);
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "status");
    atrous_jw_string(w, "ok");
    atrous_jw_key(w, "threads");
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "io");
    atrous_jw_int(w, 2);
    atrous_jw_key(w, "compute");
    atrous_jw_int(w, 1);
    atrous_jw_object_end(w);
    atrous_jw_key(w, "empty");
    atrous_jw_object_begin(w);
    atrous_jw_object_end(w);
    atrous_jw_key(w, "list");
    atrous_jw_array_begin(w);
    atrous_jw_array_begin(w);
    atrous_jw_array_end(w);
    atrous_jw_array_begin(w);
    atrous_jw_int(w, 1);
    atrous_jw_int(w, 2);
    atrous_jw_array_end(w);
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "a");
    atrous_jw_null(w);
    atrous_jw_object_end(w);
    atrous_jw_bool(w, true);
    atrous_jw_bool(w, false);
    atrous_jw_array_end(w);
    atrous_jw_object_end(w);
    assert_text(w, "{\"status\":\"ok\",\"threads\":{\"io\":2,\"compute\":1},\"empty\":{},"
                   "\"list\":[[],[1,2],{\"a\":null},true,false]}");
    atrous_jw_free(w);
}

static void test_jw_escapes_strings_per_rfc8259(void **state)
{
    (void)state;
    assert_string_text("plain", "\"plain\"");
    assert_string_text("", "\"\"");
    assert_string_text("q\"b\\s/", "\"q\\\"b\\\\s/\"");
    assert_string_text("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    assert_string_text("\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"");
    /* Well-formed UTF-8 passes through unchanged, up to four bytes. */
    assert_string_text("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
                       "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* Keys are escaped the same way. */
    struct atrous_jw *w = atrous_jw_create();
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "a\"b\n");
    atrous_jw_int(w, 1);
    atrous_jw_object_end(w);
    assert_text(w, "{\"a\\\"b\\n\":1}");
    atrous_jw_free(w);
}

static void test_jw_replaces_ill_formed_utf8_with_u_fffd(void **state)
{
    (void)state;
#define FFFD "\xef\xbf\xbd"
    assert_string_text("a\xff"
                       "b",
                       "\"a" FFFD "b\"");
    assert_string_text("\x80\x80", "\"" FFFD FFFD "\"");          /* stray continuations */
    assert_string_text("\xc0\xaf", "\"" FFFD FFFD "\"");          /* overlong lead, then stray */
    assert_string_text("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\""); /* encoded surrogate */
    assert_string_text("\xe2\x82"
                       "x",
                       "\"" FFFD "x\"");                /* truncated: one maximal part */
    assert_string_text("\xf0\x9f\x98", "\"" FFFD "\""); /* truncated at the end */
    assert_string_text("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""); /* past U+10FFFF */
#undef FFFD
}

static void test_jw_writes_every_number_kind(void **state)
{
    struct atrous_jw *w = atrous_jw_create();
    (void)state;
    atrous_jw_array_begin(w);
    atrous_jw_int(w, INT64_MIN);
    atrous_jw_int(w, INT64_MAX);
    atrous_jw_int(w, 0);
    atrous_jw_uint(w, UINT64_MAX);
    atrous_jw_double(w, 0.1);
    atrous_jw_double(w, 1.0 / 3.0);
    atrous_jw_double(w, 1e300);
    atrous_jw_double(w, -2.5);
    atrous_jw_double(w, NAN);
    atrous_jw_double(w, INFINITY);
    atrous_jw_float(w, 0.1f);
    atrous_jw_float(w, FLT_MAX);
    atrous_jw_float(w, NAN);
    atrous_jw_float(w, -INFINITY);
    atrous_jw_array_end(w);
    assert_text(w, "[-9223372036854775808,9223372036854775807,0,18446744073709551615,0.1,"
                   "0.3333333333333333,1e+300,-2.5,null,null,0.1,3.4028235e38,NaN,-Infinity]");
    atrous_jw_free(w);
}

static void test_jw_null_string_writes_null(void **state)
{
    struct atrous_jw *w = atrous_jw_create();
    (void)state;
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "field");
    atrous_jw_string(w, NULL);
    atrous_jw_key(w, "after");
    atrous_jw_string(w, "x");
    atrous_jw_object_end(w);
    assert_text(w, "{\"field\":null,\"after\":\"x\"}");
    atrous_jw_free(w);
}

static void test_jw_take_hands_over_and_leaves_the_writer_reusable(void **state)
{
    struct atrous_jw *w = atrous_jw_create();
    size_t len = 99;
    (void)state;
    /* Nothing written: an empty string, not NULL. */
    char *text = atrous_jw_take(w, &len);
    assert_non_null(text);
    assert_string_equal(text, "");
    assert_int_equal(len, 0);
    free(text);
    atrous_jw_array_begin(w);
    atrous_jw_int(w, 1);
    text = atrous_jw_take(w, NULL); /* taken mid-document: the writer starts over */
    assert_string_equal(text, "[1");
    free(text);
    atrous_jw_array_begin(w);
    atrous_jw_int(w, 2);
    atrous_jw_array_end(w);
    assert_text(w, "[2]");
    atrous_jw_free(w);
    atrous_jw_free(NULL);
}

/* A document far larger than the first buffer, read back by jansson. */
static void test_jw_grows_to_large_documents_that_parse(void **state)
{
    enum { COUNT = 20000 };
    struct atrous_jw *w = atrous_jw_create();
    json_error_t jerr;
    size_t len;
    (void)state;
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "values");
    atrous_jw_array_begin(w);
    for (int i = 0; i < COUNT; i++) {
        atrous_jw_object_begin(w);
        atrous_jw_key(w, "i");
        atrous_jw_int(w, i);
        atrous_jw_key(w, "s");
        atrous_jw_string(w, "\"\x01\xc3\xa9");
        atrous_jw_object_end(w);
    }
    atrous_jw_array_end(w);
    atrous_jw_object_end(w);
    assert_false(atrous_jw_failed(w));
    char *text = atrous_jw_take(w, &len);
    json_t *doc = json_loadb(text, len, 0, &jerr);
    if (doc == NULL)
        fail_msg("jansson: %s at %d", jerr.text, jerr.position);
    json_t *values = json_object_get(doc, "values");
    assert_int_equal(json_array_size(values), COUNT);
    json_t *last = json_array_get(values, COUNT - 1);
    assert_int_equal(json_integer_value(json_object_get(last, "i")), COUNT - 1);
    assert_string_equal(json_string_value(json_object_get(last, "s")), "\"\x01\xc3\xa9");
    json_decref(doc);
    free(text);
    atrous_jw_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jw_places_commas_in_nested_containers),
        cmocka_unit_test(test_jw_escapes_strings_per_rfc8259),
        cmocka_unit_test(test_jw_replaces_ill_formed_utf8_with_u_fffd),
        cmocka_unit_test(test_jw_writes_every_number_kind),
        cmocka_unit_test(test_jw_null_string_writes_null),
        cmocka_unit_test(test_jw_take_hands_over_and_leaves_the_writer_reusable),
        cmocka_unit_test(test_jw_grows_to_large_documents_that_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
