/* lore bench: indexing throughput and query latency, at a BEIR dataset's own size and on a
 * deterministic synthetic scale-up, with raw FTS5 measured in the same run as the baseline.
 *
 * Order of work: every index is built first (batch work may use all cores), then
 * vindex_query_threads_init pins searches to one OpenMP thread, then each collection is
 * reopened read-only (as `lore search` and the server open it) and queried. Latency is wall
 * time around one call (search_run, or the raw FTS5 statement), one query at a time. */
#include "bench_internal.h"
#include "bench_rerank.h"
#include "cli.h"
#include "evalm.h"
#include "ingest.h"
#include "sbuf.h"
#include "search.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BENCH_SEED 20240601ULL
/* The retrieval part's embedder: feature hashing keeps the 100k-chunk scale-up to minutes
 * (the use model embeds some 15k tokens/s here: half an hour for it). The use model's own
 * costs are the embedding part; --embedder use measures search end to end. */
#define BENCH_EMBEDDER "hash:256"
#define RAW_MAX_TERMS 64

static void bench_usage(FILE *f)
{
    fputs("usage: lore bench [options]\n\n"
          "Measures indexing throughput and query latency (mean, p50, p95, p99, queries/s,\n"
          "and the per-stage split) for raw FTS5 (the baseline: the analysed terms OR'ed,\n"
          "ORDER BY FTS5's built-in bm25 rank), lore BM25 (default budget and unlimited),\n"
          "vector and hybrid search, on a BEIR dataset at its own size and on a synthetic\n"
          "scale-up built by recombining the dataset's sentences (fixed seed). One query\n"
          "thread. Prints the figures, the command line and the machine; progress goes to\n"
          "stderr.\n\n"
          "options:\n"
          "      --dataset DIR    BEIR folder with corpus.jsonl and queries.jsonl (default\n"
          "                       ../shared/data/scifact beside the repository)\n"
          "      --scale N        synthetic chunks to generate and index (default 100000;\n"
          "                       0 skips the scale-up)\n"
          "      --queries N      queries timed per mode, the first N of queries.jsonl\n"
          "                       (default 300)\n"
          "      --warmup N       untimed queries run before each mode (default 20)\n"
          "      --embedder SPEC  embedder of the bench collections (default " BENCH_EMBEDDER
          ",\n"
          "                       quick to index at scale; use measures search end to end;\n"
          "                       none measures the lexical modes only)\n"
          "      --embed-texts N  corpus records embedded by the use model for its\n"
          "                       throughput (1 and 2 threads) and compared with the Node\n"
          "                       reference (default 600; 0 skips the embedding part)\n"
          "      --embed-only     only the embedding part (no indexing or search)\n"
          "      --no-node        do not run the Node reference\n"
          "      --data DIR       where the bench collections go (kept afterwards; bench-*\n"
          "                       collections there are rebuilt); default a temporary\n"
          "                       directory removed at the end\n"
          "      --json           print one JSON object instead of tables\n"
          "      --serve          load-test `lore serve` with wrk instead (see\n"
          "                       lore bench --serve --help)\n"
          "  -h, --help           this help\n", f);
}

typedef struct bench_args {
    const char *dataset, *embedder, *data;
    size_t scale, nqueries, warmup;
    int json;
    chunk_options chunk;
    size_t embed_texts;
    int embed_only, no_node;
} bench_args;

/* ------------------------------------------------------------------ what is measured */

typedef enum mode_kind { MK_RAW_FTS5, MK_LORE, MK_VECTOR_BATCH } mode_kind;

typedef struct mode_run {
    const char *name, *what;
    mode_kind kind;
    search_options so;
    int ran;
    bench_latency lat;
    /* means over the timed queries */
    double analyze, bm25, embed, vector, fuse, fetch, rows_bound, hits;
} mode_run;

enum { M_FTS5, M_BM25, M_BM25_NOSNIP, M_BM25_UNLIMITED, M_VECTOR, M_HYBRID, M_VECTOR_BATCH, NMODES };

typedef struct dataset_run {
    const char *name;    /* "scifact" or "synthetic" */
    char coll_name[80];
    char source[PATH_MAX + 64];
    int synthetic;
    bench_synth_stats syn;
    /* indexing */
    size_t articles, chunks, vectors;
    unsigned long long bytes;
    double index_s, open_ms;
    double db_mb, faiss_mb;
    mode_run modes[NMODES];
} dataset_run;

static void modes_init(mode_run *m, const bench_args *a)
{
    search_options base;
    search_options_default(&base); /* what `lore search` and the server run */
    for (int i = 0; i < NMODES; i++) {
        memset(&m[i], 0, sizeof m[i]);
        m[i].so = base;
        m[i].kind = MK_LORE;
    }
    m[M_FTS5].name = "fts5-raw";
    m[M_FTS5].what = "plain FTS5: analysed terms OR'ed, ORDER BY rank (built-in bm25) LIMIT 100";
    m[M_FTS5].kind = MK_RAW_FTS5;
    m[M_BM25].name = "bm25";
    m[M_BM25].what = "lore BM25, default bm25_budget";
    m[M_BM25].so.mode = SEARCH_BM25;
    m[M_BM25_NOSNIP].name = "bm25-nosnippet";
    m[M_BM25_NOSNIP].what = "lore BM25, default budget, snippets off (isolates snippet cost)";
    m[M_BM25_NOSNIP].so.mode = SEARCH_BM25;
    m[M_BM25_NOSNIP].so.snippets = 0;
    m[M_BM25_UNLIMITED].name = "bm25-unlimited";
    m[M_BM25_UNLIMITED].what = "lore BM25, bm25_budget SIZE_MAX (no common-term control)";
    m[M_BM25_UNLIMITED].so.mode = SEARCH_BM25;
    m[M_BM25_UNLIMITED].so.bm25_budget = SIZE_MAX;
    m[M_VECTOR].name = "vector";
    m[M_VECTOR].what = "query embedding + exact FAISS search";
    m[M_VECTOR].so.mode = SEARCH_VECTOR;
    m[M_HYBRID].name = "hybrid";
    m[M_HYBRID].what = "BM25 + vector, convex fusion";
    m[M_HYBRID].so.mode = SEARCH_HYBRID;
    m[M_VECTOR_BATCH].name = "vector-batch";
    m[M_VECTOR_BATCH].what = "vindex_search_batch over all timed queries at once (search only)";
    m[M_VECTOR_BATCH].kind = MK_VECTOR_BATCH;
    (void)a;
}

/* ------------------------------------------------------------------ argument handling */

static int parse_args(int argc, char **argv, bench_args *a)
{
    static const struct option opts[] = {
        {"dataset", required_argument, NULL, 'd'}, {"scale", required_argument, NULL, 's'},
        {"queries", required_argument, NULL, 'q'}, {"warmup", required_argument, NULL, 'w'},
        {"embedder", required_argument, NULL, 'E'}, {"data", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},           {"help", no_argument, NULL, 'h'},
        {"embed-texts", required_argument, NULL, 'T'}, {"embed-only", no_argument, NULL, 'O'},
        {"no-node", no_argument, NULL, 'N'},        {NULL, 0, NULL, 0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': a->dataset = optarg; break;
        case 's':
            if (cli_size("--scale", optarg, 0, 10000000, &a->scale))
                return CLI_USAGE;
            break;
        case 'q':
            if (cli_size("--queries", optarg, 1, 1000000, &a->nqueries))
                return CLI_USAGE;
            break;
        case 'w':
            if (cli_size("--warmup", optarg, 0, 1000000, &a->warmup))
                return CLI_USAGE;
            break;
        case 'E': a->embedder = optarg; break;
        case 'D': a->data = optarg; break;
        case 'j': a->json = 1; break;
        case 'T':
            if (cli_size("--embed-texts", optarg, 0, 1000000, &a->embed_texts))
                return CLI_USAGE;
            break;
        case 'O': a->embed_only = 1; break;
        case 'N': a->no_node = 1; break;
        case 'h': bench_usage(stdout); return -1;
        default: bench_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("bench takes no positional arguments ('%s'); use --dataset DIR", argv[optind]);
        bench_usage(stderr);
        return CLI_USAGE;
    }
    if (a->embed_only && a->embed_texts == 0) {
        cli_error("--embed-only with --embed-texts 0 measures nothing");
        return CLI_USAGE;
    }
    return 0;
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The default dataset: ../shared/data/scifact beside the repository. The repository is
 * found from this source file's path (CMake compiles with absolute paths), then from the
 * binary's location (build dir inside the repository), then from the working directory. */
static int default_dataset(char *out, size_t len)
{
    char cand[4][PATH_MAX];
    size_t nc = 0;
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s", __FILE__);
    char *slash = strrchr(src, '/');
    if (src[0] == '/' && slash) {
        *slash = '\0'; /* .../tools */
        snprintf(cand[nc++], PATH_MAX, "%.3000s/../../shared/data/scifact", src);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL) {
            *slash = '\0'; /* the build directory */
            snprintf(cand[nc++], PATH_MAX, "%.3000s/../../shared/data/scifact", exe);
        }
    }
    snprintf(cand[nc++], PATH_MAX, "../shared/data/scifact");
    snprintf(cand[nc++], PATH_MAX, "../../shared/data/scifact");
    for (size_t i = 0; i < nc; i++)
        if (is_dir(cand[i]) && realpath(cand[i], out) != NULL && strlen(out) < len)
            return 0;
    return -1;
}

/* ------------------------------------------------------------------ indexing */

static int file_size(const char *path, unsigned long long *out)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return -1;
    *out = (unsigned long long)sb.st_size;
    return 0;
}

static int open_fresh(const char *root, const char *name, const bench_args *a, coll **c,
                      char *dir, size_t dirlen)
{
    lore_err err = {0};
    if (coll_dir(root, name, dir, dirlen, &err) != 0 || bench_rmtree(dir, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    coll_open_options co = {STORE_CREATE, a->embedder, 1, NULL, 1};
    if (coll_open(dir, &co, c, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    return 0;
}

static int index_dataset(const char *root, const bench_args *a, dataset_run *d)
{
    coll *c = NULL;
    char dir[PATH_MAX];
    int rc = open_fresh(root, d->coll_name, a, &c, dir, sizeof dir);
    if (rc != 0)
        return rc;
    fprintf(stderr, "lore bench: %s: indexing %s\n", d->name, d->source);
    const char *paths[1] = {d->source};
    ingest_options io;
    ingest_options_default(&io);
    io.paths = paths;
    io.npaths = 1;
    io.chunk = a->chunk;
    io.progress = stderr;
    io.progress_secs = 5.0;
    io.warnings = stderr;
    ingest_stats st;
    lore_err err = {0};
    double t0 = bench_now_ms();
    if (ingest_run(c, &io, &st, &err) != 0) {
        cli_error("indexing %s: %s", d->source, err.msg);
        coll_close(c);
        return CLI_FAIL;
    }
    d->index_s = (bench_now_ms() - t0) / 1000.0;
    store_stats ss;
    if (store_stats_get(coll_store(c), &ss, &err) != 0) {
        cli_error("%s", err.msg);
        coll_close(c);
        return CLI_FAIL;
    }
    d->articles = (size_t)ss.articles;
    d->chunks = (size_t)ss.chunks;
    d->vectors = (size_t)ss.vectors;
    coll_close(c);
    char p[PATH_MAX + 32];
    unsigned long long sz = 0;
    snprintf(p, sizeof p, "%s/lore.db", dir);
    d->db_mb = file_size(p, &sz) == 0 ? (double)sz / 1e6 : 0.0;
    snprintf(p, sizeof p, "%s/vectors.faiss", dir);
    d->faiss_mb = file_size(p, &sz) == 0 ? (double)sz / 1e6 : 0.0;
    fprintf(stderr, "lore bench: %s: %zu articles, %zu chunks in %.1f s\n", d->name, d->articles,
            d->chunks, d->index_s);
    return 0;
}

/* ------------------------------------------------------------------ raw FTS5 baseline */

typedef struct raw_query {
    char terms[RAW_MAX_TERMS][TEXT_MAX_TERM + 1];
    size_t n;
} raw_query;

static int raw_collect(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)start;
    (void)end;
    raw_query *q = ctx;
    if (len == 0 || len > TEXT_MAX_TERM || q->n == RAW_MAX_TERMS)
        return 0;
    for (size_t i = 0; i < q->n; i++)
        if (strlen(q->terms[i]) == len && memcmp(q->terms[i], term, len) == 0)
            return 0;
    memcpy(q->terms[q->n], term, len);
    q->terms[q->n][len] = '\0';
    q->n++;
    return 0;
}

typedef struct raw_ctx {
    text_analyzer *an;
    sqlite3_stmt *st;
    sqlite3 *db;
    sbuf match;
} raw_ctx;

/* One raw FTS5 query: analyse (the same chain as lore's query builder), OR the quoted terms,
 * and read the top 100 by FTS5's own bm25 rank. */
static int raw_run(raw_ctx *r, const char *question, size_t *rows, lore_err *err)
{
    raw_query q;
    q.n = 0;
    *rows = 0;
    if (text_analyze(r->an, question, strlen(question), raw_collect, &q) != 0)
        return lore_errf(err, LORE_ENOMEM, "out of memory analysing the question");
    if (q.n == 0)
        return 0;
    sbuf_reset(&r->match);
    int rc = 0;
    for (size_t i = 0; i < q.n && rc == 0; i++) {
        rc = i ? sbuf_adds(&r->match, " OR ") : 0;
        rc |= sbuf_addc(&r->match, '"') | sbuf_adds(&r->match, q.terms[i]) |
              sbuf_addc(&r->match, '"');
    }
    if (rc != 0)
        return lore_errf(err, LORE_ENOMEM, "out of memory building a query");
    sqlite3_bind_text(r->st, 1, sbuf_str(&r->match), -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(r->st)) == SQLITE_ROW)
        (*rows)++;
    sqlite3_reset(r->st);
    if (step != SQLITE_DONE)
        return lore_errf(err, LORE_EDB, "raw fts5 query '%s': %s", sbuf_str(&r->match),
                         sqlite3_errmsg(r->db));
    return 0;
}

/* ------------------------------------------------------------------ query timing */

static int time_lore_mode(searcher *s, const evalm_queries *qs, size_t nq, size_t warmup,
                          mode_run *m, double *lat)
{
    lore_err err = {0};
    for (size_t i = 0; i < warmup; i++) {
        search_results r;
        if (search_run(s, qs->items[i % qs->n].text, &m->so, &r, &err) != 0) {
            cli_error("%s: query %s: %s", m->name, qs->items[i % qs->n].id, err.msg);
            return CLI_FAIL;
        }
        search_results_free(&r);
    }
    for (size_t i = 0; i < nq; i++) {
        search_results r;
        double t0 = bench_now_ms();
        if (search_run(s, qs->items[i].text, &m->so, &r, &err) != 0) {
            cli_error("%s: query %s: %s", m->name, qs->items[i].id, err.msg);
            return CLI_FAIL;
        }
        lat[i] = bench_now_ms() - t0;
        m->analyze += r.ms_analyze;
        m->bm25 += r.ms_bm25;
        m->embed += r.ms_embed;
        m->vector += r.ms_vector;
        m->fuse += r.ms_fuse;
        m->fetch += r.ms_fetch;
        m->rows_bound += (double)r.bm25_rows_scored_bound;
        m->hits += (double)r.n;
        search_results_free(&r);
    }
    double d = (double)nq;
    m->analyze /= d;
    m->bm25 /= d;
    m->embed /= d;
    m->vector /= d;
    m->fuse /= d;
    m->fetch /= d;
    m->rows_bound /= d;
    m->hits /= d;
    return 0;
}

static int time_raw_mode(coll *c, const evalm_queries *qs, size_t nq, size_t warmup, mode_run *m,
                         double *lat)
{
    lore_err err = {0};
    raw_ctx r;
    memset(&r, 0, sizeof r);
    r.db = store_db(coll_store(c));
    char *locale = NULL;
    store_meta_get(coll_store(c), "locale", &locale, NULL);
    int rc = text_analyzer_new(locale ? locale : "en", &r.an, &err);
    free(locale);
    if (rc != 0) {
        cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY rank LIMIT %zu",
             m->so.candidates);
    if (sqlite3_prepare_v2(r.db, sql, -1, &r.st, NULL) != SQLITE_OK) {
        cli_error("preparing the raw fts5 query: %s", sqlite3_errmsg(r.db));
        text_analyzer_free(r.an);
        return CLI_FAIL;
    }
    size_t rows = 0;
    for (size_t i = 0; i < warmup && rc == 0; i++)
        rc = raw_run(&r, qs->items[i % qs->n].text, &rows, &err);
    for (size_t i = 0; i < nq && rc == 0; i++) {
        double t0 = bench_now_ms();
        rc = raw_run(&r, qs->items[i].text, &rows, &err);
        lat[i] = bench_now_ms() - t0;
        m->hits += (double)rows;
    }
    m->hits /= (double)nq;
    if (rc != 0)
        cli_error("%s", err.msg);
    sqlite3_finalize(r.st);
    sbuf_free(&r.match);
    text_analyzer_free(r.an);
    return rc ? CLI_FAIL : 0;
}

/* All timed queries embedded first, then one vindex_search_batch call: the vector search's
 * cost without per-call overhead, for comparison with the one-at-a-time vector stage. */
static int time_vector_batch(coll *c, const evalm_queries *qs, size_t nq, mode_run *m)
{
    vindex *vi = coll_vindex(c);
    embedder *e = coll_embedder(c);
    lore_err err = {0};
    const char **texts = malloc(nq * sizeof *texts);
    if (texts == NULL) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    for (size_t i = 0; i < nq; i++)
        texts[i] = qs->items[i].text;
    float *qv = NULL;
    double t0 = bench_now_ms();
    int rc = embed_texts_alloc(e, texts, nq, &qv, &err);
    double t1 = bench_now_ms();
    free(texts);
    if (rc != 0 || qv == NULL) {
        cli_error("embedding the queries: %s", rc ? err.msg : "no vectors");
        free(qv);
        return CLI_FAIL;
    }
    size_t k = m->so.candidates;
    int64_t *ids = malloc(nq * k * sizeof *ids);
    float *scores = malloc(nq * k * sizeof *scores);
    if (ids == NULL || scores == NULL) {
        cli_error("out of memory");
        rc = CLI_FAIL;
    } else if (vindex_search_batch(vi, qv, nq, k, ids, scores, &err) != 0) {
        cli_error("%s", err.msg);
        rc = CLI_FAIL;
    }
    double t2 = bench_now_ms();
    free(qv);
    free(ids);
    free(scores);
    if (rc != 0)
        return rc;
    memset(&m->lat, 0, sizeof m->lat);
    m->lat.n = nq;
    m->lat.total_ms = t2 - t1;
    m->lat.mean = (t2 - t1) / (double)nq;
    m->lat.qps = m->lat.total_ms > 0 ? (double)nq * 1000.0 / m->lat.total_ms : 0.0;
    m->embed = (t1 - t0) / (double)nq;
    m->vector = m->lat.mean;
    m->ran = 1;
    return 0;
}

static int query_dataset(const char *root, const bench_args *a, const evalm_queries *qs,
                         size_t nq, dataset_run *d)
{
    lore_err err = {0};
    char dir[PATH_MAX];
    if (coll_dir(root, d->coll_name, dir, sizeof dir, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    coll_open_options co = {STORE_READONLY, NULL, 0, NULL, 1};
    coll *c = NULL;
    double t0 = bench_now_ms();
    if (coll_open(dir, &co, &c, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    d->open_ms = bench_now_ms() - t0;
    int has_vectors = coll_vindex(c) != NULL && vindex_count(coll_vindex(c)) > 0;
    searcher *s = NULL;
    double *lat = malloc(nq * sizeof *lat);
    int rc = 0;
    if (lat == NULL) {
        cli_error("out of memory");
        rc = CLI_FAIL;
    } else if (searcher_new(c, &s, &err) != 0) {
        cli_error("%s", err.msg);
        rc = CLI_FAIL;
    }
    for (int i = 0; i < NMODES && rc == 0; i++) {
        mode_run *m = &d->modes[i];
        int needs_vectors = m->kind == MK_VECTOR_BATCH || (m->kind == MK_LORE &&
                                                           m->so.mode != SEARCH_BM25);
        if (needs_vectors && !has_vectors)
            continue;
        fprintf(stderr, "lore bench: %s: %s, %zu queries (+%zu warm-up)\n", d->name, m->name, nq,
                m->kind == MK_VECTOR_BATCH ? (size_t)0 : a->warmup);
        if (m->kind == MK_VECTOR_BATCH) {
            rc = time_vector_batch(c, qs, nq, m);
            continue;
        }
        rc = m->kind == MK_RAW_FTS5 ? time_raw_mode(c, qs, nq, a->warmup, m, lat)
                                    : time_lore_mode(s, qs, nq, a->warmup, m, lat);
        if (rc == 0) {
            bench_latency_summarise(lat, nq, &m->lat);
            m->ran = 1;
        }
    }
    searcher_free(s);
    free(lat);
    coll_close(c);
    return rc;
}

/* ------------------------------------------------------------------ output */

static double per_s(double n, double s) { return s > 0 ? n / s : 0.0; }

/* The embedding part (bench_embed.c), as text. */
static void print_embed_text(const bench_embed_result *e)
{
    printf("\nembedding: use (Universal Sentence Encoder lite, in-process), model %s\n",
           e->model_dir);
    printf("  texts: the first %zu corpus records as \"title\\n\\ntext\", %zu tokens read by the\n"
           "  model (at most 128 a text); OpenBLAS thread count %s\n",
           e->texts, e->tokens, e->openblas ? "set per row" : "not settable (not OpenBLAS)");
    printf("  %-38s %10s %10s %9s\n", "", "tokens/s", "texts/s", "vs node");
    double node_tps = e->node_ok ? per_s((double)e->node_tokens, e->node_seconds) : 0.0;
    struct {
        const char *name;
        double s;
    } rows[] = {{"lore, 1 thread (OpenBLAS 1)", e->s_1thread},
                {"lore, 2 threads (OpenBLAS 1 each)", e->s_2threads},
                {"lore, 1 thread (OpenBLAS 2)", e->s_blas2}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].s <= 0)
            continue;
        double tps = per_s((double)e->tokens, rows[i].s);
        printf("  %-38s %10.0f %10.1f", rows[i].name, tps, per_s((double)e->texts, rows[i].s));
        if (node_tps > 0)
            printf(" %8.1fx", tps / node_tps);
        printf("\n");
    }
    if (e->node_ok)
        printf("  %-38s %10.0f %10.1f %9s\n", "node reference (batches of 32)", node_tps,
               per_s((double)e->texts, e->node_seconds), "1.0x");
    if (e->cpu_1thread > 0) {
        double c = per_s((double)e->tokens, e->cpu_1thread);
        printf("  tokens per CPU-second (barely moved by other load): lore 1 thread %.0f", c);
        if (e->node_ok && e->node_cpu_seconds > 0) {
            double nc = per_s((double)e->node_tokens, e->node_cpu_seconds);
            printf(", node %.0f: %.1fx", nc, nc > 0 ? c / nc : 0.0);
        }
        printf("\n");
    }
    printf("  query embedding, one %.1f-token query a call (%zu distinct queries):\n",
           e->query_tokens_mean, e->query_texts);
    printf("    lore  p50 %.2f ms, p99 %.2f ms, mean %.2f ms (%zu calls, OpenBLAS 1)\n",
           e->query.p50, e->query.p99, e->query.mean, e->query.n);
    printf("    lore  CPU time of the calling thread: p50 %.2f ms, p99 %.2f ms (what the\n"
           "          computation costs; wall time also counts waiting for a busy core)\n",
           e->query_cpu.p50, e->query_cpu.p99);
    printf("    lore  search path (bf16 products where the CPU has AVX512-BF16): p50 %.2f ms,\n"
           "          p99 %.2f ms; CPU p50 %.2f ms\n",
           e->search_query.p50, e->search_query.p99, e->search_query_cpu.p50);
    if (e->node_ok)
        printf("    node  p50 %.2f ms, p99 %.2f ms, mean %.2f ms (%zu calls)\n",
               e->node_query.p50, e->node_query.p99, e->node_query.mean, e->node_query.n);
    printf("  node reference: %s\n", e->node_note);
    if (e->node_cmd[0] != '\0')
        printf("  node command: %s\n", e->node_cmd);
}

static cJSON *json_embed(const bench_embed_result *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "embedder", "use");
    cJSON_AddStringToObject(o, "model_dir", e->model_dir);
    cJSON_AddNumberToObject(o, "texts", (double)e->texts);
    cJSON_AddNumberToObject(o, "tokens", (double)e->tokens);
    cJSON *t = cJSON_AddArrayToObject(o, "throughput");
    struct {
        const char *name;
        int threads, blas;
        double s;
    } rows[] = {{"1 thread", 1, 1, e->s_1thread},
                {"2 threads", 2, 1, e->s_2threads},
                {"1 thread, OpenBLAS 2", 1, 2, e->s_blas2}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].s <= 0)
            continue;
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "run", rows[i].name);
        cJSON_AddNumberToObject(r, "threads", rows[i].threads);
        cJSON_AddNumberToObject(r, "openblas_threads", rows[i].blas);
        cJSON_AddNumberToObject(r, "seconds", rows[i].s);
        cJSON_AddNumberToObject(r, "tokens_per_s", per_s((double)e->tokens, rows[i].s));
        cJSON_AddNumberToObject(r, "texts_per_s", per_s((double)e->texts, rows[i].s));
        cJSON_AddItemToArray(t, r);
    }
    cJSON_AddNumberToObject(o, "cpu_seconds_1thread", e->cpu_1thread);
    cJSON *q = cJSON_AddObjectToObject(o, "query");
    cJSON_AddNumberToObject(q, "tokens_mean", e->query_tokens_mean);
    cJSON_AddNumberToObject(q, "calls", (double)e->query.n);
    cJSON_AddNumberToObject(q, "p50_ms", e->query.p50);
    cJSON_AddNumberToObject(q, "p99_ms", e->query.p99);
    cJSON_AddNumberToObject(q, "mean_ms", e->query.mean);
    cJSON_AddNumberToObject(q, "cpu_p50_ms", e->query_cpu.p50);
    cJSON_AddNumberToObject(q, "cpu_p99_ms", e->query_cpu.p99);
    cJSON_AddNumberToObject(q, "search_path_p50_ms", e->search_query.p50);
    cJSON_AddNumberToObject(q, "search_path_p99_ms", e->search_query.p99);
    cJSON_AddNumberToObject(q, "search_path_cpu_p50_ms", e->search_query_cpu.p50);
    cJSON *n = cJSON_AddObjectToObject(o, "node");
    cJSON_AddBoolToObject(n, "ran", e->node_ok);
    cJSON_AddStringToObject(n, "note", e->node_note);
    cJSON_AddStringToObject(n, "command", e->node_cmd);
    if (e->node_ok) {
        cJSON_AddNumberToObject(n, "seconds", e->node_seconds);
        cJSON_AddNumberToObject(n, "cpu_seconds", e->node_cpu_seconds);
        cJSON_AddNumberToObject(n, "tokens_per_s", per_s((double)e->node_tokens, e->node_seconds));
        cJSON_AddNumberToObject(n, "texts_per_s", per_s((double)e->texts, e->node_seconds));
        cJSON_AddNumberToObject(n, "query_p50_ms", e->node_query.p50);
        cJSON_AddNumberToObject(n, "query_p99_ms", e->node_query.p99);
    }
    return o;
}

static void print_text(const bench_args *a, const bench_machine *mc, const char *cmdline,
                       const char *dataset, size_t nq, dataset_run *runs, size_t nruns,
                       double total_s, double load_end)
{
    printf("lore bench\n");
    printf("command    %s\n", cmdline);
    printf("machine    %s, %ld cores, %.1f GiB, %s, %s\n", mc->cpu, mc->cores, mc->mem_gib,
           mc->os, mc->kernel);
    printf("load       %.2f at start, %.2f at end (1-minute load average; above ~1 other work\n"
           "           shared the cores and skews timings)\n", mc->load1, load_end);
    printf("build      %s, SQLite %s, %s\n",
#ifdef NDEBUG
           "optimised, assertions off",
#else
           "assertions ON (not a release build: figures are pessimistic)",
#endif
           sqlite3_libversion(), "one query thread (OpenMP 1)");
    search_options so;
    search_options_default(&so);
    printf("settings   embedder %s; chunks %zu tokens (overlap %zu); k %zu, candidates %zu,\n"
           "           snippets on, dense weight %.2f, bm25_budget %zu (lore search defaults)\n",
           a->embedder, a->chunk.max_tokens, a->chunk.overlap_tokens, so.k, so.candidates,
           so.dense_weight, so.bm25_budget);
    printf("queries    the first %zu of %s/queries.jsonl, %zu warm-up queries per mode\n", nq,
           dataset, a->warmup);
    for (size_t i = 0; i < nruns; i++) {
        dataset_run *d = &runs[i];
        printf("\n== %s", d->name);
        if (d->synthetic)
            printf(": %zu articles recombined from %zu documents (%zu sentences), seed %llu, "
                   "%zu files, generated in %.1f s\n", d->syn.articles, d->syn.source_docs,
                   d->syn.source_sentences, (unsigned long long)BENCH_SEED, d->syn.files,
                   d->syn.seconds);
        else
            printf(": %s\n", d->source);
        printf("indexing   %zu articles, %zu chunks, %zu vectors, %.1f MB in %.2f s\n",
               d->articles, d->chunks, d->vectors, (double)d->bytes / 1e6, d->index_s);
        printf("           %.0f articles/s, %.0f chunks/s, %.2f MB/s; lore.db %.1f MB, "
               "vectors.faiss %.1f MB\n", per_s((double)d->articles, d->index_s),
               per_s((double)d->chunks, d->index_s),
               per_s((double)d->bytes / 1e6, d->index_s), d->db_mb, d->faiss_mb);
        printf("open       %.1f ms (read-only, FAISS file loaded)\n", d->open_ms);
        printf("\n%-15s %8s %8s %8s %8s %8s %8s | %7s %7s %7s %7s %7s %7s | %8s\n", "mode (ms)",
               "mean", "p50", "p95", "p99", "max", "q/s", "analyze", "bm25", "embed", "vector",
               "fuse", "fetch", "rows");
        for (int j = 0; j < NMODES; j++) {
            mode_run *m = &d->modes[j];
            if (!m->ran)
                continue;
            if (m->kind == MK_VECTOR_BATCH) {
                printf("%-15s %8.3f %8s %8s %8s %8s %8.0f | %7s %7.3f %7.3f %7s %7s %7s | %8s\n",
                       m->name, m->lat.mean, "-", "-", "-", "-", m->lat.qps, "-", m->embed,
                       m->vector, "-", "-", "-", "-");
                continue;
            }
            printf("%-15s %8.3f %8.3f %8.3f %8.3f %8.3f %8.0f |", m->name, m->lat.mean,
                   m->lat.p50, m->lat.p95, m->lat.p99, m->lat.max, m->lat.qps);
            if (m->kind == MK_RAW_FTS5)
                printf(" %7s %7s %7s %7s %7s %7s | %8s\n", "-", "-", "-", "-", "-", "-", "-");
            else
                printf(" %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f | %8.0f\n", m->analyze, m->bm25,
                       m->embed, m->vector, m->fuse, m->fetch, m->rows_bound);
        }
    }
    printf("\nmodes:\n");
    for (int j = 0; j < NMODES; j++)
        printf("  %-15s %s\n", runs[0].modes[j].name, runs[0].modes[j].what);
    printf("columns: latency per query in ms (wall time of one call; pXX nearest-rank); q/s =\n"
           "  queries / summed latency; stage columns are mean ms per query from search_results\n"
           "  (analyze includes the df lookups); rows = mean postings the selecting BM25 terms\n"
           "  match (the FTS5 cost bound); vector-batch: mean = batch time / queries, embed =\n"
           "  batch embedding time / queries.\n");
    printf("total run  %.1f s\n", total_s);
}

static cJSON *json_mode(const mode_run *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode", m->name);
    cJSON_AddStringToObject(o, "what", m->what);
    cJSON_AddNumberToObject(o, "queries", (double)m->lat.n);
    cJSON_AddNumberToObject(o, "mean_ms", m->lat.mean);
    if (m->kind != MK_VECTOR_BATCH) {
        cJSON_AddNumberToObject(o, "p50_ms", m->lat.p50);
        cJSON_AddNumberToObject(o, "p95_ms", m->lat.p95);
        cJSON_AddNumberToObject(o, "p99_ms", m->lat.p99);
        cJSON_AddNumberToObject(o, "max_ms", m->lat.max);
    }
    cJSON_AddNumberToObject(o, "qps", m->lat.qps);
    if (m->kind == MK_LORE) {
        cJSON *st = cJSON_AddObjectToObject(o, "stages_mean_ms");
        cJSON_AddNumberToObject(st, "analyze", m->analyze);
        cJSON_AddNumberToObject(st, "bm25", m->bm25);
        cJSON_AddNumberToObject(st, "embed", m->embed);
        cJSON_AddNumberToObject(st, "vector", m->vector);
        cJSON_AddNumberToObject(st, "fuse", m->fuse);
        cJSON_AddNumberToObject(st, "fetch", m->fetch);
        cJSON_AddNumberToObject(o, "bm25_rows_bound_mean", m->rows_bound);
        cJSON_AddNumberToObject(o, "hits_mean", m->hits);
    } else if (m->kind == MK_RAW_FTS5) {
        cJSON_AddNumberToObject(o, "rows_mean", m->hits);
    } else {
        cJSON_AddNumberToObject(o, "embed_mean_ms", m->embed);
    }
    return o;
}

static int print_json(const bench_args *a, const bench_machine *mc, const char *cmdline,
                      const char *dataset, size_t nq, dataset_run *runs, size_t nruns,
                      const bench_embed_result *emb, const bench_rerank_result *rr,
                      double total_s, double load_end)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "command", cmdline);
    cJSON *m = cJSON_AddObjectToObject(root, "machine");
    cJSON_AddStringToObject(m, "cpu", mc->cpu);
    cJSON_AddNumberToObject(m, "cores", (double)mc->cores);
    cJSON_AddNumberToObject(m, "memory_gib", mc->mem_gib);
    cJSON_AddStringToObject(m, "os", mc->os);
    cJSON_AddStringToObject(m, "kernel", mc->kernel);
    cJSON_AddNumberToObject(m, "load_average_1min_start", mc->load1);
    cJSON_AddNumberToObject(m, "load_average_1min_end", load_end);
    cJSON_AddStringToObject(m, "sqlite", sqlite3_libversion());
#ifdef NDEBUG
    cJSON_AddBoolToObject(m, "assertions", 0);
#else
    cJSON_AddBoolToObject(m, "assertions", 1);
#endif
    search_options so;
    search_options_default(&so);
    cJSON *s = cJSON_AddObjectToObject(root, "settings");
    cJSON_AddStringToObject(s, "dataset", dataset);
    cJSON_AddStringToObject(s, "embedder", a->embedder);
    cJSON_AddNumberToObject(s, "queries", (double)nq);
    cJSON_AddNumberToObject(s, "warmup", (double)a->warmup);
    cJSON_AddNumberToObject(s, "scale", (double)a->scale);
    cJSON_AddNumberToObject(s, "seed", (double)BENCH_SEED);
    cJSON_AddNumberToObject(s, "chunk_tokens", (double)a->chunk.max_tokens);
    cJSON_AddNumberToObject(s, "k", (double)so.k);
    cJSON_AddNumberToObject(s, "candidates", (double)so.candidates);
    cJSON_AddNumberToObject(s, "dense_weight", so.dense_weight);
    cJSON_AddNumberToObject(s, "bm25_budget", (double)so.bm25_budget);
    cJSON_AddNumberToObject(s, "query_threads", 1);
    cJSON *arr = cJSON_AddArrayToObject(root, "datasets");
    for (size_t i = 0; i < nruns; i++) {
        dataset_run *d = &runs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "name", d->name);
        cJSON_AddStringToObject(o, "source", d->source);
        if (d->synthetic) {
            cJSON *g = cJSON_AddObjectToObject(o, "generated");
            cJSON_AddNumberToObject(g, "articles", (double)d->syn.articles);
            cJSON_AddNumberToObject(g, "chunks_planned", (double)d->syn.chunks);
            cJSON_AddNumberToObject(g, "files", (double)d->syn.files);
            cJSON_AddNumberToObject(g, "bytes", (double)d->syn.bytes);
            cJSON_AddNumberToObject(g, "seconds", d->syn.seconds);
            cJSON_AddNumberToObject(g, "source_documents", (double)d->syn.source_docs);
            cJSON_AddNumberToObject(g, "source_sentences", (double)d->syn.source_sentences);
        }
        cJSON *ix = cJSON_AddObjectToObject(o, "index");
        cJSON_AddNumberToObject(ix, "articles", (double)d->articles);
        cJSON_AddNumberToObject(ix, "chunks", (double)d->chunks);
        cJSON_AddNumberToObject(ix, "vectors", (double)d->vectors);
        cJSON_AddNumberToObject(ix, "input_bytes", (double)d->bytes);
        cJSON_AddNumberToObject(ix, "seconds", d->index_s);
        cJSON_AddNumberToObject(ix, "articles_per_s", per_s((double)d->articles, d->index_s));
        cJSON_AddNumberToObject(ix, "chunks_per_s", per_s((double)d->chunks, d->index_s));
        cJSON_AddNumberToObject(ix, "mb_per_s", per_s((double)d->bytes / 1e6, d->index_s));
        cJSON_AddNumberToObject(ix, "db_mb", d->db_mb);
        cJSON_AddNumberToObject(ix, "faiss_mb", d->faiss_mb);
        cJSON_AddNumberToObject(ix, "open_ms", d->open_ms);
        cJSON *ms = cJSON_AddArrayToObject(o, "modes");
        for (int j = 0; j < NMODES; j++)
            if (d->modes[j].ran)
                cJSON_AddItemToArray(ms, json_mode(&d->modes[j]));
    }
    if (emb != NULL)
        cJSON_AddItemToObject(root, "embedding", json_embed(emb));
    cJSON_AddItemToObject(root, "rerank", bench_rerank_json(rr));
    cJSON_AddNumberToObject(root, "total_seconds", total_s);
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (txt == NULL) {
        cli_error("out of memory printing json");
        return CLI_FAIL;
    }
    puts(txt);
    free(txt);
    return 0;
}

/* ------------------------------------------------------------------ the command */

static int make_scratch(const bench_args *a, char *root, size_t len, int *temp)
{
    *temp = 0;
    if (a->data) {
        if (mkdir(a->data, 0755) != 0 && errno != EEXIST) {
            cli_error("cannot create --data %s: %s", a->data, strerror(errno));
            return CLI_FAIL;
        }
        if (realpath(a->data, root) == NULL || strlen(root) >= len) {
            cli_error("cannot resolve --data %s", a->data);
            return CLI_FAIL;
        }
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(root, len, "%s/lore-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        cli_error("cannot create a temporary directory %s: %s", root, strerror(errno));
        return CLI_FAIL;
    }
    *temp = 1;
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--serve") == 0)
            return bench_serve_main(argc, argv);
    double t_start = bench_now_ms();
    bench_args a = {0};
    a.embedder = BENCH_EMBEDDER;
    a.embed_texts = 600;
    a.scale = 100000;
    a.nqueries = 300;
    a.warmup = 20;
    a.chunk = (chunk_options)CHUNK_OPTIONS_DEFAULT;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? CLI_OK : rc;

    char dataset[PATH_MAX];
    if (a.dataset) {
        if (!is_dir(a.dataset) || realpath(a.dataset, dataset) == NULL) {
            cli_error("dataset %s is not a directory", a.dataset);
            return CLI_USAGE;
        }
    } else if (default_dataset(dataset, sizeof dataset) != 0) {
        cli_error("no dataset: ../shared/data/scifact was not found beside the repository; "
                  "give --dataset DIR (a BEIR folder with corpus.jsonl and queries.jsonl)");
        return CLI_USAGE;
    }
    char corpus[PATH_MAX + 32], queries[PATH_MAX + 32];
    snprintf(corpus, sizeof corpus, "%s/corpus.jsonl", dataset);
    snprintf(queries, sizeof queries, "%s/queries.jsonl", dataset);
    unsigned long long corpus_bytes = 0;
    if (file_size(corpus, &corpus_bytes) != 0 || access(queries, R_OK) != 0) {
        cli_error("%s needs corpus.jsonl and queries.jsonl", dataset);
        return CLI_USAGE;
    }
    lore_err err = {0};
    evalm_queries qs = {0};
    if (evalm_queries_load(queries, &qs, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    if (qs.n == 0) {
        cli_error("%s holds no queries", queries);
        return CLI_FAIL;
    }
    size_t nq = a.nqueries < qs.n ? a.nqueries : qs.n;
    if (nq < a.nqueries)
        fprintf(stderr, "lore bench: %s holds %zu queries; timing those\n", queries, qs.n);

    bench_machine mc;
    bench_machine_get(&mc);
    char *cmdline = bench_command_line(argc, argv);
    char root[PATH_MAX];
    int temp = 0;
    if (cmdline == NULL) {
        cli_error("out of memory");
        evalm_queries_free(&qs);
        return CLI_FAIL;
    }
    if ((rc = make_scratch(&a, root, sizeof root, &temp)) != 0) {
        free(cmdline);
        evalm_queries_free(&qs);
        return rc;
    }

    dataset_run runs[2];
    size_t nruns = a.scale > 0 ? 2 : 1;
    memset(runs, 0, sizeof runs);
    const char *base = strrchr(dataset, '/');
    base = base && base[1] ? base + 1 : dataset;
    runs[0].name = base;
    snprintf(runs[0].coll_name, sizeof runs[0].coll_name, "bench-dataset");
    snprintf(runs[0].source, sizeof runs[0].source, "%s", corpus);
    runs[0].bytes = corpus_bytes;
    runs[1].name = "synthetic";
    runs[1].synthetic = 1;
    snprintf(runs[1].coll_name, sizeof runs[1].coll_name, "bench-synthetic");
    for (size_t i = 0; i < 2; i++)
        modes_init(runs[i].modes, &a);

    if (a.embed_only)
        nruns = 0;

    /* 1. Indexing, with all cores. */
    if (nruns > 0)
        rc = index_dataset(root, &a, &runs[0]);
    char synth_dir[PATH_MAX + 32];
    snprintf(synth_dir, sizeof synth_dir, "%s/bench-synthetic-src", root);
    if (rc == 0 && nruns == 2) {
        if (bench_rmtree(synth_dir, &err) != 0 || mkdir(synth_dir, 0755) != 0) {
            cli_error("cannot create %s: %s", synth_dir, err.code ? err.msg : strerror(errno));
            rc = CLI_FAIL;
        } else {
            fprintf(stderr, "lore bench: generating %zu synthetic chunks in %s\n", a.scale,
                    synth_dir);
            if (bench_synth_write(corpus, synth_dir, a.scale, &a.chunk, BENCH_SEED, &runs[1].syn,
                                  &err) != 0) {
                cli_error("%s", err.msg);
                rc = CLI_FAIL;
            }
        }
        if (rc == 0) {
            snprintf(runs[1].source, sizeof runs[1].source, "%s", synth_dir);
            runs[1].bytes = runs[1].syn.bytes;
            rc = index_dataset(root, &a, &runs[1]);
        }
        lore_err e2 = {0};
        if (bench_rmtree(synth_dir, &e2) != 0) /* the source files are not needed any more */
            cli_error("%s", e2.msg);
    }

    /* 2. Queries, one thread. */
    vindex_query_threads_init();
    for (size_t i = 0; i < nruns && rc == 0; i++)
        rc = query_dataset(root, &a, &qs, nq, &runs[i]);

    /* 3. The use model's embedding speed, and its Node reference's. */
    bench_embed_result *emb = NULL;
    if (rc == 0 && a.embed_texts > 0) {
        emb = calloc(1, sizeof *emb);
        const char **qt = calloc(qs.n, sizeof *qt);
        if (emb == NULL || qt == NULL) {
            cli_error("out of memory");
            rc = CLI_FAIL;
        } else {
            for (size_t i = 0; i < qs.n; i++)
                qt[i] = qs.items[i].text;
            bench_embed_options eo = {a.embed_texts, 300, 20, !a.no_node};
            if (bench_embed_run(corpus, qt, qs.n, &eo, emb, &err) != 0) {
                cli_error("embedding bench: %s", err.msg);
                rc = CLI_FAIL;
            }
        }
        free(qt);
    }

    /* 4. The reranker (bench_rerank.c). */
    bench_rerank_result rr = {0};
    if (rc == 0 && bench_rerank_run(corpus, &qs, 40, 1000, &rr, &err) != 0) {
        cli_error("rerank bench: %s", err.msg);
        rc = CLI_FAIL;
    }

    double total_s = (bench_now_ms() - t_start) / 1000.0;
    double load_end = bench_load1();
    if (rc == 0) {
        if (a.json) {
            rc = print_json(&a, &mc, cmdline, dataset, nq, runs, nruns, emb, &rr, total_s,
                            load_end);
        } else {
            if (nruns > 0) {
                print_text(&a, &mc, cmdline, dataset, nq, runs, nruns, total_s, load_end);
            } else {
                printf("lore bench\ncommand    %s\n", cmdline);
                printf("machine    %s, %ld cores, %.1f GiB, %s, %s\n", mc.cpu, mc.cores,
                       mc.mem_gib, mc.os, mc.kernel);
                printf("load       %.2f at start, %.2f at end\n", mc.load1, load_end);
                printf("total run  %.1f s\n", total_s);
            }
            if (emb != NULL)
                print_embed_text(emb);
            bench_rerank_print(stdout, &rr);
        }
    }
    free(emb);
    if (temp && bench_rmtree(root, &err) != 0)
        cli_error("%s", err.msg);
    free(cmdline);
    evalm_queries_free(&qs);
    return rc;
}
