/* ingest: the incremental indexing pipeline behind `lore index`.
 *
 *   walk PATHs -> parse (parse.h) -> chunk (chunk.h) -> fingerprint (xxh3 over heading,
 *   text, chunker settings and embedder id) -> diff against the store -> embed only
 *   chunks whose fingerprint has no stored vector -> one SQLite transaction per batch of
 *   articles -> vector index updated -> deletions -> FAISS published with the generation.
 *
 * An article is unchanged when its fingerprint (over its chunks' fingerprints and its
 * metadata) matches the store: nothing is written or embedded for it. Articles stored from
 * a file under one of the PATHs that no longer produces them are deleted, except those from
 * files that reported problems this run (bad input loses nothing).
 *
 * Articles that name no locale are indexed in the collection's (meta "locale", set by
 * `lore index --locale`), the one questions are analysed with; the row records it.
 *
 * Crash safety: each batch commits on its own, so a killed run leaves every article either
 * as before or as new; the FAISS file is published last and rebuilt from SQLite when its
 * generation is stale. The next run completes the work.
 *
 * One writer: a run that writes holds <collection>/index.lock (flock, released by the kernel
 * even on kill -9); a second run on the same collection fails at once with LORE_EBUSY.
 * Readers (search, serve) never take it.
 *
 * Ownership: ingest_run borrows the collection, opened with STORE_CREATE. */
#ifndef LORE_INGEST_H
#define LORE_INGEST_H

#include <stddef.h>
#include <stdio.h>

#include "chunk.h"
#include "coll.h"
#include "err.h"

typedef struct ingest_options {
    const char *const *paths;
    size_t npaths;
    chunk_options chunk;
    int dry_run;          /* report what would change; write and embed nothing */
    size_t batch;         /* articles per transaction (default 256) */
    FILE *progress;       /* progress lines go here (NULL: none) */
    double progress_secs; /* seconds between progress lines (default 2) */
    FILE *warnings;       /* one line per bad input (NULL: none) */
} ingest_options;

typedef struct ingest_stats {
    size_t files, articles;
    size_t added, changed, unchanged, deleted;
    size_t chunks_embedded, chunks_reused;
    size_t problems; /* bad inputs reported */
    double seconds;
} ingest_stats;

void ingest_options_default(ingest_options *o);

/* Errors: LORE_ENOTFOUND for a PATH that does not exist; LORE_EIO for a directory or file
 * that exists but cannot be read (treating it as empty would delete its articles);
 * LORE_EBUSY when another run holds the lock; LORE_ENET from the embedder. Bad content in
 * a file is not an error: it is reported through `warnings` and counted in `problems`. */
int ingest_run(coll *c, const ingest_options *o, ingest_stats *st, lore_err *err);

#endif
