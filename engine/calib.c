#include "calib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pt {
    double c;
    int y;
    size_t i;
} pt;

static int by_conf_desc(const void *a, const void *b)
{
    const pt *x = a, *y = b;
    if (x->c != y->c)
        return x->c < y->c ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

static pt *sorted(const double *conf, const int *correct, size_t n)
{
    pt *p = malloc((n + 1) * sizeof *p);
    if (p == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        p[i] = (pt){conf[i], correct[i] ? 1 : 0, i};
    qsort(p, n, sizeof *p, by_conf_desc);
    return p;
}

static size_t bin_of(double c, size_t bins)
{
    if (!(c > 0))
        return 0;
    size_t b = (size_t)(c * (double)bins);
    return b >= bins ? bins - 1 : b;
}

void calib_reliability(const double *conf, const int *correct, size_t n, size_t bins,
                       size_t *count, double *mean_conf, double *accuracy)
{
    for (size_t b = 0; b < bins; b++)
        count[b] = 0, mean_conf[b] = 0.0, accuracy[b] = 0.0;
    for (size_t i = 0; i < n; i++) {
        size_t b = bin_of(conf[i], bins);
        count[b]++;
        mean_conf[b] += conf[i];
        accuracy[b] += correct[i] ? 1.0 : 0.0;
    }
    for (size_t b = 0; b < bins; b++) {
        if (count[b]) {
            mean_conf[b] /= (double)count[b];
            accuracy[b] /= (double)count[b];
        }
    }
}

double calib_ece(const double *conf, const int *correct, size_t n, size_t bins)
{
    if (n == 0 || bins == 0)
        return 0.0;
    double e = 0.0;
    for (size_t b = 0; b < bins; b++) {
        double sc = 0.0, sy = 0.0;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (bin_of(conf[i], bins) == b) {
                m++;
                sc += conf[i];
                sy += correct[i] ? 1.0 : 0.0;
            }
        }
        if (m)
            e += fabs(sy - sc) / (double)n; /* |bin|/n * |acc - conf| */
    }
    return e;
}

int calib_summarise(const double *conf, const int *correct, size_t n, double threshold,
                    size_t bins, calib_summary *s, lore_err *err)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        int y = correct[i] ? 1 : 0;
        s->correct += (size_t)y;
        s->brier += (conf[i] - y) * (conf[i] - y);
        if (conf[i] >= threshold) {
            s->answered++;
            s->answered_correct += (size_t)y;
        }
    }
    s->precision = s->answered ? (double)s->answered_correct / (double)s->answered : 1.0;
    s->coverage = n ? (double)s->answered / (double)n : 0.0;
    s->brier = n ? s->brier / (double)n : 0.0;
    s->ece = calib_ece(conf, correct, n, bins ? bins : 10);
    s->auroc = 0.5;
    size_t pos = s->correct, neg = n - s->correct;
    if (pos == 0 || neg == 0)
        return 0;
    pt *p = sorted(conf, correct, n);
    if (p == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory computing AUROC");
    /* Mann-Whitney: walk from the highest confidence; a tie group credits half. */
    double wins = 0.0;
    size_t neg_below = neg;
    for (size_t i = 0; i < n;) {
        size_t j = i, tp = 0, tn = 0;
        while (j < n && p[j].c == p[i].c) {
            if (p[j].y)
                tp++;
            else
                tn++;
            j++;
        }
        neg_below -= tn;
        wins += (double)tp * ((double)neg_below + 0.5 * (double)tn);
        i = j;
    }
    s->auroc = wins / ((double)pos * (double)neg);
    free(p);
    return 0;
}

int calib_curve(const double *conf, const int *correct, size_t n, double *coverage,
                double *precision, double *threshold, lore_err *err)
{
    pt *p = sorted(conf, correct, n);
    if (p == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory computing the precision curve");
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        ok += (size_t)p[i].y;
        coverage[i] = (double)(i + 1) / (double)n;
        precision[i] = (double)ok / (double)(i + 1);
        threshold[i] = p[i].c;
    }
    free(p);
    return 0;
}
