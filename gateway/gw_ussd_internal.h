/* gw_ussd_internal.h - what the USSD engine's files share (gw_ussd.c,
 * gw_ussd_render.c, gw_ussd_steps.c); nothing else includes it. The
 * engine and hop objects, the menu's nodes, menu 4's kinds and the few
 * functions one of these files calls in another. Runs on the daemon's
 * loop; not thread safe. */
#ifndef GW_USSD_INTERNAL_H
#define GW_USSD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event_struct.h>

#include "gw_config.h"
#include "gw_http.h"
#include "gw_incident.h"
#include "gw_metrics.h"
#include "gw_records.h"
#include "gw_redis.h"
#include "gw_ussd.h"
#include "gw_ussd_dialect.h"
#include "tpl.h"

#define MAX_PEOPLE 16   /* the most participants kept for one phone */

/* Numbers are stored in sessions: new nodes go at the end. */
enum node { N_NEW, N_PERSON, N_MAIN, N_INFO, N_ASK_ID, N_LANG, N_DONE, N_REMIND,
            N_CLAIM_KIND, N_CLAIM_DATE };
#define N_LAST N_CLAIM_DATE /* the highest node a stored session may name */

/* Menu 4's kinds, in the order of ussd.claim_kind's lines (1, 2). INFO is
 * what the session keeps while the date is asked; ASK_DATE that screen.
 * The table and its length are gw_ussd_steps.c's. */
struct claim_kind {
    const char *info;
    gw_incident_kind kind;
    const char *ask_date;
};
extern const struct claim_kind claim_kinds[];
extern const size_t claim_kinds_count;

/* The engine: one per daemon (gw_ussd_new). */
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

/* A session's state as loaded (its stored form: gw_ussd.c). */
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

/* One carrier request, from its parse to its answer (see gw_ussd.c). */
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

/* ---- hop life and session (gw_ussd.c) ---- */

/* Frees H (into the spare list) once it has been answered and no step is
 * outstanding; otherwise does nothing. Every callback of a hop ends here. */
void hop_release(hop *h);

/* Called first by a step's callback: 1 when H still waits for it (go on,
 * then hop_release), 0 when the deadline answered H meanwhile and H has
 * been released (touch it no more). */
int hop_back(hop *h);

/* Answers H with the END "busy" screen, unless H has been answered. */
void hop_busy(hop *h);

/* The language of H's screens: the phone's choice, else the selected (or
 * first) participant's, else "zh". */
const char *hop_lang(const hop *h);

/* The participant chosen on this phone, or NULL (none yet, or gone from
 * the roster). */
const gw_participant *ussd_selected(const hop *h);

/* Moves H to NODE, on its first page. */
void ussd_go(hop *h, enum node node);

/* Saves H's session (and the people, when this hop read them) with its
 * TTL, then answers h->answer once Redis has it; answers busy when the
 * answer is missing or the save cannot start or fails. Does nothing when
 * H has been answered. */
void ussd_save_and_answer(hop *h);

/* ---- the screens (gw_ussd_render.c) ---- */

/* Renders H's current node into h->answer (a CON screen, paged; the old
 * text freed; NULL on OOM) and clamps h->s.page to the pages there are.
 * Returns the number of pages. */
int ussd_render_screen(hop *h);

/* Makes h->answer the END screen of text KEY with the values KEY takes,
 * and ends H's session there (N_DONE, OUTCOME). KEY is kept, not copied:
 * it must live as long as H. */
void ussd_end_with(hop *h, const char *key, enum gw_ussd_outcome outcome);

/* P's contribution status in the texts of SECTION ("ussd" for the screen,
 * "sms" for the confirmation message): a malloc'd text the caller frees,
 * or NULL (OOM). */
char *ussd_render_contribution(const hop *h, const gw_participant *p, const char *section);

/* 1 when H's information screen offers its text by SMS (it is the
 * contribution's, and the daemon sends SMS), else 0. */
int ussd_offers_sms(const hop *h);

/* 1 when the main menu offers "report a claim" to H's participant (a
 * mutual-aid member, claims on), else 0. */
int ussd_offers_claim(const hop *h);

/* The kind chosen on the claim's first screen (h->s.info), or NULL. */
const struct claim_kind *ussd_claim_kind_chosen(const hop *h);

/* N in decimal, NUL-terminated, into OUT (room for 21). */
void ussd_fmt_uint_str(char *out, uint64_t n);

/* H's people as the text of the session's ":p" key: malloc'd (the caller
 * frees it), or NULL. */
char *ussd_people_encode(const hop *h);

/* Replaces H's people with those of the ":p" text S. Returns 0, or -1 when
 * S is damaged (H's people are left as they were). */
int ussd_people_decode(hop *h, const char *s);

/* ---- the side steps (gw_ussd_steps.c) ----
 * Each starts one request and counts it in h->outstanding; its callback
 * renders, saves and answers H. When the request cannot start, H is
 * answered busy at once. Either way decide() returns 1: H is in hand. */

/* The balance: checks the selected participant's ID lock, then asks for
 * the ID's last four characters (or ends with the lock's time). */
void ussd_start_lock_check(hop *h);

/* Checks ANSWER against P's ID (wrong answers are counted and lock the
 * balance for a while): the balance, the question again with the answers
 * left, or the lock's END. */
void ussd_start_attempt(hop *h, const gw_participant *p, const char *answer);

/* Queues the contribution status as an SMS to the caller's phone, then
 * ends saying so. */
void ussd_start_sms(hop *h);

/* Menu 5: reads whether the phone receives reminders and shows it. */
void ussd_start_remind_get(hop *h);

/* Menu 5: turns reminders off when they were on (h->s.info "on"), and on
 * when they were off, then ends saying so. */
void ussd_start_remind_set(hop *h);

/* Menu 4: the date IN typed on the date screen of kind K. Returns 1 when
 * the report was started (a side step as above), 0 when the date was
 * refused and h->answer asks again, the reason above it. */
int ussd_claim_date_entered(hop *h, const struct claim_kind *k, const char *in);

#endif
