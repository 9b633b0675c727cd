/* lore: the command. Each subcommand lives in its own cmd_*.c. */
#include "cli.h"
#include "server.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} COMMANDS[] = {
    {"index", cmd_index, "index help-center articles (incremental)"},
    {"search", cmd_search, "search a collection: BM25, vector or hybrid"},
    {"ask", cmd_ask, "answer a question from a collection, with citations"},
    {"stats", cmd_stats, "show what a collection holds"},
    {"eval", cmd_eval, "measure retrieval quality on a BEIR-format dataset"},
    {"tune", cmd_tune, "fit the reranker and confidence model; write a profile"},
    {"compare", cmd_compare, "compare two per-query runs (paired randomization test)"},
    {"bench", cmd_bench, "measure indexing and query speed"},
    {"serve", server_main, "serve search and answers over HTTP (and the playground)"},
};

#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f)
{
    fputs("usage: lore COMMAND [OPTIONS]\n\n"
          "lore indexes help-center articles and answers questions from them.\n\n"
          "commands:\n", f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fputs("\nRun 'lore COMMAND --help' for a command's options.\n"
          "Collections live in --data DIR, else $LORE_DATA, else ~/.local/share/lore.\n", f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        puts("lore 0.1.0");
        return CLI_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0)
            return COMMANDS[i].fn(argc - 1, argv + 1);
    cli_error("unknown command '%s'; run 'lore --help'", argv[1]);
    return CLI_USAGE;
}
