/* answer: see answer.h. */
#include "answer.h"

#include "extract.h"
#include "http.h"
#include "llm.h"
#include "pii.h"
#include "prompt.h"
#include "sbuf.h"
#include "search.h"
#include "store.h"
#include "text.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

struct answer_env {
    cconf conf;
    breaker *primary, *fallback;
    FILE *debug;
};

/* Sentence vectors an answerer's collection embedder keeps (2 KB each with use). */
#define ANSWER_MEMO_VECTORS 4096

struct answerer {
    answer_env *env;
    coll *c;
    searcher *s;
    llm *l;                 /* NULL without an LLM */
    text_analyzer *an;
};

int answer_env_new(const cconf *cfg, answer_env **out, lore_err *err)
{
    *out = NULL;
    answer_env *e = calloc(1, sizeof *e);
    if (e == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating the answer environment");
    int rc = cconf_copy(cfg, &e->conf, err);
    if (rc == 0)
        rc = breaker_new(cfg->llm.breaker_failures, cfg->llm.breaker_cooldown_ms,
                             &e->primary, err);
    if (rc == 0)
        rc = breaker_new(cfg->llm.breaker_failures, cfg->llm.breaker_cooldown_ms,
                             &e->fallback, err);
    if (rc != 0) {
        answer_env_free(e);
        return rc;
    }
    const char *dbg = getenv("LORE_DEBUG");
    if (dbg != NULL && dbg[0] != '\0' && strcmp(dbg, "0") != 0)
        e->debug = stderr;
    *out = e;
    return 0;
}

void answer_env_free(answer_env *env)
{
    if (env == NULL)
        return;
    cconf_free(&env->conf);
    breaker_free(env->primary);
    breaker_free(env->fallback);
    free(env);
}

const cconf *answer_env_conf(const answer_env *env) { return &env->conf; }

int answer_env_breaker_open(answer_env *env, int fallback)
{
    return breaker_get(fallback ? env->fallback : env->primary) != BREAKER_CLOSED;
}
void answer_env_set_debug(answer_env *env, FILE *f) { env->debug = f; }

int answerer_new(answer_env *env, coll *c, answerer **out, lore_err *err)
{
    *out = NULL;
    answerer *a = calloc(1, sizeof *a);
    if (a == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating an answerer");
    a->env = env;
    a->c = c;
    int rc = searcher_new(c, &a->s, err);
    if (rc == 0)
        rc = text_analyzer_new("en", &a->an, err);
    /* Extraction and validation embed every sentence of the top sources, and popular
     * sources come back question after question: their sentences' vectors are kept. */
    if (rc == 0 && coll_embedder(c) != NULL)
        rc = embed_memo(coll_embedder(c), ANSWER_MEMO_VECTORS, err);
    if (rc == 0 && cconf_has_llm(&env->conf)) {
        rc = llm_new(&env->conf.llm, env->primary, env->fallback, &a->l, err);
        if (rc == 0)
            llm_set_debug(a->l, env->debug);
    }
    if (rc != 0) {
        answerer_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void answerer_free(answerer *a)
{
    if (a == NULL)
        return;
    searcher_free(a->s);
    llm_free(a->l);
    text_analyzer_free(a->an);
    free(a);
}

void answer_result_free(answer_result *r)
{
    if (r == NULL)
        return;
    free(r->text);
    free(r->detail);
    free(r->query);
    for (size_t i = 0; i < r->n_sources; i++) {
        answer_source *s = &r->sources[i];
        free(s->article_id);
        free(s->title);
        free(s->url);
        free(s->heading);
    }
    free(r->sources);
    memset(r, 0, sizeof *r);
}

/* ---- helpers ---- */

static void refuse(answer_result *r, const char *reason, const char *detail)
{
    r->answered = 0;
    r->refusal = reason;
    free(r->detail);
    r->detail = detail != NULL ? strdup(detail) : NULL;
}

static char *dup_or_null(const char *s) { return s != NULL ? strdup(s) : NULL; }

/* Everything that leaves for the model passes here. */
static int redact(answerer *a, const char *in, char **out, answer_result *r, lore_err *err)
{
    const cconf_pii *p = &a->env->conf.pii;
    unsigned mask = (p->email ? PII_EMAIL : 0) | (p->card ? PII_CARD : 0) |
                    (p->phone ? PII_PHONE : 0) | (p->iban ? PII_IBAN : 0);
    size_t n = 0;
    int rc = pii_redact(in, mask, out, &n, err);
    r->pii_redacted += (int)n;
    return rc;
}

typedef struct tok_ctx {
    answer_token_fn fn;
    void *ctx;
} tok_ctx;

static int pass_token(void *ctx, const char *s, size_t n)
{
    tok_ctx *t = ctx;
    return t->fn != NULL ? t->fn(t->ctx, s, n) : 0;
}

/* The first line of the model's rewrite, trimmed of blanks and quotes. */
static char *clean_query(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '"')
        s++;
    size_t n = strcspn(s, "\n");
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '"' || s[n - 1] == '\r'))
        n--;
    return n > 0 ? strndup(s, n) : NULL;
}

static int refine(answerer *a, const llm_message *hist, size_t nh, const char *question,
                  answer_result *r, lore_err *err)
{
    prompt p;
    int rc = prompt_build_refine(hist, nh, a->env->conf.history_turns, question, &p, err);
    if (rc != 0)
        return rc;
    llm_reply rep;
    lore_err e2 = {0};
    int lrc = llm_chat(a->l, p.msgs, p.n, 256, 0, NULL, NULL, &rep, &e2);
    r->llm_attempts += rep.attempts;
    if (lrc == 0 && rep.content != NULL) {
        char *q = clean_query(rep.content);
        if (q != NULL) {
            free(r->query);
            r->query = q;
        }
    } else if (a->env->debug != NULL) {
        /* Retrieval goes on with the question as asked: a weaker query beats no answer. */
        fprintf(a->env->debug, "debug: refinement failed, using the question as asked: %s\n",
                e2.msg);
    }
    llm_reply_free(&rep);
    prompt_free(&p);
    return 0;
}

static int load_sources(answerer *a, const search_results *sr, size_t max, char ***texts,
                        answer_result *r, lore_err *err)
{
    size_t n = sr->n < max ? sr->n : max;
    *texts = calloc(n + 1, sizeof **texts);
    r->sources = calloc(n + 1, sizeof *r->sources);
    if (*texts == NULL || r->sources == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory loading sources");
    for (size_t i = 0; i < n; i++) {
        const search_hit *h = &sr->hits[i];
        store_chunk_info ci;
        int rc = store_chunk_get(coll_store(a->c), h->chunk_id, &ci, err);
        if (rc != 0)
            return rc;
        answer_source *s = &r->sources[i];
        s->n = (int)i + 1;
        s->chunk_id = h->chunk_id;
        s->score = h->rerank;
        s->article_id = dup_or_null(h->article_id);
        s->title = dup_or_null(h->title);
        s->url = dup_or_null(h->url);
        s->heading = dup_or_null(h->heading);
        (*texts)[i] = ci.body;
        ci.body = NULL;
        store_chunk_info_free(&ci);
        r->n_sources = i + 1;
        if ((*texts)[i] == NULL && ((*texts)[i] = strdup("")) == NULL)
            return lore_errf(err, LORE_ENOMEM, "out of memory loading sources");
    }
    return 0;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

static embedder *validation_embedder(answerer *a)
{
    embedder *e = coll_embedder(a->c);
    return coll_vindex(a->c) != NULL && e != NULL && embed_dim(e) > 0 ? e : NULL;
}

/* ---- the pipeline ---- */

static int answer_extractive(answerer *a, const answer_request *rq, char **texts,
                             const search_results *sr, answer_result *r, lore_err *err)
{
    r->mode = "extractive";
    double t = http_now_ms();
    embedder *emb = validation_embedder(a);
    /* The search embedded the question already. */
    const float *qv = emb != NULL && sr->query_dim == embed_dim(emb) ? sr->query_vec : NULL;
    extract_options eo = {3, 3, 0.2, a->an, emb, qv};
    extract_result ex;
    int rc = extract_answer(r->query, (const char *const *)texts, r->n_sources, &eo, &ex, err);
    r->ms.validate = http_now_ms() - t;
    if (rc != 0)
        return rc;
    if (ex.text == NULL) {
        refuse(r, ANSWER_REASON_NO_EXTRACT,
               "no sentence of the best articles matches the question closely enough");
    } else {
        for (size_t i = 0; i < r->n_sources; i++)
            r->sources[i].cited = ex.cited[i];
        r->text = ex.text;
        ex.text = NULL;
        r->validation = 1;
        r->confidence = r->retrieval_confidence;
        r->answered = 1;
        if (rq->on_token != NULL && rq->on_token(rq->token_ctx, r->text, strlen(r->text)) != 0)
            refuse(r, ANSWER_REASON_CANCELLED, "the reader stopped the answer");
    }
    extract_result_free(&ex);
    return 0;
}

static int answer_llm(answerer *a, const answer_request *rq, char **texts, const llm_message *hist,
                      size_t nh, const char *question, answer_result *r, lore_err *err)
{
    const cconf *cf = &a->env->conf;
    r->mode = "llm";
    double t = http_now_ms();
    size_t n_red = r->n_sources;
    char **red = calloc(n_red + 1, sizeof *red);
    prompt_source *ps = calloc(r->n_sources + 1, sizeof *ps);
    int rc = red == NULL || ps == NULL
                 ? lore_errf(err, LORE_ENOMEM, "out of memory building the prompt") : 0;
    for (size_t i = 0; rc == 0 && i < r->n_sources; i++) {
        rc = redact(a, texts[i], &red[i], r, err);
        ps[i] = (prompt_source){r->sources[i].title, r->sources[i].heading, r->sources[i].url,
                                red[i]};
    }
    prompt p = {0};
    if (rc == 0) {
        prompt_input in = {question,       hist,           nh,
                           cf->history_turns, ps,          r->n_sources,
                           cf->brand_voice, cf->guidelines, cf->llm.context_tokens,
                           cf->llm.answer_tokens};
        rc = prompt_build(&in, &p, err);
    }
    r->ms.prompt = http_now_ms() - t;
    if (rc != 0)
        goto out;
    /* Sources the budget left out were never shown: they cannot be cited. */
    for (size_t i = p.sources_used; i < r->n_sources; i++) {
        answer_source *s = &r->sources[i];
        free(s->article_id);
        free(s->title);
        free(s->url);
        free(s->heading);
    }
    if (p.sources_used < r->n_sources)
        r->n_sources = p.sources_used;

    t = http_now_ms();
    tok_ctx tc = {rq->on_token, rq->token_ctx};
    llm_reply rep;
    lore_err le = {0};
    int lrc = llm_chat(a->l, p.msgs, p.n, cf->llm.answer_tokens, cf->llm.stream, pass_token, &tc,
                       &rep, &le);
    r->ms.llm = http_now_ms() - t;
    r->ms.first_token = rep.ms_first_token;
    r->llm_attempts += rep.attempts;
    r->llm_fallback = rep.fallback;
    if (rep.content != NULL) {
        r->text = rep.content;
        rep.content = NULL;
    }
    if (lrc != 0) {
        refuse(r, rep.failure == LLM_CANCELLED ? ANSWER_REASON_CANCELLED : ANSWER_REASON_LLM_ERROR,
               le.msg);
        llm_reply_free(&rep);
        goto out;
    }
    llm_reply_free(&rep);

    t = http_now_ms();
    validate_options vo = {cf->min_lexical_support, cf->min_semantic_support, a->an,
                           validation_embedder(a)};
    validate_result vr;
    rc = validate_answer(r->text ? r->text : "", (const char *const *)red, r->n_sources, &vo, &vr,
                         err);
    r->ms.validate = http_now_ms() - t;
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < r->n_sources; i++)
        r->sources[i].cited = vr.cited[i];
    r->validation = vr.score;
    r->confidence = r->retrieval_confidence * vr.score;
    char detail[512];
    if (vr.not_covered) {
        r->confidence = 0;
        refuse(r, ANSWER_REASON_NOT_IN_SOURCES, "the model says the sources do not cover the "
                                                "question");
    } else if (vr.invalid_citation != 0) {
        r->confidence = 0;
        snprintf(detail, sizeof detail, "the answer cites source [%d], but only %zu sources were "
                 "given", vr.invalid_citation, r->n_sources);
        refuse(r, ANSWER_REASON_INVALID_CITATION, detail);
    } else if (vr.score < cf->min_validation || r->confidence < cf->threshold) {
        snprintf(detail, sizeof detail, "%s: final confidence %.2f, threshold %.2f "
                 "(retrieval %.2f x validation %.2f: %zu of %zu sentences supported)%s%s",
                 vr.score < cf->min_validation ? "too little of the answer is supported by its sources"
                                               : "final confidence below the threshold",
                 r->confidence, cf->threshold, r->retrieval_confidence, vr.score, vr.n_supported,
                 vr.n_checked, vr.detail[0] ? "; " : "", vr.detail);
        refuse(r, ANSWER_REASON_UNSUPPORTED, detail);
    } else {
        r->answered = 1;
    }
    validate_result_free(&vr);
out:
    prompt_free(&p);
    free_strs(red, n_red);
    free(ps);
    return rc;
}

int answerer_ask(answerer *a, const answer_request *rq, answer_result *r, lore_err *err)
{
    memset(r, 0, sizeof *r);
    const cconf *cf = &a->env->conf;
    r->threshold = cf->threshold;
    r->ms.first_token = -1;
    double t0 = http_now_ms();
    if (rq->question == NULL || rq->question[strspn(rq->question, " \t\r\n")] == '\0')
        return lore_errf(err, LORE_EINVAL, "the question is empty");
    if (!text_utf8_valid(rq->question, strlen(rq->question)))
        return lore_errf(err, LORE_EINVAL, "the question is not valid UTF-8");
    for (size_t i = 0; i < rq->n_history; i++)
        if (rq->history[i].content == NULL ||
            !text_utf8_valid(rq->history[i].content, strlen(rq->history[i].content)))
            return lore_errf(err, LORE_EINVAL, "history turn %zu is missing or not valid UTF-8",
                             i + 1);
    int use_llm = a->l != NULL && !rq->force_extractive;
    r->mode = use_llm ? "llm" : "extractive";
    if ((r->query = strdup(rq->question)) == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory copying the question");

    /* What may leave for the model: the question and the kept turns, redacted. */
    size_t keep = rq->n_history < cf->history_turns ? rq->n_history : cf->history_turns;
    size_t first = rq->n_history - keep;
    llm_message *hist = calloc(keep + 1, sizeof *hist);
    char **hist_red = calloc(keep + 1, sizeof *hist_red);
    char *q_red = NULL;
    char **texts = NULL;
    size_t n_texts = 0;
    search_results sr;
    memset(&sr, 0, sizeof sr);
    int have_sr = 0;
    int rc = hist == NULL || hist_red == NULL
                 ? lore_errf(err, LORE_ENOMEM, "out of memory copying the history") : 0;
    if (rc == 0 && use_llm) {
        rc = redact(a, rq->question, &q_red, r, err);
        for (size_t i = 0; rc == 0 && i < keep; i++) {
            rc = redact(a, rq->history[first + i].content, &hist_red[i], r, err);
            hist[i].role = rq->history[first + i].role;
            hist[i].content = hist_red[i];
        }
    }

    if (rc == 0 && use_llm && keep > 0) {
        double t = http_now_ms();
        rc = refine(a, hist, keep, q_red, r, err);
        r->ms.refine = http_now_ms() - t;
    }

    if (rc == 0) {
        search_options so;
        search_options_default(&so);
        so.k = cf->sources;
        so.threshold = cf->threshold;
        if (coll_vindex(a->c) == NULL)
            so.mode = SEARCH_BM25;
        double t = http_now_ms();
        rc = search_run(a->s, r->query, &so, &sr, err);
        r->ms.search = http_now_ms() - t;
        have_sr = rc == 0;
    }
    int cancelled = 0;
    if (rc == 0 && rq->on_retrieval != NULL)
        cancelled = rq->on_retrieval(rq->token_ctx, r->query, &sr) != 0;
    if (rc == 0) {
        r->retrieval_confidence = sr.confidence;
        r->confidence = sr.confidence;
        if (cancelled) {
            refuse(r, ANSWER_REASON_CANCELLED, "the reader stopped the answer");
        } else if (sr.n == 0) {
            refuse(r, ANSWER_REASON_NO_MATCH, "no article matches the question");
        } else {
            rc = load_sources(a, &sr, cf->sources, &texts, r, err);
            n_texts = r->n_sources;
            if (rc == 0 && sr.decision == SEARCH_REFUSE) {
                char d[160];
                snprintf(d, sizeof d, "retrieval confidence %.2f is below the threshold %.2f",
                         sr.confidence, cf->threshold);
                refuse(r, sr.reason != NULL ? sr.reason : ANSWER_REASON_LOW_CONFIDENCE, d);
            } else if (rc == 0 && use_llm) {
                rc = answer_llm(a, rq, texts, hist, keep, q_red, r, err);
            } else if (rc == 0) {
                rc = answer_extractive(a, rq, texts, &sr, r, err);
            }
        }
    }
    if (have_sr)
        search_results_free(&sr);
    free_strs(texts, n_texts);
    free_strs(hist_red, keep);
    free(hist);
    free(q_red);
    r->ms.total = http_now_ms() - t0;
    if (rc != 0)
        answer_result_free(r);
    return rc;
}
