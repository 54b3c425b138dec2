/*
 * reply.h - one HTTP answer on a plain struct (status, headers, body, timings) and the one
 * table of the service's failures: each kind of error answer with its HTTP status and its wire
 * code, in the style of lib/atrous_error.h, so that no call site pairs a status with a code by
 * hand. Every error body is the native JSON error {"error", "code", "field", "request_id"},
 * whatever the protocol (TF Serving, Triton and KServe clients read "error").
 */
#ifndef ATROUSD_REPLY_H
#define ATROUSD_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_error.h"

/* Room for "X-Output-Shape: n,n,n,n" values. */
#define ATROUSD_SHAPE_HEADER_MAX 128

/* Retry-After (seconds) on 429 and 503 answers. */
#define ATROUSD_RETRY_AFTER_S 1

#define ATROUSD_CONTENT_TYPE_JSON    "application/json"
#define ATROUSD_CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

/*
 * X(NAME, status, "code"): every kind of error answer. DESIGN.md section 3: a size computed
 * from the request over a limit is 400 too_large (TOO_LARGE); 413 is only for content over
 * --max-body-bytes or --max-json-bytes (CONTENT_TOO_LARGE). Statuses 429 and 503 carry
 * Retry-After.
 */
#define ATROUSD_FAILURE_MAP(X)                                                                     \
    X(INVALID_ARGUMENT, 400, "invalid_argument")                                                   \
    X(TOO_LARGE, 400, "too_large")                                                                 \
    X(UNAUTHENTICATED, 401, "unauthenticated")                                                     \
    X(NOT_FOUND, 404, "not_found")                                                                 \
    X(METHOD_NOT_ALLOWED, 405, "method_not_allowed")                                               \
    X(NOT_ACCEPTABLE, 406, "not_acceptable")                                                       \
    X(CONTENT_TOO_LARGE, 413, "too_large")                                                         \
    X(UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type")                                       \
    X(RESOURCE_EXHAUSTED, 429, "resource_exhausted")                                               \
    X(INTERNAL, 500, "internal")                                                                   \
    X(NO_MEMORY, 503, "out_of_memory")                                                             \
    X(UNAVAILABLE, 503, "unavailable")                                                             \
    X(MEMORY_BUDGET, 503, "resource_exhausted")                                                    \
    X(DEADLINE_EXCEEDED, 504, "deadline_exceeded")

enum atrousd_failure {
#define ATROUSD__FAILURE_ENUM(name, status, code) ATROUSD_FAIL_##name,
    ATROUSD_FAILURE_MAP(ATROUSD__FAILURE_ENUM)
#undef ATROUSD__FAILURE_ENUM
        ATROUSD__FAILURE_COUNT
};

/* The HTTP status and the wire code of a failure. */
unsigned atrousd_failure_status(enum atrousd_failure failure);
const char *atrousd_failure_code(enum atrousd_failure failure);

/* One answer. The reply owns body (malloc'd; free()-able) until it is handed on. */
struct http_reply {
    unsigned status;          /* 0 until decided */
    const char *content_type; /* static string */
    char *body;
    size_t body_len;
    const char *allow;            /* Allow header (405), static, or NULL */
    const char *www_authenticate; /* WWW-Authenticate header (401, auth.h), static, or NULL */
    unsigned retry_after_s;       /* Retry-After header when non-zero */
    char output_shape[ATROUSD_SHAPE_HEADER_MAX]; /* X-Output-Shape when non-empty */
    const char *output_dtype;                    /* X-Output-Dtype (static name) when non-NULL */
    const char *compute_precision;  /* X-Compute-Precision: what ran ("f32"/"bf16"), or NULL */
    size_t inference_header_length; /* KServe binary answer: its JSON header's length, else 0 */
    bool close_connection;          /* add Connection: close */
    /* For the access log and metrics. */
    const char *error_code; /* the "code" of an error body, or NULL */
    char error_message[ATROUS_ERROR_MESSAGE_MAX];
    char error_detail[ATROUS_ERROR_MESSAGE_MAX]; /* 5xx: what the client is not told */
    bool has_stages;
    uint64_t parse_us, queue_us, compute_us, serialize_us;
    size_t batch_size; /* requests computed together with this one (itself included), 0 if none */
    const char *implementation; /* what computed it (atrousd_computed_by), or NULL */
    /* The statistics extension (metrics.h): the value's batch dimension once computed, and
     * whether this request accounts for the compute call (alone, or first of a batch) of
     * execution_rows rows. */
    uint64_t inference_rows;
    bool executed;
    uint64_t execution_rows;
};

/* Makes an empty reply; releases what a reply owns (both accept an initialised reply). */
void http_reply_init(struct http_reply *reply);
void http_reply_release(struct http_reply *reply);

/* Replaces the reply's body (taking body, which may be NULL) and its Content-Type. */
void atrousd_reply_body(struct http_reply *reply, const char *content_type, char *body, size_t len);

/*
 * Fills reply with the failure's status and JSON error body. field may be NULL or "" (null in
 * the body). The message is printf-formatted.
 */
void atrousd_reply_fail(struct http_reply *reply, enum atrousd_failure failure, const char *field,
                        const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The failure a library status is answered with (ATROUS_OK has none: INTERNAL). */
enum atrousd_failure atrousd_failure_of(enum atrous_status status);

/*
 * Answers a library failure: invalid arguments and sizes with their message and field; out of
 * memory as 503 with the detail kept for the log; engine and internal failures as 500 telling
 * the client only where to look (the detail goes to the log under request_id).
 */
void atrousd_reply_status(struct http_reply *reply, enum atrous_status status,
                          const struct atrous_error *err, const char *request_id);

/* A 200-class {"status": value} body. */
void atrousd_reply_json_status(struct http_reply *reply, unsigned status, const char *value);

#endif
