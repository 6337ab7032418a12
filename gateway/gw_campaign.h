/* gw_campaign.h - reminders and campaigns: who gets which reminder, when,
 * and the fan-out of a coordinator's campaign into the outbound queue.
 *
 * A reminder is a bulk message whose queue EXTRA is "KIND,CAMPAIGN,PID,TAG":
 *   KIND  u unpaid contribution, c claim report (at once), l claim report
 *         (the deadline's eve), n policy notice;
 *   CAMPAIGN  the campaign's id, 0 for an automatic reminder;
 *   PID   the participant;
 *   TAG   u: the due date an automatic reminder was scheduled for ("" for a
 *         campaign's); c, l: the incident's reference; n: the text's hash.
 * Its text is written when it is sent (the body is "t" + the [sms] text's
 * name), from the record as it is then; q_claim.lua checks it again just
 * before (still unpaid, incident still open, not opted out, inside the send
 * window, not a duplicate within [reminders] min_interval_hours).
 *
 * A campaign (POST /v1/campaigns) walks the roster in chunks of
 * GW_CAMPAIGN_CHUNK (HSCAN of a contribution class's participants, or the
 * ids given, in gateway/lua/camp_scan.lua), never holding the
 * recipients in memory: a dry run counts recipients, skips by reason and
 * segments; a start also queues each chunk (camp_push.lua) at the send time,
 * moved to the send window's next opening when outside it. Each chunk is
 * recorded with the walk's cursor, under an owner mark the fan-out renews
 * (gw:{q}:camp:ID:owner, 15 s); a fan-out whose daemon died is taken over,
 * from its cursor, by the first daemon to mark it (checked every 5 s; the
 * ids of a participant_ids campaign are stored for this). Its record is
 * the hash gw:{q}:camp:ID (kind, state fanning_out|running|cancelled, the
 * fan-out's counts and skips, and the live counts queued, sent, delivered,
 * failed, skipped that the queue's scripts move). */
#ifndef GW_CAMPAIGN_H
#define GW_CAMPAIGN_H

#include <stddef.h>
#include <stdint.h>

#include "gw_calendar.h"
#include "gw_participant.h"
#include "q.h"

struct event_base;
struct gw_config;
struct gw_redis;
struct tpl_set;

#define GW_CAMPAIGN_CHUNK 50        /* participants walked per Redis call in a start:
                                       each call holds Redis for a millisecond or two,
                                       so USSD hops do not wait behind a fan-out */
#define GW_CAMPAIGN_CHUNK_DRY 200   /* in a dry run (nothing written). 500 answered a
                                       county-wide preview hardly sooner but held Redis
                                       2 to 3 ms a call: USSD hops took twice as long */
#define GW_CAMPAIGN_IDS_MAX 100000    /* participant_ids of one campaign */
#define GW_CAMPAIGN_PLACE_NAMES 30    /* places named in an answer to a misspelt one */
#define GW_CAMPAIGN_LIST_MAX 20000    /* recipients a dry run lists: a township's, not a county's */

/* ---- pure helpers ---- */

/* The text of a reminder of KIND for the participant or incident described
 * by DATA[0..LEN) (fields joined by \31, as camp_scan.lua and q_claim.lua
 * give them), from [sms] KEY (NULL: the kind's own text), in the recipient's
 * language, prepared as it goes on the air (signature, encoding). Returns
 * malloc'd UTF-8 with its length, encoding and segments, or NULL when KEY is
 * unknown, DATA malformed or memory short. */
char *gw_reminder_text(const struct tpl_set *set, const struct gw_config *cfg, char kind,
                       const char *key, const char *data, size_t len, size_t *outlen,
                       int *ucs2, int *segments);

/* ---- campaigns ---- */

typedef struct gw_campaigns gw_campaigns;

gw_campaigns *gw_campaigns_new(struct event_base *base, const struct gw_config *cfg,
                               struct gw_redis *redis, struct tpl_set **tpl);
void gw_campaigns_free(gw_campaigns *cs);

/* Says that the texts were loaded again (SIGHUP): parts counted with the
 * old ones are not used again. */
void gw_campaigns_texts_reloaded(gw_campaigns *cs);

/* The roster store's reminder hook (gw_store_set_reminder_hook, ARG = the
 * gw_campaigns): when P's automatic unpaid-contribution reminders go
 * ([reminders] unpaid_offsets_days, gw_unpaid_times) and their parts. */
struct gw_participant;
size_t gw_campaigns_auto_times(const struct gw_participant *p, int64_t *times, int *segments,
                               void *arg);

/* gw_incidents' segments callback (ARG = the gw_campaigns). */
int gw_campaigns_claim_segments(char kind, const struct gw_participant *p,
                                const char *incident_kind, gw_date deadline, void *arg);

/* gw_sender's render callback (ARG = the gw_campaigns). */
char *gw_campaigns_render(const q_claimed *c, size_t *len, int *ucs2, int *segments, void *arg);

typedef struct gw_campaign_spec {
    char kind;                    /* 'u', 'c' or 'n' */
    const char *township;         /* filter: NULL or a township */
    const char *village;          /*   and a village of it (alone: the one village of
                                     that name, refused when several townships have one) */
    const char *const *ids;       /* or these participant ids */
    size_t nids;                  /* (none of the three: everyone) */
    const char *text;             /* a text for everyone, or */
    const char *template_key;     /* an [sms] text written per recipient, or NULL
                                     for the kind's own (u, c) */
    int64_t send_at_ms;           /* 0: now */
    int dry_run;
    int list;                     /* a dry run: also list the recipients (the first
                                     GW_CAMPAIGN_LIST_MAX) */
} gw_campaign_spec;

/* A recipient a dry run lists. */
typedef struct gw_campaign_listed {
    char id[GW_PID_MAX], name[GW_NAME_MAX], phone[GW_PHONE_MAX];
} gw_campaign_listed;

typedef struct gw_campaign_result {
    const char *error;            /* NULL, or why it stopped (Redis) */
    char id[24];                  /* "" for a dry run */
    int64_t recipients;
    int64_t paid, opted_out, no_phone, duplicate, unknown;
    char unknown_ids[10][64];     /* the first of the unknown (participant_ids), to name */
    int n_unknown_ids;
    int64_t past_due;             /* unpaid, its due date before today (kind u) */
    int64_t held;                 /* of the duplicates, queued held (camp_push.lua) */
    int segments_per_message;     /* the most any recipient's message takes */
    int64_t segments_total;
    int64_t send_at_ms;           /* when it goes (moved into the send window) */
    int cancelled;                /* cancelled while fanning out */
    int upgrading;                /* refused: an older roster is being moved (ERROR says so) */
    int place_error;              /* refused before the walk (ERROR says so): 1 no such
                                     township, 2 no such village in it, 3 the village
                                     (given alone) is in several townships, 4 in none */
    char place_names[GW_CAMPAIGN_PLACE_NAMES][GW_PLACE_MAX];
    int n_place_names;            /* with place_error: the names to choose from (1, 4:
                                     the townships; 2: the township's villages; 3: the
                                     townships with that village), sorted */
    char township[GW_PLACE_MAX];  /* a village given alone: the township it is in */
    char *sample;                 /* a dry run: the first recipient's message as it will
                                     go (signature and all), or NULL; freed with the job */
    gw_campaign_listed *list;     /* a dry run asked to list: its recipients, at most
                                     GW_CAMPAIGN_LIST_MAX; freed with the job */
    size_t listed, list_cap;      /* in LIST; and its room */
    int list_short;               /* memory ran short: LIST is not all of them */
} gw_campaign_result;

typedef void gw_campaign_cb(const gw_campaign_result *r, void *arg);

/* Counts (dry run) or starts the campaign SPEC (validated by the caller:
 * a text or a known template, ids of the roster's form). CB is called once,
 * when the whole roster slice has been walked. Returns 0, -1 when Redis is
 * down or memory short, or -2 while a roster kept by an older version is
 * being moved to this version's form (CB not called). */
int gw_campaign_run(gw_campaigns *cs, const gw_campaign_spec *spec, gw_campaign_cb *cb,
                    void *arg);

#endif
