/* Unit tests for store on real SQLite files in a temporary directory: the schema is created
 * at version 1 in WAL mode (parent directories included) and recorded in PRAGMA user_version
 * and meta; reopening does not re-migrate and keeps the data; a newer user_version is refused
 * with a clear error; a read-only open refuses an old schema and a missing collection
 * (LORE_ENOTFOUND, nothing created); a file that is not a database is LORE_EDB naming it; meta get/set/overwrite; articles put/find/update (the row
 * id is stable, 64-bit fingerprints round-trip); chunks are indexed by FTS5 (MATCH finds them)
 * and deleting an article or clearing its chunks removes FTS rows and vectors, reports the
 * ids of the chunks that had vectors, and passes FTS5's integrity-check (also for another
 * locale and with more ids than the first allocation holds); vectors by fingerprint; vectors
 * each and clear; multi-window vectors (test_store_windows); articles by source prefix (no LIKE wildcards); generation bumps, commit and
 * rollback; stats; a second connection reads the last committed state while a writer holds
 * its transaction. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "store.h"

/* ---- fixtures ---- */

typedef struct fixture {
    char root[PATH_MAX / 2]; /* the temporary directory */
    char dir[PATH_MAX];      /* the collection directory inside it (not created yet) */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tu_mkdtemp("store", f->root, sizeof f->root);
    snprintf(f->dir, sizeof f->dir, "%s/data/coll", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_rm_rf(f->root);
    free(f);
    return 0;
}

static store *open_ok(const char *dir, int flags)
{
    store *s = NULL;
    lore_err err = {0};
    int rc = store_open(dir, flags, &s, &err);
    if (rc != 0)
        fail_msg("store_open %s: %d %s", dir, rc, err.msg);
    assert_non_null(s);
    return s;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg ? msg : "?");
    }
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        fail_msg("%s: no row (%s)", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *query_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *t = (const char *)sqlite3_column_text(st, 0);
    char *v = strdup(t ? t : "");
    sqlite3_finalize(st);
    return v;
}

/* Rows of chunks_fts matching an FTS5 expression (terms already analysed, quoted). */
static int64_t fts_count(store *s, const char *match)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH '%s'",
             match);
    return query_int(store_db(s), sql);
}

static void fts_integrity_ok(store *s)
{
    exec_ok(store_db(s), "INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')");
}

static int64_t put_article(store *s, const char *ext_id, const char *title, const char *source,
                           const char *locale, uint64_t fp)
{
    store_article a = {ext_id, title, "https://example.test/a", locale, "2025-01-01", source, fp};
    int64_t id = 0;
    lore_err err = {0};
    if (store_article_put(s, &a, &id, &err) != 0)
        fail_msg("article_put %s: %s", ext_id, err.msg);
    assert_true(id > 0);
    return id;
}

static int64_t put_chunk(store *s, int64_t aid, int ord, const char *heading, const char *body,
                         uint64_t fp, const float *vec, int dim)
{
    int64_t cid = 0;
    lore_err err = {0};
    if (store_chunk_put(s, aid, ord, heading, body, fp, vec, dim, &cid, &err) != 0)
        fail_msg("chunk_put: %s", err.msg);
    assert_true(cid > 0);
    return cid;
}

static void begin(store *s)
{
    lore_err err = {0};
    if (store_begin(s, &err) != 0)
        fail_msg("begin: %s", err.msg);
}

static void commit(store *s)
{
    lore_err err = {0};
    if (store_commit(s, &err) != 0)
        fail_msg("commit: %s", err.msg);
}

static uint64_t generation(store *s)
{
    uint64_t g = 12345;
    lore_err err = {0};
    if (store_generation(s, &g, &err) != 0)
        fail_msg("generation: %s", err.msg);
    return g;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ---- schema and migrations ---- */

static void test_store_create_schema(void **state)
{
    fixture *f = *state;
    /* The collection directory and its parent do not exist: STORE_CREATE makes both. */
    assert_false(file_exists(f->dir));
    store *s = open_ok(f->dir, STORE_CREATE);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lore.db", f->dir);
    assert_true(file_exists(path));
    assert_string_equal(store_dir(s), f->dir);

    sqlite3 *db = store_db(s);
    assert_int_equal(query_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    char *mode = query_text(db, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    free(mode);
    assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
    const char *objects[] = {"meta", "articles", "chunks", "vectors", "chunks_fts", "chunks_vocab",
                             "chunks_ai", "chunks_ad"};
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_schema WHERE name = '%s'",
                 objects[i]);
        if (query_int(db, sql) != 1)
            fail_msg("schema object %s missing", objects[i]);
    }

    char *v = NULL;
    lore_err err = {0};
    assert_int_equal(store_meta_get(s, "schema_version", &v, &err), 0);
    assert_string_equal(v, "1");
    free(v);
    assert_int_equal(generation(s), 0);

    store_stats stats;
    assert_int_equal(store_stats_get(s, &stats, &err), 0);
    assert_int_equal(stats.articles, 0);
    assert_int_equal(stats.chunks, 0);
    assert_int_equal(stats.vectors, 0);
    assert_int_equal(stats.generation, 0);
    assert_int_equal(stats.embed_dim, 0);
    store_close(s);
}

static void test_store_reopen_no_remigrate(void **state)
{
    fixture *f = *state;
    store *s = open_ok(f->dir, STORE_CREATE);
    lore_err err = {0};
    assert_int_equal(store_meta_set(s, "embedder", "hash:64", &err), 0);
    begin(s);
    int64_t aid = put_article(s, "kb-1", "Refunds", "/src/a.md", NULL, 7);
    put_chunk(s, aid, 0, "Refunds", "refund policy", 1, NULL, 0);
    assert_int_equal(store_bump_generation(s, NULL, &err), 0);
    commit(s);
    store_close(s);

    /* A watcher connection sees PRAGMA data_version change when any other connection
     * commits: a migration (or any write at open) would show up there. */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lore.db", f->dir);
    sqlite3 *watch;
    assert_int_equal(sqlite3_open(path, &watch), SQLITE_OK);
    int64_t dv0 = query_int(watch, "PRAGMA data_version");

    for (int pass = 0; pass < 2; pass++) {
        int flags = pass == 0 ? STORE_CREATE : STORE_READONLY;
        s = open_ok(f->dir, flags);
        assert_int_equal(query_int(store_db(s), "PRAGMA user_version"), 1);
        char *v = NULL;
        assert_int_equal(store_meta_get(s, "embedder", &v, &err), 0);
        assert_string_equal(v, "hash:64");
        free(v);
        assert_int_equal(store_meta_get(s, "schema_version", &v, &err), 0);
        assert_string_equal(v, "1");
        free(v);
        assert_int_equal(generation(s), 1);
        assert_int_equal(fts_count(s, "\"refund\""), 1);
        int64_t id;
        uint64_t fp;
        assert_int_equal(store_article_find(s, "kb-1", &id, &fp, NULL, &err), 0);
        assert_int_equal(id, aid);
        assert_int_equal(fp, 7);
        store_close(s);
        if (query_int(watch, "PRAGMA data_version") != dv0)
            fail_msg("reopening (pass %d) wrote to the database", pass);
    }
    /* The watcher does notice a real write (so the check above can fail). */
    s = open_ok(f->dir, STORE_CREATE);
    assert_int_equal(store_meta_set(s, "touched", "1", &err), 0);
    store_close(s);
    assert_true(query_int(watch, "PRAGMA data_version") != dv0);
    sqlite3_close(watch);
}

static void test_store_newer_version_refused(void **state)
{
    fixture *f = *state;
    store *s = open_ok(f->dir, STORE_CREATE);
    store_close(s);
    /* A later lore wrote schema version 2. */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lore.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA user_version = 2");
    sqlite3_close(db);

    int flags[] = {STORE_CREATE, STORE_READONLY, 0};
    for (size_t i = 0; i < 3; i++) {
        lore_err err = {0};
        s = (store *)1;
        int rc = store_open(f->dir, flags[i], &s, &err);
        assert_int_equal(rc, LORE_EUNSUP);
        assert_int_equal(err.code, LORE_EUNSUP);
        assert_null(s);
        /* The message says which file, which version, and what this build reads. */
        if (!strstr(err.msg, f->dir) || !strstr(err.msg, "schema version 2") ||
            !strstr(err.msg, "up to 1"))
            fail_msg("unclear error: %s", err.msg);
    }
    /* Refusing did not touch the version. */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(query_int(db, "PRAGMA user_version"), 2);
    sqlite3_close(db);
}

static void test_store_readonly_old_schema(void **state)
{
    fixture *f = *state;
    /* A database file with no schema yet (version 0), e.g. an interrupted first run. */
    char parent[PATH_MAX + 8];
    snprintf(parent, sizeof parent, "%s/data", f->root);
    assert_int_equal(mkdir(parent, 0755), 0);
    assert_int_equal(mkdir(f->dir, 0755), 0);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lore.db", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec_ok(db, "CREATE TABLE scratch(x)");
    sqlite3_close(db);

    lore_err err = {0};
    store *s = NULL;
    assert_int_equal(store_open(f->dir, STORE_READONLY, &s, &err), LORE_EUNSUP);
    assert_null(s);
    assert_non_null(strstr(err.msg, "needs migrating"));
    /* A writer migrates it. */
    s = open_ok(f->dir, STORE_CREATE);
    assert_int_equal(query_int(store_db(s), "PRAGMA user_version"), 1);
    store_close(s);
    s = open_ok(f->dir, STORE_READONLY);
    store_close(s);
}

static void test_store_readonly_missing(void **state)
{
    fixture *f = *state;
    lore_err err = {0};
    store *s = (store *)1;
    assert_int_equal(store_open(f->dir, STORE_READONLY, &s, &err), LORE_ENOTFOUND);
    assert_null(s);
    assert_int_equal(err.code, LORE_ENOTFOUND);
    assert_non_null(strstr(err.msg, f->dir));
    /* Without STORE_CREATE nothing is created either. */
    s = (store *)1;
    assert_int_equal(store_open(f->dir, 0, &s, &err), LORE_ENOTFOUND);
    assert_null(s);
    char parent[PATH_MAX + 8];
    snprintf(parent, sizeof parent, "%s/data", f->root);
    assert_false(file_exists(parent));
}

static void test_store_not_a_database(void **state)
{
    fixture *f = *state;
    char parent[PATH_MAX + 8];
    snprintf(parent, sizeof parent, "%s/data", f->root);
    assert_int_equal(mkdir(parent, 0755), 0);
    assert_int_equal(mkdir(f->dir, 0755), 0);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/lore.db", f->dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 4096; i++)
        fputc((i * 37 + 11) & 0xff, fp);
    fclose(fp);
    int flags[] = {STORE_READONLY, STORE_CREATE};
    for (int i = 0; i < 2; i++) {
        lore_err err = {0};
        store *s = (store *)1;
        assert_int_equal(store_open(f->dir, flags[i], &s, &err), LORE_EDB);
        assert_null(s);
        if (!strstr(err.msg, path) || !strstr(err.msg, "not a database"))
            fail_msg("unclear error: %s", err.msg);
    }
}

/* ---- meta, articles ---- */

static void test_store_meta(void **state)
{
    fixture *f = *state;
    store *s = open_ok(f->dir, STORE_CREATE);
    lore_err err = {0};
    char *v = (char *)1;
    assert_int_equal(store_meta_get(s, "locale", &v, &err), LORE_ENOTFOUND);
    assert_null(v);
    assert_non_null(strstr(err.msg, "locale"));
    assert_int_equal(store_meta_set(s, "locale", "de", &err), 0);
    assert_int_equal(store_meta_get(s, "locale", &v, &err), 0);
    assert_string_equal(v, "de");
    free(v);
    assert_int_equal(store_meta_set(s, "locale", "fr-CA", &err), 0);
    assert_int_equal(store_meta_set(s, "empty", "", &err), 0);
    assert_int_equal(store_meta_get(s, "locale", &v, &err), 0);
    assert_string_equal(v, "fr-CA");
    free(v);
    assert_int_equal(store_meta_get(s, "empty", &v, &err), 0);
    assert_string_equal(v, "");
    free(v);
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM meta WHERE key = 'locale'"), 1);
    store_close(s);

    s = open_ok(f->dir, STORE_READONLY);
    assert_int_equal(store_meta_get(s, "locale", &v, &err), 0);
    assert_string_equal(v, "fr-CA");
    free(v);
    store_close(s);
}

static void test_store_articles(void **state)
{
    fixture *f = *state;
    store *s = open_ok(f->dir, STORE_CREATE);
    lore_err err = {0};
    int64_t id = 0;
    uint64_t fp = 0;
    char *loc = (char *)1;
    assert_int_equal(store_article_find(s, "nope", &id, &fp, &loc, &err), LORE_ENOTFOUND);

    /* A fingerprint with the top bit set survives the signed SQLite integer. */
    uint64_t big = 0xfedcba9876543210ULL;
    int64_t a1 = put_article(s, "kb-1", "First title", "/src/a.md", "en-GB", big);
    int64_t a2 = put_article(s, "kb-2", "Second", "/src/b.md", NULL, 2);
    assert_true(a1 != a2);
    assert_int_equal(store_article_find(s, "kb-1", &id, &fp, &loc, &err), 0);
    assert_int_equal(id, a1);
    assert_true(fp == big);
    assert_string_equal(loc, "en-GB");
    free(loc);
    loc = (char *)1;
    assert_int_equal(store_article_find(s, "kb-2", &id, &fp, &loc, &err), 0);
    assert_int_equal(id, a2);
    assert_null(loc); /* unset locale */
    assert_int_equal(store_article_find(s, "kb-2", &id, &fp, NULL, &err), 0);

    /* Putting the same ext_id updates in place: same row id, new fields. */
    store_article upd = {"kb-1", "Renamed", NULL, "de", "2025-06-01", "/src/c.md", 99};
    int64_t again = 0;
    assert_int_equal(store_article_put(s, &upd, &again, &err), 0);
    assert_int_equal(again, a1);
    assert_int_equal(store_article_find(s, "kb-1", &id, &fp, &loc, &err), 0);
    assert_int_equal(fp, 99);
    assert_string_equal(loc, "de");
    free(loc);
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM articles"), 2);
    char *title = query_text(store_db(s), "SELECT title || '|' || source || '|' || "
                                          "coalesce(url, 'NULL') FROM articles WHERE ext_id = 'kb-1'");
    assert_string_equal(title, "Renamed|/src/c.md|NULL");
    free(title);

    /* The article's chunk reports its article's fields. */
    int64_t cid = put_chunk(s, a1, 3, "Renamed > Part", "body text", 5, NULL, 0);
    store_chunk_info info;
    assert_int_equal(store_chunk_get(s, cid, &info, &err), 0);
    assert_int_equal(info.chunk_id, cid);
    assert_string_equal(info.article_ext_id, "kb-1");
    assert_string_equal(info.title, "Renamed");
    assert_null(info.url);
    assert_string_equal(info.heading, "Renamed > Part");
    assert_string_equal(info.body, "body text");
    assert_string_equal(info.locale, "de");
    assert_int_equal(info.ordinal, 3);
    store_chunk_info_free(&info);
    assert_int_equal(store_chunk_get(s, cid + 100, &info, &err), LORE_ENOTFOUND);
    assert_null(info.body);
    store_close(s);
}

/* ---- chunks, FTS and vectors ---- */

static void test_store_chunks_fts(void **state)
{
    fixture *f = *state;
    store *s = open_ok(f->dir, STORE_CREATE);
    lore_err err = {0};
    float v1[4] = {1, 0, 0, 0}, v2[4] = {0, 1, 0, 0};
    begin(s);
    int64_t a = put_article(s, "kb-1", "Refunds", "/src/a.md", NULL, 1);
    int64_t b = put_article(s, "kb-2", "Passwords", "/src/b.md", NULL, 2);
    int64_t c1 = put_chunk(s, a, 0, "Refunds > Policy", "We refund purchases within 14 days.",
                           11, v1, 4);
    int64_t c2 = put_chunk(s, a, 1, "Refunds > Exceptions", "Gift cards are final sales.", 12,
                           NULL, 0); /* no vector */
    int64_t c3 = put_chunk(s, b, 0, "Passwords > Reset", "Reset your password from the login page.",
                           21, v2, 4);
    commit(s);

    /* MATCH takes analysed terms: "Refunds" -> "refund" (Porter), in both of kb-1's
     * headings. */
    assert_int_equal(fts_count(s, "\"refund\""), 2);
    assert_int_equal(fts_count(s, "\"refunds\""), 0);
    assert_int_equal(query_int(store_db(s), "SELECT rowid FROM chunks_fts WHERE chunks_fts "
                                            "MATCH '\"gift\"'"),
                     c2);
    assert_int_equal(query_int(store_db(s), "SELECT rowid FROM chunks_fts WHERE chunks_fts "
                                            "MATCH '\"password\"'"),
                     c3);
    /* Heading text is indexed too. */
    assert_int_equal(fts_count(s, "\"polici\""), 1);
    assert_int_equal(fts_count(s, "heading : \"except\""), 1);
    fts_integrity_ok(s);
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM vectors"), 2);

    /* Deleting kb-1 removes its chunks, FTS rows and vector; only c1 had a vector. */
    int64_t *ids = NULL;
    size_t n = 0;
    begin(s);
    assert_int_equal(store_article_delete(s, a, &ids, &n, &err), 0);
    commit(s);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], c1);
    free(ids);
    assert_int_equal(fts_count(s, "\"refund\""), 0);
    assert_int_equal(fts_count(s, "\"gift\""), 0);
    assert_int_equal(fts_count(s, "\"password\""), 1);
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM chunks"), 1);
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM vectors"), 1);
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM articles"), 1);
    /* The FTS vocabulary no longer counts the deleted rows. */
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM chunks_vocab "
                                            "WHERE term = 'refund'"),
                     0);
    int64_t id;
    uint64_t fp;
    assert_int_equal(store_article_find(s, "kb-1", &id, &fp, NULL, &err), LORE_ENOTFOUND);
    fts_integrity_ok(s);

    /* Clearing chunks keeps the article row. */
    ids = NULL;
    n = 0;
    begin(s);
    assert_int_equal(store_article_clear_chunks(s, b, &ids, &n, &err), 0);
    commit(s);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], c3);
    free(ids);
    assert_int_equal(store_article_find(s, "kb-2", &id, &fp, NULL, &err), 0);
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM chunks"), 0);
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM vectors"), 0);
    assert_int_equal(fts_count(s, "\"password\""), 0);
    fts_integrity_ok(s);
    store_close(s);
}

/* Rows written under another locale must be deleted under it too (see fts5tok.h); many
 * chunks make the id list grow past its first allocation. */
static void test_store_delete_locale_many(void **state)
{
    fixture *f = *state;
    store *s = open_ok(f->dir, STORE_CREATE);
    lore_err err = {0};
    enum { NCH = 70 };
    int64_t cids[NCH];
    begin(s);
    assert_int_equal(store_set_locale(s, "de", &err), 0);
    int64_t a = put_article(s, "de-1", "Rückerstattungen", "/src/de.md", "de", 1);
    for (int i = 0; i < NCH; i++) {
        float v[3] = {(float)i, 1, 0};
        char body[128];
        snprintf(body, sizeof body, "Die Rückerstattungen werden bearbeitet, Nummer %d.", i);
        cids[i] = put_chunk(s, a, i, "Rückerstattungen", body, (uint64_t)(1000 + i), v, 3);
    }
    assert_int_equal(store_set_locale(s, "en", &err), 0);
    int64_t e = put_article(s, "en-1", "Refunds", "/src/en.md", "en", 2);
    put_chunk(s, e, 0, "Refunds", "Refunds are processed.", 5000, NULL, 0);
    commit(s);
    fts_integrity_ok(s);
    /* The German stemmer produced the indexed terms. */
    assert_int_equal(fts_count(s, "\"werden\""), 0);
    assert_true(fts_count(s, "\"werd\"") == NCH);
    assert_true(fts_count(s, "\"ruckerstatt\"") == NCH);

    int64_t *ids = NULL;
    size_t n = 0;
    begin(s);
    assert_int_equal(store_set_locale(s, "de", &err), 0);
    assert_int_equal(store_article_delete(s, a, &ids, &n, &err), 0);
    commit(s);
    assert_int_equal(n, NCH);
    for (int i = 0; i < NCH; i++) {
        int found = 0;
        for (size_t j = 0; j < n; j++)
            found |= ids[j] == cids[i];
        if (!found)
            fail_msg("chunk %" PRId64 " missing from the deleted ids", cids[i]);
    }
    free(ids);
    assert_int_equal(fts_count(s, "\"werd\""), 0);
    assert_int_equal(fts_count(s, "\"ruckerstatt\""), 0);
    assert_int_equal(fts_count(s, "\"refund\""), 1);
    fts_integrity_ok(s);
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM vectors"), 0);
    store_close(s);
}

typedef struct vec_seen {
    int64_t ids[4];
    float first[4], last[4];
    int dims[4];
    size_t nwin[4];
    int n;
} vec_seen;

static int visit_vector(void *ctx, int64_t chunk_id, const float *vec, size_t nwin, int dim)
{
    vec_seen *seen = ctx;
    if (seen->n < 4) {
        seen->ids[seen->n] = chunk_id;
        seen->first[seen->n] = vec[0];
        seen->last[seen->n] = vec[nwin * (size_t)dim - 1];
        seen->dims[seen->n] = dim;
        seen->nwin[seen->n] = nwin;
    }
    seen->n++;
    return 0;
}

static int stop_vector(void *ctx, int64_t chunk_id, const float *vec, size_t nwin, int dim)
{
    (void)ctx;
    (void)chunk_id;
    (void)vec;
    (void)nwin;
    (void)dim;
    return 42;
}

/* The stored windows of fingerprint fp must be exactly want[0..nwin * 4). */
static void expect_windows(store *s, uint64_t fp, const float *want, size_t nwin)
{
    lore_err err = {0};
    float *got = NULL;
    size_t n = 0;
    if (store_vectors_by_fingerprint(s, fp, 4, &got, &n, &err) != 0)
        fail_msg("vectors_by_fingerprint %" PRIu64 ": %s", fp, err.msg);
    assert_int_equal(n, nwin);
    assert_memory_equal(got, want, nwin * 4 * sizeof(float));
    free(got);
}

static void test_store_vectors(void **state)
{
    fixture *f = *state;
    store *s = open_ok(f->dir, STORE_CREATE);
    lore_err err = {0};
    float v1[4] = {0.5f, -0.25f, 0.125f, 1e-7f}, v2[4] = {1, 2, 3, 4};
    uint64_t fp1 = 0x8000000000000001ULL;
    begin(s);
    int64_t a = put_article(s, "kb-1", "T", "/src/a.md", NULL, 1);
    int64_t c1 = put_chunk(s, a, 0, "T", "one", fp1, v1, 4);
    int64_t c2 = put_chunk(s, a, 1, "T", "two", 22, v2, 4);
    put_chunk(s, a, 2, "T", "three", 33, NULL, 0);
    commit(s);

    expect_windows(s, fp1, v1, 1);
    expect_windows(s, 22, v2, 1);
    /* No vector, unknown fingerprint, another dimension: not found, nothing returned. */
    float *out = NULL;
    size_t nw = 7;
    assert_int_equal(store_vectors_by_fingerprint(s, 33, 4, &out, &nw, &err), LORE_ENOTFOUND);
    assert_int_equal(store_vectors_by_fingerprint(s, 44, 4, &out, &nw, &err), LORE_ENOTFOUND);
    assert_int_equal(store_vectors_by_fingerprint(s, 22, 3, &out, &nw, &err), LORE_ENOTFOUND);
    assert_null(out);
    assert_int_equal(nw, 0);

    store_stats st;
    assert_int_equal(store_stats_get(s, &st, &err), 0);
    assert_int_equal(st.articles, 1);
    assert_int_equal(st.chunks, 3);
    assert_int_equal(st.vectors, 2);
    assert_int_equal(st.vector_chunks, 2);
    assert_int_equal(st.embed_dim, 4);

    /* vectors_each visits every vector in chunk order with its dimension. */
    vec_seen seen;
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_vectors_each(s, visit_vector, &seen, &err), 0);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.ids[0], c1);
    assert_int_equal(seen.ids[1], c2);
    assert_int_equal(seen.dims[0], 4);
    assert_int_equal(seen.nwin[0], 1);
    assert_true(seen.first[0] == 0.5f && seen.first[1] == 1.0f);
    /* A callback's non-zero value stops the walk and is returned. */
    assert_int_equal(store_vectors_each(s, stop_vector, &seen, &err), 42);

    assert_int_equal(store_vectors_clear(s, &err), 0);
    assert_int_equal(store_vectors_by_fingerprint(s, fp1, 4, &out, &nw, &err), LORE_ENOTFOUND);
    assert_int_equal(store_stats_get(s, &st, &err), 0);
    assert_int_equal(st.vectors, 0);
    assert_int_equal(st.chunks, 3);
    assert_int_equal(st.embed_dim, 0);
    store_close(s);
}

/* A chunk's windows (k vectors in one blob) round-trip through put, reuse by fingerprint,
 * vectors_each and stats; every vector has the store's dimension; a blob that is not a whole
 * number of vectors is reported as damage naming the chunk; a store written before windows
 * (no meta embed_dim, one vector per chunk) still reads. */
static void test_store_windows(void **state)
{
    fixture *f = *state;
    store *s = open_ok(f->dir, STORE_CREATE);
    lore_err err = {0};
    float three[12], one[4] = {9, 8, 7, 6};
    for (int i = 0; i < 12; i++)
        three[i] = (float)i * 0.5f - 1.0f;
    begin(s);
    int64_t a = put_article(s, "kb-1", "T", "/src/a.md", NULL, 1);
    int64_t cid = 0;
    assert_int_equal(store_chunk_put_windows(s, a, 0, "T", "long", 501, three, 3, 4, &cid, &err),
                     0);
    int64_t c2 = put_chunk(s, a, 1, "T", "short", 502, one, 4);
    /* Another dimension while vectors of dimension 4 exist: refused, nothing written. */
    float five[5] = {1, 2, 3, 4, 5};
    assert_int_equal(store_chunk_put_windows(s, a, 2, "T", "odd", 503, five, 1, 5, NULL, &err),
                     LORE_EINVAL);
    assert_non_null(strstr(err.msg, "dimension 5"));
    assert_non_null(strstr(err.msg, "dimension 4"));
    commit(s);

    expect_windows(s, 501, three, 3);
    expect_windows(s, 502, one, 1);
    store_stats st;
    assert_int_equal(store_stats_get(s, &st, &err), 0);
    assert_int_equal(st.chunks, 2);
    assert_int_equal(st.vector_chunks, 2);
    assert_int_equal(st.vectors, 4);
    assert_int_equal(st.embed_dim, 4);
    vec_seen seen;
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_vectors_each(s, visit_vector, &seen, &err), 0);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.ids[0], cid);
    assert_int_equal(seen.nwin[0], 3);
    assert_true(seen.first[0] == three[0] && seen.last[0] == three[11]);
    assert_int_equal(seen.ids[1], c2);
    assert_int_equal(seen.nwin[1], 1);
    assert_true(seen.last[1] == 6.0f);

    /* Damage: 6 bytes is not a whole vector of 4 floats. */
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE vectors SET vec = zeroblob(6) WHERE chunk_id = %lld",
             (long long)cid);
    assert_int_equal(sqlite3_exec(store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
    float *got = NULL;
    size_t nw = 0;
    assert_int_equal(store_vectors_by_fingerprint(s, 501, 4, &got, &nw, &err), LORE_EDB);
    assert_null(got);
    char want[64];
    snprintf(want, sizeof want, "chunk %lld", (long long)cid);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "lore.db"));
    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_vectors_each(s, visit_vector, &seen, &err), LORE_EDB);
    assert_non_null(strstr(err.msg, want));
    assert_int_equal(seen.n, 0);

    /* A store from before windows: one vector per chunk and no recorded dimension. */
    snprintf(sql, sizeof sql, "DELETE FROM vectors WHERE chunk_id = %lld; DELETE FROM meta "
             "WHERE key = 'embed_dim'", (long long)cid);
    assert_int_equal(sqlite3_exec(store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_stats_get(s, &st, &err), 0);
    assert_int_equal(st.embed_dim, 4);
    assert_int_equal(st.vectors, 1);
    expect_windows(s, 502, one, 1);
    store_close(s);
}

typedef struct listing {
    char names[8][64];
    int n;
} listing;

static int list_article(void *ctx, int64_t id, const char *ext_id, const char *source)
{
    (void)id;
    (void)source;
    listing *l = ctx;
    if (l->n < 8)
        snprintf(l->names[l->n++], sizeof l->names[0], "%s", ext_id);
    return 0;
}

static void test_store_articles_each(void **state)
{
    fixture *f = *state;
    store *s = open_ok(f->dir, STORE_CREATE);
    lore_err err = {0};
    begin(s);
    put_article(s, "a1", "T", "/docs/help/a.md", NULL, 1);
    put_article(s, "a2", "T", "/docs/help/sub/b.md", NULL, 1);
    put_article(s, "a3", "T", "/docs/helpers/c.md", NULL, 1);
    put_article(s, "a4", "T", "/docs/h%lp/d.md", NULL, 1);
    put_article(s, "a5", "T", "/docs/hxlp/e.md", NULL, 1);
    commit(s);

    listing l = {{{0}}, 0};
    assert_int_equal(store_articles_each(s, "/docs/help/", list_article, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.names[0], "a1");
    assert_string_equal(l.names[1], "a2");
    /* '%' and '_' are literal, not LIKE wildcards. */
    memset(&l, 0, sizeof l);
    assert_int_equal(store_articles_each(s, "/docs/h%lp/", list_article, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.names[0], "a4");
    memset(&l, 0, sizeof l);
    assert_int_equal(store_articles_each(s, "/docs/h_lp/", list_article, &l, &err), 0);
    assert_int_equal(l.n, 0);
    memset(&l, 0, sizeof l);
    assert_int_equal(store_articles_each(s, NULL, list_article, &l, &err), 0);
    assert_int_equal(l.n, 5);
    store_close(s);
}

/* ---- generation, transactions, readers ---- */

static void test_store_generation(void **state)
{
    fixture *f = *state;
    store *s = open_ok(f->dir, STORE_CREATE);
    lore_err err = {0};
    assert_int_equal(generation(s), 0);
    uint64_t g = 0;
    begin(s);
    assert_int_equal(store_bump_generation(s, &g, &err), 0);
    assert_int_equal(g, 1);
    assert_int_equal(store_bump_generation(s, &g, &err), 0);
    assert_int_equal(g, 2);
    commit(s);
    assert_int_equal(generation(s), 2);

    /* A rolled-back transaction leaves neither the bump nor its writes. */
    begin(s);
    assert_int_equal(store_bump_generation(s, NULL, &err), 0);
    put_article(s, "gone", "T", "/x.md", NULL, 1);
    store_rollback(s);
    store_rollback(s); /* no transaction: harmless */
    assert_int_equal(generation(s), 2);
    int64_t id;
    uint64_t fp;
    assert_int_equal(store_article_find(s, "gone", &id, &fp, NULL, &err), LORE_ENOTFOUND);
    store_close(s);

    s = open_ok(f->dir, STORE_READONLY);
    assert_int_equal(generation(s), 2);
    store_close(s);
}

static void test_store_reader_isolation(void **state)
{
    fixture *f = *state;
    store *w = open_ok(f->dir, STORE_CREATE);
    store *r = open_ok(f->dir, STORE_READONLY);
    lore_err err = {0};
    begin(w);
    int64_t a = put_article(w, "kb-1", "T", "/a.md", NULL, 1);
    put_chunk(w, a, 0, "T", "refund", 1, NULL, 0);
    assert_int_equal(store_bump_generation(w, NULL, &err), 0);
    /* The writer has not committed: the reader sees the previous state, without waiting. */
    assert_int_equal(generation(r), 0);
    assert_int_equal(fts_count(r, "\"refund\""), 0);
    commit(w);
    assert_int_equal(generation(r), 1);
    assert_int_equal(fts_count(r, "\"refund\""), 1);
    /* A second writer cannot start while the first holds the lock; with the busy timeout
     * it would wait, so only check that the first can write again after committing. */
    begin(w);
    commit(w);
    store_close(r);
    store_close(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_create_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reopen_no_remigrate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_newer_version_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_readonly_old_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_readonly_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_not_a_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_articles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_chunks_fts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_delete_locale_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_vectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_articles_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reader_isolation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
