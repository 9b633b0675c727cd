/* test_use: the USE-lite forward pass (use.c) and the "use" embedder kind (embed_use.c).
 *
 * The model comes from $LORE_SOURCE_DIR/models/use-lite (tools/fetch-model.sh; tools/test.sh
 * fetches it first), or from $LORE_USE_MODEL_DIR when set. The goldens are the Node
 * reference's ids and vectors: $LORE_SOURCE_DIR/tests/golden/use_goldens.json
 * ([{"text", "ids", "vector"}]), or $LORE_USE_GOLDENS when set.
 *
 * Speed figures are printed, not asserted (they depend on the machine). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "embed.h"
#include "embed_impl.h"
#include "testutil.h"
#include "blas.h"
#include "use.h"

#define MIN_COSINE 0.9999

typedef struct golden {
    char *text;      /* the input bytes (from utf8_hex when given: may be invalid UTF-8) */
    size_t text_len; /* may hold a NUL byte */
    int *ids;
    size_t n_ids;
    float *vector; /* NULL when the reference gave none (it fails on a lone empty text) */
} golden;

static char model_dir[900];
static char load_msg[1100];
static use_model *model;
static golden *gold;
static size_t n_gold;
static char gold_msg[1400];
static char tmpdir[256];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (aa == 0 || bb == 0)
        return 0;
    return ab / sqrt(aa * bb);
}

static double norm(const float *a, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * a[i];
    return sqrt(s);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

static void load_goldens(const char *src)
{
    char path[1000];
    const char *env = getenv("LORE_USE_GOLDENS");
    if (env && env[0])
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/tests/golden/use_goldens.json", src);
    size_t len = 0;
    char *text = slurp(path, &len);
    if (text == NULL) {
        snprintf(gold_msg, sizeof gold_msg, "cannot read the goldens %s", path);
        return;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsArray(root)) {
        snprintf(gold_msg, sizeof gold_msg, "%s is not a JSON array", path);
        cJSON_Delete(root);
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(root);
    gold = calloc(n, sizeof *gold);
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        golden *g = &gold[n_gold];
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "text");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(it, "ids");
        const cJSON *vec = cJSON_GetObjectItemCaseSensitive(it, "vector");
        if (!cJSON_IsString(t) || !cJSON_IsArray(ids))
            continue;
        const cJSON *hex = cJSON_GetObjectItemCaseSensitive(it, "utf8_hex");
        if (cJSON_IsString(hex)) {
            size_t hl = strlen(hex->valuestring) / 2;
            g->text = malloc(hl + 1);
            for (size_t b = 0; b < hl; b++) {
                unsigned v = 0;
                sscanf(hex->valuestring + 2 * b, "%2x", &v);
                g->text[b] = (char)v;
            }
            g->text[hl] = '\0';
            g->text_len = hl;
        } else {
            g->text = strdup(t->valuestring);
            g->text_len = strlen(g->text);
        }
        g->n_ids = (size_t)cJSON_GetArraySize(ids);
        g->ids = malloc((g->n_ids + 1) * sizeof *g->ids);
        size_t k = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, ids) g->ids[k++] = (int)x->valuedouble;
        if (cJSON_IsArray(vec) && cJSON_GetArraySize(vec) == USE_DIM) {
            g->vector = malloc(USE_DIM * sizeof *g->vector);
            k = 0;
            cJSON_ArrayForEach(x, vec) g->vector[k++] = (float)x->valuedouble;
        }
        n_gold++;
    }
    cJSON_Delete(root);
    if (n_gold == 0)
        snprintf(gold_msg, sizeof gold_msg, "%s holds no goldens", path);
}

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("LORE_SOURCE_DIR");
    if (src == NULL)
        src = ".";
    const char *env = getenv("LORE_USE_MODEL_DIR");
    if (env && env[0])
        snprintf(model_dir, sizeof model_dir, "%s", env);
    else
        snprintf(model_dir, sizeof model_dir, "%s/models/use-lite", src);
    lore_err err;
    lore_err_clear(&err);
    double t0 = now_s();
    if (use_load(model_dir, &model, &err) != 0) {
        snprintf(load_msg, sizeof load_msg, "%s", err.msg);
        model = NULL;
    } else {
        printf("[ use ] loaded %s in %.1f ms\n", model_dir, (now_s() - t0) * 1e3);
    }
    load_goldens(src);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lore-test-use-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    use_free(model);
    for (size_t i = 0; i < n_gold; i++) {
        free(gold[i].text);
        free(gold[i].ids);
        free(gold[i].vector);
    }
    free(gold);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    return 0;
}

static void need_model(void)
{
    if (model == NULL)
        fail_msg("the USE-lite model is not loaded from %s: %s\n"
                 "run tools/fetch-model.sh to fetch it (tools/test.sh does this first)",
                 model_dir, load_msg);
}

static void need_goldens(void)
{
    need_model();
    if (n_gold == 0)
        fail_msg("no goldens: %s", gold_msg);
}

/* ---- correctness ---- */

static void test_goldens_from_ids(void **state)
{
    (void)state;
    need_goldens();
    lore_err err;
    float *one = malloc(USE_DIM * sizeof *one);
    float *all = malloc(n_gold * USE_DIM * sizeof *all);
    const int **ids = malloc(n_gold * sizeof *ids);
    size_t *lens = malloc(n_gold * sizeof *lens);
    double min_cos = 2.0;
    size_t worst = 0, checked = 0;
    for (size_t i = 0; i < n_gold; i++) {
        ids[i] = gold[i].ids;
        lens[i] = gold[i].n_ids;
        const int *p = gold[i].ids;
        assert_int_equal(use_embed_ids(model, &p, &lens[i], 1, one, &err), 0);
        assert_true(fabs(norm(one, USE_DIM) - 1.0) < 1e-4);
        if (gold[i].vector == NULL)
            continue;
        double c = cosine(one, gold[i].vector, USE_DIM);
        checked++;
        if (c < min_cos) {
            min_cos = c;
            worst = i;
        }
        if (c < MIN_COSINE)
            fail_msg("golden %zu (\"%.60s\", %zu ids): cosine %.7f < %.4f", i, gold[i].text,
                     gold[i].n_ids, c, MIN_COSINE);
    }
    printf("[ use ] %zu goldens from ids: min cosine %.9f (1 - min = %.1e; golden %zu, %zu ids)\n",
           checked, min_cos, 1.0 - min_cos, worst, gold[worst].n_ids);

    /* No ids: the reference cannot embed an empty text alone (TF.js rejects the empty sparse
     * tensor) but embeds one inside a batch; its vector there begins with these values
     * (model.embed(["hello world", "", "x"]), Node, @energetic-ai/embeddings 0.2.0). */
    size_t zero = 0;
    const int *none = NULL;
    assert_int_equal(use_embed_ids(model, &none, &zero, 1, one, &err), 0);
    assert_true(fabs(one[0] - 0.0023546612f) < 1e-6);
    assert_true(fabs(one[1] + 0.0348752551f) < 1e-6);
    assert_true(fabs(one[2] - 0.0131020229f) < 1e-6);

    /* The same ids in one batch give the same vectors. */
    assert_int_equal(use_embed_ids(model, ids, lens, n_gold, all, &err), 0);
    for (size_t i = 0; i < n_gold; i++) {
        const int *p = gold[i].ids;
        assert_int_equal(use_embed_ids(model, &p, &lens[i], 1, one, &err), 0);
        double c = cosine(one, all + i * USE_DIM, USE_DIM);
        if (c < 0.999999)
            fail_msg("golden %zu batched vs alone: cosine %.8f", i, c);
    }
    free(one);
    free(all);
    free(ids);
    free(lens);
}

/* The query path (bf16 products on CPUs that have them): close to the exact path and to the
 * reference for every golden a query could be (up to 24 tokens: the path's limit). */
#define QUERY_MIN_COSINE 0.9998

static void test_query_path(void **state)
{
    (void)state;
    need_goldens();
    lore_err err;
    float exact[USE_DIM], fast[USE_DIM], alone[USE_DIM];
    double min_exact = 2.0, min_gold = 2.0;
    use_qwork *work = use_qwork_new();
    assert_non_null(work);
    size_t checked = 0;
    for (size_t i = 0; i < n_gold; i++) {
        if (gold[i].n_ids > 24)
            continue;
        const int *p = gold[i].ids;
        size_t len = gold[i].n_ids;
        assert_int_equal(use_embed_ids(model, &p, &len, 1, exact, &err), 0);
        /* A reused scratch (grown and shrunk-into across texts of every length) gives what
         * scratch of the call alone gives, bit for bit. */
        assert_int_equal(use_embed_query_ids(model, work, p, len, fast, &err), 0);
        assert_int_equal(use_embed_query_ids(model, NULL, p, len, alone, &err), 0);
        assert_memory_equal(fast, alone, sizeof fast);
        assert_true(fabs(norm(fast, USE_DIM) - 1.0) < 1e-4);
        double ce = cosine(fast, exact, USE_DIM);
        if (ce < min_exact)
            min_exact = ce;
        if (ce < QUERY_MIN_COSINE)
            fail_msg("golden %zu (\"%.60s\"): query path vs exact cosine %.7f", i, gold[i].text,
                     ce);
        if (gold[i].vector != NULL) {
            double cg = cosine(fast, gold[i].vector, USE_DIM);
            if (cg < min_gold)
                min_gold = cg;
            if (cg < QUERY_MIN_COSINE)
                fail_msg("golden %zu (\"%.60s\"): query path vs reference cosine %.7f", i,
                         gold[i].text, cg);
        }
        checked++;
    }
    use_qwork_free(work);
    assert_true(checked > 20);
    printf("[ use ] %zu short goldens, query path: min cosine %.7f to the exact path, %.7f to "
           "the reference\n",
           checked, min_exact, min_gold);
}

/* Several queries embedded together (a server's waiting searches): each vector is the one
 * it gets alone, bit for bit, whatever its neighbours, in batches of every size, with long
 * queries (past the query path's 24 tokens) and an empty one mixed in. */
static void test_queries_together(void **state)
{
    (void)state;
    need_goldens();
    lore_err err;
    size_t n = n_gold < 40 ? n_gold : 40;
    const int **ids = malloc((n + 1) * sizeof *ids);
    size_t *lens = malloc((n + 1) * sizeof *lens);
    float *alone = malloc((n + 1) * USE_DIM * sizeof *alone);
    float *together = malloc((n + 1) * USE_DIM * sizeof *together);
    assert_non_null(ids);
    assert_non_null(lens);
    assert_non_null(alone);
    assert_non_null(together);
    size_t nlong = 0;
    for (size_t i = 0; i < n; i++) {
        ids[i] = gold[i].ids;
        lens[i] = gold[i].n_ids;
        nlong += lens[i] > 24;
    }
    ids[n] = NULL; /* an empty query */
    lens[n] = 0;
    n++;
    use_qwork *work = use_qwork_new();
    assert_non_null(work);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(use_embed_query_ids(model, work, ids[i], lens[i], alone + i * USE_DIM,
                                             &err),
                         0);
    size_t sizes[] = {1, 2, 3, 7, 8, n};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t b = sizes[k];
        memset(together, 0, n * USE_DIM * sizeof *together);
        for (size_t at = 0; at < n; at += b) {
            size_t m = n - at < b ? n - at : b;
            assert_int_equal(use_embed_queries_ids(model, work, ids + at, lens + at, m,
                                                   together + at * USE_DIM, &err),
                             0);
        }
        for (size_t i = 0; i < n; i++)
            if (memcmp(together + i * USE_DIM, alone + i * USE_DIM, USE_DIM * sizeof(float)))
                fail_msg("batches of %zu: query %zu (%zu tokens) differs from its vector alone",
                         b, i, lens[i]);
    }
    use_qwork_free(work);
    printf("[ use ] %zu queries (%zu past 24 tokens, 1 empty) embedded together in batches of "
           "1 to %zu: each as alone\n",
           n, nlong, n);
    assert_true(nlong > 0);
    free(ids);
    free(lens);
    free(alone);
    free(together);
}

static void test_goldens_from_text(void **state)
{
    (void)state;
    need_goldens();
    lore_err err;
    const spm *tok = use_tokenizer(model);
    float *v = malloc(USE_DIM * sizeof *v);
    int *ids = malloc(4096 * sizeof *ids);
    double min_cos = 2.0;
    size_t id_mismatch = 0;
    for (size_t i = 0; i < n_gold; i++) {
        size_t n = 0;
        assert_int_equal(spm_encode(tok, gold[i].text, gold[i].text_len, ids, 4096, &n, &err),
                         0);
        if (n != gold[i].n_ids || memcmp(ids, gold[i].ids, n * sizeof *ids) != 0)
            id_mismatch++;
        if (strlen(gold[i].text) == gold[i].text_len) {
            const char *t = gold[i].text;
            assert_int_equal(use_embed_texts(model, &t, 1, v, &err), 0);
        } else { /* a NUL byte: C strings cannot carry the text, its ids can */
            const int *p = ids;
            size_t len = n;
            assert_int_equal(use_embed_ids(model, &p, &len, 1, v, &err), 0);
        }
        if (gold[i].vector == NULL)
            continue;
        double c = cosine(v, gold[i].vector, USE_DIM);
        if (c < min_cos)
            min_cos = c;
        if (c < MIN_COSINE)
            fail_msg("golden %zu (\"%.60s\") from its text: cosine %.7f < %.4f", i, gold[i].text,
                     c, MIN_COSINE);
    }
    printf("[ use ] %zu goldens from text: min cosine %.9f, token id mismatches %zu\n", n_gold,
           min_cos, id_mismatch);
    assert_int_equal(id_mismatch, 0);
    free(v);
    free(ids);
}

static void test_bad_ids(void **state)
{
    (void)state;
    need_model();
    lore_err err;
    float v[USE_DIM];
    int bad[2] = {5, 1000000};
    const int *p = bad;
    size_t n = 2;
    assert_int_equal(use_embed_ids(model, &p, &n, 1, v, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "1000000"));
    bad[1] = -1;
    assert_int_equal(use_embed_ids(model, &p, &n, 1, v, &err), LORE_EINVAL);

    /* Ids past the cap are ignored, as by the graph. */
    int many[300];
    for (int i = 0; i < 300; i++)
        many[i] = 100 + i;
    float a[USE_DIM], b[USE_DIM];
    const int *q = many;
    size_t n1 = 300, n2 = USE_MAX_TOKENS;
    assert_int_equal(use_embed_ids(model, &q, &n1, 1, a, &err), 0);
    assert_int_equal(use_embed_ids(model, &q, &n2, 1, b, &err), 0);
    assert_memory_equal(a, b, sizeof a);
}

/* ---- the embedder kind ---- */

/* A "use" embedder over the model in dir. */
static embedder *open_use(const char *dir)
{
    char spec[1100];
    snprintf(spec, sizeof spec, "use:%s", dir);
    embedder *e = NULL;
    lore_err err;
    if (embed_open(spec, NULL, &e, &err) != 0)
        fail_msg("embed_open(%s): %s", spec, err.msg);
    return e;
}

static void test_embedder(void **state)
{
    (void)state;
    need_model();
    lore_err err;
    embedder *e = open_use(model_dir);
    assert_int_equal(embed_dim(e), USE_DIM);
    assert_true(strncmp(embed_id(e), "use:lite-", 9) == 0);
    assert_null(strchr(embed_id(e), '/')); /* the path is not part of the identity */

    /* A long chunk: heading path, blank line, many sentences (several windows). */
    static const char body[] =
        "To reset your password, open the sign-in page and choose Forgot password. We send a "
        "link to the email address on your account; it expires after one hour. If the email "
        "does not arrive, check the spam folder and make sure the address is the one you "
        "registered with. Accounts with two-factor authentication must also confirm the code "
        "from the authenticator app. Administrators can force a reset for any member of the "
        "workspace from the Members page, which signs that member out of every device. ";
    char *long_text = malloc(8192);
    snprintf(long_text, 8192, "Account > Security > Passwords\n\n%s%s%s", body, body, body);
    const char *texts[] = {"How do I reset my password?", "", "   \n\t", long_text,
                           "Billing\n\nInvoices are sent monthly."};
    float *v = malloc(5 * USE_DIM * sizeof *v);
    assert_int_equal(embed_texts(e, texts, 5, v, &err), 0);

    /* A short text: exactly the model's vector. */
    float ref[USE_DIM];
    assert_int_equal(use_embed_texts(model, texts, 1, ref, &err), 0);
    assert_true(cosine(v, ref, USE_DIM) > 0.999999);
    /* Nothing to embed: zero. */
    for (int j = 0; j < USE_DIM; j++) {
        assert_true(v[USE_DIM + j] == 0.0f);
        assert_true(v[2 * USE_DIM + j] == 0.0f);
    }
    /* Windows: unit length, close to the topic, and not just the head's vector. */
    assert_true(fabs(norm(v + 3 * USE_DIM, USE_DIM) - 1.0) < 1e-5);
    float head[USE_DIM];
    const char *lt = long_text;
    assert_int_equal(use_embed_texts(model, &lt, 1, head, &err), 0);
    double c_head = cosine(v + 3 * USE_DIM, head, USE_DIM);
    double c_q = cosine(v + 3 * USE_DIM, v, USE_DIM);
    double c_other = cosine(v + 3 * USE_DIM, v + 4 * USE_DIM, USE_DIM);
    printf("[ use ] long chunk: cos(windows, head) %.4f, cos(windows, query) %.4f, "
           "cos(windows, billing) %.4f\n",
           c_head, c_q, c_other);
    assert_true(c_head < 0.999999);
    assert_true(c_q > c_other);

    /* The query path: near the same vector for a short text; a blank one is zero and a long
     * one the mean of its windows, exactly as embed_texts gives them. */
    for (int t = 0; t < 4; t++) {
        float *q = NULL;
        assert_int_equal(embed_query(e, texts[t], &q, &err), 0);
        assert_non_null(q);
        if (t == 0)
            assert_true(cosine(q, v, USE_DIM) > QUERY_MIN_COSINE);
        else if (t == 3)
            assert_true(cosine(q, v + 3 * USE_DIM, USE_DIM) > 0.999999);
        else
            for (int j = 0; j < USE_DIM; j++)
                assert_true(q[j] == 0.0f);
        free(q);
    }
    /* embed_queries: each text's embed_query vector, bit for bit (short ones embedded
     * together, the blank and long ones on their own roads). */
    assert_true(embed_queries_together(e));
    float *qs = NULL;
    assert_int_equal(embed_queries(e, texts, 5, &qs, &err), 0);
    assert_non_null(qs);
    for (int t = 0; t < 5; t++) {
        float *q = NULL;
        assert_int_equal(embed_query(e, texts[t], &q, &err), 0);
        assert_memory_equal(qs + t * USE_DIM, q, USE_DIM * sizeof *q);
        free(q);
    }
    free(qs);

    /* "use" without a directory: $LORE_USE_MODEL_DIR; the same model, the same identity. */
    const char *saved = getenv("LORE_USE_MODEL_DIR");
    char *saved_copy = saved ? strdup(saved) : NULL;
    setenv("LORE_USE_MODEL_DIR", model_dir, 1);
    embedder *e2 = NULL;
    assert_int_equal(embed_open("use", NULL, &e2, &err), 0);
    assert_string_equal(embed_id(e2), embed_id(e));
    embed_close(e2);
    setenv("LORE_USE_MODEL_DIR", "/nonexistent/lore-use-model", 1);
    assert_int_not_equal(embed_open("use", NULL, &e2, &err), 0);
    assert_non_null(strstr(err.msg, "LORE_USE_MODEL_DIR"));
    assert_non_null(strstr(err.msg, "tools/fetch-model.sh"));
    if (saved_copy) {
        setenv("LORE_USE_MODEL_DIR", saved_copy, 1);
        free(saved_copy);
    } else {
        unsetenv("LORE_USE_MODEL_DIR");
    }

    /* The same texts through embed_texts_alloc. */
    float *w = NULL;
    assert_int_equal(embed_texts_alloc(e, texts, 5, &w, &err), 0);
    assert_memory_equal(v, w, 5 * USE_DIM * sizeof *v);
    free(w);
    embed_close(e);
    free(v);
    free(long_text);
}

/* embed_texts_windows: one vector per window. A short text's only window is its
 * embed_texts vector; a blank one has one zero window; a long chunk has several unit windows
 * whose normalised sum is its embed_texts vector; a text past EMBED_MAX_WINDOWS windows keeps
 * that many; more texts than one group (256) keep their order. */
static void test_embedder_windows(void **state)
{
    (void)state;
    need_model();
    lore_err err;
    embedder *e = open_use(model_dir);
    static const char body[] =
        "Mileage driven with a personal car is reimbursed per kilometre at the rate set by "
        "the finance team; submit the trip's start and end points with the date. Per diem "
        "rates depend on the destination country and cover meals and incidentals. Hotel "
        "receipts are uploaded with the expense report within thirty days of the trip. ";
    size_t cap = 200000;
    char *lng = malloc(cap), *huge = malloc(cap);
    snprintf(lng, cap, "Expenses > Travel\n\n%s%s%s%s", body, body, body, body);
    size_t at = (size_t)snprintf(huge, cap, "Expenses > Travel\n\n");
    while (at + sizeof body < cap)
        at += (size_t)snprintf(huge + at, cap - at, "%s", body);
    const char *texts[] = {"How are car trips reimbursed?", "  \n ", lng, huge};
    size_t nwin[4];
    float *w = NULL;
    assert_int_equal(embed_texts_windows(e, texts, 4, &w, nwin, &err), 0);
    assert_int_equal(nwin[0], 1);
    assert_int_equal(nwin[1], 1);
    assert_true(nwin[2] >= 2 && nwin[2] <= 8);
    assert_int_equal(nwin[3], EMBED_MAX_WINDOWS);
    float *one = malloc(3 * USE_DIM * sizeof *one);
    assert_int_equal(embed_texts(e, texts, 3, one, &err), 0);
    assert_true(cosine(w, one, USE_DIM) > 0.999999);
    for (int j = 0; j < USE_DIM; j++)
        assert_true(w[USE_DIM + j] == 0.0f);
    const float *lw = w + 2 * USE_DIM;
    float mean[USE_DIM] = {0};
    for (size_t k = 0; k < nwin[2]; k++) {
        assert_true(fabs(norm(lw + k * USE_DIM, USE_DIM) - 1.0) < 1e-4);
        for (int j = 0; j < USE_DIM; j++)
            mean[j] += lw[k * USE_DIM + j];
    }
    assert_true(cosine(mean, one + 2 * USE_DIM, USE_DIM) > 0.99999);
    /* The windows differ: each is its own passage. */
    assert_true(cosine(lw, lw + USE_DIM, USE_DIM) < 0.9999);
    free(w);

    /* 300 texts (two groups): the long one at 299 keeps its windows, in place. */
    enum { N = 300 };
    const char *many[N];
    for (size_t i = 0; i < N; i++)
        many[i] = i % 2 ? "Billing\n\nInvoices are sent monthly." : "Where is my refund?";
    many[N - 1] = lng;
    size_t mw[N];
    assert_int_equal(embed_texts_windows(e, many, N, &w, mw, &err), 0);
    size_t total = 0;
    for (size_t i = 0; i < N - 1; i++) {
        assert_int_equal(mw[i], 1);
        total++;
    }
    assert_int_equal(mw[N - 1], nwin[2]);
    float *again = NULL;
    size_t nw1 = 0;
    assert_int_equal(embed_texts_windows(e, &many[N - 1], 1, &again, &nw1, &err), 0);
    assert_int_equal(nw1, mw[N - 1]);
    for (size_t k = 0; k < nw1; k++)
        assert_true(cosine(w + (total + k) * USE_DIM, again + k * USE_DIM, USE_DIM) > 0.99999);
    /* Text 257 (second group) is the billing text: its own vector. */
    float bill[USE_DIM];
    assert_int_equal(embed_texts(e, &many[257], 1, bill, &err), 0);
    assert_true(cosine(w + 257 * USE_DIM, bill, USE_DIM) > 0.999999);
    free(again);
    free(w);
    free(one);
    free(lng);
    free(huge);
    embed_close(e);
}

/* Embedders of one model directory share one loaded model, kept alive by the last of them;
 * changed model files are loaded afresh. */
static void test_embedder_shares_model(void **state)
{
    (void)state;
    need_model();
    lore_err err;
    size_t base = embed_use_loaded_models();
    embedder *e1 = open_use(model_dir);
    assert_int_equal(embed_use_loaded_models(), base + 1);
    embedder *e2 = open_use(model_dir);
    assert_int_equal(embed_use_loaded_models(), base + 1);
    assert_string_equal(embed_id(e1), embed_id(e2));
    const char *text = "where do I find my invoices";
    float a[USE_DIM], b[USE_DIM];
    assert_int_equal(embed_texts(e2, &text, 1, a, &err), 0);
    embed_close(e1); /* the model stays for e2 */
    assert_int_equal(embed_use_loaded_models(), base + 1);
    assert_int_equal(embed_texts(e2, &text, 1, b, &err), 0);
    assert_memory_equal(a, b, sizeof a);
    embed_close(e2);
    assert_int_equal(embed_use_loaded_models(), base);

    /* A directory whose vocab.json is replaced (as a re-fetch does) is loaded again. */
    char dir[256], path[1200], target[1200];
    tu_mkdtemp("use-share", dir, sizeof dir);
    static const char *const files[] = {"model.json", "vocab.json", "group1-shard1of7",
                                        "group1-shard2of7", "group1-shard3of7",
                                        "group1-shard4of7", "group1-shard5of7",
                                        "group1-shard6of7", "group1-shard7of7"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        snprintf(target, sizeof target, "%s/%s", model_dir, files[i]);
        assert_int_equal(symlink(target, path), 0);
    }
    e1 = open_use(dir);
    assert_int_equal(embed_use_loaded_models(), base + 1);
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    size_t len = 0;
    char *vocab = tu_read_file(path, &len);
    assert_non_null(vocab);
    assert_int_equal(unlink(path), 0);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(vocab, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(vocab);
    e2 = open_use(dir);
    assert_int_equal(embed_use_loaded_models(), base + 2);
    assert_string_equal(embed_id(e1), embed_id(e2)); /* same content, same identity */
    embed_close(e1);
    embed_close(e2);
    assert_int_equal(embed_use_loaded_models(), base);
    tu_rm_rf(dir);
}

static void test_embedder_missing_dir(void **state)
{
    (void)state;
    lore_err err;
    embedder *e = NULL;
    assert_int_not_equal(embed_open("use:/nonexistent/lore-use-model", NULL, &e, &err), 0);
    assert_null(e);
    assert_non_null(strstr(err.msg, "/nonexistent/lore-use-model"));
    assert_non_null(strstr(err.msg, "tools/fetch-model.sh"));
}

/* The default directory: $LORE_USE_MODEL_DIR wins; without it the program (in a build
 * directory of the source tree) finds the source tree's models/use-lite from any working
 * directory. */
static void test_default_dir(void **state)
{
    (void)state;
    char *saved = getenv("LORE_USE_MODEL_DIR") ? strdup(getenv("LORE_USE_MODEL_DIR")) : NULL;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));

    setenv("LORE_USE_MODEL_DIR", "/somewhere/else", 1);
    char *d = use_default_dir();
    assert_string_equal(d, "/somewhere/else");
    free(d);

    unsetenv("LORE_USE_MODEL_DIR");
    assert_int_equal(chdir("/"), 0);
    d = use_default_dir();
    assert_non_null(d);
    printf("[ use ] default model dir from /: %s\n", d);
    char want[PATH_MAX], got[PATH_MAX];
    assert_non_null(realpath(model_dir, want));
    if (realpath(d, got) == NULL)
        fail_msg("default dir %s does not exist (model at %s)", d, want);
    assert_string_equal(got, want);
    free(d);
    assert_int_equal(chdir(cwd), 0);
    if (saved != NULL)
        setenv("LORE_USE_MODEL_DIR", saved, 1);
    free(saved);
}

/* Products of few rows (a query) and of many (a batch) take different code paths (use.c,
 * gemm); a text must get the same vector either way: each text of 1 to 40 tokens alone
 * against the same texts in one batch. */
static void test_few_rows_paths(void **state)
{
    (void)state;
    int ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = 100 + 37 * i;
    const int *p[40];
    size_t lens[40];
    float *batch = malloc(40 * USE_DIM * sizeof *batch), one[USE_DIM];
    assert_non_null(batch);
    for (int i = 0; i < 40; i++) {
        p[i] = ids;
        lens[i] = (size_t)i + 1;
    }
    lore_err err;
    assert_int_equal(use_embed_ids(model, p, lens, 40, batch, &err), 0);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(use_embed_ids(model, &p[i], &lens[i], 1, one, &err), 0);
        double c = cosine(one, batch + (size_t)i * USE_DIM, USE_DIM);
        if (c < 1.0 - 1e-6)
            fail_msg("%d tokens: alone vs in a batch cosine %.9f", i + 1, c);
    }
    free(batch);
}

/* A batch big enough for the "use" embedder to spread over threads (embed_use.c) gives each
 * text the vector it gets alone, in order. */
static void test_embedder_parallel(void **state)
{
    (void)state;
    need_model();
    lore_err err;
    embedder *e = open_use(model_dir);
    enum { N = 48 };
    char *texts[N];
    for (int i = 0; i < N; i++) {
        texts[i] = malloc(512);
        snprintf(texts[i], 512,
                 "Article %d\n\nStep %d of the set-up: open the settings page, pick the %d-th "
                 "option, confirm with the code we sent to your phone, and wait %d minutes for "
                 "the change to reach every device signed in to the workspace.",
                 i, i * 7, i + 3, i % 11);
    }
    float *all = malloc(N * USE_DIM * sizeof *all), one[USE_DIM];
    assert_int_equal(embed_texts(e, (const char *const *)texts, N, all, &err), 0);
    for (int i = 0; i < N; i++) {
        const char *t = texts[i];
        assert_int_equal(use_embed_texts(model, &t, 1, one, &err), 0);
        double c = cosine(one, all + (size_t)i * USE_DIM, USE_DIM);
        if (c < 1.0 - 1e-6)
            fail_msg("text %d: in a batch vs alone cosine %.9f", i, c);
    }
    for (int i = 0; i < N; i++)
        free(texts[i]);
    free(all);
    embed_close(e);
}

/* ---- errors: missing and corrupt files ---- */

static int copy_file(const char *from, const char *to, long truncate_to)
{
    size_t len = 0;
    char *buf = slurp(from, &len);
    if (buf == NULL)
        return -1;
    if (truncate_to >= 0 && (size_t)truncate_to < len)
        len = (size_t)truncate_to;
    FILE *f = fopen(to, "wb");
    int rc = (f && fwrite(buf, 1, len, f) == len) ? 0 : -1;
    if (f)
        fclose(f);
    free(buf);
    return rc;
}

/* The model in tmpdir/name: `victim` copied and truncated to `cut` bytes (-1: removed, -2:
 * copied whole), the other files symbolic links to the real ones. */
static void copy_model(const char *name, const char *victim, long cut, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
    assert_int_equal(mkdir(out, 0755), 0);
    static const char *const files[] = {
        "model.json",       "vocab.json",       "group1-shard1of7", "group1-shard2of7",
        "group1-shard3of7", "group1-shard4of7", "group1-shard5of7", "group1-shard6of7",
        "group1-shard7of7"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[1400], b[1400];
        snprintf(a, sizeof a, "%s/%s", model_dir, files[i]);
        snprintf(b, sizeof b, "%s/%s", out, files[i]);
        int is_victim = victim && strcmp(files[i], victim) == 0;
        if (is_victim && cut == -1)
            continue;
        if (!is_victim) {
            char abs[PATH_MAX];
            if (realpath(a, abs) == NULL || symlink(abs, b) != 0)
                fail_msg("cannot link %s to %s", b, a);
        } else if (copy_file(a, b, cut) != 0) {
            fail_msg("cannot copy %s to %s", a, b);
        }
    }
}

static void test_missing_dir(void **state)
{
    (void)state;
    lore_err err;
    use_model *m = NULL;
    assert_int_equal(use_load("/nonexistent/lore-use-model", &m, &err), LORE_ENOTFOUND);
    assert_null(m);
    printf("[ use ] missing dir: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "/nonexistent/lore-use-model"));
    assert_non_null(strstr(err.msg, "tools/fetch-model.sh"));
}

static void test_corrupt_files(void **state)
{
    (void)state;
    need_model();
    lore_err err;
    use_model *m = NULL;
    char dir[1100];

    copy_model("truncated-shard", "group1-shard3of7", 1000, dir, sizeof dir);
    assert_int_equal(use_load(dir, &m, &err), LORE_EINVAL);
    printf("[ use ] truncated shard: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "group1-shard3of7"));
    assert_non_null(strstr(err.msg, "tools/fetch-model.sh"));

    copy_model("truncated-last", "group1-shard7of7", 4096, dir, sizeof dir);
    assert_int_equal(use_load(dir, &m, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "group1-shard7of7"));

    copy_model("missing-shard", "group1-shard5of7", -1, dir, sizeof dir);
    assert_int_equal(use_load(dir, &m, &err), LORE_ENOTFOUND);
    printf("[ use ] missing shard: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "group1-shard5of7"));

    copy_model("truncated-json", "model.json", 5000, dir, sizeof dir);
    assert_int_equal(use_load(dir, &m, &err), LORE_EINVAL);
    printf("[ use ] truncated model.json: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "model.json"));

    copy_model("missing-vocab", "vocab.json", -1, dir, sizeof dir);
    assert_int_not_equal(use_load(dir, &m, &err), 0);
    printf("[ use ] missing vocab: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "vocab.json"));

    /* Garbage (NaN) bytes in a shard of the right size. */
    copy_model("nan-shard", "group1-shard2of7", -2, dir, sizeof dir);
    char shard[1200];
    snprintf(shard, sizeof shard, "%s/group1-shard2of7", dir);
    FILE *f = fopen(shard, "r+b");
    assert_non_null(f);
    static const unsigned char nan_bytes[16] = {0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f,
                                                0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f};
    fseek(f, 1 << 20, SEEK_SET);
    assert_int_equal(fwrite(nan_bytes, 1, sizeof nan_bytes, f), sizeof nan_bytes);
    fclose(f);
    assert_int_equal(use_load(dir, &m, &err), LORE_EINVAL);
    printf("[ use ] NaN in a shard: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "group1-shard2of7"));

    /* A graph that differs: a renamed node. */
    copy_model("other-graph", "model.json", -2, dir, sizeof dir);
    char json[1200];
    snprintf(json, sizeof json, "%s/model.json", dir);
    size_t len = 0;
    char *text = slurp(json, &len);
    assert_non_null(text);
    char *at = strstr(text, "FFN/conv1/Relu\"");
    assert_non_null(at);
    memcpy(at + strlen("FFN/conv1/"), "Gelu", 4);
    f = fopen(json, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    free(text);
    assert_int_equal(use_load(dir, &m, &err), LORE_EINVAL);
    printf("[ use ] changed graph: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "Relu"));
    assert_null(m);

    /* A convolution that is no longer VALID ("SALID": 'V' = 86 becomes 'S' = 83). */
    copy_model("other-padding", "model.json", -2, dir, sizeof dir);
    snprintf(json, sizeof json, "%s/model.json", dir);
    text = slurp(json, &len);
    assert_non_null(text);
    at = strstr(text, "\"padding\"");
    assert_non_null(at);
    at = strstr(at, "86");
    assert_non_null(at);
    memcpy(at, "83", 2);
    f = fopen(json, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    free(text);
    assert_int_equal(use_load(dir, &m, &err), LORE_EINVAL);
    printf("[ use ] changed padding: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "VALID"));
    assert_null(m);
}

/* ---- threads ---- */

typedef struct job {
    const int **ids;
    const size_t *lens;
    size_t n;
    int rounds;
    float *out;
    int rc;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    for (int r = 0; r < j->rounds && j->rc == 0; r++)
        j->rc = use_embed_ids(model, j->ids, j->lens, j->n, j->out, NULL);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    need_goldens();
    const int **ids = malloc(n_gold * sizeof *ids);
    size_t *lens = malloc(n_gold * sizeof *lens);
    for (size_t i = 0; i < n_gold; i++) {
        ids[i] = gold[i].ids;
        lens[i] = gold[i].n_ids;
    }
    float *ref = malloc(n_gold * USE_DIM * sizeof *ref);
    assert_int_equal(use_embed_ids(model, ids, lens, n_gold, ref, NULL), 0);
    job jobs[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (job){ids, lens, n_gold, 3, malloc(n_gold * USE_DIM * sizeof(float)), 0};
        assert_int_equal(pthread_create(&th[t], NULL, run_job, &jobs[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(jobs[t].rc, 0);
        assert_memory_equal(jobs[t].out, ref, n_gold * USE_DIM * sizeof *ref);
        free(jobs[t].out);
    }
    free(ref);
    free(ids);
    free(lens);
}

/* ---- speed (printed) ---- */

static const char *const chunk_sentences[] = {
    "Open Settings and choose Billing to see every invoice issued to your workspace.",
    "Refunds are processed within five business days and appear on the original card.",
    "If the export fails, check that the file is smaller than the upload limit of your plan.",
    "Two-factor authentication adds a second step when you sign in from a new device.",
    "Team owners can transfer ownership from the Members page at any time.",
    "The mobile app syncs your drafts when the device is back online.",
    "Webhooks retry failed deliveries with exponential backoff for up to a day.",
    "You can restore deleted projects from the trash for thirty days.",
};

typedef struct speed_job {
    const char *const *texts;
    size_t n;
    int rounds;
    float *out;
    int rc;
} speed_job;

static void *run_speed(void *arg)
{
    speed_job *j = arg;
    for (int r = 0; r < j->rounds && j->rc == 0; r++)
        j->rc = use_embed_texts(model, j->texts, j->n, j->out, NULL);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_speed(void **state)
{
    (void)state;
    need_model();
    lore_err err;
    /* 32 chunks of about 100-128 tokens each. */
    enum { NCHUNK = 32 };
    char *chunks[NCHUNK];
    size_t tokens = 0;
    int *ids = malloc(4096 * sizeof *ids);
    for (int i = 0; i < NCHUNK; i++) {
        chunks[i] = malloc(2048);
        size_t k = 0;
        for (int s = 0; s < 6; s++)
            k += (size_t)snprintf(chunks[i] + k, 2048 - k, "%s ",
                                  chunk_sentences[(i + s * 3) % 8]);
        size_t n = 0;
        assert_int_equal(spm_encode(use_tokenizer(model), chunks[i], strlen(chunks[i]), ids,
                                    4096, &n, &err),
                         0);
        tokens += n < USE_MAX_TOKENS ? n : USE_MAX_TOKENS;
    }
    const char *const *texts = (const char *const *)chunks;
    float *out = malloc(2 * NCHUNK * USE_DIM * sizeof *out);
    assert_int_equal(use_embed_texts(model, texts, NCHUNK, out, &err), 0); /* warm up */

    /* Single-query latency, 20 tokens. */
    const char *query = "how do I change the email address on my account if I can no "
                        "longer sign in to it?"; /* 20 tokens */
    size_t nq = 0;
    assert_int_equal(
        spm_encode(use_tokenizer(model), query, strlen(query), ids, 4096, &nq, &err), 0);
    enum { NQ = 200 };
    double lat[NQ];
    for (int i = 0; i < 20; i++)
        assert_int_equal(use_embed_texts(model, &query, 1, out, &err), 0);
    for (int i = 0; i < NQ; i++) {
        double t0 = now_s();
        assert_int_equal(use_embed_texts(model, &query, 1, out, &err), 0);
        lat[i] = (now_s() - t0) * 1e3;
    }
    qsort(lat, NQ, sizeof lat[0], cmp_double);
    printf("[ use ] query latency (%zu tokens): p50 %.3f ms, p99 %.3f ms\n", nq, lat[NQ / 2],
           lat[NQ * 99 / 100]);

    /* OpenBLAS runs a large sgemm on its own threads (as many as cores) unless told otherwise;
     * with several embedding threads that oversubscribes the cores. Both settings are shown
     * when the BLAS is OpenBLAS (looked up at run time: no link dependency). */
    int blas_default = blas_threads();
    for (int cfg = 0; cfg < 4; cfg++) {
        int threads = 1 + cfg % 2, blas = cfg < 2 ? blas_default : 1;
        if (cfg >= 2 && blas_default <= 1)
            break;
        if (blas >= 1)
            blas_set_threads(blas);
        int rounds = 1;
        double dt = 0;
        for (;;) {
            speed_job jobs[2];
            pthread_t th[2];
            double t0 = now_s();
            for (int t = 0; t < threads; t++) {
                jobs[t] = (speed_job){texts, NCHUNK, rounds, out + t * NCHUNK * USE_DIM, 0};
                assert_int_equal(pthread_create(&th[t], NULL, run_speed, &jobs[t]), 0);
            }
            for (int t = 0; t < threads; t++) {
                pthread_join(th[t], NULL);
                assert_int_equal(jobs[t].rc, 0);
            }
            dt = now_s() - t0;
            if (dt > 0.5 || rounds >= 64)
                break;
            rounds *= 2;
        }
        double chunks_done = (double)NCHUNK * rounds * threads;
        printf("[ use ] throughput, %d thread%s (BLAS threads %d): %.0f tokens/s, %.1f chunks/s "
               "(%.0f tokens per chunk, batches of %d)\n",
               threads, threads > 1 ? "s" : "", blas, (double)tokens * rounds * threads / dt,
               chunks_done / dt, (double)tokens / NCHUNK, NCHUNK);
    }
    if (blas_default > 0)
        blas_set_threads(blas_default);

    for (int i = 0; i < NCHUNK; i++)
        free(chunks[i]);
    free(out);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens_from_ids),
        cmocka_unit_test(test_query_path),
        cmocka_unit_test(test_queries_together),
        cmocka_unit_test(test_goldens_from_text),
        cmocka_unit_test(test_bad_ids),
        cmocka_unit_test(test_embedder),
        cmocka_unit_test(test_embedder_windows),
        cmocka_unit_test(test_embedder_shares_model),
        cmocka_unit_test(test_embedder_missing_dir),
        cmocka_unit_test(test_embedder_parallel),
        cmocka_unit_test(test_missing_dir),
        cmocka_unit_test(test_default_dir),
        cmocka_unit_test(test_few_rows_paths),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
