/* answer_json: the JSON form of an answer, one shape for `lore ask --json` and lore serve's
 * /v1/answer (and its SSE "done" / "refusal" frames), so a client parses one format.
 *
 *   "query" (the searched query, or null), "answered", "answer" (or null when refused),
 *   "refusal": null | {"reason", "detail" (or null), "handoff": true},
 *   "confidence", "retrieval_confidence", "validation", "threshold", "mode",
 *   "citations": [source, ...] (the cited sources of an answered question),
 *   "sources": [{"n", "cited", "chunk_id", "article_id", "title", "url" (or null),
 *                "heading", "score"}, ...],
 *   "llm": {"fallback", "attempts"}, "pii_redacted",
 *   "timings_ms": {"refine", "search", "prompt", "first_token", "llm", "validate", "total"}
 *
 * Callers add their own context around it ("question" for the CLI, "collection" and
 * "generation" for the service).
 *
 * Ownership: answer_json_add adds to the caller's object; nothing is borrowed past the call.
 * Returns 0, or LORE_ENOMEM (the object may then hold part of the fields). */
#ifndef LORE_ANSWER_JSON_H
#define LORE_ANSWER_JSON_H

#include <cjson/cJSON.h>

#include "answer.h"

int answer_json_add(cJSON *o, const answer_result *a);

#endif
