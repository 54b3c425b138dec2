/*
 * test_http_log.c - server/log.h's flusher (--log-flush-ms): info lines wait in the backlog, a
 * warn line wakes the flusher, a flush or the flusher's timer writes them within the bound,
 * every line stays one whole line in order; and a sink that stalls (a pipe nobody reads) or
 * fails (a pipe whose reader is gone) never blocks a caller: lines are dropped and counted,
 * and once the sink drains a line says how many were dropped.
 *
 * Nothing here waits on time: each wait polls the sink for what must appear, with a bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

/* Generous bounds for a loaded machine; a pass never comes near them. */
#define WAIT_MS 30000

/* A temporary file as the sink; returns its fd (the path is unlinked at once). */
static int sink_file(void)
{
    char path[] = "/tmp/atrousd-log-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

/* Everything written to the sink so far (malloc'd, NUL-terminated). */
static char *sink_read(int fd)
{
    off_t end = lseek(fd, 0, SEEK_END);
    assert_true(end >= 0);
    char *buf = calloc(1, (size_t)end + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)end, 0), end);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Polls the sink until it holds at least lines lines; returns its text. */
static char *sink_wait_lines(int fd, size_t lines)
{
    int64_t deadline = test_now_ms() + WAIT_MS;
    for (;;) {
        char *got = sink_read(fd);
        if (count_lines(got) >= lines || test_now_ms() > deadline)
            return got;
        free(got);
        test_pause_ms(5);
    }
}

/* Every test ends with the flusher stopped and the sink back on stderr, even when it fails. */
static int restore(void **state)
{
    (void)state;
    atrousd_log_buffer_stop();
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, STDERR_FILENO);
    return 0;
}

static void test_log_info_waits_and_a_warn_line_wakes_the_flusher(void **state)
{
    (void)state;
    int fd = sink_file();
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, fd);
    assert_true(atrousd_log_buffer_start(600000)); /* its timer stays out of the way */
    atrousd_logf(ATROUSD_LOG_INFO, "first");
    atrousd_logf(ATROUSD_LOG_INFO, "second");
    char *got = sink_read(fd);
    assert_string_equal(got, ""); /* only the timer or an urgent line writes them */
    free(got);

    atrousd_logf(ATROUSD_LOG_WARN, "third");
    got = sink_wait_lines(fd, 3);
    assert_int_equal(count_lines(got), 3);
    char *a = strstr(got, "\"msg\":\"first\""), *b = strstr(got, "\"msg\":\"second\"");
    char *c = strstr(got, "\"msg\":\"third\"");
    assert_true(a != NULL && b != NULL && c != NULL && a < b && b < c);
    free(got);

    atrousd_logf(ATROUSD_LOG_INFO, "fourth");
    assert_true(atrousd_log_flush());
    got = sink_read(fd);
    assert_int_equal(count_lines(got), 4);
    free(got);
    restore(NULL);
    close(fd);
}

static void test_log_flusher_writes_within_flush_ms_and_keeps_every_line_whole(void **state)
{
    (void)state;
    int fd = sink_file();
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, fd);
    assert_true(atrousd_log_buffer_start(20));
    atrousd_logf(ATROUSD_LOG_INFO, "late");
    char *got = sink_wait_lines(fd, 1); /* the timer, 20 ms later */
    assert_int_equal(count_lines(got), 1);
    free(got);

    /* Many lines, far more than one write: each is written whole or counted as dropped. */
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    uint64_t dropped_before = atrousd_log_lines_dropped();
    size_t lines = 4 * ATROUSD_LOG_BACKLOG_BYTES / sizeof(big);
    for (size_t i = 0; i < lines; i++)
        atrousd_logf(ATROUSD_LOG_INFO, "%s", big);
    atrousd_log_buffer_stop();
    got = sink_read(fd);
    uint64_t dropped = atrousd_log_lines_dropped() - dropped_before;
    /* The first line and the lines that made it, whole; the lines that did not are counted,
     * and the "log lines dropped" lines say how many. */
    size_t written = 0;
    uint64_t reported = 0;
    static const char report[] = "\"msg\":\"log lines dropped";
    for (char *line = got, *end; *line; line = end + 1) {
        assert_int_equal(line[0], '{'); /* every line starts whole */
        end = strchr(line, '\n');
        assert_non_null(end);
        const char *at = memmem(line, (size_t)(end - line), report, sizeof(report) - 1);
        if (at != NULL)
            reported += strtoull(strstr(at, "\"lines\":") + strlen("\"lines\":"), NULL, 10);
        else
            written++;
    }
    assert_int_equal(written, 1 + lines - dropped);
    assert_int_equal(reported, dropped);
    free(got);
    restore(NULL);
    close(fd);
}

static void test_log_flush_ms_zero_writes_each_line_without_a_flush(void **state)
{
    (void)state;
    int fd = sink_file();
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, fd);
    assert_true(atrousd_log_buffer_start(0));
    atrousd_logf(ATROUSD_LOG_INFO, "at once");
    char *got = sink_wait_lines(fd, 1);
    assert_int_equal(count_lines(got), 1);
    free(got);
    restore(NULL);
    close(fd);
}

/* Logs lines from a thread of its own so that a caller that blocks shows as a timeout. */
struct logger {
    size_t lines;
    atomic_bool done;
};

static void *logger_main(void *arg)
{
    struct logger *l = arg;
    char filler[200];
    memset(filler, 'y', sizeof(filler) - 1);
    filler[sizeof(filler) - 1] = '\0';
    for (size_t i = 0; i < l->lines; i++)
        atrousd_logf(ATROUSD_LOG_INFO, "line %zu %s", i, filler);
    atrousd_logf(ATROUSD_LOG_ERROR, "an error line goes the same way");
    atomic_store(&l->done, true);
    return NULL;
}

/* Runs the logger thread and fails unless it returns within WAIT_MS. */
static void log_without_blocking(size_t lines)
{
    struct logger l = {.lines = lines};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, logger_main, &l), 0);
    int64_t deadline = test_now_ms() + WAIT_MS;
    while (!atomic_load(&l.done) && test_now_ms() < deadline)
        test_pause_ms(5);
    if (!atomic_load(&l.done))
        fail_msg("logging %zu lines to a stalled sink blocked the caller", lines);
    pthread_join(t, NULL);
}

/* Reads a pipe to its end in a thread of its own, gathering the text. */
struct reader {
    int fd;
    char *text;
    size_t len;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    FILE *out = open_memstream(&r->text, &r->len);
    char buf[65536];
    ssize_t n;
    while ((n = read(r->fd, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)n, out);
    fclose(out);
    return NULL;
}

static void test_log_stalled_pipe_drops_lines_and_says_so_once_drained(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[1], F_SETPIPE_SZ, 4096); /* the smallest pipe: it fills after a dozen lines */
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, p[1]);
    assert_true(atrousd_log_buffer_start(50));
    uint64_t dropped_before = atrousd_log_lines_dropped();
    /* 20000 lines of ~250 bytes: 5 MB, far over the pipe and the backlog. Nobody reads. */
    log_without_blocking(20000);
    uint64_t dropped = atrousd_log_lines_dropped() - dropped_before;
    assert_true(dropped > 0);

    /* The reader comes back: the flusher's write goes through, then the count is written. */
    struct reader r = {.fd = p[0]};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
    int64_t deadline = test_now_ms() + WAIT_MS;
    while (!atrousd_log_flush() && test_now_ms() < deadline)
        continue; /* each call waits a while for the flusher */
    atrousd_log_buffer_stop();
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, STDERR_FILENO);
    close(p[1]);
    pthread_join(t, NULL);
    close(p[0]);
    const char *line = strstr(r.text, "\"msg\":\"log lines dropped");
    if (line == NULL)
        fail_msg("no 'log lines dropped' line among %zu bytes read", r.len);
    const char *lines = strstr(line, "\"lines\":");
    assert_non_null(lines);
    assert_true(strtoull(lines + strlen("\"lines\":"), NULL, 10) > 0);
    /* Every line that was not dropped arrived whole. */
    size_t got = count_lines(r.text);
    for (char *l = r.text; *l; l = strchr(l, '\n') + 1)
        assert_int_equal(l[0], '{');
    assert_true(got >= 1 && got <= 20000 + 1 + 1 + 1);
    free(r.text);
}

static void test_log_closed_sink_drops_lines_without_blocking(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]); /* writes fail with EPIPE (SIGPIPE is ignored, as atrousd does) */
    signal(SIGPIPE, SIG_IGN);
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, p[1]);
    assert_true(atrousd_log_buffer_start(50));
    uint64_t dropped_before = atrousd_log_lines_dropped();
    log_without_blocking(1000);
    atrousd_log_flush();
    /* The lines the sink refused are counted as dropped too. */
    int64_t deadline = test_now_ms() + WAIT_MS;
    while (atrousd_log_lines_dropped() - dropped_before < 1001 && test_now_ms() < deadline)
        test_pause_ms(5);
    assert_int_equal(atrousd_log_lines_dropped() - dropped_before, 1001);
    restore(NULL);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_log_info_waits_and_a_warn_line_wakes_the_flusher, restore),
        cmocka_unit_test_teardown(
            test_log_flusher_writes_within_flush_ms_and_keeps_every_line_whole, restore),
        cmocka_unit_test_teardown(test_log_flush_ms_zero_writes_each_line_without_a_flush, restore),
        cmocka_unit_test_teardown(test_log_stalled_pipe_drops_lines_and_says_so_once_drained,
                                  restore),
        cmocka_unit_test_teardown(test_log_closed_sink_drops_lines_without_blocking, restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
