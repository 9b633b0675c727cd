/* Unit tests for ingest: the incremental pipeline over small corpora written into a
 * temporary directory, with the "hash:64" embedder. First run: every article added, every
 * chunk embedded, FTS, vectors and the published FAISS file consistent; second run: all
 * unchanged, nothing embedded, the database not written and the generation not bumped;
 * editing one section: 1 changed, only that chunk embedded (the others reused), the old text
 * gone from FTS; new sections in front reuse the moved chunks' vectors; deleting a file: its
 * article deleted with its chunks and vectors; a file with problems (malformed JSON, invalid
 * UTF-8) keeps its old articles and is reported; a JSON export losing a record deletes it;
 * dry run reports the counts and writes nothing; duplicate ids across files: one warning,
 * the first kept; switching embedder (hash:64 -> hash:32) re-embeds everything and the index
 * dimension follows; small batches (several transactions) end in the same state; a missing
 * path is LORE_ENOTFOUND. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "ingest.h"
#include "search.h"

/* ---- fixtures ---- */

typedef struct fixture {
    char root[PATH_MAX / 4];
    char src[PATH_MAX / 2];  /* the articles */
    char data[PATH_MAX / 2]; /* the collection */
    char faiss[PATH_MAX];
    char *warnings; /* of the last run */
    size_t warnings_len;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tu_mkdtemp("ingest", f->root, sizeof f->root);
    snprintf(f->src, sizeof f->src, "%s/articles", f->root);
    snprintf(f->data, sizeof f->data, "%s/coll", f->root);
    snprintf(f->faiss, sizeof f->faiss, "%s/vectors.faiss", f->data);
    assert_int_equal(mkdir(f->src, 0755), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_rm_rf(f->root);
    free(f->warnings);
    free(f);
    return 0;
}

static void write_src(fixture *f, const char *rel, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", f->src, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0755); /* one level of subdirectory is enough here */
    *slash = '/';
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
}

static void remove_src(fixture *f, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", f->src, rel);
    assert_int_equal(remove(path), 0);
}

static coll *open_coll(fixture *f, int flags, const char *embedder, int sw)
{
    coll_open_options o = {flags, embedder, sw, NULL, 1};
    coll *c = NULL;
    lore_err err = {0};
    if (coll_open(f->data, &o, &c, &err) != 0)
        fail_msg("coll_open: %s", err.msg);
    return c;
}

/* Runs the pipeline over f->src (or `path`), with the given embedder when not NULL
 * (switching to it), returning the stats; warnings are kept in f->warnings. */
static ingest_stats run_with(fixture *f, const char *path, const char *embedder, int dry_run,
                             size_t batch)
{
    /* As lore index does: a dry run opens the collection read-only. */
    coll *c = open_coll(f, dry_run ? STORE_READONLY : STORE_CREATE,
                        embedder ? embedder : "hash:64", embedder != NULL);
    ingest_options o;
    ingest_options_default(&o);
    const char *paths[1] = {path ? path : f->src};
    o.paths = paths;
    o.npaths = 1;
    o.dry_run = dry_run;
    if (batch)
        o.batch = batch;
    free(f->warnings);
    f->warnings = NULL;
    FILE *w = open_memstream(&f->warnings, &f->warnings_len);
    assert_non_null(w);
    o.warnings = w;
    ingest_stats st;
    lore_err err = {0};
    int rc = ingest_run(c, &o, &st, &err);
    fclose(w);
    if (rc != 0)
        fail_msg("ingest_run: %d %s", rc, err.msg);
    coll_close(c);
    return st;
}

static ingest_stats run(fixture *f) { return run_with(f, NULL, NULL, 0, 0); }

static void expect_counts(const ingest_stats *st, size_t added, size_t changed, size_t unchanged,
                          size_t deleted)
{
    if (st->added != added || st->changed != changed || st->unchanged != unchanged ||
        st->deleted != deleted)
        fail_msg("added %zu changed %zu unchanged %zu deleted %zu; want %zu %zu %zu %zu",
                 st->added, st->changed, st->unchanged, st->deleted, added, changed, unchanged,
                 deleted);
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t fts_count(coll *c, const char *term)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH '\"%s\"'", term);
    return query_int(store_db(coll_store(c)), sql);
}

/* Everything agrees after a run: the FAISS file is current (loaded, not rebuilt), holds one
 * vector per chunk, and FTS5 passes its integrity check. Returns the store's stats. */
static store_stats check_consistent(fixture *f, int dim)
{
    coll *c = open_coll(f, STORE_READONLY, NULL, 0);
    store_stats st;
    lore_err err = {0};
    assert_int_equal(store_stats_get(coll_store(c), &st, &err), 0);
    assert_int_equal(coll_vindex_rebuilt(c), 0);
    assert_int_equal(st.vectors, st.chunks);
    if (st.chunks) {
        assert_non_null(coll_vindex(c));
        assert_int_equal(vindex_count(coll_vindex(c)), st.vectors);
        assert_int_equal(vindex_dim(coll_vindex(c)), dim);
        assert_int_equal(st.embed_dim, dim);
    }
    char *msg = NULL;
    if (sqlite3_exec(store_db(coll_store(c)),
                     "INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')", NULL, NULL,
                     &msg) != SQLITE_OK)
        fail_msg("fts integrity: %s", msg);
    /* Every vector in the index belongs to a live chunk: a search over all of them finds
     * only existing chunk ids. */
    if (st.chunks) {
        size_t k = (size_t)st.chunks;
        int64_t *ids = calloc(k, sizeof *ids);
        float *scores = calloc(k, sizeof *scores);
        float *q = calloc((size_t)dim, sizeof *q);
        q[0] = 1.0f;
        size_t n = 0;
        assert_int_equal(vindex_search(coll_vindex(c), q, k, ids, scores, &n, &err), 0);
        assert_int_equal(n, k);
        for (size_t i = 0; i < n; i++) {
            store_chunk_info info;
            if (store_chunk_get(coll_store(c), ids[i], &info, &err) != 0)
                fail_msg("index holds chunk %lld, which is gone", (long long)ids[i]);
            store_chunk_info_free(&info);
        }
        free(ids);
        free(scores);
        free(q);
    }
    coll_close(c);
    return st;
}

static uint64_t generation(fixture *f)
{
    coll *c = open_coll(f, STORE_READONLY, NULL, 0);
    uint64_t g;
    lore_err err = {0};
    assert_int_equal(store_generation(coll_store(c), &g, &err), 0);
    coll_close(c);
    return g;
}

static int article_exists(fixture *f, const char *ext_id, char **title)
{
    coll *c = open_coll(f, STORE_READONLY, NULL, 0);
    int64_t id;
    uint64_t fp;
    lore_err err = {0};
    int rc = store_article_find(coll_store(c), ext_id, &id, &fp, NULL, &err);
    if (rc == 0 && title) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT title FROM articles WHERE id = %lld", (long long)id);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(store_db(coll_store(c)), sql, -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        *title = strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    coll_close(c);
    return rc == 0;
}

/* The first BM25 hit's article for a question, or "" when none. */
static void first_hit(fixture *f, const char *q, char out[64])
{
    coll *c = open_coll(f, STORE_READONLY, NULL, 0);
    searcher *s;
    lore_err err = {0};
    assert_int_equal(searcher_new(c, &s, &err), 0);
    search_options o;
    search_options_default(&o);
    o.mode = SEARCH_BM25;
    search_results r;
    assert_int_equal(search_run(s, q, &o, &r, &err), 0);
    snprintf(out, 64, "%s", r.n ? r.hits[0].article_id : "");
    search_results_free(&r);
    searcher_free(s);
    coll_close(c);
}

/* Three articles, 3 + 2 + 1 sections (one chunk each), one in a subdirectory. */
#define A_MD                                                                                    \
    "---\nid: kb-a\ntitle: Refunds\n---\n\n"                                                    \
    "## Eligibility\n\nPurchases can be refunded within fourteen days of payment.\n\n"          \
    "## Requesting a refund\n\nOpen the billing page and press the refund button.\n\n"          \
    "## Timing\n\nMoney reaches the original card within five business days.\n"
#define B_MD                                                                                    \
    "---\nid: kb-b\ntitle: Passwords\n---\n\n"                                                  \
    "## Resetting\n\nUse the forgot password link on the sign-in page.\n\n"                     \
    "## Requirements\n\nPasswords need twelve characters including a digit.\n"
#define C_MD                                                                                    \
    "---\nid: kb-c\ntitle: Calendar sync\n---\n\n"                                              \
    "Connect Google Calendar from the integrations page; events sync every five minutes.\n"

static void write_corpus(fixture *f)
{
    write_src(f, "a.md", A_MD);
    write_src(f, "b.md", B_MD);
    write_src(f, "sub/c.md", C_MD);
}

static time_t mtime_ns(const char *path, long *ns)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    *ns = sb.st_mtim.tv_nsec;
    return sb.st_mtime;
}

/* ---- tests ---- */

static void test_ingest_first_and_unchanged(void **state)
{
    fixture *f = *state;
    write_corpus(f);
    ingest_stats st = run(f);
    expect_counts(&st, 3, 0, 0, 0);
    assert_int_equal(st.files, 3);
    assert_int_equal(st.articles, 3);
    assert_int_equal(st.chunks_embedded, 6);
    assert_int_equal(st.chunks_reused, 0);
    assert_int_equal(st.problems, 0);
    store_stats ss = check_consistent(f, 64);
    assert_int_equal(ss.articles, 3);
    assert_int_equal(ss.chunks, 6);
    uint64_t gen = generation(f);
    assert_true(gen >= 1);

    char top[64];
    first_hit(f, "how do I get a refund", top);
    assert_string_equal(top, "kb-a");
    first_hit(f, "forgot password", top);
    assert_string_equal(top, "kb-b");
    first_hit(f, "google calendar", top);
    assert_string_equal(top, "kb-c");

    /* Chunks carry their heading path. */
    coll *c = open_coll(f, STORE_READONLY, NULL, 0);
    assert_int_equal(query_int(store_db(coll_store(c)),
                               "SELECT count(*) FROM chunks WHERE heading = 'Refunds > Timing'"),
                     1);
    coll_close(c);

    /* Second run: nothing changes, nothing is written. */
    long ns0, ns1;
    time_t t0 = mtime_ns(f->faiss, &ns0);
    char db[PATH_MAX + 16];
    snprintf(db, sizeof db, "%s/lore.db", f->data);
    sqlite3 *watch;
    assert_int_equal(sqlite3_open(db, &watch), SQLITE_OK);
    int64_t dv = query_int(watch, "PRAGMA data_version");
    st = run(f);
    expect_counts(&st, 0, 0, 3, 0);
    assert_int_equal(st.chunks_embedded, 0);
    assert_int_equal(st.chunks_reused, 0);
    assert_int_equal(generation(f), gen);
    assert_int_equal(query_int(watch, "PRAGMA data_version"), dv);
    sqlite3_close(watch);
    time_t t1 = mtime_ns(f->faiss, &ns1);
    assert_true(t0 == t1 && ns0 == ns1);
    check_consistent(f, 64);
}

static void test_ingest_edit_one(void **state)
{
    fixture *f = *state;
    write_corpus(f);
    run(f);
    uint64_t gen = generation(f);
    /* Rewrite one section of kb-a; its two other sections are unchanged. */
    char *edited = strdup(A_MD);
    char *p = strstr(edited, "press the refund button");
    memcpy(p, "click the refund toggle", strlen("click the refund toggle"));
    write_src(f, "a.md", edited);
    free(edited);
    ingest_stats st = run(f);
    expect_counts(&st, 0, 1, 2, 0);
    assert_int_equal(st.chunks_embedded, 1);
    assert_int_equal(st.chunks_reused, 2);
    assert_true(generation(f) > gen);
    store_stats ss = check_consistent(f, 64);
    assert_int_equal(ss.chunks, 6);

    coll *c = open_coll(f, STORE_READONLY, NULL, 0);
    assert_int_equal(fts_count(c, "toggl"), 1);
    assert_int_equal(fts_count(c, "button"), 0); /* the old text left the index */
    assert_int_equal(fts_count(c, "fourteen"), 1);
    coll_close(c);

    /* A section added in front shifts the others: their vectors are reused by text. */
    write_src(f, "b.md",
              "---\nid: kb-b\ntitle: Passwords\n---\n\n"
              "## Overview\n\nAccounts are protected by a password and optional two-factor.\n\n"
              "## Resetting\n\nUse the forgot password link on the sign-in page.\n\n"
              "## Requirements\n\nPasswords need twelve characters including a digit.\n");
    st = run(f);
    expect_counts(&st, 0, 1, 2, 0);
    assert_int_equal(st.chunks_embedded, 1);
    assert_int_equal(st.chunks_reused, 2);
    ss = check_consistent(f, 64);
    assert_int_equal(ss.chunks, 7);

    /* Metadata alone (the title) changes the article; the new title changes every chunk's
     * heading path, so all of its chunks are embedded again. */
    write_src(f, "sub/c.md",
              "---\nid: kb-c\ntitle: Calendar integrations\n---\n\n"
              "Connect Google Calendar from the integrations page; events sync every five "
              "minutes.\n");
    st = run(f);
    expect_counts(&st, 0, 1, 2, 0);
    assert_int_equal(st.chunks_embedded, 1);
    check_consistent(f, 64);
}

static void test_ingest_delete_file(void **state)
{
    fixture *f = *state;
    write_corpus(f);
    run(f);
    remove_src(f, "b.md");
    ingest_stats st = run(f);
    expect_counts(&st, 0, 0, 2, 1);
    assert_false(article_exists(f, "kb-b", NULL));
    assert_true(article_exists(f, "kb-a", NULL));
    store_stats ss = check_consistent(f, 64);
    assert_int_equal(ss.articles, 2);
    assert_int_equal(ss.chunks, 4);
    coll *c = open_coll(f, STORE_READONLY, NULL, 0);
    assert_int_equal(fts_count(c, "password"), 0);
    coll_close(c);

    /* A whole subdirectory gone. */
    remove_src(f, "sub/c.md");
    st = run(f);
    expect_counts(&st, 0, 0, 1, 1);
    ss = check_consistent(f, 64);
    assert_int_equal(ss.articles, 1);

    /* Indexing another root does not delete what came from this one. */
    char other[PATH_MAX];
    snprintf(other, sizeof other, "%s/other", f->root);
    assert_int_equal(mkdir(other, 0755), 0);
    st = run_with(f, other, NULL, 0, 0);
    expect_counts(&st, 0, 0, 0, 0);
    assert_true(article_exists(f, "kb-a", NULL));
}

static void test_ingest_problem_file_keeps_articles(void **state)
{
    fixture *f = *state;
    write_corpus(f);
    write_src(f, "export.json",
              "{\"articles\": [\n"
              "  {\"id\": \"j1\", \"title\": \"Gift cards\", \"body\": \"Gift cards never expire.\"},\n"
              "  {\"id\": 2, \"title\": \"Coupons\", \"body\": \"Coupons apply at checkout.\"},\n"
              "  {\"id\": \"j3\", \"title\": \"Vouchers\", \"body\": \"Vouchers are single use.\"}\n"
              "]}\n");
    ingest_stats st = run(f);
    expect_counts(&st, 6, 0, 0, 0);
    assert_true(article_exists(f, "2", NULL)); /* numeric ids print as integers */

    /* Malformed JSON: reported with the file name, its articles stay. */
    write_src(f, "export.json", "{\"articles\": [ {\"id\": \"j1\", \"title\": \n");
    st = run(f);
    expect_counts(&st, 0, 0, 3, 0);
    assert_true(st.problems >= 1);
    assert_non_null(f->warnings);
    if (!strstr(f->warnings, "export.json"))
        fail_msg("warning does not name the file: %s", f->warnings);
    assert_true(article_exists(f, "j1", NULL));
    assert_true(article_exists(f, "j3", NULL));
    check_consistent(f, 64);

    /* Invalid UTF-8 in a Markdown file: same. */
    write_src(f, "b.md", "---\nid: kb-b\ntitle: Passwords\n---\n\nBad byte \xff here.\n");
    st = run(f);
    assert_true(st.problems >= 1);
    assert_int_equal(st.deleted, 0);
    assert_true(article_exists(f, "kb-b", NULL));
    assert_non_null(strstr(f->warnings, "b.md"));

    /* Fixed again: one record removed from the export is deleted. */
    write_src(f, "b.md", B_MD);
    write_src(f, "export.json",
              "[{\"id\": \"j1\", \"title\": \"Gift cards\", \"body\": \"Gift cards never expire.\"},"
              " {\"id\": \"j3\", \"title\": \"Vouchers\", \"body\": \"Vouchers are single use.\"}]\n");
    st = run(f);
    assert_int_equal(st.problems, 0);
    expect_counts(&st, 0, 0, 5, 1);
    assert_false(article_exists(f, "2", NULL));
    check_consistent(f, 64);

    /* An empty file is a problem too, not a deletion. */
    write_src(f, "export.json", "");
    st = run(f);
    assert_int_equal(st.deleted, 0);
    assert_true(article_exists(f, "j1", NULL));
}

static void test_ingest_dry_run(void **state)
{
    fixture *f = *state;
    write_corpus(f);
    run(f);
    uint64_t gen = generation(f);
    store_stats before = check_consistent(f, 64);
    long ns0, ns1;
    time_t t0 = mtime_ns(f->faiss, &ns0);

    write_src(f, "b.md", "---\nid: kb-b\ntitle: Passwords\n---\n\nAll new text about passkeys.\n");
    remove_src(f, "sub/c.md");
    write_src(f, "d.md", "---\nid: kb-d\ntitle: Invoices\n---\n\nInvoices arrive monthly.\n");
    char db[PATH_MAX + 16];
    snprintf(db, sizeof db, "%s/lore.db", f->data);
    sqlite3 *watch;
    assert_int_equal(sqlite3_open(db, &watch), SQLITE_OK);
    int64_t dv = query_int(watch, "PRAGMA data_version");

    ingest_stats st = run_with(f, NULL, NULL, 1, 0);
    expect_counts(&st, 1, 1, 1, 1);
    assert_int_equal(st.chunks_embedded, 0);
    assert_int_equal(query_int(watch, "PRAGMA data_version"), dv);
    sqlite3_close(watch);
    assert_int_equal(generation(f), gen);
    time_t t1 = mtime_ns(f->faiss, &ns1);
    assert_true(t0 == t1 && ns0 == ns1);
    store_stats after = check_consistent(f, 64);
    assert_memory_equal(&before, &after, sizeof before);
    assert_true(article_exists(f, "kb-c", NULL));
    assert_false(article_exists(f, "kb-d", NULL));
    char top[64];
    first_hit(f, "passkeys", top);
    assert_string_equal(top, "");

    /* The real run does what the dry run said. */
    st = run(f);
    expect_counts(&st, 1, 1, 1, 1);
    first_hit(f, "passkeys", top);
    assert_string_equal(top, "kb-b");
    check_consistent(f, 64);
}

static void test_ingest_duplicate_ids(void **state)
{
    fixture *f = *state;
    write_src(f, "a1.md", "---\nid: same\ntitle: First copy\n---\n\nThe first text.\n");
    write_src(f, "a2.md", "---\nid: same\ntitle: Second copy\n---\n\nThe second text.\n");
    ingest_stats st = run(f);
    expect_counts(&st, 1, 0, 0, 0);
    assert_int_equal(st.files, 2);
    assert_int_equal(st.articles, 1);
    assert_int_equal(st.problems, 1);
    if (!f->warnings || !strstr(f->warnings, "duplicate article id 'same'") ||
        !strstr(f->warnings, "a2.md"))
        fail_msg("warnings: %s", f->warnings ? f->warnings : "(none)");
    /* Exactly one warning line. */
    assert_null(strchr(strchr(f->warnings, '\n') + 1, '\n'));
    char *title = NULL;
    assert_true(article_exists(f, "same", &title));
    assert_string_equal(title, "First copy");
    free(title);
    /* The second run agrees: the first stays, unchanged, and is not deleted. */
    st = run(f);
    expect_counts(&st, 0, 0, 1, 0);
    assert_true(article_exists(f, "same", NULL));
    check_consistent(f, 64);
}

static void test_ingest_switch_embedder(void **state)
{
    fixture *f = *state;
    write_corpus(f);
    run(f);
    check_consistent(f, 64);
    /* Switch to hash:32 with small batches: every article is re-embedded. */
    ingest_stats st = run_with(f, NULL, "hash:32", 0, 1);
    expect_counts(&st, 0, 3, 0, 0);
    assert_int_equal(st.chunks_embedded, 6);
    assert_int_equal(st.chunks_reused, 0);
    store_stats ss = check_consistent(f, 32);
    assert_int_equal(ss.vectors, 6);
    coll *c = open_coll(f, STORE_READONLY, NULL, 0);
    assert_string_equal(embed_id(coll_embedder(c)), "hash:32");
    char *v = NULL;
    lore_err err = {0};
    assert_int_equal(store_meta_get(coll_store(c), "vectors_embedder", &v, &err), 0);
    assert_string_equal(v, "hash:32");
    free(v);
    assert_int_equal(query_int(store_db(coll_store(c)),
                               "SELECT count(*) FROM vectors WHERE length(vec) != 32 * 4"),
                     0);
    coll_close(c);
    /* Then a normal run: unchanged. */
    st = run_with(f, NULL, NULL, 0, 0);
    expect_counts(&st, 0, 0, 3, 0);
    /* And vector search works in the new dimension. */
    c = open_coll(f, STORE_READONLY, NULL, 0);
    searcher *s;
    assert_int_equal(searcher_new(c, &s, &err), 0);
    search_options o;
    search_options_default(&o);
    o.mode = SEARCH_VECTOR;
    search_results r;
    assert_int_equal(search_run(s, "forgot password sign-in page", &o, &r, &err), 0);
    assert_true(r.n > 0);
    assert_string_equal(r.hits[0].article_id, "kb-b");
    search_results_free(&r);
    searcher_free(s);
    coll_close(c);
}

static void test_ingest_small_batches(void **state)
{
    fixture *f = *state;
    write_corpus(f);
    write_src(f, "d.md", "---\nid: kb-d\ntitle: Invoices\n---\n\nInvoices arrive monthly.\n");
    write_src(f, "e.md", "---\nid: kb-e\ntitle: Exports\n---\n\nExport timesheets to CSV.\n");
    ingest_stats st = run_with(f, NULL, NULL, 0, 2);
    expect_counts(&st, 5, 0, 0, 0);
    assert_int_equal(st.chunks_embedded, 8);
    store_stats ss = check_consistent(f, 64);
    assert_int_equal(ss.articles, 5);
    assert_int_equal(ss.chunks, 8);
    /* Edits and deletions across batches. */
    remove_src(f, "a.md");
    write_src(f, "e.md", "---\nid: kb-e\ntitle: Exports\n---\n\nExport timesheets to Excel.\n");
    st = run_with(f, NULL, NULL, 0, 1);
    expect_counts(&st, 0, 1, 3, 1);
    ss = check_consistent(f, 64);
    assert_int_equal(ss.articles, 4);
    assert_int_equal(ss.chunks, 5);
}

static void test_ingest_missing_path(void **state)
{
    fixture *f = *state;
    coll *c = open_coll(f, STORE_CREATE, "hash:64", 0);
    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/nope", f->root);
    const char *paths[1] = {missing};
    ingest_options o;
    ingest_options_default(&o);
    o.paths = paths;
    o.npaths = 1;
    ingest_stats st;
    lore_err err = {0};
    assert_int_equal(ingest_run(c, &o, &st, &err), LORE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));
    coll_close(c);

    /* A single file as the path: indexed, then unchanged. */
    write_src(f, "one.md", "---\nid: one\ntitle: One\n---\n\nSingle file.\n");
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/one.md", f->src);
    st = run_with(f, file, NULL, 0, 0);
    expect_counts(&st, 1, 0, 0, 0);
    st = run_with(f, file, NULL, 0, 0);
    expect_counts(&st, 0, 0, 1, 0);
}

/* A second indexer of the same collection is turned away while the first holds the lock,
 * and gets in once it is released; a dry run, which writes nothing, never needs the lock. */
static void test_ingest_lock(void **state)
{
    fixture *f = *state;
    write_src(f, "a.md", "---\nid: a\ntitle: A\n---\n\nAlpha.\n");
    coll *c = open_coll(f, STORE_CREATE, "hash:64", 0);
    char lock[PATH_MAX + 16];
    snprintf(lock, sizeof lock, "%s/index.lock", f->data);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);

    const char *paths[1] = {f->src};
    ingest_options o;
    ingest_options_default(&o);
    o.paths = paths;
    o.npaths = 1;
    ingest_stats st;
    lore_err err = {0};
    assert_int_equal(ingest_run(c, &o, &st, &err), LORE_EBUSY);
    assert_non_null(strstr(err.msg, "another lore index run"));
    assert_int_equal(st.added, 0);

    o.dry_run = 1;
    assert_int_equal(ingest_run(c, &o, &st, &err), 0);
    assert_int_equal(st.added, 1);

    close(fd); /* releases the lock */
    o.dry_run = 0;
    assert_int_equal(ingest_run(c, &o, &st, &err), 0);
    assert_int_equal(st.added, 1);
    coll_close(c);
}

/* Articles without a locale take the collection's (meta "locale", set by lore index
 * --locale): the searcher analyses questions with it, so the index must stem with it too. */
static void test_ingest_collection_locale(void **state)
{
    fixture *f = *state;
    coll *c = open_coll(f, STORE_CREATE, "hash:64", 0);
    lore_err err = {0};
    assert_int_equal(store_meta_set(coll_store(c), "locale", "de", &err), 0);
    coll_close(c);
    write_src(f, "de.md", "---\nid: de-1\ntitle: Erstattungen\n---\n\n"
                          "Die Rückerstattungen werden innerhalb von zehn Tagen bearbeitet.\n");
    write_src(f, "en.md", "---\nid: en-1\ntitle: Refunds\nlocale: en\n---\n\n"
                          "Refunds are processed within ten days.\n");
    ingest_stats st = run(f);
    expect_counts(&st, 2, 0, 0, 0);
    char top[64];
    /* Another inflection of the same German word: found only if both sides stem German. */
    first_hit(f, "Rückerstattung", top);
    assert_string_equal(top, "de-1");
    check_consistent(f, 64);

    /* Editing and deleting the German article removes its rows exactly. */
    write_src(f, "de.md", "---\nid: de-1\ntitle: Erstattungen\n---\n\n"
                          "Die Rückerstattungen werden innerhalb von drei Tagen bearbeitet.\n");
    st = run(f);
    expect_counts(&st, 0, 1, 1, 0);
    check_consistent(f, 64);
    /* The article's own locale replaces the default: its old rows go under German. */
    write_src(f, "de.md", "---\nid: de-1\ntitle: Erstattungen\nlocale: en\n---\n\n"
                          "Refunded purchases arrive in three days.\n");
    st = run(f);
    expect_counts(&st, 0, 1, 1, 0);
    check_consistent(f, 64);
    /* (Questions are analysed in the collection's locale: "purchases" stems alike.) */
    first_hit(f, "purchases", top);
    assert_string_equal(top, "de-1");
    first_hit(f, "Rückerstattung", top);
    assert_string_equal(top, "");
    remove_src(f, "de.md");
    st = run(f);
    expect_counts(&st, 0, 0, 1, 1);
    check_consistent(f, 64);
    first_hit(f, "Rückerstattung", top);
    assert_string_equal(top, "");
}

/* A directory that cannot be listed (here: no file descriptors left) is not taken as empty:
 * the run fails instead of deleting the articles that came from it. */
static void test_ingest_unreadable_dir(void **state)
{
    fixture *f = *state;
    write_corpus(f);
    run(f);
    coll *c = open_coll(f, STORE_CREATE, "hash:64", 0);
    ingest_options o;
    ingest_options_default(&o);
    const char *paths[1] = {f->src};
    o.paths = paths;
    o.npaths = 1;
    ingest_stats st;
    lore_err err = {0};
    /* One descriptor above the lowest free one becomes the limit: the run's lock file takes
     * that one, and then listing the directory fails with EMFILE. */
    int fd = dup(0);
    assert_true(fd >= 0);
    close(fd);
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)fd + 1;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int rc = ingest_run(c, &o, &st, &err);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    coll_close(c);
    assert_int_not_equal(rc, 0);
    assert_int_equal(st.deleted, 0);
    assert_non_null(strstr(err.msg, f->src));
    assert_true(article_exists(f, "kb-a", NULL));
    assert_true(article_exists(f, "kb-c", NULL));
    check_consistent(f, 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ingest_first_and_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_edit_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_delete_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_problem_file_keeps_articles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_duplicate_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_switch_embedder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_small_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_missing_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_collection_locale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_unreadable_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
