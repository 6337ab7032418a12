/* gw_ussd_steps.c - the asynchronous side steps a hop can take from decide():
 * the balance's ID check (the lock, then the attempt), sending the
 * contribution status by SMS, menu 5 (reminders on or off) and menu 4
 * (report a mutual-aid claim).
 *
 * Each ussd_start_* counts its request in h->outstanding, or answers busy
 * when it cannot start it. Its callback first calls hop_back (the deadline
 * may have answered meanwhile), then renders, saves and answers, or
 * answers busy, and ends with hop_release. Owns menu 4's table of kinds.
 * Runs on the daemon's loop. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_calendar.h"
#include "gw_clock.h"
#include "gw_format.h"
#include "gw_inbound.h"
#include "gw_incident.h"
#include "gw_log.h"
#include "gw_redis.h"
#include "gw_sender.h"
#include "gw_ussd_internal.h"
#include "q.h"

#define ID_LOCK_MS (15 * 60 * 1000)
#define ID_MAX_WRONG 3

/* ---- the balance's ID check: the lock, then the attempt ---- */

static void after_lock_check(hop *h, int locked, int64_t until_ms);
static void after_attempt(hop *h, long long result, long long value);

static void on_lock_get(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    hop *h = arg;
    if (!hop_back(h))
        return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        hop_busy(h);
    } else {
        int64_t until = 0;
        if (reply->type == REDIS_REPLY_STRING)
            until = strtoll(reply->str, NULL, 10);
        after_lock_check(h, reply->type == REDIS_REPLY_STRING, until);
    }
    hop_release(h);
}

static void on_attempt(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    hop *h = arg;
    if (!hop_back(h))
        return;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_INTEGER)
        hop_busy(h);
    else
        after_attempt(h, reply->element[0]->integer, reply->element[1]->integer);
    hop_release(h);
}

static void end_locked(hop *h, int64_t until_ms)
{
    h->until_ms = until_ms;
    ussd_end_with(h, "ussd.balance_locked", GW_USSD_END);
}

static void after_lock_check(hop *h, int locked, int64_t until_ms)
{
    if (locked) {
        end_locked(h, until_ms);
    } else {
        const gw_participant *p = ussd_selected(h);
        if (p == NULL || p->id_last4[0] == '\0') {
            /* No ID digits on record: nothing to check against, so no
             * balance; say so above the main menu. */
            ussd_go(h, N_MAIN);
            h->prefix_key = "ussd.balance_none";
        } else {
            ussd_go(h, N_ASK_ID);
        }
        ussd_render_screen(h);
    }
    ussd_save_and_answer(h);
}

static void after_attempt(hop *h, long long result, long long value)
{
    if (result == 0) {                      /* right */
        snprintf(h->s.info, sizeof h->s.info, "balance");
        ussd_go(h, N_INFO);
        ussd_render_screen(h);
    } else if (result == 1 || result == 2) {    /* locked */
        end_locked(h, (int64_t)value);
    } else {                                /* wrong, not locked yet */
        snprintf(h->left, sizeof h->left, "%lld", (long long)ID_MAX_WRONG - value);
        h->prefix_key = "ussd.balance_wrong_id";
        ussd_render_screen(h);
    }
    ussd_save_and_answer(h);
}

void ussd_start_lock_check(hop *h)
{
    char key[GW_PID_MAX + 24];
    snprintf(key, sizeof key, "gw:{p:%s}:idlock", h->s.sel);
    const char *argv[] = {"GET", key};
    if (gw_redis_argv(h->u->redis, on_lock_get, h, 2, argv, NULL) == 0)
        h->outstanding++;
    else
        hop_busy(h);
}

void ussd_start_attempt(hop *h, const gw_participant *p, const char *answer)
{
    char lock[GW_PID_MAX + 24], fail[GW_PID_MAX + 24], now[24], len[16], max[8];
    snprintf(lock, sizeof lock, "gw:{p:%s}:idlock", p->id);
    snprintf(fail, sizeof fail, "gw:{p:%s}:idfail", p->id);
    snprintf(now, sizeof now, "%" PRId64, gw_clock_now_ms());
    snprintf(len, sizeof len, "%d", ID_LOCK_MS);
    snprintf(max, sizeof max, "%d", ID_MAX_WRONG);
    int right = strlen(answer) == 4 && strcasecmp(answer, p->id_last4) == 0;
    const char *argv[] = {lock, fail, right ? "1" : "0", now, len, max};
    if (gw_redis_eval(h->u->redis, h->u->id_attempt, on_attempt, h, 2, 6, argv, NULL) == 0)
        h->outstanding++;
    else
        hop_busy(h);
}

/* ---- send by SMS: the contribution status to the caller's phone ---- */

static void on_sms_queued(q *q, int64_t first_id, const char *body_id, const char *err,
                          void *arg)
{
    (void)q;
    (void)body_id;
    hop *h = arg;
    if (!hop_back(h))
        return;
    if (err != NULL) {
        gw_error("ussd", "the confirmation SMS was not queued: %s", err);
        hop_busy(h);
    } else {
        gw_debug("ussd", "confirmation SMS queued as message %" PRId64, first_id);
        ussd_end_with(h, "ussd.sms_sent", GW_USSD_END);
        ussd_save_and_answer(h);
    }
    hop_release(h);
}

/* Queues the contribution status as an SMS to the caller's own phone (the
 * reply lane: it goes before any bulk reminder). The screen says so once
 * the queue has it; a carrier repeating this hop gets the saved answer, so
 * the SMS is queued once. */
void ussd_start_sms(hop *h)
{
    const gw_participant *p = ussd_selected(h);
    char *text = p != NULL ? ussd_render_contribution(h, p, "sms") : NULL;
    if (text != NULL && gw_sender_reply(h->u->sender, h->e164, text, on_sms_queued, h) == 0)
        h->outstanding++;
    else
        hop_busy(h);
    free(text);
}

/* ---- menu 5: reminders on or off (the opt-out list SMS keywords share) ---- */

static void on_remind_get(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    hop *h = arg;
    if (!hop_back(h))
        return;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        hop_busy(h);
    } else {
        snprintf(h->s.info, sizeof h->s.info, "%s", reply->integer == 1 ? "off" : "on");
        ussd_go(h, N_REMIND);
        ussd_render_screen(h);
        ussd_save_and_answer(h);
    }
    hop_release(h);
}

void ussd_start_remind_get(hop *h)
{
    const char *argv[] = {"HEXISTS", "gw:{q}:optout", h->e164};
    if (gw_redis_argv(h->u->redis, on_remind_get, h, 3, argv, NULL) == 0)
        h->outstanding++;
    else
        hop_busy(h);
}

static void on_remind_set(int status, void *arg)
{
    hop *h = arg;
    if (!hop_back(h))
        return;
    if (status != 0) {
        hop_busy(h);
    } else {
        ussd_end_with(h, strcmp(h->s.info, "on") == 0 ? "ussd.reminders_stopped"
                                                      : "ussd.reminders_started", GW_USSD_END);
        ussd_save_and_answer(h);
    }
    hop_release(h);
}

/* Turns reminders off when they were on, and back on when they were off. */
void ussd_start_remind_set(hop *h)
{
    if (gw_optout_set(h->u->redis, h->e164, strcmp(h->s.info, "on") == 0, "ussd",
                      on_remind_set, h) == 0)
        h->outstanding++;
    else
        hop_busy(h);
}

/* ---- menu 4: report a mutual-aid claim (members only) ---- */

/* In the order of ussd.claim_kind's lines (1, 2); see gw_ussd_internal.h. */
const struct claim_kind claim_kinds[] = {
    {"accident", GW_INCIDENT_ACCIDENT, "ussd.claim_date_accident"},
    {"illness", GW_INCIDENT_CRITICAL_ILLNESS, "ussd.claim_date_illness"},
};
const size_t claim_kinds_count = sizeof claim_kinds / sizeof claim_kinds[0];

static void on_claim(gw_incidents *inc, gw_incident_result result, const char *reference,
                     gw_date deadline, const gw_incident_plan *plan, void *arg)
{
    (void)inc;
    (void)plan;
    hop *h = arg;
    if (!hop_back(h))
        return;
    char ymd[40];         /* room for any int; a real date is 10 characters */
    snprintf(ymd, sizeof ymd, "%04d-%02d-%02d", deadline.y, deadline.m, deadline.d);
    /* The END screens are rendered again from the session on a repeated
     * hop: the deadline goes in info, the reference in left. */
    switch (result) {
    case GW_INCIDENT_REPORTED:
    case GW_INCIDENT_REPORTED_NEW:
    case GW_INCIDENT_ALREADY_REPORTED:
    case GW_INCIDENT_WINDOW_CLOSED:
        snprintf(h->s.info, sizeof h->s.info, "%.15s", ymd);
        snprintf(h->left, sizeof h->left, "%s", reference);
        ussd_end_with(h, result == GW_INCIDENT_WINDOW_CLOSED ? "ussd.claim_closed"
                                                             : "ussd.claim_done",
                      GW_USSD_END);
        ussd_save_and_answer(h);
        break;
    case GW_INCIDENT_NOT_MEMBER:
        ussd_end_with(h, "ussd.claim_members_only", GW_USSD_END);
        ussd_save_and_answer(h);
        break;
    default:    /* Redis failed; FUTURE_DATE cannot come: the date was checked */
        hop_busy(h);
        break;
    }
    hop_release(h);
}

/* Reports the claim of kind K on ON for the selected participant. A
 * carrier repeating this hop gets the saved END screen; a repeat that
 * arrives before the session is saved, or a second report later, reaches
 * the same incident (gw_incident_report is idempotent per kind and date). */
static void start_claim(hop *h, const struct claim_kind *k, gw_date on)
{
    const gw_participant *p = ussd_selected(h);
    if (p != NULL && gw_incident_report(h->u->incidents, p, k->kind, on, "ussd", on_claim, h) == 0)
        h->outstanding++;
    else
        hop_busy(h);
}

/* The date typed on the claim's date screen: 1 when the report was started,
 * 0 when the screen asks again (h->answer holds it). */
int ussd_claim_date_entered(hop *h, const struct claim_kind *k, const char *in)
{
    gw_date today = gw_incident_today(), on;
    int rc = gw_date_entry_parse(in, today.y, &on.y, &on.m, &on.d);
    if (rc == 0 && gw_date_cmp(on, today) > 0)
        h->prefix_key = "ussd.claim_date_future";
    else if (rc == GW_DATE_ENTRY_NO_SUCH_DAY)
        h->prefix_key = "ussd.claim_date_no_such_day";
    else if (rc != 0)
        h->prefix_key = "ussd.claim_date_bad";
    if (h->prefix_key != NULL) {
        ussd_render_screen(h);
        return 0;
    }
    start_claim(h, k, on);
    return 1;
}
