/* gw_http.h - the gateway's HTTP/1.1 server: the carrier-facing and the
 * admin listeners, request routing and reply helpers.
 *
 * Requests are parsed by http-parser (the Node.js C parser, a Debian
 * package) on connections the daemon's libevent loop reads directly. A
 * reply is written to the socket at once (the loop waits for writability
 * only when the socket buffer is full), so a keep-alive hop costs one read
 * and one write: no per-request event changes. Pipelined requests are
 * answered in order, one at a time.
 *
 * Limits: headers 16 KiB (431 beyond), URL 8 KiB (414), body the listener's
 * max_body (413), 64 headers; a request not fully received within 10 s
 * and a keep-alive connection idle for 30 s are closed.
 * Runs on the daemon's loop; not thread safe. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>

#include <jansson.h>

struct event_base;

typedef struct gw_http gw_http;
typedef struct gw_http_req gw_http_req;

enum gw_http_method { GW_HTTP_GET, GW_HTTP_HEAD, GW_HTTP_POST, GW_HTTP_OTHER };

/* A handler answers REQ now or later, exactly once, with gw_http_reply*
 * or gw_http_error. REQ stays valid until then, even if the client goes
 * away (the answer is then dropped). */
typedef void gw_http_handler(gw_http_req *req, void *arg);

/* Binds HOST:PORT. Returns NULL with a reason in ERR. */
gw_http *gw_http_new(struct event_base *base, const char *name, const char *host, int port,
                     size_t max_body, char *err, size_t errlen);

/* Closes the listener and every connection. Requests still being handled
 * are orphaned: their answers are dropped when they come. */
void gw_http_free(gw_http *h);

/* Routes PATH (exact, or a prefix when PATH ends in '/' and is longer than
 * "/") to HANDLER. Routes are tried in the order they were added. */
int gw_http_route(gw_http *h, const char *path, gw_http_handler *handler, void *arg);

/* Stops accepting new connections (SIGTERM); open ones are served on. */
void gw_http_stop_accepting(gw_http *h);

/* Requests dispatched and not yet answered, over every listener. */
size_t gw_http_in_flight(void);

/* ---- the request ---- */

enum gw_http_method gw_http_method(const gw_http_req *req);

/* The path as sent (still percent-encoded), without the query. */
const char *gw_http_path(const gw_http_req *req);

/* The query string without '?', or "" . */
const char *gw_http_query(const gw_http_req *req);

/* The first header NAME (case-insensitive), or NULL. */
const char *gw_http_header(const gw_http_req *req, const char *name);

/* The body, NUL-terminated (*LEN excludes the NUL). Never NULL. */
const char *gw_http_body(const gw_http_req *req, size_t *len);

/* ---- the answer ---- */

/* Adds a response header (copied). Returns 0, or -1 when full. */
int gw_http_add_header(gw_http_req *req, const char *name, const char *value);

/* Answers with BODY (LEN bytes) and CONTENT_TYPE, and frees REQ. */
void gw_http_reply(gw_http_req *req, int status, const char *content_type,
                   const char *body, size_t len);

/* Answers with the JSON value (stolen: it is freed). */
void gw_http_reply_json(gw_http_req *req, int status, json_t *value);

/* Answers {"error": CODE, "message": MESSAGE} with STATUS. */
void gw_http_error(gw_http_req *req, int status, const char *code, const char *message);

#endif
