/*
 * compute_queue.h - ONE bounded queue of compute jobs shared by a fixed set of worker threads.
 * Each worker owns an atrous_workspace and sets its oneDNN OpenMP team size once at start.
 *
 * Admission is two-step so that a caller can commit to a job only after it is sure the job
 * fits: atrousd_queue_reserve() claims a slot (or fails at once when the queue is full: the
 * caller answers 429 and nothing piles up), then atrousd_queue_push() hands the job over and
 * cannot fail. The HTTP layer suspends the connection between the two steps, so a worker can
 * never finish a job before its connection is suspended.
 *
 * Batching (max_batch > 1): a job with a non-NULL batch_class may be run together with other
 * jobs of the same class. The worker that takes such a job also takes the jobs of its class
 * already waiting (in queue order), up to max_batch jobs in all; while it has fewer, it waits
 * until the first job has been queued for max_delay_us, and jobs of the class pushed meanwhile
 * join it directly. It then calls run_batch once with them all (run when it found no company).
 * With max_batch 1, or for jobs without a class, nothing of this runs: a job is handed to the
 * first free worker as before.
 *
 * Priority: a job marked small is queued ahead of the waiting large jobs, except those that
 * have already waited longer than large_max_wait_us (which it queues behind): small jobs keep
 * their order among themselves, and a large job is overtaken only while it is young, so it is
 * never starved. Large jobs keep their order among themselves.
 */
#ifndef ATROUSD_COMPUTE_QUEUE_H
#define ATROUSD_COMPUTE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_engine.h"
#include "atrous_error.h"

struct atrousd_job;

/* Runs a job on a worker thread with that worker's workspace. The job must not be touched by
 * the queue after run returns, so run may hand it to another thread to free. */
typedef void (*atrousd_job_run_fn)(struct atrousd_job *job, struct atrous_workspace *ws);
/* Called instead of run for a job no worker will run (the queue was shut down). */
typedef void (*atrousd_job_cancel_fn)(struct atrousd_job *job);
/* Runs count >= 2 jobs of one batch class together (the same rules as run for each job). */
typedef void (*atrousd_batch_run_fn)(struct atrousd_job *const *jobs, size_t count,
                                     struct atrous_workspace *ws);

/* Embedded in the caller's request; the queue links it, never allocates or frees it. */
struct atrousd_job {
    atrousd_job_run_fn run;
    atrousd_job_cancel_fn cancel;
    uint64_t enqueued_ns; /* CLOCK_MONOTONIC, set by atrousd_queue_push */
    struct atrousd_job *next;
    const void *batch_class;        /* NULL: never batched; else jobs of equal class may be */
    bool small;                     /* cheap: queued ahead of young large jobs */
    atrousd_batch_run_fn run_batch; /* required when batch_class is set */
};

struct atrousd_queue_config {
    int workers;                /* >= 1 */
    int omp_threads;            /* >= 1, OpenMP team per worker */
    size_t capacity;            /* >= 1, jobs waiting (not counting those being run) */
    size_t max_batch;           /* jobs run together at most; 0 or 1 = no batching */
    uint64_t max_delay_us;      /* longest a batch's first job waits for company */
    uint64_t large_max_wait_us; /* small jobs no longer overtake a large one waiting this long */
};

struct atrousd_queue;

/* Starts the workers (each with its workspace). On failure nothing is left running. */
enum atrous_status atrousd_queue_create(struct atrous_engine *engine,
                                        const struct atrousd_queue_config *config,
                                        struct atrousd_queue **out, struct atrous_error *err);

/* Claims a slot. False when the queue is full or shut down. Thread-safe. */
bool atrousd_queue_reserve(struct atrousd_queue *q);

/* True when a reservation would fail now (full or shut down). A hint: the answer may change at
 * once; only atrousd_queue_reserve() claims. Thread-safe. */
bool atrousd_queue_full(struct atrousd_queue *q);

/* Returns a claimed slot unused. */
void atrousd_queue_unreserve(struct atrousd_queue *q);

/* Enqueues a job into a claimed slot and wakes a worker. If the queue was shut down
 * meanwhile, the job is cancelled on the calling thread instead. */
void atrousd_queue_push(struct atrousd_queue *q, struct atrousd_job *job);

/* Jobs waiting (claimed slots included), jobs being run right now (batched jobs included, and
 * those held by a batch waiting for company), and the capacity. */
size_t atrousd_queue_depth(struct atrousd_queue *q);
size_t atrousd_queue_active(struct atrousd_queue *q);
size_t atrousd_queue_capacity(const struct atrousd_queue *q);

/*
 * Stops the queue: no new reservations, jobs still waiting are cancelled (their cancel
 * callback runs on the calling thread), jobs being run finish, the workers are joined and
 * their workspaces freed. The queue stays valid (later pushes are cancelled) until
 * atrousd_queue_free, so threads still holding it may finish their calls. Accepts NULL.
 */
void atrousd_queue_shutdown(struct atrousd_queue *q);

/* Shuts the queue down if needed and frees it. Accepts NULL. Free before the engine. */
void atrousd_queue_free(struct atrousd_queue *q);

#endif
