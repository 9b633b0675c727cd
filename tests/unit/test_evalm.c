/* Unit tests for evalm: metrics against hand-computed values (graded relevance, relevant doc
 * beyond rank 10, nothing relevant retrieved, duplicates, recall@100, ideal cut at 10),
 * queries.jsonl and qrels loaders on fixtures (numeric _id, is_impossible, bad lines, missing
 * file, header, lookup), and TREC run output. Fixtures live in tests/fixtures/evalm. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evalm.h"

/* Hand-computed values are written to 16 digits; the code computes them in double. */
#define TOL 1e-12

/* ---- helpers ---- */

static const char *fixture(const char *name)
{
    static char path[4096];
    const char *root = getenv("LORE_SOURCE_DIR");
    if (root == NULL)
        root = ".";
    snprintf(path, sizeof path, "%s/tests/fixtures/evalm/%s", root, name);
    return path;
}

/* Writes text to a fresh temporary file; returns its path (static buffer). */
static const char *temp_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/lore_test_evalm_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Loads queries from inline text; expects failure and returns the error. */
static lore_err queries_error(const char *text)
{
    const char *path = temp_file(text);
    evalm_queries q;
    lore_err err = {0, ""};
    int rc = evalm_queries_load(path, &q, &err);
    unlink(path);
    assert_int_equal(rc, LORE_EINVAL);
    assert_int_equal(err.code, LORE_EINVAL);
    assert_null(q.items);
    assert_int_equal(q.n, 0);
    return err;
}

/* cmocka's assert_float_equal works in float; these values need double. */
#define assert_close(a, b) assert_close_at((a), (b), #a, __FILE__, __LINE__)

static void assert_close_at(double got, double want, const char *expr, const char *file,
                            int line)
{
    if (!(fabs(got - want) <= TOL)) {
        print_error("%s = %.17g, want %.17g\n", expr, got, want);
        _fail(file, line);
    }
}

static void assert_scores(const evalm_scores *s, double ndcg10, double recall10,
                          double recall100, double mrr10, double map)
{
    assert_close(s->ndcg10, ndcg10);
    assert_close(s->recall10, recall10);
    assert_close(s->recall100, recall100);
    assert_close(s->mrr10, mrr10);
    assert_close(s->map, map);
}

/* ---- metrics ---- */

/* Judged: d1 grade 2, d2 grade 1, d3 grade 0 (judged non-relevant), d4 grade 1 (3 relevant).
 * Ranked: d3, d1, dx, d2, so d1 is at rank 2 and d2 at rank 4; d4 is missed.
 *   DCG@10  = 2/log2(3) + 1/log2(5)              = 1.692536065216308
 *   IDCG@10 = 2/log2(2) + 1/log2(3) + 1/log2(4)  = 3.130929753571457
 *   nDCG@10 = 0.5405857679450102
 *   recall  = 2/3, MRR@10 = 1/2, AP = (1/2 + 2/4) / 3 = 1/3 */
static void test_metrics_graded(void **state)
{
    (void)state;
    evalm_judgement j[] = {{"d1", 2}, {"d2", 1}, {"d3", 0}, {"d4", 1}};
    evalm_qrel qrel = {"q", j, 4};
    const char *ranked[] = {"d3", "d1", "dx", "d2"};
    evalm_scores s;
    evalm_score_query(&qrel, ranked, 4, &s);
    assert_scores(&s, 0.5405857679450102, 2.0 / 3.0, 2.0 / 3.0, 0.5, 1.0 / 3.0);
    assert_int_equal(evalm_qrel_nrel(&qrel), 3);
}

/* The only relevant doc sits at rank 12: nothing counts at 10, but recall@100 and AP do.
 *   nDCG@10 = 0, recall@10 = 0, recall@100 = 1, MRR@10 = 0, AP = 1/12 */
static void test_metrics_relevant_beyond_10(void **state)
{
    (void)state;
    evalm_judgement j[] = {{"rel", 1}, {"n1", 0}};
    evalm_qrel qrel = {"q", j, 2};
    const char *ranked[15];
    char names[15][16];
    for (int i = 0; i < 15; i++) {
        snprintf(names[i], sizeof names[i], "n%d", i + 1);
        ranked[i] = names[i];
    }
    ranked[11] = "rel";
    evalm_scores s;
    evalm_score_query(&qrel, ranked, 15, &s);
    assert_scores(&s, 0.0, 0.0, 1.0, 0.0, 1.0 / 12.0);
}

/* Nothing relevant retrieved, only a judged non-relevant doc and unjudged ones: all 0.
 * Neither a missing qrel nor one with only grade-0 judgements is evaluated: all 0, nrel 0. */
static void test_metrics_none_relevant(void **state)
{
    (void)state;
    evalm_judgement j[] = {{"a", 1}, {"b", 0}};
    evalm_qrel qrel = {"q", j, 2};
    const char *ranked[] = {"b", "zz", "c"};
    evalm_scores s;
    evalm_score_query(&qrel, ranked, 3, &s);
    assert_scores(&s, 0.0, 0.0, 0.0, 0.0, 0.0);

    evalm_score_query(&qrel, NULL, 0, &s);
    assert_scores(&s, 0.0, 0.0, 0.0, 0.0, 0.0);

    evalm_judgement zero[] = {{"b", 0}};
    evalm_qrel unjudged = {"q", zero, 1};
    const char *hit[] = {"b"};
    evalm_score_query(&unjudged, hit, 1, &s);
    assert_scores(&s, 0.0, 0.0, 0.0, 0.0, 0.0);
    assert_int_equal(evalm_qrel_nrel(&unjudged), 0);

    evalm_score_query(NULL, hit, 1, &s);
    assert_scores(&s, 0.0, 0.0, 0.0, 0.0, 0.0);
    assert_int_equal(evalm_qrel_nrel(NULL), 0);
}

/* Ranked x, x, a, x, a, b counts as x, a, b: a at rank 2, b at rank 3, a counted once.
 *   nDCG@10 = (1/log2(3) + 1/log2(4)) / (1 + 1/log2(3)) = 0.6934264036172708
 *   recall = 1, MRR@10 = 1/2, AP = (1/2 + 2/3) / 2 = 0.5833333333333333 */
static void test_metrics_duplicates(void **state)
{
    (void)state;
    evalm_judgement j[] = {{"a", 1}, {"b", 1}};
    evalm_qrel qrel = {"q", j, 2};
    const char *ranked[] = {"x", "x", "a", "x", "a", "b"};
    evalm_scores s;
    evalm_score_query(&qrel, ranked, 6, &s);
    assert_scores(&s, 0.6934264036172708, 1.0, 1.0, 0.5, 0.5833333333333333);
}

/* 150 docs, 4 relevant at ranks 5, 50, 100, 101.
 *   nDCG@10 = (1/log2(6)) / (1 + 1/log2(3) + 1/log2(4) + 1/log2(5)) = 0.1510196182278052
 *   recall@10 = 1/4, recall@100 = 3/4, MRR@10 = 1/5
 *   AP = (1/5 + 2/50 + 3/100 + 4/101) / 4 = 0.0774009900990099
 * Then the same list with every doc repeated right after itself (300 entries, long enough
 * to take the sorting duplicate check): the same scores. */
static void test_metrics_recall100(void **state)
{
    (void)state;
    evalm_judgement j[] = {{"r1", 1}, {"r2", 1}, {"r3", 1}, {"r4", 1}, {"n7", 0}};
    evalm_qrel qrel = {"q", j, 5};
    static char names[150][16];
    const char *ranked[150];
    for (int i = 0; i < 150; i++) {
        snprintf(names[i], sizeof names[i], "n%d", i + 1);
        ranked[i] = names[i];
    }
    ranked[4] = "r1";
    ranked[49] = "r2";
    ranked[99] = "r3";
    ranked[100] = "r4";
    evalm_scores s;
    evalm_score_query(&qrel, ranked, 150, &s);
    assert_scores(&s, 0.1510196182278052, 0.25, 0.75, 0.2, 0.0774009900990099);

    const char *doubled[300];
    for (int i = 0; i < 150; i++) {
        doubled[2 * i] = ranked[i];
        doubled[2 * i + 1] = ranked[i];
    }
    evalm_scores d;
    evalm_score_query(&qrel, doubled, 300, &d);
    assert_scores(&d, s.ndcg10, s.recall10, s.recall100, s.mrr10, s.map);
}

/* Twelve relevant docs (grades 3, 2, then ten 1s) given unsorted; a perfect ranking scores
 * nDCG@10 = 1 because the ideal is cut at 10 too, recall@10 = 10/12, AP = 1. */
static void test_metrics_ideal_cut(void **state)
{
    (void)state;
    evalm_judgement j[12];
    static char names[12][16];
    const char *ranked[12];
    for (int i = 0; i < 12; i++) {
        snprintf(names[i], sizeof names[i], "d%02d", 11 - i); /* descending: not sorted */
        j[i].doc_id = names[i];
        j[i].grade = 1;
    }
    j[5].grade = 3;
    j[9].grade = 2;
    evalm_qrel qrel = {"q", j, 12};
    ranked[0] = names[5];
    ranked[1] = names[9];
    for (int i = 0, k = 2; i < 12; i++)
        if (i != 5 && i != 9)
            ranked[k++] = names[i];
    evalm_scores s;
    evalm_score_query(&qrel, ranked, 12, &s);
    assert_scores(&s, 1.0, 10.0 / 12.0, 1.0, 1.0, 1.0);

    /* Swap the grade-3 and grade-2 docs: DCG = 2 + 3/log2(3), IDCG = 3 + 2/log2(3) + 8 ones. */
    const char *tmp = ranked[0];
    ranked[0] = ranked[1];
    ranked[1] = tmp;
    evalm_score_query(&qrel, ranked, 12, &s);
    double tail = 0.0;
    for (int r = 3; r <= 10; r++)
        tail += 1.0 / log2(r + 1.0);
    double want = (2.0 + 3.0 / log2(3.0) + tail) / (3.0 + 2.0 / log2(3.0) + tail);
    assert_close(s.ndcg10, want);
    assert_true(s.ndcg10 < 1.0);
}

/* ---- queries.jsonl ---- */

static void test_queries_load(void **state)
{
    (void)state;
    evalm_queries q;
    lore_err err = {0, ""};
    assert_int_equal(evalm_queries_load(fixture("queries.jsonl"), &q, &err), 0);
    assert_int_equal(q.n, 5);
    assert_string_equal(q.items[0].id, "q1");
    assert_string_equal(q.items[0].text, "How do I reset my password?");
    assert_int_equal(q.items[0].is_impossible, 0);
    assert_string_equal(q.items[1].id, "42"); /* numeric _id */
    assert_string_equal(q.items[1].text, "Numeric ids are read as strings");
    assert_string_equal(q.items[2].id, "q3");
    assert_int_equal(q.items[2].is_impossible, 1);
    assert_string_equal(q.items[3].id, "q4"); /* flag inside "metadata" */
    assert_int_equal(q.items[3].is_impossible, 1);
    assert_string_equal(q.items[4].id, "q5"); /* CRLF line, escapes */
    assert_string_equal(q.items[4].text, "Caf\xc3\xa9 \"quoted\" text");
    assert_int_equal(q.items[4].is_impossible, 0);
    evalm_queries_free(&q);
    assert_null(q.items);
    assert_int_equal(q.n, 0);
    evalm_queries_free(&q); /* twice is harmless */
}

static void test_queries_bad_line(void **state)
{
    (void)state;
    evalm_queries q;
    lore_err err = {0, ""};
    assert_int_equal(evalm_queries_load(fixture("queries_bad.jsonl"), &q, &err), LORE_EINVAL);
    assert_int_equal(err.code, LORE_EINVAL);
    assert_non_null(strstr(err.msg, "queries_bad.jsonl:3:"));
    assert_non_null(strstr(err.msg, "invalid json"));
    assert_null(q.items);
    assert_int_equal(q.n, 0);
}

static void test_queries_bad_fields(void **state)
{
    (void)state;
    lore_err e;
    e = queries_error("{\"_id\": \"a\", \"text\": \"ok\"}\n{\"text\": \"no id\"}\n");
    assert_non_null(strstr(e.msg, ":2: query has no \"_id\""));
    e = queries_error("{\"_id\": \"a\"}\n");
    assert_non_null(strstr(e.msg, ":1: query a has no \"text\""));
    e = queries_error("{\"_id\": true, \"text\": \"x\"}\n");
    assert_non_null(strstr(e.msg, ":1: \"_id\" is not a string or number"));
    e = queries_error("{\"_id\": 1.5, \"text\": \"x\"}\n");
    assert_non_null(strstr(e.msg, ":1: numeric \"_id\" is not an exact integer"));
    e = queries_error("{\"_id\": \"\", \"text\": \"x\"}\n");
    assert_non_null(strstr(e.msg, ":1: \"_id\" is empty"));
    e = queries_error("{\"_id\": \"a\", \"text\": 7}\n");
    assert_non_null(strstr(e.msg, ":1: \"text\" of query a is not a string"));
    e = queries_error("{\"_id\": \"a\", \"text\": \"x\", \"is_impossible\": \"yes\"}\n");
    assert_non_null(strstr(e.msg, ":1: \"is_impossible\" of query a is not true or false"));
    e = queries_error("\n\n[1, 2]\n");
    assert_non_null(strstr(e.msg, ":3: query is not a json object"));
    e = queries_error("{\"_id\": \"a\", \"text\": \"x\"} {\"_id\": \"b\"}\n");
    assert_non_null(strstr(e.msg, ":1: extra text after the json object"));
}

/* SQuAD-style queries can be long; getline takes any length. */
static void test_queries_long_line(void **state)
{
    (void)state;
    size_t n = 200000;
    char *text = malloc(n + 64);
    assert_non_null(text);
    int head = snprintf(text, 64, "{\"_id\": 7, \"text\": \"");
    memset(text + head, 'w', n);
    strcpy(text + head + n, "\"}\n");
    const char *path = temp_file(text);
    free(text);

    evalm_queries q;
    lore_err err = {0, ""};
    int rc = evalm_queries_load(path, &q, &err);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(q.n, 1);
    assert_string_equal(q.items[0].id, "7");
    assert_int_equal(strlen(q.items[0].text), n);
    evalm_queries_free(&q);
}

static void test_queries_missing_file(void **state)
{
    (void)state;
    evalm_queries q;
    lore_err err = {0, ""};
    const char *path = fixture("no_such_queries.jsonl");
    assert_int_equal(evalm_queries_load(path, &q, &err), LORE_ENOTFOUND);
    assert_non_null(strstr(err.msg, path));
    assert_null(q.items);

    /* An empty file is no error: no queries. */
    const char *empty = temp_file("\n  \n");
    assert_int_equal(evalm_queries_load(empty, &q, &err), 0);
    unlink(empty);
    assert_int_equal(q.n, 0);
    evalm_queries_free(&q);
}

/* ---- qrels ---- */

static void test_qrels_load_and_find(void **state)
{
    (void)state;
    evalm_qrels q;
    lore_err err = {0, ""};
    assert_int_equal(evalm_qrels_load(fixture("qrels.tsv"), &q, &err), 0);
    /* Header skipped; sorted by query id (strcmp: q1 < q10 < q2). */
    assert_int_equal(q.n, 3);
    assert_string_equal(q.items[0].query_id, "q1");
    assert_string_equal(q.items[1].query_id, "q10");
    assert_string_equal(q.items[2].query_id, "q2");

    const evalm_qrel *q1 = evalm_qrels_find(&q, "q1");
    assert_ptr_equal(q1, &q.items[0]);
    assert_int_equal(q1->njudged, 3);
    assert_string_equal(q1->judged[0].doc_id, "d1");
    assert_int_equal(q1->judged[0].grade, 2);
    assert_string_equal(q1->judged[1].doc_id, "d2"); /* grade 0 kept */
    assert_int_equal(q1->judged[1].grade, 0);
    assert_string_equal(q1->judged[2].doc_id, "d3");
    assert_int_equal(q1->judged[2].grade, 1);
    assert_int_equal(evalm_qrel_nrel(q1), 2);

    const evalm_qrel *q10 = evalm_qrels_find(&q, "q10"); /* space separated */
    assert_non_null(q10);
    assert_int_equal(q10->njudged, 1);
    assert_string_equal(q10->judged[0].doc_id, "d9");
    assert_non_null(evalm_qrels_find(&q, "q2"));
    assert_null(evalm_qrels_find(&q, "q3"));
    assert_null(evalm_qrels_find(&q, "q"));
    assert_null(evalm_qrels_find(&q, ""));
    assert_null(evalm_qrels_find(NULL, "q1"));

    /* The loaded qrel scores: d1 (grade 2) at 1, d2 (grade 0) at 2, d3 (grade 1) at 3:
     * nDCG@10 = (2 + 1/log2(4)) / (2 + 1/log2(3)) = 0.9502344167898356. */
    const char *ranked[] = {"d1", "d2", "d3"};
    evalm_scores s;
    evalm_score_query(q1, ranked, 3, &s);
    assert_scores(&s, 0.9502344167898356, 1.0, 1.0, 1.0, (1.0 + 2.0 / 3.0) / 2.0);

    evalm_qrels_free(&q);
    assert_null(q.items);
    assert_int_equal(q.n, 0);
}

static void test_qrels_trec_format(void **state)
{
    (void)state;
    const char *path = temp_file("7 0 docA 1\n7 0 docB 0\n3 Q0 docC 2\n");
    evalm_qrels q;
    lore_err err = {0, ""};
    int rc = evalm_qrels_load(path, &q, &err);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(q.n, 2);
    const evalm_qrel *e = evalm_qrels_find(&q, "7");
    assert_non_null(e);
    assert_int_equal(e->njudged, 2);
    assert_string_equal(e->judged[0].doc_id, "docA");
    assert_string_equal(evalm_qrels_find(&q, "3")->judged[0].doc_id, "docC");
    evalm_qrels_free(&q);
}

static void test_qrels_errors(void **state)
{
    (void)state;
    evalm_qrels q;
    lore_err err = {0, ""};
    assert_int_equal(evalm_qrels_load(fixture("qrels_bad.tsv"), &q, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "qrels_bad.tsv:3: score \"high\" is not an integer"));
    assert_null(q.items);
    assert_int_equal(q.n, 0);

    const char *path = temp_file("query-id\tcorpus-id\tscore\nq1\td1\n");
    assert_int_equal(evalm_qrels_load(path, &q, &err), LORE_EINVAL);
    unlink(path);
    assert_non_null(strstr(err.msg, ":2: expected 3 fields"));

    path = temp_file("q1\td1\t1\nq2\td1\t1\nq1\td1\t2\n");
    assert_int_equal(evalm_qrels_load(path, &q, &err), LORE_EINVAL);
    unlink(path);
    assert_non_null(strstr(err.msg, ":3: query q1 judges doc d1 again (first at line 1)"));

    path = temp_file("q1\td1\t99999999999\n");
    assert_int_equal(evalm_qrels_load(path, &q, &err), LORE_EINVAL);
    unlink(path);
    assert_non_null(strstr(err.msg, ":1: score"));

    const char *missing = fixture("no_such_qrels.tsv");
    assert_int_equal(evalm_qrels_load(missing, &q, &err), LORE_ENOTFOUND);
    assert_non_null(strstr(err.msg, missing));
    assert_null(q.items);
}

/* ---- TREC run ---- */

static char *run_text(const char *qid, const char *const *ranked, const double *scores,
                      size_t n, const char *tag, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    lore_err err = {0, ""};
    *rc = evalm_write_run(f, qid, ranked, scores, n, tag, &err);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_write_run(void **state)
{
    (void)state;
    int rc;
    const char *ranked[] = {"d1", "d2", "d1", "d3"};
    const double scores[] = {1.5, 0.25, 0.2, 0.1};
    char *out = run_text("q7", ranked, scores, 4, "bm25", &rc);
    assert_int_equal(rc, 0);
    /* The repeated d1 is skipped and takes no rank; 0.1 prints as 0.1, not 0.1000...01. */
    assert_string_equal(out, "q7 Q0 d1 1 1.5 bm25\n"
                             "q7 Q0 d2 2 0.25 bm25\n"
                             "q7 Q0 d3 3 0.1 bm25\n");
    free(out);

    /* No scores: descending integers keep the order through trec_eval's re-sort; tag lore. */
    out = run_text("q8", ranked + 1, NULL, 3, NULL, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "q8 Q0 d2 1 3 lore\n"
                             "q8 Q0 d1 2 2 lore\n"
                             "q8 Q0 d3 3 1 lore\n");
    free(out);

    /* A score that needs 17 digits is printed exactly. */
    const double close[] = {0.30000000000000004, 0.3};
    out = run_text("q9", ranked, close, 2, "t", &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "q9 Q0 d1 1 0.30000000000000004 t\n"
                             "q9 Q0 d2 2 0.3 t\n");
    free(out);

    out = run_text("q0", NULL, NULL, 0, "t", &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
    free(out);
}

static void test_write_run_rejects(void **state)
{
    (void)state;
    int rc;
    const char *spaced[] = {"d1", "bad id"};
    char *out = run_text("q1", spaced, NULL, 2, "t", &rc);
    assert_int_equal(rc, LORE_EINVAL);
    assert_string_equal(out, ""); /* nothing written, not even d1 */
    free(out);

    const char *ok[] = {"d1", "d2"};
    const double bad[] = {1.0, NAN};
    out = run_text("q1", ok, bad, 2, "t", &rc);
    assert_int_equal(rc, LORE_EINVAL);
    assert_string_equal(out, "");
    free(out);

    out = run_text("q 1", ok, NULL, 2, "t", &rc);
    assert_int_equal(rc, LORE_EINVAL);
    free(out);
    out = run_text("q1", ok, NULL, 2, "my tag", &rc);
    assert_int_equal(rc, LORE_EINVAL);
    free(out);

    lore_err err = {0, ""};
    assert_int_equal(evalm_write_run(NULL, "q1", ok, NULL, 2, "t", &err), LORE_EINVAL);

    /* A stream opened read-only fails to write: LORE_EIO. */
    const char *path = temp_file("");
    FILE *ro = fopen(path, "r");
    assert_non_null(ro);
    assert_int_equal(evalm_write_run(ro, "q1", ok, NULL, 2, "t", &err), LORE_EIO);
    assert_non_null(strstr(err.msg, "write run for query q1"));
    fclose(ro);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_graded),
        cmocka_unit_test(test_metrics_relevant_beyond_10),
        cmocka_unit_test(test_metrics_none_relevant),
        cmocka_unit_test(test_metrics_duplicates),
        cmocka_unit_test(test_metrics_recall100),
        cmocka_unit_test(test_metrics_ideal_cut),
        cmocka_unit_test(test_queries_load),
        cmocka_unit_test(test_queries_bad_line),
        cmocka_unit_test(test_queries_bad_fields),
        cmocka_unit_test(test_queries_long_line),
        cmocka_unit_test(test_queries_missing_file),
        cmocka_unit_test(test_qrels_load_and_find),
        cmocka_unit_test(test_qrels_trec_format),
        cmocka_unit_test(test_qrels_errors),
        cmocka_unit_test(test_write_run),
        cmocka_unit_test(test_write_run_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
