/* Unit tests for calib: answered precision and coverage at a threshold (answered means
 * conf >= threshold; nothing answered gives precision 1), ECE against a hand computation and
 * 0 for perfectly calibrated bins, AUROC 1 / 0 / 0.5 for perfect, reversed and tied
 * confidences and ties counting half, the reliability bins, and the precision-coverage curve
 * in confidence order. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "calib.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-12)

static void test_summary(void **state)
{
    (void)state;
    double conf[] = {0.95, 0.9, 0.86, 0.5, 0.2};
    int ok[] = {1, 1, 0, 1, 0};
    calib_summary s;
    assert_int_equal(calib_summarise(conf, ok, 5, 0.85, 10, &s, NULL), 0);
    assert_int_equal(s.answered, 3);
    assert_int_equal(s.answered_correct, 2);
    NEAR(s.precision, 2.0 / 3.0);
    NEAR(s.coverage, 0.6);
    assert_int_equal(s.correct, 3);
    /* Pairs (correct, wrong): 0.95>0.86, 0.95>0.2, 0.9>0.86, 0.9>0.2, 0.5<0.86, 0.5>0.2. */
    NEAR(s.auroc, 5.0 / 6.0);
    double brier = (0.05 * 0.05 + 0.1 * 0.1 + 0.86 * 0.86 + 0.5 * 0.5 + 0.2 * 0.2) / 5;
    NEAR(s.brier, brier);
    /* The threshold is inclusive. */
    assert_int_equal(calib_summarise(conf, ok, 5, 0.9, 10, &s, NULL), 0);
    assert_int_equal(s.answered, 2);
    NEAR(s.precision, 1.0);
    /* Nothing answered: precision 1, coverage 0. */
    assert_int_equal(calib_summarise(conf, ok, 5, 0.99, 10, &s, NULL), 0);
    NEAR(s.precision, 1.0);
    NEAR(s.coverage, 0.0);
}

static void test_ece(void **state)
{
    (void)state;
    /* Bin 9 holds 0.95 and 0.9 (mean 0.925, both right), bin 8 holds 0.86 (wrong), bin 5
     * 0.5 (right), bin 2 0.2 (wrong). */
    double conf[] = {0.95, 0.9, 0.86, 0.5, 0.2};
    int ok[] = {1, 1, 0, 1, 0};
    double want = (2 * (1 - 0.925) + 0.86 + 0.5 + 0.2) / 5;
    NEAR(calib_ece(conf, ok, 5, 10), want);
    /* Calibrated bins: ECE 0. */
    double c2[] = {0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75};
    int y2[] = {1, 0, 0, 0, 1, 1, 1, 0};
    NEAR(calib_ece(c2, y2, 8, 10), 0.0);
    /* Confidence 1 falls in the top bin, 0 in the first. */
    double c3[] = {1.0, 0.0};
    int y3[] = {1, 0};
    NEAR(calib_ece(c3, y3, 2, 10), 0.0);
    NEAR(calib_ece(c3, y3, 0, 10), 0.0);
}

static void test_auroc(void **state)
{
    (void)state;
    double conf[] = {0.9, 0.8, 0.3, 0.1};
    int perfect[] = {1, 1, 0, 0}, reversed[] = {0, 0, 1, 1}, one_class[] = {1, 1, 1, 1};
    calib_summary s;
    calib_summarise(conf, perfect, 4, 0.5, 10, &s, NULL);
    NEAR(s.auroc, 1.0);
    calib_summarise(conf, reversed, 4, 0.5, 10, &s, NULL);
    NEAR(s.auroc, 0.0);
    calib_summarise(conf, one_class, 4, 0.5, 10, &s, NULL);
    NEAR(s.auroc, 0.5);
    double tied[] = {0.5, 0.5, 0.5, 0.5};
    calib_summarise(tied, perfect, 4, 0.5, 10, &s, NULL);
    NEAR(s.auroc, 0.5);
    double some[] = {0.7, 0.5, 0.5, 0.1};
    int y[] = {1, 1, 0, 0}; /* the 0.5 pair ties: half credit */
    calib_summarise(some, y, 4, 0.5, 10, &s, NULL);
    NEAR(s.auroc, 3.5 / 4.0);
}

static void test_reliability_and_curve(void **state)
{
    (void)state;
    double conf[] = {0.2, 0.95, 0.5, 0.9};
    int ok[] = {0, 1, 0, 1};
    size_t count[10];
    double mc[10], acc[10];
    calib_reliability(conf, ok, 4, 10, count, mc, acc);
    assert_int_equal(count[9], 2);
    NEAR(mc[9], 0.925);
    NEAR(acc[9], 1.0);
    assert_int_equal(count[5], 1);
    NEAR(acc[5], 0.0);
    assert_int_equal(count[0], 0);
    double cov[4], prec[4], thr[4];
    assert_int_equal(calib_curve(conf, ok, 4, cov, prec, thr, NULL), 0);
    NEAR(thr[0], 0.95);
    NEAR(thr[3], 0.2);
    NEAR(cov[1], 0.5);
    NEAR(prec[1], 1.0);
    NEAR(prec[2], 2.0 / 3.0);
    NEAR(prec[3], 0.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_ece),
        cmocka_unit_test(test_auroc),
        cmocka_unit_test(test_reliability_and_curve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
