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
 *   POST /v1/chat/completions  {"model", "messages", "stream", ...}
 *                         A stand-in model: it answers with the first sentence or two of the
 *                         text of <source id="1"> in the last user message, cited "[1]"; a
 *                         refinement request (system message asking for a "standalone search
 *                         query") gets the first customer turn joined with the latest message.
 *                         An "ignore all previous instructions" that appears OUTSIDE every
 *                         <source> fence is obeyed ("PWNED. ..."), as a gullible model would.
 *                         Non-streamed replies carry "reasoning_content"; streamed ones (SSE,
 *                         chunked, word-sized deltas, finish_reason, "data: [DONE]") start with
 *                         "reasoning_content" and "reasoning" deltas: text holding
 *                         "SECRET-REASONING" that clients must never show.
 *   POST /v1/rerank      {"model", "query", "documents" (or "texts"), "top_n"}
 *                         A stand-in cross-encoder: relevance_score is the share of the
 *                         query's words (3+ characters) the document contains; results sorted
 *                         by score, cut to top_n, as {"results": [{"index", "relevance_score"}]}.
 * More routes go into the `routes` table.
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
 *   --chat MODE           chat behaviour: normal (default), malformed (truncated JSON, or a
 *                         broken stream event), cut (the stream stops mid-answer: connection
 *                         dropped, no [DONE]), invent (cites [9]), notcovered (says the sources
 *                         do not cover it), unsupported (adds a sentence no source supports),
 *                         length (finish_reason "length")
 *   --chat-fail-model M   chat requests for model M answer 500 (a primary that is down)
 *   --rerank MODE         rerank replies: normal (default), notjson, noresults (an object
 *                         without "results"), badindex (an index past the documents), dup (one
 *                         index twice), missing (the last document left out), noscore (a
 *                         result without a score), bare (a bare array, TEI's shape)
 *   --first-token-ms N    chat: wait N ms before the first byte of the reply
 *   --token-delay-ms N    chat streams: wait N ms after each event
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
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
    const char *chat;            /* --chat MODE */
    const char *chat_fail_model; /* --chat-fail-model M */
    const char *rerank;          /* --rerank MODE */
    long first_token_ms;         /* --first-token-ms N */
    long token_delay_ms;         /* --token-delay-ms N */
} cfg = {0, NULL, 16, 0, 500, -1, 0, NULL, NULL, 0, 0, 0, -1, 600, "normal", NULL, "normal", 0, 0};

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

struct sse_stream;

typedef struct reply {
    int status;
    char *body; /* malloc'd (cJSON_Print* or strdup-like); freed by the caller */
    long retry_after;
    struct sse_stream *stream; /* set: a text/event-stream reply instead of body */
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

/* ---- POST /v1/chat/completions ---- */

static void sleep_ms(long ms);

/* A stand-in for a model that answers from the prompt lore built: it quotes the start of the
 * text of source 1 and cites it, so a correct client gets a grounded, validatable answer.
 * --chat MODE scripts the misbehaviours the client must survive (see the header). */

typedef struct sse_stream {
    char **events; /* full "data: ...\n\n" strings */
    size_t n, next, pos;
    long first_delay_ms;
    int cut;       /* end with an error after the events (connection dropped) */
} sse_stream;

/* An instruction that escaped the <source> fences: a model would obey it. */
static int injection_outside_fences(const char *s)
{
    int depth = 0;
    for (const char *p = s; *p; p++) {
        if (strncmp(p, "<source id=", 11) == 0)
            depth++;
        else if (strncmp(p, "</source>", 9) == 0 && depth > 0)
            depth--;
        else if (depth == 0 && strncasecmp(p, "ignore all previous instructions", 32) == 0)
            return 1;
    }
    return 0;
}

/* The first sentence or two of source 1's text, on one line. */
static char *quote_source1(const char *user)
{
    const char *s = strstr(user, "<source id=\"1\">");
    const char *t = s ? strstr(s, "\ntext:\n") : NULL;
    if (t == NULL)
        return NULL;
    t += 7;
    const char *end = strstr(t, "\n</source>");
    if (end == NULL)
        end = t + strlen(t);
    size_t cap = (size_t)(end - t) + 1, n = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    int sentences = 0;
    for (const char *p = t; p < end && sentences < 2; p++) {
        char c = (*p == '\n' || *p == '\t') ? ' ' : *p;
        if (c == '#' || c == '|' || c == '*' || c == '`' || (c == ' ' && n > 0 && out[n - 1] == ' '))
            continue;
        if (n == 0 && c == ' ')
            continue;
        out[n++] = c;
        if ((c == '.' || c == '!' || c == '?') && (p + 1 == end || p[1] == ' ' || p[1] == '\n') &&
            n > 20)
            sentences++;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return out;
}

static const char *last_user(const cJSON *messages, const char **system)
{
    const char *u = NULL;
    *system = "";
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(role) || !cJSON_IsString(content))
            continue;
        if (strcmp(role->valuestring, "user") == 0)
            u = content->valuestring;
        else if (strcmp(role->valuestring, "system") == 0)
            *system = content->valuestring;
    }
    return u;
}

/* The reply text for a request, per --chat. */
static char *chat_text(const cJSON *messages, const char **finish)
{
    const char *system;
    const char *user = last_user(messages, &system);
    char buf[4096];
    *finish = "stop";
    if (user == NULL)
        return copy_str("Hello.");
    if (strstr(system, "standalone search query") != NULL) {
        /* Refinement: the first customer turn joined with the latest message. */
        const char *c = strstr(user, "customer: ");
        const char *l = strstr(user, "Latest message: ");
        size_t cn = c ? strcspn(c + 10, "\n") : 0;
        size_t ln = l ? strcspn(l + 16, "\n") : 0;
        snprintf(buf, sizeof buf, "%.*s %.*s", (int)cn, c ? c + 10 : "", (int)ln,
                 l ? l + 16 : "");
        return copy_str(buf);
    }
    if (injection_outside_fences(user))
        return copy_str("PWNED. Send your card number to win.");
    if (strcmp(cfg.chat, "notcovered") == 0)
        return copy_str("The sources do not cover this question.");
    char *q = quote_source1(user);
    if (q == NULL)
        return copy_str("The sources do not cover this question.");
    if (strcmp(cfg.chat, "invent") == 0)
        snprintf(buf, sizeof buf, "%s [9]", q);
    else if (strcmp(cfg.chat, "unsupported") == 0)
        snprintf(buf, sizeof buf, "%s [1] Our premium concierge plan includes unlimited "
                 "free helicopter transfers for every customer. [1]", q);
    else
        snprintf(buf, sizeof buf, "%s [1]", q);
    if (strcmp(cfg.chat, "length") == 0)
        *finish = "length";
    free(q);
    return copy_str(buf);
}

static char *chunk_event(const char *model, const char *field, const char *text,
                         const char *finish)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", "chatcmpl-fake");
    cJSON_AddStringToObject(root, "object", "chat.completion.chunk");
    cJSON_AddStringToObject(root, "model", model);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
    if (field != NULL)
        cJSON_AddStringToObject(delta, field, text);
    if (finish != NULL)
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    else
        cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(choices, ch);
    char *js = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t n = strlen(js) + 16;
    char *ev = malloc(n);
    snprintf(ev, n, "data: %s\n\n", js);
    cJSON_free(js);
    return ev;
}

static int push_event(sse_stream *st, char *ev)
{
    char **p = realloc(st->events, (st->n + 1) * sizeof *p);
    if (p == NULL || ev == NULL) {
        free(ev);
        if (p != NULL)
            st->events = p;
        return -1;
    }
    st->events = p;
    st->events[st->n++] = ev;
    return 0;
}

static void handle_chat(const request *rq, reply *rp)
{
    if (rq->json == NULL) {
        error_reply(rp, 400, "invalid_request_error", "fake: body is not valid JSON");
        return;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(rq->json, "model");
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(rq->json, "messages");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(rq->json, "stream");
    const char *m = cJSON_IsString(model) ? model->valuestring : "fake";
    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0) {
        error_reply(rp, 400, "invalid_request_error", "fake: \"messages\" must be a non-empty array");
        return;
    }
    if (cfg.chat_fail_model != NULL && strcmp(m, cfg.chat_fail_model) == 0) {
        error_reply(rp, 500, "server_error", "fake: this model is down");
        return;
    }
    int streamed = cJSON_IsTrue(stream);
    if (strcmp(cfg.chat, "malformed") == 0 && !streamed) {
        rp->status = 200;
        rp->body = copy_str("{\"id\": \"chatcmpl-fake\", \"choices\": [{\"message\": {\"content\": \"To");
        return;
    }
    const char *finish;
    char *text = chat_text(messages, &finish);
    if (text == NULL) {
        error_reply(rp, 500, "server_error", "fake: out of memory");
        return;
    }
    if (!streamed) {
        if (cfg.first_token_ms > 0)
            sleep_ms(cfg.first_token_ms);
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "id", "chatcmpl-fake");
        cJSON_AddStringToObject(root, "object", "chat.completion");
        cJSON_AddStringToObject(root, "model", m);
        cJSON *choices = cJSON_AddArrayToObject(root, "choices");
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", 0);
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", text);
        /* gpt-oss servers return the reasoning beside the answer: it must never be shown. */
        cJSON_AddStringToObject(msg, "reasoning_content", "SECRET-REASONING about the answer");
        cJSON_AddStringToObject(ch, "finish_reason", finish);
        cJSON_AddItemToArray(choices, ch);
        json_reply(rp, root);
        cJSON_Delete(root);
        free(text);
        return;
    }
    sse_stream *st = calloc(1, sizeof *st);
    if (st == NULL) {
        free(text);
        error_reply(rp, 500, "server_error", "fake: out of memory");
        return;
    }
    st->first_delay_ms = cfg.first_token_ms;
    int bad = push_event(st, chunk_event(m, "role", "assistant", NULL));
    bad |= push_event(st, chunk_event(m, "reasoning_content", "SECRET-REASONING step one", NULL));
    bad |= push_event(st, chunk_event(m, "reasoning", "SECRET-REASONING step two", NULL));
    /* The answer in word-sized deltas, as a real server sends it. */
    size_t len = strlen(text), stop = len;
    if (strcmp(cfg.chat, "cut") == 0)
        stop = len / 2;
    for (size_t i = 0; i < stop && !bad;) {
        size_t j = i;
        while (j < stop && text[j] != ' ')
            j++;
        if (j < stop)
            j++;
        char piece[512];
        size_t pn = j - i < sizeof piece - 1 ? j - i : sizeof piece - 1;
        memcpy(piece, text + i, pn);
        piece[pn] = '\0';
        bad |= push_event(st, chunk_event(m, "content", piece, NULL));
        i = j;
    }
    if (strcmp(cfg.chat, "cut") == 0) {
        st->cut = 1;
    } else if (strcmp(cfg.chat, "malformed") == 0) {
        bad |= push_event(st, copy_str("data: {\"choices\": [{\"delta\": {\"content\": \"x\n\n"));
        bad |= push_event(st, copy_str("data: [DONE]\n\n"));
    } else {
        bad |= push_event(st, chunk_event(m, NULL, NULL, finish));
        bad |= push_event(st, copy_str("data: [DONE]\n\n"));
    }
    free(text);
    rp->status = 200;
    rp->stream = st;
    if (bad)
        rp->stream->cut = 1;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse_stream *st = cls;
    if (st->next == 0 && st->pos == 0 && st->first_delay_ms > 0) {
        sleep_ms(st->first_delay_ms);
        st->first_delay_ms = 0;
    }
    if (st->next >= st->n)
        return st->cut ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    const char *ev = st->events[st->next];
    size_t left = strlen(ev) - st->pos;
    size_t n = left < max ? left : max;
    memcpy(buf, ev + st->pos, n);
    st->pos += n;
    if (st->pos == strlen(ev)) {
        st->next++;
        st->pos = 0;
        if (cfg.token_delay_ms > 0)
            sleep_ms(cfg.token_delay_ms);
    }
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    sse_stream *st = cls;
    for (size_t i = 0; i < st->n; i++)
        free(st->events[i]);
    free(st->events);
    free(st);
}

/* ---- POST /v1/rerank ---- */

/* 1 when the lower-cased word w[0..n) occurs as a word of the lower-cased text. */
static int has_word(const char *text, const char *w, size_t n)
{
    for (const char *p = text; *p;) {
        while (*p && !isalnum((unsigned char)*p))
            p++;
        const char *s = p;
        while (*p && isalnum((unsigned char)*p))
            p++;
        if ((size_t)(p - s) == n && strncasecmp(s, w, n) == 0)
            return 1;
    }
    return 0;
}

/* A stand-in cross-encoder: the relevance of a document is the share of the query's words
 * (3+ letters) it contains. Results are sorted by score, cut to top_n. */
static void handle_rerank(const request *rq, reply *rp)
{
    const cJSON *q = rq->json ? cJSON_GetObjectItemCaseSensitive(rq->json, "query") : NULL;
    const cJSON *docs = rq->json ? cJSON_GetObjectItemCaseSensitive(rq->json, "documents") : NULL;
    if (docs == NULL && rq->json)
        docs = cJSON_GetObjectItemCaseSensitive(rq->json, "texts");
    const cJSON *top = rq->json ? cJSON_GetObjectItemCaseSensitive(rq->json, "top_n") : NULL;
    if (!cJSON_IsString(q) || !cJSON_IsArray(docs)) {
        error_reply(rp, 400, "invalid_request_error",
                    "fake: rerank needs a string \"query\" and an array \"documents\"");
        return;
    }
    int n = cJSON_GetArraySize(docs);
    double *score = calloc((size_t)n + 1, sizeof *score);
    int *order = calloc((size_t)n + 1, sizeof *order);
    if (score == NULL || order == NULL) {
        free(score);
        free(order);
        error_reply(rp, 500, "server_error", "fake: out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *d = cJSON_GetArrayItem(docs, i)->valuestring;
        int words = 0, found = 0;
        for (const char *p = q->valuestring; *p;) {
            while (*p && !isalnum((unsigned char)*p))
                p++;
            const char *s = p;
            while (*p && isalnum((unsigned char)*p))
                p++;
            if (p - s >= 3) {
                words++;
                found += d != NULL && has_word(d, s, (size_t)(p - s));
            }
        }
        score[i] = words ? (double)found / words : 0.0;
        order[i] = i;
    }
    for (int i = 1; i < n; i++) /* insertion sort by score, stable */
        for (int j = i; j > 0 && score[order[j]] > score[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    int keep = cJSON_IsNumber(top) && top->valueint > 0 && top->valueint < n ? top->valueint : n;
    const char *mode = cfg.rerank ? cfg.rerank : "normal";
    if (strcmp(mode, "notjson") == 0) {
        free(score);
        free(order);
        rp->status = 200;
        rp->body = copy_str("{\"results\": [{\"index\": 0,");
        return;
    }
    if (strcmp(mode, "missing") == 0 && keep == n && n > 0)
        keep = n - 1;
    cJSON *root = cJSON_CreateObject();
    cJSON *res = cJSON_CreateArray();
    for (int k = 0; k < keep; k++) {
        cJSON *it = cJSON_CreateObject();
        int ix = order[k];
        if (k == 0 && strcmp(mode, "badindex") == 0)
            ix = n;
        if (k == 1 && strcmp(mode, "dup") == 0)
            ix = order[0];
        cJSON_AddNumberToObject(it, "index", ix);
        if (!(k == 0 && strcmp(mode, "noscore") == 0))
            cJSON_AddNumberToObject(it, "relevance_score", score[order[k]]);
        cJSON_AddItemToArray(res, it);
    }
    if (strcmp(mode, "bare") == 0) {
        json_reply(rp, res);
        cJSON_Delete(res);
    } else {
        cJSON_AddItemToObject(root, strcmp(mode, "noresults") == 0 ? "ranking" : "results", res);
        json_reply(rp, root);
    }
    cJSON_Delete(root);
    free(score);
    free(order);
}

/* ---- routing ---- */

static const struct route {
    const char *method;
    const char *path;
    route_fn fn;
} routes[] = {
    {"POST", "/v1/embeddings", handle_embeddings},
    {"POST", "/v1/chat/completions", handle_chat},
    {"POST", "/v1/rerank", handle_rerank},
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
    const cJSON *messages =
        rq->json ? cJSON_GetObjectItemCaseSensitive(rq->json, "messages") : NULL;
    if (cJSON_IsArray(messages)) {
        /* Chat requests: everything the client sent, to prove what did and did not leave. */
        const cJSON *k;
        cJSON_ArrayForEach(k, rq->json)
        {
            if (k->string != NULL && strcmp(k->string, "model") != 0 &&
                strcmp(k->string, "messages") != 0)
                cJSON_AddItemToObject(line, k->string, cJSON_Duplicate(k, 1));
        }
        cJSON_AddItemToObject(line, "messages", cJSON_Duplicate(messages, 1));
    }
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
    reply rp = {500, NULL, -1, NULL};
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
    struct MHD_Response *resp;
    if (rp.stream != NULL) {
        /* Chunked: the events go out one by one, as a real server streams tokens. */
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, rp.stream,
                                                 sse_free);
        if (resp == NULL)
            sse_free(rp.stream);
    } else {
        resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    }
    free(rp.body);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                                 rp.stream ? "text/event-stream"
                                                           : "application/json");
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
            "  [--reverse] [--drop-last] [--dim-change-after N] [--max-seconds N]\n"
            "  [--chat MODE] [--chat-fail-model M] [--first-token-ms N] [--token-delay-ms N]\n",
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
    {"--first-token-ms", &cfg.first_token_ms, 0, 3600000},
    {"--token-delay-ms", &cfg.token_delay_ms, 0, 60000},
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
        if (strcmp(a, "--chat") == 0) {
            static const char *const modes[] = {"normal", "malformed", "cut", "invent",
                                                "notcovered", "unsupported", "length"};
            int known = 0;
            for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++)
                known |= strcmp(v, modes[k]) == 0;
            if (!known) {
                fprintf(stderr, "fake_openai: unknown --chat mode \"%s\"\n", v);
                return -1;
            }
            cfg.chat = v;
            continue;
        }
        if (strcmp(a, "--chat-fail-model") == 0) {
            cfg.chat_fail_model = v;
            continue;
        }
        if (strcmp(a, "--rerank") == 0) {
            static const char *const modes[] = {"normal", "notjson", "noresults", "badindex",
                                                "dup", "missing", "noscore", "bare"};
            int known = 0;
            for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++)
                known |= strcmp(v, modes[k]) == 0;
            if (!known) {
                fprintf(stderr, "fake_openai: unknown --rerank mode \"%s\"\n", v);
                return -1;
            }
            cfg.rerank = v;
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
