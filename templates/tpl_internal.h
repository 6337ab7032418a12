/* tpl_internal.h - what only templates/ shares between its files: the
 * schema tables (tpl_schema.c) and the per-character encoding helpers
 * (tpl_encoding.c) that the loader and the pager build on. */
#ifndef TPL_INTERNAL_H
#define TPL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* ---- schema (tpl_schema.c) ---- */

/* What a text is, and so how tpl_load checks its length. */
typedef enum tpl_kind {
    TPL_KIND_LINE,     /* one line embedded in other texts: no line break */
    TPL_KIND_SCREEN,   /* must fit one USSD screen on its own */
    TPL_KIND_SMS       /* an SMS: with the signature and every placeholder at its
                          widest (tpl_schema_vars), at most max_segments parts */
} tpl_kind;

typedef struct tpl_schema_key {
    const char *key;   /* "section.name" */
    const char *vars;  /* allowed placeholders, space separated ("" for none) */
    tpl_kind kind;
} tpl_schema_key;

/* Every text key, each required in every language file. The actions of
 * menus are the keys "menu.ACTION". */
extern const tpl_schema_key tpl_schema_keys[];
extern const size_t tpl_schema_nkeys;

/* How the code formats a placeholder's value before it fills it in. */
typedef enum tpl_var_format {
    TPL_VAR_PLAIN,     /* as is */
    TPL_VAR_MONEY,     /* through the language's fmt.money ({amount}) */
    TPL_VAR_DATE,      /* through the language's fmt.date; WORST is YYYY-MM-DD */
    TPL_VAR_LABEL      /* one of the language's texts WORST names (keys joined by
                          blanks): the longest */
} tpl_var_format;

/* The widest value a placeholder of an SMS text can take, so that tpl_load
 * can check an SMS text at its longest. */
typedef struct tpl_schema_var {
    const char *name;
    tpl_var_format format;
    const char *worst;  /* UTF-8, before formatting */
} tpl_schema_var;

/* One entry for every placeholder allowed in a TPL_KIND_SMS key. */
extern const tpl_schema_var tpl_schema_vars[];
extern const size_t tpl_schema_nvars;

/* Languages loaded from DIR/LANG.ini; the first is the fallback. */
extern const char *const tpl_schema_langs[];
extern const size_t tpl_schema_nlangs;

/* Menus expected in DIR/menus.ini, one section each. */
extern const char *const tpl_schema_menus[];
extern const size_t tpl_schema_nmenus;

/* ---- encoding (tpl_encoding.c) ---- */

#define TPL_USSD_GSM7_MAX 182   /* septets on a GSM-7 screen */
#define TPL_USSD_UCS2_MAX 80    /* UTF-16 units on any other screen */
#define TPL_CP_BAD UINT32_MAX   /* an invalid UTF-8 byte */

/* Decodes the character at S (LEN > 0 bytes left): sets *CP and returns its
 * length in bytes. An invalid sequence gives TPL_CP_BAD and length 1, so a
 * scan always progresses. */
size_t tpl_utf8_next(const char *s, size_t len, uint32_t *cp);

/* GSM-7 septets of one code point: 1 (basic table), 2 (extension table)
 * or 0 (not in GSM 03.38). */
unsigned tpl_gsm7_cp_septets(uint32_t cp);

/* UTF-16 units of one code point (an invalid byte counts 1). */
unsigned tpl_ucs2_cp_units(uint32_t cp);

#endif
