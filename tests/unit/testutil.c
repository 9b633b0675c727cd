#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void tu_mkdtemp(const char *tag, char *buf, size_t len)
{
    const char *t = getenv("TMPDIR");
    int n = snprintf(buf, len, "%s/lore-test-%s-XXXXXX", t && *t ? t : "/tmp", tag);
    assert_true(n > 0 && (size_t)n < len);
    if (mkdtemp(buf) == NULL)
        fail_msg("mkdtemp %s: %s", buf, strerror(errno));
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

void tu_rm_rf(const char *path) { (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

const char *tu_fake_path(const char *name)
{
    static char path[1024];
    const char *b = getenv("LORE_BUILD_DIR");
    snprintf(path, sizeof path, "%s/%s", b && *b ? b : ".", name);
    if (access(path, X_OK) != 0)
        fail_msg("fake server %s is not built (LORE_BUILD_DIR=%s)", path, b ? b : "");
    return path;
}

void tu_fake_start(tu_fake *f, const char *log, int max_seconds, const char *const *extra)
{
    memset(f, 0, sizeof *f);
    snprintf(f->log, sizeof f->log, "%s", log);
    const char *exe = tu_fake_path("fake_openai");
    char secs[16];
    snprintf(secs, sizeof secs, "%d", max_seconds);
    const char *argv[64];
    int argc = 0;
    argv[argc++] = exe;
    argv[argc++] = "--max-seconds";
    argv[argc++] = secs;
    argv[argc++] = "--log";
    argv[argc++] = f->log;
    for (int i = 0; extra != NULL && extra[i] != NULL && argc < 62; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* If the test dies, the fake goes with it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        close(fds[0]);
        if (dup2(fds[1], STDOUT_FILENO) < 0)
            _exit(126);
        close(fds[1]);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    f->pid = pid;

    /* The fake prints "PORT=N\n" once it listens. */
    char line[64];
    size_t len = 0;
    while (len + 1 < sizeof line && (len == 0 || line[len - 1] != '\n')) {
        struct pollfd p = {fds[0], POLLIN, 0};
        int r = poll(&p, 1, 10000);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            fail_msg("fake server %s printed no port within 10 s", exe);
        ssize_t got = read(fds[0], line + len, sizeof line - 1 - len);
        if (got <= 0)
            fail_msg("fake server %s exited before printing its port", exe);
        len += (size_t)got;
    }
    line[len] = '\0';
    close(fds[0]);
    assert_int_equal(sscanf(line, "PORT=%d", &f->port), 1);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/v1", f->port);
}

void tu_fake_stop(tu_fake *f)
{
    if (f->pid <= 0)
        return;
    assert_int_equal(kill(f->pid, SIGTERM), 0);
    int status = 0;
    assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
    f->pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

cJSON *tu_fake_log(const tu_fake *f)
{
    cJSON *all = cJSON_CreateArray();
    assert_non_null(all);
    FILE *fp = fopen(f->log, "r");
    if (fp == NULL)
        return all;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, fp)) > 0) {
        cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
        if (j == NULL)
            fail_msg("%s: a logged request is not JSON: %.80s", f->log, line);
        cJSON_AddItemToArray(all, j);
    }
    free(line);
    fclose(fp);
    return all;
}
