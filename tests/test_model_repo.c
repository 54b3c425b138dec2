/*
 * test_model_repo.c - the model repository's life in the server (server/model_repo.c): reading
 * model folders (regular files only, sizes checked before reading, FIFOs refused without
 * blocking), handing the bytes to proto's decoders and the model to lib's checks and
 * preparation, reporting each folder that fails with the file at fault while the others load,
 * versions, lookups and limits. The formats themselves are test_model_formats' and the model's
 * computation test_model's.
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
#include "corpus.h"
#include "model_fixtures.h"
#include "atrous_npy.h"
#include "model_repo.h"

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

static void test_model_repo_loads_the_example_folder(void **state)
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

/* Every valid case as a model folder (.npy versions 1.0 to 3.0 in turn, named by its folder):
 * the repository loads and prepares them all, and each model holds its case's attributes and
 * filters, bit-exact. (lib's test_model runs such models against the corpus.) */
static void test_model_repo_loads_and_prepares_conformance_folders(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_engine *engine = NULL;
    struct atrousd_repo *repo = NULL;
    struct reports reports = {0};
    struct corpus_case *cases = NULL;
    char root[256], name[64];
    size_t count = 0;

    assert_int_equal(fixture_valid_cases(&cases, &count), 0);
    assert_int_equal(fixture_scratch_dir(root, sizeof(root), "models"), 0);
    for (size_t i = 0; i < count; i++) {
        snprintf(name, sizeof(name), "case%03zu", i);
        assert_int_equal(
            fixture_write_case_model(root, name, NULL, &cases[i], "", 1 + (int)(i % 3)), 0);
    }
    if (atrousd_repo_load(root, NULL, collect, &reports, &repo, NULL, &err) != ATROUS_OK)
        fail_msg("%s", err.message);
    for (size_t i = 0; i < reports.count && i < 32; i++)
        print_error("%s: %s\n", reports.dirs[i], reports.messages[i]);
    assert_int_equal(reports.count, 0);
    assert_int_equal(atrousd_repo_count(repo), count);
    assert_int_equal(atrous_engine_create(NULL, &engine, &err), ATROUS_OK);
    assert_int_equal(atrousd_repo_prepare(repo, engine, collect, &reports), 0);
    for (size_t i = 0; i < count; i++) {
        const struct corpus_case *c = &cases[i];
        snprintf(name, sizeof(name), "case%03zu", i);
        const struct atrous_model *m = atrousd_repo_find(repo, name, NULL);
        assert_non_null(m);
        assert_true(atrous_model_ready(m));
        assert_int_equal(m->rate, c->rate);
        assert_string_equal(atrous_padding_name(m->padding), c->padding);
        assert_true(atrous_shape_equal(&m->filters_shape, &c->filters_shape));
        assert_int_equal(m->filters_elements, c->filters_count);
        assert_memory_equal(m->filters, c->filters, c->filters_count * sizeof(float));
    }
    atrousd_repo_free(repo);
    atrous_engine_free(engine);
    fixture_remove_tree(root);
    fixture_cases_free(cases, count);
}

static void test_model_repo_reads_raw_bin_filters_like_npy(void **state)
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

/* One bad folder per stage of loading, beside a good one: the config document, the filters
 * file (missing, too large to be read, not decodable), lib's checks on the model, a name and
 * version already loaded. Each is reported with the file and field at fault, and the good model
 * still loads. (Every way the formats themselves can be wrong is test_model_formats'.) */
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
        {"bad_json", "{\"rate\": 2,,}", NULL, 1, NULL, 0, "config.json: invalid JSON at line 1",
         ""},
        {"escape_path",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, "
         "2], \"file\": \"../example/filters.npy\"}}",
         NULL, 1, NULL, 0, "a file in the model's folder", "filters.file"},
        {"no_file",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}}",
         NULL, 1, NULL, 0, "f.npy: cannot open", "filters.file"},
        {"f8",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}}",
         "f.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 576,
         "f.npy: dtype '<f8' is not supported", "filters.file"},
        {"truncated",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, "
         "2], \"file\": \"f.npy\"}}",
         "f.npy", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 284,
         "284 data bytes after the header, the shape needs 288", "filters.file"},
        {"bad_warmup",
         "{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, "
         "2], \"file\": \"f.npy\"}, \"warmup\": [[1, 8, 8, 5]]}",
         "f.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 288,
         "config.json: warmup[0]", "warmup"},
        {"cannot_run",
         "{\"rate\": 100000000, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, "
         "3, 4, 2], \"file\": \"f.npy\"}}",
         "f.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 288,
         "config.json: the model cannot run", ""},
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
    /* Files larger than their kind may be, refused from their size before they are read: a
     * config over ATROUS_MODEL_CONFIG_MAX_BYTES, a .npy longer than the configured shape's data
     * and the longest header. */
    size_t big = (1u << 20) + 1;
    char *padding = malloc(big);
    assert_non_null(padding);
    memset(padding, ' ', big);
    padding[0] = '{';
    padding[big - 1] = '}';
    write_model(root, "huge_config", "{}", NULL, 1, NULL, NULL, 0);
    snprintf(path, sizeof(path), "%s/huge_config/config.json", root);
    assert_int_equal(fixture_write_file(path, padding, big), 0);
    memset(padding, 0, 288 + ATROUS_NPY_PREFIX_MAX + ATROUS_NPY_MAX_HEADER);
    write_model(root, "huge_npy", good, "f.npy", 1, dict, padding,
                288 + ATROUS_NPY_PREFIX_MAX + ATROUS_NPY_MAX_HEADER);
    free(padding);
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
    assert_int_equal(failed, sizeof(bad) / sizeof(bad[0]) + 5);
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
    const char *huge = report_for(&reports, "huge_config", &field);
    assert_non_null(huge);
    assert_non_null(strstr(huge, "config.json: 1048577 bytes, more than the 1048576 allowed"));
    huge = report_for(&reports, "huge_npy", &field);
    assert_non_null(huge);
    assert_non_null(strstr(huge, "f.npy: "));
    assert_non_null(strstr(huge, "more than a .npy file of [3, 3, 4, 2] float32 values can hold"));
    assert_string_equal(field, "filters.file");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_repo_loads_the_example_folder),
        cmocka_unit_test(test_model_repo_of_tests_models_finds_example),
        cmocka_unit_test(test_model_repo_loads_and_prepares_conformance_folders),
        cmocka_unit_test(test_model_repo_reads_raw_bin_filters_like_npy),
        cmocka_unit_test(test_model_repo_reports_each_bad_folder_and_loads_the_rest),
        cmocka_unit_test(test_model_repo_versions_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
