/* spm: a SentencePiece unigram tokenizer, for the Universal Sentence Encoder lite.
 *
 * The vocabulary is the model package's vocab.json: [[piece, score], ...], where the index
 * of a piece is its id. Encoding mirrors the reference implementation exactly (its text
 * normalization, the U+2581 word-boundary marker, Viterbi search over piece scores, and the
 * handling of characters no piece covers), so token ids match it one for one.
 *
 * Ownership: spm_load returns a tokenizer freed with spm_free. It is immutable after
 * loading: spm_encode may run from many threads at once. */
#ifndef LORE_SPM_H
#define LORE_SPM_H

#include <stddef.h>

#include "err.h"

typedef struct spm spm;

/* LORE_ENOTFOUND when the file is missing; LORE_EINVAL when it is not a vocabulary. */
int spm_load(const char *vocab_json_path, spm **out, lore_err *err);
void spm_free(spm *s);

size_t spm_vocab_size(const spm *s);

/* Encodes text[0..n) into ids. Writes at most max_ids ids and sets *nids to the number the
 * full text has (so a caller can tell it was cut and call again with more room).
 * 0, LORE_ENOMEM. Invalid UTF-8 bytes are treated as the reference treats them. */
int spm_encode(const spm *s, const char *text, size_t n, int *ids, size_t max_ids, size_t *nids,
               lore_err *err);

#endif
