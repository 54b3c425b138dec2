/*
 * log.c - JSON-lines or text log lines. Each line is written whole by one write(2), so lines
 * from different threads never interleave within a line; with a buffer (atrousd_log_buffer_
 * start) info and debug lines are gathered and many whole lines go out in one write(2).
 */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "atrous_json_writer.h"

/* The only mutable globals of the service (STYLE.md rule 5): the level, and the sink (where
 * lines go and in which format). */
static enum atrousd_log_level log_level = ATROUSD_LOG_INFO;
static struct {
    int fd;
    enum atrousd_log_format format;
} log_sink = {2, ATROUSD_LOG_JSON};

/* The sink's buffer: whole lines waiting for one write(2). Every write to the fd takes the
 * lock while buffering is on, so lines keep their order. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char data[ATROUSD_LOG_BUFFER_BYTES];
    size_t len;
    bool on, stop;
    uint64_t flush_ms;
    pthread_t flusher;
} log_buf = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* A free-text message longer than this is truncated. */
#define LOG_MESSAGE_MAX 1024

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"json", "text"};

void atrousd_log_configure(enum atrousd_log_level level, enum atrousd_log_format format, int fd)
{
    log_level = level;
    log_sink.format = format;
    log_sink.fd = fd;
}

bool atrousd_log_enabled(enum atrousd_log_level level)
{
    return level >= log_level;
}

const char *atrousd_log_level_name(enum atrousd_log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "unknown";
}

const char *atrousd_log_format_name(enum atrousd_log_format format)
{
    return (unsigned)format < 2 ? format_names[format] : "unknown";
}

bool atrousd_log_level_parse(const char *s, enum atrousd_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum atrousd_log_level)i;
            return true;
        }
    }
    return false;
}

bool atrousd_log_format_parse(const char *s, enum atrousd_log_format *out)
{
    for (int i = 0; i < 2; i++) {
        if (strcmp(s, format_names[i]) == 0) {
            *out = (enum atrousd_log_format)i;
            return true;
        }
    }
    return false;
}

/* RFC 3339 UTC with milliseconds: 2026-11-21T08:20:30.123Z */
static void format_timestamp(char *buf, size_t size)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03ldZ", now.tv_nsec / 1000000);
}

static void write_all(struct iovec *iov, int count)
{
    while (count > 0) {
        ssize_t n = writev(log_sink.fd, iov, count);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report a failing log sink */
        while (count > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
}

static void write_field_value(struct atrous_jw *w, const struct atrousd_log_field *f)
{
    switch (f->kind) {
    case ATROUSD_LOG_STR:
        atrous_jw_string(w, f->v.s);
        break;
    case ATROUSD_LOG_INT:
        atrous_jw_int(w, f->v.i);
        break;
    case ATROUSD_LOG_UINT:
        atrous_jw_uint(w, f->v.u);
        break;
    case ATROUSD_LOG_BOOL:
        atrous_jw_bool(w, f->v.b);
        break;
    case ATROUSD_LOG_OBJECT:
        f->v.obj.write(w, f->v.obj.arg);
        break;
    }
}

static char *render_json(enum atrousd_log_level level, const char *ts, const char *msg,
                         const struct atrousd_log_field *fields, size_t count, size_t *len)
{
    struct atrous_jw *w = atrous_jw_create();
    if (w == NULL)
        return NULL;
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "ts");
    atrous_jw_string(w, ts);
    atrous_jw_key(w, "level");
    atrous_jw_string(w, atrousd_log_level_name(level));
    atrous_jw_key(w, "msg");
    atrous_jw_string(w, msg);
    for (size_t i = 0; i < count; i++) {
        atrous_jw_key(w, fields[i].key);
        write_field_value(w, &fields[i]);
    }
    atrous_jw_object_end(w);
    char *out = atrous_jw_take(w, len);
    atrous_jw_free(w);
    return out;
}

/* A value printed bare in text lines when it has no spaces, quotes or control characters;
 * anything else is printed as a JSON string so the line stays one line. */
static bool is_bare(const char *s)
{
    if (*s == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f)
            return false;
    }
    return true;
}

static void text_value(FILE *f, const struct atrousd_log_field *field)
{
    if (field->kind == ATROUSD_LOG_STR && field->v.s && is_bare(field->v.s)) {
        fputs(field->v.s, f);
        return;
    }
    struct atrous_jw *w = atrous_jw_create();
    if (w == NULL)
        return;
    write_field_value(w, field);
    size_t len = 0;
    char *json = atrous_jw_take(w, &len);
    if (json)
        fwrite(json, 1, len, f);
    free(json);
    atrous_jw_free(w);
}

static char *render_text(enum atrousd_log_level level, const char *ts, const char *msg,
                         const struct atrousd_log_field *fields, size_t count, size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    if (f == NULL)
        return NULL;
    fprintf(f, "%s %-5s %s", ts, atrousd_log_level_name(level), msg);
    for (size_t i = 0; i < count; i++) {
        fprintf(f, " %s=", fields[i].key);
        text_value(f, &fields[i]);
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Writes out the buffer; the lock is held. */
static void buffer_flush_locked(void)
{
    if (log_buf.len == 0)
        return;
    struct iovec iov = {log_buf.data, log_buf.len};
    write_all(&iov, 1);
    log_buf.len = 0;
}

/* Writes a line with its newline: into the buffer when buffering is on and the line is info or
 * debug, else at once (after what is buffered, so lines keep their order). */
static void emit(enum atrousd_log_level level, const char *line, size_t len)
{
    struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
    if (!log_buf.on) {
        write_all(iov, 2);
        return;
    }
    pthread_mutex_lock(&log_buf.lock);
    bool buffered = level <= ATROUSD_LOG_INFO && len + 1 <= sizeof(log_buf.data);
    if (!buffered || log_buf.len + len + 1 > sizeof(log_buf.data))
        buffer_flush_locked();
    if (buffered) {
        memcpy(log_buf.data + log_buf.len, line, len);
        log_buf.data[log_buf.len + len] = '\n';
        log_buf.len += len + 1;
    } else {
        write_all(iov, 2);
    }
    pthread_mutex_unlock(&log_buf.lock);
}

/* Flushes the buffer every flush_ms until stopped: the delay of a buffered line is bounded. */
static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "atrousd-log");
    pthread_mutex_lock(&log_buf.lock);
    while (!log_buf.stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + log_buf.flush_ms * 1000000u;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&log_buf.wake, &log_buf.lock, &until);
        buffer_flush_locked();
    }
    pthread_mutex_unlock(&log_buf.lock);
    return NULL;
}

bool atrousd_log_buffer_start(uint64_t flush_ms)
{
    if (flush_ms == 0 || log_buf.on)
        return log_buf.on;
    log_buf.flush_ms = flush_ms;
    log_buf.stop = false;
    log_buf.len = 0;
    if (pthread_create(&log_buf.flusher, NULL, flusher_main, NULL) != 0)
        return false;
    log_buf.on = true;
    return true;
}

void atrousd_log_flush(void)
{
    if (!log_buf.on)
        return;
    pthread_mutex_lock(&log_buf.lock);
    buffer_flush_locked();
    pthread_mutex_unlock(&log_buf.lock);
}

void atrousd_log_buffer_stop(void)
{
    if (!log_buf.on)
        return;
    pthread_mutex_lock(&log_buf.lock);
    log_buf.stop = true;
    pthread_cond_signal(&log_buf.wake);
    pthread_mutex_unlock(&log_buf.lock);
    pthread_join(log_buf.flusher, NULL);
    pthread_mutex_lock(&log_buf.lock);
    buffer_flush_locked();
    log_buf.on = false;
    pthread_mutex_unlock(&log_buf.lock);
}

void atrousd_log_fields(enum atrousd_log_level level, const char *msg,
                        const struct atrousd_log_field *fields, size_t count)
{
    if (!atrousd_log_enabled(level))
        return;
    char ts[40];
    format_timestamp(ts, sizeof(ts));
    size_t len = 0;
    char *line = log_sink.format == ATROUSD_LOG_JSON
                     ? render_json(level, ts, msg, fields, count, &len)
                     : render_text(level, ts, msg, fields, count, &len);
    if (line == NULL) {
        /* Out of memory: still say something, without allocating. */
        char fallback[LOG_MESSAGE_MAX];
        int n = snprintf(fallback, sizeof(fallback), "%s %s (log line lost: out of memory)\n", ts,
                         atrousd_log_level_name(level));
        emit(level, fallback, n > 1 ? (size_t)n - 1 : 0);
        return;
    }
    emit(level, line, len);
    free(line);
}

void atrousd_logf(enum atrousd_log_level level, const char *fmt, ...)
{
    if (!atrousd_log_enabled(level))
        return;
    char msg[LOG_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    atrousd_log_fields(level, msg, NULL, 0);
}
