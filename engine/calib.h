/* calib: measuring how well confidences mean what they say (lore eval --refusal, lore tune).
 *
 * Inputs are parallel arrays over questions: conf[i] in 0..1, and correct[i] 1 when the top
 * result answered question i (0 for a wrong top result, and for every question that has no
 * answer). A question is answered when conf >= threshold.
 *   answered precision  correct answered / answered (1 when nothing is answered)
 *   coverage            answered / all questions
 *   ECE                 expected calibration error over `bins` equal-width bins:
 *                       sum over bins of |bin| / n * |mean correct - mean conf|
 *   AUROC               probability that a correct question outranks a wrong one by
 *                       confidence (ties count half); 0.5 when one class is empty
 * Pure functions of their inputs; no allocation except calib_auroc and calib_curve. */
#ifndef LORE_CALIB_H
#define LORE_CALIB_H

#include <stddef.h>

#include "err.h"

typedef struct calib_summary {
    size_t n, answered, answered_correct, correct;
    double precision, coverage, ece, auroc, brier;
} calib_summary;

/* Fills s; LORE_ENOMEM (AUROC needs a sort) or 0. */
int calib_summarise(const double *conf, const int *correct, size_t n, double threshold,
                    size_t bins, calib_summary *s, lore_err *err);

double calib_ece(const double *conf, const int *correct, size_t n, size_t bins);

/* The reliability diagram's bins: for bin b of `bins` equal-width bins, count[b], mean
 * confidence mean_conf[b] and share correct accuracy[b] (both 0 for an empty bin). */
void calib_reliability(const double *conf, const int *correct, size_t n, size_t bins,
                       size_t *count, double *mean_conf, double *accuracy);

/* The precision-coverage curve: questions sorted by confidence (highest first); point i is
 * answering the top i + 1: coverage[i] = (i + 1) / n, precision[i], and the confidence
 * threshold[i] that answers them. Arrays of n, allocated by the caller. LORE_ENOMEM or 0. */
int calib_curve(const double *conf, const int *correct, size_t n, double *coverage,
                double *precision, double *threshold, lore_err *err);

#endif
