/*
 * main.c - atrousd: parse the configuration, budget the threads, start the engine, load the
 * model repository, start the compute workers and the HTTP listener, run the start-up
 * self-test that opens /readyz, then wait for SIGTERM/SIGINT/SIGQUIT (read by the signal thread,
 * signals.h) and drain.
 *
 * Exit status: 0 after a clean drain, after SIGTERM/SIGINT/SIGQUIT during start-up (or --help/
 * --version), 1 when start-up fails or the health probe fails, 2 on invalid flags, 128+signal
 * when a second signal cuts a drain short.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "atrous_json_writer.h"
#include "config.h"
#include "cpus.h"
#include "http.h"
#include "info.h"
#include "log.h"
#include "probe.h"
#include "selftest.h"
#include "clock.h"
#include "server_ctx.h"
#include "signals.h"
#include "tls.h"
#include "version.h"

/* How often the drain loop looks at the in-flight count. */
#define DRAIN_POLL_MS 20

/* Blocks from this size up are mmap'd, and go back to the kernel when freed: request bodies,
 * tensors, outputs and answers then leave the RSS with their reservation in the memory budget.
 * Left to itself glibc raises the threshold to the largest block freed (up to 32 MiB) and keeps
 * freed blocks below it in its heaps, where they count in the RSS until reused. */
#define ATROUSD_MMAP_THRESHOLD (128 << 10)

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

/* Parses flags and environment; returns -1 to go on serving, else the exit status. */
static int configure(int argc, char **argv, struct atrousd_config *cfg, bool *probe)
{
    char errbuf[256];
    atrousd_config_defaults(cfg);
    *probe = false;
    switch (atrousd_config_parse(cfg, argc, argv, env_lookup, errbuf, sizeof(errbuf))) {
    case ATROUSD_CONFIG_HELP: {
        char *usage = atrousd_config_usage(argv[0]);
        fputs(usage ? usage : "out of memory\n", stdout);
        free(usage);
        return 0;
    }
    case ATROUSD_CONFIG_VERSION:
        printf("%s %s\n", ATROUSD_NAME, ATROUSD_VERSION);
        return 0;
    case ATROUSD_CONFIG_ERROR:
        fprintf(stderr, "%s: %s\n", ATROUSD_NAME, errbuf);
        return 2;
    case ATROUSD_CONFIG_HEALTH_PROBE:
        *probe = true;
        return -1;
    case ATROUSD_CONFIG_RUN:
        return -1;
    }
    return 2;
}

static void warn_if_clamped(const struct atrousd_config *requested, const struct server_ctx *ctx)
{
    if (!ctx->budget.clamped)
        return;
    struct atrousd_log_field fields[] = {
        LOG_UINT("requested_compute_threads", requested->compute_threads),
        LOG_UINT("requested_omp_threads", requested->omp_threads),
        LOG_INT("usable_cpus", ctx->cpus.usable),
        LOG_INT("compute_threads", ctx->budget.compute_workers),
        LOG_INT("omp_threads", ctx->budget.omp_threads),
    };
    atrousd_log_fields(ATROUSD_LOG_WARN,
                       "thread flags ask for more CPUs than usable; clamped so that "
                       "compute_threads * omp_threads <= usable_cpus",
                       fields, sizeof(fields) / sizeof(fields[0]));
}

/* The signal thread's SIGHUP hook (signals.h). */
static void reload(void *ctx)
{
    atrousd_ctx_reload(ctx);
}

/*
 * SIGTERM: refuse new work, let in-flight requests finish (bounded by --drain-timeout), then
 * stop. Past the timeout no answer starts any more, answers already being sent get
 * --connection-timeout to finish (a client sees a whole answer or none, never a success cut
 * short), and the rest are closed. A second signal exits at once (the signal thread).
 */
static void drain(struct server_ctx *ctx, struct atrousd_http *http, int signo)
{
    atomic_store(&ctx->draining, true);
    atrousd_http_quiesce(http);
    struct atrousd_log_field fields[] = {
        LOG_INT("signal", signo),
        LOG_UINT("in_flight", atomic_load(&ctx->in_flight)),
        LOG_UINT("drain_timeout_s", ctx->config.drain_timeout_s),
    };
    atrousd_log_fields(ATROUSD_LOG_INFO, "draining", fields, 3);
    atrousd_log_flush(); /* the access log so far, at once */
    uint64_t deadline = atrousd_now_ns() + ctx->config.drain_timeout_s * 1000000000u;
    while (atomic_load(&ctx->in_flight) > 0 && atrousd_now_ns() < deadline)
        usleep(DRAIN_POLL_MS * 1000);
    uint64_t left = atomic_load(&ctx->in_flight);
    if (left > 0) {
        atrousd_http_refuse_answers(http);
        struct atrousd_log_field late[] = {
            LOG_UINT("unfinished", left),
            LOG_UINT("answers_being_sent", atrousd_http_answers_in_progress(http)),
        };
        atrousd_log_fields(ATROUSD_LOG_WARN,
                           "drain timeout: closing unfinished requests; answers already being "
                           "sent may finish",
                           late, 2);
    }
    /* Cancels jobs still waiting (answered 503), lets running ones finish. */
    atrousd_queue_shutdown(ctx->queue);
    atrousd_models_stop(ctx->models); /* the same for repository requests, before HTTP stops */
    uint64_t grace_s = ctx->config.connection_timeout_s ? ctx->config.connection_timeout_s
                                                        : ctx->config.drain_timeout_s;
    if (left > 0 && !atrousd_http_wait_answers(http, grace_s * 1000u))
        atrousd_logf(ATROUSD_LOG_WARN,
                     "answers still being sent after %" PRIu64 " s: their connections are cut",
                     grace_s);
    atrousd_http_stop(http);
}

int main(int argc, char **argv)
{
    struct atrousd_config cfg;
    bool probe = false;
    int status = configure(argc, argv, &cfg, &probe);
    if (status >= 0)
        return status;
    mallopt(M_MMAP_THRESHOLD, ATROUSD_MMAP_THRESHOLD);
    atrousd_log_configure(cfg.log_level, cfg.log_format, STDERR_FILENO);
    if (probe)
        return atrousd_probe_readyz(&cfg, (uint16_t)cfg.port, ATROUSD_PROBE_TIMEOUT_MS);

    struct server_ctx *ctx = NULL;
    struct atrousd_http *http = NULL;
    struct atrous_error err;
    atrous_error_clear(&err);
    /* Before any thread starts (they inherit the mask): from here SIGTERM is obeyed at once,
     * even while the model repository is read from slow storage. */
    struct atrousd_signals *signals = atrousd_signals_start();
    if (signals == NULL) {
        atrousd_logf(ATROUSD_LOG_ERROR, "could not set up signal handling");
        return 1;
    }
    /* After the signal mask, which the flusher thread inherits. From here no thread but the
     * flusher writes to stderr, so a stalled log sink never blocks serving. */
    atrousd_log_buffer_start(cfg.log_flush_ms);
    status = 1;
    if (atrousd_ctx_create(&cfg, NULL, NULL, &ctx, &err) != ATROUS_OK) {
        atrousd_logf(ATROUSD_LOG_ERROR, "could not start: %s", err.message);
        goto out;
    }
    warn_if_clamped(&cfg, ctx);
    /* TLS (tls.h): a bad certificate, key or client CA stops the start, naming the flag. */
    if (atrousd_tls_create(&cfg, &ctx->tls, &err) != ATROUS_OK) {
        atrousd_logf(ATROUSD_LOG_ERROR, "TLS: %s", err.message);
        goto out;
    }
    /* Models load and warm before the listener opens: the repository is read-only once
     * requests can see it. A bad model folder is logged and skipped; an unreadable directory
     * stops the start. */
    if (atrousd_ctx_load_models(ctx, &err) != ATROUS_OK) {
        atrousd_logf(ATROUSD_LOG_ERROR, "could not load the model repository %s: %s", cfg.model_dir,
                     err.message);
        goto out;
    }
    if (atrousd_ctx_start_workers(ctx, &err) != ATROUS_OK) {
        atrousd_logf(ATROUSD_LOG_ERROR, "could not start compute workers: %s", err.message);
        goto out;
    }
    if (atrousd_http_start(ctx, &http, &err) != ATROUS_OK) {
        atrousd_logf(ATROUSD_LOG_ERROR, "%s", err.message);
        goto out;
    }
    struct atrousd_config effective = ctx->config;
    effective.port = ctx->port;
    struct atrousd_log_field start[] = {
        LOG_STR("version", ATROUSD_VERSION),
        LOG_STR("host", effective.host),
        LOG_UINT("port", effective.port),
        LOG_STR("onednn_version", ctx->engine_info.onednn_version),
        LOG_STR("cpu_isa", ctx->engine_info.cpu_isa),
        LOG_BOOL("avx512", ctx->engine_info.avx512),
        LOG_OBJECT("threads", atrousd_info_write_threads, ctx),
        LOG_OBJECT("memory", atrousd_info_write_memory, ctx),
        LOG_OBJECT("config", atrousd_config_write_json, &effective),
    };
    atrousd_log_fields(ATROUSD_LOG_INFO, "listening", start, sizeof(start) / sizeof(start[0]));

    /* The self-test runs on this thread with the workers' team size; /readyz stays 503 (and
     * the op answers 503) until it passes. */
    atrous_engine_set_thread_parallelism(ctx->budget.omp_threads);
    uint64_t t0 = atrousd_now_ns();
    if (atrousd_selftest_run(ctx->engine, NULL, &err) != ATROUS_OK) {
        atrousd_logf(ATROUSD_LOG_ERROR, "start-up self-test failed: %s", err.message);
        atomic_store(&ctx->draining, true);
        atrousd_queue_shutdown(ctx->queue);
        atrousd_models_stop(ctx->models);
        atrousd_http_stop(http);
        goto out;
    }
    atomic_store(&ctx->ready, true);
    atrousd_signals_serving(signals, reload, ctx);
    struct atrousd_log_field ready[] = {LOG_UINT("selftest_us", (atrousd_now_ns() - t0) / 1000)};
    atrousd_log_fields(ATROUSD_LOG_INFO, "ready", ready, 1);

    int signo = atrousd_signals_wait_stop(signals);
    if (signo < 0) {
        atrousd_logf(ATROUSD_LOG_ERROR, "waiting for signals failed; shutting down");
        signo = 0;
    }
    drain(ctx, http, signo);
    atrousd_logf(ATROUSD_LOG_INFO, "stopped");
    status = 0;
out:
    atrousd_ctx_free(ctx);
    atrousd_signals_stop(signals);
    atrousd_log_buffer_stop();
    return status;
}
