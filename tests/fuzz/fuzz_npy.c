/*
 * fuzz_npy.c - libFuzzer target for the .npy and raw filters decoders (proto/atrous_npy.c),
 * which decode a model's filters file from the bytes the server read.
 *
 * Any byte string is a file. atrous_npy_header_size must accept or refuse its start without
 * reading past it; when it accepts and the bytes hold the whole header, atrous_npy_parse_header
 * must too, and an accepted header must describe a rank within ATROUS_MAX_RANK with
 * non-negative dims and its data offset inside what was claimed. The whole file then goes
 * through the size check and atrous_npy_decode_f32 as the repository runs them, expecting the
 * shape the header names (or [3, 3, 4, 2] when it names none): an accepted file is '<f4', C
 * order, exactly the data the shape needs, decoded into aligned memory equal to the file's
 * tail. The same bytes as a raw file of [size / 4] floats decode exactly when size is a multiple
 * of 4. Every rejection names the file and the field.
 */
#include <stdlib.h>
#include <string.h>

#include "atrous_npy.h"

#define PATH         "fuzz/filters"
#define FIELD        "filters.file"
#define MAX_ELEMENTS (1 << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rejection(const struct atrous_error *err, const float *out)
{
    if (out != NULL || strcmp(err->field, FIELD) != 0 ||
        strncmp(err->message, PATH, strlen(PATH)) != 0)
        abort();
}

/* An accepted decode: elements floats, aligned, the last elements * 4 bytes of the file. */
static void check_decoded(const float *out, const struct atrous_shape *shape, const uint8_t *buf,
                          size_t size)
{
    size_t elements = 0;
    if (atrous_shape_elements(shape, FIELD, &elements, NULL) || elements > MAX_ELEMENTS ||
        elements * sizeof(float) > size || (elements > 0) != (out != NULL) ||
        (uintptr_t)out % ATROUS_TENSOR_ALIGN != 0 ||
        (elements > 0 &&
         memcmp(out, buf + size - elements * sizeof(float), elements * sizeof(float)) != 0))
        abort();
}

static void check_npy(const uint8_t *buf, size_t size, const struct atrous_shape *expected)
{
    struct atrous_error err;
    float *out = NULL;
    size_t header = 0;
    /* The server checks the size before it reads the file; a file that decodes passes it. */
    bool size_ok = atrous_npy_check_file_size(PATH, expected, MAX_ELEMENTS, true, size, FIELD,
                                              &err) == ATROUS_OK;
    if (atrous_npy_decode_f32(buf, size, PATH, expected, MAX_ELEMENTS, FIELD, &out, &err) !=
        ATROUS_OK) {
        check_rejection(&err, out);
        return;
    }
    struct atrous_npy_header h;
    if (!size_ok || atrous_npy_header_size(buf, size, &header, &err) != ATROUS_OK ||
        atrous_npy_parse_header(buf, size, &h, &err) != ATROUS_OK || strcmp(h.descr, "<f4") != 0 ||
        h.fortran_order || !atrous_shape_equal(&h.shape, expected))
        abort();
    check_decoded(out, expected, buf, size);
    size_t elements = 0;
    atrous_shape_elements(expected, FIELD, &elements, NULL);
    if (size - header != elements * sizeof(float))
        abort();
    atrous_aligned_free(out);
}

static void check_raw(const uint8_t *buf, size_t size)
{
    struct atrous_error err;
    struct atrous_shape shape;
    float *out = NULL;
    const int64_t dims[1] = {(int64_t)(size / sizeof(float))};
    atrous_shape_make(&shape, dims, 1, NULL);
    enum atrous_status st =
        atrous_npy_decode_raw_f32(buf, size, PATH, &shape, MAX_ELEMENTS, FIELD, &out, &err);
    bool fits = size % sizeof(float) == 0 && size / sizeof(float) <= MAX_ELEMENTS;
    if ((st == ATROUS_OK) != fits)
        abort();
    if (st != ATROUS_OK) {
        check_rejection(&err, out);
        return;
    }
    check_decoded(out, &shape, buf, size);
    atrous_aligned_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    struct atrous_error err;
    struct atrous_shape expected;
    const int64_t example[4] = {3, 3, 4, 2};
    atrous_shape_make(&expected, example, 4, NULL);
    size_t header = 0;
    if (atrous_npy_header_size(buf, size, &header, &err) == ATROUS_OK && header <= size) {
        struct atrous_npy_header h;
        if (atrous_npy_parse_header(buf, size, &h, &err) == ATROUS_OK) {
            if (h.shape.rank < 0 || h.shape.rank > ATROUS_MAX_RANK || h.data_offset != header ||
                strlen(h.descr) > ATROUS_NPY_DESCR_MAX)
                abort();
            for (int i = 0; i < h.shape.rank; i++) {
                if (h.shape.dims[i] < 0)
                    abort();
            }
            expected = h.shape;
        } else if (err.message[0] == '\0') {
            abort();
        }
    }
    check_npy(buf, size, &expected);
    check_raw(buf, size);
    free(buf);
    return 0;
}
