/* gw_ussd_render.c - the USSD screens, and the participants' text form.
 *
 * Renders a hop's node, page and notice line into the text of its answer:
 * CON screens through the template set's pager, END screens with the
 * values their text takes. The screen functions read the hop and the
 * templates and do no I/O; they write only h->answer (the old text freed)
 * and what goes with it (the page, clamped to the pages there are; an
 * END's key, node and outcome). Also the text of the session's ":p" key:
 * the phone's participants, their fields apart by control characters.
 * Runs on the daemon's loop. Texts come only from templates; no words
 * shown to people live here. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_clock.h"
#include "gw_format.h"
#include "gw_texts.h"
#include "gw_ussd_internal.h"
#include "tpl.h"

#define MAX_BODY 4096

/* N in decimal, NUL-terminated, into OUT (room for 21). */
void ussd_fmt_uint_str(char *out, uint64_t n)
{
    out[gw_uint_format(out, n)] = '\0';
}

/* ---- rendering helpers ---- */

typedef struct strbuf {
    char buf[MAX_BODY];
    size_t len;
} strbuf;

static void sb_add(strbuf *b, const char *s)
{
    if (s == NULL)
        return;
    size_t n = strlen(s);
    if (b->len + n + 1 > sizeof b->buf)
        n = sizeof b->buf - b->len - 1;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void sb_line(strbuf *b, const char *s)
{
    if (b->len > 0)
        sb_add(b, "\n");
    sb_add(b, s);
}

/* Renders KEY and appends it as a line. */
static void sb_text(strbuf *b, const hop *h, const char *key, const tpl_var *vars, size_t n)
{
    char *t = tpl_render(*h->u->tpl, hop_lang(h), key, vars, n);
    sb_line(b, t);
    free(t);
}

static void fmt_money(const hop *h, int64_t fen, char *out, size_t cap)
{
    gw_text_money(*h->u->tpl, hop_lang(h), fen, out, cap);
}

static void fmt_date(const hop *h, const char *ymd, char *out, size_t cap)
{
    gw_text_date(*h->u->tpl, hop_lang(h), ymd, out, cap);
}

static void fmt_time(const hop *h, int64_t epoch_ms, char *out, size_t cap)
{
    time_t secs = (time_t)(epoch_ms / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);          /* TZ is the configured timezone */
    char hh[4], mi[4];
    snprintf(hh, sizeof hh, "%02d", tm.tm_hour);
    snprintf(mi, sizeof mi, "%02d", tm.tm_min);
    tpl_var v[] = {{"hh", hh}, {"mi", mi}};
    char *t = tpl_render(*h->u->tpl, hop_lang(h), "fmt.time", v, 2);
    snprintf(out, cap, "%s", t != NULL ? t : "");
    free(t);
}

/* Renders the contribution status of P from the texts of SECTION ("ussd"
 * for the screen, "sms" for the confirmation message): a malloc'd text, or
 * NULL (OOM). */
char *ussd_render_contribution(const hop *h, const gw_participant *p, const char *section)
{
    return gw_text_contribution(*h->u->tpl, hop_lang(h), p, section);
}

/* The contribution screen offers its text by SMS when the daemon sends SMS. */
int ussd_offers_sms(const hop *h)
{
    return h->u->sender != NULL && strcmp(h->s.info, "contribution") == 0;
}

/* The main menu offers "report a claim" to mutual-aid members only; to
 * anyone else its digit is an invalid choice, as for any digit not shown. */
int ussd_offers_claim(const hop *h)
{
    const gw_participant *p = ussd_selected(h);
    return h->u->incidents != NULL && p != NULL && p->mutual_aid_member;
}

/* The kind chosen on the claim's first screen, or NULL. */
const struct claim_kind *ussd_claim_kind_chosen(const hop *h)
{
    for (size_t i = 0; i < claim_kinds_count; i++)
        if (strcmp(h->s.info, claim_kinds[i].info) == 0)
            return &claim_kinds[i];
    return NULL;
}

/* The information screens. */
static void render_info(strbuf *b, const hop *h, const gw_participant *p)
{
    char a[64], d[64];
    if (strcmp(h->s.info, "contribution") == 0) {
        char *t = ussd_render_contribution(h, p, "ussd");
        sb_line(b, t);
        free(t);
        if (ussd_offers_sms(h))
            sb_text(b, h, "ussd.sms_offer", NULL, 0);
    } else if (strcmp(h->s.info, "balance") == 0) {
        if (p->account_balance_fen < 0) {
            sb_text(b, h, "ussd.balance_none", NULL, 0);
        } else {
            fmt_money(h, p->account_balance_fen, a, sizeof a);
            tpl_var v[] = {{"balance", a}};
            sb_text(b, h, "ussd.balance", v, 1);
        }
    } else {   /* pension */
        if (p->pension_monthly_fen < 0) {
            sb_text(b, h, "ussd.pension_none", NULL, 0);
        } else {
            fmt_money(h, p->pension_monthly_fen, a, sizeof a);
            if (p->pension_last_paid[0] != '\0') {
                fmt_date(h, p->pension_last_paid, d, sizeof d);
                tpl_var v[] = {{"monthly", a}, {"last_paid", d}};
                sb_text(b, h, "ussd.pension", v, 2);
            } else {
                tpl_var v[] = {{"monthly", a}};
                sb_text(b, h, "ussd.pension_nodate", v, 1);
            }
        }
    }
}

/* Masks "王小明" as "**明": only the last character shows. */
static void mask_keep_last(const char *name, char *out, size_t cap)
{
    size_t n = strlen(name), last = n, o = 0;
    while (last > 0 && ((unsigned char)name[last - 1] & 0xC0) == 0x80)
        last--;
    if (last > 0)
        last--;                        /* the start of the last character */
    for (size_t i = 0; i < last && o + 2 < cap; i++)
        if (((unsigned char)name[i] & 0xC0) != 0x80)
            out[o++] = '*';
    size_t tail = n - last;
    if (o + tail >= cap)
        tail = 0;
    memcpy(out + o, name + last, tail);
    out[o + tail] = '\0';
}

/* The household list's names: the usual mask ("张*", "王*明"), or, when two
 * people of one family would look the same (they share a surname), a mask
 * that keeps the given name's last character instead ("*三", "**明"). */
static void mask_household(const hop *h, char masked[][GW_NAME_MAX])
{
    int clash = 0;
    for (size_t i = 0; i < h->npeople; i++) {
        gw_name_mask(h->people[i].name, masked[i], GW_NAME_MAX);
        for (size_t j = 0; j < i; j++)
            clash |= strcmp(masked[i], masked[j]) == 0;
    }
    if (!clash)
        return;
    for (size_t i = 0; i < h->npeople; i++) {
        int latin = ((unsigned char)h->people[i].name[0] & 0x80) == 0;
        if (!latin)
            mask_keep_last(h->people[i].name, masked[i], GW_NAME_MAX);
    }
}

/* Builds the body of the current node's screen and whether "0 back" shows
 * on its first page. */
static void render_body(strbuf *b, hop *h, int *back_on_first)
{
    const gw_participant *p = ussd_selected(h);
    *back_on_first = 0;
    if (h->prefix_key != NULL) {
        tpl_var v[] = {{"left", h->left}};
        sb_text(b, h, h->prefix_key, v, 1);
    }
    switch (h->s.node) {
    case N_PERSON: {
        if (h->prefix_key == NULL)
            sb_text(b, h, "ussd.choose_person", NULL, 0);
        char masked[MAX_PEOPLE][GW_NAME_MAX];
        mask_household(h, masked);
        for (size_t i = 0; i < h->npeople; i++) {
            char line[GW_NAME_MAX + 24];
            snprintf(line, sizeof line, "%zu %s", i + 1, masked[i]);
            sb_line(b, line);
        }
        break;
    }
    case N_MAIN: {
        /* The name as the household list showed it. */
        char all[MAX_PEOPLE][GW_NAME_MAX];
        const char *masked = "";
        mask_household(h, all);
        for (size_t i = 0; i < h->npeople; i++)
            if (&h->people[i] == p)
                masked = all[i];
        tpl_var v[] = {{"name", masked}};
        if (h->prefix_key == NULL)      /* a notice line takes the greeting's place */
            sb_text(b, h, "ussd.main_title", v, 1);
        const tpl_menu_item *items;
        size_t n = tpl_menu(*h->u->tpl, "main", &items);
        for (size_t i = 0; i < n; i++) {
            char key[48] = "menu.", digit[24];
            size_t al = strlen(items[i].action);
            if (al + 6 > sizeof key)
                continue;
            if (strcmp(items[i].action, "claim") == 0 && !ussd_offers_claim(h))
                continue;
            memcpy(key + 5, items[i].action, al + 1);
            ussd_fmt_uint_str(digit, (uint64_t)items[i].digit);
            sb_line(b, digit);
            sb_add(b, " ");
            sb_add(b, tpl_text(*h->u->tpl, hop_lang(h), key));
        }
        *back_on_first = h->npeople > 1;
        break;
    }
    case N_INFO:
        if (p != NULL)
            render_info(b, h, p);
        *back_on_first = 1;
        break;
    case N_ASK_ID:
        if (h->prefix_key == NULL)
            sb_text(b, h, "ussd.balance_ask_id", NULL, 0);
        *back_on_first = 1;
        break;
    case N_LANG:
        sb_text(b, h, "ussd.language_choose", NULL, 0);
        *back_on_first = 1;
        break;
    case N_REMIND:      /* info: "on" receives reminders, "off" opted out */
        sb_text(b, h, strcmp(h->s.info, "off") == 0 ? "ussd.reminders_off" : "ussd.reminders_on",
                NULL, 0);
        *back_on_first = 1;
        break;
    case N_CLAIM_KIND:
        sb_text(b, h, "ussd.claim_kind", NULL, 0);
        *back_on_first = 1;
        break;
    case N_CLAIM_DATE: {
        /* A notice (why the date was refused) asks again in its own words. */
        const struct claim_kind *k = ussd_claim_kind_chosen(h);
        if (h->prefix_key == NULL && k != NULL)
            sb_text(b, h, k->ask_date, NULL, 0);
        *back_on_first = 1;
        break;
    }
    default:
        break;
    }
}

/* Renders the current node into h->answer (a CON screen, paged). Returns
 * the number of pages. */
int ussd_render_screen(hop *h)
{
    strbuf b = {.len = 0};
    b.buf[0] = '\0';
    int back_on_first;
    render_body(&b, h, &back_on_first);
    const char *lang = hop_lang(h);
    const char *more = tpl_text(*h->u->tpl, lang, "ussd.more");
    const char *back = tpl_text(*h->u->tpl, lang, "ussd.back");
    char *page = NULL;
    int pages = tpl_page(b.buf, more, back, back_on_first, h->s.page, &page);
    if (pages > 0 && h->s.page >= pages)
        h->s.page = pages - 1;
    free(h->answer);
    h->answer = page;
    return pages;
}

/* An END screen: text KEY with the values it takes. */
void ussd_end_with(hop *h, const char *key, enum gw_ussd_outcome outcome)
{
    char until[32], deadline[64];
    tpl_var v[2];
    size_t n = 0;
    if (strcmp(key, "ussd.unknown_phone") == 0 || strcmp(key, "ussd.claim_members_only") == 0) {
        v[n++] = (tpl_var){"hotline", h->u->cfg->ussd_hotline};
    } else if (strcmp(key, "ussd.balance_locked") == 0) {
        fmt_time(h, h->until_ms, until, sizeof until);
        v[n++] = (tpl_var){"until", until};
    } else if (strcmp(key, "ussd.claim_done") == 0) {     /* info: deadline, left: reference */
        fmt_date(h, h->s.info, deadline, sizeof deadline);
        v[n++] = (tpl_var){"reference", h->left};
        v[n++] = (tpl_var){"deadline", deadline};
    } else if (strcmp(key, "ussd.claim_closed") == 0) {   /* info: the deadline it had */
        fmt_date(h, h->s.info, deadline, sizeof deadline);
        v[n++] = (tpl_var){"deadline", deadline};
        v[n++] = (tpl_var){"hotline", h->u->cfg->ussd_hotline};
    }
    free(h->answer);
    h->answer = tpl_render(*h->u->tpl, hop_lang(h), key, v, n);
    h->end = 1;
    h->end_key = key;
    h->s.node = N_DONE;
    h->outcome = outcome;
}

/* ---- the participants, kept in the session ---- */

#define FS '\x1f'   /* between fields; the roster refuses control characters */
#define RS '\x1e'   /* between participants */

/* Encodes the people into a malloc'd string: the value of the session's
 * people key (gw:{s:D:SESSION}:p). */
char *ussd_people_encode(const hop *h)
{
    size_t cap = 64 + h->npeople * sizeof(gw_participant), len = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; i < h->npeople; i++) {
        const gw_participant *p = &h->people[i];
        int n = snprintf(out + len, cap - len,
                         "%s%s%c%s%c%s%c%s%c%s%c%d%c%" PRId64 "%c%" PRId64 "%c%s%c%" PRId64
                         "%c%" PRId64 "%c%s%c%d",
                         i > 0 ? "\x1e" : "", p->id, FS, p->phone, FS, p->name, FS,
                         p->id_last4, FS, p->language, FS, p->contribution_year, FS,
                         p->contribution_tier_fen, FS, p->contribution_paid_fen, FS,
                         p->contribution_due, FS, p->account_balance_fen, FS,
                         p->pension_monthly_fen, FS, p->pension_last_paid, FS,
                         p->mutual_aid_member);
        if (n < 0 || (size_t)n >= cap - len) {
            free(out);
            return NULL;
        }
        len += (size_t)n;
    }
    return out;
}

/* Copies the field at *S up to FS/RS/NUL into DST and moves *S past it. */
static void take_field(const char **s, char *dst, size_t cap)
{
    size_t n = strcspn(*s, "\x1f\x1e");
    size_t c = n < cap ? n : cap - 1;
    memcpy(dst, *s, c);
    dst[c] = '\0';
    *s += n;
    if (**s == FS)
        (*s)++;
}

static int64_t take_i64(const char **s)
{
    char buf[24];
    take_field(s, buf, sizeof buf);
    return strtoll(buf, NULL, 10);
}

/* Decodes the value of a session's people key. Returns 0, or -1 when it
 * is damaged. */
int ussd_people_decode(hop *h, const char *s)
{
    size_t n = 1;
    for (const char *c = s; *c != '\0'; c++)
        n += *c == RS;
    if (*s == '\0')
        n = 0;
    if (n > MAX_PEOPLE)
        return -1;
    gw_participant *list = n > 0 ? calloc(n, sizeof *list) : NULL;
    if (n > 0 && list == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        gw_participant *p = &list[i];
        take_field(&s, p->id, sizeof p->id);
        take_field(&s, p->phone, sizeof p->phone);
        take_field(&s, p->name, sizeof p->name);
        take_field(&s, p->id_last4, sizeof p->id_last4);
        take_field(&s, p->language, sizeof p->language);
        p->contribution_year = (int)take_i64(&s);
        p->contribution_tier_fen = take_i64(&s);
        p->contribution_paid_fen = take_i64(&s);
        take_field(&s, p->contribution_due, sizeof p->contribution_due);
        p->account_balance_fen = take_i64(&s);
        p->pension_monthly_fen = take_i64(&s);
        take_field(&s, p->pension_last_paid, sizeof p->pension_last_paid);
        p->mutual_aid_member = (int)take_i64(&s);
        if (p->id[0] == '\0' || (*s != RS && *s != '\0')) {
            free(list);
            return -1;
        }
        if (*s == RS)
            s++;
    }
    free(h->people);
    h->people = list;
    h->npeople = n;
    return 0;
}
