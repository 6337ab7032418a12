/* test_window.c - the reminders' send window in Asia/Shanghai (UTC+8, no
 * daylight saving): inside or not, and the next opening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "gw_format.h"
#include "gw_window.h"

#define START (8 * 60)          /* 08:00 */
#define END (20 * 60)           /* 20:00 */

/* Unix ms of the Shanghai local time Y-M-D H:MI:S (UTC+8). */
static int64_t sh(int y, int m, int d, int h, int mi, int s)
{
    return ((gw_days_from_civil(y, m, d) * 86400) + (h - 8) * 3600 + mi * 60 + s) * 1000LL;
}

static int setup(void **state)
{
    (void)state;
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    return 0;
}

static void test_inside(void **state)
{
    (void)state;
    assert_false(gw_window_inside(sh(2026, 12, 1, 7, 59, 59), START, END));
    assert_true(gw_window_inside(sh(2026, 12, 1, 8, 0, 0), START, END));
    assert_true(gw_window_inside(sh(2026, 12, 1, 19, 59, 59), START, END));
    assert_false(gw_window_inside(sh(2026, 12, 1, 20, 0, 0), START, END));
    assert_false(gw_window_inside(sh(2026, 12, 1, 23, 30, 0), START, END));
    assert_false(gw_window_inside(sh(2026, 12, 1, 0, 0, 0), START, END));
    /* 22:00 in Shanghai is 14:00 UTC: the window follows local time, not UTC */
    assert_false(gw_window_inside(sh(2026, 12, 1, 22, 0, 0), START, END));
}

static void test_next(void **state)
{
    (void)state;
    int64_t t = sh(2026, 12, 1, 10, 15, 7);
    assert_true(gw_window_next(t, START, END) == t);                      /* inside: now */
    assert_true(gw_window_next(sh(2026, 12, 1, 22, 0, 0), START, END) ==
                sh(2026, 12, 2, 8, 0, 0));                                /* 22:00: 08:00 next day */
    assert_true(gw_window_next(sh(2026, 12, 1, 6, 30, 0), START, END) ==
                sh(2026, 12, 1, 8, 0, 0));                                /* early: today 08:00 */
    assert_true(gw_window_next(sh(2026, 12, 1, 20, 0, 0), START, END) ==
                sh(2026, 12, 2, 8, 0, 0));                                /* the end is outside */
    assert_true(gw_window_next(sh(2026, 12, 31, 21, 0, 0), START, END) ==
                sh(2027, 1, 1, 8, 0, 0));                                 /* over the year's end */
    assert_true(gw_window_next(sh(2028, 2, 28, 23, 59, 0), START, END) ==
                sh(2028, 2, 29, 8, 0, 0));                                /* a leap day */
    assert_true(gw_window_next(sh(2026, 12, 2, 0, 0, 0), 9 * 60 + 30, 17 * 60) ==
                sh(2026, 12, 2, 9, 30, 0));                               /* minutes kept */
}

static void test_opening(void **state)
{
    (void)state;
    assert_true(gw_window_opening(2026, 10, 7, START) == sh(2026, 10, 7, 8, 0, 0));
    assert_true(gw_window_opening(2026, 12, 32, START) == sh(2027, 1, 1, 8, 0, 0));
}

/* Automatic unpaid reminders: 30, 7 and 1 days before the due date at the
 * window's opening; past ones dropped, replaced by one at the next opening
 * while the due date is still ahead. */
static void test_unpaid_times(void **state)
{
    (void)state;
    const int offs[] = {30, 7, 1};
    int64_t out[4];
    size_t n = gw_unpaid_times("2026-12-31", offs, 3, 480, 1200, sh(2026, 11, 1, 12, 0, 0), out);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], sh(2026, 12, 1, 8, 0, 0));
    assert_int_equal(out[1], sh(2026, 12, 24, 8, 0, 0));
    assert_int_equal(out[2], sh(2026, 12, 30, 8, 0, 0));
    /* imported late, at 22:00 on the 25th: the 1-day one, and one tomorrow at 08:00 */
    n = gw_unpaid_times("2026-12-31", offs, 3, 480, 1200, sh(2026, 12, 25, 22, 0, 0), out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], sh(2026, 12, 26, 8, 0, 0));
    assert_int_equal(out[1], sh(2026, 12, 30, 8, 0, 0));
    /* over the year's end: due 2027-01-02, 7 days before is 2026-12-26 */
    n = gw_unpaid_times("2027-01-02", offs + 1, 2, 480, 1200, sh(2026, 12, 1, 9, 0, 0), out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], sh(2026, 12, 26, 8, 0, 0));
    assert_int_equal(out[1], sh(2027, 1, 1, 8, 0, 0));
    /* the 7-day and 1-day reminders both past in the same day: one, not two */
    n = gw_unpaid_times("2026-12-31", offs, 3, 480, 1200, sh(2026, 12, 30, 9, 0, 0), out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], sh(2026, 12, 30, 9, 0, 0));
    /* on the due day inside the window: at once (the last day to pay) */
    n = gw_unpaid_times("2026-12-31", offs, 3, 480, 1200, sh(2026, 12, 31, 9, 0, 0), out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], sh(2026, 12, 31, 9, 0, 0));
    /* on the due day before the window opens: at its opening */
    n = gw_unpaid_times("2026-12-31", offs, 3, 480, 1200, sh(2026, 12, 31, 6, 30, 0), out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], sh(2026, 12, 31, 8, 0, 0));
    /* on the due day once the window has closed, or later: nothing */
    assert_int_equal(gw_unpaid_times("2026-12-31", offs, 3, 480, 1200,
                                     sh(2026, 12, 31, 20, 0, 0), out), 0);
    assert_int_equal(gw_unpaid_times("2026-12-31", offs, 3, 480, 1200,
                                     sh(2027, 1, 5, 9, 0, 0), out), 0);
    assert_int_equal(gw_unpaid_times("not a date", offs, 3, 480, 1200, 0, out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inside),
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_opening),
        cmocka_unit_test(test_unpaid_times),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
