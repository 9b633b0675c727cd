/* Unit tests for coll on a real collection directory (temporary): names, data root and
 * directory joining; create records the default or given embedder (a read-only open records
 * nothing); the recorded embedder wins unless switch_embedder; read-only open of a missing
 * collection is LORE_ENOTFOUND; a collection without vectors has no index and publish removes
 * a stale file; publish then reopen loads vectors.faiss as is (rebuilt 0) with the same
 * count and search results; a missing, corrupt (garbage, truncated) or stale (generation
 * bumped without publishing, or vectors added without a new file) FAISS file is rebuilt from
 * SQLite on open (rebuilt 1) with the same count and results, and saved, so the next open
 * loads it; load_vectors 0 skips the index; embedder "none" has none. Windows: vector index
 * ids map to (chunk, window) and back, window 0 being the chunk id; bad chunk ids and window
 * counts are refused naming the chunk; a chunk's several windows are rebuilt from SQLite
 * under their ids, the staleness check counts windows (a published index with windows loads
 * as is), and removing a chunk removes all its windows. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coll.h"

#define NDOCS 12

/* ---- fixtures ---- */

typedef struct fixture {
    char root[PATH_MAX / 2];
    char dir[PATH_MAX];   /* the collection directory */
    char faiss[PATH_MAX]; /* its vectors.faiss */
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->root, sizeof f->root, "%s/lore-test-coll-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof f->dir, "%s/help", f->root);
    snprintf(f->faiss, sizeof f->faiss, "%s/help/vectors.faiss", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rm_rf(f->root);
    free(f);
    return 0;
}

static coll *open_coll(const char *dir, int flags, const char *embedder, int sw)
{
    coll_open_options o = {flags, embedder, sw, NULL, 1};
    coll *c = NULL;
    lore_err err = {0};
    int rc = coll_open(dir, &o, &c, &err);
    if (rc != 0)
        fail_msg("coll_open %s: %d %s", dir, rc, err.msg);
    assert_non_null(c);
    return c;
}

static const char *const DOCS[NDOCS] = {
    "Refunds are issued to the original payment method within 14 days.",
    "Reset your password from the sign-in page with the emailed link.",
    "Invite teammates from the members page; each invite expires in a week.",
    "Export timesheets to CSV or Excel from the reports screen.",
    "Two-factor authentication uses an authenticator app or SMS codes.",
    "Change your billing plan at any time; upgrades are prorated.",
    "Calendar sync connects Google Calendar and Outlook both ways.",
    "Delete your workspace from settings; data is erased after 30 days.",
    "API keys are created per user and can be revoked at any time.",
    "Invoices are emailed monthly and downloadable as PDF files.",
    "Time off requests need approval from a workspace manager.",
    "The mobile app works offline and syncs when back online.",
};

/* Writes NDOCS articles of one chunk each, with hash vectors, in one transaction (which
 * bumps the generation), and adds them to the collection's index. */
static void fill(coll *c)
{
    store *s = coll_store(c);
    embedder *e = coll_embedder(c);
    lore_err err = {0};
    float *vecs = NULL;
    assert_int_equal(embed_texts_alloc(e, (const char *const *)DOCS, NDOCS, &vecs, &err), 0);
    int dim = embed_dim(e);
    assert_int_equal(dim, 64);
    assert_int_equal(store_begin(s, &err), 0);
    int64_t ids[NDOCS];
    for (int i = 0; i < NDOCS; i++) {
        char ext[16];
        snprintf(ext, sizeof ext, "kb-%d", i);
        store_article a = {ext, ext, NULL, NULL, NULL, "/src/x.md", (uint64_t)i};
        int64_t aid;
        assert_int_equal(store_article_put(s, &a, &aid, &err), 0);
        assert_int_equal(store_chunk_put(s, aid, 0, ext, DOCS[i], (uint64_t)(100 + i),
                                         vecs + (size_t)i * dim, dim, &ids[i], &err),
                         0);
    }
    assert_int_equal(store_bump_generation(s, NULL, &err), 0);
    assert_int_equal(store_commit(s, &err), 0);
    if (coll_ensure_vindex(c, dim, &err) != 0)
        fail_msg("ensure: %s", err.msg);
    assert_int_equal(vindex_add(coll_vindex(c), ids, vecs, NDOCS, &err), 0);
    free(vecs);
}

/* The ids of the 5 nearest chunks to a fixed query. */
static void top5(coll *c, int64_t out[5])
{
    lore_err err = {0};
    const char *q = "refund to the original payment method";
    float *qv = NULL;
    assert_int_equal(embed_texts_alloc(coll_embedder(c), &q, 1, &qv, &err), 0);
    float scores[5];
    size_t n = 0;
    assert_non_null(coll_vindex(c));
    assert_int_equal(vindex_search(coll_vindex(c), qv, 5, out, scores, &n, &err), 0);
    assert_int_equal(n, 5);
    free(qv);
}

static uint64_t file_generation(const char *path)
{
    vindex *vi = NULL;
    uint64_t gen = 0;
    lore_err err = {0};
    if (vindex_load(path, &vi, &gen, &err) != 0)
        fail_msg("load %s: %s", path, err.msg);
    vindex_free(vi);
    return gen;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static char *meta(coll *c, const char *key)
{
    char *v = NULL;
    int rc = store_meta_get(coll_store(c), key, &v, NULL);
    return rc == 0 ? v : NULL;
}

/* A published collection of NDOCS vectors; returns its search results. */
static void make_published(fixture *f, int64_t want[5])
{
    coll *c = open_coll(f->dir, STORE_CREATE, "hash:64", 0);
    fill(c);
    lore_err err = {0};
    assert_int_equal(coll_publish(c, &err), 0);
    top5(c, want);
    coll_close(c);
    assert_true(file_exists(f->faiss));
}

static void expect_rebuilt(fixture *f, int rebuilt, const int64_t want[5])
{
    coll *c = open_coll(f->dir, STORE_READONLY, NULL, 0);
    assert_int_equal(coll_vindex_rebuilt(c), rebuilt);
    assert_non_null(coll_vindex(c));
    assert_int_equal(vindex_count(coll_vindex(c)), NDOCS);
    assert_int_equal(vindex_dim(coll_vindex(c)), 64);
    int64_t got[5];
    top5(c, got);
    assert_memory_equal(got, want, sizeof got);
    coll_close(c);
}

/* ---- names and paths ---- */

static void test_coll_names(void **state)
{
    (void)state;
    lore_err err = {0};
    assert_int_equal(coll_name_valid("default", &err), 0);
    assert_int_equal(coll_name_valid("Help_Center-2", &err), 0);
    char n64[65];
    memset(n64, 'a', 64);
    n64[64] = '\0';
    assert_int_equal(coll_name_valid(n64, &err), 0);
    const char *bad[] = {"", "a/b", "..", "a b", "tenant.1", "ü"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (coll_name_valid(bad[i], &err) != LORE_EINVAL)
            fail_msg("name '%s' accepted", bad[i]);
    }
    assert_non_null(strstr(err.msg, "bad collection name"));
    assert_int_equal(coll_name_valid(NULL, &err), LORE_EINVAL);
    char n65[66];
    memset(n65, 'a', 65);
    n65[65] = '\0';
    assert_int_equal(coll_name_valid(n65, &err), LORE_EINVAL);

    char buf[64];
    assert_int_equal(coll_dir("/data", "tenant", buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "/data/tenant");
    assert_int_equal(coll_dir("/data", "../etc", buf, sizeof buf, &err), LORE_EINVAL);
    char small[8];
    assert_int_equal(coll_dir("/data", "tenant", small, sizeof small, &err), LORE_EINVAL);

    /* Data root: the flag, else $LORE_DATA, else $HOME/.local/share/lore. */
    char *saved_data = getenv("LORE_DATA") ? strdup(getenv("LORE_DATA")) : NULL;
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("LORE_DATA", "/env/data", 1);
    setenv("HOME", "/home/u", 1);
    char root[128];
    assert_int_equal(coll_data_root("/flag", root, sizeof root, &err), 0);
    assert_string_equal(root, "/flag");
    assert_int_equal(coll_data_root(NULL, root, sizeof root, &err), 0);
    assert_string_equal(root, "/env/data");
    assert_int_equal(coll_data_root("", root, sizeof root, &err), 0);
    assert_string_equal(root, "/env/data");
    unsetenv("LORE_DATA");
    assert_int_equal(coll_data_root(NULL, root, sizeof root, &err), 0);
    assert_string_equal(root, "/home/u/.local/share/lore");
    assert_int_equal(coll_data_root(NULL, small, sizeof small, &err), LORE_EINVAL);
    unsetenv("HOME");
    assert_int_equal(coll_data_root(NULL, root, sizeof root, &err), LORE_EINVAL);
    if (saved_data)
        setenv("LORE_DATA", saved_data, 1);
    if (saved_home)
        setenv("HOME", saved_home, 1);
    free(saved_data);
    free(saved_home);
}

/* ---- open and embedders ---- */

/* The default spec "use" has identity "use:lite-V-HASH" (embed_use.c). */
static int is_default_id(const char *id)
{
    return strcmp(COLL_DEFAULT_EMBEDDER, "use") == 0 ? strncmp(id, "use:lite-", 9) == 0
                                                      : strcmp(id, COLL_DEFAULT_EMBEDDER) == 0;
}

static void test_coll_open_create(void **state)
{
    fixture *f = *state;
    lore_err err = {0};
    coll *c = (coll *)1;
    /* Read-only and missing: not found, and nothing created. */
    assert_int_equal(coll_open(f->dir, NULL, &c, &err), LORE_ENOTFOUND);
    assert_null(c);
    assert_false(file_exists(f->dir));

    /* Created with the default embedder, recorded in meta. */
    c = open_coll(f->dir, STORE_CREATE, NULL, 0);
    assert_true(is_default_id(embed_id(coll_embedder(c))));
    char *v = meta(c, "embedder");
    assert_non_null(v);
    assert_string_equal(v, COLL_DEFAULT_EMBEDDER);
    free(v);
    /* Nothing embedded yet: no index, no file. */
    assert_null(coll_vindex(c));
    assert_int_equal(coll_vindex_rebuilt(c), 0);
    assert_false(file_exists(f->faiss));
    assert_string_equal(coll_vindex_path(c), f->faiss);
    coll_close(c);

    /* The recorded embedder wins over a requested one unless switching. */
    c = open_coll(f->dir, STORE_CREATE, "hash:32", 0);
    assert_true(is_default_id(embed_id(coll_embedder(c))));
    coll_close(c);
    c = open_coll(f->dir, STORE_CREATE, "hash:32", 1);
    assert_string_equal(embed_id(coll_embedder(c)), "hash:32");
    assert_int_equal(embed_dim(coll_embedder(c)), 32);
    coll_close(c);
    c = open_coll(f->dir, STORE_READONLY, NULL, 0);
    assert_string_equal(embed_id(coll_embedder(c)), "hash:32");
    v = meta(c, "embedder");
    assert_string_equal(v, "hash:32");
    free(v);
    coll_close(c);

    /* A bad embedder spec fails the open cleanly. */
    c = (coll *)1;
    coll_open_options o = {STORE_CREATE, "bogus:1", 1, NULL, 1};
    assert_int_equal(coll_open(f->dir, &o, &c, &err), LORE_EINVAL);
    assert_null(c);
}

static void test_coll_readonly_records_nothing(void **state)
{
    fixture *f = *state;
    /* A store created without a collection has no embedder recorded. */
    store *s = NULL;
    lore_err err = {0};
    assert_int_equal(store_open(f->dir, STORE_CREATE, &s, &err), 0);
    store_close(s);
    coll *c = open_coll(f->dir, STORE_READONLY, "hash:64", 0);
    assert_string_equal(embed_id(coll_embedder(c)), "hash:64");
    assert_null(meta(c, "embedder"));
    coll_close(c);
}

static void test_coll_embedder_none(void **state)
{
    fixture *f = *state;
    coll *c = open_coll(f->dir, STORE_CREATE, "none", 0);
    assert_string_equal(embed_id(coll_embedder(c)), "none");
    assert_int_equal(embed_dim(coll_embedder(c)), 0);
    assert_null(coll_vindex(c));
    /* A stale file from an earlier embedder is removed by publishing without vectors. */
    FILE *fp = fopen(f->faiss, "wb");
    assert_non_null(fp);
    fputs("stale", fp);
    fclose(fp);
    lore_err err = {0};
    assert_int_equal(coll_publish(c, &err), 0);
    assert_false(file_exists(f->faiss));
    assert_int_equal(coll_publish(c, &err), 0); /* nothing to remove: still fine */
    coll_close(c);
}

/* ---- publish, load, rebuild ---- */

static void test_coll_publish_reload(void **state)
{
    fixture *f = *state;
    int64_t want[5];
    make_published(f, want);
    assert_int_equal(file_generation(f->faiss), 1);
    /* The first hit for a refund question is the refund article (chunk 1). */
    assert_int_equal(want[0], 1);
    /* Reopened read-only and read-write: the file is loaded as is. */
    expect_rebuilt(f, 0, want);
    coll *c = open_coll(f->dir, STORE_CREATE, NULL, 0);
    assert_int_equal(coll_vindex_rebuilt(c), 0);
    assert_int_equal(vindex_count(coll_vindex(c)), NDOCS);
    coll_close(c);

    /* load_vectors 0: no index, no rebuild, even with the file gone. */
    assert_int_equal(remove(f->faiss), 0);
    coll_open_options o = {STORE_READONLY, NULL, 0, NULL, 0};
    lore_err err = {0};
    assert_int_equal(coll_open(f->dir, &o, &c, &err), 0);
    assert_null(coll_vindex(c));
    assert_int_equal(coll_vindex_rebuilt(c), 0);
    coll_close(c);
    assert_false(file_exists(f->faiss));
}

static void test_coll_rebuild_missing(void **state)
{
    fixture *f = *state;
    int64_t want[5];
    make_published(f, want);
    assert_int_equal(remove(f->faiss), 0);
    expect_rebuilt(f, 1, want);
    /* The rebuilt index was saved: the next open loads it. */
    assert_true(file_exists(f->faiss));
    assert_int_equal(file_generation(f->faiss), 1);
    expect_rebuilt(f, 0, want);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void test_coll_rebuild_corrupt(void **state)
{
    fixture *f = *state;
    int64_t want[5];
    make_published(f, want);
    /* Garbage instead of an index. */
    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 131 + 7);
    write_file(f->faiss, junk, sizeof junk);
    expect_rebuilt(f, 1, want);
    expect_rebuilt(f, 0, want);

    /* Truncated in the middle of the vectors. */
    struct stat sb;
    assert_int_equal(stat(f->faiss, &sb), 0);
    assert_int_equal(truncate(f->faiss, sb.st_size / 2), 0);
    expect_rebuilt(f, 1, want);
    expect_rebuilt(f, 0, want);

    /* Only the header left. */
    assert_int_equal(truncate(f->faiss, 20), 0);
    expect_rebuilt(f, 1, want);

    /* An empty file. */
    write_file(f->faiss, "", 0);
    expect_rebuilt(f, 1, want);
    expect_rebuilt(f, 0, want);
}

static void test_coll_rebuild_stale(void **state)
{
    fixture *f = *state;
    int64_t want[5];
    make_published(f, want);
    /* The database moved on (a crash between commit and publish): generation bumped. */
    coll *c = open_coll(f->dir, STORE_CREATE, NULL, 0);
    lore_err err = {0};
    uint64_t gen = 0;
    assert_int_equal(store_begin(coll_store(c), &err), 0);
    assert_int_equal(store_bump_generation(coll_store(c), &gen, &err), 0);
    assert_int_equal(store_commit(coll_store(c), &err), 0);
    assert_int_equal(gen, 2);
    coll_close(c);
    assert_int_equal(file_generation(f->faiss), 1);
    expect_rebuilt(f, 1, want);
    assert_int_equal(file_generation(f->faiss), 2);
    expect_rebuilt(f, 0, want);
}

static void test_coll_rebuild_count_mismatch(void **state)
{
    fixture *f = *state;
    int64_t want[5];
    make_published(f, want);
    /* A vector written to SQLite without a generation bump or publish (a copy of the
     * database from elsewhere): the counts disagree, so the file is not trusted. */
    coll *c = open_coll(f->dir, STORE_CREATE, NULL, 0);
    lore_err err = {0};
    store *s = coll_store(c);
    const char *text = "A thirteenth article about gift cards.";
    float *v = NULL;
    assert_int_equal(embed_texts_alloc(coll_embedder(c), &text, 1, &v, &err), 0);
    store_article a = {"kb-extra", "Gift cards", NULL, NULL, NULL, "/src/y.md", 1};
    int64_t aid, cid;
    assert_int_equal(store_article_put(s, &a, &aid, &err), 0);
    assert_int_equal(store_chunk_put(s, aid, 0, "Gift cards", text, 999, v, 64, &cid, &err), 0);
    free(v);
    coll_close(c);

    c = open_coll(f->dir, STORE_READONLY, NULL, 0);
    assert_int_equal(coll_vindex_rebuilt(c), 1);
    assert_int_equal(vindex_count(coll_vindex(c)), NDOCS + 1);
    coll_close(c);
}

static void test_coll_window_ids(void **state)
{
    (void)state;
    assert_int_equal(coll_window_id(7, 0), 7); /* window 0: the chunk's own id */
    int64_t id = coll_window_id(123456789, 63);
    assert_true(id > 123456789);
    assert_int_equal(coll_window_chunk(id), 123456789);
    assert_int_equal(coll_window_index(id), 63);
    assert_int_equal(coll_window_chunk(COLL_CHUNK_ID_MASK), COLL_CHUNK_ID_MASK);
    assert_int_equal(coll_window_index(coll_window_id(COLL_CHUNK_ID_MASK, 5)), 5);

    int64_t ids[EMBED_MAX_WINDOWS + 1];
    lore_err err = {0};
    assert_int_equal(coll_window_ids(42, 3, ids, &err), 0);
    for (size_t w = 0; w < 3; w++) {
        assert_int_equal(coll_window_chunk(ids[w]), 42);
        assert_int_equal(coll_window_index(ids[w]), w);
    }
    assert_int_equal(coll_window_ids(42, EMBED_MAX_WINDOWS, ids, &err), 0);
    assert_int_equal(coll_window_ids(42, 0, ids, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "chunk 42"));
    assert_int_equal(coll_window_ids(42, EMBED_MAX_WINDOWS + 1, ids, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "chunk 42"));
    assert_int_equal(coll_window_ids(COLL_CHUNK_ID_MASK + 1, 1, ids, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "out of the vector index's range"));
    assert_int_equal(coll_window_ids(-1, 1, ids, &err), LORE_EINVAL);
}

static void test_coll_windows(void **state)
{
    fixture *f = *state;
    int64_t want[5];
    make_published(f, want);
    /* One more chunk with three windows, committed without a publish. */
    coll *c = open_coll(f->dir, STORE_CREATE, NULL, 0);
    lore_err err = {0};
    store *s = coll_store(c);
    const char *wins[] = {"Gift cards can be bought in the shop.",
                          "Gift card balances never expire.",
                          "Lost gift cards are replaced by support with the receipt."};
    float *v = NULL;
    assert_int_equal(embed_texts_alloc(coll_embedder(c), wins, 3, &v, &err), 0);
    store_article a = {"kb-gift", "Gift cards", NULL, NULL, NULL, "/src/y.md", 1};
    int64_t aid, cid;
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(store_article_put(s, &a, &aid, &err), 0);
    assert_int_equal(store_chunk_put_windows(s, aid, 0, "Gift cards", "long", 998, v, 3, 64,
                                             &cid, &err), 0);
    assert_int_equal(store_bump_generation(s, NULL, &err), 0);
    assert_int_equal(store_commit(s, &err), 0);
    coll_close(c);

    /* Rebuilt with every window under its own id. */
    c = open_coll(f->dir, STORE_CREATE, NULL, 0);
    assert_int_equal(coll_vindex_rebuilt(c), 1);
    assert_int_equal(vindex_count(coll_vindex(c)), NDOCS + 3);
    int64_t id;
    float score;
    size_t n = 0;
    assert_int_equal(vindex_search(coll_vindex(c), v + 2 * 64, 1, &id, &score, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(id, coll_window_id(cid, 2));
    assert_true(score > 0.999f);
    assert_int_equal(coll_publish(c, &err), 0);
    coll_close(c);
    /* The published file holds as many vectors as the store has windows: loaded as is. */
    c = open_coll(f->dir, STORE_CREATE, NULL, 0);
    assert_int_equal(coll_vindex_rebuilt(c), 0);
    assert_int_equal(vindex_count(coll_vindex(c)), NDOCS + 3);
    /* Removing the chunk removes all its windows and nothing else. */
    assert_int_equal(coll_remove_chunks(c, &cid, 1, &err), 0);
    assert_int_equal(vindex_count(coll_vindex(c)), NDOCS);
    int64_t got[5];
    top5(c, got);
    assert_memory_equal(got, want, sizeof got);
    coll_close(c);
    free(v);
}

static void test_coll_ensure_reset(void **state)
{
    fixture *f = *state;
    coll *c = open_coll(f->dir, STORE_CREATE, "hash:64", 0);
    lore_err err = {0};
    assert_null(coll_vindex(c));
    assert_int_equal(coll_ensure_vindex(c, 64, &err), 0);
    vindex *vi = coll_vindex(c);
    assert_non_null(vi);
    assert_int_equal(coll_ensure_vindex(c, 64, &err), 0);
    assert_ptr_equal(coll_vindex(c), vi); /* same dimension: kept */
    assert_int_equal(coll_ensure_vindex(c, 32, &err), 0);
    assert_int_equal(vindex_dim(coll_vindex(c)), 32);
    coll_reset_vindex(c);
    assert_null(coll_vindex(c));
    coll_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coll_names),
        cmocka_unit_test_setup_teardown(test_coll_open_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_readonly_records_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_embedder_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_publish_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_rebuild_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_rebuild_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_rebuild_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_rebuild_count_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coll_ensure_reset, setup, teardown),
        cmocka_unit_test(test_coll_window_ids),
        cmocka_unit_test_setup_teardown(test_coll_windows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
