/* evalm: BEIR queries and qrels loaders, IR metrics, TREC run files. See evalm.h. */
#include "evalm.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Cut-offs of the metrics in evalm_scores. */
#define EVALM_NDCG_K 10
#define EVALM_MRR_K 10
#define EVALM_RECALL_SMALL 10
#define EVALM_RECALL_LARGE 100

/* Ranked lists up to this long are checked for duplicates pairwise; longer ones are sorted. */
#define EVALM_DUP_SCAN_MAX 32

/* ---------------------------------------------------------------------------------------- */
/* line reading */

/* A file read line by line with getline, so a line may be of any length. */
typedef struct line_reader {
    FILE *f;
    const char *path;
    char *buf;
    size_t cap;
    unsigned long lineno;
} line_reader;

static int reader_open(line_reader *r, const char *path, const char *what, lore_err *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    if (path == NULL)
        return lore_errf(err, LORE_EINVAL, "no %s file given", what);
    r->f = fopen(path, "r");
    if (r->f == NULL) {
        int e = errno;
        return lore_errf(err, e == ENOENT ? LORE_ENOTFOUND : LORE_EIO, "open %s file %s: %s",
                         what, path, strerror(e));
    }
    return 0;
}

static void reader_close(line_reader *r)
{
    if (r->f != NULL)
        fclose(r->f);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Reads the next non-blank line, trimmed of surrounding white space (and of a UTF-8 byte
 * order mark on line 1). Returns 0 with *line set, 0 with *line NULL at end of file, or an
 * error code. The line stays valid, and writable, until the next call. */
static int reader_next(line_reader *r, char **line, size_t *len, lore_err *err)
{
    *line = NULL;
    *len = 0;
    for (;;) {
        errno = 0;
        ssize_t got = getline(&r->buf, &r->cap, r->f);
        if (got < 0) {
            if (ferror(r->f))
                return lore_errf(err, errno == ENOMEM ? LORE_ENOMEM : LORE_EIO,
                                 "read %s after line %lu: %s", r->path, r->lineno,
                                 strerror(errno ? errno : EIO));
            return 0;
        }
        r->lineno++;
        char *s = r->buf;
        size_t n = (size_t)got;
        if (memchr(s, '\0', n) != NULL)
            return lore_errf(err, LORE_EINVAL, "%s:%lu: line contains a nul byte", r->path,
                             r->lineno);
        if (r->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
            s += 3;
            n -= 3;
        }
        while (n > 0 && is_space(s[n - 1]))
            n--;
        while (n > 0 && is_space(*s)) {
            s++;
            n--;
        }
        if (n == 0)
            continue;
        s[n] = '\0';
        *line = s;
        *len = n;
        return 0;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* queries.jsonl */

/* Largest magnitude at which every integer is exact in a double (2^53). */
#define EVALM_EXACT_INT 9007199254740992.0

/* Fills q from one parsed JSON object; q's strings are allocated only on success. */
static int query_from_json(const cJSON *obj, evalm_query *q, const char *path,
                           unsigned long lineno, lore_err *err)
{
    if (!cJSON_IsObject(obj))
        return lore_errf(err, LORE_EINVAL, "%s:%lu: query is not a json object", path, lineno);

    char numbuf[32];
    const char *id;
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(obj, "_id");
    if (jid == NULL)
        return lore_errf(err, LORE_EINVAL, "%s:%lu: query has no \"_id\"", path, lineno);
    if (cJSON_IsString(jid)) {
        id = jid->valuestring;
    } else if (cJSON_IsNumber(jid)) {
        /* BEIR reads ids as strings; a numeric id only makes sense as an exact integer, and
         * printing it as one gives the same string the qrels file uses. */
        double v = jid->valuedouble;
        if (!isfinite(v) || v != floor(v) || fabs(v) > EVALM_EXACT_INT)
            return lore_errf(err, LORE_EINVAL, "%s:%lu: numeric \"_id\" is not an exact integer",
                             path, lineno);
        snprintf(numbuf, sizeof numbuf, "%.0f", v + 0.0);
        id = numbuf;
    } else {
        return lore_errf(err, LORE_EINVAL, "%s:%lu: \"_id\" is not a string or number", path,
                         lineno);
    }
    if (id[0] == '\0')
        return lore_errf(err, LORE_EINVAL, "%s:%lu: \"_id\" is empty", path, lineno);

    const cJSON *jtext = cJSON_GetObjectItemCaseSensitive(obj, "text");
    if (jtext == NULL)
        return lore_errf(err, LORE_EINVAL, "%s:%lu: query %s has no \"text\"", path, lineno, id);
    if (!cJSON_IsString(jtext))
        return lore_errf(err, LORE_EINVAL, "%s:%lu: \"text\" of query %s is not a string", path,
                         lineno, id);

    /* The top-level flag wins; a "metadata" object is where some BEIR exports keep it. */
    const cJSON *jimp = cJSON_GetObjectItemCaseSensitive(obj, "is_impossible");
    if (jimp == NULL) {
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        if (cJSON_IsObject(meta))
            jimp = cJSON_GetObjectItemCaseSensitive(meta, "is_impossible");
    }
    if (jimp != NULL && !cJSON_IsBool(jimp))
        return lore_errf(err, LORE_EINVAL,
                         "%s:%lu: \"is_impossible\" of query %s is not true or false", path,
                         lineno, id);

    char *id_copy = strdup(id);
    char *text_copy = strdup(jtext->valuestring);
    if (id_copy == NULL || text_copy == NULL) {
        free(id_copy);
        free(text_copy);
        return lore_errf(err, LORE_ENOMEM, "%s:%lu: out of memory", path, lineno);
    }
    q->id = id_copy;
    q->text = text_copy;
    q->is_impossible = cJSON_IsTrue(jimp) ? 1 : 0;
    return 0;
}

static int parse_query_line(const char *line, size_t len, evalm_query *q, const char *path,
                            unsigned long lineno, lore_err *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (root == NULL) {
        long col = (end != NULL && end >= line) ? (long)(end - line) + 1 : 0;
        return lore_errf(err, LORE_EINVAL, "%s:%lu: invalid json near column %ld", path, lineno,
                         col);
    }
    /* The line was trimmed, so anything after the value is junk, not white space. */
    if (end != NULL && end < line + len) {
        cJSON_Delete(root);
        return lore_errf(err, LORE_EINVAL,
                         "%s:%lu: extra text after the json object at column %ld", path, lineno,
                         (long)(end - line) + 1);
    }
    int rc = query_from_json(root, q, path, lineno, err);
    cJSON_Delete(root);
    return rc;
}

void evalm_queries_free(evalm_queries *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->n; i++) {
        free(q->items[i].id);
        free(q->items[i].text);
    }
    free(q->items);
    q->items = NULL;
    q->n = 0;
}

int evalm_queries_load(const char *path, evalm_queries *out, lore_err *err)
{
    assert(out != NULL);
    out->items = NULL;
    out->n = 0;

    line_reader r;
    int rc = reader_open(&r, path, "queries", err);
    if (rc != 0)
        return rc;

    evalm_queries got = {NULL, 0};
    size_t cap = 0;
    for (;;) {
        char *line;
        size_t len;
        rc = reader_next(&r, &line, &len, err);
        if (rc != 0 || line == NULL)
            break;
        if (got.n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            evalm_query *p = NULL;
            if (ncap <= SIZE_MAX / sizeof *p)
                p = realloc(got.items, ncap * sizeof *p);
            if (p == NULL) {
                rc = lore_errf(err, LORE_ENOMEM, "%s:%lu: out of memory", path, r.lineno);
                break;
            }
            got.items = p;
            cap = ncap;
        }
        rc = parse_query_line(line, len, &got.items[got.n], path, r.lineno, err);
        if (rc != 0)
            break;
        got.n++;
    }
    reader_close(&r);
    if (rc != 0) {
        evalm_queries_free(&got);
        return rc;
    }
    *out = got;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* qrels */

/* One qrels line before grouping. */
typedef struct qrel_row {
    char *qid;
    char *doc;
    int grade;
    unsigned long lineno;
} qrel_row;

static int cmp_row(const void *a, const void *b)
{
    const qrel_row *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    if (c == 0)
        c = strcmp(x->doc, y->doc);
    if (c == 0)
        c = (x->lineno > y->lineno) - (x->lineno < y->lineno);
    return c;
}

/* Splits line in place at white space; returns the number of fields (may exceed max, in
 * which case only the first max are stored). */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        while (*p != '\0' && is_space(*p))
            p++;
        if (*p == '\0')
            return n;
        if (n < max)
            fields[n] = p;
        n++;
        while (*p != '\0' && !is_space(*p))
            p++;
        if (*p != '\0')
            *p++ = '\0';
    }
}

static int parse_grade(const char *s, int *grade)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < INT_MIN || v > INT_MAX)
        return -1;
    *grade = (int)v;
    return 0;
}

static int parse_qrel_line(char *line, qrel_row *row, const char *path, unsigned long lineno,
                           lore_err *err)
{
    char *f[4];
    size_t n = split_fields(line, f, 4);
    const char *qid, *doc, *grade;
    if (n == 3) {
        qid = f[0];
        doc = f[1];
        grade = f[2];
    } else if (n == 4) { /* TREC qrels: qid iteration docid grade */
        qid = f[0];
        doc = f[2];
        grade = f[3];
    } else {
        return lore_errf(err, LORE_EINVAL,
                         "%s:%lu: expected 3 fields (query-id corpus-id score), got %zu", path,
                         lineno, n);
    }
    if (parse_grade(grade, &row->grade) != 0)
        return lore_errf(err, LORE_EINVAL, "%s:%lu: score \"%s\" is not an integer", path,
                         lineno, grade);
    row->qid = strdup(qid);
    row->doc = strdup(doc);
    if (row->qid == NULL || row->doc == NULL) {
        free(row->qid);
        free(row->doc);
        return lore_errf(err, LORE_ENOMEM, "%s:%lu: out of memory", path, lineno);
    }
    row->lineno = lineno;
    return 0;
}

static void rows_free(qrel_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].qid);
        free(rows[i].doc);
    }
    free(rows);
}

void evalm_qrels_free(evalm_qrels *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->n; i++) {
        evalm_qrel *e = &q->items[i];
        for (size_t j = 0; j < e->njudged; j++)
            free(e->judged[j].doc_id);
        free(e->judged);
        free(e->query_id);
    }
    free(q->items);
    q->items = NULL;
    q->n = 0;
}

/* Groups rows sorted by (qid, doc) into out, moving their strings; rows' strings that move
 * are set to NULL so the caller can free the rest. */
static int group_rows(qrel_row *rows, size_t nrows, evalm_qrels *out, const char *path,
                      lore_err *err)
{
    size_t nq = 0;
    for (size_t i = 0; i < nrows; i++)
        if (i == 0 || strcmp(rows[i].qid, rows[i - 1].qid) != 0)
            nq++;
    out->items = NULL;
    out->n = 0;
    if (nq == 0)
        return 0;
    out->items = calloc(nq, sizeof *out->items);
    if (out->items == NULL)
        return lore_errf(err, LORE_ENOMEM, "%s: out of memory", path);

    size_t i = 0;
    while (i < nrows) {
        size_t j = i + 1;
        while (j < nrows && strcmp(rows[j].qid, rows[i].qid) == 0)
            j++;
        evalm_qrel *e = &out->items[out->n];
        e->judged = malloc((j - i) * sizeof *e->judged);
        if (e->judged == NULL) {
            evalm_qrels_free(out);
            return lore_errf(err, LORE_ENOMEM, "%s: out of memory", path);
        }
        out->n++;
        e->query_id = rows[i].qid;
        rows[i].qid = NULL;
        for (size_t k = i; k < j; k++) {
            e->judged[e->njudged].doc_id = rows[k].doc;
            e->judged[e->njudged].grade = rows[k].grade;
            e->njudged++;
            rows[k].doc = NULL;
        }
        i = j;
    }
    assert(out->n == nq);
    return 0;
}

int evalm_qrels_load(const char *path, evalm_qrels *out, lore_err *err)
{
    assert(out != NULL);
    out->items = NULL;
    out->n = 0;

    line_reader r;
    int rc = reader_open(&r, path, "qrels", err);
    if (rc != 0)
        return rc;

    qrel_row *rows = NULL;
    size_t nrows = 0, cap = 0;
    int first = 1;
    for (;;) {
        char *line;
        size_t len;
        rc = reader_next(&r, &line, &len, err);
        if (rc != 0 || line == NULL)
            break;
        /* BEIR files start with "query-id\tcorpus-id\tscore"; TREC files have no header. */
        if (first && strncmp(line, "query-id", 8) == 0) {
            first = 0;
            continue;
        }
        first = 0;
        if (nrows == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            qrel_row *p = NULL;
            if (ncap <= SIZE_MAX / sizeof *p)
                p = realloc(rows, ncap * sizeof *p);
            if (p == NULL) {
                rc = lore_errf(err, LORE_ENOMEM, "%s:%lu: out of memory", path, r.lineno);
                break;
            }
            rows = p;
            cap = ncap;
        }
        rc = parse_qrel_line(line, &rows[nrows], path, r.lineno, err);
        if (rc != 0)
            break;
        nrows++;
    }
    reader_close(&r);

    if (rc == 0 && nrows > 1) {
        qsort(rows, nrows, sizeof *rows, cmp_row);
        /* Sorting put any repeated (query, doc) pair side by side, earliest line first. */
        for (size_t i = 1; i < nrows && rc == 0; i++)
            if (strcmp(rows[i].qid, rows[i - 1].qid) == 0 &&
                strcmp(rows[i].doc, rows[i - 1].doc) == 0)
                rc = lore_errf(err, LORE_EINVAL,
                               "%s:%lu: query %s judges doc %s again (first at line %lu)", path,
                               rows[i].lineno, rows[i].qid, rows[i].doc, rows[i - 1].lineno);
    }
    if (rc == 0)
        rc = group_rows(rows, nrows, out, path, err);
    rows_free(rows, nrows);
    return rc;
}

static int cmp_qrel_key(const void *key, const void *item)
{
    return strcmp((const char *)key, ((const evalm_qrel *)item)->query_id);
}

const evalm_qrel *evalm_qrels_find(const evalm_qrels *q, const char *query_id)
{
    if (q == NULL || query_id == NULL || q->n == 0)
        return NULL;
    return bsearch(query_id, q->items, q->n, sizeof *q->items, cmp_qrel_key);
}

size_t evalm_qrel_nrel(const evalm_qrel *qrel)
{
    size_t n = 0;
    if (qrel == NULL)
        return 0;
    for (size_t i = 0; i < qrel->njudged; i++)
        if (qrel->judged[i].grade > 0)
            n++;
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* metrics */

typedef struct ranked_ref {
    const char *id;
    size_t pos;
} ranked_ref;

static int cmp_ranked_ref(const void *a, const void *b)
{
    const ranked_ref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c == 0)
        c = (x->pos > y->pos) - (x->pos < y->pos);
    return c;
}

/* Marks every id that repeats an earlier one: returns n flags (1 = repeat) for the caller to
 * free, or NULL when the list is short or memory ran out; then dup_at scans instead. */
static unsigned char *dup_marks(const char *const *ranked, size_t n)
{
    if (n <= EVALM_DUP_SCAN_MAX || n > SIZE_MAX / sizeof(ranked_ref))
        return NULL;
    ranked_ref *refs = malloc(n * sizeof *refs);
    unsigned char *marks = calloc(n, 1);
    if (refs == NULL || marks == NULL) {
        free(refs);
        free(marks);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        refs[i].id = ranked[i];
        refs[i].pos = i;
    }
    qsort(refs, n, sizeof *refs, cmp_ranked_ref);
    for (size_t i = 1; i < n; i++)
        if (strcmp(refs[i].id, refs[i - 1].id) == 0)
            marks[refs[i].pos] = 1;
    free(refs);
    return marks;
}

static int dup_at(const char *const *ranked, const unsigned char *marks, size_t i)
{
    if (marks != NULL)
        return marks[i];
    for (size_t j = 0; j < i; j++)
        if (strcmp(ranked[j], ranked[i]) == 0)
            return 1;
    return 0;
}

static int judged_sorted(const evalm_qrel *qrel)
{
    for (size_t i = 1; i < qrel->njudged; i++)
        if (strcmp(qrel->judged[i - 1].doc_id, qrel->judged[i].doc_id) > 0)
            return 0;
    return 1;
}

static int cmp_judgement_key(const void *key, const void *item)
{
    return strcmp((const char *)key, ((const evalm_judgement *)item)->doc_id);
}

/* The grade of doc, 0 when unjudged. */
static int grade_of(const evalm_qrel *qrel, int sorted, const char *doc)
{
    if (sorted) {
        const evalm_judgement *j =
            bsearch(doc, qrel->judged, qrel->njudged, sizeof *qrel->judged, cmp_judgement_key);
        return j != NULL ? j->grade : 0;
    }
    for (size_t i = 0; i < qrel->njudged; i++)
        if (strcmp(qrel->judged[i].doc_id, doc) == 0)
            return qrel->judged[i].grade;
    return 0;
}

/* DCG of the best k positive grades: the ideal ranking's DCG@k. */
static double ideal_dcg(const evalm_qrel *qrel, size_t k)
{
    int best[EVALM_NDCG_K];
    size_t nbest = 0;
    assert(k <= EVALM_NDCG_K);
    for (size_t i = 0; i < qrel->njudged; i++) {
        int g = qrel->judged[i].grade;
        if (g <= 0)
            continue;
        /* Insert g into best[], kept in descending order and at most k long. */
        size_t at = nbest;
        while (at > 0 && best[at - 1] < g)
            at--;
        if (at >= k)
            continue;
        size_t last = nbest < k ? nbest : k - 1;
        for (size_t m = last; m > at; m--)
            best[m] = best[m - 1];
        best[at] = g;
        if (nbest < k)
            nbest++;
    }
    double dcg = 0.0;
    for (size_t i = 0; i < nbest; i++)
        dcg += (double)best[i] / log2((double)(i + 2));
    return dcg;
}

void evalm_score_query(const evalm_qrel *qrel, const char *const *ranked, size_t nranked,
                       evalm_scores *out)
{
    assert(out != NULL);
    memset(out, 0, sizeof *out);
    size_t nrel = evalm_qrel_nrel(qrel);
    if (nrel == 0)
        return;
    assert(ranked != NULL || nranked == 0);

    int sorted = judged_sorted(qrel);
    unsigned char *marks = dup_marks(ranked, nranked);
    double dcg = 0.0, ap_sum = 0.0;
    size_t rank = 0, found = 0, found10 = 0, found100 = 0;
    for (size_t i = 0; i < nranked; i++) {
        assert(ranked[i] != NULL);
        if (dup_at(ranked, marks, i))
            continue;
        rank++;
        int g = grade_of(qrel, sorted, ranked[i]);
        if (g <= 0)
            continue;
        found++;
        if (rank <= EVALM_NDCG_K)
            dcg += (double)g / log2((double)(rank + 1));
        if (rank <= EVALM_MRR_K && out->mrr10 == 0.0)
            out->mrr10 = 1.0 / (double)rank;
        if (rank <= EVALM_RECALL_SMALL)
            found10++;
        if (rank <= EVALM_RECALL_LARGE)
            found100++;
        ap_sum += (double)found / (double)rank; /* precision at this relevant doc */
    }
    free(marks);

    double idcg = ideal_dcg(qrel, EVALM_NDCG_K);
    assert(idcg > 0.0); /* nrel > 0 means at least one positive grade */
    out->ndcg10 = dcg / idcg;
    out->recall10 = (double)found10 / (double)nrel;
    out->recall100 = (double)found100 / (double)nrel;
    out->map = ap_sum / (double)nrel;
}

/* ---------------------------------------------------------------------------------------- */
/* TREC run files */

/* A run-file field: non-empty, no white space (it would split the line into more fields). */
static int is_token(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (is_space(*s))
            return 0;
    return 1;
}

/* Formats v with the fewest digits (15 to 17) that read back as exactly v, so trec_eval sees
 * the same order the engine produced. */
static void format_score(char *buf, size_t size, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

int evalm_write_run(FILE *f, const char *query_id, const char *const *ranked,
                    const double *scores, size_t n, const char *tag, lore_err *err)
{
    if (f == NULL)
        return lore_errf(err, LORE_EINVAL, "write run: no output file");
    if (tag == NULL)
        tag = "lore";
    if (!is_token(query_id))
        return lore_errf(err, LORE_EINVAL,
                         "write run: query id \"%s\" is empty or has white space",
                         query_id != NULL ? query_id : "");
    if (!is_token(tag))
        return lore_errf(err, LORE_EINVAL,
                         "write run for query %s: tag \"%s\" is empty or has white space",
                         query_id, tag);
    if (n > 0 && ranked == NULL)
        return lore_errf(err, LORE_EINVAL, "write run for query %s: no doc ids", query_id);
    /* Check everything first so a bad input writes nothing. */
    for (size_t i = 0; i < n; i++) {
        if (!is_token(ranked[i]))
            return lore_errf(err, LORE_EINVAL,
                             "write run for query %s: doc id \"%s\" at %zu is empty or has "
                             "white space",
                             query_id, ranked[i] != NULL ? ranked[i] : "", i + 1);
        if (scores != NULL && !isfinite(scores[i]))
            return lore_errf(err, LORE_EINVAL,
                             "write run for query %s: score of doc %s is not finite", query_id,
                             ranked[i]);
    }

    unsigned char *marks = dup_marks(ranked, n);
    size_t rank = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (dup_at(ranked, marks, i))
            continue;
        rank++;
        char sbuf[64];
        format_score(sbuf, sizeof sbuf, scores != NULL ? scores[i] : (double)(n - rank + 1));
        if (fprintf(f, "%s Q0 %s %zu %s %s\n", query_id, ranked[i], rank, sbuf, tag) < 0) {
            rc = lore_errf(err, LORE_EIO, "write run for query %s: %s", query_id,
                           strerror(errno ? errno : EIO));
            break;
        }
    }
    free(marks);
    return rc;
}
