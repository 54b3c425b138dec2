/*
 * cpus.h - what the container gives this process: how many CPUs it may really use (the
 * scheduler affinity mask, capped by the cgroup CPU quota: v2 cpu.max, or v1
 * cpu.cfs_quota_us / cpu.cfs_period_us), from which the thread budget (workers x OpenMP
 * threads) is derived, and how much memory (the cgroup memory limit: v2 memory.max, or v1
 * memory.limit_in_bytes; else the RAM), from which the default memory budget is derived.
 */
#ifndef ATROUSD_CPUS_H
#define ATROUSD_CPUS_H

#include <stdbool.h>
#include <stdint.h>

struct atrousd_cpus {
    int affinity;      /* CPUs in sched_getaffinity's mask */
    bool has_quota;    /* a cgroup quota was found */
    double quota_cpus; /* quota / period, when has_quota */
    int usable;        /* min(affinity, floor(quota_cpus)), at least 1 */
};

/*
 * Fills *out for the calling process. fs_root prefixes the /proc and /sys paths read (NULL or
 * "" for the real ones; tests pass a directory holding fake proc/self/cgroup and
 * sys/fs/cgroup/... files). The affinity mask always comes from sched_getaffinity.
 */
void atrousd_cpus_detect(const char *fs_root, struct atrousd_cpus *out);

struct atrousd_thread_budget {
    int compute_workers; /* compute threads */
    int omp_threads;     /* OpenMP team per worker */
    bool clamped;        /* the request asked for more than usable CPUs allow */
};

/*
 * Chooses worker and OpenMP counts so that workers * omp_threads <= usable:
 * requested_workers 0 means usable / omp_threads. Requests beyond usable CPUs are clamped
 * (OpenMP threads first to usable, then workers) and flagged for a warning.
 */
void atrousd_cpus_budget(int usable, int requested_workers, int requested_omp,
                         struct atrousd_thread_budget *out);

struct atrousd_memory {
    uint64_t physical;     /* MemTotal of /proc/meminfo (or sysconf); 0 when unknown */
    bool has_limit;        /* a cgroup memory limit below the RAM was found */
    int cgroup_version;    /* 2 or 1: where a limit file was read (even one that limits
                              nothing); 0 when none was */
    uint64_t cgroup_limit; /* bytes, when has_limit */
    uint64_t usable;       /* cgroup_limit when has_limit, else physical */
};

/*
 * Fills *out for the calling process. fs_root as for atrousd_cpus_detect: tests pass a
 * directory with fake proc/self/cgroup, proc/meminfo and sys/fs/cgroup/... files. v2 takes the
 * smallest memory.max from the group up to the root ("max" is none); v1 the memory
 * controller's memory.limit_in_bytes of the group, or of the controller's root.
 */
void atrousd_memory_detect(const char *fs_root, struct atrousd_memory *out);

#endif
