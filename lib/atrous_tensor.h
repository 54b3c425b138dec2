/*
 * atrous_tensor.h - float32 tensors: a shape (rank + dims) and 64-byte aligned data, with
 * element counts and byte sizes computed under overflow checks.
 *
 * Shapes are plain values. A tensor owns its data unless it was made with
 * atrous_tensor_wrap(), in which case the data is borrowed and the caller keeps it alive.
 */
#ifndef ATROUS_TENSOR_H
#define ATROUS_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atrous_error.h"

/* The op works on rank-4 tensors; decoders accept up to this rank so that a wrong rank is
 * reported by the op's validation with the argument's name rather than by a parser. */
#define ATROUS_MAX_RANK 8

/* Alignment of tensor data: one cache line, and what AVX-512 loads like best. */
#define ATROUS_TENSOR_ALIGN 64

struct atrous_shape {
    int rank;                      /* 0..ATROUS_MAX_RANK */
    int64_t dims[ATROUS_MAX_RANK]; /* may hold negative values until validated */
};

struct atrous_tensor {
    struct atrous_shape shape;
    float *data; /* ATROUS_TENSOR_ALIGN-aligned when owned; NULL when the tensor is empty */
    bool owns_data;
};

/* Builds a shape from rank dims (rank <= ATROUS_MAX_RANK, else ATROUS_INVALID_ARGUMENT). */
enum atrous_status atrous_shape_make(struct atrous_shape *out, const int64_t *dims, int rank,
                                     struct atrous_error *err);

/* Number of elements of a shape. Fails with ATROUS_INVALID_ARGUMENT on a negative dim and
 * ATROUS_TOO_LARGE when the product overflows size_t. field names the argument in messages. */
enum atrous_status atrous_shape_elements(const struct atrous_shape *shape, const char *field,
                                         size_t *out, struct atrous_error *err);

/* Byte size of a float32 tensor of this shape, overflow-checked like atrous_shape_elements. */
enum atrous_status atrous_shape_bytes(const struct atrous_shape *shape, const char *field,
                                      size_t *out, struct atrous_error *err);

/* Writes "[1, 4, 4, 2]" into buf (always NUL-terminated, truncated if too small). */
void atrous_shape_format(const struct atrous_shape *shape, char *buf, size_t size);

/* True when both shapes have the same rank and dims. */
bool atrous_shape_equal(const struct atrous_shape *a, const struct atrous_shape *b);

/* Allocates a tensor of this shape with zeroed, aligned data (no allocation for an empty
 * tensor). The caller owns *out and frees it with atrous_tensor_free(). */
enum atrous_status atrous_tensor_create(const struct atrous_shape *shape, const char *field,
                                        struct atrous_tensor **out, struct atrous_error *err);

/* Makes a tensor that borrows data (not freed by atrous_tensor_free). */
enum atrous_status atrous_tensor_wrap(const struct atrous_shape *shape, float *data,
                                      struct atrous_tensor **out, struct atrous_error *err);

/* Frees a tensor and, when it owns it, its data. Accepts NULL. */
void atrous_tensor_free(struct atrous_tensor *tensor);

/* Tensor buffers of at least this size are aligned to it and use transparent huge pages
 * (atrous_aligned_alloc). */
#define ATROUS_HUGE_PAGE_BYTES ((size_t)2 << 20)

/* Aligned allocation used for tensor data; size 0 returns NULL. Free with atrous_aligned_free.
 * From ATROUS_HUGE_PAGE_BYTES on, the buffer is aligned to it and asks the kernel for
 * transparent huge pages (a no-op where they are disabled). Any malloc'd pointer may be freed
 * with atrous_aligned_free (for a large one it also takes the advice back), and an aligned one
 * with free() (its advice then stays with the range). */
void *atrous_aligned_alloc(size_t size);
void atrous_aligned_free(void *ptr);

#endif
