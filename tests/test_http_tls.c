/*
 * test_http_tls.c - native TLS and mutual TLS of the real daemon, with a PKI made at test time
 * (tls_pki.h) and a GnuTLS client (tls_client.h): the op's binary form and a KServe v2 JSON
 * infer answered over TLS on one connection; the health probe over TLS (and with mutual TLS);
 * client certificates accepted, missing, from another CA, expired; an expired server
 * certificate failing the client's verification; plain HTTP to the TLS port refused with the
 * daemon still serving; reload on SIGHUP and on file change, a bad reload keeping the old
 * certificate; start-up errors naming the flag; the key's password never in a log.
 *
 * Every wait is for something observable: a log line, an answer, the end of a connection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpus.h"
#include "daemon.h"
#include "http_client.h"
#include "repo_models.h"
#include "tls_client.h"
#include "tls_pki.h"

/* Secrets of this file: the suite's log grep looks for the marker substring. */
#define KEY_PASSWORD   "key-pass-atrousd-test-secret-7f3a"
#define WRONG_PASSWORD "wrong-atrousd-test-secret-0000"
#define SECRET_MARKER  "atrousd-test-secret"

#define CASE_NAME "sweep_k3x3_r2_same"
#define WAIT_MS   60000

/* The flags of the server certificate with its encrypted key. */
#define ENCRYPTED_KEY_ARGS(p)                                                                      \
    "--tls-cert", (p).server.cert_path, "--tls-key", (p).server.key_path,                          \
        "--tls-key-password-file", (p).password_file

/* One test's PKI: a CA, a server certificate, a client one; another CA and its client. */
struct pki {
    char dir[TLS_PKI_PATH_MAX];
    struct tls_pki_ca ca, other_ca;
    struct tls_pki_cert server, client, stranger, expired_client;
    char password_file[TLS_PKI_PATH_MAX + 32];
};

/* A file of the PKI's folder. */
static void pki_path(const struct pki *p, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", p->dir, name);
}

static void pki_make(struct pki *p, const char *server_password)
{
    memset(p, 0, sizeof(*p));
    assert_int_equal(tls_pki_dir(p->dir, sizeof(p->dir)), 0);
    assert_int_equal(tls_pki_ca_make(p->dir, "ca", "atrousd test CA", &p->ca), 0);
    assert_int_equal(tls_pki_ca_make(p->dir, "other-ca", "another CA", &p->other_ca), 0);
    assert_int_equal(tls_pki_issue(&p->ca, p->dir, "server", TLS_PKI_SERVER, -3600, 86400,
                                   server_password, &p->server),
                     0);
    assert_int_equal(
        tls_pki_issue(&p->ca, p->dir, "client", TLS_PKI_CLIENT, -3600, 86400, NULL, &p->client), 0);
    assert_int_equal(tls_pki_issue(&p->other_ca, p->dir, "stranger", TLS_PKI_CLIENT, -3600, 86400,
                                   NULL, &p->stranger),
                     0);
    assert_int_equal(tls_pki_issue(&p->ca, p->dir, "expired-client", TLS_PKI_CLIENT, -2 * 86400,
                                   -86400, NULL, &p->expired_client),
                     0);
    pki_path(p, "password", p->password_file, sizeof(p->password_file));
    if (server_password != NULL) {
        char line[128];
        int n = snprintf(line, sizeof(line), "%s\n", server_password);
        assert_int_equal(tls_pki_write_file(p->password_file, line, (size_t)n), 0);
    }
}

static void pki_free(struct pki *p)
{
    tls_pki_ca_free(&p->ca);
    tls_pki_ca_free(&p->other_ca);
    tls_pki_dir_remove(p->dir);
}

/* Fails the test when the daemon's log holds the secret marker. */
static void assert_log_has_no_secret(const struct test_daemon *d)
{
    char *log = test_daemon_log(d);
    assert_non_null(log);
    if (strstr(log, SECRET_MARKER) != NULL)
        fail_msg("a secret reached the log:\n%.2000s", log);
    free(log);
}

/* Starts the daemon with args (it serves TLS, so readiness is its "ready" log line, not a
 * plain GET /readyz). */
static void start_tls_daemon(struct test_daemon *d, const char *const *args)
{
    char why[2048];
    assert_int_equal(test_daemon_spawn(d, args, why, sizeof(why)), 0);
    if (test_daemon_wait_log(d, "\"msg\":\"ready\"", WAIT_MS) != 0) {
        char *log = test_daemon_log(d);
        fail_msg("the TLS daemon did not become ready; log:\n%.3000s", log ? log : "(none)");
    }
    assert_int_equal(test_daemon_read_port(d), 0);
}

/* The end of a test: no secret in the log, a clean exit on SIGTERM, the PKI removed. */
static void finish(struct test_daemon *d, struct pki *p)
{
    assert_log_has_no_secret(d);
    assert_int_equal(test_daemon_stop(d), 0);
    pki_free(p);
}

/* One request on a fresh TLS connection. 0 with *r filled; -1 when the handshake failed;
 * -2 when the handshake passed but no answer came (the server ended the session). */
static int tls_request(uint16_t port, const struct tls_client_opts *o, const char *method,
                       const char *target, struct http_client_response *r, struct tls_conn *out)
{
    struct tls_conn c;
    if (tls_conn_open(port, o, &c) != 0) {
        if (out != NULL)
            *out = c;
        return -1;
    }
    int rc =
        http_client_send_request(c.fd, method, target, NULL, NULL, 0) == 0 &&
                http_client_read(c.fd, strcmp(method, "HEAD") == 0, HTTP_CLIENT_TIMEOUT_MS, r) == 0
            ? 0
            : -2;
    if (out != NULL)
        *out = c;
    tls_conn_close(&c);
    return rc;
}

/* GET /readyz over TLS answers 200, and the server's certificate has this serial. */
static void assert_serves(uint16_t port, const struct tls_client_opts *o, const char *serial)
{
    struct http_client_response r;
    struct tls_conn c;
    int rc = tls_request(port, o, "GET", "/readyz", &r, &c);
    if (rc == -1)
        fail_msg("handshake failed: %s", tls_client_strerror(c.handshake_rc));
    assert_int_equal(rc, 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    if (serial != NULL)
        assert_string_equal(c.peer_serial, serial);
}

static int probe(uint16_t port, const char *const *tls_args, char **output)
{
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%u", port);
    const char *args[16] = {"--health-probe", "--port", port_text};
    size_t n = 3;
    for (size_t i = 0; tls_args != NULL && tls_args[i] != NULL && n < 15; i++)
        args[n++] = tls_args[i];
    args[n] = NULL;
    return test_daemon_run_once(args, NULL, WAIT_MS, output);
}

static void load_case(struct corpus_case *c)
{
    char **paths = NULL;
    size_t count = 0;
    char why[1024];
    assert_int_equal(corpus_list("valid", &paths, &count, why, sizeof(why)), 0);
    int loaded = -1;
    for (size_t i = 0; i < count && loaded != 0; i++) {
        if (strstr(paths[i], CASE_NAME) != NULL)
            loaded = corpus_load(paths[i], c, why, sizeof(why));
    }
    corpus_paths_free(paths, count);
    assert_int_equal(loaded, 0);
}

static void test_tls_answers_binary_and_kserve_json(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p, KEY_PASSWORD);
    /* A model repository with one model, for the KServe request. */
    char models[TLS_PKI_PATH_MAX + 16];
    pki_path(&p, "models", models, sizeof(models));
    assert_int_equal(mkdir(models, 0755), 0);
    struct repo_variant variant;
    repo_variant_make(&variant, 7, REPO_RATE);
    assert_int_equal(
        repo_write_model(models, "edges", "edges", "1", REPO_RATE, variant.filters, ""), 0);
    const char *args[] = {ENCRYPTED_KEY_ARGS(p), "--model-dir", models, NULL};
    struct test_daemon d;
    start_tls_daemon(&d, args);

    struct tls_client_opts o = {.ca_file = p.ca.cert_path};
    struct tls_conn c;
    int rc = tls_conn_open(d.port, &o, &c);
    if (rc != 0)
        fail_msg("handshake failed: %s", tls_client_strerror(c.handshake_rc));
    assert_string_equal(c.peer_serial, p.server.serial);

    /* The op's binary form... */
    struct corpus_case sample;
    load_case(&sample);
    struct http_op_args a;
    http_op_args_from_case(&sample, &a);
    struct http_client_response r;
    struct http_op_output out;
    char why[512];
    assert_int_equal(http_op_send(c.fd, &a, HTTP_OP_BINARY, NULL, NULL), 0);
    assert_int_equal(http_client_read(c.fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(http_op_parse(&r, &out), 0);
    if (http_op_check(&out, &sample.expected_shape, sample.expected, sample.expected_count, why,
                      sizeof(why)) != 0)
        fail_msg("binary answer over TLS: %s", why);
    http_op_output_free(&out);
    http_client_response_free(&r);

    /* ...and a KServe v2 JSON infer, on the same kept-alive connection. */
    size_t len = 0;
    char *body = repo_infer_body(&len);
    assert_non_null(body);
    const char *headers[] = {"Content-Type: application/json", NULL};
    assert_int_equal(
        http_client_send_request(c.fd, "POST", "/v2/models/edges/infer", headers, body, len), 0);
    free(body);
    assert_int_equal(http_client_read(c.fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 200);
    if (repo_match(&r, &variant, 1, why, sizeof(why)) != 0)
        fail_msg("KServe answer over TLS: %s", why);
    http_client_response_free(&r);
    tls_conn_close(&c);
    corpus_case_free(&sample);

    /* The access log records the TLS version of each request. */
    assert_int_equal(test_daemon_wait_log(&d, "\"path\":\"/v2/models/edges/infer\"", WAIT_MS), 0);
    char *log = test_daemon_log(&d);
    assert_non_null(strstr(log, "\"tls\":\"TLS1."));
    free(log);

    /* The health probe speaks TLS with the same flags; without them it fails. */
    const char *probe_tls[] = {ENCRYPTED_KEY_ARGS(p), NULL};
    char *output = NULL;
    assert_int_equal(probe(d.port, probe_tls, &output), 0);
    free(output);
    assert_int_equal(probe(d.port, NULL, &output), 1);
    free(output);
    finish(&d, &p);
}

static void test_tls_plain_http_to_the_tls_port_is_refused(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p, NULL);
    const char *args[] = {"--tls-cert", p.server.cert_path, "--tls-key", p.server.key_path, NULL};
    struct test_daemon d;
    start_tls_daemon(&d, args);
    for (int i = 0; i < 3; i++) {
        struct http_client_response r;
        int fd = http_client_connect(d.port, HTTP_CLIENT_TIMEOUT_MS);
        assert_true(fd >= 0);
        assert_int_equal(http_client_send_request(fd, "GET", "/readyz", NULL, NULL, 0), 0);
        /* No HTTP answer: the server ends the connection (its handshake failed). */
        assert_int_equal(http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), -1);
        close(fd);
    }
    /* A connection that sends nothing at all is no harm to the others either. */
    int idle = http_client_connect(d.port, HTTP_CLIENT_TIMEOUT_MS);
    assert_true(idle >= 0);
    struct tls_client_opts o = {.ca_file = p.ca.cert_path};
    assert_serves(d.port, &o, p.server.serial);
    close(idle);
    assert_true(test_daemon_alive(&d));
    finish(&d, &p);
}

static void test_tls_expired_server_certificate_fails_verification(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p, NULL);
    struct tls_pki_cert expired;
    assert_int_equal(tls_pki_issue(&p.ca, p.dir, "expired-server", TLS_PKI_SERVER, -2 * 86400,
                                   -86400, NULL, &expired),
                     0);
    const char *args[] = {"--tls-cert", expired.cert_path, "--tls-key", expired.key_path, NULL};
    struct test_daemon d;
    start_tls_daemon(&d, args);
    /* The start-up says the certificate has expired. */
    assert_int_equal(test_daemon_wait_log(&d, "tls: the certificate has expired", WAIT_MS), 0);
    struct tls_client_opts verifying = {.ca_file = p.ca.cert_path};
    struct tls_conn c;
    assert_int_equal(tls_conn_open(d.port, &verifying, &c), -1);
    assert_int_equal(c.handshake_rc, GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR);
    assert_true(c.verify_status & GNUTLS_CERT_EXPIRED);
    /* It is the client's check that fails: one that does not verify gets its answer. */
    struct tls_client_opts trusting = {0};
    assert_serves(d.port, &trusting, expired.serial);
    finish(&d, &p);
}

static void assert_refused(uint16_t port, const struct tls_client_opts *o)
{
    struct http_client_response r;
    int rc = tls_request(port, o, "GET", "/readyz", &r, NULL);
    if (rc == 0) {
        int status = r.status;
        http_client_response_free(&r);
        fail_msg("a client without a valid certificate got HTTP %d", status);
    }
}

static void test_mutual_tls_accepts_and_refuses_client_certificates(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p, NULL);
    const char *args[] = {"--tls-cert",      p.server.cert_path, "--tls-key", p.server.key_path,
                          "--tls-client-ca", p.ca.cert_path,     NULL};
    struct test_daemon d;
    start_tls_daemon(&d, args);
    static const char *const versions[] = {"NORMAL", "NORMAL:-VERS-TLS1.3"};
    for (size_t v = 0; v < 2; v++) {
        struct tls_client_opts valid = {.ca_file = p.ca.cert_path,
                                        .cert_file = p.client.cert_path,
                                        .key_file = p.client.key_path,
                                        .priorities = versions[v]};
        assert_serves(d.port, &valid, p.server.serial);
        struct tls_client_opts none = {.ca_file = p.ca.cert_path, .priorities = versions[v]};
        assert_refused(d.port, &none);
    }
    struct tls_client_opts stranger = {.ca_file = p.ca.cert_path,
                                       .cert_file = p.stranger.cert_path,
                                       .key_file = p.stranger.key_path};
    assert_refused(d.port, &stranger);
    assert_int_equal(test_daemon_wait_log(&d, "tls: client certificate refused", WAIT_MS), 0);
    struct tls_client_opts expired = {.ca_file = p.ca.cert_path,
                                      .cert_file = p.expired_client.cert_path,
                                      .key_file = p.expired_client.key_path};
    assert_refused(d.port, &expired);
    assert_int_equal(test_daemon_wait_log(&d, "uses expired certificate", WAIT_MS), 0);
    /* The probe presents the server's own certificate. */
    const char *probe_tls[] = {
        "--tls-cert",      p.server.cert_path, "--tls-key", p.server.key_path,
        "--tls-client-ca", p.ca.cert_path,     NULL};
    char *output = NULL;
    assert_int_equal(probe(d.port, probe_tls, &output), 0);
    free(output);
    /* Still serving the valid client after all the refusals. */
    struct tls_client_opts valid = {
        .ca_file = p.ca.cert_path, .cert_file = p.client.cert_path, .key_file = p.client.key_path};
    assert_serves(d.port, &valid, p.server.serial);
    finish(&d, &p);
}

/*
 * Starts the daemon with args, checks it serves p's server certificate, issues a new one in its
 * place (the key is renamed into place before the certificate: a poll may see the new key with
 * the old certificate first, a failed reload, then both), sends SIGHUP when sighup says so, waits
 * for the second generation's log line and checks that new handshakes get the new certificate.
 */
static void renew_and_check(struct test_daemon *d, const char *const *args, struct pki *p,
                            const char *password, bool sighup, struct tls_pki_cert *renewed)
{
    start_tls_daemon(d, args);
    struct tls_client_opts o = {.ca_file = p->ca.cert_path};
    assert_serves(d->port, &o, p->server.serial);
    assert_int_equal(
        tls_pki_issue(&p->ca, p->dir, "server", TLS_PKI_SERVER, -3600, 86400, password, renewed),
        0);
    assert_string_not_equal(renewed->serial, p->server.serial);
    if (sighup)
        assert_int_equal(test_daemon_signal(d, SIGHUP), 0);
    assert_int_equal(
        test_daemon_wait_log(d, "\"tls: credentials reloaded\",\"generation\":2", WAIT_MS), 0);
    char *log = test_daemon_log(d);
    assert_non_null(strstr(log, sighup ? "\"trigger\":\"SIGHUP\"" : "\"trigger\":\"file change\""));
    free(log);
    assert_serves(d->port, &o, renewed->serial);
}

static void test_tls_reload_on_sighup_keeps_old_credentials_on_bad_files(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p, KEY_PASSWORD);
    const char *args[] = {ENCRYPTED_KEY_ARGS(p), "--tls-reload-ms", "0", NULL};
    struct test_daemon d;
    struct tls_pki_cert renewed;
    struct tls_client_opts o = {.ca_file = p.ca.cert_path};
    renew_and_check(&d, args, &p, KEY_PASSWORD, true, &renewed);

    /* A broken certificate file: the reload fails, is logged, and the renewed one stays. */
    static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n";
    assert_int_equal(tls_pki_write_file(p.server.cert_path, junk, sizeof(junk) - 1), 0);
    assert_int_equal(test_daemon_signal(&d, SIGHUP), 0);
    assert_int_equal(test_daemon_wait_log(&d, "tls: reload failed", WAIT_MS), 0);
    char *log = test_daemon_log(&d);
    assert_non_null(strstr(log, "\"flag\":\"tls-cert\""));
    free(log);
    assert_serves(d.port, &o, renewed.serial);
    finish(&d, &p);
}

static void test_tls_reload_on_file_change(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p, NULL);
    const char *args[] = {
        "--tls-cert", p.server.cert_path, "--tls-key", p.server.key_path, "--tls-reload-ms", "50",
        NULL};
    struct test_daemon d;
    struct tls_pki_cert renewed;
    renew_and_check(&d, args, &p, NULL, false, &renewed);
    finish(&d, &p);
}

/* Runs the daemon with TLS args that must stop its start; returns its output. */
static char *start_fails(const char *const *tls_args, int expected_exit)
{
    const char *args[20] = {"--host", "127.0.0.1", "--port", "0"};
    size_t n = 4;
    for (size_t i = 0; tls_args[i] != NULL && n < 19; i++)
        args[n++] = tls_args[i];
    args[n] = NULL;
    char *output = NULL;
    int rc = test_daemon_run_once(args, NULL, WAIT_MS, &output);
    if (rc != expected_exit)
        fail_msg("exit %d, expected %d; output:\n%.2000s", rc, expected_exit, output ? output : "");
    assert_non_null(output);
    if (strstr(output, SECRET_MARKER) != NULL)
        fail_msg("a secret reached the output:\n%.2000s", output);
    return output;
}

static void assert_contains(char *output, const char *needle)
{
    if (strstr(output, needle) == NULL)
        fail_msg("'%s' not in:\n%.2000s", needle, output);
    free(output);
}

static void test_tls_start_up_errors_name_the_flag(void **state)
{
    (void)state;
    struct pki p;
    pki_make(&p, KEY_PASSWORD);
    char missing[TLS_PKI_PATH_MAX + 16], wrong_password[TLS_PKI_PATH_MAX + 16];
    pki_path(&p, "missing.pem", missing, sizeof(missing));
    pki_path(&p, "wrong-password", wrong_password, sizeof(wrong_password));
    assert_int_equal(
        tls_pki_write_file(wrong_password, WRONG_PASSWORD "\n", sizeof(WRONG_PASSWORD "\n") - 1),
        0);

    const char *no_cert[] = {"--tls-cert", missing, "--tls-key", p.server.key_path, NULL};
    assert_contains(start_fails(no_cert, 1), "--tls-cert");
    const char *mismatch[] = {"--tls-cert", p.client.cert_path, "--tls-key", p.stranger.key_path,
                              NULL};
    assert_contains(start_fails(mismatch, 1), "does not match");
    const char *bad_password[] = {"--tls-cert",
                                  p.server.cert_path,
                                  "--tls-key",
                                  p.server.key_path,
                                  "--tls-key-password-file",
                                  wrong_password,
                                  NULL};
    assert_contains(start_fails(bad_password, 1), "--tls-key");
    const char *no_password[] = {"--tls-cert", p.server.cert_path, "--tls-key", p.server.key_path,
                                 NULL};
    assert_contains(start_fails(no_password, 1), "--tls-key-password-file");
    const char *no_key[] = {"--tls-cert", p.server.cert_path, NULL};
    assert_contains(start_fails(no_key, 2), "--tls-key");
    const char *bad_priorities[] = {
        "--tls-cert",       p.client.cert_path, "--tls-key", p.client.key_path,
        "--tls-priorities", "NOT-A-PRIORITY",   NULL};
    assert_contains(start_fails(bad_priorities, 1), "--tls-priorities");
    pki_free(&p);
}

int main(void)
{
    /* GnuTLS writes with plain send(): a server closing first must not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_answers_binary_and_kserve_json),
        cmocka_unit_test(test_tls_plain_http_to_the_tls_port_is_refused),
        cmocka_unit_test(test_tls_expired_server_certificate_fails_verification),
        cmocka_unit_test(test_mutual_tls_accepts_and_refuses_client_certificates),
        cmocka_unit_test(test_tls_reload_on_sighup_keeps_old_credentials_on_bad_files),
        cmocka_unit_test(test_tls_reload_on_file_change),
        cmocka_unit_test(test_tls_start_up_errors_name_the_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
