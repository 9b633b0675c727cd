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

/* A body's token as analysis leaves it, before any query: the term by its hash and length.
 * Matching a query term by (hash, length) instead of by its text lets one analysis serve
 * every query (snippet_cache); two different terms of a body and a question would have to
 * collide in 64 bits to highlight a wrong word. */
typedef struct atok {
    uint64_t hash;
    uint32_t start, end; /* byte range in the body (CJK bigrams overlap: "ab", "bc") */
    uint32_t len;        /* the term's length */
    uint32_t sentence;   /* 1: it begins the body or a sentence */
} atok;

/* The query terms by hash, so each body token costs one probe, not a compare per term. */
typedef struct term_index {
    uint64_t *hash;
    size_t *len;
    int *slot;     /* index of a term + 1; 0: empty */
    size_t mask;   /* slots - 1, slots a power of two at least twice the terms */
} term_index;

typedef struct scan {
    const char *body;
    atok *tok;
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
    ti->mask = slots - 1;
    ti->hash = malloc((nterms ? nterms : 1) * sizeof *ti->hash);
    ti->len = malloc((nterms ? nterms : 1) * sizeof *ti->len);
    ti->slot = calloc(slots, sizeof *ti->slot);
    if (ti->hash == NULL || ti->len == NULL || ti->slot == NULL)
        return LORE_ENOMEM;
    for (size_t i = 0; i < nterms; i++) {
        ti->len[i] = strlen(terms[i]);
        ti->hash[i] = hash_bytes(terms[i], ti->len[i]);
        size_t h = (size_t)ti->hash[i] & ti->mask;
        while (ti->slot[h] != 0 && strcmp(terms[ti->slot[h] - 1], terms[i]) != 0)
            h = (h + 1) & ti->mask;
        if (ti->slot[h] == 0)
            ti->slot[h] = (int)i + 1;
    }
    return 0;
}

static void term_index_free(term_index *ti)
{
    free(ti->hash);
    free(ti->len);
    free(ti->slot);
}

static int term_find(const term_index *ti, uint64_t hash, size_t len)
{
    for (size_t h = (size_t)hash & ti->mask; ti->slot[h] != 0; h = (h + 1) & ti->mask) {
        int i = ti->slot[h] - 1;
        if (ti->hash[i] == hash && ti->len[i] == len)
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
    if (end > UINT32_MAX || len > UINT32_MAX)
        return LORE_EINVAL; /* bodies are far smaller (ingest caps them) */
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 256;
        atok *t = realloc(sc->tok, cap * sizeof *t);
        if (t == NULL)
            return LORE_ENOMEM;
        sc->tok = t;
        sc->cap = cap;
    }
    atok *t = &sc->tok[sc->n++];
    t->hash = hash_bytes(term, len);
    t->start = (uint32_t)start;
    t->end = (uint32_t)end;
    t->len = (uint32_t)len;
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

/* The body's tokens (malloc'd into *tok, *n of them; NULL when none). */
static int analyse(text_analyzer *an, const char *body, size_t len, atok **tok, size_t *n)
{
    scan sc = {body, NULL, 0, 0};
    int rc = text_analyze(an, body, len, on_token, &sc);
    if (rc != 0) {
        free(sc.tok);
        return rc;
    }
    *tok = sc.tok;
    *n = sc.n;
    return 0;
}

/* The snippet of body from its analysed tokens. */
static int snippet_from(const char *body, const atok *at, size_t n, const char *const *terms,
                        size_t nterms, size_t max_tokens, char **out)
{
    size_t len = strlen(body), width = max_tokens ? max_tokens : 1;
    term_index ti;
    snip_tok *tok = malloc((n ? n : 1) * sizeof *tok);
    sbuf b = SBUF_INIT;
    size_t start = 0;
    int rc = term_index_init(&ti, terms, nterms);
    if (rc == 0 && tok == NULL)
        rc = LORE_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        tok[i].start = at[i].start;
        tok[i].end = at[i].end;
        tok[i].term = term_find(&ti, at[i].hash, at[i].len);
        tok[i].sentence = (int)at[i].sentence;
    }
    if (rc == 0)
        rc = choose_window(tok, n, nterms, width, &start);
    if (rc == 0) {
        size_t to = start + width < n ? start + width : n;
        rc = render(body, len, tok, n, start, to, &b);
    }
    term_index_free(&ti);
    free(tok);
    if (rc != 0) {
        sbuf_free(&b);
        return rc;
    }
    *out = sbuf_detach(&b);
    if (*out == NULL)
        return LORE_ENOMEM;
    tidy(*out);
    return 0;
}

int snippet_make(text_analyzer *an, const char *body, const char *const *terms, size_t nterms,
                 size_t max_tokens, char **out, lore_err *err)
{
    return snippet_make_cached(NULL, 0, an, body, terms, nterms, max_tokens, out, err);
}

/* ---- the analysis cache ---- */

typedef struct centry {
    int64_t key; /* 0: empty slot */
    atok *tok;
    size_t n;
} centry;

struct snippet_cache {
    centry *slot;
    size_t mask;           /* slots - 1 */
    size_t used;           /* occupied slots */
    size_t tokens, budget; /* tokens held, at most budget */
};

int snippet_cache_new(size_t max_tokens, snippet_cache **out)
{
    *out = NULL;
    snippet_cache *c = calloc(1, sizeof *c);
    size_t slots = 64;
    if (c == NULL || (c->slot = calloc(slots, sizeof *c->slot)) == NULL) {
        free(c);
        return LORE_ENOMEM;
    }
    c->mask = slots - 1;
    c->budget = max_tokens;
    *out = c;
    return 0;
}

void snippet_cache_clear(snippet_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i <= c->mask; i++) {
        free(c->slot[i].tok);
        c->slot[i] = (centry){0, NULL, 0};
    }
    c->used = 0;
    c->tokens = 0;
}

void snippet_cache_free(snippet_cache *c)
{
    if (c == NULL)
        return;
    snippet_cache_clear(c);
    free(c->slot);
    free(c);
}

size_t snippet_cache_entries(const snippet_cache *c)
{
    return c ? c->used : 0;
}

static size_t slot_of(const snippet_cache *c, int64_t key)
{
    size_t h = (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ULL) >> 17) & c->mask;
    while (c->slot[h].key != 0 && c->slot[h].key != key)
        h = (h + 1) & c->mask;
    return h;
}

/* Doubles the table (kept at most half full). */
static int grow(snippet_cache *c)
{
    size_t slots = 2 * (c->mask + 1);
    centry *old = c->slot, *fresh = calloc(slots, sizeof *fresh);
    if (fresh == NULL)
        return LORE_ENOMEM;
    size_t n_old = c->mask + 1;
    c->slot = fresh;
    c->mask = slots - 1;
    for (size_t i = 0; i < n_old; i++)
        if (old[i].key != 0)
            c->slot[slot_of(c, old[i].key)] = old[i];
    free(old);
    return 0;
}

/* Keeps tok (taken over) under key; on failure (or when it cannot fit) the caller keeps it. */
static int keep(snippet_cache *c, int64_t key, atok *tok, size_t n)
{
    if (n > c->budget)
        return -1;
    /* Emptied when full: a help center's hot chunks fit well within the budget, and a full
     * cache means the traffic is spread over more of the corpus than it can hold anyway. */
    if (c->tokens + n > c->budget)
        snippet_cache_clear(c);
    if (2 * (c->used + 1) > c->mask + 1 && grow(c) != 0)
        return -1;
    size_t h = slot_of(c, key);
    c->slot[h] = (centry){key, tok, n};
    c->used++;
    c->tokens += n;
    return 0;
}

int snippet_make_cached(snippet_cache *c, int64_t key, text_analyzer *an, const char *body,
                        const char *const *terms, size_t nterms, size_t max_tokens, char **out,
                        lore_err *err)
{
    *out = NULL;
    if (body == NULL)
        body = "";
    const centry *hit = NULL;
    if (c != NULL && key != 0) {
        size_t h = slot_of(c, key);
        hit = c->slot[h].key == key ? &c->slot[h] : NULL;
    }
    atok *tok = NULL;
    size_t n = 0;
    int rc = 0;
    if (hit == NULL) {
        rc = analyse(an, body, strlen(body), &tok, &n);
    }
    if (rc == 0)
        rc = hit ? snippet_from(body, hit->tok, hit->n, terms, nterms, max_tokens, out)
                 : snippet_from(body, tok, n, terms, nterms, max_tokens, out);
    if (hit == NULL && (rc != 0 || c == NULL || key == 0 || keep(c, key, tok, n) != 0))
        free(tok);
    if (rc == LORE_EINVAL)
        return lore_errf(err, rc, "a body too large for a snippet");
    if (rc != 0)
        return lore_errf(err, LORE_ENOMEM, "out of memory making a snippet");
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
    if ((*out = sbuf_detach(&b)) == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory making a snippet");
    tidy(*out);
    return 0;
}
