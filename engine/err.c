#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int lore_errf(lore_err *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = code;
    return code;
}

int lore_err_wrap(lore_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return LORE_EINVAL;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Build "prefix: old" in place: move the old text right, then write the prefix. */
    size_t plen = strlen(prefix);
    size_t olen = strnlen(err->msg, sizeof err->msg - 1);
    if (plen + 2 >= sizeof err->msg)
        plen = sizeof err->msg - 3;
    if (plen + 2 + olen >= sizeof err->msg)
        olen = sizeof err->msg - 3 - plen;
    memmove(err->msg + plen + 2, err->msg, olen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen] = ':';
    err->msg[plen + 1] = ' ';
    err->msg[plen + 2 + olen] = '\0';
    return err->code;
}

void lore_err_clear(lore_err *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}
