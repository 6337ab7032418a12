/* prov_twilio.c - Twilio's Programmable Messaging API.
 *
 * Request: POST {base}/2010-04-01/Accounts/{account_sid}/Messages.json (base
 * https://api.twilio.com), HTTP Basic auth account_sid:auth_token, form body
 * To, From (the account's sender; a sender starting "MG" is a Messaging
 * Service and goes as MessagingServiceSid), Body, and StatusCallback when the
 * message has a dlr_url. Twilio picks GSM-7 or UCS-2 itself from the text.
 *
 * Answer: 201 with the Message resource ({"sid": "SM...", "status":
 * "queued", ...}); errors carry {"code": 21211, "message": "...",
 * "more_info": "...", "status": 400}. Error codes are classified in
 * twilio_codes below; a 4xx code not listed is permanent (Twilio's client
 * errors do not change on a retry), 429 or code 20429 a throttle (with
 * Retry-After), 401 and 5xx a retry.
 *
 * Pure functions of their arguments: no I/O here (prov.c sends). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "prov_internal.h"

#define TWILIO_DEFAULT_BASE "https://api.twilio.com"

/* Error codes whose class is not "permanent". */
static const struct {
    long code;
    prov_outcome outcome;
    const char *why;
} twilio_codes[] = {
    {20003, PROV_RETRY, "authentication failed"},
    {20005, PROV_RETRY, "account not active"},
    {20429, PROV_THROTTLED, "too many requests"},
    {14107, PROV_THROTTLED, "send rate limit exceeded"},
    {21611, PROV_THROTTLED, "sender's queue is full"},
    /* the account's sender or permissions are wrong: another account may send */
    {21212, PROV_RETRY, "invalid From number"},
    {21408, PROV_RETRY, "region not enabled for this account"},
    {21606, PROV_RETRY, "From number cannot send this message"},
    {21659, PROV_RETRY, "From is not a number of this account"},
    {21660, PROV_RETRY, "From does not belong to this account"},
    {30001, PROV_THROTTLED, "queue overflow"},
};

static int twilio_check_conf(const gw_provider_conf *conf, char *err, size_t errlen)
{
    if (conf->account_sid == NULL || conf->auth_token == NULL) {
        snprintf(err, errlen, "twilio needs account_sid and auth_token");
        return -1;
    }
    if (conf->sender == NULL) {
        snprintf(err, errlen, "twilio needs sender (a number of the account, or a "
                              "Messaging Service SID starting MG)");
        return -1;
    }
    return 0;
}

static int twilio_build_request(const gw_provider_conf *conf, const prov_msg *msg, prov_req *req,
                                prov_result *res)
{
    memset(req, 0, sizeof *req);
    if (conf->account_sid == NULL || conf->auth_token == NULL || conf->sender == NULL)
        return prov_build_failed(req, res, PROV_RETRY,
                                 "account without account_sid, auth_token or sender");
    size_t base_len;
    const char *base = prov_base_url(conf, &prov_twilio_ops, &base_len);
    prov_buf url = {0}, body = {0}, auth = {0};
    prov_buf_add(&url, base, base_len);
    prov_buf_puts(&url, "/2010-04-01/Accounts/");
    prov_buf_escape(&url, conf->account_sid, strlen(conf->account_sid));
    prov_buf_puts(&url, "/Messages.json");
    prov_buf_param(&body, "To", msg->to);
    if (strncmp(conf->sender, "MG", 2) == 0)
        prov_buf_param(&body, "MessagingServiceSid", conf->sender);
    else
        prov_buf_param(&body, "From", conf->sender);
    prov_buf_param_n(&body, "Body", msg->text, msg->text_len);
    if (msg->dlr_url != NULL)
        prov_buf_param_template(&body, "StatusCallback", msg->dlr_url,
                                msg->id != NULL ? msg->id : "");
    prov_buf_puts(&auth, conf->account_sid);
    prov_buf_add(&auth, ":", 1);
    prov_buf_puts(&auth, conf->auth_token);
    req->url = prov_buf_take(&url);
    req->body = prov_buf_take(&body);
    req->userpwd = prov_buf_take(&auth);
    if (req->url == NULL || req->body == NULL || req->userpwd == NULL ||
        prov_req_header(req, "Accept", "application/json") != 0 ||
        prov_req_header(req, "Content-Type", "application/x-www-form-urlencoded") != 0)
        return prov_build_failed(req, res, PROV_RETRY, "out of memory");
    prov_req_finish(req, "POST", conf);
    return 0;
}

static void twilio_parse_response(const gw_provider_conf *conf, const prov_msg *msg,
                                  const prov_http_response *resp, prov_result *res)
{
    (void)conf;
    (void)msg;
    if (!resp->ok) {
        prov_classify_no_answer(resp, res);
        return;
    }
    res->http_status = resp->status;
    long st = resp->status;
    json_t *root = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (st >= 200 && st < 300) {
        const char *sid = json_string_value(json_object_get(root, "sid"));
        if (sid != NULL && sid[0] != '\0') {
            const char *status = json_string_value(json_object_get(root, "status"));
            snprintf(res->carrier_id, sizeof res->carrier_id, "%s", sid);
            prov_result_set(res, PROV_ACCEPTED, "%s", status != NULL ? status : "");
        } else {
            prov_classify_status(resp, res);   /* 2xx we cannot read: UNKNOWN */
        }
        json_decref(root);
        return;
    }
    json_t *jcode = json_object_get(root, "code");
    const char *text = json_string_value(json_object_get(root, "message"));
    if (!json_is_integer(jcode) || st == 401 || st >= 500) {
        /* no Twilio error code, or a status that decides alone */
        prov_classify_status(resp, res);
        if (json_is_integer(jcode))
            prov_result_set(res, res->outcome, "HTTP %ld, error %lld: %s", st,
                            (long long)json_integer_value(jcode), text != NULL ? text : "");
        json_decref(root);
        return;
    }
    long code = (long)json_integer_value(jcode);
    prov_outcome outcome = st == 429 ? PROV_THROTTLED : PROV_PERMANENT;
    const char *why = NULL;
    for (size_t i = 0; i < sizeof twilio_codes / sizeof twilio_codes[0]; i++) {
        if (twilio_codes[i].code == code) {
            outcome = twilio_codes[i].outcome;
            why = twilio_codes[i].why;
        }
    }
    if (outcome == PROV_PERMANENT && (st < 400 || st >= 500))
        outcome = PROV_RETRY;   /* a code on an odd status: do not give up on it */
    const char *detail = text != NULL ? text : why != NULL ? why : "";
    if (outcome == PROV_THROTTLED)
        prov_result_throttled(res, resp, "HTTP %ld, error %ld: %s", st, code, detail);
    else
        prov_result_set(res, outcome, "HTTP %ld, error %ld: %s", st, code, detail);
    res->recipient_blocked = code == 21610;     /* the recipient replied STOP to Twilio */
    json_decref(root);
}

const prov_ops prov_twilio_ops = {
    .type = "twilio",
    .default_base_url = TWILIO_DEFAULT_BASE,
    .build_request = twilio_build_request,
    .parse_response = twilio_parse_response,
    .deliver_local = NULL,
    .max_recipients = 1,
    .build_batch = NULL,
    .parse_batch = NULL,
    .check_conf = twilio_check_conf,
};
