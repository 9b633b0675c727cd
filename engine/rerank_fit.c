#include "rerank_fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void rerank_fit_options_default(rerank_fit_options *o)
{
    memset(o, 0, sizeof *o);
    o->l2 = 1e-3;
    o->conf_l2 = 1e-3;
    o->iters = 400;
    o->trees = 100;
    o->shrinkage = 0.1;
    o->tree_l2 = 1.0;
    for (int f = 0; f < RERANK_NFEAT; f++)
        o->use[f] = 1;
}

/* One Adam step over d parameters; t counts steps from 1. */
static void adam(double *w, const double *g, double *m, double *v, int d, int t, double lr)
{
    const double b1 = 0.9, b2 = 0.999;
    double c1 = 1.0 - pow(b1, t), c2 = 1.0 - pow(b2, t);
    for (int i = 0; i < d; i++) {
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        w[i] -= lr * (m[i] / c1) / (sqrt(v[i] / c2) + 1e-8);
    }
}

static int trainable(const rerank_fit_query *q)
{
    int pos = 0, neg = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (q->gain[i] > 0)
            pos = 1;
        else
            neg = 1;
    }
    return q->answerable && pos && neg;
}

int rerank_fit_ranker(const rerank_fit_query *q, size_t nq, const rerank_fit_options *o,
                      rerank_profile *p, lore_err *err)
{
    enum { D = RERANK_NFEAT };
    size_t total = 0, ntrain = 0;
    double sum[D] = {0}, sq[D] = {0};
    for (size_t k = 0; k < nq; k++) {
        for (size_t i = 0; i < q[k].n; i++) {
            for (int f = 0; f < D; f++) {
                double x = q[k].feat[i * D + f];
                sum[f] += x;
                sq[f] += x * x;
            }
        }
        total += q[k].n;
        ntrain += trainable(&q[k]) ? 1 : 0;
    }
    if (ntrain == 0)
        return lore_errf(err, LORE_EINVAL, "no query has both a relevant and a non-relevant "
                                           "candidate: nothing to fit the reranker on");
    int use[D];
    for (int f = 0; f < D; f++) {
        double mean = sum[f] / (double)total;
        double var = sq[f] / (double)total - mean * mean;
        p->mean[f] = mean;
        p->scale[f] = var > 1e-12 ? sqrt(var) : 1.0;
        p->w[f] = 0.0;
        use[f] = o->use[f] && var > 1e-12; /* a constant feature cannot rank */
    }
    double *x = malloc((total + 1) * D * sizeof *x);
    double *s = malloc((total + 1) * sizeof *s);
    if (x == NULL || s == NULL) {
        free(x);
        free(s);
        return lore_errf(err, LORE_ENOMEM, "out of memory fitting the reranker");
    }
    size_t at = 0;
    for (size_t k = 0; k < nq; k++)
        for (size_t i = 0; i < q[k].n; i++, at++)
            for (int f = 0; f < D; f++)
                x[at * D + f] = use[f] ? (q[k].feat[i * D + f] - p->mean[f]) / p->scale[f] : 0.0;
    double w[D] = {0}, m[D] = {0}, v[D] = {0};
    for (int t = 1; t <= o->iters; t++) {
        double g[D] = {0};
        at = 0;
        for (size_t k = 0; k < nq; k++) {
            const rerank_fit_query *qq = &q[k];
            size_t base = at;
            at += qq->n;
            if (!trainable(qq))
                continue;
            double mx = -INFINITY, z = 0.0, gsum = 0.0;
            for (size_t i = 0; i < qq->n; i++) {
                double si = 0.0;
                for (int f = 0; f < D; f++)
                    si += w[f] * x[(base + i) * D + f];
                s[i] = si;
                mx = si > mx ? si : mx;
                gsum += qq->gain[i] > 0 ? qq->gain[i] : 0;
            }
            for (size_t i = 0; i < qq->n; i++)
                z += (s[i] = exp(s[i] - mx));
            for (size_t i = 0; i < qq->n; i++) {
                double target = qq->gain[i] > 0 ? qq->gain[i] / gsum : 0.0;
                double d = s[i] / z - target;
                for (int f = 0; f < D; f++)
                    g[f] += d * x[(base + i) * D + f];
            }
        }
        for (int f = 0; f < D; f++)
            g[f] = use[f] ? g[f] / (double)ntrain + o->l2 * w[f] : 0.0;
        adam(w, g, m, v, D, t, 0.05);
    }
    for (int f = 0; f < D; f++)
        p->w[f] = use[f] ? w[f] : 0.0;
    free(x);
    free(s);
    return 0;
}

typedef struct ord {
    double s;
    size_t i;
} ord;

static int by_s(const void *a, const void *b)
{
    const ord *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

/* The confidence features of q reranked by p. */
static int conf_row(const rerank_profile *p, const rerank_fit_query *q, size_t *order,
                    double cf[RERANK_NCONF], int *correct)
{
    size_t n = q->n;
    ord *o = malloc((n + 1) * sizeof *o);
    double *sc = malloc((n + 1) * sizeof *sc);
    int *art = malloc((n + 1) * sizeof *art);
    if (o == NULL || sc == NULL || art == NULL) {
        free(o);
        free(sc);
        free(art);
        return LORE_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        o[i].s = q->score ? q->score[i] : rerank_score(p, q->feat + i * RERANK_NFEAT);
        o[i].i = i;
    }
    qsort(o, n, sizeof *o, by_s);
    for (size_t i = 0; i < n; i++) {
        sc[i] = o[i].s;
        art[i] = q->article[o[i].i];
        if (order)
            order[i] = o[i].i;
    }
    rerank_conf_features(sc, n ? q->feat + o[0].i * RERANK_NFEAT : q->feat, art, n, q->nterms,
                         cf);
    *correct = n > 0 && q->answerable && q->gain[o[0].i] > 0;
    free(o);
    free(sc);
    free(art);
    return 0;
}

int rerank_fit_apply(const rerank_profile *p, const rerank_fit_query *q, size_t *order,
                     double *conf, int *correct, lore_err *err)
{
    double cf[RERANK_NCONF];
    if (conf_row(p, q, order, cf, correct) != 0)
        return lore_errf(err, LORE_ENOMEM, "out of memory reranking");
    /* As search_run: an empty candidate list is a refusal with no confidence at all. */
    *conf = q->n == 0 ? 0.0 : rerank_confidence(p, cf);
    return 0;
}

int rerank_fit_confidence(const rerank_fit_query *q, size_t nq, const rerank_fit_options *o,
                          rerank_profile *p, lore_err *err)
{
    enum { D = RERANK_NCONF };
    double *x = malloc((nq + 1) * D * sizeof *x);
    int *y = malloc((nq + 1) * sizeof *y);
    if (x == NULL || y == NULL) {
        free(x);
        free(y);
        return lore_errf(err, LORE_ENOMEM, "out of memory fitting the confidence model");
    }
    size_t m = 0, pos = 0;
    for (size_t k = 0; k < nq; k++) {
        if (q[k].n == 0)
            continue; /* refused as no_match before the model is asked */
        if (conf_row(p, &q[k], NULL, x + m * D, &y[m]) != 0) {
            free(x);
            free(y);
            return lore_errf(err, LORE_ENOMEM, "out of memory fitting the confidence model");
        }
        pos += (size_t)y[m];
        m++;
    }
    if (pos == 0 || pos == m) {
        free(x);
        free(y);
        return lore_errf(err, LORE_EINVAL, "the top result is %s for every query: the "
                                           "confidence model needs both outcomes to fit",
                         pos ? "right" : "wrong");
    }
    for (int f = 0; f < D; f++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < m; i++) {
            s += x[i * D + f];
            s2 += x[i * D + f] * x[i * D + f];
        }
        double mean = s / (double)m, var = s2 / (double)m - mean * mean;
        p->cmean[f] = mean;
        p->cscale[f] = var > 1e-12 ? sqrt(var) : 1.0;
        for (size_t i = 0; i < m; i++)
            x[i * D + f] = (x[i * D + f] - mean) / p->cscale[f];
    }
    /* Parameters: D weights, then the bias. */
    double w[D + 1] = {0}, mo[D + 1] = {0}, v[D + 1] = {0};
    w[D] = log((double)pos / (double)(m - pos));
    for (int t = 1; t <= 4 * o->iters; t++) {
        double g[D + 1] = {0};
        for (size_t i = 0; i < m; i++) {
            double z = w[D];
            for (int f = 0; f < D; f++)
                z += w[f] * x[i * D + f];
            double d = 1.0 / (1.0 + exp(-z)) - y[i];
            for (int f = 0; f < D; f++)
                g[f] += d * x[i * D + f];
            g[D] += d;
        }
        for (int f = 0; f <= D; f++)
            g[f] = g[f] / (double)m + (f < D ? o->conf_l2 * w[f] : 0.0);
        adam(w, g, mo, v, D + 1, t, 0.05);
    }
    for (int f = 0; f < D; f++)
        p->cw[f] = w[f];
    p->cb = w[D];
    free(x);
    free(y);
    return 0;
}

/* ---- boosted trees ---- */

#define NBINS 32

typedef struct cuts {
    double thr[NBINS]; /* ascending; x <= thr[j] is bin j or lower */
    int n;
} cuts;

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Thresholds at quantiles of the values, each halfway between two distinct data values, so
 * that no value sits on a threshold (rounding in a profile file cannot move a candidate). */
static void make_cuts(double *v, size_t n, cuts *c)
{
    qsort(v, n, sizeof *v, by_double);
    c->n = 0;
    for (int k = 1; k <= NBINS && n > 1; k++) {
        size_t at = (size_t)((double)k * (double)n / (NBINS + 1));
        if (at >= n - 1)
            at = n - 2;
        double lo = v[at];
        size_t j = at + 1;
        while (j < n && v[j] == lo)
            j++;
        if (j == n)
            continue;
        double t = lo + (v[j] - lo) / 2;
        if (c->n == 0 || t > c->thr[c->n - 1])
            c->thr[c->n++] = t;
    }
}

static unsigned char bin_of_value(const cuts *c, double x)
{
    int b = 0;
    while (b < c->n && x > c->thr[b])
        b++;
    return (unsigned char)b; /* 0..n: bins are thresholds passed */
}

int rerank_fit_trees(const rerank_fit_query *q, size_t nq, const rerank_fit_options *o,
                     rerank_profile *p, lore_err *err)
{
    enum { D = RERANK_NFEAT };
    p->ntrees = 0;
    size_t total = 0, ntrain = 0;
    for (size_t k = 0; k < nq; k++) {
        total += q[k].n;
        ntrain += trainable(&q[k]);
    }
    if (ntrain == 0)
        return lore_errf(err, LORE_EINVAL, "no query has both a relevant and a non-relevant "
                                           "candidate: nothing to fit the trees on");
    size_t want = o->trees < RERANK_MAX_TREES ? o->trees : RERANK_MAX_TREES;
    cuts *cut = calloc(D, sizeof *cut);
    unsigned char *bin = malloc((total + 1) * D);
    double *vals = malloc((total + 1) * sizeof *vals);
    double *s = malloc((total + 1) * sizeof *s), *g = malloc((total + 1) * sizeof *g),
           *h = malloc((total + 1) * sizeof *h);
    unsigned char *node = malloc(total + 1);
    double(*hist)[D][NBINS + 1][2] = malloc(4 * sizeof *hist);
    if (!cut || !bin || !vals || !s || !g || !h || !node || !hist) {
        free(cut), free(bin), free(vals), free(s), free(g), free(h), free(node), free(hist);
        return lore_errf(err, LORE_ENOMEM, "out of memory fitting the trees");
    }
    for (int f = 0; f < D; f++) {
        size_t at = 0;
        for (size_t k = 0; k < nq; k++)
            for (size_t i = 0; i < q[k].n; i++)
                vals[at++] = q[k].feat[i * D + f];
        make_cuts(vals, total, &cut[f]);
        at = 0;
        for (size_t k = 0; k < nq; k++)
            for (size_t i = 0; i < q[k].n; i++, at++)
                bin[at * D + f] = bin_of_value(&cut[f], q[k].feat[i * D + f]);
    }
    size_t at = 0;
    for (size_t k = 0; k < nq; k++)
        for (size_t i = 0; i < q[k].n; i++, at++)
            s[at] = rerank_score(p, q[k].feat + i * D); /* the linear model: trees start here */
    const double lambda = o->tree_l2;
    const double min_h = 1.0 / (double)ntrain; /* about 40 candidates of a 40-candidate list */
    for (size_t t = 0; t < want; t++) {
        /* Gradients and curvatures of the listwise loss at the current scores. */
        at = 0;
        for (size_t k = 0; k < nq; k++) {
            const rerank_fit_query *qq = &q[k];
            size_t base = at;
            at += qq->n;
            if (!trainable(qq)) {
                for (size_t i = 0; i < qq->n; i++)
                    g[base + i] = h[base + i] = 0.0;
                continue;
            }
            double mx = -INFINITY, z = 0.0, gsum = 0.0;
            for (size_t i = 0; i < qq->n; i++) {
                mx = s[base + i] > mx ? s[base + i] : mx;
                gsum += qq->gain[i] > 0 ? qq->gain[i] : 0;
            }
            for (size_t i = 0; i < qq->n; i++)
                z += exp(s[base + i] - mx);
            for (size_t i = 0; i < qq->n; i++) {
                double pi = exp(s[base + i] - mx) / z;
                double target = qq->gain[i] > 0 ? qq->gain[i] / gsum : 0.0;
                g[base + i] = (pi - target) / (double)ntrain;
                h[base + i] = (pi * (1.0 - pi) + 1e-6) / (double)ntrain;
            }
        }
        rerank_tree *tr = &p->trees[p->ntrees];
        int split_bin[RERANK_TREE_NODES];
        memset(node, 0, total);
        for (int level = 0, first = 0; level < 3; level++) {
            int width = 1 << level;
            memset(hist, 0, 4 * sizeof *hist);
            for (size_t i = 0; i < total; i++) {
                if (h[i] == 0.0)
                    continue;
                int nd = node[i] - first;
                for (int f = 0; f < D; f++) {
                    hist[nd][f][bin[i * D + f]][0] += g[i];
                    hist[nd][f][bin[i * D + f]][1] += h[i];
                }
            }
            for (int nd = 0; nd < width; nd++) {
                int id = first + nd, bf = 0, bb = -1;
                double G = 0, H = 0, best = 1e-12;
                for (int b = 0; b <= NBINS; b++) {
                    G += hist[nd][0][b][0];
                    H += hist[nd][0][b][1];
                }
                for (int f = 0; f < D; f++) {
                    double gl = 0, hl = 0;
                    for (int b = 0; b < cut[f].n; b++) {
                        gl += hist[nd][f][b][0];
                        hl += hist[nd][f][b][1];
                        double gr = G - gl, hr = H - hl;
                        if (hl < min_h || hr < min_h)
                            continue; /* too few candidates on a side to trust */
                        double gain = gl * gl / (hl + lambda / (double)ntrain) +
                                      gr * gr / (hr + lambda / (double)ntrain) -
                                      G * G / (H + lambda / (double)ntrain);
                        if (gain > best) {
                            best = gain;
                            bf = f;
                            bb = b;
                        }
                    }
                }
                tr->feat[id] = (unsigned char)bf;
                tr->thr[id] = bb >= 0 ? cut[bf].thr[bb] : 1e300;
                split_bin[id] = bb >= 0 ? bb : NBINS + 1;
            }
            for (size_t i = 0; i < total; i++) {
                int id = node[i];
                node[i] = (unsigned char)(2 * id + 1 + (bin[i * D + tr->feat[id]] > split_bin[id]));
            }
            first += width;
        }
        double lg[RERANK_TREE_LEAVES] = {0}, lh[RERANK_TREE_LEAVES] = {0};
        for (size_t i = 0; i < total; i++) {
            lg[node[i] - RERANK_TREE_NODES] += g[i];
            lh[node[i] - RERANK_TREE_NODES] += h[i];
        }
        for (int l = 0; l < RERANK_TREE_LEAVES; l++)
            tr->leaf[l] = -o->shrinkage * lg[l] / (lh[l] + lambda / (double)ntrain);
        for (size_t i = 0; i < total; i++)
            s[i] += tr->leaf[node[i] - RERANK_TREE_NODES];
        p->ntrees++;
    }
    free(cut), free(bin), free(vals), free(s), free(g), free(h), free(node), free(hist);
    return 0;
}
