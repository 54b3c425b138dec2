/*
 * minimal_server.c - the reference row of `make bench`: the least an HTTP server can do for
 * one atrous_conv2d_transpose request, so that atrousd's HTTP numbers can be read as a ratio.
 *
 * It receives the binary body (value then filters, float32), runs ONE direct oneDNN call per
 * request on a primitive made at start for the one shape given on the command line, and sends
 * back a 2-byte reply: no validation, no output, no logging, no metrics. libmicrohttpd's
 * thread pool (one thread per core, each with a 1-thread OpenMP team) does the compute on its
 * I/O threads - exactly what atrousd must not do, and why this is a ceiling, not a rival.
 *
 *   minimal_server --port P --value N,H,W,IC --filters KH,KW,OC,IC --rate R --padding SAME
 *                  [--threads T]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <dnnl.h>
#include <microhttpd.h>

extern void omp_set_num_threads(int threads);

#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((call) != dnnl_success) {                                                              \
            fprintf(stderr, "minimal_server: %s failed\n", #call);                                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

struct shape4 {
    int64_t d[4];
};

struct server {
    dnnl_engine_t engine;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, dst_md, w_md;
    size_t body_bytes, value_bytes, dst_bytes;
    void *weights; /* reordered once: the filters of each request are ignored (no validation) */
};

struct upload {
    char *body;
    size_t got;
    float *dst;
    dnnl_stream_t stream;
};

static void parse4(const char *text, struct shape4 *s)
{
    if (sscanf(text, "%ld,%ld,%ld,%ld", &s->d[0], &s->d[1], &s->d[2], &s->d[3]) != 4) {
        fprintf(stderr, "minimal_server: bad shape %s\n", text);
        exit(2);
    }
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)method;
    (void)version;
    struct server *srv = cls;
    struct upload *up = *con_cls;
    if (up == NULL) {
        up = calloc(1, sizeof(*up));
        up->body = aligned_alloc(64, (srv->body_bytes + 63) / 64 * 64);
        up->dst = aligned_alloc(64, (srv->dst_bytes + 63) / 64 * 64);
        CHECK(dnnl_stream_create(&up->stream, srv->engine, dnnl_stream_default_flags));
        *con_cls = up;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (up->got + n > srv->body_bytes)
            n = srv->body_bytes - up->got;
        memcpy(up->body + up->got, upload_data, n);
        up->got += n;
        *upload_size = 0;
        return MHD_YES;
    }
    dnnl_memory_t src, w, dst;
    CHECK(dnnl_memory_create(&src, &srv->src_md, srv->engine, up->body));
    CHECK(dnnl_memory_create(&w, &srv->w_md, srv->engine, srv->weights));
    CHECK(dnnl_memory_create(&dst, &srv->dst_md, srv->engine, up->dst));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}};
    CHECK(dnnl_primitive_execute(srv->prim, up->stream, 3, args));
    CHECK(dnnl_stream_wait(up->stream));
    dnnl_memory_destroy(src);
    dnnl_memory_destroy(w);
    dnnl_memory_destroy(dst);
    up->got = 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, "ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct upload *up = *con_cls;
    if (up == NULL)
        return;
    dnnl_stream_destroy(up->stream);
    free(up->body);
    free(up->dst);
    free(up);
    *con_cls = NULL;
}

static void init_primitive(struct server *srv, struct shape4 v, struct shape4 f, int64_t rate,
                           int same)
{
    int64_t oh = v.d[1], ow = v.d[2];
    int64_t pt = 0, pb = 0, pl = 0, pr = 0;
    if (same) {
        int64_t ph = (f.d[0] - 1) * rate, pw = (f.d[1] - 1) * rate;
        pt = ph / 2, pb = ph - pt, pl = pw / 2, pr = pw - pl;
    } else {
        oh += (f.d[0] - 1) * rate;
        ow += (f.d[1] - 1) * rate;
    }
    dnnl_dims_t src_dims = {v.d[0], v.d[3], v.d[1], v.d[2]};
    dnnl_dims_t w_dims = {f.d[2], f.d[3], f.d[0], f.d[1]};
    dnnl_dims_t dst_dims = {v.d[0], f.d[2], oh, ow};
    dnnl_dims_t strides = {1, 1}, dil = {rate - 1, rate - 1}, padl = {pt, pl}, padr = {pb, pr};
    dnnl_memory_desc_t any_w;
    CHECK(dnnl_memory_desc_init_by_tag(&srv->src_md, 4, src_dims, dnnl_f32, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&srv->dst_md, 4, dst_dims, dnnl_f32, dnnl_nhwc));
    CHECK(dnnl_memory_desc_init_by_tag(&any_w, 4, w_dims, dnnl_f32, dnnl_format_tag_any));
    dnnl_deconvolution_desc_t desc;
    CHECK(dnnl_dilated_deconvolution_forward_desc_init(
        &desc, dnnl_forward_inference, dnnl_deconvolution_direct, &srv->src_md, &any_w, NULL,
        &srv->dst_md, strides, dil, padl, padr));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, srv->engine, NULL));
    srv->w_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    srv->weights = calloc(1, dnnl_memory_desc_get_size(&srv->w_md) + 64);
    CHECK(dnnl_primitive_create(&srv->prim, pd));
    dnnl_primitive_desc_destroy(pd);
    srv->value_bytes = (size_t)(v.d[0] * v.d[1] * v.d[2] * v.d[3]) * sizeof(float);
    srv->body_bytes = srv->value_bytes + (size_t)(f.d[0] * f.d[1] * f.d[2] * f.d[3]) * 4;
    srv->dst_bytes = (size_t)(v.d[0] * oh * ow * f.d[2]) * sizeof(float);
}

int main(int argc, char **argv)
{
    struct shape4 v = {{1, 32, 32, 16}}, f = {{3, 3, 16, 16}};
    int64_t rate = 2;
    int same = 1, port = 0, threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--value"))
            parse4(argv[i + 1], &v);
        else if (!strcmp(argv[i], "--filters"))
            parse4(argv[i + 1], &f);
        else if (!strcmp(argv[i], "--rate"))
            rate = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--padding"))
            same = !strcmp(argv[i + 1], "SAME");
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
    }
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("usage: %s --port P --value N,H,W,IC --filters KH,KW,OC,IC --rate R --padding "
               "SAME|VALID [--threads T]\nThe reference minimal server of make bench.\n",
               argv[0]);
        return argc < 2 ? 2 : 0;
    }
    omp_set_num_threads(1);
    struct server srv = {0};
    CHECK(dnnl_engine_create(&srv.engine, dnnl_cpu, 0));
    init_primitive(&srv, v, f, rate, same);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL, answer, &srv,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, completed,
        NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "minimal_server: cannot listen on port %d\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("minimal_server: listening on port %u\n", info ? (unsigned)info->port : (unsigned)port);
    fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
