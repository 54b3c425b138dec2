/*
 * endpoints.c - the GET endpoints' documents, rendered by proto's codecs and the metrics and
 * info modules from the context's state.
 */
#include "endpoints.h"

#include <stdio.h>

#include "info.h"
#include "version.h"

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
        body = atrous_kserve_encode_server_metadata(ATROUSD_NAME, ATROUSD_VERSION, &len);
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
            version_count = atrousd_repo_versions(ctx->repo, plan->model->name, NULL, &versions);
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
        version_count = atrousd_repo_versions(ctx->repo, plan->tfs.model, NULL, &versions);
        body = atrous_tfs_encode_status(&plan->tfs, versions, version_count, &len);
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
