/*
 * log.c - JSON-lines or text log lines. Each line is rendered in memory and written whole, so
 * lines from different threads never interleave within a line. Once the flusher runs
 * (atrousd_log_buffer_start), callers only copy their line into a bounded backlog and the
 * flusher alone writes to the sink: a sink that blocks holds the flusher, never a request.
 */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
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

/*
 * The backlog: two halves, one filling with whole lines while the flusher writes the other.
 * The lock covers the bookkeeping and the copy of a line, never a write to the sink, so a
 * request thread waits at most for another thread's memcpy.
 */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* to the flusher: lines are urgent, a flush is asked, or stop */
    pthread_cond_t written; /* from the flusher: a round of writing ended */
    char half[2][ATROUSD_LOG_BACKLOG_BYTES];
    int filling;           /* the half lines are copied into */
    size_t len;            /* bytes in the filling half */
    bool on, stop, urgent; /* urgent: write without waiting for flush_ms */
    uint64_t flush_ms;
    uint64_t taken, done;     /* halves taken by the flusher, and rounds it finished */
    uint64_t unreported;      /* lines dropped since the last "log lines dropped" line */
    _Atomic uint64_t dropped; /* lines dropped since the start */
    pthread_t flusher;
} log_buf = {.lock = PTHREAD_MUTEX_INITIALIZER,
             .wake = PTHREAD_COND_INITIALIZER,
             .written = PTHREAD_COND_INITIALIZER};

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

/* Writes the iovecs whole, retrying short writes; returns the bytes written, which are fewer
 * than asked only when the sink failed (closed pipe, full disk). */
static size_t write_all(struct iovec *iov, int count)
{
    size_t total = 0;
    while (count > 0) {
        ssize_t n = writev(log_sink.fd, iov, count);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return total; /* nowhere left to report a failing log sink */
        total += (size_t)n;
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
    return total;
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

static char *render(enum atrousd_log_level level, const char *msg,
                    const struct atrousd_log_field *fields, size_t count, size_t *len)
{
    char ts[40];
    format_timestamp(ts, sizeof(ts));
    return log_sink.format == ATROUSD_LOG_JSON ? render_json(level, ts, msg, fields, count, len)
                                               : render_text(level, ts, msg, fields, count, len);
}

static size_t count_lines(const char *data, size_t len)
{
    size_t n = 0;
    for (const char *p = data; (p = memchr(p, '\n', len - (size_t)(p - data))) != NULL; p++)
        n++;
    return n;
}

/* Writes a line with its newline: copied into the backlog while the flusher runs (or dropped
 * and counted when the backlog is full), else written at once by the caller. */
static void emit(enum atrousd_log_level level, const char *line, size_t len)
{
    struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
    if (!log_buf.on) {
        write_all(iov, 2);
        return;
    }
    pthread_mutex_lock(&log_buf.lock);
    if (log_buf.len + len + 1 > sizeof(log_buf.half[0])) {
        /* The sink has not taken the other half yet: waiting here would block serving. */
        log_buf.unreported++;
        atomic_fetch_add_explicit(&log_buf.dropped, 1, memory_order_relaxed);
    } else {
        char *at = log_buf.half[log_buf.filling] + log_buf.len;
        memcpy(at, line, len);
        at[len] = '\n';
        log_buf.len += len + 1;
        if (level >= ATROUSD_LOG_WARN || log_buf.flush_ms == 0 ||
            log_buf.len >= ATROUSD_LOG_BUFFER_BYTES) {
            log_buf.urgent = true;
            pthread_cond_signal(&log_buf.wake);
        }
    }
    pthread_mutex_unlock(&log_buf.lock);
}

/* Writes the line that says how many lines were dropped; true when the sink took it. */
static bool write_dropped_line(uint64_t lines)
{
    struct atrousd_log_field fields[] = {
        LOG_UINT("lines", lines),
        LOG_UINT("total", atomic_load_explicit(&log_buf.dropped, memory_order_relaxed)),
    };
    size_t len = 0;
    char *line = render(ATROUSD_LOG_WARN, "log lines dropped: the log sink was stalled or failing",
                        fields, 2, &len);
    if (line == NULL)
        return false;
    struct iovec iov[2] = {{line, len}, {"\n", 1}};
    bool ok = write_all(iov, 2) == len + 1;
    free(line);
    return ok;
}

/* The flusher: takes the filling half when it is urgent or flush_ms has passed, and writes it
 * without the lock (the only place that may block on the sink); then says how many lines were
 * dropped meanwhile, once the sink takes writes again. */
static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "atrousd-log");
    pthread_mutex_lock(&log_buf.lock);
    for (;;) {
        if (!log_buf.stop && !log_buf.urgent) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            uint64_t ns = (uint64_t)until.tv_nsec + log_buf.flush_ms * 1000000u;
            until.tv_sec += (time_t)(ns / 1000000000u);
            until.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&log_buf.wake, &log_buf.lock, &until);
        }
        log_buf.urgent = false;
        char *data = log_buf.half[log_buf.filling];
        size_t len = log_buf.len;
        uint64_t dropped = log_buf.unreported;
        log_buf.unreported = 0;
        if (len > 0) {
            log_buf.filling ^= 1;
            log_buf.len = 0;
            log_buf.taken++;
        }
        bool stop = log_buf.stop;
        pthread_mutex_unlock(&log_buf.lock);

        struct iovec iov = {data, len};
        size_t written = len > 0 ? write_all(&iov, 1) : 0;
        /* Lines the sink refused are lost too (a partly written one counts as lost). */
        uint64_t lost = written < len ? count_lines(data + written, len - written) : 0;
        if (lost > 0)
            atomic_fetch_add_explicit(&log_buf.dropped, lost, memory_order_relaxed);
        if (lost == 0 && dropped > 0 && write_dropped_line(dropped))
            dropped = 0;

        pthread_mutex_lock(&log_buf.lock);
        log_buf.unreported += dropped + lost;
        log_buf.done = log_buf.taken;
        pthread_cond_broadcast(&log_buf.written);
        if (stop && log_buf.len == 0)
            break;
    }
    pthread_mutex_unlock(&log_buf.lock);
    return NULL;
}

bool atrousd_log_buffer_start(uint64_t flush_ms)
{
    if (log_buf.on)
        return true;
    log_buf.flush_ms = flush_ms;
    log_buf.stop = false;
    log_buf.urgent = false;
    log_buf.len = 0;
    log_buf.taken = log_buf.done = 0;
    if (pthread_create(&log_buf.flusher, NULL, flusher_main, NULL) != 0)
        return false;
    log_buf.on = true;
    return true;
}

/* The deadline ms from now on CLOCK_REALTIME (pthread_cond_timedwait's clock). */
static struct timespec deadline_after_ms(uint64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + ms * 1000000u;
    until.tv_sec += (time_t)(ns / 1000000000u);
    until.tv_nsec = (long)(ns % 1000000000u);
    return until;
}

bool atrousd_log_flush(void)
{
    if (!log_buf.on)
        return true;
    struct timespec until = deadline_after_ms(ATROUSD_LOG_FLUSH_WAIT_MS);
    pthread_mutex_lock(&log_buf.lock);
    /* The round that takes the filling half (or, when it is empty, the one under way). */
    uint64_t target = log_buf.taken + (log_buf.len > 0 ? 1 : 0);
    log_buf.urgent = true;
    pthread_cond_signal(&log_buf.wake);
    int rc = 0;
    while (log_buf.done < target && rc == 0)
        rc = pthread_cond_timedwait(&log_buf.written, &log_buf.lock, &until);
    bool flushed = log_buf.done >= target;
    pthread_mutex_unlock(&log_buf.lock);
    return flushed;
}

void atrousd_log_buffer_stop(void)
{
    if (!log_buf.on)
        return;
    pthread_mutex_lock(&log_buf.lock);
    log_buf.stop = true;
    pthread_cond_signal(&log_buf.wake);
    pthread_mutex_unlock(&log_buf.lock);
    struct timespec until = deadline_after_ms(ATROUSD_LOG_STOP_WAIT_MS);
    if (pthread_timedjoin_np(log_buf.flusher, NULL, &until) != 0) {
        /* Blocked on a stalled sink: leave it there (the process is about to exit) and keep
         * callers away from the sink. */
        pthread_detach(log_buf.flusher);
        return;
    }
    log_buf.on = false;
}

uint64_t atrousd_log_lines_dropped(void)
{
    return atomic_load_explicit(&log_buf.dropped, memory_order_relaxed);
}

void atrousd_log_fields(enum atrousd_log_level level, const char *msg,
                        const struct atrousd_log_field *fields, size_t count)
{
    if (!atrousd_log_enabled(level))
        return;
    size_t len = 0;
    char *line = render(level, msg, fields, count, &len);
    if (line == NULL) {
        /* Out of memory: still say something, without allocating. */
        char ts[40], fallback[LOG_MESSAGE_MAX];
        format_timestamp(ts, sizeof(ts));
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
