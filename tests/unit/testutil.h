/* testutil: what the unit tests share: scratch directories, whole-file reads, and the fake
 * upstream server (tests/fake/fake_openai) run as a child process.
 *
 * Every function asserts with cmocka: a failure fails the calling test, so none returns an
 * error code. Paths come from the environment ctest sets: LORE_BUILD_DIR (where the fake
 * servers are built) and TMPDIR (else /tmp). */
#ifndef LORE_TESTUTIL_H
#define LORE_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Creates a fresh directory $TMPDIR/lore-test-TAG-XXXXXX and writes its path into buf. */
void tu_mkdtemp(const char *tag, char *buf, size_t len);
/* Removes path and everything under it, not following symlinks; quiet when absent. */
void tu_rm_rf(const char *path);
/* The whole file, NUL-terminated (malloc'd; the caller frees); its length in *len when len
 * is not NULL. NULL when the file cannot be read. */
char *tu_read_file(const char *path, size_t *len);

/* A running fake server. */
typedef struct tu_fake {
    pid_t pid;
    int port;
    char log[512]; /* every request it received, one JSON object a line */
    char url[128]; /* http://127.0.0.1:PORT/v1 */
} tu_fake;

/* Path of a fake server executable built beside the tests ($LORE_BUILD_DIR/NAME); fails the
 * test when it is not built. */
const char *tu_fake_path(const char *name);
/* Starts fake_openai logging to `log` with the extra flags (NULL-terminated, may be NULL)
 * and waits for the port it prints. It exits by itself after max_seconds, and with this
 * process (PR_SET_PDEATHSIG), so a crashed test leaves nothing running. */
void tu_fake_start(tu_fake *f, const char *log, int max_seconds, const char *const *extra);
/* Stops it with SIGTERM and asserts it exited 0. */
void tu_fake_stop(tu_fake *f);
/* The requests it logged so far, as a JSON array (the caller deletes it); an empty array
 * before the first request. A line that is not JSON fails the test. */
struct cJSON *tu_fake_log(const tu_fake *f);

#endif
