/*
 * test_http_queue.c - server/compute_queue.h (bounded admission, FIFO service by workers with
 * their own workspaces, cancellation on shutdown) and server/metrics.h (counts, histograms and
 * the Prometheus text they render).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atrous_engine.h"
#include "clock.h"
#include "compute_queue.h"
#include "metrics.h"

/* A job that blocks until released, so a test controls exactly what runs when. */
struct test_job {
    struct atrousd_job job; /* first: the queue hands this pointer back */
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    bool *release;
    atomic_int *ran, *cancelled;
    bool had_workspace;
    int parallelism;
};

static void run(struct atrousd_job *job, struct atrous_workspace *ws)
{
    struct test_job *t = (struct test_job *)job;
    t->had_workspace = ws != NULL;
    t->parallelism = atrous_engine_thread_parallelism();
    pthread_mutex_lock(t->lock);
    while (!*t->release)
        pthread_cond_wait(t->cond, t->lock);
    pthread_mutex_unlock(t->lock);
    atomic_fetch_add(t->ran, 1);
}

static void cancel(struct atrousd_job *job)
{
    struct test_job *t = (struct test_job *)job;
    atomic_fetch_add(t->cancelled, 1);
}

static void wait_until(struct atrousd_queue *q, size_t active, size_t depth)
{
    for (int i = 0; i < 30000; i++) {
        if (atrousd_queue_active(q) == active && atrousd_queue_depth(q) == depth)
            return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    fail_msg("queue never reached active %zu depth %zu", active, depth);
}

/* A queue with four blockable jobs. */
struct job_set {
    struct atrous_engine *engine;
    struct atrousd_queue *q;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool release;
    atomic_int ran, cancelled;
    struct test_job jobs[4];
};

static void job_set_init(struct job_set *s, int omp_threads, size_t capacity)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    assert_int_equal(atrous_engine_create(NULL, &s->engine, NULL), ATROUS_OK);
    struct atrousd_queue_config config = {
        .workers = 1, .omp_threads = omp_threads, .capacity = capacity};
    assert_int_equal(atrousd_queue_create(s->engine, &config, &s->q, NULL), ATROUS_OK);
    for (int i = 0; i < 4; i++) {
        s->jobs[i] = (struct test_job){.job = {.run = run, .cancel = cancel},
                                       .lock = &s->lock,
                                       .cond = &s->cond,
                                       .release = &s->release,
                                       .ran = &s->ran,
                                       .cancelled = &s->cancelled};
    }
}

/* Lets every blocked and future job finish. */
static void job_set_release(struct job_set *s)
{
    pthread_mutex_lock(&s->lock);
    s->release = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void job_set_free(struct job_set *s)
{
    atrousd_queue_free(s->q);
    atrous_engine_free(s->engine);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
}

static void submit(struct job_set *s, int i)
{
    assert_true(atrousd_queue_reserve(s->q));
    atrousd_queue_push(s->q, &s->jobs[i].job);
}

static void test_queue_admits_up_to_capacity_then_refuses(void **state)
{
    (void)state;
    struct job_set s;
    job_set_init(&s, 1, 2);
    /* One job runs (blocked), two wait: the queue is full. */
    submit(&s, 0);
    wait_until(s.q, 1, 0);
    submit(&s, 1);
    assert_true(atrousd_queue_reserve(s.q));
    assert_int_equal(atrousd_queue_depth(s.q), 2); /* a reserved slot counts */
    atrousd_queue_push(s.q, &s.jobs[2].job);
    assert_false(atrousd_queue_reserve(s.q));
    assert_int_equal(atrousd_queue_capacity(s.q), 2);

    job_set_release(&s);
    wait_until(s.q, 0, 0);
    assert_int_equal(atomic_load(&s.ran), 3);
    assert_true(s.jobs[0].had_workspace);
    assert_int_equal(s.jobs[0].parallelism, 1);

    /* Reservations can be handed back. */
    assert_true(atrousd_queue_reserve(s.q));
    atrousd_queue_unreserve(s.q);
    assert_int_equal(atrousd_queue_depth(s.q), 0);
    job_set_free(&s);
}

static void *shutdown_thread(void *q)
{
    atrousd_queue_shutdown(q);
    return NULL;
}

static void test_queue_shutdown_cancels_waiting_jobs(void **state)
{
    (void)state;
    struct job_set s;
    job_set_init(&s, 2, 4);
    for (int i = 0; i < 3; i++)
        submit(&s, i);
    wait_until(s.q, 1, 2);
    assert_true(atrousd_queue_reserve(s.q)); /* reserved before shutdown, pushed after */
    pthread_t closer;
    assert_int_equal(pthread_create(&closer, NULL, shutdown_thread, s.q), 0);
    wait_until(s.q, 1, 1); /* the two waiting jobs are unlinked; the reservation remains */
    job_set_release(&s);   /* the running job finishes during shutdown */
    pthread_join(closer, NULL);
    assert_int_equal(atomic_load(&s.ran), 1);
    assert_int_equal(atomic_load(&s.cancelled), 2);
    assert_int_equal(s.jobs[0].parallelism, 2);
    atrousd_queue_push(s.q, &s.jobs[3].job);
    assert_int_equal(atomic_load(&s.cancelled), 3);
    assert_false(atrousd_queue_reserve(s.q));
    job_set_free(&s);
}

/* A job that records when it ran among its set. */
struct order_job {
    struct atrousd_job job; /* first: the queue hands this pointer back */
    int id;
    int *order;
    atomic_int *next;
};

static void order_run(struct atrousd_job *job, struct atrous_workspace *ws)
{
    (void)ws;
    struct order_job *o = (struct order_job *)job;
    o->order[atomic_fetch_add(o->next, 1)] = o->id;
}

/* When each of the four pushes began and ended (atrousd_now_ns): the job's enqueue time lies
 * between. */
struct push_times {
    uint64_t before[4], after[4];
};

/* Runs, behind one blocked job, four jobs pushed in id order (small ones as marked, a pause of
 * pause_ms before the second) on a queue whose large jobs stop being overtaken after
 * large_max_wait_us; order receives the ids in the order they ran, t when they were pushed. */
static void run_in_priority(const bool small[4], int pause_ms, uint64_t large_max_wait_us,
                            int order[4], struct push_times *t)
{
    struct job_set s;
    job_set_init(&s, 1, 8);
    atrousd_queue_free(s.q);
    struct atrousd_queue_config config = {
        .workers = 1, .omp_threads = 1, .capacity = 8, .large_max_wait_us = large_max_wait_us};
    assert_int_equal(atrousd_queue_create(s.engine, &config, &s.q, NULL), ATROUS_OK);
    submit(&s, 0);
    wait_until(s.q, 1, 0);
    atomic_int next = 0;
    struct order_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct order_job){.job = {.run = order_run, .cancel = cancel, .small = small[i]},
                                     .id = i,
                                     .order = order,
                                     .next = &next};
        if (i == 1 && pause_ms > 0)
            nanosleep(&(struct timespec){pause_ms / 1000, (pause_ms % 1000) * 1000000L}, NULL);
        assert_true(atrousd_queue_reserve(s.q));
        t->before[i] = atrousd_now_ns();
        atrousd_queue_push(s.q, &jobs[i].job);
        t->after[i] = atrousd_now_ns();
    }
    job_set_release(&s);
    wait_until(s.q, 0, 0);
    assert_int_equal(atomic_load(&next), 4);
    job_set_free(&s);
}

/* The order a queue must give when the pushes were timed as the test meant: a test runs again
 * (up to ATTEMPTS times, with more room) when the scheduler stretched a gap past its meaning,
 * and fails only when no attempt could be judged. */
#define ATTEMPTS 6
#define MS_NS    1000000u

static void test_queue_small_jobs_go_ahead_of_young_large_ones(void **state)
{
    (void)state;
    int order[4];
    struct push_times t;
    /* large 0, large 1, small 2, small 3: the small ones first, each class in order. Judged
     * when all four were pushed within the 10 s bound (all large ones are young). */
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        run_in_priority((const bool[4]){false, false, true, true}, 0, 10000000, order, &t);
        if (t.after[3] - t.before[0] > 10000u * MS_NS)
            continue;
        assert_int_equal(order[0], 2);
        assert_int_equal(order[1], 3);
        assert_int_equal(order[2], 0);
        assert_int_equal(order[3], 1);
        return;
    }
    fail_msg("four pushes never fitted in 10 s");
}

static void test_queue_small_jobs_never_overtake_old_large_ones(void **state)
{
    (void)state;
    int order[4];
    struct push_times t;
    /* large 0, (a pause past the bound: large 0 is now old) small 1, large 2, small 3: small 1
     * queues behind old large 0, small 3 ahead of young large 2 but behind small 1. Judged when
     * large 0 was older than the bound when small 1 came, and large 2 younger when small 3
     * came; the bound and the pause grow with each attempt. */
    bool judged = false;
    for (int attempt = 0, bound_ms = 50; attempt < ATTEMPTS && !judged; attempt++, bound_ms *= 2) {
        run_in_priority((const bool[4]){false, true, false, true}, 2 * bound_ms,
                        (uint64_t)bound_ms * 1000u, order, &t);
        if (t.before[1] - t.after[0] <= (uint64_t)bound_ms * MS_NS ||
            t.after[3] - t.before[2] > (uint64_t)bound_ms * MS_NS)
            continue;
        assert_int_equal(order[0], 0);
        assert_int_equal(order[1], 1);
        assert_int_equal(order[2], 3);
        assert_int_equal(order[3], 2);
        judged = true;
    }
    if (!judged)
        fail_msg("the pushes never came with the gaps this test needs");
    /* The bound 0: never overtaken, plain FIFO (judged when the enqueue times are distinct). */
    judged = false;
    for (int attempt = 0; attempt < ATTEMPTS && !judged; attempt++) {
        run_in_priority((const bool[4]){false, false, true, true}, 1, 0, order, &t);
        if (t.before[2] <= t.after[1] || t.before[3] <= t.after[2])
            continue;
        for (int i = 0; i < 4; i++)
            assert_int_equal(order[i], i);
        judged = true;
    }
    assert_true(judged);
}

static void test_metrics_render_counts_and_histograms(void **state)
{
    (void)state;
    struct atrousd_metrics *m = atrousd_metrics_create();
    assert_non_null(m);
    struct atrousd_request_sample ok = {.endpoint = ATROUSD_EP_OP,
                                        .status = 200,
                                        .total_us = 1500,
                                        .bytes_in = 100,
                                        .bytes_out = 40,
                                        .has_stages = true,
                                        .stage_us = {10, 20, 1000, 5}};
    struct atrousd_request_sample lost = {.endpoint = ATROUSD_EP_UNKNOWN, .status = 0};
    /* Waited 2 s for a worker and got 504: no stages, but a queue wait. */
    struct atrousd_request_sample late = {.endpoint = ATROUSD_EP_OP,
                                          .status = 504,
                                          .total_us = 2000100,
                                          .stage_us = {0, 2000000, 0, 0},
                                          .dequeued = true};
    atrousd_metrics_record(m, &ok);
    atrousd_metrics_record(m, &ok);
    atrousd_metrics_record(m, &lost);
    atrousd_metrics_record(m, &late);
    assert_int_equal(atrousd_metrics_count(m, ATROUSD_EP_OP, 200), 2);
    assert_int_equal(atrousd_metrics_count(m, ATROUSD_EP_OP, 404), 0);
    struct atrousd_metrics_snapshot snap = {.queue_depth = 3,
                                            .version = "0.1.0",
                                            .onednn_version = "2.6.3 \"x\"",
                                            .cpu_isa = "avx512_core",
                                            .avx512 = true};
    size_t len = 0;
    char *text = atrousd_metrics_render(m, &snap, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    const char *expected[] = {
        "atrousd_http_requests_total{endpoint=\"op\",status=\"200\"} 2\n",
        "atrousd_http_requests_total{endpoint=\"other\",status=\"0\"} 1\n",
        "atrousd_http_requests_total{endpoint=\"op\",status=\"504\"} 1\n",
        "atrousd_http_request_duration_seconds_bucket{endpoint=\"op\",le=\"0.001\"} 0\n",
        "atrousd_http_request_duration_seconds_bucket{endpoint=\"op\",le=\"0.0025\"} 2\n",
        "atrousd_http_request_duration_seconds_bucket{endpoint=\"op\",le=\"+Inf\"} 3\n",
        "atrousd_http_request_duration_seconds_sum{endpoint=\"op\"} 2.003100\n",
        "atrousd_http_request_duration_seconds_count{endpoint=\"op\"} 3\n",
        "atrousd_op_stage_duration_seconds_count{stage=\"compute\"} 2\n",
        "atrousd_op_stage_duration_seconds_count{stage=\"queue\"} 2\n",
        /* ok's were not dequeued (ran inline), late's was. */
        "# TYPE atrousd_queue_wait_seconds histogram\n",
        "atrousd_queue_wait_seconds_bucket{le=\"1\"} 0\n",
        "atrousd_queue_wait_seconds_bucket{le=\"2.5\"} 1\n",
        "atrousd_queue_wait_seconds_sum 2.000000\n",
        "atrousd_queue_wait_seconds_count 1\n",
        "atrousd_http_request_bytes_total{endpoint=\"op\"} 200\n",
        "atrousd_build_info{version=\"0.1.0\",onednn_version=\"2.6.3 \\\"x\\\"\"",
        "# TYPE atrousd_queue_depth gauge\natrousd_queue_depth 3\n",
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        if (strstr(text, expected[i]) == NULL)
            fail_msg("metrics lack: %s", expected[i]);
    }
    free(text);
    atrousd_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_admits_up_to_capacity_then_refuses),
        cmocka_unit_test(test_queue_shutdown_cancels_waiting_jobs),
        cmocka_unit_test(test_queue_small_jobs_go_ahead_of_young_large_ones),
        cmocka_unit_test(test_queue_small_jobs_never_overtake_old_large_ones),
        cmocka_unit_test(test_metrics_render_counts_and_histograms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
