#include "rerank_xenc.h"

#include "http.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rerank_xenc {
    http_client *http;
    char *model;
    char label[600];
};

int rerank_xenc_new(const char *url, const char *model, long timeout_ms, rerank_xenc **out,
                    lore_err *err)
{
    *out = NULL;
    if (url == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return lore_errf(err, LORE_EINVAL, "cross-encoder url '%s' must start with http:// or "
                                           "https://", url ? url : "");
    rerank_xenc *x = calloc(1, sizeof *x);
    if (x == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating a cross-encoder client");
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    int has = n >= 7 && strncmp(url + n - 7, "/rerank", 7) == 0;
    char *endpoint = malloc(n + 8);
    x->model = strdup(model ? model : "rerank");
    if (endpoint == NULL || x->model == NULL) {
        free(endpoint);
        rerank_xenc_free(x);
        return lore_errf(err, LORE_ENOMEM, "out of memory creating a cross-encoder client");
    }
    snprintf(endpoint, n + 8, "%.*s%s", (int)n, url, has ? "" : "/rerank");
    snprintf(x->label, sizeof x->label, "cross-encoder %s", endpoint);
    /* A reranker sits on the query path: fail fast, retry once. */
    http_conf conf = {1000, timeout_ms > 0 ? timeout_ms : 5000, 1, 100, NULL, NULL};
    int rc = http_client_new(x->label, endpoint, "LORE_RERANK_API_KEY", &conf, &x->http, err);
    free(endpoint);
    if (rc != 0) {
        rerank_xenc_free(x);
        return rc;
    }
    *out = x;
    return 0;
}

void rerank_xenc_free(rerank_xenc *x)
{
    if (x == NULL)
        return;
    http_client_free(x->http);
    free(x->model);
    free(x);
}

static int bad_reply(rerank_xenc *x, lore_err *err, const char *what)
{
    return lore_errf(err, LORE_ENET, "%s answered %s", x->label, what);
}

int rerank_xenc_score(rerank_xenc *x, const char *query, const char *const *docs, size_t n,
                      double *scores, lore_err *err)
{
    if (n == 0)
        return 0;
    cJSON *rq = cJSON_CreateObject();
    cJSON *arr = rq ? cJSON_AddArrayToObject(rq, "documents") : NULL;
    int ok = rq && arr && cJSON_AddStringToObject(rq, "model", x->model) &&
             cJSON_AddStringToObject(rq, "query", query) &&
             cJSON_AddNumberToObject(rq, "top_n", (double)n) &&
             cJSON_AddFalseToObject(rq, "return_documents");
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *d = cJSON_CreateString(docs[i] ? docs[i] : "");
        ok = d && cJSON_AddItemToArray(arr, d);
    }
    char *body = ok ? cJSON_PrintUnformatted(rq) : NULL;
    cJSON_Delete(rq);
    if (body == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory building a rerank request");
    http_request hr = {body, strlen(body), NULL, NULL, 0};
    int rc = http_post(x->http, &hr, NULL, err);
    free(body);
    if (rc != 0)
        return rc;
    const sbuf *b = http_reply(x->http);
    cJSON *root = cJSON_ParseWithLength(sbuf_str(b), b->len);
    const cJSON *res = cJSON_IsArray(root) ? root
                       : cJSON_GetObjectItemCaseSensitive(root, "results");
    if (!cJSON_IsArray(res)) {
        cJSON_Delete(root);
        return bad_reply(x, err, root ? "JSON without a \"results\" array"
                                      : "something that is not JSON");
    }
    for (size_t i = 0; i < n; i++)
        scores[i] = NAN;
    const cJSON *it;
    cJSON_ArrayForEach(it, res)
    {
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(it, "index");
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(it, "relevance_score");
        if (sc == NULL)
            sc = cJSON_GetObjectItemCaseSensitive(it, "score");
        if (!cJSON_IsNumber(ix) || !cJSON_IsNumber(sc) || !isfinite(sc->valuedouble)) {
            rc = bad_reply(x, err, "a result without a numeric index and relevance_score");
            break;
        }
        double d = ix->valuedouble;
        if (d < 0 || d >= (double)n || d != floor(d)) {
            rc = lore_errf(err, LORE_ENET, "%s answered index %g for %zu documents", x->label, d,
                           n);
            break;
        }
        if (!isnan(scores[(size_t)d])) {
            rc = lore_errf(err, LORE_ENET, "%s answered index %g twice", x->label, d);
            break;
        }
        scores[(size_t)d] = sc->valuedouble;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (isnan(scores[i]))
            rc = lore_errf(err, LORE_ENET, "%s left document %zu of %zu unscored", x->label, i,
                           n);
    cJSON_Delete(root);
    return rc;
}
