/*
 * budget.h - the one memory budget (--max-memory-bytes) that every request-sized allocation
 * is counted against, from admission to the last byte of the answer sent.
 *
 * A request holds one reservation. Admission reserves its worst case as far as the headers
 * tell it (the body, what decoding the body may take, and for a binary op the output and its
 * encoding); a JSON form grows it by the output and its encoding once its shapes are decoded;
 * a gzip body grows it by what inflating adds; once the answer exists it shrinks to the
 * answer still to be sent; the completion of the request releases it. A reserve or grow that
 * does not fit fails and changes nothing: the caller refuses the request (503 with
 * Retry-After, or 400 too_large when it could never fit).
 *
 * The counter is one atomic compare-and-swap loop, so the budget is never overdrawn, even
 * for a moment, by requests racing on several threads. A reservation itself is not shared:
 * the I/O thread and the compute worker hand a request to each other, never touch it at once.
 * No sockets here, no libmicrohttpd: tests drive it directly (tests/test_budget.c).
 */
#ifndef ATROUSD_BUDGET_H
#define ATROUSD_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct atrousd_budget {
    uint64_t limit;           /* bytes; fixed after init */
    _Atomic uint64_t in_use;  /* bytes reserved right now */
    _Atomic uint64_t peak;    /* the most ever reserved at once */
    _Atomic uint64_t refused; /* reserves and grows that did not fit */
};

/* What one request holds. Zero-initialised (or atrousd_reservation_init) it holds nothing. */
struct atrousd_reservation {
    struct atrousd_budget *budget; /* set by the first reserve; NULL while nothing is held */
    uint64_t bytes;
};

/* Sets the limit and zeroes the counters. Not thread-safe: call before serving. */
void atrousd_budget_init(struct atrousd_budget *b, uint64_t limit);

/* Makes r hold nothing (of no budget). */
void atrousd_reservation_init(struct atrousd_reservation *r);

/*
 * Takes bytes more from b for r: r may hold nothing yet (it is then tied to b) or already
 * hold some of b. False, with nothing changed and the refusal counted, when in_use + bytes
 * would pass the limit. Thread-safe against every other reservation of b.
 */
bool atrousd_budget_reserve(struct atrousd_budget *b, struct atrousd_reservation *r,
                            uint64_t bytes);

/* atrousd_budget_reserve on the budget r is already tied to (the gzip body path and the
 * decoded shapes grow this way). A reservation tied to no budget grows without limit: the
 * synchronous handler path (tests, fuzzing) runs without one. */
bool atrousd_budget_grow(struct atrousd_reservation *r, uint64_t more);

/* Lowers what r holds to at most bytes (an answer smaller than its worst case, a body freed);
 * holding less already, nothing changes. */
void atrousd_budget_shrink(struct atrousd_reservation *r, uint64_t bytes);

/* Gives everything r holds back; r then holds nothing. Safe to call again. */
void atrousd_budget_release(struct atrousd_reservation *r);

/* True when bytes could ever be reserved (bytes <= limit). */
bool atrousd_budget_could_fit(const struct atrousd_budget *b, uint64_t bytes);

/* Snapshots for /metrics and /v1/info. */
uint64_t atrousd_budget_in_use(const struct atrousd_budget *b);
uint64_t atrousd_budget_peak(const struct atrousd_budget *b);
uint64_t atrousd_budget_refused(const struct atrousd_budget *b);

/* The default budget: half of what the process may use, i.e. the container's memory limit
 * (atrousd_memory_detect in cpus.h) or the machine's RAM without one. The other half is
 * left for the baseline (engine, primitive cache, models) and the per-connection and
 * per-worker memory outside the budget (README "Memory budget"). */
#define ATROUSD_BUDGET_DEFAULT_DIVISOR 2
/* ... and when neither can be read. */
#define ATROUSD_BUDGET_FALLBACK_BYTES ((uint64_t)1 << 30)

#endif
