/* test_prov_http.c - prov_http against a real evhttp server on the same loop.
 *
 * Each test builds a fixture: one event_base, an evhttp server on 127.0.0.1
 * with an ephemeral port, and a prov_http client. The server answers by path:
 *   /ok              200 "hello"
 *   /busy            503 "busy"
 *   /slow            200 "late", SLOW_MS later (longer than the tests' timeouts)
 *   /echo            200 with the request body
 *   /header/NAME     200 with the request header NAME's value ("(none)" if absent)
 *   /n/TEXT          200 "TEXT"
 *   /big/N           200 with N bytes of 'x'
 *   /peer            200 with the client's port (which connection was used)
 *   /retry-after/V   503 with the header "Retry-After: V" (V percent-decoded)
 * and counts the connections it accepted (evhttp_set_bevcb runs once per
 * connection). Slow answers still pending at teardown are answered then, so
 * evhttp frees every request. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "prov_http.h"

#define SLOW_MS 400
#define MAX_SLOW 8
#define BODY_KEEP 256

typedef struct fx fx;

typedef struct slow {
    fx *f;
    struct evhttp_request *req;
    struct event *timer;
} slow;

struct fx {
    struct event_base *base;
    struct evhttp *http;
    int port;
    prov_http *client;
    int conns;                  /* connections the server accepted */
    int slow_seen, slow_done;
    slow *slows[MAX_SLOW];      /* answers not yet sent */
    int64_t cancel_on_slow;     /* request id to cancel when /slow arrives */
    int in_send;                /* inside prov_http_send: callbacks must not run */
    int done;                   /* callbacks run */
};

typedef struct result {
    fx *f;
    int called;
    int ok;
    long status;
    int timed_out;
    char body[BODY_KEEP];       /* the first bytes of the body */
    size_t body_len;
    char error[256];
    int64_t elapsed_ms;
    long retry_after_s;
    int not_sent;
    int sync;                   /* was called from inside prov_http_send */
    void (*then)(struct result *r);   /* a re-entrant action, run in the callback */
    int64_t other;              /* request id the action works on */
} result;

/* ---- the server ---- */

static void reply(struct evhttp_request *req, int status, const char *body, size_t len)
{
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, len);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", out);
    evbuffer_free(out);
}

static void slow_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    slow *s = arg;
    for (int i = 0; i < MAX_SLOW; i++)
        if (s->f->slows[i] == s)
            s->f->slows[i] = NULL;
    s->f->slow_done++;
    reply(s->req, 200, "late", 4);    /* frees REQ even if the client has gone */
    event_free(s->timer);
    free(s);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    fx *f = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    char buf[64];
    if (strcmp(uri, "/ok") == 0) {
        reply(req, 200, "hello", 5);
    } else if (strcmp(uri, "/busy") == 0) {
        reply(req, 503, "busy", 4);
    } else if (strcmp(uri, "/slow") == 0) {
        slow *s = calloc(1, sizeof *s);
        assert_non_null(s);
        s->f = f;
        s->req = req;
        s->timer = evtimer_new(f->base, slow_fire, s);
        struct timeval tv = {0, SLOW_MS * 1000};
        evtimer_add(s->timer, &tv);
        int i = 0;
        while (i < MAX_SLOW && f->slows[i] != NULL)
            i++;
        assert_true(i < MAX_SLOW);
        f->slows[i] = s;
        f->slow_seen++;
        if (f->cancel_on_slow > 0) {
            assert_int_equal(prov_http_cancel(f->client, f->cancel_on_slow), 0);
            f->cancel_on_slow = 0;
        }
    } else if (strcmp(uri, "/echo") == 0) {
        struct evbuffer *body = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(body);
        reply(req, 200, (const char *)evbuffer_pullup(body, -1), len);
    } else if (strncmp(uri, "/header/", 8) == 0) {
        const char *v = evhttp_find_header(in, uri + 8);
        if (v == NULL)
            v = "(none)";
        reply(req, 200, v, strlen(v));
    } else if (strncmp(uri, "/n/", 3) == 0) {
        reply(req, 200, uri + 3, strlen(uri + 3));
    } else if (strncmp(uri, "/big/", 5) == 0) {
        size_t n = strtoul(uri + 5, NULL, 10);
        char *big = malloc(n + 1);
        assert_non_null(big);
        memset(big, 'x', n);
        reply(req, 200, big, n);
        free(big);
    } else if (strncmp(uri, "/retry-after/", 13) == 0) {
        char *value = evhttp_uridecode(uri + 13, 0, NULL);
        assert_non_null(value);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", value);
        free(value);
        reply(req, 503, "slow down", 9);
    } else if (strcmp(uri, "/peer") == 0) {
        char *addr;
        ev_uint16_t port;
        evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
        int n = snprintf(buf, sizeof buf, "%u", (unsigned)port);
        reply(req, 200, buf, (size_t)n);
    } else {
        reply(req, 404, "no", 2);
    }
}

static struct bufferevent *on_connection(struct event_base *base, void *arg)
{
    fx *f = arg;
    f->conns++;
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static fx *fx_new(void)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->http = evhttp_new(f->base);
    assert_non_null(f->http);
    evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(f->http, on_request, f);
    evhttp_set_bevcb(f->http, on_connection, f);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
    assert_non_null(bound);
    struct sockaddr_in sin;
    socklen_t slen = sizeof sin;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin,
                                 &slen), 0);
    f->port = ntohs(sin.sin_port);
    assert_true(f->port > 0);
    f->client = prov_http_new(f->base);
    assert_non_null(f->client);
    return f;
}

static void fx_free(fx *f)
{
    prov_http_free(f->client);
    for (int i = 0; i < MAX_SLOW; i++) {
        slow *s = f->slows[i];
        if (s != NULL) {
            reply(s->req, 200, "late", 4);
            event_free(s->timer);
            free(s);
        }
    }
    evhttp_free(f->http);
    event_base_free(f->base);
    free(f);
}

/* ---- the client side ---- */

static void on_result(const prov_http_response *resp, void *arg)
{
    result *r = arg;
    r->called++;
    r->sync = r->f->in_send;
    r->ok = resp->ok;
    r->status = resp->status;
    r->timed_out = resp->timed_out;
    r->body_len = resp->body_len;
    assert_non_null(resp->body);
    assert_int_equal(resp->body[resp->body_len], '\0');
    size_t n = resp->body_len < BODY_KEEP - 1 ? resp->body_len : BODY_KEEP - 1;
    memcpy(r->body, resp->body, n);
    r->body[n] = '\0';
    assert_non_null(resp->error);
    snprintf(r->error, sizeof r->error, "%s", resp->error);
    r->elapsed_ms = resp->elapsed_ms;
    r->retry_after_s = resp->retry_after_s;
    r->not_sent = resp->not_sent;
    r->f->done++;
    if (r->then != NULL)
        r->then(r);
}

static int64_t send_full(fx *f, const char *method, const char *path, const char *body,
                         size_t body_len, const char *userpwd, const char *const *headers,
                         long timeout_ms, result *r)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f->port, path);
    r->f = f;
    prov_http_request req = {
        .method = method, .url = url, .headers = headers, .body = body,
        .body_len = body_len, .userpwd = userpwd, .timeout_ms = timeout_ms,
    };
    f->in_send = 1;
    int64_t id = prov_http_send(f->client, &req, on_result, r);
    f->in_send = 0;
    return id;
}

static int64_t send_get(fx *f, const char *path, long timeout_ms, result *r)
{
    return send_full(f, "GET", path, NULL, 0, NULL, NULL, timeout_ms, r);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Runs the loop until *COUNTER reaches TARGET or LIMIT_MS pass; returns 1
 * when the target was reached. */
static int run_until(fx *f, const int *counter, int target, int limit_ms)
{
    int expired = 0;
    struct event *guard = evtimer_new(f->base, on_guard, &expired);
    struct timeval tv = {limit_ms / 1000, (limit_ms % 1000) * 1000};
    evtimer_add(guard, &tv);
    while (*counter < target && !expired)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(guard);
    return *counter >= target;
}

/* Runs the loop for MS whatever happens. */
static void run_for(fx *f, int ms)
{
    int never = 0;
    run_until(f, &never, 1, ms);
}

/* ---- tests ---- */

static void test_get_200(void **state)
{
    (void)state;
    fx *f = fx_new();
    result r = {0};
    int64_t id = send_get(f, "/ok", 2000, &r);
    assert_true(id > 0);
    assert_int_equal(r.called, 0);
    assert_int_equal(prov_http_pending(f->client), 1);
    assert_true(run_until(f, &f->done, 1, 3000));
    assert_int_equal(r.called, 1);
    assert_false(r.sync);
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    assert_int_equal(r.body_len, 5);
    assert_string_equal(r.error, "");
    assert_int_equal(r.timed_out, 0);
    assert_int_equal(r.retry_after_s, -1);      /* no Retry-After header */
    assert_int_equal(r.not_sent, 0);
    assert_true(r.elapsed_ms >= 0 && r.elapsed_ms < 2000);
    assert_int_equal(prov_http_pending(f->client), 0);
    assert_int_equal(prov_http_cancel(f->client, id), -1);   /* finished: not pending */
    fx_free(f);
}

static void test_status_503_is_an_answer(void **state)
{
    (void)state;
    fx *f = fx_new();
    result r = {0}, missing = {0};
    assert_true(send_get(f, "/busy", 2000, &r) > 0);
    assert_true(send_get(f, "/nothing-here", 2000, &missing) > 0);
    assert_true(run_until(f, &f->done, 2, 3000));
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "busy");
    assert_string_equal(r.error, "");
    assert_int_equal(missing.ok, 1);
    assert_int_equal(missing.status, 404);
    fx_free(f);
}

static void test_timeout(void **state)
{
    (void)state;
    fx *f = fx_new();
    result r = {0};
    assert_true(send_get(f, "/slow", 150, &r) > 0);
    assert_true(run_until(f, &f->done, 1, 3000));
    assert_false(r.sync);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.timed_out, 1);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.body_len, 0);
    assert_true(strlen(r.error) > 0);
    assert_true(r.elapsed_ms >= 140 && r.elapsed_ms < SLOW_MS);
    assert_int_equal(r.not_sent, 0);             /* the server has the request */
    assert_int_equal(f->slow_seen, 1);
    assert_int_equal(f->slow_done, 0);   /* the client gave up first */
    /* The loop still works for the next request after a timeout. */
    result again = {0};
    assert_true(send_get(f, "/ok", 2000, &again) > 0);
    assert_true(run_until(f, &f->done, 2, 3000));
    assert_int_equal(again.status, 200);
    fx_free(f);
}

static void test_post_body_is_copied(void **state)
{
    (void)state;
    fx *f = fx_new();
    char body[] = "name=\xe5\xbc\xa0\xe4\xb8\x89&x=1\0tail";   /* UTF-8 and a NUL inside */
    size_t len = sizeof body - 1;
    result r = {0}, empty = {0}, ctype = {0};
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    assert_true(send_full(f, "POST", "/echo", body, len, NULL, NULL, 2000, &r) > 0);
    memset(body, '#', len);                      /* the caller's buffer goes away */
    assert_true(send_full(f, "POST", "/echo", NULL, 0, NULL, NULL, 2000, &empty) > 0);
    assert_true(send_full(f, "POST", "/header/Content-Type", "{}", 2, NULL, hdrs, 2000,
                          &ctype) > 0);
    assert_true(run_until(f, &f->done, 3, 3000));
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, len);
    assert_memory_equal(r.body, "name=\xe5\xbc\xa0\xe4\xb8\x89&x=1\0tail", len);
    assert_int_equal(empty.status, 200);
    assert_int_equal(empty.body_len, 0);
    assert_string_equal(ctype.body, "application/json");
    fx_free(f);
}

static void test_large_post_body(void **state)
{
    (void)state;
    fx *f = fx_new();
    size_t len = 200000;
    char *body = malloc(len);
    assert_non_null(body);
    for (size_t i = 0; i < len; i++)
        body[i] = (char)('a' + i % 26);
    result r = {0};
    assert_true(send_full(f, "POST", "/echo", body, len, NULL, NULL, 3000, &r) > 0);
    free(body);
    assert_true(run_until(f, &f->done, 1, 4000));
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, len);
    assert_memory_equal(r.body, "abcdefghij", 10);
    fx_free(f);
}

static void test_basic_auth_and_headers(void **state)
{
    (void)state;
    fx *f = fx_new();
    result auth = {0}, noauth = {0}, hdr = {0};
    static const char *const hdrs[] = {"X-Gw-Test: 42", "Accept: text/plain", NULL};
    assert_true(send_full(f, "GET", "/header/Authorization", NULL, 0, "user:pa ss", NULL, 2000,
                          &auth) > 0);
    assert_true(send_get(f, "/header/Authorization", 2000, &noauth) > 0);
    assert_true(send_full(f, "GET", "/header/X-Gw-Test", NULL, 0, NULL, hdrs, 2000, &hdr) > 0);
    assert_true(run_until(f, &f->done, 3, 3000));
    assert_string_equal(auth.body, "Basic dXNlcjpwYSBzcw==");
    assert_string_equal(noauth.body, "(none)");
    assert_string_equal(hdr.body, "42");
    fx_free(f);
}

/* Each answer sends the next request from inside its callback. */
static void next_peer(result *r)
{
    result *next = r + 1;
    if (r->other > 0) {
        next->then = r->other > 1 ? next_peer : NULL;
        next->other = r->other - 1;
        assert_true(send_get(r->f, "/peer", 2000, next) > 0);
    }
}

static void test_keepalive_reuses_connection(void **state)
{
    (void)state;
    fx *f = fx_new();
    result r[5] = {{0}};
    r[0].then = next_peer;
    r[0].other = 4;
    assert_true(send_get(f, "/peer", 2000, &r[0]) > 0);
    assert_true(run_until(f, &f->done, 5, 5000));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(r[i].called, 1);
        assert_false(r[i].sync);
        assert_int_equal(r[i].status, 200);
        assert_string_equal(r[i].body, r[0].body);   /* same client port */
    }
    assert_int_equal(f->conns, 1);
    fx_free(f);
}

static void test_cancel_before_and_during(void **state)
{
    (void)state;
    fx *f = fx_new();
    result early = {0}, inflight = {0}, ok = {0};
    int64_t a = send_get(f, "/ok", 2000, &early);
    assert_true(a > 0);
    assert_int_equal(prov_http_cancel(f->client, a), 0);
    assert_int_equal(prov_http_cancel(f->client, a), -1);
    assert_int_equal(prov_http_cancel(f->client, 987654), -1);
    assert_int_equal(prov_http_cancel(f->client, -1), -1);
    assert_int_equal(prov_http_pending(f->client), 0);

    f->cancel_on_slow = send_get(f, "/slow", 2000, &inflight);   /* cancelled on arrival */
    assert_true(f->cancel_on_slow > 0);
    assert_true(send_get(f, "/ok", 2000, &ok) > 0);
    assert_true(run_until(f, &f->slow_done, 1, 3000));           /* server answered anyway */
    run_for(f, 50);
    assert_int_equal(early.called, 0);
    assert_int_equal(inflight.called, 0);
    assert_int_equal(ok.called, 1);
    assert_int_equal(ok.status, 200);
    assert_int_equal(prov_http_pending(f->client), 0);
    fx_free(f);
}

/* From a callback: cancel another request, then send a new one. */
static void cancel_other_and_send(result *r)
{
    assert_int_equal(prov_http_cancel(r->f->client, r->other), 0);
    result *fresh = r + 1;
    assert_true(send_get(r->f, "/n/again", 2000, fresh) > 0);
}

static void test_reentrant_cancel_and_send(void **state)
{
    (void)state;
    fx *f = fx_new();
    result r[2] = {{0}}, victim = {0};
    int64_t v = send_get(f, "/slow", 2000, &victim);
    assert_true(v > 0);
    r[0].then = cancel_other_and_send;
    r[0].other = v;
    assert_true(send_get(f, "/ok", 2000, &r[0]) > 0);
    assert_true(run_until(f, &f->done, 2, 3000));
    assert_int_equal(r[0].status, 200);
    assert_int_equal(r[1].called, 1);
    assert_false(r[1].sync);
    assert_string_equal(r[1].body, "again");
    run_for(f, 50);
    assert_int_equal(victim.called, 0);
    assert_int_equal(prov_http_pending(f->client), 0);
    fx_free(f);
}

static void test_100_concurrent(void **state)
{
    (void)state;
    fx *f = fx_new();
    enum { N = 100 };
    result *r = calloc(N, sizeof *r);
    assert_non_null(r);
    for (int i = 0; i < N; i++) {
        char path[32];
        snprintf(path, sizeof path, "/n/%d", i);
        assert_true(send_get(f, path, 5000, &r[i]) > 0);
    }
    assert_int_equal(prov_http_pending(f->client), N);
    assert_true(run_until(f, &f->done, N, 8000));
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        assert_int_equal(r[i].called, 1);
        assert_int_equal(r[i].ok, 1);
        assert_int_equal(r[i].status, 200);
        assert_string_equal(r[i].body, want);
    }
    assert_int_equal(prov_http_pending(f->client), 0);
    assert_true(f->conns >= 1 && f->conns <= N);
    free(r);
    fx_free(f);
}

static void test_connection_refused(void **state)
{
    (void)state;
    fx *f = fx_new();
    /* A port that was free a moment ago and has no listener. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t slen = sizeof sin;
    assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &slen), 0);
    close(s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(sin.sin_port));
    result r = {.f = f};
    prov_http_request req = {.method = "GET", .url = url, .timeout_ms = 2000};
    assert_true(prov_http_send(f->client, &req, on_result, &r) > 0);
    assert_int_equal(r.called, 0);
    assert_true(run_until(f, &f->done, 1, 3000));
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.timed_out, 0);
    assert_true(strlen(r.error) > 0);
    assert_int_equal(r.body_len, 0);
    assert_int_equal(r.not_sent, 1);             /* refused: nothing went out */
    assert_int_equal(r.retry_after_s, -1);
    fx_free(f);
}

static void test_body_cap(void **state)
{
    (void)state;
    fx *f = fx_new();
    result exact = {0}, over = {0};
    assert_true(send_get(f, "/big/1048576", 5000, &exact) > 0);
    assert_true(send_get(f, "/big/1048577", 5000, &over) > 0);
    assert_true(run_until(f, &f->done, 2, 6000));
    assert_int_equal(exact.ok, 1);
    assert_int_equal(exact.body_len, 1048576);
    assert_int_equal(over.ok, 0);
    assert_int_equal(over.status, 0);
    assert_int_equal(over.body_len, 0);
    assert_string_equal(over.error, "response too large");
    fx_free(f);
}

static void test_bad_requests(void **state)
{
    (void)state;
    fx *f = fx_new();
    result r = {.f = f};
    prov_http_request ok = {.method = "GET", .url = "http://127.0.0.1:1/", .timeout_ms = 100};
    prov_http_request bad = ok;
    assert_int_equal(prov_http_send(NULL, &ok, on_result, &r), -1);
    assert_int_equal(prov_http_send(f->client, NULL, on_result, &r), -1);
    assert_int_equal(prov_http_send(f->client, &ok, NULL, &r), -1);
    bad.url = NULL;
    assert_int_equal(prov_http_send(f->client, &bad, on_result, &r), -1);
    bad = ok;
    bad.timeout_ms = 0;
    assert_int_equal(prov_http_send(f->client, &bad, on_result, &r), -1);
    bad.timeout_ms = -5;
    assert_int_equal(prov_http_send(f->client, &bad, on_result, &r), -1);
    bad = ok;
    bad.method = "PUT";
    assert_int_equal(prov_http_send(f->client, &bad, on_result, &r), -1);
    bad.method = NULL;
    assert_int_equal(prov_http_send(f->client, &bad, on_result, &r), -1);
    bad = ok;
    bad.method = "POST";
    bad.body_len = 3;                    /* length without a body */
    assert_int_equal(prov_http_send(f->client, &bad, on_result, &r), -1);
    assert_int_equal(prov_http_pending(f->client), 0);
    assert_null(prov_http_new(NULL));
    assert_int_equal(prov_http_pending(NULL), 0);
    assert_int_equal(prov_http_cancel(NULL, 1), -1);
    prov_http_free(NULL);
    assert_int_equal(f->done, 0);
    fx_free(f);
}

/* Failures curl finds at once still arrive later, from the loop. */
static void test_failures_come_from_the_loop(void **state)
{
    (void)state;
    fx *f = fx_new();
    size_t huge = 9u * 1024 * 1024;      /* beyond curl's limit for a string option */
    char *url = malloc(huge + 1);
    assert_non_null(url);
    memcpy(url, "http://127.0.0.1/", 17);
    memset(url + 17, 'a', huge - 17);
    url[huge] = '\0';
    result too_long = {.f = f}, garbage = {.f = f}, scheme = {.f = f};
    prov_http_request req = {.method = "GET", .url = url, .timeout_ms = 1000};
    f->in_send = 1;
    assert_true(prov_http_send(f->client, &req, on_result, &too_long) > 0);
    req.url = "not a url at all";
    assert_true(prov_http_send(f->client, &req, on_result, &garbage) > 0);
    req.url = "file:///etc/passwd";      /* only http and https are allowed */
    assert_true(prov_http_send(f->client, &req, on_result, &scheme) > 0);
    f->in_send = 0;
    free(url);
    assert_int_equal(f->done, 0);
    assert_true(run_until(f, &f->done, 3, 3000));
    result *all[] = {&too_long, &garbage, &scheme};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(all[i]->called, 1);
        assert_false(all[i]->sync);
        assert_int_equal(all[i]->ok, 0);
        assert_true(strlen(all[i]->error) > 0);
        assert_int_equal(all[i]->not_sent, 1);
    }
    /* A start failure can be cancelled too: no callback then. */
    req.url = url = calloc(huge + 1, 1);
    assert_non_null(url);
    memset(url, 'b', huge);
    result quiet = {.f = f};
    int64_t id = prov_http_send(f->client, &req, on_result, &quiet);
    free(url);
    assert_true(id > 0);
    assert_int_equal(prov_http_cancel(f->client, id), 0);
    run_for(f, 30);
    assert_int_equal(quiet.called, 0);
    fx_free(f);
}

static void test_retry_after(void **state)
{
    (void)state;
    fx *f = fx_new();
    char soon[128], past[128], path_soon[200], path_past[200];
    time_t now = time(NULL);
    struct tm tm;
    time_t at = now + 90;
    strftime(soon, sizeof soon, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&at, &tm));
    at = now - 3600;
    strftime(past, sizeof past, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&at, &tm));
    char *e = evhttp_uriencode(soon, -1, 0);
    snprintf(path_soon, sizeof path_soon, "/retry-after/%s", e);
    free(e);
    e = evhttp_uriencode(past, -1, 0);
    snprintf(path_past, sizeof path_past, "/retry-after/%s", e);
    free(e);
    const char *paths[] = {"/retry-after/120", "/retry-after/%20%207%20", path_soon, path_past,
                           "/retry-after/soon", "/retry-after/99999999999999", "/retry-after/0",
                           "/ok"};
    enum { N = sizeof paths / sizeof paths[0] };
    result r[N];
    memset(r, 0, sizeof r);
    for (size_t i = 0; i < N; i++)
        assert_true(send_get(f, paths[i], 2000, &r[i]) > 0);
    assert_true(run_until(f, &f->done, N, 3000));
    for (size_t i = 0; i + 1 < N; i++) {
        assert_int_equal(r[i].ok, 1);
        assert_int_equal(r[i].status, 503);
    }
    assert_int_equal(r[0].retry_after_s, 120);
    assert_int_equal(r[1].retry_after_s, 7);         /* blanks around it are ignored */
    assert_true(r[2].retry_after_s >= 88 && r[2].retry_after_s <= 90);   /* an HTTP-date */
    assert_int_equal(r[3].retry_after_s, 0);         /* a date gone by: at once */
    assert_int_equal(r[4].retry_after_s, -1);        /* unreadable */
    assert_int_equal(r[5].retry_after_s, 1000000000);   /* clamped */
    assert_int_equal(r[6].retry_after_s, 0);
    assert_int_equal(r[7].retry_after_s, -1);        /* absent */
    fx_free(f);
}

/* ---- a raw server for an interim (1xx) answer evhttp cannot send ---- */

static const char interim_answer[] =
    "HTTP/1.1 103 Early Hints\r\nRetry-After: 50\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

static void raw_written(struct bufferevent *bev, void *arg)
{
    (void)arg;
    bufferevent_free(bev);                  /* all sent: close */
}

static void raw_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0)
        return;                             /* the request's head is not complete yet */
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_setcb(bev, NULL, raw_written, NULL, NULL);
    bufferevent_write(bev, interim_answer, sizeof interim_answer - 1);
}

static void raw_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                       int socklen, void *arg)
{
    (void)l;
    (void)sa;
    (void)socklen;
    struct bufferevent *bev = bufferevent_socket_new(arg, fd, BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(bev);
    bufferevent_setcb(bev, raw_read, NULL, NULL, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* A Retry-After on an interim answer is not the final answer's. */
static void test_retry_after_interim(void **state)
{
    (void)state;
    fx *f = fx_new();
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct evconnlistener *l =
        evconnlistener_new_bind(f->base, raw_accept, f->base, LEV_OPT_CLOSE_ON_FREE, -1,
                                (struct sockaddr *)&sin, sizeof sin);
    assert_non_null(l);
    socklen_t slen = sizeof sin;
    assert_int_equal(getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin, &slen), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(sin.sin_port));
    result r = {.f = f};
    prov_http_request req = {.method = "GET", .url = url, .timeout_ms = 2000};
    assert_true(prov_http_send(f->client, &req, on_result, &r) > 0);
    assert_true(run_until(f, &f->done, 1, 3000));
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    assert_int_equal(r.retry_after_s, -1);
    evconnlistener_free(l);
    fx_free(f);
}

/* A callback run by prov_http_free may not start new work. */
static void try_send(result *r)
{
    result spare = {0};
    assert_int_equal(send_get(r->f, "/ok", 1000, &spare), -1);
}

static void test_free_cancels_pending(void **state)
{
    (void)state;
    fx *f = fx_new();
    result r[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        r[i].then = try_send;
        assert_true(send_get(f, "/slow", 5000, &r[i]) > 0);
    }
    assert_true(run_until(f, &f->slow_seen, 3, 3000));
    prov_http_free(f->client);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].called, 1);
        assert_int_equal(r[i].ok, 0);
        assert_int_equal(r[i].status, 0);
        assert_string_equal(r[i].error, "cancelled");
        assert_int_equal(r[i].not_sent, 0);      /* they had reached the server */
    }
    f->client = NULL;
    run_for(f, 20);
    fx_free(f);
}

static void free_client(result *r)
{
    prov_http_free(r->f->client);
    r->f->client = NULL;
}

static void test_free_from_callback(void **state)
{
    (void)state;
    fx *f = fx_new();
    result first = {0}, rest[3] = {{0}};
    first.then = free_client;
    assert_true(send_get(f, "/ok", 2000, &first) > 0);
    for (int i = 0; i < 3; i++)
        assert_true(send_get(f, "/slow", 2000, &rest[i]) > 0);
    assert_true(run_until(f, &f->done, 4, 3000));
    assert_null(f->client);
    assert_int_equal(first.status, 200);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rest[i].called, 1);
        assert_string_equal(rest[i].error, "cancelled");
    }
    run_for(f, 20);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_200),
        cmocka_unit_test(test_status_503_is_an_answer),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_post_body_is_copied),
        cmocka_unit_test(test_large_post_body),
        cmocka_unit_test(test_basic_auth_and_headers),
        cmocka_unit_test(test_keepalive_reuses_connection),
        cmocka_unit_test(test_cancel_before_and_during),
        cmocka_unit_test(test_reentrant_cancel_and_send),
        cmocka_unit_test(test_100_concurrent),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_retry_after_interim),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_failures_come_from_the_loop),
        cmocka_unit_test(test_free_cancels_pending),
        cmocka_unit_test(test_free_from_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
