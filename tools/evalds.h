/* evalds: a BEIR-format dataset opened for lore eval and lore tune: its queries and qrels,
 * a scratch collection holding its corpus (indexed once, reused while the corpus and settings
 * are unchanged), the answerability of each query, and a group key per query for folds.
 *
 * Out-of-scope simulation (oos > 0): a fixed share of the corpus's groups (StackFAQ's
 * "thread", else each document) is chosen by a hash of the group key, so the choice never
 * changes between runs, and left out of the index; a query whose relevant documents were all
 * left out has no answer in the index and must be refused.
 *
 * Ownership: evalds_open fills a caller-owned evalds; evalds_close frees it. */
#ifndef LORE_EVALDS_H
#define LORE_EVALDS_H

#include <stddef.h>

#include "chunk.h"
#include "coll.h"
#include "evalm.h"
#include "search.h"

enum {
    EVALDS_SKIP = 0,    /* not judged in this split: not evaluated */
    EVALDS_ANSWER = 1,  /* has a relevant document in the index */
    EVALDS_NOANSWER = 2 /* is_impossible, or every relevant document was left out */
};

typedef struct evalds_options {
    const char *dataset, *split, *embedder, *data;
    chunk_options chunk;
    int reindex;
    double oos; /* share of groups left out of the index, 0..0.9 */
} evalds_options;

typedef struct evalds {
    evalm_queries qs;
    evalm_qrels qr;
    coll *c;
    char **group; /* per query: fold group key */
    int *status;  /* per query: EVALDS_* */
    size_t answerable, noanswer;
} evalds;

/* The options lore eval and lore tune share, by their getopt codes: 'S' --split, 'm' --mode
 * (sets *mode_given), 'E' --embedder, 'W' --dense-weight, 'N' --candidates,
 * 'O' --out-of-scope, 'D' --data. Returns 0 when it took the option, -1 when ch is not one
 * of these, CLI_USAGE after printing the error for a bad value. */
int evalds_option(int ch, const char *arg, evalds_options *ds, search_options *so,
                  int *mode_given);

/* Opens (and indexes when needed) the dataset. Prints its own errors; returns a CLI_ code. */
int evalds_open(const evalds_options *o, evalds *out);
void evalds_close(evalds *d);

/* A stable 64-bit hash of a string (for folds and out-of-scope choices). */
unsigned long long evalds_hash(const char *s);

#endif
