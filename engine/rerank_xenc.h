/* rerank_xenc: an external cross-encoder over HTTP, used as one more reranker feature
 * (RF_XENC). It speaks the rerank request shape that TEI, llama.cpp, Jina and Cohere share:
 *
 *   POST URL  {"model": M, "query": Q, "documents": [D...], "top_n": N,
 *              "return_documents": false}
 *   reply     {"results": [{"index": i, "relevance_score": s}, ...]}
 *             (also accepted: "score" for "relevance_score", and TEI's bare array
 *              [{"index": i, "score": s}, ...])
 *
 * URL is the endpoint itself when it ends in "/rerank", else "/rerank" is appended to it
 * (so "http://host:8080/v1" works). The API key, when the server wants one, is read from the
 * environment variable LORE_RERANK_API_KEY. Every document must get a score; a reply that
 * leaves one out, repeats one or names an index out of range is an error.
 *
 * Threads: one client per thread. Ownership: rerank_xenc_new copies its strings; free the
 * client with rerank_xenc_free. */
#ifndef LORE_RERANK_XENC_H
#define LORE_RERANK_XENC_H

#include <stddef.h>

#include "err.h"

typedef struct rerank_xenc rerank_xenc;

/* model may be NULL ("rerank"). timeout_ms 0: 5000. */
int rerank_xenc_new(const char *url, const char *model, long timeout_ms, rerank_xenc **out,
                    lore_err *err);
void rerank_xenc_free(rerank_xenc *x);

/* Scores n documents against the query into scores[0..n). 0 or LORE_ENET (the server failed
 * or answered something unusable; the message names it), LORE_ENOMEM. */
int rerank_xenc_score(rerank_xenc *x, const char *query, const char *const *docs, size_t n,
                      double *scores, lore_err *err);

#endif
