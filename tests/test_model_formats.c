/*
 * test_model_formats.c - the decoders of a model folder's formats from bytes in memory
 * (proto/atrous_model_config.c, proto/atrous_npy.c), with no file I/O in the code under test:
 * the shipped example's config and filters, every valid conformance case as a config document
 * and a .npy file (all three format versions), each way a config or a .npy file can be wrong
 * (message naming the file, field naming the config member), raw float32 files and the size
 * checks the server makes before it reads, the .npy header grammar, and a model's spelling in
 * URL paths.
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

#include <cmocka.h>

#include "atrous_model_config.h"
#include "atrous_dtype.h"
#include "atrous_npy.h"
#include "corpus.h"
#include "model_fixtures.h"
#include "model_folder.h"

#define EXAMPLE_DIR   "tests/models/example"
#define CONFIG_PATH   "models/m/config.json"
#define FILTERS_PATH  "models/m/f.npy"
#define FILTERS_FIELD "filters.file"
#define GOOD_DICT     "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }"

static float example_value(size_t i)
{
    return (float)((int)(i * 5) % 9 - 4) / 8.0f;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Decodes a config document given as a C string, with folder "m". */
static enum atrous_status decode(const char *text, struct atrous_model_config *out,
                                 struct atrous_error *err)
{
    return atrous_model_config_decode(text, strlen(text), CONFIG_PATH, "m", out, err);
}

static void test_model_formats_example_decodes(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_model_config config;
    size_t len = 0;
    char *text = model_folder_read_file(EXAMPLE_DIR "/config.json", &len);
    assert_non_null(text);
    if (atrous_model_config_decode(text, len, EXAMPLE_DIR "/config.json", "example", &config,
                                   &err) != ATROUS_OK)
        fail_msg("%s", err.message);
    const struct atrous_model *m = config.model;
    assert_string_equal(m->name, "example");
    assert_string_equal(m->version, "1");
    assert_int_equal(m->version_number, 1);
    assert_int_equal(m->rate, 2);
    assert_int_equal(m->padding, ATROUS_PADDING_SAME);
    assert_int_equal(m->filters_shape.rank, 4);
    assert_int_equal(m->filters_shape.dims[2], 4);
    assert_null(m->filters); /* the server reads the file the config names */
    assert_string_equal(config.filters_file, "filters.npy");
    assert_true(config.filters_npy);
    assert_int_equal(m->max_batch_size, 8);
    assert_int_equal(m->input_shape[0], -1);
    assert_int_equal(m->input_shape[3], 2);
    assert_int_equal(m->warmup_count, 1);
    assert_int_equal(m->warmup[0][1], 16);
    atrous_model_free(config.model);
    free(text);

    /* The whole folder through the decoders: the filters as make_filters.c wrote them. */
    char why[ATROUS_ERROR_MESSAGE_MAX] = "";
    struct atrous_model *loaded = model_folder_load(EXAMPLE_DIR, why, sizeof(why));
    if (loaded == NULL)
        fail_msg("%s", why);
    assert_int_equal(loaded->filters_elements, 72);
    for (size_t i = 0; i < loaded->filters_elements; i++)
        assert_true(loaded->filters[i] == example_value(i));
    atrous_model_free(loaded);
}

/* Every valid case as a config document and a .npy file (versions 1.0, 2.0, 3.0 in turn)
 * decodes into the case's attributes and bit-exact filters, and the model can run the case's
 * value to the case's output shape. */
static void test_model_formats_conformance_cases_decode(void **state)
{
    (void)state;
    struct atrous_error err;
    struct corpus_case *cases = NULL;
    size_t count = 0;
    char config[1024], dict[256];
    assert_int_equal(fixture_valid_cases(&cases, &count), 0);
    for (size_t i = 0; i < count; i++) {
        const struct corpus_case *c = &cases[i];
        struct atrous_model_config mc;
        int n = fixture_case_config(c, NULL, "", config, sizeof(config));
        assert_true(n > 0 && (size_t)n < sizeof(config));
        if (atrous_model_config_decode(config, (size_t)n, CONFIG_PATH, "m", &mc, &err))
            fail_msg("%s: %s", c->name, err.message);
        struct atrous_model *m = mc.model;
        assert_string_equal(m->name, "m");
        assert_int_equal(m->rate, c->rate);
        assert_string_equal(atrous_padding_name(m->padding), c->padding);
        assert_true(atrous_shape_equal(&m->filters_shape, &c->filters_shape));

        size_t len = 0;
        fixture_npy_dict(&c->filters_shape, dict, sizeof(dict));
        unsigned char *npy = fixture_npy_bytes(1 + (int)(i % 3), dict, c->filters,
                                               c->filters_count * sizeof(float), &len);
        assert_non_null(npy);
        assert_int_equal(atrous_npy_check_file_size(FILTERS_PATH, &m->filters_shape, 0, true, len,
                                                    FILTERS_FIELD, &err),
                         ATROUS_OK);
        if (atrous_npy_decode_f32(npy, len, FILTERS_PATH, &m->filters_shape, 0, FILTERS_FIELD,
                                  &m->filters, &err) != ATROUS_OK)
            fail_msg("%s: %s", c->name, err.message);
        m->filters_elements = c->filters_count;
        assert_memory_equal(m->filters, c->filters, c->filters_count * sizeof(float));
        assert_int_equal((uintptr_t)m->filters % ATROUS_TENSOR_ALIGN, 0);
        if (atrous_model_check_filters(m, FILTERS_FIELD, &err) ||
            atrous_model_check_runnable(m, &err))
            fail_msg("%s: %s", c->name, err.message);
        int64_t out[4];
        assert_int_equal(atrous_model_output_shape(m, &c->value_shape, out, &err), ATROUS_OK);
        for (int d = 0; d < 4; d++)
            assert_int_equal(out[d], c->output_shape[d]);
        free(npy);
        atrous_model_free(m);
    }
    fixture_cases_free(cases, count);
}

/* Each way a config document can be wrong: the message starts with the file and says what is
 * wrong, the field names the member at fault, and no model is handed out. */
static void test_model_formats_config_errors_name_file_and_field(void **state)
{
    (void)state;
    static const struct {
        const char *config, *expect, *field;
    } bad[] = {
        {"{\"rate\": 2,,}", "invalid JSON at line 1", ""},
        {"[1, 2]", "must be a JSON object", ""},
        {"{\"rate\": 2, \"rate\": 3}", "invalid JSON", ""},
        {"{\"padding\": \"SAME\"}", "\"rate\" is required", "rate"},
        {"{\"rate\": 2.5}", "\"rate\" must be an integer", "rate"},
        {"{\"rate\": 0, \"padding\": \"SAME\"}", "must be >= 1", "rate"},
        {"{\"rate\": 2}", "\"padding\" is required", "padding"},
        {"{\"rate\": 2, \"padding\": \"same\"}", "\"SAME\" or \"VALID\"", "padding"},
        {"{\"rates\": 2}", "unknown key \"rates\"", "rates"},
        {"{\"rate\": 2, \"padding\": \"SAME\"}", "\"filters\" must be an object", "filters"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4], "
         "\"file\": \"f.npy\"}}",
         "list of 4 integers", "filters.shape"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 0, 4, 2], "
         "\"file\": \"f.npy\"}}",
         "must be an integer >= 1", "filters.shape"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\", \"dtype\": \"f4\"}}",
         "unknown key \"dtype\" in \"filters\"", "dtype"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"../example/filters.npy\"}}",
         "a file in the model's folder", "filters.file"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"..\"}}",
         "a file in the model's folder", "filters.file"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.txt\"}}",
         "must end in .npy", "filters.file"},
        {"{\"name\": \"atrous_conv2d_transpose\", \"rate\": 2}", "built-in generic model", "name"},
        {"{\"name\": \"a/b\", \"rate\": 2}", "letters, digits", "name"},
        {"{\"version\": \"01\", \"rate\": 2}", "positive integer", "version"},
        {"{\"version\": 0, \"rate\": 2}", "positive integer", "version"},
        {"{\"version\": 1000000000000000000, \"rate\": 2}", "below 10^18", "version"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}, \"input_shape\": [-1, -1, -1, 3]}",
         "input channels", "input_shape"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}, \"input_shape\": [-2, -1, -1, 2]}",
         "-1", "input_shape"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}, \"max_batch_size\": -1}",
         "between 0 and", "max_batch_size"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}, \"warmup\": [[1, 8, 8, 2], [1, 8, 8, 2], [1, 8, 8, 2], "
         "[1, 8, 8, 2], [1, 8, 8, 2], [1, 8, 8, 2], [1, 8, 8, 2], [1, 8, 8, 2], [1, 8, 8, 2]]}",
         "at most 8 value shapes", "warmup"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}, \"warmup\": [[1, 8, 8]]}",
         "list of 4 integers", "warmup"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}, \"dtype\": \"float64\"}",
         "\"bfloat16\"", "dtype"},
        {"{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": [3, 3, 4, 2], "
         "\"file\": \"f.npy\"}, \"precision\": \"fp16\"}",
         "\"f32\" or \"bf16\"", "precision"},
    };
    struct atrous_error err;
    struct atrous_model_config config;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(decode(bad[i].config, &config, &err), ATROUS_INVALID_ARGUMENT);
        assert_null(config.model);
        if (!starts_with(err.message, CONFIG_PATH ": ") ||
            strstr(err.message, bad[i].expect) == NULL)
            fail_msg("%s: \"%s\" lacks the file or \"%s\"", bad[i].config, err.message,
                     bad[i].expect);
        if (strcmp(err.field, bad[i].field) != 0)
            fail_msg("%s: field \"%s\", expected \"%s\"", bad[i].config, err.field, bad[i].field);
    }
}

/* A model's declared dtype and default precision: float32 and f32 unless the config says. */
static void test_model_formats_dtype_and_precision(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_model_config config;
    assert_int_equal(decode("{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": "
                            "[3, 3, 4, 2], \"file\": \"f.npy\"}}",
                            &config, &err),
                     ATROUS_OK);
    assert_int_equal(config.model->dtype, ATROUS_DTYPE_FLOAT32);
    assert_int_equal(config.model->precision, ATROUS_PRECISION_F32);
    atrous_model_free(config.model);
    assert_int_equal(decode("{\"rate\": 2, \"padding\": \"SAME\", \"filters\": {\"shape\": "
                            "[3, 3, 4, 2], \"file\": \"f.npy\"}, \"dtype\": \"float16\", "
                            "\"precision\": \"bf16\"}",
                            &config, &err),
                     ATROUS_OK);
    assert_int_equal(config.model->dtype, ATROUS_DTYPE_FLOAT16);
    assert_int_equal(config.model->precision, ATROUS_PRECISION_BF16);
    atrous_model_free(config.model);
}

/* The name defaults to the folder's (which must then be a valid name); versions are JSON
 * integers or strings of digits, kept in canonical digits. */
static void test_model_formats_name_and_version(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_model_config config;
    const char *base = "\"rate\": 2, \"padding\": \"VALID\", \"filters\": {\"shape\": [3, 3, 4, "
                       "2], \"file\": \"w.bin\"}";
    char text[512];
    snprintf(text, sizeof(text), "{%s}", base);
    assert_int_equal(
        atrous_model_config_decode(text, strlen(text), CONFIG_PATH, "edges.v2", &config, &err),
        ATROUS_OK);
    assert_string_equal(config.model->name, "edges.v2");
    assert_string_equal(config.model->version, "1");
    assert_int_equal(config.model->padding, ATROUS_PADDING_VALID);
    assert_false(config.filters_npy);
    atrous_model_free(config.model);
    assert_int_equal(
        atrous_model_config_decode(text, strlen(text), CONFIG_PATH, ".hidden", &config, &err),
        ATROUS_INVALID_ARGUMENT);
    assert_string_equal(err.field, "name");
    assert_non_null(strstr(err.message, "folder's name"));

    snprintf(text, sizeof(text), "{\"name\": \"raw\", \"version\": 7, %s}", base);
    assert_int_equal(decode(text, &config, &err), ATROUS_OK);
    assert_string_equal(config.model->name, "raw");
    assert_string_equal(config.model->version, "7");
    assert_int_equal(config.model->version_number, 7);
    atrous_model_free(config.model);
    snprintf(text, sizeof(text), "{\"version\": \"999999999999999999\", %s}", base);
    assert_int_equal(decode(text, &config, &err), ATROUS_OK);
    assert_int_equal(config.model->version_number, 999999999999999999LL);
    atrous_model_free(config.model);
}

/* Each way a .npy file can be wrong for the configured [3, 3, 4, 2]: the message starts with
 * the file and the field is the config's filters.file. */
static void test_npy_decode_errors_name_file_and_field(void **state)
{
    (void)state;
    static const struct {
        int major;
        const char *dict;
        size_t bytes; /* of float data; 288 = the 72 floats [3, 3, 4, 2] needs */
        const char *expect;
    } bad[] = {
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 576,
         "dtype '<f8' is not supported"},
        {1, "{'descr': '>f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 288,
         "dtype '>f4'"},
        {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 3, 4, 2), }", 288,
         "Fortran-ordered"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 2, 4), }", 288,
         "shape [3, 3, 2, 4] differs from the configured [3, 3, 4, 2]"},
        {2, GOOD_DICT, 284, "284 data bytes after the header, the shape needs 288"},
        {3, GOOD_DICT, 292, "292 data bytes"},
        {1, "{'descr': '<f4', 'fortran_order': False}", 288, "lacks 'shape'"},
        /* float16 takes 2 bytes an element: 144 for [3, 3, 4, 2], not the float32 288. */
        {1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 288,
         "288 data bytes after the header, the shape needs 144"},
        {1, "{'descr': '>f2', 'fortran_order': False, 'shape': (3, 3, 4, 2), }", 144,
         "dtype '>f2'"},
    };
    struct atrous_error err;
    struct atrous_shape expected;
    const int64_t dims[4] = {3, 3, 4, 2};
    float data[144] = {0};
    atrous_shape_make(&expected, dims, 4, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = 0;
        float *out = NULL;
        unsigned char *npy = fixture_npy_bytes(bad[i].major, bad[i].dict, data, bad[i].bytes, &len);
        assert_non_null(npy);
        assert_int_equal(
            atrous_npy_decode_f32(npy, len, FILTERS_PATH, &expected, 0, FILTERS_FIELD, &out, &err),
            ATROUS_INVALID_ARGUMENT);
        assert_null(out);
        assert_string_equal(err.field, FILTERS_FIELD);
        if (!starts_with(err.message, FILTERS_PATH ": ") ||
            strstr(err.message, bad[i].expect) == NULL)
            fail_msg("%s: \"%s\" lacks the file or \"%s\"", bad[i].dict, err.message,
                     bad[i].expect);
        free(npy);
    }
    /* Shorter than its header says, and not a .npy file at all. */
    size_t len = 0;
    float *out = NULL;
    unsigned char *npy = fixture_npy_bytes(1, GOOD_DICT, data, 288, &len);
    assert_int_equal(
        atrous_npy_decode_f32(npy, 40, FILTERS_PATH, &expected, 0, FILTERS_FIELD, &out, &err),
        ATROUS_INVALID_ARGUMENT);
    assert_true(
        starts_with(err.message, FILTERS_PATH ": file ends inside its 128-byte .npy header"));
    npy[0] = 'x';
    assert_int_equal(
        atrous_npy_decode_f32(npy, len, FILTERS_PATH, &expected, 0, FILTERS_FIELD, &out, &err),
        ATROUS_INVALID_ARGUMENT);
    assert_true(starts_with(err.message, FILTERS_PATH ": not a .npy file"));
    free(npy);
}

/* A float16 .npy ('<f2', numpy's half type) is widened exactly to the float32 the model holds:
 * every one of the 72 elements a different half value, spread over the normal and subnormal
 * range and both signs. */
static void test_npy_float16_filters_are_widened_exactly(void **state)
{
    (void)state;
    struct atrous_shape expected;
    const int64_t dims[4] = {3, 3, 4, 2};
    atrous_shape_make(&expected, dims, 4, NULL);
    uint16_t half[72];
    for (size_t i = 0; i < 72; i++)
        half[i] = (uint16_t)((i * 907u + 3u) % 0x7c00u | (i % 2 ? 0x8000u : 0u));
    size_t len = 0;
    unsigned char *npy =
        fixture_npy_bytes(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3, 3, 4, 2), }",
                          half, sizeof(half), &len);
    assert_non_null(npy);
    assert_int_equal(
        atrous_npy_check_file_size(FILTERS_PATH, &expected, 0, true, len, FILTERS_FIELD, NULL),
        ATROUS_OK);
    float *out = NULL;
    struct atrous_error err;
    assert_int_equal(
        atrous_npy_decode_f32(npy, len, FILTERS_PATH, &expected, 0, FILTERS_FIELD, &out, &err),
        ATROUS_OK);
    assert_non_null(out);
    for (size_t i = 0; i < 72; i++) {
        if (out[i] != atrous_f16_to_f32(half[i]) || atrous_f32_to_f16(out[i]) != half[i])
            fail_msg("element %zu: half 0x%04x read as %.9g", i, half[i], out[i]);
    }
    atrous_aligned_free(out);
    free(npy);
}

/* Raw float32 files: exactly the configured elements, as they lie; the size checks the server
 * makes before reading (raw: exact; .npy: at most the data plus the longest header; both within
 * the element limit). */
static void test_npy_raw_files_and_size_checks(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_shape shape;
    const int64_t dims[4] = {3, 3, 4, 2};
    float data[72], *out = NULL;
    for (size_t i = 0; i < 72; i++)
        data[i] = example_value(i);
    atrous_shape_make(&shape, dims, 4, NULL);
    assert_int_equal(atrous_npy_decode_raw_f32(data, sizeof(data), FILTERS_PATH, &shape, 0,
                                               FILTERS_FIELD, &out, &err),
                     ATROUS_OK);
    assert_memory_equal(out, data, sizeof(data));
    atrous_aligned_free(out);
    assert_int_equal(atrous_npy_decode_raw_f32(data, sizeof(data) - 1, FILTERS_PATH, &shape, 0,
                                               FILTERS_FIELD, &out, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_null(out);
    assert_string_equal(err.field, FILTERS_FIELD);
    assert_true(starts_with(err.message, FILTERS_PATH ": 287 bytes"));

    assert_int_equal(atrous_npy_check_file_size(FILTERS_PATH, &shape, 0, true,
                                                288 + ATROUS_NPY_PREFIX_MAX + ATROUS_NPY_MAX_HEADER,
                                                FILTERS_FIELD, &err),
                     ATROUS_OK);
    assert_int_equal(atrous_npy_check_file_size(FILTERS_PATH, &shape, 0, true,
                                                289 + ATROUS_NPY_PREFIX_MAX + ATROUS_NPY_MAX_HEADER,
                                                FILTERS_FIELD, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "more than a .npy file"));
    assert_int_equal(
        atrous_npy_check_file_size(FILTERS_PATH, &shape, 71, false, 288, FILTERS_FIELD, &err),
        ATROUS_TOO_LARGE);
    assert_true(
        starts_with(err.message, FILTERS_PATH ": 72 elements are more than the limit of 71"));
}

/* A configured shape whose element count overflows is refused by every entry point with the
 * file named first, as for any other size (found by fuzz_npy: the message was the bare shape
 * error, without the file). */
static void test_npy_overflowing_shape_names_the_file(void **state)
{
    (void)state;
    struct atrous_error err;
    struct atrous_shape shape;
    const int64_t dims[4] = {INT64_MAX, INT64_MAX, 4, 2};
    float data[4] = {0}, *out = NULL;
    size_t len = 0;
    unsigned char *npy =
        fixture_npy_bytes(1,
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, "
                          "9223372036854775807, 4, 2), }",
                          data, sizeof(data), &len);
    atrous_shape_make(&shape, dims, 4, NULL);
    assert_int_equal(
        atrous_npy_check_file_size(FILTERS_PATH, &shape, 0, true, len, FILTERS_FIELD, &err),
        ATROUS_TOO_LARGE);
    assert_string_equal(err.field, FILTERS_FIELD);
    assert_true(starts_with(err.message, FILTERS_PATH ": "));
    assert_int_equal(
        atrous_npy_decode_f32(npy, len, FILTERS_PATH, &shape, 0, FILTERS_FIELD, &out, &err),
        ATROUS_TOO_LARGE);
    assert_true(starts_with(err.message, FILTERS_PATH ": "));
    assert_non_null(strstr(err.message, "more elements than fit in memory"));
    assert_int_equal(atrous_npy_decode_raw_f32(data, sizeof(data), FILTERS_PATH, &shape, 0,
                                               FILTERS_FIELD, &out, &err),
                     ATROUS_TOO_LARGE);
    assert_true(starts_with(err.message, FILTERS_PATH ": "));
    assert_null(out);
    free(npy);
}

/* Parses a header written the way numpy writes it, from bytes in memory. */
static enum atrous_status parse_dict(int major, const char *dict, struct atrous_npy_header *h,
                                     struct atrous_error *err)
{
    size_t len = 0;
    unsigned char *buf = fixture_npy_bytes(major, dict, NULL, 0, &len);
    assert_non_null(buf);
    enum atrous_status st = atrous_npy_parse_header(buf, len, h, err);
    free(buf);
    return st;
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

/* "{name}[/versions/{version}]" as KServe and TF Serving paths spell a model. */
static void test_model_formats_url_spelling(void **state)
{
    (void)state;
    static const struct {
        const char *path, *name, *version, *rest;
    } good[] = {
        {"m", "m", "", ""},
        {"edges/infer", "edges", "", "/infer"},
        {"edges/versions/12:predict", "edges", "12", ":predict"},
        {"a.b-c_d/versions/3", "a.b-c_d", "3", ""},
    };
    static const char *const bad[] = {"",
                                      ".x",
                                      "-x",
                                      "/m",
                                      "m/versions/01",
                                      "m/versions/",
                                      "m/versions/x",
                                      "m/versions/1000000000000000000"};
    char name[ATROUS_MODEL_NAME_MAX + 1], version[ATROUS_MODEL_VERSION_MAX + 1];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *rest = atrous_model_parse_path(good[i].path, name, version);
        if (rest == NULL)
            fail_msg("%s refused", good[i].path);
        assert_string_equal(name, good[i].name);
        assert_string_equal(version, good[i].version);
        assert_string_equal(rest, good[i].rest);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (atrous_model_parse_path(bad[i], name, version) != NULL)
            fail_msg("%s accepted", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_formats_example_decodes),
        cmocka_unit_test(test_model_formats_conformance_cases_decode),
        cmocka_unit_test(test_model_formats_config_errors_name_file_and_field),
        cmocka_unit_test(test_model_formats_dtype_and_precision),
        cmocka_unit_test(test_model_formats_name_and_version),
        cmocka_unit_test(test_npy_decode_errors_name_file_and_field),
        cmocka_unit_test(test_npy_float16_filters_are_widened_exactly),
        cmocka_unit_test(test_npy_raw_files_and_size_checks),
        cmocka_unit_test(test_npy_overflowing_shape_names_the_file),
        cmocka_unit_test(test_npy_header_grammar),
        cmocka_unit_test(test_model_formats_url_spelling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
