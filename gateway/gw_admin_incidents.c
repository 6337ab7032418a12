/* gw_admin_incidents.c - mutual-aid incidents registered by staff.
 *
 *   POST /v1/incidents {"participant_id", "kind": "accident"|"critical_illness",
 *                       "occurred_on": "YYYY-MM-DD"[, "reported_on": "YYYY-MM-DD"]}
 *        -> 201 {"reference", "deadline", "participant_id", "kind", "occurred_on",
 *                "state": "open", "created": true, "reminders": N}
 *
 * The same kind and date again is the same incident: 200 with its state
 * ("open", or "reported" by the member) and "created": false. When the
 * window reaches a year with no business calendar loaded, the answer has a
 * "warning": its deadline counts only weekends as rest days. "reminders"
 * says how many were queued for the member (at once, the eve, the last
 * day; a new incident only); when they may not reach the member (no phone,
 * opted out, past or near the end of the SMS hours of the last day) the
 * "warning" says so, for staff to tell them, also when registered again.
 * With "reported_on" staff register an incident the member has already
 * reported another way (a paper form at the township office, typed in
 * later): it is stored as reported on that day (state "reported",
 * "reported_on"; 201 new, 200 one registered before, whose reminders stop),
 * judged on that day as the member's own report would be: after the
 * deadline 422 window_closed (with the "deadline" that passed), before the
 * incident 422 before_incident.
 *
 *   GET  /v1/incidents/{reference}
 *        -> 200 {"reference", "participant_id", "kind", "occurred_on", "deadline",
 *                "window_closed" (today is past the deadline), "state", "channel",
 *                "registered_at"[, "reported_on", "reported_at", "reported_channel"]}
 *   POST /v1/incidents/{reference}/report    (no body, or {"reported_on":
 *                                               "YYYY-MM-DD"}, default today)
 *        -> 200 the same, "state": "reported", "reported_on", and "changed":
 *           true, or false when it was reported already
 *
 * The report is staff recording that the member reported the claim
 * another way (at the office, by telephone), so the reminders stop; it
 * follows the member's rules (gw_incident_report), judged on the day the
 * member reported: after the deadline it is refused, 422 window_closed
 * (with its "deadline"); a report made by the deadline and typed in later
 * gives its "reported_on".
 * A reference is matched without regard to case ("ba20261201-000001"
 * finds BA20261201-000001); an unknown one is 404.
 *
 * The rules and the storage are gw_incident's (gw_incident.h): this file
 * reads the request and turns the answer into HTTP. A bad body, kind or
 * date is 400; an unknown participant is 404; one who is not a mutual-aid
 * member, a date in the future, or a window that has already closed is 422
 * saying so (with the deadline it had); Redis unreachable is 503. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gw_admin_internal.h"
#include "gw_calendar.h"
#include "gw_format.h"
#include "gw_incident.h"

/* One request waiting for gw_incident's answer. */
typedef struct incident_req {
    gw_admin *a;
    gw_http_req *req;
    char pid[GW_PID_MAX];
    gw_incident_kind kind;
    gw_date occurred;
    gw_date reported_on;          /* "reported_on" given; else {0, 0, 0} */
} incident_req;

static void fmt_date(gw_date d, char *out, size_t cap)
{
    snprintf(out, cap, "%04d-%02d-%02d", d.y, d.m, d.d);
}

/* Why the gateway's reminders may not reach the member, for staff to tell
 * them themselves (into OUT), or "" . */
static void unreminded_why(const gw_incident_plan *plan, gw_date deadline, char *out,
                           size_t cap)
{
    char due[40];
    fmt_date(deadline, due, sizeof due);
    out[0] = '\0';
    if (plan == NULL)
        return;
    if (plan->no_phone)
        snprintf(out, cap, "the member has no phone in the roster: no SMS can reach them; "
                 "tell them the claim must be reported by %s", due);
    else if (plan->opted_out)
        snprintf(out, cap, "the member's phone has opted out of reminders: no SMS will go; "
                 "tell them the claim must be reported by %s", due);
    else if (plan->reminders == 0)
        snprintf(out, cap, "it is past the SMS hours of %s, the last day to report: no SMS "
                 "will go; tell the member today (USSD takes the report until midnight)", due);
    else if (plan->late)
        snprintf(out, cap, "%s is the last day to report and its SMS hours end within the "
                 "hour: the reminder may not go in time; tell the member today", due);
}

/* A date of report before the incident. */
static void before_incident(gw_http_req *req)
{
    gw_http_error(req, 422, "before_incident", "\"reported_on\" is before the incident occurred");
}

/* 422 window_closed: the error, its message and the deadline that passed
 * ("deadline": "YYYY-MM-DD"), for a client to show without parsing. */
static void window_closed(gw_http_req *req, const char *msg, const char *deadline)
{
    gw_http_reply_json(req, 422, json_pack("{s:s, s:s, s:s}", "error", "window_closed",
                                           "message", msg, "deadline", deadline));
}

static void on_registered(gw_incidents *inc, gw_incident_result result, const char *reference,
                          gw_date deadline, const gw_incident_plan *plan, void *arg)
{
    (void)inc;
    incident_req *in = arg;
    char msg[200], occurred[40], due[40];    /* room for any int: no truncation */
    fmt_date(in->occurred, occurred, sizeof occurred);
    fmt_date(deadline, due, sizeof due);
    switch (result) {
    case GW_INCIDENT_REGISTERED:
    case GW_INCIDENT_ALREADY_REGISTERED:
    case GW_INCIDENT_ALREADY_REPORTED:
    case GW_INCIDENT_REPORTED:
    case GW_INCIDENT_REPORTED_NEW:
    {
        /* 201 for a new incident; the same kind and date again is the same
         * incident (200), with its state. REPORTED: registered with the day
         * the member reported it ("reported_on"). */
        int created = result == GW_INCIDENT_REGISTERED || result == GW_INCIDENT_REPORTED_NEW;
        int now_reported = result == GW_INCIDENT_REPORTED || result == GW_INCIDENT_REPORTED_NEW;
        json_t *ans = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "reference", reference,
                                "deadline", due, "participant_id", in->pid, "kind",
                                gw_incident_kind_name(in->kind), "occurred_on", occurred,
                                "state", now_reported || result == GW_INCIDENT_ALREADY_REPORTED
                                             ? "reported" : "open",
                                "created", created);
        if (ans != NULL && now_reported) {
            char on[40];
            fmt_date(in->reported_on, on, sizeof on);
            json_object_set_new(ans, "reported_on", json_string(on));
            json_object_set_new(ans, "reported_channel", json_string("admin"));
        }
        const gw_calendar *cal = in->a->calendar != NULL ? *in->a->calendar : NULL;
        msg[0] = '\0';
        /* the years the deadline was judged in: from the date the days end
         * on (calendar days) to the working day it moved to */
        gw_date end = gw_date_add_days(in->occurred, gw_incident_window_days(in->a->cfg,
                                                                             in->kind));
        for (int y = end.y < deadline.y ? end.y : deadline.y; y <= deadline.y; y++) {
            if (cal != NULL && gw_calendar_has_year(cal, y))
                continue;
            snprintf(msg, sizeof msg, "no business calendar for %d is loaded: this deadline "
                     "counts only Saturdays and Sundays as rest days (add "
                     "ops/calendars/CN-%d.tsv and reload)", y, y);
            break;
        }
        char why[240];
        unreminded_why(plan, deadline, why, sizeof why);
        if (ans != NULL && plan != NULL && plan->reminders >= 0)
            json_object_set_new(ans, "reminders", json_integer(plan->reminders));
        if (ans != NULL && plan != NULL && plan->opted_out)
            json_object_set_new(ans, "opted_out", json_true());   /* they will not go */
        if (ans != NULL && (msg[0] != '\0' || why[0] != '\0')) {
            char both[sizeof msg + sizeof why + 2];
            snprintf(both, sizeof both, "%s%s%s", msg, msg[0] != '\0' && why[0] != '\0' ? "; " : "",
                     why);
            json_object_set_new(ans, "warning", json_string(both));
        }
        gw_http_reply_json(in->req, created ? 201 : 200, ans);
        break;
    }
    case GW_INCIDENT_BEFORE_INCIDENT:
        before_incident(in->req);
        break;
    case GW_INCIDENT_UNKNOWN_PARTICIPANT:
        snprintf(msg, sizeof msg, "no participant with id \"%s\"", in->pid);
        gw_http_error(in->req, 404, "unknown_participant", msg);
        break;
    case GW_INCIDENT_NOT_MEMBER:
        snprintf(msg, sizeof msg, "%s is not a mutual-aid member: there is no claim to report",
                 in->pid);
        gw_http_error(in->req, 422, "not_a_member", msg);
        break;
    case GW_INCIDENT_FUTURE_DATE:
        gw_http_error(in->req, 422, "future_date", "\"occurred_on\" is after today");
        break;
    case GW_INCIDENT_WINDOW_CLOSED:
        if (in->reported_on.y != 0)
            snprintf(msg, sizeof msg, "the report window closed on %s: a report made after it "
                     "does not count", due);
        else
            snprintf(msg, sizeof msg, "the report window closed on %s (a report the member "
                     "made by then: give its date as \"reported_on\")", due);
        window_closed(in->req, msg, due);
        break;
    default:
        gw_http_error(in->req, 503, "redis_unavailable", "the incident was not stored");
        break;
    }
    free(in);
}

/* The optional "reported_on" of ROOT (the day the member reported the
 * claim; a real date, not after today): 1 with *ON set ({0, 0, 0} when
 * absent), or 0 after answering 400 or 422. */
static int reported_on_of(gw_http_req *req, const json_t *root, gw_date *on)
{
    const json_t *v = json_object_get(root, "reported_on");
    const char *ymd = json_string_value(v);
    *on = (gw_date){0, 0, 0};
    if (v == NULL)
        return 1;
    if (ymd == NULL || gw_date_parse(ymd, &on->y, &on->m, &on->d) != 0)
        gw_http_error(req, 400, "bad_date", "\"reported_on\" must be a real date, YYYY-MM-DD");
    else if (gw_date_cmp(*on, gw_incident_today()) > 0)
        gw_http_error(req, 422, "future_date", "\"reported_on\" is after today");
    else
        return 1;
    return 0;
}

static void handle_incidents(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_post(a, req))
        return;
    size_t len;
    const char *body = gw_http_body(req, &len);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *pid = json_string_value(json_object_get(root, "participant_id"));
    const char *on = json_string_value(json_object_get(root, "occurred_on"));
    gw_incident_kind kind;
    gw_date occurred, reported;
    incident_req *in = NULL;
    static const char *const known[] = {"participant_id", "kind", "occurred_on", "reported_on"};
    if (root == NULL) {
        char msg[256];
        snprintf(msg, sizeof msg, "the body must be a JSON object: %s", jerr.text);
        gw_http_error(req, 400, "bad_json", msg);
    } else if (!json_is_object(root) || pid == NULL || pid[0] == '\0' ||
               strlen(pid) >= GW_PID_MAX) {
        gw_http_error(req, 400, "bad_request",
                      "send {\"participant_id\", \"kind\", \"occurred_on\": \"YYYY-MM-DD\"}");
    } else if (!gw_admin_fields_known(req, root, known, sizeof known / sizeof known[0])) {
        /* answered: a misspelt field is not ignored */
    } else if (gw_incident_kind_parse(json_string_value(json_object_get(root, "kind")),
                                      &kind) != 0) {
        gw_http_error(req, 400, "bad_kind", "\"kind\" is \"accident\" or \"critical_illness\"");
    } else if (on == NULL || gw_date_parse(on, &occurred.y, &occurred.m, &occurred.d) != 0) {
        gw_http_error(req, 400, "bad_date", "\"occurred_on\" must be a real date, YYYY-MM-DD");
    } else if (!reported_on_of(req, root, &reported)) {
        /* answered */
    } else if (a->incidents == NULL) {
        gw_http_error(req, 503, "unavailable", "incidents are not set up in this daemon");
    } else if ((in = calloc(1, sizeof *in)) == NULL) {
        gw_http_error(req, 503, "overloaded", "out of memory");
    } else {
        in->a = a;
        in->req = req;
        snprintf(in->pid, sizeof in->pid, "%s", pid);
        in->kind = kind;
        in->occurred = occurred;
        in->reported_on = reported;
        if (gw_incident_register(a->incidents, in->pid, kind, occurred,
                                 reported.y != 0 ? &reported : NULL, on_registered, in) != 0) {
            free(in);
            gw_http_error(req, 503, "redis_unavailable", "the incident was not stored");
        }
    }
    json_decref(root);
}

/* ---- one incident, by reference ---- */

/* INFO as the API shows it (NULL on OOM). */
static json_t *info_json(const gw_incident_info *info)
{
    char occurred[40], due[40], registered[40], reported[40];
    fmt_date(info->occurred, occurred, sizeof occurred);
    fmt_date(info->deadline, due, sizeof due);
    gw_admin_time(info->registered_ms, registered, sizeof registered);
    json_t *ans = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "reference",
                            info->reference, "participant_id", info->pid, "kind",
                            gw_incident_kind_name(info->kind), "occurred_on", occurred,
                            "deadline", due, "window_closed",
                            gw_date_cmp(gw_incident_today(), info->deadline) > 0,
                            "state", info->state, "channel", info->channel,
                            "registered_at", registered);
    if (ans != NULL && info->reported_ms > 0) {
        gw_admin_time(info->reported_ms, reported, sizeof reported);
        json_object_set_new(ans, "reported_at", json_string(reported));
        json_object_set_new(ans, "reported_channel", json_string(info->reported_channel));
    }
    if (ans != NULL && info->reported_on.y != 0) {
        fmt_date(info->reported_on, reported, sizeof reported);
        json_object_set_new(ans, "reported_on", json_string(reported));
    }
    return ans;
}

static void on_info(gw_incidents *inc, int status, const gw_incident_info *info, void *arg)
{
    (void)inc;
    gw_http_req *req = arg;
    if (status > 0)
        gw_http_error(req, 404, "not_found", "no incident has this reference");
    else if (status == -2)
        gw_http_error(req, 500, "internal", "the incident's record is damaged");
    else if (status < 0)
        gw_http_error(req, 503, "redis_unavailable", "the incident could not be read");
    else
        gw_http_reply_json(req, 200, info_json(info));
}

/* A staff mark waiting for its answer. */
typedef struct mark_req {
    gw_http_req *req;
    char reference[GW_INCIDENT_REF_MAX];
    char deadline[40];
    int changed;                  /* 1 reported now, 0 it was already */
    int has_on;                   /* "reported_on" was given */
} mark_req;

/* The mark is stored: answers with the incident as it is now, or, when it
 * cannot be read back, with what the mark said. */
static void reply_marked(mark_req *m, const gw_incident_info *info)
{
    json_t *ans = info != NULL
                      ? info_json(info)
                      : json_pack("{s:s, s:s, s:s}", "reference", m->reference, "deadline",
                                  m->deadline, "state", "reported");
    if (ans != NULL)
        json_object_set_new(ans, "changed", json_boolean(m->changed));
    gw_http_reply_json(m->req, 200, ans);
    free(m);
}

static void on_marked_info(gw_incidents *inc, int status, const gw_incident_info *info,
                           void *arg)
{
    (void)inc;
    reply_marked(arg, status == 0 ? info : NULL);
}

static void on_marked(gw_incidents *inc, gw_incident_result result, const char *reference,
                      gw_date deadline, const gw_incident_plan *plan, void *arg)
{
    (void)reference;
    (void)plan;
    mark_req *m = arg;
    char msg[200], due[40];
    fmt_date(deadline, due, sizeof due);
    switch (result) {
    case GW_INCIDENT_REPORTED_NEW:
        gw_http_error(m->req, 500, "internal", "the incident's participant does not list it "
                      "(a damaged record): a new incident was stored as reported");
        break;
    case GW_INCIDENT_REPORTED:
    case GW_INCIDENT_ALREADY_REPORTED:
        m->changed = result == GW_INCIDENT_REPORTED;
        snprintf(m->deadline, sizeof m->deadline, "%s", due);
        if (gw_incident_get(inc, m->reference, on_marked_info, m) != 0)
            reply_marked(m, NULL);
        return;
    case GW_INCIDENT_UNKNOWN_REFERENCE:
        gw_http_error(m->req, 404, "not_found", "no incident has this reference");
        break;
    case GW_INCIDENT_BEFORE_INCIDENT:
        before_incident(m->req);
        break;
    case GW_INCIDENT_WINDOW_CLOSED:
        snprintf(msg, sizeof msg, "the report window closed on %s: a report made after it "
                 "does not count%s", due, m->has_on ? "" : " (one made by then: give its date "
                                                          "as \"reported_on\")");
        window_closed(m->req, msg, due);
        break;
    default:
        gw_http_error(m->req, 503, "redis_unavailable", "the report was not stored");
        break;
    }
    free(m);
}

/* The report's optional body {"reported_on": "YYYY-MM-DD"} (the day the
 * member reported; not after today): 1 with *ON and *HAS_ON set, or 0 after
 * answering 400 or 422. */
static int report_date(gw_http_req *req, gw_date *on, int *has_on)
{
    size_t len;
    const char *body = gw_http_body(req, &len);
    *has_on = 0;
    if (body == NULL || len == 0)
        return 1;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    static const char *const known[] = {"reported_on"};
    int ok = 0;
    if (!json_is_object(root))
        gw_http_error(req, 400, "bad_request", "send no body, or {\"reported_on\": "
                      "\"YYYY-MM-DD\"}: the day the member reported the claim");
    else if (!gw_admin_fields_known(req, root, known, 1)) {
        /* answered: a misspelt field is not ignored */
    } else
        ok = reported_on_of(req, root, on);
    *has_on = ok && on->y != 0;
    json_decref(root);
    return ok;
}

static void handle_incident(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_auth(a, req))
        return;
    const char *rest = gw_http_path(req) + strlen("/v1/incidents/");
    char ref[GW_INCIDENT_REF_MAX];
    size_t n = 0;
    for (; n < sizeof ref - 1 && (isalnum((unsigned char)rest[n]) || rest[n] == '-'); n++)
        ref[n] = (char)toupper((unsigned char)rest[n]);
    ref[n] = '\0';
    int report = strcmp(rest + n, "/report") == 0;
    if (n == 0 || (rest[n] != '\0' && !report)) {
        gw_http_error(req, 404, "not_found", "/v1/incidents/REFERENCE or "
                      "/v1/incidents/REFERENCE/report (a reference is letters, digits and "
                      "'-', as BA20261201-000001)");
        return;
    }
    if (report != (gw_http_method(req) == GW_HTTP_POST) ||
        (!report && gw_http_method(req) != GW_HTTP_GET)) {
        gw_http_error(req, 405, "method_not_allowed",
                      report ? "use POST to record the report" : "use GET");
        return;
    }
    if (a->incidents == NULL) {
        gw_http_error(req, 503, "unavailable", "incidents are not set up in this daemon");
        return;
    }
    if (!report) {
        if (gw_incident_get(a->incidents, ref, on_info, req) != 0)
            gw_http_error(req, 503, "redis_unavailable", "Redis is not reachable");
        return;
    }
    gw_date on;
    int has_on = 0;
    if (!report_date(req, &on, &has_on))
        return;
    mark_req *m = calloc(1, sizeof *m);
    if (m == NULL) {
        gw_http_error(req, 503, "overloaded", "out of memory");
        return;
    }
    m->req = req;
    m->has_on = has_on;
    snprintf(m->reference, sizeof m->reference, "%s", ref);
    if (gw_incident_mark_reported(a->incidents, ref, has_on ? &on : NULL, on_marked, m) != 0) {
        free(m);
        gw_http_error(req, 503, "redis_unavailable", "Redis is not reachable");
    }
}

int gw_admin_incidents_register(gw_admin *a, gw_http *admin)
{
    if (gw_http_route(admin, "/v1/incidents", handle_incidents, a) != 0 ||
        gw_http_route(admin, "/v1/incidents/", handle_incident, a) != 0)
        return -1;
    return 0;
}
