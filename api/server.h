/* server: `lore serve`, the HTTP query service for the support bot (libmicrohttpd).
 *
 * Routes:
 *   POST /v1/search        ranked chunks with each stage's scores and the confidence
 *   POST /v1/answer        a grounded answer with citations, or a refusal with its reason;
 *                          Server-Sent Events with "Accept: text/event-stream"
 *   GET  /v1/collections   the collections the caller may use
 *   GET  /healthz          the process is up
 *   GET  /readyz           the process takes requests (503 while draining)
 *   GET  /metrics          Prometheus text (metrics.h)
 *   GET  /                 the playground page (files of the web/ folder)
 * Errors are JSON: {"error": {"code": "...", "message": "..."}}; messages name the field or
 * limit at fault and never carry file paths or engine internals (those go to stderr).
 *
 * Threads: one event thread reads and writes every connection (epoll); searches and
 * collection listings run in order on one thread per core, answers on one thread per worker,
 * while their connections are suspended (server.c, "work off the event thread"). A search
 * thread takes up to 8 waiting searches at once and embeds their questions together (the
 * same vectors as one at a time, a quarter less CPU each: run_search_batch). Each
 * request that touches a collection checks out a worker of the pool (pool.h). SIGTERM and
 * SIGINT are blocked in every thread and taken by sigwait in the main thread: the service
 * stops accepting, drains the requests in flight and returns 0. */
#ifndef LORE_API_SERVER_H
#define LORE_API_SERVER_H

/* The `serve` subcommand: argv[0] is "serve". Exit codes as tools/cli.h: 0, 1 (failure),
 * 2 (command line). */
int server_main(int argc, char **argv);

#endif
