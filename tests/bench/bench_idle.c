/*
 * bench_idle.c - the "no cliffs after idle" row of make bench: the latency of one request on a
 * keep-alive connection right after another (warm) against one sent after the server sat idle
 * for a second (when OpenMP teams sleep, caches cool and CPUs clock down).
 *
 *   bench_idle PORT BODY_FILE TARGET_FILE [ROUNDS]
 *   bench_idle --compute [ROUNDS]
 *
 * Prints the median warm latency, the median and worst after-idle latency, and their ratio.
 * Requests carry X-Request-Id warm-N / idle-N so that the server's own time for each can be
 * read from its access log (bench_http.sh does), apart from the machine's wake-up.
 *
 * --compute times the same problem (1x32x32x16 -> 16, 3x3, rate 2, SAME) as one library call
 * in this process, warm against after 1 s of sleep: no sockets, no server threads, so what it
 * shows is what the machine itself charges a cold core.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atrous_engine.h"
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

static double one(int fd, const char *target, const void *body, size_t len, const char *kind, int n)
{
    char id[64];
    snprintf(id, sizeof(id), "X-Request-Id: %s-%d", kind, n);
    const char *const headers[] = {"Content-Type: application/octet-stream", id, NULL};
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

/* Medians of 200 warm samples and of the after-idle ones, printed as one IDLE line. */
static void report(double *warm, double *idle, int rounds)
{
    qsort(warm, 200, sizeof(double), compare);
    qsort(idle, (size_t)rounds, sizeof(double), compare);
    double warm_med = warm[100], idle_med = idle[rounds / 2], idle_max = idle[rounds - 1];
    printf("IDLE warm_median_ms=%.3f idle_median_ms=%.3f idle_worst_ms=%.3f ratio=%.2f\n", warm_med,
           idle_med, idle_max, idle_med / warm_med);
}

static int over_http(int port, const char *body_path, const char *target_path, int rounds)
{
    size_t body_len, target_len;
    char *body = read_file(body_path, &body_len), *target = read_file(target_path, &target_len);
    if (body == NULL || target == NULL) {
        fprintf(stderr, "bench_idle: cannot read inputs\n");
        return 1;
    }
    int fd = http_client_connect((uint16_t)port, 5000);
    if (fd < 0)
        return 1;
    double warm[200], idle[100];
    for (int i = 0; i < 50; i++)
        one(fd, target, body, body_len, "warmup", i);
    for (int i = 0; i < 200; i++)
        warm[i] = one(fd, target, body, body_len, "warm", i);
    for (int i = 0; i < rounds; i++) {
        sleep(1);
        idle[i] = one(fd, target, body, body_len, "idle", i);
    }
    close(fd);
    report(warm, idle, rounds);
    free(body);
    free(target);
    return 0;
}

static double one_call(struct atrous_engine *engine, struct atrous_workspace *ws,
                       const struct atrous_problem *p, const float *value, const float *filters,
                       float *output)
{
    struct atrous_error err;
    double t0 = now_ms();
    if (atrous_engine_run(engine, ws, p, value, filters, output, &err)) {
        fprintf(stderr, "bench_idle: %s\n", err.message);
        exit(1);
    }
    return now_ms() - t0;
}

static int in_process(int rounds)
{
    const int64_t dims[4] = {1, 32, 32, 16}, fdims[4] = {3, 3, 16, 16};
    struct atrous_shape vs, fs;
    struct atrous_problem p;
    struct atrous_error err;
    struct atrous_engine *engine;
    struct atrous_workspace *ws;
    atrous_shape_make(&vs, dims, 4, NULL);
    atrous_shape_make(&fs, fdims, 4, NULL);
    if (atrous_op_validate(&vs, &fs, dims, 4, 2, "SAME", 4, NULL, &p, &err) ||
        atrous_engine_create(NULL, &engine, &err) || atrous_workspace_create(engine, &ws, &err)) {
        fprintf(stderr, "bench_idle: %s\n", err.message);
        return 1;
    }
    atrous_engine_set_thread_parallelism(1); /* as a compute worker runs */
    float *value = atrous_aligned_alloc(p.value_elements * sizeof(float));
    float *filters = atrous_aligned_alloc(p.filters_elements * sizeof(float));
    float *output = atrous_aligned_alloc(p.output_elements * sizeof(float));
    for (size_t i = 0; i < p.value_elements; i++)
        value[i] = (float)(i % 17) * 0.1f;
    for (size_t i = 0; i < p.filters_elements; i++)
        filters[i] = (float)(i % 13) * 0.01f;
    double warm[200], idle[100];
    for (int i = 0; i < 50; i++)
        one_call(engine, ws, &p, value, filters, output);
    /* Spaced like the HTTP requests (a round trip apart), not back to back. */
    for (int i = 0; i < 200; i++) {
        warm[i] = one_call(engine, ws, &p, value, filters, output);
        usleep(100);
    }
    for (int i = 0; i < rounds; i++) {
        sleep(1);
        idle[i] = one_call(engine, ws, &p, value, filters, output);
    }
    report(warm, idle, rounds);
    atrous_aligned_free(value);
    atrous_aligned_free(filters);
    atrous_aligned_free(output);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
    return 0;
}

int main(int argc, char **argv)
{
    bool compute = argc > 1 && !strcmp(argv[1], "--compute");
    if ((!compute && argc < 4) || (argc > 1 && !strcmp(argv[1], "--help"))) {
        printf("usage: %s PORT BODY_FILE TARGET_FILE [ROUNDS]\n"
               "       %s --compute [ROUNDS]\n"
               "Warm vs after-1s-idle latency of one binary request, or of one library call "
               "in this process.\n",
               argv[0], argv[0]);
        return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    const char *rounds_arg = compute ? (argc > 2 ? argv[2] : NULL) : (argc > 4 ? argv[4] : NULL);
    int rounds = rounds_arg ? atoi(rounds_arg) : 5;
    if (rounds < 1 || rounds > 100) {
        fprintf(stderr, "bench_idle: ROUNDS must be 1..100\n");
        return 2;
    }
    return compute ? in_process(rounds) : over_http(atoi(argv[1]), argv[2], argv[3], rounds);
}
