/* gw_window.c - the daily send window; see gw_window.h. */
#include "gw_window.h"

#include <time.h>

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
