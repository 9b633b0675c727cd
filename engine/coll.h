/* coll: one collection (one help center): its store, its vector index and its embedder.
 *
 * A collection lives in its own directory DATA_ROOT/NAME holding lore.db (the store, the
 * source of truth) and vectors.faiss (the vector index, derived). Opening a collection
 * checks the FAISS file's generation against the store's and, when the file is missing or
 * stale (a crash between the SQLite commit and the FAISS publish, or a copy of the database
 * alone), rebuilds the index from the vectors stored in SQLite, and saves it when it can.
 * "Stale" compares the index's count with the number of stored window vectors.
 *
 * Windows: a chunk has k >= 1 vectors, one per window of its text (embed_texts_windows), and
 * search scores it as its best window. In the vector index, window w of chunk c has the id
 * c + w * 2^COLL_WINDOW_SHIFT (coll_window_id): window 0 keeps the chunk's own id, so an
 * index written before windows existed (one vector per chunk, ids = chunk ids) stays valid.
 * Chunk ids must stay below 2^COLL_WINDOW_SHIFT (SQLite numbers them from 1 up).
 *
 * Ownership: coll_open returns a collection closed with coll_close, which frees the store,
 * index and embedder it owns. The accessors return borrowed pointers valid until close.
 * Threads: one thread at a time per coll (its store connection); open one per thread. */
#ifndef LORE_COLL_H
#define LORE_COLL_H

#include <stddef.h>
#include <stdint.h>

#include "embed.h"
#include "err.h"
#include "store.h"
#include "vindex.h"

typedef struct coll coll;

#define COLL_WINDOW_SHIFT 40
#define COLL_CHUNK_ID_MASK ((INT64_C(1) << COLL_WINDOW_SHIFT) - 1)

/* The vector index id of window w (< EMBED_MAX_WINDOWS) of chunk chunk_id. */
static inline int64_t coll_window_id(int64_t chunk_id, size_t w)
{
    return chunk_id | ((int64_t)w << COLL_WINDOW_SHIFT);
}

/* The chunk and the window a vector index id stands for. */
static inline int64_t coll_window_chunk(int64_t id) { return id & COLL_CHUNK_ID_MASK; }
static inline size_t coll_window_index(int64_t id) { return (size_t)(id >> COLL_WINDOW_SHIFT); }

/* Writes the ids of chunk_id's nwin windows to ids[0..nwin). LORE_EINVAL, naming the chunk,
 * when the chunk id is out of range or nwin is 0 or past EMBED_MAX_WINDOWS. */
int coll_window_ids(int64_t chunk_id, size_t nwin, int64_t *ids, lore_err *err);

/* Removes every window of the n chunks from the vector index (a no-op without one). */
int coll_remove_chunks(coll *c, const int64_t *chunk_ids, size_t n, lore_err *err);

/* Collection names: 1 to 64 of [A-Za-z0-9_-]. LORE_EINVAL otherwise. */
int coll_name_valid(const char *name, lore_err *err);

/* The data root: `flag` when given, else $LORE_DATA, else $HOME/.local/share/lore.
 * Writes into buf; LORE_EINVAL when nothing fits. */
int coll_data_root(const char *flag, char *buf, size_t buflen, lore_err *err);

/* Joins root and name into buf after validating the name. */
int coll_dir(const char *root, const char *name, char *buf, size_t buflen, lore_err *err);

typedef struct coll_open_options {
    int flags;                  /* STORE_READONLY or STORE_CREATE */
    const char *embedder;       /* spec to use when the collection has none recorded yet, or
                                   to switch to (with switch_embedder); NULL = recorded one */
    int switch_embedder;        /* 1: record `embedder` even if another one is recorded */
    const embed_options *embed; /* may be NULL */
    int load_vectors;           /* 0: do not open the vector index (lexical-only use) */
} coll_open_options;

/* The embedder spec a new collection gets when none is given: the Universal Sentence Encoder
 * lite, in-process (embed_use.c; its model comes from tools/fetch-model.sh). Opening a new
 * collection without the model fails with an error naming the missing file. */
#define COLL_DEFAULT_EMBEDDER "use"

int coll_open(const char *dir, const coll_open_options *opts, coll **out, lore_err *err);
void coll_close(coll *c);

store *coll_store(coll *c);
/* NULL when the collection has no vectors (embedder "none", or load_vectors 0). */
vindex *coll_vindex(coll *c);
embedder *coll_embedder(coll *c);
/* The FAISS file path. */
const char *coll_vindex_path(const coll *c);

/* Makes sure a vector index of dimension dim exists (after the first embedding of a new
 * collection, or after an embedder switch changed the dimension). */
int coll_ensure_vindex(coll *c, int dim, lore_err *err);

/* Drops the in-memory vector index (the embedder changed: its vectors no longer apply). */
void coll_reset_vindex(coll *c);

/* Writes the vector index atomically with the store's current generation. */
int coll_publish(coll *c, lore_err *err);

/* 1 when the FAISS index was rebuilt from SQLite at open (for stats and tests). */
int coll_vindex_rebuilt(const coll *c);

#endif
