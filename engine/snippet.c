/* snippet: excerpts of a chunk's body around the question's terms (see snippet.h). */
#include "snippet.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

/* An analysed token of the body. */
typedef struct snip_tok {
    size_t start, end; /* byte range in the body (CJK bigrams overlap: "ab", "bc") */
    int term;          /* index of the query term it is, -1 when none */
    int sentence;      /* 1: it begins the body or a sentence */
} snip_tok;

/* The query terms by hash, so each body token costs one probe, not a compare per term. */
typedef struct term_index {
    const char *const *terms;
    size_t *len;
    int *slot;     /* index of a term + 1; 0: empty */
    size_t mask;   /* slots - 1, slots a power of two at least twice the terms */
} term_index;

typedef struct scan {
    const char *body;
    const term_index *ti;
    snip_tok *tok;
    size_t n, cap;
} scan;

/* A candidate window of tokens [start, start + width). */
typedef struct window {
    size_t start;
    size_t distinct;    /* distinct query terms in it */
    size_t occurrences; /* matched tokens in it */
    int opening;        /* 2: starts the body, 1: starts a sentence, 0: starts mid-sentence */
} window;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Duplicate terms keep the slot of their first copy, so a term has one index. */
static int term_index_init(term_index *ti, const char *const *terms, size_t nterms)
{
    size_t slots = 16;
    while (slots < 2 * nterms)
        slots *= 2;
    ti->terms = terms;
    ti->mask = slots - 1;
    ti->len = malloc((nterms ? nterms : 1) * sizeof *ti->len);
    ti->slot = calloc(slots, sizeof *ti->slot);
    if (ti->len == NULL || ti->slot == NULL)
        return LORE_ENOMEM;
    for (size_t i = 0; i < nterms; i++) {
        ti->len[i] = strlen(terms[i]);
        size_t h = (size_t)hash_bytes(terms[i], ti->len[i]) & ti->mask;
        while (ti->slot[h] != 0 && strcmp(terms[ti->slot[h] - 1], terms[i]) != 0)
            h = (h + 1) & ti->mask;
        if (ti->slot[h] == 0)
            ti->slot[h] = (int)i + 1;
    }
    return 0;
}

static void term_index_free(term_index *ti)
{
    free(ti->len);
    free(ti->slot);
}

static int term_find(const term_index *ti, const char *term, size_t len)
{
    size_t h = (size_t)hash_bytes(term, len) & ti->mask;
    for (; ti->slot[h] != 0; h = (h + 1) & ti->mask) {
        int i = ti->slot[h] - 1;
        if (ti->len[i] == len && memcmp(ti->terms[i], term, len) == 0)
            return i;
    }
    return -1;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* 1 when the text before byte `at` ends a sentence: '.', ':', '!' or '?' then white space
 * (so "3.14" and "e.g" inside a word do not), a blank line, or an ideographic full stop or
 * fullwidth '!' / '?' (CJK text puts no space after them). */
static int sentence_break_before(const char *body, size_t at)
{
    size_t j = at, newlines = 0;
    while (j > 0 && is_space(body[j - 1]))
        newlines += body[--j] == '\n';
    if (newlines >= 2)
        return 1;
    if (j < at && j > 0 && strchr(".:!?", body[j - 1]) != NULL)
        return 1;
    static const char *const cjk_ends[] = {"\xE3\x80\x82", "\xEF\xBC\x81", "\xEF\xBC\x9F"};
    for (size_t k = 0; j >= 3 && k < sizeof cjk_ends / sizeof cjk_ends[0]; k++)
        if (memcmp(body + j - 3, cjk_ends[k], 3) == 0)
            return 1;
    return 0;
}

/* text_token_fn: records the token. */
static int on_token(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    scan *sc = ctx;
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 256;
        snip_tok *t = realloc(sc->tok, cap * sizeof *t);
        if (t == NULL)
            return LORE_ENOMEM;
        sc->tok = t;
        sc->cap = cap;
    }
    snip_tok *t = &sc->tok[sc->n++];
    t->start = start;
    t->end = end;
    t->term = term_find(sc->ti, term, len);
    t->sentence = sc->n == 1 || sentence_break_before(sc->body, start);
    return 0;
}

/* First index of m[0..nm) (ascending) holding a position >= pos. */
static size_t first_at_or_after(const size_t *m, size_t nm, size_t pos)
{
    size_t lo = 0, hi = nm;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m[mid] < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Scores the window at `start`. seen[] holds per term the stamp of the last window that
 * counted it, so it needs no clearing between windows. */
static window score_window(const snip_tok *tok, size_t n, const size_t *m, size_t nm,
                           size_t start, size_t width, size_t *seen, size_t stamp)
{
    window w = {start, 0, 0, start == 0 ? 2 : start < n && tok[start].sentence ? 1 : 0};
    for (size_t k = first_at_or_after(m, nm, start); k < nm && m[k] < start + width; k++) {
        int t = tok[m[k]].term;
        if (seen[t] != stamp) {
            seen[t] = stamp;
            w.distinct++;
        }
        w.occurrences++;
    }
    return w;
}

static int better(const window *a, const window *b)
{
    if (a->distinct != b->distinct)
        return a->distinct > b->distinct;
    if (a->opening != b->opening)
        return a->opening > b->opening;
    if (a->occurrences != b->occurrences)
        return a->occurrences > b->occurrences;
    return a->start < b->start;
}

/* The window that centres the matches from m[k] on that fit in `width` tokens after it (as
 * FTS5 does), kept inside the body. */
static size_t centred_start(const size_t *m, size_t nm, size_t k, size_t n, size_t width)
{
    if (n <= width)
        return 0;
    size_t first = m[k], last = m[k] + 1;
    for (size_t j = k + 1; j < nm && m[j] < first + width; j++)
        last = m[j] + 1;
    size_t slack = (width - (last - first)) / 2;
    size_t start = first > slack ? first - slack : 0;
    return start > n - width ? n - width : start;
}

/* Chooses the window's first token among, for every match, the window centred on it and the
 * window starting at its sentence. */
static int choose_window(const snip_tok *tok, size_t n, size_t nterms, size_t width,
                         size_t *start)
{
    *start = 0;
    size_t nm = 0;
    for (size_t i = 0; i < n; i++)
        nm += tok[i].term >= 0;
    if (nm == 0 || n <= width)
        return 0;
    size_t *m = malloc(nm * sizeof *m);
    size_t *sentence = malloc(nm * sizeof *sentence); /* the sentence start of each match */
    size_t *seen = calloc(nterms, sizeof *seen);
    if (m == NULL || sentence == NULL || seen == NULL) {
        free(m);
        free(sentence);
        free(seen);
        return LORE_ENOMEM;
    }
    nm = 0;
    for (size_t i = 0, s = 0; i < n; i++) {
        s = tok[i].sentence ? i : s;
        if (tok[i].term >= 0) {
            sentence[nm] = s;
            m[nm++] = i;
        }
    }
    window best = {0, 0, 0, 0};
    size_t stamp = 0;
    for (size_t k = 0; k < nm; k++) {
        size_t at[2] = {centred_start(m, nm, k, n, width), sentence[k]};
        for (size_t j = 0; j < 2; j++) {
            window w = score_window(tok, n, m, nm, at[j], width, seen, ++stamp);
            if (stamp == 1 || better(&w, &best))
                best = w;
        }
    }
    *start = best.start;
    free(m);
    free(sentence);
    free(seen);
    return 0;
}

/* Copies tokens [from, to) of the body with their surroundings, highlighting matches. The
 * copy only moves forward: overlapping CJK bigrams highlight their characters once ("退款",
 * "款政" give "**退款****政**", which tidy merges), never repeating text. */
static int render(const char *body, size_t len, const snip_tok *tok, size_t n, size_t from,
                  size_t to, sbuf *b)
{
    int rc = 0;
    size_t pos = 0;
    if (from > 0) {
        rc |= sbuf_adds(b, "...");
        pos = tok[from].start;
    }
    for (size_t i = from; i < to && rc == 0; i++) {
        if (tok[i].term < 0 || tok[i].end <= pos)
            continue;
        size_t s = tok[i].start > pos ? tok[i].start : pos;
        rc |= sbuf_add(b, body + pos, s - pos);
        rc |= sbuf_adds(b, "**");
        rc |= sbuf_add(b, body + s, tok[i].end - s);
        rc |= sbuf_adds(b, "**");
        pos = tok[i].end;
    }
    if (rc != 0)
        return LORE_ENOMEM;
    if (to >= n)
        return sbuf_add(b, body + pos, len - pos);
    size_t end = to > from && tok[to - 1].end > pos ? tok[to - 1].end : pos;
    if (sbuf_add(b, body + pos, end - pos) != 0 || sbuf_adds(b, "...") != 0)
        return LORE_ENOMEM;
    return 0;
}

/* Whitespace runs become one space (none at the ends), and adjacent highlights
 * ("**a****b**") one highlight. In place. */
static void tidy(char *p)
{
    char *w = p;
    for (const char *r = p; *r;) {
        if (strncmp(r, "****", 4) == 0) {
            r += 4;
        } else if (is_space(*r)) {
            if (w > p && w[-1] != ' ')
                *w++ = ' ';
            r++;
        } else {
            *w++ = *r++;
        }
    }
    while (w > p && w[-1] == ' ')
        w--;
    *w = '\0';
}

int snippet_make(text_analyzer *an, const char *body, const char *const *terms, size_t nterms,
                 size_t max_tokens, char **out, lore_err *err)
{
    *out = NULL;
    if (body == NULL)
        body = "";
    size_t len = strlen(body), width = max_tokens ? max_tokens : 1;
    term_index ti;
    scan sc = {body, &ti, NULL, 0, 0};
    sbuf b = SBUF_INIT;
    size_t start = 0;
    int rc = term_index_init(&ti, terms, nterms);
    if (rc == 0)
        rc = text_analyze(an, body, len, on_token, &sc);
    if (rc == 0)
        rc = choose_window(sc.tok, sc.n, nterms, width, &start);
    if (rc == 0) {
        size_t to = start + width < sc.n ? start + width : sc.n;
        rc = render(body, len, sc.tok, sc.n, start, to, &b);
    }
    term_index_free(&ti);
    free(sc.tok);
    if (rc != 0) {
        sbuf_free(&b);
        return lore_errf(err, LORE_ENOMEM, "out of memory making a snippet");
    }
    *out = sbuf_detach(&b);
    tidy(*out);
    return 0;
}

int snippet_lead(const char *body, char **out, lore_err *err)
{
    *out = NULL;
    if (body == NULL)
        body = "";
    size_t n = strlen(body), cut = n < 240 ? n : 240;
    /* Cut at a character boundary, then at a space when one is near. */
    while (cut < n && cut > 0 && ((unsigned char)body[cut] & 0xC0) == 0x80)
        cut--;
    size_t sp = cut;
    while (cut < n && sp > cut / 2 && body[sp] != ' ')
        sp--;
    if (cut < n && sp > cut / 2)
        cut = sp;
    sbuf b = SBUF_INIT;
    if (sbuf_add(&b, body, cut) != 0 || (cut < n && sbuf_adds(&b, "...") != 0)) {
        sbuf_free(&b);
        return lore_errf(err, LORE_ENOMEM, "out of memory making a snippet");
    }
    *out = sbuf_detach(&b);
    tidy(*out);
    return 0;
}
