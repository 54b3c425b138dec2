/*
 * admission.h - what a request is and every decision made from its request line and headers,
 * before any body byte is read (h2o's "handlers take a plain request struct"): the route, the
 * model it names, the serving state, media types, byte limits, the binary op's query and the
 * KServe Inference-Header-Content-Length. Each is decided once, here, and handed on in the
 * request_plan; nothing after admission parses them again.
 *
 * Admission is one function, atrousd_precheck, whose steps are in order; the governance work
 * adds its checks at the marked hooks (authentication, the request's memory reservation, its
 * compute-cost estimate).
 */
#ifndef ATROUSD_ADMISSION_H
#define ATROUSD_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_binary.h"
#include "atrous_kserve.h"
#include "atrous_model.h"
#include "atrous_request.h"
#include "atrous_tfserving.h"
#include "auth.h"
#include "budget.h"
#include "reply.h"
#include "router.h"
#include "server_ctx.h"

/* Query parameters kept per request; the binary form needs five. */
#define ATROUSD_MAX_QUERY_PARAMS 16

/* A request runs inline only when its body and output together are at most this many bytes
 * too: copying and sending large tensors costs the I/O thread more than the FLOPs say. */
#define ATROUSD_INLINE_MAX_BYTES ((size_t)256 << 10)

/* A queued compute job counts as small (ahead of young large ones, compute_queue.h) when its
 * binary op estimate is at most ATROUSD_SMALL_JOB_FLOPS (about 1 ms of one core), or, for the
 * forms whose shapes are known only once decoded (JSON, KServe, TF Serving), when its body is
 * at most ATROUSD_SMALL_JOB_BYTES. */
#define ATROUSD_SMALL_JOB_FLOPS 64e6
#define ATROUSD_SMALL_JOB_BYTES ((size_t)1 << 20)

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
    const char *authorization;           /* the first Authorization header, NULL when absent */
    unsigned authorization_count;        /* how many Authorization headers came */
    bool has_content_length;             /* false for chunked or absent bodies */
    uint64_t content_length;
    const void *body; /* the whole body, once received */
    size_t body_len;
    void *body_room; /* the body's own buffer when a decoder may reuse it (NULL otherwise): */
    size_t room_len; /* its size, >= body_len (a 16-bit binary op widens in place in it) */
    struct atrousd_reservation *memory; /* the request's share of --max-memory-bytes (governor.h;
                                           grown once a JSON form's shapes are decoded); NULL:
                                           not counted (the synchronous path of tests) */
};

struct atrousd_protocol;

/* What admission decided, handed on to the pipeline. */
struct request_plan {
    enum atrousd_endpoint endpoint;
    enum atrous_wire_form request_form;      /* op only */
    enum atrous_wire_form response_form;     /* op only */
    const struct atrousd_protocol *protocol; /* compute endpoints: decodes and encodes the body */
    struct atrous_binary_plan binary;        /* binary op: the query, parsed once */
    size_t body_expected;                    /* binary op: the size the query implies */
    bool has_header_length;                  /* KServe infer: Inference-Header-Content-Length */
    uint64_t header_length;                  /* its value, parsed once */
    struct atrous_kserve_route kserve;       /* KServe endpoints: the parsed path */
    struct atrous_tfs_route tfs;             /* TF Serving endpoints: the parsed path */
    /* Model routes: a reference on the repository snapshot the request was admitted with, held
     * until it ends (atrousd_plan_release), so that its model stays the version it started on
     * however the repository changes meanwhile; NULL for other routes. */
    struct atrousd_repo *repo;
    const struct atrous_model *model; /* model routes: borrowed from repo; NULL = the generic */
    size_t metrics_model;             /* the model's number in the metrics; 0: no model */
    const void *batch_class;          /* non-NULL: may be batched with requests of this class */
    double cost_flops; /* binary op: 2*N*OH*OW*OC*KH*KW*IC from the query's shapes, else 0 */
    bool run_inline;   /* binary op cheap enough for the I/O thread (--inline-max-flops) */
    bool has_problem;  /* binary op whose query validated: problem is what it will compute */
    struct atrous_problem problem; /* (governor.h) its output and cost known before the body */
    uint64_t problem_bytes;        /* its output, answer and compute memory, reserved at once */
    char token_id[ATROUSD_AUTH_ID_LEN + 1]; /* the accepted bearer token's short id, or "" */
};

/*
 * Everything decidable from the request line and headers, before any body byte is read:
 * 404 (paths, and models the repository lacks), 405 (+Allow), 401 (+WWW-Authenticate) without
 * a known bearer token when --auth-token-file is set (400 for two Authorization headers), 503 while
 * warming up or draining, 415, 406, 413 from Content-Length (and from --max-json-bytes for KServe
 * and TF Serving JSON), for binary op requests the query (400) and the size it implies against
 * --max-body-bytes (413) and Content-Length (400), and a malformed
 * Inference-Header-Content-Length (400). Returns true when reply holds the final answer; false
 * when the request proceeds (plan is then filled; a binary op gets its parsed query, cost
 * estimate and run_inline).
 */
bool atrousd_precheck(struct server_ctx *ctx, const struct http_exchange *ex,
                      struct request_plan *plan, struct http_reply *reply);

/* Drops what the plan holds (its snapshot reference). Call once the request has ended, its
 * answer sent or abandoned; accepts a plan that holds nothing, and a zeroed one. */
void atrousd_plan_release(struct request_plan *plan);

/* Whether the service takes compute requests and answers ready. */
enum atrousd_serving {
    ATROUSD_SERVING,
    ATROUSD_WARMING_UP, /* the start-up self-test has not passed yet */
    ATROUSD_DRAINING,   /* SIGTERM received */
};

/*
 * The one "is the server serving?" check, for compute admission and the readiness endpoints.
 * When not serving it also sets what every such answer carries: Retry-After, and
 * Connection: close while draining.
 */
enum atrousd_serving atrousd_serving_check(struct server_ctx *ctx, struct http_reply *reply);

/* A strict decimal header value (Content-Length): digits only, at least one, no overflow.
 * False when v is NULL or not one. */
bool atrousd_header_decimal(const char *v, uint64_t *out);

/* True when an X-Request-Id value may be reused: 1..ATROUSD_REQUEST_ID_MAX printable ASCII
 * characters without spaces. */
bool atrousd_request_id_sane(const char *id);

#endif
