/* test_calendar.c - gw_calendar: the shipped 2026 calendar against the State
 * Council's notice, claim deadlines, date arithmetic and load errors.
 * Runs with the repository root as working directory (ctest sets it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_calendar.h"
#include "gw_format.h"

#define CN_2026 "ops/calendars/CN-2026.tsv"

static gw_date D(int y, int m, int d)
{
    gw_date out = {y, m, d};
    return out;
}

static void assert_date(gw_date got, int y, int m, int d)
{
    if (got.y != y || got.m != m || got.d != d)
        fail_msg("got %04d-%02d-%02d, want %04d-%02d-%02d", got.y, got.m, got.d, y, m, d);
}

static gw_calendar *load_2026(void)
{
    const char *files[] = {CN_2026, NULL};
    gw_calendar *cal = NULL;
    char err[256] = "";
    if (gw_calendar_load(files, &cal, err, sizeof err) != 0)
        fail_msg("loading %s: %s", CN_2026, err);
    assert_non_null(cal);
    return cal;
}

/* ---- the shipped 2026 calendar ---- */

/* The notice (国务院办公厅关于2026年部分节假日安排的通知, 2025-11-04), typed in
 * here from its text and not from the data file, so the file is checked. */
static const struct {
    int m1, d1, m2, d2; /* first and last day off, inclusive */
    const char *name;
} notice_off[] = {
    {1, 1, 1, 3, "元旦"},      {2, 15, 2, 23, "春节"},   {4, 4, 4, 6, "清明节"},
    {5, 1, 5, 5, "劳动节"},    {6, 19, 6, 21, "端午节"}, {9, 25, 9, 27, "中秋节"},
    {10, 1, 10, 7, "国庆节"},
};
static const struct {
    int m, d, weekday;
} notice_workday[] = {
    {1, 4, 0}, {2, 14, 6}, {2, 28, 6}, {5, 9, 6}, {9, 20, 0}, {10, 10, 6},
};

static int notice_off_name(gw_date d, const char **name)
{
    for (size_t i = 0; i < sizeof notice_off / sizeof notice_off[0]; i++) {
        int k = d.m * 100 + d.d;
        if (k >= notice_off[i].m1 * 100 + notice_off[i].d1 &&
            k <= notice_off[i].m2 * 100 + notice_off[i].d2) {
            *name = notice_off[i].name;
            return 1;
        }
    }
    return 0;
}

static int notice_is_workday(gw_date d)
{
    for (size_t i = 0; i < sizeof notice_workday / sizeof notice_workday[0]; i++)
        if (d.m == notice_workday[i].m && d.d == notice_workday[i].d)
            return 1;
    return 0;
}

static void test_2026_holidays_are_rest_days(void **state)
{
    (void)state;
    gw_calendar *cal = load_2026();
    for (size_t i = 0; i < sizeof notice_off / sizeof notice_off[0]; i++) {
        gw_date d = D(2026, notice_off[i].m1, notice_off[i].d1);
        gw_date last = D(2026, notice_off[i].m2, notice_off[i].d2);
        for (; gw_date_cmp(d, last) <= 0; d = gw_date_add_days(d, 1)) {
            if (!gw_calendar_is_rest_day(cal, d))
                fail_msg("2026-%02d-%02d (%s) is not a rest day", d.m, d.d, notice_off[i].name);
            const char *name = gw_calendar_name(cal, d);
            assert_non_null(name);
            assert_string_equal(name, notice_off[i].name);
        }
    }
    gw_calendar_free(cal);
}

static void test_2026_adjusted_working_days(void **state)
{
    (void)state;
    gw_calendar *cal = load_2026();
    for (size_t i = 0; i < sizeof notice_workday / sizeof notice_workday[0]; i++) {
        gw_date d = D(2026, notice_workday[i].m, notice_workday[i].d);
        /* They are weekend days, so only the file makes them working days. */
        assert_int_equal(gw_date_weekday(d), notice_workday[i].weekday);
        if (gw_calendar_is_rest_day(cal, d))
            fail_msg("2026-%02d-%02d is an adjusted working day, not a rest day", d.m, d.d);
        assert_int_equal(gw_calendar_is_rest_day(NULL, d), 1);
    }
    assert_string_equal(gw_calendar_name(cal, D(2026, 10, 10)), "国庆节");
    gw_calendar_free(cal);
}

static void test_2026_ordinary_days(void **state)
{
    (void)state;
    gw_calendar *cal = load_2026();
    /* Ordinary weekdays, some right next to holidays. */
    gw_date weekdays[] = {D(2026, 1, 5),  D(2026, 2, 13), D(2026, 2, 24), D(2026, 3, 3),
                          D(2026, 4, 7),  D(2026, 5, 6),  D(2026, 6, 18), D(2026, 9, 24),
                          D(2026, 10, 8), D(2026, 10, 9), D(2026, 12, 31)};
    for (size_t i = 0; i < sizeof weekdays / sizeof weekdays[0]; i++) {
        if (gw_calendar_is_rest_day(cal, weekdays[i]))
            fail_msg("%04d-%02d-%02d is a working day", weekdays[i].y, weekdays[i].m,
                     weekdays[i].d);
        assert_null(gw_calendar_name(cal, weekdays[i]));
    }
    /* Ordinary weekends. */
    gw_date weekends[] = {D(2026, 1, 10), D(2026, 1, 11), D(2026, 3, 7),   D(2026, 3, 8),
                          D(2026, 2, 7),  D(2026, 2, 8),  D(2026, 10, 11), D(2026, 12, 26),
                          D(2026, 12, 27)};
    for (size_t i = 0; i < sizeof weekends / sizeof weekends[0]; i++) {
        if (!gw_calendar_is_rest_day(cal, weekends[i]))
            fail_msg("%04d-%02d-%02d is a rest day", weekends[i].y, weekends[i].m,
                     weekends[i].d);
        assert_null(gw_calendar_name(cal, weekends[i]));
    }
    gw_calendar_free(cal);
}

/* Every day of 2026, against the notice: the file lists nothing more and
 * nothing less. */
static void test_2026_every_day_matches_notice(void **state)
{
    (void)state;
    gw_calendar *cal = load_2026();
    int rest = 0;
    for (gw_date d = D(2026, 1, 1); d.y == 2026; d = gw_date_add_days(d, 1)) {
        const char *name = NULL;
        int wd = gw_date_weekday(d);
        int want = notice_off_name(d, &name) || ((wd == 0 || wd == 6) && !notice_is_workday(d));
        int got = gw_calendar_is_rest_day(cal, d);
        if (got != want)
            fail_msg("2026-%02d-%02d: rest day %d, notice says %d", d.m, d.d, got, want);
        rest += got;
    }
    /* 104 weekend days - 6 worked + 19 weekdays off. */
    assert_int_equal(rest, 117);
    assert_int_equal(gw_calendar_has_year(cal, 2026), 1);
    assert_int_equal(gw_calendar_has_year(cal, 2025), 0);
    assert_int_equal(gw_calendar_has_year(cal, 2027), 0);
    int years[4] = {0};
    assert_int_equal(gw_calendar_years(cal, years, 4), 1);
    assert_int_equal(years[0], 2026);
    gw_calendar_free(cal);
}

/* ---- claim deadlines ---- */

static void test_deadlines_2026(void **state)
{
    (void)state;
    gw_calendar *cal = load_2026();
    /* Accident, 3 days: 2026-10-01 is National Day, the rest ends 10-07. */
    assert_date(gw_claim_deadline(cal, D(2026, 9, 28), 3), 2026, 10, 8);
    /* Spring Festival: 02-15 .. 02-23 off. */
    assert_date(gw_claim_deadline(cal, D(2026, 2, 12), 3), 2026, 2, 24);
    /* Critical illness, 10 days: 02-20 falls inside the Spring Festival. */
    assert_date(gw_claim_deadline(cal, D(2026, 2, 10), 10), 2026, 2, 24);
    /* 2026-01-01 .. 01-03 off, 01-04 is a Sunday worked. */
    assert_date(gw_claim_deadline(cal, D(2025, 12, 29), 3), 2026, 1, 4);
    /* An ordinary Saturday (2026-03-07) moves to Monday. */
    assert_date(gw_claim_deadline(cal, D(2026, 3, 4), 3), 2026, 3, 9);
    /* An ordinary Sunday (2026-03-08) too. */
    assert_date(gw_claim_deadline(cal, D(2026, 2, 26), 10), 2026, 3, 9);
    /* Adjusted working Saturdays stay. */
    assert_date(gw_claim_deadline(cal, D(2026, 2, 11), 3), 2026, 2, 14);
    assert_date(gw_claim_deadline(cal, D(2026, 10, 7), 3), 2026, 10, 10);
    assert_date(gw_claim_deadline(cal, D(2026, 9, 10), 10), 2026, 9, 20);
    /* A working day stays. */
    assert_date(gw_claim_deadline(cal, D(2026, 3, 2), 3), 2026, 3, 5);
    /* No 2027 file: weekends only; 2027-01-01 is a Friday and stays. */
    assert_int_equal(gw_calendar_has_year(cal, 2027), 0);
    assert_date(gw_claim_deadline(cal, D(2026, 12, 29), 3), 2027, 1, 1);
    /* 2027-01-02 is a Saturday: Monday. */
    assert_date(gw_claim_deadline(cal, D(2026, 12, 30), 3), 2027, 1, 4);
    gw_calendar_free(cal);
}

static void test_deadlines_without_calendar(void **state)
{
    (void)state;
    /* NULL: weekends only, so National Day is an ordinary Thursday... */
    assert_date(gw_claim_deadline(NULL, D(2026, 9, 28), 3), 2026, 10, 1);
    /* ...and an adjusted working Saturday is an ordinary Saturday. */
    assert_date(gw_claim_deadline(NULL, D(2026, 2, 11), 3), 2026, 2, 16);
    assert_int_equal(gw_calendar_is_rest_day(NULL, D(2026, 10, 1)), 0);
    assert_int_equal(gw_calendar_is_rest_day(NULL, D(2026, 10, 3)), 1);
    assert_int_equal(gw_calendar_is_rest_day(NULL, D(2026, 10, 4)), 1);
    assert_null(gw_calendar_name(NULL, D(2026, 10, 1)));
    assert_int_equal(gw_calendar_has_year(NULL, 2026), 0);
    int years[2] = {-1, -1};
    assert_int_equal(gw_calendar_years(NULL, years, 2), 0);
    assert_int_equal(years[0], -1);
}

/* ---- date arithmetic ---- */

static void test_add_days(void **state)
{
    (void)state;
    assert_date(gw_date_add_days(D(2024, 2, 28), 1), 2024, 2, 29);
    assert_date(gw_date_add_days(D(2024, 2, 28), 2), 2024, 3, 1);
    assert_date(gw_date_add_days(D(2026, 2, 28), 1), 2026, 3, 1);
    assert_date(gw_date_add_days(D(2028, 2, 28), 1), 2028, 2, 29);
    assert_date(gw_date_add_days(D(2028, 2, 29), 1), 2028, 3, 1);
    assert_date(gw_date_add_days(D(2028, 2, 29), 365), 2029, 2, 28);
    assert_date(gw_date_add_days(D(2028, 2, 29), 366), 2029, 3, 1);
    assert_date(gw_date_add_days(D(2100, 2, 28), 1), 2100, 3, 1);   /* not a leap year */
    assert_date(gw_date_add_days(D(2000, 2, 28), 1), 2000, 2, 29);  /* a leap year */
    assert_date(gw_date_add_days(D(2026, 12, 31), 1), 2027, 1, 1);
    assert_date(gw_date_add_days(D(2026, 1, 31), 1), 2026, 2, 1);
    assert_date(gw_date_add_days(D(2026, 4, 30), 1), 2026, 5, 1);
    assert_date(gw_date_add_days(D(2026, 5, 5), 0), 2026, 5, 5);
    assert_date(gw_date_add_days(D(2026, 1, 1), 365), 2027, 1, 1);
    /* Negative N. */
    assert_date(gw_date_add_days(D(2027, 1, 1), -1), 2026, 12, 31);
    assert_date(gw_date_add_days(D(2024, 3, 1), -1), 2024, 2, 29);
    assert_date(gw_date_add_days(D(2026, 3, 1), -1), 2026, 2, 28);
    assert_date(gw_date_add_days(D(2028, 3, 1), -366), 2027, 3, 1);
    assert_date(gw_date_add_days(D(1970, 1, 1), -1), 1969, 12, 31);
    assert_date(gw_date_add_days(D(2026, 10, 8), -10), 2026, 9, 28);
}

/* Every date of 1900..2199, walked with gw_date_parse deciding which dates
 * exist: each is the one after the one before. */
static void test_add_days_walk(void **state)
{
    (void)state;
    gw_date prev = D(1899, 12, 31);
    long n = 0;
    for (int y = 1900; y <= 2199; y++)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= 31; d++) {
                char s[16];
                snprintf(s, sizeof s, "%04d-%02d-%02d", y, m, d);
                if (gw_date_parse(s, NULL, NULL, NULL) != 0)
                    continue;
                gw_date next = gw_date_add_days(prev, 1);
                if (next.y != y || next.m != m || next.d != d)
                    fail_msg("%04d-%02d-%02d + 1 = %04d-%02d-%02d, want %s", prev.y, prev.m,
                             prev.d, next.y, next.m, next.d, s);
                gw_date back = gw_date_add_days(next, -1);
                assert_int_equal(gw_date_cmp(back, prev), 0);
                assert_int_equal(gw_date_cmp(prev, next), -1);
                prev = next;
                n++;
            }
    /* 300 years, 73 of them leap (2100 is not). */
    assert_int_equal(n, 300L * 365 + 73);
    assert_date(gw_date_add_days(D(1900, 1, 1), (int)(n - 1)), 2199, 12, 31);
}

static void test_weekday(void **state)
{
    (void)state;
    assert_int_equal(gw_date_weekday(D(1970, 1, 1)), 4);   /* Thursday */
    assert_int_equal(gw_date_weekday(D(1969, 12, 31)), 3); /* Wednesday */
    assert_int_equal(gw_date_weekday(D(1949, 10, 1)), 6);  /* Saturday */
    assert_int_equal(gw_date_weekday(D(2000, 1, 1)), 6);   /* Saturday */
    assert_int_equal(gw_date_weekday(D(2024, 2, 29)), 4);  /* Thursday */
    assert_int_equal(gw_date_weekday(D(2026, 1, 1)), 4);   /* Thursday */
    assert_int_equal(gw_date_weekday(D(2026, 2, 17)), 2);  /* Tuesday, 春节 */
    assert_int_equal(gw_date_weekday(D(2026, 10, 1)), 4);  /* Thursday */
    assert_int_equal(gw_date_weekday(D(2026, 10, 4)), 0);  /* Sunday */
    assert_int_equal(gw_date_weekday(D(2027, 1, 1)), 5);   /* Friday */
    assert_int_equal(gw_date_weekday(D(2027, 1, 2)), 6);   /* Saturday */
    assert_int_equal(gw_date_weekday(D(2026, 3, 2)), 1);   /* Monday */
}

static void test_cmp(void **state)
{
    (void)state;
    assert_int_equal(gw_date_cmp(D(2026, 1, 1), D(2026, 1, 1)), 0);
    assert_int_equal(gw_date_cmp(D(2026, 1, 1), D(2026, 1, 2)), -1);
    assert_int_equal(gw_date_cmp(D(2026, 1, 2), D(2026, 1, 1)), 1);
    assert_int_equal(gw_date_cmp(D(2026, 1, 31), D(2026, 2, 1)), -1);
    assert_int_equal(gw_date_cmp(D(2025, 12, 31), D(2026, 1, 1)), -1);
    assert_int_equal(gw_date_cmp(D(2027, 1, 1), D(2026, 12, 31)), 1);
    assert_int_equal(gw_date_cmp(D(2026, 3, 1), D(2026, 2, 28)), 1);
}

/* ---- loading ---- */

/* Writes TEXT to a new temporary file; its path goes into PATH. */
static void write_temp(const char *text, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "/tmp/gw_calendar_test_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Loading TEXT fails with an error that starts "PATH:LINE: " and contains
 * REASON; *OUT is left alone. */
static void expect_load_error(const char *text, int line, const char *reason)
{
    char path[64];
    write_temp(text, path, sizeof path);
    const char *files[] = {path, NULL};
    gw_calendar *cal = (gw_calendar *)&cal; /* a sentinel that must stay */
    char err[256] = "";
    int rc = gw_calendar_load(files, &cal, err, sizeof err);
    unlink(path);
    if (rc != -1)
        fail_msg("loaded, want an error with \"%s\"", reason);
    assert_ptr_equal(cal, (gw_calendar *)&cal);
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, reason) == NULL)
        fail_msg("error \"%s\", want \"%s...%s\"", err, prefix, reason);
}

static void test_load_errors(void **state)
{
    (void)state;
    expect_load_error("# c\n2026-02-14\tworkday\t春节\n2026-02-30\toff\t春节\n", 3,
                      "bad date \"2026-02-30\"");
    expect_load_error("2026-13-01\toff\tx\n", 1, "bad date");
    expect_load_error("26-01-01\toff\tx\n", 1, "bad date");
    expect_load_error("2026-01-01\toff\t元旦\n2026-01-02\tof\t元旦\n", 2,
                      "bad kind \"of\" (off or workday)");
    expect_load_error("2026-01-01\tOFF\t元旦\n", 1, "bad kind");
    expect_load_error("\n2026-01-01\toff\n", 2, "2 columns");
    expect_load_error("2026-01-01\n", 1, "1 column");
    expect_load_error("2026-01-01 off 元旦\n", 1, "1 column");
    expect_load_error("2026-01-01\toff\t元旦\textra\n", 1, "4 columns");
    expect_load_error("2026-01-01\toff\t\n", 1, "bad name");
    expect_load_error("2026-01-01\toff\t\xff\xfe\n", 1, "bad name");
    /* A workday on a weekday is a mistyped date. */
    expect_load_error("2026-01-05\tworkday\t元旦\n", 1, "2026-01-05 is a Monday");
    /* Listed twice, the same kind or both kinds: the later line is named. */
    expect_load_error("2026-10-01\toff\t国庆节\n2026-10-02\toff\t国庆节\n"
                      "2026-09-30\toff\tx\n2026-10-01\toff\t国庆节\n",
                      4, "2026-10-01 listed twice (also at ");
    expect_load_error("2026-01-04\tworkday\t元旦\n# later\n2026-01-04\toff\t元旦\n", 3,
                      "2026-01-04 listed both off and workday");
}

static void test_load_duplicate_across_files(void **state)
{
    (void)state;
    char a[64], b[64];
    write_temp("2026-10-01\toff\t国庆节\n", a, sizeof a);
    write_temp("# 2 \n\n2026-10-01\toff\t国庆节\n", b, sizeof b);
    const char *files[] = {a, b, NULL};
    gw_calendar *cal = NULL;
    char err[256] = "";
    assert_int_equal(gw_calendar_load(files, &cal, err, sizeof err), -1);
    unlink(a);
    unlink(b);
    assert_null(cal);
    char want[200];
    snprintf(want, sizeof want, "%s:3: 2026-10-01 listed twice (also at %s:1)", b, a);
    assert_string_equal(err, want);
}

static void test_load_unreadable(void **state)
{
    (void)state;
    const char *missing = "ops/calendars/CN-1999-no-such-file.tsv";
    const char *files[] = {CN_2026, missing, NULL};
    gw_calendar *cal = NULL;
    char err[256] = "";
    assert_int_equal(gw_calendar_load(files, &cal, err, sizeof err), -1);
    assert_null(cal);
    char want[128];
    snprintf(want, sizeof want, "%s:0: cannot open", missing);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error \"%s\", want \"%s...\"", err, want);

    /* A directory opens but cannot be read. */
    const char *dir[] = {"ops/calendars", NULL};
    err[0] = '\0';
    assert_int_equal(gw_calendar_load(dir, &cal, err, sizeof err), -1);
    assert_null(cal);
    if (strncmp(err, "ops/calendars:1: read error", 27) != 0)
        fail_msg("error \"%s\"", err);
}

static void test_load_empty(void **state)
{
    (void)state;
    const char *none[] = {NULL};
    const char *const *lists[] = {NULL, none};
    for (size_t i = 0; i < 2; i++) {
        gw_calendar *cal = NULL;
        char err[128] = "";
        assert_int_equal(gw_calendar_load(lists[i], &cal, err, sizeof err), 0);
        assert_non_null(cal);
        assert_int_equal(gw_calendar_has_year(cal, 2026), 0);
        int years[2];
        assert_int_equal(gw_calendar_years(cal, years, 2), 0);
        assert_int_equal(gw_calendar_is_rest_day(cal, D(2026, 10, 1)), 0);
        assert_int_equal(gw_calendar_is_rest_day(cal, D(2026, 2, 14)), 1);
        assert_date(gw_claim_deadline(cal, D(2026, 9, 28), 3), 2026, 10, 1);
        gw_calendar_free(cal);
    }
    gw_calendar_free(NULL);
}

/* Comments, blank lines and CRLF endings load; two files make two years. */
static void test_load_two_years(void **state)
{
    (void)state;
    char path[64];
    write_temp("# test data\r\n\r\n   \r\n2027-01-01\toff\t元旦\r\n"
               "  # indented comment\r\n2027-01-02\toff\t元旦",
               path, sizeof path);
    const char *files[] = {path, CN_2026, NULL};
    gw_calendar *cal = NULL;
    char err[256] = "";
    int rc = gw_calendar_load(files, &cal, err, sizeof err);
    unlink(path);
    if (rc != 0)
        fail_msg("%s", err);
    int years[3] = {0, 0, 0};
    assert_int_equal(gw_calendar_years(cal, years, 3), 2);
    assert_int_equal(years[0], 2026);
    assert_int_equal(years[1], 2027);
    assert_int_equal(gw_calendar_years(cal, years, 1), 1);
    assert_int_equal(gw_calendar_has_year(cal, 2027), 1);
    assert_int_equal(gw_calendar_has_year(cal, 2026), 1);
    assert_string_equal(gw_calendar_name(cal, D(2027, 1, 2)), "元旦");
    /* 2027-01-01 is now a holiday, 01-02 and 01-03 a weekend: Monday. */
    assert_date(gw_claim_deadline(cal, D(2026, 12, 29), 3), 2027, 1, 4);
    assert_date(gw_claim_deadline(cal, D(2026, 9, 28), 3), 2026, 10, 8);
    gw_calendar_free(cal);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2026_holidays_are_rest_days),
        cmocka_unit_test(test_2026_adjusted_working_days),
        cmocka_unit_test(test_2026_ordinary_days),
        cmocka_unit_test(test_2026_every_day_matches_notice),
        cmocka_unit_test(test_deadlines_2026),
        cmocka_unit_test(test_deadlines_without_calendar),
        cmocka_unit_test(test_add_days),
        cmocka_unit_test(test_add_days_walk),
        cmocka_unit_test(test_weekday),
        cmocka_unit_test(test_cmp),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_duplicate_across_files),
        cmocka_unit_test(test_load_unreadable),
        cmocka_unit_test(test_load_empty),
        cmocka_unit_test(test_load_two_years),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
