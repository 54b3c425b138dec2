/*
 * config.h - atrousd's settings: every one is a command-line flag with an ATROUSD_* environment
 * twin (the flag wins), a default, a range, and a line in --help. One table in config.c drives
 * parsing, --help, and the JSON rendering logged at start and served by /v1/info.
 */
#ifndef ATROUSD_CONFIG_H
#define ATROUSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

struct atrous_jw;

#define ATROUSD_HOST_MAX 64

/* Defaults, named once (README.md and proto/README.md quote them). */
#define ATROUSD_DEFAULT_HOST                   "0.0.0.0"
#define ATROUSD_DEFAULT_PORT                   8080
#define ATROUSD_DEFAULT_IO_THREADS             0 /* 0 = one per usable CPU */
#define ATROUSD_DEFAULT_COMPUTE_THREADS        0 /* 0 = one per usable CPU */
#define ATROUSD_DEFAULT_OMP_THREADS            1
#define ATROUSD_DEFAULT_QUEUE_DEPTH            64
#define ATROUSD_DEFAULT_MAX_BODY_BYTES         ((uint64_t)64 << 20)
#define ATROUSD_DEFAULT_MAX_MEMORY_BYTES       0 /* 0 = half the container's memory limit */
#define ATROUSD_DEFAULT_MAX_TENSOR_ELEMENTS    ((uint64_t)16 << 20)
#define ATROUSD_DEFAULT_MAX_OUTPUT_ELEMENTS    ((uint64_t)16 << 20)
#define ATROUSD_DEFAULT_MAX_CONNECTIONS        1024
#define ATROUSD_DEFAULT_MAX_CONNECTIONS_PER_IP 0 /* 0 = no per-IP limit */
#define ATROUSD_DEFAULT_CONNECTION_TIMEOUT_S   30
#define ATROUSD_DEFAULT_CONNECTION_MEMORY      ((uint64_t)128 << 10)
#define ATROUSD_DEFAULT_REQUEST_TIMEOUT_MS     30000
#define ATROUSD_DEFAULT_DRAIN_TIMEOUT_S        20
#define ATROUSD_DEFAULT_CACHE_CAPACITY         256
#define ATROUSD_DEFAULT_MAX_JSON_BYTES         ((uint64_t)16 << 20)
#define ATROUSD_DEFAULT_MAX_BATCH              1 /* 1 = no batching */
#define ATROUSD_DEFAULT_MAX_QUEUE_DELAY_US     0 /* batch only what is already waiting */
/* About 100 us of one AVX-512 core (a 1x32x32x16->16 3x3 problem, 4.7 MFLOP, takes ~70 us). */
#define ATROUSD_DEFAULT_INLINE_MAX_FLOPS  8000000
#define ATROUSD_DEFAULT_LOG_FLUSH_MS      50 /* info lines reach the sink within this */
#define ATROUSD_DEFAULT_REPOSITORY_POLL_S 15 /* Triton's default */
/* An answer must leave at this rate on average, after --connection-timeout of grace: 1 MiB/s is
 * 8 Mbit/s, below any link a 64 MiB answer is fetched over, and holds such an answer (and its
 * share of --max-memory-bytes) for at most 30 s + 64 s. */
#define ATROUSD_DEFAULT_MIN_SEND_RATE ((uint64_t)1 << 20)
/* The longest estimated compute a request may ask for: a worker held this long delays every
 * request queued behind it by as much. */
#define ATROUSD_DEFAULT_MAX_COMPUTE_MS 5000
/* Smaller answers gain little from compression (a few hundred bytes, a packet either way). */
#define ATROUSD_DEFAULT_COMPRESS_MIN_BYTES ((uint64_t)1 << 10)

/* TLS (tls.h): GnuTLS priorities allowing TLS 1.3 and 1.2 only, with 128-bit or stronger
 * ciphers (AEAD, forward secrecy), the server's order preferred. The key exchange groups are
 * X25519 first, the key share clients (OpenSSL, GnuTLS, Python) send at once: SECURE256's own
 * order puts P-384 first, which costs every TLS 1.3 client a HelloRetryRequest round trip and a
 * slower curve (a new connection took 5.3 ms of server CPU instead of 2.0 ms, make bench). */
#define ATROUSD_DEFAULT_TLS_PRIORITIES                                                             \
    "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-GROUP-ALL:+GROUP-X25519:"           \
    "+GROUP-SECP256R1:+GROUP-SECP384R1:%SERVER_PRECEDENCE"
#define ATROUSD_DEFAULT_TLS_RELOAD_MS 5000 /* certificate files looked at this often */
/* Authentication (auth.h): probes stay open; everything else needs a token when a token file is
 * given. --auth-reload-ms: how often the token file is looked at for a change. */
#define ATROUSD_DEFAULT_AUTH_OPEN_PATHS "/healthz,/readyz,/v2/health/live,/v2/health/ready"
#define ATROUSD_DEFAULT_AUTH_RELOAD_MS  5000

/* Most I/O threads, also when 0 picks one per usable CPU. */
#define ATROUSD_IO_THREADS_MAX 64

/* Longest --model-dir path. */
#define ATROUSD_PATH_MAX 1024

/* Room for the --load-model names, joined with commas. */
#define ATROUSD_LOAD_MODELS_MAX 4096

/* Triton's model control modes (models.h says what each does). */
enum atrousd_model_control {
    ATROUSD_MODEL_CONTROL_NONE,
    ATROUSD_MODEL_CONTROL_POLL,
    ATROUSD_MODEL_CONTROL_EXPLICIT,
};

/* "none", "poll", "explicit"; parse returns false for anything else. */
const char *atrousd_model_control_name(enum atrousd_model_control mode);
bool atrousd_model_control_parse(const char *s, enum atrousd_model_control *out);

struct atrousd_config {
    char host[ATROUSD_HOST_MAX];      /* numeric IPv4 or IPv6 address to listen on */
    uint64_t port;                    /* 0 = any free port (logged at start) */
    uint64_t io_threads;              /* libmicrohttpd polling threads; 0 = usable CPUs */
    uint64_t compute_threads;         /* compute workers; 0 = usable CPUs / omp_threads */
    uint64_t omp_threads;             /* oneDNN OpenMP team size per worker */
    uint64_t queue_depth;             /* requests waiting for a worker before 429 */
    uint64_t max_body_bytes;          /* request body limit (413) */
    uint64_t max_memory_bytes;        /* the memory budget of every request together (503);
                                         0 = the default, resolved at start (budget.h) */
    uint64_t max_tensor_elements;     /* per input tensor (400 too_large) */
    uint64_t max_output_elements;     /* output tensor (400 too_large) */
    uint64_t max_connections;         /* open connections */
    uint64_t max_connections_per_ip;  /* 0 = no limit */
    uint64_t connection_timeout_s;    /* idle or slow connections are closed after this */
    uint64_t connection_memory_bytes; /* libmicrohttpd's per-connection buffer (headers) */
    uint64_t request_timeout_ms;      /* longest wait in the compute queue (504); 0 = none */
    uint64_t drain_timeout_s;         /* SIGTERM: longest wait for in-flight requests */
    uint64_t cache_capacity;          /* compiled oneDNN primitives kept */
    char model_dir[ATROUSD_PATH_MAX]; /* model repository folder; "" = none */
    enum atrousd_model_control model_control_mode;
    uint64_t repository_poll_secs;             /* poll mode: seconds between rescans */
    char load_models[ATROUSD_LOAD_MODELS_MAX]; /* explicit mode: names, comma-separated; "*" */
    uint64_t max_json_bytes;                   /* KServe / TF Serving JSON document limit (413) */
    uint64_t max_batch;                        /* rows stacked into one oneDNN call; 1 = off */
    uint64_t max_queue_delay_us;               /* longest wait for batch company */
    uint64_t inline_max_flops;                 /* binary op requests up to this cost run on the I/O
                                                  thread, skipping the queue; 0 = never */
    uint64_t log_flush_ms;       /* longest an info line is buffered; 0 = write each */
    uint64_t min_send_rate;      /* answers slower than this (bytes/s) are cut off */
    uint64_t max_compute_ms;     /* estimated compute over this is refused (400) */
    uint64_t compress_min_bytes; /* answers at least this big are compressed when the client
                                    accepts it; 0 = never */
    enum atrousd_log_level log_level;
    enum atrousd_log_format log_format;
    /* TLS (tls.h); "" = not given. */
    char tls_cert[ATROUSD_PATH_MAX];              /* PEM certificate chain: turns TLS on */
    char tls_key[ATROUSD_PATH_MAX];               /* PEM private key */
    char tls_key_password_file[ATROUSD_PATH_MAX]; /* first line decrypts an encrypted key */
    char tls_client_ca[ATROUSD_PATH_MAX];         /* PEM CAs: mutual TLS, client certs required */
    char tls_priorities[ATROUSD_PATH_MAX];        /* GnuTLS priority string */
    uint64_t tls_reload_ms;                       /* file-change poll period; 0 = SIGHUP only */
    /* Authentication (auth.h). */
    char auth_token_file[ATROUSD_PATH_MAX]; /* "" = no authentication */
    char auth_open_paths[ATROUSD_PATH_MAX]; /* comma-separated paths (a final '*': a prefix) */
    uint64_t auth_reload_ms;                /* 0 = the token file is reread on SIGHUP only */
};

enum atrousd_config_result {
    ATROUSD_CONFIG_RUN,          /* serve */
    ATROUSD_CONFIG_HEALTH_PROBE, /* --health-probe: probe /readyz and exit */
    ATROUSD_CONFIG_HELP,         /* --help: print atrousd_config_usage and exit 0 */
    ATROUSD_CONFIG_VERSION,      /* --version: print the version and exit 0 */
    ATROUSD_CONFIG_ERROR,        /* invalid flag or value: message in errbuf, exit 2 */
};

/* Fills cfg with the defaults above. */
void atrousd_config_defaults(struct atrousd_config *cfg);

/*
 * Applies the environment (read through getenv_fn, e.g. getenv; NULL skips it) and then argv
 * (flags "--name value" or "--name=value") on top of cfg. On ATROUSD_CONFIG_ERROR, errbuf
 * holds one line naming the flag, its environment twin and what is accepted.
 */
enum atrousd_config_result atrousd_config_parse(struct atrousd_config *cfg, int argc,
                                                char *const argv[],
                                                const char *(*getenv_fn)(const char *name),
                                                char *errbuf, size_t errsize);

/* Writes --help text (every flag with its environment twin and default) to a malloc'd
 * string the caller frees; NULL on out of memory. */
char *atrousd_config_usage(const char *program);

/* Writes the configuration as one JSON object whose keys are the flag names with '_'. */
void atrousd_config_write_json(struct atrous_jw *w, const void *cfg);

#endif
