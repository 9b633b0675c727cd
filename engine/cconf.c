/* cconf: see cconf.h. */
#include "cconf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cconf_default(cconf *c)
{
    memset(c, 0, sizeof *c);
    c->llm.context_tokens = 8192;
    c->llm.answer_tokens = 1024;
    c->llm.temperature = 0.2;
    c->llm.stream = 1;
    c->llm.connect_timeout_ms = 5000;
    c->llm.first_token_timeout_ms = 30000;
    c->llm.timeout_ms = 120000;
    c->llm.retries = 2;
    c->llm.backoff_ms = 250;
    c->llm.breaker_failures = 5;
    c->llm.breaker_cooldown_ms = 30000;
    c->threshold = 0.85;
    c->sources = 5;
    c->history_turns = 5;
    c->min_lexical_support = 0.35;
    c->min_semantic_support = 0.45;
    c->min_validation = 0.8;
    c->pii.email = c->pii.card = c->pii.phone = c->pii.iban = 1;
}

void cconf_free(cconf *c)
{
    if (c == NULL)
        return;
    free(c->llm.base_url);
    free(c->llm.model);
    free(c->llm.api_key_env);
    free(c->llm.fallback_base_url);
    free(c->llm.fallback_model);
    free(c->llm.reasoning_effort);
    free(c->brand_voice);
    free(c->guidelines);
    cconf_default(c);
}

int cconf_has_llm(const cconf *c) { return c->llm.base_url != NULL && c->llm.base_url[0] != '\0'; }

/* ---- typed field readers: each names the file and the key in its error ---- */

typedef struct ctx {
    const char *name;
    lore_err *err;
} ctx;

static int bad(const ctx *x, const char *key, const char *what)
{
    return lore_errf(x->err, LORE_EINVAL, "%s: %s %s", x->name, key, what);
}

static int get_str(const ctx *x, const cJSON *v, const char *key, char **dst)
{
    if (cJSON_IsNull(v)) {
        free(*dst);
        *dst = NULL;
        return 0;
    }
    if (!cJSON_IsString(v))
        return bad(x, key, "must be a string");
    char *s = strdup(v->valuestring);
    if (s == NULL)
        return lore_errf(x->err, LORE_ENOMEM, "out of memory reading %s", x->name);
    free(*dst);
    *dst = s;
    return 0;
}

static int get_long(const ctx *x, const cJSON *v, const char *key, long lo, long hi, long *dst)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
        char what[96];
        snprintf(what, sizeof what, "must be a whole number in %ld..%ld", lo, hi);
        return bad(x, key, what);
    }
    *dst = (long)v->valuedouble;
    return 0;
}

static int get_int(const ctx *x, const cJSON *v, const char *key, long lo, long hi, int *dst)
{
    long l = 0; /* set when rc is 0; GCC's -O2 -Wmaybe-uninitialized cannot tell */
    int rc = get_long(x, v, key, lo, hi, &l);
    if (rc == 0)
        *dst = (int)l;
    return rc;
}

static int get_size(const ctx *x, const cJSON *v, const char *key, long lo, long hi, size_t *dst)
{
    long l = 0; /* as in get_int */
    int rc = get_long(x, v, key, lo, hi, &l);
    if (rc == 0)
        *dst = (size_t)l;
    return rc;
}

static int get_double(const ctx *x, const cJSON *v, const char *key, double lo, double hi,
                      double *dst)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        char what[96];
        snprintf(what, sizeof what, "must be a number in %g..%g", lo, hi);
        return bad(x, key, what);
    }
    *dst = v->valuedouble;
    return 0;
}

static int get_bool(const ctx *x, const cJSON *v, const char *key, int *dst)
{
    if (!cJSON_IsBool(v))
        return bad(x, key, "must be true or false");
    *dst = cJSON_IsTrue(v);
    return 0;
}

static int need_object(const ctx *x, const cJSON *v, const char *key)
{
    return cJSON_IsObject(v) ? 0 : bad(x, key, "must be an object");
}

static int parse_fallback(const ctx *x, const cJSON *o, cconf *c)
{
    int rc = need_object(x, o, "llm.fallback");
    const cJSON *v;
    for (v = o ? o->child : NULL; rc == 0 && v != NULL; v = v->next) {
        if (strcmp(v->string, "base_url") == 0)
            rc = get_str(x, v, "llm.fallback.base_url", &c->llm.fallback_base_url);
        else if (strcmp(v->string, "model") == 0)
            rc = get_str(x, v, "llm.fallback.model", &c->llm.fallback_model);
        else {
            char key[160];
            snprintf(key, sizeof key, "llm.fallback.%.100s", v->string);
            rc = bad(x, key, "is not a known key (known: base_url, model)");
        }
    }
    return rc;
}

static int parse_llm(const ctx *x, const cJSON *o, cconf *c)
{
    int rc = need_object(x, o, "llm");
    cconf_llm *l = &c->llm;
    const cJSON *v;
    for (v = o ? o->child : NULL; rc == 0 && v != NULL; v = v->next) {
        const char *k = v->string;
        if (strcmp(k, "base_url") == 0)
            rc = get_str(x, v, "llm.base_url", &l->base_url);
        else if (strcmp(k, "model") == 0)
            rc = get_str(x, v, "llm.model", &l->model);
        else if (strcmp(k, "api_key_env") == 0)
            rc = get_str(x, v, "llm.api_key_env", &l->api_key_env);
        else if (strcmp(k, "fallback") == 0)
            rc = parse_fallback(x, v, c);
        else if (strcmp(k, "context_tokens") == 0)
            rc = get_long(x, v, "llm.context_tokens", 512, 10000000, &l->context_tokens);
        else if (strcmp(k, "answer_tokens") == 0)
            rc = get_long(x, v, "llm.answer_tokens", 16, 1000000, &l->answer_tokens);
        else if (strcmp(k, "reasoning_effort") == 0) {
            rc = get_str(x, v, "llm.reasoning_effort", &l->reasoning_effort);
            if (rc == 0 && l->reasoning_effort != NULL &&
                strcmp(l->reasoning_effort, "low") != 0 &&
                strcmp(l->reasoning_effort, "medium") != 0 &&
                strcmp(l->reasoning_effort, "high") != 0)
                rc = bad(x, "llm.reasoning_effort", "must be low, medium or high");
        } else if (strcmp(k, "temperature") == 0)
            rc = get_double(x, v, "llm.temperature", 0.0, 2.0, &l->temperature);
        else if (strcmp(k, "stream") == 0)
            rc = get_bool(x, v, "llm.stream", &l->stream);
        else if (strcmp(k, "connect_timeout_ms") == 0)
            rc = get_long(x, v, "llm.connect_timeout_ms", 1, 600000, &l->connect_timeout_ms);
        else if (strcmp(k, "first_token_timeout_ms") == 0)
            rc = get_long(x, v, "llm.first_token_timeout_ms", 0, 3600000,
                          &l->first_token_timeout_ms);
        else if (strcmp(k, "timeout_ms") == 0)
            rc = get_long(x, v, "llm.timeout_ms", 1, 3600000, &l->timeout_ms);
        else if (strcmp(k, "retries") == 0)
            rc = get_int(x, v, "llm.retries", 0, 20, &l->retries);
        else if (strcmp(k, "backoff_ms") == 0)
            rc = get_long(x, v, "llm.backoff_ms", 1, 60000, &l->backoff_ms);
        else if (strcmp(k, "breaker_failures") == 0)
            rc = get_int(x, v, "llm.breaker_failures", 1, 1000, &l->breaker_failures);
        else if (strcmp(k, "breaker_cooldown_ms") == 0)
            rc = get_long(x, v, "llm.breaker_cooldown_ms", 0, 86400000, &l->breaker_cooldown_ms);
        else {
            char key[160];
            snprintf(key, sizeof key, "llm.%.100s", k);
            rc = bad(x, key, "is not a known key");
        }
    }
    if (rc == 0 && l->answer_tokens * 2 > l->context_tokens)
        rc = bad(x, "llm.answer_tokens", "must be at most half of llm.context_tokens");
    return rc;
}

static int parse_answer(const ctx *x, const cJSON *o, cconf *c)
{
    int rc = need_object(x, o, "answer");
    const cJSON *v;
    for (v = o ? o->child : NULL; rc == 0 && v != NULL; v = v->next) {
        const char *k = v->string;
        if (strcmp(k, "threshold") == 0)
            rc = get_double(x, v, "answer.threshold", 0.0, 1.0, &c->threshold);
        else if (strcmp(k, "sources") == 0)
            rc = get_size(x, v, "answer.sources", 1, 50, &c->sources);
        else if (strcmp(k, "history_turns") == 0)
            rc = get_size(x, v, "answer.history_turns", 0, 50, &c->history_turns);
        else if (strcmp(k, "brand_voice") == 0)
            rc = get_str(x, v, "answer.brand_voice", &c->brand_voice);
        else if (strcmp(k, "guidelines") == 0)
            rc = get_str(x, v, "answer.guidelines", &c->guidelines);
        else if (strcmp(k, "min_lexical_support") == 0)
            rc = get_double(x, v, "answer.min_lexical_support", 0.0, 1.0, &c->min_lexical_support);
        else if (strcmp(k, "min_validation") == 0)
            rc = get_double(x, v, "answer.min_validation", 0.0, 1.0, &c->min_validation);
        else if (strcmp(k, "min_semantic_support") == 0)
            rc = get_double(x, v, "answer.min_semantic_support", -1.0, 1.0,
                            &c->min_semantic_support);
        else {
            char key[160];
            snprintf(key, sizeof key, "answer.%.100s", k);
            rc = bad(x, key, "is not a known key");
        }
    }
    return rc;
}

static int parse_pii(const ctx *x, const cJSON *o, cconf *c)
{
    int rc = need_object(x, o, "pii");
    const cJSON *v;
    for (v = o ? o->child : NULL; rc == 0 && v != NULL; v = v->next) {
        const char *k = v->string;
        if (strcmp(k, "email") == 0)
            rc = get_bool(x, v, "pii.email", &c->pii.email);
        else if (strcmp(k, "card") == 0)
            rc = get_bool(x, v, "pii.card", &c->pii.card);
        else if (strcmp(k, "phone") == 0)
            rc = get_bool(x, v, "pii.phone", &c->pii.phone);
        else if (strcmp(k, "iban") == 0)
            rc = get_bool(x, v, "pii.iban", &c->pii.iban);
        else {
            char key[160];
            snprintf(key, sizeof key, "pii.%.100s", k);
            rc = bad(x, key, "is not a known key (known: email, card, phone, iban)");
        }
    }
    return rc;
}

int cconf_parse(const char *json, size_t len, const char *name, cconf *c, lore_err *err)
{
    cconf_default(c);
    ctx x = {name, err};
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL) {
        /* cJSON points at where parsing stopped; a line number is what people can use. */
        const char *at = cJSON_GetErrorPtr();
        long line = 1;
        if (at != NULL && at >= json && at <= json + len)
            for (const char *p = json; p < at; p++)
                line += *p == '\n';
        return lore_errf(err, LORE_EINVAL, "%s: not valid JSON (near line %ld)", name, line);
    }
    int rc = cJSON_IsObject(root) ? 0 : bad(&x, "the top level", "must be an object");
    const cJSON *v;
    for (v = rc == 0 ? root->child : NULL; rc == 0 && v != NULL; v = v->next) {
        if (strcmp(v->string, "llm") == 0)
            rc = parse_llm(&x, v, c);
        else if (strcmp(v->string, "answer") == 0)
            rc = parse_answer(&x, v, c);
        else if (strcmp(v->string, "pii") == 0)
            rc = parse_pii(&x, v, c);
        else {
            char key[160];
            snprintf(key, sizeof key, "%.100s", v->string);
            rc = bad(&x, key, "is not a known key (known: llm, answer, pii)");
        }
    }
    if (rc == 0 && cconf_has_llm(c) && (c->llm.model == NULL || c->llm.model[0] == '\0'))
        rc = bad(&x, "llm.model", "is required when llm.base_url is set");
    cJSON_Delete(root);
    if (rc != 0)
        cconf_free(c);
    return rc;
}

int cconf_load(const char *coll_dir, cconf *c, lore_err *err)
{
    cconf_default(c);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", coll_dir, CCONF_FILE) >= (int)sizeof path)
        return lore_errf(err, LORE_EINVAL, "collection path too long: %.200s", coll_dir);
    return cconf_load_file(path, 1, c, err);
}

int cconf_load_file(const char *path, int missing_ok, cconf *c, lore_err *err)
{
    cconf_default(c);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (errno == ENOENT && missing_ok)
            return 0;
        return lore_errf(err, LORE_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 4096 > cap) {
            if (cap > (1u << 20)) {
                rc = lore_errf(err, LORE_EINVAL, "%s: larger than 1 MB", path);
                break;
            }
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (p == NULL) {
                rc = lore_errf(err, LORE_ENOMEM, "out of memory reading %s", path);
                break;
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = lore_errf(err, LORE_EIO, "cannot read %s", path);
            break;
        }
    }
    fclose(f);
    if (rc == 0)
        rc = cconf_parse(buf ? buf : "", len, path, c, err);
    free(buf);
    return rc;
}

static int dup_opt(const char *s, char **d)
{
    *d = NULL;
    if (s == NULL)
        return 0;
    *d = strdup(s);
    return *d == NULL ? -1 : 0;
}

int cconf_copy(const cconf *src, cconf *dst, lore_err *err)
{
    *dst = *src;
    int bad_ = 0;
    bad_ |= dup_opt(src->llm.base_url, &dst->llm.base_url);
    bad_ |= dup_opt(src->llm.model, &dst->llm.model);
    bad_ |= dup_opt(src->llm.api_key_env, &dst->llm.api_key_env);
    bad_ |= dup_opt(src->llm.fallback_base_url, &dst->llm.fallback_base_url);
    bad_ |= dup_opt(src->llm.fallback_model, &dst->llm.fallback_model);
    bad_ |= dup_opt(src->llm.reasoning_effort, &dst->llm.reasoning_effort);
    bad_ |= dup_opt(src->brand_voice, &dst->brand_voice);
    bad_ |= dup_opt(src->guidelines, &dst->guidelines);
    if (bad_) {
        cconf_free(dst);
        return lore_errf(err, LORE_ENOMEM, "out of memory copying the collection config");
    }
    return 0;
}
