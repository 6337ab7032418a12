/* gw_participant.h - one participant of the schemes, as the gateway keeps it.
 *
 * Money is integer fen (1 yuan = 100 fen), never floating point. Dates are
 * local calendar dates as "YYYY-MM-DD" (validated), or "" when absent.
 * Strings are NUL-terminated UTF-8 and always fit their arrays (the roster
 * parser rejects longer values). */
#ifndef GW_PARTICIPANT_H
#define GW_PARTICIPANT_H

#include <stdint.h>

#define GW_PID_MAX 64      /* participant_id: 1..63 of [A-Za-z0-9_.-] */
#define GW_PHONE_MAX 24    /* E.164, "+8613812345678" */
#define GW_NAME_MAX 96
#define GW_PLACE_MAX 96
#define GW_DATE_MAX 11     /* "YYYY-MM-DD" */

typedef struct gw_participant {
    char id[GW_PID_MAX];
    char phone[GW_PHONE_MAX];          /* E.164, or "" when the roster has none */
    char name[GW_NAME_MAX];
    char id_last4[8];                  /* 4 characters [0-9X], upper case; "" if unknown */
    char township[GW_PLACE_MAX];
    char village[GW_PLACE_MAX];
    char language[4];                  /* "zh" or "en" */
    int contribution_year;             /* 0 when the roster gives none */
    int64_t contribution_tier_fen;     /* -1 when empty */
    int64_t contribution_paid_fen;     /* 0 = unpaid for contribution_year */
    char contribution_due[GW_DATE_MAX];
    int64_t account_balance_fen;       /* -1 when empty */
    int64_t pension_monthly_fen;       /* -1 = not drawing a pension */
    char pension_last_paid[GW_DATE_MAX];
    int mutual_aid_member;             /* 1 yes, 0 no */
} gw_participant;

#endif
