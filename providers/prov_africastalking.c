/* prov_africastalking.c - Africa's Talking's bulk SMS API.
 *
 * Request: POST {base}/version1/messaging (base https://api.africastalking.com,
 * or the sandbox's for tests), headers "apiKey: KEY" and "Accept:
 * application/json", form body username, to, message and from (the sender ID
 * or short code, when the account has one). The carrier picks GSM-7 or UCS-2
 * itself from the text.
 *
 * Answer (201 on success): {"SMSMessageData": {"Message": "Sent to 1/1 Total
 * Cost: ...", "Recipients": [{"statusCode": 101, "number": "...", "status":
 * "Success", "cost": "...", "messageId": "ATXid_..."}]}}. statusCode 100
 * Processed, 101 Sent, 102 Queued are accepted; the others are failures,
 * classified in at_codes below. An empty Recipients list carries the reason
 * in Message only (e.g. "InvalidSenderId"). HTTP 401 is a refused API key;
 * 429 a throttle.
 *
 * Batches: one text to up to AT_MAX_RECIPIENTS numbers in one request, "to"
 * being the numbers joined by ','. The answer lists each recipient with its
 * own statusCode; each message is matched to its entry by the number's
 * digits (the carrier may write it without the '+'). An answer about the
 * whole request (no answer, an HTTP error such as 401, 429 or 5xx, a body
 * we cannot read, no recipient listed) applies to every message. A single
 * message is the batch of one: build_request and parse_response call the
 * batch functions.
 *
 * Pure functions of their arguments: no I/O here (prov.c sends). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "prov_internal.h"

#define AT_DEFAULT_BASE "https://api.africastalking.com"
#define AT_MAX_RECIPIENTS 100   /* numbers we put in one request's "to" */

/* A recipient's statusCode, what it means for the message, and why. */
static const struct {
    int code;
    prov_outcome outcome;
    const char *name;
} at_codes[] = {
    {100, PROV_ACCEPTED, "Processed"},
    {101, PROV_ACCEPTED, "Sent"},
    {102, PROV_ACCEPTED, "Queued"},
    /* held by the carrier's risk review: sending again would be held too */
    {401, PROV_PERMANENT, "RiskHold"},
    /* the account's sender ID is not approved: another account may send it */
    {402, PROV_RETRY, "InvalidSenderId"},
    {403, PROV_PERMANENT, "InvalidPhoneNumber"},
    {404, PROV_PERMANENT, "UnsupportedNumberType"},
    /* the account ran dry: another account, or this one once topped up */
    {405, PROV_RETRY, "InsufficientBalance"},
    {406, PROV_PERMANENT, "UserInBlacklist"},
    /* no route to the number's network from this account */
    {407, PROV_RETRY, "CouldNotRoute"},
    {409, PROV_PERMANENT, "DoNotDisturbRejection"},
    {500, PROV_RETRY, "InternalServerError"},
    {501, PROV_RETRY, "GatewayError"},
    {502, PROV_RETRY, "RejectedByGateway"},
};

/* Reasons an empty Recipients list gives in Message, matched as words. */
static const struct {
    const char *word;
    prov_outcome outcome;
} at_messages[] = {
    {"InvalidSenderId", PROV_RETRY},
    {"InsufficientBalance", PROV_RETRY},
    {"InvalidPhoneNumber", PROV_PERMANENT},
    {"Invalid Phone Number", PROV_PERMANENT},
    {"UserInBlacklist", PROV_PERMANENT},
    {"Blacklist", PROV_PERMANENT},
    {"DoNotDisturb", PROV_PERMANENT},
    {"UnsupportedNumberType", PROV_PERMANENT},
    {"RiskHold", PROV_PERMANENT},
};

static int at_check_conf(const gw_provider_conf *conf, char *err, size_t errlen)
{
    if (conf->username == NULL || conf->api_key == NULL) {
        snprintf(err, errlen, "africastalking needs username and api_key");
        return -1;
    }
    return 0;
}

/* One request for MSGS[0..N): their numbers joined by ',' in "to" (each as
 * given, E.164), the text of MSGS[0] (a batch shares one text). A single
 * message is the batch of one (at_build_request). */
static int at_build_batch(const gw_provider_conf *conf, const prov_msg *msgs, size_t n,
                          prov_req *req, prov_result *res)
{
    memset(req, 0, sizeof *req);
    if (conf->username == NULL || conf->api_key == NULL)
        return prov_build_failed(req, res, PROV_RETRY, "account without username or api_key");
    if (n == 0 || n > AT_MAX_RECIPIENTS)
        return prov_build_failed(req, res, PROV_RETRY, "%zu numbers in one request (1 to %d)", n,
                                 AT_MAX_RECIPIENTS);
    size_t base_len;
    const char *base = prov_base_url(conf, &prov_africastalking_ops, &base_len);
    prov_buf url = {0}, body = {0}, to = {0};
    prov_buf_add(&url, base, base_len);
    prov_buf_puts(&url, "/version1/messaging");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            prov_buf_add(&to, ",", 1);
        prov_buf_puts(&to, msgs[i].to);
    }
    if (to.failed)
        body.failed = 1;        /* prov_buf_take then fails: out of memory below */
    prov_buf_param(&body, "username", conf->username);
    prov_buf_param_n(&body, "to", to.data != NULL ? to.data : "", to.len);
    prov_buf_free(&to);
    prov_buf_param_n(&body, "message", msgs[0].text, msgs[0].text_len);
    if (conf->sender != NULL)
        prov_buf_param(&body, "from", conf->sender);
    req->url = prov_buf_take(&url);
    req->body = prov_buf_take(&body);
    if (req->url == NULL || req->body == NULL ||
        prov_req_header(req, "apiKey", conf->api_key) != 0 ||
        prov_req_header(req, "Accept", "application/json") != 0 ||
        prov_req_header(req, "Content-Type", "application/x-www-form-urlencoded") != 0)
        return prov_build_failed(req, res, PROV_RETRY, "out of memory");
    prov_req_finish(req, "POST", conf);
    return 0;
}

static int at_build_request(const gw_provider_conf *conf, const prov_msg *msg, prov_req *req,
                            prov_result *res)
{
    return at_build_batch(conf, msg, 1, req, res);
}

/* Classifies a Message text that came without recipients. */
static void classify_message(const char *text, prov_result *res)
{
    for (size_t i = 0; i < sizeof at_messages / sizeof at_messages[0]; i++) {
        if (strstr(text, at_messages[i].word) != NULL) {
            prov_result_set(res, at_messages[i].outcome, "no recipient accepted: %s", text);
            return;
        }
    }
    /* Nothing was sent and we do not know why: try again, maybe elsewhere. */
    prov_result_set(res, PROV_RETRY, "no recipient accepted: %s", text);
}

/* What the answer says of the request as a whole. Returns 1 with RES set
 * when that decides every message (no answer, an HTTP error, a body we
 * cannot read, no recipient listed); else 0 with *RECIPIENTS the answer's
 * non-empty Recipients array. Either way *ROOT is the parsed body (or NULL)
 * for the caller to release. */
static int at_request_result(const prov_http_response *resp, json_t **root,
                             json_t **recipients, prov_result *res)
{
    *root = NULL;
    *recipients = NULL;
    if (!resp->ok) {
        prov_classify_no_answer(resp, res);
        return 1;
    }
    res->http_status = resp->status;
    if (resp->status == 429) {
        prov_result_throttled(res, resp, "HTTP 429, too many requests");
        return 1;
    }
    if (resp->status == 401) {
        char text[96];
        prov_body_excerpt(resp->body, resp->body_len, text, sizeof text);
        prov_result_set(res, PROV_RETRY, "HTTP 401, api_key refused: %s", text);
        return 1;
    }
    if (resp->status < 200 || resp->status >= 300) {
        prov_classify_status(resp, res);
        return 1;
    }
    *root = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *data = json_object_get(*root, "SMSMessageData");
    json_t *list = json_object_get(data, "Recipients");
    if (!json_is_object(data) || !json_is_array(list)) {
        prov_classify_status(resp, res);   /* 2xx we cannot read: UNKNOWN */
        return 1;
    }
    if (json_array_size(list) == 0) {
        const char *text = json_string_value(json_object_get(data, "Message"));
        classify_message(text != NULL ? text : "(no message)", res);
        return 1;
    }
    *recipients = list;
    return 0;
}

/* The entry of RECIPIENTS for number TO, or NULL. A lone entry without a
 * number (nothing to match it by) is taken for the only message of a
 * one-message request. */
static json_t *find_recipient(json_t *recipients, const char *to, size_t n)
{
    size_t k;
    json_t *rcpt;
    json_array_foreach(recipients, k, rcpt) {
        if (prov_same_number(json_string_value(json_object_get(rcpt, "number")), to))
            return rcpt;
    }
    rcpt = json_array_get(recipients, 0);
    if (n == 1 && json_array_size(recipients) == 1 &&
        json_string_value(json_object_get(rcpt, "number")) == NULL)
        return rcpt;
    return NULL;
}

/* Classifies one Recipients entry by its statusCode (at_codes) into RES. */
static void classify_recipient(json_t *rcpt, const prov_http_response *resp, prov_result *res)
{
    json_t *jcode = json_object_get(rcpt, "statusCode");
    const char *status = json_string_value(json_object_get(rcpt, "status"));
    const char *id = json_string_value(json_object_get(rcpt, "messageId"));
    if (!json_is_integer(jcode)) {
        prov_classify_status(resp, res);   /* 2xx we cannot read: UNKNOWN */
        return;
    }
    int code = (int)json_integer_value(jcode);
    size_t k = 0;
    while (k < sizeof at_codes / sizeof at_codes[0] && at_codes[k].code != code)
        k++;
    if (k == sizeof at_codes / sizeof at_codes[0]) {
        prov_result_set(res, PROV_RETRY, "statusCode %d %s", code, status != NULL ? status : "");
    } else if (at_codes[k].outcome == PROV_ACCEPTED) {
        if (id == NULL || id[0] == '\0' || strcmp(id, "None") == 0)
            res->carrier_id[0] = '\0';
        else
            snprintf(res->carrier_id, sizeof res->carrier_id, "%s", id);
        prov_result_set(res, PROV_ACCEPTED, "statusCode %d %s", code, at_codes[k].name);
    } else {
        prov_result_set(res, at_codes[k].outcome, "statusCode %d %s", code, at_codes[k].name);
        res->recipient_blocked = code == 406;   /* UserInBlacklist */
    }
}

/* RES[i] for MSGS[i]: the request-level result for all, or each number's
 * entry in Recipients, matched by its digits; a number the answer leaves
 * out may have been sent or not (UNKNOWN). */
static void at_parse_batch(const gw_provider_conf *conf, const prov_msg *msgs, size_t n,
                           const prov_http_response *resp, prov_result *res)
{
    (void)conf;
    if (n == 0)
        return;
    memset(res, 0, n * sizeof *res);
    json_t *root, *recipients;
    if (at_request_result(resp, &root, &recipients, &res[0])) {
        for (size_t i = 1; i < n; i++)
            res[i] = res[0];
        json_decref(root);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        res[i].http_status = resp->status;
        json_t *rcpt = find_recipient(recipients, msgs[i].to, n);
        if (rcpt == NULL)
            prov_result_set(&res[i], PROV_UNKNOWN,
                            "the carrier's answer does not list this number");
        else
            classify_recipient(rcpt, resp, &res[i]);
    }
    json_decref(root);
}

static void at_parse_response(const gw_provider_conf *conf, const prov_msg *msg,
                              const prov_http_response *resp, prov_result *res)
{
    at_parse_batch(conf, msg, 1, resp, res);
}

const prov_ops prov_africastalking_ops = {
    .type = "africastalking",
    .default_base_url = AT_DEFAULT_BASE,
    .build_request = at_build_request,
    .parse_response = at_parse_response,
    .deliver_local = NULL,
    .max_recipients = AT_MAX_RECIPIENTS,
    .build_batch = at_build_batch,
    .parse_batch = at_parse_batch,
    .check_conf = at_check_conf,
};
