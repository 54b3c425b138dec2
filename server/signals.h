/*
 * signals.h - every signal atrousd acts on is read from a signalfd by a thread of its own, so
 * no work runs inside a signal handler, and a main thread that is blocked (a model folder on
 * slow storage, a long warm-up) never keeps SIGTERM from being obeyed.
 *
 *   SIGTERM, SIGINT   during start-up: logged, then the process exits 0 at once (nothing has
 *                     been served yet; the log is flushed first, bounded);
 *                     while serving: the drain begins (atrousd_signals_wait_stop returns);
 *                     while draining: the process exits at once with 128 + the signal.
 *   SIGHUP            logged; while serving, the reload hook runs on the signal thread (today
 *                     it reloads nothing); during start-up and drain it is only logged.
 *   SIGUSR1, SIGUSR2  logged and otherwise ignored (reserved; they no longer kill).
 *   SIGPIPE           ignored: a write to a closed socket fails with EPIPE instead.
 */
#ifndef ATROUSD_SIGNALS_H
#define ATROUSD_SIGNALS_H

struct atrousd_signals;

/*
 * Blocks the signals above in the calling thread, which must not have started any other
 * thread yet (threads inherit the mask, and the signals then reach only the signalfd), and
 * starts the signal thread in the start-up state. NULL with errno set on failure.
 */
struct atrousd_signals *atrousd_signals_start(void);

/* Start-up is over: SIGTERM/SIGINT now begin a drain, and each SIGHUP calls reload(arg) on the
 * signal thread (reload may be NULL). */
void atrousd_signals_serving(struct atrousd_signals *s, void (*reload)(void *arg), void *arg);

/* Waits until SIGTERM or SIGINT asks for a drain and returns that signal (-1 when the signal
 * thread failed: drain anyway). From then on another SIGTERM or SIGINT exits the process at
 * once with 128 + its number. */
int atrousd_signals_wait_stop(struct atrousd_signals *s);

/* Stops the signal thread and closes the signalfd (the signals stay blocked). Accepts NULL. */
void atrousd_signals_stop(struct atrousd_signals *s);

#endif
