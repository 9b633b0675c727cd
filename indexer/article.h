/* article: the parsed form of one help-center article, as every parser produces it and the
 * chunker consumes it.
 *
 * Ownership: an article owns all its strings and blocks; article_free releases them.
 * Strings are NUL-terminated, valid UTF-8 (parsers reject or repair invalid input). */
#ifndef LORE_ARTICLE_H
#define LORE_ARTICLE_H

#include <stddef.h>

typedef enum article_block_kind {
    BLOCK_HEADING,   /* level 1..6; text is the heading text */
    BLOCK_PARAGRAPH, /* a paragraph, a list item or a quote, as plain text */
    BLOCK_CODE,      /* a code block: text kept verbatim, never split */
    BLOCK_TABLE      /* text: one row per line, cells separated by " | ";
                        header: the header row in the same form (may be NULL) */
} article_block_kind;

typedef struct article_block {
    article_block_kind kind;
    int level;    /* headings only */
    char *text;
    char *header; /* tables only; may be NULL */
    int line;     /* 1-based source line where the block starts, 0 if unknown */
} article_block;

typedef struct article {
    char *id;         /* stable external id: export id, or the file path relative to its root */
    char *title;      /* may be "" but never NULL after parsing */
    char *url;        /* may be NULL */
    char *locale;     /* e.g. "en", "zh-CN"; may be NULL (collection default) */
    char *updated_at; /* as given by the source; may be NULL */
    char *source;     /* the file it came from */
    int line;         /* line of the record in a JSON/JSONL export, else 1 */
    article_block *blocks;
    size_t nblocks;
    size_t cap;
} article;

/* 0 or LORE_ENOMEM. Copies text and header. */
int article_add_block(article *a, article_block_kind kind, int level, const char *text,
                      size_t len, const char *header, int line);
void article_free(article *a);

#endif
