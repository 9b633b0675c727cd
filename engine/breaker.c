/* breaker: see breaker.h. */
#include "breaker.h"

#include "http.h"

#include <pthread.h>
#include <stdlib.h>

struct breaker {
    pthread_mutex_t mu;
    int threshold;
    long cooldown_ms;
    breaker_state state;
    int failures;     /* in a row */
    double opened_at; /* ms */
    int probing;      /* a half-open probe is in flight */
};

int breaker_new(int failures, long cooldown_ms, breaker **out, lore_err *err)
{
    *out = NULL;
    breaker *b = calloc(1, sizeof *b);
    if (b == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating a circuit breaker");
    if (pthread_mutex_init(&b->mu, NULL) != 0) {
        free(b);
        return lore_errf(err, LORE_ENOMEM, "cannot create a circuit breaker mutex");
    }
    b->threshold = failures > 0 ? failures : 1;
    b->cooldown_ms = cooldown_ms >= 0 ? cooldown_ms : 0;
    *out = b;
    return 0;
}

void breaker_free(breaker *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

breaker_state breaker_get(breaker *b)
{
    pthread_mutex_lock(&b->mu);
    breaker_state s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s;
}

const char *breaker_state_name(breaker_state s)
{
    switch (s) {
    case BREAKER_CLOSED: return "closed";
    case BREAKER_OPEN: return "open";
    case BREAKER_HALF_OPEN: return "half_open";
    }
    return "?";
}

int breaker_allow(breaker *b, int *probe)
{
    *probe = 0;
    pthread_mutex_lock(&b->mu);
    int ok = 0;
    if (b->state == BREAKER_CLOSED) {
        ok = 1;
    } else if (b->state == BREAKER_OPEN) {
        if (http_now_ms() - b->opened_at >= (double)b->cooldown_ms) {
            b->state = BREAKER_HALF_OPEN;
            b->probing = 1;
            *probe = 1;
            ok = 1;
        }
    } else if (!b->probing) {
        b->probing = 1;
        *probe = 1;
        ok = 1;
    }
    pthread_mutex_unlock(&b->mu);
    return ok;
}

void breaker_result(breaker *b, int probe, int success, int counts)
{
    pthread_mutex_lock(&b->mu);
    if (probe)
        b->probing = 0;
    if (success) {
        b->state = BREAKER_CLOSED;
        b->failures = 0;
    } else if (counts) {
        if (b->state == BREAKER_HALF_OPEN) {
            b->state = BREAKER_OPEN;
            b->opened_at = http_now_ms();
        } else if (b->state == BREAKER_CLOSED && ++b->failures >= b->threshold) {
            b->state = BREAKER_OPEN;
            b->opened_at = http_now_ms();
        }
    }
    pthread_mutex_unlock(&b->mu);
}
