/* test_answer_json: the one JSON shape of an answer, answered and refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "answer_json.h"

static const cJSON *get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (v == NULL)
        fail_msg("no \"%s\"", k);
    return v;
}

static void test_answered(void **state)
{
    (void)state;
    answer_source src[2] = {
        {.n = 1, .cited = 1, .chunk_id = 7, .article_id = "kb-1", .title = "Refunds",
         .url = "https://help.example/kb-1", .heading = "Refunds > Timing", .score = 2.5},
        {.n = 2, .cited = 0, .chunk_id = 9, .article_id = "kb-2", .title = "Billing",
         .url = NULL, .heading = "Billing", .score = 1.0}};
    answer_result a = {0};
    a.answered = 1;
    a.text = "\"Refunds take 5 days.\" [1]";
    a.mode = "extractive";
    a.query = "refund time";
    a.sources = src;
    a.n_sources = 2;
    a.confidence = a.retrieval_confidence = 0.9;
    a.validation = 1.0;
    a.threshold = 0.85;
    a.llm_attempts = 0;
    a.ms.total = 3.5;
    cJSON *o = cJSON_CreateObject();
    assert_int_equal(answer_json_add(o, &a), 0);
    assert_true(cJSON_IsTrue(get(o, "answered")));
    assert_string_equal(get(o, "answer")->valuestring, a.text);
    assert_true(cJSON_IsNull(get(o, "refusal")));
    assert_string_equal(get(o, "query")->valuestring, "refund time");
    assert_string_equal(get(o, "mode")->valuestring, "extractive");
    /* Citations are the cited sources; sources are all of them, a missing URL as null. */
    const cJSON *cites = get(o, "citations"), *srcs = get(o, "sources");
    assert_int_equal(cJSON_GetArraySize(cites), 1);
    assert_int_equal(cJSON_GetArraySize(srcs), 2);
    const cJSON *c0 = cJSON_GetArrayItem(cites, 0);
    assert_string_equal(get(c0, "url")->valuestring, "https://help.example/kb-1");
    assert_int_equal(get(c0, "chunk_id")->valueint, 7);
    assert_true(cJSON_IsNull(get(cJSON_GetArrayItem(srcs, 1), "url")));
    assert_true(cJSON_IsFalse(get(cJSON_GetArrayItem(srcs, 1), "cited")));
    assert_true(get(get(o, "timings_ms"), "total")->valuedouble == 3.5);
    assert_true(cJSON_IsFalse(get(get(o, "llm"), "fallback")));
    cJSON_Delete(o);
}

static void test_refused(void **state)
{
    (void)state;
    answer_source src = {.n = 1, .cited = 1, .chunk_id = 3, .article_id = "kb-3",
                         .title = "Dark mode", .url = NULL, .heading = "", .score = 0.2};
    answer_result a = {0};
    a.answered = 0;
    a.text = "generated but withdrawn";
    a.refusal = "low_confidence";
    a.detail = "retrieval confidence 0.23 is below the threshold 0.85";
    a.sources = &src;
    a.n_sources = 1;
    cJSON *o = cJSON_CreateObject();
    assert_int_equal(answer_json_add(o, &a), 0);
    assert_true(cJSON_IsFalse(get(o, "answered")));
    /* A refused answer's text is never shown, nor cited. */
    assert_true(cJSON_IsNull(get(o, "answer")));
    assert_int_equal(cJSON_GetArraySize(get(o, "citations")), 0);
    assert_int_equal(cJSON_GetArraySize(get(o, "sources")), 1);
    const cJSON *rf = get(o, "refusal");
    assert_string_equal(get(rf, "reason")->valuestring, "low_confidence");
    assert_string_equal(get(rf, "detail")->valuestring, a.detail);
    assert_true(cJSON_IsTrue(get(rf, "handoff")));
    assert_true(cJSON_IsNull(get(o, "query")));
    assert_string_equal(get(o, "mode")->valuestring, "extractive"); /* no mode given */
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answered),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
