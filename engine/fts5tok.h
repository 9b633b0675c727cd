/* fts5tok: lore's FTS5 tokenizer and BM25 ranking function, registered on a connection.
 *
 * Tokenizer "lore": document text is analysed by text_analyze (see text.h) with the
 * connection's current locale (fts5tok_set_locale), keeping byte offsets for snippet() and
 * highlight(). Query text (FTS5_TOKENIZE_QUERY) is taken as ALREADY-ANALYSED terms
 * separated by spaces and passed through verbatim: the query builder analyses the question
 * once with text_analyze and quotes each term, so terms are never stemmed twice. (So a raw
 * MATCH 'Running' finds nothing: write MATCH '"run"'.) The tokenizer takes no arguments:
 * tokenize='lore' exactly.
 *
 * snippet() and highlight() re-tokenize the stored text with the CURRENT locale; token
 * positions depend on the locale's stop words, so set the locale of the rows being
 * highlighted (they are exact when it matches the locale the row was indexed with).
 * Deleting rows of an external-content table likewise needs the locale they were
 * inserted with.
 *
 * Auxiliary function lore_bm25(fts_table, k1, b, idf_1, ..., idf_n): Lucene-style BM25 over
 * all columns taken as one field (term frequency = instances in any column, length = sum of
 * column sizes, average length over the whole table). idf_i is the idf of the query's i-th
 * phrase, computed by the caller (Lucene: ln(1 + (N - df + 0.5) / (df + 0.5))). Phrases
 * beyond the given idfs score 0; extra idfs are ignored. Returns the score as a positive
 * double (higher is better: ORDER BY lore_bm25(...) DESC, not FTS5's ascending `rank`).
 * Score per phrase: idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)), with exact
 * document lengths (Lucene stores them lossily in one byte, a small source of difference).
 * Non-numeric k1, b or idf arguments are an SQL error. Needs detail=full (the default).
 * A row's length comes from the table given to fts5tok_set_doclens when it has the row, else
 * from FTS5 (xColumnSize, a lookup in the table's docsize table per matched row).
 *
 * Lifetime: the context is owned by the connection: it is freed when the connection closes.
 * The locale may be changed between statements (e.g. before inserting or deleting the rows of
 * an article in another language). A context is used by its connection's thread only. */
#ifndef LORE_FTS5TOK_H
#define LORE_FTS5TOK_H

#include <sqlite3.h>
#include <stdint.h>

#include "err.h"

typedef struct fts5tok_ctx fts5tok_ctx;

/* Registers tokenizer "lore" and function "lore_bm25" on db. 0, LORE_EDB or LORE_ENOMEM. */
int fts5tok_register(sqlite3 *db, fts5tok_ctx **out, lore_err *err);
/* Row lengths for lore_bm25: len[rowid] (0 <= rowid < n) is the row's length over all
 * columns in tokens, or -1 when unknown (lore_bm25 then asks FTS5). Looking lengths up here
 * instead of in FTS5's docsize table per matched row takes a fifth off a BM25 query. The
 * table is borrowed: the caller keeps it valid and true for what the connection reads (one
 * snapshot) until it sets another one, or NULL for none. */
void fts5tok_set_doclens(fts5tok_ctx *ctx, const int32_t *len, int64_t n);

/* Sets the stemming locale used for documents tokenized from now on. 0 or LORE_ENOMEM. */
int fts5tok_set_locale(fts5tok_ctx *ctx, const char *locale);

#endif
