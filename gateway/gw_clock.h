/* gw_clock.h - the one clock of the gateway.
 *
 * Every part of the program asks this module for the time, so tests can move
 * it (faketime intercepts clock_gettime; GW_CLOCK_OFFSET_S shifts it too). */
#ifndef GW_CLOCK_H
#define GW_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Wall-clock milliseconds since the Unix epoch, plus GW_CLOCK_OFFSET_S if set. */
int64_t gw_clock_now_ms(void);

/* The local date (the process's TZ, the configured time zone) at MS as
 * "YYYY-MM-DD" into OUT (at least 11 bytes, else ""); returns the year. */
int gw_clock_ymd(int64_t ms, char *out, size_t cap);

/* Monotonic milliseconds, for deadlines (not shifted). */
int64_t gw_clock_mono_ms(void);

/* Monotonic microseconds, for latencies (not shifted). */
int64_t gw_clock_mono_us(void);

#endif
