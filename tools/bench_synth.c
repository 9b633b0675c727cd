/* bench_synth: a deterministic synthetic corpus for `lore bench`'s scale-up (see
 * bench_internal.h).
 *
 * Why recombine sentences rather than invent words: query cost in FTS5 follows how many rows
 * a query's terms match, so the scale-up must keep the real corpus's term distribution
 * (Zipf head and long tail) and sentence-level co-occurrence; recombined sentences do, and
 * the occasional word swap keeps articles from being copies of each other. */
#include "bench_internal.h"

#include "article.h"
#include "parse.h"
#include "sbuf.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SYNTH_FILE_BYTES (16u * 1024u * 1024u)

typedef struct span {
    const char *p;
    size_t n;
} span;

typedef struct span_list {
    span *v;
    size_t n, cap;
} span_list;

typedef struct pool {
    char **texts; /* owned copies of titles and texts that the spans point into */
    size_t ntexts, captexts;
    span_list titles, sentences, words;
    size_t *doc_sentences; /* sentence count per source document */
    size_t ndocs, capdocs;
} pool;

/* splitmix64: small, fast, and the same on every machine. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static size_t rng_below(uint64_t *s, size_t n)
{
    return n ? (size_t)(rng_next(s) % n) : 0;
}

static int span_push(span_list *l, const char *p, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        span *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return LORE_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].p = p;
    l->v[l->n].n = n;
    l->n++;
    return 0;
}

static char *pool_keep(pool *pl, const char *s)
{
    if (pl->ntexts == pl->captexts) {
        size_t cap = pl->captexts ? pl->captexts * 2 : 1024;
        char **v = realloc(pl->texts, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        pl->texts = v;
        pl->captexts = cap;
    }
    char *copy = strdup(s);
    if (copy)
        pl->texts[pl->ntexts++] = copy;
    return copy;
}

static void pool_free(pool *pl)
{
    for (size_t i = 0; i < pl->ntexts; i++)
        free(pl->texts[i]);
    free(pl->texts);
    free(pl->titles.v);
    free(pl->sentences.v);
    free(pl->words.v);
    free(pl->doc_sentences);
}

static int is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* Splits text into sentences (cut after . ! ? followed by white space) and words (runs of
 * ASCII letters of 4 or more, so swaps exchange content words, not "the"). Returns the
 * number of sentences through *nsent. */
static int pool_add_text(pool *pl, const char *text, size_t *nsent)
{
    *nsent = 0;
    size_t len = strlen(text), start = 0;
    for (size_t i = 0; i <= len; i++) {
        int end = i == len ||
                  ((text[i] == '.' || text[i] == '!' || text[i] == '?') &&
                   (i + 1 == len || is_space(text[i + 1])));
        if (!end)
            continue;
        size_t e = i < len ? i + 1 : len;
        while (start < e && is_space(text[start]))
            start++;
        if (e > start + 1) {
            if (span_push(&pl->sentences, text + start, e - start) != 0)
                return LORE_ENOMEM;
            (*nsent)++;
        }
        start = e;
    }
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && ((text[j] >= 'a' && text[j] <= 'z') || (text[j] >= 'A' && text[j] <= 'Z')))
            j++;
        if (j - i >= 4 && span_push(&pl->words, text + i, j - i) != 0)
            return LORE_ENOMEM;
        i = j > i ? j : i + 1;
    }
    return 0;
}

static int pool_load(const char *path, pool *pl, lore_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return lore_errf(err, LORE_EIO, "cannot read %s", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        cJSON *o = cJSON_ParseWithLength(line, (size_t)got);
        if (o == NULL)
            continue; /* a bad line costs the scale-up nothing; the indexer reports it */
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "title");
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, "text");
        if (cJSON_IsString(t) && t->valuestring[0]) {
            char *k = pool_keep(pl, t->valuestring);
            rc = k == NULL || span_push(&pl->titles, k, strlen(k)) != 0 ? LORE_ENOMEM : 0;
        }
        if (rc == 0 && cJSON_IsString(x) && x->valuestring[0]) {
            char *k = pool_keep(pl, x->valuestring);
            size_t ns = 0;
            rc = k == NULL ? LORE_ENOMEM : pool_add_text(pl, k, &ns);
            if (rc == 0 && ns > 0) {
                if (pl->ndocs == pl->capdocs) {
                    size_t c2 = pl->capdocs ? pl->capdocs * 2 : 1024;
                    size_t *v = realloc(pl->doc_sentences, c2 * sizeof *v);
                    if (v == NULL)
                        rc = LORE_ENOMEM;
                    else {
                        pl->doc_sentences = v;
                        pl->capdocs = c2;
                    }
                }
                if (rc == 0)
                    pl->doc_sentences[pl->ndocs++] = ns;
            }
        }
        cJSON_Delete(o);
    }
    int bad_read = ferror(f);
    free(line);
    fclose(f);
    if (rc != 0)
        return lore_errf(err, rc, "out of memory reading %s", path);
    if (bad_read)
        return lore_errf(err, LORE_EIO, "reading %s failed", path);
    if (pl->ndocs == 0 || pl->words.n == 0)
        return lore_errf(err, LORE_EINVAL, "%s has no text to build a synthetic corpus from",
                         path);
    return 0;
}

/* Appends sentence s, with one word swapped for a random corpus word one time in four. */
static int add_sentence(sbuf *b, const pool *pl, span s, uint64_t *rng)
{
    if (rng_below(rng, 4) != 0)
        return sbuf_add(b, s.p, s.n);
    /* Find the words of 4+ letters in s and pick one. */
    size_t starts[256], lens[256], nw = 0;
    for (size_t i = 0; i < s.n && nw < 256;) {
        size_t j = i;
        while (j < s.n && ((s.p[j] >= 'a' && s.p[j] <= 'z') || (s.p[j] >= 'A' && s.p[j] <= 'Z')))
            j++;
        if (j - i >= 4) {
            starts[nw] = i;
            lens[nw++] = j - i;
        }
        i = j > i ? j : i + 1;
    }
    if (nw == 0)
        return sbuf_add(b, s.p, s.n);
    size_t w = rng_below(rng, nw);
    span r = pl->words.v[rng_below(rng, pl->words.n)];
    int rc = sbuf_add(b, s.p, starts[w]);
    rc |= sbuf_add(b, r.p, r.n);
    rc |= sbuf_add(b, s.p + starts[w] + lens[w], s.n - starts[w] - lens[w]);
    return rc ? LORE_ENOMEM : 0;
}

/* Chunks the article exactly as indexing will (the BEIR "text" field is parsed as plain
 * text), so the scale-up hits its chunk target. */
static int count_chunks(const char *title, const char *text, size_t len,
                        const chunk_options *copts, size_t *n, lore_err *err)
{
    article a;
    memset(&a, 0, sizeof a);
    a.title = strdup(title);
    if (a.title == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory counting chunks");
    chunk *cs = NULL;
    int rc = parse_body("text", text, len, &a, err);
    if (rc == 0)
        rc = chunk_article(&a, copts, &cs, n, err);
    chunk_free_all(cs, *n);
    article_free(&a);
    return rc;
}

static FILE *open_part(const char *dir, size_t idx, lore_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/part-%04zu.jsonl", dir, idx);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        lore_errf(err, LORE_EIO, "cannot write %s", path);
    return f;
}

int bench_synth_write(const char *corpus_path, const char *dir, size_t chunks,
                      const chunk_options *copts, uint64_t seed, bench_synth_stats *st,
                      lore_err *err)
{
    memset(st, 0, sizeof *st);
    double t0 = bench_now_ms();
    pool pl;
    memset(&pl, 0, sizeof pl);
    int rc = pool_load(corpus_path, &pl, err);
    if (rc != 0) {
        pool_free(&pl);
        return rc;
    }
    st->source_docs = pl.ndocs;
    st->source_sentences = pl.sentences.n;
    st->source_words = pl.words.n;
    uint64_t rng = seed;
    sbuf body = SBUF_INIT, line = SBUF_INIT, title = SBUF_INIT;
    FILE *f = NULL;
    size_t file_bytes = 0;
    while (rc == 0 && st->chunks < chunks) {
        if (f == NULL || file_bytes >= SYNTH_FILE_BYTES) {
            if (f && fclose(f) != 0) {
                f = NULL;
                rc = lore_errf(err, LORE_EIO, "writing the synthetic corpus in %s failed", dir);
                break;
            }
            if ((f = open_part(dir, st->files++, err)) == NULL) {
                rc = LORE_EIO;
                break;
            }
            file_bytes = 0;
        }
        sbuf_reset(&body);
        sbuf_reset(&line);
        sbuf_reset(&title);
        size_t nsent = pl.doc_sentences[rng_below(&rng, pl.ndocs)];
        size_t para_left = 2 + rng_below(&rng, 5);
        for (size_t i = 0; i < nsent && rc == 0; i++) {
            if (i > 0)
                rc = sbuf_adds(&body, para_left == 0 ? "\n\n" : " ");
            if (para_left == 0)
                para_left = 2 + rng_below(&rng, 5);
            para_left--;
            if (rc == 0)
                rc = add_sentence(&body, &pl, pl.sentences.v[rng_below(&rng, pl.sentences.n)],
                                  &rng);
        }
        if (rc == 0 && pl.titles.n) {
            span t = pl.titles.v[rng_below(&rng, pl.titles.n)];
            rc = add_sentence(&title, &pl, t, &rng);
        } else if (rc == 0) {
            rc = sbuf_addf(&title, "Synthetic article %zu", st->articles + 1);
        }
        if (rc != 0) {
            rc = lore_errf(err, LORE_ENOMEM, "out of memory generating the synthetic corpus");
            break;
        }
        size_t n = 0;
        if ((rc = count_chunks(sbuf_str(&title), sbuf_str(&body), body.len, copts, &n, err)) != 0)
            break;
        rc = sbuf_addf(&line, "{\"_id\":\"syn-%zu\",\"title\":", st->articles + 1);
        rc |= sbuf_add_json_str(&line, title.buf, title.len);
        rc |= sbuf_adds(&line, ",\"text\":");
        rc |= sbuf_add_json_str(&line, body.buf, body.len);
        rc |= sbuf_adds(&line, "}\n");
        if (rc != 0) {
            rc = lore_errf(err, LORE_ENOMEM, "out of memory generating the synthetic corpus");
            break;
        }
        if (fwrite(line.buf, 1, line.len, f) != line.len) {
            rc = lore_errf(err, LORE_EIO, "writing the synthetic corpus in %s failed", dir);
            break;
        }
        file_bytes += line.len;
        st->bytes += line.len;
        st->articles++;
        st->chunks += n;
    }
    if (f && fclose(f) != 0 && rc == 0)
        rc = lore_errf(err, LORE_EIO, "writing the synthetic corpus in %s failed", dir);
    sbuf_free(&body);
    sbuf_free(&line);
    sbuf_free(&title);
    pool_free(&pl);
    st->seconds = (bench_now_ms() - t0) / 1000.0;
    return rc;
}
