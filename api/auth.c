#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coll.h"

typedef struct akey {
    char coll[65]; /* "*" for every collection */
    char *key;
    size_t len;
} akey;

struct auth {
    akey *keys;
    size_t n;
};

int auth_equal(const char *got, size_t got_len, const char *want, size_t want_len)
{
    /* Every byte of `want` is visited whatever `got` holds; a short `got` is read
     * cyclically (when non-empty) so the loop never depends on where a difference is. */
    volatile unsigned char diff = (unsigned char)(got_len != want_len);
    for (size_t i = 0; i < want_len; i++) {
        unsigned char g = got_len ? (unsigned char)got[i % got_len] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)want[i]);
    }
    return diff == 0;
}

void auth_free(auth *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++) {
        memset(a->keys[i].key, 0, a->keys[i].len);
        free(a->keys[i].key);
    }
    free(a->keys);
    free(a);
}

int auth_enabled(const auth *a) { return a != NULL && a->n > 0; }

static int add_key(auth *a, const char *coll, size_t clen, const char *key, size_t klen)
{
    akey *grown = realloc(a->keys, (a->n + 1) * sizeof *grown);
    if (grown == NULL)
        return LORE_ENOMEM;
    a->keys = grown;
    akey *k = &grown[a->n];
    memcpy(k->coll, coll, clen);
    k->coll[clen] = '\0';
    if ((k->key = malloc(klen + 1)) == NULL)
        return LORE_ENOMEM;
    memcpy(k->key, key, klen);
    k->key[klen] = '\0';
    k->len = klen;
    a->n++;
    return 0;
}

int auth_parse(const char *text, const char *name, auth **out, lore_err *err)
{
    *out = NULL;
    auth *a = calloc(1, sizeof *a);
    if (a == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory reading %s", name);
    int rc = 0;
    int line = 0;
    const char *p = text;
    while (rc == 0 && *p) {
        line++;
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        const char *next = eol ? eol + 1 : p + n;
        while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        while (n && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        if (n == 0 || *p == '#') {
            p = next;
            continue;
        }
        size_t c = 0;
        while (c < n && p[c] != ' ' && p[c] != '\t')
            c++;
        size_t k = c;
        while (k < n && (p[k] == ' ' || p[k] == '\t'))
            k++;
        char coll[65];
        if (c == 0 || c > 64 || k == n) {
            rc = lore_errf(err, LORE_EINVAL, "%s:%d: want \"COLLECTION KEY\"", name, line);
            break;
        }
        memcpy(coll, p, c);
        coll[c] = '\0';
        if (strcmp(coll, "*") != 0 && coll_name_valid(coll, NULL) != 0) {
            rc = lore_errf(err, LORE_EINVAL, "%s:%d: bad collection name '%s'", name, line, coll);
            break;
        }
        size_t klen = n - k;
        int printable = 1;
        for (size_t i = k; i < n; i++)
            printable &= p[i] > ' ' && p[i] < 127;
        if (klen < 16 || klen > 256 || !printable) {
            rc = lore_errf(err, LORE_EINVAL,
                           "%s:%d: a key must be 16 to 256 printable characters without spaces",
                           name, line);
            break;
        }
        if (add_key(a, coll, c, p + k, klen) != 0)
            rc = lore_errf(err, LORE_ENOMEM, "out of memory reading %s", name);
        p = next;
    }
    if (rc == 0 && a->n == 0)
        rc = lore_errf(err, LORE_EINVAL, "%s: no keys (want lines \"COLLECTION KEY\")", name);
    if (rc != 0) {
        auth_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int auth_load(const char *path, auth **out, lore_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return lore_errf(err, LORE_EIO, "cannot read keys file %s", path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 24)) {
                rc = lore_errf(err, LORE_EINVAL, "keys file %s is too large", path);
                break;
            }
            char *g = realloc(text, cap);
            if (g == NULL) {
                rc = lore_errf(err, LORE_ENOMEM, "out of memory reading %s", path);
                break;
            }
            text = g;
        }
        size_t got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    if (rc == 0 && ferror(f))
        rc = lore_errf(err, LORE_EIO, "cannot read keys file %s", path);
    fclose(f);
    if (rc == 0) {
        text[len] = '\0';
        if (strlen(text) != len)
            rc = lore_errf(err, LORE_EINVAL, "keys file %s holds a NUL byte", path);
        else
            rc = auth_parse(text, path, out, err);
    }
    if (text) {
        memset(text, 0, len);
        free(text);
    }
    return rc;
}

/* The presented key of a "Bearer KEY" header, or NULL. */
static const char *bearer(const char *header, size_t *len)
{
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    const char *k = header + 7;
    while (*k == ' ')
        k++;
    size_t n = strlen(k);
    while (n && k[n - 1] == ' ')
        n--;
    if (n == 0)
        return NULL;
    *len = n;
    return k;
}

auth_result auth_check(const auth *a, const char *header, const char *collection)
{
    if (!auth_enabled(a))
        return AUTH_OK;
    size_t len;
    const char *k = bearer(header, &len);
    if (k == NULL)
        return AUTH_MISSING;
    int valid = 0, granted = 0;
    /* Every key is compared, matching or not, so timing says nothing about which matched. */
    for (size_t i = 0; i < a->n; i++) {
        int eq = auth_equal(k, len, a->keys[i].key, a->keys[i].len);
        valid |= eq;
        granted |= eq && (collection == NULL || strcmp(a->keys[i].coll, "*") == 0 ||
                          strcmp(a->keys[i].coll, collection) == 0);
    }
    return granted ? AUTH_OK : valid ? AUTH_FORBIDDEN : AUTH_INVALID;
}

int auth_grants(const auth *a, const char *header, const char *collection)
{
    return auth_check(a, header, collection) == AUTH_OK;
}
