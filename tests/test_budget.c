/*
 * test_budget.c - server/budget.h on its own, without sockets: reservations within and over the
 * limit (a refusal changes nothing and is counted), growing, shrinking and releasing, and
 * threads racing on one budget that is never overdrawn, not even for a moment (its high-water
 * mark stays within the limit) and ends empty.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdint.h>

#include "budget.h"

static void test_budget_reserves_up_to_the_limit_and_no_further(void **state)
{
    (void)state;
    struct atrousd_budget b;
    struct atrousd_reservation r1, r2, r3;
    atrousd_budget_init(&b, 1000);
    atrousd_reservation_init(&r1);
    atrousd_reservation_init(&r2);
    atrousd_reservation_init(&r3);
    assert_true(atrousd_budget_reserve(&b, &r1, 600));
    assert_true(atrousd_budget_reserve(&b, &r2, 400));
    assert_int_equal(atrousd_budget_in_use(&b), 1000);
    /* Full: even one byte is refused, and the refusal leaves everything as it was. */
    assert_false(atrousd_budget_reserve(&b, &r3, 1));
    assert_int_equal(r3.bytes, 0);
    assert_null(r3.budget);
    assert_int_equal(atrousd_budget_in_use(&b), 1000);
    assert_int_equal(atrousd_budget_refused(&b), 1);
    atrousd_budget_release(&r2);
    assert_int_equal(atrousd_budget_in_use(&b), 600);
    assert_true(atrousd_budget_reserve(&b, &r3, 400));
    assert_int_equal(atrousd_budget_peak(&b), 1000);
    atrousd_budget_release(&r1);
    atrousd_budget_release(&r3);
    assert_int_equal(atrousd_budget_in_use(&b), 0);
}

static void test_budget_never_overflows_on_huge_requests(void **state)
{
    (void)state;
    struct atrousd_budget b;
    struct atrousd_reservation r;
    atrousd_budget_init(&b, 1000);
    atrousd_reservation_init(&r);
    assert_true(atrousd_budget_reserve(&b, &r, 10));
    assert_false(atrousd_budget_grow(&r, UINT64_MAX));
    assert_false(atrousd_budget_grow(&r, UINT64_MAX - 5));
    assert_int_equal(r.bytes, 10);
    assert_int_equal(atrousd_budget_in_use(&b), 10);
    assert_false(atrousd_budget_could_fit(&b, 1001));
    assert_true(atrousd_budget_could_fit(&b, 1000));
    atrousd_budget_release(&r);
}

static void test_budget_grow_shrink_release(void **state)
{
    (void)state;
    struct atrousd_budget b;
    struct atrousd_reservation r;
    atrousd_budget_init(&b, 1000);
    atrousd_reservation_init(&r);
    assert_true(atrousd_budget_reserve(&b, &r, 100));
    assert_true(atrousd_budget_grow(&r, 500)); /* the decoded shapes' output */
    assert_int_equal(r.bytes, 600);
    assert_false(atrousd_budget_grow(&r, 401));
    assert_int_equal(r.bytes, 600);
    atrousd_budget_shrink(&r, 250); /* only the answer is left */
    assert_int_equal(r.bytes, 250);
    assert_int_equal(atrousd_budget_in_use(&b), 250);
    atrousd_budget_shrink(&r, 900); /* shrinking never grows */
    assert_int_equal(r.bytes, 250);
    atrousd_budget_release(&r);
    atrousd_budget_release(&r); /* a second release is harmless */
    assert_int_equal(r.bytes, 0);
    assert_int_equal(atrousd_budget_in_use(&b), 0);
    assert_int_equal(atrousd_budget_peak(&b), 600);
}

static void test_budget_reservation_without_budget_counts_without_limit(void **state)
{
    (void)state;
    /* The synchronous handler path (tests, fuzzing) runs with no budget behind it. */
    struct atrousd_reservation r;
    atrousd_reservation_init(&r);
    assert_true(atrousd_budget_grow(&r, (uint64_t)1 << 40));
    assert_int_equal(r.bytes, (uint64_t)1 << 40);
    atrousd_budget_release(&r);
    assert_int_equal(r.bytes, 0);
}

#define RACERS         4
#define RACE_ROUNDS    100000
#define RACE_LIMIT     10000
#define RACE_MAX_BYTES 3000

struct racer {
    struct atrousd_budget *budget;
    unsigned seed;
    unsigned long granted, refused;
};

/* Reserves, sometimes grows, then shrinks and releases, with sizes from a small LCG. */
static void *race(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        struct atrousd_reservation res;
        atrousd_reservation_init(&res);
        r->seed = r->seed * 1103515245u + 12345u;
        uint64_t bytes = (r->seed >> 8) % RACE_MAX_BYTES + 1;
        if (!atrousd_budget_reserve(r->budget, &res, bytes)) {
            r->refused++;
            continue;
        }
        r->granted++;
        if (r->seed & 1)
            (void)atrousd_budget_grow(&res, bytes / 2);
        atrousd_budget_shrink(&res, bytes / 3);
        atrousd_budget_release(&res);
    }
    return NULL;
}

static void test_budget_racing_threads_never_overdraw_it(void **state)
{
    (void)state;
    struct atrousd_budget b;
    struct racer racers[RACERS];
    pthread_t threads[RACERS];
    atrousd_budget_init(&b, RACE_LIMIT);
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (struct racer){.budget = &b, .seed = 17u * (unsigned)i + 1u};
        assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    unsigned long granted = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        granted += racers[i].granted;
    }
    assert_true(granted > 0);
    assert_int_equal(atrousd_budget_in_use(&b), 0);
    assert_true(atrousd_budget_peak(&b) <= RACE_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_reserves_up_to_the_limit_and_no_further),
        cmocka_unit_test(test_budget_never_overflows_on_huge_requests),
        cmocka_unit_test(test_budget_grow_shrink_release),
        cmocka_unit_test(test_budget_reservation_without_budget_counts_without_limit),
        cmocka_unit_test(test_budget_racing_threads_never_overdraw_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
