/*
 * bench_idle.c - the "no cliffs after idle" row of make bench: the latency of one request on a
 * keep-alive connection right after another (warm) against one sent after the server sat idle
 * for a second (when OpenMP teams sleep, caches cool and CPUs clock down).
 *
 *   bench_idle PORT BODY_FILE TARGET_FILE [ROUNDS]
 *
 * Prints the median warm latency, the median and worst after-idle latency, and their ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (data && fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (data) {
        data[size] = '\0';
        *len = (size_t)size;
    }
    return data;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double one(int fd, const char *target, const void *body, size_t len)
{
    static const char *const headers[] = {"Content-Type: application/octet-stream", NULL};
    struct http_client_response r;
    double t0 = now_ms();
    if (http_client_send_request(fd, "POST", target, headers, body, len) ||
        http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, &r) || r.status != 200) {
        fprintf(stderr, "bench_idle: request failed\n");
        exit(1);
    }
    double dt = now_ms() - t0;
    http_client_response_free(&r);
    return dt;
}

int main(int argc, char **argv)
{
    if (argc < 4 || !strcmp(argv[1], "--help")) {
        printf("usage: %s PORT BODY_FILE TARGET_FILE [ROUNDS]\nWarm vs after-1s-idle latency "
               "of one binary request.\n",
               argv[0]);
        return argc < 4 ? 2 : 0;
    }
    int port = atoi(argv[1]), rounds = argc > 4 ? atoi(argv[4]) : 5;
    size_t body_len, target_len;
    char *body = read_file(argv[2], &body_len), *target = read_file(argv[3], &target_len);
    if (body == NULL || target == NULL || rounds < 1 || rounds > 100) {
        fprintf(stderr, "bench_idle: cannot read inputs\n");
        return 1;
    }
    int fd = http_client_connect((uint16_t)port, 5000);
    if (fd < 0)
        return 1;
    double warm[200], idle[100];
    for (int i = 0; i < 50; i++) /* warm-up */
        one(fd, target, body, body_len);
    for (int i = 0; i < 200; i++)
        warm[i] = one(fd, target, body, body_len);
    for (int i = 0; i < rounds; i++) {
        sleep(1);
        idle[i] = one(fd, target, body, body_len);
    }
    close(fd);
    qsort(warm, 200, sizeof(double), compare);
    qsort(idle, (size_t)rounds, sizeof(double), compare);
    double warm_med = warm[100], idle_med = idle[rounds / 2], idle_max = idle[rounds - 1];
    printf("IDLE warm_median_ms=%.3f idle_median_ms=%.3f idle_worst_ms=%.3f ratio=%.2f\n",
           warm_med, idle_med, idle_max, idle_med / warm_med);
    free(body);
    free(target);
    return 0;
}
