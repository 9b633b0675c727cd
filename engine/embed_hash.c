/* embed_hash: the "hash:DIM" embedder, a feature-hashing random projection.
 *
 * Each distinct feature of a text (an analysed term, or a pair of adjacent terms) gets a
 * pseudo-random direction in {-1,+1}^DIM: XXH64 of the feature's 64-bit key, seeded with the
 * block number, gives the signs of 64 coordinates at a time. The text's vector is the
 * weighted sum of its features' directions, L2-normalised. Two different features' directions
 * are nearly orthogonal (their cosine has variance 1/DIM), so the cosine of two texts
 * approximates the weighted overlap of their features: texts sharing stems score high.
 *
 * Speed: features are counted first (one hash table per embedder, reused), so each distinct
 * feature is projected once per text; the projection adds 8 signs per table lookup. */
#include "embed_impl.h"
#include "text.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Fixed seeds: changing any of them changes every vector, so they are part of "hash:DIM"'s
 * identity and must never change. */
#define SEED_TERM 0x6c6f7265u   /* "lore" */
#define SEED_BIGRAM 0x62696772u /* "bigr" */
#define SEED_BLOCK 0x626c6b00u  /* + block number */

#define BIGRAM_WEIGHT 0.5f

typedef struct feat_slot {
    uint64_t key;
    float weight; /* BIGRAM_WEIGHT or 1 */
    uint32_t tf;  /* 0 = empty slot */
} feat_slot;

struct embed_hash {
    text_analyzer *ta;
    int dim;
    int nblocks;         /* ceil(dim / 64) */
    float *acc;          /* nblocks * 64 floats: the sum before truncation to dim */
    feat_slot *slots;    /* open addressing, cap a power of two */
    size_t cap;
    uint32_t *order;     /* slot indices in first-seen order: deterministic summation order */
    size_t used;
    uint64_t prev;       /* key of the previous term, for bigrams */
    int have_prev;
};

/* sign_table[b][j] is +1 when bit j of byte b is set, else -1. Filled once (pthread_once:
 * embedders may be opened from several threads) and read-only after. */
static float sign_table[256][8];
static pthread_once_t sign_table_once = PTHREAD_ONCE_INIT;

static void init_sign_table(void)
{
    for (int b = 0; b < 256; b++)
        for (int j = 0; j < 8; j++)
            sign_table[b][j] = ((b >> j) & 1) ? 1.0f : -1.0f;
}

/* Little-endian bytes of v, so keys hash the same on every machine. */
static void le64(uint64_t v, unsigned char out[8])
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(v >> (8 * i));
}

static int grow_table(embed_hash *h)
{
    size_t ncap = h->cap ? h->cap * 2 : 1024;
    feat_slot *ns = calloc(ncap, sizeof *ns);
    uint32_t *no = malloc((ncap / 2) * sizeof *no);
    if (ns == NULL || no == NULL || ncap > UINT32_MAX) {
        free(ns);
        free(no);
        return LORE_ENOMEM;
    }
    /* Reinsert in first-seen order so the order list stays the same. */
    for (size_t i = 0; i < h->used; i++) {
        feat_slot *s = &h->slots[h->order[i]];
        size_t j = (size_t)s->key & (ncap - 1);
        while (ns[j].tf != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
        no[i] = (uint32_t)j;
    }
    free(h->slots);
    free(h->order);
    h->slots = ns;
    h->order = no;
    h->cap = ncap;
    return 0;
}

static int add_feature(embed_hash *h, uint64_t key, float weight)
{
    /* Load factor at most 1/2 keeps probes short; order holds cap/2 entries. */
    if ((h->used + 1) * 2 > h->cap && grow_table(h) != 0)
        return LORE_ENOMEM;
    size_t j = (size_t)key & (h->cap - 1);
    while (h->slots[j].tf != 0) {
        if (h->slots[j].key == key) {
            if (h->slots[j].tf < UINT32_MAX)
                h->slots[j].tf++;
            return 0;
        }
        j = (j + 1) & (h->cap - 1);
    }
    h->slots[j].key = key;
    h->slots[j].weight = weight;
    h->slots[j].tf = 1;
    h->order[h->used++] = (uint32_t)j;
    return 0;
}

static int on_term(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)start;
    (void)end;
    embed_hash *h = ctx;
    uint64_t key = XXH64(term, len, SEED_TERM);
    int rc = add_feature(h, key, 1.0f);
    if (rc == 0 && h->have_prev) {
        unsigned char pair[16];
        le64(h->prev, pair);
        le64(key, pair + 8);
        rc = add_feature(h, XXH64(pair, sizeof pair, SEED_BIGRAM), BIGRAM_WEIGHT);
    }
    h->prev = key;
    h->have_prev = 1;
    return rc;
}

static void clear_features(embed_hash *h)
{
    for (size_t i = 0; i < h->used; i++)
        h->slots[h->order[i]].tf = 0;
    h->used = 0;
    h->have_prev = 0;
}

/* Adds weight * direction(key) to h->acc. */
static void project(embed_hash *h, uint64_t key, float weight)
{
    unsigned char kb[8];
    le64(key, kb);
    for (int b = 0; b < h->nblocks; b++) {
        uint64_t bits = XXH64(kb, sizeof kb, (XXH64_hash_t)SEED_BLOCK + (XXH64_hash_t)b);
        float *a = h->acc + (size_t)b * 64;
        for (int k = 0; k < 8; k++) {
            const float *sg = sign_table[(bits >> (8 * k)) & 0xff];
            for (int j = 0; j < 8; j++)
                a[k * 8 + j] += weight * sg[j];
        }
    }
}

int embed_hash_open(embedder *e, int dim, lore_err *err)
{
    assert(dim >= 8 && dim <= 4096);
    if (pthread_once(&sign_table_once, init_sign_table) != 0)
        return lore_errf(err, LORE_ENOMEM, "opening embedder hash:%d: pthread_once failed", dim);
    embed_hash *h = calloc(1, sizeof *h);
    if (h == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder hash:%d", dim);
    h->dim = dim;
    h->nblocks = (dim + 63) / 64;
    h->acc = malloc((size_t)h->nblocks * 64 * sizeof(float));
    if (h->acc == NULL || grow_table(h) != 0) {
        embed_hash_close(h);
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder hash:%d", dim);
    }
    int rc = text_analyzer_new("en", &h->ta, err);
    if (rc != 0) {
        embed_hash_close(h);
        return lore_err_wrap(err, "opening embedder hash:%d", dim);
    }
    e->hash = h;
    return 0;
}

void embed_hash_close(embed_hash *h)
{
    if (h == NULL)
        return;
    text_analyzer_free(h->ta);
    free(h->acc);
    free(h->slots);
    free(h->order);
    free(h);
}

int embed_hash_texts(embedder *e, const char *const *texts, size_t n, float *out, lore_err *err)
{
    embed_hash *h = e->hash;
    assert(h != NULL && e->dim == h->dim);
    size_t dim = (size_t)h->dim;
    for (size_t i = 0; i < n; i++) {
        int rc = text_analyze(h->ta, texts[i], strlen(texts[i]), on_term, h);
        if (rc != 0) {
            clear_features(h);
            return lore_errf(err, rc == LORE_ENOMEM ? LORE_ENOMEM : LORE_EINVAL,
                             "embedder %s: analysing text %zu of %zu failed (code %d)", e->id,
                             i, n, rc);
        }
        memset(h->acc, 0, (size_t)h->nblocks * 64 * sizeof(float));
        for (size_t k = 0; k < h->used; k++) {
            const feat_slot *s = &h->slots[h->order[k]];
            /* Dampened tf: a term repeated ten times should not drown the others. */
            float w = s->weight * (1.0f + logf((float)s->tf));
            project(h, s->key, w);
        }
        clear_features(h);
        float *v = out + i * dim;
        memcpy(v, h->acc, dim * sizeof(float));
        embed_l2_normalize(v, h->dim);
    }
    return 0;
}
