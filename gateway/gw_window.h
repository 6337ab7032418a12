/* gw_window.h - the daily send window of reminders ([reminders] send_window,
 * in [reminders] timezone): nobody is messaged at night; a reminder due
 * outside the window waits for its next opening rather than being dropped.
 * Local time is the process's TZ, which gatewayd sets from the config
 * (Asia/Shanghai). Pure apart from reading the time zone. */
#ifndef GW_WINDOW_H
#define GW_WINDOW_H

#include <stddef.h>
#include <stdint.h>

/* 1 when T_MS (Unix ms) is inside the window: from START_MIN (minutes after
 * local midnight) up to, not including, END_MIN. */
int gw_window_inside(int64_t t_ms, int start_min, int end_min);

/* The first moment at or after T_MS inside the window: T_MS itself when it
 * is inside, else the window's next opening (today's when before it, else
 * tomorrow's). */
int64_t gw_window_next(int64_t t_ms, int start_min, int end_min);

/* The window's opening on the local date Y-M-D, in Unix ms. */
int64_t gw_window_opening(int y, int m, int d, int start_min);

/* When the automatic unpaid-contribution reminders for a contribution due on
 * DUE ("YYYY-MM-DD") go: for each of OFFSETS[0..N) days before it, the send
 * window's opening (START_MIN) on that local date, in Unix ms. Times already
 * past are dropped; when some were dropped and the send window of the due
 * date has not closed yet, one reminder goes at the window's next opening
 * instead, now when inside it (a participant imported late, even on the due
 * date itself, still hears of it once). Written to OUT (room for N + 1),
 * ascending, without repeats. Returns how many. */
size_t gw_unpaid_times(const char *due, const int *offsets, size_t n, int start_min,
                       int end_min, int64_t now_ms, int64_t *out);

#endif
