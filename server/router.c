/*
 * router.c - a fixed table of five endpoints.
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
    [ATROUSD_EP_UNKNOWN] = {NULL, "", "other"},
};

enum atrousd_endpoint atrousd_route(const char *path)
{
    for (int i = 0; i < ATROUSD_EP_UNKNOWN; i++) {
        if (path != NULL && strcmp(path, routes[i].path) == 0)
            return (enum atrousd_endpoint)i;
    }
    return ATROUSD_EP_UNKNOWN;
}

bool atrousd_route_allows(enum atrousd_endpoint endpoint, const char *method)
{
    if (endpoint >= ATROUSD_EP_UNKNOWN || method == NULL)
        return false;
    if (endpoint == ATROUSD_EP_OP)
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
