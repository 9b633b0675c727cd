/* bench_serve: `lore bench --serve`, the HTTP service under load.
 *
 * Indexes the sample help center (corpus/) into a scratch data directory, starts this very
 * binary as `lore serve` on 127.0.0.1 (a free port), and drives it with wrk (Debian's wrk
 * package) for a bounded time:
 *   1. POST /v1/search at --connections (default 32), the corpus's labelled queries in turn;
 *   2. POST /v1/answer (extractive, answer cache off) at the same concurrency;
 *   3. a --reload-seconds run (default 60) at --reload-connections (default 64), three
 *      searches to one extractive answer, while this process re-indexes a changed copy of
 *      the corpus again and again: every reply must be 2xx (or a deliberate 429), with no
 *      socket errors;
 *   4. /v1/search again with the answer and search caches on (a second server), the queries
 *      repeating as they cycle.
 * Runs 1 to 3 have the caches off, so every request does the whole pipeline.
 * A wrk Lua script cycles through the queries and counts replies by status; wrk's own
 * percentiles give p50 and p99. The server is stopped with SIGTERM and must exit 0. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench_internal.h"

extern char **environ;

typedef struct wrk_result {
    int ran;
    double rps, p50_ms, p99_ms, seconds;
    long long requests, s2xx, s429, sother;
    long long e_connect, e_read, e_write, e_timeout;
} wrk_result;

typedef struct bs_args {
    const char *embedder, *data;
    size_t connections, reload_connections, seconds, reload_seconds, workers, threads;
    int json, no_reload;
} bs_args;

static void usage(FILE *f)
{
    fputs("usage: lore bench --serve [options]\n\n"
          "Load-tests `lore serve` on 127.0.0.1 with wrk: POST /v1/search and POST\n"
          "/v1/answer (extractive, cache off) requests per second with p50/p99 latency, then\n"
          "a run with a concurrent re-index (three searches to one answer) that must show\n"
          "no failed request (429s are counted apart), then search with the caches on.\n"
          "Uses the sample help center in corpus/.\n\n"
          "options:\n"
          "      --seconds N              length of each measured run (default 10)\n"
          "      --connections N          concurrent connections (default 32)\n"
          "      --reload-seconds N       length of the re-index run (default 60)\n"
          "      --reload-connections N   its connections (default 64)\n"
          "      --no-reload              skip the re-index run\n"
          "      --workers N              the server's --workers (default: 2 per core)\n"
          "      --threads N              wrk threads (default 2)\n"
          "      --embedder SPEC          embedder of the collection (default use)\n"
          "      --data DIR               scratch data directory (default: a temporary one,\n"
          "                               removed at the end)\n"
          "      --json                   one JSON object instead of a table\n"
          "  -h, --help                   this help\n",
          f);
}

/* Runs argv with stdout and stderr to `out` (NULL: inherit); returns the pid. */
static pid_t spawn(char *const *argv, const char *out)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out) {
        posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
    }
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_wait(char *const *argv, const char *out)
{
    pid_t pid = spawn(argv, out);
    return pid < 0 ? -1 : wait_status(pid);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The repository's corpus/: $LORE_SOURCE_DIR, ./corpus, or beside the build directory. */
static int find_corpus(char *buf, size_t len)
{
    const char *env = getenv("LORE_SOURCE_DIR");
    struct stat st;
    if (env && snprintf(buf, len, "%s/corpus", env) < (int)len && stat(buf, &st) == 0)
        return 0;
    if (snprintf(buf, len, "corpus") < (int)len && stat("corpus/queries.jsonl", &st) == 0)
        return 0;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    if (snprintf(buf, len, "%s/../corpus", exe) < (int)len && stat(buf, &st) == 0)
        return 0;
    return -1;
}

/* The wrk script: cycles through the request bodies, counts replies by status, and prints
 * one LORE_RESULT line from done(). mode: "search", "answer" or "mixed". */
static int write_script(const char *path, const char *queries, const char *mode)
{
    FILE *in = fopen(queries, "r");
    FILE *f = fopen(path, "w");
    if (in == NULL || f == NULL) {
        if (in)
            fclose(in);
        if (f)
            fclose(f);
        return -1;
    }
    fputs("local bodies = {\n", f);
    char line[8192];
    size_t n = 0;
    while (fgets(line, sizeof line, in)) {
        cJSON *q = cJSON_Parse(line);
        cJSON *t = cJSON_GetObjectItemCaseSensitive(q, "text");
        if (cJSON_IsString(t)) {
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "question", t->valuestring);
            char *s = cJSON_PrintUnformatted(b);
            /* Lua long brackets hold the JSON verbatim. */
            if (s && strstr(s, "]==]") == NULL) {
                fprintf(f, "  [==[%s]==],\n", s);
                n++;
            }
            free(s);
            cJSON_Delete(b);
        }
        cJSON_Delete(q);
    }
    fclose(in);
    fprintf(f, "}\nlocal mode = \"%s\"\n", mode);
    fputs("local threads = {}\n"
          "function setup(thread) table.insert(threads, thread) end\n"
          "local i = 0\n"
          "counts = {}\n"
          "function init(args) i = math.random(#bodies) end\n"
          "function request()\n"
          "  i = i + 1\n"
          "  local b = bodies[(i % #bodies) + 1]\n"
          "  local path = \"/v1/search\"\n"
          "  if mode == \"answer\" or (mode == \"mixed\" and i % 4 == 0) then\n"
          "    path = \"/v1/answer\"\n"
          "    b = string.sub(b, 1, -2) .. ',\"extractive\":true}'\n"
          "  end\n"
          "  return wrk.format(\"POST\", path, {[\"Content-Type\"] = \"application/json\"}, b)\n"
          "end\n"
          "function response(status, headers, body)\n"
          "  counts[status] = (counts[status] or 0) + 1\n"
          "end\n"
          "function done(summary, latency, requests)\n"
          "  local c2, c429, other = 0, 0, 0\n"
          "  for _, t in ipairs(threads) do\n"
          "    local c = t:get(\"counts\")\n"
          "    for s, k in pairs(c) do\n"
          "      if s >= 200 and s < 300 then c2 = c2 + k elseif s == 429 then c429 = c429 + k\n"
          "      else other = other + k end\n"
          "    end\n"
          "  end\n"
          "  local e = summary.errors\n"
          "  io.write(string.format(\"LORE_RESULT requests=%d duration_us=%d p50_us=%d \" ..\n"
          "    \"p99_us=%d s2xx=%d s429=%d sother=%d connect=%d read=%d write=%d timeout=%d\\n\",\n"
          "    summary.requests, summary.duration,\n"
          "    latency:percentile(50), latency:percentile(99),\n"
          "    c2, c429, other, e.connect, e.read, e.write, e.timeout))\n"
          "end\n",
          f);
    int bad = ferror(f);
    fclose(f);
    return bad || n == 0 ? -1 : 0;
}

static int parse_result(const char *path, wrk_result *r)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[1024];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        long long dur, p50, p99;
        if (sscanf(line,
                   "LORE_RESULT requests=%lld duration_us=%lld p50_us=%lld p99_us=%lld "
                   "s2xx=%lld s429=%lld sother=%lld connect=%lld read=%lld write=%lld "
                   "timeout=%lld",
                   &r->requests, &dur, &p50, &p99, &r->s2xx, &r->s429, &r->sother,
                   &r->e_connect, &r->e_read, &r->e_write, &r->e_timeout) == 11) {
            r->seconds = (double)dur / 1e6;
            r->rps = r->seconds > 0 ? (double)r->requests / r->seconds : 0;
            r->p50_ms = (double)p50 / 1000.0;
            r->p99_ms = (double)p99 / 1000.0;
            r->ran = 1;
            found = 1;
        }
    }
    fclose(f);
    return found ? 0 : -1;
}

static int run_wrk(const char *url, const char *script, const char *out, size_t threads,
                   size_t conns, size_t seconds, wrk_result *r)
{
    char t[32], c[32], d[32];
    snprintf(t, sizeof t, "-t%zu", threads);
    snprintf(c, sizeof c, "-c%zu", conns);
    snprintf(d, sizeof d, "-d%zus", seconds);
    char *argv[] = {"wrk", t, c, d, "--timeout", "10s", "--latency", "-s", (char *)script,
                    (char *)url, NULL};
    memset(r, 0, sizeof *r);
    int st = run_wait(argv, out);
    if (st != 0) {
        cli_error("wrk failed (exit status %d); its output is in %s", st, out);
        return -1;
    }
    if (parse_result(out, r) != 0) {
        cli_error("no result line in wrk's output %s", out);
        return -1;
    }
    return 0;
}

static long long failures(const wrk_result *r)
{
    return r->sother + r->e_connect + r->e_read + r->e_write + r->e_timeout;
}

static cJSON *result_json(const wrk_result *r, size_t conns)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "connections", (double)conns);
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    cJSON_AddNumberToObject(o, "requests", (double)r->requests);
    cJSON_AddNumberToObject(o, "rps", r->rps);
    cJSON_AddNumberToObject(o, "p50_ms", r->p50_ms);
    cJSON_AddNumberToObject(o, "p99_ms", r->p99_ms);
    cJSON_AddNumberToObject(o, "status_2xx", (double)r->s2xx);
    cJSON_AddNumberToObject(o, "status_429", (double)r->s429);
    cJSON_AddNumberToObject(o, "failed", (double)failures(r));
    return o;
}

static void print_row(const char *name, const wrk_result *r, size_t conns)
{
    printf("%-28s %5zu %9.0f %9.2f %9.2f %10lld %7lld %7lld\n", name, conns, r->rps, r->p50_ms,
           r->p99_ms, r->requests, r->s429, failures(r));
}

static int parse(int argc, char **argv, bs_args *a)
{
    static const struct option opts[] = {
        {"serve", no_argument, NULL, 'Z'},
        {"seconds", required_argument, NULL, 's'},
        {"connections", required_argument, NULL, 'c'},
        {"reload-seconds", required_argument, NULL, 'S'},
        {"reload-connections", required_argument, NULL, 'C'},
        {"no-reload", no_argument, NULL, 'n'},
        {"workers", required_argument, NULL, 'w'},
        {"threads", required_argument, NULL, 't'},
        {"embedder", required_argument, NULL, 'E'},
        {"data", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'Z': break;
        case 's':
            if (cli_size("--seconds", optarg, 1, 3600, &a->seconds)) return CLI_USAGE;
            break;
        case 'c':
            if (cli_size("--connections", optarg, 1, 4096, &a->connections)) return CLI_USAGE;
            break;
        case 'S':
            if (cli_size("--reload-seconds", optarg, 1, 3600, &a->reload_seconds))
                return CLI_USAGE;
            break;
        case 'C':
            if (cli_size("--reload-connections", optarg, 1, 4096, &a->reload_connections))
                return CLI_USAGE;
            break;
        case 'n': a->no_reload = 1; break;
        case 'w':
            if (cli_size("--workers", optarg, 1, 256, &a->workers)) return CLI_USAGE;
            break;
        case 't':
            if (cli_size("--threads", optarg, 1, 64, &a->threads)) return CLI_USAGE;
            break;
        case 'E': a->embedder = optarg; break;
        case 'D': a->data = optarg; break;
        case 'j': a->json = 1; break;
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("bench --serve takes no arguments, got '%s'", argv[optind]);
        return CLI_USAGE;
    }
    return 0;
}

/* Starts `lore serve`; fills url and pid. */
static int start_server(const char *data, const bs_args *a, int caches, const char *log,
                        char *url, size_t urllen, pid_t *pid)
{
    char workers[32];
    snprintf(workers, sizeof workers, "%zu", a->workers);
    char *size = caches ? "4096" : "0";
    char *argv[] = {"/proc/self/exe", "serve", "--listen", "127.0.0.1:0", "--data",
                    (char *)data, "--workers", workers, "--max-inflight", "1024",
                    "--cache-size", size, "--search-cache-size", size,
                    "--access-log", "/dev/null", NULL};
    /* /proc/self/exe names the child itself after the exec, so resolve it now. */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    argv[0] = exe;
    *pid = spawn(argv, log);
    if (*pid < 0)
        return -1;
    for (int i = 0; i < 600; i++) {
        FILE *f = fopen(log, "r");
        char line[512];
        unsigned port = 0;
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "lore serve: listening on http://127.0.0.1:%u", &port) == 1)
                break;
        if (f)
            fclose(f);
        if (port) {
            snprintf(url, urllen, "http://127.0.0.1:%u", port);
            return 0;
        }
        if (waitpid(*pid, NULL, WNOHANG) == *pid)
            return -1;
        sleep_ms(50);
    }
    return -1;
}

int bench_serve_main(int argc, char **argv)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    bs_args a = {"use", NULL, 32, 64, 10, 60, (size_t)(cores > 1 ? 2 * cores : 2), 2, 0, 0};
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? CLI_OK : rc;
    char *probe[] = {"wrk", "--version", NULL};
    if (run_wait(probe, "/dev/null") < 0) {
        cli_error("wrk is not installed (tools/setup.sh installs it)");
        return CLI_FAIL;
    }
    char corpus[PATH_MAX];
    if (find_corpus(corpus, sizeof corpus) != 0) {
        cli_error("cannot find corpus/ (run from the repository or set LORE_SOURCE_DIR)");
        return CLI_USAGE;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        cli_error("cannot find this program's path");
        return CLI_FAIL;
    }
    exe[n] = '\0';
    char scratch[] = "/tmp/lore-bench-serve.XXXXXX";
    if (mkdtemp(scratch) == NULL) {
        cli_error("cannot create a scratch directory: %s", strerror(errno));
        return CLI_FAIL;
    }
    char data[PATH_MAX], src[PATH_MAX], articles[PATH_MAX + 16], queries[PATH_MAX + 16];
    char log[PATH_MAX], script[PATH_MAX], wout[PATH_MAX], ilog[PATH_MAX], changed[PATH_MAX + 64];
    if (a.data)
        snprintf(data, sizeof data, "%s", a.data);
    else
        snprintf(data, sizeof data, "%s/data", scratch);
    snprintf(src, sizeof src, "%s/src", scratch);
    snprintf(articles, sizeof articles, "%s/articles", corpus);
    snprintf(queries, sizeof queries, "%s/queries.jsonl", corpus);
    snprintf(log, sizeof log, "%s/serve.log", scratch);
    snprintf(ilog, sizeof ilog, "%s/index.log", scratch);
    snprintf(script, sizeof script, "%s/bench.lua", scratch);
    snprintf(wout, sizeof wout, "%s/wrk.out", scratch);
    snprintf(changed, sizeof changed, "%s/reindexed-article.md", src);
    lore_err err = {0};
    pid_t server = -1;
    wrk_result rs, ra, rr, rc2;
    memset(&rr, 0, sizeof rr);
    memset(&rc2, 0, sizeof rc2);
    int reindexes = 0, reindex_failed = 0, server_status = -1;
    rc = CLI_FAIL;

    char *cp[] = {"cp", "-r", articles, src, NULL};
    if (run_wait(cp, NULL) != 0) {
        cli_error("cannot copy %s", articles);
        goto done;
    }
    fprintf(stderr, "bench --serve: indexing %s (embedder %s)\n", articles, a.embedder);
    char *idx[] = {exe, "index", src, "--data", data, "--embedder", (char *)a.embedder, "-q", NULL};
    if (run_wait(idx, ilog) != 0) {
        cli_error("indexing failed; see %s", ilog);
        goto done;
    }
    char url[64];
    if (start_server(data, &a, 0, log, url, sizeof url, &server) != 0) {
        cli_error("lore serve did not start; see %s", log);
        goto done;
    }
    fprintf(stderr, "bench --serve: server at %s\n", url);
    if (write_script(script, queries, "search") != 0) {
        cli_error("cannot write the wrk script from %s", queries);
        goto done;
    }
    wrk_result warm;
    /* Warm-up: every worker opens the collection (and loads the embedder) once. */
    if (run_wrk(url, script, wout, a.threads, a.workers * 2, 3, &warm) != 0)
        goto done;
    fprintf(stderr, "bench --serve: /v1/search, %zu connections, %zu s\n", a.connections,
            a.seconds);
    if (run_wrk(url, script, wout, a.threads, a.connections, a.seconds, &rs) != 0)
        goto done;
    if (write_script(script, queries, "answer") != 0)
        goto done;
    fprintf(stderr, "bench --serve: /v1/answer (extractive), %zu connections, %zu s\n",
            a.connections, a.seconds);
    if (run_wrk(url, script, wout, a.threads, a.connections, a.seconds, &ra) != 0)
        goto done;
    if (!a.no_reload) {
        if (write_script(script, queries, "mixed") != 0)
            goto done;
        fprintf(stderr, "bench --serve: search + answer, %zu connections, %zu s, re-indexing "
                        "meanwhile\n", a.reload_connections, a.reload_seconds);
        char t[32], c[32], d[32];
        snprintf(t, sizeof t, "-t%zu", a.threads);
        snprintf(c, sizeof c, "-c%zu", a.reload_connections);
        snprintf(d, sizeof d, "-d%zus", a.reload_seconds);
        char *wargv[] = {"wrk", t, c, d, "--timeout", "10s", "--latency", "-s", script, url, NULL};
        pid_t w = spawn(wargv, wout);
        if (w < 0) {
            cli_error("cannot run wrk");
            goto done;
        }
        int wst = -1;
        while (waitpid(w, &wst, WNOHANG) == 0) {
            /* A changed article each round, so every run commits and publishes. */
            FILE *f = fopen(changed, "w");
            if (f) {
                fprintf(f, "---\nid: kb-bench\ntitle: Re-index round %d\n---\n\nThis article "
                           "changes in every re-index round (%d) of the serving benchmark.\n",
                        reindexes, reindexes);
                fclose(f);
            }
            char *ri[] = {exe, "index", src, "--data", data, "-q", NULL};
            if (run_wait(ri, ilog) != 0)
                reindex_failed++;
            reindexes++;
            sleep_ms(500);
        }
        if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0 || parse_result(wout, &rr) != 0) {
            cli_error("wrk failed during the re-index run; its output is in %s", wout);
            goto done;
        }
    }
    /* The same search traffic with the caches on: the corpus's queries repeat, as
     * customers' questions do, so this measures the service answering from its cache. */
    kill(server, SIGTERM);
    server_status = wait_status(server);
    server = -1;
    if (server_status != 0) {
        cli_error("lore serve exited with status %d after SIGTERM; see %s", server_status, log);
        goto done;
    }
    if (start_server(data, &a, 1, log, url, sizeof url, &server) != 0) {
        cli_error("lore serve did not start; see %s", log);
        goto done;
    }
    if (write_script(script, queries, "search") != 0 ||
        run_wrk(url, script, wout, a.threads, a.workers * 2, 3, &warm) != 0)
        goto done;
    fprintf(stderr, "bench --serve: /v1/search with the cache on, %zu connections, %zu s\n",
            a.connections, a.seconds);
    if (run_wrk(url, script, wout, a.threads, a.connections, a.seconds, &rc2) != 0)
        goto done;
    rc = CLI_OK;
done:
    if (server > 0) {
        kill(server, SIGTERM);
        server_status = wait_status(server);
        if (server_status != 0 && rc == CLI_OK) {
            cli_error("lore serve exited with status %d after SIGTERM; see %s", server_status,
                      log);
            rc = CLI_FAIL;
        }
    }
    if (rc == CLI_OK) {
        int reload_ok = a.no_reload || (failures(&rr) == 0 && reindex_failed == 0 &&
                                         rr.requests > 0);
        if (a.json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "embedder", a.embedder);
            cJSON_AddNumberToObject(o, "workers", (double)a.workers);
            cJSON_AddItemToObject(o, "search", result_json(&rs, a.connections));
            cJSON_AddItemToObject(o, "answer_extractive", result_json(&ra, a.connections));
            cJSON_AddItemToObject(o, "search_cached", result_json(&rc2, a.connections));
            if (!a.no_reload) {
                cJSON *x = result_json(&rr, a.reload_connections);
                cJSON_AddNumberToObject(x, "reindex_runs", reindexes);
                cJSON_AddNumberToObject(x, "reindex_failed", reindex_failed);
                cJSON_AddItemToObject(o, "reload", x);
            }
            cJSON_AddNumberToObject(o, "server_exit_status", server_status);
            cli_print_json(o);
        } else {
            bench_machine m;
            bench_machine_get(&m);
            printf("lore bench --serve: %s, %ld cores, load %.2f; embedder %s, %zu workers, "
                   "wrk on the same machine\n\n", m.cpu, m.cores, m.load1, a.embedder,
                   a.workers);
            printf("caches off except in the \"cache on\" row, where the corpus's queries "
                   "repeat\n");
            printf("%-28s %5s %9s %9s %9s %10s %7s %7s\n", "run", "conns", "req/s", "p50 ms",
                   "p99 ms", "requests", "429s", "failed");
            print_row("search", &rs, a.connections);
            print_row("answer (extractive)", &ra, a.connections);
            if (!a.no_reload)
                print_row("search+answer, re-indexing", &rr, a.reload_connections);
            print_row("search, cache on", &rc2, a.connections);
            if (!a.no_reload)
                printf("\nre-index runs during the re-indexing run: %d (%d failed)\n", reindexes,
                       reindex_failed);
            printf("server exit status after SIGTERM: %d\n", server_status);
        }
        if (!reload_ok) {
            cli_error("the re-index run had %lld failed requests and %d failed re-indexes "
                      "(%lld requests in all)", failures(&rr), reindex_failed, rr.requests);
            rc = CLI_FAIL;
        }
    }
    if (rc == CLI_OK) {
        if (bench_rmtree(scratch, &err) != 0)
            cli_error("%s", err.msg);
    } else {
        fprintf(stderr, "bench --serve: scratch files kept in %s\n", scratch);
    }
    return rc;
}
