/*
 * test_http_reload.c - a model reloaded under traffic loses nothing and mixes nothing: client
 * threads send requests continuously while the model's filters change on disk and a
 * load_model request (explicit mode) or SIGHUP (none mode) reloads it. EVERY answer must be a
 * 200 that matches the naive reference for the old filters or for the new ones, never a mix;
 * once the new filters are seen, no answer goes back to the old ones; and the retired version
 * is freed once its last request has ended (atrousd_models_retired_in_use back to 0; under
 * make check LeakSanitizer would also report a version never freed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "http_client.h"
#include "model_fixtures.h"
#include "repo_models.h"

#define CLIENTS 4
/* Requests every client sends at least after the new version was first seen. */
#define AFTER_SWITCH 25
/* Bounds: no phase may take longer, and no client sends more. */
#define PHASE_MS         120000
#define CLIENT_MAX_SENDS 5000

struct traffic {
    uint16_t port;
    const struct repo_variant *variants; /* [0] old, [1] new */
    _Atomic bool stop;
    _Atomic bool failed;
    _Atomic uint64_t sent, old_answers, new_answers;
    _Atomic int64_t first_new_seen; /* set once a client saw the new version */
    char failure[640];              /* the first failure, under failure_lock */
    pthread_mutex_t failure_lock;
};

struct client {
    pthread_t thread;
    struct traffic *t;
    uint64_t after_new; /* answers of the new version this client saw */
};

static void fail_traffic(struct traffic *t, const char *why)
{
    pthread_mutex_lock(&t->failure_lock);
    if (!atomic_exchange(&t->failed, true))
        snprintf(t->failure, sizeof(t->failure), "%s", why);
    pthread_mutex_unlock(&t->failure_lock);
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct traffic *t = c->t;
    bool seen_new = false;
    for (int i = 0; i < CLIENT_MAX_SENDS && !atomic_load(&t->stop) && !atomic_load(&t->failed);
         i++) {
        struct http_client_response r;
        char why[600];
        if (repo_infer(t->port, "edges", NULL, &r) != 0) {
            fail_traffic(t, "a request got no answer");
            break;
        }
        atomic_fetch_add(&t->sent, 1);
        int k = repo_match(&r, t->variants, 2, why, sizeof(why));
        http_client_response_free(&r);
        if (k < 0) {
            fail_traffic(t, why);
            break;
        }
        if (k == 0 && seen_new) {
            /* A client's requests are sequential: once one was computed with the new version,
             * every later one was admitted after the swap. */
            fail_traffic(t, "an answer of the old version came after one of the new");
            break;
        }
        if (k == 1) {
            seen_new = true;
            c->after_new++;
            atomic_fetch_add(&t->new_answers, 1);
            int64_t none = 0;
            atomic_compare_exchange_strong(&t->first_new_seen, &none, test_now_ms());
        } else {
            atomic_fetch_add(&t->old_answers, 1);
        }
    }
    return NULL;
}

/* Runs the clients until each has seen AFTER_SWITCH answers of the new version (or a failure,
 * or the phase bound), calling reload() once every client has been answered a few times with
 * the old one. */
static void run_phase(uint16_t port, const struct repo_variant *variants, const char *what,
                      void (*reload)(void *arg), void *arg)
{
    struct traffic t = {.port = port, .variants = variants};
    struct client clients[CLIENTS];
    pthread_mutex_init(&t.failure_lock, NULL);
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (struct client){.t = &t};
        assert_int_equal(pthread_create(&clients[i].thread, NULL, client_main, &clients[i]), 0);
    }
    int64_t deadline = test_now_ms() + PHASE_MS;
    while (atomic_load(&t.old_answers) < 4 * CLIENTS && !atomic_load(&t.failed) &&
           test_now_ms() < deadline)
        test_pause_ms(5);
    reload(arg);
    bool done = false;
    while (!done && !atomic_load(&t.failed) && test_now_ms() < deadline) {
        done = true;
        for (int i = 0; i < CLIENTS; i++)
            done &= clients[i].after_new >= AFTER_SWITCH;
        if (!done)
            test_pause_ms(5);
    }
    atomic_store(&t.stop, true);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(clients[i].thread, NULL);
    pthread_mutex_destroy(&t.failure_lock);
    printf("%s: %llu requests across the reload, %llu answered with the old filters, %llu with "
           "the new, 0 wrong, 0 failed\n",
           what, (unsigned long long)atomic_load(&t.sent),
           (unsigned long long)atomic_load(&t.old_answers),
           (unsigned long long)atomic_load(&t.new_answers));
    if (atomic_load(&t.failed))
        fail_msg("%s: %s", what, t.failure);
    if (!done)
        fail_msg("%s: the clients did not all see the new version in time", what);
}

struct reload_arg {
    struct test_daemon *daemon;
    const char *root;
    const struct repo_variant *next;
    bool by_signal;
};

/* Rewrites the model's filters on disk (by rename), then asks for the reload. */
static void reload(void *p)
{
    struct reload_arg *a = p;
    assert_int_equal(
        repo_write_model(a->root, "edges", "edges", "1", REPO_RATE, a->next->filters, ""), 0);
    if (a->by_signal) {
        assert_int_equal(test_daemon_signal(a->daemon, SIGHUP), 0);
        return;
    }
    struct http_client_response r;
    assert_int_equal(repo_post(a->daemon->port, "/v2/repository/models/edges/load", "{}", &r), 0);
    if (r.status != 200)
        fail_msg("load_model: %d %s", r.status, r.body);
    http_client_response_free(&r);
}

/* After the reload and once its traffic ended, the old version must have been freed. */
static void assert_retired_freed(struct test_daemon *d)
{
    int64_t deadline = test_now_ms() + PHASE_MS;
    double held = 1, loaded = 0;
    while (test_now_ms() < deadline) {
        assert_int_equal(test_daemon_metric(d, "atrousd_models_retired_in_use", &held), 0);
        if (held == 0)
            break;
        test_pause_ms(10);
    }
    assert_true(held == 0);
    assert_int_equal(test_daemon_metric(d, "atrousd_models_loaded", &loaded), 0);
    assert_true(loaded == 1);
}

static void run(const char *const *mode_args, bool by_signal, const char *what)
{
    char root[256];
    struct test_daemon d = {0};
    struct repo_variant v[3];
    repo_variant_make(&v[0], 1, REPO_RATE);
    repo_variant_make(&v[1], 4, REPO_RATE);
    repo_variant_make(&v[2], 9, REPO_RATE);
    assert_int_equal(fixture_scratch_dir(root, sizeof(root), "reload"), 0);
    assert_int_equal(repo_write_model(root, "edges", "edges", "1", REPO_RATE, v[0].filters, ""), 0);
    const char *args[12] = {"--model-dir", root};
    size_t n = 2;
    for (size_t i = 0; mode_args[i] != NULL; i++)
        args[n++] = mode_args[i];
    args[n] = NULL;
    char why[512];
    if (test_daemon_start(&d, args, why, sizeof(why)) != 0)
        fail_msg("daemon: %s", why);
    /* Two reloads in a row: old -> new, then new -> newer, each under traffic. */
    for (int step = 0; step < 2; step++) {
        struct reload_arg a = {&d, root, &v[step + 1], by_signal};
        char label[96];
        snprintf(label, sizeof(label), "%s, reload %d", what, step + 1);
        run_phase(d.port, &v[step], label, reload, &a);
        assert_retired_freed(&d);
    }
    assert_int_equal(test_daemon_stop(&d), 0);
    fixture_remove_tree(root);
}

static void test_reload_by_load_request_under_traffic(void **state)
{
    (void)state;
    const char *args[] = {"--model-control-mode", "explicit", "--load-model", "edges", NULL};
    run(args, false, "load_model");
}

static void test_reload_by_sighup_under_traffic(void **state)
{
    (void)state;
    const char *args[] = {NULL};
    run(args, true, "SIGHUP");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_by_load_request_under_traffic),
        cmocka_unit_test(test_reload_by_sighup_under_traffic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
