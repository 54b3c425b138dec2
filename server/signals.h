/*
 * signals.h - shutdown signals delivered through a signalfd that main() waits on, so no work
 * ever runs inside a signal handler. Block them before starting any thread: threads inherit
 * the mask, and the signals then reach only the signalfd.
 */
#ifndef ATROUSD_SIGNALS_H
#define ATROUSD_SIGNALS_H

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and the threads it starts later),
 * ignores SIGPIPE, and returns a signalfd for them, or -1 with errno set. */
int atrousd_signals_open(void);

/* Waits up to timeout_ms (-1: forever) for a signal on fd. Returns the signal number, 0 on
 * timeout, -1 on error. */
int atrousd_signals_wait(int fd, int timeout_ms);

#endif
