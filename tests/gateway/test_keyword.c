/* test_keyword.c - gw_keyword: inbound SMS keywords, their folding, and
 * Twilio's request signature. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_keyword.h"

/* Spaces and full-width forms spelled as bytes, so the cases below show
 * what they contain. */
#define NBSP "\xc2\xa0"            /* U+00A0 no-break space */
#define IDEO_SPACE "\xe3\x80\x80"  /* U+3000 ideographic space */
#define EM_SPACE "\xe2\x80\x83"    /* U+2003 */
#define ZWSP "\xe2\x80\x8b"        /* U+200B zero-width space */
#define BOM "\xef\xbb\xbf"         /* U+FEFF */
#define FW_QUESTION "\xef\xbc\x9f" /* U+FF1F ？ */

/* ---- keywords ---- */

static void expect_kw(const char *text, gw_keyword want)
{
    gw_keyword got = gw_keyword_match(text, strlen(text));
    if (got != want)
        fail_msg("\"%s\": %s, want %s", text, gw_keyword_name(got), gw_keyword_name(want));
}

static void test_keywords_plain(void **state)
{
    (void)state;
    expect_kw("TD", GW_KW_OPTOUT);
    expect_kw("T", GW_KW_OPTOUT);
    expect_kw("退订", GW_KW_OPTOUT);
    expect_kw("STOP", GW_KW_OPTOUT);
    expect_kw("START", GW_KW_OPTIN);
    expect_kw("订阅", GW_KW_OPTIN);
    expect_kw("HELP", GW_KW_HELP);
    expect_kw("帮助", GW_KW_HELP);
    expect_kw("?", GW_KW_HELP);
    expect_kw("CX", GW_KW_STATUS);
    expect_kw("查询", GW_KW_STATUS);
    expect_kw("BAL", GW_KW_STATUS);
}

static void test_keywords_case(void **state)
{
    (void)state;
    expect_kw("td", GW_KW_OPTOUT);
    expect_kw("Td", GW_KW_OPTOUT);
    expect_kw("t", GW_KW_OPTOUT);
    expect_kw("Stop", GW_KW_OPTOUT);
    expect_kw("sTOP", GW_KW_OPTOUT);
    expect_kw("stop", GW_KW_OPTOUT);
    expect_kw("start", GW_KW_OPTIN);
    expect_kw("StArT", GW_KW_OPTIN);
    expect_kw("help", GW_KW_HELP);
    expect_kw("Help", GW_KW_HELP);
    expect_kw("cx", GW_KW_STATUS);
    expect_kw("bal", GW_KW_STATUS);
    expect_kw("Bal", GW_KW_STATUS);
}

static void test_keywords_full_width(void **state)
{
    (void)state;
    expect_kw("ＴＤ", GW_KW_OPTOUT);
    expect_kw("Ｔｄ", GW_KW_OPTOUT);
    expect_kw("ｔ", GW_KW_OPTOUT);
    expect_kw("ＳＴＯＰ", GW_KW_OPTOUT);
    expect_kw("ｓｔｏｐ", GW_KW_OPTOUT);
    expect_kw("SＴoｐ", GW_KW_OPTOUT);   /* half- and full-width mixed */
    expect_kw("ｓｔａｒｔ", GW_KW_OPTIN);
    expect_kw("ＨＥＬＰ", GW_KW_HELP);
    expect_kw(FW_QUESTION, GW_KW_HELP);
    expect_kw("ｃｘ", GW_KW_STATUS);
    expect_kw("ＢＡＬ", GW_KW_STATUS);
}

static void test_keywords_surrounding_space(void **state)
{
    (void)state;
    expect_kw(" TD", GW_KW_OPTOUT);
    expect_kw("TD ", GW_KW_OPTOUT);
    expect_kw("  stop\n", GW_KW_OPTOUT);
    expect_kw("\r\n退订\r\n", GW_KW_OPTOUT);
    expect_kw("\tSTART\t", GW_KW_OPTIN);
    expect_kw(IDEO_SPACE "订阅" IDEO_SPACE, GW_KW_OPTIN);
    expect_kw(IDEO_SPACE IDEO_SPACE "帮助", GW_KW_HELP);
    expect_kw(NBSP "?" NBSP, GW_KW_HELP);
    expect_kw(" " FW_QUESTION "\n", GW_KW_HELP);
    expect_kw(EM_SPACE "CX" ZWSP, GW_KW_STATUS);
    expect_kw(BOM "查询", GW_KW_STATUS);
    expect_kw("\v\fＢＡＬ" IDEO_SPACE "\n", GW_KW_STATUS);

    /* Trailing space far beyond any keyword's length is still trimmed. */
    char padded[300];
    memset(padded, ' ', sizeof padded - 1);
    padded[sizeof padded - 1] = '\0';
    memcpy(padded + 3, "Td", 2);
    expect_kw(padded, GW_KW_OPTOUT);
}

static void test_keywords_near_misses(void **state)
{
    (void)state;
    expect_kw("stop sending me this", GW_KW_OTHER);
    expect_kw("please stop sending", GW_KW_OTHER);
    expect_kw("STOP!", GW_KW_OTHER);
    expect_kw("STOP.", GW_KW_OTHER);
    expect_kw("STOP！", GW_KW_OTHER);
    expect_kw("T D", GW_KW_OTHER);
    expect_kw("Ｔ" IDEO_SPACE "Ｄ", GW_KW_OTHER);
    expect_kw("T\nD", GW_KW_OTHER);
    expect_kw("TDD", GW_KW_OTHER);
    expect_kw("STOPP", GW_KW_OTHER);
    expect_kw("STARTS", GW_KW_OTHER);
    expect_kw("退订了", GW_KW_OTHER);
    expect_kw("我要退订", GW_KW_OTHER);
    expect_kw("查询余额", GW_KW_OTHER);
    expect_kw("??", GW_KW_OTHER);
    expect_kw("？?", GW_KW_OTHER);
    expect_kw("HELP ME", GW_KW_OTHER);
    expect_kw("BALANCE", GW_KW_OTHER);
    expect_kw("退訂", GW_KW_OTHER);   /* traditional form: not in SPEC's list */
    expect_kw("", GW_KW_OTHER);
    expect_kw("   ", GW_KW_OTHER);
    expect_kw(IDEO_SPACE NBSP "\n\t", GW_KW_OTHER);
    expect_kw("1", GW_KW_OTHER);
    expect_kw("0", GW_KW_OTHER);

    /* A NUL inside the message is a character, not an end. */
    assert_int_equal(gw_keyword_match("T\0D", 3), GW_KW_OTHER);
    assert_int_equal(gw_keyword_match("TD\0", 3), GW_KW_OTHER);
    /* Only LEN bytes are read. */
    assert_int_equal(gw_keyword_match("TDX", 2), GW_KW_OPTOUT);
    assert_int_equal(gw_keyword_match("STOP sending", 4), GW_KW_OPTOUT);
    assert_int_equal(gw_keyword_match(NULL, 0), GW_KW_OTHER);
}

static void test_keywords_invalid_utf8(void **state)
{
    (void)state;
    expect_kw("\xff", GW_KW_OTHER);
    expect_kw("TD\xff", GW_KW_OTHER);
    expect_kw("\xff TD", GW_KW_OTHER);
    expect_kw("\xe9\x80", GW_KW_OTHER);            /* 退 cut short */
    expect_kw("TD \xe9\x80", GW_KW_OTHER);
    expect_kw("\xc1\x94\xc1\x84", GW_KW_OTHER);    /* overlong "TD" */
    expect_kw("\xed\xa0\x80" "TD", GW_KW_OTHER);   /* a surrogate */
    expect_kw("\x80" "STOP", GW_KW_OTHER);         /* a lone continuation byte */
    /* 退 is E9 80 80: its first two bytes with the string ending there. */
    assert_int_equal(gw_keyword_match("退订", 2), GW_KW_OTHER);
}

static void test_keyword_names(void **state)
{
    (void)state;
    assert_string_equal(gw_keyword_name(GW_KW_OTHER), "other");
    assert_string_equal(gw_keyword_name(GW_KW_OPTOUT), "optout");
    assert_string_equal(gw_keyword_name(GW_KW_OPTIN), "optin");
    assert_string_equal(gw_keyword_name(GW_KW_HELP), "help");
    assert_string_equal(gw_keyword_name(GW_KW_STATUS), "status");
}

/* ---- folding ---- */

static void expect_fold(const char *text, const char *want)
{
    char out[128];
    memset(out, 'x', sizeof out);
    int n = gw_keyword_fold(text, strlen(text), out, sizeof out);
    if (n < 0)
        fail_msg("\"%s\": not folded", text);
    assert_int_equal(n, (int)strlen(want));
    assert_memory_equal(out, want, strlen(want) + 1);   /* NUL included */
}

static void test_fold(void **state)
{
    (void)state;
    expect_fold("td", "TD");
    expect_fold("  ｓｔｏｐ\n", "STOP");
    expect_fold("Ｔｄ", "TD");
    expect_fold(FW_QUESTION, "?");
    expect_fold("退订", "退订");
    expect_fold(IDEO_SPACE "订阅" IDEO_SPACE, "订阅");
    /* Inside the text U+3000 becomes a space; other characters stay. */
    expect_fold("Ｔ" IDEO_SPACE "Ｄ", "T D");
    expect_fold("a" NBSP "b", "A" NBSP "B");
    expect_fold("T\nd", "T\nD");
    /* The whole full-width block U+FF01..U+FF5E, ends included. */
    expect_fold("！ａｂｃ１２３＃～", "!ABC123#~");
    expect_fold("ＡＺａｚ０９", "AZAZ09");
    /* Just outside the block: U+FF00 and U+FF5F are kept as they are. */
    expect_fold("\xef\xbc\x80", "\xef\xbc\x80");
    expect_fold("\xef\xbd\x9f", "\xef\xbd\x9f");
    /* Non-ASCII letters are not case-folded. */
    expect_fold(" hello 世界 é ", "HELLO 世界 é");
    expect_fold("", "");
    expect_fold(" \t\r\n" IDEO_SPACE NBSP EM_SPACE ZWSP BOM, "");
}

static void test_fold_limits(void **state)
{
    (void)state;
    char out[8];

    /* OUTLEN counts the NUL: "STOP" needs 5 bytes. */
    assert_int_equal(gw_keyword_fold("STOP", 4, out, 5), 4);
    assert_string_equal(out, "STOP");
    assert_int_equal(gw_keyword_fold("STOP", 4, out, 4), -1);
    /* Trimmed and folded before it is measured: 3 full-width letters in 9
     * bytes and spaces around fit in 4. */
    assert_int_equal(gw_keyword_fold("  ｓｔｏ  ", strlen("  ｓｔｏ  "), out, 4), 3);
    assert_string_equal(out, "STO");
    /* A kept character is never split: "退" (3 bytes) and its NUL need 4. */
    assert_int_equal(gw_keyword_fold("退", 3, out, 3), -1);
    assert_int_equal(gw_keyword_fold("退", 3, out, 4), 3);
    assert_int_equal(gw_keyword_fold("x", 1, out, 0), -1);
    assert_int_equal(gw_keyword_fold("x", 1, NULL, 8), -1);
    assert_int_equal(gw_keyword_fold(NULL, 1, out, sizeof out), -1);
    assert_int_equal(gw_keyword_fold(NULL, 0, out, sizeof out), 0);
    assert_string_equal(out, "");
    /* Invalid UTF-8 anywhere fails the fold, also in the trimmed part. */
    assert_int_equal(gw_keyword_fold("TD \xff", 4, out, sizeof out), -1);
    assert_int_equal(gw_keyword_fold("\xe3\x80 TD", 5, out, sizeof out), -1);
    /* LEN bounds the text: a full-width character cut by LEN is invalid. */
    assert_int_equal(gw_keyword_fold("Ｔ", 2, out, sizeof out), -1);
}

/* ---- Twilio's request signature ----
 *
 * Expected signatures are not computed by the code under test: each was
 * computed once with the command line given beside it, from the string
 * Twilio's documented algorithm signs (the URL, then each parameter's name
 * and value in name order, no separators). */

#define DOC_TOKEN "12345"
#define DOC_URL "https://mycompany.com/myapp.php?foo=1&bar=2"

/* Twilio's worked example, as in twilio-python's request validator tests
 * (tests/unit/test_request_validator.py). Given here out of order.
 *   data='https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDE'\
 *   'Caller+14158675309Digits1234From+14158675309To+18005551212'
 *   printf '%s' "$data" | openssl dgst -sha1 -hmac 12345 -binary | base64 */
static const gw_kv doc_params[] = {
    {"Digits", "1234"},
    {"To", "+18005551212"},
    {"From", "+14158675309"},
    {"Caller", "+14158675309"},
    {"CallSid", "CA1234567890ABCDE"},
};
#define DOC_SIGNATURE "RSOYDt4T1cUTdK1PDd93/VVr8B8="
#define N_DOC (sizeof doc_params / sizeof doc_params[0])

static void expect_signature(const char *token, const char *url, const gw_kv *params, size_t n,
                             const char *want)
{
    char out[29];
    memset(out, 'x', sizeof out);
    assert_int_equal(gw_twilio_signature(token, url, params, n, out, sizeof out), 0);
    assert_string_equal(out, want);
    assert_int_equal(gw_twilio_signature_ok(token, url, params, n, want), 1);
}

static void test_twilio_documented_example(void **state)
{
    (void)state;
    expect_signature(DOC_TOKEN, DOC_URL, doc_params, N_DOC, DOC_SIGNATURE);

    /* The same example with the numbers ending 5310 instead of 5309, as
     * other copies of Twilio's security page print it.
     *   data='https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDE'\
     *   'Caller+14158675310Digits1234From+14158675310To+18005551212'
     *   printf '%s' "$data" | openssl dgst -sha1 -hmac 12345 -binary | base64 */
    const gw_kv p5310[] = {
        {"CallSid", "CA1234567890ABCDE"}, {"Caller", "+14158675310"}, {"Digits", "1234"},
        {"From", "+14158675310"},         {"To", "+18005551212"},
    };
    expect_signature(DOC_TOKEN, DOC_URL, p5310, 5, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
}

static void test_twilio_order(void **state)
{
    (void)state;
    /* Every rotation of the parameters signs the same. */
    for (size_t r = 0; r < N_DOC; r++) {
        gw_kv rot[N_DOC];
        for (size_t i = 0; i < N_DOC; i++)
            rot[i] = doc_params[(i + r) % N_DOC];
        expect_signature(DOC_TOKEN, DOC_URL, rot, N_DOC, DOC_SIGNATURE);
    }

    /* Byte order, not alphabetical: "B" < "_" < "a".
     *   printf '%s' 'https://mycompany.com/myapp.php?foo=1&bar=2B2_3a1' |
     *     openssl dgst -sha1 -hmac 12345 -binary | base64
     * (case-insensitive order "a1B2_3" gives MOb08AksTROSeoHZbColohRQG60=) */
    const gw_kv mixed[] = {{"a", "1"}, {"B", "2"}, {"_", "3"}};
    expect_signature(DOC_TOKEN, DOC_URL, mixed, 3, "cm3ebtVuB4euyx05I9+AXH14ic4=");

    /* A name given twice is signed in value order; "Sid" comes before
     * "SidAccount" (twilio-python's duplicate-parameter case).
     *   printf '%s' 'https://mycompany.com/myapp.php?foo=1&bar=2Digits1234Digits5678SidCA123SidAccountAC123' |
     *     openssl dgst -sha1 -hmac 12345 -binary | base64 */
    const gw_kv dup[] = {
        {"Sid", "CA123"}, {"SidAccount", "AC123"}, {"Digits", "5678"}, {"Digits", "1234"}};
    expect_signature(DOC_TOKEN, DOC_URL, dup, 4, "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    const gw_kv dup2[] = {
        {"Digits", "1234"}, {"SidAccount", "AC123"}, {"Digits", "5678"}, {"Sid", "CA123"}};
    expect_signature(DOC_TOKEN, DOC_URL, dup2, 4, "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
}

static void test_twilio_inbound_sms(void **state)
{
    (void)state;
    /* An inbound SMS with a Chinese body, '&' and a space in a value: the
     * decoded values are signed as UTF-8 bytes, unescaped.
     *   data='https://sms.example.cn/inbound/twilio?county=3303'\
     *   'AccountSidAC0123456789abcdef0123456789abcdefBody退订 & 谢谢'\
     *   'From+8613800138000MessageSidSM0123456789abcdef0123456789abcdef'\
     *   'NumMedia0To+8610690000001'
     *   printf '%s' "$data" | openssl dgst -sha1 -hmac f0e1d2c3b4a5968778695a4b3c2d1e0f -binary | base64 */
    const gw_kv sms[] = {
        {"To", "+8610690000001"},
        {"From", "+8613800138000"},
        {"Body", "退订 & 谢谢"},
        {"MessageSid", "SM0123456789abcdef0123456789abcdef"},
        {"AccountSid", "AC0123456789abcdef0123456789abcdef"},
        {"NumMedia", "0"},
    };
    const char *token = "f0e1d2c3b4a5968778695a4b3c2d1e0f";
    const char *url = "https://sms.example.cn/inbound/twilio?county=3303";
    expect_signature(token, url, sms, 6, "dnfuOHKEo7yDDv3D31/9nBGFFDU=");

    /* No parameters: the URL alone.
     *   printf '%s' 'https://sms.example.cn/inbound/twilio?county=3303' |
     *     openssl dgst -sha1 -hmac f0e1d2c3b4a5968778695a4b3c2d1e0f -binary | base64 */
    expect_signature(token, url, NULL, 0, "3r088UqqD5eGGUJhUZITDf7GH/I=");
    /* An empty token is still a key (HMAC pads it with zeros).
     *   printf '%s' 'https://sms.example.cn/inbound/twilio?county=3303' |
     *     openssl dgst -sha1 -hmac '' -binary | base64 */
    expect_signature("", url, NULL, 0, "aJGa+E+G3sFlwKaHDIflh02yq0Y=");
}

static void test_twilio_rejects(void **state)
{
    (void)state;
    gw_kv changed[N_DOC];

    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, doc_params, N_DOC, DOC_SIGNATURE), 1);
    /* wrong token */
    assert_int_equal(gw_twilio_signature_ok("12346", DOC_URL, doc_params, N_DOC, DOC_SIGNATURE), 0);
    assert_int_equal(gw_twilio_signature_ok("", DOC_URL, doc_params, N_DOC, DOC_SIGNATURE), 0);
    /* another URL: scheme, query */
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2",
                                            doc_params, N_DOC, DOC_SIGNATURE), 0);
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, "https://mycompany.com/myapp.php?foo=1",
                                            doc_params, N_DOC, DOC_SIGNATURE), 0);
    /* a changed value, a renamed parameter, one dropped, one added */
    memcpy(changed, doc_params, sizeof changed);
    changed[0].value = "9999";
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, changed, N_DOC, DOC_SIGNATURE), 0);
    memcpy(changed, doc_params, sizeof changed);
    changed[0].key = "digits";
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, changed, N_DOC, DOC_SIGNATURE), 0);
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, doc_params, N_DOC - 1, DOC_SIGNATURE), 0);
    /* a value moved to another name: same bytes concatenated, another order */
    memcpy(changed, doc_params, sizeof changed);
    changed[1].value = "+14158675309";   /* To */
    changed[2].value = "+18005551212";   /* From */
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, changed, N_DOC, DOC_SIGNATURE), 0);
    /* the signature: missing, empty, one character changed, cut, extended */
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, doc_params, N_DOC, NULL), 0);
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, doc_params, N_DOC, ""), 0);
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, doc_params, N_DOC,
                                            "RSOYDt4T1cUTdK1PDd93/VVr8B9="), 0);
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, doc_params, N_DOC,
                                            "rSOYDt4T1cUTdK1PDd93/VVr8B8="), 0);
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, doc_params, N_DOC,
                                            "RSOYDt4T1cUTdK1PDd93/VVr8B8A"), 0);   /* last byte */
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, doc_params, N_DOC,
                                            "RSOYDt4T1cUTdK1PDd93/VVr8B8"), 0);
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, doc_params, N_DOC,
                                            "RSOYDt4T1cUTdK1PDd93/VVr8B8=="), 0);
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, doc_params, N_DOC,
                                            "RSOYDt4T1cUTdK1PDd93/VVr8B8= "), 0);
    /* bad arguments */
    assert_int_equal(gw_twilio_signature_ok(NULL, DOC_URL, doc_params, N_DOC, DOC_SIGNATURE), 0);
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, NULL, doc_params, N_DOC, DOC_SIGNATURE), 0);
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, NULL, N_DOC, DOC_SIGNATURE), 0);
    memcpy(changed, doc_params, sizeof changed);
    changed[3].value = NULL;
    assert_int_equal(gw_twilio_signature_ok(DOC_TOKEN, DOC_URL, changed, N_DOC, DOC_SIGNATURE), 0);
}

static void test_twilio_output_size(void **state)
{
    (void)state;
    char out[40];

    memset(out, 'x', sizeof out);
    assert_int_equal(gw_twilio_signature(DOC_TOKEN, DOC_URL, doc_params, N_DOC, out, 28), -1);
    assert_int_equal(gw_twilio_signature(DOC_TOKEN, DOC_URL, doc_params, N_DOC, NULL, 29), -1);
    assert_int_equal(gw_twilio_signature(DOC_TOKEN, DOC_URL, doc_params, N_DOC, out, sizeof out), 0);
    assert_int_equal(strlen(out), 28);
    assert_string_equal(out, DOC_SIGNATURE);
    assert_int_equal(out[29], 'x');   /* nothing written past the NUL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keywords_plain),
        cmocka_unit_test(test_keywords_case),
        cmocka_unit_test(test_keywords_full_width),
        cmocka_unit_test(test_keywords_surrounding_space),
        cmocka_unit_test(test_keywords_near_misses),
        cmocka_unit_test(test_keywords_invalid_utf8),
        cmocka_unit_test(test_keyword_names),
        cmocka_unit_test(test_fold),
        cmocka_unit_test(test_fold_limits),
        cmocka_unit_test(test_twilio_documented_example),
        cmocka_unit_test(test_twilio_order),
        cmocka_unit_test(test_twilio_inbound_sms),
        cmocka_unit_test(test_twilio_rejects),
        cmocka_unit_test(test_twilio_output_size),
    };
    return cmocka_run_group_tests_name("gw_keyword", tests, NULL, NULL);
}
