#include "calib.h"
#include "cli.h"
#include "eval_report.h"
#include "evalds.h"
#include "evalm.h"
#include "rerank_xenc.h"
#include "search.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void eval_usage(FILE *f)
{
    fputs("usage: lore eval DATASET_DIR [options]\n\n"
          "Measures retrieval quality on a BEIR-format dataset: DATASET_DIR holds\n"
          "queries.jsonl, qrels/SPLIT.tsv, and either corpus.jsonl or an articles/ folder\n"
          "of help-center files. The corpus is indexed into a scratch collection, reused\n"
          "while the corpus and settings are unchanged. Prints nDCG@10, Recall@10,\n"
          "Recall@100, MRR@10 and MAP over the queries that have judgements.\n\n"
          "options:\n"
          "      --split NAME        qrels split (default test)\n"
          "  -m, --mode MODE         bm25 | vector | hybrid (default hybrid; bm25 when the\n"
          "                          embedder is none)\n"
          "      --embedder SPEC     embedder of the scratch collection (default "
          COLL_DEFAULT_EMBEDDER ";\n"
          "                          none with --mode bm25)\n"
          "      --fusion F          convex | rrf (default convex)\n"
          "      --dense-weight W    convex fusion: share of the dense score (default 0.3)\n"
          "      --rrf-k K           RRF constant (default 60)\n"
          "      --candidates N      candidates per retriever (default 200)\n"
          "      --chunk-tokens N    chunk budget of the scratch collection (default 200)\n"
          "      --profile FILE      reranker and confidence profile (default: the built-in\n"
          "                          one; write one with lore tune)\n"
          "      --cross-encoder URL an external reranker (/v1/rerank: TEI, llama.cpp, Jina,\n"
          "                          Cohere) scoring the top candidates as one more feature;\n"
          "                          key from $LORE_RERANK_API_KEY\n"
          "      --cross-encoder-model M  model name sent to it (default rerank)\n"
          "      --rerank-k N        fused candidates to rerank (default 40; 0: no reranking)\n"
          "      --refusal           also measure refusal: answered precision at the\n"
          "                          threshold, coverage, calibration error (ECE) and AUROC\n"
          "                          over judged and unanswerable (is_impossible) questions\n"
          "      --out-of-scope S    leave a share S (0..0.9) of the corpus's threads (or\n"
          "                          documents) out of the index; their questions must be\n"
          "                          refused (default 0)\n"
          "      --threshold T       confidence needed to answer (default: the profile's, 0.85)\n"
          "      --report DIR        with --refusal: write an HTML report with a\n"
          "                          precision-coverage curve and a reliability diagram\n"
          "      --run FILE          write a TREC run file\n"
          "      --per-query         one line per query (TSV, or JSON lines with --json);\n"
          "                          lore compare reads two of these\n"
          "      --json              print one JSON object: ndcg@10, recall@10, recall@100,\n"
          "                          mrr@10, map, queries (and \"refusal\" with --refusal)\n"
          "      --reindex           rebuild the scratch collection\n"
          "      --data DIR          data directory (default: $LORE_DATA or ~/.local/share/lore)\n"
          "      --answers           evaluate whole answers instead (lore eval DIR --answers -h)\n"
          "  -h, --help              this help\n", f);
}

typedef struct eval_args {
    evalds_options ds;
    const char *run_path, *profile_path, *report, *xurl, *xmodel;
    int json, per_query, mode_given, refusal, threshold_given;
    search_options so;
    rerank_profile profile;
} eval_args;

static void print_per_query(const eval_args *a, const char *qid, const evalm_scores *s,
                            double conf, int correct, int answerable)
{
    if (a->json) {
        printf("{\"query\":\"%s\",\"ndcg@10\":%.6f,\"recall@10\":%.6f,\"recall@100\":%.6f,"
               "\"mrr@10\":%.6f,\"map\":%.6f", qid, s->ndcg10, s->recall10, s->recall100,
               s->mrr10, s->map);
        if (a->refusal)
            printf(",\"answerable\":%s,\"confidence\":%.6f,\"correct\":%s",
                   answerable ? "true" : "false", conf, correct ? "true" : "false");
        puts("}");
    } else {
        printf("%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f", qid, s->ndcg10, s->recall10, s->recall100,
               s->mrr10, s->map);
        if (a->refusal)
            printf("\t%d\t%.4f\t%d", answerable, conf, correct);
        putchar('\n');
    }
}

static int is_relevant(const evalm_qrel *q, const char *doc)
{
    for (size_t i = 0; q && i < q->njudged; i++)
        if (q->judged[i].grade > 0 && strcmp(q->judged[i].doc_id, doc) == 0)
            return 1;
    return 0;
}

static void print_refusal(const eval_args *a, const calib_summary *cs, const evalds *d)
{
    if (a->json) {
        printf(",\"refusal\":{\"threshold\":%.4f,\"questions\":%zu,\"unanswerable\":%zu,"
               "\"answered\":%zu,\"answered_precision\":%.6f,\"coverage\":%.6f,\"ece\":%.6f,"
               "\"auroc\":%.6f,\"brier\":%.6f,\"top_correct\":%zu}",
               a->so.threshold, cs->n, d->noanswer, cs->answered, cs->precision, cs->coverage,
               cs->ece, cs->auroc, cs->brier, cs->correct);
        return;
    }
    printf("refusal     threshold %.2f; %zu questions, %zu without an answer%s\n",
           a->so.threshold, cs->n, d->noanswer,
           a->ds.oos > 0 ? " (out-of-scope simulation)" : "");
    printf("answered    %zu (precision %.4f, coverage %.4f)\nECE         %.4f\n"
           "AUROC       %.4f\nBrier       %.4f\ntop right   %zu of %zu\n", cs->answered,
           cs->precision, cs->coverage, cs->ece, cs->auroc, cs->brier, cs->correct, cs->n);
}

static int run_queries(eval_args *a, evalds *d, FILE *run)
{
    lore_err err = {0};
    searcher *s;
    if (searcher_new(d->c, &s, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    evalm_scores sum = {0};
    size_t n = 0, nr = 0;
    int rc = 0;
    double *conf = calloc(d->qs.n + 1, sizeof *conf);
    int *correct = calloc(d->qs.n + 1, sizeof *correct);
    if (conf == NULL || correct == NULL) {
        cli_error("out of memory");
        rc = CLI_FAIL;
    }
    const char *tag = search_mode_name(a->so.mode);
    if (a->per_query && !a->json)
        printf("query\tndcg@10\trecall@10\trecall@100\tmrr@10\tmap%s\n",
               a->refusal ? "\tanswerable\tconfidence\tcorrect" : "");
    for (size_t i = 0; i < d->qs.n && rc == 0; i++) {
        int st = d->status[i];
        if (st == EVALDS_SKIP || (st == EVALDS_NOANSWER && !a->refusal))
            continue; /* BEIR evaluates judged queries only */
        const evalm_qrel *q = evalm_qrels_find(&d->qr, d->qs.items[i].id);
        search_results r;
        if (search_run(s, d->qs.items[i].text, &a->so, &r, &err) != 0) {
            cli_error("query %s: %s", d->qs.items[i].id, err.msg);
            rc = CLI_FAIL;
            break;
        }
        const char *ranked[1000];
        double scores[1000];
        size_t m = r.n < 1000 ? r.n : 1000;
        for (size_t j = 0; j < m; j++) {
            ranked[j] = r.hits[j].article_id;
            scores[j] = r.hits[j].rerank;
        }
        evalm_scores one = {0};
        if (st == EVALDS_ANSWER) {
            evalm_score_query(q, ranked, m, &one);
            sum.ndcg10 += one.ndcg10;
            sum.recall10 += one.recall10;
            sum.recall100 += one.recall100;
            sum.mrr10 += one.mrr10;
            sum.map += one.map;
            n++;
        }
        conf[nr] = r.confidence;
        correct[nr] = st == EVALDS_ANSWER && m > 0 && is_relevant(q, ranked[0]);
        if (a->per_query)
            print_per_query(a, d->qs.items[i].id, &one, conf[nr], correct[nr],
                            st == EVALDS_ANSWER);
        nr++;
        if (run && m > 0 &&
            evalm_write_run(run, d->qs.items[i].id, ranked, scores, m, tag, &err) != 0) {
            cli_error("%s", err.msg);
            rc = CLI_FAIL;
        }
        search_results_free(&r);
    }
    if (rc == 0 && searcher_profile_warning(s))
        cli_error("%s", searcher_profile_warning(s));
    searcher_free(s);
    if (rc == 0 && n == 0) {
        cli_error("no query of %s has a judgement in the %s split", a->ds.dataset,
                  a->ds.split);
        rc = CLI_FAIL;
    }
    calib_summary cs = {0};
    if (rc == 0 && a->refusal && calib_summarise(conf, correct, nr, a->so.threshold, 10, &cs,
                                                 &err) != 0) {
        cli_error("%s", err.msg);
        rc = CLI_FAIL;
    }
    if (rc == 0) {
        double dn = (double)n;
        if (a->json) {
            printf("{\"ndcg@10\":%.6f,\"recall@10\":%.6f,\"recall@100\":%.6f,\"mrr@10\":%.6f,"
                   "\"map\":%.6f,\"queries\":%zu", sum.ndcg10 / dn, sum.recall10 / dn,
                   sum.recall100 / dn, sum.mrr10 / dn, sum.map / dn, n);
            if (a->refusal)
                print_refusal(a, &cs, d);
            puts("}");
        } else {
            printf("dataset     %s (split %s, %zu queries)\n", a->ds.dataset, a->ds.split, n);
            printf("mode        %s%s%s\n", tag,
                   a->so.mode == SEARCH_HYBRID
                       ? (a->so.fusion == FUSION_RRF ? " (rrf)" : " (convex)") : "",
                   a->so.rerank_k ? ", reranked" : "");
            printf("nDCG@10     %.4f\nRecall@10   %.4f\nRecall@100  %.4f\nMRR@10      %.4f\n"
                   "MAP         %.4f\n", sum.ndcg10 / dn, sum.recall10 / dn,
                   sum.recall100 / dn, sum.mrr10 / dn, sum.map / dn);
            if (a->refusal)
                print_refusal(a, &cs, d);
        }
    }
    if (rc == 0 && a->report) {
        eval_report_info info = {a->ds.dataset, tag,
                                 a->profile_path ? a->profile_path : "built-in default",
                                 a->so.threshold, a->ds.oos, d->noanswer,
                                 n ? sum.ndcg10 / (double)n : 0.0};
        rc = eval_report_write(a->report, &info, conf, correct, nr, &cs);
        if (rc == 0)
            fprintf(stderr, "lore: report written to %s/index.html\n", a->report);
    }
    free(conf);
    free(correct);
    return rc;
}

static int parse_args(int argc, char **argv, eval_args *a)
{
    static const struct option opts[] = {
        {"split", required_argument, NULL, 'S'},     {"mode", required_argument, NULL, 'm'},
        {"embedder", required_argument, NULL, 'E'},  {"fusion", required_argument, NULL, 'F'},
        {"dense-weight", required_argument, NULL, 'W'}, {"rrf-k", required_argument, NULL, 'R'},
        {"candidates", required_argument, NULL, 'N'}, {"chunk-tokens", required_argument, NULL, 'T'},
        {"run", required_argument, NULL, 'r'},       {"per-query", no_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},            {"reindex", no_argument, NULL, 'x'},
        {"data", required_argument, NULL, 'D'},      {"help", no_argument, NULL, 'h'},
        {"profile", required_argument, NULL, 'P'},   {"rerank-k", required_argument, NULL, 'K'},
        {"refusal", no_argument, NULL, 'Z'},         {"out-of-scope", required_argument, NULL, 'O'},
        {"threshold", required_argument, NULL, 't'}, {"report", required_argument, NULL, 'H'},
        {"cross-encoder", required_argument, NULL, 'X'},
        {"cross-encoder-model", required_argument, NULL, 'Y'}, {NULL, 0, NULL, 0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        int taken = evalds_option(ch, optarg, &a->ds, &a->so, &a->mode_given);
        if (taken >= 0) {
            if (taken != 0)
                return taken;
            continue;
        }
        switch (ch) {
        case 'F':
            if (strcmp(optarg, "convex") && strcmp(optarg, "rrf")) {
                cli_error("unknown fusion '%s': use convex or rrf", optarg);
                return CLI_USAGE;
            }
            a->so.fusion = strcmp(optarg, "rrf") == 0 ? FUSION_RRF : FUSION_CONVEX;
            break;
        case 'R':
            if (cli_double("--rrf-k", optarg, 0.0, 1e6, &a->so.rrf_k))
                return CLI_USAGE;
            break;
        case 'T':
            if (cli_size("--chunk-tokens", optarg, 16, 8192, &a->ds.chunk.max_tokens))
                return CLI_USAGE;
            break;
        case 'P': a->profile_path = optarg; break;
        case 'K':
            if (cli_size("--rerank-k", optarg, 0, 10000, &a->so.rerank_k))
                return CLI_USAGE;
            break;
        case 'Z': a->refusal = 1; break;
        case 't':
            if (cli_double("--threshold", optarg, 0.0, 1.0, &a->so.threshold))
                return CLI_USAGE;
            a->threshold_given = 1;
            break;
        case 'H': a->report = optarg; break;
        case 'r': a->run_path = optarg; break;
        case 'p': a->per_query = 1; break;
        case 'j': a->json = 1; break;
        case 'x': a->ds.reindex = 1; break;
        case 'X': a->xurl = optarg; break;
        case 'Y': a->xmodel = optarg; break;
        case 'h': eval_usage(stdout); return -1;
        default: eval_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error("eval needs exactly one DATASET_DIR");
        eval_usage(stderr);
        return CLI_USAGE;
    }
    if (a->report && !a->refusal) {
        cli_error("--report draws the refusal figures: add --refusal");
        return CLI_USAGE;
    }
    a->ds.dataset = argv[optind];
    if (a->ds.chunk.overlap_tokens >= a->ds.chunk.max_tokens)
        a->ds.chunk.overlap_tokens = a->ds.chunk.max_tokens / 4;
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--answers") == 0)
            return eval_answers(argc, argv); /* the answer pipeline's own eval */
    eval_args a = {0};
    a.ds.split = "test";
    search_options_default(&a.so);
    a.so.k = 100;
    a.so.candidates = 200;
    a.so.snippets = 0;
    a.ds.chunk = (chunk_options)CHUNK_OPTIONS_DEFAULT;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? CLI_OK : rc;
    if (a.profile_path) {
        lore_err err = {0};
        if (rerank_profile_load(a.profile_path, &a.profile, &err) != 0)
            cli_error("%s; using the default profile", err.msg);
        a.so.profile = &a.profile;
        if (!a.threshold_given)
            a.so.threshold = a.profile.threshold;
    }
    rerank_xenc *xenc = NULL;
    if (a.xurl) {
        lore_err err = {0};
        if (rerank_xenc_new(a.xurl, a.xmodel, 0, &xenc, &err) != 0) {
            cli_error("%s", err.msg);
            return CLI_USAGE;
        }
        a.so.cross_encoder = xenc;
    }
    /* BM25 alone needs no vectors: without an explicit --embedder, a lexical-only scratch
     * collection spares embedding the whole corpus (minutes on SciFact with the default). */
    if (a.so.mode == SEARCH_BM25 && a.ds.embedder == NULL)
        a.ds.embedder = "none";
    evalds d;
    FILE *run = NULL;
    if ((rc = evalds_open(&a.ds, &d)) != 0) {
        rerank_xenc_free(xenc);
        return rc;
    }
    if (a.run_path && (run = fopen(a.run_path, "w")) == NULL) {
        cli_error("cannot write run file %s", a.run_path);
        rc = CLI_FAIL;
    }
    if (rc == 0) {
        vindex_query_threads_init();
        if (!a.mode_given && coll_vindex(d.c) == NULL)
            a.so.mode = SEARCH_BM25;
        rc = run_queries(&a, &d, run);
    }
    if (run && fclose(run) != 0 && rc == 0) {
        cli_error("writing run file %s failed", a.run_path);
        rc = CLI_FAIL;
    }
    evalds_close(&d);
    rerank_xenc_free(xenc);
    return rc;
}
