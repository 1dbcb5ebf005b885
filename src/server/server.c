/* libmicrohttpd front of the API (see server.h). */
#include "config.h"
#include "server/server.h"
#include "server/api.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

struct mlsae_server {
    struct MHD_Daemon *d;
    mlsae_analyser *a;
    mlsae_server_options o;
    char host[256];      /* as given, without brackets */
    int loopback, wildcard;
    int port;
};

/* Per-request state, from the first call of the handler to completion. */
typedef struct request_state {
    char *body;
    size_t len;
    size_t dropped;  /* bytes of an oversized chunked body thrown away */
    int too_large;   /* 1: answered 413 from Content-Length; 2: body dropped */
} request_state;

static enum MHD_Result send_reply(mlsae_server *s, struct MHD_Connection *c, mlsae_reply *rep)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        rep->len, rep->body, rep->is_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
    if (!r) {
        mlsae_reply_free(rep);
        return MHD_NO;
    }
    rep->body = NULL; /* owned by the response now */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    if (strncmp(rep->content_type, "text/html", 9) == 0) {
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                                "base-uri 'none'; form-action 'self'");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
    }
    if (s->o.cors_origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", s->o.cors_origin);
        MHD_add_response_header(r, "Vary", "Origin");
    }
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)rep->status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(mlsae_server *s, struct MHD_Connection *c, int status,
                                  const char *msg)
{
    mlsae_reply rep;
    mlsae_reply_error(&rep, status, NULL, NULL, msg);
    return send_reply(s, c, &rep);
}

/* Host header check (DNS rebinding): "name" or "name:port". */
static int host_ok(const mlsae_server *s, const char *host)
{
    if (s->wildcard) return 1;
    char name[300];
    const char *port = NULL;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close || (size_t)(close - host - 1) >= sizeof name) return 0;
        memcpy(name, host + 1, (size_t)(close - host - 1));
        name[close - host - 1] = '\0';
        if (close[1] == ':') port = close + 2;
        else if (close[1]) return 0;
    } else {
        const char *colon = strchr(host, ':');
        size_t n = colon ? (size_t)(colon - host) : strlen(host);
        if (n >= sizeof name) return 0;
        memcpy(name, host, n);
        name[n] = '\0';
        if (colon) port = colon + 1;
    }
    if (port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (*end || end == port || p != s->port) return 0;
    }
    if (strcasecmp(name, s->host) == 0) return 1;
    return s->loopback && (strcasecmp(name, "localhost") == 0 || strcmp(name, "127.0.0.1") == 0 ||
                           strcmp(name, "::1") == 0);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    (void)version;
    mlsae_server *s = cls;
    request_state *rs = *con_cls;
    if (!rs) {
        /* first call: headers only; answer now what does not need the body */
        rs = calloc(1, sizeof *rs);
        if (!rs) return MHD_NO;
        *con_cls = rs;
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        if (!host) return send_error(s, c, 400, "missing Host header");
        if (!host_ok(s, host)) return send_error(s, c, 421, "Host header does not name this server");
        if (strcmp(method, "OPTIONS") == 0) {
            if (!s->o.cors_origin) return send_error(s, c, 405, "Method Not Allowed");
            struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
            if (!r) return MHD_NO;
            MHD_add_response_header(r, "Access-Control-Allow-Origin", s->o.cors_origin);
            MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST");
            MHD_add_response_header(r, "Access-Control-Allow-Headers", "Content-Type");
            MHD_add_response_header(r, "Access-Control-Max-Age", "600");
            MHD_add_response_header(r, "Vary", "Origin");
            enum MHD_Result ok = MHD_queue_response(c, 204, r);
            MHD_destroy_response(r);
            return ok;
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
            rs->too_large = 1;
            return send_error(s, c, 413, "request body too large");
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!rs->too_large && rs->len + *upload_data_size <= s->o.max_body) {
            char *b = realloc(rs->body, rs->len + *upload_data_size + 1);
            if (!b) return MHD_NO;
            memcpy(b + rs->len, upload_data, *upload_data_size);
            rs->body = b;
            rs->len += *upload_data_size;
            rs->body[rs->len] = '\0';
        } else {
            /* no reply can be queued while the body arrives (chunked, without
             * Content-Length): drop it and answer 413 at its end, or close
             * the connection if it goes on far past the limit */
            if (!rs->too_large) {
                rs->too_large = 2;
                free(rs->body);
                rs->body = NULL;
                rs->len = 0;
            }
            rs->dropped += *upload_data_size;
            if (rs->dropped > 16 * s->o.max_body) return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rs->too_large == 1) return MHD_YES; /* answered before the body */
    if (rs->too_large) return send_error(s, c, 413, "request body too large");
    mlsae_reply rep;
    mlsae_api_handle(s->a, method, url, rs->body, rs->len, &rep);
    return send_reply(s, c, &rep);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request_state *rs = *con_cls;
    if (rs) {
        free(rs->body);
        free(rs);
    }
    *con_cls = NULL;
}

int mlsae_server_start(mlsae_analyser *a, const mlsae_server_options *opt, mlsae_server **out,
                       mlsae_error *err)
{
    *out = NULL;
    mlsae_server *s = calloc(1, sizeof *s);
    if (!s) return mlsae_fail(err, "out of memory");
    s->a = a;
    s->o = *opt;
    if (!s->o.host || !*s->o.host) s->o.host = "127.0.0.1";
    if (!s->o.max_body) s->o.max_body = 64 * 1024;
    if (!s->o.max_connections) s->o.max_connections = 64;
    if (!s->o.timeout_s) s->o.timeout_s = 30;
    const char *h = s->o.host;
    size_t hl = strlen(h);
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') snprintf(s->host, sizeof s->host, "%.*s", (int)(hl - 2), h + 1);
    else snprintf(s->host, sizeof s->host, "%s", h);
    if (opt->port < 0 || opt->port > 65535) {
        free(s);
        return mlsae_fail(err, "--port %d: not a port number (0..65535)", opt->port);
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(s->host, NULL, &hints, &ai);
    if (gai) {
        mlsae_fail(err, "--host %s: %s", s->o.host, gai_strerror(gai));
        free(s);
        return -1;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_port = htons((uint16_t)opt->port);
        s->loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
        s->wildcard = IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_port = htons((uint16_t)opt->port);
        s->loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
        s->wildcard = a4->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    s->d = MHD_start_daemon(flags, (uint16_t)opt->port, NULL, NULL, handler, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_THREAD_POOL_SIZE,
                            s->o.max_connections < MLSAE_SERVER_THREADS ? s->o.max_connections
                                                                        : (unsigned)MLSAE_SERVER_THREADS,
                            MHD_OPTION_CONNECTION_LIMIT, s->o.max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, s->o.timeout_s,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_END);
    if (!s->d) {
        mlsae_fail(err, "cannot listen on %s port %d (in use, or not an address of this machine)",
                   s->o.host, opt->port);
        free(s);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : opt->port;
    *out = s;
    return 0;
}

int mlsae_server_port(const mlsae_server *s)
{
    return s->port;
}

void mlsae_server_stop(mlsae_server *s)
{
    if (!s) return;
    if (s->d) MHD_stop_daemon(s->d);
    free(s);
}
