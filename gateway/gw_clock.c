/* gw_clock.c - wall and monotonic clocks; see gw_clock.h. */
#include "gw_clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t clock_offset_ms(void)
{
    static int loaded;
    static int64_t offset;
    if (!loaded) {
        const char *s = getenv("GW_CLOCK_OFFSET_S");
        if (s != NULL && *s != '\0') {
            char *end;
            long long v = strtoll(s, &end, 10);
            if (*end == '\0')
                offset = (int64_t)v * 1000;
        }
        loaded = 1;
    }
    return offset;
}

int64_t gw_clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + clock_offset_ms();
}

int64_t gw_clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gw_clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int gw_clock_ymd(int64_t ms, char *out, size_t cap)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    int y = tm.tm_year + 1900;
    if (cap >= 11 && y >= 0 && y <= 9999)
        snprintf(out, cap, "%04d-%02d-%02d", y % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100);
    else if (cap > 0)
        out[0] = '\0';
    return y;
}
