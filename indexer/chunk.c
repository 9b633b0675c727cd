/* chunk: heading-aware packing of article blocks into passages.
 *
 * A section (the blocks under one heading) is first cut into units: a whole paragraph, or its
 * sentences (or word runs) when it is over budget; a whole code block; a whole table, or
 * runs of its rows, each run printed under the header row. Units are then packed greedily;
 * when a chunk is full the next one starts with the trailing sentence(s) of the previous
 * chunk's last paragraph, as overlap. Units are byte ranges into the block texts, so
 * consecutive pieces of one paragraph are printed exactly as in the source.
 *
 * Token counts are additive over these ranges: every cut is at whitespace, after sentence
 * punctuation or at a CJK character, never inside a counted word. */
#include "chunk.h"

#include "sbuf.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_VERSION "chunk-v1"
#define CHUNK_MAX_LEVELS 6

typedef enum unit_kind { UNIT_PROSE, UNIT_CODE, UNIT_TABLE } unit_kind;

typedef struct unit {
    unit_kind kind;
    size_t block;      /* index into the article's blocks */
    size_t start, end; /* byte range of the block's text */
    size_t tokens;     /* header row included for tables */
    int with_header;   /* tables: print the block's header row first */
} unit;

typedef struct unit_list {
    unit *v;
    size_t n, cap;
} unit_list;

typedef struct chunker {
    const article *a;
    size_t max, overlap;
    lore_err *err;
    const char *heads[CHUNK_MAX_LEVELS]; /* current heading per level, NULL when none */
    unit_list section;                   /* units of the section being read */
    unit_list cur;                       /* units of the chunk being packed */
    size_t cur_tokens;
    chunk *out;
    size_t nout, capout;
} chunker;

static int units_push(unit_list *l, unit u)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        unit *p = realloc(l->v, cap * sizeof *p);
        if (p == NULL)
            return LORE_ENOMEM;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = u;
    return 0;
}

static int ck_nomem(chunker *ck)
{
    return lore_errf(ck->err, LORE_ENOMEM, "out of memory chunking article %s",
                     ck->a->id ? ck->a->id : "(no id)");
}

static size_t count(const char *s, size_t start, size_t end)
{
    return end > start ? text_count_tokens(s + start, end - start) : 0;
}

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* ---- cutting text ------------------------------------------------------------------- */

/* Bytes in the UTF-8 sequence led by c (1 for stray continuation bytes). */
static size_t seq_len(unsigned char c)
{
    return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

/* 1 when a piece may end at byte p of s[start..end): after whitespace, before whitespace, or
 * next to a character of three or more bytes (CJK, counted one token per character). */
static int can_cut(const char *s, size_t p, size_t prev)
{
    unsigned char a = (unsigned char)s[prev], b = (unsigned char)s[p];
    if ((b & 0xC0) == 0x80)
        return 0;
    return is_ws(a) || is_ws(b) || seq_len(a) >= 3 || seq_len(b) >= 3;
}

/* The cut points strictly inside (start, end), in order. Caller frees *out. */
static int cut_points(const char *s, size_t start, size_t end, size_t **out, size_t *n)
{
    size_t cap = 64, k = 0;
    size_t *v = malloc(cap * sizeof *v);
    if (v == NULL)
        return LORE_ENOMEM;
    size_t prev = start;
    for (size_t p = start + seq_len((unsigned char)s[start]); p < end;
         prev = p, p += seq_len((unsigned char)s[p])) {
        if (!can_cut(s, p, prev))
            continue;
        if (k == cap) {
            size_t *q = realloc(v, cap * 2 * sizeof *q);
            if (q == NULL) {
                free(v);
                return LORE_ENOMEM;
            }
            v = q;
            cap *= 2;
        }
        v[k++] = p;
    }
    *out = v;
    *n = k;
    return 0;
}

/* Largest cut p in (start, end] with count(start, p) <= budget; the first cut when even it
 * is over budget (one word longer than the budget must still make progress). */
static int cut_prefix(const char *s, size_t start, size_t end, size_t budget, size_t *cut)
{
    if (count(s, start, end) <= budget) {
        *cut = end;
        return 0;
    }
    size_t *pts, n;
    if (cut_points(s, start, end, &pts, &n) != 0)
        return LORE_ENOMEM;
    size_t lo = 0, hi = n; /* answer index in [0, n): largest i with count <= budget */
    size_t best = n ? pts[0] : end;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (count(s, start, pts[mid]) <= budget) {
            best = pts[mid];
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    free(pts);
    *cut = best;
    return 0;
}

/* Smallest cut p in [start, end) with count(p, end) <= budget, or end when none. */
static int cut_suffix(const char *s, size_t start, size_t end, size_t budget, size_t *cut)
{
    size_t *pts, n;
    if (cut_points(s, start, end, &pts, &n) != 0)
        return LORE_ENOMEM;
    size_t lo = 0, hi = n, best = end;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (count(s, pts[mid], end) <= budget) {
            best = pts[mid];
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    free(pts);
    *cut = best;
    return 0;
}

static void trim_range(const char *s, size_t *start, size_t *end)
{
    while (*start < *end && is_ws((unsigned char)s[*start]))
        (*start)++;
    while (*end > *start && is_ws((unsigned char)s[*end - 1]))
        (*end)--;
}

/* End of the sentence that starts at `start`: just after ". ", "! ", "? " (before the
 * space), after "。", "！", "？", or at a line break. */
static size_t sentence_end(const char *s, size_t start, size_t end)
{
    for (size_t i = start; i < end; i++) {
        char c = s[i];
        if (c == '\n')
            return i;
        if ((c == '.' || c == '!' || c == '?') && (i + 1 == end || is_ws((unsigned char)s[i + 1])))
            return i + 1;
        if (i + 3 <= end && (memcmp(s + i, "\xE3\x80\x82", 3) == 0 ||   /* 。 */
                             memcmp(s + i, "\xEF\xBC\x81", 3) == 0 ||   /* ！ */
                             memcmp(s + i, "\xEF\xBC\x9F", 3) == 0))    /* ？ */
            return i + 3;
    }
    return end;
}

/* Calls fn for every non-empty sentence of s[start..end), as a trimmed range. */
typedef int (*range_fn)(void *ctx, size_t start, size_t end);

static int each_sentence(const char *s, size_t start, size_t end, range_fn fn, void *ctx)
{
    size_t p = start;
    while (p < end) {
        size_t e = sentence_end(s, p, end);
        size_t a = p, b = e;
        trim_range(s, &a, &b);
        if (a < b) {
            int rc = fn(ctx, a, b);
            if (rc != 0)
                return rc;
        }
        p = e > p ? e : p + 1;
    }
    return 0;
}

/* ---- cutting blocks into units ------------------------------------------------------ */

typedef struct prose_ctx {
    chunker *ck;
    size_t block;
    const char *text;
} prose_ctx;

static int add_prose(chunker *ck, size_t block, const char *text, size_t a, size_t b)
{
    unit u = {UNIT_PROSE, block, a, b, count(text, a, b), 0};
    return units_push(&ck->section, u) ? ck_nomem(ck) : 0;
}

/* One sentence: whole when it fits, else runs of words. */
static int sentence_units(void *ctx, size_t start, size_t end)
{
    prose_ctx *pc = ctx;
    chunker *ck = pc->ck;
    /* Word runs leave room for the overlap the next chunk starts with. */
    size_t budget = count(pc->text, start, end) <= ck->max ? ck->max : ck->max - ck->overlap;
    while (start < end) {
        size_t cut;
        if (cut_prefix(pc->text, start, end, budget, &cut) != 0)
            return ck_nomem(ck);
        size_t a = start, b = cut;
        trim_range(pc->text, &a, &b);
        if (a < b && add_prose(ck, pc->block, pc->text, a, b) != 0)
            return LORE_ENOMEM;
        start = cut;
        while (start < end && is_ws((unsigned char)pc->text[start]))
            start++;
    }
    return 0;
}

static int paragraph_units(chunker *ck, size_t bi)
{
    const char *t = ck->a->blocks[bi].text;
    size_t a = 0, b = strlen(t);
    trim_range(t, &a, &b);
    if (a == b)
        return 0;
    if (count(t, a, b) <= ck->max)
        return add_prose(ck, bi, t, a, b);
    prose_ctx pc = {ck, bi, t};
    return each_sentence(t, a, b, sentence_units, &pc);
}

static int table_units(chunker *ck, size_t bi)
{
    const article_block *blk = &ck->a->blocks[bi];
    const char *t = blk->text;
    size_t len = strlen(t);
    int has_header = blk->header != NULL && blk->header[0] != '\0';
    size_t htok = has_header ? text_count_tokens(blk->header, strlen(blk->header)) : 0;
    size_t total = htok + count(t, 0, len);
    if (total <= ck->max || len == 0) {
        unit u = {UNIT_TABLE, bi, 0, len, total, has_header};
        return units_push(&ck->section, u) ? ck_nomem(ck) : 0;
    }
    /* Runs of whole rows, each within budget with the header (at least one row each). */
    size_t start = 0, tokens = htok;
    for (size_t p = 0; p < len;) {
        const char *nl = memchr(t + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - t) : len;
        size_t rt = count(t, p, e);
        if (p > start && tokens + rt > ck->max) {
            unit u = {UNIT_TABLE, bi, start, p - 1, tokens, has_header};
            if (units_push(&ck->section, u) != 0)
                return ck_nomem(ck);
            start = p;
            tokens = htok;
        }
        tokens += rt;
        p = nl ? e + 1 : len;
    }
    unit u = {UNIT_TABLE, bi, start, len, tokens, has_header};
    return units_push(&ck->section, u) ? ck_nomem(ck) : 0;
}

static int code_unit(chunker *ck, size_t bi)
{
    const char *t = ck->a->blocks[bi].text;
    size_t len = strlen(t);
    if (len == 0)
        return 0;
    unit u = {UNIT_CODE, bi, 0, len, count(t, 0, len), 0};
    return units_push(&ck->section, u) ? ck_nomem(ck) : 0;
}

/* ---- emitting chunks ---------------------------------------------------------------- */

static int heading_path(const chunker *ck, sbuf *out)
{
    const char *title = ck->a->title ? ck->a->title : "";
    if (sbuf_adds(out, title) != 0)
        return LORE_ENOMEM;
    for (int l = 0; l < CHUNK_MAX_LEVELS; l++) {
        const char *h = ck->heads[l];
        if (h == NULL || (l == 0 && strcmp(h, title) == 0))
            continue; /* an H1 that repeats the title adds nothing */
        if (out->len > 0 && sbuf_add(out, " > ", 3) != 0)
            return LORE_ENOMEM;
        if (sbuf_adds(out, h) != 0)
            return LORE_ENOMEM;
    }
    return 0;
}

/* Prints the units; neighbouring prose units of one block print as one source range. */
static int render(const chunker *ck, const unit_list *ul, sbuf *out)
{
    for (size_t i = 0; i < ul->n; i++) {
        const unit *u = &ul->v[i];
        const article_block *blk = &ck->a->blocks[u->block];
        size_t end = u->end;
        while (u->kind == UNIT_PROSE && i + 1 < ul->n && ul->v[i + 1].kind == UNIT_PROSE &&
               ul->v[i + 1].block == u->block && ul->v[i + 1].start >= end)
            end = ul->v[++i].end;
        if (out->len > 0 && sbuf_add(out, "\n\n", 2) != 0)
            return LORE_ENOMEM;
        if (u->with_header && (sbuf_adds(out, blk->header) != 0 || sbuf_addc(out, '\n') != 0))
            return LORE_ENOMEM;
        if (sbuf_add(out, blk->text + u->start, end - u->start) != 0)
            return LORE_ENOMEM;
    }
    return 0;
}

static int emit(chunker *ck)
{
    if (ck->cur.n == 0)
        return 0;
    if (ck->nout == ck->capout) {
        size_t cap = ck->capout ? ck->capout * 2 : 8;
        chunk *p = realloc(ck->out, cap * sizeof *p);
        if (p == NULL)
            return ck_nomem(ck);
        ck->out = p;
        ck->capout = cap;
    }
    sbuf path = SBUF_INIT, text = SBUF_INIT;
    if (heading_path(ck, &path) != 0 || render(ck, &ck->cur, &text) != 0) {
        sbuf_free(&path);
        sbuf_free(&text);
        return ck_nomem(ck);
    }
    chunk *c = &ck->out[ck->nout];
    c->heading_path = sbuf_detach(&path);
    c->text = sbuf_detach(&text);
    c->ordinal = (int)ck->nout;
    ck->nout++;
    return 0;
}

/* The overlap that opens the chunk after `cur`: trailing whole sentences of its last
 * paragraph within overlap_tokens, else its trailing words. None when the last unit is not
 * prose, or when the overlap would repeat the whole previous chunk. */
static int overlap_unit(chunker *ck, unit *ov, int *have)
{
    *have = 0;
    const unit_list *ul = &ck->cur;
    if (ck->overlap == 0 || ul->n == 0 || ul->v[ul->n - 1].kind != UNIT_PROSE)
        return 0;
    const unit *last = &ul->v[ul->n - 1];
    size_t first = ul->n - 1; /* the last printed range runs from ul->v[first] to last */
    while (first > 0 && ul->v[first - 1].kind == UNIT_PROSE &&
           ul->v[first - 1].block == last->block)
        first--;
    const char *t = ck->a->blocks[last->block].text;
    size_t gs = ul->v[first].start, ge = last->end;
    /* Walk sentences backwards by scanning forwards once and keeping the best start. */
    size_t best = ge;
    for (size_t p = gs; p < ge;) {
        size_t a = p, b = ge;
        trim_range(t, &a, &b);
        if (a < b && count(t, a, ge) <= ck->overlap) {
            best = a;
            break;
        }
        size_t e = sentence_end(t, p, ge);
        p = e > p ? e : p + 1;
    }
    if (best == ge && cut_suffix(t, gs, ge, ck->overlap, &best) != 0)
        return ck_nomem(ck);
    size_t a = best, b = ge;
    trim_range(t, &a, &b);
    if (a >= b || (first == 0 && a <= gs))
        return 0;
    ov->kind = UNIT_PROSE;
    ov->block = last->block;
    ov->start = a;
    ov->end = b;
    ov->tokens = count(t, a, b);
    ov->with_header = 0;
    *have = 1;
    return 0;
}

/* Packs the section's units into chunks and empties the section. */
static int pack_section(chunker *ck)
{
    ck->cur.n = 0;
    ck->cur_tokens = 0;
    for (size_t i = 0; i < ck->section.n; i++) {
        unit u = ck->section.v[i];
        if (ck->cur.n > 0 && ck->cur_tokens + u.tokens > ck->max) {
            unit ov;
            int have;
            if (emit(ck) != 0 || overlap_unit(ck, &ov, &have) != 0)
                return LORE_ENOMEM;
            ck->cur.n = 0;
            ck->cur_tokens = 0;
            /* Overlap carries running text across a cut; a table piece has its header
             * and a code block is whole, so they start clean. */
            if (have && u.kind == UNIT_PROSE && ov.tokens + u.tokens <= ck->max) {
                if (units_push(&ck->cur, ov) != 0)
                    return ck_nomem(ck);
                ck->cur_tokens = ov.tokens;
            }
        }
        if (units_push(&ck->cur, u) != 0)
            return ck_nomem(ck);
        ck->cur_tokens += u.tokens;
    }
    int rc = emit(ck);
    ck->section.n = 0;
    ck->cur.n = 0;
    ck->cur_tokens = 0;
    return rc;
}

static int read_blocks(chunker *ck)
{
    const article *a = ck->a;
    for (size_t i = 0; i < a->nblocks; i++) {
        const article_block *b = &a->blocks[i];
        if (b->text == NULL)
            continue;
        int rc = 0;
        switch (b->kind) {
        case BLOCK_HEADING: {
            rc = pack_section(ck);
            int l = b->level < 1 ? 1 : b->level > CHUNK_MAX_LEVELS ? CHUNK_MAX_LEVELS : b->level;
            ck->heads[l - 1] = b->text;
            for (int k = l; k < CHUNK_MAX_LEVELS; k++)
                ck->heads[k] = NULL;
            break;
        }
        case BLOCK_PARAGRAPH: rc = paragraph_units(ck, i); break;
        case BLOCK_CODE: rc = code_unit(ck, i); break;
        case BLOCK_TABLE: rc = table_units(ck, i); break;
        }
        if (rc != 0)
            return rc;
    }
    return pack_section(ck);
}

int chunk_article(const article *a, const chunk_options *opts, chunk **out, size_t *n,
                  lore_err *err)
{
    static const chunk_options defaults = CHUNK_OPTIONS_DEFAULT;
    if (out == NULL || n == NULL || a == NULL)
        return lore_errf(err, LORE_EINVAL, "chunk_article: missing argument");
    *out = NULL;
    *n = 0;
    if (opts == NULL)
        opts = &defaults;
    if (opts->max_tokens == 0 || opts->overlap_tokens >= opts->max_tokens)
        return lore_errf(err, LORE_EINVAL, "bad chunk options: max_tokens %zu, overlap %zu",
                         opts->max_tokens, opts->overlap_tokens);
    chunker ck;
    memset(&ck, 0, sizeof ck);
    ck.a = a;
    ck.max = opts->max_tokens;
    ck.overlap = opts->overlap_tokens;
    ck.err = err;
    int rc = read_blocks(&ck);
    free(ck.section.v);
    free(ck.cur.v);
    if (rc != 0) {
        chunk_free_all(ck.out, ck.nout);
        return rc;
    }
    *out = ck.out;
    *n = ck.nout;
    return 0;
}

void chunk_free_all(chunk *chunks, size_t n)
{
    if (chunks == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(chunks[i].heading_path);
        free(chunks[i].text);
    }
    free(chunks);
}

void chunk_options_id(const chunk_options *opts, char *buf, size_t buflen)
{
    static const chunk_options defaults = CHUNK_OPTIONS_DEFAULT;
    if (buf == NULL || buflen == 0)
        return;
    if (opts == NULL)
        opts = &defaults;
    snprintf(buf, buflen, "%s:%zu:%zu", CHUNK_VERSION, opts->max_tokens, opts->overlap_tokens);
}
