#include "cli.h"
#include "evalm.h"
#include "ingest.h"
#include "search.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

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
          COLL_DEFAULT_EMBEDDER ")\n"
          "      --fusion F          convex | rrf (default convex)\n"
          "      --dense-weight W    convex fusion: share of the dense score (default 0.3)\n"
          "      --rrf-k K           RRF constant (default 60)\n"
          "      --candidates N      candidates per retriever (default 200)\n"
          "      --chunk-tokens N    chunk budget of the scratch collection (default 200)\n"
          "      --run FILE          write a TREC run file\n"
          "      --per-query         one line per query (TSV, or JSON lines with --json)\n"
          "      --json              print one JSON object: ndcg@10, recall@10, recall@100,\n"
          "                          mrr@10, map, queries\n"
          "      --reindex           rebuild the scratch collection\n"
          "      --data DIR          data directory (default: $LORE_DATA or ~/.local/share/lore)\n"
          "  -h, --help              this help\n", f);
}

typedef struct eval_args {
    const char *dataset, *split, *embedder, *data, *run_path;
    int json, per_query, reindex, mode_given;
    search_options so;
    chunk_options chunk;
} eval_args;

static int file_exists(const char *path, struct stat *sb)
{
    return stat(path, sb) == 0;
}

/* A scratch collection per dataset, embedder and chunking, so switching one of them does
 * not destroy the index of another. */
static int scratch_name(const eval_args *a, const char *corpus_real, char *buf, size_t len)
{
    const char *base = strrchr(a->dataset, '/');
    base = base && base[1] ? base + 1 : a->dataset;
    char clean[33];
    size_t n = 0;
    for (const char *p = base; *p && n < sizeof clean - 1; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        clean[n++] = ok ? ch : '_';
    }
    clean[n] = '\0';
    char key[PATH_MAX + 256];
    snprintf(key, sizeof key, "%s|%s|%zu|%zu", corpus_real, a->embedder ? a->embedder : "",
             a->chunk.max_tokens, a->chunk.overlap_tokens);
    unsigned long long h = XXH3_64bits(key, strlen(key));
    return snprintf(buf, len, "eval-%s-%08llx", n ? clean : "data", h & 0xffffffffULL) >= (int)len;
}

/* Indexes the corpus unless the collection already holds this exact corpus file state. */
static int prepare_collection(const eval_args *a, coll *c, const char *corpus,
                              const struct stat *sb)
{
    char state[PATH_MAX + 128];
    snprintf(state, sizeof state, "%s|%lld|%lld", corpus, (long long)sb->st_size,
             (long long)sb->st_mtime);
    lore_err err = {0};
    char *have = NULL;
    if (!a->reindex && store_meta_get(coll_store(c), "eval_source", &have, NULL) == 0 &&
        strcmp(have, state) == 0) {
        free(have);
        return 0;
    }
    free(have);
    fprintf(stderr, "lore eval: indexing %s\n", corpus);
    ingest_options io;
    ingest_options_default(&io);
    io.paths = &corpus;
    io.npaths = 1;
    io.chunk = a->chunk;
    io.progress = stderr;
    io.warnings = stderr;
    ingest_stats st;
    if (ingest_run(c, &io, &st, &err) != 0 ||
        store_meta_set(coll_store(c), "eval_source", state, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    fprintf(stderr, "lore eval: %zu articles (%zu added, %zu changed, %zu deleted), %zu chunks "
                    "embedded in %.1fs\n", st.articles, st.added, st.changed, st.deleted,
            st.chunks_embedded, st.seconds);
    return 0;
}

static void print_per_query(const eval_args *a, const char *qid, const evalm_scores *s)
{
    if (a->json)
        printf("{\"query\":\"%s\",\"ndcg@10\":%.6f,\"recall@10\":%.6f,\"recall@100\":%.6f,"
               "\"mrr@10\":%.6f,\"map\":%.6f}\n", qid, s->ndcg10, s->recall10, s->recall100,
               s->mrr10, s->map);
    else
        printf("%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\n", qid, s->ndcg10, s->recall10, s->recall100,
               s->mrr10, s->map);
}

static int has_relevant(const evalm_qrel *q)
{
    for (size_t i = 0; q && i < q->njudged; i++)
        if (q->judged[i].grade > 0)
            return 1;
    return 0;
}

static int run_queries(const eval_args *a, coll *c, const evalm_queries *qs,
                       const evalm_qrels *qr, FILE *run)
{
    lore_err err = {0};
    searcher *s;
    if (searcher_new(c, &s, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    evalm_scores sum = {0};
    size_t n = 0;
    int rc = 0;
    const char *tag = search_mode_name(a->so.mode);
    if (a->per_query && !a->json)
        puts("query\tndcg@10\trecall@10\trecall@100\tmrr@10\tmap");
    for (size_t i = 0; i < qs->n && rc == 0; i++) {
        const evalm_qrel *q = evalm_qrels_find(qr, qs->items[i].id);
        if (!has_relevant(q))
            continue; /* BEIR evaluates judged queries only */
        search_results r;
        if (search_run(s, qs->items[i].text, &a->so, &r, &err) != 0) {
            cli_error("query %s: %s", qs->items[i].id, err.msg);
            rc = CLI_FAIL;
            break;
        }
        const char *ranked[1000];
        double scores[1000];
        size_t m = r.n < 1000 ? r.n : 1000;
        for (size_t j = 0; j < m; j++) {
            ranked[j] = r.hits[j].article_id;
            scores[j] = r.hits[j].fused;
        }
        evalm_scores one;
        evalm_score_query(q, ranked, m, &one);
        sum.ndcg10 += one.ndcg10;
        sum.recall10 += one.recall10;
        sum.recall100 += one.recall100;
        sum.mrr10 += one.mrr10;
        sum.map += one.map;
        n++;
        if (a->per_query)
            print_per_query(a, qs->items[i].id, &one);
        if (run && evalm_write_run(run, qs->items[i].id, ranked, scores, m, tag, &err) != 0) {
            cli_error("%s", err.msg);
            rc = CLI_FAIL;
        }
        search_results_free(&r);
    }
    searcher_free(s);
    if (rc != 0)
        return rc;
    if (n == 0) {
        cli_error("no query of %s has a judgement in the %s split", a->dataset, a->split);
        return CLI_FAIL;
    }
    double d = (double)n;
    if (a->json) {
        printf("{\"ndcg@10\":%.6f,\"recall@10\":%.6f,\"recall@100\":%.6f,\"mrr@10\":%.6f,"
               "\"map\":%.6f,\"queries\":%zu}\n", sum.ndcg10 / d, sum.recall10 / d,
               sum.recall100 / d, sum.mrr10 / d, sum.map / d, n);
    } else {
        printf("dataset     %s (split %s, %zu queries)\n", a->dataset, a->split, n);
        printf("mode        %s%s\n", tag,
               a->so.mode == SEARCH_HYBRID
                   ? (a->so.fusion == FUSION_RRF ? " (rrf)" : " (convex)") : "");
        printf("nDCG@10     %.4f\nRecall@10   %.4f\nRecall@100  %.4f\nMRR@10      %.4f\n"
               "MAP         %.4f\n", sum.ndcg10 / d, sum.recall10 / d, sum.recall100 / d,
               sum.mrr10 / d, sum.map / d);
    }
    return 0;
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
        {NULL, 0, NULL, 0}};
    lore_err err = {0};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'S': a->split = optarg; break;
        case 'm':
            if (search_mode_parse(optarg, &a->so.mode, &err) != 0) {
                cli_error("%s", err.msg);
                return CLI_USAGE;
            }
            a->mode_given = 1;
            break;
        case 'E': a->embedder = optarg; break;
        case 'F':
            if (strcmp(optarg, "convex") && strcmp(optarg, "rrf")) {
                cli_error("unknown fusion '%s': use convex or rrf", optarg);
                return CLI_USAGE;
            }
            a->so.fusion = strcmp(optarg, "rrf") == 0 ? FUSION_RRF : FUSION_CONVEX;
            break;
        case 'W':
            if (cli_double("--dense-weight", optarg, 0.0, 1.0, &a->so.dense_weight))
                return CLI_USAGE;
            break;
        case 'R':
            if (cli_double("--rrf-k", optarg, 0.0, 1e6, &a->so.rrf_k))
                return CLI_USAGE;
            break;
        case 'N':
            if (cli_size("--candidates", optarg, 10, 10000, &a->so.candidates))
                return CLI_USAGE;
            break;
        case 'T':
            if (cli_size("--chunk-tokens", optarg, 16, 8192, &a->chunk.max_tokens))
                return CLI_USAGE;
            break;
        case 'r': a->run_path = optarg; break;
        case 'p': a->per_query = 1; break;
        case 'j': a->json = 1; break;
        case 'x': a->reindex = 1; break;
        case 'D': a->data = optarg; break;
        case 'h': eval_usage(stdout); return -1;
        default: eval_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error("eval needs exactly one DATASET_DIR");
        eval_usage(stderr);
        return CLI_USAGE;
    }
    a->dataset = argv[optind];
    if (a->chunk.overlap_tokens >= a->chunk.max_tokens)
        a->chunk.overlap_tokens = a->chunk.max_tokens / 4;
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    eval_args a = {0};
    a.split = "test";
    search_options_default(&a.so);
    a.so.k = 100;
    a.so.candidates = 200;
    a.so.snippets = 0;
    a.chunk = (chunk_options)CHUNK_OPTIONS_DEFAULT;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? CLI_OK : rc;

    char corpus[PATH_MAX], queries[PATH_MAX], qrels[PATH_MAX], real[PATH_MAX];
    struct stat sb;
    snprintf(queries, sizeof queries, "%s/queries.jsonl", a.dataset);
    snprintf(qrels, sizeof qrels, "%s/qrels/%s.tsv", a.dataset, a.split);
    snprintf(corpus, sizeof corpus, "%s/corpus.jsonl", a.dataset);
    if (!file_exists(corpus, &sb)) {
        snprintf(corpus, sizeof corpus, "%s/articles", a.dataset);
        if (!file_exists(corpus, &sb)) {
            cli_error("%s has neither corpus.jsonl nor an articles/ folder", a.dataset);
            return CLI_USAGE;
        }
    }
    if (realpath(corpus, real) == NULL) {
        cli_error("cannot resolve %s", corpus);
        return CLI_FAIL;
    }
    lore_err err = {0};
    evalm_queries qs = {0};
    evalm_qrels qr = {0};
    if (evalm_queries_load(queries, &qs, &err) != 0 || evalm_qrels_load(qrels, &qr, &err) != 0) {
        cli_error("%s", err.msg);
        evalm_queries_free(&qs);
        return CLI_FAIL;
    }
    char name[96], dir[PATH_MAX];
    scratch_name(&a, real, name, sizeof name);
    coll_open_options co = {STORE_CREATE, a.embedder, 1, NULL, 1};
    coll *c = NULL;
    FILE *run = NULL;
    rc = cli_open(a.data, name, &co, &c, dir, sizeof dir);
    if (rc == 0)
        rc = prepare_collection(&a, c, real, &sb);
    if (rc == 0 && a.run_path && (run = fopen(a.run_path, "w")) == NULL) {
        cli_error("cannot write run file %s", a.run_path);
        rc = CLI_FAIL;
    }
    if (rc == 0) {
        vindex_query_threads_init();
        if (!a.mode_given && coll_vindex(c) == NULL)
            a.so.mode = SEARCH_BM25;
        rc = run_queries(&a, c, &qs, &qr, run);
    }
    if (run && fclose(run) != 0 && rc == 0) {
        cli_error("writing run file %s failed", a.run_path);
        rc = CLI_FAIL;
    }
    coll_close(c);
    evalm_queries_free(&qs);
    evalm_qrels_free(&qr);
    return rc;
}
