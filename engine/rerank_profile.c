/* Profiles: JSON in and out, and the compiled-in default. */
#include "rerank.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* rerank_default.c */
extern const char rerank_default_json[];

static rerank_profile default_profile;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

/* The last resort should the compiled-in JSON ever fail to parse (a test guards it): rank by
 * the fused score, and a confidence that never reaches a sensible threshold. */
static void neutral_profile(rerank_profile *p)
{
    memset(p, 0, sizeof *p);
    for (int f = 0; f < RERANK_NFEAT; f++)
        p->scale[f] = 1.0;
    for (int f = 0; f < RERANK_NCONF; f++)
        p->cscale[f] = 1.0;
    p->w[RF_FUSED] = 1.0;
    p->cb = -5.0;
    p->threshold = 0.85;
    p->rerank_k = 40;
    snprintf(p->fitted_on, sizeof p->fitted_on, "nothing (neutral fallback)");
}

static int parse_into(const char *json, size_t len, const char *name, rerank_profile *p,
                      lore_err *err);

static void load_default(void)
{
    if (parse_into(rerank_default_json, strlen(rerank_default_json), "<default>",
                   &default_profile, NULL) != 0)
        neutral_profile(&default_profile);
}

const rerank_profile *rerank_profile_default(void)
{
    pthread_once(&default_once, load_default);
    return &default_profile;
}

static int get_num(const cJSON *o, const char *key, const char *name, const char *where,
                   double *out, lore_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return lore_errf(err, LORE_EINVAL, "%s: %s%s\"%s\" must be a finite number", name,
                         where, *where ? ": " : "", key);
    *out = v->valuedouble;
    return 0;
}

typedef const char *(*name_fn)(int);

/* Reads {"feature": {"mean", "scale", "weight"}, ...} into the arrays. */
static int parse_features(const cJSON *obj, const char *name, const char *section, name_fn fn,
                          int nfeat, double *mean, double *scale, double *w, lore_err *err)
{
    if (!cJSON_IsObject(obj))
        return lore_errf(err, LORE_EINVAL, "%s: %s: \"features\" must be an object", name,
                         section);
    for (int f = 0; f < nfeat; f++) {
        mean[f] = 0.0;
        scale[f] = 1.0;
        w[f] = 0.0;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        int f = 0;
        while (f < nfeat && strcmp(fn(f), it->string) != 0)
            f++;
        if (f == nfeat)
            return lore_errf(err, LORE_EINVAL, "%s: %s: unknown feature \"%s\"", name, section,
                             it->string);
        char where[160];
        snprintf(where, sizeof where, "%s feature %s", section, it->string);
        int rc = get_num(it, "mean", name, where, &mean[f], err);
        if (rc == 0)
            rc = get_num(it, "scale", name, where, &scale[f], err);
        if (rc == 0)
            rc = get_num(it, "weight", name, where, &w[f], err);
        if (rc != 0)
            return rc;
        if (!(scale[f] > 0.0))
            return lore_errf(err, LORE_EINVAL, "%s: %s: \"scale\" must be positive", name,
                             where);
    }
    return 0;
}

/* "trees": [{"split": [["feature", threshold] x 7], "leaf": [value x 8]}, ...] */
static int parse_trees(const cJSON *arr, const char *name, rerank_profile *p, lore_err *err)
{
    p->ntrees = 0;
    if (arr == NULL)
        return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > RERANK_MAX_TREES)
        return lore_errf(err, LORE_EINVAL, "%s: reranker: \"trees\" must be an array of at "
                                           "most %d trees", name, RERANK_MAX_TREES);
    const cJSON *t;
    cJSON_ArrayForEach(t, arr)
    {
        rerank_tree *tr = &p->trees[p->ntrees];
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(t, "split");
        const cJSON *lf = cJSON_GetObjectItemCaseSensitive(t, "leaf");
        if (!cJSON_IsArray(sp) || cJSON_GetArraySize(sp) != RERANK_TREE_NODES ||
            !cJSON_IsArray(lf) || cJSON_GetArraySize(lf) != RERANK_TREE_LEAVES)
            return lore_errf(err, LORE_EINVAL, "%s: reranker: tree %zu needs %d \"split\" pairs "
                             "and %d \"leaf\" values", name, p->ntrees, RERANK_TREE_NODES,
                             RERANK_TREE_LEAVES);
        for (int i = 0; i < RERANK_TREE_NODES; i++) {
            const cJSON *pair = cJSON_GetArrayItem(sp, i);
            const cJSON *fn = cJSON_GetArrayItem(pair, 0), *th = cJSON_GetArrayItem(pair, 1);
            int f = 0;
            while (cJSON_IsString(fn) && f < RERANK_NFEAT && strcmp(rerank_feature_name(f),
                                                                     fn->valuestring) != 0)
                f++;
            if (!cJSON_IsString(fn) || f == RERANK_NFEAT || !cJSON_IsNumber(th) ||
                !isfinite(th->valuedouble))
                return lore_errf(err, LORE_EINVAL, "%s: reranker: tree %zu, split %d must be "
                                 "[known feature, finite number]", name, p->ntrees, i);
            tr->feat[i] = (unsigned char)f;
            tr->thr[i] = th->valuedouble;
        }
        for (int i = 0; i < RERANK_TREE_LEAVES; i++) {
            const cJSON *v = cJSON_GetArrayItem(lf, i);
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                return lore_errf(err, LORE_EINVAL, "%s: reranker: tree %zu, leaf %d must be a "
                                 "finite number", name, p->ntrees, i);
            tr->leaf[i] = v->valuedouble;
        }
        p->ntrees++;
    }
    return 0;
}

static int parse_into(const char *json, size_t len, const char *name, rerank_profile *p,
                      lore_err *err)
{
    memset(p, 0, sizeof *p);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= json && at <= json + len ? (long)(at - json) : -1;
        return lore_errf(err, LORE_EINVAL, "%s: not valid JSON (near byte %ld)", name, off);
    }
    int rc = 0;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(root, "fitted_on");
    const cJSON *rr = cJSON_GetObjectItemCaseSensitive(root, "reranker");
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(root, "confidence");
    double k = 40;
    if (!cJSON_IsObject(root) || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "lore-profile")) {
        rc = lore_errf(err, LORE_EINVAL, "%s: not a lore profile (\"format\" must be "
                                         "\"lore-profile\")", name);
        goto done;
    }
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 1) {
        rc = lore_errf(err, LORE_EINVAL, "%s: unsupported profile version (this lore reads "
                                         "version 1)", name);
        goto done;
    }
    if (!cJSON_IsObject(rr) || !cJSON_IsObject(cf)) {
        rc = lore_errf(err, LORE_EINVAL, "%s: \"reranker\" and \"confidence\" objects are "
                                         "required", name);
        goto done;
    }
    if ((rc = get_num(root, "threshold", name, "", &p->threshold, err)) != 0 ||
        (rc = get_num(root, "rerank_k", name, "", &k, err)) != 0 ||
        (rc = get_num(cf, "bias", name, "confidence", &p->cb, err)) != 0)
        goto done;
    if (p->threshold < 0.0 || p->threshold > 1.0) {
        rc = lore_errf(err, LORE_EINVAL, "%s: \"threshold\" must be within 0..1", name);
        goto done;
    }
    if (k < 1 || k > 10000 || k != floor(k)) {
        rc = lore_errf(err, LORE_EINVAL, "%s: \"rerank_k\" must be a whole number in 1..10000",
                       name);
        goto done;
    }
    p->rerank_k = (size_t)k;
    if ((rc = parse_features(cJSON_GetObjectItemCaseSensitive(rr, "features"), name, "reranker",
                             rerank_feature_name, RERANK_NFEAT, p->mean, p->scale, p->w,
                             err)) != 0 ||
        (rc = parse_trees(cJSON_GetObjectItemCaseSensitive(rr, "trees"), name, p, err)) != 0 ||
        (rc = parse_features(cJSON_GetObjectItemCaseSensitive(cf, "features"), name,
                             "confidence", rerank_conf_feature_name, RERANK_NCONF, p->cmean,
                             p->cscale, p->cw, err)) != 0)
        goto done;
    snprintf(p->fitted_on, sizeof p->fitted_on, "%s",
             cJSON_IsString(on) ? on->valuestring : "");
done:
    cJSON_Delete(root);
    return rc;
}

int rerank_profile_parse(const char *json, size_t len, const char *name, rerank_profile *out,
                         lore_err *err)
{
    int rc = parse_into(json, len, name, out, err);
    if (rc != 0)
        *out = *rerank_profile_default();
    return rc;
}

int rerank_profile_load(const char *path, rerank_profile *out, lore_err *err)
{
    *out = *rerank_profile_default();
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return lore_errf(err, errno == ENOENT ? LORE_ENOTFOUND : LORE_EIO,
                         "cannot read profile %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 4096 > cap) {
            if (cap > ((size_t)16 << 20)) {
                rc = lore_errf(err, LORE_EINVAL, "%s: too large for a profile", path);
                break;
            }
            char *nb = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (nb == NULL) {
                rc = lore_errf(err, LORE_ENOMEM, "out of memory reading profile %s", path);
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = lore_errf(err, LORE_EIO, "reading profile %s failed", path);
            break;
        }
    }
    fclose(f);
    if (rc == 0)
        rc = rerank_profile_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

static void add_features(cJSON *obj, name_fn fn, int nfeat, const double *mean,
                         const double *scale, const double *w)
{
    for (int f = 0; f < nfeat; f++) {
        cJSON *x = cJSON_AddObjectToObject(obj, fn(f));
        cJSON_AddNumberToObject(x, "mean", mean[f]);
        cJSON_AddNumberToObject(x, "scale", scale[f]);
        cJSON_AddNumberToObject(x, "weight", w[f]);
    }
}

char *rerank_profile_to_json(const rerank_profile *p, const char *extra)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "format", "lore-profile");
    cJSON_AddNumberToObject(o, "version", 1);
    cJSON_AddStringToObject(o, "fitted_on", p->fitted_on);
    cJSON_AddNumberToObject(o, "threshold", p->threshold);
    cJSON_AddNumberToObject(o, "rerank_k", (double)p->rerank_k);
    cJSON *rr = cJSON_AddObjectToObject(o, "reranker");
    cJSON_AddStringToObject(rr, "model", p->ntrees ? "linear over standardised features plus "
                                                     "boosted trees of depth 3"
                                                   : "linear over standardised features");
    add_features(cJSON_AddObjectToObject(rr, "features"), rerank_feature_name, RERANK_NFEAT,
                 p->mean, p->scale, p->w);
    if (p->ntrees > 0) {
        cJSON *trees = cJSON_AddArrayToObject(rr, "trees");
        for (size_t t = 0; t < p->ntrees; t++) {
            const rerank_tree *tr = &p->trees[t];
            cJSON *x = cJSON_CreateObject(), *sp = cJSON_AddArrayToObject(x, "split");
            for (int i = 0; i < RERANK_TREE_NODES; i++) {
                cJSON *pair = cJSON_CreateArray();
                cJSON_AddItemToArray(pair, cJSON_CreateString(rerank_feature_name(tr->feat[i])));
                cJSON_AddItemToArray(pair, cJSON_CreateNumber(tr->thr[i]));
                cJSON_AddItemToArray(sp, pair);
            }
            cJSON_AddItemToObject(x, "leaf", cJSON_CreateDoubleArray(tr->leaf,
                                                                     RERANK_TREE_LEAVES));
            cJSON_AddItemToArray(trees, x);
        }
    }
    cJSON *cf = cJSON_AddObjectToObject(o, "confidence");
    cJSON_AddStringToObject(cf, "model", "logistic (multi-input Platt scaling)");
    cJSON_AddNumberToObject(cf, "bias", p->cb);
    add_features(cJSON_AddObjectToObject(cf, "features"), rerank_conf_feature_name,
                 RERANK_NCONF, p->cmean, p->cscale, p->cw);
    if (extra) {
        cJSON *x = cJSON_Parse(extra);
        if (x)
            cJSON_AddItemToObject(o, "cv", x);
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

int rerank_profile_save(const rerank_profile *p, const char *path, const char *extra,
                        lore_err *err)
{
    char *s = rerank_profile_to_json(p, extra);
    if (s == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory writing profile %s", path);
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (tmp == NULL) {
        free(s);
        return lore_errf(err, LORE_ENOMEM, "out of memory writing profile %s", path);
    }
    snprintf(tmp, n, "%s.tmp", path);
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        rc = lore_errf(err, LORE_EIO, "cannot write profile %s: %s", tmp, strerror(errno));
    } else {
        size_t len = strlen(s);
        int bad = fwrite(s, 1, len, f) != len || fputc('\n', f) == EOF || fflush(f) != 0 ||
                  fsync(fileno(f)) != 0;
        if (fclose(f) != 0)
            bad = 1;
        if (bad || rename(tmp, path) != 0) {
            rc = lore_errf(err, LORE_EIO, "writing profile %s failed: %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(tmp);
    free(s);
    return rc;
}
