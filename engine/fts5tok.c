/* fts5tok: the "lore" FTS5 tokenizer and the lore_bm25 ranking function (see fts5tok.h). */
#include "fts5tok.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

struct fts5tok_ctx {
    text_analyzer *an; /* the connection's analyzer; its locale is the document locale */
    const int32_t *doclen; /* lore_bm25's row lengths by rowid (fts5tok_set_doclens), or NULL */
    int64_t ndoclen;
};

/* ---------------------------------------------------------------- tokenizer */

/* Every table on the connection shares the connection's context: the locale is a property
 * of what is being inserted now, not of a table. So the "instance" FTS5 asks for is the
 * context itself, and deleting it is a no-op (the connection owns it). */
static int tok_create(void *user, const char **argv, int argc, Fts5Tokenizer **out)
{
    (void)argv;
    if (argc != 0) /* a typo in tokenize='lore ...' should fail, not be ignored */
        return SQLITE_ERROR;
    *out = (Fts5Tokenizer *)user;
    return SQLITE_OK;
}

static void tok_delete(Fts5Tokenizer *tok) { (void)tok; }

typedef int (*fts5_token_fn)(void *, int, const char *, int, int, int);

typedef struct tok_call {
    void *fts_ctx;
    fts5_token_fn xToken;
    int rc; /* SQLite's code when xToken stopped the analysis */
    /* AUX mode holds one token back, see tok_on_aux_term. */
    int held;
    char term[TEXT_MAX_TERM + 1];
    int len, start, end;
} tok_call;

static int tok_on_term(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    tok_call *call = ctx;
    int rc = call->xToken(call->fts_ctx, 0, term, (int)len, (int)start, (int)end);
    if (rc != SQLITE_OK) {
        call->rc = rc;
        return 1;
    }
    return 0;
}

static int tok_flush_held(tok_call *call)
{
    if (!call->held)
        return 0;
    call->held = 0;
    return tok_on_term(call, call->term, (size_t)call->len, (size_t)call->start,
                       (size_t)call->end);
}

/* snippet() and highlight() copy the text between consecutive tokens, so overlapping CJK
 * bigrams would repeat text. For them each token is held until the next one arrives and
 * clipped to end where the next begins: a bigram then marks its first character, and the
 * last of a run both. Positions, and so matches, are unchanged. */
static int tok_on_aux_term(void *ctx, const char *term, size_t len, size_t start, size_t end)
{
    tok_call *call = ctx;
    if (call->held && (int)start < call->end && (int)start > call->start)
        call->end = (int)start;
    if (tok_flush_held(call) != 0)
        return 1;
    memcpy(call->term, term, len);
    call->len = (int)len;
    call->start = (int)start;
    call->end = (int)end;
    call->held = 1;
    return 0;
}

/* Query text is already analysed by the query builder: split on spaces, emit verbatim. */
static int tok_query(const char *text, int n, tok_call *call)
{
    int i = 0;
    while (i < n) {
        while (i < n && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
            i++;
        int start = i;
        while (i < n && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
            i++;
        if (i > start) {
            int rc = call->xToken(call->fts_ctx, 0, text + start, i - start, start, i);
            if (rc != SQLITE_OK)
                return rc;
        }
    }
    return SQLITE_OK;
}

/* DOCUMENT and AUX (snippet/highlight) both analyse: AUX must reproduce the positions the
 * document got when it was indexed. */
static int tok_tokenize(Fts5Tokenizer *tok, void *fts_ctx, int flags, const char *text, int n,
                        fts5_token_fn xToken)
{
    fts5tok_ctx *ctx = (fts5tok_ctx *)tok;
    tok_call call;
    memset(&call, 0, sizeof call);
    call.fts_ctx = fts_ctx;
    call.xToken = xToken;
    call.rc = SQLITE_OK;
    if (text == NULL || n <= 0)
        return SQLITE_OK;
    if (flags & FTS5_TOKENIZE_QUERY)
        return tok_query(text, n, &call);
    int aux = (flags & FTS5_TOKENIZE_AUX) != 0;
    int rc = text_analyze(ctx->an, text, (size_t)n, aux ? tok_on_aux_term : tok_on_term, &call);
    if (rc == 0 && aux)
        rc = tok_flush_held(&call);
    if (rc == 0)
        return SQLITE_OK;
    if (call.rc != SQLITE_OK)
        return call.rc;
    return rc == LORE_ENOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
}

/* ---------------------------------------------------------------- lore_bm25 */

/* Values that are the same for every row of one query, computed on its first row. */
typedef struct bm25_query {
    double avgdl;
    int nphrase;
    int tf[]; /* per-row scratch: instances of each phrase */
} bm25_query;

static int bm25_query_new(const Fts5ExtensionApi *api, Fts5Context *fts, bm25_query **out)
{
    sqlite3_int64 nrow = 0, total = 0;
    int rc = api->xRowCount(fts, &nrow);
    if (rc == SQLITE_OK)
        rc = api->xColumnTotalSize(fts, -1, &total); /* -1: all columns */
    if (rc != SQLITE_OK)
        return rc;
    int nphrase = api->xPhraseCount(fts);
    if (nphrase < 0)
        nphrase = 0;
    bm25_query *q = sqlite3_malloc64(sizeof *q + (sqlite3_uint64)nphrase * sizeof q->tf[0]);
    if (q == NULL)
        return SQLITE_NOMEM;
    q->avgdl = nrow > 0 ? (double)total / (double)nrow : 0.0;
    q->nphrase = nphrase;
    *out = q;
    return SQLITE_OK;
}

static int is_number(sqlite3_value *v)
{
    int t = sqlite3_value_numeric_type(v);
    return t == SQLITE_INTEGER || t == SQLITE_FLOAT;
}

/* lore_bm25(table, k1, b, idf_1, ..., idf_n) */
static void bm25_fn(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
                    int nval, sqlite3_value **val)
{
    if (nval < 2 || !is_number(val[0]) || !is_number(val[1])) {
        sqlite3_result_error(ctx, "lore_bm25: expected (table, k1, b, idf...)", -1);
        return;
    }
    for (int i = 2; i < nval; i++) {
        if (!is_number(val[i])) {
            sqlite3_result_error(ctx, "lore_bm25: idf arguments must be numbers", -1);
            return;
        }
    }
    double k1 = sqlite3_value_double(val[0]);
    double b = sqlite3_value_double(val[1]);

    bm25_query *q = api->xGetAuxdata(fts, 0);
    int rc = SQLITE_OK;
    if (q == NULL) {
        rc = bm25_query_new(api, fts, &q);
        if (rc == SQLITE_OK)
            rc = api->xSetAuxdata(fts, q, sqlite3_free); /* frees q itself on failure */
        if (rc != SQLITE_OK) {
            sqlite3_result_error_code(ctx, rc);
            return;
        }
    }

    /* Each phrase's occurrences counted from its own position list: xInstCount/xInst would
     * first merge every phrase's list into one ordered list, for counts that need no order. */
    int dl = 0;
    for (int p = 0; rc == SQLITE_OK && p < q->nphrase; p++) {
        Fts5PhraseIter it;
        int col = -1, off = 0, n = 0;
        rc = api->xPhraseFirst(fts, p, &it, &col, &off);
        for (; rc == SQLITE_OK && col >= 0; n++)
            api->xPhraseNext(fts, &it, &col, &off);
        q->tf[p] = n;
    }
    const fts5tok_ctx *tc = api->xUserData(fts);
    sqlite3_int64 rowid = api->xRowid(fts);
    if (rc == SQLITE_OK && tc->doclen && rowid >= 0 && rowid < tc->ndoclen &&
        tc->doclen[rowid] >= 0)
        dl = tc->doclen[rowid];
    else if (rc == SQLITE_OK)
        rc = api->xColumnSize(fts, -1, &dl); /* -1: the row's length over all columns */
    if (rc != SQLITE_OK) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }

    /* Without an average (an empty table cannot match) length normalisation is off. */
    double norm = k1 * (q->avgdl > 0 ? 1.0 - b + b * (double)dl / q->avgdl : 1.0);
    double score = 0.0;
    int nidf = nval - 2;
    for (int i = 0; i < q->nphrase && i < nidf; i++) {
        double tf = (double)q->tf[i];
        if (tf > 0)
            score += sqlite3_value_double(val[2 + i]) * tf * (k1 + 1.0) / (tf + norm);
    }
    sqlite3_result_double(ctx, score);
}

/* ---------------------------------------------------------------- registration */

static int fts5_api_get(sqlite3 *db, fts5_api **out)
{
    sqlite3_stmt *stmt = NULL;
    *out = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_bind_pointer(stmt, 1, (void *)out, "fts5_api_ptr", NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt);
        rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? SQLITE_OK : rc;
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_OK && *out == NULL)
        rc = SQLITE_ERROR;
    return rc;
}

/* Called by SQLite when the connection closes. */
static void ctx_destroy(void *p)
{
    fts5tok_ctx *ctx = p;
    if (ctx == NULL)
        return;
    text_analyzer_free(ctx->an);
    free(ctx);
}

int fts5tok_register(sqlite3 *db, fts5tok_ctx **out, lore_err *err)
{
    assert(db != NULL && out != NULL);
    *out = NULL;
    fts5_api *api = NULL;
    int rc = fts5_api_get(db, &api);
    if (rc != SQLITE_OK)
        return lore_errf(err, LORE_EDB, "fts5 api: %s", sqlite3_errmsg(db));

    fts5tok_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return lore_errf(err, LORE_ENOMEM, "fts5 tokenizer context: out of memory");
    rc = text_analyzer_new("en", &ctx->an, err);
    if (rc != 0) {
        free(ctx);
        return rc;
    }

    fts5_tokenizer tok = {tok_create, tok_delete, tok_tokenize};
    rc = api->xCreateTokenizer(api, "lore", ctx, &tok, ctx_destroy);
    if (rc != SQLITE_OK) { /* FTS5 did not take ownership */
        ctx_destroy(ctx);
        return lore_errf(err, rc == SQLITE_NOMEM ? LORE_ENOMEM : LORE_EDB,
                         "register fts5 tokenizer lore: %s", sqlite3_errstr(rc));
    }
    /* From here on the connection owns ctx, even if the function fails to register. */
    rc = api->xCreateFunction(api, "lore_bm25", ctx, bm25_fn, NULL);
    if (rc != SQLITE_OK)
        return lore_errf(err, rc == SQLITE_NOMEM ? LORE_ENOMEM : LORE_EDB,
                         "register fts5 function lore_bm25: %s", sqlite3_errstr(rc));
    *out = ctx;
    return 0;
}

void fts5tok_set_doclens(fts5tok_ctx *ctx, const int32_t *len, int64_t n)
{
    ctx->doclen = len;
    ctx->ndoclen = len ? n : 0;
}

int fts5tok_set_locale(fts5tok_ctx *ctx, const char *locale)
{
    assert(ctx != NULL);
    return text_analyzer_set_locale(ctx->an, locale);
}
