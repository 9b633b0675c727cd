/* test_pii: what is masked and what is left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pii.h"

static void expect(const char *in, unsigned mask, const char *want, size_t want_n)
{
    char *out = NULL;
    size_t n = 99;
    lore_err err = {0, ""};
    assert_int_equal(pii_redact(in, mask, &out, &n, &err), 0);
    if (strcmp(out, want) != 0)
        fail_msg("redact(\"%s\"):\n  got  \"%s\"\n  want \"%s\"", in, out, want);
    assert_int_equal(n, want_n);
    free(out);
}

static void test_email(void **state)
{
    (void)state;
    expect("mail me at jane.doe+help@example.co.uk please", PII_ALL, "mail me at [email] please", 1);
    expect("a@b.com.", PII_ALL, "[email].", 1);
    expect("two: x@y.org, z_1@sub.example.net", PII_ALL, "two: [email], [email]", 2);
    /* Not emails: no domain dot, a one-letter TLD, a bare @. */
    expect("ping @channel or user@localhost", PII_ALL, "ping @channel or user@localhost", 0);
    expect("x@y.z", PII_ALL, "x@y.z", 0);
    /* Switched off. */
    expect("jane@example.com", PII_ALL & ~PII_EMAIL, "jane@example.com", 0);
}

static void test_luhn(void **state)
{
    (void)state;
    assert_true(pii_luhn("4111111111111111", 16));
    assert_true(pii_luhn("79927398713", 11));
    assert_false(pii_luhn("4111111111111112", 16));
}

static void test_cards(void **state)
{
    (void)state;
    expect("card 4111 1111 1111 1111 exp 12/27", PII_ALL, "card [card] exp 12/27", 1);
    expect("4111-1111-1111-1111", PII_ALL, "[card]", 1);
    expect("amex 378282246310005.", PII_ALL, "amex [card].", 1);
    /* Fails Luhn: not a card (and too long, with no separators, to be a phone). */
    expect("order 4111111111111112 shipped", PII_ALL, "order 4111111111111112 shipped", 0);
    expect("4111 1111 1111 1111", PII_ALL & ~PII_CARD & ~PII_PHONE, "4111 1111 1111 1111", 0);
}

static void test_iban(void **state)
{
    (void)state;
    assert_true(pii_iban_valid("GB82WEST12345698765432", 22));
    assert_false(pii_iban_valid("GB82WEST12345698765433", 22));
    expect("pay to GB82 WEST 1234 5698 7654 32 today", PII_ALL, "pay to [iban] today", 1);
    expect("DE89370400440532013000", PII_ALL, "[iban]", 1);
    /* A wrong check digit is left alone. */
    expect("GB83WEST12345698765432", PII_ALL & ~PII_PHONE, "GB83WEST12345698765432", 0);
    expect("DE89370400440532013000", PII_ALL & ~PII_IBAN & ~PII_PHONE, "DE89370400440532013000", 0);
}

static void test_phones(void **state)
{
    (void)state;
    expect("call +44 20 7946 0958 now", PII_ALL, "call [phone] now", 1);
    expect("call (555) 013-4567 or 555-0134", PII_ALL, "call [phone] or [phone]", 2);
    expect("mobile 07700900123", PII_ALL, "mobile [phone]", 1);
    expect("+14155550100", PII_ALL, "[phone]", 1);
    /* Left alone: dates, error codes, prices, versions, short numbers, plain counts. */
    expect("on 2024-01-31 error E1042 cost $10 v1.2.3 in 14 days for 1500 users", PII_ALL,
           "on 2024-01-31 error E1042 cost $10 v1.2.3 in 14 days for 1500 users", 0);
    expect("order 12345678", PII_ALL, "order 12345678", 0);
    expect("+44 20 7946 0958", PII_ALL & ~PII_PHONE, "+44 20 7946 0958", 0);
}

static void test_mixed_and_utf8(void **state)
{
    (void)state;
    expect("我的邮箱是 li@example.cn，电话 +86 138 0013 8000。", PII_ALL,
           "我的邮箱是 [email]，电话 [phone]。", 2);
    expect("", PII_ALL, "", 0);
    char *out = NULL;
    assert_int_equal(pii_redact("x@y.com", PII_ALL, &out, NULL, NULL), 0);
    assert_string_equal(out, "[email]");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email),  cmocka_unit_test(test_luhn),
        cmocka_unit_test(test_cards),  cmocka_unit_test(test_iban),
        cmocka_unit_test(test_phones), cmocka_unit_test(test_mixed_and_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
