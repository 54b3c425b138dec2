/*
 * auth.c - the token file (parse, digests, reload) and the per-request check.
 *
 * Decisions:
 * - Only digests are kept: a plain token is hashed as it is read and the file's text wiped, so
 *   neither a core dump nor a stray log line can hold a token the process read.
 * - The check hashes the presented token once (SHA-256, GnuTLS) and compares the digest with
 *   every digest kept, all 32 bytes of each, OR-ing the differences: equal lengths, no early
 *   exit, so the time says nothing about which bytes or which token matched.
 * - The tokens sit behind a read-write lock: a check holds it for the comparisons only, a reload
 *   parses the new file outside it and swaps under it, so a token removed from the file fails
 *   for every request checked after the reload returns.
 * - A reload that fails (unreadable, malformed, empty) keeps the old tokens: a half-written
 *   file must not lock every client out, nor let anyone in.
 * - One thread reloads: on SIGHUP (atrousd_auth_reload_async) and, every --auth-reload-ms,
 *   when stat() says the file changed (inode, size, mtime or ctime: an editor's rename and a
 *   Kubernetes secret's symlink swap both show). The I/O threads never touch the file.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Longest file name quoted in messages. */
#define FILE_QUOTE_MAX 200

struct atrousd_auth {
    char *file;
    char *open_paths;
    uint64_t reload_ms;
    pthread_rwlock_t lock; /* guards tokens */
    struct atrousd_auth_tokens tokens;
    _Atomic uint64_t refused[ATROUSD_AUTH_REASON_COUNT];
    _Atomic uint64_t reloads_ok, reloads_failed, token_count;
    /* The reload thread and what it is asked to do, under thread_lock. */
    pthread_mutex_t thread_lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool thread_started, stop, pending;
    const char *pending_trigger; /* static string */
    /* What the last load attempt read (stat of the file), under reload_lock. */
    pthread_mutex_t reload_lock;
    struct stat seen;
    bool have_seen;
};

static const char *const reason_names[] = {"missing", "invalid", "duplicate"};

const char *atrousd_auth_reason_name(enum atrousd_auth_reason reason)
{
    return (unsigned)reason < ATROUSD_AUTH_REASON_COUNT ? reason_names[reason] : "other";
}

void atrousd_auth_sha256(const void *data, size_t len, uint8_t out[ATROUSD_AUTH_DIGEST_BYTES])
{
    /* gnutls_hash_fast fails only for an unknown algorithm; SHA-256 is always there. */
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) != 0)
        memset(out, 0, ATROUSD_AUTH_DIGEST_BYTES);
}

bool atrousd_auth_tokens_match(const struct atrousd_auth_tokens *t,
                               const uint8_t digest[ATROUSD_AUTH_DIGEST_BYTES])
{
    unsigned found = 0;
    for (size_t i = 0; i < t->count; i++) {
        unsigned diff = 0;
        for (size_t j = 0; j < ATROUSD_AUTH_DIGEST_BYTES; j++)
            diff |= (unsigned)(t->digests[i][j] ^ digest[j]);
        /* 1 when diff is 0, else 0, without a branch: diff - 1 wraps only for 0. */
        found |= ((diff - 1u) >> 8) & 1u;
    }
    return found != 0;
}

void atrousd_auth_tokens_free(struct atrousd_auth_tokens *t)
{
    if (t->digests != NULL)
        explicit_bzero(t->digests, t->count * sizeof(*t->digests));
    free(t->digests);
    t->digests = NULL;
    t->count = 0;
}

/* RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
 * *"=". */
static bool b64token(const char *s, size_t len)
{
    size_t i = 0;
    for (; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-._~+/", c) != NULL))
            break;
    }
    if (i == 0)
        return false;
    for (; i < len; i++) {
        if (s[i] != '=')
            return false;
    }
    return true;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#define SHA256_PREFIX "sha256:"

/* One line's token (without surrounding blanks) as a digest; false with the reason in why. */
static bool line_digest(const char *s, size_t len, uint8_t out[ATROUSD_AUTH_DIGEST_BYTES],
                        const char **why)
{
    size_t plen = strlen(SHA256_PREFIX);
    if (len >= plen && strncasecmp(s, SHA256_PREFIX, plen) == 0) {
        if (len != plen + 2 * ATROUSD_AUTH_DIGEST_BYTES) {
            *why = "\"sha256:\" must be followed by exactly 64 hex digits";
            return false;
        }
        for (size_t i = 0; i < ATROUSD_AUTH_DIGEST_BYTES; i++) {
            int hi = hex_value(s[plen + 2 * i]), lo = hex_value(s[plen + 2 * i + 1]);
            if (hi < 0 || lo < 0) {
                *why = "\"sha256:\" must be followed by exactly 64 hex digits";
                return false;
            }
            out[i] = (uint8_t)(hi << 4 | lo);
        }
        return true;
    }
    if (len > ATROUSD_AUTH_TOKEN_MAX) {
        *why = "the token is longer than 4096 characters";
        return false;
    }
    if (!b64token(s, len)) {
        *why = "a token may hold only letters, digits and -._~+/ (then '=' padding), without "
               "spaces (RFC 6750 b64token)";
        return false;
    }
    if (len < ATROUSD_AUTH_TOKEN_MIN) {
        *why = "the token is shorter than 16 characters (make one with: openssl rand -hex 32)";
        return false;
    }
    atrousd_auth_sha256(s, len, out);
    return true;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

enum atrous_status atrousd_auth_parse(const char *text, size_t len, const char *file,
                                      struct atrousd_auth_tokens *out, size_t *line_out,
                                      struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrousd_auth_tokens t = {0};
    size_t cap = 0, line = 0;
    const char *why = NULL;
    memset(out, 0, sizeof(*out));
    if (memchr(text, '\0', len) != NULL) {
        why = "it holds a NUL byte (not a text file)";
        goto out;
    }
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t a = pos, b = end;
        line++;
        pos = nl ? end + 1 : len;
        while (a < b && blank(text[a]))
            a++;
        while (b > a && blank(text[b - 1]))
            b--;
        if (a == b || text[a] == '#')
            continue;
        if (t.count == ATROUSD_AUTH_TOKENS_MAX) {
            why = "more than 10000 tokens";
            goto out;
        }
        if (t.count == cap) {
            size_t grown = cap ? cap * 2 : 8;
            void *p = realloc(t.digests, grown * sizeof(*t.digests));
            if (p == NULL) {
                st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for %zu tokens",
                                      grown);
                goto out;
            }
            t.digests = p;
            cap = grown;
        }
        if (!line_digest(text + a, b - a, t.digests[t.count], &why))
            goto out;
        t.count++;
    }
    if (t.count == 0) {
        why = "it holds no token (every line is blank or a # comment)";
        line = 0;
    }
out:
    if (why != NULL) {
        if (line > 0)
            st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "auth-token-file",
                                  "token file %.*s line %zu: %s", FILE_QUOTE_MAX, file, line, why);
        else
            st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "auth-token-file",
                                  "token file %.*s: %s", FILE_QUOTE_MAX, file, why);
    }
    if (line_out != NULL)
        *line_out = why != NULL ? line : 0;
    if (st != ATROUS_OK)
        atrousd_auth_tokens_free(&t);
    else
        *out = t;
    return st;
}

/* Reads the whole file (wiped and freed by the caller), with the stat of what was read. */
static enum atrous_status read_file(const char *file, char **text, size_t *len, struct stat *sb,
                                    struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    char *buf = NULL;
    size_t got = 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "auth-token-file",
                                "token file %.*s: cannot open it: %s", FILE_QUOTE_MAX, file,
                                strerror(errno));
    if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "auth-token-file",
                              "token file %.*s: not a regular file", FILE_QUOTE_MAX, file);
        goto out;
    }
    if ((size_t)sb->st_size > ATROUSD_AUTH_FILE_MAX) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "auth-token-file",
                              "token file %.*s: larger than %zu bytes", FILE_QUOTE_MAX, file,
                              ATROUSD_AUTH_FILE_MAX);
        goto out;
    }
    size_t cap = (size_t)sb->st_size + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory reading the token file");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "auth-token-file",
                                  "token file %.*s: read failed: %s", FILE_QUOTE_MAX, file,
                                  strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got == cap) {
            /* It grew while being read: read it next time, whole. */
            st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "auth-token-file",
                                  "token file %.*s: it changed while being read", FILE_QUOTE_MAX,
                                  file);
            goto out;
        }
    }
    *text = buf;
    *len = got;
    buf = NULL;
out:
    if (buf != NULL) {
        explicit_bzero(buf, got);
        free(buf);
    }
    close(fd);
    return st;
}

/* Reads and parses the file; records what it read for the poll. */
static enum atrous_status load(struct atrousd_auth *auth, struct atrousd_auth_tokens *out,
                               struct atrous_error *err)
{
    char *text = NULL;
    size_t len = 0;
    struct stat sb;
    enum atrous_status st = read_file(auth->file, &text, &len, &sb, err);
    if (st == ATROUS_OK) {
        st = atrousd_auth_parse(text, len, auth->file, out, NULL, err);
        explicit_bzero(text, len);
        free(text);
    }
    if (st == ATROUS_OK || stat(auth->file, &sb) == 0) {
        auth->seen = sb;
        auth->have_seen = true;
    } else {
        auth->have_seen = false;
    }
    return st;
}

static void swap_tokens(struct atrousd_auth *auth, struct atrousd_auth_tokens *fresh)
{
    pthread_rwlock_wrlock(&auth->lock);
    struct atrousd_auth_tokens old = auth->tokens;
    auth->tokens = *fresh;
    atomic_store(&auth->token_count, (uint64_t)fresh->count);
    pthread_rwlock_unlock(&auth->lock);
    atrousd_auth_tokens_free(&old);
    memset(fresh, 0, sizeof(*fresh));
}

enum atrous_status atrousd_auth_reload(struct atrousd_auth *auth, const char *trigger)
{
    struct atrousd_auth_tokens fresh;
    struct atrous_error err;
    atrous_error_clear(&err);
    pthread_mutex_lock(&auth->reload_lock);
    enum atrous_status st = load(auth, &fresh, &err);
    pthread_mutex_unlock(&auth->reload_lock);
    if (st != ATROUS_OK) {
        uint64_t n = atomic_fetch_add(&auth->reloads_failed, 1) + 1;
        struct atrousd_log_field fields[] = {
            LOG_STR("file", auth->file),   LOG_STR("trigger", trigger),
            LOG_STR("error", err.message), LOG_UINT("tokens", atomic_load(&auth->token_count)),
            LOG_UINT("failed_reloads", n),
        };
        atrousd_log_fields(ATROUSD_LOG_ERROR,
                           "auth: token file reload failed; the previous tokens stay", fields,
                           sizeof(fields) / sizeof(fields[0]));
        return st;
    }
    size_t count = fresh.count;
    swap_tokens(auth, &fresh);
    uint64_t n = atomic_fetch_add(&auth->reloads_ok, 1) + 1;
    struct atrousd_log_field fields[] = {
        LOG_STR("file", auth->file),
        LOG_STR("trigger", trigger),
        LOG_UINT("tokens", count),
        LOG_UINT("reload", n),
    };
    atrousd_log_fields(ATROUSD_LOG_INFO, "auth: token file reloaded", fields,
                       sizeof(fields) / sizeof(fields[0]));
    return ATROUS_OK;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The poll: reloads when the file is not what the last attempt read. A file that vanished is
 * reloaded (and fails, logged) once, not at every poll. */
static void poll_file(struct atrousd_auth *auth)
{
    struct stat sb;
    pthread_mutex_lock(&auth->reload_lock);
    bool exists = stat(auth->file, &sb) == 0;
    bool changed = exists ? !auth->have_seen || !same_file(&sb, &auth->seen) : auth->have_seen;
    if (!exists)
        auth->have_seen = false;
    pthread_mutex_unlock(&auth->reload_lock);
    if (changed)
        atrousd_auth_reload(auth, "file changed");
}

static void deadline_after(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t ns = (uint64_t)ts->tv_nsec + ms % 1000 * 1000000u;
    ts->tv_sec += (time_t)(ms / 1000 + ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
}

static bool passed(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void *reload_main(void *arg)
{
    struct atrousd_auth *auth = arg;
    struct timespec next;
    deadline_after(&next, auth->reload_ms);
    pthread_mutex_lock(&auth->thread_lock);
    while (!auth->stop) {
        if (auth->pending) {
            const char *trigger = auth->pending_trigger;
            auth->pending = false;
            pthread_mutex_unlock(&auth->thread_lock);
            atrousd_auth_reload(auth, trigger);
            pthread_mutex_lock(&auth->thread_lock);
            continue;
        }
        if (auth->reload_ms == 0) {
            pthread_cond_wait(&auth->wake, &auth->thread_lock);
            continue;
        }
        if (passed(&next)) {
            pthread_mutex_unlock(&auth->thread_lock);
            poll_file(auth);
            pthread_mutex_lock(&auth->thread_lock);
            deadline_after(&next, auth->reload_ms);
            continue;
        }
        pthread_cond_timedwait(&auth->wake, &auth->thread_lock, &next);
    }
    pthread_mutex_unlock(&auth->thread_lock);
    return NULL;
}

void atrousd_auth_reload_async(struct atrousd_auth *auth, const char *trigger)
{
    if (auth == NULL)
        return;
    pthread_mutex_lock(&auth->thread_lock);
    auth->pending = true;
    auth->pending_trigger = trigger;
    pthread_cond_signal(&auth->wake);
    pthread_mutex_unlock(&auth->thread_lock);
}

bool atrousd_auth_open_paths_valid(const char *list)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || p[0] != '/')
            return false;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c <= 0x20 || c >= 0x7f || (c == '*' && i != n - 1))
                return false;
        }
        p += n;
        if (*p == ',' && *++p == '\0')
            return false; /* a trailing comma names nothing */
    }
    return true;
}

bool atrousd_auth_path_open(const char *list, const char *path)
{
    size_t path_len = strlen(path);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n > 0 && p[n - 1] == '*') {
            if (path_len >= n - 1 && strncmp(path, p, n - 1) == 0)
                return true;
        } else if (n == path_len && strncmp(path, p, n) == 0) {
            return true;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

static void to_hex_id(const uint8_t digest[ATROUSD_AUTH_DIGEST_BYTES], char *id)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < ATROUSD_AUTH_ID_LEN / 2; i++) {
        id[2 * i] = hex[digest[i] >> 4];
        id[2 * i + 1] = hex[digest[i] & 15];
    }
    id[ATROUSD_AUTH_ID_LEN] = '\0';
}

static enum atrousd_auth_verdict refuse(struct atrousd_auth *auth, enum atrousd_auth_reason r,
                                        enum atrousd_auth_verdict v)
{
    atomic_fetch_add_explicit(&auth->refused[r], 1, memory_order_relaxed);
    return v;
}

enum atrousd_auth_verdict atrousd_auth_check(struct atrousd_auth *auth, const char *path,
                                             const char *authorization, unsigned header_count,
                                             char *id)
{
    id[0] = '\0';
    if (auth == NULL || atrousd_auth_path_open(auth->open_paths, path ? path : ""))
        return ATROUSD_AUTH_OPEN;
    if (header_count > 1)
        return refuse(auth, ATROUSD_AUTH_REASON_DUPLICATE, ATROUSD_AUTH_DUPLICATE);
    /* RFC 6750 section 2.1: "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 9110
     * section 11.1). Another scheme is as good as none (section 3.1: no error code). */
    const char *h = authorization;
    if (h == NULL || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\0'))
        return refuse(auth, ATROUSD_AUTH_REASON_MISSING, ATROUSD_AUTH_MISSING);
    const char *token = h + 6;
    while (*token == ' ')
        token++;
    size_t len = strlen(token);
    if (len == 0 || len > ATROUSD_AUTH_TOKEN_MAX || !b64token(token, len))
        return refuse(auth, ATROUSD_AUTH_REASON_INVALID, ATROUSD_AUTH_INVALID);
    uint8_t digest[ATROUSD_AUTH_DIGEST_BYTES];
    atrousd_auth_sha256(token, len, digest);
    pthread_rwlock_rdlock(&auth->lock);
    bool ok = atrousd_auth_tokens_match(&auth->tokens, digest);
    pthread_rwlock_unlock(&auth->lock);
    if (!ok) {
        explicit_bzero(digest, sizeof(digest));
        return refuse(auth, ATROUSD_AUTH_REASON_INVALID, ATROUSD_AUTH_INVALID);
    }
    to_hex_id(digest, id);
    explicit_bzero(digest, sizeof(digest));
    return ATROUSD_AUTH_OK;
}

enum atrous_status atrousd_auth_create(const struct atrousd_auth_config *config,
                                       struct atrousd_auth **out, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    *out = NULL;
    if (config->token_file == NULL || config->token_file[0] == '\0')
        return ATROUS_OK;
    struct atrousd_auth *auth = calloc(1, sizeof(*auth));
    if (auth == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for authentication");
    pthread_rwlock_init(&auth->lock, NULL);
    pthread_mutex_init(&auth->thread_lock, NULL);
    pthread_mutex_init(&auth->reload_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&auth->wake, &attr);
    pthread_condattr_destroy(&attr);
    auth->reload_ms = config->reload_ms;
    auth->file = strdup(config->token_file);
    auth->open_paths = strdup(config->open_paths ? config->open_paths : "");
    if (auth->file == NULL || auth->open_paths == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for authentication");
        goto out;
    }
    struct atrousd_auth_tokens first;
    pthread_mutex_lock(&auth->reload_lock);
    st = load(auth, &first, err);
    pthread_mutex_unlock(&auth->reload_lock);
    if (st != ATROUS_OK)
        goto out;
    swap_tokens(auth, &first);
    if (pthread_create(&auth->thread, NULL, reload_main, auth) != 0) {
        st = atrous_error_set(err, ATROUS_INTERNAL, "", "could not start the token reload thread");
        goto out;
    }
    auth->thread_started = true;
    struct atrousd_log_field fields[] = {
        LOG_STR("file", auth->file),
        LOG_UINT("tokens", atomic_load(&auth->token_count)),
        LOG_STR("open_paths", auth->open_paths),
        LOG_UINT("reload_ms", auth->reload_ms),
    };
    atrousd_log_fields(ATROUSD_LOG_INFO, "auth: bearer tokens required", fields,
                       sizeof(fields) / sizeof(fields[0]));
    if (auth->seen.st_mode & S_IROTH)
        atrousd_logf(ATROUSD_LOG_WARN,
                     "auth: the token file %.*s is readable by every user; make it readable by "
                     "the service's user only (chmod 600), or hold sha256: digests in it",
                     FILE_QUOTE_MAX, auth->file);
    *out = auth;
    auth = NULL;
out:
    atrousd_auth_free(auth);
    return st;
}

void atrousd_auth_free(struct atrousd_auth *auth)
{
    if (auth == NULL)
        return;
    if (auth->thread_started) {
        pthread_mutex_lock(&auth->thread_lock);
        auth->stop = true;
        pthread_cond_signal(&auth->wake);
        pthread_mutex_unlock(&auth->thread_lock);
        pthread_join(auth->thread, NULL);
    }
    atrousd_auth_tokens_free(&auth->tokens);
    pthread_rwlock_destroy(&auth->lock);
    pthread_mutex_destroy(&auth->thread_lock);
    pthread_mutex_destroy(&auth->reload_lock);
    pthread_cond_destroy(&auth->wake);
    free(auth->file);
    free(auth->open_paths);
    free(auth);
}

void atrousd_auth_figures(struct atrousd_auth *auth, struct atrousd_auth_figures *out)
{
    memset(out, 0, sizeof(*out));
    if (auth == NULL)
        return;
    out->enabled = true;
    out->tokens = atomic_load(&auth->token_count);
    for (size_t i = 0; i < ATROUSD_AUTH_REASON_COUNT; i++)
        out->refused[i] = atomic_load(&auth->refused[i]);
    out->reloads_ok = atomic_load(&auth->reloads_ok);
    out->reloads_failed = atomic_load(&auth->reloads_failed);
}
