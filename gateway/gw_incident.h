/* gw_incident.h - mutual-aid incidents (DOMAIN.md, Scheme 2): registered by
 * staff (POST /v1/incidents), reported (报案) by the member (USSD menu 4).
 *
 * An incident is the Redis hash gw:inc:REFERENCE with the fields
 *   participant, kind ("accident" | "critical_illness"), occurred_on and
 *   deadline (YYYY-MM-DD), registered_ms, channel (where it was created:
 *   "admin" | "ussd"), state, and once reported reported_ms and
 *   reported_channel,
 * listed in the set gw:{p:ID}:incidents. A reference is "BA", the date it
 * occurred, "-" and a six-digit number from INCR gw:inc:seq
 * ("BA20260928-000017").
 *
 * States (exact strings; the reminders rely on them):
 *   "open"      registered by staff; the member has not reported it yet, so
 *               reminders go to the member
 *   "reported"  the member has reported the claim: no more reminders
 * Every write is one Lua call (gateway/lua/incident.lua): a report never sees
 * half an incident, and reports of the same kind and date, repeated or from
 * two daemons at once, leave one incident.
 *
 * The deadline is the date plus [claims] accident_days or
 * critical_illness_days, moved to the next working day when it falls on a
 * rest day of the business calendar (gw_claim_deadline); the window is open
 * up to and including that day. Dates are local (the process runs with TZ
 * set to [reminders] timezone).
 * Runs on the daemon's loop; not thread safe. */
#ifndef GW_INCIDENT_H
#define GW_INCIDENT_H

#include <stdint.h>

#include "gw_calendar.h"
#include "gw_participant.h"

struct event_base;
struct gw_config;
struct gw_redis;

typedef struct gw_incidents gw_incidents;

typedef enum gw_incident_kind {
    GW_INCIDENT_ACCIDENT,
    GW_INCIDENT_CRITICAL_ILLNESS
} gw_incident_kind;

/* What a register or a report came to. */
typedef enum gw_incident_result {
    GW_INCIDENT_REGISTERED,       /* register: a new incident, state "open" */
    GW_INCIDENT_REPORTED,         /* report: now "reported" (an open incident of that
                                     kind and date moved to it) */
    GW_INCIDENT_REPORTED_NEW,     /* report: a new incident stored as "reported" (none of
                                     that kind and date was registered) */
    GW_INCIDENT_ALREADY_REPORTED, /* report, register: it was "reported" before; nothing
                                     changed, the same reference again */
    GW_INCIDENT_ALREADY_REGISTERED, /* register: one of that kind and date is "open"
                                       already; nothing changed, its reference */
    GW_INCIDENT_UNKNOWN_PARTICIPANT, /* register: no participant with that id */
    GW_INCIDENT_NOT_MEMBER,       /* not a mutual-aid member: nothing to report */
    GW_INCIDENT_FUTURE_DATE,      /* the date is after today */
    GW_INCIDENT_WINDOW_CLOSED,    /* today is after the deadline (given): nothing stored */
    GW_INCIDENT_UNKNOWN_REFERENCE, /* mark: no incident with that reference */
    GW_INCIDENT_BEFORE_INCIDENT,  /* mark, register with a report's date: that date is
                                     before the incident's */
    GW_INCIDENT_UNAVAILABLE       /* Redis failed or went away: not known to be stored */
} gw_incident_result;

/* What registering a new incident did about reminding the member, so that
 * staff know when they must reach the member themselves. */
typedef struct gw_incident_plan {
    int reminders;                /* queued: at once, on the eve, on the last day (0..3);
                                     0 with a phone: the send window does not open
                                     again before the deadline has passed; -1 not
                                     known (an incident registered before) */
    int no_phone;                 /* the roster has no phone for the member */
    int opted_out;                /* the member's phone opted out of reminders: they are
                                     queued, and skipped unless it opts in again */
    int late;                     /* the only reminder goes in the last hour of the
                                     deadline day's send window: a backlog may hold it
                                     past the window's end, and so past the deadline */
} gw_incident_plan;

/* The answer to a register or a report. REFERENCE is the incident's
 * ("" unless the result is REGISTERED, ALREADY_REGISTERED, REPORTED,
 * REPORTED_NEW or ALREADY_REPORTED), valid only during the call. DEADLINE
 * is the incident's deadline for those and for WINDOW_CLOSED (the deadline
 * it had), {0, 0, 0} otherwise. PLAN
 * (valid only during the call) is given for REGISTERED and
 * ALREADY_REGISTERED, else NULL. */
typedef void gw_incident_cb(gw_incidents *inc, gw_incident_result result, const char *reference,
                            gw_date deadline, const gw_incident_plan *plan, void *arg);

/* The incidents on REDIS, with deadlines from CFG's [claims] days and the
 * calendar *CALENDAR (read at each call: SIGHUP swaps it; NULL or *NULL
 * means weekends only). Registers the Lua script on REDIS: call before the
 * loop runs. Returns NULL on OOM. */
gw_incidents *gw_incidents_new(struct event_base *base, const struct gw_config *cfg,
                               struct gw_redis *redis, struct gw_calendar *const *calendar);

/* Frees INC. A call still waiting for its deferred answer (see below) gets
 * its CB with GW_INCIDENT_UNAVAILABLE first; free REDIS before INC so that
 * calls waiting on Redis are answered too. */
void gw_incidents_free(gw_incidents *inc);

/* "accident" or "critical_illness". */
const char *gw_incident_kind_name(gw_incident_kind kind);

/* Reads a kind's name: 0 and *KIND, or -1 when NAME is not one. */
int gw_incident_kind_parse(const char *name, gw_incident_kind *kind);

/* A registered incident's reminders go to the member at once (inside the
 * send window), on the deadline's eve and on the last day (gateway/lua/
 * incident.lua queues them, EXTRA "c,0,PID,REF", "l,0,PID,REF" and
 * "d,0,PID,REF", the last two with a text that names the last day); the
 * queue skips them once
 * the incident is "reported". CB says how many SMS parts the reminder KIND
 * ('c' or 'l') takes for P (for the rate limit); without it, 1. */
typedef int gw_incident_segments_cb(char kind, const gw_participant *p, const char *incident_kind,
                                    gw_date deadline, void *arg);
void gw_incidents_on_segments(gw_incidents *inc, gw_incident_segments_cb *cb, void *arg);

/* Judges every open incident's deadline again when the calendar (or
 * [claims] days) is not the one they were last judged by (gw:inc:calfp):
 * one that is later now is stored, one that would be earlier kept (the
 * member was told it), each logged. Runs in the background, chunk by chunk
 * (gw_incident_recheck.c); call after loading a calendar and on connecting
 * to Redis. */
void gw_incidents_recheck(gw_incidents *inc);

/* Today's local date, the one incidents are judged against. */
gw_date gw_incident_today(void);

/* The days of KIND's report window in CFG ([claims]). */
int gw_incident_window_days(const struct gw_config *cfg, gw_incident_kind kind);

/* Staff register an incident of participant PID (channel "admin", state
 * "open"). The answers: FUTURE_DATE, UNKNOWN_PARTICIPANT (PID not in the
 * roster), NOT_MEMBER, WINDOW_CLOSED, REGISTERED (a new incident, its
 * reminders queued), ALREADY_REGISTERED (one of that kind and date is open:
 * nothing changes), ALREADY_REPORTED (the member reported it), or
 * UNAVAILABLE.
 * With REPORTED_ON (not NULL; the caller makes sure it is not after today)
 * staff record at the same time that the member reported it on that day,
 * another way (a paper form typed in later): as gw_incident_report through
 * channel "admin", judged on that day, so a report made by the deadline
 * counts even when the window has closed since. The answers: FUTURE_DATE,
 * BEFORE_INCIDENT, UNKNOWN_PARTICIPANT, NOT_MEMBER, WINDOW_CLOSED (that day
 * is after the deadline), REPORTED_NEW, REPORTED (one registered before is
 * now reported: its reminders stop), ALREADY_REPORTED, or UNAVAILABLE; no
 * reminder is queued.
 * Returns 0 when started: CB is called exactly once, later, from the loop
 * (never from inside this call). Returns -1 when it cannot start (Redis
 * down, OOM, PID empty or longer than GW_PID_MAX - 1): CB is not called. */
int gw_incident_register(gw_incidents *inc, const char *pid, gw_incident_kind kind,
                         gw_date occurred, const gw_date *reported_on, gw_incident_cb *cb,
                         void *arg);

/* Participant P reports (报案) the incident of KIND that occurred on
 * OCCURRED, through CHANNEL ("ussd"). P is the record as the caller's
 * records backend gave it: membership is P->mutual_aid_member. The answers:
 * NOT_MEMBER, FUTURE_DATE, then among P's incidents of that kind and date:
 * one already "reported" gives ALREADY_REPORTED with its reference (even
 * when its window has closed since); else a closed window gives
 * WINDOW_CLOSED; else the open ones become "reported" and the first one's
 * reference is answered (REPORTED), or a new incident is stored as
 * "reported" (REPORTED_NEW). UNAVAILABLE when Redis failed.
 * Returns 0 when started: CB is called exactly once, later, from the loop
 * (never from inside this call). Returns -1 when it cannot start (Redis
 * down, OOM): CB is not called. */
int gw_incident_report(gw_incidents *inc, const gw_participant *p, gw_incident_kind kind,
                       gw_date occurred, const char *channel, gw_incident_cb *cb, void *arg);

#define GW_INCIDENT_REF_MAX 48     /* a reference's bytes, with its NUL */

/* Staff record that the member reported (报案) incident REFERENCE another
 * way (at the office, by telephone) on *REPORTED_ON (NULL: today; the
 * caller makes sure it is not after today): as gw_incident_report of its
 * participant, kind and date through channel "admin", judged on that day,
 * so its reminders stop. The answers: UNKNOWN_REFERENCE, BEFORE_INCIDENT,
 * ALREADY_REPORTED, WINDOW_CLOSED (that day is after the deadline under
 * today's calendar, or the stored one when later: nothing changes),
 * REPORTED, or UNAVAILABLE; REPORTED_NEW only when the record is damaged
 * (its participant's list gw:{p:ID}:incidents lost the reference, and a
 * new incident was stored reported).
 * Returns 0 when started (CB is called exactly once, later, from the
 * loop), or -1 when it cannot start (Redis down, OOM, REFERENCE empty or
 * too long): CB is not called. */
int gw_incident_mark_reported(gw_incidents *inc, const char *reference,
                              const gw_date *reported_on, gw_incident_cb *cb, void *arg);

/* An incident as stored. */
typedef struct gw_incident_info {
    char reference[GW_INCIDENT_REF_MAX];
    char pid[GW_PID_MAX];
    gw_incident_kind kind;
    gw_date occurred, deadline;
    char state[16];               /* "open" | "reported" */
    char channel[16];             /* where it was created: "admin" | "ussd" */
    char reported_channel[16];    /* "" until reported */
    gw_date reported_on;          /* the day the member reported; {0} when not known */
    int64_t registered_ms, reported_ms;    /* when stored; 0 when not known */
} gw_incident_info;

/* STATUS 0 and *INFO (valid during the call), 1 when no incident has that
 * reference, -1 when Redis failed, -2 when the record is damaged. */
typedef void gw_incident_info_cb(gw_incidents *inc, int status, const gw_incident_info *info,
                                 void *arg);

/* Reads incident REFERENCE. Returns 0 when started (CB is called exactly
 * once, from the loop), or -1 (Redis down, REFERENCE empty or too long). */
int gw_incident_get(gw_incidents *inc, const char *reference, gw_incident_info_cb *cb,
                    void *arg);

#endif
