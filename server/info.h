/*
 * info.h - the /v1/info document: version and build, the oneDNN engine and the ISA it
 * dispatches to, the thread budget, the effective limits and the whole configuration.
 */
#ifndef ATROUSD_INFO_H
#define ATROUSD_INFO_H

#include <stddef.h>

struct atrous_jw;
struct server_ctx;

/* Renders the document; malloc'd (length in *len), NULL on out of memory. */
char *atrousd_info_render(struct server_ctx *ctx, size_t *len);

/* Writes the thread budget object (usable CPUs, quota, I/O, workers, OpenMP threads); arg is
 * the struct server_ctx. Shared by /v1/info and the start-up log line. */
void atrousd_info_write_threads(struct atrous_jw *w, const void *arg);

/* Writes the memory budget object (budget, in use, peak, refusals, and the container limit or
 * RAM it was derived from); arg is the struct server_ctx. Shared by /v1/info and the start-up
 * log line. */
void atrousd_info_write_memory(struct atrous_jw *w, const void *arg);

#endif
