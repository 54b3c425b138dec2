/*
 * probe.h - `atrousd --health-probe`: the container HEALTHCHECK without curl. One GET
 * /readyz to 127.0.0.1 over a plain socket, or over TLS when the configuration turns it on
 * (tls.h says how the probe trusts its own server), bounded by a total timeout.
 */
#ifndef ATROUSD_PROBE_H
#define ATROUSD_PROBE_H

#include <stdint.h>

struct atrousd_config;

#define ATROUSD_PROBE_TIMEOUT_MS 2000

/* Returns 0 when GET http://127.0.0.1:port/readyz (https:// when cfg has --tls-cert; cfg may
 * be NULL for plain HTTP) answers 200 within timeout_ms, else 1. */
int atrousd_probe_readyz(const struct atrousd_config *cfg, uint16_t port, int timeout_ms);

#endif
