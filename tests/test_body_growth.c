/*
 * test_body_growth.c - how a request body buffer of unknown size (chunked, compressed) grows
 * (atrousd_governor_body_cap, server/governor.h), without sockets: whatever its first size
 * and however the bytes arrive, its capacity never exceeds --max-body-bytes, and while it moves
 * the old buffer and the new one together never hold more than 1.5 x the limit - what
 * admission reserves for such a body.
 *
 * Before, a buffer that was between half the limit and the limit (the first buffer of a
 * compressed body, four times its Content-Length, or a binary body's implied size) grew
 * straight to the limit with the old one still held: up to 2 x the limit, a third more than
 * the budget had reserved.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>

#include "governor.h"

/* Grows a buffer from a first need of first bytes, as bytes arrive step at a time (each need
 * one step past the capacity, the worst case for moves), up to the limit; checks every move. */
static void grow_to_limit(size_t limit, size_t first, size_t step)
{
    size_t cap = atrousd_governor_body_cap(0, first, limit);
    if (cap < first || cap > limit)
        fail_msg("limit %zu: the first buffer for %zu bytes is %zu", limit, first, cap);
    size_t moves = 0;
    while (cap < limit) {
        size_t need = cap + step < limit ? cap + step : limit;
        size_t next = atrousd_governor_body_cap(cap, need, limit);
        if (next < need || next > limit)
            fail_msg("limit %zu: %zu bytes got a %zu byte buffer", limit, need, next);
        if (cap + next > limit + limit / 2)
            fail_msg("limit %zu (first %zu): moving %zu bytes to %zu holds %zu, over 1.5 x the "
                     "limit",
                     limit, first, cap, next, cap + next);
        assert_true(next > cap);
        /* Within its capacity it stays. */
        assert_int_equal(atrousd_governor_body_cap(next, need, limit), next);
        cap = next;
        assert_true(++moves <= 64);
    }
    /* Past the limit there is no buffer. */
    assert_int_equal(atrousd_governor_body_cap(cap, limit + 1, limit), 0);
}

static void test_body_growth_stays_within_the_limit_and_its_reservation(void **state)
{
    (void)state;
    static const size_t limits[] = {
        1,
        2,
        3,
        7,
        100,
        4096,
        65535,
        65536,
        65537,
        (size_t)1 << 20,
        ((size_t)1 << 20) + 1,
        (size_t)3 << 19,
        (size_t)64 << 20,
        (size_t)96 << 20,
        (size_t)100 << 20,
        (size_t)1 << 40,
    };
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        size_t l = limits[i];
        /* First buffers: the chunked default, the quarter and half marks and either side of
         * them, a compressed body's guess past half the limit, the limit itself. */
        const size_t firsts[] = {1,         (size_t)64 << 10, l / 4, l / 4 + 1, l / 2,
                                 l / 2 + 1, l / 5 * 3,        l - 1, l};
        const size_t steps[] = {1, 4096, (size_t)1 << 20};
        for (size_t f = 0; f < sizeof(firsts) / sizeof(firsts[0]); f++) {
            if (firsts[f] == 0 || firsts[f] > l)
                continue;
            for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++)
                grow_to_limit(l, firsts[f], steps[s]);
        }
    }
}

static void test_body_growth_small_bodies_stay_small(void **state)
{
    (void)state;
    size_t limit = (size_t)64 << 20;
    /* A 64 KiB first buffer for a 100 KiB chunked body: 128 KiB, not the limit. */
    size_t cap = atrousd_governor_body_cap(0, (size_t)64 << 10, limit);
    assert_int_equal(cap, (size_t)64 << 10);
    assert_int_equal(atrousd_governor_body_cap(cap, (size_t)100 << 10, limit), (size_t)128 << 10);
    /* A body whose size the growth cannot reach without passing half the limit takes it. */
    assert_int_equal(atrousd_governor_body_cap(0, limit / 2 + 1, limit), limit);
    assert_int_equal(atrousd_governor_body_cap(0, limit / 2, limit), limit / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_growth_stays_within_the_limit_and_its_reservation),
        cmocka_unit_test(test_body_growth_small_bodies_stay_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
