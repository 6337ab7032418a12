/* test_encoding.c - UTF-8 validation, GSM 03.38 tables, septet and UCS-2
 * counts and the USSD length and limit (templates/tpl_encoding.c).
 * The GSM basic table is written out here in full, independently of the
 * code's own tables, and every entry is checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tpl.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* GSM 03.38 basic character set, by septet value (0x1B is the escape). */
static const char *const gsm_basic[128] = {
    "@", "£", "$", "¥", "è", "é", "ù", "ì", "ò", "Ç", "\n", "Ø", "ø", "\r", "Å", "å",
    "Δ", "_", "Φ", "Γ", "Λ", "Ω", "Π", "Ψ", "Σ", "Θ", "Ξ", NULL, "Æ", "æ", "ß", "É",
    " ", "!", "\"", "#", "¤", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/",
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ":", ";", "<", "=", ">", "?",
    "¡", "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O",
    "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z", "Ä", "Ö", "Ñ", "Ü", "§",
    "¿", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o",
    "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "ä", "ö", "ñ", "ü", "à",
};

/* The extension table's characters (each ESC + one septet). */
static const char *const gsm_ext[] = {"^", "{", "}", "\\", "[", "~", "]", "|", "€", "\f"};

static void test_gsm_basic_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < 128; i++) {
        const char *c = gsm_basic[i];
        if (c == NULL)
            continue;
        size_t n = strlen(c);
        assert_true(tpl_utf8_valid(c, n));
        if (!tpl_gsm7_encodable(c, n))
            fail_msg("basic table 0x%02zx \"%s\" not encodable", i, c);
        assert_int_equal(tpl_gsm7_septets(c, n), 1);
        assert_int_equal(tpl_ucs2_units(c, n), 1);
    }
    /* all of them at once: 127 characters, 127 septets */
    char all[512];
    size_t n = 0;
    for (size_t i = 0; i < 128; i++) {
        if (gsm_basic[i] != NULL) {
            memcpy(all + n, gsm_basic[i], strlen(gsm_basic[i]));
            n += strlen(gsm_basic[i]);
        }
    }
    assert_true(tpl_gsm7_encodable(all, n));
    assert_int_equal(tpl_gsm7_septets(all, n), 127);
    assert_int_equal(tpl_ucs2_units(all, n), 127);
}

static void test_gsm_listed_chars(void **state)
{
    (void)state;
    /* the characters named in the brief, as one string */
    const char *s = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r ";
    size_t n = strlen(s);
    assert_true(tpl_gsm7_encodable(s, n));
    assert_int_equal(tpl_gsm7_septets(s, n), 45);
    size_t limit = 0;
    assert_int_equal(tpl_ussd_length(s, n, &limit), 45);
    assert_int_equal(limit, 182);
}

static void test_gsm_extension(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof gsm_ext / sizeof gsm_ext[0]; i++) {
        const char *c = gsm_ext[i];
        assert_true(tpl_gsm7_encodable(c, strlen(c)));
        assert_int_equal(tpl_gsm7_septets(c, strlen(c)), 2);
        assert_int_equal(tpl_ucs2_units(c, strlen(c)), 1);
    }
    assert_int_equal(tpl_gsm7_septets(S("a{b}€")), 1 + 2 + 1 + 2 + 2);
    size_t limit;
    assert_int_equal(tpl_ussd_length(S("^{}\\[~]|€"), &limit), 18);
    assert_int_equal(limit, 182);
}

static void test_not_gsm(void **state)
{
    (void)state;
    const char *no[] = {"`", "中", "ç", "á", "Ä\xCC\x88", "\t", "\x01", "\x7F", "€\xC2\xA0",
                        "😀", "Ё", "ю", "\xE2\x80\x94" /* em dash */, "，", "（"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (tpl_gsm7_encodable(no[i], strlen(no[i])))
            fail_msg("\"%s\" taken as GSM-7", no[i]);
    }
    assert_false(tpl_gsm7_encodable(S("Hello 张*")));
    assert_true(tpl_gsm7_encodable(S("")));
    assert_int_equal(tpl_gsm7_septets(S("")), 0);
}

static void test_ucs2_units(void **state)
{
    (void)state;
    assert_int_equal(tpl_ucs2_units(S("")), 0);
    assert_int_equal(tpl_ucs2_units(S("abc")), 3);
    assert_int_equal(tpl_ucs2_units(S("缴费情况")), 4);
    assert_int_equal(tpl_ucs2_units(S("😀")), 2);              /* beyond the BMP */
    assert_int_equal(tpl_ucs2_units(S("a😀中𠀀")), 1 + 2 + 1 + 2);
    assert_int_equal(tpl_ucs2_units(S("\xEF\xBF\xBF")), 1);    /* U+FFFF */
    assert_int_equal(tpl_ucs2_units(S("\xF4\x8F\xBF\xBF")), 2); /* U+10FFFF */
    assert_int_equal(tpl_ucs2_units(S("€{")), 2);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(tpl_utf8_valid(S("")));
    assert_true(tpl_utf8_valid(S("plain ascii")));
    assert_true(tpl_utf8_valid(S("中文 English £€😀")));
    assert_true(tpl_utf8_valid(S("\xC2\x80")));                /* U+0080 */
    assert_true(tpl_utf8_valid(S("\xDF\xBF")));                /* U+07FF */
    assert_true(tpl_utf8_valid(S("\xE0\xA0\x80")));            /* U+0800 */
    assert_true(tpl_utf8_valid(S("\xED\x9F\xBF")));            /* U+D7FF */
    assert_true(tpl_utf8_valid(S("\xEE\x80\x80")));            /* U+E000 */
    assert_true(tpl_utf8_valid(S("\xF0\x90\x80\x80")));        /* U+10000 */
    assert_true(tpl_utf8_valid(S("\xF4\x8F\xBF\xBF")));        /* U+10FFFF */
    assert_true(tpl_utf8_valid("a\0b", 3));                    /* NUL is a character */
    /* only LEN bytes are looked at */
    assert_true(tpl_utf8_valid("ab\xFF", 2));
}

static void test_utf8_invalid(void **state)
{
    (void)state;
    const char *bad[] = {
        "\xC0\xAF",             /* overlong '/' */
        "\xC1\xBF",             /* overlong */
        "\xE0\x80\xAF",         /* overlong, 3 bytes */
        "\xE0\x9F\xBF",         /* overlong U+07FF */
        "\xF0\x80\x80\xAF",     /* overlong, 4 bytes */
        "\xF0\x8F\xBF\xBF",     /* overlong U+FFFF */
        "\xED\xA0\x80",         /* surrogate U+D800 */
        "\xED\xBF\xBF",         /* surrogate U+DFFF */
        "\xED\xA0\xBD\xED\xB8\x80", /* CESU-8 pair */
        "\xF4\x90\x80\x80",     /* beyond U+10FFFF */
        "\xF5\x80\x80\x80",
        "\xFF", "\xFE",
        "\x80",                 /* lone continuation */
        "a\xBF" "b",
        "\xE4\xB8",             /* truncated 中 */
        "\xE4",
        "\xF0\x9F\x98",         /* truncated emoji */
        "\xE4\xB8" "a",         /* continuation missing */
        "\xC3" "(",
        "ok \xE4\xB8",          /* truncated at the end */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(bad[i]);
        if (tpl_utf8_valid(bad[i], n))
            fail_msg("bad UTF-8 #%zu accepted", i);
        assert_false(tpl_gsm7_encodable(bad[i], n));
        size_t limit = 0;
        tpl_ussd_length(bad[i], n, &limit);
        assert_int_equal(limit, 80);
    }
    /* a truncated character inside a longer buffer: LEN cuts it */
    assert_false(tpl_utf8_valid("中", 2));
    /* invalid bytes count one unit each, never crash */
    assert_int_equal(tpl_ucs2_units(S("\xE4\xB8")), 2);
    assert_int_equal(tpl_ucs2_units(S("\xFF" "a")), 2);
}

static void test_ussd_length(void **state)
{
    (void)state;
    size_t limit = 0;
    assert_int_equal(tpl_ussd_length(S(""), &limit), 0);
    assert_int_equal(limit, 182);
    assert_int_equal(tpl_ussd_length(S("98 More\n0 Back"), &limit), 14);
    assert_int_equal(limit, 182);
    assert_int_equal(tpl_ussd_length(S("98 更多\n0 返回"), &limit), 10);
    assert_int_equal(limit, 80);
    /* one Chinese character makes the whole screen UCS-2: '{' counts 1 then */
    assert_int_equal(tpl_ussd_length(S("{a}中"), &limit), 4);
    assert_int_equal(limit, 80);
    assert_int_equal(tpl_ussd_length(S("{a}"), &limit), 5);
    assert_int_equal(limit, 182);
    assert_int_equal(tpl_ussd_length(S("😀"), &limit), 2);
    assert_int_equal(limit, 80);
    assert_int_equal(tpl_ussd_length(S("abc"), NULL), 3);       /* LIMIT may be NULL */

    char buf[400];
    memset(buf, 'a', 182);
    assert_int_equal(tpl_ussd_length(buf, 182, &limit), 182);
    assert_int_equal(limit, 182);
    memcpy(buf + 181, "€", 3);                                  /* 181 + 2 septets */
    assert_int_equal(tpl_ussd_length(buf, 184, &limit), 183);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gsm_basic_table),
        cmocka_unit_test(test_gsm_listed_chars),
        cmocka_unit_test(test_gsm_extension),
        cmocka_unit_test(test_not_gsm),
        cmocka_unit_test(test_ucs2_units),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_ussd_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
