#include "rerank.h"

#include "text.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERMS 64

static const char *const FEATURE_NAMES[RERANK_NFEAT] = {
    "bm25_rel", "bm25_q",  "bm25_rr", "dense", "dense_gap", "dense_rr",
    "fused",    "fused_rr", "cover",  "cover_title", "cover_heading", "proximity",
    "bigram",   "length",  "position", "both", "rank_disagreement", "article_cover",
    "article_chunks", "bm25_z", "dense_z", "cross_encoder"};

static const char *const CONF_NAMES[RERANK_NCONF] = {
    "top", "margin", "share", "top_cover", "top_dense", "top_bm25_q", "top_cover_title",
    "query_terms"};

const char *rerank_feature_name(int f)
{
    return f >= 0 && f < RERANK_NFEAT ? FEATURE_NAMES[f] : "";
}

const char *rerank_conf_feature_name(int f)
{
    return f >= 0 && f < RERANK_NCONF ? CONF_NAMES[f] : "";
}

/* The analysis of words, cached: a chunk is mostly words seen before, and the analyzer
 * (normalisation, stop words, stemming) costs far more than a table lookup. Text is cut into
 * pieces at the ASCII characters the analyzer always splits at (anything but letters, digits
 * and the joiners . , ' :), and each piece is analysed alone, so the terms are those of
 * analysing the whole text. */
#define CACHE_SLOTS 8192
#define CACHE_KEY 31
#define CACHE_VAL 47

typedef struct centry {
    unsigned char klen; /* 0: empty slot */
    unsigned char vlen; /* the terms, each NUL-terminated, in val */
    unsigned char nt;
    char key[CACHE_KEY];
    char val[CACHE_VAL];
} centry;

/* A cached chunk: its title's, heading's and body's term ids, one after another from off. */
typedef struct chunk_slot {
    int64_t key;  /* 0: empty */
    uint32_t off;
    uint32_t n[3]; /* n[0] == TOO_BIG: never cached (past the per-chunk share of the budget) */
} chunk_slot;

#define TOO_BIG UINT32_MAX

struct rerank_ctx {
    centry *cache;
    size_t cached;
    char cache_locale[32];
    /* a piece's terms while it is analysed */
    char piece[CACHE_VAL];
    size_t plen;
    int pn, pover;
    text_analyzer *an;
    /* Per token of the text being analysed: the index of the query term it matches, or -1. */
    int *tok;
    size_t ntok, cap;
    const rerank_term *terms;
    size_t nterms;
    /* English (Porter) only: the first bytes every word whose stem is a query term starts
     * with (see analyse). */
    int porter;
    uint64_t *masks; /* per candidate */
    size_t mask_cap;
    char pre[MAX_TERMS][4];
    unsigned char prelen[MAX_TERMS];
    /* Short plain words: how many terms each gives (0 for a stop word, else 1), keyed by
     * the lower-cased word packed into 64 bits: small enough to stay in the L1 cache. */
    uint64_t shortk[1024];
    unsigned char shortv[1024];
    int counted;
    /* The chunk cache (see "The chunk cache" below). */
    size_t max_ids;          /* budget of ids; 0: no caching */
    uint32_t *ids;           /* every cached chunk's title, heading and body term ids */
    size_t nids, ids_cap;
    chunk_slot *slots;       /* key -> the chunk's ids, open addressing */
    size_t nslots, slots_cap;
    uint32_t *dslot;         /* term -> id + 1 (0: empty), open addressing */
    size_t dslot_cap;
    uint32_t *doff, *dmark;  /* per id: text offset in dstr; query stamp (see qindex) */
    unsigned char *dlen;     /* per id: text length */
    size_t nterms_d, dterm_cap;
    char *dstr;
    size_t dstr_len, dstr_cap;
    uint32_t serial;         /* rerank_features calls, for the stamps */
    int interning;           /* analysis pushes dictionary ids, not query-term indexes */
    size_t chunk_tok, chunk_bytes; /* what the chunk being cached has taken so far */
};

int rerank_ctx_new(rerank_ctx **out, lore_err *err)
{
    *out = NULL;
    rerank_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating a reranker");
    c->cache = calloc(CACHE_SLOTS, sizeof *c->cache);
    if (c->cache == NULL) {
        free(c);
        return lore_errf(err, LORE_ENOMEM, "out of memory creating a reranker");
    }
    int rc = text_analyzer_new("en", &c->an, err);
    if (rc != 0) {
        free(c->cache);
        free(c);
        return rc;
    }
    c->max_ids = RERANK_CACHE_IDS; /* the cache's memory is taken as it fills */
    *out = c;
    return 0;
}

static void free_chunk_cache(rerank_ctx *c)
{
    free(c->ids);
    free(c->slots);
    free(c->dslot);
    free(c->doff);
    free(c->dmark);
    free(c->dlen);
    free(c->dstr);
    c->ids = NULL;
    c->slots = NULL;
    c->dslot = NULL;
    c->doff = c->dmark = NULL;
    c->dlen = NULL;
    c->dstr = NULL;
    c->nids = c->ids_cap = c->nslots = c->slots_cap = c->dslot_cap = 0;
    c->nterms_d = c->dterm_cap = c->dstr_len = c->dstr_cap = 0;
}

void rerank_ctx_free(rerank_ctx *c)
{
    if (c == NULL)
        return;
    text_analyzer_free(c->an);
    free(c->tok);
    free(c->masks);
    free(c->cache);
    free_chunk_cache(c);
    free(c);
}

static int match_term(const rerank_ctx *c, const char *term, size_t len)
{
    for (size_t i = 0; i < c->nterms; i++) {
        const char *t = c->terms[i].text;
        if (strncmp(t, term, len) == 0 && t[len] == '\0')
            return (int)i;
    }
    return -1;
}

static int push_tok(rerank_ctx *c, int t)
{
    if (c->ntok == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        int *nt = realloc(c->tok, cap * sizeof *nt);
        if (nt == NULL)
            return LORE_ENOMEM;
        c->tok = nt;
        c->cap = cap;
    }
    c->tok[c->ntok++] = t;
    return 0;
}

static int reserve_tok(rerank_ctx *c, size_t n)
{
    if (n <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : 256;
    while (cap < n)
        cap *= 2;
    int *t = realloc(c->tok, cap * sizeof *t);
    if (t == NULL)
        return LORE_ENOMEM;
    c->tok = t;
    c->cap = cap;
    return 0;
}

/* ---------------------------------------------------------------- the chunk cache
 *
 * A keyed candidate's title, heading and body are analysed once, with no regard to the query
 * (no prefix skipping), into ids of a term dictionary, and kept. Per query each dictionary
 * entry that is a query term gets a stamp, serial * 64 + term index; a token's query-term
 * index is then one load and a compare, and c->tok comes out as analysis would have made it.
 *
 * Memory: ids, dictionary terms, term bytes and chunks each have a budget derived from
 * max_ids. When one is spent, everything is dropped and filling starts over: simple, and
 * the memory never exceeds the budget. An LRU would need per-chunk bookkeeping and compaction
 * of the id array, for little: the default budget holds some 4,000 chunks of 250 tokens, all
 * of a typical help center or the part of a larger one that its queries keep returning, so
 * starting over is rare and costs one analysis per chunk, like a cold start. A chunk that
 * would take more than 1/16 of a budget is not cached (a tombstone remembers it): it would
 * crowd out many others, and after a start-over every other chunk is sure to fit. */

#define NO_ROOM (-1)  /* a budget is spent: start over */
#define TOO_LONG (-2) /* the chunk is past its share of a budget: do not cache it */
#define STAMP_BITS 6  /* query-term indexes in a stamp: MAX_TERMS is 64 */
#define MAX_SERIAL ((uint32_t)1 << (32 - STAMP_BITS))
#define MAX_CACHE_IDS ((size_t)1 << 28) /* ids and offsets stay far inside 32 bits */

_Static_assert(MAX_TERMS <= 1 << STAMP_BITS, "a stamp holds any query-term index");

static uint32_t hash_bytes(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static size_t slot_budget(const rerank_ctx *c)
{
    return c->max_ids / 64 > 16 ? c->max_ids / 64 : 16;
}

static uint32_t stamp(const rerank_ctx *c, int term)
{
    return c->serial << STAMP_BITS | (uint32_t)term;
}

/* The query-term index of dictionary term id, or -1. */
static int qindex(const rerank_ctx *c, uint32_t id)
{
    uint32_t m = c->dmark[id];
    return m >> STAMP_BITS == c->serial ? (int)(m & ((1u << STAMP_BITS) - 1)) : -1;
}

static uint32_t dict_find(const rerank_ctx *c, const char *t, size_t len)
{
    if (c->dslot_cap == 0 || len > TEXT_MAX_TERM)
        return UINT32_MAX;
    size_t mask = c->dslot_cap - 1;
    for (size_t i = hash_bytes(t, len) & mask;; i = (i + 1) & mask) {
        uint32_t v = c->dslot[i];
        if (v == 0)
            return UINT32_MAX;
        if (c->dlen[v - 1] == len && memcmp(c->dstr + c->doff[v - 1], t, len) == 0)
            return v - 1;
    }
}

static void dict_place(uint32_t *table, size_t cap, uint32_t h, uint32_t id)
{
    size_t i = h & (cap - 1);
    while (table[i] != 0)
        i = (i + 1) & (cap - 1);
    table[i] = id + 1;
}

/* Room for one more term of len bytes: the table at most half full, the arrays grown. */
static int dict_reserve(rerank_ctx *c, size_t len)
{
    if ((c->nterms_d + 1) * 2 > c->dslot_cap) {
        size_t cap = c->dslot_cap ? c->dslot_cap * 2 : 1024;
        uint32_t *t = calloc(cap, sizeof *t);
        if (t == NULL)
            return LORE_ENOMEM;
        for (size_t id = 0; id < c->nterms_d; id++)
            dict_place(t, cap, hash_bytes(c->dstr + c->doff[id], c->dlen[id]), (uint32_t)id);
        free(c->dslot);
        c->dslot = t;
        c->dslot_cap = cap;
    }
    if (c->nterms_d == c->dterm_cap) {
        size_t cap = c->dterm_cap ? c->dterm_cap * 2 : 512;
        uint32_t *off = realloc(c->doff, cap * sizeof *off);
        if (off != NULL)
            c->doff = off;
        uint32_t *mark = off ? realloc(c->dmark, cap * sizeof *mark) : NULL;
        if (mark != NULL)
            c->dmark = mark;
        unsigned char *l = mark ? realloc(c->dlen, cap * sizeof *l) : NULL;
        if (l == NULL)
            return LORE_ENOMEM;
        c->dlen = l;
        c->dterm_cap = cap;
    }
    if (c->dstr_len + len > c->dstr_cap) {
        size_t cap = c->dstr_cap ? c->dstr_cap * 2 : 4096;
        while (cap < c->dstr_len + len)
            cap *= 2;
        char *d = realloc(c->dstr, cap);
        if (d == NULL)
            return LORE_ENOMEM;
        c->dstr = d;
        c->dstr_cap = cap;
    }
    return 0;
}

/* The id of term t[0..len), added when new (stamped if it is a query term). */
static int dict_intern(rerank_ctx *c, const char *t, size_t len, uint32_t *id)
{
    *id = dict_find(c, t, len);
    if (*id != UINT32_MAX)
        return 0;
    if (len > TEXT_MAX_TERM) /* the analyzer never makes one; dlen could not hold it */
        return TOO_LONG;
    c->chunk_bytes += len;
    if (c->chunk_bytes > c->max_ids / 16)
        return TOO_LONG;
    if (c->nterms_d + 1 > c->max_ids / 8 || c->dstr_len + len > c->max_ids)
        return NO_ROOM;
    int rc = dict_reserve(c, len);
    if (rc != 0)
        return rc;
    *id = (uint32_t)c->nterms_d++;
    memcpy(c->dstr + c->dstr_len, t, len);
    c->doff[*id] = (uint32_t)c->dstr_len;
    c->dlen[*id] = (unsigned char)len;
    c->dstr_len += len;
    int q = match_term(c, t, len);
    c->dmark[*id] = q >= 0 ? stamp(c, q) : 0; /* serial 0 is never current */
    dict_place(c->dslot, c->dslot_cap, hash_bytes(t, len), *id);
    return 0;
}

/* Stamps this query's terms that the dictionary holds; the first of equal terms wins, as in
 * match_term. Terms it lacks are stamped if they arrive while this query runs. */
static void stamp_query_terms(rerank_ctx *c)
{
    for (size_t i = 0; i < c->nterms; i++) {
        const char *t = c->terms[i].text;
        uint32_t id = dict_find(c, t, strlen(t));
        if (id != UINT32_MAX && c->dmark[id] >> STAMP_BITS != c->serial)
            c->dmark[id] = stamp(c, (int)i);
    }
}

/* One analysed term: its query-term index, or while a chunk is cached its dictionary id. */
static int push_term(rerank_ctx *c, const char *t, size_t len)
{
    if (!c->interning)
        return push_tok(c, match_term(c, t, len));
    if (++c->chunk_tok > c->max_ids / 16)
        return TOO_LONG;
    uint32_t id;
    int rc = dict_intern(c, t, len, &id);
    return rc != 0 ? rc : push_tok(c, (int)id);
}

static int on_token(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)start;
    (void)end;
    return push_term(ctx, term, len);
}

static void cache_reset(rerank_ctx *c)
{
    if (c->slots != NULL)
        memset(c->slots, 0, c->slots_cap * sizeof *c->slots);
    if (c->dslot != NULL)
        memset(c->dslot, 0, c->dslot_cap * sizeof *c->dslot);
    c->nslots = 0;
    c->nids = 0;
    c->nterms_d = 0;
    c->dstr_len = 0;
}

void rerank_ctx_reset_cache(rerank_ctx *c)
{
    cache_reset(c);
}

void rerank_ctx_set_cache_limit(rerank_ctx *c, size_t max_ids)
{
    free_chunk_cache(c);
    c->max_ids = max_ids < MAX_CACHE_IDS ? max_ids : MAX_CACHE_IDS;
}

static size_t slot_index(int64_t key, size_t cap)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 32) & (cap - 1);
}

static chunk_slot *slot_find(rerank_ctx *c, int64_t key)
{
    if (c->slots_cap == 0)
        return NULL;
    for (size_t i = slot_index(key, c->slots_cap);; i = (i + 1) & (c->slots_cap - 1)) {
        if (c->slots[i].key == key)
            return &c->slots[i];
        if (c->slots[i].key == 0)
            return NULL;
    }
}

/* A new empty slot for key (not in the table). */
static int slot_add(rerank_ctx *c, int64_t key, chunk_slot **out)
{
    if (c->nslots + 1 > slot_budget(c))
        return NO_ROOM;
    if ((c->nslots + 1) * 2 > c->slots_cap) {
        size_t cap = c->slots_cap ? c->slots_cap * 2 : 256;
        chunk_slot *t = calloc(cap, sizeof *t);
        if (t == NULL)
            return LORE_ENOMEM;
        for (size_t i = 0; i < c->slots_cap; i++) {
            if (c->slots[i].key == 0)
                continue;
            size_t j = slot_index(c->slots[i].key, cap);
            while (t[j].key != 0)
                j = (j + 1) & (cap - 1);
            t[j] = c->slots[i];
        }
        free(c->slots);
        c->slots = t;
        c->slots_cap = cap;
    }
    size_t i = slot_index(key, c->slots_cap);
    while (c->slots[i].key != 0)
        i = (i + 1) & (c->slots_cap - 1);
    c->slots[i] = (chunk_slot){.key = key};
    c->nslots++;
    *out = &c->slots[i];
    return 0;
}

/* Appends c->tok (dictionary ids) to the cached ids. */
static int append_ids(rerank_ctx *c)
{
    size_t need = c->nids + c->ntok;
    if (need > c->max_ids)
        return NO_ROOM;
    if (need > c->ids_cap) {
        size_t cap = c->ids_cap ? c->ids_cap * 2 : 4096;
        while (cap < need)
            cap *= 2;
        if (cap > c->max_ids)
            cap = c->max_ids;
        uint32_t *d = realloc(c->ids, cap * sizeof *d);
        if (d == NULL)
            return LORE_ENOMEM;
        c->ids = d;
        c->ids_cap = cap;
    }
    for (size_t i = 0; i < c->ntok; i++)
        c->ids[c->nids + i] = (uint32_t)c->tok[i];
    c->nids = need;
    return 0;
}

static int analyse(rerank_ctx *c, const char *s);

/* Analyses and caches candidate k. On failure the slot stays a tombstone: the chunk is not
 * cached until the cache starts over (NO_ROOM makes the caller do that). */
static int chunk_add(rerank_ctx *c, const rerank_cand *k, chunk_slot **out)
{
    chunk_slot *sl;
    int rc = slot_add(c, k->key, &sl);
    if (rc != 0)
        return rc;
    const char *text[3] = {k->title, k->heading, k->body};
    size_t start = c->nids;
    c->interning = 1;
    c->chunk_tok = 0;
    c->chunk_bytes = 0;
    for (int p = 0; p < 3 && rc == 0; p++) {
        if ((rc = analyse(c, text[p])) == 0 && (rc = append_ids(c)) == 0)
            sl->n[p] = (uint32_t)c->ntok;
    }
    c->interning = 0;
    if (rc != 0) {
        c->nids = start;
        sl->n[0] = TOO_BIG;
        return rc;
    }
    sl->off = (uint32_t)start;
    *out = sl;
    return 0;
}

/* The cached analysis of candidate k, made now if it is new; *e = NULL: analyse it per
 * query (not keyed, caching off, or too long). 0 or LORE_ENOMEM. */
static int cached_chunk(rerank_ctx *c, const rerank_cand *k, const chunk_slot **e)
{
    *e = NULL;
    if (k->key == 0 || c->max_ids == 0)
        return 0;
    chunk_slot *sl = slot_find(c, k->key);
    if (sl == NULL) {
        int rc = chunk_add(c, k, &sl);
        if (rc == NO_ROOM) { /* full: start over (see above) */
            cache_reset(c);
            rc = chunk_add(c, k, &sl);
        }
        if (rc != 0) /* TOO_LONG; NO_ROOM again cannot happen: a chunk takes 1/16 at most */
            return rc == LORE_ENOMEM ? rc : 0;
    }
    *e = sl->n[0] == TOO_BIG ? NULL : sl;
    return 0;
}

/* Fills c->tok with the query-term indexes of text `part` (0 title, 1 heading, 2 body) of a
 * candidate: from its cached ids when e is not NULL, else by analysing s. */
static int fill_tok(rerank_ctx *c, const chunk_slot *e, int part, const char *s)
{
    if (e == NULL)
        return analyse(c, s);
    const uint32_t *ids = c->ids + e->off;
    for (int p = 0; p < part; p++)
        ids += e->n[p];
    uint32_t n = e->n[part];
    if (reserve_tok(c, n) != 0)
        return LORE_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        c->tok[i] = qindex(c, ids[i]);
    c->ntok = n;
    return 0;
}

static int on_piece_token(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)start;
    (void)end;
    rerank_ctx *c = ctx;
    if (c->plen + len + 1 > CACHE_VAL || c->pn == 255) {
        c->pover = 1;
        return 0;
    }
    memcpy(c->piece + c->plen, term, len);
    c->piece[c->plen + len] = '\0';
    c->plen += len + 1;
    c->pn++;
    return 0;
}

static int is_alnum(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* Bytes that may belong to a word: ASCII letters and digits, and any non-ASCII byte (the
 * analyzer decides what those are). Every other ASCII byte always separates words. */
static int in_word(unsigned char ch)
{
    return ch >= 0x80 || is_alnum(ch);
}

static int is_joiner(unsigned char ch)
{
    return ch == '.' || ch == ',' || ch == '\'' || ch == ':';
}

/* Pushes every term of the piece p[0..n) (push_term). 0, LORE_ENOMEM, or while a chunk is
 * cached NO_ROOM or TOO_LONG. */
static int analyse_piece(rerank_ctx *c, const char *p, size_t n)
{
    uint32_t h = hash_bytes(p, n);
    centry *e = NULL;
    if (n <= CACHE_KEY) {
        for (size_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
            e = &c->cache[i];
            if (e->klen == 0)
                break;
            if (e->klen == n && memcmp(e->key, p, n) == 0) {
                const char *t = e->val;
                for (int k = 0; k < e->nt; k++) {
                    size_t tl = strlen(t);
                    int rc = push_term(c, t, tl);
                    if (rc != 0)
                        return rc;
                    t += tl + 1;
                }
                return 0;
            }
        }
    }
    c->plen = 0;
    c->pn = 0;
    c->pover = 0;
    if (c->pover == 0 && text_analyze(c->an, p, n, on_piece_token, c) != 0)
        return LORE_ENOMEM;
    if (c->pover) /* too many terms to keep: analyse it straight into the token list */
        return text_analyze(c->an, p, n, on_token, c);
    const char *t = c->piece;
    for (int k = 0; k < c->pn; k++) {
        size_t tl = strlen(t);
        int rc = push_term(c, t, tl);
        if (rc != 0)
            return rc;
        t += tl + 1;
    }
    if (e != NULL && n <= CACHE_KEY) {
        if (c->cached >= CACHE_SLOTS * 3 / 4) { /* full enough: start over */
            memset(c->cache, 0, CACHE_SLOTS * sizeof *c->cache);
            c->cached = 0;
            for (size_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1))
                if (c->cache[i].klen == 0) {
                    e = &c->cache[i];
                    break;
                }
        }
        e->klen = (unsigned char)n;
        memcpy(e->key, p, n);
        memcpy(e->val, c->piece, c->plen);
        e->vlen = (unsigned char)c->plen;
        e->nt = (unsigned char)c->pn;
        c->cached++;
    }
    return 0;
}

/* Porter keeps a word's beginning: it removes or rewrites suffixes only, and what it rewrites
 * ends the stem (y -> i, -ational -> -ate, an added e), so a stem of length L shares its
 * first min(3, L - 1) bytes with every word that stems to it. A word that starts with none of
 * the query terms' prefixes cannot match one. */
static void set_prefixes(rerank_ctx *c)
{
    for (size_t i = 0; i < c->nterms; i++) {
        size_t L = strlen(c->terms[i].text);
        size_t k = L > 1 ? (L - 1 < 3 ? L - 1 : 3) : L;
        memcpy(c->pre[i], c->terms[i].text, k);
        c->prelen[i] = (unsigned char)k;
    }
}

static int may_match(const rerank_ctx *c, const char *w, size_t n)
{
    char low[3];
    size_t m = n < 3 ? n : 3;
    for (size_t i = 0; i < m; i++)
        low[i] = (w[i] >= 'A' && w[i] <= 'Z') ? (char)(w[i] - 'A' + 'a') : w[i];
    for (size_t i = 0; i < c->nterms; i++)
        if (c->prelen[i] <= m && memcmp(low, c->pre[i], c->prelen[i]) == 0)
            return 1;
    return 0;
}

static int count_term(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)term;
    (void)len;
    (void)start;
    (void)end;
    ((rerank_ctx *)ctx)->counted++;
    return 0;
}

/* Terms of the plain ASCII word w[0..n), n <= 7; -1 when out of memory. */
static int short_terms(rerank_ctx *c, const char *w, size_t n)
{
    uint64_t key = (uint64_t)n << 56;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)w[i];
        key |= (uint64_t)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch) << (8 * i);
    }
    size_t slot = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 54);
    if (c->shortk[slot] == key)
        return c->shortv[slot];
    c->counted = 0;
    if (text_analyze(c->an, w, n, count_term, c) != 0)
        return -1;
    c->shortk[slot] = key;
    c->shortv[slot] = (unsigned char)(c->counted > 0);
    return c->shortv[slot];
}

/* Analyses s into c->tok (replacing what was there): query-term indexes, or while a chunk is
 * cached dictionary ids. 0, LORE_ENOMEM, or (caching) NO_ROOM or TOO_LONG. */
static int analyse(rerank_ctx *c, const char *s)
{
    c->ntok = 0;
    if (s == NULL || *s == '\0')
        return 0;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        if (!in_word((unsigned char)s[i])) {
            i++;
            continue;
        }
        size_t j = i + 1;
        int joined = (unsigned char)s[i] >= 0x80;
        while (j < n && (in_word((unsigned char)s[j]) ||
                         (is_joiner((unsigned char)s[j]) && j + 1 < n &&
                          in_word((unsigned char)s[j + 1])))) {
            joined |= !is_alnum((unsigned char)s[j]);
            j++;
        }
        int rc;
        if (c->porter && !c->interning && !joined && !may_match(c, s + i, j - i)) {
            /* One plain word that cannot be a query term: no need to stem it. Longer than
             * any English stop word, it is one term; a short one may be a stop word. (Not
             * while caching: the cache serves every query.) */
            int terms = j - i > 5 ? 1 : short_terms(c, s + i, j - i);
            if (terms < 0 || (terms > 0 && push_tok(c, -1) != 0))
                return LORE_ENOMEM;
        } else if ((rc = analyse_piece(c, s + i, j - i)) != 0) {
            return rc;
        }
        i = j;
    }
    return 0;
}

static uint64_t term_mask(const rerank_ctx *c)
{
    uint64_t m = 0;
    for (size_t i = 0; i < c->ntok; i++)
        if (c->tok[i] >= 0)
            m |= (uint64_t)1 << c->tok[i];
    return m;
}

static double mask_idf(const rerank_term *terms, size_t n, uint64_t m)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        if (m & ((uint64_t)1 << i))
            s += terms[i].idf;
    return s;
}

/* Distinct matched terms over the length of the shortest window that holds all of them. */
static double proximity(const rerank_ctx *c, uint64_t m)
{
    int distinct = __builtin_popcountll(m);
    if (distinct == 0)
        return 0.0;
    if (distinct == 1)
        return 1.0;
    int count[MAX_TERMS] = {0};
    int have = 0;
    size_t best = SIZE_MAX, lo = 0;
    for (size_t hi = 0; hi < c->ntok; hi++) {
        int t = c->tok[hi];
        if (t < 0)
            continue;
        if (count[t]++ == 0)
            have++;
        while (have == distinct) {
            if (c->tok[lo] >= 0) {
                if (hi - lo + 1 < best)
                    best = hi - lo + 1;
                if (--count[c->tok[lo]] == 0)
                    have--;
            }
            lo++;
        }
    }
    return best == SIZE_MAX ? 0.0 : (double)distinct / (double)best;
}

int rerank_features(rerank_ctx *c, const char *question, const char *locale,
                    const rerank_term *terms, size_t nterms, const rerank_cand *cands,
                    size_t n, double *feat, lore_err *err)
{
    if (nterms > MAX_TERMS)
        nterms = MAX_TERMS;
    c->terms = terms;
    c->nterms = nterms;
    if (!locale)
        locale = "en";
    if (strcmp(locale, c->cache_locale) != 0) {
        /* Terms depend on the language: the cache holds one language's. */
        if (text_analyzer_set_locale(c->an, locale) != 0)
            return lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        memset(c->cache, 0, CACHE_SLOTS * sizeof *c->cache);
        memset(c->shortk, 0, sizeof c->shortk);
        c->cached = 0;
        cache_reset(c);
        snprintf(c->cache_locale, sizeof c->cache_locale, "%s", locale);
        c->porter = strcmp(text_analyzer_language(c->an), "porter") == 0;
    }
    if (++c->serial == MAX_SERIAL) { /* stamps would repeat: once in 67M queries */
        cache_reset(c);
        c->serial = 1;
    }
    stamp_query_terms(c);
    set_prefixes(c);
    double mass = 0.0;
    for (size_t i = 0; i < nterms; i++)
        mass += terms[i].idf;
    /* Adjacent query-term pairs, in question order (stop words already gone on both sides). */
    int pa[MAX_TERMS], pb[MAX_TERMS];
    size_t npairs = 0;
    if (analyse(c, question) != 0)
        return lore_errf(err, LORE_ENOMEM, "out of memory reranking");
    for (size_t i = 0; i + 1 < c->ntok && npairs < MAX_TERMS; i++) {
        int a = c->tok[i], b = c->tok[i + 1];
        if (a >= 0 && b >= 0 && a != b) {
            pa[npairs] = a;
            pb[npairs] = b;
            npairs++;
        }
    }
    double best_bm25 = 0.0, best_dense = -INFINITY, low_dense = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (cands[i].bm25_rank && cands[i].bm25 > best_bm25)
            best_bm25 = cands[i].bm25;
        if (cands[i].dense_rank) {
            if (cands[i].dense > best_dense)
                best_dense = cands[i].dense;
            if (cands[i].dense < low_dense)
                low_dense = cands[i].dense;
        }
    }
    int has_dense = best_dense > -INFINITY;
    double bs = 0, bs2 = 0, ds = 0, ds2 = 0;
    for (size_t i = 0; i < n; i++) {
        double b = cands[i].bm25_rank ? cands[i].bm25 : 0.0;
        double d = cands[i].dense_rank ? cands[i].dense : (has_dense ? low_dense : 0.0);
        bs += b;
        bs2 += b * b;
        ds += d;
        ds2 += d * d;
    }
    double bm = n ? bs / (double)n : 0, dm = n ? ds / (double)n : 0;
    double bsd = n ? sqrt(fmax(bs2 / (double)n - bm * bm, 0)) : 0;
    double dsd = n ? sqrt(fmax(ds2 / (double)n - dm * dm, 0)) : 0;
    /* Each candidate's query-term mask, for what its article covers in all. */
    uint64_t *masks = c->masks;
    if (n > c->mask_cap) {
        masks = realloc(c->masks, n * sizeof *masks);
        if (masks == NULL)
            return lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        c->masks = masks;
        c->mask_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        const rerank_cand *k = &cands[i];
        double *f = feat + i * RERANK_NFEAT;
        memset(f, 0, RERANK_NFEAT * sizeof *f);
        if (k->bm25_rank) {
            f[RF_BM25_REL] = best_bm25 > 0 ? k->bm25 / best_bm25 : 0.0;
            f[RF_BM25_Q] = mass > 0 ? k->bm25 / mass : 0.0;
            f[RF_BM25_RR] = 1.0 / log2(1.0 + k->bm25_rank);
        }
        if (has_dense) {
            double d = k->dense_rank ? k->dense : low_dense;
            f[RF_DENSE] = d;
            f[RF_DENSE_GAP] = d - best_dense;
            f[RF_DENSE_RR] = k->dense_rank ? 1.0 / log2(1.0 + k->dense_rank) : 0.0;
            double rb = k->bm25_rank ? k->bm25_rank : (double)n + 1;
            double rd = k->dense_rank ? k->dense_rank : (double)n + 1;
            f[RF_RANKDIS] = fabs(log(1.0 + rb) - log(1.0 + rd));
            f[RF_BOTH] = k->bm25_rank && k->dense_rank ? 1.0 : 0.0;
        }
        f[RF_BM25_Z] = bsd > 1e-12 ? ((k->bm25_rank ? k->bm25 : 0.0) - bm) / bsd : 0.0;
        if (has_dense && dsd > 1e-12)
            f[RF_DENSE_Z] = ((k->dense_rank ? k->dense : low_dense) - dm) / dsd;
        masks[i] = 0;
        f[RF_FUSED] = k->fused;
        f[RF_FUSED_RR] = k->fused_rank ? 1.0 / log2(1.0 + k->fused_rank) : 0.0;
        f[RF_POS] = 1.0 / (1.0 + (k->ordinal > 0 ? k->ordinal : 0));
        f[RF_XENC] = k->has_xenc ? k->xenc : 0.0;
        if (mass <= 0.0)
            continue; /* no query term is in the index: nothing to match */
        const chunk_slot *e;
        if (cached_chunk(c, k, &e) != 0 || fill_tok(c, e, 0, k->title) != 0)
            return lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        f[RF_COVER_T] = mask_idf(terms, nterms, term_mask(c)) / mass;
        if (fill_tok(c, e, 1, k->heading) != 0)
            return lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        uint64_t mh = term_mask(c);
        f[RF_COVER_H] = mask_idf(terms, nterms, mh) / mass;
        if (fill_tok(c, e, 2, k->body) != 0)
            return lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        uint64_t mb = term_mask(c);
        masks[i] = mb | mh;
        f[RF_COVER] = mask_idf(terms, nterms, mb | mh) / mass;
        f[RF_PROX] = proximity(c, mb);
        f[RF_LEN] = log(1.0 + (double)c->ntok);
        if (npairs > 0) {
            uint64_t next[MAX_TERMS] = {0}; /* next[a] bit b: "a b" occurs in the body */
            for (size_t p = 0; p + 1 < c->ntok; p++)
                if (c->tok[p] >= 0 && c->tok[p + 1] >= 0)
                    next[c->tok[p]] |= (uint64_t)1 << c->tok[p + 1];
            size_t hit = 0;
            for (size_t p = 0; p < npairs; p++)
                hit += (next[pa[p]] >> pb[p]) & 1;
            f[RF_BIGRAM] = (double)hit / (double)npairs;
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t m = 0;
        int same = 0;
        for (size_t j = 0; j < n; j++) {
            if (cands[j].article == cands[i].article) {
                m |= masks[j];
                same++;
            }
        }
        double *f = feat + i * RERANK_NFEAT;
        f[RF_ART_COVER] = mass > 0 ? mask_idf(terms, nterms, m) / mass : 0.0;
        f[RF_ART_CHUNKS] = log(1.0 + same);
    }
    return 0;
}

double rerank_tree_value(const rerank_tree *t, const double *feat)
{
    int node = 0;
    while (node < RERANK_TREE_NODES)
        node = 2 * node + 1 + (feat[t->feat[node]] > t->thr[node]);
    return t->leaf[node - RERANK_TREE_NODES];
}

double rerank_score(const rerank_profile *p, const double *feat)
{
    double s = 0.0;
    for (int f = 0; f < RERANK_NFEAT; f++)
        if (p->w[f] != 0.0)
            s += p->w[f] * (feat[f] - p->mean[f]) / p->scale[f];
    for (size_t t = 0; t < p->ntrees; t++)
        s += rerank_tree_value(&p->trees[t], feat);
    return s;
}

void rerank_conf_features(const double *scores, const double *feat, const int *article,
                          size_t n, size_t nterms, double cf[RERANK_NCONF])
{
    memset(cf, 0, RERANK_NCONF * sizeof *cf);
    cf[RC_QLEN] = log(1.0 + (double)nterms);
    if (n == 0)
        return;
    double s1 = scores[0], margin = 4.0, top = 0.0, all = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = exp(scores[i] - s1);
        all += e;
        if (article[i] == article[0])
            top += e;
        else if (margin == 4.0 && s1 - scores[i] < 4.0)
            margin = s1 - scores[i];
    }
    cf[RC_TOP] = s1;
    cf[RC_MARGIN] = margin;
    cf[RC_SHARE] = all > 0 ? top / all : 1.0;
    cf[RC_COVER] = feat[RF_COVER];
    cf[RC_DENSE] = feat[RF_DENSE];
    cf[RC_BM25_Q] = feat[RF_BM25_Q];
    cf[RC_COVER_T] = feat[RF_COVER_T];
}

double rerank_confidence(const rerank_profile *p, const double cf[RERANK_NCONF])
{
    double z = p->cb;
    for (int f = 0; f < RERANK_NCONF; f++)
        z += p->cw[f] * (cf[f] - p->cmean[f]) / p->cscale[f];
    if (!isfinite(z))
        return z > 0 ? 1.0 : 0.0;
    return 1.0 / (1.0 + exp(-z));
}
