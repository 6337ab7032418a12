/* gw_roster.h - the participant roster CSV, parsed as a stream.
 *
 * Columns (header row required, any order, each exactly once):
 *   participant_id,phone,name,id_last4,township,village,language,
 *   contribution_year,contribution_tier_yuan,contribution_paid_yuan,
 *   contribution_due,account_balance_yuan,pension_monthly_yuan,
 *   pension_last_paid,mutual_aid_member
 * Rules are SPEC.md's: phone through gw_phone_normalize (empty allowed:
 * no phone), amounts to integer fen, dates YYYY-MM-DD, language zh (the
 * default when empty) or en, mutual_aid_member yes/no (empty = no).
 *
 * The parser is fed bytes in any chunking (uses libcsv) and calls ROW for
 * each good row and REJECT for each bad one with its line number (1-based,
 * the header is line 1; for a quoted field spanning lines, the line where
 * the row starts) and a reason naming the column ("phone: not a mobile
 * number"). A bad row never stops the others. Blank lines are skipped.
 * A missing or wrong header rejects line 1 and every row after it.
 * Not thread safe; one parser per import. */
#ifndef GW_ROSTER_H
#define GW_ROSTER_H

#include <stddef.h>

#include "gw_participant.h"

typedef struct gw_roster gw_roster;

/* Called for each good row; P is valid only during the call. Return 0 to
 * go on, non-zero to stop the parse (gw_roster_feed then returns -1). */
typedef int gw_roster_row_cb(const gw_participant *p, size_t line, void *arg);
/* Called for each rejected line; REASON is valid only during the call. */
typedef void gw_roster_reject_cb(size_t line, const char *reason, void *arg);

/* Returns a new parser, or NULL when out of memory. */
gw_roster *gw_roster_new(gw_roster_row_cb *row, gw_roster_reject_cb *reject, void *arg);

/* Feeds LEN bytes. Returns 0, or -1 when a callback asked to stop or the
 * input is not CSV at all (then gw_roster_error says why). */
int gw_roster_feed(gw_roster *r, const char *buf, size_t len);

/* Ends the input (a last row without newline is handled). Returns 0/-1. */
int gw_roster_finish(gw_roster *r);

/* The reason of the last -1, or "". Owned by R. */
const char *gw_roster_error(const gw_roster *r);

void gw_roster_free(gw_roster *r);

/* ---- one participant's fields, shared with the http records backend ---- */

/* Sets P to the empty participant: strings "", amounts -1 (paid 0),
 * language "zh", year 0, not a member. */
void gw_participant_init(gw_participant *p);

/* Sets the field of P named by roster column COLUMN from its text VALUE,
 * with the roster's rules (trimmed; phone normalised; amounts to fen;
 * dates checked; language zh/en; yes/no). Returns 0, or -1 with
 * "column: reason" in ERR (unknown column included). */
int gw_roster_set_field(gw_participant *p, const char *column, const char *value,
                        char *err, size_t errlen);

/* Checks a filled participant as a whole (participant_id present and well
 * formed). Returns 0, or -1 with a reason in ERR. */
int gw_participant_check(const gw_participant *p, char *err, size_t errlen);

/* 1 when S[0..N) is a participant id: 1 to GW_PID_MAX - 1 characters of
 * [A-Za-z0-9_.-]. */
int gw_participant_id_valid(const char *s, size_t n);

#endif
