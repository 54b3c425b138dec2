/*
 * test_tensor.c - lib/atrous_tensor.h: shapes, overflow-checked element and byte counts,
 * formatting, and 64-byte aligned tensors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "atrous_tensor.h"

static struct atrous_shape shape_of(int rank, const int64_t *dims)
{
    struct atrous_shape shape;
    assert_int_equal(atrous_shape_make(&shape, dims, rank, NULL), ATROUS_OK);
    return shape;
}

static void test_shape_make_copies_dims_and_zeroes_the_rest(void **state)
{
    const int64_t dims[] = {1, 4, 4, 2};
    struct atrous_shape shape;
    (void)state;
    memset(&shape, 0x5a, sizeof(shape));
    assert_int_equal(atrous_shape_make(&shape, dims, 4, NULL), ATROUS_OK);
    assert_int_equal(shape.rank, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(shape.dims[i], dims[i]);
    for (int i = 4; i < ATROUS_MAX_RANK; i++)
        assert_int_equal(shape.dims[i], 0);
}

static void test_shape_make_rejects_rank_outside_0_to_max(void **state)
{
    int64_t dims[ATROUS_MAX_RANK + 1] = {0};
    struct atrous_shape shape;
    struct atrous_error err;
    (void)state;
    assert_int_equal(atrous_shape_make(&shape, dims, ATROUS_MAX_RANK + 1, &err),
                     ATROUS_INVALID_ARGUMENT);
    assert_int_equal(err.status, ATROUS_INVALID_ARGUMENT);
    assert_int_equal(atrous_shape_make(&shape, dims, -1, &err), ATROUS_INVALID_ARGUMENT);
    assert_int_equal(atrous_shape_make(&shape, dims, ATROUS_MAX_RANK, &err), ATROUS_OK);
    assert_int_equal(atrous_shape_make(&shape, NULL, 0, &err), ATROUS_OK);
    assert_int_equal(shape.rank, 0);
}

static void test_shape_elements_is_the_product_of_dims(void **state)
{
    const int64_t dims[] = {2, 3, 5, 7};
    struct atrous_shape shape = shape_of(4, dims);
    size_t count = 0;
    (void)state;
    assert_int_equal(atrous_shape_elements(&shape, "value", &count, NULL), ATROUS_OK);
    assert_int_equal(count, 2 * 3 * 5 * 7);
    /* A scalar (rank 0) has one element. */
    struct atrous_shape scalar = shape_of(0, NULL);
    assert_int_equal(atrous_shape_elements(&scalar, "value", &count, NULL), ATROUS_OK);
    assert_int_equal(count, 1);
}

static void test_shape_elements_overflow_is_too_large_naming_the_field(void **state)
{
    const int64_t dims[] = {(int64_t)1 << 32, (int64_t)1 << 32, 2};
    struct atrous_shape shape = shape_of(3, dims);
    struct atrous_error err;
    size_t count = 77;
    (void)state;
    assert_int_equal(atrous_shape_elements(&shape, "filters", &count, &err), ATROUS_TOO_LARGE);
    assert_string_equal(err.field, "filters");
    assert_non_null(strstr(err.message, "[4294967296, 4294967296, 2]"));
    assert_int_equal(count, 77); /* untouched on failure */
}

static void test_shape_elements_zero_dim_after_overflow_gives_zero(void **state)
{
    const int64_t dims[] = {(int64_t)1 << 40, (int64_t)1 << 40, 0, 3};
    struct atrous_shape shape = shape_of(4, dims);
    size_t count = 77;
    (void)state;
    assert_int_equal(atrous_shape_elements(&shape, "value", &count, NULL), ATROUS_OK);
    assert_int_equal(count, 0);
}

/* Negative dims are invalid wherever they stand; a zero before one does not excuse it. */
static void test_shape_elements_rejects_negative_dims_naming_the_field(void **state)
{
    static const struct {
        int64_t dims[4];
        const char *text;
    } cases[] = {
        {{1, -4, 4, 2}, "[1, -4, 4, 2]"},
        {{0, 4, -1, 2}, "[0, 4, -1, 2]"},
        {{(int64_t)1 << 40, (int64_t)1 << 40, 3, -1}, "[1099511627776, 1099511627776, 3, -1]"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct atrous_shape shape = shape_of(4, cases[i].dims);
        struct atrous_error err;
        size_t count;
        assert_int_equal(atrous_shape_elements(&shape, "value", &count, &err),
                         ATROUS_INVALID_ARGUMENT);
        assert_string_equal(err.field, "value");
        assert_non_null(strstr(err.message, cases[i].text));
    }
}

static void test_shape_bytes_overflow_when_elements_still_fit(void **state)
{
    /* 2^62 elements fit in size_t; 2^64 bytes do not. */
    const int64_t dims[] = {(int64_t)1 << 31, (int64_t)1 << 31};
    struct atrous_shape shape = shape_of(2, dims);
    struct atrous_error err;
    size_t count, bytes;
    (void)state;
    assert_int_equal(atrous_shape_elements(&shape, "value", &count, NULL), ATROUS_OK);
    assert_int_equal(atrous_shape_bytes(&shape, "value", &bytes, &err), ATROUS_TOO_LARGE);
    assert_string_equal(err.field, "value");

    const int64_t small[] = {3, 5};
    shape = shape_of(2, small);
    assert_int_equal(atrous_shape_bytes(&shape, "value", &bytes, NULL), ATROUS_OK);
    assert_int_equal(bytes, 15 * sizeof(float));
}

static void test_shape_format_writes_python_style_lists(void **state)
{
    const int64_t dims[] = {1, 4, 4, 2};
    const int64_t negative[] = {-1, 3};
    char buf[64];
    (void)state;
    struct atrous_shape shape = shape_of(4, dims);
    atrous_shape_format(&shape, buf, sizeof(buf));
    assert_string_equal(buf, "[1, 4, 4, 2]");
    shape = shape_of(2, negative);
    atrous_shape_format(&shape, buf, sizeof(buf));
    assert_string_equal(buf, "[-1, 3]");
    shape = shape_of(0, NULL);
    atrous_shape_format(&shape, buf, sizeof(buf));
    assert_string_equal(buf, "[]");
}

static void test_shape_format_truncates_and_terminates(void **state)
{
    const int64_t dims[] = {123456789, 987654321, 5, 6};
    struct atrous_shape shape = shape_of(4, dims);
    char full[64];
    (void)state;
    atrous_shape_format(&shape, full, sizeof(full));
    for (size_t size = 1; size < strlen(full) + 1; size++) {
        char buf[64];
        memset(buf, 'x', sizeof(buf));
        atrous_shape_format(&shape, buf, size);
        /* NUL-terminated inside the buffer, a prefix of the full text, nothing written past. */
        assert_true(memchr(buf, '\0', size) != NULL);
        assert_int_equal(strncmp(buf, full, strlen(buf)), 0);
        assert_int_equal(buf[size], 'x');
    }
    atrous_shape_format(&shape, full, 0); /* size 0 writes nothing and does not crash */
}

static void test_shape_equal_compares_rank_and_dims(void **state)
{
    const int64_t a[] = {1, 4, 4, 2};
    const int64_t b[] = {1, 4, 4, 3};
    (void)state;
    struct atrous_shape sa = shape_of(4, a), sb = shape_of(4, b), sa3 = shape_of(3, a);
    assert_true(atrous_shape_equal(&sa, &sa));
    assert_false(atrous_shape_equal(&sa, &sb));
    assert_false(atrous_shape_equal(&sa, &sa3));
}

static void test_tensor_create_gives_zeroed_aligned_owned_data(void **state)
{
    const int64_t dims[] = {3, 5, 7, 1}; /* 105 floats: not a multiple of the alignment */
    struct atrous_shape shape = shape_of(4, dims);
    struct atrous_tensor *t = NULL;
    (void)state;
    assert_int_equal(atrous_tensor_create(&shape, "value", &t, NULL), ATROUS_OK);
    assert_non_null(t);
    assert_true(t->owns_data);
    assert_true(atrous_shape_equal(&t->shape, &shape));
    assert_int_equal((uintptr_t)t->data % ATROUS_TENSOR_ALIGN, 0);
    for (int i = 0; i < 105; i++)
        assert_true(t->data[i] == 0.0f);
    t->data[104] = 1.0f; /* the whole extent is writable */
    atrous_tensor_free(t);
}

static void test_tensor_create_empty_has_no_data(void **state)
{
    const int64_t dims[] = {0, 4, 4, 2};
    struct atrous_shape shape = shape_of(4, dims);
    struct atrous_tensor *t = NULL;
    (void)state;
    assert_int_equal(atrous_tensor_create(&shape, "value", &t, NULL), ATROUS_OK);
    assert_non_null(t);
    assert_null(t->data);
    atrous_tensor_free(t);
}

static void test_tensor_create_too_large_fails_without_a_tensor(void **state)
{
    const int64_t dims[] = {(int64_t)1 << 31, (int64_t)1 << 31, 4};
    struct atrous_shape shape = shape_of(3, dims);
    struct atrous_tensor *t = NULL;
    struct atrous_error err;
    (void)state;
    assert_int_equal(atrous_tensor_create(&shape, "output_shape", &t, &err), ATROUS_TOO_LARGE);
    assert_null(t);
    assert_string_equal(err.field, "output_shape");
}

static void test_tensor_wrap_borrows_the_callers_data(void **state)
{
    const int64_t dims[] = {2, 3};
    float data[6] = {1, 2, 3, 4, 5, 6};
    struct atrous_shape shape = shape_of(2, dims);
    struct atrous_tensor *t = NULL;
    (void)state;
    assert_int_equal(atrous_tensor_wrap(&shape, data, &t, NULL), ATROUS_OK);
    assert_ptr_equal(t->data, data);
    assert_false(t->owns_data);
    atrous_tensor_free(t); /* must not free data (a stack array: freeing it would crash) */
    data[5] = 7.0f;
    assert_true(data[5] == 7.0f);
    atrous_tensor_free(NULL);
}

static void test_aligned_alloc_aligns_every_size_and_refuses_zero(void **state)
{
    static const size_t sizes[] = {1, 3, 63, 64, 65, 127, 4097, 1 << 20};
    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *p = atrous_aligned_alloc(sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % ATROUS_TENSOR_ALIGN, 0);
        memset(p, 0xab, sizes[i]);
        atrous_aligned_free(p);
    }
    assert_null(atrous_aligned_alloc(0));
    /* Rounding SIZE_MAX up to the alignment would wrap around: refused, not tiny. */
    assert_null(atrous_aligned_alloc(SIZE_MAX));
    assert_null(atrous_aligned_alloc(SIZE_MAX - ATROUS_TENSOR_ALIGN + 2));
    atrous_aligned_free(NULL);
}

/* The VmFlags line of the mapping holding addr in /proc/self/smaps (into flags), or false. */
static bool vm_flags_of(const void *addr, char *flags, size_t size)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (f == NULL)
        return false;
    char line[512];
    bool inside = false, found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        unsigned long start, end;
        char perms[5];
        /* A mapping's header line ("start-end perms ..."); field lines ("Rss:", "VmFlags:")
         * never match all three. */
        if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) == 3)
            inside = (uintptr_t)addr >= start && (uintptr_t)addr < end;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0)
            found = snprintf(flags, size, "%s", line + 8) > 0;
    }
    fclose(f);
    return found;
}

/* Large tensors use transparent huge pages: aligned to 2 MiB, and the whole 2 MiB pages
 * inside the buffer marked for them ("hg" in the mapping's VmFlags), nothing past it. */
static void test_aligned_alloc_asks_for_huge_pages_for_large_tensors(void **state)
{
    (void)state;
    size_t size = 2 * ATROUS_HUGE_PAGE_BYTES + 4096 + 100;
    unsigned char *p = atrous_aligned_alloc(size);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % ATROUS_HUGE_PAGE_BYTES, 0);
    memset(p, 0xab, size);
    char flags[256];
    assert_true(vm_flags_of(p, flags, sizeof(flags)));
    if (strstr(flags, " hg") == NULL)
        fail_msg("the buffer's first 2 MiB page is not marked for huge pages: VmFlags:%s", flags);
    assert_true(vm_flags_of(p + 2 * ATROUS_HUGE_PAGE_BYTES - 1, flags, sizeof(flags)));
    assert_non_null(strstr(flags, " hg"));
    /* The last 4196 bytes are not a whole huge page: left to small pages. */
    assert_true(vm_flags_of(p + size - 1, flags, sizeof(flags)));
    assert_null(strstr(flags, " hg"));
    atrous_aligned_free(p);
    /* Served from the allocator's heap (an mmap threshold above the size makes glibc do so),
     * the advice must not outlive the buffer: the range goes back to small pages for the
     * allocations that reuse it. glibc's allocator only: ASan's ignores mallopt (make check
     * runs this part in make test). */
    if (mallopt(M_MMAP_THRESHOLD, 64 << 20) == 1) {
        p = atrous_aligned_alloc(size);
        assert_non_null(p);
        memset(p, 0xcd, size);
        assert_true(vm_flags_of(p, flags, sizeof(flags)));
        assert_non_null(strstr(flags, " hg"));
        atrous_aligned_free(p);
        bool mapped = vm_flags_of(p, flags, sizeof(flags));
        assert_int_equal(mallopt(M_MMAP_THRESHOLD, 128 << 10), 1);
        assert_true(mapped); /* the heap stays */
        if (strstr(flags, " hg") != NULL)
            fail_msg("a freed buffer's range still asks for huge pages: VmFlags:%s", flags);
    }
    /* Below the huge page size: the tensor alignment only. */
    p = atrous_aligned_alloc(ATROUS_HUGE_PAGE_BYTES - 64);
    assert_non_null(p);
    assert_true(vm_flags_of(p, flags, sizeof(flags)));
    assert_null(strstr(flags, " hg"));
    atrous_aligned_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_make_copies_dims_and_zeroes_the_rest),
        cmocka_unit_test(test_shape_make_rejects_rank_outside_0_to_max),
        cmocka_unit_test(test_shape_elements_is_the_product_of_dims),
        cmocka_unit_test(test_shape_elements_overflow_is_too_large_naming_the_field),
        cmocka_unit_test(test_shape_elements_zero_dim_after_overflow_gives_zero),
        cmocka_unit_test(test_shape_elements_rejects_negative_dims_naming_the_field),
        cmocka_unit_test(test_shape_bytes_overflow_when_elements_still_fit),
        cmocka_unit_test(test_shape_format_writes_python_style_lists),
        cmocka_unit_test(test_shape_format_truncates_and_terminates),
        cmocka_unit_test(test_shape_equal_compares_rank_and_dims),
        cmocka_unit_test(test_tensor_create_gives_zeroed_aligned_owned_data),
        cmocka_unit_test(test_tensor_create_empty_has_no_data),
        cmocka_unit_test(test_tensor_create_too_large_fails_without_a_tensor),
        cmocka_unit_test(test_tensor_wrap_borrows_the_callers_data),
        cmocka_unit_test(test_aligned_alloc_aligns_every_size_and_refuses_zero),
        cmocka_unit_test(test_aligned_alloc_asks_for_huge_pages_for_large_tensors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
