/* http: see http.h. */
#include "http.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* No JSON reply of ours comes near this; reading more would only waste memory. */
#define MAX_REPLY_BYTES (256u * 1024u * 1024u)

struct http_client {
    char *label;
    char *url;
    http_conf conf;
    CURL *curl;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    sbuf reply;
    int reply_too_big;
    long retry_after_s;
    uint64_t rng;
    /* per attempt */
    const http_request *rq;
    double t0;
    double t_first;
    int sunk, aborted, fb_timeout;
    http_outcome last; /* of the last attempt http_post made */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

double http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int client_errf(const http_client *c, lore_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int client_errf(const http_client *c, lore_err *err, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lore_errf(err, LORE_ENET, "%s %s", c->label, what);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    http_client *c = ctx;
    size_t n = size * nmemb;
    if (c->t_first < 0)
        c->t_first = http_now_ms();
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (c->rq->sink != NULL && status >= 200 && status <= 299) {
        c->sunk = 1;
        if (c->rq->sink(c->rq->sink_ctx, data, n) != 0) {
            c->aborted = 1;
            return 0; /* CURLE_WRITE_ERROR */
        }
        return n;
    }
    if (c->reply.len + n > MAX_REPLY_BYTES) {
        c->reply_too_big = 1;
        return 0;
    }
    if (sbuf_add(&c->reply, data, n) != 0)
        return 0;
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    http_client *c = ctx;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    /* A new status line starts a new response (e.g. after "100 Continue"). */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        c->retry_after_s = -1;
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
        c->retry_after_s = digits > 0 ? v : -1;
    }
    return n;
}

/* Enforces the first-byte timeout, which libcurl has no option for. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    http_client *c = ctx;
    long lim = c->rq != NULL ? c->rq->first_byte_ms : 0;
    if (lim > 0 && c->t_first < 0 && http_now_ms() - c->t0 > (double)lim) {
        c->fb_timeout = 1;
        return 1;
    }
    return 0;
}

#define SETOPT(c, opt, val)                                                                  \
    do {                                                                                     \
        CURLcode cc_ = curl_easy_setopt((c)->curl, (opt), (val));                            \
        if (cc_ != CURLE_OK)                                                                 \
            return client_errf((c), err, "could not be configured: %s (" #opt ")",           \
                               curl_easy_strerror(cc_));                                     \
    } while (0)

static int configure_handle(http_client *c, lore_err *err)
{
    SETOPT(c, CURLOPT_URL, c->url);
    SETOPT(c, CURLOPT_HTTPHEADER, c->headers);
    SETOPT(c, CURLOPT_POST, 1L);
    SETOPT(c, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(c, CURLOPT_WRITEDATA, (void *)c);
    SETOPT(c, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(c, CURLOPT_HEADERDATA, (void *)c);
    SETOPT(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(c, CURLOPT_XFERINFODATA, (void *)c);
    SETOPT(c, CURLOPT_NOPROGRESS, 0L);
    SETOPT(c, CURLOPT_ERRORBUFFER, c->errbuf);
    /* Timeouts must not use signals: clients run in any thread. */
    SETOPT(c, CURLOPT_NOSIGNAL, 1L);
    SETOPT(c, CURLOPT_CONNECTTIMEOUT_MS, c->conf.connect_timeout_ms);
    SETOPT(c, CURLOPT_TIMEOUT_MS, c->conf.timeout_ms);
    SETOPT(c, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(c, CURLOPT_USERAGENT, c->conf.user_agent ? c->conf.user_agent : "lore/0.1");
    /* JSON compresses well; let curl ask for whatever encodings it supports. */
    SETOPT(c, CURLOPT_ACCEPT_ENCODING, "");
    /* A POST body must not be resent to another host by a redirect; these endpoints do not
     * redirect in practice, so a redirect is reported as an error status instead. */
    SETOPT(c, CURLOPT_FOLLOWLOCATION, 0L);
    return 0;
}

static int add_header(http_client *c, const char *h, lore_err *err)
{
    struct curl_slist *l = curl_slist_append(c->headers, h);
    if (l == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory building request headers");
    c->headers = l;
    return 0;
}

/* The key is read from the environment at creation only, so a later setenv in another
 * thread cannot race with requests. */
static int build_headers(http_client *c, const char *key_env, lore_err *err)
{
    int rc = add_header(c, "Content-Type: application/json", err);
    sbuf h = SBUF_INIT;
    if (rc == 0 && (rc = sbuf_addf(&h, "Accept: %s",
                                   c->conf.accept ? c->conf.accept : "application/json")) != 0)
        rc = lore_errf(err, LORE_ENOMEM, "out of memory building request headers");
    if (rc == 0)
        rc = add_header(c, sbuf_str(&h), err);
    /* Without this curl waits for "100 Continue" before sending large bodies, which some
     * servers never send: a one second stall per request. */
    if (rc == 0)
        rc = add_header(c, "Expect:", err);
    sbuf_free(&h);
    if (rc != 0)
        return rc;
    const char *key = key_env != NULL ? getenv(key_env) : NULL;
    if (key == NULL || key[0] == '\0')
        return 0;
    for (const char *p = key; *p; p++)
        if (*p == '\r' || *p == '\n')
            return lore_errf(err, LORE_EINVAL,
                             "api key in environment variable %.100s contains a line break",
                             key_env);
    rc = sbuf_adds(&h, "Authorization: Bearer ");
    if (rc == 0)
        rc = sbuf_adds(&h, key);
    rc = rc == 0 ? add_header(c, sbuf_str(&h), err)
                 : lore_errf(err, LORE_ENOMEM, "out of memory building request headers");
    /* The key should not linger in freed heap memory longer than needed. */
    if (h.buf != NULL)
        memset(h.buf, 0, h.cap);
    sbuf_free(&h);
    return rc;
}

uint64_t http_seed(const void *salt)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
                 ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)salt;
    return s != 0 ? s : 0x9e3779b97f4a7c15u;
}

int http_client_new(const char *label, const char *url, const char *api_key_env,
                    const http_conf *conf, http_client **out, lore_err *err)
{
    *out = NULL;
    if (pthread_once(&curl_once, curl_init_once) != 0 || curl_init_rc != CURLE_OK)
        return lore_errf(err, LORE_ENET, "%s: curl_global_init failed: %s", label,
                         curl_easy_strerror(curl_init_rc));
    http_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating a client for %s", label);
    c->conf = *conf;
    c->conf.user_agent = NULL; /* caller storage: only used in configure_handle below */
    c->conf.accept = NULL;
    c->retry_after_s = -1;
    c->t_first = -1;
    c->label = strdup(label);
    c->url = strdup(url);
    c->curl = curl_easy_init();
    int rc = 0;
    if (c->label == NULL || c->url == NULL || c->curl == NULL)
        rc = lore_errf(err, LORE_ENOMEM, "out of memory creating a client for %s", label);
    if (rc == 0) {
        c->conf.accept = conf->accept;
        rc = build_headers(c, api_key_env, err);
        c->conf.accept = NULL;
    }
    if (rc == 0) {
        c->conf.user_agent = conf->user_agent;
        rc = configure_handle(c, err);
        c->conf.user_agent = NULL;
    }
    if (rc != 0) {
        http_client_free(c);
        return rc;
    }
    c->rng = http_seed(c);
    *out = c;
    return 0;
}

void http_client_free(http_client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    sbuf_free(&c->reply);
    free(c->label);
    free(c->url);
    free(c);
}

const char *http_label(const http_client *c) { return c->label; }
const sbuf *http_reply(const http_client *c) { return &c->reply; }

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1du;
}

void http_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Half fixed, half random ("equal jitter") so clients that failed together do not retry
 * together. */
long http_backoff_ms(uint64_t *rng, long base_ms, int attempt, long retry_after_s)
{
    long base = base_ms > 0 ? base_ms : 1;
    for (int i = 0; i < attempt && base < HTTP_MAX_WAIT_MS; i++)
        base *= 2;
    if (base > HTTP_MAX_WAIT_MS)
        base = HTTP_MAX_WAIT_MS;
    long half = base / 2;
    long d = half + (long)(next_rand(rng) % (uint64_t)(half + 1));
    if (retry_after_s >= 0) {
        long ra = retry_after_s > HTTP_MAX_WAIT_MS / 1000 ? HTTP_MAX_WAIT_MS : retry_after_s * 1000;
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

int http_transient_status(long status) { return status == 429 || (status >= 500 && status <= 599); }

void http_server_message(const char *body, size_t len, char *out, size_t cap)
{
    const char *msg = NULL;
    cJSON *root = cJSON_ParseWithLength(body ? body : "", len);
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
        msg = len > 0 && body != NULL ? body : "(empty body)";
    size_t n = 0;
    for (const char *p = msg; *p && n + 1 < cap && n < HTTP_MAX_SERVER_MSG; p++)
        out[n++] = ((unsigned char)*p < ' ' || *p == 0x7f) ? ' ' : *p;
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '.'))
        n--;
    if (cap > 0)
        out[n] = '\0';
    cJSON_Delete(root);
}

int http_post_once(http_client *c, const http_request *rq, http_outcome *oc, lore_err *err)
{
    memset(oc, 0, sizeof *oc);
    oc->retry_after_s = -1;
    oc->ms_first_byte = -1;
    sbuf_reset(&c->reply);
    c->reply_too_big = 0;
    c->retry_after_s = -1;
    c->errbuf[0] = '\0';
    c->rq = rq;
    c->sunk = c->aborted = c->fb_timeout = 0;
    c->t_first = -1;
    SETOPT(c, CURLOPT_POSTFIELDS, rq->body);
    SETOPT(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->len);
    c->t0 = http_now_ms();
    CURLcode cc = curl_easy_perform(c->curl);
    c->rq = NULL;
    oc->sunk = c->sunk;
    oc->aborted = c->aborted;
    oc->first_byte_timeout = c->fb_timeout;
    oc->retry_after_s = c->retry_after_s;
    if (c->t_first >= 0)
        oc->ms_first_byte = c->t_first - c->t0;
    long status = 0;
    if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
        oc->status = status;
    if (cc == CURLE_OK) {
        if (status >= 200 && status <= 299)
            return 0;
        oc->transient = http_transient_status(status);
        char msg[HTTP_MAX_SERVER_MSG + 1];
        http_server_message(c->reply.buf, c->reply.len, msg, sizeof msg);
        return client_errf(c, err, "answered %ld: %s", status, msg);
    }
    if (c->aborted)
        return client_errf(c, err, "reply was abandoned by its reader");
    if (c->fb_timeout) {
        oc->transient = 1;
        return client_errf(c, err, "sent nothing within %ld ms (first-token timeout)",
                           rq->first_byte_ms);
    }
    if (c->reply_too_big)
        return client_errf(c, err, "sent a reply larger than %u bytes", MAX_REPLY_BYTES);
    oc->transient = transient_curl_error(cc);
    return client_errf(c, err, "unreachable: %s",
                       c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
}

const http_outcome *http_last_outcome(const http_client *c) { return &c->last; }

int http_post(http_client *c, const http_request *rq, int *attempts, lore_err *err)
{
    int max = c->conf.retries + 1;
    for (int attempt = 0;; attempt++) {
        http_outcome oc;
        int rc = http_post_once(c, rq, &oc, err);
        c->last = oc;
        if (attempts != NULL)
            *attempts = attempt + 1;
        if (rc == 0)
            return 0;
        if (oc.transient && !oc.sunk && attempt + 1 < max) {
            http_sleep_ms(http_backoff_ms(&c->rng, c->conf.backoff_ms, attempt, oc.retry_after_s));
            continue;
        }
        if (attempt > 0) {
            /* "LABEL answered 503: msg" -> "LABEL answered 503 after 3 attempts: msg" */
            char tail[1024];
            const char *m = err != NULL ? err->msg : "";
            size_t ll = strlen(c->label);
            if (err != NULL && strncmp(m, c->label, ll) == 0 && m[ll] == ' ') {
                const char *colon = strchr(m + ll + 1, ':');
                if (colon != NULL) {
                    snprintf(tail, sizeof tail, "%s", colon);
                    char head[1024];
                    snprintf(head, sizeof head, "%.*s", (int)(colon - m), m);
                    lore_errf(err, LORE_ENET, "%s after %d attempts%s", head, attempt + 1, tail);
                }
            }
        }
        return rc;
    }
}
