/*
 * http_fixture.h - the cmocka group fixture that HTTP test files share: one daemon started with
 * the file's flags, and one conformance case loaded as ready-to-send op arguments.
 */
#ifndef TESTS_HTTP_FIXTURE_H
#define TESTS_HTTP_FIXTURE_H

#include "corpus.h"
#include "daemon.h"
#include "http_client.h"

struct http_fixture {
    struct test_daemon *daemon; /* from test_daemon_group_setup */
    struct corpus_case sample;  /* the valid case whose name contains the setup's case_name */
    struct http_op_args args;   /* borrowed from sample */
};

/* *state becomes a malloc'd struct http_fixture: the valid corpus case whose file name contains
 * case_name, and a daemon started with daemon_args (NULL-terminated; may be NULL). Returns 0,
 * or -1 with the reason on stderr. */
int http_fixture_setup(void **state, const char *case_name, const char *const *daemon_args);

/* Stops the daemon (failing unless it exits 0) and frees the fixture. */
int http_fixture_teardown(void **state);

#endif
