/* test_search_json: the JSON shape of ranked results shared by lore search and lore serve:
 * ranks from 1 in order, every stage's score and rank, null for a missing URL, "" for a
 * missing snippet; the written text is cJSON's, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "search_json.h"

static void test_hits_shape(void **state)
{
    (void)state;
    search_hit hits[2];
    memset(hits, 0, sizeof hits);
    hits[0] = (search_hit){.chunk_id = 42, .bm25 = 7.5, .bm25_rank = 1, .dense = 0.61,
                           .dense_rank = 3, .fused = 0.9, .rerank = 1.25,
                           .article_id = "kb-1", .title = "Refunds", .url = "https://x/kb-1",
                           .heading = "Refunds > Annual plans", .snippet = "a **refund**"};
    hits[1] = (search_hit){.chunk_id = 7, .fused = 0.2, .rerank = -0.5, .article_id = "kb-2",
                           .title = "Billing", .heading = "Billing"};
    search_results r;
    memset(&r, 0, sizeof r);
    r.hits = hits;
    r.n = 2;

    cJSON *a = search_hits_json(&r);
    assert_non_null(a);
    assert_int_equal(cJSON_GetArraySize(a), 2);
    cJSON *x = cJSON_GetArrayItem(a, 0);
    assert_int_equal(cJSON_GetObjectItem(x, "rank")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(x, "chunk_id")->valueint, 42);
    assert_string_equal(cJSON_GetObjectItem(x, "article_id")->valuestring, "kb-1");
    assert_string_equal(cJSON_GetObjectItem(x, "url")->valuestring, "https://x/kb-1");
    assert_string_equal(cJSON_GetObjectItem(x, "heading")->valuestring, "Refunds > Annual plans");
    assert_string_equal(cJSON_GetObjectItem(x, "snippet")->valuestring, "a **refund**");
    cJSON *sc = cJSON_GetObjectItem(x, "scores");
    assert_true(cJSON_GetObjectItem(sc, "bm25")->valuedouble == 7.5);
    assert_int_equal(cJSON_GetObjectItem(sc, "dense_rank")->valueint, 3);
    assert_true(cJSON_GetObjectItem(sc, "rerank")->valuedouble == 1.25);

    cJSON *y = cJSON_GetArrayItem(a, 1);
    assert_int_equal(cJSON_GetObjectItem(y, "rank")->valueint, 2);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(y, "url")));
    assert_string_equal(cJSON_GetObjectItem(y, "snippet")->valuestring, "");
    sc = cJSON_GetObjectItem(y, "scores");
    assert_int_equal(cJSON_GetObjectItem(sc, "bm25_rank")->valueint, 0);
    assert_true(cJSON_GetObjectItem(sc, "rerank")->valuedouble == -0.5);
    cJSON_Delete(a);
}

static void test_no_hits(void **state)
{
    (void)state;
    search_results r;
    memset(&r, 0, sizeof r);
    cJSON *a = search_hits_json(&r);
    assert_non_null(a);
    assert_true(cJSON_IsArray(a));
    assert_int_equal(cJSON_GetArraySize(a), 0);
    cJSON_Delete(a);
}

/* The written text is what cJSON would print for the same array, byte for byte, strings
 * that need escaping included; and an append leaves what the buffer held before. */
static void test_written_text(void **state)
{
    (void)state;
    search_hit hits[3];
    memset(hits, 0, sizeof hits);
    hits[0] = (search_hit){.chunk_id = 9000000001LL, .bm25 = 0.1, .bm25_rank = 2,
                           .dense = 1.0 / 3.0, .dense_rank = 1, .fused = 0.30000000000000004,
                           .rerank = -1e-9, .article_id = "kb-\"q\"", .title = "Tab\there",
                           .url = "https://x/a?b=1&c=2", .heading = "Line\nbreak \\ slash",
                           .snippet = "caf\xc3\xa9 \xe9\x80\x80\xe6\xac\xbe \x01"};
    hits[1] = (search_hit){.chunk_id = 1, .article_id = "kb-2", .title = "T", .heading = "H"};
    hits[2] = (search_hit){.chunk_id = 2, .bm25 = 12.5, .fused = 1.0, .rerank = 3.75,
                           .article_id = "kb-3", .title = "", .heading = "", .snippet = ""};
    search_results r;
    memset(&r, 0, sizeof r);
    r.hits = hits;
    r.n = 3;
    sbuf b = SBUF_INIT;
    assert_int_equal(sbuf_adds(&b, "x="), 0);
    assert_int_equal(search_hits_write(&b, &r), 0);
    cJSON *a = search_hits_json(&r);
    assert_non_null(a);
    char *want = cJSON_PrintUnformatted(a);
    assert_non_null(want);
    assert_int_equal(strncmp(sbuf_str(&b), "x=", 2), 0);
    assert_string_equal(sbuf_str(&b) + 2, want);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "heading")->valuestring,
                        "Line\nbreak \\ slash");
    free(want);
    cJSON_Delete(a);
    sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hits_shape),
        cmocka_unit_test(test_no_hits),
        cmocka_unit_test(test_written_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
