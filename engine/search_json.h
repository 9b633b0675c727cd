/* search_json: the JSON form of ranked search results, one shape for `lore search --json`
 * and lore serve's /v1/search and answer events, so a client parses one format.
 *
 *   [{"rank", "chunk_id", "article_id", "title", "url" (or null), "heading", "snippet",
 *     "scores": {"bm25", "bm25_rank", "dense", "dense_rank", "fused", "rerank"}}, ...]
 *
 * Ownership: the caller owns the returned array (cJSON_Delete, or attach it to an object).
 * NULL only when memory runs out. */
#ifndef LORE_SEARCH_JSON_H
#define LORE_SEARCH_JSON_H

#include <cjson/cJSON.h>

#include "search.h"

cJSON *search_hits_json(const search_results *r);

#endif
