/*
 * test_auth.c - server/auth.c without sockets: the token file's parsing (plain tokens, sha256:
 * digests, comments, blanks, CR LF; each malformed line refused naming the file and the line,
 * never the token), the constant-time comparison, open paths, the per-request verdicts, and
 * reloads (a removed token fails at once; a failed reload keeps the old tokens).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

#define TOKEN_A "alpha-token-0123456789-atrousd-test-secret"
#define TOKEN_B "bravo-token-9876543210-atrousd-test-secret"
#define TOKEN_C "charlie-token-555555555-atrousd-test-secret"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void digest_of(const char *token, uint8_t d[ATROUSD_AUTH_DIGEST_BYTES])
{
    atrousd_auth_sha256(token, strlen(token), d);
}

static enum atrous_status parse(const char *text, struct atrousd_auth_tokens *t, size_t *line,
                                struct atrous_error *err)
{
    atrous_error_clear(err);
    return atrousd_auth_parse(text, strlen(text), "/etc/atrousd/tokens", t, line, err);
}

static void test_auth_sha256_is_sha256(void **state)
{
    (void)state;
    uint8_t d[ATROUSD_AUTH_DIGEST_BYTES];
    char h[65];
    digest_of("abc", d); /* FIPS 180-2 appendix B.1 */
    hex(d, sizeof(d), h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_auth_parses_tokens_comments_blanks_and_crlf(void **state)
{
    (void)state;
    struct atrousd_auth_tokens t;
    struct atrous_error err;
    size_t line = 99;
    assert_int_equal(parse("# the clients of atrousd\r\n\r\n  " TOKEN_A
                           "  \r\n\t# old: gone\n" TOKEN_B "\n\n",
                           &t, &line, &err),
                     ATROUS_OK);
    assert_int_equal(line, 0);
    assert_int_equal(t.count, 2);
    uint8_t d[ATROUSD_AUTH_DIGEST_BYTES];
    digest_of(TOKEN_A, d);
    assert_true(atrousd_auth_tokens_match(&t, d));
    digest_of(TOKEN_B, d);
    assert_true(atrousd_auth_tokens_match(&t, d));
    digest_of(TOKEN_C, d);
    assert_false(atrousd_auth_tokens_match(&t, d));
    /* The blanks around a line are not part of its token. */
    digest_of("  " TOKEN_A, d);
    assert_false(atrousd_auth_tokens_match(&t, d));
    atrousd_auth_tokens_free(&t);
    assert_null(t.digests);
}

static void test_auth_sha256_form_matches_the_token(void **state)
{
    (void)state;
    uint8_t d[ATROUSD_AUTH_DIGEST_BYTES];
    char h[65], text[256];
    digest_of(TOKEN_C, d);
    hex(d, sizeof(d), h);
    /* Upper-case hex and prefix are the same digest. */
    for (char *p = h; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
    snprintf(text, sizeof(text), "SHA256:%s\n", h);
    struct atrousd_auth_tokens t;
    struct atrous_error err;
    assert_int_equal(parse(text, &t, NULL, &err), ATROUS_OK);
    assert_int_equal(t.count, 1);
    assert_true(atrousd_auth_tokens_match(&t, d));
    /* The digest line is not itself a token. */
    atrousd_auth_sha256(text, strlen(text) - 1, d);
    assert_false(atrousd_auth_tokens_match(&t, d));
    atrousd_auth_tokens_free(&t);
}

/* A malformed line: the error names the file and the line, and holds none of the line. */
static void assert_refused(const char *text, size_t want_line, const char *secret)
{
    struct atrousd_auth_tokens t;
    struct atrous_error err;
    size_t line = 0;
    assert_int_equal(parse(text, &t, &line, &err), ATROUS_INVALID_ARGUMENT);
    assert_int_equal(line, want_line);
    assert_null(t.digests);
    assert_non_null(strstr(err.message, "/etc/atrousd/tokens"));
    if (want_line > 0) {
        char at[32];
        snprintf(at, sizeof(at), "line %zu:", want_line);
        assert_non_null(strstr(err.message, at));
    }
    assert_null(strstr(err.message, "atrousd-test-secret"));
    if (secret != NULL)
        assert_null(strstr(err.message, secret));
}

static void test_auth_malformed_lines_name_file_and_line_never_the_token(void **state)
{
    (void)state;
    /* A space inside a token (two tokens on a line, or a pasted sentence). */
    assert_refused(TOKEN_A "\n# ok\nhalf-of-it-atrousd-test-secret other-half-zzzz\n", 3,
                   "other-half");
    /* A character a bearer token may not hold. */
    assert_refused("bad\"quote-1234567-atrousd-test-secret\n", 1, "bad\"quote");
    /* '=' only as padding at the end. */
    assert_refused("pad=ding-1234567-atrousd-test-secret\n", 1, "pad=ding");
    /* Too short to be a secret. */
    assert_refused("\nshort-secret\n", 2, "short-secret");
    /* sha256: with 63 hex digits, and with a non-hex digit. */
    assert_refused("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a\n", 1,
                   "ba7816bf8f01");
    assert_refused("sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n", 1,
                   "ga7816bf8f01");
    /* Nothing but comments: the whole file (line 0). */
    assert_refused("# none yet\n\n", 0, NULL);
    assert_refused("", 0, NULL);
}

static void test_auth_refuses_a_nul_byte(void **state)
{
    (void)state;
    const char text[] = TOKEN_A "\0" TOKEN_B "\n";
    struct atrousd_auth_tokens t;
    struct atrous_error err;
    atrous_error_clear(&err);
    assert_int_equal(atrousd_auth_parse(text, sizeof(text) - 1, "f", &t, NULL, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_null(strstr(err.message, "atrousd-test-secret"));
}

static void test_auth_match_finds_any_of_many(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct atrousd_auth_tokens t = {.count = N};
    t.digests = calloc(N, sizeof(*t.digests));
    assert_non_null(t.digests);
    char token[64];
    for (int i = 0; i < N; i++) {
        snprintf(token, sizeof(token), "token-%04d-atrousd-test-secret", i);
        digest_of(token, t.digests[i]);
    }
    uint8_t d[ATROUSD_AUTH_DIGEST_BYTES];
    int probes[] = {0, 1, N / 2, N - 1};
    for (size_t k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
        snprintf(token, sizeof(token), "token-%04d-atrousd-test-secret", probes[k]);
        digest_of(token, d);
        assert_true(atrousd_auth_tokens_match(&t, d));
        /* One bit off, in the first and in the last byte: no match. */
        d[0] ^= 1;
        assert_false(atrousd_auth_tokens_match(&t, d));
        d[0] ^= 1;
        d[ATROUSD_AUTH_DIGEST_BYTES - 1] ^= 0x80;
        assert_false(atrousd_auth_tokens_match(&t, d));
    }
    struct atrousd_auth_tokens none = {0};
    assert_false(atrousd_auth_tokens_match(&none, d));
    atrousd_auth_tokens_free(&t);
}

static void test_auth_open_paths(void **state)
{
    (void)state;
    assert_true(atrousd_auth_open_paths_valid(""));
    assert_true(atrousd_auth_open_paths_valid("/healthz,/readyz,/v2/health/*,/metrics"));
    assert_false(atrousd_auth_open_paths_valid("healthz"));
    assert_false(atrousd_auth_open_paths_valid("/healthz,"));
    assert_false(atrousd_auth_open_paths_valid("/healthz,,/readyz"));
    assert_false(atrousd_auth_open_paths_valid("/v2/*/ready"));
    assert_false(atrousd_auth_open_paths_valid("/a b"));
    const char *list = "/healthz,/v2/health/*,/metrics";
    assert_true(atrousd_auth_path_open(list, "/healthz"));
    assert_true(atrousd_auth_path_open(list, "/metrics"));
    assert_true(atrousd_auth_path_open(list, "/v2/health/live"));
    assert_true(atrousd_auth_path_open(list, "/v2/health/"));
    assert_false(atrousd_auth_path_open(list, "/v2/health"));
    assert_false(atrousd_auth_path_open(list, "/healthz/"));
    assert_false(atrousd_auth_path_open(list, "/healthzz"));
    assert_false(atrousd_auth_path_open(list, "/metric"));
    assert_false(atrousd_auth_path_open(list, "/v1/atrous_conv2d_transpose"));
    assert_false(atrousd_auth_path_open("", "/healthz"));
}

/* A token file in /tmp (never in the kept log folder) with this text. */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

struct fixture {
    char path[64];
    struct atrousd_auth *auth;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "/tmp/atrousd-auth-unit-XXXXXX");
    int fd = mkstemp(f->path);
    if (fd < 0)
        return -1;
    close(fd);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    atrousd_auth_free(f->auth);
    unlink(f->path);
    free(f);
    return 0;
}

static void start(struct fixture *f, const char *text)
{
    write_file(f->path, text);
    struct atrousd_auth_config c = {
        .token_file = f->path, .open_paths = "/healthz,/v2/health/*", .reload_ms = 0};
    struct atrous_error err;
    atrous_error_clear(&err);
    assert_int_equal(atrousd_auth_create(&c, &f->auth, &err), ATROUS_OK);
    assert_non_null(f->auth);
}

static void test_auth_verdicts(void **state)
{
    struct fixture *f = *state;
    start(f, TOKEN_A "\n" TOKEN_B "\n");
    char id[ATROUSD_AUTH_ID_LEN + 1];
    const char *op = "/v1/atrous_conv2d_transpose";
    assert_int_equal(atrousd_auth_check(f->auth, "/healthz", NULL, 0, id), ATROUSD_AUTH_OPEN);
    assert_int_equal(atrousd_auth_check(f->auth, "/v2/health/ready", NULL, 0, id),
                     ATROUSD_AUTH_OPEN);
    assert_int_equal(atrousd_auth_check(f->auth, op, NULL, 0, id), ATROUSD_AUTH_MISSING);
    assert_string_equal(id, "");
    assert_int_equal(atrousd_auth_check(f->auth, op, "Basic dXNlcjpwYXNzd29yZA==", 1, id),
                     ATROUSD_AUTH_MISSING);
    assert_int_equal(atrousd_auth_check(f->auth, op, "Bearer", 1, id), ATROUSD_AUTH_INVALID);
    assert_int_equal(atrousd_auth_check(f->auth, op, "Bearer " TOKEN_C, 1, id),
                     ATROUSD_AUTH_INVALID);
    assert_int_equal(atrousd_auth_check(f->auth, op, "Bearer " TOKEN_A "x", 1, id),
                     ATROUSD_AUTH_INVALID);
    assert_int_equal(atrousd_auth_check(f->auth, op, "Bearer a b", 1, id), ATROUSD_AUTH_INVALID);
    assert_string_equal(id, "");
    assert_int_equal(atrousd_auth_check(f->auth, op, "Bearer " TOKEN_A, 2, id),
                     ATROUSD_AUTH_DUPLICATE);
    /* Accepted, the scheme in any case; the id is the first 8 hex digits of its SHA-256. */
    assert_int_equal(atrousd_auth_check(f->auth, op, "bearer  " TOKEN_B, 1, id), ATROUSD_AUTH_OK);
    uint8_t d[ATROUSD_AUTH_DIGEST_BYTES];
    char h[65];
    digest_of(TOKEN_B, d);
    hex(d, sizeof(d), h);
    h[ATROUSD_AUTH_ID_LEN] = '\0';
    assert_string_equal(id, h);
    assert_int_equal(atrousd_auth_check(f->auth, op, "Bearer " TOKEN_A, 1, id), ATROUSD_AUTH_OK);
    assert_string_not_equal(id, h);
    /* No token file: everything is open. */
    assert_int_equal(atrousd_auth_check(NULL, op, NULL, 0, id), ATROUSD_AUTH_OPEN);
    struct atrousd_auth_figures fig;
    atrousd_auth_figures(f->auth, &fig);
    assert_true(fig.enabled);
    assert_int_equal(fig.tokens, 2);
    assert_int_equal(fig.refused[ATROUSD_AUTH_REASON_MISSING], 2);
    assert_int_equal(fig.refused[ATROUSD_AUTH_REASON_INVALID], 4);
    assert_int_equal(fig.refused[ATROUSD_AUTH_REASON_DUPLICATE], 1);
}

static void test_auth_reload_removes_at_once_and_failure_keeps_old(void **state)
{
    struct fixture *f = *state;
    start(f, TOKEN_A "\n" TOKEN_B "\n");
    char id[ATROUSD_AUTH_ID_LEN + 1];
    const char *op = "/v2/models/m/infer";
    write_file(f->path, TOKEN_B "\n" TOKEN_C "\n");
    assert_int_equal(atrousd_auth_reload(f->auth, "test"), ATROUS_OK);
    assert_int_equal(atrousd_auth_check(f->auth, op, "Bearer " TOKEN_A, 1, id),
                     ATROUSD_AUTH_INVALID);
    assert_int_equal(atrousd_auth_check(f->auth, op, "Bearer " TOKEN_C, 1, id), ATROUSD_AUTH_OK);
    /* A malformed file, then a missing one: each reload fails, the tokens stay. */
    write_file(f->path, TOKEN_A "\nnot a token\n");
    assert_int_equal(atrousd_auth_reload(f->auth, "test"), ATROUS_INVALID_ARGUMENT);
    assert_int_equal(atrousd_auth_check(f->auth, op, "Bearer " TOKEN_A, 1, id),
                     ATROUSD_AUTH_INVALID);
    assert_int_equal(atrousd_auth_check(f->auth, op, "Bearer " TOKEN_B, 1, id), ATROUSD_AUTH_OK);
    unlink(f->path);
    assert_int_equal(atrousd_auth_reload(f->auth, "test"), ATROUS_INVALID_ARGUMENT);
    assert_int_equal(atrousd_auth_check(f->auth, op, "Bearer " TOKEN_C, 1, id), ATROUSD_AUTH_OK);
    struct atrousd_auth_figures fig;
    atrousd_auth_figures(f->auth, &fig);
    assert_int_equal(fig.reloads_ok, 1);
    assert_int_equal(fig.reloads_failed, 2);
    assert_int_equal(fig.tokens, 2);
}

static void test_auth_create_refuses_a_malformed_file(void **state)
{
    struct fixture *f = *state;
    write_file(f->path, "# ok\n" TOKEN_A "\nshort-atrousd-test-secret with-space\n");
    struct atrousd_auth_config c = {.token_file = f->path, .open_paths = ""};
    struct atrous_error err;
    atrous_error_clear(&err);
    assert_int_equal(atrousd_auth_create(&c, &f->auth, &err), ATROUS_INVALID_ARGUMENT);
    assert_null(f->auth);
    assert_non_null(strstr(err.message, f->path));
    assert_non_null(strstr(err.message, "line 3:"));
    assert_null(strstr(err.message, "atrousd-test-secret"));
    assert_null(strstr(err.message, "with-space"));
    /* No file configured: authentication is off. */
    c.token_file = "";
    assert_int_equal(atrousd_auth_create(&c, &f->auth, &err), ATROUS_OK);
    assert_null(f->auth);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_sha256_is_sha256),
        cmocka_unit_test(test_auth_parses_tokens_comments_blanks_and_crlf),
        cmocka_unit_test(test_auth_sha256_form_matches_the_token),
        cmocka_unit_test(test_auth_malformed_lines_name_file_and_line_never_the_token),
        cmocka_unit_test(test_auth_refuses_a_nul_byte),
        cmocka_unit_test(test_auth_match_finds_any_of_many),
        cmocka_unit_test(test_auth_open_paths),
        cmocka_unit_test_setup_teardown(test_auth_verdicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_reload_removes_at_once_and_failure_keeps_old,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_create_refuses_a_malformed_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
