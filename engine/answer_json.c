#include "answer_json.h"

static cJSON *str_or_null(const char *s)
{
    return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *source_json(const answer_source *s)
{
    cJSON *x = cJSON_CreateObject();
    if (x == NULL)
        return NULL;
    cJSON_AddNumberToObject(x, "n", s->n);
    cJSON_AddBoolToObject(x, "cited", s->cited);
    cJSON_AddNumberToObject(x, "chunk_id", (double)s->chunk_id);
    cJSON_AddStringToObject(x, "article_id", s->article_id ? s->article_id : "");
    cJSON_AddStringToObject(x, "title", s->title ? s->title : "");
    cJSON_AddItemToObject(x, "url", str_or_null(s->url));
    cJSON_AddStringToObject(x, "heading", s->heading ? s->heading : "");
    cJSON_AddNumberToObject(x, "score", s->score);
    return x;
}

int answer_json_add(cJSON *o, const answer_result *a)
{
    int ok = cJSON_AddItemToObject(o, "query", str_or_null(a->query)) &&
             cJSON_AddBoolToObject(o, "answered", a->answered) != NULL &&
             cJSON_AddItemToObject(o, "answer", str_or_null(a->answered ? a->text : NULL));
    if (ok && a->answered) {
        ok = cJSON_AddNullToObject(o, "refusal") != NULL;
    } else if (ok) {
        cJSON *rf = cJSON_AddObjectToObject(o, "refusal");
        ok = rf != NULL &&
             cJSON_AddStringToObject(rf, "reason", a->refusal ? a->refusal : "unknown") &&
             cJSON_AddItemToObject(rf, "detail", str_or_null(a->detail)) &&
             cJSON_AddBoolToObject(rf, "handoff", 1) != NULL;
    }
    ok = ok && cJSON_AddNumberToObject(o, "confidence", a->confidence) &&
         cJSON_AddNumberToObject(o, "retrieval_confidence", a->retrieval_confidence) &&
         cJSON_AddNumberToObject(o, "validation", a->validation) &&
         cJSON_AddNumberToObject(o, "threshold", a->threshold) &&
         cJSON_AddStringToObject(o, "mode", a->mode ? a->mode : "extractive");
    cJSON *cites = ok ? cJSON_AddArrayToObject(o, "citations") : NULL;
    cJSON *srcs = cites ? cJSON_AddArrayToObject(o, "sources") : NULL;
    ok = srcs != NULL;
    for (size_t i = 0; ok && i < a->n_sources; i++) {
        const answer_source *s = &a->sources[i];
        cJSON *x = source_json(s);
        ok = x != NULL && cJSON_AddItemToArray(srcs, x);
        if (ok && s->cited && a->answered) {
            cJSON *c = source_json(s);
            ok = c != NULL && cJSON_AddItemToArray(cites, c);
        }
    }
    cJSON *l = ok ? cJSON_AddObjectToObject(o, "llm") : NULL;
    ok = l != NULL && cJSON_AddBoolToObject(l, "fallback", a->llm_fallback) &&
         cJSON_AddNumberToObject(l, "attempts", a->llm_attempts) &&
         cJSON_AddNumberToObject(o, "pii_redacted", a->pii_redacted);
    cJSON *t = ok ? cJSON_AddObjectToObject(o, "timings_ms") : NULL;
    ok = t != NULL && cJSON_AddNumberToObject(t, "refine", a->ms.refine) &&
         cJSON_AddNumberToObject(t, "search", a->ms.search) &&
         cJSON_AddNumberToObject(t, "prompt", a->ms.prompt) &&
         cJSON_AddNumberToObject(t, "first_token", a->ms.first_token) &&
         cJSON_AddNumberToObject(t, "llm", a->ms.llm) &&
         cJSON_AddNumberToObject(t, "validate", a->ms.validate) &&
         cJSON_AddNumberToObject(t, "total", a->ms.total);
    return ok ? 0 : LORE_ENOMEM;
}
