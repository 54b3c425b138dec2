/*
 * batching.h - same-shape micro-batching of repository-model requests that a compute worker
 * took together (compute_queue.h): stacked along N into one compute call, answered one by one.
 */
#ifndef ATROUSD_BATCHING_H
#define ATROUSD_BATCHING_H

#include <stddef.h>

#include "admission.h"
#include "atrous_engine.h"
#include "reply.h"
#include "server_ctx.h"

/* One request of a batch. */
struct atrousd_call {
    const struct http_exchange *ex;
    const struct request_plan *plan; /* planned with a batch_class */
    struct http_reply *reply;
};

/*
 * Runs count model requests at once, as atrousd_handle_compute would one by one, with the same
 * answers: each is decoded and validated on its own; those of the same repository model with
 * the same H and W are stacked along N into one compute call of at most --max-batch rows (and
 * within the element limits), whose output is split back to them; the others run alone.
 */
void atrousd_handle_model_batch(struct server_ctx *ctx, const struct atrousd_call *calls,
                                size_t count, struct atrous_workspace *workspace);

#endif
