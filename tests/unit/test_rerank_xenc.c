/* test_rerank_xenc: the cross-encoder client against tests/fake/fake_openai's /v1/rerank:
 * scores land on their documents whatever order the server lists them in, both reply shapes
 * are read, and every malformed reply is an error naming the server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rerank_xenc.h"
#include "testutil.h"

static char tmpdir[256];

static const char *const DOCS[] = {"billing and invoices", "reset your password today",
                                   "password reset link expires"};

/* Starts the fake with `--rerank mode`, scores DOCS for a password question. */
static int score_with(const char *mode, double *scores, char *msg, size_t msglen)
{
    tu_fake f;
    char log[300];
    snprintf(log, sizeof log, "%s/%s.log", tmpdir, mode);
    const char *extra[] = {"--rerank", mode, NULL};
    tu_fake_start(&f, log, 60, extra);
    rerank_xenc *x = NULL;
    lore_err err = {0, ""};
    assert_int_equal(rerank_xenc_new(f.url, "test-reranker", 2000, &x, &err), 0);
    int rc = rerank_xenc_score(x, "password reset link", DOCS, 3, scores, &err);
    snprintf(msg, msglen, "%s", err.msg);
    rerank_xenc_free(x);
    tu_fake_stop(&f);
    return rc;
}

static void test_scores_by_index(void **state)
{
    (void)state;
    double s[3];
    char msg[512];
    for (int shape = 0; shape < 2; shape++) {
        assert_int_equal(score_with(shape ? "bare" : "normal", s, msg, sizeof msg), 0);
        /* The fake lists results best first; each score belongs to its own document. */
        assert_true(s[0] == 0.0);
        assert_true(s[2] == 1.0);
        assert_true(s[1] > 0.0 && s[1] < 1.0);
    }
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *mode, *says;
    } cases[] = {
        {"notjson", "something that is not JSON"},
        {"noresults", "without a \"results\" array"},
        {"badindex", "answered index 3 for 3 documents"},
        {"dup", "twice"},
        {"missing", "left document 0 of 3 unscored"}, /* the fake drops its last, lowest */
        {"noscore", "without a numeric index and relevance_score"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double s[3];
        char msg[512];
        int rc = score_with(cases[i].mode, s, msg, sizeof msg);
        if (rc != LORE_ENET || strstr(msg, cases[i].says) == NULL ||
            strstr(msg, "cross-encoder http://127.0.0.1:") == NULL)
            fail_msg("--rerank %s: rc %d, message \"%s\"", cases[i].mode, rc, msg);
    }
}

static void test_bad_url(void **state)
{
    (void)state;
    rerank_xenc *x = NULL;
    lore_err err = {0, ""};
    assert_int_equal(rerank_xenc_new("ftp://example", NULL, 1000, &x, &err), LORE_EINVAL);
    assert_null(x);
    assert_non_null(strstr(err.msg, "must start with http://"));
}

static int setup(void **state)
{
    (void)state;
    tu_mkdtemp("xenc", tmpdir, sizeof tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rm_rf(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scores_by_index),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_url),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
