/* gw_calendar.h - the business calendar: which days are rest days, as data
 * (DOMAIN.md: the State Council's yearly holiday notice; SPEC.md, claim
 * report deadlines).
 *
 * One TSV file per year (ops/calendars/CN-2026.tsv): lines
 * "YYYY-MM-DD<TAB>off|workday<TAB>name", '#' comments and blank lines
 * allowed. A date is a rest day when it is listed "off", or when it is a
 * Saturday or Sunday not listed "workday" (调休). A year with no file falls
 * back to weekends only (gw_calendar_has_year says so, so the caller can log
 * it and count it). A loaded calendar is immutable: SIGHUP loads a new one
 * and swaps it. Pure apart from gw_calendar_load's file reading. */
#ifndef GW_CALENDAR_H
#define GW_CALENDAR_H

#include <stddef.h>

typedef struct gw_calendar gw_calendar;

/* A civil date. */
typedef struct gw_date {
    int y, m, d;
} gw_date;

/* Loads FILES (NULL-terminated paths; none is an empty calendar: weekends
 * only). Returns 0 and *OUT, or -1 with "FILE:LINE: reason" in ERR (a bad
 * date, kind or column count, a date listed twice, an unreadable file). */
int gw_calendar_load(const char *const *files, gw_calendar **out, char *err, size_t errlen);

void gw_calendar_free(gw_calendar *cal);

/* 1 when some file listed a date of YEAR. */
int gw_calendar_has_year(const gw_calendar *cal, int year);

/* A fingerprint of what CAL says (every listed day and its kind; NULL is
 * weekends only): two calendars with the same one judge every day alike. */
unsigned long long gw_calendar_fingerprint(const gw_calendar *cal);

/* The years that have a file, ascending, into YEARS (at most MAX); returns how many. */
size_t gw_calendar_years(const gw_calendar *cal, int *years, size_t max);

/* 1 when D is a rest day (see above); CAL may be NULL (weekends only). */
int gw_calendar_is_rest_day(const gw_calendar *cal, gw_date d);

/* The holiday's name when D is listed ("国庆节"), else NULL. */
const char *gw_calendar_name(const gw_calendar *cal, gw_date d);

/* D plus N days (N may be negative), over month and year ends. */
gw_date gw_date_add_days(gw_date d, int n);

/* Day of the week of D: 0 Sunday .. 6 Saturday. */
int gw_date_weekday(gw_date d);

/* -1, 0 or 1 as A is before, the same as or after B. */
int gw_date_cmp(gw_date a, gw_date b);

/* The claim-report deadline (Civil Code art. 203): OCCURRED plus DAYS; when
 * that day is a rest day, the first working day after it. */
gw_date gw_claim_deadline(const gw_calendar *cal, gw_date occurred, int days);

#endif
