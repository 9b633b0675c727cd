/* Unit tests for convo: ids, turns kept in order and capped at max_turns, refused answers
 * storing only the question, a conversation bound to its collection, expiry after the TTL
 * (the clock is the database's own: rows are aged by rewriting their timestamps), and
 * persistence across reopening. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convo.h"

static char path[256];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/lore-test-convo-%d.db", (int)getpid());
    unlink(path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[300];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return 0;
}

static void test_ids(void **state)
{
    (void)state;
    lore_err err = {0};
    assert_int_equal(convo_id_valid("chat-1.a:b_C", &err), 0);
    assert_int_equal(convo_id_valid("", &err), LORE_EINVAL);
    assert_int_equal(convo_id_valid("a b", &err), LORE_EINVAL);
    assert_int_equal(convo_id_valid("a/b", &err), LORE_EINVAL);
    char longid[200];
    memset(longid, 'a', 129);
    longid[129] = '\0';
    assert_int_equal(convo_id_valid(longid, &err), LORE_EINVAL);
    assert_non_null(strstr(err.msg, "conversation_id"));
}

static void test_turns(void **state)
{
    (void)state;
    convo *cv;
    lore_err err = {0};
    assert_int_equal(convo_open(path, 900, 3, &cv, &err), 0);
    convo_history h;
    assert_int_equal(convo_load(cv, "c1", "default", &h, &err), 0);
    assert_int_equal(h.n, 0);
    convo_history_free(&h);
    assert_int_equal(convo_append(cv, "c1", "default", "q1", "a1", &err), 0);
    assert_int_equal(convo_append(cv, "c1", "default", "q2", NULL, &err), 0); /* refused */
    assert_int_equal(convo_load(cv, "c1", "default", &h, &err), 0);
    assert_int_equal(h.n, 3);
    assert_string_equal(h.turns[0].role, "user");
    assert_string_equal(h.turns[0].content, "q1");
    assert_string_equal(h.turns[1].role, "assistant");
    assert_string_equal(h.turns[1].content, "a1");
    assert_string_equal(h.turns[2].content, "q2");
    convo_history_free(&h);
    /* Capped at the last 3 turns. */
    assert_int_equal(convo_append(cv, "c1", "default", "q3", "a3", &err), 0);
    assert_int_equal(convo_load(cv, "c1", "default", &h, &err), 0);
    assert_int_equal(h.n, 3);
    assert_string_equal(h.turns[0].content, "q2");
    assert_string_equal(h.turns[2].content, "a3");
    convo_history_free(&h);
    /* Bound to its collection. */
    assert_int_equal(convo_load(cv, "c1", "other", &h, &err), LORE_EINVAL);
    assert_string_equal(err.msg, "conversation_id belongs to another collection");
    assert_int_equal(h.n, 0);
    convo_close(cv);
    /* Still there after reopening. */
    assert_int_equal(convo_open(path, 900, 3, &cv, &err), 0);
    assert_int_equal(convo_load(cv, "c1", "default", &h, &err), 0);
    assert_int_equal(h.n, 3);
    convo_history_free(&h);
    convo_close(cv);
}

static void test_expiry(void **state)
{
    (void)state;
    convo *cv;
    lore_err err = {0};
    assert_int_equal(convo_open(path, 60, 10, &cv, &err), 0);
    assert_int_equal(convo_append(cv, "old", "default", "q", "a", &err), 0);
    assert_int_equal(convo_append(cv, "new", "default", "q", "a", &err), 0);
    /* Age "old" by two minutes through a second connection. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "UPDATE conversations SET updated = updated - 120 "
                                      "WHERE id = 'old'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    convo_history h;
    assert_int_equal(convo_load(cv, "old", "default", &h, &err), 0);
    assert_int_equal(h.n, 0);
    convo_history_free(&h);
    /* Expired: another collection may take the id, and it starts afresh. */
    assert_int_equal(convo_load(cv, "old", "other", &h, &err), 0);
    assert_int_equal(convo_append(cv, "old", "other", "fresh", NULL, &err), 0);
    assert_int_equal(convo_load(cv, "old", "other", &h, &err), 0);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.turns[0].content, "fresh");
    convo_history_free(&h);
    assert_int_equal(convo_load(cv, "new", "default", &h, &err), 0);
    assert_int_equal(h.n, 2);
    convo_history_free(&h);
    convo_close(cv);
}

static void test_open_errors(void **state)
{
    (void)state;
    convo *cv;
    lore_err err = {0};
    assert_int_equal(convo_open("/nonexistent/dir/c.db", 60, 10, &cv, &err), LORE_EDB);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/c.db"));
    assert_int_equal(convo_open(path, 0, 10, &cv, &err), LORE_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test_setup_teardown(test_turns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
