/* tpl.h - message texts, menus, encodings and USSD paging.
 *
 * Texts and menus are data: DIR/zh.ini and DIR/en.ini hold one text per key
 * (INI sections give the key's first part: [ussd] busy = ... is
 * "ussd.busy"; "\n" in a value is a line break), DIR/menus.ini holds the
 * menus ([main] 1 = contribution ...). tpl_load checks them against the
 * schema the code expects (tpl_schema.c): a missing or unknown key, an
 * unknown {placeholder}, an unknown menu action or a text that does not fit
 * one USSD screen when it must, is a load error "FILE:LINE: key: reason".
 * SMS texts ([sms]) are checked at their longest: the signature plus the
 * text with every placeholder at its widest value must go in at most
 * max_segments parts (tpl_opts).
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

/* What the SMS texts are checked against (the [sms] configuration). */
typedef struct tpl_opts {
    const char *signature;  /* [sms] signature, counted in every SMS text; NULL = "" */
    int max_segments;       /* [sms] max_segments; 0 = 3 */
    const tpl_var *fixed;   /* placeholders the configuration fixes ([ussd] hotline,
                               service_code): measured as they are, not at the widest */
    size_t nfixed;
} tpl_opts;

/* tpl_load with options (tpl_load(dir,...) == tpl_load_ex(dir, NULL, ...)).
 * An SMS text that takes more than max_segments parts is the error
 * "FILE:LINE: sms.KEY: N segments with the signature, over max_segments M".
 * The SMS check runs once a language file has been read whole (it needs
 * that file's fmt.money and fmt.date), so an error in a later line of the
 * same file is reported before it. A signature that is not valid UTF-8 or a
 * negative max_segments is the error "DIR:0: ...". */
int tpl_load_ex(const char *dir, const tpl_opts *opts, tpl_set **out, char *err, size_t errlen);

void tpl_free(tpl_set *set);

/* 1 when LANG ("zh", "en") was loaded. */
int tpl_has_lang(const tpl_set *set, const char *lang);

/* ---- texts ---- */

/* The raw text of KEY ("ussd.busy") in LANG; an unknown LANG falls back to
 * "zh". NULL when KEY is not in the schema. Owned by SET. */
const char *tpl_text(const tpl_set *set, const char *lang, const char *key);

/* The placeholders KEY allows, space separated ("" for none), or NULL for
 * a key not in the schema. Static storage. */
const char *tpl_key_vars(const char *key);

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

/* ---- SMS (tpl_sms.c) ---- */

typedef struct tpl_sms {
    int ucs2;        /* 1: the message goes as UCS-2; 0: GSM-7 */
    size_t units;    /* GSM-7 septets (extension chars count 2) or UTF-16 units, signature included */
    int segments;    /* parts on the air: GSM-7 1 part up to 160 septets, else 153 per part;
                        UCS-2 1 part up to 70 units, else 67 per part. A part never splits
                        an extension character's escape pair or a surrogate pair (emoji):
                        such a character moves whole to the next part. */
} tpl_sms;

/* Measures S[0..LEN) as it would go on the air (no replacement): GSM-7 when
 * every character is in GSM 03.38 (basic or extension table), else UCS-2
 * (an invalid UTF-8 byte counts one unit). An empty text is 1 segment. */
void tpl_sms_measure(const char *s, size_t len, tpl_sms *info);

/* Replaces look-alike punctuation by GSM-7 equivalents: curly single/double
 * quotes, primes, grave and acute accents (-> '), hyphens, en/em dashes,
 * minus sign, horizontal bar (-> -), ellipsis (-> "..."), tab, no-break and
 * the other unicode spaces, ideographic space (-> ' '), zero-width spaces
 * and soft hyphen (dropped), full-width ASCII forms U+FF01..U+FF5E (-> ASCII),
 * ideographic comma and full stop (、。-> , .), full-width pound and yen;
 * but ONLY when the whole result is then GSM-7 encodable; otherwise the text
 * is returned unchanged (Chinese text keeps its full-width ，。). Returns a
 * malloc'd, NUL-terminated copy (caller frees), its length in *OUTLEN (may be
 * NULL), or NULL on OOM. */
char *tpl_sms_normalize(const char *s, size_t len, size_t *outlen);

/* What is actually sent: SIGNATURE (may be NULL or "") prefixed to TEXT[0..LEN),
 * normalised as above over the whole message, then measured into *INFO (may
 * be NULL). Returns malloc'd UTF-8 (caller frees) or NULL (OOM, or
 * TEXT/SIGNATURE not valid UTF-8, or TEXT holding a NUL byte). */
char *tpl_sms_prepare(const char *signature, const char *text, size_t len, tpl_sms *info);

#endif
