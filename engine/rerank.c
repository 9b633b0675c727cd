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
    int oom;
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
    *out = c;
    return 0;
}

void rerank_ctx_free(rerank_ctx *c)
{
    if (c == NULL)
        return;
    text_analyzer_free(c->an);
    free(c->tok);
    free(c->masks);
    free(c->cache);
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

static int on_token(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)start;
    (void)end;
    rerank_ctx *c = ctx;
    if (c->ntok == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        int *t = realloc(c->tok, cap * sizeof *t);
        if (t == NULL) {
            c->oom = 1;
            return LORE_ENOMEM;
        }
        c->tok = t;
        c->cap = cap;
    }
    c->tok[c->ntok++] = match_term(c, term, len);
    return 0;
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

/* Pushes the match of every term of the piece p[0..n). */
static int analyse_piece(rerank_ctx *c, const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
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
                    if (push_tok(c, match_term(c, t, tl)) != 0)
                        return LORE_ENOMEM;
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
        return text_analyze(c->an, p, n, on_token, c) != 0 || c->oom ? LORE_ENOMEM : 0;
    const char *t = c->piece;
    for (int k = 0; k < c->pn; k++) {
        size_t tl = strlen(t);
        if (push_tok(c, match_term(c, t, tl)) != 0)
            return LORE_ENOMEM;
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

/* Analyses s into c->tok (replacing what was there). */
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
        if (c->porter && !joined && !may_match(c, s + i, j - i)) {
            /* One plain word that cannot be a query term: no need to stem it. Longer than
             * any English stop word, it is one term; a short one may be a stop word. */
            int terms = j - i > 5 ? 1 : short_terms(c, s + i, j - i);
            if (terms < 0 || (terms > 0 && push_tok(c, -1) != 0))
                return LORE_ENOMEM;
        } else if (analyse_piece(c, s + i, j - i) != 0) {
            return LORE_ENOMEM;
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
    c->oom = 0;
    if (!locale)
        locale = "en";
    if (strcmp(locale, c->cache_locale) != 0) {
        /* Terms depend on the language: the cache holds one language's. */
        if (text_analyzer_set_locale(c->an, locale) != 0)
            return lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        memset(c->cache, 0, CACHE_SLOTS * sizeof *c->cache);
        memset(c->shortk, 0, sizeof c->shortk);
        c->cached = 0;
        snprintf(c->cache_locale, sizeof c->cache_locale, "%s", locale);
        c->porter = strcmp(text_analyzer_language(c->an), "porter") == 0;
    }
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
        if (analyse(c, k->title) != 0)
            return lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        f[RF_COVER_T] = mask_idf(terms, nterms, term_mask(c)) / mass;
        if (analyse(c, k->heading) != 0)
            return lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        uint64_t mh = term_mask(c);
        f[RF_COVER_H] = mask_idf(terms, nterms, mh) / mass;
        if (analyse(c, k->body) != 0)
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
