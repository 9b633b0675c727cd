/* test_vmemo: the text -> vector memo: exact keys, bounded size, and starting over when full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "vmemo.h"

static void vec_of(float *v, int dim, float seed)
{
    for (int i = 0; i < dim; i++)
        v[i] = seed + (float)i;
}

static void test_get_put(void **state)
{
    (void)state;
    vmemo *m = NULL;
    lore_err err;
    assert_int_equal(vmemo_new(4, 8, &m, &err), 0);
    float a[4], b[4];
    vec_of(a, 4, 1.0f);
    vec_of(b, 4, 100.0f);
    assert_null(vmemo_get(m, "alpha", 5));
    assert_int_equal(vmemo_put(m, "alpha", 5, a), 0);
    assert_int_equal(vmemo_put(m, "alphabet", 8, b), 0);
    /* Keys are whole texts: a prefix, a longer text and a text with a NUL are others. */
    const float *g = vmemo_get(m, "alpha", 5);
    assert_non_null(g);
    assert_memory_equal(g, a, sizeof a);
    assert_memory_equal(vmemo_get(m, "alphabet", 8), b, sizeof b);
    assert_null(vmemo_get(m, "alph", 4));
    assert_null(vmemo_get(m, "alpha\0x", 7));
    assert_int_equal(vmemo_put(m, "alpha\0x", 7, b), 0);
    assert_memory_equal(vmemo_get(m, "alpha\0x", 7), b, sizeof b);
    assert_memory_equal(vmemo_get(m, "alpha", 5), a, sizeof a);
    /* Putting a text again keeps the first vector: a text has one vector. */
    assert_int_equal(vmemo_put(m, "alpha", 5, b), 0);
    assert_memory_equal(vmemo_get(m, "alpha", 5), a, sizeof a);
    assert_int_equal(vmemo_count(m), 3);
    assert_int_equal(vmemo_hits(m), 5);
    vmemo_free(m);
}

static void test_full_starts_over(void **state)
{
    (void)state;
    vmemo *m = NULL;
    lore_err err;
    enum { CAP = 100 };
    assert_int_equal(vmemo_new(3, CAP, &m, &err), 0);
    char key[32];
    float v[3];
    for (int i = 0; i < CAP; i++) {
        snprintf(key, sizeof key, "sentence %d", i);
        vec_of(v, 3, (float)i);
        assert_int_equal(vmemo_put(m, key, strlen(key), v), 0);
    }
    assert_int_equal(vmemo_count(m), CAP);
    assert_int_equal(vmemo_resets(m), 0);
    for (int i = 0; i < CAP; i++) {
        snprintf(key, sizeof key, "sentence %d", i);
        const float *g = vmemo_get(m, key, strlen(key));
        assert_non_null(g);
        assert_true(g[0] == (float)i);
    }
    /* One more: the table empties and holds only the newcomer. */
    vec_of(v, 3, -1.0f);
    assert_int_equal(vmemo_put(m, "one more", 8, v), 0);
    assert_int_equal(vmemo_resets(m), 1);
    assert_int_equal(vmemo_count(m), 1);
    assert_null(vmemo_get(m, "sentence 0", 10));
    assert_memory_equal(vmemo_get(m, "one more", 8), v, sizeof v);
    vmemo_free(m);
}

static void test_bad_args(void **state)
{
    (void)state;
    vmemo *m = (vmemo *)&m;
    lore_err err;
    assert_int_equal(vmemo_new(0, 8, &m, &err), LORE_EINVAL);
    assert_null(m);
    assert_int_equal(vmemo_new(8, 0, &m, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "capacity"));
    vmemo_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put),
        cmocka_unit_test(test_full_starts_over),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
