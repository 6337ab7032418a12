/* gw_campaign_texts.c - reminders' texts (see gw_campaign.h) and the SMS
 * parts they take: the text the sender writes when a reminder goes, the parts
 * the roster store and the incidents count when they schedule one, and a
 * campaign's walk counting the parts of texts written per person. Owns only
 * the walks' memos (one per job, freed with it by camp_memo_free). No I/O but the
 * clock (the local year, the reminders' times); runs on the daemon's loop. A
 * memo counted with texts older than cs->texts (bumped at each SIGHUP load) is
 * emptied before it is used. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_campaign_internal.h"
#include "gw_clock.h"
#include "gw_participant.h"
#include "gw_texts.h"
#include "gw_window.h"

#define DATA_FIELDS 8

/* ---- texts ---- */

/* Splits a copy of DATA at \31 into F (at most DATA_FIELDS). Returns the
 * copy (caller frees) or NULL; *NF the number of fields. */
static char *split_fields(const char *data, size_t len, const char **f, size_t *nf)
{
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return NULL;
    memcpy(buf, data, len);
    buf[len] = '\0';
    size_t n = 0;
    char *p = buf;
    f[n++] = p;
    while (n < DATA_FIELDS && (p = strchr(p, '\x1f')) != NULL) {
        *p++ = '\0';
        f[n++] = p;
    }
    *nf = n;
    return buf;
}

static int64_t fen_field(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return -1;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end == '\0' ? (int64_t)v : -1;
}

static int local_year(void)
{
    char ymd[16];
    return gw_clock_ymd(gw_clock_now_ms(), ymd, sizeof ymd);
}

char *gw_reminder_text(const tpl_set *set, const gw_config *cfg, char kind, const char *key,
                       const char *data, size_t len, size_t *outlen, int *ucs2, int *segments)
{
    const char *f[DATA_FIELDS];
    size_t nf;
    if (set == NULL || data == NULL)
        return NULL;
    char *buf = split_fields(data, len, f, &nf);
    if (buf == NULL)
        return NULL;
    char fullkey[96], amount[48], date[48], year[16], tier[48], occurred[48], digit[4] = "";
    tpl_var vars[10];
    size_t nv = 0;
    char *text = NULL;
    const char *lang = nf > 1 && strcmp(f[1], "en") == 0 ? "en" : "zh";
    if ((kind == 'u' || kind == 'n') && nf >= 6) {
        int64_t tier_fen = fen_field(f[3]), paid_fen = fen_field(f[4]);
        if (key == NULL)
            key = "unpaid_reminder";
        if (strcmp(key, "unpaid_reminder") == 0 && (tier_fen < 0 || f[5][0] == '\0')) {
            /* Without an amount or a date the reminder says what is known:
             * the contribution status, as a status SMS does. */
            gw_participant p;
            memset(&p, 0, sizeof p);
            snprintf(p.language, sizeof p.language, "%s", lang);
            int64_t yr = fen_field(f[2]);      /* a whole number, or -1 */
            p.contribution_year = yr > 0 && yr < 10000 ? (int)yr : 0;
            p.contribution_tier_fen = tier_fen;
            p.contribution_paid_fen = paid_fen < 0 ? 0 : paid_fen;
            snprintf(p.contribution_due, sizeof p.contribution_due, "%s", f[5]);
            text = gw_text_contribution(set, lang, &p, "sms");
        } else {
            int64_t yr = fen_field(f[2]);      /* a whole number, or -1 */
            if (yr > 0 && yr < 10000)
                snprintf(year, sizeof year, "%d", (int)yr);
            else                               /* none ("" or 0): this year's */
                snprintf(year, sizeof year, "%d", local_year());
            gw_text_money(set, lang, tier_fen - (paid_fen > 0 ? paid_fen : 0), amount,
                          sizeof amount);
            gw_text_money(set, lang, tier_fen, tier, sizeof tier);
            gw_text_date(set, lang, f[5], date, sizeof date);
            vars[nv++] = (tpl_var){"name", f[0]};
            vars[nv++] = (tpl_var){"year", year};
            vars[nv++] = (tpl_var){"due_amount", amount};
            vars[nv++] = (tpl_var){"due_date", date};
            vars[nv++] = (tpl_var){"tier", tier};
            vars[nv++] = (tpl_var){"hotline", cfg->ussd_hotline};
        }
    } else if ((kind == 'c' || kind == 'l' || kind == 'd') && nf >= 5) {
        if (key == NULL)
            key = kind == 'c' ? "claim_reminder" : "claim_last_day";
        const char *label = tpl_text(set, lang, strcmp(f[2], "accident") == 0
                                                    ? "sms.kind_accident"
                                                    : "sms.kind_critical_illness");
        gw_text_date(set, lang, f[3], date, sizeof date);
        /* the accident's or diagnosis' date (a sixth field; none: left out) */
        occurred[0] = '\0';
        if (nf >= 6 && f[5][0] != '\0')
            gw_text_date(set, lang, f[5], occurred, sizeof occurred);
        /* the main menu's item that reports a claim, as menus.ini numbers it */
        const tpl_menu_item *items;
        size_t nitems = tpl_menu(set, "main", &items);
        for (size_t i = 0; i < nitems; i++)
            if (strcmp(items[i].action, "claim") == 0)
                snprintf(digit, sizeof digit, "%d", items[i].digit);
        vars[nv++] = (tpl_var){"name", f[0]};
        vars[nv++] = (tpl_var){"kind", label != NULL ? label : f[2]};
        vars[nv++] = (tpl_var){"date", occurred};
        vars[nv++] = (tpl_var){"deadline", date};
        vars[nv++] = (tpl_var){"reference", f[4]};
        vars[nv++] = (tpl_var){"hotline", cfg->ussd_hotline};
        vars[nv++] = (tpl_var){"service_code", cfg->ussd_service_code};
        vars[nv++] = (tpl_var){"claim_digit", digit};
    } else {
        free(buf);
        return NULL;
    }
    if (text == NULL) {
        snprintf(fullkey, sizeof fullkey, "sms.%s", key);
        text = tpl_render(set, lang, fullkey, vars, nv);
    }
    free(buf);
    if (text == NULL)
        return NULL;
    tpl_sms info;
    char *ready = tpl_sms_prepare(cfg->sms_signature, text, strlen(text), &info);
    free(text);
    if (ready == NULL)
        return NULL;
    if (outlen != NULL)
        *outlen = strlen(ready);
    if (ucs2 != NULL)
        *ucs2 = info.ucs2;
    if (segments != NULL)
        *segments = info.segments;
    return ready;
}

/* ---- the callbacks of the sender, the roster store and the incidents ---- */

char *gw_campaigns_render(const q_claimed *c, size_t *len, int *ucs2, int *segments, void *arg)
{
    gw_campaigns *cs = arg;
    const char *ex = c->item.extra;
    if (ex[0] == '\0' || ex[1] != ',' || c->text == NULL)
        return NULL;
    char key[64];
    if (c->text_len == 0 || c->text_len >= sizeof key)
        return NULL;
    memcpy(key, c->text, c->text_len);
    key[c->text_len] = '\0';
    return gw_reminder_text(*cs->tpl, cs->cfg, ex[0], key, c->data, c->data_len, len, ucs2,
                            segments);
}

size_t gw_campaigns_auto_times(const gw_participant *p, int64_t *times, int *segments,
                               void *arg)
{
    gw_campaigns *cs = arg;
    const gw_config *cfg = cs->cfg;
    if (p->contribution_year <= 0 || p->contribution_paid_fen > 0 || p->phone[0] == '\0' ||
        p->contribution_due[0] == '\0' || cfg->unpaid_offsets_count == 0)
        return 0;
    size_t n = gw_unpaid_times(p->contribution_due, cfg->unpaid_offsets_days,
                               (size_t)cfg->unpaid_offsets_count, cfg->send_window_start_min,
                               cfg->send_window_end_min, gw_clock_now_ms(), times);
    if (n == 0)
        return 0;
    /* the parts of the text as it would be written now */
    char data[512];
    int len = snprintf(data, sizeof data, "%s\x1f%s\x1f%d\x1f%" PRId64 "\x1f%" PRId64
                       "\x1f%s", p->name, p->language, p->contribution_year,
                       p->contribution_tier_fen, p->contribution_paid_fen, p->contribution_due);
    *segments = 1;
    if (len > 0 && (size_t)len < sizeof data) {
        char *t = gw_reminder_text(*cs->tpl, cfg, 'u', NULL, data, (size_t)len, NULL, NULL,
                                   segments);
        free(t);
    }
    return n;
}

int gw_campaigns_claim_segments(char kind, const gw_participant *p, const char *incident_kind,
                                gw_date deadline, void *arg)
{
    gw_campaigns *cs = arg;
    char data[512];
    int seg = 1;
    /* measured with a reference of the usual width, and the incident's date
     * at its widest (the 28th of December) */
    int len = snprintf(data, sizeof data,
                       "%s\x1f%s\x1f%s\x1f%04d-%02d-%02d\x1f" "BA00000000-000000\x1f%04d-12-28",
                       p->name, p->language, incident_kind, deadline.y, deadline.m, deadline.d,
                       deadline.y);
    if (len > 0 && (size_t)len < sizeof data) {
        char *t = gw_reminder_text(*cs->tpl, cs->cfg, kind, NULL, data, (size_t)len, NULL, NULL,
                                   &seg);
        free(t);
    }
    return seg;
}

/* ---- segments of texts written per person ----
 *
 * A reminder's text is a template with the person's fields filled in; only
 * its SMS parts are needed to queue it (the text is written again when it
 * is sent). The name is filled in as written (in GSM-7, look-alikes replaced
 * one by one). When each of its characters takes one UCS-2 unit and one
 * GSM-7 septet (no surrogate pair, no escape), the text's characters take
 * the same room, position by position, for any name of the same length: the
 * parts are then the same for two people whose other fields are the same.
 * A walk of a county writes a few hundred different texts, not one per
 * person; a name with a wider character is written out each time. */

#define MEMO_SLOTS 4096           /* a power of two; emptied when half full */

typedef struct seg_memo {
    unsigned texts;               /* the texts' load it counted with (SIGHUP loads new ones) */
    size_t used;
    struct memo_slot {
        char *key;
        int segments;
    } slot[MEMO_SLOTS];
} seg_memo;

void camp_memo_free(seg_memo *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < MEMO_SLOTS; i++)
        free(m->slot[i].key);
    free(m);
}

static void memo_clear(seg_memo *m, unsigned texts)
{
    for (size_t k = 0; k < MEMO_SLOTS; k++) {
        free(m->slot[k].key);
        m->slot[k].key = NULL;
    }
    m->used = 0;
    m->texts = texts;
}

static uint64_t memo_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Characters in the UTF-8 string S of LEN bytes. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* The memo's key for DATA (fields joined by \x1f, the name first), in KEY
 * (of CAP bytes). Returns 0, or -1 when the name has a character wider than
 * one unit or septet (or the key does not fit): not to be remembered. */
static int memo_key(char kind, const char *tkey, const char *data, size_t len, char *key,
                    size_t cap)
{
    const char *sep = memchr(data, '\x1f', len);
    size_t nl = sep != NULL ? (size_t)(sep - data) : len;
    size_t chars = utf8_chars(data, nl);
    if (tpl_ucs2_units(data, nl) != chars)
        return -1;
    size_t nn;
    char *norm = tpl_sms_normalize(data, nl, &nn);
    if (norm == NULL)
        return -1;
    long septets = -1;
    int narrow = 1;
    if (tpl_gsm7_encodable(norm, nn)) {
        septets = (long)tpl_gsm7_septets(norm, nn);
        narrow = (size_t)septets == utf8_chars(norm, nn);
    }
    free(norm);
    if (!narrow)
        return -1;
    /* the local year too: a text without a year of its own says this one */
    int n = snprintf(key, cap, "%c|%s|%d|%zu|%ld|%.*s", kind, tkey != NULL ? tkey : "",
                     local_year(), chars, septets, (int)(len - nl), data + nl);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int camp_person_segments(camp_job *j, const char *data, size_t len)
{
    char key[512];
    struct memo_slot *slot = NULL;
    if (j->memo == NULL && (j->memo = calloc(1, sizeof *j->memo)) != NULL)
        j->memo->texts = j->cs->texts;
    if (j->memo != NULL && memo_key(j->kind, j->tkey, data, len, key, sizeof key) == 0) {
        if (j->memo->used >= MEMO_SLOTS / 2 || j->memo->texts != j->cs->texts)
            memo_clear(j->memo, j->cs->texts);
        size_t i = (size_t)memo_hash(key) & (MEMO_SLOTS - 1);
        while (j->memo->slot[i].key != NULL && strcmp(j->memo->slot[i].key, key) != 0)
            i = (i + 1) & (MEMO_SLOTS - 1);
        if (j->memo->slot[i].key != NULL)
            return j->memo->slot[i].segments;
        slot = &j->memo->slot[i];
    }
    int seg = 1;
    char *t = gw_reminder_text(*j->cs->tpl, j->cs->cfg, j->kind, j->tkey, data, len, NULL, NULL,
                               &seg);
    if (j->dry && j->res.sample == NULL)
        j->res.sample = t;          /* the first recipient's, for the preview to show */
    else
        free(t);
    if (slot != NULL && (slot->key = strdup(key)) != NULL) {
        slot->segments = seg;
        j->memo->used++;
    }
    return seg;
}

void gw_campaigns_texts_reloaded(gw_campaigns *cs)
{
    if (cs != NULL)
        cs->texts++;
}
