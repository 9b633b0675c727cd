/* test_llm: the chat-completions client against tests/fake/fake_openai started as a child
 * process ($LORE_BUILD_DIR/fake_openai): normal and streamed replies, reasoning never shown,
 * first-token timeout, 429 then success, repeated 500s opening the breaker and using the
 * fallback, half-open probes, malformed JSON, a stream cut mid-answer, finish_reason length,
 * cancellation, the API key. Also http.h's backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "llm.h"
#include "testutil.h"

static char tmpdir[256];
static int log_seq;

typedef tu_fake fake;

static void fake_start(fake *f, const char *const *extra)
{
    char log[300];
    snprintf(log, sizeof log, "%s/log-%d.jsonl", tmpdir, ++log_seq);
    tu_fake_start(f, log, 120, extra);
}

static void fake_stop(fake *f) { tu_fake_stop(f); }

/* The fake's log as a JSON array of requests. */
static cJSON *fake_log(const fake *f) { return tu_fake_log(f); }

static cconf_llm conf_for(const fake *f)
{
    cconf c;
    cconf_default(&c);
    cconf_llm l = c.llm;
    l.base_url = (char *)f->url;
    l.model = (char *)"primary";
    l.connect_timeout_ms = 2000;
    l.timeout_ms = 10000;
    l.first_token_timeout_ms = 5000;
    l.retries = 2;
    l.backoff_ms = 5;
    l.breaker_failures = 3;
    l.breaker_cooldown_ms = 600000;
    return l;
}

static llm *open_llm(const cconf_llm *c)
{
    llm *l = NULL;
    lore_err err = {0, ""};
    if (llm_new(c, NULL, NULL, &l, &err) != 0)
        fail_msg("llm_new: %s", err.msg);
    return l;
}

/* Starts the fake with flags and a client for it with conf_for's settings. */
static llm *start_llm(fake *f, const char *const *flags)
{
    fake_start(f, flags);
    cconf_llm c = conf_for(f);
    return open_llm(&c);
}

static void stop_llm(llm *l, fake *f)
{
    llm_free(l);
    fake_stop(f);
}

/* A grounded prompt the fake answers from: it quotes source 1. */
static const llm_message MSGS[] = {
    {"system", "You answer from the numbered sources."},
    {"user", "Sources:\n\n<source id=\"1\">\ntitle: Refunds\ntext:\nRefunds are issued "
             "automatically within 14 days of cancelling. Card refunds take 5 to 10 days.\n"
             "</source>\n\nQuestion: how do refunds work"}};
#define NMSGS (sizeof MSGS / sizeof MSGS[0])
#define WANT "Refunds are issued automatically within 14 days of cancelling. Card refunds take 5 to 10 days. [1]"

typedef struct collect {
    char buf[4096];
    size_t n;
    int calls;
    int cancel_after;
} collect;

static int on_tok(void *ctx, const char *s, size_t n)
{
    collect *c = ctx;
    if (c->n + n < sizeof c->buf) {
        memcpy(c->buf + c->n, s, n);
        c->n += n;
        c->buf[c->n] = '\0';
    }
    c->calls++;
    return c->cancel_after > 0 && c->calls >= c->cancel_after;
}

static int setup(void **state)
{
    (void)state;
    tu_mkdtemp("llm", tmpdir, sizeof tmpdir);
    unsetenv("LORE_LLM_API_KEY");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rm_rf(tmpdir);
    return 0;
}

/* ---- tests ---- */

static void test_normal_reply(void **state)
{
    (void)state;
    fake f;
    fake_start(&f, NULL);
    cconf_llm c = conf_for(&f);
    c.reasoning_effort = (char *)"low";
    llm *l = open_llm(&c);
    collect col = {0};
    llm_reply r;
    lore_err err = {0, ""};
    int rc = llm_chat(l, MSGS, NMSGS, 300, 0, on_tok, &col, &r, &err);
    if (rc != 0)
        fail_msg("llm_chat: %s", err.msg);
    assert_string_equal(r.content, WANT);
    assert_string_equal(r.finish_reason, "stop");
    assert_int_equal(r.failure, LLM_OK);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(r.fallback, 0);
    /* Non-streamed: the callback gets the whole answer once, never the reasoning. */
    assert_int_equal(col.calls, 1);
    assert_string_equal(col.buf, WANT);
    assert_null(strstr(r.content, "SECRET-REASONING"));
    llm_reply_free(&r);
    stop_llm(l, &f);

    /* What was sent: the model, the messages, gpt-oss's reasoning_effort, max_tokens. */
    cJSON *log = fake_log(&f);
    assert_int_equal(cJSON_GetArraySize(log), 1);
    cJSON *req = cJSON_GetArrayItem(log, 0);
    assert_string_equal(cJSON_GetObjectItem(req, "path")->valuestring, "/v1/chat/completions");
    assert_string_equal(cJSON_GetObjectItem(req, "model")->valuestring, "primary");
    assert_string_equal(cJSON_GetObjectItem(req, "reasoning_effort")->valuestring, "low");
    assert_int_equal((int)cJSON_GetObjectItem(req, "max_tokens")->valuedouble, 300);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(req, "stream")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(req, "messages")), 2);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(req, "authorization")));
    cJSON_Delete(log);
}

static void test_streamed_reply(void **state)
{
    (void)state;
    fake f;
    const char *flags[] = {"--token-delay-ms", "2", NULL};
    llm *l = start_llm(&f, flags);
    collect col = {0};
    llm_reply r;
    lore_err err = {0, ""};
    int rc = llm_chat(l, MSGS, NMSGS, 0, 1, on_tok, &col, &r, &err);
    if (rc != 0)
        fail_msg("llm_chat: %s", err.msg);
    assert_string_equal(r.content, WANT);
    /* Word-sized deltas arrived one by one; reasoning deltas were dropped. */
    assert_true(col.calls > 5);
    assert_string_equal(col.buf, WANT);
    assert_null(strstr(col.buf, "SECRET"));
    assert_true(r.ms_first_token >= 0);
    assert_true(r.ms_first_token <= r.ms_total);
    llm_reply_free(&r);
    stop_llm(l, &f);
    cJSON *log = fake_log(&f);
    cJSON *req = cJSON_GetArrayItem(log, 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(req, "stream")));
    /* No reasoning_effort unless configured. */
    assert_null(cJSON_GetObjectItem(req, "reasoning_effort"));
    cJSON_Delete(log);
}

static void test_api_key_from_env(void **state)
{
    (void)state;
    fake f;
    const char *flags[] = {"--require-key", "sk-test-123", NULL};
    fake_start(&f, flags);
    cconf_llm c = conf_for(&f);
    c.api_key_env = (char *)"TEST_LLM_KEY";
    setenv("TEST_LLM_KEY", "sk-test-123", 1);
    llm *l = open_llm(&c);
    unsetenv("TEST_LLM_KEY");
    llm_reply r;
    lore_err err = {0, ""};
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, NULL, NULL, &r, &err), 0);
    assert_string_equal(r.content, WANT);
    llm_reply_free(&r);
    llm_free(l);

    /* Without the key: a 401, not retried, named in the error. */
    l = open_llm(&c);
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, NULL, NULL, &r, &err), LORE_ENET);
    assert_non_null(strstr(err.msg, "401"));
    assert_non_null(strstr(err.msg, f.url));
    assert_int_equal(r.attempts, 1);
    assert_int_equal(r.failure, LLM_UNAVAILABLE);
    llm_reply_free(&r);
    stop_llm(l, &f);
}

static void test_slow_first_token(void **state)
{
    (void)state;
    fake f;
    const char *flags[] = {"--first-token-ms", "1500", NULL};
    fake_start(&f, flags);
    cconf_llm c = conf_for(&f);
    c.first_token_timeout_ms = 200;
    c.retries = 0;
    llm *l = open_llm(&c);
    collect col = {0};
    llm_reply r;
    lore_err err = {0, ""};
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, on_tok, &col, &r, &err), LORE_ENET);
    assert_int_equal(r.failure, LLM_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "first-token timeout"));
    assert_int_equal(col.calls, 0);
    llm_reply_free(&r);
    llm_free(l);

    /* A first-token limit above the server's delay: the answer comes through. */
    c.first_token_timeout_ms = 8000;
    l = open_llm(&c);
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, on_tok, &col, &r, &err), 0);
    assert_string_equal(r.content, WANT);
    llm_reply_free(&r);
    stop_llm(l, &f);
}

static void test_429_then_success(void **state)
{
    (void)state;
    fake f;
    const char *flags[] = {"--fail-first", "1", "--fail-status", "429", "--retry-after", "0",
                           NULL};
    llm *l = start_llm(&f, flags);
    llm_reply r;
    lore_err err = {0, ""};
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, NULL, NULL, &r, &err), 0);
    assert_string_equal(r.content, WANT);
    assert_int_equal(r.attempts, 2);
    assert_int_equal(r.fallback, 0);
    assert_int_equal(breaker_get(llm_primary_breaker(l)), BREAKER_CLOSED);
    llm_reply_free(&r);
    stop_llm(l, &f);
    cJSON *log = fake_log(&f);
    assert_int_equal(cJSON_GetArraySize(log), 2);
    assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetArrayItem(log, 0), "status")->valuedouble,
                     429);
    cJSON_Delete(log);
}

static void test_500s_open_breaker_and_use_fallback(void **state)
{
    (void)state;
    fake f;
    const char *flags[] = {"--chat-fail-model", "primary", NULL};
    fake_start(&f, flags);
    cconf_llm c = conf_for(&f);
    c.fallback_model = (char *)"backup";
    c.retries = 1;
    c.breaker_failures = 3;
    breaker *pb = NULL, *fb = NULL;
    lore_err err = {0, ""};
    assert_int_equal(breaker_new(3, 600000, &pb, &err), 0);
    assert_int_equal(breaker_new(3, 600000, &fb, &err), 0);
    llm *l = NULL;
    assert_int_equal(llm_new(&c, pb, fb, &l, &err), 0);
    assert_true(llm_has_fallback(l));

    /* Call 1: two failed attempts on the primary, then the fallback answers. */
    llm_reply r;
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, NULL, NULL, &r, &err), 0);
    assert_string_equal(r.content, WANT);
    assert_int_equal(r.fallback, 1);
    assert_int_equal(r.attempts, 3);
    assert_int_equal(breaker_get(pb), BREAKER_CLOSED);
    llm_reply_free(&r);
    /* Call 2: the third failure opens the primary's breaker. */
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, NULL, NULL, &r, &err), 0);
    assert_int_equal(r.fallback, 1);
    assert_int_equal(breaker_get(pb), BREAKER_OPEN);
    llm_reply_free(&r);
    /* Call 3: the open breaker skips the primary altogether. */
    cJSON *log = fake_log(&f);
    int before = cJSON_GetArraySize(log);
    cJSON_Delete(log);
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, NULL, NULL, &r, &err), 0);
    assert_int_equal(r.fallback, 1);
    assert_int_equal(r.attempts, 1);
    llm_reply_free(&r);
    log = fake_log(&f);
    assert_int_equal(cJSON_GetArraySize(log), before + 1);
    cJSON *last = cJSON_GetArrayItem(log, before);
    assert_string_equal(cJSON_GetObjectItem(last, "model")->valuestring, "backup");
    cJSON_Delete(log);
    assert_int_equal(breaker_get(fb), BREAKER_CLOSED);
    llm_free(l);

    /* Without a fallback, an open breaker fails at once and names the breaker. */
    c.fallback_model = NULL;
    assert_int_equal(llm_new(&c, pb, NULL, &l, &err), 0);
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, NULL, NULL, &r, &err), LORE_ENET);
    assert_int_equal(r.attempts, 0);
    assert_non_null(strstr(err.msg, "circuit breaker open"));
    llm_reply_free(&r);
    llm_free(l);
    breaker_free(pb);
    breaker_free(fb);
    fake_stop(&f);
}

static void test_breaker_half_open_probe(void **state)
{
    (void)state;
    fake f;
    /* The first two requests fail; the server is healthy afterwards. */
    const char *flags[] = {"--fail-first", "2", "--fail-status", "503", NULL};
    fake_start(&f, flags);
    cconf_llm c = conf_for(&f);
    c.retries = 0;
    c.breaker_failures = 2;
    c.breaker_cooldown_ms = 0; /* probe at the next call */
    llm *l = open_llm(&c);
    breaker *b = llm_primary_breaker(l);
    llm_reply r;
    lore_err err = {0, ""};
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 0, NULL, NULL, &r, &err), LORE_ENET);
    assert_non_null(strstr(err.msg, "503"));
    llm_reply_free(&r);
    assert_int_equal(breaker_get(b), BREAKER_CLOSED);
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 0, NULL, NULL, &r, &err), LORE_ENET);
    llm_reply_free(&r);
    assert_int_equal(breaker_get(b), BREAKER_OPEN);
    /* The cooldown is over: one probe goes through, succeeds, and closes the breaker. */
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 0, NULL, NULL, &r, &err), 0);
    assert_int_equal(r.attempts, 1);
    llm_reply_free(&r);
    assert_int_equal(breaker_get(b), BREAKER_CLOSED);
    stop_llm(l, &f);
}

static void test_malformed_json(void **state)
{
    (void)state;
    fake f;
    const char *flags[] = {"--chat", "malformed", NULL};
    fake_start(&f, flags);
    cconf_llm c = conf_for(&f);
    c.retries = 1;
    llm *l = open_llm(&c);
    llm_reply r;
    lore_err err = {0, ""};
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 0, NULL, NULL, &r, &err), LORE_ENET);
    assert_int_equal(r.failure, LLM_MALFORMED);
    assert_non_null(strstr(err.msg, "not valid JSON"));
    assert_int_equal(r.attempts, 2); /* a malformed reply is retried like a 5xx */
    llm_reply_free(&r);

    /* Streamed: a broken event after some text. Text was shown, so no retry. */
    collect col = {0};
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, on_tok, &col, &r, &err), LORE_ENET);
    assert_int_equal(r.failure, LLM_MALFORMED);
    assert_non_null(strstr(err.msg, "not valid JSON"));
    assert_int_equal(r.attempts, 1);
    llm_reply_free(&r);
    stop_llm(l, &f);
}

static void test_stream_cut_mid_answer(void **state)
{
    (void)state;
    fake f;
    const char *flags[] = {"--chat", "cut", NULL};
    llm *l = start_llm(&f, flags);
    collect col = {0};
    llm_reply r;
    lore_err err = {0, ""};
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, on_tok, &col, &r, &err), LORE_ENET);
    assert_int_equal(r.failure, LLM_TRUNCATED);
    /* The partial text is kept for the caller to withdraw, and it is a strict prefix. */
    assert_non_null(r.content);
    assert_true(strlen(r.content) < strlen(WANT));
    assert_int_equal(strncmp(r.content, WANT, strlen(r.content)), 0);
    assert_int_equal(r.attempts, 1);
    llm_reply_free(&r);
    stop_llm(l, &f);
}

static void test_finish_length(void **state)
{
    (void)state;
    fake f;
    const char *flags[] = {"--chat", "length", NULL};
    llm *l = start_llm(&f, flags);
    llm_reply r;
    lore_err err = {0, ""};
    for (int stream = 0; stream <= 1; stream++) {
        assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, stream, NULL, NULL, &r, &err), LORE_ENET);
        assert_int_equal(r.failure, LLM_LENGTH);
        assert_non_null(strstr(err.msg, "finish_reason length"));
        assert_int_equal(r.attempts, 1);
        llm_reply_free(&r);
    }
    stop_llm(l, &f);
}

static void test_cancel(void **state)
{
    (void)state;
    fake f;
    llm *l = start_llm(&f, NULL);
    collect col = {0};
    col.cancel_after = 2;
    llm_reply r;
    lore_err err = {0, ""};
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, on_tok, &col, &r, &err), LORE_ENET);
    assert_int_equal(r.failure, LLM_CANCELLED);
    assert_int_equal(col.calls, 2);
    llm_reply_free(&r);
    stop_llm(l, &f);
}

static void test_unreachable(void **state)
{
    (void)state;
    cconf c0;
    cconf_default(&c0);
    cconf_llm c = c0.llm;
    c.base_url = (char *)"http://127.0.0.1:1/v1";
    c.model = (char *)"m";
    c.retries = 1;
    c.backoff_ms = 1;
    llm *l = open_llm(&c);
    llm_reply r;
    lore_err err = {0, ""};
    assert_int_equal(llm_chat(l, MSGS, NMSGS, 0, 1, NULL, NULL, &r, &err), LORE_ENET);
    assert_int_equal(r.failure, LLM_UNAVAILABLE);
    assert_int_equal(r.attempts, 2);
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    llm_reply_free(&r);
    llm_free(l);
}

static void test_backoff(void **state)
{
    (void)state;
    uint64_t rng = 12345;
    for (int a = 0; a < 6; a++) {
        long base = 100L << a;
        long d = http_backoff_ms(&rng, 100, a, -1);
        assert_true(d >= base / 2 && d <= base);
    }
    /* Retry-After is a floor, clamped to the maximum wait. */
    assert_true(http_backoff_ms(&rng, 100, 0, 3) >= 3000);
    assert_true(http_backoff_ms(&rng, 100, 0, 99999) <= HTTP_MAX_WAIT_MS);
    assert_true(http_backoff_ms(&rng, 100, 40, -1) <= HTTP_MAX_WAIT_MS);
    assert_int_equal(http_transient_status(429), 1);
    assert_int_equal(http_transient_status(503), 1);
    assert_int_equal(http_transient_status(400), 0);
    char msg[64];
    const char *body = "{\"error\": {\"message\": \"bad\\nthing.\"}}";
    http_server_message(body, strlen(body), msg, sizeof msg);
    assert_string_equal(msg, "bad thing");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_normal_reply),
        cmocka_unit_test(test_streamed_reply),
        cmocka_unit_test(test_api_key_from_env),
        cmocka_unit_test(test_slow_first_token),
        cmocka_unit_test(test_429_then_success),
        cmocka_unit_test(test_500s_open_breaker_and_use_fallback),
        cmocka_unit_test(test_breaker_half_open_probe),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_stream_cut_mid_answer),
        cmocka_unit_test(test_finish_length),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_unreachable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
