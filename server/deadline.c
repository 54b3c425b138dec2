/*
 * deadline.c - per-connection request deadlines and the sweeper thread that enforces them.
 */
#include "deadline.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"

struct atrousd_deadline {
    int fd;
    _Atomic uint64_t deadline_ns; /* 0 = none */
    _Atomic bool expired;
    struct atrousd_deadline *prev, *next;
};

struct atrousd_deadlines {
    pthread_mutex_t lock; /* the list, and shutdown(2) on its descriptors */
    pthread_cond_t wake;
    bool stopping;
    struct atrousd_deadline *head;
    pthread_t sweeper;
};

/* Shuts down every connection past its deadline; called with the lock held. */
static void sweep(struct atrousd_deadlines *set, uint64_t now)
{
    for (struct atrousd_deadline *d = set->head; d != NULL; d = d->next) {
        uint64_t deadline = atomic_load(&d->deadline_ns);
        if (deadline == 0 || now < deadline || atomic_load(&d->expired))
            continue;
        atomic_store(&d->expired, true);
        shutdown(d->fd, SHUT_RDWR);
    }
}

static void *sweeper_main(void *arg)
{
    struct atrousd_deadlines *set = arg;
    pthread_mutex_lock(&set->lock);
    while (!set->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += ATROUSD_DEADLINE_SWEEP_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        int rc = 0;
        while (!set->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&set->wake, &set->lock, &until);
        if (!set->stopping)
            sweep(set, atrousd_now_ns());
    }
    pthread_mutex_unlock(&set->lock);
    return NULL;
}

struct atrousd_deadlines *atrousd_deadlines_create(void)
{
    struct atrousd_deadlines *set = calloc(1, sizeof(*set));
    pthread_condattr_t attr;
    if (set == NULL)
        return NULL;
    pthread_mutex_init(&set->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&set->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&set->sweeper, NULL, sweeper_main, set) != 0) {
        pthread_cond_destroy(&set->wake);
        pthread_mutex_destroy(&set->lock);
        free(set);
        return NULL;
    }
    pthread_setname_np(set->sweeper, "atrousd-sweep");
    return set;
}

void atrousd_deadlines_destroy(struct atrousd_deadlines *set)
{
    if (set == NULL)
        return;
    pthread_mutex_lock(&set->lock);
    set->stopping = true;
    pthread_cond_signal(&set->wake);
    pthread_mutex_unlock(&set->lock);
    pthread_join(set->sweeper, NULL);
    while (set->head != NULL) {
        struct atrousd_deadline *d = set->head;
        set->head = d->next;
        free(d);
    }
    pthread_cond_destroy(&set->wake);
    pthread_mutex_destroy(&set->lock);
    free(set);
}

struct atrousd_deadline *atrousd_deadline_add(struct atrousd_deadlines *set, int fd,
                                              uint64_t deadline_ns)
{
    struct atrousd_deadline *d = set ? calloc(1, sizeof(*d)) : NULL;
    if (d == NULL)
        return NULL;
    d->fd = fd;
    atomic_init(&d->deadline_ns, deadline_ns);
    atomic_init(&d->expired, false);
    pthread_mutex_lock(&set->lock);
    d->next = set->head;
    if (set->head != NULL)
        set->head->prev = d;
    set->head = d;
    pthread_mutex_unlock(&set->lock);
    return d;
}

void atrousd_deadline_remove(struct atrousd_deadlines *set, struct atrousd_deadline *d)
{
    if (set == NULL || d == NULL)
        return;
    pthread_mutex_lock(&set->lock);
    if (d->prev != NULL)
        d->prev->next = d->next;
    else
        set->head = d->next;
    if (d->next != NULL)
        d->next->prev = d->prev;
    pthread_mutex_unlock(&set->lock);
    free(d);
}

void atrousd_deadline_set(struct atrousd_deadline *d, uint64_t deadline_ns)
{
    if (d != NULL)
        atomic_store(&d->deadline_ns, deadline_ns);
}

bool atrousd_deadline_expired(const struct atrousd_deadline *d)
{
    return d != NULL && atomic_load(&d->expired);
}
