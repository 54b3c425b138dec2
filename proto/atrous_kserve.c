/*
 * atrous_kserve.c - KServe v2 / Open Inference Protocol paths: which /v2 route a request path
 * names, the generic model's route, and the error for a model the server lacks. The rest of
 * atrous_kserve.h is in atrous_kserve_decode.c (the inference request), atrous_kserve_encode.c
 * (the inference response) and atrous_kserve_meta.c (the metadata, config and health documents).
 */
#include "atrous_kserve.h"

#include <string.h>

/* /v2/repository/models/{name}/load or /unload: the name (no versions: a load takes them all). */
static bool parse_repository_path(const char *path, struct atrous_kserve_route *out)
{
    static const char prefix[] = "/v2/repository/models/";
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *name = path + sizeof(prefix) - 1;
    size_t len = strcspn(name, "/");
    if (!atrous_model_name_valid(name, len))
        return false;
    if (strcmp(name + len, "/load") == 0)
        out->kind = ATROUS_KSERVE_ROUTE_REPO_LOAD;
    else if (strcmp(name + len, "/unload") == 0)
        out->kind = ATROUS_KSERVE_ROUTE_REPO_UNLOAD;
    else
        return false;
    memcpy(out->model, name, len);
    out->model[len] = '\0';
    return true;
}

bool atrous_kserve_parse_path(const char *path, struct atrous_kserve_route *out)
{
    static const char models[] = "/v2/models/";
    memset(out, 0, sizeof(*out));
    if (strcmp(path, "/v2") == 0)
        out->kind = ATROUS_KSERVE_ROUTE_SERVER_METADATA;
    else if (strcmp(path, "/v2/health/live") == 0)
        out->kind = ATROUS_KSERVE_ROUTE_LIVE;
    else if (strcmp(path, "/v2/health/ready") == 0)
        out->kind = ATROUS_KSERVE_ROUTE_READY;
    else if (strcmp(path, "/v2/models/stats") == 0)
        out->kind = ATROUS_KSERVE_ROUTE_MODEL_STATS;
    else if (strcmp(path, "/v2/repository/index") == 0)
        out->kind = ATROUS_KSERVE_ROUTE_REPO_INDEX;
    if (out->kind != ATROUS_KSERVE_ROUTE_NONE)
        return true;
    if (parse_repository_path(path, out))
        return true;
    memset(out, 0, sizeof(*out));
    if (strncmp(path, models, sizeof(models) - 1) != 0)
        return false;
    const char *rest = atrous_model_parse_path(path + sizeof(models) - 1, out->model, out->version);
    enum atrous_kserve_route_kind kind = ATROUS_KSERVE_ROUTE_NONE;
    if (rest == NULL)
        kind = ATROUS_KSERVE_ROUTE_NONE;
    else if (rest[0] == '\0')
        kind = ATROUS_KSERVE_ROUTE_MODEL_METADATA;
    else if (strcmp(rest, "/ready") == 0)
        kind = ATROUS_KSERVE_ROUTE_MODEL_READY;
    else if (strcmp(rest, "/config") == 0)
        kind = ATROUS_KSERVE_ROUTE_MODEL_CONFIG;
    else if (strcmp(rest, "/infer") == 0)
        kind = ATROUS_KSERVE_ROUTE_INFER;
    else if (strcmp(rest, "/stats") == 0)
        kind = ATROUS_KSERVE_ROUTE_MODEL_STATS;
    if (kind == ATROUS_KSERVE_ROUTE_NONE) {
        memset(out, 0, sizeof(*out));
        return false;
    }
    out->kind = kind;
    return true;
}

bool atrous_kserve_route_generic(const struct atrous_kserve_route *route)
{
    return strcmp(route->model, ATROUS_GENERIC_MODEL_NAME) == 0 &&
           (route->version[0] == '\0' || strcmp(route->version, ATROUS_GENERIC_MODEL_VERSION) == 0);
}

enum atrous_status atrous_kserve_model_missing(const struct atrous_kserve_route *route,
                                               struct atrous_error *err)
{
    if (route->version[0] != '\0')
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "model",
                                "model '%s' version '%s' is not available", route->model,
                                route->version);
    return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "model", "model '%s' is not available",
                            route->model);
}
