/*
 * probe.c - a minimal HTTP/1.1 GET over a non-blocking socket with one overall deadline.
 */
#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "tls.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline; false on timeout or error. */
static bool wait_for(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

static bool connect_by(int fd, uint16_t port, int64_t deadline)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
        return true;
    if (errno != EINPROGRESS || !wait_for(fd, POLLOUT, deadline))
        return false;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0;
}

/* TLS: the exchange on a blocking socket whose send and receive timeouts are what is left. */
static int probe_tls(const struct atrousd_config *cfg, int fd, const char *request, size_t len,
                     char *buf, size_t size, int64_t deadline)
{
    int64_t left = deadline - now_ms();
    if (left <= 0)
        return -1;
    struct timeval tv = {.tv_sec = (time_t)(left / 1000), .tv_usec = (long)(left % 1000) * 1000};
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        return -1;
    return atrousd_tls_probe_exchange(cfg, fd, request, len, buf, size, (int)left) < 0 ? -1 : 0;
}

int atrousd_probe_readyz(const struct atrousd_config *cfg, uint16_t port, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1;
    int result = 1;
    if (!connect_by(fd, port, deadline))
        goto out;
    static const char request[] = "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  "User-Agent: atrousd-health-probe\r\nConnection: close\r\n\r\n";
    char buf[64];
    if (cfg != NULL && atrousd_tls_enabled(cfg)) {
        if (probe_tls(cfg, fd, request, sizeof(request) - 1, buf, sizeof(buf), deadline) != 0)
            goto out;
        goto status;
    }
    size_t sent = 0;
    while (sent < sizeof(request) - 1) {
        ssize_t n = send(fd, request + sent, sizeof(request) - 1 - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            if (!wait_for(fd, POLLOUT, deadline))
                goto out;
        } else if (n < 0 && errno != EINTR) {
            goto out;
        }
    }
    /* The status line is all we need: "HTTP/1.1 200 ". */
    size_t got = 0;
    while (got < 13) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n == 0) {
            goto out;
        } else if (errno == EAGAIN) {
            if (!wait_for(fd, POLLIN, deadline))
                goto out;
        } else if (errno != EINTR) {
            goto out;
        }
    }
    buf[got] = '\0';
status:
    if (strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200 ", 5) == 0)
        result = 0;
out:
    close(fd);
    return result;
}
