/*
 * make_tls_pki.c - writes a throwaway PKI for the TLS benchmark (bench_tls.sh): DIR/ca.pem and
 * DIR/server.pem, DIR/server.key (ECDSA P-256, localhost and 127.0.0.1, valid for a day), made
 * with the tests' GnuTLS PKI (tests/support/tls_pki.h). No key is ever checked in.
 *
 *   build/bench/make_tls_pki DIR
 */
#include <stdio.h>

#include "tls_pki.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    struct tls_pki_ca ca;
    struct tls_pki_cert server;
    if (tls_pki_ca_make(argv[1], "ca", "atrousd bench CA", &ca) != 0) {
        fprintf(stderr, "%s: could not write the CA into %s\n", argv[0], argv[1]);
        return 1;
    }
    int rc = tls_pki_issue(&ca, argv[1], "server", TLS_PKI_SERVER, -3600, 86400, NULL, &server);
    tls_pki_ca_free(&ca);
    if (rc != 0) {
        fprintf(stderr, "%s: could not write the server certificate into %s\n", argv[0], argv[1]);
        return 1;
    }
    return 0;
}
