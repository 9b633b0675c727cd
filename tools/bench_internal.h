/* bench_internal: the helpers behind `lore bench` (cmd_bench.c): the machine description,
 * the command line, a deterministic synthetic corpus, latency statistics.
 *
 * Ownership: strings returned by bench_command_line are malloc'd; the caller frees them.
 * Nothing here keeps state between calls. */
#ifndef LORE_BENCH_INTERNAL_H
#define LORE_BENCH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "err.h"

/* ------------------------------------------------------------------ machine, command line */

typedef struct bench_machine {
    char cpu[256];    /* "model name" of /proc/cpuinfo, "unknown" when absent */
    long cores;       /* online logical CPUs */
    double mem_gib;   /* MemTotal of /proc/meminfo, GiB; 0 when unknown */
    char os[256];     /* PRETTY_NAME of /etc/os-release, else uname's sysname */
    char kernel[128]; /* uname release */
    double load1;     /* 1-minute load average when read (other work skews timings) */
} bench_machine;

void bench_machine_get(bench_machine *m);

/* The 1-minute load average now; 0 when unknown. */
double bench_load1(void);

/* The exact command line of this process, words shell-quoted where needed, read from
 * /proc/self/cmdline; when that is unreadable, "lore" followed by argv. NULL when out of
 * memory. */
char *bench_command_line(int argc, char **argv);

/* Milliseconds on the monotonic clock. */
double bench_now_ms(void);

/* Removes a directory tree (files and directories, symlinks not followed). 0 or LORE_EIO. */
int bench_rmtree(const char *path, lore_err *err);

/* ------------------------------------------------------------------ latency statistics */

typedef struct bench_latency {
    double mean, p50, p95, p99, max, total_ms, qps;
    size_t n;
} bench_latency;

/* Summarises n latencies (ms); sorts ms in place. Percentiles are nearest-rank: pXX is the
 * smallest sample with at least XX% of the samples at or below it. */
void bench_latency_summarise(double *ms, size_t n, bench_latency *out);

/* ------------------------------------------------------------------ synthetic corpus */

typedef struct bench_synth_stats {
    size_t articles, chunks, files;
    size_t source_docs, source_sentences, source_words;
    unsigned long long bytes; /* total size of the files written */
    double seconds;
} bench_synth_stats;

/* Writes a synthetic help-center corpus of BEIR records {"_id","title","text"} into the
 * existing directory `dir`, as files part-NNNN.jsonl of at most about 16 MB each (the parser
 * refuses files over 32 MB). Articles recombine the sentences of the BEIR corpus at
 * corpus_path: each takes the sentence count of a random source document, draws its
 * sentences at random from the whole corpus (one word in four sentences replaced by a
 * random corpus word), groups them into paragraphs of 2 to 6 sentences, and takes a random
 * source title. Articles are added until the chunker (with `copts`, exactly as indexing
 * will chunk them) has produced at least `chunks` chunks. The same corpus, size, options
 * and seed always give byte-identical files. 0, LORE_EIO, LORE_EINVAL (the corpus has no
 * usable text) or LORE_ENOMEM. */
int bench_synth_write(const char *corpus_path, const char *dir, size_t chunks,
                      const chunk_options *copts, uint64_t seed, bench_synth_stats *st,
                      lore_err *err);

/* ------------------------------------------------------------------ embedding (use) */

typedef struct bench_embed_options {
    size_t texts;      /* corpus records embedded for throughput */
    size_t query_runs; /* timed single-query calls */
    size_t warmup;     /* untimed single-query calls first */
    int node;          /* 1: run the Node reference too */
} bench_embed_options;

typedef struct bench_embed_result {
    char model_dir[1024];
    size_t texts, tokens;   /* tokens the model reads: at most USE_MAX_TOKENS per text */
    int openblas;           /* 1 when the thread count of OpenBLAS could be set */
    double s_1thread;       /* seconds to embed all texts, 1 thread, OpenBLAS 1 thread */
    double cpu_1thread;     /* the same run's CPU seconds (robust to other load) */
    double s_2threads;      /* 2 threads each embedding half, OpenBLAS 1 thread */
    double s_blas2;         /* 1 thread, OpenBLAS 2 threads (0 when not OpenBLAS) */
    size_t query_texts;     /* distinct queries timed (closest to 20 tokens) */
    double query_tokens_mean;
    bench_latency query;    /* one query per call, OpenBLAS 1 thread: wall ms */
    bench_latency query_cpu; /* the same calls' CPU time (ms) of the calling thread */
    bench_latency search_query;     /* the search path (use_embed_query_ids: bf16 where the
                                       CPU has AVX512-BF16), tokenizing included: wall ms */
    bench_latency search_query_cpu; /* its CPU time (ms) */
    int node_ok;            /* the reference ran; node_note says why not otherwise */
    char node_note[512];
    char node_cmd[4096];    /* the command that ran it */
    size_t node_tokens;
    double node_seconds;
    double node_cpu_seconds; /* CPU seconds of the node process over the same loop */
    bench_latency node_query;
} bench_embed_result;

/* Embeds the first o->texts records of the BEIR corpus at corpus_path ("title\n\ntext")
 * with the use model (use_default_dir) on 1 and 2 threads, times o->query_runs single-query
 * embeddings of the query_texts closest to 20 tokens, then runs the Node reference
 * (tests/golden/bench-ref.mjs; `npm ci` there first when its packages are missing) on the
 * same texts and queries. The Node part never fails the call: node_note says what happened.
 * OpenBLAS's thread count is restored afterwards. 0 or the error of loading the model or
 * reading the corpus. */
int bench_embed_run(const char *corpus_path, const char *const *query_texts, size_t nquery_texts,
                    const bench_embed_options *o, bench_embed_result *r, lore_err *err);

#endif
