/* parse: the file front end (format choice, size and encoding checks) and the helpers the
 * format back ends share. The back ends live in parse_md.c, parse_html.c, parse_text.c and
 * parse_json.c. */
#include "parse.h"

#include "parse_internal.h"
#include "text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum file_format { FMT_NONE, FMT_MD, FMT_HTML, FMT_TEXT, FMT_JSON, FMT_JSONL } file_format;

/* ---- shared helpers ---------------------------------------------------------------- */

void parse_lines_init(parse_lines *lc, const char *data, size_t len)
{
    lc->data = data;
    lc->len = len;
    lc->off = 0;
    lc->line = 1;
}

int parse_lines_at(parse_lines *lc, size_t off)
{
    if (off > lc->len)
        off = lc->len;
    if (off < lc->off) {
        lc->off = 0;
        lc->line = 1;
    }
    while (lc->off < off) {
        const char *nl = memchr(lc->data + lc->off, '\n', off - lc->off);
        if (nl == NULL) {
            lc->off = off;
            break;
        }
        lc->line++;
        lc->off = (size_t)(nl - lc->data) + 1;
    }
    return lc->line;
}

void parse_warnf(const parse_callbacks *cb, const char *path, int line, const char *fmt, ...)
{
    if (cb == NULL || cb->warn == NULL)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    cb->warn(cb->ctx, path, line, msg);
}

int parse_emit(const parse_callbacks *cb, article *a)
{
    if (cb == NULL || cb->sink == NULL) {
        article_free(a);
        return 0;
    }
    return cb->sink(cb->ctx, a);
}

int parse_set_if_empty(char **field, const char *s, size_t n, lore_err *err)
{
    if (*field != NULL && (*field)[0] != '\0')
        return 0;
    char *p = malloc(n + 1);
    if (p == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory copying a %zu-byte field", n);
    memcpy(p, s, n);
    p[n] = '\0';
    free(*field);
    *field = p;
    return 0;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Length of the whitespace character at s[0..n), 0 when it is not whitespace. U+00A0 counts
 * because gumbo decodes &nbsp; to it and help centers use it as a plain space. */
static size_t space_len(const char *s, size_t n)
{
    if (is_space((unsigned char)s[0]))
        return 1;
    if (n >= 2 && (unsigned char)s[0] == 0xC2 && (unsigned char)s[1] == 0xA0)
        return 2;
    return 0;
}

int parse_add_collapsed(sbuf *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t w = space_len(s + i, n - i);
        if (w == 0) {
            size_t start = i;
            while (i < n && space_len(s + i, n - i) == 0)
                i++;
            if (sbuf_add(b, s + start, i - start) != 0)
                return LORE_ENOMEM;
            continue;
        }
        while (i < n && (w = space_len(s + i, n - i)) != 0)
            i += w;
        char last = b->len ? b->buf[b->len - 1] : ' ';
        if (last != ' ' && last != '\n' && sbuf_addc(b, ' ') != 0)
            return LORE_ENOMEM;
    }
    return 0;
}

const char *parse_trim(const char *s, size_t *n)
{
    size_t len = *n;
    while (len > 0 && is_space((unsigned char)s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_space((unsigned char)s[len - 1]))
        len--;
    *n = len;
    return s;
}

int parse_add_block(article *a, article_block_kind kind, int level, const char *text,
                    size_t len, const char *header, int line, lore_err *err)
{
    if (kind == BLOCK_CODE) {
        while (len > 0 && is_space((unsigned char)text[len - 1]))
            len--;
        /* Drop leading blank lines but keep the first line's indentation. */
        size_t lead = 0;
        while (lead < len && is_space((unsigned char)text[lead]) && text[lead] != '\n')
            lead++;
        if (lead < len && text[lead] == '\n') {
            text += lead + 1;
            len -= lead + 1;
        }
    } else {
        text = parse_trim(text, &len);
    }
    if (len == 0 && (kind != BLOCK_TABLE || header == NULL))
        return 0;
    if (article_add_block(a, kind, level, text, len, header, line) != 0)
        return lore_errf(err, LORE_ENOMEM, "out of memory adding a block of %zu bytes", len);
    return 0;
}

int parse_title_from_h1(article *a, lore_err *err)
{
    if (a->title != NULL && a->title[0] != '\0')
        return 0;
    for (size_t i = 0; i < a->nblocks; i++) {
        article_block *b = &a->blocks[i];
        if (b->kind != BLOCK_HEADING || b->level != 1)
            continue;
        /* The block's text becomes the title: ownership moves, nothing is copied. */
        free(a->title);
        a->title = b->text;
        free(b->header);
        memmove(b, b + 1, (a->nblocks - i - 1) * sizeof *b);
        a->nblocks--;
        return 0;
    }
    if (a->title == NULL) {
        a->title = calloc(1, 1);
        if (a->title == NULL)
            return lore_errf(err, LORE_ENOMEM, "out of memory setting a title");
    }
    return 0;
}

/* ---- formats ------------------------------------------------------------------------ */

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    if (m > n)
        return 0;
    for (size_t i = 0; i < m; i++) {
        char c = s[n - m + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != suffix[i])
            return 0;
    }
    return 1;
}

static file_format format_of(const char *path)
{
    if (ends_with_ci(path, ".md") || ends_with_ci(path, ".markdown"))
        return FMT_MD;
    if (ends_with_ci(path, ".html") || ends_with_ci(path, ".htm"))
        return FMT_HTML;
    if (ends_with_ci(path, ".txt"))
        return FMT_TEXT;
    if (ends_with_ci(path, ".jsonl"))
        return FMT_JSONL;
    if (ends_with_ci(path, ".json"))
        return FMT_JSON;
    return FMT_NONE;
}

int parse_supported(const char *path) { return path != NULL && format_of(path) != FMT_NONE; }

int parse_body(const char *format, const char *data, size_t len, article *a, lore_err *err)
{
    if (format == NULL || a == NULL || (data == NULL && len > 0))
        return lore_errf(err, LORE_EINVAL, "parse_body: missing argument");
    if (data == NULL)
        data = "";
    int rc;
    if (strcmp(format, "markdown") == 0)
        rc = parse_md_body(data, len, 1, a, err);
    else if (strcmp(format, "html") == 0)
        rc = parse_html_body(data, len, 1, a, err);
    else if (strcmp(format, "text") == 0)
        rc = parse_text_body(data, len, 1, 1, a, err);
    else
        return lore_errf(err, LORE_EINVAL, "unknown body format '%s'", format);
    if (rc == 0 && a->title == NULL)
        rc = parse_set_if_empty(&a->title, "", 0, err);
    return rc;
}

/* ---- reading and checking a file ---------------------------------------------------- */

/* Reads the whole file into a NUL-terminated buffer. The size is checked before reading
 * and again while reading, since the file may grow in between. *too_big is set instead of
 * failing so the caller can warn and go on. */
static int read_whole(const char *path, char **out, size_t *outlen, int *too_big,
                      lore_err *err)
{
    *out = NULL;
    *outlen = 0;
    *too_big = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return lore_errf(err, LORE_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return lore_errf(err, LORE_EIO, "cannot stat %s: %s", path, strerror(e));
    }
    if (st.st_size < 0 || (unsigned long long)st.st_size > PARSE_MAX_FILE) {
        fclose(f);
        *too_big = 1;
        return 0;
    }
    size_t cap = (size_t)st.st_size + 1;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        fclose(f);
        return lore_errf(err, LORE_ENOMEM, "out of memory reading %s", path);
    }
    /* Ask for one byte more than expected: getting it means the file grew. */
    size_t got = fread(buf, 1, cap, f);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return lore_errf(err, LORE_EIO, "cannot read %s", path);
    }
    if (got > PARSE_MAX_FILE) {
        free(buf);
        *too_big = 1;
        return 0;
    }
    if (got == cap) {
        /* It grew while we read: a partial article would replace the good one; the next run
         * will see it whole. */
        free(buf);
        return lore_errf(err, LORE_EIO, "%s changed while being read", path);
    }
    buf[got] = '\0';
    *out = buf;
    *outlen = got;
    return 0;
}

static int all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_space((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Line of the first invalid UTF-8 byte, or 0 when the text is valid. Checking line by line
 * is exact: '\n' never occurs inside a multi-byte sequence. */
static int first_bad_utf8_line(const char *s, size_t n)
{
    int line = 1;
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - s) : n;
        if (!text_utf8_valid(s + i, end - i))
            return line;
        line++;
        i = end + 1;
    }
    return 0;
}

/* Whole-file problems that make the file unusable; 1 when one was reported. JSON formats
 * skip the UTF-8 check here: their records are checked one by one so one bad record does
 * not cost the others. */
static int reject_file(const char *path, const char *data, size_t len, file_format fmt,
                       const parse_callbacks *cb)
{
    if (len == 0 || all_space(data, len)) {
        parse_warnf(cb, path, 0, "empty file");
        return 1;
    }
    const char *nul = memchr(data, '\0', len);
    if (nul != NULL) {
        parse_lines lc;
        parse_lines_init(&lc, data, len);
        parse_warnf(cb, path, parse_lines_at(&lc, (size_t)(nul - data)),
                    "binary file (NUL byte at offset %zu)", (size_t)(nul - data));
        return 1;
    }
    if (fmt != FMT_JSON && fmt != FMT_JSONL) {
        int bad = first_bad_utf8_line(data, len);
        if (bad != 0) {
            parse_warnf(cb, path, bad, "invalid utf-8");
            return 1;
        }
    }
    return 0;
}

/* The file name without directories and extension: the last-resort title. */
static int title_from_name(article *a, const char *path, lore_err *err)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return parse_set_if_empty(&a->title, base, n, err);
}

static int parse_document(const char *path, const char *rel, const char *data, size_t len,
                          file_format fmt, const parse_callbacks *cb, lore_err *err)
{
    article a;
    memset(&a, 0, sizeof a);
    a.line = 1;
    int rc = parse_set_if_empty(&a.source, path, strlen(path), err);
    if (rc == 0) {
        if (fmt == FMT_MD)
            rc = parse_md_body(data, len, 1, &a, err);
        else if (fmt == FMT_HTML)
            rc = parse_html_body(data, len, 1, &a, err);
        else
            rc = parse_text_body(data, len, 1, 1, &a, err);
    }
    if (rc == 0)
        rc = parse_set_if_empty(&a.id, rel, strlen(rel), err);
    if (rc == 0)
        rc = title_from_name(&a, path, err);
    if (rc != 0) {
        article_free(&a);
        return lore_err_wrap(err, "%s", path);
    }
    return parse_emit(cb, &a);
}

int parse_file(const char *path, const char *rel, const parse_callbacks *cb, lore_err *err)
{
    if (path == NULL)
        return lore_errf(err, LORE_EINVAL, "parse_file: no path");
    if (rel == NULL)
        rel = path;
    file_format fmt = format_of(path);
    if (fmt == FMT_NONE) {
        parse_warnf(cb, path, 0, "unsupported file type");
        return 0;
    }
    char *data;
    size_t len;
    int too_big;
    int rc = read_whole(path, &data, &len, &too_big, err);
    if (rc != 0)
        return rc;
    if (too_big) {
        parse_warnf(cb, path, 0, "file too large (limit %u bytes)", PARSE_MAX_FILE);
        return 0;
    }
    const char *text = data;
    /* A UTF-8 byte order mark says nothing the parsers need and would stick to the title. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    if (reject_file(path, text, len, fmt, cb)) {
        free(data);
        return 0;
    }
    if (fmt == FMT_JSON)
        rc = parse_json_file(path, rel, text, len, cb, err);
    else if (fmt == FMT_JSONL)
        rc = parse_jsonl_file(path, rel, text, len, cb, err);
    else
        rc = parse_document(path, rel, text, len, fmt, cb, err);
    free(data);
    return rc;
}
