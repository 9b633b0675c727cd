#include "store.h"

#include "fts5tok.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Statements are prepared once per connection: the indexer runs them per chunk, and
 * re-preparing would cost more than executing. */
enum {
    ST_META_GET, ST_META_SET, ST_ART_FIND, ST_ART_PUT, ST_ART_DEL, ST_CHUNK_IDS,
    ST_CHUNK_DEL, ST_CHUNK_PUT, ST_VEC_PUT, ST_VEC_BY_FP, ST_CHUNK_GET, ST_COUNT
};

static const char *const STMT_SQL[ST_COUNT] = {
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_SET] = "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_ART_FIND] = "SELECT id, fingerprint, locale FROM articles WHERE ext_id = ?1",
    [ST_ART_PUT] = "INSERT INTO articles(ext_id, title, url, locale, updated_at, source, "
                   "fingerprint) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                   "ON CONFLICT(ext_id) DO UPDATE SET title = excluded.title, "
                   "url = excluded.url, locale = excluded.locale, "
                   "updated_at = excluded.updated_at, source = excluded.source, "
                   "fingerprint = excluded.fingerprint RETURNING id",
    [ST_ART_DEL] = "DELETE FROM articles WHERE id = ?1",
    [ST_CHUNK_IDS] = "SELECT c.id, v.chunk_id IS NOT NULL FROM chunks c "
                     "LEFT JOIN vectors v ON v.chunk_id = c.id WHERE c.article_id = ?1",
    [ST_CHUNK_DEL] = "DELETE FROM chunks WHERE article_id = ?1",
    [ST_CHUNK_PUT] = "INSERT INTO chunks(article_id, ordinal, heading, body, fingerprint) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_VEC_PUT] = "INSERT OR REPLACE INTO vectors(chunk_id, fingerprint, vec) "
                   "VALUES (?1, ?2, ?3)",
    [ST_VEC_BY_FP] = "SELECT vec, chunk_id FROM vectors WHERE fingerprint = ?1 LIMIT 1",
    [ST_CHUNK_GET] = "SELECT a.ext_id, a.title, a.url, c.heading, c.body, a.locale, c.ordinal "
                     "FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id = ?1",
};

struct store {
    sqlite3 *db;
    fts5tok_ctx *tok;
    int32_t *doclen; /* lore_bm25's row lengths (store_load_doclens), or NULL */
    sqlite3_stmt *st[ST_COUNT];
    char *dir;
};

/* Each migration moves the schema from version i to i + 1; they run in one transaction. */
static const char *const MIGRATIONS[] = {
    /* 0 -> 1 */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE articles("
    "  id INTEGER PRIMARY KEY,"
    "  ext_id TEXT NOT NULL UNIQUE,"
    "  title TEXT NOT NULL,"
    "  url TEXT, locale TEXT, updated_at TEXT,"
    "  source TEXT NOT NULL,"
    "  fingerprint INTEGER NOT NULL);"
    "CREATE INDEX articles_source ON articles(source);"
    "CREATE TABLE chunks("
    "  id INTEGER PRIMARY KEY,"
    "  article_id INTEGER NOT NULL REFERENCES articles(id),"
    "  ordinal INTEGER NOT NULL,"
    "  heading TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  fingerprint INTEGER NOT NULL);"
    "CREATE INDEX chunks_article ON chunks(article_id);"
    /* The fingerprint is duplicated here so a vector can be found by the text it embeds
     * without a join, when re-indexing moves a chunk. */
    "CREATE TABLE vectors("
    "  chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id),"
    "  fingerprint INTEGER NOT NULL,"
    "  vec BLOB NOT NULL);"
    "CREATE INDEX vectors_fingerprint ON vectors(fingerprint);"
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(heading, body, content='chunks',"
    "  content_rowid='id', tokenize='lore');"
    "CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, 'row');"
    /* External-content FTS5 must be told the old text to remove its terms: triggers keep
     * it in step with every write path, including ones added later. */
    "CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN"
    "  INSERT INTO chunks_fts(rowid, heading, body) VALUES (new.id, new.heading, new.body);"
    "END;"
    "CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN"
    "  INSERT INTO chunks_fts(chunks_fts, rowid, heading, body)"
    "    VALUES ('delete', old.id, old.heading, old.body);"
    "  DELETE FROM vectors WHERE chunk_id = old.id;"
    "END;"
    "INSERT INTO meta(key, value) VALUES ('generation', '0');",
};

#define NMIGRATIONS (sizeof MIGRATIONS / sizeof MIGRATIONS[0])

static int db_error(store *s, lore_err *err, const char *what)
{
    return lore_errf(err, LORE_EDB, "%s in %s/lore.db: %s", what, s->dir,
                     s->db ? sqlite3_errmsg(s->db) : "no connection");
}

static int exec_sql(store *s, const char *sql, lore_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        lore_errf(err, LORE_EDB, "%s/lore.db: %s", s->dir, msg ? msg : "unknown error");
        sqlite3_free(msg);
        return LORE_EDB;
    }
    return 0;
}

static int user_version(store *s, int *version, lore_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "reading the schema version");
    int rc = sqlite3_step(st);
    *version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_error(s, err, "reading the schema version");
}

static int migrate(store *s, int readonly, lore_err *err)
{
    int version;
    int rc = user_version(s, &version, err);
    if (rc != 0)
        return rc;
    if (version > (int)NMIGRATIONS)
        return lore_errf(err, LORE_EUNSUP,
                         "%s/lore.db has schema version %d; this lore reads up to %d",
                         s->dir, version, (int)NMIGRATIONS);
    if (version == (int)NMIGRATIONS)
        return 0;
    if (readonly)
        return lore_errf(err, LORE_EUNSUP,
                         "%s/lore.db has schema version %d and needs migrating to %d: "
                         "run lore index on it first", s->dir, version, (int)NMIGRATIONS);
    if ((rc = exec_sql(s, "BEGIN IMMEDIATE", err)) != 0)
        return rc;
    /* Re-read inside the write lock: another process may have migrated meanwhile. */
    if ((rc = user_version(s, &version, err)) != 0)
        goto fail;
    for (int v = version; v < (int)NMIGRATIONS; v++) {
        char pragma[64];
        if ((rc = exec_sql(s, MIGRATIONS[v], err)) != 0)
            goto fail;
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if ((rc = exec_sql(s, pragma, err)) != 0)
            goto fail;
    }
    {
        char value[16];
        snprintf(value, sizeof value, "%d", STORE_SCHEMA_VERSION);
        if ((rc = store_meta_set(s, "schema_version", value, err)) != 0)
            goto fail;
    }
    return exec_sql(s, "COMMIT", err);
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int make_dir(const char *dir, lore_err *err)
{
    /* mkdir -p: create each missing parent in turn. */
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path)
        return lore_errf(err, LORE_EINVAL, "bad collection directory '%s'", dir);
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return lore_errf(err, LORE_EIO, "cannot create directory %s: %s", path,
                             strerror(errno));
        path[i] = saved;
    }
    return 0;
}

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_setup(void)
{
    /* SQLITE_MISUSE when SQLite is already initialised: the statistics then stay on, which
     * costs speed only. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void store_sqlite_init(void) { (void)pthread_once(&sqlite_once, sqlite_setup); }

int store_open(const char *dir, int flags, store **out, lore_err *err)
{
    *out = NULL;
    store_sqlite_init();
    int readonly = (flags & STORE_READONLY) != 0;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/lore.db", dir) >= (int)sizeof path)
        return lore_errf(err, LORE_EINVAL, "collection path too long: %s", dir);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (!(flags & STORE_CREATE))
            return lore_errf(err, LORE_ENOTFOUND, "no index at %s: run lore index first", dir);
        int rc = make_dir(dir, err);
        if (rc != 0)
            return rc;
    }
    store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->dir = strdup(dir)) == NULL) {
        free(s);
        return lore_errf(err, LORE_ENOMEM, "out of memory opening %s", dir);
    }
    /* Readers open read-write too: WAL readers need the -shm file, and a read-only
     * connection cannot create it when the indexer is not running. */
    int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                 ((flags & STORE_CREATE) ? SQLITE_OPEN_CREATE : 0);
    int rc;
    if (sqlite3_open_v2(path, &s->db, oflags, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "opening");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* A writer holds the lock for one batch; readers and a second writer wait for it. */
    sqlite3_busy_timeout(s->db, 30000);
    if ((rc = fts5tok_register(s->db, &s->tok, err)) != 0)
        goto fail;
    if ((rc = exec_sql(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                          "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                          "PRAGMA cache_size=-32768", err)) != 0)
        goto fail;
    if ((rc = migrate(s, readonly, err)) != 0)
        goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, STMT_SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            rc = db_error(s, err, "preparing statements");
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return rc;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    /* The tokenizer context is freed by SQLite with the connection. */
    sqlite3_close(s->db);
    free(s->doclen);
    free(s->dir);
    free(s);
}

/* Sum of the SQLite varints (FTS5 writes one per column) in a docsize blob; -1 when the blob
 * does not decode. */
static int64_t docsize_sum(const unsigned char *p, int n)
{
    int64_t sum = 0;
    int i = 0;
    while (i < n) {
        uint64_t v = 0;
        int k = 0;
        /* Up to 8 bytes of 7 bits, high bit set when another follows; a 9th byte gives 8. */
        while (k < 8 && i < n && (p[i] & 0x80)) {
            v = (v << 7) | (p[i++] & 0x7F);
            k++;
        }
        if (i >= n)
            return -1; /* cut short */
        v = k == 8 ? (v << 8) | p[i++] : (v << 7) | p[i++];
        if (v > INT32_MAX || sum + (int64_t)v > INT32_MAX)
            return -1;
        sum += (int64_t)v;
    }
    return sum;
}

int store_load_doclens(store *s, lore_err *err)
{
    fts5tok_set_doclens(s->tok, NULL, 0);
    free(s->doclen);
    s->doclen = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT max(id) FROM chunks_fts_docsize", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return lore_errf(err, LORE_EDB, "reading chunk lengths: %s", sqlite3_errmsg(s->db));
    rc = sqlite3_step(st);
    sqlite3_int64 max = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return lore_errf(err, LORE_EDB, "reading chunk lengths: %s", sqlite3_errmsg(s->db));
    if (max < 0 || max >= INT32_MAX)
        return 0; /* no rows (or ids too large to index by): FTS5's own lookups */
    int32_t *len = malloc((size_t)(max + 1) * sizeof *len);
    if (len == NULL)
        return lore_errf(err, LORE_ENOMEM, "out of memory reading %lld chunk lengths",
                         (long long)max + 1);
    for (sqlite3_int64 i = 0; i <= max; i++)
        len[i] = -1;
    if (sqlite3_prepare_v2(s->db, "SELECT id, sz FROM chunks_fts_docsize", -1, &st, NULL) !=
        SQLITE_OK) {
        free(len);
        return lore_errf(err, LORE_EDB, "reading chunk lengths: %s", sqlite3_errmsg(s->db));
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 id = sqlite3_column_int64(st, 0);
        int64_t n = docsize_sum(sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1));
        if (id < 0 || id > max || n < 0) {
            rc = SQLITE_CORRUPT;
            break;
        }
        len[id] = (int32_t)n;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(len);
        return lore_errf(err, LORE_EDB, "reading chunk lengths: %s",
                         rc == SQLITE_CORRUPT ? "a docsize row does not decode"
                                              : sqlite3_errmsg(s->db));
    }
    s->doclen = len;
    fts5tok_set_doclens(s->tok, len, max + 1);
    return 0;
}

sqlite3 *store_db(store *s) { return s->db; }

const char *store_dir(const store *s) { return s->dir; }

int store_set_locale(store *s, const char *locale, lore_err *err)
{
    if (fts5tok_set_locale(s->tok, locale) != 0)
        return lore_errf(err, LORE_ENOMEM, "out of memory setting locale %s",
                         locale ? locale : "(default)");
    return 0;
}

int store_begin(store *s, lore_err *err) { return exec_sql(s, "BEGIN IMMEDIATE", err); }

int store_commit(store *s, lore_err *err) { return exec_sql(s, "COMMIT", err); }

void store_rollback(store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Runs a prepared statement that returns no rows and resets it. */
static int step_done(store *s, sqlite3_stmt *st, lore_err *err, const char *what)
{
    int rc = sqlite3_step(st);
    int ok = rc == SQLITE_DONE || rc == SQLITE_ROW;
    if (!ok)
        db_error(s, err, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ok ? 0 : LORE_EDB;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return v ? strdup(v) : NULL;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int store_meta_get(store *s, const char *key, char **value, lore_err *err)
{
    sqlite3_stmt *st = s->st[ST_META_GET];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int ret = 0;
    *value = NULL;
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *value = strdup(v ? v : "");
        if (*value == NULL)
            ret = lore_errf(err, LORE_ENOMEM, "out of memory reading meta %s", key);
    } else if (rc == SQLITE_DONE) {
        ret = lore_errf(err, LORE_ENOTFOUND, "no meta key %s", key);
    } else {
        ret = db_error(s, err, "reading meta");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int store_meta_set(store *s, const char *key, const char *value, lore_err *err)
{
    sqlite3_stmt *st = s->st[ST_META_SET];
    if (st == NULL) {
        /* During migration the statement cache is not ready yet. */
        sqlite3_stmt *tmp;
        if (sqlite3_prepare_v2(s->db, STMT_SQL[ST_META_SET], -1, &tmp, NULL) != SQLITE_OK)
            return db_error(s, err, "writing meta");
        sqlite3_bind_text(tmp, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(tmp, 2, value, -1, SQLITE_STATIC);
        int rc = sqlite3_step(tmp);
        sqlite3_finalize(tmp);
        return rc == SQLITE_DONE ? 0 : db_error(s, err, "writing meta");
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    return step_done(s, st, err, "writing meta");
}

int store_generation(store *s, uint64_t *gen, lore_err *err)
{
    char *v;
    int rc = store_meta_get(s, "generation", &v, err);
    if (rc != 0)
        return rc;
    *gen = strtoull(v, NULL, 10);
    free(v);
    return 0;
}

int store_bump_generation(store *s, uint64_t *gen, lore_err *err)
{
    uint64_t g;
    int rc = store_generation(s, &g, err);
    if (rc != 0)
        return rc;
    char v[32];
    snprintf(v, sizeof v, "%" PRIu64, g + 1);
    if ((rc = store_meta_set(s, "generation", v, err)) != 0)
        return rc;
    if (gen)
        *gen = g + 1;
    return 0;
}

int store_article_find(store *s, const char *ext_id, int64_t *id, uint64_t *fingerprint,
                       char **locale, lore_err *err)
{
    sqlite3_stmt *st = s->st[ST_ART_FIND];
    sqlite3_bind_text(st, 1, ext_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        *fingerprint = (uint64_t)sqlite3_column_int64(st, 1);
        if (locale) {
            *locale = col_dup(st, 2);
            if (*locale == NULL && sqlite3_column_type(st, 2) != SQLITE_NULL)
                ret = lore_errf(err, LORE_ENOMEM, "out of memory looking up an article");
        }
    } else if (rc == SQLITE_DONE) {
        ret = LORE_ENOTFOUND;
    } else {
        ret = db_error(s, err, "looking up an article");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int store_article_put(store *s, const store_article *a, int64_t *id, lore_err *err)
{
    sqlite3_stmt *st = s->st[ST_ART_PUT];
    sqlite3_bind_text(st, 1, a->ext_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->title ? a->title : "", -1, SQLITE_STATIC);
    bind_text_or_null(st, 3, a->url);
    bind_text_or_null(st, 4, a->locale);
    bind_text_or_null(st, 5, a->updated_at);
    sqlite3_bind_text(st, 6, a->source ? a->source : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)a->fingerprint);
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else
        ret = db_error(s, err, "writing an article");
    /* RETURNING rows must be stepped to completion before the next statement. */
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static int append_id(int64_t **ids, size_t *n, int64_t id)
{
    /* The capacity is implied by n: 16, then doubled each time n reaches a power of two. */
    if (*n == 0 || (*n >= 16 && (*n & (*n - 1)) == 0)) {
        size_t cap = *n ? *n * 2 : 16;
        int64_t *p = realloc(*ids, cap * sizeof *p);
        if (p == NULL)
            return LORE_ENOMEM;
        *ids = p;
    }
    (*ids)[(*n)++] = id;
    return 0;
}

int store_article_clear_chunks(store *s, int64_t article_id, int64_t **ids, size_t *n,
                               lore_err *err)
{
    sqlite3_stmt *st = s->st[ST_CHUNK_IDS];
    sqlite3_bind_int64(st, 1, article_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_int(st, 1) && append_id(ids, n, sqlite3_column_int64(st, 0)) != 0) {
            sqlite3_reset(st);
            return lore_errf(err, LORE_ENOMEM, "out of memory listing chunks");
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return db_error(s, err, "listing an article's chunks");
    st = s->st[ST_CHUNK_DEL];
    sqlite3_bind_int64(st, 1, article_id);
    return step_done(s, st, err, "deleting an article's chunks");
}

int store_article_delete(store *s, int64_t article_id, int64_t **ids, size_t *n, lore_err *err)
{
    int rc = store_article_clear_chunks(s, article_id, ids, n, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = s->st[ST_ART_DEL];
    sqlite3_bind_int64(st, 1, article_id);
    return step_done(s, st, err, "deleting an article");
}

/* The stored vectors' dimension: meta "embed_dim", written with the first vector; a store
 * from before window vectors lacks it but holds one vector per chunk, so its blobs' length
 * tells. 0 when nothing says (no vectors). */
static int vector_dim(store *s, int *dim, lore_err *err)
{
    char *v = NULL;
    lore_err merr = {0};
    int rc = store_meta_get(s, "embed_dim", &v, &merr);
    if (rc != 0 && rc != LORE_ENOTFOUND) {
        if (err != NULL)
            *err = merr;
        return rc;
    }
    if (rc == 0) {
        char *end;
        long d = strtol(v, &end, 10);
        if (*end != '\0' || d <= 0 || d > 1000000)
            rc = lore_errf(err, LORE_EDB, "%s/lore.db: meta embed_dim is \"%.40s\", not a "
                           "dimension", s->dir, v);
        else
            *dim = (int)d;
        free(v);
        return rc;
    }
    int64_t legacy = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(length(vec)) / 4, 0) FROM vectors", -1,
                           &st, NULL) != SQLITE_OK)
        return db_error(s, err, "reading the vector dimension");
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        legacy = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (step != SQLITE_ROW)
        return db_error(s, err, "reading the vector dimension");
    *dim = (int)legacy;
    return 0;
}

/* The number of windows a blob of `bytes` holds at dimension dim, or LORE_EDB. */
static int blob_windows(store *s, int64_t chunk_id, int bytes, int dim, size_t *nwin,
                        lore_err *err)
{
    size_t one = (size_t)dim * sizeof(float);
    if (bytes <= 0 || dim <= 0 || (size_t)bytes % one != 0)
        return lore_errf(err, LORE_EDB,
                         "%s/lore.db: the vector blob of chunk %lld has %d bytes, not a "
                         "multiple of %zu (dimension %d): the database is damaged; re-index "
                         "into a new collection",
                         s->dir, (long long)chunk_id, bytes, one, dim);
    *nwin = (size_t)bytes / one;
    return 0;
}

int store_chunk_put(store *s, int64_t article_id, int ordinal, const char *heading,
                    const char *body, uint64_t fingerprint, const float *vec, int dim,
                    int64_t *chunk_id, lore_err *err)
{
    return store_chunk_put_windows(s, article_id, ordinal, heading, body, fingerprint, vec,
                                   vec ? 1 : 0, dim, chunk_id, err);
}

int store_chunk_put_windows(store *s, int64_t article_id, int ordinal, const char *heading,
                            const char *body, uint64_t fingerprint, const float *vecs,
                            size_t nwin, int dim, int64_t *chunk_id, lore_err *err)
{
    int rc;
    int have_vecs = vecs != NULL && nwin > 0 && dim > 0;
    if (have_vecs) {
        /* Check before writing anything: a blob is only readable at the store's dimension. */
        if ((size_t)dim * nwin > (size_t)INT_MAX / sizeof(float))
            return lore_errf(err, LORE_EINVAL, "%s/lore.db: %zu vectors of dimension %d are "
                             "too large for one chunk", s->dir, nwin, dim);
        int have = 0;
        if ((rc = vector_dim(s, &have, err)) != 0)
            return rc;
        if (have != 0 && have != dim)
            return lore_errf(err, LORE_EINVAL, "cannot store a vector of dimension %d in "
                             "%s/lore.db: its vectors have dimension %d", dim, s->dir, have);
    }
    sqlite3_stmt *st = s->st[ST_CHUNK_PUT];
    sqlite3_bind_int64(st, 1, article_id);
    sqlite3_bind_int(st, 2, ordinal);
    sqlite3_bind_text(st, 3, heading, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)fingerprint);
    rc = step_done(s, st, err, "writing a chunk");
    if (rc != 0)
        return rc;
    int64_t id = sqlite3_last_insert_rowid(s->db);
    if (chunk_id)
        *chunk_id = id;
    if (!have_vecs)
        return 0;
    /* Written every time (cheap, in the caller's transaction): a cache could outlive a
     * rollback that undid the first write. */
    char d[16];
    snprintf(d, sizeof d, "%d", dim);
    if ((rc = store_meta_set(s, "embed_dim", d, err)) != 0)
        return rc;
    st = s->st[ST_VEC_PUT];
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)fingerprint);
    sqlite3_bind_blob(st, 3, vecs, (int)(nwin * (size_t)dim * sizeof(float)), SQLITE_STATIC);
    return step_done(s, st, err, "writing a vector");
}

int store_vectors_by_fingerprint(store *s, uint64_t fingerprint, int dim, float **vecs,
                                 size_t *nwin, lore_err *err)
{
    *vecs = NULL;
    *nwin = 0;
    int have = 0;
    int ret = vector_dim(s, &have, err);
    if (ret != 0)
        return ret;
    if (have != dim || dim <= 0)
        return LORE_ENOTFOUND; /* another embedder's vectors: not reusable */
    sqlite3_stmt *st = s->st[ST_VEC_BY_FP];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)fingerprint);
    int rc = sqlite3_step(st);
    ret = LORE_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        int bytes = sqlite3_column_bytes(st, 0);
        const void *blob = sqlite3_column_blob(st, 0);
        size_t n = 0;
        ret = blob_windows(s, sqlite3_column_int64(st, 1), bytes, dim, &n, err);
        if (ret == 0 && blob == NULL)
            ret = lore_errf(err, LORE_ENOMEM, "out of memory reading a vector");
        if (ret == 0) {
            float *v = malloc((size_t)bytes);
            if (v == NULL) {
                ret = lore_errf(err, LORE_ENOMEM, "out of memory reading a vector");
            } else {
                memcpy(v, blob, (size_t)bytes);
                *vecs = v;
                *nwin = n;
            }
        }
    } else if (rc != SQLITE_DONE) {
        ret = db_error(s, err, "looking up a vector");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int store_vectors_clear(store *s, lore_err *err)
{
    return exec_sql(s, "DELETE FROM vectors; DELETE FROM meta WHERE key = 'embed_dim'", err);
}

int store_articles_each(store *s, const char *prefix, store_article_fn fn, void *ctx,
                        lore_err *err)
{
    sqlite3_stmt *st;
    const char *sql = prefix ? "SELECT id, ext_id, source FROM articles "
                               "WHERE substr(source, 1, length(?1)) = ?1 ORDER BY id"
                             : "SELECT id, ext_id, source FROM articles ORDER BY id";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "listing articles");
    if (prefix)
        sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ret = fn(ctx, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                 (const char *)sqlite3_column_text(st, 2));
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_error(s, err, "listing articles");
    sqlite3_finalize(st);
    return ret;
}

int store_vectors_each(store *s, store_vector_fn fn, void *ctx, lore_err *err)
{
    int dim = 0;
    int ret = vector_dim(s, &dim, err);
    if (ret != 0 || dim == 0)
        return ret;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT chunk_id, vec FROM vectors ORDER BY chunk_id", -1,
                           &st, NULL) != SQLITE_OK)
        return db_error(s, err, "reading vectors");
    float *buf = NULL;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        int bytes = sqlite3_column_bytes(st, 1);
        const void *blob = sqlite3_column_blob(st, 1);
        size_t nwin = 0;
        if ((ret = blob_windows(s, id, bytes, dim, &nwin, err)) != 0)
            break;
        if (blob == NULL) {
            ret = lore_errf(err, LORE_ENOMEM, "out of memory reading vectors");
            break;
        }
        /* Blobs are not guaranteed to be float-aligned. */
        if ((size_t)bytes > cap) {
            float *grown = realloc(buf, (size_t)bytes);
            if (grown == NULL) {
                ret = lore_errf(err, LORE_ENOMEM, "out of memory reading vectors");
                break;
            }
            buf = grown;
            cap = (size_t)bytes;
        }
        memcpy(buf, blob, (size_t)bytes);
        if ((ret = fn(ctx, id, buf, nwin, dim)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_error(s, err, "reading vectors");
    free(buf);
    sqlite3_finalize(st);
    return ret;
}

int store_chunk_get(store *s, int64_t chunk_id, store_chunk_info *out, lore_err *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = s->st[ST_CHUNK_GET];
    sqlite3_bind_int64(st, 1, chunk_id);
    int rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        out->chunk_id = chunk_id;
        out->article_ext_id = col_dup(st, 0);
        out->title = col_dup(st, 1);
        out->url = col_dup(st, 2);
        out->heading = col_dup(st, 3);
        out->body = col_dup(st, 4);
        out->locale = col_dup(st, 5);
        out->ordinal = sqlite3_column_int(st, 6);
        if (!out->article_ext_id || !out->title || !out->heading || !out->body) {
            store_chunk_info_free(out);
            ret = lore_errf(err, LORE_ENOMEM, "out of memory reading chunk %lld",
                            (long long)chunk_id);
        }
    } else if (rc == SQLITE_DONE) {
        ret = lore_errf(err, LORE_ENOTFOUND, "no chunk %lld", (long long)chunk_id);
    } else {
        ret = db_error(s, err, "reading a chunk");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

void store_chunk_info_free(store_chunk_info *c)
{
    free(c->article_ext_id);
    free(c->title);
    free(c->url);
    free(c->heading);
    free(c->body);
    free(c->locale);
    memset(c, 0, sizeof *c);
}

static int count_rows(store *s, const char *sql, int64_t *out, lore_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "counting rows");
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_error(s, err, "counting rows");
}

int store_stats_get(store *s, store_stats *out, lore_err *err)
{
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = count_rows(s, "SELECT count(*) FROM articles", &out->articles, err)) != 0 ||
        (rc = count_rows(s, "SELECT count(*) FROM chunks", &out->chunks, err)) != 0 ||
        (rc = count_rows(s, "SELECT count(*) FROM vectors", &out->vector_chunks, err)) != 0 ||
        (rc = store_generation(s, &out->generation, err)) != 0)
        return rc;
    int dim = 0;
    if (out->vector_chunks == 0 || (rc = vector_dim(s, &dim, err)) != 0 || dim == 0)
        return rc;
    int64_t bytes = 0;
    if ((rc = count_rows(s, "SELECT coalesce(sum(length(vec)), 0) FROM vectors", &bytes,
                         err)) != 0)
        return rc;
    out->embed_dim = dim;
    out->vectors = bytes / ((int64_t)dim * (int64_t)sizeof(float));
    return 0;
}
