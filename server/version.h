/*
 * version.h - the service's version, reported by --version, /v1/info and /metrics.
 */
#ifndef ATROUSD_VERSION_H
#define ATROUSD_VERSION_H

#define ATROUSD_NAME    "atrousd"
#define ATROUSD_VERSION "0.1.0"

/* The HTTP API version served under /v1. */
#define ATROUSD_API_VERSION "v1"

#endif
