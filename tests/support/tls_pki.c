/*
 * tls_pki.c - the test PKI (tls_pki.h) with GnuTLS's certificate and key API.
 */
#include "tls_pki.h"

#include <dirent.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Serial numbers unique within a test process (and across processes by the pid). */
static _Atomic unsigned serial_counter;

int tls_pki_dir(char *dir, size_t size)
{
    if (snprintf(dir, size, "/tmp/atrousd-pki-XXXXXX") >= (int)size)
        return -1;
    return mkdtemp(dir) != NULL ? 0 : -1;
}

void tls_pki_dir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[TLS_PKI_PATH_MAX * 2];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int write_mode(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[TLS_PKI_PATH_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    const unsigned char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int tls_pki_write_file(const char *path, const void *data, size_t len)
{
    return write_mode(path, data, len, 0600);
}

static int new_key(gnutls_x509_privkey_t *key)
{
    if (gnutls_x509_privkey_init(key) < 0)
        return -1;
    if (gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0) {
        gnutls_x509_privkey_deinit(*key);
        *key = NULL;
        return -1;
    }
    return 0;
}

/* The common fields: version, serial (written as hex into serial_hex), validity, CN, key. */
static int new_crt(gnutls_x509_crt_t *crt, gnutls_x509_privkey_t key, const char *cn,
                   long not_before_s, long not_after_s, char *serial_hex, size_t hex_size)
{
    unsigned char serial[8];
    uint32_t pid = (uint32_t)getpid();
    uint32_t count = atomic_fetch_add(&serial_counter, 1) + 1;
    /* The first byte below 0x80: a positive number, encoded without a leading zero. */
    serial[0] = (unsigned char)(0x10 | ((pid >> 24) & 0x0f));
    serial[1] = (unsigned char)(pid >> 16);
    serial[2] = (unsigned char)(pid >> 8);
    serial[3] = (unsigned char)pid;
    serial[4] = (unsigned char)(count >> 24);
    serial[5] = (unsigned char)(count >> 16);
    serial[6] = (unsigned char)(count >> 8);
    serial[7] = (unsigned char)count;
    if (serial_hex != NULL) {
        for (size_t i = 0; i < sizeof(serial) && 2 * i + 2 < hex_size; i++)
            snprintf(serial_hex + 2 * i, 3, "%02x", serial[i]);
    }
    time_t now = time(NULL);
    if (gnutls_x509_crt_init(crt) < 0)
        return -1;
    if (gnutls_x509_crt_set_version(*crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(*crt, serial, sizeof(serial)) < 0 ||
        gnutls_x509_crt_set_activation_time(*crt, now + not_before_s) < 0 ||
        gnutls_x509_crt_set_expiration_time(*crt, now + not_after_s) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(*crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                      (unsigned)strlen(cn)) < 0 ||
        gnutls_x509_crt_set_key(*crt, key) < 0) {
        gnutls_x509_crt_deinit(*crt);
        *crt = NULL;
        return -1;
    }
    unsigned char id[64];
    size_t id_len = sizeof(id);
    if (gnutls_x509_crt_get_key_id(*crt, 0, id, &id_len) == 0)
        gnutls_x509_crt_set_subject_key_id(*crt, id, id_len);
    return 0;
}

static int write_crt(gnutls_x509_crt_t crt, const char *path)
{
    gnutls_datum_t pem = {0};
    if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem) < 0)
        return -1;
    int rc = write_mode(path, pem.data, pem.size, 0644);
    gnutls_free(pem.data);
    return rc;
}

int tls_pki_ca_make(const char *dir, const char *name, const char *cn, struct tls_pki_ca *ca)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    memset(ca, 0, sizeof(*ca));
    snprintf(ca->cert_path, sizeof(ca->cert_path), "%s/%s.pem", dir, name);
    if (new_key(&key) != 0)
        return -1;
    if (new_crt(&crt, key, cn, -3600, 30L * 86400, NULL, 0) != 0 ||
        gnutls_x509_crt_set_basic_constraints(crt, 1, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN) < 0 ||
        gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0 ||
        write_crt(crt, ca->cert_path) != 0) {
        gnutls_x509_crt_deinit(crt);
        gnutls_x509_privkey_deinit(key);
        return -1;
    }
    ca->crt = crt;
    ca->key = key;
    return 0;
}

void tls_pki_ca_free(struct tls_pki_ca *ca)
{
    if (ca->crt != NULL)
        gnutls_x509_crt_deinit(ca->crt);
    if (ca->key != NULL)
        gnutls_x509_privkey_deinit(ca->key);
    ca->crt = NULL;
    ca->key = NULL;
}

int tls_pki_issue(const struct tls_pki_ca *ca, const char *dir, const char *name,
                  enum tls_pki_kind kind, long not_before_s, long not_after_s, const char *password,
                  struct tls_pki_cert *out)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t pem = {0};
    int rc = -1;
    memset(out, 0, sizeof(*out));
    snprintf(out->cert_path, sizeof(out->cert_path), "%s/%s.pem", dir, name);
    snprintf(out->key_path, sizeof(out->key_path), "%s/%s.key", dir, name);
    const char *cn = kind == TLS_PKI_SERVER ? "localhost" : name;
    if (new_key(&key) != 0 ||
        new_crt(&crt, key, cn, not_before_s, not_after_s, out->serial, sizeof(out->serial)) != 0)
        goto out;
    if (gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
        gnutls_x509_crt_set_key_purpose_oid(
            crt, kind == TLS_PKI_SERVER ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT, 0) <
            0)
        goto out;
    if (kind == TLS_PKI_SERVER) {
        static const unsigned char loopback[4] = {127, 0, 0, 1};
        if (gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9,
                                                 GNUTLS_FSAN_APPEND) < 0 ||
            gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, loopback, 4,
                                                 GNUTLS_FSAN_APPEND) < 0)
            goto out;
    }
    unsigned char id[64];
    size_t id_len = sizeof(id);
    if (gnutls_x509_crt_get_subject_key_id(ca->crt, id, &id_len, NULL) == 0)
        gnutls_x509_crt_set_authority_key_id(crt, id, id_len);
    if (gnutls_x509_crt_sign2(crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0) < 0)
        goto out;
    int er = password != NULL
                 ? gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, password,
                                                     GNUTLS_PKCS_PBES2_AES_256, &pem)
                 : gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem);
    if (er < 0 || write_mode(out->key_path, pem.data, pem.size, 0600) != 0 ||
        write_crt(crt, out->cert_path) != 0)
        goto out;
    rc = 0;
out:
    gnutls_free(pem.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return rc;
}
