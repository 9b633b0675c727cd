/* sbuf: a growable byte buffer that is always NUL-terminated.
 *
 * Ownership: the sbuf owns `buf`; sbuf_free releases it, sbuf_detach hands it to the caller
 * (who frees it with free()). An sbuf initialised with SBUF_INIT needs no allocation until
 * the first append. Appends return 0 or LORE_ENOMEM; after a failed append the contents are
 * unchanged. */
#ifndef LORE_SBUF_H
#define LORE_SBUF_H

#include <stddef.h>

typedef struct sbuf {
    char *buf;
    size_t len;
    size_t cap;
} sbuf;

#define SBUF_INIT {NULL, 0, 0}

int sbuf_grow(sbuf *b, size_t extra);
int sbuf_add(sbuf *b, const void *data, size_t n);
int sbuf_adds(sbuf *b, const char *s);
int sbuf_addc(sbuf *b, char c);
int sbuf_addf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
int sbuf_add_json_str(sbuf *b, const char *s, size_t n);
/* Appends d as a JSON number the way cJSON prints one (so text written here reads like
 * cJSON's): a whole number in int range as an integer, otherwise the shortest of %.15g and
 * %.17g that reads back as d; NaN and infinities as null (JSON has no such numbers). */
int sbuf_add_json_num(sbuf *b, double d);
void sbuf_reset(sbuf *b);
/* Returns the contents ("" when empty, never NULL) and leaves b empty; caller frees. */
char *sbuf_detach(sbuf *b);
void sbuf_free(sbuf *b);
/* The contents as a C string; valid until the next append or free. Never NULL. */
const char *sbuf_str(const sbuf *b);

#endif
