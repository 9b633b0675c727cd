/* extract: see extract.h. */
#include "extract.h"

#include "sbuf.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

typedef struct cand {
    size_t src, start, end, order;
    double score;
} cand;

static int by_score(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int by_order(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Sentences worth quoting: not table rows, code, or headings. */
static int quotable(const char *s, size_t n)
{
    if (n < 12 || s[0] == '|' || s[0] == '`' || s[0] == '<' || s[0] == '{')
        return 0;
    int bars = 0;
    for (size_t i = 0; i < n; i++)
        bars += s[i] == '|';
    if (bars >= 2) /* a table row */
        return 0;
    int words = 1;
    for (size_t i = 0; i < n; i++)
        words += s[i] == ' ';
    /* A short line without an end mark is a heading or a label. */
    char last = s[n - 1];
    if (words < 4 && last != '.' && last != '!' && last != '?')
        return 0;
    return 1;
}

void extract_result_free(extract_result *r)
{
    if (r == NULL)
        return;
    free(r->text);
    free(r->cited);
    r->text = NULL;
    r->cited = NULL;
}

int extract_answer(const char *question, const char *const *sources, size_t n_sources,
                   const extract_options *o, extract_result *out, lore_err *err)
{
    memset(out, 0, sizeof *out);
    size_t max_sent = o->max_sentences ? o->max_sentences : 3;
    size_t max_src = o->max_sources ? o->max_sources : 3;
    if (max_src > n_sources)
        max_src = n_sources;
    out->cited = calloc(n_sources + 1, sizeof *out->cited);
    if (out->cited == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory extracting an answer");

    char **qterms = NULL;
    size_t nq = 0;
    int rc = validate_terms(o->analyzer, question, &qterms, &nq, err);
    float *qv = NULL;
    int dim = 0;
    const float *qvec = o->question_vec;
    if (rc == 0 && o->emb != NULL && embed_dim(o->emb) > 0) {
        const char *one[1] = {question};
        lore_err e2 = {0};
        /* The semantic part only sharpens the ranking; without it, lexical alone decides. */
        if (qvec != NULL)
            dim = embed_dim(o->emb);
        else if (embed_texts_alloc(o->emb, one, 1, &qv, &e2) == 0 && qv != NULL)
            dim = embed_dim(o->emb);
        if (qv != NULL)
            qvec = qv;
    }

    cand *cs = NULL;
    char **ctexts = NULL;
    size_t nc = 0, cap = 0, order = 0;
    for (size_t k = 0; rc == 0 && k < max_src; k++) {
        validate_span *sp = NULL;
        size_t ns = 0;
        rc = validate_sentences(sources[k], &sp, &ns, err);
        for (size_t i = 0; rc == 0 && i < ns; i++) {
            const char *s = sources[k] + sp[i].start;
            size_t n = sp[i].end - sp[i].start;
            if (!quotable(s, n))
                continue;
            /* Coverage of the question by the sentence: its terms against the question's. */
            char **sterms = NULL;
            size_t nst = 0;
            char *copy = strndup(s, n);
            if (copy == NULL || validate_terms(o->analyzer, copy, &sterms, &nst, err) != 0) {
                free(copy);
                rc = lore_errf(err, LORE_ENOMEM, "out of memory extracting an answer");
                break;
            }
            double cover = nq > 0 ? 0 : -1;
            if (nq > 0 && nst > 0) {
                size_t hit = 0;
                for (size_t q = 0; q < nq; q++)
                    for (size_t t = 0; t < nst; t++)
                        if (strcmp(qterms[q], sterms[t]) == 0) {
                            hit++;
                            break;
                        }
                cover = (double)hit / (double)nq;
            }
            validate_terms_free(sterms, nst);
            if (nc == cap) {
                size_t ncap = cap ? cap * 2 : 32;
                cand *p = realloc(cs, ncap * sizeof *p);
                char **pt = realloc(ctexts, ncap * sizeof *pt);
                if (p != NULL)
                    cs = p;
                if (pt != NULL)
                    ctexts = pt;
                if (p == NULL || pt == NULL) {
                    free(copy);
                    rc = lore_errf(err, LORE_ENOMEM, "out of memory extracting an answer");
                    break;
                }
                cap = ncap;
            }
            ctexts[nc] = copy;
            cs[nc++] = (cand){k, sp[i].start, sp[i].end, order++, cover + 0.05 / (double)(k + 1)};
        }
        free(sp);
    }

    /* The semantic part, in one embedding batch; it only sharpens the ranking, so an
     * embedder failure leaves the lexical scores to decide. */
    if (rc == 0 && nc > 0 && dim > 0) {
        float *sv = NULL;
        lore_err e2 = {0};
        if (embed_texts_alloc(o->emb, (const char *const *)ctexts, nc, &sv, &e2) == 0 &&
            sv != NULL) {
            for (size_t i = 0; i < nc; i++) {
                double c = 0;
                for (int d = 0; d < dim; d++)
                    c += (double)qvec[d] * (double)sv[i * (size_t)dim + (size_t)d];
                cs[i].score = 0.75 * cs[i].score + 0.5 * c;
            }
        }
        free(sv);
    }
    for (size_t i = 0; i < nc; i++)
        free(ctexts[i]);
    free(ctexts);
    if (rc == 0 && nc > 0) {
        qsort(cs, nc, sizeof *cs, by_score);
        out->best = cs[0].score;
        size_t keep = 0;
        /* Sentences much weaker than the best one mostly quote the wrong article. */
        double floor = o->min_score > 0.75 * cs[0].score ? o->min_score : 0.75 * cs[0].score;
        while (keep < nc && keep < max_sent && cs[keep].score >= floor)
            keep++;
        qsort(cs, keep, sizeof *cs, by_order);
        sbuf b = SBUF_INIT;
        for (size_t i = 0; rc == 0 && i < keep; i++) {
            const cand *c = &cs[i];
            if ((i > 0 && sbuf_addc(&b, '\n') != 0) || sbuf_addc(&b, '"') != 0 ||
                sbuf_add(&b, sources[c->src] + c->start, c->end - c->start) != 0 ||
                sbuf_addf(&b, "\" [%zu]", c->src + 1) != 0)
                rc = lore_errf(err, LORE_ENOMEM, "out of memory extracting an answer");
            out->cited[c->src] = 1;
        }
        out->n_sentences = keep;
        if (rc == 0 && keep > 0)
            out->text = sbuf_detach(&b);
        sbuf_free(&b);
    }
    free(cs);
    free(qv);
    validate_terms_free(qterms, nq);
    if (rc != 0)
        extract_result_free(out);
    return rc;
}
