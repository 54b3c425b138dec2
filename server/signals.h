/*
 * signals.h - every signal atrousd acts on is read from a signalfd by a thread of its own, so
 * no work runs inside a signal handler, and a main thread that is blocked (a model folder on
 * slow storage, a long warm-up) never keeps SIGTERM from being obeyed.
 *
 *   SIGTERM, SIGINT,  during start-up: logged, then the process exits 0 at once (nothing has
 *   SIGQUIT           been served yet; the log is flushed first, bounded);
 *                     while serving: the drain begins (atrousd_signals_wait_stop returns);
 *                     while draining: the process exits at once with 128 + the signal.
 *   SIGHUP            logged; while serving, the reload hook runs on the signal thread (it
 *                     rescans the model repository); during start-up and drain only logged.
 *   SIGUSR1, SIGUSR2  logged and otherwise ignored (reserved; they no longer kill).
 *   SIGALRM, SIGVTALRM, SIGPROF, SIGIO (SIGPOLL), SIGPWR, SIGSTKFLT, SIGXCPU, SIGXFSZ, SIGTRAP,
 *   SIGSYS, SIGRTMIN..SIGRTMAX
 *                     logged (warn) and ignored: their default action would end the process
 *                     without a drain. A write past RLIMIT_FSIZE fails with EFBIG instead;
 *                     SIGTRAP and SIGSYS that the kernel raises for an instruction still end
 *                     the process (it forces them through the mask), as the synchronous
 *                     faults SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT do (left alone).
 *   SIGPIPE           ignored: a write to a closed socket fails with EPIPE instead.
 * SIGKILL and SIGSTOP cannot be caught; SIGTSTP, SIGTTIN and SIGTTOU keep their default (they
 * stop the process, SIGCONT resumes it; nothing is lost).
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

/* Start-up is over: SIGTERM, SIGINT and SIGQUIT now begin a drain, and each SIGHUP calls
 * reload(arg) on the signal thread (reload may be NULL). */
void atrousd_signals_serving(struct atrousd_signals *s, void (*reload)(void *arg), void *arg);

/* Waits until SIGTERM, SIGINT or SIGQUIT asks for a drain and returns that signal (-1 when the
 * signal thread failed: drain anyway). From then on another of them exits the process at once
 * with 128 + its number. */
int atrousd_signals_wait_stop(struct atrousd_signals *s);

/* Stops the signal thread and closes the signalfd (the signals stay blocked). Accepts NULL. */
void atrousd_signals_stop(struct atrousd_signals *s);

#endif
