/* cconf: a collection's answer configuration, read from DATA_ROOT/NAME/config.json.
 *
 * No file means the defaults: no LLM (extractive answers), threshold 0.85, 5 sources, all
 * PII masks on. A file that exists must be valid: unknown keys and values of the wrong type
 * or out of range are errors naming the file and the key, so a typo never silently falls back
 * to a default. The layout (every key optional):
 *
 *   {
 *     "llm": {
 *       "base_url": "http://127.0.0.1:8000/v1",   (no LLM when absent or "")
 *       "model": "openai/gpt-oss-20b",
 *       "api_key_env": "LORE_LLM_API_KEY",         (the variable holding the key)
 *       "fallback": {"base_url": "...", "model": "..."},  (either may be omitted: same as primary)
 *       "context_tokens": 8192, "answer_tokens": 1024,
 *       "reasoning_effort": "low",                 (low | medium | high; gpt-oss)
 *       "temperature": 0.2, "stream": true,
 *       "connect_timeout_ms": 5000, "first_token_timeout_ms": 30000, "timeout_ms": 120000,
 *       "retries": 2, "backoff_ms": 250,
 *       "breaker_failures": 5, "breaker_cooldown_ms": 30000
 *     },
 *     "answer": {
 *       "threshold": 0.85, "sources": 5, "history_turns": 5,
 *       "brand_voice": "...", "guidelines": "...",
 *       "min_lexical_support": 0.35, "min_semantic_support": 0.45, "min_validation": 0.8
 *     },
 *     "pii": {"email": true, "card": true, "phone": true, "iban": true}
 *   }
 *
 * Ownership: cconf owns its strings (NULL when unset); cconf_free releases them and
 * cconf_copy makes a deep copy. */
#ifndef LORE_CCONF_H
#define LORE_CCONF_H

#include <stddef.h>

#include "err.h"

#define CCONF_FILE "config.json"
#define CCONF_DEFAULT_KEY_ENV "LORE_LLM_API_KEY"

typedef struct cconf_llm {
    char *base_url;          /* NULL or "": no LLM */
    char *model;
    char *api_key_env;
    char *fallback_base_url; /* NULL: the primary's */
    char *fallback_model;    /* NULL: the primary's */
    long context_tokens;
    long answer_tokens;      /* reserved for the answer out of context_tokens */
    char *reasoning_effort;  /* NULL: not sent */
    double temperature;
    int stream;
    long connect_timeout_ms, first_token_timeout_ms, timeout_ms;
    int retries;
    long backoff_ms;
    int breaker_failures;
    long breaker_cooldown_ms;
} cconf_llm;

typedef struct cconf_pii {
    int email, card, phone, iban;
} cconf_pii;

typedef struct cconf {
    cconf_llm llm;
    double threshold;
    size_t sources;
    size_t history_turns;
    char *brand_voice, *guidelines;
    double min_lexical_support, min_semantic_support;
    double min_validation;   /* share of supported sentences needed, whatever the confidence */
    cconf_pii pii;
} cconf;

/* Fills the defaults (allocates nothing). */
void cconf_default(cconf *c);
/* Parses a JSON document; `name` (e.g. the file path) goes into error messages. On error
 * *c is left with the defaults and holds nothing to free. */
int cconf_parse(const char *json, size_t len, const char *name, cconf *c, lore_err *err);
/* Reads COLL_DIR/config.json; the defaults when it does not exist. */
int cconf_load(const char *coll_dir, cconf *c, lore_err *err);
/* Reads a config file at any path; missing_ok 1: the defaults when it does not exist. */
int cconf_load_file(const char *path, int missing_ok, cconf *c, lore_err *err);
int cconf_copy(const cconf *src, cconf *dst, lore_err *err);
void cconf_free(cconf *c);
/* 1 when an LLM endpoint is configured. */
int cconf_has_llm(const cconf *c);

#endif
