/* test_validate: citations, "not covered", and per-sentence support (lexical and semantic). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "text.h"
#include "validate.h"

static const char *const SRC[] = {
    "If you cancel within 14 days of paying, Tallyday refunds the full amount to the original "
    "payment method. Card refunds take 5 to 10 business days to appear.",
    "Team costs $10 per user per month billed annually. Business adds SAML single sign-on.",
};

typedef struct fx {
    text_analyzer *an;
    embedder *emb;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    lore_err err = {0, ""};
    if (f == NULL || text_analyzer_new("en", &f->an, &err) != 0 ||
        embed_open("hash:256", NULL, &f->emb, &err) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    text_analyzer_free(f->an);
    embed_close(f->emb);
    free(f);
    return 0;
}

static validate_result run(fx *f, const char *answer, int with_emb)
{
    validate_options o = {0.5, 0.3, f->an, with_emb ? f->emb : NULL};
    validate_result r;
    lore_err err = {0, ""};
    if (validate_answer(answer, SRC, 2, &o, &r, &err) != 0)
        fail_msg("validate_answer: %s", err.msg);
    return r;
}

static void test_sentences(void **state)
{
    (void)state;
    validate_span *sp;
    size_t n;
    const char *t = "First one, e.g. this. Second? Third!\n- list item\n2. step two";
    assert_int_equal(validate_sentences(t, &sp, &n, NULL), 0);
    assert_int_equal(n, 5);
    assert_int_equal(strncmp(t + sp[0].start, "First one, e.g. this.", sp[0].end - sp[0].start), 0);
    assert_int_equal(strncmp(t + sp[3].start, "list item", sp[3].end - sp[3].start), 0);
    assert_int_equal(strncmp(t + sp[4].start, "step two", sp[4].end - sp[4].start), 0);
    free(sp);
    assert_int_equal(validate_sentences("忘记密码了。怎么办？", &sp, &n, NULL), 0);
    assert_int_equal(n, 2);
    free(sp);
}

static void test_supported(void **state)
{
    fx *f = *state;
    validate_result r = run(f, "You get a full refund if you cancel within 14 days [1]. "
                               "Card refunds take 5 to 10 business days. [1]", 1);
    assert_int_equal(r.invalid_citation, 0);
    assert_int_equal(r.not_covered, 0);
    assert_true(r.cited[0]);
    assert_false(r.cited[1]);
    assert_int_equal(r.n_checked, 2);
    assert_int_equal(r.n_supported, 2);
    assert_true(r.score == 1.0);
    validate_result_free(&r);
    /* Multiple citations in one bracket and side by side. */
    r = run(f, "Team is $10 per user per month and refunds take 5 to 10 days [1, 2].", 1);
    assert_true(r.cited[0] && r.cited[1]);
    assert_int_equal(r.invalid_citation, 0);
    validate_result_free(&r);
}

static void test_invented_citation(void **state)
{
    fx *f = *state;
    validate_result r = run(f, "You get a full refund within 14 days [3].", 1);
    assert_int_equal(r.invalid_citation, 3);
    validate_result_free(&r);
    r = run(f, "Refunds [1][0].", 1);
    assert_int_equal(r.invalid_citation, -1);
    validate_result_free(&r);
}

static void test_not_covered(void **state)
{
    fx *f = *state;
    validate_result r = run(f, "The sources do not cover this question.", 1);
    assert_true(r.not_covered);
    validate_result_free(&r);
    r = run(f, "Sorry, that is not in the sources.", 0);
    assert_true(r.not_covered);
    validate_result_free(&r);
    /* A cited answer that notes a gap is not a refusal; the gap sentence claims nothing. */
    r = run(f, "Card refunds take 5 to 10 business days [1]. The sources don't say whether "
               "PayPal refunds are faster.", 1);
    assert_false(r.not_covered);
    assert_int_equal(r.n_checked, 1);
    assert_int_equal(r.n_supported, 1);
    validate_result_free(&r);
}

static void test_unsupported(void **state)
{
    fx *f = *state;
    /* The second sentence cites source 1 but says nothing it says. */
    validate_result r = run(f, "Card refunds take 5 to 10 business days [1]. Every customer "
                               "also gets free helicopter transfers to our headquarters [1].", 1);
    assert_int_equal(r.n_checked, 2);
    assert_int_equal(r.n_supported, 1);
    assert_true(r.score == 0.5);
    assert_non_null(strstr(r.detail, "helicopter"));
    validate_result_free(&r);
    /* A true statement cited to the wrong source is not supported by what it cites. */
    r = run(f, "Team costs $10 per user per month billed annually [1].", 0);
    assert_int_equal(r.n_supported, 0);
    validate_result_free(&r);
    r = run(f, "Team costs $10 per user per month billed annually [2].", 0);
    assert_int_equal(r.n_supported, 1);
    validate_result_free(&r);
}

static void test_semantic_threshold(void **state)
{
    fx *f = *state;
    /* Lexically fine (all its terms occur in the source), but with a demanding semantic
     * threshold it fails: the two checks are independent. */
    validate_options o = {0.5, 0.99, f->an, f->emb};
    validate_result r;
    assert_int_equal(validate_answer("Refunds days card [1].", SRC, 2, &o, &r, NULL), 0);
    assert_int_equal(r.n_supported, 0);
    validate_result_free(&r);
    o.emb = NULL;
    assert_int_equal(validate_answer("Refunds days card [1].", SRC, 2, &o, &r, NULL), 0);
    assert_int_equal(r.n_supported, 1);
    validate_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentences),
        cmocka_unit_test(test_supported),
        cmocka_unit_test(test_invented_citation),
        cmocka_unit_test(test_not_covered),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_semantic_threshold),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
