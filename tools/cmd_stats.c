#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static void stats_usage(FILE *f)
{
    fputs("usage: lore stats [options]\n\n"
          "Shows what a collection holds: articles, chunks, vectors, its embedder, chunker,\n"
          "index generation and file sizes.\n\n"
          "options:\n"
          "  -c, --collection NAME   collection (default: default)\n"
          "      --data DIR          data directory (default: $LORE_DATA or ~/.local/share/lore)\n"
          "      --json              JSON output\n"
          "  -h, --help              this help\n", f);
}

static double file_mb(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat sb;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path || stat(path, &sb))
        return 0.0;
    return (double)sb.st_size / (1024.0 * 1024.0);
}

/* A meta value, or NULL when unset (callers print their own default). */
static char *meta_str(store *s, const char *key)
{
    char *v = NULL;
    return store_meta_get(s, key, &v, NULL) == 0 ? v : NULL;
}

int cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        {"collection", required_argument, NULL, 'c'}, {"data", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},             {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *collection = "default", *data = NULL;
    int json = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': collection = optarg; break;
        case 'D': data = optarg; break;
        case 'j': json = 1; break;
        case 'h': stats_usage(stdout); return CLI_OK;
        default: stats_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("stats takes no arguments");
        return CLI_USAGE;
    }
    coll_open_options co = {STORE_READONLY, NULL, 0, NULL, 1};
    coll *c;
    char dir[PATH_MAX];
    int rc = cli_open(data, collection, &co, &c, dir, sizeof dir);
    if (rc != 0)
        return rc;
    store_stats st;
    lore_err err = {0};
    if (store_stats_get(coll_store(c), &st, &err) != 0) {
        cli_error("%s", err.msg);
        coll_close(c);
        return CLI_FAIL;
    }
    char *chunker = meta_str(coll_store(c), "chunker");
    char *locale = meta_str(coll_store(c), "locale");
    double db_mb = file_mb(dir, "lore.db") + file_mb(dir, "lore.db-wal");
    double faiss_mb = file_mb(dir, "vectors.faiss");
    size_t vcount = coll_vindex(c) ? vindex_count(coll_vindex(c)) : 0;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "collection", collection);
        cJSON_AddStringToObject(o, "path", dir);
        cJSON_AddNumberToObject(o, "schema_version", STORE_SCHEMA_VERSION);
        cJSON_AddNumberToObject(o, "generation", (double)st.generation);
        cJSON_AddNumberToObject(o, "articles", (double)st.articles);
        cJSON_AddNumberToObject(o, "chunks", (double)st.chunks);
        cJSON_AddNumberToObject(o, "vectors", (double)st.vectors);
        cJSON_AddNumberToObject(o, "vector_index_count", (double)vcount);
        cJSON_AddNumberToObject(o, "dim", st.embed_dim);
        cJSON_AddStringToObject(o, "embedder", embed_id(coll_embedder(c)));
        cJSON_AddStringToObject(o, "chunker", chunker ? chunker : "");
        cJSON_AddStringToObject(o, "locale", locale ? locale : "en");
        cJSON_AddNumberToObject(o, "db_mb", db_mb);
        cJSON_AddNumberToObject(o, "faiss_mb", faiss_mb);
        cli_print_json(o);
    } else {
        printf("collection  %s (%s)\n", collection, dir);
        printf("articles    %lld\nchunks      %lld\nvectors     %lld (%zu in the vector index, "
               "dim %d)\n", (long long)st.articles, (long long)st.chunks, (long long)st.vectors,
               vcount, st.embed_dim);
        printf("embedder    %s\nchunker     %s\nlocale      %s\ngeneration  %llu\n",
               embed_id(coll_embedder(c)), chunker ? chunker : "-", locale ? locale : "en",
               (unsigned long long)st.generation);
        printf("files       lore.db %.2f MB, vectors.faiss %.2f MB\n", db_mb, faiss_mb);
    }
    free(chunker);
    free(locale);
    coll_close(c);
    return CLI_OK;
}
