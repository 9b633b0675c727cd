/* embed: text embedders behind one interface.
 *
 * Kinds (spec strings accepted by embed_open):
 *   "none"                      no vectors; lexical-only collections (dim 0)
 *   "hash:DIM"                  deterministic feature-hashing embedder: each analysed term
 *                               hashed (xxhash) to a fixed pseudo-random unit direction, summed,
 *                               normalised. Offline, no model; for tests and benchmarks.
 *   "openai:MODEL@BASE_URL"     an OpenAI-compatible server: POST BASE_URL/embeddings
 *                               (BASE_URL like http://127.0.0.1:8000/v1)
 * A model embedder (in-process neural) plugs in as another kind.
 *
 * Output vectors are L2-normalised float32, dim floats per text.
 *
 * OpenAI client behaviour: texts go in batches of at most `batch` (default 64); each request
 * has a connect timeout and a total timeout; 429, 5xx and connection errors are retried with
 * jittered exponential backoff (Retry-After honoured) up to `retries` times; the API key comes
 * from the environment variable named by `api_key_env` (default LORE_EMBED_API_KEY) and is sent
 * as a Bearer token. Errors name the server URL and the HTTP status.
 *
 * Threads: one embedder is used by one thread at a time.
 * Ownership: embed_open returns an embedder the caller frees with embed_close. */
#ifndef LORE_EMBED_H
#define LORE_EMBED_H

#include <stddef.h>

#include "err.h"

typedef struct embed_options {
    size_t batch;            /* texts per request; 0 = default 64 */
    long connect_timeout_ms; /* 0 = default 5000 */
    long timeout_ms;         /* total per request; 0 = default 60000 */
    int retries;             /* retries after the first attempt; -1 = default 4 */
    long backoff_ms;         /* first backoff; 0 = default 200 */
    const char *api_key_env; /* NULL = "LORE_EMBED_API_KEY" */
} embed_options;

typedef struct embedder embedder;

/* opts may be NULL for defaults. LORE_EINVAL for a bad spec. */
int embed_open(const char *spec, const embed_options *opts, embedder **out, lore_err *err);
void embed_close(embedder *e);

/* A stable identity for fingerprints and the store's metadata, e.g. "hash:256",
 * "openai:bge-small@http://127.0.0.1:8000/v1". Changing it re-embeds everything. */
const char *embed_id(const embedder *e);

/* Vector dimension; 0 for "none", and for a remote embedder until its first successful call. */
int embed_dim(const embedder *e);

/* Embeds n texts into out (n * embed_dim floats, after the call). The caller sizes `out`
 * with embed_dim when known; when embed_dim is 0 before the first remote call, use
 * embed_texts_alloc instead. LORE_EUNSUP for "none". */
int embed_texts(embedder *e, const char *const *texts, size_t n, float *out, lore_err *err);

/* Like embed_texts but allocates *out (caller frees). */
int embed_texts_alloc(embedder *e, const char *const *texts, size_t n, float **out,
                      lore_err *err);

/* Number of HTTP requests made so far (0 for local kinds); for tests and stats. */
unsigned long embed_request_count(const embedder *e);

#endif
