/* parse_html: HTML (gumbo) to article blocks.
 *
 * Page chrome (navigation, headers, footers, scripts, forms) is skipped. Headings, paragraph-
 * like elements, <pre> and tables become blocks; text sitting directly in containers such as
 * <div> becomes a paragraph at the next block boundary. Whitespace is collapsed; gumbo has
 * already decoded the character references. */
#include "parse_internal.h"

#include <gumbo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct html_state {
    article *a;
    lore_err *err;
    int base_line;
    sbuf inl;        /* running text of the current implicit paragraph */
    int inl_line;    /* its first line, 0 while it is empty */
    char prefix[24]; /* list marker for the next paragraph, "" when none */
    int title_from_tag; /* the title came from <title>, not from the caller */
    int rc;
} html_state;

static int html_skipped(GumboTag tag)
{
    switch (tag) {
    case GUMBO_TAG_HEAD:
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_NAV:
    case GUMBO_TAG_HEADER:
    case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_FORM:
    case GUMBO_TAG_SVG:
    case GUMBO_TAG_MATH:
    case GUMBO_TAG_BUTTON:
    case GUMBO_TAG_SELECT:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_CANVAS: return 1;
    default: return 0;
    }
}

/* Inline elements continue the surrounding text; every other element is a block bound. */
static int html_inline(GumboTag tag)
{
    switch (tag) {
    case GUMBO_TAG_A:
    case GUMBO_TAG_ABBR:
    case GUMBO_TAG_B:
    case GUMBO_TAG_BDI:
    case GUMBO_TAG_BDO:
    case GUMBO_TAG_BIG:
    case GUMBO_TAG_CITE:
    case GUMBO_TAG_CODE:
    case GUMBO_TAG_DATA:
    case GUMBO_TAG_DEL:
    case GUMBO_TAG_DFN:
    case GUMBO_TAG_EM:
    case GUMBO_TAG_FONT:
    case GUMBO_TAG_I:
    case GUMBO_TAG_INS:
    case GUMBO_TAG_KBD:
    case GUMBO_TAG_LABEL:
    case GUMBO_TAG_MARK:
    case GUMBO_TAG_NOBR:
    case GUMBO_TAG_Q:
    case GUMBO_TAG_S:
    case GUMBO_TAG_SAMP:
    case GUMBO_TAG_SMALL:
    case GUMBO_TAG_SPAN:
    case GUMBO_TAG_STRIKE:
    case GUMBO_TAG_STRONG:
    case GUMBO_TAG_SUB:
    case GUMBO_TAG_SUP:
    case GUMBO_TAG_TIME:
    case GUMBO_TAG_TT:
    case GUMBO_TAG_U:
    case GUMBO_TAG_VAR:
    case GUMBO_TAG_WBR:
    case GUMBO_TAG_UNKNOWN: return 1;
    default: return 0;
    }
}

static const char *html_attr(const GumboNode *node, const char *name)
{
    GumboAttribute *at = gumbo_get_attribute(&node->v.element.attributes, name);
    return at ? at->value : NULL;
}

static int html_line(const html_state *st, unsigned line)
{
    return line ? st->base_line - 1 + (int)line : 0;
}

/* Appends the text under `node`: collapsed, or verbatim for <pre>. */
static int html_collect(const GumboNode *node, sbuf *out, int verbatim)
{
    if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_WHITESPACE ||
        node->type == GUMBO_NODE_CDATA) {
        const char *t = node->v.text.text;
        return verbatim ? sbuf_adds(out, t) : parse_add_collapsed(out, t, strlen(t));
    }
    if (node->type != GUMBO_NODE_ELEMENT)
        return 0;
    GumboTag tag = node->v.element.tag;
    if (html_skipped(tag))
        return 0;
    if (tag == GUMBO_TAG_BR)
        return sbuf_addc(out, verbatim ? '\n' : ' ');
    if (tag == GUMBO_TAG_IMG) {
        const char *alt = html_attr(node, "alt");
        return alt ? parse_add_collapsed(out, alt, strlen(alt)) : 0;
    }
    const GumboVector *kids = &node->v.element.children;
    for (unsigned i = 0; i < kids->length; i++) {
        const GumboNode *k = kids->data[i];
        /* Cells and items glued together in the source still need a space between them. */
        int bound = !verbatim && k->type == GUMBO_NODE_ELEMENT && !html_inline(k->v.element.tag);
        if (bound && out->len > 0 && parse_add_collapsed(out, " ", 1) != 0)
            return LORE_ENOMEM;
        if (html_collect(k, out, verbatim) != 0)
            return LORE_ENOMEM;
        if (bound && out->len > 0 && parse_add_collapsed(out, " ", 1) != 0)
            return LORE_ENOMEM;
    }
    return 0;
}

static int html_nomem(html_state *st)
{
    if (st->rc == 0)
        st->rc = lore_errf(st->err, LORE_ENOMEM, "out of memory parsing html");
    return st->rc;
}

static int html_fail(html_state *st, int rc)
{
    if (st->rc == 0)
        st->rc = rc;
    return st->rc;
}

/* Ends the implicit paragraph, if it has any text. */
static int html_flush(html_state *st)
{
    size_t n = st->inl.len;
    const char *t = parse_trim(sbuf_str(&st->inl), &n);
    int rc = 0;
    if (n > 0) {
        sbuf para = SBUF_INIT;
        if (sbuf_adds(&para, st->prefix) != 0 || sbuf_add(&para, t, n) != 0)
            rc = html_nomem(st);
        else
            rc = parse_add_block(st->a, BLOCK_PARAGRAPH, 0, sbuf_str(&para), para.len, NULL,
                                 st->inl_line, st->err);
        sbuf_free(&para);
        st->prefix[0] = '\0';
    }
    sbuf_reset(&st->inl);
    st->inl_line = 0;
    return rc ? html_fail(st, rc) : 0;
}

static int html_text_block(html_state *st, const GumboNode *node, article_block_kind kind,
                           int level)
{
    sbuf t = SBUF_INIT;
    int rc = html_collect(node, &t, kind == BLOCK_CODE);
    if (rc == 0)
        rc = parse_add_block(st->a, kind, level, sbuf_str(&t), t.len, NULL,
                             html_line(st, node->v.element.start_pos.line), st->err);
    sbuf_free(&t);
    return rc ? html_nomem(st) : 0; /* both calls fail only for memory */
}

/* Appends one row as "a | b | c". */
static int html_row(const GumboNode *tr, sbuf *out)
{
    const GumboVector *cells = &tr->v.element.children;
    int ncells = 0;
    for (unsigned i = 0; i < cells->length; i++) {
        const GumboNode *c = cells->data[i];
        if (c->type != GUMBO_NODE_ELEMENT ||
            (c->v.element.tag != GUMBO_TAG_TD && c->v.element.tag != GUMBO_TAG_TH))
            continue;
        sbuf cell = SBUF_INIT;
        int rc = html_collect(c, &cell, 0);
        size_t n = cell.len;
        const char *t = parse_trim(sbuf_str(&cell), &n);
        if (rc == 0 && ncells++ > 0)
            rc = sbuf_add(out, " | ", 3);
        if (rc == 0)
            rc = sbuf_add(out, t, n);
        sbuf_free(&cell);
        if (rc != 0)
            return LORE_ENOMEM;
    }
    return 0;
}

/* Rows of a table in document order, through thead/tbody/tfoot (gumbo always inserts
 * tbody, so rows are never direct children in practice, but both are accepted). */
static int html_table_rows(const GumboNode *node, sbuf *header, sbuf *rows, int *nrows)
{
    const GumboVector *kids = &node->v.element.children;
    for (unsigned i = 0; i < kids->length; i++) {
        const GumboNode *k = kids->data[i];
        if (k->type != GUMBO_NODE_ELEMENT)
            continue;
        GumboTag tag = k->v.element.tag;
        if (tag == GUMBO_TAG_THEAD || tag == GUMBO_TAG_TBODY || tag == GUMBO_TAG_TFOOT) {
            if (html_table_rows(k, header, rows, nrows) != 0)
                return LORE_ENOMEM;
            continue;
        }
        if (tag != GUMBO_TAG_TR)
            continue;
        /* The first row is the header: thead's row, a row of th, or simply the first. */
        sbuf *dst = *nrows == 0 ? header : rows;
        if (dst->len > 0 && sbuf_addc(dst, '\n') != 0)
            return LORE_ENOMEM;
        if (html_row(k, dst) != 0)
            return LORE_ENOMEM;
        (*nrows)++;
    }
    return 0;
}

static int html_table(html_state *st, const GumboNode *node)
{
    sbuf header = SBUF_INIT, rows = SBUF_INIT;
    int nrows = 0;
    int line = html_line(st, node->v.element.start_pos.line);
    int rc = html_table_rows(node, &header, &rows, &nrows);
    if (rc == 0 && nrows == 1) /* a single row is data, not a header */
        rc = parse_add_block(st->a, BLOCK_TABLE, 0, sbuf_str(&header), header.len, NULL, line,
                             st->err);
    else if (rc == 0 && nrows > 1)
        rc = parse_add_block(st->a, BLOCK_TABLE, 0, sbuf_str(&rows), rows.len,
                             sbuf_str(&header), line, st->err);
    sbuf_free(&header);
    sbuf_free(&rows);
    return rc ? html_nomem(st) : 0;
}

/* "- " for a bulleted item, "N. " for a numbered one (counting the <ol start>). */
static void html_item_prefix(html_state *st, const GumboNode *li)
{
    const GumboNode *list = li->parent;
    if (list == NULL || list->type != GUMBO_NODE_ELEMENT || list->v.element.tag != GUMBO_TAG_OL) {
        snprintf(st->prefix, sizeof st->prefix, "- ");
        return;
    }
    const char *start = html_attr(list, "start");
    long n = start ? strtol(start, NULL, 10) : 1;
    const GumboVector *sib = &list->v.element.children;
    for (unsigned i = 0; i < sib->length && sib->data[i] != li; i++) {
        const GumboNode *s = sib->data[i];
        if (s->type == GUMBO_NODE_ELEMENT && s->v.element.tag == GUMBO_TAG_LI)
            n++;
    }
    snprintf(st->prefix, sizeof st->prefix, "%ld. ", n);
}

static int html_walk(html_state *st, const GumboNode *node);

static int html_children(html_state *st, const GumboNode *node)
{
    const GumboVector *kids = &node->v.element.children;
    for (unsigned i = 0; i < kids->length; i++)
        if (html_walk(st, kids->data[i]) != 0)
            return st->rc;
    return 0;
}

static int html_text(html_state *st, const GumboNode *node)
{
    const char *t = node->v.text.text;
    size_t n = strlen(t);
    if (st->inl_line == 0 && node->type != GUMBO_NODE_WHITESPACE)
        st->inl_line = html_line(st, node->v.text.start_pos.line);
    return parse_add_collapsed(&st->inl, t, n) ? html_nomem(st) : 0;
}

static int html_element(html_state *st, const GumboNode *node)
{
    GumboTag tag = node->v.element.tag;
    if (html_skipped(tag))
        return 0;
    switch (tag) {
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
        if (html_flush(st) != 0)
            return st->rc;
        return html_text_block(st, node, BLOCK_HEADING, (int)(tag - GUMBO_TAG_H1) + 1);
    case GUMBO_TAG_PRE:
        if (html_flush(st) != 0)
            return st->rc;
        return html_text_block(st, node, BLOCK_CODE, 0);
    case GUMBO_TAG_TABLE:
        if (html_flush(st) != 0)
            return st->rc;
        return html_table(st, node);
    case GUMBO_TAG_BR: return sbuf_addc(&st->inl, '\n') ? html_nomem(st) : 0;
    case GUMBO_TAG_IMG: {
        const char *alt = html_attr(node, "alt");
        if (alt == NULL || alt[0] == '\0')
            return 0;
        if (st->inl_line == 0)
            st->inl_line = html_line(st, node->v.element.start_pos.line);
        return parse_add_collapsed(&st->inl, alt, strlen(alt)) ? html_nomem(st) : 0;
    }
    case GUMBO_TAG_LI:
        if (html_flush(st) != 0)
            return st->rc;
        html_item_prefix(st, node);
        break;
    default:
        if (html_inline(tag))
            return html_children(st, node);
        if (html_flush(st) != 0)
            return st->rc;
        break;
    }
    if (html_children(st, node) != 0)
        return st->rc;
    return html_flush(st);
}

static int html_walk(html_state *st, const GumboNode *node)
{
    switch (node->type) {
    case GUMBO_NODE_ELEMENT: return html_element(st, node);
    case GUMBO_NODE_TEXT:
    case GUMBO_NODE_CDATA:
    case GUMBO_NODE_WHITESPACE: return html_text(st, node);
    default: return 0; /* comments, templates */
    }
}

/* <title>, <link rel=canonical>, <meta name=lore:id>: fill the fields still empty. */
static int html_meta(html_state *st, const GumboNode *node)
{
    if (node->type != GUMBO_NODE_ELEMENT)
        return 0;
    GumboTag tag = node->v.element.tag;
    article *a = st->a;
    int rc = 0;
    if (tag == GUMBO_TAG_TITLE && (a->title == NULL || a->title[0] == '\0')) {
        sbuf t = SBUF_INIT;
        rc = html_collect(node, &t, 0);
        size_t n = t.len;
        const char *s = parse_trim(sbuf_str(&t), &n);
        if (rc == 0 && n > 0) {
            rc = parse_set_if_empty(&a->title, s, n, st->err);
            st->title_from_tag = 1;
        }
        sbuf_free(&t);
    } else if (tag == GUMBO_TAG_LINK) {
        const char *rel = html_attr(node, "rel"), *href = html_attr(node, "href");
        if (rel && href && strcasecmp(rel, "canonical") == 0 && href[0] != '\0')
            rc = parse_set_if_empty(&a->url, href, strlen(href), st->err);
    } else if (tag == GUMBO_TAG_META) {
        const char *name = html_attr(node, "name"), *content = html_attr(node, "content");
        if (name && content && strcasecmp(name, "lore:id") == 0 && content[0] != '\0')
            rc = parse_set_if_empty(&a->id, content, strlen(content), st->err);
    }
    if (rc != 0)
        return html_nomem(st);
    if (tag == GUMBO_TAG_BODY) /* metadata lives in head; gumbo moves strays there too */
        return 0;
    const GumboVector *kids = &node->v.element.children;
    for (unsigned i = 0; i < kids->length; i++)
        if (html_meta(st, kids->data[i]) != 0)
            return st->rc;
    return 0;
}

static int html_lang(html_state *st, const GumboNode *root)
{
    if (root == NULL || root->type != GUMBO_NODE_ELEMENT)
        return 0;
    const char *lang = html_attr(root, "lang");
    if (lang == NULL || lang[0] == '\0')
        return 0;
    return parse_set_if_empty(&st->a->locale, lang, strlen(lang), st->err);
}

int parse_html_body(const char *data, size_t len, int base_line, article *a, lore_err *err)
{
    GumboOutput *out = gumbo_parse_with_options(&kGumboDefaultOptions, data, len);
    if (out == NULL)
        return lore_errf(err, LORE_ENOMEM, "gumbo failed to parse %zu bytes of html", len);
    html_state st;
    memset(&st, 0, sizeof st);
    st.a = a;
    st.err = err;
    st.base_line = base_line;
    int rc = html_lang(&st, out->root);
    if (rc == 0)
        rc = html_meta(&st, out->root);
    if (rc == 0)
        rc = html_walk(&st, out->root);
    if (rc == 0)
        rc = html_flush(&st);
    sbuf_free(&st.inl);
    gumbo_destroy_output(&kGumboDefaultOptions, out);
    if (rc != 0)
        return rc;
    /* A page's <h1> names the article; its <title> names the browser tab and often carries
     * the site's name ("Refunds | Example Help Center"), which would then lead every heading
     * path. So the first <h1> wins over <title> when the page has one. */
    if (st.title_from_tag) {
        for (size_t i = 0; i < a->nblocks; i++) {
            if (a->blocks[i].kind == BLOCK_HEADING && a->blocks[i].level == 1) {
                free(a->title);
                a->title = NULL;
                break;
            }
        }
    }
    return parse_title_from_h1(a, err);
}

static const GumboNode *html_first_text(const GumboNode *node)
{
    if (node->type == GUMBO_NODE_TEXT)
        return node;
    if (node->type != GUMBO_NODE_ELEMENT)
        return NULL;
    const GumboVector *kids = &node->v.element.children;
    for (unsigned i = 0; i < kids->length; i++) {
        const GumboNode *t = html_first_text(kids->data[i]);
        if (t != NULL)
            return t;
    }
    return NULL;
}

int parse_html_decode_entity(const char *s, size_t n, sbuf *out)
{
    /* md4c leaves references undecoded and gumbo is the HTML5 reference table we already
     * link; references are rare enough that a tiny parse each is affordable. */
    GumboOutput *doc = gumbo_parse_with_options(&kGumboDefaultOptions, s, n);
    if (doc == NULL)
        return sbuf_add(out, s, n);
    const GumboNode *t = html_first_text(doc->root);
    int rc = t ? sbuf_adds(out, t->v.text.text) : sbuf_add(out, s, n);
    gumbo_destroy_output(&kGumboDefaultOptions, doc);
    return rc;
}
