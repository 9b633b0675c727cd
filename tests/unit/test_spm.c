/* test_spm: the SentencePiece tokenizer against the reference's token ids
 * (tests/golden/use_goldens.json, made by tests/golden/make-goldens.mjs), with the real
 * vocabulary from models/use-lite (tools/fetch-model.sh fetches it), plus load errors,
 * truncation, the reference's quirks on a tiny vocabulary and threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spm.h"

static char vocab_path[1024];
static char golden_path[1024];
static char tmpdir[256];

typedef struct golden {
    char *bytes; /* the text as UTF-8 (utf8_hex when given) */
    size_t n;
    int *ids;
    size_t nids;
    size_t ntokens;
} golden;

static golden *goldens; /* use_goldens.json: the embedding goldens */
static size_t ngoldens;
static golden *idgoldens; /* spm_goldens.json: generated texts, ids only */
static size_t nidgoldens;
static char idgolden_path[1024];
static spm *tok;

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf != NULL && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[len] = '\0';
    *n = len;
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Reads [{text, ids, ntokens?, utf8_hex?}, ...]; ntokens defaults to the number of ids. */
static golden *load_goldens(const char *path, size_t *count)
{
    size_t n = 0;
    char *text = slurp(path, &n);
    if (text == NULL) {
        fprintf(stderr, "test_spm: cannot read %s\n", path);
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    if (root == NULL || !cJSON_IsArray(root)) {
        fprintf(stderr, "test_spm: %s is not a JSON array\n", path);
        cJSON_Delete(root);
        return NULL;
    }
    *count = (size_t)cJSON_GetArraySize(root);
    golden *goldens = calloc(*count, sizeof *goldens);
    if (goldens == NULL)
        abort();
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        golden *g = &goldens[i++];
        const cJSON *hex = cJSON_GetObjectItemCaseSensitive(e, "utf8_hex");
        const cJSON *txt = cJSON_GetObjectItemCaseSensitive(e, "text");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(e, "ids");
        const cJSON *ntok = cJSON_GetObjectItemCaseSensitive(e, "ntokens");
        if (!cJSON_IsString(txt) || !cJSON_IsArray(ids)) {
            fprintf(stderr, "test_spm: %s: entry %zu has no text or ids\n", path, i - 1);
            abort();
        }
        if (cJSON_IsString(hex)) {
            size_t hl = strlen(hex->valuestring);
            g->n = hl / 2;
            g->bytes = malloc(g->n + 1);
            if (g->bytes == NULL)
                abort();
            for (size_t k = 0; k < g->n; k++) {
                int hi = hexval(hex->valuestring[2 * k]), lo = hexval(hex->valuestring[2 * k + 1]);
                if (hi < 0 || lo < 0)
                    abort();
                g->bytes[k] = (char)(hi * 16 + lo);
            }
            g->bytes[g->n] = '\0';
        } else {
            g->bytes = strdup(txt->valuestring);
            if (g->bytes == NULL)
                abort();
            g->n = strlen(g->bytes);
        }
        g->nids = (size_t)cJSON_GetArraySize(ids);
        g->ntokens = cJSON_IsNumber(ntok) ? (size_t)ntok->valuedouble : g->nids;
        g->ids = malloc((g->nids + 1) * sizeof *g->ids);
        if (g->ids == NULL)
            abort();
        size_t k = 0;
        const cJSON *id;
        cJSON_ArrayForEach(id, ids) g->ids[k++] = id->valueint;
    }
    cJSON_Delete(root);
    return goldens;
}

static void free_goldens(golden *g, size_t n)
{
    for (size_t i = 0; i < n && g != NULL; i++) {
        free(g[i].bytes);
        free(g[i].ids);
    }
    free(g);
}

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("LORE_SOURCE_DIR");
    if (src == NULL)
        src = ".";
    snprintf(vocab_path, sizeof vocab_path, "%s/models/use-lite/vocab.json", src);
    snprintf(golden_path, sizeof golden_path, "%s/tests/golden/use_goldens.json", src);
    snprintf(idgolden_path, sizeof idgolden_path, "%s/tests/golden/spm_goldens.json", src);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lore-test-spm-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    if (access(vocab_path, R_OK) != 0) {
        fprintf(stderr,
                "test_spm: the model is not fetched: %s is missing. Run tools/fetch-model.sh "
                "(tools/test.sh runs it before the tests).\n",
                vocab_path);
        return -1;
    }
    lore_err err = {0};
    if (spm_load(vocab_path, &tok, &err) != 0) {
        fprintf(stderr, "test_spm: %s\n", err.msg);
        return -1;
    }
    goldens = load_goldens(golden_path, &ngoldens);
    idgoldens = load_goldens(idgolden_path, &nidgoldens);
    return goldens != NULL && idgoldens != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free_goldens(goldens, ngoldens);
    free_goldens(idgoldens, nidgoldens);
    spm_free(tok);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

/* Encodes with room for everything. Returns a malloc'ed array. */
static int *encode_all(const spm *s, const char *text, size_t n, size_t *nids)
{
    int *ids = malloc((n + 2) * sizeof *ids);
    assert_non_null(ids);
    lore_err err = {0};
    assert_int_equal(spm_encode(s, text, n, ids, n + 2, nids, &err), 0);
    assert_true(*nids <= n + 2);
    return ids;
}

static void print_ids(const char *label, const int *ids, size_t n)
{
    fprintf(stderr, "  %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static void test_vocab_size(void **state)
{
    (void)state;
    assert_int_equal(spm_vocab_size(tok), 8000);
}

/* Number of goldens whose ids differ, printing the first few. */
static size_t check_goldens(const golden *gs, size_t count, const char *name)
{
    size_t bad = 0;
    for (size_t i = 0; i < count; i++) {
        const golden *g = &gs[i];
        assert_int_equal(g->nids, g->ntokens);
        size_t n = 0;
        int *ids = encode_all(tok, g->bytes, g->n, &n);
        if (n != g->nids || memcmp(ids, g->ids, n * sizeof *ids) != 0) {
            if (bad++ < 10) {
                fprintf(stderr, "%s entry %zu differs: \"%.60s\"\n", name, i, g->bytes);
                print_ids("reference", g->ids, g->nids);
                print_ids("spm", ids, n);
            }
        }
        free(ids);
    }
    return bad;
}

static void test_goldens(void **state)
{
    (void)state;
    assert_true(ngoldens >= 110);
    size_t bad = check_goldens(goldens, ngoldens, "use_goldens.json");
    if (bad > 0)
        fail_msg("%zu of %zu goldens differ from the reference's token ids", bad, ngoldens);
}

static void test_generated_goldens(void **state)
{
    (void)state;
    assert_true(nidgoldens >= 1000);
    size_t bad = check_goldens(idgoldens, nidgoldens, "spm_goldens.json");
    if (bad > 0)
        fail_msg("%zu of %zu generated texts differ from the reference's token ids", bad,
                 nidgoldens);
}

static void test_truncation_reports_full_count(void **state)
{
    (void)state;
    size_t checked = 0;
    for (size_t i = 0; i < ngoldens; i++) {
        const golden *g = &goldens[i];
        if (g->nids <= 128)
            continue;
        int ids[130];
        ids[128] = ids[129] = -7;
        size_t n = 0;
        lore_err err = {0};
        assert_int_equal(spm_encode(tok, g->bytes, g->n, ids, 128, &n, &err), 0);
        assert_int_equal(n, g->nids);
        assert_memory_equal(ids, g->ids, 128 * sizeof *ids);
        assert_int_equal(ids[128], -7); /* nothing written past max_ids */
        /* No room at all: only the count. */
        n = 0;
        assert_int_equal(spm_encode(tok, g->bytes, g->n, NULL, 0, &n, &err), 0);
        assert_int_equal(n, g->nids);
        checked++;
    }
    assert_true(checked >= 5);
}

static void test_empty_and_spaces(void **state)
{
    (void)state;
    size_t n = 99;
    lore_err err = {0};
    int ids[8];
    assert_int_equal(spm_encode(tok, "", 0, ids, 8, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(spm_encode(tok, "   ", 3, ids, 8, &n, &err), 0);
    assert_int_equal(n, 4); /* "▁" + one "▁" per space */
    for (int i = 0; i < 4; i++)
        assert_int_equal(ids[i], ids[0]);
    /* n counts bytes: an embedded NUL is a character like any other (an unknown). */
    assert_int_equal(spm_encode(tok, "a\0b", 3, ids, 8, &n, &err), 0);
    assert_true(n >= 3);
}

/* Compatibility mappings newer than utf8proc's Unicode 15.0 follow the reference's ICU. */
static void test_newer_unicode(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"\xf0\x9c\xb3\x96pple 7", "Apple 7"},      /* U+1CCD6 OUTLINED LATIN CAPITAL A */
        {"\xf0\x9c\xb3\xb9 items", "9 items"},      /* U+1CCF9 OUTLINED DIGIT NINE */
        {"\xea\x9f\xb1ign in", "Sign in"},           /* U+A7F1 MODIFIER LETTER CAPITAL S */
        {"\xf0\x9c\xb3\x96\xcc\x81", "\xc3\x81"}, /* outlined A + acute composes: Á */
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        size_t na = 0, nb = 0;
        int *a = encode_all(tok, pairs[i][0], strlen(pairs[i][0]), &na);
        int *b = encode_all(tok, pairs[i][1], strlen(pairs[i][1]), &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof *a);
        free(a);
        free(b);
    }
}

static void write_file(const char *path, const char *body)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
}

static void test_missing_file(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/nope/vocab.json", tmpdir);
    spm *s = (spm *)0x1;
    lore_err err = {0};
    assert_int_equal(spm_load(path, &s, &err), LORE_ENOTFOUND);
    assert_null(s);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "tools/fetch-model.sh"));
}

static void test_bad_json(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "",
        "not json",
        "[[\"a\", -1.0], ",
        "{\"a\": 1}",
        "[]",
        "[[\"a\"]]",
        "[[\"a\", \"x\"]]",
        "[[1, 2]]",
        "[\"a\", 1]",
        "[[\"\", 0], [\"b\", -1]]", /* the unknown piece must not be empty */
    };
    char path[512];
    snprintf(path, sizeof path, "%s/bad.json", tmpdir);
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        write_file(path, bodies[i]);
        spm *s = (spm *)0x1;
        lore_err err = {0};
        int rc = spm_load(path, &s, &err);
        if (rc != LORE_EINVAL)
            fail_msg("body %zu (%s): rc %d, want LORE_EINVAL", i, bodies[i], rc);
        assert_null(s);
        assert_non_null(strstr(err.msg, path));
    }
    /* A directory is not a vocabulary either. */
    spm *s = NULL;
    lore_err err = {0};
    assert_int_not_equal(spm_load(tmpdir, &s, &err), 0);
    assert_null(s);
}

/* The reference's rules, on a vocabulary small enough to reason about by hand. */
static void test_reference_rules(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.json", tmpdir);
    write_file(path, "[[\"\\ufffd\", 0], [\"<s>\", 0], [\"</s>\", 0], [\"x1\", 0], [\"x2\", 0],"
                     " [\"x3\", 0],"
                     " [\"\\u2581\", -2],"   /* 6 */
                     " [\"a\", -1],"        /* 7 */
                     " [\"b\", -1],"        /* 8 */
                     " [\"ab\", -3],"       /* 9: worse than a + b */
                     " [\"\\u2581ab\", -1]," /* 10 */
                     " [\"c\", -5],"        /* 11 */
                     " [\"c\", -1],"        /* 12: a repeat, the last one wins */
                     " [\":\", null],"      /* 13: null counts as 0 */
                     " [\"cd\", -2],"       /* 14 */
                     " [\"xyz\", -1]]");    /* 15 */
    spm *s = NULL;
    lore_err err = {0};
    assert_int_equal(spm_load(path, &s, &err), 0);
    assert_int_equal(spm_vocab_size(s), 16);
    /* Expected ids are the reference Tokenizer's on this vocabulary. */
    struct {
        const char *text;
        int n;
        int ids[8];
    } cases[] = {
        {"ab", 1, {10}},                    /* "▁ab" beats "▁" "a" "b" */
        {"ba", 3, {6, 8, 7}},               /* "▁" "b" "a" */
        {"c", 2, {6, 12}},                  /* a repeated piece resolves to its last id */
        {"a zzz b", 6, {6, 7, 6, 0, 6, 8}}, /* three unknowns collapse into one 0 */
        {"\xef\xbd\x83", 2, {6, 12}},       /* NFKC: fullwidth c is c */
        {"d", 2, {6, 0}},                   /* "d" starts no piece: unknown, score 0 */
        {"cd", 3, {6, 12, 0}},              /* the free unknown beats "cd" */
        {"xyz", 2, {6, 0}},                 /* unreached position 2 offers a score of 0 */
        {":", 2, {6, 13}},                  /* a null score is 0 */
        {": :", 4, {6, 13, 6, 13}},
        {"a:b", 4, {6, 7, 13, 8}},
        {"  ", 3, {6, 6, 6}},
        {"\t\t a", 4, {6, 0, 6, 7}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int ids[16];
        size_t n = 0;
        assert_int_equal(spm_encode(s, cases[i].text, strlen(cases[i].text), ids, 16, &n, &err),
                         0);
        if ((int)n != cases[i].n || memcmp(ids, cases[i].ids, n * sizeof(int)) != 0) {
            print_ids("want", cases[i].ids, (size_t)cases[i].n);
            print_ids("got", ids, n);
            fail_msg("case %zu: \"%s\"", i, cases[i].text);
        }
    }
    spm_free(s);
}

typedef struct worker {
    size_t from;
    int ok;
} worker;

static void *encode_worker(void *arg)
{
    worker *w = arg;
    w->ok = 1;
    for (int round = 0; round < 3; round++) {
        for (size_t i = w->from; i < ngoldens + w->from; i++) {
            const golden *g = &goldens[i % ngoldens];
            int *ids = malloc((g->n + 2) * sizeof *ids);
            size_t n = 0;
            if (ids == NULL || spm_encode(tok, g->bytes, g->n, ids, g->n + 2, &n, NULL) != 0 ||
                n != g->nids || memcmp(ids, g->ids, n * sizeof *ids) != 0)
                w->ok = 0;
            free(ids);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    enum { NT = 4 };
    pthread_t th[NT];
    worker w[NT];
    for (int t = 0; t < NT; t++) {
        w[t].from = (size_t)t * 37;
        assert_int_equal(pthread_create(&th[t], NULL, encode_worker, &w[t]), 0);
    }
    for (int t = 0; t < NT; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_true(w[t].ok);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_size),
        cmocka_unit_test(test_goldens),
        cmocka_unit_test(test_generated_goldens),
        cmocka_unit_test(test_truncation_reports_full_count),
        cmocka_unit_test(test_empty_and_spaces),
        cmocka_unit_test(test_newer_unicode),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_reference_rules),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
