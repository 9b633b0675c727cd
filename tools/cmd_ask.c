/* lore ask: answers a question from a collection, grounded in its articles, with citations,
 * confidence, and a refusal reason when it will not answer. */
#include "answer.h"
#include "answer_json.h"
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ask_usage(FILE *f)
{
    fputs("usage: lore ask \"question\" [options]\n\n"
          "Answers a customer question from a collection's articles and cites them. With no\n"
          "LLM configured (the default) the answer is extractive: the sentences of the best\n"
          "articles that best match the question, quoted. With an OpenAI-compatible LLM\n"
          "(gpt-oss-20b on vLLM, llama.cpp or Ollama; see the README) the answer is\n"
          "generated from numbered sources and streamed, then validated. Below the\n"
          "confidence threshold lore refuses and says why (exit status 0 either way).\n\n"
          "The LLM and answer settings come from DATA/COLLECTION/config.json; the options\n"
          "below override them for one run.\n\n"
          "options:\n"
          "  -c, --collection NAME   collection (default: default)\n"
          "      --data DIR          data directory (default: $LORE_DATA or ~/.local/share/lore)\n"
          "      --config FILE       read the answer config from FILE instead\n"
          "      --history FILE      earlier turns: a JSON array of {\"role\": \"user\" |\n"
          "                          \"assistant\", \"content\": \"...\"}, oldest first\n"
          "      --llm URL           LLM base URL, e.g. http://127.0.0.1:8000/v1\n"
          "      --model NAME        LLM model (e.g. openai/gpt-oss-20b)\n"
          "      --fallback-llm URL  fallback base URL\n"
          "      --fallback-model M  fallback model\n"
          "      --extractive        never call the LLM\n"
          "      --no-stream         ask the LLM for one reply instead of a stream\n"
          "      --threshold T       confidence needed to answer, 0..1 (default 0.85)\n"
          "      --sources N         sources given to the model (default 5)\n"
          "      --json              print one JSON object (no streaming)\n"
          "      --debug             log everything sent to the LLM on stderr\n"
          "  -h, --help              this help\n", f);
}

static int replace(char **dst, const char *v)
{
    char *s = strdup(v);
    if (s == NULL)
        return -1;
    free(*dst);
    *dst = s;
    return 0;
}

/* ---- history ---- */

typedef struct history {
    answer_turn *turns;
    size_t n;
    cJSON *root; /* owns the strings */
} history;

static int load_history(const char *path, history *h)
{
    memset(h, 0, sizeof *h);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cli_error("cannot open history file %s", path);
        return CLI_USAGE;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (p == NULL || cap > (16u << 20)) {
                free(p != NULL ? p : buf);
                fclose(f);
                cli_error("history file %s is too large", path);
                return CLI_USAGE;
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    h->root = cJSON_ParseWithLength(buf ? buf : "", len);
    free(buf);
    if (!cJSON_IsArray(h->root)) {
        cli_error("history file %s: not a JSON array of {\"role\", \"content\"} objects", path);
        cJSON_Delete(h->root);
        return CLI_USAGE;
    }
    int n = cJSON_GetArraySize(h->root);
    h->turns = calloc((size_t)n + 1, sizeof *h->turns);
    if (h->turns == NULL) {
        cJSON_Delete(h->root);
        cli_error("out of memory reading %s", path);
        return CLI_FAIL;
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, h->root)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(t, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(t, "content");
        if (!cJSON_IsString(role) || !cJSON_IsString(content) ||
            (strcmp(role->valuestring, "user") != 0 &&
             strcmp(role->valuestring, "assistant") != 0)) {
            cli_error("history file %s: turn %zu needs \"role\" (user or assistant) and "
                      "\"content\" strings", path, h->n + 1);
            free(h->turns);
            cJSON_Delete(h->root);
            return CLI_USAGE;
        }
        h->turns[h->n].role = role->valuestring;
        h->turns[h->n].content = content->valuestring;
        h->n++;
    }
    return 0;
}

/* ---- output ---- */

typedef struct stream_state {
    int shown; /* bytes were printed */
} stream_state;

static int print_token(void *ctx, const char *s, size_t n)
{
    stream_state *st = ctx;
    fwrite(s, 1, n, stdout);
    fflush(stdout);
    st->shown = 1;
    return 0;
}

static void print_json(const char *question, const answer_result *r)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "question", question) == NULL ||
        answer_json_add(o, r) != 0) {
        cJSON_Delete(o);
        cli_error("out of memory printing the answer");
        return;
    }
    cli_print_json(o);
}

static void print_text(const answer_result *r, const stream_state *st)
{
    if (st->shown)
        fputc('\n', stdout);
    if (r->answered) {
        int any = 0;
        for (size_t i = 0; i < r->n_sources; i++) {
            const answer_source *s = &r->sources[i];
            if (!s->cited)
                continue;
            if (!any)
                puts("\nsources:");
            any = 1;
            printf("  [%d] %s", s->n, s->title ? s->title : "(untitled)");
            if (s->heading != NULL && s->title != NULL && strcmp(s->heading, s->title) != 0)
                printf(" (%s)", s->heading);
            if (s->url != NULL)
                printf(" - %s", s->url);
            putchar('\n');
        }
        printf("\nconfidence %.2f (retrieval %.2f, validation %.2f; threshold %.2f, %s)\n",
               r->confidence, r->retrieval_confidence, r->validation, r->threshold, r->mode);
    } else {
        if (st->shown)
            puts("\n[withheld: the text above did not pass validation]");
        printf("%srefused: %s%s%s\n", st->shown ? "" : "", r->refusal ? r->refusal : "unknown",
               r->detail ? ": " : "", r->detail ? r->detail : "");
        printf("confidence %.2f (retrieval %.2f; threshold %.2f)\n", r->confidence,
               r->retrieval_confidence, r->threshold);
        if (r->n_sources > 0) {
            puts("closest articles:");
            for (size_t i = 0; i < r->n_sources && i < 3; i++)
                printf("  - %s%s%s\n", r->sources[i].title ? r->sources[i].title : "(untitled)",
                       r->sources[i].url ? " - " : "", r->sources[i].url ? r->sources[i].url : "");
        }
    }
    fflush(stdout);
}

int cmd_ask(int argc, char **argv)
{
    enum { O_DATA = 256, O_CONFIG, O_HISTORY, O_LLM, O_MODEL, O_FB_LLM, O_FB_MODEL, O_EXTRACTIVE,
           O_NO_STREAM, O_THRESHOLD, O_SOURCES, O_JSON, O_DEBUG };
    static const struct option opts[] = {
        {"collection", required_argument, NULL, 'c'}, {"data", required_argument, NULL, O_DATA},
        {"config", required_argument, NULL, O_CONFIG}, {"history", required_argument, NULL, O_HISTORY},
        {"llm", required_argument, NULL, O_LLM},      {"model", required_argument, NULL, O_MODEL},
        {"fallback-llm", required_argument, NULL, O_FB_LLM},
        {"fallback-model", required_argument, NULL, O_FB_MODEL},
        {"extractive", no_argument, NULL, O_EXTRACTIVE}, {"no-stream", no_argument, NULL, O_NO_STREAM},
        {"threshold", required_argument, NULL, O_THRESHOLD},
        {"sources", required_argument, NULL, O_SOURCES}, {"json", no_argument, NULL, O_JSON},
        {"debug", no_argument, NULL, O_DEBUG},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *collection = "default", *data = NULL, *config = NULL, *history_path = NULL;
    const char *llm_url = NULL, *model = NULL, *fb_url = NULL, *fb_model = NULL;
    int extractive = 0, no_stream = 0, json = 0, debug = 0;
    double threshold = -1;
    size_t sources = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': collection = optarg; break;
        case O_DATA: data = optarg; break;
        case O_CONFIG: config = optarg; break;
        case O_HISTORY: history_path = optarg; break;
        case O_LLM: llm_url = optarg; break;
        case O_MODEL: model = optarg; break;
        case O_FB_LLM: fb_url = optarg; break;
        case O_FB_MODEL: fb_model = optarg; break;
        case O_EXTRACTIVE: extractive = 1; break;
        case O_NO_STREAM: no_stream = 1; break;
        case O_THRESHOLD:
            if (cli_double("--threshold", optarg, 0.0, 1.0, &threshold))
                return CLI_USAGE;
            break;
        case O_SOURCES:
            if (cli_size("--sources", optarg, 1, 50, &sources))
                return CLI_USAGE;
            break;
        case O_JSON: json = 1; break;
        case O_DEBUG: debug = 1; break;
        case 'h': ask_usage(stdout); return CLI_OK;
        default: ask_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error("ask needs exactly one question (quote it)");
        ask_usage(stderr);
        return CLI_USAGE;
    }
    const char *question = argv[optind];
    if (question[strspn(question, " \t\r\n")] == '\0') {
        cli_error("the question is empty");
        return CLI_USAGE;
    }
    history hist = {0};
    if (history_path != NULL) {
        int hrc = load_history(history_path, &hist);
        if (hrc != 0)
            return hrc;
    }

    coll_open_options co = {STORE_READONLY, NULL, 0, NULL, 1};
    coll *c = NULL;
    char dir[PATH_MAX];
    int rc = cli_open(data, collection, &co, &c, dir, sizeof dir);
    if (rc != 0) {
        free(hist.turns);
        cJSON_Delete(hist.root);
        return rc;
    }
    vindex_query_threads_init();

    lore_err err = {0};
    cconf cf;
    if (config != NULL)
        rc = cconf_load_file(config, 0, &cf, &err);
    else
        rc = cconf_load(dir, &cf, &err);
    if (rc != 0) {
        cli_error("%s", err.msg);
        coll_close(c);
        free(hist.turns);
        cJSON_Delete(hist.root);
        return CLI_USAGE;
    }
    int oom = 0;
    if (llm_url != NULL)
        oom |= replace(&cf.llm.base_url, llm_url);
    if (model != NULL)
        oom |= replace(&cf.llm.model, model);
    if (fb_url != NULL)
        oom |= replace(&cf.llm.fallback_base_url, fb_url);
    if (fb_model != NULL)
        oom |= replace(&cf.llm.fallback_model, fb_model);
    if (no_stream)
        cf.llm.stream = 0;
    if (threshold >= 0)
        cf.threshold = threshold;
    if (sources > 0)
        cf.sources = sources;
    if (!oom && cconf_has_llm(&cf) && (cf.llm.model == NULL || cf.llm.model[0] == '\0')) {
        cli_error("an LLM base URL is set but no model: give --model or llm.model in %s/%s", dir,
                  CCONF_FILE);
        rc = CLI_USAGE;
    }

    answer_env *env = NULL;
    answerer *a = NULL;
    if (rc == 0 && oom)
        rc = lore_errf(&err, LORE_ENOMEM, "out of memory applying options");
    if (rc == 0)
        rc = answer_env_new(&cf, &env, &err);
    if (rc == 0 && debug)
        answer_env_set_debug(env, stderr);
    if (rc == 0)
        rc = answerer_new(env, c, &a, &err);
    answer_result r;
    memset(&r, 0, sizeof r);
    stream_state st = {0};
    if (rc == 0) {
        answer_request rq = {.question = question, .history = hist.turns, .n_history = hist.n,
                             .on_token = json ? NULL : print_token, .token_ctx = &st,
                             .force_extractive = extractive};
        rc = answerer_ask(a, &rq, &r, &err);
    }
    if (rc == CLI_USAGE) {
        /* already reported */
    } else if (rc != 0) {
        cli_error("%s", err.msg);
        rc = CLI_FAIL;
    } else {
        if (json)
            print_json(question, &r);
        else
            print_text(&r, &st);
    }
    answer_result_free(&r);
    answerer_free(a);
    answer_env_free(env);
    cconf_free(&cf);
    coll_close(c);
    free(hist.turns);
    cJSON_Delete(hist.root);
    return rc;
}
