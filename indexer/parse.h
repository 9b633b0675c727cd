/* parse: turns source files into articles.
 *
 * Formats, chosen by file name:
 *   .md .markdown         Markdown (md4c), with optional YAML-style front matter between
 *                         "---" lines: title, id, url, locale, updated_at
 *   .html .htm            HTML (gumbo): <title> or first <h1>, <html lang>, <link rel=canonical>
 *   .txt                  plain text: first non-empty line is the title, blank lines split
 *                         paragraphs
 *   .json                 a help-center export: an array of objects, or {"articles": [...]};
 *                         each {id, title, body (HTML or Markdown), url, locale, updated_at}
 *   .jsonl                one object per line; the help-center shape above, or the BEIR shape
 *                         {"_id", "title", "text"} (corpus.jsonl)
 *
 * Bad input never aborts a run: a file that cannot be used at all (not UTF-8, binary, empty,
 * larger than PARSE_MAX_FILE bytes, malformed JSON) is reported through `warn` and yields no
 * article; in JSON/JSONL, a bad record is reported with its line and the others still parse.
 * Messages name the file, the line when known, and what is wrong.
 *
 * Ownership: each article passed to `sink` belongs to the sink, which must article_free it. */
#ifndef LORE_PARSE_H
#define LORE_PARSE_H

#include <stddef.h>

#include "article.h"
#include "err.h"

#define PARSE_MAX_FILE (32u * 1024u * 1024u)

typedef struct parse_callbacks {
    /* Receives each article; return non-zero to stop (that value is returned by parse_*). */
    int (*sink)(void *ctx, article *a);
    /* Receives each problem: file, 1-based line (0 when unknown), message. */
    void (*warn)(void *ctx, const char *path, int line, const char *msg);
    void *ctx;
} parse_callbacks;

/* 1 when the file name has an extension lore parses, else 0. */
int parse_supported(const char *path);

/* Parses one file. `rel` is the id base for file formats (path relative to the indexed root).
 * Returns 0 (also when the file was skipped with a warning), a sink's non-zero value, or
 * LORE_ENOMEM / LORE_EIO for failures that should stop the run. */
int parse_file(const char *path, const char *rel, const parse_callbacks *cb, lore_err *err);

/* Parses an in-memory body of the given format ("markdown", "html", "text") into the
 * blocks of `a` (title/id fields untouched unless found in the body and still empty). */
int parse_body(const char *format, const char *data, size_t len, article *a, lore_err *err);

#endif
