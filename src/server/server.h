/* The HTTP side of `mlsae serve` on libmicrohttpd: a pool of
 * MLSAE_SERVER_THREADS (at most max_connections) event-driven threads
 * (epoll or poll) shares the connections, so slow or idle clients hold no
 * thread; a request that needs
 * the model blocks its thread until the analyser's lock is free (the model
 * work is serialised there, see analyser.h). A fixed pool also keeps the
 * OpenMP thread teams to a fixed number (libgomp keeps one per calling
 * thread). Limits, and the checks that make a loopback server safe to leave
 * running:
 *
 *   - bound to 127.0.0.1 unless told otherwise;
 *   - the Host header must name the bound address or, for a loopback one,
 *     localhost / 127.0.0.1 / [::1], with the bound port if it has one
 *     (no DNS rebinding: a page from another site cannot reach the API
 *     through a name that resolves to 127.0.0.1); 421 otherwise, 400 when
 *     absent. A wildcard bind (0.0.0.0, ::) accepts any Host;
 *   - no CORS headers unless cors_origin is set, and then only that origin;
 *   - bodies over max_body bytes: 413, before the body is read when
 *     Content-Length says so, else after it (a chunked body is dropped as
 *     it comes, and the connection closed past 16 x max_body);
 *   - at most max_connections connections, each closed after timeout_s
 *     seconds of inactivity.
 * Every reply carries X-Content-Type-Options: nosniff; the page a
 * Content-Security-Policy that allows only its own scripts and styles. */
#ifndef MLSAE_SERVER_SERVER_H
#define MLSAE_SERVER_SERVER_H

#include <stddef.h>
#include "core/status.h"
#include "server/analyser.h"

#define MLSAE_SERVER_THREADS 4

typedef struct mlsae_server_options {
    const char *host;         /* numeric address or name; default "127.0.0.1" */
    int port;                 /* 0 = any free port (see mlsae_server_port) */
    const char *cors_origin;  /* e.g. "http://localhost:3000"; NULL = none */
    size_t max_body;          /* default 64 KiB */
    unsigned max_connections; /* default 64 */
    unsigned timeout_s;       /* default 30 */
} mlsae_server_options;

typedef struct mlsae_server mlsae_server;

/* Start serving a (borrowed; it must outlive the server) in background
 * threads. */
int mlsae_server_start(mlsae_analyser *a, const mlsae_server_options *opt, mlsae_server **out,
                       mlsae_error *err);
/* The port actually bound. */
int mlsae_server_port(const mlsae_server *s);
/* Stop accepting, finish, free. */
void mlsae_server_stop(mlsae_server *s);

#endif
