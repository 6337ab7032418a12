/* gw_dlr_map.c - each carrier's delivery-report words as our states (sent,
 * delivered, failed); see gw_dlr.h. Pure; unit-tested in
 * tests/gateway/test_dlr_map.c. */
#include "gw_dlr.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Africa's Talking's status to ours, NULL when unknown. */
static const char *at_state(const char *s)
{
    static const struct { const char *word, *state; } map[] = {
        {"Success", "delivered"}, {"Sent", "sent"},         {"Submitted", "sent"},
        {"Buffered", "sent"},     {"Queued", "sent"},       {"Rejected", "failed"},
        {"Failed", "failed"},     {"Expired", "failed"},    {"AbsentSubscriber", "failed"},
    };
    for (size_t i = 0; s != NULL && i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(s, map[i].word) == 0)
            return map[i].state;
    return NULL;
}

static const char *twilio_state(const char *s)
{
    static const struct { const char *word, *state; } map[] = {
        {"delivered", "delivered"}, {"sent", "sent"},          {"queued", "sent"},
        {"sending", "sent"},        {"accepted", "sent"},      {"scheduled", "sent"},
        {"undelivered", "failed"},  {"failed", "failed"},      {"canceled", "failed"},
    };
    for (size_t i = 0; s != NULL && i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(s, map[i].word) == 0)
            return map[i].state;
    return NULL;
}

const char *gw_dlr_kannel_state(long status)
{
    switch (status) {
    case 1:
        return "delivered";
    case 2:
    case 16:
        return "failed";
    case 4:
    case 8:
        return "sent";
    default:
        return NULL;
    }
}

const char *gw_dlr_state(const char *dialect, const char *word)
{
    if (strcmp(dialect, "africastalking") == 0)
        return at_state(word);
    if (strcmp(dialect, "twilio") == 0)
        return twilio_state(word);
    if (strcmp(dialect, "kannel") == 0 && word != NULL && word[0] != '\0') {
        char *end;
        long v = strtol(word, &end, 10);
        return *end == '\0' ? gw_dlr_kannel_state(v) : NULL;
    }
    return NULL;
}

