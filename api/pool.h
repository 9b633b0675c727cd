/* pool: the query service's workers, each holding its own open collections.
 *
 * A coll (with its SQLite connection and searcher) is one thread's at a time (coll.h,
 * search.h), so the service keeps a fixed set of workers: a request checks one out, uses it
 * alone, and checks it back in. A worker opens a collection on first use and keeps it.
 *
 * Consistency: each open collection of a worker stands in one read transaction (WAL: a
 * stable snapshot however `lore index` commits meanwhile), begun right after its vector index
 * was loaded, and the generation read in that snapshot must equal the one the index was
 * loaded at. That is checked by bracketing: the generation is read before the open (g0) and
 * inside the new snapshot after it (g1); generations only grow, so g0 == g1 proves the index
 * and the snapshot agree, and otherwise the open is retried. A request uses the snapshot as
 * it stands, so it sees one generation from start to end.
 *
 * Hot reload: a reloader thread polls each open collection's generation (every reload_ms).
 * When it grows, the reloader opens the collection again for each worker that has it (off
 * the request path: loading a vector index and an embedder model takes a while), then swaps
 * the new snapshot in while that worker is idle, and closes the old one. Requests meanwhile
 * keep answering from the previous generation, so a re-index never fails or stalls a
 * request; it becomes visible within about reload_ms plus the time of the reopen. Swapping
 * ends the old read transaction, so no snapshot outlives the next generation by long (the WAL
 * can be checkpointed).
 *
 * Answering: the pool keeps one answer_env per collection (shared by all workers; its
 * config.json is read at first use) and each worker one answerer per open collection. The
 * reloader also watches each loaded collection's config.json (device, inode, size, mtime):
 * when it changes it is loaded into a new answer_env, each worker's answerer of the
 * collection is dropped (made again at its next answer), the old environment is freed, and
 * the collection's configuration epoch (pool_config_epoch) grows. A file that does not load
 * keeps the previous environment, with a message on stderr.
 *
 * Ownership: pool_new returns a pool freed with pool_free after every worker is back.
 * A pool_view's pointers are borrowed from the worker and valid until pool_unpin.
 * Threads: pool_get, pool_put and pool_reloads are thread-safe; a checked-out worker is used
 * by one thread at a time (it may be handed from one thread to another). */
#ifndef LORE_API_POOL_H
#define LORE_API_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "coll.h"
#include "err.h"
#include "search.h"

typedef struct pool pool;
typedef struct pool_worker pool_worker;

/* root: the data root (copied). nworkers >= 1; reload_ms: how often the reloader looks for
 * new generations (>= 10). */
int pool_new(const char *root, size_t nworkers, long reload_ms, pool **out, lore_err *err);
void pool_free(pool *p);

/* Checks out a free worker, waiting while all are busy. */
pool_worker *pool_get(pool *p);
void pool_put(pool *p, pool_worker *w);

typedef struct pool_view {
    coll *c;
    searcher *s;
    answerer *a;          /* NULL until pool_answerer is called */
    uint64_t generation;  /* the pinned index generation */
    int opened;           /* 1: this request opened the collection in its worker */
} pool_view;

/* Pins collection `name` in worker w for one request, opening it when the worker has not
 * yet. LORE_ENOTFOUND when there is no such collection; LORE_EDB when storage fails (or an
 * indexer kept committing during every attempt to open). */
int pool_pin(pool_worker *w, const char *name, pool_view *out, lore_err *err);
/* The pinned collection's answerer, created on first use. */
int pool_answerer(pool_worker *w, pool_view *v, lore_err *err);
/* Ends the request's use of the collection (its snapshot stays for the next request). */
void pool_unpin(pool_worker *w);
/* The epoch of collection `name`'s answer configuration (its config.json): 1 when first
 * read, one more each time the reloader finds the file changed and loads it (the
 * collection's answerers are then made again with it). Loads it when no request has yet.
 * Answers cached under one epoch must not be served under another. */
int pool_config_epoch(pool *p, const char *name, uint64_t *epoch, lore_err *err);
/* The newest generation any worker has loaded collection `name` at (what a request would
 * see at most). LORE_ENOTFOUND when no worker has opened it yet. */
int pool_generation(pool *p, const char *name, uint64_t *gen);
/* Collections reopened at a new generation so far (for metrics). */
unsigned long pool_reloads(pool *p);
/* Calls fn for each collection whose answer environment exists (one that has answered at
 * least once), under the pool's lock: fn must be quick and must not call back into the pool. */
void pool_each_env(pool *p, void (*fn)(void *ctx, const char *name, answer_env *env),
                   void *ctx);

#endif
