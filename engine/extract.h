/* extract: extractive answers, for collections with no LLM configured (the default).
 *
 * The answer is made of sentences quoted from the best sources: every sentence of the first
 * `max_sources` sources is scored by how much of the question it covers (the share of the
 * question's analysed terms it contains, text.h) plus, with an embedder that has vectors,
 * half the cosine between the sentence and the question; a small bonus goes to higher-ranked
 * sources. The `max_sentences` best sentences scoring at least `min_score` are kept, in
 * source order, each quoted and followed by its citation [n]. Table rows, code fences and
 * bare headings are never quoted. No sentence reaching min_score means no answer.
 *
 * Threads: the analyzer and embedder are used by the calling thread only.
 * Ownership: extract_result owns text and cited (extract_result_free). */
#ifndef LORE_EXTRACT_H
#define LORE_EXTRACT_H

#include <stddef.h>

#include "embed.h"
#include "err.h"
#include "text.h"

typedef struct extract_options {
    size_t max_sentences;    /* default 3 when 0 */
    size_t max_sources;      /* default 3 when 0 */
    double min_score;        /* e.g. 0.3 */
    text_analyzer *analyzer; /* required */
    embedder *emb;           /* may be NULL */
    /* The question's vector when the caller has it (search_results.query_vec: embed_dim(emb)
     * floats), else NULL and the question is embedded here. */
    const float *question_vec;
} extract_options;

typedef struct extract_result {
    char *text;              /* NULL when nothing matched */
    int *cited;              /* n_sources flags */
    size_t n_sentences;
    double best;             /* the best sentence's score */
} extract_result;

int extract_answer(const char *question, const char *const *sources, size_t n_sources,
                   const extract_options *o, extract_result *out, lore_err *err);
void extract_result_free(extract_result *r);

#endif
