/*
 * bench_auth.c - the cost of the bearer-token check (server/auth.c, atrousd_auth_check) as the
 * admission step runs it once per request: SHA-256 of the presented token, then a
 * constant-time comparison with every digest of the token file. Rows: no token file (the check
 * is a NULL test), an open path, and for files of 1, 10, 100 and 1000 tokens the accepted token
 * (the file's last) and a refused one; nanoseconds per check, on one thread.
 *
 *   build/bench/bench_auth [--checks N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per check of checks calls; the verdict must be want. */
static double time_checks(struct atrousd_auth *auth, const char *path, const char *header,
                          enum atrousd_auth_verdict want, long checks)
{
    char id[ATROUSD_AUTH_ID_LEN + 1];
    /* Warm-up, and the verdict checked once. */
    if (atrousd_auth_check(auth, path, header, header ? 1 : 0, id) != want) {
        fprintf(stderr, "bench_auth: unexpected verdict for %s\n", path);
        exit(1);
    }
    double t0 = now_ns();
    unsigned sink = 0;
    for (long i = 0; i < checks; i++)
        sink += (unsigned)atrousd_auth_check(auth, path, header, header ? 1 : 0, id);
    double t = now_ns() - t0;
    if (sink == 12345u)
        fputc(' ', stderr);
    return t / (double)checks;
}

int main(int argc, char **argv)
{
    long checks = 200000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--checks") == 0)
            checks = strtol(argv[i + 1], NULL, 10);
    }
    if (checks < 1)
        checks = 1;
    /* The info lines of each file's load would clutter the table. */
    atrousd_log_configure(ATROUSD_LOG_WARN, ATROUSD_LOG_TEXT, STDERR_FILENO);
    const char *op = "/v1/atrous_conv2d_transpose";
    printf("auth check: %ld checks per row, one thread; tokens of 64 hex characters\n", checks);
    printf("%-44s %10s\n", "row", "ns/check");
    printf("%-44s %10.1f\n", "no --auth-token-file",
           time_checks(NULL, op, NULL, ATROUSD_AUTH_OPEN, checks));
    const size_t sizes[] = {1, 10, 100, 1000};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        char path[] = "/tmp/atrousd-bench-auth-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (f == NULL) {
            perror("bench_auth: token file");
            return 1;
        }
        char last[80];
        for (size_t i = 0; i < sizes[s]; i++) {
            snprintf(last, sizeof(last), "%016zx%048x", i + 1, 0x5eed);
            fprintf(f, "%s\n", last);
        }
        fclose(f);
        struct atrousd_auth_config c = {
            .token_file = path, .open_paths = "/healthz,/readyz,/v2/health/*", .reload_ms = 0};
        struct atrousd_auth *auth = NULL;
        struct atrous_error err;
        atrous_error_clear(&err);
        if (atrousd_auth_create(&c, &auth, &err) != ATROUS_OK) {
            fprintf(stderr, "bench_auth: %s\n", err.message);
            unlink(path);
            return 1;
        }
        char good[128], bad[128], row[64];
        snprintf(good, sizeof(good), "Bearer %s", last);
        snprintf(bad, sizeof(bad), "Bearer %s", last);
        bad[strlen(bad) - 1] ^= 1; /* the last character off */
        /* Fewer checks for the long files: the row's time grows with the tokens. */
        long n = checks * 10 / (10 + (long)sizes[s]);
        n = n < 1000 ? 1000 : n;
        if (s == 0)
            printf("%-44s %10.1f\n", "open path (/healthz)",
                   time_checks(auth, "/healthz", NULL, ATROUSD_AUTH_OPEN, checks));
        snprintf(row, sizeof(row), "%zu token(s): accepted (the last)", sizes[s]);
        printf("%-44s %10.1f\n", row, time_checks(auth, op, good, ATROUSD_AUTH_OK, n));
        snprintf(row, sizeof(row), "%zu token(s): refused (one character off)", sizes[s]);
        printf("%-44s %10.1f\n", row, time_checks(auth, op, bad, ATROUSD_AUTH_INVALID, n));
        atrousd_auth_free(auth);
        unlink(path);
    }
    return 0;
}
