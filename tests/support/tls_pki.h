/*
 * tls_pki.h - a test PKI made at test time with GnuTLS (no private key is ever checked in): a
 * CA, and server or client certificates it signs (ECDSA P-256, SHA-256), written as PEM files
 * into a scratch folder. Certificates may be issued already expired, and keys encrypted with a
 * password (PKCS #8, AES-256).
 */
#ifndef TESTS_TLS_PKI_H
#define TESTS_TLS_PKI_H

#include <stdbool.h>
#include <stddef.h>

#define TLS_PKI_PATH_MAX 256

enum tls_pki_kind {
    TLS_PKI_SERVER, /* CN and subjectAltName localhost and 127.0.0.1, TLS server purpose */
    TLS_PKI_CLIENT, /* TLS client purpose */
};

/* A CA: its certificate file and, in memory, what signs (opaque GnuTLS objects). */
struct tls_pki_ca {
    char cert_path[TLS_PKI_PATH_MAX];
    void *crt; /* gnutls_x509_crt_t */
    void *key; /* gnutls_x509_privkey_t */
};

/* An issued certificate: its files and its serial number (lowercase hex, as tls_client.h
 * reports a peer's). */
struct tls_pki_cert {
    char cert_path[TLS_PKI_PATH_MAX];
    char key_path[TLS_PKI_PATH_MAX];
    char serial[64];
};

/* Makes a fresh folder under /tmp (dir gets its path). 0 or -1. */
int tls_pki_dir(char *dir, size_t size);

/* Removes the folder's files and the folder (one level, as the PKI writes it). */
void tls_pki_dir_remove(const char *dir);

/* A self-signed CA named cn, written to dir/<name>.pem. 0 or -1. */
int tls_pki_ca_make(const char *dir, const char *name, const char *cn, struct tls_pki_ca *ca);
void tls_pki_ca_free(struct tls_pki_ca *ca);

/*
 * A certificate of kind signed by ca, valid from now + not_before_s to now + not_after_s
 * (seconds; both negative for one already expired), written to dir/<name>.pem and its key to
 * dir/<name>.key (mode 0600; encrypted with password when not NULL). Each file is written
 * aside and renamed over the old one, the key first. 0 or -1.
 */
int tls_pki_issue(const struct tls_pki_ca *ca, const char *dir, const char *name,
                  enum tls_pki_kind kind, long not_before_s, long not_after_s, const char *password,
                  struct tls_pki_cert *out);

/* Writes len bytes to path (aside, then renamed over it). 0 or -1. */
int tls_pki_write_file(const char *path, const void *data, size_t len);

#endif
