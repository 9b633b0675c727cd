/* Unit tests for acache: question normalisation (case, NFKC, white space, trailing
 * punctuation), hits and misses by collection, generation and variant, LRU eviction order,
 * replacing an entry, a zero-capacity cache, and invalid UTF-8. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acache.h"

static void test_normalize(void **state)
{
    (void)state;
    char *a = acache_normalize("  How do I  RESET\tmy password?? ");
    assert_string_equal(a, "how do i reset my password");
    free(a);
    /* NFKC: fullwidth letters fold to ASCII. */
    char *b = acache_normalize("\xef\xbc\xb2\xef\xbc\xa5\xef\xbc\xb3\xef\xbc\xa5\xef\xbc\xb4 password!");
    assert_string_equal(b, "reset password");
    free(b);
    char *c = acache_normalize("...");
    assert_string_equal(c, "");
    free(c);
    assert_null(acache_normalize("caf\xe9"));
}

static void test_hits(void **state)
{
    (void)state;
    acache *c;
    assert_int_equal(acache_new(8, &c, NULL), 0);
    acache_key k = {"default", 7, "How do I reset my password?", 0, 1};
    assert_null(acache_get(c, &k));
    assert_int_equal(acache_put(c, &k, "{\"a\":1}", NULL), 0);
    acache_key same = {"default", 7, "how do i reset my password", 0, 1};
    char *v = acache_get(c, &same);
    assert_non_null(v);
    assert_string_equal(v, "{\"a\":1}");
    free(v);
    /* Another generation, collection, variant or configuration epoch is another answer. */
    acache_key gen = {"default", 8, "How do I reset my password?", 0, 1};
    acache_key coll = {"other", 7, "How do I reset my password?", 0, 1};
    acache_key var = {"default", 7, "How do I reset my password?", 1, 1};
    acache_key conf = {"default", 7, "How do I reset my password?", 0, 2};
    assert_null(acache_get(c, &gen));
    assert_null(acache_get(c, &coll));
    assert_null(acache_get(c, &var));
    assert_null(acache_get(c, &conf));
    /* Replacing keeps one entry. */
    assert_int_equal(acache_put(c, &same, "{\"a\":2}", NULL), 0);
    assert_int_equal(acache_count(c), 1);
    v = acache_get(c, &k);
    assert_string_equal(v, "{\"a\":2}");
    free(v);
    acache_free(c);
}

static void test_lru(void **state)
{
    (void)state;
    acache *c;
    assert_int_equal(acache_new(3, &c, NULL), 0);
    char q[32], val[32];
    for (int i = 0; i < 3; i++) {
        snprintf(q, sizeof q, "question %d", i);
        snprintf(val, sizeof val, "%d", i);
        acache_key k = {"c", 1, q, 0, 1};
        assert_int_equal(acache_put(c, &k, val, NULL), 0);
    }
    /* Touch 0, so 1 is the least recently used when 3 comes in. */
    acache_key k0 = {"c", 1, "question 0", 0, 1};
    free(acache_get(c, &k0));
    acache_key k3 = {"c", 1, "question 3", 0, 1};
    assert_int_equal(acache_put(c, &k3, "3", NULL), 0);
    assert_int_equal(acache_count(c), 3);
    acache_key k1 = {"c", 1, "question 1", 0, 1};
    acache_key k2 = {"c", 1, "question 2", 0, 1};
    assert_null(acache_get(c, &k1));
    char *v;
    assert_non_null(v = acache_get(c, &k0));
    free(v);
    assert_non_null(v = acache_get(c, &k2));
    free(v);
    assert_non_null(v = acache_get(c, &k3));
    free(v);
    acache_free(c);
}

static void test_disabled(void **state)
{
    (void)state;
    acache *c;
    assert_int_equal(acache_new(0, &c, NULL), 0);
    acache_key k = {"c", 1, "q", 0, 1};
    assert_int_equal(acache_put(c, &k, "v", NULL), 0);
    assert_null(acache_get(c, &k));
    assert_int_equal(acache_count(c), 0);
    acache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize), cmocka_unit_test(test_hits),
        cmocka_unit_test(test_lru), cmocka_unit_test(test_disabled)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
