/*
 * cpus.h - how many CPUs this process may really use: the scheduler affinity mask, capped by
 * the cgroup CPU quota (v2 cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us) that a
 * container runtime sets. The thread budget (workers x OpenMP threads) is derived from it.
 */
#ifndef ATROUSD_CPUS_H
#define ATROUSD_CPUS_H

#include <stdbool.h>

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

#endif
