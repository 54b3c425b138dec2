/*
 * test_deadline.c - server/deadline.h on socket pairs, without a daemon: a connection past its
 * deadline is shut down (its peer reads end-of-file) and marked expired; one without a
 * deadline, or with a deadline moved into the future, is left alone; removal and destruction
 * with connections still registered are safe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <unistd.h>

#include "clock.h"
#include "deadline.h"

#define MS 1000000u

/* True when the peer of a shut-down socket sees end-of-file within timeout_ms. */
static bool peer_sees_eof(int peer, int timeout_ms)
{
    struct pollfd p = {.fd = peer, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) != 1)
        return false;
    char c;
    return recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

static void test_deadline_past_is_shut_down(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct atrousd_deadlines *set = atrousd_deadlines_create();
    assert_non_null(set);
    struct atrousd_deadline *d = atrousd_deadline_add(set, sv[0], atrousd_now_ns() + 50 * MS);
    assert_non_null(d);
    assert_false(atrousd_deadline_expired(d));
    assert_true(peer_sees_eof(sv[1], 30000)); /* a sweep or two later; bounded generously */
    assert_true(atrousd_deadline_expired(d));
    atrousd_deadline_remove(set, d);
    atrousd_deadlines_destroy(set);
    close(sv[0]);
    close(sv[1]);
}

static void test_deadline_none_or_moved_is_left_alone(void **state)
{
    (void)state;
    /* Judged when the deadline was moved before it came due (the sweeper could not have acted
     * on it yet); a test thread stalled past it makes the attempt prove nothing, so it is made
     * again with a later first deadline. */
    bool judged = false;
    for (uint64_t first_ms = 200; first_ms <= 12800 && !judged; first_ms *= 2) {
        int a[2], b[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
        struct atrousd_deadlines *set = atrousd_deadlines_create();
        assert_non_null(set);
        struct atrousd_deadline *none = atrousd_deadline_add(set, a[0], 0);
        uint64_t due = atrousd_now_ns() + first_ms * MS;
        struct atrousd_deadline *moved = atrousd_deadline_add(set, b[0], due);
        atrousd_deadline_set(moved, atrousd_now_ns() + 600000 * MS);
        judged = atrousd_now_ns() < due;
        if (judged) {
            /* Past the first deadline and three sweeps more, both are still open. */
            assert_false(peer_sees_eof(a[1], (int)first_ms + 3 * ATROUSD_DEADLINE_SWEEP_MS));
            assert_false(peer_sees_eof(b[1], 1));
            assert_false(atrousd_deadline_expired(none));
            assert_false(atrousd_deadline_expired(moved));
        }
        /* Destroying the set with both registered frees them. */
        atrousd_deadlines_destroy(set);
        for (int i = 0; i < 2; i++) {
            close(a[i]);
            close(b[i]);
        }
    }
    assert_true(judged);
}

static void test_deadline_accepts_null(void **state)
{
    (void)state;
    atrousd_deadline_set(NULL, 1);
    assert_false(atrousd_deadline_expired(NULL));
    assert_null(atrousd_deadline_add(NULL, 0, 1));
    atrousd_deadline_remove(NULL, NULL);
    atrousd_deadlines_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_past_is_shut_down),
        cmocka_unit_test(test_deadline_none_or_moved_is_left_alone),
        cmocka_unit_test(test_deadline_accepts_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
