/*
 * config.c - one table of options drives flag parsing, environment twins, --help and the
 * JSON rendering of the effective configuration.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_json_writer.h"
#include "atrous_model.h"
#include "auth.h"

enum option_kind {
    OPT_HOST,      /* numeric IP address */
    OPT_PATH,      /* a file system path (not checked here; "" = none) */
    OPT_UINT,      /* decimal integer in [min, max] */
    OPT_BYTES,     /* decimal integer with an optional k/m/g suffix (powers of 1024) */
    OPT_LEVEL,     /* log level name */
    OPT_FORMAT,    /* log format name */
    OPT_CONTROL,   /* model control mode name */
    OPT_NAMES,     /* model names, comma-separated, or "*"; each use of the flag adds to them */
    OPT_URL_PATHS, /* request paths, comma-separated, each "/..." (a final '*': a prefix) */
};

struct option_def {
    const char *name; /* flag without the leading "--" */
    const char *env;
    enum option_kind kind;
    size_t offset; /* into struct atrousd_config */
    uint64_t min, max;
    const char *arg;  /* metavariable in --help */
    const char *help; /* one line */
};

#define FIELD(f)      offsetof(struct atrousd_config, f)
#define U32_MAX_VALUE ((uint64_t)UINT32_MAX)

static const struct option_def options[] = {
    {"host", "ATROUSD_HOST", OPT_HOST, FIELD(host), 0, 0, "ADDR",
     "numeric IPv4 or IPv6 address to listen on"},
    {"port", "ATROUSD_PORT", OPT_UINT, FIELD(port), 0, 65535, "N",
     "TCP port; 0 picks a free port (logged as \"port\": N at start)"},
    {"io-threads", "ATROUSD_IO_THREADS", OPT_UINT, FIELD(io_threads), 0, ATROUSD_IO_THREADS_MAX,
     "N", "HTTP I/O threads (poll; they also run --inline-max-flops work); 0 = usable CPUs"},
    {"compute-threads", "ATROUSD_COMPUTE_THREADS", OPT_UINT, FIELD(compute_threads), 0, 1024, "N",
     "compute workers; 0 = usable CPUs / omp-threads (clamped to the CPUs)"},
    {"omp-threads", "ATROUSD_OMP_THREADS", OPT_UINT, FIELD(omp_threads), 1, 1024, "N",
     "oneDNN OpenMP threads per compute worker"},
    {"queue-depth", "ATROUSD_QUEUE_DEPTH", OPT_UINT, FIELD(queue_depth), 1, 1000000, "N",
     "requests waiting for a worker; beyond it 429"},
    {"max-body-bytes", "ATROUSD_MAX_BODY_BYTES", OPT_BYTES, FIELD(max_body_bytes), 1,
     (uint64_t)1 << 40, "BYTES", "largest request body (413); k/m/g suffixes allowed"},
    {"max-memory-bytes", "ATROUSD_MAX_MEMORY_BYTES", OPT_BYTES, FIELD(max_memory_bytes), 0,
     (uint64_t)1 << 50, "BYTES",
     "memory budget of all requests' bodies, tensors, outputs and answers (503 when full); "
     "0 = half the container's memory limit (else of the RAM)"},
    {"max-tensor-elements", "ATROUSD_MAX_TENSOR_ELEMENTS", OPT_UINT, FIELD(max_tensor_elements), 1,
     INT32_MAX, "N", "largest value or filters tensor, in elements (400 too_large)"},
    {"max-output-elements", "ATROUSD_MAX_OUTPUT_ELEMENTS", OPT_UINT, FIELD(max_output_elements), 1,
     INT32_MAX, "N", "largest output tensor, in elements (400 too_large)"},
    {"max-connections", "ATROUSD_MAX_CONNECTIONS", OPT_UINT, FIELD(max_connections), 1, 1000000,
     "N", "open connections; more are refused"},
    {"max-connections-per-ip", "ATROUSD_MAX_CONNECTIONS_PER_IP", OPT_UINT,
     FIELD(max_connections_per_ip), 0, 1000000, "N",
     "open connections per client address; 0 = no limit (behind a load balancer)"},
    {"connection-timeout", "ATROUSD_CONNECTION_TIMEOUT", OPT_UINT, FIELD(connection_timeout_s), 1,
     86400, "SECONDS", "idle or stalled connections are closed after this"},
    {"connection-memory", "ATROUSD_CONNECTION_MEMORY", OPT_BYTES, FIELD(connection_memory_bytes),
     (uint64_t)8 << 10, (uint64_t)64 << 20, "BYTES",
     "libmicrohttpd buffer per connection (request line and headers must fit)"},
    {"request-timeout", "ATROUSD_REQUEST_TIMEOUT", OPT_UINT, FIELD(request_timeout_ms), 0,
     U32_MAX_VALUE, "MS", "longest wait in the compute queue before 504; 0 = no limit"},
    {"drain-timeout", "ATROUSD_DRAIN_TIMEOUT", OPT_UINT, FIELD(drain_timeout_s), 0, 86400,
     "SECONDS", "on SIGTERM, longest wait for in-flight requests"},
    {"cache-capacity", "ATROUSD_CACHE_CAPACITY", OPT_UINT, FIELD(cache_capacity), 1, 1000000, "N",
     "compiled oneDNN primitives kept (one per distinct problem)"},
    {"model-dir", "ATROUSD_MODEL_DIR", OPT_PATH, FIELD(model_dir), 0, 0, "DIR",
     "model repository: one sub-folder per model (KServe v2 and TF Serving endpoints)"},
    {"model-control-mode", "ATROUSD_MODEL_CONTROL_MODE", OPT_CONTROL, FIELD(model_control_mode), 0,
     0, "MODE",
     "none | poll | explicit: how models change while serving (SIGHUP rescans in none and "
     "poll; explicit: load and unload requests)"},
    {"repository-poll-secs", "ATROUSD_REPOSITORY_POLL_SECS", OPT_UINT, FIELD(repository_poll_secs),
     1, 86400, "SECONDS", "with --model-control-mode poll, seconds between rescans of --model-dir"},
    {"load-model", "ATROUSD_LOAD_MODEL", OPT_NAMES, FIELD(load_models), 0, 0, "NAME",
     "with --model-control-mode explicit, a model to load at start (repeatable; the "
     "environment takes a comma-separated list; \"*\" loads all)"},
    {"max-json-bytes", "ATROUSD_MAX_JSON_BYTES", OPT_BYTES, FIELD(max_json_bytes), 1,
     (uint64_t)1 << 40, "BYTES", "largest KServe v2 / TF Serving JSON document (413)"},
    {"max-batch", "ATROUSD_MAX_BATCH", OPT_UINT, FIELD(max_batch), 1, 1024, "N",
     "repository-model rows stacked into one compute call; 1 = no batching"},
    {"max-queue-delay-us", "ATROUSD_MAX_QUEUE_DELAY_US", OPT_UINT, FIELD(max_queue_delay_us), 0,
     1000000, "US", "with --max-batch > 1, longest wait of a batch for company"},
    {"inline-max-flops", "ATROUSD_INLINE_MAX_FLOPS", OPT_UINT, FIELD(inline_max_flops), 0,
     (uint64_t)1 << 40, "FLOPS",
     "binary op requests estimated up to this cost run on their I/O thread; 0 = never"},
    {"min-send-rate", "ATROUSD_MIN_SEND_RATE", OPT_BYTES, FIELD(min_send_rate), 1,
     (uint64_t)1 << 40, "BYTES",
     "an answer must be read at this many bytes/s, after --connection-timeout of grace, or "
     "its connection is closed"},
    {"max-compute-ms", "ATROUSD_MAX_COMPUTE_MS", OPT_UINT, FIELD(max_compute_ms), 1, U32_MAX_VALUE,
     "MS", "requests whose estimated compute time is over this get 400 too_large"},
    {"compress-min-bytes", "ATROUSD_COMPRESS_MIN_BYTES", OPT_BYTES, FIELD(compress_min_bytes), 0,
     (uint64_t)1 << 40, "BYTES",
     "answers of at least this size are gzip/deflate-compressed when Accept-Encoding allows; "
     "0 = never"},
    /* TLS (tls.h). */
    {"tls-cert", "ATROUSD_TLS_CERT", OPT_PATH, FIELD(tls_cert), 0, 0, "FILE",
     "PEM certificate (chain) to serve HTTPS with; turns TLS on (needs --tls-key)"},
    {"tls-key", "ATROUSD_TLS_KEY", OPT_PATH, FIELD(tls_key), 0, 0, "FILE",
     "PEM private key of --tls-cert (readable by the service user only)"},
    {"tls-key-password-file", "ATROUSD_TLS_KEY_PASSWORD_FILE", OPT_PATH,
     FIELD(tls_key_password_file), 0, 0, "FILE",
     "file whose first line is the password of an encrypted --tls-key"},
    {"tls-client-ca", "ATROUSD_TLS_CLIENT_CA", OPT_PATH, FIELD(tls_client_ca), 0, 0, "FILE",
     "PEM CA certificates: mutual TLS, every client must present a certificate they signed"},
    {"tls-priorities", "ATROUSD_TLS_PRIORITIES", OPT_PATH, FIELD(tls_priorities), 0, 0, "STRING",
     "GnuTLS priority string (protocol versions, ciphers) for TLS connections"},
    {"tls-reload-ms", "ATROUSD_TLS_RELOAD_MS", OPT_UINT, FIELD(tls_reload_ms), 0, 86400000, "MS",
     "the TLS files are checked for changes this often and reloaded (also on SIGHUP); "
     "0 = on SIGHUP only"},
    {"log-level", "ATROUSD_LOG_LEVEL", OPT_LEVEL, FIELD(log_level), 0, 0, "LEVEL",
     "debug | info | warn | error"},
    {"log-flush-ms", "ATROUSD_LOG_FLUSH_MS", OPT_UINT, FIELD(log_flush_ms), 0, 10000, "MS",
     "info lines (the access log) are buffered at most this long; 0 = one write per line"},
    {"log-format", "ATROUSD_LOG_FORMAT", OPT_FORMAT, FIELD(log_format), 0, 0, "FORMAT",
     "json | text"},
    /* Authentication (auth.h, README "Security"). */
    {"auth-token-file", "ATROUSD_AUTH_TOKEN_FILE", OPT_PATH, FIELD(auth_token_file), 0, 0, "FILE",
     "bearer tokens, one per line or sha256:<64 hex> of one (# comments); when set, every path "
     "but --auth-open-paths needs Authorization: Bearer <token> (401)"},
    {"auth-open-paths", "ATROUSD_AUTH_OPEN_PATHS", OPT_URL_PATHS, FIELD(auth_open_paths), 0, 0,
     "PATHS",
     "with --auth-token-file, paths answered without a token, comma-separated (a final * makes "
     "a prefix; add /metrics for an unauthenticated scraper)"},
    {"auth-reload-ms", "ATROUSD_AUTH_RELOAD_MS", OPT_UINT, FIELD(auth_reload_ms), 0, 86400000, "MS",
     "the token file is looked at this often and reloaded when it changed (SIGHUP reloads it "
     "at once); 0 = on SIGHUP only"},
};

#define OPTION_COUNT (sizeof(options) / sizeof(options[0]))

/* Old names still accepted, as flag and environment variable; the new name wins when both
 * are given. --help lists them; the JSON rendering does not (it has the new name). */
static const struct option_alias {
    const char *name, *env, *target;
} aliases[] = {
    /* --max-buffered-bytes counted request bodies only; the budget counts them with the rest. */
    {"max-buffered-bytes", "ATROUSD_MAX_BUFFERED_BYTES", "max-memory-bytes"},
};

#define ALIAS_COUNT (sizeof(aliases) / sizeof(aliases[0]))

void atrousd_config_defaults(struct atrousd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->host, sizeof(cfg->host), "%s", ATROUSD_DEFAULT_HOST);
    cfg->port = ATROUSD_DEFAULT_PORT;
    cfg->io_threads = ATROUSD_DEFAULT_IO_THREADS;
    cfg->compute_threads = ATROUSD_DEFAULT_COMPUTE_THREADS;
    cfg->omp_threads = ATROUSD_DEFAULT_OMP_THREADS;
    cfg->queue_depth = ATROUSD_DEFAULT_QUEUE_DEPTH;
    cfg->max_body_bytes = ATROUSD_DEFAULT_MAX_BODY_BYTES;
    cfg->max_memory_bytes = ATROUSD_DEFAULT_MAX_MEMORY_BYTES;
    cfg->max_tensor_elements = ATROUSD_DEFAULT_MAX_TENSOR_ELEMENTS;
    cfg->max_output_elements = ATROUSD_DEFAULT_MAX_OUTPUT_ELEMENTS;
    cfg->max_connections = ATROUSD_DEFAULT_MAX_CONNECTIONS;
    cfg->max_connections_per_ip = ATROUSD_DEFAULT_MAX_CONNECTIONS_PER_IP;
    cfg->connection_timeout_s = ATROUSD_DEFAULT_CONNECTION_TIMEOUT_S;
    cfg->connection_memory_bytes = ATROUSD_DEFAULT_CONNECTION_MEMORY;
    cfg->request_timeout_ms = ATROUSD_DEFAULT_REQUEST_TIMEOUT_MS;
    cfg->drain_timeout_s = ATROUSD_DEFAULT_DRAIN_TIMEOUT_S;
    cfg->cache_capacity = ATROUSD_DEFAULT_CACHE_CAPACITY;
    cfg->max_json_bytes = ATROUSD_DEFAULT_MAX_JSON_BYTES;
    cfg->max_batch = ATROUSD_DEFAULT_MAX_BATCH;
    cfg->max_queue_delay_us = ATROUSD_DEFAULT_MAX_QUEUE_DELAY_US;
    cfg->inline_max_flops = ATROUSD_DEFAULT_INLINE_MAX_FLOPS;
    cfg->compress_min_bytes = ATROUSD_DEFAULT_COMPRESS_MIN_BYTES;
    cfg->log_flush_ms = ATROUSD_DEFAULT_LOG_FLUSH_MS;
    cfg->min_send_rate = ATROUSD_DEFAULT_MIN_SEND_RATE;
    cfg->max_compute_ms = ATROUSD_DEFAULT_MAX_COMPUTE_MS;
    cfg->model_control_mode = ATROUSD_MODEL_CONTROL_NONE;
    cfg->repository_poll_secs = ATROUSD_DEFAULT_REPOSITORY_POLL_S;
    cfg->log_level = ATROUSD_LOG_INFO;
    cfg->log_format = ATROUSD_LOG_JSON;
    snprintf(cfg->tls_priorities, sizeof(cfg->tls_priorities), "%s",
             ATROUSD_DEFAULT_TLS_PRIORITIES);
    cfg->tls_reload_ms = ATROUSD_DEFAULT_TLS_RELOAD_MS;
    snprintf(cfg->auth_open_paths, sizeof(cfg->auth_open_paths), "%s",
             ATROUSD_DEFAULT_AUTH_OPEN_PATHS);
    cfg->auth_reload_ms = ATROUSD_DEFAULT_AUTH_RELOAD_MS;
}

/* Strict decimal: digits only (no sign, no spaces), no overflow. */
static bool parse_decimal(const char *s, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    *out = v;
    *end = p;
    return true;
}

static bool parse_number(const struct option_def *opt, const char *s, uint64_t *out)
{
    const char *end = NULL;
    uint64_t v;
    if (!parse_decimal(s, &v, &end))
        return false;
    if (opt->kind == OPT_BYTES && *end != '\0') {
        unsigned shift = 0;
        switch (*end) {
        case 'k':
        case 'K':
            shift = 10;
            break;
        case 'm':
        case 'M':
            shift = 20;
            break;
        case 'g':
        case 'G':
            shift = 30;
            break;
        default:
            return false;
        }
        end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
        else if (*end == 'B')
            end++;
        if (v > (UINT64_MAX >> shift))
            return false;
        v <<= shift;
    }
    if (*end != '\0' || v < opt->min || v > opt->max)
        return false;
    *out = v;
    return true;
}

const char *atrousd_model_control_name(enum atrousd_model_control mode)
{
    switch (mode) {
    case ATROUSD_MODEL_CONTROL_NONE:
        return "none";
    case ATROUSD_MODEL_CONTROL_POLL:
        return "poll";
    case ATROUSD_MODEL_CONTROL_EXPLICIT:
        return "explicit";
    }
    return "none";
}

bool atrousd_model_control_parse(const char *s, enum atrousd_model_control *out)
{
    for (int m = ATROUSD_MODEL_CONTROL_NONE; m <= ATROUSD_MODEL_CONTROL_EXPLICIT; m++) {
        if (strcmp(s, atrousd_model_control_name((enum atrousd_model_control)m)) == 0) {
            *out = (enum atrousd_model_control)m;
            return true;
        }
    }
    return false;
}

/* Adds the comma-separated names of value to the list at field (comma-joined, "" at first):
 * each a valid model name, or "*" alone. */
static bool add_names(char *field, const char *value)
{
    char joined[ATROUSD_LOAD_MODELS_MAX];
    size_t len = strlen(field);
    if (value[0] == '\0')
        return false;
    for (const char *p = value; *p;) {
        size_t n = strcspn(p, ",");
        bool star = n == 1 && p[0] == '*';
        if (!star && !atrous_model_name_valid(p, n))
            return false;
        p += n;
        if (*p == ',' && *++p == '\0')
            return false; /* a trailing comma names nothing */
    }
    if (snprintf(joined, sizeof(joined), "%s%s%s", field, len ? "," : "", value) >=
        (int)sizeof(joined))
        return false;
    /* "*" means every model: it takes no company. */
    if (strchr(joined, '*') != NULL && strcmp(joined, "*") != 0)
        return false;
    memcpy(field, joined, strlen(joined) + 1);
    return true;
}

static bool valid_host(const char *s)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return strlen(s) < ATROUSD_HOST_MAX &&
           (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1);
}

static void describe_expected(const struct option_def *opt, char *buf, size_t size)
{
    switch (opt->kind) {
    case OPT_HOST:
        snprintf(buf, size, "a numeric IPv4 or IPv6 address");
        break;
    case OPT_PATH:
        snprintf(buf, size, "a path shorter than %d bytes", ATROUSD_PATH_MAX);
        break;
    case OPT_UINT:
        snprintf(buf, size, "an integer from %" PRIu64 " to %" PRIu64, opt->min, opt->max);
        break;
    case OPT_BYTES:
        snprintf(buf, size, "a byte count from %" PRIu64 " to %" PRIu64 " (k/m/g suffixes allowed)",
                 opt->min, opt->max);
        break;
    case OPT_LEVEL:
        snprintf(buf, size, "debug, info, warn or error");
        break;
    case OPT_FORMAT:
        snprintf(buf, size, "json or text");
        break;
    case OPT_CONTROL:
        snprintf(buf, size, "none, poll or explicit");
        break;
    case OPT_NAMES:
        snprintf(buf, size,
                 "model names (letters, digits, '_', '-', '.'), comma-separated, or \"*\" alone");
        break;
    case OPT_URL_PATHS:
        snprintf(buf, size, "paths starting with '/', comma-separated, '*' only last, or \"\"");
        break;
    }
}

static bool apply(struct atrousd_config *cfg, const struct option_def *opt, const char *value,
                  const char *source, char *errbuf, size_t errsize)
{
    char *field = (char *)cfg + opt->offset;
    bool ok = false;
    switch (opt->kind) {
    case OPT_HOST:
        ok = valid_host(value);
        if (ok)
            snprintf(field, ATROUSD_HOST_MAX, "%s", value);
        break;
    case OPT_PATH:
        ok = strlen(value) < ATROUSD_PATH_MAX;
        if (ok)
            snprintf(field, ATROUSD_PATH_MAX, "%s", value);
        break;
    case OPT_UINT:
    case OPT_BYTES:
        ok = parse_number(opt, value, (uint64_t *)(void *)field);
        break;
    case OPT_LEVEL:
        ok = atrousd_log_level_parse(value, (enum atrousd_log_level *)(void *)field);
        break;
    case OPT_FORMAT:
        ok = atrousd_log_format_parse(value, (enum atrousd_log_format *)(void *)field);
        break;
    case OPT_CONTROL:
        ok = atrousd_model_control_parse(value, (enum atrousd_model_control *)(void *)field);
        break;
    case OPT_NAMES:
        ok = add_names(field, value);
        break;
    case OPT_URL_PATHS:
        ok = strlen(value) < ATROUSD_PATH_MAX && atrousd_auth_open_paths_valid(value);
        if (ok)
            snprintf(field, ATROUSD_PATH_MAX, "%s", value);
        break;
    }
    if (!ok) {
        char expected[128];
        describe_expected(opt, expected, sizeof(expected));
        snprintf(errbuf, errsize, "invalid value '%.64s' for --%s (%s, from %s): expected %s",
                 value, opt->name, opt->env, source, expected);
    }
    return ok;
}

static const struct option_def *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    }
    for (size_t i = 0; i < ALIAS_COUNT; i++) {
        if (strlen(aliases[i].name) == len && strncmp(aliases[i].name, name, len) == 0)
            return find_option(aliases[i].target, strlen(aliases[i].target));
    }
    return NULL;
}

/* TLS (tls.h): the flags that only mean something together. */
static bool tls_flags_consistent(const struct atrousd_config *cfg, char *errbuf, size_t errsize)
{
    const char *missing = NULL;
    if (cfg->tls_cert[0] && !cfg->tls_key[0])
        missing = "--tls-cert needs --tls-key (ATROUSD_TLS_KEY)";
    else if (!cfg->tls_cert[0] && cfg->tls_key[0])
        missing = "--tls-key needs --tls-cert (ATROUSD_TLS_CERT)";
    else if (!cfg->tls_cert[0] && cfg->tls_client_ca[0])
        missing = "--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS)";
    else if (!cfg->tls_key[0] && cfg->tls_key_password_file[0])
        missing = "--tls-key-password-file needs --tls-key";
    else if (cfg->tls_priorities[0] == '\0')
        missing = "--tls-priorities (ATROUSD_TLS_PRIORITIES) must not be empty";
    if (missing != NULL)
        snprintf(errbuf, errsize, "%s", missing);
    return missing == NULL;
}

enum atrousd_config_result atrousd_config_parse(struct atrousd_config *cfg, int argc,
                                                char *const argv[],
                                                const char *(*getenv_fn)(const char *name),
                                                char *errbuf, size_t errsize)
{
    enum atrousd_config_result mode = ATROUSD_CONFIG_RUN;
    bool names_from_flags[sizeof(options) / sizeof(options[0])] = {false};
    errbuf[0] = '\0';
    for (size_t i = 0; getenv_fn != NULL && i < ALIAS_COUNT; i++) {
        const char *value = getenv_fn(aliases[i].env);
        const struct option_def *opt = find_option(aliases[i].target, strlen(aliases[i].target));
        if (value != NULL && value[0] != '\0' &&
            !apply(cfg, opt, value, "environment, as the old name", errbuf, errsize))
            return ATROUSD_CONFIG_ERROR;
    }
    for (size_t i = 0; getenv_fn != NULL && i < OPTION_COUNT; i++) {
        const char *value = getenv_fn(options[i].env);
        if (value != NULL && value[0] != '\0' &&
            !apply(cfg, &options[i], value, "environment", errbuf, errsize))
            return ATROUSD_CONFIG_ERROR;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return ATROUSD_CONFIG_HELP;
        if (strcmp(arg, "--version") == 0)
            return ATROUSD_CONFIG_VERSION;
        if (strcmp(arg, "--health-probe") == 0) {
            mode = ATROUSD_CONFIG_HEALTH_PROBE;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(errbuf, errsize, "unexpected argument '%.64s' (try --help)", arg);
            return ATROUSD_CONFIG_ERROR;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        const struct option_def *opt = find_option(name, eq ? (size_t)(eq - name) : strlen(name));
        if (opt == NULL) {
            snprintf(errbuf, errsize, "unknown flag '%.64s' (try --help)", arg);
            return ATROUSD_CONFIG_ERROR;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc) {
                snprintf(errbuf, errsize, "flag --%s needs a value (try --help)", opt->name);
                return ATROUSD_CONFIG_ERROR;
            }
            value = argv[++i];
        }
        /* A repeatable flag adds to itself, but replaces what the environment gave. */
        if (opt->kind == OPT_NAMES && !names_from_flags[opt - options]) {
            names_from_flags[opt - options] = true;
            ((char *)cfg + opt->offset)[0] = '\0';
        }
        if (!apply(cfg, opt, value, "command line", errbuf, errsize))
            return ATROUSD_CONFIG_ERROR;
    }
    if (!tls_flags_consistent(cfg, errbuf, errsize))
        return ATROUSD_CONFIG_ERROR;
    return mode;
}

static void default_text(const struct option_def *opt, const struct atrousd_config *defaults,
                         char *buf, size_t size)
{
    const char *field = (const char *)defaults + opt->offset;
    switch (opt->kind) {
    case OPT_HOST:
        snprintf(buf, size, "%s", field);
        break;
    case OPT_PATH:
        snprintf(buf, size, "%s", field[0] ? field : "none");
        break;
    case OPT_UINT:
    case OPT_BYTES:
        snprintf(buf, size, "%" PRIu64, *(const uint64_t *)(const void *)field);
        break;
    case OPT_LEVEL:
        snprintf(buf, size, "%s",
                 atrousd_log_level_name(*(const enum atrousd_log_level *)(const void *)field));
        break;
    case OPT_FORMAT:
        snprintf(buf, size, "%s",
                 atrousd_log_format_name(*(const enum atrousd_log_format *)(const void *)field));
        break;
    case OPT_CONTROL:
        snprintf(
            buf, size, "%s",
            atrousd_model_control_name(*(const enum atrousd_model_control *)(const void *)field));
        break;
    case OPT_NAMES:
        snprintf(buf, size, "%s", field[0] ? field : "none");
        break;
    case OPT_URL_PATHS:
        snprintf(buf, size, "%s", field[0] ? field : "none");
        break;
    }
}

char *atrousd_config_usage(const char *program)
{
    struct atrousd_config defaults;
    atrousd_config_defaults(&defaults);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        return NULL;
    fprintf(f,
            "Usage: %s [flags]\n"
            "Serves tf.nn.atrous_conv2d_transpose over HTTP (POST /v1/atrous_conv2d_transpose),\n"
            "and the models of --model-dir over KServe v2 (/v2/...) and TF Serving "
            "(/v1/models/...).\n"
            "Every flag has an environment twin; the flag wins over the environment.\n\n",
            program);
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        char def[160], left[64];
        default_text(&options[i], &defaults, def, sizeof(def));
        snprintf(left, sizeof(left), "--%s %s", options[i].name, options[i].arg);
        fprintf(f, "  %-34s %s\n  %-34s [env %s, default %s]\n", left, options[i].help, "",
                options[i].env, def);
    }
    for (size_t i = 0; i < ALIAS_COUNT; i++) {
        char left[64], help[96];
        snprintf(left, sizeof(left), "--%s", aliases[i].name);
        snprintf(help, sizeof(help), "old name of --%s (deprecated)", aliases[i].target);
        fprintf(f, "  %-34s %s\n  %-34s [env %s]\n", left, help, "", aliases[i].env);
    }
    fprintf(f, "  %-34s %s\n", "--health-probe",
            "GET http://127.0.0.1:<port>/readyz (2 s timeout); exit 0 on 200, else 1");
    fprintf(f, "  %-34s %s\n", "",
            "(https with --tls-cert, unverified; with --tls-client-ca it presents --tls-cert)");
    fprintf(f, "  %-34s %s\n", "--version", "print the version and exit");
    fprintf(f, "  %-34s %s\n", "--help", "print this help and exit");
    fprintf(f,
            "\nExit status: 0 after a clean drain, 1 on a start-up failure (or a failed probe),\n"
            "2 on bad flags, 128+N when a second signal N cuts a drain short.\n");
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

void atrousd_config_write_json(struct atrous_jw *w, const void *arg)
{
    const struct atrousd_config *cfg = arg;
    atrous_jw_object_begin(w);
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        char key[64];
        snprintf(key, sizeof(key), "%s", options[i].name);
        for (char *p = key; *p; p++) {
            if (*p == '-')
                *p = '_';
        }
        const char *field = (const char *)cfg + options[i].offset;
        atrous_jw_key(w, key);
        switch (options[i].kind) {
        case OPT_HOST:
        case OPT_PATH:
        case OPT_NAMES:
        case OPT_URL_PATHS:
            atrous_jw_string(w, field);
            break;
        case OPT_CONTROL:
            atrous_jw_string(w, atrousd_model_control_name(
                                    *(const enum atrousd_model_control *)(const void *)field));
            break;
        case OPT_UINT:
        case OPT_BYTES:
            atrous_jw_uint(w, *(const uint64_t *)(const void *)field);
            break;
        case OPT_LEVEL:
            atrous_jw_string(
                w, atrousd_log_level_name(*(const enum atrousd_log_level *)(const void *)field));
            break;
        case OPT_FORMAT:
            atrous_jw_string(
                w, atrousd_log_format_name(*(const enum atrousd_log_format *)(const void *)field));
            break;
        }
    }
    atrous_jw_object_end(w);
}
