/* test_prov_registry.c - the registry of accounts (order of preference,
 * pauses, the circuit breaker) and prov_send and prov_send_batch through
 * it.
 *
 * The prov_send tests run a fake carrier: an evhttp server on 127.0.0.1
 * (ephemeral port) on the test's own loop, which decodes what it receives so
 * the tests see the fields as the carrier would:
 *   POST /version1/messaging            201 Africa's Talking "Sent"
 *   POST /throttle/version1/messaging   429 with Retry-After: 2
 *   POST /slow/version1/messaging       held until the test ends
 *   POST /batch/version1/messaging      201 listing each number of "to" in
 *                                       reverse order: 101 Sent, but 403 for
 *                                       a number ending in 8 and none for
 *                                       one ending in 9
 *   POST /fail/version1/messaging       500
 *   POST /2010-04-01/Accounts/AC1/Messages.json   201 Twilio {"sid": "SM1"}
 *   GET  /cgi-bin/sendsms?...           202 "0: Accepted for delivery"
 * Breaker and pause tests pass their own times; prov_send notes outcomes at
 * gw_clock_now_ms(), so the tests that send use that clock. Run from the
 * repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gw_clock.h"
#include "gw_config.h"
#include "gw_log.h"
#include "prov.h"
#include "prov_fixtures.h"

/* ---- the registry: order ---- */

static void test_registry_order_from_config(void **state)
{
    (void)state;
    char path[] = "/tmp/test_prov_cfg_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] =
        "[admin]\ntoken = 0123456789abcdef\n[ussd]\nservice_code = *120*12345#\nhotline = 12333\n"
        "[sms]\ndefault_provider = cucc\n"
        "[provider at]\ntype = africastalking\nusername = u\napi_key = k\npriority = 200\n"
        "[provider cmcc]\ntype = kannel\nbase_url = http://127.0.0.1:13013\nusername = g\n"
        "password = p\npriority = 100\n"
        "[provider cucc]\ntype = kannel\nbase_url = http://127.0.0.1:13014\nusername = g\n"
        "password = p\npriority = 100\n"
        "[provider tw]\ntype = twilio\naccount_sid = AC1\nauth_token = t\nsender = +861\n"
        "priority = 50\n"
        "[provider late]\ntype = console\npriority = 100\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    char err[512] = "";
    gw_config *cfg = gw_config_load(path, err, sizeof err);
    unlink(path);
    if (cfg == NULL)
        fail_msg("config rejected: %s", err);
    struct event_base *base = event_base_new();
    prov_http *http = prov_http_new(base);
    prov_registry *r = prov_registry_new(cfg, http, err, sizeof err);
    if (r == NULL)
        fail_msg("registry: %s", err);
    /* default first, then priority, equal priorities in file order */
    const char *want[] = {"cucc", "tw", "cmcc", "late", "at"};
    assert_int_equal(prov_registry_count(r), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(prov_registry_conf(r, i)->name, want[i]);
    assert_null(prov_registry_conf(r, 5));
    int64_t wait = -7;
    assert_int_equal(prov_registry_pick(r, 1000, &wait), 0);
    prov_registry_free(r);

    /* without a default: priority, then file order */
    free(cfg->sms_default_provider);
    cfg->sms_default_provider = NULL;
    r = prov_registry_new(cfg, http, err, sizeof err);
    assert_non_null(r);
    const char *want2[] = {"tw", "cmcc", "cucc", "late", "at"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(prov_registry_conf(r, i)->name, want2[i]);
    prov_registry_free(r);
    gw_config_free(cfg);
    prov_http_free(http);
    event_base_free(base);
}

static void test_registry_errors_and_fallback(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    prov_http *http = prov_http_new(base);
    char err[256] = "";
    gw_provider_conf k = conf_kannel();
    k.base_url = NULL;
    gw_config cfg = {.providers = &k};
    assert_null(prov_registry_new(&cfg, http, err, sizeof err));
    assert_non_null(strstr(err, "[provider cmcc]"));
    assert_non_null(strstr(err, "base_url"));

    gw_provider_conf tw = conf_twilio();
    tw.sender = NULL;
    cfg.providers = &tw;
    assert_null(prov_registry_new(&cfg, http, err, sizeof err));
    assert_non_null(strstr(err, "sender"));

    gw_provider_conf odd = conf_at();
    odd.type = "smpp";
    cfg.providers = &odd;
    assert_null(prov_registry_new(&cfg, http, err, sizeof err));
    assert_non_null(strstr(err, "unknown type"));

    assert_null(prov_registry_new(&cfg, NULL, err, sizeof err));

    /* no [provider]: one console account on stdout */
    cfg.providers = NULL;
    prov_registry *r = prov_registry_new(&cfg, http, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(prov_registry_count(r), 1);
    assert_string_equal(prov_registry_conf(r, 0)->type, "console");
    assert_null(prov_registry_conf(r, 0)->path);
    prov_registry_free(r);
    prov_http_free(http);
    event_base_free(base);
}

/* ---- the registry: breaker and pauses ---- */

typedef struct reg_fx {
    struct event_base *base;
    prov_http *http;
    gw_provider_conf a, b;
    gw_config cfg;
    prov_registry *r;
} reg_fx;

/* Two console accounts: "first" (priority 1) and "second" (priority 2). */
static reg_fx *reg_fx_new(const char *path_a, const char *path_b)
{
    reg_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = event_base_new();
    f->http = prov_http_new(f->base);
    f->a = (gw_provider_conf){.name = "first", .type = "console", .priority = 1,
                              .timeout_ms = 2000, .path = (char *)path_a};
    f->b = (gw_provider_conf){.name = "second", .type = "console", .priority = 2,
                              .timeout_ms = 2000, .path = (char *)path_b};
    f->b.next = NULL;
    f->a.next = &f->b;
    f->cfg.providers = &f->a;
    char err[256];
    f->r = prov_registry_new(&f->cfg, f->http, err, sizeof err);
    assert_non_null(f->r);
    assert_string_equal(prov_registry_conf(f->r, 0)->name, "first");
    return f;
}

static void reg_fx_free(reg_fx *f)
{
    prov_registry_free(f->r);
    prov_http_free(f->http);
    event_base_free(f->base);
    free(f);
}

static void test_breaker_opens_after_five(void **state)
{
    (void)state;
    reg_fx *f = reg_fx_new(NULL, NULL);
    prov_registry *r = f->r;
    int64_t t = 1000000;
    for (int i = 0; i < 4; i++)
        prov_registry_note(r, 0, i % 2 ? PROV_UNKNOWN : PROV_RETRY, t);
    assert_false(prov_registry_broken(r, 0, t));
    assert_int_equal(prov_registry_pick(r, t, NULL), 0);
    prov_registry_note(r, 0, PROV_THROTTLED, t);     /* neither failure nor success */
    assert_false(prov_registry_broken(r, 0, t));
    prov_registry_note(r, 0, PROV_RETRY, t);          /* the fifth in a row */
    assert_true(prov_registry_broken(r, 0, t));
    assert_true(prov_registry_broken(r, 0, t + 29999));
    assert_false(prov_registry_broken(r, 1, t));
    assert_int_equal(prov_registry_pick(r, t, NULL), 1);   /* fails over */

    /* both open: nothing to pick, and how long to wait */
    for (int i = 0; i < 5; i++)
        prov_registry_note(r, 1, PROV_UNKNOWN, t + 10000);
    int64_t wait = 0;
    assert_int_equal(prov_registry_pick(r, t + 10000, &wait), -1);
    assert_int_equal(wait, 20000);                    /* first opens again at t + 30 s */
    assert_int_equal(prov_registry_pick(r, t + 30000, &wait), 0);

    /* a success or a permanent answer resets the count */
    reg_fx_free(f);
    f = reg_fx_new(NULL, NULL);
    r = f->r;
    for (int i = 0; i < 4; i++)
        prov_registry_note(r, 0, PROV_RETRY, t);
    prov_registry_note(r, 0, PROV_ACCEPTED, t);
    for (int i = 0; i < 4; i++)
        prov_registry_note(r, 0, PROV_RETRY, t);
    prov_registry_note(r, 0, PROV_PERMANENT, t);
    for (int i = 0; i < 4; i++)
        prov_registry_note(r, 0, PROV_UNKNOWN, t);
    assert_false(prov_registry_broken(r, 0, t));
    prov_registry_note(r, 0, PROV_UNKNOWN, t);
    assert_true(prov_registry_broken(r, 0, t));
    reg_fx_free(f);
}

static void test_breaker_half_open_backoff(void **state)
{
    (void)state;
    reg_fx *f = reg_fx_new(NULL, NULL);
    prov_registry *r = f->r;
    int64_t t = 5000000;
    for (int i = 0; i < 5; i++)
        prov_registry_note(r, 0, PROV_RETRY, t);
    /* each failed probe doubles the open period: 30 s, 60, 120, 240, then 300 at most */
    int64_t periods[] = {30000, 60000, 120000, 240000, 300000, 300000};
    for (size_t k = 0; k < 6; k++) {
        assert_true(prov_registry_broken(r, 0, t + periods[k] - 1));
        t += periods[k];
        assert_false(prov_registry_broken(r, 0, t));   /* half-open, no probe out */
        assert_int_equal(prov_registry_pick(r, t, NULL), 0);
        prov_registry_note(r, 0, PROV_RETRY, t);        /* the probe fails */
    }
    /* an answer from before, arriving while open, changes nothing */
    prov_registry_note(r, 0, PROV_UNKNOWN, t + 1000);
    assert_true(prov_registry_broken(r, 0, t + 299999));
    assert_false(prov_registry_broken(r, 0, t + 300000));
    /* the probe succeeds: closed, and the count starts again */
    prov_registry_note(r, 0, PROV_ACCEPTED, t + 300000);
    assert_false(prov_registry_broken(r, 0, t + 300000));
    for (int i = 0; i < 4; i++)
        prov_registry_note(r, 0, PROV_RETRY, t + 300001);
    assert_false(prov_registry_broken(r, 0, t + 300001));
    prov_registry_note(r, 0, PROV_RETRY, t + 300001);
    assert_true(prov_registry_broken(r, 0, t + 300001));
    assert_false(prov_registry_broken(r, 0, t + 330001));   /* back to 30 s */
    reg_fx_free(f);
}

static void test_pause(void **state)
{
    (void)state;
    reg_fx *f = reg_fx_new(NULL, NULL);
    prov_registry *r = f->r;
    int64_t t = 2000000, wait = 0;
    prov_registry_pause(r, 0, t + 5000);
    assert_int_equal(prov_registry_pick(r, t, NULL), 1);
    prov_registry_pause(r, 0, t + 1000);               /* earlier: ignored */
    assert_int_equal(prov_registry_pick(r, t + 4999, NULL), 1);
    assert_int_equal(prov_registry_pick(r, t + 5000, NULL), 0);
    assert_false(prov_registry_broken(r, 0, t));       /* a pause is not a broken circuit */
    prov_registry_pause(r, 1, t + 3000);
    assert_int_equal(prov_registry_pick(r, t, &wait), -1);
    assert_int_equal(wait, 3000);
    prov_registry_pause(r, 0, t + 8000);               /* later: extends */
    assert_int_equal(prov_registry_pick(r, t + 5000, &wait), 1);
    prov_registry_pause(r, 1, t + 9000);
    assert_int_equal(prov_registry_pick(r, t + 7000, &wait), -1);
    assert_int_equal(wait, 1000);
    /* a pause and an open circuit: the later of the two */
    for (int i = 0; i < 5; i++)
        prov_registry_note(r, 1, PROV_RETRY, t);        /* open until t + 30 s */
    assert_int_equal(prov_registry_pick(r, t + 8000, &wait), 0);
    prov_registry_pause(r, 0, t + 40000);
    assert_int_equal(prov_registry_pick(r, t + 9000, &wait), -1);
    assert_int_equal(wait, 21000);
    /* out-of-range accounts are ignored */
    prov_registry_pause(r, 7, t);
    prov_registry_note(r, 7, PROV_RETRY, t);
    assert_false(prov_registry_broken(r, 7, t));
    reg_fx_free(f);
}

/* ---- prov_send ---- */

typedef struct sent {
    int called;
    int sync;                 /* called from inside prov_send */
    size_t account;
    prov_result res;
} sent;

typedef struct send_fx {
    struct event_base *base;
    struct evhttp *server;
    int port;
    prov_http *http;
    prov_registry *r;
    int in_send;
    int done;
    int requests;             /* answered or not */
    struct evhttp_request *held;   /* the slow request, answered at teardown */
    /* what the fake carrier decoded, per path kind */
    char at_body_to[32], at_body_message[64], at_body_from[32], at_apikey[32];
    int batch_requests;       /* to /batch */
    char batch_to[256];       /* the last one's "to", decoded */
    char tw_auth[64], tw_to[32], tw_body[64];
    char kannel_to[32], kannel_text[64], kannel_coding[8], kannel_charset[16];
    int free_in_callback;     /* the callback frees the registry */
} send_fx;

static void copy_param(struct evkeyvalq *q, const char *key, char *out, size_t outlen)
{
    const char *v = evhttp_find_header(q, key);
    snprintf(out, outlen, "%s", v != NULL ? v : "(none)");
}

static void reply(struct evhttp_request *req, int status, const char *body,
                  const char *retry_after)
{
    if (retry_after != NULL)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", retry_after);
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(req, status, "Answer", out);
    evbuffer_free(out);
}

/* Africa's Talking's answer to a batch sent to TO ("+86...,+86..."): the
 * numbers in reverse order, as the carrier need not keep ours. */
static void reply_batch(struct evhttp_request *req, const char *to)
{
    char numbers[16][32];
    size_t n = 0;
    for (const char *p = to; *p != '\0' && n < 16;) {
        size_t len = strcspn(p, ",");
        snprintf(numbers[n++], sizeof numbers[0], "%.*s", (int)len, p);
        p += len + (p[len] == ',' ? 1 : 0);
    }
    char body[4096];
    size_t used = (size_t)snprintf(body, sizeof body,
                                   "{\"SMSMessageData\":{\"Message\":\"Sent\",\"Recipients\":[");
    const char *sep = "";
    for (size_t k = n; k-- > 0;) {
        const char *num = numbers[k];
        size_t len = strlen(num);
        char last = len > 0 ? num[len - 1] : '\0';
        if (last == '9')
            continue;
        if (last == '8')
            used += (size_t)snprintf(body + used, sizeof body - used,
                                     "%s{\"statusCode\":403,\"number\":\"%s\",\"status\":"
                                     "\"InvalidPhoneNumber\",\"cost\":\"0\",\"messageId\":"
                                     "\"None\"}", sep, num);
        else
            used += (size_t)snprintf(body + used, sizeof body - used,
                                     "%s{\"statusCode\":101,\"number\":\"%s\",\"status\":"
                                     "\"Success\",\"cost\":\"KES 0.8000\",\"messageId\":"
                                     "\"ATXid_%s\"}", sep, num, len >= 4 ? num + len - 4 : num);
        sep = ",";
        assert_true(used < sizeof body);
    }
    snprintf(body + used, sizeof body - used, "]}}");
    reply(req, 201, body, NULL);
}

static void on_carrier(struct evhttp_request *req, void *arg)
{
    send_fx *f = arg;
    f->requests++;
    const char *uri = evhttp_request_get_uri(req);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evbuffer *buf = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(buf);
    char body[1024];
    if (len >= sizeof body)
        len = sizeof body - 1;
    evbuffer_copyout(buf, body, len);
    body[len] = '\0';
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (strcmp(uri, "/version1/messaging") == 0) {
        assert_int_equal(evhttp_parse_query_str(body, &q), 0);
        copy_param(&q, "to", f->at_body_to, sizeof f->at_body_to);
        copy_param(&q, "message", f->at_body_message, sizeof f->at_body_message);
        copy_param(&q, "from", f->at_body_from, sizeof f->at_body_from);
        copy_param(in, "apiKey", f->at_apikey, sizeof f->at_apikey);
        reply(req, 201, "{\"SMSMessageData\":{\"Message\":\"Sent to 1/1 Total Cost: KES 0.8000\","
                        "\"Recipients\":[{\"statusCode\":101,\"number\":\"+8613800000001\","
                        "\"status\":\"Success\",\"cost\":\"KES 0.8000\",\"messageId\":"
                        "\"ATXid_1\"}]}}", NULL);
    } else if (strcmp(uri, "/batch/version1/messaging") == 0) {
        f->batch_requests++;
        assert_int_equal(evhttp_parse_query_str(body, &q), 0);
        copy_param(&q, "to", f->batch_to, sizeof f->batch_to);
        copy_param(&q, "message", f->at_body_message, sizeof f->at_body_message);
        copy_param(&q, "from", f->at_body_from, sizeof f->at_body_from);
        copy_param(in, "apiKey", f->at_apikey, sizeof f->at_apikey);
        reply_batch(req, f->batch_to);
    } else if (strcmp(uri, "/fail/version1/messaging") == 0) {
        reply(req, 500, "Internal Server Error", NULL);
    } else if (strcmp(uri, "/throttle/version1/messaging") == 0) {
        reply(req, 429, "Too Many Requests", "2");
    } else if (strcmp(uri, "/slow/version1/messaging") == 0) {
        assert_null(f->held);
        f->held = req;                           /* answered at teardown */
    } else if (strcmp(uri, "/2010-04-01/Accounts/AC1/Messages.json") == 0) {
        assert_int_equal(evhttp_parse_query_str(body, &q), 0);
        copy_param(&q, "To", f->tw_to, sizeof f->tw_to);
        copy_param(&q, "Body", f->tw_body, sizeof f->tw_body);
        copy_param(in, "Authorization", f->tw_auth, sizeof f->tw_auth);
        reply(req, 201, "{\"sid\":\"SM1\",\"status\":\"queued\"}", NULL);
    } else if (strncmp(uri, "/cgi-bin/sendsms?", 17) == 0) {
        assert_int_equal(evhttp_parse_query_str(uri + 17, &q), 0);
        copy_param(&q, "to", f->kannel_to, sizeof f->kannel_to);
        copy_param(&q, "text", f->kannel_text, sizeof f->kannel_text);
        copy_param(&q, "coding", f->kannel_coding, sizeof f->kannel_coding);
        copy_param(&q, "charset", f->kannel_charset, sizeof f->kannel_charset);
        reply(req, 202, "0: Accepted for delivery", NULL);
    } else {
        reply(req, 404, "no", NULL);
    }
    evhttp_clear_headers(&q);
}

/* A port that was free a moment ago and has no listener. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t slen = sizeof sin;
    assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &slen), 0);
    close(s);
    return ntohs(sin.sin_port);
}

/* A send's record and the fixture it belongs to (the callback's ARG). */
typedef struct sent_slot {
    sent s;
    send_fx *f;
} sent_slot;

static void on_sent(prov_registry *r, size_t account, const prov_result *res, void *arg)
{
    sent_slot *slot = arg;
    sent *s = &slot->s;
    send_fx *f = slot->f;
    s->called++;
    s->sync = f->in_send;
    s->account = account;
    s->res = *res;
    f->done++;
    assert_true(r == f->r);
    if (f->free_in_callback) {
        prov_registry_free(f->r);
        f->r = NULL;
    }
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

static int run_until(send_fx *f, const int *counter, int target, int limit_ms)
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

static send_fx *send_fx_new(void)
{
    send_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = event_base_new();
    f->server = evhttp_new(f->base);
    evhttp_set_allowed_methods(f->server, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(f->server, on_carrier, f);
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(f->server, "127.0.0.1", 0);
    assert_non_null(bound);
    struct sockaddr_in sin;
    socklen_t slen = sizeof sin;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin,
                                 &slen), 0);
    f->port = ntohs(sin.sin_port);
    f->http = prov_http_new(f->base);
    assert_non_null(f->http);
    return f;
}

static void send_fx_free(send_fx *f)
{
    prov_registry_free(f->r);
    prov_http_free(f->http);
    if (f->held != NULL)
        reply(f->held, 200, "late", NULL);
    evhttp_free(f->server);
    event_base_free(f->base);
    free(f);
}

static int send_one(send_fx *f, size_t account, const prov_msg *msg, sent_slot *slot,
                    prov_result *res)
{
    slot->f = f;
    f->in_send = 1;
    int rc = prov_send(f->r, account, msg, on_sent, slot, res);
    f->in_send = 0;
    return rc;
}

static void test_send_through_fake_carriers(void **state)
{
    (void)state;
    send_fx *f = send_fx_new();
    char base[64], throttle[80], slow[80], refused[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", f->port);
    snprintf(throttle, sizeof throttle, "%s/throttle", base);
    snprintf(slow, sizeof slow, "%s/slow/", base);
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d", closed_port());
    gw_provider_conf at = conf_at(), tw = conf_twilio(), kan = conf_kannel();
    gw_provider_conf at_throttled = conf_at(), at_slow = conf_at(), kan_down = conf_kannel();
    at.base_url = base;
    tw.base_url = base;
    tw.account_sid = "AC1";
    tw.name = "tw";
    kan.base_url = base;
    at_throttled.base_url = throttle;
    at_throttled.name = "at_throttled";
    at_slow.base_url = slow;
    at_slow.name = "at_slow";
    at_slow.timeout_ms = 300;
    kan_down.base_url = refused;
    kan_down.name = "kannel_down";
    at.next = &tw;
    tw.next = &kan;
    kan.next = &at_throttled;
    at_throttled.next = &at_slow;
    at_slow.next = &kan_down;
    gw_config cfg = {.providers = &at};
    char err[256];
    f->r = prov_registry_new(&cfg, f->http, err, sizeof err);
    assert_non_null(f->r);
    assert_int_equal(prov_registry_count(f->r), 6);   /* all priority 100: file order */

    sent_slot s[6];
    memset(s, 0, sizeof s);
    prov_msg kannel_msg = msg_ucs2;
    const prov_msg *msgs[6] = {&msg_gsm, &msg_gsm, &kannel_msg, &msg_gsm, &msg_gsm, &msg_gsm};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(send_one(f, i, msgs[i], &s[i], NULL), 0);
    assert_int_equal(prov_registry_pending(f->r), 6);
    assert_int_equal(f->done, 0);                     /* never from inside prov_send */
    assert_true(run_until(f, &f->done, 6, 5000));
    assert_int_equal(prov_registry_pending(f->r), 0);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(s[i].s.called, 1);
        assert_false(s[i].s.sync);
        assert_int_equal(s[i].s.account, i);
    }
    /* Africa's Talking: accepted with its id; the carrier saw the fields decoded */
    assert_int_equal(s[0].s.res.outcome, PROV_ACCEPTED);
    assert_string_equal(s[0].s.res.carrier_id, "ATXid_1");
    assert_int_equal(s[0].s.res.http_status, 201);
    assert_string_equal(f->at_body_to, "+8613800000001");
    assert_string_equal(f->at_body_message, "Hello world & more=1+1");
    assert_string_equal(f->at_body_from, "COUNTY");
    assert_string_equal(f->at_apikey, "KEY123");
    /* Twilio: Basic auth AC1:tok */
    assert_int_equal(s[1].s.res.outcome, PROV_ACCEPTED);
    assert_string_equal(s[1].s.res.carrier_id, "SM1");
    assert_string_equal(f->tw_auth, "Basic QUMxOnRvaw==");
    assert_string_equal(f->tw_to, "+8613800000001");
    assert_string_equal(f->tw_body, "Hello world & more=1+1");
    /* Kannel: UCS-2 as coding 2, the UTF-8 text intact, our id as carrier id */
    assert_int_equal(s[2].s.res.outcome, PROV_ACCEPTED);
    assert_string_equal(s[2].s.res.carrier_id, "43");
    assert_int_equal(s[2].s.res.http_status, 202);
    assert_string_equal(f->kannel_to, "+8613800000002");
    assert_string_equal(f->kannel_text, "\xe7\xbc\xb4\xe8\xb4\xb9");
    assert_string_equal(f->kannel_coding, "2");
    assert_string_equal(f->kannel_charset, "UTF-8");
    /* throttled: Retry-After 2 s, and the account paused for it */
    assert_int_equal(s[3].s.res.outcome, PROV_THROTTLED);
    assert_int_equal(s[3].s.res.retry_after_ms, 2000);
    int64_t now = gw_clock_now_ms();
    /* no answer in time: unknown; refused: retry */
    assert_int_equal(s[4].s.res.outcome, PROV_UNKNOWN);
    assert_int_equal(s[4].s.res.http_status, 0);
    assert_int_equal(s[5].s.res.outcome, PROV_RETRY);
    assert_non_null(strstr(s[5].s.res.reason, "not sent"));
    assert_int_equal(f->requests, 5);                 /* the refused one never arrived */

    /* the throttled account is skipped until its pause ends */
    for (size_t i = 0; i < 3; i++)
        prov_registry_pause(f->r, i, now + 60000);
    int64_t wait = 0;
    assert_int_equal(prov_registry_pick(f->r, now, &wait), 4);
    prov_registry_pause(f->r, 4, now + 60000);
    prov_registry_pause(f->r, 5, now + 60000);
    assert_int_equal(prov_registry_pick(f->r, now, &wait), -1);
    assert_true(wait > 1000 && wait <= 2000);
    send_fx_free(f);
}

static void test_send_console_probe_and_cancel(void **state)
{
    (void)state;
    char path[] = "/tmp/test_prov_send_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    send_fx *f = send_fx_new();
    gw_provider_conf ok = {.name = "ok", .type = "console", .priority = 1, .timeout_ms = 2000,
                           .path = path};
    gw_provider_conf bad = {.name = "bad", .type = "console", .priority = 2,
                            .timeout_ms = 2000, .path = "/nonexistent-dir-for-test/x.log"};
    ok.next = &bad;
    gw_config cfg = {.providers = &ok};
    char err[256];
    f->r = prov_registry_new(&cfg, f->http, err, sizeof err);
    assert_non_null(f->r);

    /* open "ok"'s circuit 40 s ago: it is half-open now */
    int64_t now = gw_clock_now_ms();
    for (int i = 0; i < 5; i++)
        prov_registry_note(f->r, 0, PROV_RETRY, now - 40000);
    assert_false(prov_registry_broken(f->r, 0, now));
    assert_int_equal(prov_registry_pick(f->r, now, NULL), 0);
    sent_slot s[3];
    memset(s, 0, sizeof s);
    assert_int_equal(send_one(f, 0, &msg_gsm, &s[0], NULL), 0);   /* the probe */
    now = gw_clock_now_ms();
    assert_true(prov_registry_broken(f->r, 0, now));    /* probe out: no second one */
    assert_int_equal(prov_registry_pick(f->r, now, NULL), 1);
    assert_int_equal(f->done, 0);
    assert_true(run_until(f, &f->done, 1, 2000));
    assert_false(s[0].s.sync);
    assert_int_equal(s[0].s.res.outcome, PROV_ACCEPTED);
    assert_string_equal(s[0].s.res.carrier_id, "42");
    now = gw_clock_now_ms();
    assert_false(prov_registry_broken(f->r, 0, now));   /* the probe closed it */
    for (int i = 0; i < 4; i++)
        prov_registry_note(f->r, 0, PROV_RETRY, now);
    assert_false(prov_registry_broken(f->r, 0, now));
    assert_non_null(strstr(read_file(path), " id=42 to=+8613800000001 "));

    /* a failed probe opens it again for twice as long */
    for (int i = 0; i < 5; i++)
        prov_registry_note(f->r, 1, PROV_RETRY, now - 40000);
    assert_int_equal(send_one(f, 1, &msg_gsm, &s[1], NULL), 0);
    assert_true(run_until(f, &f->done, 2, 2000));
    assert_int_equal(s[1].s.res.outcome, PROV_RETRY);
    now = gw_clock_now_ms();
    assert_true(prov_registry_broken(f->r, 1, now + 59000));
    assert_false(prov_registry_broken(f->r, 1, now + 61000));

    /* freeing the registry cancels what is in flight: no callback */
    assert_int_equal(send_one(f, 0, &msg_gsm, &s[2], NULL), 0);
    prov_registry_free(f->r);
    f->r = NULL;
    int never = 0;
    run_until(f, &never, 1, 50);
    assert_int_equal(s[2].s.called, 0);

    /* bad calls: -1 and the reason, no callback */
    f->r = prov_registry_new(&cfg, f->http, err, sizeof err);
    prov_result res;
    memset(&res, 0x5a, sizeof res);                   /* all of RES is set */
    assert_int_equal(send_one(f, 9, &msg_gsm, &s[2], &res), -1);
    assert_int_equal(res.outcome, PROV_RETRY);
    assert_string_equal(res.carrier_id, "");
    assert_int_equal(res.http_status, 0);
    prov_msg nobody = msg_gsm;
    nobody.to = "";
    assert_int_equal(send_one(f, 0, &nobody, &s[2], &res), -1);
    assert_int_equal(res.outcome, PROV_PERMANENT);
    run_until(f, &never, 1, 20);
    assert_int_equal(s[2].s.called, 0);
    unlink(path);
    send_fx_free(f);
}

static void test_send_callback_frees_registry(void **state)
{
    (void)state;
    send_fx *f = send_fx_new();
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/slow", f->port);
    gw_provider_conf slow = conf_at();
    slow.base_url = base;
    slow.timeout_ms = 5000;
    gw_provider_conf console = {.name = "console", .type = "console", .priority = 1,
                                .timeout_ms = 1000, .path = "/dev/null"};
    console.next = &slow;
    gw_config cfg = {.providers = &console};
    char err[256];
    f->r = prov_registry_new(&cfg, f->http, err, sizeof err);
    assert_non_null(f->r);
    sent_slot s[2];
    memset(s, 0, sizeof s);
    assert_int_equal(send_one(f, 1, &msg_gsm, &s[1], NULL), 0);   /* held by the server */
    assert_true(run_until(f, &f->requests, 1, 2000));
    f->free_in_callback = 1;
    assert_int_equal(send_one(f, 0, &msg_gsm, &s[0], NULL), 0);
    assert_true(run_until(f, &f->done, 1, 2000));
    assert_null(f->r);                                /* freed by the first callback */
    assert_int_equal(s[0].s.res.outcome, PROV_ACCEPTED);
    int never = 0;
    run_until(f, &never, 1, 50);
    assert_int_equal(s[1].s.called, 0);               /* the held one was cancelled */
    assert_int_equal(prov_http_pending(f->http), 0);
    send_fx_free(f);
}
/* ---- prov_send_batch ---- */

/* A batch's record (the callback's ARG). */
typedef struct batch_slot {
    int called;
    int sync;                 /* called from inside prov_send_batch */
    size_t account;
    size_t n;
    prov_result res[8];
    send_fx *f;
} batch_slot;

static void on_batch(prov_registry *r, size_t account, const prov_result *res, size_t n,
                     void *arg)
{
    batch_slot *slot = arg;
    send_fx *f = slot->f;
    slot->called++;
    slot->sync = f->in_send;
    slot->account = account;
    slot->n = n;
    assert_true(n <= sizeof slot->res / sizeof slot->res[0]);
    memcpy(slot->res, res, n * sizeof *res);
    f->done++;
    assert_true(r == f->r);
}

static int send_batch(send_fx *f, size_t account, const prov_msg *msgs, size_t n,
                      batch_slot *slot, prov_result *res)
{
    memset(slot, 0, sizeof *slot);
    slot->f = f;
    f->in_send = 1;
    int rc = prov_send_batch(f->r, account, msgs, n, on_batch, slot, res);
    f->in_send = 0;
    return rc;
}

/* Sends MSGS[0..N) through ACCOUNT and waits for the callback. */
static void send_batch_wait(send_fx *f, size_t account, const prov_msg *msgs, size_t n,
                            batch_slot *slot)
{
    int before = f->done;
    assert_int_equal(send_batch(f, account, msgs, n, slot, NULL), 0);
    assert_true(run_until(f, &f->done, before + 1, 3000));
    assert_int_equal(slot->called, 1);
    assert_false(slot->sync);
    assert_int_equal(slot->n, n);
    assert_int_equal(slot->account, account);
}

/* Messages sharing one text to NUMBERS[0..N) (ids "71", "72", ...). */
static void make_batch(prov_msg *msgs, const char *const *numbers, size_t n)
{
    static const char *const ids[] = {"71", "72", "73", "74", "75", "76", "77", "78"};
    assert_true(n <= 8);
    for (size_t k = 0; k < n; k++)
        msgs[k] = (prov_msg){.id = ids[k], .to = numbers[k], .text = "Meeting at 3pm, hall B",
                             .text_len = 22, .segments = 1};
}

static void test_registry_max_recipients(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    prov_http *http = prov_http_new(base);
    gw_provider_conf at = conf_at(), tw = conf_twilio(), kan = conf_kannel();
    gw_provider_conf console = {.name = "console", .type = "console", .priority = 100,
                                .timeout_ms = 1000, .path = "/dev/null"};
    at.next = &tw;
    tw.next = &kan;
    kan.next = &console;
    gw_config cfg = {.providers = &at};
    char err[256];
    prov_registry *r = prov_registry_new(&cfg, http, err, sizeof err);
    assert_non_null(r);
    static const size_t want[] = {100, 1, 1, 1};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(prov_registry_max_recipients(r, i), want[i]);
    assert_int_equal(prov_registry_max_recipients(r, 4), 1);    /* never 0 */
    assert_int_equal(prov_registry_max_recipients(NULL, 0), 1);
    prov_registry_free(r);
    prov_http_free(http);
    event_base_free(base);
}

static void test_send_batch_end_to_end(void **state)
{
    (void)state;
    send_fx *f = send_fx_new();
    char at_base[80], tw_base[64];
    snprintf(at_base, sizeof at_base, "http://127.0.0.1:%d/batch", f->port);
    snprintf(tw_base, sizeof tw_base, "http://127.0.0.1:%d", f->port);
    gw_provider_conf at = conf_at(), tw = conf_twilio();
    gw_provider_conf console = {.name = "console", .type = "console", .priority = 100,
                                .timeout_ms = 1000, .path = "/dev/null"};
    at.base_url = at_base;
    tw.base_url = tw_base;
    tw.account_sid = "AC1";
    at.next = &tw;
    tw.next = &console;
    gw_config cfg = {.providers = &at};
    char err[256];
    f->r = prov_registry_new(&cfg, f->http, err, sizeof err);
    assert_non_null(f->r);

    /* the account's circuit opened 40 s ago: the batch is its probe */
    int64_t now = gw_clock_now_ms();
    for (int i = 0; i < 5; i++)
        prov_registry_note(f->r, 0, PROV_RETRY, now - 40000);
    static const char *const numbers[] = {"+8613800000001", "+8613800000002",
                                          "+8613800000003"};
    prov_msg msgs[3];
    make_batch(msgs, numbers, 3);
    batch_slot b;
    assert_int_equal(send_batch(f, 0, msgs, 3, &b, NULL), 0);
    assert_int_equal(prov_registry_pending(f->r), 1);   /* one request */
    assert_true(prov_registry_broken(f->r, 0, gw_clock_now_ms()));   /* probe out */
    assert_int_equal(f->done, 0);                       /* never from inside */
    assert_true(run_until(f, &f->done, 1, 3000));
    assert_int_equal(prov_registry_pending(f->r), 0);
    assert_false(prov_registry_broken(f->r, 0, gw_clock_now_ms()));  /* it closed it */

    /* the carrier saw one request, its "to" the three numbers */
    assert_int_equal(f->requests, 1);
    assert_int_equal(f->batch_requests, 1);
    assert_string_equal(f->batch_to, "+8613800000001,+8613800000002,+8613800000003");
    assert_string_equal(f->at_body_message, "Meeting at 3pm, hall B");
    assert_string_equal(f->at_body_from, "COUNTY");
    assert_string_equal(f->at_apikey, "KEY123");

    /* one callback with three results, each matched to its number (the
     * carrier lists them in reverse order) */
    assert_int_equal(b.called, 1);
    assert_false(b.sync);
    assert_int_equal(b.account, 0);
    assert_int_equal(b.n, 3);
    static const char *const ids[] = {"ATXid_0001", "ATXid_0002", "ATXid_0003"};
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(b.res[k].outcome, PROV_ACCEPTED);
        assert_string_equal(b.res[k].carrier_id, ids[k]);
        assert_int_equal(b.res[k].http_status, 201);
    }

    /* a batch of one goes as prov_send would: Twilio, the console */
    batch_slot one;
    send_batch_wait(f, 1, &msg_gsm, 1, &one);
    assert_int_equal(one.res[0].outcome, PROV_ACCEPTED);
    assert_string_equal(one.res[0].carrier_id, "SM1");
    assert_string_equal(f->tw_to, "+8613800000001");
    send_batch_wait(f, 2, &msg_ucs2, 1, &one);
    assert_int_equal(one.res[0].outcome, PROV_ACCEPTED);
    assert_string_equal(one.res[0].carrier_id, "43");
    assert_int_equal(f->requests, 2);

    /* bad calls: -1 with one reason, no callback, nothing sent */
    prov_result res;
    memset(&res, 0x5a, sizeof res);
    assert_int_equal(send_batch(f, 1, msgs, 2, &one, &res), -1);  /* Twilio: one a request */
    assert_int_equal(res.outcome, PROV_RETRY);
    assert_non_null(strstr(res.reason, "takes 1 per request"));
    assert_string_equal(res.carrier_id, "");
    assert_int_equal(send_batch(f, 0, msgs, 0, &one, &res), -1);
    assert_int_equal(res.outcome, PROV_RETRY);
    prov_msg odd[3];
    memcpy(odd, msgs, sizeof odd);
    odd[2].text = "Meeting at 4pm, hall B";
    assert_int_equal(send_batch(f, 0, odd, 3, &one, &res), -1);
    assert_non_null(strstr(res.reason, "differ in text"));
    memcpy(odd, msgs, sizeof odd);
    odd[1].ucs2 = 1;
    assert_int_equal(send_batch(f, 0, odd, 3, &one, &res), -1);
    memcpy(odd, msgs, sizeof odd);
    odd[2].to = "8613800000001";                       /* the first number again */
    assert_int_equal(send_batch(f, 0, odd, 3, &one, &res), -1);
    assert_non_null(strstr(res.reason, "twice"));
    memcpy(odd, msgs, sizeof odd);
    odd[1].to = "";
    assert_int_equal(send_batch(f, 0, odd, 3, &one, &res), -1);
    assert_int_equal(res.outcome, PROV_RETRY);         /* the others could go */
    assert_int_equal(send_batch(f, 0, &odd[1], 1, &one, &res), -1);
    assert_int_equal(res.outcome, PROV_PERMANENT);     /* alone it never can */
    assert_int_equal(prov_registry_pending(f->r), 0);
    int never = 0;
    run_until(f, &never, 1, 50);
    assert_int_equal(one.called, 0);
    assert_int_equal(f->requests, 2);
    send_fx_free(f);
}

/* The lines the code under test writes to stderr while CAPTURE is on. */
typedef struct capture {
    char path[64];
    int saved;
} capture;

static void capture_start(capture *c)
{
    snprintf(c->path, sizeof c->path, "/tmp/test_prov_log_XXXXXX");
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    fflush(stderr);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

/* Ends the capture; returns what was written (read_file's buffer). */
static char *capture_end(capture *c)
{
    fflush(stderr);
    assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
    close(c->saved);
    char *text = read_file(c->path);
    unlink(c->path);
    return text;
}

static size_t count_lines(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *line = text; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char buf[1024];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), line);
        if (strstr(buf, needle) != NULL)
            n++;
        line += len + (end != NULL ? 1 : 0);
    }
    return n;
}

static void test_send_batch_breaker_throttle_cancel(void **state)
{
    (void)state;
    send_fx *f = send_fx_new();
    char fail[80], mixed[80], throttle[80], slow[80];
    snprintf(fail, sizeof fail, "http://127.0.0.1:%d/fail", f->port);
    snprintf(mixed, sizeof mixed, "http://127.0.0.1:%d/batch", f->port);
    snprintf(throttle, sizeof throttle, "http://127.0.0.1:%d/throttle", f->port);
    snprintf(slow, sizeof slow, "http://127.0.0.1:%d/slow", f->port);
    gw_provider_conf a_fail = conf_at(), a_mixed = conf_at(), a_throttle = conf_at(),
                     a_slow = conf_at();
    a_fail.name = "at_fail";
    a_fail.base_url = fail;
    a_mixed.name = "at_mixed";
    a_mixed.base_url = mixed;
    a_throttle.name = "at_throttle";
    a_throttle.base_url = throttle;
    a_slow.name = "at_slow";
    a_slow.base_url = slow;
    a_fail.next = &a_mixed;
    a_mixed.next = &a_throttle;
    a_throttle.next = &a_slow;
    gw_config cfg = {.providers = &a_fail};
    char err[256];
    f->r = prov_registry_new(&cfg, f->http, err, sizeof err);
    assert_non_null(f->r);

    static const char *const numbers[] = {"+8613800000001", "+8613800000002",
                                          "+8613800000003"};
    prov_msg msgs[3];
    make_batch(msgs, numbers, 3);
    batch_slot b;

    /* HTTP 500 to a batch of three: each message RETRY, one failure noted,
     * one log line with the numbers masked */
    gw_log_set_level(GW_LOG_INFO);                      /* whatever GW_LOG_LEVEL says */
    capture cap;
    capture_start(&cap);
    send_batch_wait(f, 0, msgs, 3, &b);
    char *log = capture_end(&cap);
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(b.res[k].outcome, PROV_RETRY);
        assert_int_equal(b.res[k].http_status, 500);
    }
    if (count_lines(log, " prov: ") != 1 || count_lines(log, "request of 3 messages") != 1)
        fail_msg("wanted one line for the request, got:\n%s", log);
    assert_non_null(strstr(log, "3 retry"));
    assert_non_null(strstr(log, "+86138****0001"));
    assert_null(strstr(log, "8613800000001"));
    assert_null(strstr(log, "8613800000002"));
    /* four more failed requests open the circuit: five notes, not fifteen */
    for (int i = 0; i < 3; i++) {
        send_batch_wait(f, 0, msgs, 3, &b);
        assert_false(prov_registry_broken(f->r, 0, gw_clock_now_ms()));
    }
    send_batch_wait(f, 0, msgs, 3, &b);
    assert_true(prov_registry_broken(f->r, 0, gw_clock_now_ms()));
    assert_int_equal(f->requests, 5);

    /* per-number answers (the fake carrier: a number ending in 8 is invalid,
     * one ending in 9 left out of its answer) */
    static const char *const lost[] = {"+8613800000008", "+8613800000009"};
    static const char *const some[] = {"+8613800000001", "+8613800000008",
                                       "+8613800000009"};
    static const char *const refused[] = {"+8613800000008", "+8613800000018"};
    prov_msg m_lost[2], m_some[3], m_refused[2];
    make_batch(m_lost, lost, 2);
    make_batch(m_some, some, 3);
    make_batch(m_refused, refused, 2);
    /* permanent and unknown: a failure */
    for (int i = 0; i < 4; i++)
        send_batch_wait(f, 1, m_lost, 2, &b);
    assert_int_equal(b.res[0].outcome, PROV_PERMANENT);
    assert_int_equal(b.res[1].outcome, PROV_UNKNOWN);
    assert_false(prov_registry_broken(f->r, 1, gw_clock_now_ms()));
    /* one accepted among them: the account works, the count starts again */
    send_batch_wait(f, 1, m_some, 3, &b);
    assert_int_equal(b.res[0].outcome, PROV_ACCEPTED);
    assert_string_equal(b.res[0].carrier_id, "ATXid_0001");
    assert_int_equal(b.res[1].outcome, PROV_PERMANENT);
    assert_string_equal(b.res[1].reason, "statusCode 403 InvalidPhoneNumber");
    assert_int_equal(b.res[2].outcome, PROV_UNKNOWN);
    assert_string_equal(b.res[2].reason, "the carrier's answer does not list this number");
    for (int i = 0; i < 4; i++)
        send_batch_wait(f, 1, m_lost, 2, &b);
    assert_false(prov_registry_broken(f->r, 1, gw_clock_now_ms()));
    /* all refused for good: closes too */
    send_batch_wait(f, 1, m_refused, 2, &b);
    assert_int_equal(b.res[0].outcome, PROV_PERMANENT);
    assert_int_equal(b.res[1].outcome, PROV_PERMANENT);
    for (int i = 0; i < 4; i++)
        send_batch_wait(f, 1, m_lost, 2, &b);
    assert_false(prov_registry_broken(f->r, 1, gw_clock_now_ms()));
    send_batch_wait(f, 1, m_lost, 2, &b);
    assert_true(prov_registry_broken(f->r, 1, gw_clock_now_ms()));

    /* 429 with Retry-After: 2 to a batch: all throttled, the account paused */
    send_batch_wait(f, 2, msgs, 3, &b);
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(b.res[k].outcome, PROV_THROTTLED);
        assert_int_equal(b.res[k].retry_after_ms, 2000);
    }
    int64_t now = gw_clock_now_ms();
    assert_false(prov_registry_broken(f->r, 2, now));  /* not a failure */
    prov_registry_pause(f->r, 0, now + 60000);
    prov_registry_pause(f->r, 1, now + 60000);
    prov_registry_pause(f->r, 3, now + 60000);
    int64_t wait = 0;
    assert_int_equal(prov_registry_pick(f->r, now, &wait), -1);
    assert_true(wait > 1000 && wait <= 2000);

    /* freeing the registry cancels a batch in flight: no callback */
    int requests = f->requests;
    assert_int_equal(send_batch(f, 3, msgs, 3, &b, NULL), 0);
    assert_true(run_until(f, &f->requests, requests + 1, 2000));   /* held by the server */
    prov_registry_free(f->r);
    f->r = NULL;
    int never = 0;
    run_until(f, &never, 1, 50);
    assert_int_equal(b.called, 0);
    assert_int_equal(prov_http_pending(f->http), 0);
    send_fx_free(f);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_order_from_config),
        cmocka_unit_test(test_registry_errors_and_fallback),
        cmocka_unit_test(test_breaker_opens_after_five),
        cmocka_unit_test(test_breaker_half_open_backoff),
        cmocka_unit_test(test_pause),
        cmocka_unit_test(test_send_through_fake_carriers),
        cmocka_unit_test(test_send_console_probe_and_cancel),
        cmocka_unit_test(test_send_callback_frees_registry),
        cmocka_unit_test(test_registry_max_recipients),
        cmocka_unit_test(test_send_batch_end_to_end),
        cmocka_unit_test(test_send_batch_breaker_throttle_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
