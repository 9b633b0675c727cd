#include "metrics.h"

#include "err.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Label values are a small closed set (routes, stages, reasons, collections), so plain
 * arrays searched linearly are enough; beyond the cap new values are folded into "other". */
#define MAX_SERIES 64
#define LABEL_MAX 64

/* Bucket bounds in seconds: 0.5 ms to 30 s, covering a BM25 lookup up to an LLM answer. */
static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10,   30};
#define NBUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])

typedef struct counter {
    char label[LABEL_MAX];
    int status;
    unsigned long long n;
} counter;

typedef struct histo {
    char stage[LABEL_MAX];
    unsigned long long buckets[NBUCKETS];
    unsigned long long count;
    double sum;
} histo;

struct metrics {
    pthread_mutex_t mu;
    counter requests[MAX_SERIES];
    size_t nrequests;
    histo stages[MAX_SERIES];
    size_t nstages;
    counter refusals[MAX_SERIES];
    size_t nrefusals;
    counter breakers[MAX_SERIES];
    size_t nbreakers;
    unsigned long long llm_errors, cache_hits, cache_misses, scache_hits, scache_misses, reloads;
    unsigned long long embed_batches, embed_batched;
    long inflight;
};

metrics *metrics_new(void)
{
    metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->mu, NULL);
    return m;
}

void metrics_free(metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* The counter with this label (and status), created when absent. Call under the lock. */
static counter *counter_for(counter *arr, size_t *n, const char *label, int status)
{
    for (size_t i = 0; i < *n; i++)
        if (arr[i].status == status && strcmp(arr[i].label, label) == 0)
            return &arr[i];
    if (*n == MAX_SERIES) {
        label = "other";
        for (size_t i = 0; i < *n; i++)
            if (arr[i].status == status && strcmp(arr[i].label, label) == 0)
                return &arr[i];
        return &arr[*n - 1]; /* full of distinct values: count in the last series */
    }
    counter *c = &arr[(*n)++];
    snprintf(c->label, sizeof c->label, "%s", label);
    c->status = status;
    c->n = 0;
    return c;
}

void metrics_request(metrics *m, const char *route, int status)
{
    pthread_mutex_lock(&m->mu);
    counter_for(m->requests, &m->nrequests, route, status)->n++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_stage(metrics *m, const char *stage, double ms)
{
    if (!(ms >= 0))
        return;
    double s = ms / 1000.0;
    pthread_mutex_lock(&m->mu);
    histo *h = NULL;
    for (size_t i = 0; i < m->nstages; i++)
        if (strcmp(m->stages[i].stage, stage) == 0)
            h = &m->stages[i];
    if (h == NULL && m->nstages < MAX_SERIES) {
        h = &m->stages[m->nstages++];
        snprintf(h->stage, sizeof h->stage, "%s", stage);
    }
    if (h != NULL) {
        for (size_t i = 0; i < NBUCKETS; i++)
            if (s <= BUCKETS[i])
                h->buckets[i]++;
        h->count++;
        h->sum += s;
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_refusal(metrics *m, const char *reason)
{
    pthread_mutex_lock(&m->mu);
    counter_for(m->refusals, &m->nrefusals, reason ? reason : "unknown", 0)->n++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_llm_error(metrics *m)
{
    pthread_mutex_lock(&m->mu);
    m->llm_errors++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_breaker(metrics *m, const char *collection, int open)
{
    pthread_mutex_lock(&m->mu);
    counter_for(m->breakers, &m->nbreakers, collection, 0)->n = open ? 1 : 0;
    pthread_mutex_unlock(&m->mu);
}

void metrics_cache(metrics *m, int hit)
{
    pthread_mutex_lock(&m->mu);
    if (hit)
        m->cache_hits++;
    else
        m->cache_misses++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_search_cache(metrics *m, int hit)
{
    pthread_mutex_lock(&m->mu);
    if (hit)
        m->scache_hits++;
    else
        m->scache_misses++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_embed_batch(metrics *m, size_t queries)
{
    pthread_mutex_lock(&m->mu);
    m->embed_batches++;
    m->embed_batched += queries;
    pthread_mutex_unlock(&m->mu);
}

void metrics_reloads(metrics *m, unsigned long total)
{
    pthread_mutex_lock(&m->mu);
    m->reloads = total;
    pthread_mutex_unlock(&m->mu);
}

void metrics_inflight(metrics *m, long n)
{
    pthread_mutex_lock(&m->mu);
    m->inflight = n;
    pthread_mutex_unlock(&m->mu);
}

int metrics_render(metrics *m, sbuf *o)
{
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    rc |= sbuf_adds(o, "# HELP lore_http_requests_total Requests answered, by route and status.\n"
                       "# TYPE lore_http_requests_total counter\n");
    for (size_t i = 0; i < m->nrequests; i++)
        rc |= sbuf_addf(o, "lore_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                        m->requests[i].label, m->requests[i].status, m->requests[i].n);
    rc |= sbuf_adds(o, "# HELP lore_stage_duration_seconds Time spent per pipeline stage "
                       "(stage=\"request\" is the whole request).\n"
                       "# TYPE lore_stage_duration_seconds histogram\n");
    for (size_t i = 0; i < m->nstages; i++) {
        const histo *h = &m->stages[i];
        for (size_t b = 0; b < NBUCKETS; b++)
            rc |= sbuf_addf(o, "lore_stage_duration_seconds_bucket{stage=\"%s\",le=\"%g\"} %llu\n",
                            h->stage, BUCKETS[b], h->buckets[b]);
        rc |= sbuf_addf(o, "lore_stage_duration_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n",
                        h->stage, h->count);
        rc |= sbuf_addf(o, "lore_stage_duration_seconds_sum{stage=\"%s\"} %.6f\n", h->stage,
                        h->sum);
        rc |= sbuf_addf(o, "lore_stage_duration_seconds_count{stage=\"%s\"} %llu\n", h->stage,
                        h->count);
    }
    rc |= sbuf_adds(o, "# HELP lore_refusals_total Answers refused, by reason.\n"
                       "# TYPE lore_refusals_total counter\n");
    for (size_t i = 0; i < m->nrefusals; i++)
        rc |= sbuf_addf(o, "lore_refusals_total{reason=\"%s\"} %llu\n", m->refusals[i].label,
                        m->refusals[i].n);
    rc |= sbuf_addf(o, "# HELP lore_llm_errors_total Answers lost to LLM failures.\n"
                       "# TYPE lore_llm_errors_total counter\n"
                       "lore_llm_errors_total %llu\n", m->llm_errors);
    rc |= sbuf_adds(o, "# HELP lore_llm_breaker_open 1 while the collection's LLM circuit "
                       "breaker is open.\n# TYPE lore_llm_breaker_open gauge\n");
    for (size_t i = 0; i < m->nbreakers; i++)
        rc |= sbuf_addf(o, "lore_llm_breaker_open{collection=\"%s\"} %llu\n",
                        m->breakers[i].label, m->breakers[i].n);
    rc |= sbuf_addf(o, "# HELP lore_answer_cache_hits_total Answers served from the cache.\n"
                       "# TYPE lore_answer_cache_hits_total counter\n"
                       "lore_answer_cache_hits_total %llu\n"
                       "# HELP lore_answer_cache_misses_total Answers computed (not cached).\n"
                       "# TYPE lore_answer_cache_misses_total counter\n"
                       "lore_answer_cache_misses_total %llu\n"
                       "# HELP lore_search_cache_hits_total Searches served from the cache.\n"
                       "# TYPE lore_search_cache_hits_total counter\n"
                       "lore_search_cache_hits_total %llu\n"
                       "# HELP lore_search_cache_misses_total Searches computed (not cached).\n"
                       "# TYPE lore_search_cache_misses_total counter\n"
                       "lore_search_cache_misses_total %llu\n"
                       "# HELP lore_query_embed_batches_total Embeddings of several waiting "
                       "searches' questions at once.\n"
                       "# TYPE lore_query_embed_batches_total counter\n"
                       "lore_query_embed_batches_total %llu\n"
                       "# HELP lore_query_embed_batched_total Questions embedded in those "
                       "batches.\n# TYPE lore_query_embed_batched_total counter\n"
                       "lore_query_embed_batched_total %llu\n"
                       "# HELP lore_index_reloads_total Collections reopened at a new index "
                       "generation.\n# TYPE lore_index_reloads_total counter\n"
                       "lore_index_reloads_total %llu\n"
                       "# HELP lore_requests_in_flight Requests being served.\n"
                       "# TYPE lore_requests_in_flight gauge\n"
                       "lore_requests_in_flight %ld\n",
                    m->cache_hits, m->cache_misses, m->scache_hits, m->scache_misses,
                    m->embed_batches, m->embed_batched, m->reloads,
                    m->inflight);
    pthread_mutex_unlock(&m->mu);
    return rc ? LORE_ENOMEM : 0;
}
