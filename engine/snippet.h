/* snippet: the one-line excerpt shown under a search hit, built in C from the chunk's body.
 *
 * Why here and not FTS5's snippet(): the searcher already holds the body and the question's
 * analysed terms, so a second FTS5 query per hit (which re-parses the MATCH expression,
 * reads the terms' postings again and tokenizes the row twice) is pure overhead. One
 * text_analyze pass over the body (the analyzer the index used, so the same terms, stems and
 * CJK bigrams) finds the matches and their byte offsets.
 *
 * snippet_make: a window of `max_tokens` analysed tokens (stop words are not tokens, as in
 * the FTS5 index) chosen among the windows around each match and the windows starting at
 * the sentence holding each match. The best window covers the most distinct query terms;
 * among equals one that starts the text or a sentence; then the most occurrences; then the
 * earliest. (FTS5's snippet() weighs the same things; the sentence start goes before the
 * occurrence count because a window cut mid-sentence reads badly.) Every matched word is
 * wrapped in "**" in the body's own casing and inflection ("refund" highlights
 * "**Refunds**"); "..." marks where the window cuts the body at the start or the end. Cuts
 * fall on token boundaries, which are UTF-8 character boundaries. A body with no match (or
 * no terms) gives the window at its start, without highlights.
 *
 * Both functions return the snippet tidied for one-line display: white space runs become one
 * space (trimmed at both ends), and adjacent highlights ("**a****b**", CJK bigrams side by
 * side) merge into one.
 *
 * Ownership: the returned string is malloc'd; the caller frees it. Nothing is borrowed past
 * the call.
 * Threads: snippet_make uses the caller's analyzer (and its current locale: set it to the
 * chunk's with text_analyzer_set_locale first, as the index analysed the chunk with it), so
 * it runs on one thread at a time per analyzer, like text_analyze. snippet_lead is pure. */
#ifndef LORE_SNIPPET_H
#define LORE_SNIPPET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "text.h"

/* Tokens in a snippet window, as the searcher asked FTS5's snippet() for. */
#define SNIPPET_TOKENS 40

/* The snippet of body for the analysed query terms terms[0..nterms) (as text_analyze
 * produced them; duplicates are allowed). max_tokens 0 is taken as 1. *out is set to the
 * snippet. 0, or LORE_ENOMEM (and *out NULL). */
int snippet_make(text_analyzer *an, const char *body, const char *const *terms, size_t nterms,
                 size_t max_tokens, char **out, lore_err *err);

/* A bounded cache of bodies' analyses for snippet_make_cached, by a caller's key (a chunk
 * id): a hit chunk comes back query after query, and analysing its body (tokenizing,
 * stemming) was most of a snippet's cost. The analysis does not depend on the question, so
 * one serves every query. At most max_tokens analysed tokens are kept (24 bytes each); when
 * full it is emptied. Staleness: equal keys must mean equal bodies and analyzer locales until
 * snippet_cache_clear (the searcher clears it when the index generation changes).
 * Ownership: snippet_cache_new's cache is freed with snippet_cache_free. Threads: one thread
 * at a time. 0 or LORE_ENOMEM. */
typedef struct snippet_cache snippet_cache;
int snippet_cache_new(size_t max_tokens, snippet_cache **out);
void snippet_cache_free(snippet_cache *c);
void snippet_cache_clear(snippet_cache *c);
/* Bodies whose analysis the cache holds now. */
size_t snippet_cache_entries(const snippet_cache *c);

/* snippet_make through the cache: the body's analysis is taken from c under key when there,
 * else made with an and kept. c NULL or key 0: no caching. The same snippet either way
 * (terms are matched by a 64-bit hash and length of their text). */
int snippet_make_cached(snippet_cache *c, int64_t key, text_analyzer *an, const char *body,
                        const char *const *terms, size_t nterms, size_t max_tokens, char **out,
                        lore_err *err);

/* The start of the body (about 240 bytes, cut at a space when one is near) with "..." when
 * cut: the snippet of a hit the lexical side did not match. 0, or LORE_ENOMEM. */
int snippet_lead(const char *body, char **out, lore_err *err);

#endif
