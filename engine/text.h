/* text: the one text analysis chain, shared by indexing (through the FTS5 tokenizer) and by
 * the query builder, so both sides produce identical terms.
 *
 * Chain: UTF-8 decode (invalid bytes are treated as separators, never read past the end)
 * -> NFKC compatibility mapping + case fold + strip combining marks (utf8proc)
 * -> word split (letters and digits form words)
 * -> runs of Han / Hiragana / Katakana / Hangul become overlapping character bigrams
 *    (a single CJK character alone is emitted as a unigram)
 * -> other words: stop words dropped (per language), then Snowball stemmed for the locale.
 *
 * Choices (details in text.c): "don't" -> "dont" (apostrophes inside a word are removed, a
 * trailing possessive "'s" is dropped: "customer's" -> "customer"; French/Italian/Catalan/
 * Irish elided articles are dropped: "l'homme" -> "homme"); '.' joins letters and digits
 * ("3.14", "e.g"), ',' joins digits ("1,000"), '_' and ':' split. English: Lucene's classic
 * 33 stop words and Snowball "porter" (original Porter, as Anserini). Numbers are kept.
 *
 * Every token carries the byte range [start, end) of its source in the ORIGINAL input,
 * so FTS5 snippets and highlights work on the display text.
 *
 * Thread safety: a text_analyzer is used by one thread at a time (Snowball stemmers keep
 * state). Create one per thread or per connection; creation is cheap. */
#ifndef LORE_TEXT_H
#define LORE_TEXT_H

#include <stddef.h>

#include "err.h"

typedef struct text_analyzer text_analyzer;

/* Called once per token. `term` is the analysed term (not NUL-terminated, `len` bytes) and is
 * valid only during the call. [start, end) are byte offsets into the analysed input.
 * Return 0 to continue; any non-zero value stops analysis and is returned by text_analyze. */
typedef int (*text_token_fn)(void *ctx, const char *term, size_t len, size_t start, size_t end);

/* Creates an analyzer for a locale such as "en", "en-US", "de", "zh-CN", "pt_BR".
 * The language is the part before '-', '_', '.' or '@', matched case-insensitively against
 * ISO 639-1 codes (and "nb"/"nn" -> norwegian, "in" -> indonesian) or Snowball algorithm
 * names. Unknown or NULL locales (including zh, ja, ko: CJK text is bigrammed whatever the
 * locale) fall back to English. Returns 0, or LORE_ENOMEM. */
int text_analyzer_new(const char *locale, text_analyzer **out, lore_err *err);
void text_analyzer_free(text_analyzer *a);

/* Switches the stemming language; a no-op when it is already `locale`. 0 or LORE_ENOMEM. */
int text_analyzer_set_locale(text_analyzer *a, const char *locale);

/* The Snowball algorithm name in use ("porter" for English, "german", "french", ...).
 * Never NULL. */
const char *text_analyzer_language(const text_analyzer *a);

/* Analyses s[0..n) and calls fn for each token in order. Returns 0, the callback's
 * non-zero value, or LORE_ENOMEM. Terms are at most TEXT_MAX_TERM bytes (longer words are
 * truncated at a character boundary). */
#define TEXT_MAX_TERM 64
int text_analyze(text_analyzer *a, const char *s, size_t n, text_token_fn fn, void *ctx);

/* 1 when s[0..n) is valid UTF-8 (no overlongs, no surrogates), else 0. */
int text_utf8_valid(const char *s, size_t n);

/* Counts the tokens a chunker budgets: words, plus one per CJK character. Cheap: no
 * normalization, no stemming. */
size_t text_count_tokens(const char *s, size_t n);

#endif
