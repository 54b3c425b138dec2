/*
 * router.c - a fixed table of the native endpoints, and the KServe v2 and TF Serving paths
 * through their codecs' parsers.
 */
#include "router.h"

#include <string.h>

struct route {
    const char *path;
    const char *allow; /* methods, as the Allow header lists them */
    const char *label;
};

static const struct route routes[ATROUSD_EP_COUNT] = {
    [ATROUSD_EP_OP] = {ATROUSD_OP_PATH, "POST", "op"},
    [ATROUSD_EP_HEALTHZ] = {"/healthz", "GET, HEAD", "healthz"},
    [ATROUSD_EP_READYZ] = {"/readyz", "GET, HEAD", "readyz"},
    [ATROUSD_EP_METRICS] = {"/metrics", "GET, HEAD", "metrics"},
    [ATROUSD_EP_INFO] = {"/v1/info", "GET, HEAD", "info"},
    [ATROUSD_EP_V2_SERVER] = {NULL, "GET, HEAD", "v2_server"},
    [ATROUSD_EP_V2_LIVE] = {NULL, "GET, HEAD", "v2_live"},
    [ATROUSD_EP_V2_READY] = {NULL, "GET, HEAD", "v2_ready"},
    [ATROUSD_EP_V2_MODEL_METADATA] = {NULL, "GET, HEAD", "v2_model_metadata"},
    [ATROUSD_EP_V2_MODEL_READY] = {NULL, "GET, HEAD", "v2_model_ready"},
    [ATROUSD_EP_V2_MODEL_CONFIG] = {NULL, "GET, HEAD", "v2_model_config"},
    [ATROUSD_EP_V2_INFER] = {NULL, "POST", "v2_infer"},
    [ATROUSD_EP_V2_MODEL_STATS] = {NULL, "GET, HEAD", "v2_model_stats"},
    [ATROUSD_EP_V2_REPO_INDEX] = {NULL, "POST", "v2_repository_index"},
    [ATROUSD_EP_V2_REPO_LOAD] = {NULL, "POST", "v2_repository_load"},
    [ATROUSD_EP_V2_REPO_UNLOAD] = {NULL, "POST", "v2_repository_unload"},
    [ATROUSD_EP_TFS_STATUS] = {NULL, "GET, HEAD", "tfs_status"},
    [ATROUSD_EP_TFS_METADATA] = {NULL, "GET, HEAD", "tfs_metadata"},
    [ATROUSD_EP_TFS_PREDICT] = {NULL, "POST", "tfs_predict"},
    [ATROUSD_EP_UNKNOWN] = {NULL, "", "other"},
};

static const enum atrousd_endpoint kserve_endpoints[] = {
    [ATROUS_KSERVE_ROUTE_NONE] = ATROUSD_EP_UNKNOWN,
    [ATROUS_KSERVE_ROUTE_SERVER_METADATA] = ATROUSD_EP_V2_SERVER,
    [ATROUS_KSERVE_ROUTE_LIVE] = ATROUSD_EP_V2_LIVE,
    [ATROUS_KSERVE_ROUTE_READY] = ATROUSD_EP_V2_READY,
    [ATROUS_KSERVE_ROUTE_MODEL_METADATA] = ATROUSD_EP_V2_MODEL_METADATA,
    [ATROUS_KSERVE_ROUTE_MODEL_READY] = ATROUSD_EP_V2_MODEL_READY,
    [ATROUS_KSERVE_ROUTE_MODEL_CONFIG] = ATROUSD_EP_V2_MODEL_CONFIG,
    [ATROUS_KSERVE_ROUTE_INFER] = ATROUSD_EP_V2_INFER,
    [ATROUS_KSERVE_ROUTE_MODEL_STATS] = ATROUSD_EP_V2_MODEL_STATS,
    [ATROUS_KSERVE_ROUTE_REPO_INDEX] = ATROUSD_EP_V2_REPO_INDEX,
    [ATROUS_KSERVE_ROUTE_REPO_LOAD] = ATROUSD_EP_V2_REPO_LOAD,
    [ATROUS_KSERVE_ROUTE_REPO_UNLOAD] = ATROUSD_EP_V2_REPO_UNLOAD,
};

static const enum atrousd_endpoint tfs_endpoints[] = {
    [ATROUS_TFS_ROUTE_NONE] = ATROUSD_EP_UNKNOWN,
    [ATROUS_TFS_ROUTE_STATUS] = ATROUSD_EP_TFS_STATUS,
    [ATROUS_TFS_ROUTE_METADATA] = ATROUSD_EP_TFS_METADATA,
    [ATROUS_TFS_ROUTE_PREDICT] = ATROUSD_EP_TFS_PREDICT,
};

enum atrousd_endpoint atrousd_route_parse(const char *path, struct atrous_kserve_route *kserve,
                                          struct atrous_tfs_route *tfs)
{
    struct atrous_kserve_route k;
    struct atrous_tfs_route t;
    if (path == NULL)
        return ATROUSD_EP_UNKNOWN;
    for (int i = 0; i <= ATROUSD_EP_INFO; i++) {
        if (strcmp(path, routes[i].path) == 0)
            return (enum atrousd_endpoint)i;
    }
    if (atrous_kserve_parse_path(path, &k) &&
        k.kind < sizeof(kserve_endpoints) / sizeof(kserve_endpoints[0])) {
        if (kserve != NULL)
            *kserve = k;
        return kserve_endpoints[k.kind];
    }
    if (atrous_tfs_parse_path(path, &t) &&
        t.kind < sizeof(tfs_endpoints) / sizeof(tfs_endpoints[0])) {
        if (tfs != NULL)
            *tfs = t;
        return tfs_endpoints[t.kind];
    }
    return ATROUSD_EP_UNKNOWN;
}

enum atrousd_endpoint atrousd_route(const char *path)
{
    return atrousd_route_parse(path, NULL, NULL);
}

bool atrousd_route_computes(enum atrousd_endpoint endpoint)
{
    return endpoint == ATROUSD_EP_OP || endpoint == ATROUSD_EP_V2_INFER ||
           endpoint == ATROUSD_EP_TFS_PREDICT;
}

bool atrousd_route_names_model(enum atrousd_endpoint endpoint)
{
    return (endpoint >= ATROUSD_EP_V2_MODEL_METADATA && endpoint <= ATROUSD_EP_V2_MODEL_STATS) ||
           atrousd_route_is_tfs(endpoint);
}

bool atrousd_route_is_tfs(enum atrousd_endpoint endpoint)
{
    return endpoint >= ATROUSD_EP_TFS_STATUS && endpoint <= ATROUSD_EP_TFS_PREDICT;
}

bool atrousd_route_manages_models(enum atrousd_endpoint endpoint)
{
    return endpoint >= ATROUSD_EP_V2_REPO_INDEX && endpoint <= ATROUSD_EP_V2_REPO_UNLOAD;
}

bool atrousd_route_on_worker(enum atrousd_endpoint endpoint)
{
    return atrousd_route_computes(endpoint) || atrousd_route_manages_models(endpoint);
}

bool atrousd_route_allows(enum atrousd_endpoint endpoint, const char *method)
{
    if (endpoint >= ATROUSD_EP_UNKNOWN || method == NULL)
        return false;
    if (strcmp(routes[endpoint].allow, "POST") == 0)
        return strcmp(method, "POST") == 0;
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

const char *atrousd_route_allow_header(enum atrousd_endpoint endpoint)
{
    return endpoint < ATROUSD_EP_COUNT ? routes[endpoint].allow : "";
}

const char *atrousd_route_label(enum atrousd_endpoint endpoint)
{
    return endpoint < ATROUSD_EP_COUNT ? routes[endpoint].label : "other";
}
