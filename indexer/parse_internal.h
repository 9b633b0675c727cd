/* parse_internal: helpers shared by the parse_*.c files; not part of the indexer's API.
 *
 * Every function here returns 0 or a LORE_E* code (LORE_ENOMEM in practice) and fills
 * `err` on failure, unless stated otherwise. */
#ifndef LORE_PARSE_INTERNAL_H
#define LORE_PARSE_INTERNAL_H

#include <stddef.h>

#include "article.h"
#include "err.h"
#include "parse.h"
#include "sbuf.h"

/* Maps byte offsets of one buffer to 1-based line numbers. Offsets are usually asked for
 * in increasing order, so the counter resumes from the last answer instead of rescanning;
 * a smaller offset restarts from the beginning. */
typedef struct parse_lines {
    const char *data;
    size_t len;
    size_t off;
    int line;
} parse_lines;

void parse_lines_init(parse_lines *lc, const char *data, size_t len);
int parse_lines_at(parse_lines *lc, size_t off);

/* Sends a warning through cb->warn (a no-op when cb or cb->warn is NULL). The message is
 * truncated to a few hundred bytes. */
void parse_warnf(const parse_callbacks *cb, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Hands `a` to the sink (which takes its contents) and returns the sink's value; without a
 * sink the article is freed. Either way `a` must not be used by the caller afterwards. */
int parse_emit(const parse_callbacks *cb, article *a);

/* Replaces *field with a copy of s[0..n) when *field is NULL or "". */
int parse_set_if_empty(char **field, const char *s, size_t n, lore_err *err);

/* Appends s[0..n) with runs of whitespace (ASCII and U+00A0) folded to one space; no space
 * is added at the start of an empty buffer or after an existing space or newline. */
int parse_add_collapsed(sbuf *b, const char *s, size_t n);

/* Trims ASCII whitespace at both ends of s[0..*n): returns the new start, updates *n. */
const char *parse_trim(const char *s, size_t *n);

/* Adds a block after trimming its text; blocks that trim to nothing are dropped. Code keeps
 * its leading indentation and loses only trailing newlines and spaces. */
int parse_add_block(article *a, article_block_kind kind, int level, const char *text,
                    size_t len, const char *header, int line, lore_err *err);

/* When the article has no title, the first level-1 heading becomes the title and its block
 * is removed, so the chunker does not repeat it as a section. */
int parse_title_from_h1(article *a, lore_err *err);

/* Format back ends: append blocks to `a`, fill empty metadata they find. `base_line` is
 * the line of data[0] in the source file. */
int parse_md_body(const char *data, size_t len, int base_line, article *a, lore_err *err);
int parse_html_body(const char *data, size_t len, int base_line, article *a, lore_err *err);
/* Plain text; when `take_title` and the article has no title, its first non-empty line
 * becomes the title. */
int parse_text_body(const char *data, size_t len, int base_line, int take_title, article *a,
                    lore_err *err);

/* Decodes one HTML character reference ("&amp;", "&#233;") through gumbo and appends the
 * result; unknown references are appended verbatim. */
int parse_html_decode_entity(const char *s, size_t n, sbuf *out);

/* JSON help-center exports. `data` is NUL-terminated at data[len]. Both return 0 (bad
 * records and malformed files only warn), a sink's non-zero value, or LORE_ENOMEM. */
int parse_json_file(const char *path, const char *rel, const char *data, size_t len,
                    const parse_callbacks *cb, lore_err *err);
int parse_jsonl_file(const char *path, const char *rel, const char *data, size_t len,
                     const parse_callbacks *cb, lore_err *err);

#endif
