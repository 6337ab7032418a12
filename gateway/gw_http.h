/* gw_http.h - the two HTTP listeners (carrier-facing and admin) on evhttp,
 * and small helpers to answer requests.
 *
 * Requests are routed by exact path (and a prefix for /v1/participants/{id})
 * to handlers registered by the modules. Every request is counted while in
 * flight so SIGTERM can drain. Limits: header size 16 KiB, body size from
 * the config (413 beyond), idle connections closed after 30 s.
 * Runs on the daemon's loop; not thread safe. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>

#include <jansson.h>

struct event_base;
struct evhttp_request;

typedef struct gw_http gw_http;

/* A handler answers REQ now or later (exactly once, through gw_http_reply*
 * or evhttp_send_reply followed by gw_http_done). */
typedef void gw_http_handler(struct evhttp_request *req, void *arg);

/* Binds HOST:PORT. Returns NULL with a reason in ERR. */
gw_http *gw_http_new(struct event_base *base, const char *name, const char *host, int port,
                     size_t max_body, char *err, size_t errlen);

void gw_http_free(gw_http *h);

/* Routes PATH (exact, or a prefix when PATH ends in '/') to HANDLER. */
int gw_http_route(gw_http *h, const char *path, gw_http_handler *handler, void *arg);

/* Stops accepting new connections (SIGTERM). */
void gw_http_stop_accepting(gw_http *h);

/* Requests received and not yet answered, over every listener. */
size_t gw_http_in_flight(void);

/* The body of REQ as a NUL-terminated string (pulled up in place); *LEN
 * gets its length. Never NULL. */
const char *gw_http_body(struct evhttp_request *req, size_t *len);

/* The request path without the query string, decoded. Owned by REQ's
 * URI object; valid during the request. */
const char *gw_http_path(struct evhttp_request *req);

/* Answers with BODY (LEN bytes) and CONTENT_TYPE. */
void gw_http_reply(struct evhttp_request *req, int status, const char *content_type,
                   const char *body, size_t len);

/* Answers with the JSON value (stolen: it is freed). */
void gw_http_reply_json(struct evhttp_request *req, int status, json_t *value);

/* Answers {"error": CODE, "message": MESSAGE} with STATUS. */
void gw_http_error(struct evhttp_request *req, int status, const char *code,
                   const char *message);

#endif
