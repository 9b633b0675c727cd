#include "convo.h"

#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct convo {
    pthread_mutex_t mu;
    sqlite3 *db;
    long ttl_s;
    size_t max_turns;
    char *path;
};

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS conversations("
    "  id TEXT PRIMARY KEY, collection TEXT NOT NULL, updated INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated);"
    "CREATE TABLE IF NOT EXISTS turns("
    "  conversation TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL,"
    "  content TEXT NOT NULL, PRIMARY KEY(conversation, seq));";

int convo_open(const char *path, long ttl_s, size_t max_turns, convo **out, lore_err *err)
{
    *out = NULL;
    if (ttl_s < 1 || max_turns < 1)
        return lore_errf(err, LORE_EINVAL, "conversation ttl and turns must be at least 1");
    convo *cv = calloc(1, sizeof *cv);
    if (cv == NULL || (cv->path = strdup(path)) == NULL) {
        free(cv);
        return lore_errf(err, LORE_ENOMEM, "out of memory opening %s", path);
    }
    cv->ttl_s = ttl_s;
    cv->max_turns = max_turns;
    store_sqlite_init();
    int rc = sqlite3_open_v2(path, &cv->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(cv->db, 5000);
        rc = sqlite3_exec(cv->db, SCHEMA, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        lore_errf(err, LORE_EDB, "cannot open the conversations database %s: %s", path,
                  cv->db ? sqlite3_errmsg(cv->db) : sqlite3_errstr(rc));
        sqlite3_close(cv->db);
        free(cv->path);
        free(cv);
        return LORE_EDB;
    }
    pthread_mutex_init(&cv->mu, NULL);
    *out = cv;
    return 0;
}

void convo_close(convo *cv)
{
    if (cv == NULL)
        return;
    sqlite3_close(cv->db);
    pthread_mutex_destroy(&cv->mu);
    free(cv->path);
    free(cv);
}

int convo_id_valid(const char *id, lore_err *err)
{
    size_t n = id ? strlen(id) : 0;
    int ok = n >= 1 && n <= 128;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = id[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '_' || ch == '-' || ch == '.' || ch == ':';
    }
    if (!ok)
        return lore_errf(err, LORE_EINVAL,
                         "bad conversation_id: use 1 to 128 letters, digits, '_', '-', '.' or ':'");
    return 0;
}

void convo_history_free(convo_history *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free((char *)h->turns[i].role);
        free((char *)h->turns[i].content);
    }
    free(h->turns);
    h->turns = NULL;
    h->n = 0;
}

static int db_fail(convo *cv, lore_err *err)
{
    return lore_errf(err, LORE_EDB, "conversations database %s: %s", cv->path,
                     sqlite3_errmsg(cv->db));
}

/* Reads the conversation's collection and age; *found 0 when absent. Under the lock. */
static int conv_row(convo *cv, const char *id, char **coll, long long *updated, int *found,
                    lore_err *err)
{
    sqlite3_stmt *st;
    *found = 0;
    if (sqlite3_prepare_v2(cv->db, "SELECT collection, updated FROM conversations WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(cv, err);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = 1;
        *coll = strdup((const char *)sqlite3_column_text(st, 0));
        *updated = sqlite3_column_int64(st, 1);
        rc = *coll ? 0 : lore_errf(err, LORE_ENOMEM, "out of memory");
    } else {
        rc = rc == SQLITE_DONE ? 0 : db_fail(cv, err);
    }
    sqlite3_finalize(st);
    return rc;
}

int convo_load(convo *cv, const char *id, const char *collection, convo_history *out,
               lore_err *err)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&cv->mu);
    char *coll = NULL;
    long long updated = 0;
    int found;
    int rc = conv_row(cv, id, &coll, &updated, &found, err);
    long long now = (long long)time(NULL);
    if (rc != 0 || !found || updated < now - cv->ttl_s)
        goto done;
    if (strcmp(coll, collection) != 0) {
        rc = lore_errf(err, LORE_EINVAL, "conversation_id belongs to another collection");
        goto done;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cv->db,
                           "SELECT role, content FROM (SELECT seq, role, content FROM turns "
                           "WHERE conversation = ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(cv, err);
        goto done;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)cv->max_turns);
    out->turns = calloc(cv->max_turns, sizeof *out->turns);
    if (out->turns == NULL)
        rc = lore_errf(err, LORE_ENOMEM, "out of memory");
    while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = 0;
        answer_turn *t = &out->turns[out->n];
        t->role = strdup((const char *)sqlite3_column_text(st, 0));
        t->content = strdup((const char *)sqlite3_column_text(st, 1));
        out->n++;
        if (t->role == NULL || t->content == NULL)
            rc = lore_errf(err, LORE_ENOMEM, "out of memory");
        if (out->n == cv->max_turns)
            break;
    }
    if (rc == SQLITE_DONE)
        rc = 0;
    else if (rc != 0 && rc != LORE_ENOMEM)
        rc = db_fail(cv, err);
    sqlite3_finalize(st);
done:
    pthread_mutex_unlock(&cv->mu);
    free(coll);
    if (rc != 0)
        convo_history_free(out);
    return rc;
}

static int exec_bound(convo *cv, const char *sql, const char *s1, const char *s2,
                      const char *s3, long long n1, lore_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(cv->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(cv, err);
    int idx = 1;
    if (s1)
        sqlite3_bind_text(st, idx++, s1, -1, SQLITE_STATIC);
    if (s2)
        sqlite3_bind_text(st, idx++, s2, -1, SQLITE_STATIC);
    if (s3)
        sqlite3_bind_text(st, idx++, s3, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, idx, n1);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(cv, err);
    sqlite3_finalize(st);
    return rc;
}

int convo_append(convo *cv, const char *id, const char *collection, const char *question,
                 const char *answer, lore_err *err)
{
    long long now = (long long)time(NULL);
    pthread_mutex_lock(&cv->mu);
    int rc = sqlite3_exec(cv->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
                 ? 0
                 : db_fail(cv, err);
    if (rc != 0)
        goto out;
    /* Expired conversations go first, so an expired id starts afresh below. */
    if ((rc = exec_bound(cv, "DELETE FROM turns WHERE conversation IN (SELECT id FROM "
                             "conversations WHERE updated < ?1)",
                         NULL, NULL, NULL, now - cv->ttl_s, err)) != 0 ||
        (rc = exec_bound(cv, "DELETE FROM conversations WHERE updated < ?1", NULL, NULL, NULL,
                         now - cv->ttl_s, err)) != 0)
        goto fail;
    if ((rc = exec_bound(cv, "INSERT INTO conversations(id, collection, updated) "
                             "VALUES(?1, ?2, ?3) "
                             "ON CONFLICT(id) DO UPDATE SET updated = excluded.updated",
                         id, collection, NULL, now, err)) != 0)
        goto fail;
    const char *roles[2] = {"user", "assistant"};
    const char *texts[2] = {question, answer};
    for (int i = 0; i < 2 && texts[i]; i++) {
        if ((rc = exec_bound(cv, "INSERT INTO turns(conversation, seq, role, content) VALUES("
                                 "?1, (SELECT coalesce(max(seq), 0) + 1 FROM turns WHERE "
                                 "conversation = ?1), ?2, ?3)",
                             id, roles[i], texts[i], 0, err)) != 0)
            goto fail;
    }
    if ((rc = exec_bound(cv, "DELETE FROM turns WHERE conversation = ?1 AND seq <= (SELECT "
                             "max(seq) FROM turns WHERE conversation = ?1) - ?2",
                         id, NULL, NULL, (long long)cv->max_turns, err)) != 0)
        goto fail;
    if (sqlite3_exec(cv->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(cv, err);
        goto fail;
    }
    goto out;
fail:
    sqlite3_exec(cv->db, "ROLLBACK", NULL, NULL, NULL);
out:
    pthread_mutex_unlock(&cv->mu);
    return rc;
}
