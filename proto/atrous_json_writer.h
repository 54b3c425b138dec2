/*
 * atrous_json_writer.h - a small streaming JSON writer for the service's own documents
 * (/healthz, /readyz, /v1/info, error bodies): commas, quoting and escaping handled, output in
 * one growable buffer. server/ builds JSON only through this, never by hand.
 */
#ifndef ATROUS_JSON_WRITER_H
#define ATROUS_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct atrous_jw;

/* Creates a writer. NULL on out of memory. */
struct atrous_jw *atrous_jw_create(void);

/* Frees the writer and any buffer not taken. Accepts NULL. */
void atrous_jw_free(struct atrous_jw *w);

void atrous_jw_object_begin(struct atrous_jw *w);
void atrous_jw_object_end(struct atrous_jw *w);
void atrous_jw_array_begin(struct atrous_jw *w);
void atrous_jw_array_end(struct atrous_jw *w);

/* Inside an object: the next member's key. */
void atrous_jw_key(struct atrous_jw *w, const char *key);

void atrous_jw_string(struct atrous_jw *w, const char *s); /* NULL writes null */
void atrous_jw_int(struct atrous_jw *w, int64_t v);
void atrous_jw_uint(struct atrous_jw *w, uint64_t v);
void atrous_jw_double(struct atrous_jw *w, double v); /* non-finite written as null */
void atrous_jw_float(struct atrous_jw *w, float v);   /* shortest round-trip; NaN/Infinity */
void atrous_jw_bool(struct atrous_jw *w, bool v);
void atrous_jw_null(struct atrous_jw *w);

/* True once any write failed for lack of memory (later writes are ignored). */
bool atrous_jw_failed(const struct atrous_jw *w);

/* Hands over the buffer (malloc'd, NUL-terminated; caller frees) and its length. NULL if the
 * writer failed. The writer is left empty, its failure flag cleared, ready for reuse. */
char *atrous_jw_take(struct atrous_jw *w, size_t *len);

#endif
