/* Unit tests for search over real collections in a temporary directory, built through the
 * store with the "hash:64" embedder: BM25 ranks the right article first for several
 * questions; lore_bm25 scores equal a hand-computed Lucene BM25 (k1 0.9, b 0.4, Lucene idf,
 * tf and length over heading + body) and follow the row count when the collection grows; the
 * common-term budget keeps the rows of the rare term only, with the common term still adding
 * to their scores (identical to an unbudgeted run), and reports the bound; stop-word-only
 * questions give no BM25 results and no error; vector mode returns the nearest chunk;
 * hybrid convex with dense weight 0 keeps BM25's order and with weight 1 vector order; RRF
 * scores are sums of 1/(k + rank) for the given k; per-article collapse keeps each
 * article's best chunk; snippets highlight the matched word with ** in its original casing
 * (and fall back to the body's start for dense-only hits, or are empty when turned off);
 * CJK questions match CJK text; a chunk stored as several windows is found by a question
 * only its second window matches, once, with that window's cosine as its dense score (also
 * with one candidate); vector and hybrid modes are LORE_EUNSUP on an embedder
 * "none" collection while BM25 works; chunks deleted after the index was built are skipped;
 * mode names parse.
 * Reranking and confidence: reranked hits come in non-increasing rerank score, the default
 * profile puts the right article first; a profile's weights decide the order (a profile that
 * prefers low BM25 ranks reverses it); confidence lies in 0..1 and the decision follows the
 * threshold (0: answer with no reason, 1: refuse with low_confidence); a question nothing
 * matches in BM25 mode is refused with no_match and confidence 0; keep_candidates returns the
 * head with its features; the reranker's analysis cache follows a write that gives a chunk id
 * new text; a corrupt profile.json in the collection falls back to the default
 * profile with a warning naming the file, and a valid one is used.
 * A searcher kept while the collection is re-indexed (the changed chunk gets its id back)
 * returns the new text and snippet, not what its chunk cache held. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "search.h"

/* cmocka 1.1 compares floats only; scores need doubles. */
#define assert_double_equal(a, b, eps) assert_close((a), (b), (eps), #a, __FILE__, __LINE__)

static void assert_close(double a, double b, double eps, const char *what, const char *file,
                         int line)
{
    if (!(fabs(a - b) <= eps))
        fail_msg("%s:%d: %s = %.17g, want %.17g (within %g)", file, line, what, a, b, eps);
}

/* ---- fixtures ---- */

typedef struct fixture {
    char root[PATH_MAX / 2];
    char dir[PATH_MAX];
    coll *c;
    searcher *s;
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static coll *open_coll(const char *dir, int flags, const char *embedder)
{
    coll_open_options o = {flags, embedder, 0, NULL, 1};
    coll *c = NULL;
    lore_err err = {0};
    if (coll_open(dir, &o, &c, &err) != 0)
        fail_msg("coll_open %s: %s", dir, err.msg);
    return c;
}

static fixture *new_fixture(const char *embedder)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->root, sizeof f->root, "%s/lore-test-search-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof f->dir, "%s/coll", f->root);
    f->c = open_coll(f->dir, STORE_CREATE, embedder);
    return f;
}

static int teardown(void **state)
{
    fixture *f = *state;
    searcher_free(f->s);
    coll_close(f->c);
    rm_rf(f->root);
    free(f);
    return 0;
}

static void begin(fixture *f)
{
    lore_err err = {0};
    assert_int_equal(store_begin(coll_store(f->c), &err), 0);
}

/* Adds one chunk (a new article unless ext_id exists) with its hash vector of
 * "heading\n\nbody", as the indexer embeds it. Call between begin and commit. */
static int64_t add_chunk(fixture *f, const char *ext_id, int ordinal, const char *heading,
                         const char *body, const char *locale)
{
    store *s = coll_store(f->c);
    lore_err err = {0};
    int64_t aid;
    uint64_t fp;
    if (store_article_find(s, ext_id, &aid, &fp, NULL, &err) != 0) {
        store_article a = {ext_id, heading, NULL, locale, NULL, "/src/test.md", 1};
        assert_int_equal(store_article_put(s, &a, &aid, &err), 0);
    }
    assert_int_equal(store_set_locale(s, locale, &err), 0);
    float *v = NULL;
    int dim = embed_dim(coll_embedder(f->c));
    if (dim > 0) {
        char text[1024];
        snprintf(text, sizeof text, "%s\n\n%s", heading, body);
        const char *t = text;
        assert_int_equal(embed_texts_alloc(coll_embedder(f->c), &t, 1, &v, &err), 0);
    }
    static uint64_t next_fp = 1;
    int64_t cid;
    if (store_chunk_put(s, aid, ordinal, heading, body, next_fp++, v, dim, &cid, &err) != 0)
        fail_msg("chunk_put: %s", err.msg);
    free(v);
    return cid;
}

/* Commits with a generation bump, then reopens the collection (its vector index is rebuilt
 * from SQLite) and makes a searcher. */
static void commit_and_open(fixture *f)
{
    lore_err err = {0};
    store *s = coll_store(f->c);
    assert_int_equal(store_set_locale(s, NULL, &err), 0);
    assert_int_equal(store_bump_generation(s, NULL, &err), 0);
    assert_int_equal(store_commit(s, &err), 0);
    searcher_free(f->s);
    f->s = NULL;
    coll_close(f->c);
    f->c = open_coll(f->dir, STORE_READONLY, NULL);
    if (searcher_new(f->c, &f->s, &err) != 0)
        fail_msg("searcher_new: %s", err.msg);
}

/* The retrieval and fusion tests look at the fused order: no reranking. */
static search_options opts(search_mode mode)
{
    search_options o;
    search_options_default(&o);
    o.mode = mode;
    o.rerank_k = 0;
    return o;
}

static void run(fixture *f, const char *q, const search_options *o, search_results *r)
{
    lore_err err = {0};
    int rc = search_run(f->s, q, o, r, &err);
    if (rc != 0)
        fail_msg("search '%s': %d %s", q, rc, err.msg);
}

static int64_t CALENDAR_GOOGLE, CALENDAR_OUTLOOK, EXPORT_CHUNK;

/* A small help center: 8 articles, one chunk each except two for calendar sync. */
static int setup_help(void **state)
{
    fixture *f = new_fixture("hash:64");
    begin(f);
    add_chunk(f, "kb-refund", 0, "Refunds",
              "Refunds are issued to the original payment method within 14 days of the request.",
              "en");
    add_chunk(f, "kb-password", 0, "Reset your password",
              "Use the forgot password link on the sign-in page; the reset email arrives in "
              "minutes.",
              "en");
    add_chunk(f, "kb-invoice", 0, "Invoices",
              "Download invoices as PDF from the billing page. Invoices are emailed monthly.",
              "en");
    add_chunk(f, "kb-2fa", 0, "Two-factor authentication",
              "Turn on two-factor authentication with an authenticator app.", "en");
    EXPORT_CHUNK = add_chunk(f, "kb-export", 0, "Exporting timesheets",
                             "Export timesheets to CSV or Excel from the reports screen.", "en");
    CALENDAR_GOOGLE = add_chunk(f, "kb-calendar", 0, "Calendar sync > Google",
                                "Connect Google Calendar from integrations. Calendar events sync "
                                "every five minutes; calendar colours are kept.",
                                "en");
    CALENDAR_OUTLOOK = add_chunk(f, "kb-calendar", 1, "Calendar sync > Outlook",
                                 "Outlook needs an administrator to approve the connection first, "
                                 "then its calendar appears.",
                                 "en");
    add_chunk(f, "kb-cjk", 0, "退款政策", "我们的退款政策：购买后十四天内可以申请退款。", "zh");
    add_chunk(f, "kb-mobile", 0, "Mobile app",
              "The mobile app works offline and syncs your timesheets when back online.", "en");
    commit_and_open(f);
    *state = f;
    return 0;
}

static void expect_first(fixture *f, const char *q, search_mode mode, const char *want)
{
    search_options o = opts(mode);
    search_results r;
    run(f, q, &o, &r);
    if (r.n == 0)
        fail_msg("'%s' (%s): no results", q, search_mode_name(mode));
    if (strcmp(r.hits[0].article_id, want) != 0)
        fail_msg("'%s' (%s): first is %s, want %s", q, search_mode_name(mode),
                 r.hits[0].article_id, want);
    search_results_free(&r);
}

/* ---- BM25 ---- */

static void test_search_bm25_ranking(void **state)
{
    fixture *f = *state;
    expect_first(f, "how do I get a refund", SEARCH_BM25, "kb-refund");
    expect_first(f, "I forgot my password", SEARCH_BM25, "kb-password");
    expect_first(f, "download an invoice as pdf", SEARCH_BM25, "kb-invoice");
    expect_first(f, "export to excel", SEARCH_BM25, "kb-export");
    expect_first(f, "turn on 2-factor authentication", SEARCH_BM25, "kb-2fa");
    /* Inflections meet through the stemmer: "refunded" and "Refunds" -> "refund". */
    expect_first(f, "REFUNDED payments", SEARCH_BM25, "kb-refund");

    search_options o = opts(SEARCH_BM25);
    search_results r;
    run(f, "refund", &o, &r);
    assert_int_equal(r.n, 1); /* only matching rows come back */
    assert_int_equal(r.hits[0].bm25_rank, 1);
    assert_true(r.hits[0].bm25 > 0);
    assert_int_equal(r.hits[0].dense_rank, 0);
    assert_string_equal(r.hits[0].title, "Refunds");
    assert_string_equal(r.hits[0].heading, "Refunds");
    search_results_free(&r);

    /* Words the collection does not have: nothing, no error. */
    run(f, "xylophone quartz", &o, &r);
    assert_int_equal(r.n, 0);
    search_results_free(&r);

    /* candidates bounds what each retriever returns. */
    o.candidates = 2;
    run(f, "calendar sync timesheets app", &o, &r);
    assert_int_equal(r.n, 2);
    search_results_free(&r);
    o.candidates = 100;

    /* k bounds the results; ranks and scores descend. */
    o.k = 2;
    run(f, "calendar sync timesheets app", &o, &r);
    assert_int_equal(r.n, 2);
    assert_true(r.hits[0].fused >= r.hits[1].fused);
    assert_true(r.hits[0].bm25 >= r.hits[1].bm25);
    search_results_free(&r);
}

static void test_search_stopwords_only(void **state)
{
    fixture *f = *state;
    search_results r;
    search_options o = opts(SEARCH_BM25);
    run(f, "the and of is it to", &o, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.bm25_rows_scored_bound, 0);
    search_results_free(&r);
    run(f, "", &o, &r);
    assert_int_equal(r.n, 0);
    search_results_free(&r);
    run(f, "?!... ,;", &o, &r);
    assert_int_equal(r.n, 0);
    search_results_free(&r);
    /* Hybrid: the dense side still answers (hash vectors of stop words are zero, so every
     * score ties), but nothing fails. */
    o = opts(SEARCH_HYBRID);
    run(f, "the and of", &o, &r);
    for (size_t i = 0; i < r.n; i++)
        assert_int_equal(r.hits[i].bm25_rank, 0);
    search_results_free(&r);
}

/* Lucene BM25 of one term in one row. */
static double bm25_term(double n, double df, double tf, double dl, double avgdl)
{
    const double k1 = 0.9, b = 0.4;
    double idf = log(1.0 + (n - df + 0.5) / (df + 0.5));
    return idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * dl / avgdl));
}

static int setup_tiny(void **state)
{
    fixture *f = new_fixture("hash:64");
    begin(f);
    /* Tokens (heading + body): d1 zebra x3, lion x1 (4); d2 lion x2, tiger (3);
     * d3 tiger x2, eagl, falcon (5). "the" is a stop word and does not count. */
    add_chunk(f, "d1", 0, "Zebra", "zebra lion the zebra", "en");
    add_chunk(f, "d2", 0, "Lion", "lion tiger", "en");
    add_chunk(f, "d3", 0, "Tiger", "tiger tiger eagle falcon", "en");
    commit_and_open(f);
    *state = f;
    return 0;
}

static const search_hit *hit_for(const search_results *r, const char *article)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->hits[i].article_id, article) == 0)
            return &r->hits[i];
    }
    fail_msg("article %s not in the results", article);
    return NULL;
}

static void test_search_bm25_formula(void **state)
{
    fixture *f = *state;
    search_options o = opts(SEARCH_BM25);
    search_results r;
    run(f, "zebra lion", &o, &r);
    assert_int_equal(r.n, 2);
    double avgdl = 12.0 / 3.0;
    double d1 = bm25_term(3, 1, 3, 4, avgdl) + bm25_term(3, 2, 1, 4, avgdl);
    double d2 = bm25_term(3, 2, 2, 3, avgdl);
    assert_string_equal(r.hits[0].article_id, "d1");
    assert_string_equal(r.hits[1].article_id, "d2");
    assert_double_equal(r.hits[0].bm25, d1, 1e-9);
    assert_double_equal(r.hits[1].bm25, d2, 1e-9);
    /* BM25 mode: fused is the min-max normalised score. */
    assert_double_equal(r.hits[0].fused, 1.0, 1e-12);
    assert_double_equal(r.hits[1].fused, 0.0, 1e-12);
    search_results_free(&r);

    /* A repeated query term counts once per occurrence in the question. */
    run(f, "tiger tiger", &o, &r);
    assert_int_equal(r.n, 2);
    assert_double_equal(hit_for(&r, "d3")->bm25, 2 * bm25_term(3, 2, 3, 5, avgdl), 1e-9);
    assert_double_equal(hit_for(&r, "d2")->bm25, 2 * bm25_term(3, 2, 1, 3, avgdl), 1e-9);
    assert_string_equal(r.hits[0].article_id, "d3");
    search_results_free(&r);

    /* Other k1 and b are passed through. */
    o.k1 = 1.2;
    o.b = 0.75;
    run(f, "lion", &o, &r);
    double idf = log(1.0 + (3 - 2 + 0.5) / (2 + 0.5));
    double want2 = idf * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 3 / avgdl));
    assert_double_equal(hit_for(&r, "d2")->bm25, want2, 1e-9);
    search_results_free(&r);

    /* The collection grows: N, df and avgdl follow (the searcher's row count is cached
     * per generation). */
    lore_err err = {0};
    searcher_free(f->s);
    f->s = NULL;
    coll_close(f->c);
    f->c = open_coll(f->dir, STORE_CREATE, NULL);
    assert_int_equal(searcher_new(f->c, &f->s, &err), 0);
    o = opts(SEARCH_BM25);
    run(f, "zebra", &o, &r);
    assert_int_equal(r.n, 1);
    assert_double_equal(r.hits[0].bm25, bm25_term(3, 1, 3, 4, avgdl), 1e-9);
    search_results_free(&r);
    store *s = coll_store(f->c);
    begin(f);
    add_chunk(f, "d4", 0, "Eagle", "eagle falcon zebra", "en"); /* 4 tokens, zebra x1 */
    assert_int_equal(store_bump_generation(s, NULL, &err), 0);
    assert_int_equal(store_commit(s, &err), 0);
    /* The same searcher: its cached row count must follow the new generation. */
    run(f, "zebra", &o, &r);
    assert_int_equal(r.n, 2);
    avgdl = 16.0 / 4.0;
    assert_double_equal(hit_for(&r, "d1")->bm25, bm25_term(4, 2, 3, 4, avgdl), 1e-9);
    assert_double_equal(hit_for(&r, "d4")->bm25, bm25_term(4, 2, 1, 4, avgdl), 1e-9);
    search_results_free(&r);
}

#define NCOMMON 30

static int setup_budget(void **state)
{
    fixture *f = new_fixture("hash:64");
    begin(f);
    /* Every row has 4 tokens, so only the terms make a difference. */
    add_chunk(f, "rare-common", 0, "Alpha", "rare common filler", "en");
    add_chunk(f, "rare-only", 0, "Alpha", "rare other filler", "en");
    for (int i = 0; i < NCOMMON; i++) {
        char id[32];
        snprintf(id, sizeof id, "common-%02d", i);
        add_chunk(f, id, 0, "Gamma", "common filler padding", "en");
    }
    commit_and_open(f);
    *state = f;
    return 0;
}

static void test_search_budget(void **state)
{
    fixture *f = *state;
    search_options o = opts(SEARCH_BM25);
    o.k = 50;
    search_results full, cut;
    run(f, "rare common", &o, &full);
    assert_int_equal(full.n, NCOMMON + 2);
    assert_int_equal(full.bm25_rows_scored_bound, NCOMMON + 3); /* 2 + 31 postings */

    o.bm25_budget = 5;
    run(f, "rare common", &o, &cut);
    /* Only the rare term selects rows... */
    assert_int_equal(cut.n, 2);
    assert_int_equal(cut.bm25_rows_scored_bound, 2);
    /* ...and the common one still scores them: rare + common outranks rare alone. */
    assert_string_equal(cut.hits[0].article_id, "rare-common");
    assert_string_equal(cut.hits[1].article_id, "rare-only");
    assert_true(cut.hits[0].bm25 > cut.hits[1].bm25);
    /* The scores are exactly those of the unbudgeted query. */
    assert_double_equal(cut.hits[0].bm25, hit_for(&full, "rare-common")->bm25, 1e-12);
    assert_double_equal(cut.hits[1].bm25, hit_for(&full, "rare-only")->bm25, 1e-12);
    double n = NCOMMON + 2, avgdl = 4.0;
    double common = bm25_term(n, NCOMMON + 1, 1, 4, avgdl);
    assert_double_equal(cut.hits[0].bm25 - cut.hits[1].bm25, common, 1e-9);
    assert_double_equal(cut.hits[1].bm25, bm25_term(n, 2, 1, 4, avgdl), 1e-9);
    search_results_free(&full);
    search_results_free(&cut);

    /* A budget below the rarest term's rows still runs that term. */
    o.bm25_budget = 1;
    run(f, "common rare", &o, &cut);
    assert_int_equal(cut.n, 2);
    assert_string_equal(cut.hits[0].article_id, "rare-common");
    search_results_free(&cut);
    /* One common term alone over the budget: it selects, nothing is lost. */
    run(f, "common", &o, &cut);
    assert_int_equal(cut.n, NCOMMON + 1);
    search_results_free(&cut);
}

/* ---- vectors and fusion ---- */

static void test_search_vector(void **state)
{
    fixture *f = *state;
    search_options o = opts(SEARCH_VECTOR);
    search_results r;
    /* The exact text of a chunk as embedded: its own vector, cosine 1. */
    run(f, "Exporting timesheets\n\nExport timesheets to CSV or Excel from the reports screen.",
        &o, &r);
    assert_true(r.n >= 2);
    assert_string_equal(r.hits[0].article_id, "kb-export");
    assert_int_equal(r.hits[0].chunk_id, EXPORT_CHUNK);
    assert_int_equal(r.hits[0].dense_rank, 1);
    assert_int_equal(r.hits[0].bm25_rank, 0);
    assert_double_equal(r.hits[0].dense, 1.0, 1e-5);
    for (size_t i = 1; i < r.n; i++)
        assert_true(r.hits[i].dense <= r.hits[i - 1].dense + 1e-9);
    /* Dense-only hits get the body's start as their snippet. */
    assert_non_null(strstr(r.hits[0].snippet, "Export timesheets to CSV"));
    assert_null(strstr(r.hits[0].snippet, "**"));
    search_results_free(&r);
    expect_first(f, "reset password sign-in", SEARCH_VECTOR, "kb-password");
}

/* A vector embedded ahead (search_options.query_vec, what a server's batch gives): the same
 * results, scores and confidence as the search embedding the question itself; the results
 * carry that vector; and a different vector changes the dense side (it is the one used). */
static void test_search_given_vector(void **state)
{
    fixture *f = *state;
    static const char *const qs[] = {"how do I get a refund", "reset password sign-in",
                                     "calendar events sync"};
    embedder *e = coll_embedder(f->c);
    int dim = embed_dim(e);
    lore_err err = {0};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        search_options o;
        search_options_default(&o);
        search_results want, got;
        run(f, qs[i], &o, &want);
        float *v = NULL;
        assert_int_equal(embed_query(e, qs[i], &v, &err), 0);
        o.query_vec = v;
        run(f, qs[i], &o, &got);
        assert_int_equal(got.n, want.n);
        for (size_t h = 0; h < got.n; h++) {
            assert_int_equal(got.hits[h].chunk_id, want.hits[h].chunk_id);
            assert_true(got.hits[h].dense == want.hits[h].dense);
            assert_true(got.hits[h].rerank == want.hits[h].rerank);
            assert_int_equal(got.hits[h].dense_rank, want.hits[h].dense_rank);
        }
        assert_true(got.confidence == want.confidence);
        assert_int_equal(got.query_dim, dim);
        assert_memory_equal(got.query_vec, v, (size_t)dim * sizeof *v);
        search_results_free(&got);
        /* Another question's vector: the dense side follows it. */
        float *other = NULL;
        assert_int_equal(embed_query(e, "two-factor authenticator app", &other, &err), 0);
        o.query_vec = other;
        o.mode = SEARCH_VECTOR;
        o.rerank_k = 0; /* the dense order itself, not the reranker's view of the question */
        run(f, qs[i], &o, &got);
        assert_true(got.n > 0);
        assert_string_equal(got.hits[0].article_id, "kb-2fa");
        search_results_free(&got);
        search_results_free(&want);
        free(other);
        free(v);
    }
}

typedef struct id_seq {
    int64_t ids[64];
    size_t n;
} id_seq;

static id_seq ids_of(const search_results *r, int need_bm25, int need_dense)
{
    id_seq s = {{0}, 0};
    for (size_t i = 0; i < r->n && s.n < 64; i++) {
        if ((need_bm25 && !r->hits[i].bm25_rank) || (need_dense && !r->hits[i].dense_rank))
            continue;
        s.ids[s.n++] = r->hits[i].chunk_id;
    }
    return s;
}

static void test_search_convex_extremes(void **state)
{
    fixture *f = *state;
    const char *questions[] = {"calendar sync for outlook", "download invoices timesheets",
                               "reset password email"};
    for (size_t q = 0; q < 3; q++) {
        search_options o = opts(SEARCH_BM25);
        o.per_article = 0;
        o.k = 50;
        search_results bm, vec, h0, h1;
        run(f, questions[q], &o, &bm);
        o.mode = SEARCH_VECTOR;
        run(f, questions[q], &o, &vec);
        o.mode = SEARCH_HYBRID;
        o.dense_weight = 0.0;
        run(f, questions[q], &o, &h0);
        o.dense_weight = 1.0;
        run(f, questions[q], &o, &h1);
        assert_true(bm.n >= 2);
        assert_int_equal(vec.n, 9); /* every chunk has a vector */

        /* Weight 0: the lexical hits keep BM25's order, ahead of the dense-only ones (except
         * the lowest BM25 hit, normalised to 0 like them). */
        id_seq a = ids_of(&bm, 0, 0), b = ids_of(&h0, 1, 0);
        assert_int_equal(a.n, b.n);
        assert_memory_equal(a.ids, b.ids, a.n * sizeof a.ids[0]);
        for (size_t i = 0; i + 1 < bm.n; i++) {
            assert_int_equal(h0.hits[i].chunk_id, bm.hits[i].chunk_id);
            assert_double_equal(h0.hits[i].fused, bm.hits[i].fused, 1e-12);
        }
        /* Weight 1: exactly the vector order and scores. */
        a = ids_of(&vec, 0, 0);
        b = ids_of(&h1, 0, 1);
        assert_int_equal(a.n, b.n);
        assert_int_equal(h1.n, vec.n);
        assert_memory_equal(a.ids, b.ids, a.n * sizeof a.ids[0]);
        for (size_t i = 0; i < vec.n; i++)
            assert_double_equal(h1.hits[i].fused, vec.hits[i].fused, 1e-12);
        /* Hybrid hits carry both retrievers' raw scores. */
        for (size_t i = 0; i < h0.n; i++) {
            if (h0.hits[i].bm25_rank)
                assert_true(h0.hits[i].bm25 > 0);
        }
        search_results_free(&bm);
        search_results_free(&vec);
        search_results_free(&h0);
        search_results_free(&h1);
    }

    /* A middle weight is the convex combination of the normalised scores. */
    search_options o = opts(SEARCH_HYBRID);
    o.per_article = 0;
    o.k = 50;
    o.dense_weight = 0.3;
    search_results r;
    run(f, "calendar sync for outlook", &o, &r);
    double blo = INFINITY, bhi = -INFINITY, dlo = INFINITY, dhi = -INFINITY;
    for (size_t i = 0; i < r.n; i++) {
        const search_hit *h = &r.hits[i];
        if (h->bm25_rank) {
            blo = fmin(blo, h->bm25);
            bhi = fmax(bhi, h->bm25);
        }
        if (h->dense_rank) {
            dlo = fmin(dlo, h->dense);
            dhi = fmax(dhi, h->dense);
        }
    }
    for (size_t i = 0; i < r.n; i++) {
        const search_hit *h = &r.hits[i];
        double l = h->bm25_rank ? (h->bm25 - blo) / (bhi - blo) : 0.0;
        double d = h->dense_rank ? (h->dense - dlo) / (dhi - dlo) : 0.0;
        assert_double_equal(h->fused, 0.7 * l + 0.3 * d, 1e-9);
        if (i)
            assert_true(r.hits[i - 1].fused >= h->fused);
    }
    search_results_free(&r);
}

static void test_search_rrf(void **state)
{
    fixture *f = *state;
    double ks[] = {60.0, 10.0};
    for (size_t t = 0; t < 2; t++) {
        search_options o = opts(SEARCH_HYBRID);
        o.fusion = FUSION_RRF;
        o.rrf_k = ks[t];
        o.per_article = 0;
        o.k = 50;
        search_results r;
        run(f, "calendar sync timesheets", &o, &r);
        assert_int_equal(r.n, 9);
        int both = 0;
        for (size_t i = 0; i < r.n; i++) {
            const search_hit *h = &r.hits[i];
            double want = (h->bm25_rank ? 1.0 / (ks[t] + h->bm25_rank) : 0.0) +
                          (h->dense_rank ? 1.0 / (ks[t] + h->dense_rank) : 0.0);
            assert_double_equal(h->fused, want, 1e-12);
            both += h->bm25_rank && h->dense_rank;
            if (i)
                assert_true(r.hits[i - 1].fused >= h->fused);
        }
        assert_true(both >= 2);
        search_results_free(&r);
    }
}

static void test_search_per_article(void **state)
{
    fixture *f = *state;
    search_options o = opts(SEARCH_BM25);
    o.per_article = 0;
    search_results all, one;
    run(f, "calendar", &o, &all);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.hits[0].article_id, "kb-calendar");
    assert_string_equal(all.hits[1].article_id, "kb-calendar");
    /* The Google chunk says "calendar" four times: it is the better one. */
    assert_int_equal(all.hits[0].chunk_id, CALENDAR_GOOGLE);
    assert_int_equal(all.hits[1].chunk_id, CALENDAR_OUTLOOK);
    o.per_article = 1;
    run(f, "calendar", &o, &one);
    assert_int_equal(one.n, 1);
    assert_int_equal(one.hits[0].chunk_id, CALENDAR_GOOGLE);
    assert_string_equal(one.hits[0].heading, "Calendar sync > Google");
    search_results_free(&all);
    search_results_free(&one);

    /* Hybrid: still one hit per article, and k counts articles. */
    o = opts(SEARCH_HYBRID);
    o.k = 50;
    run(f, "calendar outlook sync", &o, &one);
    assert_int_equal(one.n, 8); /* 8 articles */
    for (size_t i = 0; i < one.n; i++) {
        for (size_t j = i + 1; j < one.n; j++)
            assert_string_not_equal(one.hits[i].article_id, one.hits[j].article_id);
    }
    search_results_free(&one);
}

/* ---- snippets, CJK ---- */

static void test_search_snippets(void **state)
{
    fixture *f = *state;
    search_options o = opts(SEARCH_BM25);
    search_results r;
    /* The question's casing and inflection differ; the snippet shows the text's own. */
    run(f, "REFUND", &o, &r);
    assert_int_equal(r.n, 1);
    if (!strstr(r.hits[0].snippet, "**Refunds**"))
        fail_msg("snippet without highlight: %s", r.hits[0].snippet);
    search_results_free(&r);

    run(f, "emailed invoice", &o, &r);
    assert_string_equal(r.hits[0].article_id, "kb-invoice");
    const char *sn = r.hits[0].snippet;
    if (!strstr(sn, "**invoices**") || !strstr(sn, "**Invoices**") || !strstr(sn, "**emailed**"))
        fail_msg("snippet: %s", sn);
    /* One line: no newlines or runs of spaces. */
    assert_null(strchr(sn, '\n'));
    assert_null(strstr(sn, "  "));
    search_results_free(&r);

    o.snippets = 0;
    run(f, "refund", &o, &r);
    assert_string_equal(r.hits[0].snippet, "");
    search_results_free(&r);
}

static void test_search_cjk(void **state)
{
    fixture *f = *state;
    search_options o = opts(SEARCH_BM25);
    search_results r;
    run(f, "退款政策", &o, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.hits[0].article_id, "kb-cjk");
    if (!strstr(r.hits[0].snippet, "**") || !strstr(r.hits[0].snippet, "退款"))
        fail_msg("cjk snippet: %s", r.hits[0].snippet);
    search_results_free(&r);
    /* Inside a longer question, and in hybrid mode. */
    expect_first(f, "如何申请退款?", SEARCH_BM25, "kb-cjk");
    expect_first(f, "退款", SEARCH_HYBRID, "kb-cjk");
}

/* ---- errors and edges ---- */

static int setup_none(void **state)
{
    fixture *f = new_fixture("none");
    begin(f);
    add_chunk(f, "kb-refund", 0, "Refunds", "Refunds take 14 days.", "en");
    commit_and_open(f);
    *state = f;
    return 0;
}

static void test_search_unsupported(void **state)
{
    fixture *f = *state;
    search_options o = opts(SEARCH_VECTOR);
    search_results r;
    lore_err err = {0};
    assert_int_equal(search_run(f->s, "refund", &o, &r, &err), LORE_EUNSUP);
    assert_int_equal(r.n, 0);
    assert_non_null(strstr(err.msg, "none"));
    o.mode = SEARCH_HYBRID;
    assert_int_equal(search_run(f->s, "refund", &o, &r, &err), LORE_EUNSUP);
    assert_non_null(strstr(err.msg, "hybrid"));
    o.mode = SEARCH_BM25;
    run(f, "refund", &o, &r);
    assert_int_equal(r.n, 1);
    search_results_free(&r);
    /* NULL options are the defaults: hybrid, so unsupported here too. */
    assert_int_equal(search_run(f->s, "refund", NULL, &r, &err), LORE_EUNSUP);
}

static void test_search_deleted_chunk(void **state)
{
    fixture *f = *state;
    /* Delete an article behind the loaded vector index's back (as a concurrent indexer
     * would before the reader reopens): its chunk is skipped, not an error. */
    searcher_free(f->s);
    f->s = NULL;
    coll_close(f->c);
    f->c = open_coll(f->dir, STORE_CREATE, NULL);
    lore_err err = {0};
    assert_int_equal(searcher_new(f->c, &f->s, &err), 0);
    store *s = coll_store(f->c);
    int64_t aid;
    uint64_t fp;
    assert_int_equal(store_article_find(s, "kb-export", &aid, &fp, NULL, &err), 0);
    int64_t *ids = NULL;
    size_t n = 0;
    begin(f);
    assert_int_equal(store_article_delete(s, aid, &ids, &n, &err), 0);
    assert_int_equal(store_commit(s, &err), 0);
    free(ids);
    assert_int_equal(vindex_count(coll_vindex(f->c)), 9);
    search_options o = opts(SEARCH_VECTOR);
    search_results r;
    run(f, "Exporting timesheets\n\nExport timesheets to CSV or Excel from the reports screen.",
        &o, &r);
    assert_int_equal(r.n, 7); /* 8 articles less the deleted one */
    for (size_t i = 0; i < r.n; i++)
        assert_string_not_equal(r.hits[i].article_id, "kb-export");
    search_results_free(&r);
}

static void test_search_rerank(void **state)
{
    fixture *f = *state;
    search_options o;
    search_options_default(&o);
    o.mode = SEARCH_BM25;
    search_results r;
    run(f, "export timesheets to excel", &o, &r);
    assert_true(r.n >= 2);
    assert_string_equal(r.hits[0].article_id, "kb-export");
    for (size_t i = 1; i < r.n; i++)
        assert_true(r.hits[i - 1].rerank >= r.hits[i].rerank);
    assert_true(r.confidence >= 0.0 && r.confidence <= 1.0);
    assert_double_equal(r.threshold, 0.85, 0);
    search_results_free(&r);

    /* A profile that prefers low BM25 ranks puts the BM25 first last. */
    rerank_profile p = *rerank_profile_default();
    memset(p.w, 0, sizeof p.w);
    p.w[RF_BM25_RR] = -1.0;
    o.profile = &p;
    o.per_article = 0;
    run(f, "calendar sync timesheets app", &o, &r);
    search_options plain = o;
    plain.rerank_k = 0;
    search_results b;
    run(f, "calendar sync timesheets app", &plain, &b);
    assert_true(r.n >= 3 && r.n == b.n);
    assert_int_equal(r.hits[0].chunk_id, b.hits[b.n - 1].chunk_id);
    assert_int_equal(r.hits[r.n - 1].chunk_id, b.hits[0].chunk_id);
    search_results_free(&r);
    search_results_free(&b);
}

/* ---- a searcher kept across a re-index ---- */

static void test_search_reindexed(void **state)
{
    fixture *f = *state;
    search_options o;
    search_options_default(&o);
    o.mode = SEARCH_BM25;
    search_results r;
    int64_t id = 0;
    /* Twice: the second time the chunks come from the searcher's cache. */
    for (int i = 0; i < 2; i++) {
        run(f, "mobile app offline", &o, &r);
        const search_hit *h = hit_for(&r, "kb-mobile");
        assert_non_null(h);
        id = h->chunk_id;
        if (!strstr(h->snippet, "**offline**") || !strstr(h->snippet, "timesheets"))
            fail_msg("snippet before: %s", h->snippet);
        search_results_free(&r);
    }

    /* No article says "tablets" yet: the searcher learns (and keeps) that its df is 0. */
    run(f, "tablets", &o, &r);
    assert_int_equal(r.n, 0);
    search_results_free(&r);

    /* Re-index the article through a connection of its own, as `lore index` would while a
     * server keeps its searcher. */
    store *w = NULL;
    lore_err err = {0};
    assert_int_equal(store_open(f->dir, STORE_CREATE, &w, &err), 0);
    int64_t aid, cid, *ids = NULL;
    uint64_t fp;
    size_t n = 0;
    assert_int_equal(store_article_find(w, "kb-mobile", &aid, &fp, NULL, &err), 0);
    assert_int_equal(store_begin(w, &err), 0);
    assert_int_equal(store_set_locale(w, "en", &err), 0);
    assert_int_equal(store_article_clear_chunks(w, aid, &ids, &n, &err), 0);
    free(ids);
    assert_int_equal(store_chunk_put(w, aid, 0, "Mobile app",
                                     "The mobile app now works offline on tablets too.", 4242,
                                     NULL, 0, &cid, &err),
                     0);
    assert_int_equal(store_bump_generation(w, NULL, &err), 0);
    assert_int_equal(store_commit(w, &err), 0);
    store_close(w);
    /* The row was the last one, so its id comes back: only the generation tells. */
    assert_int_equal(cid, id);

    run(f, "mobile app offline", &o, &r);
    const search_hit *h = hit_for(&r, "kb-mobile");
    assert_non_null(h);
    assert_int_equal(h->chunk_id, id);
    if (!strstr(h->snippet, "**offline** on tablets") || strstr(h->snippet, "timesheets"))
        fail_msg("snippet after the re-index: %s", h->snippet);
    search_results_free(&r);
    run(f, "tablets", &o, &r); /* the df learnt above belongs to the old generation */
    assert_int_equal(r.n, 1);
    assert_string_equal(r.hits[0].article_id, "kb-mobile");
    assert_non_null(strstr(r.hits[0].snippet, "**tablets**"));
    search_results_free(&r);
}

/* The reranker caches chunk analyses by chunk id; a write that gives an id new text (SQLite
 * reuses the largest rowid once it is deleted) moves the generation, and the same searcher
 * then computes the features a fresh one does. */
static void test_search_rerank_cache(void **state)
{
    fixture *f = *state;
    lore_err err = {0};
    searcher_free(f->s);
    f->s = NULL;
    coll_close(f->c);
    f->c = open_coll(f->dir, STORE_CREATE, NULL);
    assert_int_equal(searcher_new(f->c, &f->s, &err), 0);
    search_options o;
    search_options_default(&o);
    o.mode = SEARCH_BM25;
    o.per_article = 0;
    o.keep_candidates = 1;
    const char *q = "timesheets offline excel";
    search_results r, fresh;
    run(f, q, &o, &r); /* caches kb-mobile's chunk, the last one added */
    int64_t old_id = -1;
    for (size_t i = 0; i < r.ncands; i++)
        if (strcmp(r.cands[i].article_id, "kb-mobile") == 0)
            old_id = r.cands[i].chunk_id;
    search_results_free(&r);
    assert_true(old_id > 0);
    store *s = coll_store(f->c);
    int64_t aid, *ids = NULL;
    uint64_t fp;
    size_t n = 0;
    assert_int_equal(store_article_find(s, "kb-mobile", &aid, &fp, NULL, &err), 0);
    begin(f);
    assert_int_equal(store_article_delete(s, aid, &ids, &n, &err), 0);
    free(ids);
    int64_t new_id = add_chunk(f, "kb-offline", 0, "Offline exports",
                               "Excel exports of timesheets work offline.", "en");
    assert_int_equal(store_bump_generation(s, NULL, &err), 0);
    assert_int_equal(store_commit(s, &err), 0);
    assert_int_equal(new_id, old_id); /* the same id, other text */
    run(f, q, &o, &r);
    searcher *s2;
    assert_int_equal(searcher_new(f->c, &s2, &err), 0);
    assert_int_equal(search_run(s2, q, &o, &fresh, &err), 0);
    searcher_free(s2);
    assert_int_equal(r.ncands, fresh.ncands);
    for (size_t i = 0; i < r.ncands; i++) {
        assert_int_equal(r.cands[i].chunk_id, fresh.cands[i].chunk_id);
        assert_memory_equal(r.cands[i].feat, fresh.cands[i].feat, sizeof r.cands[i].feat);
    }
    search_results_free(&r);
    search_results_free(&fresh);
}

static void test_search_decision(void **state)
{
    fixture *f = *state;
    search_options o;
    search_options_default(&o);
    o.mode = SEARCH_BM25;
    search_results r;
    o.threshold = 0.0;
    run(f, "refund", &o, &r);
    assert_int_equal(r.decision, SEARCH_ANSWER);
    assert_null(r.reason);
    assert_string_equal(search_decision_name(r.decision), "answer");
    double conf = r.confidence;
    assert_true(conf > 0.0 && conf < 1.0);
    search_results_free(&r);
    o.threshold = 1.0;
    run(f, "refund", &o, &r);
    assert_int_equal(r.decision, SEARCH_REFUSE);
    assert_string_equal(r.reason, SEARCH_REASON_LOW_CONFIDENCE);
    assert_string_equal(r.reason, "low_confidence");
    assert_string_equal(search_decision_name(r.decision), "refuse");
    assert_double_equal(r.confidence, conf, 1e-12); /* the threshold only decides */
    search_results_free(&r);
    o.threshold = 0.0;
    run(f, "xylophone zeppelin", &o, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.decision, SEARCH_REFUSE);
    assert_string_equal(r.reason, "no_match");
    assert_double_equal(r.confidence, 0.0, 0);
    search_results_free(&r);

    /* keep_candidates: the head, best first, with features. */
    o.keep_candidates = 1;
    o.per_article = 0;
    run(f, "calendar sync", &o, &r);
    assert_true(r.ncands >= 2 && r.ncands == r.n); /* every chunk matching calendar or sync */
    assert_int_equal(r.cands[0].chunk_id, r.hits[0].chunk_id);
    assert_string_equal(r.cands[0].article_id, r.hits[0].article_id);
    assert_true(r.cands[0].feat[RF_COVER] > 0.0);
    assert_true(r.cands[0].rerank >= r.cands[1].rerank);
    search_results_free(&r);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

static void test_search_collection_profile(void **state)
{
    fixture *f = *state;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/profile.json", f->dir);
    assert_null(searcher_profile_warning(f->s));
    write_text(path, "{\"format\": \"lore-profile\", oops");
    searcher *s;
    lore_err err = {0};
    assert_int_equal(searcher_new(f->c, &s, &err), 0);
    const char *w = searcher_profile_warning(s);
    assert_non_null(w);
    assert_non_null(strstr(w, path));
    assert_non_null(strstr(w, "default profile"));
    search_options o;
    search_options_default(&o);
    o.mode = SEARCH_BM25;
    search_results r, d;
    assert_int_equal(search_run(s, "refund", &o, &r, &err), 0);
    run(f, "refund", &o, &d); /* f->s has no profile file: the default */
    assert_double_equal(r.confidence, d.confidence, 0);
    search_results_free(&r);
    searcher_free(s);

    /* A valid profile file is used: a confidence bias of +50 answers everything. */
    rerank_profile p = *rerank_profile_default();
    memset(p.cw, 0, sizeof p.cw);
    p.cb = 50.0;
    assert_int_equal(rerank_profile_save(&p, path, NULL, &err), 0);
    assert_int_equal(searcher_new(f->c, &s, &err), 0);
    assert_null(searcher_profile_warning(s));
    assert_int_equal(search_run(s, "refund", &o, &r, &err), 0);
    assert_double_equal(r.confidence, 1.0, 1e-12);
    assert_int_equal(r.decision, SEARCH_ANSWER);
    assert_true(d.confidence < 1.0);
    search_results_free(&r);
    search_results_free(&d);
    searcher_free(s);
    remove(path);
}

/* ---- windows: a chunk scored as its best window ---- */

static int64_t LONG_CHUNK;
static const char *const LONG_WINDOWS[] = {
    "Travel expenses\n\nPer diem rates for business trips depend on the destination country.",
    "Travel expenses\n\nMileage driven with a personal car is reimbursed per kilometre.",
    "Travel expenses\n\nHotel receipts are uploaded with the expense report."};

/* The help center's short chunks plus one long chunk stored as three windows (as the "use"
 * embedder cuts a long text), with the hash vectors of the windows' texts. */
static int setup_windows(void **state)
{
    fixture *f = new_fixture("hash:64");
    begin(f);
    add_chunk(f, "kb-refund", 0, "Refunds",
              "Refunds are issued to the original payment method within 14 days.", "en");
    add_chunk(f, "kb-mobile", 0, "Mobile app",
              "The mobile app works offline and syncs your timesheets when back online.", "en");
    add_chunk(f, "kb-invoice", 0, "Invoices", "Download invoices as PDF from the billing page.",
              "en");
    store *s = coll_store(f->c);
    lore_err err = {0};
    store_article a = {"kb-travel", "Travel expenses", NULL, "en", NULL, "/src/test.md", 7};
    int64_t aid;
    assert_int_equal(store_article_put(s, &a, &aid, &err), 0);
    float *v = NULL;
    assert_int_equal(embed_texts_alloc(coll_embedder(f->c), LONG_WINDOWS, 3, &v, &err), 0);
    assert_int_equal(store_chunk_put_windows(s, aid, 0, "Travel expenses",
                                             "Per diem rates... mileage... hotel receipts...",
                                             4242, v, 3, 64, &LONG_CHUNK, &err), 0);
    free(v);
    commit_and_open(f);
    *state = f;
    return 0;
}

static double dot64(const float *a, const float *b)
{
    double d = 0;
    for (int i = 0; i < 64; i++)
        d += (double)a[i] * (double)b[i];
    return d;
}

static void test_search_best_window(void **state)
{
    fixture *f = *state;
    const char *q = "mileage personal car kilometre reimbursed";
    lore_err err = {0};
    float *qv = NULL, *wv = NULL;
    assert_int_equal(embed_texts_alloc(coll_embedder(f->c), &q, 1, &qv, &err), 0);
    assert_int_equal(embed_texts_alloc(coll_embedder(f->c), LONG_WINDOWS, 3, &wv, &err), 0);
    double c0 = dot64(qv, wv), c1 = dot64(qv, wv + 64), c2 = dot64(qv, wv + 128);
    /* Only the second window is about mileage: the chunk's head would not find it. */
    assert_true(c1 > 0.3);
    assert_true(c1 > c0 + 0.2 && c1 > c2 + 0.2);

    search_options o = opts(SEARCH_VECTOR);
    search_results r;
    run(f, q, &o, &r);
    assert_true(r.n >= 1);
    assert_int_equal(r.hits[0].chunk_id, LONG_CHUNK);
    assert_string_equal(r.hits[0].article_id, "kb-travel");
    assert_int_equal(r.hits[0].dense_rank, 1);
    assert_double_equal(r.hits[0].dense, c1, 1e-5);
    /* One hit per chunk, never one per window; ranks follow the collapsed order. */
    for (size_t i = 0; i < r.n; i++) {
        assert_int_equal(r.hits[i].dense_rank, (int)i + 1);
        for (size_t j = 0; j < i; j++)
            assert_true(r.hits[i].chunk_id != r.hits[j].chunk_id);
    }
    assert_int_equal(r.n, 4);
    search_results_free(&r);

    /* With one candidate, the window hits are collapsed before the cut: still that chunk. */
    o.candidates = 1;
    run(f, q, &o, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.hits[0].chunk_id, LONG_CHUNK);
    assert_double_equal(r.hits[0].dense, c1, 1e-5);
    search_results_free(&r);

    /* The exact text of the third window: cosine 1, through the hybrid path too. */
    o = opts(SEARCH_HYBRID);
    run(f, LONG_WINDOWS[2], &o, &r);
    assert_true(r.n >= 1);
    assert_int_equal(r.hits[0].chunk_id, LONG_CHUNK);
    assert_double_equal(r.hits[0].dense, 1.0, 1e-5);
    search_results_free(&r);
    free(qv);
    free(wv);
}

static void test_search_modes(void **state)
{
    (void)state;
    search_mode m;
    lore_err err = {0};
    assert_int_equal(search_mode_parse("bm25", &m, &err), 0);
    assert_int_equal(m, SEARCH_BM25);
    assert_int_equal(search_mode_parse("vector", &m, &err), 0);
    assert_int_equal(m, SEARCH_VECTOR);
    assert_int_equal(search_mode_parse("hybrid", &m, &err), 0);
    assert_int_equal(m, SEARCH_HYBRID);
    assert_int_equal(search_mode_parse("dense", &m, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "dense"));
    assert_int_equal(search_mode_parse(NULL, &m, &err), LORE_EINVAL);
    assert_string_equal(search_mode_name(SEARCH_BM25), "bm25");
    assert_string_equal(search_mode_name(SEARCH_VECTOR), "vector");
    assert_string_equal(search_mode_name(SEARCH_HYBRID), "hybrid");
    search_options o;
    search_options_default(&o);
    assert_int_equal(o.mode, SEARCH_HYBRID);
    assert_int_equal(o.fusion, FUSION_CONVEX);
    assert_int_equal(o.k, 10);
    assert_double_equal(o.dense_weight, 0.3, 0);
    assert_double_equal(o.rrf_k, 60, 0);
    assert_double_equal(o.k1, 0.9, 0);
    assert_double_equal(o.b, 0.4, 0);
    assert_int_equal(o.per_article, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_search_bm25_ranking, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_stopwords_only, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_bm25_formula, setup_tiny, teardown),
        cmocka_unit_test_setup_teardown(test_search_budget, setup_budget, teardown),
        cmocka_unit_test_setup_teardown(test_search_vector, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_given_vector, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_convex_extremes, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_rrf, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_per_article, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_snippets, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_cjk, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_unsupported, setup_none, teardown),
        cmocka_unit_test_setup_teardown(test_search_deleted_chunk, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_rerank, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_rerank_cache, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_decision, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_reindexed, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_collection_profile, setup_help, teardown),
        cmocka_unit_test_setup_teardown(test_search_best_window, setup_windows, teardown),
        cmocka_unit_test(test_search_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
