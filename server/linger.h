/*
 * linger.h - lingering close for connections answered before their request was read.
 *
 * A request refused from its headers (413 from Content-Length, 429 from a full queue, a
 * framing 400) is answered and its connection closed while the client may still be sending
 * the body. Closing a socket that has unread data, or that receives data afterwards, makes
 * the kernel answer with a reset: the client's remaining writes fail (ECONNRESET/EPIPE) and a
 * client that sends its whole body before reading never sees the answer. So such a
 * connection, once libmicrohttpd has written the answer and closes it, lives on as a dup of
 * its socket: the write side is shut down (the client reads the answer, then end-of-file) and
 * whatever the client still sends is read and dropped until it closes the connection, or is
 * quiet for ATROUSD_LINGER_IDLE_MS, or ATROUSD_LINGER_MS pass, or ATROUSD_LINGER_MAX_BYTES
 * were dropped. At most ATROUSD_LINGER_MAX sockets linger at once (a client cannot make the
 * server hold more); beyond that a connection closes at once, as it would without lingering.
 */
#ifndef ATROUSD_LINGER_H
#define ATROUSD_LINGER_H

#define ATROUSD_LINGER_MS        5000
#define ATROUSD_LINGER_IDLE_MS   1000
#define ATROUSD_LINGER_MAX_BYTES ((unsigned long long)8 << 20)
#define ATROUSD_LINGER_MAX       256

struct atrousd_linger;

/* Starts the linger thread. NULL when out of memory or when the thread cannot start. */
struct atrousd_linger *atrousd_linger_create(void);

/* Stops the thread and closes every socket still lingering. Accepts NULL. */
void atrousd_linger_destroy(struct atrousd_linger *l);

/* The connection on socket fd is answered before its request was read and will be closed:
 * when it closes, let it linger. Any thread; accepts a NULL l. */
void atrousd_linger_arm(struct atrousd_linger *l, int fd);

/* libmicrohttpd is about to close socket fd (its connection-closed notification): an armed
 * connection starts lingering on a dup of fd; any other is left alone. Any thread; accepts a
 * NULL l. */
void atrousd_linger_closing(struct atrousd_linger *l, int fd);

#endif
