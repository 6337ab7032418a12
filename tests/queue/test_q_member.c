/* test_q_member.c - the queue's pure helpers: member strings, lanes,
 * retry backoff and token-bucket sizing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "q.h"

static void test_member_round_trip(void **state)
{
    (void)state;
    q_item in, out;
    memset(&in, 0, sizeof in);
    in.id = 1234567;
    in.attempt = 2;
    in.segments = 3;
    snprintf(in.phone, sizeof in.phone, "%s", "+8613800000001");
    snprintf(in.body_id, sizeof in.body_id, "%s", "1234000");
    char buf[128];
    int n = q_member_format(&in, buf, sizeof buf);
    assert_int_equal(n, (int)strlen("1234567:2:3:+8613800000001:1234000"));
    assert_string_equal(buf, "1234567:2:3:+8613800000001:1234000");
    assert_int_equal(q_member_parse(buf, (size_t)n, &out), 0);
    assert_true(out.id == 1234567);
    assert_int_equal(out.attempt, 2);
    assert_int_equal(out.segments, 3);
    assert_string_equal(out.phone, "+8613800000001");
    assert_string_equal(out.body_id, "1234000");
    assert_string_equal(out.extra, "");

    snprintf(in.extra, sizeof in.extra, "%s", "c42.p7");
    n = q_member_format(&in, buf, sizeof buf);
    assert_string_equal(buf, "1234567:2:3:+8613800000001:1234000:c42.p7");
    assert_int_equal(q_member_parse(buf, (size_t)n, &out), 0);
    assert_string_equal(out.extra, "c42.p7");
}

static void test_member_rejects(void **state)
{
    (void)state;
    q_item out;
    const char *bad[] = {
        "", "1", "1:0", "1:0:1", "1:0:1:+86", "1:0:1:+86:", "x:0:1:+86:5", "1:0:0:+86:5",
        "1:0:1::5", "1:0:1:+86|1:5", "1:-1:1:+86:5", "1:0:1:+86:5:a|b",
        "99999999999999999999999:0:1:+86:5", "1:0:1:+8613800000001234567890123:5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = q_member_parse(bad[i], strlen(bad[i]), &out);
        if (rc != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    q_item in;
    memset(&in, 0, sizeof in);
    in.id = 1;
    in.segments = 1;
    snprintf(in.phone, sizeof in.phone, "%s", "+86:1");
    snprintf(in.body_id, sizeof in.body_id, "%s", "1");
    char buf[64];
    assert_int_equal(q_member_format(&in, buf, sizeof buf), -1);
    snprintf(in.phone, sizeof in.phone, "%s", "+861");
    snprintf(in.extra, sizeof in.extra, "%s", "a|b");
    assert_int_equal(q_member_format(&in, buf, sizeof buf), -1);
    snprintf(in.extra, sizeof in.extra, "%s", "");
    assert_int_equal(q_member_format(&in, buf, 8), -1);   /* does not fit */
}

static void test_lanes(void **state)
{
    (void)state;
    assert_int_equal(q_lane_parse("reply"), Q_REPLY);
    assert_int_equal(q_lane_parse("bulk"), Q_BULK);
    assert_int_equal(q_lane_parse("Reply"), -1);
    assert_int_equal(q_lane_parse(NULL), -1);
    assert_string_equal(q_lane_name(Q_REPLY), "reply");
    assert_string_equal(q_lane_name(Q_BULK), "bulk");
}

static void test_backoff(void **state)
{
    (void)state;
    /* attempt 1: 1 s base -> [500, 1000] ms; doubling; capped at 5 min */
    assert_true(q_backoff_ms(1, 0) == 500);
    assert_true(q_backoff_ms(1, 500) == 1000);
    assert_true(q_backoff_ms(1, 501) == 500);          /* wraps within the window */
    assert_true(q_backoff_ms(2, 0) == 1000);
    assert_true(q_backoff_ms(3, 0) == 2000);
    assert_true(q_backoff_ms(4, 2000) == 6000);
    for (uint32_t r = 0; r < 100000; r += 997) {
        for (int a = 1; a < 40; a++) {
            int64_t d = q_backoff_ms(a, r);
            int64_t base = 1000;
            for (int i = 1; i < a && base < 300000; i++)
                base *= 2;
            if (base > 300000)
                base = 300000;
            if (d < base / 2 || d > base)
                fail_msg("attempt %d rnd %u: %lld outside [%lld, %lld]", a, r, (long long)d,
                         (long long)base / 2, (long long)base);
        }
    }
    assert_true(q_backoff_ms(30, UINT32_MAX) <= 300000);
    assert_true(q_backoff_ms(0, 0) == 500);              /* treated as the first */
}

static void test_bucket_burst(void **state)
{
    (void)state;
    assert_true(q_bucket_burst(0, 3) == 0);              /* no limit */
    assert_true(q_bucket_burst(50, 3) == 10);            /* a fifth of a second */
    assert_true(q_bucket_burst(10, 3) == 3);             /* never below one long message */
    assert_true(q_bucket_burst(1, 1) == 1);
    assert_true(q_bucket_burst(1000, 3) == 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_round_trip),
        cmocka_unit_test(test_member_rejects),
        cmocka_unit_test(test_lanes),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_bucket_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
