/* parse_md: Markdown (md4c) to article blocks, with optional front matter.
 *
 * Source lines: md4c reports no positions, but the text it hands to the callbacks points into
 * the input buffer for ordinary text. A block's line is the line of its first such text;
 * a block whose text all comes from elsewhere (decoded entities, for instance) gets the
 * line of the last source text seen, which is at worst a line or two early. */
#include "parse_internal.h"

#include <md4c.h>
#include <string.h>

#define MD_MAX_LISTS 32

typedef struct md_list {
    int ordered;
    unsigned next; /* number of the next item in an ordered list */
} md_list;

typedef struct md_state {
    article *a;
    const char *doc;
    size_t doclen;
    int base_line; /* line of doc[0] in the file */
    parse_lines lc;
    int last_line;
    lore_err *err;
    int rc; /* first failure; md4c only sees "abort" */

    /* the block being collected */
    int collecting;
    article_block_kind kind;
    int level;
    int line;
    int fence; /* the code block being collected is fenced */
    sbuf text;
    size_t prefix_len; /* a list marker at the start of text is not content */

    md_list lists[MD_MAX_LISTS];
    int nlists;
    int pending_item; /* a list item opened and its first paragraph not yet started */

    /* tables */
    int in_table, in_thead, in_cell, ncells, table_line;
    sbuf cell, row, rows, header;

    /* raw HTML blocks are run through the HTML parser */
    int in_html;
    int html_line;
    sbuf html;
} md_state;

static int md_fail(md_state *st, int rc)
{
    if (st->rc == 0)
        st->rc = rc;
    return 1; /* non-zero stops md4c */
}

static int md_nomem(md_state *st)
{
    return md_fail(st, lore_errf(st->err, LORE_ENOMEM, "out of memory parsing markdown"));
}

/* Records the line of source text `p` when it lies in the document. */
static int md_line_of(md_state *st, const char *p)
{
    if (p >= st->doc && p < st->doc + st->doclen)
        st->last_line = st->base_line - 1 + parse_lines_at(&st->lc, (size_t)(p - st->doc));
    return st->last_line;
}

static int md_flush(md_state *st)
{
    if (!st->collecting)
        return 0;
    st->collecting = 0;
    int rc = 0;
    if (st->text.len > st->prefix_len) {
        int line = st->line ? st->line : st->last_line;
        if (st->kind == BLOCK_CODE && st->fence && line > st->base_line)
            line--;
        rc = parse_add_block(st->a, st->kind, st->level, sbuf_str(&st->text), st->text.len,
                             NULL, line, st->err);
    }
    sbuf_reset(&st->text);
    st->prefix_len = 0;
    return rc ? md_fail(st, rc) : 0;
}

/* Starts a block; a pending list item puts its marker ("- ", "3. ") in front so steps stay
 * readable once the list structure is gone. */
static int md_begin(md_state *st, article_block_kind kind, int level)
{
    if (md_flush(st) != 0)
        return 1;
    st->collecting = 1;
    st->kind = kind;
    st->level = level;
    st->line = 0;
    if (kind == BLOCK_PARAGRAPH && st->pending_item && st->nlists > 0) {
        md_list *l = &st->lists[st->nlists - 1];
        int rc = l->ordered ? sbuf_addf(&st->text, "%u. ", l->next - 1)
                            : sbuf_adds(&st->text, "- ");
        if (rc != 0)
            return md_nomem(st);
        st->prefix_len = st->text.len;
    }
    st->pending_item = 0;
    return 0;
}

static int md_enter_table_part(md_state *st, MD_BLOCKTYPE type)
{
    switch (type) {
    case MD_BLOCK_TABLE:
        st->in_table = 1;
        st->table_line = 0;
        sbuf_reset(&st->rows);
        sbuf_reset(&st->header);
        break;
    case MD_BLOCK_THEAD: st->in_thead = 1; break;
    case MD_BLOCK_TR:
        sbuf_reset(&st->row);
        st->ncells = 0;
        break;
    case MD_BLOCK_TH:
    case MD_BLOCK_TD:
        sbuf_reset(&st->cell);
        st->in_cell = 1;
        break;
    default: break;
    }
    return 0;
}

static int md_leave_cell(md_state *st)
{
    size_t n = st->cell.len;
    const char *c = parse_trim(sbuf_str(&st->cell), &n);
    st->in_cell = 0;
    if (st->ncells++ > 0 && sbuf_add(&st->row, " | ", 3) != 0)
        return md_nomem(st);
    return sbuf_add(&st->row, c, n) ? md_nomem(st) : 0;
}

static int md_leave_row(md_state *st)
{
    sbuf *dst = st->in_thead ? &st->header : &st->rows;
    if (dst->len > 0 && sbuf_addc(dst, '\n') != 0)
        return md_nomem(st);
    return sbuf_add(dst, st->row.buf ? st->row.buf : "", st->row.len) ? md_nomem(st) : 0;
}

static int md_leave_table(md_state *st)
{
    st->in_table = 0;
    int line = st->table_line ? st->table_line : st->last_line;
    int rc;
    if (st->rows.len == 0) /* a header alone is the table's only content */
        rc = parse_add_block(st->a, BLOCK_TABLE, 0, sbuf_str(&st->header), st->header.len,
                             NULL, line, st->err);
    else
        rc = parse_add_block(st->a, BLOCK_TABLE, 0, sbuf_str(&st->rows), st->rows.len,
                             st->header.len ? sbuf_str(&st->header) : NULL, line, st->err);
    return rc ? md_fail(st, rc) : 0;
}

static int md_leave_html(md_state *st)
{
    st->in_html = 0;
    int line = st->html_line ? st->html_line : st->last_line;
    int rc = parse_html_body(sbuf_str(&st->html), st->html.len, line, st->a, st->err);
    sbuf_reset(&st->html);
    return rc ? md_fail(st, rc) : 0;
}

static int md_enter_list(md_state *st, MD_BLOCKTYPE type, void *detail)
{
    /* A tight item's own text comes before its nested list: it ends here. */
    if (md_flush(st) != 0)
        return 1;
    if (st->nlists == MD_MAX_LISTS)
        return md_fail(st, lore_errf(st->err, LORE_EINVAL, "lists nested too deeply"));
    md_list *l = &st->lists[st->nlists++];
    l->ordered = type == MD_BLOCK_OL;
    l->next = l->ordered ? ((MD_BLOCK_OL_DETAIL *)detail)->start : 0;
    return 0;
}

static int md_enter_block(MD_BLOCKTYPE type, void *detail, void *ud)
{
    md_state *st = ud;
    switch (type) {
    case MD_BLOCK_H:
        return md_begin(st, BLOCK_HEADING, (int)((MD_BLOCK_H_DETAIL *)detail)->level);
    case MD_BLOCK_P:
        /* In a loose list the item's first paragraph carries the marker. */
        if (st->collecting && st->kind == BLOCK_PARAGRAPH && st->text.len == st->prefix_len &&
            st->prefix_len > 0)
            return 0;
        return md_begin(st, BLOCK_PARAGRAPH, 0);
    case MD_BLOCK_CODE:
        if (md_begin(st, BLOCK_CODE, 0) != 0)
            return 1;
        /* The first text is the line after the opening fence; the block starts at it. */
        st->fence = ((MD_BLOCK_CODE_DETAIL *)detail)->fence_char != 0;
        return 0;
    case MD_BLOCK_UL:
    case MD_BLOCK_OL: return md_enter_list(st, type, detail);
    case MD_BLOCK_LI:
        if (md_flush(st) != 0)
            return 1;
        if (st->nlists > 0)
            st->lists[st->nlists - 1].next++;
        st->pending_item = 1;
        return 0;
    case MD_BLOCK_QUOTE:
    case MD_BLOCK_HR: return md_flush(st);
    case MD_BLOCK_HTML:
        if (md_flush(st) != 0)
            return 1;
        st->in_html = 1;
        st->html_line = 0;
        sbuf_reset(&st->html);
        return 0;
    case MD_BLOCK_TABLE:
        if (md_flush(st) != 0)
            return 1;
        return md_enter_table_part(st, type);
    case MD_BLOCK_THEAD:
    case MD_BLOCK_TBODY:
    case MD_BLOCK_TR:
    case MD_BLOCK_TH:
    case MD_BLOCK_TD: return md_enter_table_part(st, type);
    case MD_BLOCK_DOC: return 0;
    }
    return 0;
}

static int md_leave_block(MD_BLOCKTYPE type, void *detail, void *ud)
{
    md_state *st = ud;
    (void)detail;
    switch (type) {
    case MD_BLOCK_H:
    case MD_BLOCK_P:
    case MD_BLOCK_CODE:
    case MD_BLOCK_LI:
    case MD_BLOCK_QUOTE: return md_flush(st);
    case MD_BLOCK_UL:
    case MD_BLOCK_OL:
        if (md_flush(st) != 0)
            return 1;
        if (st->nlists > 0)
            st->nlists--;
        return 0;
    case MD_BLOCK_HTML: return md_leave_html(st);
    case MD_BLOCK_TH:
    case MD_BLOCK_TD: return md_leave_cell(st);
    case MD_BLOCK_TR: return md_leave_row(st);
    case MD_BLOCK_THEAD: st->in_thead = 0; return 0;
    case MD_BLOCK_TABLE: return md_leave_table(st);
    default: return 0;
    }
}

static int md_enter_span(MD_SPANTYPE type, void *detail, void *ud)
{
    (void)type;
    (void)detail;
    (void)ud;
    return 0; /* links keep their text and images their alt text: both arrive as text */
}

/* Appends one piece of text in the form the current context wants it. */
static int md_add_text(md_state *st, sbuf *dst, MD_TEXTTYPE type, const char *text,
                       size_t size)
{
    switch (type) {
    case MD_TEXT_NULLCHAR: return sbuf_add(dst, "\xEF\xBF\xBD", 3);
    case MD_TEXT_BR: return sbuf_addc(dst, st->in_cell ? ' ' : '\n');
    case MD_TEXT_SOFTBR: return sbuf_addc(dst, ' ');
    case MD_TEXT_ENTITY: return parse_html_decode_entity(text, size, dst);
    case MD_TEXT_HTML: return 0; /* inline tags (<br>, <kbd>) carry no text of their own */
    default: return sbuf_add(dst, text, size);
    }
}

static int md_text(MD_TEXTTYPE type, const MD_CHAR *text, MD_SIZE size, void *ud)
{
    md_state *st = ud;
    int line = md_line_of(st, text);
    if (st->in_html) {
        if (st->html_line == 0)
            st->html_line = line;
        return sbuf_add(&st->html, text, size) ? md_nomem(st) : 0;
    }
    if (st->in_table) {
        if (st->table_line == 0)
            st->table_line = line;
        if (!st->in_cell)
            return 0;
        return md_add_text(st, &st->cell, type, text, size) ? md_nomem(st) : 0;
    }
    /* Text outside any block we opened: the rest of a tight list item after its nested
     * list, for instance. */
    if (!st->collecting && md_begin(st, BLOCK_PARAGRAPH, 0) != 0)
        return 1;
    if (st->line == 0 && type != MD_TEXT_BR && type != MD_TEXT_SOFTBR)
        st->line = line;
    return md_add_text(st, &st->text, type, text, size) ? md_nomem(st) : 0;
}

/* ---- front matter -------------------------------------------------------------------- */

/* Length of the line at s[0..n) without its line ending; *next gets the start of the next. */
static size_t md_line(const char *s, size_t n, size_t *next)
{
    const char *nl = memchr(s, '\n', n);
    size_t len = nl ? (size_t)(nl - s) : n;
    *next = nl ? len + 1 : n;
    if (len > 0 && s[len - 1] == '\r')
        len--;
    return len;
}

static int md_is_fence(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n == 3 && memcmp(s, "---", 3) == 0;
}

static int md_front_field(article *a, const char *key, size_t klen, const char *v, size_t vlen,
                          lore_err *err)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"title", offsetof(article, title)},   {"id", offsetof(article, id)},
        {"url", offsetof(article, url)},       {"locale", offsetof(article, locale)},
        {"updated_at", offsetof(article, updated_at)},
    };
    v = parse_trim(v, &vlen);
    if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
        v++;
        vlen -= 2;
    }
    if (vlen == 0)
        return 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strlen(fields[i].name) == klen && memcmp(fields[i].name, key, klen) == 0)
            return parse_set_if_empty((char **)((char *)a + fields[i].off), v, vlen, err);
    }
    return 0; /* other keys (tags, author...) are not used */
}

/* Reads "---" ... "---" front matter at the start of s; returns the length it occupies (0
 * when there is none) through *skip and the number of lines through *lines. */
static int md_front_matter(const char *s, size_t n, article *a, size_t *skip, int *lines,
                           lore_err *err)
{
    *skip = 0;
    *lines = 0;
    size_t next;
    size_t len = md_line(s, n, &next);
    if (!md_is_fence(s, len))
        return 0;
    size_t pos = next;
    int nlines = 1;
    while (pos < n) {
        len = md_line(s + pos, n - pos, &next);
        nlines++;
        const char *line = s + pos;
        pos += next;
        if (md_is_fence(line, len)) {
            *skip = pos;
            *lines = nlines;
            return 0;
        }
        const char *colon = memchr(line, ':', len);
        if (colon == NULL)
            continue;
        size_t klen = (size_t)(colon - line);
        const char *key = parse_trim(line, &klen);
        size_t vlen = len - (size_t)(colon - line) - 1;
        int rc = md_front_field(a, key, klen, colon + 1, vlen, err);
        if (rc != 0)
            return rc;
    }
    return 0; /* no closing fence: it was a thematic break, not front matter */
}

int parse_md_body(const char *data, size_t len, int base_line, article *a, lore_err *err)
{
    size_t skip;
    int fm_lines;
    int rc = md_front_matter(data, len, a, &skip, &fm_lines, err);
    if (rc != 0)
        return rc;
    md_state st;
    memset(&st, 0, sizeof st);
    st.a = a;
    st.doc = data + skip;
    st.doclen = len - skip;
    st.base_line = base_line + fm_lines;
    st.last_line = st.base_line;
    st.err = err;
    parse_lines_init(&st.lc, st.doc, st.doclen);
    sbuf *bufs[] = {&st.text, &st.cell, &st.row, &st.rows, &st.header, &st.html};

    MD_PARSER parser;
    memset(&parser, 0, sizeof parser);
    parser.flags = MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH | MD_FLAG_TASKLISTS |
                   MD_FLAG_PERMISSIVEAUTOLINKS | MD_FLAG_COLLAPSEWHITESPACE;
    parser.enter_block = md_enter_block;
    parser.leave_block = md_leave_block;
    parser.enter_span = md_enter_span;
    parser.leave_span = md_enter_span;
    parser.text = md_text;
    if (st.doclen > (size_t)(MD_SIZE)-1)
        rc = lore_errf(err, LORE_EINVAL, "markdown text too large (%zu bytes)", st.doclen);
    else if (md_parse(st.doc, (MD_SIZE)st.doclen, &parser, &st) != 0)
        rc = st.rc ? st.rc : lore_errf(err, LORE_ENOMEM, "md4c failed to parse markdown");
    else
        rc = md_flush(&st) ? st.rc : 0;
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        sbuf_free(bufs[i]);
    if (rc != 0)
        return rc;
    return parse_title_from_h1(a, err);
}
