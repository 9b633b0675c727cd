/* chunk: heading-aware chunking of an article into retrievable passages.
 *
 * Sections start at headings. A section's blocks are packed into chunks of at most
 * max_tokens (counted by text_count_tokens); a long paragraph is split at sentence bounds,
 * then at word bounds; consecutive chunks of one section share about overlap_tokens of text.
 * A code block is never split (it may exceed the budget alone). A table split across chunks
 * repeats its header row at the top of every chunk. Each chunk carries its heading path:
 * "Title > Section > Subsection".
 *
 *
 * Details the index relies on:
 *   - chunk text holds the section's body only; headings live in heading_path (index it too).
 *   - an H1 equal to the title is left out of the path; a section with no body (a heading
 *     followed by another heading) gives no chunk, and an article with a title but no body
 *     gives no chunks at all (*out NULL, *n 0): the title alone answers nothing.
 *   - overlap: the chunk after a cut opens with the trailing whole sentence(s) of the
 *     previous chunk's last paragraph, up to overlap_tokens (its trailing words when one
 *     sentence is longer); only when the next text is prose, never across sections, never
 *     from code or tables. Word runs cut from an over-long sentence are at most
 *     max_tokens - overlap_tokens so the overlap still fits.
 *   - every chunk is within max_tokens except a code block larger than the budget (alone in
 *     its chunk) and a table row that with its header alone exceeds it.
 *   - the result depends only on the article and the options: same input, same chunks.
 *
 * Ownership: chunk_article allocates *out (an array of *n chunks); chunk_free_all frees it. */
#ifndef LORE_CHUNK_H
#define LORE_CHUNK_H

#include <stddef.h>

#include "article.h"
#include "err.h"

typedef struct chunk_options {
    size_t max_tokens;     /* default 200 */
    size_t overlap_tokens; /* default 30 */
} chunk_options;

#define CHUNK_OPTIONS_DEFAULT {200, 30}

typedef struct chunk {
    char *heading_path; /* "Title > Section > Sub" */
    char *text;         /* display text of the chunk, blocks separated by blank lines */
    int ordinal;        /* 0-based position in the article */
} chunk;

/* opts NULL means CHUNK_OPTIONS_DEFAULT. 0, LORE_EINVAL (max_tokens 0, or overlap_tokens >=
 * max_tokens) or LORE_ENOMEM; on failure *out is NULL and *n 0. */
int chunk_article(const article *a, const chunk_options *opts, chunk **out, size_t *n,
                  lore_err *err);
void chunk_free_all(chunk *chunks, size_t n);

/* Writes an identity of the chunker and its settings (e.g. "chunk-v1:200:30") for
 * fingerprints: changing the algorithm or settings changes it. */
void chunk_options_id(const chunk_options *opts, char *buf, size_t buflen);

#endif
