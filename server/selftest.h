/*
 * selftest.h - the start-up self-test that gates /readyz: small known problems run through
 * the real engine and checked against a plain loop of the op's definition.
 */
#ifndef ATROUSD_SELFTEST_H
#define ATROUSD_SELFTEST_H

#include "atrous_engine.h"
#include "atrous_error.h"

/* Runs the self-test problems on the calling thread (workspace may be NULL). ATROUS_OK when
 * every output element is within 1e-4 + 1e-4*|expected|; otherwise err says which problem
 * and element differ (ATROUS_INTERNAL) or why the engine failed. */
enum atrous_status atrousd_selftest_run(struct atrous_engine *engine,
                                        struct atrous_workspace *workspace,
                                        struct atrous_error *err);

#endif
