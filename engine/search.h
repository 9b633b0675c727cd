/* search: hybrid retrieval over one collection.
 *
 *   question -> analyse (text.h, the collection's locale) -> FTS5 BM25 top-N  (lexical)
 *            -> embed -> vector index top-N                                     (dense)
 *            -> fuse: convex combination of min-max normalised scores, or RRF
 *            -> collapse to the best chunk per article -> top k with snippets
 *
 * BM25 is Lucene's (k1, b; idf = ln(1 + (N - df + 0.5) / (df + 0.5))) over heading and
 * body taken as one field. FTS5 scores every row that matches its expression, so the query
 * builder bounds that work: when the question's terms together match more than
 * `bm25_budget` rows, the rarest terms that fit the budget select the candidate rows and the
 * common terms only add to their scores (they still count, they just do not select).
 *
 * Ownership: a searcher borrows its collection (which must outlive it) and owns its
 * analyzer and buffers; search_run fills a search_results that the caller frees with
 * search_results_free. Threads: one searcher per thread (it uses the collection's
 * connection). */
#ifndef LORE_SEARCH_H
#define LORE_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "coll.h"
#include "err.h"

typedef enum search_mode { SEARCH_BM25, SEARCH_VECTOR, SEARCH_HYBRID } search_mode;
typedef enum search_fusion { FUSION_CONVEX, FUSION_RRF } search_fusion;

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
} search_options;

void search_options_default(search_options *o);
/* Parses "bm25", "vector", "hybrid". LORE_EINVAL otherwise. */
int search_mode_parse(const char *s, search_mode *out, lore_err *err);
const char *search_mode_name(search_mode m);

typedef struct search_hit {
    int64_t chunk_id;
    double bm25;         /* raw BM25 score, 0 when not retrieved lexically */
    int bm25_rank;       /* 1-based, 0 when absent */
    double dense;        /* cosine similarity, 0 when not retrieved densely */
    int dense_rank;      /* 1-based, 0 when absent */
    double fused;        /* the fused score that orders the results */
    char *article_id, *title, *url, *heading, *snippet;
} search_hit;

typedef struct search_results {
    search_hit *hits;
    size_t n;
    /* Timings of the stages, milliseconds. */
    double ms_analyze, ms_bm25, ms_embed, ms_vector, ms_fuse, ms_fetch;
    size_t bm25_rows_scored_bound; /* the postings the selecting terms match (cost bound) */
} search_results;

typedef struct searcher searcher;

int searcher_new(coll *c, searcher **out, lore_err *err);
void searcher_free(searcher *s);

/* Runs one query. LORE_EUNSUP when the mode needs vectors and the collection has none. */
int search_run(searcher *s, const char *question, const search_options *o,
               search_results *out, lore_err *err);
void search_results_free(search_results *r);

#endif
