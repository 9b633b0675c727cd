/* convo: conversations of the query service, kept in their own SQLite file.
 *
 * A conversation (an id chosen by the client) holds the last turns of one customer's chat
 * with one collection, so that a follow-up ("and on Android?") can be refined into a
 * standalone question. It lives in a separate database (by default DATA_ROOT/
 * conversations.db), never in a collection's lore.db, so the service's writes never contend
 * with `lore index` for that database's write lock.
 *
 * A conversation expires `ttl_s` seconds after its last turn: it is then treated as new and
 * its turns are purged. Only the last `max_turns` turns are kept.
 *
 * Ownership: convo_open returns a handle closed with convo_close; convo_load fills a
 * convo_history the caller frees with convo_history_free. Threads: thread-safe (the one
 * connection is guarded by a mutex; turns are small and written once per answer). */
#ifndef LORE_API_CONVO_H
#define LORE_API_CONVO_H

#include <stddef.h>

#include "answer.h"
#include "err.h"

typedef struct convo convo;

typedef struct convo_history {
    answer_turn *turns; /* oldest first; role and content strings owned by the history */
    size_t n;
} convo_history;

/* Creates the file when absent. ttl_s >= 1, max_turns >= 1. */
int convo_open(const char *path, long ttl_s, size_t max_turns, convo **out, lore_err *err);
void convo_close(convo *cv);

/* Conversation ids: 1 to 128 of [A-Za-z0-9_.:-]. LORE_EINVAL otherwise. */
int convo_id_valid(const char *id, lore_err *err);

/* The unexpired turns of conversation `id` (none when it is new or expired). LORE_EINVAL
 * when the conversation belongs to another collection. */
int convo_load(convo *cv, const char *id, const char *collection, convo_history *out,
               lore_err *err);
void convo_history_free(convo_history *h);

/* Appends the user's question and, when answer is not NULL, the assistant's answer, and
 * purges expired conversations. */
int convo_append(convo *cv, const char *id, const char *collection, const char *question,
                 const char *answer, lore_err *err);

#endif
