/*
 * endpoints.c - the GET endpoints' documents, rendered by proto's codecs and the metrics and
 * info modules from the context's state.
 */
#include "endpoints.h"

#include <stdio.h>
#include <stdlib.h>

#include "atrous_kserve_repo.h"
#include "info.h"
#include "version.h"

/* The statistics of the served models the stats route names: every one (plan->kserve.model
 * ""), the versions of a name, or one version; the generic model as a model of its own. */
static char *render_stats(struct server_ctx *ctx, const struct request_plan *plan, size_t *len)
{
    struct atrousd_repo *repo =
        plan->repo ? atrousd_repo_ref(plan->repo) : atrousd_models_acquire(ctx->models);
    size_t first = 0, count = 0, numbers_count = 0;
    bool generic = plan->model == NULL; /* every model, or the generic model's route */
    if (plan->kserve.model[0] == '\0') {
        count = atrousd_repo_count(repo);
    } else if (plan->model != NULL) {
        count = atrousd_repo_versions(repo, plan->model->name, &first, NULL);
        if (plan->kserve.version[0] != '\0') { /* the one version the route names */
            while (atrousd_repo_at(repo, first) != plan->model)
                first++;
            count = 1;
        }
    }
    size_t *numbers = calloc(count + 1, sizeof(*numbers));
    struct atrous_kserve_model_stats *stats = calloc(count + 1, sizeof(*stats));
    struct atrous_kserve_batch_stats *batches =
        calloc((count + 1) * ATROUSD_STATS_BATCH_SIZES, sizeof(*batches));
    char *body = NULL;
    if (numbers == NULL || stats == NULL || batches == NULL)
        goto out;
    if (generic)
        numbers[numbers_count++] = ctx->generic_metrics;
    for (size_t i = first; i < first + count; i++)
        numbers[numbers_count++] = atrousd_repo_served(repo, i)->metrics;
    size_t n = 0;
    for (size_t i = 0; i < numbers_count; i++) {
        if (atrousd_metrics_model_stats(ctx->metrics, numbers[i], &stats[n],
                                        batches + n * ATROUSD_STATS_BATCH_SIZES))
            n++;
    }
    body = atrous_kserve_encode_stats(stats, n, len);
out:
    free(numbers);
    free(stats);
    free(batches);
    atrousd_repo_release(repo);
    return body;
}

void atrousd_handle_endpoint(struct server_ctx *ctx, const struct http_exchange *ex,
                             const struct request_plan *plan, struct http_reply *reply)
{
    const char *id = ex->request_id;
    const char *type = ATROUSD_CONTENT_TYPE_JSON;
    struct atrousd_metrics_snapshot snap;
    unsigned status = 200;
    size_t len = 0;
    char *body = NULL;
    bool ready;
    const struct atrous_model *const *versions = NULL;
    size_t version_count = 0;
    switch (plan->endpoint) {
    case ATROUSD_EP_HEALTHZ:
        atrousd_reply_json_status(reply, 200, "ok");
        return;
    case ATROUSD_EP_READYZ:
        switch (atrousd_serving_check(ctx, reply)) {
        case ATROUSD_DRAINING:
            atrousd_reply_fail(reply, ATROUSD_FAIL_UNAVAILABLE, NULL, id,
                               "draining: shutting down");
            break;
        case ATROUSD_WARMING_UP:
            atrousd_reply_fail(reply, ATROUSD_FAIL_UNAVAILABLE, NULL, id,
                               "warming up: the start-up self-test has not passed yet");
            break;
        case ATROUSD_SERVING:
            atrousd_reply_json_status(reply, 200, "ready");
            break;
        }
        return;
    case ATROUSD_EP_METRICS:
        atrousd_ctx_snapshot(ctx, &snap);
        body = atrousd_metrics_render(ctx->metrics, &snap, &len);
        type = ATROUSD_CONTENT_TYPE_METRICS;
        break;
    case ATROUSD_EP_INFO:
        body = atrousd_info_render(ctx, &len);
        break;
    case ATROUSD_EP_V2_SERVER:
        body = atrous_kserve_encode_server_metadata_caps(
            ATROUSD_NAME, ATROUSD_VERSION, ctx->engine_info.bf16, ctx->engine_info.amx, &len);
        break;
    case ATROUSD_EP_V2_LIVE:
        body = atrous_kserve_encode_live(true, &len);
        break;
    case ATROUSD_EP_V2_READY:
        ready = atrousd_serving_check(ctx, reply) == ATROUSD_SERVING;
        status = ready ? 200 : 503;
        body = atrous_kserve_encode_ready(ready, &len);
        break;
    case ATROUSD_EP_V2_MODEL_METADATA:
        if (plan->model != NULL)
            version_count = atrousd_repo_versions(plan->repo, plan->model->name, NULL, &versions);
        body = atrous_kserve_encode_model_metadata(plan->model, versions, version_count, &len);
        break;
    case ATROUSD_EP_V2_MODEL_READY:
        ready = atrousd_serving_check(ctx, reply) == ATROUSD_SERVING;
        status = ready ? 200 : 503;
        body = atrous_kserve_encode_model_ready(plan->model, ready, &len);
        break;
    case ATROUSD_EP_V2_MODEL_CONFIG:
        body = atrous_kserve_encode_model_config(plan->model, &len);
        break;
    case ATROUSD_EP_TFS_STATUS:
        version_count = atrousd_repo_versions(plan->repo, plan->tfs.model, NULL, &versions);
        body = atrous_tfs_encode_status(&plan->tfs, versions, version_count, &len);
        break;
    case ATROUSD_EP_V2_MODEL_STATS:
        body = render_stats(ctx, plan, &len);
        break;
    case ATROUSD_EP_TFS_METADATA:
        body = atrous_tfs_encode_metadata(plan->model, &len);
        break;
    default:
        atrousd_reply_fail(reply, ATROUSD_FAIL_INTERNAL, NULL, id,
                           "internal error: no handler for %s", ex->path ? ex->path : "");
        return;
    }
    if (body == NULL) {
        snprintf(reply->error_detail, sizeof(reply->error_detail), "out of memory rendering %s",
                 ex->path);
        atrousd_reply_fail(reply, ATROUSD_FAIL_NO_MEMORY, NULL, id,
                           "the server is out of memory; retry later");
        return;
    }
    reply->status = status;
    atrousd_reply_body(reply, type, body, len);
}
