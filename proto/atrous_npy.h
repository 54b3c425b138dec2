/*
 * atrous_npy.h - NumPy's .npy file format, read side, for the filters of repository models
 * (what numpy.save and TensorFlow users export), decoded from bytes in memory (the server reads
 * the file).
 *
 * Format (numpy/lib/format.py): the magic "\x93NUMPY", a major and a minor version byte, the
 * header length (2 bytes little-endian in version 1.0, 4 bytes in 2.0 and 3.0), then the
 * header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 3, 4, 2), }
 * padded with spaces and ended by '\n'; the data follows, row-major for fortran_order False.
 * atrousd reads float32 or float16 little-endian ('<f4', '<f2'; float16 widened exactly), C
 * order, only: anything else is refused with a message saying what the file holds and how to
 * save it instead.
 */
#ifndef ATROUS_NPY_H
#define ATROUS_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_error.h"
#include "atrous_tensor.h"

/* Longest header accepted (numpy writes well under 1 KiB for any shape we read). */
#define ATROUS_NPY_MAX_HEADER 65535

/* Bytes before the header text: magic, version, header length (version 2.0 and 3.0). */
#define ATROUS_NPY_PREFIX_MAX 12

/* Longest dtype string kept (longer ones are refused). */
#define ATROUS_NPY_DESCR_MAX 32

struct atrous_npy_header {
    int major, minor;                     /* 1.0, 2.0 or 3.0 */
    char descr[ATROUS_NPY_DESCR_MAX + 1]; /* "<f4" */
    bool fortran_order;
    struct atrous_shape shape; /* rank 0..ATROUS_MAX_RANK, dims >= 0 */
    size_t data_offset;        /* bytes from the start of the file to the data */
};

/*
 * How many bytes of the file the header occupies, from its first bytes: prefix holds len
 * bytes (at least ATROUS_NPY_PREFIX_MAX, or the whole file when shorter). Checks the magic and
 * the version. *out receives data_offset. ATROUS_INVALID_ARGUMENT when the bytes are not a
 * supported .npy file.
 */
enum atrous_status atrous_npy_header_size(const void *prefix, size_t len, size_t *out,
                                          struct atrous_error *err);

/*
 * Parses the header at the start of buf (len >= the size atrous_npy_header_size gave). Strict:
 * the three keys exactly once each, nothing else, the shape a tuple of non-negative integers
 * (at most ATROUS_MAX_RANK of them). ATROUS_INVALID_ARGUMENT with the reason otherwise.
 */
enum atrous_status atrous_npy_parse_header(const void *buf, size_t len,
                                           struct atrous_npy_header *out, struct atrous_error *err);

/*
 * Checks a file's size before it is read: the element count of expected within max_elements
 * (0 = no limit but the hard ceiling; ATROUS_TOO_LARGE over it), then for a raw file exactly
 * that many float32 bytes, for a .npy file at most those bytes plus the longest header.
 * Messages start with path and err->field is field. ATROUS_OK, ATROUS_INVALID_ARGUMENT or
 * ATROUS_TOO_LARGE. The server calls it with fstat's size, so it never reads more.
 */
enum atrous_status atrous_npy_check_file_size(const char *path, const struct atrous_shape *expected,
                                              size_t max_elements, bool npy, uint64_t file_size,
                                              const char *field, struct atrous_error *err);

/*
 * Decodes the float32 array of a .npy file held in bytes[0..len), whose shape must equal
 * expected: dtype '<f4' (or '<f2', widened exactly), fortran_order False, and exactly the data
 * the shape implies after the header (no more, no less). *out receives ATROUS_TENSOR_ALIGN-
 * aligned data (free with atrous_aligned_free; NULL for an empty array). Messages quote path
 * (the file, for the user) and field names the config field at fault ("filters.file").
 * ATROUS_INVALID_ARGUMENT, ATROUS_TOO_LARGE (over max_elements, 0 = no limit but the hard
 * ceiling) or ATROUS_NO_MEMORY.
 */
enum atrous_status atrous_npy_decode_f32(const void *bytes, size_t len, const char *path,
                                         const struct atrous_shape *expected, size_t max_elements,
                                         const char *field, float **out, struct atrous_error *err);

/*
 * Decodes a raw float32 little-endian file held in bytes[0..len): exactly the elements of
 * expected (len must be elements * 4), the form for tools that write bare arrays (tofile).
 * Same contract as atrous_npy_decode_f32.
 */
enum atrous_status atrous_npy_decode_raw_f32(const void *bytes, size_t len, const char *path,
                                             const struct atrous_shape *expected,
                                             size_t max_elements, const char *field, float **out,
                                             struct atrous_error *err);

#endif
