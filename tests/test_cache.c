/*
 * test_cache.c - lib/atrous_cache.h on its own: hits and misses, LRU eviction within the
 * capacity, the insert race, reference counting across eviction (every value destroyed exactly
 * once, counted by the destroy callback), and the same under several threads.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "atrous_cache.h"

/* A value the tests own: the destroy callback only counts, so a value destroyed twice (or
 * used after destruction) shows in its counter instead of crashing the run. */
struct value {
    int id;
    atomic_int destroyed;
};

static void count_destroy(void *v)
{
    atomic_fetch_add(&((struct value *)v)->destroyed, 1);
}

static struct atrous_cache_key key_of(int64_t k)
{
    struct atrous_cache_key key;
    memset(&key, 0, sizeof(key));
    key.words[0] = k;
    return key;
}

static struct atrous_cache_stats stats_of(struct atrous_cache *cache)
{
    struct atrous_cache_stats s;
    atrous_cache_get_stats(cache, &s);
    return s;
}

/* Inserts v under key k and drops the reference the insert returned. */
static void put(struct atrous_cache *cache, int64_t k, struct value *v)
{
    struct atrous_cache_key key = key_of(k);
    struct atrous_cache_entry *e = atrous_cache_insert(cache, &key, v);
    assert_non_null(e);
    atrous_cache_release(cache, e);
}

/* Acquires k; returns its value's id after releasing, or -1 on a miss. */
static int lookup_id(struct atrous_cache *cache, int64_t k)
{
    struct atrous_cache_key key = key_of(k);
    struct atrous_cache_entry *e = atrous_cache_acquire(cache, &key);
    if (e == NULL)
        return -1;
    int id = ((struct value *)atrous_cache_entry_value(e))->id;
    atrous_cache_release(cache, e);
    return id;
}

static void test_cache_miss_then_insert_then_hit(void **state)
{
    struct value a = {.id = 1};
    struct atrous_cache *cache = atrous_cache_create(4, count_destroy);
    (void)state;
    assert_non_null(cache);
    assert_int_equal(lookup_id(cache, 7), -1);
    put(cache, 7, &a);
    assert_int_equal(lookup_id(cache, 7), 1);
    assert_int_equal(lookup_id(cache, 7), 1);
    struct atrous_cache_stats s = stats_of(cache);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.hits, 2);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.capacity, 4);
    assert_int_equal(s.evictions, 0);
    assert_int_equal(a.destroyed, 0);
    atrous_cache_free(cache);
    assert_int_equal(a.destroyed, 1);
}

static void test_cache_insert_race_returns_the_existing_value(void **state)
{
    /* Two threads miss on the same key and both compile: the second insert must hand back the
     * first value and destroy its own, exactly once. */
    struct value first = {.id = 1}, second = {.id = 2};
    struct atrous_cache *cache = atrous_cache_create(4, count_destroy);
    struct atrous_cache_key key = key_of(42);
    (void)state;
    struct atrous_cache_entry *e1 = atrous_cache_insert(cache, &key, &first);
    struct atrous_cache_entry *e2 = atrous_cache_insert(cache, &key, &second);
    assert_non_null(e1);
    assert_ptr_equal(e2, e1);
    assert_ptr_equal(atrous_cache_entry_value(e2), &first);
    assert_int_equal(second.destroyed, 1);
    assert_int_equal(first.destroyed, 0);
    assert_int_equal(stats_of(cache).entries, 1);
    atrous_cache_release(cache, e1);
    atrous_cache_release(cache, e2);
    assert_int_equal(first.destroyed, 0); /* still in the map */
    atrous_cache_free(cache);
    assert_int_equal(first.destroyed, 1);
    assert_int_equal(second.destroyed, 1);
}

static void test_cache_release_after_eviction_destroys_exactly_once(void **state)
{
    struct value held = {.id = 1}, other = {.id = 2};
    struct atrous_cache *cache = atrous_cache_create(1, count_destroy);
    struct atrous_cache_key key = key_of(1);
    (void)state;
    struct atrous_cache_entry *e = atrous_cache_insert(cache, &key, &held);
    put(cache, 2, &other); /* evicts key 1 while we hold it */
    struct atrous_cache_stats s = stats_of(cache);
    assert_int_equal(s.evictions, 1);
    assert_int_equal(s.entries, 1);
    assert_int_equal(held.destroyed, 0);
    assert_ptr_equal(atrous_cache_entry_value(e), &held); /* still usable */
    assert_int_equal(lookup_id(cache, 1), -1);            /* but no longer found */
    atrous_cache_release(cache, e);
    assert_int_equal(held.destroyed, 1);
    atrous_cache_free(cache);
    assert_int_equal(held.destroyed, 1);
    assert_int_equal(other.destroyed, 1);
}

static void test_cache_retain_keeps_an_evicted_value_until_the_last_release(void **state)
{
    struct value held = {.id = 1}, other = {.id = 2};
    struct atrous_cache *cache = atrous_cache_create(1, count_destroy);
    struct atrous_cache_key key = key_of(1);
    (void)state;
    struct atrous_cache_entry *e = atrous_cache_insert(cache, &key, &held);
    atrous_cache_retain(cache, e);
    put(cache, 2, &other);
    atrous_cache_release(cache, e);
    assert_int_equal(held.destroyed, 0);
    atrous_cache_release(cache, e);
    assert_int_equal(held.destroyed, 1);
    atrous_cache_free(cache);
    assert_int_equal(held.destroyed, 1);
}

static void test_cache_evicts_the_least_recently_used(void **state)
{
    struct value v[3] = {{.id = 0}, {.id = 1}, {.id = 2}};
    struct atrous_cache *cache = atrous_cache_create(2, count_destroy);
    (void)state;
    put(cache, 0, &v[0]);
    put(cache, 1, &v[1]);
    assert_int_equal(lookup_id(cache, 0), 0); /* 0 is now the most recent */
    put(cache, 2, &v[2]);                     /* evicts 1 */
    assert_int_equal(v[1].destroyed, 1);
    assert_int_equal(v[0].destroyed, 0);
    assert_int_equal(lookup_id(cache, 1), -1);
    assert_int_equal(lookup_id(cache, 0), 0);
    assert_int_equal(lookup_id(cache, 2), 2);
    assert_int_equal(stats_of(cache).evictions, 1);
    atrous_cache_free(cache);
    for (int i = 0; i < 3; i++)
        assert_int_equal(v[i].destroyed, 1);
}

/* A peek finds what acquire finds, but counts nothing and leaves the recency order alone. */
static void test_cache_peek_neither_counts_nor_refreshes(void **state)
{
    struct value v[3] = {{.id = 0}, {.id = 1}, {.id = 2}};
    struct atrous_cache *cache = atrous_cache_create(2, count_destroy);
    (void)state;
    put(cache, 0, &v[0]);
    put(cache, 1, &v[1]);
    struct atrous_cache_key k0 = key_of(0), k9 = key_of(9);
    struct atrous_cache_entry *e = atrous_cache_peek(cache, &k0);
    assert_non_null(e);
    assert_ptr_equal(atrous_cache_entry_value(e), &v[0]);
    assert_null(atrous_cache_peek(cache, &k9));
    assert_int_equal(stats_of(cache).hits, 0);
    assert_int_equal(stats_of(cache).misses, 0);
    put(cache, 2, &v[2]); /* 0 is still the oldest: evicted, but held by the peek */
    assert_int_equal(v[0].destroyed, 0);
    assert_int_equal(lookup_id(cache, 0), -1);
    atrous_cache_release(cache, e);
    assert_int_equal(v[0].destroyed, 1);
    assert_int_equal(v[1].destroyed, 0);
    atrous_cache_free(cache);
}

static void test_cache_stays_within_capacity_and_counts_evictions(void **state)
{
    enum { CAPACITY = 5, INSERTS = 40 };
    struct value v[INSERTS];
    struct atrous_cache *cache = atrous_cache_create(CAPACITY, count_destroy);
    (void)state;
    for (int i = 0; i < INSERTS; i++) {
        v[i].id = i;
        atomic_init(&v[i].destroyed, 0);
        put(cache, i, &v[i]);
        struct atrous_cache_stats s = stats_of(cache);
        assert_true(s.entries <= CAPACITY);
        assert_int_equal(s.evictions, i < CAPACITY ? 0 : i + 1 - CAPACITY);
    }
    for (int i = 0; i < INSERTS; i++)
        assert_int_equal(v[i].destroyed, i < INSERTS - CAPACITY ? 1 : 0);
    atrous_cache_free(cache);
    for (int i = 0; i < INSERTS; i++)
        assert_int_equal(v[i].destroyed, 1);
}

static void test_cache_keys_differ_in_any_word(void **state)
{
    struct value a = {.id = 1}, b = {.id = 2};
    struct atrous_cache *cache = atrous_cache_create(8, count_destroy);
    struct atrous_cache_key ka = key_of(3), kb = key_of(3);
    (void)state;
    kb.words[ATROUS_CACHE_KEY_WORDS - 1] = 1;
    atrous_cache_release(cache, atrous_cache_insert(cache, &ka, &a));
    atrous_cache_release(cache, atrous_cache_insert(cache, &kb, &b));
    assert_int_equal(stats_of(cache).entries, 2);
    struct atrous_cache_entry *e = atrous_cache_acquire(cache, &kb);
    assert_non_null(e);
    assert_ptr_equal(atrous_cache_entry_value(e), &b);
    atrous_cache_release(cache, e);
    atrous_cache_free(cache);
}

static void test_cache_many_keys_are_all_found(void **state)
{
    /* Enough keys to fill many hash chains. */
    enum { KEYS = 3000 };
    struct value *v = calloc(KEYS, sizeof(*v));
    struct atrous_cache *cache = atrous_cache_create(KEYS, count_destroy);
    (void)state;
    assert_non_null(v);
    for (int i = 0; i < KEYS; i++) {
        v[i].id = i;
        put(cache, (int64_t)i * 1000003, &v[i]);
    }
    for (int i = 0; i < KEYS; i++)
        assert_int_equal(lookup_id(cache, (int64_t)i * 1000003), i);
    struct atrous_cache_stats s = stats_of(cache);
    assert_int_equal(s.entries, KEYS);
    assert_int_equal(s.hits, KEYS);
    assert_int_equal(s.evictions, 0);
    atrous_cache_free(cache);
    for (int i = 0; i < KEYS; i++)
        assert_int_equal(v[i].destroyed, 1);
    free(v);
}

static void test_cache_zero_capacity_means_one_and_null_is_accepted(void **state)
{
    struct value a = {.id = 1}, b = {.id = 2};
    struct atrous_cache *cache = atrous_cache_create(0, count_destroy);
    (void)state;
    assert_int_equal(stats_of(cache).capacity, 1);
    put(cache, 1, &a);
    put(cache, 2, &b);
    assert_int_equal(stats_of(cache).entries, 1);
    assert_int_equal(a.destroyed, 1);
    atrous_cache_release(cache, NULL);
    atrous_cache_free(cache);
    atrous_cache_free(NULL);
    assert_int_equal(b.destroyed, 1);
}

/* Several threads acquire, insert (racing on shared keys) and release on a small cache. */
enum { THREADS = 4, ROUNDS = 3000, KEYSPACE = 24, STRESS_CAPACITY = 6 };

struct stress {
    struct atrous_cache *cache;
    struct value *values;   /* THREADS * ROUNDS: one fresh value per insert attempt */
    atomic_int created;     /* values handed to atrous_cache_insert */
    atomic_int bad_entries; /* held values that were dead or for another key; entries > capacity */
};

struct stress_thread_arg {
    struct stress *stress;
    int thread;
};

static void *stress_thread(void *arg)
{
    const struct stress_thread_arg *a = arg;
    struct stress *s = a->stress;
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(a->thread + 1);
    for (int r = 0; r < ROUNDS; r++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        struct atrous_cache_key key = key_of((int64_t)((rng >> 33) % KEYSPACE));
        struct atrous_cache_entry *e = atrous_cache_acquire(s->cache, &key);
        if (e == NULL) {
            struct value *v = &s->values[a->thread * ROUNDS + r];
            v->id = (int)key.words[0];
            atomic_fetch_add(&s->created, 1);
            e = atrous_cache_insert(s->cache, &key, v);
        }
        /* Whatever we hold must be alive and for our key. */
        struct value *held = atrous_cache_entry_value(e);
        if (held->id != (int)key.words[0] || atomic_load(&held->destroyed) != 0)
            atomic_fetch_add(&s->bad_entries, 1);
        struct atrous_cache_stats st;
        atrous_cache_get_stats(s->cache, &st);
        if (st.entries > st.capacity)
            atomic_fetch_add(&s->bad_entries, 1);
        atrous_cache_release(s->cache, e);
    }
    return NULL;
}

static void test_cache_threads_destroy_every_value_exactly_once(void **state)
{
    struct stress s;
    struct stress_thread_arg args[THREADS];
    pthread_t threads[THREADS];
    (void)state;
    memset(&s, 0, sizeof(s));
    s.cache = atrous_cache_create(STRESS_CAPACITY, count_destroy);
    s.values = calloc(THREADS * ROUNDS, sizeof(struct value));
    assert_non_null(s.cache);
    assert_non_null(s.values);
    for (int i = 0; i < THREADS * ROUNDS; i++)
        s.values[i].id = -1; /* never handed to the cache */
    for (int t = 0; t < THREADS; t++) {
        args[t].stress = &s;
        args[t].thread = t;
        assert_int_equal(pthread_create(&threads[t], NULL, stress_thread, &args[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    assert_int_equal(atomic_load(&s.bad_entries), 0);
    struct atrous_cache_stats st = stats_of(s.cache);
    assert_int_equal(st.hits + st.misses, THREADS * ROUNDS);
    assert_true(st.entries <= STRESS_CAPACITY);
    atrous_cache_free(s.cache);
    int used = 0;
    for (int i = 0; i < THREADS * ROUNDS; i++) {
        if (s.values[i].id < 0)
            continue;
        used++;
        assert_int_equal(atomic_load(&s.values[i].destroyed), 1);
    }
    assert_int_equal(used, atomic_load(&s.created));
    free(s.values);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_miss_then_insert_then_hit),
        cmocka_unit_test(test_cache_insert_race_returns_the_existing_value),
        cmocka_unit_test(test_cache_release_after_eviction_destroys_exactly_once),
        cmocka_unit_test(test_cache_retain_keeps_an_evicted_value_until_the_last_release),
        cmocka_unit_test(test_cache_evicts_the_least_recently_used),
        cmocka_unit_test(test_cache_peek_neither_counts_nor_refreshes),
        cmocka_unit_test(test_cache_stays_within_capacity_and_counts_evictions),
        cmocka_unit_test(test_cache_keys_differ_in_any_word),
        cmocka_unit_test(test_cache_many_keys_are_all_found),
        cmocka_unit_test(test_cache_zero_capacity_means_one_and_null_is_accepted),
        cmocka_unit_test(test_cache_threads_destroy_every_value_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
