/*
 * test_http_config.c - server/config.h (flags, environment twins, ranges, suffixes, old names,
 * --help) and server/cpus.h (affinity, cgroup quotas and memory limits read from a fake /proc
 * and /sys, and the thread budget that never oversubscribes the CPUs).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "cpus.h"

/* A fake environment for atrousd_config_parse: "NAME=value" pairs. */
static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; fake_env && fake_env[i]; i++) {
        if (strncmp(fake_env[i], name, len) == 0 && fake_env[i][len] == '=')
            return fake_env[i] + len + 1;
    }
    return NULL;
}

static enum atrousd_config_result parse(struct atrousd_config *cfg, const char *const *argv,
                                        const char *const *env, char *err, size_t size)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    fake_env = env;
    atrousd_config_defaults(cfg);
    return atrousd_config_parse(cfg, argc, (char *const *)argv, fake_getenv, err, size);
}

static void test_config_defaults_match_the_contract(void **state)
{
    (void)state;
    struct atrousd_config cfg;
    atrousd_config_defaults(&cfg);
    assert_string_equal(cfg.host, "0.0.0.0");
    assert_int_equal(cfg.port, 8080);
    assert_int_equal(cfg.max_body_bytes, 64 << 20);
    assert_int_equal(cfg.io_threads, 0); /* one per usable CPU */
    assert_int_equal(cfg.compute_threads, 0);
    assert_int_equal(cfg.omp_threads, 1);
    assert_int_equal(cfg.log_level, ATROUSD_LOG_INFO);
    assert_int_equal(cfg.log_format, ATROUSD_LOG_JSON);
}

static void test_config_flag_wins_over_environment(void **state)
{
    (void)state;
    struct atrousd_config cfg;
    char err[256];
    const char *argv[] = {"atrousd", "--port=9000", "--log-format", "text", NULL};
    const char *env[] = {"ATROUSD_PORT=7000", "ATROUSD_QUEUE_DEPTH=5", "ATROUSD_LOG_LEVEL=debug",
                         NULL};
    assert_int_equal(parse(&cfg, argv, env, err, sizeof(err)), ATROUSD_CONFIG_RUN);
    assert_int_equal(cfg.port, 9000);
    assert_int_equal(cfg.queue_depth, 5);
    assert_int_equal(cfg.log_level, ATROUSD_LOG_DEBUG);
    assert_int_equal(cfg.log_format, ATROUSD_LOG_TEXT);
}

static void test_config_byte_sizes_take_suffixes(void **state)
{
    (void)state;
    struct atrousd_config cfg;
    char err[256];
    const char *argv[] = {"atrousd", "--max-body-bytes", "3M", "--connection-memory", "64KiB",
                          NULL};
    assert_int_equal(parse(&cfg, argv, NULL, err, sizeof(err)), ATROUSD_CONFIG_RUN);
    assert_int_equal(cfg.max_body_bytes, 3 << 20);
    assert_int_equal(cfg.connection_memory_bytes, 64 << 10);
}

static void test_config_rejects_bad_values_naming_flag_and_env(void **state)
{
    (void)state;
    const char *const bad[][3] = {
        {"--port", "65536", NULL},       {"--port", "-1", NULL},
        {"--io-threads", "65", NULL},    {"--max-body-bytes", "12x", NULL},
        {"--queue-depth", "", NULL},     {"--log-level", "INFO", NULL},
        {"--host", "example.com", NULL}, {"--request-timeout", "99999999999999999999", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct atrousd_config cfg;
        char err[256];
        const char *argv[] = {"atrousd", bad[i][0], bad[i][1], NULL};
        assert_int_equal(parse(&cfg, argv, NULL, err, sizeof(err)), ATROUSD_CONFIG_ERROR);
        assert_non_null(strstr(err, bad[i][0]));
        assert_non_null(strstr(err, "ATROUSD_"));
    }
    struct atrousd_config cfg;
    char err[256];
    const char *argv[] = {"atrousd", NULL};
    const char *env[] = {"ATROUSD_DRAIN_TIMEOUT=soon", NULL};
    assert_int_equal(parse(&cfg, argv, env, err, sizeof(err)), ATROUSD_CONFIG_ERROR);
    assert_non_null(strstr(err, "ATROUSD_DRAIN_TIMEOUT"));
}

static void test_config_old_name_of_the_memory_budget_is_still_read(void **state)
{
    (void)state;
    struct atrousd_config cfg;
    char err[256];
    const char *none[] = {"atrousd", NULL};
    assert_int_equal(parse(&cfg, none, NULL, err, sizeof(err)), ATROUSD_CONFIG_RUN);
    assert_int_equal(cfg.max_memory_bytes, 0); /* resolved from the container at start */
    assert_int_equal(cfg.max_compute_ms, ATROUSD_DEFAULT_MAX_COMPUTE_MS);
    assert_int_equal(cfg.min_send_rate, ATROUSD_DEFAULT_MIN_SEND_RATE);
    const char *old_flag[] = {"atrousd", "--max-buffered-bytes", "3m", NULL};
    assert_int_equal(parse(&cfg, old_flag, NULL, err, sizeof(err)), ATROUSD_CONFIG_RUN);
    assert_int_equal(cfg.max_memory_bytes, 3 << 20);
    const char *old_env[] = {"ATROUSD_MAX_BUFFERED_BYTES=5m", NULL};
    assert_int_equal(parse(&cfg, none, old_env, err, sizeof(err)), ATROUSD_CONFIG_RUN);
    assert_int_equal(cfg.max_memory_bytes, 5 << 20);
    /* The new name wins over the old one, in the environment as on the command line. */
    const char *both_env[] = {"ATROUSD_MAX_MEMORY_BYTES=7m", "ATROUSD_MAX_BUFFERED_BYTES=5m", NULL};
    assert_int_equal(parse(&cfg, none, both_env, err, sizeof(err)), ATROUSD_CONFIG_RUN);
    assert_int_equal(cfg.max_memory_bytes, 7 << 20);
    const char *new_flags[] = {"atrousd", "--max-memory-bytes=2g", "--max-compute-ms",
                               "250",     "--min-send-rate",       "64k",
                               NULL};
    assert_int_equal(parse(&cfg, new_flags, old_env, err, sizeof(err)), ATROUSD_CONFIG_RUN);
    assert_int_equal(cfg.max_memory_bytes, (uint64_t)2 << 30);
    assert_int_equal(cfg.max_compute_ms, 250);
    assert_int_equal(cfg.min_send_rate, 64 << 10);
    const char *zero_rate[] = {"atrousd", "--min-send-rate", "0", NULL};
    assert_int_equal(parse(&cfg, zero_rate, NULL, err, sizeof(err)), ATROUSD_CONFIG_ERROR);
    assert_non_null(strstr(err, "ATROUSD_MIN_SEND_RATE"));
    char *usage = atrousd_config_usage("atrousd");
    assert_non_null(usage);
    assert_non_null(strstr(usage, "--max-buffered-bytes"));
    assert_non_null(strstr(usage, "old name of --max-memory-bytes"));
    assert_non_null(strstr(usage, "[env ATROUSD_MAX_COMPUTE_MS, default 5000]"));
    free(usage);
}

static void test_config_modes(void **state)
{
    (void)state;
    struct atrousd_config cfg;
    char err[256];
    const char *probe[] = {"atrousd", "--health-probe", "--port", "81", NULL};
    assert_int_equal(parse(&cfg, probe, NULL, err, sizeof(err)), ATROUSD_CONFIG_HEALTH_PROBE);
    assert_int_equal(cfg.port, 81);
    const char *help[] = {"atrousd", "--port", "1", "--help", NULL};
    assert_int_equal(parse(&cfg, help, NULL, err, sizeof(err)), ATROUSD_CONFIG_HELP);
    const char *version[] = {"atrousd", "--version", NULL};
    assert_int_equal(parse(&cfg, version, NULL, err, sizeof(err)), ATROUSD_CONFIG_VERSION);
    const char *stray[] = {"atrousd", "serve", NULL};
    assert_int_equal(parse(&cfg, stray, NULL, err, sizeof(err)), ATROUSD_CONFIG_ERROR);
}

static void test_config_usage_lists_defaults(void **state)
{
    (void)state;
    char *usage = atrousd_config_usage("atrousd");
    assert_non_null(usage);
    assert_non_null(strstr(usage, "--max-connections N"));
    assert_non_null(strstr(usage, "[env ATROUSD_MAX_CONNECTIONS, default 1024]"));
    assert_non_null(strstr(usage, "[env ATROUSD_HOST, default 0.0.0.0]"));
    free(usage);
}

/* Writes text to root/relative, creating directories. */
static void put(const char *root, const char *relative, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, relative);
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_tree(const char *root)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void test_cpus_reads_cgroup_v2_quota_up_the_tree(void **state)
{
    (void)state;
    char root[] = "/tmp/atrousd-cpus-XXXXXX";
    assert_non_null(mkdtemp(root));
    struct atrousd_cpus c;
    put(root, "proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
    put(root, "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n");
    put(root, "sys/fs/cgroup/kubepods/pod1/cpu.max", "150000 100000\n");
    put(root, "sys/fs/cgroup/kubepods/cpu.max", "800000 100000\n");
    atrousd_cpus_detect(root, &c);
    assert_true(c.has_quota);
    assert_true(c.quota_cpus > 1.49 && c.quota_cpus < 1.51);
    assert_int_equal(c.usable, 1); /* floor: the half CPU stays with the I/O thread */
    remove_tree(root);
}

static void test_cpus_reads_cgroup_v1_quota(void **state)
{
    (void)state;
    char root[] = "/tmp/atrousd-cpus-XXXXXX";
    assert_non_null(mkdtemp(root));
    struct atrousd_cpus c;
    put(root, "proc/self/cgroup", "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n");
    /* Inside a container the group's files sit at the controller's root. */
    put(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "200000\n");
    put(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    atrousd_cpus_detect(root, &c);
    assert_true(c.has_quota);
    assert_int_equal(c.usable, c.affinity < 2 ? c.affinity : 2);
    remove_tree(root);
}

static void test_cpus_without_quota_uses_affinity(void **state)
{
    (void)state;
    char root[] = "/tmp/atrousd-cpus-XXXXXX";
    assert_non_null(mkdtemp(root));
    struct atrousd_cpus c;
    put(root, "proc/self/cgroup", "0::/\n");
    put(root, "sys/fs/cgroup/cpu.max", "max 100000\n");
    atrousd_cpus_detect(root, &c);
    assert_false(c.has_quota);
    assert_int_equal(c.usable, c.affinity);
    remove_tree(root);
    atrousd_cpus_detect(NULL, &c); /* the real machine */
    assert_true(c.usable >= 1 && c.usable <= c.affinity);
}

static void test_memory_reads_cgroup_v2_limit_up_the_tree(void **state)
{
    (void)state;
    char root[] = "/tmp/atrousd-mem-XXXXXX";
    assert_non_null(mkdtemp(root));
    struct atrousd_memory m;
    put(root, "proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
    put(root, "proc/meminfo", "MemTotal:       16384000 kB\nMemFree:        1 kB\n");
    put(root, "sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "max\n");
    put(root, "sys/fs/cgroup/kubepods/pod1/memory.max", "2147483648\n");
    put(root, "sys/fs/cgroup/kubepods/memory.max", "4294967296\n");
    atrousd_memory_detect(root, &m);
    assert_int_equal(m.physical, (uint64_t)16384000 * 1024);
    assert_true(m.has_limit);
    assert_int_equal(m.cgroup_version, 2);
    assert_int_equal(m.cgroup_limit, (uint64_t)2 << 30);
    assert_int_equal(m.usable, (uint64_t)2 << 30);
    remove_tree(root);
}

static void test_memory_reads_cgroup_v1_limit(void **state)
{
    (void)state;
    char root[] = "/tmp/atrousd-mem-XXXXXX";
    assert_non_null(mkdtemp(root));
    struct atrousd_memory m;
    put(root, "proc/self/cgroup", "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n");
    put(root, "proc/meminfo", "MemTotal:       16384000 kB\n");
    /* Inside a container the group's files sit at the controller's root. */
    put(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "536870912\n");
    atrousd_memory_detect(root, &m);
    assert_true(m.has_limit);
    assert_int_equal(m.cgroup_version, 1);
    assert_int_equal(m.usable, 512 << 20);
    remove_tree(root);
}

static void test_memory_without_limit_uses_the_ram(void **state)
{
    (void)state;
    char root[] = "/tmp/atrousd-mem-XXXXXX";
    assert_non_null(mkdtemp(root));
    struct atrousd_memory m;
    /* v1 writes about 2^63 for "no limit"; a limit above the RAM limits nothing either. */
    put(root, "proc/self/cgroup", "4:memory:/\n");
    put(root, "proc/meminfo", "MemTotal:       1000 kB\n");
    put(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    atrousd_memory_detect(root, &m);
    assert_false(m.has_limit);
    assert_int_equal(m.cgroup_version, 1);
    assert_int_equal(m.usable, 1000 * 1024);
    remove_tree(root);
    atrousd_memory_detect(NULL, &m); /* the real machine */
    assert_true(m.physical > 0);
    assert_true(m.usable > 0 && m.usable <= m.physical);
}

static void test_cpus_budget_never_oversubscribes(void **state)
{
    (void)state;
    struct {
        int usable, workers, omp, want_workers, want_omp;
        bool clamped;
    } cases[] = {
        {8, 0, 1, 8, 1, false}, {8, 0, 2, 4, 2, false}, {8, 3, 2, 3, 2, false},
        {8, 16, 1, 8, 1, true}, {8, 4, 4, 2, 4, true},  {2, 0, 8, 1, 2, true},
        {1, 0, 1, 1, 1, false}, {0, 0, 0, 1, 1, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct atrousd_thread_budget b;
        atrousd_cpus_budget(cases[i].usable, cases[i].workers, cases[i].omp, &b);
        assert_int_equal(b.compute_workers, cases[i].want_workers);
        assert_int_equal(b.omp_threads, cases[i].want_omp);
        assert_int_equal(b.clamped, cases[i].clamped);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_match_the_contract),
        cmocka_unit_test(test_config_flag_wins_over_environment),
        cmocka_unit_test(test_config_byte_sizes_take_suffixes),
        cmocka_unit_test(test_config_rejects_bad_values_naming_flag_and_env),
        cmocka_unit_test(test_config_old_name_of_the_memory_budget_is_still_read),
        cmocka_unit_test(test_config_modes),
        cmocka_unit_test(test_config_usage_lists_defaults),
        cmocka_unit_test(test_cpus_reads_cgroup_v2_quota_up_the_tree),
        cmocka_unit_test(test_cpus_reads_cgroup_v1_quota),
        cmocka_unit_test(test_cpus_without_quota_uses_affinity),
        cmocka_unit_test(test_memory_reads_cgroup_v2_limit_up_the_tree),
        cmocka_unit_test(test_memory_reads_cgroup_v1_limit),
        cmocka_unit_test(test_memory_without_limit_uses_the_ram),
        cmocka_unit_test(test_cpus_budget_never_oversubscribes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
