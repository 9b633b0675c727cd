#include "search_json.h"

cJSON *search_hits_json(const search_results *r)
{
    cJSON *arr = cJSON_CreateArray();
    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < r->n; i++) {
        const search_hit *h = &r->hits[i];
        cJSON *x = cJSON_CreateObject();
        if (x == NULL || !cJSON_AddItemToArray(arr, x)) {
            cJSON_Delete(x);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddNumberToObject(x, "rank", (double)(i + 1));
        cJSON_AddNumberToObject(x, "chunk_id", (double)h->chunk_id);
        cJSON_AddStringToObject(x, "article_id", h->article_id);
        cJSON_AddStringToObject(x, "title", h->title);
        if (h->url)
            cJSON_AddStringToObject(x, "url", h->url);
        else
            cJSON_AddNullToObject(x, "url");
        cJSON_AddStringToObject(x, "heading", h->heading);
        cJSON_AddStringToObject(x, "snippet", h->snippet ? h->snippet : "");
        cJSON *sc = cJSON_AddObjectToObject(x, "scores");
        cJSON_AddNumberToObject(sc, "bm25", h->bm25);
        cJSON_AddNumberToObject(sc, "bm25_rank", h->bm25_rank);
        cJSON_AddNumberToObject(sc, "dense", h->dense);
        cJSON_AddNumberToObject(sc, "dense_rank", h->dense_rank);
        cJSON_AddNumberToObject(sc, "fused", h->fused);
        cJSON_AddNumberToObject(sc, "rerank", h->rerank);
    }
    return arr;
}
