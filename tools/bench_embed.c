/* The embedding part of `lore bench`: the in-process Universal Sentence Encoder lite (use.h)
 * against its Node reference, on the same texts in the same run (see bench_internal.h). */
#include "bench_internal.h"
#include "blas.h"
#include "use.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QUERY_TOKENS 20

static void text_list_free(char **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(t[i]);
    free(t);
}

/* The first `want` records of a BEIR corpus.jsonl as "title\n\ntext" (the shape ingest gives
 * the embedder: heading path, blank line, body). */
static int read_texts(const char *path, size_t want, char ***out, size_t *n, lore_err *err)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return lore_errf(err, LORE_EIO, "cannot open %s: %s", path, strerror(errno));
    char **t = calloc(want ? want : 1, sizeof *t);
    char *line = NULL;
    size_t cap = 0, k = 0;
    ssize_t len;
    int rc = t == NULL ? lore_errf(err, LORE_ENOMEM, "out of memory reading %s", path) : 0;
    while (rc == 0 && k < want && (len = getline(&line, &cap, f)) > 0) {
        cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
        const cJSON *ti = cJSON_GetObjectItemCaseSensitive(o, "title");
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(o, "text");
        if (cJSON_IsString(tx) && tx->valuestring[0] != '\0') {
            const char *title = cJSON_IsString(ti) ? ti->valuestring : "";
            size_t need = strlen(title) + strlen(tx->valuestring) + 3;
            if ((t[k] = malloc(need)) == NULL)
                rc = lore_errf(err, LORE_ENOMEM, "out of memory reading %s", path);
            else if (title[0] != '\0')
                snprintf(t[k++], need, "%s\n\n%s", title, tx->valuestring);
            else
                snprintf(t[k++], need, "%s", tx->valuestring);
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    if (rc == 0 && k == 0)
        rc = lore_errf(err, LORE_EINVAL, "%s: no record with a text", path);
    if (rc != 0) {
        text_list_free(t, k);
        return rc;
    }
    *out = t;
    *n = k;
    return 0;
}

/* CPU time of the calling thread in ms: unlike wall time, barely moved by other processes
 * sharing the cores (the machine's load), so it shows the cost of the computation itself. */
static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t count_tokens(const use_model *m, const char *t)
{
    size_t total = 0;
    int dummy;
    if (spm_encode(use_tokenizer(m), t, strlen(t), &dummy, 0, &total, NULL) != 0)
        return 0;
    return total;
}

typedef struct slice_job {
    const use_model *m;
    const char *const *texts;
    size_t n;
    float *out;
    int rc;
    lore_err err;
} slice_job;

static void *slice_run(void *arg)
{
    slice_job *j = arg;
    j->rc = use_embed_texts(j->m, j->texts, j->n, j->out, &j->err);
    return NULL;
}

static double process_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Embeds texts[0..n) on `threads` threads (each a contiguous share); wall seconds in *s and
 * the process's CPU seconds in *cpu (may be NULL). */
static int embed_timed(const use_model *m, const char *const *texts, size_t n, int threads,
                       float *out, double *s, double *cpu, lore_err *err)
{
    slice_job jobs[2];
    pthread_t th[2];
    if (threads < 1 || threads > 2)
        threads = 1;
    memset(jobs, 0, sizeof jobs);
    size_t half = threads == 2 ? n / 2 : n;
    double t0 = bench_now_ms(), c0 = process_cpu_s();
    for (int i = 0; i < threads; i++) {
        size_t from = i == 0 ? 0 : half, to = i == 0 ? half : n;
        jobs[i] = (slice_job){m, texts + from, to - from, out + from * USE_DIM, 0, {0}};
    }
    int started = 0;
    if (threads == 2 && pthread_create(&th[0], NULL, slice_run, &jobs[0]) == 0)
        started = 1;
    if (threads == 2 && !started)
        slice_run(&jobs[0]);
    slice_run(&jobs[threads - 1]);
    if (started)
        pthread_join(th[0], NULL);
    *s = (bench_now_ms() - t0) / 1000.0;
    if (cpu != NULL)
        *cpu = process_cpu_s() - c0;
    for (int i = 0; i < threads; i++)
        if (jobs[i].rc != 0) {
            *err = jobs[i].err;
            return jobs[i].rc;
        }
    return 0;
}

/* <repo>/tests/golden of the source tree this file was compiled from (CMake compiles by
 * absolute path; see use_default_dir for the same idea), or beside the program's folder. */
static int golden_dir(char *buf, size_t len)
{
    static const char self[] = "tools/bench_embed.c";
    const char *f = __FILE__;
    size_t n = strlen(f);
    struct stat st;
    if (f[0] == '/' && n > sizeof self - 1 && strcmp(f + n - (sizeof self - 1), self) == 0) {
        snprintf(buf, len, "%.*stests/golden", (int)(n - (sizeof self - 1)), f);
        if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
    }
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(buf, len, "%.3900s/../tests/golden", exe);
            if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
                return 0;
        }
    }
    return -1;
}

static int on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        return 0;
    char buf[PATH_MAX];
    while (*path) {
        const char *c = strchr(path, ':');
        size_t n = c ? (size_t)(c - path) : strlen(path);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, prog);
        if (access(buf, X_OK) == 0)
            return 1;
        path += n + (c ? 1 : 0);
    }
    return 0;
}

/* Quotes s for a POSIX shell into buf. */
static void shell_quote(const char *s, char *buf, size_t len)
{
    size_t k = 0;
    if (len < 3)
        return;
    buf[k++] = '\'';
    for (; *s && k + 5 < len; s++) {
        if (*s == '\'') {
            memcpy(buf + k, "'\\''", 4);
            k += 4;
        } else {
            buf[k++] = *s;
        }
    }
    buf[k++] = '\'';
    buf[k] = '\0';
}

static int write_input(const char *path, char *const *texts, size_t n, char *const *queries,
                       size_t nq, size_t runs, size_t warmup, lore_err *err)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "texts");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(texts[i]));
    cJSON *q = cJSON_AddArrayToObject(o, "queries");
    for (size_t i = 0; i < nq; i++)
        cJSON_AddItemToArray(q, cJSON_CreateString(queries[i]));
    cJSON_AddNumberToObject(o, "batch", 32);
    cJSON_AddNumberToObject(o, "query_runs", (double)runs);
    cJSON_AddNumberToObject(o, "warmup", (double)warmup);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    FILE *f = s ? fopen(path, "w") : NULL;
    int ok = f != NULL && fputs(s, f) >= 0;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    free(s);
    return ok ? 0 : lore_errf(err, LORE_EIO, "cannot write %s", path);
}

/* Runs the Node reference; fills the node_* fields or node_note. */
static void run_node(const bench_embed_options *o, char *const *texts, size_t n,
                     char *const *queries, size_t nq, bench_embed_result *r)
{
    char gdir[PATH_MAX];
    if (!o->node) {
        snprintf(r->node_note, sizeof r->node_note, "skipped (--no-node)");
        return;
    }
    if (!on_path("node") || !on_path("npm")) {
        snprintf(r->node_note, sizeof r->node_note,
                 "skipped: node or npm is not installed (apt-get install nodejs npm)");
        return;
    }
    if (golden_dir(gdir, sizeof gdir) != 0) {
        snprintf(r->node_note, sizeof r->node_note,
                 "skipped: tests/golden (the reference script) not found beside this lore");
        return;
    }
    char qdir[2 * PATH_MAX + 8], mods[PATH_MAX + 64];
    shell_quote(gdir, qdir, sizeof qdir);
    snprintf(mods, sizeof mods, "%s/node_modules/@energetic-ai/embeddings", gdir);
    struct stat st;
    if (stat(mods, &st) != 0) {
        char cmd[2 * PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "cd %s && npm ci --no-audit --no-fund >&2", qdir);
        fprintf(stderr, "lore bench: installing the Node reference: %s\n", cmd);
        int st2 = system(cmd);
        if (st2 != 0) {
            snprintf(r->node_note, sizeof r->node_note,
                     "skipped: `%.400s` failed (status %d)", cmd, st2);
            return;
        }
    }
    const char *tmp = getenv("TMPDIR");
    char in[PATH_MAX];
    snprintf(in, sizeof in, "%s/lore-bench-ref-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(in);
    if (fd < 0) {
        snprintf(r->node_note, sizeof r->node_note, "skipped: cannot create a temp file");
        return;
    }
    close(fd);
    lore_err err = {0};
    if (write_input(in, texts, n, queries, nq, o->query_runs, o->warmup, &err) != 0) {
        snprintf(r->node_note, sizeof r->node_note, "skipped: %.480s", err.msg);
        unlink(in);
        return;
    }
    char qin[2 * PATH_MAX + 8];
    shell_quote(in, qin, sizeof qin);
    snprintf(r->node_cmd, sizeof r->node_cmd, "cd %.2000s && node bench-ref.mjs %.2000s", qdir, qin);
    fprintf(stderr, "lore bench: running the Node reference: %s\n", r->node_cmd);
    FILE *p = popen(r->node_cmd, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = p ? getline(&line, &cap, p) : -1;
    int status = p ? pclose(p) : -1;
    unlink(in);
    cJSON *j = len > 0 && status == 0 ? cJSON_ParseWithLength(line, (size_t)len) : NULL;
    free(line);
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(j, "seconds");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "tokens");
    const cJSON *qms = cJSON_GetObjectItemCaseSensitive(j, "query_ms");
    const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(j, "cpu_seconds");
    if (!cJSON_IsNumber(sec) || !cJSON_IsNumber(tok) || !cJSON_IsArray(qms)) {
        snprintf(r->node_note, sizeof r->node_note,
                 "failed: the reference printed no result (exit status %d)", status);
        cJSON_Delete(j);
        return;
    }
    r->node_ok = 1;
    r->node_seconds = sec->valuedouble;
    r->node_tokens = (size_t)tok->valuedouble;
    r->node_cpu_seconds = cJSON_IsNumber(cpu) ? cpu->valuedouble : 0.0;
    size_t k = (size_t)cJSON_GetArraySize(qms);
    double *ms = k ? malloc(k * sizeof *ms) : NULL;
    if (ms != NULL) {
        size_t i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, qms) ms[i++] = it->valuedouble;
        bench_latency_summarise(ms, k, &r->node_query);
    }
    free(ms);
    const cJSON *be = cJSON_GetObjectItemCaseSensitive(j, "backend");
    const cJSON *tf = cJSON_GetObjectItemCaseSensitive(j, "tfjs");
    const cJSON *nv = cJSON_GetObjectItemCaseSensitive(j, "node");
    snprintf(r->node_note, sizeof r->node_note, "node %s, tfjs %s, backend %s",
             cJSON_IsString(nv) ? nv->valuestring : "?", cJSON_IsString(tf) ? tf->valuestring : "?",
             cJSON_IsString(be) ? be->valuestring : "?");
    cJSON_Delete(j);
}

int bench_embed_run(const char *corpus_path, const char *const *query_texts, size_t nquery_texts,
                    const bench_embed_options *o, bench_embed_result *r, lore_err *err)
{
    memset(r, 0, sizeof *r);
    char *dir = use_default_dir();
    if (dir == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory");
    snprintf(r->model_dir, sizeof r->model_dir, "%s", dir);
    use_model *m = NULL;
    int rc = use_load(dir, &m, err);
    free(dir);
    if (rc != 0)
        return rc;
    char **texts = NULL, **queries = NULL;
    size_t n = 0, nq = 0;
    float *out = NULL;
    int prev = -1;
    if ((rc = read_texts(corpus_path, o->texts, &texts, &n, err)) != 0)
        goto done;
    r->texts = n;
    for (size_t i = 0; i < n; i++) {
        size_t t = count_tokens(m, texts[i]);
        r->tokens += t < USE_MAX_TOKENS ? t : USE_MAX_TOKENS;
    }
    /* The queries of exactly QUERY_TOKENS tokens; failing that, the closest counts. */
    queries = calloc(nquery_texts ? nquery_texts : 1, sizeof *queries);
    if (queries == NULL) {
        rc = lore_errf(err, LORE_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t d = 0; d <= QUERY_TOKENS && nq == 0; d++)
        for (size_t i = 0; i < nquery_texts; i++) {
            size_t t = count_tokens(m, query_texts[i]);
            if (t == QUERY_TOKENS + d || (d > 0 && t + d == QUERY_TOKENS))
                queries[nq++] = (char *)query_texts[i];
        }
    size_t qtok = 0;
    for (size_t i = 0; i < nq; i++)
        qtok += count_tokens(m, queries[i]);
    r->query_texts = nq;
    r->query_tokens_mean = nq ? (double)qtok / (double)nq : 0.0;

    out = malloc((n ? n : 1) * USE_DIM * sizeof *out);
    if (out == NULL) {
        rc = lore_errf(err, LORE_ENOMEM, "out of memory");
        goto done;
    }
    /* Throughput: one warm-up pass, then 1 thread (OpenBLAS on 1 thread), 2 threads each
     * embedding half (OpenBLAS on 1 thread each: how concurrent callers should run), and one
     * thread whose batches OpenBLAS spreads over 2 threads. */
    prev = blas_set_threads(1);
    r->openblas = prev >= 0;
    size_t warm = n < 32 ? n : 32;
    fprintf(stderr, "lore bench: embedding %zu texts (%zu tokens) with use\n", n, r->tokens);
    if ((rc = embed_timed(m, (const char *const *)texts, warm, 1, out, &r->s_1thread, NULL,
                          err)) ||
        (rc = embed_timed(m, (const char *const *)texts, n, 1, out, &r->s_1thread,
                          &r->cpu_1thread, err)) ||
        (rc = embed_timed(m, (const char *const *)texts, n, 2, out, &r->s_2threads, NULL, err)))
        goto done;
    if (r->openblas) {
        blas_set_threads(2);
        rc = embed_timed(m, (const char *const *)texts, n, 1, out, &r->s_blas2, NULL, err);
        blas_set_threads(1);
        if (rc != 0)
            goto done;
    }

    /* Query latency: one query per call, as a search embeds it. */
    if (nq > 0 && o->query_runs > 0) {
        double *ms = malloc(o->query_runs * sizeof *ms);
        double *cpu = malloc(o->query_runs * sizeof *cpu);
        if (ms == NULL || cpu == NULL) {
            free(ms);
            free(cpu);
            rc = lore_errf(err, LORE_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < o->warmup + o->query_runs && rc == 0; i++) {
            const char *q = queries[i % nq];
            double c0 = thread_cpu_ms(), t0 = bench_now_ms();
            rc = use_embed_texts(m, &q, 1, out, err);
            if (i >= o->warmup) {
                ms[i - o->warmup] = bench_now_ms() - t0;
                cpu[i - o->warmup] = thread_cpu_ms() - c0;
            }
        }
        if (rc == 0) {
            bench_latency_summarise(ms, o->query_runs, &r->query);
            bench_latency_summarise(cpu, o->query_runs, &r->query_cpu);
        }
        /* The same queries the way a search embeds them (embed_use_query). */
        int ids[USE_MAX_TOKENS];
        use_qwork *work = use_qwork_new();
        if (work == NULL)
            rc = lore_errf(err, LORE_ENOMEM, "out of memory");
        for (size_t i = 0; i < o->warmup + o->query_runs && rc == 0; i++) {
            const char *q = queries[i % nq];
            double c0 = thread_cpu_ms(), t0 = bench_now_ms();
            size_t total = 0;
            rc = spm_encode(use_tokenizer(m), q, strlen(q), ids, USE_MAX_TOKENS, &total, err);
            if (rc == 0)
                rc = use_embed_query_ids(m, work, ids,
                                         total < USE_MAX_TOKENS ? total : USE_MAX_TOKENS, out,
                                         err);
            if (i >= o->warmup) {
                ms[i - o->warmup] = bench_now_ms() - t0;
                cpu[i - o->warmup] = thread_cpu_ms() - c0;
            }
        }
        use_qwork_free(work);
        if (rc == 0) {
            bench_latency_summarise(ms, o->query_runs, &r->search_query);
            bench_latency_summarise(cpu, o->query_runs, &r->search_query_cpu);
        }
        free(ms);
        free(cpu);
        if (rc != 0)
            goto done;
    }
    run_node(o, texts, n, queries, nq, r);
done:
    if (prev >= 0)
        blas_set_threads(prev);
    free(out);
    free(queries);
    text_list_free(texts, n);
    use_free(m);
    return rc;
}
