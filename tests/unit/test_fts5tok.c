/* Unit tests for fts5tok on an in-memory SQLite database: the "lore" tokenizer indexes
 * analysed documents (stemming, fullwidth, diacritics, stop words, CJK bigrams) and takes
 * query terms verbatim (phrases, prefixes); snippet() and highlight() return the original
 * text; external-content tables pass FTS5's integrity check and delete cleanly; the
 * connection's locale switches the stemmer; tokenizer arguments are rejected; lore_bm25
 * ranks more occurrences and shorter rows higher, equals a hand-computed Lucene BM25
 * (k1 = 0.9, b = 0.4) within 1e-9, ignores phrases without an idf and rejects bad
 * arguments. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fts5tok.h"

/* ---- helpers ---- */

typedef struct fixture {
    sqlite3 *db;
    fts5tok_ctx *ctx;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(sqlite3_open(":memory:", &f->db), SQLITE_OK);
    lore_err err;
    err.msg[0] = '\0';
    if (fts5tok_register(f->db, &f->ctx, &err) != 0)
        fail_msg("register: %s", err.msg);
    assert_non_null(f->ctx);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    /* closing the connection frees the tokenizer context (checked by ASan builds) */
    assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
    free(f);
    return 0;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
    }
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql, const char *match)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (match != NULL)
        assert_int_equal(sqlite3_bind_text(st, 1, match, -1, SQLITE_TRANSIENT), SQLITE_OK);
    return st;
}

/* Rows of `table` matching `match`. */
static int count(sqlite3 *db, const char *table, const char *match)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s MATCH ?1", table, table);
    sqlite3_stmt *st = prep(db, sql, match);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* The first column of the first row as a string (static buffer). */
static const char *text1(sqlite3 *db, const char *sql, const char *match)
{
    static char buf[1024];
    sqlite3_stmt *st = prep(db, sql, match);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        fail_msg("%s: no row (%s)", sql, sqlite3_errmsg(db));
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(buf, sizeof buf, "%s", t ? (const char *)t : "(null)");
    sqlite3_finalize(st);
    return buf;
}

static void create_t(sqlite3 *db)
{
    exec(db, "CREATE VIRTUAL TABLE t USING fts5(title, body, tokenize='lore')");
}

/* ---- tokenizer ---- */

static void test_match_stemmed_terms(void **state)
{
    fixture *f = *state;
    create_t(f->db);
    exec(f->db, "INSERT INTO t(rowid, title, body) VALUES"
                "(1, 'Exports', 'Running the export takes minutes'),"
                "(2, 'Billing', 'Refunds are issued monthly')");
    assert_int_equal(count(f->db, "t", "\"run\""), 1);
    assert_int_equal(count(f->db, "t", "\"export\""), 1);
    assert_int_equal(count(f->db, "t", "\"refund\" \"monthli\""), 1);
    /* the stop word was not indexed, so the phrase is contiguous without it */
    assert_int_equal(count(f->db, "t", "\"refund issu\""), 1);
    assert_int_equal(count(f->db, "t", "\"the\""), 0);
    /* query text is taken verbatim: unanalysed words do not match */
    assert_int_equal(count(f->db, "t", "\"Running\""), 0);
    /* prefix queries pass through too */
    assert_int_equal(count(f->db, "t", "expo*"), 1);
    assert_int_equal(count(f->db, "t", "\"run\" OR \"refund\""), 2);
}

static void test_fullwidth_and_diacritics_match(void **state)
{
    fixture *f = *state;
    create_t(f->db);
    /* ＡＰＩ　ｋｅｙｓ / ﬁnd your Café settings */
    exec(f->db, "INSERT INTO t(title, body) VALUES ('\xEF\xBC\xA1\xEF\xBC\xB0\xEF\xBC\xA9"
                "\xE3\x80\x80\xEF\xBD\x8B\xEF\xBD\x85\xEF\xBD\x99\xEF\xBD\x93',"
                "'\xEF\xAC\x81nd your Caf\xC3\xA9 settings')");
    assert_int_equal(count(f->db, "t", "\"api\""), 1);
    assert_int_equal(count(f->db, "t", "\"kei\""), 1);
    assert_int_equal(count(f->db, "t", "\"find\""), 1);
    assert_int_equal(count(f->db, "t", "\"cafe\""), 1);
}

static void test_cjk_match(void **state)
{
    fixture *f = *state;
    create_t(f->db);
    /* 退款政策说明 */
    exec(f->db, "INSERT INTO t(title, body) VALUES ('FAQ',"
                "'\xE9\x80\x80\xE6\xAC\xBE\xE6\x94\xBF\xE7\xAD\x96\xE8\xAF\xB4\xE6\x98\x8E')");
    assert_int_equal(count(f->db, "t", "\"\xE6\x94\xBF\xE7\xAD\x96\""), 1); /* 政策 */
    /* the query builder's bigram phrase: 退款 款政 */
    assert_int_equal(count(f->db, "t", "\"\xE9\x80\x80\xE6\xAC\xBE \xE6\xAC\xBE\xE6\x94\xBF\""),
                     1);
    assert_int_equal(count(f->db, "t", "\"\xE7\xAD\x96\xE9\x80\x80\""), 0);
    /* For highlight() a bigram inside a run marks its first character: overlapping byte
     * ranges would make FTS5 copy text twice (see tok_on_aux_term). */
    const char *h = text1(f->db, "SELECT highlight(t, 1, '[', ']') FROM t WHERE t MATCH ?1",
                          "\"\xE6\x94\xBF\xE7\xAD\x96\"");
    assert_string_equal(h, "\xE9\x80\x80\xE6\xAC\xBE[\xE6\x94\xBF]\xE7\xAD\x96"
                           "\xE8\xAF\xB4\xE6\x98\x8E");
    /* Adjacent matches (退款 款政 政策) never repeat text; the run's last bigram is whole. */
    h = text1(f->db, "SELECT highlight(t, 1, '[', ']') FROM t WHERE t MATCH ?1",
              "\"\xE9\x80\x80\xE6\xAC\xBE\" OR \"\xE6\xAC\xBE\xE6\x94\xBF\" OR "
              "\"\xE8\xAF\xB4\xE6\x98\x8E\"");
    assert_string_equal(h, "[\xE9\x80\x80][\xE6\xAC\xBE]\xE6\x94\xBF\xE7\xAD\x96"
                           "[\xE8\xAF\xB4\xE6\x98\x8E]");
}

static void test_highlight_and_snippet(void **state)
{
    fixture *f = *state;
    create_t(f->db);
    exec(f->db, "INSERT INTO t(title, body) VALUES ('\xEF\xBC\xA5xports',"
                "'Running the Caf\xC3\xA9 export, then don''t stop: customers'' data stays.')");
    const char *h = text1(f->db, "SELECT highlight(t, 1, '[', ']') FROM t WHERE t MATCH ?1",
                          "\"run\" OR \"cafe\" OR \"dont\" OR \"custom\"");
    assert_string_equal(h, "[Running] the [Caf\xC3\xA9] export, then [don't] stop: "
                           "[customers]' data stays.");
    h = text1(f->db, "SELECT highlight(t, 0, '<', '>') FROM t WHERE t MATCH ?1", "\"export\"");
    assert_string_equal(h, "<\xEF\xBC\xA5xports>");
    h = text1(f->db, "SELECT snippet(t, 1, '[', ']', '...', 3) FROM t WHERE t MATCH ?1",
              "\"export\"");
    assert_non_null(strstr(h, "[export]"));
    assert_non_null(strstr(h, "..."));
}

static void test_external_content(void **state)
{
    fixture *f = *state;
    exec(f->db, "CREATE TABLE c(id INTEGER PRIMARY KEY, title TEXT, body TEXT);"
                "CREATE VIRTUAL TABLE tc USING fts5(title, body, content='c',"
                "  content_rowid='id', tokenize='lore');"
                "INSERT INTO c(id, title, body) VALUES"
                "  (7, 'Password reset', 'Resetting your password: open Settings'),"
                "  (9, 'Invoices', 'Download invoices from Billing');"
                "INSERT INTO tc(rowid, title, body) SELECT id, title, body FROM c;");
    assert_int_equal(count(f->db, "tc", "\"reset\""), 1);
    assert_int_equal(count(f->db, "tc", "\"invoic\""), 1);
    const char *h = text1(f->db, "SELECT highlight(tc, 1, '[', ']') FROM tc WHERE tc MATCH ?1",
                          "\"reset\"");
    assert_string_equal(h, "[Resetting] your password: open Settings");
    assert_string_equal(text1(f->db, "SELECT rowid FROM tc WHERE tc MATCH ?1", "\"download\""),
                        "9");
    /* the index re-derived from the content table equals the one built */
    exec(f->db, "INSERT INTO tc(tc) VALUES ('integrity-check')");
    /* deleting re-tokenizes the old text; the terms must disappear */
    exec(f->db, "INSERT INTO tc(tc, rowid, title, body) SELECT 'delete', id, title, body "
                "FROM c WHERE id = 7; DELETE FROM c WHERE id = 7;");
    assert_int_equal(count(f->db, "tc", "\"reset\""), 0);
    assert_int_equal(count(f->db, "tc", "\"invoic\""), 1);
    exec(f->db, "INSERT INTO tc(tc) VALUES ('integrity-check')");
}

static void test_locale_switch(void **state)
{
    fixture *f = *state;
    create_t(f->db);
    assert_int_equal(fts5tok_set_locale(f->ctx, "de"), 0);
    exec(f->db, "INSERT INTO t(rowid, title, body) VALUES (1, 'Rechnungen', 'Die H\xC3\xA4user')");
    assert_int_equal(fts5tok_set_locale(f->ctx, "en"), 0);
    exec(f->db, "INSERT INTO t(rowid, title, body) VALUES (2, 'Invoices', 'The houses')");
    assert_int_equal(count(f->db, "t", "\"haus\""), 1);
    assert_int_equal(count(f->db, "t", "\"rechnung\""), 1);
    assert_int_equal(count(f->db, "t", "\"hous\""), 1);
}

static void test_tokenizer_args_rejected(void **state)
{
    fixture *f = *state;
    char *msg = NULL;
    int rc = sqlite3_exec(f->db, "CREATE VIRTUAL TABLE bad USING fts5(x, tokenize='lore de')",
                          NULL, NULL, &msg);
    assert_int_not_equal(rc, SQLITE_OK);
    sqlite3_free(msg);
}

/* ---- lore_bm25 ---- */

static void test_bm25_ranking(void **state)
{
    fixture *f = *state;
    create_t(f->db);
    exec(f->db, "INSERT INTO t(rowid, title, body) VALUES"
                "(1, 'Refunds', 'refund policy'),"
                "(2, 'Plans', 'refund policy for annual plans and monthly plans with exceptions'),"
                "(3, 'Refund refund', 'refund policy for annual plans and monthly plans too'),"
                "(4, 'Shipping', 'shipping times')");
    sqlite3_stmt *st = prep(f->db,
                            "SELECT rowid, lore_bm25(t, 0.9, 0.4, 1.5) AS s FROM t "
                            "WHERE t MATCH ?1 ORDER BY s DESC",
                            "\"refund\"");
    int64_t order[4];
    double score[4];
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW && n < 4) {
        order[n] = sqlite3_column_int64(st, 0);
        score[n] = sqlite3_column_double(st, 1);
        n++;
    }
    sqlite3_finalize(st);
    assert_int_equal(n, 3);
    /* short row first; of the two long rows, the one with three occurrences wins */
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 3);
    assert_int_equal(order[2], 2);
    assert_true(score[0] > score[1] && score[1] > score[2] && score[2] > 0);
}

/* Rows (title | body), every word its own stem, no stop words:
 *   1: cat  | dog cat             dl 3   tf(cat) 2  tf(dog) 1
 *   2: bird | fish fish dog bird  dl 5              tf(dog) 1
 *   3: cat  | fish                dl 2   tf(cat) 1
 *   4: owl  | owl dog             dl 3              tf(dog) 1
 * N = 4, avgdl = 13 / 4 = 3.25, df(cat) = 2, df(dog) = 3, so with Lucene's idf
 *   idf(cat) = ln(1 + 2.5 / 2.5) = ln 2,  idf(dog) = ln(1 + 1.5 / 3.5) = ln(10 / 7).
 * k1 = 0.9, b = 0.4: norm(dl) = 0.9 * (0.6 + 0.4 * dl / 3.25).
 *   row 1: ln2 * 2 * 1.9 / (2 + norm(3)) + ln(10/7) * 1.9 / (1 + norm(3))
 *   row 2: ln(10/7) * 1.9 / (1 + norm(5))
 *   row 3: ln2 * 1.9 / (1 + norm(2))
 *   row 4: ln(10/7) * 1.9 / (1 + norm(3))  */
static void test_bm25_exact(void **state)
{
    fixture *f = *state;
    create_t(f->db);
    exec(f->db, "INSERT INTO t(rowid, title, body) VALUES"
                "(1, 'cat', 'dog cat'), (2, 'bird', 'fish fish dog bird'),"
                "(3, 'cat', 'fish'), (4, 'owl', 'owl dog')");
    const double idf_cat = log(2.0), idf_dog = log(10.0 / 7.0);
    const double norm3 = 0.9 * (0.6 + 0.4 * 3.0 / 3.25);
    const double norm5 = 0.9 * (0.6 + 0.4 * 5.0 / 3.25);
    const double norm2 = 0.9 * (0.6 + 0.4 * 2.0 / 3.25);
    const double want[5] = {
        0.0,
        idf_cat * 2 * 1.9 / (2 + norm3) + idf_dog * 1.9 / (1 + norm3),
        idf_dog * 1.9 / (1 + norm5),
        idf_cat * 1.9 / (1 + norm2),
        idf_dog * 1.9 / (1 + norm3),
    };
    /* the same numbers worked out separately (to 17 digits) */
    assert_true(fabs(want[1] - 1.2789688315298502) < 1e-12);
    assert_true(fabs(want[3] - 0.747630365058107) < 1e-12);

    sqlite3_stmt *st = prep(f->db, "SELECT rowid, lore_bm25(t, 0.9, 0.4, ?2, ?3) FROM t "
                                   "WHERE t MATCH ?1 ORDER BY rowid",
                            "\"cat\" OR \"dog\"");
    assert_int_equal(sqlite3_bind_double(st, 2, idf_cat), SQLITE_OK);
    assert_int_equal(sqlite3_bind_double(st, 3, idf_dog), SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        assert_true(id >= 1 && id <= 4);
        double got = sqlite3_column_double(st, 1);
        if (fabs(got - want[id]) > 1e-9)
            fail_msg("row %lld: got %.17g want %.17g", (long long)id, got, want[id]);
        rows++;
    }
    sqlite3_finalize(st);
    assert_int_equal(rows, 4);

    /* Lengths from a table (fts5tok_set_doclens): the true ones give the same scores; a
     * wrong one is used as given (row 3 at length 20); -1 and rows past the table fall back
     * to FTS5's (rows 1 and 4). */
    const int32_t doclen[4] = {-1, -1, 5, 20};
    fts5tok_set_doclens(f->ctx, doclen, 4);
    const double norm20 = 0.9 * (0.6 + 0.4 * 20.0 / 3.25);
    const double want_tab[5] = {0.0, want[1], want[2], idf_cat * 1.9 / (1 + norm20), want[4]};
    st = prep(f->db, "SELECT rowid, lore_bm25(t, 0.9, 0.4, ?2, ?3) FROM t "
                     "WHERE t MATCH ?1 ORDER BY rowid",
              "\"cat\" OR \"dog\"");
    assert_int_equal(sqlite3_bind_double(st, 2, idf_cat), SQLITE_OK);
    assert_int_equal(sqlite3_bind_double(st, 3, idf_dog), SQLITE_OK);
    rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        double got = sqlite3_column_double(st, 1);
        if (fabs(got - want_tab[id]) > 1e-9)
            fail_msg("with a length table, row %lld: got %.17g want %.17g", (long long)id, got,
                     want_tab[id]);
        rows++;
    }
    sqlite3_finalize(st);
    assert_int_equal(rows, 4);
    fts5tok_set_doclens(f->ctx, NULL, 0);

    /* a phrase without an idf scores 0: row 2 matches only "dog" */
    st = prep(f->db, "SELECT lore_bm25(t, 0.9, 0.4, 0.693) FROM t WHERE t MATCH ?1 AND rowid = 2",
              "\"cat\" OR \"dog\"");
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(sqlite3_column_double(st, 0) == 0.0);
    sqlite3_finalize(st);
}

static void test_bm25_bad_args(void **state)
{
    fixture *f = *state;
    create_t(f->db);
    exec(f->db, "INSERT INTO t(title, body) VALUES ('cat', 'dog')");
    static const char *const bad[] = {
        "SELECT lore_bm25(t) FROM t WHERE t MATCH '\"cat\"'",
        "SELECT lore_bm25(t, 0.9) FROM t WHERE t MATCH '\"cat\"'",
        "SELECT lore_bm25(t, 'x', 0.4, 1.0) FROM t WHERE t MATCH '\"cat\"'",
        "SELECT lore_bm25(t, 0.9, 0.4, NULL) FROM t WHERE t MATCH '\"cat\"'",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sqlite3_stmt *st = prep(f->db, bad[i], NULL);
        assert_int_equal(sqlite3_step(st), SQLITE_ERROR);
        assert_non_null(strstr(sqlite3_errmsg(f->db), "lore_bm25"));
        sqlite3_finalize(st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_match_stemmed_terms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fullwidth_and_diacritics_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cjk_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_highlight_and_snippet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_external_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locale_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokenizer_args_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bm25_ranking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bm25_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bm25_bad_args, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
