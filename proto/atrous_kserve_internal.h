/*
 * atrous_kserve_internal.h - what the KServe v2 codec's files share; only proto/atrous_kserve*.c
 * include it. The inference response (atrous_kserve_encode.c) and the documents
 * (atrous_kserve_meta.c) name models and write dims the same way; the helpers live in
 * atrous_kserve_encode.c.
 */
#ifndef ATROUS_KSERVE_INTERNAL_H
#define ATROUS_KSERVE_INTERNAL_H

#include <stdint.h>

#include "atrous_json_writer.h"
#include "atrous_model.h"

/* Writes dims[0..rank) as a JSON list of integers. */
void atrous__kserve_write_dims(struct atrous_jw *w, const int64_t *dims, int rank);

/* The model's name and version as documents give them; model NULL is the generic model. Both
 * borrowed. */
const char *atrous__kserve_model_name(const struct atrous_model *model);
const char *atrous__kserve_model_version(const struct atrous_model *model);

#endif
