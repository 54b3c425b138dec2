/*
 * atrous_cache.c - bounded LRU map with reference-counted values: a chained hash table for
 * lookups and a doubly linked list for recency, both under one mutex. Lookups are a few
 * hundred nanoseconds; primitive creation, which this avoids, costs 0.3-0.7 ms.
 */
#include "atrous_cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct atrous_cache_entry {
    struct atrous_cache_key key;
    uint64_t hash;
    void *value;
    size_t refs;                              /* the map's own reference plus one per holder */
    bool in_map;                              /* false once evicted */
    struct atrous_cache_entry *chain;         /* next in the bucket */
    struct atrous_cache_entry *newer, *older; /* LRU list */
};

struct atrous_cache {
    pthread_mutex_t lock;
    atrous_cache_destroy_fn destroy;
    size_t capacity;
    size_t entries;
    size_t bucket_count; /* a power of two */
    struct atrous_cache_entry **buckets;
    struct atrous_cache_entry *newest, *oldest;
    uint64_t hits, misses, evictions;
};

static uint64_t key_hash(const struct atrous_cache_key *key)
{
    /* FNV-1a over the words, then a final mix so that low bits are well spread. */
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < ATROUS_CACHE_KEY_WORDS; i++) {
        h ^= (uint64_t)key->words[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

static bool key_equal(const struct atrous_cache_key *a, const struct atrous_cache_key *b)
{
    return memcmp(a->words, b->words, sizeof(a->words)) == 0;
}

struct atrous_cache *atrous_cache_create(size_t capacity, atrous_cache_destroy_fn destroy)
{
    if (capacity == 0)
        capacity = 1;
    struct atrous_cache *cache = calloc(1, sizeof(*cache));
    if (cache == NULL)
        return NULL;
    size_t buckets = 16;
    while (buckets < capacity * 2 && buckets < ((size_t)1 << 30))
        buckets <<= 1;
    cache->buckets = calloc(buckets, sizeof(*cache->buckets));
    if (cache->buckets == NULL || pthread_mutex_init(&cache->lock, NULL) != 0) {
        free(cache->buckets);
        free(cache);
        return NULL;
    }
    cache->bucket_count = buckets;
    cache->capacity = capacity;
    cache->destroy = destroy;
    return cache;
}

static void lru_unlink(struct atrous_cache *cache, struct atrous_cache_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        cache->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        cache->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push_newest(struct atrous_cache *cache, struct atrous_cache_entry *e)
{
    e->older = cache->newest;
    e->newer = NULL;
    if (cache->newest)
        cache->newest->newer = e;
    cache->newest = e;
    if (cache->oldest == NULL)
        cache->oldest = e;
}

static void map_remove(struct atrous_cache *cache, struct atrous_cache_entry *e)
{
    struct atrous_cache_entry **link = &cache->buckets[e->hash & (cache->bucket_count - 1)];
    while (*link && *link != e)
        link = &(*link)->chain;
    if (*link)
        *link = e->chain;
    e->chain = NULL;
    lru_unlink(cache, e);
    e->in_map = false;
    cache->entries--;
}

/* Drops one reference with the lock held; returns the entry if it must be destroyed (done
 * by the caller after unlocking, since destroying a primitive takes time). */
static struct atrous_cache_entry *unref_locked(struct atrous_cache_entry *e)
{
    return --e->refs == 0 ? e : NULL;
}

static void destroy_entry(struct atrous_cache *cache, struct atrous_cache_entry *e)
{
    if (e == NULL)
        return;
    if (cache->destroy)
        cache->destroy(e->value);
    free(e);
}

static struct atrous_cache_entry *find_locked(struct atrous_cache *cache,
                                              const struct atrous_cache_key *key, uint64_t hash)
{
    struct atrous_cache_entry *e = cache->buckets[hash & (cache->bucket_count - 1)];
    while (e && !(e->hash == hash && key_equal(&e->key, key)))
        e = e->chain;
    return e;
}

struct atrous_cache_entry *atrous_cache_acquire(struct atrous_cache *cache,
                                                const struct atrous_cache_key *key)
{
    uint64_t hash = key_hash(key);
    pthread_mutex_lock(&cache->lock);
    struct atrous_cache_entry *e = find_locked(cache, key, hash);
    if (e) {
        e->refs++;
        lru_unlink(cache, e);
        lru_push_newest(cache, e);
        cache->hits++;
    } else {
        cache->misses++;
    }
    pthread_mutex_unlock(&cache->lock);
    return e;
}

struct atrous_cache_entry *atrous_cache_peek(struct atrous_cache *cache,
                                             const struct atrous_cache_key *key)
{
    uint64_t hash = key_hash(key);
    pthread_mutex_lock(&cache->lock);
    struct atrous_cache_entry *e = find_locked(cache, key, hash);
    if (e)
        e->refs++;
    pthread_mutex_unlock(&cache->lock);
    return e;
}

struct atrous_cache_entry *atrous_cache_insert(struct atrous_cache *cache,
                                               const struct atrous_cache_key *key, void *value)
{
    uint64_t hash = key_hash(key);
    struct atrous_cache_entry *fresh = calloc(1, sizeof(*fresh));
    if (fresh == NULL) {
        if (cache->destroy)
            cache->destroy(value);
        return NULL;
    }
    fresh->key = *key;
    fresh->hash = hash;
    fresh->value = value;

    /* Evicted entries whose last reference we drop are destroyed after unlocking. */
    struct atrous_cache_entry *doomed[8];
    size_t doomed_count = 0;
    struct atrous_cache_entry *result;

    pthread_mutex_lock(&cache->lock);
    struct atrous_cache_entry *existing = find_locked(cache, key, hash);
    if (existing) {
        existing->refs++;
        result = existing;
    } else {
        while (cache->entries >= cache->capacity && cache->oldest && doomed_count < 8) {
            struct atrous_cache_entry *victim = cache->oldest;
            map_remove(cache, victim);
            cache->evictions++;
            struct atrous_cache_entry *dead = unref_locked(victim);
            if (dead)
                doomed[doomed_count++] = dead;
        }
        size_t b = hash & (cache->bucket_count - 1);
        fresh->chain = cache->buckets[b];
        cache->buckets[b] = fresh;
        fresh->in_map = true;
        fresh->refs = 2; /* the map's and the caller's */
        lru_push_newest(cache, fresh);
        cache->entries++;
        result = fresh;
        fresh = NULL;
    }
    pthread_mutex_unlock(&cache->lock);

    destroy_entry(cache, fresh); /* lost the race: our value is not needed */
    for (size_t i = 0; i < doomed_count; i++)
        destroy_entry(cache, doomed[i]);
    return result;
}

void atrous_cache_retain(struct atrous_cache *cache, struct atrous_cache_entry *entry)
{
    pthread_mutex_lock(&cache->lock);
    entry->refs++;
    pthread_mutex_unlock(&cache->lock);
}

void *atrous_cache_entry_value(const struct atrous_cache_entry *entry)
{
    return entry->value;
}

void atrous_cache_release(struct atrous_cache *cache, struct atrous_cache_entry *entry)
{
    if (entry == NULL)
        return;
    pthread_mutex_lock(&cache->lock);
    struct atrous_cache_entry *dead = unref_locked(entry);
    pthread_mutex_unlock(&cache->lock);
    destroy_entry(cache, dead);
}

void atrous_cache_get_stats(struct atrous_cache *cache, struct atrous_cache_stats *out)
{
    pthread_mutex_lock(&cache->lock);
    out->hits = cache->hits;
    out->misses = cache->misses;
    out->evictions = cache->evictions;
    out->entries = cache->entries;
    out->capacity = cache->capacity;
    pthread_mutex_unlock(&cache->lock);
}

void atrous_cache_free(struct atrous_cache *cache)
{
    if (cache == NULL)
        return;
    while (cache->oldest) {
        struct atrous_cache_entry *e = cache->oldest;
        map_remove(cache, e);
        destroy_entry(cache, unref_locked(e));
    }
    pthread_mutex_destroy(&cache->lock);
    free(cache->buckets);
    free(cache);
}
