/*
 * engine_fixture.c - engines and workspaces for the lib/ tests (see engine_fixture.h).
 */
#include "engine_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct atrous_engine *engine_fixture_engine(const struct atrous_engine_config *config)
{
    struct atrous_engine *engine = NULL;
    struct atrous_error err;
    if (atrous_engine_create(config, &engine, &err) != ATROUS_OK)
        fail_msg("atrous_engine_create: %s", err.message);
    return engine;
}

struct atrous_engine *engine_fixture_of_form(enum atrous_form form)
{
    struct atrous_engine_config config = {.form = form};
    return engine_fixture_engine(&config);
}

struct atrous_workspace *engine_fixture_workspace(struct atrous_engine *engine)
{
    struct atrous_workspace *ws = NULL;
    struct atrous_error err;
    if (atrous_workspace_create(engine, &ws, &err) != ATROUS_OK)
        fail_msg("atrous_workspace_create: %s", err.message);
    return ws;
}
