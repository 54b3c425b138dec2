/*
 * tls_client.c - the tests' GnuTLS client bridged to a plain socket (tls_client.h).
 */
#include "tls_client.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http_client.h"

const char *tls_client_strerror(int rc)
{
    return gnutls_strerror(rc);
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copies both ways until both ends are done (or one fails). */
static void *pump(void *arg)
{
    struct tls_conn *c = arg;
    gnutls_session_t s = c->session;
    bool from_server = true, from_test = true;
    char buf[16384];
    while (from_server || from_test) {
        if (from_server && gnutls_record_check_pending(s) > 0)
            goto read_server;
        struct pollfd p[2] = {{.fd = from_server ? c->tcp : -1, .events = POLLIN},
                              {.fd = from_test ? c->inner : -1, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents) {
            ssize_t n = recv(c->inner, buf, sizeof(buf), 0);
            if (n > 0) {
                for (ssize_t done = 0; done < n;) {
                    ssize_t w = gnutls_record_send(s, buf + done, (size_t)(n - done));
                    if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
                        continue;
                    if (w < 0) {
                        from_test = false;
                        break;
                    }
                    done += w;
                }
            } else if (n == 0 || errno != EINTR) {
                from_test = false;
                gnutls_bye(s, GNUTLS_SHUT_WR);
            }
        }
        if (!p[0].revents)
            continue;
    read_server:;
        ssize_t n = gnutls_record_recv(s, buf, sizeof(buf));
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n <= 0 || write_all(c->inner, buf, (size_t)n) != 0) {
            /* The server ended the session (or refused it with an alert): the test's side
             * reads the end of the stream. */
            from_server = false;
            shutdown(c->inner, SHUT_WR);
            if (n < 0)
                from_test = false;
        }
    }
    shutdown(c->inner, SHUT_RDWR);
    return NULL;
}

int tls_conn_open(uint16_t port, const struct tls_client_opts *o, struct tls_conn *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = c->inner = c->tcp = -1;
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_session_t s = NULL;
    int pair[2] = {-1, -1};
    c->handshake_rc = GNUTLS_E_INTERNAL_ERROR;
    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        goto fail;
    c->cred = cred;
    if (o->ca_file != NULL &&
        gnutls_certificate_set_x509_trust_file(cred, o->ca_file, GNUTLS_X509_FMT_PEM) <= 0)
        goto fail;
    if (o->cert_file != NULL && gnutls_certificate_set_x509_key_file(
                                    cred, o->cert_file, o->key_file, GNUTLS_X509_FMT_PEM) < 0)
        goto fail;
    if (gnutls_init(&s, GNUTLS_CLIENT) < 0)
        goto fail;
    c->session = s;
    if (gnutls_priority_set_direct(s, o->priorities ? o->priorities : "NORMAL", NULL) < 0 ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0)
        goto fail;
    gnutls_server_name_set(s, GNUTLS_NAME_DNS, "localhost", 9);
    if (o->ca_file != NULL)
        gnutls_session_set_verify_cert(s, "localhost", 0);
    c->tcp = http_client_connect(port, HTTP_CLIENT_TIMEOUT_MS);
    if (c->tcp < 0)
        goto fail;
    /* Blocking, with timeouts: every step is bounded. */
    int flags = fcntl(c->tcp, F_GETFL);
    struct timeval tv = {.tv_sec = HTTP_CLIENT_TIMEOUT_MS / 1000};
    if (flags < 0 || fcntl(c->tcp, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        setsockopt(c->tcp, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(c->tcp, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        goto fail;
    gnutls_transport_set_int(s, c->tcp);
    gnutls_handshake_set_timeout(s, HTTP_CLIENT_TIMEOUT_MS);
    int rc;
    do {
        rc = gnutls_handshake(s);
    } while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
    c->handshake_rc = rc;
    if (rc < 0) {
        if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
            c->verify_status = gnutls_session_get_verify_cert_status(s);
        goto fail;
    }
    const char *version = gnutls_protocol_get_name(gnutls_protocol_get_version(s));
    snprintf(c->version, sizeof(c->version), "%s", version ? version : "?");
    unsigned count = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(s, &count);
    gnutls_x509_crt_t crt = NULL;
    if (peers != NULL && count > 0 && gnutls_x509_crt_init(&crt) == 0) {
        unsigned char serial[32];
        size_t size = sizeof(serial);
        if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) == 0 &&
            gnutls_x509_crt_get_serial(crt, serial, &size) == 0) {
            for (size_t i = 0; i < size && 2 * i + 2 < sizeof(c->peer_serial); i++)
                snprintf(c->peer_serial + 2 * i, 3, "%02x", serial[i]);
        }
        gnutls_x509_crt_deinit(crt);
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        goto fail;
    c->fd = pair[0];
    c->inner = pair[1];
    c->pumping = pthread_create(&c->pump, NULL, pump, c) == 0;
    if (!c->pumping)
        goto fail;
    return 0;
fail:
    tls_conn_close(c);
    return -1;
}

void tls_conn_close(struct tls_conn *c)
{
    if (c->tcp >= 0)
        shutdown(c->tcp, SHUT_RDWR); /* wakes the pump */
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    if (c->pumping)
        pthread_join(c->pump, NULL);
    c->pumping = false;
    if (c->fd >= 0)
        close(c->fd);
    if (c->inner >= 0)
        close(c->inner);
    if (c->tcp >= 0)
        close(c->tcp);
    c->fd = c->inner = c->tcp = -1;
    if (c->session != NULL)
        gnutls_deinit(c->session);
    if (c->cred != NULL)
        gnutls_certificate_free_credentials(c->cred);
    c->session = c->cred = NULL;
}
