#include "search_json.h"

#include <string.h>

/* "key": as the next member (comma first unless it opens the object). */
static int key(sbuf *b, const char *k, int first)
{
    int rc = first ? 0 : sbuf_addc(b, ',');
    rc |= sbuf_addc(b, '"');
    rc |= sbuf_adds(b, k);
    rc |= sbuf_add(b, "\":", 2);
    return rc;
}

static int str(sbuf *b, const char *s)
{
    return sbuf_add_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

int search_hits_write(sbuf *b, const search_results *r)
{
    size_t len0 = b->len;
    int rc = sbuf_addc(b, '[');
    for (size_t i = 0; i < r->n && rc == 0; i++) {
        const search_hit *h = &r->hits[i];
        rc |= sbuf_adds(b, i ? ",{" : "{");
        rc |= key(b, "rank", 1) | sbuf_add_json_num(b, (double)(i + 1));
        rc |= key(b, "chunk_id", 0) | sbuf_add_json_num(b, (double)h->chunk_id);
        rc |= key(b, "article_id", 0) | str(b, h->article_id);
        rc |= key(b, "title", 0) | str(b, h->title);
        rc |= key(b, "url", 0) | (h->url ? str(b, h->url) : sbuf_add(b, "null", 4));
        rc |= key(b, "heading", 0) | str(b, h->heading);
        rc |= key(b, "snippet", 0) | str(b, h->snippet);
        rc |= key(b, "scores", 0) | sbuf_addc(b, '{');
        rc |= key(b, "bm25", 1) | sbuf_add_json_num(b, h->bm25);
        rc |= key(b, "bm25_rank", 0) | sbuf_add_json_num(b, h->bm25_rank);
        rc |= key(b, "dense", 0) | sbuf_add_json_num(b, h->dense);
        rc |= key(b, "dense_rank", 0) | sbuf_add_json_num(b, h->dense_rank);
        rc |= key(b, "fused", 0) | sbuf_add_json_num(b, h->fused);
        rc |= key(b, "rerank", 0) | sbuf_add_json_num(b, h->rerank);
        rc |= sbuf_add(b, "}}", 2);
    }
    rc |= sbuf_addc(b, ']');
    if (rc != 0) {
        b->len = len0;
        if (b->buf)
            b->buf[len0] = '\0';
        return LORE_ENOMEM;
    }
    return 0;
}

cJSON *search_hits_json(const search_results *r)
{
    sbuf b = SBUF_INIT;
    cJSON *arr = search_hits_write(&b, r) == 0 ? cJSON_ParseWithLength(b.buf, b.len) : NULL;
    sbuf_free(&b);
    return arr;
}
