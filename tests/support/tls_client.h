/*
 * tls_client.h - a GnuTLS client for the TLS tests. tls_conn_open connects to 127.0.0.1:port,
 * runs the handshake on the caller's thread (reporting its result, the verification status and
 * the server's certificate serial), then bridges the session to a plain socket (a socketpair
 * pumped by a thread): the test speaks HTTP on conn.fd with http_client.h as on any
 * connection. When the server ends the session (an alert, a close) the plain side sees the end
 * of the stream.
 */
#ifndef TESTS_TLS_CLIENT_H
#define TESTS_TLS_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct tls_client_opts {
    const char *ca_file;    /* verify the server's certificate (for "localhost"); NULL: not */
    const char *cert_file;  /* client certificate (PEM); NULL: none */
    const char *key_file;   /* its key (unencrypted PEM) */
    const char *priorities; /* NULL: "NORMAL" */
};

struct tls_conn {
    int fd; /* the test's side: plain HTTP bytes; -1 when not open */
    /* Set by tls_conn_open, also when it fails. */
    int handshake_rc;       /* 0, or the GnuTLS error of the handshake */
    unsigned verify_status; /* GNUTLS_CERT_* bits when verification failed */
    char peer_serial[64];   /* the server certificate's serial, lowercase hex */
    char version[16];       /* "TLS1.3" ... */
    /* Private. */
    void *session, *cred;
    int tcp;
    int inner; /* the pump's side of the socketpair */
    pthread_t pump;
    bool pumping;
};

/* Connects and shakes hands. Returns 0 with conn->fd open, or -1 (handshake_rc and
 * verify_status say why; nothing to close). */
int tls_conn_open(uint16_t port, const struct tls_client_opts *o, struct tls_conn *conn);

/* Ends the session and frees it. Accepts a conn that failed to open. */
void tls_conn_close(struct tls_conn *conn);

/* A GnuTLS error's text. */
const char *tls_client_strerror(int rc);

#endif
