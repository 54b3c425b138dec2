/*
 * atrous_cache.h - a bounded, thread-safe LRU map from a fixed-size problem key to an opaque
 * value (the engine stores its compiled oneDNN primitives here).
 *
 * Values are reference counted: a value handed out by atrous_cache_acquire() stays alive
 * until atrous_cache_release(), even if it is evicted meanwhile, so one thread's eviction
 * never pulls a primitive from under another thread's execution.
 */
#ifndef ATROUS_CACHE_H
#define ATROUS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define ATROUS_CACHE_KEY_WORDS 16

struct atrous_cache_key {
    int64_t words[ATROUS_CACHE_KEY_WORDS]; /* unused words must be zero */
};

struct atrous_cache_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
    size_t entries;
    size_t capacity;
};

struct atrous_cache;
struct atrous_cache_entry; /* a held reference; opaque */

/* Destroys a value once it is evicted (or the cache freed) and no one holds it. */
typedef void (*atrous_cache_destroy_fn)(void *value);

/* Creates a cache of at most capacity entries (capacity >= 1). NULL on out of memory. */
struct atrous_cache *atrous_cache_create(size_t capacity, atrous_cache_destroy_fn destroy);

/* Frees the cache and every value in it. Every reference taken by acquire, insert or retain
 * must have been released first: atrous_cache_release() needs the cache, so a value still held
 * here could never be destroyed safely (the engine ensures this by requiring workspaces, which
 * hold references, to be freed before it). Accepts NULL. */
void atrous_cache_free(struct atrous_cache *cache);

/* Looks key up. On a hit, returns the held entry (counted as a hit); on a miss, NULL
 * (counted as a miss). */
struct atrous_cache_entry *atrous_cache_acquire(struct atrous_cache *cache,
                                                const struct atrous_cache_key *key);

/* Like atrous_cache_acquire() for an observer (an estimate, a report): a hit is not counted,
 * a miss is not counted and the recency order is left alone, so looking does not change what
 * the cache keeps or what its statistics say. */
struct atrous_cache_entry *atrous_cache_peek(struct atrous_cache *cache,
                                             const struct atrous_cache_key *key);

/* Inserts value under key and returns it held. If another thread inserted the same key
 * meanwhile, value is destroyed and the existing entry is returned instead. Evicts the least
 * recently used entries beyond capacity. NULL on out of memory (value is destroyed). */
struct atrous_cache_entry *atrous_cache_insert(struct atrous_cache *cache,
                                               const struct atrous_cache_key *key, void *value);

/* Takes one more reference on an entry already held (for a holder that outlives the first). */
void atrous_cache_retain(struct atrous_cache *cache, struct atrous_cache_entry *entry);

/* The value of a held entry (borrowed while held). */
void *atrous_cache_entry_value(const struct atrous_cache_entry *entry);

/* Drops a reference taken by acquire or insert. Accepts NULL. */
void atrous_cache_release(struct atrous_cache *cache, struct atrous_cache_entry *entry);

/* A consistent snapshot of the counters. */
void atrous_cache_get_stats(struct atrous_cache *cache, struct atrous_cache_stats *out);

#endif
