/* test_embed: the embedder kinds, with the OpenAI client run against tests/fake/fake_openai
 * started as a child process ($LORE_BUILD_DIR/fake_openai). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "embed.h"

static char tmpdir[256];
static int log_seq;

/* ---- fake server harness ---- */

typedef tu_fake fake;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starts fake_openai with the given extra flags (NULL-terminated). */
static void fake_start(fake *f, const char *const *extra)
{
    char log[300];
    snprintf(log, sizeof log, "%s/log-%d.jsonl", tmpdir, ++log_seq);
    tu_fake_start(f, log, 60, extra);
}

static void fake_stop(fake *f) { tu_fake_stop(f); }

/* Parses the fake's log: a JSON array with one object per request. Caller deletes. */
static cJSON *fake_log(const fake *f) { return tu_fake_log(f); }

static int fake_log_count(const fake *f)
{
    cJSON *l = fake_log(f);
    int n = cJSON_GetArraySize(l);
    cJSON_Delete(l);
    return n;
}

static embedder *open_openai(const fake *f, const embed_options *o)
{
    char spec[256];
    snprintf(spec, sizeof spec, "openai:test-model@%s", f->url);
    embedder *e = NULL;
    lore_err err = {0, ""};
    int rc = embed_open(spec, o, &e, &err);
    if (rc != 0)
        fail_msg("embed_open(%s): %s", spec, err.msg);
    return e;
}

static embed_options fast_opts(void)
{
    embed_options o;
    memset(&o, 0, sizeof o);
    o.batch = 64;
    o.connect_timeout_ms = 1000;
    o.timeout_ms = 5000;
    o.retries = 4;
    o.backoff_ms = 10;
    return o;
}

static double norm(const float *v, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += (double)v[i] * v[i];
    return sqrt(s);
}

static double dot(const float *a, const float *b, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* ---- group setup ---- */

static int setup(void **state)
{
    (void)state;
    tu_mkdtemp("embed", tmpdir, sizeof tmpdir);
    /* A key in the developer's environment must not change what the tests send. */
    unsetenv("LORE_EMBED_API_KEY");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rm_rf(tmpdir);
    return 0;
}

/* CMake always builds the fake server: its absence is a broken build, not a skip. */
static void need_fake(void) { (void)tu_fake_path("fake_openai"); }

/* ---- "none" and specs ---- */

static void test_none(void **state)
{
    (void)state;
    embedder *e = NULL;
    lore_err err = {0, ""};
    assert_int_equal(embed_open("none", NULL, &e, &err), 0);
    assert_string_equal(embed_id(e), "none");
    assert_int_equal(embed_dim(e), 0);
    const char *texts[] = {"hello"};
    float v[4];
    assert_int_equal(embed_texts(e, texts, 1, v, &err), LORE_EUNSUP);
    assert_int_equal(err.code, LORE_EUNSUP);
    float *p = (float *)1;
    assert_int_equal(embed_texts_alloc(e, texts, 1, &p, &err), LORE_EUNSUP);
    size_t nw = 5;
    assert_int_equal(embed_texts_windows(e, texts, 1, &p, &nw, &err), LORE_EUNSUP);
    assert_null(p);
    assert_int_equal(nw, 0);
    assert_null(p);
    assert_int_equal(embed_request_count(e), 0);
    embed_close(e);
}

static void test_bad_specs(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",        "nope",           "hash",        "hash:",         "hash:7",
        "hash:4097", "hash:12x",     "hash:-8",     "hash: 64",      "openai:",
        "openai:m", "openai:@http://x/v1", "openai:m@ftp://x/v1", "openai:m@http://",
        "openai:m@http:///", "openai:my model@http://x/v1", "HASH:64",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        embedder *e = (embedder *)1;
        lore_err err = {0, ""};
        int rc = embed_open(bad[i], NULL, &e, &err);
        if (rc != LORE_EINVAL)
            fail_msg("spec \"%s\": expected LORE_EINVAL, got %d", bad[i], rc);
        assert_null(e);
        char quoted[128];
        snprintf(quoted, sizeof quoted, "\"%s\"", bad[i]);
        if (strstr(err.msg, quoted) == NULL || strstr(err.msg, "hash:DIM") == NULL ||
            strstr(err.msg, "openai:MODEL@BASE_URL") == NULL)
            fail_msg("spec \"%s\": message does not quote it or list forms: %s", bad[i],
                     err.msg);
    }
    embedder *e = NULL;
    lore_err err = {0, ""};
    assert_int_equal(embed_open(NULL, NULL, &e, &err), LORE_EINVAL);
    assert_null(e);
}

static void test_spec_ids(void **state)
{
    (void)state;
    embedder *e = NULL;
    lore_err err = {0, ""};
    assert_int_equal(embed_open("hash:0256", NULL, &e, &err), 0);
    assert_string_equal(embed_id(e), "hash:256");
    assert_int_equal(embed_dim(e), 256);
    embed_close(e);

    assert_int_equal(embed_open("openai:BAAI/bge-small:v1@http://127.0.0.1:9/v1//", NULL, &e,
                                &err),
                     0);
    assert_string_equal(embed_id(e), "openai:BAAI/bge-small:v1@http://127.0.0.1:9/v1");
    assert_int_equal(embed_dim(e), 0);
    assert_int_equal(embed_request_count(e), 0);
    embed_close(e);

    /* A URL with user info keeps its '@'; the model ends at the first "@http". */
    assert_int_equal(embed_open("openai:m@https://u:p@example.com/v1", NULL, &e, &err), 0);
    assert_string_equal(embed_id(e), "openai:m@https://u:p@example.com/v1");
    embed_close(e);
}

/* ---- hash ---- */

static void test_hash_deterministic_normalised(void **state)
{
    (void)state;
    const char *texts[] = {
        "How do I reset my password?",
        "Billing: update the credit card on file",
        "",
        "   ...   ",
        "Résumé upload fails with ﬁle too large",
    };
    size_t n = sizeof texts / sizeof texts[0];
    lore_err err = {0, ""};
    embedder *a = NULL, *b = NULL;
    assert_int_equal(embed_open("hash:100", NULL, &a, &err), 0);
    assert_int_equal(embed_open("hash:100", NULL, &b, &err), 0);
    assert_int_equal(embed_dim(a), 100);
    float va[5 * 100], vb[5 * 100];
    assert_int_equal(embed_texts(a, texts, n, va, &err), 0);
    assert_int_equal(embed_texts(b, texts, n, vb, &err), 0);
    assert_memory_equal(va, vb, sizeof va);
    /* Same again on the same embedder: no state leaks between calls. */
    assert_int_equal(embed_texts(a, texts, n, vb, &err), 0);
    assert_memory_equal(va, vb, sizeof va);

    assert_true(fabs(norm(va, 100) - 1.0) < 1e-5);
    assert_true(fabs(norm(va + 100, 100) - 1.0) < 1e-5);
    assert_true(fabs(norm(va + 400, 100) - 1.0) < 1e-5);
    /* Nothing to embed: the zero vector. */
    assert_true(norm(va + 200, 100) == 0.0);
    assert_true(norm(va + 300, 100) == 0.0);
    assert_true(dot(va, va + 100, 100) < 0.99);

    float *p = NULL;
    assert_int_equal(embed_texts_alloc(a, texts, 2, &p, &err), 0);
    assert_non_null(p);
    assert_memory_equal(p, va, 2 * 100 * sizeof(float));
    free(p);
    /* Windows: a kind without windows gives one per text, the same vectors. */
    size_t nwin[5] = {9, 9, 9, 9, 9};
    assert_int_equal(embed_texts_windows(a, texts, n, &p, nwin, &err), 0);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(nwin[i], 1);
    assert_memory_equal(p, va, sizeof va);
    free(p);
    /* Queries: embed_queries gives each text's embed_query vector; hashing gains nothing from
     * embedding several at once, so a server does not batch them. */
    assert_false(embed_queries_together(a));
    assert_int_equal(embed_queries(a, texts, n, &p, &err), 0);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        float *q = NULL;
        assert_int_equal(embed_query(a, texts[i], &q, &err), 0);
        assert_memory_equal(p + i * 100, q, 100 * sizeof(float));
        free(q);
    }
    free(p);
    assert_int_equal(embed_request_count(a), 0);
    embed_close(a);
    embed_close(b);
}

static void test_hash_similarity(void **state)
{
    (void)state;
    const char *texts[] = {
        "How do I reset my password?",
        "Resetting your password from the login page",
        "International shipping costs and delivery times",
        "password reset",
    };
    lore_err err = {0, ""};
    embedder *e = NULL;
    assert_int_equal(embed_open("hash:256", NULL, &e, &err), 0);
    float v[4 * 256];
    assert_int_equal(embed_texts(e, texts, 4, v, &err), 0);
    double related = dot(v, v + 256, 256);
    double unrelated = dot(v, v + 512, 256);
    assert_true(related > unrelated + 0.2);
    assert_true(dot(v + 768, v, 256) > dot(v + 768, v + 512, 256) + 0.2);
    embed_close(e);
}

/* ---- openai ---- */

static void test_openai_batching_and_order(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--dim", "16", "--reverse", NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    embedder *e = open_openai(&f, &o);

    enum { N = 150 };
    char bufs[N][64];
    const char *texts[N];
    for (int i = 0; i < N; i++) {
        snprintf(bufs[i], sizeof bufs[i], "text number %d about topic %d", i, i % 7);
        texts[i] = bufs[i];
    }
    lore_err err = {0, ""};
    float *v = NULL;
    int rc = embed_texts_alloc(e, texts, N, &v, &err);
    if (rc != 0)
        fail_msg("embed_texts_alloc: %s", err.msg);
    assert_int_equal(embed_dim(e), 16);
    assert_int_equal(embed_request_count(e), 3);

    cJSON *log = fake_log(&f);
    assert_int_equal(cJSON_GetArraySize(log), 3);
    static const int sizes[] = {64, 64, 22};
    int k = 0;
    for (int r = 0; r < 3; r++) {
        const cJSON *line = cJSON_GetArrayItem(log, r);
        assert_string_equal(cJSON_GetObjectItem(line, "path")->valuestring, "/v1/embeddings");
        assert_string_equal(cJSON_GetObjectItem(line, "model")->valuestring, "test-model");
        assert_int_equal(cJSON_GetObjectItem(line, "n_inputs")->valueint, sizes[r]);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(line, "authorization")));
        const cJSON *in;
        cJSON_ArrayForEach(in, cJSON_GetObjectItem(line, "inputs"))
            assert_string_equal(in->valuestring, texts[k++]);
    }
    assert_int_equal(k, N);
    cJSON_Delete(log);

    /* Every vector is normalised and is the one the server computes for that text alone,
     * even though the server listed each batch backwards. */
    float one[16];
    for (int i = 0; i < N; i++) {
        assert_true(fabs(norm(v + i * 16, 16) - 1.0) < 1e-5);
        if (i % 37 == 0 || i == N - 1) {
            assert_int_equal(embed_texts(e, &texts[i], 1, one, &err), 0);
            assert_memory_equal(one, v + i * 16, sizeof one);
        }
    }
    free(v);
    embed_close(e);
    fake_stop(&f);
}

/* The server's circuit breaker: after breaker_failures failed requests in a row, calls fail
 * at once without a request; after the cooldown one probe goes out, and its success closes
 * the breaker. */
static void test_openai_breaker(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--dim", "8", "--fail-first", "3", "--fail-status", "503", NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    o.retries = 0; /* one request a call */
    o.breaker_failures = 2;
    o.breaker_cooldown_ms = 300;
    embedder *e = open_openai(&f, &o);
    const char *t[] = {"a question about invoices"};
    float *v = NULL;
    lore_err err = {0, ""};
    assert_int_equal(embed_texts_alloc(e, t, 1, &v, &err), LORE_ENET);
    assert_int_equal(embed_texts_alloc(e, t, 1, &v, &err), LORE_ENET);
    assert_int_equal(embed_request_count(e), 2);
    /* Open: no request, and the error says why. */
    assert_int_equal(embed_texts_alloc(e, t, 1, &v, &err), LORE_ENET);
    assert_int_equal(embed_request_count(e), 2);
    if (strstr(err.msg, "circuit breaker open") == NULL || strstr(err.msg, f.url) == NULL)
        fail_msg("breaker message: %s", err.msg);
    /* A second embedder of the same server shares the breaker. */
    embedder *e2 = open_openai(&f, &o);
    assert_int_equal(embed_texts_alloc(e2, t, 1, &v, &err), LORE_ENET);
    assert_int_equal(embed_request_count(e2), 0);
    /* After the cooldown the probe goes out; the server still fails: open again. */
    struct timespec ts = {0, 350 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(embed_texts_alloc(e, t, 1, &v, &err), LORE_ENET);
    assert_int_equal(embed_request_count(e), 3);
    assert_int_equal(embed_texts_alloc(e, t, 1, &v, &err), LORE_ENET);
    assert_int_equal(embed_request_count(e), 3);
    /* The next probe succeeds and closes it. */
    nanosleep(&ts, NULL);
    assert_int_equal(embed_texts_alloc(e, t, 1, &v, &err), 0);
    free(v);
    v = NULL;
    assert_int_equal(embed_texts_alloc(e2, t, 1, &v, &err), 0);
    free(v);
    assert_int_equal(embed_request_count(e) + embed_request_count(e2), 5);
    embed_close(e);
    embed_close(e2);
    fake_stop(&f);
}

/* With a memo, texts seen before are not sent again, and their vectors are the same. */
static void test_openai_memo(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--dim", "16", NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    embedder *e = open_openai(&f, &o);
    lore_err err = {0, ""};
    assert_int_equal(embed_memo(e, 0, &err), LORE_EINVAL);
    assert_int_equal(embed_memo(e, 64, &err), 0);
    const char *first[] = {"refunds take five days", "invoices are monthly"};
    const char *second[] = {"invoices are monthly", "a new sentence", "refunds take five days"};
    float *v1 = NULL, *v2 = NULL;
    /* The first call learns the dimension from the server (no memo yet). */
    assert_int_equal(embed_texts_alloc(e, first, 2, &v1, &err), 0);
    assert_int_equal(embed_request_count(e), 1);
    assert_int_equal(embed_texts_alloc(e, first, 2, &v2, &err), 0);
    assert_int_equal(embed_request_count(e), 2); /* the memo fills now */
    free(v2);
    assert_int_equal(embed_texts_alloc(e, second, 3, &v2, &err), 0);
    assert_int_equal(embed_request_count(e), 3); /* only "a new sentence" goes out */
    assert_memory_equal(v2, v1 + 16, 16 * sizeof(float));
    assert_memory_equal(v2 + 32, v1, 16 * sizeof(float));
    float *v3 = NULL;
    assert_int_equal(embed_texts_alloc(e, second, 3, &v3, &err), 0);
    assert_int_equal(embed_request_count(e), 3); /* everything known */
    assert_memory_equal(v3, v2, 3 * 16 * sizeof(float));
    cJSON *log = fake_log(&f);
    assert_int_equal(cJSON_GetArraySize(log), 3);
    const cJSON *last = cJSON_GetArrayItem(log, 2);
    assert_int_equal(cJSON_GetObjectItem(last, "n_inputs")->valueint, 1);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(last, "inputs"), 0)->valuestring,
                        "a new sentence");
    cJSON_Delete(log);
    free(v1);
    free(v2);
    free(v3);
    embed_close(e);
    fake_stop(&f);
}

static void test_openai_identical_texts(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--dim", "32", NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    embedder *e = open_openai(&f, &o);
    const char *texts[] = {"same text", "other text", "same text"};
    lore_err err = {0, ""};
    float *v = NULL;
    assert_int_equal(embed_texts_alloc(e, texts, 3, &v, &err), 0);
    assert_int_equal(embed_dim(e), 32);
    assert_memory_equal(v, v + 64, 32 * sizeof(float));
    assert_true(dot(v, v + 32, 32) < 0.99);
    free(v);
    embed_close(e);
    fake_stop(&f);
}

static void test_openai_retry_after_429(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--fail-first", "1", "--fail-status", "429", "--retry-after", "1",
                          NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    embedder *e = open_openai(&f, &o);
    const char *texts[] = {"hello"};
    lore_err err = {0, ""};
    float *v = NULL;
    double t0 = now_s();
    int rc = embed_texts_alloc(e, texts, 1, &v, &err);
    double dt = now_s() - t0;
    if (rc != 0)
        fail_msg("expected success after a 429: %s", err.msg);
    /* backoff_ms is 10, so only Retry-After explains a wait of a second. */
    assert_true(dt >= 0.95);
    assert_true(dt < 5.0);
    assert_int_equal(embed_request_count(e), 2);
    assert_int_equal(fake_log_count(&f), 2);
    free(v);
    embed_close(e);
    fake_stop(&f);
}

static void test_openai_5xx_recovers(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--fail-first", "2", "--fail-status", "503", NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    embedder *e = open_openai(&f, &o);
    const char *texts[] = {"hello", "world"};
    lore_err err = {0, ""};
    float *v = NULL;
    assert_int_equal(embed_texts_alloc(e, texts, 2, &v, &err), 0);
    assert_int_equal(embed_request_count(e), 3);
    free(v);
    embed_close(e);
    fake_stop(&f);
}

static void test_openai_5xx_exhausted(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--fail-first", "1000", "--fail-status", "500", NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    o.retries = 2;
    embedder *e = open_openai(&f, &o);
    const char *texts[] = {"hello"};
    lore_err err = {0, ""};
    float *v = NULL;
    assert_int_equal(embed_texts_alloc(e, texts, 1, &v, &err), LORE_ENET);
    assert_null(v);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, f.url));
    assert_non_null(strstr(err.msg, "answered 500"));
    assert_non_null(strstr(err.msg, "after 3 attempts"));
    assert_non_null(strstr(err.msg, "fake failure 3 of 1000"));
    assert_int_equal(embed_request_count(e), 3);
    assert_int_equal(fake_log_count(&f), 3);
    embed_close(e);
    fake_stop(&f);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s); /* nobody listens there now */
    return ntohs(a.sin_port);
}

static void test_openai_connection_refused(void **state)
{
    (void)state;
    char spec[128];
    snprintf(spec, sizeof spec, "openai:m@http://127.0.0.1:%d/v1", free_port());
    embed_options o = fast_opts();
    o.retries = 3;
    embedder *e = NULL;
    lore_err err = {0, ""};
    assert_int_equal(embed_open(spec, &o, &e, &err), 0);
    const char *texts[] = {"hello"};
    float *v = NULL;
    double t0 = now_s();
    assert_int_equal(embed_texts_alloc(e, texts, 1, &v, &err), LORE_ENET);
    double dt = now_s() - t0;
    print_message("%s (%.2f s)\n", err.msg, dt);
    assert_true(dt < 3.0);
    assert_int_equal(embed_request_count(e), 4);
    assert_non_null(strstr(err.msg, spec + strlen("openai:m@")));
    assert_non_null(strstr(err.msg, "unreachable after 4 attempts"));
    embed_close(e);
}

static void test_openai_total_timeout(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--delay-ms", "3000", NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    o.timeout_ms = 300;
    o.retries = 1;
    embedder *e = open_openai(&f, &o);
    const char *texts[] = {"slow"};
    lore_err err = {0, ""};
    float *v = NULL;
    double t0 = now_s();
    assert_int_equal(embed_texts_alloc(e, texts, 1, &v, &err), LORE_ENET);
    double dt = now_s() - t0;
    print_message("%s (%.2f s)\n", err.msg, dt);
    assert_true(dt >= 0.5);
    assert_true(dt < 2.5);
    assert_int_equal(embed_request_count(e), 2);
    assert_non_null(strstr(err.msg, f.url));
    assert_non_null(strstr(err.msg, "timed out"));
    embed_close(e);
    fake_stop(&f);
}

static void test_openai_401_no_retry(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--require-key", "right-key", NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    assert_int_equal(setenv("LORE_EMBED_API_KEY", "wrong-key", 1), 0);
    embedder *e = open_openai(&f, &o);
    unsetenv("LORE_EMBED_API_KEY");
    const char *texts[] = {"hello"};
    lore_err err = {0, ""};
    float *v = NULL;
    assert_int_equal(embed_texts_alloc(e, texts, 1, &v, &err), LORE_ENET);
    print_message("%s\n", err.msg);
    char want[256];
    snprintf(want, sizeof want, "embeddings server %s answered 401: invalid api key", f.url);
    assert_string_equal(err.msg, want);
    assert_int_equal(embed_request_count(e), 1);
    cJSON *log = fake_log(&f);
    assert_int_equal(cJSON_GetArraySize(log), 1);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(log, 0), "authorization")->valuestring,
        "Bearer wrong-key");
    cJSON_Delete(log);
    embed_close(e);
    fake_stop(&f);
}

static void test_openai_key_from_env(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--require-key", "s3cret", NULL};
    fake_start(&f, args);
    const char *texts[] = {"hello"};
    lore_err err = {0, ""};
    float *v = NULL;

    /* A named variable. */
    embed_options o = fast_opts();
    o.api_key_env = "LORE_TEST_EMBED_KEY";
    assert_int_equal(setenv("LORE_TEST_EMBED_KEY", "s3cret", 1), 0);
    embedder *e = open_openai(&f, &o);
    unsetenv("LORE_TEST_EMBED_KEY");
    int rc = embed_texts_alloc(e, texts, 1, &v, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    free(v);
    embed_close(e);

    /* The default variable. */
    o.api_key_env = NULL;
    assert_int_equal(setenv("LORE_EMBED_API_KEY", "s3cret", 1), 0);
    e = open_openai(&f, &o);
    unsetenv("LORE_EMBED_API_KEY");
    assert_int_equal(embed_texts_alloc(e, texts, 1, &v, &err), 0);
    free(v);
    embed_close(e);

    cJSON *log = fake_log(&f);
    assert_int_equal(cJSON_GetArraySize(log), 2);
    for (int i = 0; i < 2; i++)
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetArrayItem(log, i), "authorization")->valuestring,
            "Bearer s3cret");
    cJSON_Delete(log);
    fake_stop(&f);
}

static void test_openai_malformed_reply(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--malformed", NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    embedder *e = open_openai(&f, &o);
    const char *texts[] = {"hello"};
    lore_err err = {0, ""};
    float *v = NULL;
    assert_int_equal(embed_texts_alloc(e, texts, 1, &v, &err), LORE_ENET);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, f.url));
    assert_non_null(strstr(err.msg, "not valid JSON"));
    assert_int_equal(embed_request_count(e), 1);
    embed_close(e);
    fake_stop(&f);
}

static void test_openai_inconsistent_replies(void **state)
{
    (void)state;
    need_fake();
    const char *texts[] = {"one", "two"};
    lore_err err = {0, ""};
    float *v = NULL;

    fake f;
    const char *drop[] = {"--drop-last", NULL};
    fake_start(&f, drop);
    embed_options o = fast_opts();
    embedder *e = open_openai(&f, &o);
    assert_int_equal(embed_texts_alloc(e, texts, 2, &v, &err), LORE_ENET);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "sent 1 embeddings for 2 inputs"));
    assert_int_equal(embed_request_count(e), 1);
    embed_close(e);
    fake_stop(&f);

    const char *change[] = {"--dim", "8", "--dim-change-after", "1", NULL};
    fake_start(&f, change);
    e = open_openai(&f, &o);
    assert_int_equal(embed_texts_alloc(e, texts, 2, &v, &err), 0);
    assert_int_equal(embed_dim(e), 8);
    free(v);
    float out[2 * 8];
    assert_int_equal(embed_texts(e, texts, 2, out, &err), LORE_ENET);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "9 dimensions, expected 8"));
    assert_int_equal(embed_dim(e), 8);
    embed_close(e);
    fake_stop(&f);
}

static void test_openai_text_encoding(void **state)
{
    (void)state;
    need_fake();
    fake f;
    fake_start(&f, NULL);
    embed_options o = fast_opts();
    embedder *e = open_openai(&f, &o);
    const char *texts[] = {
        "caf\xc3 au \xff lait \xed\xa0\x80!",       /* truncated, stray, surrogate */
        "quote \" backslash \\ tab\t nl\n ctl\x01", /* JSON escapes */
        "ok \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",  /* valid multi-byte stays as it is */
    };
    lore_err err = {0, ""};
    float *v = NULL;
    int rc = embed_texts_alloc(e, texts, 3, &v, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    free(v);
    cJSON *log = fake_log(&f);
    assert_int_equal(cJSON_GetArraySize(log), 1);
    const cJSON *in = cJSON_GetObjectItem(cJSON_GetArrayItem(log, 0), "inputs");
    assert_string_equal(cJSON_GetArrayItem(in, 0)->valuestring,
                        "caf\xef\xbf\xbd au \xef\xbf\xbd lait "
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!");
    assert_string_equal(cJSON_GetArrayItem(in, 1)->valuestring, texts[1]);
    assert_string_equal(cJSON_GetArrayItem(in, 2)->valuestring, texts[2]);
    cJSON_Delete(log);
    embed_close(e);
    fake_stop(&f);
}

static void test_openai_empty_texts(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--dim", "8", NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    o.batch = 2;
    embedder *e = open_openai(&f, &o);
    lore_err err = {0, ""};
    float *v = NULL;

    /* All empty and dimension unknown: nothing to learn it from. */
    const char *none[] = {"", ""};
    assert_int_equal(embed_texts_alloc(e, none, 2, &v, &err), 0);
    assert_null(v);
    assert_int_equal(embed_dim(e), 0);
    assert_int_equal(embed_request_count(e), 0);

    const char *texts[] = {"", "a", "", "b", "c", ""};
    assert_int_equal(embed_texts_alloc(e, texts, 6, &v, &err), 0);
    assert_int_equal(embed_dim(e), 8);
    assert_int_equal(embed_request_count(e), 2); /* a,b then c */
    assert_true(norm(v + 0, 8) == 0.0);
    assert_true(norm(v + 16, 8) == 0.0);
    assert_true(norm(v + 40, 8) == 0.0);
    assert_true(fabs(norm(v + 8, 8) - 1.0) < 1e-5);
    assert_true(fabs(norm(v + 24, 8) - 1.0) < 1e-5);
    assert_true(fabs(norm(v + 32, 8) - 1.0) < 1e-5);

    /* The same through embed_texts into a caller buffer with stale contents. */
    float out[6 * 8];
    for (int i = 0; i < 48; i++)
        out[i] = 7.0f;
    assert_int_equal(embed_texts(e, texts, 6, out, &err), 0);
    assert_memory_equal(out, v, sizeof out);
    free(v);
    embed_close(e);
    fake_stop(&f);
}

static void test_openai_dimension_probe(void **state)
{
    (void)state;
    need_fake();
    fake f;
    const char *args[] = {"--dim", "24", NULL};
    fake_start(&f, args);
    embed_options o = fast_opts();
    embedder *e = open_openai(&f, &o);
    const char *texts[] = {"hello"};
    lore_err err = {0, ""};
    float out[24];
    assert_int_equal(embed_texts(e, texts, 1, out, &err), LORE_EINVAL);
    assert_int_equal(embed_request_count(e), 0);
    int dim = 0;
    assert_int_equal(embed_probe_dim(e, &dim, &err), 0);
    assert_int_equal(dim, 24);
    assert_int_equal(embed_request_count(e), 1);
    assert_int_equal(embed_probe_dim(e, &dim, &err), 0);
    assert_int_equal(embed_request_count(e), 1);
    assert_int_equal(embed_texts(e, texts, 1, out, &err), 0);
    assert_true(fabs(norm(out, 24) - 1.0) < 1e-5);
    embed_close(e);
    fake_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_spec_ids),
        cmocka_unit_test(test_hash_deterministic_normalised),
        cmocka_unit_test(test_hash_similarity),
        cmocka_unit_test(test_openai_memo),
        cmocka_unit_test(test_openai_breaker),
        cmocka_unit_test(test_openai_batching_and_order),
        cmocka_unit_test(test_openai_identical_texts),
        cmocka_unit_test(test_openai_retry_after_429),
        cmocka_unit_test(test_openai_5xx_recovers),
        cmocka_unit_test(test_openai_5xx_exhausted),
        cmocka_unit_test(test_openai_connection_refused),
        cmocka_unit_test(test_openai_total_timeout),
        cmocka_unit_test(test_openai_401_no_retry),
        cmocka_unit_test(test_openai_key_from_env),
        cmocka_unit_test(test_openai_malformed_reply),
        cmocka_unit_test(test_openai_inconsistent_replies),
        cmocka_unit_test(test_openai_text_encoding),
        cmocka_unit_test(test_openai_empty_texts),
        cmocka_unit_test(test_openai_dimension_probe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
