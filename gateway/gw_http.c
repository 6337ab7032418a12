/* gw_http.c - evhttp listeners, routing and reply helpers; see gw_http.h.
 *
 * Owns the evhttp objects and the route table of each listener. The
 * in-flight counter is process-wide: SIGTERM waits for it to reach zero. */
#include "gw_http.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gw_log.h"

#define MAX_ROUTES 32

typedef struct route {
    char *path;
    size_t len;
    int prefix;
    gw_http_handler *handler;
    void *arg;
} route;

struct gw_http {
    char *name;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    route routes[MAX_ROUTES];
    int nroutes;
};

static size_t in_flight;

size_t gw_http_in_flight(void)
{
    return in_flight;
}

static void dispatch(struct evhttp_request *req, void *arg)
{
    gw_http *h = arg;
    in_flight++;
    const char *path = gw_http_path(req);
    if (path == NULL) {
        gw_http_error(req, 400, "bad_request", "malformed request URI");
        return;
    }
    size_t plen = strlen(path);
    for (int i = 0; i < h->nroutes; i++) {
        route *rt = &h->routes[i];
        if (rt->prefix ? (plen > rt->len && memcmp(path, rt->path, rt->len) == 0)
                       : (plen == rt->len && memcmp(path, rt->path, plen) == 0)) {
            rt->handler(req, rt->arg);
            return;
        }
    }
    gw_http_error(req, 404, "not_found", "no such endpoint");
}

gw_http *gw_http_new(struct event_base *base, const char *name, const char *host, int port,
                     size_t max_body, char *err, size_t errlen)
{
    gw_http *h = calloc(1, sizeof *h);
    if (h == NULL || (h->name = strdup(name)) == NULL || (h->http = evhttp_new(base)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        gw_http_free(h);
        return NULL;
    }
    evhttp_set_max_headers_size(h->http, 16 * 1024);
    evhttp_set_max_body_size(h->http, (ev_ssize_t)max_body);
    evhttp_set_timeout(h->http, 30);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(h->http, dispatch, h);
    h->sock = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
    if (h->sock == NULL) {
        snprintf(err, errlen, "%s: cannot listen on %s:%d", name, host, port);
        gw_http_free(h);
        return NULL;
    }
    gw_info("http", "%s listening on %s:%d", name, host, port);
    return h;
}

void gw_http_free(gw_http *h)
{
    if (h == NULL)
        return;
    if (h->http != NULL)
        evhttp_free(h->http);
    for (int i = 0; i < h->nroutes; i++)
        free(h->routes[i].path);
    free(h->name);
    free(h);
}

int gw_http_route(gw_http *h, const char *path, gw_http_handler *handler, void *arg)
{
    if (h->nroutes == MAX_ROUTES)
        return -1;
    route *rt = &h->routes[h->nroutes];
    rt->path = strdup(path);
    if (rt->path == NULL)
        return -1;
    rt->len = strlen(path);
    rt->prefix = rt->len > 1 && path[rt->len - 1] == '/';
    rt->handler = handler;
    rt->arg = arg;
    h->nroutes++;
    return 0;
}

void gw_http_stop_accepting(gw_http *h)
{
    if (h != NULL && h->sock != NULL) {
        evhttp_del_accept_socket(h->http, h->sock);
        h->sock = NULL;
    }
}

const char *gw_http_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    /* Add a NUL after the data so parsers can treat it as a string, then
     * drop it from the buffer's count again. */
    evbuffer_add(in, "", 1);
    const char *body = (const char *)evbuffer_pullup(in, -1);
    evbuffer_drain(in, 0);
    if (len != NULL)
        *len = n;
    return body != NULL ? body : "";
}

const char *gw_http_path(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    return uri != NULL ? evhttp_uri_get_path(uri) : NULL;
}

void gw_http_reply(struct evhttp_request *req, int status, const char *content_type,
                   const char *body, size_t len)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", content_type);
    evhttp_add_header(out, "Cache-Control", "no-store");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    const char *reason = status == 200 ? "OK" : status == 202 ? "Accepted" : NULL;
    evhttp_send_reply(req, status, reason, NULL);
    if (in_flight > 0)
        in_flight--;
}

void gw_http_reply_json(struct evhttp_request *req, int status, json_t *value)
{
    char *text = value != NULL ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    if (text == NULL) {
        static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}";
        gw_http_reply(req, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    size_t n = strlen(text);
    text[n] = '\n';   /* json_dumps leaves room for the NUL; a newline ends the body */
    gw_http_reply(req, status, "application/json; charset=utf-8", text, n + 1);
    free(text);
}

void gw_http_error(struct evhttp_request *req, int status, const char *code,
                   const char *message)
{
    gw_http_reply_json(req, status, json_pack("{s:s, s:s}", "error", code, "message", message));
}
