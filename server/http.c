/*
 * http.c - libmicrohttpd glue (the only includer of microhttpd.h).
 *
 * One request's life, all on the connection's I/O thread except the compute step:
 *   URI callback      allocate the request context (freed in the completion callback)
 *   first access call headers only: the raw head's hygiene and framing (head_rejected: 400
 *                     and close), then atrousd_precheck answers 404/405/406/413/415/503 or
 *                     the binary query's 400/413 before any body byte is read, and a
 *                     request bound for a full compute queue gets its 429 here too
 *   body calls        copy into one 64-byte aligned buffer sized from Content-Length (or
 *                     grown for chunked bodies, cut off at --max-body-bytes); a gzip or
 *                     deflate body is inflated into it as it arrives (compress.h)
 *   last call         GET endpoints answer at once; the op reserves a queue slot (429 when
 *                     full), suspends the connection and pushes its job
 *   worker            decode + validate + compute + encode, then resume the connection
 *   next call         queue the response
 *   completion        access log line, metrics, free
 *   connection closed an answer sent before the body was read lingers (linger.h)
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "compress.h"
#include "deadline.h"
#include "governor.h"
#include "handlers.h"
#include "linger.h"
#include "log.h"
#include "media.h"
#include "server_ctx.h"
#include "tls.h"
#include "trace.h"

/* Longest path quoted in the access log. */
#define LOG_PATH_MAX 256

/* How often atrousd_http_wait_answers looks at the count. */
#define ANSWERS_POLL_MS 10

/* Workspaces for inline computes: at most one per I/O thread is ever taken at once. */
#define INLINE_WORKSPACES_MAX 64

struct atrousd_http {
    struct MHD_Daemon *daemon;
    struct server_ctx *ctx;
    MHD_socket quiesced_fd;
    struct atrousd_deadlines *deadlines; /* one per connection, for receiving each request */
    struct atrousd_linger *linger;       /* connections answered before their body was read */
    _Atomic bool refusing;               /* drain timeout: no answer starts any more */
    _Atomic uint64_t answering;          /* answers queued and not yet completed */
    pthread_mutex_t spare_lock;
    struct atrous_workspace *spare[INLINE_WORKSPACES_MAX]; /* free inline workspaces */
    size_t spare_count;
};

enum request_state {
    REQ_HEADERS,  /* waiting for the first access call */
    REQ_BODY,     /* receiving the body */
    REQ_DISCARD,  /* an error answer is decided; the rest of the body is dropped */
    REQ_QUEUED,   /* suspended while a worker runs the op */
    REQ_ANSWERED, /* response queued */
};

/* Everything one request owns; freed in on_completed. */
struct request {
    struct server_ctx *ctx;
    struct atrousd_http *http;
    struct MHD_Connection *conn;
    enum request_state state;
    uint64_t start_ns;
    struct http_exchange ex;
    struct request_plan plan;
    struct http_reply reply;
    struct atrousd_job job;
    struct atrous_query_param params[ATROUSD_MAX_QUERY_PARAMS];
    size_t param_count;
    char request_id[ATROUSD_REQUEST_ID_MAX + 1];
    unsigned char *body; /* ATROUS_TENSOR_ALIGN-aligned */
    size_t body_len, body_cap;
    struct atrousd_reservation memory; /* its share of --max-memory-bytes (governor.h) */
    uint64_t bytes_in;                 /* body bytes received, kept or dropped */
    unsigned status_sent;
    uint64_t bytes_out;
    const char *raw_target; /* the target as received (libmicrohttpd's buffer; first call only) */
    size_t raw_target_len;  /* its length as a C string when it was received */
    bool nul_in_target;     /* the raw target holds "%00", which decoding would hide */
    bool body_announced;    /* Content-Length > 0 or Transfer-Encoding */
    bool answering;         /* counted in atrousd_http.answering */
    bool cut_by_drain;      /* its answer was refused at the drain timeout */
    struct atrousd_deadline *deadline; /* the connection's (borrowed), or NULL */
    uint64_t body_start_ns;            /* when the headers were complete */
    bool ran_inline;                   /* computed on the I/O thread (--inline-max-flops) */
    bool dequeued;                     /* a worker took it off the compute queue */
    struct atrousd_trace trace;        /* W3C trace context: logged, and answered */
    /* Content codings (compress.h). */
    struct atrousd_inflate *inflate;          /* the body's decoder when it is compressed */
    struct atrousd_accept_encoding accept_ae; /* what Accept-Encoding allows for the answer */
    bool coding_unknown;                      /* Content-Encoding is none of ours (415) */
    bool answer_encoded;                      /* reply_encode ran */
    enum atrousd_coding answer_coding;        /* the coding the answer is sent in */
};

/*
 * The deadline for receiving a request whose headers (or body) started at from_ns, with bytes
 * of body received so far: --connection-timeout, plus a second for every
 * ATROUSD_MIN_BODY_BYTES_PER_S bytes. libmicrohttpd's own timeout only bounds idle time, which
 * a client trickling a byte a second never reaches (deadline.h). 0 (none) when the timeout is.
 */
static uint64_t receive_deadline(const struct server_ctx *ctx, uint64_t from_ns, uint64_t bytes)
{
    uint64_t timeout_s = ctx->config.connection_timeout_s;
    if (timeout_s == 0)
        return 0;
    return from_ns + timeout_s * 1000000000u + bytes * (1000000000u / ATROUSD_MIN_BODY_BYTES_PER_S);
}

/*
 * The deadline for sending an answer of bytes queued at from_ns: --connection-timeout of grace,
 * then a second per --min-send-rate bytes. It is fixed when the answer is queued, so a reader
 * that takes a kilobyte now and then (each read restarting libmicrohttpd's idle timer) is cut
 * off all the same, and the answer's memory with it. 0 (none) when the timeout is.
 */
static uint64_t send_deadline(const struct server_ctx *ctx, uint64_t from_ns, uint64_t bytes)
{
    uint64_t timeout_s = ctx->config.connection_timeout_s;
    if (timeout_s == 0)
        return 0;
    double drain_ns = (double)bytes / (double)ctx->config.min_send_rate * 1e9;
    return from_ns + timeout_s * 1000000000u + (uint64_t)drain_ns;
}

static void body_free(struct request *req)
{
    atrousd_inflate_free(req->inflate);
    req->inflate = NULL;
    atrous_aligned_free(req->body);
    req->body = NULL;
    req->body_len = req->body_cap = 0;
}

/*
 * libmicrohttpd 0.9.75 stores each query argument in the connection's memory pool as it parses
 * the request line, right after this callback. When they do not fit (a target of a few
 * thousand "&"), it queues its 431 and then overwrites the connection's state with "request
 * line received" over an emptied read buffer: the client waits --connection-timeout for
 * nothing. No endpoint reads more than ATROUSD_MAX_QUERY_PARAMS arguments, so the query is cut
 * after two more, in place in libmicrohttpd's buffer (which it parses, and cuts itself, next;
 * it drops a last empty argument, hence two): collect_param then sees at least one more and
 * the op refuses the query as too long (400). A query of fewer fields is left as it came.
 */
static void cut_query(char *uri)
{
    char *p = strchr(uri, '?');
    for (int fields = 1; p != NULL; fields++) {
        p = strchr(p + 1, '&');
        if (p != NULL && fields == ATROUSD_MAX_QUERY_PARAMS + 2) {
            *p = '\0';
            return;
        }
    }
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct atrousd_http *http = cls;
    struct server_ctx *ctx = http->ctx;
    size_t raw_len = uri ? strlen(uri) : 0;
    bool nul_in_target = uri && strstr(uri, "%00") != NULL;
    if (uri != NULL)
        cut_query((char *)uri);
    struct request *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL; /* on_access refuses the request */
    req->ctx = ctx;
    req->http = http;
    req->conn = conn;
    req->start_ns = atrousd_now_ns();
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    req->deadline = info ? info->socket_context : NULL;
    /* libmicrohttpd hands on_access the percent-decoded path and query values as C strings,
     * so "/healthz%00.txt" would arrive as "/healthz" and "?a=1%00b" as "1"; only the raw
     * target shows them, anywhere in it. */
    req->raw_target = uri;
    req->raw_target_len = raw_len; /* before cut_query */
    req->nul_in_target = nul_in_target;
    http_reply_init(&req->reply);
    atomic_fetch_add(&ctx->in_flight, 1);
    return req;
}

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct request *req = cls;
    if (req->param_count == ATROUSD_MAX_QUERY_PARAMS) {
        req->ex.query_truncated = true;
        return MHD_NO;
    }
    req->params[req->param_count].key = key;
    req->params[req->param_count].value = value;
    req->param_count++;
    return MHD_YES;
}

/*
 * The one parser of the framing headers (Content-Length, Transfer-Encoding, Host) and of the
 * head's hygiene, in a single pass over the header lines.
 *
 * libmicrohttpd 0.9.75 parses the head in place in its read buffer: it zeroes each line's
 * CR LF (or bare LF) and the colon, and hands out keys and values as C strings pointing into
 * that buffer, in order. It lets through what RFC 9112 says to refuse: a header name with
 * whitespace or control bytes ("Content-Length : 33" becomes the header "Content-Length ",
 * so libmicrohttpd itself does not take it as framing and the body is read as the next
 * request), and a NUL inside a line (the C strings end there: "Content-Length: 3<NUL>3" reads
 * as 3). So each name is checked to be a token, and the bytes between a value's end and the
 * next line (or the head's end, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE bytes from the start
 * of the request line) must be nothing but the zeroed line ending: anything else is what a
 * NUL hid. A key outside the head is a folded line (obs-fold), which libmicrohttpd glues onto
 * the name in a copy; it is refused too (RFC 9112 section 5.2).
 */
struct framing {
    const char *length;    /* the first Content-Length */
    bool lengths_disagree; /* a later Content-Length differs from the first */
    const char *transfer;  /* the first Transfer-Encoding */
    unsigned transfer_count;
    unsigned host_count;
    bool host_invalid;
    const char *head, *head_end; /* the raw head; NULL when libmicrohttpd did not say */
    const char *value_end;       /* where the previous header line's value ended */
    char bad[160];               /* why the head is refused, or "" */
    /* Trace context (trace.h) is read here too, since tracestate may come in several fields. */
    const char *traceparent;
    unsigned traceparent_count;
    const char *tracestate[ATROUSD_TRACESTATE_FIELDS_MAX];
    size_t tracestate_count;
    bool tracestate_overflow;
    /* Bearer tokens (auth.h): two Authorization headers are refused, not one of them picked. */
    const char *authorization;
    unsigned authorization_count;
};

static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A Host value: uri-host [":" port], in the characters those may hold (RFC 3986). */
static bool host_valid(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (!isalnum(*p) && strchr("-._~!$&'()*+,;=:[]%", *p) == NULL)
            return false;
    }
    return true;
}

/* Writes s for an error message: at most 40 bytes, anything but printable ASCII as \xHH. */
static void quote_bytes(char *out, size_t size, const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s;
         *p && n + 5 < size && p - (const unsigned char *)s < 40; p++)
        n += (size_t)snprintf(out + n, size - n, *p >= 0x20 && *p < 0x7f ? "%c" : "\\x%02x", *p);
    out[n] = '\0';
}

/* True when [from, to) is the zeroed end of a line and nothing else: between min and max
 * bytes, all NUL (what libmicrohttpd made of CR LF or LF). */
static bool only_line_end(const char *from, const char *to, size_t min, size_t max)
{
    if (to < from || (size_t)(to - from) < min || (size_t)(to - from) > max)
        return false;
    for (; from < to; from++) {
        if (*from != '\0')
            return false;
    }
    return true;
}

static void framing_refuse(struct framing *f, const char *why, const char *name)
{
    if (f->bad[0] != '\0')
        return; /* the first problem is the one reported */
    char quoted[200];
    quote_bytes(quoted, sizeof(quoted), name);
    snprintf(f->bad, sizeof(f->bad), why, quoted);
}

static enum MHD_Result note_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    struct framing *f = cls;
    value = value ? value : "";
    size_t key_len = strlen(key);
    if (key_len == 0)
        framing_refuse(f, "a header line has an empty name%s", "");
    for (size_t i = 0; i < key_len; i++) {
        if (!is_tchar((unsigned char)key[i])) {
            framing_refuse(f, "header name \"%s\" holds whitespace or a control byte", key);
            break;
        }
    }
    if (f->head != NULL) {
        if (key < f->head || key >= f->head_end || value < key + key_len || value > f->head_end) {
            framing_refuse(f, "header \"%s\" is folded over lines (obs-fold)", key);
        } else {
            if (f->value_end != NULL && !only_line_end(f->value_end, key, 1, 2))
                framing_refuse(f, "a header line before \"%s\" holds a NUL byte", key);
            for (const char *p = key + key_len + 1; p < value; p++) {
                if (*p != ' ' && *p != '\t')
                    framing_refuse(f, "header \"%s\" holds a NUL byte", key);
            }
            f->value_end = value + strlen(value);
        }
    }
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        f->lengths_disagree |= f->length != NULL && strcmp(f->length, value) != 0;
        if (f->length == NULL)
            f->length = value;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        if (f->transfer_count++ == 0)
            f->transfer = value;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
        f->host_count++;
        f->host_invalid |= !host_valid(value);
    } else if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0) {
        if (f->authorization_count++ == 0)
            f->authorization = value;
    } else if (strcasecmp(key, "traceparent") == 0) {
        if (f->traceparent_count++ == 0)
            f->traceparent = value;
    } else if (strcasecmp(key, "tracestate") == 0) {
        /* More fields than we read: the list is incomplete, so none of it is passed on. */
        if (f->tracestate_count == ATROUSD_TRACESTATE_FIELDS_MAX)
            f->tracestate_overflow = true;
        else
            f->tracestate[f->tracestate_count++] = value;
    }
    return MHD_YES;
}

/* Reads the framing headers of req's head (method: the start of its request line, as
 * libmicrohttpd passed it) into *f, checking the head's hygiene on the way. */
static void read_framing(struct request *req, const char *method, struct framing *f)
{
    *f = (struct framing){0};
    const union MHD_ConnectionInfo *size =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (size != NULL && size->header_size > 0) {
        f->head = method;
        f->head_end = method + size->header_size;
    }
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, note_framing, f);
    /* The last line ends the head with the empty line: two line endings. */
    if (f->value_end != NULL && !only_line_end(f->value_end, f->head_end, 2, 4))
        framing_refuse(f, "the last header line holds a NUL byte%s", "");
}

/* RFC 9112 section 3.2.2: an absolute-form target ("http://host/healthz") is served as its
 * origin-form path; like the Host header, its authority is not used. */
static const char *origin_form(const char *url)
{
    size_t scheme = strncasecmp(url, "http://", 7) == 0    ? 7
                    : strncasecmp(url, "https://", 8) == 0 ? 8
                                                           : 0;
    if (scheme == 0)
        return url;
    const char *path = strchr(url + scheme, '/');
    return path ? path : "/";
}

/* Fills req->ex from the request line and headers; *f gets the framing headers (read_framing),
 * which also give Content-Length. */
static void read_headers(struct request *req, const char *url, const char *method,
                         struct framing *f)
{
    struct MHD_Connection *conn = req->conn;
    struct http_exchange *ex = &req->ex;
    ex->method = method;
    ex->path = origin_form(url);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_param, req);
    ex->query = req->params;
    ex->query_count = req->param_count;
    ex->content_type =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    ex->content_encoding =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    ex->accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    ex->inference_header_length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Inference-Header-Content-Length");
    const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (atrousd_request_id_sane(id))
        snprintf(req->request_id, sizeof(req->request_id), "%s", id);
    else
        atrousd_ctx_request_id(req->ctx, req->request_id, sizeof(req->request_id));
    ex->request_id = req->request_id;
    read_framing(req, method, f);
    ex->authorization = f->authorization;
    ex->authorization_count = f->authorization_count;
    atrousd_trace_begin(&req->trace, f->traceparent, f->traceparent_count, f->tracestate,
                        f->tracestate_overflow ? 0 : f->tracestate_count, atrousd_ctx_random64,
                        req->ctx);
    /* Transfer-Encoding wins over Content-Length (RFC 9112 section 6.3). */
    ex->has_content_length =
        f->transfer_count == 0 && atrousd_header_decimal(f->length, &ex->content_length);
    req->body_announced =
        f->transfer_count > 0 || (ex->has_content_length && ex->content_length > 0);
}

/*
 * Counts req among the answers in progress, unless the drain timeout has passed and it is a
 * success: then it does not start (false), since the stop that follows could cut it short -
 * the client sees its connection closed without an answer rather than a success cut short.
 * Error answers (the 503 of a job cancelled by the drain) still go: they are small, and the
 * drain waits for every answer counted here. The count comes first so that the drain, which
 * sets refusing and then reads the count, never misses an answer that saw refusing false.
 */
static bool answer_may_start(struct request *req)
{
    atomic_fetch_add(&req->http->answering, 1);
    if (req->reply.status < 400 && atomic_load(&req->http->refusing)) {
        atomic_fetch_sub(&req->http->answering, 1);
        req->cut_by_drain = true;
        return false;
    }
    req->answering = true;
    return true;
}

/* Reads Accept-Encoding and notes a Content-Encoding that is none of ours (before the
 * precheck, so that every answer, errors too, can be compressed as the client allows). */
static void read_codings(struct request *req)
{
    enum atrousd_coding coding;
    const char *ae =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    atrousd_accept_encoding_parse(ae, &req->accept_ae);
    req->coding_unknown = !atrousd_coding_parse(req->ex.content_encoding, &coding);
}

/* 406 when Accept-Encoding refuses identity and accepts neither of our codings; true when
 * so. */
static bool codings_refused(struct request *req)
{
    enum atrousd_coding coding;
    if (atrousd_coding_choose(&req->accept_ae, 0, 0, false, &coding))
        return false;
    const char *ae =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    atrousd_reply_fail(&req->reply, ATROUSD_FAIL_NOT_ACCEPTABLE, NULL, req->request_id,
                       "Accept-Encoding '%.96s' refuses identity and accepts none of the "
                       "codings this server writes (%s)",
                       ae ? ae : "", ATROUSD_CODINGS_ACCEPTED);
    return true;
}

/* A binary op cheap enough to compute inline whose answer would be compressed (the same rule
 * as reply_encode, on the answer's size estimated from the query: 4 bytes a number, about 16 as
 * JSON) is computed on a worker instead: deflating even a 256 KiB float32 answer takes ~6 ms,
 * which does not belong on an I/O thread that answers /healthz too. */
static void keep_deflate_off_io_threads(struct request *req)
{
    const struct atrous_request *head = &req->plan.binary.head;
    enum atrousd_coding coding;
    if (!req->plan.run_inline)
        return;
    double numbers = 1;
    for (size_t i = 0; i < head->output_shape_len; i++)
        numbers *= (double)head->output_shape[i];
    bool binary = req->plan.response_form == ATROUS_FORM_BINARY;
    double bytes = numbers * (binary ? 4 : 16); /* inline answers are <= 256 KiB: no overflow */
    if (atrousd_coding_choose(&req->accept_ae, (size_t)bytes,
                              (size_t)req->ctx->config.compress_min_bytes, binary, &coding) &&
        coding == ATROUSD_CODING_IDENTITY)
        return;
    req->plan.run_inline = false;
}

/* What zlib's deflate state takes while it runs (compress.h: ~256 KiB). */
#define DEFLATE_STATE_BYTES ((uint64_t)320 << 10)

/*
 * Compresses the answer when the client's Accept-Encoding allows it and it has at least
 * --compress-min-bytes (compress.h says which answers and how). Called by the worker that
 * made a computed answer, so that an I/O thread never spends a large body's deflate time, and
 * by answer() for the rest (small ones, and the bounded inline computes). Its time counts as
 * serialising.
 */
static void reply_encode(struct request *req)
{
    struct http_reply *r = &req->reply;
    enum atrousd_coding coding;
    if (req->answer_encoded)
        return;
    req->answer_encoded = true;
    if (r->body == NULL || r->body_len == 0)
        return;
    bool binary = r->content_type && strcmp(r->content_type, ATROUSD_MEDIA_BINARY) == 0;
    if (!atrousd_coding_choose(&req->accept_ae, r->body_len,
                               (size_t)req->ctx->config.compress_min_bytes, binary, &coding) ||
        coding == ATROUSD_CODING_IDENTITY)
        return;
    uint64_t t0 = atrousd_now_ns();
    void *packed = NULL;
    size_t packed_len = 0;
    bool must = req->accept_ae.q[ATROUSD_CODING_IDENTITY] <= 0;
    /* The compressed copy (at most the answer's size) and zlib's state live beside the answer
     * until it is replaced: they count in the memory budget. When it cannot take them now the
     * answer goes as it is, or, identity refused, the request is refused as the budget refuses
     * any. answer() shrinks the reservation to what is sent. */
    if (!atrousd_budget_grow(&req->memory, (uint64_t)r->body_len + DEFLATE_STATE_BYTES)) {
        if (must)
            atrousd_reply_fail(r, ATROUSD_FAIL_MEMORY_BUDGET, NULL, req->request_id,
                               "the server's memory budget (--max-memory-bytes) cannot take "
                               "compressing this %zu byte answer right now; retry later, or "
                               "accept identity",
                               r->body_len);
        return;
    }
    if (atrousd_deflate(coding, r->body, r->body_len, must, &packed, &packed_len) !=
        ATROUSD_DEFLATE_OK)
        return; /* it would not shrink, or no memory for it: sent as it is */
    atrous_aligned_free(r->body);
    r->body = packed;
    r->body_len = packed_len;
    req->answer_coding = coding;
    if (r->has_stages)
        r->serialize_us += (atrousd_now_ns() - t0) / 1000u;
}

/* Content-Encoding of a compressed answer; Vary on every answer (any of them may be
 * compressed for another client); the codings we read on a 415 for an unknown one (RFC 9110
 * 15.5.16). */
static bool add_coding_headers(const struct request *req, struct MHD_Response *resp)
{
    bool ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
                                      MHD_HTTP_HEADER_ACCEPT_ENCODING) == MHD_YES;
    if (req->answer_coding != ATROUSD_CODING_IDENTITY)
        ok &= MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
                                      atrousd_coding_name(req->answer_coding)) == MHD_YES;
    if (req->reply.status == 415 && req->coding_unknown)
        ok &= MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_ENCODING,
                                      ATROUSD_CODINGS_ACCEPTED) == MHD_YES;
    return ok;
}

/* Queues req->reply as the response; the reply's body moves into libmicrohttpd. */
static enum MHD_Result answer(struct request *req)
{
    struct http_reply *r = &req->reply;
    struct MHD_Response *resp;
    reply_encode(req);
    size_t len = r->body ? r->body_len : 0;
    /* The request body is not needed once the answer exists, nor a deadline to receive it;
     * the answer must leave in time, and holds only its own memory until it has. */
    body_free(req);
    atrousd_deadline_set(req->deadline, send_deadline(req->ctx, atrousd_now_ns(), len));
    atrousd_budget_shrink(&req->memory, len);
    if (!answer_may_start(req)) {
        req->state = REQ_ANSWERED;
        return MHD_NO; /* closes the connection */
    }
    if (len > 0) {
        resp =
            MHD_create_response_from_buffer_with_free_callback(len, r->body, atrous_aligned_free);
        if (resp != NULL)
            r->body = NULL;
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    req->state = REQ_ANSWERED;
    if (resp == NULL)
        return MHD_NO; /* out of memory: close the connection */
    bool ok = true;
    if (r->content_type)
        ok &=
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type) == MHD_YES;
    ok &= MHD_add_response_header(resp, "X-Request-Id", req->request_id) == MHD_YES;
    if (req->trace.trace_id[0]) {
        char traceparent[ATROUSD_TRACEPARENT_LEN + 1];
        atrousd_trace_header(&req->trace, traceparent);
        ok &= MHD_add_response_header(resp, "traceparent", traceparent) == MHD_YES;
        if (req->trace.tracestate[0])
            ok &= MHD_add_response_header(resp, "tracestate", req->trace.tracestate) == MHD_YES;
    }
    ok &= MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES;
    if (r->allow)
        ok &= MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow) == MHD_YES;
    if (r->www_authenticate)
        ok &= MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                      r->www_authenticate) == MHD_YES;
    if (r->retry_after_s > 0) {
        char retry[16];
        snprintf(retry, sizeof(retry), "%u", r->retry_after_s);
        ok &= MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry) == MHD_YES;
    }
    if (r->output_shape[0])
        ok &= MHD_add_response_header(resp, "X-Output-Shape", r->output_shape) == MHD_YES;
    if (r->output_dtype != NULL)
        ok &= MHD_add_response_header(resp, "X-Output-Dtype", r->output_dtype) == MHD_YES;
    if (r->compute_precision != NULL)
        ok &= MHD_add_response_header(resp, "X-Compute-Precision", r->compute_precision) == MHD_YES;
    if (r->inference_header_length > 0) {
        char ihcl[24];
        snprintf(ihcl, sizeof(ihcl), "%zu", r->inference_header_length);
        ok &= MHD_add_response_header(resp, "Inference-Header-Content-Length", ihcl) == MHD_YES;
    }
    if (r->close_connection || atomic_load(&req->ctx->draining))
        ok &= MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    ok &= add_coding_headers(req, resp);
    enum MHD_Result result = MHD_NO;
    if (ok)
        result = MHD_queue_response(req->conn, r->status, resp);
    MHD_destroy_response(resp);
    if (result == MHD_YES) {
        req->status_sent = r->status;
        req->bytes_out = req->ex.method && strcmp(req->ex.method, "HEAD") == 0 ? 0 : len;
    }
    return result;
}

/* Decides an error answer while the body is still arriving: it is sent once the body ends
 * (libmicrohttpd 0.9.75 refuses a response queued mid-body), and the rest is dropped. */
static void fail_body(struct request *req, enum atrousd_failure failure, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_body(struct request *req, enum atrousd_failure failure, const char *fmt, ...)
{
    char message[ATROUS_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    body_free(req);
    req->reply.close_connection = true;
    bool about_body =
        failure == ATROUSD_FAIL_CONTENT_TOO_LARGE || failure == ATROUSD_FAIL_INVALID_ARGUMENT;
    atrousd_reply_fail(&req->reply, failure, about_body ? "body" : NULL, req->request_id, "%s",
                       message);
    req->state = REQ_DISCARD;
}

/* Grows the body buffer to hold at least need bytes: exactly need for a body whose size the
 * headers give (its one buffer), else as atrousd_governor_body_cap says (admission reserved
 * what that holds at most; need is within --max-body-bytes). */
static bool body_reserve(struct request *req, size_t need, bool exact)
{
    if (need <= req->body_cap)
        return true;
    size_t cap = exact ? need
                       : atrousd_governor_body_cap(req->body_cap, need,
                                                   (size_t)req->ctx->config.max_body_bytes);
    if (cap < need)
        cap = need; /* over the limit: the callers refuse that before */
    unsigned char *grown = atrous_aligned_alloc(cap);
    if (grown == NULL) {
        fail_body(req, ATROUSD_FAIL_NO_MEMORY,
                  "the server is out of memory for a %zu byte body; retry later", cap);
        return false;
    }
    if (req->body_len > 0)
        memcpy(grown, req->body, req->body_len);
    atrous_aligned_free(req->body);
    req->body = grown;
    req->body_cap = cap;
    return true;
}

/* Inflated bytes of a compressed body are reserved there like those of any other body. */
static bool inflate_reserve(struct atrousd_inflate_sink *sink, size_t need)
{
    struct request *req = sink->cls;
    req->body_len = sink->len; /* what body_reserve keeps when it moves the buffer */
    if (!body_reserve(req, need, false))
        return false;
    sink->data = req->body;
    sink->cap = req->body_cap;
    return true;
}

/*
 * A compute request whose body is gzip or deflate gets its decoder (the precheck refused any
 * other coding with 415). Its memory is in the request's reservation: admission counted the
 * body at --max-body-bytes, as it arrives inflated, and zlib's state (~7 KiB + a 32 KiB window)
 * in the per-request overhead (governor.h). False (with the answer decided) when that fails.
 */
static bool coded_body_begin(struct request *req)
{
    enum atrousd_coding coding;
    if (!atrousd_coding_parse(req->ex.content_encoding, &coding) ||
        coding == ATROUSD_CODING_IDENTITY)
        return true;
    req->inflate = atrousd_inflate_create(coding);
    if (req->inflate == NULL) {
        fail_body(req, ATROUSD_FAIL_NO_MEMORY,
                  "the server is out of memory for a compressed body; retry later");
        return false;
    }
    return true;
}

/* The first buffer of a compressed body: the binary op's size is known from its query; for
 * the others, four times the compressed size (JSON shrinks to about a third) or a chunked
 * body's first step, within --max-body-bytes. */
static size_t coded_initial_bytes(const struct request *req)
{
    uint64_t max = req->ctx->config.max_body_bytes;
    uint64_t guess = ATROUSD_CHUNKED_INITIAL_BYTES;
    if (req->plan.request_form == ATROUS_FORM_BINARY && req->plan.body_expected > 0)
        guess = req->plan.body_expected;
    else if (req->ex.has_content_length && req->ex.content_length * 4 > guess)
        guess = req->ex.content_length * 4; /* <= 4 * --max-body-bytes: no overflow */
    return (size_t)(guess < max ? guess : max);
}

/* Body bytes of a compressed request: inflated into the body buffer, the inflated size bounded
 * by --max-body-bytes (413 at the limit, before any allocation past it), bad data 400. */
static void receive_coded(struct request *req, const char *data, size_t size)
{
    struct server_ctx *ctx = req->ctx;
    struct atrousd_inflate_sink sink = {
        .data = req->body,
        .len = req->body_len,
        .cap = req->body_cap,
        .limit = (size_t)ctx->config.max_body_bytes,
        .reserve = inflate_reserve,
        .cls = req,
    };
    if (req->bytes_in > ctx->config.max_body_bytes) {
        fail_body(req, ATROUSD_FAIL_CONTENT_TOO_LARGE,
                  "body: over --max-body-bytes %" PRIu64 " before inflating (received %" PRIu64
                  " bytes so far)",
                  ctx->config.max_body_bytes, req->bytes_in);
        return;
    }
    enum atrousd_inflate_status st = atrousd_inflate_feed(req->inflate, data, size, &sink);
    req->body_len = sink.len;
    const char *coding = req->ex.content_encoding;
    switch (st) {
    case ATROUSD_INFLATE_OK:
    case ATROUSD_INFLATE_NO_ROOM: /* body_reserve decided the answer */
        break;
    case ATROUSD_INFLATE_OVER_LIMIT:
        fail_body(req, ATROUSD_FAIL_CONTENT_TOO_LARGE,
                  "body: inflates past --max-body-bytes %" PRIu64 " (Content-Encoding %.32s; "
                  "%" PRIu64 " compressed bytes received so far)",
                  ctx->config.max_body_bytes, coding, req->bytes_in);
        break;
    case ATROUSD_INFLATE_BAD_DATA:
        fail_body(req, ATROUSD_FAIL_INVALID_ARGUMENT, "body: not valid %.32s data: %s", coding,
                  atrousd_inflate_error(req->inflate));
        break;
    case ATROUSD_INFLATE_NO_MEMORY:
        fail_body(req, ATROUSD_FAIL_NO_MEMORY,
                  "the server is out of memory for a compressed body; retry later");
        break;
    }
}

/* A compressed body is complete only when its compressed data ended; true (with a 400
 * answer) when it did not. */
static bool coded_body_truncated(struct request *req)
{
    if (req->inflate == NULL || atrousd_inflate_finished(req->inflate))
        return false;
    atrousd_reply_fail(&req->reply, ATROUSD_FAIL_INVALID_ARGUMENT, "body", req->request_id,
                       "body: not valid %.32s data: %s", req->ex.content_encoding,
                       atrousd_inflate_error(req->inflate));
    return true;
}

/*
 * Heads that libmicrohttpd accepts but that a proxy in front could read differently (request
 * smuggling, RFC 9112 sections 3.2, 5, 6.1 and 6.3): a header name that is not a token, a
 * NUL in a header line, a folded line, Transfer-Encoding together with Content-Length,
 * Content-Length headers that disagree, any transfer coding but a single "chunked"
 * (libmicrohttpd would read such a body until the connection closes, so no answer could ever
 * be sent), Transfer-Encoding in an HTTP/1.0 request (libmicrohttpd reads it as chunked; a
 * 1.0 proxy in front would not), an HTTP/1.1 request without exactly one valid Host, and a NUL
 * in the target (literal, or encoded as %00 anywhere: the decoded path and query values would
 * be cut there). Answered 400 with Connection: close before any body byte is read; true when
 * so.
 */
static bool head_rejected(struct request *req, const struct framing *f, const char *version)
{
    const char *why = NULL;
    /* HTTP/1.1 and any later 1.x libmicrohttpd accepts as compatible with it. */
    bool http11 = version != NULL && strncmp(version, "HTTP/1.", 7) == 0 &&
                  strcmp(version, MHD_HTTP_VERSION_1_0) != 0;
    /* The raw target ends at the space before the version; a shorter C string hid a NUL. */
    bool nul_byte = req->raw_target != NULL && f->head != NULL && version > req->raw_target &&
                    version < f->head_end &&
                    (size_t)(version - 1 - req->raw_target) != req->raw_target_len;
    if (req->nul_in_target || nul_byte)
        why = "the target contains a NUL byte (literal or encoded as %00)";
    else if (f->bad[0] != '\0')
        why = f->bad;
    else if (f->transfer_count > 0 && !http11)
        why = "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1: its framing is "
              "faulty); send Content-Length, or HTTP/1.1";
    else if (f->transfer_count > 0 && f->length != NULL)
        why = "Transfer-Encoding and Content-Length are both present; send one of them";
    else if (f->lengths_disagree)
        why = "Content-Length is given more than once with different values";
    else if (f->transfer_count > 1 || (f->transfer && strcasecmp(f->transfer, "chunked") != 0))
        why = "Transfer-Encoding must be chunked (no other transfer coding is supported)";
    else if (f->host_count > 1)
        why = "Host is given more than once";
    else if (http11 && f->host_count == 0)
        why = "an HTTP/1.1 request must carry a Host header";
    else if (f->host_invalid)
        why = "Host is not a valid host[:port]";
    if (why == NULL)
        return false;
    req->reply.close_connection = true;
    atrousd_reply_fail(&req->reply, ATROUSD_FAIL_INVALID_ARGUMENT, NULL, req->request_id, "%s",
                       why);
    return true;
}

#define QUEUE_FULL_MESSAGE "the compute queue is full (--queue-depth %" PRIu64 "); retry later"

static bool queue_full(struct server_ctx *ctx, enum atrousd_endpoint endpoint)
{
    struct atrousd_queue *queue = atrousd_ctx_queue_for(ctx, endpoint);
    return queue == NULL || atrousd_queue_full(queue);
}

/* A full queue's 429: the compute queue's, or the model manager's. */
static void queue_full_reply(struct request *req)
{
    if (atrousd_route_manages_models(req->plan.endpoint))
        atrousd_reply_fail(&req->reply, ATROUSD_FAIL_RESOURCE_EXHAUSTED, NULL, req->request_id,
                           "the model manager has %d repository requests waiting; retry later",
                           ATROUSD_MODELS_QUEUE_DEPTH);
    else
        atrousd_reply_fail(&req->reply, ATROUSD_FAIL_RESOURCE_EXHAUSTED, NULL, req->request_id,
                           QUEUE_FULL_MESSAGE, req->ctx->config.queue_depth);
}

/*
 * An answer decided from the headers alone. When the client may still be sending a body
 * (or the connection closes anyway), libmicrohttpd closes the connection after the answer
 * without reading the rest: it lingers there (linger.h), so the client reads the answer
 * instead of a reset.
 */
static enum MHD_Result answer_early(struct request *req)
{
    if (req->body_announced || req->reply.close_connection) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (info != NULL)
            atrousd_linger_arm(req->http->linger, info->connect_fd);
    }
    return answer(req);
}

/* First access call: every decision that needs only the headers. */
static enum MHD_Result begin(struct request *req, const char *url, const char *method,
                             const char *version)
{
    req->body_start_ns = atrousd_now_ns();
    atrousd_deadline_set(req->deadline, receive_deadline(req->ctx, req->body_start_ns, 0));
    struct framing f;
    read_headers(req, url, method, &f);
    req->ex.memory = &req->memory; /* admission reserves the request's worst case in it */
    read_codings(req);
    if (head_rejected(req, &f, version) ||
        atrousd_precheck(req->ctx, &req->ex, &req->plan, &req->reply) || codings_refused(req))
        return answer_early(req);
    req->state = REQ_BODY;
    keep_deflate_off_io_threads(req);
    if (!atrousd_route_on_worker(req->plan.endpoint))
        return MHD_YES; /* GET bodies are read and dropped */
    if (!req->plan.run_inline && queue_full(req->ctx, req->plan.endpoint)) {
        /* It would almost surely be refused once its body is in: refuse it before the upload
         * rather than read (and make the client send) megabytes for a 429. A queue that is
         * not full now is checked again, and a slot claimed, when the body is complete. */
        queue_full_reply(req);
        body_free(req);
        req->reply.close_connection = true;
        req->state = REQ_DISCARD;
        return answer_early(req);
    }
    if (!coded_body_begin(req))
        return answer(req);
    size_t initial;
    if (req->inflate != NULL)
        initial = coded_initial_bytes(req);
    else if (req->ex.has_content_length)
        initial = (size_t)req->ex.content_length; /* <= --max-body-bytes: prechecked */
    else if (req->plan.request_form == ATROUS_FORM_BINARY)
        initial = req->plan.body_expected;
    else
        initial = ATROUSD_CHUNKED_INITIAL_BYTES < req->ctx->config.max_body_bytes
                      ? ATROUSD_CHUNKED_INITIAL_BYTES
                      : (size_t)req->ctx->config.max_body_bytes;
    /* A 16-bit binary op's body gets the room of its widened float32 tensors, so that decoding
     * widens it in place: no second buffer of fresh pages (which cost more than the widening;
     * the budget counts body and widened tensors apart, more than this one buffer). */
    if (req->inflate == NULL && req->plan.endpoint == ATROUSD_EP_OP &&
        req->plan.request_form == ATROUS_FORM_BINARY &&
        req->plan.binary.head.value_dtype != ATROUS_DTYPE_FLOAT32 && initial > 0 &&
        initial == req->plan.body_expected && initial <= SIZE_MAX / 2)
        initial *= 2;
    bool exact = req->inflate == NULL && req->ex.has_content_length;
    if (initial > 0 && !body_reserve(req, initial, exact))
        return answer_early(req); /* nothing was read yet: answer at once */
    return MHD_YES;
}

static enum MHD_Result receive(struct request *req, const char *data, size_t size)
{
    struct server_ctx *ctx = req->ctx;
    req->bytes_in += size;
    atrousd_deadline_set(req->deadline, receive_deadline(ctx, req->body_start_ns, req->bytes_in));
    if (req->state == REQ_DISCARD || !atrousd_route_on_worker(req->plan.endpoint)) {
        /* Dropped bytes are bounded too: past the limit plus a grace, close. */
        return req->bytes_in > ctx->config.max_body_bytes + ATROUSD_DISCARD_MAX_BYTES ? MHD_NO
                                                                                      : MHD_YES;
    }
    if (req->inflate != NULL) {
        receive_coded(req, data, size);
        return MHD_YES;
    }
    if (req->body_len + size > ctx->config.max_body_bytes) {
        fail_body(req, ATROUSD_FAIL_CONTENT_TOO_LARGE,
                  "body: over --max-body-bytes %" PRIu64 " (received %" PRIu64 " bytes so far)",
                  ctx->config.max_body_bytes, req->bytes_in);
        return MHD_YES;
    }
    if (!body_reserve(req, req->body_len + size, false))
        return MHD_YES;
    memcpy(req->body + req->body_len, data, size);
    req->body_len += size;
    return MHD_YES;
}

static struct request *job_request(struct atrousd_job *job)
{
    return (struct request *)((char *)job - offsetof(struct request, job));
}

/* Records how long a job waited; true (with a 504 answer) when over --request-timeout. */
static bool job_expired(struct request *req, uint64_t now_ns)
{
    uint64_t waited_ns = now_ns - req->job.enqueued_ns;
    uint64_t limit_ms = req->ctx->config.request_timeout_ms;
    req->reply.queue_us = waited_ns / 1000u;
    req->dequeued = true;
    if (limit_ms == 0 || waited_ns <= limit_ms * 1000000u)
        return false;
    atrousd_reply_fail(&req->reply, ATROUSD_FAIL_DEADLINE_EXCEEDED, NULL, req->request_id,
                       "the request waited %" PRIu64 " ms for a compute worker, over "
                       "--request-timeout %" PRIu64 " ms",
                       waited_ns / 1000000u, limit_ms);
    return true;
}

static void run_job(struct atrousd_job *job, struct atrous_workspace *ws)
{
    struct request *req = job_request(job);
    if (!job_expired(req, atrousd_now_ns()))
        atrousd_handle_job(req->ctx, &req->ex, &req->plan, ws, &req->reply);
    atrousd_governor_settle(ws); /* before the request's memory is released */
    reply_encode(req);
    /* From here the I/O thread owns req again and may free it at any moment. */
    MHD_resume_connection(req->conn);
}

/* Model requests a worker took together (compute_queue.h): the handlers stack those of the same
 * shape into one compute call. */
static void run_batch(struct atrousd_job *const *jobs, size_t count, struct atrous_workspace *ws)
{
    struct request *first = job_request(jobs[0]);
    struct atrousd_call *calls = calloc(count, sizeof(*calls));
    size_t n = 0;
    uint64_t now = atrousd_now_ns();
    for (size_t i = 0; i < count; i++) {
        struct request *req = job_request(jobs[i]);
        if (job_expired(req, now))
            continue;
        if (calls == NULL) { /* no memory to batch: one by one */
            atrousd_handle_compute(req->ctx, &req->ex, &req->plan, ws, &req->reply);
            continue;
        }
        calls[n++] = (struct atrousd_call){&req->ex, &req->plan, &req->reply};
    }
    if (n > 0)
        atrousd_handle_model_batch(first->ctx, calls, n, ws);
    free(calls);
    atrousd_governor_settle(ws);
    for (size_t i = 0; i < count; i++)
        reply_encode(job_request(jobs[i]));
    /* Each resume hands its request back to the I/O thread, which may free it at once. */
    for (size_t i = 0; i < count; i++)
        MHD_resume_connection(job_request(jobs[i])->conn);
}

static void cancel_job(struct atrousd_job *job)
{
    struct request *req = job_request(job);
    req->reply.close_connection = true;
    atrousd_reply_fail(&req->reply, ATROUSD_FAIL_UNAVAILABLE, NULL, req->request_id,
                       "the server stopped before this request was computed; retry");
    MHD_resume_connection(req->conn);
}

/* Takes a free inline workspace, creating one when none is; NULL when out of memory. */
static struct atrous_workspace *spare_take(struct atrousd_http *http)
{
    struct atrous_workspace *ws = NULL;
    pthread_mutex_lock(&http->spare_lock);
    if (http->spare_count > 0)
        ws = http->spare[--http->spare_count];
    pthread_mutex_unlock(&http->spare_lock);
    if (ws == NULL && atrous_workspace_create(http->ctx->engine, &ws, NULL) != ATROUS_OK)
        ws = NULL;
    return ws;
}

static void spare_give(struct atrousd_http *http, struct atrous_workspace *ws)
{
    pthread_mutex_lock(&http->spare_lock);
    if (http->spare_count < INLINE_WORKSPACES_MAX) {
        http->spare[http->spare_count++] = ws;
        ws = NULL;
    }
    pthread_mutex_unlock(&http->spare_lock);
    atrous_workspace_free(ws);
}

/*
 * Computes a cheap binary op (request_plan.run_inline) right here on the I/O thread: no queue
 * slot, no suspend/resume hand-off, no worker wake-up. The cost bound (--inline-max-flops) is
 * what keeps /healthz answering in milliseconds on this thread. One OpenMP thread: the I/O
 * thread never grows a team. False (nothing done) when no workspace could be had.
 */
static bool run_inline(struct request *req)
{
    struct atrous_workspace *ws = spare_take(req->http);
    if (ws == NULL)
        return false;
    atrous_engine_set_thread_parallelism(1);
    atrousd_handle_compute(req->ctx, &req->ex, &req->plan, ws, &req->reply);
    atrousd_governor_settle(ws);
    spare_give(req->http, ws);
    req->ran_inline = true;
    return true;
}

/* Last access call of the body: answer a GET endpoint, or hand a compute request (the op,
 * KServe infer, TF Serving predict) to a worker. */
static enum MHD_Result dispatch(struct request *req)
{
    struct server_ctx *ctx = req->ctx;
    req->ex.body = req->body;
    req->ex.body_len = req->body_len;
    req->ex.body_room = req->body;
    req->ex.room_len = req->body_cap;
    if (!atrousd_route_on_worker(req->plan.endpoint)) {
        if (req->bytes_in > ctx->config.max_body_bytes) {
            atrousd_reply_fail(&req->reply, ATROUSD_FAIL_CONTENT_TOO_LARGE, "body", req->request_id,
                               "body: over --max-body-bytes %" PRIu64, ctx->config.max_body_bytes);
            return answer(req);
        }
        atrousd_handle_endpoint(ctx, &req->ex, &req->plan, &req->reply);
        return answer(req);
    }
    if (coded_body_truncated(req) ||
        atrousd_governor_body_complete(ctx, &req->ex, &req->plan, req->body_cap, req->body_len,
                                       &req->memory, &req->reply))
        return answer(req);
    if (req->plan.run_inline && run_inline(req))
        return answer(req);
    struct atrousd_queue *queue = atrousd_ctx_queue_for(ctx, req->plan.endpoint);
    if (queue == NULL || !atrousd_queue_reserve(queue)) {
        queue_full_reply(req);
        return answer(req);
    }
    req->job.run = run_job;
    req->job.cancel = cancel_job;
    req->job.batch_class = req->plan.batch_class;
    req->job.small = req->plan.cost_flops > 0 ? req->plan.cost_flops <= ATROUSD_SMALL_JOB_FLOPS
                                              : req->body_len <= ATROUSD_SMALL_JOB_BYTES;
    req->job.run_batch = run_batch;
    req->state = REQ_QUEUED;
    atrousd_deadline_set(req->deadline, 0); /* received: computing has its own timeout */
    /* Suspend before the push: the worker's resume must find the connection suspended. */
    MHD_suspend_connection(req->conn);
    atrousd_queue_push(queue, &req->job);
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)conn;
    struct request *req = *con_cls;
    if (req == NULL)
        return MHD_NO; /* the URI callback ran out of memory: close */
    size_t size = *upload_data_size;
    *upload_data_size = 0;
    switch (req->state) {
    case REQ_HEADERS:
        return begin(req, url, method, version);
    case REQ_BODY:
    case REQ_DISCARD:
        if (size > 0)
            return receive(req, upload_data, size);
        return req->state == REQ_DISCARD ? answer(req) : dispatch(req);
    case REQ_QUEUED:
        return answer(req);
    case REQ_ANSWERED:
        return MHD_YES;
    }
    return MHD_NO;
}

static void log_access(const struct request *req, unsigned status, uint64_t total_us,
                       const char *termination)
{
    const struct http_reply *r = &req->reply;
    char path[LOG_PATH_MAX + 1];
    snprintf(path, sizeof(path), "%s", req->ex.path ? req->ex.path : "");
    struct atrousd_log_field fields[24];
    size_t n = 0;
    fields[n++] = LOG_STR("request_id", req->request_id);
    if (req->trace.trace_id[0]) {
        fields[n++] = LOG_STR("trace_id", req->trace.trace_id);
        fields[n++] = LOG_STR("span_id", req->trace.span_id);
        if (req->trace.parent_id[0])
            fields[n++] = LOG_STR("parent_span_id", req->trace.parent_id);
    }
    fields[n++] = LOG_STR("method", req->ex.method);
    fields[n++] = LOG_STR("path", path);
    if (req->plan.token_id[0]) /* which bearer token (auth.h), never the token */
        fields[n++] = LOG_STR("token_id", req->plan.token_id);
    fields[n++] = LOG_UINT("status", status);
    fields[n++] = LOG_UINT("bytes_in", req->bytes_in);
    fields[n++] = LOG_UINT("bytes_out", req->bytes_out);
    fields[n++] = LOG_UINT("parse_us", r->parse_us);
    fields[n++] = LOG_UINT("queue_us", r->queue_us);
    fields[n++] = LOG_UINT("compute_us", r->compute_us);
    fields[n++] = LOG_UINT("serialize_us", r->serialize_us);
    fields[n++] = LOG_UINT("total_us", total_us);
    if (req->plan.metrics_model > 0) {
        const struct atrous_model *m = req->plan.model;
        fields[n++] = LOG_STR("model", m ? m->name : ATROUS_GENERIC_MODEL_NAME);
        fields[n++] = LOG_STR("version", m ? m->version : ATROUS_GENERIC_MODEL_VERSION);
    }
    if (r->batch_size > 1)
        fields[n++] = LOG_UINT("batch", r->batch_size);
    if (r->implementation)
        fields[n++] = LOG_STR("implementation", r->implementation);
    if (req->ran_inline)
        fields[n++] = LOG_UINT("inline", 1);
    if (r->error_code)
        fields[n++] = LOG_STR("code", r->error_code);
    if (r->error_code && r->error_message[0])
        fields[n++] = LOG_STR("error", r->error_message);
    if (r->error_detail[0])
        fields[n++] = LOG_STR("detail", r->error_detail);
    if (termination)
        fields[n++] = LOG_STR("termination", termination);
    if (req->ctx->tls != NULL) {
        const union MHD_ConnectionInfo *tls =
            MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_PROTOCOL);
        const char *version = tls ? atrousd_tls_protocol_name(tls->protocol) : NULL;
        fields[n++] = LOG_STR("tls", version ? version : "unknown");
    }
    atrousd_log_fields(status >= 500 ? ATROUSD_LOG_ERROR : ATROUSD_LOG_INFO, "request", fields, n);
}

static const char *termination_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK:
        return NULL;
    case MHD_REQUEST_TERMINATED_WITH_ERROR:
        return "connection error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return "timeout: connection closed";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return "server shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR:
        return "client closed the connection";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
        return "client aborted";
    default:
        return "terminated";
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    struct server_ctx *ctx = cls;
    struct request *req = *con_cls;
    if (req == NULL)
        return;
    *con_cls = NULL;
    uint64_t total_us = (atrousd_now_ns() - req->start_ns) / 1000u;
    unsigned status = req->status_sent;
    /* libmicrohttpd closes timed-out connections without a response: we record the 408 the
     * client would have been sent, and for connections we closed on purpose (a body far over
     * the limit) the answer we had decided. */
    const char *termination = termination_name(toe);
    if (status != 0 && atrousd_deadline_expired(req->deadline)) {
        termination = "timeout: answer not read within --connection-timeout and --min-send-rate";
    } else if (status == 0 && atrousd_deadline_expired(req->deadline)) {
        status = 408;
        termination = "timeout: request not received within --connection-timeout";
    } else if (status == 0 && toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED) {
        status = 408;
    } else if (status == 0 && req->cut_by_drain) {
        status = 503;
        termination = "drain timeout: closed before its answer started";
    } else if (status == 0) {
        status = req->reply.status;
    }
    /* A kept-alive connection has the same time again for its next request. */
    atrousd_deadline_set(req->deadline, receive_deadline(ctx, atrousd_now_ns(), 0));
    if (req->request_id[0] == '\0')
        atrousd_ctx_request_id(ctx, req->request_id, sizeof(req->request_id));
    log_access(req, status, total_us, termination);
    struct atrousd_request_sample sample = {
        .endpoint = req->ex.path ? req->plan.endpoint : ATROUSD_EP_UNKNOWN,
        .model = req->plan.metrics_model,
        .status = status,
        .total_us = total_us,
        .bytes_in = req->bytes_in,
        .bytes_out = req->bytes_out,
        .has_stages = req->reply.has_stages,
        .stage_us = {req->reply.parse_us, req->reply.queue_us, req->reply.compute_us,
                     req->reply.serialize_us},
        .inference_rows = req->reply.inference_rows,
        .executed = req->reply.executed,
        .execution_rows = req->reply.execution_rows,
        /* Only the compute queue's waits are the autoscaling signal, not the model manager's. */
        .dequeued = req->dequeued && atrousd_route_computes(req->plan.endpoint),
        .implementation = req->reply.implementation,
    };
    atrousd_metrics_record(ctx->metrics, &sample);
    /* The request is over: the repository snapshot it held may go (and a model version that
     * was replaced meanwhile with it). */
    atrousd_plan_release(&req->plan);
    body_free(req);
    atrousd_budget_release(&req->memory);
    http_reply_release(&req->reply);
    if (req->answering)
        atomic_fetch_sub(&req->http->answering, 1);
    free(req);
    atomic_fetch_sub(&ctx->in_flight, 1);
}

/* A connection opens: its request must arrive within the deadline; it closes (before
 * libmicrohttpd closes its socket): forget it. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct atrousd_http *http = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        atrousd_deadline_remove(http->deadlines, *socket_context);
        *socket_context = NULL;
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (fd != NULL)
            atrousd_linger_closing(http->linger, fd->connect_fd);
        return;
    }
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info != NULL)
        *socket_context = atrousd_deadline_add(http->deadlines, info->connect_fd,
                                               receive_deadline(http->ctx, atrousd_now_ns(), 0));
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char message[512];
    vsnprintf(message, sizeof(message), fmt, ap);
    message[strcspn(message, "\r\n")] = '\0';
    struct atrousd_log_field field = LOG_STR("detail", message);
    atrousd_log_fields(ATROUSD_LOG_WARN, "libmicrohttpd", &field, 1);
}

enum atrous_status atrousd_http_start(struct server_ctx *ctx, struct atrousd_http **out,
                                      struct atrous_error *err)
{
    const struct atrousd_config *cfg = &ctx->config;
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)cfg->port)};
    struct sockaddr *addr = (struct sockaddr *)&v4;
    /* poll(), not epoll: libmicrohttpd 0.9.75 aborts the process at random when
     * MHD_quiesce_daemon (the drain, atrousd_http_quiesce) meets an epoll I/O thread in the
     * middle of its loop: both remove the listen socket from the epoll set, and the thread's
     * "at the connection limit or quiesced" branch panics on the ENOENT of losing that race
     * ("Failed to remove listen FD from epoll set", seen as a SIGABRT at a test daemon's
     * stop). The poll() side of quiescing only signals the threads. Measured side by side
     * with wrk on small requests at 16 and 200 connections: the same throughput within the
     * run-to-run noise (a pool thread polls at most its share of --max-connections). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, cfg->host, &v4.sin_addr) != 1) {
        if (inet_pton(AF_INET6, cfg->host, &v6.sin6_addr) != 1)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "host",
                                    "--host %s is not a numeric IP address", cfg->host);
        addr = (struct sockaddr *)&v6;
        flags |= MHD_USE_IPv6;
    }
    struct atrousd_http *http = calloc(1, sizeof(*http));
    if (http == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory for the HTTP adapter");
    http->ctx = ctx;
    http->quiesced_fd = MHD_INVALID_SOCKET;
    pthread_mutex_init(&http->spare_lock, NULL);
    http->deadlines = atrousd_deadlines_create();
    http->linger = atrousd_linger_create();
    if (http->deadlines == NULL || http->linger == NULL) {
        atrousd_deadlines_destroy(http->deadlines);
        atrousd_linger_destroy(http->linger);
        pthread_mutex_destroy(&http->spare_lock);
        free(http);
        return atrous_error_set(err, ATROUS_NO_MEMORY, "",
                                "could not start the connection deadline and linger threads");
    }
    /* One polling thread is the internal thread itself; more form a pool (each polling its own
     * connections), an option libmicrohttpd warns about when given 1. */
    struct MHD_OptionItem pool[2 + ATROUSD_TLS_MHD_OPTIONS] = {
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg->io_threads, NULL},
    };
    size_t options = cfg->io_threads > 1 ? 1 : 0;
    /* TLS (tls.h): the certificate callback and priorities; plain HTTP without them. */
    if (ctx->tls != NULL) {
        flags |= MHD_USE_TLS;
        options += atrousd_tls_mhd_options(ctx->tls, &pool[options]);
    }
    pool[options] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    /* Every libmicrohttpd limit is set explicitly rather than left to its defaults. */
    http->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_access, ctx, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, ctx, MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_URI_LOG_CALLBACK, on_uri, http,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, ctx, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        http, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_memory_bytes,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)ATROUSD_LISTEN_BACKLOG, MHD_OPTION_ARRAY, pool,
        MHD_OPTION_END);
    if (http->daemon == NULL) {
        atrousd_deadlines_destroy(http->deadlines);
        atrousd_linger_destroy(http->linger);
        pthread_mutex_destroy(&http->spare_lock);
        free(http);
        return atrous_error_set(err, ATROUS_INTERNAL, "port",
                                "could not listen on %s port %" PRIu64
                                " (in use, or not permitted?)",
                                cfg->host, cfg->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    ctx->port = info ? info->port : (uint16_t)cfg->port;
    *out = http;
    return ATROUS_OK;
}

void atrousd_http_quiesce(struct atrousd_http *http)
{
    if (http == NULL || http->quiesced_fd != MHD_INVALID_SOCKET)
        return;
    http->quiesced_fd = MHD_quiesce_daemon(http->daemon);
    /* libmicrohttpd no longer accepts, but the socket is still listening, so the kernel would
     * keep completing handshakes into the backlog. Shutting it down makes new connections
     * fail at once (refused) while the descriptor stays valid until MHD_stop_daemon, as
     * libmicrohttpd requires in threaded modes. */
    if (http->quiesced_fd != MHD_INVALID_SOCKET)
        shutdown(http->quiesced_fd, SHUT_RDWR);
}

void atrousd_http_stop(struct atrousd_http *http)
{
    if (http == NULL)
        return;
    MHD_stop_daemon(http->daemon);
    atrousd_deadlines_destroy(http->deadlines); /* every connection is closed and forgotten */
    atrousd_linger_destroy(http->linger);       /* and no longer lingers */
    if (http->quiesced_fd != MHD_INVALID_SOCKET)
        close(http->quiesced_fd);
    for (size_t i = 0; i < http->spare_count; i++)
        atrous_workspace_free(http->spare[i]);
    pthread_mutex_destroy(&http->spare_lock);
    free(http);
}

void atrousd_http_refuse_answers(struct atrousd_http *http)
{
    atomic_store(&http->refusing, true);
}

uint64_t atrousd_http_answers_in_progress(struct atrousd_http *http)
{
    return atomic_load(&http->answering);
}

bool atrousd_http_wait_answers(struct atrousd_http *http, uint64_t timeout_ms)
{
    uint64_t deadline = atrousd_now_ns() + timeout_ms * 1000000u;
    while (atomic_load(&http->answering) > 0) {
        if (atrousd_now_ns() >= deadline)
            return false;
        usleep(ANSWERS_POLL_MS * 1000);
    }
    return true;
}
