/* auth: the query service's API keys, per collection.
 *
 * A keys file has one key per line: "COLLECTION KEY", where COLLECTION is a collection name
 * or "*" for every collection; blank lines and lines starting with '#' are ignored. Keys are
 * 16 to 256 printable ASCII characters without spaces. With no keys file the service is open.
 *
 * Requests carry "Authorization: Bearer KEY". auth_check compares the presented key with
 * every configured key in time that depends only on the configured keys' lengths, never on
 * where the first differing byte is, so response times do not leak a key byte by byte.
 *
 * Ownership: auth_load returns keys freed with auth_free. Threads: read-only after loading,
 * so any number of threads may call auth_check at once. */
#ifndef LORE_API_AUTH_H
#define LORE_API_AUTH_H

#include <stddef.h>

#include "err.h"

typedef struct auth auth;

typedef enum auth_result {
    AUTH_OK = 0,        /* the key grants the collection (or no keys are configured) */
    AUTH_MISSING = 1,   /* no usable Bearer credentials: 401 */
    AUTH_INVALID = 2,   /* a key no one configured: 401 */
    AUTH_FORBIDDEN = 3  /* a valid key, but not for this collection: 403 */
} auth_result;

/* Reads a keys file; errors name the file and line (never the key). */
int auth_load(const char *path, auth **out, lore_err *err);
/* Parses keys from memory (for tests); `name` goes into error messages. */
int auth_parse(const char *text, const char *name, auth **out, lore_err *err);
void auth_free(auth *a);
/* 1 when keys are configured: a NULL auth means an open service. */
int auth_enabled(const auth *a);

/* header: the Authorization header's value (NULL when absent). collection NULL: any
 * collection will do (e.g. listing collections). */
auth_result auth_check(const auth *a, const char *header, const char *collection);
/* 1 when the request's key grants `collection` (for filtering lists). */
int auth_grants(const auth *a, const char *header, const char *collection);

/* Constant-time equality of a presented secret and a configured one: the time depends only
 * on the length of `want`. Exposed for tests. */
int auth_equal(const char *got, size_t got_len, const char *want, size_t want_len);

#endif
