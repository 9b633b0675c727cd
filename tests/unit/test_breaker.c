/* test_breaker: the circuit breaker's states: closed, open after failures in a row, one probe
 * after the cooldown (half-open), closed again by a successful probe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "breaker.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_opens_and_recovers(void **state)
{
    (void)state;
    breaker *b = NULL;
    lore_err err;
    assert_int_equal(breaker_new(2, 100, &b, &err), 0);
    int probe = -1;
    assert_true(breaker_allow(b, &probe));
    assert_int_equal(probe, 0);
    assert_int_equal(breaker_get(b), BREAKER_CLOSED);
    /* Failures that do not count (a client error) leave it closed. */
    breaker_result(b, 0, 0, 0);
    breaker_result(b, 0, 0, 0);
    breaker_result(b, 0, 0, 0);
    assert_int_equal(breaker_get(b), BREAKER_CLOSED);
    /* A success between failures resets the run. */
    breaker_result(b, 0, 0, 1);
    breaker_result(b, 0, 1, 0);
    breaker_result(b, 0, 0, 1);
    assert_int_equal(breaker_get(b), BREAKER_CLOSED);
    breaker_result(b, 0, 0, 1);
    assert_int_equal(breaker_get(b), BREAKER_OPEN);
    assert_false(breaker_allow(b, &probe));
    assert_string_equal(breaker_state_name(breaker_get(b)), "open");

    /* After the cooldown exactly one caller probes. */
    sleep_ms(130);
    assert_true(breaker_allow(b, &probe));
    assert_int_equal(probe, 1);
    assert_int_equal(breaker_get(b), BREAKER_HALF_OPEN);
    int other = -1;
    assert_false(breaker_allow(b, &other));
    /* The probe fails: open again, for another cooldown. */
    breaker_result(b, 1, 0, 1);
    assert_int_equal(breaker_get(b), BREAKER_OPEN);
    assert_false(breaker_allow(b, &probe));
    sleep_ms(130);
    assert_true(breaker_allow(b, &probe));
    assert_int_equal(probe, 1);
    /* The probe succeeds: closed, everyone passes. */
    breaker_result(b, 1, 1, 0);
    assert_int_equal(breaker_get(b), BREAKER_CLOSED);
    assert_true(breaker_allow(b, &probe));
    assert_int_equal(probe, 0);
    assert_true(breaker_allow(b, &other));
    breaker_free(b);
}

static void test_limits(void **state)
{
    (void)state;
    breaker *b = NULL;
    lore_err err;
    /* failures < 1 is 1; cooldown < 0 is 0 (a probe at once). */
    assert_int_equal(breaker_new(0, -5, &b, &err), 0);
    breaker_result(b, 0, 0, 1);
    assert_int_equal(breaker_get(b), BREAKER_OPEN);
    int probe = 0;
    assert_true(breaker_allow(b, &probe));
    assert_int_equal(probe, 1);
    assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
    assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
    breaker_free(b);
    breaker_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_and_recovers),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
