/* parse_json: help-center exports as JSON (an array of articles, {"articles": [...]}, or one
 * article object) and JSONL (one object per line, help-center or BEIR shape).
 *
 * Record lines: cJSON keeps no positions, so a .json file is first parsed whole (to reject
 * it, with the error's line, when it is malformed) and then walked again value by value with
 * cJSON's parse-end pointer, which gives every record's starting offset and so its line.
 *
 * Record fields: id or _id (string or number); title or name; body (HTML when it looks like
 * HTML, else Markdown) or text (plain text, the BEIR shape); url or html_url; locale;
 * updated_at. Blocks of a record carry the record's line. */
#include "parse_internal.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct json_ctx {
    const char *path;
    const char *rel;
    const char *data;
    size_t len;
    parse_lines lc;
    const parse_callbacks *cb;
    lore_err *err;
    int index; /* 1-based record number, for ids of records that have none */
} json_ctx;

static int json_is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t json_skip_ws(const json_ctx *jc, size_t pos)
{
    while (pos < jc->len && json_is_space(jc->data[pos]))
        pos++;
    return pos;
}

/* A non-empty string field, or NULL. */
static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    const char *s = cJSON_IsString(it) ? it->valuestring : NULL;
    return s && s[0] != '\0' ? s : NULL;
}

static const char *json_str2(const cJSON *obj, const char *key, const char *alt)
{
    const char *s = json_str(obj, key);
    return s ? s : json_str(obj, alt);
}

/* The record's id as text: strings as given, integral numbers without a fraction. Returns
 * the string id, or NULL after formatting a numeric one into buf (buf[0] == 0: no id). */
static const char *json_id(const cJSON *obj, char *buf, size_t buflen)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (it == NULL || cJSON_IsNull(it))
        it = cJSON_GetObjectItemCaseSensitive(obj, "_id");
    buf[0] = '\0';
    if (cJSON_IsString(it) && it->valuestring != NULL && it->valuestring[0] != '\0')
        return it->valuestring;
    if (cJSON_IsNumber(it)) {
        double v = it->valuedouble;
        /* Doubles hold integers exactly up to 2^53, which covers Zendesk-style ids. */
        if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(long long)v)
            snprintf(buf, buflen, "%lld", (long long)v);
        else
            snprintf(buf, buflen, "%.17g", v);
    }
    return NULL;
}

/* Bodies are HTML when they start with a tag or contain a common block or inline tag;
 * anything else is read as Markdown (of which plain text is a subset). */
static int json_looks_html(const char *s)
{
    static const char *tags[] = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
                                 "li", "table", "br", "section", "article", "blockquote",
                                 "pre", "span", "strong", "em", "a", "img"};
    while (json_is_space(*s))
        s++;
    if (s[0] == '<' && (s[1] == '!' || (s[1] >= 'a' && s[1] <= 'z') ||
                        (s[1] >= 'A' && s[1] <= 'Z')))
        return 1;
    for (const char *p = strchr(s, '<'); p != NULL; p = strchr(p + 1, '<')) {
        for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
            size_t n = strlen(tags[i]);
            if (strncasecmp(p + 1, tags[i], n) != 0)
                continue;
            char c = p[1 + n];
            if (c == '>' || c == ' ' || c == '/' || c == '\t' || c == '\n')
                return 1;
        }
    }
    return 0;
}

/* Name of the first used field that is not valid UTF-8, or NULL. */
static const char *json_bad_field(const cJSON *obj)
{
    static const char *keys[] = {"id", "_id", "title", "name", "body", "text", "url",
                                 "html_url", "locale", "updated_at"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, keys[i]);
        if (cJSON_IsString(it) && it->valuestring != NULL &&
            !text_utf8_valid(it->valuestring, strlen(it->valuestring)))
            return keys[i];
    }
    return NULL;
}

static int json_set(char **field, const char *s, lore_err *err)
{
    return s ? parse_set_if_empty(field, s, strlen(s), err) : 0;
}

/* "<rel>#<n>" for a record without an id. */
static int json_fallback_id(json_ctx *jc, article *a)
{
    sbuf id = SBUF_INIT;
    if (sbuf_addf(&id, "%s#%d", jc->rel, jc->index) != 0) {
        sbuf_free(&id);
        return lore_errf(jc->err, LORE_ENOMEM, "out of memory making an id for %s", jc->rel);
    }
    free(a->id);
    a->id = sbuf_detach(&id);
    return 0;
}

static int json_fill(json_ctx *jc, const cJSON *obj, int line, article *a)
{
    char num[64];
    const char *id = json_id(obj, num, sizeof num);
    int rc = json_set(&a->source, jc->path, jc->err);
    if (rc == 0 && id != NULL)
        rc = json_set(&a->id, id, jc->err);
    else if (rc == 0 && num[0] != '\0')
        rc = json_set(&a->id, num, jc->err);
    else if (rc == 0) /* no id: the record's place in the file is the best handle left */
        rc = json_fallback_id(jc, a);
    if (rc == 0)
        rc = json_set(&a->title, json_str2(obj, "title", "name"), jc->err);
    if (rc == 0)
        rc = json_set(&a->url, json_str2(obj, "url", "html_url"), jc->err);
    if (rc == 0)
        rc = json_set(&a->locale, json_str(obj, "locale"), jc->err);
    if (rc == 0)
        rc = json_set(&a->updated_at, json_str(obj, "updated_at"), jc->err);
    if (rc != 0)
        return rc;
    const char *body = json_str(obj, "body");
    const char *text = body ? NULL : json_str(obj, "text");
    if (body && json_looks_html(body))
        rc = parse_html_body(body, strlen(body), line, a, jc->err);
    else if (body)
        rc = parse_md_body(body, strlen(body), line, a, jc->err);
    else if (text)
        rc = parse_text_body(text, strlen(text), line, 0, a, jc->err);
    if (rc == 0 && a->title == NULL)
        rc = parse_set_if_empty(&a->title, "", 0, jc->err);
    /* Positions inside a body are not positions in the file: the record's line is. */
    for (size_t i = 0; i < a->nblocks; i++)
        a->blocks[i].line = line;
    return rc;
}

/* One record: warns and skips a bad one; returns 0, a sink's value or LORE_ENOMEM. */
static int json_record(json_ctx *jc, const cJSON *obj, int line)
{
    jc->index++;
    if (!cJSON_IsObject(obj)) {
        parse_warnf(jc->cb, jc->path, line, "record %d is not a json object", jc->index);
        return 0;
    }
    if (json_str2(obj, "title", "name") == NULL && json_str2(obj, "body", "text") == NULL) {
        parse_warnf(jc->cb, jc->path, line, "record %d has neither title nor body", jc->index);
        return 0;
    }
    const char *bad = json_bad_field(obj);
    if (bad != NULL) {
        parse_warnf(jc->cb, jc->path, line, "record %d: invalid utf-8 in \"%s\"", jc->index, bad);
        return 0;
    }
    article a;
    memset(&a, 0, sizeof a);
    a.line = line;
    int rc = json_fill(jc, obj, line, &a);
    if (rc != 0) {
        article_free(&a);
        return lore_err_wrap(jc->err, "%s:%d", jc->path, line);
    }
    return parse_emit(jc->cb, &a);
}

/* Parses the value starting at data[pos]; *end gets the offset just after it. */
static cJSON *json_value_at(const json_ctx *jc, size_t pos, size_t *end)
{
    const char *e = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(jc->data + pos, jc->len - pos, &e, 0);
    *end = v && e ? (size_t)(e - jc->data) : jc->len;
    return v;
}

/* Walks the array whose '[' is at data[pos], one record per element. */
static int json_walk_array(json_ctx *jc, size_t pos)
{
    pos = json_skip_ws(jc, pos + 1);
    while (pos < jc->len && jc->data[pos] != ']') {
        size_t end;
        cJSON *item = json_value_at(jc, pos, &end);
        if (item == NULL) /* cannot happen after the whole-file parse; stop rather than loop */
            return 0;
        int rc = json_record(jc, item, parse_lines_at(&jc->lc, pos));
        cJSON_Delete(item);
        if (rc != 0)
            return rc;
        pos = json_skip_ws(jc, end);
        if (pos < jc->len && jc->data[pos] == ',')
            pos = json_skip_ws(jc, pos + 1);
    }
    return 0;
}

/* Offset of the value of "key" in the object whose '{' is at data[pos]; len when absent. */
static size_t json_member_at(const json_ctx *jc, size_t pos, const char *key)
{
    pos = json_skip_ws(jc, pos + 1);
    while (pos < jc->len && jc->data[pos] == '"') {
        size_t end;
        cJSON *k = json_value_at(jc, pos, &end);
        int match = cJSON_IsString(k) && strcmp(k->valuestring, key) == 0;
        cJSON_Delete(k);
        pos = json_skip_ws(jc, end);
        if (pos >= jc->len || jc->data[pos] != ':')
            return jc->len;
        pos = json_skip_ws(jc, pos + 1);
        if (match)
            return pos;
        cJSON *v = json_value_at(jc, pos, &end);
        if (v == NULL)
            return jc->len;
        cJSON_Delete(v);
        pos = json_skip_ws(jc, end);
        if (pos < jc->len && jc->data[pos] == ',')
            pos = json_skip_ws(jc, pos + 1);
    }
    return jc->len;
}

/* Parses the whole file; warns with the line of the problem and returns NULL when the
 * file is not one well-formed JSON value. */
static cJSON *json_parse_whole(json_ctx *jc)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(jc->data, jc->len, &end, 0);
    size_t off = end ? (size_t)(end - jc->data) : 0;
    if (root == NULL) {
        parse_warnf(jc->cb, jc->path, parse_lines_at(&jc->lc, off), "malformed json");
        return NULL;
    }
    off = json_skip_ws(jc, off);
    if (off < jc->len) {
        parse_warnf(jc->cb, jc->path, parse_lines_at(&jc->lc, off),
                    "malformed json: unexpected text after the value");
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int parse_json_file(const char *path, const char *rel, const char *data, size_t len,
                    const parse_callbacks *cb, lore_err *err)
{
    json_ctx jc = {path, rel, data, len, {0}, cb, err, 0};
    parse_lines_init(&jc.lc, data, len);
    cJSON *root = json_parse_whole(&jc);
    if (root == NULL)
        return 0;
    size_t start = json_skip_ws(&jc, 0);
    int rc = 0;
    if (cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return json_walk_array(&jc, start);
    }
    if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "articles"))) {
        cJSON_Delete(root);
        size_t at = json_member_at(&jc, start, "articles");
        return at < len ? json_walk_array(&jc, at) : 0;
    }
    if (cJSON_IsObject(root) && (cJSON_GetObjectItemCaseSensitive(root, "title") ||
                                 cJSON_GetObjectItemCaseSensitive(root, "body"))) {
        rc = json_record(&jc, root, parse_lines_at(&jc.lc, start));
    } else {
        parse_warnf(cb, path, 1, "no articles: expected an array or an \"articles\" array");
    }
    cJSON_Delete(root);
    return rc;
}

int parse_jsonl_file(const char *path, const char *rel, const char *data, size_t len,
                     const parse_callbacks *cb, lore_err *err)
{
    json_ctx jc = {path, rel, data, len, {0}, cb, err, 0};
    parse_lines_init(&jc.lc, data, len);
    size_t pos = 0;
    int line = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;
        const char *s = parse_trim(data + pos, &n);
        pos = nl ? (size_t)(nl - data) + 1 : len;
        line++;
        if (n == 0)
            continue;
        const char *end = NULL;
        cJSON *obj = cJSON_ParseWithLengthOpts(s, n, &end, 0);
        if (obj == NULL || (end != NULL && end < s + n)) {
            size_t col = end ? (size_t)(end - s) + 1 : 1;
            parse_warnf(cb, path, line, "malformed json record (column %zu)", col);
            cJSON_Delete(obj);
            continue;
        }
        int rc = json_record(&jc, obj, line);
        cJSON_Delete(obj);
        if (rc != 0)
            return rc;
    }
    return 0;
}
