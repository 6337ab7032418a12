/* tpl.h - message texts, menus, encodings and USSD paging.
 *
 * Texts and menus are data: DIR/zh.ini and DIR/en.ini hold one text per key
 * (INI sections give the key's first part: [ussd] busy = ... is
 * "ussd.busy"; "\n" in a value is a line break), DIR/menus.ini holds the
 * menus ([main] 1 = contribution ...). tpl_load checks them against the
 * schema the code expects (tpl_schema.c): a missing or unknown key, an
 * unknown {placeholder}, an unknown menu action or a text that does not fit
 * one USSD screen when it must, is a load error "FILE:LINE: key: reason".
 * A loaded set is immutable; SIGHUP builds a new one and swaps it.
 * No I/O except in tpl_load. Not thread safe to load, safe to read. */
#ifndef TPL_H
#define TPL_H

#include <stddef.h>

typedef struct tpl_set tpl_set;

typedef struct tpl_var {
    const char *name;   /* placeholder name without braces */
    const char *value;  /* UTF-8 */
} tpl_var;

typedef struct tpl_menu_item {
    int digit;          /* 1..9: what the resident presses */
    const char *action; /* contribution | balance | pension | claim | reminders | language */
} tpl_menu_item;

/* ---- loading ---- */

/* Loads the texts of every language and the menus from DIR. Returns 0 and
 * a new set in *OUT, or -1 with "FILE:LINE: key: reason" in ERR. */
int tpl_load(const char *dir, tpl_set **out, char *err, size_t errlen);

void tpl_free(tpl_set *set);

/* 1 when LANG ("zh", "en") was loaded. */
int tpl_has_lang(const tpl_set *set, const char *lang);

/* ---- texts ---- */

/* The raw text of KEY ("ussd.busy") in LANG; an unknown LANG falls back to
 * "zh". NULL when KEY is not in the schema. Owned by SET. */
const char *tpl_text(const tpl_set *set, const char *lang, const char *key);

/* Renders KEY in LANG with VARS substituted for {name} placeholders ("{{"
 * is a literal "{"). A placeholder without a value renders empty. Returns a
 * malloc'd string the caller frees, or NULL (unknown key, OOM). */
char *tpl_render(const tpl_set *set, const char *lang, const char *key,
                 const tpl_var *vars, size_t nvars);

/* The items of menu NAME ("main") in file order; returns their count and
 * sets *ITEMS (owned by SET), or 0 for an unknown menu. */
size_t tpl_menu(const tpl_set *set, const char *name, const tpl_menu_item **items);

/* ---- encoding (tpl_encoding.c) ---- */

/* 1 when S[0..LEN) is valid UTF-8 (no overlongs, no surrogates). */
int tpl_utf8_valid(const char *s, size_t len);

/* 1 when every character of the UTF-8 text is in GSM 03.38's basic table
 * or its extension table. */
int tpl_gsm7_encodable(const char *s, size_t len);

/* GSM-7 septets of the text (extension characters count 2). Only
 * meaningful when tpl_gsm7_encodable. */
size_t tpl_gsm7_septets(const char *s, size_t len);

/* UTF-16 code units of the text (characters beyond the BMP count 2). */
size_t tpl_ucs2_units(const char *s, size_t len);

/* Length of one USSD screen as the network counts it, and the limit that
 * applies: GSM-7 septets against 182, or UCS-2 units against 80
 * (SPEC: "at most 182 characters when GSM-7 encodable, else at most 80"). */
size_t tpl_ussd_length(const char *s, size_t len, size_t *limit);

/* ---- USSD paging (tpl_page.c) ---- */

/* Splits BODY (lines separated by '\n') into screens that each fit
 * tpl_ussd_length's limit, breaking between lines when possible and inside
 * a line (never inside a character) when one line alone is too long.
 * Screen INDEX (0-based; clamped to the last) is written to *OUT as a
 * malloc'd string: its lines, then "\n" MORE when a later screen exists,
 * then "\n" BACK when INDEX > 0 or BACK_ON_FIRST. MORE is e.g. "98 更多",
 * BACK "0 返回"; either may be NULL for none.
 * Returns the number of screens (>= 1), or -1 on OOM. */
int tpl_page(const char *body, const char *more, const char *back,
             int back_on_first, int index, char **out);

#endif
