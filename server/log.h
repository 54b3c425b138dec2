/*
 * log.h - atrousd's logger: one line per event on a file descriptor (stderr by default), as a
 * JSON object ({"ts": ..., "level": ..., "msg": ..., fields...}) or as human-readable text.
 *
 * The level, the format and the sink are the only mutable globals of the service (STYLE.md
 * rule 5). Set them once with atrousd_log_configure() before starting threads; logging itself
 * is thread-safe (each line is built in memory and written whole), and once the flusher runs
 * (atrousd_log_buffer_start) it never blocks the caller on the sink.
 */
#ifndef ATROUSD_LOG_H
#define ATROUSD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct atrous_jw;

enum atrousd_log_level {
    ATROUSD_LOG_DEBUG,
    ATROUSD_LOG_INFO,
    ATROUSD_LOG_WARN,
    ATROUSD_LOG_ERROR,
};

enum atrousd_log_format {
    ATROUSD_LOG_JSON,
    ATROUSD_LOG_TEXT,
};

enum atrousd_log_kind {
    ATROUSD_LOG_STR,    /* s; NULL is written as null */
    ATROUSD_LOG_INT,    /* i */
    ATROUSD_LOG_UINT,   /* u */
    ATROUSD_LOG_BOOL,   /* b */
    ATROUSD_LOG_OBJECT, /* write(w, arg) writes one JSON value (in text mode too, as JSON) */
};

/* One key/value of a log line. Build them with the LOG_* macros below. */
struct atrousd_log_field {
    const char *key;
    enum atrousd_log_kind kind;
    union {
        const char *s;
        int64_t i;
        uint64_t u;
        bool b;
        struct {
            void (*write)(struct atrous_jw *w, const void *arg);
            const void *arg;
        } obj;
    } v;
};

#define LOG_STR(k, val)                                                                            \
    ((struct atrousd_log_field){.key = (k), .kind = ATROUSD_LOG_STR, .v.s = (val)})
#define LOG_INT(k, val)                                                                            \
    ((struct atrousd_log_field){.key = (k), .kind = ATROUSD_LOG_INT, .v.i = (int64_t)(val)})
#define LOG_UINT(k, val)                                                                           \
    ((struct atrousd_log_field){.key = (k), .kind = ATROUSD_LOG_UINT, .v.u = (uint64_t)(val)})
#define LOG_BOOL(k, val)                                                                           \
    ((struct atrousd_log_field){.key = (k), .kind = ATROUSD_LOG_BOOL, .v.b = (val)})
#define LOG_OBJECT(k, fn, a)                                                                       \
    ((struct atrousd_log_field){                                                                   \
        .key = (k), .kind = ATROUSD_LOG_OBJECT, .v.obj = {.write = (fn), .arg = (a)}})

/* Sets the minimum level written, the format and the sink (a file descriptor the caller keeps
 * open). Defaults: info, JSON, fd 2. Not thread-safe: call before starting threads. */
void atrousd_log_configure(enum atrousd_log_level level, enum atrousd_log_format format, int fd);

/* The flusher writes as soon as this much has gathered (about 200 access-log lines). */
#define ATROUSD_LOG_BUFFER_BYTES ((size_t)64 << 10)

/* Lines waiting while the sink is slow: two halves of this size, one being written while the
 * other fills. A line that finds the filling half full is dropped and counted. */
#define ATROUSD_LOG_BACKLOG_BYTES ((size_t)512 << 10)

/* Longest atrousd_log_flush waits for the flusher, and atrousd_log_buffer_stop for its last
 * write: a stalled sink must not hold a drain or an exit. */
#define ATROUSD_LOG_FLUSH_WAIT_MS 500
#define ATROUSD_LOG_STOP_WAIT_MS  2000

/*
 * From now on no thread but the flusher (a thread of its own) writes to the sink, so a sink
 * that stalls (a pipe nobody reads, a full disk, a stuck collector) never blocks a caller: a
 * line is copied into the backlog under a lock held only for that copy, and when the backlog
 * is full the line is dropped and counted (atrousd_log_lines_dropped); once the sink takes
 * writes again, a warn line says how many were dropped. Info and debug lines are written when
 * ATROUSD_LOG_BUFFER_BYTES have gathered or at the latest flush_ms later; warn and error
 * lines (and every line when flush_ms is 0) wake the flusher at once. Lines keep their order
 * and each is written whole. Returns true when the flusher runs (false: lines are written by
 * the caller, as before the start). Call after atrousd_log_configure; stop it before exiting.
 */
bool atrousd_log_buffer_start(uint64_t flush_ms);

/* Asks the flusher to write what is buffered now and waits for it, at most
 * ATROUSD_LOG_FLUSH_WAIT_MS (before _exit, say). True when it was written. Thread-safe;
 * cheap when the flusher does not run. */
bool atrousd_log_flush(void);

/* Writes out what is buffered and stops the flusher, waiting at most ATROUSD_LOG_STOP_WAIT_MS
 * for a stalled sink (the flusher is then left blocked and lines keep being dropped). After a
 * clean stop, lines are written by the caller again. */
void atrousd_log_buffer_stop(void);

/* Lines dropped since the start because the sink was stalled or failing (/metrics). */
uint64_t atrousd_log_lines_dropped(void);

/* True when a line of this level would be written. */
bool atrousd_log_enabled(enum atrousd_log_level level);

/* Writes one line with msg and the given fields (count may be 0). */
void atrousd_log_fields(enum atrousd_log_level level, const char *msg,
                        const struct atrousd_log_field *fields, size_t count);

/* Writes one line whose msg is a printf-style message. */
void atrousd_logf(enum atrousd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "debug", "info", "warn", "error". */
const char *atrousd_log_level_name(enum atrousd_log_level level);

/* Parses a level or format name (as the flags spell them). False when unknown. */
bool atrousd_log_level_parse(const char *s, enum atrousd_log_level *out);
bool atrousd_log_format_parse(const char *s, enum atrousd_log_format *out);
const char *atrousd_log_format_name(enum atrousd_log_format format);

#endif
