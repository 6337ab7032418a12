/* test_records_json.c - gw_records_parse_json: an agency system's participants.
 *
 * The http records backend hands the agency's JSON answer to this parser;
 * every field must meet the roster's rules (amounts to exact fen, phones to
 * E.164, dates, yes/no), numbers and strings alike, and anything doubtful
 * is refused whole with a reason naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_records_internal.h"

/* ---- helpers ---- */

static int parse_ok(const char *body, gw_participant **list)
{
    char err[256] = "";
    *list = NULL;
    int n = gw_records_parse_json(body, strlen(body), list, err, sizeof err);
    if (n < 0)
        fail_msg("body %.160s rejected: %s", body, err);
    assert_non_null(*list);
    return n;
}

/* Expects BODY refused with a reason containing WANT (and WANT2 unless NULL). */
static void parse_bad(const char *body, const char *want, const char *want2)
{
    char err[256] = "";
    gw_participant *list = NULL;
    int n = gw_records_parse_json(body, strlen(body), &list, err, sizeof err);
    if (n >= 0) {
        free(list);
        fail_msg("body %.160s accepted (%d), expected \"%s\"", body, n, want);
    }
    if (strstr(err, want) == NULL || (want2 != NULL && strstr(err, want2) == NULL))
        fail_msg("body %.160s: reason \"%s\" lacks \"%s\" / \"%s\"", body, err, want,
                 want2 != NULL ? want2 : "");
}

/* One participant with participant_id "P1" and the given extra JSON members. */
static void one(char *buf, size_t cap, const char *members)
{
    int n = snprintf(buf, cap, "[{\"participant_id\": \"P1\"%s%s}]",
                     members[0] != '\0' ? ", " : "", members);
    assert_true(n > 0 && (size_t)n < cap);
}

static int64_t balance_of(const char *value)
{
    char body[256];
    char members[128];
    snprintf(members, sizeof members, "\"account_balance_yuan\": %s", value);
    one(body, sizeof body, members);
    gw_participant *list;
    assert_int_equal(parse_ok(body, &list), 1);
    int64_t fen = list[0].account_balance_fen;
    free(list);
    return fen;
}

static void balance_bad(const char *value)
{
    char body[256];
    char members[128];
    snprintf(members, sizeof members, "\"account_balance_yuan\": %s", value);
    one(body, sizeof body, members);
    parse_bad(body, "account_balance_yuan", NULL);
}

/* ---- shapes ---- */

static const char *const full_record =
    "{\"participant_id\": \"A-100\", \"phone\": \"138 0000 0201\", \"name\": \"张三\", "
    "\"id_last4\": \"690x\", \"township\": \"青山镇\", \"village\": \"上岭村\", "
    "\"language\": \"en\", \"contribution_year\": \"2026\", "
    "\"contribution_tier_yuan\": \"300\", \"contribution_paid_yuan\": \"300.00\", "
    "\"contribution_due\": \"2026-12-31\", \"account_balance_yuan\": \"5321.47\", "
    "\"pension_monthly_yuan\": \"186.5\", \"pension_last_paid\": \"2026-11-10\", "
    "\"mutual_aid_member\": \"yes\"}";

static void check_full(const gw_participant *p)
{
    assert_string_equal(p->id, "A-100");
    assert_string_equal(p->phone, "+8613800000201");
    assert_string_equal(p->name, "张三");
    assert_string_equal(p->id_last4, "690X");
    assert_string_equal(p->township, "青山镇");
    assert_string_equal(p->village, "上岭村");
    assert_string_equal(p->language, "en");
    assert_int_equal(p->contribution_year, 2026);
    assert_int_equal(p->contribution_tier_fen, 30000);
    assert_int_equal(p->contribution_paid_fen, 30000);
    assert_string_equal(p->contribution_due, "2026-12-31");
    assert_int_equal(p->account_balance_fen, 532147);
    assert_int_equal(p->pension_monthly_fen, 18650);
    assert_string_equal(p->pension_last_paid, "2026-11-10");
    assert_int_equal(p->mutual_aid_member, 1);
}

static void test_bare_array_all_fields(void **state)
{
    (void)state;
    char body[1024];
    snprintf(body, sizeof body, "[%s]", full_record);
    gw_participant *list;
    assert_int_equal(parse_ok(body, &list), 1);
    check_full(&list[0]);
    free(list);
}

static void test_participants_object(void **state)
{
    (void)state;
    char body[1024];
    snprintf(body, sizeof body, "{\"participants\": [%s], \"generated_at\": \"now\"}",
             full_record);
    gw_participant *list;
    assert_int_equal(parse_ok(body, &list), 1);
    check_full(&list[0]);
    free(list);
}

static void test_defaults_for_absent_fields(void **state)
{
    (void)state;
    gw_participant *list;
    assert_int_equal(parse_ok("[{\"participant_id\": \"X\"}]", &list), 1);
    assert_string_equal(list[0].id, "X");
    assert_string_equal(list[0].phone, "");
    assert_string_equal(list[0].language, "zh");
    assert_int_equal(list[0].contribution_year, 0);
    assert_int_equal(list[0].contribution_tier_fen, -1);
    assert_int_equal(list[0].contribution_paid_fen, 0);
    assert_int_equal(list[0].account_balance_fen, -1);
    assert_int_equal(list[0].pension_monthly_fen, -1);
    assert_int_equal(list[0].mutual_aid_member, 0);
    free(list);
}

static void test_sorted_by_id(void **state)
{
    (void)state;
    gw_participant *list;
    int n = parse_ok("{\"participants\": [{\"participant_id\": \"U-HH2\", \"name\": \"刘丁\"}, "
                     "{\"participant_id\": \"U-HH1\", \"name\": \"刘丙\"}, "
                     "{\"participant_id\": \"A.9\", \"name\": \"王五\"}]}", &list);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].id, "A.9");
    assert_string_equal(list[0].name, "王五");
    assert_string_equal(list[1].id, "U-HH1");
    assert_string_equal(list[1].name, "刘丙");
    assert_string_equal(list[2].id, "U-HH2");
    assert_string_equal(list[2].name, "刘丁");
    free(list);
}

static void test_empty_lists(void **state)
{
    (void)state;
    gw_participant *list;
    assert_int_equal(parse_ok("[]", &list), 0);
    free(list);
    assert_int_equal(parse_ok("{\"participants\": []}", &list), 0);
    free(list);
    assert_int_equal(parse_ok(" \n[ ]\n", &list), 0);
    free(list);
}

/* ---- values ---- */

static void test_numbers_as_json_numbers(void **state)
{
    (void)state;
    gw_participant *list;
    int n = parse_ok("[{\"participant_id\": \"N1\", \"phone\": 13800000202, "
                     "\"contribution_year\": 2026, \"contribution_tier_yuan\": 200, "
                     "\"contribution_paid_yuan\": 0, \"account_balance_yuan\": 5321.47, "
                     "\"pension_monthly_yuan\": 186.5, \"id_last4\": 5318}]", &list);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].phone, "+8613800000202");
    assert_int_equal(list[0].contribution_year, 2026);
    assert_int_equal(list[0].contribution_tier_fen, 20000);
    assert_int_equal(list[0].contribution_paid_fen, 0);
    assert_int_equal(list[0].account_balance_fen, 532147);
    assert_int_equal(list[0].pension_monthly_fen, 18650);
    assert_string_equal(list[0].id_last4, "5318");
    free(list);
}

static void test_real_amounts_exact_fen(void **state)
{
    (void)state;
    /* Values whose doubles lie just below or above the decimal. */
    assert_int_equal(balance_of("5321.47"), 532147);
    assert_int_equal(balance_of("0.29"), 29);
    assert_int_equal(balance_of("0.01"), 1);
    assert_int_equal(balance_of("0.1"), 10);
    assert_int_equal(balance_of("1.15"), 115);
    assert_int_equal(balance_of("8650.20"), 865020);
    assert_int_equal(balance_of("1234.56"), 123456);
    assert_int_equal(balance_of("9999999.99"), 999999999);
    assert_int_equal(balance_of("300.0"), 30000);
    assert_int_equal(balance_of("0.0"), 0);
    assert_int_equal(balance_of("1e2"), 10000);
    assert_int_equal(balance_of("300"), 30000);
    assert_int_equal(balance_of("\"5321.47\""), 532147);
    assert_int_equal(balance_of("\" 12.3 \""), 1230);
    assert_int_equal(balance_of("\"\""), -1);
    assert_int_equal(balance_of("null"), -1);
}

static void test_true_false_null(void **state)
{
    (void)state;
    gw_participant *list;
    int n = parse_ok("[{\"participant_id\": \"B\", \"mutual_aid_member\": false, "
                     "\"pension_monthly_yuan\": null, \"contribution_paid_yuan\": null, "
                     "\"contribution_due\": null, \"language\": null}, "
                     "{\"participant_id\": \"A\", \"mutual_aid_member\": true}]", &list);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "A");
    assert_int_equal(list[0].mutual_aid_member, 1);
    assert_int_equal(list[1].mutual_aid_member, 0);
    assert_int_equal(list[1].pension_monthly_fen, -1);
    assert_int_equal(list[1].contribution_paid_fen, 0);
    assert_string_equal(list[1].contribution_due, "");
    assert_string_equal(list[1].language, "zh");
    free(list);
    /* true is "yes": not an amount, not a name-less participant. */
    balance_bad("true");
    parse_bad("[{\"participant_id\": null}]", "participant_id", NULL);
    parse_bad("[{\"participant_id\": false}]", "participant_id", NULL);
}

static void test_phone_normalised(void **state)
{
    (void)state;
    static const char *const forms[] = {
        "\"13800000201\"", "\"+86 138 0000 0201\"", "\"0086-138-0000-0201\"",
        "\"8613800000201\"", "13800000201", "8613800000201",
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char body[256], members[96];
        snprintf(members, sizeof members, "\"phone\": %s", forms[i]);
        one(body, sizeof body, members);
        gw_participant *list;
        assert_int_equal(parse_ok(body, &list), 1);
        if (strcmp(list[0].phone, "+8613800000201") != 0)
            fail_msg("phone %s became \"%s\"", forms[i], list[0].phone);
        free(list);
    }
    char body[256];
    one(body, sizeof body, "\"phone\": \"12345\"");
    parse_bad(body, "phone", NULL);
    one(body, sizeof body, "\"phone\": \"01062345678\"");      /* a Beijing landline */
    parse_bad(body, "phone", NULL);
}

/* ---- refusals ---- */

static void test_unknown_key_named(void **state)
{
    (void)state;
    char body[256];
    one(body, sizeof body, "\"pension_yuan\": \"100\"");
    parse_bad(body, "pension_yuan", "unknown");
    one(body, sizeof body, "\"Name\": \"张三\"");                 /* keys are case-sensitive */
    parse_bad(body, "Name", "unknown");
    /* The second participant is the bad one: its index is named. */
    parse_bad("[{\"participant_id\": \"A\"}, {\"participant_id\": \"B\", \"nickname\": \"x\"}]",
              "participant 1", "nickname");
}

static void test_bad_amounts(void **state)
{
    (void)state;
    balance_bad("\"1.005\"");            /* three decimals as text */
    balance_bad("1.005");                /* ... and as a JSON number */
    balance_bad("5321.475");
    balance_bad("0.001");
    balance_bad("\"12,345.00\"");
    balance_bad("\"1e2\"");
    balance_bad("\"100元\"");
    balance_bad("-5");
    balance_bad("-0.5");
    balance_bad("\"-5\"");
    balance_bad("1000000000");           /* above the 100,000,000 yuan ceiling */
    balance_bad("1e300");
    balance_bad("[100]");
    balance_bad("{\"yuan\": 100}");
}

static void test_other_bad_fields(void **state)
{
    (void)state;
    char body[256];
    one(body, sizeof body, "\"contribution_due\": \"2026-02-30\"");
    parse_bad(body, "contribution_due", NULL);
    one(body, sizeof body, "\"contribution_year\": 26");
    parse_bad(body, "contribution_year", NULL);
    one(body, sizeof body, "\"mutual_aid_member\": \"maybe\"");
    parse_bad(body, "mutual_aid_member", NULL);
    one(body, sizeof body, "\"language\": \"fr\"");
    parse_bad(body, "language", NULL);
    one(body, sizeof body, "\"name\": \"a\\nb\"");
    parse_bad(body, "name", NULL);
    parse_bad("[{\"participant_id\": \"a b\"}]", "participant_id", NULL);
    parse_bad("[{\"participant_id\": \"gw:{p:x}\"}]", "participant_id", NULL);
}

static void test_missing_participant_id(void **state)
{
    (void)state;
    parse_bad("[{\"name\": \"张三\", \"phone\": \"13800000201\"}]", "participant_id", NULL);
    parse_bad("[{\"participant_id\": \"\"}]", "participant_id", NULL);
    parse_bad("[{}]", "participant_id", NULL);
    parse_bad("[{\"participant_id\": \"A\"}, {\"name\": \"x\"}]", "participant 1",
              "participant_id");
}

static void test_not_objects(void **state)
{
    (void)state;
    parse_bad("[\"P1\"]", "participant 0", "not an object");
    parse_bad("[{\"participant_id\": \"A\"}, 7]", "participant 1", "not an object");
    parse_bad("[[]]", "not an object", NULL);
    parse_bad("[null]", "not an object", NULL);
    parse_bad("{\"participant_id\": \"A\"}", "array", NULL);        /* one bare record */
    parse_bad("{\"participants\": {\"participant_id\": \"A\"}}", "array", NULL);
    parse_bad("{\"participants\": null}", "array", NULL);
    parse_bad("{\"people\": []}", "array", NULL);
}

static void test_invalid_json(void **state)
{
    (void)state;
    parse_bad("", "invalid JSON", NULL);
    parse_bad("[{\"participant_id\": \"A\"", "invalid JSON", NULL);
    parse_bad("[{\"participant_id\": \"A\"},]", "invalid JSON", NULL);
    parse_bad("<html>502 Bad Gateway</html>", "invalid JSON", NULL);
    parse_bad("[{\"participant_id\": \"\xff\"}]", "invalid JSON", NULL);
    parse_bad("[] []", "invalid JSON", NULL);
    /* LEN is honoured: the buffer goes on past it. */
    const char *whole = "[{\"participant_id\": \"A\"}]";
    char err[128];
    gw_participant *list = NULL;
    assert_int_equal(gw_records_parse_json(whole, strlen(whole) - 1, &list, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid JSON"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bare_array_all_fields),
        cmocka_unit_test(test_participants_object),
        cmocka_unit_test(test_defaults_for_absent_fields),
        cmocka_unit_test(test_sorted_by_id),
        cmocka_unit_test(test_empty_lists),
        cmocka_unit_test(test_numbers_as_json_numbers),
        cmocka_unit_test(test_real_amounts_exact_fen),
        cmocka_unit_test(test_true_false_null),
        cmocka_unit_test(test_phone_normalised),
        cmocka_unit_test(test_unknown_key_named),
        cmocka_unit_test(test_bad_amounts),
        cmocka_unit_test(test_other_bad_fields),
        cmocka_unit_test(test_missing_participant_id),
        cmocka_unit_test(test_not_objects),
        cmocka_unit_test(test_invalid_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
