/* embed: spec parsing and dispatch to the embedder kinds (embed_hash.c, embed_openai.c). */
#include "embed.h"

#include "embed_impl.h"
#include "sbuf.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBED_SPEC_FORMS                                                                   \
    "expected \"none\", \"hash:DIM\" (DIM 8..4096), \"use\", \"use:DIR\" or "           \
    "\"openai:MODEL@BASE_URL\" (BASE_URL like http://127.0.0.1:8000/v1)"

static int bad_spec(lore_err *err, const char *spec, const char *why)
{
    return lore_errf(err, LORE_EINVAL, "bad embedder spec \"%.200s\" (%s): " EMBED_SPEC_FORMS,
                     spec, why);
}

static void conf_from_options(const embed_options *o, embed_conf *c)
{
    c->batch = (o && o->batch > 0) ? o->batch : 64;
    c->connect_timeout_ms = (o && o->connect_timeout_ms > 0) ? o->connect_timeout_ms : 5000;
    c->timeout_ms = (o && o->timeout_ms > 0) ? o->timeout_ms : 60000;
    c->retries = (o && o->retries >= 0) ? o->retries : 4;
    c->backoff_ms = (o && o->backoff_ms > 0) ? o->backoff_ms : 200;
    c->api_key_env = (o && o->api_key_env && o->api_key_env[0]) ? o->api_key_env
                                                                : "LORE_EMBED_API_KEY";
    c->breaker_failures = (o && o->breaker_failures > 0) ? o->breaker_failures : 3;
    c->breaker_cooldown_ms = (o && o->breaker_cooldown_ms > 0) ? o->breaker_cooldown_ms : 5000;
}

/* Parses the decimal DIM of "hash:DIM"; digits only, so "hash:+8" or "hash:8 " are rejected
 * rather than silently accepted by strtol. */
static int parse_dim(const char *s, int *dim)
{
    long v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v > 1000000)
            return -1;
    }
    *dim = (int)v;
    return 0;
}

static int set_id(embedder *e, const char *a, const char *b)
{
    sbuf id = SBUF_INIT;
    if (sbuf_adds(&id, a) != 0 || sbuf_adds(&id, b) != 0) {
        sbuf_free(&id);
        return LORE_ENOMEM;
    }
    e->id = sbuf_detach(&id);
    return 0;
}

static int open_openai(embedder *e, const char *spec, const embed_conf *conf, lore_err *err)
{
    const char *rest = spec + strlen("openai:");
    /* The model ends at the '@' that starts the URL: model names (e.g. "org/name:tag") do not
     * contain "@http", while a URL may contain '@' (user info), so split there. */
    const char *at = strstr(rest, "@http://");
    const char *at_s = strstr(rest, "@https://");
    if (at == NULL || (at_s != NULL && at_s < at))
        at = at_s;
    if (at == NULL)
        return bad_spec(err, spec, "no @http:// or @https:// base url");
    if (at == rest)
        return bad_spec(err, spec, "empty model name");
    for (const char *p = spec; *p; p++)
        if ((unsigned char)*p <= ' ')
            return bad_spec(err, spec, "contains spaces or control characters");

    size_t mlen = (size_t)(at - rest);
    const char *url = at + 1;
    size_t ulen = strlen(url);
    while (ulen > 0 && url[ulen - 1] == '/')
        ulen--;
    size_t scheme = strncmp(url, "https://", 8) == 0 ? 8 : 7;
    if (ulen <= scheme)
        return bad_spec(err, spec, "empty host in base url");

    char *model = malloc(mlen + 1);
    char *base = malloc(ulen + 1);
    if (model == NULL || base == NULL) {
        free(model);
        free(base);
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder \"%.200s\"", spec);
    }
    memcpy(model, rest, mlen);
    model[mlen] = '\0';
    memcpy(base, url, ulen);
    base[ulen] = '\0';

    sbuf id = SBUF_INIT;
    int rc = 0;
    if (sbuf_adds(&id, "openai:") != 0 || sbuf_adds(&id, model) != 0 ||
        sbuf_addc(&id, '@') != 0 || sbuf_adds(&id, base) != 0)
        rc = LORE_ENOMEM;
    else
        e->id = sbuf_detach(&id);
    sbuf_free(&id);
    if (rc != 0)
        rc = lore_errf(err, LORE_ENOMEM, "out of memory opening embedder \"%.200s\"", spec);
    else
        rc = embed_openai_open(e, model, base, conf, err);
    free(model);
    free(base);
    return rc;
}

int embed_open(const char *spec, const embed_options *opts, embedder **out, lore_err *err)
{
    assert(out != NULL);
    *out = NULL;
    if (spec == NULL)
        return lore_errf(err, LORE_EINVAL, "no embedder spec given: " EMBED_SPEC_FORMS);

    embed_conf conf;
    conf_from_options(opts, &conf);

    embedder *e = calloc(1, sizeof *e);
    if (e == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder \"%.200s\"", spec);

    int rc;
    if (strcmp(spec, "none") == 0) {
        e->kind = EMBED_NONE;
        rc = set_id(e, "none", "");
        if (rc != 0)
            rc = lore_errf(err, LORE_ENOMEM, "out of memory opening embedder \"none\"");
    } else if (strncmp(spec, "hash:", 5) == 0) {
        int dim = 0;
        if (parse_dim(spec + 5, &dim) != 0)
            rc = bad_spec(err, spec, "DIM is not a number");
        else if (dim < 8 || dim > 4096)
            rc = bad_spec(err, spec, "DIM out of range");
        else {
            e->kind = EMBED_HASH;
            e->dim = dim;
            char num[16];
            snprintf(num, sizeof num, "%d", dim); /* "hash:0256" and "hash:256" are one id */
            rc = set_id(e, "hash:", num);
            if (rc != 0)
                rc = lore_errf(err, LORE_ENOMEM, "out of memory opening embedder \"%.200s\"",
                               spec);
            else
                rc = embed_hash_open(e, dim, err);
        }
    } else if (strcmp(spec, "use") == 0 || strncmp(spec, "use:", 4) == 0) {
        e->kind = EMBED_USE;
        rc = embed_use_open(e, spec[3] == ':' ? spec + 4 : NULL, err);
    } else if (strncmp(spec, "openai:", 7) == 0) {
        e->kind = EMBED_OPENAI;
        rc = open_openai(e, spec, &conf, err);
    } else {
        rc = bad_spec(err, spec, "unknown kind");
    }

    if (rc != 0) {
        embed_close(e);
        return rc;
    }
    *out = e;
    return 0;
}

void embed_close(embedder *e)
{
    if (e == NULL)
        return;
    if (e->hash != NULL)
        embed_hash_close(e->hash);
    if (e->openai != NULL)
        embed_openai_close(e->openai);
    if (e->use != NULL)
        embed_use_close(e->use);
    vmemo_free(e->memo);
    free(e->id);
    free(e);
}

const char *embed_id(const embedder *e)
{
    assert(e != NULL && e->id != NULL);
    return e->id;
}

int embed_dim(const embedder *e)
{
    assert(e != NULL);
    return e->dim;
}

unsigned long embed_request_count(const embedder *e)
{
    assert(e != NULL);
    return e->requests;
}

static int check_texts(const char *const *texts, size_t n, lore_err *err)
{
    if (n > 0 && texts == NULL)
        return lore_errf(err, LORE_EINVAL, "embed: %zu texts requested but the array is NULL", n);
    for (size_t i = 0; i < n; i++)
        if (texts[i] == NULL)
            return lore_errf(err, LORE_EINVAL, "embed: text %zu of %zu is NULL", i, n);
    return 0;
}

static int kind_texts(embedder *e, const char *const *texts, size_t n, float *out,
                      lore_err *err)
{
    switch (e->kind) {
    case EMBED_NONE:
        return lore_errf(err, LORE_EUNSUP, "embedder \"none\" makes no vectors");
    case EMBED_HASH:
        return n == 0 ? 0 : embed_hash_texts(e, texts, n, out, err);
    case EMBED_USE:
        return n == 0 ? 0 : embed_use_texts(e, texts, n, out, err);
    case EMBED_OPENAI:
        if (n == 0)
            return 0;
        /* The caller sized `out` with embed_dim; writing vectors of a dimension learnt only
         * now would overrun it, so this path needs the dimension up front. */
        if (e->dim == 0)
            return lore_errf(err, LORE_EINVAL,
                             "embedder %s: dimension not known before the first call; use "
                             "embed_texts_alloc or embed_probe_dim",
                             e->id);
        return embed_openai_texts(e, texts, n, out, NULL, err);
    }
    return lore_errf(err, LORE_EINVAL, "embed: unknown embedder kind %d", (int)e->kind);
}

int embed_memo(embedder *e, size_t capacity, lore_err *err)
{
    if (capacity == 0)
        return lore_errf(err, LORE_EINVAL, "embed: a memo needs room for at least one vector");
    e->memo_cap = capacity;
    return 0;
}

/* embed_texts through the memo: only texts it has not seen are embedded, in one call. */
static int memo_texts(embedder *e, const char *const *texts, size_t n, float *out,
                      lore_err *err)
{
    size_t dim = (size_t)e->dim;
    if (e->memo == NULL) {
        int rc = vmemo_new(e->dim, e->memo_cap, &e->memo, err);
        if (rc != 0)
            return rc;
    }
    size_t *miss = malloc(n * sizeof *miss);
    const char **mt = malloc(n * sizeof *mt);
    int rc = miss == NULL || mt == NULL ? LORE_ENOMEM : 0;
    size_t nm = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const float *v = vmemo_get(e->memo, texts[i], strlen(texts[i]));
        if (v != NULL) {
            memcpy(out + i * dim, v, dim * sizeof *out);
        } else {
            miss[nm] = i;
            mt[nm++] = texts[i];
        }
    }
    float *mv = rc == 0 && nm > 0 ? malloc(nm * dim * sizeof *mv) : NULL;
    if (rc == 0 && nm > 0 && mv == NULL)
        rc = LORE_ENOMEM;
    if (rc == LORE_ENOMEM)
        rc = lore_errf(err, LORE_ENOMEM, "embed: out of memory embedding %zu texts", n);
    else if (nm > 0)
        rc = kind_texts(e, mt, nm, mv, err);
    for (size_t j = 0; rc == 0 && j < nm; j++) {
        memcpy(out + miss[j] * dim, mv + j * dim, dim * sizeof *out);
        /* Out of memory here only loses the saving. */
        (void)vmemo_put(e->memo, mt[j], strlen(mt[j]), mv + j * dim);
    }
    free(mv);
    free(mt);
    free(miss);
    return rc;
}

int embed_texts(embedder *e, const char *const *texts, size_t n, float *out, lore_err *err)
{
    int rc = check_texts(texts, n, err);
    if (rc != 0)
        return rc;
    if (e->memo_cap > 0 && n > 0 && e->dim > 0 && e->kind != EMBED_NONE)
        return memo_texts(e, texts, n, out, err);
    return kind_texts(e, texts, n, out, err);
}

int embed_texts_alloc(embedder *e, const char *const *texts, size_t n, float **out,
                      lore_err *err)
{
    assert(out != NULL);
    *out = NULL;
    int rc = check_texts(texts, n, err);
    if (rc != 0)
        return rc;
    if (e->kind == EMBED_NONE)
        return lore_errf(err, LORE_EUNSUP, "embedder \"none\" makes no vectors");
    if (n == 0)
        return 0;
    if (e->kind == EMBED_OPENAI && e->dim == 0)
        return embed_openai_texts(e, texts, n, NULL, out, err);

    size_t dim = (size_t)e->dim;
    if (dim > 0 && n > SIZE_MAX / sizeof(float) / dim)
        return lore_errf(err, LORE_ENOMEM, "embed: %zu vectors of %zu floats do not fit memory",
                         n, dim);
    float *v = malloc(n * dim * sizeof(float));
    if (v == NULL)
        return lore_errf(err, LORE_ENOMEM, "embed: out of memory for %zu vectors of %zu floats",
                         n, dim);
    rc = embed_texts(e, texts, n, v, err);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *out = v;
    return 0;
}

int embed_query(embedder *e, const char *text, float **out, lore_err *err)
{
    if (e->kind != EMBED_USE)
        return embed_texts_alloc(e, &text, 1, out, err);
    *out = NULL;
    int rc = check_texts(&text, 1, err);
    if (rc != 0)
        return rc;
    float *v = malloc((size_t)e->dim * sizeof *v);
    if (v == NULL)
        return lore_errf(err, LORE_ENOMEM, "embed: out of memory for a query vector");
    if ((rc = embed_use_query(e, text, v, err)) != 0) {
        free(v);
        return rc;
    }
    *out = v;
    return 0;
}

int embed_queries_together(const embedder *e) { return e->kind == EMBED_USE; }

int embed_queries(embedder *e, const char *const *texts, size_t n, float **out, lore_err *err)
{
    if (e->kind != EMBED_USE)
        return embed_texts_alloc(e, texts, n, out, err);
    *out = NULL;
    int rc = check_texts(texts, n, err);
    if (rc != 0 || n == 0)
        return rc;
    float *v = malloc(n * (size_t)e->dim * sizeof *v);
    if (v == NULL)
        return lore_errf(err, LORE_ENOMEM, "embed: out of memory for %zu query vectors", n);
    if ((rc = embed_use_queries(e, texts, n, v, err)) != 0) {
        free(v);
        return rc;
    }
    *out = v;
    return 0;
}

int embed_texts_windows(embedder *e, const char *const *texts, size_t n, float **vecs,
                        size_t *nwin, lore_err *err)
{
    assert(vecs != NULL);
    *vecs = NULL;
    int rc = check_texts(texts, n, err);
    if (rc != 0)
        return rc;
    if (n > 0)
        memset(nwin, 0, n * sizeof *nwin);
    if (e->kind == EMBED_NONE)
        return lore_errf(err, LORE_EUNSUP, "embedder \"none\" makes no vectors");
    if (n == 0)
        return 0;
    if (e->kind == EMBED_USE)
        return embed_use_windows(e, texts, n, vecs, nwin, err);
    if ((rc = embed_texts_alloc(e, texts, n, vecs, err)) != 0 || *vecs == NULL)
        return rc;
    for (size_t i = 0; i < n; i++)
        nwin[i] = 1;
    return 0;
}

int embed_probe_dim(embedder *e, int *dim, lore_err *err)
{
    assert(dim != NULL);
    if (e->kind == EMBED_OPENAI && e->dim == 0) {
        static const char *const probe[] = {"dimension probe"};
        float *v = NULL;
        int rc = embed_openai_texts(e, probe, 1, NULL, &v, err);
        free(v);
        if (rc != 0)
            return rc;
    }
    *dim = e->dim;
    return 0;
}

void embed_l2_normalize(float *v, int dim)
{
    double ss = 0.0;
    for (int i = 0; i < dim; i++)
        ss += (double)v[i] * (double)v[i];
    if (ss <= 0.0)
        return;
    float inv = (float)(1.0 / sqrt(ss));
    for (int i = 0; i < dim; i++)
        v[i] *= inv;
}
