/* test_phone.c - gw_phone: written forms of Chinese mobile numbers to E.164,
 * the reasons for everything else, and masking for logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gw_phone.h"

static void expect_e164(const char *input, const char *e164)
{
    char out[24], err[64] = "";
    int rc = gw_phone_normalize(input, out, sizeof out, err, sizeof err);
    if (rc != 0)
        fail_msg("\"%s\": rejected (%s), expected %s", input, err, e164);
    assert_string_equal(out, e164);
}

static void expect_reject(const char *input, const char *reason)
{
    char out[24] = "", err[64] = "";
    int rc = gw_phone_normalize(input, out, sizeof out, err, sizeof err);
    if (rc != -1)
        fail_msg("\"%s\": accepted as %s, expected \"%s\"", input ? input : "(null)", out, reason);
    assert_string_equal(err, reason);
}

static void test_plain_and_separated(void **state)
{
    (void)state;
    expect_e164("13812345678", "+8613812345678");
    expect_e164("138 1234 5678", "+8613812345678");
    expect_e164("138-1234-5678", "+8613812345678");
    expect_e164("(138) 1234-5678", "+8613812345678");
    expect_e164("  13812345678  ", "+8613812345678");
    expect_e164("138.1234.5678", "+8613812345678");
    expect_e164("138\t1234\t5678", "+8613812345678");
}

static void test_country_code_prefixes(void **state)
{
    (void)state;
    expect_e164("+8613812345678", "+8613812345678");
    expect_e164("+86 138 1234 5678", "+8613812345678");
    expect_e164("+86-138-1234-5678", "+8613812345678");
    expect_e164("(+86) 138 1234 5678", "+8613812345678");
    expect_e164("0086 13812345678", "+8613812345678");
    expect_e164("008613812345678", "+8613812345678");
    expect_e164("86 13812345678", "+8613812345678");
    expect_e164("86-138-1234-5678", "+8613812345678");
    expect_e164("8613812345678", "+8613812345678");
}

static void test_full_width(void **state)
{
    (void)state;
    expect_e164("１３８１２３４５６７８", "+8613812345678");
    expect_e164("＋８６　１３８　１２３４　５６７８", "+8613812345678");
    expect_e164("１３８－１２３４－５６７８", "+8613812345678");
    expect_e164("＋86 138１２３４5678", "+8613812345678");
    expect_e164("００８６１３８１２３４５６７８", "+8613812345678");
}

/* The numbering blocks the brief asks about, with Debian's 2022 metadata. */
static void test_blocks(void **state)
{
    (void)state;
    expect_e164("13812345678", "+8613812345678");
    expect_e164("15912345678", "+8615912345678");
    expect_e164("18612345678", "+8618612345678");
    expect_e164("19912345678", "+8619912345678");
    expect_e164("17012345678", "+8617012345678");
    expect_e164("16612345678", "+8616612345678");
    expect_e164("14712345678", "+8614712345678");
    /* 12x is not allocated to mobile: not a valid number, in any form. */
    expect_reject("12012345678", "not a valid number");
    expect_reject("+86 120 1234 5678", "not a valid number");
}

/* The fast path must agree with libphonenumber in every written form. */
static void test_forms_agree(void **state)
{
    (void)state;
    static const char *forms[] = {"%s", "+86%s", "0086 %s", "86-%s", "(+86) %s", "+86 %.3s %s"};
    static const char *numbers[] = {"13900000000", "15000000001", "19512345678",
                                    "14012345678", "10012345678", "11112345678"};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        char first[24], err0[64];
        int rc0 = gw_phone_normalize(numbers[i], first, sizeof first, err0, sizeof err0);
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
            char in[48], out[24], err[64];
            if (f == 5)
                snprintf(in, sizeof in, forms[f], numbers[i], numbers[i] + 3);
            else
                snprintf(in, sizeof in, forms[f], numbers[i]);
            int rc = gw_phone_normalize(in, out, sizeof out, err, sizeof err);
            assert_int_equal(rc, rc0);
            if (rc == 0)
                assert_string_equal(out, first);
        }
    }
}

static void test_landlines_and_services(void **state)
{
    (void)state;
    expect_reject("010 12345678", "not a mobile number");
    expect_reject("01012345678", "not a mobile number");
    expect_reject("(021) 6123 4567", "not a mobile number");
    expect_reject("+86 10 1234 5678", "not a mobile number");
    expect_reject("0755-23456789", "not a mobile number");
    expect_reject("400 810 8888", "not a mobile number");
}

static void test_foreign(void **state)
{
    (void)state;
    expect_reject("+1 650 253 0000", "not a Chinese number");
    expect_reject("+44 7911 123456", "not a Chinese number");
    expect_reject("00852 9123 4567", "not a Chinese number");
    expect_reject("+886 912 345 678", "not a Chinese number");
}

static void test_garbage(void **state)
{
    (void)state;
    expect_reject(NULL, "empty");
    expect_reject("", "empty");
    expect_reject("abc", "not a number");
    expect_reject("13812345678abc", "not a number");
    expect_reject("138-CALL-ME00", "not a number");
    expect_reject("138１２３４５６７８x", "not a number");
    expect_reject("电话13812345678", "not a number");
    expect_reject("13812345678;", "not a number");
    expect_reject("\xff\xfe", "not a number");
    expect_reject("12345", "not a valid number");
    expect_reject("1381234567", "not a valid number");
    expect_reject("138123456789", "not a valid number");
    expect_reject("+", "not a number");
    expect_reject("-", "not a number");
    expect_reject("1", "not a number");
    expect_reject("0086 0086 13812345678", "too long");
    /* 65 bytes is over the limit even when it would otherwise parse. */
    char longer[80];
    memset(longer, ' ', sizeof longer);
    memcpy(longer + 54, "13812345678", 11);
    longer[65] = '\0';
    expect_reject(longer, "too long");
    longer[64] = '\0';
    memcpy(longer + 53, "13812345678", 11);
    expect_e164(longer, "+8613812345678");
}

static void test_output_buffer(void **state)
{
    (void)state;
    char small[10] = "", err[64] = "";
    assert_int_equal(gw_phone_normalize("13812345678", small, sizeof small, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
    char exact[15];
    assert_int_equal(gw_phone_normalize("13812345678", exact, sizeof exact, NULL, 0), 0);
    assert_string_equal(exact, "+8613812345678");
    /* A tiny error buffer is truncated, never overrun. */
    char tiny[4];
    assert_int_equal(gw_phone_normalize("abc", exact, sizeof exact, tiny, sizeof tiny), -1);
    assert_string_equal(tiny, "not");
}

static void test_mask(void **state)
{
    (void)state;
    char out[24];
    gw_phone_mask("+8613812345678", out, sizeof out);
    assert_string_equal(out, "+86138****5678");
    gw_phone_mask("+14155552671", out, sizeof out);
    assert_string_equal(out, "+14155**2671");
    gw_phone_mask("13812345678", out, sizeof out);
    assert_string_equal(out, "***");
    gw_phone_mask("+86abc", out, sizeof out);
    assert_string_equal(out, "***");
    gw_phone_mask("+8613812345678999", out, sizeof out);
    assert_string_equal(out, "***");
    gw_phone_mask("", out, sizeof out);
    assert_string_equal(out, "***");
    gw_phone_mask(NULL, out, sizeof out);
    assert_string_equal(out, "***");
    char small[8];
    gw_phone_mask("+8613812345678", small, sizeof small);
    assert_string_equal(small, "+86138*");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_separated),
        cmocka_unit_test(test_country_code_prefixes),
        cmocka_unit_test(test_full_width),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_forms_agree),
        cmocka_unit_test(test_landlines_and_services),
        cmocka_unit_test(test_foreign),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_output_buffer),
        cmocka_unit_test(test_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
