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
 * Pure functions of their arguments: no I/O here (prov.c sends). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "prov_internal.h"

#define AT_DEFAULT_BASE "https://api.africastalking.com"

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

static int at_build_request(const gw_provider_conf *conf, const prov_msg *msg, prov_req *req,
                            prov_result *res)
{
    memset(req, 0, sizeof *req);
    if (conf->username == NULL || conf->api_key == NULL)
        return prov_build_failed(req, res, PROV_RETRY, "account without username or api_key");
    size_t base_len;
    const char *base = prov_base_url(conf, &prov_africastalking_ops, &base_len);
    prov_buf url = {0}, body = {0};
    prov_buf_add(&url, base, base_len);
    prov_buf_puts(&url, "/version1/messaging");
    prov_buf_param(&body, "username", conf->username);
    prov_buf_param(&body, "to", msg->to);
    prov_buf_param_n(&body, "message", msg->text, msg->text_len);
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

static void at_parse_response(const gw_provider_conf *conf, const prov_msg *msg,
                              const prov_http_response *resp, prov_result *res)
{
    (void)conf;
    (void)msg;
    if (!resp->ok) {
        prov_classify_no_answer(resp, res);
        return;
    }
    res->http_status = resp->status;
    if (resp->status == 429) {
        prov_result_throttled(res, resp, "HTTP 429, too many requests");
        return;
    }
    if (resp->status == 401) {
        char text[96];
        prov_body_excerpt(resp->body, resp->body_len, text, sizeof text);
        prov_result_set(res, PROV_RETRY, "HTTP 401, api_key refused: %s", text);
        return;
    }
    if (resp->status < 200 || resp->status >= 300) {
        prov_classify_status(resp, res);
        return;
    }
    json_t *root = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *data = json_object_get(root, "SMSMessageData");
    json_t *recipients = json_object_get(data, "Recipients");
    if (!json_is_object(data) || !json_is_array(recipients)) {
        json_decref(root);
        prov_classify_status(resp, res);   /* 2xx we cannot read: UNKNOWN */
        return;
    }
    json_t *first = json_array_get(recipients, 0);
    if (first == NULL) {
        const char *text = json_string_value(json_object_get(data, "Message"));
        classify_message(text != NULL ? text : "(no message)", res);
        json_decref(root);
        return;
    }
    json_t *jcode = json_object_get(first, "statusCode");
    const char *status = json_string_value(json_object_get(first, "status"));
    const char *id = json_string_value(json_object_get(first, "messageId"));
    if (!json_is_integer(jcode)) {
        json_decref(root);
        prov_classify_status(resp, res);
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
    }
    json_decref(root);
}

const prov_ops prov_africastalking_ops = {
    .type = "africastalking",
    .default_base_url = AT_DEFAULT_BASE,
    .build_request = at_build_request,
    .parse_response = at_parse_response,
    .deliver_local = NULL,
    .check_conf = at_check_conf,
};
