/* gw_window.c - the daily send window; see gw_window.h. */
#include "gw_window.h"

#include <stdlib.h>
#include <time.h>

#include "gw_calendar.h"
#include "gw_format.h"

static int minute_of_day(int64_t t_ms, struct tm *tm)
{
    time_t t = (time_t)(t_ms / 1000);
    localtime_r(&t, tm);
    return tm->tm_hour * 60 + tm->tm_min;
}

int gw_window_inside(int64_t t_ms, int start_min, int end_min)
{
    struct tm tm;
    int m = minute_of_day(t_ms, &tm);
    return m >= start_min && m < end_min;
}

int64_t gw_window_opening(int y, int m, int d, int start_min)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;                 /* mktime carries day 32 into the next month */
    tm.tm_hour = start_min / 60;
    tm.tm_min = start_min % 60;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

int64_t gw_window_next(int64_t t_ms, int start_min, int end_min)
{
    struct tm tm;
    int m = minute_of_day(t_ms, &tm);
    if (m >= start_min && m < end_min)
        return t_ms;
    int day = tm.tm_mday + (m >= end_min ? 1 : 0);
    return gw_window_opening(tm.tm_year + 1900, tm.tm_mon + 1, day, start_min);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

size_t gw_unpaid_times(const char *due, const int *offsets, size_t n, int start_min,
                       int end_min, int64_t now_ms, int64_t *out)
{
    gw_date d;
    if (due == NULL || gw_date_parse(due, &d.y, &d.m, &d.d) != 0)
        return 0;
    size_t k = 0, past = 0;
    for (size_t i = 0; i < n; i++) {
        gw_date at = gw_date_add_days(d, -offsets[i]);
        int64_t t = gw_window_opening(at.y, at.m, at.d, start_min);
        if (t > now_ms)
            out[k++] = t;
        else
            past++;
    }
    if (past > 0) {
        /* One at the window's next opening while the due day's window has not
         * closed yet: the due day is the last one to pay on. */
        if (gw_window_opening(d.y, d.m, d.d, end_min) > now_ms)
            out[k++] = gw_window_next(now_ms, start_min, end_min);
    }
    qsort(out, k, sizeof *out, cmp_i64);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || out[u - 1] != out[i])
            out[u++] = out[i];
    return u;
}
