/* vindex: the vector index, FAISS through its C API (see vindex.h for the contract).
 *
 * File layout (all integers in host byte order, as FAISS's own payload is):
 *
 *   offset 0   "LOREVIX1"            magic
 *   offset 8   uint64 generation     the store's index generation
 *   offset 16  int32 dim
 *   offset 20  faiss_write_index()   IndexIDMap2 over IndexFlatIP
 *
 * FAISS's reader trusts the vector lengths it finds in the file and allocates them before
 * reading (up to 2^40 elements), so a flipped bit in a length field would have it allocate
 * and zero terabytes, or abort under ASan, long before a short read could throw. vindex_load
 * therefore checks the FAISS payload's structure against the file size before handing the
 * file to FAISS; see check_payload. vindex_save checks that FAISS wrote exactly that
 * structure, so a FAISS upgrade that changes it fails at save time, loudly, instead of
 * producing files every load rejects. */
#include "vindex.h"

#include "blas.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cblas.h>
#include <math.h>
#include <omp.h>

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_io_c.h>
#include <faiss/c_api/utils/distances_c.h>

#define VIX_MAGIC "LOREVIX1"
#define VIX_MAGIC_LEN 8
#define VIX_HEADER_LEN 20
/* Far above any embedder's width, low enough that dim * sizeof(float) * n is checked
 * with room to spare, and a cheap filter for garbage headers. */
#define VIX_MAX_DIM 65536

/* FAISS 1.7.x serialisation of IndexIDMap2(IndexFlatIP), offsets from the payload start.
 * Each index starts with a fourcc and write_index_header's fields: int32 d, int64 ntotal,
 * two int64 placeholders, a one-byte is_trained and an int32 metric type (no metric_arg
 * for inner product). The flat index then writes the count of 4-byte words of its codes
 * (n * d) and the codes; the id map writes its length (n) and the int64 ids. */
enum {
    PL_MAP_FOURCC = 0,
    PL_MAP_D = 4,
    PL_MAP_NTOTAL = 8,
    PL_MAP_TRAINED = 32,
    PL_MAP_METRIC = 33,
    PL_FLAT_FOURCC = 37,
    PL_FLAT_D = 41,
    PL_FLAT_NTOTAL = 45,
    PL_FLAT_TRAINED = 69,
    PL_FLAT_METRIC = 70,
    PL_FLAT_NWORDS = 74,
    PL_FLAT_CODES = 82,
    /* After the codes: uint64 id count, then the ids. */
    PL_IDS_PREFIX = 8
};

struct vindex {
    FaissIndex *index; /* an IndexIDMap2 owning its IndexFlatIP */
    int dim;
};

/* Set once a query-serving program asks for single-threaded searches. OpenMP's thread
 * count is a per-thread setting (libgomp copies the process default into each new thread,
 * and omp_set_num_threads changes only the caller's copy), so one call in main would not
 * reach the server's worker threads: each searching thread applies it itself. */
static atomic_bool query_threads_single;

static const char *faiss_msg(void)
{
    const char *m = faiss_get_last_error();
    return m != NULL ? m : "unknown faiss error";
}

/* Bytes of the FAISS payload for n vectors of dimension dim, or -1 if it would not fit
 * in an off_t (only a corrupt count gets there). */
static int64_t payload_size(int64_t n, int dim)
{
    const int64_t per_vec = (int64_t)dim * (int64_t)sizeof(float) + (int64_t)sizeof(int64_t);
    const int64_t fixed = PL_FLAT_CODES + PL_IDS_PREFIX;
    if (n < 0 || n > (INT64_MAX - fixed - VIX_HEADER_LEN) / per_vec) {
        return -1;
    }
    return fixed + n * per_vec;
}

int vindex_new(int dim, vindex **out, lore_err *err)
{
    assert(out != NULL);
    *out = NULL;
    if (dim < 1 || dim > VIX_MAX_DIM) {
        return lore_errf(err, LORE_EINVAL, "vector dimension %d is outside 1..%d", dim,
                         VIX_MAX_DIM);
    }
    vindex *vi = calloc(1, sizeof *vi);
    if (vi == NULL) {
        return lore_errf(err, LORE_ENOMEM, "allocating a vector index of dimension %d", dim);
    }
    FaissIndexFlatIP *flat = NULL;
    if (faiss_IndexFlatIP_new_with(&flat, dim) != 0) {
        free(vi);
        return lore_errf(err, LORE_EINDEX, "creating a flat index of dimension %d: %s", dim,
                         faiss_msg());
    }
    FaissIndexIDMap2 *map = NULL;
    if (faiss_IndexIDMap2_new(&map, flat) != 0) {
        faiss_Index_free(flat);
        free(vi);
        return lore_errf(err, LORE_EINDEX, "creating an id map of dimension %d: %s", dim,
                         faiss_msg());
    }
    /* From here the map frees the flat index: one faiss_Index_free releases both. */
    faiss_IndexIDMap2_set_own_fields(map, 1);
    vi->index = map;
    vi->dim = dim;
    *out = vi;
    return 0;
}

void vindex_free(vindex *vi)
{
    if (vi == NULL) {
        return;
    }
    faiss_Index_free(vi->index);
    free(vi);
}

int vindex_dim(const vindex *vi)
{
    assert(vi != NULL);
    return vi->dim;
}

size_t vindex_count(const vindex *vi)
{
    assert(vi != NULL);
    idx_t n = faiss_Index_ntotal(vi->index);
    assert(n >= 0);
    return (size_t)n;
}

int vindex_add(vindex *vi, const int64_t *ids, const float *vecs, size_t n, lore_err *err)
{
    assert(vi != NULL);
    if (n == 0) {
        return 0;
    }
    if (ids == NULL || vecs == NULL) {
        return lore_errf(err, LORE_EINVAL, "adding %zu vectors: ids or vectors missing", n);
    }
    if (n > (size_t)INT64_MAX / (size_t)vi->dim) {
        return lore_errf(err, LORE_EINVAL, "adding %zu vectors: too many", n);
    }
    /* FAISS reports empty result slots as id -1, so a negative id could never be told
     * apart from "no result". */
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0) {
            return lore_errf(err, LORE_EINVAL, "adding vector id %lld: ids must not be negative",
                             (long long)ids[i]);
        }
    }
    if (faiss_Index_add_with_ids(vi->index, (idx_t)n, vecs, ids) != 0) {
        return lore_errf(err, LORE_EINDEX, "adding %zu vectors: %s", n, faiss_msg());
    }
    return 0;
}

int vindex_remove(vindex *vi, const int64_t *ids, size_t n, size_t *nremoved, lore_err *err)
{
    assert(vi != NULL);
    if (nremoved != NULL) {
        *nremoved = 0;
    }
    if (n == 0) {
        return 0;
    }
    if (ids == NULL) {
        return lore_errf(err, LORE_EINVAL, "removing %zu vectors: ids missing", n);
    }
    FaissIDSelectorBatch *batch = NULL;
    if (faiss_IDSelectorBatch_new(&batch, n, ids) != 0) {
        return lore_errf(err, LORE_EINDEX, "selecting %zu ids to remove: %s", n, faiss_msg());
    }
    /* The C API declares the batch selector as its own type, but it is an IDSelector, and
     * remove_ids and the destructor take the base type. */
    FaissIDSelector *sel = (FaissIDSelector *)batch;
    size_t removed = 0;
    int rc = faiss_Index_remove_ids(vi->index, sel, &removed);
    faiss_IDSelector_free(sel);
    if (rc != 0) {
        return lore_errf(err, LORE_EINDEX, "removing %zu ids: %s", n, faiss_msg());
    }
    if (nremoved != NULL) {
        *nremoved = removed;
    }
    return 0;
}

/* ---- one query over the flat vectors ----
 *
 * FAISS answers a single query through sgemm (the path vindex_query_threads_init picks; its
 * other path, one dot product at a time, measured slower here), and sgemm first copies the
 * whole database into its packed layout: for a query over 300 vectors that copy was most of
 * the vector stage (0.08 ms of a 0.8 ms search). A matrix-vector product reads the stored
 * vectors in place, so one query goes through cblas_sgemv in blocks, and a heap of the want
 * best keeps the winners. Same scores (inner products), same order as FAISS (best first;
 * equal scores: smaller id first); a NaN score is never a hit, as FAISS leaves such slots
 * empty. Batches of queries still go to FAISS, where sgemm's packing pays off. */

/* Scores computed per sgemv: 16 KB on the stack. */
#define FLAT_BLOCK 4096

/* 1 when (sa, ia) ranks below (sb, ib). */
static int worse(float sa, int64_t ia, float sb, int64_t ib)
{
    return sa < sb || (sa == sb && ia > ib);
}

static void swap_entries(float *hs, int64_t *hi, size_t a, size_t b)
{
    float ts = hs[a];
    hs[a] = hs[b];
    hs[b] = ts;
    int64_t ti = hi[a];
    hi[a] = hi[b];
    hi[b] = ti;
}

/* Restores the min-heap (worst at 0) of n entries below slot i. */
static void sift_down(float *hs, int64_t *hi, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && worse(hs[l], hi[l], hs[m], hi[m]))
            m = l;
        if (l + 1 < n && worse(hs[l + 1], hi[l + 1], hs[m], hi[m]))
            m = l + 1;
        if (m == i)
            return;
        swap_entries(hs, hi, i, m);
        i = m;
    }
}

static void sift_up(float *hs, int64_t *hi, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(hs[i], hi[i], hs[p], hi[p]))
            return;
        swap_entries(hs, hi, i, p);
        i = p;
    }
}

/* The want (>= 1) best of the index for one query into ids/scores, best first. -1 when the
 * index is not the flat layout this file builds (the caller then asks FAISS). */
static int flat_search1(const vindex *vi, const float *query, size_t want, int64_t *ids,
                        float *scores, size_t *nfound)
{
    FaissIndexIDMap2 *map = faiss_IndexIDMap2_cast(vi->index);
    FaissIndexFlat *flat = map ? faiss_IndexFlat_cast(faiss_IndexIDMap2_sub_index(map)) : NULL;
    if (flat == NULL) {
        return -1;
    }
    float *xb = NULL;
    idx_t *labels = NULL;
    size_t nfloats = 0, nlabels = 0;
    faiss_IndexFlat_xb(flat, &xb, &nfloats);
    faiss_IndexIDMap2_id_map(map, &labels, &nlabels);
    size_t count = nfloats / (size_t)vi->dim;
    if (count != nlabels || (count > 0 && xb == NULL)) {
        return -1;
    }
    float block[FLAT_BLOCK];
    size_t n = 0; /* entries in the heap */
    for (size_t b0 = 0; b0 < count; b0 += FLAT_BLOCK) {
        size_t nb = count - b0 < FLAT_BLOCK ? count - b0 : FLAT_BLOCK;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)nb, vi->dim, 1.0f,
                    xb + b0 * (size_t)vi->dim, vi->dim, query, 1, 0.0f, block, 1);
        for (size_t j = 0; j < nb; j++) {
            float sc = block[j];
            int64_t id = labels[b0 + j];
            if (isnan(sc)) {
                continue;
            }
            if (n < want) {
                scores[n] = sc;
                ids[n] = id;
                sift_up(scores, ids, n++);
            } else if (worse(scores[0], ids[0], sc, id)) {
                scores[0] = sc;
                ids[0] = id;
                sift_down(scores, ids, n, 0);
            }
        }
    }
    /* Heap sort: moving the worst to the end each time leaves the best first. */
    for (size_t end = n; end > 1; end--) {
        swap_entries(scores, ids, 0, end - 1);
        sift_down(scores, ids, end - 1, 0);
    }
    *nfound = n;
    return 0;
}

int vindex_search(const vindex *vi, const float *query, size_t k, int64_t *ids, float *scores,
                  size_t *nfound, lore_err *err)
{
    assert(vi != NULL);
    assert(nfound != NULL);
    *nfound = 0;
    if (query == NULL || (k > 0 && (ids == NULL || scores == NULL))) {
        return lore_errf(err, LORE_EINVAL, "searching for %zu neighbours: query or output missing",
                         k);
    }
    size_t count = vindex_count(vi);
    size_t want = k < count ? k : count;
    if (want == 0) {
        return 0; /* FAISS rejects k == 0, and an empty index has nothing to say */
    }
    /* Cheap on every call (omp_get_max_threads reads a thread-local), and the only way to
     * reach threads the server created after vindex_query_threads_init ran. */
    if (atomic_load_explicit(&query_threads_single, memory_order_relaxed) &&
        omp_get_max_threads() != 1) {
        omp_set_num_threads(1);
    }
    if (flat_search1(vi, query, want, ids, scores, nfound) == 0) {
        return 0;
    }
    /* Asking for no more than the index holds lets FAISS write straight into the caller's
     * arrays, which hold k >= want entries. */
    if (faiss_Index_search(vi->index, 1, query, (idx_t)want, scores, ids) != 0) {
        return lore_errf(err, LORE_EINDEX, "searching for %zu neighbours: %s", want, faiss_msg());
    }
    /* Even with want <= count FAISS can leave -1 slots (a NaN in the query loses every
     * comparison); keep the order of the rest. */
    size_t j = 0;
    for (size_t i = 0; i < want; i++) {
        if (ids[i] < 0) {
            continue;
        }
        ids[j] = ids[i];
        scores[j] = scores[i];
        j++;
    }
    *nfound = j;
    return 0;
}

int vindex_search_batch(const vindex *vi, const float *queries, size_t nq, size_t k, int64_t *ids,
                        float *scores, lore_err *err)
{
    assert(vi != NULL);
    if (nq == 0 || k == 0) {
        return 0;
    }
    if (queries == NULL || ids == NULL || scores == NULL) {
        return lore_errf(err, LORE_EINVAL, "searching %zu queries: queries or output missing", nq);
    }
    if (nq > (size_t)INT64_MAX / k || k > (size_t)INT64_MAX) {
        return lore_errf(err, LORE_EINVAL, "searching %zu queries for %zu neighbours: too many",
                         nq, k);
    }
    if (vindex_count(vi) == 0) {
        /* Same shape as FAISS's own padding, without asking it to search nothing. */
        for (size_t i = 0; i < nq * k; i++) {
            ids[i] = -1;
            scores[i] = 0.0f;
        }
        return 0;
    }
    if (faiss_Index_search(vi->index, (idx_t)nq, queries, (idx_t)k, scores, ids) != 0) {
        return lore_errf(err, LORE_EINDEX, "searching %zu queries for %zu neighbours: %s", nq, k,
                         faiss_msg());
    }
    return 0;
}

void vindex_query_threads_init(void)
{
    atomic_store(&query_threads_single, true);
    omp_set_num_threads(1);
    /* One query's sgemv over a few hundred vectors (flat_search1) would otherwise wake
     * OpenBLAS's threads: with them a search cost twice the CPU. */
    blas_set_threads(1);
    /* Blocks of 16 queries x 1024 vectors: a 64 KB scratch per search, under the size at
     * which malloc maps fresh pages, while batches still make few sgemm calls. */
    faiss_set_distance_compute_blas_threshold(1);
    faiss_set_distance_compute_blas_query_bs(16);
    faiss_set_distance_compute_blas_database_bs(1024);
}

/* ---- persistence ---- */

/* Makes a rename in path's directory durable: without it a crash can forget the rename
 * even though the file's data reached the disk. */
static int sync_parent_dir(const char *path, lore_err *err)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (slash == NULL) {
        dir = strdup(".");
    } else if (slash == path) {
        dir = strdup("/");
    } else {
        dir = strndup(path, (size_t)(slash - path));
    }
    if (dir == NULL) {
        return lore_errf(err, LORE_ENOMEM, "syncing the directory of %s: out of memory", path);
    }
    int rc = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        rc = lore_errf(err, LORE_EIO, "opening directory %s to sync it: %s", dir, strerror(errno));
    } else {
        /* Some file systems cannot fsync a directory and say so with EINVAL; on those the
         * rename is as durable as it will get. */
        if (fsync(fd) != 0 && errno != EINVAL) {
            rc = lore_errf(err, LORE_EIO, "syncing directory %s: %s", dir, strerror(errno));
        }
        if (close(fd) != 0 && rc == 0) {
            rc = lore_errf(err, LORE_EIO, "closing directory %s: %s", dir, strerror(errno));
        }
    }
    free(dir);
    return rc;
}

int vindex_save(const vindex *vi, const char *path, uint64_t generation, lore_err *err)
{
    assert(vi != NULL);
    assert(path != NULL);
    /* A unique temporary name: an indexer and a server rebuilding a stale index may save
     * the same collection at once, and a shared name would let one truncate the other's
     * half-written file before its rename. */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".XXXXXX");
    if (tmp == NULL) {
        return lore_errf(err, LORE_ENOMEM, "saving vector index %s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".XXXXXX", sizeof ".XXXXXX");

    int rc = 0;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = lore_errf(err, LORE_EIO, "creating %s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    /* mkstemp makes the file owner-only; the index is as readable as the database. */
    FILE *f = NULL;
    if (fchmod(fd, 0644) != 0 || (f = fdopen(fd, "wb")) == NULL) {
        rc = lore_errf(err, LORE_EIO, "creating %s: %s", tmp, strerror(errno));
        (void)close(fd);
        (void)unlink(tmp);
        free(tmp);
        return rc;
    }

    unsigned char hdr[VIX_HEADER_LEN];
    int32_t dim = vi->dim;
    memcpy(hdr, VIX_MAGIC, VIX_MAGIC_LEN);
    memcpy(hdr + 8, &generation, sizeof generation);
    memcpy(hdr + 16, &dim, sizeof dim);
    if (fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr) {
        rc = lore_errf(err, LORE_EIO, "writing %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (faiss_write_index(vi->index, f) != 0) {
        rc = lore_errf(err, LORE_EINDEX, "writing %s: %s", tmp, faiss_msg());
        goto fail;
    }
    off_t written = ftello(f);
    int64_t expect = payload_size(faiss_Index_ntotal(vi->index), vi->dim);
    if (written < 0) {
        rc = lore_errf(err, LORE_EIO, "writing %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (expect < 0 || (int64_t)written != VIX_HEADER_LEN + expect) {
        rc = lore_errf(err, LORE_EINDEX,
                       "writing %s: faiss wrote %lld bytes where %lld were expected "
                       "(unsupported faiss serialisation)",
                       tmp, (long long)written, (long long)(VIX_HEADER_LEN + expect));
        goto fail;
    }
    if (fflush(f) != 0) {
        rc = lore_errf(err, LORE_EIO, "writing %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (fsync(fileno(f)) != 0) {
        rc = lore_errf(err, LORE_EIO, "syncing %s: %s", tmp, strerror(errno));
        goto fail;
    }
    FILE *done = f;
    f = NULL; /* fclose releases the stream even when it fails */
    if (fclose(done) != 0) {
        rc = lore_errf(err, LORE_EIO, "closing %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = lore_errf(err, LORE_EIO, "renaming %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    free(tmp);
    return sync_parent_dir(path, err);

fail:
    if (f != NULL) {
        (void)fclose(f); /* already failing; the first error is the one to report */
    }
    (void)unlink(tmp); /* best effort: the save already failed */
    free(tmp);
    return rc;
}

static int32_t get_i32(const unsigned char *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static int64_t get_i64(const unsigned char *p)
{
    int64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Checks that the FAISS payload after the header is an IndexIDMap2 over an inner-product
 * IndexFlat of dimension dim whose every length field agrees with the others and with the
 * file size, so that FAISS's reader cannot be led into a huge allocation. Leaves the file
 * position anywhere; sets *ntotal. */
static int check_payload(FILE *f, const char *path, int dim, off_t fsize, int64_t *ntotal,
                         lore_err *err)
{
    unsigned char pl[PL_FLAT_CODES];
    if (fsize < VIX_HEADER_LEN + PL_FLAT_CODES) {
        return lore_errf(err, LORE_EINDEX, "vector index %s is truncated (%lld bytes)", path,
                         (long long)fsize);
    }
    if (fread(pl, 1, sizeof pl, f) != sizeof pl) {
        return lore_errf(err, LORE_EIO, "reading %s: %s", path,
                         ferror(f) ? strerror(errno) : "unexpected end of file");
    }
    if (memcmp(pl + PL_MAP_FOURCC, "IxM2", 4) != 0 || memcmp(pl + PL_FLAT_FOURCC, "IxFI", 4) != 0) {
        return lore_errf(err, LORE_EINDEX,
                         "vector index %s is corrupt: not an id map over a flat inner-product index",
                         path);
    }
    int64_t n = get_i64(pl + PL_MAP_NTOTAL);
    if (get_i32(pl + PL_MAP_D) != dim || get_i32(pl + PL_FLAT_D) != dim ||
        get_i64(pl + PL_FLAT_NTOTAL) != n || pl[PL_MAP_TRAINED] != 1 || pl[PL_FLAT_TRAINED] != 1 ||
        get_i32(pl + PL_MAP_METRIC) != METRIC_INNER_PRODUCT ||
        get_i32(pl + PL_FLAT_METRIC) != METRIC_INNER_PRODUCT) {
        return lore_errf(err, LORE_EINDEX,
                         "vector index %s is corrupt: faiss headers disagree with dimension %d",
                         path, dim);
    }
    int64_t expect = payload_size(n, dim);
    if (expect < 0 || (int64_t)fsize != VIX_HEADER_LEN + expect) {
        return lore_errf(err, LORE_EINDEX,
                         "vector index %s is corrupt or truncated: %lld bytes for %lld vectors "
                         "of dimension %d",
                         path, (long long)fsize, (long long)n, dim);
    }
    if (get_i64(pl + PL_FLAT_NWORDS) != n * dim) {
        return lore_errf(err, LORE_EINDEX, "vector index %s is corrupt: vector data length", path);
    }
    /* The id count sits after the vectors; fsize already bounds where that is. */
    unsigned char cnt[PL_IDS_PREFIX];
    off_t ids_at = (off_t)(VIX_HEADER_LEN + PL_FLAT_CODES) + (off_t)(n * dim) * (off_t)sizeof(float);
    if (fseeko(f, ids_at, SEEK_SET) != 0) {
        return lore_errf(err, LORE_EIO, "seeking in %s: %s", path, strerror(errno));
    }
    if (fread(cnt, 1, sizeof cnt, f) != sizeof cnt) {
        return lore_errf(err, LORE_EIO, "reading %s: %s", path,
                         ferror(f) ? strerror(errno) : "unexpected end of file");
    }
    if (get_i64(cnt) != n) {
        return lore_errf(err, LORE_EINDEX, "vector index %s is corrupt: id map length", path);
    }
    *ntotal = n;
    return 0;
}

int vindex_load(const char *path, vindex **out, uint64_t *generation, lore_err *err)
{
    assert(path != NULL);
    assert(out != NULL);
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (errno == ENOENT) {
            return lore_errf(err, LORE_ENOTFOUND, "vector index %s does not exist", path);
        }
        return lore_errf(err, LORE_EIO, "opening %s: %s", path, strerror(errno));
    }

    int rc = 0;
    FaissIndex *idx = NULL;
    vindex *vi = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        rc = lore_errf(err, LORE_EIO, "examining %s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = lore_errf(err, LORE_EIO, "vector index %s is not a regular file", path);
        goto done;
    }

    unsigned char hdr[VIX_HEADER_LEN];
    if (st.st_size < VIX_HEADER_LEN) {
        rc = lore_errf(err, LORE_EINDEX, "vector index %s is truncated (%lld bytes)", path,
                       (long long)st.st_size);
        goto done;
    }
    if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr) {
        rc = lore_errf(err, LORE_EIO, "reading %s: %s", path,
                       ferror(f) ? strerror(errno) : "unexpected end of file");
        goto done;
    }
    if (memcmp(hdr, VIX_MAGIC, VIX_MAGIC_LEN) != 0) {
        rc = lore_errf(err, LORE_EINDEX, "%s is not a lore vector index (bad magic)", path);
        goto done;
    }
    uint64_t gen;
    memcpy(&gen, hdr + 8, sizeof gen);
    int32_t dim = get_i32(hdr + 16);
    if (dim < 1 || dim > VIX_MAX_DIM) {
        rc = lore_errf(err, LORE_EINDEX, "vector index %s is corrupt: dimension %d", path,
                       (int)dim);
        goto done;
    }
    int64_t n = 0;
    rc = check_payload(f, path, dim, st.st_size, &n, err);
    if (rc != 0) {
        goto done;
    }
    if (fseeko(f, VIX_HEADER_LEN, SEEK_SET) != 0) {
        rc = lore_errf(err, LORE_EIO, "seeking in %s: %s", path, strerror(errno));
        goto done;
    }
    if (faiss_read_index(f, 0, &idx) != 0) {
        idx = NULL;
        rc = lore_errf(err, LORE_EINDEX, "reading vector index %s: %s", path, faiss_msg());
        goto done;
    }
    /* check_payload vetted the bytes; this vets what FAISS made of them. */
    if (faiss_IndexIDMap2_cast(idx) == NULL || faiss_Index_d(idx) != dim ||
        faiss_Index_ntotal(idx) != n) {
        rc = lore_errf(err, LORE_EINDEX, "vector index %s is corrupt: faiss read an unexpected index",
                       path);
        goto done;
    }
    vi = calloc(1, sizeof *vi);
    if (vi == NULL) {
        rc = lore_errf(err, LORE_ENOMEM, "loading vector index %s: out of memory", path);
        goto done;
    }
    vi->index = idx; /* FAISS's reader sets own_fields on the id map it builds */
    vi->dim = dim;
    idx = NULL;
    *out = vi;
    if (generation != NULL) {
        *generation = gen;
    }

done:
    if (idx != NULL) {
        faiss_Index_free(idx);
    }
    if (fclose(f) != 0 && rc == 0) {
        /* Only read from it, so nothing is lost, but the convention is to check. */
        vindex_free(*out);
        *out = NULL;
        rc = lore_errf(err, LORE_EIO, "closing %s: %s", path, strerror(errno));
    }
    return rc;
}
