/*
 * pipeline.h - the one compute pipeline of every compute endpoint (the op, KServe infer, TF
 * Serving predict): decode (through the request's protocol adapter), validate, compute,
 * encode, each step timed for the access log. It runs on a compute worker (or, for cheap binary
 * ops, inline on the I/O thread); batching.h runs the same steps for several requests at once.
 */
#ifndef ATROUSD_PIPELINE_H
#define ATROUSD_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "admission.h"
#include "atrous_engine.h"
#include "protocol.h"
#include "reply.h"
#include "server_ctx.h"

/*
 * Runs a compute request on a complete body: decode (the protocol admission chose, with what it
 * parsed: the binary query, the Inference-Header-Content-Length), validate, compute (with
 * workspace, which may be NULL; a repository model's prepared filters, else the request's
 * own), encode. Meant for a compute worker: JSON decoding of large bodies costs more than the
 * compute itself.
 */
void atrousd_handle_compute(struct server_ctx *ctx, const struct http_exchange *ex,
                            const struct request_plan *plan, struct atrous_workspace *workspace,
                            struct http_reply *reply);

/*
 * What a worker thread runs for a request it took off a queue: a compute endpoint through the
 * pipeline (atrousd_handle_compute), a repository endpoint through the model manager (whose
 * thread is then the caller).
 */
void atrousd_handle_job(struct server_ctx *ctx, const struct http_exchange *ex,
                        const struct request_plan *plan, struct atrous_workspace *workspace,
                        struct http_reply *reply);

/*
 * The whole request synchronously on the calling thread: precheck (with Content-Length taken
 * as body_len), then the endpoint or the pipeline. For tests and fuzz targets; the daemon runs
 * the same steps split across its I/O and compute threads.
 */
void atrousd_handle(struct server_ctx *ctx, const struct http_exchange *ex,
                    struct http_reply *reply);

/* The pipeline's steps, for the batcher (batching.c), which computes several runs at once. */
struct compute_run {
    const struct http_exchange *ex;
    const struct request_plan *plan;
    struct http_reply *reply;
    struct atrousd_wire_request request; /* the one decoded request, whatever its protocol */
    struct atrous_problem problem;
    enum atrous_status st;
    struct atrous_error err;
    const float *output;  /* the result; may point into a batch's buffer */
    float *owned;         /* output memory this run frees (a batch's, for its first run) */
    uint64_t computed_ns; /* when its compute ended; 0 before */
    bool done;            /* computed, or failed before */
    bool refused;         /* the governor answered (cost or memory): reply is final */
};

/* Decodes and validates r (r->st, r->problem). r needs only ex, plan and reply set. */
void atrousd_run_decode(struct server_ctx *ctx, struct compute_run *r);

/* Computes a decoded, valid run on its own. */
void atrousd_run_compute(struct server_ctx *ctx, struct atrous_workspace *workspace,
                         struct compute_run *r);

/* Encodes r's answer (or its failure) into its reply. */
void atrousd_run_encode(struct compute_run *r);

/* Frees what r holds. */
void atrousd_run_release(struct compute_run *r);

/*
 * Allocates the output of a validated problem into *output (NULL when empty) and computes it,
 * with prepared filters when given, else with the raw filters buffer. Every compute runs
 * through here.
 */
enum atrous_status atrousd_compute(struct server_ctx *ctx, struct atrous_workspace *workspace,
                                   const struct atrous_problem *problem, const float *value,
                                   const float *filters, struct atrous_filters *prepared,
                                   float **output, enum atrous_precision *ran,
                                   struct atrous_error *err);

#endif
