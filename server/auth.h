/*
 * auth.h - bearer-token authentication (RFC 6750) from a token file (--auth-token-file):
 * which paths stay open, whether a request's Authorization header carries a known token, the
 * short id the access log records for it, and the file's reload without a restart (SIGHUP, and
 * a poll every --auth-reload-ms for a changed file).
 *
 * The token file holds one token per line, or "sha256:<64 hex>", the SHA-256 of a token (so
 * the file need not hold the secret); blank lines and lines starting with '#' are skipped,
 * spaces and tabs around a line (and a CR before its LF) are ignored. Only SHA-256 digests are
 * kept in memory: a plain token is hashed as it is read and its text wiped. A request's token
 * is hashed once and its digest compared with every digest kept, each byte of each, without an
 * early exit (the time does not depend on where, or whether, it matches).
 *
 * Nothing here writes a token, or any part of a line of the file, into a log line or an error
 * message: errors name the file and the line number only.
 */
#ifndef ATROUSD_AUTH_H
#define ATROUSD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_error.h"

#define ATROUSD_AUTH_DIGEST_BYTES 32 /* SHA-256 */
/* A token's short id: the first 8 hex digits of its SHA-256 (the access log's token_id). */
#define ATROUSD_AUTH_ID_LEN 8
/* Tokens shorter than this are refused: a bearer token must not be guessable. */
#define ATROUSD_AUTH_TOKEN_MIN 16
/* Longest token (and line) read from the file, and most tokens it may hold. */
#define ATROUSD_AUTH_TOKEN_MAX  4096
#define ATROUSD_AUTH_TOKENS_MAX 10000
/* Largest token file read. */
#define ATROUSD_AUTH_FILE_MAX ((size_t)4 << 20)
/* The realm of every WWW-Authenticate challenge. */
#define ATROUSD_AUTH_REALM "atrousd"

struct atrousd_auth;

/* The parsed token file: digests of the accepted tokens. */
struct atrousd_auth_tokens {
    size_t count;
    uint8_t (*digests)[ATROUSD_AUTH_DIGEST_BYTES];
};

/*
 * Parses a token file's text (len bytes; NUL bytes are refused) into *out (owned by the caller:
 * atrousd_auth_tokens_free). file names the file in messages. On a malformed line (characters a
 * bearer token may not hold, RFC 6750's b64token; too short or too long; "sha256:" without 64
 * hex digits), or when the file holds no token, returns ATROUS_INVALID_ARGUMENT with err naming
 * the file and the line, never its text; *line_out (may be NULL) gets the line number (0: the
 * whole file).
 */
enum atrous_status atrousd_auth_parse(const char *text, size_t len, const char *file,
                                      struct atrousd_auth_tokens *out, size_t *line_out,
                                      struct atrous_error *err);

/* Frees what a parse filled (and zeroes it); accepts a zeroed struct. */
void atrousd_auth_tokens_free(struct atrousd_auth_tokens *t);

/* SHA-256 of len bytes (GnuTLS). */
void atrousd_auth_sha256(const void *data, size_t len, uint8_t out[ATROUSD_AUTH_DIGEST_BYTES]);

/* True when digest is one of t's, looked for in constant time: every byte of every digest is
 * compared whatever matches. */
bool atrousd_auth_tokens_match(const struct atrousd_auth_tokens *t,
                               const uint8_t digest[ATROUSD_AUTH_DIGEST_BYTES]);

/* Whether a comma-separated list of open paths is valid: each item starts with '/', holds no
 * space, comma or control byte, and has '*' only as its last character (a prefix). "" (no
 * path open) is valid. */
bool atrousd_auth_open_paths_valid(const char *list);

/* True when path is on the list: equal to an item, or starting with an item's text before its
 * final '*'. */
bool atrousd_auth_path_open(const char *list, const char *path);

/* What a request's credentials are. */
enum atrousd_auth_verdict {
    ATROUSD_AUTH_OPEN,      /* no token file, or the path is open: nothing to check */
    ATROUSD_AUTH_OK,        /* a known token; the id is set */
    ATROUSD_AUTH_MISSING,   /* no Authorization header, or another scheme than Bearer */
    ATROUSD_AUTH_INVALID,   /* Bearer with an unknown or malformed token */
    ATROUSD_AUTH_DUPLICATE, /* more than one Authorization header (RFC 6750 invalid_request) */
};

/* Refusal reasons counted in /metrics (atrousd_auth_refused_total{reason}). */
enum atrousd_auth_reason {
    ATROUSD_AUTH_REASON_MISSING,
    ATROUSD_AUTH_REASON_INVALID,
    ATROUSD_AUTH_REASON_DUPLICATE,
    ATROUSD_AUTH_REASON_COUNT
};

/* "missing", "invalid", "duplicate". */
const char *atrousd_auth_reason_name(enum atrousd_auth_reason reason);

struct atrousd_auth_config {
    const char *token_file; /* "" or NULL: authentication off (atrousd_auth_create gives NULL) */
    const char *open_paths; /* comma-separated (atrousd_auth_path_open), copied */
    uint64_t reload_ms;     /* the file is looked at this often for a change; 0: SIGHUP only */
};

/*
 * Reads the token file and, when reload_ms > 0 or for SIGHUP, starts the thread that reloads
 * it. *out is NULL (authentication off) when no token file is configured. A file that cannot
 * be read or is malformed fails the call (err names the file and the line, never a token).
 */
enum atrous_status atrousd_auth_create(const struct atrousd_auth_config *config,
                                       struct atrousd_auth **out, struct atrous_error *err);

/* Stops the reload thread and frees the tokens (wiped). Accepts NULL. */
void atrousd_auth_free(struct atrousd_auth *auth);

/*
 * The one check, from any thread: the path (without the query) and the Authorization header's
 * first value (NULL when absent) with the number of Authorization headers. With auth NULL or
 * an open path, ATROUSD_AUTH_OPEN. On ATROUSD_AUTH_OK, id (room for ATROUSD_AUTH_ID_LEN + 1)
 * gets the token's short id; otherwise it is "". Refusals are counted by reason.
 */
enum atrousd_auth_verdict atrousd_auth_check(struct atrousd_auth *auth, const char *path,
                                             const char *authorization, unsigned header_count,
                                             char *id);

/* Asks the reload thread to read the token file again now (SIGHUP; trigger names the cause in
 * the log). Returns at once; accepts NULL. */
void atrousd_auth_reload_async(struct atrousd_auth *auth, const char *trigger);

/*
 * Reads the token file again on the calling thread: on success the new tokens replace the old
 * at once (a request checked after this sees only the new ones) and an info line "auth: token
 * file reloaded" is logged; on failure the old tokens stay, an error line names the file and the
 * line, and the call returns the failure.
 */
enum atrous_status atrousd_auth_reload(struct atrousd_auth *auth, const char *trigger);

/* Figures for /metrics. */
struct atrousd_auth_figures {
    bool enabled;
    uint64_t tokens;
    uint64_t refused[ATROUSD_AUTH_REASON_COUNT];
    uint64_t reloads_ok, reloads_failed;
};
void atrousd_auth_figures(struct atrousd_auth *auth, struct atrousd_auth_figures *out);

#endif
