/*
 * test_http_auth.c - bearer tokens on the real daemon (--auth-token-file): a token accepted, a
 * wrong one and none refused with 401 and RFC 6750's WWW-Authenticate on the native op, KServe
 * v2 infer and metadata and TF Serving predict and metadata; a token given as its sha256:
 * digest; the probes open and /metrics and /v1/info closed by default (--auth-open-paths opens
 * /metrics); a 401 for a large upload arriving before any body byte is sent; the token file
 * reloaded by SIGHUP and when it changes (a removed token refused at once, a malformed file
 * keeping the old tokens); the access log's token_id; and no token in any error body or log
 * line.
 *
 * With TLS on too (issue 14's "Done means": a TLS + token daemon), the same answers over TLS,
 * and the probes, --health-probe included, still open.
 *
 * The headers are the ones tritonclient sends with headers={"Authorization": "Bearer ..."}
 * and TF Serving clients send with requests/urllib: the Authorization header beside the
 * request's own; the Python clients themselves cannot be installed here (no PyPI).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "daemon.h"
#include "http_client.h"
#include "repo_models.h"
#include "tls_client.h"
#include "tls_pki.h"

/* Every test secret holds "atrousd-test-secret" (tests/check_secrets.sh greps the suite's
 * logs for it). TOKEN_B is in the file only as its sha256: digest. */
#define TOKEN_A     "alpha-0123456789abcdef-atrousd-test-secret"
#define TOKEN_B     "bravo-0123456789abcdef-atrousd-test-secret"
#define TOKEN_C     "charlie-0123456789abcde-atrousd-test-secret"
#define WRONG_TOKEN "wrong-0123456789abcdef-atrousd-test-secret"
#define SECRET_MARK "atrousd-test-secret"

#define BEARER(t)         "Authorization: Bearer " t
#define MODEL             "edges"
#define OPEN_WITH_METRICS "/healthz,/readyz,/v2/health/*,/metrics"
#define WAIT_MS           60000

struct fixture {
    char root[64];
    char tokens[128];
    char models[128];
    struct test_daemon daemon;
};

static void write_text(const char *path, const char *text)
{
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(tmp, 0600), 0);
    /* Replaced by rename, as a deployment (or a Kubernetes secret) does. */
    assert_int_equal(rename(tmp, path), 0);
}

static void digest_hex(const char *token, char *out, size_t hex_digits)
{
    uint8_t d[ATROUSD_AUTH_DIGEST_BYTES];
    atrousd_auth_sha256(token, strlen(token), d);
    for (size_t i = 0; i < hex_digits / 2; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    out[hex_digits] = '\0';
}

/* The token file: TOKEN_A plain, TOKEN_B as its digest, and comments. */
static void write_first_tokens(const char *path)
{
    char hex[65], text[512];
    digest_hex(TOKEN_B, hex, 64);
    snprintf(text, sizeof(text), "# atrousd clients\n\n" TOKEN_A "\n# bravo, hashed:\nsha256:%s\n",
             hex);
    write_text(path, text);
}

/* A scratch folder in /tmp (never the kept log folder: the file holds secrets) with the token
 * file and a model repository of one model. */
static void make_scratch(struct fixture *f)
{
    snprintf(f->root, sizeof(f->root), "/tmp/atrousd-auth-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->tokens, sizeof(f->tokens), "%s/tokens", f->root);
    snprintf(f->models, sizeof(f->models), "%s/models", f->root);
    assert_int_equal(mkdir(f->models, 0700), 0);
    write_first_tokens(f->tokens);
    struct repo_variant v;
    repo_variant_make(&v, 1, REPO_RATE);
    assert_int_equal(repo_write_model(f->models, MODEL, MODEL, "1", REPO_RATE, v.filters, ""), 0);
}

static void remove_scratch(const char *root)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
}

static int start_daemon(struct fixture *f, const char *open_paths, const char *reload_ms)
{
    const char *args[] = {"--model-dir",
                          f->models,
                          "--auth-token-file",
                          f->tokens,
                          "--auth-reload-ms",
                          reload_ms,
                          open_paths ? "--auth-open-paths" : NULL,
                          open_paths,
                          NULL};
    char why[2048];
    if (test_daemon_start(&f->daemon, args, why, sizeof(why)) != 0) {
        fprintf(stderr, "%s\n", why);
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    make_scratch(f);
    /* /metrics opened here so that the refusals can be read from it; the defaults are
     * test_http_auth_defaults_and_sighup's. */
    if (start_daemon(f, OPEN_WITH_METRICS, "200") != 0) {
        remove_scratch(f->root);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int code = test_daemon_stop(&f->daemon);
    remove_scratch(f->root);
    free(f);
    return code == 0 ? 0 : -1;
}

/* The error body holds no secret, nor any part of the header that was sent. */
static void assert_no_secret(const struct http_client_response *r)
{
    if (r->body != NULL)
        assert_null(strstr(r->body, SECRET_MARK));
    for (size_t i = 0; i < r->header_count; i++)
        assert_null(strstr(r->headers[i].value, SECRET_MARK));
}

/* 401 with RFC 6750's challenge (error="invalid_token" when a token was sent) and the usual
 * JSON error naming the Authorization header. */
static void assert_401(const struct http_client_response *r, bool token_sent)
{
    assert_int_equal(r->status, 401);
    const char *challenge = http_client_header(r, "WWW-Authenticate");
    assert_non_null(challenge);
    assert_string_equal(challenge, token_sent ? "Bearer realm=\"atrousd\", error=\"invalid_token\""
                                              : "Bearer realm=\"atrousd\"");
    struct http_error_body e;
    assert_int_equal(http_error_parse(r->body, r->body_len, &e), 0);
    assert_string_equal(e.code, "unauthenticated");
    assert_non_null(e.field);
    assert_string_equal(e.field, "Authorization");
    assert_non_null(strstr(e.error, "bearer token"));
    http_error_free(&e);
    assert_no_secret(r);
}

/* One request of each kind the token guards, with the given extra header (NULL: none). */
enum call {
    CALL_OP_JSON,
    CALL_OP_BINARY,
    CALL_KSERVE_INFER,
    CALL_KSERVE_METADATA,
    CALL_TFS_PREDICT,
    CALL_TFS_METADATA,
    CALL_COUNT
};

static char *tfs_predict_body(void)
{
    const float *v = repo_value();
    size_t cap = 16 * REPO_VALUE + 64, n = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    n += (size_t)snprintf(b + n, cap - n, "{\"instances\": [[");
    for (int h = 0; h < REPO_H; h++) {
        n += (size_t)snprintf(b + n, cap - n, "%s[", h ? "," : "");
        for (int w = 0; w < REPO_W; w++) {
            const float *px = v + ((size_t)h * REPO_W + (size_t)w) * REPO_IC;
            n += (size_t)snprintf(b + n, cap - n, "%s[%.9g,%.9g]", w ? "," : "", px[0], px[1]);
        }
        n += (size_t)snprintf(b + n, cap - n, "]");
    }
    snprintf(b + n, cap - n, "]]}");
    return b;
}

static int call(uint16_t port, enum call what, const char *auth, struct http_client_response *r)
{
    const char *extra[] = {auth, NULL};
    const char *json_extra[] = {"Content-Type: application/json", auth, NULL};
    struct http_op_args a;
    int rc = -1;
    const int64_t value[4] = {1, 4, 4, 2}, filters[4] = {3, 3, 3, 2};
    switch (what) {
    case CALL_OP_JSON:
    case CALL_OP_BINARY:
        assert_int_equal(http_op_zeros(&a, value, filters, 2), 0);
        rc = http_op_call(port, &a, what == CALL_OP_JSON ? HTTP_OP_JSON : HTTP_OP_BINARY, NULL,
                          extra, r);
        http_op_zeros_free(&a);
        return rc;
    case CALL_KSERVE_INFER:
        return repo_infer(port, MODEL, extra, r);
    case CALL_KSERVE_METADATA:
        return http_client_request(port, "GET", "/v2/models/" MODEL, extra, NULL, 0, r);
    case CALL_TFS_PREDICT: {
        char *body = tfs_predict_body();
        rc = http_client_request(port, "POST", "/v1/models/" MODEL ":predict", json_extra, body,
                                 strlen(body), r);
        free(body);
        return rc;
    }
    case CALL_TFS_METADATA:
        return http_client_request(port, "GET", "/v1/models/" MODEL "/metadata", extra, NULL, 0, r);
    case CALL_COUNT:
        break;
    }
    return -1;
}

static const char *const call_names[] = {"op json",           "op binary",
                                         "kserve infer",      "kserve metadata",
                                         "tfserving predict", "tfserving metadata"};

static void test_http_auth_token_accepted_wrong_and_missing_refused(void **state)
{
    struct fixture *f = *state;
    uint16_t port = f->daemon.port;
    for (int c = 0; c < CALL_COUNT; c++) {
        struct http_client_response r;
        fprintf(stderr, "# %s\n", call_names[c]);
        assert_int_equal(call(port, (enum call)c, BEARER(TOKEN_A), &r), 0);
        assert_int_equal(r.status, 200);
        http_client_response_free(&r);
        assert_int_equal(call(port, (enum call)c, BEARER(WRONG_TOKEN), &r), 0);
        assert_401(&r, true);
        http_client_response_free(&r);
        assert_int_equal(call(port, (enum call)c, NULL, &r), 0);
        assert_401(&r, false);
        http_client_response_free(&r);
        /* Another scheme is no bearer token (RFC 6750 3.1: no error code). */
        assert_int_equal(call(port, (enum call)c, "Authorization: Basic dXNlcjpwYXNz", &r), 0);
        assert_401(&r, false);
        http_client_response_free(&r);
    }
}

static void test_http_auth_sha256_form_and_scheme_case(void **state)
{
    struct fixture *f = *state;
    struct http_client_response r;
    assert_int_equal(call(f->daemon.port, CALL_KSERVE_INFER, BEARER(TOKEN_B), &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    assert_int_equal(call(f->daemon.port, CALL_OP_BINARY, "authorization: bearer " TOKEN_B, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    /* The digest line itself is not a token. */
    char hex[65], header[160];
    digest_hex(TOKEN_B, hex, 64);
    snprintf(header, sizeof(header), "Authorization: Bearer sha256:%s", hex);
    assert_int_equal(call(f->daemon.port, CALL_OP_BINARY, header, &r), 0);
    assert_int_equal(r.status, 401);
    http_client_response_free(&r);
}

static void test_http_auth_two_authorization_headers_are_400(void **state)
{
    struct fixture *f = *state;
    const char *headers[] = {BEARER(TOKEN_A), BEARER(WRONG_TOKEN), NULL};
    struct http_client_response r;
    assert_int_equal(
        http_client_request(f->daemon.port, "GET", "/v2/models/" MODEL, headers, NULL, 0, &r), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(http_client_header(&r, "WWW-Authenticate"),
                        "Bearer realm=\"atrousd\", error=\"invalid_request\"");
    assert_no_secret(&r);
    http_client_response_free(&r);
}

static void assert_status(uint16_t port, const char *method, const char *path, const char *auth,
                          int status)
{
    const char *extra[] = {auth, NULL};
    struct http_client_response r;
    assert_int_equal(http_client_request(port, method, path, extra, NULL, 0, &r), 0);
    if (r.status != status)
        fprintf(stderr, "%s %s: %d, expected %d\n", method, path, r.status, status);
    assert_int_equal(r.status, status);
    if (status == 401)
        assert_401(&r, auth != NULL);
    http_client_response_free(&r);
}

static void test_http_auth_open_paths(void **state)
{
    struct fixture *f = *state;
    uint16_t port = f->daemon.port;
    const char *open[] = {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/metrics"};
    for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++) {
        assert_status(port, "GET", open[i], NULL, 200);
        assert_status(port, "HEAD", open[i], NULL, 200);
        /* A wrong token on an open path is not looked at. */
        assert_status(port, "GET", open[i], BEARER(WRONG_TOKEN), 200);
    }
    /* Everything else needs the token, the repository and statistics routes too. */
    const char *closed[] = {"/v1/info",
                            "/v2",
                            "/v2/models/" MODEL "/ready",
                            "/v2/models/" MODEL "/config",
                            "/v2/models/stats",
                            "/v1/models/" MODEL};
    for (size_t i = 0; i < sizeof(closed) / sizeof(closed[0]); i++) {
        assert_status(port, "GET", closed[i], NULL, 401);
        assert_status(port, "GET", closed[i], BEARER(TOKEN_A), 200);
    }
    struct http_client_response r;
    const char *json[] = {"Content-Type: application/json", NULL};
    assert_int_equal(http_client_request(port, "POST", "/v2/repository/index", json, "{}", 2, &r),
                     0);
    assert_401(&r, false);
    http_client_response_free(&r);
    /* Unknown paths are 404 whatever the token: nothing behind them to protect. */
    assert_status(port, "GET", "/nowhere", NULL, 404);
}

static void test_http_auth_401_for_a_large_upload_before_its_body(void **state)
{
    struct fixture *f = *state;
    const char *auth[] = {NULL, BEARER(WRONG_TOKEN)};
    for (size_t i = 0; i < 2; i++) {
        /* 48 MiB announced, under --max-body-bytes (64 MiB): only the token can refuse it, and
         * no body byte is ever sent, yet the answer comes. */
        int fd = http_client_connect(f->daemon.port, HTTP_CLIENT_TIMEOUT_MS);
        assert_true(fd >= 0);
        assert_int_equal(http_client_sendf(fd,
                                           "POST /v2/models/" MODEL "/infer HTTP/1.1\r\nHost: t\r\n"
                                           "Content-Type: application/json\r\n%s%s"
                                           "Content-Length: 50331648\r\n\r\n",
                                           auth[i] ? auth[i] : "", auth[i] ? "\r\n" : ""),
                         0);
        struct http_client_response r;
        assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
        assert_401(&r, auth[i] != NULL);
        assert_string_equal(http_client_header(&r, "Connection"), "close");
        http_client_response_free(&r);
        assert_int_equal(http_client_wait_closed(fd, HTTP_CLIENT_TIMEOUT_MS), 0);
        close(fd);
    }
}

static void test_http_auth_access_log_and_metrics(void **state)
{
    struct fixture *f = *state;
    struct http_client_response r;
    assert_int_equal(call(f->daemon.port, CALL_TFS_METADATA, BEARER(TOKEN_A), &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    /* The access log names the token by the first 8 hex digits of its SHA-256. */
    char id[16], needle[64];
    digest_hex(TOKEN_A, id, ATROUSD_AUTH_ID_LEN);
    snprintf(needle, sizeof(needle), "\"token_id\":\"%s\"", id);
    assert_int_equal(test_daemon_wait_log(&f->daemon, needle, WAIT_MS), 0);
    digest_hex(TOKEN_B, id, ATROUSD_AUTH_ID_LEN);
    snprintf(needle, sizeof(needle), "\"token_id\":\"%s\"", id);
    assert_int_equal(test_daemon_wait_log(&f->daemon, needle, WAIT_MS), 0);
    /* Refusals by reason (the earlier tests made each kind). */
    assert_int_equal(test_daemon_wait_metric(
                         &f->daemon, "atrousd_auth_refused_total{reason=\"missing\"}", 1, WAIT_MS),
                     0);
    assert_int_equal(test_daemon_wait_metric(
                         &f->daemon, "atrousd_auth_refused_total{reason=\"invalid\"}", 1, WAIT_MS),
                     0);
    assert_int_equal(test_daemon_wait_metric(&f->daemon,
                                             "atrousd_auth_refused_total{reason=\"duplicate\"}", 1,
                                             WAIT_MS),
                     0);
    double tokens = 0;
    assert_int_equal(test_daemon_metric(&f->daemon, "atrousd_auth_tokens", &tokens), 0);
    assert_true(tokens == 2);
}

/* The whole log so far holds no secret (the suite's check_secrets.sh greps every log too). */
static void assert_log_clean(const struct test_daemon *d)
{
    char *log = test_daemon_log(d);
    assert_non_null(log);
    assert_non_null(strstr(log, "\"msg\":\"auth: bearer tokens required\""));
    assert_null(strstr(log, SECRET_MARK));
    free(log);
}

/* Waits for the n-th line holding needle. */
static void wait_log_count(const struct test_daemon *d, const char *needle, int n)
{
    int64_t deadline = test_now_ms() + WAIT_MS;
    for (;;) {
        char *log = test_daemon_log(d);
        int seen = 0;
        for (const char *p = log; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
            seen++;
        free(log);
        if (seen >= n)
            return;
        assert_true(test_now_ms() < deadline);
        test_pause_ms(10);
    }
}

static void test_http_auth_reload_when_the_file_changes(void **state)
{
    struct fixture *f = *state;
    uint16_t port = f->daemon.port;
    const char *changed = "\"msg\":\"auth: token file reloaded\"";
    const char *failed = "\"msg\":\"auth: token file reload failed; the previous tokens stay\"";
    /* TOKEN_A removed, TOKEN_C added: refused and accepted as soon as the reload is logged. */
    write_text(f->tokens, TOKEN_B "\n" TOKEN_C "\n");
    wait_log_count(&f->daemon, changed, 1);
    assert_status(port, "GET", "/v2/models/" MODEL, BEARER(TOKEN_A), 401);
    assert_status(port, "GET", "/v2/models/" MODEL, BEARER(TOKEN_C), 200);
    /* A malformed file: the reload fails (logged), the tokens stay. */
    write_text(f->tokens, TOKEN_A "\nthis line is not a token " SECRET_MARK "\n");
    wait_log_count(&f->daemon, failed, 1);
    assert_status(port, "GET", "/v2/models/" MODEL, BEARER(TOKEN_C), 200);
    assert_status(port, "GET", "/v2/models/" MODEL, BEARER(TOKEN_A), 401);
    /* The error names the line, never its text. */
    char *log = test_daemon_log(&f->daemon);
    assert_non_null(strstr(log, "line 2:"));
    free(log);
    assert_log_clean(&f->daemon);
}

/* A daemon with the defaults (only --auth-token-file): the probes open, /metrics and /v1/info
 * closed; then SIGHUP reloads the file (no poll: --auth-reload-ms 0). */
static void test_http_auth_defaults_and_sighup(void **state)
{
    (void)state;
    struct fixture g = {0};
    make_scratch(&g);
    assert_int_equal(start_daemon(&g, NULL, "0"), 0);
    uint16_t port = g.daemon.port;
    const char *probes[] = {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"};
    for (size_t i = 0; i < 4; i++)
        assert_status(port, "GET", probes[i], NULL, 200);
    assert_status(port, "GET", "/metrics", NULL, 401);
    assert_status(port, "GET", "/metrics", BEARER(TOKEN_A), 200);
    assert_status(port, "GET", "/v1/info", NULL, 401);
    /* The health probe of the container works with auth on. */
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%u", port);
    const char *probe[] = {"--health-probe", "--port", port_text, NULL};
    assert_int_equal(test_daemon_run_once(probe, NULL, WAIT_MS, NULL), 0);

    write_text(g.tokens, TOKEN_C "\n");
    /* SIGHUP reloads once the signal thread serves, which the "ready" line follows (/readyz
     * may answer 200 a moment before). */
    assert_int_equal(test_daemon_wait_log(&g.daemon, "\"msg\":\"ready\"", WAIT_MS), 0);
    assert_int_equal(test_daemon_signal(&g.daemon, SIGHUP), 0);
    assert_int_equal(
        test_daemon_wait_log(&g.daemon, "\"msg\":\"auth: token file reloaded\",\"file\":", WAIT_MS),
        0);
    assert_int_equal(test_daemon_wait_log(&g.daemon, "\"trigger\":\"SIGHUP\"", WAIT_MS), 0);
    assert_status(port, "GET", "/v1/info", BEARER(TOKEN_A), 401);
    assert_status(port, "GET", "/v1/info", BEARER(TOKEN_B), 401);
    assert_status(port, "GET", "/v1/info", BEARER(TOKEN_C), 200);
    assert_log_clean(&g.daemon);
    assert_int_equal(test_daemon_stop(&g.daemon), 0);
    remove_scratch(g.root);
}

/* One request on a fresh TLS connection verifying the server against ca. 0 with *r, or -1. */
static int tls_call(uint16_t port, const char *ca, const char *method, const char *path,
                    const char *const *headers, const void *body, size_t len,
                    struct http_client_response *r)
{
    struct tls_client_opts o = {.ca_file = ca};
    struct tls_conn c;
    if (tls_conn_open(port, &o, &c) != 0)
        return -1;
    int rc =
        http_client_send_request(c.fd, method, path, headers, body, len) == 0 &&
                http_client_read(c.fd, strcmp(method, "HEAD") == 0, HTTP_CLIENT_TIMEOUT_MS, r) == 0
            ? 0
            : -1;
    tls_conn_close(&c);
    return rc;
}

/* TLS and tokens together: over TLS (the server verified against the test CA, as curl
 * --cacert does) KServe infer and metadata answer 200 with the token and 401 without it or
 * with a wrong one; the probes stay open, --health-probe (TLS) included. */
static void test_http_auth_with_tls(void **state)
{
    (void)state;
    struct fixture g = {0};
    char pki[TLS_PKI_PATH_MAX];
    struct tls_pki_ca ca;
    struct tls_pki_cert server;
    make_scratch(&g);
    assert_int_equal(tls_pki_dir(pki, sizeof(pki)), 0);
    assert_int_equal(tls_pki_ca_make(pki, "ca", "atrousd auth test CA", &ca), 0);
    assert_int_equal(tls_pki_issue(&ca, pki, "server", TLS_PKI_SERVER, -3600, 86400, NULL, &server),
                     0);
    const char *args[] = {"--model-dir", g.models,        "--auth-token-file",
                          g.tokens,      "--tls-cert",    server.cert_path,
                          "--tls-key",   server.key_path, NULL};
    char why[2048];
    assert_int_equal(test_daemon_spawn(&g.daemon, args, why, sizeof(why)), 0);
    assert_int_equal(test_daemon_wait_log(&g.daemon, "\"msg\":\"ready\"", WAIT_MS), 0);
    assert_int_equal(test_daemon_read_port(&g.daemon), 0);
    uint16_t port = g.daemon.port;
    struct http_client_response r;
    const char *probes[] = {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tls_call(port, ca.cert_path, "GET", probes[i], NULL, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        http_client_response_free(&r);
    }
    size_t len = 0;
    char *body = repo_infer_body(&len);
    assert_non_null(body);
    const char *infer_ok[] = {"Content-Type: application/json", BEARER(TOKEN_A), NULL};
    const char *infer_wrong[] = {"Content-Type: application/json", BEARER(WRONG_TOKEN), NULL};
    const char *infer_none[] = {"Content-Type: application/json", NULL};
    const char *path = "/v2/models/" MODEL "/infer";
    assert_int_equal(tls_call(port, ca.cert_path, "POST", path, infer_ok, body, len, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    assert_int_equal(tls_call(port, ca.cert_path, "POST", path, infer_wrong, body, len, &r), 0);
    assert_401(&r, true);
    http_client_response_free(&r);
    assert_int_equal(tls_call(port, ca.cert_path, "POST", path, infer_none, body, len, &r), 0);
    assert_401(&r, false);
    http_client_response_free(&r);
    free(body);
    const char *meta_ok[] = {BEARER(TOKEN_B), NULL};
    assert_int_equal(tls_call(port, ca.cert_path, "GET", "/v2/models/" MODEL, meta_ok, NULL, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    assert_int_equal(tls_call(port, ca.cert_path, "GET", "/v2/models/" MODEL, NULL, NULL, 0, &r),
                     0);
    assert_401(&r, false);
    http_client_response_free(&r);
    /* The container's probe: TLS, no token, /readyz open. */
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%u", port);
    const char *probe[] = {"--health-probe", "--port",    port_text,       "--tls-cert",
                           server.cert_path, "--tls-key", server.key_path, NULL};
    assert_int_equal(test_daemon_run_once(probe, NULL, WAIT_MS, NULL), 0);
    assert_log_clean(&g.daemon);
    assert_int_equal(test_daemon_stop(&g.daemon), 0);
    tls_pki_ca_free(&ca);
    tls_pki_dir_remove(pki);
    remove_scratch(g.root);
}

static void test_http_auth_bad_token_file_stops_the_start(void **state)
{
    (void)state;
    char path[] = "/tmp/atrousd-auth-bad-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "# ok\n" TOKEN_A "\nhalf-of-a-pasted-" SECRET_MARK " sentence\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    const char *args[] = {"--port", "0", "--auth-token-file", path, NULL};
    char *out = NULL;
    int code = test_daemon_run_once(args, NULL, WAIT_MS, &out);
    unlink(path);
    assert_non_null(out);
    assert_int_equal(code, 1);
    assert_non_null(strstr(out, path));
    assert_non_null(strstr(out, "line 3:"));
    assert_null(strstr(out, SECRET_MARK));
    free(out);
    /* A bad --auth-open-paths is a flag error (exit 2). */
    const char *bad_paths[] = {"--auth-open-paths", "healthz", NULL};
    out = NULL;
    assert_int_equal(test_daemon_run_once(bad_paths, NULL, WAIT_MS, &out), 2);
    assert_non_null(out);
    assert_non_null(strstr(out, "--auth-open-paths"));
    free(out);
}

int main(void)
{
    /* A 401 closes the connection under a request body still being written: the write fails
     * with EPIPE instead of killing the test (the TLS client's pump writes to the socket). */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_auth_token_accepted_wrong_and_missing_refused),
        cmocka_unit_test(test_http_auth_sha256_form_and_scheme_case),
        cmocka_unit_test(test_http_auth_two_authorization_headers_are_400),
        cmocka_unit_test(test_http_auth_open_paths),
        cmocka_unit_test(test_http_auth_401_for_a_large_upload_before_its_body),
        cmocka_unit_test(test_http_auth_access_log_and_metrics),
        /* Changes the token file: last of the group's daemon. */
        cmocka_unit_test(test_http_auth_reload_when_the_file_changes),
        cmocka_unit_test(test_http_auth_defaults_and_sighup),
        cmocka_unit_test(test_http_auth_with_tls),
        cmocka_unit_test(test_http_auth_bad_token_file_stops_the_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
