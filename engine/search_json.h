/* search_json: the JSON form of ranked search results, one shape for `lore search --json`
 * and lore serve's /v1/search and answer events, so a client parses one format.
 *
 *   [{"rank", "chunk_id", "article_id", "title", "url" (or null), "heading", "snippet",
 *     "scores": {"bm25", "bm25_rank", "dense", "dense_rank", "fused", "rerank"}}, ...]
 *
 * search_hits_write appends the array as JSON text (numbers as cJSON prints them), 0 or
 * LORE_ENOMEM (b then unchanged): the one definition of the shape, and cheap enough for the
 * query service's every response. search_hits_json parses that text into a cJSON array the
 * caller owns (cJSON_Delete, or attach it to an object); NULL only when memory runs out. */
#ifndef LORE_SEARCH_JSON_H
#define LORE_SEARCH_JSON_H

#include <cjson/cJSON.h>

#include "sbuf.h"
#include "search.h"

int search_hits_write(sbuf *b, const search_results *r);
cJSON *search_hits_json(const search_results *r);

#endif
