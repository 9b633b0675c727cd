/* parse_text: plain text. Blank lines separate paragraphs; the lines of one paragraph keep
 * their line breaks (plain-text help articles use them for steps and short lists). */
#include "parse_internal.h"

#include <string.h>

static int text_blank(const char *s, size_t n)
{
    size_t m = n;
    parse_trim(s, &m);
    return m == 0;
}

/* Adds the paragraph made of the lines in data[start..end), each with its trailing blanks and
 * carriage return removed, joined by '\n'. */
static int text_paragraph(article *a, const char *data, size_t start, size_t end, int line,
                          lore_err *err)
{
    sbuf para = SBUF_INIT;
    size_t pos = start;
    int rc = 0;
    while (rc == 0 && pos < end) {
        const char *nl = memchr(data + pos, '\n', end - pos);
        size_t e = nl ? (size_t)(nl - data) : end;
        size_t n = e - pos;
        while (n > 0 && (data[pos + n - 1] == '\r' || data[pos + n - 1] == ' ' ||
                         data[pos + n - 1] == '\t'))
            n--;
        if (para.len > 0)
            rc = sbuf_addc(&para, '\n');
        if (rc == 0)
            rc = sbuf_add(&para, data + pos, n);
        pos = e + 1;
    }
    if (rc != 0)
        rc = lore_errf(err, LORE_ENOMEM, "out of memory reading a paragraph at line %d", line);
    else
        rc = parse_add_block(a, BLOCK_PARAGRAPH, 0, sbuf_str(&para), para.len, NULL, line, err);
    sbuf_free(&para);
    return rc;
}

int parse_text_body(const char *data, size_t len, int base_line, int take_title, article *a,
                    lore_err *err)
{
    int want_title = take_title && (a->title == NULL || a->title[0] == '\0');
    size_t pos = 0, para_start = 0;
    int line = base_line, para_line = 0;
    int in_para = 0;
    while (pos <= len) {
        const char *nl = pos < len ? memchr(data + pos, '\n', len - pos) : NULL;
        size_t end = nl ? (size_t)(nl - data) : len;
        int blank = text_blank(data + pos, end - pos);
        if (!blank && want_title) {
            size_t n = end - pos;
            const char *t = parse_trim(data + pos, &n);
            int rc = parse_set_if_empty(&a->title, t, n, err);
            if (rc != 0)
                return rc;
            want_title = 0;
        } else if (!blank && !in_para) {
            in_para = 1;
            para_start = pos;
            para_line = line;
        } else if (blank && in_para) {
            int rc = text_paragraph(a, data, para_start, pos, para_line, err);
            if (rc != 0)
                return rc;
            in_para = 0;
        }
        if (nl == NULL)
            break;
        pos = end + 1;
        line++;
    }
    return in_para ? text_paragraph(a, data, para_start, len, para_line, err) : 0;
}
