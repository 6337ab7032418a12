/* gw_http.c - HTTP/1.1 listeners on the daemon's loop; see gw_http.h.
 *
 * Owns the listening sockets, the connections and the requests. A
 * connection reads into http-parser, which calls back with the request's
 * parts; when a message is complete the parser is paused, the request is
 * dispatched to its route, and bytes that arrived behind it (pipelining)
 * wait in `pending` until the answer is written. Answers are written to the
 * socket at once; only a short write arms the write event.
 *
 * Invariants: a connection has at most one request being received or
 * handled (`req`); a dispatched request is answered exactly once; when its
 * connection dies first, the request is orphaned (req->c == NULL) and freed
 * by its answer. */
#include "gw_http.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <http_parser.h>

#include "gw_format.h"
#include "gw_log.h"

#define MAX_ROUTES 32
#define MAX_HEADERS 64
#define MAX_RESP_HEADERS 8
#define MAX_HEADER_BYTES (16 * 1024)
#define MAX_URL_BYTES (8 * 1024)
#define MAX_PENDING_BYTES (1024 * 1024)
#define READ_CHUNK (64 * 1024)
#define REQUEST_TIMEOUT_S 10
#define IDLE_TIMEOUT_S 30
#define MAX_CONNECTIONS 20000

typedef struct route {
    char *path;
    size_t len;
    int prefix;
    gw_http_handler *handler;
    void *arg;
} route;

typedef struct conn conn;

struct gw_http {
    char *name;
    struct event_base *base;
    struct evconnlistener *listener;
    size_t max_body;
    route routes[MAX_ROUTES];
    int nroutes;
    conn *conns;                  /* every open connection */
    size_t nconns;
};

typedef struct strbuf {
    char *p;
    size_t len, cap;
} strbuf;

typedef struct header {
    char *name;
    char *value;
} header;

/* The request's text lives in one buffer, `raw`: the URL, then each header
 * name and value, then the path and query, each NUL-terminated; the rest of
 * the request refers to it by offsets (the buffer may move as it grows). A
 * connection reuses its request object, buffers and all, from one request
 * to the next, so a keep-alive hop allocates nothing here. */
enum { IN_URL, IN_FIELD, IN_VALUE, IN_DONE };

typedef struct hdr_off {
    size_t name, value;
} hdr_off;

struct gw_http_req {
    conn *c;                      /* NULL once the connection is gone */
    enum gw_http_method method;
    strbuf raw;
    int part;                     /* which part `raw` is receiving (IN_*) */
    size_t url_len;
    size_t path, query;           /* offsets in raw */
    hdr_off headers[MAX_HEADERS];
    int nheaders;
    size_t header_bytes;
    strbuf body;
    header resp[MAX_RESP_HEADERS];
    int nresp;
    int keep_alive;
    int http10;                   /* HTTP/1.0: keep-alive must be said */
    int head;                     /* HEAD: no body in the answer */
};

struct conn {
    gw_http *h;
    evutil_socket_t fd;
    struct event rev, wev, timer, kick;
    http_parser parser;
    gw_http_req *req;             /* being received, or dispatched */
    int dispatched;               /* req is with a handler */
    int closing;                  /* close once `out` is written */
    struct evbuffer *out;         /* answer bytes the socket did not take yet */
    struct evbuffer *pending;     /* bytes received behind a dispatched request */
    int error_status;             /* set by a parser callback to refuse the request */
    int timing_request;           /* the timer runs the current request's 10 s */
    gw_http_req *spare;           /* the last request's object, for the next one */
    conn *prev, *next;
};

static size_t in_flight;
static http_parser_settings settings;

size_t gw_http_in_flight(void)
{
    return in_flight;
}

/* ---- small buffers ---- */

static int sb_append(strbuf *b, const char *p, size_t n, size_t limit)
{
    if (b->len + n > limit)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void sb_free(strbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static void req_clear_resp(gw_http_req *r)
{
    for (int i = 0; i < r->nresp; i++) {
        free(r->resp[i].name);
        free(r->resp[i].value);
    }
    r->nresp = 0;
}

static void req_free(gw_http_req *r)
{
    if (r == NULL)
        return;
    sb_free(&r->raw);
    sb_free(&r->body);
    req_clear_resp(r);
    free(r);
}

/* Empties R for the next request on its connection, keeping its buffers. */
static void req_reset(gw_http_req *r)
{
    strbuf raw = r->raw, body = r->body;
    req_clear_resp(r);
    memset(r, 0, sizeof *r);
    r->raw = raw;
    r->body = body;
    r->raw.len = r->body.len = 0;
    if (r->body.p != NULL)
        r->body.p[0] = '\0';   /* a kept body reads empty, not as the last request's */
}

/* Appends N bytes to the request's text; -1 past the limits. */
static int raw_add(gw_http_req *r, const char *p, size_t n)
{
    return sb_append(&r->raw, p, n, MAX_URL_BYTES + MAX_HEADER_BYTES + 2 * MAX_URL_BYTES + 64);
}

/* Ends the part being received with its NUL. */
static int raw_end(gw_http_req *r)
{
    return raw_add(r, "", 1);
}

/* ---- connections ---- */

static void conn_close(conn *c)
{
    gw_http *h = c->h;
    if (c->req != NULL) {
        if (c->dispatched)
            c->req->c = NULL;      /* the handler still owns it; its answer frees it */
        else
            req_free(c->req);
    }
    event_del(&c->rev);
    event_del(&c->wev);
    event_del(&c->timer);
    event_del(&c->kick);
    evutil_closesocket(c->fd);
    evbuffer_free(c->out);
    evbuffer_free(c->pending);
    req_free(c->spare);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    h->nconns--;
    free(c);
}

/* Idle connections get IDLE_TIMEOUT_S from their last answer; a request
 * gets REQUEST_TIMEOUT_S from its first byte to its last, however slowly
 * the bytes trickle in. */
static void arm_timer(conn *c)
{
    if (c->dispatched) {
        event_del(&c->timer);
        c->timing_request = 0;
        return;
    }
    if (c->req != NULL && c->timing_request)
        return;
    c->timing_request = c->req != NULL;
    struct timeval tv = {c->req != NULL ? REQUEST_TIMEOUT_S : IDLE_TIMEOUT_S, 0};
    event_add(&c->timer, &tv);
}

/* Writes what `out` holds; arms the write event for the rest. Returns -1
 * when the connection was closed. */
static int conn_flush(conn *c)
{
    while (evbuffer_get_length(c->out) > 0) {
        int n = evbuffer_write(c->out, c->fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                event_add(&c->wev, NULL);
                return 0;
            }
            conn_close(c);
            return -1;
        }
        if (n == 0)
            break;
    }
    event_del(&c->wev);
    if (c->closing) {
        conn_close(c);
        return -1;
    }
    return 0;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status < 500 ? "Client Error" : "Server Error";
    }
}

/* Appends S to the header being built at *W, within END. */
static void put(char **w, const char *end, const char *s, size_t n)
{
    if (n > (size_t)(end - *w))
        n = (size_t)(end - *w);
    memcpy(*w, s, n);
    *w += n;
}

static void put_str(char **w, const char *end, const char *s)
{
    put(w, end, s, strlen(s));
}

static void put_uint(char **w, const char *end, size_t n)
{
    char tmp[24];
    put(w, end, tmp, gw_uint_format(tmp, n));
}

/* Queues one whole answer on C's output (built without printf: this runs
 * for every hop). */
static void put_answer(conn *c, int status, const header *extra, int nextra,
                       const char *ctype, const char *body, size_t len, int head,
                       int keep_alive, int http10)
{
    char buf[2048], *w = buf;
    const char *end = buf + sizeof buf;
    put_str(&w, end, "HTTP/1.1 ");
    put_uint(&w, end, (size_t)status);
    put_str(&w, end, " ");
    put_str(&w, end, reason_phrase(status));
    put_str(&w, end, "\r\nContent-Type: ");
    put_str(&w, end, ctype);
    put_str(&w, end, "\r\nContent-Length: ");
    put_uint(&w, end, len);
    put_str(&w, end, "\r\nCache-Control: no-store\r\n");
    if (!keep_alive)
        put_str(&w, end, "Connection: close\r\n");
    else if (http10)
        put_str(&w, end, "Connection: keep-alive\r\n");
    for (int i = 0; i < nextra; i++) {
        put_str(&w, end, extra[i].name);
        put_str(&w, end, ": ");
        put_str(&w, end, extra[i].value);
        put_str(&w, end, "\r\n");
    }
    put_str(&w, end, "\r\n");
    evbuffer_add(c->out, buf, (size_t)(w - buf));
    if (!head)
        evbuffer_add(c->out, body, len);
}

/* Refuses the request being received with STATUS and closes afterwards. */
static void conn_refuse(conn *c, int status, const char *message)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":\"%s\"}\n",
                     status == 413 ? "too_large" : status == 431 ? "headers_too_large"
                     : status == 414 ? "uri_too_long" : status == 408 ? "timeout"
                     : "bad_request", message);
    c->closing = 1;
    put_answer(c, status, NULL, 0, "application/json", body, (size_t)n, 0, 0, 0);
    if (c->req != NULL && !c->dispatched) {
        req_free(c->req);
        c->req = NULL;
    }
    event_del(&c->rev);
    conn_flush(c);
}

static void dispatch(conn *c);
static void conn_feed(conn *c, const char *data, size_t len);

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    conn *c = arg;
    char buf[READ_CHUNK];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) {
        /* The peer is done sending. A request in the handler's hands is
         * answered into the void; otherwise there is nothing left to do. */
        if (evbuffer_get_length(c->out) > 0 && !c->dispatched) {
            c->closing = 1;
            event_del(&c->rev);
            conn_flush(c);
        } else {
            conn_close(c);
        }
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_close(c);
        return;
    }
    if (c->dispatched) {
        /* Pipelined bytes wait their turn; past a limit, stop reading. */
        evbuffer_add(c->pending, buf, (size_t)n);
        if (evbuffer_get_length(c->pending) > MAX_PENDING_BYTES)
            event_del(&c->rev);
        return;
    }
    conn_feed(c, buf, (size_t)n);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_flush(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn *c = arg;
    if (c->dispatched)
        return;
    if (c->req != NULL)
        conn_refuse(c, 408, "the request was not received in time");
    else
        conn_close(c);
}

/* Feeds bytes that arrived while a request was with its handler. */
static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn *c = arg;
    size_t n = evbuffer_get_length(c->pending);
    if (c->dispatched || c->closing)
        return;
    if (n == 0) {
        event_add(&c->rev, NULL);
        return;
    }
    char *data = malloc(n);
    if (data == NULL) {
        conn_close(c);
        return;
    }
    evbuffer_remove(c->pending, data, n);
    event_add(&c->rev, NULL);
    conn_feed(c, data, n);
    free(data);
}

static void conn_feed(conn *c, const char *data, size_t len)
{
    while (len > 0) {
        size_t used = http_parser_execute(&c->parser, &settings, data, len);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            /* A whole request: hand it over, keep what follows. */
            if (used < len)
                evbuffer_add(c->pending, data + used, len - used);
            dispatch(c);
            return;
        }
        if (e != HPE_OK || c->error_status != 0 || c->parser.upgrade) {
            int status = c->error_status ? c->error_status : 400;
            const char *why = c->error_status == 413 ? "the body is too large"
                              : c->error_status == 431 ? "the headers are too large"
                              : c->error_status == 414 ? "the URL is too long"
                              : c->error_status == 503 ? "out of memory"
                              : "malformed HTTP request";
            conn_refuse(c, status, why);
            return;
        }
        data += used;
        len -= used;
    }
    arm_timer(c);
}

/* ---- http-parser callbacks ---- */

static int on_message_begin(http_parser *p)
{
    conn *c = p->data;
    c->req = c->spare != NULL ? c->spare : calloc(1, sizeof *c->req);
    c->spare = NULL;
    if (c->req == NULL) {
        c->error_status = 503;
        return -1;
    }
    c->req->c = c;
    c->req->part = IN_URL;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    c->req->url_len += n;
    if (c->req->url_len > MAX_URL_BYTES || raw_add(c->req, at, n) != 0) {
        c->error_status = 414;
        return -1;
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    gw_http_req *r = c->req;
    if (r->part != IN_FIELD) {           /* a new header begins */
        if (raw_end(r) != 0 || r->nheaders == MAX_HEADERS) {
            c->error_status = 431;
            return -1;
        }
        r->headers[r->nheaders].name = r->raw.len;
        r->part = IN_FIELD;
    }
    r->header_bytes += n;
    if (r->header_bytes > MAX_HEADER_BYTES || raw_add(r, at, n) != 0) {
        c->error_status = 431;
        return -1;
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    gw_http_req *r = c->req;
    if (r->part != IN_VALUE) {
        if (raw_end(r) != 0) {
            c->error_status = 431;
            return -1;
        }
        r->headers[r->nheaders++].value = r->raw.len;
        r->part = IN_VALUE;
    }
    r->header_bytes += n;
    if (r->header_bytes > MAX_HEADER_BYTES || raw_add(r, at, n) != 0) {
        c->error_status = 431;
        return -1;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    conn *c = p->data;
    gw_http_req *r = c->req;
    if (r->part == IN_FIELD) {           /* a name without a value */
        c->error_status = 400;
        return -1;
    }
    if (raw_end(r) != 0) {
        c->error_status = 431;
        return -1;
    }
    r->part = IN_DONE;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->h->max_body) {
        c->error_status = 413;
        return -1;
    }
    switch (p->method) {
    case HTTP_GET: r->method = GW_HTTP_GET; break;
    case HTTP_HEAD: r->method = GW_HTTP_HEAD; r->head = 1; break;
    case HTTP_POST: r->method = GW_HTTP_POST; break;
    default: r->method = GW_HTTP_OTHER; break;
    }
    const char *expect = gw_http_header(r, "Expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && p->content_length > 0)
        evbuffer_add_printf(c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    conn *c = p->data;
    if (sb_append(&c->req->body, at, n, c->h->max_body) != 0) {
        c->error_status = c->req->body.len + n > c->h->max_body ? 413 : 503;
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn *c = p->data;
    gw_http_req *r = c->req;
    r->keep_alive = http_should_keep_alive(p);
    r->http10 = p->http_major == 1 && p->http_minor == 0;
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (r->url_len == 0 || http_parser_parse_url(r->raw.p, r->url_len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH))) {
        c->error_status = 400;
        return -1;
    }
    /* Path and query are copied behind the headers (their source is the
     * URL at the start of the same buffer, which may move as it grows). */
    char tmp[MAX_URL_BYTES + 1];
    size_t off = u.field_data[UF_PATH].off, n = u.field_data[UF_PATH].len;
    memcpy(tmp, r->raw.p + off, n);
    r->path = r->raw.len;
    if (raw_add(r, tmp, n) != 0 || raw_end(r) != 0) {
        c->error_status = 503;
        return -1;
    }
    r->query = r->raw.len;
    if (u.field_set & (1 << UF_QUERY)) {
        off = u.field_data[UF_QUERY].off;
        n = u.field_data[UF_QUERY].len;
        memcpy(tmp, r->raw.p + off, n);
        if (raw_add(r, tmp, n) != 0) {
            c->error_status = 503;
            return -1;
        }
    }
    if (raw_end(r) != 0 || (r->body.p == NULL && sb_append(&r->body, "", 0, 1) != 0)) {
        c->error_status = 503;
        return -1;
    }
    http_parser_pause(p, 1);
    return 0;
}

/* ---- dispatch and answers ---- */

static void dispatch(conn *c)
{
    gw_http *h = c->h;
    gw_http_req *r = c->req;
    c->dispatched = 1;
    in_flight++;
    event_del(&c->timer);
    if (evbuffer_get_length(c->out) > 0 && conn_flush(c) != 0) {
        in_flight--;                /* a 100 Continue could not go: the peer is gone */
        req_free(r);
        return;
    }
    const char *path = gw_http_path(r);
    size_t plen = strlen(path);
    for (int i = 0; i < h->nroutes; i++) {
        route *rt = &h->routes[i];
        if (rt->prefix ? (plen > rt->len && memcmp(path, rt->path, rt->len) == 0)
                       : (plen == rt->len && memcmp(path, rt->path, plen) == 0)) {
            rt->handler(r, rt->arg);
            return;
        }
    }
    gw_http_error(r, 404, "not_found", "no such endpoint");
}

void gw_http_reply(gw_http_req *r, int status, const char *content_type, const char *body,
                   size_t len)
{
    if (in_flight > 0)
        in_flight--;
    conn *c = r->c;
    if (c == NULL) {                /* the client went away */
        req_free(r);
        return;
    }
    int keep_alive = r->keep_alive && !c->closing;
    put_answer(c, status, r->resp, r->nresp, content_type, body, len, r->head, keep_alive,
               r->http10);
    req_reset(r);
    c->spare = r;
    c->req = NULL;
    c->dispatched = 0;
    if (!keep_alive)
        c->closing = 1;
    if (conn_flush(c) != 0)
        return;
    http_parser_pause(&c->parser, 0);
    /* Bytes that came behind the request are parsed from the loop, not
     * from inside the handler that answered. */
    if (evbuffer_get_length(c->pending) > 0)
        event_active(&c->kick, EV_TIMEOUT, 0);
    else
        event_add(&c->rev, NULL);
    arm_timer(c);
}

void gw_http_reply_json(gw_http_req *r, int status, json_t *value)
{
    char *text = value != NULL ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    if (text == NULL) {
        static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}\n";
        gw_http_reply(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    size_t n = strlen(text);
    text[n] = '\n';   /* the NUL's place: a newline ends the body */
    gw_http_reply(r, status, "application/json; charset=utf-8", text, n + 1);
    free(text);
}

void gw_http_error(gw_http_req *r, int status, const char *code, const char *message)
{
    gw_http_reply_json(r, status, json_pack("{s:s, s:s}", "error", code, "message", message));
}

int gw_http_add_header(gw_http_req *r, const char *name, const char *value)
{
    if (r->nresp == MAX_RESP_HEADERS || strpbrk(name, "\r\n:") != NULL ||
        strpbrk(value, "\r\n") != NULL)
        return -1;
    header *hd = &r->resp[r->nresp];
    hd->name = strdup(name);
    hd->value = strdup(value);
    if (hd->name == NULL || hd->value == NULL) {
        free(hd->name);
        free(hd->value);
        return -1;
    }
    r->nresp++;
    return 0;
}

/* ---- request accessors ---- */

enum gw_http_method gw_http_method(const gw_http_req *r)
{
    return r->method;
}

const char *gw_http_path(const gw_http_req *r)
{
    return r->raw.p + r->path;
}

const char *gw_http_query(const gw_http_req *r)
{
    return r->raw.p + r->query;
}

const char *gw_http_header(const gw_http_req *r, const char *name)
{
    for (int i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->raw.p + r->headers[i].name, name) == 0)
            return r->raw.p + r->headers[i].value;
    return NULL;
}

const char *gw_http_body(const gw_http_req *r, size_t *len)
{
    if (len != NULL)
        *len = r->body.len;
    return r->body.p != NULL ? r->body.p : "";
}

/* ---- listener ---- */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    gw_http *h = arg;
    conn *c = h->nconns < MAX_CONNECTIONS ? calloc(1, sizeof *c) : NULL;
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->h = h;
    c->fd = fd;
    c->out = evbuffer_new();
    c->pending = evbuffer_new();
    if (c->out == NULL || c->pending == NULL) {
        if (c->out)
            evbuffer_free(c->out);
        if (c->pending)
            evbuffer_free(c->pending);
        free(c);
        evutil_closesocket(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    evutil_make_socket_nonblocking(fd);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    event_assign(&c->rev, h->base, fd, EV_READ | EV_PERSIST, on_read, c);
    event_assign(&c->wev, h->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    event_assign(&c->timer, h->base, -1, 0, on_timer, c);
    event_assign(&c->kick, h->base, -1, 0, on_kick, c);
    c->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = c;
    h->conns = c;
    h->nconns++;
    event_add(&c->rev, NULL);
    arm_timer(c);
}

gw_http *gw_http_new(struct event_base *base, const char *name, const char *host, int port,
                     size_t max_body, char *err, size_t errlen)
{
    if (settings.on_message_begin == NULL) {
        settings.on_message_begin = on_message_begin;
        settings.on_url = on_url;
        settings.on_header_field = on_header_field;
        settings.on_header_value = on_header_value;
        settings.on_headers_complete = on_headers_complete;
        settings.on_body = on_body;
        settings.on_message_complete = on_message_complete;
    }
    gw_http *h = calloc(1, sizeof *h);
    if (h == NULL || (h->name = strdup(name)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        free(h);
        return NULL;
    }
    h->base = base;
    h->max_body = max_body;

    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    char addr[96];
    snprintf(addr, sizeof addr, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d",
             strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, port);
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) != 0) {
        snprintf(err, errlen, "%s: cannot listen on %s:%d: not a numeric address", name, host,
                 port);
        gw_http_free(h);
        return NULL;
    }
    h->listener = evconnlistener_new_bind(base, on_accept, h,
                                          LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
                                              LEV_OPT_CLOSE_ON_EXEC,
                                          1024, (struct sockaddr *)&ss, sslen);
    if (h->listener == NULL) {
        snprintf(err, errlen, "%s: cannot listen on %s:%d: %s", name, host, port,
                 strerror(errno));
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
    if (h->listener != NULL)
        evconnlistener_free(h->listener);
    while (h->conns != NULL)
        conn_close(h->conns);
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
    if (h != NULL && h->listener != NULL) {
        evconnlistener_free(h->listener);
        h->listener = NULL;
    }
}
