/* vmemo: a bounded memo of text -> vector, for embedders that see the same texts again.
 *
 * Answering embeds every sentence of the top sources for each question (extract.c,
 * validate.c), and a help center's popular articles come back question after question: the
 * same sentences, embedded again each time. A vector is a pure function of the text and
 * the embedder, so a memo keyed by the text itself is never stale, across re-indexing too
 * (a changed sentence is a different key); nothing needs invalidating.
 *
 * Keys are the whole text (compared byte for byte, found by XXH3 hash), so a hit gives
 * exactly the vector the embedder gave. Bounded by entry count: when the table is full it is
 * emptied and starts over, which costs one round of re-embedding and keeps memory fixed at
 * about capacity * (dim * 4 bytes + text) without the bookkeeping of an LRU.
 *
 * Ownership: vmemo_new returns a memo freed with vmemo_free; vmemo_get's pointer is valid
 * until the next vmemo_put or vmemo_free. Threads: one thread at a time (an embedder's). */
#ifndef LORE_VMEMO_H
#define LORE_VMEMO_H

#include <stddef.h>

#include "err.h"

typedef struct vmemo vmemo;

/* dim >= 1; capacity >= 1 entries (rounded up internally). */
int vmemo_new(int dim, size_t capacity, vmemo **out, lore_err *err);
void vmemo_free(vmemo *m);

/* The vector stored for text[0..len), or NULL. */
const float *vmemo_get(vmemo *m, const char *text, size_t len);
/* Stores a copy of text and of its vector (dim floats). LORE_ENOMEM leaves the memo as it
 * was (callers may ignore it: the memo only saves work). */
int vmemo_put(vmemo *m, const char *text, size_t len, const float *vec);

/* Counters for tests and stats: lookups that hit, and times the table was emptied. */
size_t vmemo_hits(const vmemo *m);
size_t vmemo_resets(const vmemo *m);
size_t vmemo_count(const vmemo *m);

#endif
