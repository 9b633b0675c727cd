#include "evalds.h"

#include "cli.h"
#include "ingest.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

unsigned long long evalds_hash(const char *s)
{
    return (unsigned long long)XXH3_64bits(s, strlen(s));
}

static void clean_name(const char *path, char *out, size_t len)
{
    const char *base = strrchr(path, '/');
    while (base && base[1] == '\0' && base > path) { /* a trailing slash */
        const char *p = base - 1;
        while (p > path && *p != '/')
            p--;
        base = p;
    }
    base = base && base[1] ? base + (*base == '/') : path;
    size_t n = 0;
    for (const char *p = base; *p && *p != '/' && n < len - 1; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        out[n++] = ok ? ch : '_';
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, len, "data");
}

/* A scratch collection per dataset, embedder and chunking, so switching one of them does
 * not destroy the index of another. */
static void scratch_name(const evalds_options *a, const char *corpus_real, char *buf,
                         size_t len)
{
    char clean[33];
    clean_name(a->dataset, clean, sizeof clean);
    char key[PATH_MAX + 256];
    snprintf(key, sizeof key, "%s|%s|%zu|%zu", corpus_real,
             a->embedder ? a->embedder : COLL_DEFAULT_EMBEDDER,
             a->chunk.max_tokens, a->chunk.overlap_tokens);
    snprintf(buf, len, "eval-%s-%08llx", clean, evalds_hash(key) & 0xffffffffULL);
}

/* Indexes the corpus unless the collection already holds this exact corpus file state. */
static int prepare_collection(const evalds_options *a, coll *c, const char *corpus,
                              const struct stat *sb)
{
    char state[PATH_MAX + 128];
    snprintf(state, sizeof state, "%s|%lld|%lld", corpus, (long long)sb->st_size,
             (long long)sb->st_mtime);
    lore_err err = {0};
    char *have = NULL;
    if (!a->reindex && store_meta_get(coll_store(c), "eval_source", &have, NULL) == 0 &&
        strcmp(have, state) == 0) {
        free(have);
        return 0;
    }
    free(have);
    fprintf(stderr, "lore: indexing %s\n", corpus);
    ingest_options io;
    ingest_options_default(&io);
    io.paths = &corpus;
    io.npaths = 1;
    io.chunk = a->chunk;
    io.progress = stderr;
    io.warnings = stderr;
    ingest_stats st;
    if (ingest_run(c, &io, &st, &err) != 0 ||
        store_meta_set(coll_store(c), "eval_source", state, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    fprintf(stderr, "lore: %zu articles (%zu added, %zu changed, %zu deleted), %zu chunks "
                    "embedded in %.1fs\n", st.articles, st.added, st.changed, st.deleted,
            st.chunks_embedded, st.seconds);
    return 0;
}

/* The group key of a JSON line: "thread" (StackFAQ), the article of "source_paragraph"
 * (SQuAD: "Normans#3" -> "Normans"), else the id. malloc'd; NULL on a line without an id. */
static char *group_of(const cJSON *o)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "thread");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "source_paragraph");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "_id");
    char buf[512];
    if (cJSON_IsNumber(t))
        snprintf(buf, sizeof buf, "thread:%.0f", t->valuedouble);
    else if (cJSON_IsString(t))
        snprintf(buf, sizeof buf, "thread:%s", t->valuestring);
    else if (cJSON_IsString(sp))
        snprintf(buf, sizeof buf, "para:%.*s", (int)strcspn(sp->valuestring, "#"),
                 sp->valuestring);
    else if (cJSON_IsString(id))
        snprintf(buf, sizeof buf, "id:%s", id->valuestring);
    else if (cJSON_IsNumber(id))
        snprintf(buf, sizeof buf, "id:%.0f", id->valuedouble);
    else
        return NULL;
    return strdup(buf);
}

static char *id_of(const cJSON *o)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "_id");
    char buf[256];
    if (cJSON_IsString(id))
        return strdup(id->valuestring);
    if (cJSON_IsNumber(id)) {
        snprintf(buf, sizeof buf, "%.0f", id->valuedouble);
        return strdup(buf);
    }
    return NULL;
}

static int left_out(const char *group, double share)
{
    return share > 0 && (double)(evalds_hash(group) % 10000) < share * 10000.0;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct strset {
    char **s;
    size_t n, cap;
} strset;

static int strset_add(strset *x, char *s)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 256;
        char **ns = realloc(x->s, cap * sizeof *ns);
        if (ns == NULL)
            return -1;
        x->s = ns;
        x->cap = cap;
    }
    x->s[x->n++] = s;
    return 0;
}

static void strset_free(strset *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->s[i]);
    free(x->s);
}

/* Copies the corpus without the left-out groups to dir/corpus.jsonl (rewritten only when the
 * source changed), collecting the ids of the left-out documents. */
static int write_oos_corpus(const char *src, const char *dst, double share, strset *gone)
{
    FILE *in = fopen(src, "rb");
    if (in == NULL) {
        cli_error("cannot read %s: %s", src, strerror(errno));
        return CLI_FAIL;
    }
    char tmp[PATH_MAX + 8];
    if (snprintf(tmp, sizeof tmp, "%.*s.tmp", PATH_MAX - 1, dst) >= (int)sizeof tmp) {
        fclose(in);
        cli_error("path too long: %s", dst);
        return CLI_FAIL;
    }
    FILE *out = fopen(tmp, "wb");
    if (out == NULL) {
        fclose(in);
        cli_error("cannot write %s: %s", tmp, strerror(errno));
        return CLI_FAIL;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, in)) > 0) {
        lineno++;
        cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
        char *g = o ? group_of(o) : NULL;
        if (g && left_out(g, share)) {
            char *id = id_of(o);
            if (id == NULL || strset_add(gone, id) != 0) {
                free(id);
                cli_error("out of memory reading %s", src);
                rc = CLI_FAIL;
            }
        } else if (fwrite(line, 1, (size_t)len, out) != (size_t)len) {
            cli_error("writing %s failed", tmp);
            rc = CLI_FAIL;
        }
        free(g);
        cJSON_Delete(o);
    }
    free(line);
    fclose(in);
    if (fclose(out) != 0 && rc == 0) {
        cli_error("writing %s failed", tmp);
        rc = CLI_FAIL;
    }
    if (rc == 0) {
        /* Keep the old file (and its mtime, which keys the scratch index) when nothing
         * changed. */
        FILE *a = fopen(tmp, "rb"), *b = fopen(dst, "rb");
        int same = a && b;
        while (same) {
            int x = fgetc(a), y = fgetc(b);
            if (x != y)
                same = 0;
            if (x == EOF || y == EOF)
                break;
        }
        if (a)
            fclose(a);
        if (b)
            fclose(b);
        if (same)
            remove(tmp);
        else if (rename(tmp, dst) != 0) {
            cli_error("cannot write %s: %s", dst, strerror(errno));
            rc = CLI_FAIL;
        }
    }
    qsort(gone->s, gone->n, sizeof *gone->s, by_str);
    return rc;
}

/* Reads the group key of each query (queries.jsonl once more: evalm keeps only id and text). */
static int read_groups(const char *path, evalds *d)
{
    d->group = calloc(d->qs.n + 1, sizeof *d->group);
    if (d->group == NULL)
        return CLI_FAIL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return CLI_FAIL;
    char *line = NULL;
    size_t cap = 0, at = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0 && at < d->qs.n) {
        cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
        char *id = o ? id_of(o) : NULL;
        if (id && strcmp(id, d->qs.items[at].id) == 0)
            d->group[at++] = group_of(o);
        free(id);
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    for (size_t i = 0; i < d->qs.n; i++)
        if (d->group[i] == NULL && (d->group[i] = strdup(d->qs.items[i].id)) == NULL)
            return CLI_FAIL;
    return 0;
}

int evalds_open(const evalds_options *a, evalds *d)
{
    memset(d, 0, sizeof *d);
    char corpus[PATH_MAX], queries[PATH_MAX], qrels[PATH_MAX], real[PATH_MAX];
    struct stat sb;
    snprintf(queries, sizeof queries, "%s/queries.jsonl", a->dataset);
    snprintf(qrels, sizeof qrels, "%s/qrels/%s.tsv", a->dataset, a->split);
    snprintf(corpus, sizeof corpus, "%s/corpus.jsonl", a->dataset);
    int jsonl = stat(corpus, &sb) == 0;
    if (!jsonl) {
        snprintf(corpus, sizeof corpus, "%s/articles", a->dataset);
        if (stat(corpus, &sb) != 0) {
            cli_error("%s has neither corpus.jsonl nor an articles/ folder", a->dataset);
            return CLI_USAGE;
        }
    }
    if (a->oos > 0 && !jsonl) {
        cli_error("the out-of-scope simulation needs a dataset with corpus.jsonl; %s has "
                  "articles/", a->dataset);
        return CLI_USAGE;
    }
    if (realpath(corpus, real) == NULL) {
        cli_error("cannot resolve %s", corpus);
        return CLI_FAIL;
    }
    lore_err err = {0};
    if (evalm_queries_load(queries, &d->qs, &err) != 0 ||
        evalm_qrels_load(qrels, &d->qr, &err) != 0) {
        cli_error("%s", err.msg);
        evalds_close(d);
        return CLI_FAIL;
    }
    strset gone = {0};
    int rc = 0;
    if (a->oos > 0) {
        /* The reduced corpus lives in the data directory, beside the collections. */
        char root[PATH_MAX], dir[PATH_MAX + 64], clean[33], dst[PATH_MAX + 96];
        clean_name(a->dataset, clean, sizeof clean);
        if (coll_data_root(a->data, root, sizeof root, &err) != 0) {
            cli_error("%s", err.msg);
            evalds_close(d);
            return CLI_USAGE;
        }
        snprintf(dir, sizeof dir, "%s/oos-%s-%08llx-%03d", root, clean,
                 evalds_hash(real) & 0xffffffffULL, (int)(a->oos * 1000 + 0.5));
        snprintf(dst, sizeof dst, "%s/corpus.jsonl", dir);
        if ((mkdir(root, 0755) != 0 && errno != EEXIST) ||
            (mkdir(dir, 0755) != 0 && errno != EEXIST)) {
            cli_error("cannot create %s: %s", dir, strerror(errno));
            evalds_close(d);
            return CLI_FAIL;
        }
        if ((rc = write_oos_corpus(real, dst, a->oos, &gone)) != 0 ||
            realpath(dst, real) == NULL || stat(real, &sb) != 0) {
            strset_free(&gone);
            evalds_close(d);
            return rc ? rc : CLI_FAIL;
        }
    }
    d->status = calloc(d->qs.n + 1, sizeof *d->status);
    if (d->status == NULL || read_groups(queries, d) != 0) {
        cli_error("out of memory reading %s", queries);
        rc = CLI_FAIL;
    }
    for (size_t i = 0; rc == 0 && i < d->qs.n; i++) {
        const evalm_qrel *q = evalm_qrels_find(&d->qr, d->qs.items[i].id);
        size_t rel = 0, kept = 0;
        for (size_t j = 0; q && j < q->njudged; j++) {
            if (q->judged[j].grade <= 0)
                continue;
            rel++;
            const char *key = q->judged[j].doc_id;
            if (gone.n == 0 || !bsearch(&key, gone.s, gone.n, sizeof *gone.s, by_str))
                kept++;
        }
        if (d->qs.items[i].is_impossible || (rel > 0 && kept == 0))
            d->status[i] = EVALDS_NOANSWER;
        else if (kept > 0)
            d->status[i] = EVALDS_ANSWER;
        d->answerable += d->status[i] == EVALDS_ANSWER;
        d->noanswer += d->status[i] == EVALDS_NOANSWER;
    }
    if (a->oos > 0 && rc == 0)
        fprintf(stderr, "lore: out-of-scope simulation: %zu documents left out of the index, "
                        "%zu queries without an answer\n", gone.n, d->noanswer);
    strset_free(&gone);
    if (rc != 0) {
        evalds_close(d);
        return rc;
    }
    char name[96], dir[PATH_MAX];
    scratch_name(a, real, name, sizeof name);
    coll_open_options co = {STORE_CREATE, a->embedder, 1, NULL, 1};
    rc = cli_open(a->data, name, &co, &d->c, dir, sizeof dir);
    if (rc == 0)
        rc = prepare_collection(a, d->c, real, &sb);
    if (rc != 0)
        evalds_close(d);
    return rc;
}

void evalds_close(evalds *d)
{
    coll_close(d->c);
    for (size_t i = 0; d->group && i < d->qs.n; i++)
        free(d->group[i]);
    free(d->group);
    evalm_queries_free(&d->qs);
    evalm_qrels_free(&d->qr);
    free(d->status);
    memset(d, 0, sizeof *d);
}

int evalds_option(int ch, const char *arg, evalds_options *ds, search_options *so,
                  int *mode_given)
{
    lore_err err = {0};
    switch (ch) {
    case 'S': ds->split = arg; return 0;
    case 'E': ds->embedder = arg; return 0;
    case 'D': ds->data = arg; return 0;
    case 'm':
        if (search_mode_parse(arg, &so->mode, &err) != 0) {
            cli_error("%s", err.msg);
            return CLI_USAGE;
        }
        *mode_given = 1;
        return 0;
    case 'W': return cli_double("--dense-weight", arg, 0.0, 1.0, &so->dense_weight) ? CLI_USAGE : 0;
    case 'N': return cli_size("--candidates", arg, 10, 10000, &so->candidates) ? CLI_USAGE : 0;
    case 'O': return cli_double("--out-of-scope", arg, 0.0, 0.9, &ds->oos) ? CLI_USAGE : 0;
    default: return -1;
    }
}
