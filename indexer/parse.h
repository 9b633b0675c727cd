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
 * Article fields:
 *   id      front matter id / <meta name="lore:id"> / record id or _id (numbers printed as
 *           integers); else `rel` for files and "<rel>#<n>" (n = 1-based record number) for
 *           a JSON/JSONL record without one.
 *   title   front matter title / <title> / record title (or name); else the first H1, whose
 *           block is then removed (the chunker would repeat it); else, for files, the file
 *           name without extension; for a BEIR record with an empty title, "" (its text never
 *           becomes a title). Never NULL.
 *   line    1 for files, the record's first line in JSON/JSONL.
 *   blocks  `line` of each block: its source line in files (Markdown: the line of its first
 *           text, fenced code at the fence; see parse_md.c); in JSON/JSONL the record's line.
 * A record with neither title nor body is skipped with a warning; a record with a title and
 * no body is emitted with no blocks (the chunker makes no chunk of it). A record whose used
 * string fields are not valid UTF-8 is skipped with a warning (JSON files are not rejected
 * whole for encoding, so one bad record does not cost the others).
 *
 * Ownership: `sink` receives a pointer to an article the parser built; the article's contents
 * (strings and blocks) now belong to the sink, which must article_free them, either at once
 * or later after copying the struct by value (`article mine = *a;`). The struct itself is
 * the parser's and is not valid after the sink returns. The parser never touches an
 * article again once passed, whatever the sink returns. */
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

/* Parses one file. `rel` is the id base for file formats (path relative to the indexed root;
 * NULL means `path`). Returns 0 (also when the file was skipped with a warning, including an
 * unsupported extension), a sink's non-zero value (parsing stops at once), or LORE_ENOMEM /
 * LORE_EIO for failures that should stop the run. A file that cannot be opened or read is
 * LORE_EIO, not a warning: treating it as empty would make an incremental run delete its
 * articles. `cb->sink` and `cb->warn` may be NULL (articles are then freed, warnings
 * dropped). */
int parse_file(const char *path, const char *rel, const parse_callbacks *cb, lore_err *err);

/* Parses an in-memory body of the given format ("markdown", "html", "text") into the
 * blocks of `a` (title/id fields untouched unless found in the body and still empty).
 * Markdown honours front matter; "text" takes its first non-empty line as title when the
 * title is empty. Block lines count from 1 at data[0]. a->title is non-NULL afterwards.
 * The caller owns `a` throughout. 0, LORE_EINVAL (unknown format) or LORE_ENOMEM. */
int parse_body(const char *format, const char *data, size_t len, article *a, lore_err *err);

#endif
