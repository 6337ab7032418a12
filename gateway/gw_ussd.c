/* gw_ussd.c - the USSD engine; see gw_ussd.h.
 *
 * One `hop` object per carrier request. It holds the parsed request, what
 * was loaded for it, and a count of outstanding asynchronous steps; it is
 * freed when it has been answered and nothing is outstanding. Exactly one
 * answer per request: the first of (the screen, the deadline's busy END).
 * This file owns the hops (their life and the spare list), the session's
 * state in Redis, the menu logic (decide) and the carrier endpoints; the
 * screens are rendered by gw_ussd_render.c, the asynchronous side steps
 * (the ID check, SMS, reminders, claims) are gw_ussd_steps.c's. Runs on
 * the daemon's loop. Texts come only from templates; this file holds no
 * words shown to people. */
#include "gw_ussd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "gw_clock.h"
#include "gw_config.h"
#include "gw_format.h"
#include "gw_http.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_phone.h"
#include "gw_records.h"
#include "gw_redis.h"
#include "gw_ussd_dialect.h"
#include "gw_ussd_internal.h"
#include "tpl.h"

extern const char gw_lua_id_attempt[];

static const char *const languages[] = {"zh", "en"};   /* language menu: 1, 2 */

#define MAX_SPARE 256

/* ---- hop life ---- */

void hop_release(hop *h)
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
int hop_back(hop *h)
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

void hop_busy(hop *h)
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

const gw_participant *ussd_selected(const hop *h)
{
    for (size_t i = 0; i < h->npeople; i++)
        if (strcmp(h->people[i].id, h->s.sel) == 0)
            return &h->people[i];
    return NULL;
}

const char *hop_lang(const hop *h)
{
    if (h->lang_pref[0] != '\0')
        return h->lang_pref;
    const gw_participant *p = ussd_selected(h);
    if (p == NULL && h->npeople > 0)
        p = &h->people[0];
    return p != NULL && p->language[0] != '\0' ? p->language : "zh";
}

/* ---- the session as one string ---- */

/* Session state (one string gw:{s:D:SESSION}, TTL session_ttl_s: the fields
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
 * (a hop reads both keys with one MGET but writes only the small state;
 * the participants' text is ussd_people_encode's, in gw_ussd_render.c). */

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

void ussd_save_and_answer(hop *h)
{
    if (h->answered)
        return;
    if (h->answer == NULL) {
        hop_busy(h);
        return;
    }
    char node[24], page[24], seq[24], ttl[24], until[24];
    ussd_fmt_uint_str(node, (uint64_t)h->s.node);
    ussd_fmt_uint_str(page, (uint64_t)h->s.page);
    ussd_fmt_uint_str(seq, (uint64_t)(h->s.seq > 0 ? h->s.seq : 0));
    ussd_fmt_uint_str(ttl, (uint64_t)h->u->cfg->ussd_session_ttl_s);
    ussd_fmt_uint_str(until, (uint64_t)(h->until_ms > 0 ? h->until_ms : 0));
    const char *pfx = h->prefix_key != NULL ? h->prefix_key : "";
    const char *endk = h->end ? h->end_key : "";
    if (h->people_fresh) {
        char *ppl = ussd_people_encode(h);
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

void ussd_go(hop *h, enum node node)
{
    h->s.node = node;
    h->s.page = 0;
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
            ussd_end_with(h, "ussd.unknown_phone", GW_USSD_UNKNOWN);
            return 0;
        }
        if (h->npeople == 1) {
            snprintf(h->s.sel, sizeof h->s.sel, "%s", h->people[0].id);
            ussd_go(h, N_MAIN);
        } else {
            ussd_go(h, N_PERSON);
        }
        ussd_render_screen(h);
        return 0;
    }

    /* The roster may have changed under a running session. */
    if (h->s.node != N_PERSON && h->s.node != N_DONE && ussd_selected(h) == NULL) {
        h->input = NULL;
        return decide(h);
    }

    if (h->s.node == N_DONE) {
        ussd_end_with(h, "ussd.goodbye", GW_USSD_END);
        return 0;
    }

    /* Paging first: 98 more, 0 back a page. */
    if (strcmp(in, "98") == 0 && h->s.page + 1 < ussd_render_screen(h)) {
        h->s.page++;
        ussd_render_screen(h);
        return 0;
    }
    if (strcmp(in, "0") == 0 && h->s.page > 0) {
        h->s.page--;
        ussd_render_screen(h);
        return 0;
    }

    switch (h->s.node) {
    case N_PERSON: {
        int n = parse_choice(in, (int)h->npeople);
        if (n > 0) {
            snprintf(h->s.sel, sizeof h->s.sel, "%s", h->people[n - 1].id);
            ussd_go(h, N_MAIN);
            ussd_render_screen(h);
            return 0;
        }
        break;
    }
    case N_MAIN: {
        if (strcmp(in, "0") == 0 && h->npeople > 1) {
            h->s.sel[0] = '\0';
            ussd_go(h, N_PERSON);
            ussd_render_screen(h);
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
                ussd_go(h, N_INFO);
                ussd_render_screen(h);
                return 0;
            }
            if (strcmp(action, "balance") == 0) {
                ussd_start_lock_check(h);
                return 1;
            }
            if (strcmp(action, "language") == 0) {
                ussd_go(h, N_LANG);
                ussd_render_screen(h);
                return 0;
            }
            if (strcmp(action, "reminders") == 0) {
                ussd_start_remind_get(h);
                return 1;
            }
            if (strcmp(action, "claim") == 0 && ussd_offers_claim(h)) {
                ussd_go(h, N_CLAIM_KIND);
                ussd_render_screen(h);
                return 0;
            }
        }
        break;
    }
    case N_CLAIM_KIND: {
        int n = parse_choice(in, (int)claim_kinds_count);
        if (strcmp(in, "0") == 0 || n > 0) {
            if (n > 0)
                snprintf(h->s.info, sizeof h->s.info, "%s", claim_kinds[n - 1].info);
            ussd_go(h, n > 0 ? N_CLAIM_DATE : N_MAIN);
            ussd_render_screen(h);
            return 0;
        }
        break;
    }
    case N_CLAIM_DATE: {
        const struct claim_kind *k = ussd_claim_kind_chosen(h);
        if (strcmp(in, "0") == 0 || k == NULL) {
            ussd_go(h, N_CLAIM_KIND);
            ussd_render_screen(h);
            return 0;
        }
        return ussd_claim_date_entered(h, k, in);
    }
    case N_REMIND:
        if (strcmp(in, "1") == 0) {
            ussd_start_remind_set(h);
            return 1;
        }
        if (strcmp(in, "0") == 0) {
            ussd_go(h, N_MAIN);
            ussd_render_screen(h);
            return 0;
        }
        break;
    case N_INFO:
    case N_ASK_ID:
    case N_LANG:
        if (h->s.node == N_INFO && ussd_offers_sms(h) && strcmp(in, "1") == 0) {
            ussd_start_sms(h);
            return 1;
        }
        if (strcmp(in, "0") == 0) {
            ussd_go(h, N_MAIN);
            ussd_render_screen(h);
            return 0;
        }
        if (h->s.node == N_ASK_ID) {
            ussd_start_attempt(h, ussd_selected(h), in);
            return 1;
        }
        if (h->s.node == N_LANG) {
            int n = parse_choice(in, (int)(sizeof languages / sizeof languages[0]));
            if (n > 0 && tpl_has_lang(*h->u->tpl, languages[n - 1])) {
                set_language(h, languages[n - 1]);
                ussd_go(h, N_MAIN);
                h->prefix_key = "ussd.language_set";
                ussd_render_screen(h);
                return 0;
            }
        }
        break;
    default:
        break;
    }
    h->prefix_key = "ussd.invalid";
    ussd_render_screen(h);
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
            ussd_end_with(h, h->s.endk, GW_USSD_DUPLICATE);
        } else {
            h->prefix_key = h->s.pfx[0] != '\0' ? h->s.pfx : NULL;
            memcpy(h->left, h->s.left, sizeof h->left);
            ussd_render_screen(h);
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
        ussd_save_and_answer(h);
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
            h->s.have_people = ussd_people_decode(h, ppl->str) == 0;
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
