/* embed_openai: the "openai:MODEL@BASE_URL" embedder, a client of an OpenAI-compatible
 * POST BASE_URL/embeddings endpoint (OpenAI, vLLM, llama.cpp, Ollama, TEI).
 *
 * One HTTP client (http.h: one libcurl easy handle) per embedder, reused for every request
 * so the connection is kept alive between batches. Transient failures (429, 5xx, connect
 * errors, timeouts) are retried by http_post with jittered exponential backoff; everything
 * else fails at once with the server's own error message.
 *
 * Circuit breaker (breaker.h), one per server URL for the whole process (a server has one
 * health, and `lore serve` opens a collection's embedder once per worker): after
 * breaker_failures requests in a row fail for the server's sake (transport errors, 429,
 * 5xx, after their retries), requests fail at once for breaker_cooldown_ms instead of
 * waiting through the retries, then one probe is let through. Searches then fall back to
 * BM25 without delay (search.h, SEARCH_REASON_EMBEDDER_DOWN). */
#include "breaker.h"
#include "embed_impl.h"
#include "http.h"
#include "sbuf.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct embed_openai {
    char *model;
    char *base_url; /* no trailing '/'; named in error messages */
    size_t batch;
    http_client *http;
    breaker *breaker; /* the process's one for base_url (not owned) */
    int breaker_failures;
    long breaker_cooldown_ms;
};

/* The process's breakers, by server URL; kept until exit (a few bytes per server). */
typedef struct url_breaker {
    char *url;
    breaker *b;
    struct url_breaker *next;
} url_breaker;

static pthread_mutex_t breakers_mu = PTHREAD_MUTEX_INITIALIZER;
static url_breaker *breakers;

static int breaker_for(const char *url, const embed_conf *conf, breaker **out, lore_err *err)
{
    pthread_mutex_lock(&breakers_mu);
    int rc = 0;
    url_breaker *u = breakers;
    while (u != NULL && strcmp(u->url, url) != 0)
        u = u->next;
    if (u == NULL) {
        u = calloc(1, sizeof *u);
        if (u == NULL || (u->url = strdup(url)) == NULL ||
            breaker_new(conf->breaker_failures, conf->breaker_cooldown_ms, &u->b, err) != 0) {
            if (u != NULL)
                free(u->url);
            free(u);
            u = NULL;
            rc = lore_errf(err, LORE_ENOMEM, "out of memory creating a circuit breaker");
        } else {
            u->next = breakers;
            breakers = u;
        }
    }
    *out = u != NULL ? u->b : NULL;
    pthread_mutex_unlock(&breakers_mu);
    return rc;
}

/* Fills err with "embeddings server BASE_URL <what>". */
static int server_errf(const embed_openai *o, lore_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int server_errf(const embed_openai *o, lore_err *err, int code, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lore_errf(err, code, "embeddings server %s %s", o->base_url, what);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

int embed_openai_open(embedder *e, const char *model, const char *base_url,
                      const embed_conf *conf, lore_err *err)
{
    embed_openai *o = calloc(1, sizeof *o);
    if (o == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder %s", e->id);
    e->openai = o; /* from here embed_close frees whatever was built */
    o->batch = conf->batch;
    o->model = dup_str(model);
    o->base_url = dup_str(base_url);
    sbuf ep = SBUF_INIT, label = SBUF_INIT;
    if (o->model == NULL || o->base_url == NULL || sbuf_adds(&ep, base_url) != 0 ||
        sbuf_adds(&ep, "/embeddings") != 0 ||
        sbuf_addf(&label, "embeddings server %s", base_url) != 0) {
        sbuf_free(&ep);
        sbuf_free(&label);
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder %s", e->id);
    }
    http_conf hc = {conf->connect_timeout_ms, conf->timeout_ms, conf->retries, conf->backoff_ms,
                    "lore-embed/0.1", "application/json"};
    int rc = http_client_new(sbuf_str(&label), sbuf_str(&ep), conf->api_key_env, &hc, &o->http,
                             err);
    sbuf_free(&ep);
    sbuf_free(&label);
    if (rc != 0)
        return lore_err_wrap(err, "opening embedder %s", e->id);
    o->breaker_failures = conf->breaker_failures;
    o->breaker_cooldown_ms = conf->breaker_cooldown_ms;
    return breaker_for(o->base_url, conf, &o->breaker, err);
}

void embed_openai_close(embed_openai *o)
{
    if (o == NULL)
        return;
    http_client_free(o->http);
    free(o->model);
    free(o->base_url);
    free(o);
}

/* POSTs body and leaves a 2xx reply in http_reply(o->http). */
static int post(embedder *e, const char *body, size_t len, lore_err *err)
{
    embed_openai *o = e->openai;
    int probe = 0;
    if (!breaker_allow(o->breaker, &probe))
        return server_errf(o, err, LORE_ENET,
                           "is failing: circuit breaker open after %d failed requests in a row "
                           "(one request is let through every %ld ms)",
                           o->breaker_failures, o->breaker_cooldown_ms);
    http_request rq = {body, len, NULL, NULL, 0};
    int attempts = 0;
    int rc = http_post(o->http, &rq, &attempts, err);
    e->requests += (unsigned long)attempts;
    /* Only the server's own trouble counts: a 400 or 401 says nothing about its health. */
    const http_outcome *oc = http_last_outcome(o->http);
    breaker_result(o->breaker, probe, rc == 0, rc != 0 && (oc->transient || oc->status == 0));
    return rc;
}

static void server_message(const embed_openai *o, char *out, size_t cap)
{
    const sbuf *r = http_reply(o->http);
    http_server_message(r->buf, r->len, out, cap);
}

/* ---- request and reply ---- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when the bytes there are not one
 * (overlongs, surrogates and code points above U+10FFFF included). */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (left < need + 1)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return need + 1;
}

/* cJSON copies bytes >= 0x80 through unchecked, so invalid UTF-8 would make the request
 * invalid JSON that servers reject with a 400 for the whole batch. Replaces each bad byte
 * with U+FFFD into `fixed` and sets *changed; leaves *changed 0 (and `fixed` untouched) when
 * s is already valid, the common case, which costs one scan and no copy. 0 or LORE_ENOMEM. */
static int utf8_fix(const char *s, sbuf *fixed, int *changed)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    *changed = 0;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0)
            break;
        i += k;
    }
    if (i == n)
        return 0;
    *changed = 1;
    sbuf_reset(fixed);
    if (sbuf_add(fixed, s, i) != 0)
        return LORE_ENOMEM;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        int rc = k == 0 ? sbuf_add(fixed, "\xef\xbf\xbd", 3) : sbuf_add(fixed, p + i, k);
        if (rc != 0)
            return LORE_ENOMEM;
        i += k == 0 ? 1 : k;
    }
    return 0;
}

/* Builds {"model": MODEL, "input": [texts...]}; *json is freed with cJSON_free. */
static int build_request(embed_openai *o, const char *const *texts, size_t k, char **json,
                         lore_err *err)
{
    *json = NULL;
    sbuf fixed = SBUF_INIT;
    int rc = 0;
    cJSON *root = cJSON_CreateObject();
    cJSON *input = NULL;
    if (root == NULL || cJSON_AddStringToObject(root, "model", o->model) == NULL ||
        (input = cJSON_AddArrayToObject(root, "input")) == NULL)
        rc = LORE_ENOMEM;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        int changed;
        rc = utf8_fix(texts[i], &fixed, &changed);
        if (rc != 0)
            break;
        cJSON *s = cJSON_CreateString(changed ? sbuf_str(&fixed) : texts[i]);
        if (s == NULL || !cJSON_AddItemToArray(input, s)) {
            cJSON_Delete(s);
            rc = LORE_ENOMEM;
        }
    }
    if (rc == 0 && (*json = cJSON_PrintUnformatted(root)) == NULL)
        rc = LORE_ENOMEM;
    cJSON_Delete(root);
    sbuf_free(&fixed);
    if (rc != 0)
        return lore_errf(err, LORE_ENOMEM, "embedder: out of memory building a request of %zu texts",
                         k);
    return 0;
}

/* Checks the reply to a batch of k inputs and sets vecs[i] to the "embedding" array for
 * input i. *dim is the batch's dimension: e->dim when known, else the first vector's. */
static int check_reply(embedder *e, const cJSON *root, size_t k, const cJSON **vecs, int *dim,
                       lore_err *err)
{
    embed_openai *o = e->openai;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsArray(data)) {
        /* Some servers answer 200 with an {"error": ...} body; their message says why. */
        char msg[HTTP_MAX_SERVER_MSG + 1];
        server_message(o, msg, sizeof msg);
        return server_errf(o, err, LORE_ENET, "sent a reply without a \"data\" array: %s", msg);
    }
    int count = cJSON_GetArraySize(data);
    if (count < 0 || (size_t)count != k)
        return server_errf(o, err, LORE_ENET, "sent %d embeddings for %zu inputs", count, k);
    for (size_t i = 0; i < k; i++)
        vecs[i] = NULL;
    int want = e->dim;
    size_t pos = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, data)
    {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(item, "index");
        const cJSON *emb = cJSON_GetObjectItemCaseSensitive(item, "embedding");
        /* "index" is optional in some servers' replies; then the order is the input order. */
        double di = cJSON_IsNumber(idx) ? idx->valuedouble : (double)pos;
        if (!(di >= 0 && di < (double)k) || di != floor(di))
            return server_errf(o, err, LORE_ENET, "sent embedding index %g for %zu inputs", di,
                               k);
        size_t at = (size_t)di;
        if (vecs[at] != NULL)
            return server_errf(o, err, LORE_ENET, "sent embedding index %zu twice", at);
        if (cJSON_IsString(emb))
            return server_errf(o, err, LORE_ENET,
                               "sent a base64 embedding; only float arrays are supported");
        if (!cJSON_IsArray(emb))
            return server_errf(o, err, LORE_ENET, "sent an item without an \"embedding\" array");
        int d = cJSON_GetArraySize(emb);
        if (want == 0) {
            if (d <= 0 || d > 65536)
                return server_errf(o, err, LORE_ENET, "sent an embedding of %d dimensions", d);
            want = d;
        } else if (d != want) {
            return server_errf(o, err, LORE_ENET,
                               "sent an embedding of %d dimensions, expected %d%s", d, want,
                               e->dim ? " (learnt from its first reply)" : "");
        }
        vecs[at] = emb;
        pos++;
    }
    *dim = want;
    return 0;
}

/* Copies a checked vector into v and normalises it. */
static int copy_vector(embedder *e, const cJSON *emb, float *v, lore_err *err)
{
    int j = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, emb)
    {
        if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || fabs(x->valuedouble) > 3.0e38)
            return server_errf(e->openai, err, LORE_ENET,
                               "sent an embedding with a value that is not a finite number");
        v[j++] = (float)x->valuedouble;
    }
    assert(j == e->dim);
    embed_l2_normalize(v, e->dim);
    return 0;
}

/* One request for the k texts btexts (originally at positions bidx in the caller's array). */
static int embed_batch(embedder *e, const char *const *btexts, const size_t *bidx, size_t k,
                       size_t n, float **dst, int owns_dst, const cJSON **vecs, lore_err *err)
{
    embed_openai *o = e->openai;
    char *json = NULL;
    int rc = build_request(o, btexts, k, &json, err);
    if (rc != 0)
        return rc;
    rc = post(e, json, strlen(json), err);
    cJSON_free(json);
    if (rc != 0)
        return rc;

    const sbuf *reply = http_reply(o->http);
    cJSON *root = cJSON_ParseWithLength(reply->buf ? reply->buf : "", reply->len);
    if (root == NULL) {
        char head[64];
        size_t m = 0;
        for (size_t i = 0; i < reply->len && m + 1 < sizeof head && m < 40; i++)
            head[m++] = ((unsigned char)reply->buf[i] < ' ') ? ' ' : reply->buf[i];
        head[m] = '\0';
        return server_errf(o, err, LORE_ENET, "sent a reply that is not valid JSON: \"%s\"",
                           head);
    }
    int dim = 0;
    rc = check_reply(e, root, k, vecs, &dim, err);
    if (rc == 0 && e->dim == 0) {
        e->dim = dim;
        if (owns_dst && *dst == NULL) {
            if ((size_t)dim > 0 && n > SIZE_MAX / sizeof(float) / (size_t)dim)
                rc = lore_errf(err, LORE_ENOMEM, "embed: %zu vectors of %d floats do not fit",
                               n, dim);
            /* calloc: texts skipped for being empty keep their zero vectors */
            else if ((*dst = calloc(n * (size_t)dim, sizeof(float))) == NULL)
                rc = lore_errf(err, LORE_ENOMEM, "embed: out of memory for %zu vectors of %d "
                               "floats", n, dim);
        }
    }
    for (size_t i = 0; rc == 0 && i < k; i++)
        rc = copy_vector(e, vecs[i], *dst + bidx[i] * (size_t)e->dim, err);
    cJSON_Delete(root);
    return rc;
}

int embed_openai_texts(embedder *e, const char *const *texts, size_t n, float *out,
                       float **alloc_out, lore_err *err)
{
    embed_openai *o = e->openai;
    assert((out == NULL) != (alloc_out == NULL));
    assert(out == NULL || e->dim > 0);
    size_t batch = o->batch;
    const char **btexts = malloc(batch * sizeof *btexts);
    size_t *bidx = malloc(batch * sizeof *bidx);
    const cJSON **vecs = malloc(batch * sizeof *vecs);
    float *dst = out;
    int rc = 0;
    if (btexts == NULL || bidx == NULL || vecs == NULL)
        rc = lore_errf(err, LORE_ENOMEM, "embed: out of memory for a batch of %zu", batch);

    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (texts[i][0] == '\0') {
            /* OpenAI rejects empty inputs; an empty text's vector is zero (see embed.h). */
            if (dst != NULL)
                memset(dst + i * (size_t)e->dim, 0, (size_t)e->dim * sizeof(float));
        } else {
            btexts[k] = texts[i];
            bidx[k] = i;
            k++;
        }
        if (k == batch || (i + 1 == n && k > 0)) {
            /* When dst is allocated by this batch, empty texts seen before it already have
             * their zero vectors (calloc); later ones get them from the memset above. */
            rc = embed_batch(e, btexts, bidx, k, n, &dst, out == NULL, vecs, err);
            k = 0;
        }
    }
    free(btexts);
    free(bidx);
    free(vecs);
    if (alloc_out != NULL) {
        if (rc != 0) {
            free(dst);
            dst = NULL;
        }
        *alloc_out = dst;
    }
    return rc;
}
