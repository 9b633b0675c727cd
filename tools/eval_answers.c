/* lore eval DATASET --answers: runs the whole answer pipeline (answer.h) on a labelled
 * BEIR-format dataset and measures what the customer would get:
 *
 *   answered precision  answered questions whose answer cites a relevant article (qrels)
 *                       / answered questions (an answered unanswerable question is wrong)
 *   coverage            answerable questions answered correctly / answerable questions
 *   refusal rate        unanswerable questions refused / unanswerable questions
 *   citation accuracy   cited sources that are relevant / cited sources, over answered
 *                       answerable questions
 *   latency             p50 / p95 of the whole pipeline, and of the first token (LLM mode)
 * Reached from cmd_eval.c when --answers is on the command line. */
#include "answer.h"
#include "cli.h"
#include "evalds.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: lore eval DATASET_DIR --answers [options]\n\n"
          "Runs the full answer pipeline (lore ask) on every judged question of a BEIR-format\n"
          "dataset, answerable and unanswerable (\"is_impossible\": true), and reports answered\n"
          "precision, coverage, refusal rate, citation accuracy and latency. The LLM and\n"
          "answer settings are those of lore ask: the scratch collection's config.json, or\n"
          "--config FILE, or the options below; with no LLM the answers are extractive.\n\n"
          "options:\n"
          "      --split NAME        qrels split (default test)\n"
          "      --embedder SPEC     embedder of the scratch collection\n"
          "      --config FILE       answer config (see lore ask --help)\n"
          "      --llm URL           LLM base URL\n"
          "      --model NAME        LLM model\n"
          "      --fallback-llm URL, --fallback-model M\n"
          "      --extractive        never call the LLM\n"
          "      --threshold T       confidence needed to answer (default 0.85)\n"
          "      --limit N           only the first N judged questions\n"
          "      --per-query         one line per question (TSV, or JSON lines with --json)\n"
          "      --json              one JSON object\n"
          "      --reindex           rebuild the scratch collection\n"
          "      --data DIR          data directory\n"
          "  -h, --help              this help\n", f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static int relevant(const evalm_qrel *q, const char *doc)
{
    for (size_t i = 0; q != NULL && doc != NULL && i < q->njudged; i++)
        if (q->judged[i].grade > 0 && strcmp(q->judged[i].doc_id, doc) == 0)
            return 1;
    return 0;
}

static int set_str(char **dst, const char *v)
{
    char *s = strdup(v);
    if (s == NULL)
        return -1;
    free(*dst);
    *dst = s;
    return 0;
}

int eval_answers(int argc, char **argv)
{
    enum { O_SPLIT = 256, O_EMB, O_CONFIG, O_LLM, O_MODEL, O_FBL, O_FBM, O_EXTR, O_THR, O_LIMIT,
           O_PERQ, O_JSON, O_REINDEX, O_DATA, O_ANSWERS };
    static const struct option opts[] = {
        {"split", required_argument, NULL, O_SPLIT}, {"embedder", required_argument, NULL, O_EMB},
        {"config", required_argument, NULL, O_CONFIG}, {"llm", required_argument, NULL, O_LLM},
        {"model", required_argument, NULL, O_MODEL}, {"fallback-llm", required_argument, NULL, O_FBL},
        {"fallback-model", required_argument, NULL, O_FBM},
        {"extractive", no_argument, NULL, O_EXTR},   {"threshold", required_argument, NULL, O_THR},
        {"limit", required_argument, NULL, O_LIMIT}, {"per-query", no_argument, NULL, O_PERQ},
        {"json", no_argument, NULL, O_JSON},         {"reindex", no_argument, NULL, O_REINDEX},
        {"data", required_argument, NULL, O_DATA},   {"answers", no_argument, NULL, O_ANSWERS},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    evalds_options dso = {0};
    dso.split = "test";
    dso.chunk = (chunk_options)CHUNK_OPTIONS_DEFAULT;
    const char *config = NULL, *llm = NULL, *model = NULL, *fbl = NULL, *fbm = NULL;
    int extractive = 0, per_query = 0, json = 0;
    double threshold = -1;
    size_t limit = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_SPLIT: dso.split = optarg; break;
        case O_EMB: dso.embedder = optarg; break;
        case O_CONFIG: config = optarg; break;
        case O_LLM: llm = optarg; break;
        case O_MODEL: model = optarg; break;
        case O_FBL: fbl = optarg; break;
        case O_FBM: fbm = optarg; break;
        case O_EXTR: extractive = 1; break;
        case O_THR:
            if (cli_double("--threshold", optarg, 0.0, 1.0, &threshold))
                return CLI_USAGE;
            break;
        case O_LIMIT:
            if (cli_size("--limit", optarg, 1, 10000000, &limit))
                return CLI_USAGE;
            break;
        case O_PERQ: per_query = 1; break;
        case O_JSON: json = 1; break;
        case O_REINDEX: dso.reindex = 1; break;
        case O_DATA: dso.data = optarg; break;
        case O_ANSWERS: break;
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error("eval --answers needs exactly one DATASET_DIR");
        usage(stderr);
        return CLI_USAGE;
    }
    dso.dataset = argv[optind];

    lore_err err = {0};
    cconf cf;
    cconf_default(&cf);
    if (config != NULL && cconf_load_file(config, 0, &cf, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_USAGE;
    }
    evalds d;
    int rc = evalds_open(&dso, &d);
    if (rc != 0) {
        cconf_free(&cf);
        return rc;
    }
    int oom = 0;
    if (llm)
        oom |= set_str(&cf.llm.base_url, llm);
    if (model)
        oom |= set_str(&cf.llm.model, model);
    if (fbl)
        oom |= set_str(&cf.llm.fallback_base_url, fbl);
    if (fbm)
        oom |= set_str(&cf.llm.fallback_model, fbm);
    if (threshold >= 0)
        cf.threshold = threshold;
    if (oom) {
        cli_error("out of memory");
        rc = CLI_FAIL;
    } else if (cconf_has_llm(&cf) && (cf.llm.model == NULL || cf.llm.model[0] == '\0')) {
        cli_error("an LLM base URL is set but no model: give --model");
        rc = CLI_USAGE;
    }

    answer_env *env = NULL;
    answerer *a = NULL;
    if (rc == 0 && (answer_env_new(&cf, &env, &err) != 0 || answerer_new(env, d.c, &a, &err) != 0)) {
        cli_error("%s", err.msg);
        rc = CLI_FAIL;
    }
    size_t nq = d.qs.n;
    double *lat = calloc(nq + 1, sizeof *lat), *ftl = calloc(nq + 1, sizeof *ftl);
    if (rc == 0 && (lat == NULL || ftl == NULL)) {
        cli_error("out of memory");
        rc = CLI_FAIL;
    }
    size_t n = 0, n_ans = 0, n_unans = 0, answered = 0, answered_ok = 0, ans_ok = 0,
           unans_refused = 0, cites = 0, cites_ok = 0, n_ft = 0, errors = 0;
    const char *mode = "extractive";
    if (rc == 0 && per_query && !json)
        puts("query\tanswerable\tanswered\tcorrect\tconfidence\trefusal\tcited\tms");
    for (size_t i = 0; rc == 0 && i < nq && (limit == 0 || n < limit); i++) {
        int st = d.status[i];
        if (st == EVALDS_SKIP)
            continue;
        const evalm_qrel *q = evalm_qrels_find(&d.qr, d.qs.items[i].id);
        answer_request rq = {.question = d.qs.items[i].text, .force_extractive = extractive};
        answer_result r;
        if (answerer_ask(a, &rq, &r, &err) != 0) {
            cli_error("query %s: %s", d.qs.items[i].id, err.msg);
            errors++;
            continue;
        }
        mode = r.mode;
        n++;
        lat[n - 1] = r.ms.total;
        if (r.ms.first_token >= 0)
            ftl[n_ft++] = r.ms.first_token;
        int answerable = st == EVALDS_ANSWER;
        n_ans += answerable;
        n_unans += !answerable;
        int correct = 0;
        size_t c_here = 0;
        if (r.answered) {
            answered++;
            for (size_t k = 0; k < r.n_sources; k++) {
                if (!r.sources[k].cited)
                    continue;
                c_here++;
                int rel = relevant(q, r.sources[k].article_id);
                correct |= rel;
                if (answerable) {
                    cites++;
                    cites_ok += (size_t)rel;
                }
            }
            correct = correct && answerable;
            answered_ok += (size_t)correct;
            ans_ok += (size_t)correct;
        } else if (!answerable) {
            unans_refused++;
        }
        if (per_query) {
            if (json)
                printf("{\"query\":\"%s\",\"answerable\":%s,\"answered\":%s,\"correct\":%s,"
                       "\"confidence\":%.4f,\"refusal\":%s%s%s,\"cited\":%zu,\"ms\":%.1f}\n",
                       d.qs.items[i].id, answerable ? "true" : "false",
                       r.answered ? "true" : "false", correct ? "true" : "false", r.confidence,
                       r.refusal ? "\"" : "", r.refusal ? r.refusal : "null",
                       r.refusal ? "\"" : "", c_here, r.ms.total);
            else
                printf("%s\t%d\t%d\t%d\t%.4f\t%s\t%zu\t%.1f\n", d.qs.items[i].id, answerable,
                       r.answered, correct, r.confidence, r.refusal ? r.refusal : "-", c_here,
                       r.ms.total);
        }
        answer_result_free(&r);
    }
    if (rc == 0 && n == 0) {
        cli_error("no judged question in %s (split %s)", dso.dataset, dso.split);
        rc = CLI_FAIL;
    }
    if (rc == 0) {
        double prec = answered ? (double)answered_ok / (double)answered : 0;
        double cov = n_ans ? (double)ans_ok / (double)n_ans : 0;
        double refr = n_unans ? (double)unans_refused / (double)n_unans : 0;
        double cacc = cites ? (double)cites_ok / (double)cites : 0;
        double p50 = pct(lat, n, 0.5), p95 = pct(lat, n, 0.95);
        double f50 = pct(ftl, n_ft, 0.5), f95 = pct(ftl, n_ft, 0.95);
        if (json) {
            printf("{\"mode\":\"%s\",\"questions\":%zu,\"answerable\":%zu,\"unanswerable\":%zu,"
                   "\"answered\":%zu,\"answered_precision\":%.6f,\"coverage\":%.6f,"
                   "\"refusal_rate_unanswerable\":%.6f,\"citation_accuracy\":%.6f,"
                   "\"threshold\":%.4f,\"latency_ms\":{\"p50\":%.2f,\"p95\":%.2f},"
                   "\"first_token_ms\":{\"p50\":%.2f,\"p95\":%.2f,\"n\":%zu},\"errors\":%zu}\n",
                   mode, n, n_ans, n_unans, answered, prec, cov, refr, cacc, cf.threshold, p50,
                   p95, f50, f95, n_ft, errors);
        } else {
            printf("dataset            %s (split %s)\n", dso.dataset, dso.split);
            printf("mode               %s, threshold %.2f\n", mode, cf.threshold);
            printf("questions          %zu (%zu answerable, %zu unanswerable)\n", n, n_ans, n_unans);
            printf("answered           %zu\n", answered);
            printf("answered precision %.4f\n", prec);
            printf("coverage           %.4f\n", cov);
            printf("refused unanswer.  %.4f\n", refr);
            printf("citation accuracy  %.4f\n", cacc);
            printf("latency ms         p50 %.1f  p95 %.1f\n", p50, p95);
            if (n_ft > 0)
                printf("first token ms     p50 %.1f  p95 %.1f\n", f50, f95);
            if (errors > 0)
                printf("errors             %zu\n", errors);
        }
    }
    free(lat);
    free(ftl);
    answerer_free(a);
    answer_env_free(env);
    cconf_free(&cf);
    evalds_close(&d);
    return rc;
}
