/* test_prov.c - the carriers: what build_request makes of a message (URL,
 * body, auth, headers, coding), how parse_response classifies answers shaped
 * like the real APIs' (Africa's Talking's SMSMessageData, Twilio's Message
 * resource and error object, Kannel's sendsms replies), and the console's
 * deliver_local; Africa's Talking's batches (build_batch, parse_batch). The
 * registry and prov_send are in test_prov_registry.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw_clock.h"
#include "prov.h"
#include "prov_fixtures.h"
#include "prov_internal.h"

/* ---- helpers ---- */

/* The header line NAME (e.g. "apiKey: "), or NULL. */
static const char *find_header(const prov_req *req, const char *prefix)
{
    for (const char *const *h = req->http.headers; h != NULL && *h != NULL; h++)
        if (strncmp(*h, prefix, strlen(prefix)) == 0)
            return *h;
    return NULL;
}

/* An HTTP answer as prov_http would deliver it. */
static prov_http_response answer(long status, const char *body, long retry_after_s)
{
    return (prov_http_response){
        .ok = 1, .status = status, .body = body, .body_len = strlen(body), .error = "",
        .retry_after_s = retry_after_s,
    };
}

static prov_http_response no_answer(int timed_out, int not_sent, const char *error)
{
    return (prov_http_response){
        .ok = 0, .body = "", .error = error, .timed_out = timed_out, .not_sent = not_sent,
        .retry_after_s = -1,
    };
}

typedef struct parse_case {
    long status;                /* 0: no answer */
    const char *body;
    long retry_after_s;
    int timed_out, not_sent;
    prov_outcome want;
    const char *carrier_id;     /* wanted, or NULL: "" */
    const char *reason_has;     /* a part of the reason, or NULL */
    long retry_after_ms;        /* wanted for THROTTLED */
} parse_case;

static void run_cases(const char *type, const gw_provider_conf *conf, const prov_msg *msg,
                      const parse_case *cases, size_t n)
{
    const prov_ops *ops = prov_ops_find(type);
    assert_non_null(ops);
    for (size_t i = 0; i < n; i++) {
        const parse_case *c = &cases[i];
        prov_http_response resp = c->status != 0
                                      ? answer(c->status, c->body, c->retry_after_s)
                                      : no_answer(c->timed_out, c->not_sent, c->body);
        prov_result res;
        memset(&res, 0x5a, sizeof res);   /* parse_response must set what it reports */
        res.carrier_id[0] = '\0';
        res.retry_after_ms = 0;
        res.http_status = 0;
        ops->parse_response(conf, msg, &resp, &res);
        if (res.outcome != c->want)
            fail_msg("%s case %zu (HTTP %ld %s): %s, wanted %s (%s)", type, i, c->status,
                     c->body, prov_outcome_name(res.outcome), prov_outcome_name(c->want),
                     res.reason);
        assert_string_equal(res.carrier_id, c->carrier_id != NULL ? c->carrier_id : "");
        assert_int_equal(res.http_status, c->status);
        assert_non_null(memchr(res.reason, '\0', sizeof res.reason));
        if (c->reason_has != NULL && strstr(res.reason, c->reason_has) == NULL)
            fail_msg("%s case %zu: reason \"%s\" lacks \"%s\"", type, i, res.reason,
                     c->reason_has);
        if (c->want == PROV_THROTTLED)
            assert_int_equal(res.retry_after_ms, c->retry_after_ms);
    }
}
/* ---- the table ---- */

static void test_ops_table(void **state)
{
    (void)state;
    const char *types[] = {"africastalking", "twilio", "kannel", "console"};
    for (size_t i = 0; i < 4; i++) {
        const prov_ops *ops = prov_ops_find(types[i]);
        assert_non_null(ops);
        assert_string_equal(ops->type, types[i]);
        int local = strcmp(types[i], "console") == 0;
        assert_int_equal(ops->deliver_local != NULL, local);
        assert_int_equal(ops->build_request != NULL, !local);
        assert_int_equal(ops->parse_response != NULL, !local);
        /* only Africa's Talking takes many numbers in one request */
        int batch = strcmp(types[i], "africastalking") == 0;
        assert_int_equal(ops->build_batch != NULL, batch);
        assert_int_equal(ops->parse_batch != NULL, batch);
        assert_int_equal(ops->max_recipients, batch ? 100 : 1);
    }
    assert_null(prov_ops_find("smpp"));
    assert_null(prov_ops_find(NULL));
    assert_string_equal(prov_ops_find("africastalking")->default_base_url,
                        "https://api.africastalking.com");
    assert_string_equal(prov_ops_find("twilio")->default_base_url, "https://api.twilio.com");
    assert_null(prov_ops_find("kannel")->default_base_url);
    assert_string_equal(prov_outcome_name(PROV_ACCEPTED), "accepted");
    assert_string_equal(prov_outcome_name(PROV_RETRY), "retry");
    assert_string_equal(prov_outcome_name(PROV_UNKNOWN), "unknown");
    assert_string_equal(prov_outcome_name(PROV_THROTTLED), "throttled");
    assert_string_equal(prov_outcome_name(PROV_PERMANENT), "permanent");
}

/* ---- Africa's Talking ---- */

static void test_at_build(void **state)
{
    (void)state;
    const prov_ops *ops = prov_ops_find("africastalking");
    gw_provider_conf conf = conf_at();
    prov_req req;
    prov_result res;
    assert_int_equal(ops->build_request(&conf, &msg_gsm, &req, &res), 0);
    assert_string_equal(req.http.method, "POST");
    assert_string_equal(req.http.url, "https://api.africastalking.com/version1/messaging");
    assert_string_equal(req.http.body, "username=county&to=%2B8613800000001"
                                       "&message=Hello%20world%20%26%20more%3D1%2B1&from=COUNTY");
    assert_int_equal(req.http.body_len, strlen(req.http.body));
    assert_null(req.http.userpwd);
    assert_int_equal(req.http.timeout_ms, 5000);
    assert_string_equal(find_header(&req, "apiKey: "), "apiKey: KEY123");
    assert_string_equal(find_header(&req, "Accept: "), "Accept: application/json");
    assert_string_equal(find_header(&req, "Content-Type: "),
                        "Content-Type: application/x-www-form-urlencoded");
    prov_req_clear(&req);
    assert_null(req.url);
    assert_null(req.http.url);

    /* UCS-2 text goes as UTF-8 (the carrier picks the coding); own base, no sender */
    conf.base_url = "http://127.0.0.1:9/at//";
    conf.sender = NULL;
    assert_int_equal(ops->build_request(&conf, &msg_ucs2, &req, &res), 0);
    assert_string_equal(req.http.url, "http://127.0.0.1:9/at/version1/messaging");
    assert_string_equal(req.http.body,
                        "username=county&to=%2B8613800000002&message=%E7%BC%B4%E8%B4%B9");
    prov_req_clear(&req);

    conf.api_key = NULL;
    assert_int_equal(ops->build_request(&conf, &msg_gsm, &req, &res), -1);
    assert_int_equal(res.outcome, PROV_RETRY);
    assert_null(req.url);
}

static void test_at_parse(void **state)
{
    (void)state;
    static const parse_case cases[] = {
        {201, "{\"SMSMessageData\":{\"Message\":\"Sent to 1/1 Total Cost: KES 0.8000\","
              "\"Recipients\":[{\"statusCode\":101,\"number\":\"+8613800000001\","
              "\"status\":\"Success\",\"cost\":\"KES 0.8000\",\"messageId\":\"ATXid_abc\"}]}}",
         -1, 0, 0, PROV_ACCEPTED, "ATXid_abc", "101", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"Sent to 1/1\",\"Recipients\":[{\"statusCode\":"
              "102,\"status\":\"Queued\",\"messageId\":\"ATXid_q\"}]}}",
         -1, 0, 0, PROV_ACCEPTED, "ATXid_q", "Queued", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"Sent to 0/1\",\"Recipients\":[{\"statusCode\":"
              "403,\"number\":\"+8613800000001\",\"status\":\"InvalidPhoneNumber\","
              "\"messageId\":\"None\"}]}}",
         -1, 0, 0, PROV_PERMANENT, NULL, "InvalidPhoneNumber", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"Sent to 0/1\",\"Recipients\":[{\"statusCode\":"
              "406,\"status\":\"UserInBlacklist\",\"messageId\":\"None\"}]}}",
         -1, 0, 0, PROV_PERMANENT, NULL, "UserInBlacklist", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"x\",\"Recipients\":[{\"statusCode\":404,"
              "\"status\":\"UnsupportedNumberType\"}]}}",
         -1, 0, 0, PROV_PERMANENT, NULL, "UnsupportedNumberType", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"x\",\"Recipients\":[{\"statusCode\":409,"
              "\"status\":\"DoNotDisturbRejection\"}]}}",
         -1, 0, 0, PROV_PERMANENT, NULL, "DoNotDisturbRejection", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"x\",\"Recipients\":[{\"statusCode\":401,"
              "\"status\":\"RiskHold\"}]}}",
         -1, 0, 0, PROV_PERMANENT, NULL, "RiskHold", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"x\",\"Recipients\":[{\"statusCode\":405,"
              "\"status\":\"InsufficientBalance\"}]}}",
         -1, 0, 0, PROV_RETRY, NULL, "InsufficientBalance", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"x\",\"Recipients\":[{\"statusCode\":402,"
              "\"status\":\"InvalidSenderId\"}]}}",
         -1, 0, 0, PROV_RETRY, NULL, "InvalidSenderId", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"x\",\"Recipients\":[{\"statusCode\":407,"
              "\"status\":\"CouldNotRoute\"}]}}",
         -1, 0, 0, PROV_RETRY, NULL, "CouldNotRoute", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"x\",\"Recipients\":[{\"statusCode\":500,"
              "\"status\":\"InternalServerError\"}]}}",
         -1, 0, 0, PROV_RETRY, NULL, "InternalServerError", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"x\",\"Recipients\":[{\"statusCode\":502,"
              "\"status\":\"RejectedByGateway\"}]}}",
         -1, 0, 0, PROV_RETRY, NULL, "RejectedByGateway", 0},
        /* no recipient: the reason is in Message */
        {201, "{\"SMSMessageData\":{\"Message\":\"InvalidSenderId\",\"Recipients\":[]}}",
         -1, 0, 0, PROV_RETRY, NULL, "InvalidSenderId", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"UserInBlacklist\",\"Recipients\":[]}}",
         -1, 0, 0, PROV_PERMANENT, NULL, "UserInBlacklist", 0},
        /* a 2xx we cannot read may have been sent */
        {201, "<html>ok</html>", -1, 0, 0, PROV_UNKNOWN, NULL, "cannot read", 0},
        {200, "{\"SMSMessageData\":{\"Recipients\":[{\"status\":\"Success\"}]}}", -1, 0, 0,
         PROV_UNKNOWN, NULL, NULL, 0},
        {401, "The supplied authentication is invalid", -1, 0, 0, PROV_RETRY, NULL,
         "authentication is invalid", 0},
        {429, "Too many requests", 7, 0, 0, PROV_THROTTLED, NULL, "429", 7000},
        {429, "", -1, 0, 0, PROV_THROTTLED, NULL, "429", 1000},
        {500, "Internal Server Error", -1, 0, 0, PROV_RETRY, NULL, "500", 0},
        {503, "busy", 30, 0, 0, PROV_THROTTLED, NULL, "503", 30000},
        {400, "Request is missing required form field 'to'", -1, 0, 0, PROV_PERMANENT, NULL,
         "missing required", 0},
        {0, "Operation timed out after 5000 milliseconds", -1, 1, 0, PROV_UNKNOWN, NULL,
         "timed out", 0},
        {0, "Failed to connect to 127.0.0.1 port 9: Connection refused", -1, 0, 1, PROV_RETRY,
         NULL, "Connection refused", 0},
        {0, "Recv failure: Connection reset by peer", -1, 0, 0, PROV_UNKNOWN, NULL, "reset",
         0},
    };
    gw_provider_conf conf = conf_at();
    run_cases("africastalking", &conf, &msg_gsm, cases, sizeof cases / sizeof cases[0]);
}

/* ---- Africa's Talking: batches ---- */

/* One text to five numbers; MSGS[k] is +86138000000(k+1). */
#define BATCH_TEXT "Meeting at 3pm, hall B"

static void batch_msgs(prov_msg *msgs, size_t n)
{
    static const char *const ids[] = {"61", "62", "63", "64", "65"};
    static const char *const tos[] = {"+8613800000001", "+8613800000002", "+8613800000003",
                                      "+8613800000004", "+8613800000005"};
    assert_true(n <= 5);
    for (size_t k = 0; k < n; k++)
        msgs[k] = (prov_msg){.id = ids[k], .to = tos[k], .text = BATCH_TEXT,
                             .text_len = strlen(BATCH_TEXT), .segments = 1};
}

static void test_same_number(void **state)
{
    (void)state;
    assert_true(prov_same_number("+8613800000001", "+8613800000001"));
    assert_true(prov_same_number("+8613800000001", "8613800000001"));
    assert_true(prov_same_number("+86 138-0000-0001", "8613800000001"));
    assert_false(prov_same_number("+8613800000001", "+8613800000002"));
    assert_false(prov_same_number("+861380000000", "+8613800000001"));   /* a prefix */
    assert_false(prov_same_number("+8613800000001", "+86138000000012"));
    assert_false(prov_same_number("", ""));                             /* no digits */
    assert_false(prov_same_number("+", "none"));
    assert_false(prov_same_number(NULL, "+8613800000001"));
    assert_false(prov_same_number("+8613800000001", NULL));
}

static void test_at_build_batch(void **state)
{
    (void)state;
    const prov_ops *ops = prov_ops_find("africastalking");
    gw_provider_conf conf = conf_at();
    prov_msg msgs[3];
    batch_msgs(msgs, 3);
    prov_req req;
    prov_result res;
    assert_int_equal(ops->build_batch(&conf, msgs, 3, &req, &res), 0);
    assert_string_equal(req.http.method, "POST");
    assert_string_equal(req.http.url, "https://api.africastalking.com/version1/messaging");
    /* one "to": the three numbers joined by ',' (%2C), each with its '+' (%2B) */
    assert_string_equal(req.http.body,
                        "username=county"
                        "&to=%2B8613800000001%2C%2B8613800000002%2C%2B8613800000003"
                        "&message=Meeting%20at%203pm%2C%20hall%20B&from=COUNTY");
    assert_int_equal(req.http.body_len, strlen(req.http.body));
    assert_int_equal(req.http.timeout_ms, 5000);
    assert_string_equal(find_header(&req, "apiKey: "), "apiKey: KEY123");
    assert_string_equal(find_header(&req, "Accept: "), "Accept: application/json");
    prov_req_clear(&req);

    /* a batch of one is the single message's request */
    prov_req single;
    assert_int_equal(ops->build_batch(&conf, &msg_gsm, 1, &req, &res), 0);
    assert_int_equal(ops->build_request(&conf, &msg_gsm, &single, &res), 0);
    assert_string_equal(req.http.body, single.http.body);
    assert_string_equal(req.http.url, single.http.url);
    prov_req_clear(&req);
    prov_req_clear(&single);

    /* none, or more than the carrier takes: refused, REQ cleared */
    assert_int_equal(ops->build_batch(&conf, msgs, 0, &req, &res), -1);
    assert_int_equal(res.outcome, PROV_RETRY);
    assert_null(req.url);
    prov_msg many[101];
    char numbers[101][20];
    for (size_t k = 0; k < 101; k++) {
        snprintf(numbers[k], sizeof numbers[k], "+86138%08zu", k);
        many[k] = msgs[0];
        many[k].to = numbers[k];
    }
    assert_int_equal(ops->build_batch(&conf, many, 100, &req, &res), 0);
    assert_non_null(strstr(req.http.body, "%2C%2B8613800000099&message="));
    prov_req_clear(&req);
    assert_int_equal(ops->build_batch(&conf, many, 101, &req, &res), -1);
    assert_int_equal(res.outcome, PROV_RETRY);
    assert_null(req.url);

    conf.api_key = NULL;
    assert_int_equal(ops->build_batch(&conf, msgs, 3, &req, &res), -1);
    assert_int_equal(res.outcome, PROV_RETRY);
    assert_null(req.url);
}

static void test_at_parse_batch(void **state)
{
    (void)state;
    const prov_ops *ops = prov_ops_find("africastalking");
    gw_provider_conf conf = conf_at();
    prov_msg msgs[5];
    batch_msgs(msgs, 5);
    /* Shaped like the carrier's: in its own order, one number without its
     * '+', the fourth number left out. */
    static const char body[] =
        "{\"SMSMessageData\":{\"Message\":\"Sent to 1/5 Total Cost: KES 0.8000\","
        "\"Recipients\":["
        "{\"cost\":\"0\",\"messageId\":\"None\",\"number\":\"+8613800000003\","
        "\"status\":\"UserInBlacklist\",\"statusCode\":406},"
        "{\"cost\":\"KES 0.8000\",\"messageId\":\"ATXid_5f1e\",\"number\":\"8613800000001\","
        "\"status\":\"Success\",\"statusCode\":101},"
        "{\"cost\":\"0\",\"messageId\":\"None\",\"number\":\"+8613800000005\","
        "\"status\":\"InsufficientBalance\",\"statusCode\":405},"
        "{\"cost\":\"0\",\"messageId\":\"None\",\"number\":\"+8613800000002\","
        "\"status\":\"InvalidPhoneNumber\",\"statusCode\":403}]}}";
    prov_http_response resp = answer(201, body, -1);
    prov_result res[5];
    memset(res, 0x5a, sizeof res);          /* parse_batch sets all of each */
    ops->parse_batch(&conf, msgs, 5, &resp, res);
    static const struct {
        prov_outcome outcome;
        const char *carrier_id;
        const char *reason_has;
    } want[5] = {
        {PROV_ACCEPTED, "ATXid_5f1e", "statusCode 101 Sent"},
        {PROV_PERMANENT, "", "statusCode 403 InvalidPhoneNumber"},
        {PROV_PERMANENT, "", "statusCode 406 UserInBlacklist"},
        {PROV_UNKNOWN, "", "the carrier's answer does not list this number"},
        {PROV_RETRY, "", "statusCode 405 InsufficientBalance"},
    };
    for (size_t k = 0; k < 5; k++) {
        if (res[k].outcome != want[k].outcome)
            fail_msg("message %zu: %s, wanted %s (%s)", k, prov_outcome_name(res[k].outcome),
                     prov_outcome_name(want[k].outcome), res[k].reason);
        assert_string_equal(res[k].carrier_id, want[k].carrier_id);
        assert_string_equal(res[k].reason, want[k].reason_has);
        assert_int_equal(res[k].http_status, 201);
        assert_int_equal(res[k].retry_after_ms, 0);
    }

    /* one message: its entry is found by number, wherever it is listed */
    prov_result one;
    ops->parse_response(&conf, &msgs[1], &resp, &one);
    assert_int_equal(one.outcome, PROV_PERMANENT);
    assert_string_equal(one.reason, "statusCode 403 InvalidPhoneNumber");
    ops->parse_batch(&conf, &msgs[3], 1, &resp, &one);
    assert_int_equal(one.outcome, PROV_UNKNOWN);
}

static void test_at_parse_batch_request_level(void **state)
{
    (void)state;
    /* answers about the whole request: the same result for every message */
    static const parse_case cases[] = {
        {429, "Too many requests", 7, 0, 0, PROV_THROTTLED, NULL, "429", 7000},
        {429, "", -1, 0, 0, PROV_THROTTLED, NULL, "429", 1000},
        {500, "Internal Server Error", -1, 0, 0, PROV_RETRY, NULL, "HTTP 500", 0},
        {502, "Bad Gateway", -1, 0, 0, PROV_RETRY, NULL, "HTTP 502", 0},
        {401, "The supplied authentication is invalid", -1, 0, 0, PROV_RETRY, NULL,
         "api_key refused", 0},
        {201, "<html>ok</html>", -1, 0, 0, PROV_UNKNOWN, NULL, "cannot read", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"InsufficientBalance\",\"Recipients\":[]}}",
         -1, 0, 0, PROV_RETRY, NULL, "InsufficientBalance", 0},
        {201, "{\"SMSMessageData\":{\"Message\":\"UserInBlacklist\",\"Recipients\":[]}}", -1, 0,
         0, PROV_PERMANENT, NULL, "UserInBlacklist", 0},
        {0, "Operation timed out after 5000 milliseconds", -1, 1, 0, PROV_UNKNOWN, NULL,
         "no answer in time", 0},
        {0, "Failed to connect to 127.0.0.1 port 9: Connection refused", -1, 0, 1, PROV_RETRY,
         NULL, "not sent", 0},
    };
    const prov_ops *ops = prov_ops_find("africastalking");
    gw_provider_conf conf = conf_at();
    prov_msg msgs[3];
    batch_msgs(msgs, 3);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const parse_case *c = &cases[i];
        prov_http_response resp = c->status != 0
                                      ? answer(c->status, c->body, c->retry_after_s)
                                      : no_answer(c->timed_out, c->not_sent, c->body);
        prov_result res[3];
        memset(res, 0x5a, sizeof res);
        ops->parse_batch(&conf, msgs, 3, &resp, res);
        for (size_t k = 0; k < 3; k++) {
            if (res[k].outcome != c->want)
                fail_msg("case %zu (HTTP %ld %s), message %zu: %s, wanted %s (%s)", i,
                         c->status, c->body, k, prov_outcome_name(res[k].outcome),
                         prov_outcome_name(c->want), res[k].reason);
            assert_int_equal(res[k].http_status, c->status);
            assert_string_equal(res[k].carrier_id, "");
            if (strstr(res[k].reason, c->reason_has) == NULL)
                fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i, res[k].reason,
                         c->reason_has);
            assert_int_equal(res[k].retry_after_ms,
                             c->want == PROV_THROTTLED ? c->retry_after_ms : 0);
        }
    }
}

/* ---- Twilio ---- */

static void test_twilio_build(void **state)
{
    (void)state;
    const prov_ops *ops = prov_ops_find("twilio");
    gw_provider_conf conf = conf_twilio();
    prov_req req;
    prov_result res;
    assert_int_equal(ops->build_request(&conf, &msg_gsm, &req, &res), 0);
    assert_string_equal(req.http.method, "POST");
    assert_string_equal(req.http.url,
                        "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json");
    assert_string_equal(req.http.userpwd, "AC123:tok");
    assert_string_equal(req.http.body, "To=%2B8613800000001&From=%2B8610000000000"
                                       "&Body=Hello%20world%20%26%20more%3D1%2B1");
    assert_int_equal(req.http.timeout_ms, 4000);
    assert_string_equal(find_header(&req, "Accept: "), "Accept: application/json");
    assert_null(find_header(&req, "apiKey"));
    prov_req_clear(&req);

    /* a Messaging Service sender, a delivery-report URL, UCS-2 text */
    conf.sender = "MG0123456789abcdef";
    prov_msg m = msg_ucs2;
    m.dlr_url = "https://gw.example/dlr/twilio?id=%i";
    assert_int_equal(ops->build_request(&conf, &m, &req, &res), 0);
    assert_string_equal(req.http.body, "To=%2B8613800000002&MessagingServiceSid=MG0123456789abcdef"
                                       "&Body=%E7%BC%B4%E8%B4%B9&StatusCallback=https%3A%2F%2F"
                                       "gw.example%2Fdlr%2Ftwilio%3Fid%3D43");
    prov_req_clear(&req);

    conf.sender = NULL;
    assert_int_equal(ops->build_request(&conf, &msg_gsm, &req, &res), -1);
    assert_int_equal(res.outcome, PROV_RETRY);
}

static void test_twilio_parse(void **state)
{
    (void)state;
    static const parse_case cases[] = {
        {201, "{\"account_sid\":\"AC123\",\"body\":\"Hello\",\"sid\":\"SM0123abc\","
              "\"status\":\"queued\",\"to\":\"+8613800000001\",\"error_code\":null}",
         -1, 0, 0, PROV_ACCEPTED, "SM0123abc", "queued", 0},
        {400, "{\"code\":21211,\"message\":\"The 'To' number +8613800000001 is not a valid "
              "phone number.\",\"more_info\":\"https://www.twilio.com/docs/errors/21211\","
              "\"status\":400}",
         -1, 0, 0, PROV_PERMANENT, NULL, "error 21211: The 'To' number *** is not", 0},
        {400, "{\"code\":21610,\"message\":\"Attempt to send to unsubscribed recipient\","
              "\"status\":400}",
         -1, 0, 0, PROV_PERMANENT, NULL, "21610", 0},
        {400, "{\"code\":21614,\"message\":\"'To' number is not a valid mobile number\","
              "\"status\":400}",
         -1, 0, 0, PROV_PERMANENT, NULL, "21614", 0},
        {400, "{\"code\":21999,\"message\":\"Something new\",\"status\":400}", -1, 0, 0,
         PROV_PERMANENT, NULL, "21999", 0},
        {400, "{\"code\":21606,\"message\":\"The From phone number is not a valid, "
              "SMS-capable inbound phone number\",\"status\":400}",
         -1, 0, 0, PROV_RETRY, NULL, "21606", 0},
        {429, "{\"code\":20429,\"message\":\"Too Many Requests\",\"status\":429}", 3, 0, 0,
         PROV_THROTTLED, NULL, "20429", 3000},
        {400, "{\"code\":14107,\"message\":\"SMS send rate limit exceeded\",\"status\":400}",
         -1, 0, 0, PROV_THROTTLED, NULL, "14107", 1000},
        {401, "{\"code\":20003,\"message\":\"Authenticate\",\"status\":401}", -1, 0, 0,
         PROV_RETRY, NULL, "20003", 0},
        {500, "{\"code\":20500,\"message\":\"Internal Server Error\",\"status\":500}", -1, 0, 0,
         PROV_RETRY, NULL, "20500", 0},
        {503, "<html>Service Unavailable</html>", -1, 0, 0, PROV_RETRY, NULL, "503", 0},
        {201, "{\"status\":\"queued\"}", -1, 0, 0, PROV_UNKNOWN, NULL, NULL, 0},
        {0, "Operation timed out after 4000 milliseconds", -1, 1, 0, PROV_UNKNOWN, NULL, NULL,
         0},
        {0, "Could not resolve host: api.twilio.com", -1, 0, 1, PROV_RETRY, NULL, NULL, 0},
    };
    gw_provider_conf conf = conf_twilio();
    run_cases("twilio", &conf, &msg_gsm, cases, sizeof cases / sizeof cases[0]);
}

/* ---- Kannel ---- */

static void test_kannel_build(void **state)
{
    (void)state;
    const prov_ops *ops = prov_ops_find("kannel");
    gw_provider_conf conf = conf_kannel();
    prov_req req;
    prov_result res;
    assert_int_equal(ops->build_request(&conf, &msg_gsm, &req, &res), 0);
    assert_string_equal(req.http.method, "GET");
    assert_string_equal(req.http.url,
                        "http://127.0.0.1:13013/cgi-bin/sendsms?username=gateway"
                        "&password=p%40ss%20w"
                        "&from=1069012345&to=%2B8613800000001"
                        "&text=Hello%20world%20%26%20more%3D1%2B1&charset=UTF-8&coding=0");
    assert_null(req.http.body);
    assert_int_equal(req.http.body_len, 0);
    assert_null(req.http.userpwd);
    assert_int_equal(req.http.timeout_ms, 3000);
    prov_req_clear(&req);

    /* UCS-2 as coding=2 with the text in UTF-8; the delivery-report URL */
    prov_msg m = msg_ucs2;
    m.dlr_url = "http://127.0.0.1:8080/dlr/kannel?id=%i&status=%d";
    conf.sender = NULL;
    assert_int_equal(ops->build_request(&conf, &m, &req, &res), 0);
    assert_string_equal(req.http.url,
                        "http://127.0.0.1:13013/cgi-bin/sendsms?username=gateway"
                        "&password=p%40ss%20w"
                        "&to=%2B8613800000002&text=%E7%BC%B4%E8%B4%B9&charset=UTF-8&coding=2"
                        "&dlr-mask=31&dlr-url=http%3A%2F%2F127.0.0.1%3A8080%2Fdlr%2Fkannel"
                        "%3Fid%3D43%26status%3D%25d");
    prov_req_clear(&req);

    conf.base_url = NULL;
    assert_int_equal(ops->build_request(&conf, &msg_gsm, &req, &res), -1);
    assert_int_equal(res.outcome, PROV_RETRY);
    assert_null(req.url);
}

static void test_kannel_parse(void **state)
{
    (void)state;
    static const parse_case cases[] = {
        {202, "0: Accepted for delivery", -1, 0, 0, PROV_ACCEPTED, "42", "Accepted", 0},
        {202, "3: Queued for later delivery", -1, 0, 0, PROV_ACCEPTED, "42", "Queued", 0},
        {202, "Sent. Message splits: 2", -1, 0, 0, PROV_ACCEPTED, "42", NULL, 0},
        {202, "<html>proxy</html>", -1, 0, 0, PROV_UNKNOWN, NULL, NULL, 0},
        {403, "Authorization failed for sendsms", -1, 0, 0, PROV_RETRY, NULL,
         "username and password", 0},
        {403, "Not routable. Do not try again.", -1, 0, 0, PROV_PERMANENT, NULL, "Not routable",
         0},
        {400, "Missing receiver number, rejected", -1, 0, 0, PROV_PERMANENT, NULL,
         "Missing receiver", 0},
        {400, "Number(s) has/have been denied by white- and/or black-lists.", -1, 0, 0,
         PROV_PERMANENT, NULL, "denied", 0},
        {400, "Sender missing and no global set, rejected", -1, 0, 0, PROV_RETRY, NULL,
         "Sender missing", 0},
        {503, "Temporal failure, try again later.", -1, 0, 0, PROV_RETRY, NULL, "Temporal", 0},
        {503, "Sendsms is throttled", -1, 0, 0, PROV_THROTTLED, NULL, "throttled", 1000},
        {503, "Temporal failure, try again later.", 5, 0, 0, PROV_THROTTLED, NULL, NULL, 5000},
        {429, "", 2, 0, 0, PROV_THROTTLED, NULL, NULL, 2000},
        {500, "Sending failed.", -1, 0, 0, PROV_RETRY, NULL, "Sending failed", 0},
        {404, "Unknown request.", -1, 0, 0, PROV_RETRY, NULL, "base_url", 0},
        {0, "Operation timed out after 3000 milliseconds", -1, 1, 0, PROV_UNKNOWN, NULL, NULL,
         0},
        {0, "Failed to connect to 127.0.0.1 port 13013: Connection refused", -1, 0, 1,
         PROV_RETRY, NULL, NULL, 0},
    };
    gw_provider_conf conf = conf_kannel();
    run_cases("kannel", &conf, &msg_gsm, cases, sizeof cases / sizeof cases[0]);
}

/* ---- console ---- */

static void test_console_deliver(void **state)
{
    (void)state;
    const prov_ops *ops = prov_ops_find("console");
    char path[] = "/tmp/test_prov_console_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gw_provider_conf conf = {.name = "console", .type = "console", .path = path};
    prov_msg m = msg_ucs2;
    m.text = "line1\nline2\\end\x01\xe7\xbc\xb4";
    m.text_len = strlen(m.text);
    m.segments = 2;
    prov_result res;
    /* the console's clock (time(NULL) reads a coarser one, which can still
     * be in the previous second when the console's is in the next) */
    time_t before = (time_t)(gw_clock_now_ms() / 1000);
    ops->deliver_local(&conf, &m, &res);
    ops->deliver_local(&conf, &msg_gsm, &res);
    time_t after = (time_t)(gw_clock_now_ms() / 1000);
    assert_int_equal(res.outcome, PROV_ACCEPTED);
    assert_string_equal(res.carrier_id, "42");
    assert_int_equal(res.http_status, 0);

    char *first = read_file(path);
    char *second = strchr(first, '\n');
    assert_non_null(second);
    *second++ = '\0';                    /* two lines, each ending in a newline */
    /* each line starts with the local time of its writing */
    char stamp[2][32];
    struct tm tm;
    strftime(stamp[0], sizeof stamp[0], "%Y-%m-%d %H:%M:%S", localtime_r(&before, &tm));
    strftime(stamp[1], sizeof stamp[1], "%Y-%m-%d %H:%M:%S", localtime_r(&after, &tm));
    const char *lines[] = {first, second};
    for (size_t i = 0; i < 2; i++)
        assert_true(strncmp(lines[i], stamp[0], 19) == 0 || strncmp(lines[i], stamp[1], 19) == 0);
    assert_string_equal(first + 19, " id=43 to=+8613800000002 parts=2 coding=ucs2 "
                                    "text=line1\\nline2\\\\end\\x01\xe7\xbc\xb4");
    assert_string_equal(second + 19,
                        " id=42 to=+8613800000001 parts=1 coding=gsm "
                        "text=Hello world & more=1+1\n");
    unlink(path);

    /* a path that cannot be opened: RETRY with the reason */
    conf.path = "/nonexistent-dir-for-test/console.log";
    ops->deliver_local(&conf, &msg_gsm, &res);
    assert_int_equal(res.outcome, PROV_RETRY);
    assert_string_equal(res.carrier_id, "");
    assert_non_null(strstr(res.reason, "No such file or directory"));
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_table),
        cmocka_unit_test(test_at_build),
        cmocka_unit_test(test_at_parse),
        cmocka_unit_test(test_same_number),
        cmocka_unit_test(test_at_build_batch),
        cmocka_unit_test(test_at_parse_batch),
        cmocka_unit_test(test_at_parse_batch_request_level),
        cmocka_unit_test(test_twilio_build),
        cmocka_unit_test(test_twilio_parse),
        cmocka_unit_test(test_kannel_build),
        cmocka_unit_test(test_kannel_parse),
        cmocka_unit_test(test_console_deliver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
