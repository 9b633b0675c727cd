#include "article.h"

#include "err.h"

#include <stdlib.h>
#include <string.h>

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int article_add_block(article *a, article_block_kind kind, int level, const char *text,
                      size_t len, const char *header, int line)
{
    if (a->nblocks == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        article_block *p = realloc(a->blocks, cap * sizeof *p);
        if (p == NULL)
            return LORE_ENOMEM;
        a->blocks = p;
        a->cap = cap;
    }
    article_block *b = &a->blocks[a->nblocks];
    b->kind = kind;
    b->level = level;
    b->line = line;
    b->text = dup_n(text, len);
    b->header = header ? dup_n(header, strlen(header)) : NULL;
    if (b->text == NULL || (header && b->header == NULL)) {
        free(b->text);
        free(b->header);
        return LORE_ENOMEM;
    }
    a->nblocks++;
    return 0;
}

void article_free(article *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->nblocks; i++) {
        free(a->blocks[i].text);
        free(a->blocks[i].header);
    }
    free(a->blocks);
    free(a->id);
    free(a->title);
    free(a->url);
    free(a->locale);
    free(a->updated_at);
    free(a->source);
    memset(a, 0, sizeof *a);
}
