/* test_prov_registry.c - the registry of accounts (order of preference,
 * pauses, the circuit breaker) and prov_send through it.
 *
 * The prov_send tests run a fake carrier: an evhttp server on 127.0.0.1
 * (ephemeral port) on the test's own loop, which decodes what it receives so
 * the tests see the fields as the carrier would:
 *   POST /version1/messaging            201 Africa's Talking "Sent"
 *   POST /throttle/version1/messaging   429 with Retry-After: 2
 *   POST /slow/version1/messaging       held until the test ends
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
