/*
 * handlers.h - the service's request handling on plain structs, with no sockets and no
 * libmicrohttpd: an http_exchange in (method, path, query, the headers that matter, body),
 * an http_reply out (status, headers, body, timings). The HTTP adapter (http.c) calls the
 * steps separately so that compute runs on a worker; atrousd_handle() runs them all at once
 * for tests and fuzzing.
 */
#ifndef ATROUSD_HANDLERS_H
#define ATROUSD_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_binary.h"
#include "atrous_engine.h"
#include "atrous_error.h"
#include "atrous_kserve.h"
#include "atrous_model.h"
#include "atrous_request.h"
#include "atrous_tfserving.h"
#include "budget.h"
#include "router.h"
#include "server_ctx.h"

/* Query parameters kept per request; the binary form needs five. */
#define ATROUSD_MAX_QUERY_PARAMS 16

/* Room for "X-Output-Shape: n,n,n,n" values. */
#define ATROUSD_SHAPE_HEADER_MAX 128

/* A request runs inline only when its body and output together are at most this many bytes
 * too: copying and sending large tensors costs the I/O thread more than the FLOPs say. */
#define ATROUSD_INLINE_MAX_BYTES ((size_t)256 << 10)

/* A queued compute job counts as small (ahead of young large ones, compute_queue.h) when its
 * binary op estimate is at most ATROUSD_SMALL_JOB_FLOPS (about 1 ms of one core), or, for the
 * forms whose shapes are known only once decoded (JSON, KServe, TF Serving), when its body is
 * at most ATROUSD_SMALL_JOB_BYTES. */
#define ATROUSD_SMALL_JOB_FLOPS 64e6
#define ATROUSD_SMALL_JOB_BYTES ((size_t)1 << 20)

/* Retry-After (seconds) on 429 and 503 answers. */
#define ATROUSD_RETRY_AFTER_S 1

/* One request as the handlers see it. Strings are borrowed from the caller. */
struct http_exchange {
    const char *method;
    const char *path; /* without the query string */
    const struct atrous_query_param *query;
    size_t query_count;
    bool query_truncated;                /* more than ATROUSD_MAX_QUERY_PARAMS were sent */
    const char *content_type;            /* NULL when absent */
    const char *content_encoding;        /* NULL when absent */
    const char *accept;                  /* NULL when absent */
    const char *inference_header_length; /* KServe binary extension's header, NULL if absent */
    const char *request_id;              /* already sanitised; never NULL */
    bool has_content_length;             /* false for chunked or absent bodies */
    uint64_t content_length;
    const void *body; /* the whole body, once received */
    size_t body_len;
    struct atrousd_reservation *memory; /* the request's share of --max-memory-bytes (grown
                                           once a JSON form's shapes are decoded); NULL: none */
};

/* What the handlers decided before the body arrived. */
struct request_plan {
    enum atrousd_endpoint endpoint;
    enum atrous_wire_form request_form;  /* op only */
    enum atrous_wire_form response_form; /* op only */
    size_t body_expected;                /* binary op: the size the query implies */
    struct atrous_kserve_route kserve;   /* KServe endpoints: the parsed path */
    struct atrous_tfs_route tfs;         /* TF Serving endpoints: the parsed path */
    const struct atrous_model *model;    /* model routes: borrowed; NULL = the generic model */
    size_t metrics_model;                /* atrousd_ctx_model_metrics_index; 0: no model */
    const void *batch_class;             /* non-NULL: may be batched with requests of this class */
    double cost_flops; /* binary op: 2*N*OH*OW*OC*KH*KW*IC from the query's shapes, else 0 */
    bool run_inline;   /* binary op cheap enough for the I/O thread (--inline-max-flops) */
    bool has_problem;  /* binary op whose query validated: problem is what it will compute */
    struct atrous_problem problem; /* its output size and cost are known before the body */
};

/* One answer. The reply owns body (malloc'd; free()-able) until it is handed on. */
struct http_reply {
    unsigned status;          /* 0 until decided */
    const char *content_type; /* static string */
    char *body;
    size_t body_len;
    const char *allow;                           /* Allow header (405), static, or NULL */
    unsigned retry_after_s;                      /* Retry-After header when non-zero */
    char output_shape[ATROUSD_SHAPE_HEADER_MAX]; /* X-Output-Shape when non-empty */
    size_t inference_header_length; /* KServe binary answer: its JSON header's length, else 0 */
    bool close_connection;          /* add Connection: close */
    /* For the access log and metrics. */
    const char *error_code; /* the "code" of an error body, or NULL */
    char error_message[ATROUS_ERROR_MESSAGE_MAX];
    char error_detail[ATROUS_ERROR_MESSAGE_MAX]; /* 5xx: what the client is not told */
    bool has_stages;
    uint64_t parse_us, queue_us, compute_us, serialize_us;
    size_t batch_size; /* requests computed together with this one (itself included), 0 if none */
};

/* Makes an empty reply; releases what a reply owns (both accept an initialised reply). */
void http_reply_init(struct http_reply *reply);
void http_reply_release(struct http_reply *reply);

/*
 * Everything decidable from the request line and headers, before any body byte is read:
 * 404 (paths, and models the repository lacks), 405 (+Allow), 503 while warming up or
 * draining, 415, 406, 413 from Content-Length (and from --max-json-bytes for KServe and TF
 * Serving JSON), and for binary op requests the query (400/413) and the size it implies against
 * Content-Length (400). Returns true when reply holds the final answer; false when the request
 * proceeds (plan is then filled; a binary op gets its cost estimate and run_inline).
 */
bool atrousd_precheck(struct server_ctx *ctx, const struct http_exchange *ex,
                      struct request_plan *plan, struct http_reply *reply);

/* Answers a GET endpoint (/healthz, /readyz, /metrics, /v1/info, the KServe health, metadata,
 * readiness and config documents, TF Serving status and metadata). Cheap; any thread. */
void atrousd_handle_endpoint(struct server_ctx *ctx, const struct http_exchange *ex,
                             const struct request_plan *plan, struct http_reply *reply);

/*
 * Runs a compute request (the op, KServe infer, TF Serving predict) on a complete body:
 * decode (the op's JSON or binary form, KServe's JSON or binary tensor extension, TF Serving's
 * JSON), validate, compute (with workspace, which may be NULL; a repository model's prepared
 * filters, else the request's own), encode. Meant for a compute worker: JSON decoding of large
 * bodies costs more than the compute itself.
 */
void atrousd_handle_compute(struct server_ctx *ctx, const struct http_exchange *ex,
                            const struct request_plan *plan, struct atrous_workspace *workspace,
                            struct http_reply *reply);

/* One request of a batch. */
struct atrousd_call {
    const struct http_exchange *ex;
    const struct request_plan *plan; /* planned with a batch_class */
    struct http_reply *reply;
};

/*
 * Runs count model requests at once, as atrousd_handle_compute would one by one, with the same
 * answers: each is decoded and validated on its own; those of the same repository model with
 * the same H and W are stacked along N into one compute call of at most --max-batch rows (and
 * within the element limits), whose output is split back to them; the others run alone.
 */
void atrousd_handle_model_batch(struct server_ctx *ctx, const struct atrousd_call *calls,
                                size_t count, struct atrous_workspace *workspace);

/*
 * The whole request synchronously on the calling thread: precheck (with Content-Length taken
 * as body_len), then the endpoint or the op. For tests and fuzz targets; the daemon runs the
 * same steps split across its I/O and compute threads.
 */
void atrousd_handle(struct server_ctx *ctx, const struct http_exchange *ex,
                    struct http_reply *reply);

/*
 * Fills reply with a JSON error body {"error", "code", "field", "request_id"}. field may be
 * NULL or "" (null in the body). Statuses 429 and 503 get Retry-After.
 */
void atrousd_reply_error(struct http_reply *reply, unsigned status, const char *code,
                         const char *field, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* A strict decimal header value (Content-Length, Inference-Header-Content-Length): digits only,
 * at least one, no overflow. False when v is NULL or not one. */
bool atrousd_header_decimal(const char *v, uint64_t *out);

/* True when an X-Request-Id value may be reused: 1..ATROUSD_REQUEST_ID_MAX printable ASCII
 * characters without spaces. */
bool atrousd_request_id_sane(const char *id);

#endif
