/*
 * codec_suite.h - the shared fixture of the protocol codec tests (test_kserve, test_tfserving):
 * an engine and workspace to run decoded requests through lib, the conformance cases, and the
 * shipped example model (tests/models/example) loaded through proto's own decoders of the
 * model folder's formats (model_folder.h), without the server's repository.
 */
#ifndef CODEC_SUITE_H
#define CODEC_SUITE_H

#include <stddef.h>

#include "atrous_engine.h"
#include "atrous_model.h"
#include "proto_fixtures.h"

#define CODEC_SUITE_EXAMPLE_DIR "tests/models/example"

struct codec_suite {
    struct atrous_engine *engine;
    struct atrous_workspace *workspace;
    struct proto_case *cases;
    size_t count;
    struct atrous_model *example; /* prepared on engine */
};

/* cmocka group setup and teardown: *state is a struct codec_suite. */
int codec_suite_setup(void **state);
int codec_suite_teardown(void **state);

#endif
