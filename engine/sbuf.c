#include "sbuf.h"

#include "err.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sbuf_grow(sbuf *b, size_t extra)
{
    if (b->cap - b->len > extra)
        return 0;
    /* len + extra + 1 must not wrap: with extra == SIZE_MAX it would wrap to exactly len,
     * which a "need < len" test misses. */
    if (extra > SIZE_MAX - b->len - 1)
        return LORE_ENOMEM;
    size_t need = b->len + extra + 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > ((size_t)-1) / 2)
            return LORE_ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->buf, cap);
    if (p == NULL)
        return LORE_ENOMEM;
    b->buf = p;
    b->cap = cap;
    return 0;
}

int sbuf_add(sbuf *b, const void *data, size_t n)
{
    if (sbuf_grow(b, n) != 0)
        return LORE_ENOMEM;
    if (n > 0)
        memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 0;
}

int sbuf_adds(sbuf *b, const char *s) { return sbuf_add(b, s, strlen(s)); }

int sbuf_addc(sbuf *b, char c) { return sbuf_add(b, &c, 1); }

int sbuf_addf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return LORE_EINVAL;
    if (sbuf_grow(b, (size_t)n) != 0)
        return LORE_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int sbuf_add_json_str(sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* On failure part-way, cut back to the original length: a failed append leaves the
     * contents unchanged (see sbuf.h). */
    size_t len0 = b->len;
    if (sbuf_addc(b, '"') != 0)
        return LORE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* Characters that need no escape go in runs, one append each run. */
        size_t run = i;
        while (run < n && (unsigned char)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            if (sbuf_add(b, s + i, run - i) != 0) {
                b->len = len0;
                b->buf[len0] = '\0';
                return LORE_ENOMEM;
            }
            i = run - 1;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        int rc;
        switch (c) {
        case '"': rc = sbuf_add(b, "\\\"", 2); break;
        case '\\': rc = sbuf_add(b, "\\\\", 2); break;
        case '\n': rc = sbuf_add(b, "\\n", 2); break;
        case '\r': rc = sbuf_add(b, "\\r", 2); break;
        case '\t': rc = sbuf_add(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                rc = sbuf_add(b, esc, sizeof esc);
            } else {
                rc = sbuf_addc(b, (char)c);
            }
        }
        if (rc != 0) {
            b->len = len0;
            b->buf[len0] = '\0';
            return rc;
        }
    }
    if (sbuf_addc(b, '"') != 0) {
        b->len = len0;
        b->buf[len0] = '\0';
        return LORE_ENOMEM;
    }
    return 0;
}

int sbuf_add_json_num(sbuf *b, double d)
{
    if (isnan(d) || isinf(d))
        return sbuf_add(b, "null", 4);
    int whole = d >= INT_MAX ? INT_MAX : d <= INT_MIN ? INT_MIN : (int)d;
    if (d == (double)whole)
        return sbuf_addf(b, "%d", whole);
    char num[32];
    snprintf(num, sizeof num, "%1.15g", d);
    double back = strtod(num, NULL);
    /* cJSON's test: equal within one unit of the larger magnitude's last place. */
    double big = fabs(back) > fabs(d) ? fabs(back) : fabs(d);
    if (!(fabs(back - d) <= big * DBL_EPSILON))
        snprintf(num, sizeof num, "%1.17g", d);
    return sbuf_adds(b, num);
}

void sbuf_reset(sbuf *b)
{
    b->len = 0;
    if (b->buf)
        b->buf[0] = '\0';
}

char *sbuf_detach(sbuf *b)
{
    char *p = b->buf;
    if (p == NULL)
        p = calloc(1, 1);
    b->buf = NULL;
    b->len = b->cap = 0;
    return p;
}

void sbuf_free(sbuf *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

const char *sbuf_str(const sbuf *b) { return b->buf ? b->buf : ""; }
