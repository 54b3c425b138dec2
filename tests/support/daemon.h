/*
 * daemon.h - starts the real atrousd for integration tests and stops it: the binary from
 * $ATROUSD_BIN (make test sets it; default build/atrousd), on 127.0.0.1 with --port 0, its
 * stderr in a temporary log file from which the chosen port is read.
 *
 * When $ATROUSD_TEST_LOG_DIR is set (make test and make check set it; tests/run_tests.sh empties
 * it first), every daemon's log, and the output of test_daemon_run_once, is written there as
 * <test binary>.daemon.XXXXXX (.run.XXXXXX) and kept after the daemon stops, so that
 * tests/check_secrets.sh can grep the logs of the whole suite for secrets. Test secrets (tokens,
 * key passwords) contain "atrousd-test-secret" for that grep; files holding them belong
 * elsewhere (/tmp), never in that folder.
 *
 * Every wait polls a condition with a generous deadline; nothing sleeps as synchronisation.
 */
#ifndef TESTS_DAEMON_H
#define TESTS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Deadlines: starting (engine, self-test) and stopping (drain) on a loaded machine. */
#define TEST_DAEMON_START_MS 60000
#define TEST_DAEMON_STOP_MS  60000

#define TEST_DAEMON_DEFAULT_BIN "build/atrousd"

struct test_daemon {
    pid_t pid;
    uint16_t port;
    char log_path[512];
    bool keep_log; /* in $ATROUSD_TEST_LOG_DIR: not removed at stop */
    bool exited;
    int wait_status; /* from waitpid, once exited */
};

/* The daemon binary: $ATROUSD_BIN or TEST_DAEMON_DEFAULT_BIN. */
const char *test_daemon_bin(void);

/*
 * Starts the daemon with "--host 127.0.0.1 --port 0" and then args (NULL-terminated; may be
 * NULL), waits for its "listening" log line and reads the port, then waits for /readyz to
 * answer 200. Returns 0, or -1 with the reason in why (the daemon is stopped then).
 */
int test_daemon_start(struct test_daemon *d, const char *const *args, char *why, size_t why_size);

/* Forks and execs the daemon as test_daemon_start does, without waiting for anything (port 0
 * until the test reads it from the log). Returns 0, or -1 with the reason in why. */
int test_daemon_spawn(struct test_daemon *d, const char *const *args, char *why, size_t why_size);

/*
 * Starts the daemon as test_daemon_start does, but with its stderr on a pipe (of the smallest
 * size, 4 KiB) instead of a file: the start-up log is read up to the line with the port, the
 * rest is left in the pipe, and *stderr_read gets its read end (the caller reads it, or
 * deliberately does not, and closes it). test_daemon_log has nothing for such a daemon.
 */
int test_daemon_start_piped(struct test_daemon *d, const char *const *args, int *stderr_read,
                            char *why, size_t why_size);

/* Reads the port from the daemon's "listening" log line into d->port (for a daemon started with
 * test_daemon_spawn). Returns 0, or -1 when the line is not there (yet). */
int test_daemon_read_port(struct test_daemon *d);

/* Sends a signal. */
int test_daemon_signal(struct test_daemon *d, int sig);

/* True while the process runs (it has not exited; reaps it when it has). */
bool test_daemon_alive(struct test_daemon *d);

/* The monotonic clock in milliseconds, and a sleep, for tests that pace clients. */
int64_t test_now_ms(void);
void test_pause_ms(int ms);

/* Waits for the process to exit; returns 0 with d->wait_status set, -1 on timeout. */
int test_daemon_wait_exit(struct test_daemon *d, int timeout_ms);

/* SIGTERM, then wait; SIGKILL if it does not exit in time. Returns the exit code (0..255),
 * or -1 when it had to be killed or died of a signal, or when its log holds the secret marker
 * "atrousd-test-secret" (every test secret contains it; the line is printed). Removes the log
 * file (keeps it in $ATROUSD_TEST_LOG_DIR). Safe to call on an exited or never-started daemon. */
int test_daemon_stop(struct test_daemon *d);

/* The whole log so far (malloc'd, NUL-terminated), or NULL. */
char *test_daemon_log(const struct test_daemon *d);

/* Polls the log until it contains needle. Returns 0, or -1 on timeout. */
int test_daemon_wait_log(const struct test_daemon *d, const char *needle, int timeout_ms);

/* GET /metrics and the value of the first sample whose line starts with series (e.g.
 * "atrousd_compute_active" or "atrousd_http_requests_total{endpoint=\"op\",status=\"429\"}").
 * A series that is absent reads 0. Returns 0, or -1 when /metrics failed. */
int test_daemon_metric(const struct test_daemon *d, const char *series, double *value);

/* Polls test_daemon_metric until the value is >= min. Returns 0, or -1 on timeout. */
int test_daemon_wait_metric(const struct test_daemon *d, const char *series, double min,
                            int timeout_ms);

/* Polls test_daemon_metric until the value is <= max. Returns 0, or -1 on timeout. */
int test_daemon_wait_metric_at_most(const struct test_daemon *d, const char *series, double max,
                                    int timeout_ms);

/* The daemon's resident memory now (VmRSS) and its high-water mark (VmHWM), in bytes, from
 * /proc/<pid>/status. Returns 0, or -1 when it cannot be read. */
int test_daemon_memory(const struct test_daemon *d, uint64_t *rss, uint64_t *peak);

/* Resets VmHWM to the current RSS (writes 5 to /proc/<pid>/clear_refs). Returns 0, or -1 when
 * the kernel does not allow it (VmHWM then keeps the peak since start, which only errs high). */
int test_daemon_reset_peak(const struct test_daemon *d);

/* Runs the daemon binary once with args (not as a server: --help, --version, bad flags,
 * --health-probe), env entries ("NAME=value", NULL-terminated; may be NULL) added to the
 * environment, and a timeout. Returns the exit code (0..255), or -1 when it timed out or died
 * of a signal or its output holds the secret marker; *output (may be NULL) gets stdout and
 * stderr together (malloc'd). */
int test_daemon_run_once(const char *const *args, const char *const *env, int timeout_ms,
                         char **output);

/* cmocka group fixtures for a file whose tests share one daemon: *state becomes a malloc'd
 * struct test_daemon started with args (NULL-terminated; may be NULL). Teardown fails the
 * group unless the daemon exits 0 on SIGTERM. */
int test_daemon_group_setup(void **state, const char *const *args);
int test_daemon_group_teardown(void **state);

#endif
