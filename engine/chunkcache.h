/* chunkcache: a bounded in-memory cache of chunks (store_chunk_info) by chunk id, read
 * through from the store.
 *
 * Why: every query reads the reranked head's chunks (40 by default) and then the tail hits,
 * each a SQLite lookup. Help-center traffic repeats itself (the same questions, so the same
 * chunks), and a searcher lives across many queries, so most reads can be a hash probe. Reads
 * hand out views, not copies: copying the head's strings (six per chunk) was 240 allocations
 * and frees per query, about 4% of a search's CPU in lore serve.
 *
 * Bound: each entry is charged its strings' bytes plus a fixed overhead, and the total stays
 * within the max_bytes given at creation; an entry larger than that is not cached.
 * Eviction is CLOCK (second chance): a hit sets the entry's reference bit; when room is
 * needed the hand sweeps the slots, clearing set bits and evicting the first entry whose bit
 * is clear. Chosen over emptying the whole cache when full because the chunks of the common
 * questions should stay while one-off ones cycle through (a reset throws the hot set away
 * every time it fills), and over an LRU list because a hit costs one store, not a relink.
 * New entries start with the bit clear, so a one-off read must be used again to earn a
 * second chance.
 *
 * Staleness: re-indexing changes chunk text and reuses chunk ids, so the cache holds the
 * entries of one store generation: chunkcache_set_generation empties it when the generation
 * differs from the one it holds. Call it with the store's generation before each query's
 * reads (the searcher does); the generation is bumped by every write that changes chunks.
 *
 * Read windows: a query's reads happen between two chunkcache_begin calls. Entries handed
 * out in the current window are never evicted, so every view of the window stays valid to
 * its end; a chunk that cannot be cached (larger than the budget, the budget taken by the
 * window's own entries, no memory) is held by the cache until the window ends instead.
 *
 * Ownership: chunkcache_get fills *out with a view: the struct is the caller's, its strings
 * belong to the cache and are valid until the next chunkcache_begin, chunkcache_clear, a
 * chunkcache_set_generation that empties the cache, or chunkcache_free. Never free or write
 * them. Threads: one thread at a time, like the store connection it reads through (a
 * searcher owns one). */
#ifndef LORE_CHUNKCACHE_H
#define LORE_CHUNKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

typedef struct chunkcache chunkcache;

/* max_bytes 0 makes a cache that stores nothing (every get reads the store). 0 or
 * LORE_ENOMEM. */
int chunkcache_new(size_t max_bytes, chunkcache **out, lore_err *err);
void chunkcache_free(chunkcache *cc);

/* Empties the cache when gen differs from the generation its entries were read at. */
void chunkcache_set_generation(chunkcache *cc, uint64_t gen);
void chunkcache_clear(chunkcache *cc);
/* Ends the current read window (its views become invalid) and starts the next. */
void chunkcache_begin(chunkcache *cc);

/* A view of the chunk (see Ownership) from the cache, else from the store (then cached or
 * held). 0; LORE_ENOTFOUND when the store has no such chunk; LORE_EDB or LORE_ENOMEM. */
int chunkcache_get(chunkcache *cc, store *st, int64_t chunk_id, store_chunk_info *out,
                   lore_err *err);

typedef struct chunkcache_stats {
    size_t entries, bytes;
    uint64_t hits, misses, evictions;
} chunkcache_stats;

void chunkcache_stats_get(const chunkcache *cc, chunkcache_stats *out);

#endif
