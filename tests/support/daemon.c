/*
 * daemon.c - fork/exec of atrousd with its stderr in a temporary file, port discovery from
 * the start-up log line, readiness, metrics and exit polling.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"

/* How often conditions are polled. */
#define POLL_INTERVAL_MS 10
/* Most arguments a test passes. */
#define MAX_ARGS 48

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * Creates the log file of a daemon (kind "daemon") or of a run (kind "run") in path: in
 * $ATROUSD_TEST_LOG_DIR, named after the test binary, when it is set (*keep: the file stays
 * for tests/check_secrets.sh), else in /tmp. Returns its descriptor, or -1 (errno).
 */
static int make_log_file(char *path, size_t size, const char *kind, bool *keep)
{
    const char *dir = getenv("ATROUSD_TEST_LOG_DIR");
    *keep = dir != NULL && dir[0] != '\0';
    int n = *keep
                ? snprintf(path, size, "%s/%s.%s.XXXXXX", dir, program_invocation_short_name, kind)
                : snprintf(path, size, "/tmp/atrousd-test-XXXXXX");
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkstemp(path);
}

const char *test_daemon_bin(void)
{
    const char *bin = getenv("ATROUSD_BIN");
    return bin && bin[0] ? bin : TEST_DAEMON_DEFAULT_BIN;
}

char *test_daemon_log(const struct test_daemon *d)
{
    FILE *f = fopen(d->log_path, "re");
    if (f == NULL)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out != NULL) {
        char buf[8192];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            fwrite(buf, 1, n, out);
        fclose(out);
    }
    fclose(f);
    return text;
}

/* Reaps the child if it exited; true once it has. */
static bool reap(struct test_daemon *d)
{
    if (d->exited || d->pid <= 0)
        return true;
    int status = 0;
    pid_t got = waitpid(d->pid, &status, WNOHANG);
    if (got == d->pid || (got < 0 && errno == ECHILD)) {
        d->exited = true;
        d->wait_status = status;
    }
    return d->exited;
}

int test_daemon_wait_exit(struct test_daemon *d, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (!reap(d)) {
        if (now_ms() > deadline)
            return -1;
        pause_ms(POLL_INTERVAL_MS);
    }
    return 0;
}

int test_daemon_wait_log(const struct test_daemon *d, const char *needle, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        char *log = test_daemon_log(d);
        bool found = log && strstr(log, needle);
        free(log);
        if (found)
            return 0;
        if (now_ms() > deadline)
            return -1;
        pause_ms(POLL_INTERVAL_MS);
    }
}

/* The port from the start-up line: JSON ..."msg":"listening",..."port":N (spaces allowed) or
 * text "... listening ... port=N ...". */
static int find_port(const char *log, uint16_t *port)
{
    const char *line = strstr(log, "\"msg\":\"listening\"");
    if (line == NULL)
        line = strstr(log, "\"msg\": \"listening\"");
    const char *key = line ? strstr(line, "\"port\":") : NULL;
    size_t skip = strlen("\"port\":");
    if (key == NULL && (line = strstr(log, " listening ")) != NULL) {
        key = strstr(line, " port=");
        skip = strlen(" port=");
    }
    if (key == NULL)
        return -1;
    long v = strtol(key + skip, NULL, 10);
    if (v <= 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int test_daemon_read_port(struct test_daemon *d)
{
    char *log = test_daemon_log(d);
    int found = log ? find_port(log, &d->port) : -1;
    free(log);
    return found;
}

static int wait_ready(struct test_daemon *d, int64_t deadline)
{
    while (now_ms() < deadline && !reap(d)) {
        struct http_client_response r;
        if (http_client_request(d->port, "GET", "/readyz", NULL, NULL, 0, &r) == 0) {
            int status = r.status;
            http_client_response_free(&r);
            if (status == 200)
                return 0;
        }
        pause_ms(POLL_INTERVAL_MS);
    }
    return -1;
}

/* Forks and execs the daemon with "--host 127.0.0.1 --port 0" and args, its stderr on
 * stderr_fd (closed here). Returns 0, or -1 with the reason in why. */
static int spawn(struct test_daemon *d, const char *const *args, int stderr_fd, char *why,
                 size_t why_size)
{
    const char *argv[MAX_ARGS + 6] = {test_daemon_bin(), "--host", "127.0.0.1", "--port", "0"};
    size_t argc = 5;
    for (size_t i = 0; args != NULL && args[i] != NULL && i < MAX_ARGS; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    pid_t parent = getpid();
    d->pid = fork();
    if (d->pid == 0) {
        /* A test that fails half-way never stops its daemon; it must not outlive the test. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(stderr_fd, STDERR_FILENO);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(stderr_fd);
    if (d->pid < 0) {
        snprintf(why, why_size, "fork: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int test_daemon_spawn(struct test_daemon *d, const char *const *args, char *why, size_t why_size)
{
    memset(d, 0, sizeof(*d));
    int log_fd = make_log_file(d->log_path, sizeof(d->log_path), "daemon", &d->keep_log);
    if (log_fd < 0) {
        snprintf(why, why_size, "mkstemp %s: %s", d->log_path, strerror(errno));
        return -1;
    }
    if (spawn(d, args, log_fd, why, why_size) != 0) {
        if (!d->keep_log)
            unlink(d->log_path);
        d->log_path[0] = '\0';
        return -1;
    }
    return 0;
}

int test_daemon_start(struct test_daemon *d, const char *const *args, char *why, size_t why_size)
{
    if (test_daemon_spawn(d, args, why, why_size) != 0)
        return -1;
    int64_t deadline = now_ms() + TEST_DAEMON_START_MS;
    for (;;) {
        char *log = test_daemon_log(d);
        int found = log ? find_port(log, &d->port) : -1;
        free(log);
        if (found == 0)
            break;
        if (reap(d) || now_ms() > deadline) {
            char *text = test_daemon_log(d);
            snprintf(why, why_size, "%s did not log its port; log:\n%.1500s", test_daemon_bin(),
                     text ? text : "(none)");
            free(text);
            test_daemon_stop(d);
            return -1;
        }
        pause_ms(POLL_INTERVAL_MS);
    }
    if (wait_ready(d, deadline) != 0) {
        snprintf(why, why_size, "%s on port %u never became ready", test_daemon_bin(), d->port);
        test_daemon_stop(d);
        return -1;
    }
    return 0;
}

int test_daemon_start_piped(struct test_daemon *d, const char *const *args, int *stderr_read,
                            char *why, size_t why_size)
{
    memset(d, 0, sizeof(*d));
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        snprintf(why, why_size, "pipe: %s", strerror(errno));
        return -1;
    }
    fcntl(p[1], F_SETPIPE_SZ, 4096); /* the smallest pipe the kernel allows */
    if (spawn(d, args, p[1], why, why_size) != 0) {
        close(p[0]);
        return -1;
    }
    /* Read up to the start-up line with the port, and not a byte further. */
    char head[16384];
    size_t len = 0;
    int64_t deadline = now_ms() + TEST_DAEMON_START_MS;
    int found = -1;
    while (found != 0 && len + 1 < sizeof(head) && now_ms() < deadline) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        if (poll(&pfd, 1, POLL_INTERVAL_MS) != 1)
            continue;
        ssize_t n = read(p[0], head + len, 1);
        if (n <= 0)
            break;
        len++;
        head[len] = '\0';
        if (head[len - 1] == '\n')
            found = find_port(head, &d->port);
    }
    if (found != 0 || wait_ready(d, deadline) != 0) {
        snprintf(why, why_size, "%s did not start; its stderr began:\n%.1500s", test_daemon_bin(),
                 len ? head : "(nothing)");
        test_daemon_stop(d);
        close(p[0]);
        return -1;
    }
    *stderr_read = p[0];
    return 0;
}

int64_t test_now_ms(void)
{
    return now_ms();
}

void test_pause_ms(int ms)
{
    pause_ms(ms);
}

bool test_daemon_alive(struct test_daemon *d)
{
    return d->pid > 0 && !reap(d);
}

int test_daemon_signal(struct test_daemon *d, int sig)
{
    if (d->pid <= 0 || reap(d))
        return -1;
    return kill(d->pid, sig);
}

/* Copies a sanitizer report (ASan, LSan, UBSan, or valgrind under make valgrind) from the
 * daemon's log to stderr, or without one the log's last 4000 bytes, so that the reason a
 * daemon did not exit cleanly is not lost when its log file is removed. */
static void print_sanitizer_report(const struct test_daemon *d)
{
    static const char *const markers[] = {
        "==ERROR: ",         "runtime error: ",         "==WARNING: ",
        "== Invalid ",       "== Conditional jump",     "== Use of uninitialised",
        "== Syscall param ", "are definitely lost in ", "== Mismatched free",
    };
    char *log = test_daemon_log(d);
    const char *from = NULL;
    for (size_t i = 0; log != NULL && i < sizeof(markers) / sizeof(markers[0]); i++) {
        const char *at = strstr(log, markers[i]);
        if (at != NULL && (from == NULL || at < from))
            from = at;
    }
    if (from != NULL) {
        fprintf(stderr, "daemon %d: sanitizer report from its log:\n%.8000s\n", (int)d->pid, from);
    } else if (log != NULL) {
        /* No report: how it ended and its last lines say why the stop failed. */
        size_t len = strlen(log);
        fprintf(stderr, "daemon %d: the last of its log:\n%s\n", (int)d->pid,
                log + (len > 4000 ? len - 4000 : 0));
    }
    free(log);
}

/* Says how the daemon ended when that was not a clean exit 0 (stopped is false when it did not
 * exit within TEST_DAEMON_STOP_MS of SIGTERM and was killed). */
static void print_how_it_ended(const struct test_daemon *d, bool stopped)
{
    if (!stopped)
        fprintf(stderr, "daemon %d: did not exit within %d ms of SIGTERM; killed\n", (int)d->pid,
                TEST_DAEMON_STOP_MS);
    else if (WIFEXITED(d->wait_status))
        fprintf(stderr, "daemon %d: exited with status %d\n", (int)d->pid,
                WEXITSTATUS(d->wait_status));
    else if (WIFSIGNALED(d->wait_status))
        fprintf(stderr, "daemon %d: killed by signal %d\n", (int)d->pid, WTERMSIG(d->wait_status));
}

/* Secrets the tests use (tokens, key passwords) all contain this: none may reach a log line,
 * whichever test's daemon wrote it (README "Security"). */
#define TEST_SECRET_MARKER "atrousd-test-secret"

/* True (and the line printed) when text holds the secret marker. */
static bool leaks_secret(const char *text, const char *what)
{
    const char *hit = text ? strstr(text, TEST_SECRET_MARKER) : NULL;
    if (hit == NULL)
        return false;
    const char *line = hit;
    while (line > text && line[-1] != '\n')
        line--;
    fprintf(stderr, "SECRET LEAK: %s holds \"%s\": %.300s\n", what, TEST_SECRET_MARKER, line);
    return true;
}

int test_daemon_stop(struct test_daemon *d)
{
    int code = -1;
    if (d->pid > 0) {
        if (!reap(d))
            kill(d->pid, SIGTERM);
        bool stopped = test_daemon_wait_exit(d, TEST_DAEMON_STOP_MS) == 0;
        if (!stopped) {
            kill(d->pid, SIGKILL);
            test_daemon_wait_exit(d, TEST_DAEMON_STOP_MS);
        } else if (WIFEXITED(d->wait_status)) {
            code = WEXITSTATUS(d->wait_status);
        }
        if (code != 0) {
            print_how_it_ended(d, stopped);
            print_sanitizer_report(d);
        }
        d->pid = 0;
    }
    if (d->log_path[0]) {
        /* The whole suite's daemons are checked here: a leak fails the stop. The log stays in
         * $ATROUSD_TEST_LOG_DIR for tests/check_secrets.sh's grep at the end of the run. */
        char *log = test_daemon_log(d);
        if (leaks_secret(log, "the daemon's log"))
            code = -1;
        free(log);
        if (!d->keep_log)
            unlink(d->log_path);
        d->log_path[0] = '\0';
    }
    return code;
}

int test_daemon_metric(const struct test_daemon *d, const char *series, double *value)
{
    struct http_client_response r;
    if (http_client_request(d->port, "GET", "/metrics", NULL, NULL, 0, &r) != 0)
        return -1;
    int rc = r.status == 200 ? 0 : -1;
    *value = 0;
    size_t len = strlen(series);
    for (const char *line = r.body; rc == 0 && line && *line;) {
        if (strncmp(line, series, len) == 0 && line[len] == ' ') {
            *value = strtod(line + len + 1, NULL);
            break;
        }
        const char *next = strchr(line, '\n');
        line = next ? next + 1 : NULL;
    }
    http_client_response_free(&r);
    return rc;
}

int test_daemon_wait_metric(const struct test_daemon *d, const char *series, double min,
                            int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        double v = 0;
        if (test_daemon_metric(d, series, &v) == 0 && v >= min)
            return 0;
        if (now_ms() > deadline)
            return -1;
        pause_ms(POLL_INTERVAL_MS);
    }
}

int test_daemon_wait_metric_at_most(const struct test_daemon *d, const char *series, double max,
                                    int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        double v = 0;
        if (test_daemon_metric(d, series, &v) == 0 && v <= max)
            return 0;
        if (now_ms() > deadline)
            return -1;
        pause_ms(POLL_INTERVAL_MS);
    }
}

int test_daemon_memory(const struct test_daemon *d, uint64_t *rss, uint64_t *peak)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)d->pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    unsigned long long kib = 0;
    int found = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %llu kB", &kib) == 1) {
            *rss = (uint64_t)kib * 1024u;
            found |= 1;
        } else if (sscanf(line, "VmHWM: %llu kB", &kib) == 1) {
            *peak = (uint64_t)kib * 1024u;
            found |= 2;
        }
    }
    fclose(f);
    return found == 3 ? 0 : -1;
}

int test_daemon_reset_peak(const struct test_daemon *d)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)d->pid);
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return -1;
    int rc = fputs("5", f) >= 0 ? 0 : -1;
    return fclose(f) == 0 ? rc : -1;
}

int test_daemon_group_setup(void **state, const char *const *args)
{
    struct test_daemon *d = calloc(1, sizeof(*d));
    char why[2048];
    if (d == NULL || test_daemon_start(d, args, why, sizeof(why)) != 0) {
        fprintf(stderr, "%s\n", d ? why : "out of memory");
        free(d);
        return -1;
    }
    *state = d;
    return 0;
}

int test_daemon_group_teardown(void **state)
{
    struct test_daemon *d = *state;
    int code = test_daemon_stop(d);
    free(d);
    return code == 0 ? 0 : -1;
}

int test_daemon_run_once(const char *const *args, const char *const *env, int timeout_ms,
                         char **output)
{
    char path[512];
    bool keep = false;
    int out_fd = make_log_file(path, sizeof(path), "run", &keep);
    if (out_fd < 0)
        return -1;
    const char *argv[MAX_ARGS + 2] = {test_daemon_bin()};
    size_t argc = 1;
    for (size_t i = 0; args != NULL && args[i] != NULL && i < MAX_ARGS; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    struct test_daemon d = {0};
    snprintf(d.log_path, sizeof(d.log_path), "%s", path);
    d.pid = fork();
    if (d.pid == 0) {
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        dup2(out_fd, STDOUT_FILENO);
        dup2(out_fd, STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out_fd);
    int code = -1;
    if (d.pid > 0 && test_daemon_wait_exit(&d, timeout_ms) == 0 && WIFEXITED(d.wait_status))
        code = WEXITSTATUS(d.wait_status);
    else if (d.pid > 0 && !d.exited) {
        kill(d.pid, SIGKILL);
        test_daemon_wait_exit(&d, TEST_DAEMON_STOP_MS);
    }
    char *text = test_daemon_log(&d);
    if (leaks_secret(text, "the daemon's output"))
        code = -1;
    if (output != NULL)
        *output = text;
    else
        free(text);
    if (!keep)
        unlink(path);
    return code;
}
