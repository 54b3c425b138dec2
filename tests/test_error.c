/*
 * test_error.c - lib/atrous_error.h: the one error list, its stable code strings, and the
 * error struct's setter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "atrous_error.h"

static void test_error_codes_are_the_wire_strings(void **state)
{
    (void)state;
    /* The code strings are part of the wire contract ("code" of error bodies). */
    assert_string_equal(atrous_status_code(ATROUS_OK), "ok");
    assert_string_equal(atrous_status_code(ATROUS_INVALID_ARGUMENT), "invalid_argument");
    assert_string_equal(atrous_status_code(ATROUS_TOO_LARGE), "too_large");
    assert_string_equal(atrous_status_code(ATROUS_NO_MEMORY), "out_of_memory");
    assert_string_equal(atrous_status_code(ATROUS_ENGINE), "engine_failure");
    assert_string_equal(atrous_status_code(ATROUS_INTERNAL), "internal");
}

static void test_error_codes_and_descriptions_are_distinct(void **state)
{
    (void)state;
    for (int a = 0; a < ATROUS__STATUS_COUNT; a++) {
        assert_true(atrous_status_describe((enum atrous_status)a)[0] != '\0');
        for (int b = a + 1; b < ATROUS__STATUS_COUNT; b++) {
            /* The two size kinds share their wire code: clients see "too_large" either way and
             * the HTTP status (400 or 413) says which. */
            if (a == ATROUS_TOO_LARGE && b == ATROUS_CONTENT_TOO_LARGE)
                assert_string_equal(atrous_status_code(ATROUS_CONTENT_TOO_LARGE), "too_large");
            else
                assert_string_not_equal(atrous_status_code((enum atrous_status)a),
                                        atrous_status_code((enum atrous_status)b));
            assert_string_not_equal(atrous_status_describe((enum atrous_status)a),
                                    atrous_status_describe((enum atrous_status)b));
        }
    }
}

static void test_error_out_of_range_status_is_unknown(void **state)
{
    (void)state;
    assert_string_equal(atrous_status_code(ATROUS__STATUS_COUNT), "unknown");
    assert_string_equal(atrous_status_code((enum atrous_status) - 1), "unknown");
    assert_string_equal(atrous_status_describe(ATROUS__STATUS_COUNT), "unknown status");
}

static void test_error_set_records_status_field_and_message(void **state)
{
    struct atrous_error err;
    (void)state;
    atrous_error_clear(&err);
    assert_int_equal(atrous_error_set(&err, ATROUS_INVALID_ARGUMENT, "rate",
                                      "`rate` cannot be less than one, got rate=%d", 0),
                     ATROUS_INVALID_ARGUMENT);
    assert_int_equal(err.status, ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "rate");
    assert_string_equal(err.message, "`rate` cannot be less than one, got rate=0");

    atrous_error_set(&err, ATROUS_ENGINE, NULL, "no field");
    assert_string_equal(err.field, "");
    atrous_error_clear(&err);
    assert_int_equal(err.status, ATROUS_OK);
    assert_string_equal(err.field, "");
    assert_string_equal(err.message, "");
}

static void test_error_set_with_null_error_still_returns_status(void **state)
{
    (void)state;
    assert_int_equal(atrous_error_set(NULL, ATROUS_TOO_LARGE, "value", "x"), ATROUS_TOO_LARGE);
    atrous_error_clear(NULL);
}

static void test_error_set_truncates_long_text_safely(void **state)
{
    char long_text[2 * ATROUS_ERROR_MESSAGE_MAX];
    struct atrous_error err;
    (void)state;
    memset(long_text, 'm', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    atrous_error_set(&err, ATROUS_INVALID_ARGUMENT, long_text, "%s", long_text);
    assert_int_equal(strlen(err.message), ATROUS_ERROR_MESSAGE_MAX - 1);
    assert_int_equal(strlen(err.field), ATROUS_ERROR_FIELD_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_codes_are_the_wire_strings),
        cmocka_unit_test(test_error_codes_and_descriptions_are_distinct),
        cmocka_unit_test(test_error_out_of_range_status_is_unknown),
        cmocka_unit_test(test_error_set_records_status_field_and_message),
        cmocka_unit_test(test_error_set_with_null_error_still_returns_status),
        cmocka_unit_test(test_error_set_truncates_long_text_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
