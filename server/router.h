/*
 * router.h - the service's endpoints: which path is which, which methods each allows (the
 * Allow header of a 405), and the label each carries in metrics. The native endpoints are
 * exact paths; the KServe v2 (/v2/...) and TF Serving (/v1/models/...) paths are parsed by
 * their codecs, which also read the model name and version out of them.
 */
#ifndef ATROUSD_ROUTER_H
#define ATROUSD_ROUTER_H

#include <stdbool.h>

#include "atrous_kserve.h"
#include "atrous_tfserving.h"

#define ATROUSD_OP_PATH "/v1/atrous_conv2d_transpose"

enum atrousd_endpoint {
    ATROUSD_EP_OP,      /* POST /v1/atrous_conv2d_transpose */
    ATROUSD_EP_HEALTHZ, /* GET /healthz */
    ATROUSD_EP_READYZ,  /* GET /readyz */
    ATROUSD_EP_METRICS, /* GET /metrics */
    ATROUSD_EP_INFO,    /* GET /v1/info */
    /* KServe v2 */
    ATROUSD_EP_V2_SERVER,         /* GET /v2 */
    ATROUSD_EP_V2_LIVE,           /* GET /v2/health/live */
    ATROUSD_EP_V2_READY,          /* GET /v2/health/ready */
    ATROUSD_EP_V2_MODEL_METADATA, /* GET /v2/models/{name}[/versions/{v}] */
    ATROUSD_EP_V2_MODEL_READY,    /* GET .../ready */
    ATROUSD_EP_V2_MODEL_CONFIG,   /* GET .../config */
    ATROUSD_EP_V2_INFER,          /* POST .../infer */
    ATROUSD_EP_V2_MODEL_STATS,    /* GET /v2/models[/{name}[/versions/{v}]]/stats */
    ATROUSD_EP_V2_REPO_INDEX,     /* POST /v2/repository/index */
    ATROUSD_EP_V2_REPO_LOAD,      /* POST /v2/repository/models/{name}/load */
    ATROUSD_EP_V2_REPO_UNLOAD,    /* POST /v2/repository/models/{name}/unload */
    /* TF Serving v1 */
    ATROUSD_EP_TFS_STATUS,   /* GET /v1/models/{name}[/versions/{v}] */
    ATROUSD_EP_TFS_METADATA, /* GET .../metadata */
    ATROUSD_EP_TFS_PREDICT,  /* POST ...:predict */
    ATROUSD_EP_UNKNOWN,      /* anything else: 404 */
    ATROUSD_EP_COUNT
};

/* The endpoint a path (without the query string) names. Exact match, case-sensitive, for the
 * native paths; the codecs' parsers for /v2 and /v1/models paths. */
enum atrousd_endpoint atrousd_route(const char *path);

/* atrousd_route(), also filling the parsed KServe or TF Serving route (model name and version)
 * when the path is one; either out-parameter may be NULL. */
enum atrousd_endpoint atrousd_route_parse(const char *path, struct atrous_kserve_route *kserve,
                                          struct atrous_tfs_route *tfs);

/* True for endpoints that take a request body and run on a compute worker (the op, KServe
 * infer, TF Serving predict). */
bool atrousd_route_computes(enum atrousd_endpoint endpoint);

/* True for endpoints that name a model (KServe model routes, TF Serving routes; the statistics
 * route only when its path names one). */
bool atrousd_route_names_model(enum atrousd_endpoint endpoint);

/* True for the TF Serving endpoints. */
bool atrousd_route_is_tfs(enum atrousd_endpoint endpoint);

/* True for the repository extension's endpoints (index, load, unload): they read or change the
 * model repository, so they run on the model manager's thread (models.h), never an I/O thread. */
bool atrousd_route_manages_models(enum atrousd_endpoint endpoint);

/* True for endpoints whose body is kept and that a worker thread answers (compute and
 * repository endpoints); the others are answered on the I/O thread, their bodies dropped. */
bool atrousd_route_on_worker(enum atrousd_endpoint endpoint);

/* True when method may be used on the endpoint (HEAD wherever GET is). */
bool atrousd_route_allows(enum atrousd_endpoint endpoint, const char *method);

/* The Allow header value for a 405 ("POST" or "GET, HEAD"). */
const char *atrousd_route_allow_header(enum atrousd_endpoint endpoint);

/* Bounded label for metrics and logs: "op", "healthz", ..., "other". */
const char *atrousd_route_label(enum atrousd_endpoint endpoint);

#endif
