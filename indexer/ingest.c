#include "ingest.h"

#include "parse.h"
#include "sbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* A set of strings (article ids, file paths) by open addressing over xxh3 hashes. */
typedef struct strset {
    char **slot;
    size_t cap, n;
} strset;

static int strset_grow(strset *s)
{
    size_t cap = s->cap ? s->cap * 2 : 256;
    char **slot = calloc(cap, sizeof *slot);
    if (slot == NULL)
        return LORE_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slot[i] == NULL)
            continue;
        size_t h = (size_t)XXH3_64bits(s->slot[i], strlen(s->slot[i])) & (cap - 1);
        while (slot[h])
            h = (h + 1) & (cap - 1);
        slot[h] = s->slot[i];
    }
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return 0;
}

/* 1 when present; with add, inserts it (0 returned then). <0 on allocation failure. */
static int strset_has(strset *s, const char *key, int add)
{
    if (add && (s->n + 1) * 2 > s->cap && strset_grow(s) != 0)
        return -1;
    if (s->cap == 0)
        return 0;
    size_t h = (size_t)XXH3_64bits(key, strlen(key)) & (s->cap - 1);
    while (s->slot[h]) {
        if (strcmp(s->slot[h], key) == 0)
            return 1;
        h = (h + 1) & (s->cap - 1);
    }
    if (!add)
        return 0;
    if ((s->slot[h] = strdup(key)) == NULL)
        return -1;
    s->n++;
    return 0;
}

static void strset_free(strset *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slot[i]);
    free(s->slot);
    memset(s, 0, sizeof *s);
}

/* An article waiting in the current batch, with what the diff decided for it. */
typedef struct pending {
    article a;
    chunk *chunks;
    size_t nchunks;
    uint64_t *fps;
    uint64_t fp;
    int64_t old_id; /* 0 when new */
    char *old_locale;
    float **vecs; /* per chunk: nwin[j] * dim floats (its windows), filled before writing */
    size_t *nwin;
} pending;

typedef struct ingest_ctx {
    coll *c;
    const ingest_options *o;
    ingest_stats *st;
    lore_err *err;
    char chunker_id[64];
    strset seen;     /* article ids produced this run */
    strset problems; /* files that reported a problem this run */
    strset dirs;     /* "device:inode" of the directories walked, so symlink loops end */
    pending *batch;
    size_t nbatch;
    int clear_vectors; /* the embedder changed: drop old vectors in the first transaction */
    int dim;           /* vector dimension, 0 while unknown (see known_dim) */
    int wrote;
    char *default_locale; /* the collection's (meta "locale"); NULL when unset */
    const char *cur_file; /* real path of the file being parsed */
    double t0, last_progress;
} ingest_ctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ingest_options_default(ingest_options *o)
{
    memset(o, 0, sizeof *o);
    o->chunk = (chunk_options)CHUNK_OPTIONS_DEFAULT;
    o->batch = 256;
    o->progress_secs = 2.0;
}

static void pending_free(pending *p)
{
    article_free(&p->a);
    chunk_free_all(p->chunks, p->nchunks);
    free(p->fps);
    free(p->old_locale);
    for (size_t j = 0; p->vecs && j < p->nchunks; j++)
        free(p->vecs[j]);
    free(p->vecs);
    free(p->nwin);
    memset(p, 0, sizeof *p);
}

static void progress(ingest_ctx *x, int force)
{
    if (x->o->progress == NULL)
        return;
    double t = now_s();
    if (!force && t - x->last_progress < x->o->progress_secs)
        return;
    x->last_progress = t;
    fprintf(x->o->progress,
            "lore index: %zu files, %zu articles (%zu added, %zu changed, %zu unchanged), "
            "%zu chunks embedded, %.1fs\n",
            x->st->files, x->st->articles, x->st->added, x->st->changed, x->st->unchanged,
            x->st->chunks_embedded, t - x->t0);
    fflush(x->o->progress);
}

static uint64_t chunk_fingerprint(const chunk *ch, const char *chunker, const char *embedder)
{
    XXH3_state_t *h = XXH3_createState();
    uint64_t fp = 0;
    if (h == NULL)
        return 0;
    /* NUL separators keep ("ab", "c") and ("a", "bc") apart. */
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, ch->heading_path, strlen(ch->heading_path) + 1);
    XXH3_64bits_update(h, ch->text, strlen(ch->text) + 1);
    XXH3_64bits_update(h, chunker, strlen(chunker) + 1);
    XXH3_64bits_update(h, embedder, strlen(embedder) + 1);
    fp = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return fp;
}

static void hash_field(XXH3_state_t *h, const char *s)
{
    if (s)
        XXH3_64bits_update(h, s, strlen(s) + 1);
    else
        XXH3_64bits_update(h, "\x01", 1); /* NULL differs from "" */
}

static int article_fingerprint(pending *p, uint64_t *out)
{
    XXH3_state_t *h = XXH3_createState();
    if (h == NULL)
        return LORE_ENOMEM;
    XXH3_64bits_reset(h);
    if (p->nchunks)
        XXH3_64bits_update(h, p->fps, p->nchunks * sizeof *p->fps);
    hash_field(h, p->a.title);
    hash_field(h, p->a.url);
    hash_field(h, p->a.locale);
    hash_field(h, p->a.updated_at);
    hash_field(h, p->a.source);
    *out = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return 0;
}

/* Chunks and fingerprints one article and compares it with the store. Returns 0 and sets
 * *keep to 1 when the article must be written. */
static int diff_article(ingest_ctx *x, pending *p, int *keep)
{
    embedder *e = coll_embedder(x->c);
    lore_err *err = x->err;
    *keep = 0;
    int rc = chunk_article(&p->a, &x->o->chunk, &p->chunks, &p->nchunks, err);
    if (rc != 0)
        return lore_err_wrap(err, "%s:%d: article %s", p->a.source, p->a.line, p->a.id);
    p->fps = calloc(p->nchunks ? p->nchunks : 1, sizeof *p->fps);
    if (p->fps == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory chunking %s", p->a.id);
    for (size_t i = 0; i < p->nchunks; i++)
        p->fps[i] = chunk_fingerprint(&p->chunks[i], x->chunker_id, embed_id(e));
    if ((rc = article_fingerprint(p, &p->fp)) != 0)
        return lore_errf(err, rc, "out of memory fingerprinting %s", p->a.id);
    uint64_t old_fp = 0;
    rc = store_article_find(coll_store(x->c), p->a.id, &p->old_id, &old_fp, &p->old_locale, err);
    if (rc == LORE_ENOTFOUND) {
        p->old_id = 0;
        x->st->added++;
        *keep = 1;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (old_fp == p->fp && !x->clear_vectors) {
        x->st->unchanged++;
        return 0;
    }
    x->st->changed++;
    *keep = 1;
    return 0;
}

/* The text a chunk is embedded as: its heading path gives the passage its context. */
static char *embed_text(const chunk *ch)
{
    sbuf b = SBUF_INIT;
    if (sbuf_adds(&b, ch->heading_path) != 0 || sbuf_adds(&b, "\n\n") != 0 ||
        sbuf_adds(&b, ch->text) != 0) {
        sbuf_free(&b);
        return NULL;
    }
    return sbuf_detach(&b);
}

/* Makes p->vecs and p->nwin (all empty). */
static int pending_vec_slots(pending *p)
{
    if (p->vecs != NULL)
        return 0;
    p->vecs = calloc(p->nchunks, sizeof *p->vecs);
    p->nwin = calloc(p->nchunks, sizeof *p->nwin);
    return p->vecs && p->nwin ? 0 : LORE_ENOMEM;
}

/* Fills p->vecs for every pending article, every window of every chunk: stored vectors are
 * reused by fingerprint, the rest are embedded in one call. */
static int embed_batch(ingest_ctx *x, pending *ps, size_t n)
{
    embedder *e = coll_embedder(x->c);
    if (embed_dim(e) == 0 && strcmp(embed_id(e), "none") == 0)
        return 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += ps[i].nchunks;
    if (total == 0)
        return 0;
    char **texts = calloc(total, sizeof *texts);
    size_t *owner = calloc(total, sizeof *owner); /* (article << 32 | chunk) of each text */
    int rc = 0;
    size_t ntexts = 0;
    float *tmp = NULL;
    size_t *nwin = calloc(total, sizeof *nwin);
    if (texts == NULL || owner == NULL || nwin == NULL) {
        rc = lore_errf(x->err, LORE_ENOMEM, "out of memory embedding");
        goto done;
    }
    int dim = x->dim;
    for (size_t i = 0; i < n; i++) {
        pending *p = &ps[i];
        if (p->nchunks == 0)
            continue;
        if (pending_vec_slots(p) != 0) {
            rc = lore_errf(x->err, LORE_ENOMEM, "out of memory embedding");
            goto done;
        }
        for (size_t j = 0; j < p->nchunks; j++) {
            if (dim > 0 && !x->clear_vectors) {
                rc = store_vectors_by_fingerprint(coll_store(x->c), p->fps[j], dim,
                                                  &p->vecs[j], &p->nwin[j], x->err);
                if (rc == 0) {
                    x->st->chunks_reused++;
                    continue;
                }
                if (rc != LORE_ENOTFOUND)
                    goto done;
                rc = 0;
            }
            if ((texts[ntexts] = embed_text(&p->chunks[j])) == NULL) {
                rc = lore_errf(x->err, LORE_ENOMEM, "out of memory embedding");
                goto done;
            }
            owner[ntexts++] = (i << 32) | j;
        }
    }
    if (ntexts == 0)
        goto done;
    if ((rc = embed_texts_windows(e, (const char *const *)texts, ntexts, &tmp, nwin,
                                  x->err)) != 0)
        goto done;
    if (tmp == NULL)
        goto done; /* a remote embedder given only empty texts: nothing to store */
    if (dim != 0 && dim != embed_dim(e)) {
        rc = lore_errf(x->err, LORE_EINDEX, "embedder %s changed dimension from %d to %d",
                       embed_id(e), dim, embed_dim(e));
        goto done;
    }
    dim = x->dim = embed_dim(e);
    size_t at = 0; /* windows of the texts before t */
    for (size_t t = 0; t < ntexts; t++) {
        pending *p = &ps[owner[t] >> 32];
        size_t j = owner[t] & 0xffffffffu;
        size_t bytes = nwin[t] * (size_t)dim * sizeof(float);
        if ((p->vecs[j] = malloc(bytes)) == NULL) {
            rc = lore_errf(x->err, LORE_ENOMEM, "out of memory embedding");
            goto done;
        }
        memcpy(p->vecs[j], tmp + at * (size_t)dim, bytes);
        p->nwin[j] = nwin[t];
        at += nwin[t];
    }
    x->st->chunks_embedded += ntexts;
done:
    for (size_t t = 0; texts && t < ntexts; t++)
        free(texts[t]);
    free(texts);
    free(owner);
    free(nwin);
    free(tmp);
    return rc;
}

typedef struct id_list {
    int64_t *ids;
    size_t n;
} id_list;

/* Writes the batch in one transaction, then applies it to the vector index. */
static int write_batch(ingest_ctx *x, pending *ps, size_t n)
{
    store *s = coll_store(x->c);
    embedder *e = coll_embedder(x->c);
    int dim = x->dim;
    id_list removed = {NULL, 0};
    int64_t *new_ids = NULL;
    float *new_vecs = NULL;
    size_t nnew = 0, total = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; ps[i].vecs && j < ps[i].nchunks; j++)
            total += ps[i].vecs[j] ? ps[i].nwin[j] : 0;
    if (total && ((new_ids = malloc(total * sizeof *new_ids)) == NULL ||
                  (new_vecs = malloc(total * (size_t)dim * sizeof(float))) == NULL)) {
        free(new_ids);
        return lore_errf(x->err, LORE_ENOMEM, "out of memory writing a batch");
    }
    int rc = store_begin(s, x->err);
    if (rc != 0)
        goto done;
    if (x->clear_vectors) {
        if ((rc = store_vectors_clear(s, x->err)) != 0 ||
            (rc = store_meta_set(s, "vectors_embedder", embed_id(e), x->err)) != 0)
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        pending *p = &ps[i];
        if (p->old_id) {
            /* FTS5 must re-tokenize the old text exactly as it was indexed to remove it. */
            if ((rc = store_set_locale(s, p->old_locale, x->err)) != 0 ||
                (rc = store_article_clear_chunks(s, p->old_id, &removed.ids, &removed.n,
                                                 x->err)) != 0)
                goto fail;
        }
        if ((rc = store_set_locale(s, p->a.locale, x->err)) != 0)
            goto fail;
        store_article row = {p->a.id, p->a.title, p->a.url, p->a.locale, p->a.updated_at,
                             p->a.source, p->fp};
        int64_t aid;
        if ((rc = store_article_put(s, &row, &aid, x->err)) != 0)
            goto fail;
        for (size_t j = 0; j < p->nchunks; j++) {
            const float *v = p->vecs ? p->vecs[j] : NULL;
            size_t k = v ? p->nwin[j] : 0;
            int64_t cid;
            rc = store_chunk_put_windows(s, aid, (int)j, p->chunks[j].heading_path,
                                         p->chunks[j].text, p->fps[j], v, k, dim, &cid, x->err);
            if (rc == 0 && v)
                rc = coll_window_ids(cid, k, new_ids + nnew, x->err);
            if (rc != 0) {
                lore_err_wrap(x->err, "%s: article %s", p->a.source, p->a.id);
                goto fail;
            }
            if (v) {
                memcpy(new_vecs + nnew * (size_t)dim, v, k * (size_t)dim * sizeof(float));
                nnew += k;
            }
        }
    }
    if ((rc = store_bump_generation(s, NULL, x->err)) != 0 || (rc = store_commit(s, x->err)) != 0)
        goto fail;
    x->wrote = 1;
    if (x->clear_vectors) {
        coll_reset_vindex(x->c);
        x->clear_vectors = 0;
    }
    if ((rc = coll_remove_chunks(x->c, removed.ids, removed.n, x->err)) != 0)
        goto done;
    if (nnew && ((rc = coll_ensure_vindex(x->c, dim, x->err)) != 0 ||
                 (rc = vindex_add(coll_vindex(x->c), new_ids, new_vecs, nnew, x->err)) != 0))
        goto done;
    goto done;
fail:
    store_rollback(s);
done:
    free(removed.ids);
    free(new_ids);
    free(new_vecs);
    return rc;
}

static int flush_batch(ingest_ctx *x)
{
    pending *keep = x->batch;
    size_t nkeep = 0;
    int rc = 0;
    for (size_t i = 0; i < x->nbatch; i++) {
        int k = 0;
        if (rc == 0)
            rc = diff_article(x, &x->batch[i], &k);
        if (k && rc == 0) {
            if (nkeep != i) {
                keep[nkeep] = x->batch[i];
                memset(&x->batch[i], 0, sizeof x->batch[i]);
            }
            nkeep++;
        } else {
            pending_free(&x->batch[i]);
        }
    }
    if (rc == 0 && nkeep && !x->o->dry_run) {
        rc = embed_batch(x, keep, nkeep);
        if (rc == 0)
            rc = write_batch(x, keep, nkeep);
    }
    for (size_t i = 0; i < nkeep; i++)
        pending_free(&keep[i]);
    x->nbatch = 0;
    progress(x, 0);
    return rc;
}

static int on_article(void *ctx, article *a)
{
    ingest_ctx *x = ctx;
    int dup = strset_has(&x->seen, a->id, 1);
    if (dup < 0) {
        article_free(a);
        return lore_errf(x->err, LORE_ENOMEM, "out of memory");
    }
    if (dup) {
        if (x->o->warnings)
            fprintf(x->o->warnings, "%s:%d: duplicate article id '%s': keeping the first one\n",
                    a->source, a->line, a->id);
        x->st->problems++;
        article_free(a);
        return 0;
    }
    x->st->articles++;
    /* An article without a locale is indexed in the collection's, the one the searcher
     * analyses questions with; storing it makes the row's locale the one its FTS terms were
     * made with, so later deletes re-tokenize exactly, even if the default changes. */
    if (a->locale == NULL && x->default_locale &&
        (a->locale = strdup(x->default_locale)) == NULL) {
        article_free(a);
        return lore_errf(x->err, LORE_ENOMEM, "out of memory");
    }
    /* Store sources as real paths so deletion scopes compare like with like. */
    free(a->source);
    if ((a->source = strdup(x->cur_file)) == NULL) {
        article_free(a);
        return lore_errf(x->err, LORE_ENOMEM, "out of memory");
    }
    x->batch[x->nbatch++].a = *a;
    memset(a, 0, sizeof *a);
    if (x->nbatch == x->o->batch)
        return flush_batch(x);
    return 0;
}

static void on_warning(void *ctx, const char *path, int line, const char *msg)
{
    ingest_ctx *x = ctx;
    x->st->problems++;
    /* Outside a file (a file that vanished before realpath) the path itself is recorded. */
    if (strset_has(&x->problems, x->cur_file ? x->cur_file : path, 1) < 0 && x->o->warnings)
        fprintf(x->o->warnings, "lore: out of memory recording a problem\n");
    if (x->o->warnings) {
        if (line > 0)
            fprintf(x->o->warnings, "%s:%d: %s\n", path, line, msg);
        else
            fprintf(x->o->warnings, "%s: %s\n", path, msg);
    }
}

static int ingest_file(ingest_ctx *x, const char *path, const char *rel)
{
    char real[PATH_MAX];
    if (realpath(path, real) == NULL) {
        on_warning(x, path, 0, strerror(errno));
        return 0;
    }
    x->cur_file = real;
    x->st->files++;
    parse_callbacks cb = {on_article, on_warning, x};
    int rc = parse_file(path, rel, &cb, x->err);
    x->cur_file = NULL;
    return rc;
}

static int is_hidden(const struct dirent *d) { return d->d_name[0] != '.'; }

/* Walks a directory in name order (so runs are reproducible), skipping hidden entries. */
static int ingest_dir(ingest_ctx *x, const char *dir, const char *rel)
{
    /* A directory reached again (through a symlink loop such as `ln -s . self`) is not
     * walked again: every loop would otherwise multiply the walk until PATH_MAX, and two
     * loops make it exponential. Its files were seen the first time. */
    struct stat ds;
    if (stat(dir, &ds) == 0) {
        char key[64];
        snprintf(key, sizeof key, "%ju:%ju", (uintmax_t)ds.st_dev, (uintmax_t)ds.st_ino);
        int again = strset_has(&x->dirs, key, 1);
        if (again < 0)
            return lore_errf(x->err, LORE_ENOMEM, "out of memory walking %s", dir);
        if (again)
            return 0;
    }
    struct dirent **names;
    int n = scandir(dir, &names, is_hidden, alphasort);
    if (n < 0) {
        /* Not a warning: a directory taken as empty would have its articles deleted by the
         * sweep (the same rule as parse_file's LORE_EIO for unreadable files). */
        return lore_errf(x->err, LORE_EIO, "cannot list directory %s: %s", dir,
                         strerror(errno));
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX], sub[PATH_MAX];
        int np = snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        int ns = snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", names[i]->d_name);
        struct stat sb;
        if (rc != 0 || np >= (int)sizeof path || ns >= (int)sizeof sub || stat(path, &sb) != 0) {
            free(names[i]);
            continue;
        }
        if (S_ISDIR(sb.st_mode))
            rc = ingest_dir(x, path, sub);
        else if (S_ISREG(sb.st_mode) && parse_supported(path))
            rc = ingest_file(x, path, sub);
        free(names[i]);
    }
    free(names);
    return rc;
}

typedef struct doomed {
    int64_t id;
    char *ext_id;
} doomed;

typedef struct sweep_ctx {
    ingest_ctx *x;
    const char *exact; /* a file root: only this source */
    doomed *items;
    size_t n, cap;
} sweep_ctx;

static int collect_doomed(void *ctx, int64_t id, const char *ext_id, const char *source)
{
    sweep_ctx *w = ctx;
    if (w->exact && strcmp(source, w->exact) != 0)
        return 0;
    if (strset_has(&w->x->seen, ext_id, 0) || strset_has(&w->x->problems, source, 0))
        return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        doomed *p = realloc(w->items, cap * sizeof *p);
        if (p == NULL)
            return LORE_ENOMEM;
        w->items = p;
        w->cap = cap;
    }
    if ((w->items[w->n].ext_id = strdup(ext_id)) == NULL)
        return LORE_ENOMEM;
    w->items[w->n++].id = id;
    return 0;
}

static int delete_doomed(ingest_ctx *x, doomed *items, size_t n)
{
    store *s = coll_store(x->c);
    id_list removed = {NULL, 0};
    int rc = store_begin(s, x->err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int64_t id;
        uint64_t fp;
        char *locale = NULL;
        rc = store_article_find(s, items[i].ext_id, &id, &fp, &locale, x->err);
        if (rc == 0)
            rc = store_set_locale(s, locale, x->err);
        if (rc == 0)
            rc = store_article_delete(s, items[i].id, &removed.ids, &removed.n, x->err);
        free(locale);
    }
    if (rc == 0)
        rc = store_bump_generation(s, NULL, x->err);
    if (rc == 0)
        rc = store_commit(s, x->err);
    if (rc != 0) {
        store_rollback(s);
    } else {
        x->wrote = 1;
        rc = coll_remove_chunks(x->c, removed.ids, removed.n, x->err);
    }
    free(removed.ids);
    return rc;
}

/* Deletes articles that came from under a root but were not produced this run. */
static int sweep(ingest_ctx *x, const char *root)
{
    char real[PATH_MAX], prefix[PATH_MAX];
    struct stat sb;
    if (realpath(root, real) == NULL || stat(real, &sb) != 0)
        return 0; /* reported when walking */
    sweep_ctx w = {x, NULL, NULL, 0, 0};
    if (S_ISDIR(sb.st_mode)) {
        if (snprintf(prefix, sizeof prefix, "%s/", real) >= (int)sizeof prefix)
            return 0;
    } else {
        memcpy(prefix, real, strlen(real) + 1);
        w.exact = real;
    }
    int rc = store_articles_each(coll_store(x->c), prefix, collect_doomed, &w, x->err);
    if (rc == LORE_ENOMEM)
        lore_errf(x->err, rc, "out of memory listing deleted articles");
    if (rc == 0 && w.n) {
        x->st->deleted += w.n;
        if (!x->o->dry_run)
            rc = delete_doomed(x, w.items, w.n);
    }
    for (size_t i = 0; i < w.n; i++)
        free(w.items[i].ext_id);
    free(w.items);
    return rc;
}

/* Writes a meta value only when it differs: an unchanged re-index must not touch the file. */
static int meta_update(coll *c, const char *key, const char *value, lore_err *err)
{
    char *have = NULL;
    int rc = store_meta_get(coll_store(c), key, &have, NULL);
    int same = rc == 0 && strcmp(have, value) == 0;
    free(have);
    return same ? 0 : store_meta_set(coll_store(c), key, value, err);
}

static int check_embedder(ingest_ctx *x)
{
    char *recorded = NULL;
    int rc = store_meta_get(coll_store(x->c), "vectors_embedder", &recorded, x->err);
    const char *id = embed_id(coll_embedder(x->c));
    if (rc == LORE_ENOTFOUND) {
        /* A new collection: record which embedder its vectors come from. */
        lore_err_clear(x->err);
        return x->o->dry_run ? 0 : store_meta_set(coll_store(x->c), "vectors_embedder", id, x->err);
    }
    if (rc != 0)
        return rc;
    x->clear_vectors = strcmp(recorded, id) != 0;
    free(recorded);
    return 0;
}

/* The vector dimension before anything is embedded in this process. A remote embedder
 * learns its own only from its first reply, so without the stored vectors' dimension a new
 * process could not look up (reuse) any stored vector and would re-embed every chunk of a
 * changed article, and a batch whose chunks were all reused would be written without vectors.
 * The loaded vector index holds the stored vectors, which are this embedder's unless it
 * changed (then nothing is reused and the first reply sets the dimension). */
static void known_dim(ingest_ctx *x)
{
    x->dim = embed_dim(coll_embedder(x->c));
    if (x->dim == 0 && !x->clear_vectors && coll_vindex(x->c) != NULL)
        x->dim = vindex_dim(coll_vindex(x->c));
}

/* Takes the collection's writer lock, <dir>/index.lock, without waiting: two indexers
 * interleaving their batches would each sweep away what the other just added. flock is
 * released by the kernel when the process dies, so a kill -9 never leaves it stuck. */
static int lock_collection(coll *c, int *fd_out, lore_err *err)
{
    char path[PATH_MAX];
    const char *dir = store_dir(coll_store(c));
    if ((size_t)snprintf(path, sizeof path, "%s/index.lock", dir) >= sizeof path)
        return lore_errf(err, LORE_EINVAL, "collection path too long: %s", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return lore_errf(err, LORE_EIO, "cannot open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return lore_errf(err, LORE_EBUSY,
                             "collection %s is being indexed by another lore index run", dir);
        return lore_errf(err, LORE_EIO, "cannot lock %s: %s", path, strerror(e));
    }
    *fd_out = fd;
    return 0;
}

int ingest_run(coll *c, const ingest_options *o, ingest_stats *st, lore_err *err)
{
    ingest_options defaults;
    if (o == NULL) {
        ingest_options_default(&defaults);
        o = &defaults;
    }
    memset(st, 0, sizeof *st);
    ingest_ctx x = {0};
    x.c = c;
    x.o = o;
    x.st = st;
    x.err = err;
    x.t0 = x.last_progress = now_s();
    chunk_options_id(&o->chunk, x.chunker_id, sizeof x.chunker_id);
    size_t batch = o->batch ? o->batch : 256;
    ingest_options local = *o;
    local.batch = batch;
    x.o = &local;
    int lock_fd = -1;
    if (!o->dry_run) {
        int lrc = lock_collection(c, &lock_fd, err);
        if (lrc != 0)
            return lrc;
    }
    if ((x.batch = calloc(batch, sizeof *x.batch)) == NULL) {
        if (lock_fd >= 0)
            close(lock_fd);
        return lore_errf(err, LORE_ENOMEM, "out of memory starting the index run");
    }
    int rc = check_embedder(&x);
    if (rc == 0)
        known_dim(&x);
    if (rc == 0) {
        rc = store_meta_get(coll_store(c), "locale", &x.default_locale, err);
        if (rc == LORE_ENOTFOUND) {
            lore_err_clear(err);
            rc = 0;
        }
    }
    if (rc == 0 && !o->dry_run)
        rc = meta_update(c, "chunker", x.chunker_id, err);
    for (size_t i = 0; rc == 0 && i < o->npaths; i++) {
        struct stat sb;
        const char *p = o->paths[i];
        if (stat(p, &sb) != 0) {
            rc = lore_errf(err, LORE_ENOTFOUND, "cannot read %s: %s", p, strerror(errno));
            break;
        }
        if (S_ISDIR(sb.st_mode)) {
            rc = ingest_dir(&x, p, "");
        } else {
            const char *base = strrchr(p, '/');
            rc = ingest_file(&x, p, base ? base + 1 : p);
        }
    }
    if (rc == 0 && x.nbatch)
        rc = flush_batch(&x);
    for (size_t i = 0; rc == 0 && i < o->npaths; i++)
        rc = sweep(&x, o->paths[i]);
    /* Publish whatever was committed, even after a failure, so the FAISS file matches. */
    if (x.wrote || (!o->dry_run && rc == 0 && coll_vindex_rebuilt(c))) {
        lore_err perr = {0};
        int prc = coll_publish(c, &perr);
        if (rc == 0 && prc != 0) {
            rc = prc;
            *err = perr;
        }
    }
    for (size_t i = 0; i < x.nbatch; i++)
        pending_free(&x.batch[i]);
    free(x.batch);
    strset_free(&x.seen);
    strset_free(&x.problems);
    strset_free(&x.dirs);
    free(x.default_locale);
    if (lock_fd >= 0)
        close(lock_fd); /* releases the lock */
    st->seconds = now_s() - x.t0;
    return rc;
}
