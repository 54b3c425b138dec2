/*
 * http_client.h - a minimal raw-socket HTTP/1.1 client for the integration tests (no libcurl):
 * it sends whatever bytes a test gives it (lying Content-Length, chunked bodies, half a
 * request) and reads back the status, the headers and the body.
 *
 * Every call is bounded by a timeout in milliseconds. Responses are read one at a time with
 * no pipelining: bytes after the end of one response are dropped.
 */
#ifndef TESTS_HTTP_CLIENT_H
#define TESTS_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Generous: the suite must not be timing-flaky on a loaded 2-core machine. */
#define HTTP_CLIENT_TIMEOUT_MS 30000

struct http_client_header {
    char *name;
    char *value;
};

struct http_client_response {
    int status;
    struct http_client_header *headers;
    size_t header_count;
    char *body; /* NUL-terminated (not counted in body_len); NULL when empty */
    size_t body_len;
};

/* Connects to 127.0.0.1:port. Returns the socket, or -1 (errno says why: ECONNREFUSED when
 * nothing listens). */
int http_client_connect(uint16_t port, int timeout_ms);

/* Sends len bytes. Returns 0, or -1 on error or timeout. */
int http_client_send(int fd, const void *data, size_t len, int timeout_ms);

/* Sends a printf-formatted string. */
int http_client_sendf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads one response (skipping 100 Continue). head: the request was HEAD (no body follows).
 * Returns 0, or -1 when the connection closed or timed out before a whole response. */
int http_client_read(int fd, bool head, int timeout_ms, struct http_client_response *out);

/* Waits until the server closes the connection (EOF or reset), reading and dropping data.
 * Returns 0 when closed within the timeout, else -1. */
int http_client_wait_closed(int fd, int timeout_ms);

/* The value of a header (case-insensitive name), or NULL. */
const char *http_client_header(const struct http_client_response *r, const char *name);

void http_client_response_free(struct http_client_response *r);

/* Sends one request on fd: "METHOD target HTTP/1.1", Host, the given headers ("Name: value"
 * strings, NULL-terminated; may be NULL), Content-Length when body is not NULL, the body.
 * Returns 0, or -1. */
int http_client_send_request(int fd, const char *method, const char *target,
                             const char *const *headers, const void *body, size_t len);

/* Sends a chunked body on fd (after headers that said Transfer-Encoding: chunked): chunks of
 * uneven sizes (1, 4, 13, 40, ... bytes), so that chunk and read boundaries fall anywhere, then
 * the last chunk. Returns 0, or -1. */
int http_client_send_chunks(int fd, const void *body, size_t len);

/* One request on a fresh connection (as http_client_send_request sends it) and its answer.
 * Returns 0 with *out filled, or -1. */
int http_client_request(uint16_t port, const char *method, const char *target,
                        const char *const *headers, const void *body, size_t len,
                        struct http_client_response *out);

/* --- The op endpoint's two request forms and its answers (tests of atrousd) --- */

#include "atrous_tensor.h"

#define HTTP_CLIENT_OP_PATH "/v1/atrous_conv2d_transpose"

/* The op's arguments as plain arrays (any ranks and lengths, as a test wants to send them). */
struct http_op_args {
    struct atrous_shape value_shape;
    const float *value;
    size_t value_count;
    struct atrous_shape filters_shape;
    const float *filters;
    size_t filters_count;
    const int64_t *output_shape;
    size_t output_shape_len;
    int64_t rate;
    const char *padding;
};

/* {"value": {"shape", "data"}, "filters": ..., "output_shape", "rate", "padding"} (malloc'd,
 * length in *len), or NULL. Floats are written so that they read back bit-exact. */
char *http_op_json(const struct http_op_args *a, size_t *len);

/* The binary form's target: HTTP_CLIENT_OP_PATH?value_shape=..&filters_shape=..&... with the
 * padding percent-encoded (malloc'd), or NULL. */
char *http_op_binary_target(const struct http_op_args *a);

/* The binary form's body: value then filters as float32 little-endian (malloc'd, length in
 * *len; NULL with *len 0 when both are empty). */
void *http_op_binary_body(const struct http_op_args *a, size_t *len);

enum http_op_form {
    HTTP_OP_JSON,
    HTTP_OP_BINARY,
};

/* Sends the op in a form on fd, with an Accept header when accept is not NULL and extra
 * headers (NULL-terminated, may be NULL); the answer is read later with http_client_read.
 * Returns 0, or -1. */
int http_op_send(int fd, const struct http_op_args *a, enum http_op_form form, const char *accept,
                 const char *const *extra);

/* POSTs the op in a form on a fresh connection, with an Accept header when accept is not
 * NULL and extra headers (NULL-terminated, may be NULL). Returns 0 with *out filled, or -1. */
int http_op_call(uint16_t port, const struct http_op_args *a, enum http_op_form form,
                 const char *accept, const char *const *extra, struct http_client_response *out);

/* Connects and sends the op in a form (no Accept, no extra headers); the answer is read later
 * with http_client_read. Returns the socket, or -1. */
int http_op_open(uint16_t port, const struct http_op_args *a, enum http_op_form form);

/* A binary op request held half-uploaded: a request in flight for as long as a test wants. */
struct http_upload {
    int fd;
    void *body; /* the whole body; the first len / 2 bytes are sent */
    size_t len;
};

/* Connects, sends the binary form's headers and the first half of its body. Returns 0, or -1. */
int http_op_start_upload(uint16_t port, const struct http_op_args *a, struct http_upload *up);

/* Sends the rest of the body and reads the answer. Returns 0 with *out filled, or -1. */
int http_op_finish_upload(struct http_upload *up, struct http_client_response *out);

/* Closes the connection and frees the body. */
void http_op_upload_free(struct http_upload *up);

/* A decoded answer of the op: output shape and data, from either form. */
struct http_op_output {
    int64_t shape[8];
    int rank;
    float *data;
    size_t count;
};

/* Parses {"output": {"shape", "dtype": "float32", "data"}} with an optional
 * "compute_precision" ("f32" or "bf16"). Returns 0, or -1 when it is not that. */
int http_op_parse_json(const char *body, size_t len, struct http_op_output *out);

/* Parses an answer by its Content-Type (JSON or binary). */
int http_op_parse(const struct http_client_response *r, struct http_op_output *out);

/* Parses a binary answer: X-Output-Shape "1,4,4,3" and a float32 body of that many elements.
 * Returns 0, or -1 when header and body disagree. */
int http_op_parse_binary(const struct http_client_response *r, struct http_op_output *out);

void http_op_output_free(struct http_op_output *out);

struct corpus_case;

/* Fills a with a SAME-padded problem of these value and filters shapes (output shape from
 * them), rate, and zeroed data that a owns. Returns 0, or -1 on out of memory. */
int http_op_zeros(struct http_op_args *a, const int64_t value[4], const int64_t filters[4],
                  int64_t rate);

/* Frees what http_op_zeros allocated. */
void http_op_zeros_free(struct http_op_args *a);

/* The arguments of a corpus case (borrowed from it). */
void http_op_args_from_case(const struct corpus_case *c, struct http_op_args *out);

/* Checks an answer against an expected shape and values under the corpus tolerance
 * (|got - exp| <= 1e-4 + 1e-4*|exp|, exact shape, no NaN/Inf). Returns 0, or -1 with the
 * reason in why. */
int http_op_check(const struct http_op_output *got, const struct atrous_shape *shape,
                  const float *expected, size_t count, char *why, size_t why_size);

/* A JSON error body {"error", "code", "field", "request_id"}; the strings are malloc'd,
 * field NULL when null. */
struct http_error_body {
    char *error, *code, *field, *request_id;
};

/* Parses an error body; -1 unless it has exactly those four keys with the right types. */
int http_error_parse(const char *body, size_t len, struct http_error_body *out);
void http_error_free(struct http_error_body *e);

#endif
