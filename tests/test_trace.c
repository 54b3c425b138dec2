/*
 * test_trace.c - server/trace.h without sockets: traceparent parsed strictly as the W3C Trace
 * Context specification's section 3.2 says (each rule that makes a header invalid), tracestate
 * lists checked and cut to 512 characters as section 3.3 says, and the ids a request gets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "trace.h"

static void test_traceparent_valid_forms(void **state)
{
    (void)state;
    char trace[33], parent[17];
    uint8_t flags = 0xff;
    assert_true(atrousd_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                          trace, parent, &flags));
    assert_string_equal(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(parent, "00f067aa0ba902b7");
    assert_int_equal(flags, 1);
    /* Unknown flag bits are cleared; sampled and random-trace-id kept. */
    assert_true(atrousd_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
                                          trace, parent, &flags));
    assert_int_equal(flags, 3);
    /* A higher version: parsed by the 00 layout, more fields after a dash allowed. */
    assert_true(atrousd_traceparent_parse(
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-the-future-says", trace,
        parent, &flags));
    assert_int_equal(flags, 0);
    assert_true(atrousd_traceparent_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                          trace, parent, &flags));
}

static void test_traceparent_invalid_forms(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "00",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version ff */
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version not hex */
        "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* uppercase version */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  /* uppercase trace-id */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* zero trace-id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* zero parent-id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",  /* uppercase parent-id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",  /* flags not hex */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* 00 with more */
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",  /* dash misplaced */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* wrong delimiter */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",   /* short flags */
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", /* higher: no dash after */
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* leading blank */
    };
    char trace[33], parent[17];
    uint8_t flags;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (atrousd_traceparent_parse(bad[i], trace, parent, &flags))
            fail_msg("accepted: '%s'", bad[i]);
    }
    assert_false(atrousd_traceparent_parse(NULL, trace, parent, &flags));
}

static void test_tracestate_lists(void **state)
{
    (void)state;
    char out[ATROUSD_TRACESTATE_MAX + 1];
    const char *two[] = {"rojo=00f067aa0ba902b7", " congo=t61rcWkgMzE "};
    assert_true(atrousd_tracestate_normalize(two, 2, out));
    assert_string_equal(out, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    const char *spaced[] = {" , a=1 ,\t, b@x=2 3 ,", ""};
    assert_true(atrousd_tracestate_normalize(spaced, 2, out));
    assert_string_equal(out, "a=1,b@x=2 3"); /* empty members dropped, inner blanks kept */
    static const char *const bad[] = {
        "Rojo=1",        /* uppercase key */
        "_rojo=1",       /* key must start with a letter or digit */
        "rojo",          /* no '=' */
        "rojo=",         /* empty value */
        "rojo=a=b",      /* '=' in the value */
        "rojo=1,rojo=2", /* a key twice */
        "ro jo=1",       /* blank in the key */
        "rojo=\x01",     /* not printable */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (atrousd_tracestate_normalize(&bad[i], 1, out))
            fail_msg("accepted: '%s'", bad[i]);
        assert_string_equal(out, "");
    }
    /* 33 members is one too many. */
    char many[33 * 8 + 1] = "";
    for (int i = 0; i < 33; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sk%d=v", i ? "," : "", i);
    const char *list[] = {many};
    assert_false(atrousd_tracestate_normalize(list, 1, out));
}

/* Over 512 characters: whole entries go, those over 128 characters first, then from the end. */
static void test_tracestate_cut_to_512(void **state)
{
    (void)state;
    char out[ATROUSD_TRACESTATE_MAX + 1];
    char text[2048] = "", big[200];
    memset(big, 'x', 150);
    big[150] = '\0';
    /* 5 entries of 127 characters and one of 152 (third): 791 in all, with the commas. */
    for (int i = 0; i < 6; i++) {
        char entry[256];
        if (i == 2)
            snprintf(entry, sizeof(entry), "b=%s", big);
        else
            snprintf(entry, sizeof(entry), "k%d=%0124d", i, i);
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s", i ? "," : "", entry);
    }
    const char *list[] = {text};
    assert_true(atrousd_tracestate_normalize(list, 1, out));
    assert_null(strstr(out, "b=")); /* the long entry went first */
    assert_true(strlen(out) <= ATROUSD_TRACESTATE_MAX);
    assert_non_null(strstr(out, "k0="));
    /* Without it 5 x 127 + 4 = 639 is still over: the last goes, 4 x 127 + 3 = 511 fits. */
    assert_non_null(strstr(out, "k4="));
    assert_null(strstr(out, "k5="));
    assert_int_equal(strlen(out), 511);
}

static uint64_t counter(void *arg)
{
    uint64_t *n = arg;
    return ++*n * UINT64_C(0x9e3779b97f4a7c15);
}

static void test_trace_begin(void **state)
{
    (void)state;
    uint64_t n = 0;
    struct atrousd_trace t;
    char header[ATROUSD_TRACEPARENT_LEN + 1];
    const char *ts[] = {"congo=t61rcWkgMzE"};
    atrousd_trace_begin(&t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 1, ts, 1,
                        counter, &n);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.parent_id, "00f067aa0ba902b7");
    assert_string_equal(t.tracestate, "congo=t61rcWkgMzE");
    assert_int_equal(strlen(t.span_id), 16);
    atrousd_trace_header(&t, header);
    assert_int_equal(strlen(header), ATROUSD_TRACEPARENT_LEN);
    assert_memory_equal(header, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36);
    assert_string_equal(header + 52, "-00"); /* the caller's sampled flag, unchanged */
    /* Twice, or invalid: a new trace, tracestate dropped. */
    atrousd_trace_begin(&t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 2, ts, 1,
                        counter, &n);
    assert_string_not_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.parent_id, "");
    assert_string_equal(t.tracestate, "");
    char again[ATROUSD_TRACEPARENT_LEN + 1];
    atrousd_trace_header(&t, header);
    char trace[33], parent[17];
    uint8_t flags;
    assert_true(atrousd_traceparent_parse(header, trace, parent, &flags)); /* well-formed */
    atrousd_trace_begin(&t, NULL, 0, NULL, 0, counter, &n);
    atrousd_trace_header(&t, again);
    assert_string_not_equal(header, again); /* fresh ids every time */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent_valid_forms),
        cmocka_unit_test(test_traceparent_invalid_forms),
        cmocka_unit_test(test_tracestate_lists),
        cmocka_unit_test(test_tracestate_cut_to_512),
        cmocka_unit_test(test_trace_begin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
