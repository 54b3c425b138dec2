/*
 * signals.c - the signal thread: a signalfd and an eventfd (to stop it) in one poll loop, and
 * a small state machine (starting, serving, draining) that says what each signal does.
 */
#include "signals.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"

enum phase {
    PHASE_STARTING,
    PHASE_SERVING,
    PHASE_DRAINING,
};

struct atrousd_signals {
    int sigfd, stopfd;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* stop_signo was set */
    enum phase phase;
    int stop_signo;
    void (*reload)(void *arg);
    void *reload_arg;
};

/* The signals that end the process by default and that anyone may send (kill, an
 * orchestrator, the kernel for a resource limit), besides the ones handled by name below.
 * Logged and ignored. Not the synchronous faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT):
 * those must still end a broken process. SIGTRAP and SIGSYS raised by the kernel for an
 * instruction (a breakpoint, a seccomp trap) are forced through any mask, so blocking them
 * only stops the ones sent with kill. */
static const int ignored[] = {
    SIGUSR1,   SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGXCPU, SIGXFSZ, SIGTRAP, SIGSYS,
#ifdef SIGPWR
    SIGPWR,
#endif
#ifdef SIGSTKFLT
    SIGSTKFLT,
#endif
};

static bool stops(int signo)
{
    return signo == SIGTERM || signo == SIGINT || signo == SIGQUIT;
}

static void fill_set(sigset_t *set)
{
    static const int handled[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP};
    sigemptyset(set);
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
        sigaddset(set, handled[i]);
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
        sigaddset(set, ignored[i]);
    /* The real-time signals glibc leaves to applications (it keeps the two below SIGRTMIN for
     * its threads; sigaddset refuses those anyway). */
    for (int signo = SIGRTMIN; signo <= SIGRTMAX; signo++)
        sigaddset(set, signo);
}

static void log_signal(enum atrousd_log_level level, const char *msg, int signo)
{
    char rt[16];
    const char *name = sigabbrev_np(signo);
    if (name == NULL) { /* the real-time ones have no abbreviation */
        snprintf(rt, sizeof(rt), "RTMIN+%d", signo - SIGRTMIN);
        name = rt;
    }
    struct atrousd_log_field fields[] = {
        LOG_INT("signal", signo),
        LOG_STR("name", name),
    };
    atrousd_log_fields(level, msg, fields, 2);
}

/* Leaves at once: the log gets what it can within its bound, nothing else runs. */
static void exit_now(int status)
{
    atrousd_log_flush();
    _exit(status);
}

/* What one signal does; runs on the signal thread. */
static void handle(struct atrousd_signals *s, int signo)
{
    pthread_mutex_lock(&s->lock);
    enum phase phase = s->phase;
    if (stops(signo) && phase == PHASE_STARTING) {
        /* The lock stays held: start-up cannot turn into serving (and log "ready") while the
         * process is on its way out. */
        log_signal(ATROUSD_LOG_WARN, "signal during start-up: exiting without serving", signo);
        exit_now(0);
    }
    void (*reload)(void *) = s->reload;
    void *reload_arg = s->reload_arg;
    if (stops(signo) && phase == PHASE_SERVING) {
        s->phase = PHASE_DRAINING;
        s->stop_signo = signo;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);

    if (stops(signo)) {
        if (phase == PHASE_DRAINING) {
            log_signal(ATROUSD_LOG_WARN, "second signal: exiting at once without draining", signo);
            exit_now(128 + signo);
        }
        return; /* main drains */
    }
    if (signo == SIGHUP && phase == PHASE_SERVING) {
        log_signal(ATROUSD_LOG_INFO, "SIGHUP: reloading", signo);
        if (reload != NULL)
            reload(reload_arg);
        return;
    }
    if (signo == SIGHUP)
        log_signal(ATROUSD_LOG_INFO, "SIGHUP ignored: not serving yet, or draining", signo);
    else if (signo == SIGUSR1 || signo == SIGUSR2)
        log_signal(ATROUSD_LOG_INFO, "signal ignored (reserved)", signo);
    else
        log_signal(ATROUSD_LOG_WARN, "signal ignored", signo);
}

static void *signal_main(void *arg)
{
    struct atrousd_signals *s = arg;
    pthread_setname_np(pthread_self(), "atrousd-signal");
    struct pollfd pfd[2] = {{.fd = s->sigfd, .events = POLLIN},
                            {.fd = s->stopfd, .events = POLLIN}};
    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            atrousd_logf(ATROUSD_LOG_ERROR, "waiting for signals failed: %s", strerror(errno));
            /* Nothing could stop the process any more but SIGKILL: drain now instead. */
            pthread_mutex_lock(&s->lock);
            if (s->stop_signo == 0)
                s->stop_signo = -1;
            s->phase = PHASE_DRAINING;
            pthread_cond_broadcast(&s->changed);
            pthread_mutex_unlock(&s->lock);
            break;
        }
        if (pfd[1].revents != 0)
            break;
        struct signalfd_siginfo info;
        if (read(s->sigfd, &info, sizeof(info)) == (ssize_t)sizeof(info))
            handle(s, (int)info.ssi_signo);
    }
    return NULL;
}

struct atrousd_signals *atrousd_signals_start(void)
{
    sigset_t set;
    fill_set(&set);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return NULL;
    /* Writes to a closed socket must fail with EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    struct atrousd_signals *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->phase = PHASE_STARTING;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->sigfd >= 0 && s->stopfd >= 0 && pthread_create(&s->thread, NULL, signal_main, s) == 0)
        return s;
    int saved = errno;
    if (s->sigfd >= 0)
        close(s->sigfd);
    if (s->stopfd >= 0)
        close(s->stopfd);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
    errno = saved;
    return NULL;
}

void atrousd_signals_serving(struct atrousd_signals *s, void (*reload)(void *arg), void *arg)
{
    pthread_mutex_lock(&s->lock);
    s->reload = reload;
    s->reload_arg = arg;
    if (s->phase == PHASE_STARTING)
        s->phase = PHASE_SERVING;
    pthread_mutex_unlock(&s->lock);
}

int atrousd_signals_wait_stop(struct atrousd_signals *s)
{
    pthread_mutex_lock(&s->lock);
    while (s->stop_signo == 0)
        pthread_cond_wait(&s->changed, &s->lock);
    int signo = s->stop_signo;
    pthread_mutex_unlock(&s->lock);
    return signo;
}

void atrousd_signals_stop(struct atrousd_signals *s)
{
    if (s == NULL)
        return;
    uint64_t one = 1;
    if (write(s->stopfd, &one, sizeof(one)) == (ssize_t)sizeof(one))
        pthread_join(s->thread, NULL);
    else
        pthread_detach(s->thread);
    close(s->sigfd);
    close(s->stopfd);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
