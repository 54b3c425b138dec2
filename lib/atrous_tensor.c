/*
 * atrous_tensor.c - shapes and aligned float32 tensors.
 */
#include "atrous_tensor.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum atrous_status atrous_shape_make(struct atrous_shape *out, const int64_t *dims, int rank,
                                     struct atrous_error *err)
{
    if (rank < 0 || rank > ATROUS_MAX_RANK)
        return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, "", "rank %d is outside 0..%d", rank,
                                ATROUS_MAX_RANK);
    memset(out, 0, sizeof(*out));
    out->rank = rank;
    for (int i = 0; i < rank; i++)
        out->dims[i] = dims[i];
    return ATROUS_OK;
}

enum atrous_status atrous_shape_elements(const struct atrous_shape *shape, const char *field,
                                         size_t *out, struct atrous_error *err)
{
    size_t count = 1;
    bool overflow = false, zero = false;
    /* Scan every dim: a zero later makes an overflowed product 0, and a negative dim is an
     * error even after a zero. */
    for (int i = 0; i < shape->rank; i++) {
        if (shape->dims[i] < 0) {
            char text[160];
            atrous_shape_format(shape, text, sizeof(text));
            return atrous_error_set(err, ATROUS_INVALID_ARGUMENT, field,
                                    "%s shape %s has a negative dimension", field, text);
        }
        if (shape->dims[i] == 0)
            zero = true;
        else if (!overflow && __builtin_mul_overflow(count, (size_t)shape->dims[i], &count))
            overflow = true;
    }
    if (zero) {
        count = 0;
    } else if (overflow) {
        char text[160];
        atrous_shape_format(shape, text, sizeof(text));
        return atrous_error_set(err, ATROUS_TOO_LARGE, field,
                                "%s shape %s has more elements than fit in memory", field, text);
    }
    *out = count;
    return ATROUS_OK;
}

enum atrous_status atrous_shape_bytes(const struct atrous_shape *shape, const char *field,
                                      size_t *out, struct atrous_error *err)
{
    size_t count;
    enum atrous_status st = atrous_shape_elements(shape, field, &count, err);
    if (st != ATROUS_OK)
        return st;
    if (__builtin_mul_overflow(count, sizeof(float), out)) {
        char text[160];
        atrous_shape_format(shape, text, sizeof(text));
        return atrous_error_set(err, ATROUS_TOO_LARGE, field,
                                "%s shape %s is larger than fits in memory", field, text);
    }
    return ATROUS_OK;
}

void atrous_shape_format(const struct atrous_shape *shape, char *buf, size_t size)
{
    if (size == 0)
        return;
    size_t used = 0;
    int n = snprintf(buf, size, "[");
    for (int i = 0; n >= 0 && i < shape->rank; i++) {
        used += (size_t)n;
        if (used >= size)
            return;
        n = snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)shape->dims[i]);
    }
    if (n < 0)
        return;
    used += (size_t)n;
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

bool atrous_shape_equal(const struct atrous_shape *a, const struct atrous_shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

void *atrous_aligned_alloc(size_t size)
{
    if (size == 0)
        return NULL;
    /* aligned_alloc wants a multiple of the alignment; rounding up cannot overflow in a way
     * that matters because sizes near SIZE_MAX fail to allocate anyway. */
    size_t rounded = (size + ATROUS_TENSOR_ALIGN - 1) & ~(size_t)(ATROUS_TENSOR_ALIGN - 1);
    if (rounded < size)
        return NULL;
    if (rounded < ATROUS_HUGE_PAGE_BYTES)
        return aligned_alloc(ATROUS_TENSOR_ALIGN, rounded);
    /* Large tensors are fresh memory from the kernel every time (server/main.c's
     * M_MMAP_THRESHOLD gives freed buffers back), and on the VMs this project runs on the
     * first touch of a 4 KiB page costs 10-17 us: a 4 MiB output was 10 ms of page faults in a
     * 35 ms request. Transparent huge pages (where the kernel has them: "madvise" or
     * "always") fault it in two. Only whole 2 MiB pages inside the buffer are asked for, so
     * its resident size never exceeds what it holds. With the kernel's default defrag
     * ("madvise") such a fault may reclaim and compact memory first: on a fragmented host the
     * first touch can wait, which is the price of the advice. (posix_memalign: aligned_alloc would
     * want a size multiple of 2 MiB.) */
    void *p = NULL;
    if (posix_memalign(&p, ATROUS_HUGE_PAGE_BYTES, rounded) != 0)
        return NULL;
    (void)madvise(p, rounded & ~(ATROUS_HUGE_PAGE_BYTES - 1), MADV_HUGEPAGE);
    return p;
}

void atrous_aligned_free(void *ptr)
{
    /* A large buffer's huge-page advice outlives it when the allocator served it from its heap
     * rather than a mapping of its own: put the range back to small pages, or the small
     * allocations that reuse it would get (and khugepaged fill) 2 MiB pages. A buffer with a
     * mapping of its own is unmapped anyway; the call costs a syscall per large buffer. */
    if (ptr != NULL && (uintptr_t)ptr % ATROUS_HUGE_PAGE_BYTES == 0) {
        size_t usable = malloc_usable_size(ptr);
        if (usable >= ATROUS_HUGE_PAGE_BYTES)
            (void)madvise(ptr, usable & ~(ATROUS_HUGE_PAGE_BYTES - 1), MADV_NOHUGEPAGE);
    }
    free(ptr);
}

enum atrous_status atrous_tensor_create(const struct atrous_shape *shape, const char *field,
                                        struct atrous_tensor **out, struct atrous_error *err)
{
    size_t bytes;
    enum atrous_status st = atrous_shape_bytes(shape, field, &bytes, err);
    if (st != ATROUS_OK)
        return st;
    struct atrous_tensor *tensor = calloc(1, sizeof(*tensor));
    if (tensor == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, field, "out of memory for %s", field);
    tensor->shape = *shape;
    tensor->owns_data = true;
    if (bytes > 0) {
        tensor->data = atrous_aligned_alloc(bytes);
        if (tensor->data == NULL) {
            free(tensor);
            return atrous_error_set(err, ATROUS_NO_MEMORY, field,
                                    "out of memory allocating %zu bytes for %s", bytes, field);
        }
        memset(tensor->data, 0, bytes);
    }
    *out = tensor;
    return ATROUS_OK;
}

enum atrous_status atrous_tensor_wrap(const struct atrous_shape *shape, float *data,
                                      struct atrous_tensor **out, struct atrous_error *err)
{
    struct atrous_tensor *tensor = calloc(1, sizeof(*tensor));
    if (tensor == NULL)
        return atrous_error_set(err, ATROUS_NO_MEMORY, "", "out of memory");
    tensor->shape = *shape;
    tensor->data = data;
    tensor->owns_data = false;
    *out = tensor;
    return ATROUS_OK;
}

void atrous_tensor_free(struct atrous_tensor *tensor)
{
    if (tensor == NULL)
        return;
    if (tensor->owns_data)
        atrous_aligned_free(tensor->data);
    free(tensor);
}
