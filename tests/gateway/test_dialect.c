/* test_dialect.c - gw_ussd_dialect: the carriers' USSD requests and answers.
 *
 * Africa's Talking forms and Hubtel JSON bodies become one gw_hop_req, bad
 * bodies are refused with a reason naming the field, and the answers read
 * back as each carrier expects (CON/END text, Hubtel JSON parsed with
 * jansson). Pure functions: no loop, no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "gw_ussd_dialect.h"

/* ---- helpers ---- */

static void at_ok(const char *body, gw_hop_req *req)
{
    char err[256] = "";
    if (gw_dialect_parse_at(body, strlen(body), req, err, sizeof err) != 0)
        fail_msg("AT body \"%.80s\" rejected: %s", body, err);
}

/* Expects BODY to be refused with a reason containing WANT. */
static void at_bad(const char *body, size_t len, const char *want)
{
    gw_hop_req req;
    char err[256] = "";
    if (gw_dialect_parse_at(body, len, &req, err, sizeof err) == 0)
        fail_msg("AT body \"%.80s\" accepted, expected \"%s\"", body, want);
    if (strstr(err, want) == NULL)
        fail_msg("AT body \"%.80s\": reason \"%s\" lacks \"%s\"", body, err, want);
}

static void hubtel_ok(const char *body, gw_hop_req *req)
{
    char err[256] = "";
    if (gw_dialect_parse_hubtel(body, strlen(body), req, err, sizeof err) != 0)
        fail_msg("Hubtel body %.120s rejected: %s", body, err);
}

static void hubtel_bad_len(const char *body, size_t len, const char *want)
{
    gw_hop_req req;
    char err[256] = "";
    if (gw_dialect_parse_hubtel(body, len, &req, err, sizeof err) == 0)
        fail_msg("Hubtel body %.120s accepted, expected \"%s\"", body, want);
    if (strstr(err, want) == NULL)
        fail_msg("Hubtel body %.120s: reason \"%s\" lacks \"%s\"", body, err, want);
}

static void hubtel_bad(const char *body, const char *want)
{
    hubtel_bad_len(body, strlen(body), want);
}

/* A Hubtel body with every field; TYPE, MESSAGE and SEQUENCE are spliced in
 * as raw JSON text so tests can put any value there. */
static void hubtel_body(char *buf, size_t cap, const char *type, const char *message,
                        const char *sequence)
{
    int n = snprintf(buf, cap,
                     "{\"Mobile\": \"+8613800000201\", \"SessionId\": \"hub-1\", "
                     "\"ServiceCode\": \"*120*12345#\", \"Type\": %s, \"Message\": %s, "
                     "\"Operator\": \"chinamobile\", \"Sequence\": %s, \"ClientState\": \"\"}",
                     type, message, sequence);
    assert_true(n > 0 && (size_t)n < cap);
}

/* A string of N copies of C (malloc'd). */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- Africa's Talking ---- */

static void test_at_all_fields(void **state)
{
    (void)state;
    gw_hop_req req;
    at_ok("sessionId=ATUid_abc.1:2-3&serviceCode=%2A120%2A12345%23&phoneNumber=%2B8613800000201"
          "&networkCode=46000&text=1%2A2%2A2741", &req);
    assert_int_equal(req.dialect, GW_DIALECT_AT);
    assert_int_equal(req.type, GW_HOP_INPUT);
    assert_string_equal(req.session, "ATUid_abc.1:2-3");
    assert_string_equal(req.phone, "+8613800000201");
    assert_string_equal(req.service_code, "*120*12345#");
    assert_string_equal(req.text, "1*2*2741");
    assert_int_equal(req.sequence, 0);
}

static void test_at_text_with_raw_star_and_order(void **state)
{
    (void)state;
    gw_hop_req req;
    /* '*' unencoded, fields in another order, '+' in text is a space. */
    at_ok("text=1*98*0&phoneNumber=%2b86%20138%200000%200201&sessionId=s1&serviceCode=*120#"
          "&networkCode=46001", &req);
    assert_string_equal(req.text, "1*98*0");
    assert_string_equal(req.phone, "+86 138 0000 0201");
    assert_string_equal(req.service_code, "*120#");
    at_ok("sessionId=s2&phoneNumber=13800000201&text=a+b%2Bc", &req);
    assert_string_equal(req.text, "a b+c");
    assert_string_equal(req.service_code, "");     /* optional */
}

static void test_at_empty_text(void **state)
{
    (void)state;
    gw_hop_req req;
    at_ok("sessionId=s1&serviceCode=%2A120%23&phoneNumber=%2B8613800000201&text=", &req);
    assert_string_equal(req.text, "");
    at_ok("sessionId=s1&phoneNumber=%2B8613800000201", &req);     /* no text at all */
    assert_string_equal(req.text, "");
    assert_string_equal(req.session, "s1");
}

static void test_at_missing_fields_named(void **state)
{
    (void)state;
    const char *no_session = "serviceCode=%2A120%23&phoneNumber=%2B8613800000201&text=1";
    const char *no_phone = "sessionId=s1&serviceCode=%2A120%23&text=1";
    at_bad(no_session, strlen(no_session), "sessionId");
    at_bad(no_phone, strlen(no_phone), "phoneNumber");
    at_bad("", 0, "sessionId");
    /* The field names are case-sensitive. */
    at_bad("sessionid=s1&phoneNumber=1", strlen("sessionid=s1&phoneNumber=1"), "sessionId");
    /* A phone number present but empty is refused, not treated as unknown. */
    at_bad("sessionId=s1&phoneNumber=&text=", strlen("sessionId=s1&phoneNumber=&text="),
           "phoneNumber");
    at_bad("sessionId=s1&phoneNumber&text=", strlen("sessionId=s1&phoneNumber&text="),
           "phoneNumber");
}

static void test_at_text_size_limit(void **state)
{
    (void)state;
    char *text = repeat('1', GW_INPUT_MAX);        /* 1024 bytes */
    char body[GW_INPUT_MAX + 64];
    gw_hop_req req;

    text[GW_INPUT_MAX - 1] = '\0';                 /* 1023: the longest accepted */
    snprintf(body, sizeof body, "sessionId=s1&phoneNumber=1&text=%s", text);
    at_ok(body, &req);
    assert_int_equal(strlen(req.text), GW_INPUT_MAX - 1);

    text[GW_INPUT_MAX - 1] = '1';                  /* 1024: one too many */
    snprintf(body, sizeof body, "sessionId=s1&phoneNumber=1&text=%s", text);
    at_bad(body, strlen(body), "text");
    free(text);

    /* Far over the limit, and given as escapes: still refused by decoded size. */
    size_t n = 3 * 2000;
    char *big = malloc(n + 64);
    assert_non_null(big);
    int off = snprintf(big, 64, "sessionId=s1&phoneNumber=1&text=");
    for (size_t i = 0; i < 2000; i++)
        memcpy(big + off + 3 * i, "%2A", 3);
    big[off + n] = '\0';
    at_bad(big, strlen(big), "text");
    free(big);
}

static void test_at_session_id_rules(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "sessionId=a%20b&phoneNumber=1",        /* space */
        "sessionId=a%2Fb&phoneNumber=1",        /* slash */
        "sessionId=a%7Bb%7D&phoneNumber=1",     /* braces (Redis hash tags) */
        "sessionId=%E4%BC%9A%E8%AF%9D&phoneNumber=1", /* non-ASCII */
        "sessionId=a*b&phoneNumber=1",
        "sessionId=&phoneNumber=1",             /* empty */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        at_bad(bad[i], strlen(bad[i]), "sessionId");

    char *id = repeat('s', GW_SESSION_MAX - 1);    /* 127 characters: fine */
    char body[GW_SESSION_MAX + 64];
    gw_hop_req req;
    snprintf(body, sizeof body, "sessionId=%s&phoneNumber=1", id);
    at_ok(body, &req);
    assert_int_equal(strlen(req.session), GW_SESSION_MAX - 1);
    free(id);
    id = repeat('s', GW_SESSION_MAX);              /* 128: too long */
    snprintf(body, sizeof body, "sessionId=%s&phoneNumber=1", id);
    at_bad(body, strlen(body), "sessionId");
    free(id);
}

static void test_at_malformed_form(void **state)
{
    (void)state;
    at_bad("sessionId=s1&phoneNumber=1&text=%G1", strlen("sessionId=s1&phoneNumber=1&text=%G1"),
           "malformed");
    at_bad("sessionId=s1&phoneNumber=1&text=%FF", strlen("sessionId=s1&phoneNumber=1&text=%FF"),
           "malformed");
    const char nul[] = "sessionId=s1\0&phoneNumber=1";
    at_bad(nul, sizeof nul - 1, "malformed");
}

/* ---- Hubtel ---- */

static void test_hubtel_initiation_clears_text(void **state)
{
    (void)state;
    char body[512];
    gw_hop_req req;
    hubtel_body(body, sizeof body, "\"Initiation\"", "\"*120*12345#\"", "1");
    hubtel_ok(body, &req);
    assert_int_equal(req.dialect, GW_DIALECT_HUBTEL);
    assert_int_equal(req.type, GW_HOP_BEGIN);
    assert_string_equal(req.session, "hub-1");
    assert_string_equal(req.phone, "+8613800000201");
    assert_string_equal(req.service_code, "*120*12345#");
    assert_string_equal(req.text, "");
    assert_int_equal(req.sequence, 1);
}

static void test_hubtel_response_keeps_message(void **state)
{
    (void)state;
    char body[512];
    gw_hop_req req;
    hubtel_body(body, sizeof body, "\"Response\"", "\"2741\"", "3");
    hubtel_ok(body, &req);
    assert_int_equal(req.type, GW_HOP_INPUT);
    assert_string_equal(req.text, "2741");
    assert_int_equal(req.sequence, 3);
    hubtel_body(body, sizeof body, "\"Response\"", "\"\\u4e2d\\u6587 *1\"", "2");
    hubtel_ok(body, &req);
    assert_string_equal(req.text, "中文 *1");
    hubtel_body(body, sizeof body, "\"Response\"", "\"\"", "2");
    hubtel_ok(body, &req);
    assert_string_equal(req.text, "");
    /* Message and Sequence are optional; unknown fields are ignored. */
    hubtel_ok("{\"Mobile\": \"233200000000\", \"SessionId\": \"x\", \"Type\": \"Response\", "
              "\"Extra\": [1, 2]}", &req);
    assert_string_equal(req.text, "");
    assert_string_equal(req.service_code, "");
    assert_int_equal(req.sequence, 0);
}

static void test_hubtel_release_and_timeout(void **state)
{
    (void)state;
    char body[512];
    gw_hop_req req;
    hubtel_body(body, sizeof body, "\"Release\"", "\"\"", "4");
    hubtel_ok(body, &req);
    assert_int_equal(req.type, GW_HOP_RELEASE);
    assert_int_equal(req.sequence, 4);
    hubtel_body(body, sizeof body, "\"Timeout\"", "\"\"", "5");
    hubtel_ok(body, &req);
    assert_int_equal(req.type, GW_HOP_RELEASE);
}

static void test_hubtel_type_missing_or_unknown(void **state)
{
    (void)state;
    char body[512];
    hubtel_bad("{\"Mobile\": \"+8613800000201\", \"SessionId\": \"s\", \"Message\": \"1\"}",
               "Type");
    hubtel_body(body, sizeof body, "\"response\"", "\"1\"", "2");     /* case matters */
    hubtel_bad(body, "Type");
    hubtel_body(body, sizeof body, "\"Begin\"", "\"1\"", "2");
    hubtel_bad(body, "Type");
    hubtel_body(body, sizeof body, "\"\"", "\"1\"", "2");
    hubtel_bad(body, "Type");
}

static void test_hubtel_missing_and_bad_ids(void **state)
{
    (void)state;
    hubtel_bad("{\"Mobile\": \"+8613800000201\", \"Type\": \"Initiation\"}", "SessionId");
    hubtel_bad("{\"SessionId\": \"s\", \"Type\": \"Initiation\"}", "Mobile");
    hubtel_bad("{\"SessionId\": \"a b\", \"Mobile\": \"1\", \"Type\": \"Initiation\"}",
               "SessionId");
    hubtel_bad("{\"SessionId\": \"\", \"Mobile\": \"1\", \"Type\": \"Initiation\"}",
               "SessionId");
    hubtel_bad("{\"SessionId\": \"s\", \"Mobile\": \"\", \"Type\": \"Initiation\"}",
               "Mobile");
}

static void test_hubtel_non_string_fields(void **state)
{
    (void)state;
    char body[512];
    hubtel_bad("{\"SessionId\": \"s\", \"Mobile\": 8613800000201, \"Type\": \"Response\"}",
               "Mobile");
    hubtel_bad("{\"SessionId\": 12, \"Mobile\": \"1\", \"Type\": \"Response\"}", "SessionId");
    hubtel_bad("{\"SessionId\": \"s\", \"Mobile\": \"1\", \"Type\": null}", "Type");
    hubtel_body(body, sizeof body, "\"Response\"", "1", "2");             /* Message: number */
    hubtel_bad(body, "Message");
    hubtel_body(body, sizeof body, "\"Response\"", "[\"1\"]", "2");
    hubtel_bad(body, "Message");
    hubtel_body(body, sizeof body, "[\"Response\"]", "\"1\"", "2");
    hubtel_bad(body, "Type");
    hubtel_bad("{\"SessionId\": \"s\", \"Mobile\": \"1\", \"ServiceCode\": {}, "
               "\"Type\": \"Response\"}", "ServiceCode");
}

static void test_hubtel_sequence_rules(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\"2\"", "2.0", "1.5", "-1", "0", "true", "null", "99999999999", "1000001",
        "9223372036854775807",
    };
    char body[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hubtel_body(body, sizeof body, "\"Response\"", "\"1\"", bad[i]);
        hubtel_bad(body, "Sequence");
    }
    gw_hop_req req;
    hubtel_body(body, sizeof body, "\"Response\"", "\"1\"", "1000000");
    hubtel_ok(body, &req);
    assert_int_equal(req.sequence, 1000000);
}

static void test_hubtel_rejects_duplicate_keys(void **state)
{
    (void)state;
    hubtel_bad("{\"SessionId\": \"s\", \"Mobile\": \"+8613800000201\", \"Type\": \"Response\", "
               "\"Message\": \"1\", \"Message\": \"2\"}", "malformed JSON");
    hubtel_bad("{\"SessionId\": \"s\", \"SessionId\": \"t\", \"Mobile\": \"1\", "
               "\"Type\": \"Response\"}", "malformed JSON");
}

static void test_hubtel_not_an_object_or_broken(void **state)
{
    (void)state;
    hubtel_bad("[]", "object");
    hubtel_bad("[{\"SessionId\": \"s\"}]", "object");
    hubtel_bad("\"Initiation\"", "JSON");   /* a bare string */
    hubtel_bad("", "malformed JSON");
    hubtel_bad("{\"SessionId\": \"s\", \"Mobile\": \"1\", \"Type\": \"Resp", "malformed JSON");
    hubtel_bad("{\"SessionId\": \"s\", \"Mobile\": \"1\", \"Type\": \"Response\"", "malformed JSON");
    hubtel_bad("{\"SessionId\": \"s\"} trailing", "malformed JSON");
    hubtel_bad("SessionId=s&Mobile=1", "malformed JSON");
    /* A body cut short by LEN, even though the buffer goes on. */
    const char *whole = "{\"SessionId\": \"s\", \"Mobile\": \"1\", \"Type\": \"Response\"}";
    hubtel_bad_len(whole, strlen(whole) - 1, "malformed JSON");
    gw_hop_req req;
    hubtel_ok(whole, &req);
}

static void test_hubtel_non_utf8(void **state)
{
    (void)state;
    hubtel_bad("{\"SessionId\": \"s\", \"Mobile\": \"1\", \"Type\": \"Response\", "
               "\"Message\": \"\xff\xfe\"}", "malformed JSON");
    hubtel_bad("{\"SessionId\": \"s\", \"Mobile\": \"1\", \"Type\": \"Response\", "
               "\"Message\": \"\xe4\xb8\"}", "malformed JSON");        /* cut in a character */
    hubtel_bad("{\"SessionId\": \"s\", \"Mobile\": \"1\", \"Type\": \"Response\", "
               "\"Message\": \"\xc0\xaf\"}", "malformed JSON");        /* overlong */
    const char nul[] = "{\"SessionId\": \"s\", \"Mobile\": \"1\", \"Type\": \"Response\", "
                       "\"Message\": \"a\\u0000b\"}";
    hubtel_bad(nul, "malformed JSON");                                 /* escaped NUL */
}

static void test_hubtel_message_size_limit(void **state)
{
    (void)state;
    char *msg = repeat('9', GW_INPUT_MAX);
    size_t cap = GW_INPUT_MAX + 512;
    char *body = malloc(cap);
    assert_non_null(body);
    char quoted[GW_INPUT_MAX + 3];
    gw_hop_req req;

    msg[GW_INPUT_MAX - 1] = '\0';
    snprintf(quoted, sizeof quoted, "\"%s\"", msg);
    hubtel_body(body, cap, "\"Response\"", quoted, "2");
    hubtel_ok(body, &req);
    assert_int_equal(strlen(req.text), GW_INPUT_MAX - 1);

    msg[GW_INPUT_MAX - 1] = '9';
    snprintf(quoted, sizeof quoted, "\"%s\"", msg);
    hubtel_body(body, cap, "\"Response\"", quoted, "2");
    hubtel_bad(body, "Message");
    free(body);
    free(msg);
}

/* ---- answers ---- */

static void test_answer_at(void **state)
{
    (void)state;
    size_t len = 0;
    const char *ct = NULL;
    char *out = gw_dialect_answer(GW_DIALECT_AT, 0, "1 缴费情况\n2 账户余额", &len, &ct);
    assert_non_null(out);
    assert_string_equal(out, "CON 1 缴费情况\n2 账户余额");
    assert_int_equal(len, strlen(out));
    assert_non_null(strstr(ct, "text/plain"));
    free(out);

    out = gw_dialect_answer(GW_DIALECT_AT, 1, "再见", &len, &ct);
    assert_non_null(out);
    assert_string_equal(out, "END 再见");
    assert_int_equal(len, strlen("END 再见"));
    free(out);

    out = gw_dialect_answer(GW_DIALECT_AT, 1, "", &len, &ct);
    assert_non_null(out);
    assert_string_equal(out, "END ");
    assert_int_equal(len, 4);
    free(out);
}

/* Parses a Hubtel answer back and checks Type and Message. */
static void hubtel_answer_is(int end, const char *screen, const char *want_type)
{
    size_t len = 0;
    const char *ct = NULL;
    char *out = gw_dialect_answer(GW_DIALECT_HUBTEL, end, screen, &len, &ct);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    assert_non_null(strstr(ct, "application/json"));
    json_error_t jerr;
    json_t *j = json_loadb(out, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        fail_msg("answer is not JSON (%s): %s", jerr.text, out);
    assert_true(json_is_object(j));
    assert_string_equal(json_string_value(json_object_get(j, "Type")), want_type);
    json_t *msg = json_object_get(j, "Message");
    assert_true(json_is_string(msg));
    assert_int_equal(json_string_length(msg), strlen(screen));
    assert_string_equal(json_string_value(msg), screen);
    assert_true(json_is_string(json_object_get(j, "ClientState")));
    json_decref(j);
    free(out);
}

static void test_answer_hubtel(void **state)
{
    (void)state;
    hubtel_answer_is(0, "1 缴费情况\n2 账户余额\n3 养老金发放", "Response");
    hubtel_answer_is(1, "服务繁忙，请稍后再拨。", "Release");
    hubtel_answer_is(0, "He said \"98\" \\ back\tslash\r\nnext", "Response");
    hubtel_answer_is(1, "", "Release");
    hubtel_answer_is(0, "2026年12月31日 300元 </script>", "Response");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_at_all_fields),
        cmocka_unit_test(test_at_text_with_raw_star_and_order),
        cmocka_unit_test(test_at_empty_text),
        cmocka_unit_test(test_at_missing_fields_named),
        cmocka_unit_test(test_at_text_size_limit),
        cmocka_unit_test(test_at_session_id_rules),
        cmocka_unit_test(test_at_malformed_form),
        cmocka_unit_test(test_hubtel_initiation_clears_text),
        cmocka_unit_test(test_hubtel_response_keeps_message),
        cmocka_unit_test(test_hubtel_release_and_timeout),
        cmocka_unit_test(test_hubtel_type_missing_or_unknown),
        cmocka_unit_test(test_hubtel_missing_and_bad_ids),
        cmocka_unit_test(test_hubtel_non_string_fields),
        cmocka_unit_test(test_hubtel_sequence_rules),
        cmocka_unit_test(test_hubtel_rejects_duplicate_keys),
        cmocka_unit_test(test_hubtel_not_an_object_or_broken),
        cmocka_unit_test(test_hubtel_non_utf8),
        cmocka_unit_test(test_hubtel_message_size_limit),
        cmocka_unit_test(test_answer_at),
        cmocka_unit_test(test_answer_hubtel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
