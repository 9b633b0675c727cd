/* test_filesig: a file's identity changes when it is written, replaced, created or removed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "filesig.h"
#include "testutil.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void test_versions(void **state)
{
    (void)state;
    char dir[256], path[300], other[300];
    tu_mkdtemp("filesig", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(other, sizeof other, "%s/new.json", dir);
    filesig none, none2, a, a2, b, c;
    filesig_read(path, &none);
    assert_int_equal(none.exists, 0);
    filesig_read(path, &none2);
    assert_true(filesig_equal(&none, &none2)); /* missing both times: unchanged */
    write_file(path, "{}");
    filesig_read(path, &a);
    assert_int_equal(a.exists, 1);
    assert_false(filesig_equal(&none, &a)); /* created */
    filesig_read(path, &a2);
    assert_true(filesig_equal(&a, &a2)); /* untouched */
    write_file(path, "{\"answer\": {}}");
    filesig_read(path, &b);
    assert_false(filesig_equal(&a, &b)); /* written */
    write_file(other, "{\"answer\": {}}"); /* same size, another inode */
    assert_int_equal(rename(other, path), 0);
    filesig_read(path, &c);
    assert_false(filesig_equal(&b, &c)); /* replaced */
    assert_int_equal(remove(path), 0);
    filesig_read(path, &none2);
    assert_false(filesig_equal(&c, &none2)); /* removed */
    tu_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_versions)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
