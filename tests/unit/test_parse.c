/* Unit tests for indexer/parse: every format on the fixtures in tests/fixtures/parse, and
 * every kind of bad input (built in a temporary directory at run time). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"

#define MAX_ARTS 16
#define MAX_WARNS 16

typedef struct warning {
    char path[512];
    int line;
    char msg[256];
} warning;

typedef struct collected {
    article arts[MAX_ARTS];
    size_t n;
    warning warns[MAX_WARNS];
    size_t nw;
    int stop_after; /* sink returns 7 after this many articles; 0: never */
} collected;

static int collect_sink(void *ctx, article *a)
{
    collected *c = ctx;
    assert_true(c->n < MAX_ARTS);
    c->arts[c->n++] = *a; /* the sink owns the contents: keep them by value */
    return c->stop_after && (int)c->n >= c->stop_after ? 7 : 0;
}

static void collect_warn(void *ctx, const char *path, int line, const char *msg)
{
    collected *c = ctx;
    assert_true(c->nw < MAX_WARNS);
    warning *w = &c->warns[c->nw++];
    snprintf(w->path, sizeof w->path, "%s", path);
    w->line = line;
    snprintf(w->msg, sizeof w->msg, "%s", msg);
}

static void collected_free(collected *c)
{
    for (size_t i = 0; i < c->n; i++)
        article_free(&c->arts[i]);
    c->n = 0;
    c->nw = 0;
}

static void fixture(const char *name, char *buf, size_t len)
{
    const char *root = getenv("LORE_SOURCE_DIR");
    snprintf(buf, len, "%s/tests/fixtures/parse/%s", root ? root : ".", name);
}

/* Parses a fixture; the articles and warnings land in *c. */
static int parse_fixture(const char *name, collected *c)
{
    char path[512];
    fixture(name, path, sizeof path);
    parse_callbacks cb = {collect_sink, collect_warn, c};
    lore_err err = {0};
    int rc = parse_file(path, name, &cb, &err);
    if (rc != 0)
        print_error("parse_file %s: %s\n", name, err.msg);
    return rc;
}

static const article_block *block_with(const article *a, article_block_kind kind,
                                       const char *text)
{
    for (size_t i = 0; i < a->nblocks; i++)
        if (a->blocks[i].kind == kind && strcmp(a->blocks[i].text, text) == 0)
            return &a->blocks[i];
    return NULL;
}

static int any_block_contains(const article *a, const char *needle)
{
    for (size_t i = 0; i < a->nblocks; i++)
        if (strstr(a->blocks[i].text, needle) ||
            (a->blocks[i].header && strstr(a->blocks[i].header, needle)))
            return 1;
    return 0;
}

/* ---- temporary files ------------------------------------------------------------------ */

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lore-test-parse-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[320];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_tmp(const char *name, const void *data, size_t len, char *path, size_t plen)
{
    snprintf(path, plen, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Parses bytes written to a temporary file of the given name. */
static int parse_bytes(const char *name, const void *data, size_t len, collected *c)
{
    char path[512];
    write_tmp(name, data, len, path, sizeof path);
    parse_callbacks cb = {collect_sink, collect_warn, c};
    lore_err err = {0};
    return parse_file(path, name, &cb, &err);
}

#define PARSE_STR(name, s, c) parse_bytes((name), (s), sizeof(s) - 1, (c))

/* ---- Markdown ------------------------------------------------------------------------- */

static void test_md_front_matter(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("guide.md", &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.nw, 0);
    const article *a = &c.arts[0];
    assert_string_equal(a->id, "kb-101");
    assert_string_equal(a->title, "Reset your password"); /* quotes stripped */
    assert_string_equal(a->url, "https://help.example.com/kb/101");
    assert_string_equal(a->locale, "en-US");
    assert_string_equal(a->updated_at, "2024-03-01T10:00:00Z");
    assert_non_null(strstr(a->source, "guide.md"));
    assert_int_equal(a->line, 1);
    collected_free(&c);
}

static void test_md_headings_levels_and_lines(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("guide.md", &c), 0);
    const article *a = &c.arts[0];
    const article_block *h;
    /* The H1 stays a block when the title came from front matter (the chunker drops it). */
    assert_non_null(h = block_with(a, BLOCK_HEADING, "Reset your password"));
    assert_int_equal(h->level, 1);
    assert_int_equal(h->line, 10);
    assert_non_null(h = block_with(a, BLOCK_HEADING, "Steps"));
    assert_int_equal(h->level, 2);
    assert_int_equal(h->line, 15);
    assert_non_null(h = block_with(a, BLOCK_HEADING, "Using the API"));
    assert_int_equal(h->level, 3);
    assert_int_equal(h->line, 29);
    assert_non_null(h = block_with(a, BLOCK_HEADING, "Limits"));
    assert_int_equal(h->level, 2);
    assert_int_equal(h->line, 36);
    /* Front matter never leaks into the body. */
    assert_false(any_block_contains(a, "kb-101"));
    assert_false(any_block_contains(a, "tags"));
    collected_free(&c);
}

static void test_md_lists_prefixed(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("guide.md", &c), 0);
    const article *a = &c.arts[0];
    const article_block *b;
    assert_non_null(b = block_with(a, BLOCK_PARAGRAPH, "1. Open the sign-in page."));
    assert_int_equal(b->line, 17);
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "2. Click Forgot password."));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "3. Enter your email address."));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "- Check your spam folder"));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "- Links expire after 24 hours"));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "- Request a new one if needed"));
    /* Block quotes are paragraphs. */
    assert_non_null(block_with(a, BLOCK_PARAGRAPH,
                               "Note: administrators can reset passwords for their team."));
    collected_free(&c);
}

static void test_md_code_verbatim(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("guide.md", &c), 0);
    const article_block *b = block_with(
        &c.arts[0], BLOCK_CODE,
        "curl -X POST https://api.example.com/v1/password/reset \\\n"
        "  -d '{\"email\": \"you@example.com\"}'");
    assert_non_null(b);
    assert_int_equal(b->line, 31); /* the opening fence */
    collected_free(&c);

    assert_int_equal(parse_fixture("first-h1.md", &c), 0);
    assert_non_null(
        block_with(&c.arts[0], BLOCK_CODE, "indented code line one\nindented code line two"));
    collected_free(&c);
}

static void test_md_table_header(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("guide.md", &c), 0);
    const article_block *b =
        block_with(&c.arts[0], BLOCK_TABLE, "Free | 3 | per user\nPro | 10 | per user");
    assert_non_null(b);
    assert_non_null(b->header);
    assert_string_equal(b->header, "Plan | Resets per day | Notes");
    assert_int_equal(b->line, 38);
    collected_free(&c);
}

static void test_md_inline_markup_reduced(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("guide.md", &c), 0);
    const article *a = &c.arts[0];
    /* Emphasis gone, link text kept, URL dropped, entity decoded, soft break a space. */
    assert_non_null(block_with(a, BLOCK_PARAGRAPH,
                               "If you forgot your password, you can reset it from the sign-in "
                               "page. See the account settings for more & more."));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "Screenshot of the reset form"));
    assert_false(any_block_contains(a, "https://example.com/settings"));
    assert_false(any_block_contains(a, "**"));
    assert_false(any_block_contains(a, "reset.png"));
    collected_free(&c);
}

static void test_md_title_from_first_h1(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("first-h1.md", &c), 0);
    const article *a = &c.arts[0];
    assert_string_equal(a->title, "Billing overview");
    assert_string_equal(a->id, "first-h1.md"); /* no front matter: the relative path */
    assert_null(a->url);
    assert_null(a->locale);
    assert_null(block_with(a, BLOCK_HEADING, "Billing overview")); /* not repeated */
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "Intro line before the heading."));
    const article_block *h = block_with(a, BLOCK_HEADING, "Refunds");
    assert_non_null(h);
    assert_int_equal(h->line, 7);
    collected_free(&c);
}

static void test_md_title_from_file_name(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("no-heading.md", &c), 0);
    assert_string_equal(c.arts[0].title, "no-heading");
    assert_int_equal(c.arts[0].nblocks, 2);
    assert_int_equal(c.arts[0].blocks[1].line, 3);
    collected_free(&c);
}

/* ---- HTML ----------------------------------------------------------------------------- */

static void test_html_clutter_skipped(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("page.html", &c), 0);
    assert_int_equal(c.n, 1);
    const article *a = &c.arts[0];
    static const char *clutter[] = {"SCRIPT_TEXT", "HEADER_TEXT", "NAV_TEXT", "ASIDE_TEXT",
                                    "FOOTER_TEXT", "FORM_TEXT", "NOSCRIPT_TEXT", "SVG_TEXT",
                                    "color: red"};
    for (size_t i = 0; i < sizeof clutter / sizeof clutter[0]; i++)
        if (any_block_contains(a, clutter[i]))
            fail_msg("clutter '%s' was kept", clutter[i]);
    collected_free(&c);
}

static void test_html_metadata(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("page.html", &c), 0);
    const article *a = &c.arts[0];
    /* The page's <h1> names the article; <title> carries the site's name as well. */
    assert_string_equal(a->title, "Konto löschen");
    assert_string_equal(a->locale, "de-DE");
    assert_string_equal(a->url, "https://help.example.com/de/konto-loeschen");
    assert_string_equal(a->id, "de-42");
    collected_free(&c);
}

static void test_html_blocks(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("page.html", &c), 0);
    const article *a = &c.arts[0];
    const article_block *b;
    /* The <h1> became the title, so it is not also a heading block. */
    assert_null(block_with(a, BLOCK_HEADING, "Konto löschen"));
    assert_non_null(b = block_with(a, BLOCK_HEADING, "Schritte"));
    assert_int_equal(b->level, 2);
    /* Entities decoded, &nbsp; and whitespace collapsed to single spaces. */
    assert_non_null(b = block_with(a, BLOCK_PARAGRAPH, "So löschen Sie Ihr Konto dauerhaft & sicher."));
    assert_int_equal(b->line, 16);
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "1. Öffnen Sie die Einstellungen."));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "2. Klicken Sie auf Konto löschen."));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "- Daten werden nach 30 Tagen entfernt."));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "Loose text in a div."));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "Zitat hier."));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "Begriff"));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "Erklärung"));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "Bild vom Dialog"));
    assert_non_null(block_with(a, BLOCK_CODE, "DELETE /v1/account\n  --force"));
    assert_non_null(b = block_with(a, BLOCK_TABLE, "Free | 30 Tage\nPro | 90 Tage"));
    assert_string_equal(b->header, "Plan | Frist");
    collected_free(&c);
}

static void test_html_title_from_h1(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("bare.html", &c), 0);
    const article *a = &c.arts[0];
    assert_string_equal(a->title, "Two-factor authentication");
    assert_string_equal(a->id, "bare.html");
    assert_null(a->locale);
    assert_int_equal(a->nblocks, 1);
    assert_string_equal(a->blocks[0].text, "Turn it on under Security.");
    collected_free(&c);
}

static void test_html_title_tag_without_h1(void **state)
{
    (void)state;
    static const char page[] = "<html><head><title>Billing FAQ | Help</title></head>"
                               "<body><h2>Invoices</h2><p>Sent monthly.</p></body></html>";
    collected c = {0};
    assert_int_equal(parse_bytes("faq.html", page, sizeof page - 1, &c), 0);
    const article *a = &c.arts[0];
    assert_string_equal(a->title, "Billing FAQ | Help");
    assert_non_null(block_with(a, BLOCK_HEADING, "Invoices"));
    collected_free(&c);
}

/* ---- plain text ----------------------------------------------------------------------- */

static void test_text_title_and_paragraphs(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("notes.txt", &c), 0);
    const article *a = &c.arts[0];
    assert_string_equal(a->title, "Shipping times");
    assert_int_equal(a->nblocks, 2);
    assert_string_equal(a->blocks[0].text,
                        "Orders ship within 2 business days.\nTracking is emailed.");
    assert_int_equal(a->blocks[0].line, 4);
    assert_string_equal(a->blocks[1].text, "International orders take longer.");
    assert_int_equal(a->blocks[1].line, 7);
    collected_free(&c);
}

static void test_crlf_line_endings(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(PARSE_STR("crlf.txt", "Title\r\n\r\nline one\r\nline two\r\n", &c), 0);
    assert_string_equal(c.arts[0].title, "Title");
    assert_string_equal(c.arts[0].blocks[0].text, "line one\nline two");
    collected_free(&c);
    assert_int_equal(
        PARSE_STR("crlf.md", "---\r\ntitle: 'Win'\r\nid: w1\r\n---\r\n\r\nBody text.\r\n", &c), 0);
    assert_string_equal(c.arts[0].title, "Win");
    assert_string_equal(c.arts[0].id, "w1");
    assert_int_equal(c.arts[0].nblocks, 1);
    assert_string_equal(c.arts[0].blocks[0].text, "Body text.");
    assert_int_equal(c.arts[0].blocks[0].line, 6);
    collected_free(&c);
}

/* ---- JSON and JSONL ------------------------------------------------------------------- */

static void test_json_array(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("export.json", &c), 0);
    assert_int_equal(c.n, 3);
    /* Numeric id printed as an integer; HTML body; Zendesk-like html_url. */
    const article *a = &c.arts[0];
    assert_string_equal(a->id, "360001234567");
    assert_string_equal(a->title, "Change your plan");
    assert_string_equal(a->url, "https://help.example.com/articles/360001234567");
    assert_string_equal(a->locale, "en-us");
    assert_string_equal(a->updated_at, "2024-01-02T03:04:05Z");
    assert_int_equal(a->line, 2);
    assert_non_null(block_with(a, BLOCK_HEADING, "Upgrade"));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "Go to Billing."));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "- Pick a plan"));
    /* Markdown body. */
    a = &c.arts[1];
    assert_string_equal(a->id, "md-7");
    assert_int_equal(a->line, 10);
    assert_non_null(block_with(a, BLOCK_HEADING, "Formats"));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "We export CSV and JSON."));
    assert_non_null(block_with(a, BLOCK_PARAGRAPH, "1. Open Settings"));
    assert_int_equal(a->blocks[0].line, 10);
    /* Title-only record: kept, no blocks; fractional id kept as is. */
    a = &c.arts[2];
    assert_string_equal(a->id, "12.5");
    assert_string_equal(a->title, "Title only");
    assert_int_equal(a->nblocks, 0);
    assert_int_equal(a->line, 20);
    /* The record with neither title nor body: one warning with its line. */
    assert_int_equal(c.nw, 1);
    assert_int_equal(c.warns[0].line, 16);
    assert_non_null(strstr(c.warns[0].msg, "neither title nor body"));
    assert_non_null(strstr(c.warns[0].path, "export.json"));
    collected_free(&c);
}

static void test_json_articles_object(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("zendesk.json", &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.nw, 0);
    assert_string_equal(c.arts[0].id, "1");
    assert_string_equal(c.arts[0].title, "Login issues");
    assert_string_equal(c.arts[0].url, "https://z.example.com/1");
    assert_int_equal(c.arts[0].line, 4);
    assert_string_equal(c.arts[1].id, "2");
    assert_string_equal(c.arts[1].title, "登录问题");
    assert_string_equal(c.arts[1].locale, "zh-cn");
    assert_int_equal(c.arts[1].line, 5);
    assert_non_null(block_with(&c.arts[1], BLOCK_PARAGRAPH, "请清除浏览器缓存。然后重新登录。"));
    collected_free(&c);
}

static void test_jsonl_beir(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_fixture("corpus.jsonl", &c), 0);
    assert_int_equal(c.n, 3);
    const article *a = &c.arts[0];
    assert_string_equal(a->id, "doc1");
    assert_string_equal(a->title, "Solar power");
    assert_int_equal(a->line, 1);
    assert_int_equal(a->nblocks, 2); /* split on the blank line */
    assert_string_equal(a->blocks[0].text, "Solar panels convert light.");
    assert_string_equal(a->blocks[1].text, "They work on cloudy days too.");
    /* An empty title stays empty: BEIR text never becomes a title. */
    a = &c.arts[1];
    assert_string_equal(a->id, "doc2");
    assert_string_equal(a->title, "");
    assert_int_equal(a->line, 3);
    assert_string_equal(a->blocks[0].text, "Wind turbines spin.");
    /* The bad line in between did not stop the Chinese record after it. */
    a = &c.arts[2];
    assert_string_equal(a->id, "4");
    assert_string_equal(a->title, "中文标题");
    assert_int_equal(a->line, 5);
    assert_string_equal(a->blocks[0].text, "太阳能电池板把光转换成电。阴天也能工作。");
    assert_int_equal(c.nw, 2);
    assert_int_equal(c.warns[0].line, 4);
    assert_non_null(strstr(c.warns[0].msg, "malformed json"));
    assert_int_equal(c.warns[1].line, 6);
    assert_non_null(strstr(c.warns[1].msg, "neither title nor body"));
    collected_free(&c);
}

static void test_jsonl_invalid_utf8_record_skipped(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(PARSE_STR("u.jsonl",
                               "{\"_id\":\"a\",\"title\":\"ok\",\"text\":\"fine\"}\n"
                               "{\"_id\":\"b\",\"title\":\"bad \xC3\x28 byte\"}\n"
                               "{\"_id\":\"c\",\"title\":\"also ok\"}\n",
                               &c),
                     0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.arts[0].id, "a");
    assert_string_equal(c.arts[1].id, "c");
    assert_int_equal(c.nw, 1);
    assert_int_equal(c.warns[0].line, 2);
    assert_non_null(strstr(c.warns[0].msg, "invalid utf-8"));
    collected_free(&c);
}

static void test_json_ids(void **state)
{
    (void)state;
    collected c = {0};
    char long_id[301];
    memset(long_id, 'k', 300);
    long_id[300] = '\0';
    char doc[512];
    int n = snprintf(doc, sizeof doc,
                     "{\"title\":\"A\"}\n{\"id\":null,\"title\":\"B\"}\n"
                     "{\"id\":\"%s\",\"title\":\"C\"}\n{\"_id\":-42,\"title\":\"D\"}\n",
                     long_id);
    assert_true(n > 0 && (size_t)n < sizeof doc);
    assert_int_equal(parse_bytes("noid.jsonl", doc, (size_t)n, &c), 0);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.arts[0].id, "noid.jsonl#1"); /* no id: file and record number */
    assert_string_equal(c.arts[1].id, "noid.jsonl#2");
    assert_string_equal(c.arts[2].id, long_id); /* never truncated */
    assert_string_equal(c.arts[3].id, "-42");
    collected_free(&c);
}

/* ---- bad input ------------------------------------------------------------------------ */

static void assert_one_warning(const collected *c, int line, const char *what)
{
    assert_int_equal(c->n, 0);
    assert_int_equal(c->nw, 1);
    if (strstr(c->warns[0].msg, what) == NULL)
        fail_msg("warning '%s' does not mention '%s'", c->warns[0].msg, what);
    assert_int_equal(c->warns[0].line, line);
    assert_true(c->warns[0].path[0] != '\0');
}

static void test_bad_utf8_reports_line(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(PARSE_STR("bad.md", "# Title\n\nfine line\nbad \xFF byte\nmore\n", &c), 0);
    assert_one_warning(&c, 4, "invalid utf-8");
    assert_non_null(strstr(c.warns[0].path, "bad.md"));
    collected_free(&c);
    /* An overlong encoding and a surrogate are invalid too. */
    assert_int_equal(PARSE_STR("overlong.txt", "ok\n\xC0\xAF\n", &c), 0);
    assert_one_warning(&c, 2, "invalid utf-8");
    collected_free(&c);
    assert_int_equal(PARSE_STR("surrogate.html", "<p>a</p>\n\n\xED\xA0\x80\n", &c), 0);
    assert_one_warning(&c, 3, "invalid utf-8");
    collected_free(&c);
}

static void test_malformed_json_reports_line(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(PARSE_STR("m.json",
                               "[\n"
                               "  {\"id\": 1, \"title\": \"a\"},\n"
                               "  {\"id\": 2, \"title\": \"b\",,\n"
                               "   \"body\": \"x\"}\n"
                               "]\n",
                               &c),
                     0);
    assert_one_warning(&c, 3, "malformed json"); /* the good record is not emitted either */
    collected_free(&c);
    assert_int_equal(PARSE_STR("t.json", "[{\"id\": 1, \"title\": \"a\"}]\n\nextra\n", &c), 0);
    assert_one_warning(&c, 3, "malformed json");
    collected_free(&c);
    assert_int_equal(PARSE_STR("o.json", "{\"count\": 3}", &c), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(c.nw, 1);
    collected_free(&c);
}

static void test_binary_file(void **state)
{
    (void)state;
    collected c = {0};
    static const char bin[] = "PK\x03\x04\nabc\x00\x01\x02";
    assert_int_equal(parse_bytes("archive.md", bin, sizeof bin - 1, &c), 0);
    assert_one_warning(&c, 2, "binary");
    collected_free(&c);
}

static void test_empty_file(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(parse_bytes("empty.md", "", 0, &c), 0);
    assert_one_warning(&c, 0, "empty");
    collected_free(&c);
    assert_int_equal(PARSE_STR("blank.json", " \n\t\r\n  \n", &c), 0);
    assert_one_warning(&c, 0, "empty");
    collected_free(&c);
}

static void test_oversized_file(void **state)
{
    (void)state;
    char path[512];
    write_tmp("huge.md", "# x\n", 4, path, sizeof path);
    /* Sparse: the size check happens before any byte is read. */
    assert_int_equal(truncate(path, (off_t)PARSE_MAX_FILE + 1), 0);
    collected c = {0};
    parse_callbacks cb = {collect_sink, collect_warn, &c};
    lore_err err = {0};
    assert_int_equal(parse_file(path, "huge.md", &cb, &err), 0);
    assert_one_warning(&c, 0, "too large");
    collected_free(&c);
    assert_int_equal(unlink(path), 0);
}

static void test_unsupported_and_missing(void **state)
{
    (void)state;
    collected c = {0};
    assert_int_equal(PARSE_STR("doc.pdf", "%PDF-1.4", &c), 0);
    assert_one_warning(&c, 0, "unsupported");
    collected_free(&c);
    /* A file that cannot be read stops the run: skipping it would delete its articles. */
    parse_callbacks cb = {collect_sink, collect_warn, &c};
    lore_err err = {0};
    assert_int_equal(parse_file("/nonexistent/lore/x.md", "x.md", &cb, &err), LORE_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/lore/x.md"));
}

static void test_sink_stops_parsing(void **state)
{
    (void)state;
    collected c = {0};
    c.stop_after = 1;
    assert_int_equal(parse_fixture("corpus.jsonl", &c), 7);
    assert_int_equal(c.n, 1);
    collected_free(&c);
}

static void test_parse_body_formats(void **state)
{
    (void)state;
    lore_err err = {0};
    article a;
    memset(&a, 0, sizeof a);
    static const char md[] = "# Heading one\n\nSome *text*.\n";
    assert_int_equal(parse_body("markdown", md, sizeof md - 1, &a, &err), 0);
    assert_string_equal(a.title, "Heading one");
    assert_int_equal(a.nblocks, 1);
    assert_string_equal(a.blocks[0].text, "Some text.");
    article_free(&a);

    static const char html[] = "<h2>Sub</h2><p>Para &lt;b&gt;</p>";
    assert_int_equal(parse_body("html", html, sizeof html - 1, &a, &err), 0);
    assert_string_equal(a.title, ""); /* never NULL */
    assert_int_equal(a.nblocks, 2);
    assert_string_equal(a.blocks[1].text, "Para <b>");
    article_free(&a);

    static const char txt[] = "First line\n\nbody";
    assert_int_equal(parse_body("text", txt, sizeof txt - 1, &a, &err), 0);
    assert_string_equal(a.title, "First line");
    article_free(&a);

    assert_int_equal(parse_body("pdf", "x", 1, &a, &err), LORE_EINVAL);
    article_free(&a);
}

static void test_parse_supported(void **state)
{
    (void)state;
    assert_true(parse_supported("a/b.md"));
    assert_true(parse_supported("b.MARKDOWN"));
    assert_true(parse_supported("b.htm"));
    assert_true(parse_supported("b.html"));
    assert_true(parse_supported("b.txt"));
    assert_true(parse_supported("b.json"));
    assert_true(parse_supported("corpus.jsonl"));
    assert_false(parse_supported("b.pdf"));
    assert_false(parse_supported("md"));
    assert_false(parse_supported(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md_front_matter),
        cmocka_unit_test(test_md_headings_levels_and_lines),
        cmocka_unit_test(test_md_lists_prefixed),
        cmocka_unit_test(test_md_code_verbatim),
        cmocka_unit_test(test_md_table_header),
        cmocka_unit_test(test_md_inline_markup_reduced),
        cmocka_unit_test(test_md_title_from_first_h1),
        cmocka_unit_test(test_md_title_from_file_name),
        cmocka_unit_test(test_html_clutter_skipped),
        cmocka_unit_test(test_html_metadata),
        cmocka_unit_test(test_html_blocks),
        cmocka_unit_test(test_html_title_from_h1),
        cmocka_unit_test(test_html_title_tag_without_h1),
        cmocka_unit_test(test_text_title_and_paragraphs),
        cmocka_unit_test(test_crlf_line_endings),
        cmocka_unit_test(test_json_array),
        cmocka_unit_test(test_json_articles_object),
        cmocka_unit_test(test_jsonl_beir),
        cmocka_unit_test(test_jsonl_invalid_utf8_record_skipped),
        cmocka_unit_test(test_json_ids),
        cmocka_unit_test(test_bad_utf8_reports_line),
        cmocka_unit_test(test_malformed_json_reports_line),
        cmocka_unit_test(test_binary_file),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_oversized_file),
        cmocka_unit_test(test_unsupported_and_missing),
        cmocka_unit_test(test_sink_stops_parsing),
        cmocka_unit_test(test_parse_body_formats),
        cmocka_unit_test(test_parse_supported),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
