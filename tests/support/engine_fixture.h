/*
 * engine_fixture.h - what the lib/ engine tests share: an engine and a workspace that fail
 * the running cmocka test (with oneDNN's message) when they cannot be made.
 */
#ifndef TESTS_ENGINE_FIXTURE_H
#define TESTS_ENGINE_FIXTURE_H

#include "atrous_engine.h"

/* An engine made with config (NULL: the defaults); free with atrous_engine_free. */
struct atrous_engine *engine_fixture_engine(const struct atrous_engine_config *config);

/* An engine that runs every problem in one form (ATROUS_FORM_AUTO: the engine's choice). */
struct atrous_engine *engine_fixture_of_form(enum atrous_form form);

/* A workspace of engine; free with atrous_workspace_free before the engine. */
struct atrous_workspace *engine_fixture_workspace(struct atrous_engine *engine);

#endif
