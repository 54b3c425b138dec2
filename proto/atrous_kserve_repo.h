/*
 * atrous_kserve_repo.h - the wire side of two Triton extensions to KServe v2 (proto/KSERVE.md):
 *
 *   model repository   POST /v2/repository/index, /v2/repository/models/{name}/load and
 *                      /unload: their request bodies decoded, the index document encoded
 *                      (https://github.com/triton-inference-server/server/blob/main/docs/
 *                      protocol/extension_model_repository.md);
 *   statistics         GET /v2/models[/{name}[/versions/{v}]]/stats: the document encoded
 *                      from plain counters (.../extension_statistics.md).
 *
 * The bodies are what Triton's clients send: tritonclient's get_model_repository_index posts an
 * empty body, load_model {} or {"parameters": {"config": "<a config document>"}}, unload_model
 * {"parameters": {"unload_dependents": false}}. Unknown keys are errors, as everywhere in
 * atrousd. The server decides what a load does (server/models.h); proto only reads the words.
 */
#ifndef ATROUS_KSERVE_REPO_H
#define ATROUS_KSERVE_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_error.h"

/* Largest body of a repository request: a config override of ATROUS_MODEL_CONFIG_MAX_BYTES
 * escaped as a JSON string can take up to six bytes per byte in the worst case; four times is
 * plenty for any config a person writes, and bounds what the server buffers. */
#define ATROUS_KSERVE_REPO_MAX_BODY ((size_t)4 << 20)

/* The index request: {"ready": bool} or an empty body. *ready_only: list only models ready
 * for inference. ATROUS_INVALID_ARGUMENT naming the key at fault otherwise. */
enum atrous_status atrous_kserve_decode_index_request(const void *body, size_t len,
                                                      bool *ready_only, struct atrous_error *err);

/* A load request: an empty body, {} or {"parameters": {"config": "<document>"}}. */
struct atrous_kserve_load_request {
    char *config; /* the config override (malloc'd, NUL-terminated), or NULL */
    size_t config_len;
};

/*
 * Decodes a load request. "config" must be a string holding a JSON object (decoded later as a
 * model folder's config.json); Triton's "file:<version>/<name>" parameters are refused with a
 * message saying to put the files in the model's folder. On failure *out is left empty.
 * Returns ATROUS_OK, ATROUS_INVALID_ARGUMENT or ATROUS_NO_MEMORY.
 */
enum atrous_status atrous_kserve_decode_load_request(const void *body, size_t len,
                                                     struct atrous_kserve_load_request *out,
                                                     struct atrous_error *err);
void atrous_kserve_load_request_release(struct atrous_kserve_load_request *request);

/* An unload request: an empty body, {} or {"parameters": {"unload_dependents": bool}}. */
enum atrous_status atrous_kserve_decode_unload_request(const void *body, size_t len,
                                                       bool *unload_dependents,
                                                       struct atrous_error *err);

/* One entry of the index: a model version and its state. */
struct atrous_kserve_index_entry {
    const char *name;
    const char *version; /* NULL: left out (a folder whose config cannot be read) */
    const char *state;   /* "READY", "UNAVAILABLE", ... */
    const char *reason;  /* "" when none */
};

/* [{"name", "version", "state", "reason"}, ...]; malloc'd text (length in *len) or NULL. */
char *atrous_kserve_encode_index(const struct atrous_kserve_index_entry *entries, size_t count,
                                 size_t *len);

/* A cumulative count and duration ($duration_stat). */
struct atrous_kserve_duration {
    uint64_t count, ns;
};

/* One batch size's executions ($batch_stats). */
struct atrous_kserve_batch_stats {
    uint64_t batch_size;
    struct atrous_kserve_duration compute_input, compute_infer, compute_output;
};

/* One model version's statistics ($model_stat). */
struct atrous_kserve_model_stats {
    const char *name, *version;
    uint64_t last_inference; /* ms since the epoch; 0: never */
    uint64_t inference_count, execution_count;
    struct atrous_kserve_duration success, fail, queue, compute_input, compute_infer,
        compute_output;
    const struct atrous_kserve_batch_stats *batches;
    size_t batch_count;
};

/* {"model_stats": [...]} with every field Triton writes (cache_hit and cache_miss zero,
 * response_stats {}, memory_usage []: perf_analyzer reads them all). NULL on out of memory. */
char *atrous_kserve_encode_stats(const struct atrous_kserve_model_stats *stats, size_t count,
                                 size_t *len);

#endif
