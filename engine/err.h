/* err: the error record every fallible engine call fills.
 *
 * Convention (all modules): a fallible function returns 0 on success and a non-zero
 * LORE_E* code on failure; when it fails and its `err` argument is not NULL, it writes a
 * message there saying what failed and with which input (lower case, no trailing full stop).
 * The record is caller-owned, lives on the stack, and holds no heap memory. */
#ifndef LORE_ERR_H
#define LORE_ERR_H

#include <stddef.h>

enum {
    LORE_OK = 0,
    LORE_EIO = 1,       /* reading or writing a file failed */
    LORE_EINVAL = 2,    /* bad input: malformed data or a bad argument */
    LORE_ENOMEM = 3,    /* allocation failed */
    LORE_EDB = 4,       /* SQLite reported an error */
    LORE_ENET = 5,      /* a remote server failed or could not be reached */
    LORE_ENOTFOUND = 6, /* the named thing does not exist */
    LORE_EINDEX = 7,    /* the vector index failed */
    LORE_EUNSUP = 8,    /* the operation is not supported in this configuration */
    LORE_EBUSY = 9      /* another process holds what the operation needs */
};

typedef struct lore_err {
    int code;
    char msg[1024];
} lore_err;

/* Sets err->code and formats err->msg (truncating safely); returns `code` so callers can
 * write `return lore_errf(err, LORE_EINVAL, "...", ...);`. NULL err is allowed. */
int lore_errf(lore_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context ("context: old message"). */
int lore_err_wrap(lore_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void lore_err_clear(lore_err *err);

#endif
