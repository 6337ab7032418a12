/* gw_log.c - see gw_log.h. */
#include "gw_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_clock.h"

static int log_level = -1;

void gw_log_set_level(enum gw_log_level level)
{
    log_level = (int)level;
}

static int current_level(void)
{
    if (log_level < 0) {
        const char *s = getenv("GW_LOG_LEVEL");
        log_level = (s != NULL && strcmp(s, "debug") == 0) ? GW_LOG_DEBUG : GW_LOG_INFO;
    }
    return log_level;
}

void gw_log(enum gw_log_level level, const char *area, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if ((int)level < current_level())
        return;

    int64_t now = gw_clock_now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03dZ %-5s %s: %s\n", stamp, (int)(now % 1000), names[level], area, msg);
}
