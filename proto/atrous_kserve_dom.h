/*
 * atrous_kserve_dom.h - tensors in a JSON document (json_doc.h), shared by the KServe v2 and
 * TF Serving codecs (atrous_kserve*.c, atrous_tfserving.c). Internal to proto/.
 *
 * Both protocols put tensors in JSON as flat or nested lists of numbers. These helpers parse
 * the body, infer a nested list's shape, copy numbers into typed buffers with every element
 * checked (type, range, rectangularity against the shape), and write float tensors back out,
 * flat or nested, through the JSON writer.
 *
 * Cost: the document keeps a rectangular list of numbers as one value whose numbers were
 * converted to float32 while parsing (4 bytes each, see json_doc.h), so reading an FP32 tensor
 * is a checked copy; integers are re-read exactly from the text. A JSON tensor still costs a
 * few times the time of the binary extension (which is used in place), so the codecs refuse
 * JSON documents over a byte limit of their own (ATROUS_DOM_DEFAULT_MAX_JSON_BYTES unless
 * configured). The grammar is strict JSON: NaN and Infinity tokens are rejected.
 */
#ifndef ATROUS_KSERVE_DOM_H
#define ATROUS_KSERVE_DOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_error.h"
#include "atrous_json_writer.h"
#include "atrous_tensor.h"
#include "json_doc.h"

/* The default cap on one JSON document. A tensor's numbers cost 4 bytes each while parsed (up
 * to 12 while their array grows), but JSON that is not tensors costs a value of a few dozen bytes
 * per element: 16 MiB of it can take a few hundred MiB while parsed. */
#define ATROUS_DOM_DEFAULT_MAX_JSON_BYTES ((size_t)16 << 20)

/* The limits a codec enforces, from its configured values: the JSON byte cap (0 =
 * ATROUS_DOM_DEFAULT_MAX_JSON_BYTES) and the per-tensor element cap (0, or above
 * ATROUS_MAX_ELEMENTS_HARD, = ATROUS_MAX_ELEMENTS_HARD). */
size_t atrous__dom_max_json(size_t configured);
size_t atrous__dom_max_elements(size_t configured);

/* Element types the codecs read. */
enum atrous__dom_type {
    ATROUS__DOM_F32,
    ATROUS__DOM_I32,
    ATROUS__DOM_I64,
};

/* Parses len bytes of JSON (the whole text must be one value; duplicate keys rejected, nesting
 * at most ATROUS_JSON_DEFAULT_MAX_DEPTH deep) into *out (atrous__jd_free it). Syntax errors
 * are "invalid JSON at byte N: ..." (ATROUS_INVALID_ARGUMENT, field ""). */
enum atrous_status atrous__dom_parse(const char *text, size_t len, struct atrous__jd **out,
                                     struct atrous_error *err);

/* The shape of a nested list: the length at each level, following first elements, until a
 * non-list (or an empty list). At most max_rank levels, else ATROUS_INVALID_ARGUMENT naming
 * field. */
enum atrous_status atrous__dom_nested_shape(const struct atrous__jd_value *v, int max_rank,
                                            const char *field, struct atrous_shape *out,
                                            struct atrous_error *err);

/*
 * Copies the numbers of data into dst (count = elements of shape, already bounded by the
 * caller) as type. data is either nested exactly as shape says (every level checked), or, when
 * allow_flat, a flat list of count numbers. Integers must be integral and in the type's range
 * (read exactly from the text: 1, 1.0 and 1e0 are 1); floats must stay finite as float32 (the
 * nearest double, then cast, as TF Serving converts). Messages name field and the element's
 * row-major index.
 */
enum atrous_status atrous__dom_read(const struct atrous__jd_value *data,
                                    const struct atrous_shape *shape, bool allow_flat,
                                    enum atrous__dom_type type, void *dst, const char *field,
                                    struct atrous_error *err);

/* Writes count floats as a flat JSON array. */
void atrous__dom_write_flat(struct atrous_jw *w, const float *data, size_t count);

/* Writes data as nested arrays of dims[0..rank) (row-major); rank 0 writes one number. */
void atrous__dom_write_nested(struct atrous_jw *w, const int64_t *dims, int rank,
                              const float *data);

/* Takes the writer's document (NULL when a write failed for lack of memory; length in *len)
 * and frees the writer. w may be NULL (a failed create): NULL is returned. */
char *atrous__dom_finish(struct atrous_jw *w, size_t *len);

/* Takes the writer's text into *out / *out_len; ATROUS_NO_MEMORY if any write failed. */
enum atrous_status atrous__dom_take(struct atrous_jw *w, char **out, size_t *out_len,
                                    struct atrous_error *err);

#endif
