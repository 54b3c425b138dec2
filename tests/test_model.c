/*
 * test_model.c - the model repository (server/model_repo.c, which reads the folders), the model
 * (lib/atrous_model.c) and the decoders of its files (proto/atrous_model_config.c,
 * proto/atrous_npy.c): the shipped example model, every valid conformance case saved as a
 * model folder and run through lib with prepared filters, bad folders reported one by one while
 * the others load (FIFOs in place of files included), the .npy header grammar, and the shape
 * rule.
 */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "atrous_engine.h"
#include "atrous_model.h"
#include "model_repo.h"
#include "atrous_npy.h"
#include "corpus.h"
#include "model_fixtures.h"
#include "proto_fixtures.h"

#define EXAMPLE_DIR "tests/models/example"

/* The reports a repository load made. */
struct reports {
    size_t count;
    char dirs[32][256];
    char messages[32][ATROUS_ERROR_MESSAGE_MAX];
    char fields[32][ATROUS_ERROR_FIELD_MAX];
};

static void collect(void *ctx, const char *dir, const struct atrous_error *err)
{
    struct reports *r = ctx;
    if (r->count < 32) {
        snprintf(r->dirs[r->count], sizeof(r->dirs[0]), "%s", dir);
        snprintf(r->messages[r->count], sizeof(r->messages[0]), "%s", err->message);
        snprintf(r->fields[r->count], sizeof(r->fields[0]), "%s", err->field);
    }
    r->count++;
}

/* The report about folder name (the path's last component), or NULL. */
static const char *report_for(const struct reports *r, const char *name, const char **field)
{
    for (size_t i = 0; i < r->count && i < 32; i++) {
        const char *slash = strrchr(r->dirs[i], '/');
        if (strcmp(slash ? slash + 1 : r->dirs[i], name) == 0) {
            if (field)
                *field = r->fields[i];
            return r->messages[i];
        }
    }
    return NULL;
}

/* Writes folder root/name with a config and (unless dict is NULL) a .npy file. */
static void write_model(const char *root, const char *name, const char *config,
                        const char *npy_name, int major, const char *dict, const void *data,
                        size_t bytes)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, name);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/%s/config.json", root, name);
    assert_int_equal(fixture_write_file(path, config, strlen(config)), 0);
    if (dict != NULL) {
        snprintf(path, sizeof(path), "%s/%s/%s", root, name, npy_name);
        assert_int_equal(fixture_write_npy(path, major, dict, data, bytes), 0);
    }
}

static float example_value(size_t i)
{
    return (float)((int)(i * 5) % 9 - 4) / 8.0f;
}

static void test_model_example_loads(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_model *m = NULL;
    if (atrousd_model_load(EXAMPLE_DIR, NULL, &m, &err) != ATROUS_OK)
        fail_msg("%s", err.message);
    assert_string_equal(m->name, "example");
    assert_string_equal(m->version, "1");
    assert_int_equal(m->rate, 2);
    assert_int_equal(m->padding, ATROUS_PADDING_SAME);
    assert_int_equal(m->filters_shape.rank, 4);
    assert_int_equal(m->filters_shape.dims[2], 4);
    assert_int_equal(m->filters_elements, 72);
    for (size_t i = 0; i < m->filters_elements; i++)
        assert_true(m->filters[i] == example_value(i));
    assert_int_equal(m->max_batch_size, 8);
    assert_int_equal(m->input_shape[0], -1);
    assert_int_equal(m->input_shape[3], 2);
    assert_int_equal(m->warmup_count, 1);
    assert_int_equal(m->warmup[0][1], 16);
    atrous_model_free(m);
}

static void test_model_repo_of_tests_models_finds_example(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrousd_repo *repo = NULL;
    struct reports reports = {0};
    size_t failed = 99;
    if (atrousd_repo_load("tests/models", NULL, collect, &reports, &repo, &failed, &err))
        fail_msg("%s", err.message);
    assert_int_equal(failed, 0);
    assert_int_equal(reports.count, 0);
    assert_int_equal(atrousd_repo_count(repo), 1);
    const struct atrous_model *m = atrousd_repo_find(repo, "example", NULL);
    assert_non_null(m);
    assert_ptr_equal(atrousd_repo_find(repo, "example", "1"), m);
    assert_ptr_equal(atrousd_repo_at(repo, 0), m);
    assert_null(atrousd_repo_find(repo, "example", "2"));
    assert_null(atrousd_repo_find(repo, "exampl", NULL));
    assert_null(atrousd_repo_at(repo, 1));
    atrousd_repo_free(repo);
}

/* Every valid case (rank-4, the shape rule holds) becomes a model folder; the repository loads
 * them all; each runs the case's value with prepared filters and reproduces its output. */
static void test_model_conformance_cases_as_models_reproduce_outputs(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_engine *engine = NULL;
    struct atrous_workspace *ws = NULL;
    struct atrousd_repo *repo = NULL;
    struct reports reports = {0};
    char root[256], name[64], config[512], dict[256];
    size_t count = 0, made = 0;
    struct proto_case *cases = proto_cases_load(&count);

    assert_int_equal(fixture_scratch_dir(root, sizeof(root), "models"), 0);
    for (size_t i = 0; i < count; i++) {
        const struct corpus_case *c = &cases[i].c;
        if (strcmp(cases[i].folder, "valid") != 0)
            continue;
        snprintf(name, sizeof(name), "case%03zu", i);
        snprintf(config, sizeof(config),
                 "{\"rate\": %" PRId64 ", \"padding\": \"%s\", \"filters\": {\"shape\": [%" PRId64
                 ", %" PRId64 ", %" PRId64 ", %" PRId64 "], \"file\": \"f.npy\"}}",
                 c->rate, c->padding, c->filters_shape.dims[0], c->filters_shape.dims[1],
                 c->filters_shape.dims[2], c->filters_shape.dims[3]);
        fixture_npy_dict(&c->filters_shape, dict, sizeof(dict));
        /* All three format versions, in turn. */
        write_model(root, name, config, "f.npy", 1 + (int)(made % 3), dict, c->filters,
                    c->filters_count * sizeof(float));
        made++;
    }
    if (atrousd_repo_load(root, NULL, collect, &reports, &repo, NULL, &err) != ATROUS_OK)
        fail_msg("%s", err.message);
    for (size_t i = 0; i < reports.count && i < 32; i++)
        print_error("%s: %s\n", reports.dirs[i], reports.messages[i]);
    assert_int_equal(reports.count, 0);
    assert_int_equal(atrousd_repo_count(repo), made);
    assert_int_equal(atrous_engine_create(NULL, &engine, &err), ATROUS_OK);
    assert_int_equal(atrous_workspace_create(engine, &ws, &err), ATROUS_OK);
    assert_int_equal(atrousd_repo_prepare(repo, engine, collect, &reports), 0);

    double worst = 0;
    for (size_t i = 0; i < count; i++) {
        const struct corpus_case *c = &cases[i].c;
        if (strcmp(cases[i].folder, "valid") != 0)
            continue;
        snprintf(name, sizeof(name), "case%03zu", i);
        const struct atrous_model *m = atrousd_repo_find(repo, name, NULL);
        assert_non_null(m);
        assert_non_null(m->prepared);
        int64_t out_shape[4];
        struct atrous_problem p;
        assert_int_equal(atrous_model_output_shape(m, &c->value_shape, out_shape, &err), ATROUS_OK);
        for (int d = 0; d < 4; d++)
            assert_int_equal(out_shape[d], c->output_shape[d]);
        if (atrous_model_problem(m, &c->value_shape, NULL, &p, &err) != ATROUS_OK)
            fail_msg("%s: %s", c->name, err.message);
        float *got = calloc(p.output_elements + 1, sizeof(float));
        assert_non_null(got);
        for (size_t k = 0; k < p.output_elements; k++)
            got[k] = NAN;
        if (atrous_engine_run_filters(engine, ws, &p, c->value, m->prepared, got, &err))
            fail_msg("%s: %s", c->name, err.message);
        struct corpus_comparison cmp;
        corpus_compare(got, c->expected, c->expected_count, &cmp);
        if (cmp.failures)
            fail_msg("%s: %zu elements out of tolerance", c->name, cmp.failures);
        if (cmp.worst > worst)
            worst = cmp.worst;
        free(got);
    }
    printf("conformance cases as repository models: %zu, worst scaled error %.4g\n", made, worst);
    atrousd_repo_free(repo);
    atrous_workspace_free(ws);
    atrous_engine_free(engine);
    fixture_remove_tree(root);
    proto_cases_free(cases, count);
}

static void test_model_raw_bin_filters_load_like_npy(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_model *m = NULL;
    char root[256], path[512];
    float data[72];
    for (size_t i = 0; i < 72; i++)
        data[i] = example_value(i);
    assert_int_equal(fixture_scratch_dir(root, sizeof(root), "raw"), 0);
    snprintf(path, sizeof(path), "%s/config.json", root);
    const char *config = "{\"name\": \"raw\", \"version\": 7, \"rate\": 3, \"padding\": "
                         "\"VALID\", \"filters\": {\"shape\": [3, 3, 4, 2], \"file\": \"w.bin\"}}";
    assert_int_equal(fixture_write_file(path, config, strlen(config)), 0);
    snprintf(path, sizeof(path), "%s/w.bin", root);
    assert_int_equal(fixture_write_file(path, data, sizeof(data)), 0);
    if (atrousd_model_load(root, NULL, &m, &err) != ATROUS_OK)
        fail_msg("%s", err.message);
    assert_string_equal(m->version, "7");
    assert_int_equal(m->version_number, 7);
    assert_int_equal(m->padding, ATROUS_PADDING_VALID);
    assert_memory_equal(m->filters, data, sizeof(data));
    atrous_model_free(m);
    /* One byte short: the size must match the shape exactly. */
    assert_int_equal(fixture_write_file(path, data, sizeof(data) - 1), 0);
    assert_int_equal(atrousd_model_load(root, NULL, &m, &err), ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "filters.file");
    assert_non_null(strstr(err.message, "w.bin"));
    assert_non_null(strstr(err.message, "287 bytes"));
    fixture_remove_tree(root);
}

/* One bad folder per way a model can be wrong, beside a good one: each is reported with the
 * file and field at fault, and the good model still loads. */
static void test_model_repo_reports_each_bad_folder_and_loads_the_rest(void **state)
{
    (void)state;
    static const struct {
        const char *folder, *config, *npy_name;
        int major;
        const char *dict;
        size_t bytes; /* of float data written; 288 = the 72 floats [3, 3, 4, 2] needs */
        const char *expect, *field;
    } bad[] = {
        {"bad_json", "{\"rate\": 2,,}", NULL, 1, NULL, 0, "invalid JSON at line 1", ""},
        {"no_rate", "{\"padding\": \"SAME\"}", NULL, 1, NULL, 0, "\"rate\" is required", "rate"},
        {"rate_zero", "{\"rate\": 0, \"padding\": \"SAME\"}", NULL, 1, NULL, 0, "must be >= 1",
         "rate"},
        {"lowercase_same", "{\"rate\": 2, \"padding\": \"same\"}", NULL, 1, NULL, 0,
         "\"SAME\" or \"VALID\"", "padding"},
        {"typo_key", "{\"rates\": 2}", NULL, 1, NULL, 0, "unknown key \"rates\"", "rates"},
        {"shape3",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4], "
         "\"file\": \"f.npy\"}}",
         NULL, 1, NULL, 0, "list of 4 integers", "filters.shape"},
        {"escape_path",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, "
         "2], \"file\": \"../example/filters.npy\"}}",
         NULL, 1, NULL, 0, "a file in the model's folder", "filters.file"},
        {"no_file",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}}",
         NULL, 1, NULL, 0, "cannot open", "filters.file"},
        {"f8",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}}",
         "f.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 576,
         "dtype '<f8' is not supported", "filters.file"},
        {"big_endian",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, "
         "2], \"file\": \"f.npy\"}}",
         "f.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 288,
         "dtype '>f4'", "filters.file"},
        {"fortran",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}}",
         "f.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 3, 4, 2), }", 288,
         "Fortran-ordered", "filters.file"},
        {"other_shape",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, "
         "2], \"file\": \"f.npy\"}}",
         "f.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 2, 4), }", 288,
         "shape [3, 3, 2, 4] differs from the configured [3, 3, 4, 2]", "filters.file"},
        {"truncated",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, "
         "2], \"file\": \"f.npy\"}}",
         "f.npy", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 284,
         "284 data bytes after the header, the shape needs 288", "filters.file"},
        {"extra_bytes",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, "
         "2], \"file\": \"f.npy\"}}",
         "f.npy", 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 292,
         "292 data bytes", "filters.file"},
        {"reserved_name", "{\"name\": \"atrous_conv2d_transpose\", \"rate\": 2}", NULL, 1, NULL, 0,
         "built-in generic model", "name"},
        {"bad_name", "{\"name\": \"a/b\", \"rate\": 2}", NULL, 1, NULL, 0, "letters, digits",
         "name"},
        {"bad_version", "{\"version\": \"01\", \"rate\": 2}", NULL, 1, NULL, 0, "positive integer",
         "version"},
        {"ic_mismatch",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, "
         "2], \"file\": \"f.npy\"}, \"input_shape\": [-1, -1, -1, 3]}",
         "f.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 288,
         "input channels", "input_shape"},
        {"bad_warmup",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, "
         "2], \"file\": \"f.npy\"}, \"warmup\": [[1, 8, 8, 5]]}",
         "f.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 288,
         "warmup[0]", "warmup"},
        {"cannot_run",
         "{\"rate\": 100000000, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, "
         "3, 4, 2], \"file\": \"f.npy\"}}",
         "f.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 288,
         "the model cannot run", ""},
        {"zz_dup_version",
         "{\"name\": \"good\", \"rate\": 2, \"padding\": \"SAME\", \"filters\": "
         "{\"shape\": [3, 3, 4, 2], \"file\": \"f.npy\"}}",
         "f.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 288,
         "is already loaded from", "name"},
    };
    struct atrous_error err;
    struct atrousd_repo *repo = NULL;
    struct reports reports = {0};
    char root[256], path[512];
    size_t failed = 0;
    float data[144] = {0};
    const char *good =
        "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
        "\"file\": \"f.npy\"}}";
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }";

    assert_int_equal(fixture_scratch_dir(root, sizeof(root), "bad"), 0);
    write_model(root, "good", good, "f.npy", 1, dict, data, 288);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        write_model(root, bad[i].folder, bad[i].config, bad[i].npy_name, bad[i].major, bad[i].dict,
                    data, bad[i].bytes);
    /* A NaN in the filters, a plain file and a hidden folder (ignored, not reported). */
    data[5] = NAN;
    write_model(root, "nan", good, "f.npy", 1, dict, data, 288);
    /* FIFOs where the files should be: opening one must not wait for a writer (start-up would
     * hang), and neither is a regular file. */
    snprintf(path, sizeof(path), "%s/fifo_config", root);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/fifo_config/config.json", root);
    assert_int_equal(mkfifo(path, 0600), 0);
    write_model(root, "fifo_filters", good, NULL, 1, NULL, NULL, 0);
    snprintf(path, sizeof(path), "%s/fifo_filters/f.npy", root);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(path, sizeof(path), "%s/README.md", root);
    assert_int_equal(fixture_write_file(path, "hello", 5), 0);
    snprintf(path, sizeof(path), "%s/.hidden", root);
    assert_int_equal(mkdir(path, 0700), 0);

    assert_int_equal(atrousd_repo_load(root, NULL, collect, &reports, &repo, &failed, &err),
                     ATROUS_OK);
    assert_int_equal(atrousd_repo_count(repo), 1);
    assert_non_null(atrousd_repo_find(repo, "good", "1"));
    assert_int_equal(failed, sizeof(bad) / sizeof(bad[0]) + 3);
    assert_int_equal(reports.count, failed);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *field = NULL;
        const char *message = report_for(&reports, bad[i].folder, &field);
        if (message == NULL)
            fail_msg("%s was not reported", bad[i].folder);
        if (strstr(message, bad[i].expect) == NULL || strstr(message, bad[i].folder) == NULL)
            fail_msg("%s: \"%s\" lacks \"%s\" or the folder", bad[i].folder, message,
                     bad[i].expect);
        if (strcmp(field, bad[i].field) != 0)
            fail_msg("%s: field \"%s\", expected \"%s\"", bad[i].folder, field, bad[i].field);
    }
    const char *nan = report_for(&reports, "nan", NULL);
    assert_non_null(nan);
    assert_non_null(strstr(nan, "element 5 is not finite"));
    const char *field = NULL;
    const char *fifo = report_for(&reports, "fifo_config", &field);
    assert_non_null(fifo);
    assert_non_null(strstr(fifo, "config.json: not a regular file"));
    fifo = report_for(&reports, "fifo_filters", &field);
    assert_non_null(fifo);
    assert_non_null(strstr(fifo, "f.npy: not a regular file"));
    assert_string_equal(field, "filters.file");
    atrousd_repo_free(repo);
    fixture_remove_tree(root);
}

static void test_model_repo_versions_and_limits(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrousd_repo *repo = NULL;
    char root[256], config[256];
    float data[72] = {0};
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }";
    const char *versions[] = {"10", "3", "1"};

    assert_int_equal(fixture_scratch_dir(root, sizeof(root), "versions"), 0);
    for (size_t i = 0; i < 3; i++) {
        char folder[32];
        snprintf(folder, sizeof(folder), "edges_v%s", versions[i]);
        snprintf(config, sizeof(config),
                 "{\"name\": \"edges\", \"version\": \"%s\", \"rate\": 2, \"padding\": \"SAME\", "
                 "\"filters\": {\"shape\": [3, 3, 4, 2], \"file\": \"f.npy\"}}",
                 versions[i]);
        write_model(root, folder, config, "f.npy", 1, dict, data, sizeof(data));
    }
    assert_int_equal(atrousd_repo_load(root, NULL, NULL, NULL, &repo, NULL, &err), ATROUS_OK);
    size_t first = 99;
    assert_int_equal(atrousd_repo_versions(repo, "edges", &first, NULL), 3);
    assert_int_equal(first, 0);
    /* Numeric order: 1, 3, 10; the highest is the default. */
    assert_string_equal(atrousd_repo_at(repo, 0)->version, "1");
    assert_string_equal(atrousd_repo_at(repo, 2)->version, "10");
    assert_string_equal(atrousd_repo_find(repo, "edges", NULL)->version, "10");
    assert_string_equal(atrousd_repo_find(repo, "edges", "")->version, "10");
    assert_string_equal(atrousd_repo_find(repo, "edges", "3")->version, "3");
    assert_null(atrousd_repo_find(repo, "edges", "2"));
    assert_int_equal(atrousd_repo_versions(repo, "edge", &first, NULL), 0);
    atrousd_repo_free(repo);

    struct atrousd_model_limits limits = {.max_models = 2};
    assert_int_equal(atrousd_repo_load(root, &limits, NULL, NULL, &repo, NULL, &err),
                     ATROUS_TOO_LARGE);
    assert_non_null(strstr(err.message, "more than 2 folders"));
    limits = (struct atrousd_model_limits){.max_filters_elements = 71};
    size_t failed = 0;
    assert_int_equal(atrousd_repo_load(root, &limits, NULL, NULL, &repo, &failed, &err), ATROUS_OK);
    assert_int_equal(failed, 3);
    assert_int_equal(atrousd_repo_count(repo), 0);
    atrousd_repo_free(repo);
    assert_int_equal(atrousd_repo_load("/nonexistent/models", NULL, NULL, NULL, &repo, NULL, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "/nonexistent/models"));
    assert_int_equal(atrousd_repo_create_empty(&repo, &err), ATROUS_OK);
    assert_int_equal(atrousd_repo_count(repo), 0);
    assert_null(atrousd_repo_find(repo, "edges", NULL));
    atrousd_repo_free(repo);
    fixture_remove_tree(root);
}

/* Parses a header written the way fixture_write_npy writes it. */
static enum atrous_status parse_dict(int major, const char *dict, struct atrous_npy_header *h,
                                     struct atrous_error *err)
{
    char root[256], path[300];
    unsigned char buf[1024];
    assert_int_equal(fixture_scratch_dir(root, sizeof(root), "npy"), 0);
    snprintf(path, sizeof(path), "%s/h.npy", root);
    assert_int_equal(fixture_write_npy(path, major, dict, NULL, 0), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    fixture_remove_tree(root);
    return atrous_npy_parse_header(buf, len, h, err);
}

static void test_npy_header_grammar(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_npy_header h;
    static const char *const good[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }",
        "{'shape': (3,3,4,2), 'fortran_order': False, 'descr': '<f4'}",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3L, 3L, 4L, 2L)}",
        "  {  'descr' : '<f4' , 'fortran_order' : False , 'shape' : ( 3 , 3 , 4 , 2 , ) , }  ",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (parse_dict(1 + (int)(i % 3), good[i], &h, &err) != ATROUS_OK)
            fail_msg("%s: %s", good[i], err.message);
        assert_string_equal(h.descr, "<f4");
        assert_false(h.fortran_order);
        assert_int_equal(h.shape.rank, 4);
        assert_int_equal(h.shape.dims[2], 4);
        assert_int_equal(h.data_offset % 64, 0);
    }
    assert_int_equal(
        parse_dict(1, "{'descr': '<f4', 'fortran_order': True, 'shape': ()}", &h, &err), ATROUS_OK);
    assert_int_equal(h.shape.rank, 0);
    assert_true(h.fortran_order);
    assert_int_equal(
        parse_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,)}", &h, &err),
        ATROUS_OK);
    assert_int_equal(h.shape.rank, 1);
    assert_int_equal(h.shape.dims[0], 5);

    static const struct {
        const char *dict, *expect;
    } bad[] = {
        {"{'descr': '<f4', 'fortran_order': False}", "lacks 'shape'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", "repeated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", "unexpected"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}", "structured"},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': ()}", "True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "non-negative"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "64 bits"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,2,3,4,5,6,7,8,9)}", "more than 8"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}", "malformed"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': ()} x", "after its dict"},
        {"['descr', '<f4']", "not a Python dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': ()", "expected ',' or '}'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_dict(1, bad[i].dict, &h, &err), ATROUS_INVALID_ARGUMENT);
        if (strstr(err.message, bad[i].expect) == NULL)
            fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].dict, err.message, bad[i].expect);
    }

    /* The prefix: magic, versions, header lengths. */
    size_t size = 0;
    unsigned char prefix[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0x76, 0};
    assert_int_equal(atrous_npy_header_size(prefix, 12, &size, &err), ATROUS_OK);
    assert_int_equal(size, 128);
    prefix[6] = 4;
    assert_int_equal(atrous_npy_header_size(prefix, 12, &size, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "version 4.0"));
    prefix[6] = 2;
    prefix[11] = 1; /* 16 MiB header */
    assert_int_equal(atrous_npy_header_size(prefix, 12, &size, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "longer than"));
    assert_int_equal(atrous_npy_header_size(prefix, 11, &size, &err), ATROUS_INVALID_ARGUMENT);
    prefix[0] = 'x';
    assert_int_equal(atrous_npy_header_size(prefix, 12, &size, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "magic"));
}

static void test_model_output_shape_rule(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_model *m = NULL;
    struct atrous_shape shape;
    int64_t out[4];
    if (atrousd_model_load(EXAMPLE_DIR, NULL, &m, &err) != ATROUS_OK)
        fail_msg("%s", err.message);

    const int64_t v[4] = {2, 10, 7, 2};
    atrous_shape_make(&shape, v, 4, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_OK);
    assert_true(out[0] == 2 && out[1] == 10 && out[2] == 7 && out[3] == 4);
    m->padding = ATROUS_PADDING_VALID; /* 3x3 at rate 2: 4 more rows and columns */
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_OK);
    assert_true(out[0] == 2 && out[1] == 14 && out[2] == 11 && out[3] == 4);
    struct atrous_problem p;
    assert_int_equal(atrous_model_problem(m, &shape, NULL, &p, &err), ATROUS_OK);
    assert_int_equal(p.out_h, 14);

    const int64_t huge[4] = {1, INT64_MAX - 1, 1, 2};
    atrous_shape_make(&shape, huge, 4, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "overflows"));
    const int64_t batch9[4] = {9, 4, 4, 2};
    atrous_shape_make(&shape, batch9, 4, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "max_batch_size 8"));
    assert_string_equal(err.field, "value");
    const int64_t channels3[4] = {1, 4, 4, 3};
    atrous_shape_make(&shape, channels3, 4, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "[-1, -1, -1, 2]"));
    m->input_shape[1] = 32;
    const int64_t rows16[4] = {1, 16, 4, 2};
    atrous_shape_make(&shape, rows16, 4, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "dimension 1"));
    const int64_t rank3[3] = {16, 4, 2};
    atrous_shape_make(&shape, rank3, 3, NULL);
    assert_int_equal(atrous_model_output_shape(m, &shape, out, &err), ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "rank 4"));
    atrous_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_example_loads),
        cmocka_unit_test(test_model_repo_of_tests_models_finds_example),
        cmocka_unit_test(test_model_conformance_cases_as_models_reproduce_outputs),
        cmocka_unit_test(test_model_raw_bin_filters_load_like_npy),
        cmocka_unit_test(test_model_repo_reports_each_bad_folder_and_loads_the_rest),
        cmocka_unit_test(test_model_repo_versions_and_limits),
        cmocka_unit_test(test_npy_header_grammar),
        cmocka_unit_test(test_model_output_shape_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
