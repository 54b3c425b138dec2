/*
 * signals.c - signalfd set-up and waiting.
 */
#include "signals.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

int atrousd_signals_open(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP); /* a rescan of the model repository (models.h), never fatal */
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    /* Writes to a closed socket must fail with EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int atrousd_signals_wait(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (n == 0)
        return 0;
    struct signalfd_siginfo info;
    ssize_t got = read(fd, &info, sizeof(info));
    if (got != (ssize_t)sizeof(info))
        return errno == EAGAIN ? 0 : -1;
    return (int)info.ssi_signo;
}
