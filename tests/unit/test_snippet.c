/* Unit tests for snippet: matched words are highlighted in the body's own casing and
 * inflection (a stemmed match highlights the inflected word; German with a German
 * analyzer); the window covers the most distinct terms, then prefers a sentence start, then
 * more occurrences, then the earlier place; "..." marks a cut at either end and none where
 * the window reaches the body's start or end; cuts in multibyte text (Greek words, a long CJK
 * run) leave valid UTF-8; no terms, or terms the body lacks, give the body's first tokens
 * without highlights; adjacent CJK bigram highlights merge into one; white space is tidied
 * to one line; a 1 MB body gives a short snippet; snippet_lead cuts at a space or a
 * character boundary; the analysis cache gives the same snippets and keeps within its
 * budget. Every body is a heap copy of exactly its length (plus the NUL), so
 * AddressSanitizer sees any read past it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "snippet.h"
#include "text.h"

/* ---- helpers ---- */

#define MAX_TERMS 64

/* A question's analysed terms, as the searcher passes them. */
typedef struct qterms {
    char text[MAX_TERMS][TEXT_MAX_TERM + 1];
    const char *p[MAX_TERMS];
    size_t n;
} qterms;

static int collect(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)start;
    (void)end;
    qterms *q = ctx;
    if (q->n < MAX_TERMS) {
        memcpy(q->text[q->n], term, len);
        q->text[q->n][len] = '\0';
        q->p[q->n] = q->text[q->n];
        q->n++;
    }
    return 0;
}

static text_analyzer *analyzer(const char *locale)
{
    text_analyzer *a = NULL;
    lore_err err = {0};
    assert_int_equal(text_analyzer_new(locale, &a, &err), 0);
    return a;
}

/* The snippet of body for question, analysed in `locale`; the caller frees it. */
static char *snip_width(const char *locale, const char *body, const char *question,
                        size_t width)
{
    text_analyzer *a = analyzer(locale);
    qterms q;
    q.n = 0;
    assert_int_equal(text_analyze(a, question, strlen(question), collect, &q), 0);
    size_t n = strlen(body);
    char *copy = malloc(n + 1);
    assert_non_null(copy);
    memcpy(copy, body, n + 1);
    char *out = NULL;
    lore_err err = {0};
    assert_int_equal(snippet_make(a, copy, q.p, q.n, width, &out, &err), 0);
    assert_non_null(out);
    free(copy);
    text_analyzer_free(a);
    return out;
}

static char *snip(const char *body, const char *question)
{
    return snip_width("en", body, question, SNIPPET_TOKENS);
}

static void expect_snip(const char *body, const char *question, const char *want)
{
    char *got = snip(body, question);
    assert_string_equal(got, want);
    free(got);
}

/* `count` copies of word, space separated, each followed by a space. */
static void add_words(sbuf *b, const char *word, size_t count)
{
    for (size_t i = 0; i < count; i++)
        assert_int_equal(sbuf_addf(b, "%s ", word), 0);
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static size_t count_of(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + strlen(what), what))
        n++;
    return n;
}

/* ---- highlights ---- */

static void test_highlight_original_casing(void **state)
{
    (void)state;
    expect_snip("Refunds are issued to the original payment method.", "REFUND",
                "**Refunds** are issued to the original payment method.");
    /* Stemmed: the question's "emailing invoice" matches "Invoices" and "emailed". */
    expect_snip("Download invoices as PDF. Invoices are emailed monthly.", "emailing invoice",
                "Download **invoices** as PDF. **Invoices** are **emailed** monthly.");
    /* Stop words in the question match nothing; punctuation stays outside the highlight. */
    expect_snip("Use the forgot-password link (reset).", "the reset",
                "Use the forgot-password link (**reset**).");
}

static void test_highlight_locale(void **state)
{
    (void)state;
    char *got = snip_width("de", "Sie können Rechnungen als PDF herunterladen.", "Rechnung",
                           SNIPPET_TOKENS);
    assert_string_equal(got, "Sie können **Rechnungen** als PDF herunterladen.");
    free(got);
}

static void test_cjk_merged(void **state)
{
    (void)state;
    /* Bigrams 退款 款政 政策 side by side merge into one highlight. */
    expect_snip("我们的退款政策：购买后十四天内可以申请退款。", "退款政策",
                "我们的**退款政策**：购买后十四天内可以申请**退款**。");
}

static void test_tidy_one_line(void **state)
{
    (void)state;
    expect_snip("  Refunds\n\n  are   issued\tquickly.\r\n", "refund",
                "**Refunds** are issued quickly.");
}

/* ---- the window ---- */

static void test_window_most_distinct(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    add_words(&b, "apple", 1);
    add_words(&b, "word", 60);
    add_words(&b, "apple apple apple apple apple", 1); /* many occurrences, one term */
    add_words(&b, "word", 60);
    add_words(&b, "apple banana word cherry", 1); /* three distinct terms */
    add_words(&b, "word", 60);
    char *got = snip(sbuf_str(&b), "cherry apple banana");
    if (!strstr(got, "**apple** **banana** word **cherry**"))
        fail_msg("window: %s", got);
    assert_int_equal(count_of(got, "**") / 2, 3);
    assert_true(starts_with(got, "...word"));
    assert_true(ends_with(got, "word..."));
    free(got);
    sbuf_free(&b);
}

static void test_window_occurrences_then_earlier(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    add_words(&b, "word", 60);
    add_words(&b, "banana first cherry", 1);
    add_words(&b, "word", 60);
    add_words(&b, "banana second cherry banana cherry", 1); /* same terms, more often */
    add_words(&b, "word", 60);
    add_words(&b, "banana third cherry banana cherry", 1); /* as many, but later */
    add_words(&b, "word", 60);
    char *got = snip(sbuf_str(&b), "banana cherry");
    if (!strstr(got, "**banana** second **cherry** **banana** **cherry**"))
        fail_msg("window: %s", got);
    assert_null(strstr(got, "first"));
    assert_null(strstr(got, "third"));
    free(got);
    sbuf_free(&b);
}

static void test_window_sentence_start(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    add_words(&b, "word", 60);
    assert_int_equal(sbuf_adds(&b, "end. Billing starts here and the refund arrives later "), 0);
    add_words(&b, "word", 60);
    char *got = snip(sbuf_str(&b), "refund");
    if (!starts_with(got, "...Billing starts here and the **refund** arrives later word"))
        fail_msg("window: %s", got);
    assert_true(ends_with(got, "word..."));
    free(got);
    sbuf_free(&b);
}

static void test_ellipses(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    /* At the start: no leading dots. */
    assert_int_equal(sbuf_adds(&b, "Refund policy explained. "), 0);
    add_words(&b, "word", 60);
    char *got = snip(sbuf_str(&b), "refund");
    assert_true(starts_with(got, "**Refund** policy explained. word"));
    assert_true(ends_with(got, "word..."));
    assert_int_equal(count_of(got, "word"), 37); /* 40 tokens: refund, policy, explain */
    free(got);
    /* At the end: the rest of the body, punctuation included, no trailing dots. */
    sbuf_reset(&b);
    add_words(&b, "word", 60);
    assert_int_equal(sbuf_adds(&b, "see refund."), 0);
    got = snip(sbuf_str(&b), "refund");
    assert_true(starts_with(got, "...word"));
    assert_true(ends_with(got, "see **refund**."));
    free(got);
    /* A body shorter than the window is shown whole. */
    expect_snip("Short body with a refund in it.", "refund", "Short body with a **refund** in it.");
    sbuf_free(&b);
}

static void test_utf8_cuts(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    add_words(&b, "\xCF\x89\xCE\xBC\xCE\xAD\xCE\xB3\xCE\xB1", 60); /* ωμέγα */
    add_words(&b, "\xCE\xB3\xCE\xAC\xCF\x84\xCE\xB1", 1);          /* γάτα */
    add_words(&b, "\xCF\x89\xCE\xBC\xCE\xAD\xCE\xB3\xCE\xB1", 60);
    char *got = snip(sbuf_str(&b), "\xCE\x93\xCE\x91\xCE\xA4\xCE\x91"); /* ΓΑΤΑ */
    assert_true(text_utf8_valid(got, strlen(got)));
    assert_true(starts_with(got, "...\xCF\x89"));
    assert_true(ends_with(got, "\xCE\xB1..."));
    assert_non_null(strstr(got, "**\xCE\xB3\xCE\xAC\xCF\x84\xCE\xB1**"));
    free(got);
    /* A CJK run with no spaces: the window cuts inside it, at characters. */
    sbuf_reset(&b);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sbuf_adds(&b, "\xE6\x97\xA5\xE6\x9C\xAC"), 0); /* 日本 */
    assert_int_equal(sbuf_adds(&b, "\xE9\x80\x80\xE6\xAC\xBE"), 0);     /* 退款 */
    for (int i = 0; i < 100; i++)
        assert_int_equal(sbuf_adds(&b, "\xE6\x97\xA5\xE6\x9C\xAC"), 0);
    got = snip(sbuf_str(&b), "\xE9\x80\x80\xE6\xAC\xBE");
    assert_true(text_utf8_valid(got, strlen(got)));
    assert_true(starts_with(got, "...\xE6\x97\xA5") || starts_with(got, "...\xE6\x9C\xAC"));
    assert_true(ends_with(got, "\xE6\x97\xA5...") || ends_with(got, "\xE6\x9C\xAC..."));
    assert_non_null(strstr(got, "**\xE9\x80\x80\xE6\xAC\xBE**"));
    /* 40 bigram tokens show about 40 characters (3 bytes each), plus dots and marks. */
    size_t chars = (strlen(got) - 6 - 4) / 3;
    assert_true(chars >= 39 && chars <= 41);
    free(got);
    sbuf_free(&b);
}

static void test_no_terms_lead(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    assert_int_equal(sbuf_adds(&b, "Start here. "), 0);
    add_words(&b, "word", 60);
    text_analyzer *a = analyzer("en");
    char *out = NULL;
    lore_err err = {0};
    assert_int_equal(snippet_make(a, sbuf_str(&b), NULL, 0, SNIPPET_TOKENS, &out, &err), 0);
    assert_true(starts_with(out, "Start here. word"));
    assert_true(ends_with(out, "word..."));
    assert_null(strstr(out, "**"));
    assert_int_equal(count_of(out, "word"), 38);
    free(out);
    text_analyzer_free(a);
    /* Terms the body lacks: the same. */
    char *got = snip(sbuf_str(&b), "refund");
    assert_true(starts_with(got, "Start here. word"));
    assert_null(strstr(got, "**"));
    free(got);
    expect_snip("Nothing matches.", "refund", "Nothing matches.");
    expect_snip("", "refund", "");
    sbuf_free(&b);
}

static void test_long_body(void **state)
{
    (void)state;
    sbuf b = SBUF_INIT;
    while (b.len < 750000)
        assert_int_equal(sbuf_adds(&b, "lorem ipsum dolor sit amet. "), 0);
    assert_int_equal(sbuf_adds(&b, "Refunds take fourteen days. "), 0);
    while (b.len < 1024 * 1024)
        assert_int_equal(sbuf_adds(&b, "lorem ipsum dolor sit amet. "), 0);
    char *got = snip(sbuf_str(&b), "how long do refunds take");
    if (!strstr(got, "**Refunds** **take** fourteen days."))
        fail_msg("long body: %.300s", got);
    assert_true(strlen(got) < 1000);
    assert_true(starts_with(got, "..."));
    assert_true(ends_with(got, "..."));
    free(got);
    sbuf_free(&b);
}

/* ---- snippet_lead ---- */

static void test_lead(void **state)
{
    (void)state;
    char *out = NULL;
    lore_err err = {0};
    assert_int_equal(snippet_lead("Short\n\nbody.", &out, &err), 0);
    assert_string_equal(out, "Short body.");
    free(out);
    sbuf b = SBUF_INIT;
    add_words(&b, "abc", 75); /* 300 bytes */
    assert_int_equal(snippet_lead(sbuf_str(&b), &out, &err), 0);
    assert_true(ends_with(out, " abc..."));
    assert_true(strlen(out) <= 243);
    free(out);
    /* No space near the cut: at a character boundary. */
    sbuf_reset(&b);
    assert_int_equal(sbuf_addc(&b, 'a'), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sbuf_adds(&b, "\xE2\x82\xAC"), 0); /* € */
    assert_int_equal(snippet_lead(sbuf_str(&b), &out, &err), 0);
    assert_true(text_utf8_valid(out, strlen(out)));
    assert_true(ends_with(out, "\xE2\x82\xAC..."));
    free(out);
    sbuf_free(&b);
}

/* Cached analyses give the snippets a fresh analysis gives, for other questions too; a hit
 * does not analyse again (the analyzer is set to another language, which would stem
 * differently); clearing forgets; a body over the budget is not kept and a full cache
 * empties itself. */
static void test_cache(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "Refunds are issued to the original card. To request a refund, open Billing and "
        "choose Request refund. Refunds take five to ten business days to appear.",
        "Reset your password from the sign-in page: choose Forgot password and follow the "
        "emailed link. Passwords must be at least twelve characters long.",
        "Export your timesheets as CSV from Reports. Exports include every project you can "
        "see, and exported files keep the workspace's time zone.",
    };
    static const char *const questions[] = {"how do I get a refund", "forgot my password",
                                            "exporting reports to csv", "refund password csv"};
    text_analyzer *an = analyzer("en");
    snippet_cache *c = NULL;
    assert_int_equal(snippet_cache_new(1000, &c), 0);
    lore_err err = {0};
    for (int round = 0; round < 2; round++) {
        for (size_t qi = 0; qi < 4; qi++) {
            qterms q;
            q.n = 0;
            assert_int_equal(text_analyzer_set_locale(an, "en"), 0);
            assert_int_equal(text_analyze(an, questions[qi], strlen(questions[qi]), collect, &q),
                             0);
            for (size_t bi = 0; bi < 3; bi++) {
                char *want = snip(bodies[bi], questions[qi]);
                /* From the second question on (of each round: the cache was cleared),
                 * every body is a hit: a German analysis would not stem "exported". */
                if (qi > 0)
                    assert_int_equal(text_analyzer_set_locale(an, "de"), 0);
                char *got = NULL;
                assert_int_equal(snippet_make_cached(c, (int64_t)bi + 1, an, bodies[bi], q.p,
                                                     q.n, SNIPPET_TOKENS, &got, &err),
                                 0);
                assert_string_equal(got, want);
                assert_int_equal(text_analyzer_set_locale(an, "en"), 0);
                free(got);
                free(want);
            }
        }
        assert_int_equal(snippet_cache_entries(c), 3);
        snippet_cache_clear(c);
        assert_int_equal(snippet_cache_entries(c), 0);
    }
    snippet_cache_free(c);

    /* A budget of 30 tokens: each body (about 20 tokens) fits alone, so keeping the second
     * empties the cache first; a key of 0 is never kept. */
    assert_int_equal(snippet_cache_new(30, &c), 0);
    const char *qp[] = {"refund"};
    char *got = NULL;
    assert_int_equal(snippet_make_cached(c, 1, an, bodies[0], qp, 1, 8, &got, &err), 0);
    free(got);
    assert_int_equal(snippet_cache_entries(c), 1);
    assert_int_equal(snippet_make_cached(c, 2, an, bodies[1], qp, 1, 8, &got, &err), 0);
    free(got);
    assert_int_equal(snippet_cache_entries(c), 1);
    assert_int_equal(snippet_make_cached(c, 0, an, bodies[2], qp, 1, 8, &got, &err), 0);
    free(got);
    assert_int_equal(snippet_cache_entries(c), 1);
    snippet_cache_free(c);
    /* Over the budget: not kept, still right. */
    assert_int_equal(snippet_cache_new(5, &c), 0);
    assert_int_equal(snippet_make_cached(c, 1, an, bodies[0], qp, 1, 8, &got, &err), 0);
    assert_non_null(strstr(got, "**Refunds**"));
    free(got);
    assert_int_equal(snippet_cache_entries(c), 0);
    snippet_cache_free(c);
    snippet_cache_free(NULL);
    text_analyzer_free(an);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_highlight_original_casing),
        cmocka_unit_test(test_highlight_locale),
        cmocka_unit_test(test_cjk_merged),
        cmocka_unit_test(test_tidy_one_line),
        cmocka_unit_test(test_window_most_distinct),
        cmocka_unit_test(test_window_occurrences_then_earlier),
        cmocka_unit_test(test_window_sentence_start),
        cmocka_unit_test(test_ellipses),
        cmocka_unit_test(test_utf8_cuts),
        cmocka_unit_test(test_no_terms_lead),
        cmocka_unit_test(test_long_body),
        cmocka_unit_test(test_lead),
        cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
