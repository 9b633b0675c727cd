/* rerank_fit: fitting a rerank_profile from labelled candidates (what `lore tune` runs).
 *
 * Reranker: a linear model over standardised features, fitted with a listwise objective
 * (softmax cross-entropy of each query's candidate list against its graded relevant set,
 * ListNet-style) plus an L2 penalty, by full-batch Adam: deterministic, no random state;
 * then regression trees boosted on the same loss add what a line cannot express.
 * Confidence: a logistic model over the confidence features of each query's reranked list,
 * label 1 when the top candidate's article is relevant (and the query is answerable), fitted
 * with log loss plus a small L2 penalty; log loss is what makes the output a calibrated
 * probability rather than a score.
 *
 * Ownership: the fit functions read caller-owned arrays and write only into the profile. */
#ifndef LORE_RERANK_FIT_H
#define LORE_RERANK_FIT_H

#include <stddef.h>

#include "err.h"
#include "rerank.h"

typedef struct rerank_fit_query {
    const double *feat;  /* n * RERANK_NFEAT, candidates in fused order */
    const int *gain;     /* relevance grade per candidate (<= 0: not relevant) */
    const int *article;  /* per candidate: equal for chunks of one article */
    size_t n;
    size_t nterms;       /* query terms known to the index */
    int answerable;      /* 0: the question has no answer in the index */
    /* rerank_fit_confidence and rerank_fit_apply: reranker scores to use instead of the
     * profile's (n values; NULL: the profile's). Fitting the confidence on scores of models
     * that did not see the query (cross-fitting) keeps an overfitted reranker's in-sample
     * certainty out of the probabilities. */
    const double *score;
} rerank_fit_query;

typedef struct rerank_fit_options {
    double l2;        /* reranker L2 penalty (default 1e-3) */
    double conf_l2;   /* confidence L2 penalty (default 1e-3) */
    int iters;        /* optimiser steps (default 400) */
    size_t trees;     /* boosted trees added to the linear model (default 100; 0: none) */
    double shrinkage; /* each tree's step (default 0.1) */
    double tree_l2;   /* leaf penalty, in units of the loss's second derivative (default 1) */
    int use[RERANK_NFEAT]; /* 1: the feature may get a weight (default all 1) */
} rerank_fit_options;

void rerank_fit_options_default(rerank_fit_options *o);

/* Fits p's reranker (mean, scale, w) on the queries that have at least one relevant and one
 * non-relevant candidate. LORE_EINVAL when there is none; LORE_ENOMEM. */
int rerank_fit_ranker(const rerank_fit_query *q, size_t nq, const rerank_fit_options *o,
                      rerank_profile *p, lore_err *err);

/* Boosts o->trees regression trees of depth 3 on top of p's linear reranker (which must be
 * fitted first), with the same listwise loss (Newton steps per leaf; split candidates at 32
 * quantiles of each feature, thresholds halfway between data values). LORE_EINVAL when no
 * query is trainable; LORE_ENOMEM. */
int rerank_fit_trees(const rerank_fit_query *q, size_t nq, const rerank_fit_options *o,
                     rerank_profile *p, lore_err *err);

/* Fits p's confidence model from the queries reranked by p's reranker. LORE_EINVAL when the
 * labels are all equal (nothing to calibrate against); LORE_ENOMEM. */
int rerank_fit_confidence(const rerank_fit_query *q, size_t nq, const rerank_fit_options *o,
                          rerank_profile *p, lore_err *err);

/* Reranks one query with p: order[0..n) receives candidate indices best first (ties keep
 * fused order); *conf the confidence; *correct 1 when the top article is relevant and the
 * query answerable. order may be NULL. LORE_ENOMEM only. */
int rerank_fit_apply(const rerank_profile *p, const rerank_fit_query *q, size_t *order,
                     double *conf, int *correct, lore_err *err);

#endif
