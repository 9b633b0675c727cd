/* embed: text embedders behind one interface.
 *
 * Kinds (spec strings accepted by embed_open):
 *   "none"                      no vectors; lexical-only collections (dim 0)
 *   "hash:DIM"                  deterministic feature-hashing embedder: each analysed term
 *                               hashed (xxhash) to a fixed pseudo-random unit direction, summed,
 *                               normalised. Offline, no model; for tests and benchmarks.
 *   "openai:MODEL@BASE_URL"     an OpenAI-compatible server: POST BASE_URL/embeddings
 *                               (BASE_URL like http://127.0.0.1:8000/v1)
 *   "use", "use:DIR"            the Universal Sentence Encoder lite in-process (use.h,
 *                               embed_use.c), 512-d; the default of new collections
 *                               (COLL_DEFAULT_EMBEDDER). DIR defaults to use_default_dir().
 *                               Texts past 128 tokens are embedded as title-prefixed windows
 *                               (embed_texts_windows gives one vector per window).
 *                               Opening it sets OpenBLAS to 1 thread (process-wide): batches
 *                               run on threads of its own, one per core. Its embed_texts may
 *                               be called from several threads at once.
 *
 * Output vectors are L2-normalised float32, dim floats per text. A text with nothing to embed
 * gets the all-zero vector (it matches nothing under cosine/inner product): for "hash:DIM" a
 * text whose analysis yields no terms (empty, only stop words or punctuation); for "openai:"
 * an empty string, which is not sent (OpenAI rejects empty inputs).
 *
 * The hash embedder analyses text with text_analyze ("en"), and hashes each term and each
 * pair of adjacent terms (at half weight, for a little word order) with XXH64 into a
 * pseudo-random +-1 direction; term frequency is dampened (1 + ln tf). It is deterministic
 * across runs and machines (no seed other than fixed xxhash seeds).
 *
 * OpenAI client behaviour: texts go in batches of at most `batch` (default 64); each request
 * has a connect timeout and a total timeout; 429, 5xx and connection errors are retried with
 * jittered exponential backoff (Retry-After honoured) up to `retries` times; the API key comes
 * from the environment variable named by `api_key_env` (default LORE_EMBED_API_KEY) and is sent
 * as a Bearer token (read once, at embed_open; unset or empty = no Authorization header).
 * Errors name the server URL and the HTTP status. Worst case per batch: (retries + 1) *
 * timeout_ms plus the backoffs. A circuit breaker per server URL, shared by the process's
 * embedders (breaker.h), makes requests fail at once after breaker_failures failed ones in a
 * row (transport errors, 429, 5xx), letting one through every breaker_cooldown_ms. Note: retries 0 means no retry; -1 selects the default, so a
 * zero-initialised embed_options disables retries.
 *
 * Spec syntax: MODEL is everything between "openai:" and the "@http://" or "@https://" that
 * starts BASE_URL; trailing slashes of BASE_URL are dropped (also in embed_id).
 * Remote failures return LORE_ENET (transport errors, HTTP errors, malformed or inconsistent
 * replies); messages name the server, e.g.
 *   embeddings server http://127.0.0.1:8000/v1 answered 401: invalid api key
 * Retry-After (delta seconds) is honoured up to 30 s; a backoff never exceeds 30 s.
 * The request count (embed_request_count) counts every HTTP attempt, retries included.
 *
 * Threads: one embedder is used by one thread at a time; several embedders may be used
 * from several threads at once (curl_global_init runs once, guarded by pthread_once).
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
    int breaker_failures;    /* failed requests in a row that open the server's circuit
                                breaker; 0 = default 3 */
    long breaker_cooldown_ms; /* how long it stays open before a probe; 0 = default 5000 */
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
 * embed_texts_alloc or embed_probe_dim first (embed_texts then fails with LORE_EINVAL rather
 * than overrun `out`). LORE_EUNSUP for "none". n == 0 is a no-op. On failure the contents of
 * `out` are unspecified. */
int embed_texts(embedder *e, const char *const *texts, size_t n, float *out, lore_err *err);

/* Like embed_texts but allocates *out (n * embed_dim floats after the call; caller frees).
 * Learns the dimension of a remote embedder from its first reply. *out is NULL on failure,
 * when n == 0, and when no vector was produced because every text was empty and the
 * dimension is still unknown (embed_dim stays 0 then). */
int embed_texts_alloc(embedder *e, const char *const *texts, size_t n, float **out,
                      lore_err *err);

/* Embeds one search query into *out (allocated as by embed_texts_alloc; caller frees), with
 * the embedder's query path: "use" may compute a short query in bf16 (use_embed_query_ids:
 * about twice as fast, within a cosine of about 1e-4 of embed_texts' vector); the other kinds
 * give embed_texts' vector. For searching only: stored vectors come from embed_texts and
 * embed_texts_windows. */
int embed_query(embedder *e, const char *text, float **out, lore_err *err);
/* Embeds n search queries into *out (n * embed_dim floats, allocated as by embed_texts_alloc;
 * caller frees; NULL for n == 0). "use" gives embed_query's vector for each text, bit for
 * bit, running short queries through the model together (use_embed_queries_ids: each weight
 * matrix read once for all of them); the other kinds embed them as embed_texts_alloc does
 * (as embed_query does for each).
 * For a server that has several questions waiting at once. */
int embed_queries(embedder *e, const char *const *texts, size_t n, float **out, lore_err *err);
/* 1 when embed_queries on several texts costs less than embed_query on each (the local
 * "use" model); 0 for kinds where it would only turn several failures into one. */
int embed_queries_together(const embedder *e);

/* Remembers the vectors of up to `capacity` texts (vmemo.h): embed_texts and
 * embed_texts_alloc then embed only the texts they have not seen, and give the others'
 * vectors back exactly as first computed. For embedders that see the same texts again and
 * again (answering quotes the same popular sources); about capacity * dim * 4 bytes.
 * embed_texts_windows and embed_query do not use it. LORE_EINVAL for capacity 0. */
int embed_memo(embedder *e, size_t capacity, lore_err *err);

/* The most windows a text is embedded as (embed_texts_windows); a longer text keeps its first
 * EMBED_MAX_WINDOWS windows (about 7,000 tokens for "use", far past any chunk). */
#define EMBED_MAX_WINDOWS 64

/* Embeds n texts as windows, so a long text can be scored by its best part: "use" cuts a text
 * past its 128-token limit into title-prefixed windows (embed_use.c) and gives one vector per
 * window; the other kinds give one vector per text. nwin (n entries, the caller's) receives
 * each text's window count, 1..EMBED_MAX_WINDOWS; *vecs (caller frees) holds the windows'
 * vectors in order, text 0's first, each embed_dim floats (the sum of nwin vectors). A text
 * with nothing to embed has one all-zero window. *vecs is NULL and every nwin 0 on failure,
 * for n == 0, and when embed_texts_alloc would give NULL (a remote embedder's texts all
 * empty). embed_texts gives one vector per text instead: for "use" the normalised mean of its
 * windows (a short text, such as a query, has one window, so the two agree). */
int embed_texts_windows(embedder *e, const char *const *texts, size_t n, float **vecs,
                        size_t *nwin, lore_err *err);

/* Sets *dim to the vector dimension, embedding one short probe text first when a remote
 * embedder has not learnt it yet (one request). For collections that must know the
 * dimension before they have anything to embed. 0 or the error of the probe call. */
int embed_probe_dim(embedder *e, int *dim, lore_err *err);

/* Number of HTTP requests made so far (0 for local kinds); for tests and stats. */
unsigned long embed_request_count(const embedder *e);

#endif
