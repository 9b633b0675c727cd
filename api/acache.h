/* acache: the answer cache, an LRU map from (collection, index generation, normalised
 * question, answer mode) to a finished answer (the service's JSON for it).
 *
 * The generation is part of the key, so a re-index never serves an answer computed from the
 * previous index: the old entries are simply never asked for again and age out; the same
 * for the collection's configuration epoch. Questions
 * are normalised (NFKC, case folded, runs of white space collapsed, trimmed, a trailing
 * ?, ! or . dropped), so "How do I reset my password?" and "how do i reset my  password"
 * share an entry.
 *
 * Ownership: acache_new returns a cache freed with acache_free; acache_get returns a copy
 * the caller frees. Threads: thread-safe (one mutex). */
#ifndef LORE_API_ACACHE_H
#define LORE_API_ACACHE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct acache acache;

typedef struct acache_key {
    const char *collection;
    uint64_t generation;
    const char *question; /* as asked: normalised by the cache */
    int variant;          /* anything else the answer depends on (e.g. extractive forced) */
    uint64_t config;      /* the collection's configuration epoch (pool_config_epoch), so a
                             changed config.json never serves an answer made under the old */
} acache_key;

/* capacity 0 makes a cache that stores nothing. */
int acache_new(size_t capacity, acache **out, lore_err *err);
void acache_free(acache *c);

/* A malloc'd copy of the cached value, or NULL when absent (or out of memory). */
char *acache_get(acache *c, const acache_key *k);
/* Stores a copy of value, evicting the least recently used entry when full. */
int acache_put(acache *c, const acache_key *k, const char *value, lore_err *err);
size_t acache_count(acache *c);

/* The normalised form of a question (malloc'd), or NULL for invalid UTF-8. Exposed for tests. */
char *acache_normalize(const char *question);

#endif
