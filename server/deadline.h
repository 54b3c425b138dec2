/*
 * deadline.h - a deadline per client connection for receiving each request, enforced by one
 * sweeper thread (the slowloris defence).
 *
 * libmicrohttpd's connection timeout is an idle timeout: every byte received restarts it, so
 * a client that trickles its headers or body one byte a second holds its connection (and a
 * request slot, and body memory) for as long as it likes. Here each connection carries an
 * absolute deadline by which the request it is sending must have arrived; the HTTP layer
 * moves it as a request progresses (headers, then a body that must keep a minimum rate) and
 * clears it while the request is computed and answered. The sweeper shuts down the socket of
 * a connection past its deadline (shutdown(2), never close: libmicrohttpd owns the descriptor
 * and notices the shutdown on its own thread, closing the connection in the usual way).
 *
 * A connection must be removed before its descriptor is closed; libmicrohttpd's
 * connection-closed notification comes before it closes the socket, and removal and the sweep
 * share a mutex, so a sweep never touches a descriptor that was reused.
 */
#ifndef ATROUSD_DEADLINE_H
#define ATROUSD_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

/* How often the sweeper looks at the deadlines. */
#define ATROUSD_DEADLINE_SWEEP_MS 250

/* The slowest request body accepted: after --connection-timeout from the end of the headers,
 * each second more must have brought this many bytes (Apache's mod_reqtimeout default is 500;
 * any real client is thousands of times faster). */
#define ATROUSD_MIN_BODY_BYTES_PER_S 1024

struct atrousd_deadlines;
struct atrousd_deadline;

/* Starts the sweeper. Returns NULL when out of memory or when the thread cannot start. */
struct atrousd_deadlines *atrousd_deadlines_create(void);

/* Stops the sweeper and frees connections still registered. Accepts NULL. */
void atrousd_deadlines_destroy(struct atrousd_deadlines *set);

/* Registers a connection's socket with a first deadline (atrousd_now_ns() clock; 0 = none).
 * Returns the handle, or NULL when out of memory (the connection then has no deadline). */
struct atrousd_deadline *atrousd_deadline_add(struct atrousd_deadlines *set, int fd,
                                              uint64_t deadline_ns);

/* Unregisters and frees a connection before its socket is closed. Accepts NULL. */
void atrousd_deadline_remove(struct atrousd_deadlines *set, struct atrousd_deadline *d);

/* Moves the deadline (0 = none). Any thread; accepts NULL. */
void atrousd_deadline_set(struct atrousd_deadline *d, uint64_t deadline_ns);

/* True once the sweeper shut the connection down for missing its deadline. */
bool atrousd_deadline_expired(const struct atrousd_deadline *d);

#endif
