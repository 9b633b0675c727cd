/* search: hybrid retrieval over one collection.
 *
 *   question -> analyse (text.h, the collection's locale) -> FTS5 BM25 top-N  (lexical)
 *            -> embed -> vector index top-N                                     (dense)
 *            -> fuse: convex combination of min-max normalised scores, or RRF
 *            -> rerank the fused top `rerank_k` with a learned model (rerank.h)
 *            -> confidence: a calibrated probability that the top hit answers the question,
 *               and the decision (answer / refuse, at `threshold`) with a refusal reason
 *            -> collapse to the best chunk per article -> top k with snippets
 *
 * BM25 is Lucene's (k1, b; idf = ln(1 + (N - df + 0.5) / (df + 0.5))) over heading and
 * body taken as one field. FTS5 scores every row that matches its expression, so the query
 * builder bounds that work: when the question's terms together match more than
 * `bm25_budget` rows, the rarest terms that fit the budget select the candidate rows and the
 * common terms only add to their scores (they still count, they just do not select).
 *
 * A searcher caches the chunks its queries read (chunkcache.h: up to SEARCH_CACHE_BYTES,
 * CLOCK eviction), so the reranked head of a repeated or related question costs memory
 * lookups, not SQLite reads. The cache is emptied whenever the store's generation changes
 * (read at the start of every search_run), so a searcher kept across a re-index never
 * serves the old text. The analyses of the hits' bodies, which snippets are cut from, are
 * kept the same way (snippet_cache, emptied with the chunks).
 *
 * Ownership: a searcher borrows its collection (which must outlive it) and owns its
 * analyzer, chunk cache and buffers; search_run fills a search_results that the caller
 * frees with search_results_free (hits own their strings: copies, not the cache's). Threads:
 * one searcher per thread (it uses the collection's connection). */
#ifndef LORE_SEARCH_H
#define LORE_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "coll.h"
#include "err.h"
#include "rerank.h"

/* The chunk cache's budget per searcher: about 2,500 chunks of 200 tokens. `lore serve`
 * keeps one searcher per worker and open collection, each bounded by this. */
#define SEARCH_CACHE_BYTES ((size_t)4 << 20)
/* The snippet analyses a searcher keeps (snippet.h): 131,072 tokens of 24 bytes, 3 MB. */
#define SEARCH_SNIPPET_TOKENS ((size_t)1 << 17)

typedef enum search_mode { SEARCH_BM25, SEARCH_VECTOR, SEARCH_HYBRID } search_mode;
typedef enum search_fusion { FUSION_CONVEX, FUSION_RRF } search_fusion;
/* What the engine recommends doing with the results. */
typedef enum search_decision { SEARCH_ANSWER = 0, SEARCH_REFUSE = 1 } search_decision;


struct rerank_profile; /* rerank.h */
struct rerank_xenc;    /* rerank_xenc.h */

typedef struct search_options {
    search_mode mode;
    search_fusion fusion;
    size_t k;            /* results returned (default 10) */
    size_t candidates;   /* top-N taken from each retriever (default 100) */
    double dense_weight; /* convex: share of the dense score, 0..1 (default 0.3) */
    double rrf_k;        /* RRF constant (default 60) */
    double k1, b;        /* BM25 (defaults 0.9, 0.4: Anserini's) */
    size_t bm25_budget;  /* rows BM25 may score before common terms stop selecting (20000) */
    int per_article;     /* 1: keep only each article's best chunk (default 1) */
    int snippets;        /* 1: fill snippets (default 1) */
    const char *locale;  /* query analysis locale; NULL = the collection's */
    size_t rerank_k;     /* fused candidates the reranker reorders (default 40); 0: no
                            reranking, results keep the fused order (confidence is still
                            computed, from the fused top candidates) */
    double threshold;    /* confidence needed to answer, 0..1 (default 0.85) */
    /* Reranker weights and calibration; NULL = the profile compiled into the engine
     * (rerank_profile_default). Borrowed: must outlive the search_run calls using it. */
    const struct rerank_profile *profile;
    int keep_candidates; /* 1: fill search_results.cands (for lore tune); default 0 */
    /* An external cross-encoder (rerank_xenc.h) scoring the reranked head as one more
     * feature; NULL (default): none. Borrowed. When it fails, the results keep the other
     * features' order and the decision is refuse with SEARCH_REASON_RERANKER_DOWN: the
     * profile's confidence assumes its score. */
    struct rerank_xenc *cross_encoder;
    /* The question's vector, already embedded with this collection's embedder (embed_query or
     * embed_queries, embed_dim floats), or NULL (default): the search embeds the question
     * itself. Borrowed. With it the search skips its embedding (ms_embed 0) and otherwise
     * runs as it would have: a server embeds the questions waiting at once together. */
    const float *query_vec;
} search_options;

void search_options_default(search_options *o);
/* Parses "bm25", "vector", "hybrid". LORE_EINVAL otherwise. */
int search_mode_parse(const char *s, search_mode *out, lore_err *err);
const char *search_mode_name(search_mode m);
/* "answer" or "refuse". */
const char *search_decision_name(search_decision d);

typedef struct search_hit {
    int64_t chunk_id;
    double bm25;         /* raw BM25 score, 0 when not retrieved lexically */
    int bm25_rank;       /* 1-based, 0 when absent */
    double dense;        /* cosine similarity, 0 when not retrieved densely */
    int dense_rank;      /* 1-based, 0 when absent */
    double fused;        /* the fused score */
    double rerank;       /* the reranker's score, which orders the results (higher is better;
                            the fused score when the hit was not reranked) */
    char *article_id, *title, *url, *heading, *snippet;
} search_hit;

/* Machine-readable refusal reasons (stable strings, also used by the API and the CLI). */
#define SEARCH_REASON_NO_MATCH "no_match"             /* nothing was retrieved at all */
#define SEARCH_REASON_LOW_CONFIDENCE "low_confidence" /* confidence below the threshold */
#define SEARCH_REASON_RERANKER_DOWN "reranker_unavailable" /* the cross-encoder failed */
/* A remote embeddings server failed (LORE_ENET): the results are the lexical side's alone,
 * shown but never answered from, since the confidence model assumes both sides. */
#define SEARCH_REASON_EMBEDDER_DOWN "embedder_unavailable"

/* A reranked candidate chunk with its features (search_options.keep_candidates). */
typedef struct search_cand {
    int64_t chunk_id;
    char *article_id;
    int fused_rank;             /* 1-based position in the fused list */
    double rerank;              /* the profile's score */
    double feat[RERANK_NFEAT];
} search_cand;

typedef struct search_results {
    search_hit *hits;
    size_t n;
    search_cand *cands;         /* the reranked head in reranked order, when asked for */
    size_t ncands;
    size_t nterms;              /* query terms known to the index */
    /* Calibrated probability (0..1) that the top hit answers the question; 0 when nothing
     * was retrieved. Among answered questions (confidence >= threshold) at least that share
     * is answered correctly, on data like the profile's calibration data. */
    double confidence;
    search_decision decision; /* SEARCH_ANSWER when confidence >= threshold */
    const char *reason;       /* refusal reason (SEARCH_REASON_*), NULL when answering;
                                 a static string, not freed */
    double threshold;         /* the threshold the decision used */
    /* Timings of the stages, milliseconds. */
    double ms_analyze, ms_bm25, ms_embed, ms_vector, ms_fuse, ms_rerank, ms_fetch;
    size_t bm25_rows_scored_bound; /* the postings the selecting terms match (cost bound) */
    /* The question's vector as the search embedded it (embed_query), query_dim floats; NULL
     * when it embedded nothing (BM25 mode, no vectors). Freed by search_results_free: later
     * stages (extractive answers) use it instead of embedding the question again. */
    float *query_vec;
    int query_dim;
} search_results;

typedef struct searcher searcher;

/* A searcher uses the collection's profile file (<collection dir>/profile.json) when there
 * is one and search_options.profile is NULL; else the default profile. A profile file that
 * cannot be read does not fail searcher_new: the default is used and
 * searcher_profile_warning says why (NULL when all is well). */
int searcher_new(coll *c, searcher **out, lore_err *err);
void searcher_free(searcher *s);
const char *searcher_profile_warning(const searcher *s);

/* Runs one query. LORE_EUNSUP when the mode needs vectors and the collection has none. */
int search_run(searcher *s, const char *question, const search_options *o,
               search_results *out, lore_err *err);
void search_results_free(search_results *r);
/* 1 when search_run with options o on collection c embeds the question (its vector side
 * runs: not BM25 mode, and the collection has vectors): the searches whose vectors a caller
 * may embed ahead (query_vec). */
int search_embeds_question(coll *c, const search_options *o);

#endif
