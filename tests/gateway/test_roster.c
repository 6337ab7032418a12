/* test_roster.c - gw_roster: the participant CSV as a stream, its line
 * numbers and reasons, and the per-field rules shared with the records
 * backend. Every parse is run in several chunkings and must not change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_roster.h"

#define HEADER                                                                          \
    "participant_id,phone,name,id_last4,township,village,language,contribution_year,"  \
    "contribution_tier_yuan,contribution_paid_yuan,contribution_due,account_balance_yuan," \
    "pension_monthly_yuan,pension_last_paid,mutual_aid_member"

/* The reject of a line that ends inside a quoted field. */
#define NOT_CLOSED "!a quoted field is not closed on its line (a stray \" character?)\n"
/* A good row's fields after its id, for building lines. */
#define GOOD_REST ",13812345678,张三,123x,城关镇,东村,,2026,100,0,2026-12-31,1520.35,,,yes"

/* ---- collecting what the parser reports ---- */

typedef struct collect {
    char log[16384];        /* "line id" or "line !reason", one per line */
    size_t len;
    gw_participant rows[8]; /* the first rows, for field checks */
    size_t nrows, nrejects;
    size_t stop_after;      /* row callback asks to stop after this many; 0 never */
    int quiet;              /* count only, no log */
} collect;

static void log_add(collect *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->log + c->len, sizeof c->log - c->len, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof c->log - c->len);
    c->len += (size_t)n;
}

static int on_row(const gw_participant *p, size_t line, void *arg)
{
    collect *c = arg;
    if (c->nrows < sizeof c->rows / sizeof c->rows[0])
        c->rows[c->nrows] = *p;
    c->nrows++;
    if (!c->quiet)
        log_add(c, "%zu %s\n", line, p->id);
    return c->stop_after != 0 && c->nrows >= c->stop_after;
}

static void on_reject(size_t line, const char *reason, void *arg)
{
    collect *c = arg;
    c->nrejects++;
    if (!c->quiet)
        log_add(c, "%zu !%s\n", line, reason);
}

/* Parses CSV (LEN bytes) fed CHUNK bytes at a time into C; returns what
 * feed/finish returned. */
static int run_chunked(collect *c, const char *csv, size_t len, size_t chunk)
{
    memset(c, 0, sizeof *c);
    gw_roster *r = gw_roster_new(on_row, on_reject, c);
    assert_non_null(r);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += chunk)
        rc = gw_roster_feed(r, csv + off, len - off < chunk ? len - off : chunk);
    if (rc == 0)
        rc = gw_roster_finish(r);
    if (rc != 0)
        log_add(c, "error: %s\n", gw_roster_error(r));
    gw_roster_free(r);
    return rc;
}

/* Parses CSV whole and in chunks of 1, 2, 3, 5 and 64 bytes; all must agree.
 * Returns the whole-input result in C. */
static int run(collect *c, const char *csv)
{
    static collect other;
    size_t len = strlen(csv);
    static const size_t chunks[] = {1, 2, 3, 5, 64};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        int rc = run_chunked(&other, csv, len, chunks[i]);
        int rc_whole = run_chunked(c, csv, len, len > 0 ? len : 1);
        assert_int_equal(rc, rc_whole);
        if (strcmp(other.log, c->log) != 0)
            fail_msg("chunks of %zu give\n%s\nwhole input gives\n%s", chunks[i], other.log,
                     c->log);
    }
    return run_chunked(c, csv, len, len > 0 ? len : 1);
}

static void expect_log(const char *csv, const char *log)
{
    collect c;
    run(&c, csv);
    if (strcmp(c.log, log) != 0)
        fail_msg("got\n%s\nexpected\n%s", c.log, log);
}

/* ---- good rows ---- */

static void test_good_rows(void **state)
{
    (void)state;
    collect c;
    assert_int_equal(run(&c, HEADER "\n"
                                    "P001" GOOD_REST "\n"
                                    "p-2.x_9, +86 159-1234-5678 ,John Smith,,,,EN,,,,,,1234.56,2026-09-15,no\n"),
                     0);
    assert_string_equal(c.log, "2 P001\n3 p-2.x_9\n");
    const gw_participant *p = &c.rows[0];
    assert_string_equal(p->id, "P001");
    assert_string_equal(p->phone, "+8613812345678");
    assert_string_equal(p->name, "张三");
    assert_string_equal(p->id_last4, "123X");
    assert_string_equal(p->township, "城关镇");
    assert_string_equal(p->village, "东村");
    assert_string_equal(p->language, "zh");
    assert_int_equal(p->contribution_year, 2026);
    assert_int_equal(p->contribution_tier_fen, 10000);
    assert_int_equal(p->contribution_paid_fen, 0);
    assert_string_equal(p->contribution_due, "2026-12-31");
    assert_int_equal(p->account_balance_fen, 152035);
    assert_int_equal(p->pension_monthly_fen, -1);
    assert_string_equal(p->pension_last_paid, "");
    assert_int_equal(p->mutual_aid_member, 1);

    p = &c.rows[1];
    assert_string_equal(p->phone, "+8615912345678");
    assert_string_equal(p->name, "John Smith");
    assert_string_equal(p->id_last4, "");
    assert_string_equal(p->language, "en");
    assert_int_equal(p->contribution_year, 0);
    assert_int_equal(p->contribution_tier_fen, -1);
    assert_int_equal(p->contribution_paid_fen, 0);
    assert_int_equal(p->account_balance_fen, -1);
    assert_int_equal(p->pension_monthly_fen, 123456);
    assert_string_equal(p->pension_last_paid, "2026-09-15");
    assert_int_equal(p->mutual_aid_member, 0);
}

static void test_no_phone_and_household(void **state)
{
    (void)state;
    collect c;
    run(&c, HEADER "\n"
                   "A1,,王小明,,,,,,,,,,,,\n"
                   "A2,13812345678,李四,,,,,,,,,,,,\n"
                   "A3,138-1234-5678,李五,,,,,,,,,,,,\n");
    assert_string_equal(c.log, "2 A1\n3 A2\n4 A3\n");
    assert_string_equal(c.rows[0].phone, "");
    assert_string_equal(c.rows[1].phone, c.rows[2].phone);
}

/* ---- bad fields: each with its line and a reason naming the column ---- */

static void test_bad_fields(void **state)
{
    (void)state;
    expect_log(HEADER "\n"
                      "B01,010 12345678,张三,,,,,,,,,,,,\n"
                      "B02,+1 650 253 0000,张三,,,,,,,,,,,,\n"
                      "B03,hello,张三,,,,,,,,,,,,\n"
                      "B04,13812345678,,,,,,,,,,,,,\n"
                      "B05,13812345678,张三,12345,,,,,,,,,,,\n"
                      "B06,13812345678,张三,12a4,,,,,,,,,,,\n"
                      "B07,13812345678,张三,,,,fr,,,,,,,,\n"
                      "B08,13812345678,张三,,,,,1989,,,,,,,\n"
                      "B09,13812345678,张三,,,,,2101,,,,,,,\n"
                      "B10,13812345678,张三,,,,,26,,,,,,,\n"
                      "B11,13812345678,张三,,,,,,1.234,,,,,,\n"
                      "B12,13812345678,张三,,,,,,,-100,,,,,\n"
                      "B13,13812345678,张三,,,,,,,,2026-02-29,,,,\n"
                      "B14,13812345678,张三,,,,,,,,,1e3,,,\n"
                      "B15,13812345678,张三,,,,,,,,,,abc,,\n"
                      "B16,13812345678,张三,,,,,,,,,,,2026-1-5,\n"
                      "B17,13812345678,张三,,,,,,,,,,,,maybe\n"
                      ",13812345678,张三,,,,,,,,,,,,\n"
                      "B 19,13812345678,张三,,,,,,,,,,,,\n"
                      "B20,13812345678,张三\n"
                      "B21" GOOD_REST ",extra\n"
                      "OK" GOOD_REST "\n",
               "2 !phone: not a mobile number\n"
               "3 !phone: not a Chinese number\n"
               "4 !phone: not a number\n"
               "5 !name: required\n"
               "6 !id_last4: must be 4 characters of 0-9 or X\n"
               "7 !id_last4: must be 4 characters of 0-9 or X\n"
               "8 !language: must be zh or en\n"
               "9 !contribution_year: must be a year from 1990 to 2100\n"
               "10 !contribution_year: must be a year from 1990 to 2100\n"
               "11 !contribution_year: must be a year from 1990 to 2100\n"
               "12 !contribution_tier_yuan: more than two decimals\n"
               "13 !contribution_paid_yuan: negative amount\n"
               "14 !contribution_due: not a date (YYYY-MM-DD)\n"
               "15 !account_balance_yuan: not an amount\n"
               "16 !pension_monthly_yuan: not an amount\n"
               "17 !pension_last_paid: not a date (YYYY-MM-DD)\n"
               "18 !mutual_aid_member: must be yes or no\n"
               "19 !participant_id: required\n"
               "20 !participant_id: only letters, digits, '_', '.' and '-' allowed\n"
               "21 !expected 15 fields, got 3\n"
               "22 !expected 15 fields, got 16\n"
               "23 OK\n");
}

static void test_lengths_and_text(void **state)
{
    (void)state;
    char csv[4096];
    char longname[200], longid[80];
    memset(longname, 'a', 95);
    longname[95] = '\0';            /* 95 bytes fit name[96] */
    memset(longid, 'i', 64);
    longid[64] = '\0';              /* 64 chars do not fit: 1..63 */
    char bigfield[1000];
    memset(bigfield, 'v', sizeof bigfield - 1);
    bigfield[sizeof bigfield - 1] = '\0';
    snprintf(csv, sizeof csv,
             HEADER "\n"
                    "L1,,%s,,,,,,,,,,,,\n"
                    "L2,,%sb,,,,,,,,,,,,\n"
                    "%s,,x,,,,,,,,,,,,\n"
                    "%.63s,,x,,,,,,,,,,,,\n"
                    "L5,,x,,%s,,,,,,,,,,\n"
                    "L6,,\"tab\there\",,,,,,,,,,,,\n"
                    "L7,,bad\xff,,,,,,,,,,,,\n"
                    "L8,,\"two\nlines\",,,,,,,,,,,,\n"
                    "L9,,ok\x7f,,,,,,,,,,,,\n"
                    "L10,,\xe4\xbd,,,,,,,,,,,,\n"
                    "L11,,\xc2\x85,,,,,,,,,,,,\n"
                    "L12,,x,,,\"  \",,,,,,,,,\n",
             longname, longname, longid, longid, bigfield);
    char expected[512];
    snprintf(expected, sizeof expected, "2 L1\n"
                                        "3 !name: too long\n"
                                        "4 !participant_id: too long\n"
                                        "5 %.63s\n"
                                        "6 !township: too long\n"
                                        "7 !name: control character\n"
                                        "8 !name: invalid UTF-8\n"
                                        "9 " NOT_CLOSED
                                        "10 !expected 15 fields, got 13\n"
                                        "11 !name: control character\n"
                                        "12 !name: invalid UTF-8\n"
                                        "13 !name: control character\n"
                                        "14 L12\n",
             longid);
    expect_log(csv, expected);
}

/* ---- the header ---- */

static void test_header_reordered(void **state)
{
    (void)state;
    collect c;
    run(&c, "name,participant_id,mutual_aid_member,phone,id_last4,village,township,language,"
            "contribution_year,contribution_tier_yuan,contribution_paid_yuan,contribution_due,"
            "account_balance_yuan,pension_monthly_yuan,pension_last_paid\n"
            "赵六,R1,yes,15912345678,0000,西村,东镇,en,2025,200,200,2025-12-31,1000,60,2026-01-10\n");
    assert_string_equal(c.log, "2 R1\n");
    const gw_participant *p = &c.rows[0];
    assert_string_equal(p->name, "赵六");
    assert_string_equal(p->phone, "+8615912345678");
    assert_string_equal(p->village, "西村");
    assert_string_equal(p->township, "东镇");
    assert_int_equal(p->mutual_aid_member, 1);
    assert_int_equal(p->contribution_paid_fen, 20000);
    assert_int_equal(p->pension_monthly_fen, 6000);
    assert_string_equal(p->pension_last_paid, "2026-01-10");
}

static void test_header_spaced_and_quoted(void **state)
{
    (void)state;
    expect_log("participant_id, phone ,\"name\",id_last4,township,village,language,"
               "contribution_year,contribution_tier_yuan,contribution_paid_yuan,"
               "contribution_due,account_balance_yuan,pension_monthly_yuan,"
               "pension_last_paid,mutual_aid_member\n"
               "S1" GOOD_REST "\n",
               "2 S1\n");
}

static void test_header_missing(void **state)
{
    (void)state;
    expect_log("P001" GOOD_REST "\nP002" GOOD_REST "\n",
               "1 !header: missing (the first row must name the columns)\n"
               "2 !not read: the header row is wrong\n");
    expect_log("", "1 !header: missing (the roster is empty)\n");
    expect_log("\n\n  \n", "1 !header: missing (the roster is empty)\n");
}

static void test_header_wrong(void **state)
{
    (void)state;
    /* a column missing */
    expect_log("participant_id,phone,name\nP1,13812345678,x\nP2,13812345678,y\n",
               "1 !header: missing column id_last4\n"
               "2 !not read: the header row is wrong\n"
               "3 !not read: the header row is wrong\n");
    /* a misspelt column */
    expect_log("participant_id,phone,name,id_last4,township,village,language,contribution_year,"
               "contribution_tier_yuan,contribution_paid_yuan,contribution_due,"
               "account_balance_yuan,pension_monthly_yuan,pension_last_paid,mutual_aid\n"
               "P1" GOOD_REST "\n",
               "1 !header: unknown column \"mutual_aid\"\n"
               "2 !not read: the header row is wrong\n");
    /* a column twice (and so another missing) */
    expect_log("participant_id,phone,name,id_last4,township,village,language,contribution_year,"
               "contribution_tier_yuan,contribution_paid_yuan,contribution_due,"
               "account_balance_yuan,pension_monthly_yuan,pension_last_paid,phone\n"
               "P1" GOOD_REST "\n",
               "1 !header: column phone given twice\n"
               "2 !not read: the header row is wrong\n");
    /* an extra column */
    expect_log(HEADER ",notes\nP1" GOOD_REST ",hi\n",
               "1 !header: 16 columns, expected 15\n"
               "2 !not read: the header row is wrong\n");
    /* names are exact */
    expect_log("Participant_ID,phone,name,id_last4,township,village,language,contribution_year,"
               "contribution_tier_yuan,contribution_paid_yuan,contribution_due,"
               "account_balance_yuan,pension_monthly_yuan,pension_last_paid,mutual_aid_member\n",
               "1 !header: unknown column \"Participant_ID\"\n");
}

/* ---- CSV shape: quotes, line ends, BOM, blank lines ---- */

static void test_quoted_fields(void **state)
{
    (void)state;
    collect c;
    run(&c, HEADER "\n"
                   "Q1,13812345678,\"Smith, John\",,\"城关镇, 北区\",\"He said \"\"hi\"\"\",,,,,,,,,\n"
                   "\"Q2\",\"13812345678\",\"张三\",\"123X\",,,\"en\",\"2026\",\"100.50\",,,,,,\"yes\"\n"
                   "Q3,13812345678,\"multi\nline\nname\",,,,,,,,,,,,\n"
                   "Q4,13812345678,李四,,,\"a village\",,,,,,,,,\n");
    /* no field may hold a line break: a quote open at a line's end is a
     * bad row there, and the lines after it are rows of their own */
    assert_string_equal(c.log, "2 Q1\n3 Q2\n4 " NOT_CLOSED "5 !expected 15 fields, got 1\n"
                               "6 !expected 15 fields, got 13\n7 Q4\n");
    assert_string_equal(c.rows[0].name, "Smith, John");
    assert_string_equal(c.rows[0].township, "城关镇, 北区");
    assert_string_equal(c.rows[0].village, "He said \"hi\"");
    assert_string_equal(c.rows[1].id_last4, "123X");
    assert_int_equal(c.rows[1].contribution_tier_fen, 10050);
    assert_int_equal(c.rows[1].mutual_aid_member, 1);
}

static void test_quoted_newline_in_first_field(void **state)
{
    (void)state;
    /* a first field that would span lines: its row is rejected on its
     * first line, and the lines after it are read as rows */
    expect_log(HEADER "\n"
                      "\"X\n1\",13812345678,a,,,,,,,,,,,,\n"
                      "\"\n\n\"" GOOD_REST "\n"
                      "OK" GOOD_REST "\n",
               "2 " NOT_CLOSED
               "3 !participant_id: only letters, digits, '_', '.' and '-' allowed\n"
               "4 " NOT_CLOSED
               "6 " NOT_CLOSED
               "7 OK\n");
}

static void test_crlf_bom_blank_lines(void **state)
{
    (void)state;
    expect_log("\xEF\xBB\xBF" HEADER "\r\n"
               "C1" GOOD_REST "\r\n"
               "\r\n"
               "C2,\"13812345678\",\"two\r\nlines\",,,,,,,,,,,,\r\n"
               "   \r\n"
               "C3" GOOD_REST "\r\n"
               "\n"
               "\n"
               "C4" GOOD_REST,
               "2 C1\n"
               "4 " NOT_CLOSED
               "5 !expected 15 fields, got 13\n"
               "7 C3\n"
               "10 C4\n");
    /* blank lines before the header: the header is the first record */
    expect_log("\n\n" HEADER "\nC1" GOOD_REST "\n", "4 C1\n");
    /* a BOM alone, or half a BOM, is not a header */
    expect_log("\xEF\xBB\xBF", "1 !header: missing (the roster is empty)\n");
    expect_log("\xEF\xBB", "1 !header: missing (the first row must name the columns)\n");
    /* a BOM-like start that is not a BOM stays in the data */
    expect_log("\xEF" HEADER "\n",
               "1 !header: unknown column \"\xEF" "participant_id\"\n");
}

/* Lone '\r' line ends (old Mac spreadsheets' CSV): each is a line, and a
 * "\r\n" is still one. Found by tests/fuzz/fuzz_roster (rows were all
 * reported on line 1). */
static void test_cr_line_ends(void **state)
{
    (void)state;
    expect_log(HEADER "\r"
               "R1" GOOD_REST "\r"
               "\r"
               "R2,13812345678,\"two\rlines\",,,,,,,,,,,,\r"
               "R3,13812345678,x,,,,fr,,,,,,,,\r\n"
               "R4" GOOD_REST "\r\r\n"
               "R5" GOOD_REST,
               "2 R1\n"
               "4 " NOT_CLOSED
               "5 !expected 15 fields, got 13\n"
               "6 !language: must be zh or en\n"
               "7 R4\n"
               "9 R5\n");
}

static void test_last_row_without_newline(void **state)
{
    (void)state;
    expect_log(HEADER "\nE1" GOOD_REST "\nE2" GOOD_REST, "2 E1\n3 E2\n");
    expect_log(HEADER, "");
    expect_log(HEADER "\n", "");
}

static void test_unclosed_quote(void **state)
{
    (void)state;
    /* a stray quote does not take the rows after it along (it used to run
     * to the next quote, and the rows between were neither imported nor
     * rejected) */
    expect_log(HEADER "\n"
                      "U1" GOOD_REST "\n"
                      "U2,13812345678,\"never closed,,,,,,,,,,,,\n"
                      "U3" GOOD_REST "\n"
                      "U4" GOOD_REST "\n",
               "2 U1\n"
               "3 " NOT_CLOSED
               "4 U3\n"
               "5 U4\n");
    /* on the last line, without a line end */
    expect_log(HEADER "\n"
                      "U1" GOOD_REST "\n"
                      "U2,13812345678,\"never closed,,,,,,,,,,,,",
               "2 U1\n"
               "3 !a quoted field is not closed before the end of the file\n");

    size_t n = 80 * 1024;
    char *csv = malloc(n + 1);
    assert_non_null(csv);
    collect c;
    int h;
    /* a field over 64 KiB that ends on its line is only a bad row, in
     * every chunking (found by tests/fuzz/fuzz_roster's chunk comparison:
     * a chunk ending inside it used to stop the import) */
    h = snprintf(csv, n + 1, HEADER "\nU1,13812345678,");
    memset(csv + h, 'x', n - (size_t)h);
    char tail[] = ",,,,,,,,,,,,\nU2" GOOD_REST "\n";
    char *more = realloc(csv, n + sizeof tail);
    assert_non_null(more);
    csv = more;
    memcpy(csv + n, tail, sizeof tail);
    assert_int_equal(run(&c, csv), 0);
    assert_string_equal(c.log, "2 !name: too long\n3 U2\n");
    free(csv);
}

/* ---- the callbacks and the API around the parse ---- */

static void test_stop_from_callback(void **state)
{
    (void)state;
    static const char csv[] = HEADER "\nA" GOOD_REST "\nB" GOOD_REST "\nC" GOOD_REST "\n";
    collect c;
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    gw_roster *r = gw_roster_new(on_row, on_reject, &c);
    assert_non_null(r);
    assert_string_equal(gw_roster_error(r), "");
    assert_int_equal(gw_roster_feed(r, csv, sizeof csv - 1), -1);
    assert_string_equal(c.log, "2 A\n3 B\n");
    assert_string_equal(gw_roster_error(r), "import stopped at line 3");
    assert_int_equal(gw_roster_feed(r, csv, 1), -1);
    assert_int_equal(gw_roster_finish(r), -1);
    gw_roster_free(r);
    gw_roster_free(NULL);
}

static void test_feed_after_finish(void **state)
{
    (void)state;
    collect c;
    memset(&c, 0, sizeof c);
    gw_roster *r = gw_roster_new(on_row, on_reject, &c);
    assert_int_equal(gw_roster_feed(r, HEADER "\n", sizeof HEADER), 0);
    assert_int_equal(gw_roster_finish(r), 0);
    assert_int_equal(gw_roster_finish(r), 0);
    assert_int_equal(gw_roster_feed(r, "x", 1), -1);
    assert_string_equal(gw_roster_error(r), "fed after the end of the input");
    gw_roster_free(r);
}

static void test_many_rows(void **state)
{
    (void)state;
    size_t rows = 20000, cap = rows * 120 + 512;
    char *csv = malloc(cap);
    assert_non_null(csv);
    size_t n = (size_t)snprintf(csv, cap, "%s\n", HEADER);
    for (size_t i = 0; i < rows; i++)
        n += (size_t)snprintf(csv + n, cap - n,
                              "ID%zu,1381234%04zu,张三,%s,镇,村,zh,2026,100,%s,2026-12-31,10.5,,,no\n",
                              i, i % 10000, i % 1000 == 7 ? "12" : "",
                              i % 2 ? "100" : "0");
    collect c;
    memset(&c, 0, sizeof c);
    c.quiet = 1;
    gw_roster *r = gw_roster_new(on_row, on_reject, &c);
    for (size_t off = 0; off < n; off += 4096)
        assert_int_equal(gw_roster_feed(r, csv + off, n - off < 4096 ? n - off : 4096), 0);
    assert_int_equal(gw_roster_finish(r), 0);
    gw_roster_free(r);
    assert_int_equal(c.nrows, rows - rows / 1000);
    assert_int_equal(c.nrejects, rows / 1000);
    free(csv);
}

static void test_set_field(void **state)
{
    (void)state;
    gw_participant p;
    char err[96];
    gw_participant_init(&p);
    assert_string_equal(p.language, "zh");
    assert_int_equal(p.contribution_tier_fen, -1);
    assert_int_equal(p.contribution_paid_fen, 0);
    assert_int_equal(p.account_balance_fen, -1);
    assert_int_equal(p.pension_monthly_fen, -1);
    assert_int_equal(p.contribution_year, 0);
    assert_int_equal(p.mutual_aid_member, 0);
    assert_int_equal(gw_participant_check(&p, err, sizeof err), -1);
    assert_string_equal(err, "participant_id: required");

    assert_int_equal(gw_roster_set_field(&p, "participant_id", "  X-1 ", err, sizeof err), 0);
    assert_string_equal(p.id, "X-1");
    assert_int_equal(gw_participant_check(&p, err, sizeof err), 0);
    assert_int_equal(gw_roster_set_field(&p, "participant_id", "a/b", err, sizeof err), -1);
    assert_string_equal(err, "participant_id: only letters, digits, '_', '.' and '-' allowed");
    assert_int_equal(gw_roster_set_field(&p, "phone", "０086 13812345678", err, sizeof err), 0);
    assert_string_equal(p.phone, "+8613812345678");
    assert_int_equal(gw_roster_set_field(&p, "phone", "", err, sizeof err), 0);
    assert_string_equal(p.phone, "");
    assert_int_equal(gw_roster_set_field(&p, "contribution_paid_yuan", "0", err, sizeof err), 0);
    assert_int_equal(p.contribution_paid_fen, 0);
    assert_int_equal(gw_roster_set_field(&p, "contribution_paid_yuan", "0.5", err, sizeof err), 0);
    assert_int_equal(p.contribution_paid_fen, 50);
    assert_int_equal(gw_roster_set_field(&p, "pension_monthly_yuan", "0", err, sizeof err), 0);
    assert_int_equal(p.pension_monthly_fen, 0);
    assert_int_equal(gw_roster_set_field(&p, "pension_monthly_yuan", NULL, err, sizeof err), 0);
    assert_int_equal(p.pension_monthly_fen, -1);
    assert_int_equal(gw_roster_set_field(&p, "mutual_aid_member", "YES", err, sizeof err), 0);
    assert_int_equal(p.mutual_aid_member, 1);
    assert_int_equal(gw_roster_set_field(&p, "contribution_year", "1990", err, sizeof err), 0);
    assert_int_equal(gw_roster_set_field(&p, "contribution_year", "2100", err, sizeof err), 0);
    assert_int_equal(gw_roster_set_field(&p, "contribution_year", "+2026", err, sizeof err), -1);
    assert_int_equal(gw_roster_set_field(&p, "contribution_due", "2024-02-29", err, sizeof err), 0);
    assert_string_equal(p.contribution_due, "2024-02-29");
    assert_int_equal(gw_roster_set_field(&p, "id_last4", "000x", err, sizeof err), 0);
    assert_string_equal(p.id_last4, "000X");

    assert_int_equal(gw_roster_set_field(&p, "nickname", "x", err, sizeof err), -1);
    assert_string_equal(err, "nickname: unknown column");
    assert_int_equal(gw_roster_set_field(&p, NULL, "x", err, sizeof err), -1);
    char tiny[5];
    assert_int_equal(gw_roster_set_field(&p, "phone", "x", tiny, sizeof tiny), -1);
    assert_string_equal(tiny, "phon");
    /* a failed set leaves the field as it was */
    assert_string_equal(p.id, "X-1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_rows),
        cmocka_unit_test(test_no_phone_and_household),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_lengths_and_text),
        cmocka_unit_test(test_header_reordered),
        cmocka_unit_test(test_header_spaced_and_quoted),
        cmocka_unit_test(test_header_missing),
        cmocka_unit_test(test_header_wrong),
        cmocka_unit_test(test_quoted_fields),
        cmocka_unit_test(test_quoted_newline_in_first_field),
        cmocka_unit_test(test_crlf_bom_blank_lines),
        cmocka_unit_test(test_cr_line_ends),
        cmocka_unit_test(test_last_row_without_newline),
        cmocka_unit_test(test_unclosed_quote),
        cmocka_unit_test(test_stop_from_callback),
        cmocka_unit_test(test_feed_after_finish),
        cmocka_unit_test(test_many_rows),
        cmocka_unit_test(test_set_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
