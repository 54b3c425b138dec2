/*
 * endpoints.h - the operations and metadata endpoints: /healthz, /readyz, /metrics, /v1/info,
 * the KServe v2 health, metadata, readiness and config documents, TF Serving status and
 * metadata. Cheap and never behind compute: any thread answers them.
 */
#ifndef ATROUSD_ENDPOINTS_H
#define ATROUSD_ENDPOINTS_H

#include "admission.h"
#include "reply.h"
#include "server_ctx.h"

/* Answers a GET endpoint that admission let through. */
void atrousd_handle_endpoint(struct server_ctx *ctx, const struct http_exchange *ex,
                             const struct request_plan *plan, struct http_reply *reply);

#endif
