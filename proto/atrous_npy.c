/*
 * atrous_npy.c - decodes float32 (and float16 .npy) arrays of .npy and raw files, from bytes in
 * memory, for the model repository: the header's Python literal parsed strictly, every size
 * overflow-checked before anything is allocated, the data copied (or widened) into aligned
 * memory.
 */
#include "atrous_npy.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atrous_dtype.h"
#include "atrous_op.h"

/* The data is read into floats as it lies in the file: '<f4' is the host's own layout. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "atrousd reads '<f4' data in place");

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

enum atrous_status atrous_npy_header_size(const void *prefix, size_t len, size_t *out,
                                          struct atrous_error *err)
{
    const unsigned char *b = prefix;
    if (len < 10 || memcmp(b, npy_magic, sizeof(npy_magic)) != 0)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                "not a .npy file (no \\x93NUMPY magic)");
    if ((b[6] != 1 && b[6] != 2 && b[6] != 3) || b[7] != 0)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                ".npy format version %u.%u is not supported (1.0, 2.0, 3.0 are)",
                                b[6], b[7]);
    size_t header_len, prefix_len;
    if (b[6] == 1) {
        header_len = (size_t)b[8] | (size_t)b[9] << 8;
        prefix_len = 10;
    } else {
        if (len < 12)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                    ".npy file ends inside its header length");
        header_len = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        prefix_len = 12;
    }
    if (header_len > ATROUS_NPY_MAX_HEADER)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                ".npy header of %zu bytes is longer than the %d accepted",
                                header_len, ATROUS_NPY_MAX_HEADER);
    *out = prefix_len + header_len;
    return ATROUS_OK;
}

/* A cursor over the header text. */
struct scan {
    const char *p, *end;
};

static void skip_space(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool accept(struct scan *s, char c)
{
    skip_space(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

static bool accept_word(struct scan *s, const char *word)
{
    size_t n = strlen(word);
    skip_space(s);
    if ((size_t)(s->end - s->p) >= n && memcmp(s->p, word, n) == 0) {
        s->p += n;
        return true;
    }
    return false;
}

/* A quoted Python string without escapes ('...' or "..."), at most cap bytes. */
static bool scan_string(struct scan *s, char *buf, size_t cap)
{
    skip_space(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
        return false;
    const char quote = *s->p++;
    size_t n = 0;
    while (s->p < s->end && *s->p != quote) {
        if (*s->p == '\\' || n == cap)
            return false;
        buf[n++] = *s->p++;
    }
    if (s->p >= s->end)
        return false;
    s->p++;
    buf[n] = '\0';
    return true;
}

/* A non-negative decimal integer (Python 2 wrote a trailing L on longs). */
static bool scan_dim(struct scan *s, int64_t *out)
{
    skip_space(s);
    int64_t v = 0;
    const char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s->p - '0', &v))
            return false;
        s->p++;
    }
    if (s->p == start)
        return false;
    if (s->p < s->end && *s->p == 'L')
        s->p++;
    *out = v;
    return true;
}

/* (d0, d1, ...) with an optional trailing comma; () is a scalar. */
static enum atrous_status scan_shape(struct scan *s, struct atrous_shape *out,
                                     struct atrous_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!accept(s, '('))
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                ".npy header: 'shape' must be a tuple of integers");
    while (!accept(s, ')')) {
        if (out->rank == ATROUS_MAX_RANK)
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                    ".npy header: shape has more than %d dimensions",
                                    ATROUS_MAX_RANK);
        if (!scan_dim(s, &out->dims[out->rank]))
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                    ".npy header: 'shape' must hold non-negative integers that "
                                    "fit in 64 bits");
        out->rank++;
        if (!accept(s, ',')) {
            if (!accept(s, ')'))
                return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                        ".npy header: malformed 'shape' tuple");
            break;
        }
    }
    return ATROUS_OK;
}

enum atrous_status atrous_npy_parse_header(const void *buf, size_t len,
                                           struct atrous_npy_header *out, struct atrous_error *err)
{
    enum atrous_status st;
    size_t size;
    if ((st = atrous_npy_header_size(buf, len, &size, err)))
        return st;
    if (len < size)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                ".npy file ends inside its %zu-byte header", size);
    memset(out, 0, sizeof(*out));
    const unsigned char *b = buf;
    out->major = b[6];
    out->minor = b[7];
    out->data_offset = size;
    struct scan s = {(const char *)b + (out->major == 1 ? 10 : 12), (const char *)b + size};
    bool seen_descr = false, seen_order = false, seen_shape = false;
    char key[32];

    if (!accept(&s, '{'))
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                ".npy header is not a Python dict literal");
    while (!accept(&s, '}')) {
        if (!scan_string(&s, key, sizeof(key) - 1) || !accept(&s, ':'))
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                    ".npy header: expected a quoted key and ':'");
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            seen_descr = true;
            if (!scan_string(&s, out->descr, ATROUS_NPY_DESCR_MAX))
                return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                        ".npy header: 'descr' must be a simple dtype string "
                                        "such as '<f4' (structured arrays are not supported)");
        } else if (strcmp(key, "fortran_order") == 0 && !seen_order) {
            seen_order = true;
            if (accept_word(&s, "True"))
                out->fortran_order = true;
            else if (!accept_word(&s, "False"))
                return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                        ".npy header: 'fortran_order' must be True or False");
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            seen_shape = true;
            if ((st = scan_shape(&s, &out->shape, err)))
                return st;
        } else {
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                    ".npy header: unexpected or repeated key '%s'", key);
        }
        if (!accept(&s, ',')) {
            if (!accept(&s, '}'))
                return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                        ".npy header: expected ',' or '}' after '%s'", key);
            break;
        }
    }
    if (!seen_descr || !seen_order || !seen_shape)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "", ".npy header lacks '%s'",
                                !seen_descr   ? "descr"
                                : !seen_order ? "fortran_order"
                                              : "shape");
    skip_space(&s);
    if (s.p != s.end)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "",
                                ".npy header has text after its dict");
    return ATROUS_OK;
}

/* Element count of expected, bounded by max_elements and the hard ceiling. */
static enum atrous_status expected_elements(const char *path, const struct atrous_shape *expected,
                                            size_t max_elements, const char *field, size_t *out,
                                            struct atrous_error *err)
{
    struct atrous_error why;
    enum atrous_status st = atrous_shape_elements(expected, field, out, &why);
    if (st != ATROUS_OK) /* a shape whose count overflows: still name the file, as promised */
        return atrous_error_set(err, st, field, "%s: %s", path, why.message);
    size_t limit = max_elements && max_elements < ATROUS_MAX_ELEMENTS_HARD
                       ? max_elements
                       : ATROUS_MAX_ELEMENTS_HARD;
    if (*out > limit)
        return atrous_error_set(err, ATROUS_TOO_LARGE, field,
                                "%s: %zu elements are more than the limit of %zu", path, *out,
                                limit);
    return ATROUS_OK;
}

enum atrous_status atrous_npy_check_file_size(const char *path, const struct atrous_shape *expected,
                                              size_t max_elements, bool npy, uint64_t file_size,
                                              const char *field, struct atrous_error *err)
{
    size_t elements = 0;
    enum atrous_status st = expected_elements(path, expected, max_elements, field, &elements, err);
    if (st != ATROUS_OK)
        return st;
    /* elements * 4 fits (elements <= INT32_MAX). */
    uint64_t data = (uint64_t)elements * sizeof(float);
    char want[160];
    atrous_shape_format(expected, want, sizeof(want));
    if (!npy && file_size != data)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                "%s: %" PRIu64 " bytes, but %s float32 values take %" PRIu64, path,
                                file_size, want, data);
    if (npy && file_size > data + ATROUS_NPY_PREFIX_MAX + ATROUS_NPY_MAX_HEADER)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                "%s: %" PRIu64 " bytes, more than a .npy file of %s float32 "
                                "values can hold",
                                path, file_size, want);
    return ATROUS_OK;
}

/* Widens elements values of dtype from src into fresh aligned float32 memory (NULL when
 * empty); for float32 a copy. */
static enum atrous_status load_floats(const unsigned char *src, enum atrous_dtype dtype,
                                      size_t elements, const char *path, const char *field,
                                      float **out, struct atrous_error *err)
{
    *out = NULL;
    if (elements == 0)
        return ATROUS_OK;
    size_t bytes = elements * sizeof(float); /* elements <= INT32_MAX */
    float *data = atrous_aligned_alloc(bytes);
    if (data == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, field, "%s: out of memory for %zu bytes",
                                path, bytes);
    atrous_dtype_widen(dtype, src, data, elements);
    *out = data;
    return ATROUS_OK;
}

enum atrous_status atrous_npy_decode_f32(const void *bytes, size_t len, const char *path,
                                         const struct atrous_shape *expected, size_t max_elements,
                                         const char *field, float **out, struct atrous_error *err)
{
    enum atrous_status st = ATROUS_OK;
    size_t header_size = 0, elements = 0;
    struct atrous_npy_header h;
    char want[160], got[160];

    *out = NULL;
    if ((st = expected_elements(path, expected, max_elements, field, &elements, err)))
        return st;
    size_t prefix_len = len < ATROUS_NPY_PREFIX_MAX ? len : ATROUS_NPY_PREFIX_MAX;
    if ((st = atrous_npy_header_size(bytes, prefix_len, &header_size, err)))
        goto reword;
    if (len < header_size)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                "%s: file ends inside its %zu-byte .npy header", path, header_size);
    if ((st = atrous_npy_parse_header(bytes, header_size, &h, err)))
        goto reword;
    /* float16 ('<f2', numpy's own half type) is widened exactly: a 16-bit model's filters can
     * be saved as they are. NumPy has no bfloat16; such filters are saved as float32. */
    bool half = strcmp(h.descr, "<f2") == 0;
    if (!half && strcmp(h.descr, "<f4") != 0)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                "%s: dtype '%s' is not supported: filters must be float32 or "
                                "float16, little-endian ('<f4', '<f2'); save with "
                                "arr.astype('<f4')",
                                path, h.descr);
    if (h.fortran_order)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                "%s: Fortran-ordered arrays are not supported; save "
                                "np.ascontiguousarray(arr)",
                                path);
    if (!atrous_shape_equal(&h.shape, expected)) {
        atrous_shape_format(expected, want, sizeof(want));
        atrous_shape_format(&h.shape, got, sizeof(got));
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                "%s: the array's shape %s differs from the configured %s", path,
                                got, want);
    }
    /* elements * 4 fits (elements <= INT32_MAX) and header_size is at most 64 KiB. */
    size_t element_size = half ? 2 : sizeof(float);
    if ((uint64_t)len - header_size != (uint64_t)elements * element_size)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                "%s: %" PRIu64 " data bytes after the header, the shape needs %zu",
                                path, (uint64_t)len - header_size, elements * element_size);
    return load_floats((const unsigned char *)bytes + header_size,
                       half ? ATROUS_DTYPE_FLOAT16 : ATROUS_DTYPE_FLOAT32, elements, path, field,
                       out, err);
reword:
    /* Put the file's name and the config field in front of the format's own message. */
    if (err != NULL) {
        char reason[ATROUS_ERROR_MESSAGE_MAX];
        snprintf(reason, sizeof(reason), "%s", err->message);
        atrous_error_set(err, st, field, "%s: %s", path, reason);
    }
    return st;
}

enum atrous_status atrous_npy_decode_raw_f32(const void *bytes, size_t len, const char *path,
                                             const struct atrous_shape *expected,
                                             size_t max_elements, const char *field, float **out,
                                             struct atrous_error *err)
{
    enum atrous_status st;
    size_t elements = 0;
    *out = NULL;
    if ((st = atrous_npy_check_file_size(path, expected, max_elements, false, len, field, err)) ||
        (st = expected_elements(path, expected, max_elements, field, &elements, err)))
        return st;
    return load_floats(bytes, ATROUS_DTYPE_FLOAT32, elements, path, field, out, err);
}
