/* rerank: the learned reranker over fused candidates, and the confidence model.
 *
 * Reranking: every candidate (a chunk from the fused list) gets RERANK_NFEAT features drawn
 * from every stage: BM25 and dense scores and ranks, the fused score and rank, idf-weighted
 * query-term coverage of the chunk, its title and its heading path, term proximity (the
 * smallest window holding the matched terms) and adjacent query-term pairs, chunk length and
 * position in its article, what the article's candidates cover together, scores
 * standardised within the list, agreement of the lexical and vector lists, and an optional
 * external cross-encoder score. A linear model over standardised features, plus small
 * boosted regression trees for what a line cannot express, scores them: cheap (a few hundred
 * operations per candidate after analysis) and deterministic.
 *
 * Confidence: RERANK_NCONF features of the reranked list (the top score, its margin over the
 * best other article, the top article's softmax share, the top chunk's coverage, dense and
 * query-normalised BM25 scores, the query length) feed a logistic model (Platt scaling
 * generalised to several inputs) fitted by `lore tune` with log loss, so its output is a
 * probability that the top result answers the question.
 *
 * Profiles hold both models, the threshold and the top-K; rerank_profile_default() is
 * compiled into the engine (rerank_default.c says what it was fitted on). Profiles are JSON
 * (see rerank_profile_to_json); features are named, so a profile keeps working when features
 * are added (a feature the profile does not name gets weight 0).
 *
 * Analysis cache: a chunk comes back query after query, so a rerank_ctx keeps each keyed
 * candidate's analysed title, heading and body as ids into a term dictionary; a candidate
 * seen before costs a scan of small integers instead of re-analysis, with features identical
 * to analysing it afresh. Memory is bounded (rerank_ctx_set_cache_limit); the caller resets
 * the cache when the texts behind its keys may change.
 *
 * Ownership and threads: a rerank_profile is plain data (copy it freely; read-only use from
 * many threads is safe). A rerank_ctx owns an analyzer, its cache and scratch buffers and is
 * used by one thread at a time. */
#ifndef LORE_RERANK_H
#define LORE_RERANK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum {
    RF_BM25_REL,   /* bm25 / best bm25 of the candidates (0 when not matched lexically) */
    RF_BM25_Q,     /* bm25 / the query's idf mass: comparable across queries */
    RF_BM25_RR,    /* 1 / log2(1 + bm25 rank), 0 when absent */
    RF_DENSE,      /* cosine (absent: the lowest cosine of the dense list) */
    RF_DENSE_GAP,  /* cosine - best cosine of the candidates */
    RF_DENSE_RR,   /* 1 / log2(1 + dense rank), 0 when absent */
    RF_FUSED,      /* fused score */
    RF_FUSED_RR,   /* 1 / log2(1 + fused rank) */
    RF_COVER,      /* idf-weighted share of query terms in heading + body */
    RF_COVER_T,    /* ... in the article title */
    RF_COVER_H,    /* ... in the heading path */
    RF_PROX,       /* distinct matched terms / length of the smallest window holding them */
    RF_BIGRAM,     /* share of adjacent query-term pairs adjacent in the chunk */
    RF_LEN,        /* log(1 + tokens in the chunk) */
    RF_POS,        /* 1 / (1 + chunk ordinal): early chunks state what an article is about */
    RF_BOTH,       /* 1 when both retrievers found the chunk */
    RF_RANKDIS,    /* |log(1 + bm25 rank) - log(1 + dense rank)|, absent = list length + 1 */
    RF_ART_COVER,  /* RF_COVER over all the candidates of the chunk's article together */
    RF_ART_CHUNKS, /* log(1 + candidates of the chunk's article) */
    RF_BM25_Z,     /* bm25 standardised over the candidates (absent: 0 before) */
    RF_DENSE_Z,    /* cosine standardised over the candidates */
    RF_XENC,       /* external cross-encoder relevance score, 0 when not configured */
    RERANK_NFEAT
};

enum {
    RC_TOP,        /* top rerank score */
    RC_MARGIN,     /* top score - best score of another article (capped at 4) */
    RC_SHARE,      /* softmax share of the top article among the candidates */
    RC_COVER,      /* top chunk's RF_COVER */
    RC_DENSE,      /* top chunk's RF_DENSE */
    RC_BM25_Q,     /* top chunk's RF_BM25_Q */
    RC_COVER_T,    /* top chunk's RF_COVER_T */
    RC_QLEN,       /* log(1 + query terms) */
    RERANK_NCONF
};

/* Feature names as they appear in profiles ("bm25_rel", ...). */
const char *rerank_feature_name(int f);
const char *rerank_conf_feature_name(int f);

/* Regression trees of depth 3 that the reranker adds to its linear score (boosted on the
 * linear model's residual gradients by lore tune). Internal nodes in level order (children of
 * node i are 2i + 1 and 2i + 2): a candidate goes left when feat[node] <= thr[node]; a node
 * that does not split has a threshold no value exceeds. */
#define RERANK_TREE_NODES 7
#define RERANK_TREE_LEAVES 8
#define RERANK_MAX_TREES 300

typedef struct rerank_tree {
    unsigned char feat[RERANK_TREE_NODES];
    double thr[RERANK_TREE_NODES];
    double leaf[RERANK_TREE_LEAVES];
} rerank_tree;

typedef struct rerank_profile {
    double mean[RERANK_NFEAT], scale[RERANK_NFEAT], w[RERANK_NFEAT]; /* reranker */
    size_t ntrees;                                   /* ... plus these trees on raw features */
    rerank_tree trees[RERANK_MAX_TREES];
    double cmean[RERANK_NCONF], cscale[RERANK_NCONF], cw[RERANK_NCONF], cb; /* confidence */
    double threshold; /* default decision threshold (0.85) */
    size_t rerank_k;  /* candidates reranked (40) */
    char fitted_on[512]; /* free text: the data the profile was fitted on */
} rerank_profile;

/* The profile compiled into the engine. Never NULL; parsed once, thread-safe. */
const rerank_profile *rerank_profile_default(void);

/* Parses a profile from JSON text; `name` (a path, or "<default>") names it in errors.
 * On failure *out is the default profile and the error says what is wrong. */
int rerank_profile_parse(const char *json, size_t len, const char *name, rerank_profile *out,
                         lore_err *err);
/* Reads a profile file. On any failure (LORE_ENOTFOUND: no such file; LORE_EIO; LORE_EINVAL:
 * corrupt) *out is the default profile, so callers can warn and go on. */
int rerank_profile_load(const char *path, rerank_profile *out, lore_err *err);
/* The profile as JSON (malloc'd, caller frees), NULL when out of memory. `extra` (may be
 * NULL) is a JSON object text merged in under "cv", for figures from fitting. */
char *rerank_profile_to_json(const rerank_profile *p, const char *extra);
/* Writes the JSON atomically (temp file + rename). */
int rerank_profile_save(const rerank_profile *p, const char *path, const char *extra,
                        lore_err *err);

/* A fused candidate: what retrieval knows about it, and its chunk. Strings are borrowed. */
typedef struct rerank_cand {
    double bm25, dense, fused;
    int bm25_rank, dense_rank, fused_rank; /* 1-based; 0 when absent */
    const char *title, *heading, *body;
    int ordinal;  /* chunk number in its article, from 0 */
    int article;  /* equal for the candidates of one article */
    double xenc;  /* cross-encoder score when has_xenc */
    int has_xenc;
    /* Names title, heading and body for the ctx's analysis cache (a chunk id): equal keys
     * must mean equal texts until rerank_ctx_reset_cache. 0: not cached. */
    int64_t key;
} rerank_cand;

typedef struct rerank_ctx rerank_ctx;

int rerank_ctx_new(rerank_ctx **out, lore_err *err);
void rerank_ctx_free(rerank_ctx *c);

/* Forgets every cached analysis: call it when the text behind a key may have changed (the
 * store's generation moved). Cheap; the memory stays allocated for reuse. */
void rerank_ctx_reset_cache(rerank_ctx *c);

/* The cache's default budget: token ids kept (4 bytes each), about 4 MB. */
#define RERANK_CACHE_IDS ((size_t)1 << 20)

/* Bounds the cache to max_ids token ids plus a term dictionary of at most max_ids / 8 terms
 * and max_ids bytes of term text; 0 turns caching off. Frees what was cached. */
void rerank_ctx_set_cache_limit(rerank_ctx *c, size_t max_ids);

/* A query term and its idf (as the BM25 stage computed it). */
typedef struct rerank_term {
    const char *text;
    double idf;
} rerank_term;

/* Fills feat[i * RERANK_NFEAT + f] for the n candidates. The question is analysed with
 * `locale` to find the terms' order; terms not in `terms` (unknown to the index) are
 * ignored. 0 or LORE_ENOMEM. */
int rerank_features(rerank_ctx *c, const char *question, const char *locale,
                    const rerank_term *terms, size_t nterms, const rerank_cand *cands,
                    size_t n, double *feat, lore_err *err);

/* The reranker's score of one candidate's features. */
double rerank_score(const rerank_profile *p, const double *feat);
/* One tree's value for the features. */
double rerank_tree_value(const rerank_tree *t, const double *feat);

/* Confidence features of a reranked list: scores and features in reranked order (best
 * first), article[i] an id that is equal for chunks of one article; n may be 0. */
void rerank_conf_features(const double *scores, const double *feat, const int *article,
                          size_t n, size_t nterms, double cf[RERANK_NCONF]);
/* The calibrated probability that the top result answers the question. */
double rerank_confidence(const rerank_profile *p, const double cf[RERANK_NCONF]);

#endif
