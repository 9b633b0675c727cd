/* Unit tests for metrics: the Prometheus text holds requests by route and status, cumulative
 * histogram buckets with sum and count, refusals by reason, LLM errors, breaker gauges, cache
 * counters and the in-flight gauge; negative stage times are not observations. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static void has(const char *text, const char *line)
{
    if (strstr(text, line) == NULL) {
        fprintf(stderr, "missing: %s\n--- in:\n%s\n", line, text);
        fail();
    }
}

static void test_render(void **state)
{
    (void)state;
    metrics *m = metrics_new();
    assert_non_null(m);
    metrics_request(m, "search", 200);
    metrics_request(m, "search", 200);
    metrics_request(m, "search", 429);
    metrics_stage(m, "bm25", 0.7);  /* 0.0007 s: in the 0.001 bucket and above */
    metrics_stage(m, "bm25", 30.0); /* 0.03 s */
    metrics_stage(m, "bm25", -1);   /* not run */
    metrics_refusal(m, "low_confidence");
    metrics_refusal(m, NULL);
    metrics_llm_error(m);
    metrics_breaker(m, "default", 1);
    metrics_cache(m, 1);
    metrics_cache(m, 0);
    metrics_cache(m, 0);
    metrics_embed_batch(m, 8);
    metrics_embed_batch(m, 3);
    metrics_reloads(m, 1);
    metrics_inflight(m, 4);
    sbuf b = SBUF_INIT;
    assert_int_equal(metrics_render(m, &b), 0);
    const char *t = sbuf_str(&b);
    has(t, "lore_http_requests_total{route=\"search\",status=\"200\"} 2\n");
    has(t, "lore_http_requests_total{route=\"search\",status=\"429\"} 1\n");
    has(t, "# TYPE lore_stage_duration_seconds histogram\n");
    has(t, "lore_stage_duration_seconds_bucket{stage=\"bm25\",le=\"0.0005\"} 0\n");
    has(t, "lore_stage_duration_seconds_bucket{stage=\"bm25\",le=\"0.001\"} 1\n");
    has(t, "lore_stage_duration_seconds_bucket{stage=\"bm25\",le=\"0.025\"} 1\n");
    has(t, "lore_stage_duration_seconds_bucket{stage=\"bm25\",le=\"0.05\"} 2\n");
    has(t, "lore_stage_duration_seconds_bucket{stage=\"bm25\",le=\"+Inf\"} 2\n");
    has(t, "lore_stage_duration_seconds_count{stage=\"bm25\"} 2\n");
    has(t, "lore_stage_duration_seconds_sum{stage=\"bm25\"} 0.030700\n");
    has(t, "lore_refusals_total{reason=\"low_confidence\"} 1\n");
    has(t, "lore_refusals_total{reason=\"unknown\"} 1\n");
    has(t, "lore_llm_errors_total 1\n");
    has(t, "lore_llm_breaker_open{collection=\"default\"} 1\n");
    has(t, "lore_answer_cache_hits_total 1\n");
    has(t, "# TYPE lore_query_embed_batches_total counter\nlore_query_embed_batches_total 2\n");
    has(t, "# TYPE lore_query_embed_batched_total counter\nlore_query_embed_batched_total 11\n");
    has(t, "lore_answer_cache_misses_total 2\n");
    has(t, "lore_index_reloads_total 1\n");
    has(t, "lore_requests_in_flight 4\n");
    metrics_breaker(m, "default", 0);
    sbuf_reset(&b);
    assert_int_equal(metrics_render(m, &b), 0);
    has(sbuf_str(&b), "lore_llm_breaker_open{collection=\"default\"} 0\n");
    sbuf_free(&b);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_render)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
