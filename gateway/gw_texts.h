/* gw_texts.h - texts built from a participant's record, shared by the USSD
 * screens and the SMS replies: money and dates in the language's own form
 * (fmt.money, fmt.date in templates/data), and the contribution status.
 * Pure over a loaded template set; runs anywhere. */
#ifndef GW_TEXTS_H
#define GW_TEXTS_H

#include <stddef.h>
#include <stdint.h>

#include "gw_participant.h"
#include "tpl.h"

/* FEN as LANG writes money ("100元", "1234.56 yuan") into OUT. */
void gw_text_money(const tpl_set *set, const char *lang, int64_t fen, char *out, size_t cap);

/* YMD ("2026-12-31") as LANG writes dates ("2026年12月31日") into OUT; an
 * unreadable date is copied as it is. */
void gw_text_date(const tpl_set *set, const char *lang, const char *ymd, char *out, size_t cap);

/* P's contribution status from the texts of SECTION ("ussd" for the screen,
 * "sms" for a message): contribution_paid, _unpaid, _unpaid_nodate, _none,
 * the _notier ones, or _overdue (unpaid, its due date before today). Today,
 * and the year when the record names none, are gw_clock's local date.
 * Returns a malloc'd text, or NULL (OOM). */
char *gw_text_contribution(const tpl_set *set, const char *lang, const gw_participant *p,
                           const char *section);

#endif
