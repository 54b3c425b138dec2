/*
 * test_http_batching.c - same-shape micro-batching of the real daemon (--max-batch 8 with one
 * compute worker and a long --max-queue-delay-us, so that concurrent requests do meet): many
 * requests sent at once on their own connections - two repository models, two input sizes,
 * batches of 1 and 3 rows, KServe JSON and binary, TF Serving predict, the generic model, and
 * invalid ones - each answered with exactly its own result (the naive reference, or the
 * corpus), batches counted in /metrics and the access log. A daemon without --max-batch runs
 * the same mix unbatched. The compute queue's batching on its own, without sockets, is
 * test_compute_queue's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "http_client.h"
#include "http_model_fixtures.h"
#include "naive_ref.h"

/* The two models' filters come from these cases; the values are random. */
#define CASE_A "sweep_k3x3_r2_same" /* [3, 3, 17, 16], rate 2, SAME */
#define CASE_B "asym_k2x4_r3_same"  /* [2, 4, 3, 2], rate 3, SAME */

#define REQUESTS 16

struct fixture {
    char root[256];
    struct corpus_case *cases;
    size_t count;
    const struct corpus_case *a, *b;
    struct naive_rng rng;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || fixture_valid_cases(&f->cases, &f->count) != 0 ||
        fixture_scratch_dir(f->root, sizeof(f->root), "batching") != 0)
        return -1;
    f->a = fixture_find_case(f->cases, f->count, CASE_A);
    f->b = fixture_find_case(f->cases, f->count, CASE_B);
    if (f->a == NULL || f->b == NULL ||
        fixture_write_case_model(f->root, "a", "a", f->a, ", \"max_batch_size\": 4", 1) != 0 ||
        fixture_write_case_model(f->root, "b", "b", f->b, "", 1) != 0)
        return -1;
    uint64_t seed = naive_ref_seed("test_http_batching");
    f->rng.state = seed;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    fixture_remove_tree(f->root);
    fixture_cases_free(f->cases, f->count);
    free(f);
    return 0;
}

enum kind {
    KSERVE_JSON,
    KSERVE_BINARY,
    TFS_PREDICT,
    GENERIC,     /* the generic model with a corpus case: not batchable */
    BAD_CHANNELS /* a value with the wrong channel count: 400, whatever its batch does */
};

/* One request of the mix and what it must get back. */
struct job {
    enum kind kind;
    const struct corpus_case *model_case; /* the filters */
    const char *model;
    struct atrous_shape shape; /* the value's */
    float *value;
    size_t count;
    float *expected; /* naive reference */
    struct atrous_shape expected_shape;
    int fd;
};

static void make_job(struct fixture *f, struct job *j, enum kind kind, const struct corpus_case *c,
                     const char *model, int64_t n, int64_t h, int64_t w)
{
    memset(j, 0, sizeof(*j));
    j->kind = kind;
    j->model_case = c;
    j->model = model;
    if (kind == GENERIC)
        return;
    int64_t ic = c->filters_shape.dims[3] + (kind == BAD_CHANNELS ? 1 : 0);
    j->shape = (struct atrous_shape){.rank = 4, .dims = {n, h, w, ic}};
    j->count = fixture_shape_count(&j->shape);
    j->value = malloc(j->count * sizeof(float));
    assert_non_null(j->value);
    naive_rng_fill(&f->rng, j->value, j->count);
    struct naive_problem p = {.rate = c->rate, .same = strcmp(c->padding, "SAME") == 0};
    memcpy(p.value, j->shape.dims, sizeof(p.value));
    memcpy(p.filters, c->filters_shape.dims, sizeof(p.filters));
    naive_ref_output_shape(p.value, p.filters, p.rate, p.same, p.output);
    j->expected_shape = (struct atrous_shape){.rank = 4};
    memcpy(j->expected_shape.dims, p.output, sizeof(p.output));
    j->expected = calloc(naive_ref_elements(p.output) + 1, sizeof(float));
    if (kind != BAD_CHANNELS)
        naive_ref_run(&p, j->value, c->filters, j->expected);
}

static void send_job(uint16_t port, struct job *j)
{
    struct proto_buf b = {0};
    size_t header_len = 0;
    char path[128], ihcl[64];
    const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
    if (j->kind == TFS_PREDICT) {
        snprintf(path, sizeof(path), "/v1/models/%s:predict", j->model);
        proto_buf_printf(&b, "{\"inputs\": ");
        proto_buf_nested(&b, j->shape.dims, 4, j->value);
        proto_buf_printf(&b, "}");
    } else {
        struct kserve_body_opts o = {.generic = j->kind == GENERIC,
                                     .binary_input = j->kind == KSERVE_BINARY,
                                     .binary_output = j->kind == KSERVE_BINARY};
        snprintf(path, sizeof(path), "/v2/models/%s/infer", j->model);
        /* GENERIC: value NULL, so the case's own value goes. */
        fixture_kserve_body(j->model_case, &j->shape, j->value, j->count, &o, &b, &header_len);
        if (o.binary_input) {
            snprintf(ihcl, sizeof(ihcl), "Inference-Header-Content-Length: %zu", header_len);
            headers[0] = "Content-Type: application/octet-stream";
            headers[1] = ihcl;
        }
    }
    j->fd = http_client_connect(port, HTTP_CLIENT_TIMEOUT_MS);
    assert_true(j->fd >= 0);
    assert_int_equal(http_client_send_request(j->fd, "POST", path, headers, b.data, b.len), 0);
    proto_buf_free(&b);
}

static void check_job(struct job *j, int index)
{
    struct http_client_response r;
    struct fixture_output out;
    char why[512];
    assert_int_equal(http_client_read(j->fd, false, HTTP_CLIENT_TIMEOUT_MS, &r), 0);
    close(j->fd);
    if (j->kind == BAD_CHANNELS) {
        if (r.status != 400)
            fail_msg("request %d (bad channels): %d %s", index, r.status, r.body);
        http_client_response_free(&r);
        return;
    }
    if (r.status != 200)
        fail_msg("request %d (kind %d, model %s): %d %s", index, j->kind, j->model, r.status,
                 r.body);
    int rc;
    if (j->kind == TFS_PREDICT) {
        json_error_t jerr;
        memset(&out, 0, sizeof(out));
        out.doc = json_loadb(r.body, r.body_len, 0, &jerr);
        out.shape = j->expected_shape;
        size_t count = fixture_shape_count(&out.shape);
        out.data = calloc(count + 1, sizeof(float));
        rc = fixture_read_numbers(json_object_get(out.doc, "outputs"), &out, count) == 0 &&
                     out.count == count
                 ? 0
                 : -1;
        snprintf(why, sizeof(why), "not %zu numbers: %.200s", count, r.body);
    } else {
        rc = fixture_kserve_output(&r, &out, why, sizeof(why));
    }
    if (rc == 0 && j->kind == GENERIC) {
        rc = fixture_check_output(&out, j->model_case, 0, 0, why, sizeof(why));
    } else if (rc == 0) {
        struct corpus_comparison cmp;
        if (out.shape.rank != 4 ||
            memcmp(out.shape.dims, j->expected_shape.dims, sizeof(int64_t) * 4) != 0) {
            snprintf(why, sizeof(why), "wrong output shape");
            rc = -1;
        } else {
            corpus_compare(out.data, j->expected, out.count, &cmp);
            if (cmp.failures > 0) {
                snprintf(why, sizeof(why), "%zu elements differ from its own result (worst %g)",
                         cmp.failures, cmp.worst);
                rc = -1;
            }
        }
    }
    if (rc != 0)
        fail_msg("request %d (kind %d, model %s): %s", index, j->kind, j->model, why);
    fixture_output_free(&out);
    http_client_response_free(&r);
}

static void free_jobs(struct job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].value);
        free(jobs[i].expected);
    }
}

/* The mix: a's 8x6 inputs (1 and 3 rows, JSON, binary and TF Serving), a's 5x4 inputs, b's,
 * the generic model and two invalid values, interleaved. */
static size_t make_mix(struct fixture *f, struct job *jobs)
{
    size_t n = 0;
    const struct corpus_case *a = f->a, *b = f->b;
    for (int round = 0; round < 2; round++) {
        make_job(f, &jobs[n++], KSERVE_JSON, a, "a", 1, 8, 6);
        make_job(f, &jobs[n++], KSERVE_BINARY, a, "a", 1, 8, 6);
        make_job(f, &jobs[n++], TFS_PREDICT, a, "a", 3, 8, 6);
        make_job(f, &jobs[n++], KSERVE_BINARY, b, "b", 2, 8, 6);
        make_job(f, &jobs[n++], KSERVE_JSON, a, "a", 1, 5, 4);
        make_job(f, &jobs[n++], BAD_CHANNELS, a, "a", 1, 8, 6);
        make_job(f, &jobs[n++], KSERVE_JSON, b, "b", 1, 8, 6);
        make_job(f, &jobs[n++], round ? KSERVE_BINARY : GENERIC, round ? a : &f->cases[3],
                 round ? "a" : "atrous_conv2d_transpose", 1, 8, 6);
    }
    return n;
}

static void run_mix(struct fixture *f, const struct test_daemon *d)
{
    struct job jobs[REQUESTS];
    size_t n = make_mix(f, jobs);
    assert_int_equal(n, REQUESTS);
    for (size_t i = 0; i < n; i++)
        send_job(d->port, &jobs[i]);
    for (size_t i = 0; i < n; i++)
        check_job(&jobs[i], (int)i);
    free_jobs(jobs, n);
}

static void test_batching_concurrent_requests_get_their_own_results(void **state)
{
    struct fixture *f = *state;
    struct test_daemon d;
    char why[512];
    const char *args[] = {
        "--model-dir",          f->root,   "--max-batch", "8", "--compute-threads", "1",
        "--max-queue-delay-us", "1000000", NULL};
    assert_int_equal(test_daemon_start(&d, args, why, sizeof(why)), 0);
    /* Requests meet when the scheduler lets them: three rounds, and more (bounded) until a
     * batch has formed - each round's answers are checked either way. */
    double batches = 0, batched = 0;
    for (int round = 0; round < 3 || (batches < 1 && round < 12); round++) {
        run_mix(f, &d);
        assert_int_equal(test_daemon_metric(&d, "atrousd_batches_total", &batches), 0);
    }
    assert_int_equal(test_daemon_metric(&d, "atrousd_batched_requests_total", &batched), 0);
    if (batches < 1 || batched < 2 * batches)
        fail_msg("batches %g, batched requests %g", batches, batched);
    /* The access log is written by a flusher, after the metrics counted the batch. */
    assert_int_equal(test_daemon_wait_log(&d, "\"batch\":", 10000), 0);
    char *log = test_daemon_log(&d);
    assert_non_null(strstr(log, "\"batch\":"));
    free(log);
    assert_int_equal(test_daemon_stop(&d), 0);
}

static void test_batching_off_runs_the_same_mix_alone(void **state)
{
    struct fixture *f = *state;
    struct test_daemon d;
    char why[512];
    const char *args[] = {"--model-dir", f->root, "--compute-threads", "1", NULL};
    assert_int_equal(test_daemon_start(&d, args, why, sizeof(why)), 0);
    run_mix(f, &d);
    double batches = -1;
    assert_int_equal(test_daemon_metric(&d, "atrousd_batches_total", &batches), 0);
    assert_true(batches == 0);
    assert_int_equal(test_daemon_stop(&d), 0);
}

/* A batch never holds more than --max-batch rows, and a delay of 0 still batches what waits. */
static void test_batching_respects_max_batch_rows(void **state)
{
    struct fixture *f = *state;
    struct test_daemon d;
    char why[512];
    const char *args[] = {"--model-dir",       f->root, "--max-batch", "2",
                          "--compute-threads", "1",     NULL};
    assert_int_equal(test_daemon_start(&d, args, why, sizeof(why)), 0);
    run_mix(f, &d);
    char *log = test_daemon_log(&d);
    for (const char *p = log; (p = strstr(p, "\"batch\":")) != NULL; p++)
        assert_int_equal(atoi(p + 8), 2);
    free(log);
    assert_int_equal(test_daemon_stop(&d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batching_concurrent_requests_get_their_own_results),
        cmocka_unit_test(test_batching_off_runs_the_same_mix_alone),
        cmocka_unit_test(test_batching_respects_max_batch_rows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
