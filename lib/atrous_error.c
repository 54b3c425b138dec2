/*
 * atrous_error.c - names, descriptions and the setter for the library's error list.
 */
#include "atrous_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_codes[] = {
#define ATROUS__CODE(name, code, desc) code,
    ATROUS_ERR_MAP(ATROUS__CODE)
#undef ATROUS__CODE
};

static const char *const status_descriptions[] = {
#define ATROUS__DESC(name, code, desc) desc,
    ATROUS_ERR_MAP(ATROUS__DESC)
#undef ATROUS__DESC
};

const char *atrous_status_code(enum atrous_status status)
{
    if ((int)status < 0 || status >= ATROUS__STATUS_COUNT)
        return "unknown";
    return status_codes[status];
}

const char *atrous_status_describe(enum atrous_status status)
{
    if ((int)status < 0 || status >= ATROUS__STATUS_COUNT)
        return "unknown status";
    return status_descriptions[status];
}

enum atrous_status atrous_error_set(struct atrous_error *err, enum atrous_status status,
                                    const char *field, const char *fmt, ...)
{
    if (err == NULL)
        return status;
    err->status = status;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return status;
}

void atrous_error_clear(struct atrous_error *err)
{
    if (err == NULL)
        return;
    err->status = ATROUS_OK;
    err->field[0] = '\0';
    err->message[0] = '\0';
}
