/* gw_incident_internal.h - what gw_incident.c and gw_incident_recheck.c
 * share; not for other modules (they use gw_incident.h). */
#ifndef GW_INCIDENT_INTERNAL_H
#define GW_INCIDENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"
#include "gw_incident.h"
#include "gw_redis.h"

struct gw_incidents {
    struct event_base *base;
    const gw_config *cfg;
    gw_redis *redis;
    gw_calendar *const *calendar;
    gw_redis_script *script;      /* incident.lua */
    gw_redis_script *s_recheck;   /* inc_recheck.lua */
    struct inc_call *deferred;    /* calls whose answer waits on a zero timer */
    gw_incident_segments_cb *segments;
    void *segments_arg;
    struct inc_recheck *recheck;  /* deadlines being judged again, or NULL */
    int recheck_again;            /* the calendar changed again meanwhile */
};

/* Room for a date from inc_fmt_ymd: any int fits, so no truncation. */
#define YMD_CAP 40

/* D as YYYY-MM-DD into OUT. */
void inc_fmt_ymd(gw_date d, char *out, size_t cap);

/* The calendar deadlines are worked out by now (NULL: weekends only). */
const gw_calendar *inc_calendar(const gw_incidents *inc);

/* The due seconds (decimal, into SEC_L and SEC_D, CAP bytes each) of the
 * reminders on DEADLINE's eve and on the last day itself, for an incident
 * whose reminders are planned at FIRST (ms, the send window's next
 * opening): the eve's opening when it is after FIRST; with AT_FIRST 0
 * (no reminder at once goes at FIRST) FIRST itself when it is before the
 * last day's opening; else ""; the last day's opening, or FIRST when that
 * is later; both "" once the window has closed by FIRST. */
void inc_plan_last(const gw_incidents *inc, gw_date deadline, int64_t first, int at_first,
                   char *sec_l, char *sec_d, size_t cap);

/* The days of KIND's window ([claims]). */
int inc_days(const gw_incidents *inc, gw_incident_kind kind);

#endif
