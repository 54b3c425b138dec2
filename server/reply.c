/*
 * reply.c - the reply struct's lifetime, the failure table and the error answers built from it.
 */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_json.h"
#include "atrous_tensor.h"
#include "atrous_json_writer.h"

static const unsigned failure_statuses[] = {
#define ATROUSD__FAILURE_STATUS(name, status, code) status,
    ATROUSD_FAILURE_MAP(ATROUSD__FAILURE_STATUS)
#undef ATROUSD__FAILURE_STATUS
};

static const char *const failure_codes[] = {
#define ATROUSD__FAILURE_CODE(name, status, code) code,
    ATROUSD_FAILURE_MAP(ATROUSD__FAILURE_CODE)
#undef ATROUSD__FAILURE_CODE
};

unsigned atrousd_failure_status(enum atrousd_failure failure)
{
    return (unsigned)failure < ATROUSD__FAILURE_COUNT ? failure_statuses[failure] : 500;
}

const char *atrousd_failure_code(enum atrousd_failure failure)
{
    return (unsigned)failure < ATROUSD__FAILURE_COUNT ? failure_codes[failure] : "internal";
}

void http_reply_init(struct http_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
}

void http_reply_release(struct http_reply *reply)
{
    atrous_aligned_free(reply->body);
    http_reply_init(reply);
}

void atrousd_reply_body(struct http_reply *reply, const char *content_type, char *body, size_t len)
{
    atrous_aligned_free(reply->body);
    reply->content_type = content_type;
    reply->body = body;
    reply->body_len = body ? len : 0;
}

void atrousd_reply_fail(struct http_reply *reply, enum atrousd_failure failure, const char *field,
                        const char *request_id, const char *fmt, ...)
{
    va_list ap;
    reply->status = atrousd_failure_status(failure);
    reply->error_code = atrousd_failure_code(failure);
    va_start(ap, fmt);
    vsnprintf(reply->error_message, sizeof(reply->error_message), fmt, ap);
    va_end(ap);
    if (reply->status == 429 || reply->status == 503)
        reply->retry_after_s = ATROUSD_RETRY_AFTER_S;
    size_t len = 0;
    char *body = atrous_json_encode_error(reply->error_message, reply->error_code,
                                          field && field[0] ? field : NULL, request_id, &len);
    atrousd_reply_body(reply, ATROUSD_CONTENT_TYPE_JSON, body, len);
}

enum atrousd_failure atrousd_failure_of(enum atrous_status status)
{
    switch (status) {
    case ATROUS_INVALID_ARGUMENT:
        return ATROUSD_FAIL_INVALID_ARGUMENT;
    case ATROUS_TOO_LARGE:
        return ATROUSD_FAIL_TOO_LARGE;
    case ATROUS_CONTENT_TOO_LARGE:
        return ATROUSD_FAIL_CONTENT_TOO_LARGE;
    case ATROUS_NO_MEMORY:
        return ATROUSD_FAIL_NO_MEMORY;
    default:
        return ATROUSD_FAIL_INTERNAL;
    }
}

void atrousd_reply_status(struct http_reply *reply, enum atrous_status status,
                          const struct atrous_error *err, const char *request_id)
{
    enum atrousd_failure failure = atrousd_failure_of(status);
    switch (failure) {
    case ATROUSD_FAIL_NO_MEMORY:
        snprintf(reply->error_detail, sizeof(reply->error_detail), "%s", err->message);
        atrousd_reply_fail(reply, failure, NULL, request_id,
                           "the server is out of memory for this request; retry later");
        break;
    case ATROUSD_FAIL_INTERNAL:
        snprintf(reply->error_detail, sizeof(reply->error_detail), "%.32s: %.360s",
                 atrous_status_code(status), err->message);
        atrousd_reply_fail(reply, failure, NULL, request_id,
                           "internal error; the server log has the detail under request_id %s",
                           request_id);
        break;
    default:
        atrousd_reply_fail(reply, failure, err->field, request_id, "%s", err->message);
        break;
    }
}

void atrousd_reply_json_status(struct http_reply *reply, unsigned status, const char *value)
{
    struct atrous_jw *w = atrous_jw_create();
    size_t len = 0;
    char *body = NULL;
    if (w != NULL) {
        atrous_jw_object_begin(w);
        atrous_jw_key(w, "status");
        atrous_jw_string(w, value);
        atrous_jw_object_end(w);
        body = atrous_jw_take(w, &len);
        atrous_jw_free(w);
    }
    reply->status = status;
    atrousd_reply_body(reply, ATROUSD_CONTENT_TYPE_JSON, body, len);
}
