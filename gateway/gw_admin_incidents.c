/* gw_admin_incidents.c - mutual-aid incidents registered by staff.
 *
 *   POST /v1/incidents {"participant_id", "kind": "accident"|"critical_illness",
 *                       "occurred_on": "YYYY-MM-DD"}
 *        -> 201 {"reference", "deadline", "participant_id", "kind", "occurred_on"}
 *
 * The deadline is the date plus [claims] accident_days or
 * critical_illness_days, moved to the next working day when it falls on a
 * rest day of the business calendar. An unknown participant is 404; one who
 * is not a mutual-aid member, a date in the future, or a window that has
 * already closed is 422 saying so (with the deadline it had).
 * An incident is the hash gw:inc:REFERENCE (participant, kind, occurred_on,
 * deadline, registered_ms, channel, state "open"), listed in
 * gw:{p:ID}:incidents; references are "BA" + the occurrence date + a
 * sequence number ("BA20260928-000017"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gw_admin_internal.h"
#include "gw_calendar.h"
#include "gw_clock.h"
#include "gw_format.h"
#include "gw_log.h"
#include "gw_records.h"

typedef struct incident_req {
    gw_admin *a;
    gw_http_req *req;
    char pid[GW_PID_MAX];
    char kind[24];
    gw_date occurred, deadline;
    char reference[40];
} incident_req;

static void fmt_date(gw_date d, char *out, size_t cap)
{
    snprintf(out, cap, "%04d-%02d-%02d", d.y, d.m, d.d);
}

/* Today in the configured time zone (the process runs with TZ set to it). */
static gw_date today(void)
{
    time_t now = (time_t)(gw_clock_now_ms() / 1000);
    struct tm tm;
    localtime_r(&now, &tm);
    return (gw_date){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

static void on_stored(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    incident_req *in = arg;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        gw_http_error(in->req, 503, "redis_unavailable", "the incident was not stored");
    } else {
        char occurred[16], deadline[16];
        fmt_date(in->occurred, occurred, sizeof occurred);
        fmt_date(in->deadline, deadline, sizeof deadline);
        gw_info("incidents", "%s: %s of %s on %s, report by %s", in->reference, in->kind,
                in->pid, occurred, deadline);
        gw_http_reply_json(in->req, 201,
                           json_pack("{s:s, s:s, s:s, s:s, s:s}", "reference", in->reference,
                                     "deadline", deadline, "participant_id", in->pid, "kind",
                                     in->kind, "occurred_on", occurred));
    }
    free(in);
}

static void on_sequence(gw_redis *r, redisReply *reply, void *arg)
{
    incident_req *in = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        gw_http_error(in->req, 503, "redis_unavailable", "the incident was not stored");
        free(in);
        return;
    }
    snprintf(in->reference, sizeof in->reference, "BA%04d%02d%02d-%06lld", in->occurred.y,
             in->occurred.m, in->occurred.d, (long long)reply->integer);
    char key[64], list[GW_PID_MAX + 32], occurred[16], deadline[16], ms[24];
    snprintf(key, sizeof key, "gw:inc:%s", in->reference);
    snprintf(list, sizeof list, "gw:{p:%s}:incidents", in->pid);
    fmt_date(in->occurred, occurred, sizeof occurred);
    fmt_date(in->deadline, deadline, sizeof deadline);
    snprintf(ms, sizeof ms, "%" PRId64, gw_clock_now_ms());
    const char *hset[] = {"HSET", key, "participant", in->pid, "kind", in->kind, "occurred_on",
                          occurred, "deadline", deadline, "registered_ms", ms, "channel",
                          "admin", "state", "open"};
    const char *sadd[] = {"SADD", list, in->reference};
    if (gw_redis_argv(r, NULL, NULL, 3, sadd, NULL) != 0 ||
        gw_redis_argv(r, on_stored, in, 16, hset, NULL) != 0) {
        gw_http_error(in->req, 503, "redis_unavailable", "the incident was not stored");
        free(in);
    }
}

static void on_participant(int status, const gw_participant *list, size_t n, void *arg)
{
    incident_req *in = arg;
    char msg[200], deadline[16];
    if (status != 0) {
        gw_http_error(in->req, 503, "redis_unavailable", "the roster is not reachable");
    } else if (n == 0) {
        snprintf(msg, sizeof msg, "no participant with id \"%s\"", in->pid);
        gw_http_error(in->req, 404, "unknown_participant", msg);
    } else if (!list[0].mutual_aid_member) {
        snprintf(msg, sizeof msg, "%s is not a mutual-aid member: there is no claim to report",
                 in->pid);
        gw_http_error(in->req, 422, "not_a_member", msg);
    } else if (gw_date_cmp(in->deadline, today()) < 0) {
        fmt_date(in->deadline, deadline, sizeof deadline);
        snprintf(msg, sizeof msg, "the report window closed on %s", deadline);
        gw_http_error(in->req, 422, "window_closed", msg);
    } else {
        if (gw_redis_command(in->a->redis, on_sequence, in, "INCR gw:inc:seq") == 0)
            return;
        gw_http_error(in->req, 503, "redis_unavailable", "the incident was not stored");
    }
    free(in);
}

static void handle_incidents(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_auth(a, req))
        return;
    if (gw_http_method(req) != GW_HTTP_POST) {
        gw_http_error(req, 405, "method_not_allowed", "use POST with a JSON body");
        return;
    }
    size_t len;
    const char *body = gw_http_body(req, &len);
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *pid = json_string_value(json_object_get(root, "participant_id"));
    const char *kind = json_string_value(json_object_get(root, "kind"));
    const char *on = json_string_value(json_object_get(root, "occurred_on"));
    gw_date occurred;
    int days = -1;
    if (kind != NULL && strcmp(kind, "accident") == 0)
        days = a->cfg->claims_accident_days;
    else if (kind != NULL && strcmp(kind, "critical_illness") == 0)
        days = a->cfg->claims_critical_illness_days;
    incident_req *in = NULL;
    if (!json_is_object(root) || pid == NULL || pid[0] == '\0' || strlen(pid) >= GW_PID_MAX) {
        gw_http_error(req, 400, "bad_request",
                      "send {\"participant_id\", \"kind\", \"occurred_on\": \"YYYY-MM-DD\"}");
    } else if (days < 0) {
        gw_http_error(req, 400, "bad_kind", "\"kind\" is \"accident\" or \"critical_illness\"");
    } else if (on == NULL || gw_date_parse(on, &occurred.y, &occurred.m, &occurred.d) != 0) {
        gw_http_error(req, 400, "bad_date", "\"occurred_on\" must be a real date, YYYY-MM-DD");
    } else if (gw_date_cmp(occurred, today()) > 0) {
        gw_http_error(req, 422, "future_date", "\"occurred_on\" is after today");
    } else if ((in = calloc(1, sizeof *in)) == NULL) {
        gw_http_error(req, 503, "overloaded", "out of memory");
    } else {
        in->a = a;
        in->req = req;
        snprintf(in->pid, sizeof in->pid, "%s", pid);
        snprintf(in->kind, sizeof in->kind, "%s", kind);
        in->occurred = occurred;
        in->deadline = gw_claim_deadline(a->calendar != NULL ? *a->calendar : NULL, occurred,
                                         days);
        if (gw_store_get(a->redis, in->pid, on_participant, in) != 0) {
            free(in);
            gw_http_error(req, 503, "redis_unavailable", "the roster is not reachable");
        }
    }
    json_decref(root);
}

int gw_admin_incidents_register(gw_admin *a, gw_http *admin)
{
    return gw_http_route(admin, "/v1/incidents", handle_incidents, a);
}
