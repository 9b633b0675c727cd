/* evalm: retrieval evaluation: BEIR queries and qrels, IR metrics, TREC run files.
 *
 * Metrics follow trec_eval / BEIR (pytrec_eval) definitions:
 *   nDCG@k  with gain = relevance grade (linear, as pytrec_eval's ndcg_cut), discount
 *           log2(rank + 1), ideal DCG from the best k judged grades of the query;
 *           grades <= 0 give no gain
 *   Recall@k  relevant retrieved in top k / relevant judged (grade > 0)
 *   MRR@k   1 / rank of the first relevant doc within k, else 0
 *   MAP     average precision over the full ranked list (all retrieved), over relevant judged
 * A query with no relevant judgement is not evaluated (BEIR skips such queries): its scores
 * are all 0 and evalm_qrel_nrel says 0, so callers leave it out of their means.
 *
 * Ownership: evalm_queries / evalm_qrels own their strings; free with the matching _free.
 * Both are plain data once loaded: safe to read from many threads at once. */
#ifndef LORE_EVALM_H
#define LORE_EVALM_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

typedef struct evalm_query {
    char *id;
    char *text;
    int is_impossible; /* 1 when the query says "is_impossible": true (answerable == 0) */
} evalm_query;

typedef struct evalm_queries {
    evalm_query *items;
    size_t n;
} evalm_queries;

typedef struct evalm_judgement {
    char *doc_id;
    int grade;
} evalm_judgement;

/* The judgements of one query. */
typedef struct evalm_qrel {
    char *query_id;
    evalm_judgement *judged; /* sorted by doc_id (strcmp) when loaded; see evalm_score_query */
    size_t njudged;
} evalm_qrel;

typedef struct evalm_qrels {
    evalm_qrel *items; /* sorted by query_id */
    size_t n;
} evalm_qrels;

/* Reads BEIR queries.jsonl ({"_id", "text", ...}). Bad lines are errors naming file and line.
 * "_id" is a string or an integral number (42 becomes "42"); "text" a string; optional
 * "is_impossible" a boolean, at the top level or inside a "metadata" object. Other keys are
 * ignored, blank lines skipped, lines may be of any length. Queries keep file order.
 * On failure *out is empty. Errors: LORE_ENOTFOUND (no such file), LORE_EIO, LORE_EINVAL
 * ("path:line: what"), LORE_ENOMEM. */
int evalm_queries_load(const char *path, evalm_queries *out, lore_err *err);
void evalm_queries_free(evalm_queries *q);

/* Reads a BEIR qrels TSV (header "query-id corpus-id score", tab separated). Fields may be
 * separated by tabs or spaces; a first line starting "query-id" is a header and skipped;
 * four-field TREC qrels ("qid iter docid grade") are accepted too. Grades are integers;
 * grade <= 0 lines are kept as judged non-relevant. A (query, doc) pair judged twice is an
 * error naming both lines. On failure *out is empty; errors as evalm_queries_load. */
int evalm_qrels_load(const char *path, evalm_qrels *out, lore_err *err);
void evalm_qrels_free(evalm_qrels *q);
/* NULL when the query has no judgements. Binary search: O(log n). */
const evalm_qrel *evalm_qrels_find(const evalm_qrels *q, const char *query_id);
/* Number of relevant (grade > 0) judgements; 0 for NULL. Queries with 0 are not evaluated. */
size_t evalm_qrel_nrel(const evalm_qrel *qrel);

typedef struct evalm_scores {
    double ndcg10, recall10, recall100, mrr10, map;
} evalm_scores;

/* Scores one ranked list (doc ids best first, duplicates ignored after the first: a repeated
 * id takes no rank, so later docs move up). Unjudged docs are non-relevant. A NULL qrel or
 * one without relevant judgements scores all 0. qrel->judged need not be sorted (a sorted
 * list is searched faster). Never fails: with no memory for duplicate detection it falls
 * back to a slower scan. */
void evalm_score_query(const evalm_qrel *qrel, const char *const *ranked, size_t nranked,
                       evalm_scores *out);

/* Writes ranked results as TREC run lines: "qid Q0 docid rank score tag", rank from 1,
 * duplicates skipped as in evalm_score_query. trec_eval re-sorts a run by score, so scores
 * should not increase down the list; they are printed to round-trip exactly. scores NULL:
 * n, n-1, ... are written, which keeps the given order. tag NULL: "lore". Ids and tag must be
 * non-empty with no white space, scores finite (else LORE_EINVAL, nothing written); a failed
 * write is LORE_EIO. */
int evalm_write_run(FILE *f, const char *query_id, const char *const *ranked,
                    const double *scores, size_t n, const char *tag, lore_err *err);

#endif
