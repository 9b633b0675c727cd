/* vindex: the vector index, FAISS through its C API.
 *
 * Default index: IndexIDMap2 over IndexFlatIP (exact search). Vectors are expected to be
 * L2-normalised, so inner product is cosine similarity. Ids are the store's chunk ids.
 *
 * Persistence: vindex_save writes a small header (magic "LOREVIX1", generation, dimension)
 * followed by the FAISS index to PATH.tmp, fsyncs it, renames it over PATH and fsyncs the
 * directory: a crash leaves either the old file or the new one. The generation is the
 * store's index generation; a reader compares it with SQLite's and rebuilds on mismatch.
 *
 * Threads: vindex_search may run from many threads at once on one index (no writer at the
 * same time). Searches use one OpenMP thread (call vindex_query_threads_init once in
 * query-serving programs); batch adds use all cores.
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

/* Adds n vectors (n * dim floats) with their ids. Ids must not already be present. */
int vindex_add(vindex *vi, const int64_t *ids, const float *vecs, size_t n, lore_err *err);

/* Removes the given ids (absent ids are ignored); *nremoved may be NULL. */
int vindex_remove(vindex *vi, const int64_t *ids, size_t n, size_t *nremoved, lore_err *err);

/* The k nearest ids by inner product, best first. Writes *nfound <= k results. */
int vindex_search(const vindex *vi, const float *query, size_t k, int64_t *ids, float *scores,
                  size_t *nfound, lore_err *err);

int vindex_save(const vindex *vi, const char *path, uint64_t generation, lore_err *err);
/* LORE_ENOTFOUND when the file does not exist; LORE_EINDEX when it is corrupt. */
int vindex_load(const char *path, vindex **out, uint64_t *generation, lore_err *err);

/* Sets OpenMP to one thread for the calling process's searches. */
void vindex_query_threads_init(void);

#endif
