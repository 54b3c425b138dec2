/*
 * linger.c - the linger thread: an epoll set of dup'ed sockets whose incoming bytes are read
 * and dropped until the client closes or a bound is reached, and the set of armed
 * descriptors (a byte per descriptor number, grown on demand).
 */
#include "linger.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

/* One read drops at most this much; the thread's own buffer. */
#define DRAIN_CHUNK ((size_t)64 << 10)

struct slot {
    int fd; /* the dup; -1 when free */
    uint64_t until_ns, idle_until_ns;
    unsigned long long dropped;
};

struct atrousd_linger {
    pthread_mutex_t lock; /* armed, slots, count */
    unsigned char *armed; /* armed[fd] != 0: linger when fd closes */
    size_t armed_size;
    struct slot slots[ATROUSD_LINGER_MAX];
    unsigned count;
    int epfd, wakefd;
    pthread_t thread;
    char drain[DRAIN_CHUNK];
};

static void slot_close(struct atrousd_linger *l, struct slot *s)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->fd = -1;
    l->count--;
}

/* Reads and drops what the client sent; false when the slot is done (closed by the client,
 * an error, or the byte bound). Lock held. */
static bool slot_drain(struct atrousd_linger *l, struct slot *s, uint64_t now)
{
    for (;;) {
        ssize_t n = recv(s->fd, l->drain, sizeof(l->drain), MSG_DONTWAIT);
        if (n > 0) {
            s->dropped += (unsigned long long)n;
            s->idle_until_ns = now + ATROUSD_LINGER_IDLE_MS * 1000000ull;
            if (s->dropped >= ATROUSD_LINGER_MAX_BYTES)
                return false;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
}

static void *linger_main(void *arg)
{
    struct atrousd_linger *l = arg;
    pthread_setname_np(pthread_self(), "atrousd-linger");
    struct epoll_event events[32];
    for (;;) {
        /* The sweep below runs at least this often, so bounds are kept to within 100 ms. */
        int n = epoll_wait(l->epfd, events, 32, 100);
        if (n < 0 && errno != EINTR)
            break;
        uint64_t now = atrousd_now_ns();
        bool stop = false;
        pthread_mutex_lock(&l->lock);
        for (int i = 0; i < n; i++) {
            if (events[i].data.u32 == UINT32_MAX) {
                stop = true;
                continue;
            }
            struct slot *s = &l->slots[events[i].data.u32];
            if (s->fd >= 0 && !slot_drain(l, s, now))
                slot_close(l, s);
        }
        for (unsigned i = 0; i < ATROUSD_LINGER_MAX; i++) {
            struct slot *s = &l->slots[i];
            if (s->fd >= 0 && (now >= s->until_ns || now >= s->idle_until_ns || stop))
                slot_close(l, s);
        }
        pthread_mutex_unlock(&l->lock);
        if (stop)
            break;
    }
    return NULL;
}

struct atrousd_linger *atrousd_linger_create(void)
{
    struct atrousd_linger *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    pthread_mutex_init(&l->lock, NULL);
    for (unsigned i = 0; i < ATROUSD_LINGER_MAX; i++)
        l->slots[i].fd = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    if (l->epfd >= 0 && l->wakefd >= 0 && epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) == 0 &&
        pthread_create(&l->thread, NULL, linger_main, l) == 0)
        return l;
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->wakefd >= 0)
        close(l->wakefd);
    pthread_mutex_destroy(&l->lock);
    free(l);
    return NULL;
}

void atrousd_linger_destroy(struct atrousd_linger *l)
{
    if (l == NULL)
        return;
    uint64_t one = 1;
    if (write(l->wakefd, &one, sizeof(one)) == (ssize_t)sizeof(one))
        pthread_join(l->thread, NULL);
    else
        pthread_detach(l->thread); /* cannot happen with an eventfd; never free under it */
    for (unsigned i = 0; i < ATROUSD_LINGER_MAX; i++) {
        if (l->slots[i].fd >= 0)
            close(l->slots[i].fd);
    }
    close(l->epfd);
    close(l->wakefd);
    free(l->armed);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

void atrousd_linger_arm(struct atrousd_linger *l, int fd)
{
    if (l == NULL || fd < 0)
        return;
    pthread_mutex_lock(&l->lock);
    if ((size_t)fd >= l->armed_size) {
        size_t size = l->armed_size ? l->armed_size : 256;
        while (size <= (size_t)fd)
            size *= 2;
        unsigned char *grown = realloc(l->armed, size);
        if (grown != NULL) {
            memset(grown + l->armed_size, 0, size - l->armed_size);
            l->armed = grown;
            l->armed_size = size;
        }
    }
    if ((size_t)fd < l->armed_size) /* out of memory: this one closes at once */
        l->armed[fd] = 1;
    pthread_mutex_unlock(&l->lock);
}

void atrousd_linger_closing(struct atrousd_linger *l, int fd)
{
    if (l == NULL || fd < 0)
        return;
    pthread_mutex_lock(&l->lock);
    bool armed = (size_t)fd < l->armed_size && l->armed[fd];
    if (armed)
        l->armed[fd] = 0; /* the number is about to be reused */
    struct slot *s = NULL;
    for (unsigned i = 0; armed && l->count < ATROUSD_LINGER_MAX && i < ATROUSD_LINGER_MAX; i++) {
        if (l->slots[i].fd < 0) {
            s = &l->slots[i];
            break;
        }
    }
    int dup = s != NULL ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (dup >= 0) {
        /* The answer is out: end-of-file after it, and nothing more from us. */
        shutdown(dup, SHUT_WR);
        uint64_t now = atrousd_now_ns();
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                                 .data.u32 = (uint32_t)(s - l->slots)};
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, dup, &ev) == 0) {
            *s = (struct slot){.fd = dup,
                               .until_ns = now + ATROUSD_LINGER_MS * 1000000ull,
                               .idle_until_ns = now + ATROUSD_LINGER_IDLE_MS * 1000000ull};
            l->count++;
        } else {
            close(dup);
        }
    }
    pthread_mutex_unlock(&l->lock);
}
