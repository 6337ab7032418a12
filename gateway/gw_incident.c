/* gw_incident.c - mutual-aid incidents; see gw_incident.h.
 *
 * One `inc_call` per register or report, freed right after its callback;
 * a staff mark (by reference) first reads the incident (gw_incident_get),
 * then goes on as the member's report.
 * A call goes through at most two asynchronous steps: the roster look-up
 * (register only: gw_store_get) and the Lua script (gateway/lua/incident.lua),
 * which does every read and write of a register or report (deadlines judged
 * again after a calendar change: gw_incident_recheck.c). Answers known without Redis
 * (a future date, not a member) wait one loop turn on a zero timer, so the
 * callback never runs inside the starting call; those calls are listed in
 * `deferred` until then, so gw_incidents_free can answer them. */
#include "gw_incident.h"
#include "gw_incident_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "gw_clock.h"
#include "gw_config.h"
#include "gw_format.h"
#include "gw_log.h"
#include "gw_records.h"
#include "gw_redis.h"
#include "gw_window.h"

extern const char gw_lua_incident[];
extern const char gw_lua_inc_recheck[];

typedef struct inc_call {
    gw_incidents *inc;
    struct inc_call *prev, *next; /* in inc->deferred while deferred */
    struct event timer;
    gw_incident_result result;    /* the deferred answer */
    gw_incident_cb *cb;
    void *arg;
    int report;                   /* 1 report, 0 register */
    char pid[GW_PID_MAX];
    gw_incident_kind kind;
    gw_date occurred, deadline;
    char channel[16];
    /* register: the member's phone and the reminders' due seconds and parts
     * ("" when that reminder does not go) */
    char phone[GW_PHONE_MAX];
    char sec_c[24], sec_l[24], sec_d[24], seg_c[8], seg_l[8];
    int late;                     /* the only reminder goes late on the last day */
    int c_last_text;              /* the one at once goes on the last day: its text */
    gw_date reported_on;          /* a staff mark: the day the member reported; else 0 */
    gw_participant who;           /* register: the participant (to plan again) */
    int replanned;                /* register: planned again for the stored deadline */
} inc_call;

static const char *const kind_names[] = {"accident", "critical_illness"};

const char *gw_incident_kind_name(gw_incident_kind kind)
{
    return kind == GW_INCIDENT_CRITICAL_ILLNESS ? kind_names[1] : kind_names[0];
}

int gw_incident_kind_parse(const char *name, gw_incident_kind *kind)
{
    if (name == NULL)
        return -1;
    if (strcmp(name, kind_names[0]) == 0)
        *kind = GW_INCIDENT_ACCIDENT;
    else if (strcmp(name, kind_names[1]) == 0)
        *kind = GW_INCIDENT_CRITICAL_ILLNESS;
    else
        return -1;
    return 0;
}

gw_date gw_incident_today(void)
{
    time_t now = (time_t)(gw_clock_now_ms() / 1000);
    struct tm tm;
    localtime_r(&now, &tm);       /* TZ is the configured time zone */
    return (gw_date){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

void inc_fmt_ymd(gw_date d, char *out, size_t cap)
{
    snprintf(out, cap, "%04d-%02d-%02d", d.y, d.m, d.d);
}

const gw_calendar *inc_calendar(const gw_incidents *inc)
{
    return inc->calendar != NULL ? *inc->calendar : NULL;
}

int gw_incident_window_days(const gw_config *cfg, gw_incident_kind kind)
{
    return kind == GW_INCIDENT_CRITICAL_ILLNESS ? cfg->claims_critical_illness_days
                                                : cfg->claims_accident_days;
}

int inc_days(const gw_incidents *inc, gw_incident_kind kind)
{
    return gw_incident_window_days(inc->cfg, kind);
}

/* ---- answering ---- */

static void answer_plan(inc_call *c, gw_incident_result result, const char *reference,
                        gw_date deadline, const gw_incident_plan *plan)
{
    c->cb(c->inc, result, reference != NULL ? reference : "", deadline, plan, c->arg);
    free(c);
}

static void answer(inc_call *c, gw_incident_result result, const char *reference,
                   gw_date deadline)
{
    answer_plan(c, result, reference, deadline, NULL);
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    inc_call *c = arg;
    gw_incidents *inc = c->inc;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        inc->deferred = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    gw_date none = {0, 0, 0};
    answer(c, c->result, "", none);
}

/* Answers C with RESULT on the next loop turn. Returns 0, or -1 (C is then
 * not queued and the caller still owns it). */
static int defer(inc_call *c, gw_incident_result result)
{
    c->result = result;
    if (evtimer_assign(&c->timer, c->inc->base, on_deferred, c) != 0)
        return -1;
    struct timeval zero = {0, 0};
    if (evtimer_add(&c->timer, &zero) != 0)
        return -1;
    c->prev = NULL;
    c->next = c->inc->deferred;
    if (c->next != NULL)
        c->next->prev = c;
    c->inc->deferred = c;
    return 0;
}

/* ---- the script ---- */

static void plan_reminders(inc_call *c, const gw_participant *p);
static int run_script(inc_call *c);

static void on_script(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    inc_call *c = arg;
    gw_date none = {0, 0, 0}, deadline = none;
    char on[YMD_CAP];
    inc_fmt_ymd(c->occurred, on, sizeof on);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_STRING ||
        reply->element[2]->type != REDIS_REPLY_STRING ||
        gw_date_parse(reply->element[2]->str, &deadline.y, &deadline.m, &deadline.d) != 0) {
        gw_error("incidents", "%s of %s on %s: not stored (%s)", gw_incident_kind_name(c->kind),
                 c->pid, on,
                 reply == NULL ? "Redis went away"
                 : reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected answer");
        answer(c, GW_INCIDENT_UNAVAILABLE, "", none);
        return;
    }
    const char *ref = reply->element[1]->str, *ymd = reply->element[2]->str;
    const char *kind = gw_incident_kind_name(c->kind);
    switch (reply->element[0]->integer) {
    case 0:
    case 4: {
        /* the script also says how many reminders the incident has (-1 not
         * known), whether the phone opted out, and whether they were queued
         * now (a new incident, or one that had none) */
        gw_incident_plan plan = {-1, c->phone[0] == '\0', 0, 0};
        int have = reply->elements >= 6 && reply->element[3]->type == REDIS_REPLY_INTEGER &&
                   reply->element[4]->type == REDIS_REPLY_INTEGER &&
                   reply->element[5]->type == REDIS_REPLY_INTEGER;
        if (have) {
            plan.reminders = (int)reply->element[3]->integer;
            plan.opted_out = reply->element[4]->integer != 0;
            plan.late = reply->element[5]->integer != 0 && c->late;
        }
        int fresh = reply->element[0]->integer == 0;
        if (fresh)
            gw_info("incidents", "%s: %s of %s on %s registered, report by %s; %d reminder%s "
                    "queued%s", ref, kind, c->pid, on, ymd, plan.reminders,
                    plan.reminders == 1 ? "" : "s",
                    plan.no_phone ? " (no phone)" : plan.opted_out ? " (opted out)" : "");
        else
            gw_info("incidents", "%s: %s of %s on %s registered again: the same incident%s",
                    ref, kind, c->pid, on,
                    have && reply->element[5]->integer != 0 ? "; its reminders queued now" : "");
        answer_plan(c, fresh ? GW_INCIDENT_REGISTERED : GW_INCIDENT_ALREADY_REGISTERED, ref,
                    deadline, have ? &plan : NULL);
        break;
    }
    case 1:
        gw_info("incidents", "%s: %s of %s on %s reported again (%s)", ref, kind, c->pid, on,
                c->channel);
        answer(c, GW_INCIDENT_ALREADY_REPORTED, ref, deadline);
        break;
    case 2: {
        /* a fourth element 1: no incident of that kind and date was
         * registered, a new one was stored as reported */
        int fresh = reply->elements >= 4 && reply->element[3]->type == REDIS_REPLY_INTEGER &&
                    reply->element[3]->integer == 1;
        gw_info("incidents", "%s: %s of %s on %s reported (%s%s), deadline %s", ref, kind,
                c->pid, on, c->channel, fresh ? ", a new incident" : "", ymd);
        answer(c, fresh ? GW_INCIDENT_REPORTED_NEW : GW_INCIDENT_REPORTED, ref, deadline);
        break;
    }
    case 5:
        /* registered again, its reminders never queued, and its stored
         * deadline is later than the one worked out now (the calendar or
         * [claims] changed): they are planned for the stored one, which stands */
        if (!c->replanned) {
            c->replanned = 1;
            c->deadline = deadline;
            c->phone[0] = c->sec_c[0] = c->sec_l[0] = c->sec_d[0] = '\0';
            c->seg_c[0] = c->seg_l[0] = '\0';
            c->late = c->c_last_text = 0;
            if (gw_date_cmp(c->deadline, gw_incident_today()) >= 0)
                plan_reminders(c, &c->who);
            if (run_script(c) == 0)
                return;
        }
        answer(c, GW_INCIDENT_UNAVAILABLE, "", none);
        break;
    case 3:
        gw_info("incidents", "%s of %s on %s: report refused, the window closed on %s", kind,
                c->pid, on, ymd);
        answer(c, GW_INCIDENT_WINDOW_CLOSED, "", deadline);
        break;
    default:
        gw_error("incidents", "%s of %s on %s: unexpected script result %lld", kind, c->pid, on,
                 (long long)reply->element[0]->integer);
        answer(c, GW_INCIDENT_UNAVAILABLE, "", none);
        break;
    }
}

/* Sends C to the script. Returns 0, or -1 when Redis is down. */
static int run_script(inc_call *c)
{
    char list[GW_PID_MAX + 32], on[YMD_CAP], deadline[YMD_CAP], today[YMD_CAP], now[24];
    snprintf(list, sizeof list, "gw:{p:%s}:incidents", c->pid);
    inc_fmt_ymd(c->occurred, on, sizeof on);
    inc_fmt_ymd(c->deadline, deadline, sizeof deadline);
    /* a report is judged on the day it was made: today, or the day staff
     * say the member reported it */
    inc_fmt_ymd(c->reported_on.y != 0 ? c->reported_on : gw_incident_today(), today, sizeof today);
    snprintf(now, sizeof now, "%" PRId64, gw_clock_now_ms());
    const char *argv[] = {list,  "gw:inc:seq", c->report ? "report" : "register",
                          c->pid, gw_incident_kind_name(c->kind), on, deadline, today, now,
                          c->channel, c->phone, c->sec_c, c->seg_c, c->sec_l, c->seg_l,
                          c->sec_d, c->seg_l, c->c_last_text ? "1" : ""};
    return gw_redis_eval(c->inc->redis, c->inc->script, on_script, c, 2, 18, argv, NULL);
}

/* ---- register (staff) ---- */

/* When the member hears of a registered incident: at once (inside the send
 * window, so at its next opening), then on the deadline's eve and on the
 * last day itself, each at the window's opening ("the last day is ..." says
 * both); never after the deadline, and neither of the last two when the
 * first one goes that day or later. One at once that goes on the last day
 * itself has the last day's text (it names the day); when it
 * goes in the last hour of that day's window, a backlog may keep it past
 * the window's end and so past the deadline: C->late says so. */
#define LATE_MS (60 * 60 * 1000)
static void plan_reminders(inc_call *c, const gw_participant *p)
{
    const gw_config *cfg = c->inc->cfg;
    int start = cfg->send_window_start_min, end = cfg->send_window_end_min;
    snprintf(c->phone, sizeof c->phone, "%s", p->phone);
    if (p->phone[0] == '\0')
        return;
    int64_t first = gw_window_next(gw_clock_now_ms(), start, end);
    gw_date after = gw_date_add_days(c->deadline, 1);
    if (first >= gw_window_opening(after.y, after.m, after.d, start))
        return;
    int64_t day = gw_window_opening(c->deadline.y, c->deadline.m, c->deadline.d, start);
    int sc = 1, sl = 1;
    if (c->inc->segments != NULL) {
        sc = c->inc->segments('c', p, gw_incident_kind_name(c->kind), c->deadline,
                              c->inc->segments_arg);
        sl = c->inc->segments('l', p, gw_incident_kind_name(c->kind), c->deadline,
                              c->inc->segments_arg);
    }
    /* the one at once on the last day itself has the last day's text; it
     * stays the at-once reminder (c:REF) that a claim campaign sees */
    c->c_last_text = first >= day;
    snprintf(c->sec_c, sizeof c->sec_c, "%" PRId64, first / 1000);
    snprintf(c->seg_c, sizeof c->seg_c, "%d", c->c_last_text ? sl : sc);
    snprintf(c->seg_l, sizeof c->seg_l, "%d", sl);
    if (c->c_last_text) {
        c->late = gw_window_opening(c->deadline.y, c->deadline.m, c->deadline.d, end) - first <
                  LATE_MS;
        return;
    }
    inc_plan_last(c->inc, c->deadline, first, 1, c->sec_l, c->sec_d, sizeof c->sec_l);
}

void inc_plan_last(const gw_incidents *inc, gw_date deadline, int64_t first, int at_first,
                   char *sec_l, char *sec_d, size_t cap)
{
    int start = inc->cfg->send_window_start_min;
    gw_date after = gw_date_add_days(deadline, 1), eve = gw_date_add_days(deadline, -1);
    int64_t last = gw_window_opening(eve.y, eve.m, eve.d, start);
    int64_t day = gw_window_opening(deadline.y, deadline.m, deadline.d, start);
    sec_l[0] = sec_d[0] = '\0';
    if (first >= gw_window_opening(after.y, after.m, after.d, start))
        return;
    if (last > first || (!at_first && first < day))
        snprintf(sec_l, cap, "%" PRId64, (last > first ? last : first) / 1000);
    snprintf(sec_d, cap, "%" PRId64, (day > first ? day : first) / 1000);
}

void gw_incidents_on_segments(gw_incidents *inc, gw_incident_segments_cb *cb, void *arg)
{
    inc->segments = cb;
    inc->segments_arg = arg;
}

static void on_participant(int status, const gw_participant *list, size_t n, void *arg)
{
    inc_call *c = arg;
    gw_date none = {0, 0, 0};
    if (status != 0)
        answer(c, GW_INCIDENT_UNAVAILABLE, "", none);
    else if (n == 0)
        answer(c, GW_INCIDENT_UNKNOWN_PARTICIPANT, "", none);
    else if (!list[0].mutual_aid_member)
        answer(c, GW_INCIDENT_NOT_MEMBER, "", none);
    else {
        /* The script judges the window: one reported already is answered so
         * even once its window has closed. A report made on c->reported_on
         * queues no reminder, nor does a window closed. */
        c->who = list[0];
        if (!c->report && gw_date_cmp(c->deadline, gw_incident_today()) >= 0)
            plan_reminders(c, &list[0]);
        if (run_script(c) != 0)
            answer(c, GW_INCIDENT_UNAVAILABLE, "", none);
    }
}

/* A new call of KIND on OCCURRED with its deadline, or NULL (OOM). */
static inc_call *call_new(gw_incidents *inc, gw_incident_kind kind, gw_date occurred,
                          gw_incident_cb *cb, void *arg)
{
    inc_call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->inc = inc;
    c->cb = cb;
    c->arg = arg;
    c->kind = kind;
    c->occurred = occurred;
    int days = inc_days(inc, kind);
    c->deadline = gw_claim_deadline(inc_calendar(inc), occurred,
                                    days);
    return c;
}

int gw_incident_register(gw_incidents *inc, const char *pid, gw_incident_kind kind,
                         gw_date occurred, const gw_date *reported_on, gw_incident_cb *cb,
                         void *arg)
{
    if (pid == NULL || pid[0] == '\0' || strlen(pid) >= GW_PID_MAX)
        return -1;
    inc_call *c = call_new(inc, kind, occurred, cb, arg);
    if (c == NULL)
        return -1;
    snprintf(c->pid, sizeof c->pid, "%s", pid);
    snprintf(c->channel, sizeof c->channel, "admin");
    if (reported_on != NULL) {
        c->report = 1;            /* registered and reported at once: no reminders */
        c->reported_on = *reported_on;
    }
    int rc = gw_date_cmp(occurred, gw_incident_today()) > 0
                 ? defer(c, GW_INCIDENT_FUTURE_DATE)
             : reported_on != NULL && gw_date_cmp(*reported_on, occurred) < 0
                 ? defer(c, GW_INCIDENT_BEFORE_INCIDENT)
                 : gw_store_get(inc->redis, c->pid, on_participant, c);
    if (rc != 0)
        free(c);
    return rc;
}

/* ---- report (the member) ---- */

int gw_incident_report(gw_incidents *inc, const gw_participant *p, gw_incident_kind kind,
                       gw_date occurred, const char *channel, gw_incident_cb *cb, void *arg)
{
    inc_call *c = call_new(inc, kind, occurred, cb, arg);
    if (c == NULL)
        return -1;
    c->report = 1;
    snprintf(c->pid, sizeof c->pid, "%s", p->id);
    snprintf(c->channel, sizeof c->channel, "%s", channel);
    int rc;
    if (!p->mutual_aid_member)
        rc = defer(c, GW_INCIDENT_NOT_MEMBER);
    else if (gw_date_cmp(occurred, gw_incident_today()) > 0)
        rc = defer(c, GW_INCIDENT_FUTURE_DATE);
    else
        rc = run_script(c);
    if (rc != 0)
        free(c);
    return rc;
}

/* ---- by reference: the look-up, and staff's mark ---- */

typedef struct get_call {
    gw_incidents *inc;
    gw_incident_info_cb *cb;
    void *arg;
    char reference[GW_INCIDENT_REF_MAX];
} get_call;

/* INFO from HGETALL gw:inc:REF: 0, 1 when there is none, -1 when Redis
 * failed, -2 when the record is damaged. */
static int info_from(const redisReply *reply, gw_incident_info *info)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return -1;
    if (reply->elements == 0)
        return 1;
    unsigned have = 0;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return -2;
        const char *f = k->str, *val = v->str;
        if (strcmp(f, "participant") == 0 && v->len < sizeof info->pid) {
            memcpy(info->pid, val, v->len + 1);
            have |= 1;
        } else if (strcmp(f, "kind") == 0 && gw_incident_kind_parse(val, &info->kind) == 0) {
            have |= 2;
        } else if (strcmp(f, "occurred_on") == 0 &&
                   gw_date_parse(val, &info->occurred.y, &info->occurred.m,
                                 &info->occurred.d) == 0) {
            have |= 4;
        } else if (strcmp(f, "deadline") == 0 &&
                   gw_date_parse(val, &info->deadline.y, &info->deadline.m,
                                 &info->deadline.d) == 0) {
            have |= 8;
        } else if (strcmp(f, "state") == 0) {
            snprintf(info->state, sizeof info->state, "%s", val);
            have |= 16;
        } else if (strcmp(f, "channel") == 0) {
            snprintf(info->channel, sizeof info->channel, "%s", val);
        } else if (strcmp(f, "reported_channel") == 0) {
            snprintf(info->reported_channel, sizeof info->reported_channel, "%s", val);
        } else if (strcmp(f, "registered_ms") == 0) {
            info->registered_ms = strtoll(val, NULL, 10);
        } else if (strcmp(f, "reported_ms") == 0) {
            info->reported_ms = strtoll(val, NULL, 10);
        } else if (strcmp(f, "reported_on") == 0) {
            gw_date_parse(val, &info->reported_on.y, &info->reported_on.m,
                          &info->reported_on.d);
        }
    }
    return have == 31 ? 0 : -2;
}

static void on_get(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    get_call *g = arg;
    gw_incident_info info = {0};
    snprintf(info.reference, sizeof info.reference, "%s", g->reference);
    int st = info_from(reply, &info);
    if (st < 0)
        gw_error("incidents", "%s: cannot be read (%s)", g->reference,
                 reply == NULL ? "Redis went away"
                 : reply->type == REDIS_REPLY_ERROR ? reply->str : "a damaged record");
    g->cb(g->inc, st, st == 0 ? &info : NULL, g->arg);
    free(g);
}

int gw_incident_get(gw_incidents *inc, const char *reference, gw_incident_info_cb *cb,
                    void *arg)
{
    if (reference == NULL || reference[0] == '\0' || strlen(reference) >= GW_INCIDENT_REF_MAX)
        return -1;
    get_call *g = calloc(1, sizeof *g);
    if (g == NULL)
        return -1;
    g->inc = inc;
    g->cb = cb;
    g->arg = arg;
    snprintf(g->reference, sizeof g->reference, "%s", reference);
    if (gw_redis_command(inc->redis, on_get, g, "HGETALL gw:inc:%s", g->reference) != 0) {
        free(g);
        return -1;
    }
    return 0;
}

/* Whom a staff mark answers, while the incident is looked up. */
typedef struct mark_call {
    gw_incident_cb *cb;
    void *arg;
    gw_date reported_on;          /* {0, 0, 0}: today */
} mark_call;

static void on_mark_found(gw_incidents *inc, int status, const gw_incident_info *info,
                          void *arg)
{
    mark_call m = *(mark_call *)arg;
    free(arg);
    gw_date none = {0, 0, 0};
    if (status != 0) {
        m.cb(inc, status > 0 ? GW_INCIDENT_UNKNOWN_REFERENCE : GW_INCIDENT_UNAVAILABLE, "",
             none, NULL, m.arg);
        return;
    }
    if (m.reported_on.y != 0 && gw_date_cmp(m.reported_on, info->occurred) < 0) {
        m.cb(inc, GW_INCIDENT_BEFORE_INCIDENT, "", none, NULL, m.arg);
        return;
    }
    /* The member's report, recorded by staff: the same rules and the same
     * script as a report through USSD, judged on the day it was made. */
    inc_call *c = call_new(inc, info->kind, info->occurred, m.cb, m.arg);
    if (c == NULL) {
        m.cb(inc, GW_INCIDENT_UNAVAILABLE, "", none, NULL, m.arg);
        return;
    }
    c->report = 1;
    c->reported_on = m.reported_on;
    snprintf(c->pid, sizeof c->pid, "%s", info->pid);
    snprintf(c->channel, sizeof c->channel, "admin");
    if (run_script(c) != 0)
        answer(c, GW_INCIDENT_UNAVAILABLE, "", none);
}

int gw_incident_mark_reported(gw_incidents *inc, const char *reference,
                              const gw_date *reported_on, gw_incident_cb *cb, void *arg)
{
    gw_date none = {0, 0, 0};
    mark_call *m = malloc(sizeof *m);
    if (m == NULL)
        return -1;
    m->cb = cb;
    m->arg = arg;
    m->reported_on = reported_on != NULL ? *reported_on : none;
    if (gw_incident_get(inc, reference, on_mark_found, m) != 0) {
        free(m);
        return -1;
    }
    return 0;
}

/* ---- set-up ---- */

gw_incidents *gw_incidents_new(struct event_base *base, const gw_config *cfg, gw_redis *redis,
                               gw_calendar *const *calendar)
{
    gw_incidents *inc = calloc(1, sizeof *inc);
    if (inc == NULL)
        return NULL;
    inc->base = base;
    inc->cfg = cfg;
    inc->redis = redis;
    inc->calendar = calendar;
    inc->script = gw_redis_script_add(redis, "incident", gw_lua_incident);
    inc->s_recheck = gw_redis_script_add(redis, "inc_recheck", gw_lua_inc_recheck);
    if (inc->script == NULL || inc->s_recheck == NULL) {
        free(inc);
        return NULL;
    }
    return inc;
}

void gw_incidents_free(gw_incidents *inc)
{
    if (inc == NULL)
        return;
    gw_date none = {0, 0, 0};
    while (inc->deferred != NULL) {
        inc_call *c = inc->deferred;
        inc->deferred = c->next;
        evtimer_del(&c->timer);
        answer(c, GW_INCIDENT_UNAVAILABLE, "", none);
    }
    free(inc);
}
