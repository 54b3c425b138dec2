/*
 * http_client.c - raw-socket HTTP/1.1 for tests: non-blocking sockets with poll deadlines,
 * Content-Length, chunked and read-until-close bodies.
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "corpus.h"

/* Largest header block accepted from the server. */
#define HEADER_MAX (64 * 1024)
/* Largest body accepted from the server. */
#define BODY_MAX ((size_t)512 << 20)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

int http_client_connect(uint16_t port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
        return fd;
    int64_t deadline = now_ms() + timeout_ms;
    int soerr = errno;
    if (soerr == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0) {
        socklen_t len = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            soerr = errno;
        if (soerr == 0)
            return fd;
    }
    close(fd);
    errno = soerr == EINPROGRESS ? ETIMEDOUT : soerr;
    return -1;
}

int http_client_send(int fd, const void *data, size_t len, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) != 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

int http_client_sendf(int fd, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    int rc = http_client_send(fd, text, (size_t)n, HTTP_CLIENT_TIMEOUT_MS);
    free(text);
    return rc;
}

/* A growing receive buffer over one connection. */
struct reader {
    int fd;
    int64_t deadline;
    char *buf;
    size_t len, cap, pos; /* pos: bytes consumed */
};

/* Reads more bytes; returns the number read, 0 on EOF, -1 on error or timeout. */
static ssize_t fill(struct reader *r)
{
    if (r->cap - r->len < 65536) {
        size_t cap = r->cap ? r->cap * 2 : 131072;
        char *grown = realloc(r->buf, cap);
        if (grown == NULL)
            return -1;
        r->buf = grown;
        r->cap = cap;
    }
    for (;;) {
        ssize_t n = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
        if (n >= 0) {
            r->len += (size_t)n;
            return n;
        }
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        if (wait_fd(r->fd, POLLIN, r->deadline) != 0)
            return -1;
    }
}

/* Makes sure count unread bytes are buffered. */
static int need(struct reader *r, size_t count)
{
    while (r->len - r->pos < count) {
        if (fill(r) <= 0)
            return -1;
    }
    return 0;
}

/* Reads a CRLF-terminated line (without the CRLF) into a fresh string. */
static char *read_line(struct reader *r)
{
    for (;;) {
        char *start = r->buf ? r->buf + r->pos : NULL;
        char *end = start ? memmem(start, r->len - r->pos, "\r\n", 2) : NULL;
        if (end != NULL) {
            size_t n = (size_t)(end - start);
            char *line = strndup(start, n);
            r->pos += n + 2;
            return line;
        }
        if (r->len - r->pos > HEADER_MAX || fill(r) <= 0)
            return NULL;
    }
}

static int add_header(struct http_client_response *out, const char *line)
{
    const char *colon = strchr(line, ':');
    if (colon == NULL)
        return -1;
    struct http_client_header *grown =
        realloc(out->headers, (out->header_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    out->headers = grown;
    const char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t vlen = strlen(value);
    while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
        vlen--;
    grown[out->header_count].name = strndup(line, (size_t)(colon - line));
    grown[out->header_count].value = strndup(value, vlen);
    out->header_count++;
    return 0;
}

static int append_body(struct http_client_response *out, const char *data, size_t n)
{
    if (out->body_len + n > BODY_MAX)
        return -1;
    char *grown = realloc(out->body, out->body_len + n + 1);
    if (grown == NULL)
        return -1;
    memcpy(grown + out->body_len, data, n);
    out->body = grown;
    out->body_len += n;
    out->body[out->body_len] = '\0';
    return 0;
}

static int read_chunked(struct reader *r, struct http_client_response *out)
{
    for (;;) {
        char *line = read_line(r);
        if (line == NULL)
            return -1;
        char *end = NULL;
        unsigned long long size = strtoull(line, &end, 16);
        bool bad = end == line;
        free(line);
        if (bad || size > BODY_MAX || need(r, (size_t)size + 2) != 0)
            return -1;
        if (size == 0) {
            /* Trailers until the empty line. */
            for (;;) {
                char *trailer = read_line(r);
                if (trailer == NULL)
                    return -1;
                bool empty = trailer[0] == '\0';
                free(trailer);
                if (empty)
                    return 0;
            }
        }
        if (append_body(out, r->buf + r->pos, (size_t)size) != 0)
            return -1;
        r->pos += (size_t)size + 2;
    }
}

static int read_one(struct reader *r, bool head, struct http_client_response *out)
{
    char *status_line = read_line(r);
    if (status_line == NULL)
        return -1;
    int status = 0;
    bool ok = sscanf(status_line, "HTTP/1.%*d %d", &status) == 1;
    free(status_line);
    if (!ok)
        return -1;
    out->status = status;
    for (;;) {
        char *line = read_line(r);
        if (line == NULL)
            return -1;
        if (line[0] == '\0') {
            free(line);
            break;
        }
        int rc = add_header(out, line);
        free(line);
        if (rc != 0)
            return -1;
    }
    if (head || status / 100 == 1 || status == 204 || status == 304)
        return 0;
    const char *te = http_client_header(out, "Transfer-Encoding");
    if (te && strcasecmp(te, "chunked") == 0)
        return read_chunked(r, out);
    const char *cl = http_client_header(out, "Content-Length");
    if (cl != NULL) {
        size_t n = (size_t)strtoull(cl, NULL, 10);
        if (n > BODY_MAX || need(r, n) != 0)
            return -1;
        int rc = n ? append_body(out, r->buf + r->pos, n) : 0;
        r->pos += n;
        return rc;
    }
    for (;;) { /* no length: the body runs to the end of the connection */
        ssize_t n = fill(r);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
    }
    int rc = append_body(out, r->buf + r->pos, r->len - r->pos);
    r->pos = r->len;
    return rc;
}

int http_client_read(int fd, bool head, int timeout_ms, struct http_client_response *out)
{
    memset(out, 0, sizeof(*out));
    struct reader r = {.fd = fd, .deadline = now_ms() + timeout_ms};
    int rc;
    for (;;) {
        rc = read_one(&r, head, out);
        if (rc != 0 || out->status != 100)
            break;
        http_client_response_free(out);
    }
    free(r.buf);
    if (rc != 0)
        http_client_response_free(out);
    return rc;
}

int http_client_wait_closed(int fd, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return 0;
        if (n < 0 && wait_fd(fd, POLLIN, deadline) != 0)
            return -1;
    }
}

const char *http_client_header(const struct http_client_response *r, const char *name)
{
    for (size_t i = 0; i < r->header_count; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    }
    return NULL;
}

void http_client_response_free(struct http_client_response *r)
{
    for (size_t i = 0; i < r->header_count; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int http_client_send_request(int fd, const char *method, const char *target,
                             const char *const *headers, const void *body, size_t len)
{
    char *head = NULL;
    size_t head_len = 0;
    FILE *f = open_memstream(&head, &head_len);
    if (f == NULL)
        return -1;
    fprintf(f, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, target);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        fprintf(f, "%s\r\n", headers[i]);
    if (body != NULL)
        fprintf(f, "Content-Length: %zu\r\n", len);
    fputs("\r\n", f);
    fclose(f);
    int rc = http_client_send(fd, head, head_len, HTTP_CLIENT_TIMEOUT_MS);
    free(head);
    if (rc == 0 && body != NULL && len > 0)
        rc = http_client_send(fd, body, len, HTTP_CLIENT_TIMEOUT_MS);
    return rc;
}

int http_client_send_chunks(int fd, const void *body, size_t len)
{
    const char *p = body;
    for (size_t off = 0, step = 1; off < len; off += step, step = step * 3 + 1) {
        size_t n = len - off < step ? len - off : step;
        if (http_client_sendf(fd, "%zx\r\n", n) != 0 ||
            http_client_send(fd, p + off, n, HTTP_CLIENT_TIMEOUT_MS) != 0 ||
            http_client_sendf(fd, "\r\n") != 0)
            return -1;
    }
    return http_client_sendf(fd, "0\r\n\r\n");
}

int http_client_request(uint16_t port, const char *method, const char *target,
                        const char *const *headers, const void *body, size_t len,
                        struct http_client_response *out)
{
    memset(out, 0, sizeof(*out));
    int fd = http_client_connect(port, HTTP_CLIENT_TIMEOUT_MS);
    if (fd < 0)
        return -1;
    int rc = http_client_send_request(fd, method, target, headers, body, len);
    if (rc == 0)
        rc = http_client_read(fd, strcmp(method, "HEAD") == 0, HTTP_CLIENT_TIMEOUT_MS, out);
    close(fd);
    return rc;
}

/* --- op request builders and answer parsers --------------------------------------------- */

static json_t *tensor_json(const struct atrous_shape *shape, const float *data, size_t count)
{
    json_t *dims = json_array(), *values = json_array();
    for (int i = 0; i < shape->rank; i++)
        json_array_append_new(dims, json_integer(shape->dims[i]));
    for (size_t i = 0; i < count; i++)
        json_array_append_new(values, json_real((double)data[i]));
    return json_pack("{s:o,s:o}", "shape", dims, "data", values);
}

char *http_op_json(const struct http_op_args *a, size_t *len)
{
    json_t *out_shape = json_array();
    for (size_t i = 0; i < a->output_shape_len; i++)
        json_array_append_new(out_shape, json_integer(a->output_shape[i]));
    json_t *root = json_pack(
        "{s:o,s:o,s:o,s:I,s:s}", "value", tensor_json(&a->value_shape, a->value, a->value_count),
        "filters", tensor_json(&a->filters_shape, a->filters, a->filters_count), "output_shape",
        out_shape, "rate", (json_int_t)a->rate, "padding", a->padding);
    if (root == NULL)
        return NULL;
    /* jansson writes reals with 17 significant digits: exact for float32 values. */
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (text != NULL)
        *len = strlen(text);
    return text;
}

static void shape_list(FILE *f, const int64_t *dims, size_t count)
{
    for (size_t i = 0; i < count; i++)
        fprintf(f, "%s%lld", i ? "," : "", (long long)dims[i]);
}

char *http_op_binary_target(const struct http_op_args *a)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
    fputs(HTTP_CLIENT_OP_PATH "?value_shape=", f);
    shape_list(f, a->value_shape.dims, (size_t)a->value_shape.rank);
    fputs("&filters_shape=", f);
    shape_list(f, a->filters_shape.dims, (size_t)a->filters_shape.rank);
    fputs("&output_shape=", f);
    shape_list(f, a->output_shape, a->output_shape_len);
    fprintf(f, "&rate=%lld&padding=", (long long)a->rate);
    for (const unsigned char *p = (const unsigned char *)a->padding; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            fputc(*p, f);
        else
            fprintf(f, "%%%02X", *p);
    }
    fclose(f);
    return text;
}

static void put_le(unsigned char *out, const float *data, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &data[i], 4);
        for (int b = 0; b < 4; b++)
            out[i * 4 + (size_t)b] = (unsigned char)(bits >> (8 * b));
    }
}

void *http_op_binary_body(const struct http_op_args *a, size_t *len)
{
    *len = (a->value_count + a->filters_count) * 4;
    if (*len == 0)
        return NULL;
    unsigned char *body = malloc(*len);
    if (body != NULL) {
        put_le(body, a->value, a->value_count);
        put_le(body + a->value_count * 4, a->filters, a->filters_count);
    }
    return body;
}

int http_op_parse_json(const char *body, size_t len, struct http_op_output *out)
{
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(body ? body : "", len, JSON_ALLOW_NUL, NULL);
    json_t *output = json_object_get(root, "output");
    json_t *shape = json_object_get(output, "shape"), *data = json_object_get(output, "data");
    const char *dtype = json_string_value(json_object_get(output, "dtype"));
    /* What the compute ran in, beside the output: "f32" or "bf16" when present. */
    const char *precision = json_string_value(json_object_get(root, "compute_precision"));
    int rc = -1;
    if (json_object_size(root) != (precision != NULL ? 2u : 1u) || !json_is_array(shape) ||
        !json_is_array(data) || dtype == NULL || strcmp(dtype, "float32") != 0 ||
        json_array_size(shape) > 8 ||
        (precision != NULL && strcmp(precision, "f32") != 0 && strcmp(precision, "bf16") != 0))
        goto out;
    out->rank = (int)json_array_size(shape);
    for (int i = 0; i < out->rank; i++)
        out->shape[i] = json_integer_value(json_array_get(shape, (size_t)i));
    out->count = json_array_size(data);
    out->data = calloc(out->count ? out->count : 1, sizeof(float));
    if (out->data == NULL)
        goto out;
    for (size_t i = 0; i < out->count; i++) {
        json_t *v = json_array_get(data, i);
        if (!json_is_number(v))
            goto out;
        out->data[i] = (float)json_number_value(v);
    }
    rc = 0;
out:
    json_decref(root);
    if (rc != 0)
        http_op_output_free(out);
    return rc;
}

int http_op_parse_binary(const struct http_client_response *r, struct http_op_output *out)
{
    memset(out, 0, sizeof(*out));
    const char *shape = http_client_header(r, "X-Output-Shape");
    if (shape == NULL)
        return -1;
    size_t count = 1;
    for (const char *p = shape; *p && out->rank < 8;) {
        char *end = NULL;
        long long dim = strtoll(p, &end, 10);
        if (end == p || dim < 0)
            return -1;
        out->shape[out->rank++] = dim;
        count *= (size_t)dim;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0')
            return -1;
    }
    if (r->body_len != count * 4)
        return -1;
    out->count = count;
    out->data = calloc(count ? count : 1, sizeof(float));
    if (out->data == NULL)
        return -1;
    const unsigned char *b = (const unsigned char *)r->body;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = (uint32_t)b[i * 4] | (uint32_t)b[i * 4 + 1] << 8 |
                        (uint32_t)b[i * 4 + 2] << 16 | (uint32_t)b[i * 4 + 3] << 24;
        memcpy(&out->data[i], &bits, 4);
    }
    return 0;
}

void http_op_output_free(struct http_op_output *out)
{
    free(out->data);
    memset(out, 0, sizeof(*out));
}

int http_error_parse(const char *body, size_t len, struct http_error_body *out)
{
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(body ? body : "", len, 0, NULL);
    json_t *error = json_object_get(root, "error"), *code = json_object_get(root, "code");
    json_t *field = json_object_get(root, "field"), *id = json_object_get(root, "request_id");
    int rc = -1;
    if (json_object_size(root) == 4 && json_is_string(error) && json_is_string(code) &&
        (json_is_string(field) || json_is_null(field)) && json_is_string(id)) {
        out->error = strdup(json_string_value(error));
        out->code = strdup(json_string_value(code));
        out->field = json_is_string(field) ? strdup(json_string_value(field)) : NULL;
        out->request_id = strdup(json_string_value(id));
        rc = 0;
    }
    json_decref(root);
    return rc;
}

void http_error_free(struct http_error_body *e)
{
    free(e->error);
    free(e->code);
    free(e->field);
    free(e->request_id);
    memset(e, 0, sizeof(*e));
}

/* Most headers http_op_call adds to a test's own. */
#define OP_CALL_HEADERS 16

int http_op_send(int fd, const struct http_op_args *a, enum http_op_form form, const char *accept,
                 const char *const *extra)
{
    const char *headers[OP_CALL_HEADERS + 3] = {NULL};
    char accept_line[256];
    size_t n = 0;
    headers[n++] = form == HTTP_OP_JSON ? "Content-Type: application/json"
                                        : "Content-Type: application/octet-stream";
    if (accept != NULL) {
        snprintf(accept_line, sizeof(accept_line), "Accept: %s", accept);
        headers[n++] = accept_line;
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL && i < OP_CALL_HEADERS; i++)
        headers[n++] = extra[i];
    size_t len = 0;
    int rc = -1;
    if (form == HTTP_OP_JSON) {
        char *body = http_op_json(a, &len);
        if (body != NULL)
            rc = http_client_send_request(fd, "POST", HTTP_CLIENT_OP_PATH, headers, body, len);
        free(body);
    } else {
        char *target = http_op_binary_target(a);
        void *body = http_op_binary_body(a, &len);
        if (target != NULL)
            rc = http_client_send_request(fd, "POST", target, headers, body ? body : "", len);
        free(target);
        free(body);
    }
    return rc;
}

int http_op_call(uint16_t port, const struct http_op_args *a, enum http_op_form form,
                 const char *accept, const char *const *extra, struct http_client_response *out)
{
    memset(out, 0, sizeof(*out));
    int fd = http_client_connect(port, HTTP_CLIENT_TIMEOUT_MS);
    if (fd < 0)
        return -1;
    int rc = http_op_send(fd, a, form, accept, extra);
    if (rc == 0)
        rc = http_client_read(fd, false, HTTP_CLIENT_TIMEOUT_MS, out);
    close(fd);
    return rc;
}

int http_op_open(uint16_t port, const struct http_op_args *a, enum http_op_form form)
{
    int fd = http_client_connect(port, HTTP_CLIENT_TIMEOUT_MS);
    if (fd >= 0 && http_op_send(fd, a, form, NULL, NULL) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int http_op_start_upload(uint16_t port, const struct http_op_args *a, struct http_upload *up)
{
    memset(up, 0, sizeof(*up));
    char *target = http_op_binary_target(a);
    up->body = http_op_binary_body(a, &up->len);
    up->fd = target != NULL ? http_client_connect(port, HTTP_CLIENT_TIMEOUT_MS) : -1;
    if (up->fd >= 0 &&
        (http_client_sendf(up->fd,
                           "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream"
                           "\r\nContent-Length: %zu\r\n\r\n",
                           target, up->len) != 0 ||
         http_client_send(up->fd, up->body, up->len / 2, HTTP_CLIENT_TIMEOUT_MS) != 0)) {
        close(up->fd);
        up->fd = -1;
    }
    free(target);
    if (up->fd < 0) {
        free(up->body);
        up->body = NULL;
        return -1;
    }
    return 0;
}

int http_op_finish_upload(struct http_upload *up, struct http_client_response *out)
{
    memset(out, 0, sizeof(*out));
    size_t half = up->len / 2;
    if (http_client_send(up->fd, (char *)up->body + half, up->len - half, HTTP_CLIENT_TIMEOUT_MS) !=
        0)
        return -1;
    return http_client_read(up->fd, false, HTTP_CLIENT_TIMEOUT_MS, out);
}

void http_op_upload_free(struct http_upload *up)
{
    if (up->fd >= 0)
        close(up->fd);
    free(up->body);
    memset(up, 0, sizeof(*up));
    up->fd = -1;
}

int http_op_parse(const struct http_client_response *r, struct http_op_output *out)
{
    const char *type = http_client_header(r, "Content-Type");
    if (type != NULL && strncasecmp(type, "application/octet-stream", 24) == 0)
        return http_op_parse_binary(r, out);
    return http_op_parse_json(r->body, r->body_len, out);
}

void http_op_args_from_case(const struct corpus_case *c, struct http_op_args *out)
{
    memset(out, 0, sizeof(*out));
    out->value_shape = c->value_shape;
    out->value = c->value;
    out->value_count = c->value_count;
    out->filters_shape = c->filters_shape;
    out->filters = c->filters;
    out->filters_count = c->filters_count;
    out->output_shape = c->output_shape;
    out->output_shape_len = c->output_shape_len;
    out->rate = c->rate;
    out->padding = c->padding;
}

int http_op_check(const struct http_op_output *got, const struct atrous_shape *shape,
                  const float *expected, size_t count, char *why, size_t why_size)
{
    bool same_shape = got->rank == shape->rank;
    for (int i = 0; same_shape && i < shape->rank; i++)
        same_shape = got->shape[i] == shape->dims[i];
    if (!same_shape || got->count != count) {
        snprintf(why, why_size, "shape: got rank %d with %zu elements, expected rank %d with %zu",
                 got->rank, got->count, shape->rank, count);
        return -1;
    }
    struct corpus_comparison cmp;
    corpus_compare(got->data, expected, count, &cmp);
    if (cmp.failures > 0) {
        snprintf(why, why_size,
                 "%zu of %zu elements out of tolerance (%zu non-finite); worst at %zu: got %.9g "
                 "expected %.9g",
                 cmp.failures, count, cmp.non_finite, cmp.worst_index, got->data[cmp.worst_index],
                 expected[cmp.worst_index]);
        return -1;
    }
    return 0;
}

int http_op_zeros(struct http_op_args *a, const int64_t value[4], const int64_t filters[4],
                  int64_t rate)
{
    memset(a, 0, sizeof(*a));
    a->value_shape.rank = a->filters_shape.rank = 4;
    memcpy(a->value_shape.dims, value, 4 * sizeof(int64_t));
    memcpy(a->filters_shape.dims, filters, 4 * sizeof(int64_t));
    a->value_count = (size_t)(value[0] * value[1] * value[2] * value[3]);
    a->filters_count = (size_t)(filters[0] * filters[1] * filters[2] * filters[3]);
    int64_t *out = malloc(4 * sizeof(int64_t));
    float *v = calloc(a->value_count + 1, sizeof(float));
    float *w = calloc(a->filters_count + 1, sizeof(float));
    a->value = v;
    a->filters = w;
    a->output_shape = out;
    if (out == NULL || v == NULL || w == NULL) {
        http_op_zeros_free(a);
        return -1;
    }
    out[0] = value[0];
    out[1] = value[1];
    out[2] = value[2];
    out[3] = filters[2];
    a->output_shape_len = 4;
    a->rate = rate;
    a->padding = "SAME";
    return 0;
}

void http_op_zeros_free(struct http_op_args *a)
{
    free((void *)a->value);
    free((void *)a->filters);
    free((void *)a->output_shape);
    memset(a, 0, sizeof(*a));
}
