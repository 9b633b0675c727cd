/* lore compare: per-query deltas of two evaluation runs and a paired randomization test. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void compare_usage(FILE *f)
{
    fputs("usage: lore compare RUN_A RUN_B [options]\n\n"
          "Compares two runs query by query. A run is the output of\n"
          "'lore eval DATASET --per-query' (TSV) or '--per-query --json' (JSON lines).\n"
          "Prints the mean of each run over the queries both hold, the per-query deltas\n"
          "(B - A) with the largest changes, and the two-sided p-value of a paired\n"
          "randomization test (signs of the deltas flipped at random): a small p-value\n"
          "says the difference is unlikely to be chance.\n\n"
          "options:\n"
          "      --metric NAME       ndcg@10 | recall@10 | recall@100 | mrr@10 | map\n"
          "                          (default ndcg@10)\n"
          "      --trials N          randomization trials (default 10000)\n"
          "      --show N            per-query deltas to list (default 10; 0: all)\n"
          "      --json              one JSON object\n"
          "  -h, --help              this help\n", f);
}

typedef struct qv {
    char *id;
    double v;
} qv;

typedef struct run {
    qv *q;
    size_t n, cap;
} run;

static void run_free(run *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->q[i].id);
    free(r->q);
}

static int run_add(run *r, const char *id, double v)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        qv *q = realloc(r->q, cap * sizeof *q);
        if (q == NULL)
            return -1;
        r->q = q;
        r->cap = cap;
    }
    if ((r->q[r->n].id = strdup(id)) == NULL)
        return -1;
    r->q[r->n++].v = v;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const qv *)a)->id, ((const qv *)b)->id);
}

/* Reads a per-query run: TSV with a header naming the metrics (shorter lines, such as the
 * summary lore eval prints after them, are skipped), or JSON lines (lines without "query" are
 * summaries). */
static int run_load(const char *path, const char *metric, run *r)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        cli_error("cannot read run %s: %s", path, strerror(errno));
        return CLI_FAIL;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int col = -1, rc = 0, hn = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (line[0] == '{') {
            cJSON *o = cJSON_Parse(line);
            if (o == NULL) {
                cli_error("%s:%zu: not valid JSON", path, lineno);
                rc = CLI_FAIL;
                break;
            }
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "query");
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, metric);
            if (cJSON_IsString(id)) { /* lines without "query" are summaries */
                if (!cJSON_IsNumber(v)) {
                    cli_error("%s:%zu: no number \"%s\" for query %s", path, lineno, metric,
                              id->valuestring);
                    rc = CLI_FAIL;
                } else if (run_add(r, id->valuestring, v->valuedouble) != 0) {
                    cli_error("out of memory reading %s", path);
                    rc = CLI_FAIL;
                }
            }
            cJSON_Delete(o);
            continue;
        }
        char *fields[32];
        int nf = 0;
        for (char *p = line, *tok; nf < 32 && (tok = strsep(&p, "\t")) != NULL;)
            fields[nf++] = tok;
        if (strcmp(fields[0], "query") == 0) {
            hn = nf;
            for (int i = 1; i < nf; i++)
                if (strcmp(fields[i], metric) == 0)
                    col = i;
            if (col < 0) {
                cli_error("%s:%zu: the header has no column \"%s\"", path, lineno, metric);
                rc = CLI_FAIL;
            }
            continue;
        }
        if (col < 0) {
            cli_error("%s:%zu: not a per-query run (expected a 'query' header line or JSON "
                      "lines from lore eval --per-query)", path, lineno);
            rc = CLI_FAIL;
            break;
        }
        if (nf < hn)
            continue; /* lore eval's summary after the per-query lines */
        char *end = NULL;
        double v = col < nf ? strtod(fields[col], &end) : NAN;
        if (col >= nf || end == fields[col] || *end || !isfinite(v)) {
            cli_error("%s:%zu: column \"%s\" is not a number", path, lineno, metric);
            rc = CLI_FAIL;
        } else if (run_add(r, fields[0], v) != 0) {
            cli_error("out of memory reading %s", path);
            rc = CLI_FAIL;
        }
    }
    free(line);
    fclose(f);
    if (rc == 0 && r->n == 0) {
        cli_error("%s holds no per-query lines (write one with lore eval --per-query)", path);
        rc = CLI_FAIL;
    }
    if (rc == 0) {
        qsort(r->q, r->n, sizeof *r->q, by_id);
        for (size_t i = 1; i < r->n; i++) {
            if (strcmp(r->q[i].id, r->q[i - 1].id) == 0) {
                cli_error("%s: query %s appears twice", path, r->q[i].id);
                rc = CLI_FAIL;
                break;
            }
        }
    }
    return rc;
}

/* splitmix64: a fixed seed makes the p-value reproducible. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

typedef struct delta {
    const char *id;
    double a, b, d;
} delta;

static int by_abs_delta(const void *x, const void *y)
{
    const delta *p = x, *q = y;
    double a = fabs(p->d), b = fabs(q->d);
    if (a != b)
        return a < b ? 1 : -1;
    return strcmp(p->id, q->id);
}

/* Two-sided paired randomization test on the mean delta. */
static double compare_p_value(const double *d, size_t n, size_t trials, uint64_t seed)
{
    if (n == 0)
        return 1.0;
    double obs = 0.0;
    for (size_t i = 0; i < n; i++)
        obs += d[i];
    obs = fabs(obs);
    size_t hits = 0;
    for (size_t t = 0; t < trials; t++) {
        double s = 0.0;
        uint64_t bits = 0;
        for (size_t i = 0; i < n; i++) {
            if (i % 64 == 0)
                bits = next_rand(&seed);
            s += (bits & 1) ? d[i] : -d[i];
            bits >>= 1;
        }
        /* A tolerance so that ties with the observed sum (rounding) count as extreme. */
        if (fabs(s) >= obs - 1e-12)
            hits++;
    }
    return (double)(hits + 1) / (double)(trials + 1);
}

int cmd_compare(int argc, char **argv)
{
    static const struct option opts[] = {
        {"metric", required_argument, NULL, 'M'}, {"trials", required_argument, NULL, 'T'},
        {"show", required_argument, NULL, 's'},   {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *metric = "ndcg@10";
    size_t trials = 10000, show = 10;
    int json = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'M':
            if (strcmp(optarg, "ndcg@10") && strcmp(optarg, "recall@10") &&
                strcmp(optarg, "recall@100") && strcmp(optarg, "mrr@10") &&
                strcmp(optarg, "map")) {
                cli_error("unknown metric '%s': use ndcg@10, recall@10, recall@100, mrr@10 or "
                          "map", optarg);
                return CLI_USAGE;
            }
            metric = optarg;
            break;
        case 'T':
            if (cli_size("--trials", optarg, 100, 10000000, &trials))
                return CLI_USAGE;
            break;
        case 's':
            if (cli_size("--show", optarg, 0, 1000000, &show))
                return CLI_USAGE;
            break;
        case 'j': json = 1; break;
        case 'h': compare_usage(stdout); return CLI_OK;
        default: compare_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc - 2) {
        cli_error("compare needs two runs: RUN_A RUN_B");
        compare_usage(stderr);
        return CLI_USAGE;
    }
    const char *pa = argv[optind], *pb = argv[optind + 1];
    run a = {0}, b = {0};
    int rc = run_load(pa, metric, &a);
    if (rc == 0)
        rc = run_load(pb, metric, &b);
    delta *dl = rc == 0 ? calloc(a.n + 1, sizeof *dl) : NULL;
    double *d = rc == 0 ? calloc(a.n + 1, sizeof *d) : NULL;
    if (rc == 0 && (dl == NULL || d == NULL)) {
        cli_error("out of memory");
        rc = CLI_FAIL;
    }
    size_t n = 0, win = 0, loss = 0;
    double ma = 0, mb = 0;
    for (size_t i = 0, j = 0; rc == 0 && i < a.n && j < b.n;) {
        int c = strcmp(a.q[i].id, b.q[j].id);
        if (c < 0) {
            i++;
        } else if (c > 0) {
            j++;
        } else {
            dl[n] = (delta){a.q[i].id, a.q[i].v, b.q[j].v, b.q[j].v - a.q[i].v};
            d[n] = dl[n].d;
            ma += a.q[i].v;
            mb += b.q[j].v;
            win += d[n] > 0;
            loss += d[n] < 0;
            n++;
            i++;
            j++;
        }
    }
    if (rc == 0 && n == 0) {
        cli_error("%s and %s share no query", pa, pb);
        rc = CLI_FAIL;
    }
    if (rc == 0) {
        double p = compare_p_value(d, n, trials, 0x6c6f7265ULL);
        ma /= (double)n;
        mb /= (double)n;
        qsort(dl, n, sizeof *dl, by_abs_delta);
        size_t lim = show == 0 || show > n ? n : show;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "metric", metric);
            cJSON_AddNumberToObject(o, "queries", (double)n);
            cJSON_AddNumberToObject(o, "only_a", (double)(a.n - n));
            cJSON_AddNumberToObject(o, "only_b", (double)(b.n - n));
            cJSON_AddNumberToObject(o, "mean_a", ma);
            cJSON_AddNumberToObject(o, "mean_b", mb);
            cJSON_AddNumberToObject(o, "delta", mb - ma);
            cJSON_AddNumberToObject(o, "better", (double)win);
            cJSON_AddNumberToObject(o, "worse", (double)loss);
            cJSON_AddNumberToObject(o, "same", (double)(n - win - loss));
            cJSON_AddNumberToObject(o, "p_value", p);
            cJSON_AddNumberToObject(o, "trials", (double)trials);
            cJSON *arr = cJSON_AddArrayToObject(o, "deltas");
            for (size_t i = 0; i < lim; i++) {
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "query", dl[i].id);
                cJSON_AddNumberToObject(x, "a", dl[i].a);
                cJSON_AddNumberToObject(x, "b", dl[i].b);
                cJSON_AddNumberToObject(x, "delta", dl[i].d);
                cJSON_AddItemToArray(arr, x);
            }
            cli_print_json(o);
        } else {
            printf("metric      %s over %zu queries in both runs", metric, n);
            if (a.n != n || b.n != n)
                printf(" (%zu only in A, %zu only in B)", a.n - n, b.n - n);
            printf("\nA           %.4f  %s\nB           %.4f  %s\n", ma, pa, mb, pb);
            printf("B - A       %+.4f  (better %zu, worse %zu, same %zu)\n", mb - ma, win, loss,
                   n - win - loss);
            printf("p-value     %.4f  (paired randomization test, %zu trials, two-sided)\n", p,
                   trials);
            if (lim > 0)
                printf("\nlargest changes:\nquery\tA\tB\tB - A\n");
            for (size_t i = 0; i < lim; i++)
                printf("%s\t%.4f\t%.4f\t%+.4f\n", dl[i].id, dl[i].a, dl[i].b, dl[i].d);
        }
    }
    free(dl);
    free(d);
    run_free(&a);
    run_free(&b);
    return rc;
}
