/* lore tune: fits the reranker and the confidence model under k-fold cross-validation and
 * writes a profile. */
#include "calib.h"
#include "cli.h"
#include "eval_report.h"
#include "evalds.h"
#include "evalm.h"
#include "rerank_fit.h"
#include "rerank_xenc.h"
#include "search.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void tune_usage(FILE *f)
{
    fputs("usage: lore tune DATASET_DIR [options]\n\n"
          "Fits the reranker (a linear model over retrieval, match and agreement features,\n"
          "plus boosted trees; listwise objective) and the confidence model (logistic,\n"
          "fitted by log loss on cross-fitted reranker scores) on a BEIR-format dataset's\n"
          "labelled queries. Reports k-fold cross-validated figures (queries of one thread\n"
          "or article stay in one fold), then fits on all queries and writes a profile\n"
          "that lore search, eval and serve load (copy it to the collection's folder as\n"
          "profile.json, or pass --profile).\n\n"
          "options:\n"
          "  -o, --output FILE       profile to write (default profile.json)\n"
          "      --split NAME        qrels split to fit on (default: train when the dataset\n"
          "                          has qrels/train.tsv, else test)\n"
          "      --folds K           cross-validation folds (default 5; 0: no CV)\n"
          "      --out-of-scope S    leave a share S of the corpus's threads out of the index\n"
          "                          so the confidence model sees questions it must refuse\n"
          "                          (default 0)\n"
          "  -m, --mode MODE         bm25 | vector | hybrid (default hybrid)\n"
          "      --embedder SPEC     embedder of the scratch collection (default "
          COLL_DEFAULT_EMBEDDER ")\n"
          "      --dense-weight W    convex fusion: share of the dense score (default 0.3)\n"
          "      --candidates N      candidates per retriever (default 200)\n"
          "      --cross-encoder URL an external reranker (/v1/rerank: TEI, llama.cpp, Jina,\n"
          "                          Cohere) scoring the top candidates as one more feature;\n"
          "                          key from $LORE_RERANK_API_KEY\n"
          "      --cross-encoder-model M  model name sent to it (default rerank)\n"
          "      --rerank-k N        fused candidates to rerank (default 40)\n"
          "      --threshold T       threshold written into the profile (default 0.85)\n"
          "      --trees N           boosted trees added to the linear reranker (default:\n"
          "                          100 or none, whichever cross-validates better)\n"
          "      --l2 X              linear reranker's L2 penalty (default: the best of 0.001,\n"
          "                          0.01, 0.1 and 1 by cross-validated nDCG@10; 0.1 without\n"
          "                          CV)\n"
          "      --data DIR          data directory (default: $LORE_DATA or ~/.local/share/lore)\n"
          "      --json              print the cross-validated figures as one JSON object\n"
          "      --report DIR        an HTML report of the cross-validated confidences:\n"
          "                          precision-coverage curve and reliability diagram\n"
          "  -h, --help              this help\n", f);
}

typedef struct tq {
    double *feat;
    int *gain, *article;
    char **art_id; /* per candidate, borrowed from the search results copy */
    size_t n, nterms;
    int answerable, fold;
    const evalm_qrel *qrel;
    const char *group; /* borrowed from the dataset */
} tq;

typedef struct tune_args {
    evalds_options ds;
    const char *output, *report, *xurl, *xmodel;
    size_t folds;
    int json, mode_given;
    double threshold, l2;
    int l2_given;
    size_t trees;
    int trees_given;
    search_options so;
} tune_args;

static void tq_free(tq *q)
{
    for (size_t i = 0; q->art_id && i < q->n; i++)
        free(q->art_id[i]);
    free(q->art_id);
    free(q->feat);
    free(q->gain);
    free(q->article);
}

static int grade_of(const evalm_qrel *q, const char *doc)
{
    for (size_t i = 0; q && i < q->njudged; i++)
        if (strcmp(q->judged[i].doc_id, doc) == 0)
            return q->judged[i].grade;
    return 0;
}

static int by_fused_rank(const void *a, const void *b)
{
    const search_cand *x = a, *y = b;
    return (x->fused_rank > y->fused_rank) - (x->fused_rank < y->fused_rank);
}

/* Runs every evaluated query once and keeps its head's features, in fused order. */
static int collect(const tune_args *a, evalds *d, tq **out, size_t *nout)
{
    lore_err err = {0};
    searcher *s;
    if (searcher_new(d->c, &s, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    tq *qs = calloc(d->qs.n + 1, sizeof *qs);
    size_t n = 0;
    int rc = qs ? 0 : CLI_FAIL;
    search_options so = a->so;
    so.keep_candidates = 1;
    so.k = 1;
    so.snippets = 0;
    for (size_t i = 0; i < d->qs.n && rc == 0; i++) {
        if (d->status[i] == EVALDS_SKIP)
            continue;
        search_results r;
        if (search_run(s, d->qs.items[i].text, &so, &r, &err) != 0) {
            cli_error("query %s: %s", d->qs.items[i].id, err.msg);
            rc = CLI_FAIL;
            break;
        }
        if (r.reason && strcmp(r.reason, SEARCH_REASON_RERANKER_DOWN) == 0) {
            /* Fitting on a missing feature would teach the profile to ignore it. */
            cli_error("query %s: the cross-encoder failed; not fitting without its scores",
                      d->qs.items[i].id);
            search_results_free(&r);
            rc = CLI_FAIL;
            break;
        }
        qsort(r.cands, r.ncands, sizeof *r.cands, by_fused_rank);
        tq *q = &qs[n++];
        q->n = r.ncands;
        q->nterms = r.nterms;
        q->answerable = d->status[i] == EVALDS_ANSWER;
        q->qrel = evalm_qrels_find(&d->qr, d->qs.items[i].id);
        q->fold = a->folds ? (int)(evalds_hash(d->group[i]) % a->folds) : 0;
        q->group = d->group[i];
        q->feat = malloc((q->n + 1) * RERANK_NFEAT * sizeof *q->feat);
        q->gain = calloc(q->n + 1, sizeof *q->gain);
        q->article = calloc(q->n + 1, sizeof *q->article);
        q->art_id = calloc(q->n + 1, sizeof *q->art_id);
        if (!q->feat || !q->gain || !q->article || !q->art_id) {
            cli_error("out of memory");
            rc = CLI_FAIL;
        }
        for (size_t j = 0; rc == 0 && j < q->n; j++) {
            memcpy(q->feat + j * RERANK_NFEAT, r.cands[j].feat, sizeof r.cands[j].feat);
            q->art_id[j] = r.cands[j].article_id;
            r.cands[j].article_id = NULL;
            q->gain[j] = q->answerable ? grade_of(q->qrel, q->art_id[j]) : 0;
            q->article[j] = (int)j;
            for (size_t k = 0; k < j; k++) {
                if (strcmp(q->art_id[k], q->art_id[j]) == 0) {
                    q->article[j] = q->article[k];
                    break;
                }
            }
        }
        search_results_free(&r);
        /* One progress line each 200 queries: the lines stay readable in a log file. */
        if (n % 200 == 0)
            fprintf(stderr, "lore tune: %zu queries searched\n", n);
    }
    fprintf(stderr, "lore tune: %zu queries\n", n);
    searcher_free(s);
    *out = qs;
    *nout = n;
    return rc;
}

static void as_fit(const tq *q, rerank_fit_query *f)
{
    f->feat = q->feat;
    f->gain = q->gain;
    f->article = q->article;
    f->n = q->n;
    f->nterms = q->nterms;
    f->answerable = q->answerable;
    f->score = NULL;
}

static void fit_options(const tune_args *a, rerank_fit_options *o)
{
    rerank_fit_options_default(o);
    o->l2 = a->l2;
    o->trees = a->trees;
}

/* The reranker alone (linear, then trees) on the queries not in skip_fold. */
static int fit_ranker(const rerank_fit_query *f, size_t m, const tune_args *a,
                      rerank_profile *p, lore_err *err)
{
    rerank_fit_options o;
    fit_options(a, &o);
    *p = *rerank_profile_default();
    p->threshold = a->threshold;
    p->rerank_k = a->so.rerank_k;
    int rc = rerank_fit_ranker(f, m, &o, p, err);
    if (rc == 0 && o.trees > 0)
        rc = rerank_fit_trees(f, m, &o, p, err);
    return rc;
}

/* Fits reranker and confidence on the queries not in skip_fold. With cross_fit, the
 * confidence model learns from scores that inner-fold rerankers gave queries they did not
 * see (the scores it will meet in use), not from the final reranker's in-sample scores. */
static int fit(const tq *qs, size_t n, int skip_fold, const tune_args *a, int cross_fit,
               rerank_profile *p, lore_err *err)
{
    rerank_fit_query *f = calloc(n + 1, sizeof *f);
    int *inner = calloc(n + 1, sizeof *inner);
    double **oof = calloc(n + 1, sizeof *oof);
    rerank_profile *ip = malloc(sizeof *ip);
    if (f == NULL || inner == NULL || oof == NULL || ip == NULL) {
        free(f), free(inner), free(oof), free(ip);
        return lore_errf(err, LORE_ENOMEM, "out of memory fitting");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (qs[i].fold != skip_fold) {
            as_fit(&qs[i], &f[m]);
            /* Inner folds: a second hash of the same group key would be neater; the query's
             * position is deterministic too, and groups rarely straddle. */
            inner[m] = (int)(evalds_hash(qs[i].group) >> 32) % 5;
            m++;
        }
    }
    int rc = fit_ranker(f, m, a, p, err);
    enum { K = 5 };
    for (int k = 0; rc == 0 && cross_fit && k < K; k++) {
        rerank_fit_query *g = calloc(m + 1, sizeof *g);
        size_t mg = 0;
        if (g == NULL) {
            rc = lore_errf(err, LORE_ENOMEM, "out of memory fitting");
            break;
        }
        for (size_t i = 0; i < m; i++)
            if (inner[i] != k)
                g[mg++] = f[i];
        rc = fit_ranker(g, mg, a, ip, err);
        free(g);
        for (size_t i = 0; rc == 0 && i < m; i++) {
            if (inner[i] != k)
                continue;
            if ((oof[i] = malloc((f[i].n + 1) * sizeof *oof[i])) == NULL) {
                rc = lore_errf(err, LORE_ENOMEM, "out of memory fitting");
                break;
            }
            for (size_t j = 0; j < f[i].n; j++)
                oof[i][j] = rerank_score(ip, f[i].feat + j * RERANK_NFEAT);
            f[i].score = oof[i];
        }
    }
    if (rc == 0) {
        rerank_fit_options o;
        fit_options(a, &o);
        rc = rerank_fit_confidence(f, m, &o, p, err);
    }
    for (size_t i = 0; i < m; i++)
        free(oof[i]);
    free(oof);
    free(inner);
    free(f);
    free(ip);
    return rc;
}

/* nDCG@10 of one query's head in the given candidate order (order NULL: fused order). */
static double ndcg_of(const tq *q, const size_t *order)
{
    const char **ranked = malloc((q->n + 1) * sizeof *ranked);
    if (ranked == NULL)
        return 0.0;
    for (size_t i = 0; i < q->n; i++)
        ranked[i] = q->art_id[order ? order[i] : i];
    evalm_scores s;
    evalm_score_query(q->qrel, ranked, q->n, &s);
    free(ranked);
    return s.ndcg10;
}

typedef struct cv_out {
    double ndcg_fused, ndcg_rerank;
    size_t nanswer;
    calib_summary cs;
    double *conf; /* out-of-fold confidence per query */
    int *correct;
} cv_out;

static int cross_validate(const tq *qs, size_t n, const tune_args *a, int cross_fit,
                          cv_out *cv)
{
    lore_err err = {0};
    memset(cv, 0, sizeof *cv);
    double *conf = calloc(n + 1, sizeof *conf);
    int *correct = calloc(n + 1, sizeof *correct);
    size_t *order = NULL, maxn = 0;
    for (size_t i = 0; i < n; i++)
        maxn = qs[i].n > maxn ? qs[i].n : maxn;
    order = malloc((maxn + 1) * sizeof *order);
    rerank_profile *p = malloc(sizeof *p); /* tens of kB: not on the stack */
    int rc = conf && correct && order && p ? 0 : lore_errf(&err, LORE_ENOMEM, "out of memory");
    for (size_t k = 0; rc == 0 && k < a->folds; k++) {
        if ((rc = fit(qs, n, (int)k, a, cross_fit, p, &err)) != 0)
            break;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (qs[i].fold != (int)k)
                continue;
            rerank_fit_query f;
            as_fit(&qs[i], &f);
            if ((rc = rerank_fit_apply(p, &f, order, &conf[i], &correct[i], &err)) != 0)
                break;
            if (qs[i].answerable) {
                cv->ndcg_fused += ndcg_of(&qs[i], NULL);
                cv->ndcg_rerank += ndcg_of(&qs[i], order);
                cv->nanswer++;
            }
        }
    }
    if (rc == 0)
        rc = calib_summarise(conf, correct, n, a->threshold, 10, &cv->cs, &err);
    if (rc != 0)
        cli_error("cross-validation: %s", err.msg);
    if (cv->nanswer) {
        cv->ndcg_fused /= (double)cv->nanswer;
        cv->ndcg_rerank /= (double)cv->nanswer;
    }
    cv->conf = conf;
    cv->correct = correct;
    free(order);
    free(p);
    return rc ? CLI_FAIL : 0;
}

static int parse_args(int argc, char **argv, tune_args *a)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},    {"split", required_argument, NULL, 'S'},
        {"folds", required_argument, NULL, 'k'},     {"out-of-scope", required_argument, NULL, 'O'},
        {"mode", required_argument, NULL, 'm'},      {"embedder", required_argument, NULL, 'E'},
        {"dense-weight", required_argument, NULL, 'W'}, {"candidates", required_argument, NULL, 'N'},
        {"rerank-k", required_argument, NULL, 'K'},  {"threshold", required_argument, NULL, 't'},
        {"l2", required_argument, NULL, 'L'},        {"data", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},            {"help", no_argument, NULL, 'h'},
        {"cross-encoder", required_argument, NULL, 'X'}, {"cross-encoder-model", required_argument, NULL, 'Y'},
        {"report", required_argument, NULL, 'H'},    {"trees", required_argument, NULL, 'B'},    {NULL, 0, NULL, 0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "o:m:h", opts, NULL)) != -1) {
        int taken = evalds_option(ch, optarg, &a->ds, &a->so, &a->mode_given);
        if (taken >= 0) {
            if (taken != 0)
                return taken;
            continue;
        }
        switch (ch) {
        case 'o': a->output = optarg; break;
        case 'k':
            if (cli_size("--folds", optarg, 0, 50, &a->folds) || a->folds == 1) {
                if (a->folds == 1)
                    cli_error("--folds wants 0 (no cross-validation) or 2 to 50, not 1");
                return CLI_USAGE;
            }
            break;
        case 'K':
            if (cli_size("--rerank-k", optarg, 2, 1000, &a->so.rerank_k))
                return CLI_USAGE;
            break;
        case 't':
            if (cli_double("--threshold", optarg, 0.0, 1.0, &a->threshold))
                return CLI_USAGE;
            break;
        case 'L':
            if (cli_double("--l2", optarg, 0.0, 100.0, &a->l2))
                return CLI_USAGE;
            a->l2_given = 1;
            break;
        case 'j': a->json = 1; break;
        case 'H': a->report = optarg; break;
        case 'B':
            if (cli_size("--trees", optarg, 0, RERANK_MAX_TREES, &a->trees))
                return CLI_USAGE;
            a->trees_given = 1;
            break;
        case 'X': a->xurl = optarg; break;
        case 'Y': a->xmodel = optarg; break;
        case 'h': tune_usage(stdout); return -1;
        default: tune_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error("tune needs exactly one DATASET_DIR");
        tune_usage(stderr);
        return CLI_USAGE;
    }
    a->ds.dataset = argv[optind];
    if (a->report && a->folds < 2) {
        cli_error("--report draws the cross-validated confidences: it needs --folds 2 or more");
        return CLI_USAGE;
    }
    return 0;
}

int cmd_tune(int argc, char **argv)
{
    tune_args a = {0};
    a.output = "profile.json";
    a.folds = 5;
    a.threshold = 0.85;
    a.l2 = 0.1;
    a.trees = 100;
    search_options_default(&a.so);
    a.so.candidates = 200;
    a.ds.chunk = (chunk_options)CHUNK_OPTIONS_DEFAULT;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? CLI_OK : rc;
    if (a.ds.split == NULL) {
        char p[PATH_MAX];
        struct stat sb;
        snprintf(p, sizeof p, "%s/qrels/train.tsv", a.ds.dataset);
        a.ds.split = stat(p, &sb) == 0 ? "train" : "test";
    }
    rerank_xenc *xenc = NULL;
    if (a.xurl) {
        lore_err xe = {0};
        if (rerank_xenc_new(a.xurl, a.xmodel, 0, &xenc, &xe) != 0) {
            cli_error("%s", xe.msg);
            return CLI_USAGE;
        }
        a.so.cross_encoder = xenc;
    }
    evalds d;
    if ((rc = evalds_open(&a.ds, &d)) != 0) {
        rerank_xenc_free(xenc);
        return rc;
    }
    vindex_query_threads_init();
    if (!a.mode_given && coll_vindex(d.c) == NULL)
        a.so.mode = SEARCH_BM25;
    tq *qs = NULL;
    size_t n = 0;
    rc = collect(&a, &d, &qs, &n);
    cv_out cv = {0};
    if (rc == 0 && a.folds >= 2 && (!a.l2_given || !a.trees_given)) {
        /* Choose the penalty, and trees or none, by cross-validated nDCG@10. */
        static const double grid[] = {0.001, 0.01, 0.1, 1.0};
        double best = -1.0, best_l2 = a.l2;
        size_t best_trees = a.trees, tree_opt[2] = {a.trees, 0};
        for (size_t t = 0; rc == 0 && t < (a.trees_given || a.trees == 0 ? 1u : 2u); t++) {
            for (size_t g = 0; rc == 0 && g < (a.l2_given ? 1u : 4u); g++) {
                cv_out c = {0};
                a.trees = tree_opt[t];
                if (!a.l2_given)
                    a.l2 = grid[g];
                rc = cross_validate(qs, n, &a, 0, &c);
                if (rc == 0 && !a.json)
                    printf("l2 %-6g trees %-4zu cross-validated nDCG@10 %.4f\n", a.l2, a.trees,
                           c.ndcg_rerank);
                if (rc == 0 && c.ndcg_rerank > best + 1e-9) {
                    best = c.ndcg_rerank;
                    best_l2 = a.l2;
                    best_trees = a.trees;
                }
                free(c.conf);
                free(c.correct);
            }
        }
        a.l2 = best_l2;
        a.trees = best_trees;
    }
    if (rc == 0 && a.folds >= 2)
        rc = cross_validate(qs, n, &a, 1, &cv);
    rerank_profile *p = malloc(sizeof *p);
    lore_err err = {0};
    if (rc == 0 && p == NULL) {
        cli_error("out of memory");
        rc = CLI_FAIL;
    }
    if (rc == 0 && fit(qs, n, -1, &a, 1, p, &err) != 0) {
        cli_error("fitting %s: %s", a.ds.dataset, err.msg);
        rc = CLI_FAIL;
    }
    char extra[1024] = "";
    if (rc == 0 && a.folds >= 2)
        snprintf(extra, sizeof extra,
                 "{\"folds\":%zu,\"l2\":%g,\"trees\":%zu,\"queries\":%zu,\"unanswerable\":%zu,\"ndcg@10_fused\":%.4f,"
                 "\"ndcg@10_reranked\":%.4f,\"threshold\":%.2f,\"answered_precision\":%.4f,"
                 "\"coverage\":%.4f,\"ece\":%.4f,\"auroc\":%.4f}",
                 a.folds, a.l2, a.trees, n, d.noanswer, cv.ndcg_fused, cv.ndcg_rerank, a.threshold,
                 cv.cs.precision, cv.cs.coverage, cv.cs.ece, cv.cs.auroc);
    if (rc == 0) {
        snprintf(p->fitted_on, sizeof p->fitted_on,
                 "%s, split %s (%zu queries, %zu without an answer%s), mode %s, embedder %s",
                 a.ds.dataset, a.ds.split, n, d.noanswer,
                 a.ds.oos > 0 ? ", out-of-scope simulation" : "", search_mode_name(a.so.mode),
                 embed_id(coll_embedder(d.c)));
        if (rerank_profile_save(p, a.output, a.folds >= 2 ? extra : NULL, &err) != 0) {
            cli_error("%s", err.msg);
            rc = CLI_FAIL;
        }
    }
    if (rc == 0) {
        if (a.json) {
            puts(a.folds >= 2 ? extra : "{}");
        } else {
            printf("dataset     %s (split %s, %zu queries, %zu without an answer)\n",
                   a.ds.dataset, a.ds.split, n, d.noanswer);
            if (a.folds >= 2) {
                printf("cross-validated over %zu folds (l2 %g, %zu trees):\n", a.folds, a.l2,
                       a.trees);
                printf("  nDCG@10 (top %zu)  fused %.4f -> reranked %.4f\n", a.so.rerank_k,
                       cv.ndcg_fused, cv.ndcg_rerank);
                printf("  at threshold %.2f: answered precision %.4f, coverage %.4f\n",
                       a.threshold, cv.cs.precision, cv.cs.coverage);
                printf("  ECE %.4f, AUROC %.4f, Brier %.4f\n", cv.cs.ece, cv.cs.auroc,
                       cv.cs.brier);
            }
            printf("profile     %s\n", a.output);
        }
    }
    if (rc == 0 && a.report) {
        eval_report_info info = {a.ds.dataset, search_mode_name(a.so.mode),
                                 "cross-validated (out-of-fold) predictions", a.threshold,
                                 a.ds.oos, d.noanswer, cv.ndcg_rerank};
        rc = eval_report_write(a.report, &info, cv.conf, cv.correct, n, &cv.cs);
        if (rc == 0)
            fprintf(stderr, "lore: report written to %s/index.html\n", a.report);
    }
    free(cv.conf);
    free(cv.correct);
    free(p);
    for (size_t i = 0; i < n; i++)
        tq_free(&qs[i]);
    free(qs);
    evalds_close(&d);
    rerank_xenc_free(xenc);
    return rc;
}
