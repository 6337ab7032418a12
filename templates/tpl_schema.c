/* tpl_schema.c - what the code expects of the template data: every text
 * key with the placeholders it may use, the languages and the menus.
 * tpl_load checks DIR/LANG.ini and DIR/menus.ini against these tables.
 * Adding a language is adding its code to tpl_schema_langs (and its file);
 * adding a text is one line here and one in every language file.
 * Invariant: keys are "section.name", unique; menu actions are the names
 * of the "menu." keys; every placeholder of an SMS key has a widest value
 * in tpl_schema_vars (tpl_load fails otherwise). */
#include "tpl_internal.h"

const tpl_schema_key tpl_schema_keys[] = {
    /* values the code formats, embedded in other texts (one line each) */
    {"fmt.money", "amount", TPL_KIND_LINE},
    {"fmt.date", "year month day mm dd", TPL_KIND_LINE},
    {"fmt.time", "hh mi", TPL_KIND_LINE},

    /* USSD screens and screen lines (each must fit one screen) */
    {"ussd.busy", "", TPL_KIND_SCREEN},
    {"ussd.unknown_phone", "hotline", TPL_KIND_SCREEN},
    {"ussd.choose_person", "", TPL_KIND_SCREEN},
    {"ussd.main_title", "name", TPL_KIND_SCREEN},
    {"ussd.invalid", "", TPL_KIND_SCREEN},
    {"ussd.more", "", TPL_KIND_SCREEN},
    {"ussd.back", "", TPL_KIND_SCREEN},
    {"ussd.contribution_paid", "year tier paid", TPL_KIND_SCREEN},
    {"ussd.contribution_unpaid", "year tier due_amount due_date", TPL_KIND_SCREEN},
    {"ussd.contribution_unpaid_nodate", "year tier due_amount", TPL_KIND_SCREEN},
    {"ussd.contribution_none", "year", TPL_KIND_SCREEN},
    /* a contribution year without a tier: none chosen yet */
    {"ussd.contribution_paid_notier", "year paid", TPL_KIND_SCREEN},
    {"ussd.contribution_unpaid_notier", "year due_date", TPL_KIND_SCREEN},
    {"ussd.contribution_unpaid_notier_nodate", "year", TPL_KIND_SCREEN},
    /* unpaid and its due date has passed */
    {"ussd.contribution_overdue", "year tier due_amount due_date", TPL_KIND_SCREEN},
    {"ussd.contribution_overdue_notier", "year due_date", TPL_KIND_SCREEN},
    {"ussd.balance_ask_id", "", TPL_KIND_SCREEN},
    {"ussd.balance_wrong_id", "left", TPL_KIND_SCREEN},
    {"ussd.balance_locked", "until", TPL_KIND_SCREEN},
    {"ussd.balance", "balance", TPL_KIND_SCREEN},
    {"ussd.balance_none", "", TPL_KIND_SCREEN},
    {"ussd.pension", "monthly last_paid", TPL_KIND_SCREEN},
    {"ussd.pension_nodate", "monthly", TPL_KIND_SCREEN},
    {"ussd.pension_none", "", TPL_KIND_SCREEN},
    {"ussd.language_choose", "", TPL_KIND_SCREEN},
    {"ussd.language_set", "", TPL_KIND_SCREEN},
    {"ussd.goodbye", "", TPL_KIND_SCREEN},
    {"ussd.sms_offer", "", TPL_KIND_LINE},
    {"ussd.sms_sent", "", TPL_KIND_SCREEN},
    {"ussd.reminders_on", "", TPL_KIND_SCREEN},
    {"ussd.reminders_off", "", TPL_KIND_SCREEN},
    {"ussd.reminders_stopped", "", TPL_KIND_SCREEN},
    {"ussd.reminders_started", "", TPL_KIND_SCREEN},
    {"ussd.claim_kind", "", TPL_KIND_SCREEN},
    {"ussd.claim_date_accident", "", TPL_KIND_SCREEN},
    {"ussd.claim_date_illness", "", TPL_KIND_SCREEN},
    {"ussd.claim_date_bad", "", TPL_KIND_SCREEN},
    {"ussd.claim_date_no_such_day", "", TPL_KIND_SCREEN},
    {"ussd.claim_date_future", "", TPL_KIND_SCREEN},
    {"ussd.claim_done", "reference deadline", TPL_KIND_SCREEN},
    {"ussd.claim_closed", "deadline hotline", TPL_KIND_SCREEN},
    {"ussd.claim_members_only", "hotline", TPL_KIND_SCREEN},

    /* main menu labels, one per action (one line each) */
    {"menu.contribution", "", TPL_KIND_LINE},
    {"menu.balance", "", TPL_KIND_LINE},
    {"menu.pension", "", TPL_KIND_LINE},
    {"menu.claim", "", TPL_KIND_LINE},
    {"menu.reminders", "", TPL_KIND_LINE},
    {"menu.language", "", TPL_KIND_LINE},

    /* SMS texts; the signature is added by the code, not written here */
    {"sms.contribution_paid", "year tier paid", TPL_KIND_SMS},
    {"sms.contribution_unpaid", "year tier due_amount due_date", TPL_KIND_SMS},
    {"sms.contribution_unpaid_nodate", "year tier due_amount", TPL_KIND_SMS},
    {"sms.contribution_none", "year", TPL_KIND_SMS},
    {"sms.contribution_paid_notier", "year paid", TPL_KIND_SMS},
    {"sms.contribution_unpaid_notier", "year due_date", TPL_KIND_SMS},
    {"sms.contribution_unpaid_notier_nodate", "year", TPL_KIND_SMS},
    {"sms.contribution_overdue", "year tier due_amount due_date", TPL_KIND_SMS},
    {"sms.contribution_overdue_notier", "year due_date", TPL_KIND_SMS},
    {"sms.help", "hotline", TPL_KIND_SMS},
    {"sms.optout_done", "hotline", TPL_KIND_SMS},
    {"sms.optin_done", "", TPL_KIND_SMS},
    {"sms.unpaid_reminder", "name year due_amount due_date", TPL_KIND_SMS},
    /* date: the accident's or the diagnosis'; service_code and claim_digit:
     * how to report it on USSD ([ussd] service_code, menus.ini [main] claim) */
    {"sms.claim_reminder", "name kind date deadline reference hotline service_code claim_digit",
     TPL_KIND_SMS},
    {"sms.claim_last_day", "name kind date deadline reference hotline service_code claim_digit",
     TPL_KIND_SMS},
    {"sms.kind_accident", "", TPL_KIND_SMS},
    {"sms.kind_critical_illness", "", TPL_KIND_SMS},
    {"sms.test", "name", TPL_KIND_SMS},
};
const size_t tpl_schema_nkeys = sizeof tpl_schema_keys / sizeof tpl_schema_keys[0];

/* The widest value of every SMS placeholder. Names are Chinese (the
 * roster's), so a text with {name} is measured as UCS-2 even in English;
 * amounts and dates go through the language's own fmt.money and fmt.date,
 * so "99999999.99" is "99999999.99元" in zh and "99999999.99 yuan" in en. */
const tpl_schema_var tpl_schema_vars[] = {
    {"year", TPL_VAR_PLAIN, "2026"},
    {"tier", TPL_VAR_MONEY, "99999999.99"},
    {"paid", TPL_VAR_MONEY, "99999999.99"},
    {"due_amount", TPL_VAR_MONEY, "99999999.99"},
    {"due_date", TPL_VAR_DATE, "2026-12-31"},
    {"deadline", TPL_VAR_DATE, "2026-12-31"},
    {"date", TPL_VAR_DATE, "2026-12-31"},
    {"name", TPL_VAR_PLAIN, "欧阳某某某某某某某某"},          /* 10 Chinese characters */
    {"kind", TPL_VAR_LABEL, "sms.kind_accident sms.kind_critical_illness"},
    {"reference", TPL_VAR_PLAIN, "WWWWWWWWWWWWWWWW"},       /* 16 characters */
    {"hotline", TPL_VAR_PLAIN, "00000000000000000000"},     /* 20 digits */
    {"service_code", TPL_VAR_PLAIN, "*000*000*000*000000#"}, /* 20 characters */
    {"claim_digit", TPL_VAR_PLAIN, "9"},
};
const size_t tpl_schema_nvars = sizeof tpl_schema_vars / sizeof tpl_schema_vars[0];

const char *const tpl_schema_langs[] = {"zh", "en"};
const size_t tpl_schema_nlangs = sizeof tpl_schema_langs / sizeof tpl_schema_langs[0];

const char *const tpl_schema_menus[] = {"main"};
const size_t tpl_schema_nmenus = sizeof tpl_schema_menus / sizeof tpl_schema_menus[0];
