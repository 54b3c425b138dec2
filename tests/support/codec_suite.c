/*
 * codec_suite.c - the codec tests' shared fixture: engine, cases and the example model.
 */
#include "codec_suite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_folder.h"

int codec_suite_setup(void **state)
{
    struct atrous_error err = {0};
    char why[ATROUS_ERROR_MESSAGE_MAX] = "";
    struct codec_suite *s = calloc(1, sizeof(*s));
    if (s == NULL || atrous_engine_create(NULL, &s->engine, &err) != ATROUS_OK ||
        atrous_workspace_create(s->engine, &s->workspace, &err) != ATROUS_OK) {
        fprintf(stderr, "setup: %s\n", err.message);
        return -1;
    }
    s->example = model_folder_load(CODEC_SUITE_EXAMPLE_DIR, why, sizeof(why));
    if (s->example == NULL || atrous_model_prepare(s->example, s->engine, &err) != ATROUS_OK) {
        fprintf(stderr, "setup: %s%s\n", why, err.message);
        return -1;
    }
    s->cases = proto_cases_load(&s->count);
    *state = s;
    return 0;
}

int codec_suite_teardown(void **state)
{
    struct codec_suite *s = *state;
    proto_cases_free(s->cases, s->count);
    atrous_model_free(s->example);
    atrous_workspace_free(s->workspace);
    atrous_engine_free(s->engine);
    free(s);
    return 0;
}
