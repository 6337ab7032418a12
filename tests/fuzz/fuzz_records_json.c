/* fuzz_records_json.c - libFuzzer target for gw_records_parse_json
 * (gateway/gw_records_json.c), an agency system's participant list.
 *
 * Checks that no body crashes, leaks or trips a sanitizer; that a refused
 * body has a reason and no list; and that an accepted one gives exactly
 * COUNT participants sorted by id, each with a valid id, NUL-terminated
 * strings, language zh/en, and amounts that are -1 or within the roster's
 * bounds (0..100,000,000 yuan in fen). */
#include <string.h>

#include "fuzz_check.h"
#include "gw_records_internal.h"
#include "gw_roster.h"

#define FEN_MAX (100000000LL * 100)

static int amount_ok(int64_t fen, int64_t empty)
{
    return fen == empty || (fen >= 0 && fen <= FEN_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_participant *list = NULL;
    char err[200] = "";
    int n = gw_records_parse_json((const char *)data, size, &list, err, sizeof err);
    if (n < 0) {
        FUZZ_CHECK(n == -1 && list == NULL && err[0] != '\0');
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
        return 0;
    }
    FUZZ_CHECK(list != NULL);
    for (int i = 0; i < n; i++) {
        const gw_participant *p = &list[i];
        FUZZ_CHECK(gw_participant_check(p, NULL, 0) == 0);
        FUZZ_CHECK(i == 0 || strcmp(list[i - 1].id, p->id) <= 0);
        FUZZ_CHECK(memchr(p->phone, '\0', sizeof p->phone) != NULL);
        FUZZ_CHECK(memchr(p->name, '\0', sizeof p->name) != NULL);
        FUZZ_CHECK(memchr(p->id_last4, '\0', sizeof p->id_last4) != NULL);
        FUZZ_CHECK(memchr(p->township, '\0', sizeof p->township) != NULL);
        FUZZ_CHECK(memchr(p->village, '\0', sizeof p->village) != NULL);
        FUZZ_CHECK(strcmp(p->language, "zh") == 0 || strcmp(p->language, "en") == 0);
        FUZZ_CHECK(memchr(p->contribution_due, '\0', sizeof p->contribution_due) != NULL);
        FUZZ_CHECK(memchr(p->pension_last_paid, '\0', sizeof p->pension_last_paid) != NULL);
        FUZZ_CHECK(amount_ok(p->contribution_tier_fen, -1));
        FUZZ_CHECK(amount_ok(p->contribution_paid_fen, 0));
        FUZZ_CHECK(amount_ok(p->account_balance_fen, -1));
        FUZZ_CHECK(amount_ok(p->pension_monthly_fen, -1));
        FUZZ_CHECK(p->mutual_aid_member == 0 || p->mutual_aid_member == 1);
    }
    free(list);
    return 0;
}
