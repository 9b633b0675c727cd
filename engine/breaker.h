/* breaker: a circuit breaker for one remote endpoint (the LLM, an embeddings server).
 *
 * After `failures` failed requests in a row it opens, and callers skip the endpoint instead of
 * waiting on it; after `cooldown_ms` one caller is let through as a probe (half-open): its
 * success closes the breaker, its failure opens it again. What counts as a failure is the
 * caller's call (breaker_result's `counts`): client errors other than 429 say nothing about
 * the endpoint's health and should not count.
 *
 * Ownership: breaker_new returns a breaker freed with breaker_free. Threads: every function
 * is thread-safe; one breaker is meant to be shared by all the threads calling the endpoint. */
#ifndef LORE_BREAKER_H
#define LORE_BREAKER_H

#include "err.h"

typedef struct breaker breaker;

typedef enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN } breaker_state;

/* failures < 1 is taken as 1; cooldown_ms < 0 as 0. */
int breaker_new(int failures, long cooldown_ms, breaker **out, lore_err *err);
void breaker_free(breaker *b);
breaker_state breaker_get(breaker *b);
/* "closed", "open", "half_open". */
const char *breaker_state_name(breaker_state s);

/* May this caller send a request now? When the cooldown has passed, exactly one caller
 * becomes the probe (*probe = 1) and must report its result. */
int breaker_allow(breaker *b, int *probe);
/* The outcome of a request breaker_allow let through: success, or a failure that counts
 * (counts = 1) or not. */
void breaker_result(breaker *b, int probe, int success, int counts);

#endif
