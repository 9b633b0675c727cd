/* filesig: a file's identity as the file system sees it (device, inode, size, modification
 * time), to tell cheaply whether a file read earlier was changed or replaced since: a write
 * moves the size or mtime, a replace (rename over it, a re-fetch) the inode.
 *
 * Used where a long-running process keeps what it loaded from a file (the USE model, a
 * collection's config.json) and must notice a new version without re-reading it. Plain data;
 * no ownership or thread concerns. */
#ifndef LORE_FILESIG_H
#define LORE_FILESIG_H

#include <sys/types.h>
#include <time.h>

typedef struct filesig {
    int exists; /* 0: the file could not be stat'ed (the other fields are 0) */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} filesig;

/* Reads path's identity (exists 0 when it is missing or unreadable). */
void filesig_read(const char *path, filesig *out);
/* 1 when both name the same version of a file, or both a missing one. */
int filesig_equal(const filesig *a, const filesig *b);

#endif
