/*
 * compute_queue.c - a mutex + condition variable FIFO (jobs are milliseconds of compute, so
 * the lock is never the bottleneck) served by worker threads that each own a workspace. A
 * worker forming a batch publishes its class so that pushes of that class join it directly.
 */
#include "compute_queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

struct worker {
    struct atrousd_queue *queue;
    struct atrous_workspace *workspace;
    pthread_t thread;
    bool started;
    /* Batching only (queue max_batch > 1); under the queue lock. */
    struct atrousd_job **batch; /* max_batch slots */
    size_t batch_count;
    const void *forming;   /* the class of a batch waiting for company, else NULL */
    pthread_cond_t joined; /* signalled when a job joins the forming batch */
    bool joined_init;
};

struct atrousd_queue {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct atrousd_job *head, *tail;
    size_t waiting;  /* jobs linked */
    size_t reserved; /* slots claimed, not yet pushed */
    size_t active;   /* jobs being run */
    size_t idle;     /* workers waiting for a job */
    size_t capacity;
    size_t max_batch; /* <= 1: no batching */
    uint64_t max_delay_ns;
    uint64_t large_max_wait_ns;
    bool closed;
    int omp_threads;
    int worker_count;
    struct worker *workers;
};

/* Takes the waiting jobs of the batch's class (queue order) into w->batch, up to max_batch,
 * and never more than this worker's share when other workers are idle: stacking work that an
 * idle core could run at once would only serialise it. */
static void take_company(struct atrousd_queue *q, struct worker *w)
{
    const void *cls = w->batch[0]->batch_class;
    struct atrousd_job **link = &q->head, *prev = NULL;
    size_t limit = q->max_batch;
    if (q->idle > 0) {
        size_t share = (q->waiting + 1 + q->idle) / (q->idle + 1); /* ceil((waiting+1)/(idle+1)) */
        if (share < limit)
            limit = share;
    }
    while (*link != NULL && w->batch_count < limit) {
        struct atrousd_job *job = *link;
        if (job->batch_class != cls) {
            prev = job;
            link = &job->next;
            continue;
        }
        *link = job->next;
        if (q->tail == job)
            q->tail = prev;
        job->next = NULL;
        q->waiting--;
        q->active++;
        w->batch[w->batch_count++] = job;
    }
}

/* Fills w->batch (which holds its first job) with company: jobs already waiting, then, within
 * the first job's delay, jobs pushed meanwhile. Called and returns with the lock held. */
static void form_batch(struct atrousd_queue *q, struct worker *w)
{
    take_company(q, w);
    uint64_t deadline = w->batch[0]->enqueued_ns + q->max_delay_ns;
    if (w->batch_count >= q->max_batch || q->max_delay_ns == 0 || atrousd_now_ns() >= deadline)
        return;
    struct timespec until = {.tv_sec = (time_t)(deadline / 1000000000u),
                             .tv_nsec = (long)(deadline % 1000000000u)};
    w->forming = w->batch[0]->batch_class;
    while (w->batch_count < q->max_batch && !q->closed && atrousd_now_ns() < deadline)
        pthread_cond_timedwait(&w->joined, &q->lock, &until);
    w->forming = NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct atrousd_queue *q = w->queue;
    /* Named for top -H and perf; 15 characters at most. */
    pthread_setname_np(pthread_self(), "atrousd-compute");
    /* oneDNN sizes its OpenMP team from the calling thread's setting: once per worker. */
    atrous_engine_set_thread_parallelism(q->omp_threads);
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->head == NULL && !q->closed) {
            q->idle++;
            pthread_cond_wait(&q->wake, &q->lock);
            q->idle--;
        }
        if (q->head == NULL)
            break; /* closed and nothing left: cancelled jobs were unlinked by the closer */
        struct atrousd_job *job = q->head;
        q->head = job->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->waiting--;
        q->active++;
        job->next = NULL;
        size_t count = 1;
        if (q->max_batch > 1 && job->batch_class != NULL) {
            w->batch[0] = job;
            w->batch_count = 1;
            form_batch(q, w);
            count = w->batch_count;
        }
        pthread_mutex_unlock(&q->lock);
        /* Jobs may be freed by other threads once run returns. */
        if (count > 1)
            job->run_batch(w->batch, count, w->workspace);
        else
            job->run(job, w->workspace);
        pthread_mutex_lock(&q->lock);
        q->active -= count;
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* Joins the started workers (the queue must be closed) and frees their workspaces. */
static void join_workers(struct atrousd_queue *q)
{
    for (int i = 0; i < q->worker_count; i++) {
        if (q->workers[i].started)
            pthread_join(q->workers[i].thread, NULL);
        q->workers[i].started = false;
        atrous_workspace_free(q->workers[i].workspace);
        q->workers[i].workspace = NULL;
    }
}

/* A new job of a class some worker is forming a batch of joins that batch. Lock held. */
static bool join_forming(struct atrousd_queue *q, struct atrousd_job *job)
{
    for (int i = 0; i < q->worker_count; i++) {
        struct worker *w = &q->workers[i];
        if (w->forming == job->batch_class && w->batch_count < q->max_batch) {
            w->batch[w->batch_count++] = job;
            q->active++;
            pthread_cond_signal(&w->joined);
            return true;
        }
    }
    return false;
}

static void destroy(struct atrousd_queue *q)
{
    join_workers(q);
    for (int i = 0; q->workers != NULL && i < q->worker_count; i++) {
        free(q->workers[i].batch);
        if (q->workers[i].joined_init)
            pthread_cond_destroy(&q->workers[i].joined);
    }
    free(q->workers);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

enum atrous_status atrousd_queue_create(struct atrous_engine *engine,
                                        const struct atrousd_queue_config *config,
                                        struct atrousd_queue **out, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    struct atrousd_queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the queue");
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    q->capacity = config->capacity < 1 ? 1 : config->capacity;
    q->omp_threads = config->omp_threads < 1 ? 1 : config->omp_threads;
    q->workers = calloc((size_t)(config->workers < 1 ? 1 : config->workers), sizeof(*q->workers));
    if (q->workers == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the workers");
        goto out;
    }
    q->worker_count = config->workers < 1 ? 1 : config->workers;
    q->max_batch = config->max_batch;
    q->max_delay_ns = config->max_delay_us * 1000u;
    q->large_max_wait_ns = config->large_max_wait_us * 1000u;
    for (int i = 0; i < q->worker_count; i++) {
        struct worker *w = &q->workers[i];
        w->queue = q;
        if ((st = atrous_workspace_create(engine, &w->workspace, err)))
            goto out;
        if (q->max_batch <= 1)
            continue;
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        w->joined_init = pthread_cond_init(&w->joined, &attr) == 0;
        pthread_condattr_destroy(&attr);
        w->batch = calloc(q->max_batch, sizeof(*w->batch));
        if (w->batch == NULL || !w->joined_init) {
            st = atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for batches");
            goto out;
        }
    }
    for (int i = 0; i < q->worker_count; i++) {
        if (pthread_create(&q->workers[i].thread, NULL, worker_main, &q->workers[i]) != 0) {
            st = atrous_error_set(err, ATROUS_INTERNAL, "", "could not start compute worker %d", i);
            goto out;
        }
        q->workers[i].started = true;
    }
    *out = q;
    q = NULL;
out:
    if (q != NULL) {
        pthread_mutex_lock(&q->lock);
        q->closed = true;
        pthread_cond_broadcast(&q->wake);
        pthread_mutex_unlock(&q->lock);
        destroy(q);
    }
    return st;
}

/* A slot is free: open, and waiting plus claimed jobs below the capacity. */
static bool has_room_locked(const struct atrousd_queue *q)
{
    return !q->closed && q->waiting + q->reserved < q->capacity;
}

bool atrousd_queue_reserve(struct atrousd_queue *q)
{
    pthread_mutex_lock(&q->lock);
    bool ok = has_room_locked(q);
    if (ok)
        q->reserved++;
    pthread_mutex_unlock(&q->lock);
    return ok;
}

bool atrousd_queue_full(struct atrousd_queue *q)
{
    pthread_mutex_lock(&q->lock);
    bool full = !has_room_locked(q);
    pthread_mutex_unlock(&q->lock);
    return full;
}

void atrousd_queue_unreserve(struct atrousd_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->reserved--;
    pthread_mutex_unlock(&q->lock);
}

/*
 * Links a job: large ones at the tail; a small one before the first large job that has waited
 * less than large_max_wait (after every small job and every older large job). Ages only grow,
 * so a small job never lands ahead of an earlier small one. Lock held; at most capacity steps.
 */
static void link_job(struct atrousd_queue *q, struct atrousd_job *job)
{
    struct atrousd_job **link = &q->head;
    if (job->small) {
        while (*link != NULL &&
               ((*link)->small || job->enqueued_ns - (*link)->enqueued_ns > q->large_max_wait_ns))
            link = &(*link)->next;
    } else if (q->tail != NULL) {
        link = &q->tail->next;
    }
    job->next = *link;
    *link = job;
    if (job->next == NULL)
        q->tail = job;
}

void atrousd_queue_push(struct atrousd_queue *q, struct atrousd_job *job)
{
    job->next = NULL;
    job->enqueued_ns = atrousd_now_ns();
    pthread_mutex_lock(&q->lock);
    q->reserved--;
    if (q->closed) {
        /* Reserved before atrousd_queue_shutdown closed the queue: no worker will run it. */
        pthread_mutex_unlock(&q->lock);
        job->cancel(job);
        return;
    }
    if (q->max_batch > 1 && job->batch_class != NULL && join_forming(q, job)) {
        pthread_mutex_unlock(&q->lock);
        return;
    }
    q->waiting++;
    link_job(q, job);
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
}

size_t atrousd_queue_depth(struct atrousd_queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->waiting + q->reserved;
    pthread_mutex_unlock(&q->lock);
    return n;
}

size_t atrousd_queue_active(struct atrousd_queue *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->active;
    pthread_mutex_unlock(&q->lock);
    return n;
}

size_t atrousd_queue_capacity(const struct atrousd_queue *q)
{
    return q->capacity;
}

void atrousd_queue_shutdown(struct atrousd_queue *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    struct atrousd_job *cancelled = q->head;
    q->head = q->tail = NULL;
    q->waiting = 0;
    pthread_cond_broadcast(&q->wake);
    for (int i = 0; q->max_batch > 1 && i < q->worker_count; i++)
        pthread_cond_signal(&q->workers[i].joined); /* a forming batch runs what it holds */
    pthread_mutex_unlock(&q->lock);
    while (cancelled != NULL) {
        struct atrousd_job *next = cancelled->next;
        cancelled->next = NULL;
        cancelled->cancel(cancelled);
        cancelled = next;
    }
    join_workers(q);
}

void atrousd_queue_free(struct atrousd_queue *q)
{
    if (q == NULL)
        return;
    atrousd_queue_shutdown(q);
    destroy(q);
}
