/* Unit tests for blas: OpenBLAS's thread count is set and read back (the project links the
 * system BLAS, OpenBLAS on its machines); a count below 1 is refused and changes nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cblas.h>

#include "blas.h"

static void test_set_and_read_back(void **state)
{
    (void)state;
    /* A product first: it is what makes the program load the BLAS library, as lore's
     * programs do through the embedder and FAISS. */
    float x[2] = {1.0f, 2.0f};
    assert_true(cblas_sdot(2, x, 1, x, 1) == 5.0f);
    int prev = blas_threads();
    assert_true(prev >= 1);
    assert_int_equal(blas_set_threads(1), prev);
    assert_int_equal(blas_threads(), 1);
    assert_int_equal(blas_set_threads(2), 1);
    assert_int_equal(blas_threads(), 2);
    assert_int_equal(blas_set_threads(0), -1);
    assert_int_equal(blas_threads(), 2);
    assert_int_equal(blas_set_threads(prev), 2);
    assert_int_equal(blas_threads(), prev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
