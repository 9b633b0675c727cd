/* validate: see validate.h. */
#include "validate.h"

#include "sbuf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sentences ---- */

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int push_span(validate_span **v, size_t *n, size_t *cap, const char *t, size_t s, size_t e)
{
    /* Trim blanks and list markers ("-", "*", "1.", "2)") so they do not count as words. */
    while (s < e && is_blank(t[s]))
        s++;
    if (s < e && (t[s] == '-' || t[s] == '*' || t[s] == '#')) {
        while (s < e && (t[s] == '-' || t[s] == '*' || t[s] == '#'))
            s++;
    } else {
        size_t d = s;
        while (d < e && isdigit((unsigned char)t[d]))
            d++;
        if (d > s && d < e && d - s <= 2 && (t[d] == '.' || t[d] == ')') && d + 1 < e &&
            is_blank(t[d + 1]))
            s = d + 1;
    }
    while (s < e && is_blank(t[s]))
        s++;
    while (e > s && is_blank(t[e - 1]))
        e--;
    if (e == s)
        return 0;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        validate_span *p = realloc(*v, nc * sizeof *p);
        if (p == NULL)
            return LORE_ENOMEM;
        *v = p;
        *cap = nc;
    }
    (*v)[*n].start = s;
    (*v)[*n].end = e;
    (*n)++;
    return 0;
}

int validate_sentences(const char *t, validate_span **spans, size_t *n, lore_err *err)
{
    *spans = NULL;
    *n = 0;
    size_t cap = 0, start = 0, i = 0, len = strlen(t);
    int rc = 0;
    while (i < len && rc == 0) {
        size_t cut = 0; /* end of sentence (exclusive) when non-zero */
        size_t next = i + 1;
        char c = t[i];
        if (c == '\n') {
            cut = i;
        } else if ((c == '.' || c == '!' || c == '?') && (i + 1 == len || is_blank(t[i + 1]))) {
            /* "e.g. " and single-letter initials are not sentence ends. */
            int abbrev = i >= 1 && isalpha((unsigned char)t[i - 1]) &&
                         (i < 2 || !isalpha((unsigned char)t[i - 2]));
            /* "2. Open Settings": a list number at the start of a line, not an end. */
            size_t d = i;
            while (d > start && isdigit((unsigned char)t[d - 1]))
                d--;
            size_t b = d;
            while (b > start && (t[b - 1] == ' ' || t[b - 1] == '\t'))
                b--;
            int list_no = d < i && b == start;
            if (!abbrev && !list_no)
                cut = i + 1;
        } else if ((unsigned char)c == 0xe3 && i + 2 < len && (unsigned char)t[i + 1] == 0x80 &&
                   (unsigned char)t[i + 2] == 0x82) { /* U+3002 ideographic full stop */
            cut = i + 3;
            next = i + 3;
        } else if ((unsigned char)c == 0xef && i + 2 < len && (unsigned char)t[i + 1] == 0xbc &&
                   ((unsigned char)t[i + 2] == 0x81 || (unsigned char)t[i + 2] == 0x9f)) {
            cut = i + 3; /* fullwidth ! and ? */
            next = i + 3;
        }
        if (cut) {
            rc = push_span(spans, n, &cap, t, start, cut);
            start = next;
        }
        i = next;
    }
    if (rc == 0)
        rc = push_span(spans, n, &cap, t, start, len);
    if (rc != 0) {
        free(*spans);
        *spans = NULL;
        *n = 0;
        return lore_errf(err, LORE_ENOMEM, "out of memory splitting %zu bytes into sentences",
                         len);
    }
    return 0;
}

/* ---- terms ---- */

typedef struct term_vec {
    char **v;
    size_t n, cap;
    int oom;
} term_vec;

static int on_term(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    (void)start;
    (void)end;
    term_vec *tv = ctx;
    if (tv->n == tv->cap) {
        size_t nc = tv->cap ? tv->cap * 2 : 32;
        char **p = realloc(tv->v, nc * sizeof *p);
        if (p == NULL) {
            tv->oom = 1;
            return 1;
        }
        tv->v = p;
        tv->cap = nc;
    }
    char *s = malloc(len + 1);
    if (s == NULL) {
        tv->oom = 1;
        return 1;
    }
    memcpy(s, term, len);
    s[len] = '\0';
    tv->v[tv->n++] = s;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void validate_terms_free(char **terms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(terms[i]);
    free(terms);
}

static int collect(text_analyzer *a, const char *s, size_t n, term_vec *tv)
{
    text_analyze(a, s, n, on_term, tv);
    return tv->oom ? LORE_ENOMEM : 0;
}

int validate_terms(text_analyzer *a, const char *s, char ***terms, size_t *n, lore_err *err)
{
    term_vec tv = {0};
    if (collect(a, s, strlen(s), &tv) != 0) {
        validate_terms_free(tv.v, tv.n);
        return lore_errf(err, LORE_ENOMEM, "out of memory analysing %zu bytes", strlen(s));
    }
    if (tv.n > 1)
        qsort(tv.v, tv.n, sizeof *tv.v, cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < tv.n; i++) {
        if (w > 0 && strcmp(tv.v[w - 1], tv.v[i]) == 0) {
            free(tv.v[i]);
            continue;
        }
        tv.v[w++] = tv.v[i];
    }
    *terms = tv.v;
    *n = w;
    return 0;
}

double validate_overlap(text_analyzer *a, const char *s, size_t n, char *const *terms,
                        size_t n_terms)
{
    term_vec tv = {0};
    if (collect(a, s, n, &tv) != 0 || tv.n == 0) {
        validate_terms_free(tv.v, tv.n);
        return -1;
    }
    size_t hit = 0;
    for (size_t i = 0; i < tv.n; i++)
        if (n_terms > 0 && bsearch(&tv.v[i], terms, n_terms, sizeof *terms, cmp_str) != NULL)
            hit++;
    double r = (double)hit / (double)tv.n;
    validate_terms_free(tv.v, tv.n);
    return r;
}

/* ---- not covered ---- */

int validate_says_not_covered(const char *text)
{
    static const char *const phrases[] = {
        "sources do not cover", "sources don't cover", "sources don\xe2\x80\x99t cover",
        "not covered by the sources", "not covered in the sources", "not in the sources",
        "sources do not contain", "sources don't contain", "sources do not mention",
        "sources don't mention", "sources do not say", "sources don't say",
        "no information about this in the sources", "sources do not provide",
        "sources don't provide", "i don't have information", "i do not have information"};
    char low[600];
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < sizeof low; p++)
        low[n++] = (char)tolower((unsigned char)*p);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof phrases / sizeof phrases[0]; i++)
        if (strstr(low, phrases[i]) != NULL)
            return 1;
    return 0;
}

/* ---- citations ---- */

/* Parses the citations in s[0..n): marks cited[k] for each valid [k], records the first
 * invalid number, and writes the text without the citations into out. */
static int strip_citations(const char *s, size_t n, size_t n_sources, int *cited, int *invalid,
                           sbuf *out, int *count)
{
    sbuf_reset(out);
    *count = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '[') {
            size_t j = i + 1;
            int ok = 0;
            long nums[16];
            int k = 0;
            for (;;) {
                while (j < n && s[j] == ' ')
                    j++;
                size_t d = j;
                long v = 0;
                while (j < n && isdigit((unsigned char)s[j]) && j - d < 6)
                    v = v * 10 + (s[j++] - '0');
                if (j == d)
                    break;
                if (k < 16)
                    nums[k++] = v;
                while (j < n && s[j] == ' ')
                    j++;
                if (j < n && s[j] == ',') {
                    j++;
                    continue;
                }
                if (j < n && s[j] == ']')
                    ok = 1;
                break;
            }
            if (ok) {
                for (int q = 0; q < k; q++) {
                    if (nums[q] >= 1 && (size_t)nums[q] <= n_sources)
                        cited[nums[q] - 1] = 1;
                    else if (*invalid == 0)
                        *invalid = nums[q] > 0 ? (int)nums[q] : -1;
                    (*count)++;
                }
                i = j + 1;
                continue;
            }
        }
        if (sbuf_addc(out, s[i]) != 0)
            return LORE_ENOMEM;
        i++;
    }
    return 0;
}

/* ---- support ---- */

typedef struct src_info {
    char **terms;
    size_t n_terms;
    float *vecs;  /* n_sent * dim, NULL without an embedder */
    size_t n_sent;
} src_info;

static double dot(const float *a, const float *b, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

static int embed_sentences(embedder *emb, const char *text, float **vecs, size_t *n_sent,
                           lore_err *err)
{
    validate_span *sp = NULL;
    size_t n = 0;
    *vecs = NULL;
    *n_sent = 0;
    int rc = validate_sentences(text, &sp, &n, err);
    if (rc != 0 || n == 0) {
        free(sp);
        return rc;
    }
    char **texts = calloc(n, sizeof *texts);
    rc = texts == NULL ? LORE_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((texts[i] = strndup(text + sp[i].start, sp[i].end - sp[i].start)) == NULL)
            rc = LORE_ENOMEM;
    if (rc != 0)
        rc = lore_errf(err, LORE_ENOMEM, "out of memory embedding sentences");
    else
        rc = embed_texts_alloc(emb, (const char *const *)texts, n, vecs, err);
    if (rc == 0)
        *n_sent = *vecs != NULL ? n : 0;
    for (size_t i = 0; texts != NULL && i < n; i++)
        free(texts[i]);
    free(texts);
    free(sp);
    return rc;
}

void validate_result_free(validate_result *r)
{
    if (r == NULL)
        return;
    free(r->cited);
    r->cited = NULL;
}

int validate_answer(const char *answer, const char *const *sources, size_t n_sources,
                    const validate_options *o, validate_result *out, lore_err *err)
{
    memset(out, 0, sizeof *out);
    out->score = 1;
    out->n_sources = n_sources;
    out->cited = calloc(n_sources + 1, sizeof *out->cited);
    validate_span *sp = NULL;
    size_t ns = 0;
    src_info *si = calloc(n_sources + 1, sizeof *si);
    int **sent_cited = NULL;
    char **stripped = NULL;
    int rc = 0;
    if (out->cited == NULL || si == NULL)
        rc = lore_errf(err, LORE_ENOMEM, "out of memory validating an answer");
    if (rc == 0)
        rc = validate_sentences(answer, &sp, &ns, err);
    if (rc == 0 && ns > 0) {
        sent_cited = calloc(ns, sizeof *sent_cited);
        stripped = calloc(ns, sizeof *stripped);
        if (sent_cited == NULL || stripped == NULL)
            rc = lore_errf(err, LORE_ENOMEM, "out of memory validating an answer");
    }

    /* Pass 1: citations per sentence; a sentence made only of citations ("... refunds. [1]")
     * lends them to the sentence before it. */
    sbuf tmp = SBUF_INIT;
    int total_cites = 0;
    for (size_t i = 0; rc == 0 && i < ns; i++) {
        sent_cited[i] = calloc(n_sources + 1, sizeof **sent_cited);
        int count = 0;
        if (sent_cited[i] == NULL ||
            strip_citations(answer + sp[i].start, sp[i].end - sp[i].start, n_sources,
                            sent_cited[i], &out->invalid_citation, &tmp, &count) != 0) {
            rc = lore_errf(err, LORE_ENOMEM, "out of memory validating an answer");
            break;
        }
        total_cites += count;
        if ((stripped[i] = strdup(sbuf_str(&tmp))) == NULL)
            rc = lore_errf(err, LORE_ENOMEM, "out of memory validating an answer");
        for (size_t k = 0; k < n_sources; k++)
            out->cited[k] |= sent_cited[i][k];
        int has_alnum = 0;
        for (const char *p = stripped[i] ? stripped[i] : ""; *p && !has_alnum; p++)
            has_alnum = isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80;
        if (!has_alnum && count > 0 && i > 0)
            for (size_t k = 0; k < n_sources; k++)
                sent_cited[i - 1][k] |= sent_cited[i][k];
    }
    sbuf_free(&tmp);

    if (rc == 0 && total_cites == 0 && validate_says_not_covered(answer))
        out->not_covered = 1;
    if (rc != 0 || out->invalid_citation != 0 || out->not_covered)
        goto done;

    /* Per source: its terms, and its sentences' vectors when there is an embedder. */
    int dim = 0;
    int use_emb = o->emb != NULL;
    /* Embedding sources is the costly part: only those some sentence will be compared with. */
    int uncited = 0;
    for (size_t i = 0; i < ns; i++) {
        int any = 0;
        for (size_t k = 0; k < n_sources; k++)
            any |= sent_cited[i][k];
        uncited |= !any;
    }
    for (size_t k = 0; rc == 0 && k < n_sources; k++) {
        rc = validate_terms(o->analyzer, sources[k], &si[k].terms, &si[k].n_terms, err);
        if (rc == 0 && use_emb && (uncited || out->cited[k])) {
            rc = embed_sentences(o->emb, sources[k], &si[k].vecs, &si[k].n_sent, err);
            if (rc == LORE_EUNSUP) { /* "none": no vectors, no semantic check */
                use_emb = 0;
                rc = 0;
            }
        }
    }
    if (rc == 0 && use_emb)
        dim = embed_dim(o->emb);
    if (dim <= 0)
        use_emb = 0;

    for (size_t i = 0; rc == 0 && i < ns; i++) {
        const char *s = stripped[i];
        if (validate_says_not_covered(s))
            continue; /* "the sources don't say X" beside a cited answer claims nothing */
        int any = 0;
        for (size_t k = 0; k < n_sources; k++)
            any |= sent_cited[i][k];
        /* Lexical: terms against the union of the cited sources (all when none cited). */
        size_t hit_total = 0;
        double best_lex = -1;
        term_vec tv = {0};
        if (collect(o->analyzer, s, strlen(s), &tv) != 0) {
            validate_terms_free(tv.v, tv.n);
            rc = lore_errf(err, LORE_ENOMEM, "out of memory validating an answer");
            break;
        }
        if (tv.n == 0) {
            validate_terms_free(tv.v, tv.n);
            continue; /* nothing to check ("Thanks!") */
        }
        for (size_t t = 0; t < tv.n; t++) {
            int found = 0;
            for (size_t k = 0; k < n_sources && !found; k++)
                if ((!any || sent_cited[i][k]) && si[k].n_terms > 0 &&
                    bsearch(&tv.v[t], si[k].terms, si[k].n_terms, sizeof(char *), cmp_str))
                    found = 1;
            hit_total += (size_t)found;
        }
        best_lex = (double)hit_total / (double)tv.n;
        validate_terms_free(tv.v, tv.n);

        double best_sem = 1;
        if (use_emb) {
            float *v = NULL;
            best_sem = -1;
            const char *one[1] = {s};
            rc = embed_texts_alloc(o->emb, one, 1, &v, err);
            if (rc != 0)
                break;
            for (size_t k = 0; v != NULL && k < n_sources; k++) {
                if (any && !sent_cited[i][k])
                    continue;
                for (size_t j = 0; j < si[k].n_sent; j++) {
                    double c = dot(v, si[k].vecs + j * (size_t)dim, dim);
                    if (c > best_sem)
                        best_sem = c;
                }
            }
            if (v == NULL)
                best_sem = 1; /* an empty sentence to the embedder: nothing to compare */
            free(v);
        }
        out->n_checked++;
        if (best_lex >= o->min_lexical && best_sem >= o->min_semantic) {
            out->n_supported++;
        } else if (out->detail[0] == '\0') {
            snprintf(out->detail, sizeof out->detail,
                     "sentence not supported by its sources (lexical %.2f, semantic %.2f): %.120s",
                     best_lex, best_sem, s);
        }
    }
    if (rc == 0 && out->n_checked > 0)
        out->score = (double)out->n_supported / (double)out->n_checked;

done:
    for (size_t k = 0; si != NULL && k < n_sources; k++) {
        validate_terms_free(si[k].terms, si[k].n_terms);
        free(si[k].vecs);
    }
    free(si);
    for (size_t i = 0; i < ns; i++) {
        if (sent_cited)
            free(sent_cited[i]);
        if (stripped)
            free(stripped[i]);
    }
    free(sent_cited);
    free(stripped);
    free(sp);
    if (rc != 0)
        validate_result_free(out);
    return rc;
}
