/* bench_rerank: the reranker's cost in `lore bench`: features, scores, sort and confidence
 * for a fixed number of candidates, in memory (the chunk reads that feed it are part of the
 * search timings). */
#ifndef LORE_BENCH_RERANK_H
#define LORE_BENCH_RERANK_H

#include <stddef.h>
#include <stdio.h>

#include "bench_internal.h"
#include "evalm.h"

typedef struct bench_rerank_result {
    size_t candidates, runs;
    double mean_chunk_tokens;
    bench_latency lat;  /* every candidate analysed per query */
    bench_latency warm; /* keyed candidates, the analysis cache filled (the serving case) */
} bench_rerank_result;

/* Times reranking `candidates` records of the BEIR corpus at corpus_path (title + text as
 * chunks) for each of up to `runs` queries, without and with the analysis cache. 0, or
 * LORE_EIO / LORE_EINVAL / LORE_ENOMEM. */
int bench_rerank_run(const char *corpus_path, const evalm_queries *qs, size_t candidates,
                     size_t runs, bench_rerank_result *r, lore_err *err);
void bench_rerank_print(FILE *f, const bench_rerank_result *r);
/* The same figures as a JSON object (caller deletes); NULL when out of memory. */
struct cJSON *bench_rerank_json(const bench_rerank_result *r);

#endif
