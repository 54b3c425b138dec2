/*
 * http_fixture.c - the shared HTTP group fixture (see http_fixture.h).
 */
#include "http_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int http_fixture_setup(void **state, const char *case_name, const char *const *daemon_args)
{
    struct http_fixture *f = calloc(1, sizeof(*f));
    char why[2048];
    char **paths = NULL;
    size_t count = 0;
    if (f == NULL || corpus_list("valid", &paths, &count, why, sizeof(why)) != 0) {
        fprintf(stderr, "corpus: %s\n", f ? why : "out of memory");
        free(f);
        return -1;
    }
    int loaded = -1;
    for (size_t i = 0; i < count && loaded != 0; i++) {
        if (strstr(paths[i], case_name) != NULL)
            loaded = corpus_load(paths[i], &f->sample, why, sizeof(why));
    }
    corpus_paths_free(paths, count);
    if (loaded != 0) {
        fprintf(stderr, "corpus case %s: not found or unreadable\n", case_name);
        free(f);
        return -1;
    }
    http_op_args_from_case(&f->sample, &f->args);
    void *daemon = NULL;
    if (test_daemon_group_setup(&daemon, daemon_args) != 0) {
        corpus_case_free(&f->sample);
        free(f);
        return -1;
    }
    f->daemon = daemon;
    *state = f;
    return 0;
}

int http_fixture_teardown(void **state)
{
    struct http_fixture *f = *state;
    void *daemon = f->daemon;
    int rc = test_daemon_group_teardown(&daemon);
    corpus_case_free(&f->sample);
    free(f);
    return rc;
}
