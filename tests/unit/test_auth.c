/* Unit tests for auth: keys file parsing (comments, wildcard, errors naming the line and
 * never the key), the Bearer check's four outcomes, the constant-time comparison's results
 * on equal, different, shorter, longer and empty inputs, and an open service. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define K1 "default-key-0123456789"
#define KA "wildcard-key-abcdefghij"

static void test_equal(void **state)
{
    (void)state;
    assert_true(auth_equal("abcdef", 6, "abcdef", 6));
    assert_false(auth_equal("abcdeg", 6, "abcdef", 6));
    assert_false(auth_equal("Abcdef", 6, "abcdef", 6));
    assert_false(auth_equal("abcde", 5, "abcdef", 6));
    assert_false(auth_equal("abcdefg", 7, "abcdef", 6));
    /* A repetition of a prefix must not pass for the key (cyclic reading of short input). */
    assert_false(auth_equal("abc", 3, "abcabc", 6));
    assert_false(auth_equal("", 0, "abcdef", 6));
}

static void test_parse(void **state)
{
    (void)state;
    auth *a;
    lore_err err = {0};
    assert_int_equal(auth_parse("# keys\n\ndefault " K1 "\r\n* " KA "\n", "keys", &a, &err), 0);
    assert_true(auth_enabled(a));
    auth_free(a);
    assert_int_equal(auth_parse("default short\n", "keys", &a, &err), LORE_EINVAL);
    assert_string_equal(err.msg, "keys:1: a key must be 16 to 256 printable characters without spaces");
    assert_null(strstr(err.msg, "short"));
    assert_int_equal(auth_parse("\n../x " K1 "\n", "keys", &a, &err), LORE_EINVAL);
    assert_string_equal(err.msg, "keys:2: bad collection name '../x'");
    assert_int_equal(auth_parse("default\n", "keys", &a, &err), LORE_EINVAL);
    assert_string_equal(err.msg, "keys:1: want \"COLLECTION KEY\"");
    assert_int_equal(auth_parse("# nothing\n", "keys", &a, &err), LORE_EINVAL);
    assert_string_equal(err.msg, "keys: no keys (want lines \"COLLECTION KEY\")");
    assert_int_equal(auth_load("/nonexistent/keys", &a, &err), LORE_EIO);
    assert_string_equal(err.msg, "cannot read keys file /nonexistent/keys");
}

static void test_check(void **state)
{
    (void)state;
    auth *a;
    assert_int_equal(auth_parse("default " K1 "\n* " KA "\n", "keys", &a, NULL), 0);
    assert_int_equal(auth_check(a, NULL, "default"), AUTH_MISSING);
    assert_int_equal(auth_check(a, "Basic abc", "default"), AUTH_MISSING);
    assert_int_equal(auth_check(a, "Bearer ", "default"), AUTH_MISSING);
    assert_int_equal(auth_check(a, "Bearer nope-nope-nope-nope", "default"), AUTH_INVALID);
    assert_int_equal(auth_check(a, "Bearer " K1, "default"), AUTH_OK);
    assert_int_equal(auth_check(a, "bearer " K1, "default"), AUTH_OK);
    assert_int_equal(auth_check(a, "Bearer " K1, "other"), AUTH_FORBIDDEN);
    assert_int_equal(auth_check(a, "Bearer " K1, NULL), AUTH_OK);
    assert_int_equal(auth_check(a, "Bearer " KA, "other"), AUTH_OK);
    assert_int_equal(auth_check(a, "Bearer " K1 "x", "default"), AUTH_INVALID);
    assert_true(auth_grants(a, "Bearer " K1, "default"));
    assert_false(auth_grants(a, "Bearer " K1, "other"));
    auth_free(a);
    /* No keys: open. */
    assert_false(auth_enabled(NULL));
    assert_int_equal(auth_check(NULL, NULL, "default"), AUTH_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_equal), cmocka_unit_test(test_parse),
                                       cmocka_unit_test(test_check)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
