/* vindex: the vector index, FAISS through its C API.
 *
 * Default index: IndexIDMap2 over IndexFlatIP (exact search). Vectors are expected to be
 * L2-normalised, so inner product is cosine similarity. Ids are the store's chunk ids.
 *
 * Persistence: vindex_save writes a small header (magic "LOREVIX1", generation, dimension)
 * followed by the FAISS index to a unique PATH.XXXXXX, fsyncs it, renames it over PATH and fsyncs the
 * directory: a crash leaves either the old file or the new one. The generation is the
 * store's index generation; a reader compares it with SQLite's and rebuilds on mismatch.
 *
 * Threads: vindex_search and vindex_search_batch may run from many threads at once on one
 * index (no writer at the same time). Searches use one OpenMP thread and one BLAS thread
 * (call vindex_query_threads_init once in query-serving programs; blas.h); batch adds use
 * all cores.
 * OpenMP's thread count is per thread, so after vindex_query_threads_init each thread
 * that calls vindex_search sets its own count to one on first use.
 *
 * Ownership: the caller owns a vindex from vindex_new/vindex_load and frees it with
 * vindex_free. */
#ifndef LORE_VINDEX_H
#define LORE_VINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct vindex vindex;

int vindex_new(int dim, vindex **out, lore_err *err);
void vindex_free(vindex *vi);

int vindex_dim(const vindex *vi);
size_t vindex_count(const vindex *vi);

/* Adds n vectors (n * dim floats) with their ids. Ids must not be negative (LORE_EINVAL)
 * and must not already be present: FAISS does not check, and a duplicate would be
 * returned twice by searches until removed. */
int vindex_add(vindex *vi, const int64_t *ids, const float *vecs, size_t n, lore_err *err);

/* Removes the given ids (absent ids are ignored); *nremoved may be NULL. */
int vindex_remove(vindex *vi, const int64_t *ids, size_t n, size_t *nremoved, lore_err *err);

/* The k nearest ids by inner product, best first. ids and scores hold k entries; writes
 * *nfound <= min(k, count) results to their front. */
int vindex_search(const vindex *vi, const float *query, size_t k, int64_t *ids, float *scores,
                  size_t *nfound, lore_err *err);

/* Searches nq queries (nq * dim floats) at once, for evaluation and benchmarks: FAISS
 * spreads the batch over the calling thread's OpenMP threads and, from 20 queries up,
 * computes scores with BLAS. ids and scores hold nq * k entries, query i's results at
 * [i * k, (i + 1) * k), best first; slots beyond the stored vectors hold id -1. */
int vindex_search_batch(const vindex *vi, const float *queries, size_t nq, size_t k, int64_t *ids,
                        float *scores, lore_err *err);

/* Concurrent saves to one path are safe: each writes its own temporary (mkstemp) and the
 * last rename wins, so PATH always holds one whole index. A save killed before its rename
 * leaves its temporary behind (PATH.XXXXXX), never a damaged PATH. */
int vindex_save(const vindex *vi, const char *path, uint64_t generation, lore_err *err);
/* LORE_ENOTFOUND when the file does not exist; LORE_EINDEX when it is corrupt. */
int vindex_load(const char *path, vindex **out, uint64_t *generation, lore_err *err);

/* Sets up the calling process for serving queries: OpenMP at one thread for its searches,
 * and FAISS's exhaustive search through BLAS from the first query on (FAISS's default keeps
 * fewer than 20 queries on its own scalar loop, which Debian's generic build does not
 * vectorise: 0.10 ms against 0.06 ms for a query over 340 vectors). */
void vindex_query_threads_init(void);

#endif
