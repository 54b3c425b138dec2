/*
 * test_http_log.c - server/log.h's buffered sink (--log-flush-ms): info lines wait in the
 * buffer, a warn line writes them out first and itself after, a flush or the flusher thread
 * writes them within the bound, and every line stays one whole line in order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

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

static void test_log_buffer_holds_info_until_a_warn_line(void **state)
{
    (void)state;
    int fd = sink_file();
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, fd);
    assert_true(atrousd_log_buffer_start(60000)); /* the flusher stays out of the way */
    atrousd_logf(ATROUSD_LOG_INFO, "first");
    atrousd_logf(ATROUSD_LOG_INFO, "second");
    char *got = sink_read(fd);
    assert_string_equal(got, ""); /* buffered */
    free(got);

    atrousd_logf(ATROUSD_LOG_WARN, "third");
    got = sink_read(fd);
    assert_int_equal(count_lines(got), 3);
    char *a = strstr(got, "\"msg\":\"first\""), *b = strstr(got, "\"msg\":\"second\"");
    char *c = strstr(got, "\"msg\":\"third\"");
    assert_true(a != NULL && b != NULL && c != NULL && a < b && b < c);
    free(got);

    atrousd_logf(ATROUSD_LOG_INFO, "fourth");
    atrousd_log_flush();
    got = sink_read(fd);
    assert_int_equal(count_lines(got), 4);
    free(got);
    atrousd_log_buffer_stop();
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, STDERR_FILENO);
    close(fd);
}

static void test_log_buffer_flushes_within_the_bound_and_on_stop(void **state)
{
    (void)state;
    int fd = sink_file();
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, fd);
    assert_true(atrousd_log_buffer_start(20));
    atrousd_logf(ATROUSD_LOG_INFO, "late");
    /* The flusher writes it within 20 ms; allow a loaded machine 5 s. */
    char *got = NULL;
    for (int i = 0; i < 500; i++) {
        free(got);
        got = sink_read(fd);
        if (count_lines(got) == 1)
            break;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    assert_int_equal(count_lines(got), 1);
    free(got);

    /* Many lines: more than the buffer holds, each whole, none lost. */
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    size_t lines = 2 * ATROUSD_LOG_BUFFER_BYTES / sizeof(big);
    for (size_t i = 0; i < lines; i++)
        atrousd_logf(ATROUSD_LOG_INFO, "%s", big);
    atrousd_log_buffer_stop();
    got = sink_read(fd);
    assert_int_equal(count_lines(got), 1 + lines);
    for (char *line = got; *line; line = strchr(line, '\n') + 1)
        assert_int_equal(line[0], '{'); /* every line starts whole */
    free(got);
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, STDERR_FILENO);
    close(fd);
}

static void test_log_flush_ms_zero_writes_each_line(void **state)
{
    (void)state;
    int fd = sink_file();
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, fd);
    assert_false(atrousd_log_buffer_start(0));
    atrousd_logf(ATROUSD_LOG_INFO, "at once");
    char *got = sink_read(fd);
    assert_int_equal(count_lines(got), 1);
    free(got);
    atrousd_log_configure(ATROUSD_LOG_INFO, ATROUSD_LOG_JSON, STDERR_FILENO);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_buffer_holds_info_until_a_warn_line),
        cmocka_unit_test(test_log_buffer_flushes_within_the_bound_and_on_stop),
        cmocka_unit_test(test_log_flush_ms_zero_writes_each_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
