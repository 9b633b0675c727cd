/* Unit tests for vindex: exact search against brute force, removal, persistence (round
 * trip, atomic replace, corrupt and truncated files), empty index, concurrency. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <omp.h>

#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_io_c.h>

#include "vindex.h"

#define DIM 64
#define NVEC 2000
#define NQUERY 25
#define TOPK 10
/* FAISS sums in float with its own order (and BLAS for batches); brute force sums in
 * double. Their scores agree to well under this for unit vectors of dimension 64. */
#define SCORE_TOL 1e-4f

/* ---- fixtures ---- */

/* Deterministic generator (xorshift64*) so failures reproduce. */
static uint64_t rng_state;

static void rng_seed(uint64_t s) { rng_state = s != 0 ? s : 0x9e3779b97f4a7c15ULL; }

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [-1, 1). */
static float rng_float(void) { return (float)((double)(rng_next() >> 11) / 4503599627370496.0 - 1.0); }

static void random_unit(float *v, int dim)
{
    double norm = 0.0;
    for (int i = 0; i < dim; i++) {
        v[i] = rng_float();
        norm += (double)v[i] * v[i];
    }
    norm = sqrt(norm);
    for (int i = 0; i < dim; i++) {
        v[i] = (float)(v[i] / norm);
    }
}

static float *random_units(size_t n, int dim)
{
    float *v = malloc(n * (size_t)dim * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        random_unit(v + i * (size_t)dim, dim);
    }
    return v;
}

/* Ids that are not 0..n-1, so a test would notice FAISS's internal positions leaking. */
static int64_t id_of(size_t i) { return (int64_t)(1000003 + 7 * i); }

static vindex *filled_index(const float *vecs, size_t n)
{
    vindex *vi = NULL;
    lore_err err = {0};
    assert_int_equal(vindex_new(DIM, &vi, &err), 0);
    int64_t *ids = malloc(n * sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        ids[i] = id_of(i);
    }
    assert_int_equal(vindex_add(vi, ids, vecs, n, &err), 0);
    assert_int_equal(vindex_count(vi), n);
    free(ids);
    return vi;
}

static double dot(const float *a, const float *b, int dim)
{
    double s = 0.0;
    for (int i = 0; i < dim; i++) {
        s += (double)a[i] * b[i];
    }
    return s;
}

/* Brute-force scores of q against every live vector; dead[i] marks removed ones. */
static double *brute_scores(const float *vecs, size_t n, const float *q, const int *dead)
{
    double *s = malloc(n * sizeof *s);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        s[i] = (dead != NULL && dead[i]) ? -INFINITY : dot(vecs + i * DIM, q, DIM);
    }
    return s;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* Checks that (ids, scores, nfound) is an exact top-k of q: the scores equal the k best
 * brute-force scores rank by rank, and each id's own brute-force score is its reported
 * score (near-ties may legitimately swap ids, never scores). */
static void check_topk(const float *vecs, size_t n, const int *dead, const float *q, size_t k,
                       const int64_t *ids, const float *scores, size_t nfound)
{
    double *s = brute_scores(vecs, n, q, dead);
    double *sorted = malloc(n * sizeof *sorted);
    assert_non_null(sorted);
    memcpy(sorted, s, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_desc);
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        live += (dead == NULL || !dead[i]);
    }
    assert_int_equal(nfound, k < live ? k : live);
    for (size_t r = 0; r < nfound; r++) {
        assert_true(fabs((double)scores[r] - sorted[r]) < SCORE_TOL);
        if (r > 0) {
            assert_true(scores[r] <= scores[r - 1] + SCORE_TOL);
        }
        int64_t id = ids[r];
        assert_true(id >= id_of(0) && (id - id_of(0)) % 7 == 0);
        size_t pos = (size_t)((id - id_of(0)) / 7);
        assert_true(pos < n);
        assert_true(dead == NULL || !dead[pos]);
        assert_true(fabs((double)scores[r] - s[pos]) < SCORE_TOL);
        for (size_t e = 0; e < r; e++) {
            assert_true(ids[e] != id); /* no duplicates */
        }
    }
    free(sorted);
    free(s);
}

/* A fresh directory under the build tree (LORE_BUILD_DIR), removed by the test. */
static char *make_tmpdir(void)
{
    const char *base = getenv("LORE_BUILD_DIR");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    size_t len = strlen(base) + 32;
    char *dir = malloc(len);
    assert_non_null(dir);
    snprintf(dir, len, "%s/vindex-test-XXXXXX", base);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    assert_non_null(p);
    snprintf(p, len, "%s/%s", dir, name);
    return p;
}

static void remove_quiet(const char *dir, const char *name)
{
    char *p = join(dir, name);
    (void)unlink(p);
    free(p);
}

/* Entries of dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long sz = ftell(f);
    assert_true(sz > 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    unsigned char *buf = malloc((size_t)sz);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
    assert_int_equal(fclose(f), 0);
    *len = (size_t)sz;
    return buf;
}

/* Loading path must fail with LORE_EINDEX, a message naming the file, and no index. */
static void expect_corrupt(const char *path)
{
    vindex *vi = NULL;
    uint64_t gen = 0;
    lore_err err = {0};
    assert_int_equal(vindex_load(path, &vi, &gen, &err), LORE_EINDEX);
    assert_null(vi);
    assert_int_equal(err.code, LORE_EINDEX);
    assert_non_null(strstr(err.msg, path));
}

/* ---- tests ---- */

static void test_new_rejects_bad_dimension(void **state)
{
    (void)state;
    vindex *vi = NULL;
    lore_err err = {0};
    assert_int_equal(vindex_new(0, &vi, &err), LORE_EINVAL);
    assert_null(vi);
    assert_non_null(strstr(err.msg, "dimension 0"));
    assert_int_equal(vindex_new(-3, &vi, &err), LORE_EINVAL);
    assert_int_equal(vindex_new(DIM, &vi, &err), 0);
    assert_int_equal(vindex_dim(vi), DIM);
    assert_int_equal(vindex_count(vi), 0);
    vindex_free(vi);
    vindex_free(NULL);
}

static void test_search_matches_brute_force(void **state)
{
    (void)state;
    rng_seed(1);
    float *vecs = random_units(NVEC, DIM);
    float *queries = random_units(NQUERY, DIM);
    vindex *vi = filled_index(vecs, NVEC);
    for (size_t qi = 0; qi < NQUERY; qi++) {
        int64_t ids[TOPK];
        float scores[TOPK];
        size_t nfound = 0;
        lore_err err = {0};
        assert_int_equal(vindex_search(vi, queries + qi * DIM, TOPK, ids, scores, &nfound, &err), 0);
        check_topk(vecs, NVEC, NULL, queries + qi * DIM, TOPK, ids, scores, nfound);
    }
    /* A stored vector is its own best match, with cosine 1. */
    int64_t id;
    float score;
    size_t nfound = 0;
    assert_int_equal(vindex_search(vi, vecs + 123 * DIM, 1, &id, &score, &nfound, NULL), 0);
    assert_int_equal(nfound, 1);
    assert_int_equal(id, id_of(123));
    assert_true(fabsf(score - 1.0f) < SCORE_TOL);
    vindex_free(vi);
    free(queries);
    free(vecs);
}

static void test_search_batch_matches_single(void **state)
{
    (void)state;
    rng_seed(2);
    float *vecs = random_units(NVEC, DIM);
    float *queries = random_units(NQUERY, DIM); /* >= 20: FAISS's BLAS path */
    vindex *vi = filled_index(vecs, NVEC);
    int64_t bids[NQUERY * TOPK];
    float bscores[NQUERY * TOPK];
    lore_err err = {0};
    assert_int_equal(vindex_search_batch(vi, queries, NQUERY, TOPK, bids, bscores, &err), 0);
    for (size_t qi = 0; qi < NQUERY; qi++) {
        check_topk(vecs, NVEC, NULL, queries + qi * DIM, TOPK, bids + qi * TOPK,
                   bscores + qi * TOPK, TOPK);
    }
    vindex_free(vi);
    free(queries);
    free(vecs);
}

/* One query is scanned by vindex.c itself (sgemv in blocks and a heap); FAISS's search (the
 * batch form) must agree: across several blocks, with equal scores (smaller id first), and
 * after removals, which reorder the stored vectors. */
static void test_single_query_path_matches_faiss(void **state)
{
    (void)state;
    rng_seed(12);
    enum { N = 9000, K = 300, DUPS = 40 };
    float *vecs = random_units(N, DIM);
    /* Vectors 100..100+DUPS are copies of vector 0: DUPS + 1 equal scores for a query. */
    for (size_t i = 100; i < 100 + DUPS; i++) {
        memcpy(vecs + i * DIM, vecs, DIM * sizeof *vecs);
    }
    vindex *vi = filled_index(vecs, N);
    int64_t sids[K], bids[K];
    float sscores[K], bscores[K];
    size_t nfound = 0;
    lore_err err = {0};
    for (int round = 0; round < 2; round++) {
        for (size_t qi = 0; qi < 6; qi++) {
            const float *q = qi == 0 ? vecs : vecs + (qi * 977 % N) * DIM;
            assert_int_equal(vindex_search(vi, q, K, sids, sscores, &nfound, &err), 0);
            assert_int_equal(nfound, K);
            assert_int_equal(vindex_search_batch(vi, q, 1, K, bids, bscores, &err), 0);
            for (size_t r = 0; r < K; r++) {
                assert_true(fabsf(sscores[r] - bscores[r]) < SCORE_TOL);
                if (r > 0) {
                    assert_true(sscores[r] <= sscores[r - 1]);
                    if (sscores[r] == sscores[r - 1]) {
                        assert_true(sids[r] > sids[r - 1]);
                    }
                }
            }
            if (qi == 0) {
                /* The copies tie at the top, in id order. */
                assert_int_equal(sids[0], id_of(0));
                for (size_t r = 1; r <= DUPS; r++) {
                    assert_int_equal(sids[r], id_of(100 + r - 1));
                }
            } else {
                assert_memory_equal(sids, bids, sizeof sids);
            }
        }
        /* Remove every third vector past the copies: FAISS fills the gaps by moving vectors. */
        size_t nrm = 0;
        int64_t *rm = malloc(N * sizeof *rm);
        assert_non_null(rm);
        for (size_t i = 200; i < N; i += 3) {
            rm[nrm++] = id_of(i);
        }
        size_t removed = 0;
        assert_int_equal(vindex_remove(vi, rm, round == 0 ? nrm : 0, &removed, &err), 0);
        assert_int_equal(removed, round == 0 ? nrm : 0);
        free(rm);
    }
    vindex_free(vi);
    free(vecs);
}

static void test_k_larger_than_count(void **state)
{
    (void)state;
    rng_seed(3);
    enum { N = 5, K = 50 };
    float *vecs = random_units(N, DIM);
    float q[DIM];
    random_unit(q, DIM);
    vindex *vi = filled_index(vecs, N);
    int64_t ids[K];
    float scores[K];
    size_t nfound = 99;
    lore_err err = {0};
    assert_int_equal(vindex_search(vi, q, K, ids, scores, &nfound, &err), 0);
    check_topk(vecs, N, NULL, q, K, ids, scores, nfound);
    assert_int_equal(nfound, N);

    /* The batch form pads with -1 instead. */
    assert_int_equal(vindex_search_batch(vi, q, 1, K, ids, scores, &err), 0);
    for (size_t i = N; i < K; i++) {
        assert_int_equal(ids[i], -1);
    }
    /* k == 0 asks for nothing and gets nothing. */
    assert_int_equal(vindex_search(vi, q, 0, NULL, NULL, &nfound, &err), 0);
    assert_int_equal(nfound, 0);
    vindex_free(vi);
    free(vecs);
}

static void test_search_empty_index(void **state)
{
    (void)state;
    vindex *vi = NULL;
    lore_err err = {0};
    assert_int_equal(vindex_new(DIM, &vi, &err), 0);
    float q[DIM];
    rng_seed(4);
    random_unit(q, DIM);
    int64_t ids[TOPK];
    float scores[TOPK];
    size_t nfound = 99;
    assert_int_equal(vindex_search(vi, q, TOPK, ids, scores, &nfound, &err), 0);
    assert_int_equal(nfound, 0);
    assert_int_equal(vindex_search_batch(vi, q, 1, TOPK, ids, scores, &err), 0);
    assert_int_equal(ids[0], -1);
    vindex_free(vi);
}

static void test_add_rejects_negative_id(void **state)
{
    (void)state;
    vindex *vi = NULL;
    lore_err err = {0};
    assert_int_equal(vindex_new(DIM, &vi, &err), 0);
    float v[2 * DIM];
    rng_seed(5);
    random_unit(v, DIM);
    random_unit(v + DIM, DIM);
    int64_t ids[2] = {7, -1};
    assert_int_equal(vindex_add(vi, ids, v, 2, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "-1"));
    assert_int_equal(vindex_count(vi), 0); /* nothing half-added */
    assert_int_equal(vindex_add(vi, ids, v, 0, &err), 0);
    vindex_free(vi);
}

static void test_remove_ids(void **state)
{
    (void)state;
    rng_seed(6);
    float *vecs = random_units(NVEC, DIM);
    float *queries = random_units(NQUERY, DIM);
    vindex *vi = filled_index(vecs, NVEC);
    lore_err err = {0};

    /* Remove each query's current top 3, so the removal is sure to matter. */
    int *dead = calloc(NVEC, sizeof *dead);
    assert_non_null(dead);
    int64_t gone[NQUERY * 3];
    size_t ngone = 0;
    for (size_t qi = 0; qi < NQUERY; qi++) {
        int64_t ids[3];
        float scores[3];
        size_t nfound = 0;
        assert_int_equal(vindex_search(vi, queries + qi * DIM, 3, ids, scores, &nfound, &err), 0);
        assert_int_equal(nfound, 3);
        for (size_t r = 0; r < 3; r++) {
            size_t pos = (size_t)((ids[r] - id_of(0)) / 7);
            if (!dead[pos]) {
                dead[pos] = 1;
                gone[ngone++] = ids[r];
            }
        }
    }
    size_t removed = 0;
    assert_int_equal(vindex_remove(vi, gone, ngone, &removed, &err), 0);
    assert_int_equal(removed, ngone);
    assert_int_equal(vindex_count(vi), NVEC - ngone);

    for (size_t qi = 0; qi < NQUERY; qi++) {
        int64_t ids[TOPK];
        float scores[TOPK];
        size_t nfound = 0;
        assert_int_equal(vindex_search(vi, queries + qi * DIM, TOPK, ids, scores, &nfound, &err), 0);
        check_topk(vecs, NVEC, dead, queries + qi * DIM, TOPK, ids, scores, nfound);
        for (size_t r = 0; r < nfound; r++) {
            for (size_t g = 0; g < ngone; g++) {
                assert_true(ids[r] != gone[g]);
            }
        }
    }

    /* Removing again, and removing ids never added, is fine and removes nothing. */
    int64_t absent[3] = {gone[0], 5, 999999999999LL};
    removed = 42;
    assert_int_equal(vindex_remove(vi, absent, 3, &removed, &err), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(vindex_count(vi), NVEC - ngone);
    assert_int_equal(vindex_remove(vi, absent, 3, NULL, &err), 0);
    assert_int_equal(vindex_remove(vi, NULL, 0, &removed, &err), 0);
    assert_int_equal(removed, 0);

    /* A removed id can be added back. */
    assert_int_equal(vindex_add(vi, &gone[0], vecs + (size_t)((gone[0] - id_of(0)) / 7) * DIM, 1,
                                &err),
                     0);
    assert_int_equal(vindex_count(vi), NVEC - ngone + 1);

    free(dead);
    vindex_free(vi);
    free(queries);
    free(vecs);
}

static void test_remove_absent_from_empty(void **state)
{
    (void)state;
    vindex *vi = NULL;
    lore_err err = {0};
    assert_int_equal(vindex_new(DIM, &vi, &err), 0);
    int64_t ids[2] = {1, 2};
    size_t removed = 42;
    assert_int_equal(vindex_remove(vi, ids, 2, &removed, &err), 0);
    assert_int_equal(removed, 0);
    vindex_free(vi);
}

static void test_save_load_round_trip(void **state)
{
    (void)state;
    rng_seed(7);
    float *vecs = random_units(NVEC, DIM);
    float *queries = random_units(NQUERY, DIM);
    vindex *vi = filled_index(vecs, NVEC);
    char *dir = make_tmpdir();
    char *path = join(dir, "vectors.faiss");
    lore_err err = {0};
    assert_int_equal(vindex_save(vi, path, 0x0123456789abcdefULL, &err), 0);

    vindex *back = NULL;
    uint64_t gen = 0;
    assert_int_equal(vindex_load(path, &back, &gen, &err), 0);
    assert_non_null(back);
    assert_int_equal(gen, 0x0123456789abcdefULL);
    assert_int_equal(vindex_dim(back), DIM);
    assert_int_equal(vindex_count(back), NVEC);
    for (size_t qi = 0; qi < NQUERY; qi++) {
        int64_t a[TOPK], b[TOPK];
        float sa[TOPK], sb[TOPK];
        size_t na = 0, nb = 0;
        assert_int_equal(vindex_search(vi, queries + qi * DIM, TOPK, a, sa, &na, &err), 0);
        assert_int_equal(vindex_search(back, queries + qi * DIM, TOPK, b, sb, &nb, &err), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof a[0]);
        assert_memory_equal(sa, sb, na * sizeof sa[0]); /* same data, same arithmetic */
    }
    /* The loaded index is fully usable: removal and adding work, and a NULL generation
     * pointer is accepted. */
    int64_t rm = id_of(10);
    size_t removed = 0;
    assert_int_equal(vindex_remove(back, &rm, 1, &removed, &err), 0);
    assert_int_equal(removed, 1);
    vindex_free(back);
    back = NULL;
    assert_int_equal(vindex_load(path, &back, NULL, &err), 0);
    vindex_free(back);

    /* An empty index round-trips too. */
    vindex *empty = NULL;
    assert_int_equal(vindex_new(16, &empty, &err), 0);
    assert_int_equal(vindex_save(empty, path, 1, &err), 0);
    vindex_free(empty);
    assert_int_equal(vindex_load(path, &back, &gen, &err), 0);
    assert_int_equal(gen, 1);
    assert_int_equal(vindex_dim(back), 16);
    assert_int_equal(vindex_count(back), 0);
    vindex_free(back);

    remove_quiet(dir, "vectors.faiss");
    assert_int_equal(rmdir(dir), 0);
    free(path);
    free(dir);
    vindex_free(vi);
    free(queries);
    free(vecs);
}

static void test_save_is_atomic_replace(void **state)
{
    (void)state;
    rng_seed(8);
    float *vecs = random_units(100, DIM);
    char *dir = make_tmpdir();
    char *path = join(dir, "vectors.faiss");
    char *tmp = join(dir, "vectors.faiss.tmp");
    lore_err err = {0};

    /* Something already at PATH, and a stale temporary left by a crashed save: each save
     * writes its own unique temporary, so the stale one is neither read nor reused. */
    write_bytes(path, "old contents", 12);
    write_bytes(tmp, "stale", 5);

    vindex *vi = filled_index(vecs, 100);
    assert_int_equal(vindex_save(vi, path, 5, &err), 0);
    /* vectors.faiss and the stale file; the save's own temporary was renamed away. */
    assert_int_equal(count_prefixed(dir, "vectors.faiss"), 2);
    assert_true(file_exists(tmp));
    vindex *back = NULL;
    uint64_t gen = 0;
    assert_int_equal(vindex_load(path, &back, &gen, &err), 0);
    assert_int_equal(gen, 5);
    assert_int_equal(vindex_count(back), 100);
    vindex_free(back);

    /* A second save replaces the first. */
    int64_t rm[2] = {id_of(0), id_of(1)};
    assert_int_equal(vindex_remove(vi, rm, 2, NULL, &err), 0);
    assert_int_equal(vindex_save(vi, path, 6, &err), 0);
    assert_int_equal(count_prefixed(dir, "vectors.faiss"), 2);
    assert_int_equal(vindex_load(path, &back, &gen, &err), 0);
    assert_int_equal(gen, 6);
    assert_int_equal(vindex_count(back), 98);
    vindex_free(back);

    /* A save that cannot write leaves the previous file alone and reports the path. */
    char *bad = join(dir, "no-such-dir/vectors.faiss");
    assert_int_equal(vindex_save(vi, bad, 7, &err), LORE_EIO);
    assert_non_null(strstr(err.msg, "no-such-dir"));
    free(bad);
    assert_int_equal(vindex_load(path, &back, &gen, &err), 0);
    assert_int_equal(gen, 6);
    vindex_free(back);

    vindex_free(vi);
    remove_quiet(dir, "vectors.faiss");
    remove_quiet(dir, "vectors.faiss.tmp");
    assert_int_equal(rmdir(dir), 0);
    free(tmp);
    free(path);
    free(dir);
    free(vecs);
}

static void test_load_missing(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char *path = join(dir, "absent.faiss");
    vindex *vi = NULL;
    lore_err err = {0};
    assert_int_equal(vindex_load(path, &vi, NULL, &err), LORE_ENOTFOUND);
    assert_null(vi);
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(rmdir(dir), 0);
    free(path);
    free(dir);
}

/* Saves a small index and returns its bytes, for the corruption tests to damage. */
static unsigned char *saved_bytes(const char *path, size_t *len)
{
    rng_seed(9);
    float *vecs = random_units(50, DIM);
    vindex *vi = filled_index(vecs, 50);
    lore_err err = {0};
    assert_int_equal(vindex_save(vi, path, 3, &err), 0);
    vindex_free(vi);
    free(vecs);
    return read_all(path, len);
}

static void test_load_truncated(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char *path = join(dir, "vectors.faiss");
    size_t len = 0;
    unsigned char *good = saved_bytes(path, &len);
    /* Every cut through the headers, then a spread through the vectors and ids, and the
     * last byte: each must be refused cleanly. */
    for (size_t cut = 0; cut < len; cut += (cut < 140 ? 1 : 97)) {
        write_bytes(path, good, cut);
        expect_corrupt(path);
    }
    write_bytes(path, good, len - 1);
    expect_corrupt(path);
    /* Extra bytes at the end are corruption too. */
    unsigned char *longer = malloc(len + 4);
    assert_non_null(longer);
    memcpy(longer, good, len);
    memset(longer + len, 0, 4);
    write_bytes(path, longer, len + 4);
    expect_corrupt(path);
    free(longer);
    /* And the intact bytes still load, so the refusals above were about the damage. */
    write_bytes(path, good, len);
    vindex *vi = NULL;
    lore_err err = {0};
    assert_int_equal(vindex_load(path, &vi, NULL, &err), 0);
    vindex_free(vi);

    free(good);
    remove_quiet(dir, "vectors.faiss");
    assert_int_equal(rmdir(dir), 0);
    free(path);
    free(dir);
}

static void test_load_bad_magic(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char *path = join(dir, "vectors.faiss");
    size_t len = 0;
    unsigned char *bytes = saved_bytes(path, &len);
    bytes[0] = 'X';
    write_bytes(path, bytes, len);
    expect_corrupt(path);
    vindex *vi = NULL;
    lore_err err = {0};
    assert_int_equal(vindex_load(path, &vi, NULL, &err), LORE_EINDEX);
    assert_non_null(strstr(err.msg, "magic"));
    free(bytes);
    remove_quiet(dir, "vectors.faiss");
    assert_int_equal(rmdir(dir), 0);
    free(path);
    free(dir);
}

/* Damaged length and type fields inside the FAISS payload: the ones that would make
 * FAISS allocate absurd amounts or misread the file if they reached it. */
static void test_load_corrupt_fields(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char *path = join(dir, "vectors.faiss");
    size_t len = 0;
    unsigned char *good = saved_bytes(path, &len);
    unsigned char *bad = malloc(len);
    assert_non_null(bad);

    /* Flip the top bit of every byte in turn across the header and both FAISS headers,
     * the vector-data length and, at the end, the id-map length. Bytes whose value FAISS
     * ignores (the placeholders) may survive; everything else must be refused. */
    size_t idcount_at = len - 50 * sizeof(int64_t) - sizeof(int64_t);
    for (size_t at = 0; at < len; at++) {
        if (at >= 102 && at != idcount_at && at != idcount_at + 7) {
            continue;
        }
        memcpy(bad, good, len);
        bad[at] ^= 0x80;
        write_bytes(path, bad, len);
        vindex *vi = NULL;
        lore_err err = {0};
        int rc = vindex_load(path, &vi, NULL, &err);
        if (rc == 0) {
            /* Only a generation byte or a FAISS placeholder may change without harm. */
            int harmless = (at >= 8 && at < 16) || (at >= 20 + 16 && at < 20 + 32) ||
                           (at >= 20 + 53 && at < 20 + 69);
            assert_true(harmless);
            assert_int_equal(vindex_count(vi), 50);
            vindex_free(vi);
        } else {
            assert_int_equal(rc, LORE_EINDEX);
            assert_null(vi);
            assert_non_null(strstr(err.msg, path));
        }
    }
    /* A huge vector count with a consistent-looking size field. */
    memcpy(bad, good, len);
    int64_t huge = INT64_C(1) << 39;
    memcpy(bad + 20 + 8, &huge, sizeof huge);
    memcpy(bad + 20 + 45, &huge, sizeof huge);
    write_bytes(path, bad, len);
    expect_corrupt(path);

    free(bad);
    free(good);
    remove_quiet(dir, "vectors.faiss");
    assert_int_equal(rmdir(dir), 0);
    free(path);
    free(dir);
}

static void test_load_garbage(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char *path = join(dir, "vectors.faiss");
    rng_seed(10);
    enum { LEN = 4096 };
    unsigned char *buf = malloc(LEN);
    assert_non_null(buf);
    for (size_t i = 0; i < LEN; i++) {
        buf[i] = (unsigned char)(rng_next() >> 56);
    }
    write_bytes(path, buf, LEN);
    expect_corrupt(path);

    /* Garbage behind a valid lore header reaches the FAISS payload checks. */
    memcpy(buf, "LOREVIX1", 8);
    int32_t dim = DIM;
    memcpy(buf + 16, &dim, sizeof dim);
    write_bytes(path, buf, LEN);
    expect_corrupt(path);
    memcpy(buf + 20, "IxM2", 4);
    write_bytes(path, buf, LEN);
    expect_corrupt(path);

    /* An empty file. */
    write_bytes(path, buf, 0);
    expect_corrupt(path);

    free(buf);
    remove_quiet(dir, "vectors.faiss");
    assert_int_equal(rmdir(dir), 0);
    free(path);
    free(dir);
}

/* ---- the C API shim (engine/faiss_capi.cpp) ---- */

static void *last_error_in_new_thread(void *arg)
{
    *(const char **)arg = faiss_get_last_error();
    return NULL;
}

/* C++ exceptions come back as a non-zero code and a message, on this thread only. */
static void test_capi_reports_exceptions(void **state)
{
    (void)state;
    FaissIndexFlatIP *flat = NULL;
    assert_int_equal(faiss_IndexFlatIP_new_with(&flat, 8), 0);
    assert_non_null(flat);
    float v[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    idx_t id = 1;
    /* A bare flat index has no id map, and FAISS throws rather than ignore the ids. */
    assert_true(faiss_Index_add_with_ids(flat, 1, v, &id) != 0);
    const char *msg = faiss_get_last_error();
    assert_non_null(msg);
    assert_true(strlen(msg) > 0);
    assert_int_equal(faiss_Index_ntotal(flat), 0);
    faiss_Index_free(flat);

    /* The message is thread-local: a thread that never failed sees none. */
    const char *other = (const char *)&other;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, last_error_in_new_thread, &other), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_null(other);

    /* FAISS's reader throws on an unknown index type. */
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fwrite("Junk and more junk", 1, 18, f), 18);
    rewind(f);
    FaissIndex *idx = NULL;
    assert_true(faiss_read_index(f, 0, &idx) != 0);
    assert_null(idx);
    assert_non_null(faiss_get_last_error());
    assert_int_equal(fclose(f), 0);
}

/* ---- concurrency ---- */

#define NTHREADS 4
#define ROUNDS 5

struct search_job {
    const vindex *vi;
    const float *queries;
    int64_t ids[NQUERY][TOPK];
    float scores[NQUERY][TOPK];
    size_t nfound[NQUERY];
    int failed;
    int omp_threads; /* the worker's OpenMP thread count after its searches */
};

static void *search_worker(void *arg)
{
    struct search_job *job = arg;
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t qi = 0; qi < NQUERY; qi++) {
            lore_err err = {0};
            if (vindex_search(job->vi, job->queries + qi * DIM, TOPK, job->ids[qi],
                              job->scores[qi], &job->nfound[qi], &err) != 0) {
                job->failed = 1;
            }
        }
    }
    job->omp_threads = omp_get_max_threads();
    return NULL;
}

static void test_concurrent_search(void **state)
{
    (void)state;
    rng_seed(11);
    float *vecs = random_units(NVEC, DIM);
    float *queries = random_units(NQUERY, DIM);
    vindex *vi = filled_index(vecs, NVEC);

    /* As a query server would: single-threaded OpenMP in every searching thread (and FAISS
     * on its BLAS path, so the serial reference below takes the same path). */
    vindex_query_threads_init();
    struct search_job *serial = calloc(1, sizeof *serial);
    assert_non_null(serial);
    serial->vi = vi;
    serial->queries = queries;
    search_worker(serial);
    assert_int_equal(serial->failed, 0);

    struct search_job *jobs = calloc(NTHREADS, sizeof *jobs);
    assert_non_null(jobs);
    pthread_t th[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        jobs[t].vi = vi;
        jobs[t].queries = queries;
        assert_int_equal(pthread_create(&th[t], NULL, search_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
    }
    for (int t = 0; t < NTHREADS; t++) {
        assert_int_equal(jobs[t].failed, 0);
        /* OpenMP's count is per thread: the init in this thread must still reach workers. */
        assert_int_equal(jobs[t].omp_threads, 1);
        assert_memory_equal(jobs[t].nfound, serial->nfound, sizeof serial->nfound);
        assert_memory_equal(jobs[t].ids, serial->ids, sizeof serial->ids);
        assert_memory_equal(jobs[t].scores, serial->scores, sizeof serial->scores);
    }
    free(jobs);
    free(serial);
    vindex_free(vi);
    free(queries);
    free(vecs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_rejects_bad_dimension),
        cmocka_unit_test(test_search_matches_brute_force),
        cmocka_unit_test(test_search_batch_matches_single),
        cmocka_unit_test(test_single_query_path_matches_faiss),
        cmocka_unit_test(test_k_larger_than_count),
        cmocka_unit_test(test_search_empty_index),
        cmocka_unit_test(test_add_rejects_negative_id),
        cmocka_unit_test(test_remove_ids),
        cmocka_unit_test(test_remove_absent_from_empty),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_save_is_atomic_replace),
        cmocka_unit_test(test_load_missing),
        cmocka_unit_test(test_load_truncated),
        cmocka_unit_test(test_load_bad_magic),
        cmocka_unit_test(test_load_corrupt_fields),
        cmocka_unit_test(test_load_garbage),
        cmocka_unit_test(test_capi_reports_exceptions),
        /* Last: vindex_query_threads_init is process-wide and one-way. */
        cmocka_unit_test(test_concurrent_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
