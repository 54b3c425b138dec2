/*
 * atrous_error.h - the library's one list of error codes and the error struct that carries a
 * human message naming the argument at fault.
 *
 * Every fallible function in lib/ returns an enum atrous_status and, when given a non-NULL
 * struct atrous_error, fills it with the argument name ("value", "filters", "output_shape",
 * "rate", "padding", or "" when no argument is at fault) and a message that quotes the
 * caller's own shapes. HTTP status codes are chosen in server/, never here.
 */
#ifndef ATROUS_ERROR_H
#define ATROUS_ERROR_H

#include <stddef.h>

/* X(NAME, "code string", "description"): expanded into the enum, the code names and the
 * descriptions so that the three can never disagree. The code strings are stable: they are
 * part of the wire contract (the "code" field of error bodies). TOO_LARGE is a size computed from
 * the request (elements from shapes, the output) over a limit; CONTENT_TOO_LARGE is the bytes
 * received over one (a JSON document over its limit): the server answers them 400 and 413. */
#define ATROUS_ERR_MAP(X)                                                                          \
    X(OK, "ok", "success")                                                                         \
    X(INVALID_ARGUMENT, "invalid_argument", "an argument is malformed or inconsistent")            \
    X(TOO_LARGE, "too_large", "a tensor or size exceeds a configured or arithmetic limit")         \
    X(CONTENT_TOO_LARGE, "too_large", "the content itself exceeds a configured byte limit")        \
    X(NO_MEMORY, "out_of_memory", "memory could not be allocated")                                 \
    X(ENGINE, "engine_failure", "the compute engine (oneDNN) failed")                              \
    X(INTERNAL, "internal", "an internal invariant failed")

enum atrous_status {
#define ATROUS__ENUM(name, code, desc) ATROUS_##name,
    ATROUS_ERR_MAP(ATROUS__ENUM)
#undef ATROUS__ENUM
        ATROUS__STATUS_COUNT
};

/* Longest message we keep; longer ones are truncated (never overflowed). */
#define ATROUS_ERROR_MESSAGE_MAX 400
#define ATROUS_ERROR_FIELD_MAX   32

struct atrous_error {
    enum atrous_status status;
    char field[ATROUS_ERROR_FIELD_MAX];     /* argument at fault, "" when none */
    char message[ATROUS_ERROR_MESSAGE_MAX]; /* full sentence for the user */
};

/* The stable code string of a status ("invalid_argument"); "unknown" for out-of-range values. */
const char *atrous_status_code(enum atrous_status status);

/* A one-line description of a status. */
const char *atrous_status_describe(enum atrous_status status);

/* Records status, field and a printf-style message into err (which may be NULL) and returns
 * status, so callers can write `return atrous_error_set(err, ...)`. */
enum atrous_status atrous_error_set(struct atrous_error *err, enum atrous_status status,
                                    const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Resets err (may be NULL) to ATROUS_OK with empty field and message. */
void atrous_error_clear(struct atrous_error *err);

#endif
