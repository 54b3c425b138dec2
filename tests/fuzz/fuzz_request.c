/*
 * fuzz_request.c - libFuzzer target for the whole request path without sockets:
 * atrousd_handle() (precheck, routing, the native op, KServe v2, TF Serving, the operations
 * endpoints) on a synthetic exchange whose method, path, query, Content-Type, Accept,
 * Inference-Header-Content-Length and body come from the input (fuzz_input.h). The server
 * context is made once, as a test makes it (tests/test_handlers.c), with small limits and
 * a model repository holding fuzz_model.h's model, loaded through atrousd_ctx_load_models.
 *
 * Every answer must have a status from 200 to 599, a body length that matches its body, an
 * error body (JSON with "error") for every status >= 400, and a KServe binary answer's header
 * length within its body. When the method byte's high bit is set and the request is a batchable
 * model request (the context has --max-batch 4), it is also run as a batch of three copies
 * through atrousd_handle_model_batch (stacked into one compute call): each copy must get the
 * status the request got alone, with a well-formed answer.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "fuzz_model.h"
#include "handlers.h"
#include "log.h"
#include "server_ctx.h"

#define MAX_PARAMS ATROUSD_MAX_QUERY_PARAMS

static struct server_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct atrousd_config cfg;
    struct atrousd_cpus cpus = {.affinity = 1, .usable = 1};
    struct atrousd_thread_budget budget = {.compute_workers = 1, .omp_threads = 1};
    struct atrous_error err;
    char dir[] = "/tmp/atrousd-fuzz-request-XXXXXX";
    atrousd_log_configure(ATROUSD_LOG_ERROR, ATROUSD_LOG_JSON, STDERR_FILENO);
    atrousd_config_defaults(&cfg);
    cfg.max_body_bytes = 1 << 20;
    cfg.max_json_bytes = 1 << 18;
    cfg.max_tensor_elements = 1 << 14;
    cfg.max_output_elements = 1 << 16;
    cfg.cache_capacity = 64;
    cfg.max_batch = 4;
    if (mkdtemp(dir) == NULL || fuzz_model_write(dir) != 0)
        abort();
    snprintf(cfg.model_dir, sizeof(cfg.model_dir), "%s", dir);
    if (atrousd_ctx_create(&cfg, &cpus, &budget, &ctx, &err) != ATROUS_OK ||
        atrousd_ctx_load_models(ctx, &err) != ATROUS_OK)
        abort();
    struct atrousd_repo *repo = atrousd_models_acquire(ctx->models);
    size_t loaded = atrousd_repo_count(repo);
    atrousd_repo_release(repo);
    if (loaded != 1)
        abort();
    /* The repository lives in memory from here: the folder goes. */
    char path[sizeof(dir) + 32];
    const char *files[] = {"config.json", "filters.bin", ""};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s/%s", dir, FUZZ_MODEL_NAME, files[i]);
        remove(path);
    }
    remove(dir);
    atomic_store(&ctx->ready, true);
    return 0;
}

static void check_reply(const struct http_reply *reply)
{
    if (reply->status < 200 || reply->status > 599 ||
        (reply->body == NULL) != (reply->body_len == 0))
        abort();
    if (reply->status >= 400 && (reply->body == NULL || strstr(reply->body, "\"error\"") == NULL))
        abort();
    if (reply->inference_header_length > reply->body_len)
        abort();
}

/* Three copies of a batchable request through the batch path: the same status as alone. */
static void check_batch(const struct http_exchange *ex, unsigned status_alone)
{
    struct http_exchange whole = *ex;
    struct request_plan plan;
    struct http_reply first;
    whole.has_content_length = true;
    whole.content_length = ex->body_len;
    http_reply_init(&first);
    bool answered = atrousd_precheck(ctx, &whole, &plan, &first);
    http_reply_release(&first);
    if (answered || plan.batch_class == NULL) {
        atrousd_plan_release(&plan);
        return;
    }
    struct http_reply replies[3];
    struct atrousd_call calls[3];
    for (int i = 0; i < 3; i++) {
        http_reply_init(&replies[i]);
        calls[i] = (struct atrousd_call){&whole, &plan, &replies[i]};
    }
    atrousd_handle_model_batch(ctx, calls, 3, NULL);
    for (int i = 0; i < 3; i++) {
        check_reply(&replies[i]);
        if (replies[i].status != status_alone)
            abort();
        http_reply_release(&replies[i]);
    }
    atrousd_plan_release(&plan);
}

/* The bytes up to '\n' (or the end) as a NUL-terminated copy; *pos moves past the '\n'. */
static char *take_line(const uint8_t *data, size_t size, size_t *pos)
{
    size_t start = *pos, end = start;
    while (end < size && data[end] != '\n')
        end++;
    char *s = malloc(end - start + 1);
    if (s == NULL)
        abort();
    memcpy(s, data + start, end - start);
    s[end - start] = '\0';
    *pos = end < size ? end + 1 : end;
    return s;
}

/* Splits "a=1&b=2" in place into params (at most MAX_PARAMS; *truncated when more). */
static size_t split_query(char *q, struct atrous_query_param *params, bool *truncated)
{
    size_t n = 0;
    *truncated = false;
    for (char *p = q; *p != '\0';) {
        char *amp = strchr(p, '&');
        if (amp != NULL)
            *amp = '\0';
        if (n == MAX_PARAMS) {
            *truncated = true;
            break;
        }
        char *eq = strchr(p, '=');
        if (eq != NULL)
            *eq = '\0';
        params[n].key = p;
        params[n].value = eq ? eq + 1 : "";
        n++;
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FUZZ_REQUEST_PREFIX)
        return 0;
    size_t pos = FUZZ_REQUEST_PREFIX;
    size_t path_index = data[1] % FUZZ_PATH_COUNT;
    char *custom = path_index == FUZZ_PATH_CUSTOM ? take_line(data, size, &pos) : NULL;
    char *query = take_line(data, size, &pos);
    char ihcl_buf[16];
    struct atrous_query_param params[MAX_PARAMS];
    struct http_exchange ex = {
        .method = fuzz_methods[(data[0] & 0x7f) % FUZZ_TABLE_COUNT(fuzz_methods)],
        .path = custom ? custom : fuzz_paths[path_index],
        .content_type = fuzz_content_types[data[2] % FUZZ_TABLE_COUNT(fuzz_content_types)],
        .accept = fuzz_accepts[data[3] % FUZZ_TABLE_COUNT(fuzz_accepts)],
        .inference_header_length = fuzz_ihcl(data + 4, ihcl_buf),
        .request_id = "fuzz",
        .query = params,
    };
    ex.query_count = split_query(query, params, &ex.query_truncated);
    /* The body in its own 64-byte aligned allocation, as the HTTP adapter keeps it. */
    size_t len = size - pos;
    void *body = atrous_aligned_alloc(len ? len : 1);
    if (body == NULL)
        abort();
    memcpy(body, data + pos, len);
    ex.body = body;
    ex.body_len = len;

    struct http_reply reply;
    http_reply_init(&reply);
    atrousd_handle(ctx, &ex, &reply);
    check_reply(&reply);
    if (data[0] & 0x80)
        check_batch(&ex, reply.status);
    http_reply_release(&reply);
    atrous_aligned_free(body);
    free(query);
    free(custom);
    return 0;
}
