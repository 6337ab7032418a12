/* gw_incident_recheck.c - open incidents' deadlines judged again when the
 * business calendar or [claims] days change (gw_incidents_recheck, see
 * gw_incident.h).
 *
 * A deadline is the law's, not the calendar file's: one given while a year
 * had no file (weekends only) or by an older file may be off. When the
 * calendar and days differ from those the incidents were last judged by
 * (their fingerprint in gw:inc:calfp), a job walks gw:inc:* with SCAN, 1,000
 * keys a call, reads the incidents (inc_recheck.lua "read"), works each
 * open one's deadline out again and logs each that differs. A later one is
 * stored, one incident at a time (inc_recheck.lua "write", only if still
 * open with the deadline read), with the reminders of its new eve and last
 * day, to the participant's phone as the roster has it now; those queued
 * for the old dates are skipped when due (q_claim.lua), so the member is
 * reminded on the right days and the texts name the new date. A deadline
 * is never made earlier, as incident.lua never shortens one: the member was
 * told it; one the calendar now ends sooner is logged for staff and kept.
 * So daemons with different calendars (one not reloaded yet) cannot undo
 * each other.
 * One job at a time, on the daemon's loop, one Redis call out at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_calendar.h"
#include "gw_clock.h"
#include "gw_format.h"
#include "gw_incident_internal.h"
#include "gw_log.h"
#include "gw_records.h"
#include "gw_window.h"

#define RECHECK_PREFIX "gw:inc:BA"     /* references; gw:inc:seq and :calfp are not */

/* An incident of this chunk whose deadline is to be moved later. */
typedef struct inc_move {
    const char *key;              /* gw:inc:REFERENCE (one of the chunk's keys) */
    char pid[GW_PID_MAX];
    gw_incident_kind kind;
    gw_date to;
    char was[YMD_CAP], now[YMD_CAP];
} inc_move;

typedef struct inc_recheck {
    gw_incidents *inc;
    char cursor[32];              /* SCAN's; "" before the first call */
    char fp[64];                  /* the calendar and days judged by */
    char **keys;                  /* this chunk's incident keys */
    size_t nkeys;
    inc_move *moves;              /* this chunk's to move, one at a time */
    size_t nmoves, next_move;
    long long open, moved, kept, reminders;
} inc_recheck;

static void keys_free(inc_recheck *rc)
{
    for (size_t i = 0; i < rc->nkeys; i++)
        free(rc->keys[i]);
    free(rc->keys);
    rc->keys = NULL;
    rc->nkeys = 0;
    free(rc->moves);
    rc->moves = NULL;
    rc->nmoves = rc->next_move = 0;
}

/* The job is over (ERROR says why when it stopped short); one asked for
 * meanwhile starts now. */
static void job_end(inc_recheck *rc, const char *error, int quiet)
{
    gw_incidents *inc = rc->inc;
    if (error != NULL)
        gw_error("incidents", "judging open incidents' deadlines by the calendar stopped: %s "
                 "(it runs again on SIGHUP or when gatewayd connects to Redis again)", error);
    else if (!quiet && rc->open > 0)
        gw_info("incidents", "open incidents judged by the calendar now loaded: %lld open, "
                "%lld deadlines moved later (%lld reminders queued for their new dates), "
                "%lld would end sooner and were kept", rc->open, rc->moved, rc->reminders,
                rc->kept);
    inc->recheck = NULL;
    keys_free(rc);
    free(rc);
    if (inc->recheck_again) {
        inc->recheck_again = 0;
        gw_incidents_recheck(inc);
    }
}

static void next_chunk(inc_recheck *rc);

static void on_done(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    job_end(arg, reply == NULL || reply->type == REDIS_REPLY_ERROR
                     ? "Redis did not record the calendar's fingerprint" : NULL, 0);
}

static void move_next(inc_recheck *rc);

static void on_written(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    inc_recheck *rc = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_INTEGER) {
        job_end(rc, "Redis did not store a moved deadline", 0);
        return;
    }
    rc->moved += reply->element[0]->integer;
    rc->reminders += reply->element[1]->integer;
    move_next(rc);
}

/* Stores the move of the incident being moved, with the reminders of the
 * new dates to PHONE ("": none) of SEG parts each. */
static void write_move(inc_recheck *rc, const char *phone, const char *sec_l, const char *seg,
                       const char *sec_d)
{
    const inc_move *m = &rc->moves[rc->next_move - 1];
    const char *ref = m->key + strlen("gw:inc:");
    const char *argv[] = {m->key, "write", m->was, m->now, m->pid, ref, phone,
                          sec_l, seg, sec_d};
    if (gw_redis_eval(rc->inc->redis, rc->inc->s_recheck, on_written, rc, 1, 10, argv,
                      NULL) != 0)
        job_end(rc, "Redis went away", 0);
}

/* The participant of the incident being moved (its phone, its text's
 * parts): the deadline is stored with the reminders of the new dates. */
static void on_mover(int status, const gw_participant *list, size_t n, void *arg)
{
    inc_recheck *rc = arg;
    if (status != 0) {
        job_end(rc, "Redis did not answer while reading a participant", 0);
        return;
    }
    const inc_move *m = &rc->moves[rc->next_move - 1];
    gw_incidents *inc = rc->inc;
    char sec_l[24] = "", sec_d[24] = "", seg[16] = "1";
    const char *phone = n > 0 ? list[0].phone : "";
    if (phone[0] != '\0') {
        int64_t first = gw_window_next(gw_clock_now_ms(), inc->cfg->send_window_start_min,
                                       inc->cfg->send_window_end_min);
        /* nothing goes at once here: the eve's may go at FIRST */
        inc_plan_last(inc, m->to, first, 0, sec_l, sec_d, sizeof sec_l);
        if (inc->segments != NULL)
            snprintf(seg, sizeof seg, "%d", inc->segments('l', &list[0],
                     gw_incident_kind_name(m->kind), m->to, inc->segments_arg));
    }
    write_move(rc, phone, sec_l, seg, sec_d);
}

/* Moves this chunk's next incident, or walks on when none is left. */
static void move_next(inc_recheck *rc)
{
    if (rc->next_move >= rc->nmoves) {
        next_chunk(rc);
        return;
    }
    const inc_move *m = &rc->moves[rc->next_move++];
    if (m->pid[0] == '\0')
        write_move(rc, "", "", "1", "");   /* no participant to remind */
    else if (gw_store_get(rc->inc->redis, m->pid, on_mover, rc) != 0)
        job_end(rc, "Redis went away", 0);
}

/* From E (state, kind, occurred_on, deadline, participant): the deadline it
 * has and the one it has now, and its kind. 0, or -1 when it is not open or
 * is damaged. */
static int judge(const inc_recheck *rc, const redisReply *e, gw_date *was, gw_date *now,
                 gw_incident_kind *kind)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 5)
        return -1;
    for (size_t i = 0; i < 4; i++)
        if (e->element[i]->type != REDIS_REPLY_STRING)
            return -1;
    gw_date occurred;
    if (strcmp(e->element[0]->str, "open") != 0 ||
        gw_incident_kind_parse(e->element[1]->str, kind) != 0 ||
        gw_date_parse(e->element[2]->str, &occurred.y, &occurred.m, &occurred.d) != 0 ||
        gw_date_parse(e->element[3]->str, &was->y, &was->m, &was->d) != 0)
        return -1;
    *now = gw_claim_deadline(inc_calendar(rc->inc), occurred, inc_days(rc->inc, *kind));
    return 0;
}

static void on_read(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    inc_recheck *rc = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != rc->nkeys) {
        job_end(rc, "Redis did not answer while reading incidents", 0);
        return;
    }
    rc->moves = calloc(rc->nkeys, sizeof *rc->moves);
    if (rc->moves == NULL) {
        job_end(rc, "out of memory", 0);
        return;
    }
    for (size_t i = 0; i < rc->nkeys; i++) {
        gw_date was, now;
        gw_incident_kind kind;
        if (judge(rc, reply->element[i], &was, &now, &kind) != 0)
            continue;
        rc->open++;
        int cmp = gw_date_cmp(now, was);
        if (cmp == 0)
            continue;
        inc_move *m = &rc->moves[rc->nmoves];
        inc_fmt_ymd(was, m->was, sizeof m->was);
        inc_fmt_ymd(now, m->now, sizeof m->now);
        const redisReply *who = reply->element[i]->element[4];
        const char *ref = rc->keys[i] + strlen("gw:inc:");
        const char *pid = who->type == REDIS_REPLY_STRING ? who->str : "?";
        if (cmp < 0) {
            rc->kept++;
            gw_warn("incidents", "%s of %s: under the calendar now loaded the report window "
                    "ends on %s, but %s is kept (a deadline is never made earlier: the member "
                    "may have been told it); check with the insurer before that day", ref, pid,
                    m->now, m->was);
            continue;
        }
        gw_warn("incidents", "%s of %s: the claim may be reported until %s under the calendar "
                "now loaded, not %s only; the reminders of the eve and the last day move to "
                "the new dates", ref, pid, m->now, m->was);
        if (who->type == REDIS_REPLY_STRING && who->len < sizeof m->pid)
            memcpy(m->pid, who->str, who->len + 1);      /* else "": nobody to remind */
        m->key = rc->keys[i];
        m->kind = kind;
        m->to = now;
        rc->nmoves++;
    }
    move_next(rc);
}

static void on_scan(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    inc_recheck *rc = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        job_end(rc, "Redis did not answer SCAN", 0);
        return;
    }
    snprintf(rc->cursor, sizeof rc->cursor, "%s", reply->element[0]->str);
    const redisReply *list = reply->element[1];
    rc->keys = calloc(list->elements + 1, sizeof *rc->keys);
    if (rc->keys == NULL) {
        job_end(rc, "out of memory", 0);
        return;
    }
    for (size_t i = 0; i < list->elements; i++) {
        const redisReply *k = list->element[i];
        if (k->type != REDIS_REPLY_STRING ||
            strncmp(k->str, RECHECK_PREFIX, strlen(RECHECK_PREFIX)) != 0)
            continue;
        if ((rc->keys[rc->nkeys] = strdup(k->str)) == NULL) {
            job_end(rc, "out of memory", 0);
            return;
        }
        rc->nkeys++;
    }
    if (rc->nkeys == 0) {
        next_chunk(rc);
        return;
    }
    const char **argv = calloc(rc->nkeys + 1, sizeof *argv);
    if (argv == NULL) {
        job_end(rc, "out of memory", 0);
        return;
    }
    memcpy(argv, rc->keys, rc->nkeys * sizeof *argv);
    argv[rc->nkeys] = "read";
    int failed = gw_redis_eval(rc->inc->redis, rc->inc->s_recheck, on_read, rc, (int)rc->nkeys,
                               (int)rc->nkeys + 1, argv, NULL) != 0;
    free(argv);
    if (failed)
        job_end(rc, "Redis went away", 0);
}

/* The next SCAN call; after the last, the fingerprint is recorded. */
static void next_chunk(inc_recheck *rc)
{
    keys_free(rc);
    int failed;
    if (strcmp(rc->cursor, "0") == 0)
        failed = gw_redis_command(rc->inc->redis, on_done, rc, "SET gw:inc:calfp %s",
                                  rc->fp) != 0;
    else
        failed = gw_redis_command(rc->inc->redis, on_scan, rc, "SCAN %s MATCH gw:inc:* "
                                  "COUNT 1000", rc->cursor[0] != '\0' ? rc->cursor : "0") != 0;
    if (failed)
        job_end(rc, "Redis went away", 0);
}

static void on_fingerprint(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    inc_recheck *rc = arg;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        job_end(rc, "Redis did not answer", 0);
    else if (reply->type == REDIS_REPLY_STRING && strcmp(reply->str, rc->fp) == 0)
        job_end(rc, NULL, 1);         /* judged by this calendar already */
    else
        next_chunk(rc);
}

void gw_incidents_recheck(gw_incidents *inc)
{
    if (inc->recheck != NULL) {
        inc->recheck_again = 1;
        return;
    }
    inc_recheck *rc = calloc(1, sizeof *rc);
    if (rc == NULL) {
        gw_error("incidents", "out of memory: open incidents' deadlines not judged again");
        return;
    }
    rc->inc = inc;
    snprintf(rc->fp, sizeof rc->fp, "%016llx:%d:%d", gw_calendar_fingerprint(inc_calendar(inc)),
             inc_days(inc, GW_INCIDENT_ACCIDENT), inc_days(inc, GW_INCIDENT_CRITICAL_ILLNESS));
    inc->recheck = rc;
    if (gw_redis_command(inc->redis, on_fingerprint, rc, "GET gw:inc:calfp") != 0)
        job_end(rc, "Redis is not reachable", 0);
}
