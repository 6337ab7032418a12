/* prov_http.c - asynchronous HTTP client on libcurl's multi interface and a
 * libevent loop; see prov_http.h.
 *
 * Owns one CURLM, one libevent timer for curl's timeouts, one zero-delay
 * event for failures found while starting a request, one `event` per socket
 * curl watches (a sock_watch, attached to the socket with curl_multi_assign)
 * and one xfer per pending request (easy handle, header list, body buffer).
 * Easy handles are freed when their request ends; connections stay in the
 * multi's cache (CURLMOPT_MAXCONNECTS) and are reused. Each answer's
 * Retry-After header is read as it arrives (CURLOPT_HEADERFUNCTION).
 *
 * Invariants: an xfer is on the pending list exactly while its callback is
 * still owed; it is taken off the list (and out of the multi) before its
 * callback runs, so a callback may send, cancel or free anything. User
 * callbacks run only from loop events (never inside prov_http_send or a curl
 * callback). A prov_http_free from inside a callback cancels the rest at once
 * and postpones the final teardown until the outermost callback returns.
 * Runs on the loop given to prov_http_new; not thread safe. */
#include "prov_http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#define BODY_MAX (1024 * 1024)   /* bytes of response body kept; more is an error */
#define MAX_CONNECTS 512L        /* idle connections kept for reuse: more than the
                                    dispatcher keeps in flight, so none is closed */
#define RETRY_AFTER_MAX 1000000000L  /* seconds; larger delta-seconds are clamped */
#define SPARE_MAX 512            /* finished easy handles kept for reuse */

typedef struct xfer xfer;
typedef struct sock_watch sock_watch;

struct xfer {
    prov_http *h;
    int64_t id;
    CURL *easy;
    struct curl_slist *headers;
    int in_multi;               /* added to the multi (else a start failure) */
    CURLcode start_error;       /* why it never started, when !in_multi */
    char *body;                 /* response, NUL-terminated when non-NULL */
    size_t body_len, body_cap;
    int too_large;
    long retry_after_s;         /* of the latest response seen, -1 = none */
    char errbuf[CURL_ERROR_SIZE];
    prov_http_cb *cb;
    void *arg;
    int64_t started_ms;
    xfer *prev, *next;
};

struct sock_watch {
    prov_http *h;
    curl_socket_t fd;
    struct event *ev;
    int what;                   /* CURL_POLL_* the event was made for */
    sock_watch *prev, *next;
};

struct prov_http {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;        /* curl's timeout */
    struct event *deferred;     /* delivers start failures from the loop */
    xfer *pending;              /* doubly linked, newest first */
    size_t npending;
    sock_watch *watches;
    int64_t next_id;
    int depth;                  /* user callbacks running (nested) */
    int closing;                /* prov_http_free was called */
    CURL *spare[SPARE_MAX];     /* reset easy handles: curl_easy_init and its
                                   buffers cost more than a reset at thousands
                                   of requests a second */
    size_t nspare;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- pending list ---- */

static void xfer_link(prov_http *h, xfer *x)
{
    x->prev = NULL;
    x->next = h->pending;
    if (h->pending != NULL)
        h->pending->prev = x;
    h->pending = x;
    h->npending++;
}

/* Takes X off the list and out of the multi: no callback of curl's or ours
 * will see it again. */
static void xfer_detach(prov_http *h, xfer *x)
{
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        h->pending = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    h->npending--;
    if (x->in_multi) {
        curl_multi_remove_handle(h->multi, x->easy);
        x->in_multi = 0;
    }
}

static void xfer_free(xfer *x)
{
    prov_http *h = x->h;
    if (x->easy != NULL && !h->closing && !x->in_multi && h->nspare < SPARE_MAX) {
        curl_easy_reset(x->easy);
        h->spare[h->nspare++] = x->easy;
    } else if (x->easy != NULL) {
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    free(x->body);
    free(x);
}

static void destroy(prov_http *h)
{
    curl_multi_cleanup(h->multi);   /* may still report sockets removed */
    while (h->watches != NULL) {
        sock_watch *w = h->watches;
        h->watches = w->next;
        event_free(w->ev);
        free(w);
    }
    event_free(h->timer);
    event_free(h->deferred);
    while (h->nspare > 0)
        curl_easy_cleanup(h->spare[--h->nspare]);
    free(h);
}

/* Calls X's callback (X already detached) and frees X. */
static void deliver(prov_http *h, xfer *x, const prov_http_response *resp)
{
    h->depth++;
    x->cb(resp, x->arg);
    h->depth--;
    xfer_free(x);
}

/* 1 when not one byte of X's request went out: it never started, or curl
 * wrote nothing (CURLINFO_REQUEST_SIZE counts the bytes written). */
static int request_not_sent(const xfer *x, int started)
{
    long written = 0;
    if (!started)
        return 1;
    if (curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &written) != CURLE_OK)
        return 0;
    return written == 0;
}

static void deliver_error(prov_http *h, xfer *x, const char *error, int timed_out, int started)
{
    prov_http_response resp = {
        .ok = 0, .status = 0, .body = "", .body_len = 0, .timed_out = timed_out,
        .error = error, .elapsed_ms = mono_ms() - x->started_ms,
        .retry_after_s = -1, .not_sent = request_not_sent(x, started),
    };
    deliver(h, x, &resp);
}

/* Called on the way out of every loop event that may have run callbacks:
 * returns 1 when H was freed and must not be touched. */
static int teardown_if_closed(prov_http *h)
{
    if (h->closing && h->depth == 0) {
        destroy(h);
        return 1;
    }
    return 0;
}

/* ---- finished transfers ---- */

static void finish(prov_http *h, xfer *x, CURLcode rc)
{
    xfer_detach(h, x);
    if (rc != CURLE_OK || x->too_large) {
        const char *why = x->too_large ? "response too large"
                          : x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(rc);
        deliver_error(h, x, why, rc == CURLE_OPERATION_TIMEDOUT, 1);
        return;
    }
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    prov_http_response resp = {
        .ok = 1, .status = status, .body = x->body != NULL ? x->body : "",
        .body_len = x->body_len, .timed_out = 0, .error = "",
        .elapsed_ms = mono_ms() - x->started_ms, .retry_after_s = x->retry_after_s,
        .not_sent = 0,
    };
    deliver(h, x, &resp);
}

static void check_done(prov_http *h)
{
    CURLMsg *msg;
    int left;
    while (!h->closing && (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv != NULL)
            finish(h, (xfer *)priv, msg->data.result);
    }
}

/* ---- loop events ---- */

static void on_socket_event(evutil_socket_t fd, short events, void *arg)
{
    prov_http *h = ((sock_watch *)arg)->h;   /* the watch may go during the call */
    int action = ((events & EV_READ) ? CURL_CSELECT_IN : 0) |
                 ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(h->multi, fd, action, &running);
    check_done(h);
    teardown_if_closed(h);
}

static void on_timer(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    prov_http *h = arg;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
    teardown_if_closed(h);
}

static void on_deferred(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    prov_http *h = arg;
    /* Rescan from the head after every callback: it may have changed the list. */
    for (;;) {
        xfer *x = h->pending;
        while (x != NULL && x->in_multi)
            x = x->next;
        if (x == NULL || h->closing)
            break;
        CURLcode rc = x->start_error;
        xfer_detach(h, x);
        deliver_error(h, x, curl_easy_strerror(rc), 0, 0);
    }
    teardown_if_closed(h);
}

/* ---- curl's callbacks (never call user code from here) ---- */

static void watch_unlink(prov_http *h, sock_watch *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        h->watches = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    prov_http *h = userp;
    sock_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w != NULL) {
            watch_unlink(h, w);
            event_free(w->ev);
            free(w);
        }
        return 0;
    }
    if (w == NULL) {
        w = calloc(1, sizeof *w);
        if (w == NULL)
            return -1;
        w->h = h;
        w->fd = fd;
        w->next = h->watches;
        if (h->watches != NULL)
            h->watches->prev = w;
        h->watches = w;
        curl_multi_assign(h->multi, fd, w);
    } else if (w->what == what) {
        return 0;
    } else {
        event_free(w->ev);
        w->ev = NULL;
    }
    short flags = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                  ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    w->what = what;
    w->ev = event_new(h->base, fd, flags, on_socket_event, w);
    if (w->ev == NULL || event_add(w->ev, NULL) != 0) {
        curl_multi_assign(h->multi, fd, NULL);
        watch_unlink(h, w);
        if (w->ev != NULL)
            event_free(w->ev);
        free(w);
        return -1;
    }
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    prov_http *h = userp;
    if (timeout_ms < 0)
        return evtimer_del(h->timer);
    /* A zero timeout runs on the next loop turn, not inside curl. */
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return evtimer_add(h->timer, &tv);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;
    if (n > BODY_MAX - x->body_len) {
        x->too_large = 1;
        return 0;                   /* curl stops with CURLE_WRITE_ERROR */
    }
    if (x->body_len + n + 1 > x->body_cap) {
        size_t cap = x->body_cap != 0 ? x->body_cap : 4096;
        while (cap < x->body_len + n + 1)
            cap *= 2;
        if (cap > BODY_MAX + 1)
            cap = BODY_MAX + 1;
        char *p = realloc(x->body, cap);
        if (p == NULL)
            return 0;
        x->body = p;
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, data, n);
    x->body_len += n;
    x->body[x->body_len] = '\0';
    return n;
}

/* Reads VALUE (LEN bytes, blanks trimmed) of a Retry-After header: digits are
 * delta-seconds, anything else an HTTP-date compared with the wall clock (the
 * server's date is real time, so the real clock, not a shifted one). Returns
 * seconds >= 0, or -1 when unreadable. */
static long parse_retry_after(const char *value, size_t len)
{
    while (len > 0 && isspace((unsigned char)*value)) {
        value++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)value[len - 1]))
        len--;
    if (len == 0)
        return -1;
    size_t digits = 0;
    while (digits < len && isdigit((unsigned char)value[digits]))
        digits++;
    if (digits == len) {
        long secs = 0;
        for (size_t i = 0; i < len; i++) {
            secs = secs * 10 + (value[i] - '0');
            if (secs > RETRY_AFTER_MAX)
                return RETRY_AFTER_MAX;
        }
        return secs;
    }
    char date[128];
    if (len >= sizeof date)
        return -1;
    memcpy(date, value, len);
    date[len] = '\0';
    time_t when = curl_getdate(date, NULL);
    if (when == (time_t)-1)
        return -1;
    time_t now = time(NULL);
    if (when <= now)
        return 0;
    return when - now > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (long)(when - now);
}

/* One header line of an answer (curl calls this for every response,
 * interim ones included; a status line starts a new response). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;
    static const char name[] = "Retry-After:";
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0)
        x->retry_after_s = -1;
    else if (n >= sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0)
        x->retry_after_s = parse_retry_after(data + sizeof name - 1, n - (sizeof name - 1));
    return n;
}

/* ---- public ---- */

prov_http *prov_http_new(struct event_base *base)
{
    static int curl_ready;
    if (base == NULL)
        return NULL;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        curl_ready = 1;
    }
    prov_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->base = base;
    h->next_id = 1;
    h->multi = curl_multi_init();
    h->timer = evtimer_new(base, on_timer, h);
    h->deferred = evtimer_new(base, on_deferred, h);
    if (h->multi == NULL || h->timer == NULL || h->deferred == NULL) {
        if (h->multi != NULL)
            curl_multi_cleanup(h->multi);
        if (h->timer != NULL)
            event_free(h->timer);
        if (h->deferred != NULL)
            event_free(h->deferred);
        free(h);
        return NULL;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, MAX_CONNECTS);
    return h;
}

void prov_http_free(prov_http *h)
{
    if (h == NULL || h->closing)
        return;
    h->closing = 1;
    while (h->pending != NULL) {
        xfer *x = h->pending;
        int started = x->in_multi;
        xfer_detach(h, x);
        deliver_error(h, x, "cancelled", 0, started);
    }
    if (h->depth == 0)
        destroy(h);
    /* else the loop event that is running the callbacks finishes the job */
}

/* Sets up X->easy for REQ. Returns CURLE_OK or the first failure. */
static CURLcode setup_easy(xfer *x, const prov_http_request *req)
{
    CURL *e = x->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PRIVATE, x);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, req->timeout_ms);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    if (strcmp(req->method, "POST") == 0) {
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SET(CURLOPT_COPYPOSTFIELDS, req->body != NULL ? req->body : "");
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
    if (req->userpwd != NULL) {
        SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SET(CURLOPT_USERPWD, req->userpwd);
    }
    int has_expect = 0;
    for (const char *const *hd = req->headers; hd != NULL && *hd != NULL; hd++) {
        struct curl_slist *l = curl_slist_append(x->headers, *hd);
        if (l == NULL)
            return CURLE_OUT_OF_MEMORY;
        x->headers = l;
        has_expect |= strncasecmp(*hd, "Expect:", 7) == 0;
    }
    if (!has_expect) {          /* no 100-continue round trip for larger bodies */
        struct curl_slist *l = curl_slist_append(x->headers, "Expect:");
        if (l == NULL)
            return CURLE_OUT_OF_MEMORY;
        x->headers = l;
    }
    SET(CURLOPT_HTTPHEADER, x->headers);
#undef SET
    return rc;
}

int64_t prov_http_send(prov_http *h, const prov_http_request *req, prov_http_cb *cb, void *arg)
{
    if (h == NULL || h->closing || req == NULL || cb == NULL || req->url == NULL ||
        req->method == NULL || req->timeout_ms <= 0 ||
        (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0) ||
        (req->body == NULL && req->body_len > 0))
        return -1;
    xfer *x = calloc(1, sizeof *x);
    if (x == NULL)
        return -1;
    x->h = h;
    x->cb = cb;
    x->arg = arg;
    x->retry_after_s = -1;
    x->started_ms = mono_ms();
    x->easy = h->nspare > 0 ? h->spare[--h->nspare] : curl_easy_init();
    if (x->easy == NULL) {
        free(x);
        return -1;
    }
    CURLcode rc = setup_easy(x, req);
    if (rc == CURLE_OUT_OF_MEMORY) {
        xfer_free(x);
        return -1;
    }
    x->id = h->next_id++;
    xfer_link(h, x);
    if (rc == CURLE_OK && curl_multi_add_handle(h->multi, x->easy) == CURLM_OK) {
        x->in_multi = 1;
    } else {
        /* e.g. an option curl refuses: report it from the loop, as promised */
        x->start_error = rc != CURLE_OK ? rc : CURLE_FAILED_INIT;
        struct timeval zero = {0, 0};
        evtimer_add(h->deferred, &zero);
    }
    return x->id;
}

int prov_http_cancel(prov_http *h, int64_t id)
{
    if (h == NULL)
        return -1;
    for (xfer *x = h->pending; x != NULL; x = x->next) {
        if (x->id == id) {
            xfer_detach(h, x);
            xfer_free(x);
            return 0;
        }
    }
    return -1;
}

size_t prov_http_pending(const prov_http *h)
{
    return h != NULL ? h->npending : 0;
}

struct event_base *prov_http_base(const prov_http *h)
{
    return h != NULL ? h->base : NULL;
}
