#include "cli.h"
#include "ingest.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 1 when collection NAME under the data root already has a database. */
static int collection_exists(const char *data, const char *name)
{
    lore_err err = {0};
    char root[PATH_MAX], dir[PATH_MAX], db[PATH_MAX + 16];
    if (coll_data_root(data, root, sizeof root, &err) != 0 ||
        coll_dir(root, name, dir, sizeof dir, &err) != 0)
        return 1; /* let cli_open report the bad name or root */
    snprintf(db, sizeof db, "%s/lore.db", dir);
    struct stat sb;
    return stat(db, &sb) == 0;
}

static void index_usage(FILE *f)
{
    fputs("usage: lore index PATH... [options]\n\n"
          "Indexes help-center articles: directories are walked for .md, .html, .txt, .json\n"
          "and .jsonl files. Incremental: unchanged articles are skipped, changed ones\n"
          "re-chunked (only chunks whose text changed are re-embedded), and articles whose\n"
          "file under PATH is gone are deleted.\n\n"
          "options:\n"
          "  -c, --collection NAME   collection (default: default)\n"
          "      --data DIR          data directory (default: $LORE_DATA or ~/.local/share/lore)\n"
          "      --embedder SPEC     none | hash:DIM | openai:MODEL@URL (a new collection\n"
          "                          defaults to " COLL_DEFAULT_EMBEDDER "; a different SPEC re-embeds)\n"
          "      --locale LOCALE     default analysis locale of the collection (default en)\n"
          "      --chunk-tokens N    chunk budget in tokens (default 200)\n"
          "      --chunk-overlap N   overlap between chunks of a section (default 30)\n"
          "  -n, --dry-run           report what would change; write nothing\n"
          "      --json              print the summary as JSON\n"
          "  -q, --quiet             no progress lines\n"
          "  -h, --help              this help\n", f);
}

/* The run's summary line (or JSON object) on stdout. */
static void print_summary(const char *collection, const ingest_options *io,
                          const ingest_stats *st, int json, int rc)
{
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "collection", collection);
        cJSON_AddBoolToObject(o, "dry_run", io->dry_run);
        cJSON_AddBoolToObject(o, "ok", rc == 0);
        cJSON_AddNumberToObject(o, "files", (double)st->files);
        cJSON_AddNumberToObject(o, "articles", (double)st->articles);
        cJSON_AddNumberToObject(o, "added", (double)st->added);
        cJSON_AddNumberToObject(o, "changed", (double)st->changed);
        cJSON_AddNumberToObject(o, "unchanged", (double)st->unchanged);
        cJSON_AddNumberToObject(o, "deleted", (double)st->deleted);
        cJSON_AddNumberToObject(o, "chunks_embedded", (double)st->chunks_embedded);
        cJSON_AddNumberToObject(o, "chunks_reused", (double)st->chunks_reused);
        cJSON_AddNumberToObject(o, "problems", (double)st->problems);
        cJSON_AddNumberToObject(o, "seconds", st->seconds);
        cli_print_json(o);
    } else {
        printf("%s%s: %zu files, %zu articles: %zu added, %zu changed, %zu unchanged, "
               "%zu deleted; %zu chunks embedded, %zu reused; %zu problems; %.2fs\n",
               io->dry_run ? "dry run, nothing written: " : "", collection, st->files, st->articles,
               st->added, st->changed, st->unchanged, st->deleted, st->chunks_embedded,
               st->chunks_reused, st->problems, st->seconds);
    }
}

int cmd_index(int argc, char **argv)
{
    static const struct option opts[] = {
        {"collection", required_argument, NULL, 'c'}, {"data", required_argument, NULL, 'D'},
        {"embedder", required_argument, NULL, 'E'},   {"locale", required_argument, NULL, 'L'},
        {"chunk-tokens", required_argument, NULL, 'T'}, {"chunk-overlap", required_argument, NULL, 'O'},
        {"dry-run", no_argument, NULL, 'n'},          {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},            {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *collection = "default", *data = NULL, *embedder = NULL, *locale = NULL;
    int json = 0, quiet = 0;
    ingest_options io;
    ingest_options_default(&io);
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:nqh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': collection = optarg; break;
        case 'D': data = optarg; break;
        case 'E': embedder = optarg; break;
        case 'L': locale = optarg; break;
        case 'T':
            if (cli_size("--chunk-tokens", optarg, 16, 8192, &io.chunk.max_tokens))
                return CLI_USAGE;
            break;
        case 'O':
            if (cli_size("--chunk-overlap", optarg, 0, 4096, &io.chunk.overlap_tokens))
                return CLI_USAGE;
            break;
        case 'n': io.dry_run = 1; break;
        case 'j': json = 1; break;
        case 'q': quiet = 1; break;
        case 'h': index_usage(stdout); return CLI_OK;
        default: index_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        cli_error("index needs at least one PATH");
        index_usage(stderr);
        return CLI_USAGE;
    }
    if (io.chunk.overlap_tokens >= io.chunk.max_tokens) {
        cli_error("--chunk-overlap must be smaller than --chunk-tokens");
        return CLI_USAGE;
    }
    /* Check the paths before opening: a mistyped path must not create an empty collection. */
    for (int i = optind; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            cli_error("cannot read %s: %s", argv[i], strerror(errno));
            return CLI_FAIL;
        }
    }
    coll_open_options co = {io.dry_run ? STORE_READONLY : STORE_CREATE, embedder, 1, NULL, 1};
    coll *c;
    char dir[PATH_MAX];
    lore_err err = {0};
    /* A dry run of a collection's first index previews into a scratch collection that is
     * removed afterwards, so it writes nothing under the data root. */
    char scratch[PATH_MAX] = "";
    int rc;
    if (io.dry_run && !collection_exists(data, collection)) {
        const char *tmpdir = getenv("TMPDIR");
        snprintf(scratch, sizeof scratch, "%s/lore-dry-run.XXXXXX",
                 tmpdir && *tmpdir ? tmpdir : "/tmp");
        if (mkdtemp(scratch) == NULL) {
            cli_error("cannot create a scratch directory %s: %s", scratch, strerror(errno));
            return CLI_FAIL;
        }
        co.flags = STORE_CREATE;
        if (coll_open(scratch, &co, &c, &err) != 0) {
            cli_error("%s", err.msg);
            (void)cli_rmtree(scratch, &err);
            return CLI_FAIL;
        }
    } else if ((rc = cli_open(data, collection, &co, &c, dir, sizeof dir)) != 0) {
        return rc;
    }
    if (locale && !io.dry_run && store_meta_set(coll_store(c), "locale", locale, &err) != 0) {
        cli_error("%s", err.msg);
        coll_close(c);
        return CLI_FAIL;
    }
    io.paths = (const char *const *)argv + optind;
    io.npaths = (size_t)(argc - optind);
    io.progress = quiet ? NULL : stderr;
    io.warnings = stderr;
    ingest_stats st;
    rc = ingest_run(c, &io, &st, &err);
    if (rc != 0)
        cli_error("%s", err.msg);
    /* Turned away by another run's lock, this run did nothing: a summary of zeros would read
     * as "the collection is empty". Other failures report what was done before them. */
    if (rc != LORE_EBUSY)
        print_summary(collection, &io, &st, json, rc);
    coll_close(c);
    lore_err rerr = {0};
    if (scratch[0] && cli_rmtree(scratch, &rerr) != 0)
        cli_error("%s", rerr.msg);
    return rc == 0 ? CLI_OK : CLI_FAIL;
}
