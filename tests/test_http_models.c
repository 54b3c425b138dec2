/*
 * test_http_models.c - the model repository's life in the real daemon, each test on a scratch
 * --model-dir of its own: the model control modes (explicit with --load-model, none with SIGHUP
 * rescans, poll), Triton's repository extension as tritonclient sends it (index with an empty
 * body, load_model with {} and with a config override, unload_model with unload_dependents), a
 * failing reload that keeps the old version serving with its reason in the index, the
 * statistics extension's figures, and W3C trace context in answers and the access log. Every
 * answer is checked against the naive reference for the filters it should have used.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "http_client.h"
#include "model_fixtures.h"
#include "repo_models.h"

/* Generous bounds for what a rescan or a poll takes on a loaded machine. */
#define WAIT_MS 60000

/* The bodies tritonclient.http sends (json.dumps of its dicts). */
#define TRITON_INDEX_BODY  ""
#define TRITON_LOAD_BODY   "{}"
#define TRITON_UNLOAD_BODY "{\"parameters\": {\"unload_dependents\": false}}"

struct fixture {
    struct test_daemon daemon;
    char root[256];
    struct repo_variant a, b; /* two sets of filters, far apart */
};

static struct fixture *setup_repo(void)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(fixture_scratch_dir(f->root, sizeof(f->root), "models"), 0);
    repo_variant_make(&f->a, 1, REPO_RATE);
    repo_variant_make(&f->b, 3, REPO_RATE);
    return f;
}

static void start(struct fixture *f, const char *const *extra)
{
    const char *args[24] = {"--model-dir", f->root, "--log-flush-ms", "0"};
    size_t n = 4;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 23; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    char why[512];
    if (test_daemon_start(&f->daemon, args, why, sizeof(why)) != 0)
        fail_msg("daemon: %s", why);
}

static void finish(struct fixture *f)
{
    assert_int_equal(test_daemon_stop(&f->daemon), 0);
    fixture_remove_tree(f->root);
    free(f);
}

/* The variant an infer of model answers with (asserting a 200 that matches one). */
static int answer_of(struct fixture *f, const char *model)
{
    struct http_client_response r;
    char why[512];
    assert_int_equal(repo_infer(f->daemon.port, model, NULL, &r), 0);
    const struct repo_variant variants[2] = {f->a, f->b};
    int k = repo_match(&r, variants, 2, why, sizeof(why));
    http_client_response_free(&r);
    if (k < 0)
        fail_msg("%s: %s", model, why);
    return k;
}

static int infer_status(struct fixture *f, const char *model)
{
    struct http_client_response r;
    assert_int_equal(repo_infer(f->daemon.port, model, NULL, &r), 0);
    int status = r.status;
    http_client_response_free(&r);
    return status;
}

/* POSTs body to path, asserts the status, returns the JSON body (caller decrefs). */
static json_t *post(struct fixture *f, const char *path, const char *body, int status)
{
    struct http_client_response r;
    json_error_t jerr;
    assert_int_equal(repo_post(f->daemon.port, path, body, &r), 0);
    if (r.status != status)
        fail_msg("POST %s: status %d, expected %d: %s", path, r.status, status, r.body);
    json_t *doc = json_loadb(r.body ? r.body : "", r.body_len, 0, &jerr);
    if (doc == NULL)
        fail_msg("POST %s: not JSON: %s", path, r.body);
    http_client_response_free(&r);
    return doc;
}

/* The index entry of name (and version, when not NULL), or NULL (borrowed from index). */
static const json_t *entry(const json_t *index, const char *name, const char *version)
{
    size_t i;
    const json_t *e;
    json_array_foreach(index, i, e)
    {
        const char *v = json_string_value(json_object_get(e, "version"));
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0 &&
            (version == NULL || (v != NULL && strcmp(v, version) == 0)))
            return e;
    }
    return NULL;
}

static const char *field(const json_t *e, const char *key)
{
    assert_non_null(e);
    const char *s = json_string_value(json_object_get(e, key));
    assert_non_null(s);
    return s;
}

static void write_ab(struct fixture *f)
{
    assert_int_equal(repo_write_model(f->root, "a", "alpha", "1", REPO_RATE, f->a.filters, ""), 0);
    assert_int_equal(repo_write_model(f->root, "b", "beta", "1", REPO_RATE, f->b.filters, ""), 0);
}

/* Explicit mode: only --load-model's models at start; the index lists the rest as not loaded;
 * load_model's body ({}) loads one; unload_model's unloads it (twice: still 200). */
static void test_models_explicit_mode_loads_only_what_is_named(void **state)
{
    (void)state;
    struct fixture *f = setup_repo();
    write_ab(f);
    const char *args[] = {"--model-control-mode", "explicit", "--load-model", "alpha", NULL};
    start(f, args);
    assert_int_equal(answer_of(f, "alpha"), 0);
    assert_int_equal(infer_status(f, "beta"), 404);

    json_t *index = post(f, "/v2/repository/index", TRITON_INDEX_BODY, 200);
    assert_int_equal(json_array_size(index), 2);
    assert_string_equal(field(entry(index, "alpha", "1"), "state"), "READY");
    assert_string_equal(field(entry(index, "alpha", "1"), "reason"), "");
    assert_string_equal(field(entry(index, "beta", "1"), "state"), "UNAVAILABLE");
    assert_non_null(strstr(field(entry(index, "beta", "1"), "reason"), "not loaded"));
    json_decref(index);
    index = post(f, "/v2/repository/index", "{\"ready\": true}", 200);
    assert_int_equal(json_array_size(index), 1);
    assert_non_null(entry(index, "alpha", "1"));
    json_decref(index);

    json_t *loaded = post(f, "/v2/repository/models/beta/load", TRITON_LOAD_BODY, 200);
    assert_string_equal(field(entry(loaded, "beta", "1"), "state"), "READY");
    json_decref(loaded);
    assert_int_equal(answer_of(f, "beta"), 1);

    for (int i = 0; i < 2; i++) {
        json_t *after = post(f, "/v2/repository/models/alpha/unload", TRITON_UNLOAD_BODY, 200);
        assert_string_equal(field(entry(after, "alpha", "1"), "state"), "UNAVAILABLE");
        assert_string_equal(field(entry(after, "alpha", "1"), "reason"), "unloaded");
        json_decref(after);
    }
    assert_int_equal(infer_status(f, "alpha"), 404);
    assert_int_equal(answer_of(f, "beta"), 1);
    /* A name no folder holds is a 404; the wrong method a 405. */
    json_decref(post(f, "/v2/repository/models/gamma/load", TRITON_LOAD_BODY, 404));
    struct http_client_response r;
    assert_int_equal(
        http_client_request(f->daemon.port, "GET", "/v2/repository/index", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 405);
    http_client_response_free(&r);
    finish(f);
}

/* load_model with config=...: the override's rate serves (its filters from the folder), a
 * load without one goes back to config.json; bad overrides are 400s that change nothing. */
static void test_models_load_with_config_override(void **state)
{
    (void)state;
    struct fixture *f = setup_repo();
    write_ab(f);
    const char *args[] = {"--model-control-mode", "explicit", "--load-model", "alpha", NULL};
    start(f, args);
    struct repo_variant rate1;
    repo_variant_make(&rate1, 1, 1); /* alpha's filters at rate 1 */
    char config[1024], escaped[2048], body[2600];
    repo_config_text(config, sizeof(config), "alpha", "1", 1, "");
    /* JSON-escape the document as json.dumps does (quotes; the newline). */
    size_t n = 0;
    for (const char *p = config; *p && n + 3 < sizeof(escaped); p++) {
        if (*p == '"' || *p == '\\')
            escaped[n++] = '\\';
        if (*p == '\n') {
            escaped[n++] = '\\';
            escaped[n++] = 'n';
            continue;
        }
        escaped[n++] = *p;
    }
    escaped[n] = '\0';
    snprintf(body, sizeof(body), "{\"parameters\": {\"config\": \"%s\"}}", escaped);
    json_decref(post(f, "/v2/repository/models/alpha/load", body, 200));
    struct http_client_response r;
    char why[512];
    const struct repo_variant variants[2] = {f->a, rate1};
    assert_int_equal(repo_infer(f->daemon.port, "alpha", NULL, &r), 0);
    if (repo_match(&r, variants, 2, why, sizeof(why)) != 1)
        fail_msg("after the override: %s", why);
    http_client_response_free(&r);

    /* An override naming another model, a broken one, and Triton's file parameters. */
    snprintf(body, sizeof(body),
             "{\"parameters\": {\"config\": \"{\\\"name\\\": \\\"beta\\\", "
             "\\\"rate\\\": 2, \\\"padding\\\": \\\"SAME\\\", \\\"filters\\\": "
             "{\\\"shape\\\": [3, 3, 4, 2], \\\"file\\\": \\\"filters.npy\\\"}}\"}}");
    json_t *err = post(f, "/v2/repository/models/alpha/load", body, 400);
    assert_non_null(strstr(json_string_value(json_object_get(err, "error")), "'beta'"));
    json_decref(err);
    err = post(f, "/v2/repository/models/alpha/load", "{\"parameters\": {\"config\": \"{\"}}", 400);
    json_decref(err);
    err = post(f, "/v2/repository/models/alpha/load",
               "{\"parameters\": {\"config\": \"{}\", \"file:1/filters.npy\": \"AAAA\"}}", 400);
    assert_non_null(strstr(json_string_value(json_object_get(err, "error")), "not supported"));
    json_decref(err);
    assert_int_equal(repo_infer(f->daemon.port, "alpha", NULL, &r), 0);
    assert_int_equal(repo_match(&r, variants, 2, why, sizeof(why)), 1); /* still the override */
    http_client_response_free(&r);

    json_decref(post(f, "/v2/repository/models/alpha/load", TRITON_LOAD_BODY, 200));
    assert_int_equal(answer_of(f, "alpha"), 0); /* config.json's rate 2 again */
    finish(f);
}

/* A reload that fails (filters that are not .npy) answers 400, keeps the old version serving
 * and says why in the index; fixing the folder and loading again serves the new filters. */
static void test_models_failing_reload_keeps_the_old_version(void **state)
{
    (void)state;
    struct fixture *f = setup_repo();
    write_ab(f);
    const char *args[] = {"--model-control-mode", "explicit", "--load-model", "alpha", NULL};
    start(f, args);
    assert_int_equal(repo_break_filters(f->root, "a"), 0);
    json_t *err = post(f, "/v2/repository/models/alpha/load", TRITON_LOAD_BODY, 400);
    const char *message = json_string_value(json_object_get(err, "error"));
    assert_non_null(strstr(message, "filters.npy"));
    assert_non_null(strstr(message, "keep serving"));
    json_decref(err);
    assert_int_equal(answer_of(f, "alpha"), 0);

    json_t *index = post(f, "/v2/repository/index", TRITON_INDEX_BODY, 200);
    const json_t *e = entry(index, "alpha", "1");
    assert_string_equal(field(e, "state"), "READY");
    assert_non_null(strstr(field(e, "reason"), "keeps serving"));
    assert_non_null(strstr(field(e, "reason"), "filters.npy"));
    json_decref(index);

    assert_int_equal(repo_write_model(f->root, "a", "alpha", "1", REPO_RATE, f->b.filters, ""), 0);
    json_decref(post(f, "/v2/repository/models/alpha/load", TRITON_LOAD_BODY, 200));
    assert_int_equal(answer_of(f, "alpha"), 1);
    index = post(f, "/v2/repository/index", TRITON_INDEX_BODY, 200);
    assert_string_equal(field(entry(index, "alpha", "1"), "reason"), "");
    json_decref(index);
    finish(f);
}

/* Waits until model answers with variant want (a rescan is asynchronous); fails after WAIT_MS
 * or on any answer that is neither variant. */
static void wait_for_variant(struct fixture *f, const char *model, int want)
{
    int64_t deadline = test_now_ms() + WAIT_MS;
    while (answer_of(f, model) != want) {
        if (test_now_ms() > deadline)
            fail_msg("%s never answered with the new filters", model);
        test_pause_ms(20);
    }
}

static void wait_for_status(struct fixture *f, const char *model, int status)
{
    int64_t deadline = test_now_ms() + WAIT_MS;
    while (infer_status(f, model) != status) {
        if (test_now_ms() > deadline)
            fail_msg("%s never answered %d", model, status);
        test_pause_ms(20);
    }
}

/* None mode: load requests are refused as in Triton; SIGHUP rescans: a changed folder
 * reloads, a new one loads, a removed one unloads, and the process goes on serving. */
static void test_models_sighup_rescans_in_none_mode(void **state)
{
    (void)state;
    struct fixture *f = setup_repo();
    write_ab(f);
    start(f, NULL);
    json_t *err = post(f, "/v2/repository/models/alpha/load", TRITON_LOAD_BODY, 400);
    assert_non_null(strstr(json_string_value(json_object_get(err, "error")), "not allowed"));
    json_decref(err);
    assert_int_equal(answer_of(f, "alpha"), 0);

    assert_int_equal(repo_write_model(f->root, "a", "alpha", "1", REPO_RATE, f->b.filters, ""), 0);
    assert_int_equal(repo_write_model(f->root, "c", "gamma", "1", REPO_RATE, f->a.filters, ""), 0);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/b", f->root);
    fixture_remove_tree(dir);
    /* Not before the signal: none mode reads the folder only then. */
    assert_int_equal(answer_of(f, "alpha"), 0);
    assert_int_equal(infer_status(f, "gamma"), 404);
    assert_int_equal(test_daemon_signal(&f->daemon, SIGHUP), 0);
    wait_for_variant(f, "alpha", 1);
    wait_for_status(f, "beta", 404);
    assert_int_equal(answer_of(f, "gamma"), 0);
    assert_int_equal(test_daemon_wait_log(&f->daemon, "\"trigger\":\"SIGHUP\"", WAIT_MS), 0);
    assert_true(test_daemon_alive(&f->daemon));
    finish(f);
}

/* Poll mode: a change on disk is picked up by the next poll, without a signal. */
static void test_models_poll_mode_picks_up_changes(void **state)
{
    (void)state;
    struct fixture *f = setup_repo();
    write_ab(f);
    const char *args[] = {"--model-control-mode", "poll", "--repository-poll-secs", "1", NULL};
    start(f, args);
    assert_int_equal(answer_of(f, "beta"), 1);
    assert_int_equal(repo_write_model(f->root, "b", "beta", "1", REPO_RATE, f->a.filters, ""), 0);
    wait_for_variant(f, "beta", 0);
    finish(f);
}

/* --load-model naming a model that is not there stops the start with a message. */
static void test_models_load_model_that_fails_stops_the_start(void **state)
{
    (void)state;
    struct fixture *f = setup_repo();
    write_ab(f);
    char *out = NULL;
    const char *args[] = {test_daemon_bin(), "--port",       "0",      "--host",
                          "127.0.0.1",       "--model-dir",  f->root,  "--model-control-mode",
                          "explicit",        "--load-model", "nosuch", NULL};
    assert_int_equal(test_daemon_run_once(args + 1, NULL, WAIT_MS, &out), 1);
    assert_non_null(strstr(out, "--load-model nosuch"));
    free(out);
    const char *bad[] = {"--load-model", "a,*", NULL};
    assert_int_equal(test_daemon_run_once(bad, NULL, WAIT_MS, &out), 2);
    free(out);
    fixture_remove_tree(f->root);
    free(f);
}

/* The model's stats document and /metrics after known traffic: 3 good requests (one of them a
 * batch of 2 would need another shape; all N=1 here) and 1 that fails validation. */
static void test_models_statistics(void **state)
{
    (void)state;
    struct fixture *f = setup_repo();
    write_ab(f);
    start(f, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(answer_of(f, "alpha"), 0);
    struct http_client_response r;
    const char *headers[] = {"Content-Type: application/json", NULL};
    const char bad[] = "{\"inputs\": [{\"name\": \"value\", \"datatype\": \"FP32\", \"shape\": [1, "
                       "1, 1, 3], \"data\": [1, 2, 3]}]}";
    assert_int_equal(http_client_request(f->daemon.port, "POST", "/v2/models/alpha/infer", headers,
                                         bad, sizeof(bad) - 1, &r),
                     0);
    assert_int_equal(r.status, 400);
    http_client_response_free(&r);
    /* A request is counted when it completes, just after its answer went out: wait for all 4. */
    assert_int_equal(test_daemon_wait_metric(&f->daemon,
                                             "atrousd_model_inferences_total{model=\"alpha\","
                                             "version=\"1\",result=\"success\"}",
                                             3, WAIT_MS),
                     0);
    assert_int_equal(test_daemon_wait_metric(&f->daemon,
                                             "atrousd_model_inferences_total{model=\"alpha\","
                                             "version=\"1\",result=\"fail\"}",
                                             1, WAIT_MS),
                     0);

    const char *paths[] = {"/v2/models/alpha/stats", "/v2/models/alpha/versions/1/stats",
                           "/v2/models/stats"};
    for (size_t p = 0; p < 3; p++) {
        json_error_t jerr;
        assert_int_equal(http_client_request(f->daemon.port, "GET", paths[p], NULL, NULL, 0, &r),
                         0);
        assert_int_equal(r.status, 200);
        json_t *doc = json_loadb(r.body, r.body_len, 0, &jerr);
        http_client_response_free(&r);
        const json_t *list = json_object_get(doc, "model_stats");
        /* All models: the generic one, alpha, beta. */
        assert_int_equal(json_array_size(list), p == 2 ? 3 : 1);
        const json_t *s = NULL;
        size_t i;
        const json_t *e;
        json_array_foreach(list, i, e)
        {
            if (strcmp(json_string_value(json_object_get(e, "name")), "alpha") == 0)
                s = e;
        }
        assert_non_null(s);
        assert_string_equal(json_string_value(json_object_get(s, "version")), "1");
        assert_int_equal(json_integer_value(json_object_get(s, "inference_count")), 3);
        assert_int_equal(json_integer_value(json_object_get(s, "execution_count")), 3);
        assert_true(json_integer_value(json_object_get(s, "last_inference")) > 1600000000000);
        const json_t *st = json_object_get(s, "inference_stats");
        const char *stages[] = {"success", "queue", "compute_input", "compute_infer",
                                "compute_output"};
        for (size_t k = 0; k < 5; k++) {
            const json_t *d = json_object_get(st, stages[k]);
            assert_int_equal(json_integer_value(json_object_get(d, "count")), 3);
            assert_true(json_is_integer(json_object_get(d, "ns")));
        }
        assert_true(json_integer_value(json_object_get(json_object_get(st, "success"), "ns")) > 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "fail"), "count")),
                         1);
        /* perf_analyzer reads these too. */
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(st, "cache_hit"), "count")), 0);
        assert_non_null(json_object_get(json_object_get(st, "cache_miss"), "ns"));
        const json_t *batches = json_object_get(s, "batch_stats");
        assert_int_equal(json_array_size(batches), 1);
        assert_int_equal(
            json_integer_value(json_object_get(json_array_get(batches, 0), "batch_size")), 1);
        json_decref(doc);
    }
    double v = 0;
    assert_int_equal(
        test_daemon_metric(&f->daemon,
                           "atrousd_model_inferences_total{model=\"alpha\",version=\"1\",result="
                           "\"success\"}",
                           &v),
        0);
    assert_true(v == 3);
    assert_int_equal(test_daemon_metric(&f->daemon,
                                        "atrousd_model_execution_count_total{model=\"alpha\","
                                        "version=\"1\"}",
                                        &v),
                     0);
    assert_true(v == 3);
    assert_int_equal(
        http_client_request(f->daemon.port, "GET", "/v2/models/nosuch/stats", NULL, NULL, 0, &r),
        0);
    assert_int_equal(r.status, 404);
    http_client_response_free(&r);
    finish(f);
}

/* The access log line of the request whose X-Request-Id is id (malloc'd), or NULL. */
static char *log_line(struct fixture *f, const char *id)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "\"request_id\":\"%s\"", id);
    if (test_daemon_wait_log(&f->daemon, needle, WAIT_MS) != 0)
        return NULL;
    char *log = test_daemon_log(&f->daemon);
    char *at = log ? strstr(log, needle) : NULL;
    char *line = NULL;
    if (at != NULL) {
        char *start = at;
        while (start > log && start[-1] != '\n')
            start--;
        line = strndup(start, strcspn(start, "\n"));
    }
    free(log);
    return line;
}

/* A traceparent sent is continued: the answer's has its trace id and the server's span id,
 * the access log line has both and the caller's parent id; tracestate comes back. An invalid
 * one (uppercase hex) starts a new trace and drops tracestate; none at all gets one too. */
static void test_models_trace_context(void **state)
{
    (void)state;
    struct fixture *f = setup_repo();
    write_ab(f);
    start(f, NULL);
    static const char trace[] = "4bf92f3577b34da6a3ce929d0e0e4736";
    const char *headers[] = {"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                             "tracestate: congo=t61rcWkgMzE, rojo=00f067aa0ba902b7",
                             "X-Request-Id: trace-test-1", NULL};
    struct http_client_response r;
    assert_int_equal(repo_infer(f->daemon.port, "alpha", headers, &r), 0);
    assert_int_equal(r.status, 200);
    const char *tp = http_client_header(&r, "traceparent");
    assert_non_null(tp);
    assert_int_equal(strlen(tp), 55);
    assert_memory_equal(tp, "00-", 3);
    assert_memory_equal(tp + 3, trace, 32);
    char span[17];
    memcpy(span, tp + 36, 16);
    span[16] = '\0';
    assert_string_not_equal(span, "00f067aa0ba902b7");
    assert_string_equal(tp + 52, "-01");
    assert_string_equal(http_client_header(&r, "tracestate"),
                        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    http_client_response_free(&r);
    char *line = log_line(f, "trace-test-1");
    assert_non_null(line);
    assert_non_null(strstr(line, "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""));
    assert_non_null(strstr(line, "\"parent_span_id\":\"00f067aa0ba902b7\""));
    char want[64];
    snprintf(want, sizeof(want), "\"span_id\":\"%s\"", span);
    assert_non_null(strstr(line, want));
    free(line);

    const char *invalid[] = {"traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                             "tracestate: congo=t61rcWkgMzE", "X-Request-Id: trace-test-2", NULL};
    assert_int_equal(repo_infer(f->daemon.port, "alpha", invalid, &r), 0);
    tp = http_client_header(&r, "traceparent");
    assert_non_null(tp);
    assert_int_equal(strlen(tp), 55);
    assert_memory_not_equal(tp + 3, "4bf92f3577b34da6a3ce929d0e0e4736", 32);
    assert_null(http_client_header(&r, "tracestate"));
    char new_trace[33];
    memcpy(new_trace, tp + 3, 32);
    new_trace[32] = '\0';
    http_client_response_free(&r);
    line = log_line(f, "trace-test-2");
    assert_non_null(line);
    snprintf(want, sizeof(want), "\"trace_id\":\"%s\"", new_trace);
    assert_non_null(strstr(line, want));
    assert_null(strstr(line, "parent_span_id"));
    free(line);

    assert_int_equal(http_client_request(f->daemon.port, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    tp = http_client_header(&r, "traceparent");
    assert_non_null(tp);
    assert_int_equal(strlen(tp), 55);
    http_client_response_free(&r);
    finish(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_explicit_mode_loads_only_what_is_named),
        cmocka_unit_test(test_models_load_with_config_override),
        cmocka_unit_test(test_models_failing_reload_keeps_the_old_version),
        cmocka_unit_test(test_models_sighup_rescans_in_none_mode),
        cmocka_unit_test(test_models_poll_mode_picks_up_changes),
        cmocka_unit_test(test_models_load_model_that_fails_stops_the_start),
        cmocka_unit_test(test_models_statistics),
        cmocka_unit_test(test_models_trace_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
