/* use: the Universal Sentence Encoder lite forward pass, written out in C.
 *
 * The architecture, as read from the package's model.json (TF.js graph, "KonaTransformer"):
 *
 *   input     sparse (indices [n,2] = (text, position), values [n] = token ids); positions
 *             >= ClipToMaxLength/Less/y (128) are dropped, so a text is its first 128 tokens.
 *   embed     E = Embeddings_en [8002, 256] gathered by id; the timing signal of position p is
 *             [sin(p * inv), cos(p * inv)] with inv = AddTimingSignal/.../ExpandDims_1 [1, 128];
 *             the stack's input is Layer_0/add = ScatterNd(E) + ScatterNd(GatherNd(E) + signal),
 *             i.e. 2 E + signal (the graph adds the embeddings twice; mirrored here).
 *   layer i   (2 layers; pre-norm transformer)
 *             a = LN(x)                          Mean/Sub/Square/Mean/Add eps/Rsqrt/Mul/Add
 *             r = x @ dense + b   (layer 0 only: AdjustResidualInput, 256 -> 512) else r = x
 *             q,k,v = split(a @ qkv + b)         Conv2D 1x1 [1,1,d,3d'], SplitV [d',d',d']
 *             heads: 4; q *= mul/y (1/sqrt(head dim)); softmax(q k^T + pad bias) v
 *             h = r + concat(heads) @ out + b    Conv2D 1x1 [1,1,d',512]
 *             x = h + relu(LN(h) @ conv1 + b1) @ conv2 + b2      (FFN 512 -> 1536 -> 512)
 *             layer 0: d = d' = 256 (head dim 64); layer 1: d = d' = 512 (head dim 128).
 *   pool      mean over the text's tokens (no final layer norm); a text of no tokens gives 0
 *   output    tanh(pool @ tanh_layer_0/weights + bias), L2-normalised (eps 1e-12): 512 floats.
 *
 * Every weight is located by the name the graph's nodes give it and checked against the
 * manifest's dtype and shape; every scalar (head count, head size, split sizes, scales,
 * epsilons, the length cap) is read from the weights the graph's nodes take as inputs; and
 * the dataflow the code relies on is checked node by node. A model that differs gets an error
 * naming the node or weight, never a silently wrong vector.
 *
 * Weights: the manifest lists each group's weights in order, packed back to back in the
 * group's shards (concatenated in manifest order). A weight may straddle two shards, so each
 * group's shards are mapped read-only at consecutive addresses of one reserved range (mmap
 * MAP_FIXED); when a shard boundary is not page-aligned the group is read into memory instead.
 *
 * Computation: all tokens of a batch are stacked into one matrix (no padding), so every dense
 * layer is one sgemm over the batch; attention runs per text and head (small sgemms). Texts
 * therefore need no grouping by length. Products of few rows (queries) use a copy of each
 * dense matrix cut into column slabs (20 MB more memory, built at load) and a small
 * AVX-512 / AVX2 kernel over them (see gemm).
 *
 * Threads: scratch is allocated per call and the model is never written after use_load, so
 * calls from many threads may run at once. OpenBLAS runs a large sgemm on threads of its own
 * (as many as cores, unless OPENBLAS_NUM_THREADS or openblas_set_num_threads says otherwise):
 * good for one indexing thread on idle cores, oversubscribing when several threads embed at
 * once or other processes use the cores (then much slower than 1 thread: see
 * blas_set_threads in blas.h; the "use" embedder sets 1 and runs batches on threads of its own).
 * The few-row (query) path runs on the calling thread only. */
#include "use.h"

#include <assert.h>
#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define FETCH_HINT "fetch the model with tools/fetch-model.sh"
#define NB 512 /* name buffers */

#define MAX_LAYERS 8
#define MAX_GROUPS 8
/* Tokens per forward pass: bounds scratch memory (about 20 KB per token) while keeping the
 * sgemms large enough to run near peak. A text is never split across passes. */
#define BATCH_TOKENS 512
/* Slab width of the copies used for few-row products (see gemm), and OpenBLAS's bound on
 * rows * cols * depth for its unpacked small-matrix kernels (0.3.21, Skylake-X family). */
#define SLAB 32
#define SMALL_GEMM_WORK 1000000.0
/* Slab width of the bf16 copies (see slab_bf16): four AVX-512 registers of sums a row. */
#define BSLAB 64

/* Name prefixes of the graph. */
#define K "module_apply_default/Encoder_en/KonaTransformer/"
#define TS K "Encode/TransformerStack/"
#define HID "module_apply_default/Encoder_en/hidden_layers/"
#define ATS TS "Layer_0/AddTimingSignal/"
#define SIG ATS "TimingSignal/"
/* Per-layer prefixes: '#' stands for the layer number (see lname). */
#define TL TS "Layer_#/TransformerLayer/"
#define MHA TL "MultiheadAttention/"
#define FFN TL "FFN/"

/* A weight matrix [rows, cols] (row-major, in the mapped shards) and, for products of few
 * rows, the same matrix cut into column slabs stored one after the other (see gemm). */
typedef struct dense {
    const float *w;
    const float *slabs; /* cols / SLAB slabs of [rows, SLAB] (the last may be narrower) */
    /* For queries on CPUs with AVX512-BF16 (see gemm_bf16), else NULL: the slabs in bf16,
     * rows taken in pairs, each pair's two values of a column side by side. */
    const uint16_t *bslabs;
    int rows, cols;
} dense;

typedef struct use_layer {
    int d_in;    /* width of the layer's input */
    int d_att;   /* width of q, k, v (heads * head size) */
    int d_out;   /* width of the layer's output (residual stream) */
    int n_heads, d_head, d_ff;
    float eps1, eps2, q_scale;
    const float *ln1_g, *ln1_b;  /* [d_in] */
    dense res;                   /* [d_in, d_out]; w NULL when the residual is x */
    const float *res_b;          /* [d_out] */
    dense qkv;                   /* [d_in, 3 d_att] */
    const float *qkv_b;          /* [3 d_att] */
    dense out;                   /* [d_att, d_out] */
    const float *out_b;          /* [d_out] */
    const float *ln2_g, *ln2_b;  /* [d_out] */
    dense ff1;                   /* [d_out, d_ff] */
    const float *ff1_b;          /* [d_ff] */
    dense ff2;                   /* [d_ff, d_out] */
    const float *ff2_b;          /* [d_out] */
} use_layer;

typedef struct region {
    void *base;
    size_t len;  /* bytes reserved (mmap) or allocated */
    size_t used; /* bytes of weights */
    int mapped;  /* 1: munmap; 0: free */
} region;

struct use_model {
    spm *tok;
    region regions[MAX_GROUPS];
    int n_regions;

    int n_vocab, d_emb, max_tokens, n_layers, dim;
    float emb_mult;       /* 2: see Layer_0/add above */
    const float *emb;     /* [n_vocab, d_emb] */
    const float *inv_ts;  /* [d_emb / 2] */
    float *timing;        /* [max_tokens, d_emb]: the timing signal of each position, made
                           * once at load (sinf and cosf per value were 5% of a query) */
    use_layer layers[MAX_LAYERS];
    dense hid;            /* [dim, dim] */
    const float *hid_b;   /* [dim] */
    float *slab_arena;    /* all dense.slabs */
    uint16_t *bslab_arena; /* all dense.bslabs; NULL without AVX512-BF16 */
    int max_depth;        /* the most rows of any dense matrix */
    float l2_eps;
    /* widest buffers any layer needs, in floats per token */
    int w_x, w_qkv, w_att, w_ff;
    uint64_t fingerprint;
};

/* ---- load context: first error wins, later checks are skipped ---- */

typedef struct wentry {
    const char *name; /* points into the parsed model.json */
    int is_f32;       /* else int32 */
    int ndim;
    long shape[8];
    size_t count;
    const void *data;
    size_t off;       /* byte offset in the group's concatenated shards */
    int group;
} wentry;

typedef struct gnode {
    const char *name;
    const char *op;
    const cJSON *inputs; /* array of strings or NULL */
    const cJSON *attr;
} gnode;

typedef struct loadctx {
    const char *dir;
    const char *json_path;
    cJSON *root;
    gnode *nodes;
    size_t n_nodes;
    wentry *w;
    size_t n_w;
    char **shard_paths; /* flattened over groups, for messages */
    size_t n_shard_paths;
    int group_first_shard[MAX_GROUPS];
    size_t group_shard_size[MAX_GROUPS]; /* size of all shards but the last; 0: one shard */
    lore_err *err;
    int rc;
} loadctx;

static int fail(loadctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(loadctx *c, int code, const char *fmt, ...)
{
    if (c->rc != 0)
        return c->rc;
    c->rc = code;
    if (c->err != NULL) {
        char msg[900];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        lore_errf(c->err, code, "use: %s", msg);
    }
    return code;
}

/* The graph differs from the one this code mirrors. */
static int mismatch(loadctx *c, const char *what, const char *name)
{
    return fail(c, LORE_EINVAL,
                "%s does not match the USE-lite graph this build implements: %s (%.300s); "
                "%s",
                c->json_path, what, name, FETCH_HINT);
}

static char *path_join(const char *dir, const char *file)
{
    size_t a = strlen(dir), b = strlen(file);
    char *p = malloc(a + b + 2);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, file, b + 1);
    return p;
}

static int read_whole(loadctx *c, const char *path, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (errno == ENOENT)
            return fail(c, LORE_ENOTFOUND, "%s not found: %s", path, FETCH_HINT);
        return fail(c, LORE_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return fail(c, LORE_EIO, "%s is not a regular file: %s", path, FETCH_HINT);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (buf == NULL) {
        fclose(f);
        return fail(c, LORE_ENOMEM, "out of memory reading %s", path);
    }
    if (n > 0 && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return fail(c, LORE_EIO, "cannot read %s", path);
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* ---- graph ---- */

static int cmp_node(const void *a, const void *b)
{
    return strcmp(((const gnode *)a)->name, ((const gnode *)b)->name);
}

static int index_graph(loadctx *c)
{
    const cJSON *topo = cJSON_GetObjectItemCaseSensitive(c->root, "modelTopology");
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(topo, "node");
    if (!cJSON_IsArray(nodes))
        return fail(c, LORE_EINVAL, "%s has no modelTopology.node array: it is not a TF.js "
                    "graph model; %s", c->json_path, FETCH_HINT);
    size_t n = (size_t)cJSON_GetArraySize(nodes);
    c->nodes = calloc(n ? n : 1, sizeof *c->nodes);
    if (c->nodes == NULL)
        return fail(c, LORE_ENOMEM, "out of memory indexing %s", c->json_path);
    const cJSON *it;
    size_t k = 0;
    cJSON_ArrayForEach(it, nodes)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(it, "op");
        if (!cJSON_IsString(name) || !cJSON_IsString(op))
            return fail(c, LORE_EINVAL, "%s: a graph node has no name or op; %s", c->json_path,
                        FETCH_HINT);
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(it, "input");
        c->nodes[k].name = name->valuestring;
        c->nodes[k].op = op->valuestring;
        c->nodes[k].inputs = cJSON_IsArray(in) ? in : NULL;
        c->nodes[k].attr = cJSON_GetObjectItemCaseSensitive(it, "attr");
        k++;
    }
    c->n_nodes = k;
    qsort(c->nodes, k, sizeof *c->nodes, cmp_node);
    return 0;
}

static const gnode *find_node(const loadctx *c, const char *name)
{
    gnode key = {name, NULL, NULL, NULL};
    return bsearch(&key, c->nodes, c->n_nodes, sizeof key, cmp_node);
}

static int node_nin(const gnode *n)
{
    return n->inputs ? cJSON_GetArraySize(n->inputs) : 0;
}

static const char *node_in(const gnode *n, int i)
{
    const cJSON *s = n->inputs ? cJSON_GetArrayItem(n->inputs, i) : NULL;
    return cJSON_IsString(s) ? s->valuestring : "";
}

/* The node `name` must exist with op `op` and at least `nin` inputs. */
static const gnode *expect_node(loadctx *c, const char *name, const char *op, int nin)
{
    if (c->rc != 0)
        return NULL;
    const gnode *n = find_node(c, name);
    if (n == NULL) {
        mismatch(c, "missing node", name);
        return NULL;
    }
    if (strcmp(n->op, op) != 0) {
        char what[128];
        snprintf(what, sizeof what, "node is %.40s, expected %.40s", n->op, op);
        mismatch(c, what, name);
        return NULL;
    }
    if (node_nin(n) < nin) {
        mismatch(c, "node has too few inputs", name);
        return NULL;
    }
    return n;
}

/* Input i of node `name` (op `op`) must be `want`. */
static void expect_input(loadctx *c, const char *name, const char *op, int i, const char *want)
{
    const gnode *n = expect_node(c, name, op, i + 1);
    if (n == NULL)
        return;
    if (strcmp(node_in(n, i), want) != 0) {
        char what[640];
        snprintf(what, sizeof what, "input %d is %.250s, expected %.250s", i, node_in(n, i),
                 want);
        mismatch(c, what, name);
    }
}

/* Input i of node `name` (op `op`) must end with `suffix`. */
static void expect_input_suffix(loadctx *c, const char *name, const char *op, int i,
                                const char *suffix)
{
    const gnode *n = expect_node(c, name, op, i + 1);
    if (n == NULL)
        return;
    const char *in = node_in(n, i);
    size_t a = strlen(in), b = strlen(suffix);
    if (a < b || strcmp(in + a - b, suffix) != 0) {
        char what[640];
        snprintf(what, sizeof what, "input %d is %.250s, expected a name ending %.250s", i, in,
                 suffix);
        mismatch(c, what, name);
    }
}

/* Input i of node `name`, which must exist with op `op`; "" after an error. */
static const char *input_of(loadctx *c, const char *name, const char *op, int i)
{
    const gnode *n = expect_node(c, name, op, i + 1);
    return n ? node_in(n, i) : "";
}

/* Whether string attribute `key` of node n is absent (dflt_ok) or equals want. TF.js writes
 * string attributes as an array of byte values or as base64. */
static int attr_is(const gnode *n, const char *key, const char *want, int dflt_ok)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(n->attr, key);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(a, "s");
    if (s == NULL)
        return dflt_ok;
    size_t wl = strlen(want);
    if (cJSON_IsArray(s)) {
        if ((size_t)cJSON_GetArraySize(s) != wl)
            return 0;
        size_t i = 0;
        const cJSON *b;
        cJSON_ArrayForEach(b, s)
        {
            if (!cJSON_IsNumber(b) || b->valueint != (unsigned char)want[i++])
                return 0;
        }
        return 1;
    }
    if (!cJSON_IsString(s))
        return 0;
    if (strcmp(s->valuestring, want) == 0)
        return 1;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char enc[64];
    size_t k = 0;
    for (size_t i = 0; i < wl && k + 5 < sizeof enc; i += 3) {
        unsigned v = (unsigned char)want[i] << 16;
        if (i + 1 < wl)
            v |= (unsigned char)want[i + 1] << 8;
        if (i + 2 < wl)
            v |= (unsigned char)want[i + 2];
        enc[k++] = b64[(v >> 18) & 63];
        enc[k++] = b64[(v >> 12) & 63];
        enc[k++] = i + 1 < wl ? b64[(v >> 6) & 63] : '=';
        enc[k++] = i + 2 < wl ? b64[v & 63] : '=';
    }
    enc[k] = '\0';
    return strcmp(s->valuestring, enc) == 0;
}

static int attr_bool(const gnode *n, const char *key, int dflt)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(n->attr, key);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(a, "b");
    if (b == NULL)
        return dflt;
    return cJSON_IsTrue(b);
}

/* buf = a followed by b (cut to cap). */
static const char *cat2(char *buf, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la >= cap)
        la = cap - 1;
    if (lb >= cap - la)
        lb = cap - la - 1;
    memcpy(buf, a, la);
    memcpy(buf + la, b, lb);
    buf[la + lb] = '\0';
    return buf;
}

/* A Conv2D the code may run as a matrix product (with its [1, 1, in, out] kernel). */
static int conv_1x1(const gnode *n)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(n->attr, "strides");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(st, "list");
    const cJSON *is = cJSON_GetObjectItemCaseSensitive(list, "i");
    const cJSON *v;
    cJSON_ArrayForEach(v, is)
    {
        if (!(cJSON_IsString(v) && strcmp(v->valuestring, "1") == 0) &&
            !(cJSON_IsNumber(v) && v->valuedouble == 1))
            return 0;
    }
    return attr_is(n, "padding", "VALID", 1) && attr_is(n, "data_format", "NHWC", 1);
}

/* Layer-indexed names: '#' becomes the layer number. */
static const char *lname(char *buf, size_t cap, const char *pat, int layer)
{
    size_t k = 0;
    for (const char *p = pat; *p && k + 4 < cap; p++) {
        if (*p == '#') {
            k += (size_t)snprintf(buf + k, cap - k, "%d", layer);
        } else {
            buf[k++] = *p;
        }
    }
    buf[k] = '\0';
    return buf;
}

/* buf (NB chars) = lname of pre + mid + post. */
static const char *lpart(char *buf, const char *pre, const char *mid, const char *post, int layer)
{
    char a[NB], b[NB];
    cat2(a, NB, pre, mid);
    cat2(b, NB, a, post);
    return lname(buf, NB, b, layer);
}

/* ---- weights ---- */

static const wentry *find_weight(const loadctx *c, const char *name)
{
    for (size_t i = 0; i < c->n_w; i++)
        if (strcmp(c->w[i].name, name) == 0)
            return &c->w[i];
    return NULL;
}

/* The shard holding byte `at` of weight w. */
static const char *weight_shard(const loadctx *c, const wentry *w, size_t at)
{
    size_t ss = c->group_shard_size[w->group];
    size_t k = (size_t)c->group_first_shard[w->group] + (ss ? (w->off + at) / ss : 0);
    return k < c->n_shard_paths ? c->shard_paths[k] : "?";
}

/* A float32 weight of exactly the given shape (ndim dims; a dim of -1 matches any and is
 * written back through dims). */
static const float *weight_f32(loadctx *c, const char *name, int ndim, long *dims)
{
    if (c->rc != 0)
        return NULL;
    const wentry *w = find_weight(c, name);
    if (w == NULL) {
        mismatch(c, "weight missing from the manifest", name);
        return NULL;
    }
    int ok = w->is_f32 && w->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = dims[i] < 0 || dims[i] == w->shape[i];
    if (!ok) {
        char what[256];
        size_t k = (size_t)snprintf(what, sizeof what, "weight is %s [",
                                    w->is_f32 ? "float32" : "int32");
        for (int i = 0; i < w->ndim && k < 200; i++)
            k += (size_t)snprintf(what + k, sizeof what - k, "%s%ld", i ? "," : "", w->shape[i]);
        k += (size_t)snprintf(what + k, sizeof what - k, "], expected float32 [");
        for (int i = 0; i < ndim && k < 240; i++)
            k += (size_t)snprintf(what + k, sizeof what - k, "%s%ld", i ? "," : "", dims[i]);
        snprintf(what + k, sizeof what - k, "]");
        mismatch(c, what, name);
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        dims[i] = w->shape[i];
    return w->data;
}

static const float *weight_vec(loadctx *c, const char *name, long n)
{
    long d[1] = {n};
    return weight_f32(c, name, 1, d);
}

static const float *weight_mat(loadctx *c, const char *name, long rows, long cols)
{
    long d[2] = {rows, cols};
    return weight_f32(c, name, 2, d);
}

static float scalar_f32(loadctx *c, const char *name)
{
    const float *v = weight_f32(c, name, 0, NULL);
    return v ? v[0] : 0.0f;
}

/* The int32 constant `name` with `n` elements (n = 0: a scalar). */
static const int32_t *const_i32(loadctx *c, const char *name, long n)
{
    if (c->rc != 0)
        return NULL;
    const wentry *w = find_weight(c, name);
    if (w == NULL) {
        mismatch(c, "constant missing from the manifest", name);
        return NULL;
    }
    if (w->is_f32 || (n == 0 ? w->ndim != 0 : (w->ndim != 1 || w->shape[0] != n))) {
        mismatch(c, "constant has an unexpected type or shape", name);
        return NULL;
    }
    return w->data;
}

static int scalar_i32(loadctx *c, const char *name)
{
    const int32_t *v = const_i32(c, name, 0);
    return v ? (int)v[0] : 0;
}

/* Maps (or reads) one group's shards at consecutive addresses. */
static int map_group(loadctx *c, use_model *m, const cJSON *paths, size_t need, int g)
{
    int np = cJSON_GetArraySize(paths);
    if (np == 0)
        return fail(c, LORE_EINVAL, "%s: a weight group lists no shard files; %s", c->json_path,
                    FETCH_HINT);
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        page = 4096;
    size_t *sizes = calloc((size_t)np + 1, sizeof *sizes);
    if (sizes == NULL)
        return fail(c, LORE_ENOMEM, "out of memory loading the model");
    size_t total = 0, common = 0;
    int aligned = 1;
    for (int i = 0; i < np; i++) {
        const char *p = c->shard_paths[c->group_first_shard[g] + i];
        struct stat st;
        if (stat(p, &st) != 0) {
            free(sizes);
            if (errno == ENOENT)
                return fail(c, LORE_ENOTFOUND, "weight shard %s not found: %s", p, FETCH_HINT);
            return fail(c, LORE_EIO, "cannot stat weight shard %s: %s", p, strerror(errno));
        }
        sizes[i] = (size_t)st.st_size;
        if (i + 1 < np) {
            if (sizes[i] > common)
                common = sizes[i];
            c->group_shard_size[g] = common;
            if (sizes[i] % (size_t)page != 0)
                aligned = 0;
        }
        total += sizes[i];
    }
    if (total != need) {
        /* TF.js writes equal shards but the last: name the one that is off. */
        int bad = np - 1;
        size_t want = need >= common * (size_t)(np - 1) ? need - common * (size_t)(np - 1) : 0;
        for (int i = 0; i + 1 < np; i++)
            if (sizes[i] != common) {
                bad = i;
                want = common;
                break;
            }
        const char *p = c->shard_paths[c->group_first_shard[g] + bad];
        size_t have = sizes[bad];
        free(sizes);
        return fail(c, LORE_EINVAL,
                    "weight shard %s is %zu bytes, expected %zu (the manifest's weights total "
                    "%zu bytes in %d shards, the shards hold %zu): the file is truncated or "
                    "corrupt; %s",
                    p, have, want, need, np, total, FETCH_HINT);
    }

    region *r = &m->regions[m->n_regions];
    size_t span = (total + (size_t)page - 1) / (size_t)page * (size_t)page;
    if (span == 0)
        span = (size_t)page;
    int rc = 0;
    if (aligned) {
        void *base = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED)
            aligned = 0;
        else {
            r->base = base;
            r->len = span;
            r->used = total;
            r->mapped = 1;
            m->n_regions++;
            size_t off = 0;
            for (int i = 0; i < np && rc == 0; i++) {
                const char *p = c->shard_paths[c->group_first_shard[g] + i];
                if (sizes[i] == 0)
                    continue;
                int fd = open(p, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                    rc = fail(c, LORE_EIO, "cannot open weight shard %s: %s", p, strerror(errno));
                    break;
                }
                void *at = mmap((char *)base + off, sizes[i], PROT_READ, MAP_PRIVATE | MAP_FIXED,
                                fd, 0);
                close(fd);
                if (at == MAP_FAILED)
                    rc = fail(c, LORE_EIO, "cannot map weight shard %s: %s", p, strerror(errno));
                off += sizes[i];
            }
        }
    }
    if (!aligned && rc == 0) {
        char *buf = malloc(total ? total : 1);
        if (buf == NULL) {
            free(sizes);
            return fail(c, LORE_ENOMEM, "out of memory for %zu bytes of weights", total);
        }
        r->base = buf;
        r->len = total;
        r->used = total;
        r->mapped = 0;
        m->n_regions++;
        size_t off = 0;
        for (int i = 0; i < np && rc == 0; i++) {
            const char *p = c->shard_paths[c->group_first_shard[g] + i];
            FILE *f = fopen(p, "rb");
            if (f == NULL || fread(buf + off, 1, sizes[i], f) != sizes[i])
                rc = fail(c, LORE_EIO, "cannot read weight shard %s", p);
            if (f)
                fclose(f);
            off += sizes[i];
        }
    }
    free(sizes);
    return rc;
}

static int parse_manifest(loadctx *c, use_model *m)
{
    const cJSON *man = cJSON_GetObjectItemCaseSensitive(c->root, "weightsManifest");
    if (!cJSON_IsArray(man) || cJSON_GetArraySize(man) == 0)
        return fail(c, LORE_EINVAL, "%s has no weightsManifest: %s", c->json_path, FETCH_HINT);
    if (cJSON_GetArraySize(man) > MAX_GROUPS)
        return fail(c, LORE_EINVAL, "%s has more than %d weight groups", c->json_path,
                    MAX_GROUPS);

    /* Count weights and shard paths. */
    size_t nw = 0, nsp = 0;
    const cJSON *grp;
    cJSON_ArrayForEach(grp, man)
    {
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(grp, "weights");
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(grp, "paths");
        if (!cJSON_IsArray(ws) || !cJSON_IsArray(ps))
            return fail(c, LORE_EINVAL, "%s: a weightsManifest group lacks weights or paths; %s",
                        c->json_path, FETCH_HINT);
        nw += (size_t)cJSON_GetArraySize(ws);
        nsp += (size_t)cJSON_GetArraySize(ps);
    }
    c->w = calloc(nw ? nw : 1, sizeof *c->w);
    c->shard_paths = calloc(nsp ? nsp : 1, sizeof *c->shard_paths);
    if (c->w == NULL || c->shard_paths == NULL)
        return fail(c, LORE_ENOMEM, "out of memory reading %s", c->json_path);

    int g = 0;
    cJSON_ArrayForEach(grp, man)
    {
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(grp, "weights");
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(grp, "paths");
        c->group_first_shard[g] = (int)c->n_shard_paths;
        const cJSON *p;
        cJSON_ArrayForEach(p, ps)
        {
            if (!cJSON_IsString(p) || strstr(p->valuestring, "..") != NULL ||
                p->valuestring[0] == '/')
                return fail(c, LORE_EINVAL, "%s: bad shard path in weightsManifest",
                            c->json_path);
            char *full = path_join(c->dir, p->valuestring);
            if (full == NULL)
                return fail(c, LORE_ENOMEM, "out of memory reading %s", c->json_path);
            c->shard_paths[c->n_shard_paths++] = full;
        }

        /* Offsets of the weights within the group, in manifest order. */
        size_t first = c->n_w, off = 0;
        const cJSON *w;
        cJSON_ArrayForEach(w, ws)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(w, "name");
            const cJSON *shape = cJSON_GetObjectItemCaseSensitive(w, "shape");
            const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(w, "dtype");
            if (!cJSON_IsString(name) || !cJSON_IsArray(shape) || !cJSON_IsString(dtype))
                return fail(c, LORE_EINVAL, "%s: a manifest weight lacks name, shape or dtype",
                            c->json_path);
            if (cJSON_GetObjectItemCaseSensitive(w, "quantization") != NULL)
                return fail(c, LORE_EINVAL, "%s: weight %.200s is quantized, which this build "
                            "does not read; %s", c->json_path, name->valuestring, FETCH_HINT);
            wentry *e = &c->w[c->n_w++];
            e->name = name->valuestring;
            e->group = g;
            if (strcmp(dtype->valuestring, "float32") == 0)
                e->is_f32 = 1;
            else if (strcmp(dtype->valuestring, "int32") == 0)
                e->is_f32 = 0;
            else
                return fail(c, LORE_EINVAL, "%s: weight %.200s has dtype %.20s (float32 or "
                            "int32 expected)", c->json_path, e->name, dtype->valuestring);
            e->ndim = cJSON_GetArraySize(shape);
            if (e->ndim > 8)
                return fail(c, LORE_EINVAL, "%s: weight %.200s has too many dims",
                            c->json_path, e->name);
            e->count = 1;
            for (int i = 0; i < e->ndim; i++) {
                const cJSON *d = cJSON_GetArrayItem(shape, i);
                if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e9)
                    return fail(c, LORE_EINVAL, "%s: weight %.200s has a bad shape",
                                c->json_path, e->name);
                e->shape[i] = (long)d->valuedouble;
                e->count *= (size_t)e->shape[i];
            }
            if (e->count > ((size_t)1 << 32))
                return fail(c, LORE_EINVAL, "%s: weight %.200s is too large", c->json_path,
                            e->name);
            e->off = off;
            off += e->count * 4;
        }

        if (map_group(c, m, ps, off, g) != 0)
            return c->rc;

        /* Offsets become pointers. */
        region *r = &m->regions[m->n_regions - 1];
        for (size_t i = first; i < c->n_w; i++)
            c->w[i].data = (const char *)r->base + c->w[i].off;
        g++;
    }
    return 0;
}

/* Rejects weights holding NaN or infinity: the bytes are not the model's. */
static int check_finite(loadctx *c)
{
    for (size_t i = 0; i < c->n_w; i++) {
        const wentry *w = &c->w[i];
        if (!w->is_f32)
            continue;
        const float *v = w->data;
        int bad = 0;
        for (size_t j = 0; j < w->count; j++)
            bad |= !isfinite(v[j]);
        if (!bad)
            continue;
        size_t j = 0;
        while (isfinite(v[j]))
            j++;
        return fail(c, LORE_EINVAL,
                    "%s holds a non-finite value (weight %.200s, element %zu): the file is "
                    "corrupt; %s",
                    weight_shard(c, w, j * 4), w->name, j, FETCH_HINT);
    }
    return 0;
}

/* ---- architecture: read and check ---- */

/* Checks a layer norm built as Mean/Sub/Square/Mean/Add/Rsqrt/Mul/Mul/Add over the last axis
 * of node `x`; sets its scale, bias and epsilon (width d). `pre` is the name prefix up to
 * ".../layer_norm/". */
static void read_layer_norm(loadctx *c, const char *pre, const char *x, long d, const float **g,
                            const float **b, float *eps)
{
    char n1[512], n2[512];
    snprintf(n1, sizeof n1, "%sMean", pre);
    expect_input(c, n1, "Mean", 0, x);
    const gnode *mean = find_node(c, n1);
    if (mean && !attr_bool(mean, "keep_dims", 0))
        mismatch(c, "layer norm mean does not keep dims", n1);
    const int32_t *axis = const_i32(c, input_of(c, n1, "Mean", 1), 1);
    if (axis && axis[0] != -1)
        mismatch(c, "layer norm is not over the last axis", n1);
    snprintf(n2, sizeof n2, "%ssub_1", pre);
    expect_input(c, n2, "Sub", 0, x);
    expect_input(c, n2, "Sub", 1, n1);
    snprintf(n1, sizeof n1, "%sSquare", pre);
    expect_input(c, n1, "Square", 0, n2);
    snprintf(n2, sizeof n2, "%sMean_1", pre);
    expect_input(c, n2, "Mean", 0, n1);
    snprintf(n1, sizeof n1, "%sadd", pre);
    expect_input(c, n1, "Add", 0, n2);
    *eps = scalar_f32(c, input_of(c, n1, "Add", 1));
    snprintf(n2, sizeof n2, "%sRsqrt", pre);
    expect_input(c, n2, "Rsqrt", 0, n1);
    snprintf(n1, sizeof n1, "%smul", pre);
    expect_input(c, n1, "Mul", 1, n2);
    *g = weight_vec(c, input_of(c, n1, "Mul", 0), d);
    snprintf(n2, sizeof n2, "%smul_1", pre);
    expect_input(c, n2, "Mul", 0, n1);
    char sub[512];
    snprintf(sub, sizeof sub, "%ssub_1", pre);
    expect_input(c, n2, "Mul", 1, sub);
    snprintf(n1, sizeof n1, "%sadd_1", pre);
    expect_input(c, n1, "Add", 0, n2);
    *b = weight_vec(c, input_of(c, n1, "Add", 1), d);
    if (c->rc == 0 && !(*eps > 0.0f && *eps < 1e-2f))
        mismatch(c, "layer norm epsilon out of range", pre);
}


static void read_layer(loadctx *c, use_model *m, int i, const char *x_in, long d_in)
{
    use_layer *L = &m->layers[i];
    char a[NB], b[NB], pre[NB];
    L->d_in = (int)d_in;

    /* Attention block: LN(x) -> qkv */
    read_layer_norm(c, lname(pre, NB, TL "layer_prepostprocess/layer_norm/", i),
                    x_in, d_in, &L->ln1_g, &L->ln1_b, &L->eps1);
    lname(a, NB, MHA "ExpandDims", i);
    lname(b, NB, TL "layer_prepostprocess/layer_norm/add_1", i);
    expect_input(c, a, "ExpandDims", 0, b);
    lname(b, NB, MHA "qkv_transform_single/Conv2D", i);
    expect_input(c, b, "Conv2D", 0, a);
    const gnode *conv = expect_node(c, b, "Conv2D", 2);
    if (conv && !conv_1x1(conv))
        mismatch(c, "qkv convolution is not a VALID NHWC 1x1 convolution", b);
    long qkv_dims[4] = {1, 1, d_in, -1};
    L->qkv.w = weight_f32(c, input_of(c, b, "Conv2D", 1), 4, qkv_dims);
    long d3 = qkv_dims[3];
    lname(a, NB, MHA "qkv_transform_single/BiasAdd", i);
    expect_input(c, a, "BiasAdd", 0, b);
    L->qkv_b = weight_vec(c, input_of(c, a, "BiasAdd", 1), d3);
    lname(b, NB, MHA "Squeeze", i);
    expect_input(c, b, "Squeeze", 0, a);
    lname(a, NB, MHA "split", i);
    expect_input(c, a, "SplitV", 0, b);
    const int32_t *split = const_i32(c, input_of(c, a, "SplitV", 1), 3);
    if (split && !(split[0] == split[1] && split[1] == split[2] && 3L * split[0] == d3))
        mismatch(c, "q, k, v are not equal thirds of the qkv projection", a);
    L->d_att = split ? split[0] : 0;
    int axis = scalar_i32(c, input_of(c, a, "SplitV", 2));
    if (c->rc == 0 && axis != 2 && axis != -1)
        mismatch(c, "qkv split is not over the last axis", a);

    /* Heads: Reshape [batch, len, heads, head size] then Transpose [0,2,1,3]. */
    static const char *const parts[3] = {"split_heads", "split_heads_1", "split_heads_2"};
    for (int p = 0; p < 3; p++) {
        char sh[NB], src[NB + 4];
        lpart(sh, MHA, parts[p], "/split_last_dimension/Reshape/shape", i);
        int heads = scalar_i32(c, input_of(c, sh, "Pack", 2));
        int hs = scalar_i32(c, input_of(c, sh, "Pack", 3));
        if (p == 0) {
            L->n_heads = heads;
            L->d_head = hs;
        } else if (c->rc == 0 && (heads != L->n_heads || hs != L->d_head)) {
            mismatch(c, "q, k and v have different head shapes", sh);
        }
        snprintf(src, sizeof src, "%s%s", a, p == 0 ? "" : (p == 1 ? ":1" : ":2"));
        lpart(b, MHA, parts[p], "/split_last_dimension/Reshape", i);
        expect_input(c, b, "Reshape", 0, src);
        expect_input(c, b, "Reshape", 1, sh);
        lpart(sh, MHA, parts[p], "/transpose", i);
        expect_input(c, sh, "Transpose", 0, b);
        const int32_t *perm = const_i32(c, input_of(c, sh, "Transpose", 1), 4);
        if (perm && !(perm[0] == 0 && perm[1] == 2 && perm[2] == 1 && perm[3] == 3))
            mismatch(c, "unexpected head transpose", sh);
    }
    if (c->rc == 0 && (L->n_heads <= 0 || L->d_head <= 0 || L->n_heads * L->d_head != L->d_att))
        mismatch(c, "heads times head size is not the attention width", a);

    /* Scores: (q * scale) k^T + padding bias, softmax, times v. */
    lname(a, NB, MHA "mul", i);
    lname(b, NB, MHA "split_heads/transpose", i);
    expect_input(c, a, "Mul", 0, b);
    L->q_scale = scalar_f32(c, input_of(c, a, "Mul", 1));
    lname(pre, NB, MHA "DotProductAttention/BaseDotProductAttention/", i);
    cat2(b, NB, pre, "MatMul");
    expect_input(c, b, "BatchMatMul", 0, a);
    lname(a, NB, MHA "split_heads_1/transpose", i);
    expect_input(c, b, "BatchMatMul", 1, a);
    const gnode *bmm = expect_node(c, b, "BatchMatMul", 2);
    if (bmm && (attr_bool(bmm, "adj_x", 0) || !attr_bool(bmm, "adj_y", 0)))
        mismatch(c, "attention scores are not q k^T", b);
    cat2(a, NB, pre, "add");
    expect_input(c, a, "Add", 0, b);
    /* The padding bias (-1e9 on absent tokens) is shared by the layers; here every text is
     * attended over its own tokens only, which is what the bias achieves. */
    expect_input_suffix(c, a, "Add", 1, "/attention_bias_ignore_padding/ExpandDims_1");
    cat2(b, NB, pre, "Reshape");
    expect_input(c, b, "Reshape", 0, a);
    cat2(a, NB, pre, "Softmax");
    expect_input(c, a, "Softmax", 0, b);
    cat2(b, NB, pre, "attention_weights");
    expect_input(c, b, "Reshape", 0, a);
    cat2(a, NB, pre, "MatMul_1");
    expect_input(c, a, "BatchMatMul", 0, b);
    lname(b, NB, MHA "split_heads_2/transpose", i);
    expect_input(c, a, "BatchMatMul", 1, b);
    bmm = expect_node(c, a, "BatchMatMul", 2);
    if (bmm && (attr_bool(bmm, "adj_x", 0) || attr_bool(bmm, "adj_y", 0)))
        mismatch(c, "attention output is not weights v", a);
    lname(b, NB, MHA "combine_heads/transpose", i);
    expect_input(c, b, "Transpose", 0, a);
    lname(a, NB, MHA "combine_heads/combine_last_two_dimensions/Reshape", i);
    expect_input(c, a, "Reshape", 0, b);
    lname(b, NB, MHA "ExpandDims_1", i);
    expect_input(c, b, "ExpandDims", 0, a);
    lname(a, NB, MHA "output_transform_single/Conv2D", i);
    expect_input(c, a, "Conv2D", 0, b);
    conv = expect_node(c, a, "Conv2D", 2);
    if (conv && !conv_1x1(conv))
        mismatch(c, "output convolution is not a VALID NHWC 1x1 convolution", a);
    long out_dims[4] = {1, 1, L->d_att, -1};
    L->out.w = weight_f32(c, input_of(c, a, "Conv2D", 1), 4, out_dims);
    L->d_out = (int)out_dims[3];
    lname(b, NB, MHA "output_transform_single/BiasAdd", i);
    expect_input(c, b, "BiasAdd", 0, a);
    L->out_b = weight_vec(c, input_of(c, b, "BiasAdd", 1), L->d_out);
    lname(a, NB, MHA "Squeeze_1", i);
    expect_input(c, a, "Squeeze", 0, b);

    /* Residual: the input itself, or a dense projection of it (AdjustResidualInput). */
    lname(b, NB, TL "layer_postprocess/add", i);
    expect_input(c, b, "Add", 0, a);
    char res[NB];
    lname(res, NB, TL "AdjustResidualInput/Scatter/ScatterNd", i);
    const char *r_in = input_of(c, b, "Add", 1);
    if (c->rc == 0 && strcmp(r_in, res) == 0) {
        lname(a, NB, TL "AdjustResidualInput/Gather/GatherNd", i);
        expect_input(c, a, "GatherNd", 0, x_in);
        lname(pre, NB, TL "AdjustResidualInput/dense/MatMul", i);
        expect_input(c, pre, "MatMul", 0, a);
        const gnode *mm = expect_node(c, pre, "MatMul", 2);
        if (mm && (attr_bool(mm, "transpose_a", 0) || attr_bool(mm, "transpose_b", 0)))
            mismatch(c, "residual projection is transposed", pre);
        L->res.w = weight_mat(c, input_of(c, pre, "MatMul", 1), d_in, L->d_out);
        lname(a, NB, TL "AdjustResidualInput/dense/BiasAdd", i);
        expect_input(c, a, "BiasAdd", 0, pre);
        L->res_b = weight_vec(c, input_of(c, a, "BiasAdd", 1), L->d_out);
        expect_input(c, res, "ScatterNd", 1, a);
    } else if (c->rc == 0) {
        expect_input(c, b, "Add", 1, x_in);
        if (c->rc == 0 && d_in != L->d_out)
            mismatch(c, "residual without projection changes width", b);
    }

    /* FFN: x + conv2(relu(conv1(LN(x)))) over the text's tokens (Gather/Scatter). */
    char x2[NB];
    lname(x2, NB, TL "layer_postprocess/add", i);
    read_layer_norm(c, lname(pre, NB, FFN "layer_prepostprocess/layer_norm/", i),
                    x2, L->d_out, &L->ln2_g, &L->ln2_b, &L->eps2);
    lname(a, NB, FFN "Gather/GatherNd", i);
    lname(b, NB, FFN "layer_prepostprocess/layer_norm/add_1", i);
    expect_input(c, a, "GatherNd", 0, b);
    lname(b, NB, FFN "ExpandDims", i);
    expect_input(c, b, "ExpandDims", 0, a);
    lname(a, NB, FFN "conv1/Tensordot/Reshape", i);
    expect_input(c, a, "Reshape", 0, b);
    static const char *const convs[2] = {"conv1", "conv2"};
    for (int k = 0; k < 2; k++) {
        lpart(a, FFN, convs[k], "/Tensordot/MatMul", i);
        lpart(b, FFN, convs[k], "/Tensordot/Reshape", i);
        expect_input(c, a, "MatMul", 0, b);
        const gnode *mm = expect_node(c, a, "MatMul", 2);
        if (mm && (attr_bool(mm, "transpose_a", 0) || attr_bool(mm, "transpose_b", 0)))
            mismatch(c, "FFN matmul is transposed", a);
        long dims[2] = {k == 0 ? L->d_out : L->d_ff, k == 0 ? -1 : L->d_out};
        const float *w = weight_f32(c, input_of(c, a, "MatMul", 1), 2, dims);
        if (k == 0) {
            L->ff1.w = w;
            L->d_ff = (int)dims[1];
        } else {
            L->ff2.w = w;
        }
        lpart(b, FFN, convs[k], "/Tensordot", i);
        expect_input(c, b, "Reshape", 0, a);
        lpart(a, FFN, convs[k], "/BiasAdd", i);
        expect_input(c, a, "BiasAdd", 0, b);
        long nb = k == 0 ? L->d_ff : L->d_out;
        const float *bias = weight_vec(c, input_of(c, a, "BiasAdd", 1), nb);
        if (k == 0)
            L->ff1_b = bias;
        else
            L->ff2_b = bias;
    }
    lname(a, NB, FFN "conv1/Relu", i);
    lname(b, NB, FFN "conv1/BiasAdd", i);
    expect_input(c, a, "Relu", 0, b);
    lname(b, NB, FFN "conv2/Tensordot/Reshape", i);
    expect_input(c, b, "Reshape", 0, a);
    lname(a, NB, FFN "Squeeze", i);
    lname(b, NB, FFN "conv2/BiasAdd", i);
    expect_input(c, a, "Squeeze", 0, b);
    lname(b, NB, FFN "Scatter/ScatterNd", i);
    expect_input(c, b, "ScatterNd", 1, a);
    lname(a, NB, FFN "layer_postprocess/add", i);
    expect_input(c, a, "Add", 0, b);
    expect_input(c, a, "Add", 1, x2);
}

static void read_architecture(loadctx *c, use_model *m)
{
    /* Input: the length cap and the embedding table. */
    expect_node(c, "indices", "Placeholder", 0);
    expect_node(c, "values", "Placeholder", 0);
    expect_input(c, K "ClipToMaxLength/Less", "Less", 0, K "ClipToMaxLength/strided_slice");
    m->max_tokens = scalar_i32(c, input_of(c, K "ClipToMaxLength/Less", "Less", 1));
    if (c->rc == 0 && m->max_tokens != USE_MAX_TOKENS)
        mismatch(c, "the length cap is not USE_MAX_TOKENS", K "ClipToMaxLength/Less/y");
    expect_input(c, K "Encode/embedding_lookup", "GatherV2", 1, K "ClipToMaxLength/GatherV2_1");
    expect_input(c, K "ClipToMaxLength/GatherV2_1", "GatherV2", 0, "values");
    long ed[2] = {-1, -1};
    m->emb = weight_f32(c, input_of(c, K "Encode/embedding_lookup", "GatherV2", 0), 2, ed);
    m->n_vocab = (int)ed[0];
    m->d_emb = (int)ed[1];
    expect_input(c, K "Encode/Scatter/ScatterNd", "ScatterNd", 1, K "Encode/embedding_lookup");

    /* Timing signal [sin(p inv), cos(p inv)] added to the embeddings; the stack's input adds
     * the scattered embeddings once more: 2 E + signal. */
    expect_input(c, SIG "mul_2", "Mul", 0, SIG "ExpandDims");
    expect_input(c, SIG "ExpandDims", "ExpandDims", 0, SIG "ToFloat_2");
    expect_input(c, SIG "ToFloat_2", "Cast", 0, ATS "strided_slice_2");
    expect_input_suffix(c, ATS "strided_slice_2", "StridedSlice", 0, "/StoreMask/Where");
    long td[2] = {1, m->d_emb / 2};
    m->inv_ts = weight_f32(c, input_of(c, SIG "mul_2", "Mul", 1), 2, td);
    if (c->rc == 0 && m->d_emb % 2 != 0)
        mismatch(c, "odd embedding width", SIG "mul_2");
    expect_input(c, SIG "Sin", "Sin", 0, SIG "mul_2");
    expect_input(c, SIG "Cos", "Cos", 0, SIG "mul_2");
    expect_input(c, SIG "concat", "ConcatV2", 0, SIG "Sin");
    expect_input(c, SIG "concat", "ConcatV2", 1, SIG "Cos");
    int cat_axis = scalar_i32(c, input_of(c, SIG "concat", "ConcatV2", 2));
    if (c->rc == 0 && cat_axis != 1 && cat_axis != -1)
        mismatch(c, "timing signal concatenation axis", SIG "concat");
    expect_input(c, ATS "Gather/GatherNd", "GatherNd", 0, K "Encode/Scatter/ScatterNd");
    expect_input(c, ATS "add", "Add", 0, ATS "Gather/GatherNd");
    expect_input(c, ATS "add", "Add", 1, SIG "concat");
    expect_input(c, ATS "Scatter/ScatterNd", "ScatterNd", 1, ATS "add");
    expect_input(c, TS "Layer_0/add", "Add", 0, K "Encode/Scatter/ScatterNd");
    expect_input(c, TS "Layer_0/add", "Add", 1, ATS "Scatter/ScatterNd");
    m->emb_mult = 2.0f;

    /* Layers: as many as the graph chains. */
    char x[NB], probe[NB];
    snprintf(x, NB, "%s", TS "Layer_0/add");
    long d = m->d_emb;
    int n = 0;
    while (c->rc == 0) {
        lname(probe, NB, FFN "layer_postprocess/add", n);
        if (find_node(c, probe) == NULL)
            break;
        if (n == MAX_LAYERS) {
            mismatch(c, "too many layers", probe);
            break;
        }
        read_layer(c, m, n, x, d);
        d = m->layers[n].d_out;
        snprintf(x, NB, "%s", probe);
        n++;
    }
    if (c->rc == 0 && n == 0)
        mismatch(c, "no transformer layer", TS "Layer_0");
    m->n_layers = n;
    m->dim = (int)d;

    /* Mean over the text's tokens, tanh layer, L2 normalisation. */
    expect_input(c, K "mul", "Mul", 0, x);
    expect_input(c, K "mul", "Mul", 1, K "ExpandDims");
    expect_input(c, K "ExpandDims", "ExpandDims", 0, K "ToFloat");
    expect_input(c, K "ToFloat", "Cast", 0, K "SequenceMask/Less");
    expect_input(c, K "Sum", "Sum", 0, K "mul");
    expect_input(c, K "div", "RealDiv", 0, K "Sum");
    expect_input(c, K "div", "RealDiv", 1, K "ExpandDims_1");
    expect_input(c, K "ExpandDims_1", "ExpandDims", 0, K "ToFloat_1");
    expect_input(c, K "ToFloat_1", "Cast", 0, K "Maximum");
    expect_input(c, K "Maximum", "Maximum", 0, TS "MaskLength/Sum");
    expect_input(c, HID "tanh_layer_0/MatMul", "MatMul", 0, K "div");
    m->hid.w = weight_mat(c, input_of(c, HID "tanh_layer_0/MatMul", "MatMul", 1), d, -1);
    const wentry *hw = find_weight(c, input_of(c, HID "tanh_layer_0/MatMul", "MatMul", 1));
    if (hw && hw->ndim == 2)
        m->dim = (int)hw->shape[1];
    expect_input(c, HID "tanh_layer_0/BiasAdd", "BiasAdd", 0, HID "tanh_layer_0/MatMul");
    m->hid_b = weight_vec(c, input_of(c, HID "tanh_layer_0/BiasAdd", "BiasAdd", 1), m->dim);
    expect_input(c, HID "tanh_layer_0/Tanh", "Tanh", 0, HID "tanh_layer_0/BiasAdd");
    expect_input(c, HID "l2_normalize/Square", "Square", 0, HID "tanh_layer_0/Tanh");
    expect_input(c, HID "l2_normalize/Sum", "Sum", 0, HID "l2_normalize/Square");
    expect_input(c, HID "l2_normalize/Maximum", "Maximum", 0, HID "l2_normalize/Sum");
    m->l2_eps = scalar_f32(c, input_of(c, HID "l2_normalize/Maximum", "Maximum", 1));
    expect_input(c, HID "l2_normalize/Rsqrt", "Rsqrt", 0, HID "l2_normalize/Maximum");
    expect_input(c, HID "l2_normalize", "Mul", 0, HID "tanh_layer_0/Tanh");
    expect_input(c, HID "l2_normalize", "Mul", 1, HID "l2_normalize/Rsqrt");
    if (c->rc == 0 && m->dim != USE_DIM)
        mismatch(c, "output width is not USE_DIM", HID "tanh_layer_0/weights");

    /* Widest per-token buffers. */
    m->w_x = m->d_emb;
    for (int i = 0; i < m->n_layers; i++) {
        const use_layer *L = &m->layers[i];
        if (L->d_out > m->w_x)
            m->w_x = L->d_out;
        if (3 * L->d_att > m->w_qkv)
            m->w_qkv = 3 * L->d_att;
        if (L->d_att > m->w_att)
            m->w_att = L->d_att;
        if (L->d_ff > m->w_ff)
            m->w_ff = L->d_ff;
    }
}

static void set_dense(dense *d, int rows, int cols)
{
    d->rows = rows;
    d->cols = cols;
}

static size_t slab_floats(const dense *d)
{
    return d->w ? (size_t)d->rows * (size_t)d->cols : 0;
}

static int bf16_usable(void);

static void fill_slabs(dense *d, float *dst)
{
    for (int j = 0; j < d->cols; j += SLAB) {
        int wj = d->cols - j < SLAB ? d->cols - j : SLAB;
        float *s = dst + (size_t)j * d->rows;
        for (int r = 0; r < d->rows; r++)
            memcpy(s + (size_t)r * wj, d->w + (size_t)r * d->cols + j, (size_t)wj * sizeof *s);
    }
    d->slabs = dst;
}

/* bf16 of f, rounded to nearest even (f is finite: check_finite ran). */
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Element (2p + t, j + c) of d lands at slab j, pair p, column c, half t. */
static void fill_bslabs(dense *d, uint16_t *dst)
{
    for (int j = 0; j < d->cols; j += BSLAB) {
        uint16_t *s = dst + (size_t)j * d->rows;
        for (int p = 0; p < d->rows / 2; p++)
            for (int c = 0; c < BSLAB; c++)
                for (int t = 0; t < 2; t++)
                    s[(size_t)p * 2 * BSLAB + 2 * c + t] =
                        to_bf16(d->w[(size_t)(2 * p + t) * d->cols + j + c]);
    }
    d->bslabs = dst;
}

/* Records the matrices' shapes and builds their slab copies (one arena). */
static int build_slabs(use_model *m)
{
    dense *all[4 * MAX_LAYERS + 1 + MAX_LAYERS];
    int k = 0;
    for (int i = 0; i < m->n_layers; i++) {
        use_layer *L = &m->layers[i];
        set_dense(&L->res, L->d_in, L->d_out);
        set_dense(&L->qkv, L->d_in, 3 * L->d_att);
        set_dense(&L->out, L->d_att, L->d_out);
        set_dense(&L->ff1, L->d_out, L->d_ff);
        set_dense(&L->ff2, L->d_ff, L->d_out);
        all[k++] = &L->res;
        all[k++] = &L->qkv;
        all[k++] = &L->out;
        all[k++] = &L->ff1;
        all[k++] = &L->ff2;
    }
    set_dense(&m->hid, m->layers[m->n_layers - 1].d_out, m->dim);
    all[k++] = &m->hid;
    size_t total = 0;
    for (int i = 0; i < k; i++)
        total += slab_floats(all[i]);
    m->slab_arena = malloc(total * sizeof(float));
    if (m->slab_arena == NULL)
        return LORE_ENOMEM;
    float *p = m->slab_arena;
    for (int i = 0; i < k; i++) {
        if (all[i]->w == NULL)
            continue;
        fill_slabs(all[i], p);
        p += slab_floats(all[i]);
        if (all[i]->rows > m->max_depth)
            m->max_depth = all[i]->rows;
    }
    if (!bf16_usable())
        return 0;
    /* Half the bytes again (10 MB for this model); only whole slabs of even depth. */
    m->bslab_arena = malloc(total * sizeof(uint16_t));
    if (m->bslab_arena == NULL)
        return LORE_ENOMEM;
    uint16_t *b = m->bslab_arena;
    for (int i = 0; i < k; i++) {
        if (all[i]->w == NULL || all[i]->cols % BSLAB != 0 || all[i]->rows % 2 != 0)
            continue;
        fill_bslabs(all[i], b);
        b += slab_floats(all[i]);
    }
    return 0;
}

/* The values forward() used to compute per token: [sin(p inv), cos(p inv)] for each p. */
static int build_timing(use_model *m)
{
    int de = m->d_emb, half = de / 2;
    m->timing = malloc((size_t)m->max_tokens * (size_t)de * sizeof(float));
    if (m->timing == NULL)
        return LORE_ENOMEM;
    for (int p = 0; p < m->max_tokens; p++) {
        float *t = m->timing + (size_t)p * (size_t)de;
        for (int j = 0; j < half; j++) {
            float ang = (float)p * m->inv_ts[j];
            t[j] = sinf(ang);
            t[half + j] = cosf(ang);
        }
    }
    return 0;
}

static uint64_t fingerprint(const use_model *m, const char *vocab, size_t vlen)
{
    XXH64_state_t *st = XXH64_createState();
    if (st == NULL)
        return 0;
    XXH64_reset(st, 0x7573652d6c697465ull); /* "use-lite" */
    for (int i = 0; i < m->n_regions; i++)
        XXH64_update(st, m->regions[i].base, m->regions[i].used);
    XXH64_update(st, vocab, vlen);
    uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
    return h;
}

static void free_regions(use_model *m)
{
    for (int i = 0; i < m->n_regions; i++) {
        if (m->regions[i].mapped)
            munmap(m->regions[i].base, m->regions[i].len);
        else
            free(m->regions[i].base);
    }
    m->n_regions = 0;
}

int use_load(const char *dir, use_model **out, lore_err *err)
{
    assert(out != NULL);
    *out = NULL;
    loadctx c;
    memset(&c, 0, sizeof c);
    c.dir = dir;
    c.err = err;
    if (dir == NULL || dir[0] == '\0')
        return fail(&c, LORE_EINVAL, "no model directory given: %s", FETCH_HINT);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(&c, LORE_ENOTFOUND,
                    "model directory %s not found (it should hold model.json, its weight "
                    "shards and vocab.json): %s",
                    dir, FETCH_HINT);

    use_model *m = calloc(1, sizeof *m);
    char *json_path = path_join(dir, "model.json");
    char *vocab_path = path_join(dir, "vocab.json");
    char *text = NULL, *vocab = NULL;
    size_t len = 0, vlen = 0;
    if (m == NULL || json_path == NULL || vocab_path == NULL) {
        fail(&c, LORE_ENOMEM, "out of memory loading the model");
        goto done;
    }
    c.json_path = json_path;
    if (read_whole(&c, json_path, &text, &len) != 0)
        goto done;
    c.root = cJSON_ParseWithLength(text, len);
    if (c.root == NULL) {
        fail(&c, LORE_EINVAL, "%s is not valid JSON: the file is truncated or corrupt; %s",
             json_path, FETCH_HINT);
        goto done;
    }
    if (index_graph(&c) != 0 || parse_manifest(&c, m) != 0)
        goto done;
    read_architecture(&c, m);
    if (c.rc != 0 || check_finite(&c) != 0)
        goto done;
    if (build_slabs(m) != 0 || build_timing(m) != 0) {
        fail(&c, LORE_ENOMEM, "out of memory for the model's weights");
        goto done;
    }

    if (read_whole(&c, vocab_path, &vocab, &vlen) != 0)
        goto done;
    lore_err serr;
    lore_err_clear(&serr);
    int rc = spm_load(vocab_path, &m->tok, &serr);
    if (rc != 0) {
        fail(&c, rc, "%s: %s; %s", vocab_path, serr.msg, FETCH_HINT);
        goto done;
    }
    if (spm_vocab_size(m->tok) > (size_t)m->n_vocab) {
        fail(&c, LORE_EINVAL, "%s has %zu pieces but the embedding table only %d rows; %s",
             vocab_path, spm_vocab_size(m->tok), m->n_vocab, FETCH_HINT);
        goto done;
    }
    m->fingerprint = fingerprint(m, vocab, vlen);

done:
    cJSON_Delete(c.root);
    free(text);
    free(vocab);
    free(c.nodes);
    free(c.w);
    for (size_t i = 0; i < c.n_shard_paths; i++)
        free(c.shard_paths[i]);
    free(c.shard_paths);
    free(json_path);
    free(vocab_path);
    if (c.rc != 0) {
        use_free(m);
        return c.rc;
    }
    *out = m;
    return 0;
}

void use_free(use_model *m)
{
    if (m == NULL)
        return;
    spm_free(m->tok);
    free(m->slab_arena);
    free(m->bslab_arena);
    free(m->timing);
    free_regions(m);
    free(m);
}

const spm *use_tokenizer(const use_model *m)
{
    return m->tok;
}

uint64_t use_fingerprint(const use_model *m)
{
    return m->fingerprint;
}

/* ---- forward pass ---- */

typedef struct scratch {
    float *x, *h, *a, *qkv, *ctx, *ff, *s, *pool, *pool_ff;
    uint32_t *xb; /* a query pass's bf16 pairs of one gemm's input; NULL: products in fp32 */
    /* 1: a pass of queries of at most FEW_ROWS tokens each (use_embed_queries_ids), whose
     * token products take the bf16 path at any row count, as each query alone would. */
    int short_queries;
} scratch;

/* y[r] = LN(x[r]) over d columns, for n rows. */
static void layer_norm(const float *x, float *y, size_t n, int d, const float *g, const float *b,
                       float eps)
{
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * (size_t)d;
        float *yr = y + r * (size_t)d;
        double sum = 0.0;
        for (int j = 0; j < d; j++)
            sum += xr[j];
        float mean = (float)(sum / d);
        double ss = 0.0;
        for (int j = 0; j < d; j++) {
            float t = xr[j] - mean;
            ss += (double)t * t;
        }
        float inv = (float)(1.0 / sqrt(ss / d + (double)eps));
        for (int j = 0; j < d; j++)
            yr[j] = g[j] * inv * (xr[j] - mean) + b[j];
    }
}

static void fill_bias(float *y, size_t n, int d, const float *b)
{
    for (size_t r = 0; r < n; r++)
        memcpy(y + r * (size_t)d, b, (size_t)d * sizeof *b);
}

static void add_bias(float *y, size_t n, int d, const float *b)
{
    for (size_t r = 0; r < n; r++) {
        float *yr = y + r * (size_t)d;
        for (int j = 0; j < d; j++)
            yr[j] += b[j];
    }
}

/* ---- Few-row products over the slab copies.
 *
 * OpenBLAS packs both operands of every sgemm into its own layout first; for the few rows of
 * a query that copy of the weights costs about as much as the product (measured: a third of
 * a query's time on this project's machine, where OpenBLAS 0.3.21 picks its Haswell kernels
 * and has no pack-free path). The slab copies are already laid out the way a kernel reads
 * them (SLAB contiguous columns a row), so the product runs straight over them: per slab,
 * blocks of R rows of x keep R x SLAB sums in vector registers across the whole depth. It is
 * compiled for AVX-512 and for AVX2+FMA and picked at run time; without either (or for a
 * narrower last slab) the product goes to OpenBLAS as before. GCC vector extensions keep
 * the code free of intrinsics; unaligned loads go through memcpy.
 *
 * The sums stay in registers only if GCC unrolls the loops over rows and vectors (the
 * pragmas): at -O2 it does not, and then every multiply-add loads and stores its sum on the
 * stack, which made a 20-token query 3.2-3.4 ms instead of 1.4-1.6 ms (CPU time, this
 * project's 2-core AMD EPYC). Each kernel uses vectors of its own width (v16f for AVX-512,
 * v8f for AVX2): 64-byte vectors on AVX2 are split by GCC through the stack.
 *
 * The slabs stay fp32. bf16 slabs (upper halves, rounded to nearest even; widened in
 * registers) halve the bytes streamed and took a query from 1.5 to 1.2 ms, with a golden
 * cosine of at least 0.99996 against the reference; but a text embedded alone then differs
 * from the same text in a batch (fp32 sgemm) by cosine 1.4e-5, where the tests hold the two
 * paths to 1e-6. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define USE_KERNELS 1
#include <immintrin.h>
typedef float v16f __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));

#define KERNEL_BODY(V, R)                                                                    \
    do {                                                                                     \
        enum { NV = SLAB * (int)sizeof(float) / (int)sizeof(V) };                            \
        V acc[R][NV];                                                                        \
        _Pragma("GCC unroll 8") for (int r = 0; r < (R); r++)                                \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                             \
                acc[r][v] = (V){0};                                                          \
        for (int k = 0; k < depth; k++) {                                                    \
            V wv[NV];                                                                        \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                             \
                memcpy(&wv[v], w + (size_t)k * SLAB + v * (SLAB / NV), sizeof(V));           \
            _Pragma("GCC unroll 8") for (int r = 0; r < (R); r++) {                          \
                float xv = x[(size_t)r * depth + k];                                         \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                         \
                    acc[r][v] += wv[v] * xv;                                                 \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < (R); r++) {                              \
            V yv[NV];                                                                        \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {                           \
                float *yp = y + (size_t)r * ldy + v * (SLAB / NV);                           \
                memcpy(&yv[v], yp, sizeof(V));                                               \
                yv[v] += acc[r][v];                                                          \
                memcpy(yp, &yv[v], sizeof(V));                                               \
            }                                                                                \
        }                                                                                    \
    } while (0)

/* y[n, SLAB] (row stride ldy) += x[n, depth] @ w[depth, SLAB], w contiguous, with V the
 * kernel's vector type. AVX-512 has 32 vector registers: 6 rows x 2 registers of sums (12
 * rows x 2 measured no faster). */
/* fp-contract: the file is compiled as ISO C, where GCC does not fuse a * b + c by default;
 * the kernels want one FMA per multiply-add. */
#define KERNEL_ATTR(isa) __attribute__((target(isa), optimize("fp-contract=fast")))

KERNEL_ATTR("avx512f,fma") static void slab_avx512(const float *x, const float *w, float *y,
                                                   int n, int depth, int ldy)
{
    int r0 = 0;
    for (; r0 + 6 <= n; r0 += 6, x += (size_t)6 * depth, y += (size_t)6 * ldy)
        KERNEL_BODY(v16f, 6);
    switch (n - r0) {
    case 5: KERNEL_BODY(v16f, 5); break;
    case 4: KERNEL_BODY(v16f, 4); break;
    case 3: KERNEL_BODY(v16f, 3); break;
    case 2: KERNEL_BODY(v16f, 2); break;
    case 1: KERNEL_BODY(v16f, 1); break;
    default: break;
    }
}

/* The same for AVX2: 16 registers of 8 floats, so 3 rows x 4 registers of sums. */
KERNEL_ATTR("avx2,fma") static void slab_avx2(const float *x, const float *w, float *y, int n,
                                              int depth, int ldy)
{
    int r0 = 0;
    for (; r0 + 3 <= n; r0 += 3, x += (size_t)3 * depth, y += (size_t)3 * ldy)
        KERNEL_BODY(v8f, 3);
    switch (n - r0) {
    case 2: KERNEL_BODY(v8f, 2); break;
    case 1: KERNEL_BODY(v8f, 1); break;
    default: break;
    }
}

/* Queries on CPUs with AVX512-BF16: x in bf16 pairs (x[r * np + p] holds row r's values
 * 2p and 2p + 1), w a bf16 slab of BSLAB columns (fill_bslabs), np = depth / 2. One
 * VDPBF16PS multiplies and adds a pair of depth steps for 16 columns, so the product takes
 * half the instructions of the fp32 kernel (and half the weight bytes), summing in fp32.
 * Four registers of sums per row: a query's 9 or so tokens come in blocks of 4 or 5 rows, and
 * with two registers per row (32-column slabs) such a block had 8-10 independent sums, too
 * few to cover the instruction's latency on both of the CPU's pipes; with four it has 16-20
 * and a query embeds in 0.83x the time (measured on corpus/'s questions, same vectors).
 * Intrinsics here: GCC's vector extensions have no pairwise bf16 product. */
#define BF16_BODY(R)                                                                         \
    do {                                                                                     \
        __m512 acc[R][4];                                                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < (R); r++)                                \
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++)                              \
                acc[r][v] = _mm512_setzero_ps();                                             \
        for (int p = 0; p < np; p++) {                                                       \
            __m512bh wv[4];                                                                  \
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++)                              \
                wv[v] = (__m512bh)_mm512_loadu_si512(w + (size_t)p * 2 * BSLAB + 32 * v);    \
            _Pragma("GCC unroll 8") for (int r = 0; r < (R); r++) {                          \
                __m512bh xv = (__m512bh)_mm512_set1_epi32((int)x[(size_t)r * np + p]);       \
                _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++)                          \
                    acc[r][v] = _mm512_dpbf16_ps(acc[r][v], wv[v], xv);                      \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < (R); r++) {                              \
            float *yp = y + (size_t)r * ldy;                                                 \
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++)                              \
                _mm512_storeu_ps(yp + 16 * v,                                                \
                                 _mm512_add_ps(_mm512_loadu_ps(yp + 16 * v), acc[r][v]));    \
        }                                                                                    \
    } while (0)

KERNEL_ATTR("avx512f,avx512bw,avx512bf16") static void slab_bf16(const uint32_t *x,
                                                                const uint16_t *w, float *y,
                                                                int n, int np, int ldy)
{
    /* Rows in blocks of at most 6, as even as they come (13 rows: 5, 4, 4, not 6, 6, 1): each
     * block streams the whole slab once, and a block of one or two rows does too little
     * arithmetic per weight loaded to hide the load. Each row's sums are the same either way. */
    int blocks = (n + 5) / 6;
    for (int b = 0; b < blocks; b++) {
        int rows = n / blocks + (b < n % blocks);
        switch (rows) {
        case 6: BF16_BODY(6); break;
        case 5: BF16_BODY(5); break;
        case 4: BF16_BODY(4); break;
        case 3: BF16_BODY(3); break;
        case 2: BF16_BODY(2); break;
        case 1: BF16_BODY(1); break;
        default: break;
        }
        x += (size_t)rows * np;
        y += (size_t)rows * ldy;
    }
}

/* xb[0..n) = bf16 of x[0..n) (n even), rounded to nearest even like to_bf16: stored in order,
 * so each 32-bit word holds one pair of consecutive values, low half first. */
KERNEL_ATTR("avx512f,avx512bw,avx512bf16") static void to_bf16_pairs(const float *x,
                                                                    uint32_t *xb, size_t n)
{
    uint16_t *o = (uint16_t *)xb;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512(o + i, (__m512i)v);
    }
    for (; i < n; i++)
        o[i] = to_bf16(x[i]);
}

typedef void (*slab_fn)(const float *, const float *, float *, int, int, int);

/* The kernel this CPU runs; NULL: none, use OpenBLAS. Decided once (pthread_once: any
 * thread may be the first to embed). */
static slab_fn slab_kernel;
static int bf16_kernel; /* 1: queries may use slab_bf16 */
static pthread_once_t slab_once = PTHREAD_ONCE_INIT;

static void slab_pick(void)
{
    const char *off = getenv("LORE_USE_NO_KERNEL"); /* for comparisons in lore bench */
    if (off != NULL && off[0] != '\0' && strcmp(off, "0") != 0)
        return;
    __builtin_cpu_init();
    const char *no_bf16 = getenv("LORE_USE_NO_BF16");
    bf16_kernel = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
                  (no_bf16 == NULL || no_bf16[0] == '\0' || strcmp(no_bf16, "0") == 0);
    if (__builtin_cpu_supports("avx512f"))
        slab_kernel = slab_avx512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        slab_kernel = slab_avx2;
}

static int bf16_usable(void)
{
    pthread_once(&slab_once, slab_pick);
    return bf16_kernel;
}

/* 1 when the AVX-512 kernels run here (attention_small, layer_norm_fast). */
static int avx512_kernels(void)
{
    pthread_once(&slab_once, slab_pick);
    return slab_kernel == slab_avx512;
}
#else
#define USE_KERNELS 0
static int bf16_usable(void) { return 0; }
#endif

/* row[0..t) = softmax(row[0..t)). */
static void softmax_row(float *row, int t)
{
    float mx = row[0];
    for (int j = 1; j < t; j++)
        mx = row[j] > mx ? row[j] : mx;
    float sum = 0.0f;
    for (int j = 0; j < t; j++) {
        row[j] = expf(row[j] - mx);
        sum += row[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < t; j++)
        row[j] *= inv;
}

#if USE_KERNELS
/* attention() for a few tokens, in AVX-512 registers: per head, the t x t scores as dot
 * products of 16-wide pieces of q and k, then each context row as the probabilities'
 * weighted sum of v's rows. d_head a multiple of 16. Sums in another order than sgemm's:
 * the query path's vectors stay within its tolerance of the exact ones (test_use). */
KERNEL_ATTR("avx512f,fma") static void attention_small(const use_layer *L, const float *qkv,
                                                       float *ctx, float *s, int t)
{
    int da = L->d_att, ld = 3 * da, dh = L->d_head, nv = dh / 16;
    for (int h = 0; h < L->n_heads; h++) {
        const float *q = qkv + h * dh;
        const float *k = qkv + da + h * dh;
        const float *v = qkv + 2 * da + h * dh;
        for (int i = 0; i < t; i++) {
            float *row = s + (size_t)i * t;
            for (int j = 0; j < t; j++) {
                v16f acc = {0};
                for (int c = 0; c < nv; c++) {
                    v16f a, b;
                    memcpy(&a, q + (size_t)i * ld + c * 16, sizeof a);
                    memcpy(&b, k + (size_t)j * ld + c * 16, sizeof b);
                    acc += a * b;
                }
                float dot = 0.0f;
                for (int l = 0; l < 16; l++)
                    dot += acc[l];
                row[j] = L->q_scale * dot;
            }
            softmax_row(row, t);
            float *o = ctx + (size_t)i * da + h * dh;
            for (int c = 0; c < nv; c++) {
                v16f acc = {0};
                for (int j = 0; j < t; j++) {
                    v16f b;
                    memcpy(&b, v + (size_t)j * ld + c * 16, sizeof b);
                    acc += row[j] * b;
                }
                memcpy(o + c * 16, &acc, sizeof acc);
            }
        }
    }
}
#endif

#if USE_KERNELS
/* layer_norm in AVX-512 registers with float sums (d a multiple of 16): for the query path,
 * whose tolerance dwarfs the difference; stored vectors keep layer_norm's double sums. */
KERNEL_ATTR("avx512f,fma") static void layer_norm_fast(const float *x, float *y, size_t n, int d,
                                                       const float *g, const float *b,
                                                       float eps)
{
    int nv = d / 16;
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * (size_t)d;
        float *yr = y + r * (size_t)d;
        v16f acc = {0};
        for (int c = 0; c < nv; c++) {
            v16f a;
            memcpy(&a, xr + c * 16, sizeof a);
            acc += a;
        }
        float sum = 0.0f;
        for (int l = 0; l < 16; l++)
            sum += acc[l];
        float mean = sum / (float)d;
        v16f sq = {0};
        for (int c = 0; c < nv; c++) {
            v16f a;
            memcpy(&a, xr + c * 16, sizeof a);
            a -= mean;
            sq += a * a;
        }
        float ss = 0.0f;
        for (int l = 0; l < 16; l++)
            ss += sq[l];
        float inv = 1.0f / sqrtf(ss / (float)d + eps);
        for (int c = 0; c < nv; c++) {
            v16f a, gv, bv;
            memcpy(&a, xr + c * 16, sizeof a);
            memcpy(&gv, g + c * 16, sizeof gv);
            memcpy(&bv, b + c * 16, sizeof bv);
            a = gv * inv * (a - mean) + bv;
            memcpy(yr + c * 16, &a, sizeof a);
        }
    }
}
#endif

/* layer_norm, or on the query path (query 1) layer_norm_fast where the CPU has AVX-512. */
static void norm_rows(const float *x, float *y, size_t n, int d, const float *g, const float *b,
                      float eps, int query)
{
#if USE_KERNELS
    if (query && d % 16 == 0 && avx512_kernels()) {
        layer_norm_fast(x, y, n, d, g, b, eps);
        return;
    }
#endif
    layer_norm(x, y, n, d, g, b, eps);
}

/* Rows up to which a product goes through the kernels. Measured here (20-token query, CPU
 * time per query, interleaved runs) before the kernels kept their sums in registers: they
 * took 0.7 x OpenBLAS's time at 20 rows and 1.07 x at 32 (OpenBLAS's packing is a fixed cost
 * that many rows amortise). Now a 20-token query takes about half its time with OpenBLAS
 * (1.3-1.5 ms against 2.9), so the crossing is higher; not re-measured. */
#define FEW_ROWS 24

/* y[n, cols] += x[n, rows] @ d[rows, cols]. xb: bf16 scratch for the query path's bf16
 * products (forward decides which products take it), or NULL.
 *
 * A product of many rows (a batch of texts) goes to sgemm whole. A product of few rows (a
 * query) goes slab by slab over the slab copy: with a kernel above when the CPU has one, and
 * otherwise through sgemm, whose small-matrix path (when OpenBLAS has one for the CPU: rows *
 * cols * depth <= SMALL_GEMM_WORK) skips packing and reads each slab contiguously. */
static void gemm(const float *x, const dense *d, float *y, size_t n, uint32_t *xb)
{
#if USE_KERNELS
    pthread_once(&slab_once, slab_pick);
    if (xb != NULL && d->bslabs != NULL) {
        to_bf16_pairs(x, xb, n * (size_t)d->rows);
        for (int j = 0; j < d->cols; j += BSLAB)
            slab_bf16(xb, d->bslabs + (size_t)j * d->rows, y + j, (int)n, d->rows / 2, d->cols);
        return;
    }
    if (d->slabs != NULL && slab_kernel != NULL && n <= FEW_ROWS) {
        for (int j = 0; j < d->cols; j += SLAB) {
            int wj = d->cols - j < SLAB ? d->cols - j : SLAB;
            if (wj == SLAB)
                slab_kernel(x, d->slabs + (size_t)j * d->rows, y + j, (int)n, d->rows,
                            d->cols);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, wj, d->rows,
                            1.0f, x, d->rows, d->slabs + (size_t)j * d->rows, wj, 1.0f, y + j,
                            d->cols);
        }
        return;
    }
#endif
    if (d->slabs != NULL && (double)n * SLAB * d->rows <= SMALL_GEMM_WORK) {
        for (int j = 0; j < d->cols; j += SLAB) {
            int wj = d->cols - j < SLAB ? d->cols - j : SLAB;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, wj, d->rows, 1.0f, x,
                        d->rows, d->slabs + (size_t)j * d->rows, wj, 1.0f, y + j, d->cols);
        }
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, d->cols, d->rows, 1.0f, x,
                d->rows, d->w, d->cols, 1.0f, y, d->cols);
}

/* Attention of one text (tokens [0, t) of qkv, rows of width 3 d_att) into ctx [t, d_att].
 * query: 1 on the query path, which may sum in another order (attention_small). */
static void attention(const use_layer *L, const float *qkv, float *ctx, float *s, int t,
                      int query)
{
#if USE_KERNELS
    /* A query's few tokens: the products are tiny, and two sgemm calls a head cost more in
     * set-up than in arithmetic. Stored vectors keep sgemm's sums. */
    if (query && t <= FEW_ROWS && L->d_head % 16 == 0 && avx512_kernels()) {
        attention_small(L, qkv, ctx, s, t);
        return;
    }
#endif
    int da = L->d_att, ld = 3 * da, dh = L->d_head;
    for (int h = 0; h < L->n_heads; h++) {
        const float *q = qkv + h * dh;
        const float *k = qkv + da + h * dh;
        const float *v = qkv + 2 * da + h * dh;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, t, dh, L->q_scale, q, ld, k, ld,
                    0.0f, s, t);
        for (int i = 0; i < t; i++)
            softmax_row(s + (size_t)i * t, t);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, t, dh, t, 1.0f, s, t, v, ld, 0.0f,
                    ctx + h * dh, da);
    }
}

/* pool[i] = mean of the lens[i] rows (width d) of text i in x (0 for a text of none). */
static void mean_rows(const float *x, const size_t *lens, size_t ns, int d, float *pool)
{
    size_t r = 0;
    for (size_t i = 0; i < ns; i++) {
        float *pr = pool + i * (size_t)d;
        memset(pr, 0, (size_t)d * sizeof *pr);
        for (size_t p = 0; p < lens[i]; p++, r++) {
            const float *xr = x + r * (size_t)d;
            for (int j = 0; j < d; j++)
                pr[j] += xr[j];
        }
        float inv = 1.0f / (float)(lens[i] > 0 ? lens[i] : 1);
        for (int j = 0; j < d; j++)
            pr[j] *= inv;
    }
}

/* Forward pass over ns texts whose ids are already clipped (lens[i] <= max_tokens), stacked
 * as n tokens in total; writes ns vectors to out. */
static void forward(const use_model *m, const int *const *ids, const size_t *lens, size_t ns,
                    size_t n, scratch *sc, float *out)
{
    /* Input: 2 E[id] + [sin(p inv), cos(p inv)]. */
    int de = m->d_emb;
    size_t r = 0;
    for (size_t i = 0; i < ns; i++) {
        for (size_t p = 0; p < lens[i]; p++, r++) {
            const float *e = m->emb + (size_t)ids[i][p] * (size_t)de;
            const float *ts = m->timing + p * (size_t)de;
            float *xr = sc->x + r * (size_t)de;
            for (int j = 0; j < de; j++)
                xr[j] = m->emb_mult * e[j] + ts[j];
        }
    }

    /* The query path's products of a few rows (one short query's tokens, or a pass of short
     * queries) and of the pooled rows run in bf16; a long query's token products in fp32. */
    uint32_t *xt = sc->xb != NULL && (n <= FEW_ROWS || sc->short_queries) ? sc->xb : NULL;
    for (int li = 0; li < m->n_layers; li++) {
        const use_layer *L = &m->layers[li];
        norm_rows(sc->x, sc->a, n, L->d_in, L->ln1_g, L->ln1_b, L->eps1, sc->xb != NULL);
        /* h = residual */
        if (L->res.w != NULL) {
            fill_bias(sc->h, n, L->d_out, L->res_b);
            gemm(sc->x, &L->res, sc->h, n, xt);
        } else {
            memcpy(sc->h, sc->x, n * (size_t)L->d_out * sizeof(float));
        }
        fill_bias(sc->qkv, n, 3 * L->d_att, L->qkv_b);
        gemm(sc->a, &L->qkv, sc->qkv, n, xt);
        size_t off = 0;
        for (size_t i = 0; i < ns; i++) {
            int t = (int)lens[i];
            if (t > 0)
                attention(L, sc->qkv + off * (size_t)(3 * L->d_att),
                          sc->ctx + off * (size_t)L->d_att, sc->s, t, sc->xb != NULL);
            off += lens[i];
        }
        add_bias(sc->h, n, L->d_out, L->out_b);
        gemm(sc->ctx, &L->out, sc->h, n, xt);

        norm_rows(sc->h, sc->a, n, L->d_out, L->ln2_g, L->ln2_b, L->eps2, sc->xb != NULL);
        fill_bias(sc->ff, n, L->d_ff, L->ff1_b);
        gemm(sc->a, &L->ff1, sc->ff, n, xt);
        size_t nf = n * (size_t)L->d_ff;
        for (size_t j = 0; j < nf; j++)
            sc->ff[j] = sc->ff[j] > 0.0f ? sc->ff[j] : 0.0f;
        if (li + 1 < m->n_layers) {
            add_bias(sc->h, n, L->d_out, L->ff2_b);
            gemm(sc->ff, &L->ff2, sc->h, n, xt);
            float *t = sc->x;
            sc->x = sc->h;
            sc->h = t;
            continue;
        }
        /* Last layer: the text's vector is the mean of h + relu(..) @ conv2 + b2 over its
         * tokens, and conv2 is linear, so it is applied once to the mean of relu(..):
         * mean(h) + mean(relu(..)) @ conv2 + b2. The same sum in another order, a sixth
         * fewer operations. A text of no tokens stays 0, as in the graph (sum 0 / max(0, 1)). */
        mean_rows(sc->h, lens, ns, L->d_out, sc->pool);
        mean_rows(sc->ff, lens, ns, L->d_ff, sc->pool_ff);
        for (size_t i = 0; i < ns; i++)
            if (lens[i] > 0)
                add_bias(sc->pool + i * (size_t)L->d_out, 1, L->d_out, L->ff2_b);
        gemm(sc->pool_ff, &L->ff2, sc->pool, ns, sc->xb);
    }

    /* Tanh layer and L2 normalisation. */
    int dim = m->dim;
    fill_bias(out, ns, dim, m->hid_b);
    gemm(sc->pool, &m->hid, out, ns, sc->xb);
    for (size_t i = 0; i < ns; i++) {
        float *o = out + i * (size_t)dim;
        double ss = 0.0;
        for (int j = 0; j < dim; j++) {
            o[j] = tanhf(o[j]);
            ss += (double)o[j] * o[j];
        }
        float inv = (float)(1.0 / sqrt(ss > m->l2_eps ? ss : (double)m->l2_eps));
        for (int j = 0; j < dim; j++)
            o[j] *= inv;
    }
}

struct use_qwork {
    float *block;
    size_t cap; /* floats */
};

use_qwork *use_qwork_new(void)
{
    return calloc(1, sizeof(use_qwork));
}

void use_qwork_free(use_qwork *w)
{
    if (w == NULL)
        return;
    free(w->block);
    free(w);
}

/* How a pass embeds: stored vectors in fp32 (Q_STORED), one query (Q_ONE) or a pass of
 * queries of at most FEW_ROWS tokens each (Q_SHORT) on the query path. */
enum { Q_STORED, Q_ONE, Q_SHORT };

/* Scratch for passes of up to n_tok tokens in n_seq texts, none longer than max_t. qmode
 * other than Q_STORED: the pass's products may go through slab_bf16 (sc->xb set). The block
 * comes from w when it is large enough (grown otherwise; *block then stays NULL) or else is
 * a new one the caller frees (*block). */
static int scratch_alloc(const use_model *m, size_t n_tok, size_t n_seq, size_t max_t,
                         int qmode, use_qwork *w, scratch *sc, void **block)
{
    size_t wx = (size_t)m->w_x, per_tok = 3 * wx + (size_t)m->w_qkv + (size_t)m->w_att +
                                          (size_t)m->w_ff;
    size_t total = n_tok * per_tok + max_t * max_t + n_seq * (wx + (size_t)m->w_ff);
    /* bf16 pairs of one product's input: at most FEW_ROWS rows of the deepest matrix, or a
     * pass's tokens when they are short queries (Q_SHORT). */
    size_t xrows = qmode == Q_SHORT && n_tok > FEW_ROWS ? n_tok : FEW_ROWS;
    size_t nxb = qmode && m->bslab_arena != NULL ? xrows * (size_t)m->max_depth / 2 : 0;
    float *f;
    *block = NULL;
    if (w != NULL) {
        if (w->cap < total + nxb) {
            free(w->block);
            w->cap = 0;
            w->block = malloc((total + nxb) * sizeof(float));
            if (w->block == NULL)
                return LORE_ENOMEM;
            w->cap = total + nxb;
        }
        f = w->block;
    } else {
        f = malloc((total + nxb) * sizeof(float));
        if (f == NULL)
            return LORE_ENOMEM;
        *block = f;
    }
    sc->x = f;
    f += n_tok * wx;
    sc->h = f;
    f += n_tok * wx;
    sc->a = f;
    f += n_tok * wx;
    sc->qkv = f;
    f += n_tok * (size_t)m->w_qkv;
    sc->ctx = f;
    f += n_tok * (size_t)m->w_att;
    sc->ff = f;
    f += n_tok * (size_t)m->w_ff;
    sc->s = f;
    f += max_t * max_t;
    sc->pool = f;
    f += n_seq * wx;
    sc->pool_ff = f;
    f += n_seq * (size_t)m->w_ff;
    sc->xb = nxb ? (uint32_t *)f : NULL;
    sc->short_queries = qmode == Q_SHORT;
    return 0;
}

static int embed_ids(const use_model *m, const int *const *ids, const size_t *lens, size_t n,
                     int qmode, use_qwork *w, float *out, lore_err *err)
{
    if (n == 0)
        return 0;
    if (ids == NULL || lens == NULL || out == NULL)
        return lore_errf(err, LORE_EINVAL, "use: embed_ids: NULL argument");
    size_t cap = (size_t)m->max_tokens;
    for (size_t i = 0; i < n; i++) {
        size_t t = lens[i] < cap ? lens[i] : cap;
        if (t > 0 && ids[i] == NULL)
            return lore_errf(err, LORE_EINVAL, "use: sequence %zu of %zu is NULL", i, n);
        for (size_t p = 0; p < t; p++)
            if (ids[i][p] < 0 || ids[i][p] >= m->n_vocab)
                return lore_errf(err, LORE_EINVAL,
                                 "use: token id %d (sequence %zu, position %zu) is outside the "
                                 "vocabulary [0, %d)",
                                 ids[i][p], i, p, m->n_vocab);
    }

    /* Passes of at most BATCH_TOKENS tokens (or one text). */
    size_t max_tok = 0, max_seq = 0, max_t = 1;
    for (size_t i = 0; i < n;) {
        size_t tok = 0, j = i;
        while (j < n) {
            size_t t = lens[j] < cap ? lens[j] : cap;
            if (j > i && tok + t > BATCH_TOKENS)
                break;
            tok += t;
            if (t > max_t)
                max_t = t;
            j++;
        }
        if (tok > max_tok)
            max_tok = tok;
        if (j - i > max_seq)
            max_seq = j - i;
        i = j;
    }
    size_t *clip = malloc(max_seq * sizeof *clip);
    scratch sc;
    void *block = NULL;
    if (clip == NULL ||
        scratch_alloc(m, max_tok ? max_tok : 1, max_seq, max_t, qmode, w, &sc, &block) != 0) {
        free(clip);
        return lore_errf(err, LORE_ENOMEM, "use: out of memory embedding %zu texts", n);
    }
    for (size_t i = 0; i < n;) {
        size_t tok = 0, j = i;
        while (j < n) {
            size_t t = lens[j] < cap ? lens[j] : cap;
            if (j > i && tok + t > BATCH_TOKENS)
                break;
            clip[j - i] = t;
            tok += t;
            j++;
        }
        scratch s = sc; /* forward swaps x and h */
        forward(m, ids + i, clip, j - i, tok, &s, out + i * (size_t)m->dim);
        i = j;
    }
    free(block);
    free(clip);
    return 0;
}

int use_embed_ids(const use_model *m, const int *const *ids, const size_t *lens, size_t n,
                  float *out, lore_err *err)
{
    return embed_ids(m, ids, lens, n, Q_STORED, NULL, out, err);
}

int use_embed_query_ids(const use_model *m, use_qwork *w, const int *ids, size_t len,
                        float *out, lore_err *err)
{
    return embed_ids(m, &ids, &len, 1, Q_ONE, w, out, err);
}

int use_embed_queries_ids(const use_model *m, use_qwork *w, const int *const *ids,
                          const size_t *lens, size_t n, float *out, lore_err *err)
{
    /* Without bf16 kernels a query's products depend on its row count (slab kernel or
     * sgemm), and a long query's token products run in fp32: those go one at a time. */
    size_t nshort = 0;
    for (size_t i = 0; i < n; i++)
        nshort += m->bslab_arena != NULL && lens[i] <= FEW_ROWS;
    if (nshort == n)
        return embed_ids(m, ids, lens, n, Q_SHORT, w, out, err);
    size_t dim = (size_t)m->dim;
    const int **sids = NULL;
    size_t *slens = NULL;
    float *sout = NULL;
    if (nshort > 1) {
        sids = malloc(nshort * sizeof *sids);
        slens = malloc(nshort * sizeof *slens);
        sout = malloc(nshort * dim * sizeof *sout);
        if (sids == NULL || slens == NULL || sout == NULL)
            nshort = 0; /* one at a time, then */
    }
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (nshort > 1 && lens[i] <= FEW_ROWS) {
            sids[k] = ids[i];
            slens[k++] = lens[i];
        } else {
            rc = embed_ids(m, &ids[i], &lens[i], 1, Q_ONE, w, out + i * dim, err);
        }
    }
    if (rc == 0 && nshort > 1 &&
        (rc = embed_ids(m, (const int *const *)sids, slens, k, Q_SHORT, w, sout, err)) == 0) {
        k = 0;
        for (size_t i = 0; i < n; i++)
            if (lens[i] <= FEW_ROWS)
                memcpy(out + i * dim, sout + k++ * dim, dim * sizeof *out);
    }
    free(sids);
    free(slens);
    free(sout);
    return rc;
}

int use_embed_texts(const use_model *m, const char *const *texts, size_t n, float *out,
                    lore_err *err)
{
    if (n == 0)
        return 0;
    if (texts == NULL)
        return lore_errf(err, LORE_EINVAL, "use: embed_texts: NULL texts");
    size_t cap = (size_t)m->max_tokens;
    int *buf = malloc(n * cap * sizeof *buf);
    size_t *lens = malloc(n * sizeof *lens);
    const int **ids = malloc(n * sizeof *ids);
    int rc = 0;
    if (buf == NULL || lens == NULL || ids == NULL)
        rc = lore_errf(err, LORE_ENOMEM, "use: out of memory embedding %zu texts", n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (texts[i] == NULL) {
            rc = lore_errf(err, LORE_EINVAL, "use: text %zu of %zu is NULL", i, n);
            break;
        }
        size_t total = 0;
        rc = spm_encode(m->tok, texts[i], strlen(texts[i]), buf + i * cap, cap, &total, err);
        lens[i] = total < cap ? total : cap;
        ids[i] = buf + i * cap;
    }
    if (rc == 0)
        rc = use_embed_ids(m, ids, lens, n, out, err);
    free(buf);
    free(lens);
    free(ids);
    return rc;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* <repo>/models/use-lite of the repository this file was compiled from: CMake passes sources
 * by absolute path, so __FILE__ is <repo>/engine/use.c. NULL when it is relative. */
static char *source_tree_models(void)
{
    static const char self[] = "engine/use.c", sub[] = "models/use-lite";
    const char *f = __FILE__;
    size_t n = strlen(f);
    if (f[0] != '/' || n < sizeof self - 1 || strcmp(f + n - (sizeof self - 1), self) != 0)
        return NULL;
    n -= sizeof self - 1;
    char *p = malloc(n + sizeof sub);
    if (p == NULL)
        return NULL;
    memcpy(p, f, n);
    memcpy(p + n, sub, sizeof sub);
    return p;
}

char *use_default_dir(void)
{
    const char *env = getenv("LORE_USE_MODEL_DIR");
    if (env != NULL && env[0] != '\0')
        return strdup(env);
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
    char *src = source_tree_models();
    if (src != NULL && is_dir(src))
        return src;
    if (is_dir("models/use-lite")) {
        free(src);
        return strdup("models/use-lite");
    }
    return src != NULL ? src : strdup("models/use-lite");
}

