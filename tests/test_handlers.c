/*
 * test_handlers.c - server/handlers.h without sockets: atrousd_handle() on plain
 * http_exchange structs (the entry point a fuzz target drives), the precheck's answers, and
 * the media-type rules of server/media.h and routes of server/router.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "http_client.h"
#include "media.h"
#include "router.h"
#include "server_ctx.h"

static const char sample_json[] =
    "{\"value\":{\"shape\":[1,2,2,1],\"data\":[1,2,3,4]},\"filters\":{\"shape\":[1,1,1,1],"
    "\"data\":[0.5]},\"output_shape\":[1,2,2,1],\"rate\":2,\"padding\":\"SAME\"}";

static int setup(void **state)
{
    struct atrousd_config cfg;
    struct atrousd_cpus cpus = {.affinity = 1, .usable = 1};
    struct atrousd_thread_budget budget = {.compute_workers = 1, .omp_threads = 1};
    struct atrous_error err;
    struct server_ctx *ctx = NULL;
    atrousd_config_defaults(&cfg);
    cfg.max_body_bytes = 4096;
    if (atrousd_ctx_create(&cfg, &cpus, &budget, &ctx, &err) != ATROUS_OK)
        return -1;
    atomic_store(&ctx->ready, true);
    *state = ctx;
    return 0;
}

static int teardown(void **state)
{
    atrousd_ctx_free(*state);
    return 0;
}

static struct http_exchange exchange(const char *method, const char *path, const char *content_type,
                                     const char *body)
{
    struct http_exchange ex = {
        .method = method,
        .path = path,
        .content_type = content_type,
        .request_id = "unit-test",
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };
    return ex;
}

/* Runs an exchange and checks the status (and, for errors, the code in the body). */
static void expect(struct server_ctx *ctx, const struct http_exchange *ex, unsigned status,
                   const char *code, struct http_reply *reply)
{
    http_reply_init(reply);
    atrousd_handle(ctx, ex, reply);
    assert_int_equal(reply->status, status);
    if (code != NULL) {
        struct http_error_body e;
        assert_int_equal(http_error_parse(reply->body, reply->body_len, &e), 0);
        assert_string_equal(e.code, code);
        assert_string_equal(e.request_id, "unit-test");
        http_error_free(&e);
    }
}

static void test_handle_answers_operations_endpoints(void **state)
{
    struct http_reply reply;
    struct http_exchange ex = exchange("GET", "/healthz", NULL, NULL);
    expect(*state, &ex, 200, NULL, &reply);
    assert_string_equal(reply.body, "{\"status\":\"ok\"}");
    http_reply_release(&reply);
    const char *paths[] = {"/readyz", "/metrics", "/v1/info"};
    for (size_t i = 0; i < 3; i++) {
        ex = exchange("HEAD", paths[i], NULL, NULL);
        expect(*state, &ex, 200, NULL, &reply);
        assert_true(reply.body_len > 0);
        http_reply_release(&reply);
    }
}

static void test_handle_runs_the_op_in_both_answer_forms(void **state)
{
    struct http_reply reply;
    struct http_op_output out;
    struct http_client_response as_response = {0};
    struct http_exchange ex = exchange("POST", ATROUSD_OP_PATH, "application/json", sample_json);
    expect(*state, &ex, 200, NULL, &reply);
    assert_int_equal(http_op_parse_json(reply.body, reply.body_len, &out), 0);
    assert_int_equal(out.count, 4);
    assert_true(out.data[3] == 2.0f);
    http_op_output_free(&out);
    http_reply_release(&reply);

    ex.accept = "application/octet-stream";
    expect(*state, &ex, 200, NULL, &reply);
    assert_string_equal(reply.content_type, "application/octet-stream");
    assert_string_equal(reply.output_shape, "1,2,2,1");
    assert_int_equal(reply.body_len, 16);
    struct http_client_header shape = {"X-Output-Shape", reply.output_shape};
    as_response.headers = &shape;
    as_response.header_count = 1;
    as_response.body = reply.body;
    as_response.body_len = reply.body_len;
    assert_int_equal(http_op_parse_binary(&as_response, &out), 0);
    assert_true(out.data[0] == 0.5f);
    http_op_output_free(&out);
    assert_true(reply.has_stages);
    http_reply_release(&reply);
}

static void test_handle_binary_form_reads_the_query(void **state)
{
    const struct atrous_query_param query[] = {
        {"value_shape", "1,1,1,1"},  {"filters_shape", "1,1,1,1"},
        {"output_shape", "1,1,1,1"}, {"rate", "1"},
        {"padding", "VALID"},
    };
    float body[2] = {3.0f, 2.0f};
    struct http_exchange ex = exchange("POST", ATROUSD_OP_PATH, "application/octet-stream", NULL);
    ex.query = query;
    ex.query_count = 5;
    ex.body = body;
    ex.body_len = sizeof(body);
    struct http_reply reply;
    expect(*state, &ex, 200, NULL, &reply);
    float got;
    memcpy(&got, reply.body, 4);
    assert_true(got == 6.0f);
    http_reply_release(&reply);

    ex.body_len = 4; /* filters missing */
    expect(*state, &ex, 400, "invalid_argument", &reply);
    http_reply_release(&reply);
}

/* The precheck's cost estimate decides which binary requests the I/O thread runs itself:
 * 2*N*OH*OW*OC*KH*KW*IC against --inline-max-flops (0 = never), JSON never. */
static void test_precheck_plans_inline_by_cost(void **state)
{
    struct server_ctx *ctx = *state;
    const struct atrous_query_param query[] = {
        {"value_shape", "1,32,32,16"},
        {"filters_shape", "3,3,16,16"},
        {"output_shape", "1,32,32,16"},
        {"rate", "2"},
        {"padding", "SAME"},
    };
    struct http_exchange ex = exchange("POST", ATROUSD_OP_PATH, "application/octet-stream", NULL);
    ex.query = query;
    ex.query_count = 5;
    uint64_t saved = ctx->config.max_body_bytes;
    ctx->config.max_body_bytes = (uint64_t)1 << 20;
    struct request_plan plan;
    struct http_reply reply;
    const uint64_t thresholds[] = {ATROUSD_DEFAULT_INLINE_MAX_FLOPS, 4718591, 4718592, 0};
    const bool inline_expected[] = {true, false, true, false};
    for (size_t i = 0; i < 4; i++) {
        ctx->config.inline_max_flops = thresholds[i];
        memset(&plan, 0, sizeof(plan));
        http_reply_init(&reply);
        assert_false(atrousd_precheck(ctx, &ex, &plan, &reply));
        assert_true(plan.cost_flops == 2.0 * 32 * 32 * 16 * 3 * 3 * 16); /* 4,718,592 */
        assert_int_equal(plan.run_inline, inline_expected[i]);
        http_reply_release(&reply);
    }

    /* Cheap in FLOPs but over ATROUSD_INLINE_MAX_BYTES of tensors: the queue. */
    const struct atrous_query_param wide[] = {
        {"value_shape", "1,128,128,4"},
        {"filters_shape", "1,1,1,4"},
        {"output_shape", "1,128,128,1"},
        {"rate", "1"},
        {"padding", "VALID"},
    };
    ex.query = wide;
    ctx->config.inline_max_flops = ATROUSD_DEFAULT_INLINE_MAX_FLOPS;
    memset(&plan, 0, sizeof(plan));
    http_reply_init(&reply);
    assert_false(atrousd_precheck(ctx, &ex, &plan, &reply));
    assert_true(plan.cost_flops < (double)ATROUSD_DEFAULT_INLINE_MAX_FLOPS);
    assert_false(plan.run_inline);
    http_reply_release(&reply);

    /* JSON requests are decoded on a worker: never inline. */
    ex = exchange("POST", ATROUSD_OP_PATH, "application/json", sample_json);
    ex.has_content_length = true;
    ex.content_length = strlen(sample_json);
    memset(&plan, 0, sizeof(plan));
    http_reply_init(&reply);
    assert_false(atrousd_precheck(ctx, &ex, &plan, &reply));
    assert_false(plan.run_inline);
    http_reply_release(&reply);
    ctx->config.max_body_bytes = saved;
}

static void test_handle_rejects_by_route_method_and_media(void **state)
{
    struct http_reply reply;
    struct http_exchange ex = exchange("GET", "/nope", NULL, NULL);
    expect(*state, &ex, 404, "not_found", &reply);
    http_reply_release(&reply);

    ex = exchange("GET", ATROUSD_OP_PATH, NULL, NULL);
    expect(*state, &ex, 405, "method_not_allowed", &reply);
    assert_string_equal(reply.allow, "POST");
    http_reply_release(&reply);

    ex = exchange("POST", ATROUSD_OP_PATH, "text/csv", sample_json);
    expect(*state, &ex, 415, "unsupported_media_type", &reply);
    http_reply_release(&reply);

    ex = exchange("POST", ATROUSD_OP_PATH, "application/json", sample_json);
    ex.accept = "image/png";
    expect(*state, &ex, 406, "not_acceptable", &reply);
    http_reply_release(&reply);
}

/* DESIGN.md section 2: each request decision is made once. Admission parses the binary query
 * into the plan; the worker decodes the body with that plan and never reads the query again,
 * so a query gone by the time the worker runs changes nothing, and a plan edited in between
 * is what the worker computes. */
static void test_handle_worker_runs_the_plan_admission_parsed(void **state)
{
    struct server_ctx *ctx = *state;
    static const float body[5] = {1, 2, 3, 4, 0.5f}; /* value 1x2x2x1 then filters 1x1x1x1 */
    const struct atrous_query_param query[] = {
        {"value_shape", "1,2,2,1"},  {"filters_shape", "1,1,1,1"},
        {"output_shape", "1,2,2,1"}, {"rate", "2"},
        {"padding", "SAME"},
    };
    struct http_exchange ex = exchange("POST", ATROUSD_OP_PATH, "application/octet-stream", NULL);
    ex.query = query;
    ex.query_count = 5;
    ex.body = body;
    ex.body_len = sizeof(body);
    ex.has_content_length = true;
    ex.content_length = sizeof(body);
    struct request_plan plan;
    struct http_reply reply;
    http_reply_init(&reply);
    assert_false(atrousd_precheck(ctx, &ex, &plan, &reply));
    assert_int_equal(plan.binary.body_bytes, sizeof(body));
    assert_int_equal(plan.binary.head.value_shape.dims[1], 2);
    assert_true(plan.cost_flops > 0);

    /* The query is gone: the worker still computes, from the plan. */
    ex.query = NULL;
    ex.query_count = 0;
    atrousd_handle_compute(ctx, &ex, &plan, NULL, &reply);
    assert_int_equal(reply.status, 200);
    assert_int_equal(reply.body_len, 16);
    const float *out = (const float *)reply.body;
    assert_true(out[0] == 0.5f && out[3] == 2.0f);
    http_reply_release(&reply);

    /* The worker computes what the plan says, not what a query would: a plan whose padding
     * was changed after admission fails validation on that padding. */
    snprintf(plan.binary.head.padding, sizeof(plan.binary.head.padding), "BOGUS");
    plan.binary.head.padding_len = 5;
    http_reply_init(&reply);
    atrousd_handle_compute(ctx, &ex, &plan, NULL, &reply);
    assert_int_equal(reply.status, 400);
    assert_non_null(strstr(reply.error_message, "BOGUS"));
    http_reply_release(&reply);
}

static void test_handle_body_over_limit_is_413(void **state)
{
    char *big = malloc(5000);
    memset(big, ' ', 4999);
    big[4999] = '\0';
    struct http_reply reply;
    struct http_exchange ex = exchange("POST", ATROUSD_OP_PATH, "application/json", big);
    expect(*state, &ex, 413, "too_large", &reply);
    assert_true(reply.close_connection);
    http_reply_release(&reply);
    free(big);
}

static void test_handle_is_503_until_ready_and_while_draining(void **state)
{
    struct server_ctx *ctx = *state;
    struct http_reply reply;
    struct http_exchange op = exchange("POST", ATROUSD_OP_PATH, "application/json", sample_json);
    struct http_exchange ready = exchange("GET", "/readyz", NULL, NULL);
    atomic_store(&ctx->ready, false);
    expect(ctx, &op, 503, "unavailable", &reply);
    assert_int_equal(reply.retry_after_s, ATROUSD_RETRY_AFTER_S);
    http_reply_release(&reply);
    expect(ctx, &ready, 503, "unavailable", &reply);
    http_reply_release(&reply);
    atomic_store(&ctx->ready, true);
    atomic_store(&ctx->draining, true);
    expect(ctx, &op, 503, "unavailable", &reply);
    assert_true(reply.close_connection);
    http_reply_release(&reply);
    expect(ctx, &ready, 503, "unavailable", &reply);
    http_reply_release(&reply);
    atomic_store(&ctx->draining, false);
}

static void test_handle_never_crashes_on_odd_exchanges(void **state)
{
    /* Hostile shapes of input, each must get a 4xx. */
    const char *bodies[] = {"{\"value\":[[[[1]]]],\"filters\":[[[[1]]]],\"output_shape\":[1,1,"
                            "1,1],\"rate\":99999999999999999999,\"padding\":\"SAME\"}",
                            "{\"value\":{\"shape\":[-1,1,1,1],\"data\":[]}}",
                            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                            "[[[[[[[[[[[[[[[[[[[[[[[[[[[",
                            "\"\\ud800\"", "{\"value\":1e999}"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct http_reply reply;
        struct http_exchange ex = exchange("POST", ATROUSD_OP_PATH, "application/json", bodies[i]);
        http_reply_init(&reply);
        atrousd_handle(*state, &ex, &reply);
        assert_true(reply.status >= 400 && reply.status < 500);
        http_reply_release(&reply);
    }
    struct http_reply reply;
    struct http_exchange ex = exchange(NULL, NULL, NULL, NULL);
    expect(*state, &ex, 404, "not_found", &reply);
    http_reply_release(&reply);
}

static void test_media_content_type_ignores_case_and_parameters(void **state)
{
    (void)state;
    enum atrous_wire_form form;
    assert_true(atrousd_media_content_form("application/json", &form));
    assert_int_equal(form, ATROUS_FORM_JSON);
    assert_true(atrousd_media_content_form(" APPLICATION/Octet-Stream ;x=y", &form));
    assert_int_equal(form, ATROUS_FORM_BINARY);
    assert_false(atrousd_media_content_form("application/jsonx", &form));
    assert_false(atrousd_media_content_form("", &form));
    assert_false(atrousd_media_content_form(NULL, &form));
}

static void test_media_accept_prefers_specific_ranges_and_q(void **state)
{
    (void)state;
    struct {
        const char *accept;
        enum atrous_wire_form request, expected;
        bool ok;
    } cases[] = {
        {NULL, ATROUS_FORM_BINARY, ATROUS_FORM_BINARY, true},
        {"  ", ATROUS_FORM_JSON, ATROUS_FORM_JSON, true},
        {"*/*", ATROUS_FORM_BINARY, ATROUS_FORM_BINARY, true},
        {"application/*;q=0.5", ATROUS_FORM_JSON, ATROUS_FORM_JSON, true},
        {"application/octet-stream", ATROUS_FORM_JSON, ATROUS_FORM_BINARY, true},
        {"application/json;q=0, */*", ATROUS_FORM_JSON, ATROUS_FORM_BINARY, true},
        {"application/json;q=0.3, application/octet-stream;q=0.2", ATROUS_FORM_BINARY,
         ATROUS_FORM_JSON, true},
        {"text/html", ATROUS_FORM_JSON, ATROUS_FORM_JSON, false},
        {"application/json;q=0", ATROUS_FORM_JSON, ATROUS_FORM_JSON, false},
        {"application/json;q=abc", ATROUS_FORM_JSON, ATROUS_FORM_JSON, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum atrous_wire_form got = ATROUS_FORM_JSON;
        bool ok = atrousd_media_accept(cases[i].accept, cases[i].request, &got);
        if (ok != cases[i].ok || (ok && got != cases[i].expected))
            fail_msg("Accept '%s': ok %d form %d", cases[i].accept ? cases[i].accept : "(null)", ok,
                     got);
    }
}

static void test_router_matches_exact_paths(void **state)
{
    (void)state;
    assert_int_equal(atrousd_route(ATROUSD_OP_PATH), ATROUSD_EP_OP);
    assert_int_equal(atrousd_route("/v1/atrous_conv2d_transpose/"), ATROUSD_EP_UNKNOWN);
    assert_int_equal(atrousd_route("/HEALTHZ"), ATROUSD_EP_UNKNOWN);
    assert_true(atrousd_route_allows(ATROUSD_EP_METRICS, "HEAD"));
    assert_false(atrousd_route_allows(ATROUSD_EP_OP, "HEAD"));
    assert_string_equal(atrousd_route_label(ATROUSD_EP_UNKNOWN), "other");
}

static void test_request_id_sanity(void **state)
{
    (void)state;
    char longest[ATROUSD_REQUEST_ID_MAX + 2];
    memset(longest, 'a', sizeof(longest));
    longest[ATROUSD_REQUEST_ID_MAX] = '\0';
    assert_true(atrousd_request_id_sane(longest));
    longest[ATROUSD_REQUEST_ID_MAX] = 'a';
    longest[ATROUSD_REQUEST_ID_MAX + 1] = '\0';
    assert_false(atrousd_request_id_sane(longest));
    assert_false(atrousd_request_id_sane(""));
    assert_false(atrousd_request_id_sane("a b"));
    assert_false(atrousd_request_id_sane("a\r\nSet-Cookie: x"));
    assert_false(atrousd_request_id_sane("caf\xc3\xa9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handle_answers_operations_endpoints),
        cmocka_unit_test(test_handle_runs_the_op_in_both_answer_forms),
        cmocka_unit_test(test_handle_binary_form_reads_the_query),
        cmocka_unit_test(test_handle_rejects_by_route_method_and_media),
        cmocka_unit_test(test_handle_body_over_limit_is_413),
        cmocka_unit_test(test_handle_worker_runs_the_plan_admission_parsed),
        cmocka_unit_test(test_handle_is_503_until_ready_and_while_draining),
        cmocka_unit_test(test_handle_never_crashes_on_odd_exchanges),
        cmocka_unit_test(test_media_content_type_ignores_case_and_parameters),
        cmocka_unit_test(test_media_accept_prefers_specific_ranges_and_q),
        cmocka_unit_test(test_router_matches_exact_paths),
        cmocka_unit_test(test_request_id_sanity),
        cmocka_unit_test(test_precheck_plans_inline_by_cost),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
