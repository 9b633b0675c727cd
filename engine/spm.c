/* spm: the SentencePiece unigram tokenizer of spm.h.
 *
 * What the reference does (the Tokenizer class of @energetic-ai/embeddings 0.2.0, a port of
 * the tokenizer in Google's tfjs-models universal-sentence-encoder), and so what this file
 * does, step by step:
 *
 * 1. Text. The reference gets a JavaScript string. Bytes that are not valid UTF-8 become
 *    U+FFFD here, one per maximal invalid subpart, which is what a WHATWG TextDecoder (or
 *    Node's Buffer) makes of them before any JavaScript code could see the text.
 *
 * 2. Normalization: NFKC (String.prototype.normalize("NFKC"); here utf8proc with
 *    STABLE | COMPAT | COMPOSE, which is utf8proc's NFKC). Nothing else: no lower-casing, no
 *    whitespace collapsing, no stripping, no control-character removal. Tabs, newlines and
 *    NUL stay as they are (no piece holds them, so each is an unknown).
 *
 * 3. If the normalized text is not empty: "▁" (U+2581) is put in front, and every U+0020
 *    SPACE becomes "▁" (only U+0020; NFKC has already turned U+00A0, U+3000, U+2009 and
 *    friends into U+0020). An empty text gives no ids at all; a text of spaces gives one "▁"
 *    per space plus one.
 *
 * 4. Pieces. vocab.json is [[piece, score], ...]; a piece's id is its index. Ids 0..5 (the
 *    unknown "\uFFFD", <s>, </s>, extra_token_id_1..3) are reserved and never matched.
 *    A null score counts as 0 (JavaScript's null + x == x); this vocabulary has seven (":"
 *    and pieces holding it) and also ":30" scoring +30 and ":00" scoring 0. When a piece
 *    appears more than once ("”5" is ids 230, 238 and 4464), the last one wins.
 *
 * 5. Lattice. Positions are code points of the text from step 3. At each start position,
 *    every piece that is a prefix of the rest of the text is an edge; if none is, the single
 *    code point there is an edge with id 0 (unknown) and score 0. Note that the unknown edge
 *    exists only where no piece at all starts, and that an unknown costs nothing.
 *
 * 6. Viterbi, with the reference's quirks kept exactly: best[] starts at 0 everywhere and 0
 *    also means "not set yet", so (a) a position no edge reaches still offers a path score
 *    of 0, the best there is, and (b) a best of exactly 0 is overwritten by the next
 *    candidate whatever its score. Candidates for an end position are tried in increasing
 *    start order and a candidate replaces the best one when its score (piece score + best at
 *    its start, added in double precision) is >= the best: ties go to the later start, i.e.
 *    the shorter piece. Here the same comparisons happen in the same order, pushed forward
 *    from each start.
 *
 * 7. Backtrack from the end: take the id at the position, step back by that piece's length
 *    in UTF-16 code units (not code points: the reference measures the vocabulary string),
 *    repeat while the position is > 0. A position no edge reached holds id 0.
 *
 * 8. Runs of consecutive unknown ids (0) collapse into one 0.
 *
 * The ids go to the model as-is: no <s> or </s>, no padding, no cut. The reference feeds a
 * batch as a sparse tensor, "indices" = [[row, position], ...] (int32, n x 2) and "values" =
 * the ids (int32); the graph itself keeps only positions < 128 (ClipToMaxLength).
 *
 * Unicode version: utf8proc 2.8 knows Unicode 15.0; Node's ICU may know a later one (Node
 * 20.20: Unicode 17, which made the goldens). Code point by code point, the two NFKCs differ
 * on 37 characters only, all mapped here by nfkc_newer. Still different: the canonical
 * compositions of scripts new in Unicode 16 (Kirat Rai, Tulu-Tigalari, Gurung Khema,
 * Todhri), which a support text will not hold.
 *
 * Lookup: every piece and every code-point prefix of every piece goes into one open-
 * addressing hash table keyed by its UTF-8 bytes (XXH3), so walking a text position by
 * position is a trie walk: stop at the first prefix that is not in the table. */
#include "spm.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

#define SPM_RESERVED 6 /* ids below this are never matched */
#define SPM_REPLACEMENT 0xFFFDu
#define SPM_SEPARATOR 0x2581u /* "▁" */

typedef struct piece {
    size_t off;         /* bytes in s->blob */
    uint32_t len;       /* bytes */
    uint32_t utf16_len; /* the length the reference steps back by */
    double score;
} piece;

typedef struct slot {
    uint64_t hash;
    size_t off; /* key bytes in s->blob */
    uint32_t len; /* 0: empty slot */
    int32_t id;   /* -1: a prefix of some piece, not a piece itself */
} slot;

struct spm {
    size_t npieces;
    piece *pieces;
    char *blob;
    size_t blob_len;
    slot *slots;
    size_t mask;         /* slots has mask + 1 entries, a power of two */
    uint32_t max_cps;    /* the longest piece, in code points */
};

/* ---- UTF-8 ---- */

/* Decodes one code point at p[0..n) the WHATWG way: on an invalid sequence returns U+FFFD
 * and consumes the maximal subpart (at least one byte). */
static uint32_t utf8_next(const unsigned char *p, size_t n, size_t *used)
{
    unsigned char b = p[0];
    if (b < 0x80) {
        *used = 1;
        return b;
    }
    size_t need;
    uint32_t cp;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        cp = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        cp = b & 0x0Fu;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        cp = b & 0x07u;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        *used = 1;
        return SPM_REPLACEMENT;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            *used = i; /* the lead byte and the valid continuation bytes so far */
            return SPM_REPLACEMENT;
        }
        cp = (cp << 6) | (p[i] & 0x3Fu);
        lo = 0x80;
        hi = 0xBF;
    }
    *used = i;
    return cp;
}

static size_t utf8_put(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Returns a malloc'ed copy of p[0..n) with invalid sequences replaced by U+FFFD, or NULL
 * with *out_n = 0 when the text is already valid (use it as it is). *oom on failure. */
static unsigned char *utf8_sanitize(const unsigned char *p, size_t n, size_t *out_n, int *oom)
{
    size_t i = 0, used;
    *out_n = 0;
    *oom = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp = utf8_next(p + i, n - i, &used);
        if (cp == SPM_REPLACEMENT && !(used == 3 && p[i] == 0xEF)) /* not a literal U+FFFD */
            break;
        i += used;
    }
    if (i == n)
        return NULL;
    /* Each invalid byte becomes at most 3 bytes. */
    if (n > (SIZE_MAX - 1) / 3) {
        *oom = 1;
        return NULL;
    }
    unsigned char *out = malloc(n * 3 + 1);
    if (out == NULL) {
        *oom = 1;
        return NULL;
    }
    memcpy(out, p, i);
    size_t o = i;
    while (i < n) {
        uint32_t cp = utf8_next(p + i, n - i, &used);
        i += used;
        o += utf8_put(cp, out + o);
    }
    *out_n = o;
    return out;
}

/* ---- the piece table ---- */

static uint64_t key_hash(const void *p, size_t n)
{
    return (uint64_t)XXH3_64bits(p, n);
}

/* The slot holding key p[0..n), or the empty slot where it would go. */
static slot *table_find(const spm *s, const void *p, size_t n, uint64_t h)
{
    size_t i = (size_t)h & s->mask;
    for (;;) {
        slot *e = &s->slots[i];
        if (e->len == 0)
            return e;
        if (e->hash == h && e->len == n && memcmp(s->blob + e->off, p, n) == 0)
            return e;
        i = (i + 1) & s->mask;
    }
}

static size_t count_cps(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)p[i] & 0xC0) != 0x80;
    return c;
}

static void fail_json(lore_err *err, const char *path, const char *what, size_t i)
{
    lore_errf(err, LORE_EINVAL, "%s: entry %zu of the vocabulary is not [piece, score]: %s", path,
              i, what);
}

/* Reads a whole file; LORE_ENOTFOUND / LORE_EIO / LORE_ENOMEM. */
static int read_file(const char *path, char **out, size_t *out_n, lore_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return lore_errf(err, LORE_ENOTFOUND,
                             "vocabulary %s not found (run tools/fetch-model.sh to fetch the "
                             "model)",
                             path);
        return lore_errf(err, LORE_EIO, "cannot open vocabulary %s: %s", path, strerror(errno));
    }
    size_t cap = 1 << 18, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        fclose(f);
        return lore_errf(err, LORE_ENOMEM, "out of memory reading %s", path);
    }
    for (;;) {
        if (n == cap) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return lore_errf(err, LORE_ENOMEM, "out of memory reading %s", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    int saved = errno;
    fclose(f);
    if (bad) {
        free(buf);
        return lore_errf(err, LORE_EIO, "cannot read vocabulary %s: %s", path, strerror(saved));
    }
    *out = buf;
    *out_n = n;
    return 0;
}

int spm_load(const char *vocab_json_path, spm **out, lore_err *err)
{
    *out = NULL;
    const char *path = vocab_json_path;
    char *text = NULL;
    size_t text_n = 0;
    int rc = read_file(path, &text, &text_n, err);
    if (rc != 0)
        return rc;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, text_n, &end, 0);
    if (root == NULL) {
        size_t at = end != NULL && end >= text ? (size_t)(end - text) : 0;
        free(text);
        return lore_errf(err, LORE_EINVAL, "%s: not valid JSON (near byte %zu)", path, at);
    }
    free(text);
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
        cJSON_Delete(root);
        return lore_errf(err, LORE_EINVAL, "%s: not a vocabulary (expected a non-empty array "
                                           "of [piece, score])", path);
    }

    spm *s = calloc(1, sizeof *s);
    if (s == NULL) {
        cJSON_Delete(root);
        return lore_errf(err, LORE_ENOMEM, "out of memory loading %s", path);
    }
    s->npieces = (size_t)cJSON_GetArraySize(root);
    s->pieces = calloc(s->npieces, sizeof *s->pieces);

    /* First pass: validate, sanitize each piece into the blob, record scores. */
    size_t blob_cap = 1 << 16;
    s->blob = malloc(blob_cap);
    if (s->pieces == NULL || s->blob == NULL)
        goto oom;
    size_t i = 0, nkeys = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, root)
    {
        const cJSON *pc = cJSON_IsArray(entry) ? cJSON_GetArrayItem(entry, 0) : NULL;
        const cJSON *sc = cJSON_IsArray(entry) ? cJSON_GetArrayItem(entry, 1) : NULL;
        if (pc == NULL || sc == NULL) {
            fail_json(err, path, "not an array of two items", i);
            goto fail;
        }
        if (!cJSON_IsString(pc)) {
            fail_json(err, path, "the piece is not a string", i);
            goto fail;
        }
        if (!cJSON_IsNumber(sc) && !cJSON_IsNull(sc)) {
            fail_json(err, path, "the score is not a number", i);
            goto fail;
        }
        const unsigned char *raw = (const unsigned char *)pc->valuestring;
        size_t raw_n = strlen(pc->valuestring);
        int oom = 0;
        size_t clean_n = 0;
        unsigned char *clean = utf8_sanitize(raw, raw_n, &clean_n, &oom);
        if (oom)
            goto oom;
        const unsigned char *bytes = clean != NULL ? clean : raw;
        size_t nbytes = clean != NULL ? clean_n : raw_n;
        if (nbytes > UINT32_MAX / 2) {
            free(clean);
            fail_json(err, path, "the piece is too long", i);
            goto fail;
        }
        while (s->blob_len + nbytes > blob_cap) {
            char *nb = realloc(s->blob, blob_cap * 2);
            if (nb == NULL) {
                free(clean);
                goto oom;
            }
            s->blob = nb;
            blob_cap *= 2;
        }
        memcpy(s->blob + s->blob_len, bytes, nbytes);
        free(clean);
        piece *p = &s->pieces[i];
        p->off = s->blob_len;
        p->len = (uint32_t)nbytes;
        s->blob_len += nbytes;
        size_t cps = count_cps(s->blob + p->off, nbytes);
        size_t u16 = cps;
        for (size_t k = 0; k < nbytes; k++)
            u16 += ((unsigned char)s->blob[p->off + k] >= 0xF0); /* a surrogate pair */
        p->utf16_len = (uint32_t)u16;
        p->score = cJSON_IsNull(sc) ? 0.0 : sc->valuedouble;
        if (i >= SPM_RESERVED) {
            nkeys += cps;
            if (cps > s->max_cps)
                s->max_cps = (uint32_t)cps;
        }
        i++;
    }
    cJSON_Delete(root);
    root = NULL;
    if (s->pieces[0].utf16_len == 0) {
        /* The reference steps back by the unknown piece's length and would never stop. */
        lore_errf(err, LORE_EINVAL, "%s: piece 0 (the unknown piece) is empty", path);
        goto fail;
    }

    /* Second pass: the table of pieces and their prefixes, load factor <= 1/2. */
    size_t nslots = 16;
    while (nslots < 2 * nkeys + 1)
        nslots *= 2;
    s->slots = calloc(nslots, sizeof *s->slots);
    if (s->slots == NULL)
        goto oom;
    s->mask = nslots - 1;
    for (size_t id = SPM_RESERVED; id < s->npieces; id++) {
        const piece *p = &s->pieces[id];
        const unsigned char *b = (const unsigned char *)s->blob + p->off;
        for (size_t k = 1; k <= p->len; k++) {
            if (k < p->len && (b[k] & 0xC0) == 0x80)
                continue; /* not a code point boundary */
            uint64_t h = key_hash(b, k);
            slot *e = table_find(s, b, k, h);
            if (e->len == 0) {
                e->hash = h;
                e->off = p->off;
                e->len = (uint32_t)k;
                e->id = -1;
            }
            if (k == p->len)
                e->id = (int32_t)id; /* a repeated piece: the last one wins */
        }
    }
    *out = s;
    return 0;

oom:
    cJSON_Delete(root);
    spm_free(s);
    return lore_errf(err, LORE_ENOMEM, "out of memory loading %s", path);
fail: /* err is filled */
    cJSON_Delete(root);
    spm_free(s);
    return LORE_EINVAL;
}

void spm_free(spm *s)
{
    if (s == NULL)
        return;
    free(s->pieces);
    free(s->blob);
    free(s->slots);
    free(s);
}

size_t spm_vocab_size(const spm *s)
{
    return s->npieces;
}

/* ---- encoding ---- */

#define NFKC_OPTS ((utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE))

/* The compatibility mappings Unicode added after utf8proc 2.8's Unicode 15.0 that a newer
 * ICU (Node 20.20 has Unicode 17) applies: outlined Latin capitals and digits (16.0) and
 * U+A7F1 MODIFIER LETTER CAPITAL S (17.0). Each maps to one ASCII character, a starter, so
 * swapping it in after decomposition gives what a full NFKC would. Checked code point by code
 * point against Node's String.prototype.normalize("NFKC"): with these, all agree. */
static utf8proc_int32_t nfkc_newer(utf8proc_int32_t c)
{
    if (c >= 0x1CCD6 && c <= 0x1CCEF)
        return 'A' + (c - 0x1CCD6);
    if (c >= 0x1CCF0 && c <= 0x1CCF9)
        return '0' + (c - 0x1CCF0);
    if (c == 0xA7F1)
        return 'S';
    return c;
}

/* NFKC of valid UTF-8 p[0..n) into a malloc'ed code point array (*out, *ncp). 0 or -1 on
 * allocation failure. Pure ASCII is its own NFKC and skips utf8proc. */
static int nfkc(const unsigned char *p, size_t n, utf8proc_int32_t **out, size_t *ncp)
{
    *out = NULL;
    *ncp = 0;
    int ascii = 1;
    for (size_t i = 0; i < n && ascii; i++)
        ascii = p[i] < 0x80;
    if (n > (size_t)PTRDIFF_MAX / sizeof(utf8proc_int32_t) / 2)
        return -1;
    size_t cap = n + 16;
    utf8proc_int32_t *buf = malloc(cap * sizeof *buf);
    if (buf == NULL)
        return -1;
    if (ascii) {
        for (size_t i = 0; i < n; i++)
            buf[i] = p[i];
        *out = buf;
        *ncp = n;
        return 0;
    }
    for (;;) {
        utf8proc_ssize_t got = utf8proc_decompose(p, (utf8proc_ssize_t)n, buf,
                                                  (utf8proc_ssize_t)cap, NFKC_OPTS);
        if (got < 0) {
            free(buf);
            return -1; /* cannot happen on valid UTF-8, except running out of memory */
        }
        if ((size_t)got <= cap) {
            for (utf8proc_ssize_t i = 0; i < got; i++)
                buf[i] = nfkc_newer(buf[i]);
            utf8proc_ssize_t m = utf8proc_normalize_utf32(buf, got, NFKC_OPTS);
            if (m < 0) {
                free(buf);
                return -1;
            }
            *out = buf;
            *ncp = (size_t)m;
            return 0;
        }
        cap = (size_t)got;
        utf8proc_int32_t *nb = realloc(buf, cap * sizeof *nb);
        if (nb == NULL) {
            free(buf);
            return -1;
        }
        buf = nb;
    }
}

/* The candidate rule of the reference: best 0 means unset; ties go to the later one. */
static inline void relax(double *best, int32_t *word, size_t e, double score, int32_t id)
{
    if (best[e] == 0.0 || score >= best[e]) {
        best[e] = score;
        word[e] = id;
    }
}

int spm_encode(const spm *s, const char *text, size_t n, int *ids, size_t max_ids, size_t *nids,
               lore_err *err)
{
    *nids = 0;
    if (n == 0)
        return 0;
    int oom = 0;
    size_t clean_n = 0;
    unsigned char *clean = utf8_sanitize((const unsigned char *)text, n, &clean_n, &oom);
    if (oom)
        return lore_errf(err, LORE_ENOMEM, "out of memory tokenizing %zu bytes", n);
    const unsigned char *in = clean != NULL ? clean : (const unsigned char *)text;
    size_t in_n = clean != NULL ? clean_n : n;

    utf8proc_int32_t *cps = NULL;
    size_t ncp = 0;
    int nrc = nfkc(in, in_n, &cps, &ncp);
    free(clean);
    if (nrc != 0)
        return lore_errf(err, LORE_ENOMEM, "out of memory tokenizing %zu bytes", n);
    if (ncp == 0) {
        free(cps);
        return 0;
    }

    /* The text the lattice runs over: "▁" + the text with each ' ' as "▁", as UTF-8, with
     * the byte offset of every code point. One block: bytes, offsets, best, word, path. */
    size_t len = ncp + 1;  /* code points */
    size_t nbest = len + 1; /* positions 0..len */
    size_t per = sizeof(double) + sizeof(size_t) + 2 * sizeof(int32_t) + 4;
    char *block = nbest <= SIZE_MAX / per ? malloc(nbest * per) : NULL;
    if (block == NULL) {
        free(cps);
        return lore_errf(err, LORE_ENOMEM, "out of memory tokenizing %zu bytes", n);
    }
    double *best = (double *)block;
    size_t *off = (size_t *)(best + nbest);
    int32_t *word = (int32_t *)(off + nbest);
    int32_t *path = word + nbest;
    unsigned char *bytes = (unsigned char *)(path + nbest);

    size_t nb = 0;
    off[0] = 0;
    nb += utf8_put(SPM_SEPARATOR, bytes);
    for (size_t i = 0; i < ncp; i++) {
        off[i + 1] = nb;
        uint32_t c = (uint32_t)cps[i];
        nb += utf8_put(c == 0x20 ? SPM_SEPARATOR : c, bytes + nb);
    }
    off[len] = nb;
    free(cps);

    for (size_t i = 0; i <= len; i++) {
        best[i] = 0.0;
        word[i] = 0;
    }
    for (size_t st = 0; st < len; st++) {
        int matched = 0;
        size_t limit = len - st < s->max_cps ? len - st : s->max_cps;
        for (size_t k = 1; k <= limit; k++) {
            const unsigned char *key = bytes + off[st];
            size_t klen = off[st + k] - off[st];
            const slot *e = table_find(s, key, klen, key_hash(key, klen));
            if (e->len == 0)
                break; /* no piece goes on like this */
            if (e->id >= 0) {
                relax(best, word, st + k, s->pieces[e->id].score + best[st], e->id);
                matched = 1;
            }
        }
        if (!matched)
            relax(best, word, st + 1, 0.0 + best[st], 0);
    }

    /* Backtrack, stepping by UTF-16 length as the reference does; collapse runs of 0. */
    size_t np = 0;
    size_t pos = len;
    int prev_unk = 0;
    while (pos > 0) {
        int32_t id = word[pos];
        if (!(prev_unk && id == 0))
            path[np++] = id;
        prev_unk = id == 0;
        size_t step = s->pieces[id].utf16_len;
        pos = step >= pos ? 0 : pos - step;
    }
    for (size_t k = 0; k < np && k < max_ids; k++)
        ids[k] = path[np - 1 - k];
    *nids = np;
    free(block);
    return 0;
}
