/*
 * cpus.c - usable CPUs from the affinity mask and the cgroup quota.
 *
 * cgroup v2: /proc/self/cgroup has a "0::/path" line; the quota is the smallest cpu.max found
 * from /sys/fs/cgroup/path up to the root ("max 100000" means no quota). Inside a container
 * the path is usually "/" and the file is /sys/fs/cgroup/cpu.max.
 * cgroup v1: the "cpu" controller line gives the path below /sys/fs/cgroup/cpu (or
 * cpu,cpuacct); quota -1 means none. Container runtimes mount the container's own group at the
 * controller root, so the root's files are tried when the path does not exist there.
 */
#include "cpus.h"

#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CPUS_PATH_MAX 4096
#define CPUS_LINE_MAX 4096

static bool read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    bool ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    return ok;
}

static bool read_int64(const char *path, int64_t *out)
{
    char line[64];
    if (!read_line(path, line, sizeof(line)))
        return false;
    char *end = NULL;
    long long v = strtoll(line, &end, 10);
    if (end == line)
        return false;
    *out = v;
    return true;
}

/* Finds the cgroup path of a controller in /proc/self/cgroup: v2 when controller is "" (the
 * "0::" line), else the v1 line listing it among its controllers. */
static bool cgroup_path(const char *root, const char *controller, char *out, size_t size)
{
    char path[CPUS_PATH_MAX], line[CPUS_LINE_MAX];
    snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *first = strchr(line, ':');
        char *second = first ? strchr(first + 1, ':') : NULL;
        if (second == NULL)
            continue;
        *first = '\0';
        *second = '\0';
        const char *controllers = first + 1;
        if (controller[0] == '\0') {
            found = strcmp(line, "0") == 0 && controllers[0] == '\0';
        } else {
            char list[CPUS_LINE_MAX];
            snprintf(list, sizeof(list), "%s", controllers);
            char *save = NULL;
            for (char *tok = strtok_r(list, ",", &save); tok && !found;
                 tok = strtok_r(NULL, ",", &save))
                found = strcmp(tok, controller) == 0;
        }
        if (found)
            snprintf(out, size, "%s", second + 1);
    }
    fclose(f);
    return found;
}

/* Parses one v2 control file's line into *value; false when it sets no limit. */
typedef bool (*limit_parser)(const char *line, double *value);

/* The smallest limit that parse reads from file in the v2 group and each of its parents up to
 * the root (a parent's limit binds its children too); false when none is set. */
static bool smallest_v2(const char *root, const char *file, limit_parser parse, double *out)
{
    char group[CPUS_PATH_MAX], path[CPUS_PATH_MAX + 64], line[128];
    if (!cgroup_path(root, "", group, sizeof(group)))
        return false;
    bool found = false;
    for (;;) {
        size_t len = strlen(group);
        while (len > 1 && group[len - 1] == '/')
            group[--len] = '\0';
        snprintf(path, sizeof(path), "%s/sys/fs/cgroup%s/%s", root,
                 strcmp(group, "/") == 0 ? "" : group, file);
        double v = 0;
        if (read_line(path, line, sizeof(line)) && parse(line, &v)) {
            if (!found || v < *out)
                *out = v;
            found = true;
        }
        char *slash = strrchr(group, '/');
        if (slash == NULL || strcmp(group, "/") == 0)
            break;
        if (slash == group)
            group[1] = '\0';
        else
            *slash = '\0';
    }
    return found;
}

/* cpu.max: "quota period", or "max period" for none. */
static bool parse_cpu_max(const char *line, double *cpus)
{
    long long quota = 0, period = 0;
    if (sscanf(line, "%lld %lld", &quota, &period) != 2 || quota <= 0 || period <= 0)
        return false;
    *cpus = (double)quota / (double)period;
    return true;
}

/* Smallest v2 quota from the group up to the root; false when none is set. */
static bool quota_v2(const char *root, double *cpus)
{
    return smallest_v2(root, "cpu.max", parse_cpu_max, cpus);
}

static bool quota_v1_at(const char *dir, double *cpus)
{
    char path[CPUS_PATH_MAX + 64];
    int64_t quota = 0, period = 0;
    snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
    if (!read_int64(path, &quota))
        return false;
    snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
    if (!read_int64(path, &period) || quota <= 0 || period <= 0)
        return false;
    *cpus = (double)quota / (double)period;
    return true;
}

static bool quota_v1(const char *root, double *cpus)
{
    static const char *const mounts[] = {"cpu", "cpu,cpuacct", "cpuacct,cpu"};
    char group[CPUS_PATH_MAX], dir[CPUS_PATH_MAX * 2];
    if (!cgroup_path(root, "cpu", group, sizeof(group)))
        return false;
    for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
        snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup/%s%s", root, mounts[i], group);
        if (quota_v1_at(dir, cpus))
            return true;
        snprintf(dir, sizeof(dir), "%s/sys/fs/cgroup/%s", root, mounts[i]);
        if (quota_v1_at(dir, cpus))
            return true;
    }
    return false;
}

void atrousd_cpus_detect(const char *fs_root, struct atrousd_cpus *out)
{
    const char *root = fs_root ? fs_root : "";
    memset(out, 0, sizeof(*out));
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        out->affinity = CPU_COUNT(&set);
    if (out->affinity < 1) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        out->affinity = online > 0 ? (int)online : 1;
    }
    double q = 0;
    out->has_quota = quota_v2(root, &q) || quota_v1(root, &q);
    out->quota_cpus = out->has_quota ? q : 0;
    out->usable = out->affinity;
    if (out->has_quota) {
        /* Rounded down: a quota of 1.5 CPUs gets one compute worker, and the half CPU left
         * keeps the I/O thread from being throttled with the workers when the quota runs
         * out within a period (CFS stops every thread of the group until the next one). */
        double whole = floor(q);
        if (whole < out->usable)
            out->usable = whole < 1 ? 1 : (int)whole;
    }
}

void atrousd_cpus_budget(int usable, int requested_workers, int requested_omp,
                         struct atrousd_thread_budget *out)
{
    if (usable < 1)
        usable = 1;
    int omp = requested_omp < 1 ? 1 : requested_omp;
    out->clamped = false;
    if (omp > usable) {
        omp = usable;
        out->clamped = true;
    }
    int max_workers = usable / omp;
    int workers = requested_workers < 1 ? max_workers : requested_workers;
    if (workers > max_workers) {
        workers = max_workers;
        out->clamped = true;
    }
    out->compute_workers = workers < 1 ? 1 : workers;
    out->omp_threads = omp;
}

/* memory.max: a byte count, or "max" for none. */
static bool parse_memory_max(const char *line, double *bytes)
{
    char *end = NULL;
    unsigned long long v = strtoull(line, &end, 10);
    if (end == line || (*end != '\0' && *end != '\n'))
        return false;
    *bytes = (double)v;
    return true;
}

/* v1 memory.limit_in_bytes of the group, or of the controller's root inside a container; an
 * unlimited group reads about 2^63, which the caller's comparison with RAM discards. */
static bool memory_limit_v1(const char *root, double *bytes)
{
    char group[CPUS_PATH_MAX], path[CPUS_PATH_MAX * 2];
    int64_t v = 0;
    if (!cgroup_path(root, "memory", group, sizeof(group)))
        return false;
    snprintf(path, sizeof(path), "%s/sys/fs/cgroup/memory%s/memory.limit_in_bytes", root,
             strcmp(group, "/") == 0 ? "" : group);
    if (!read_int64(path, &v)) {
        snprintf(path, sizeof(path), "%s/sys/fs/cgroup/memory/memory.limit_in_bytes", root);
        if (!read_int64(path, &v))
            return false;
    }
    if (v <= 0)
        return false;
    *bytes = (double)v;
    return true;
}

/* MemTotal of <root>/proc/meminfo in bytes; 0 when unreadable. */
static uint64_t meminfo_total(const char *root)
{
    char path[CPUS_PATH_MAX], line[256];
    unsigned long long kib = 0;
    snprintf(path, sizeof(path), "%s/proc/meminfo", root);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
            break;
    }
    fclose(f);
    return (uint64_t)kib * 1024u;
}

void atrousd_memory_detect(const char *fs_root, struct atrousd_memory *out)
{
    const char *root = fs_root ? fs_root : "";
    memset(out, 0, sizeof(*out));
    out->physical = meminfo_total(root);
    if (out->physical == 0 && root[0] == '\0') {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages > 0 && page > 0)
            out->physical = (uint64_t)pages * (uint64_t)page;
    }
    double limit = 0;
    if (smallest_v2(root, "memory.max", parse_memory_max, &limit))
        out->cgroup_version = 2;
    else if (memory_limit_v1(root, &limit))
        out->cgroup_version = 1;
    /* A "limit" at or above the RAM limits nothing (v1 writes about 2^63 for none). */
    if (out->cgroup_version != 0 && limit >= 1 &&
        (out->physical == 0 || limit < (double)out->physical)) {
        out->has_limit = true;
        out->cgroup_limit = (uint64_t)limit;
    }
    out->usable = out->has_limit ? out->cgroup_limit : out->physical;
}
