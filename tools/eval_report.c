#include "eval_report.h"

#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BINS 10

static FILE *open_in(const char *dir, const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        cli_error("cannot write %s: %s", path, strerror(errno));
    return f;
}

static int close_ok(FILE *f, const char *path)
{
    if (fclose(f) != 0) {
        cli_error("writing %s failed", path);
        return CLI_FAIL;
    }
    return 0;
}

static void html_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

static int write_data(const char *dir, const double *conf, const int *correct, size_t n,
                      double threshold)
{
    char path[PATH_MAX + 64];
    double *cov = malloc((n + 1) * sizeof *cov), *prec = malloc((n + 1) * sizeof *prec),
           *thr = malloc((n + 1) * sizeof *thr);
    lore_err err = {0};
    int rc = 0;
    if (cov == NULL || prec == NULL || thr == NULL ||
        calib_curve(conf, correct, n, cov, prec, thr, &err) != 0) {
        cli_error("out of memory drawing the report");
        rc = CLI_FAIL;
    }
    FILE *f = rc == 0 ? open_in(dir, "curve.dat", path, sizeof path) : NULL;
    if (f) {
        fputs("# coverage precision threshold\n", f);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%.6f %.6f %.6f\n", cov[i], prec[i], thr[i]);
        rc = close_ok(f, path);
        /* The operating point: answering at the threshold. */
        if (rc == 0 && (f = open_in(dir, "point.dat", path, sizeof path)) != NULL) {
            size_t at = 0;
            while (at < n && thr[at] >= threshold)
                at++;
            if (at > 0)
                fprintf(f, "%.6f %.6f\n", cov[at - 1], prec[at - 1]);
            rc = close_ok(f, path);
        }
    }
    if (f == NULL)
        rc = CLI_FAIL;
    if (rc == 0 && (f = open_in(dir, "reliability.dat", path, sizeof path)) != NULL) {
        size_t count[BINS];
        double mc[BINS], acc[BINS];
        calib_reliability(conf, correct, n, BINS, count, mc, acc);
        fputs("# bin_mid mean_confidence accuracy count\n", f);
        for (int b = 0; b < BINS; b++)
            if (count[b])
                fprintf(f, "%.3f %.6f %.6f %zu\n", (b + 0.5) / BINS, mc[b], acc[b], count[b]);
        rc = close_ok(f, path);
    } else if (rc == 0) {
        rc = CLI_FAIL;
    }
    free(cov);
    free(prec);
    free(thr);
    return rc;
}

static const char PLOT[] =
    "set terminal pngcairo size 720,540 font 'sans,11'\n"
    "set datafile commentschars '#'\n"
    "set grid\n"
    "set key bottom left\n"
    "set output 'precision_coverage.png'\n"
    "set title 'Precision vs coverage (answering the most confident first)'\n"
    "set xlabel 'coverage (share of questions answered)'\n"
    "set ylabel 'answered precision'\n"
    "set xrange [0:1]\nset yrange [0:1.02]\n"
    "plot 'curve.dat' using 1:2 with lines lw 2 title 'precision', \\\n"
    "     'point.dat' using 1:2 with points pt 7 ps 1.5 title 'at the threshold'\n"
    "set output 'reliability.png'\n"
    "set title 'Reliability diagram (10 bins)'\n"
    "set xlabel 'mean confidence in bin'\n"
    "set ylabel 'share answered correctly'\n"
    "set key top left\n"
    "set xrange [0:1]\nset yrange [0:1]\n"
    "plot x with lines dt 2 lc rgb 'gray' title 'perfect calibration', \\\n"
    "     'reliability.dat' using 2:3 with linespoints pt 7 lw 2 title 'lore', \\\n"
    "     'reliability.dat' using 2:3:4 with labels offset 0,1 notitle\n";

static int run_gnuplot(const char *dir)
{
    char path[PATH_MAX + 64];
    FILE *f = open_in(dir, "plots.gp", path, sizeof path);
    if (f == NULL)
        return CLI_FAIL;
    fputs(PLOT, f);
    if (close_ok(f, path) != 0)
        return CLI_FAIL;
    pid_t pid = fork();
    if (pid < 0) {
        cli_error("cannot start gnuplot: %s", strerror(errno));
        return CLI_FAIL;
    }
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(126);
        execlp("gnuplot", "gnuplot", "plots.gp", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
            cli_error("gnuplot is not installed (Debian: apt-get install gnuplot-nox); the "
                      "report in %s has no images", dir);
        else
            cli_error("gnuplot failed drawing %s/plots.gp", dir);
        return CLI_FAIL;
    }
    return 0;
}

int eval_report_write(const char *dir, const eval_report_info *in, const double *conf,
                      const int *correct, size_t n, const calib_summary *s)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_error("cannot create report folder %s: %s", dir, strerror(errno));
        return CLI_FAIL;
    }
    int rc = write_data(dir, conf, correct, n, in->threshold);
    if (rc != 0)
        return rc;
    int plotted = run_gnuplot(dir) == 0;
    char path[PATH_MAX + 64];
    FILE *f = open_in(dir, "index.html", path, sizeof path);
    if (f == NULL)
        return CLI_FAIL;
    fputs("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>lore refusal report"
          "</title>\n<style>body{font-family:sans-serif;max-width:1400px;margin:2em}"
          "td,th{padding:2px 12px;text-align:left}img{max-width:640px;margin:8px}</style>"
          "</head><body>\n<h1>lore refusal report</h1>\n<p>Dataset <code>", f);
    html_escape(f, in->dataset);
    fprintf(f, "</code>, mode %s, profile <code>", in->mode);
    html_escape(f, in->profile);
    fprintf(f, "</code>.</p>\n<table>\n"
               "<tr><th>questions</th><td>%zu (%zu without an answer in the index%s)</td></tr>\n"
               "<tr><th>threshold</th><td>%.2f</td></tr>\n"
               "<tr><th>answered precision</th><td>%.4f (%zu of %zu answered are right)</td></tr>\n"
               "<tr><th>coverage</th><td>%.4f</td></tr>\n"
               "<tr><th>expected calibration error</th><td>%.4f (10 bins)</td></tr>\n"
               "<tr><th>AUROC</th><td>%.4f</td></tr>\n"
               "<tr><th>Brier score</th><td>%.4f</td></tr>\n"
               "<tr><th>top result right</th><td>%zu of %zu</td></tr>\n"
               "<tr><th>nDCG@10 (answerable)</th><td>%.4f</td></tr>\n</table>\n",
            s->n, in->noanswer, in->oos > 0 ? ", out-of-scope simulation" : "", in->threshold,
            s->precision, s->answered_correct, s->answered, s->coverage, s->ece, s->auroc,
            s->brier, s->correct, s->n, in->ndcg10);
    if (plotted)
        fputs("<p><img src=\"precision_coverage.png\" alt=\"precision-coverage curve\">"
              "<img src=\"reliability.png\" alt=\"reliability diagram\"></p>\n", f);
    else
        fputs("<p>(gnuplot was not available: no images; the data is in curve.dat and "
              "reliability.dat)</p>\n", f);
    fputs("<p>A question is answered when its confidence is at least the threshold and is "
          "right when the top result's article is relevant; questions without an answer are "
          "never right. The curve answers the most confident questions first; the dot is the "
          "threshold. In the reliability diagram each point is a confidence bin (labelled with "
          "its count): on the diagonal, confidence means what it says.</p>\n</body></html>\n",
          f);
    return close_ok(f, path);
}
