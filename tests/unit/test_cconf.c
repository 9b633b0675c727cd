/* test_cconf: the collection's answer config: defaults, a full file, and clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cconf.h"

static void test_defaults(void **state)
{
    (void)state;
    cconf c;
    cconf_default(&c);
    assert_false(cconf_has_llm(&c));
    assert_true(c.threshold == 0.85);
    assert_int_equal(c.sources, 5);
    assert_int_equal(c.history_turns, 5);
    assert_true(c.pii.email && c.pii.card && c.pii.phone && c.pii.iban);
    assert_int_equal(c.llm.context_tokens, 8192);
    assert_true(c.llm.stream);
    cconf_free(&c);
}

static const char FULL[] =
    "{\"llm\": {\"base_url\": \"http://127.0.0.1:8000/v1\", \"model\": \"openai/gpt-oss-20b\",\n"
    " \"api_key_env\": \"MY_KEY\", \"fallback\": {\"model\": \"gpt-oss-120b\"},\n"
    " \"context_tokens\": 16384, \"answer_tokens\": 2048, \"reasoning_effort\": \"medium\",\n"
    " \"stream\": false, \"retries\": 3, \"breaker_failures\": 4, \"first_token_timeout_ms\": 9000},\n"
    " \"answer\": {\"threshold\": 0.9, \"sources\": 4, \"brand_voice\": \"Warm and brief.\",\n"
    "  \"guidelines\": \"Never promise refunds.\"},\n"
    " \"pii\": {\"phone\": false}}";

static void test_full(void **state)
{
    (void)state;
    cconf c, d;
    lore_err err = {0, ""};
    assert_int_equal(cconf_parse(FULL, strlen(FULL), "config.json", &c, &err), 0);
    assert_true(cconf_has_llm(&c));
    assert_string_equal(c.llm.model, "openai/gpt-oss-20b");
    assert_string_equal(c.llm.api_key_env, "MY_KEY");
    assert_null(c.llm.fallback_base_url);
    assert_string_equal(c.llm.fallback_model, "gpt-oss-120b");
    assert_int_equal(c.llm.context_tokens, 16384);
    assert_string_equal(c.llm.reasoning_effort, "medium");
    assert_false(c.llm.stream);
    assert_int_equal(c.llm.retries, 3);
    assert_int_equal(c.llm.first_token_timeout_ms, 9000);
    assert_true(c.threshold == 0.9);
    assert_int_equal(c.sources, 4);
    assert_string_equal(c.brand_voice, "Warm and brief.");
    assert_false(c.pii.phone);
    assert_true(c.pii.email);
    assert_int_equal(cconf_copy(&c, &d, &err), 0);
    cconf_free(&c);
    assert_string_equal(d.guidelines, "Never promise refunds.");
    cconf_free(&d);
}

static void expect_error(const char *json, const char *want)
{
    cconf c;
    lore_err err = {0, ""};
    assert_int_equal(cconf_parse(json, strlen(json), "/d/config.json", &c, &err), LORE_EINVAL);
    if (strstr(err.msg, want) == NULL || strstr(err.msg, "/d/config.json") == NULL)
        fail_msg("error for %s: \"%s\" lacks \"%s\"", json, err.msg, want);
    /* Nothing is left to free and the defaults are back. */
    assert_null(c.llm.base_url);
    assert_true(c.threshold == 0.85);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("{\"llm\": {\"base_url\": \"http://x/v1\", \"modle\": \"m\"}}", "llm.modle is not a known key");
    expect_error("{\"llm\": {\"base_url\": \"http://x/v1\"}}", "llm.model is required");
    expect_error("{\"answer\": {\"threshold\": 1.5}}", "answer.threshold must be a number in 0..1");
    expect_error("{\"answer\": {\"sources\": \"five\"}}", "answer.sources must be a whole number");
    expect_error("{\"pii\": {\"email\": 1}}", "pii.email must be true or false");
    expect_error("{\"pii\": {\"ssn\": true}}", "pii.ssn is not a known key");
    expect_error("{\"llm\": {\"reasoning_effort\": \"max\"}}", "low, medium or high");
    expect_error("{\"llm\": {\"context_tokens\": 2048, \"answer_tokens\": 2000}}", "at most half");
    expect_error("{\"llm\": {\"fallback\": {\"url\": \"x\"}}}", "llm.fallback.url is not a known key");
    expect_error("[1, 2]", "must be an object");
    expect_error("{\"lmm\": {}}", "lmm is not a known key");
    expect_error("{\n\"answer\": {\n\"threshold\": 0.5,,\n}}", "not valid JSON (near line 3)");
}

static void test_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/lore-test-cconf-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cconf c;
    lore_err err = {0, ""};
    /* No file: the defaults. */
    assert_int_equal(cconf_load(dir, &c, &err), 0);
    assert_false(cconf_has_llm(&c));
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(cconf_load_file(path, 0, &c, &err), LORE_EIO);
    assert_non_null(strstr(err.msg, path));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(FULL, f);
    fclose(f);
    assert_int_equal(cconf_load(dir, &c, &err), 0);
    assert_string_equal(c.llm.base_url, "http://127.0.0.1:8000/v1");
    cconf_free(&c);
    f = fopen(path, "w");
    fputs("{\"answer\": {\"sources\": 0}}", f);
    fclose(f);
    assert_int_equal(cconf_load(dir, &c, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "answer.sources"));
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
