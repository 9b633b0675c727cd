/* fake_openai: a fake OpenAI-compatible server for tests, on 127.0.0.1.
 *
 * Standalone: it links libmicrohttpd and cJSON only, never the lore library, so a bug in the
 * engine cannot hide itself by also being in the fake.
 *
 * Output protocol: the first line on stdout is "PORT=<n>\n" (flushed) once the server
 * listens; with --port-file F the port is also written to F (atomically: temp file + rename).
 * On exit it prints "fake_openai: served <n> requests" on stderr.
 *
 * Routes:
 *   POST /v1/embeddings   {"model": M, "input": "text" | ["text", ...]}
 *                         -> {"object": "list", "data": [{"object": "embedding", "index": i,
 *                              "embedding": [...]}], "model": M, "usage": {...}}
 *                         Vectors are deterministic functions of the text (FNV-1a seed,
 *                         splitmix64 stream, values in [-1, 1), NOT normalised), so identical
 *                         texts get identical vectors and different texts differ. An empty
 *                         string input is a 400, as with OpenAI.
 * More routes (e.g. /v1/chat/completions) go into the `routes` table.
 *
 * Flags:
 *   --port N              listen port (0 = any free port; default 0)
 *   --port-file F         also write the port number to F
 *   --dim N               embedding dimension (default 16)
 *   --fail-first N        the first N requests answer --fail-status (default 500) with an
 *   --fail-status S       OpenAI-style {"error": {...}} body
 *   --retry-after SEC     add "Retry-After: SEC" to those failures
 *   --delay-ms N          sleep N ms before answering each request
 *   --require-key KEY     401 unless "Authorization: Bearer KEY"
 *   --log FILE            append one JSON line per request: {"seq", "method", "path",
 *                         "status", "authorization" (string or null), "model", "n_inputs",
 *                         "inputs": [...]} ("n_inputs" is -1 when the body had no input)
 *   --malformed           answer embeddings requests with truncated, invalid JSON
 *   --reverse             list "data" items in reverse order (clients must use "index")
 *   --drop-last           leave the last item out of "data"
 *   --dim-change-after N  requests after the Nth answer with vectors of dim + 1
 *   --max-seconds N       exit by itself after N seconds (default 600)
 * SIGTERM or SIGINT stop it cleanly (exit status 0); so does --max-seconds running out.
 *
 * Order of checks per request: delay, then --require-key, then --fail-first (counted over
 * all requests, 1-based), then the route. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_BODY (64u * 1024u * 1024u)

static struct {
    long port;
    const char *port_file;
    long dim;
    long fail_first;
    long fail_status;
    long retry_after;
    long delay_ms;
    const char *require_key;
    const char *log_path;
    int malformed;
    int reverse;
    int drop_last;
    long dim_change_after;
    long max_seconds;
} cfg = {0, NULL, 16, 0, 500, -1, 0, NULL, NULL, 0, 0, 0, -1, 600};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long n_requests; /* guarded by mu */
static FILE *log_fp;             /* guarded by mu */

/* ---- request / reply plumbing shared by all routes ---- */

typedef struct request {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const char *body;
    size_t len;
    cJSON *json; /* the body parsed, or NULL when it is not JSON */
    unsigned long seq;
} request;

typedef struct reply {
    int status;
    char *body; /* malloc'd (cJSON_Print* or strdup-like); freed by the caller */
    long retry_after;
} reply;

typedef void (*route_fn)(const request *rq, reply *rp);

static char *copy_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

/* OpenAI's error shape: {"error": {"message", "type", "param", "code"}}. */
static void error_reply(reply *rp, int status, const char *type, const char *message)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddNullToObject(e, "param");
    cJSON_AddNullToObject(e, "code");
    rp->status = status;
    rp->body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
}

static void json_reply(reply *rp, cJSON *root)
{
    rp->status = 200;
    rp->body = cJSON_PrintUnformatted(root);
    if (rp->body == NULL)
        error_reply(rp, 500, "server_error", "fake: out of memory printing the reply");
}

/* ---- POST /v1/embeddings ---- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3u;
    }
    return h;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static cJSON *fake_vector(const char *text, long dim)
{
    cJSON *arr = cJSON_CreateArray();
    uint64_t st = fnv1a(text);
    for (long j = 0; arr != NULL && j < dim; j++) {
        double u = (double)(splitmix64(&st) >> 11) * (1.0 / 9007199254740992.0);
        cJSON *x = cJSON_CreateNumber(u * 2.0 - 1.0);
        if (x == NULL || !cJSON_AddItemToArray(arr, x)) {
            cJSON_Delete(x);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

static void handle_embeddings(const request *rq, reply *rp)
{
    if (cfg.malformed) {
        rp->status = 200;
        rp->body = copy_str("{\"object\": \"list\", \"data\": [{\"index\": 0, \"embedding\": [0.1, ");
        return;
    }
    if (rq->json == NULL) {
        error_reply(rp, 400, "invalid_request_error", "fake: body is not valid JSON");
        return;
    }
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(rq->json, "input");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(rq->json, "model");
    cJSON *one = NULL;
    if (cJSON_IsString(input)) {
        one = cJSON_CreateArray();
        cJSON_AddItemToArray(one, cJSON_CreateString(input->valuestring));
        input = one;
    }
    if (!cJSON_IsArray(input) || cJSON_GetArraySize(input) == 0) {
        cJSON_Delete(one);
        error_reply(rp, 400, "invalid_request_error",
                    "fake: \"input\" must be a string or a non-empty array of strings");
        return;
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, input)
    {
        if (!cJSON_IsString(t) || t->valuestring[0] == '\0') {
            cJSON_Delete(one);
            error_reply(rp, 400, "invalid_request_error",
                        "fake: every input must be a non-empty string");
            return;
        }
    }

    long dim = cfg.dim;
    if (cfg.dim_change_after >= 0 && rq->seq > (unsigned long)cfg.dim_change_after)
        dim++;
    int n = cJSON_GetArraySize(input);
    int emit = cfg.drop_last ? n - 1 : n;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    long tokens = 0;
    for (int k = 0; k < emit; k++) {
        int i = cfg.reverse ? n - 1 - k : k;
        const char *text = cJSON_GetArrayItem(input, i)->valuestring;
        tokens += (long)strlen(text) / 4 + 1;
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "object", "embedding");
        cJSON_AddNumberToObject(item, "index", i);
        cJSON *vec = fake_vector(text, dim);
        if (vec != NULL)
            cJSON_AddItemToObject(item, "embedding", vec);
        cJSON_AddItemToArray(data, item);
    }
    cJSON_AddStringToObject(root, "model", cJSON_IsString(model) ? model->valuestring : "fake");
    cJSON *usage = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(usage, "prompt_tokens", (double)tokens);
    cJSON_AddNumberToObject(usage, "total_tokens", (double)tokens);
    json_reply(rp, root);
    cJSON_Delete(root);
    cJSON_Delete(one);
}

/* ---- routing ---- */

static const struct route {
    const char *method;
    const char *path;
    route_fn fn;
} routes[] = {
    {"POST", "/v1/embeddings", handle_embeddings},
};

static void dispatch(const request *rq, reply *rp)
{
    int path_known = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(rq->path, routes[i].path) != 0)
            continue;
        path_known = 1;
        if (strcmp(rq->method, routes[i].method) == 0) {
            routes[i].fn(rq, rp);
            return;
        }
    }
    if (path_known)
        error_reply(rp, 405, "invalid_request_error", "fake: method not allowed");
    else
        error_reply(rp, 404, "invalid_request_error", "fake: no such route");
}

static void log_request(const request *rq, const reply *rp)
{
    if (log_fp == NULL)
        return;
    cJSON *line = cJSON_CreateObject();
    cJSON_AddNumberToObject(line, "seq", (double)rq->seq);
    cJSON_AddStringToObject(line, "method", rq->method);
    cJSON_AddStringToObject(line, "path", rq->path);
    cJSON_AddNumberToObject(line, "status", rp->status);
    const char *auth =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth != NULL)
        cJSON_AddStringToObject(line, "authorization", auth);
    else
        cJSON_AddNullToObject(line, "authorization");
    const cJSON *model = rq->json ? cJSON_GetObjectItemCaseSensitive(rq->json, "model") : NULL;
    if (cJSON_IsString(model))
        cJSON_AddStringToObject(line, "model", model->valuestring);
    const cJSON *input = rq->json ? cJSON_GetObjectItemCaseSensitive(rq->json, "input") : NULL;
    if (cJSON_IsArray(input)) {
        cJSON_AddNumberToObject(line, "n_inputs", cJSON_GetArraySize(input));
        cJSON_AddItemToObject(line, "inputs", cJSON_Duplicate(input, 1));
    } else if (cJSON_IsString(input)) {
        cJSON_AddNumberToObject(line, "n_inputs", 1);
        cJSON *arr = cJSON_AddArrayToObject(line, "inputs");
        cJSON_AddItemToArray(arr, cJSON_CreateString(input->valuestring));
    } else {
        cJSON_AddNumberToObject(line, "n_inputs", -1);
    }
    char *s = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    if (s == NULL)
        return;
    pthread_mutex_lock(&mu);
    fputs(s, log_fp);
    fputc('\n', log_fp);
    fflush(log_fp);
    pthread_mutex_unlock(&mu);
    cJSON_free(s);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void answer(request *rq, reply *rp)
{
    if (cfg.delay_ms > 0)
        sleep_ms(cfg.delay_ms);
    if (cfg.require_key != NULL) {
        const char *auth = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_AUTHORIZATION);
        char want[1024];
        snprintf(want, sizeof want, "Bearer %s", cfg.require_key);
        if (auth == NULL || strcmp(auth, want) != 0) {
            error_reply(rp, 401, "invalid_request_error", "invalid api key");
            return;
        }
    }
    if (rq->seq <= (unsigned long)cfg.fail_first) {
        char msg[128];
        snprintf(msg, sizeof msg, "fake failure %lu of %ld", rq->seq, cfg.fail_first);
        error_reply(rp, (int)cfg.fail_status,
                    cfg.fail_status == 429 ? "rate_limit_exceeded" : "server_error", msg);
        rp->retry_after = cfg.retry_after;
        return;
    }
    dispatch(rq, rp);
}

/* ---- libmicrohttpd glue ---- */

typedef struct conn_ctx {
    char *buf;
    size_t len, cap;
    int too_big;
} conn_ctx;

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)cls;
    (void)version;
    conn_ctx *cx = *con_cls;
    if (cx == NULL) {
        /* First call: headers only. Answering now would race the upload. */
        cx = calloc(1, sizeof *cx);
        if (cx == NULL)
            return MHD_NO;
        *con_cls = cx;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (cx->len + n > MAX_BODY) {
            cx->too_big = 1;
        } else {
            if (cx->len + n + 1 > cx->cap) {
                size_t cap = cx->cap ? cx->cap : 4096;
                while (cap < cx->len + n + 1)
                    cap *= 2;
                char *p = realloc(cx->buf, cap);
                if (p == NULL)
                    return MHD_NO;
                cx->buf = p;
                cx->cap = cap;
            }
            memcpy(cx->buf + cx->len, upload_data, n);
            cx->len += n;
            cx->buf[cx->len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    /* Upload complete. */
    request rq = {conn, method, url, cx->buf ? cx->buf : "", cx->len, NULL, 0};
    reply rp = {500, NULL, -1};
    pthread_mutex_lock(&mu);
    rq.seq = ++n_requests;
    pthread_mutex_unlock(&mu);
    if (cx->too_big) {
        error_reply(&rp, 413, "invalid_request_error", "fake: request body too large");
    } else {
        rq.json = cJSON_ParseWithLength(rq.body, rq.len);
        answer(&rq, &rp);
    }
    log_request(&rq, &rp);
    cJSON_Delete(rq.json);

    const char *body = rp.body ? rp.body : "";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    free(rp.body);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                                 "application/json");
    if (ok == MHD_YES && rp.retry_after >= 0) {
        char ra[32];
        snprintf(ra, sizeof ra, "%ld", rp.retry_after);
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (ok == MHD_YES)
        ok = MHD_queue_response(conn, (unsigned int)rp.status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    conn_ctx *cx = *con_cls;
    if (cx != NULL) {
        free(cx->buf);
        free(cx);
        *con_cls = NULL;
    }
}

/* ---- main ---- */

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--port N] [--port-file F] [--dim N] [--fail-first N] [--fail-status S]\n"
            "  [--retry-after SEC] [--delay-ms N] [--require-key KEY] [--log FILE] [--malformed]\n"
            "  [--reverse] [--drop-last] [--dim-change-after N] [--max-seconds N]\n",
            argv0);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static const struct num_flag {
    const char *name;
    long *dst;
    long lo, hi;
} num_flags[] = {
    {"--port", &cfg.port, 0, 65535},
    {"--dim", &cfg.dim, 1, 65536},
    {"--fail-first", &cfg.fail_first, 0, 1000000000},
    {"--fail-status", &cfg.fail_status, 100, 599},
    {"--retry-after", &cfg.retry_after, 0, 86400},
    {"--delay-ms", &cfg.delay_ms, 0, 3600000},
    {"--dim-change-after", &cfg.dim_change_after, 0, 1000000000},
    {"--max-seconds", &cfg.max_seconds, 1, 86400},
};

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--malformed") == 0) {
            cfg.malformed = 1;
            continue;
        }
        if (strcmp(a, "--reverse") == 0) {
            cfg.reverse = 1;
            continue;
        }
        if (strcmp(a, "--drop-last") == 0) {
            cfg.drop_last = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "fake_openai: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--port-file") == 0) {
            cfg.port_file = v;
            continue;
        }
        if (strcmp(a, "--require-key") == 0) {
            cfg.require_key = v;
            continue;
        }
        if (strcmp(a, "--log") == 0) {
            cfg.log_path = v;
            continue;
        }
        const struct num_flag *f = NULL;
        for (size_t k = 0; k < sizeof num_flags / sizeof num_flags[0]; k++)
            if (strcmp(a, num_flags[k].name) == 0)
                f = &num_flags[k];
        if (f == NULL) {
            fprintf(stderr, "fake_openai: unknown flag %s\n", a);
            return -1;
        }
        if (parse_long(v, f->lo, f->hi, f->dst) != 0) {
            fprintf(stderr, "fake_openai: %s wants a number in %ld..%ld, got \"%s\"\n", a,
                    f->lo, f->hi, v);
            return -1;
        }
    }
    return 0;
}

static int write_port_file(const char *path, unsigned port)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    int bad = fprintf(f, "%u\n", port) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) {
        usage(argv[0]);
        return 2;
    }
    if (cfg.log_path != NULL && (log_fp = fopen(cfg.log_path, "a")) == NULL) {
        fprintf(stderr, "fake_openai: cannot open log %s: %s\n", cfg.log_path, strerror(errno));
        return 1;
    }

    /* Block the stop signals before any thread exists, so every libmicrohttpd thread
     * inherits the mask and only sigtimedwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0) {
        fprintf(stderr, "fake_openai: pthread_sigmask failed\n");
        return 1;
    }
    /* The test may close its end of our stdout pipe after reading PORT=. */
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
        (uint16_t)cfg.port, NULL, NULL, on_access, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "fake_openai: cannot listen on 127.0.0.1:%ld\n", cfg.port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0) {
        fprintf(stderr, "fake_openai: cannot learn the bound port\n");
        MHD_stop_daemon(d);
        return 1;
    }
    unsigned port = info->port;
    if (cfg.port_file != NULL && write_port_file(cfg.port_file, port) != 0) {
        fprintf(stderr, "fake_openai: cannot write port file %s\n", cfg.port_file);
        MHD_stop_daemon(d);
        return 1;
    }
    printf("PORT=%u\n", port);
    fflush(stdout);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += cfg.max_seconds;
    for (;;) {
        struct timespec now, left;
        clock_gettime(CLOCK_MONOTONIC, &now);
        left.tv_sec = deadline.tv_sec - now.tv_sec;
        left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
        if (left.tv_nsec < 0) {
            left.tv_nsec += 1000000000L;
            left.tv_sec--;
        }
        if (left.tv_sec < 0) {
            fprintf(stderr, "fake_openai: --max-seconds %ld reached, exiting\n",
                    cfg.max_seconds);
            break;
        }
        int sig = sigtimedwait(&stop, NULL, &left);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig < 0 && errno != EINTR && errno != EAGAIN) {
            fprintf(stderr, "fake_openai: sigtimedwait: %s\n", strerror(errno));
            break;
        }
    }

    MHD_stop_daemon(d);
    pthread_mutex_lock(&mu);
    unsigned long served = n_requests;
    if (log_fp != NULL)
        fclose(log_fp);
    log_fp = NULL;
    pthread_mutex_unlock(&mu);
    fprintf(stderr, "fake_openai: served %lu requests\n", served);
    return 0;
}
