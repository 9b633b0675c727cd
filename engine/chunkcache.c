/* chunkcache: chunks by id with CLOCK eviction under a byte budget (see chunkcache.h). */
#include "chunkcache.h"

#include <stdlib.h>
#include <string.h>

/* What a string costs beyond its bytes: the allocator's header, roughly. */
#define STRING_OVERHEAD 16

typedef struct centry {
    store_chunk_info info; /* info.chunk_id is the key */
    size_t bytes;          /* what the entry is charged */
    int32_t next;          /* next slot in the bucket chain, or in the free list; -1: none */
    unsigned char live;    /* 0: a free slot */
    unsigned char ref;     /* CLOCK reference bit: used since the hand last passed */
    uint64_t epoch;        /* the read window it was last handed out in (never evicted then) */
} centry;

struct chunkcache {
    size_t max_bytes, bytes;
    centry *slot;
    size_t nslot, cap;      /* slots in use (live or free) and allocated */
    int32_t free_slot;      /* head of the free list, -1: none */
    int32_t *bucket;        /* chain heads, -1: empty */
    size_t nbucket;         /* a power of two, at least the live entries when it can grow */
    size_t live, hand;
    uint64_t gen;
    int has_gen;
    uint64_t epoch;           /* the current read window (chunkcache_begin) */
    store_chunk_info *held;   /* handed out this window but not cached: freed at the next */
    size_t nheld, capheld;
    uint64_t hits, misses, evictions;
};

static size_t bucket_of(const chunkcache *cc, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ULL; /* Fibonacci hashing */
    return (size_t)(h >> 32) & (cc->nbucket - 1);
}

static size_t string_cost(const char *s) { return s ? strlen(s) + 1 + STRING_OVERHEAD : 0; }

static size_t entry_cost(const store_chunk_info *c)
{
    return sizeof(centry) + string_cost(c->article_ext_id) + string_cost(c->title) +
           string_cost(c->url) + string_cost(c->heading) + string_cost(c->body) +
           string_cost(c->locale);
}

static void buckets_reset(chunkcache *cc)
{
    for (size_t i = 0; i < cc->nbucket; i++)
        cc->bucket[i] = -1;
}

int chunkcache_new(size_t max_bytes, chunkcache **out, lore_err *err)
{
    *out = NULL;
    chunkcache *cc = calloc(1, sizeof *cc);
    if (cc == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating the chunk cache");
    cc->max_bytes = max_bytes;
    cc->free_slot = -1;
    cc->epoch = 1;
    cc->nbucket = 64;
    if ((cc->bucket = malloc(cc->nbucket * sizeof *cc->bucket)) == NULL) {
        free(cc);
        return lore_errf(err, LORE_ENOMEM, "out of memory creating the chunk cache");
    }
    buckets_reset(cc);
    *out = cc;
    return 0;
}

static void release_held(chunkcache *cc)
{
    for (size_t i = 0; i < cc->nheld; i++)
        store_chunk_info_free(&cc->held[i]);
    cc->nheld = 0;
}

void chunkcache_begin(chunkcache *cc)
{
    release_held(cc);
    cc->epoch++;
}

void chunkcache_clear(chunkcache *cc)
{
    release_held(cc);
    for (size_t i = 0; i < cc->nslot; i++)
        if (cc->slot[i].live)
            store_chunk_info_free(&cc->slot[i].info);
    cc->nslot = 0;
    cc->free_slot = -1;
    cc->live = 0;
    cc->bytes = 0;
    cc->hand = 0;
    buckets_reset(cc);
}

void chunkcache_free(chunkcache *cc)
{
    if (cc == NULL)
        return;
    chunkcache_clear(cc);
    free(cc->held);
    free(cc->slot);
    free(cc->bucket);
    free(cc);
}

void chunkcache_set_generation(chunkcache *cc, uint64_t gen)
{
    if (cc->has_gen && cc->gen == gen)
        return;
    chunkcache_clear(cc);
    cc->gen = gen;
    cc->has_gen = 1;
}

static int32_t find(const chunkcache *cc, int64_t id)
{
    int32_t i = cc->bucket[bucket_of(cc, id)];
    while (i >= 0 && cc->slot[i].info.chunk_id != id)
        i = cc->slot[i].next;
    return i;
}

static void unlink_slot(chunkcache *cc, int32_t victim)
{
    int32_t *link = &cc->bucket[bucket_of(cc, cc->slot[victim].info.chunk_id)];
    while (*link != victim)
        link = &cc->slot[*link].next;
    *link = cc->slot[victim].next;
}

/* Advances the CLOCK hand to the first live entry whose reference bit is clear (clearing
 * the bits it passes) and evicts it, passing over the entries of the current read window.
 * 0 when every live entry belongs to the window (two sweeps found nothing to evict). */
static int evict_one(chunkcache *cc)
{
    for (size_t steps = 0; steps < 2 * cc->nslot + 1; steps++) {
        if (cc->hand >= cc->nslot)
            cc->hand = 0;
        centry *e = &cc->slot[cc->hand];
        if (e->live && e->epoch == cc->epoch) {
            /* handed out in this window: the caller may still be reading it */
        } else if (e->live && e->ref) {
            e->ref = 0;
        } else if (e->live) {
            int32_t i = (int32_t)cc->hand;
            unlink_slot(cc, i);
            store_chunk_info_free(&e->info);
            cc->bytes -= e->bytes;
            cc->live--;
            cc->evictions++;
            e->live = 0;
            e->next = cc->free_slot;
            cc->free_slot = i;
            cc->hand++;
            return 1;
        }
        cc->hand++;
    }
    return 0;
}

/* Doubles the buckets and rehashes; on failure the old ones stay (longer chains, same
 * answers). */
static void grow_buckets(chunkcache *cc)
{
    size_t n = cc->nbucket * 2;
    int32_t *b = malloc(n * sizeof *b);
    if (b == NULL)
        return;
    free(cc->bucket);
    cc->bucket = b;
    cc->nbucket = n;
    buckets_reset(cc);
    for (size_t i = 0; i < cc->nslot; i++) {
        if (!cc->slot[i].live)
            continue;
        size_t h = bucket_of(cc, cc->slot[i].info.chunk_id);
        cc->slot[i].next = cc->bucket[h];
        cc->bucket[h] = (int32_t)i;
    }
}

/* A free slot's index, or -1 when none can be had. */
static int32_t take_slot(chunkcache *cc)
{
    if (cc->free_slot >= 0) {
        int32_t i = cc->free_slot;
        cc->free_slot = cc->slot[i].next;
        return i;
    }
    if (cc->nslot == cc->cap) {
        size_t cap = cc->cap ? cc->cap * 2 : 64;
        if (cap > INT32_MAX)
            return -1;
        centry *s = realloc(cc->slot, cap * sizeof *s);
        if (s == NULL)
            return -1;
        cc->slot = s;
        cc->cap = cap;
    }
    cc->slot[cc->nslot].live = 0;
    return (int32_t)cc->nslot++;
}

/* Keeps *c (ownership taken) until the next read window; its strings stay where they are.
 * LORE_ENOMEM (c untouched) when there is no room to note it. */
static int hold(chunkcache *cc, store_chunk_info *c)
{
    if (cc->nheld == cc->capheld) {
        size_t cap = cc->capheld ? cc->capheld * 2 : 16;
        store_chunk_info *h = realloc(cc->held, cap * sizeof *h);
        if (h == NULL)
            return LORE_ENOMEM;
        cc->held = h;
        cc->capheld = cap;
    }
    cc->held[cc->nheld++] = *c;
    return 0;
}

/* Takes ownership of *c: cached, or held for the window when it cannot be (too big for the
 * budget, the budget taken by this window's entries, no memory for a slot). */
static int insert(chunkcache *cc, store_chunk_info *c)
{
    size_t cost = entry_cost(c);
    int room = cost <= cc->max_bytes;
    while (room && cc->live > 0 && cc->bytes + cost > cc->max_bytes)
        room = evict_one(cc);
    if (room && cc->live + 1 > cc->nbucket)
        grow_buckets(cc);
    int32_t i = room ? take_slot(cc) : -1;
    if (i < 0)
        return hold(cc, c);
    centry *e = &cc->slot[i];
    e->info = *c;
    e->bytes = cost;
    e->live = 1;
    e->ref = 0;
    e->epoch = cc->epoch;
    size_t h = bucket_of(cc, e->info.chunk_id);
    e->next = cc->bucket[h];
    cc->bucket[h] = i;
    cc->bytes += cost;
    cc->live++;
    return 0;
}

int chunkcache_get(chunkcache *cc, store *st, int64_t chunk_id, store_chunk_info *out,
                   lore_err *err)
{
    int32_t i = find(cc, chunk_id);
    if (i >= 0) {
        cc->hits++;
        cc->slot[i].ref = 1;
        cc->slot[i].epoch = cc->epoch;
        *out = cc->slot[i].info;
        return 0;
    }
    cc->misses++;
    store_chunk_info c;
    int rc = store_chunk_get(st, chunk_id, &c, err);
    if (rc != 0)
        return rc;
    /* The strings are heap blocks that do not move when the entry is filed: the view
     * taken here stays valid wherever c ends up. */
    *out = c;
    if (insert(cc, &c) != 0) {
        store_chunk_info_free(&c);
        memset(out, 0, sizeof *out);
        return lore_errf(err, LORE_ENOMEM, "out of memory reading chunk %lld",
                         (long long)chunk_id);
    }
    return 0;
}

void chunkcache_stats_get(const chunkcache *cc, chunkcache_stats *out)
{
    out->entries = cc->live;
    out->bytes = cc->bytes;
    out->hits = cc->hits;
    out->misses = cc->misses;
    out->evictions = cc->evictions;
}
