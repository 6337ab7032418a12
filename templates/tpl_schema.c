/* tpl_schema.c - what the code expects of the template data: every text
 * key with the placeholders it may use, the languages and the menus.
 * tpl_load checks DIR/LANG.ini and DIR/menus.ini against these tables.
 * Adding a language is adding its code to tpl_schema_langs (and its file);
 * adding a text is one line here and one in every language file.
 * Invariant: keys are "section.name", unique; menu actions are the names
 * of the "menu." keys. */
#include "tpl_internal.h"

const tpl_schema_key tpl_schema_keys[] = {
    /* values the code formats, embedded in other texts (one line each) */
    {"fmt.money", "amount", 0},
    {"fmt.date", "year month day mm dd", 0},
    {"fmt.time", "hh mi", 0},

    /* USSD screens and screen lines (each must fit one screen) */
    {"ussd.busy", "", 1},
    {"ussd.unknown_phone", "hotline", 1},
    {"ussd.choose_person", "", 1},
    {"ussd.main_title", "name", 1},
    {"ussd.invalid", "", 1},
    {"ussd.more", "", 1},
    {"ussd.back", "", 1},
    {"ussd.contribution_paid", "year tier paid", 1},
    {"ussd.contribution_unpaid", "year tier due_amount due_date", 1},
    {"ussd.contribution_unpaid_nodate", "year tier due_amount", 1},
    {"ussd.contribution_none", "year", 1},
    {"ussd.balance_ask_id", "", 1},
    {"ussd.balance_wrong_id", "left", 1},
    {"ussd.balance_locked", "until", 1},
    {"ussd.balance", "balance", 1},
    {"ussd.balance_none", "", 1},
    {"ussd.pension", "monthly last_paid", 1},
    {"ussd.pension_nodate", "monthly", 1},
    {"ussd.pension_none", "", 1},
    {"ussd.language_choose", "", 1},
    {"ussd.language_set", "", 1},
    {"ussd.goodbye", "", 1},

    /* main menu labels, one per action (one line each) */
    {"menu.contribution", "", 0},
    {"menu.balance", "", 0},
    {"menu.pension", "", 0},
    {"menu.claim", "", 0},
    {"menu.reminders", "", 0},
    {"menu.language", "", 0},
};
const size_t tpl_schema_nkeys = sizeof tpl_schema_keys / sizeof tpl_schema_keys[0];

const char *const tpl_schema_langs[] = {"zh", "en"};
const size_t tpl_schema_nlangs = sizeof tpl_schema_langs / sizeof tpl_schema_langs[0];

const char *const tpl_schema_menus[] = {"main"};
const size_t tpl_schema_nmenus = sizeof tpl_schema_menus / sizeof tpl_schema_menus[0];
