/*
 * log.c - JSON-lines or text log lines written with one write(2) each, so that lines from
 * different threads never interleave within a line.
 */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
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
        struct iovec iov = {fallback, n > 0 ? (size_t)n : 0};
        write_all(&iov, 1);
        return;
    }
    /* Line and newline in one system call, so concurrent lines never interleave. */
    struct iovec iov[2] = {{line, len}, {"\n", 1}};
    write_all(iov, 2);
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
