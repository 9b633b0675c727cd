/* Unit tests for chunkcache over a real store in a temporary directory: a get returns what
 * store_chunk_get returns (NULL url and locale included), the second get of a chunk is a hit
 * served from memory, and the caller's copies are its own (freeing them leaves the cache
 * intact); a missing chunk is LORE_ENOTFOUND and not cached; the bytes stay within the
 * budget as entries are evicted; a chunk read again keeps its place (CLOCK second chance)
 * while one-off reads are evicted; an entry larger than the budget and a budget of 0 cache
 * nothing; a new generation empties the cache (a re-read chunk shows its new text) and the
 * same generation keeps it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkcache.h"
#include "store.h"
#include "testutil.h"

#define NCHUNKS 40

typedef struct fixture {
    char root[PATH_MAX / 2];
    char dir[PATH_MAX];
    store *st;
    int64_t aid;
    int64_t ids[NCHUNKS];
} fixture;

static void put_chunk(fixture *f, int ordinal, const char *body, int64_t *id)
{
    lore_err err = {0};
    char heading[32];
    snprintf(heading, sizeof heading, "Heading %d", ordinal);
    if (store_chunk_put(f->st, f->aid, ordinal, heading, body, (uint64_t)ordinal + 1, NULL, 0,
                        id, &err) != 0)
        fail_msg("chunk_put: %s", err.msg);
}

/* One article (no url) with NCHUNKS chunks of about 1 KB each. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tu_mkdtemp("chunkcache", f->root, sizeof f->root);
    snprintf(f->dir, sizeof f->dir, "%s/coll", f->root);
    lore_err err = {0};
    assert_int_equal(store_open(f->dir, STORE_CREATE, &f->st, &err), 0);
    assert_int_equal(store_begin(f->st, &err), 0);
    store_article a = {"kb-1", "Title", NULL, NULL, NULL, "/src/a.md", 1};
    assert_int_equal(store_article_put(f->st, &a, &f->aid, &err), 0);
    char body[1100];
    for (int i = 0; i < NCHUNKS; i++) {
        memset(body, 'a' + i % 26, 1000);
        snprintf(body + 1000, sizeof body - 1000, " chunk %d", i);
        put_chunk(f, i, body, &f->ids[i]);
    }
    assert_int_equal(store_bump_generation(f->st, NULL, &err), 0);
    assert_int_equal(store_commit(f->st, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    tu_rm_rf(f->root);
    free(f);
    return 0;
}

static chunkcache *cache_new(size_t bytes)
{
    chunkcache *cc = NULL;
    lore_err err = {0};
    assert_int_equal(chunkcache_new(bytes, &cc, &err), 0);
    return cc;
}

static void get_ok(chunkcache *cc, fixture *f, int64_t id, store_chunk_info *out)
{
    lore_err err = {0};
    int rc = chunkcache_get(cc, f->st, id, out, &err);
    if (rc != 0)
        fail_msg("chunkcache_get %lld: %d %s", (long long)id, rc, err.msg);
}

static chunkcache_stats stats(const chunkcache *cc)
{
    chunkcache_stats s;
    chunkcache_stats_get(cc, &s);
    return s;
}

static void test_read_through(void **state)
{
    fixture *f = *state;
    chunkcache *cc = cache_new((size_t)1 << 20);
    store_chunk_info want, got;
    lore_err err = {0};
    assert_int_equal(store_chunk_get(f->st, f->ids[3], &want, &err), 0);
    for (int round = 0; round < 2; round++) {
        get_ok(cc, f, f->ids[3], &got);
        assert_int_equal(got.chunk_id, want.chunk_id);
        assert_int_equal(got.ordinal, 3);
        assert_string_equal(got.article_ext_id, want.article_ext_id);
        assert_string_equal(got.title, want.title);
        assert_null(got.url);
        assert_null(got.locale);
        assert_string_equal(got.heading, want.heading);
        assert_string_equal(got.body, want.body);
        /* The caller's copy: scribbling on it and freeing it leaves the cache alone. */
        got.body[0] = 'X';
        store_chunk_info_free(&got);
    }
    chunkcache_stats s = stats(cc);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.entries, 1);
    get_ok(cc, f, f->ids[3], &got);
    assert_string_equal(got.body, want.body);
    store_chunk_info_free(&got);
    store_chunk_info_free(&want);
    /* Missing: LORE_ENOTFOUND, and nothing cached. */
    assert_int_equal(chunkcache_get(cc, f->st, 999999, &got, &err), LORE_ENOTFOUND);
    assert_int_equal(stats(cc).entries, 1);
    chunkcache_free(cc);
}

static void test_bounded_clock(void **state)
{
    fixture *f = *state;
    /* Room for about 10 of the 1 KB chunks. */
    size_t budget = 12 * 1024;
    chunkcache *cc = cache_new(budget);
    store_chunk_info got;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < NCHUNKS; i++) {
            get_ok(cc, f, f->ids[i], &got);
            store_chunk_info_free(&got);
            /* Chunk 0 is asked for between every other read: it stays. */
            get_ok(cc, f, f->ids[0], &got);
            store_chunk_info_free(&got);
            assert_true(stats(cc).bytes <= budget);
        }
    }
    chunkcache_stats s = stats(cc);
    assert_true(s.entries >= 5 && s.entries <= 12);
    assert_true(s.evictions > 0);
    /* Chunk 0 missed once only, at the very start. */
    assert_int_equal(s.misses, 1 + 3 * (NCHUNKS - 1));
    chunkcache_free(cc);
}

static void test_too_big_or_disabled(void **state)
{
    fixture *f = *state;
    chunkcache *cc = cache_new(512); /* less than one chunk */
    store_chunk_info got;
    for (int i = 0; i < 2; i++) {
        get_ok(cc, f, f->ids[1], &got);
        assert_non_null(strstr(got.body, "chunk 1"));
        store_chunk_info_free(&got);
    }
    assert_int_equal(stats(cc).entries, 0);
    assert_int_equal(stats(cc).misses, 2);
    chunkcache_free(cc);
    cc = cache_new(0);
    get_ok(cc, f, f->ids[1], &got);
    store_chunk_info_free(&got);
    assert_int_equal(stats(cc).entries, 0);
    assert_int_equal(stats(cc).bytes, 0);
    chunkcache_free(cc);
}

static void test_generation(void **state)
{
    fixture *f = *state;
    chunkcache *cc = cache_new((size_t)1 << 20);
    lore_err err = {0};
    uint64_t gen;
    assert_int_equal(store_generation(f->st, &gen, &err), 0);
    chunkcache_set_generation(cc, gen);
    store_chunk_info got;
    int64_t last = f->ids[NCHUNKS - 1];
    get_ok(cc, f, last, &got);
    assert_non_null(strstr(got.body, "chunk 39"));
    store_chunk_info_free(&got);
    chunkcache_set_generation(cc, gen); /* unchanged: kept */
    assert_int_equal(stats(cc).entries, 1);

    /* Re-index the last chunk with new text: it gets the same id back. */
    int64_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(store_begin(f->st, &err), 0);
    assert_int_equal(store_article_clear_chunks(f->st, f->aid, &ids, &n, &err), 0);
    free(ids);
    for (int i = 0; i < NCHUNKS; i++)
        put_chunk(f, i, i == NCHUNKS - 1 ? "rewritten" : "other", &f->ids[i]);
    assert_int_equal(store_bump_generation(f->st, &gen, &err), 0);
    assert_int_equal(store_commit(f->st, &err), 0);

    assert_int_equal(f->ids[NCHUNKS - 1], last);
    chunkcache_set_generation(cc, gen);
    assert_int_equal(stats(cc).entries, 0);
    get_ok(cc, f, last, &got);
    assert_string_equal(got.body, "rewritten");
    store_chunk_info_free(&got);
    chunkcache_free(cc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big_or_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
