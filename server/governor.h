/*
 * governor.h - what one compute request may cost, decided before it is committed: its worst
 * memory against the budget (budget.h) and its estimated compute time against
 * --max-compute-ms. Admission calls it on the headers; the pipeline calls it again once a JSON
 * form's shapes are decoded, before computing. Every call is one line at its hook point.
 *
 * The worst case of a request, in bytes (README "Memory budget" lists the same rules):
 *   body        Content-Length; a chunked or compressed body (inflated as it arrives) the
 *               --max-body-bytes cap, and half again for the moment its buffer moves
 *               (atrousd_governor_body_cap), until it is complete: then its buffer, with the
 *               decoding of its real length (not reserved before for such a body); a gzip
 *               body's zlib state (~40 KiB) is in the overhead
 *   decoding    binary op 1x the body (a misaligned tensor is copied), 2x for dtype=bfloat16
 *               or float16 (the 2-byte elements widened to float32); the op's JSON
 *               4x (its float arena holds up to 2x the body, twice while it moves); KServe v2 and
 *               TF Serving JSON ATROUSD_GOVERNOR_DOC_BYTES_PER_BYTE x the JSON part (the lean
 *               document's worst case, proto/json_doc.h; at most --max-json-bytes of it, the
 *               decoder refusing more unparsed) plus the binary part twice (its datatypes are
 *               in the JSON: a BF16/FP16 part is widened to float32, twice its size)
 *   output      4 bytes per output element, plus the stacked copy of the value when the
 *               model's requests are batched (--max-batch > 1)
 *   compute     what the engine's workspace holds for the problem (oneDNN's scratchpad, the
 *               reordered filters and their source copy: atrous_estimate.workspace_bytes)
 *   encoding    binary op answer nothing (the output is the answer; a 16-bit one is rounded
 *               in place); JSON answers
 *               ATROUSD_GOVERNOR_JSON_BYTES_PER_FLOAT per element; the KServe binary
 *               extension another copy of the output
 * A binary op knows it all from its headers (the shapes are in the query); a JSON form
 * reserves body and decoding at admission and the rest once decoded. When the answer is
 * queued the reservation shrinks to the answer, and the request's completion releases it.
 */
#ifndef ATROUSD_GOVERNOR_H
#define ATROUSD_GOVERNOR_H

#include <stdbool.h>
#include <stdint.h>

#include "admission.h"
#include "atrous_op.h"
#include "budget.h"
#include "reply.h"
#include "server_ctx.h"

/* The lean JSON document's worst case per byte of JSON: a list like [[],0,0,...] makes each
 * 2-byte number a 56-byte value on the parser's stack (which doubles and moves) and again in
 * the document. Peak heap measured by counting every allocation while decoding 2-8 MB bodies:
 * 86x for [[],0,0,...], 56x for [{},{},...], 20-23x for nested [[0],[0],...], 2x for a flat
 * list of numbers (the common case). */
#define ATROUSD_GOVERNOR_DOC_BYTES_PER_BYTE 100
/* The op's JSON decoder (proto/atrous_json.c): one float arena of at most 2x the body (each
 * number takes a digit and a separator), and a second as large while it moves (measured: 4.0x
 * for a value of n zeros followed by filters, 3.0x for nested lists). */
#define ATROUSD_GOVERNOR_OP_JSON_BYTES_PER_BYTE 4
/* A float written as JSON: 16 characters at most (ATROUS__FLOAT_TEXT_MAX), a separator, and
 * for TF Serving's nested lists up to 3 brackets more per innermost element. */
#define ATROUSD_GOVERNOR_JSON_BYTES_PER_FLOAT 20
/* A KServe binary part once decoded: 16-bit elements widened to float32 take twice the part. */
#define ATROUSD_GOVERNOR_WIDEN_BYTES_PER_BYTE 2
/* Envelopes, headers and small allocations of one request, counted once. */
#define ATROUSD_GOVERNOR_REQUEST_OVERHEAD ((uint64_t)64 << 10)

/* A binary op cheap enough in FLOPs for its I/O thread (--inline-max-flops, ~100 us) is
 * computed there only when its estimate agrees: 1x16x16x1 with 64x64x4x1 filters is 8 MFLOP
 * but ~25 ms on oneDNN's reference path, which /healthz on that thread would wait for. */
#define ATROUSD_GOVERNOR_INLINE_MAX_SECONDS 1e-3

/* What a compute workspace may keep after a run: more (oneDNN's scratchpad and reordered
 * filters of a large problem, counted in that request's reservation while it ran) is freed by
 * atrousd_governor_settle, so that it leaves the RSS with the reservation. */
#define ATROUSD_WORKSPACE_KEEP_BYTES ((size_t)16 << 20)

/*
 * Admission, on the headers of a compute request (the last step of atrousd_precheck): a binary
 * op whose query validates gets its problem (plan->has_problem, plan->problem), estimated and
 * refused over --max-compute-ms (400 too_large), and leaves the inline path when its estimate
 * is over ATROUSD_GOVERNOR_INLINE_MAX_SECONDS; then the request's worst case so far is
 * reserved in *memory (NULL: nothing is counted). Returns true when reply holds the refusal,
 * with Connection: close since the body is not read: 400 too_large (the cost, or a worst case
 * larger than the whole budget) or 503 resource_exhausted with Retry-After (the budget is full
 * right now).
 */
bool atrousd_governor_admit(struct server_ctx *ctx, const struct http_exchange *ex,
                            struct request_plan *plan, struct atrousd_reservation *memory,
                            struct http_reply *reply);

/*
 * The body of a compute request is complete. A chunked or compressed body was reserved at its
 * cap without its decoding: now that its buffer's capacity (body_cap) and its length, inflated
 * (body_len), are known, the reservation becomes the body's real worst case - the buffer, and
 * the decoding of body_len - falling or growing. Returns true when reply holds the refusal
 * (503, or 400 when it could never fit).
 */
bool atrousd_governor_body_complete(struct server_ctx *ctx, const struct http_exchange *ex,
                                    const struct request_plan *plan, size_t body_cap,
                                    size_t body_len, struct atrousd_reservation *memory,
                                    struct http_reply *reply);

/*
 * After decoding and validation, before computing: for the forms whose shapes came with the
 * body (the op's JSON, KServe v2, TF Serving) the cost check and the growth of ex->memory by
 * the output and its encoding. Returns true when reply holds the refusal (as for admit).
 */
bool atrousd_governor_admit_problem(struct server_ctx *ctx, const struct http_exchange *ex,
                                    const struct request_plan *plan,
                                    const struct atrous_problem *problem, struct http_reply *reply);

/*
 * The capacity a body buffer that grows as it arrives (its size unknown: chunked, compressed)
 * takes to hold need bytes, from cap (0: its first buffer), within limit (--max-body-bytes):
 * cap when it holds need already, 0 when need is over limit. It doubles up to half the limit,
 * then takes the limit itself, and is never between the two: while it moves, the old buffer and
 * the new one together hold at most 1.5 x limit, what admission reserved for such a body.
 */
size_t atrousd_governor_body_cap(size_t cap, size_t need, size_t limit);

/* After a compute on workspace (a worker's or an inline one): frees its buffers when they hold
 * more than ATROUSD_WORKSPACE_KEEP_BYTES. Call before the request completes. */
void atrousd_governor_settle(struct atrous_workspace *workspace);

#endif
