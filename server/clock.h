/*
 * clock.h - the service's one clock for durations and deadlines (CLOCK_MONOTONIC), in a module
 * of its own so that whatever measures time (deadlines, timings) links nothing else.
 */
#ifndef ATROUSD_CLOCK_H
#define ATROUSD_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds (CLOCK_MONOTONIC): for durations and deadlines only. */
uint64_t atrousd_now_ns(void);

/* Microseconds from from_ns to to_ns; 0 when to_ns is not later. */
uint64_t atrousd_elapsed_us(uint64_t from_ns, uint64_t to_ns);

#endif
