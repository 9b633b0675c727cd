#include "cli.h"
#include "rerank_xenc.h"
#include "search.h"
#include "search_json.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void search_usage(FILE *f)
{
    fputs("usage: lore search \"question\" [options]\n\n"
          "Finds the passages that best answer a question. Each result shows the score of\n"
          "every stage (BM25, dense, fused, rerank), the article, its heading path and a\n"
          "snippet; and the confidence that the top result answers the question, with the\n"
          "decision (answer, or refuse with a reason: no_match, low_confidence).\n\n"
          "options:\n"
          "  -c, --collection NAME   collection (default: default)\n"
          "      --data DIR          data directory (default: $LORE_DATA or ~/.local/share/lore)\n"
          "  -m, --mode MODE         bm25 | vector | hybrid (default hybrid; bm25 when the\n"
          "                          collection has no vectors)\n"
          "  -k N                    results to show (default 5)\n"
          "      --candidates N      candidates taken from each retriever (default 100)\n"
          "      --fusion F          convex | rrf (default convex)\n"
          "      --dense-weight W    convex fusion: share of the dense score, 0..1 (default 0.3)\n"
          "      --rrf-k K           RRF constant (default 60)\n"
          "      --chunks            show every matching chunk, not only each article's best\n"
          "      --profile FILE      reranker and confidence profile (default: the collection's\n"
          "                          profile.json when present, else the built-in one)\n"
          "      --rerank-k N        fused candidates to rerank (default 40; 0: no reranking)\n"
          "      --cross-encoder URL an external reranker (/v1/rerank: TEI, llama.cpp, Jina,\n"
          "                          Cohere) scoring the top candidates as one more feature;\n"
          "                          key from $LORE_RERANK_API_KEY\n"
          "      --cross-encoder-model M  model name sent to it (default rerank)\n"
          "      --threshold T       confidence needed to answer, 0..1 (default: the\n"
          "                          profile's, 0.85); below it the decision is refuse\n"
          "      --json              JSON output\n"
          "  -h, --help              this help\n", f);
}

static void print_json(const char *question, const search_options *so, const search_results *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "question", question);
    cJSON_AddStringToObject(o, "mode", search_mode_name(so->mode));
    cJSON_AddStringToObject(o, "fusion", so->fusion == FUSION_RRF ? "rrf" : "convex");
    cJSON_AddNumberToObject(o, "confidence", r->confidence);
    cJSON_AddNumberToObject(o, "threshold", r->threshold);
    cJSON_AddStringToObject(o, "decision", search_decision_name(r->decision));
    if (r->reason)
        cJSON_AddStringToObject(o, "reason", r->reason);
    else
        cJSON_AddNullToObject(o, "reason");
    cJSON_AddItemToObject(o, "results", search_hits_json(r));
    cJSON *t = cJSON_AddObjectToObject(o, "timings_ms");
    cJSON_AddNumberToObject(t, "analyze", r->ms_analyze);
    cJSON_AddNumberToObject(t, "bm25", r->ms_bm25);
    cJSON_AddNumberToObject(t, "embed", r->ms_embed);
    cJSON_AddNumberToObject(t, "vector", r->ms_vector);
    cJSON_AddNumberToObject(t, "fuse", r->ms_fuse);
    cJSON_AddNumberToObject(t, "rerank", r->ms_rerank);
    cJSON_AddNumberToObject(t, "fetch", r->ms_fetch);
    cli_print_json(o);
}

static void print_text(const search_results *r)
{
    if (r->decision == SEARCH_ANSWER)
        printf("confidence %.2f: answer (threshold %.2f)\n\n", r->confidence, r->threshold);
    else
        printf("confidence %.2f: refuse, %s (threshold %.2f)\n\n", r->confidence, r->reason,
               r->threshold);
    if (r->n == 0) {
        puts("no results");
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        const search_hit *h = &r->hits[i];
        printf("%zu. %s  [%s]\n", i + 1, h->heading, h->article_id);
        if (h->url)
            printf("   %s\n", h->url);
        printf("   rerank %.3f | fused %.3f | bm25 %.3f (rank %d) | dense %.3f (rank %d)\n",
               h->rerank, h->fused, h->bm25, h->bm25_rank, h->dense, h->dense_rank);
        printf("   %s\n\n", h->snippet);
    }
}

int cmd_search(int argc, char **argv)
{
    static const struct option opts[] = {
        {"collection", required_argument, NULL, 'c'}, {"data", required_argument, NULL, 'D'},
        {"mode", required_argument, NULL, 'm'},       {"candidates", required_argument, NULL, 'N'},
        {"fusion", required_argument, NULL, 'F'},     {"dense-weight", required_argument, NULL, 'W'},
        {"rrf-k", required_argument, NULL, 'R'},      {"chunks", no_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},             {"help", no_argument, NULL, 'h'},
        {"profile", required_argument, NULL, 'P'},    {"rerank-k", required_argument, NULL, 'K'},
        {"threshold", required_argument, NULL, 't'},  {"cross-encoder", required_argument, NULL, 'X'},
        {"cross-encoder-model", required_argument, NULL, 'Y'}, {NULL, 0, NULL, 0}};
    const char *xurl = NULL, *xmodel = NULL;
    rerank_xenc *xenc = NULL;
    const char *collection = "default", *data = NULL, *profile_path = NULL;
    int json = 0, mode_given = 0, threshold_given = 0;
    rerank_profile profile;
    search_options so;
    search_options_default(&so);
    so.k = 5;
    lore_err err = {0};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:m:k:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': collection = optarg; break;
        case 'D': data = optarg; break;
        case 'm':
            if (search_mode_parse(optarg, &so.mode, &err) != 0) {
                cli_error("%s", err.msg);
                return CLI_USAGE;
            }
            mode_given = 1;
            break;
        case 'k':
            if (cli_size("-k", optarg, 1, 1000, &so.k))
                return CLI_USAGE;
            break;
        case 'N':
            if (cli_size("--candidates", optarg, 1, 10000, &so.candidates))
                return CLI_USAGE;
            break;
        case 'F':
            if (strcmp(optarg, "convex") == 0)
                so.fusion = FUSION_CONVEX;
            else if (strcmp(optarg, "rrf") == 0)
                so.fusion = FUSION_RRF;
            else {
                cli_error("unknown fusion '%s': use convex or rrf", optarg);
                return CLI_USAGE;
            }
            break;
        case 'W':
            if (cli_double("--dense-weight", optarg, 0.0, 1.0, &so.dense_weight))
                return CLI_USAGE;
            break;
        case 'R':
            if (cli_double("--rrf-k", optarg, 0.0, 1e6, &so.rrf_k))
                return CLI_USAGE;
            break;
        case 'C': so.per_article = 0; break;
        case 'P': profile_path = optarg; break;
        case 'X': xurl = optarg; break;
        case 'Y': xmodel = optarg; break;
        case 'K':
            if (cli_size("--rerank-k", optarg, 0, 10000, &so.rerank_k))
                return CLI_USAGE;
            break;
        case 't':
            if (cli_double("--threshold", optarg, 0.0, 1.0, &so.threshold))
                return CLI_USAGE;
            threshold_given = 1;
            break;
        case 'j': json = 1; break;
        case 'h': search_usage(stdout); return CLI_OK;
        default: search_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error("search needs exactly one question (quote it)");
        search_usage(stderr);
        return CLI_USAGE;
    }
    const char *question = argv[optind];
    if (xurl) {
        if (rerank_xenc_new(xurl, xmodel, 0, &xenc, &err) != 0) {
            cli_error("%s", err.msg);
            return CLI_USAGE;
        }
        so.cross_encoder = xenc;
    }
    if (profile_path) {
        /* A bad profile is reported, and the search still runs on the default one. */
        if (rerank_profile_load(profile_path, &profile, &err) != 0)
            cli_error("%s; using the default profile", err.msg);
        so.profile = &profile;
        if (!threshold_given)
            so.threshold = profile.threshold;
    }
    coll_open_options co = {STORE_READONLY, NULL, 0, NULL, 1};
    coll *c;
    char dir[PATH_MAX];
    int rc = cli_open(data, collection, &co, &c, dir, sizeof dir);
    if (rc != 0) {
        rerank_xenc_free(xenc);
        return rc;
    }
    vindex_query_threads_init();
    if (!mode_given && coll_vindex(c) == NULL)
        so.mode = SEARCH_BM25; /* a lexical-only collection */
    searcher *s = NULL;
    search_results r;
    rc = searcher_new(c, &s, &err);
    if (rc == 0 && searcher_profile_warning(s) && !profile_path)
        cli_error("%s", searcher_profile_warning(s));
    if (rc == 0)
        rc = search_run(s, question, &so, &r, &err);
    if (rc != 0) {
        cli_error("%s", err.msg);
    } else {
        if (json)
            print_json(question, &so, &r);
        else
            print_text(&r);
        search_results_free(&r);
    }
    searcher_free(s);
    coll_close(c);
    rerank_xenc_free(xenc);
    return rc == 0 ? CLI_OK : CLI_FAIL;
}
