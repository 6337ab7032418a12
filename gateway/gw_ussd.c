/* gw_ussd.c - the USSD engine; see gw_ussd.h.
 *
 * One `hop` object per carrier request. It holds the parsed request, what
 * was loaded for it, and a count of outstanding asynchronous steps; it is
 * freed when it has been answered and nothing is outstanding. Exactly one
 * answer per request: the first of (the screen, the deadline's busy END).
 *
 * Session state (one string gw:{s:D:SESSION}, TTL session_ttl_s: the fields
 * below in this order, each as "LENGTH:BYTES", after a "S1" version mark;
 * one GET and one SET a hop, nothing to parse but lengths):
 *   node   where the resident is (enum node)
 *   page   the screen page shown (98 more / 0 back)
 *   sel    the participant chosen on this phone
 *   info   which information screen (contribution | balance | pension),
 *          the reminders' state (on | off), the claim's kind while its date
 *          is asked (accident | illness), or the deadline (YYYY-MM-DD) on
 *          the claim's END screens
 *   text   Africa's Talking: the cumulative text last seen
 *   seq    Hubtel: the Sequence last seen
 *   pfx    the notice line shown above the last screen ("ussd.invalid", ...)
 *   left   its {left} value (wrong ID answers left), or the claim's
 *          reference on its END screen
 *   endk   the text of the last answer when it ended the session, and
 *   until  its lock time: with these, a repeated hop is answered by
 *          rendering the same screen again, so the state stays a few dozen
 *          bytes instead of carrying the screen's text
 *   phone  the E.164 number the session belongs to (another number sending
 *          the same session id starts afresh and sees nothing of it)
 *   lang   the language in use
 * and beside it gw:{s:D:SESSION}:p, the participants of the phone, read
 * from the records backend once at the session's start and written once
 * (a hop reads both keys with one MGET but writes only the small state).
 * Texts come only from templates; this file holds no words shown to people. */
#include "gw_ussd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "gw_clock.h"
#include "gw_config.h"
#include "gw_format.h"
#include "gw_http.h"
#include "gw_inbound.h"
#include "gw_incident.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_phone.h"
#include "gw_records.h"
#include "gw_redis.h"
#include "gw_sender.h"
#include "gw_texts.h"
#include "gw_ussd_dialect.h"
#include "q.h"
#include "tpl.h"

extern const char gw_lua_id_attempt[];

#define ID_LOCK_MS (15 * 60 * 1000)
#define ID_MAX_WRONG 3
#define MAX_PEOPLE 16
#define MAX_BODY 4096

/* Numbers are stored in sessions: new nodes go at the end. */
enum node { N_NEW, N_PERSON, N_MAIN, N_INFO, N_ASK_ID, N_LANG, N_DONE, N_REMIND,
            N_CLAIM_KIND, N_CLAIM_DATE };
#define N_LAST N_CLAIM_DATE /* the highest node a stored session may name */

static const char *const languages[] = {"zh", "en"};   /* language menu: 1, 2 */

/* Menu 4's kinds, in the order of ussd.claim_kind's lines (1, 2). INFO is
 * what the session keeps while the date is asked; ASK_DATE that screen. */
static const struct claim_kind {
    const char *info;
    gw_incident_kind kind;
    const char *ask_date;
} claim_kinds[] = {
    {"accident", GW_INCIDENT_ACCIDENT, "ussd.claim_date_accident"},
    {"illness", GW_INCIDENT_CRITICAL_ILLNESS, "ussd.claim_date_illness"},
};
#define CLAIM_KINDS (sizeof claim_kinds / sizeof claim_kinds[0])

struct gw_ussd {
    struct event_base *base;
    const gw_config *cfg;
    gw_redis *redis;
    gw_records *records;
    tpl_set *const *tpl;
    gw_redis_script *id_attempt;
    struct gw_sender *sender; /* confirmation SMS go here (NULL: none offered) */
    gw_incidents *incidents;  /* menu 4 reports claims here (NULL: not offered) */
    struct hop *spare;        /* freed hops kept for reuse (they are large) */
    unsigned nspare;
};

#define MAX_SPARE 256

typedef struct session {
    int found;
    enum node node;
    int page;
    char sel[GW_PID_MAX];
    char info[16];
    char text[GW_INPUT_MAX];
    long seq;
    char pfx[32];
    char left[24];
    char endk[32];
    int64_t until_ms;
    char phone[GW_PHONE_MAX];
    char lang[4];
    int have_people;          /* the people key was present and decoded */
} session;

typedef struct hop {
    gw_ussd *u;
    struct hop *next_spare;
    gw_http_req *req;
    gw_hop_req in;
    char e164[GW_PHONE_MAX];
    char key[GW_SESSION_MAX + 32];
    char pkey[GW_SESSION_MAX + 34];
    int64_t started_us;
    struct event deadline;    /* assigned in place: no allocation per hop */
    int deadline_set;
    int outstanding;
    int answered;
    int loads;                /* first round trip: answers still expected */

    session s;
    char lang_pref[4];
    int records_status;
    gw_participant *people;   /* malloc'd, sorted by id */
    size_t npeople;
    int people_fresh;         /* read from the records backend by this hop */

    const char *input;        /* this hop's input, NULL on a new session */
    char input_buf[GW_INPUT_MAX];
    const char *prefix_key;   /* a one-line text shown above the next screen */
    const char *end_key;      /* the text of an END answer */
    int64_t until_ms;         /* balance_locked: until when */
    char left[24];            /* balance_wrong_id: attempts left */
    int end;                  /* the answer ends the session */
    enum gw_ussd_outcome outcome;
    char *answer;             /* the screen text to send and save */
} hop;

/* ---- hop life ---- */

static void hop_release(hop *h)
{
    if (!h->answered || h->outstanding > 0)
        return;
    if (h->deadline_set)
        evtimer_del(&h->deadline);
    free(h->answer);
    free(h->people);
    gw_ussd *u = h->u;
    if (u->nspare < MAX_SPARE) {
        h->next_spare = u->spare;
        u->spare = h;
        u->nspare++;
    } else {
        free(h);
    }
}

/* An asynchronous step of H answered: 1 when H still waits for it (go on,
 * then hop_release), 0 when H was answered meanwhile (the deadline) and has
 * been released. */
static int hop_back(hop *h)
{
    h->outstanding--;
    if (h->answered) {
        hop_release(h);
        return 0;
    }
    return 1;
}

static hop *hop_new(gw_ussd *u)
{
    hop *h = u->spare;
    if (h != NULL) {
        u->spare = h->next_spare;
        u->nspare--;
        memset(h, 0, sizeof *h);
        return h;
    }
    return calloc(1, sizeof *h);
}

static void hop_answer(hop *h, int end, const char *screen, enum gw_ussd_outcome outcome)
{
    if (h->answered)
        return;
    h->answered = 1;
    if (h->deadline_set)
        evtimer_del(&h->deadline);
    size_t len;
    const char *ctype;
    char *body = gw_dialect_answer(h->in.dialect, end, screen, &len, &ctype);
    if (body == NULL) {
        gw_http_error(h->req, 500, "internal", "out of memory");
    } else {
        gw_http_reply(h->req, 200, ctype, body, len);
        free(body);
    }
    double secs = (double)(gw_clock_mono_us() - h->started_us) / 1e6;
    gw_metrics_ussd(h->in.dialect, outcome, secs);
}

static const char *hop_lang(const hop *h);

static void hop_busy(hop *h)
{
    if (h->answered)
        return;
    char *text = tpl_render(*h->u->tpl, hop_lang(h), "ussd.busy", NULL, 0);
    hop_answer(h, 1, text != NULL ? text : "", GW_USSD_BUSY);
    free(text);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hop *h = arg;
    gw_warn("ussd", "hop deadline passed (session %s): answered busy", h->in.session);
    hop_busy(h);
    hop_release(h);
}

/* ---- the people on this phone ---- */

static const gw_participant *selected(const hop *h)
{
    for (size_t i = 0; i < h->npeople; i++)
        if (strcmp(h->people[i].id, h->s.sel) == 0)
            return &h->people[i];
    return NULL;
}

static const char *hop_lang(const hop *h)
{
    if (h->lang_pref[0] != '\0')
        return h->lang_pref;
    const gw_participant *p = selected(h);
    if (p == NULL && h->npeople > 0)
        p = &h->people[0];
    return p != NULL && p->language[0] != '\0' ? p->language : "zh";
}

/* ---- the participants, kept in the session ---- */

#define FS '\x1f'   /* between fields; the roster refuses control characters */
#define RS '\x1e'   /* between participants */

/* Encodes the people into a malloc'd string for the session's "ppl". */
static char *people_encode(const hop *h)
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

/* Decodes a session's "ppl". Returns 0, or -1 when it is damaged. */
static int people_decode(hop *h, const char *s)
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

/* N in decimal, NUL-terminated, into OUT (room for 21). */
static void fmt_uint_str(char *out, uint64_t n)
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
static char *render_contribution(const hop *h, const gw_participant *p, const char *section)
{
    time_t now = (time_t)(gw_clock_now_ms() / 1000);
    struct tm tm;
    localtime_r(&now, &tm);
    return gw_text_contribution(*h->u->tpl, hop_lang(h), p, section, tm.tm_year + 1900);
}

/* The contribution screen offers its text by SMS when the daemon sends SMS. */
static int offers_sms(const hop *h)
{
    return h->u->sender != NULL && strcmp(h->s.info, "contribution") == 0;
}

/* The main menu offers "report a claim" to mutual-aid members only; to
 * anyone else its digit is an invalid choice, as for any digit not shown. */
static int offers_claim(const hop *h)
{
    const gw_participant *p = selected(h);
    return h->u->incidents != NULL && p != NULL && p->mutual_aid_member;
}

/* The kind chosen on the claim's first screen, or NULL. */
static const struct claim_kind *claim_kind_chosen(const hop *h)
{
    for (size_t i = 0; i < CLAIM_KINDS; i++)
        if (strcmp(h->s.info, claim_kinds[i].info) == 0)
            return &claim_kinds[i];
    return NULL;
}

/* The information screens. */
static void render_info(strbuf *b, const hop *h, const gw_participant *p)
{
    char a[64], d[64];
    if (strcmp(h->s.info, "contribution") == 0) {
        char *t = render_contribution(h, p, "ussd");
        sb_line(b, t);
        free(t);
        if (offers_sms(h))
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
    const gw_participant *p = selected(h);
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
            if (strcmp(items[i].action, "claim") == 0 && !offers_claim(h))
                continue;
            memcpy(key + 5, items[i].action, al + 1);
            fmt_uint_str(digit, (uint64_t)items[i].digit);
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
        const struct claim_kind *k = claim_kind_chosen(h);
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
static int render_screen(hop *h)
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

static void fmt_time(const hop *h, int64_t epoch_ms, char *out, size_t cap);

/* An END screen: text KEY with the values it takes. */
static void end_with(hop *h, const char *key, enum gw_ussd_outcome outcome)
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

/* ---- the session as one string ---- */


typedef struct field {
    const char *p;
    size_t n;
} field;

#define SESSION_FIELDS 12

/* Encodes the fields as "S1" then "LEN:BYTES" each. Returns a malloc'd
 * string and its length in *LEN, or NULL. */
static char *session_encode(const field *f, size_t *len)
{
    size_t cap = 3;
    for (int i = 0; i < SESSION_FIELDS; i++)
        cap += f[i].n + 21;
    char *out = malloc(cap), *w = out;
    if (out == NULL)
        return NULL;
    memcpy(w, "S1", 2);
    w += 2;
    for (int i = 0; i < SESSION_FIELDS; i++) {
        w += gw_uint_format(w, f[i].n);
        *w++ = ':';
        memcpy(w, f[i].p, f[i].n);
        w += f[i].n;
    }
    *w = '\0';
    *len = (size_t)(w - out);
    return out;
}

/* Splits a stored session into its fields (pointing into S). Returns 0, or
 * -1 when it is not a session of this format. */
static int session_split(const char *s, size_t len, field *f)
{
    const char *end = s + len;
    if (len < 2 || memcmp(s, "S1", 2) != 0)
        return -1;
    s += 2;
    for (int i = 0; i < SESSION_FIELDS; i++) {
        size_t n = 0;
        const char *c = s;
        while (c < end && *c >= '0' && *c <= '9' && c - s < 10)
            n = n * 10 + (size_t)(*c++ - '0');
        if (c == s || c >= end || *c != ':' || n > (size_t)(end - c - 1))
            return -1;
        f[i].p = c + 1;
        f[i].n = n;
        s = c + 1 + n;
    }
    return s == end ? 0 : -1;
}

static void field_copy(const field *f, char *dst, size_t cap)
{
    size_t n = f->n < cap ? f->n : cap - 1;
    memcpy(dst, f->p, n);
    dst[n] = '\0';
}

static long field_long(const field *f)
{
    char buf[24];
    field_copy(f, buf, sizeof buf);
    return strtol(buf, NULL, 10);
}

/* ---- saving and answering ---- */

static void on_saved(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    hop *h = arg;
    h->outstanding--;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        hop_busy(h);
    else if (h->answer == NULL)
        hop_busy(h);
    else
        hop_answer(h, h->end, h->answer, h->outcome);
    hop_release(h);
}

static void save_and_answer(hop *h)
{
    if (h->answered)
        return;
    if (h->answer == NULL) {
        hop_busy(h);
        return;
    }
    char node[24], page[24], seq[24], ttl[24], until[24];
    fmt_uint_str(node, (uint64_t)h->s.node);
    fmt_uint_str(page, (uint64_t)h->s.page);
    fmt_uint_str(seq, (uint64_t)(h->s.seq > 0 ? h->s.seq : 0));
    fmt_uint_str(ttl, (uint64_t)h->u->cfg->ussd_session_ttl_s);
    fmt_uint_str(until, (uint64_t)(h->until_ms > 0 ? h->until_ms : 0));
    const char *pfx = h->prefix_key != NULL ? h->prefix_key : "";
    const char *endk = h->end ? h->end_key : "";
    if (h->people_fresh) {
        char *ppl = people_encode(h);
        const char *pargv[] = {"SET", h->pkey, ppl, "EX", ttl};
        int prc = ppl != NULL ? gw_redis_argv(h->u->redis, NULL, NULL, 5, pargv, NULL) : -1;
        free(ppl);
        if (prc != 0) {
            hop_busy(h);
            return;
        }
    }
    field f[SESSION_FIELDS] = {
        {node, strlen(node)}, {page, strlen(page)}, {seq, strlen(seq)},
        {h->s.sel, strlen(h->s.sel)}, {h->s.info, strlen(h->s.info)},
        {h->s.text, strlen(h->s.text)}, {h->e164, strlen(h->e164)},
        {h->lang_pref, strlen(h->lang_pref)}, {pfx, strlen(pfx)},
        {h->left, strlen(h->left)}, {endk, strlen(endk)}, {until, strlen(until)},
    };
    size_t vlen;
    char *value = session_encode(f, &vlen);
    if (value == NULL) {
        hop_busy(h);
        return;
    }
    const char *argv[] = {"SET", h->key, value, "EX", ttl};
    size_t argvlen[] = {3, strlen(h->key), vlen, 2, strlen(ttl)};
    int rc = gw_redis_argv(h->u->redis, on_saved, h, 5, argv, argvlen);
    free(value);
    if (rc == 0) {
        h->outstanding++;
        return;
    }
    hop_busy(h);
}

/* ---- the menu logic ---- */

static int parse_choice(const char *s, int max)
{
    if (s == NULL || *s == '\0' || strlen(s) > 2)
        return -1;
    int n = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        n = n * 10 + (*s - '0');
    }
    return n >= 1 && n <= max ? n : -1;
}

static void go(hop *h, enum node node)
{
    h->s.node = node;
    h->s.page = 0;
}

static void after_lock_check(hop *h, int locked, int64_t until_ms);
static void after_attempt(hop *h, long long result, long long value);

static void on_lock_get(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    hop *h = arg;
    if (!hop_back(h))
        return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        hop_busy(h);
    } else {
        int64_t until = 0;
        if (reply->type == REDIS_REPLY_STRING)
            until = strtoll(reply->str, NULL, 10);
        after_lock_check(h, reply->type == REDIS_REPLY_STRING, until);
    }
    hop_release(h);
}

static void on_attempt(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    hop *h = arg;
    if (!hop_back(h))
        return;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_INTEGER)
        hop_busy(h);
    else
        after_attempt(h, reply->element[0]->integer, reply->element[1]->integer);
    hop_release(h);
}

static void end_locked(hop *h, int64_t until_ms)
{
    h->until_ms = until_ms;
    end_with(h, "ussd.balance_locked", GW_USSD_END);
}

static void after_lock_check(hop *h, int locked, int64_t until_ms)
{
    if (locked) {
        end_locked(h, until_ms);
    } else {
        const gw_participant *p = selected(h);
        if (p == NULL || p->id_last4[0] == '\0') {
            /* No ID digits on record: nothing to check against, so no
             * balance; say so above the main menu. */
            go(h, N_MAIN);
            h->prefix_key = "ussd.balance_none";
        } else {
            go(h, N_ASK_ID);
        }
        render_screen(h);
    }
    save_and_answer(h);
}

static void after_attempt(hop *h, long long result, long long value)
{
    if (result == 0) {                      /* right */
        snprintf(h->s.info, sizeof h->s.info, "balance");
        go(h, N_INFO);
        render_screen(h);
    } else if (result == 1 || result == 2) {    /* locked */
        end_locked(h, (int64_t)value);
    } else {                                /* wrong, not locked yet */
        snprintf(h->left, sizeof h->left, "%lld", (long long)ID_MAX_WRONG - value);
        h->prefix_key = "ussd.balance_wrong_id";
        render_screen(h);
    }
    save_and_answer(h);
}

static void start_lock_check(hop *h)
{
    char key[GW_PID_MAX + 24];
    snprintf(key, sizeof key, "gw:{p:%s}:idlock", h->s.sel);
    const char *argv[] = {"GET", key};
    if (gw_redis_argv(h->u->redis, on_lock_get, h, 2, argv, NULL) == 0)
        h->outstanding++;
    else
        hop_busy(h);
}

static void on_sms_queued(q *q, int64_t first_id, const char *body_id, const char *err,
                          void *arg)
{
    (void)q;
    (void)body_id;
    hop *h = arg;
    if (!hop_back(h))
        return;
    if (err != NULL) {
        gw_error("ussd", "the confirmation SMS was not queued: %s", err);
        hop_busy(h);
    } else {
        gw_debug("ussd", "confirmation SMS queued as message %" PRId64, first_id);
        end_with(h, "ussd.sms_sent", GW_USSD_END);
        save_and_answer(h);
    }
    hop_release(h);
}

/* Queues the contribution status as an SMS to the caller's own phone (the
 * reply lane: it goes before any bulk reminder). The screen says so once
 * the queue has it; a carrier repeating this hop gets the saved answer, so
 * the SMS is queued once. */
static void start_sms(hop *h)
{
    const gw_participant *p = selected(h);
    char *text = p != NULL ? render_contribution(h, p, "sms") : NULL;
    if (text != NULL && gw_sender_reply(h->u->sender, h->e164, text, on_sms_queued, h) == 0)
        h->outstanding++;
    else
        hop_busy(h);
    free(text);
}

/* ---- menu 5: reminders on or off (the opt-out list SMS keywords share) ---- */

static void on_remind_get(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    hop *h = arg;
    if (!hop_back(h))
        return;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        hop_busy(h);
    } else {
        snprintf(h->s.info, sizeof h->s.info, "%s", reply->integer == 1 ? "off" : "on");
        go(h, N_REMIND);
        render_screen(h);
        save_and_answer(h);
    }
    hop_release(h);
}

static void start_remind_get(hop *h)
{
    const char *argv[] = {"HEXISTS", "gw:{q}:optout", h->e164};
    if (gw_redis_argv(h->u->redis, on_remind_get, h, 3, argv, NULL) == 0)
        h->outstanding++;
    else
        hop_busy(h);
}

static void on_remind_set(int status, void *arg)
{
    hop *h = arg;
    if (!hop_back(h))
        return;
    if (status != 0) {
        hop_busy(h);
    } else {
        end_with(h, strcmp(h->s.info, "on") == 0 ? "ussd.reminders_stopped"
                                                 : "ussd.reminders_started", GW_USSD_END);
        save_and_answer(h);
    }
    hop_release(h);
}

/* Turns reminders off when they were on, and back on when they were off. */
static void start_remind_set(hop *h)
{
    if (gw_optout_set(h->u->redis, h->e164, strcmp(h->s.info, "on") == 0, "ussd",
                      on_remind_set, h) == 0)
        h->outstanding++;
    else
        hop_busy(h);
}

/* ---- menu 4: report a mutual-aid claim (members only) ---- */

static void on_claim(gw_incidents *inc, gw_incident_result result, const char *reference,
                     gw_date deadline, void *arg)
{
    (void)inc;
    hop *h = arg;
    if (!hop_back(h))
        return;
    char ymd[40];         /* room for any int; a real date is 10 characters */
    snprintf(ymd, sizeof ymd, "%04d-%02d-%02d", deadline.y, deadline.m, deadline.d);
    /* The END screens are rendered again from the session on a repeated
     * hop: the deadline goes in info, the reference in left. */
    switch (result) {
    case GW_INCIDENT_REPORTED:
    case GW_INCIDENT_ALREADY_REPORTED:
    case GW_INCIDENT_WINDOW_CLOSED:
        snprintf(h->s.info, sizeof h->s.info, "%.15s", ymd);
        snprintf(h->left, sizeof h->left, "%s", reference);
        end_with(h, result == GW_INCIDENT_WINDOW_CLOSED ? "ussd.claim_closed" : "ussd.claim_done",
                 GW_USSD_END);
        save_and_answer(h);
        break;
    case GW_INCIDENT_NOT_MEMBER:
        end_with(h, "ussd.claim_members_only", GW_USSD_END);
        save_and_answer(h);
        break;
    default:    /* Redis failed; FUTURE_DATE cannot come: the date was checked */
        hop_busy(h);
        break;
    }
    hop_release(h);
}

/* Reports the claim of kind K on ON for the selected participant. A
 * carrier repeating this hop gets the saved END screen; a repeat that
 * arrives before the session is saved, or a second report later, reaches
 * the same incident (gw_incident_report is idempotent per kind and date). */
static void start_claim(hop *h, const struct claim_kind *k, gw_date on)
{
    const gw_participant *p = selected(h);
    if (p != NULL && gw_incident_report(h->u->incidents, p, k->kind, on, "ussd", on_claim, h) == 0)
        h->outstanding++;
    else
        hop_busy(h);
}

/* The date typed on the claim's date screen: 1 when the report was started,
 * 0 when the screen asks again (h->answer holds it). */
static int claim_date_entered(hop *h, const struct claim_kind *k, const char *in)
{
    gw_date today = gw_incident_today(), on;
    int rc = gw_date_entry_parse(in, today.y, &on.y, &on.m, &on.d);
    if (rc == 0 && gw_date_cmp(on, today) > 0)
        h->prefix_key = "ussd.claim_date_future";
    else if (rc == GW_DATE_ENTRY_NO_SUCH_DAY)
        h->prefix_key = "ussd.claim_date_no_such_day";
    else if (rc != 0)
        h->prefix_key = "ussd.claim_date_bad";
    if (h->prefix_key != NULL) {
        render_screen(h);
        return 0;
    }
    start_claim(h, k, on);
    return 1;
}

static void start_attempt(hop *h, const gw_participant *p, const char *answer)
{
    char lock[GW_PID_MAX + 24], fail[GW_PID_MAX + 24], now[24], len[16], max[8];
    snprintf(lock, sizeof lock, "gw:{p:%s}:idlock", p->id);
    snprintf(fail, sizeof fail, "gw:{p:%s}:idfail", p->id);
    snprintf(now, sizeof now, "%" PRId64, gw_clock_now_ms());
    snprintf(len, sizeof len, "%d", ID_LOCK_MS);
    snprintf(max, sizeof max, "%d", ID_MAX_WRONG);
    int right = strlen(answer) == 4 && strcasecmp(answer, p->id_last4) == 0;
    const char *argv[] = {lock, fail, right ? "1" : "0", now, len, max};
    if (gw_redis_eval(h->u->redis, h->u->id_attempt, on_attempt, h, 2, 6, argv, NULL) == 0)
        h->outstanding++;
    else
        hop_busy(h);
}

static void set_language(hop *h, const char *lang)
{
    char key[GW_PHONE_MAX + 24];
    snprintf(key, sizeof key, "gw:{ph:%s}:lang", h->e164);
    const char *argv[] = {"SET", key, lang};
    gw_redis_argv(h->u->redis, NULL, NULL, 3, argv, NULL);  /* ordered before the save */
    snprintf(h->lang_pref, sizeof h->lang_pref, "%s", lang);
}

/* Decides the next screen from the session and this hop's input. Either
 * fills h->answer (then the caller saves and answers) or starts an
 * asynchronous step that does so itself (returns 1). */
static int decide(hop *h)
{
    const char *in = h->input;
    h->outcome = GW_USSD_CON;

    if (in == NULL) {                       /* a new session */
        h->s.sel[0] = '\0';
        if (h->npeople == 0) {
            end_with(h, "ussd.unknown_phone", GW_USSD_UNKNOWN);
            return 0;
        }
        if (h->npeople == 1) {
            snprintf(h->s.sel, sizeof h->s.sel, "%s", h->people[0].id);
            go(h, N_MAIN);
        } else {
            go(h, N_PERSON);
        }
        render_screen(h);
        return 0;
    }

    /* The roster may have changed under a running session. */
    if (h->s.node != N_PERSON && h->s.node != N_DONE && selected(h) == NULL) {
        h->input = NULL;
        return decide(h);
    }

    if (h->s.node == N_DONE) {
        end_with(h, "ussd.goodbye", GW_USSD_END);
        return 0;
    }

    /* Paging first: 98 more, 0 back a page. */
    if (strcmp(in, "98") == 0 && h->s.page + 1 < render_screen(h)) {
        h->s.page++;
        render_screen(h);
        return 0;
    }
    if (strcmp(in, "0") == 0 && h->s.page > 0) {
        h->s.page--;
        render_screen(h);
        return 0;
    }

    switch (h->s.node) {
    case N_PERSON: {
        int n = parse_choice(in, (int)h->npeople);
        if (n > 0) {
            snprintf(h->s.sel, sizeof h->s.sel, "%s", h->people[n - 1].id);
            go(h, N_MAIN);
            render_screen(h);
            return 0;
        }
        break;
    }
    case N_MAIN: {
        if (strcmp(in, "0") == 0 && h->npeople > 1) {
            h->s.sel[0] = '\0';
            go(h, N_PERSON);
            render_screen(h);
            return 0;
        }
        const tpl_menu_item *items;
        size_t n = tpl_menu(*h->u->tpl, "main", &items);
        int choice = parse_choice(in, 9);
        for (size_t i = 0; choice > 0 && i < n; i++) {
            if (items[i].digit != choice)
                continue;
            const char *action = items[i].action;
            if (strcmp(action, "contribution") == 0 || strcmp(action, "pension") == 0) {
                snprintf(h->s.info, sizeof h->s.info, "%s", action);
                go(h, N_INFO);
                render_screen(h);
                return 0;
            }
            if (strcmp(action, "balance") == 0) {
                start_lock_check(h);
                return 1;
            }
            if (strcmp(action, "language") == 0) {
                go(h, N_LANG);
                render_screen(h);
                return 0;
            }
            if (strcmp(action, "reminders") == 0) {
                start_remind_get(h);
                return 1;
            }
            if (strcmp(action, "claim") == 0 && offers_claim(h)) {
                go(h, N_CLAIM_KIND);
                render_screen(h);
                return 0;
            }
        }
        break;
    }
    case N_CLAIM_KIND: {
        int n = parse_choice(in, (int)CLAIM_KINDS);
        if (strcmp(in, "0") == 0 || n > 0) {
            if (n > 0)
                snprintf(h->s.info, sizeof h->s.info, "%s", claim_kinds[n - 1].info);
            go(h, n > 0 ? N_CLAIM_DATE : N_MAIN);
            render_screen(h);
            return 0;
        }
        break;
    }
    case N_CLAIM_DATE: {
        const struct claim_kind *k = claim_kind_chosen(h);
        if (strcmp(in, "0") == 0 || k == NULL) {
            go(h, N_CLAIM_KIND);
            render_screen(h);
            return 0;
        }
        return claim_date_entered(h, k, in);
    }
    case N_REMIND:
        if (strcmp(in, "1") == 0) {
            start_remind_set(h);
            return 1;
        }
        if (strcmp(in, "0") == 0) {
            go(h, N_MAIN);
            render_screen(h);
            return 0;
        }
        break;
    case N_INFO:
    case N_ASK_ID:
    case N_LANG:
        if (h->s.node == N_INFO && offers_sms(h) && strcmp(in, "1") == 0) {
            start_sms(h);
            return 1;
        }
        if (strcmp(in, "0") == 0) {
            go(h, N_MAIN);
            render_screen(h);
            return 0;
        }
        if (h->s.node == N_ASK_ID) {
            start_attempt(h, selected(h), in);
            return 1;
        }
        if (h->s.node == N_LANG) {
            int n = parse_choice(in, (int)(sizeof languages / sizeof languages[0]));
            if (n > 0 && tpl_has_lang(*h->u->tpl, languages[n - 1])) {
                set_language(h, languages[n - 1]);
                go(h, N_MAIN);
                h->prefix_key = "ussd.language_set";
                render_screen(h);
                return 0;
            }
        }
        break;
    default:
        break;
    }
    h->prefix_key = "ussd.invalid";
    render_screen(h);
    return 0;
}

/* ---- the first round trip: session, language choice, participants ---- */

static void on_lang(gw_redis *r, redisReply *reply, void *arg);
static void on_people(int status, const gw_participant *list, size_t n, void *arg);
static int fetch_people(hop *h);
static void session_reset(hop *h);

static void loaded(hop *h)
{
    if (--h->loads > 0)
        return;
    if (h->answered)
        return;
    if (h->records_status != 0) {
        hop_busy(h);
        return;
    }
    if (h->s.found && strcmp(h->s.phone, h->e164) != 0) {
        gw_warn("ussd", "session %s sent from another phone: starting afresh", h->in.session);
        session_reset(h);
    }
    if (!h->people_fresh && (!h->s.found || !h->s.have_people)) {
        if (fetch_people(h) != 0)
            hop_busy(h);
        return;
    }
    if (!h->people_fresh)
        snprintf(h->lang_pref, sizeof h->lang_pref, "%s", h->s.lang);

    /* Work out this hop's input, and answer repeated hops from the session. */
    h->input = NULL;
    int repeat = 0;
    if (h->in.dialect == GW_DIALECT_AT) {
        const char *t = h->in.text;
        if (h->s.found && t[0] == '\0' && h->s.text[0] != '\0') {
            h->s.found = 0;                 /* the carrier began the session again */
        } else if (h->s.found) {
            size_t pl = strlen(h->s.text);
            if (strcmp(t, h->s.text) == 0)
                repeat = 1;
            else if (pl == 0)
                h->input = t;
            else if (strncmp(t, h->s.text, pl) == 0 && t[pl] == '*')
                h->input = t + pl + 1;
            else
                h->input = strrchr(t, '*') != NULL ? strrchr(t, '*') + 1 : t;
        }
        snprintf(h->s.text, sizeof h->s.text, "%s", t);
    } else {
        if (h->s.found && h->in.sequence > 0 && h->in.sequence <= h->s.seq)
            repeat = 1;
        else if (h->s.found && h->in.type == GW_HOP_INPUT)
            h->input = h->in.text;
        if (h->in.sequence > 0)
            h->s.seq = h->in.sequence;
    }
    if (!h->s.found)
        h->s.node = N_NEW;

    if (repeat) {
        /* The same screen again, rendered from the state it was shown in. */
        if (h->s.endk[0] != '\0') {
            h->until_ms = h->s.until_ms;
            memcpy(h->left, h->s.left, sizeof h->left);
            end_with(h, h->s.endk, GW_USSD_DUPLICATE);
        } else {
            h->prefix_key = h->s.pfx[0] != '\0' ? h->s.pfx : NULL;
            memcpy(h->left, h->s.left, sizeof h->left);
            render_screen(h);
        }
        if (h->answer != NULL)
            hop_answer(h, h->end, h->answer, GW_USSD_DUPLICATE);
        else
            hop_busy(h);
        return;
    }
    if (h->input != NULL) {
        /* Inputs are short digits; trim the spaces some phones add. */
        char *trimmed = h->input_buf;
        const char *s = h->input;
        while (*s == ' ')
            s++;
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == ' ')
            n--;
        memcpy(trimmed, s, n);
        trimmed[n] = '\0';
        h->input = trimmed;
    }
    if (decide(h) == 0)
        save_and_answer(h);
}

/* Asks for the phone's language choice and its participants. Returns 0
 * when both are on their way (loaded() runs when they are back). */
static int fetch_people(hop *h)
{
    char langkey[GW_PHONE_MAX + 24];
    snprintf(langkey, sizeof langkey, "gw:{ph:%s}:lang", h->e164);
    const char *lget[] = {"GET", langkey};
    h->loads += 2;
    if (gw_redis_argv(h->u->redis, on_lang, h, 2, lget, NULL) != 0) {
        h->loads = 1000;
        return -1;
    }
    h->outstanding++;
    if (gw_records_by_phone(h->u->records, h->e164, on_people, h) != 0) {
        h->loads = 1000;
        return -1;
    }
    h->outstanding++;
    return 0;
}

/* Forgets a loaded session (damaged, or another phone's). */
static void session_reset(hop *h)
{
    memset(&h->s, 0, sizeof h->s);
    if (!h->people_fresh) {
        free(h->people);
        h->people = NULL;
        h->npeople = 0;
    }
}

static void on_session(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    hop *h = arg;
    h->outstanding--;
    field f[SESSION_FIELDS];
    redisReply *state = NULL, *ppl = NULL;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        state = reply->element[0];
        ppl = reply->element[1];
    }
    if (state == NULL) {
        h->records_status = -1;
    } else if (state->type == REDIS_REPLY_STRING &&
               session_split(state->str, state->len, f) == 0) {
        h->s.found = 1;
        h->s.node = (enum node)field_long(&f[0]);
        h->s.page = (int)field_long(&f[1]);
        h->s.seq = field_long(&f[2]);
        field_copy(&f[3], h->s.sel, sizeof h->s.sel);
        field_copy(&f[4], h->s.info, sizeof h->s.info);
        field_copy(&f[5], h->s.text, sizeof h->s.text);
        field_copy(&f[6], h->s.phone, sizeof h->s.phone);
        field_copy(&f[7], h->s.lang, sizeof h->s.lang);
        field_copy(&f[8], h->s.pfx, sizeof h->s.pfx);
        field_copy(&f[9], h->s.left, sizeof h->s.left);
        field_copy(&f[10], h->s.endk, sizeof h->s.endk);
        h->s.until_ms = field_long(&f[11]);
        if (ppl->type == REDIS_REPLY_STRING && !h->people_fresh)
            h->s.have_people = people_decode(h, ppl->str) == 0;
        if (h->s.node < N_NEW || h->s.node > N_LAST || h->s.page < 0 || h->s.page > 100)
            session_reset(h);   /* damaged: start over */
    }
    loaded(h);
    hop_release(h);
}

static void on_lang(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    hop *h = arg;
    h->outstanding--;
    if (reply != NULL && reply->type == REDIS_REPLY_STRING && reply->len < sizeof h->lang_pref)
        snprintf(h->lang_pref, sizeof h->lang_pref, "%s", reply->str);
    if (reply == NULL)
        h->records_status = -1;
    loaded(h);
    hop_release(h);
}

static void on_people(int status, const gw_participant *list, size_t n, void *arg)
{
    hop *h = arg;
    h->outstanding--;
    if (status != 0) {
        h->records_status = -1;
    } else {
        if (n > MAX_PEOPLE)
            n = MAX_PEOPLE;
        free(h->people);
        h->people = n > 0 ? malloc(n * sizeof *list) : NULL;
        if (n > 0 && h->people == NULL) {
            h->records_status = -1;
            n = 0;
        } else if (n > 0) {
            memcpy(h->people, list, n * sizeof *list);
        }
        h->npeople = n;
        h->people_fresh = 1;
    }
    loaded(h);
    hop_release(h);
}

/* ---- the carrier endpoints ---- */

static void handle(gw_ussd *u, gw_http_req *req, enum gw_dialect d)
{
    int64_t started = gw_clock_mono_us();
    if (gw_http_method(req) != GW_HTTP_POST) {
        gw_http_error(req, 405, "method_not_allowed", "use POST");
        gw_metrics_ussd(d, GW_USSD_BAD_REQUEST, 0);
        return;
    }
    hop *h = hop_new(u);
    if (h == NULL) {
        gw_http_error(req, 503, "overloaded", "out of memory");
        return;
    }
    h->u = u;
    h->req = req;
    h->started_us = started;
    size_t len;
    const char *body = gw_http_body(req, &len);
    char err[160];
    int rc = d == GW_DIALECT_AT ? gw_dialect_parse_at(body, len, &h->in, err, sizeof err)
                                : gw_dialect_parse_hubtel(body, len, &h->in, err, sizeof err);
    if (rc != 0) {
        gw_http_error(req, 400, "bad_request", err);
        gw_metrics_ussd(d, GW_USSD_BAD_REQUEST, 0);
        h->answered = 1;
        hop_release(h);
        return;
    }
    evtimer_assign(&h->deadline, u->base, on_deadline, h);
    h->deadline_set = 1;
    struct timeval tv = {u->cfg->ussd_hop_deadline_ms / 1000,
                         (u->cfg->ussd_hop_deadline_ms % 1000) * 1000};
    evtimer_add(&h->deadline, &tv);

    char why[64];
    if (gw_phone_normalize(h->in.phone, h->e164, sizeof h->e164, why, sizeof why) != 0) {
        tpl_var v[] = {{"hotline", u->cfg->ussd_hotline}};
        char *text = tpl_render(*u->tpl, "zh", "ussd.unknown_phone", v, 1);
        hop_answer(h, 1, text != NULL ? text : "", GW_USSD_UNKNOWN);
        free(text);
        hop_release(h);
        return;
    }
    if (h->in.type == GW_HOP_RELEASE) {          /* the phone hung up */
        hop_answer(h, 1, "", GW_USSD_END);
        hop_release(h);
        return;
    }

    snprintf(h->key, sizeof h->key, "gw:{s:%s:%s}", d == GW_DIALECT_AT ? "at" : "hb",
             h->in.session);
    /* A first hop asks for the session and the phone's people at once (one
     * round trip); later hops find the people in the session. */
    int first = (d == GW_DIALECT_AT && h->in.text[0] == '\0') ||
                (d == GW_DIALECT_HUBTEL && h->in.type == GW_HOP_BEGIN);
    snprintf(h->pkey, sizeof h->pkey, "%s:p", h->key);
    const char *mget[] = {"MGET", h->key, h->pkey};
    h->loads = 1;
    int ok = gw_redis_argv(u->redis, on_session, h, 3, mget, NULL) == 0;
    if (ok) {
        h->outstanding++;
        if (first)
            ok = fetch_people(h) == 0;
    }
    if (!ok) {
        /* Redis or the records backend is down: the resident hears it now. */
        h->loads = 1000;
        hop_busy(h);
    }
    hop_release(h);
}

static void handle_at(gw_http_req *req, void *arg)
{
    handle(arg, req, GW_DIALECT_AT);
}

static void handle_hubtel(gw_http_req *req, void *arg)
{
    handle(arg, req, GW_DIALECT_HUBTEL);
}

gw_ussd *gw_ussd_new(struct event_base *base, const gw_config *cfg, gw_redis *redis,
                     gw_records *records, tpl_set *const *tpl)
{
    gw_ussd *u = calloc(1, sizeof *u);
    if (u == NULL)
        return NULL;
    u->base = base;
    u->cfg = cfg;
    u->redis = redis;
    u->records = records;
    u->tpl = tpl;
    u->id_attempt = gw_redis_script_add(redis, "id_attempt", gw_lua_id_attempt);
    if (u->id_attempt == NULL) {
        free(u);
        return NULL;
    }
    return u;
}

int gw_ussd_register(gw_ussd *u, struct gw_http *carrier)
{
    if (gw_http_route(carrier, "/ussd/africastalking", handle_at, u) != 0 ||
        gw_http_route(carrier, "/ussd/hubtel", handle_hubtel, u) != 0)
        return -1;
    return 0;
}


void gw_ussd_set_outbound(gw_ussd *u, struct gw_sender *sender)
{
    u->sender = sender;
}

void gw_ussd_set_incidents(gw_ussd *u, struct gw_incidents *incidents)
{
    u->incidents = incidents;
}

void gw_ussd_free(gw_ussd *u)
{
    if (u == NULL)
        return;
    while (u->spare != NULL) {
        hop *next = u->spare->next_spare;
        free(u->spare);
        u->spare = next;
    }
    free(u);
}
