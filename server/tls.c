/*
 * tls.c - native TLS and mutual TLS through libmicrohttpd's GnuTLS support.
 *
 * Decisions:
 *   - libmicrohttpd gets a certificate callback (MHD_OPTION_HTTPS_CERT_CALLBACK2) instead of
 *     the certificate and key themselves, so a reload reaches the next handshake without a
 *     restart: each handshake asks for the credentials loaded last. The callback has no
 *     closure, so the one TLS object of the process is found through `active` (the only
 *     mutable global here, set by create and cleared by free).
 *   - Every handshake gets its own copies of the certificate chain and key, imported from the
 *     DER kept in memory, and GnuTLS frees them with the session (GNUTLS_CERT_RETR_DEINIT_ALL):
 *     a reload frees the old credentials at once without a session pointing at them.
 *   - Mutual TLS: the callback, which runs while the ClientHello is processed (before the
 *     server's CertificateRequest), makes the session require a client certificate and sets a
 *     verify function that checks it against --tls-client-ca (chain, validity dates, key
 *     purpose TLS client) during the handshake: a client without a valid certificate fails the
 *     handshake and never reaches HTTP. The client CA is reloaded with the rest. The server's
 *     own certificate is accepted as a client certificate (the health probe presents it; the
 *     handshake proves the client holds the server's key).
 *   - Reload: on SIGHUP, and when a poll thread sees a file's identity, size or modification
 *     time change (--tls-reload-ms). A reload that fails keeps what is in use and logs an
 *     error; the files are retried when one of them changes again (a rotation that replaces
 *     the certificate and the key one after the other succeeds at the second).
 *   - Secrets: the password file's line and the key never reach a log line or an error; the
 *     memory that held them is wiped before it is freed.
 */
#include "tls.h"

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "log.h"

/* One loaded set of credentials; shared by reference while a handshake uses it. */
struct bundle {
    _Atomic unsigned refs;
    gnutls_datum_t chain[ATROUSD_TLS_CHAIN_MAX]; /* DER, leaf first */
    unsigned chain_len;
    gnutls_datum_t key;               /* DER, unencrypted: wiped when freed */
    gnutls_x509_trust_list_t clients; /* --tls-client-ca; NULL without mutual TLS */
    char subject[256];
    char serial[64];
    char not_after[32];
    time_t expires;
};

/* What a file was when it was last loaded (or tried): a change of any field is a change. */
struct file_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool present;
};

enum tls_file { FILE_CERT, FILE_KEY, FILE_PASSWORD, FILE_CLIENT_CA, FILE_COUNT };

struct atrousd_tls {
    const char *paths[FILE_COUNT]; /* into config; "" = not given */
    const char *priorities;
    struct atrousd_config config; /* a copy: the paths point into it */
    pthread_mutex_t lock;         /* current, generation, stamps */
    struct bundle *current;
    uint64_t generation;
    struct file_stamp stamps[FILE_COUNT];
    /* The poll thread. */
    uint64_t poll_ms;
    pthread_t poller;
    bool poller_started;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
};

static struct atrousd_tls *_Atomic active;

bool atrousd_tls_enabled(const struct atrousd_config *cfg)
{
    return cfg->tls_cert[0] != '\0';
}

static void wipe_free(gnutls_datum_t *d)
{
    if (d->data != NULL) {
        gnutls_memset(d->data, 0, d->size);
        gnutls_free(d->data);
    }
    d->data = NULL;
    d->size = 0;
}

static void bundle_release(struct bundle *b)
{
    if (b == NULL || atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    for (unsigned i = 0; i < b->chain_len; i++)
        gnutls_free(b->chain[i].data);
    wipe_free(&b->key);
    if (b->clients != NULL)
        gnutls_x509_trust_list_deinit(b->clients, 1);
    free(b);
}

/* The credentials in use, with a reference the caller releases; NULL when there are none. */
static struct bundle *bundle_acquire(struct atrousd_tls *tls)
{
    pthread_mutex_lock(&tls->lock);
    struct bundle *b = tls->current;
    if (b != NULL)
        atomic_fetch_add(&b->refs, 1);
    pthread_mutex_unlock(&tls->lock);
    return b;
}

/* Reads a whole file into a gnutls_malloc'd datum (NUL-terminated, not counted). */
static enum atrous_status read_file(const char *flag, const char *path, gnutls_datum_t *out,
                                    struct atrous_error *err)
{
    out->data = NULL;
    out->size = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, flag, "--%s %s: cannot open: %s",
                                flag, path, strerror(errno));
    enum atrous_status st = ATROUS_OK;
    unsigned char *buf = gnutls_malloc(ATROUSD_TLS_FILE_MAX + 1);
    if (buf == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, flag, "--%s: out of memory", flag);
        goto out;
    }
    size_t n = fread(buf, 1, ATROUSD_TLS_FILE_MAX + 1, f);
    if (ferror(f)) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, flag, "--%s %s: cannot read: %s", flag,
                              path, strerror(errno));
    } else if (n > ATROUSD_TLS_FILE_MAX) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, flag,
                              "--%s %s: larger than %zu bytes, not a credentials file", flag, path,
                              ATROUSD_TLS_FILE_MAX);
    } else if (n == 0) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, flag, "--%s %s: the file is empty",
                              flag, path);
    }
    if (st != ATROUS_OK) {
        gnutls_memset(buf, 0, ATROUSD_TLS_FILE_MAX + 1);
        gnutls_free(buf);
        goto out;
    }
    buf[n] = '\0';
    out->data = buf;
    out->size = (unsigned)n;
out:
    fclose(f);
    return st;
}

/* The password: the file's first line, without its line end. */
static enum atrous_status read_password(const char *path, char **out, struct atrous_error *err)
{
    gnutls_datum_t d;
    *out = NULL;
    enum atrous_status st = read_file("tls-key-password-file", path, &d, err);
    if (st != ATROUS_OK)
        return st;
    d.data[strcspn((char *)d.data, "\r\n")] = '\0';
    *out = (char *)d.data; /* gnutls_malloc'd; wiped and freed by the caller */
    return ATROUS_OK;
}

static void free_password(char *password)
{
    if (password != NULL) {
        gnutls_memset(password, 0, strlen(password));
        gnutls_free(password);
    }
}

static void describe_cert(gnutls_x509_crt_t crt, struct bundle *b)
{
    size_t size = sizeof(b->subject);
    if (gnutls_x509_crt_get_dn(crt, b->subject, &size) != 0)
        snprintf(b->subject, sizeof(b->subject), "?");
    unsigned char serial[32];
    size = sizeof(serial);
    b->serial[0] = '\0';
    if (gnutls_x509_crt_get_serial(crt, serial, &size) == 0) {
        for (size_t i = 0; i < size && 2 * i + 2 < sizeof(b->serial); i++)
            snprintf(b->serial + 2 * i, 3, "%02x", serial[i]);
    }
    time_t t = gnutls_x509_crt_get_expiration_time(crt);
    b->expires = t;
    struct tm tm;
    if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL ||
        strftime(b->not_after, sizeof(b->not_after), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(b->not_after, sizeof(b->not_after), "?");
}

/* The certificate chain: at least one certificate, at most ATROUSD_TLS_CHAIN_MAX. */
static enum atrous_status load_chain(const char *path, struct bundle *b, gnutls_x509_crt_t *leaf,
                                     struct atrous_error *err)
{
    gnutls_datum_t pem;
    gnutls_x509_crt_t crts[ATROUSD_TLS_CHAIN_MAX];
    unsigned n = ATROUSD_TLS_CHAIN_MAX;
    enum atrous_status st = read_file("tls-cert", path, &pem, err);
    if (st != ATROUS_OK)
        return st;
    int rc = gnutls_x509_crt_list_import(crts, &n, &pem, GNUTLS_X509_FMT_PEM,
                                         GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    gnutls_free(pem.data);
    if (rc < 0 || n == 0)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "tls-cert",
                                "--tls-cert %s: no PEM certificate chain (leaf first, at most %d) "
                                "could be read: %s",
                                path, ATROUSD_TLS_CHAIN_MAX,
                                rc < 0 ? gnutls_strerror(rc) : "no certificate");
    for (unsigned i = 0; i < n; i++) {
        if (st == ATROUS_OK &&
            (rc = gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER, &b->chain[i])) < 0)
            st = atrous_error_set(err, ATROUS_INTERNAL, "tls-cert", "--tls-cert %s: %s", path,
                                  gnutls_strerror(rc));
        else if (st == ATROUS_OK)
            b->chain_len = i + 1;
        if (i > 0 || st != ATROUS_OK)
            gnutls_x509_crt_deinit(crts[i]);
    }
    if (st == ATROUS_OK)
        *leaf = crts[0];
    else
        gnutls_x509_crt_deinit(crts[0]);
    return st;
}

/* The private key (decrypted with the password file's line when given), checked against the
 * certificate, kept as unencrypted DER. */
static enum atrous_status load_key(const struct atrousd_tls *tls, gnutls_x509_crt_t leaf,
                                   struct bundle *b, struct atrous_error *err)
{
    const char *path = tls->paths[FILE_KEY];
    gnutls_datum_t pem = {0};
    char *password = NULL;
    gnutls_x509_privkey_t key = NULL;
    enum atrous_status st = ATROUS_OK;
    if (tls->paths[FILE_PASSWORD][0] &&
        (st = read_password(tls->paths[FILE_PASSWORD], &password, err)) != ATROUS_OK)
        goto out;
    if ((st = read_file("tls-key", path, &pem, err)) != ATROUS_OK)
        goto out;
    int rc = gnutls_x509_privkey_init(&key);
    if (rc == 0)
        rc = gnutls_x509_privkey_import2(key, &pem, GNUTLS_X509_FMT_PEM, password, 0);
    if (rc < 0) {
        const char *hint =
            password != NULL ? "a PEM private key, and the password of --tls-key-password-file"
            : rc == GNUTLS_E_DECRYPTION_FAILED || rc == GNUTLS_E_BASE64_DECODING_ERROR
                ? "a PEM private key (an encrypted one needs "
                  "--tls-key-password-file)"
                : "a PEM private key";
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "tls-key",
                              "--tls-key %s: cannot read the private key (expected %s): %s", path,
                              hint, gnutls_strerror(rc));
        goto out;
    }
    unsigned char cert_id[64], key_id[64];
    size_t cert_len = sizeof(cert_id), key_len = sizeof(key_id);
    if (gnutls_x509_crt_get_key_id(leaf, GNUTLS_KEYID_USE_SHA256, cert_id, &cert_len) < 0 ||
        gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, key_id, &key_len) < 0 ||
        cert_len != key_len || memcmp(cert_id, key_id, cert_len) != 0) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "tls-key",
                              "--tls-key %s does not match the certificate of --tls-cert %s", path,
                              tls->paths[FILE_CERT]);
        goto out;
    }
    /* PKCS #8 (unencrypted): the form every key type imports back from without a guess. */
    if ((rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN,
                                                &b->key)) < 0)
        st = atrous_error_set(err, ATROUS_INTERNAL, "tls-key", "--tls-key %s: %s", path,
                              gnutls_strerror(rc));
out:
    gnutls_x509_privkey_deinit(key);
    wipe_free(&pem);
    free_password(password);
    return st;
}

static enum atrous_status load_client_ca(const char *path, struct bundle *b,
                                         struct atrous_error *err)
{
    gnutls_datum_t pem;
    enum atrous_status st = read_file("tls-client-ca", path, &pem, err);
    if (st != ATROUS_OK)
        return st;
    int rc = gnutls_x509_trust_list_init(&b->clients, 0);
    if (rc == 0)
        rc =
            gnutls_x509_trust_list_add_trust_mem(b->clients, &pem, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
    gnutls_free(pem.data);
    if (rc <= 0)
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "tls-client-ca",
                              "--tls-client-ca %s: no PEM CA certificate could be read%s%s", path,
                              rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
    return st;
}

static void stamp_files(const struct atrousd_tls *tls, struct file_stamp stamps[FILE_COUNT])
{
    for (int i = 0; i < FILE_COUNT; i++) {
        struct stat st;
        memset(&stamps[i], 0, sizeof(stamps[i]));
        if (tls->paths[i][0] && stat(tls->paths[i], &st) == 0)
            stamps[i] = (struct file_stamp){.dev = st.st_dev,
                                            .ino = st.st_ino,
                                            .size = st.st_size,
                                            .mtime = st.st_mtim,
                                            .present = true};
    }
}

static bool stamps_differ(const struct file_stamp *a, const struct file_stamp *b)
{
    for (int i = 0; i < FILE_COUNT; i++) {
        if (a[i].present != b[i].present || a[i].dev != b[i].dev || a[i].ino != b[i].ino ||
            a[i].size != b[i].size || a[i].mtime.tv_sec != b[i].mtime.tv_sec ||
            a[i].mtime.tv_nsec != b[i].mtime.tv_nsec)
            return true;
    }
    return false;
}

/* Loads every file into a new bundle (one reference, the caller's). */
static enum atrous_status load_bundle(const struct atrousd_tls *tls, struct bundle **out,
                                      struct atrous_error *err)
{
    gnutls_x509_crt_t leaf = NULL;
    struct bundle *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for TLS credentials");
    atomic_init(&b->refs, 1);
    enum atrous_status st = load_chain(tls->paths[FILE_CERT], b, &leaf, err);
    if (st == ATROUS_OK)
        st = load_key(tls, leaf, b, err);
    if (st == ATROUS_OK && tls->paths[FILE_CLIENT_CA][0])
        st = load_client_ca(tls->paths[FILE_CLIENT_CA], b, err);
    if (st == ATROUS_OK)
        describe_cert(leaf, b);
    gnutls_x509_crt_deinit(leaf);
    if (st != ATROUS_OK) {
        bundle_release(b);
        b = NULL;
    }
    *out = b;
    return st;
}

static void log_loaded(const struct bundle *b, uint64_t generation, const char *why,
                       const char *msg)
{
    struct atrousd_log_field fields[] = {
        LOG_UINT("generation", generation), LOG_STR("trigger", why),
        LOG_STR("subject", b->subject),     LOG_STR("serial", b->serial),
        LOG_STR("not_after", b->not_after), LOG_BOOL("mutual_tls", b->clients != NULL),
    };
    atrousd_log_fields(ATROUSD_LOG_INFO, msg, fields, sizeof(fields) / sizeof(fields[0]));
    /* Served anyway (refusing to start would turn an expiry into an outage), but said. */
    if (b->expires != (time_t)-1 && b->expires < time(NULL))
        atrousd_log_fields(ATROUSD_LOG_WARN,
                           "tls: the certificate has expired; clients that verify it will refuse "
                           "it",
                           &fields[2], 3);
}

bool atrousd_tls_reload(struct atrousd_tls *tls, const char *why)
{
    if (tls == NULL)
        return false;
    struct file_stamp stamps[FILE_COUNT];
    struct bundle *b = NULL;
    struct atrous_error err;
    atrous_error_clear(&err);
    /* Stamped before reading: a file replaced while it is read is read again next time. */
    stamp_files(tls, stamps);
    enum atrous_status st = load_bundle(tls, &b, &err);
    pthread_mutex_lock(&tls->lock);
    memcpy(tls->stamps, stamps, sizeof(stamps));
    struct bundle *old = NULL;
    uint64_t generation = tls->generation;
    if (st == ATROUS_OK) {
        old = tls->current;
        tls->current = b;
        generation = ++tls->generation;
    }
    pthread_mutex_unlock(&tls->lock);
    if (st != ATROUS_OK) {
        struct atrousd_log_field fields[] = {
            LOG_STR("trigger", why),
            LOG_STR("flag", err.field),
            LOG_STR("error", err.message),
            LOG_UINT("generation", generation),
        };
        atrousd_log_fields(ATROUSD_LOG_ERROR, "tls: reload failed; the credentials in use are kept",
                           fields, sizeof(fields) / sizeof(fields[0]));
        return false;
    }
    bundle_release(old);
    log_loaded(b, generation, why, "tls: credentials reloaded");
    return true;
}

static void *poll_files(void *arg)
{
    struct atrousd_tls *tls = arg;
    pthread_mutex_lock(&tls->stop_lock);
    while (!tls->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)(tls->poll_ms / 1000);
        until.tv_nsec += (long)(tls->poll_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!tls->stopping &&
               pthread_cond_timedwait(&tls->stop_cond, &tls->stop_lock, &until) != ETIMEDOUT) {
        }
        if (tls->stopping)
            break;
        pthread_mutex_unlock(&tls->stop_lock);
        struct file_stamp now[FILE_COUNT];
        stamp_files(tls, now);
        pthread_mutex_lock(&tls->lock);
        bool changed = stamps_differ(now, tls->stamps);
        pthread_mutex_unlock(&tls->lock);
        if (changed)
            atrousd_tls_reload(tls, "file change");
        pthread_mutex_lock(&tls->stop_lock);
    }
    pthread_mutex_unlock(&tls->stop_lock);
    return NULL;
}

/* Verifies a client's certificate chain during the handshake (mutual TLS); non-zero fails
 * the handshake. */
static int verify_client(gnutls_session_t session)
{
    struct atrousd_tls *tls = atomic_load(&active);
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(session, &n);
    struct bundle *b = tls ? bundle_acquire(tls) : NULL;
    gnutls_x509_crt_t crts[ATROUSD_TLS_CHAIN_MAX];
    unsigned imported = 0, status = 0;
    bool ok = false;
    const char *why = "no client certificate";
    if (b == NULL || b->clients == NULL || peers == NULL || n == 0)
        goto out;
    /* The server's own certificate (the health probe). */
    if (peers[0].size == b->chain[0].size &&
        memcmp(peers[0].data, b->chain[0].data, peers[0].size) == 0) {
        ok = true;
        goto out;
    }
    why = "the client certificate could not be parsed";
    for (; imported < n && imported < ATROUSD_TLS_CHAIN_MAX; imported++) {
        if (gnutls_x509_crt_init(&crts[imported]) < 0)
            goto out;
        if (gnutls_x509_crt_import(crts[imported], &peers[imported], GNUTLS_X509_FMT_DER) < 0) {
            imported++;
            goto out;
        }
    }
    gnutls_typed_vdata_st purpose = {
        .type = GNUTLS_DT_KEY_PURPOSE_OID,
        .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
    };
    int rc = gnutls_x509_trust_list_verify_crt2(b->clients, crts, imported, &purpose, 1, 0, &status,
                                                NULL);
    ok = rc == 0 && status == 0;
    why = rc < 0 ? gnutls_strerror(rc) : "not valid against --tls-client-ca";
out:;
    char reason[256] = "";
    if (!ok && status != 0) {
        gnutls_datum_t text = {0};
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
            snprintf(reason, sizeof(reason), "%s", (const char *)text.data);
            gnutls_free(text.data);
        }
    }
    for (unsigned i = 0; i < imported; i++)
        gnutls_x509_crt_deinit(crts[i]);
    bundle_release(b);
    if (!ok) {
        struct atrousd_log_field fields[] = {
            LOG_STR("error", why),
            LOG_STR("detail", reason),
        };
        atrousd_log_fields(ATROUSD_LOG_WARN, "tls: client certificate refused", fields,
                           reason[0] ? 2 : 1);
    }
    return ok ? 0 : GNUTLS_E_CERTIFICATE_ERROR;
}

/* libmicrohttpd's certificate callback: copies of the current chain and key for this
 * handshake (GnuTLS frees them with the session), and the client certificate requirement. */
static int retrieve_cert(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                         gnutls_pcert_st **certs, unsigned *pcert_length,
                         gnutls_ocsp_data_st **ocsp, unsigned *ocsp_length,
                         gnutls_privkey_t *privkey, unsigned *flags)
{
    (void)info;
    struct atrousd_tls *tls = atomic_load(&active);
    struct bundle *b = tls ? bundle_acquire(tls) : NULL;
    gnutls_pcert_st *pcerts = NULL;
    gnutls_privkey_t key = NULL;
    unsigned made = 0;
    int rc = GNUTLS_E_CERTIFICATE_ERROR;
    *ocsp = NULL;
    *ocsp_length = 0;
    if (b == NULL)
        goto out;
    pcerts = gnutls_calloc(b->chain_len, sizeof(*pcerts));
    if (pcerts == NULL || gnutls_privkey_init(&key) < 0)
        goto out;
    for (; made < b->chain_len; made++) {
        if (gnutls_pcert_import_x509_raw(&pcerts[made], &b->chain[made], GNUTLS_X509_FMT_DER, 0) <
            0)
            goto out;
    }
    if (gnutls_privkey_import_x509_raw(key, &b->key, GNUTLS_X509_FMT_DER, NULL, 0) < 0)
        goto out;
    if (b->clients != NULL) {
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_function(session, verify_client);
    }
    *certs = pcerts;
    *pcert_length = made;
    *privkey = key;
    *flags = GNUTLS_CERT_RETR_DEINIT_ALL;
    pcerts = NULL;
    key = NULL;
    rc = 0;
out:
    for (unsigned i = 0; pcerts != NULL && i < made; i++)
        gnutls_pcert_deinit(&pcerts[i]);
    gnutls_free(pcerts);
    gnutls_privkey_deinit(key);
    bundle_release(b);
    return rc;
}

size_t atrousd_tls_mhd_options(const struct atrousd_tls *tls, struct MHD_OptionItem *items)
{
    items[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK2, 0, (void *)retrieve_cert};
    items[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)tls->priorities};
    return 2;
}

const char *atrousd_tls_protocol_name(int protocol)
{
    return gnutls_protocol_get_name((gnutls_protocol_t)protocol);
}

enum atrous_status atrousd_tls_create(const struct atrousd_config *cfg, struct atrousd_tls **out,
                                      struct atrous_error *err)
{
    *out = NULL;
    if (!atrousd_tls_enabled(cfg))
        return ATROUS_OK;
    if (atomic_load(&active) != NULL)
        return atrous_error_set(err, ATROUS_INTERNAL, "tls-cert", "TLS is already set up");
    gnutls_priority_t prio = NULL;
    const char *where = NULL;
    int rc = gnutls_priority_init2(&prio, cfg->tls_priorities, &where, 0);
    if (rc < 0)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "tls-priorities",
                                "--tls-priorities '%.200s': GnuTLS refuses it at '%.40s': %s",
                                cfg->tls_priorities, where ? where : "", gnutls_strerror(rc));
    gnutls_priority_deinit(prio);
    struct atrousd_tls *tls = calloc(1, sizeof(*tls));
    if (tls == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for TLS");
    tls->config = *cfg;
    tls->paths[FILE_CERT] = tls->config.tls_cert;
    tls->paths[FILE_KEY] = tls->config.tls_key;
    tls->paths[FILE_PASSWORD] = tls->config.tls_key_password_file;
    tls->paths[FILE_CLIENT_CA] = tls->config.tls_client_ca;
    tls->priorities = tls->config.tls_priorities;
    tls->poll_ms = cfg->tls_reload_ms;
    pthread_mutex_init(&tls->lock, NULL);
    pthread_mutex_init(&tls->stop_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&tls->stop_cond, &attr);
    pthread_condattr_destroy(&attr);
    stamp_files(tls, tls->stamps);
    enum atrous_status st = load_bundle(tls, &tls->current, err);
    if (st != ATROUS_OK)
        goto fail;
    tls->generation = 1;
    if (tls->poll_ms > 0) {
        if (pthread_create(&tls->poller, NULL, poll_files, tls) != 0) {
            st = atrous_error_set(err, ATROUS_INTERNAL, "tls-reload-ms",
                                  "could not start the TLS file poll thread");
            goto fail;
        }
        tls->poller_started = true;
    }
    atomic_store(&active, tls);
    log_loaded(tls->current, tls->generation, "start", "tls: serving HTTPS");
    *out = tls;
    return ATROUS_OK;
fail:
    atrousd_tls_free(tls);
    return st;
}

void atrousd_tls_free(struct atrousd_tls *tls)
{
    if (tls == NULL)
        return;
    if (tls->poller_started) {
        pthread_mutex_lock(&tls->stop_lock);
        tls->stopping = true;
        pthread_cond_signal(&tls->stop_cond);
        pthread_mutex_unlock(&tls->stop_lock);
        pthread_join(tls->poller, NULL);
    }
    struct atrousd_tls *expected = tls;
    atomic_compare_exchange_strong(&active, &expected, NULL);
    bundle_release(tls->current);
    pthread_cond_destroy(&tls->stop_cond);
    pthread_mutex_destroy(&tls->stop_lock);
    pthread_mutex_destroy(&tls->lock);
    free(tls);
}

long atrousd_tls_probe_exchange(const struct atrousd_config *cfg, int fd, const char *request,
                                size_t len, char *buf, size_t size, int timeout_ms)
{
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_session_t session = NULL;
    char *password = NULL;
    long got = -1;
    struct atrous_error err;
    atrous_error_clear(&err);
    /* GnuTLS writes with plain send(): a server that closes first must fail the probe, not
     * kill it with SIGPIPE (the probe is a process of its own). */
    signal(SIGPIPE, SIG_IGN);
    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        goto out;
    if (cfg->tls_client_ca[0]) {
        if (cfg->tls_key_password_file[0] &&
            read_password(cfg->tls_key_password_file, &password, &err) != ATROUS_OK)
            goto out;
        if (gnutls_certificate_set_x509_key_file2(cred, cfg->tls_cert, cfg->tls_key,
                                                  GNUTLS_X509_FMT_PEM, password, 0) < 0)
            goto out;
    }
    if (gnutls_init(&session, GNUTLS_CLIENT) < 0 ||
        gnutls_priority_set_direct(session, cfg->tls_priorities, NULL) < 0 ||
        gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred) < 0)
        goto out;
    gnutls_transport_set_int(session, fd);
    gnutls_handshake_set_timeout(session, (unsigned)timeout_ms);
    int rc;
    do {
        rc = gnutls_handshake(session);
    } while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
    if (rc < 0)
        goto out;
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = gnutls_record_send(session, request + sent, len - sent);
        if (n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0) /* GNUTLS_E_AGAIN: the send timeout passed */
            goto out;
        sent += (size_t)n;
    }
    size_t have = 0;
    while (have + 1 < size) {
        ssize_t n = gnutls_record_recv(session, buf + have, size - 1 - have);
        if (n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    buf[have] = '\0';
    got = (long)have;
out:
    gnutls_deinit(session);
    gnutls_certificate_free_credentials(cred);
    free_password(password);
    return got;
}
