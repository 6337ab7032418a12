/* test_dlr_map.c - each carrier's delivery-report words as our states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "gw_dlr.h"

static void expect(const char *dialect, const char *word, const char *want)
{
    const char *got = gw_dlr_state(dialect, word);
    if (want == NULL ? got != NULL : got == NULL || strcmp(got, want) != 0)
        fail_msg("%s %s: \"%s\", expected \"%s\"", dialect, word ? word : "(null)",
                 got ? got : "(null)", want ? want : "(null)");
}

static void test_africastalking(void **state)
{
    (void)state;
    expect("africastalking", "Success", "delivered");
    expect("africastalking", "success", "delivered");
    expect("africastalking", "Sent", "sent");
    expect("africastalking", "Submitted", "sent");
    expect("africastalking", "Buffered", "sent");
    expect("africastalking", "Rejected", "failed");
    expect("africastalking", "Failed", "failed");
    expect("africastalking", "Expired", "failed");
    expect("africastalking", "Delivered", NULL);     /* not one of its words */
    expect("africastalking", "", NULL);
    expect("africastalking", NULL, NULL);
}

static void test_twilio(void **state)
{
    (void)state;
    expect("twilio", "delivered", "delivered");
    expect("twilio", "queued", "sent");
    expect("twilio", "sending", "sent");
    expect("twilio", "sent", "sent");
    expect("twilio", "accepted", "sent");
    expect("twilio", "undelivered", "failed");
    expect("twilio", "failed", "failed");
    expect("twilio", "read", NULL);
}

static void test_kannel(void **state)
{
    (void)state;
    expect("kannel", "1", "delivered");
    expect("kannel", "2", "failed");
    expect("kannel", "4", "sent");
    expect("kannel", "8", "sent");
    expect("kannel", "16", "failed");
    expect("kannel", "3", NULL);
    expect("kannel", "1x", NULL);
    expect("kannel", "", NULL);
    expect("kannel", NULL, NULL);
    expect("console", "1", NULL);
    assert_string_equal(gw_dlr_kannel_state(1), "delivered");
    assert_null(gw_dlr_kannel_state(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_africastalking),
        cmocka_unit_test(test_twilio),
        cmocka_unit_test(test_kannel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
