/* llm: see llm.h. */
#include "llm.h"

#include "http.h"
#include "sbuf.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>


/* ---- client ---- */

typedef struct endpoint {
    char *base_url, *model;
    http_client *http;
    breaker *breaker;
    int own_breaker;
} endpoint;

struct llm {
    endpoint ep[2];
    int n_ep;
    char *reasoning_effort;
    double temperature;
    long answer_tokens;
    long first_token_ms;
    int retries;
    long backoff_ms;
    uint64_t rng;
    FILE *debug;
};

static void endpoint_free(endpoint *e)
{
    http_client_free(e->http);
    if (e->own_breaker)
        breaker_free(e->breaker);
    free(e->base_url);
    free(e->model);
}

static int endpoint_init(endpoint *e, const char *base_url, const char *model,
                         const cconf_llm *conf, breaker *shared, lore_err *err)
{
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    e->base_url = strndup(base_url, n);
    e->model = strdup(model != NULL ? model : "");
    if (e->base_url == NULL || e->model == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating the llm client");
    sbuf url = SBUF_INIT, label = SBUF_INIT;
    int rc = 0;
    if (sbuf_addf(&url, "%s/chat/completions", e->base_url) != 0 ||
        sbuf_addf(&label, "llm server %s (model %s)", e->base_url, e->model) != 0)
        rc = lore_errf(err, LORE_ENOMEM, "out of memory creating the llm client");
    http_conf hc = {conf->connect_timeout_ms, conf->timeout_ms, 0, conf->backoff_ms, "lore-llm/0.1",
                    "application/json, text/event-stream"};
    if (rc == 0)
        rc = http_client_new(sbuf_str(&label), sbuf_str(&url),
                             conf->api_key_env ? conf->api_key_env : CCONF_DEFAULT_KEY_ENV,
                             &hc, &e->http, err);
    sbuf_free(&url);
    sbuf_free(&label);
    if (rc != 0)
        return rc;
    if (shared != NULL) {
        e->breaker = shared;
    } else {
        rc = breaker_new(conf->breaker_failures, conf->breaker_cooldown_ms, &e->breaker, err);
        e->own_breaker = rc == 0;
    }
    return rc;
}

int llm_new(const cconf_llm *conf, breaker *primary, breaker *fallback, llm **out,
            lore_err *err)
{
    *out = NULL;
    if (conf->base_url == NULL || conf->base_url[0] == '\0')
        return lore_errf(err, LORE_EINVAL, "no llm base_url configured");
    llm *l = calloc(1, sizeof *l);
    if (l == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory creating the llm client");
    l->temperature = conf->temperature;
    l->answer_tokens = conf->answer_tokens;
    l->first_token_ms = conf->first_token_timeout_ms;
    l->retries = conf->retries;
    l->backoff_ms = conf->backoff_ms;
    l->rng = http_seed(l);
    int rc = 0;
    if (conf->reasoning_effort != NULL && conf->reasoning_effort[0] != '\0' &&
        (l->reasoning_effort = strdup(conf->reasoning_effort)) == NULL)
        rc = lore_errf(err, LORE_ENOMEM, "out of memory creating the llm client");
    if (rc == 0) {
        rc = endpoint_init(&l->ep[0], conf->base_url, conf->model, conf, primary, err);
        l->n_ep = 1;
    }
    int has_fb = (conf->fallback_base_url != NULL && conf->fallback_base_url[0] != '\0') ||
                 (conf->fallback_model != NULL && conf->fallback_model[0] != '\0');
    if (rc == 0 && has_fb) {
        const char *fb_url = conf->fallback_base_url && conf->fallback_base_url[0]
                                 ? conf->fallback_base_url : conf->base_url;
        const char *fb_model = conf->fallback_model && conf->fallback_model[0]
                                   ? conf->fallback_model : conf->model;
        rc = endpoint_init(&l->ep[1], fb_url, fb_model, conf, fallback, err);
        l->n_ep = 2;
    }
    if (rc != 0) {
        llm_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void llm_free(llm *l)
{
    if (l == NULL)
        return;
    for (int i = 0; i < l->n_ep; i++)
        endpoint_free(&l->ep[i]);
    free(l->reasoning_effort);
    free(l);
}

void llm_set_debug(llm *l, FILE *f) { l->debug = f; }
int llm_has_fallback(const llm *l) { return l->n_ep > 1; }
breaker *llm_primary_breaker(llm *l) { return l->ep[0].breaker; }

const char *llm_failure_name(llm_failure f)
{
    switch (f) {
    case LLM_OK: return "ok";
    case LLM_UNAVAILABLE: return "unavailable";
    case LLM_MALFORMED: return "malformed";
    case LLM_TRUNCATED: return "truncated";
    case LLM_LENGTH: return "length";
    case LLM_CANCELLED: return "cancelled";
    }
    return "?";
}

void llm_reply_free(llm_reply *r)
{
    if (r == NULL)
        return;
    free(r->content);
    free(r->finish_reason);
    r->content = r->finish_reason = NULL;
}

/* ---- one attempt ---- */

typedef struct call {
    llm *l;
    endpoint *ep;
    llm_token_fn on_token;
    void *ctx;
    double t0;         /* start of llm_chat */
    double t_first;    /* first answer text, -1 none */
    sbuf text;         /* answer text */
    sbuf line;         /* SSE: the current partial line */
    sbuf data;         /* SSE: data of the current event */
    char *finish;
    int done;          /* [DONE] seen */
    int emitted;       /* text was passed to on_token */
    int cancelled;
    int bad;           /* a malformed event */
    char bad_msg[256];
} call;

static int emit(call *c, const char *s, size_t n)
{
    if (n == 0)
        return 0;
    if (c->t_first < 0)
        c->t_first = http_now_ms();
    if (sbuf_add(&c->text, s, n) != 0)
        return -1;
    if (c->on_token != NULL) {
        c->emitted = 1;
        if (c->on_token(c->ctx, s, n) != 0) {
            c->cancelled = 1;
            return -1;
        }
    }
    return 0;
}

static void set_bad(call *c, const char *msg)
{
    if (!c->bad)
        snprintf(c->bad_msg, sizeof c->bad_msg, "%s", msg);
    c->bad = 1;
}

static void set_finish(call *c, const cJSON *fr)
{
    if (cJSON_IsString(fr) && c->finish == NULL)
        c->finish = strdup(fr->valuestring);
}

/* One SSE event's data: a chat.completion.chunk, an {"error"} object, or [DONE]. */
static int sse_event(call *c)
{
    const char *d = sbuf_str(&c->data);
    size_t n = c->data.len;
    if (n == 0)
        return 0;
    if (strcmp(d, "[DONE]") == 0) {
        c->done = 1;
        return 0;
    }
    cJSON *root = cJSON_ParseWithLength(d, n);
    int rc = 0;
    if (root == NULL) {
        set_bad(c, "sent a stream event that is not valid JSON");
        rc = -1;
    } else if (cJSON_GetObjectItemCaseSensitive(root, "error") != NULL) {
        char msg[HTTP_MAX_SERVER_MSG + 1], full[256];
        http_server_message(d, n, msg, sizeof msg);
        snprintf(full, sizeof full, "sent an error in the stream: %s", msg);
        set_bad(c, full);
        rc = -1;
    } else {
        const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
        const cJSON *ch0 = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
        if (!cJSON_IsArray(choices)) {
            set_bad(c, "sent a stream event without \"choices\"");
            rc = -1;
        } else if (ch0 != NULL) {
            const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ch0, "delta");
            /* Only "content" is answer text: "reasoning" / "reasoning_content" are the
             * model's thinking, which is never shown. */
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
            if (cJSON_IsString(content))
                rc = emit(c, content->valuestring, strlen(content->valuestring));
            set_finish(c, cJSON_GetObjectItemCaseSensitive(ch0, "finish_reason"));
        }
    }
    cJSON_Delete(root);
    sbuf_reset(&c->data);
    return rc;
}

static int sse_line(call *c, const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (n == 0)
        return sse_event(c); /* a blank line ends the event */
    if (s[0] == ':')
        return 0; /* comment / keep-alive */
    if (n >= 5 && memcmp(s, "data:", 5) == 0) {
        size_t i = 5;
        if (i < n && s[i] == ' ')
            i++;
        if (c->data.len > 0 && sbuf_addc(&c->data, '\n') != 0)
            return -1;
        if (sbuf_add(&c->data, s + i, n - i) != 0)
            return -1;
        return 0;
    }
    return 0; /* event:, id:, retry: fields carry nothing we use */
}

static int sse_sink(void *ctx, const char *data, size_t n)
{
    call *c = ctx;
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n') {
            if (sbuf_addc(&c->line, data[i]) != 0)
                return -1;
            continue;
        }
        int rc = sse_line(c, c->line.buf ? c->line.buf : "", c->line.len);
        sbuf_reset(&c->line);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int build_body(llm *l, endpoint *ep, const llm_message *msgs, size_t n, long max_tokens,
                      int stream, char **out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "messages") : NULL;
    int ok = root != NULL && arr != NULL && cJSON_AddStringToObject(root, "model", ep->model);
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        ok = m != NULL && cJSON_AddItemToArray(arr, m) &&
             cJSON_AddStringToObject(m, "role", msgs[i].role) &&
             cJSON_AddStringToObject(m, "content", msgs[i].content);
    }
    ok = ok && cJSON_AddBoolToObject(root, "stream", stream) &&
         cJSON_AddNumberToObject(root, "max_tokens", (double)max_tokens) &&
         cJSON_AddNumberToObject(root, "temperature", l->temperature);
    if (ok && l->reasoning_effort != NULL)
        ok = cJSON_AddStringToObject(root, "reasoning_effort", l->reasoning_effort) != NULL;
    *out = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return *out != NULL ? 0 : LORE_ENOMEM;
}

/* Parses a non-streamed reply into c. */
static void parse_whole(call *c, const sbuf *r)
{
    cJSON *root = cJSON_ParseWithLength(r->buf ? r->buf : "", r->len);
    if (root == NULL) {
        char head[48];
        size_t m = 0;
        for (size_t i = 0; i < r->len && m < 40; i++)
            head[m++] = ((unsigned char)r->buf[i] < ' ') ? ' ' : r->buf[i];
        head[m] = '\0';
        char msg[128];
        snprintf(msg, sizeof msg, "sent a reply that is not valid JSON: \"%s\"", head);
        set_bad(c, msg);
        return;
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *ch0 = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *msg = ch0 ? cJSON_GetObjectItemCaseSensitive(ch0, "message") : NULL;
    const cJSON *content = msg ? cJSON_GetObjectItemCaseSensitive(msg, "content") : NULL;
    if (ch0 == NULL) {
        char m[HTTP_MAX_SERVER_MSG + 1], full[256];
        http_server_message(r->buf, r->len, m, sizeof m);
        snprintf(full, sizeof full, "sent a reply without choices: %s", m);
        set_bad(c, full);
    } else {
        set_finish(c, cJSON_GetObjectItemCaseSensitive(ch0, "finish_reason"));
        if (cJSON_IsString(content))
            emit(c, content->valuestring, strlen(content->valuestring));
        else if (c->finish == NULL || strcmp(c->finish, "length") != 0)
            set_bad(c, "sent a reply without message content");
    }
    cJSON_Delete(root);
}

static void call_reset(call *c)
{
    sbuf_reset(&c->text);
    sbuf_reset(&c->line);
    sbuf_reset(&c->data);
    free(c->finish);
    c->finish = NULL;
    c->done = c->cancelled = c->bad = 0;
    c->bad_msg[0] = '\0';
}

/* One HTTP attempt on ep. Sets *fail; *counts says whether the failure says something about
 * the server's health (breaker), *transient whether retrying may help. */
static int attempt(call *c, const char *body, int stream, llm_failure *fail, int *counts,
                   int *transient, long *retry_after, lore_err *err)
{
    endpoint *ep = c->ep;
    call_reset(c);
    http_request rq = {body, strlen(body), stream ? sse_sink : NULL, c, c->l->first_token_ms};
    http_outcome oc;
    int rc = http_post_once(ep->http, &rq, &oc, err);
    *fail = LLM_OK;
    *counts = 0;
    *transient = 0;
    *retry_after = oc.retry_after_s;
    if (c->cancelled) {
        *fail = LLM_CANCELLED;
        return lore_errf(err, LORE_ENET, "llm server %s: generation cancelled by the reader",
                         ep->base_url);
    }
    if (rc == 0 && !stream)
        parse_whole(c, http_reply(ep->http));
    if (rc == 0 && stream && c->line.len > 0) /* a last line without its newline */
        sse_line(c, c->line.buf, c->line.len);
    if (rc == 0 && stream && c->data.len > 0)
        sse_event(c);
    if (c->bad) {
        *fail = LLM_MALFORMED;
        *counts = 1;
        *transient = !c->emitted;
        return lore_errf(err, LORE_ENET, "%s %s", http_label(ep->http), c->bad_msg);
    }
    if (rc != 0) {
        if (oc.sunk) {
            *fail = LLM_TRUNCATED;
            *counts = 1;
            *transient = !c->emitted;
            return lore_err_wrap(err, "answer stream cut after %zu bytes", c->text.len);
        }
        *fail = LLM_UNAVAILABLE;
        *counts = oc.transient || oc.status == 0;
        *transient = oc.transient;
        return rc;
    }
    if (stream && !c->done && c->finish == NULL) {
        *fail = LLM_TRUNCATED;
        *counts = 1;
        *transient = !c->emitted;
        return lore_errf(err, LORE_ENET,
                         "%s ended the stream before the answer was finished (%zu bytes, no "
                         "finish_reason, no [DONE])", http_label(ep->http), c->text.len);
    }
    if (c->finish != NULL && strcmp(c->finish, "length") == 0) {
        *fail = LLM_LENGTH;
        return lore_errf(err, LORE_ENET,
                         "%s cut the answer at the token limit (finish_reason length)",
                         http_label(ep->http));
    }
    return 0;
}

int llm_chat(llm *l, const llm_message *msgs, size_t n, long max_tokens, int stream,
             llm_token_fn on_token, void *ctx, llm_reply *out, lore_err *err)
{
    memset(out, 0, sizeof *out);
    out->ms_first_token = out->ms_total = -1;
    if (max_tokens <= 0)
        max_tokens = l->answer_tokens;
    call c;
    memset(&c, 0, sizeof c);
    c.l = l;
    c.on_token = stream ? on_token : NULL;
    c.ctx = ctx;
    c.t0 = http_now_ms();
    c.t_first = -1;
    int rc = LORE_ENET;
    llm_failure fail = LLM_UNAVAILABLE;
    int tried_any = 0;
    lore_errf(err, LORE_ENET, "llm: no endpoint tried");
    for (int e = 0; e < l->n_ep; e++) {
        endpoint *ep = &l->ep[e];
        c.ep = ep;
        out->fallback = e > 0;
        char *body = NULL;
        if (build_body(l, ep, msgs, n, max_tokens, stream, &body) != 0) {
            rc = lore_errf(err, LORE_ENOMEM, "out of memory building an llm request");
            break;
        }
        if (l->debug != NULL) {
            fprintf(l->debug, "debug: llm request to %s/chat/completions: %s\n", ep->base_url,
                    body);
            fflush(l->debug);
        }
        for (int a = 0; a <= l->retries; a++) {
            int probe;
            if (!breaker_allow(ep->breaker, &probe)) {
                if (!tried_any || a == 0)
                    lore_errf(err, LORE_ENET, "llm server %s (model %s): circuit breaker open "
                              "after repeated failures", ep->base_url, ep->model);
                fail = LLM_UNAVAILABLE;
                rc = LORE_ENET;
                break;
            }
            tried_any = 1;
            out->attempts++;
            int counts, transient;
            long retry_after;
            rc = attempt(&c, body, stream, &fail, &counts, &transient, &retry_after, err);
            breaker_result(ep->breaker, probe, rc == 0, counts);
            if (rc == 0 || fail == LLM_CANCELLED || c.emitted)
                break;
            if (!transient || a == l->retries)
                break;
            http_sleep_ms(http_backoff_ms(&l->rng, l->backoff_ms, a, retry_after));
        }
        free(body);
        /* Text already shown to the reader cannot be taken back by another endpoint. */
        if (rc == 0 || fail == LLM_CANCELLED || c.emitted || fail == LLM_LENGTH)
            break;
    }
    /* Without a streaming callback, a non-streamed answer is handed over once at the end. */
    if (rc == 0 && !stream && on_token != NULL && c.text.len > 0 &&
        on_token(ctx, c.text.buf, c.text.len) != 0) {
        fail = LLM_CANCELLED;
        rc = lore_errf(err, LORE_ENET, "llm: generation cancelled by the reader");
    }
    out->failure = rc == 0 ? LLM_OK : fail;
    out->content = c.text.len > 0 || rc == 0 ? sbuf_detach(&c.text) : NULL;
    out->finish_reason = c.finish;
    c.finish = NULL;
    out->ms_total = http_now_ms() - c.t0;
    if (c.t_first >= 0)
        out->ms_first_token = c.t_first - c.t0;
    sbuf_free(&c.text);
    sbuf_free(&c.line);
    sbuf_free(&c.data);
    return rc;
}
