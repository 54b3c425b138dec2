/*
 * probe.h - `atrousd --health-probe`: the container HEALTHCHECK without curl. One GET
 * /readyz to 127.0.0.1 over a plain socket, bounded by a total timeout.
 */
#ifndef ATROUSD_PROBE_H
#define ATROUSD_PROBE_H

#include <stdint.h>

#define ATROUSD_PROBE_TIMEOUT_MS 2000

/* Returns 0 when GET http://127.0.0.1:port/readyz answers 200 within timeout_ms, else 1. */
int atrousd_probe_readyz(uint16_t port, int timeout_ms);

#endif
