/* fuzz_http.c - libFuzzer target for the HTTP server (gateway/gw_http.c:
 * http-parser on the daemon's libevent loop).
 *
 * Once per process: an event_base and a gw_http listener on 127.0.0.1 (a
 * free port) with four routes: "/ussd/africastalking" answers 200 at once
 * with what it read of the request, "/v1/" (prefix) answers JSON with an
 * extra header, "/later/" (prefix) answers 200 from the loop afterwards (a
 * handler that keeps the request while more bytes, or the close, arrive),
 * and every other path gets the server's own 404.
 * Per input: a loopback connection writes the input as a raw request
 * stream (in two writes, cut where a hash of the input says), half-closes,
 * and runs the loop until the server has closed the connection and every
 * request was answered, at most 5 s (beyond is reported as a hang). Checks
 * that no input crashes the server, leaks, trips a sanitizer or leaves it
 * hanging, and that whatever it sends starts as an HTTP/1.1 status line. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "fuzz_check.h"
#include "gw_http.h"
#include "gw_log.h"

#define MAX_BODY 1024
#define DEADLINE_MS 5000

static struct event_base *base;
static gw_http *server;
static int port;
static struct event *tick;      /* bounds each blocking turn of the loop */

/* ---- the routes ---- */

static void answer_now(gw_http_req *req, void *arg)
{
    (void)arg;
    size_t len = 0;
    const char *body = gw_http_body(req, &len);
    FUZZ_CHECK(body != NULL && body[len] == '\0');
    const char *ctype = gw_http_header(req, "Content-Type");
    char text[128];
    int n = snprintf(text, sizeof text, "CON method %d, %zu bytes, type %s, query %zu\n",
                     (int)gw_http_method(req), len, ctype != NULL ? "given" : "none",
                     strlen(gw_http_query(req)));
    gw_http_reply(req, 200, "text/plain; charset=utf-8", text, (size_t)n);
}

static void answer_json(gw_http_req *req, void *arg)
{
    (void)arg;
    const char *host = gw_http_header(req, "Host");
    gw_http_add_header(req, "X-Host", host != NULL ? host : "");
    gw_http_add_header(req, "X-Bad", "a\r\nb");       /* refused: no header injection */
    gw_http_reply_json(req, 200, json_pack("{s:s?, s:s?}", "path", gw_http_path(req),
                                           "query", gw_http_query(req)));
}

static void answer_deferred(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_http_reply(arg, 200, "text/plain", "later\n", 6);
}

static void answer_later(gw_http_req *req, void *arg)
{
    (void)arg;
    struct timeval tv = {0, 1000};
    FUZZ_CHECK(event_base_once(base, -1, EV_TIMEOUT, answer_deferred, req, &tv) == 0);
}

/* ---- once per process ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof sin;
    FUZZ_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0);
    FUZZ_CHECK(getsockname(fd, (struct sockaddr *)&sin, &slen) == 0);
    close(fd);
    return ntohs(sin.sin_port);
}

static void start_server(void)
{
    char err[256];
    signal(SIGPIPE, SIG_IGN);
    gw_log_set_level(GW_LOG_ERROR);
    base = event_base_new();
    FUZZ_CHECK(base != NULL);
    for (int tries = 0; server == NULL && tries < 10; tries++) {
        port = free_port();
        server = gw_http_new(base, "fuzz", "127.0.0.1", port, MAX_BODY, err, sizeof err);
    }
    FUZZ_CHECK(server != NULL);
    tick = evtimer_new(base, on_tick, NULL);
    FUZZ_CHECK(tick != NULL);
    FUZZ_CHECK(gw_http_route(server, "/ussd/africastalking", answer_now, NULL) == 0);
    FUZZ_CHECK(gw_http_route(server, "/v1/", answer_json, NULL) == 0);
    FUZZ_CHECK(gw_http_route(server, "/later/", answer_later, NULL) == 0);
}

/* ---- one connection ---- */

typedef struct client {
    int fd;
    const uint8_t *data;
    size_t size, sent, cut;
    int got_eof;
    size_t received;
    char head[9];            /* the first bytes received: "HTTP/1.1 " */
} client;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends what is left of the input up to LIMIT; half-closes at the end. */
static void client_send(client *cl, size_t limit)
{
    while (cl->sent < limit) {
        ssize_t n = send(cl->fd, cl->data + cl->sent, limit - cl->sent, MSG_NOSIGNAL);
        if (n <= 0) {
            FUZZ_CHECK(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                                 errno == ECONNRESET || errno == EPIPE));
            if (errno == ECONNRESET || errno == EPIPE)
                cl->sent = cl->size;    /* the server closed: nothing more to say */
            return;
        }
        cl->sent += (size_t)n;
    }
    if (cl->sent == cl->size)
        shutdown(cl->fd, SHUT_WR);
}

static void client_read(client *cl)
{
    char buf[16384];
    for (;;) {
        ssize_t n = recv(cl->fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            cl->got_eof = 1;
            return;
        }
        if (n < 0)
            return;
        size_t head = cl->received < sizeof cl->head ? sizeof cl->head - cl->received : 0;
        if (head > (size_t)n)
            head = (size_t)n;
        if (head > 0)
            memcpy(cl->head + cl->received, buf, head);
        cl->received += (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (server == NULL)
        start_server();

    client cl = {.data = data, .size = size};
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ data[i]) * 16777619u;
    cl.cut = size > 0 ? hash % (size + 1) : 0;

    /* The client half-closes first, so its side of each connection waits
     * in TIME_WAIT; Linux reuses those ports for loopback connects
     * (tcp_tw_reuse = 2, the default), elsewhere a connect may have to
     * wait for ports to come free. */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int tries = 0;; tries++) {
        cl.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        FUZZ_CHECK(cl.fd >= 0);
        if (connect(cl.fd, (struct sockaddr *)&sin, sizeof sin) == 0 || errno == EINPROGRESS)
            break;
        FUZZ_CHECK(errno == EADDRNOTAVAIL && tries < 600);
        close(cl.fd);
        usleep(100 * 1000);
    }

    int64_t deadline = now_ms() + DEADLINE_MS;
    int turns = 0;
    while (!cl.got_eof || gw_http_in_flight() > 0) {
        /* The first part, a few turns of the loop for the server to read
         * it, then the rest. */
        client_send(&cl, turns < 3 ? cl.cut : cl.size);
        event_base_loop(base, EVLOOP_NONBLOCK);
        client_read(&cl);
        if (turns++ > 3) {
            struct timeval tv = {0, 2000};
            evtimer_add(tick, &tv);
            event_base_loop(base, EVLOOP_ONCE);
            evtimer_del(tick);
        }
        if (now_ms() > deadline) {
            fprintf(stderr, "fuzz_http: no close after %d ms (%zu of %zu bytes sent, %zu "
                    "received, %zu in flight)\n", DEADLINE_MS, cl.sent, cl.size, cl.received,
                    gw_http_in_flight());
            abort();
        }
    }
    if (cl.received >= sizeof cl.head)
        FUZZ_CHECK(memcmp(cl.head, "HTTP/1.1 ", 9) == 0);
    close(cl.fd);
    return 0;
}
