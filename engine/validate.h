/* validate: checks a generated answer against the sources it was given.
 *
 * - Citations: every [n] (also [n, m] and [n][m]) must name a given source (1..n_sources);
 *   one that does not makes the answer invalid (an invented citation).
 * - Not covered: an answer that says the sources do not cover the question (the prompt's
 *   PROMPT_NOT_COVERED or a paraphrase like "not in the sources") and cites nothing is a
 *   "not covered" verdict, which callers turn into a refusal.
 * - Support: the answer is split into sentences; each sentence with content words must be
 *   supported by the sources it cites (all sources when it cites none):
 *     lexical: the share of its analysed terms (text.h: stemmed, stop words dropped) found in
 *              the cited sources >= min_lexical, and
 *     semantic: the best cosine between its embedding and the embeddings of the cited
 *              sources' sentences >= min_semantic (skipped without an embedder, or one with no
 *              vectors such as "none").
 *   score = supported sentences / checked sentences (1 when nothing needed checking).
 *
 * Threads: the analyzer and embedder passed in are used by the calling thread only.
 * Ownership: validate_result holds a malloc'd `cited` array (validate_result_free). */
#ifndef LORE_VALIDATE_H
#define LORE_VALIDATE_H

#include <stddef.h>

#include "embed.h"
#include "err.h"
#include "text.h"

typedef struct validate_options {
    double min_lexical;      /* e.g. 0.35 */
    double min_semantic;     /* e.g. 0.45 */
    text_analyzer *analyzer; /* required */
    embedder *emb;           /* may be NULL: no semantic check */
} validate_options;

typedef struct validate_result {
    int not_covered;         /* the model said the sources don't cover it */
    int invalid_citation;    /* the first cited number that names no source, 0 when none */
    int *cited;              /* n_sources flags: source i+1 was cited */
    size_t n_sources;
    size_t n_checked, n_supported;
    double score;            /* n_supported / n_checked, 1 when n_checked is 0 */
    char detail[256];        /* the first unsupported sentence, shortened; "" when none */
} validate_result;

/* A sentence: bytes [start, end) of the text. */
typedef struct validate_span {
    size_t start, end;
} validate_span;

/* Splits text into sentences (at . ! ? followed by a space or the end, at line breaks, and
 * at CJK full stops), trimmed of surrounding blanks and list markers; empty ones skipped.
 * *spans is malloc'd (caller frees). */
int validate_sentences(const char *text, validate_span **spans, size_t *n, lore_err *err);

/* 1 when the text reads as "the sources don't cover this". */
int validate_says_not_covered(const char *text);

int validate_answer(const char *answer, const char *const *sources, size_t n_sources,
                    const validate_options *o, validate_result *out, lore_err *err);
void validate_result_free(validate_result *r);

/* The share of the analysed terms of s[0..n) that occur in `terms` (a sorted, deduplicated
 * array from validate_terms). -1 when s has no terms. */
double validate_overlap(text_analyzer *a, const char *s, size_t n, char *const *terms,
                        size_t n_terms);
/* Analysed terms of s, sorted and deduplicated; each string and the array malloc'd
 * (validate_terms_free). */
int validate_terms(text_analyzer *a, const char *s, char ***terms, size_t *n, lore_err *err);
void validate_terms_free(char **terms, size_t n);

#endif
