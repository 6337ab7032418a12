/* prov_kannel.c - Kannel's smsbox sendsms interface (the carriers' SMPP
 * links in China are reached through a Kannel of our own).
 *
 * Request: GET {base}/cgi-bin/sendsms?username=&password=&from=&to=&text=
 * &charset=UTF-8&coding=0|2, plus dlr-mask=31&dlr-url=... when the message
 * has a dlr_url ("%i" in it becomes our id; Kannel fills its own codes such
 * as %d). base_url is required: Kannel has no public address. The text goes
 * as UTF-8 and Kannel converts it: coding=0 for GSM-7, coding=2 for UCS-2.
 * The number goes as E.164 with its '+' (sent as %2B; a bare '+' would be a
 * space, Kannel's separator between receivers): '+' is among smsbox's
 * default sendsms-chars and the SMPP driver turns it into an international
 * TON. Long texts need max-messages and concatenation in the sendsms-user.
 *
 * Answers: 202 "0: Accepted for delivery" or "3: Queued for later delivery"
 * (or "Sent." with immediate-sendsms-reply) are accepted; Kannel gives no
 * message id, so carrier_id is our id (its delivery reports come back to
 * dlr-url with it). 403 "Authorization failed for sendsms" is a retry (this
 * account's credentials), 403 "Not routable. Do not try again." permanent;
 * 400 "... rejected" permanent, except "Sender missing" (the account lacks a
 * sender); 503 "Temporal failure, try again later." and 500 "Sending
 * failed." a retry; 503 that says it is throttled, or has Retry-After, and
 * 429 a throttle.
 *
 * Pure functions of their arguments: no I/O here (prov.c sends). */
#include <stdio.h>
#include <string.h>

#include "prov_internal.h"

/* Kannel's delivery-report mask: delivered, undelivered, queued on the
 * SMSC, delivered to it, rejected by it. */
#define KANNEL_DLR_MASK "31"

static int kannel_check_conf(const gw_provider_conf *conf, char *err, size_t errlen)
{
    if (conf->base_url == NULL) {
        snprintf(err, errlen, "kannel needs base_url (Kannel's sendsms address, e.g. "
                              "http://127.0.0.1:13013)");
        return -1;
    }
    if (conf->username == NULL || conf->password == NULL) {
        snprintf(err, errlen, "kannel needs username and password");
        return -1;
    }
    return 0;
}

static int kannel_build_request(const gw_provider_conf *conf, const prov_msg *msg, prov_req *req,
                                prov_result *res)
{
    memset(req, 0, sizeof *req);
    if (conf->base_url == NULL || conf->username == NULL || conf->password == NULL)
        return prov_build_failed(req, res, PROV_RETRY,
                                 "account without base_url, username or password");
    size_t base_len;
    const char *base = prov_base_url(conf, &prov_kannel_ops, &base_len);
    prov_buf url = {0};
    prov_buf_add(&url, base, base_len);
    prov_buf_puts(&url, "/cgi-bin/sendsms?");
    prov_buf_param(&url, "username", conf->username);
    prov_buf_param(&url, "password", conf->password);
    if (conf->sender != NULL)
        prov_buf_param(&url, "from", conf->sender);
    prov_buf_param(&url, "to", msg->to);
    prov_buf_param_n(&url, "text", msg->text, msg->text_len);
    prov_buf_param(&url, "charset", "UTF-8");
    prov_buf_param(&url, "coding", msg->ucs2 ? "2" : "0");
    if (msg->dlr_url != NULL) {
        prov_buf_param(&url, "dlr-mask", KANNEL_DLR_MASK);
        prov_buf_param_template(&url, "dlr-url", msg->dlr_url, msg->id != NULL ? msg->id : "");
    }
    req->url = prov_buf_take(&url);
    if (req->url == NULL)
        return prov_build_failed(req, res, PROV_RETRY, "out of memory");
    prov_req_finish(req, "GET", conf);
    return 0;
}

static void kannel_parse_response(const gw_provider_conf *conf, const prov_msg *msg,
                                  const prov_http_response *resp, prov_result *res)
{
    (void)conf;
    if (!resp->ok) {
        prov_classify_no_answer(resp, res);
        return;
    }
    res->http_status = resp->status;
    long st = resp->status;
    char text[96];
    prov_body_excerpt(resp->body, resp->body_len, text, sizeof text);
    if (st >= 200 && st < 300) {
        if (strncmp(text, "0:", 2) == 0 || strncmp(text, "3:", 2) == 0 ||
            strncmp(text, "Sent", 4) == 0) {
            snprintf(res->carrier_id, sizeof res->carrier_id, "%s",
                     msg->id != NULL ? msg->id : "");
            prov_result_set(res, PROV_ACCEPTED, "%s", text);
        } else {
            prov_classify_status(resp, res);   /* 2xx we cannot read: UNKNOWN */
        }
    } else if (st == 403 && strcasestr(text, "Authorization failed") != NULL) {
        prov_result_set(res, PROV_RETRY, "HTTP 403, check username and password: %s", text);
    } else if (st == 403 && strcasestr(text, "Not routable") != NULL) {
        prov_result_set(res, PROV_PERMANENT, "HTTP 403: %s", text);
    } else if (st == 400 && strcasestr(text, "Sender missing") != NULL) {
        prov_result_set(res, PROV_RETRY, "HTTP 400, the account needs a sender: %s", text);
    } else if (st == 503 && (strcasestr(text, "throttl") != NULL ||
                             strcasestr(text, "queue full") != NULL)) {
        prov_result_throttled(res, resp, "HTTP 503: %s", text);
    } else {
        prov_classify_status(resp, res);
    }
}

const prov_ops prov_kannel_ops = {
    .type = "kannel",
    .default_base_url = NULL,
    .build_request = kannel_build_request,
    .parse_response = kannel_parse_response,
    .deliver_local = NULL,
    .max_recipients = 1,
    .build_batch = NULL,
    .parse_batch = NULL,
    .check_conf = kannel_check_conf,
};
