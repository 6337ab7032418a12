/* gw_dlr.c - delivery reports from the carriers (SPEC.md, Carrier-facing
 * endpoints):
 *
 *   POST /dlr/africastalking   form id, status (Success | Sent | Submitted | Buffered |
 *                              Rejected | Failed | Expired ...), failureReason
 *   POST /dlr/twilio           form MessageSid, MessageStatus, ErrorCode (signed as the
 *                              inbound callbacks are)
 *   GET  /dlr/kannel           account, id (our message id), status (Kannel's %d:
 *                              1 delivered, 2 failed, 4 buffered, 8 submitted, 16 rejected)
 *
 * Each report is mapped to sent, delivered or failed and applied by q_dlr,
 * which finds the message through the carrier-id index (the ids normalised)
 * and moves its status forward only. A report for no known message (it came
 * before the message's record, or long after) is counted, not an error: the
 * carrier gets 200 either way, so it does not send it again and again.
 * Runs on the daemon's loop. */
#include "gw_dlr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_config.h"
#include "gw_form.h"
#include "gw_http.h"
#include "gw_inbound.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "q.h"

#define ACCOUNTS_MAX 16

struct gw_dlr {
    const gw_config *cfg;
    q *queue;
};

typedef struct dlr_req {
    gw_http_req *req;
    const char *dialect;
    char state[12];
} dlr_req;

/* ---- applying ---- */

static void on_applied(q *q, const char *id, const char *result, void *arg)
{
    (void)q;
    dlr_req *d = arg;
    if (result == NULL) {
        gw_http_error(d->req, 503, "unavailable", "try again later");
    } else {
        gw_metrics_dlr(d->dialect, strcmp(result, "unmatched") == 0 ? "unmatched" : d->state);
        if (strcmp(result, "applied") != 0)
            gw_debug("dlr", "%s report (%s) for message %s: %s", d->dialect, d->state,
                     id[0] != '\0' ? id : "?", result);
        gw_http_reply(d->req, 200, "text/plain; charset=utf-8", "", 0);
    }
    free(d);
}

/* Applies a report of carrier DIALECT about carrier id CID (for ACCOUNT, or
 * every account of the carrier when NULL). */
static void apply(gw_dlr *g, gw_http_req *req, const char *dialect, const char *account,
                  const char *cid, const char *state, const char *reason)
{
    const char *accounts[ACCOUNTS_MAX];
    size_t n = 0;
    for (const gw_provider_conf *p = g->cfg->providers; p != NULL && n < ACCOUNTS_MAX;
         p = p->next)
        if (strcmp(p->type, dialect) == 0 && (account == NULL || strcmp(p->name, account) == 0))
            accounts[n++] = p->name;
    if (n == 0) {
        gw_metrics_dlr(dialect, "unmatched");
        gw_http_reply(req, 200, "text/plain; charset=utf-8", "", 0);
        return;
    }
    dlr_req *d = calloc(1, sizeof *d);
    if (d == NULL) {
        gw_http_error(req, 503, "overloaded", "out of memory");
        return;
    }
    d->req = req;
    d->dialect = dialect;
    snprintf(d->state, sizeof d->state, "%s", state);
    if (q_dlr(g->queue, accounts, n, cid, state, reason != NULL ? reason : "", on_applied, d) !=
        0) {
        free(d);
        gw_http_error(req, 503, "unavailable", "try again later");
    }
}

static gw_form *read_form(gw_http_req *req, const char *body, size_t len)
{
    char err[128];
    gw_form *f = gw_form_parse(body, len, err, sizeof err);
    if (f == NULL)
        gw_http_error(req, 400, "bad_form", err);
    return f;
}

static void handle_at(gw_http_req *req, void *arg)
{
    if (gw_http_method(req) != GW_HTTP_POST) {
        gw_http_error(req, 405, "method_not_allowed", "use POST");
        return;
    }
    size_t len;
    const char *body = gw_http_body(req, &len);
    gw_form *f = read_form(req, body, len);
    if (f == NULL)
        return;
    const char *id = gw_form_get(f, "id");
    const char *state = gw_dlr_state("africastalking", gw_form_get(f, "status"));
    if (id == NULL || id[0] == '\0' || state == NULL)
        gw_http_error(req, 400, "bad_request", "id and a known status are required");
    else
        apply(arg, req, "africastalking", NULL, id, state, gw_form_get(f, "failureReason"));
    gw_form_free(f);
}

static void handle_twilio(gw_http_req *req, void *arg)
{
    gw_dlr *g = arg;
    if (gw_http_method(req) != GW_HTTP_POST) {
        gw_http_error(req, 405, "method_not_allowed", "use POST");
        return;
    }
    size_t len;
    const char *body = gw_http_body(req, &len);
    gw_form *f = read_form(req, body, len);
    if (f == NULL)
        return;
    const char *sid = gw_form_get(f, "MessageSid");
    const char *state = gw_dlr_state("twilio", gw_form_get(f, "MessageStatus"));
    if (!gw_twilio_request_ok(g->cfg, req, f)) {
        gw_http_error(req, 403, "bad_signature", "X-Twilio-Signature does not match");
    } else if (sid == NULL || sid[0] == '\0' || state == NULL) {
        gw_http_error(req, 400, "bad_request", "MessageSid and a known MessageStatus are required");
    } else {
        const char *code = gw_form_get(f, "ErrorCode");
        char reason[64] = "";
        if (code != NULL && code[0] != '\0')
            snprintf(reason, sizeof reason, "error %.40s", code);
        apply(g, req, "twilio", NULL, sid, state, reason);
    }
    gw_form_free(f);
}

static void handle_kannel(gw_http_req *req, void *arg)
{
    if (gw_http_method(req) != GW_HTTP_GET) {
        gw_http_error(req, 405, "method_not_allowed", "use GET");
        return;
    }
    const char *query = gw_http_query(req);
    gw_form *f = read_form(req, query, strlen(query));
    if (f == NULL)
        return;
    const char *id = gw_form_get(f, "id");
    const char *state = gw_dlr_state("kannel", gw_form_get(f, "status"));
    if (id == NULL || id[0] == '\0' || state == NULL)
        gw_http_error(req, 400, "bad_request", "id and a known status (%d) are required");
    else
        apply(arg, req, "kannel", gw_form_get(f, "account"), id, state, NULL);
    gw_form_free(f);
}

/* ---- set-up ---- */

gw_dlr *gw_dlr_new(const gw_config *cfg, q *queue)
{
    gw_dlr *g = calloc(1, sizeof *g);
    if (g != NULL) {
        g->cfg = cfg;
        g->queue = queue;
    }
    return g;
}

int gw_dlr_register(gw_dlr *g, gw_http *carrier)
{
    if (gw_http_route(carrier, "/dlr/africastalking", handle_at, g) != 0 ||
        gw_http_route(carrier, "/dlr/twilio", handle_twilio, g) != 0 ||
        gw_http_route(carrier, "/dlr/kannel", handle_kannel, g) != 0)
        return -1;
    return 0;
}

void gw_dlr_free(gw_dlr *g)
{
    free(g);
}
