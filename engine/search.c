#include "search.h"

#include "chunkcache.h"
#include "rerank_xenc.h"
#include "sbuf.h"
#include "snippet.h"
#include "text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#define MAX_QUERY_TERMS 64

typedef struct qterm {
    char text[TEXT_MAX_TERM + 1];
    int qtf;     /* times the term occurs in the question */
    int64_t df;  /* rows containing it */
    double idf;
} qterm;

typedef struct term_list {
    qterm t[MAX_QUERY_TERMS];
    size_t n;
} term_list;

/* Document frequencies looked up so far in the searcher's generation: the FTS5 vocabulary
 * lookup costs about 40 us a term, a question repeats the vocabulary of the ones before, and
 * a new generation (row_count) empties the table. DF_SLOTS is a power of two; the table is
 * emptied when 3/4 full too, so probes stay short without an eviction policy. */
#define DF_SLOTS 2048

typedef struct df_slot {
    int64_t df;        /* -1: empty */
    char term[TEXT_MAX_TERM + 1];
} df_slot;

struct searcher {
    coll *c;
    text_analyzer *an;
    char *locale;       /* the collection's default analysis locale */
    sqlite3_stmt *df_stmt;
    df_slot *dfs;       /* DF_SLOTS */
    size_t ndfs;
    /* BM25 queries by their number of weights (bm25_stmt[nw - 1]), prepared on first use:
     * everything else about a query is bound, and preparing cost more than running one. */
    sqlite3_stmt *bm25_stmt[2 * MAX_QUERY_TERMS];
    uint64_t n_gen;     /* generation at which n_rows was counted */
    int64_t n_rows;
    int n_valid;
    chunkcache *cache;  /* the chunks of recent queries, of generation n_gen */
    snippet_cache *snips; /* their bodies' analyses for snippets, of generation n_gen */
    rerank_ctx *rr;
    rerank_profile coll_profile; /* the collection's profile.json, when has_coll_profile */
    int has_coll_profile;
    char *profile_warning;
};

/* A candidate from either retriever, before and after fusion. */
typedef struct cand {
    int64_t id;
    double bm25, dense, fused;
    int bm25_rank, dense_rank;
} cand;

/* A fused candidate of the reranked head, with its chunk. */
typedef struct head_item {
    const cand *c;
    int fused_rank;
    store_chunk_info info; /* a chunk cache view (chunkcache.h): valid during the query */
    double score;
    int article; /* equal for chunks of one article */
} head_item;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void search_options_default(search_options *o)
{
    memset(o, 0, sizeof *o);
    o->mode = SEARCH_HYBRID;
    o->fusion = FUSION_CONVEX;
    o->k = 10;
    o->candidates = 100;
    o->dense_weight = 0.3;
    o->rrf_k = 60.0;
    o->k1 = 0.9;
    o->b = 0.4;
    o->bm25_budget = 20000;
    o->per_article = 1;
    o->snippets = 1;
    o->rerank_k = 40;
    o->threshold = 0.85;
    o->profile = NULL;
}

const char *search_decision_name(search_decision d)
{
    return d == SEARCH_ANSWER ? "answer" : "refuse";
}

int search_mode_parse(const char *s, search_mode *out, lore_err *err)
{
    if (s && strcmp(s, "bm25") == 0)
        *out = SEARCH_BM25;
    else if (s && strcmp(s, "vector") == 0)
        *out = SEARCH_VECTOR;
    else if (s && strcmp(s, "hybrid") == 0)
        *out = SEARCH_HYBRID;
    else
        return lore_errf(err, LORE_EINVAL, "unknown search mode '%s': use bm25, vector or hybrid",
                         s ? s : "");
    return 0;
}

const char *search_mode_name(search_mode m)
{
    return m == SEARCH_BM25 ? "bm25" : m == SEARCH_VECTOR ? "vector" : "hybrid";
}

static int load_coll_profile(searcher *s, lore_err *err)
{
    const char *dir = store_dir(coll_store(s->c));
    size_t n = strlen(dir) + sizeof "/profile.json";
    char *path = malloc(n);
    if (path == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating a searcher");
    snprintf(path, n, "%s/profile.json", dir);
    lore_err e = {0};
    int rc = rerank_profile_load(path, &s->coll_profile, &e);
    free(path);
    if (rc == 0) {
        s->has_coll_profile = 1;
    } else if (rc != LORE_ENOTFOUND) {
        size_t m = strlen(e.msg) + 64;
        if ((s->profile_warning = malloc(m)) == NULL)
            return lore_errf(err, LORE_ENOMEM, "out of memory creating a searcher");
        snprintf(s->profile_warning, m, "%s; using the default profile", e.msg);
    }
    return 0;
}

const char *searcher_profile_warning(const searcher *s)
{
    return s->profile_warning;
}

static void df_clear(searcher *s);

int searcher_new(coll *c, searcher **out, lore_err *err)
{
    *out = NULL;
    searcher *s = calloc(1, sizeof *s);
    if (s == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating a searcher");
    s->c = c;
    s->dfs = malloc(DF_SLOTS * sizeof *s->dfs);
    if (s->dfs == NULL) {
        free(s);
        return lore_errf(err, LORE_ENOMEM, "out of memory creating a searcher");
    }
    df_clear(s);
    sqlite3 *db = store_db(coll_store(c));
    int rc = store_meta_get(coll_store(c), "locale", &s->locale, NULL);
    if (rc != 0 && rc != LORE_ENOTFOUND)
        goto fail_db;
    if ((rc = text_analyzer_new(s->locale ? s->locale : "en", &s->an, err)) != 0 ||
        (rc = rerank_ctx_new(&s->rr, err)) != 0 ||
        (rc = chunkcache_new(SEARCH_CACHE_BYTES, &s->cache, err)) != 0)
        goto fail;
    if (snippet_cache_new(SEARCH_SNIPPET_TOKENS, &s->snips) != 0) {
        rc = lore_errf(err, LORE_ENOMEM, "out of memory creating a searcher");
        goto fail;
    }
    if ((rc = load_coll_profile(s, err)) != 0)
        goto fail;
    if (sqlite3_prepare_v3(db, "SELECT doc FROM chunks_vocab WHERE term = ?1", -1,
                           SQLITE_PREPARE_PERSISTENT, &s->df_stmt, NULL) != SQLITE_OK)
        goto fail_db;
    *out = s;
    return 0;
fail_db:
    rc = lore_errf(err, LORE_EDB, "%s: preparing search: %s", store_dir(coll_store(c)),
                   sqlite3_errmsg(db));
fail:
    searcher_free(s);
    return rc;
}

void searcher_free(searcher *s)
{
    if (s == NULL)
        return;
    sqlite3_finalize(s->df_stmt);
    free(s->dfs);
    for (size_t i = 0; i < 2 * MAX_QUERY_TERMS; i++)
        sqlite3_finalize(s->bm25_stmt[i]);
    text_analyzer_free(s->an);
    rerank_ctx_free(s->rr);
    chunkcache_free(s->cache);
    snippet_cache_free(s->snips);
    free(s->profile_warning);
    free(s->locale);
    free(s);
}

static int collect_term(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)start;
    (void)end;
    term_list *tl = ctx;
    if (len == 0 || len > TEXT_MAX_TERM)
        return 0;
    for (size_t i = 0; i < tl->n; i++) {
        if (strlen(tl->t[i].text) == len && memcmp(tl->t[i].text, term, len) == 0) {
            tl->t[i].qtf++;
            return 0;
        }
    }
    if (tl->n == MAX_QUERY_TERMS)
        return 0; /* a question this long gains nothing from more terms */
    qterm *q = &tl->t[tl->n++];
    memcpy(q->text, term, len);
    q->text[len] = '\0';
    q->qtf = 1;
    return 0;
}

/* Forgets every cached document frequency. */
static void df_clear(searcher *s)
{
    for (size_t i = 0; i < DF_SLOTS; i++)
        s->dfs[i].df = -1;
    s->ndfs = 0;
}

/* The slot of term (its own, or the empty one it would take). */
static df_slot *df_find(searcher *s, const char *term)
{
    size_t len = strlen(term);
    for (size_t i = (size_t)XXH3_64bits(term, len) & (DF_SLOTS - 1);; i = (i + 1) & (DF_SLOTS - 1))
        if (s->dfs[i].df < 0 || strcmp(s->dfs[i].term, term) == 0)
            return &s->dfs[i];
}

/* The row count of the store's current generation. The searcher's caches follow the
 * generation too, so a searcher kept across a re-index never serves the old text. */
static int row_count(searcher *s, int64_t *n, lore_err *err)
{
    uint64_t gen;
    int rc = store_generation(coll_store(s->c), &gen, err);
    if (rc != 0)
        return rc;
    chunkcache_set_generation(s->cache, gen);
    if (!s->n_valid || gen != s->n_gen) {
        /* A new generation: chunk ids may now name other texts, and term statistics moved. */
        rerank_ctx_reset_cache(s->rr);
        snippet_cache_clear(s->snips);
        df_clear(s);
        if ((rc = store_load_doclens(coll_store(s->c), err)) != 0)
            return rc;
        sqlite3_stmt *st;
        sqlite3 *db = store_db(coll_store(s->c));
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM chunks", -1, &st, NULL) != SQLITE_OK)
            return lore_errf(err, LORE_EDB, "counting chunks: %s", sqlite3_errmsg(db));
        rc = sqlite3_step(st);
        s->n_rows = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW)
            return lore_errf(err, LORE_EDB, "counting chunks: %s", sqlite3_errmsg(db));
        s->n_gen = gen;
        s->n_valid = 1;
    }
    *n = s->n_rows;
    return 0;
}

static int lookup_df(searcher *s, term_list *tl, lore_err *err)
{
    int64_t n = 0;
    int rc = row_count(s, &n, err);
    if (rc != 0)
        return rc;
    size_t kept = 0;
    for (size_t i = 0; i < tl->n; i++) {
        df_slot *slot = df_find(s, tl->t[i].text);
        int64_t df = slot->df;
        if (df < 0) {
            sqlite3_bind_text(s->df_stmt, 1, tl->t[i].text, -1, SQLITE_STATIC);
            rc = sqlite3_step(s->df_stmt);
            df = rc == SQLITE_ROW ? sqlite3_column_int64(s->df_stmt, 0) : 0;
            sqlite3_reset(s->df_stmt);
            if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return lore_errf(err, LORE_EDB, "looking up term statistics: %s",
                                 sqlite3_errmsg(store_db(coll_store(s->c))));
            if (s->ndfs >= DF_SLOTS / 4 * 3) {
                df_clear(s);
                slot = df_find(s, tl->t[i].text);
            }
            snprintf(slot->term, sizeof slot->term, "%s", tl->t[i].text);
            slot->df = df;
            s->ndfs++;
        }
        if (df == 0)
            continue; /* matches nothing: it can neither select nor score */
        tl->t[i].df = df;
        tl->t[i].idf = log(1.0 + ((double)n - (double)df + 0.5) / ((double)df + 0.5));
        tl->t[kept++] = tl->t[i];
    }
    tl->n = kept;
    return 0;
}

static int by_df(const void *a, const void *b)
{
    const qterm *x = a, *y = b;
    return (x->df > y->df) - (x->df < y->df);
}

static int add_phrase(sbuf *q, const char *term)
{
    /* Terms never contain spaces or quotes after analysis, but quote defensively: a double
     * quote inside an FTS5 string is written twice. */
    int rc = sbuf_addc(q, '"');
    for (const char *p = term; rc == 0 && *p; p++)
        rc = *p == '"' ? sbuf_add(q, "\"\"", 2) : sbuf_addc(q, *p);
    return rc ? rc : sbuf_addc(q, '"');
}

/* Builds the MATCH expression and the weights of the lore_bm25 call. Phrase i of the
 * expression gets weight w[i]: idf times query frequency the first time a term appears, 0
 * when it is repeated, so each term is scored once. */
static int build_bm25_match(const term_list *tl, const search_options *o, sbuf *match,
                            double *w, size_t *nw, size_t *bound)
{
    size_t nsel = tl->n;
    size_t total = 0;
    for (size_t i = 0; i < tl->n; i++)
        total += (size_t)tl->t[i].df;
    if (total > o->bm25_budget) {
        /* tl is sorted by df: keep the rarest terms that fit the budget (at least one). */
        size_t acc = (size_t)tl->t[0].df;
        nsel = 1;
        while (nsel < tl->n && acc + (size_t)tl->t[nsel].df <= o->bm25_budget)
            acc += (size_t)tl->t[nsel++].df;
        total = acc;
    }
    *bound = total;
    *nw = 0;
    int rc = 0;
    if (nsel < tl->n)
        rc |= sbuf_addc(match, '(');
    for (size_t i = 0; i < nsel; i++) {
        if (i)
            rc |= sbuf_adds(match, " OR ");
        rc |= add_phrase(match, tl->t[i].text);
        w[(*nw)++] = tl->t[i].idf * tl->t[i].qtf;
    }
    if (nsel < tl->n) {
        /* (selecting terms) AND (every term): rows come from the selecting terms only, and
         * the second group makes every term's occurrences visible to lore_bm25. */
        rc |= sbuf_adds(match, ") AND (");
        for (size_t i = 0; i < tl->n; i++) {
            if (i)
                rc |= sbuf_adds(match, " OR ");
            rc |= add_phrase(match, tl->t[i].text);
            w[(*nw)++] = i < nsel ? 0.0 : tl->t[i].idf * tl->t[i].qtf;
        }
        rc |= sbuf_addc(match, ')');
    }
    return rc ? LORE_ENOMEM : 0;
}

/* The BM25 statement for nw weights: ?1 the MATCH expression, ?2 k1, ?3 b, ?4.. the
 * weights, then the row limit. */
static int bm25_stmt(searcher *s, size_t nw, sqlite3_stmt **out, lore_err *err)
{
    sqlite3 *db = store_db(coll_store(s->c));
    if (s->bm25_stmt[nw - 1] == NULL) {
        sbuf sql = SBUF_INIT;
        int rc = sbuf_adds(&sql, "SELECT rowid, lore_bm25(chunks_fts, ?2, ?3");
        for (size_t i = 0; i < nw; i++)
            rc |= sbuf_addf(&sql, ", ?%zu", i + 4);
        rc |= sbuf_addf(&sql, ") AS score FROM chunks_fts WHERE chunks_fts MATCH ?1 "
                              "ORDER BY score DESC LIMIT ?%zu", nw + 4);
        if (rc != 0) {
            sbuf_free(&sql);
            return lore_errf(err, LORE_ENOMEM, "out of memory building a query");
        }
        rc = sqlite3_prepare_v3(db, sbuf_str(&sql), -1, SQLITE_PREPARE_PERSISTENT,
                                &s->bm25_stmt[nw - 1], NULL);
        sbuf_free(&sql);
        if (rc != SQLITE_OK)
            return lore_errf(err, LORE_EDB, "preparing the BM25 query: %s", sqlite3_errmsg(db));
    }
    *out = s->bm25_stmt[nw - 1];
    return 0;
}

static int run_bm25(searcher *s, term_list *tl, const search_options *o, cand **out, size_t *n,
                    size_t *bound, lore_err *err)
{
    *n = 0;
    *bound = 0;
    if (tl->n == 0)
        return 0;
    qsort(tl->t, tl->n, sizeof tl->t[0], by_df);
    sbuf match = SBUF_INIT;
    double w[2 * MAX_QUERY_TERMS];
    size_t nw = 0;
    sqlite3 *db = store_db(coll_store(s->c));
    sqlite3_stmt *st = NULL;
    int rc = build_bm25_match(tl, o, &match, w, &nw, bound);
    if (rc != 0) {
        rc = lore_errf(err, LORE_ENOMEM, "out of memory building a query");
        goto done;
    }
    if ((rc = bm25_stmt(s, nw, &st, err)) != 0)
        goto done;
    int brc = sqlite3_bind_text(st, 1, sbuf_str(&match), -1, SQLITE_STATIC);
    brc |= sqlite3_bind_double(st, 2, o->k1);
    brc |= sqlite3_bind_double(st, 3, o->b);
    for (size_t i = 0; i < nw; i++)
        brc |= sqlite3_bind_double(st, (int)i + 4, w[i]);
    brc |= sqlite3_bind_int64(st, (int)nw + 4, (sqlite3_int64)o->candidates);
    if (brc != SQLITE_OK) {
        rc = lore_errf(err, LORE_EDB, "binding the BM25 query: %s", sqlite3_errmsg(db));
        goto done;
    }
    cand *c = calloc(o->candidates ? o->candidates : 1, sizeof *c);
    if (c == NULL) {
        rc = lore_errf(err, LORE_ENOMEM, "out of memory running a query");
        goto done;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < o->candidates) {
        c[*n].id = sqlite3_column_int64(st, 0);
        c[*n].bm25 = sqlite3_column_double(st, 1);
        c[*n].bm25_rank = (int)*n + 1;
        (*n)++;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        free(c);
        *n = 0;
        rc = lore_errf(err, LORE_EDB, "running the BM25 query: %s", sqlite3_errmsg(db));
        goto done;
    }
    *out = c;
done:
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st); /* the MATCH text is about to be freed */
    }
    sbuf_free(&match);
    return rc;
}

/* Window hits asked of the vector index per wanted chunk: a chunk has one vector per window
 * (coll.h), and its weaker windows take up hits. Asked again, doubled, while too few chunks
 * come out of what the index holds. */
#define WINDOW_HITS_PER_CHUNK 4

/* Collapses window hits (best first) into chunks scored by their best window, best first:
 * c[0..found) in, c[0..*n) out. A chunk's first hit is its best window, so one pass with a
 * set of the chunks seen keeps the order (two sorts cost more at a few hundred hits). */
static int collapse_windows(cand *c, size_t found, size_t *n)
{
    size_t slots = 16;
    while (slots < 2 * found)
        slots *= 2;
    int64_t *seen = malloc(slots * sizeof *seen);
    if (seen == NULL)
        return LORE_ENOMEM;
    for (size_t i = 0; i < slots; i++)
        seen[i] = -1; /* chunk ids are rowids, never negative */
    size_t m = 0;
    for (size_t i = 0; i < found; i++) {
        int64_t id = coll_window_chunk(c[i].id);
        size_t h = (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ULL) >> 32) & (slots - 1);
        while (seen[h] != -1 && seen[h] != id)
            h = (h + 1) & (slots - 1);
        if (seen[h] == id)
            continue;
        seen[h] = id;
        c[m] = c[i];
        c[m++].id = id;
    }
    free(seen);
    *n = m;
    return 0;
}

int search_embeds_question(coll *c, const search_options *o)
{
    vindex *vi = coll_vindex(c);
    return o->mode != SEARCH_BM25 && vi != NULL && vindex_count(vi) > 0;
}

static int run_vector(searcher *s, const char *question, const search_options *o, cand **out,
                      size_t *n, float **qv_out, double *ms_embed, double *ms_vector,
                      lore_err *err)
{
    *n = 0;
    vindex *vi = coll_vindex(s->c);
    embedder *e = coll_embedder(s->c);
    /* A remote embedder learns its dimension from its first reply, so embed_dim is still 0
     * here in a fresh process: the check against the index's dimension comes after. */
    if (!search_embeds_question(s->c, o))
        return 0;
    double t0 = now_ms();
    float *qv = NULL;
    int rc = 0;
    if (o->query_vec != NULL) {
        size_t bytes = (size_t)embed_dim(e) * sizeof *qv;
        if ((qv = malloc(bytes ? bytes : 1)) == NULL)
            return lore_errf(err, LORE_ENOMEM, "out of memory running a query");
        memcpy(qv, o->query_vec, bytes);
    } else if ((rc = embed_query(e, question, &qv, err)) != 0) {
        return rc;
    }
    if (embed_dim(e) != vindex_dim(vi)) {
        free(qv);
        return lore_errf(err, LORE_EINDEX,
                         "the query embedding has %d dimensions but the index has %d: "
                         "re-run lore index", embed_dim(e), vindex_dim(vi));
    }
    double t1 = now_ms();
    size_t k = o->candidates ? o->candidates : 1;
    size_t count = vindex_count(vi);
    size_t want = k * WINDOW_HITS_PER_CHUNK;
    int64_t *ids = NULL;
    float *scores = NULL;
    cand *c = NULL;
    size_t chunks = 0;
    for (;;) {
        if (want > count)
            want = count;
        free(ids);
        free(scores);
        free(c);
        ids = malloc(want * sizeof *ids);
        scores = malloc(want * sizeof *scores);
        c = calloc(want, sizeof *c);
        if (ids == NULL || scores == NULL || c == NULL) {
            rc = lore_errf(err, LORE_ENOMEM, "out of memory running a query");
            goto done;
        }
        size_t found = 0;
        if ((rc = vindex_search(vi, qv, want, ids, scores, &found, err)) != 0)
            goto done;
        for (size_t i = 0; i < found; i++) {
            c[i].id = ids[i];
            c[i].dense = scores[i];
        }
        if (collapse_windows(c, found, &chunks) != 0) {
            rc = lore_errf(err, LORE_ENOMEM, "out of memory running a query");
            goto done;
        }
        if (chunks >= k || found < want || want == count)
            break;
        want *= 2;
    }
    if (chunks > k)
        chunks = k;
    for (size_t i = 0; i < chunks; i++)
        c[i].dense_rank = (int)i + 1;
    *n = chunks;
    *out = c;
    c = NULL;
done:
    *ms_embed = t1 - t0;
    *ms_vector = now_ms() - t1;
    if (rc == 0)
        *qv_out = qv;
    else
        free(qv);
    free(ids);
    free(scores);
    free(c);
    return rc;
}

static int by_id(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int by_fused(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->fused != y->fused)
        return x->fused < y->fused ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id); /* stable order for equal scores */
}

static void minmax(const cand *c, size_t n, int dense, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = dense ? c[i].dense : c[i].bm25;
        if (v < *lo)
            *lo = v;
        if (v > *hi)
            *hi = v;
    }
}

static double norm(double v, double lo, double hi)
{
    /* A single candidate, or all tied, is as good as the list gets. */
    return hi > lo ? (v - lo) / (hi - lo) : 1.0;
}

/* Merges the two lists by chunk id and computes the fused score. */
static int fuse(const cand *lex, size_t nlex, const cand *den, size_t nden,
                const search_options *o, cand **out, size_t *n)
{
    cand *all = malloc((nlex + nden + 1) * sizeof *all);
    if (all == NULL)
        return LORE_ENOMEM;
    if (nlex)
        memcpy(all, lex, nlex * sizeof *all);
    if (nden)
        memcpy(all + nlex, den, nden * sizeof *all);
    qsort(all, nlex + nden, sizeof *all, by_id);
    size_t m = 0;
    for (size_t i = 0; i < nlex + nden; i++) {
        if (m > 0 && all[m - 1].id == all[i].id) {
            cand *d = &all[m - 1];
            if (all[i].bm25_rank) {
                d->bm25 = all[i].bm25;
                d->bm25_rank = all[i].bm25_rank;
            }
            if (all[i].dense_rank) {
                d->dense = all[i].dense;
                d->dense_rank = all[i].dense_rank;
            }
        } else {
            all[m++] = all[i];
        }
    }
    double llo, lhi, dlo, dhi;
    minmax(lex, nlex, 0, &llo, &lhi);
    minmax(den, nden, 1, &dlo, &dhi);
    double w = o->mode == SEARCH_BM25 ? 0.0 : o->mode == SEARCH_VECTOR ? 1.0 : o->dense_weight;
    for (size_t i = 0; i < m; i++) {
        cand *c = &all[i];
        if (o->fusion == FUSION_RRF && o->mode == SEARCH_HYBRID) {
            c->fused = (c->bm25_rank ? 1.0 / (o->rrf_k + c->bm25_rank) : 0.0) +
                       (c->dense_rank ? 1.0 / (o->rrf_k + c->dense_rank) : 0.0);
        } else {
            double l = c->bm25_rank ? norm(c->bm25, llo, lhi) : 0.0;
            double d = c->dense_rank ? norm(c->dense, dlo, dhi) : 0.0;
            c->fused = (1.0 - w) * l + w * d;
        }
    }
    qsort(all, m, sizeof *all, by_fused);
    *out = all;
    *n = m;
    return 0;
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

/* The snippet of a hit: around the question's terms when the lexical side matched the
 * chunk, analysed in the chunk's own locale as the index analysed it; else the body's start. */
static int make_snippet(searcher *s, const cand *c, const char *body, const char *locale,
                        const char *const *terms, size_t nterms, char **out, lore_err *err)
{
    if (!c->bm25_rank || nterms == 0)
        return snippet_lead(body, out, err);
    const char *loc = locale ? locale : s->locale ? s->locale : "en";
    if (text_analyzer_set_locale(s->an, loc) != 0)
        return lore_errf(err, LORE_ENOMEM, "out of memory setting locale %s", loc);
    return snippet_make_cached(s->snips, c->id, s->an, body, terms, nterms, SNIPPET_TOKENS, out,
                               err);
}

/* strdup that keeps NULL as NULL; *ok drops to 0 when the copy fails. */
static char *dup_opt(const char *s, int *ok)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *ok = 0;
    return d;
}

/* Appends a hit for the chunk unless its article already has one (per_article), with copies
 * of info's strings (info is a chunk cache view). */
static int add_hit(searcher *s, search_results *r, const search_options *o, const cand *c,
                   double score, const store_chunk_info *info, const char *const *terms,
                   size_t nterms, lore_err *err)
{
    for (size_t j = 0; o->per_article && j < r->n; j++)
        if (strcmp(r->hits[j].article_id, info->article_ext_id) == 0)
            return 0;
    search_hit *h = &r->hits[r->n++];
    h->chunk_id = c->id;
    h->bm25 = c->bm25;
    h->bm25_rank = c->bm25_rank;
    h->dense = c->dense;
    h->dense_rank = c->dense_rank;
    h->fused = c->fused;
    h->rerank = score;
    int ok = 1;
    h->article_id = dup_opt(info->article_ext_id, &ok);
    h->title = dup_opt(info->title, &ok);
    h->url = dup_opt(info->url, &ok);
    h->heading = dup_opt(info->heading, &ok);
    if (!ok)
        return lore_errf(err, LORE_ENOMEM, "out of memory collecting results");
    if (o->snippets)
        return make_snippet(s, c, info->body, info->locale, terms, nterms, &h->snippet, err);
    if ((h->snippet = dup_or_empty("")) == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory making a snippet");
    return 0;
}

/* Fills the hits: the reranked head first, then the rest of the fused list (from index
 * `tail`) in fused order, scored below every reranked hit. */
static int fetch_hits(searcher *s, head_item *head, size_t nhead, const cand *c, size_t n,
                      size_t tail, const term_list *tl, const search_options *o,
                      search_results *r, lore_err *err)
{
    size_t want = o->k ? o->k : 10;
    r->hits = calloc(want, sizeof *r->hits);
    if (r->hits == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory collecting results");
    const char *terms[MAX_QUERY_TERMS];
    for (size_t i = 0; i < tl->n; i++)
        terms[i] = tl->t[i].text;
    int rc = 0;
    double low = 0.0;
    for (size_t i = 0; i < nhead && r->n < want && rc == 0; i++) {
        rc = add_hit(s, r, o, head[i].c, head[i].score, &head[i].info, terms, tl->n, err);
        low = i == 0 || head[i].score < low ? head[i].score : low;
    }
    for (size_t i = tail; i < n && r->n < want && rc == 0; i++) {
        store_chunk_info info;
        rc = chunkcache_get(s->cache, coll_store(s->c), c[i].id, &info, err);
        if (rc == LORE_ENOTFOUND) {
            rc = 0; /* deleted after the vector index was built: skip it */
            continue;
        }
        if (rc != 0)
            break;
        /* Below the head, still in fused order (fused scores lie in 0..1 or below). */
        double score = low - 1.0 - (double)(i - tail) * 1e-6;
        rc = add_hit(s, r, o, &c[i], score, &info, terms, tl->n, err);
    }
    return rc;
}

static int by_score(const void *a, const void *b)
{
    const head_item *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->fused_rank > y->fused_rank) - (x->fused_rank < y->fused_rank);
}

/* Scores the head with the cross-encoder ("heading\n\nbody" per chunk, as embedded). */
static int cross_encode(struct rerank_xenc *x, const char *question, const head_item *head,
                        rerank_cand *k, size_t n)
{
    char **docs = calloc(n, sizeof *docs);
    double *sc = malloc(n * sizeof *sc);
    int rc = docs && sc ? 0 : LORE_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len = strlen(head[i].info.heading) + strlen(head[i].info.body) + 3;
        if ((docs[i] = malloc(len)) == NULL)
            rc = LORE_ENOMEM;
        else
            snprintf(docs[i], len, "%s\n\n%s", head[i].info.heading, head[i].info.body);
    }
    if (rc == 0)
        rc = rerank_xenc_score(x, question, (const char *const *)docs, n, sc, NULL);
    for (size_t i = 0; i < n; i++) {
        k[i].has_xenc = rc == 0;
        k[i].xenc = rc == 0 ? sc[i] : 0.0;
        if (docs)
            free(docs[i]);
    }
    free(docs);
    free(sc);
    return rc;
}

/* Reads the head's chunks, computes features and scores, reorders the head (when rerank_k is
 * not 0), and sets the confidence and decision. */
static int rerank_head(searcher *s, const char *question, const char *locale,
                       const term_list *tl, const cand *fused, size_t nfused,
                       const search_options *o, head_item **head_out, size_t *nhead_out,
                       size_t *tail, search_results *out, lore_err *err)
{
    const rerank_profile *p = o->profile ? o->profile
                              : s->has_coll_profile ? &s->coll_profile
                                                    : rerank_profile_default();
    size_t want = o->rerank_k ? o->rerank_k : p->rerank_k;
    *tail = want < nfused ? want : nfused;
    head_item *head = calloc(*tail + 1, sizeof *head);
    double *feat = malloc((*tail + 1) * RERANK_NFEAT * sizeof *feat);
    rerank_cand *rc_in = calloc(*tail + 1, sizeof *rc_in);
    rerank_term terms[MAX_QUERY_TERMS];
    int rc = 0;
    size_t nh = 0;
    *head_out = head;
    if (head == NULL || feat == NULL || rc_in == NULL) {
        rc = lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        goto done;
    }
    for (size_t i = 0; i < *tail; i++) {
        head_item *h = &head[nh];
        rc = chunkcache_get(s->cache, coll_store(s->c), fused[i].id, &h->info, err);
        if (rc == LORE_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc != 0)
            goto done;
        h->c = &fused[i];
        h->fused_rank = (int)i + 1;
        h->article = (int)nh;
        for (size_t j = 0; j < nh; j++) {
            if (strcmp(head[j].info.article_ext_id, h->info.article_ext_id) == 0) {
                h->article = head[j].article;
                break;
            }
        }
        rerank_cand *k = &rc_in[nh];
        k->bm25 = fused[i].bm25;
        k->dense = fused[i].dense;
        k->fused = fused[i].fused;
        k->bm25_rank = fused[i].bm25_rank;
        k->dense_rank = fused[i].dense_rank;
        k->fused_rank = h->fused_rank;
        k->title = h->info.title;
        k->heading = h->info.heading;
        k->body = h->info.body;
        k->ordinal = h->info.ordinal;
        k->article = h->article;
        k->key = fused[i].id; /* a rowid, >= 1; row_count resets the cache on every change */
        *nhead_out = ++nh;
    }
    for (size_t i = 0; i < tl->n; i++) {
        terms[i].text = tl->t[i].text;
        terms[i].idf = tl->t[i].idf;
    }
    out->nterms = tl->n;
    int xenc_down = 0;
    if (o->cross_encoder && nh > 0)
        xenc_down = cross_encode(o->cross_encoder, question, head, rc_in, nh) != 0;
    if ((rc = rerank_features(s->rr, question, locale, terms, tl->n, rc_in, nh, feat, err)) != 0)
        goto done;
    for (size_t i = 0; i < nh; i++)
        head[i].score = rerank_score(p, feat + i * RERANK_NFEAT);
    int *row = malloc((nh + 1) * sizeof *row);
    double *sc = malloc((nh + 1) * sizeof *sc);
    int *art = malloc((nh + 1) * sizeof *art);
    if (row == NULL || sc == NULL || art == NULL) {
        free(row);
        free(sc);
        free(art);
        rc = lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        goto done;
    }
    /* Features stay in their rows through the sort: the item's chunk_id field carries its
     * row meanwhile, and is restored below. */
    for (size_t i = 0; i < nh; i++)
        head[i].info.chunk_id = (int64_t)i;
    if (o->rerank_k)
        qsort(head, nh, sizeof *head, by_score);
    for (size_t i = 0; i < nh; i++) {
        row[i] = (int)head[i].info.chunk_id;
        head[i].info.chunk_id = head[i].c->id;
        sc[i] = head[i].score;
        art[i] = head[i].article;
    }
    double cf[RERANK_NCONF];
    rerank_conf_features(sc, nh ? feat + (size_t)row[0] * RERANK_NFEAT : feat, art, nh, tl->n,
                         cf);
    out->threshold = o->threshold;
    if (nh == 0) {
        out->confidence = 0.0;
        out->decision = SEARCH_REFUSE;
        out->reason = SEARCH_REASON_NO_MATCH;
    } else {
        out->confidence = rerank_confidence(p, cf);
        out->decision = out->confidence >= o->threshold ? SEARCH_ANSWER : SEARCH_REFUSE;
        out->reason = out->decision == SEARCH_ANSWER ? NULL : SEARCH_REASON_LOW_CONFIDENCE;
        if (xenc_down) {
            out->decision = SEARCH_REFUSE;
            out->reason = SEARCH_REASON_RERANKER_DOWN;
        }
    }
    if (o->keep_candidates && nh > 0) {
        out->cands = calloc(nh, sizeof *out->cands);
        if (out->cands == NULL)
            rc = lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        for (size_t i = 0; rc == 0 && i < nh; i++) {
            search_cand *x = &out->cands[i];
            x->chunk_id = head[i].c->id;
            x->fused_rank = head[i].fused_rank;
            x->rerank = head[i].score;
            memcpy(x->feat, feat + (size_t)row[i] * RERANK_NFEAT, sizeof x->feat);
            out->ncands++;
            if ((x->article_id = strdup(head[i].info.article_ext_id)) == NULL)
                rc = lore_errf(err, LORE_ENOMEM, "out of memory reranking");
        }
    }
    free(row);
    free(sc);
    free(art);
done:
    free(feat);
    free(rc_in);
    return rc;
}

int search_run(searcher *s, const char *question, const search_options *o, search_results *out,
               lore_err *err)
{
    search_options defaults;
    if (o == NULL) {
        search_options_default(&defaults);
        o = &defaults;
    }
    memset(out, 0, sizeof *out);
    /* The previous query's chunk views end here; this query's last until the next one. */
    chunkcache_begin(s->cache);
    if (o->mode != SEARCH_BM25 && coll_vindex(s->c) == NULL && embed_dim(coll_embedder(s->c)) == 0)
        return lore_errf(err, LORE_EUNSUP,
                         "mode %s needs vectors, but this collection's embedder is %s",
                         search_mode_name(o->mode), embed_id(coll_embedder(s->c)));
    double t0 = now_ms();
    term_list tl;
    tl.n = 0;
    const char *locale = o->locale ? o->locale : s->locale;
    int rc = text_analyzer_set_locale(s->an, locale ? locale : "en");
    if (rc == 0)
        rc = text_analyze(s->an, question, strlen(question), collect_term, &tl);
    if (rc != 0)
        return lore_errf(err, LORE_ENOMEM, "out of memory analysing the question");
    if ((rc = lookup_df(s, &tl, err)) != 0)
        return rc;
    double t1 = now_ms();
    out->ms_analyze = t1 - t0;
    cand *lex = NULL, *den = NULL, *fused = NULL;
    size_t nlex = 0, nden = 0, nfused = 0, nhead = 0, tail = 0;
    head_item *head = NULL;
    if (o->mode != SEARCH_VECTOR &&
        (rc = run_bm25(s, &tl, o, &lex, &nlex, &out->bm25_rows_scored_bound, err)) != 0)
        goto done;
    double t2 = now_ms();
    out->ms_bm25 = t2 - t1;
    int embedder_down = 0;
    if (o->mode != SEARCH_BM25 &&
        (rc = run_vector(s, question, o, &den, &nden, &out->query_vec, &out->ms_embed,
                         &out->ms_vector, err)) != 0) {
        /* A hybrid search outlives a dead embeddings server on its lexical side; a vector
         * search has nothing else. */
        if (rc != LORE_ENET || o->mode != SEARCH_HYBRID)
            goto done;
        embedder_down = 1;
        rc = 0;
    }
    out->query_dim = out->query_vec != NULL ? embed_dim(coll_embedder(s->c)) : 0;
    double t3 = now_ms();
    if ((rc = fuse(lex, nlex, den, nden, o, &fused, &nfused)) != 0) {
        rc = lore_errf(err, LORE_ENOMEM, "out of memory fusing results");
        goto done;
    }
    double t4 = now_ms();
    out->ms_fuse = t4 - t3;
    if ((rc = rerank_head(s, question, locale, &tl, fused, nfused, o, &head, &nhead, &tail, out,
                          err)) != 0)
        goto done;
    double t5 = now_ms();
    out->ms_rerank = t5 - t4;
    if (embedder_down) {
        out->decision = SEARCH_REFUSE;
        out->reason = SEARCH_REASON_EMBEDDER_DOWN;
    }
    rc = fetch_hits(s, head, nhead, fused, nfused, tail, &tl, o, out, err);
    out->ms_fetch = now_ms() - t5;
done:
    free(head);
    free(lex);
    free(den);
    free(fused);
    if (rc != 0)
        search_results_free(out);
    return rc;
}

void search_results_free(search_results *r)
{
    for (size_t i = 0; r->hits && i < r->n; i++) {
        search_hit *h = &r->hits[i];
        free(h->article_id);
        free(h->title);
        free(h->url);
        free(h->heading);
        free(h->snippet);
    }
    free(r->hits);
    r->hits = NULL;
    r->n = 0;
    for (size_t i = 0; r->cands && i < r->ncands; i++)
        free(r->cands[i].article_id);
    free(r->cands);
    r->cands = NULL;
    r->ncands = 0;
    free(r->query_vec);
    r->query_vec = NULL;
}
