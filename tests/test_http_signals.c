/*
 * test_http_signals.c - what each signal does to the real daemon (server/signals.h): SIGHUP,
 * SIGUSR1 and SIGUSR2 sent while a request is in flight are logged and the daemon goes on
 * serving (the request completes with 200); so are SIGALRM, SIGPROF, the real-time signals and
 * every other signal whose default action would end the process; SIGQUIT drains like SIGTERM
 * (the request in flight completes, exit 0); SIGTERM during start-up (the model repository
 * being loaded, as from slow storage) ends the process at once with exit status 0 and a log
 * line, without ever serving.
 *
 * Before the signal thread, SIGHUP and SIGUSR1/2 killed the daemon on the spot, and SIGTERM was
 * only read once start-up had finished (a config.json that was a FIFO held it forever).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"

#define WAIT_MS 30000

static const int64_t small_value[4] = {1, 6, 5, 3};
static const int64_t small_filters[4] = {3, 3, 4, 3};

/* How many times needle occurs in the daemon's log. */
static size_t log_count(const struct test_daemon *d, const char *needle)
{
    char *log = test_daemon_log(d);
    size_t n = 0;
    for (const char *p = log; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(log);
    return n;
}

/* Polls the log until needle occurs at least n times. */
static void wait_log_count(struct test_daemon *d, const char *needle, size_t n)
{
    int64_t deadline = test_now_ms() + WAIT_MS;
    while (log_count(d, needle) < n) {
        /* A daemon that is gone writes no more: fail now (once more after its last line). */
        if (!test_daemon_alive(d) && log_count(d, needle) < n)
            fail_msg("the daemon ended before its log showed %s %zu time(s)", needle, n);
        if (test_now_ms() > deadline)
            fail_msg("the log never showed %s %zu time(s)", needle, n);
        test_pause_ms(10);
    }
}

/* Starts a daemon with default flags, and a small op to send it. */
static void start_with_op(struct test_daemon *d, struct http_op_args *a)
{
    char why[2048];
    if (test_daemon_start(d, NULL, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    assert_int_equal(http_op_zeros(a, small_value, small_filters, 2), 0);
}

static void test_signals_hup_usr1_usr2_leave_a_request_in_flight_to_finish(void **state)
{
    (void)state;
    struct test_daemon d;
    struct http_op_args a;
    start_with_op(&d, &a);
    static const struct {
        int signo;
        const char *logged;
    } cases[] = {
        {SIGHUP, "\"name\":\"HUP\""},
        {SIGUSR1, "\"name\":\"USR1\""},
        {SIGUSR2, "\"name\":\"USR2\""},
        {SIGHUP, "\"name\":\"HUP\""}, /* again: it is not a one-shot */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_upload up;
        assert_int_equal(http_op_start_upload(d.port, &a, &up), 0);
        /* In flight: the upload and the /metrics request that reads the gauge. */
        assert_int_equal(test_daemon_wait_metric(&d, "atrousd_http_requests_in_flight", 2, WAIT_MS),
                         0);
        size_t seen = log_count(&d, cases[i].logged);
        assert_int_equal(test_daemon_signal(&d, cases[i].signo), 0);
        wait_log_count(&d, cases[i].logged, seen + 1);
        if (!test_daemon_alive(&d))
            fail_msg("signal %d ended the daemon", cases[i].signo);

        /* The request in flight completes, and new ones are served. */
        struct http_client_response r;
        assert_int_equal(http_op_finish_upload(&up, &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(http_client_header(&r, "X-Output-Shape"), "1,6,5,4");
        http_client_response_free(&r);
        http_op_upload_free(&up);
        assert_int_equal(http_client_request(d.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        http_client_response_free(&r);
    }
    /* SIGHUP ran the reload hook, which says what it reloaded. */
    assert_true(log_count(&d, "\"msg\":\"reload: ") >= 2);
    http_op_zeros_free(&a);
    assert_int_equal(test_daemon_stop(&d), 0); /* SIGTERM still drains and exits 0 */
}

/*
 * Every other signal whose default action would end the process and that kill(1) or an
 * orchestrator can send: logged with its name, and the daemon goes on serving. Before, only
 * SIGHUP, SIGUSR1 and SIGUSR2 were read; SIGALRM, SIGPROF, a real-time signal and the rest
 * killed the daemon on the spot, without a drain.
 */
static void test_signals_that_would_end_the_process_are_logged_and_ignored(void **state)
{
    (void)state;
    struct test_daemon d;
    struct http_op_args a;
    start_with_op(&d, &a);
    int signals[64];
    size_t n = 0;
    static const int standard[] = {SIGALRM,   SIGVTALRM, SIGPROF, SIGIO,   SIGPWR,
                                   SIGSTKFLT, SIGXCPU,   SIGXFSZ, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof(standard) / sizeof(standard[0]); i++)
        signals[n++] = standard[i];
    for (int signo = SIGRTMIN; signo <= SIGRTMAX && n < sizeof(signals) / sizeof(signals[0]);
         signo++)
        signals[n++] = signo;
    for (size_t i = 0; i < n; i++) {
        char logged[96];
        const char *name = sigabbrev_np(signals[i]);
        char rt[16];
        if (name == NULL) {
            snprintf(rt, sizeof(rt), "RTMIN+%d", signals[i] - SIGRTMIN);
            name = rt;
        }
        snprintf(logged, sizeof(logged), "\"msg\":\"signal ignored\",\"signal\":%d,\"name\":\"%s\"",
                 signals[i], name);
        assert_int_equal(test_daemon_signal(&d, signals[i]), 0);
        wait_log_count(&d, logged, 1);
        if (!test_daemon_alive(&d))
            fail_msg("signal %d (%s) ended the daemon", signals[i], name);
        struct http_client_response r;
        assert_int_equal(http_client_request(d.port, "GET", "/readyz", NULL, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        http_client_response_free(&r);
    }
    /* The op is served after all of them. */
    struct http_client_response r;
    assert_int_equal(http_op_call(d.port, &a, HTTP_OP_JSON, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    http_op_zeros_free(&a);
    assert_int_equal(test_daemon_stop(&d), 0);
}

/* SIGQUIT drains like SIGTERM: the request in flight completes with 200 and the process exits
 * 0. Before, its default action dumped core at once, cutting every connection. */
static void test_signals_sigquit_drains_and_exits_0(void **state)
{
    (void)state;
    struct test_daemon d;
    struct http_op_args a;
    start_with_op(&d, &a);
    struct http_upload up;
    assert_int_equal(http_op_start_upload(d.port, &a, &up), 0);
    assert_int_equal(test_daemon_wait_metric(&d, "atrousd_http_requests_in_flight", 2, WAIT_MS), 0);
    assert_int_equal(test_daemon_signal(&d, SIGQUIT), 0);
    char draining[64];
    snprintf(draining, sizeof(draining), "\"msg\":\"draining\",\"signal\":%d", SIGQUIT);
    wait_log_count(&d, draining, 1);
    struct http_client_response r;
    assert_int_equal(http_op_finish_upload(&up, &r), 0);
    assert_int_equal(r.status, 200);
    http_client_response_free(&r);
    http_op_upload_free(&up);
    http_op_zeros_free(&a);
    if (test_daemon_wait_exit(&d, WAIT_MS) != 0)
        fail_msg("SIGQUIT did not end the drain");
    assert_true(WIFEXITED(d.wait_status));
    assert_int_equal(WEXITSTATUS(d.wait_status), 0);
    assert_int_equal(log_count(&d, "\"msg\":\"stopped\""), 1);
    test_daemon_stop(&d);
}

/* Models in the start-up repository, each with 3x3x128x128 float filters (576 KiB, sparse on
 * disk): loading and preparing them keeps the daemon in start-up for a few hundred
 * milliseconds, hundreds of times longer than the signal thread takes to answer. */
#define STARTUP_MODELS 256

static void make_repository(char *root, size_t size)
{
    snprintf(root, size, "/tmp/atrousd-signals-XXXXXX");
    assert_non_null(mkdtemp(root));
    for (int i = 0; i < STARTUP_MODELS; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%.100s/m%04d", root, i);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%.100s/m%04d/filters.bin", root, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 3 * 3 * 128 * 128 * 4), 0);
        close(fd);
        snprintf(path, sizeof(path), "%.100s/m%04d/config.json", root, i);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs("{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 128, 128], "
              "\"file\": \"filters.bin\"}}\n",
              f);
        fclose(f);
    }
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* True once the process blocks SIGTERM: its signal thread is set up, so a SIGTERM sent now is
 * read by atrousd (before, the default action would kill it without a word). */
static bool handles_sigterm(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    bool blocked = false;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "SigBlk:", 7) == 0)
            blocked = (strtoull(line + 7, NULL, 16) >> (SIGTERM - 1)) & 1;
    }
    if (f != NULL)
        fclose(f);
    return blocked;
}

/*
 * SIGTERM as soon as the daemon handles it, while it loads the repository. The check is on
 * what the log says happened, not on how long anything took: the daemon must say it left
 * during start-up, exit 0 and never report ready. Should start-up ever win the race (the
 * signal read only once serving), the attempt proves nothing and is made again; a daemon that
 * reads SIGTERM only after start-up (as before the signal thread) loses every attempt.
 */
static void test_signals_sigterm_during_start_up_exits_at_once(void **state)
{
    (void)state;
    char root[128], why[512];
    make_repository(root, sizeof(root));
    const char *args[] = {"--model-dir", root, NULL};
    bool caught = false;
    for (int attempt = 0; attempt < 3 && !caught; attempt++) {
        struct test_daemon d;
        assert_int_equal(test_daemon_spawn(&d, args, why, sizeof(why)), 0);
        int64_t deadline = test_now_ms() + WAIT_MS;
        while (!handles_sigterm(d.pid) && test_daemon_alive(&d) && test_now_ms() < deadline)
            test_pause_ms(1);
        assert_true(handles_sigterm(d.pid));
        assert_int_equal(test_daemon_signal(&d, SIGTERM), 0);
        if (test_daemon_wait_exit(&d, WAIT_MS) != 0)
            fail_msg("SIGTERM during start-up did not end the process");
        assert_true(WIFEXITED(d.wait_status));
        assert_int_equal(WEXITSTATUS(d.wait_status), 0);
        caught = log_count(&d, "\"msg\":\"signal during start-up") == 1;
        if (caught)
            assert_int_equal(log_count(&d, "\"msg\":\"ready\""), 0);
        else
            assert_int_equal(log_count(&d, "\"msg\":\"draining\""), 1);
        test_daemon_stop(&d);
    }
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (!caught)
        fail_msg("SIGTERM sent during start-up was obeyed only once start-up had finished");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signals_hup_usr1_usr2_leave_a_request_in_flight_to_finish),
        cmocka_unit_test(test_signals_that_would_end_the_process_are_logged_and_ignored),
        cmocka_unit_test(test_signals_sigquit_drains_and_exits_0),
        cmocka_unit_test(test_signals_sigterm_during_start_up_exits_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
