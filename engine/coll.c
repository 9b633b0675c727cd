#include "coll.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct coll {
    store *st;
    vindex *vi;
    embedder *emb;
    char faiss_path[PATH_MAX];
    int rebuilt;
};

int coll_name_valid(const char *name, lore_err *err)
{
    size_t n = name ? strlen(name) : 0;
    int ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = name[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '_' || ch == '-';
    }
    if (!ok)
        return lore_errf(err, LORE_EINVAL,
                         "bad collection name '%s': use 1 to 64 letters, digits, '_' or '-'",
                         name ? name : "");
    return 0;
}

int coll_data_root(const char *flag, char *buf, size_t buflen, lore_err *err)
{
    const char *env = getenv("LORE_DATA");
    const char *home = getenv("HOME");
    int n;
    if (flag && *flag)
        n = snprintf(buf, buflen, "%s", flag);
    else if (env && *env)
        n = snprintf(buf, buflen, "%s", env);
    else if (home && *home)
        n = snprintf(buf, buflen, "%s/.local/share/lore", home);
    else
        return lore_errf(err, LORE_EINVAL, "no data directory: pass --data DIR or set LORE_DATA");
    if (n < 0 || (size_t)n >= buflen)
        return lore_errf(err, LORE_EINVAL, "data directory path too long");
    return 0;
}

int coll_dir(const char *root, const char *name, char *buf, size_t buflen, lore_err *err)
{
    int rc = coll_name_valid(name, err);
    if (rc != 0)
        return rc;
    int n = snprintf(buf, buflen, "%s/%s", root, name);
    if (n < 0 || (size_t)n >= buflen)
        return lore_errf(err, LORE_EINVAL, "collection path too long: %s/%s", root, name);
    return 0;
}

int coll_window_ids(int64_t chunk_id, size_t nwin, int64_t *ids, lore_err *err)
{
    if (chunk_id < 0 || chunk_id > COLL_CHUNK_ID_MASK)
        return lore_errf(err, LORE_EINVAL, "chunk id %lld is out of the vector index's range "
                         "(0..%lld)", (long long)chunk_id, (long long)COLL_CHUNK_ID_MASK);
    if (nwin == 0 || nwin > EMBED_MAX_WINDOWS)
        return lore_errf(err, LORE_EINVAL, "chunk %lld has %zu vectors; expected 1 to %d",
                         (long long)chunk_id, nwin, EMBED_MAX_WINDOWS);
    for (size_t w = 0; w < nwin; w++)
        ids[w] = coll_window_id(chunk_id, w);
    return 0;
}

int coll_remove_chunks(coll *c, const int64_t *chunk_ids, size_t n, lore_err *err)
{
    if (c->vi == NULL || n == 0)
        return 0;
    /* The window counts are gone with the rows; absent ids cost FAISS nothing. */
    int64_t *ids = malloc(n * EMBED_MAX_WINDOWS * sizeof *ids);
    if (ids == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory removing %zu chunks' vectors", n);
    for (size_t i = 0; i < n; i++)
        for (size_t w = 0; w < EMBED_MAX_WINDOWS; w++)
            ids[i * EMBED_MAX_WINDOWS + w] = coll_window_id(chunk_ids[i], w);
    int rc = vindex_remove(c->vi, ids, n * EMBED_MAX_WINDOWS, NULL, err);
    free(ids);
    return rc;
}

typedef struct rebuild_ctx {
    vindex *vi;
    lore_err *err;
    const char *dir;
} rebuild_ctx;

static int add_vectors(void *ctx, int64_t chunk_id, const float *vecs, size_t nwin, int dim)
{
    rebuild_ctx *r = ctx;
    int64_t ids[EMBED_MAX_WINDOWS];
    if (dim != vindex_dim(r->vi))
        return lore_errf(r->err, LORE_EINDEX, "%s: stored vectors disagree on dimension "
                         "(expected %d, chunk %lld has %d)", r->dir, vindex_dim(r->vi),
                         (long long)chunk_id, dim);
    int rc = coll_window_ids(chunk_id, nwin, ids, r->err);
    if (rc != 0) {
        lore_err_wrap(r->err, "%s", r->dir);
        return rc;
    }
    return vindex_add(r->vi, ids, vecs, nwin, r->err);
}

/* Rebuilds the index from SQLite, which holds every vector. */
static int rebuild_vindex(coll *c, int dim, lore_err *err)
{
    vindex *vi;
    int rc = vindex_new(dim, &vi, err);
    if (rc != 0)
        return rc;
    rebuild_ctx r = {vi, err, store_dir(c->st)};
    rc = store_vectors_each(c->st, add_vectors, &r, err);
    if (rc != 0) {
        vindex_free(vi);
        return rc;
    }
    vindex_free(c->vi);
    c->vi = vi;
    c->rebuilt = 1;
    return 0;
}

static int load_vindex(coll *c, int writable, lore_err *err)
{
    /* One read transaction, so the counts, the generation and a rebuild all see the same
     * snapshot: an indexer may commit batches meanwhile, and a rebuilt index must be saved
     * with the generation its vectors come from, not a later one (which would pass for
     * current while missing that later batch's changes). */
    sqlite3 *db = store_db(c->st);
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return lore_errf(err, LORE_EDB, "%s/lore.db: %s", store_dir(c->st), sqlite3_errmsg(db));
    store_stats stats;
    int rc = store_stats_get(c->st, &stats, err);
    if (rc != 0 || stats.embed_dim == 0)
        goto done; /* nothing embedded yet: the index is created on first use */
    uint64_t file_gen = 0;
    vindex *vi = NULL;
    lore_err lerr = {0};
    rc = vindex_load(c->faiss_path, &vi, &file_gen, &lerr);
    if (rc == 0 && file_gen == stats.generation && vindex_dim(vi) == stats.embed_dim &&
        (int64_t)vindex_count(vi) == stats.vectors) {
        c->vi = vi;
        goto done;
    }
    vindex_free(vi);
    if (rc != 0 && rc != LORE_ENOTFOUND)
        fprintf(stderr, "lore: %s; rebuilding it from the database\n", lerr.msg);
    if ((rc = rebuild_vindex(c, stats.embed_dim, err)) != 0)
        goto done;
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    /* Saving is an optimisation for the next open; a read-only user may lack the right. */
    lore_err serr = {0};
    if (vindex_save(c->vi, c->faiss_path, stats.generation, &serr) != 0 && writable)
        fprintf(stderr, "lore: %s\n", serr.msg);
    return 0;
done:
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

static int setup_embedder(coll *c, const coll_open_options *o, lore_err *err)
{
    char *recorded = NULL;
    int rc = store_meta_get(c->st, "embedder", &recorded, NULL);
    if (rc != 0 && rc != LORE_ENOTFOUND)
        return lore_errf(err, rc, "%s: cannot read the collection's embedder",
                         store_dir(c->st));
    const char *spec = recorded;
    int record = 0;
    if (o->embedder && (recorded == NULL || (o->switch_embedder && strcmp(recorded, o->embedder)))) {
        spec = o->embedder;
        record = 1;
    } else if (spec == NULL) {
        spec = COLL_DEFAULT_EMBEDDER;
        record = 1;
    }
    rc = embed_open(spec, o->embed, &c->emb, err);
    /* coll_open's LORE_ENOTFOUND means "no such collection"; a file the embedder lacks (the
     * model) is a read failure of an existing collection's set-up, and must not read as one. */
    if (rc == LORE_ENOTFOUND) {
        rc = LORE_EIO;
        if (err != NULL)
            err->code = LORE_EIO;
    }
    if (rc == 0 && record && !(o->flags & STORE_READONLY))
        rc = store_meta_set(c->st, "embedder", spec, err);
    free(recorded);
    return rc;
}

int coll_open(const char *dir, const coll_open_options *opts, coll **out, lore_err *err)
{
    static const coll_open_options defaults = {STORE_READONLY, NULL, 0, NULL, 1};
    const coll_open_options *o = opts ? opts : &defaults;
    *out = NULL;
    coll *c = calloc(1, sizeof *c);
    if (c == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory opening %s", dir);
    int rc;
    if (snprintf(c->faiss_path, sizeof c->faiss_path, "%s/vectors.faiss", dir) >=
        (int)sizeof c->faiss_path) {
        rc = lore_errf(err, LORE_EINVAL, "collection path too long: %s", dir);
        goto fail;
    }
    if ((rc = store_open(dir, o->flags, &c->st, err)) != 0)
        goto fail;
    if ((rc = setup_embedder(c, o, err)) != 0)
        goto fail;
    if (o->load_vectors && embed_dim(c->emb) >= 0 &&
        (rc = load_vindex(c, !(o->flags & STORE_READONLY), err)) != 0)
        goto fail;
    *out = c;
    return 0;
fail:
    coll_close(c);
    return rc;
}

void coll_close(coll *c)
{
    if (c == NULL)
        return;
    vindex_free(c->vi);
    embed_close(c->emb);
    store_close(c->st);
    free(c);
}

store *coll_store(coll *c) { return c->st; }
vindex *coll_vindex(coll *c) { return c->vi; }
embedder *coll_embedder(coll *c) { return c->emb; }
const char *coll_vindex_path(const coll *c) { return c->faiss_path; }
int coll_vindex_rebuilt(const coll *c) { return c->rebuilt; }

int coll_ensure_vindex(coll *c, int dim, lore_err *err)
{
    if (c->vi && vindex_dim(c->vi) == dim)
        return 0;
    vindex_free(c->vi);
    c->vi = NULL;
    return vindex_new(dim, &c->vi, err);
}

void coll_reset_vindex(coll *c)
{
    vindex_free(c->vi);
    c->vi = NULL;
}

int coll_publish(coll *c, lore_err *err)
{
    uint64_t gen;
    int rc = store_generation(c->st, &gen, err);
    if (rc != 0)
        return rc;
    if (c->vi == NULL) {
        /* No vectors: a stale file from an earlier embedder must not be taken as current. */
        if (remove(c->faiss_path) != 0 && errno != ENOENT)
            return lore_errf(err, LORE_EIO, "cannot remove %s: %s", c->faiss_path,
                             strerror(errno));
        return 0;
    }
    return vindex_save(c->vi, c->faiss_path, gen, err);
}
