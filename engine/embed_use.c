/* embed_use: the "use" embedder kind, the Universal Sentence Encoder lite run in-process
 * (use.h), lore's default.
 *
 * Spec: "use" or "use:DIR". DIR holds model.json, its weight shards and vocab.json. Without
 * DIR: $LORE_USE_MODEL_DIR when set, else models/use-lite under the working directory, else
 * models/use-lite next to the directory of the running program (a build directory inside the
 * source tree finds the model that tools/fetch-model.sh put there).
 *
 * Identity: "use:lite-V-HASH", V this file's version of the computation (bumped whenever a
 * change alters vectors) and HASH the model's fingerprint (weights and vocabulary), so the
 * same model under another path keeps the index, and another model or a changed computation
 * re-embeds it.
 *
 * Texts: a text is tokenized whole. Up to USE_MAX_TOKENS tokens, its vector is the
 * reference's vector of the text. Longer texts (the model would read only their head) are cut
 * into windows: lore's ingest passes "heading path\n\nchunk text", so the first line is the
 * title and the rest the body; the body's tokens are split into the fewest windows of at most
 * USE_MAX_TOKENS - (title tokens) tokens, of near-equal sizes, and each window is embedded as
 * the title's tokens followed by the window's tokens (title capped at TITLE_MAX_TOKENS). A
 * text without a newline has no title: its windows are plain slices. The "a chunk
 * scores as its best window" needs one vector per window, but the store keeps one vector per
 * chunk; so the chunk's vector is the L2-normalised mean of its (unit) window vectors, which
 * keeps every window's topic in the chunk's vector. Measured alternatives belong to the
 * integrator (lore eval).
 *
 * Empty or whitespace-only texts have nothing to embed and get the all-zero vector (embed.h).
 *
 * Batching: the windows of many texts go to use_embed_ids together, which stacks their tokens
 * (no padding, so no grouping by length is needed) in passes of a few hundred tokens. */
#include "embed_impl.h"
#include "use.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USE_EMBED_VERSION 1
#define TITLE_MAX_TOKENS 48
/* Texts per call of use_embed_ids: bounds the window bookkeeping of one call. */
#define GROUP_TEXTS 256

struct embed_use {
    use_model *model;
};

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The default model directory (see the file comment); heap, caller frees. */
static char *default_dir(void)
{
    const char *env = getenv("LORE_USE_MODEL_DIR");
    if (env != NULL && env[0] != '\0')
        return strdup(env);
    if (is_dir("models/use-lite"))
        return strdup("models/use-lite");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            char cand[PATH_MAX + 32];
            snprintf(cand, sizeof cand, "%s/../models/use-lite", exe);
            if (is_dir(cand))
                return strdup(cand);
        }
    }
    return strdup("models/use-lite");
}

int embed_use_open(embedder *e, const char *dir, lore_err *err)
{
    char *d = (dir != NULL && dir[0] != '\0') ? strdup(dir) : default_dir();
    if (d == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder \"use\"");
    embed_use *u = calloc(1, sizeof *u);
    if (u == NULL) {
        free(d);
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder \"use\"");
    }
    int rc = use_load(d, &u->model, err);
    if (rc != 0) {
        if (dir == NULL || dir[0] == '\0')
            lore_err_wrap(err, "embedder \"use\" (set LORE_USE_MODEL_DIR or use \"use:DIR\" for "
                          "a model elsewhere)");
        free(d);
        free(u);
        return rc;
    }
    free(d);
    char id[64];
    snprintf(id, sizeof id, "use:lite-%d-%016" PRIx64, USE_EMBED_VERSION,
             use_fingerprint(u->model));
    e->id = strdup(id);
    if (e->id == NULL) {
        embed_use_close(u);
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder \"use\"");
    }
    e->use = u;
    e->dim = USE_DIM;
    return 0;
}

void embed_use_close(embed_use *u)
{
    if (u == NULL)
        return;
    use_free(u->model);
    free(u);
}

/* Growable int array. */
typedef struct ivec {
    int *v;
    size_t n, cap;
} ivec;

static int ivec_reserve(ivec *a, size_t need)
{
    if (need <= a->cap)
        return 0;
    size_t cap = a->cap ? a->cap : 256;
    while (cap < need)
        cap *= 2;
    int *v = realloc(a->v, cap * sizeof *v);
    if (v == NULL)
        return LORE_ENOMEM;
    a->v = v;
    a->cap = cap;
    return 0;
}

/* Appends the ids of text[0..len) to a (all of them). */
static int encode_append(const spm *tok, const char *text, size_t len, ivec *a, size_t *count,
                         lore_err *err)
{
    size_t room = a->cap - a->n, total = 0;
    int rc = spm_encode(tok, text, len, a->v + a->n, room, &total, err);
    if (rc != 0)
        return rc;
    if (total > room) {
        if (ivec_reserve(a, a->n + total) != 0)
            return lore_errf(err, LORE_ENOMEM, "use: out of memory tokenizing");
        rc = spm_encode(tok, text, len, a->v + a->n, total, &total, err);
        if (rc != 0)
            return rc;
    }
    a->n += total;
    *count = total;
    return 0;
}

/* One window: ids[off .. off+len) of the group's id pool, for text `text`. */
typedef struct window {
    size_t off, len;
    size_t text;
} window;

typedef struct wvec {
    window *v;
    size_t n, cap;
} wvec;

static int wvec_push(wvec *a, window w)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        window *v = realloc(a->v, cap * sizeof *v);
        if (v == NULL)
            return LORE_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = w;
    return 0;
}

static int blank_n(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != '\f' &&
            s[i] != '\v')
            return 0;
    return 1;
}

static int blank(const char *s)
{
    return blank_n(s, strlen(s));
}

/* Appends the ids of text[0..len) to the pool; *count = their number. */
static int encode_to(const spm *tok, const char *text, size_t len, ivec *pool, size_t *count,
                     lore_err *err)
{
    if (ivec_reserve(pool, pool->n + USE_MAX_TOKENS) != 0)
        return lore_errf(err, LORE_ENOMEM, "use: out of memory tokenizing");
    return encode_append(tok, text, len, pool, count, err);
}

/* Tokenizes text t (index ti) into windows appended to pool and wins. */
static int text_windows(const spm *tok, const char *t, size_t ti, ivec *pool, wvec *wins,
                        lore_err *err)
{
    size_t len = strlen(t);
    if (blank_n(t, len))
        return 0; /* nothing to embed: the zero vector */
    size_t start = pool->n, n = 0;
    int rc = encode_to(tok, t, len, pool, &n, err);
    if (rc != 0)
        return rc;
    if (n <= USE_MAX_TOKENS)
        return wvec_push(wins, (window){start, n, ti}) ? LORE_ENOMEM : 0;

    /* Long. Title: the first line, when it and the rest both hold something. */
    pool->n = start;
    const char *nl = memchr(t, '\n', len);
    size_t tlen = 0, bn = 0, bstart;
    if (nl != NULL && !blank_n(t, (size_t)(nl - t)) && !blank(nl + 1)) {
        const char *body = nl + 1;
        while (*body == '\n' || *body == '\r' || *body == ' ' || *body == '\t')
            body++;
        rc = encode_to(tok, t, (size_t)(nl - t), pool, &tlen, err);
        if (rc != 0)
            return rc;
        if (tlen > TITLE_MAX_TOKENS) {
            pool->n = start + TITLE_MAX_TOKENS;
            tlen = TITLE_MAX_TOKENS;
        }
        bstart = pool->n;
        rc = encode_to(tok, body, strlen(body), pool, &bn, err);
    } else {
        bstart = pool->n;
        rc = encode_to(tok, t, len, pool, &bn, err);
    }
    if (rc != 0)
        return rc;

    /* The fewest windows of at most `room` body tokens, of near-equal sizes. */
    size_t room = USE_MAX_TOKENS - tlen;
    size_t nwin = (bn + room - 1) / room;
    if (nwin == 0)
        nwin = 1;
    size_t size = (bn + nwin - 1) / nwin;
    /* Each window is written after the body as title ids then its slice, contiguous. */
    if (ivec_reserve(pool, pool->n + nwin * (tlen + size)) != 0)
        return lore_errf(err, LORE_ENOMEM, "use: out of memory tokenizing");
    for (size_t w = 0; w < nwin; w++) {
        size_t from = w * size, to = from + size < bn ? from + size : bn;
        if (to <= from && w > 0)
            break;
        size_t off = pool->n;
        memcpy(pool->v + pool->n, pool->v + start, tlen * sizeof(int));
        pool->n += tlen;
        memcpy(pool->v + pool->n, pool->v + bstart + from, (to - from) * sizeof(int));
        pool->n += to - from;
        if (wvec_push(wins, (window){off, tlen + to - from, ti}) != 0)
            return LORE_ENOMEM;
    }
    return 0;
}

/* Embeds texts[0..n) (n <= GROUP_TEXTS) into out. */
static int embed_group(const use_model *m, const char *const *texts, size_t n, float *out,
                       lore_err *err)
{
    ivec pool = {NULL, 0, 0};
    wvec wins = {NULL, 0, 0};
    const int **ids = NULL;
    size_t *lens = NULL;
    float *wv = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = text_windows(use_tokenizer(m), texts[i], i, &pool, &wins, err);
        if (rc == LORE_ENOMEM && err != NULL && err->code != LORE_ENOMEM)
            rc = lore_errf(err, LORE_ENOMEM, "use: out of memory tokenizing");
    }
    memset(out, 0, n * USE_DIM * sizeof(float));
    if (rc == 0 && wins.n > 0) {
        ids = malloc(wins.n * sizeof *ids);
        lens = malloc(wins.n * sizeof *lens);
        wv = malloc(wins.n * USE_DIM * sizeof *wv);
        if (ids == NULL || lens == NULL || wv == NULL)
            rc = lore_errf(err, LORE_ENOMEM, "use: out of memory embedding %zu texts", n);
    }
    if (rc == 0 && wins.n > 0) {
        for (size_t w = 0; w < wins.n; w++) {
            ids[w] = pool.v + wins.v[w].off;
            lens[w] = wins.v[w].len;
        }
        rc = use_embed_ids(m, ids, lens, wins.n, wv, err);
    }
    if (rc == 0) {
        /* Sum each text's window vectors, then normalise (a single window stays as is). */
        for (size_t w = 0; w < wins.n; w++) {
            float *o = out + wins.v[w].text * USE_DIM;
            const float *v = wv + w * USE_DIM;
            for (int j = 0; j < USE_DIM; j++)
                o[j] += v[j];
        }
        for (size_t i = 0; i < n; i++)
            embed_l2_normalize(out + i * USE_DIM, USE_DIM);
    }
    free(pool.v);
    free(wins.v);
    free(ids);
    free(lens);
    free(wv);
    return rc;
}

int embed_use_texts(embedder *e, const char *const *texts, size_t n, float *out, lore_err *err)
{
    const use_model *m = e->use->model;
    for (size_t i = 0; i < n; i += GROUP_TEXTS) {
        size_t k = n - i < GROUP_TEXTS ? n - i : GROUP_TEXTS;
        int rc = embed_group(m, texts + i, k, out + i * USE_DIM, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}
