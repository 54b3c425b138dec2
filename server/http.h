/*
 * http.h - the HTTP adapter: the only module that includes microhttpd.h. It turns
 * libmicrohttpd callbacks into handler calls on plain structs, buffers request bodies,
 * suspends connections while their op runs on a compute worker, and writes the access log.
 */
#ifndef ATROUSD_HTTP_H
#define ATROUSD_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "atrous_error.h"

struct server_ctx;
struct atrousd_http;

/* Pending connections the kernel may hold before accept. */
#define ATROUSD_LISTEN_BACKLOG 511

/* A chunked body is buffered in steps starting from this size. */
#define ATROUSD_CHUNKED_INITIAL_BYTES ((size_t)64 << 10)

/* After a body passes --max-body-bytes, up to this many more bytes are read and dropped so
 * that the client still gets its 413; a body longer than that has its connection closed. */
#define ATROUSD_DISCARD_MAX_BYTES ((uint64_t)1 << 20)

/*
 * Starts listening on ctx->config.host:port with ctx->config's libmicrohttpd limits
 * (connection timeout, connection limits, per-connection memory) and I/O threads, and sets
 * ctx->port to the bound port. The context must outlive the adapter.
 */
enum atrous_status atrousd_http_start(struct server_ctx *ctx, struct atrousd_http **out,
                                      struct atrous_error *err);

/* Stops accepting connections (new ones are refused); existing ones go on. */
void atrousd_http_quiesce(struct atrousd_http *http);

/* From now on (the drain timeout) no success answer starts: a request whose answer is decided
 * later has its connection closed without one, so the stop that follows cuts no success
 * short. Error answers still go, and answers already started go on. */
void atrousd_http_refuse_answers(struct atrousd_http *http);

/* Answers queued and not yet completed (sent whole, or their connection failed). */
uint64_t atrousd_http_answers_in_progress(struct atrousd_http *http);

/* Waits until no answer is in progress; false when timeout_ms passed first. */
bool atrousd_http_wait_answers(struct atrousd_http *http, uint64_t timeout_ms);

/* Closes every connection and frees the adapter. No connection may be suspended: shut the
 * compute queue down first (it resumes the connections of cancelled jobs). Accepts NULL. */
void atrousd_http_stop(struct atrousd_http *http);

#endif
