/* Unit tests for chunkcache over a real store in a temporary directory: a get returns what
 * store_chunk_get returns (NULL url and locale included), the second get of a chunk is a hit
 * served from memory (the same strings); a missing chunk is LORE_ENOTFOUND and not cached;
 * the bytes stay within the budget as entries are evicted; a chunk read again keeps its
 * place (CLOCK second chance) while one-off reads are evicted; every view of a read window
 * stays intact when the window reads more than the budget holds, and the budget still
 * holds; an entry larger than the budget and a budget of 0 cache nothing but their views
 * last the window; a new generation empties the cache (a re-read chunk shows its new text)
 * and the same generation keeps it. Run under AddressSanitizer, a view used after the cache
 * freed it fails the test. */
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
    const char *first_body = NULL;
    lore_err err = {0};
    assert_int_equal(store_chunk_get(f->st, f->ids[3], &want, &err), 0);
    for (int round = 0; round < 2; round++) {
        chunkcache_begin(cc);
        get_ok(cc, f, f->ids[3], &got);
        assert_int_equal(got.chunk_id, want.chunk_id);
        assert_int_equal(got.ordinal, 3);
        assert_string_equal(got.article_ext_id, want.article_ext_id);
        assert_string_equal(got.title, want.title);
        assert_null(got.url);
        assert_null(got.locale);
        assert_string_equal(got.heading, want.heading);
        assert_string_equal(got.body, want.body);
        /* A hit hands out the cached strings themselves. */
        if (round == 0)
            first_body = got.body;
        else
            assert_ptr_equal(got.body, first_body);
    }
    chunkcache_stats s = stats(cc);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.entries, 1);
    get_ok(cc, f, f->ids[3], &got);
    assert_string_equal(got.body, want.body);
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
            chunkcache_begin(cc);
            get_ok(cc, f, f->ids[i], &got);
            /* Chunk 0 is asked for between every other read: it stays. */
            chunkcache_begin(cc);
            get_ok(cc, f, f->ids[0], &got);
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

/* One window reads all 40 chunks through a budget of about 10: every view stays readable
 * to the window's end, the budget holds, and the next windows evict as usual. */
static void test_window_views_stay(void **state)
{
    fixture *f = *state;
    size_t budget = 12 * 1024;
    chunkcache *cc = cache_new(budget);
    store_chunk_info got[NCHUNKS];
    char want[32];
    for (int round = 0; round < 2; round++) {
        chunkcache_begin(cc);
        for (int i = 0; i < NCHUNKS; i++) {
            get_ok(cc, f, f->ids[i], &got[i]);
            assert_true(stats(cc).bytes <= budget);
        }
        for (int i = 0; i < NCHUNKS; i++) {
            snprintf(want, sizeof want, " chunk %d", i);
            assert_int_equal(strlen(got[i].body), 1000 + strlen(want));
            assert_string_equal(got[i].body + 1000, want);
            assert_int_equal(got[i].body[0], 'a' + i % 26);
            assert_int_equal(got[i].chunk_id, f->ids[i]);
        }
    }
    /* The second round found the first round's cached chunks (none was evicted while its
     * window lasted, and the next window let the cache keep the ones it had). */
    chunkcache_stats s = stats(cc);
    assert_true(s.entries >= 5 && s.entries <= 12);
    assert_true(s.hits >= 5);
    assert_int_equal(s.hits + s.misses, 2 * NCHUNKS);
    /* One-off reads in later windows evict again. */
    uint64_t ev = s.evictions;
    for (int i = 0; i < NCHUNKS; i++) {
        chunkcache_begin(cc);
        get_ok(cc, f, f->ids[i], &got[0]);
    }
    assert_true(stats(cc).evictions > ev);
    assert_true(stats(cc).bytes <= budget);
    chunkcache_free(cc);
}

static void test_too_big_or_disabled(void **state)
{
    fixture *f = *state;
    chunkcache *cc = cache_new(512); /* less than one chunk */
    store_chunk_info got, again;
    chunkcache_begin(cc);
    get_ok(cc, f, f->ids[1], &got);
    get_ok(cc, f, f->ids[1], &again);
    /* Both views last the window though neither was cached. */
    assert_non_null(strstr(got.body, "chunk 1"));
    assert_non_null(strstr(again.body, "chunk 1"));
    assert_ptr_not_equal(got.body, again.body);
    assert_int_equal(stats(cc).entries, 0);
    assert_int_equal(stats(cc).misses, 2);
    chunkcache_begin(cc);
    chunkcache_free(cc);
    cc = cache_new(0);
    chunkcache_begin(cc);
    get_ok(cc, f, f->ids[1], &got);
    assert_non_null(strstr(got.body, "chunk 1"));
    assert_int_equal(stats(cc).entries, 0);
    assert_int_equal(stats(cc).bytes, 0);
    chunkcache_free(cc); /* frees the held chunk: LeakSanitizer would see it otherwise */
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
    chunkcache_free(cc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_views_stay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big_or_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
