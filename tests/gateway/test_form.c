/* test_form.c - gw_form: urlencoded bodies from carriers, and encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_form.h"

static gw_form *parse(const char *body)
{
    char err[64] = "";
    gw_form *f = gw_form_parse(body, strlen(body), err, sizeof err);
    if (f == NULL)
        fail_msg("\"%s\": rejected (%s)", body, err);
    return f;
}

static void expect_error(const char *body, size_t len, const char *reason)
{
    char err[64] = "";
    gw_form *f = gw_form_parse(body, len, err, sizeof err);
    if (f != NULL) {
        gw_form_free(f);
        fail_msg("body accepted, expected \"%s\"", reason);
    }
    assert_string_equal(err, reason);
}

static void test_basic(void **state)
{
    (void)state;
    gw_form *f = parse("sessionId=ATUid_1&serviceCode=%2A384%2A123%23&phoneNumber=%2B8613812345678"
                       "&text=1%2A2");
    assert_int_equal(gw_form_count(f), 4);
    assert_string_equal(gw_form_get(f, "sessionId"), "ATUid_1");
    assert_string_equal(gw_form_get(f, "serviceCode"), "*384*123#");
    assert_string_equal(gw_form_get(f, "phoneNumber"), "+8613812345678");
    assert_string_equal(gw_form_get(f, "text"), "1*2");
    assert_null(gw_form_get(f, "missing"));
    assert_null(gw_form_get(f, "Text"));
    const char *k, *v;
    assert_int_equal(gw_form_pair(f, 1, &k, &v), 0);
    assert_string_equal(k, "serviceCode");
    assert_string_equal(v, "*384*123#");
    assert_int_equal(gw_form_pair(f, 4, &k, &v), -1);
    gw_form_free(f);
}

static void test_plus_and_escapes(void **state)
{
    (void)state;
    gw_form *f = parse("a=x%20y+z&b=%e4%bd%a0%E5%A5%BD&c=100%25&d=a%2Bb&e%3D=1&f=%26");
    assert_string_equal(gw_form_get(f, "a"), "x y z");
    assert_string_equal(gw_form_get(f, "b"), "你好");
    assert_string_equal(gw_form_get(f, "c"), "100%");
    assert_string_equal(gw_form_get(f, "d"), "a+b");
    assert_string_equal(gw_form_get(f, "e="), "1");
    assert_string_equal(gw_form_get(f, "f"), "&");
    gw_form_free(f);
    /* raw UTF-8 (not escaped) is accepted too */
    f = parse("Body=退订");
    assert_string_equal(gw_form_get(f, "Body"), "退订");
    gw_form_free(f);
}

static void test_empty_and_odd_pairs(void **state)
{
    (void)state;
    gw_form *f = parse("a&b=1&c=&&=x&d==2&");
    assert_int_equal(gw_form_count(f), 4);
    assert_string_equal(gw_form_get(f, "a"), "");
    assert_string_equal(gw_form_get(f, "b"), "1");
    assert_string_equal(gw_form_get(f, "c"), "");
    assert_string_equal(gw_form_get(f, "d"), "=2");
    assert_null(gw_form_get(f, ""));
    gw_form_free(f);

    f = gw_form_parse("", 0, NULL, 0);
    assert_non_null(f);
    assert_int_equal(gw_form_count(f), 0);
    gw_form_free(f);
    f = gw_form_parse(NULL, 0, NULL, 0);
    assert_non_null(f);
    assert_int_equal(gw_form_count(f), 0);
    gw_form_free(f);
    assert_int_equal(gw_form_count(NULL), 0);
    assert_null(gw_form_get(NULL, "a"));
    gw_form_free(NULL);
}

static void test_duplicates_keep_first(void **state)
{
    (void)state;
    gw_form *f = parse("text=1&text=2&x=y&text=3");
    assert_string_equal(gw_form_get(f, "text"), "1");
    assert_int_equal(gw_form_count(f), 2);
    const char *k, *v;
    assert_int_equal(gw_form_pair(f, 1, &k, &v), 0);
    assert_string_equal(k, "x");
    gw_form_free(f);
}

static void test_length_not_nul(void **state)
{
    (void)state;
    /* The body is LEN bytes; what follows it is not read. */
    const char body[] = "a=1&b=2garbage";
    gw_form *f = gw_form_parse(body, 7, NULL, 0);
    assert_non_null(f);
    assert_string_equal(gw_form_get(f, "b"), "2");
    gw_form_free(f);
    /* an escape cut by the end of the body is malformed */
    expect_error("a=%41", 4, "malformed %-escape");
}

static void test_malformed(void **state)
{
    (void)state;
    expect_error("a=%G1", 5, "malformed %-escape");
    expect_error("a=%4", 4, "malformed %-escape");
    expect_error("a=%", 3, "malformed %-escape");
    expect_error("a=1&b=%zz", 9, "malformed %-escape");
    expect_error("%x1=1", 5, "malformed %-escape");
    expect_error("a=1\0b=2", 7, "NUL byte in the form");
    expect_error("a=%00", 5, "NUL byte in the form");
    expect_error("a=%ff", 5, "invalid UTF-8 in the form");
    expect_error("a=%e4%bd", 8, "invalid UTF-8 in the form");
    expect_error("a=%C0%80", 8, "invalid UTF-8 in the form");       /* overlong */
    expect_error("a=%ED%A0%80", 11, "invalid UTF-8 in the form");   /* surrogate */
    expect_error("%ff=1", 5, "invalid UTF-8 in the form");
    expect_error("a=\xe4\xbd", 4, "invalid UTF-8 in the form");
    expect_error(NULL, 3, "no body");
}

static void test_limits(void **state)
{
    (void)state;
    char body[64 * 8 + 16];
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "k%d=%d&", i, i);
    gw_form *f = gw_form_parse(body, n, NULL, 0);
    assert_non_null(f);
    assert_int_equal(gw_form_count(f), 64);
    assert_string_equal(gw_form_get(f, "k63"), "63");
    gw_form_free(f);
    n += (size_t)snprintf(body + n, sizeof body - n, "k64=64");
    expect_error(body, n, "more than 64 pairs");

    size_t big = 64 * 1024 + 1;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, 'a', big);
    huge[0] = 'x';
    huge[1] = '=';
    expect_error(huge, big, "form body over 64 KiB");
    f = gw_form_parse(huge, big - 1, NULL, 0);
    assert_non_null(f);
    assert_int_equal(strlen(gw_form_get(f, "x")), big - 3);
    gw_form_free(f);
    free(huge);
}

static void test_encode(void **state)
{
    (void)state;
    char *e = gw_form_encode("+86 138/1234?a=b&c~d_e.f-g");
    assert_non_null(e);
    assert_string_equal(e, "%2B86%20138%2F1234%3Fa%3Db%26c~d_e.f-g");
    free(e);
    e = gw_form_encode("你好");
    assert_string_equal(e, "%E4%BD%A0%E5%A5%BD");
    free(e);
    e = gw_form_encode("");
    assert_string_equal(e, "");
    free(e);
    e = gw_form_encode(NULL);
    assert_string_equal(e, "");
    free(e);

    /* round trip through the parser */
    static const char *values[] = {"+8613812345678", "a b+c%d&e=f", "查询 CX", "*384*1#", "~"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char *k = gw_form_encode("key name");
        char *v = gw_form_encode(values[i]);
        char body[256];
        int n = snprintf(body, sizeof body, "%s=%s", k, v);
        gw_form *f = gw_form_parse(body, (size_t)n, NULL, 0);
        assert_non_null(f);
        assert_string_equal(gw_form_get(f, "key name"), values[i]);
        gw_form_free(f);
        free(k);
        free(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_plus_and_escapes),
        cmocka_unit_test(test_empty_and_odd_pairs),
        cmocka_unit_test(test_duplicates_keep_first),
        cmocka_unit_test(test_length_not_nul),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
