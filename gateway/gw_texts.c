/* gw_texts.c - texts built from a participant's record; see gw_texts.h. */
#include "gw_texts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_clock.h"
#include "gw_format.h"

void gw_text_money(const tpl_set *set, const char *lang, int64_t fen, char *out, size_t cap)
{
    char amount[32];
    if (gw_money_format(fen < 0 ? 0 : fen, amount, sizeof amount) < 0)
        amount[0] = '\0';
    tpl_var v = {"amount", amount};
    char *t = tpl_render(set, lang, "fmt.money", &v, 1);
    snprintf(out, cap, "%s", t != NULL ? t : amount);
    free(t);
}

void gw_text_date(const tpl_set *set, const char *lang, const char *ymd, char *out, size_t cap)
{
    int y, m, d;
    if (gw_date_parse(ymd, &y, &m, &d) != 0) {
        snprintf(out, cap, "%s", ymd);
        return;
    }
    char ys[8], ms[4], ds[4], mm[4], dd[4];
    snprintf(ys, sizeof ys, "%d", y);
    snprintf(ms, sizeof ms, "%d", m);
    snprintf(ds, sizeof ds, "%d", d);
    snprintf(mm, sizeof mm, "%02d", m);
    snprintf(dd, sizeof dd, "%02d", d);
    tpl_var v[] = {{"year", ys}, {"month", ms}, {"day", ds}, {"mm", mm}, {"dd", dd}};
    char *t = tpl_render(set, lang, "fmt.date", v, 5);
    snprintf(out, cap, "%s", t != NULL ? t : ymd);
    free(t);
}

char *gw_text_contribution(const tpl_set *set, const char *lang, const gw_participant *p,
                           const char *section)
{
    char a[64], c[64], d[64], year[8], key[64], today[16];
    tpl_var v[4];
    size_t n;
    const char *which;
    int now_year = gw_clock_ymd(gw_clock_now_ms(), today, sizeof today);
    /* unpaid, and the last day to pay (YYYY-MM-DD compare as strings) is past */
    int overdue = p->contribution_year != 0 && p->contribution_paid_fen <= 0 &&
                  p->contribution_due[0] != '\0' && today[0] != '\0' &&
                  strcmp(p->contribution_due, today) < 0;
    snprintf(year, sizeof year, "%d", p->contribution_year != 0 ? p->contribution_year : now_year);
    v[0] = (tpl_var){"year", year};
    if (p->contribution_year == 0) {
        which = "contribution_none";
        n = 1;
    } else if (p->contribution_tier_fen < 0) {
        /* a year without a tier: not chosen yet (one is chosen when paying) */
        which = "contribution_unpaid_notier_nodate";
        n = 1;
        if (p->contribution_paid_fen > 0) {
            gw_text_money(set, lang, p->contribution_paid_fen, c, sizeof c);
            v[n++] = (tpl_var){"paid", c};
            which = "contribution_paid_notier";
        } else if (p->contribution_due[0] != '\0') {
            gw_text_date(set, lang, p->contribution_due, d, sizeof d);
            v[n++] = (tpl_var){"due_date", d};
            which = "contribution_unpaid_notier";
        }
    } else if (p->contribution_paid_fen > 0) {
        gw_text_money(set, lang, p->contribution_tier_fen, a, sizeof a);
        gw_text_money(set, lang, p->contribution_paid_fen, c, sizeof c);
        v[1] = (tpl_var){"tier", a};
        v[2] = (tpl_var){"paid", c};
        which = "contribution_paid";
        n = 3;
    } else {
        gw_text_money(set, lang, p->contribution_tier_fen, a, sizeof a);
        v[1] = (tpl_var){"tier", a};
        v[2] = (tpl_var){"due_amount", a};
        which = "contribution_unpaid_nodate";
        n = 3;
        if (p->contribution_due[0] != '\0') {
            gw_text_date(set, lang, p->contribution_due, d, sizeof d);
            v[3] = (tpl_var){"due_date", d};
            which = "contribution_unpaid";
            n = 4;
        }
    }
    if (overdue && p->contribution_tier_fen >= 0) {
        /* year, tier and amount as unpaid, and the day gone (v[0..2] set above) */
        gw_text_date(set, lang, p->contribution_due, d, sizeof d);
        v[3] = (tpl_var){"due_date", d};
        which = "contribution_overdue";
        n = 4;
    } else if (overdue) {
        gw_text_date(set, lang, p->contribution_due, d, sizeof d);
        v[1] = (tpl_var){"due_date", d};
        which = "contribution_overdue_notier";
        n = 2;
    }
    snprintf(key, sizeof key, "%s.%s", section, which);
    return tpl_render(set, lang, key, v, n);
}
