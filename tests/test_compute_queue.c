/*
 * test_compute_queue.c - the compute queue's batching on its own (server/compute_queue.c), with
 * probe jobs and no sockets: waiting jobs of one class meet up to the size cap, jobs pushed
 * within the delay join a forming batch, the delay bounds the wait, and shutdown runs a forming
 * batch instead of dropping it. (test_http_batching drives the same through a real daemon.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "atrous_engine.h"
#include "clock.h"
#include "compute_queue.h"

/* A job that records how it ran; a blocker job holds its worker until released. */
struct probe_job {
    struct atrousd_job job;
    struct probe_log *log;
    bool blocker;
};

struct probe_log {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool released;
    int runs;         /* run() calls (jobs alone) */
    int batches;      /* run_batch() calls */
    size_t sizes[16]; /* size of each batch */
    const void *classes[16];
    int cancelled;
    int done; /* jobs finished, alone or batched */
};

static void probe_run(struct atrousd_job *job, struct atrous_workspace *ws)
{
    (void)ws;
    struct probe_job *p = (struct probe_job *)job;
    struct probe_log *log = p->log;
    pthread_mutex_lock(&log->lock);
    while (p->blocker && !log->released)
        pthread_cond_wait(&log->changed, &log->lock);
    log->runs++;
    log->done++;
    pthread_cond_broadcast(&log->changed);
    pthread_mutex_unlock(&log->lock);
}

static void probe_run_batch(struct atrousd_job *const *jobs, size_t count,
                            struct atrous_workspace *ws)
{
    (void)ws;
    struct probe_log *log = ((struct probe_job *)jobs[0])->log;
    pthread_mutex_lock(&log->lock);
    for (size_t i = 1; i < count; i++)
        assert_ptr_equal(jobs[i]->batch_class, jobs[0]->batch_class);
    if (log->batches < 16) {
        log->sizes[log->batches] = count;
        log->classes[log->batches] = jobs[0]->batch_class;
    }
    log->batches++;
    log->done += (int)count;
    pthread_cond_broadcast(&log->changed);
    pthread_mutex_unlock(&log->lock);
}

static void probe_cancel(struct atrousd_job *job)
{
    struct probe_log *log = ((struct probe_job *)job)->log;
    pthread_mutex_lock(&log->lock);
    log->cancelled++;
    log->done++;
    pthread_cond_broadcast(&log->changed);
    pthread_mutex_unlock(&log->lock);
}

static void probe_init(struct probe_job *p, struct probe_log *log, const void *cls)
{
    memset(p, 0, sizeof(*p));
    p->log = log;
    p->job.run = probe_run;
    p->job.cancel = probe_cancel;
    p->job.run_batch = probe_run_batch;
    p->job.batch_class = cls;
}

static void push(struct atrousd_queue *q, struct probe_job *p)
{
    assert_true(atrousd_queue_reserve(q));
    atrousd_queue_push(q, &p->job);
}

/* Waits (bounded) until the queue's worker has taken active jobs and none waits. */
static void wait_taken(struct atrousd_queue *q, size_t active)
{
    uint64_t deadline = atrousd_now_ns() + 30000000000u;
    while ((atrousd_queue_active(q) != active || atrousd_queue_depth(q) != 0) &&
           atrousd_now_ns() < deadline)
        usleep(1000);
    assert_int_equal(atrousd_queue_active(q), active);
    assert_int_equal(atrousd_queue_depth(q), 0);
}

/* Waits (bounded) until done jobs reach n. */
static void wait_done(struct probe_log *log, int n)
{
    uint64_t deadline = atrousd_now_ns() + 30000000000u;
    pthread_mutex_lock(&log->lock);
    while (log->done < n && atrousd_now_ns() < deadline) {
        pthread_mutex_unlock(&log->lock);
        usleep(1000);
        pthread_mutex_lock(&log->lock);
    }
    int done = log->done;
    pthread_mutex_unlock(&log->lock);
    assert_true(done >= n);
}

static struct atrousd_queue *probe_queue(struct atrous_engine **engine, size_t max_batch,
                                         uint64_t delay_us)
{
    struct atrous_error err;
    struct atrousd_queue *q = NULL;
    struct atrousd_queue_config qc = {.workers = 1,
                                      .omp_threads = 1,
                                      .capacity = 32,
                                      .max_batch = max_batch,
                                      .max_delay_us = delay_us};
    assert_int_equal(atrous_engine_create(NULL, engine, &err), ATROUS_OK);
    assert_int_equal(atrousd_queue_create(*engine, &qc, &q, &err), ATROUS_OK);
    return q;
}

static void release(struct probe_log *log)
{
    pthread_mutex_lock(&log->lock);
    log->released = true;
    pthread_cond_broadcast(&log->changed);
    pthread_mutex_unlock(&log->lock);
}

static void test_queue_batches_waiting_jobs_of_one_class_up_to_max(void **state)
{
    (void)state;
    static const int class_a = 1, class_b = 2;
    struct atrous_engine *engine = NULL;
    struct atrousd_queue *q = probe_queue(&engine, 4, 0);
    struct probe_log log = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};
    struct probe_job blocker, jobs[7];
    probe_init(&blocker, &log, NULL);
    blocker.blocker = true;
    push(q, &blocker);
    /* Queued behind the blocker: A B A A A A C(no class). */
    const void *classes[7] = {&class_a, &class_b, &class_a, &class_a, &class_a, &class_a, NULL};
    for (int i = 0; i < 7; i++) {
        probe_init(&jobs[i], &log, classes[i]);
        push(q, &jobs[i]);
    }
    release(&log);
    wait_done(&log, 8);
    /* A takes the three As behind it (4 in all); B alone; the last A alone; C alone. */
    assert_int_equal(log.batches, 1);
    assert_int_equal(log.sizes[0], 4);
    assert_ptr_equal(log.classes[0], &class_a);
    assert_int_equal(log.runs, 4); /* blocker, B, the fifth A, C */
    atrousd_queue_free(q);
    atrous_engine_free(engine);
}

static void test_queue_forming_batch_takes_jobs_pushed_within_the_delay(void **state)
{
    (void)state;
    static const int cls = 1;
    struct atrous_engine *engine = NULL;
    /* 10 minutes: only fullness ends the batch within wait_done's 30 s. */
    struct atrousd_queue *q = probe_queue(&engine, 3, 600000000);
    struct probe_log log = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};
    struct probe_job jobs[3];
    for (int i = 0; i < 3; i++) {
        probe_init(&jobs[i], &log, &cls);
        push(q, &jobs[i]);
        /* Each joins the batch the worker is forming (none waits in the queue). */
        if (i < 2)
            wait_taken(q, (size_t)i + 1);
    }
    wait_done(&log, 3); /* full at 3: no 10-minute wait */
    assert_int_equal(log.batches, 1);
    assert_int_equal(log.sizes[0], 3);
    assert_int_equal(log.runs, 0);
    atrousd_queue_free(q);
    atrous_engine_free(engine);
}

static void test_queue_delay_bounds_the_wait_and_shutdown_runs_a_forming_batch(void **state)
{
    (void)state;
    static const int cls = 1;
    struct atrous_engine *engine = NULL;
    struct atrousd_queue *q = probe_queue(&engine, 8, 50000); /* 50 ms */
    struct probe_log log = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};
    struct probe_job one, two;
    probe_init(&one, &log, &cls);
    uint64_t t0 = atrousd_now_ns();
    push(q, &one);
    wait_done(&log, 1); /* the delay ends the wait: bounded */
    uint64_t waited = atrousd_now_ns() - t0;
    assert_true(waited >= 50000000u); /* it did wait the delay for company */
    assert_int_equal(log.runs, 1);
    atrousd_queue_free(q);
    atrous_engine_free(engine);

    q = probe_queue(&engine, 8, 600000000); /* 10 minutes */
    probe_init(&two, &log, &cls);
    push(q, &two);
    wait_taken(q, 1);          /* the worker holds it, waiting for company */
    atrousd_queue_shutdown(q); /* the forming batch runs what it holds, at once */
    wait_done(&log, 2);        /* within 30 s, not the 10 minutes */
    assert_int_equal(log.runs, 2);
    assert_int_equal(log.cancelled, 0);
    atrousd_queue_free(q);
    atrous_engine_free(engine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_batches_waiting_jobs_of_one_class_up_to_max),
        cmocka_unit_test(test_queue_forming_batch_takes_jobs_pushed_within_the_delay),
        cmocka_unit_test(test_queue_delay_bounds_the_wait_and_shutdown_runs_a_forming_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
