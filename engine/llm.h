/* llm: a client of an OpenAI-compatible POST BASE_URL/chat/completions endpoint (vLLM,
 * llama.cpp's llama-server, Ollama) serving gpt-oss-20b or any chat model.
 *
 * - Streamed (server-sent events: "data: {...}" lines, deltas, "data: [DONE]") or not.
 * - gpt-oss: "reasoning_effort" is sent when configured; the reply's reasoning fields
 *   ("reasoning", "reasoning_content") are ignored and never reach the caller.
 * - Timeouts: connect, first token (no reply byte within it), total (per attempt).
 * - Retries: 429, 5xx, connection errors, timeouts and malformed replies are retried with
 *   jittered exponential backoff (Retry-After honoured, http.h), up to `retries` times per
 *   endpoint, but never once answer text has been passed to the token callback.
 * - Circuit breaker per endpoint (breaker.h, shareable between threads): after
 *   `breaker_failures` failed attempts in a row it opens and requests skip the endpoint; after
 *   `breaker_cooldown_ms` one probe request is let through (half-open); its success closes the
 *   breaker, its failure opens it again. Client errors (4xx other than 429) do not count.
 * - Fallback: when the primary endpoint fails or its breaker is open, the fallback endpoint
 *   (another base URL, another model, or both) is tried the same way.
 * - The API key comes from the environment variable `api_key_env` (read at llm_new).
 * - Errors (LORE_ENET) name the server; reply.failure says which kind, so callers can turn
 *   them into refusals: malformed JSON, a stream cut before its end, finish_reason "length".
 *
 * Debug: with llm_set_debug, every request body (everything that leaves for the model) is
 * written to the given stream before it is sent.
 *
 * Threads: an llm is used by one thread at a time; breakers are thread-safe. Ownership:
 * llm_new copies what it needs from conf and borrows the breakers (NULL = the llm makes its
 * own), which must outlive it. llm_reply strings are owned by the reply (llm_reply_free). */
#ifndef LORE_LLM_H
#define LORE_LLM_H

#include <stddef.h>
#include <stdio.h>

#include "breaker.h"
#include "cconf.h"
#include "err.h"

typedef struct llm llm;

int llm_new(const cconf_llm *conf, breaker *primary, breaker *fallback, llm **out,
            lore_err *err);
void llm_free(llm *l);
void llm_set_debug(llm *l, FILE *f);
/* 1 when a fallback endpoint/model is configured. */
int llm_has_fallback(const llm *l);
breaker *llm_primary_breaker(llm *l);

typedef struct llm_message {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} llm_message;

/* Answer text as it arrives (len bytes, not NUL-terminated). Non-zero return cancels. */
typedef int (*llm_token_fn)(void *ctx, const char *text, size_t len);

typedef enum llm_failure {
    LLM_OK = 0,
    LLM_UNAVAILABLE, /* connection errors, timeouts, HTTP errors, every breaker open */
    LLM_MALFORMED,   /* a reply that is not the protocol (bad JSON, no choices, no content) */
    LLM_TRUNCATED,   /* a stream that ended before finish_reason / [DONE] */
    LLM_LENGTH,      /* finish_reason "length": the answer was cut at max_tokens */
    LLM_CANCELLED    /* the token callback asked to stop */
} llm_failure;

typedef struct llm_reply {
    char *content;        /* the answer text (also the partial text on failure); NULL if none */
    char *finish_reason;  /* NULL when none was sent */
    llm_failure failure;
    int fallback;         /* 1: produced (or last tried) by the fallback */
    int attempts;         /* HTTP attempts over both endpoints */
    double ms_first_token, ms_total; /* -1 when no token arrived */
} llm_reply;

const char *llm_failure_name(llm_failure f);

/* One chat completion. max_tokens 0 = the conf's answer_tokens. stream: 1 streamed (tokens
 * go to on_token as they arrive), 0 one JSON reply (on_token, if set, gets the whole text
 * once). The reply is filled on success and failure alike. */
int llm_chat(llm *l, const llm_message *msgs, size_t n, long max_tokens, int stream,
             llm_token_fn on_token, void *ctx, llm_reply *out, lore_err *err);
void llm_reply_free(llm_reply *r);

#endif
