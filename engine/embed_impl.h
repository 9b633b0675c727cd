/* embed_impl: internals shared by embed.c (spec parsing, dispatch) and the embedder kinds
 * (embed_hash.c, embed_openai.c). Not part of the public interface: include embed.h.
 *
 * Each kind keeps its own state behind a pointer in `struct embedder`; embed.c owns the
 * struct and calls the kind's close function before freeing it. */
#ifndef LORE_EMBED_IMPL_H
#define LORE_EMBED_IMPL_H

#include <stddef.h>

#include "embed.h"
#include "vmemo.h"

enum embed_kind { EMBED_NONE = 0, EMBED_HASH = 1, EMBED_OPENAI = 2, EMBED_USE = 3 };

/* Effective options after defaults are applied (never zero / negative "use default"). */
typedef struct embed_conf {
    size_t batch;
    long connect_timeout_ms;
    long timeout_ms;
    int retries;
    long backoff_ms;
    const char *api_key_env; /* never NULL; points at static or caller storage, used at open only */
    int breaker_failures;
    long breaker_cooldown_ms;
} embed_conf;

typedef struct embed_hash embed_hash;
typedef struct embed_openai embed_openai;
typedef struct embed_use embed_use;

struct embedder {
    enum embed_kind kind;
    int dim;                 /* 0 until known (remote kinds learn it from the first reply) */
    char *id;                /* heap, owned; see embed_id */
    unsigned long requests;  /* HTTP attempts made, counted by the remote kinds */
    embed_hash *hash;        /* kind == EMBED_HASH */
    embed_openai *openai;    /* kind == EMBED_OPENAI */
    embed_use *use;          /* kind == EMBED_USE */
    size_t memo_cap;         /* 0: no memo (embed_memo) */
    vmemo *memo;             /* created at the first embed_texts that knows the dimension */
};

/* Hash kind. dim was validated by the caller (8..4096). */
int embed_hash_open(embedder *e, int dim, lore_err *err);
void embed_hash_close(embed_hash *h);
int embed_hash_texts(embedder *e, const char *const *texts, size_t n, float *out, lore_err *err);

/* OpenAI kind. model and base_url are copied; base_url has no trailing '/'. */
int embed_openai_open(embedder *e, const char *model, const char *base_url,
                      const embed_conf *conf, lore_err *err);
void embed_openai_close(embed_openai *o);
/* Exactly one of out (sized n * e->dim, e->dim known) and alloc_out (set to a new buffer of
 * n * e->dim floats on success, caller frees) is non-NULL. */
int embed_openai_texts(embedder *e, const char *const *texts, size_t n, float *out,
                       float **alloc_out, lore_err *err);

/* USE-lite kind (embed_use.c). dir NULL or "" = the default model directory. Sets e->id and
 * e->dim. */
int embed_use_open(embedder *e, const char *dir, lore_err *err);
void embed_use_close(embed_use *u);
int embed_use_texts(embedder *e, const char *const *texts, size_t n, float *out, lore_err *err);
/* Distinct models the "use" embedders of the process hold now (shared ones count once). */
size_t embed_use_loaded_models(void);
/* embed_query for "use": out has USE_DIM floats. */
int embed_use_query(embedder *e, const char *text, float *out, lore_err *err);
/* embed_queries for "use": out has n * USE_DIM floats, each embed_use_query's vector. */
int embed_use_queries(embedder *e, const char *const *texts, size_t n, float *out,
                      lore_err *err);
/* One vector per window (embed_texts_windows); *vecs allocated, nwin filled. */
int embed_use_windows(embedder *e, const char *const *texts, size_t n, float **vecs,
                      size_t *nwin, lore_err *err);

/* Scales v[0..dim) to unit L2 norm; leaves an all-zero vector as it is. */
void embed_l2_normalize(float *v, int dim);

#endif
