/* Unit tests for text: NFKC (fullwidth, ligatures, enclosed and squared forms), case folding,
 * diacritics (precomposed and NFD), stop words (English and per language), Porter and German
 * stemming, locale mapping, apostrophes and French elision, numbers and mid-word
 * punctuation, CJK bigrams and unigrams with byte offsets, kana voicing and Hangul jamo
 * composition, broken UTF-8 (every input is copied into an exact-size heap buffer so
 * AddressSanitizer sees any over-read), random bytes, empty input, long words, offsets that
 * map back to the original text, callback stop, text_utf8_valid and text_count_tokens. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* ---- helpers ---- */

#define MAX_TOKS 128

typedef struct tok {
    char term[TEXT_MAX_TERM + 1];
    size_t len, start, end;
} tok;

typedef struct toks {
    tok t[MAX_TOKS];
    size_t n;
    size_t srclen;
} toks;

/* Checks the contract on every token: non-empty, bounded, valid UTF-8, in-range offsets. */
static int collect(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    toks *ts = ctx;
    assert_true(len > 0);
    assert_true(len <= TEXT_MAX_TERM);
    assert_true(text_utf8_valid(term, len));
    assert_true(start < end);
    assert_true(end <= ts->srclen);
    if (ts->n < MAX_TOKS) {
        tok *t = &ts->t[ts->n];
        memcpy(t->term, term, len);
        t->term[len] = '\0';
        t->len = len;
        t->start = start;
        t->end = end;
    }
    ts->n++;
    return 0;
}

/* Analyses a heap copy of exactly n bytes, so any read past the end is caught. */
static void run(text_analyzer *a, const char *s, size_t n, toks *out)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n > 0)
        memcpy(copy, s, n);
    memset(out, 0, sizeof *out);
    out->srclen = n;
    assert_int_equal(text_analyze(a, n ? copy : NULL, n, collect, out), 0);
    free(copy);
}

static void analyze(const char *locale, const char *s, toks *out)
{
    text_analyzer *a = NULL;
    lore_err err;
    assert_int_equal(text_analyzer_new(locale, &a, &err), 0);
    run(a, s, strlen(s), out);
    text_analyzer_free(a);
}

/* The terms joined with '|', for compact expectations. */
static const char *joined(const toks *ts)
{
    static char buf[4096];
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ts->n && i < MAX_TOKS; i++) {
        int w = snprintf(buf + k, sizeof buf - k, "%s%s", i ? "|" : "", ts->t[i].term);
        assert_true(w >= 0 && (size_t)w < sizeof buf - k);
        k += (size_t)w;
    }
    return buf;
}

static void expect_terms(const char *locale, const char *s, const char *want)
{
    toks ts;
    analyze(locale, s, &ts);
    assert_string_equal(joined(&ts), want);
}

static void expect_tok(const toks *ts, size_t i, const char *term, size_t start, size_t end)
{
    assert_true(i < ts->n);
    assert_string_equal(ts->t[i].term, term);
    assert_int_equal(ts->t[i].start, start);
    assert_int_equal(ts->t[i].end, end);
}

/* ---- normalization ---- */

static void test_nfkc_fullwidth_ligatures(void **state)
{
    (void)state;
    toks ts;
    analyze("en", "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3 \xEF\xAC\x81nd \xEF\xAC\x81les", &ts);
    assert_int_equal(ts.n, 3);
    expect_tok(&ts, 0, "abc", 0, 9);   /* ＡＢＣ */
    expect_tok(&ts, 1, "find", 10, 15); /* ﬁnd */
    expect_tok(&ts, 2, "file", 16, 22); /* ﬁles */
    /* ① -> 1, ㍻ -> 平成 (one code point, two CJK characters), fullwidth digits */
    expect_terms("en", "\xE2\x91\xA0 \xE3\x8D\xBB \xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\x94",
                 "1|\xE5\xB9\xB3\xE6\x88\x90|2024");
}

static void test_case_fold_diacritics(void **state)
{
    (void)state;
    expect_terms("en", "Caf\xC3\xA9 CAF\xC3\x89 cafe", "cafe|cafe|cafe");
    /* Straße and STRASSE fold to the same term */
    toks a, b;
    analyze("en", "Stra\xC3\x9F" "e", &a);
    analyze("en", "STRASSE", &b);
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 1);
    assert_string_equal(a.t[0].term, b.t[0].term);
    assert_string_equal(a.t[0].term, "strass"); /* porter drops the final e */
    /* NFD input: the combining acute is stripped but stays inside the token's range */
    toks ts;
    analyze("en", "Cafe\xCC\x81 na\xC3\xAFve", &ts);
    assert_int_equal(ts.n, 2);
    expect_tok(&ts, 0, "cafe", 0, 6);
    expect_tok(&ts, 1, "naiv", 7, 13);
    /* Greek final sigma and Turkish dotted capital I fold */
    analyze("el", "\xCE\xA3\xCE\x9F\xCE\xA6\xCE\x9F\xCE\xA3", &a); /* ΣΟΦΟΣ */
    analyze("el", "\xCF\x83\xCE\xBF\xCF\x86\xCE\xBF\xCF\x82", &b); /* σοφος */
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 1);
    assert_string_equal(a.t[0].term, b.t[0].term);
    expect_terms("en", "\xC4\xB0stanbul", "istanbul");
    /* a soft hyphen inside a word is ignored, a zero width space separates */
    expect_terms("en", "co\xC2\xAD" "operate", "cooper");
    expect_terms("en", "refund\xE2\x80\x8Bpolicy", "refund|polici");
}

/* ---- stop words and stemming ---- */

static void test_stop_words_english(void **state)
{
    (void)state;
    expect_terms("en", "The cat and the hat is on it", "cat|hat");
    static const char *const lucene[] = {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if",
        "in", "into", "is", "it", "no", "not", "of", "on", "or", "such", "that",
        "the", "their", "then", "there", "these", "they", "this", "to", "was", "will",
        "with",
    };
    for (size_t i = 0; i < sizeof lucene / sizeof lucene[0]; i++) {
        toks ts;
        analyze("en", lucene[i], &ts);
        assert_int_equal(ts.n, 0);
    }
    /* words outside the classic set are kept: "how", "what", "can" carry meaning */
    expect_terms("en", "how what can", "how|what|can");
}

/* Languages with a list drop their articles and prepositions, accented or not. */
static void test_stop_words_other_languages(void **state)
{
    (void)state;
    static const struct {
        const char *locale, *words;
    } cases[] = {
        {"de", "der die das und \xC3\xBC" "ber f\xC3\xBCr zur dass"},
        {"fr", "le la les de du et \xC3\xA0 o\xC3\xB9 une"},
        {"es", "el la los de y \xC3\xA9l para"},
        {"it", "il della nella e \xC3\xA8 gli"},
        {"pt", "o os da pelo \xC3\xA9 \xC3\xA0 uma"},
        {"nl", "de het een en van voor"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        toks ts;
        analyze(cases[i].locale, cases[i].words, &ts);
        if (ts.n != 0)
            fail_msg("%s kept %s", cases[i].locale, joined(&ts));
    }
    /* languages without a list keep every word */
    expect_terms("sv", "och", "och");
}

static void test_stemming_english(void **state)
{
    (void)state;
    text_analyzer *a = NULL;
    assert_int_equal(text_analyzer_new("en-US", &a, NULL), 0);
    assert_string_equal(text_analyzer_language(a), "porter");
    toks ts;
    const char *s = "running connections easily generalization";
    run(a, s, strlen(s), &ts);
    assert_string_equal(joined(&ts), "run|connect|easili|gener");
    text_analyzer_free(a);
}

static void test_stemming_german(void **state)
{
    (void)state;
    expect_terms("de", "H\xC3\xA4user der Hund und die Katze Kategorien",
                 "haus|hund|katz|kategori");
    /* the same words under English: German stop words are kept, no German suffixes go */
    expect_terms("en", "H\xC3\xA4user die Kategorien", "hauser|die|kategorien");
}

static void test_locale_mapping(void **state)
{
    (void)state;
    static const struct {
        const char *locale, *lang;
    } cases[] = {
        {"en", "porter"},        {"EN_gb", "porter"},   {"de-AT", "german"},
        {"pt_BR", "portuguese"}, {"nb", "norwegian"},   {"nn-NO", "norwegian"},
        {"fr.UTF-8", "french"},  {"sv", "swedish"},     {"ru", "russian"},
        {"German", "german"},    {"xx", "porter"},      {"zh-CN", "porter"},
        {"", "porter"},          {"ja", "porter"},      {"fi@euro", "finnish"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        text_analyzer *a = NULL;
        assert_int_equal(text_analyzer_new(cases[i].locale, &a, NULL), 0);
        assert_string_equal(text_analyzer_language(a), cases[i].lang);
        text_analyzer_free(a);
    }
    text_analyzer *a = NULL;
    assert_int_equal(text_analyzer_new(NULL, &a, NULL), 0);
    assert_string_equal(text_analyzer_language(a), "porter");
    text_analyzer_free(a);
}

static void test_set_locale_switch(void **state)
{
    (void)state;
    text_analyzer *a = NULL;
    toks ts;
    assert_int_equal(text_analyzer_new("en", &a, NULL), 0);
    run(a, "die Kategorien", 14, &ts);
    assert_string_equal(joined(&ts), "die|kategorien");
    assert_int_equal(text_analyzer_set_locale(a, "de"), 0);
    assert_string_equal(text_analyzer_language(a), "german");
    run(a, "die Kategorien", 14, &ts);
    assert_string_equal(joined(&ts), "kategori");
    assert_int_equal(text_analyzer_set_locale(a, "de-CH"), 0); /* same language: no-op */
    assert_string_equal(text_analyzer_language(a), "german");
    assert_int_equal(text_analyzer_set_locale(a, "en"), 0);
    run(a, "running", 7, &ts);
    assert_string_equal(joined(&ts), "run");
    text_analyzer_free(a);
}

/* ---- word boundaries ---- */

static void test_apostrophes(void **state)
{
    (void)state;
    toks ts;
    analyze("en", "don't customer's it's O\xE2\x80\x99Reilly", &ts);
    assert_string_equal(joined(&ts), "dont|custom|oreilli"); /* "it's" -> "it": stop word */
    expect_tok(&ts, 0, "dont", 0, 5);
    expect_tok(&ts, 1, "custom", 6, 16); /* the range keeps the possessive */
    expect_tok(&ts, 2, "oreilli", 22, 32);
    /* apostrophes at word edges are separators */
    expect_terms("en", "'quoted' users' dogs'", "quot|user|dog");
}

static void test_french_elision(void **state)
{
    (void)state;
    toks ts;
    analyze("fr", "l'homme qu'il aujourd'hui", &ts);
    assert_string_equal(joined(&ts), "homm|aujourdhui"); /* "il" is a French stop word */
    expect_tok(&ts, 0, "homm", 2, 7);
    /* English keeps the whole word */
    expect_terms("en", "l'homme", "lhomm");
}

static void test_numbers_and_mid_punctuation(void **state)
{
    (void)state;
    expect_terms("en", "version 2.5 costs 1,000 dollars in 2024",
                 "version|2.5|cost|1,000|dollar|2024");
    expect_terms("en", "u.s.a. e.g. api_key v1.2 3.x end.", "u.s.a|e.g|api|kei|v1.2|3|x|end");
    expect_terms("en", "a..b 1,,2 ,5", "b|1|2|5");
    /* the middle dot joins letters (Catalan "l·l"); the Catalan stemmer itself writes it
     * as '.' */
    expect_terms("en", "col\xC2\xB7leccions", "col\xC2\xB7leccion");
    expect_terms("ca", "col\xC2\xB7leccions", "col.lec");
}

/* ---- CJK ---- */

static void test_cjk_bigrams(void **state)
{
    (void)state;
    toks ts;
    analyze("zh-CN", "\xE9\x80\x80\xE6\xAC\xBE\xE6\x94\xBF\xE7\xAD\x96", &ts); /* 退款政策 */
    assert_int_equal(ts.n, 3);
    expect_tok(&ts, 0, "\xE9\x80\x80\xE6\xAC\xBE", 0, 6); /* 退款 */
    expect_tok(&ts, 1, "\xE6\xAC\xBE\xE6\x94\xBF", 3, 9); /* 款政 */
    expect_tok(&ts, 2, "\xE6\x94\xBF\xE7\xAD\x96", 6, 12); /* 政策 */
}

static void test_cjk_unigram_and_mixed(void **state)
{
    (void)state;
    toks ts;
    analyze("en", "\xE7\x8C\xAB", &ts); /* 猫 */
    assert_int_equal(ts.n, 1);
    expect_tok(&ts, 0, "\xE7\x8C\xAB", 0, 3);

    /* iPhone15退款政策, refund: scripts split without spaces */
    analyze("en", "iPhone15\xE9\x80\x80\xE6\xAC\xBE\xE6\x94\xBF\xE7\xAD\x96, refunds", &ts);
    assert_int_equal(ts.n, 5);
    expect_tok(&ts, 0, "iphone15", 0, 8);
    expect_tok(&ts, 1, "\xE9\x80\x80\xE6\xAC\xBE", 8, 14);
    expect_tok(&ts, 2, "\xE6\xAC\xBE\xE6\x94\xBF", 11, 17);
    expect_tok(&ts, 3, "\xE6\x94\xBF\xE7\xAD\x96", 14, 20);
    expect_tok(&ts, 4, "refund", 22, 29);

    /* punctuation splits runs: 猫。犬 gives two unigrams; Hiragana bigrams with Han */
    expect_terms("ja", "\xE7\x8C\xAB\xE3\x80\x82\xE7\x8A\xAC", "\xE7\x8C\xAB|\xE7\x8A\xAC");
    expect_terms("ja", "\xE6\x97\xA5\xE6\x9C\xAC\xE3\x81\xAE", /* 日本の */
                 "\xE6\x97\xA5\xE6\x9C\xAC|\xE6\x9C\xAC\xE3\x81\xAE");
}

static void test_kana_hangul_composition(void **state)
{
    (void)state;
    toks ts;
    /* halfwidth ｶﾞｲﾄﾞ: NFKC gives ガイド, the voicing marks compose across characters */
    analyze("ja", "\xEF\xBD\xB6\xEF\xBE\x9E\xEF\xBD\xB2\xEF\xBE\x84\xEF\xBE\x9E", &ts);
    assert_int_equal(ts.n, 2);
    expect_tok(&ts, 0, "\xE3\x82\xAC\xE3\x82\xA4", 0, 9);  /* ガイ */
    expect_tok(&ts, 1, "\xE3\x82\xA4\xE3\x83\x89", 6, 15); /* イド */
    /* precomposed ガ is kept (not reduced to カ) */
    expect_terms("ja", "\xE3\x82\xAC", "\xE3\x82\xAC");
    /* 한국어 */
    analyze("ko", "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4", &ts);
    assert_string_equal(joined(&ts), "\xED\x95\x9C\xEA\xB5\xAD|\xEA\xB5\xAD\xEC\x96\xB4");
    /* conjoining jamo (NFD) ᄒ ᅡ ᆫ compose to 한 */
    analyze("ko", "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", &ts);
    assert_int_equal(ts.n, 1);
    expect_tok(&ts, 0, "\xED\x95\x9C", 0, 9);
}

/* ---- robustness ---- */

static void test_broken_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n;
        const char *want;
    } cases[] = {
        {"ab\xFF" "cd", 5, "ab|cd"},
        {"caf\xC3", 4, "caf"},                  /* truncated at the end */
        {"\xC0\xAFx", 3, "x"},                  /* overlong '/' */
        {"\xED\xA0\x80y", 4, "y"},              /* surrogate */
        {"z\xF0\x9F\x98", 4, "z"},              /* truncated 4-byte sequence */
        {"\xF4\x90\x80\x80q", 5, "q"},          /* beyond U+10FFFF */
        {"\x80\x80\x80", 3, ""},                /* lone continuation bytes */
        {"re\xE2\x82" "fund", 8, "re|fund"},    /* cut 3-byte sequence mid-word */
        {"x\0y", 3, "x|y"},                     /* NUL is a separator, not an end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        text_analyzer *a = NULL;
        toks ts;
        assert_int_equal(text_analyzer_new("en", &a, NULL), 0);
        run(a, cases[i].s, cases[i].n, &ts);
        assert_string_equal(joined(&ts), cases[i].want);
        text_analyzer_free(a);
    }
}

/* Random bytes biased towards UTF-8 lead and continuation bytes: must never crash or
 * over-read, and every token must satisfy the contract checked in collect(). */
static void test_random_bytes(void **state)
{
    (void)state;
    static const unsigned char pool[] = {'a', 'Z', '1', ' ', '\'', '.', ',', 0xC3, 0xA9,
                                         0xE3, 0x81, 0x82, 0xE9, 0x80, 0xF0, 0x9F, 0xBE,
                                         0xCC, 0x81, 0xEF, 0xBD, 0xB6, 0xFF, 0xED, 0xA0};
    text_analyzer *a = NULL;
    assert_int_equal(text_analyzer_new("fr", &a, NULL), 0);
    uint32_t seed = 12345;
    unsigned char buf[96];
    for (int iter = 0; iter < 5000; iter++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = (seed >> 16) % sizeof buf;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = pool[(seed >> 16) % sizeof pool];
        }
        toks ts;
        run(a, (const char *)buf, n, &ts);
        (void)text_count_tokens((const char *)buf, n);
        (void)text_utf8_valid((const char *)buf, n);
    }
    /* every prefix of a multilingual text, so input ends inside characters */
    const char *mixed = "Caf\xC3\xA9 \xE9\x80\x80\xE6\xAC\xBE \xEF\xBD\xB6\xEF\xBE\x9E "
                        "\xF0\x9F\x98\x80 don't";
    for (size_t n = 0; n <= strlen(mixed); n++) {
        toks ts;
        run(a, mixed, n, &ts);
    }
    text_analyzer_free(a);
}

static void test_empty_input(void **state)
{
    (void)state;
    text_analyzer *a = NULL;
    toks ts;
    assert_int_equal(text_analyzer_new("en", &a, NULL), 0);
    memset(&ts, 0, sizeof ts);
    assert_int_equal(text_analyze(a, NULL, 0, collect, &ts), 0);
    assert_int_equal(ts.n, 0);
    run(a, " ,.;-- \t\n", 9, &ts);
    assert_int_equal(ts.n, 0);
    text_analyzer_free(a);
    assert_int_equal(text_count_tokens(NULL, 0), 0);
}

static void test_long_words(void **state)
{
    (void)state;
    char s[512];
    toks ts;
    memset(s, 'a', 200);
    s[200] = '\0';
    analyze("en", s, &ts);
    assert_int_equal(ts.n, 1);
    assert_int_equal(ts.t[0].len, TEXT_MAX_TERM);
    expect_tok(&ts, 0, ts.t[0].term, 0, 200);

    /* "a" + 100 two-byte letters: the cut falls inside a character and must back off */
    size_t k = 0;
    s[k++] = 'a';
    for (int i = 0; i < 100; i++) {
        s[k++] = (char)0xD0; /* ж */
        s[k++] = (char)0xB6;
    }
    s[k] = '\0';
    analyze("ru", s, &ts);
    assert_int_equal(ts.n, 1);
    assert_int_equal(ts.t[0].len, 63);
    assert_true(text_utf8_valid(ts.t[0].term, ts.t[0].len));
    expect_tok(&ts, 0, ts.t[0].term, 0, k);

    /* a long word does not swallow the next one */
    memset(s, 'b', 300);
    memcpy(s + 300, " refunds", 9);
    analyze("en", s, &ts);
    assert_int_equal(ts.n, 2);
    expect_tok(&ts, 1, "refund", 301, 308);
}

/* Re-analysing the original bytes a token points at gives that token back: offsets are
 * exact for snippets and highlights. */
static void test_offsets_map_back(void **state)
{
    (void)state;
    const char *s = "\xEF\xBC\xA3" "af\xC3\xA9 \xEF\xAC\x81les, don't; "
                    "\xE9\x80\x80\xE6\xAC\xBE\xE6\x94\xBF\xE7\xAD\x96 (v2.5) "
                    "\xEF\xBD\xB6\xEF\xBE\x9E\xEF\xBD\xB2 Cafe\xCC\x81s customer's \xE2\x91\xA0";
    text_analyzer *a = NULL;
    assert_int_equal(text_analyzer_new("en", &a, NULL), 0);
    toks all;
    run(a, s, strlen(s), &all);
    assert_true(all.n >= 10);
    for (size_t i = 0; i < all.n; i++) {
        toks one;
        run(a, s + all.t[i].start, all.t[i].end - all.t[i].start, &one);
        assert_int_equal(one.n, 1);
        assert_string_equal(one.t[0].term, all.t[i].term);
        if (i > 0)
            assert_true(all.t[i].start >= all.t[i - 1].start);
    }
    text_analyzer_free(a);
}

static int stop_at_second(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)term;
    (void)len;
    (void)start;
    (void)end;
    int *calls = ctx;
    return ++*calls == 2 ? 42 : 0;
}

static void test_callback_stop(void **state)
{
    (void)state;
    text_analyzer *a = NULL;
    int calls = 0;
    assert_int_equal(text_analyzer_new("en", &a, NULL), 0);
    const char *s = "one two three four";
    assert_int_equal(text_analyze(a, s, strlen(s), stop_at_second, &calls), 42);
    assert_int_equal(calls, 2);
    calls = 0;
    s = "\xE9\x80\x80\xE6\xAC\xBE\xE6\x94\xBF\xE7\xAD\x96";
    assert_int_equal(text_analyze(a, s, strlen(s), stop_at_second, &calls), 42);
    assert_int_equal(calls, 2);
    text_analyzer_free(a);
}

/* ---- validation and counting ---- */

static void test_utf8_valid(void **state)
{
    (void)state;
    static const char *const good[] = {"", "abc", "caf\xC3\xA9", "\xE2\x82\xAC",
                                       "\xF0\x9F\x98\x80", "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF"};
    static const char *const bad[] = {"\xC0\x80",         "\xC1\xBF",     "\xE0\x80\x80",
                                      "\xE0\x9F\xBF",     "\xED\xA0\x80", "\xED\xBF\xBF",
                                      "\xF0\x80\x80\x80", "\xF4\x90\x80\x80",
                                      "\xF5\x80\x80\x80", "\xF8\x88\x80\x80\x80",
                                      "\x80",             "\xC3",         "\xE2\x82",
                                      "a\xFF"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(text_utf8_valid(good[i], strlen(good[i])), 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(text_utf8_valid(bad[i], strlen(bad[i])), 0);
    /* the length bounds the check: a valid prefix of a longer buffer is valid */
    assert_int_equal(text_utf8_valid("ab\xFF", 2), 1);
    assert_int_equal(text_utf8_valid("\xE2\x82\xAC", 2), 0);
}

static void test_count_tokens(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t want;
    } cases[] = {
        {"", 0},
        {"Hello, world", 2},
        {"The cat and the hat", 5}, /* stop words count: the budget is for the model */
        {"\xE9\x80\x80\xE6\xAC\xBE\xE6\x94\xBF\xE7\xAD\x96", 4},
        {"don't stop", 2},
        {"v1.2 and 3,000", 3},
        {"iPhone15\xE9\x80\x80\xE6\xAC\xBE", 3},
        {"a..b", 2},
        {"Cafe\xCC\x81 na\xC3\xAFve", 2},
        {"x\xFFy", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(text_count_tokens(cases[i].s, strlen(cases[i].s)), cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nfkc_fullwidth_ligatures),
        cmocka_unit_test(test_case_fold_diacritics),
        cmocka_unit_test(test_stop_words_english),
        cmocka_unit_test(test_stop_words_other_languages),
        cmocka_unit_test(test_stemming_english),
        cmocka_unit_test(test_stemming_german),
        cmocka_unit_test(test_locale_mapping),
        cmocka_unit_test(test_set_locale_switch),
        cmocka_unit_test(test_apostrophes),
        cmocka_unit_test(test_french_elision),
        cmocka_unit_test(test_numbers_and_mid_punctuation),
        cmocka_unit_test(test_cjk_bigrams),
        cmocka_unit_test(test_cjk_unigram_and_mixed),
        cmocka_unit_test(test_kana_hangul_composition),
        cmocka_unit_test(test_broken_utf8),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_long_words),
        cmocka_unit_test(test_offsets_map_back),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_count_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
