/* cli: what every lore subcommand shares: option values, collection opening, messages.
 *
 * Exit codes: 0 success, 1 the work failed, 2 the command line was wrong. */
#ifndef LORE_CLI_H
#define LORE_CLI_H

#include <stddef.h>

#include "coll.h"
#include "err.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Prints "lore: <message>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse option values; on a bad value print an error naming the option and return non-zero. */
int cli_size(const char *opt, const char *val, size_t min, size_t max, size_t *out);
int cli_double(const char *opt, const char *val, double min, double max, double *out);

/* Resolves --data and --collection and opens the collection. Prints the error itself. */
int cli_open(const char *data, const char *name, const coll_open_options *o, coll **out,
             char *dir, size_t dirlen);

/* Prints a JSON value on one line of stdout (what scripts parse) and frees it. */
struct cJSON;
void cli_print_json(struct cJSON *o);

/* Removes PATH and everything under it (not following symlinks); 0 when PATH is absent.
 * LORE_EIO naming the path that could not be removed. */
int cli_rmtree(const char *path, lore_err *err);

/* The subcommands. argv[0] is the subcommand name. */
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* `lore bench --serve` (bench_serve.c): load-tests lore serve with wrk. */
int bench_serve_main(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_ask(int argc, char **argv);
/* lore eval DATASET --answers (tools/eval_answers.c); cmd_eval hands over to it. */
int eval_answers(int argc, char **argv);

#endif
