/*
 * test_http_conformance.c - the whole conformance corpus ($ATROUS_TEST_DATA, default
 * tests/data/conformance) through the running daemon, in the JSON and the binary form, each
 * answered in both forms (Accept): valid cases within |got-exp| <= 1e-4 + 1e-4*|exp| and the
 * exact shape; invalid cases 400 with a JSON error naming the argument; quirks as DESIGN.md
 * decides them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "daemon.h"
#include "http_client.h"

/* Failures are collected per folder and reported together, at most this many in full. */
#define REPORT_MAX 8

static int setup(void **state)
{
    return test_daemon_group_setup(state, NULL);
}

/* The argument each invalid case must be blamed on, by the case name's prefix. These are the
 * service's decisions (the "field" of its error body), pinned here. */
static const struct {
    const char *prefix, *field;
} blame[] = {
    {"err_rate_", "rate"},
    {"err_padding_", "padding"},
    {"err_output_shape_", "output_shape"},
    {"err_value_channels", "value"},
    {"err_output_channels", "output_shape"},
    {"err_same_size", "output_shape"},
    {"err_valid_size", "output_shape"},
    {"err_valid_filter_gt_output", "output_shape"},
    {"err_batch_mismatch", "output_shape"},
    {"quirk_rate1_output_shape_len2", "output_shape"},
    {"quirk_rate1_output_channels_multiple", "output_shape"},
};

static const char *expected_field(const char *name)
{
    for (size_t i = 0; i < sizeof(blame) / sizeof(blame[0]); i++) {
        if (strncmp(name, blame[i].prefix, strlen(blame[i].prefix)) == 0)
            return blame[i].field;
    }
    return NULL;
}

static const char *const forms[2] = {"json", "binary"};
static const char *const accepts[2] = {"application/json", "application/octet-stream"};

/* Runs one case in one request form answered in one response form; NULL when it behaved,
 * else a malloc'd reason. */
static char *run_case(uint16_t port, const struct corpus_case *c, enum http_op_form form,
                      int answer)
{
    struct http_op_args a;
    struct http_client_response r;
    char why[1024] = "";
    http_op_args_from_case(c, &a);
    if (http_op_call(port, &a, form, accepts[answer], NULL, &r) != 0)
        return strdup("no answer (connection failed or timed out)");
    /* A case the service rejects by design is an error case even where TensorFlow has an
     * answer (the quirk output_shape [H, W]). */
    if (c->has_expected && expected_field(c->name) == NULL) {
        struct http_op_output out;
        const char *type = http_client_header(&r, "Content-Type");
        if (r.status != 200)
            snprintf(why, sizeof(why), "status %d: %.300s", r.status, r.body ? r.body : "");
        else if (type == NULL || strcmp(type, accepts[answer]) != 0)
            snprintf(why, sizeof(why), "answered as %s, asked %s", type ? type : "(none)",
                     accepts[answer]);
        else if (http_op_parse(&r, &out) != 0)
            snprintf(why, sizeof(why), "answer does not parse");
        else {
            http_op_check(&out, &c->expected_shape, c->expected, c->expected_count, why,
                          sizeof(why));
            http_op_output_free(&out);
        }
    } else {
        struct http_error_body e;
        const char *field = expected_field(c->name);
        if (r.status != 400)
            snprintf(why, sizeof(why), "status %d, expected 400: %.300s", r.status,
                     r.body ? r.body : "");
        else if (http_error_parse(r.body, r.body_len, &e) != 0)
            snprintf(why, sizeof(why), "error body is not {error, code, field, request_id}");
        else {
            if (strcmp(e.code, "invalid_argument") != 0)
                snprintf(why, sizeof(why), "code %s", e.code);
            else if (e.field == NULL || field == NULL || strcmp(e.field, field) != 0)
                snprintf(why, sizeof(why), "field %s, expected %s", e.field ? e.field : "null",
                         field ? field : "(no rule for this case name)");
            else if (strstr(e.error, field) == NULL)
                snprintf(why, sizeof(why), "message does not name %s: %s", field, e.error);
            http_error_free(&e);
        }
    }
    http_client_response_free(&r);
    return why[0] ? strdup(why) : NULL;
}

static void run_folder(void **state, const char *folder)
{
    struct test_daemon *d = *state;
    char why[1024];
    char **paths = NULL;
    size_t count = 0, runs = 0, failures = 0;
    if (corpus_list(folder, &paths, &count, why, sizeof(why)) != 0)
        fail_msg("corpus %s: %s", folder, why);
    for (size_t i = 0; i < count; i++) {
        struct corpus_case c;
        if (corpus_load(paths[i], &c, why, sizeof(why)) != 0)
            fail_msg("%s: %s", paths[i], why);
        for (int form = 0; form < 2; form++) {
            for (int answer = 0; answer < 2; answer++) {
                char *reason = run_case(d->port, &c, (enum http_op_form)form, answer);
                runs++;
                if (reason != NULL && failures++ < REPORT_MAX)
                    print_error("%s/%s as %s answered as %s: %s\n", folder, c.name, forms[form],
                                forms[answer], reason);
                free(reason);
            }
        }
        corpus_case_free(&c);
    }
    corpus_paths_free(paths, count);
    print_message("%s: %zu cases, %zu requests, %zu failed\n", folder, count, runs, failures);
    assert_int_equal(failures, 0);
}

static void test_http_conformance_valid_cases_match(void **state)
{
    run_folder(state, "valid");
}

static void test_http_conformance_invalid_cases_are_400_naming_the_argument(void **state)
{
    run_folder(state, "invalid");
}

/* Quirks as DESIGN.md decides: output_shape [H, W] rejected, batch 0 gives an empty output,
 * a grouped-looking output channel count rejected. */
static void test_http_conformance_quirks_follow_the_design(void **state)
{
    run_folder(state, "quirks");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_conformance_valid_cases_match),
        cmocka_unit_test(test_http_conformance_invalid_cases_are_400_naming_the_argument),
        cmocka_unit_test(test_http_conformance_quirks_follow_the_design),
    };
    return cmocka_run_group_tests(tests, setup, test_daemon_group_teardown);
}
