/* prov_http.h - asynchronous HTTP client: libcurl's multi interface driven
 * by a libevent loop.
 *
 * Every carrier call and every records-backend call goes through here, so
 * nothing blocks the loop: curl's socket callback registers libevent events
 * and its timer callback a libevent timer (curl_multi_socket_action).
 * Connections are reused across requests. Every request has a timeout.
 * Runs on the loop given to prov_http_new; not thread safe. */
#ifndef PROV_HTTP_H
#define PROV_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct prov_http prov_http;

typedef struct prov_http_request {
    const char *method;          /* "GET" or "POST" */
    const char *url;
    const char *const *headers;  /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;            /* POST body, or NULL */
    size_t body_len;
    const char *userpwd;         /* "user:password" for Basic auth, or NULL */
    long timeout_ms;             /* whole request; required, > 0 */
} prov_http_request;

typedef struct prov_http_response {
    int ok;                      /* 1 when an HTTP answer arrived (any status) */
    long status;                 /* HTTP status, 0 when !ok */
    const char *body;            /* NUL-terminated, capped at 1 MiB */
    size_t body_len;
    int timed_out;               /* 1 when the timeout ended it */
    const char *error;           /* curl's reason when !ok, else "" */
    int64_t elapsed_ms;
    long retry_after_s;          /* the answer's Retry-After in seconds (delta-seconds,
                                    or an HTTP-date less the time now, at least 0);
                                    -1 when absent or unreadable */
    int not_sent;                /* !ok and not one byte of the request was written
                                    (name not resolved, connection refused, start
                                    failure): the server cannot have acted on it */
} prov_http_response;

/* Called once per request from the loop. RESP and everything it points to
 * are valid only during the call. */
typedef void prov_http_cb(const prov_http_response *resp, void *arg);

/* Returns a client on BASE, or NULL. */
prov_http *prov_http_new(struct event_base *base);

/* Cancels what is pending (their callbacks are called with ok = 0 and
 * error "cancelled") and frees the client. NULL is fine. */
void prov_http_free(prov_http *h);

/* Starts REQ (copied: the caller's strings may go away after the call).
 * Returns a request id > 0, or -1 (bad request, OOM). CB is always called
 * later from the loop, never from inside prov_http_send. */
int64_t prov_http_send(prov_http *h, const prov_http_request *req,
                       prov_http_cb *cb, void *arg);

/* Cancels request ID: its callback is not called. Returns 0, or -1 when it
 * is not pending. */
int prov_http_cancel(prov_http *h, int64_t id);

/* Number of requests in flight. */
size_t prov_http_pending(const prov_http *h);

/* The loop H runs on (for callers that defer their own work to it). */
struct event_base *prov_http_base(const prov_http *h);

#endif
