/*
 * test_compress.c - server/compress.h without sockets: Content-Encoding and Accept-Encoding
 * parsing (q-values, "*", identity refused), inflating gzip, zlib and raw deflate bodies fed in
 * pieces of every size, truncated data and trailing bytes, gzip members, the body limit against
 * a zip bomb (the sink never grows past it), and deflating answers back.
 *
 * Compressed inputs are made here with zlib's own deflate (the reference); the data are
 * pseudo-random floats written as JSON text and as bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "compress_fixtures.h"

/* zlib's own deflate, asserting it worked. */
static unsigned char *zlib_pack(const void *in, size_t len, int wbits, int level, size_t *out_len)
{
    unsigned char *out = fixture_pack(in, len, wbits, level, out_len);
    assert_non_null(out);
    return out;
}

/* Text that compresses like a JSON tensor: numbers from a fixed LCG. */
static char *json_like(size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    uint32_t x = 12345;
    size_t n = 0;
    while (n < len) {
        x = x * 1103515245u + 12345u;
        n += (size_t)snprintf(s + n, len + 1 - n, "%.7g,", (double)(x >> 8) / 16777216.0 - 0.5);
    }
    s[len] = '\0';
    return s;
}

/* A sink over a malloc'd buffer that doubles, recording the largest capacity it reached. */
struct test_sink {
    struct atrousd_inflate_sink sink;
    size_t max_cap;
    bool refuse; /* reserve fails */
};

static bool test_reserve(struct atrousd_inflate_sink *sink, size_t need)
{
    struct test_sink *t = sink->cls;
    assert_true(need > sink->len);
    assert_true(need <= sink->limit);
    if (t->refuse)
        return false;
    size_t cap = sink->cap ? sink->cap : 16;
    while (cap < need)
        cap *= 2;
    if (cap > sink->limit)
        cap = sink->limit;
    unsigned char *p = realloc(sink->data, cap);
    assert_non_null(p);
    sink->data = p;
    sink->cap = cap;
    if (cap > t->max_cap)
        t->max_cap = cap;
    return true;
}

static void sink_init(struct test_sink *t, size_t limit)
{
    memset(t, 0, sizeof(*t));
    t->sink.limit = limit;
    t->sink.reserve = test_reserve;
    t->sink.cls = t;
}

/* Feeds data in pieces of step bytes; returns the first status that is not OK, else OK. */
static enum atrousd_inflate_status feed(struct atrousd_inflate *z, const unsigned char *data,
                                        size_t len, size_t step, struct test_sink *t)
{
    for (size_t at = 0; at < len; at += step) {
        size_t n = len - at < step ? len - at : step;
        enum atrousd_inflate_status st = atrousd_inflate_feed(z, data + at, n, &t->sink);
        if (st != ATROUSD_INFLATE_OK)
            return st;
    }
    return ATROUSD_INFLATE_OK;
}

static void test_coding_parse_names_and_lists(void **state)
{
    (void)state;
    enum atrousd_coding c;
    assert_true(atrousd_coding_parse(NULL, &c));
    assert_int_equal(c, ATROUSD_CODING_IDENTITY);
    assert_true(atrousd_coding_parse("", &c));
    assert_int_equal(c, ATROUSD_CODING_IDENTITY);
    assert_true(atrousd_coding_parse("identity", &c));
    assert_int_equal(c, ATROUSD_CODING_IDENTITY);
    assert_true(atrousd_coding_parse("gzip", &c));
    assert_int_equal(c, ATROUSD_CODING_GZIP);
    assert_true(atrousd_coding_parse(" X-GZIP ", &c));
    assert_int_equal(c, ATROUSD_CODING_GZIP);
    assert_true(atrousd_coding_parse("Deflate", &c));
    assert_int_equal(c, ATROUSD_CODING_DEFLATE);
    assert_true(atrousd_coding_parse("identity, gzip", &c));
    assert_int_equal(c, ATROUSD_CODING_GZIP);
    /* Unknown codings, "*", and two codings applied one after the other are refused. */
    const char *refused[] = {"br",         "zstd",          "compress", "*",
                             "gzip, gzip", "gzip, deflate", "gzipx",    "gzip;q=1"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_false(atrousd_coding_parse(refused[i], &c));
}

/* The coding chosen for an answer of len bytes with a 1000-byte threshold; -1 for 406. */
static int choose(const char *accept, size_t len, bool binary)
{
    struct atrousd_accept_encoding ae;
    enum atrousd_coding c;
    atrousd_accept_encoding_parse(accept, &ae);
    if (!atrousd_coding_choose(&ae, len, 1000, binary, &c))
        return -1;
    return (int)c;
}

static void test_accept_encoding_q_values(void **state)
{
    (void)state;
    const int I = ATROUSD_CODING_IDENTITY, G = ATROUSD_CODING_GZIP, D = ATROUSD_CODING_DEFLATE;
    struct {
        const char *accept;
        size_t len;
        bool binary;
        int want;
    } cases[] = {
        {NULL, 5000, false, I},                  /* absent: nothing is compressed */
        {"", 5000, false, I},                    /* empty: identity only */
        {"gzip", 5000, false, G},                /* named */
        {"gzip", 999, false, I},                 /* under the threshold */
        {"gzip", 1000, false, G},                /* at it */
        {"deflate", 5000, false, D},             /* the other coding */
        {"deflate, gzip", 5000, false, G},       /* a tie goes to gzip */
        {"gzip;q=0.5, deflate", 5000, false, D}, /* the higher q wins */
        {"GZIP ; Q=0.2, deflate;q=0.1", 5000, false, G},
        {"gzip;q=0", 5000, false, I},             /* refused coding */
        {"gzip;q=0.5", 5000, false, G},           /* an unranked identity loses */
        {"gzip;q=0.5, identity", 5000, false, I}, /* a ranked identity wins */
        {"gzip, identity;q=0.5", 5000, false, G},
        {"gzip;q=2", 5000, false, I}, /* malformed q: the element is ignored */
        {"gzip;q=abc, deflate", 5000, false, D},
        {"br", 5000, false, I},               /* none of ours: identity is still fine */
        {"*", 5000, false, G},                /* any coding */
        {"*;q=0.3, deflate", 5000, false, D}, /* "*" ranks the unlisted ones */
        {"x-gzip", 5000, false, G},           /* the alias */
        /* Binary tensor answers only with the coding named. */
        {"*", 5000, true, I},
        {"gzip, deflate", 5000, true, G},
        {"deflate, *", 5000, true, D},
        /* Identity refused: a coding whatever the size, "*" counting for binary too. */
        {"gzip, identity;q=0", 10, false, G},
        {"*, identity;q=0", 10, true, G},
        {"deflate;q=0.5, *;q=0", 10, false, D},
        {"identity;q=0", 5000, false, -1}, /* nothing acceptable: 406 */
        {"*;q=0", 5000, false, -1},
        {"br, identity;q=0", 5000, false, -1},
        {"*;q=0, identity", 5000, false, I}, /* identity named over "*" */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = choose(cases[i].accept, cases[i].len, cases[i].binary);
        if (got != cases[i].want)
            fail_msg("Accept-Encoding '%s' (%zu bytes, %s): got %d, want %d",
                     cases[i].accept ? cases[i].accept : "(absent)", cases[i].len,
                     cases[i].binary ? "binary" : "json", got, cases[i].want);
    }
    /* A threshold of 0 turns compression off unless identity is refused. */
    struct atrousd_accept_encoding ae;
    enum atrousd_coding c;
    atrousd_accept_encoding_parse("gzip", &ae);
    assert_true(atrousd_coding_choose(&ae, 1 << 20, 0, false, &c));
    assert_int_equal(c, ATROUSD_CODING_IDENTITY);
    atrousd_accept_encoding_parse("gzip, identity;q=0", &ae);
    assert_true(atrousd_coding_choose(&ae, 1 << 20, 0, false, &c));
    assert_int_equal(c, ATROUSD_CODING_GZIP);
}

/* Inflates packed (of format wbits, labelled coding) in pieces of every size in steps and
 * checks that it gives back plain exactly. */
static void expect_round_trip(enum atrousd_coding coding, const unsigned char *packed,
                              size_t packed_len, const char *plain, size_t plain_len)
{
    const size_t steps[] = {1, 2, 3, 7, 64, 4096, packed_len};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct test_sink t;
        sink_init(&t, plain_len + 100);
        struct atrousd_inflate *z = atrousd_inflate_create(coding);
        assert_non_null(z);
        assert_int_equal(feed(z, packed, packed_len, steps[i], &t), ATROUSD_INFLATE_OK);
        assert_true(atrousd_inflate_finished(z));
        assert_int_equal(t.sink.len, plain_len);
        assert_memory_equal(t.sink.data, plain, plain_len);
        atrousd_inflate_free(z);
        free(t.sink.data);
    }
}

static void test_inflate_gzip_zlib_and_raw_deflate(void **state)
{
    (void)state;
    const size_t len = 200000;
    char *plain = json_like(len);
    size_t n;
    unsigned char *gz = zlib_pack(plain, len, FIXTURE_GZIP, 6, &n);
    expect_round_trip(ATROUSD_CODING_GZIP, gz, n, plain, len);
    free(gz);
    /* "deflate" as RFC 9110 and tritonclient (zlib.compress) mean it, and as raw data. */
    unsigned char *zl = zlib_pack(plain, len, FIXTURE_ZLIB, 1, &n);
    expect_round_trip(ATROUSD_CODING_DEFLATE, zl, n, plain, len);
    expect_round_trip(ATROUSD_CODING_GZIP, zl, n, plain, len); /* zlib data labelled gzip */
    free(zl);
    unsigned char *raw = zlib_pack(plain, len, FIXTURE_RAW, 9, &n);
    expect_round_trip(ATROUSD_CODING_DEFLATE, raw, n, plain, len);
    /* Raw deflate is not gzip. */
    struct test_sink t;
    sink_init(&t, len);
    struct atrousd_inflate *z = atrousd_inflate_create(ATROUSD_CODING_GZIP);
    assert_int_equal(feed(z, raw, n, n, &t), ATROUSD_INFLATE_BAD_DATA);
    assert_non_null(strstr(atrousd_inflate_error(z), "gzip"));
    atrousd_inflate_free(z);
    free(t.sink.data);
    free(raw);
    free(plain);
}

static void test_inflate_concatenated_gzip_members(void **state)
{
    (void)state;
    const char *a = "{\"instances\": [1, 2,", *b = " 3]}";
    size_t na, nb;
    unsigned char *pa = zlib_pack(a, strlen(a), FIXTURE_GZIP, 6, &na);
    unsigned char *pb = zlib_pack(b, strlen(b), FIXTURE_GZIP, 6, &nb);
    unsigned char *both = malloc(na + nb);
    assert_non_null(both);
    memcpy(both, pa, na);
    memcpy(both + na, pb, nb);
    char whole[64];
    snprintf(whole, sizeof(whole), "%s%s", a, b);
    expect_round_trip(ATROUSD_CODING_GZIP, both, na + nb, whole, strlen(whole));
    free(both);
    free(pa);
    free(pb);
}

static void test_inflate_truncated_and_trailing_bytes(void **state)
{
    (void)state;
    const size_t len = 50000;
    char *plain = json_like(len);
    const int formats[] = {FIXTURE_GZIP, FIXTURE_ZLIB, FIXTURE_RAW};
    for (size_t f = 0; f < 3; f++) {
        enum atrousd_coding coding =
            formats[f] == FIXTURE_GZIP ? ATROUSD_CODING_GZIP : ATROUSD_CODING_DEFLATE;
        size_t n;
        unsigned char *packed = zlib_pack(plain, len, formats[f], 6, &n);
        /* Cut anywhere (even inside the header or the trailer): never finished. */
        const size_t cuts[] = {0, 1, 2, 10, n / 2, n - 4, n - 1};
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
            struct test_sink t;
            sink_init(&t, len);
            struct atrousd_inflate *z = atrousd_inflate_create(coding);
            assert_int_equal(feed(z, packed, cuts[i], 5, &t), ATROUSD_INFLATE_OK);
            assert_false(atrousd_inflate_finished(z));
            assert_non_null(strstr(atrousd_inflate_error(z), "truncated"));
            atrousd_inflate_free(z);
            free(t.sink.data);
        }
        /* Bytes after the end (one, or many in the same piece) are refused: at once, or (one
         * byte after gzip data, which could start another member) as data that never ends. */
        unsigned char *longer = malloc(n + 8);
        assert_non_null(longer);
        memcpy(longer, packed, n);
        memcpy(longer + n, "garbage!", 8);
        const size_t extra[] = {1, 8};
        for (size_t i = 0; i < 2; i++) {
            struct test_sink t;
            sink_init(&t, len);
            struct atrousd_inflate *z = atrousd_inflate_create(coding);
            enum atrousd_inflate_status st = feed(z, longer, n + extra[i], n + extra[i], &t);
            assert_false(atrousd_inflate_finished(z));
            if (extra[i] > 1 || formats[f] != FIXTURE_GZIP)
                assert_int_equal(st, ATROUSD_INFLATE_BAD_DATA);
            /* Nothing more is taken after an error. */
            if (st == ATROUSD_INFLATE_BAD_DATA)
                assert_int_equal(atrousd_inflate_feed(z, "x", 1, &t.sink),
                                 ATROUSD_INFLATE_BAD_DATA);
            atrousd_inflate_free(z);
            free(t.sink.data);
        }
        free(longer);
        free(packed);
    }
    /* Not compressed at all. */
    struct test_sink t;
    sink_init(&t, 1000);
    struct atrousd_inflate *z = atrousd_inflate_create(ATROUSD_CODING_GZIP);
    const char *json = "{\"instances\": [[1.0, 2.0]]}";
    assert_int_equal(feed(z, (const unsigned char *)json, strlen(json), 3, &t),
                     ATROUSD_INFLATE_BAD_DATA);
    atrousd_inflate_free(z);
    free(t.sink.data);
    free(plain);
}

/* 64 MiB of zeros (about 64 KiB of gzip) against a 1 MiB limit: refused at the limit, and the
 * body never grew past it. */
static void test_inflate_bomb_stops_at_the_limit(void **state)
{
    (void)state;
    const size_t zeros_len = (size_t)64 << 20, limit = (size_t)1 << 20;
    unsigned char *zeros = calloc(1, zeros_len);
    assert_non_null(zeros);
    size_t n;
    unsigned char *bomb = zlib_pack(zeros, zeros_len, FIXTURE_GZIP, 9, &n);
    free(zeros);
    assert_true(n < zeros_len / 500);
    struct test_sink t;
    sink_init(&t, limit);
    struct atrousd_inflate *z = atrousd_inflate_create(ATROUSD_CODING_GZIP);
    assert_int_equal(feed(z, bomb, n, 4096, &t), ATROUSD_INFLATE_OVER_LIMIT);
    assert_true(t.max_cap <= limit);
    assert_int_equal(t.sink.len, limit);
    atrousd_inflate_free(z);
    free(t.sink.data);
    /* A body of exactly the limit is accepted. */
    unsigned char *exact_plain = calloc(1, limit);
    assert_non_null(exact_plain);
    unsigned char *exact = zlib_pack(exact_plain, limit, FIXTURE_GZIP, 9, &n);
    sink_init(&t, limit);
    z = atrousd_inflate_create(ATROUSD_CODING_GZIP);
    assert_int_equal(feed(z, exact, n, n, &t), ATROUSD_INFLATE_OK);
    assert_true(atrousd_inflate_finished(z));
    assert_int_equal(t.sink.len, limit);
    atrousd_inflate_free(z);
    free(t.sink.data);
    /* One byte more is not. */
    free(exact);
    exact = zlib_pack(exact_plain, limit, FIXTURE_GZIP, 9, &n);
    sink_init(&t, limit - 1);
    z = atrousd_inflate_create(ATROUSD_CODING_GZIP);
    assert_int_equal(feed(z, exact, n, n, &t), ATROUSD_INFLATE_OVER_LIMIT);
    atrousd_inflate_free(z);
    free(t.sink.data);
    free(exact);
    free(exact_plain);
    free(bomb);
}

static void test_inflate_reserve_failure_stops(void **state)
{
    (void)state;
    const char *plain = "{\"inputs\": []}";
    size_t n;
    unsigned char *packed = zlib_pack(plain, strlen(plain), FIXTURE_GZIP, 6, &n);
    struct test_sink t;
    sink_init(&t, 1000);
    t.refuse = true;
    struct atrousd_inflate *z = atrousd_inflate_create(ATROUSD_CODING_GZIP);
    assert_int_equal(feed(z, packed, n, n, &t), ATROUSD_INFLATE_NO_ROOM);
    assert_false(atrousd_inflate_finished(z));
    atrousd_inflate_free(z);
    free(packed);
}

/* Inflates with zlib (the reference) what atrousd_deflate wrote. */
static void expect_unpacks_to(const unsigned char *packed, size_t n, int wbits, const void *plain,
                              size_t len)
{
    size_t got_len;
    char *got = fixture_unpack(packed, n, wbits, &got_len);
    assert_non_null(got);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, plain, len);
    free(got);
}

static void test_deflate_answers_round_trip(void **state)
{
    (void)state;
    const size_t len = 300000;
    char *plain = json_like(len);
    void *out;
    size_t n;
    assert_int_equal(atrousd_deflate(ATROUSD_CODING_GZIP, plain, len, false, &out, &n),
                     ATROUSD_DEFLATE_OK);
    assert_true(n < len * 3 / 5);
    expect_unpacks_to(out, n, FIXTURE_GZIP, plain, len);
    free(out);
    assert_int_equal(atrousd_deflate(ATROUSD_CODING_DEFLATE, plain, len, false, &out, &n),
                     ATROUSD_DEFLATE_OK);
    expect_unpacks_to(out, n, FIXTURE_ZLIB, plain, len);
    /* What it writes, it reads. */
    struct test_sink t;
    sink_init(&t, len);
    struct atrousd_inflate *z = atrousd_inflate_create(ATROUSD_CODING_DEFLATE);
    assert_int_equal(feed(z, out, n, 1000, &t), ATROUSD_INFLATE_OK);
    assert_true(atrousd_inflate_finished(z));
    assert_memory_equal(t.sink.data, plain, len);
    atrousd_inflate_free(z);
    free(t.sink.data);
    free(out);
    free(plain);
}

static void test_deflate_gives_up_unless_it_must(void **state)
{
    (void)state;
    /* Random bytes do not shrink. */
    const size_t len = 10000;
    unsigned char *noise = malloc(len);
    assert_non_null(noise);
    uint32_t x = 99;
    for (size_t i = 0; i < len; i++) {
        x = x * 1664525u + 1013904223u;
        noise[i] = (unsigned char)(x >> 24);
    }
    void *out = (void *)1;
    size_t n = 1;
    assert_int_equal(atrousd_deflate(ATROUSD_CODING_GZIP, noise, len, false, &out, &n),
                     ATROUSD_DEFLATE_NOT_SMALLER);
    assert_null(out);
    assert_int_equal(n, 0);
    /* When identity is refused it compresses anyway. */
    assert_int_equal(atrousd_deflate(ATROUSD_CODING_GZIP, noise, len, true, &out, &n),
                     ATROUSD_DEFLATE_OK);
    assert_true(n > len);
    expect_unpacks_to(out, n, FIXTURE_GZIP, noise, len);
    free(out);
    assert_int_equal(atrousd_deflate(ATROUSD_CODING_GZIP, "x", 1, true, &out, &n),
                     ATROUSD_DEFLATE_OK);
    expect_unpacks_to(out, n, FIXTURE_GZIP, "x", 1);
    free(out);
    free(noise);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coding_parse_names_and_lists),
        cmocka_unit_test(test_accept_encoding_q_values),
        cmocka_unit_test(test_inflate_gzip_zlib_and_raw_deflate),
        cmocka_unit_test(test_inflate_concatenated_gzip_members),
        cmocka_unit_test(test_inflate_truncated_and_trailing_bytes),
        cmocka_unit_test(test_inflate_bomb_stops_at_the_limit),
        cmocka_unit_test(test_inflate_reserve_failure_stops),
        cmocka_unit_test(test_deflate_answers_round_trip),
        cmocka_unit_test(test_deflate_gives_up_unless_it_must),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
