#include "bench_rerank.h"

#include "rerank.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DOCS 2000

typedef struct doc {
    char *title, *text;
} doc;

typedef struct qterms {
    char text[32][TEXT_MAX_TERM + 1];
    rerank_term t[32];
    size_t n;
} qterms;

static int add_term(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)start;
    (void)end;
    qterms *q = ctx;
    if (q->n == 32 || len > TEXT_MAX_TERM)
        return 0;
    for (size_t i = 0; i < q->n; i++)
        if (strlen(q->text[i]) == len && memcmp(q->text[i], term, len) == 0)
            return 0;
    memcpy(q->text[q->n], term, len);
    q->text[q->n][len] = '\0';
    q->t[q->n].text = q->text[q->n];
    q->t[q->n].idf = 1.0 + (double)(len % 5); /* any positive weights cost the same */
    q->n++;
    return 0;
}

static int load_docs(const char *path, doc **out, size_t *n, lore_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return lore_errf(err, LORE_EIO, "cannot read %s", path);
    doc *d = calloc(DOCS, sizeof *d);
    char *line = NULL;
    size_t cap = 0, m = 0;
    int rc = d ? 0 : lore_errf(err, LORE_ENOMEM, "out of memory");
    while (rc == 0 && m < DOCS && getline(&line, &cap, f) > 0) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "title");
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, "text");
        if (cJSON_IsString(t) && cJSON_IsString(x)) {
            d[m].title = strdup(t->valuestring);
            d[m].text = strdup(x->valuestring);
            if (d[m].title == NULL || d[m].text == NULL)
                rc = lore_errf(err, LORE_ENOMEM, "out of memory");
            m++;
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    if (rc == 0 && m == 0)
        rc = lore_errf(err, LORE_EINVAL, "%s holds no record with a title and text", path);
    *out = d;
    *n = m;
    return rc;
}

typedef struct sc {
    double s;
    size_t i;
} sc;

static int by_s(const void *a, const void *b)
{
    const sc *x = a, *y = b;
    return x->s != y->s ? (x->s < y->s ? 1 : -1) : (x->i > y->i) - (x->i < y->i);
}

/* Buffers for `candidates` candidates and `runs` timings. */
typedef struct scratch {
    rerank_cand *k;
    double *feat, *scores, *ms;
    sc *o;
    int *art;
} scratch;

/* Times `runs` queries of `candidates` records each into x->ms; keyed: the candidates carry
 * their record number as the cache key. */
static int time_queries(rerank_ctx *ctx, text_analyzer *an, const doc *d, size_t nd,
                        const evalm_queries *qs, size_t candidates, size_t runs, int keyed,
                        scratch *x, lore_err *err)
{
    const rerank_profile *p = rerank_profile_default();
    rerank_cand *k = x->k;
    double *feat = x->feat, *scores = x->scores;
    sc *o = x->o;
    int *art = x->art;
    int rc = 0;
    for (size_t q = 0; rc == 0 && q < runs; q++) {
        const char *question = qs->items[q % qs->n].text;
        qterms qt = {0};
        text_analyze(an, question, strlen(question), add_term, &qt);
        for (size_t j = 0; j < candidates; j++) {
            size_t rec = (q * 7 + j * 13) % nd;
            k[j] = (rerank_cand){.bm25 = 10.0 / (1 + j), .bm25_rank = j % 3 ? (int)j + 1 : 0,
                                 .dense = 0.6 - 0.01 * j, .dense_rank = j % 2 ? (int)j + 1 : 0,
                                 .fused = 1.0 - 0.02 * j, .fused_rank = (int)j + 1,
                                 .title = d[rec].title, .heading = d[rec].title, .body = d[rec].text,
                                 .ordinal = (int)(j % 3), .article = (int)(j / 2),
                                 .key = keyed ? (int64_t)rec + 1 : 0};
        }
        double t0 = bench_now_ms();
        rc = rerank_features(ctx, question, "en", qt.t, qt.n, k, candidates, feat, err);
        for (size_t j = 0; j < candidates; j++) {
            o[j].s = rerank_score(p, feat + j * RERANK_NFEAT);
            o[j].i = j;
        }
        qsort(o, candidates, sizeof *o, by_s);
        for (size_t j = 0; j < candidates; j++) {
            scores[j] = o[j].s;
            art[j] = (int)o[j].i;
        }
        double cf[RERANK_NCONF];
        rerank_conf_features(scores, feat + o[0].i * RERANK_NFEAT, art, candidates, qt.n, cf);
        volatile double conf = rerank_confidence(p, cf);
        (void)conf;
        x->ms[q] = bench_now_ms() - t0;
    }
    return rc;
}

int bench_rerank_run(const char *corpus_path, const evalm_queries *qs, size_t candidates,
                     size_t runs, bench_rerank_result *r, lore_err *err)
{
    memset(r, 0, sizeof *r);
    doc *d = NULL;
    size_t nd = 0;
    int rc = load_docs(corpus_path, &d, &nd, err);
    rerank_ctx *ctx = NULL;
    text_analyzer *an = NULL;
    scratch x = {calloc(candidates + 1, sizeof *x.k),
                 malloc((candidates + 1) * RERANK_NFEAT * sizeof *x.feat),
                 malloc((candidates + 1) * sizeof *x.scores), malloc((runs + 1) * sizeof *x.ms),
                 malloc((candidates + 1) * sizeof *x.o), malloc((candidates + 1) * sizeof *x.art)};
    if (rc == 0 && (!x.k || !x.feat || !x.scores || !x.ms || !x.o || !x.art))
        rc = lore_errf(err, LORE_ENOMEM, "out of memory");
    if (rc == 0)
        rc = rerank_ctx_new(&ctx, err);
    if (rc == 0)
        rc = text_analyzer_new("en", &an, err);
    /* Every chunk analysed per query (no keys), then the serving case: the same chunks come
     * back, keyed, after one untimed pass has filled the cache. */
    if (rc == 0)
        rc = time_queries(ctx, an, d, nd, qs, candidates, runs, 0, &x, err);
    if (rc == 0) {
        bench_latency_summarise(x.ms, runs, &r->lat);
        rc = time_queries(ctx, an, d, nd, qs, candidates, runs, 1, &x, err);
    }
    if (rc == 0)
        rc = time_queries(ctx, an, d, nd, qs, candidates, runs, 1, &x, err);
    if (rc == 0) {
        bench_latency_summarise(x.ms, runs, &r->warm);
        size_t tokens = 0;
        for (size_t j = 0; j < candidates; j++)
            tokens += text_count_tokens(d[j * 13 % nd].text, strlen(d[j * 13 % nd].text));
        r->candidates = candidates;
        r->runs = runs;
        r->mean_chunk_tokens = candidates ? (double)tokens / (double)candidates : 0.0;
    }
    for (size_t i = 0; d && i < nd; i++) {
        free(d[i].title);
        free(d[i].text);
    }
    free(d);
    free(x.k);
    free(x.feat);
    free(x.scores);
    free(x.ms);
    free(x.o);
    free(x.art);
    rerank_ctx_free(ctx);
    text_analyzer_free(an);
    return rc;
}

static void add_latency(cJSON *o, const char *name, const bench_latency *l)
{
    cJSON *x = cJSON_AddObjectToObject(o, name);
    cJSON_AddNumberToObject(x, "p50_ms", l->p50);
    cJSON_AddNumberToObject(x, "p95_ms", l->p95);
    cJSON_AddNumberToObject(x, "p99_ms", l->p99);
    cJSON_AddNumberToObject(x, "mean_ms", l->mean);
}

cJSON *bench_rerank_json(const bench_rerank_result *r)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddNumberToObject(o, "candidates", (double)r->candidates);
    cJSON_AddNumberToObject(o, "queries", (double)r->runs);
    cJSON_AddNumberToObject(o, "mean_chunk_tokens", r->mean_chunk_tokens);
    add_latency(o, "cold", &r->lat);
    add_latency(o, "warm", &r->warm);
    return o;
}

void bench_rerank_print(FILE *f, const bench_rerank_result *r)
{
    fprintf(f, "\nrerank (features, scores, sort, confidence; in memory, 1 thread)\n");
    fprintf(f, "  %zu candidates of %.0f tokens on average, %zu queries: p50 %.3f ms, "
               "p95 %.3f ms, p99 %.3f ms, mean %.3f ms\n", r->candidates,
            r->mean_chunk_tokens, r->runs, r->lat.p50, r->lat.p95, r->lat.p99, r->lat.mean);
    fprintf(f, "  the same with the analysis cache warm (serving): p50 %.3f ms, p95 %.3f ms, "
               "p99 %.3f ms, mean %.3f ms\n", r->warm.p50, r->warm.p95, r->warm.p99,
            r->warm.mean);
}
