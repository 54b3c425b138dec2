/*
 * router.h - the service's endpoints: which path is which, which methods each allows (the
 * Allow header of a 405), and the label each carries in metrics.
 */
#ifndef ATROUSD_ROUTER_H
#define ATROUSD_ROUTER_H

#include <stdbool.h>

#define ATROUSD_OP_PATH "/v1/atrous_conv2d_transpose"

enum atrousd_endpoint {
    ATROUSD_EP_OP,      /* POST /v1/atrous_conv2d_transpose */
    ATROUSD_EP_HEALTHZ, /* GET /healthz */
    ATROUSD_EP_READYZ,  /* GET /readyz */
    ATROUSD_EP_METRICS, /* GET /metrics */
    ATROUSD_EP_INFO,    /* GET /v1/info */
    ATROUSD_EP_UNKNOWN, /* anything else: 404 */
    ATROUSD_EP_COUNT
};

/* The endpoint a path (without the query string) names. Exact match, case-sensitive. */
enum atrousd_endpoint atrousd_route(const char *path);

/* True when method may be used on the endpoint (HEAD wherever GET is). */
bool atrousd_route_allows(enum atrousd_endpoint endpoint, const char *method);

/* The Allow header value for a 405 ("POST" or "GET, HEAD"). */
const char *atrousd_route_allow_header(enum atrousd_endpoint endpoint);

/* Bounded label for metrics and logs: "op", "healthz", ..., "other". */
const char *atrousd_route_label(enum atrousd_endpoint endpoint);

#endif
