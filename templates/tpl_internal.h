/* tpl_internal.h - what only templates/ shares between its files: the
 * schema tables (tpl_schema.c) and the per-character encoding helpers
 * (tpl_encoding.c) that the loader and the pager build on. */
#ifndef TPL_INTERNAL_H
#define TPL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* ---- schema (tpl_schema.c) ---- */

typedef struct tpl_schema_key {
    const char *key;   /* "section.name" */
    const char *vars;  /* allowed placeholders, space separated ("" for none) */
    int screen;        /* 1: must fit one USSD screen on its own; 0: one line */
} tpl_schema_key;

/* Every text key, each required in every language file. The actions of
 * menus are the keys "menu.ACTION". */
extern const tpl_schema_key tpl_schema_keys[];
extern const size_t tpl_schema_nkeys;

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
