#include "server.h"

#include "acache.h"
#include "answer.h"
#include "answer_json.h"
#include "auth.h"
#include "convo.h"
#include "metrics.h"
#include "pool.h"
#include "sbuf.h"
#include "search.h"
#include "search_json.h"
#include "text.h"
#include "vindex.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- configuration and state ---- */

#define MAX_CORS 16

typedef struct srv_conf {
    char host[256];
    unsigned port;
    const char *data;
    size_t workers, max_inflight, max_body, max_question, cache_size, search_cache_size;
    size_t history_turns;
    long conversation_ttl, drain_timeout, idle_timeout, reload_ms;
    const char *keys_file, *conversations, *web_dir, *access_log;
    const char *cors[MAX_CORS];
    size_t ncors;
} srv_conf;

/* A first-in first-out queue of jobs and the threads that run them (offload). */
typedef struct runq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *first, *last;
    int stop;
    int made; /* mu and cv initialised */
    pthread_t *th;
    size_t nth; /* threads started */
} runq;

typedef struct srv {
    srv_conf cf;
    char root[PATH_MAX];
    char web[PATH_MAX];
    pool *pool;
    metrics *m;
    acache *cache;  /* answers */
    acache *scache; /* search results */
    convo *convos;
    auth *keys;
    FILE *log;
    pthread_mutex_t log_mu;
    atomic_long inflight;
    atomic_long producers;
    atomic_long jobs;     /* requests handed to jobs and not yet resumed (offload) */
    runq searches;        /* searches and collection listings (offload) */
    runq answers;
    atomic_int draining;
    atomic_int abandon;   /* the drain timed out: streams stop at their next token */
} srv;

enum route {
    R_NOTFOUND, R_SEARCH, R_ANSWER, R_COLLECTIONS, R_HEALTHZ, R_READYZ, R_METRICS,
    R_PLAYGROUND, R_OPTIONS
};

static const char *const ROUTE_NAMES[] = {"not_found", "search",  "answer",     "collections",
                                          "healthz",   "readyz",  "metrics",    "playground",
                                          "options"};

#define MAX_STAGES 16

/* One request, from its first access-handler call to its completion notice. */
typedef struct req {
    srv *sv;
    enum route route;
    char method[8];
    char path[128];
    double t0;
    sbuf body;
    int too_large;
    int reject;        /* 429 or 503 decided at the first call */
    int status;
    char collection[65];
    long long generation; /* -1: none */
    const char *cache;    /* "hit", "miss" or NULL */
    char refusal[40];
    char error[40];
    struct { const char *name; double ms; } stages[MAX_STAGES];
    size_t nstages;
    int streamed;
    int offloaded; /* 1: handed to a job (offload); the job owns r until it resumes c */
} req;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void srv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void srv_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lore serve: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void stage(req *r, const char *name, double ms)
{
    if (r->nstages < MAX_STAGES && ms >= 0) {
        r->stages[r->nstages].name = name;
        r->stages[r->nstages].ms = ms;
        r->nstages++;
    }
}

/* ---- responses ---- */

static void add_common_headers(req *r, struct MHD_Connection *c, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (origin == NULL)
        return;
    for (size_t i = 0; i < r->sv->cf.ncors; i++) {
        if (strcmp(r->sv->cf.cors[i], "*") == 0) {
            MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
            return;
        }
        if (strcmp(r->sv->cf.cors[i], origin) == 0) {
            MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
            MHD_add_response_header(resp, "Vary", "Origin");
            return;
        }
    }
}

/* Queues body (malloc'd; taken over) with status. */
static enum MHD_Result respond_raw(req *r, struct MHD_Connection *c, int status,
                                   const char *ctype, char *body, size_t len,
                                   const char *const *extra)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    add_common_headers(r, c, resp);
    for (size_t i = 0; extra && extra[i]; i += 2)
        MHD_add_response_header(resp, extra[i], extra[i + 1]);
    if (atomic_load(&r->sv->draining))
        MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    return ret;
}

/* Queues JSON text s (malloc'd, NUL-terminated; taken over) with status. */
static enum MHD_Result respond_json_text(req *r, struct MHD_Connection *c, int status, char *s,
                                         const char *const *extra)
{
    if (s == NULL)
        return MHD_NO;
    size_t n = strlen(s);
    /* One JSON document per line, for line-oriented clients and logs. */
    char *t = realloc(s, n + 2);
    if (t == NULL) {
        free(s);
        return MHD_NO;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    return respond_raw(r, c, status, "application/json", t, n + 1, extra);
}

static enum MHD_Result respond_json(req *r, struct MHD_Connection *c, int status, cJSON *o,
                                    const char *const *extra)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return respond_json_text(r, c, status, s, extra);
}

static enum MHD_Result respond_error(req *r, struct MHD_Connection *c, int status,
                                     const char *code, const char *const *extra,
                                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static enum MHD_Result respond_error(req *r, struct MHD_Connection *c, int status,
                                     const char *code, const char *const *extra,
                                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(r->error, sizeof r->error, "%s", code);
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    return respond_json(r, c, status, o, extra);
}

/* An engine failure: the details go to the server log, the client gets a generic 500. */
static enum MHD_Result respond_internal(req *r, struct MHD_Connection *c, const lore_err *err)
{
    srv_log("%s %s: %s", r->method, r->path, err->msg);
    return respond_error(r, c, 500, "internal", NULL,
                         "internal error; the server log has the details");
}

/* ---- request bodies ---- */

typedef enum ftype { F_STRING, F_INT, F_BOOL } ftype;
typedef struct field {
    const char *name;
    ftype type;
    int required;
} field;

/* A whole number small enough to convert to an integer type without overflow. */
static int is_whole(double v)
{
    return v == floor(v) && fabs(v) < 1e15;
}

/* Parses the body as a JSON object whose members are all among `fields`, with the right
 * types. On failure queues the 4xx and returns NULL with *ret set. */
static cJSON *parse_body(req *r, struct MHD_Connection *c, const field *fields,
                         enum MHD_Result *ret)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    /* curl -d labels bodies application/x-www-form-urlencoded unless told otherwise; the
     * body is read as JSON either way. Any other declared type is a client mistake. */
    if (ct != NULL && strncasecmp(ct, "application/json", 16) != 0 &&
        strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        *ret = respond_error(r, c, 415, "unsupported_media_type", NULL,
                             "send the request body as application/json");
        return NULL;
    }
    if (r->body.len == 0) {
        *ret = respond_error(r, c, 400, "bad_request", NULL,
                             "the request body is empty: send a JSON object");
        return NULL;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(r->body.buf, r->body.len, &end, 0);
    if (o == NULL) {
        size_t at = end && end >= r->body.buf ? (size_t)(end - r->body.buf) : 0;
        *ret = respond_error(r, c, 400, "bad_json", NULL,
                             "the request body is not valid JSON (error near byte %zu)", at);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        *ret = respond_error(r, c, 400, "bad_json", NULL,
                             "the request body must be a JSON object");
        return NULL;
    }
    for (cJSON *it = o->child; it; it = it->next) {
        const field *f = NULL;
        for (size_t i = 0; fields[i].name; i++)
            if (it->string && strcmp(it->string, fields[i].name) == 0)
                f = &fields[i];
        if (f == NULL) {
            char name[64];
            snprintf(name, sizeof name, "%s", it->string ? it->string : "");
            cJSON_Delete(o);
            *ret = respond_error(r, c, 400, "unknown_field", NULL, "unknown field '%s'", name);
            return NULL;
        }
        int ok = f->type == F_STRING ? cJSON_IsString(it)
                 : f->type == F_BOOL ? cJSON_IsBool(it)
                                     : cJSON_IsNumber(it) && is_whole(it->valuedouble);
        if (!ok) {
            const char *want = f->type == F_STRING ? "a string"
                               : f->type == F_BOOL ? "true or false"
                                                   : "a whole number";
            *ret = respond_error(r, c, 400, "bad_field", NULL, "field '%s' must be %s",
                                 f->name, want);
            cJSON_Delete(o);
            return NULL;
        }
    }
    for (size_t i = 0; fields[i].name; i++) {
        if (fields[i].required && !cJSON_GetObjectItemCaseSensitive(o, fields[i].name)) {
            *ret = respond_error(r, c, 400, "missing_field", NULL, "field '%s' is required",
                                 fields[i].name);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

static const char *get_str(cJSON *o, const char *name, const char *dflt)
{
    cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(it) ? it->valuestring : dflt;
}

/* Checks the question and the collection of a body; queues the 4xx on failure. */
static int check_question(req *r, struct MHD_Connection *c, const char *q, enum MHD_Result *ret)
{
    size_t n = strlen(q);
    int blank = 1;
    for (size_t i = 0; i < n && blank; i++)
        blank = q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r';
    if (blank) {
        *ret = respond_error(r, c, 400, "bad_field", NULL, "field 'question' is empty");
        return -1;
    }
    if (n > r->sv->cf.max_question) {
        *ret = respond_error(r, c, 413, "question_too_long", NULL,
                             "field 'question' is %zu bytes; the limit is %zu", n,
                             r->sv->cf.max_question);
        return -1;
    }
    if (!text_utf8_valid(q, n)) {
        *ret = respond_error(r, c, 400, "bad_field", NULL, "field 'question' is not valid UTF-8");
        return -1;
    }
    return 0;
}

static int check_collection(req *r, struct MHD_Connection *c, const char *name,
                            enum MHD_Result *ret)
{
    if (coll_name_valid(name, NULL) != 0) {
        *ret = respond_error(r, c, 400, "bad_field", NULL,
                             "field 'collection' must be 1 to 64 letters, digits, '_' or '-'");
        return -1;
    }
    snprintf(r->collection, sizeof r->collection, "%s", name);
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    static const char *const www[] = {"WWW-Authenticate", "Bearer realm=\"lore\"", NULL};
    switch (auth_check(r->sv->keys, h, name)) {
    case AUTH_OK: return 0;
    case AUTH_MISSING:
        *ret = respond_error(r, c, 401, "unauthorized", www,
                             "this service needs an API key: send \"Authorization: Bearer KEY\"");
        return -1;
    case AUTH_INVALID:
        *ret = respond_error(r, c, 401, "unauthorized", www, "the API key is not valid");
        return -1;
    case AUTH_FORBIDDEN:
        *ret = respond_error(r, c, 403, "forbidden", NULL,
                             "the API key does not grant collection '%s'", name);
        return -1;
    }
    return -1;
}

/* Pins the collection in a checked-out worker; on failure queues the response (404 for an
 * unknown collection) and puts the worker back. */
static int pin(req *r, struct MHD_Connection *c, pool_worker *w, pool_view *v,
               enum MHD_Result *ret)
{
    lore_err err = {0};
    int rc = pool_pin(w, r->collection, v, &err);
    if (rc == 0) {
        r->generation = (long long)v->generation;
        return 0;
    }
    pool_put(r->sv->pool, w);
    if (rc == LORE_ENOTFOUND)
        *ret = respond_error(r, c, 404, "unknown_collection", NULL, "no collection '%s'",
                             r->collection);
    else
        *ret = respond_internal(r, c, &err);
    return -1;
}

/* ---- work off the event thread ----
 *
 * One event thread (epoll) reads requests and writes responses for every connection; the
 * work runs as jobs while their connections are suspended. A job queues its response (MHD
 * allows that on a suspended connection), then resumes the connection; until then r is the
 * job's. Should a job queue nothing (out of memory), MHD calls the access handler again and
 * on_request closes the connection.
 *
 * Jobs wait in first-in first-out queues, each served by a fixed set of threads: under load a
 * thread takes the next job without sleeping, so a request costs no thread switch of its own,
 * and the order keeps latency fair across connections. (A thread per connection, as before,
 * spent about a quarter of the CPU at c=32 switching between 30-odd threads; running
 * searches on several event threads instead was as fast but unfair, each thread serving the
 * connections it happened to accept: BENCHMARKS.md.) Searches have one thread per core.
 * Answers, which can wait seconds for the LLM, have their own queue and one thread per
 * worker, so a slow answer never holds up the searches queued behind it (though answers
 * holding every worker make searches wait for one, in order, as any request would). A
 * streamed answer's pipeline (the stream's producer) runs on its answer thread after the
 * response is queued. */
typedef enum MHD_Result (*job_fn)(req *r, struct MHD_Connection *c);

typedef struct job {
    req *r;
    struct MHD_Connection *c;
    job_fn fn;
    void *(*after)(void *); /* run once c is resumed (a stream's producer), or NULL */
    void *after_arg;
    struct job *next;
} job;

/* The job this thread is running: fn may set its `after`. */
static _Thread_local job *running_job;

/* Hands j's connection back to the event thread (its response is queued) and runs its
 * `after`. */
static void job_done(job *j)
{
    srv *sv = j->r->sv;
    void *(*after)(void *) = j->after;
    void *arg = j->after_arg;
    struct MHD_Connection *c = j->c;
    free(j);
    /* From here on the connection may complete and free r. */
    MHD_resume_connection(c);
    atomic_fetch_sub(&sv->jobs, 1);
    if (after)
        after(arg);
}

static void job_finish(job *j)
{
    running_job = j;
    j->fn(j->r, j->c);
    running_job = NULL;
    job_done(j);
}

/* Searches a search thread takes off its queue at once, when that many are waiting: their
 * questions are embedded together (run_search_batch). 8: the embedding's cost per question
 * stops falling at about 6 (use_embed_queries_ids). */
#define SEARCH_BATCH 8

static enum MHD_Result do_search(req *r, struct MHD_Connection *c);
static void run_search_batch(job **jobs, size_t n);

static void *runq_thread(void *arg)
{
    runq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->first == NULL && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        job *j = q->first;
        if (j == NULL)
            break; /* stopping, and nothing left */
        /* Several searches waiting in a row go together; nothing waits for more to come. */
        job *batch[SEARCH_BATCH];
        size_t nb = 0;
        do {
            batch[nb++] = j = q->first;
            q->first = j->next;
        } while (j->fn == do_search && nb < SEARCH_BATCH && q->first != NULL &&
                 q->first->fn == do_search);
        if (q->first == NULL)
            q->last = NULL;
        pthread_mutex_unlock(&q->mu);
        if (nb > 1)
            run_search_batch(batch, nb);
        else
            job_finish(j);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static int runq_start(runq *q, size_t n, lore_err *err)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->made = 1;
    if ((q->th = calloc(n, sizeof *q->th)) == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory");
    for (; q->nth < n; q->nth++)
        if (pthread_create(&q->th[q->nth], NULL, runq_thread, q) != 0)
            return lore_errf(err, LORE_ENOMEM, "cannot start the request threads");
    return 0;
}

/* After the daemon has stopped: no job is queued or will be. */
static void runq_stop(runq *q)
{
    if (q->made) {
        pthread_mutex_lock(&q->mu);
        q->stop = 1;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        for (size_t i = 0; i < q->nth; i++)
            pthread_join(q->th[i], NULL);
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
    }
    free(q->th);
}

/* Suspends c and queues fn's job on q. */
static enum MHD_Result offload(req *r, struct MHD_Connection *c, job_fn fn, runq *q)
{
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return MHD_NO;
    j->r = r;
    j->c = c;
    j->fn = fn;
    r->offloaded = 1;
    atomic_fetch_add(&r->sv->jobs, 1);
    MHD_suspend_connection(c);
    pthread_mutex_lock(&q->mu);
    if (q->last)
        q->last->next = j;
    else
        q->first = j;
    q->last = j;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return MHD_YES;
}

/* ---- /v1/search ---- */

/* A search request between its parsing and its run. */
typedef struct search_req {
    req *r;
    struct MHD_Connection *c;
    cJSON *in; /* the parsed body: q points into it */
    const char *q;
    search_options so;
    int mode_given;
    acache_key sk;
} search_req;

/* Parses and checks a search and answers it when it can without running it (an error, a
 * cached result). 0: sr is ready for search_exec; 1: answered with *ret. */
static int search_prepare(req *r, struct MHD_Connection *c, search_req *sr,
                          enum MHD_Result *ret)
{
    static const field fields[] = {{"question", F_STRING, 1}, {"collection", F_STRING, 0},
                                   {"k", F_INT, 0},           {"mode", F_STRING, 0},
                                   {NULL, 0, 0}};
    memset(sr, 0, sizeof *sr);
    sr->r = r;
    sr->c = c;
    *ret = MHD_NO;
    cJSON *in = parse_body(r, c, fields, ret);
    if (in == NULL)
        return 1;
    sr->in = in;
    const char *q = get_str(in, "question", "");
    sr->q = q;
    search_options *so = &sr->so;
    search_options_default(so);
    so->k = 5;
    cJSON *k = cJSON_GetObjectItemCaseSensitive(in, "k");
    if (k && (k->valuedouble < 1 || k->valuedouble > 50)) {
        *ret = respond_error(r, c, 400, "bad_field", NULL, "field 'k' must be from 1 to 50");
        goto answered;
    }
    if (k)
        so->k = (size_t)k->valuedouble;
    const char *mode = get_str(in, "mode", NULL);
    if (mode) {
        if (search_mode_parse(mode, &so->mode, NULL) != 0) {
            *ret = respond_error(r, c, 400, "bad_field", NULL,
                                 "field 'mode' must be \"bm25\", \"vector\" or \"hybrid\"");
            goto answered;
        }
        sr->mode_given = 1;
    }
    if (check_question(r, c, q, ret) != 0 ||
        check_collection(r, c, get_str(in, "collection", "default"), ret) != 0)
        goto answered;
    /* The cache is keyed by the newest generation loaded: a re-index changes the key. */
    sr->sk = (acache_key){r->collection, 0, q,
                          (int)so->k * 4 + (sr->mode_given ? (int)so->mode : 3), 0};
    uint64_t g;
    if (r->sv->scache && pool_generation(r->sv->pool, r->collection, &g) == 0) {
        sr->sk.generation = g;
        char *hit = acache_get(r->sv->scache, &sr->sk);
        metrics_search_cache(r->sv->m, hit != NULL);
        cJSON *o = hit ? cJSON_Parse(hit) : NULL;
        free(hit);
        if (o != NULL) {
            r->cache = "hit";
            r->generation = (long long)g;
            cJSON_ReplaceItemInObjectCaseSensitive(o, "cached", cJSON_CreateTrue());
            cJSON_ReplaceItemInObjectCaseSensitive(o, "question", cJSON_CreateString(q));
            /* The stages did not run for this request. */
            cJSON_ReplaceItemInObjectCaseSensitive(o, "timings_ms", cJSON_CreateObject());
            *ret = respond_json(r, c, 200, o, NULL);
            goto answered;
        }
    }
    return 0;
answered:
    cJSON_Delete(in);
    sr->in = NULL;
    return 1;
}

/* Runs a prepared search on the pinned view v and answers it. qvec: the question's vector
 * from embed_queries, or NULL to let the search embed it; embed_ms: the request's share of
 * that embedding (its stage time). Frees sr->in. */
static enum MHD_Result search_exec(search_req *sr, const pool_view *v, const float *qvec,
                                   double embed_ms)
{
    req *r = sr->r;
    struct MHD_Connection *c = sr->c;
    const char *q = sr->q;
    search_options so = sr->so;
    enum MHD_Result ret = MHD_NO;
    lore_err err = {0};
    r->generation = (long long)v->generation;
    if (r->sv->scache)
        r->cache = "miss";
    if (!sr->mode_given && coll_vindex(v->c) == NULL && embed_dim(coll_embedder(v->c)) == 0)
        so.mode = SEARCH_BM25; /* a lexical-only collection */
    so.query_vec = so.mode != SEARCH_BM25 ? qvec : NULL;
    search_results res;
    int rc = search_run(v->s, q, &so, &res, &err);
    if (rc == LORE_EUNSUP) {
        ret = respond_error(r, c, 400, "bad_field", NULL,
                            "collection '%s' has no vectors: use \"mode\": \"bm25\"",
                            r->collection);
        goto out;
    }
    if (rc != 0) {
        ret = respond_internal(r, c, &err);
        goto out;
    }
    stage(r, "analyze", res.ms_analyze);
    stage(r, "bm25", res.ms_bm25);
    stage(r, "embed", so.query_vec ? embed_ms : res.ms_embed);
    stage(r, "vector", res.ms_vector);
    stage(r, "fuse", res.ms_fuse);
    stage(r, "rerank", res.ms_rerank);
    stage(r, "fetch", res.ms_fetch);
    /* Written as text, not built as a cJSON tree and printed: that took a few hundred small
     * allocations and a sscanf per number, 5% of a search's CPU. */
    sbuf b = SBUF_INIT;
    const char *mname = search_mode_name(so.mode);
    const char *dname = search_decision_name(res.decision);
    int wrc = sbuf_adds(&b, "{\"collection\":");
    wrc |= sbuf_add_json_str(&b, r->collection, strlen(r->collection));
    wrc |= sbuf_adds(&b, ",\"generation\":") | sbuf_add_json_num(&b, (double)v->generation);
    wrc |= sbuf_adds(&b, ",\"question\":") | sbuf_add_json_str(&b, q, strlen(q));
    wrc |= sbuf_adds(&b, ",\"mode\":") | sbuf_add_json_str(&b, mname, strlen(mname));
    wrc |= sbuf_adds(&b, ",\"confidence\":") | sbuf_add_json_num(&b, res.confidence);
    wrc |= sbuf_adds(&b, ",\"threshold\":") | sbuf_add_json_num(&b, res.threshold);
    wrc |= sbuf_adds(&b, ",\"decision\":") | sbuf_add_json_str(&b, dname, strlen(dname));
    wrc |= sbuf_adds(&b, ",\"reason\":");
    wrc |= res.reason ? sbuf_add_json_str(&b, res.reason, strlen(res.reason))
                      : sbuf_adds(&b, "null");
    wrc |= sbuf_adds(&b, ",\"results\":") | search_hits_write(&b, &res);
    wrc |= sbuf_adds(&b, ",\"timings_ms\":{");
    for (size_t i = 0; i < r->nstages; i++) {
        wrc |= sbuf_adds(&b, i ? ",\"" : "\"") | sbuf_adds(&b, r->stages[i].name);
        wrc |= sbuf_adds(&b, "\":") | sbuf_add_json_num(&b, r->stages[i].ms);
    }
    wrc |= sbuf_adds(&b, "},\"cached\":false}");
    search_results_free(&res);
    if (wrc != 0) {
        sbuf_free(&b);
        ret = MHD_NO;
        goto out;
    }
    if (r->sv->scache) {
        acache_key sk = sr->sk;
        sk.generation = v->generation;
        if (acache_put(r->sv->scache, &sk, sbuf_str(&b), &err) != 0)
            srv_log("%s", err.msg);
    }
    ret = respond_json_text(r, c, 200, sbuf_detach(&b), NULL);
out:
    cJSON_Delete(sr->in);
    sr->in = NULL;
    return ret;
}

/* Runs searches taken off the queue together (runq_thread): each collection's waiting
 * questions are embedded in one embed_queries call on one pinned view, then each search runs
 * with its vector, in queue order within the collection, and the answered searches are
 * handed back together at the end. Every search answers as do_search would: the batch's
 * vectors are the ones each search would have embedded (embed_queries), and when the batch
 * embedding fails the searches embed their own (and report the failure as they would).
 *
 * Handing the batch back at once wakes the event thread once for all of its responses, and
 * it sends them in one go: `lore bench --serve`, /v1/search, 2,098-2,347 -> 2,937-3,069
 * req/s and p99 22.9-25.2 -> 16.8-17.5 ms (three alternating runs each) against handing each
 * back as it was answered, which woke the event thread (and with it wrk) once per search.
 * Tried instead: putting the embedded searches back at the head of the queue for either
 * thread to run, so that a batch's last search need not wait for the others: no shorter
 * tail, and fewer searches a second (a view pinned per search again). */
static void run_search_batch(job **jobs, size_t n)
{
    enum { PENDING, RUN, HANDED_BACK };
    search_req sr[SEARCH_BATCH];
    int state[SEARCH_BATCH];
    for (size_t i = 0; i < n; i++) {
        enum MHD_Result ret;
        running_job = jobs[i];
        int answered = search_prepare(jobs[i]->r, jobs[i]->c, &sr[i], &ret) != 0;
        running_job = NULL;
        state[i] = answered ? HANDED_BACK : PENDING;
        if (answered)
            job_done(jobs[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (state[i] != PENDING)
            continue;
        srv *sv = jobs[i]->r->sv;
        pool_worker *w = pool_get(sv->pool);
        pool_view v;
        enum MHD_Result ret;
        if (pin(sr[i].r, sr[i].c, w, &v, &ret) != 0) { /* answered; w returned */
            cJSON_Delete(sr[i].in);
            state[i] = RUN;
            continue;
        }
        size_t grp[SEARCH_BATCH], ng = 0, nt = 0;
        long vix[SEARCH_BATCH]; /* a member's vector in vecs, -1: none */
        const char *texts[SEARCH_BATCH];
        for (size_t j = i; j < n; j++) {
            if (state[j] != PENDING || strcmp(sr[j].r->collection, sr[i].r->collection) != 0)
                continue;
            vix[ng] = search_embeds_question(v.c, &sr[j].so) ? (long)nt : -1;
            if (vix[ng] >= 0)
                texts[nt++] = sr[j].q;
            grp[ng++] = j;
        }
        embedder *e = coll_embedder(v.c);
        float *vecs = NULL;
        double share = 0.0;
        if (nt > 1 && embed_queries_together(e)) {
            lore_err err = {0};
            double t0 = now_ms();
            if (embed_queries(e, texts, nt, &vecs, &err) == 0 && vecs != NULL) {
                share = (now_ms() - t0) / (double)nt;
                metrics_embed_batch(sv->m, nt);
            } else {
                free(vecs);
                vecs = NULL;
            }
        }
        size_t dim = (size_t)embed_dim(e);
        for (size_t g = 0; g < ng; g++) {
            size_t j = grp[g];
            running_job = jobs[j];
            search_exec(&sr[j], &v, vecs && vix[g] >= 0 ? vecs + (size_t)vix[g] * dim : NULL,
                        share);
            running_job = NULL;
            state[j] = RUN;
        }
        free(vecs);
        pool_put(sv->pool, w);
    }
    for (size_t i = 0; i < n; i++)
        if (state[i] == RUN)
            job_done(jobs[i]);
}

static enum MHD_Result do_search(req *r, struct MHD_Connection *c)
{
    search_req sr;
    enum MHD_Result ret;
    if (search_prepare(r, c, &sr, &ret) != 0)
        return ret;
    pool_worker *w = pool_get(r->sv->pool);
    pool_view v;
    if (pin(r, c, w, &v, &ret) != 0) {
        cJSON_Delete(sr.in);
        return ret;
    }
    ret = search_exec(&sr, &v, NULL, 0.0);
    pool_put(r->sv->pool, w);
    return ret;
}

/* ---- /v1/answer ---- */

/* The cacheable part of an answer's JSON. */
static cJSON *answer_json(const answer_result *a, const char *collection, uint64_t gen)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "collection", collection);
    cJSON_AddNumberToObject(o, "generation", (double)gen);
    if (answer_json_add(o, a) != 0)
        srv_log("POST /v1/answer (%s): out of memory building the answer", collection);
    /* An LLM failure's detail names the upstream server and its error: internals, so the
     * client gets a plain sentence and the server log the details. */
    if (!a->answered && a->refusal && strcmp(a->refusal, ANSWER_REASON_LLM_ERROR) == 0) {
        if (a->detail)
            srv_log("POST /v1/answer (%s): %s", collection, a->detail);
        cJSON *rf = cJSON_GetObjectItemCaseSensitive(o, "refusal");
        cJSON_ReplaceItemInObjectCaseSensitive(
            rf, "detail", cJSON_CreateString("the language model could not be reached or failed"));
    }
    return o;
}

/* Stage timings, metrics and the log fields of a finished answer (or a cached one). */
static void note_answer(req *r, cJSON *o)
{
    cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "timings_ms");
    static const char *const names[] = {"refine", "search",   "prompt", "first_token",
                                        "llm",    "validate", "total"};
    if (r->cache == NULL || strcmp(r->cache, "hit") != 0) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            cJSON *x = cJSON_GetObjectItemCaseSensitive(t, names[i]);
            /* Stages that did not run report 0 (or less): they are not observations. */
            if (cJSON_IsNumber(x) && x->valuedouble > 0)
                stage(r, strcmp(names[i], "total") == 0 ? "answer" : names[i], x->valuedouble);
        }
    }
    cJSON *rf = cJSON_GetObjectItemCaseSensitive(o, "refusal");
    const char *reason = get_str(rf, "reason", NULL);
    if (reason) {
        snprintf(r->refusal, sizeof r->refusal, "%s", reason);
        metrics_refusal(r->sv->m, reason);
        if (strcmp(reason, ANSWER_REASON_LLM_ERROR) == 0 && strcmp(r->cache, "hit") != 0)
            metrics_llm_error(r->sv->m);
    }
}

/* 1 when a result may be reused for the same question at the same generation. */
static int cacheable(const answer_result *a)
{
    return a->refusal == NULL || (strcmp(a->refusal, ANSWER_REASON_LLM_ERROR) != 0 &&
                                  strcmp(a->refusal, ANSWER_REASON_CANCELLED) != 0);
}

typedef struct ask {
    char *question, *conv_id;
    int extractive;
    convo_history hist;
    acache_key key;
} ask;

/* Remembers the turn in the conversation; failures are logged, never fatal: the answer
 * itself was produced. */
static void remember(srv *sv, const ask *k, const char *collection, cJSON *o)
{
    if (k->conv_id == NULL || sv->convos == NULL)
        return;
    cJSON *ans = cJSON_GetObjectItemCaseSensitive(o, "answer");
    lore_err err = {0};
    if (convo_append(sv->convos, k->conv_id, collection, k->question,
                     cJSON_IsString(ans) ? ans->valuestring : NULL, &err) != 0)
        srv_log("%s", err.msg);
}

/* SSE framing: "event: NAME\ndata: JSON\n\n" (JSON has no raw newlines). */
static int sse_event(sbuf *b, const char *event, cJSON *data)
{
    char *s = cJSON_PrintUnformatted(data);
    if (s == NULL)
        return LORE_ENOMEM;
    int rc = sbuf_addf(b, "event: %s\ndata: %s\n\n", event, s);
    free(s);
    return rc;
}

/* The events after the tokens: citations, then done or refusal. */
static int sse_tail(sbuf *b, cJSON *o, int streamed_text)
{
    cJSON *cit = cJSON_CreateObject();
    cJSON_AddItemToObject(cit, "citations",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, "citations"), 1));
    int rc = sse_event(b, "citations", cit);
    cJSON_Delete(cit);
    cJSON *answered = cJSON_GetObjectItemCaseSensitive(o, "answered");
    if (rc == 0 && cJSON_IsTrue(answered)) {
        rc = sse_event(b, "done", o);
    } else if (rc == 0) {
        cJSON *rf = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, "refusal"), 1);
        if (rf == NULL)
            return LORE_ENOMEM;
        static const char *const copy[] = {"confidence", "retrieval_confidence", "threshold",
                                           "mode", "query", "cached", "conversation_id"};
        for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++) {
            cJSON *x = cJSON_GetObjectItemCaseSensitive(o, copy[i]);
            if (x != NULL)
                cJSON_AddItemToObject(rf, copy[i], cJSON_Duplicate(x, 1));
        }
        /* Tokens already sent belong to an answer that failed validation: withdraw them. */
        cJSON_AddBoolToObject(rf, "withdrawn", streamed_text);
        rc = sse_event(b, "refusal", rf);
        cJSON_Delete(rf);
    }
    return rc;
}

static cJSON *retrieval_event(const char *collection, uint64_t gen, const char *conv_id)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "collection", collection);
    cJSON_AddNumberToObject(e, "generation", (double)gen);
    if (conv_id)
        cJSON_AddStringToObject(e, "conversation_id", conv_id);
    return e;
}

/* The retrieval event of a search: what the reader sees before the answer. */
static cJSON *retrieval_full(const char *collection, uint64_t gen, const char *conv_id,
                             const char *query, const search_results *sr)
{
    cJSON *e = retrieval_event(collection, gen, conv_id);
    cJSON_AddStringToObject(e, "query", query);
    cJSON_AddNumberToObject(e, "confidence", sr->confidence);
    cJSON_AddStringToObject(e, "decision", search_decision_name(sr->decision));
    cJSON_AddItemToObject(e, "results", search_hits_json(sr));
    return e;
}

/* Cached answers keep their retrieval event (without a conversation id) under this key, so
 * a streamed cache hit shows the ranked chunks as a computed answer does; it is taken out
 * before a hit is answered. */
#define CACHED_RETRIEVAL "_retrieval"

/* Puts answer o (and its retrieval event, when there is one) in the answer cache. */
static void cache_answer(srv *sv, const acache_key *key, cJSON *o, cJSON *retrieval)
{
    if (retrieval != NULL) {
        cJSON_DeleteItemFromObjectCaseSensitive(retrieval, "conversation_id");
        cJSON_AddItemReferenceToObject(o, CACHED_RETRIEVAL, retrieval);
    }
    char *json = cJSON_PrintUnformatted(o);
    cJSON_DeleteItemFromObjectCaseSensitive(o, CACHED_RETRIEVAL); /* the reference only */
    lore_err err = {0};
    if (json && acache_put(sv->cache, key, json, &err) != 0)
        srv_log("%s", err.msg);
    free(json);
}

/* A streaming answer: the producer (on the answer's thread, after the response is queued)
 * runs the pipeline and appends SSE frames; the event thread reads them in the content
 * reader, parking the connection while there is nothing new. Freed by the last of the two. */
typedef struct stream {
    pthread_mutex_t mu;
    struct MHD_Connection *conn; /* NULL once the response is gone */
    int suspended;               /* the reader found nothing and parked conn (stream_wake) */
    sbuf out;
    size_t off;
    int finished, cancelled, refs;
    srv *sv;
    req *r; /* touched only by the connection's thread (the reader) */
    pool_worker *w;
    pool_view v;
    ask k;
    char collection[65];
    int sent_retrieval, sent_text;
    cJSON *retrieval; /* the retrieval event sent, for the answer cache */
    char carry[4];
    size_t ncarry;
    /* what the log needs, filled by the producer before `finished` */
    cJSON *final;
} stream;

static void ask_free(ask *k)
{
    free(k->question);
    free(k->conv_id);
    convo_history_free(&k->hist);
}

static void stream_unref(stream *s)
{
    pthread_mutex_lock(&s->mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last)
        return;
    sbuf_free(&s->out);
    ask_free(&s->k);
    cJSON_Delete(s->final);
    cJSON_Delete(s->retrieval);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* There is more to read (or the end): a reader that found nothing parked the connection, so
 * resume it. With s->mu held. */
static void stream_wake(stream *s)
{
    if (s->suspended && s->conn != NULL) {
        s->suspended = 0;
        MHD_resume_connection(s->conn);
    }
}

/* Length of the longest prefix of b[0..n) that ends on a whole UTF-8 character. */
static size_t utf8_whole(const char *b, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)b[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0)
        return n;
    unsigned char lead = (unsigned char)b[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return back + 1 >= need ? n : i - 1;
}

static int on_token(void *ctx, const char *text, size_t len)
{
    stream *s = ctx;
    /* Join with the bytes of a character split by the previous call, and hold back a split
     * character at the end: each event's JSON must be whole UTF-8. */
    char *buf = malloc(s->ncarry + len + 1);
    if (buf == NULL)
        return 1;
    memcpy(buf, s->carry, s->ncarry);
    memcpy(buf + s->ncarry, text, len);
    size_t total = s->ncarry + len;
    size_t whole = utf8_whole(buf, total);
    s->ncarry = total - whole;
    if (s->ncarry > sizeof s->carry)
        s->ncarry = 0; /* not UTF-8 at all: drop it rather than overflow */
    else
        memcpy(s->carry, buf + whole, s->ncarry);
    buf[whole] = '\0';
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (s->cancelled || atomic_load(&s->sv->abandon)) {
        rc = 1;
    } else {
        if (!s->sent_retrieval) {
            cJSON *e = retrieval_event(s->collection, s->v.generation, s->k.conv_id);
            rc = sse_event(&s->out, "retrieval", e);
            cJSON_Delete(e);
            s->sent_retrieval = 1;
        }
        if (rc == 0 && whole > 0) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "text", buf);
            rc = sse_event(&s->out, "token", e);
            cJSON_Delete(e);
            s->sent_text = 1;
        }
        stream_wake(s);
    }
    pthread_mutex_unlock(&s->mu);
    free(buf);
    return rc;
}

/* Retrieval is done: the sources go out before the first token, so a client can show them
 * while the answer is written. */
static int on_retrieval(void *ctx, const char *query, const search_results *sr)
{
    stream *s = ctx;
    cJSON *e = retrieval_full(s->collection, s->v.generation, s->k.conv_id, query, sr);
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (s->cancelled) {
        rc = 1;
    } else {
        rc = sse_event(&s->out, "retrieval", e);
        s->sent_retrieval = 1;
        stream_wake(s);
    }
    pthread_mutex_unlock(&s->mu);
    cJSON_Delete(s->retrieval);
    s->retrieval = e; /* read by the producer only, after the pipeline returns */
    return rc;
}

static void *stream_produce(void *arg)
{
    stream *s = arg;
    srv *sv = s->sv;
    lore_err err = {0};
    answer_result a;
    memset(&a, 0, sizeof a);
    int rc = pool_answerer(s->w, &s->v, &err);
    if (rc == 0) {
        answer_request rq = {.question = s->k.question, .history = s->k.hist.turns,
                             .n_history = s->k.hist.n, .on_token = on_token, .token_ctx = s,
                             .force_extractive = s->k.extractive, .on_retrieval = on_retrieval};
        rc = answerer_ask(s->v.a, &rq, &a, &err);
    }
    pool_put(sv->pool, s->w);
    cJSON *o = NULL;
    sbuf tail = SBUF_INIT;
    if (rc != 0) {
        srv_log("POST /v1/answer: %s", err.msg);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "code", "internal");
        cJSON_AddStringToObject(e, "message", "internal error; the server log has the details");
        sse_event(&tail, "error", e);
        cJSON_Delete(e);
    } else {
        o = answer_json(&a, s->collection, s->v.generation);
        if (s->k.hist.n == 0 && cacheable(&a))
            cache_answer(sv, &s->k.key, o, s->retrieval);
        remember(sv, &s->k, s->collection, o);
    }
    pthread_mutex_lock(&s->mu);
    if (!s->sent_retrieval) {
        cJSON *e = retrieval_event(s->collection, s->v.generation, s->k.conv_id);
        sse_event(&s->out, "retrieval", e);
        cJSON_Delete(e);
    }
    if (o != NULL) {
        if (s->k.conv_id)
            cJSON_AddStringToObject(o, "conversation_id", s->k.conv_id);
        cJSON_AddBoolToObject(o, "cached", 0);
        sse_tail(&tail, o, s->sent_text);
    }
    sbuf_add(&s->out, tail.buf ? tail.buf : "", tail.len);
    s->final = o;
    s->finished = 1;
    stream_wake(s);
    pthread_mutex_unlock(&s->mu);
    sbuf_free(&tail);
    answer_result_free(&a);
    stream_unref(s);
    atomic_fetch_sub(&sv->producers, 1);
    return NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *s = cls;
    pthread_mutex_lock(&s->mu);
    if (s->off == s->out.len && !s->finished) {
        /* Nothing yet: the event thread must not wait, so the connection is parked until
         * the producer has more (stream_wake). MHD allows suspending from here. */
        s->suspended = 1;
        MHD_suspend_connection(s->conn);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    ssize_t n;
    if (s->off < s->out.len) {
        size_t k = s->out.len - s->off;
        if (k > max)
            k = max;
        memcpy(buf, s->out.buf + s->off, k);
        s->off += k;
        if (s->off == s->out.len) {
            sbuf_reset(&s->out);
            s->off = 0;
        }
        n = (ssize_t)k;
    } else {
        if (s->r != NULL && s->final != NULL) {
            s->r->cache = "miss";
            note_answer(s->r, s->final);
        }
        s->r = NULL;
        n = MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void stream_gone(void *cls)
{
    stream *s = cls;
    pthread_mutex_lock(&s->mu);
    s->cancelled = 1;
    s->r = NULL;
    s->conn = NULL;
    s->suspended = 0;
    pthread_mutex_unlock(&s->mu);
    stream_unref(s);
}

static int wants_sse(struct MHD_Connection *c)
{
    const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    return acc != NULL && strstr(acc, "text/event-stream") != NULL;
}

static enum MHD_Result respond_sse(req *r, struct MHD_Connection *c, char *body, size_t len)
{
    r->streamed = 1;
    return respond_raw(r, c, 200, "text/event-stream; charset=utf-8", body, len, NULL);
}

/* A JSON answer's retrieval event, kept for the answer cache. */
typedef struct retrieval_keep {
    const char *collection;
    uint64_t generation;
    cJSON **out;
} retrieval_keep;

static int keep_retrieval(void *ctx, const char *query, const search_results *sr)
{
    retrieval_keep *k = ctx;
    cJSON_Delete(*k->out);
    *k->out = retrieval_full(k->collection, k->generation, NULL, query, sr);
    return 0;
}

static enum MHD_Result answer_cached(req *r, struct MHD_Connection *c, ask *k, char *json,
                                     int sse)
{
    cJSON *o = cJSON_Parse(json);
    free(json);
    if (o == NULL)
        return respond_error(r, c, 500, "internal", NULL, "internal error");
    cJSON *kept = cJSON_DetachItemFromObjectCaseSensitive(o, CACHED_RETRIEVAL);
    r->cache = "hit";
    note_answer(r, o);
    remember(r->sv, k, r->collection, o);
    if (k->conv_id)
        cJSON_AddStringToObject(o, "conversation_id", k->conv_id);
    cJSON_AddBoolToObject(o, "cached", 1);
    if (!sse) {
        cJSON_Delete(kept);
        return respond_json(r, c, 200, o, NULL);
    }
    sbuf b = SBUF_INIT;
    cJSON *e = kept;
    if (e == NULL)
        e = retrieval_event(r->collection, (uint64_t)r->generation, k->conv_id);
    else if (k->conv_id)
        cJSON_AddStringToObject(e, "conversation_id", k->conv_id);
    int rc = sse_event(&b, "retrieval", e);
    cJSON_Delete(e);
    cJSON *ans = cJSON_GetObjectItemCaseSensitive(o, "answer");
    if (rc == 0 && cJSON_IsString(ans)) {
        e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "text", ans->valuestring);
        rc = sse_event(&b, "token", e);
        cJSON_Delete(e);
    }
    if (rc == 0)
        rc = sse_tail(&b, o, 0);
    cJSON_Delete(o);
    if (rc != 0) {
        sbuf_free(&b);
        return MHD_NO;
    }
    size_t n = b.len;
    return respond_sse(r, c, sbuf_detach(&b), n);
}

static enum MHD_Result do_answer(req *r, struct MHD_Connection *c)
{
    static const field fields[] = {{"question", F_STRING, 1},
                                   {"collection", F_STRING, 0},
                                   {"conversation_id", F_STRING, 0},
                                   {"extractive", F_BOOL, 0},
                                   {NULL, 0, 0}};
    srv *sv = r->sv;
    enum MHD_Result ret = MHD_NO;
    cJSON *in = parse_body(r, c, fields, &ret);
    if (in == NULL)
        return ret;
    ask k;
    memset(&k, 0, sizeof k);
    lore_err err = {0};
    const char *q = get_str(in, "question", "");
    const char *conv = get_str(in, "conversation_id", NULL);
    int sse = wants_sse(c);
    if (check_question(r, c, q, &ret) != 0)
        goto out;
    if (conv && convo_id_valid(conv, &err) != 0) {
        ret = respond_error(r, c, 400, "bad_field", NULL, "%s", err.msg);
        goto out;
    }
    if (check_collection(r, c, get_str(in, "collection", "default"), &ret) != 0)
        goto out;
    k.question = strdup(q);
    k.conv_id = conv ? strdup(conv) : NULL;
    k.extractive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "extractive"));
    if (k.question == NULL || (conv && k.conv_id == NULL)) {
        ret = respond_error(r, c, 500, "internal", NULL, "out of memory");
        goto out;
    }
    if (conv && sv->convos && convo_load(sv->convos, conv, r->collection, &k.hist, &err) != 0) {
        if (err.code == LORE_EINVAL)
            ret = respond_error(r, c, 409, "conversation_conflict", NULL, "%s", err.msg);
        else
            ret = respond_internal(r, c, &err);
        goto out;
    }
    pool_worker *w = pool_get(sv->pool);
    pool_view v;
    if (pin(r, c, w, &v, &ret) != 0)
        goto out;
    k.key.collection = r->collection;
    k.key.generation = v.generation;
    k.key.question = k.question;
    k.key.variant = k.extractive;
    if (pool_config_epoch(sv->pool, r->collection, &k.key.config, &err) != 0) {
        pool_put(sv->pool, w);
        ret = respond_internal(r, c, &err);
        goto out;
    }
    if (k.hist.n == 0) {
        char *hit = acache_get(sv->cache, &k.key);
        metrics_cache(sv->m, hit != NULL);
        if (hit != NULL) {
            pool_put(sv->pool, w);
            ret = answer_cached(r, c, &k, hit, sse);
            goto out;
        }
    }
    r->cache = "miss";
    if (sse) {
        stream *s = calloc(1, sizeof *s);
        if (s == NULL) {
            pool_put(sv->pool, w);
            ret = respond_error(r, c, 500, "internal", NULL, "out of memory");
            goto out;
        }
        pthread_mutex_init(&s->mu, NULL);
        s->conn = c;
        s->refs = 2;
        s->sv = sv;
        s->r = r;
        s->w = w;
        s->v = v;
        s->k = k;
        s->k.key.collection = s->collection;
        s->k.key.question = s->k.question;
        snprintf(s->collection, sizeof s->collection, "%s", r->collection);
        memset(&k, 0, sizeof k); /* the stream owns them now */
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_gone);
        if (resp == NULL) {
            pool_put(sv->pool, w);
            stream_unref(s);
            stream_unref(s);
            ret = respond_error(r, c, 500, "internal", NULL, "cannot start the answer");
            goto out;
        }
        /* The pipeline runs on this answer thread once the response is queued (offload). */
        atomic_fetch_add(&sv->producers, 1);
        running_job->after = stream_produce;
        running_job->after_arg = s;
        MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        add_common_headers(r, c, resp);
        r->streamed = 1;
        r->status = 200;
        ret = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        goto out;
    }
    answer_result a;
    memset(&a, 0, sizeof a);
    cJSON *retrieval = NULL; /* kept with the cached answer for streamed hits */
    retrieval_keep rk = {r->collection, v.generation, &retrieval};
    int rc = pool_answerer(w, &v, &err);
    if (rc == 0) {
        answer_request rq = {.question = k.question, .history = k.hist.turns,
                             .n_history = k.hist.n, .force_extractive = k.extractive,
                             .on_retrieval = keep_retrieval, .token_ctx = &rk};
        rc = answerer_ask(v.a, &rq, &a, &err);
    }
    pool_put(sv->pool, w);
    if (rc != 0) {
        cJSON_Delete(retrieval);
        answer_result_free(&a);
        ret = respond_internal(r, c, &err);
        goto out;
    }
    cJSON *o = answer_json(&a, r->collection, v.generation);
    if (k.hist.n == 0 && cacheable(&a))
        cache_answer(sv, &k.key, o, retrieval);
    cJSON_Delete(retrieval);
    answer_result_free(&a);
    note_answer(r, o);
    remember(sv, &k, r->collection, o);
    if (k.conv_id)
        cJSON_AddStringToObject(o, "conversation_id", k.conv_id);
    cJSON_AddBoolToObject(o, "cached", 0);
    ret = respond_json(r, c, 200, o, NULL);
out:
    ask_free(&k);
    cJSON_Delete(in);
    return ret;
}

/* ---- /v1/collections ---- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum MHD_Result do_collections(req *r, struct MHD_Connection *c)
{
    srv *sv = r->sv;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    static const char *const www[] = {"WWW-Authenticate", "Bearer realm=\"lore\"", NULL};
    auth_result ar = auth_check(sv->keys, h, NULL);
    if (ar == AUTH_MISSING)
        return respond_error(r, c, 401, "unauthorized", www,
                             "this service needs an API key: send \"Authorization: Bearer KEY\"");
    if (ar != AUTH_OK)
        return respond_error(r, c, 401, "unauthorized", www, "the API key is not valid");
    char **names = NULL;
    size_t n = 0;
    DIR *d = opendir(sv->root);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char db[PATH_MAX];
            struct stat st;
            if (coll_name_valid(de->d_name, NULL) != 0 ||
                snprintf(db, sizeof db, "%s/%s/lore.db", sv->root, de->d_name) >= (int)sizeof db ||
                stat(db, &st) != 0 || !auth_grants(sv->keys, h, de->d_name))
                continue;
            char **g = realloc(names, (n + 1) * sizeof *g);
            if (g == NULL)
                break;
            names = g;
            if ((names[n] = strdup(de->d_name)) != NULL)
                n++;
        }
        closedir(d);
    }
    if (n > 1)
        qsort(names, n, sizeof *names, by_name);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "collections");
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX];
        store *st = NULL;
        store_stats stats;
        char *emb = NULL, *locale = NULL;
        lore_err err = {0};
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", names[i]);
        if (coll_dir(sv->root, names[i], dir, sizeof dir, &err) == 0 &&
            store_open(dir, STORE_READONLY, &st, &err) == 0 &&
            store_stats_get(st, &stats, &err) == 0) {
            store_meta_get(st, "embedder", &emb, NULL);
            store_meta_get(st, "locale", &locale, NULL);
            cJSON_AddNumberToObject(x, "articles", (double)stats.articles);
            cJSON_AddNumberToObject(x, "chunks", (double)stats.chunks);
            cJSON_AddNumberToObject(x, "generation", (double)stats.generation);
            cJSON_AddStringToObject(x, "embedder", emb ? emb : "none");
            cJSON_AddStringToObject(x, "locale", locale ? locale : "en");
        } else {
            srv_log("collection %s: %s", names[i], err.msg);
            cJSON_AddStringToObject(x, "error", "unreadable; the server log has the details");
        }
        free(emb);
        free(locale);
        store_close(st);
        cJSON_AddItemToArray(arr, x);
        free(names[i]);
    }
    free(names);
    return respond_json(r, c, 200, o, NULL);
}

/* ---- playground ---- */

static enum MHD_Result do_playground(req *r, struct MHD_Connection *c)
{
    static const struct {
        const char *url, *file, *ctype;
    } FILES[] = {{"/", "index.html", "text/html; charset=utf-8"},
                 {"/index.html", "index.html", "text/html; charset=utf-8"},
                 {"/app.js", "app.js", "text/javascript; charset=utf-8"},
                 {"/style.css", "style.css", "text/css; charset=utf-8"}};
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        if (strcmp(r->path, FILES[i].url) != 0)
            continue;
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", r->sv->web, FILES[i].file);
        FILE *f = r->sv->web[0] ? fopen(path, "rb") : NULL;
        sbuf b = SBUF_INIT;
        char chunk[8192];
        size_t got;
        int ok = f != NULL;
        while (ok && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
            ok = sbuf_add(&b, chunk, got) == 0 && b.len < (4u << 20);
        if (f != NULL) {
            ok = ok && !ferror(f);
            fclose(f);
        }
        if (!ok) {
            sbuf_free(&b);
            return respond_error(r, c, 404, "not_found",
                                 NULL, "the playground is not installed (start lore serve "
                                       "with --web DIR)");
        }
        static const char *const csp[] = {
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            NULL};
        size_t n = b.len;
        return respond_raw(r, c, 200, FILES[i].ctype, sbuf_detach(&b), n, csp);
    }
    return respond_error(r, c, 404, "not_found", NULL, "no route %s", r->path);
}

/* ---- dispatch ---- */

static enum route route_of(const char *url)
{
    if (strcmp(url, "/v1/search") == 0) return R_SEARCH;
    if (strcmp(url, "/v1/answer") == 0) return R_ANSWER;
    if (strcmp(url, "/v1/collections") == 0) return R_COLLECTIONS;
    if (strcmp(url, "/healthz") == 0) return R_HEALTHZ;
    if (strcmp(url, "/readyz") == 0) return R_READYZ;
    if (strcmp(url, "/metrics") == 0) return R_METRICS;
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0 ||
        strcmp(url, "/app.js") == 0 || strcmp(url, "/style.css") == 0)
        return R_PLAYGROUND;
    return R_NOTFOUND;
}

/* Breaker gauges are read at scrape time: a breaker changes state inside the LLM client,
 * and a cooldown passing is a change no request reports. */
static void note_breaker(void *ctx, const char *name, answer_env *env)
{
    metrics_breaker(ctx, name, answer_env_breaker_open(env, 0));
}

static enum MHD_Result dispatch(req *r, struct MHD_Connection *c)
{
    srv *sv = r->sv;
    if (r->reject == 503)
        return respond_error(r, c, 503, "shutting_down", NULL, "the server is shutting down");
    if (r->reject == 429) {
        static const char *const ra[] = {"Retry-After", "1", NULL};
        return respond_error(r, c, 429, "too_many_requests", ra,
                             "too many requests in flight (limit %zu); retry shortly",
                             sv->cf.max_inflight);
    }
    if (strcmp(r->method, "OPTIONS") == 0) {
        r->route = R_OPTIONS;
        static const char *const pre[] = {
            "Access-Control-Allow-Methods", "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers", "Authorization, Content-Type, Accept",
            "Access-Control-Max-Age", "600",
            "Allow", "GET, POST, OPTIONS", NULL};
        char *empty = calloc(1, 1);
        return empty ? respond_raw(r, c, 204, "text/plain", empty, 0, pre) : MHD_NO;
    }
    int post = r->route == R_SEARCH || r->route == R_ANSWER;
    int is_post = strcmp(r->method, "POST") == 0;
    int is_get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    if (r->route == R_NOTFOUND)
        return respond_error(r, c, 404, "not_found", NULL, "no route %s %s", r->method, r->path);
    if ((post && !is_post) || (!post && !is_get)) {
        static const char *const allow_post[] = {"Allow", "POST, OPTIONS", NULL};
        static const char *const allow_get[] = {"Allow", "GET, HEAD, OPTIONS", NULL};
        return respond_error(r, c, 405, "method_not_allowed", post ? allow_post : allow_get,
                             "%s wants %s", r->path, post ? "POST" : "GET");
    }
    if (r->too_large)
        return respond_error(r, c, 413, "body_too_large", NULL,
                             "the request body is over the limit of %zu bytes", sv->cf.max_body);
    switch (r->route) {
    case R_SEARCH: return offload(r, c, do_search, &sv->searches);
    case R_ANSWER: return offload(r, c, do_answer, &sv->answers);
    case R_COLLECTIONS: return offload(r, c, do_collections, &sv->searches);
    case R_HEALTHZ: {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "ok");
        return respond_json(r, c, 200, o, NULL);
    }
    case R_READYZ: {
        int ready = !atomic_load(&sv->draining);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", ready ? "ready" : "draining");
        return respond_json(r, c, ready ? 200 : 503, o, NULL);
    }
    case R_METRICS: {
        sbuf b = SBUF_INIT;
        metrics_inflight(sv->m, atomic_load(&sv->inflight));
        metrics_reloads(sv->m, pool_reloads(sv->pool));
        pool_each_env(sv->pool, note_breaker, sv->m);
        if (metrics_render(sv->m, &b) != 0) {
            sbuf_free(&b);
            return MHD_NO;
        }
        size_t n = b.len;
        return respond_raw(r, c, 200, "text/plain; version=0.0.4; charset=utf-8",
                           sbuf_detach(&b), n, NULL);
    }
    case R_PLAYGROUND: return do_playground(r, c);
    default: return respond_error(r, c, 404, "not_found", NULL, "no route %s", r->path);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    srv *sv = cls;
    req *r = *con_cls;
    if (r != NULL && r->offloaded)
        return MHD_NO; /* its job queued no response: nothing to send, close */
    if (r == NULL) {
        /* First call: headers only. Answer on a later call, once the body is in. */
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return MHD_NO;
        r->sv = sv;
        r->t0 = now_ms();
        r->generation = -1;
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        r->route = route_of(url);
        long n = atomic_fetch_add(&sv->inflight, 1) + 1;
        int limited = r->route == R_SEARCH || r->route == R_ANSWER || r->route == R_COLLECTIONS;
        if (atomic_load(&sv->draining) && r->route != R_HEALTHZ && r->route != R_READYZ &&
            r->route != R_METRICS)
            r->reject = 503;
        else if (limited && n > (long)sv->cf.max_inflight)
            r->reject = 429;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl != NULL && strtoull(cl, NULL, 10) > sv->cf.max_body)
            r->too_large = 1;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        /* Bodies over the limit (or of rejected requests) are read and dropped. */
        if (!r->too_large && !r->reject) {
            if (r->body.len + *upload_size > sv->cf.max_body) {
                r->too_large = 1;
                sbuf_free(&r->body);
            } else if (sbuf_add(&r->body, upload_data, *upload_size) != 0) {
                return MHD_NO;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(r, c);
}

static void access_log(srv *sv, req *r, double ms)
{
    sbuf b = SBUF_INIT;
    time_t t = time(NULL);
    struct tm tm;
    char ts[32];
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    sbuf_addf(&b, "{\"ts\":\"%s\",\"method\":", ts);
    sbuf_add_json_str(&b, r->method, strlen(r->method));
    sbuf_adds(&b, ",\"path\":");
    sbuf_add_json_str(&b, r->path, strlen(r->path));
    sbuf_addf(&b, ",\"route\":\"%s\",\"status\":%d,\"ms\":%.3f", ROUTE_NAMES[r->route], r->status,
              ms);
    if (r->collection[0])
        sbuf_addf(&b, ",\"collection\":\"%s\"", r->collection);
    if (r->generation >= 0)
        sbuf_addf(&b, ",\"generation\":%lld", r->generation);
    if (r->cache)
        sbuf_addf(&b, ",\"cache\":\"%s\"", r->cache);
    if (r->refusal[0])
        sbuf_addf(&b, ",\"refusal\":\"%s\"", r->refusal);
    if (r->error[0])
        sbuf_addf(&b, ",\"error\":\"%s\"", r->error);
    sbuf_adds(&b, ",\"stages_ms\":{");
    for (size_t i = 0; i < r->nstages; i++)
        sbuf_addf(&b, "%s\"%s\":%.3f", i ? "," : "", r->stages[i].name, r->stages[i].ms);
    sbuf_adds(&b, "}}\n");
    pthread_mutex_lock(&sv->log_mu);
    fwrite(b.buf, 1, b.len, sv->log);
    fflush(sv->log);
    pthread_mutex_unlock(&sv->log_mu);
    sbuf_free(&b);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    srv *sv = cls;
    req *r = *con_cls;
    if (r == NULL)
        return;
    *con_cls = NULL;
    double ms = now_ms() - r->t0;
    if (r->status == 0)
        r->status = 499; /* the client went away before a response was queued */
    for (size_t i = 0; i < r->nstages; i++)
        metrics_stage(sv->m, r->stages[i].name, r->stages[i].ms);
    metrics_stage(sv->m, "request", ms);
    metrics_request(sv->m, ROUTE_NAMES[r->route], r->status);
    access_log(sv, r, ms);
    sbuf_free(&r->body);
    free(r);
    atomic_fetch_sub(&sv->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("lore serve: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ---- command line ---- */

static void usage(FILE *f)
{
    fputs("usage: lore serve [options]\n\n"
          "Serves search and grounded answers over HTTP for the support bot, and a\n"
          "playground page at / for content teams. Collections are read from the data\n"
          "directory; a `lore index` run while serving becomes visible without a restart.\n\n"
          "options:\n"
          "      --listen HOST:PORT     address to listen on (default 127.0.0.1:8080;\n"
          "                             port 0 picks a free port, printed on stderr)\n"
          "      --data DIR             data directory (default: $LORE_DATA or\n"
          "                             ~/.local/share/lore)\n"
          "      --workers N            searchers working at once (default 8); searches\n"
          "                             use at most one per core, answers any\n"
          "      --max-inflight N       requests in flight before 429 (default 64)\n"
          "      --max-body BYTES       request body limit (default 65536)\n"
          "      --max-question BYTES   question length limit (default 2000)\n"
          "      --keys FILE            API keys, lines \"COLLECTION KEY\" (\"*\" = any\n"
          "                             collection); without it the service is open\n"
          "      --cors-origin ORIGIN   allow browser calls from ORIGIN (repeatable; * = any)\n"
          "      --conversations FILE   conversation store (default DATA/conversations.db)\n"
          "      --conversation-ttl S   seconds a conversation lives after its last turn\n"
          "                             (default 900)\n"
          "      --history-turns N      turns kept per conversation (default 10)\n"
          "      --cache-size N         answers kept in the cache (default 1024; 0 = off)\n"
          "      --search-cache-size N  search results kept in the cache (default 4096;\n"
          "                             0 = off)\n"
          "      --web DIR              playground files (default: web/ of the source tree)\n"
          "      --access-log FILE      one JSON line per request (default: stdout)\n"
          "      --drain-timeout S      on SIGTERM, seconds to wait for requests in flight\n"
          "                             (default 30)\n"
          "      --idle-timeout S       close connections idle this long (default 60)\n"
          "      --reload-interval MS   how often to look for a new index generation or a\n"
          "                             changed config.json; either is loaded in the\n"
          "                             background (default 200)\n"
          "  -h, --help                 this help\n",
          f);
}

static int opt_size(const char *opt, const char *val, size_t min, size_t max, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (errno || end == val || *end || val[0] == '-' || v < min || v > max) {
        fprintf(stderr, "lore: %s wants a whole number from %zu to %zu, not '%s'\n", opt, min,
                max, val);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static int parse_listen(const char *s, srv_conf *cf)
{
    const char *colon = strrchr(s, ':');
    size_t port;
    if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof cf->host ||
        opt_size("--listen port", colon + 1, 0, 65535, &port) != 0) {
        fprintf(stderr, "lore: --listen wants HOST:PORT (e.g. 127.0.0.1:8080), not '%s'\n", s);
        return -1;
    }
    const char *h = s;
    size_t n = (size_t)(colon - s);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') { /* [::1]:8080 */
        h++;
        n -= 2;
    }
    memcpy(cf->host, h, n);
    cf->host[n] = '\0';
    cf->port = (unsigned)port;
    return 0;
}

/* The playground folder: --web, else $LORE_WEB_DIR, else web/ under the working directory,
 * else web/ beside the build directory holding the program (a build inside the source tree). */
static void find_web(srv *sv)
{
    const char *cands[3] = {sv->cf.web_dir, getenv("LORE_WEB_DIR"), "web"};
    char exe[PATH_MAX], probe[PATH_MAX + 32];
    for (int i = 0; i < 3; i++) {
        if (cands[i] == NULL || cands[i][0] == '\0')
            continue;
        snprintf(probe, sizeof probe, "%s/index.html", cands[i]);
        if (access(probe, R_OK) == 0 || i == 0) {
            snprintf(sv->web, sizeof sv->web, "%s", cands[i]);
            return;
        }
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            int len = snprintf(probe, sizeof probe, "%s/../web/index.html", exe);
            if (len > 0 && (size_t)len < sizeof probe && access(probe, R_OK) == 0 &&
                (size_t)len - strlen("/index.html") < sizeof sv->web) {
                probe[(size_t)len - strlen("/index.html")] = '\0';
                memcpy(sv->web, probe, (size_t)len - strlen("/index.html") + 1);
            }
        }
    }
}

static int parse_args(int argc, char **argv, srv_conf *cf)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'D'},
        {"workers", required_argument, NULL, 'w'},
        {"max-inflight", required_argument, NULL, 'i'},
        {"max-body", required_argument, NULL, 'b'},
        {"max-question", required_argument, NULL, 'q'},
        {"keys", required_argument, NULL, 'K'},
        {"cors-origin", required_argument, NULL, 'C'},
        {"conversations", required_argument, NULL, 'V'},
        {"conversation-ttl", required_argument, NULL, 'T'},
        {"history-turns", required_argument, NULL, 'H'},
        {"cache-size", required_argument, NULL, 'S'},
        {"search-cache-size", required_argument, NULL, 'G'},
        {"web", required_argument, NULL, 'W'},
        {"access-log", required_argument, NULL, 'A'},
        {"drain-timeout", required_argument, NULL, 'd'},
        {"idle-timeout", required_argument, NULL, 'I'},
        {"reload-interval", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    memset(cf, 0, sizeof *cf);
    snprintf(cf->host, sizeof cf->host, "127.0.0.1");
    cf->port = 8080;
    cf->workers = 8;
    cf->max_inflight = 64;
    cf->max_body = 65536;
    cf->max_question = 2000;
    cf->cache_size = 1024;
    cf->search_cache_size = 4096;
    cf->history_turns = 10;
    cf->conversation_ttl = 900;
    cf->drain_timeout = 30;
    cf->idle_timeout = 60;
    cf->reload_ms = 200;
    size_t v;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l': if (parse_listen(optarg, cf)) return 2; break;
        case 'D': cf->data = optarg; break;
        case 'w': if (opt_size("--workers", optarg, 1, 256, &cf->workers)) return 2; break;
        case 'i':
            if (opt_size("--max-inflight", optarg, 1, 100000, &cf->max_inflight)) return 2;
            break;
        case 'b':
            if (opt_size("--max-body", optarg, 256, 64u << 20, &cf->max_body)) return 2;
            break;
        case 'q':
            if (opt_size("--max-question", optarg, 1, 1u << 20, &cf->max_question)) return 2;
            break;
        case 'K': cf->keys_file = optarg; break;
        case 'C':
            if (cf->ncors == MAX_CORS) {
                fprintf(stderr, "lore: at most %d --cors-origin options\n", MAX_CORS);
                return 2;
            }
            cf->cors[cf->ncors++] = optarg;
            break;
        case 'V': cf->conversations = optarg; break;
        case 'T':
            if (opt_size("--conversation-ttl", optarg, 1, 30 * 86400, &v)) return 2;
            cf->conversation_ttl = (long)v;
            break;
        case 'H':
            if (opt_size("--history-turns", optarg, 1, 100, &cf->history_turns)) return 2;
            break;
        case 'S':
            if (opt_size("--cache-size", optarg, 0, 1000000, &cf->cache_size)) return 2;
            break;
        case 'G':
            if (opt_size("--search-cache-size", optarg, 0, 1000000, &cf->search_cache_size))
                return 2;
            break;
        case 'W': cf->web_dir = optarg; break;
        case 'A': cf->access_log = optarg; break;
        case 'd':
            if (opt_size("--drain-timeout", optarg, 0, 3600, &v)) return 2;
            cf->drain_timeout = (long)v;
            break;
        case 'I':
            if (opt_size("--idle-timeout", optarg, 1, 3600, &v)) return 2;
            cf->idle_timeout = (long)v;
            break;
        case 'R':
            if (opt_size("--reload-interval", optarg, 10, 600000, &v)) return 2;
            cf->reload_ms = (long)v;
            break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "lore: serve takes no arguments, got '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return 0;
}

static int setup(srv *sv, lore_err *err)
{
    int rc = coll_data_root(sv->cf.data, sv->root, sizeof sv->root, err);
    if (rc != 0)
        return rc;
    struct stat st;
    if (stat(sv->root, &st) != 0 && mkdir(sv->root, 0755) != 0)
        return lore_errf(err, LORE_EIO, "cannot create the data directory %s: %s", sv->root,
                         strerror(errno));
    if ((sv->m = metrics_new()) == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory");
    /* Search threads: one per core, at most one per worker; answer threads: one per worker
     * (offload). */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t threads = ncpu > 0 ? (size_t)ncpu : 1;
    if (threads > sv->cf.workers)
        threads = sv->cf.workers;
    if ((rc = runq_start(&sv->searches, threads, err)) != 0 ||
        (rc = runq_start(&sv->answers, sv->cf.workers, err)) != 0)
        return rc;
    if ((rc = pool_new(sv->root, sv->cf.workers, sv->cf.reload_ms, &sv->pool, err)) != 0 ||
        (rc = acache_new(sv->cf.cache_size, &sv->cache, err)) != 0)
        return rc;
    if (sv->cf.search_cache_size > 0 &&
        (rc = acache_new(sv->cf.search_cache_size, &sv->scache, err)) != 0)
        return rc;
    if (sv->cf.keys_file && (rc = auth_load(sv->cf.keys_file, &sv->keys, err)) != 0)
        return rc;
    char cpath[PATH_MAX + 32];
    if (sv->cf.conversations)
        snprintf(cpath, sizeof cpath, "%s", sv->cf.conversations);
    else
        snprintf(cpath, sizeof cpath, "%s/conversations.db", sv->root);
    if ((rc = convo_open(cpath, sv->cf.conversation_ttl, sv->cf.history_turns, &sv->convos,
                         err)) != 0)
        return rc;
    sv->log = stdout;
    if (sv->cf.access_log && strcmp(sv->cf.access_log, "-") != 0 &&
        (sv->log = fopen(sv->cf.access_log, "a")) == NULL)
        return lore_errf(err, LORE_EIO, "cannot open the access log %s: %s", sv->cf.access_log,
                         strerror(errno));
    find_web(sv);
    return 0;
}

static void teardown(srv *sv)
{
    runq_stop(&sv->searches);
    runq_stop(&sv->answers);
    pool_free(sv->pool);
    acache_free(sv->cache);
    acache_free(sv->scache);
    convo_close(sv->convos);
    auth_free(sv->keys);
    metrics_free(sv->m);
    if (sv->log && sv->log != stdout)
        fclose(sv->log);
    pthread_mutex_destroy(&sv->log_mu);
}

static struct MHD_Daemon *start_daemon(srv *sv, lore_err *err)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[8];
    snprintf(port, sizeof port, "%u", sv->cf.port);
    int g = getaddrinfo(sv->cf.host, port, &hints, &ai);
    if (g != 0) {
        lore_errf(err, LORE_EINVAL, "cannot resolve --listen host '%s': %s", sv->cf.host,
                  gai_strerror(g));
        return NULL;
    }
    /* One event thread (see offload). */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, sv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, sv, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)sv->cf.idle_timeout, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(sv->cf.max_inflight * 4 + 64), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)65536, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (d == NULL)
        lore_errf(err, LORE_EIO, "cannot listen on %s:%u (in use, or not an address of this host)",
                  sv->cf.host, sv->cf.port);
    return d;
}

int server_main(int argc, char **argv)
{
    static srv sv0;
    srv *sv = &sv0;
    memset(sv, 0, sizeof *sv);
    int prc = parse_args(argc, argv, &sv->cf);
    if (prc != 0)
        return prc == 1 ? 0 : 2;
    pthread_mutex_init(&sv->log_mu, NULL);
    atomic_init(&sv->inflight, 0);
    atomic_init(&sv->producers, 0);
    atomic_init(&sv->jobs, 0);
    atomic_init(&sv->abandon, 0);
    atomic_init(&sv->draining, 0);
    /* Blocked before any thread starts (the pool's reloader, the daemon's threads, answer
     * streams): every thread inherits the mask, so the signals reach only sigwait below. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    lore_err err = {0};
    if (setup(sv, &err) != 0) {
        fprintf(stderr, "lore: %s\n", err.msg);
        teardown(sv);
        return 1;
    }
    vindex_query_threads_init();
    struct MHD_Daemon *d = start_daemon(sv, &err);
    if (d == NULL) {
        fprintf(stderr, "lore: %s\n", err.msg);
        teardown(sv);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : sv->cf.port;
    int v6 = strchr(sv->cf.host, ':') != NULL;
    fprintf(stderr, "lore serve: listening on http://%s%s%s:%u (data %s, %zu workers)\n",
            v6 ? "[" : "", sv->cf.host, v6 ? "]" : "", port, sv->root, sv->cf.workers);
    if (!auth_enabled(sv->keys) && strcmp(sv->cf.host, "127.0.0.1") != 0 &&
        strcmp(sv->cf.host, "localhost") != 0 && strcmp(sv->cf.host, "::1") != 0)
        fprintf(stderr, "lore serve: warning: no --keys: anyone who can reach this address "
                        "can query every collection\n");
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "lore serve: %s: draining %ld requests in flight\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", atomic_load(&sv->inflight));
    atomic_store(&sv->draining, 1);
    MHD_socket lfd = MHD_quiesce_daemon(d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    double deadline = now_ms() + (double)sv->cf.drain_timeout * 1000.0;
    struct timespec tick = {0, 10 * 1000 * 1000};
    while ((atomic_load(&sv->inflight) > 0 || atomic_load(&sv->producers) > 0 ||
            atomic_load(&sv->jobs) > 0) &&
           now_ms() < deadline)
        nanosleep(&tick, NULL);
    long left = atomic_load(&sv->inflight);
    /* MHD must not stop with a connection suspended, and each suspended one waits for a job
     * or a stream's producer: streams stop at their next token now, jobs end with their
     * pipeline; then their connections get a moment to finish. */
    atomic_store(&sv->abandon, 1);
    while (atomic_load(&sv->producers) > 0 || atomic_load(&sv->jobs) > 0)
        nanosleep(&tick, NULL);
    for (int i = 0; i < 100 && atomic_load(&sv->inflight) > 0; i++)
        nanosleep(&tick, NULL);
    MHD_stop_daemon(d);
    teardown(sv);
    if (left > 0) {
        fprintf(stderr, "lore serve: stopped with %ld requests unfinished after %lds\n", left,
                sv->cf.drain_timeout);
        return 1;
    }
    fprintf(stderr, "lore serve: stopped\n");
    return 0;
}
