/* Unit tests for sbuf and err: appends keep the buffer NUL-terminated, growth preserves
 * contents across many reallocations, addf formats (including empty and long output), JSON
 * string escaping (quotes, backslashes, control characters, UTF-8 untouched, embedded NUL),
 * reset keeps capacity, detach hands over the memory (and never returns NULL); lore_errf
 * truncates safely and returns its code, lore_err_wrap prefixes "context: " and truncates,
 * NULL records are allowed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <math.h>

#include "err.h"
#include "sbuf.h"

/* ---- sbuf ---- */

static void test_sbuf_empty(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    /* An unused buffer allocates nothing and still reads as "". */
    assert_null(b.buf);
    assert_string_equal(sbuf_str(&b), "");
    assert_int_equal(b.len, 0);
    sbuf_free(&b);
    sbuf_free(&b); /* idempotent */
    assert_null(b.buf);
    assert_int_equal(b.cap, 0);
}

static void test_sbuf_appends(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    assert_int_equal(sbuf_adds(&b, "hello"), 0);
    assert_int_equal(sbuf_addc(&b, ','), 0);
    assert_int_equal(sbuf_add(&b, " world!!!", 6), 0);
    assert_int_equal(sbuf_add(&b, NULL, 0), 0); /* zero bytes: a no-op */
    assert_int_equal(sbuf_adds(&b, ""), 0);
    assert_string_equal(sbuf_str(&b), "hello, world");
    assert_int_equal(b.len, 12);
    assert_true(b.cap > b.len);
    assert_int_equal(b.buf[b.len], '\0');

    /* Binary data with NUL bytes: len counts them, the terminator follows. */
    sbuf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(sbuf_str(&b), "");
    assert_int_equal(sbuf_add(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.buf, "a\0b\0", 4);
    sbuf_free(&b);
}

static void test_sbuf_growth(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    /* 100,000 single bytes force many reallocations; the content must survive each. */
    for (int i = 0; i < 100000; i++)
        assert_int_equal(sbuf_addc(&b, (char)('a' + i % 26)), 0);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap >= 100001);
    for (int i = 0; i < 100000; i++) {
        if (b.buf[i] != (char)('a' + i % 26))
            fail_msg("byte %d is '%c'", i, b.buf[i]);
    }
    assert_int_equal(b.buf[100000], '\0');
    assert_int_equal(strlen(sbuf_str(&b)), 100000);

    /* A large append at once, onto a non-empty buffer. */
    size_t big = 1u << 20;
    char *chunk = malloc(big);
    assert_non_null(chunk);
    memset(chunk, 'z', big);
    assert_int_equal(sbuf_add(&b, chunk, big), 0);
    assert_int_equal(b.len, 100000 + big);
    assert_int_equal(b.buf[99999], (char)('a' + 99999 % 26));
    assert_int_equal(b.buf[100000], 'z');
    assert_int_equal(b.buf[b.len - 1], 'z');
    assert_int_equal(b.buf[b.len], '\0');
    free(chunk);

    /* grow reserves room for extra bytes plus the terminator without changing len. */
    sbuf g = SBUF_INIT;
    assert_int_equal(sbuf_grow(&g, 1000), 0);
    assert_int_equal(g.len, 0);
    assert_true(g.cap >= 1001);
    size_t cap = g.cap;
    assert_int_equal(sbuf_add(&g, "0123456789", 10), 0);
    assert_int_equal(g.cap, cap); /* no reallocation needed */
    /* An impossible request fails cleanly and leaves the contents alone. */
    assert_int_equal(sbuf_grow(&g, (size_t)-1), LORE_ENOMEM);
    assert_int_equal(sbuf_grow(&g, (size_t)-1 - 5), LORE_ENOMEM);
    assert_string_equal(sbuf_str(&g), "0123456789");
    assert_int_equal(g.len, 10);
    sbuf_free(&g);
    sbuf e = SBUF_INIT; /* len + extra + 1 wrapping to exactly len: still refused */
    assert_int_equal(sbuf_grow(&e, (size_t)-1), LORE_ENOMEM);
    assert_int_equal(sbuf_add(&e, "x", (size_t)-1), LORE_ENOMEM);
    assert_null(e.buf);
    assert_int_equal(e.cap, 0);
    sbuf_free(&b);
}

static void test_sbuf_addf(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    assert_int_equal(sbuf_addf(&b, "%s", ""), 0); /* empty output on an empty buffer */
    assert_string_equal(sbuf_str(&b), "");
    assert_int_equal(b.len, 0);
    assert_int_equal(sbuf_addf(&b, "%d-%s-%zu", 42, "x", (size_t)7), 0);
    assert_int_equal(sbuf_addf(&b, "|%.3f|%5s|%-3d|", 3.14159, "ab", 1), 0);
    assert_string_equal(sbuf_str(&b), "42-x-7|3.142|   ab|1  |");
    assert_int_equal(b.len, strlen("42-x-7|3.142|   ab|1  |"));

    /* Output longer than the first allocation: vsnprintf must run twice correctly. */
    char longs[5000];
    memset(longs, 'q', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    sbuf_reset(&b);
    assert_int_equal(sbuf_adds(&b, "<"), 0);
    assert_int_equal(sbuf_addf(&b, "%s>%d", longs, 9), 0);
    assert_int_equal(b.len, 1 + 4999 + 2);
    assert_int_equal(b.buf[0], '<');
    assert_int_equal(b.buf[4999], 'q');
    assert_string_equal(b.buf + 5000, ">9");
    sbuf_free(&b);
}

static char *json_of(const char *s, size_t n)
{
    sbuf b = SBUF_INIT;
    assert_int_equal(sbuf_add_json_str(&b, s, n), 0);
    return sbuf_detach(&b);
}

static void test_sbuf_json(void **state)
{
    (void)state;
    struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain text", 10, "\"plain text\""},
        {"say \"hi\"", 8, "\"say \\\"hi\\\"\""},
        {"back\\slash", 10, "\"back\\\\slash\""},
        {"a\nb\rc\td", 7, "\"a\\nb\\rc\\td\""},
        {"\x01\x1f\x08\x0c", 4, "\"\\u0001\\u001f\\u0008\\u000c\""},
        {"nul\0byte", 8, "\"nul\\u0000byte\""},
        /* UTF-8 and DEL pass through; '/' needs no escape. */
        {"caf\xc3\xa9 \xe9\x80\x80\xe6\xac\xbe / \x7f", 16,
         "\"caf\xc3\xa9 \xe9\x80\x80\xe6\xac\xbe / \x7f\""},
        /* Only n bytes are read. */
        {"abcdef", 3, "\"abc\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = json_of(cases[i].in, cases[i].n);
        if (strcmp(got, cases[i].out) != 0)
            fail_msg("case %zu: got %s, want %s", i, got, cases[i].out);
        free(got);
    }
    /* Appends after existing content. */
    sbuf b = SBUF_INIT;
    assert_int_equal(sbuf_adds(&b, "{\"k\":"), 0);
    assert_int_equal(sbuf_add_json_str(&b, "v\"", 2), 0);
    assert_int_equal(sbuf_addc(&b, '}'), 0);
    assert_string_equal(sbuf_str(&b), "{\"k\":\"v\\\"\"}");
    sbuf_free(&b);
}

static void test_sbuf_detach(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    /* Detaching an unused buffer still gives a freeable "". */
    char *p = sbuf_detach(&b);
    assert_non_null(p);
    assert_string_equal(p, "");
    free(p);

    assert_int_equal(sbuf_adds(&b, "owned"), 0);
    char *old = b.buf;
    p = sbuf_detach(&b);
    assert_ptr_equal(p, old); /* the same memory, handed over */
    assert_string_equal(p, "owned");
    assert_null(b.buf);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_string_equal(sbuf_str(&b), "");
    /* The buffer is reusable after detaching. */
    assert_int_equal(sbuf_adds(&b, "again"), 0);
    assert_string_equal(sbuf_str(&b), "again");
    assert_ptr_not_equal(b.buf, p);
    free(p);
    sbuf_free(&b);

    /* reset keeps the allocation for reuse. */
    assert_int_equal(sbuf_adds(&b, "0123456789"), 0);
    size_t cap = b.cap;
    char *mem = b.buf;
    sbuf_reset(&b);
    assert_int_equal(b.cap, cap);
    assert_ptr_equal(b.buf, mem);
    assert_string_equal(sbuf_str(&b), "");
    sbuf_reset(&b);
    sbuf_free(&b);
    sbuf_reset(&b); /* on a freed buffer: harmless */
    assert_string_equal(sbuf_str(&b), "");
}

/* ---- err ---- */

static void test_err_format(void **state)
{
    (void)state;
    lore_err err;
    memset(&err, 0x55, sizeof err);
    assert_int_equal(lore_errf(&err, LORE_EINVAL, "bad value '%s' at line %d", "x", 3),
                     LORE_EINVAL);
    assert_int_equal(err.code, LORE_EINVAL);
    assert_string_equal(err.msg, "bad value 'x' at line 3");
    /* NULL records are allowed: the code still comes back. */
    assert_int_equal(lore_errf(NULL, LORE_EIO, "ignored %d", 1), LORE_EIO);
    lore_err_clear(NULL);
    lore_err_clear(&err);
    assert_int_equal(err.code, 0);
    assert_string_equal(err.msg, "");

    /* A message longer than the record is truncated and terminated. */
    char longs[3000];
    memset(longs, 'm', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    assert_int_equal(lore_errf(&err, LORE_EDB, "%s", longs), LORE_EDB);
    assert_int_equal(strlen(err.msg), sizeof err.msg - 1);
}

static void test_err_wrap(void **state)
{
    (void)state;
    lore_err err;
    lore_errf(&err, LORE_ENOTFOUND, "no such file");
    assert_int_equal(lore_err_wrap(&err, "reading %s", "a.md"), LORE_ENOTFOUND);
    assert_string_equal(err.msg, "reading a.md: no such file");
    assert_int_equal(err.code, LORE_ENOTFOUND);
    assert_int_equal(lore_err_wrap(&err, "indexing"), LORE_ENOTFOUND);
    assert_string_equal(err.msg, "indexing: reading a.md: no such file");

    /* Wrapping an empty message. */
    lore_err_clear(&err);
    err.code = LORE_EIO;
    assert_int_equal(lore_err_wrap(&err, "ctx"), LORE_EIO);
    assert_string_equal(err.msg, "ctx: ");

    /* A full message keeps the whole prefix and a truncated, terminated tail. */
    char longs[2000];
    memset(longs, 'o', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    lore_errf(&err, LORE_EDB, "%s", longs);
    assert_int_equal(lore_err_wrap(&err, "prefix"), LORE_EDB);
    assert_int_equal(strlen(err.msg), sizeof err.msg - 1);
    assert_memory_equal(err.msg, "prefix: ooo", 11);

    /* A very long prefix (over the 512-byte prefix buffer) is cut, never overflows. */
    char longp[800];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    lore_errf(&err, LORE_EIO, "tail");
    lore_err_wrap(&err, "%s", longp);
    size_t n = strlen(err.msg);
    assert_true(n < sizeof err.msg);
    assert_string_equal(err.msg + n - 6, ": tail");
    assert_int_equal(err.msg[0], 'p');
}

/* Numbers read the way cJSON prints them: byte for byte over integers, fractions that need
 * 15 and 17 digits, magnitudes past int, tiny and huge values; NaN and infinities as null. */
static void test_sbuf_json_num(void **state)
{
    (void)state;
    const double vals[] = {0.0, 1.0, -7.0, 42.0, 0.1, 1.0 / 3.0, -2.5, 0.61, 7.5e-9,
                           1e300, -1e-300, 3e9, -3e9, 2147483647.0, 2147483648.5,
                           0.30000000000000004, 12.345678901234567, 1.0 - 1e-16};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        cJSON *n = cJSON_CreateNumber(vals[i]);
        char *want = cJSON_PrintUnformatted(n);
        sbuf b = SBUF_INIT;
        assert_int_equal(sbuf_add_json_num(&b, vals[i]), 0);
        assert_string_equal(sbuf_str(&b), want);
        /* And it reads back as the same number. */
        cJSON *back = cJSON_Parse(sbuf_str(&b));
        assert_non_null(back);
        assert_true(back->valuedouble == vals[i] ||
                    fabs(back->valuedouble - vals[i]) <= fabs(vals[i]) * 1e-15);
        cJSON_Delete(back);
        sbuf_free(&b);
        free(want);
        cJSON_Delete(n);
    }
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        sbuf b = SBUF_INIT;
        assert_int_equal(sbuf_add_json_num(&b, bad[i]), 0);
        assert_string_equal(sbuf_str(&b), "null");
        sbuf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sbuf_empty),  cmocka_unit_test(test_sbuf_appends),
        cmocka_unit_test(test_sbuf_growth), cmocka_unit_test(test_sbuf_addf),
        cmocka_unit_test(test_sbuf_json), cmocka_unit_test(test_sbuf_json_num),   cmocka_unit_test(test_sbuf_detach),
        cmocka_unit_test(test_err_format),  cmocka_unit_test(test_err_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
