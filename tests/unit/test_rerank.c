/* Unit tests for rerank, rerank_profile and rerank_fit: features say what they claim
 * (coverage, title match, proximity, bigrams, rank reciprocals, agreement, dense fill for
 * absent candidates); the default profile parses; a profile survives JSON and a file round
 * trip unchanged; a corrupt, truncated, wrong-format or missing profile gives a clear error
 * naming the file and falls back to the default profile; unknown features and bad numbers
 * are rejected; fitting puts the relevant candidate first and the fitted profile, saved and
 * loaded again, ranks every query identically; boosted trees rank what a line cannot and
 * survive the profile file exactly; the confidence model separates answerable
 * from unanswerable queries and its mean matches the base rate; confidence features see the
 * margin to another article, not to a chunk of the same one; the chunk cache gives features
 * bit-identical to fresh analysis (warm, small enough to start over, off, across a locale
 * switch) and sees changed text under a key after a reset. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rerank.h"
#include "rerank_fit.h"
#include "text.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void temp_path(char *buf, size_t len, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, len, "%s/lore-test-rerank-%d-%s", tmp && *tmp ? tmp : "/tmp", (int)getpid(),
             name);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_features(void **state)
{
    (void)state;
    rerank_ctx *c;
    lore_err err = {0};
    assert_int_equal(rerank_ctx_new(&c, &err), 0);
    /* Terms as the index knows them (Porter stems). */
    rerank_term terms[] = {{"export", 2.0}, {"timesheet", 3.0}, {"pdf", 1.0}};
    rerank_cand k[3] = {
        {.bm25 = 6, .bm25_rank = 1, .dense = 0.8, .dense_rank = 2, .fused = 1.0, .fused_rank = 1,
         .title = "Exporting timesheets", .heading = "Exporting timesheets > PDF",
         .body = "You can export timesheets as a PDF file.", .ordinal = 0, .article = 1},
        {.bm25 = 3, .bm25_rank = 2, .fused = 0.5, .fused_rank = 2, .title = "Billing",
         .heading = "Billing", .body = "Timesheets are weekly. Later you may want to export.",
         .ordinal = 3, .article = 2},
        {.dense = 0.9, .dense_rank = 1, .fused = 0.3, .fused_rank = 3, .title = "Other",
         .heading = "Other", .body = "Nothing relevant here at all.", .ordinal = 1,
         .article = 1}};
    double f[3 * RERANK_NFEAT];
    assert_int_equal(rerank_features(c, "export timesheets to PDF", "en", terms, 3, k, 3, f,
                                     &err), 0);
    double *a = f, *b = f + RERANK_NFEAT, *x = f + 2 * RERANK_NFEAT;
    NEAR(a[RF_COVER], 1.0);
    NEAR(a[RF_COVER_T], 5.0 / 6.0);   /* export + timesheet of idf mass 6 */
    NEAR(a[RF_COVER_H], 1.0);
    NEAR(b[RF_COVER], 5.0 / 6.0);
    NEAR(b[RF_COVER_T], 0.0);
    NEAR(x[RF_COVER], 0.0);
    NEAR(a[RF_PROX], 1.0);             /* "export timesheets ... pdf": window 3 of 3 terms */
    assert_true(b[RF_PROX] < 0.5 && b[RF_PROX] > 0.0);
    NEAR(a[RF_BIGRAM], 1.0);           /* both query pairs adjacent in the chunk */
    NEAR(b[RF_BIGRAM], 0.0);
    NEAR(a[RF_BM25_REL], 1.0);
    NEAR(b[RF_BM25_REL], 0.5);
    NEAR(a[RF_BM25_Q], 1.0);           /* 6 / idf mass 6 */
    NEAR(a[RF_BM25_RR], 1.0);
    NEAR(b[RF_BM25_RR], 1.0 / log2(3.0));
    NEAR(x[RF_BM25_RR], 0.0);
    NEAR(b[RF_DENSE], 0.8);            /* absent from the dense list: its lowest cosine */
    NEAR(a[RF_DENSE_GAP], 0.8 - 0.9);
    NEAR(a[RF_BOTH], 1.0);
    NEAR(b[RF_BOTH], 0.0);
    NEAR(a[RF_POS], 1.0);
    NEAR(b[RF_POS], 0.25);
    NEAR(a[RF_RANKDIS], fabs(log(2.0) - log(3.0)));
    assert_true(a[RF_LEN] > 0.0);
    NEAR(a[RF_XENC], 0.0);
    /* a and x are one article: together they cover what a covers. */
    NEAR(x[RF_ART_COVER], 1.0);
    NEAR(b[RF_ART_COVER], 5.0 / 6.0);
    NEAR(a[RF_ART_CHUNKS], log(3.0));
    NEAR(b[RF_ART_CHUNKS], log(2.0));
    /* Standardised scores: bm25 6, 3, 0 (mean 3, sd sqrt(6)); dense 0.8, 0.8, 0.9. */
    NEAR(a[RF_BM25_Z], 3.0 / sqrt(6.0));
    NEAR(b[RF_BM25_Z], 0.0);
    NEAR(a[RF_DENSE_Z] + b[RF_DENSE_Z] + x[RF_DENSE_Z], 0.0);
    assert_true(x[RF_DENSE_Z] > 0.0);
    rerank_ctx_free(c);
}

/* The reranker analyses chunks through a word cache and skips stemming words that cannot
 * match; its coverage, proximity and length must equal those computed from the plain
 * analyzer's terms, on real text with non-ASCII letters, numbers, joiners and stop words. */
typedef struct plain {
    char text[32][TEXT_MAX_TERM + 1];
    rerank_term t[32];
    size_t n;     /* distinct question terms */
    int tok[8192];
    size_t ntok;
    int collect;  /* 1: collecting question terms; 0: matching body tokens */
} plain;

static int plain_token(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)start;
    (void)end;
    plain *p = ctx;
    int m = -1;
    for (size_t i = 0; i < p->n; i++)
        if (strlen(p->text[i]) == len && memcmp(p->text[i], term, len) == 0)
            m = (int)i;
    if (p->collect) {
        if (m < 0 && p->n < 32) {
            memcpy(p->text[p->n], term, len);
            p->text[p->n][len] = '\0';
            p->t[p->n].text = p->text[p->n];
            p->t[p->n].idf = 1.0 + (double)p->n;
            p->n++;
        }
    } else if (p->ntok < 8192) {
        p->tok[p->ntok++] = m;
    }
    return 0;
}

static void check_like_plain(rerank_ctx *c, text_analyzer *an, const char *question,
                             const char *body)
{
    static plain p;
    memset(&p, 0, sizeof p);
    p.collect = 1;
    assert_int_equal(text_analyze(an, question, strlen(question), plain_token, &p), 0);
    p.collect = 0;
    assert_int_equal(text_analyze(an, body, strlen(body), plain_token, &p), 0);
    double mass = 0, got = 0;
    uint64_t seen = 0;
    for (size_t i = 0; i < p.n; i++)
        mass += p.t[i].idf;
    for (size_t i = 0; i < p.ntok; i++)
        if (p.tok[i] >= 0 && !(seen & (1ULL << p.tok[i]))) {
            seen |= 1ULL << p.tok[i];
            got += p.t[p.tok[i]].idf;
        }
    rerank_cand k = {.fused = 1, .fused_rank = 1, .title = "", .heading = "", .body = body};
    double f[RERANK_NFEAT];
    assert_int_equal(rerank_features(c, question, "en", p.t, p.n, &k, 1, f, NULL), 0);
    if (fabs(f[RF_COVER] - got / mass) > 1e-9 || fabs(f[RF_LEN] - log(1.0 + p.ntok)) > 1e-9)
        fail_msg("question '%s': cover %g want %g, length %g want %g", question, f[RF_COVER],
                 got / mass, f[RF_LEN], log(1.0 + p.ntok));
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static void test_fast_analysis_exact(void **state)
{
    (void)state;
    rerank_ctx *c;
    text_analyzer *an;
    assert_int_equal(rerank_ctx_new(&c, NULL), 0);
    assert_int_equal(text_analyzer_new("en", &an, NULL), 0);
    check_like_plain(c, an, "Why is the café's Wi-Fi 3.14 slower, e.g. at 1,000 users?",
                     "The café's Wi-Fi runs at 3.14 Mbps; e.g. with 1,000 users it is slower. "
                     "THE Cafe\xcc\x81 slowly slows. Naïve résumé: don't panic, it's fine.");
    check_like_plain(c, an, "happy spying ponies relational", "Happy happiness spy spies pony "
                     "ponies relate relational relationship and the of 42");
    const char *src = getenv("LORE_SOURCE_DIR");
    const char *files[] = {"billing-invoices-and-receipts.md", "api-keys-and-rate-limits.md",
                           "accepting-online-payments.html"};
    const char *questions[] = {"how do I download an invoice receipt for my billing plan",
                               "api key rate limit exceeded 429 retry",
                               "accept online card payments with stripe"};
    for (size_t i = 0; src && i < 3; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/corpus/articles/%s", src, files[i]);
        char *text = read_all(path);
        if (text == NULL)
            fail_msg("cannot read %s", path);
        for (size_t q = 0; q < 3; q++)
            check_like_plain(c, an, questions[q], text);
        free(text);
    }
    text_analyzer_free(an);
    rerank_ctx_free(c);
}

/* The chunk cache: features of keyed candidates, analysed once and kept as term ids, must be
 * bit-identical to analysing them afresh (key 0), whatever the cache saw before: queries
 * whose terms it has not met, stemming variants, stop words, non-ASCII and CJK text, long
 * identifiers, duplicate and unknown query terms, a locale switch, and a budget so small
 * that it starts over and refuses chunks while a query runs. */
#define NCHUNK 10
#define NASK 12

typedef struct qset {
    char text[32][TEXT_MAX_TERM + 1];
    rerank_term t[32];
    size_t n;
} qset;

static int qset_add(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)start;
    (void)end;
    qset *q = ctx;
    for (size_t i = 0; i < q->n; i++)
        if (strlen(q->text[i]) == len && memcmp(q->text[i], term, len) == 0)
            return 0;
    if (q->n < 32 && len <= TEXT_MAX_TERM) {
        memcpy(q->text[q->n], term, len);
        q->text[q->n][len] = '\0';
        q->t[q->n].text = q->text[q->n];
        q->t[q->n].idf = 0.5 + 0.75 * (double)q->n;
        q->n++;
    }
    return 0;
}

static void qset_extra(qset *q, const char *term, double idf)
{
    snprintf(q->text[q->n], sizeof q->text[q->n], "%s", term);
    q->t[q->n].text = q->text[q->n];
    q->t[q->n].idf = idf;
    q->n++;
}

/* The question's terms as the index would know them, in question order. */
static void qset_of(qset *q, const char *question, const char *locale)
{
    text_analyzer *an;
    memset(q, 0, sizeof *q);
    assert_int_equal(text_analyzer_new(locale, &an, NULL), 0);
    assert_int_equal(text_analyze(an, question, strlen(question), qset_add, q), 0);
    text_analyzer_free(an);
}

static void chunk_texts(const char *texts[NCHUNK][3], char *files[2])
{
    static const char *const fixed[8][3] = {
        {"Exporting timesheets", "Exporting timesheets > PDF",
         "You can export timesheets as a PDF file. Exported files keep the export date; "
         "exports are emailed to the exporter."},
        {"Billing", NULL,
         "Timesheets are weekly. Later you may want to export. The invoices and the receipts "
         "are on the billing page, and it is there that refunds are issued."},
        {"Caf\xc3\xa9 Wi-Fi", "Na\xc3\xafve r\xc3\xa9sum\xc3\xa9",
         "The caf\xc3\xa9's Wi-Fi runs at 3.14 Mbps; e.g. with 1,000 users it is slower. THE "
         "Cafe\xcc\x81 slowly slows. Stra\xc3\x9f" "e, \xc3\x86r\xc3\xb8sk\xc3\xb8" "bing and "
         "na\xc3\xafve r\xc3\xa9sum\xc3\xa9s: don't panic, it's fine. Die Rechnung und das "
         "Konto; die Rechnungen."},
        {"\xe5\x8f\x91\xe7\xa5\xa8\xe4\xb8\x8b\xe8\xbd\xbd", /* 发票下载 */
         "\xe5\xa6\x82\xe4\xbd\x95\xe5\xaf\xbc\xe5\x87\xba\xe5\x8f\x91\xe7\xa5\xa8", /* 如何导出发票 */
         /* 您可以在账单页面下载发票。导出PDF。請求書をダウンロード。청구서 다운로드 */
         "\xe6\x82\xa8\xe5\x8f\xaf\xe4\xbb\xa5\xe5\x9c\xa8\xe8\xb4\xa6\xe5\x8d\x95\xe9\xa1\xb5"
         "\xe9\x9d\xa2\xe4\xb8\x8b\xe8\xbd\xbd\xe5\x8f\x91\xe7\xa5\xa8\xe3\x80\x82\xe5\xaf\xbc"
         "\xe5\x87\xba PDF\xe3\x80\x82\xe8\xab\x8b\xe6\xb1\x82\xe6\x9b\xb8\xe3\x82\x92\xe3\x83"
         "\x80\xe3\x82\xa6\xe3\x83\xb3\xe3\x83\xad\xe3\x83\xbc\xe3\x83\x89\xe3\x80\x82\xec\xb2"
         "\xad\xea\xb5\xac\xec\x84\x9c \xeb\x8b\xa4\xec\x9a\xb4\xeb\xa1\x9c\xeb\x93\x9c"},
        {"Happy ponies", "Relations",
         "Happy happiness spy spies spying pony ponies relate relational relationship and the "
         "of 42 flying flies generalization generalizations, happily related."},
        {"Tokens", "API keys > Limits",
         "Your key looks like sk_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaa and expires. Rate limit exceeded: 429, retry after 60 seconds. "
         "Rate-limited keys retry; limits reset hourly."},
        {"", "", ""},
        {"Export", "Export > Timesheets", "Export export export timesheets timesheet."},
    };
    for (int i = 0; i < 8; i++)
        for (int p = 0; p < 3; p++)
            texts[i][p] = fixed[i][p];
    /* Real articles as bodies, when the source tree is known. */
    const char *src = getenv("LORE_SOURCE_DIR");
    const char *names[2] = {"api-keys-and-rate-limits.md", "billing-invoices-and-receipts.md"};
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/corpus/articles/%s", src ? src : ".", names[i]);
        files[i] = src ? read_all(path) : NULL;
        texts[8 + i][0] = "Article";
        texts[8 + i][1] = names[i];
        texts[8 + i][2] = files[i] ? files[i] : "rate limits and invoices";
    }
}

/* Candidates j..j+6 (mod NCHUNK) of question q; key 0 when keyed is 0. */
static size_t make_cands(const char *texts[NCHUNK][3], size_t q, int keyed, rerank_cand *k)
{
    size_t n = 7;
    for (size_t i = 0; i < n; i++) {
        size_t x = (q * 3 + i * (q % 2 ? 1 : 3)) % NCHUNK;
        k[i] = (rerank_cand){.bm25 = 9.0 / (1.0 + (double)i), .bm25_rank = i % 3 ? (int)i + 1 : 0,
                             .dense = 0.7 - 0.05 * (double)i,
                             .dense_rank = i % 2 ? (int)i + 1 : 0, .fused = 1.0 - 0.1 * (double)i,
                             .fused_rank = (int)i + 1, .title = texts[x][0],
                             .heading = texts[x][1], .body = texts[x][2], .ordinal = (int)(x % 3),
                             .article = (int)(x / 2), .key = keyed ? (int64_t)x + 1 : 0};
    }
    return n;
}

static void same_features(const double *want, const double *got, size_t n, const char *what,
                          const char *question)
{
    for (size_t i = 0; i < n * RERANK_NFEAT; i++)
        if (memcmp(&want[i], &got[i], sizeof want[i]) != 0)
            fail_msg("%s, '%s': candidate %zu %s is %.17g, analysed afresh %.17g", what,
                     question, i / RERANK_NFEAT, rerank_feature_name((int)(i % RERANK_NFEAT)),
                     got[i], want[i]);
}

static void test_cache_exact(void **state)
{
    (void)state;
    static const char *const ask[NASK][2] = {
        {"export timesheets to PDF", "en"},
        {"how do I export my exported timesheet exports", "en"},
        {"rate limit exceeded 429 retry", "en"},
        /* terms the cache has not met while it analysed these chunks */
        {"caf\xc3\xa9 wifi r\xc3\xa9sum\xc3\xa9 stra\xc3\x9f" "e 3.14 1,000 slowly", "en"},
        {"\xe5\x8f\x91\xe7\xa5\xa8\xe4\xb8\x8b\xe8\xbd\xbd \xe5\xaf\xbc\xe5\x87\xba", "en"},
        {"the of and it is there", "en"}, /* stop words only: no term */
        {"happy ponies relational generalization spying", "en"},
        {"die Rechnungen und das Konto", "de"}, /* another language: the cache starts over */
        {"invoices receipts refunds billing", "en"},
        {"sk_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa key",
         "en"},
        {"zzyzx export unknownword", "en"},
        {"export timesheets export", "en"}, /* plus a duplicate term below */
    };
    const char *texts[NCHUNK][3];
    char *files[2];
    chunk_texts(texts, files);
    rerank_ctx *warm, *tiny, *off;
    assert_int_equal(rerank_ctx_new(&warm, NULL), 0);
    assert_int_equal(rerank_ctx_new(&tiny, NULL), 0);
    assert_int_equal(rerank_ctx_new(&off, NULL), 0);
    rerank_ctx_set_cache_limit(tiny, 400); /* 25 ids a chunk: the articles are never kept */
    rerank_ctx_set_cache_limit(off, 0);
    rerank_cand k[8], kk[8];
    double want[8 * RERANK_NFEAT], got[8 * RERANK_NFEAT];
    for (int pass = 0; pass < 3; pass++) {
        for (size_t q = 0; q < NASK; q++) {
            const char *question = ask[q][0], *locale = ask[q][1];
            qset qs;
            qset_of(&qs, question, locale);
            if (q == NASK - 1)
                qset_extra(&qs, "export", 4.0); /* equal terms: the first one matches */
            if (q == 2)
                qset_extra(&qs, "neverintext", 1.5);
            rerank_ctx *fresh;
            assert_int_equal(rerank_ctx_new(&fresh, NULL), 0);
            size_t n = make_cands(texts, q + (size_t)pass, 0, k);
            assert_int_equal(rerank_features(fresh, question, locale, qs.t, qs.n, k, n, want,
                                             NULL), 0);
            rerank_ctx_free(fresh);
            make_cands(texts, q + (size_t)pass, 1, kk);
            assert_int_equal(rerank_features(warm, question, locale, qs.t, qs.n, kk, n, got,
                                             NULL), 0);
            same_features(want, got, n, "cached", question);
            assert_int_equal(rerank_features(tiny, question, locale, qs.t, qs.n, kk, n, got,
                                             NULL), 0);
            same_features(want, got, n, "small cache", question);
            assert_int_equal(rerank_features(off, question, locale, qs.t, qs.n, kk, n, got,
                                             NULL), 0);
            same_features(want, got, n, "cache off", question);
        }
    }
    rerank_ctx_free(warm);
    rerank_ctx_free(tiny);
    rerank_ctx_free(off);
    free(files[0]);
    free(files[1]);
}

/* More chunks than a small budget holds: the cache starts over, also while a query runs,
 * and the features stay those of fresh analysis. */
static void test_cache_starts_over(void **state)
{
    (void)state;
    enum { N = 48, PER_QUERY = 24 };
    static char body[N][160], title[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(title[i], sizeof title[i], "Crew %d exports", i);
        snprintf(body[i], sizeof body[i], "Export the timesheets of crew %d: w%da w%db w%dc "
                 "w%dd, then exported PDF %d files and notes n%dx.", i, i, i, i, i, i, i);
    }
    static const char *const ask[] = {"export crew timesheets to pdf", "w7a w7b notes",
                                      "exported files of crew 12", "pdf n30x w31c"};
    rerank_ctx *small, *fresh;
    assert_int_equal(rerank_ctx_new(&small, NULL), 0);
    rerank_ctx_set_cache_limit(small, 2000); /* about 30 of these chunks' terms */
    rerank_cand k[PER_QUERY];
    static double want[PER_QUERY * RERANK_NFEAT], got[PER_QUERY * RERANK_NFEAT];
    for (size_t q = 0; q < 12; q++) {
        const char *question = ask[q % 4];
        qset qs;
        qset_of(&qs, question, "en");
        for (size_t i = 0; i < PER_QUERY; i++) {
            size_t x = (q * 3 + i) % N;
            k[i] = (rerank_cand){.bm25 = 1.0 + (double)(x % 7), .bm25_rank = (int)i + 1,
                                 .fused = 1.0 / (1.0 + (double)i), .fused_rank = (int)i + 1,
                                 .title = title[x], .heading = title[x], .body = body[x],
                                 .ordinal = 0, .article = (int)x};
        }
        assert_int_equal(rerank_ctx_new(&fresh, NULL), 0);
        assert_int_equal(rerank_features(fresh, question, "en", qs.t, qs.n, k, PER_QUERY, want,
                                         NULL), 0);
        rerank_ctx_free(fresh);
        for (size_t i = 0; i < PER_QUERY; i++)
            k[i].key = (int64_t)((q * 3 + i) % N) + 1;
        assert_int_equal(rerank_features(small, question, "en", qs.t, qs.n, k, PER_QUERY, got,
                                         NULL), 0);
        same_features(want, got, PER_QUERY, "small cache", question);
    }
    rerank_ctx_free(small);
}

/* A key stands for its texts until the cache is reset: then changed text is seen. */
static void test_cache_reset(void **state)
{
    (void)state;
    rerank_ctx *c, *fresh;
    assert_int_equal(rerank_ctx_new(&c, NULL), 0);
    rerank_term terms[] = {{"invoic", 2.0}, {"refund", 1.0}};
    rerank_cand k = {.fused = 1, .fused_rank = 1, .title = "Billing", .heading = "Billing",
                     .body = "Invoices are emailed monthly.", .key = 42};
    double f[RERANK_NFEAT], want[RERANK_NFEAT];
    assert_int_equal(rerank_features(c, "invoice refund", "en", terms, 2, &k, 1, f, NULL), 0);
    NEAR(f[RF_COVER], 2.0 / 3.0);
    k.body = "Refunds follow invoices; a refund takes a week.";
    /* The same key: the cached analysis stands (the caller promised equal texts). */
    assert_int_equal(rerank_features(c, "invoice refund", "en", terms, 2, &k, 1, f, NULL), 0);
    NEAR(f[RF_COVER], 2.0 / 3.0);
    rerank_ctx_reset_cache(c);
    assert_int_equal(rerank_features(c, "invoice refund", "en", terms, 2, &k, 1, f, NULL), 0);
    assert_int_equal(rerank_ctx_new(&fresh, NULL), 0);
    k.key = 0;
    assert_int_equal(rerank_features(fresh, "invoice refund", "en", terms, 2, &k, 1, want,
                                     NULL), 0);
    NEAR(want[RF_COVER], 1.0);
    assert_memory_equal(f, want, sizeof f);
    rerank_ctx_free(fresh);
    rerank_ctx_free(c);
}

static void test_no_terms(void **state)
{
    (void)state;
    rerank_ctx *c;
    assert_int_equal(rerank_ctx_new(&c, NULL), 0);
    rerank_cand k = {.dense = 0.5, .dense_rank = 1, .fused = 1, .fused_rank = 1, .title = "t",
                     .heading = "t", .body = "b"};
    double f[RERANK_NFEAT];
    assert_int_equal(rerank_features(c, "the", "en", NULL, 0, &k, 1, f, NULL), 0);
    NEAR(f[RF_COVER], 0.0);
    NEAR(f[RF_DENSE], 0.5);
    rerank_ctx_free(c);
}

static void test_default_profile(void **state)
{
    (void)state;
    const rerank_profile *p = rerank_profile_default();
    assert_non_null(p);
    NEAR(p->threshold, 0.85);
    assert_int_equal(p->rerank_k, 40);
    /* The compiled-in JSON must parse by itself (not via the neutral fallback). */
    assert_null(strstr(p->fitted_on, "neutral fallback"));
    assert_true(strlen(p->fitted_on) > 0);
}

static rerank_profile sample_profile(void)
{
    rerank_profile p = *rerank_profile_default();
    for (int f = 0; f < RERANK_NFEAT; f++) {
        p.mean[f] = 0.1 * f;
        p.scale[f] = 1.0 + 0.01 * f;
        p.w[f] = 0.3 - 0.05 * f;
    }
    for (int f = 0; f < RERANK_NCONF; f++) {
        p.cmean[f] = 0.2 * f;
        p.cscale[f] = 0.5 + f;
        p.cw[f] = -0.1 * f + 0.25;
    }
    p.cb = -0.75;
    p.threshold = 0.9;
    p.rerank_k = 25;
    snprintf(p.fitted_on, sizeof p.fitted_on, "a unit test");
    return p;
}

/* cJSON prints 15 significant digits when they read back within its tolerance: equal to
 * about 1e-15 relative. */
static void same_numbers(const rerank_profile *p, const rerank_profile *q)
{
    for (int f = 0; f < RERANK_NFEAT; f++) {
        assert_true(fabs(p->w[f] - q->w[f]) < 1e-12);
        assert_true(fabs(p->mean[f] - q->mean[f]) < 1e-12);
        assert_true(fabs(p->scale[f] - q->scale[f]) < 1e-12);
    }
    for (int f = 0; f < RERANK_NCONF; f++) {
        assert_true(fabs(p->cw[f] - q->cw[f]) < 1e-12);
        assert_true(fabs(p->cmean[f] - q->cmean[f]) < 1e-12);
        assert_true(fabs(p->cscale[f] - q->cscale[f]) < 1e-12);
    }
    assert_true(fabs(p->cb - q->cb) < 1e-12);
}

static void test_profile_roundtrip(void **state)
{
    (void)state;
    rerank_profile p = sample_profile(), q;
    char *json = rerank_profile_to_json(&p, "{\"folds\":5}");
    assert_non_null(json);
    assert_non_null(strstr(json, "\"cv\""));
    assert_int_equal(rerank_profile_parse(json, strlen(json), "x", &q, NULL), 0);
    free(json);
    same_numbers(&p, &q);
    NEAR(q.threshold, 0.9);
    assert_int_equal(q.rerank_k, 25);
    assert_string_equal(q.fitted_on, "a unit test");
    char path[512];
    temp_path(path, sizeof path, "p.json");
    assert_int_equal(rerank_profile_save(&p, path, NULL, NULL), 0);
    assert_int_equal(rerank_profile_load(path, &q, NULL), 0);
    same_numbers(&p, &q);
    unlink(path);
}

static void expect_bad(const char *text, const char *want)
{
    char path[512];
    temp_path(path, sizeof path, "bad.json");
    write_file(path, text);
    rerank_profile q = sample_profile();
    lore_err err = {0};
    assert_int_equal(rerank_profile_load(path, &q, &err), LORE_EINVAL);
    if (strstr(err.msg, path) == NULL || strstr(err.msg, want) == NULL)
        fail_msg("error '%s' should name %s and say '%s'", err.msg, path, want);
    /* Falls back to the default profile. */
    assert_memory_equal(&q, rerank_profile_default(), sizeof q);
    unlink(path);
}

static void test_profile_errors(void **state)
{
    (void)state;
    expect_bad("{\"format\":\"lore-profile\",", "not valid JSON");
    expect_bad("[1,2]", "not a lore profile");
    expect_bad("{\"format\":\"lore-profile\",\"version\":7}", "unsupported profile version");
    const char *ok_head = "{\"format\":\"lore-profile\",\"version\":1,\"threshold\":0.85,"
                          "\"rerank_k\":40,\"confidence\":{\"bias\":0,\"features\":{}},";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s\"reranker\":{\"features\":{\"nope\":{\"mean\":0,\"scale\":1,"
                              "\"weight\":1}}}}", ok_head);
    expect_bad(buf, "unknown feature \"nope\"");
    snprintf(buf, sizeof buf, "%s\"reranker\":{\"features\":{\"fused\":{\"mean\":0,\"scale\":0,"
                              "\"weight\":1}}}}", ok_head);
    expect_bad(buf, "\"scale\" must be positive");
    snprintf(buf, sizeof buf, "%s\"reranker\":{\"features\":{\"fused\":{\"mean\":\"x\","
                              "\"scale\":1,\"weight\":1}}}}", ok_head);
    expect_bad(buf, "\"mean\" must be a finite number");
    expect_bad("{\"format\":\"lore-profile\",\"version\":1,\"threshold\":1.5,\"rerank_k\":40,"
               "\"reranker\":{\"features\":{}},\"confidence\":{\"bias\":0,\"features\":{}}}",
               "\"threshold\" must be within 0..1");
    /* Missing file: its own code, a clear message, and the default profile. */
    rerank_profile q = sample_profile();
    lore_err err = {0};
    assert_int_equal(rerank_profile_load("/nonexistent/lore/profile.json", &q, &err),
                     LORE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/lore/profile.json"));
    assert_memory_equal(&q, rerank_profile_default(), sizeof q);
}

/* Synthetic queries: candidate 0..n-1; the relevant one has high coverage and a title match
 * but a middling fused rank, so only a learned model puts it first. */
#define NQ 60
#define NC 12

typedef struct synth {
    double feat[NQ][NC * RERANK_NFEAT];
    int gain[NQ][NC], art[NQ][NC];
    rerank_fit_query q[NQ];
} synth;

static unsigned lcg(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffff;
}

static void make_synth(synth *s)
{
    unsigned seed = 7;
    for (int i = 0; i < NQ; i++) {
        int answerable = i % 4 != 0;
        int rel = (int)(lcg(&seed) % NC);
        for (int j = 0; j < NC; j++) {
            double *f = s->feat[i] + j * RERANK_NFEAT;
            memset(f, 0, RERANK_NFEAT * sizeof *f);
            double noise = (double)(lcg(&seed) % 1000) / 1000.0;
            f[RF_FUSED] = 1.0 - (double)j / NC;
            f[RF_FUSED_RR] = 1.0 / log2(2.0 + j);
            int good = answerable && j == rel;
            f[RF_COVER] = good ? 0.8 + 0.2 * noise : 0.5 * noise;
            f[RF_COVER_T] = good ? 1.0 : (noise > 0.8 ? 0.5 : 0.0);
            f[RF_DENSE] = good ? 0.7 : 0.3 + 0.2 * noise;
            s->gain[i][j] = good;
            s->art[i][j] = j / 2 * 2 == j ? j : j - 1; /* chunk pairs share an article */
            if (good)
                s->art[i][j] = -1 - j;
        }
        s->q[i] = (rerank_fit_query){s->feat[i], s->gain[i], s->art[i], NC, 3, answerable, NULL};
    }
}

static void test_fit_and_reload(void **state)
{
    (void)state;
    static synth s;
    make_synth(&s);
    rerank_fit_options o;
    rerank_fit_options_default(&o);
    rerank_profile p = *rerank_profile_default();
    lore_err err = {0};
    assert_int_equal(rerank_fit_ranker(s.q, NQ, &o, &p, &err), 0);
    assert_int_equal(rerank_fit_confidence(s.q, NQ, &o, &p, &err), 0);
    size_t order[NC], order2[NC];
    int first = 0, answerable = 0;
    double conf_yes = 0, conf_no = 0;
    int n_yes = 0, n_no = 0;
    for (int i = 0; i < NQ; i++) {
        double conf;
        int correct;
        assert_int_equal(rerank_fit_apply(&p, &s.q[i], order, &conf, &correct, &err), 0);
        if (s.q[i].answerable) {
            answerable++;
            first += s.gain[i][order[0]] > 0;
        }
        if (correct) {
            conf_yes += conf;
            n_yes++;
        } else {
            conf_no += conf;
            n_no++;
        }
    }
    assert_int_equal(first, answerable); /* the relevant candidate is always first */
    assert_true(n_yes > 0 && n_no > 0);
    assert_true(conf_yes / n_yes > 0.8);
    assert_true(conf_no / n_no < 0.2);
    /* Log loss: the mean confidence matches the share answered correctly. */
    assert_true(fabs((conf_yes + conf_no) / NQ - (double)n_yes / NQ) < 0.05);
    /* tune -> profile -> load -> the same ranking and confidences. */
    char path[512];
    temp_path(path, sizeof path, "fit.json");
    assert_int_equal(rerank_profile_save(&p, path, NULL, &err), 0);
    rerank_profile q;
    assert_int_equal(rerank_profile_load(path, &q, &err), 0);
    unlink(path);
    for (int i = 0; i < NQ; i++) {
        double c1, c2;
        int k1, k2;
        assert_int_equal(rerank_fit_apply(&p, &s.q[i], order, &c1, &k1, NULL), 0);
        assert_int_equal(rerank_fit_apply(&q, &s.q[i], order2, &c2, &k2, NULL), 0);
        assert_memory_equal(order, order2, sizeof order);
        assert_true(fabs(c1 - c2) < 1e-12);
    }
}

/* Relevance a line cannot rank: the relevant candidate's coverage lies in the middle of the
 * range, the others' at either end. Trees learn it; the profile file keeps them exactly. */
static void test_fit_trees(void **state)
{
    (void)state;
    static synth s;
    unsigned seed = 11;
    for (int i = 0; i < NQ; i++) {
        int rel = (int)(lcg(&seed) % NC);
        for (int j = 0; j < NC; j++) {
            double *f = s.feat[i] + j * RERANK_NFEAT;
            memset(f, 0, RERANK_NFEAT * sizeof *f);
            double u = (double)(lcg(&seed) % 1000) / 1000.0;
            f[RF_COVER] = j == rel ? 0.45 + 0.1 * u : (u < 0.5 ? 0.3 * u : 0.7 + 0.3 * u);
            f[RF_FUSED] = (double)(lcg(&seed) % 1000) / 1000.0;
            s.gain[i][j] = j == rel;
            s.art[i][j] = j;
        }
        s.q[i] = (rerank_fit_query){s.feat[i], s.gain[i], s.art[i], NC, 2, 1, NULL};
    }
    rerank_fit_options o;
    rerank_fit_options_default(&o);
    rerank_profile *lin = malloc(sizeof *lin), *tr = malloc(sizeof *tr), *back = malloc(sizeof *back);
    assert_non_null(lin);
    assert_non_null(tr);
    assert_non_null(back);
    *lin = *rerank_profile_default();
    assert_int_equal(rerank_fit_ranker(s.q, NQ, &o, lin, NULL), 0);
    *tr = *lin;
    assert_int_equal(rerank_fit_trees(s.q, NQ, &o, tr, NULL), 0);
    assert_int_equal(tr->ntrees, 100);
    size_t order[NC], order2[NC];
    int first_lin = 0, first_tr = 0;
    for (int i = 0; i < NQ; i++) {
        double c;
        int k;
        rerank_fit_apply(lin, &s.q[i], order, &c, &k, NULL);
        first_lin += s.gain[i][order[0]];
        rerank_fit_apply(tr, &s.q[i], order, &c, &k, NULL);
        first_tr += s.gain[i][order[0]];
    }
    assert_true(first_tr >= NQ * 9 / 10);
    assert_true(first_lin < NQ / 2);
    char path[512];
    temp_path(path, sizeof path, "trees.json");
    assert_int_equal(rerank_profile_save(tr, path, NULL, NULL), 0);
    assert_int_equal(rerank_profile_load(path, back, NULL), 0);
    unlink(path);
    assert_int_equal(back->ntrees, 100);
    for (int i = 0; i < NQ; i++) {
        double c1, c2;
        int k1, k2;
        rerank_fit_apply(tr, &s.q[i], order, &c1, &k1, NULL);
        rerank_fit_apply(back, &s.q[i], order2, &c2, &k2, NULL);
        assert_memory_equal(order, order2, sizeof order);
        assert_true(fabs(c1 - c2) < 1e-9);
    }
    free(lin);
    free(tr);
    free(back);
}

static void test_fit_errors(void **state)
{
    (void)state;
    double feat[2 * RERANK_NFEAT] = {0};
    int gain[2] = {0, 0}, art[2] = {0, 1};
    rerank_fit_query q = {feat, gain, art, 2, 1, 1, NULL};
    rerank_fit_options o;
    rerank_fit_options_default(&o);
    rerank_profile p = *rerank_profile_default();
    lore_err err = {0};
    assert_int_equal(rerank_fit_ranker(&q, 1, &o, &p, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "relevant"));
    assert_int_equal(rerank_fit_confidence(&q, 1, &o, &p, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "both outcomes"));
}

static void test_conf_features(void **state)
{
    (void)state;
    double scores[3] = {3.0, 2.5, 1.0};
    double feat[RERANK_NFEAT] = {0};
    feat[RF_COVER] = 0.75;
    int same[3] = {4, 4, 9}; /* the runner-up is another chunk of the top article */
    double cf[RERANK_NCONF];
    rerank_conf_features(scores, feat, same, 3, 2, cf);
    NEAR(cf[RC_TOP], 3.0);
    NEAR(cf[RC_MARGIN], 2.0);
    NEAR(cf[RC_COVER], 0.75);
    double z = 1 + exp(-0.5) + exp(-2.0);
    NEAR(cf[RC_SHARE], (1 + exp(-0.5)) / z);
    NEAR(cf[RC_QLEN], log(3.0));
    rerank_conf_features(scores, feat, same, 1, 2, cf);
    NEAR(cf[RC_MARGIN], 4.0); /* nothing else: the cap */
    NEAR(cf[RC_SHARE], 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features),        cmocka_unit_test(test_no_terms),
        cmocka_unit_test(test_fast_analysis_exact),
        cmocka_unit_test(test_cache_exact),     cmocka_unit_test(test_cache_starts_over),
        cmocka_unit_test(test_cache_reset),
        cmocka_unit_test(test_default_profile), cmocka_unit_test(test_profile_roundtrip),
        cmocka_unit_test(test_profile_errors),  cmocka_unit_test(test_fit_and_reload),
        cmocka_unit_test(test_fit_trees),       cmocka_unit_test(test_fit_errors),      cmocka_unit_test(test_conf_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
