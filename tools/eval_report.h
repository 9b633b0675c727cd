/* eval_report: the HTML refusal report of lore eval --refusal --report DIR: a summary table,
 * a precision-coverage curve and a reliability diagram drawn by gnuplot as PNG. */
#ifndef LORE_EVAL_REPORT_H
#define LORE_EVAL_REPORT_H

#include <stddef.h>

#include "calib.h"

typedef struct eval_report_info {
    const char *dataset, *mode, *profile;
    double threshold, oos;
    size_t noanswer;
    double ndcg10;
} eval_report_info;

/* Writes DIR/index.html, DIR/precision_coverage.png, DIR/reliability.png and the data files
 * gnuplot drew them from. Prints its own errors; returns a CLI_ code. */
int eval_report_write(const char *dir, const eval_report_info *info, const double *conf,
                      const int *correct, size_t n, const calib_summary *s);

#endif
