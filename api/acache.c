#include "acache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

typedef struct aentry {
    char *key; /* "collection\x1fgeneration\x1fconfig\x1fvariant\x1fnormalised question" */
    char *value;
    uint64_t hash;
    struct aentry *hnext;        /* bucket chain */
    struct aentry *prev, *next;  /* recency list, most recent at head */
} aentry;

struct acache {
    pthread_mutex_t mu;
    size_t cap, n, nbuckets;
    aentry **buckets;
    aentry *head, *tail;
};

int acache_new(size_t capacity, acache **out, lore_err *err)
{
    *out = NULL;
    acache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating the answer cache");
    c->cap = capacity;
    c->nbuckets = 16;
    while (c->nbuckets < capacity)
        c->nbuckets *= 2;
    if ((c->buckets = calloc(c->nbuckets, sizeof *c->buckets)) == NULL) {
        free(c);
        return lore_errf(err, LORE_ENOMEM, "out of memory creating the answer cache");
    }
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

void acache_free(acache *c)
{
    if (c == NULL)
        return;
    for (aentry *e = c->head, *next; e; e = next) {
        next = e->next;
        free(e->key);
        free(e->value);
        free(e);
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

char *acache_normalize(const char *question)
{
    utf8proc_uint8_t *folded = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)question, 0, &folded,
                                      UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                          UTF8PROC_COMPAT | UTF8PROC_CASEFOLD);
    if (n < 0)
        return NULL;
    char *s = (char *)folded;
    /* Collapse ASCII white space runs to one space and trim both ends. */
    size_t w = 0;
    int space = 1;
    for (utf8proc_ssize_t r = 0; r < n; r++) {
        char ch = s[r];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v') {
            if (!space)
                s[w++] = ' ';
            space = 1;
        } else {
            s[w++] = ch;
            space = 0;
        }
    }
    while (w > 0 && (s[w - 1] == ' ' || s[w - 1] == '?' || s[w - 1] == '!' || s[w - 1] == '.'))
        w--;
    s[w] = '\0';
    return s;
}

static char *make_key(const acache_key *k)
{
    char *q = acache_normalize(k->question);
    if (q == NULL)
        return NULL;
    size_t len = strlen(k->collection) + strlen(q) + 96;
    char *key = malloc(len);
    if (key)
        snprintf(key, len, "%s\x1f%llu\x1f%llu\x1f%d\x1f%s", k->collection,
                 (unsigned long long)k->generation, (unsigned long long)k->config, k->variant,
                 q);
    free(q);
    return key;
}

static void unlink_lru(acache *c, aentry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(acache *c, aentry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

static aentry *lookup(acache *c, const char *key, uint64_t h)
{
    for (aentry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void remove_entry(acache *c, aentry *e)
{
    aentry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    unlink_lru(c, e);
    free(e->key);
    free(e->value);
    free(e);
    c->n--;
}

char *acache_get(acache *c, const acache_key *k)
{
    if (c->cap == 0)
        return NULL;
    char *key = make_key(k);
    if (key == NULL)
        return NULL;
    uint64_t h = XXH3_64bits(key, strlen(key));
    char *out = NULL;
    pthread_mutex_lock(&c->mu);
    aentry *e = lookup(c, key, h);
    if (e != NULL) {
        unlink_lru(c, e);
        push_front(c, e);
        out = strdup(e->value);
    }
    pthread_mutex_unlock(&c->mu);
    free(key);
    return out;
}

int acache_put(acache *c, const acache_key *k, const char *value, lore_err *err)
{
    if (c->cap == 0)
        return 0;
    char *key = make_key(k);
    char *val = strdup(value);
    aentry *ne = calloc(1, sizeof *ne);
    if (key == NULL || val == NULL || ne == NULL) {
        free(key);
        free(val);
        free(ne);
        return lore_errf(err, LORE_ENOMEM, "out of memory caching an answer");
    }
    ne->key = key;
    ne->value = val;
    ne->hash = XXH3_64bits(key, strlen(key));
    pthread_mutex_lock(&c->mu);
    aentry *old = lookup(c, key, ne->hash);
    if (old != NULL)
        remove_entry(c, old);
    while (c->n >= c->cap && c->tail)
        remove_entry(c, c->tail);
    aentry **b = &c->buckets[ne->hash & (c->nbuckets - 1)];
    ne->hnext = *b;
    *b = ne;
    push_front(c, ne);
    c->n++;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

size_t acache_count(acache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}
