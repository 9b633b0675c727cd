/* metrics: the query service's counters and latency histograms, in Prometheus text format.
 *
 * Families (all names prefixed lore_):
 *   http_requests_total{route,status}            requests answered, by route and status
 *   stage_duration_seconds{stage} (histogram)    time per pipeline stage and per request
 *   refusals_total{reason}                       answers refused, by reason
 *   llm_errors_total                             answers lost to LLM failures
 *   llm_breaker_open                             1 while a collection's LLM breaker is open
 *   answer_cache_hits_total, answer_cache_misses_total, search_cache_hits_total,
 *   search_cache_misses_total
 *   query_embed_batches_total, query_embed_batched_total   searches whose questions were
 *                                                embedded together, and how many questions
 *   requests_in_flight, index_reloads_total
 *
 * Ownership: metrics_new returns an object freed with metrics_free. Labels passed in are
 * copied. Threads: every function is thread-safe (one mutex; the work under it is small). */
#ifndef LORE_API_METRICS_H
#define LORE_API_METRICS_H

#include <stddef.h>

#include "sbuf.h"

typedef struct metrics metrics;

metrics *metrics_new(void);
void metrics_free(metrics *m);

void metrics_request(metrics *m, const char *route, int status);
/* ms: the stage's duration in milliseconds; negative values are ignored (stage not run). */
void metrics_stage(metrics *m, const char *stage, double ms);
void metrics_refusal(metrics *m, const char *reason);
void metrics_llm_error(metrics *m);
void metrics_breaker(metrics *m, const char *collection, int open);
void metrics_cache(metrics *m, int hit);
void metrics_search_cache(metrics *m, int hit);
/* One embedding of `queries` waiting searches' questions together. */
void metrics_embed_batch(metrics *m, size_t queries);
/* The number of collection reopens at a new generation so far (a counter kept elsewhere). */
void metrics_reloads(metrics *m, unsigned long total);
/* Gauge read at render time. */
void metrics_inflight(metrics *m, long n);

/* Appends the exposition text to out. 0 or LORE_ENOMEM. */
int metrics_render(metrics *m, sbuf *out);

#endif
