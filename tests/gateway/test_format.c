/* test_format.c - gw_format: money in fen, calendar dates, masked names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_format.h"

static void expect_fen(const char *s, int64_t fen)
{
    int64_t got = -7;
    char err[64] = "";
    if (gw_money_parse(s, &got, err, sizeof err) != 0)
        fail_msg("\"%s\": rejected (%s)", s, err);
    assert_int_equal(got, fen);
}

static void expect_bad_money(const char *s)
{
    int64_t got = -7;
    char err[64] = "";
    if (gw_money_parse(s, &got, err, sizeof err) != -1)
        fail_msg("\"%s\": accepted as %lld fen", s ? s : "(null)", (long long)got);
    assert_true(err[0] != '\0');
    assert_int_equal(got, -7);   /* untouched on error */
}

static void test_money_parse_good(void **state)
{
    (void)state;
    expect_fen("0", 0);
    expect_fen("0.5", 50);
    expect_fen("0.05", 5);
    expect_fen("0.00", 0);
    expect_fen("100", 10000);
    expect_fen("100.5", 10050);
    expect_fen("100.05", 10005);
    expect_fen("1234.56", 123456);
    expect_fen(" 100 ", 10000);
    expect_fen("\t42.10\t", 4210);
    expect_fen("007", 700);
    expect_fen("100000000", 10000000000LL);
    expect_fen("99999999.99", 9999999999LL);
}

static void test_money_parse_bad(void **state)
{
    (void)state;
    expect_bad_money(NULL);
    expect_bad_money("");
    expect_bad_money("   ");
    expect_bad_money("1.234");
    expect_bad_money("-1");
    expect_bad_money("+1");
    expect_bad_money("1e3");
    expect_bad_money("1,000");
    expect_bad_money("1 000");
    expect_bad_money("100.");
    expect_bad_money(".5");
    expect_bad_money("1.2.3");
    expect_bad_money("abc");
    expect_bad_money("12a");
    expect_bad_money("100元");
    expect_bad_money("１００");
    expect_bad_money("100000000.01");
    expect_bad_money("100000001");
    expect_bad_money("99999999999999999999999999");
    expect_bad_money("0x10");
    expect_bad_money("NaN");
}

static void test_money_reasons(void **state)
{
    (void)state;
    int64_t fen;
    char err[64];
    assert_int_equal(gw_money_parse("1.234", &fen, err, sizeof err), -1);
    assert_string_equal(err, "more than two decimals");
    assert_int_equal(gw_money_parse("-5", &fen, err, sizeof err), -1);
    assert_string_equal(err, "negative amount");
    assert_int_equal(gw_money_parse("", &fen, err, sizeof err), -1);
    assert_string_equal(err, "empty amount");
    assert_int_equal(gw_money_parse("123456789012", &fen, err, sizeof err), -1);
    assert_string_equal(err, "amount too large");
    assert_int_equal(gw_money_parse("1e3", &fen, NULL, 0), -1);
}

static void test_money_format(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(gw_money_format(0, out, sizeof out), 1);
    assert_string_equal(out, "0");
    assert_int_equal(gw_money_format(10000, out, sizeof out), 3);
    assert_string_equal(out, "100");
    assert_int_equal(gw_money_format(10050, out, sizeof out), 6);
    assert_string_equal(out, "100.50");
    assert_int_equal(gw_money_format(123456, out, sizeof out), 7);
    assert_string_equal(out, "1234.56");
    assert_int_equal(gw_money_format(5, out, sizeof out), 4);
    assert_string_equal(out, "0.05");
    assert_int_equal(gw_money_format(-1, out, sizeof out), -1);
    char small[4];
    assert_int_equal(gw_money_format(123456, small, sizeof small), -1);
    assert_int_equal(gw_money_format(100, small, 2), 1);
    assert_int_equal(gw_money_format(100, small, 1), -1);
    /* parse and format are inverses on canonical texts */
    static const char *texts[] = {"0", "0.01", "0.10", "1", "99.99", "1234.56", "100000000"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int64_t fen;
        assert_int_equal(gw_money_parse(texts[i], &fen, NULL, 0), 0);
        assert_true(gw_money_format(fen, out, sizeof out) > 0);
        assert_string_equal(out, texts[i]);
    }
}

static void test_dates(void **state)
{
    (void)state;
    int y = 0, m = 0, d = 0;
    assert_int_equal(gw_date_parse("2024-02-29", &y, &m, &d), 0);
    assert_int_equal(y, 2024);
    assert_int_equal(m, 2);
    assert_int_equal(d, 29);
    assert_int_equal(gw_date_parse("2026-10-08", &y, &m, &d), 0);
    assert_int_equal(d, 8);
    assert_int_equal(gw_date_parse("2000-02-29", NULL, NULL, NULL), 0);
    assert_int_equal(gw_date_parse("1900-01-01", NULL, NULL, NULL), 0);
    assert_int_equal(gw_date_parse("2199-12-31", NULL, NULL, NULL), 0);
    assert_int_equal(gw_date_parse("2026-12-31", NULL, NULL, NULL), 0);

    y = m = d = -1;
    assert_int_equal(gw_date_parse("2026-02-29", &y, &m, &d), -1);
    assert_int_equal(y, -1);   /* untouched on error */
    assert_int_equal(gw_date_parse("1900-02-29", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2100-02-29", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2026-1-5", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2026-01-5", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2026-04-31", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2026-13-01", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2026-00-10", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2026-01-00", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2026-01-32", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("1899-12-31", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2200-01-01", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2026/01/05", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("20260105", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2026-01-05 ", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("2026-01-05T00", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("+026-01-05", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse("", NULL, NULL, NULL), -1);
    assert_int_equal(gw_date_parse(NULL, NULL, NULL, NULL), -1);
}

/* A date typed on a keypad (USSD claim report): YYYYMMDD or MMDD. */
static void test_date_entry(void **state)
{
    (void)state;
    int y = 0, m = 0, d = 0;
    assert_int_equal(gw_date_entry_parse("20260928", 2026, &y, &m, &d), 0);
    assert_int_equal(y, 2026);
    assert_int_equal(m, 9);
    assert_int_equal(d, 28);
    assert_int_equal(gw_date_entry_parse("20251230", 2026, &y, &m, &d), 0);   /* last year */
    assert_int_equal(y, 2025);
    assert_int_equal(gw_date_entry_parse("0928", 2026, &y, &m, &d), 0);       /* this year */
    assert_int_equal(y, 2026);
    assert_int_equal(m, 9);
    assert_int_equal(d, 28);
    assert_int_equal(gw_date_entry_parse("0229", 2028, &y, &m, &d), 0);       /* leap year */
    assert_int_equal(d, 29);
    assert_int_equal(gw_date_entry_parse("0101", 2027, &y, &m, &d), 0);
    assert_int_equal(y, 2027);

    y = m = d = -1;
    assert_int_equal(gw_date_entry_parse("0229", 2026, &y, &m, &d), GW_DATE_ENTRY_NO_SUCH_DAY);
    assert_int_equal(y, -1);   /* untouched on error */
    assert_int_equal(gw_date_entry_parse("20260230", 2026, NULL, NULL, NULL),
                     GW_DATE_ENTRY_NO_SUCH_DAY);
    assert_int_equal(gw_date_entry_parse("20261301", 2026, NULL, NULL, NULL),
                     GW_DATE_ENTRY_NO_SUCH_DAY);
    assert_int_equal(gw_date_entry_parse("1301", 2026, NULL, NULL, NULL),
                     GW_DATE_ENTRY_NO_SUCH_DAY);
    assert_int_equal(gw_date_entry_parse("0000", 2026, NULL, NULL, NULL),
                     GW_DATE_ENTRY_NO_SUCH_DAY);
    assert_int_equal(gw_date_entry_parse("18991231", 2026, NULL, NULL, NULL),
                     GW_DATE_ENTRY_NO_SUCH_DAY);
    assert_int_equal(gw_date_entry_parse("0431", 2026, NULL, NULL, NULL),
                     GW_DATE_ENTRY_NO_SUCH_DAY);

    const char *bad[] = {"", "9", "928", "09281", "2026928", "202609281", "2026-09-28",
                         "09-28", "2026092a", "+928", " 928", "0928 ", "2026 928", "abcd"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gw_date_entry_parse(bad[i], 2026, NULL, NULL, NULL),
                         GW_DATE_ENTRY_FORMAT);
    assert_int_equal(gw_date_entry_parse(NULL, 2026, NULL, NULL, NULL), GW_DATE_ENTRY_FORMAT);
}

static void expect_mask(const char *name, const char *masked)
{
    char out[128];
    memset(out, 'Z', sizeof out);
    gw_name_mask(name, out, sizeof out);
    assert_string_equal(out, masked);
}

static void test_mask_chinese(void **state)
{
    (void)state;
    expect_mask("张", "张");
    expect_mask("张三", "张*");
    expect_mask("王小明", "王*明");
    expect_mask("欧阳小明", "欧**明");
    expect_mask("阿卜杜拉·买买提", "阿******提");
    expect_mask("", "");
    expect_mask(NULL, "");
}

static void test_mask_latin_and_mixed(void **state)
{
    (void)state;
    expect_mask("John Smith", "J*** S****");
    expect_mask("Li", "L*");
    expect_mask("A", "A");
    expect_mask("Mary  Ann", "M***  A**");
    expect_mask("José García", "J*** G*****");
    expect_mask("李 Wei", "李 W**");
    expect_mask("张Wei", "张***");
    /* invalid UTF-8 never reaches the output as a broken character */
    expect_mask("\xff\xfe\xfd", "?*?");
    expect_mask("王\xe5", "王*");
}

static void test_mask_small_buffer(void **state)
{
    (void)state;
    char out[16];
    /* "王*明" is 7 bytes: with room for 6 it stops before "明", not inside it. */
    memset(out, 'Z', sizeof out);
    gw_name_mask("王小明", out, 6);
    assert_string_equal(out, "王*");
    assert_int_equal(out[6], 'Z');
    gw_name_mask("王小明", out, 4);
    assert_string_equal(out, "王");
    gw_name_mask("王小明", out, 3);
    assert_string_equal(out, "");
    gw_name_mask("John Smith", out, 5);
    assert_string_equal(out, "J***");
    gw_name_mask("王小明", out, 1);
    assert_string_equal(out, "");
    out[0] = 'Z';
    gw_name_mask("王小明", out, 0);
    assert_int_equal(out[0], 'Z');
    gw_name_mask("王小明", NULL, 10);
    gw_name_mask("王小明", out, 8);
    assert_string_equal(out, "王*明");
}

static void test_uint_format(void **state)
{
    (void)state;
    char buf[24];
    buf[gw_uint_format(buf, 0)] = '\0';
    assert_string_equal(buf, "0");
    buf[gw_uint_format(buf, 7)] = '\0';
    assert_string_equal(buf, "7");
    buf[gw_uint_format(buf, 1234567890)] = '\0';
    assert_string_equal(buf, "1234567890");
    buf[gw_uint_format(buf, UINT64_MAX)] = '\0';
    assert_string_equal(buf, "18446744073709551615");
}

static void test_utf8_char(void **state)
{
    (void)state;
    const unsigned char *ok[] = {(const unsigned char *)"a", (const unsigned char *)"\xC2\xA9",
                                 (const unsigned char *)"\xE4\xB8\xAD",
                                 (const unsigned char *)"\xF0\x9F\x98\x80"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(gw_utf8_char(ok[i], strlen((const char *)ok[i])), i + 1);
    assert_int_equal(gw_utf8_char((const unsigned char *)"\xC0\x80", 2), 0);      /* overlong */
    assert_int_equal(gw_utf8_char((const unsigned char *)"\xED\xA0\x80", 3), 0);  /* surrogate */
    assert_int_equal(gw_utf8_char((const unsigned char *)"\xF4\x90\x80\x80", 4), 0);
    assert_int_equal(gw_utf8_char((const unsigned char *)"\xE4\xB8", 2), 0);      /* cut short */
    assert_int_equal(gw_utf8_char((const unsigned char *)"\x80", 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uint_format),
        cmocka_unit_test(test_utf8_char),
        cmocka_unit_test(test_money_parse_good),
        cmocka_unit_test(test_money_parse_bad),
        cmocka_unit_test(test_money_reasons),
        cmocka_unit_test(test_money_format),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_date_entry),
        cmocka_unit_test(test_mask_chinese),
        cmocka_unit_test(test_mask_latin_and_mixed),
        cmocka_unit_test(test_mask_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
