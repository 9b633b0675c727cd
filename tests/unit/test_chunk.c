/* Unit tests for indexer/chunk: heading paths, the token budget, overlap, tables, code,
 * sentence and CJK splitting, ordinals, and the options id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "parse.h"
#include "sbuf.h"
#include "text.h"

static article make_article(const char *title)
{
    article a;
    memset(&a, 0, sizeof a);
    a.title = strdup(title);
    a.id = strdup("test-article");
    assert_non_null(a.title);
    assert_non_null(a.id);
    return a;
}

static void add(article *a, article_block_kind kind, int level, const char *text,
                const char *header)
{
    assert_int_equal(article_add_block(a, kind, level, text, strlen(text), header, 0), 0);
}

static void run(const article *a, size_t max, size_t overlap, chunk **out, size_t *n)
{
    chunk_options o = {max, overlap};
    lore_err err = {0};
    int rc = chunk_article(a, &o, out, n, &err);
    if (rc != 0)
        fail_msg("chunk_article: %s", err.msg);
}

static size_t tokens(const char *s) { return text_count_tokens(s, strlen(s)); }

/* "Sentence N has words w1 w2 ... ." with `words` tokens in all. */
static void sentences(sbuf *b, int count, int words)
{
    for (int i = 0; i < count; i++) {
        assert_int_equal(sbuf_addf(b, "%sSentence%d", i ? " " : "", i), 0);
        for (int w = 1; w < words; w++)
            assert_int_equal(sbuf_addf(b, " w%d", w), 0);
        assert_int_equal(sbuf_addc(b, '.'), 0);
    }
}

static void assert_ordinals(const chunk *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(c[i].ordinal, (int)i);
}

static void test_heading_paths(void **state)
{
    (void)state;
    article a = make_article("Guide");
    add(&a, BLOCK_HEADING, 1, "Guide", NULL); /* repeats the title: not in paths */
    add(&a, BLOCK_PARAGRAPH, 0, "Intro text.", NULL);
    add(&a, BLOCK_HEADING, 2, "Setup", NULL);
    add(&a, BLOCK_PARAGRAPH, 0, "Setup text.", NULL);
    add(&a, BLOCK_HEADING, 3, "Linux", NULL);
    add(&a, BLOCK_PARAGRAPH, 0, "Linux text.", NULL);
    add(&a, BLOCK_HEADING, 2, "Usage", NULL);
    add(&a, BLOCK_PARAGRAPH, 0, "Usage text.", NULL);
    add(&a, BLOCK_HEADING, 1, "Other part", NULL);
    add(&a, BLOCK_HEADING, 4, "Deep", NULL);
    add(&a, BLOCK_PARAGRAPH, 0, "Deep text.", NULL);
    chunk *c;
    size_t n;
    run(&a, 200, 30, &c, &n);
    assert_int_equal(n, 5);
    assert_string_equal(c[0].heading_path, "Guide");
    assert_string_equal(c[0].text, "Intro text.");
    assert_string_equal(c[1].heading_path, "Guide > Setup");
    assert_string_equal(c[2].heading_path, "Guide > Setup > Linux");
    assert_string_equal(c[3].heading_path, "Guide > Usage");
    assert_string_equal(c[4].heading_path, "Guide > Other part > Deep");
    assert_string_equal(c[4].text, "Deep text.");
    assert_ordinals(c, n);
    chunk_free_all(c, n);
    article_free(&a);

    a = make_article(""); /* no title: the path starts at the first heading */
    add(&a, BLOCK_HEADING, 2, "Only section", NULL);
    add(&a, BLOCK_PARAGRAPH, 0, "Body.", NULL);
    run(&a, 200, 30, &c, &n);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].heading_path, "Only section");
    chunk_free_all(c, n);
    article_free(&a);
}

static void test_empty_sections_and_title_only(void **state)
{
    (void)state;
    article a = make_article("T");
    add(&a, BLOCK_HEADING, 2, "A", NULL);
    add(&a, BLOCK_HEADING, 2, "B", NULL);
    add(&a, BLOCK_PARAGRAPH, 0, "x", NULL);
    add(&a, BLOCK_HEADING, 2, "C", NULL);
    chunk *c;
    size_t n;
    run(&a, 200, 30, &c, &n);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].heading_path, "T > B");
    assert_string_equal(c[0].text, "x");
    chunk_free_all(c, n);
    article_free(&a);

    /* A title and no body gives no chunks (the title alone answers nothing). */
    a = make_article("Title only");
    run(&a, 200, 30, &c, &n);
    assert_int_equal(n, 0);
    assert_null(c);
    article_free(&a);
}

static void test_budget_respected(void **state)
{
    (void)state;
    article a = make_article("Budget");
    sbuf b = SBUF_INIT;
    sentences(&b, 60, 7);
    add(&a, BLOCK_PARAGRAPH, 0, sbuf_str(&b), NULL);
    add(&a, BLOCK_PARAGRAPH, 0, "A short closing paragraph.", NULL);
    chunk *c;
    size_t n;
    run(&a, 50, 10, &c, &n);
    assert_true(n >= 9);
    for (size_t i = 0; i < n; i++) {
        if (tokens(c[i].text) > 50)
            fail_msg("chunk %zu has %zu tokens", i, tokens(c[i].text));
        assert_string_equal(c[i].heading_path, "Budget");
    }
    /* Nothing lost: every sentence is in some chunk. */
    for (int s = 0; s < 60; s++) {
        char needle[32];
        snprintf(needle, sizeof needle, "Sentence%d ", s);
        int found = 0;
        for (size_t i = 0; i < n && !found; i++)
            found = strstr(c[i].text, needle) != NULL;
        if (!found)
            fail_msg("sentence %d lost", s);
    }
    assert_ordinals(c, n);
    chunk_free_all(c, n);
    sbuf_free(&b);
    article_free(&a);
}

static void test_overlap_present(void **state)
{
    (void)state;
    article a = make_article("Overlap");
    sbuf b = SBUF_INIT;
    sentences(&b, 30, 7);
    add(&a, BLOCK_PARAGRAPH, 0, sbuf_str(&b), NULL);
    chunk *c;
    size_t n;
    run(&a, 50, 10, &c, &n);
    assert_true(n >= 4);
    for (size_t i = 0; i + 1 < n; i++) {
        /* The next chunk opens with the last sentence (7 tokens <= 10) of this one. */
        const char *last = strrchr(c[i].text, 'S');
        assert_non_null(last);
        if (strncmp(c[i + 1].text, last, strlen(last)) != 0)
            fail_msg("chunk %zu does not start with '%s': %s", i + 1, last, c[i + 1].text);
        assert_true(strlen(c[i + 1].text) > strlen(last)); /* and then moves on */
    }
    chunk_free_all(c, n);

    /* overlap 0: consecutive chunks share nothing. */
    run(&a, 50, 0, &c, &n);
    for (size_t i = 0; i + 1 < n; i++) {
        const char *last = strrchr(c[i].text, 'S');
        assert_true(strncmp(c[i + 1].text, last, strlen(last)) != 0);
    }
    chunk_free_all(c, n);
    sbuf_free(&b);
    article_free(&a);
}

static void test_table_header_repeated(void **state)
{
    (void)state;
    article a = make_article("Tables");
    sbuf rows = SBUF_INIT;
    for (int r = 0; r < 30; r++)
        assert_int_equal(sbuf_addf(&rows, "%srow%d | alpha beta gamma", r ? "\n" : "", r), 0);
    add(&a, BLOCK_PARAGRAPH, 0, "Plans compared below.", NULL);
    add(&a, BLOCK_TABLE, 0, sbuf_str(&rows), "Plan | Price | Seats");
    chunk *c;
    size_t n;
    run(&a, 40, 10, &c, &n);
    assert_true(n >= 4);
    int seen[30] = {0};
    size_t table_chunks = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(tokens(c[i].text) <= 40);
        const char *t = strstr(c[i].text, "Plan | Price | Seats\n");
        if (t == NULL)
            continue;
        table_chunks++;
        /* The header is the first line of the table part, never a row in the middle. */
        assert_true(t == c[i].text || (t > c[i].text + 1 && t[-1] == '\n' && t[-2] == '\n'));
        for (int r = 0; r < 30; r++) {
            char needle[32];
            snprintf(needle, sizeof needle, "row%d |", r);
            if (strstr(c[i].text, needle))
                seen[r]++;
        }
    }
    assert_true(table_chunks >= 4);
    for (int r = 0; r < 30; r++)
        if (seen[r] != 1)
            fail_msg("row %d appears %d times", r, seen[r]);
    chunk_free_all(c, n);

    /* A table that fits stays whole, header first. */
    article_free(&a);
    a = make_article("Small");
    add(&a, BLOCK_TABLE, 0, "Free | 0\nPro | 10", "Plan | Price");
    run(&a, 200, 30, &c, &n);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].text, "Plan | Price\nFree | 0\nPro | 10");
    chunk_free_all(c, n);
    sbuf_free(&rows);
    article_free(&a);
}

static void test_code_block_whole(void **state)
{
    (void)state;
    article a = make_article("Code");
    sbuf code = SBUF_INIT;
    for (int i = 0; i < 20; i++)
        assert_int_equal(sbuf_addf(&code, "%scall_%d(arg, other);  ", i ? "\n" : "", i), 0);
    add(&a, BLOCK_PARAGRAPH, 0, "Before the code there is some text of modest size.", NULL);
    add(&a, BLOCK_CODE, 0, sbuf_str(&code), NULL);
    add(&a, BLOCK_PARAGRAPH, 0, "After.", NULL);
    chunk *c;
    size_t n;
    run(&a, 30, 5, &c, &n);
    assert_true(tokens(sbuf_str(&code)) > 30);
    assert_int_equal(n, 3);
    assert_string_equal(c[1].text, sbuf_str(&code)); /* whole, alone, verbatim */
    assert_string_equal(c[2].text, "After.");        /* no overlap taken from code */
    chunk_free_all(c, n);
    article_free(&a);

    /* Never merged across the budget: 20 + 15 tokens > 30 gives two chunks... */
    a = make_article("Code");
    add(&a, BLOCK_PARAGRAPH, 0,
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty",
        NULL);
    add(&a, BLOCK_CODE, 0, "a b c d e f g h i j k l m n o", NULL);
    run(&a, 30, 5, &c, &n);
    assert_int_equal(n, 2);
    assert_string_equal(c[1].text, "a b c d e f g h i j k l m n o");
    chunk_free_all(c, n);
    article_free(&a);

    /* ...while a small block shares a chunk with its prose. */
    a = make_article("Code");
    add(&a, BLOCK_PARAGRAPH, 0, "Run this:", NULL);
    add(&a, BLOCK_CODE, 0, "  make install", NULL);
    run(&a, 30, 5, &c, &n);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].text, "Run this:\n\n  make install");
    chunk_free_all(c, n);
    sbuf_free(&code);
    article_free(&a);
}

static void test_sentence_split(void **state)
{
    (void)state;
    article a = make_article("Split");
    add(&a, BLOCK_PARAGRAPH, 0, "First sentence is here. Second one now! Is this third? Fourth ends.",
        NULL);
    chunk *c;
    size_t n;
    run(&a, 4, 0, &c, &n);
    assert_int_equal(n, 4);
    assert_string_equal(c[0].text, "First sentence is here.");
    assert_string_equal(c[1].text, "Second one now!");
    assert_string_equal(c[2].text, "Is this third?");
    assert_string_equal(c[3].text, "Fourth ends.");
    chunk_free_all(c, n);

    /* Two sentences fit together: packing is greedy, sentence bounds only. */
    run(&a, 8, 0, &c, &n);
    assert_int_equal(n, 2);
    assert_string_equal(c[0].text, "First sentence is here. Second one now!");
    assert_string_equal(c[1].text, "Is this third? Fourth ends.");
    chunk_free_all(c, n);
    article_free(&a);

    /* A sentence longer than the budget is cut at word bounds. */
    a = make_article("Words");
    add(&a, BLOCK_PARAGRAPH, 0,
        "a1 a2 a3 a4 a5 a6 a7 a8 a9 a10 a11 a12 a13 a14 a15 a16 a17 a18 a19 a20 a21 a22 a23",
        NULL);
    run(&a, 10, 0, &c, &n);
    assert_int_equal(n, 3);
    assert_string_equal(c[0].text, "a1 a2 a3 a4 a5 a6 a7 a8 a9 a10");
    assert_string_equal(c[1].text, "a11 a12 a13 a14 a15 a16 a17 a18 a19 a20");
    assert_string_equal(c[2].text, "a21 a22 a23");
    chunk_free_all(c, n);
    /* With overlap, word runs leave room for it and every chunk still fits. */
    run(&a, 10, 3, &c, &n);
    assert_true(n >= 3);
    for (size_t i = 0; i < n; i++)
        assert_true(tokens(c[i].text) <= 10);
    for (size_t i = 0; i + 1 < n; i++) {
        const char *tail = strrchr(c[i].text, ' ');
        assert_non_null(strstr(c[i + 1].text, tail + 1));
    }
    chunk_free_all(c, n);
    article_free(&a);
}

static void test_cjk_chunking(void **state)
{
    (void)state;
    article a = make_article("中文");
    /* Six sentences of 12 characters plus "。": 12 tokens each. */
    sbuf b = SBUF_INIT;
    for (int i = 0; i < 6; i++)
        assert_int_equal(sbuf_adds(&b, "太阳能电池板把光转换成电。"), 0);
    add(&a, BLOCK_PARAGRAPH, 0, sbuf_str(&b), NULL);
    chunk *c;
    size_t n;
    run(&a, 25, 5, &c, &n);
    assert_true(n >= 3);
    for (size_t i = 0; i < n; i++) {
        assert_true(text_utf8_valid(c[i].text, strlen(c[i].text)));
        assert_true(tokens(c[i].text) <= 25);
        size_t len = strlen(c[i].text);
        /* Cut at "。", never inside a sentence (sentences are 12 tokens, the budget 25). */
        assert_true(len >= 3 && memcmp(c[i].text + len - 3, "。", 3) == 0);
    }
    chunk_free_all(c, n);
    sbuf_free(&b);
    article_free(&a);

    /* No punctuation at all: cut between characters, still valid UTF-8 and within budget. */
    a = make_article("中文");
    add(&a, BLOCK_PARAGRAPH, 0,
        "这是一个很长的句子用来测试中文分块功能是否正常工作没有标点符号也可以被切分成更小的块吗",
        NULL);
    run(&a, 10, 2, &c, &n);
    assert_true(n >= 5);
    for (size_t i = 0; i < n; i++) {
        assert_true(text_utf8_valid(c[i].text, strlen(c[i].text)));
        assert_true(tokens(c[i].text) <= 10);
        assert_true(tokens(c[i].text) > 0);
    }
    assert_ordinals(c, n);
    chunk_free_all(c, n);
    article_free(&a);
}

static void test_ordinals_across_sections(void **state)
{
    (void)state;
    article a = make_article("Ord");
    sbuf b = SBUF_INIT;
    sentences(&b, 10, 5);
    for (int s = 0; s < 3; s++) {
        char h[16];
        snprintf(h, sizeof h, "S%d", s);
        add(&a, BLOCK_HEADING, 2, h, NULL);
        add(&a, BLOCK_PARAGRAPH, 0, sbuf_str(&b), NULL);
    }
    chunk *c;
    size_t n;
    run(&a, 20, 5, &c, &n);
    assert_true(n >= 9);
    assert_ordinals(c, n);
    /* Overlap never crosses a section: each section's first chunk starts at its start. */
    for (size_t i = 1; i < n; i++)
        if (strcmp(c[i].heading_path, c[i - 1].heading_path) != 0)
            assert_memory_equal(c[i].text, "Sentence0 ", 10);
    chunk_free_all(c, n);
    sbuf_free(&b);
    article_free(&a);
}

static void test_options_id_and_bad_options(void **state)
{
    (void)state;
    char buf[64];
    chunk_options o = CHUNK_OPTIONS_DEFAULT;
    chunk_options_id(&o, buf, sizeof buf);
    assert_string_equal(buf, "chunk-v1:200:30");
    chunk_options_id(NULL, buf, sizeof buf);
    assert_string_equal(buf, "chunk-v1:200:30");
    chunk_options other = {120, 20};
    chunk_options_id(&other, buf, sizeof buf);
    assert_string_equal(buf, "chunk-v1:120:20");
    chunk_options_id(&o, buf, 6); /* truncates safely */
    assert_string_equal(buf, "chunk");

    article a = make_article("x");
    add(&a, BLOCK_PARAGRAPH, 0, "text", NULL);
    chunk *c = NULL;
    size_t n = 0;
    lore_err err = {0};
    chunk_options bad = {10, 10};
    assert_int_equal(chunk_article(&a, &bad, &c, &n, &err), LORE_EINVAL);
    chunk_options zero = {0, 0};
    assert_int_equal(chunk_article(&a, &zero, &c, &n, &err), LORE_EINVAL);
    assert_int_equal(chunk_article(&a, NULL, &c, &n, &err), 0); /* defaults */
    assert_int_equal(n, 1);
    chunk_free_all(c, n);
    article_free(&a);
}

static int keep_first(void *ctx, article *a)
{
    *(article *)ctx = *a;
    return 0;
}

static void test_parsed_markdown_chunks(void **state)
{
    (void)state;
    const char *root = getenv("LORE_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/parse/guide.md", root ? root : ".");
    article a;
    memset(&a, 0, sizeof a);
    parse_callbacks cb = {keep_first, NULL, &a};
    lore_err err = {0};
    assert_int_equal(parse_file(path, "guide.md", &cb, &err), 0);
    chunk *c;
    size_t n;
    run(&a, 200, 30, &c, &n);
    assert_int_equal(n, 4);
    assert_string_equal(c[0].heading_path, "Reset your password");
    assert_string_equal(c[1].heading_path, "Reset your password > Steps");
    assert_non_null(strstr(c[1].text, "1. Open the sign-in page.\n\n2. Click Forgot password."));
    assert_string_equal(c[2].heading_path, "Reset your password > Steps > Using the API");
    assert_memory_equal(c[2].text, "curl -X POST", 12);
    assert_string_equal(c[3].heading_path, "Reset your password > Limits");
    assert_memory_equal(c[3].text, "Plan | Resets per day | Notes\nFree", 34);
    chunk_free_all(c, n);
    article_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heading_paths),
        cmocka_unit_test(test_empty_sections_and_title_only),
        cmocka_unit_test(test_budget_respected),
        cmocka_unit_test(test_overlap_present),
        cmocka_unit_test(test_table_header_repeated),
        cmocka_unit_test(test_code_block_whole),
        cmocka_unit_test(test_sentence_split),
        cmocka_unit_test(test_cjk_chunking),
        cmocka_unit_test(test_ordinals_across_sections),
        cmocka_unit_test(test_options_id_and_bad_options),
        cmocka_unit_test(test_parsed_markdown_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
