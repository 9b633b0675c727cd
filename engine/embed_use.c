/* embed_use: the "use" embedder kind, the Universal Sentence Encoder lite run in-process
 * (use.h), lore's default.
 *
 * Spec: "use" or "use:DIR". DIR holds model.json, its weight shards and vocab.json. Without
 * DIR, use_default_dir (use.h): $LORE_USE_MODEL_DIR, else the models/use-lite that
 * tools/fetch-model.sh made, found from any working directory. A missing model is reported
 * with the file's path and the fetch command.
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
 * text without a newline has no title: its windows are plain slices. At most
 * EMBED_MAX_WINDOWS windows are kept (the first ones). embed_use_windows returns one vector
 * per window: the indexer stores them all and search scores a chunk as its best window (its
 * highest cosine), so a passage deep in a long chunk is found as well as its head.
 * embed_use_texts returns one vector per text: for a long text the L2-normalised mean of its
 * (unit) window vectors, which keeps every window's topic; for a query (one window) it is the
 * window's vector.
 *
 * Empty or whitespace-only texts have nothing to embed and get the all-zero vector (embed.h).
 *
 * Batching: the windows of many texts go to use_embed_ids together, which stacks their tokens
 * (no padding, so no grouping by length is needed) in passes of a few hundred tokens. A batch
 * of more than MIN_SHARE_TOKENS tokens is split into equal-token shares run on one thread per
 * core (embed_parallel); a query runs on the calling thread.
 *
 * Sharing: embedders that open the same model directory while its model.json and vocab.json
 * are the same files (device, inode, size, mtime) share one loaded model, freed with the last
 * of them; a re-fetched model is loaded afresh.
 *
 * Threads: the model is read-only, so embed_use_texts may run from many threads at once;
 * opening and closing embedders is thread-safe. */
#include "embed_impl.h"
#include "filesig.h"
#include "blas.h"
#include "use.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 2: one stored vector per window (was the windows' mean). */
#define USE_EMBED_VERSION 2
#define TITLE_MAX_TOKENS 48
/* Texts per call of use_embed_ids: bounds the window bookkeeping of one call. */
#define GROUP_TEXTS 256
/* Threads a batch is spread over (one per core, at most this), and the fewest tokens worth
 * a thread of their own (smaller batches, a query, run on the calling thread). */
#define MAX_THREADS 8
#define MIN_SHARE_TOKENS 512

/* A loaded model, shared by every "use" embedder of the process that opens the same model
 * files: a server opens a collection once per worker and again at each reload, and each
 * load cost a quarter second of CPU and about 30 MB of re-laid weights. The model is
 * immutable after use_load (use.h), so sharing needs no lock beyond the registry's. */
typedef struct shared_model {
    char *dir;
    filesig sig[2]; /* model.json and vocab.json when loaded: a re-fetch changes them */
    use_model *model;
    size_t refs;
    struct shared_model *next;
} shared_model;

static pthread_mutex_t models_mu = PTHREAD_MUTEX_INITIALIZER;
static shared_model *models;

struct embed_use {
    use_model *model; /* borrowed from shared */
    shared_model *shared;
    use_qwork *qwork; /* the query path's scratch: an embedder is one thread's at a time */
};

/* The files' identities; 0 when both exist (otherwise use_load reports what is missing). */
static int model_sig(const char *dir, filesig sig[2])
{
    static const char *const names[2] = {"model.json", "vocab.json"};
    char path[PATH_MAX];
    for (int i = 0; i < 2; i++) {
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path)
            return -1;
        filesig_read(path, &sig[i]);
        if (!sig[i].exists)
            return -1;
    }
    return 0;
}

/* The shared model of dir, loaded when no embedder holds it yet (or its files changed). */
static int acquire_model(const char *dir, shared_model **out, lore_err *err)
{
    filesig sig[2];
    int have_sig = model_sig(dir, sig) == 0;
    pthread_mutex_lock(&models_mu);
    for (shared_model *m = models; have_sig && m != NULL; m = m->next) {
        if (strcmp(m->dir, dir) == 0 && filesig_equal(&m->sig[0], &sig[0]) &&
            filesig_equal(&m->sig[1], &sig[1])) {
            m->refs++;
            pthread_mutex_unlock(&models_mu);
            *out = m;
            return 0;
        }
    }
    pthread_mutex_unlock(&models_mu);
    /* Loaded outside the lock: other embedders keep opening meanwhile. Two threads may load
     * the same model at once; each then keeps its own, which is only memory. */
    shared_model *m = calloc(1, sizeof *m);
    if (m == NULL || (m->dir = strdup(dir)) == NULL) {
        free(m);
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder \"use\"");
    }
    int rc = use_load(dir, &m->model, err);
    if (rc != 0) {
        free(m->dir);
        free(m);
        return rc;
    }
    if (have_sig)
        memcpy(m->sig, sig, sizeof m->sig);
    m->refs = 1;
    pthread_mutex_lock(&models_mu);
    if (have_sig) { /* without a signature it is never found again: private */
        m->next = models;
        models = m;
    }
    pthread_mutex_unlock(&models_mu);
    *out = m;
    return 0;
}

size_t embed_use_loaded_models(void)
{
    size_t n = 0;
    pthread_mutex_lock(&models_mu);
    for (shared_model *m = models; m != NULL; m = m->next)
        n++;
    pthread_mutex_unlock(&models_mu);
    return n;
}

static void release_model(shared_model *m)
{
    pthread_mutex_lock(&models_mu);
    int last = --m->refs == 0;
    if (last)
        for (shared_model **p = &models; *p != NULL; p = &(*p)->next)
            if (*p == m) {
                *p = m->next;
                break;
            }
    pthread_mutex_unlock(&models_mu);
    if (last) {
        use_free(m->model);
        free(m->dir);
        free(m);
    }
}

int embed_use_open(embedder *e, const char *dir, lore_err *err)
{
    char *d = (dir != NULL && dir[0] != '\0') ? strdup(dir) : use_default_dir();
    if (d == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder \"use\"");
    embed_use *u = calloc(1, sizeof *u);
    if (u == NULL) {
        free(d);
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder \"use\"");
    }
    int rc = acquire_model(d, &u->shared, err);
    if (rc != 0) {
        if (dir == NULL || dir[0] == '\0')
            lore_err_wrap(err, "embedder \"use\" (set LORE_USE_MODEL_DIR or use \"use:DIR\" for "
                          "a model elsewhere)");
        free(d);
        free(u);
        return rc;
    }
    free(d);
    u->model = u->shared->model;
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
    /* Batches are spread over threads of our own (embed_parallel), each running its sgemms
     * on the calling thread: OpenBLAS's own threads would oversubscribe the cores. */
    blas_set_threads(1);
    return 0;
}

void embed_use_close(embed_use *u)
{
    if (u == NULL)
        return;
    release_model(u->shared);
    use_qwork_free(u->qwork);
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

    /* The fewest windows of at most `room` body tokens, of near-equal sizes; past
     * EMBED_MAX_WINDOWS the rest of the text is dropped (embed.h). */
    size_t room = USE_MAX_TOKENS - tlen;
    size_t nwin = (bn + room - 1) / room;
    if (nwin == 0)
        nwin = 1;
    size_t size = (bn + nwin - 1) / nwin;
    if (nwin > EMBED_MAX_WINDOWS)
        nwin = EMBED_MAX_WINDOWS;
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

typedef struct share {
    const use_model *m;
    const int *const *ids;
    const size_t *lens;
    size_t n;
    float *out;
    int rc;
    lore_err err;
} share;

static void *share_run(void *arg)
{
    share *s = arg;
    s->rc = use_embed_ids(s->m, s->ids, s->lens, s->n, s->out, &s->err);
    return NULL;
}

/* use_embed_ids over n windows, cut into contiguous shares of about equal token counts run
 * on up to one thread per core (the calling thread takes the last share). OpenBLAS runs on
 * 1 thread meanwhile (see embed_use_open): measured on 2 shared cores, 2 such threads embed
 * 2.1x faster than 1, while 1 thread whose sgemms OpenBLAS spreads over 2 is slower than 1
 * thread alone as soon as other processes use the cores. */
static int embed_parallel(const use_model *m, const int *const *ids, const size_t *lens,
                          size_t n, float *out, lore_err *err)
{
    size_t tokens = 0;
    for (size_t i = 0; i < n; i++)
        tokens += lens[i] < USE_MAX_TOKENS ? lens[i] : USE_MAX_TOKENS;
    if (tokens < 2 * MIN_SHARE_TOKENS || n < 2) /* a query: no threads, no core count */
        return use_embed_ids(m, ids, lens, n, out, err);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cores > 1 ? (size_t)cores : 1;
    if (nt > MAX_THREADS)
        nt = MAX_THREADS;
    if (nt > tokens / MIN_SHARE_TOKENS)
        nt = tokens / MIN_SHARE_TOKENS;
    if (nt > n)
        nt = n;
    if (nt <= 1)
        return use_embed_ids(m, ids, lens, n, out, err);
    share sh[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    size_t from = 0, acc = 0;
    for (size_t t = 0; t < nt; t++) {
        size_t to = from;
        size_t goal = tokens * (t + 1) / nt;
        while (to < n && (acc < goal || to == from)) {
            acc += lens[to] < USE_MAX_TOKENS ? lens[to] : USE_MAX_TOKENS;
            to++;
        }
        if (t + 1 == nt)
            to = n;
        sh[t] = (share){m, ids + from, lens + from, to - from, out + from * USE_DIM, 0, {0}};
        from = to;
    }
    for (size_t t = 0; t + 1 < nt; t++)
        started[t] = pthread_create(&th[t], NULL, share_run, &sh[t]) == 0;
    share_run(&sh[nt - 1]);
    for (size_t t = 0; t + 1 < nt; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            share_run(&sh[t]); /* no thread to be had: this one does the share */
    }
    for (size_t t = 0; t < nt; t++)
        if (sh[t].rc != 0) {
            if (err != NULL)
                *err = sh[t].err;
            return sh[t].rc;
        }
    return 0;
}

/* Embeds texts[0..n) (n <= GROUP_TEXTS). With wout NULL, out gets one vector per text, the
 * normalised mean of its windows. Otherwise *wout is set to a new buffer (caller frees) of
 * the windows' vectors, text by text, and nwin[i] to text i's count (a blank text has one
 * zero window); out is unused then. */
static int embed_group(const use_model *m, const char *const *texts, size_t n, float *out,
                       float **wout, size_t *nwin, lore_err *err)
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
    if (wout == NULL)
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
        rc = embed_parallel(m, ids, lens, wins.n, wv, err);
    }
    if (rc == 0 && wout != NULL) {
        /* Windows come text by text (text_windows runs in order); blank texts have none. */
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
            nwin[i] = 0;
        for (size_t w = 0; w < wins.n; w++)
            nwin[wins.v[w].text]++;
        for (size_t i = 0; i < n; i++)
            total += nwin[i] ? nwin[i] : 1;
        float *o = calloc(total * USE_DIM, sizeof *o);
        if (o == NULL) {
            rc = lore_errf(err, LORE_ENOMEM, "use: out of memory embedding %zu texts", n);
        } else {
            size_t at = 0, w = 0;
            for (size_t i = 0; i < n; i++) {
                if (nwin[i] == 0) {
                    nwin[i] = 1;
                    at++;
                    continue;
                }
                memcpy(o + at * USE_DIM, wv + w * USE_DIM, nwin[i] * USE_DIM * sizeof(float));
                at += nwin[i];
                w += nwin[i];
            }
            *wout = o;
        }
    } else if (rc == 0) {
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
        int rc = embed_group(m, texts + i, k, out + i * USE_DIM, NULL, NULL, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int embed_use_query(embedder *e, const char *text, float *out, lore_err *err)
{
    const use_model *m = e->use->model;
    int ids[USE_MAX_TOKENS];
    size_t total = 0;
    /* A blank text gets the zero vector and a long one the mean of its windows (embed.h):
     * embed_use_texts knows both. A query fits one window. */
    if (blank(text))
        return embed_use_texts(e, &text, 1, out, err);
    int rc = spm_encode(use_tokenizer(m), text, strlen(text), ids, USE_MAX_TOKENS, &total, err);
    if (rc != 0)
        return rc;
    if (total > USE_MAX_TOKENS)
        return embed_use_texts(e, &text, 1, out, err);
    if (e->use->qwork == NULL && (e->use->qwork = use_qwork_new()) == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory embedding a query");
    return use_embed_query_ids(m, e->use->qwork, ids, total, out, err);
}

int embed_use_queries(embedder *e, const char *const *texts, size_t n, float *out,
                      lore_err *err)
{
    const use_model *m = e->use->model;
    size_t dim = USE_DIM;
    int *ids = malloc(n * USE_MAX_TOKENS * sizeof *ids);
    const int **seq = malloc(n * sizeof *seq);
    size_t *lens = malloc(n * sizeof *lens);
    float *vecs = malloc(n * dim * sizeof *vecs);
    size_t *slot = malloc(n * sizeof *slot); /* which text each tokenized query is */
    int rc = ids && seq && lens && vecs && slot ? 0 : LORE_ENOMEM;
    if (rc == 0 && e->use->qwork == NULL && (e->use->qwork = use_qwork_new()) == NULL)
        rc = LORE_ENOMEM;
    if (rc != 0)
        rc = lore_errf(err, LORE_ENOMEM, "out of memory embedding %zu queries", n);
    size_t k = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t total = 0;
        int *q = ids + k * USE_MAX_TOKENS;
        /* Blank and long texts take embed_use_query's other roads. */
        if (blank(texts[i]) ||
            (rc = spm_encode(use_tokenizer(m), texts[i], strlen(texts[i]), q, USE_MAX_TOKENS,
                             &total, err)) != 0 ||
            total > USE_MAX_TOKENS) {
            if (rc == 0)
                rc = embed_use_query(e, texts[i], out + i * dim, err);
            continue;
        }
        seq[k] = q;
        lens[k] = total;
        slot[k++] = i;
    }
    if (rc == 0 && k > 0 &&
        (rc = use_embed_queries_ids(m, e->use->qwork, seq, lens, k, vecs, err)) == 0) {
        for (size_t j = 0; j < k; j++)
            memcpy(out + slot[j] * dim, vecs + j * dim, dim * sizeof *out);
    }
    free(ids);
    free(seq);
    free(lens);
    free(vecs);
    free(slot);
    return rc;
}

int embed_use_windows(embedder *e, const char *const *texts, size_t n, float **vecs,
                      size_t *nwin, lore_err *err)
{
    const use_model *m = e->use->model;
    float *all = NULL;
    size_t have = 0; /* windows in `all` */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i += GROUP_TEXTS) {
        size_t k = n - i < GROUP_TEXTS ? n - i : GROUP_TEXTS;
        float *g = NULL;
        if ((rc = embed_group(m, texts + i, k, NULL, &g, nwin + i, err)) != 0)
            break;
        size_t gw = 0;
        for (size_t j = 0; j < k; j++)
            gw += nwin[i + j];
        if (all == NULL) {
            all = g;
        } else {
            float *grown = realloc(all, (have + gw) * USE_DIM * sizeof *grown);
            if (grown == NULL) {
                free(g);
                rc = lore_errf(err, LORE_ENOMEM, "use: out of memory embedding %zu texts", n);
                break;
            }
            all = grown;
            memcpy(all + have * USE_DIM, g, gw * USE_DIM * sizeof *all);
            free(g);
        }
        have += gw;
    }
    if (rc != 0) {
        free(all);
        memset(nwin, 0, n * sizeof *nwin);
        return rc;
    }
    *vecs = all;
    return 0;
}
