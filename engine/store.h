/* store: one collection's SQLite database, the source of truth for everything indexed.
 *
 * Layout (schema version STORE_SCHEMA_VERSION, migrated forward by store_open):
 *   meta(key, value)                     schema_version, embedder, embed_dim, chunker,
 *                                        generation, locale
 *   articles(id, ext_id, title, url, locale, updated_at, source, fingerprint)
 *   chunks(id, article_id, ordinal, heading, body, fingerprint)
 *   vectors(chunk_id, fingerprint, vec)  one row per embedded chunk: its blob holds k >= 1
 *                                        vectors of embed_dim float32 (little-endian), the
 *                                        chunk's windows in order (embed_texts_windows); a
 *                                        chunk is scored as its best window. The dimension
 *                                        is meta embed_dim (a store written before windows
 *                                        lacks it and has k = 1, so the blob length tells);
 *                                        a blob whose length is not a multiple of
 *                                        embed_dim * 4 is damage, reported as LORE_EDB
 *   chunks_fts                           external-content FTS5 over chunks(heading, body),
 *                                        tokenizer "lore" (see fts5tok.h), kept in step by
 *                                        triggers on chunks
 * The database runs in WAL mode, so readers see the last committed state while an indexer
 * writes. The generation counter is bumped in every write transaction that changes chunks;
 * derived files (the FAISS index) record the generation they were built from.
 *
 * Threads: a store (one connection) is used by one thread at a time; open one per thread.
 * Ownership: store_open returns a store the caller closes with store_close. Strings returned
 * through out-parameters are malloc'd and owned by the caller unless stated otherwise. */
#ifndef LORE_STORE_H
#define LORE_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define STORE_SCHEMA_VERSION 1

enum {
    STORE_READONLY = 1, /* open for searching; fails with LORE_ENOTFOUND if absent */
    STORE_CREATE = 2    /* create the directory and database when absent */
};

typedef struct store store;

/* Process-wide SQLite settings, applied once before SQLite's first use (store_open calls
 * it; other modules opening databases of their own call it first, so the settings hold
 * whichever opens first). Turns off SQLite's memory statistics: they take one process-wide
 * mutex around every allocation, which serialises searchers running on several threads.
 * Thread-safe; calls after SQLite was initialised elsewhere change nothing. */
void store_sqlite_init(void);

/* dir is the collection directory; the database is dir/lore.db. */
int store_open(const char *dir, int flags, store **out, lore_err *err);
void store_close(store *s);

/* The underlying connection, for engine modules that run their own queries (search).
 * Owned by the store. */
sqlite3 *store_db(store *s);
const char *store_dir(const store *s);

/* Switches the FTS5 tokenizer's stemming locale for rows written or deleted next. */
int store_set_locale(store *s, const char *locale, lore_err *err);

int store_begin(store *s, lore_err *err);  /* BEGIN IMMEDIATE */
int store_commit(store *s, lore_err *err);
void store_rollback(store *s);

/* *value is malloc'd; LORE_ENOTFOUND when the key is absent. */
int store_meta_get(store *s, const char *key, char **value, lore_err *err);
int store_meta_set(store *s, const char *key, const char *value, lore_err *err);
/* Reads the generation (0 for a new store). */
int store_generation(store *s, uint64_t *gen, lore_err *err);
/* Increments the generation; call inside a write transaction. */
int store_bump_generation(store *s, uint64_t *gen, lore_err *err);
/* Reads every chunk's length in tokens (FTS5's docsize table) into a table the connection's
 * lore_bm25 then uses instead of one docsize lookup per matched row (fts5tok_set_doclens).
 * The lengths are those of what the connection reads now: call it again whenever that can
 * have changed (a searcher does on each new generation). The store owns the table. 0,
 * LORE_EDB (a docsize row that does not decode: the table is dropped, lore_bm25 falls back to
 * FTS5) or LORE_ENOMEM. */
int store_load_doclens(store *s, lore_err *err);

typedef struct store_article {
    const char *ext_id, *title, *url, *locale, *updated_at, *source;
    uint64_t fingerprint; /* over the article's chunk fingerprints and metadata */
} store_article;

/* Finds an article by external id: *id, *fingerprint and, when locale is not NULL, its
 * locale (*locale malloc'd, NULL when unset), or LORE_ENOTFOUND. */
int store_article_find(store *s, const char *ext_id, int64_t *id, uint64_t *fingerprint,
                       char **locale, lore_err *err);

/* Inserts or replaces the article row (keyed by ext_id) and returns its row id. */
int store_article_put(store *s, const store_article *a, int64_t *id, lore_err *err);

/* Deletes an article's chunks (and their FTS rows and vectors). The ids of the deleted
 * chunks that had vectors are appended to *ids (realloc'd; *n updated) so the caller can
 * remove them from the vector index. Start with *ids NULL and *n 0, and grow the array
 * only through these functions (its capacity is implied by *n); free it with free(). */
int store_article_clear_chunks(store *s, int64_t article_id, int64_t **ids, size_t *n,
                               lore_err *err);
/* Deletes an article and its chunks; like store_article_clear_chunks for the ids. */
int store_article_delete(store *s, int64_t article_id, int64_t **ids, size_t *n, lore_err *err);

/* Inserts a chunk (and its vector when vec is not NULL: dim floats, one window). */
int store_chunk_put(store *s, int64_t article_id, int ordinal, const char *heading,
                    const char *body, uint64_t fingerprint, const float *vec, int dim,
                    int64_t *chunk_id, lore_err *err);

/* Inserts a chunk with its nwin window vectors (nwin * dim floats; none when vecs is NULL or
 * nwin 0). Every vector of a store has one dimension: LORE_EINVAL, and nothing written, for
 * another while vectors of the recorded one exist (store_vectors_clear first). */
int store_chunk_put_windows(store *s, int64_t article_id, int ordinal, const char *heading,
                            const char *body, uint64_t fingerprint, const float *vecs,
                            size_t nwin, int dim, int64_t *chunk_id, lore_err *err);

/* The stored window vectors of any chunk with this fingerprint, so unchanged text keeps its
 * embedding: *vecs (malloc'd, caller frees) gets *nwin * dim floats. LORE_ENOTFOUND when no
 * chunk has it or the store's vectors have another dimension; LORE_EDB for a damaged blob. */
int store_vectors_by_fingerprint(store *s, uint64_t fingerprint, int dim, float **vecs,
                                 size_t *nwin, lore_err *err);

/* Deletes every stored vector and the recorded dimension (when the embedder changes, old
 * vectors are meaningless). */
int store_vectors_clear(store *s, lore_err *err);

/* Calls fn for every article whose source starts with `prefix` (all when prefix is NULL). */
typedef int (*store_article_fn)(void *ctx, int64_t id, const char *ext_id, const char *source);
int store_articles_each(store *s, const char *prefix, store_article_fn fn, void *ctx,
                        lore_err *err);

/* Calls fn for every embedded chunk, in chunk id order, with its nwin window vectors
 * (nwin * dim floats, valid during the call). A non-zero return from fn stops the walk and
 * is returned; a damaged blob stops it with LORE_EDB. */
typedef int (*store_vector_fn)(void *ctx, int64_t chunk_id, const float *vecs, size_t nwin,
                               int dim);
int store_vectors_each(store *s, store_vector_fn fn, void *ctx, lore_err *err);

/* A chunk with its article, for showing results. */
typedef struct store_chunk_info {
    int64_t chunk_id;
    char *article_ext_id, *title, *url, *heading, *body, *locale;
    int ordinal;
} store_chunk_info;

int store_chunk_get(store *s, int64_t chunk_id, store_chunk_info *out, lore_err *err);
void store_chunk_info_free(store_chunk_info *c);

typedef struct store_stats {
    int64_t articles, chunks;
    int64_t vectors;       /* window vectors (what the vector index holds) */
    int64_t vector_chunks; /* chunks with vectors */
    uint64_t generation;
    int embed_dim;
} store_stats;

int store_stats_get(store *s, store_stats *out, lore_err *err);

#endif
