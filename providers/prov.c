/* prov.c - the table of carriers, the helpers their files share
 * (prov_internal.h) and the registry of accounts: order of preference,
 * pauses, the circuit breaker, prov_send and prov_send_batch; see prov.h.
 *
 * Owns the accounts array (each points at its gw_provider_conf in the
 * caller's gw_config, or at the registry's own stdout console) and one
 * send_op per request in flight (copies of its messages, room for their
 * results; an HTTP request id or, for carriers without HTTP, a zero-delay
 * event that delivers the result).
 *
 * Circuit breaker, per account: `failures` counts RETRY and UNKNOWN outcomes
 * in a row; at BREAKER_FAILURES the circuit opens (`open_until_ms`, for
 * BREAKER_OPEN_MS). Once that time has passed the circuit is half-open: the
 * next send is its probe (`probe`); its success closes the circuit, its
 * failure opens it again for twice as long, up to BREAKER_OPEN_MAX_MS.
 *
 * A send_op is one request: one message, or for a carrier with build_batch
 * (Africa's Talking) up to its max_recipients messages sharing one text.
 * The breaker notes one outcome per request, not per message, and the log
 * has one line per request.
 *
 * Invariants: a send_op is on the `sends` list exactly while its callback is
 * owed; it is taken off before the callback runs (so a callback may send
 * again or free the registry) and freed after it returns (the callback reads
 * the results it holds). Runs on the loop of the prov_http given to
 * prov_registry_new; not thread safe. */
#include "prov.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "gw_clock.h"
#include "gw_log.h"
#include "gw_phone.h"
#include "prov_internal.h"

#define BREAKER_FAILURES 5              /* RETRY/UNKNOWN in a row that open it */
#define BREAKER_OPEN_MS 30000           /* first open period */
#define BREAKER_OPEN_MAX_MS 300000      /* longest open period (doubling) */
#define RETRY_AFTER_DEFAULT_MS 1000     /* THROTTLED without Retry-After */
#define RETRY_AFTER_MAX_S 3600          /* a longer Retry-After is capped */

/* ---- carriers ---- */

/* Adding a carrier: its file in providers/ and one line here. */
static const prov_ops *const prov_ops_table[] = {
    &prov_africastalking_ops,
    &prov_twilio_ops,
    &prov_kannel_ops,
    &prov_console_ops,
};

const prov_ops *prov_ops_find(const char *type)
{
    if (type == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof prov_ops_table / sizeof prov_ops_table[0]; i++)
        if (strcmp(prov_ops_table[i]->type, type) == 0)
            return prov_ops_table[i];
    return NULL;
}

const char *prov_outcome_name(prov_outcome o)
{
    switch (o) {
    case PROV_ACCEPTED:
        return "accepted";
    case PROV_RETRY:
        return "retry";
    case PROV_UNKNOWN:
        return "unknown";
    case PROV_THROTTLED:
        return "throttled";
    case PROV_PERMANENT:
        return "permanent";
    }
    return "?";
}

void prov_req_clear(prov_req *req)
{
    if (req == NULL)
        return;
    free(req->url);
    free(req->body);
    free(req->userpwd);
    for (size_t i = 0; i < sizeof req->headers / sizeof req->headers[0]; i++)
        free(req->headers[i]);
    memset(req, 0, sizeof *req);
}

/* ---- string buffer (prov_internal.h) ---- */

static int buf_reserve(prov_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > (size_t)-1 / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap != 0 ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void prov_buf_add(prov_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void prov_buf_puts(prov_buf *b, const char *s)
{
    prov_buf_add(b, s, strlen(s));
}

void prov_buf_escape(prov_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n > (size_t)-1 / 4 || buf_reserve(b, n * 3) != 0)
        return;
    char *out = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *out++ = (char)c;
        } else {
            *out++ = '%';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        }
    }
    b->len = (size_t)(out - b->data);
    b->data[b->len] = '\0';
}

void prov_buf_param_n(prov_buf *b, const char *name, const char *value, size_t len)
{
    if (b->len > 0 && b->data[b->len - 1] != '?')
        prov_buf_add(b, "&", 1);
    prov_buf_puts(b, name);
    prov_buf_add(b, "=", 1);
    prov_buf_escape(b, value, len);
}

void prov_buf_param(prov_buf *b, const char *name, const char *value)
{
    prov_buf_param_n(b, name, value, strlen(value));
}

void prov_buf_param_template(prov_buf *b, const char *name, const char *tmpl, const char *id)
{
    prov_buf expanded = {0};
    for (const char *p = tmpl; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 'i') {
            prov_buf_escape(&expanded, id, strlen(id));
            p++;
        } else {
            prov_buf_add(&expanded, p, 1);
        }
    }
    if (expanded.failed)
        b->failed = 1;
    else
        prov_buf_param_n(b, name, expanded.data != NULL ? expanded.data : "", expanded.len);
    prov_buf_free(&expanded);
}

char *prov_buf_take(prov_buf *b)
{
    char *s = NULL;
    if (!b->failed)
        s = b->data != NULL ? b->data : strdup("");
    else
        free(b->data);
    memset(b, 0, sizeof *b);
    return s;
}

void prov_buf_free(prov_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- requests (prov_internal.h) ---- */

const char *prov_base_url(const gw_provider_conf *conf, const prov_ops *ops, size_t *len)
{
    const char *base = conf->base_url != NULL ? conf->base_url : ops->default_base_url;
    size_t n = base != NULL ? strlen(base) : 0;
    while (n > 0 && base[n - 1] == '/')
        n--;
    *len = n;
    return base;
}

int prov_req_header(prov_req *req, const char *name, const char *value)
{
    size_t slots = sizeof req->headers / sizeof req->headers[0];
    size_t i = 0;
    while (i < slots && req->headers[i] != NULL)
        i++;
    if (i == slots)
        return -1;
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (line == NULL)
        return -1;
    snprintf(line, n, "%s: %s", name, value);
    req->headers[i] = line;
    return 0;
}

void prov_req_finish(prov_req *req, const char *method, const gw_provider_conf *conf)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof req->headers / sizeof req->headers[0]; i++)
        if (req->headers[i] != NULL)
            req->header_ptrs[n++] = req->headers[i];
    req->header_ptrs[n] = NULL;
    req->http = (prov_http_request){
        .method = method,
        .url = req->url,
        .headers = n > 0 ? req->header_ptrs : NULL,
        .body = req->body,
        .body_len = req->body != NULL ? strlen(req->body) : 0,
        .userpwd = req->userpwd,
        .timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 10000,
    };
}

int prov_build_failed(prov_req *req, prov_result *res, prov_outcome outcome, const char *fmt, ...)
{
    prov_req_clear(req);
    memset(res, 0, sizeof *res);
    va_list ap;
    va_start(ap, fmt);
    prov_result_vset(res, outcome, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- results (prov_internal.h) ---- */

/* Copies IN to OUT (OUTLEN > 0) with digit runs of 7 or more masked and
 * control characters turned into spaces. */
static void mask_reason(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; in[i] != '\0' && o + 1 < outlen;) {
        size_t start = i, j = i;
        if (in[j] == '+')
            j++;
        size_t d = j;
        while (isdigit((unsigned char)in[d]))
            d++;
        if (d - j >= 7 && (start == 0 || !isdigit((unsigned char)in[start - 1]))) {
            for (const char *m = "***"; *m != '\0' && o + 1 < outlen; m++)
                out[o++] = *m;
            i = d;
            continue;
        }
        unsigned char c = (unsigned char)in[i++];
        out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[o] = '\0';
}

void prov_result_vset(prov_result *res, prov_outcome outcome, const char *fmt, va_list ap)
{
    char raw[sizeof res->reason * 2];
    vsnprintf(raw, sizeof raw, fmt, ap);
    mask_reason(raw, res->reason, sizeof res->reason);
    res->outcome = outcome;
}

void prov_result_set(prov_result *res, prov_outcome outcome, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    prov_result_vset(res, outcome, fmt, ap);
    va_end(ap);
}

void prov_body_excerpt(const char *body, size_t len, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    size_t start = 0;
    while (start < len && isspace((unsigned char)body[start]))
        start++;
    size_t end = start;
    while (end < len && body[end] != '\n' && body[end] != '\r' && body[end] != '\0')
        end++;
    if (end - start > outlen - 1) {
        end = start + outlen - 1;
        while (end > start && ((unsigned char)body[end] & 0xC0) == 0x80)
            end--;                      /* do not cut a UTF-8 character */
    }
    while (end > start && isspace((unsigned char)body[end - 1]))
        end--;
    memcpy(out, body + start, end - start);
    out[end - start] = '\0';
}

void prov_result_throttled(prov_result *res, const prov_http_response *resp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    prov_result_vset(res, PROV_THROTTLED, fmt, ap);
    va_end(ap);
    long s = resp != NULL ? resp->retry_after_s : -1;
    if (s > RETRY_AFTER_MAX_S)
        s = RETRY_AFTER_MAX_S;
    res->retry_after_ms = s >= 0 ? s * 1000 : RETRY_AFTER_DEFAULT_MS;
}

void prov_classify_no_answer(const prov_http_response *resp, prov_result *res)
{
    res->http_status = 0;
    if (resp->not_sent)
        prov_result_set(res, PROV_RETRY, "not sent: %s", resp->error);
    else if (resp->timed_out)
        prov_result_set(res, PROV_UNKNOWN, "no answer in time: %s", resp->error);
    else
        prov_result_set(res, PROV_UNKNOWN, "answer lost: %s", resp->error);
}

void prov_classify_status(const prov_http_response *resp, prov_result *res)
{
    long st = resp->status;
    char text[96];
    prov_body_excerpt(resp->body, resp->body_len, text, sizeof text);
    const char *sep = text[0] != '\0' ? ": " : "";
    res->http_status = st;
    if (st == 429 || (st == 503 && resp->retry_after_s >= 0))
        prov_result_throttled(res, resp, "HTTP %ld%s%s", st, sep, text);
    else if (st >= 200 && st < 300)
        prov_result_set(res, PROV_UNKNOWN, "HTTP %ld with an answer we cannot read%s%s", st,
                        sep, text);
    else if (st == 401 || st == 403)
        prov_result_set(res, PROV_RETRY, "HTTP %ld, credentials refused%s%s", st, sep, text);
    else if (st == 404 || st == 405 || st < 200 || (st >= 300 && st < 400))
        prov_result_set(res, PROV_RETRY, "HTTP %ld, check base_url%s%s", st, sep, text);
    else if (st == 408)
        prov_result_set(res, PROV_RETRY, "HTTP %ld%s%s", st, sep, text);
    else if (st >= 400 && st < 500)
        prov_result_set(res, PROV_PERMANENT, "HTTP %ld%s%s", st, sep, text);
    else if (st == 504)
        prov_result_set(res, PROV_UNKNOWN, "HTTP %ld%s%s", st, sep, text);
    else
        prov_result_set(res, PROV_RETRY, "HTTP %ld%s%s", st, sep, text);
}

/* ---- the registry ---- */

typedef struct send_op send_op;

typedef struct account {
    const gw_provider_conf *conf;
    const prov_ops *ops;
    int64_t paused_until_ms;    /* 0: not paused */
    int failures;               /* RETRY/UNKNOWN outcomes in a row */
    int64_t open_until_ms;      /* 0: circuit closed; else open until then, half-open after */
    int64_t open_for_ms;        /* the latest open period */
    send_op *probe;             /* half-open: the send that is the probe, or NULL */
    int64_t probe_deadline_ms;  /* when its answer is due at the latest */
} account;

/* One request in flight: one message (prov_send, or a batch of one) or a
 * batch of N sharing one text (prov_send_batch). */
struct send_op {
    prov_registry *r;
    size_t account;
    int64_t http_id;            /* > 0: an HTTP request of r->http */
    struct event *local;        /* carriers without HTTP: delivers res[0] */
    prov_send_cb *cb;           /* prov_send's callback, or NULL */
    prov_batch_cb *batch_cb;    /* prov_send_batch's callback, or NULL */
    void *arg;
    size_t n;                   /* messages in the request (>= 1) */
    prov_msg *msgs;             /* N copies; their strings live in `strings` */
    prov_result *res;           /* N results, RES[k] for MSGS[k] */
    send_op *prev, *next;
    char strings[];
};

struct prov_registry {
    prov_http *http;
    account *accounts;
    size_t count;
    gw_provider_conf fallback;  /* the stdout console used without [provider] */
    send_op *sends;             /* in flight, newest first */
    size_t nsends;
};

prov_registry *prov_registry_new(const gw_config *cfg, prov_http *http, char *err, size_t errlen)
{
    if (cfg == NULL || http == NULL) {
        snprintf(err, errlen, "no configuration or no HTTP client");
        return NULL;
    }
    prov_registry *r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->http = http;
    size_t n = 0;
    for (const gw_provider_conf *p = cfg->providers; p != NULL; p = p->next)
        n++;
    if (n == 0) {
        r->fallback = (gw_provider_conf){
            .name = "console", .type = "console", .max_tps = 10, .timeout_ms = 10000,
            .priority = 100,
        };
        n = 1;
        gw_info("prov", "no [provider] section: messages are written to stdout (console)");
    }
    r->accounts = calloc(n, sizeof *r->accounts);
    if (r->accounts == NULL) {
        snprintf(err, errlen, "out of memory");
        free(r);
        return NULL;
    }
    const gw_provider_conf *p = cfg->providers != NULL ? cfg->providers : &r->fallback;
    for (; p != NULL && r->count < n; p = p->next) {
        const prov_ops *ops = prov_ops_find(p->type);
        char why[200];
        if (ops == NULL) {
            snprintf(err, errlen, "[provider %s]: unknown type \"%s\"", p->name,
                     p->type != NULL ? p->type : "");
            goto fail;
        }
        if (ops->check_conf != NULL && ops->check_conf(p, why, sizeof why) != 0) {
            snprintf(err, errlen, "[provider %s]: %s", p->name, why);
            goto fail;
        }
        /* Insert in order: default_provider first, then priority, then file
         * order (a later account goes after every equal one). */
        int is_default = cfg->sms_default_provider != NULL &&
                         strcmp(cfg->sms_default_provider, p->name) == 0;
        size_t at = r->count;
        while (at > 0) {
            const gw_provider_conf *q = r->accounts[at - 1].conf;
            int q_default = cfg->sms_default_provider != NULL &&
                            strcmp(cfg->sms_default_provider, q->name) == 0;
            if (q_default || (!is_default && q->priority <= p->priority))
                break;
            r->accounts[at] = r->accounts[at - 1];
            at--;
        }
        r->accounts[at] = (account){.conf = p, .ops = ops};
        r->count++;
    }
    return r;
fail:
    free(r->accounts);
    free(r);
    return NULL;
}

static void send_unlink(prov_registry *r, send_op *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        r->sends = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    r->nsends--;
    account *a = &r->accounts[s->account];
    if (a->probe == s)
        a->probe = NULL;
}

static void send_free(send_op *s)
{
    if (s->local != NULL)
        event_free(s->local);
    free(s->msgs);
    free(s->res);
    free(s);
}

void prov_registry_free(prov_registry *r)
{
    if (r == NULL)
        return;
    while (r->sends != NULL) {
        send_op *s = r->sends;
        send_unlink(r, s);
        if (s->http_id > 0)
            prov_http_cancel(r->http, s->http_id);
        send_free(s);
    }
    free(r->accounts);
    free(r);
}

size_t prov_registry_count(const prov_registry *r)
{
    return r != NULL ? r->count : 0;
}

const gw_provider_conf *prov_registry_conf(const prov_registry *r, size_t i)
{
    return r != NULL && i < r->count ? r->accounts[i].conf : NULL;
}

size_t prov_registry_pending(const prov_registry *r)
{
    return r != NULL ? r->nsends : 0;
}

/* 1 when A's circuit has opened and its open period has run out. */
static int half_open(const account *a, int64_t now_ms)
{
    return a->open_until_ms != 0 && now_ms >= a->open_until_ms;
}

int prov_registry_broken(const prov_registry *r, size_t i, int64_t now_ms)
{
    if (r == NULL || i >= r->count)
        return 0;
    const account *a = &r->accounts[i];
    if (a->open_until_ms == 0)
        return 0;
    return now_ms < a->open_until_ms || a->probe != NULL;
}

int prov_registry_pick(prov_registry *r, int64_t now_ms, int64_t *wait_ms)
{
    int64_t soonest = -1;
    for (size_t i = 0; r != NULL && i < r->count; i++) {
        const account *a = &r->accounts[i];
        int64_t ready = now_ms;       /* when A may send */
        if (a->paused_until_ms > ready)
            ready = a->paused_until_ms;
        if (a->open_until_ms != 0 && a->open_until_ms > ready)
            ready = a->open_until_ms;
        if (ready <= now_ms && half_open(a, now_ms) && a->probe != NULL)
            ready = a->probe_deadline_ms > now_ms ? a->probe_deadline_ms : now_ms + 1;
        if (ready <= now_ms)
            return (int)i;
        if (soonest < 0 || ready - now_ms < soonest)
            soonest = ready - now_ms;
    }
    if (wait_ms != NULL)
        *wait_ms = soonest;
    return -1;
}

void prov_registry_pause(prov_registry *r, size_t i, int64_t until_ms)
{
    if (r == NULL || i >= r->count)
        return;
    account *a = &r->accounts[i];
    if (until_ms > a->paused_until_ms)
        a->paused_until_ms = until_ms;
}

void prov_registry_note(prov_registry *r, size_t i, prov_outcome o, int64_t now_ms)
{
    if (r == NULL || i >= r->count)
        return;
    account *a = &r->accounts[i];
    switch (o) {
    case PROV_ACCEPTED:
    case PROV_PERMANENT:
        if (a->open_until_ms != 0)
            gw_info("prov", "account %s: circuit closed (%s)", a->conf->name,
                    prov_outcome_name(o));
        a->failures = 0;
        a->open_until_ms = 0;
        a->open_for_ms = 0;
        a->probe = NULL;
        break;
    case PROV_RETRY:
    case PROV_UNKNOWN:
        a->failures++;
        if (a->open_until_ms == 0) {
            if (a->failures >= BREAKER_FAILURES) {
                a->open_for_ms = BREAKER_OPEN_MS;
                a->open_until_ms = now_ms + a->open_for_ms;
                gw_warn("prov", "account %s: circuit open for %lld s after %d failures in a row",
                        a->conf->name, (long long)(a->open_for_ms / 1000), a->failures);
            }
        } else if (half_open(a, now_ms)) {
            /* the probe (or an answer that came after the open period) failed */
            a->open_for_ms *= 2;
            if (a->open_for_ms > BREAKER_OPEN_MAX_MS)
                a->open_for_ms = BREAKER_OPEN_MAX_MS;
            a->open_until_ms = now_ms + a->open_for_ms;
            gw_warn("prov", "account %s: probe failed, circuit open for %lld s", a->conf->name,
                    (long long)(a->open_for_ms / 1000));
        }
        /* else still open: an answer to a send from before it opened */
        break;
    case PROV_THROTTLED:
        break;
    }
}

/* ---- numbers (prov_internal.h) ---- */

int prov_same_number(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return 0;
    size_t digits = 0;
    for (;;) {
        while (*a != '\0' && !isdigit((unsigned char)*a))
            a++;
        while (*b != '\0' && !isdigit((unsigned char)*b))
            b++;
        if (*a == '\0' || *b == '\0')
            return *a == *b && digits > 0;
        if (*a != *b)
            return 0;
        a++;
        b++;
        digits++;
    }
}

/* ---- sending ---- */

size_t prov_registry_max_recipients(const prov_registry *r, size_t i)
{
    if (r == NULL || i >= r->count)
        return 1;
    const prov_ops *ops = r->accounts[i].ops;
    if (ops->build_batch == NULL || ops->parse_batch == NULL || ops->max_recipients < 1)
        return 1;
    return (size_t)ops->max_recipients;
}

/* Checks a call to send MSGS[0..N) through account I. Returns 0, or -1
 * with the reason in RES: RETRY for a bad call (which says nothing of the
 * messages), PERMANENT for a lone message without a number or text. */
static int send_check(const prov_registry *r, size_t i, const prov_msg *msgs, size_t n,
                      int has_cb, prov_result *res)
{
    if (r == NULL || i >= r->count || msgs == NULL || n == 0 || !has_cb) {
        prov_result_set(res, PROV_RETRY, "bad call: no registry, account, message or callback");
        return -1;
    }
    size_t max = prov_registry_max_recipients(r, i);
    if (n > max) {
        prov_result_set(res, PROV_RETRY, "bad call: %zu messages, account %s takes %zu per request",
                        n, r->accounts[i].conf->name, max);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        const prov_msg *m = &msgs[k];
        if (m->to == NULL || m->to[0] == '\0' || (m->text == NULL && m->text_len > 0)) {
            /* alone it can never go; in a batch the others could */
            prov_result_set(res, n == 1 ? PROV_PERMANENT : PROV_RETRY,
                            "message without a number or text");
            return -1;
        }
        if (k == 0)
            continue;
        if (m->ucs2 != msgs[0].ucs2 || m->text_len != msgs[0].text_len ||
            (m->text_len > 0 && memcmp(m->text, msgs[0].text, m->text_len) != 0)) {
            prov_result_set(res, PROV_RETRY,
                            "bad call: the messages of one request differ in text");
            return -1;
        }
        /* the answer is matched to messages by number: each must be distinct */
        for (size_t j = 0; j < k; j++) {
            if (prov_same_number(m->to, msgs[j].to)) {
                prov_result_set(res, PROV_RETRY, "bad call: one number twice in one request");
                return -1;
            }
        }
    }
    return 0;
}

/* A new send_op with copies of MSGS[0..N): the text (shared by all) once,
 * each id, number and dlr_url. */
static send_op *send_new(prov_registry *r, size_t i, const prov_msg *msgs, size_t n)
{
    size_t extra = msgs[0].text_len + 1;
    for (size_t k = 0; k < n; k++) {
        extra += (msgs[k].id != NULL ? strlen(msgs[k].id) : 0) + 1 + strlen(msgs[k].to) + 1;
        if (msgs[k].dlr_url != NULL)
            extra += strlen(msgs[k].dlr_url) + 1;
    }
    send_op *s = calloc(1, sizeof *s + extra);
    if (s == NULL)
        return NULL;
    s->msgs = calloc(n, sizeof *s->msgs);
    s->res = calloc(n, sizeof *s->res);
    if (s->msgs == NULL || s->res == NULL) {
        send_free(s);
        return NULL;
    }
    s->r = r;
    s->account = i;
    s->n = n;
    char *p = s->strings;
    const char *text = p;
    if (msgs[0].text_len > 0)
        memcpy(p, msgs[0].text, msgs[0].text_len);
    p[msgs[0].text_len] = '\0';
    p += msgs[0].text_len + 1;
    for (size_t k = 0; k < n; k++) {
        const char *fields[3] = {msgs[k].id != NULL ? msgs[k].id : "", msgs[k].to,
                                 msgs[k].dlr_url};
        const char *copies[3] = {NULL, NULL, NULL};
        for (size_t f = 0; f < 3; f++) {
            if (fields[f] == NULL)
                continue;
            size_t len = strlen(fields[f]);
            memcpy(p, fields[f], len + 1);
            copies[f] = p;
            p += len + 1;
        }
        s->msgs[k] = msgs[k];
        s->msgs[k].id = copies[0];
        s->msgs[k].to = copies[1];
        s->msgs[k].dlr_url = copies[2];
        s->msgs[k].text = text;
    }
    return s;
}

/* The one outcome the breaker notes for a request with results RES[0..N):
 * ACCEPTED if any message was accepted (the account works), else PERMANENT
 * if all were refused for good, else THROTTLED if any was throttled, else
 * UNKNOWN if any may have gone, else RETRY. */
static prov_outcome request_outcome(const prov_result *res, size_t n)
{
    size_t count[PROV_PERMANENT + 1] = {0};
    for (size_t k = 0; k < n; k++)
        if (res[k].outcome <= PROV_PERMANENT)
            count[res[k].outcome]++;
    if (count[PROV_ACCEPTED] > 0)
        return PROV_ACCEPTED;
    if (count[PROV_PERMANENT] == n)
        return PROV_PERMANENT;
    if (count[PROV_THROTTLED] > 0)
        return PROV_THROTTLED;
    return count[PROV_UNKNOWN] > 0 ? PROV_UNKNOWN : PROV_RETRY;
}

/* One line for request S: DEBUG when all was accepted, INFO when the rest
 * was throttled, else WARN. A single message is named with its outcome; a
 * batch gives its counts by outcome and its first message not accepted.
 * Numbers are masked. */
static void log_request(const account *a, const send_op *s)
{
    size_t count[PROV_PERMANENT + 1] = {0};
    size_t first_failed = s->n;
    for (size_t k = 0; k < s->n; k++) {
        if (s->res[k].outcome <= PROV_PERMANENT)
            count[s->res[k].outcome]++;
        if (s->res[k].outcome != PROV_ACCEPTED && first_failed == s->n)
            first_failed = k;
    }
    enum gw_log_level level = count[PROV_ACCEPTED] == s->n ? GW_LOG_DEBUG
                              : count[PROV_ACCEPTED] + count[PROV_THROTTLED] == s->n
                                  ? GW_LOG_INFO
                                  : GW_LOG_WARN;
    size_t k = first_failed < s->n ? first_failed : 0;
    const prov_msg *m = &s->msgs[k];
    const prov_result *res = &s->res[k];
    char to[32];
    gw_phone_mask(m->to, to, sizeof to);
    const char *sep = res->reason[0] != '\0' ? ": " : "";
    if (s->n == 1) {
        gw_log(level, "prov", "account %s: message %s to %s %s (HTTP %ld)%s%s", a->conf->name,
               m->id, to, prov_outcome_name(res->outcome), res->http_status, sep, res->reason);
        return;
    }
    char counts[128] = "";
    size_t used = 0;
    for (int o = PROV_ACCEPTED; o <= PROV_PERMANENT; o++) {
        if (count[o] == 0 || used >= sizeof counts)
            continue;
        int w = snprintf(counts + used, sizeof counts - used, "%s%zu %s", used > 0 ? ", " : "",
                         count[o], prov_outcome_name((prov_outcome)o));
        used += w > 0 ? (size_t)w : 0;
    }
    if (first_failed == s->n)
        gw_log(level, "prov", "account %s: request of %zu messages (HTTP %ld): %s",
               a->conf->name, s->n, res->http_status, counts);
    else
        gw_log(level, "prov",
               "account %s: request of %zu messages (HTTP %ld): %s; first not accepted: "
               "message %s to %s %s%s%s",
               a->conf->name, s->n, res->http_status, counts, m->id, to,
               prov_outcome_name(res->outcome), sep, res->reason);
}

/* Takes S off the list, notes the request's outcome for the breaker,
 * pauses a throttled account (for the longest Retry-After given), logs,
 * calls the callback and then frees S (the callback reads S's results; it
 * may free R, which no longer knows S). */
static void send_done(send_op *s)
{
    prov_registry *r = s->r;
    size_t i = s->account;
    account *a = &r->accounts[i];
    send_unlink(r, s);
    long pause_ms = 0;
    for (size_t k = 0; k < s->n; k++) {
        prov_result *res = &s->res[k];
        if (res->outcome != PROV_THROTTLED)
            continue;
        if (res->retry_after_ms <= 0)
            res->retry_after_ms = RETRY_AFTER_DEFAULT_MS;
        if (res->retry_after_ms > pause_ms)
            pause_ms = res->retry_after_ms;
    }
    int64_t now = gw_clock_now_ms();
    prov_registry_note(r, i, request_outcome(s->res, s->n), now);
    if (pause_ms > 0)
        prov_registry_pause(r, i, now + pause_ms);
    log_request(a, s);
    if (s->cb != NULL)
        s->cb(r, i, &s->res[0], s->arg);
    else
        s->batch_cb(r, i, s->res, s->n, s->arg);
    send_free(s);
}

static void on_http_done(const prov_http_response *resp, void *arg)
{
    send_op *s = arg;
    const account *a = &s->r->accounts[s->account];
    if (s->n == 1)
        a->ops->parse_response(a->conf, &s->msgs[0], resp, &s->res[0]);
    else
        a->ops->parse_batch(a->conf, s->msgs, s->n, resp, s->res);
    for (size_t k = 0; k < s->n; k++)
        if (resp->ok && s->res[k].http_status == 0)
            s->res[k].http_status = resp->status;
    send_done(s);
}

static void on_local_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    send_done(arg);
}

/* prov_send and prov_send_batch: CB for one message, or BATCH_CB. */
static int send_start(prov_registry *r, size_t i, const prov_msg *msgs, size_t n,
                      prov_send_cb *cb, prov_batch_cb *batch_cb, void *arg, prov_result *res)
{
    prov_result scratch;
    if (res == NULL)
        res = &scratch;
    memset(res, 0, sizeof *res);
    if (send_check(r, i, msgs, n, cb != NULL || batch_cb != NULL, res) != 0)
        return -1;
    account *a = &r->accounts[i];
    send_op *s = send_new(r, i, msgs, n);
    if (s == NULL) {
        prov_result_set(res, PROV_RETRY, "out of memory");
        return -1;
    }
    s->cb = cb;
    s->batch_cb = batch_cb;
    s->arg = arg;
    if (a->ops->deliver_local != NULL) {
        /* n == 1: send_check allows no more without build_batch */
        s->local = evtimer_new(prov_http_base(r->http), on_local_done, s);
        struct timeval zero = {0, 0};
        if (s->local == NULL || evtimer_add(s->local, &zero) != 0) {
            send_free(s);
            prov_result_set(res, PROV_RETRY, "cannot schedule the delivery");
            return -1;
        }
        a->ops->deliver_local(a->conf, &s->msgs[0], &s->res[0]);
    } else {
        prov_req req;
        memset(&req, 0, sizeof req);
        int rc = n == 1 ? a->ops->build_request(a->conf, &s->msgs[0], &req, res)
                        : a->ops->build_batch(a->conf, s->msgs, n, &req, res);
        if (rc != 0) {
            send_free(s);
            return -1;
        }
        s->http_id = prov_http_send(r->http, &req.http, on_http_done, s);
        prov_req_clear(&req);
        if (s->http_id < 0) {
            send_free(s);
            prov_result_set(res, PROV_RETRY, "cannot start the HTTP request");
            return -1;
        }
    }
    s->next = r->sends;
    if (r->sends != NULL)
        r->sends->prev = s;
    r->sends = s;
    r->nsends++;
    int64_t now = gw_clock_now_ms();
    if (half_open(a, now) && a->probe == NULL) {
        a->probe = s;
        a->probe_deadline_ms = now + a->conf->timeout_ms + 1000;
        if (n == 1)
            gw_info("prov", "account %s: half-open, message %s is the probe", a->conf->name,
                    s->msgs[0].id);
        else
            gw_info("prov", "account %s: half-open, a request of %zu messages is the probe",
                    a->conf->name, n);
    }
    return 0;
}

int prov_send(prov_registry *r, size_t i, const prov_msg *msg, prov_send_cb *cb, void *arg,
              prov_result *res)
{
    return send_start(r, i, msg, msg != NULL ? 1 : 0, cb, NULL, arg, res);
}

int prov_send_batch(prov_registry *r, size_t i, const prov_msg *msgs, size_t n,
                    prov_batch_cb *cb, void *arg, prov_result *res)
{
    return send_start(r, i, msgs, n, NULL, cb, arg, res);
}
