/* text: the analysis chain described in text.h.
 *
 * Design notes (the choices a reader would otherwise have to reverse-engineer):
 *
 * - Normalization works one code point at a time (utf8proc_decompose_char with COMPAT +
 *   CASEFOLD + IGNORE), so every normalized code point keeps the byte range of the original
 *   code point it came from, and the analyzer never allocates. Marks that a decomposition
 *   separated are composed back onto the previous character (kana voicing marks, Indic
 *   signs, Hangul jamo), which is what NFKC would have produced for them.
 *
 * - "Strip marks" means strip DIACRITICS: marks in the generic combining-diacritics blocks
 *   and Hebrew/Arabic vowel points. Vowel signs of Indic and South-East Asian scripts and the
 *   kana voicing marks are letters in all but name (stripping the voicing mark would make
 *   "ga" equal "ka"), so they stay. UTF8PROC_STRIPMARK would remove them all.
 *
 * - Word boundaries follow Lucene's StandardTokenizer (UAX #29) where it matters for
 *   parity with Anserini's BM25: letters and digits form words; '.' joins letters to
 *   letters and digits to digits ("u.s", "e.g", "3.14"); ',' and ';' join digits
 *   ("1,000"); the middle dot joins letters (Catalan "l·l"). Unlike UAX #29, ':' and '_'
 *   split words: "api_key" is "api" + "key", which is what a support user types.
 *
 * - Apostrophes inside a word are removed and the word stays whole: "don't" -> "dont",
 *   "o'reilly" -> "oreilly" (users rarely type apostrophes, and this way "dont" finds
 *   "don't"). A trailing possessive "'s" is dropped first, as Lucene's
 *   EnglishPossessiveFilter does: "customer's" -> "customer". In French, Italian, Catalan
 *   and Irish an elided article before the first apostrophe is removed, as Lucene's
 *   ElisionFilter does: "l'homme" -> "homme".
 *
 * - Stop words are checked on the normalized term, before stemming (Lucene order). English
 *   uses Lucene's classic 33-word set, the set Anserini's BM25 baselines use. A few other
 *   languages have short lists of articles, prepositions and conjunctions; the rest keep
 *   every word.
 *
 * - English is stemmed with Snowball's "porter" (the original Porter algorithm, as Lucene's
 *   PorterStemFilter and Anserini use), not "english" (Porter2).
 *
 * - Words longer than TEXT_MAX_TERM bytes are truncated at a character boundary and are
 *   neither stop-filtered nor stemmed: they are identifiers (hashes, URLs, base64), and a
 *   suffix rule applied to a cut word would be arbitrary. */
#include "text.h"

#include <assert.h>
#include <libstemmer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------- languages */

static const char *const stop_en[] = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if",
    "in", "into", "is", "it", "no", "not", "of", "on", "or", "such", "that",
    "the", "their", "then", "there", "these", "they", "this", "to", "was", "will",
    "with",
};
/* The lists below are folded (no accents, "ss" for sharp s) because terms are compared
 * after normalization. Sorted by byte value: looked up by binary search. */
static const char *const stop_de[] = {
    "aber", "als", "am", "an", "auch", "auf", "aus", "bei", "bis", "das", "dass",
    "dem", "den", "der", "des", "die", "durch", "ein", "eine", "einem", "einen", "einer",
    "eines", "es", "fur", "im", "in", "ist", "mit", "nach", "oder", "sich", "sind",
    "uber", "um", "und", "vom", "von", "vor", "war", "zu", "zum", "zur",
};
static const char *const stop_fr[] = {
    "a", "au", "aux", "avec", "ce", "ces", "dans", "de", "des", "du", "elle", "en",
    "est", "et", "il", "ils", "la", "le", "les", "leur", "leurs", "mais", "ou", "par",
    "pour", "que", "qui", "sa", "se", "ses", "son", "sur", "un", "une",
};
static const char *const stop_es[] = {
    "a", "al", "con", "de", "del", "el", "en", "es", "la", "las", "lo", "los", "o",
    "para", "por", "que", "se", "su", "sus", "un", "una", "unas", "uno", "unos", "y",
};
static const char *const stop_it[] = {
    "a", "ad", "agli", "ai", "al", "alla", "alle", "che", "con", "da", "dal", "dalla",
    "dei", "del", "della", "delle", "di", "e", "ed", "gli", "i", "il", "in", "la", "le",
    "lo", "nel", "nella", "per", "su", "sul", "sulla", "un", "una", "uno",
};
static const char *const stop_pt[] = {
    "a", "ao", "aos", "as", "com", "da", "das", "de", "do", "dos", "e", "em", "na",
    "nas", "no", "nos", "o", "os", "ou", "para", "pela", "pelo", "por", "que", "se",
    "um", "uma",
};
static const char *const stop_nl[] = {
    "aan", "bij", "dat", "de", "den", "der", "des", "die", "een", "en", "er", "het",
    "in", "is", "met", "naar", "of", "om", "op", "te", "tot", "uit", "van", "voor",
};

static const char *const elide_fr[] = {
    "c", "d", "j", "jusqu", "l", "lorsqu", "m", "n", "puisqu", "qu", "quoiqu", "s", "t",
};
static const char *const elide_it[] = {
    "agl", "all", "c", "coll", "d", "dagl", "dall", "degl", "dell", "gl", "l", "m",
    "negl", "nell", "pell", "s", "sugl", "sull", "t", "un", "v",
};
static const char *const elide_ca[] = {"d", "l", "m", "n", "s", "t"};
static const char *const elide_ga[] = {"b", "d", "m"};

#define LIST(a) a, sizeof a / sizeof a[0]
#define NOLIST NULL, 0

typedef struct lang_info {
    const char *codes[3]; /* locale prefixes (ISO 639-1 and aliases) */
    const char *algo;     /* Snowball algorithm */
    const char *const *stop;
    size_t nstop;
    const char *const *elide;
    size_t nelide;
} lang_info;

/* Entry 0 is the fallback for unknown locales. */
static const lang_info langs[] = {
    {{"en", "english", NULL}, "porter", LIST(stop_en), NOLIST},
    {{"ar", NULL, NULL}, "arabic", NOLIST, NOLIST},
    {{"hy", NULL, NULL}, "armenian", NOLIST, NOLIST},
    {{"eu", NULL, NULL}, "basque", NOLIST, NOLIST},
    {{"ca", NULL, NULL}, "catalan", NOLIST, LIST(elide_ca)},
    {{"da", NULL, NULL}, "danish", NOLIST, NOLIST},
    {{"nl", NULL, NULL}, "dutch", LIST(stop_nl), NOLIST},
    {{"fi", NULL, NULL}, "finnish", NOLIST, NOLIST},
    {{"fr", NULL, NULL}, "french", LIST(stop_fr), LIST(elide_fr)},
    {{"de", NULL, NULL}, "german", LIST(stop_de), NOLIST},
    {{"el", NULL, NULL}, "greek", NOLIST, NOLIST},
    {{"hi", NULL, NULL}, "hindi", NOLIST, NOLIST},
    {{"hu", NULL, NULL}, "hungarian", NOLIST, NOLIST},
    {{"id", "in", NULL}, "indonesian", NOLIST, NOLIST},
    {{"ga", NULL, NULL}, "irish", NOLIST, LIST(elide_ga)},
    {{"it", NULL, NULL}, "italian", LIST(stop_it), LIST(elide_it)},
    {{"lt", NULL, NULL}, "lithuanian", NOLIST, NOLIST},
    {{"ne", NULL, NULL}, "nepali", NOLIST, NOLIST},
    {{"no", "nb", "nn"}, "norwegian", NOLIST, NOLIST},
    {{"pt", NULL, NULL}, "portuguese", LIST(stop_pt), NOLIST},
    {{"ro", NULL, NULL}, "romanian", NOLIST, NOLIST},
    {{"ru", NULL, NULL}, "russian", NOLIST, NOLIST},
    {{"sr", NULL, NULL}, "serbian", NOLIST, NOLIST},
    {{"es", NULL, NULL}, "spanish", LIST(stop_es), NOLIST},
    {{"sv", NULL, NULL}, "swedish", NOLIST, NOLIST},
    {{"ta", NULL, NULL}, "tamil", NOLIST, NOLIST},
    {{"tr", NULL, NULL}, "turkish", NOLIST, NOLIST},
    {{"yi", NULL, NULL}, "yiddish", NOLIST, NOLIST},
};
#define NLANGS (sizeof langs / sizeof langs[0])

struct text_analyzer {
    size_t lang;                      /* index into langs */
    struct sb_stemmer *stem[NLANGS];  /* created on first use, kept for locale switches */
};

/* Byte-wise order of a (not NUL-terminated) term against a C string; the same order as
 * strcmp, so the static lists can be kept sorted by eye. */
static int term_cmp(const char *t, size_t n, const char *w)
{
    /* the first byte settles most comparisons: skip strlen and memcmp for them */
    unsigned char t0 = n > 0 ? (unsigned char)t[0] : 0, w0 = (unsigned char)w[0];
    if (t0 != w0)
        return t0 < w0 ? -1 : 1;
    size_t wn = strlen(w);
    int c = memcmp(t, w, n < wn ? n : wn);
    if (c != 0)
        return c;
    return (n > wn) - (n < wn);
}

/* No stop word or elided article is longer; longer terms skip the search. */
#define LIST_MAX_WORD 8

static int list_has(const char *const *list, size_t count, const char *t, size_t n)
{
    if (n > LIST_MAX_WORD)
        return 0;
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = term_cmp(t, n, list[mid]);
        if (c == 0)
            return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

#ifndef NDEBUG
/* Sorted for list_has's binary search, and short enough for its length cut. */
static int list_well_formed(const char *const *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (strlen(list[i]) > LIST_MAX_WORD)
            return 0;
        if (i > 0 && strcmp(list[i - 1], list[i]) >= 0)
            return 0;
    }
    return 1;
}
#endif

/* Maps "en", "en-US", "pt_BR", "de.UTF-8", "German" to a language index; unknown -> 0. */
static size_t lang_lookup(const char *locale)
{
    char code[16];
    size_t n = 0;
    if (locale == NULL)
        return 0;
    for (; locale[n] != '\0' && n < sizeof code - 1; n++) {
        char c = locale[n];
        if (c == '-' || c == '_' || c == '.' || c == '@')
            break;
        code[n] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    code[n] = '\0';
    for (size_t i = 0; i < NLANGS; i++) {
        if (strcmp(code, langs[i].algo) == 0)
            return i;
        for (size_t k = 0; k < 3 && langs[i].codes[k] != NULL; k++)
            if (strcmp(code, langs[i].codes[k]) == 0)
                return i;
    }
    return 0;
}

/* Makes language `li` current, creating its stemmer if needed. A libstemmer built without
 * that algorithm falls back to English rather than failing: unstemmed text still matches. */
static int lang_select(text_analyzer *a, size_t li)
{
    if (a->stem[li] == NULL) {
        a->stem[li] = sb_stemmer_new(langs[li].algo, "UTF_8");
        if (a->stem[li] == NULL && li != 0)
            return lang_select(a, 0);
        if (a->stem[li] == NULL)
            return LORE_ENOMEM;
    }
    a->lang = li;
    return 0;
}

int text_analyzer_new(const char *locale, text_analyzer **out, lore_err *err)
{
    assert(out != NULL);
    *out = NULL;
#ifndef NDEBUG
    for (size_t i = 0; i < NLANGS; i++) {
        assert(list_well_formed(langs[i].stop, langs[i].nstop));
        assert(list_well_formed(langs[i].elide, langs[i].nelide));
    }
#endif
    text_analyzer *a = calloc(1, sizeof *a);
    if (a == NULL)
        return lore_errf(err, LORE_ENOMEM, "text analyzer for locale %s: out of memory",
                         locale ? locale : "(none)");
    if (lang_select(a, lang_lookup(locale)) != 0) {
        text_analyzer_free(a);
        return lore_errf(err, LORE_ENOMEM, "stemmer for locale %s: out of memory",
                         locale ? locale : "(none)");
    }
    *out = a;
    return 0;
}

void text_analyzer_free(text_analyzer *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < NLANGS; i++)
        if (a->stem[i] != NULL)
            sb_stemmer_delete(a->stem[i]);
    free(a);
}

int text_analyzer_set_locale(text_analyzer *a, const char *locale)
{
    size_t li = lang_lookup(locale);
    if (li == a->lang)
        return 0;
    return lang_select(a, li);
}

const char *text_analyzer_language(const text_analyzer *a) { return langs[a->lang].algo; }

/* ---------------------------------------------------------------- UTF-8 */

/* Decodes the code point at s[i..n). Returns its length (1..4), or 0 when s[i] does not
 * start a well-formed sequence (overlong, surrogate, beyond U+10FFFF, truncated). Never
 * reads at or past s[n]. */
static size_t utf8_decode(const unsigned char *s, size_t n, size_t i, uint32_t *cp)
{
    unsigned b0 = s[i];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        if (b0 == 0xE0)
            lo = 0xA0; /* overlong */
        else if (b0 == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        if (b0 == 0xF0)
            lo = 0x90; /* overlong */
        else if (b0 == 0xF4)
            hi = 0x8F; /* beyond U+10FFFF */
    } else {
        return 0;
    }
    if (n - i < len)
        return 0;
    if (s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    uint32_t c = b0 & (0x7Fu >> len);
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i + k] & 0x3F);
    }
    *cp = c;
    return len;
}

static size_t utf8_encode(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Longest prefix of s[0..n) of at most max bytes that ends on a character boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

int text_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = utf8_decode(u, n, i, &cp);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

/* ---------------------------------------------------------------- classes */

enum cls {
    C_SEP,       /* ends any token */
    C_LETTER,    /* letters and non-decimal numbers */
    C_DIGIT,     /* decimal digits */
    C_CJK,       /* Han, kana, Hangul: bigrammed */
    C_EXTEND,    /* a kept mark: belongs to the previous character */
    C_DROP,      /* a stripped diacritic: vanishes, extends the token's byte range */
    C_APOS,      /* apostrophe: joins letters or digits, then removed */
    C_MIDLETTER, /* joins letters */
    C_MIDNUM,    /* joins digits */
    C_MIDNUMLET  /* joins letters or digits */
};

static int is_cjk(uint32_t c)
{
    if (c < 0x1100)
        return 0;
    return (c <= 0x11FF) ||                   /* Hangul jamo */
           (c >= 0x3005 && c <= 0x3007) ||    /* ideographic iteration, closing, zero */
           (c >= 0x3021 && c <= 0x3029) ||    /* Hangzhou numerals */
           (c >= 0x3031 && c <= 0x3035) ||    /* kana repeat marks */
           c == 0x303B ||                     /* vertical ideographic iteration */
           (c >= 0x3040 && c <= 0x30FF) ||    /* Hiragana, Katakana */
           (c >= 0x3130 && c <= 0x318F) ||    /* Hangul compatibility jamo */
           (c >= 0x31F0 && c <= 0x31FF) ||    /* Katakana phonetic extensions */
           (c >= 0x3400 && c <= 0x4DBF) ||    /* Han extension A */
           (c >= 0x4E00 && c <= 0x9FFF) ||    /* Han */
           (c >= 0xA960 && c <= 0xA97F) ||    /* Hangul jamo extended A */
           (c >= 0xAC00 && c <= 0xD7FF) ||    /* Hangul syllables, jamo extended B */
           (c >= 0xF900 && c <= 0xFAFF) ||    /* Han compatibility */
           (c >= 0xFF66 && c <= 0xFFDC) ||    /* halfwidth kana and Hangul */
           (c >= 0x1B000 && c <= 0x1B16F) ||  /* kana supplement, extensions */
           (c >= 0x20000 && c <= 0x3134F);    /* Han extensions B-G, compatibility */
}

/* Diacritics are stripped; other marks (Indic vowel signs, kana voicing) are kept. */
static int is_diacritic(uint32_t c)
{
    return (c >= 0x0300 && c <= 0x036F) || (c >= 0x0483 && c <= 0x0489) ||
           (c >= 0x0591 && c <= 0x05C7) || (c >= 0x0610 && c <= 0x061A) ||
           (c >= 0x064B && c <= 0x065F) || c == 0x0670 || (c >= 0x06D6 && c <= 0x06ED) ||
           (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
           (c >= 0x20D0 && c <= 0x20FF) || (c >= 0xFE20 && c <= 0xFE2F);
}

static enum cls classify_ascii(uint32_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return C_LETTER;
    if (c >= '0' && c <= '9')
        return C_DIGIT;
    switch (c) {
    case '\'': return C_APOS;
    case '.': return C_MIDNUMLET;
    case ',':
    case ';': return C_MIDNUM;
    default: return C_SEP;
    }
}

/* Classifies a NORMALIZED code point (after compatibility mapping and case folding). */
static enum cls classify(uint32_t c)
{
    if (c < 0x80)
        return classify_ascii(c);
    switch (c) {
    case 0x2018:
    case 0x2019: return C_APOS;
    case 0x00B7:
    case 0x05F4:
    case 0x2027: return C_MIDLETTER;
    case 0x066C: return C_MIDNUM;
    default: break;
    }
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return is_cjk(c) ? C_CJK : C_LETTER;
    case UTF8PROC_CATEGORY_ND: return C_DIGIT;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME: return is_diacritic(c) ? C_DROP : C_EXTEND;
    default: return C_SEP;
    }
}

/* The canonical composition of a + b, or 0 when they do not compose. */
static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    utf8proc_int32_t buf[2] = {(utf8proc_int32_t)a, (utf8proc_int32_t)b};
    utf8proc_ssize_t n = utf8proc_normalize_utf32(buf, 2, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    return n == 1 ? (uint32_t)buf[0] : 0;
}

/* ---------------------------------------------------------------- scanner */

typedef struct cjk_char {
    uint32_t cp;
    size_t start, end; /* original byte range */
} cjk_char;

/* Per-call state; lives on the stack so text_analyze never allocates. */
typedef struct scan {
    text_analyzer *a;
    text_token_fn fn;
    void *ctx;

    /* the word being built (C_LETTER / C_DIGIT run) */
    int in_word;
    char term[TEXT_MAX_TERM + 4];
    size_t tlen;
    size_t wstart, wend;
    int truncated;    /* stopped appending at TEXT_MAX_TERM */
    int has_letter;   /* digits-only words skip stemming */
    enum cls last;    /* C_LETTER or C_DIGIT: decides what a mid character may join */
    uint32_t last_cp; /* last character, for composing marks; 0 when not composable */
    size_t last_pos;  /* its byte position in term */
    size_t apos_at;   /* term length when the last joining apostrophe was removed */
    int had_apos;

    /* a mid character seen after the word, waiting for the next character */
    int mid_pending;
    enum cls mid;
    uint32_t mid_cp;

    /* the CJK run: prev is final, cur may still take a mark */
    size_t run;
    cjk_char prev, cur;
} scan;

static int emit(scan *st, const char *t, size_t n, size_t start, size_t end)
{
    return st->fn(st->ctx, t, n, start, end);
}

static void word_reset(scan *st)
{
    st->in_word = 0;
    st->tlen = 0;
    st->truncated = 0;
    st->has_letter = 0;
    st->last_cp = 0;
    st->had_apos = 0;
    st->apos_at = (size_t)-1;
    st->mid_pending = 0;
}

/* Appends c to the term; once a character does not fit, the term is final. */
static void word_append(scan *st, uint32_t c)
{
    char enc[4];
    size_t n = utf8_encode(c, enc);
    if (st->truncated || st->tlen + n > TEXT_MAX_TERM) {
        st->truncated = 1;
        st->last_cp = 0;
        return;
    }
    st->last_cp = c;
    st->last_pos = st->tlen;
    memcpy(st->term + st->tlen, enc, n);
    st->tlen += n;
}

static void word_add_mark(scan *st, uint32_t mark)
{
    uint32_t comp = st->last_cp != 0 ? compose_pair(st->last_cp, mark) : 0;
    if (comp != 0) {
        char enc[4];
        size_t n = utf8_encode(comp, enc);
        if (st->last_pos + n <= TEXT_MAX_TERM) {
            memcpy(st->term + st->last_pos, enc, n);
            st->tlen = st->last_pos + n;
            st->last_cp = comp;
            return;
        }
    }
    word_append(st, mark);
    st->last_cp = 0; /* composing past an uncomposed mark would need reordering */
}


/* Stems the finished word t[0..n) (unless it is a cut identifier or a number) and emits it. */
static int word_emit(scan *st, const char *t, size_t n)
{
    if (st->truncated || !st->has_letter)
        return emit(st, t, n, st->wstart, st->wend);
    struct sb_stemmer *stemmer = st->a->stem[st->a->lang];
    const sb_symbol *r = sb_stemmer_stem(stemmer, (const sb_symbol *)t, (int)n);
    if (r == NULL)
        return LORE_ENOMEM;
    size_t rn = utf8_cut((const char *)r, (size_t)sb_stemmer_length(stemmer), TEXT_MAX_TERM);
    if (rn == 0) /* never seen; an empty term would be useless, keep the word */
        return emit(st, t, n, st->wstart, st->wend);
    return emit(st, (const char *)r, rn, st->wstart, st->wend);
}

/* Ends the current word: possessive, stop words, then word_emit. */
static int word_finish(scan *st)
{
    if (!st->in_word)
        return 0;
    const lang_info *lang = &langs[st->a->lang];
    size_t n = st->tlen;
    if (!st->truncated && st->had_apos && st->apos_at + 1 == n && st->term[n - 1] == 's')
        n--; /* "customer's" -> "customer" */
    int rc = 0;
    if (n > 0 && (st->truncated || !list_has(lang->stop, lang->nstop, st->term, n)))
        rc = word_emit(st, st->term, n);
    word_reset(st);
    return rc;
}

static int mid_joins(enum cls mid, enum cls last, enum cls next)
{
    int letters = last == C_LETTER && next == C_LETTER;
    int digits = last == C_DIGIT && next == C_DIGIT;
    switch (mid) {
    case C_APOS:
    case C_MIDNUMLET: return letters || digits;
    case C_MIDLETTER: return letters;
    case C_MIDNUM: return digits;
    default: return 0;
    }
}

/* The pending mid character turned out to be inside a word; next_start is where the
 * character after it begins in the original text. */
static void mid_apply(scan *st, size_t next_start)
{
    const lang_info *lang = &langs[st->a->lang];
    st->mid_pending = 0;
    if (st->mid != C_APOS) {
        word_append(st, st->mid_cp);
        return;
    }
    if (!st->had_apos && !st->truncated && lang->nelide > 0 &&
        list_has(lang->elide, lang->nelide, st->term, st->tlen)) {
        /* "l'homme": the article goes, the word starts after the apostrophe */
        st->tlen = 0;
        st->has_letter = 0;
        st->last_cp = 0;
        st->wstart = next_start;
    } else {
        st->apos_at = st->tlen;
    }
    st->had_apos = 1;
}

static int cjk_emit(scan *st)
{
    char t[8];
    size_t n = 0;
    if (st->run == 1)
        return emit(st, t, utf8_encode(st->cur.cp, t), st->cur.start, st->cur.end);
    n = utf8_encode(st->prev.cp, t);
    n += utf8_encode(st->cur.cp, t + n);
    return emit(st, t, n, st->prev.start, st->cur.end);
}

/* Adds a CJK character to the run. A pair is emitted only once its second character can no
 * longer change (a following voicing mark or jamo may still compose with it). */
static int cjk_push(scan *st, uint32_t c, size_t s, size_t e)
{
    if (st->run > 0 && c >= 0x1160 && c <= 0x11FF) {
        uint32_t comp = compose_pair(st->cur.cp, c); /* conjoining vowel or final jamo */
        if (comp != 0) {
            st->cur.cp = comp;
            st->cur.end = e;
            return 0;
        }
    }
    int rc = st->run >= 2 ? cjk_emit(st) : 0;
    if (st->run >= 1)
        st->prev = st->cur;
    st->cur.cp = c;
    st->cur.start = s;
    st->cur.end = e;
    st->run++;
    return rc;
}

static void cjk_add_mark(scan *st, uint32_t mark, size_t e)
{
    uint32_t comp = compose_pair(st->cur.cp, mark);
    if (comp != 0)
        st->cur.cp = comp;
    st->cur.end = e; /* a mark that does not compose is dropped with its base's range */
}

static int cjk_finish(scan *st)
{
    if (st->run == 0)
        return 0;
    int rc = cjk_emit(st);
    st->run = 0;
    return rc;
}

/* The state machine over normalized code points; [s, e) is the original byte range of the
 * code point c came from. */
static int feed(scan *st, uint32_t c, enum cls k, size_t s, size_t e)
{
    int rc;
    if (k == C_DROP) {
        if (st->in_word && !st->mid_pending)
            st->wend = e;
        else if (st->run > 0)
            st->cur.end = e;
        return 0;
    }
    if (st->mid_pending) {
        if (mid_joins(st->mid, st->last, k))
            mid_apply(st, s);
        else if ((rc = word_finish(st)) != 0)
            return rc;
    }
    switch (k) {
    case C_LETTER:
    case C_DIGIT:
        if ((rc = cjk_finish(st)) != 0)
            return rc;
        if (!st->in_word) {
            st->in_word = 1;
            st->wstart = s;
        }
        word_append(st, c);
        st->last = k;
        st->has_letter |= k == C_LETTER;
        st->wend = e;
        return 0;
    case C_CJK:
        if ((rc = word_finish(st)) != 0)
            return rc;
        return cjk_push(st, c, s, e);
    case C_EXTEND:
        if (st->in_word) {
            word_add_mark(st, c);
            st->wend = e;
        } else if (st->run > 0) {
            cjk_add_mark(st, c, e);
        }
        return 0;
    case C_APOS:
    case C_MIDLETTER:
    case C_MIDNUM:
    case C_MIDNUMLET:
        if (st->in_word) {
            st->mid_pending = 1;
            st->mid = k;
            st->mid_cp = c;
            return 0;
        }
        break;
    default: break;
    }
    if ((rc = word_finish(st)) != 0)
        return rc;
    return cjk_finish(st);
}

/* Longest compatibility decomposition in Unicode is 18 code points (U+FDFA). */
#define DECOMP_MAX 32
#define NORM_OPTS (UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_DECOMPOSE | UTF8PROC_IGNORE)

/* Normalizes one original code point and feeds the result. */
static int feed_original(scan *st, uint32_t cp, size_t s, size_t e)
{
    if (cp < 0x80) { /* fast path: most help-center text is ASCII */
        uint32_t c = (cp >= 'A' && cp <= 'Z') ? cp + ('a' - 'A') : cp;
        return feed(st, c, classify_ascii(c), s, e);
    }
    if (cp == 0x200B) /* zero width space separates words; utf8proc would ignore it */
        return feed(st, ' ', C_SEP, s, e);
    if (cp >= 0xAC00 && cp <= 0xD7A3) /* precomposed Hangul is already NFKC */
        return feed(st, cp, C_CJK, s, e);
    utf8proc_int32_t buf[DECOMP_MAX];
    int boundclass = 0;
    utf8proc_ssize_t m =
        utf8proc_decompose_char((utf8proc_int32_t)cp, buf, DECOMP_MAX, NORM_OPTS, &boundclass);
    if (m < 0 || m > DECOMP_MAX)
        return feed(st, ' ', C_SEP, s, e);
    for (utf8proc_ssize_t i = 0; i < m; i++) {
        uint32_t c = (uint32_t)buf[i];
        int rc = feed(st, c, classify(c), s, e);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int text_analyze(text_analyzer *a, const char *s, size_t n, text_token_fn fn, void *ctx)
{
    assert(a != NULL && fn != NULL);
    const unsigned char *u = (const unsigned char *)s;
    scan st;
    st.a = a;
    st.fn = fn;
    st.ctx = ctx;
    st.wstart = st.wend = 0;
    st.last = C_SEP;
    st.last_pos = 0;
    st.mid = C_SEP;
    st.mid_cp = 0;
    st.run = 0;
    word_reset(&st);
    size_t i = 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t len = utf8_decode(u, n, i, &cp);
        int rc;
        if (len == 0) { /* an invalid byte separates words */
            len = 1;
            rc = feed(&st, ' ', C_SEP, i, i + len);
        } else {
            rc = feed_original(&st, cp, i, i + len);
        }
        if (rc != 0)
            return rc;
        i += len;
    }
    int rc = word_finish(&st);
    if (rc != 0)
        return rc;
    return cjk_finish(&st);
}

/* ---------------------------------------------------------------- counting */

size_t text_count_tokens(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t count = 0, i = 0;
    int in_word = 0, mid = 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t len = utf8_decode(u, n, i, &cp);
        enum cls k;
        if (len == 0) {
            k = C_SEP;
            len = 1;
        } else if (cp < 0x80) {
            k = classify_ascii(cp);
        } else {
            k = classify(cp); /* unnormalized: close enough for a budget */
        }
        i += len;
        switch (k) {
        case C_LETTER:
        case C_DIGIT:
            count += !in_word;
            in_word = 1;
            mid = 0;
            break;
        case C_CJK:
            count++;
            in_word = mid = 0;
            break;
        case C_EXTEND:
        case C_DROP: break;
        case C_APOS:
        case C_MIDLETTER:
        case C_MIDNUM:
        case C_MIDNUMLET:
            in_word = in_word && !mid; /* one mid character may continue a word */
            mid = in_word;
            break;
        default: in_word = mid = 0; break;
        }
    }
    return count;
}
