/* http: the libcurl POST client shared by the remote embedder and the LLM client.
 *
 * One client = one libcurl easy handle (kept-alive connection), a fixed header list with the
 * Bearer key read from an environment variable at creation, and a reply buffer. A request is
 * one POST of a JSON body; http_post retries transient failures (429, 5xx, connection errors,
 * timeouts) with jittered exponential backoff, Retry-After (delta seconds) as a floor. Callers
 * that need their own retry loop (the LLM client, with its circuit breaker) use http_post_once
 * and http_backoff_ms.
 *
 * Streaming: with a sink, the body of a 2xx reply goes to the sink as it arrives instead of
 * the buffer (error bodies are always buffered, for the message). An attempt that has passed
 * bytes to the sink is never retried by http_post: the caller has consumed them.
 *
 * Timeouts: connect and total (per attempt) from http_conf; a first-byte timeout per request
 * (the time until the first body byte of the reply, e.g. an LLM's first token).
 *
 * Errors are LORE_ENET with messages "LABEL <what>", LABEL given at creation, e.g.
 *   embeddings server http://127.0.0.1:8000/v1 answered 401: invalid api key
 *
 * Threads: a client is used by one thread at a time. Ownership: http_client_new returns a
 * client freed with http_client_free; it copies label and url. */
#ifndef LORE_HTTP_H
#define LORE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sbuf.h"

/* Retry-After above this is clamped, and no backoff exceeds it. */
#define HTTP_MAX_WAIT_MS 30000L
/* How much of a server's error message goes into ours. */
#define HTTP_MAX_SERVER_MSG 200

typedef struct http_conf {
    long connect_timeout_ms;
    long timeout_ms;          /* whole attempt */
    int retries;              /* http_post: retries after the first attempt */
    long backoff_ms;          /* first backoff */
    const char *user_agent;   /* NULL: "lore/0.1" */
    const char *accept;       /* Accept header; NULL: "application/json" */
} http_conf;

typedef struct http_client http_client;

/* Called with body bytes of a 2xx reply; return 0 to continue, non-zero to abort the
 * transfer (http_post_once then returns LORE_ENET with *aborted set). */
typedef int (*http_sink_fn)(void *ctx, const char *data, size_t n);

typedef struct http_request {
    const char *body;
    size_t len;
    http_sink_fn sink;        /* NULL: buffer the reply (http_reply) */
    void *sink_ctx;
    long first_byte_ms;       /* 0: none */
} http_request;

/* What one attempt came to, for the caller's retry decision. */
typedef struct http_outcome {
    long status;              /* HTTP status; 0 when no reply */
    int transient;            /* worth retrying */
    int sunk;                 /* bytes went to the sink */
    int aborted;              /* the sink aborted */
    int first_byte_timeout;   /* no body byte within first_byte_ms */
    long retry_after_s;       /* -1: none */
    double ms_first_byte;     /* from the start of the attempt; -1 when none */
} http_outcome;

/* label names the server in messages ("embeddings server http://..."); url is the endpoint
 * POSTed to. api_key_env NULL or unset: no Authorization header. */
int http_client_new(const char *label, const char *url, const char *api_key_env,
                    const http_conf *conf, http_client **out, lore_err *err);
void http_client_free(http_client *c);
const char *http_label(const http_client *c);

/* One attempt. 0 on a 2xx reply; LORE_ENET otherwise with the outcome filled either way. */
int http_post_once(http_client *c, const http_request *rq, http_outcome *oc, lore_err *err);
/* Attempts with retries per the client's conf. *attempts (may be NULL) counts them. */
int http_post(http_client *c, const http_request *rq, int *attempts, lore_err *err);

/* The outcome of http_post's last attempt (valid until the next request). */
const http_outcome *http_last_outcome(const http_client *c);

/* The buffered body of the last reply (valid until the next request). */
const sbuf *http_reply(const http_client *c);

/* Wait before retry number attempt+1 (attempt 0 = after the first failure): "equal
 * jitter" exponential backoff from base_ms, Retry-After (seconds, -1 none) as a floor,
 * capped at HTTP_MAX_WAIT_MS. *rng is a non-zero xorshift state. */
long http_backoff_ms(uint64_t *rng, long base_ms, int attempt, long retry_after_s);
/* A seed for *rng that differs between processes and objects. */
uint64_t http_seed(const void *salt);
void http_sleep_ms(long ms);
/* 1 for 429 and 5xx. */
int http_transient_status(long status);
/* A short printable piece of a server's error body: OpenAI's {"error": {"message"}}, the
 * {"error": "..."} / {"message"} / {"detail"} variants, else the start of the raw body. */
void http_server_message(const char *body, size_t len, char *out, size_t cap);
/* Monotonic milliseconds. */
double http_now_ms(void);

#endif
