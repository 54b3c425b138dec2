/*
 * tls.h - native TLS and mutual TLS (GnuTLS through libmicrohttpd): the only module with
 * gnutls.h. It loads the certificate, key and client CA of --tls-cert, --tls-key,
 * --tls-key-password-file and --tls-client-ca, hands libmicrohttpd a certificate callback that
 * gives every new handshake the credentials loaded last, verifies client certificates when
 * mutual TLS is on, and reloads the files on SIGHUP and when they change (a poll thread,
 * --tls-reload-ms). It also holds the TLS half of `atrousd --health-probe`.
 */
#ifndef ATROUSD_TLS_H
#define ATROUSD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_error.h"

struct atrousd_config;
struct atrousd_tls;
struct MHD_OptionItem;

/* Files larger than this are not credentials: refused rather than read. */
#define ATROUSD_TLS_FILE_MAX ((size_t)1 << 20)

/* Options atrousd_tls_mhd_options may write (including no end marker). */
#define ATROUSD_TLS_MHD_OPTIONS 2

/* Most certificates in a client's chain that are looked at. */
#define ATROUSD_TLS_CHAIN_MAX 16

/* True when the configuration turns TLS on (--tls-cert given). */
bool atrousd_tls_enabled(const struct atrousd_config *cfg);

/*
 * Loads the credentials the configuration names and starts the reload poll thread
 * (--tls-reload-ms > 0). *out is NULL when TLS is off. On failure (a file missing, unreadable,
 * not PEM, a key that does not match the certificate or cannot be decrypted, a priority string
 * GnuTLS refuses) err names the flag at fault; no key material or password is ever put in it.
 * One TLS object per process (libmicrohttpd's certificate callback has no closure).
 */
enum atrous_status atrousd_tls_create(const struct atrousd_config *cfg, struct atrousd_tls **out,
                                      struct atrous_error *err);

/* Stops the poll thread and frees the credentials. Call after the HTTP daemon has stopped.
 * Accepts NULL. */
void atrousd_tls_free(struct atrousd_tls *tls);

/*
 * Reloads every file now (SIGHUP; why is logged). On success new handshakes get the new
 * credentials and an info line "tls: credentials reloaded" with the generation is logged; on
 * failure the credentials in use stay and an error line says which flag's file is bad.
 * Returns whether it loaded. Accepts NULL (plain HTTP: nothing to do, false).
 */
bool atrousd_tls_reload(struct atrousd_tls *tls, const char *why);

/* Writes the libmicrohttpd options (the certificate callback, the priority string) into items
 * (room for ATROUSD_TLS_MHD_OPTIONS) and returns how many; the caller also sets MHD_USE_TLS. */
size_t atrousd_tls_mhd_options(const struct atrousd_tls *tls, struct MHD_OptionItem *items);

/* "TLS1.3", "TLS1.2"... for libmicrohttpd's MHD_CONNECTION_INFO_PROTOCOL value; NULL when
 * unknown. */
const char *atrousd_tls_protocol_name(int protocol);

/*
 * The probe's TLS exchange on a connected socket fd (blocking, with send and receive timeouts
 * set): a handshake with the configuration's priorities that does not verify the server (the
 * probe talks to its own port on 127.0.0.1 and only reads a status line), presenting --tls-cert
 * and --tls-key as its client certificate when --tls-client-ca is set (the server accepts its
 * own certificate: whoever has its key is the server). Sends len bytes of request and reads
 * until size - 1 bytes or the end. Returns the bytes read (buf is NUL-terminated), or -1.
 */
long atrousd_tls_probe_exchange(const struct atrousd_config *cfg, int fd, const char *request,
                                size_t len, char *buf, size_t size, int timeout_ms);

#endif
