#include "pool.h"

#include "filesig.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Collections one worker keeps open; the least recently used is closed beyond this. */
#define POOL_MAX_COLLS 16
/* Open attempts while an indexer keeps committing between the open and the snapshot. */
#define POOL_OPEN_TRIES 8

typedef struct pentry {
    char name[65];
    coll *c;
    searcher *s;
    answerer *a;
    uint64_t gen;  /* the generation of the standing snapshot and of the vector index */
    uint64_t used;
} pentry;

struct pool_worker {
    pool *p;
    pentry e[POOL_MAX_COLLS];
    size_t n;
    pentry *pinned;
    uint64_t tick;
    int busy;
    int wanted; /* the reloader waits for this worker: requests leave it alone */
};

/* A request waiting for a worker. It lives on the waiting thread's stack; pool_put hands a
 * worker straight to the oldest one and wakes that thread alone. */
typedef struct waiter {
    pthread_cond_t cv;
    pool_worker *got;
    struct waiter *next;
} waiter;

typedef struct penv {
    char name[65];
    answer_env *env;
    uint64_t epoch;  /* 1 at the first load, + 1 at each reload of config.json */
    filesig sig;     /* config.json when last read */
} penv;

struct pool {
    char root[PATH_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a wanted worker came back; the reloader is told to stop */
    struct waiter *first, *last; /* requests waiting for a worker, oldest first */
    pool_worker *w;
    size_t n;
    pthread_mutex_t env_mu;
    penv *envs;
    size_t nenvs;
    long reload_ms;
    int stop;
    int reloader_started;
    pthread_t reloader;
    atomic_ulong reloads;
    struct {
        char name[65];
        uint64_t gen;
    } gens[POOL_MAX_COLLS * 4]; /* newest generation loaded, per collection (under mu) */
    size_t ngens;
};

static void note_gen(pool *p, const char *name, uint64_t gen)
{
    pthread_mutex_lock(&p->mu);
    size_t i = 0;
    while (i < p->ngens && strcmp(p->gens[i].name, name) != 0)
        i++;
    if (i == p->ngens && p->ngens < sizeof p->gens / sizeof p->gens[0]) {
        snprintf(p->gens[i].name, sizeof p->gens[i].name, "%s", name);
        p->gens[i].gen = gen;
        p->ngens++;
    } else if (i < p->ngens && gen > p->gens[i].gen) {
        p->gens[i].gen = gen;
    }
    pthread_mutex_unlock(&p->mu);
}

int pool_generation(pool *p, const char *name, uint64_t *gen)
{
    int rc = LORE_ENOTFOUND;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->ngens; i++) {
        if (strcmp(p->gens[i].name, name) == 0) {
            *gen = p->gens[i].gen;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void entry_close(pentry *e)
{
    if (e->c != NULL) {
        sqlite3 *db = store_db(coll_store(e->c));
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    answerer_free(e->a);
    searcher_free(e->s);
    coll_close(e->c);
    memset(e, 0, sizeof *e);
}

/* BEGIN and the generation inside: the snapshot is fixed from that first read on. */
static int begin_snapshot(coll *c, uint64_t *gen, lore_err *err)
{
    sqlite3 *db = store_db(coll_store(c));
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return lore_errf(err, LORE_EDB, "%s/lore.db: %s", store_dir(coll_store(c)),
                         sqlite3_errmsg(db));
    int rc = store_generation(coll_store(c), gen, err);
    if (rc != 0)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The store's current generation, read through a connection of its own. */
static int probe_generation(const char *dir, uint64_t *gen, lore_err *err)
{
    store *st;
    int rc = store_open(dir, STORE_READONLY, &st, err);
    if (rc != 0)
        return rc;
    rc = store_generation(st, gen, err);
    store_close(st);
    return rc;
}

/* Opens collection `name` into e with a standing snapshot at the generation its vector
 * index was loaded at. g0: a generation read before this call. */
static int entry_open(pool *p, const char *name, uint64_t g0, pentry *e, lore_err *err)
{
    memset(e, 0, sizeof *e);
    char dir[PATH_MAX];
    int rc = coll_dir(p->root, name, dir, sizeof dir, err);
    if (rc != 0)
        return rc;
    snprintf(e->name, sizeof e->name, "%s", name);
    coll_open_options co = {STORE_READONLY, NULL, 0, NULL, 1};
    for (int attempt = 0; attempt < POOL_OPEN_TRIES; attempt++) {
        if ((rc = coll_open(dir, &co, &e->c, err)) != 0)
            return rc;
        uint64_t g1;
        if ((rc = begin_snapshot(e->c, &g1, err)) != 0) {
            entry_close(e);
            return rc;
        }
        if (g1 == g0) {
            e->gen = g1;
            if ((rc = searcher_new(e->c, &e->s, err)) != 0)
                entry_close(e);
            return rc;
        }
        entry_close(e);
        snprintf(e->name, sizeof e->name, "%s", name);
        g0 = g1;
    }
    return lore_errf(err, LORE_EDB, "collection '%s': the index kept changing while it was opened",
                     name);
}

static pentry *find_entry(pool_worker *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return &w->e[i];
    return NULL;
}

static void drop_entry(pool_worker *w, pentry *e)
{
    entry_close(e);
    size_t i = (size_t)(e - w->e);
    memmove(&w->e[i], &w->e[i + 1], (w->n - i - 1) * sizeof *e);
    w->n--;
    memset(&w->e[w->n], 0, sizeof *e);
}

/* A slot for a new entry, closing the least recently used one when full. */
static pentry *slot(pool_worker *w)
{
    if (w->n < POOL_MAX_COLLS)
        return &w->e[w->n++];
    pentry *e = &w->e[0];
    for (size_t i = 1; i < w->n; i++)
        if (w->e[i].used < e->used)
            e = &w->e[i];
    entry_close(e);
    return e;
}

/* ---- checking workers out and in ---- */

pool_worker *pool_get(pool *p)
{
    pthread_mutex_lock(&p->mu);
    /* First come, first served: under overload a request waits about (requests ahead of
     * it) / throughput, never indefinitely while later ones overtake it. So a free worker
     * is taken here only when nobody is queued. */
    if (p->first == NULL) {
        for (size_t i = 0; i < p->n; i++) {
            if (!p->w[i].busy && !p->w[i].wanted) {
                p->w[i].busy = 1;
                pthread_mutex_unlock(&p->mu);
                return &p->w[i];
            }
        }
    }
    /* Queued, woken only by the put that hands this request its worker: waking every
     * waiter on each put (a shared condition) cost more CPU under load than the searches. */
    waiter me = {.got = NULL, .next = NULL};
    pthread_cond_init(&me.cv, NULL);
    if (p->last != NULL)
        p->last->next = &me;
    else
        p->first = &me;
    p->last = &me;
    while (me.got == NULL)
        pthread_cond_wait(&me.cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&me.cv);
    return me.got;
}

/* Checks out one particular worker (the reloader's way in). */
static void get_worker(pool *p, pool_worker *w)
{
    pthread_mutex_lock(&p->mu);
    w->wanted = 1;
    while (w->busy)
        pthread_cond_wait(&p->cv, &p->mu);
    w->busy = 1;
    w->wanted = 0;
    pthread_mutex_unlock(&p->mu);
}

void pool_put(pool *p, pool_worker *w)
{
    pool_unpin(w);
    pthread_mutex_lock(&p->mu);
    if (w->wanted) {
        /* The reloader waits for this one; it hands it on when it is done. */
        w->busy = 0;
        pthread_cond_broadcast(&p->cv);
    } else if (p->first != NULL) {
        waiter *next = p->first; /* stays busy: it changes hands */
        p->first = next->next;
        if (p->first == NULL)
            p->last = NULL;
        next->got = w;
        pthread_cond_signal(&next->cv);
    } else {
        w->busy = 0;
    }
    pthread_mutex_unlock(&p->mu);
}

/* ---- the reloader ---- */

typedef struct seen {
    char name[65];
    uint64_t gen;
    int ok;
} seen;

/* Brings worker w's collections up to their stores' generations. probes caches this round's
 * generation per collection. */
static void refresh_worker(pool *p, pool_worker *w, seen *probes, size_t *nprobes)
{
    seen have[POOL_MAX_COLLS];
    size_t nhave = 0;
    get_worker(p, w);
    for (size_t i = 0; i < w->n; i++) {
        memcpy(have[nhave].name, w->e[i].name, sizeof have[nhave].name);
        have[nhave++].gen = w->e[i].gen;
    }
    pool_put(p, w);
    for (size_t i = 0; i < nhave; i++) {
        seen *pr = NULL;
        for (size_t j = 0; j < *nprobes; j++)
            if (strcmp(probes[j].name, have[i].name) == 0)
                pr = &probes[j];
        if (pr == NULL) {
            if (*nprobes == POOL_MAX_COLLS * 4)
                continue;
            pr = &probes[(*nprobes)++];
            memcpy(pr->name, have[i].name, sizeof pr->name);
            char dir[PATH_MAX];
            pr->ok = coll_dir(p->root, pr->name, dir, sizeof dir, NULL) == 0 &&
                     probe_generation(dir, &pr->gen, NULL) == 0;
        }
        if (!pr->ok || pr->gen <= have[i].gen)
            continue;
        pentry ne;
        lore_err err = {0};
        if (entry_open(p, have[i].name, pr->gen, &ne, &err) != 0) {
            fprintf(stderr, "lore serve: reloading collection '%s': %s\n", have[i].name,
                    err.msg);
            continue;
        }
        get_worker(p, w);
        pentry *e = find_entry(w, ne.name);
        if (e != NULL && e->gen < ne.gen) {
            ne.used = e->used;
            entry_close(e);
            *e = ne;
            atomic_fetch_add(&p->reloads, 1);
            note_gen(p, ne.name, ne.gen);
        } else {
            entry_close(&ne);
        }
        pool_put(p, w);
    }
}

static void refresh_envs(pool *p);

static void *reloader(void *arg)
{
    pool *p = arg;
    seen *probes = calloc(POOL_MAX_COLLS * 4, sizeof *probes);
    if (probes == NULL) {
        fprintf(stderr, "lore serve: out of memory starting the index reloader\n");
        return NULL;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (p->reload_ms % 1000) * 1000000L;
        ts.tv_sec += p->reload_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &ts) != ETIMEDOUT)
            ;
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->mu);
        size_t nprobes = 0;
        for (size_t i = 0; i < p->n; i++)
            refresh_worker(p, &p->w[i], probes, &nprobes);
        refresh_envs(p);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    free(probes);
    return NULL;
}

/* ---- life cycle ---- */

int pool_new(const char *root, size_t nworkers, long reload_ms, pool **out, lore_err *err)
{
    *out = NULL;
    if (nworkers == 0 || reload_ms < 10)
        return lore_errf(err, LORE_EINVAL, "the pool needs a worker and a reload interval");
    pool *p = calloc(1, sizeof *p);
    if (p == NULL || (p->w = calloc(nworkers, sizeof *p->w)) == NULL) {
        free(p);
        return lore_errf(err, LORE_ENOMEM, "out of memory creating %zu workers", nworkers);
    }
    if (snprintf(p->root, sizeof p->root, "%s", root) >= (int)sizeof p->root) {
        free(p->w);
        free(p);
        return lore_errf(err, LORE_EINVAL, "data directory path too long");
    }
    p->n = nworkers;
    p->reload_ms = reload_ms;
    for (size_t i = 0; i < nworkers; i++)
        p->w[i].p = p;
    atomic_init(&p->reloads, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_mutex_init(&p->env_mu, NULL);
    if (pthread_create(&p->reloader, NULL, reloader, p) != 0) {
        pool_free(p);
        return lore_errf(err, LORE_ENOMEM, "cannot start the index reloader thread");
    }
    p->reloader_started = 1;
    *out = p;
    return 0;
}

void pool_free(pool *p)
{
    if (p == NULL)
        return;
    if (p->reloader_started) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->reloader, NULL);
    }
    for (size_t i = 0; i < p->n; i++)
        for (size_t j = 0; j < p->w[i].n; j++)
            entry_close(&p->w[i].e[j]);
    for (size_t i = 0; i < p->nenvs; i++)
        answer_env_free(p->envs[i].env);
    free(p->envs);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->env_mu);
    free(p->w);
    free(p);
}

unsigned long pool_reloads(pool *p) { return atomic_load(&p->reloads); }

/* ---- requests ---- */

int pool_pin(pool_worker *w, const char *name, pool_view *out, lore_err *err)
{
    memset(out, 0, sizeof *out);
    pool_unpin(w);
    pentry *e = find_entry(w, name);
    int rc;
    if (e != NULL && sqlite3_get_autocommit(store_db(coll_store(e->c)))) {
        /* The snapshot ended (SQLite rolls back on some errors): take a new one, and keep
         * the entry only if the index still matches it. */
        uint64_t g;
        if (begin_snapshot(e->c, &g, NULL) != 0 || g != e->gen) {
            drop_entry(w, e);
            e = NULL;
        }
    }
    if (e == NULL) {
        char dir[PATH_MAX];
        uint64_t g0;
        if ((rc = coll_dir(w->p->root, name, dir, sizeof dir, err)) != 0 ||
            (rc = probe_generation(dir, &g0, err)) != 0)
            return rc;
        pentry ne;
        if ((rc = entry_open(w->p, name, g0, &ne, err)) != 0)
            return rc;
        e = slot(w);
        *e = ne;
        out->opened = 1;
        note_gen(w->p, name, ne.gen);
    }
    e->used = ++w->tick;
    w->pinned = e;
    out->c = e->c;
    out->s = e->s;
    out->a = e->a;
    out->generation = e->gen;
    return 0;
}

/* The identity of DIR/config.json (exists 0 when there is none). */
static void config_sig(const char *dir, filesig *sig)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/" CCONF_FILE, dir) < (int)sizeof path)
        filesig_read(path, sig);
    else
        memset(sig, 0, sizeof *sig);
}

/* The collection's answer environment, loaded at first use; *epoch (may be NULL) its
 * configuration epoch. */
static int env_for(pool *p, const char *name, answer_env **out, uint64_t *epoch,
                   lore_err *err)
{
    pthread_mutex_lock(&p->env_mu);
    int rc = 0;
    for (size_t i = 0; i < p->nenvs; i++) {
        if (strcmp(p->envs[i].name, name) == 0) {
            *out = p->envs[i].env;
            if (epoch != NULL)
                *epoch = p->envs[i].epoch;
            goto done;
        }
    }
    char dir[PATH_MAX];
    if ((rc = coll_dir(p->root, name, dir, sizeof dir, err)) != 0)
        goto done;
    filesig sig;
    config_sig(dir, &sig);
    cconf cf;
    if ((rc = cconf_load(dir, &cf, err)) != 0)
        goto done;
    answer_env *env;
    rc = answer_env_new(&cf, &env, err);
    cconf_free(&cf);
    if (rc != 0)
        goto done;
    penv *grown = realloc(p->envs, (p->nenvs + 1) * sizeof *grown);
    if (grown == NULL) {
        answer_env_free(env);
        rc = lore_errf(err, LORE_ENOMEM, "out of memory");
        goto done;
    }
    p->envs = grown;
    penv *pe = &grown[p->nenvs++];
    memset(pe, 0, sizeof *pe);
    snprintf(pe->name, sizeof pe->name, "%s", name);
    pe->env = env;
    pe->epoch = 1;
    pe->sig = sig;
    *out = env;
    if (epoch != NULL)
        *epoch = pe->epoch;
done:
    pthread_mutex_unlock(&p->env_mu);
    return rc;
}

int pool_config_epoch(pool *p, const char *name, uint64_t *epoch, lore_err *err)
{
    answer_env *env;
    return env_for(p, name, &env, epoch, err);
}

/* Reloads the answer environment of each collection whose config.json changed (written,
 * replaced, created or removed) since it was read. A file that does not load keeps the
 * previous environment (said once per version of the file). The collection's answerers are
 * dropped worker by worker, to be made again with the new environment at their next answer,
 * and the old environment is freed once no worker holds one made with it. */
static void refresh_envs(pool *p)
{
    pthread_mutex_lock(&p->env_mu);
    size_t n = p->nenvs;
    char (*names)[65] = n ? malloc(n * sizeof *names) : NULL;
    for (size_t i = 0; names != NULL && i < n; i++)
        memcpy(names[i], p->envs[i].name, sizeof names[i]);
    pthread_mutex_unlock(&p->env_mu);
    for (size_t i = 0; names != NULL && i < n; i++) {
        char dir[PATH_MAX];
        if (coll_dir(p->root, names[i], dir, sizeof dir, NULL) != 0)
            continue;
        filesig sig;
        config_sig(dir, &sig);
        /* envs only grows, and entry i keeps its collection. */
        pthread_mutex_lock(&p->env_mu);
        penv *pe = &p->envs[i];
        int same = filesig_equal(&pe->sig, &sig);
        if (!same)
            pe->sig = sig; /* tried once per version of the file, whatever comes of it */
        pthread_mutex_unlock(&p->env_mu);
        if (same)
            continue;
        cconf cf;
        answer_env *ne = NULL;
        lore_err err = {0};
        int rc = cconf_load(dir, &cf, &err);
        if (rc == 0) {
            rc = answer_env_new(&cf, &ne, &err);
            cconf_free(&cf);
        }
        if (rc != 0) {
            fprintf(stderr, "lore serve: collection '%s': %s; the previous configuration stays\n",
                    names[i], err.msg);
            continue;
        }
        pthread_mutex_lock(&p->env_mu);
        answer_env *old = p->envs[i].env;
        p->envs[i].env = ne;
        p->envs[i].epoch++;
        pthread_mutex_unlock(&p->env_mu);
        for (size_t w = 0; w < p->n; w++) {
            get_worker(p, &p->w[w]);
            pentry *e = find_entry(&p->w[w], names[i]);
            if (e != NULL) {
                answerer_free(e->a);
                e->a = NULL;
            }
            pool_put(p, &p->w[w]);
        }
        answer_env_free(old);
        fprintf(stderr, "lore serve: collection '%s': %s reloaded\n", names[i], CCONF_FILE);
    }
    free(names);
}

void pool_each_env(pool *p, void (*fn)(void *ctx, const char *name, answer_env *env),
                   void *ctx)
{
    pthread_mutex_lock(&p->env_mu);
    for (size_t i = 0; i < p->nenvs; i++)
        fn(ctx, p->envs[i].name, p->envs[i].env);
    pthread_mutex_unlock(&p->env_mu);
}

int pool_answerer(pool_worker *w, pool_view *v, lore_err *err)
{
    pentry *e = w->pinned;
    if (e == NULL)
        return lore_errf(err, LORE_EINVAL, "no collection pinned");
    if (e->a == NULL) {
        answer_env *env;
        int rc = env_for(w->p, e->name, &env, NULL, err);
        if (rc == 0)
            rc = answerer_new(env, e->c, &e->a, err);
        if (rc != 0)
            return rc;
    }
    v->a = e->a;
    return 0;
}

void pool_unpin(pool_worker *w) { w->pinned = NULL; }
