/* bench_sys: machine description, command line, clock, tree removal and latency statistics
 * for `lore bench` (see bench_internal.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "bench_internal.h"

#include "sbuf.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Copies the value after the first ':' or '=' of line into out, trimmed and unquoted. */
static void value_of(const char *line, char sep, char *out, size_t outlen)
{
    const char *p = strchr(line, sep);
    if (p == NULL)
        return;
    p++;
    while (*p == ' ' || *p == '\t' || *p == '"')
        p++;
    size_t n = strcspn(p, "\n");
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '"' || p[n - 1] == '\r'))
        n--;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

double bench_load1(void)
{
    double v = 0.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &v) != 1)
            v = 0.0;
        fclose(f);
    }
    return v;
}

void bench_machine_get(bench_machine *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->cpu, sizeof m->cpu, "unknown");
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                value_of(line, ':', m->cpu, sizeof m->cpu);
                break;
            }
        fclose(f);
    }
    m->cores = sysconf(_SC_NPROCESSORS_ONLN);
    if ((f = fopen("/proc/meminfo", "r")) != NULL) {
        while (fgets(line, sizeof line, f)) {
            unsigned long long kb;
            if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
                m->mem_gib = (double)kb / (1024.0 * 1024.0);
                break;
            }
        }
        fclose(f);
    }
    m->load1 = bench_load1();
    struct utsname u;
    int have_uname = uname(&u) == 0;
    if (have_uname) {
        snprintf(m->kernel, sizeof m->kernel, "%.40s %.60s %.20s", u.sysname, u.release,
                 u.machine);
        snprintf(m->os, sizeof m->os, "%s", u.sysname);
    } else {
        snprintf(m->kernel, sizeof m->kernel, "unknown");
        snprintf(m->os, sizeof m->os, "unknown");
    }
    if ((f = fopen("/etc/os-release", "r")) != NULL) {
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
                value_of(line, '=', m->os, sizeof m->os);
                break;
            }
        fclose(f);
    }
}

/* Appends a word, single-quoted when it holds anything a shell would interpret. */
static int add_word(sbuf *b, const char *w, size_t n)
{
    int plain = n > 0;
    for (size_t i = 0; i < n && plain; i++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       "-_./=:,+@%", w[i]) != NULL && w[i] != '\0';
    if (b->len && sbuf_addc(b, ' ') != 0)
        return LORE_ENOMEM;
    if (plain)
        return sbuf_add(b, w, n);
    int rc = sbuf_addc(b, '\'');
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = w[i] == '\'' ? sbuf_adds(b, "'\\''") : sbuf_addc(b, w[i]);
    return rc ? rc : sbuf_addc(b, '\'');
}

char *bench_command_line(int argc, char **argv)
{
    sbuf b = SBUF_INIT;
    int rc = 0;
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (f) {
        char buf[8192];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        size_t start = 0;
        for (size_t i = 0; i < n && rc == 0; i++)
            if (buf[i] == '\0') {
                rc = add_word(&b, buf + start, i - start);
                start = i + 1;
            }
        if (n == sizeof buf) /* longer than anyone types: say so rather than cut silently */
            rc |= sbuf_adds(&b, " ...");
    }
    if (rc == 0 && b.len == 0) {
        rc = add_word(&b, "lore", 4);
        for (int i = 0; i < argc && rc == 0; i++)
            rc = add_word(&b, argv[i], strlen(argv[i]));
    }
    if (rc != 0) {
        sbuf_free(&b);
        return NULL;
    }
    return sbuf_detach(&b);
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

int bench_rmtree(const char *path, lore_err *err)
{
    if (access(path, F_OK) != 0)
        return 0;
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return lore_errf(err, LORE_EIO, "removing %s: %s", path, strerror(errno));
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double nearest_rank(const double *sorted, size_t n, double pct)
{
    size_t r = (size_t)ceil(pct / 100.0 * (double)n);
    return sorted[r == 0 ? 0 : r - 1];
}

void bench_latency_summarise(double *ms, size_t n, bench_latency *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n == 0)
        return;
    qsort(ms, n, sizeof *ms, cmp_double);
    for (size_t i = 0; i < n; i++)
        out->total_ms += ms[i];
    out->mean = out->total_ms / (double)n;
    out->p50 = nearest_rank(ms, n, 50);
    out->p95 = nearest_rank(ms, n, 95);
    out->p99 = nearest_rank(ms, n, 99);
    out->max = ms[n - 1];
    out->qps = out->total_ms > 0 ? (double)n * 1000.0 / out->total_ms : 0.0;
}
