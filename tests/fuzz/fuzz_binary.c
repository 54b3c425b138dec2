/*
 * fuzz_binary.c - libFuzzer target for the binary request decoder (proto/atrous_binary.c), in
 * the server's two steps: the query parsed once at admission (atrous_binary_decode_query), the
 * body decoded in the worker from that plan (atrous_binary_decode_body).
 *
 * Input: the query string up to the first newline ("value_shape=1,4,4,2&rate=2&..."), then
 * the body. The query is split on '&' and '=' the way the HTTP layer hands it over (already
 * percent-decoded). The decoder must reject or accept without reading outside the body; the
 * plan's body size must be what its shapes imply, and the body must decode exactly when it has
 * that size; an accepted request's tensors must lie inside it.
 */
#include <stdlib.h>
#include <string.h>

#include "atrous_binary.h"

#define MAX_PARAMS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *newline = memchr(data, '\n', size);
    size_t query_len = newline ? (size_t)(newline - data) : size;
    char *query = malloc(query_len + 1);
    if (query == NULL)
        return 0;
    memcpy(query, data, query_len);
    query[query_len] = '\0';
    size_t body_len = newline ? size - query_len - 1 : 0;
    /* The HTTP layer hands over an aligned body; copy to get one (and exact ASan bounds). */
    void *body = aligned_alloc(64, (body_len + 63) / 64 * 64 + 64);
    if (body == NULL) {
        free(query);
        return 0;
    }
    if (body_len)
        memcpy(body, newline + 1, body_len);

    struct atrous_query_param params[MAX_PARAMS];
    size_t count = 0;
    char *save = NULL;
    for (char *pair = strtok_r(query, "&", &save); pair && count < MAX_PARAMS;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (eq)
            *eq = '\0';
        params[count].key = pair;
        params[count].value = eq ? eq + 1 : NULL;
        count++;
    }

    struct atrous_decode_limits limits = {.max_tensor_elements = 1 << 20, .max_depth = 0};
    struct atrous_binary_plan plan;
    struct atrous_request request;
    struct atrous_error err;
    atrous_request_init(&request);
    if (atrous_binary_decode_query(params, count, &limits, &plan, &err) != ATROUS_OK) {
        if (err.message[0] == '\0' || plan.body_bytes != 0)
            abort();
    } else if (atrous_binary_decode_body(&plan, body, body_len, &request, &err) == ATROUS_OK) {
        size_t v, f;
        if (atrous_shape_elements(&request.value_shape, "value", &v, NULL) ||
            atrous_shape_elements(&request.filters_shape, "filters", &f, NULL) ||
            v != plan.value_elements || f != plan.filters_elements ||
            (v + f) * atrous_dtype_size(plan.head.value_dtype) != plan.body_bytes ||
            body_len != plan.body_bytes)
            abort(); /* accepted a body that does not match the shapes */
        volatile float sink = 0;
        for (size_t i = 0; i < v; i++)
            sink += request.value[i];
        for (size_t i = 0; i < f; i++)
            sink += request.filters[i];
        (void)sink;
        struct atrous_problem problem;
        atrous_request_validate(&request, NULL, &problem, &err);
    } else if (err.message[0] == '\0' || body_len == plan.body_bytes) {
        abort(); /* a body of the planned size is never refused */
    }
    atrous_request_release(&request);
    free(body);
    free(query);
    return 0;
}
