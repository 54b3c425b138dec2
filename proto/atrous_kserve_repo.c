/*
 * atrous_kserve_repo.c - the repository extension's request bodies (jansson: small control
 * documents) and the index and statistics documents (our JSON writer).
 */
#include "atrous_kserve_repo.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_json_writer.h"
#include "atrous_kserve_dom.h"

/* Parses a control body: an empty (or all-blank) body is no document (*out NULL); anything
 * else must be one JSON object. what names the request in messages. */
static enum atrous_status parse_object(const void *body, size_t len, const char *what, json_t **out,
                                       struct atrous_error *err)
{
    const char *text = body;
    size_t i = 0;
    *out = NULL;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    if (i == len)
        return ATROUS_OK;
    if (len > ATROUS_KSERVE_REPO_MAX_BODY)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "body",
                                "%s: the body is %zu bytes, more than the %zu allowed", what, len,
                                ATROUS_KSERVE_REPO_MAX_BODY);
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "body",
                                "%s: the body is not valid JSON: %s (at byte %d)", what, jerr.text,
                                jerr.position);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "body",
                                "%s: the body must be a JSON object", what);
    }
    *out = doc;
    return ATROUS_OK;
}

/* Every key of obj is one of allowed (NULL-terminated); else the first other is reported. */
static enum atrous_status only_keys(const json_t *obj, const char *const *allowed, const char *what,
                                    const char *where, struct atrous_error *err)
{
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        (void)value;
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (!known)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, key,
                                    "%s: unknown key '%.64s' in %s", what, key, where);
    }
    return ATROUS_OK;
}

/* The "parameters" object of a body (NULL when absent), checked to be an object. */
static enum atrous_status parameters_of(const json_t *doc, const char *what, const json_t **out,
                                        struct atrous_error *err)
{
    static const char *const keys[] = {"parameters", NULL};
    enum atrous_status st = only_keys(doc, keys, what, "the request", err);
    *out = json_object_get(doc, "parameters");
    if (st == ATROUS_OK && *out != NULL && !json_is_object(*out))
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "parameters",
                              "%s: \"parameters\" must be an object", what);
    return st;
}

enum atrous_status atrous_kserve_decode_index_request(const void *body, size_t len,
                                                      bool *ready_only, struct atrous_error *err)
{
    static const char what[] = "repository index";
    static const char *const keys[] = {"ready", NULL};
    json_t *doc = NULL;
    enum atrous_status st = parse_object(body, len, what, &doc, err);
    *ready_only = false;
    if (st != ATROUS_OK || doc == NULL)
        return st;
    if ((st = only_keys(doc, keys, what, "the request", err)) == ATROUS_OK) {
        const json_t *ready = json_object_get(doc, "ready");
        if (ready != NULL && !json_is_boolean(ready))
            st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "ready",
                                  "%s: \"ready\" must be true or false", what);
        else
            *ready_only = json_is_true(ready);
    }
    json_decref(doc);
    return st;
}

enum atrous_status atrous_kserve_decode_load_request(const void *body, size_t len,
                                                     struct atrous_kserve_load_request *out,
                                                     struct atrous_error *err)
{
    static const char what[] = "load";
    const json_t *params = NULL;
    json_t *doc = NULL;
    memset(out, 0, sizeof(*out));
    enum atrous_status st = parse_object(body, len, what, &doc, err);
    if (st != ATROUS_OK || doc == NULL || (st = parameters_of(doc, what, &params, err)) ||
        params == NULL)
        goto out;
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)params, key, value)
    {
        if (strncmp(key, "file:", 5) == 0) {
            st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, key,
                                  "%s: parameter '%.64s': file overrides are not supported; put "
                                  "the filters file in the model's folder and name it in the "
                                  "config",
                                  what, key);
            goto out;
        }
        if (strcmp(key, "config") != 0) {
            st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, key,
                                  "%s: unknown parameter '%.64s' (only \"config\" is taken)", what,
                                  key);
            goto out;
        }
    }
    const json_t *config = json_object_get(params, "config");
    if (config == NULL)
        goto out;
    if (!json_is_string(config)) {
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "config",
                              "%s: \"config\" must be a string holding the model's config "
                              "document (JSON, the keys of config.json)",
                              what);
        goto out;
    }
    out->config_len = json_string_length(config);
    out->config = malloc(out->config_len + 1);
    if (out->config == NULL) {
        st = atrous_error_set(err, ATROUS_NO_MEMORY, "config", "%s: out of memory", what);
        goto out;
    }
    memcpy(out->config, json_string_value(config), out->config_len);
    out->config[out->config_len] = '\0';
out:
    json_decref(doc);
    if (st != ATROUS_OK)
        atrous_kserve_load_request_release(out);
    return st;
}

void atrous_kserve_load_request_release(struct atrous_kserve_load_request *request)
{
    free(request->config);
    memset(request, 0, sizeof(*request));
}

enum atrous_status atrous_kserve_decode_unload_request(const void *body, size_t len,
                                                       bool *unload_dependents,
                                                       struct atrous_error *err)
{
    static const char what[] = "unload";
    static const char *const keys[] = {"unload_dependents", NULL};
    const json_t *params = NULL;
    json_t *doc = NULL;
    *unload_dependents = false;
    enum atrous_status st = parse_object(body, len, what, &doc, err);
    if (st != ATROUS_OK || doc == NULL || (st = parameters_of(doc, what, &params, err)) ||
        params == NULL || (st = only_keys(params, keys, what, "\"parameters\"", err)))
        goto out;
    const json_t *dependents = json_object_get(params, "unload_dependents");
    if (dependents != NULL && !json_is_boolean(dependents))
        st = atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "unload_dependents",
                              "%s: \"unload_dependents\" must be true or false", what);
    else
        *unload_dependents = json_is_true(dependents);
out:
    json_decref(doc);
    return st;
}

char *atrous_kserve_encode_index(const struct atrous_kserve_index_entry *entries, size_t count,
                                 size_t *len)
{
    struct atrous_jw *w = atrous_jw_create();
    if (w == NULL)
        return NULL;
    atrous_jw_array_begin(w);
    for (size_t i = 0; i < count; i++) {
        atrous_jw_object_begin(w);
        atrous_jw_key(w, "name");
        atrous_jw_string(w, entries[i].name);
        if (entries[i].version != NULL) {
            atrous_jw_key(w, "version");
            atrous_jw_string(w, entries[i].version);
        }
        atrous_jw_key(w, "state");
        atrous_jw_string(w, entries[i].state);
        atrous_jw_key(w, "reason");
        atrous_jw_string(w, entries[i].reason ? entries[i].reason : "");
        atrous_jw_object_end(w);
    }
    atrous_jw_array_end(w);
    return atrous__dom_finish(w, len);
}

/* "key": {"count": n, "ns": n} */
static void write_duration(struct atrous_jw *w, const char *key,
                           const struct atrous_kserve_duration *d)
{
    atrous_jw_key(w, key);
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "count");
    atrous_jw_uint(w, d->count);
    atrous_jw_key(w, "ns");
    atrous_jw_uint(w, d->ns);
    atrous_jw_object_end(w);
}

static void write_model_stats(struct atrous_jw *w, const struct atrous_kserve_model_stats *s)
{
    static const struct atrous_kserve_duration none = {0, 0};
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "name");
    atrous_jw_string(w, s->name);
    atrous_jw_key(w, "version");
    atrous_jw_string(w, s->version);
    atrous_jw_key(w, "last_inference");
    atrous_jw_uint(w, s->last_inference);
    atrous_jw_key(w, "inference_count");
    atrous_jw_uint(w, s->inference_count);
    atrous_jw_key(w, "execution_count");
    atrous_jw_uint(w, s->execution_count);
    atrous_jw_key(w, "inference_stats");
    atrous_jw_object_begin(w);
    write_duration(w, "success", &s->success);
    write_duration(w, "fail", &s->fail);
    write_duration(w, "queue", &s->queue);
    write_duration(w, "compute_input", &s->compute_input);
    write_duration(w, "compute_infer", &s->compute_infer);
    write_duration(w, "compute_output", &s->compute_output);
    /* No response cache: always zero, but present, as perf_analyzer reads them. */
    write_duration(w, "cache_hit", &none);
    write_duration(w, "cache_miss", &none);
    atrous_jw_object_end(w);
    atrous_jw_key(w, "response_stats");
    atrous_jw_object_begin(w);
    atrous_jw_object_end(w);
    atrous_jw_key(w, "batch_stats");
    atrous_jw_array_begin(w);
    for (size_t i = 0; i < s->batch_count; i++) {
        const struct atrous_kserve_batch_stats *b = &s->batches[i];
        atrous_jw_object_begin(w);
        atrous_jw_key(w, "batch_size");
        atrous_jw_uint(w, b->batch_size);
        write_duration(w, "compute_input", &b->compute_input);
        write_duration(w, "compute_infer", &b->compute_infer);
        write_duration(w, "compute_output", &b->compute_output);
        atrous_jw_object_end(w);
    }
    atrous_jw_array_end(w);
    atrous_jw_key(w, "memory_usage");
    atrous_jw_array_begin(w);
    atrous_jw_array_end(w);
    atrous_jw_object_end(w);
}

char *atrous_kserve_encode_stats(const struct atrous_kserve_model_stats *stats, size_t count,
                                 size_t *len)
{
    struct atrous_jw *w = atrous_jw_create();
    if (w == NULL)
        return NULL;
    atrous_jw_object_begin(w);
    atrous_jw_key(w, "model_stats");
    atrous_jw_array_begin(w);
    for (size_t i = 0; i < count; i++)
        write_model_stats(w, &stats[i]);
    atrous_jw_array_end(w);
    atrous_jw_object_end(w);
    return atrous__dom_finish(w, len);
}
