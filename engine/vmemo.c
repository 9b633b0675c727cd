#include "vmemo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct slot {
    uint64_t hash;
    char *text; /* NULL: empty */
    size_t len;
    float *vec; /* into the arena */
} slot;

struct vmemo {
    int dim;
    size_t capacity; /* entries before the table is emptied */
    size_t mask;     /* slots - 1; slots >= 2 * capacity keeps probe runs short */
    slot *slots;
    float *arena;    /* capacity * dim floats, handed out in insertion order */
    size_t count;
    size_t hits, resets;
};

int vmemo_new(int dim, size_t capacity, vmemo **out, lore_err *err)
{
    *out = NULL;
    if (dim < 1 || capacity < 1)
        return lore_errf(err, LORE_EINVAL, "vmemo: dimension and capacity must be positive");
    size_t slots = 16;
    while (slots < 2 * capacity)
        slots *= 2;
    vmemo *m = calloc(1, sizeof *m);
    if (m != NULL) {
        m->slots = calloc(slots, sizeof *m->slots);
        m->arena = malloc(capacity * (size_t)dim * sizeof *m->arena);
    }
    if (m == NULL || m->slots == NULL || m->arena == NULL) {
        vmemo_free(m);
        return lore_errf(err, LORE_ENOMEM, "out of memory for a memo of %zu vectors", capacity);
    }
    m->dim = dim;
    m->capacity = capacity;
    m->mask = slots - 1;
    *out = m;
    return 0;
}

static void clear(vmemo *m)
{
    for (size_t i = 0; i <= m->mask; i++)
        free(m->slots[i].text);
    memset(m->slots, 0, (m->mask + 1) * sizeof *m->slots);
    m->count = 0;
}

void vmemo_free(vmemo *m)
{
    if (m == NULL)
        return;
    if (m->slots != NULL)
        clear(m);
    free(m->slots);
    free(m->arena);
    free(m);
}

/* The slot holding text, or the empty slot where it would go. */
static slot *find(vmemo *m, const char *text, size_t len, uint64_t h)
{
    for (size_t i = (size_t)h & m->mask;; i = (i + 1) & m->mask) {
        slot *s = &m->slots[i];
        if (s->text == NULL ||
            (s->hash == h && s->len == len && memcmp(s->text, text, len) == 0))
            return s;
    }
}

const float *vmemo_get(vmemo *m, const char *text, size_t len)
{
    slot *s = find(m, text, len, XXH3_64bits(text, len));
    if (s->text == NULL)
        return NULL;
    m->hits++;
    return s->vec;
}

int vmemo_put(vmemo *m, const char *text, size_t len, const float *vec)
{
    uint64_t h = XXH3_64bits(text, len);
    slot *s = find(m, text, len, h);
    if (s->text != NULL)
        return 0; /* already there: the same text has the same vector */
    if (m->count == m->capacity) {
        clear(m);
        m->resets++;
        s = find(m, text, len, h);
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return LORE_ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    s->hash = h;
    s->text = copy;
    s->len = len;
    s->vec = m->arena + m->count * (size_t)m->dim;
    memcpy(s->vec, vec, (size_t)m->dim * sizeof *vec);
    m->count++;
    return 0;
}

size_t vmemo_hits(const vmemo *m) { return m->hits; }
size_t vmemo_resets(const vmemo *m) { return m->resets; }
size_t vmemo_count(const vmemo *m) { return m->count; }
