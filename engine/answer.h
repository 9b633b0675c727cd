/* answer: grounded answers to a customer's question from one collection.
 *
 *   question (+ the last turns of the conversation)
 *     -> refine: with history and an LLM, the model rewrites a follow-up into a standalone
 *        query (identity otherwise); that query is what gets retrieved
 *     -> search (search.h): hybrid retrieval, reranking, calibrated retrieval confidence
 *     -> gate: below the threshold the answer is refused and the LLM is not called
 *     -> LLM mode (an endpoint configured): PII redaction (pii.h), grounded prompt (prompt.h),
 *        chat completion streamed through the token callback (llm.h), validation (validate.h)
 *        -> final confidence = retrieval confidence x validation score, gated again
 *     -> extractive mode (no LLM configured, the default): the sentences of the best sources
 *        that best match the question, quoted with citations (extract.h)
 *
 * Two objects:
 *   answer_env   what every thread shares: the collection's answer configuration (cconf.h)
 *                and the LLM circuit breakers. Thread-safe; create one per collection.
 *   answerer     one per thread: it borrows an answer_env and a coll (a coll is one thread's,
 *                see coll.h) and owns its searcher and LLM connections. It turns on the
 *                coll's embedder memo (embed_memo: about 8 MB with use), so the sentences
 *                of sources quoted before are not embedded again.
 *
 * Outcomes: answerer_ask returns 0 whenever it produced an answer OR a refusal (a refusal is a
 * normal outcome: result.answered == 0 with a machine-readable result.refusal and a readable
 * result.detail). An unreachable or misbehaving LLM is a refusal with reason "llm_error"
 * (the bot hands off to a human), not an error. Non-zero only for local failures (storage,
 * memory, a bad request such as an empty question).
 *
 * Streaming: when request.on_token is set, the answer text is passed to it as it is
 * generated (LLM mode) or in one piece (extractive mode), BEFORE validation has run. When
 * the final result says answered == 0, whatever was streamed must be withdrawn by the
 * caller (lore ask prints a "withheld" line; lore serve sends a final event saying so).
 * Reasoning text of reasoning models is never passed on. A non-zero return from on_token
 * cancels the generation: the result is then a refusal with reason "cancelled".
 *
 * Ownership: answer_env_new copies the configuration. answerer_new borrows env and coll,
 * both of which must outlive it. answerer_ask fills a result whose strings and arrays the
 * result owns; free it with answer_result_free (also safe on a zeroed result). */
#ifndef LORE_ANSWER_H
#define LORE_ANSWER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cconf.h"
#include "coll.h"
#include "err.h"
#include "search.h"

/* Machine-readable refusal reasons (stable strings; API and CLI print them). The retrieval
 * ones ("no_match", "low_confidence") come from search.h. */
#define ANSWER_REASON_NO_MATCH "no_match"             /* nothing was retrieved */
#define ANSWER_REASON_LOW_CONFIDENCE "low_confidence" /* retrieval confidence too low */
#define ANSWER_REASON_NOT_IN_SOURCES "not_in_sources" /* the model said the sources don't cover it */
#define ANSWER_REASON_INVALID_CITATION "invalid_citation" /* cited a source it was not given */
#define ANSWER_REASON_UNSUPPORTED "unsupported"       /* final confidence below the threshold */
#define ANSWER_REASON_NO_EXTRACT "no_extract"         /* extractive: no sentence matches */
#define ANSWER_REASON_LLM_ERROR "llm_error"           /* LLM unreachable, malformed, truncated */
#define ANSWER_REASON_CANCELLED "cancelled"           /* on_token asked to stop */

typedef struct answer_env answer_env;
typedef struct answerer answerer;

/* One conversation turn; role is "user" or "assistant". */
typedef struct answer_turn {
    const char *role;
    const char *content;
} answer_turn;

/* Called with each piece of answer text (not NUL-terminated; len bytes of UTF-8, possibly
 * splitting a character between calls). Return 0 to continue, non-zero to cancel. */
typedef int (*answer_token_fn)(void *ctx, const char *text, size_t len);

typedef struct answer_request {
    const char *question;          /* required, non-empty */
    const answer_turn *history;    /* earlier turns, oldest first; may be NULL */
    size_t n_history;              /* only the last cconf.history_turns are used */
    answer_token_fn on_token;      /* may be NULL */
    void *token_ctx;
    int force_extractive;          /* 1: never call the LLM even when one is configured */
    /* Called once when retrieval is done, before the confidence gate and any generation,
     * with the query that was retrieved (after refinement) and the ranked results, both
     * borrowed for the call; it gets token_ctx. May be NULL. Non-zero cancels, as on_token
     * does. It lets a streaming caller show the sources while the answer is written. */
    int (*on_retrieval)(void *ctx, const char *query, const search_results *sr);
} answer_request;

/* A source that was given to the model (or quoted, in extractive mode); n is its number in
 * the prompt ([n] in the answer). */
typedef struct answer_source {
    int n;
    int cited;                     /* 1 when the answer cites it */
    int64_t chunk_id;
    char *article_id, *title, *url, *heading;
    double score;                  /* the retrieval score that ordered it */
} answer_source;

typedef struct answer_timings {
    double refine, search, prompt, first_token, llm, validate, total; /* milliseconds */
} answer_timings;

typedef struct answer_result {
    int answered;                  /* 1: text is the answer; 0: refused */
    char *text;                    /* the answer (LLM or extract); also kept when refused
                                      after generation, for logs. NULL when never generated */
    const char *refusal;           /* ANSWER_REASON_*, NULL when answered; static */
    char *detail;                  /* a readable sentence on why it refused, or NULL */
    const char *mode;              /* "llm" or "extractive"; static */
    char *query;                   /* the query that was retrieved (after refinement) */
    answer_source *sources;        /* sources given, in prompt order */
    size_t n_sources;
    double retrieval_confidence;   /* calibrated, from search.h */
    double validation;             /* 0..1 share of the answer found supported (1 extractive) */
    double confidence;             /* final: retrieval_confidence * validation */
    double threshold;
    int llm_fallback;              /* 1: the fallback endpoint/model produced the answer */
    int llm_attempts;              /* HTTP attempts made to LLM servers */
    int pii_redacted;              /* pieces of PII masked before anything left */
    answer_timings ms;
} answer_result;

/* cfg is copied. The LLM (if any) is not contacted here. */
int answer_env_new(const cconf *cfg, answer_env **out, lore_err *err);
void answer_env_free(answer_env *env);
/* Debug log of everything sent to the LLM (request bodies), e.g. stderr; NULL to stop.
 * The environment variable LORE_DEBUG=1 sets stderr at answer_env_new. Set it before
 * creating answerers: they take it at answerer_new. */
void answer_env_set_debug(answer_env *env, FILE *f);
/* The configuration in use (borrowed, valid until answer_env_free). */
const cconf *answer_env_conf(const answer_env *env);
/* 1 while the LLM endpoint's circuit breaker (llm.h) is not closed: open, or half-open
 * waiting on its probe; `fallback` picks the fallback endpoint's breaker. For monitoring. */
int answer_env_breaker_open(answer_env *env, int fallback);

int answerer_new(answer_env *env, coll *c, answerer **out, lore_err *err);
void answerer_free(answerer *a);

/* Answers one question; see the header comment for the outcome rules. */
int answerer_ask(answerer *a, const answer_request *rq, answer_result *out, lore_err *err);
void answer_result_free(answer_result *r);

#endif
