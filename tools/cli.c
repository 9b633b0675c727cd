#define _XOPEN_SOURCE 700 /* nftw */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lore: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_size(const char *opt, const char *val, size_t min, size_t max, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (errno || end == val || *end || val[0] == '-' || v < min || v > max) {
        cli_error("%s wants a whole number from %zu to %zu, not '%s'", opt, min, max, val);
        return CLI_USAGE;
    }
    *out = (size_t)v;
    return 0;
}

int cli_double(const char *opt, const char *val, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !(v >= min && v <= max)) {
        cli_error("%s wants a number from %g to %g, not '%s'", opt, min, max, val);
        return CLI_USAGE;
    }
    *out = v;
    return 0;
}

int cli_open(const char *data, const char *name, const coll_open_options *o, coll **out,
             char *dir, size_t dirlen)
{
    lore_err err = {0};
    char root[PATH_MAX];
    if (coll_data_root(data, root, sizeof root, &err) != 0 ||
        coll_dir(root, name ? name : "default", dir, dirlen, &err) != 0) {
        cli_error("%s", err.msg);
        return CLI_USAGE;
    }
    if (coll_open(dir, o, out, &err) != 0) {
        if (err.code == LORE_ENOTFOUND)
            cli_error("no collection '%s' in %s: run lore index first", name ? name : "default",
                      root);
        else
            cli_error("%s", err.msg);
        return CLI_FAIL;
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

int cli_rmtree(const char *path, lore_err *err)
{
    if (access(path, F_OK) != 0)
        return 0;
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return lore_errf(err, LORE_EIO, "removing %s: %s", path, strerror(errno));
    return 0;
}

void cli_print_json(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    if (s != NULL)
        puts(s);
    else
        cli_error("out of memory printing JSON");
    free(s);
    cJSON_Delete(o);
}
