/* embed_openai: the "openai:MODEL@BASE_URL" embedder, a client of an OpenAI-compatible
 * POST BASE_URL/embeddings endpoint (OpenAI, vLLM, llama.cpp, Ollama, TEI).
 *
 * One libcurl easy handle per embedder, reused for every request so the connection is kept
 * alive between batches. Transient failures (429, 5xx, connect errors, timeouts) are retried
 * with jittered exponential backoff; everything else fails at once with the server's own
 * error message. */
#include "embed_impl.h"
#include "sbuf.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* A batch of 64 vectors of 4096 floats as JSON is about 6 MB; anything near this cap is not
 * an embeddings reply, and reading it all would only waste memory. */
#define MAX_REPLY_BYTES (256u * 1024u * 1024u)
/* A server asking us to wait longer than this is better reported than obeyed: the indexer
 * would look hung. */
#define MAX_WAIT_MS 30000L
/* How much of a server's error message goes into ours. */
#define MAX_SERVER_MSG 200

struct embed_openai {
    char *model;
    char *base_url; /* no trailing '/'; named in error messages */
    char *endpoint; /* base_url + "/embeddings" */
    embed_conf conf;
    CURL *curl;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    sbuf reply;
    int reply_too_big;
    long retry_after_s; /* -1 when the last response had no usable Retry-After */
    uint64_t rng;       /* jitter only; not security relevant */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Fills err with "embeddings server BASE_URL <what>". */
static int server_errf(const embed_openai *o, lore_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int server_errf(const embed_openai *o, lore_err *err, int code, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lore_errf(err, code, "embeddings server %s %s", o->base_url, what);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    embed_openai *o = ctx;
    size_t n = size * nmemb;
    if (o->reply.len + n > MAX_REPLY_BYTES) {
        o->reply_too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (sbuf_add(&o->reply, data, n) != 0)
        return 0;
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    embed_openai *o = ctx;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    /* A new status line starts a new response (e.g. after "100 Continue"): forget headers
     * of the previous one. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        o->retry_after_s = -1;
        return n;
    }
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        size_t i = sizeof name - 1;
        while (i < n && (data[i] == ' ' || data[i] == '\t'))
            i++;
        long v = 0;
        size_t digits = 0;
        while (i < n && data[i] >= '0' && data[i] <= '9' && v < 1000000) {
            v = v * 10 + (data[i] - '0');
            i++;
            digits++;
        }
        /* Only delta-seconds; an HTTP-date is rare from API servers and the backoff covers it. */
        o->retry_after_s = digits > 0 ? v : -1;
    }
    return n;
}

#define SETOPT(o, opt, val)                                                                  \
    do {                                                                                     \
        CURLcode cc_ = curl_easy_setopt((o)->curl, (opt), (val));                            \
        if (cc_ != CURLE_OK)                                                                 \
            return server_errf((o), err, LORE_ENET, "could not be configured: %s (" #opt ")", \
                               curl_easy_strerror(cc_));                                     \
    } while (0)

static int configure_handle(embed_openai *o, lore_err *err)
{
    SETOPT(o, CURLOPT_URL, o->endpoint);
    SETOPT(o, CURLOPT_HTTPHEADER, o->headers);
    SETOPT(o, CURLOPT_POST, 1L);
    SETOPT(o, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(o, CURLOPT_WRITEDATA, (void *)o);
    SETOPT(o, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(o, CURLOPT_HEADERDATA, (void *)o);
    SETOPT(o, CURLOPT_ERRORBUFFER, o->errbuf);
    /* Timeouts must not use signals: the embedder may run in any thread. */
    SETOPT(o, CURLOPT_NOSIGNAL, 1L);
    SETOPT(o, CURLOPT_CONNECTTIMEOUT_MS, o->conf.connect_timeout_ms);
    SETOPT(o, CURLOPT_TIMEOUT_MS, o->conf.timeout_ms);
    SETOPT(o, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(o, CURLOPT_USERAGENT, "lore-embed/0.1");
    /* Float arrays compress well; let curl ask for whatever encodings it supports. */
    SETOPT(o, CURLOPT_ACCEPT_ENCODING, "");
    /* A POST body must not be resent to another host by a redirect; servers do not redirect
     * this endpoint in practice, so a redirect is reported as an error status instead. */
    SETOPT(o, CURLOPT_FOLLOWLOCATION, 0L);
    return 0;
}

/* Builds the header list once per embedder. The key is read from the environment at open
 * only, so a later setenv in another thread cannot race with requests. */
static int build_headers(embed_openai *o, const char *key_env, lore_err *err)
{
    static const char *const fixed[] = {
        "Content-Type: application/json", "Accept: application/json",
        /* Without this curl waits for "100 Continue" before sending large bodies, which
         * some servers never send: a one second stall per batch. */
        "Expect:"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        struct curl_slist *l = curl_slist_append(o->headers, fixed[i]);
        if (l == NULL)
            return lore_errf(err, LORE_ENOMEM, "out of memory building request headers");
        o->headers = l;
    }
    const char *key = getenv(key_env);
    if (key == NULL || key[0] == '\0')
        return 0;
    for (const char *p = key; *p; p++)
        if (*p == '\r' || *p == '\n')
            return lore_errf(err, LORE_EINVAL,
                             "api key in environment variable %.100s contains a line break",
                             key_env);
    sbuf h = SBUF_INIT;
    int rc = sbuf_adds(&h, "Authorization: Bearer ");
    if (rc == 0)
        rc = sbuf_adds(&h, key);
    struct curl_slist *l = rc == 0 ? curl_slist_append(o->headers, sbuf_str(&h)) : NULL;
    /* The key should not linger in freed heap memory longer than needed. */
    if (h.buf != NULL)
        memset(h.buf, 0, h.cap);
    sbuf_free(&h);
    if (l == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory building request headers");
    o->headers = l;
    return 0;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

int embed_openai_open(embedder *e, const char *model, const char *base_url,
                      const embed_conf *conf, lore_err *err)
{
    if (pthread_once(&curl_once, curl_init_once) != 0 || curl_init_rc != CURLE_OK)
        return lore_errf(err, LORE_ENET, "embedder %s: curl_global_init failed: %s", e->id,
                         curl_easy_strerror(curl_init_rc));
    embed_openai *o = calloc(1, sizeof *o);
    if (o == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder %s", e->id);
    e->openai = o; /* from here embed_close frees whatever was built */
    o->conf = *conf;
    o->conf.api_key_env = NULL; /* caller storage; not kept past open */
    o->retry_after_s = -1;
    o->model = dup_str(model);
    o->base_url = dup_str(base_url);
    sbuf ep = SBUF_INIT;
    if (o->model == NULL || o->base_url == NULL || sbuf_adds(&ep, base_url) != 0 ||
        sbuf_adds(&ep, "/embeddings") != 0) {
        sbuf_free(&ep);
        return lore_errf(err, LORE_ENOMEM, "out of memory opening embedder %s", e->id);
    }
    o->endpoint = sbuf_detach(&ep);
    o->curl = curl_easy_init();
    if (o->curl == NULL)
        return lore_errf(err, LORE_ENOMEM, "embedder %s: curl_easy_init failed", e->id);
    int rc = build_headers(o, conf->api_key_env, err);
    if (rc != 0)
        return lore_err_wrap(err, "opening embedder %s", e->id);
    if ((rc = configure_handle(o, err)) != 0)
        return rc;

    /* Jitter only needs to differ between processes that retry against the same server. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    o->rng = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
             ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)o;
    if (o->rng == 0)
        o->rng = 0x9e3779b97f4a7c15u;
    return 0;
}

void embed_openai_close(embed_openai *o)
{
    if (o == NULL)
        return;
    if (o->curl != NULL)
        curl_easy_cleanup(o->curl);
    curl_slist_free_all(o->headers);
    sbuf_free(&o->reply);
    free(o->model);
    free(o->base_url);
    free(o->endpoint);
    free(o);
}

/* ---- retry policy ---- */

static uint64_t next_rand(embed_openai *o)
{
    /* xorshift64* */
    o->rng ^= o->rng >> 12;
    o->rng ^= o->rng << 25;
    o->rng ^= o->rng >> 27;
    return o->rng * 0x2545f4914f6cdd1du;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Wait before retry number attempt+1: "equal jitter" exponential backoff (half fixed, half
 * random) so clients that failed together do not retry together; a Retry-After from the
 * server is a floor. */
static long backoff_delay(embed_openai *o, int attempt)
{
    long base = o->conf.backoff_ms;
    for (int i = 0; i < attempt && base < MAX_WAIT_MS; i++)
        base *= 2;
    if (base > MAX_WAIT_MS)
        base = MAX_WAIT_MS;
    long half = base / 2;
    long d = half + (long)(next_rand(o) % (uint64_t)(half + 1));
    if (o->retry_after_s >= 0) {
        long ra = o->retry_after_s > MAX_WAIT_MS / 1000 ? MAX_WAIT_MS : o->retry_after_s * 1000;
        if (ra > d)
            d = ra;
    }
    return d;
}

static int transient_curl_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0;
    }
}

static int transient_status(long status) { return status == 429 || (status >= 500 && status <= 599); }

/* Writes a short, printable piece of the server's error message: OpenAI's
 * {"error": {"message": ...}}, the {"error": "..."} / {"message"} / {"detail"} variants of
 * other servers, or else the start of the raw body. */
static void server_message(const embed_openai *o, char *out, size_t cap)
{
    const char *msg = NULL;
    cJSON *root = cJSON_ParseWithLength(o->reply.buf ? o->reply.buf : "", o->reply.len);
    if (root != NULL) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
        const cJSON *m = NULL;
        if (cJSON_IsObject(e))
            m = cJSON_GetObjectItemCaseSensitive(e, "message");
        else if (cJSON_IsString(e))
            m = e;
        if (!cJSON_IsString(m))
            m = cJSON_GetObjectItemCaseSensitive(root, "message");
        if (!cJSON_IsString(m))
            m = cJSON_GetObjectItemCaseSensitive(root, "detail");
        if (cJSON_IsString(m))
            msg = m->valuestring;
    }
    if (msg == NULL)
        msg = o->reply.len > 0 ? o->reply.buf : "(empty body)";
    size_t n = 0;
    for (const char *p = msg; *p && n + 1 < cap && n < MAX_SERVER_MSG; p++)
        out[n++] = ((unsigned char)*p < ' ' || *p == 0x7f) ? ' ' : *p;
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '.'))
        n--;
    out[n] = '\0';
    cJSON_Delete(root);
}

/* POSTs body and leaves a 2xx reply in o->reply. */
static int post(embedder *e, const char *body, size_t len, lore_err *err)
{
    embed_openai *o = e->openai;
    int attempts = o->conf.retries + 1;
    for (int attempt = 0;; attempt++) {
        sbuf_reset(&o->reply);
        o->reply_too_big = 0;
        o->retry_after_s = -1;
        o->errbuf[0] = '\0';
        SETOPT(o, CURLOPT_POSTFIELDS, body);
        SETOPT(o, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        e->requests++;
        CURLcode cc = curl_easy_perform(o->curl);
        long status = 0;
        int transient;
        if (cc == CURLE_OK) {
            CURLcode ic = curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
            if (ic != CURLE_OK)
                return server_errf(o, err, LORE_ENET, "sent a reply without a status: %s",
                                   curl_easy_strerror(ic));
            if (status >= 200 && status <= 299)
                return 0;
            transient = transient_status(status);
        } else {
            if (o->reply_too_big)
                return server_errf(o, err, LORE_ENET, "sent a reply larger than %u bytes",
                                   MAX_REPLY_BYTES);
            transient = transient_curl_error(cc);
        }

        if (transient && attempt + 1 < attempts) {
            sleep_ms(backoff_delay(o, attempt));
            continue;
        }

        char tries[64] = "";
        if (attempt > 0)
            snprintf(tries, sizeof tries, " after %d attempts", attempt + 1);
        if (cc != CURLE_OK)
            return server_errf(o, err, LORE_ENET, "unreachable%s: %s", tries,
                               o->errbuf[0] ? o->errbuf : curl_easy_strerror(cc));
        char msg[MAX_SERVER_MSG + 1];
        server_message(o, msg, sizeof msg);
        return server_errf(o, err, LORE_ENET, "answered %ld%s: %s", status, tries, msg);
    }
}

/* ---- request and reply ---- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when the bytes there are not one
 * (overlongs, surrogates and code points above U+10FFFF included). */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (left < need + 1)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return need + 1;
}

/* cJSON copies bytes >= 0x80 through unchecked, so invalid UTF-8 would make the request
 * invalid JSON that servers reject with a 400 for the whole batch. Replaces each bad byte
 * with U+FFFD into `fixed` and sets *changed; leaves *changed 0 (and `fixed` untouched) when
 * s is already valid, the common case, which costs one scan and no copy. 0 or LORE_ENOMEM. */
static int utf8_fix(const char *s, sbuf *fixed, int *changed)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    *changed = 0;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0)
            break;
        i += k;
    }
    if (i == n)
        return 0;
    *changed = 1;
    sbuf_reset(fixed);
    if (sbuf_add(fixed, s, i) != 0)
        return LORE_ENOMEM;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        int rc = k == 0 ? sbuf_add(fixed, "\xef\xbf\xbd", 3) : sbuf_add(fixed, p + i, k);
        if (rc != 0)
            return LORE_ENOMEM;
        i += k == 0 ? 1 : k;
    }
    return 0;
}

/* Builds {"model": MODEL, "input": [texts...]}; *json is freed with cJSON_free. */
static int build_request(embed_openai *o, const char *const *texts, size_t k, char **json,
                         lore_err *err)
{
    *json = NULL;
    sbuf fixed = SBUF_INIT;
    int rc = 0;
    cJSON *root = cJSON_CreateObject();
    cJSON *input = NULL;
    if (root == NULL || cJSON_AddStringToObject(root, "model", o->model) == NULL ||
        (input = cJSON_AddArrayToObject(root, "input")) == NULL)
        rc = LORE_ENOMEM;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        int changed;
        rc = utf8_fix(texts[i], &fixed, &changed);
        if (rc != 0)
            break;
        cJSON *s = cJSON_CreateString(changed ? sbuf_str(&fixed) : texts[i]);
        if (s == NULL || !cJSON_AddItemToArray(input, s)) {
            cJSON_Delete(s);
            rc = LORE_ENOMEM;
        }
    }
    if (rc == 0 && (*json = cJSON_PrintUnformatted(root)) == NULL)
        rc = LORE_ENOMEM;
    cJSON_Delete(root);
    sbuf_free(&fixed);
    if (rc != 0)
        return lore_errf(err, LORE_ENOMEM, "embedder: out of memory building a request of %zu texts",
                         k);
    return 0;
}

/* Checks the reply to a batch of k inputs and sets vecs[i] to the "embedding" array for
 * input i. *dim is the batch's dimension: e->dim when known, else the first vector's. */
static int check_reply(embedder *e, const cJSON *root, size_t k, const cJSON **vecs, int *dim,
                       lore_err *err)
{
    embed_openai *o = e->openai;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsArray(data)) {
        /* Some servers answer 200 with an {"error": ...} body; their message says why. */
        char msg[MAX_SERVER_MSG + 1];
        server_message(o, msg, sizeof msg);
        return server_errf(o, err, LORE_ENET, "sent a reply without a \"data\" array: %s", msg);
    }
    int count = cJSON_GetArraySize(data);
    if (count < 0 || (size_t)count != k)
        return server_errf(o, err, LORE_ENET, "sent %d embeddings for %zu inputs", count, k);
    for (size_t i = 0; i < k; i++)
        vecs[i] = NULL;
    int want = e->dim;
    size_t pos = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, data)
    {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(item, "index");
        const cJSON *emb = cJSON_GetObjectItemCaseSensitive(item, "embedding");
        /* "index" is optional in some servers' replies; then the order is the input order. */
        double di = cJSON_IsNumber(idx) ? idx->valuedouble : (double)pos;
        if (!(di >= 0 && di < (double)k) || di != floor(di))
            return server_errf(o, err, LORE_ENET, "sent embedding index %g for %zu inputs", di,
                               k);
        size_t at = (size_t)di;
        if (vecs[at] != NULL)
            return server_errf(o, err, LORE_ENET, "sent embedding index %zu twice", at);
        if (cJSON_IsString(emb))
            return server_errf(o, err, LORE_ENET,
                               "sent a base64 embedding; only float arrays are supported");
        if (!cJSON_IsArray(emb))
            return server_errf(o, err, LORE_ENET, "sent an item without an \"embedding\" array");
        int d = cJSON_GetArraySize(emb);
        if (want == 0) {
            if (d <= 0 || d > 65536)
                return server_errf(o, err, LORE_ENET, "sent an embedding of %d dimensions", d);
            want = d;
        } else if (d != want) {
            return server_errf(o, err, LORE_ENET,
                               "sent an embedding of %d dimensions, expected %d%s", d, want,
                               e->dim ? " (learnt from its first reply)" : "");
        }
        vecs[at] = emb;
        pos++;
    }
    *dim = want;
    return 0;
}

/* Copies a checked vector into v and normalises it. */
static int copy_vector(embedder *e, const cJSON *emb, float *v, lore_err *err)
{
    int j = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, emb)
    {
        if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || fabs(x->valuedouble) > 3.0e38)
            return server_errf(e->openai, err, LORE_ENET,
                               "sent an embedding with a value that is not a finite number");
        v[j++] = (float)x->valuedouble;
    }
    assert(j == e->dim);
    embed_l2_normalize(v, e->dim);
    return 0;
}

/* One request for the k texts btexts (originally at positions bidx in the caller's array). */
static int embed_batch(embedder *e, const char *const *btexts, const size_t *bidx, size_t k,
                       size_t n, float **dst, int owns_dst, const cJSON **vecs, lore_err *err)
{
    embed_openai *o = e->openai;
    char *json = NULL;
    int rc = build_request(o, btexts, k, &json, err);
    if (rc != 0)
        return rc;
    rc = post(e, json, strlen(json), err);
    cJSON_free(json);
    if (rc != 0)
        return rc;

    cJSON *root = cJSON_ParseWithLength(o->reply.buf ? o->reply.buf : "", o->reply.len);
    if (root == NULL) {
        char head[64];
        size_t m = 0;
        for (size_t i = 0; i < o->reply.len && m + 1 < sizeof head && m < 40; i++)
            head[m++] = ((unsigned char)o->reply.buf[i] < ' ') ? ' ' : o->reply.buf[i];
        head[m] = '\0';
        return server_errf(o, err, LORE_ENET, "sent a reply that is not valid JSON: \"%s\"",
                           head);
    }
    int dim = 0;
    rc = check_reply(e, root, k, vecs, &dim, err);
    if (rc == 0 && e->dim == 0) {
        e->dim = dim;
        if (owns_dst && *dst == NULL) {
            if ((size_t)dim > 0 && n > SIZE_MAX / sizeof(float) / (size_t)dim)
                rc = lore_errf(err, LORE_ENOMEM, "embed: %zu vectors of %d floats do not fit",
                               n, dim);
            /* calloc: texts skipped for being empty keep their zero vectors */
            else if ((*dst = calloc(n * (size_t)dim, sizeof(float))) == NULL)
                rc = lore_errf(err, LORE_ENOMEM, "embed: out of memory for %zu vectors of %d "
                               "floats", n, dim);
        }
    }
    for (size_t i = 0; rc == 0 && i < k; i++)
        rc = copy_vector(e, vecs[i], *dst + bidx[i] * (size_t)e->dim, err);
    cJSON_Delete(root);
    return rc;
}

int embed_openai_texts(embedder *e, const char *const *texts, size_t n, float *out,
                       float **alloc_out, lore_err *err)
{
    embed_openai *o = e->openai;
    assert((out == NULL) != (alloc_out == NULL));
    assert(out == NULL || e->dim > 0);
    size_t batch = o->conf.batch;
    const char **btexts = malloc(batch * sizeof *btexts);
    size_t *bidx = malloc(batch * sizeof *bidx);
    const cJSON **vecs = malloc(batch * sizeof *vecs);
    float *dst = out;
    int rc = 0;
    if (btexts == NULL || bidx == NULL || vecs == NULL)
        rc = lore_errf(err, LORE_ENOMEM, "embed: out of memory for a batch of %zu", batch);

    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (texts[i][0] == '\0') {
            /* OpenAI rejects empty inputs; an empty text's vector is zero (see embed.h). */
            if (dst != NULL)
                memset(dst + i * (size_t)e->dim, 0, (size_t)e->dim * sizeof(float));
        } else {
            btexts[k] = texts[i];
            bidx[k] = i;
            k++;
        }
        if (k == batch || (i + 1 == n && k > 0)) {
            /* When dst is allocated by this batch, empty texts seen before it already have
             * their zero vectors (calloc); later ones get them from the memset above. */
            rc = embed_batch(e, btexts, bidx, k, n, &dst, out == NULL, vecs, err);
            k = 0;
        }
    }
    free(btexts);
    free(bidx);
    free(vecs);
    if (alloc_out != NULL) {
        if (rc != 0) {
            free(dst);
            dst = NULL;
        }
        *alloc_out = dst;
    }
    return rc;
}
