/*
 * trace.h - W3C Trace Context (https://www.w3.org/TR/trace-context/) for one request: the
 * traceparent and tracestate a client sent, validated strictly, and the ids the server answers
 * and logs with. A request that came with a valid traceparent continues its trace (same
 * trace-id and sampled flag, the caller's parent-id kept for the log, a new span id for the
 * server); one without, or with an invalid one, starts a new trace and drops tracestate, as the
 * specification says. The response carries traceparent with the trace-id and the server's span
 * id, and the tracestate it came with, so a client's trace leads to the access log line.
 *
 * No allocation, no I/O: the HTTP adapter hands the header values in and gets text out.
 */
#ifndef ATROUSD_TRACE_H
#define ATROUSD_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest tracestate passed on: the 512 characters the specification asks to propagate;
 * a longer one loses whole entries, the longest (over 128 characters) first, then from the
 * end. */
#define ATROUSD_TRACESTATE_MAX 512

/* tracestate fields read per request (the header may come split over several). */
#define ATROUSD_TRACESTATE_FIELDS_MAX 8

/* "00-" 32 "-" 16 "-" 2 */
#define ATROUSD_TRACEPARENT_LEN 55

struct atrousd_trace {
    char trace_id[33];  /* 32 lowercase hex digits */
    char span_id[17];   /* the server's span: 16 lowercase hex digits */
    char parent_id[17]; /* the caller's span, "" when the trace started here */
    uint8_t flags;      /* trace-flags answered: sampled (and random-trace-id) bits */
    char tracestate[ATROUSD_TRACESTATE_MAX + 1]; /* passed on; "" when none or invalid */
};

/*
 * Parses a traceparent value strictly: version (two lowercase hex digits, not "ff"), trace-id
 * (32 lowercase hex, not all zero), parent-id (16, not all zero), trace-flags (2); version 00
 * exactly 55 characters, a higher version at least 55 with a '-' after the flags when longer.
 * Fills the ids and the flags (unknown flag bits cleared). False when invalid.
 */
bool atrousd_traceparent_parse(const char *value, char trace_id[33], char parent_id[17],
                               uint8_t *flags);

/*
 * Joins tracestate fields (in order, with ',' between, as RFC 9110 combines them) and checks
 * the list: members "key=value" (key: a lowercase letter or digit then up to 255 of a-z 0-9 _ -
 * * / @; value: 1 to 256 printable characters but ',' and '=', not ending in a space),
 * surrounding blanks and empty members allowed, at most 32 members, no key twice. Writes the
 * normalized list (no blanks) cut to ATROUSD_TRACESTATE_MAX as the specification says; false
 * (out "") when invalid, which drops the header.
 */
bool atrousd_tracestate_normalize(const char *const *fields, size_t count,
                                  char out[ATROUSD_TRACESTATE_MAX + 1]);

/*
 * Starts the request's trace: traceparent (NULL when absent; traceparent_count how many
 * traceparent fields came, more than one being invalid) and the tracestate fields. random64
 * (with arg) gives the new ids' bits.
 */
void atrousd_trace_begin(struct atrousd_trace *t, const char *traceparent,
                         unsigned traceparent_count, const char *const *tracestate,
                         size_t tracestate_count, uint64_t (*random64)(void *arg), void *arg);

/* The traceparent the response carries: version 00, the trace-id, the server's span id. */
void atrousd_trace_header(const struct atrousd_trace *t, char out[ATROUSD_TRACEPARENT_LEN + 1]);

#endif
