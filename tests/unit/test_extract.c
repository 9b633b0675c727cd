/* test_extract: extractive answers quote the matching sentences with citations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "extract.h"
#include "text.h"

static const char *const SRC[] = {
    "## Refunds\n\nIf you cancel within 14 days of paying, Tallyday refunds the full amount. "
    "Our offices are closed on public holidays.\n\n| Plan | Price |\n|---|---|\n| Team | $10 |",
    "The password reset link expires 60 minutes after it was sent. Reset links work once.",
};

static void test_extract(void **state)
{
    (void)state;
    text_analyzer *an;
    embedder *emb;
    lore_err err = {0, ""};
    assert_int_equal(text_analyzer_new("en", &an, &err), 0);
    assert_int_equal(embed_open("hash:256", NULL, &emb, &err), 0);
    for (int with_emb = 0; with_emb <= 1; with_emb++) {
        extract_options o = {2, 3, 0.3, an, with_emb ? emb : NULL, NULL};
        extract_result r;
        assert_int_equal(extract_answer("how long is the password reset link valid", SRC, 2, &o,
                                        &r, &err), 0);
        assert_non_null(r.text);
        assert_non_null(strstr(r.text, "\"The password reset link expires 60 minutes after it "
                                       "was sent.\" [2]"));
        assert_null(strstr(r.text, "holidays"));
        assert_null(strstr(r.text, "|"));
        assert_true(r.cited[1]);
        assert_false(r.cited[0]);
        assert_true(r.n_sentences >= 1 && r.n_sentences <= 2);
        extract_result_free(&r);

        /* Nothing in the sources matches: no answer. */
        assert_int_equal(extract_answer("which airline has the cheapest flights to lisbon", SRC,
                                        2, &o, &r, &err), 0);
        assert_null(r.text);
        assert_int_equal(r.n_sentences, 0);
        extract_result_free(&r);
    }
    /* The question's vector given by the caller (as the search embedded it) gives the
     * answer embedding it here gives. */
    {
        const char *q = "how long is the password reset link valid";
        float *qv = NULL;
        assert_int_equal(embed_texts_alloc(emb, &q, 1, &qv, &err), 0);
        extract_options mine = {2, 3, 0.3, an, emb, NULL}, given = {2, 3, 0.3, an, emb, qv};
        extract_result a, b;
        assert_int_equal(extract_answer(q, SRC, 2, &mine, &a, &err), 0);
        assert_int_equal(extract_answer(q, SRC, 2, &given, &b, &err), 0);
        assert_non_null(a.text);
        assert_string_equal(a.text, b.text);
        assert_true(a.best == b.best);
        extract_result_free(&a);
        extract_result_free(&b);
        free(qv);
    }
    /* In source order, several sentences from the first source. */
    extract_options o = {3, 3, 0.3, an, NULL, NULL};
    extract_result r;
    assert_int_equal(extract_answer("refund after cancel within 14 days", SRC, 2, &o, &r, &err), 0);
    assert_non_null(r.text);
    assert_int_equal(strncmp(r.text, "\"If you cancel within 14 days", 29), 0);
    assert_true(r.cited[0]);
    extract_result_free(&r);
    embed_close(emb);
    text_analyzer_free(an);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_extract)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
