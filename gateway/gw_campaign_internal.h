/* gw_campaign_internal.h - what the campaign files share: the campaigns
 * object, a campaign's job and the few functions each calls in another.
 * gw_campaign.c runs jobs (walk, fan-out, dry run); gw_campaign_texts.c
 * writes reminders' texts and counts their parts; gw_campaign_resume.c
 * resumes fan-outs cut short and moves a roster kept by an older version.
 * Nothing outside these three files includes it. */
#ifndef GW_CAMPAIGN_INTERNAL_H
#define GW_CAMPAIGN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

#include "gw_campaign.h"
#include "gw_config.h"
#include "gw_redis.h"
#include "tpl.h"

#define OWNER_MS 15000            /* a fan-out's owner silent this long has died */

/* Participants (or old keys) per call of idx_migrate.lua. */
#define MIGRATE_CHUNK 500

struct seg_memo;

struct gw_campaigns {
    const gw_config *cfg;
    gw_redis *redis;
    tpl_set **tpl;
    gw_redis_script *s_scan, *s_push, *s_migrate, *s_place;
    unsigned texts;               /* loads of the texts (SIGHUP): counts made before are stale */
    long long to_migrate;         /* participants an older version kept (-1: not known yet) */
    int migrating;                /* a migration call is out */
    struct camp_job *running;     /* dry runs and fan-outs under way here */
    int stopping;                 /* freeing: Redis may be gone already */
    char owner[96];               /* this process, as the owner of fan-outs */
    unsigned jobs;                /* fan-outs begun here: each has its own token */
    struct event *resume;         /* looks for fan-outs cut short */
};

typedef struct camp_job {
    gw_campaigns *cs;
    gw_campaign_cb *cb;           /* NULL for a resumed fan-out */
    void *arg;
    char kind;
    int dry;
    char *text, *tkey;
    char **ids;                   /* participant_ids (until stored) */
    size_t nids, next_id;
    char source[8];               /* "place", "list" (stored ids) or "ids" (dry run) */
    char key[256];                /* place: "TOWNSHIP\x1eVILLAGE" (either may be
                                     empty: all of it); list: the list */
    char classes[4];              /* place: the classes walked in turn ("u", "up", "upo") */
    int kidx;                     /* place: which of them now; all done (classes[kidx]
                                     == '\0'), a start reads the participants an import
                                     moved meanwhile (gw:{q}:camp:ID:moved) */
    int moved_end;                /* place, started: that list is read to its end */
    int place_checked;            /* place: found in gw:pt:places (place_check.lua) */
    int list;                     /* a dry run lists its recipients in res.list */
    char cursor[32];              /* HSCAN's; moved: an index into the list */
    int started;                  /* list: walked from the start */
    int64_t carry_paid;           /* the paid, counted at the start, for the first chunk */
    char today[32];               /* the local date the messages go (YYYY-MM-DD) */
    char tag[16];                 /* kind n: the text's hash */
    char seen[64];                /* kind n, dry run: phones counted */
    char bid[32];
    char *body;                   /* 'g'|'u'|'t' + text or template name */
    size_t body_len;
    int text_segments;            /* a text for everyone: its segments */
    struct seg_memo *memo;        /* texts written per person: their segments */
    int64_t due_ms;
    int64_t pend_ttl_s;
    struct camp_job *prev, *next; /* in cs->running */
    char owner[112];              /* this fan-out's owner token (process:job) */
    gw_campaign_result res;
} camp_job;

/* ---- gw_campaign.c ---- */

/* A new job of CS, on its list (freed with it if the daemon stops first).
 * Returns NULL when memory is short. */
camp_job *camp_job_new(gw_campaigns *cs);

/* Ends J: hands ERROR (NULL: it went through) and J's counts to its
 * callback (a resumed fan-out's end is logged instead), then frees J. */
void camp_job_finish(camp_job *j, const char *error);

/* Writes in OUT (CAP bytes) a new owner token of CS for a fan-out. */
void camp_job_token(gw_campaigns *cs, char *out, size_t cap);

/* Starts J's walk of the roster at its cursor (counting the paid first when
 * an unpaid reminder goes to everyone); J ends by camp_job_finish. */
void camp_begin_walk(camp_job *j);

/* Walks J's next chunk, or ends J when nothing is left to walk. */
void camp_next_chunk(camp_job *j);

/* ---- gw_campaign_texts.c ---- */

/* The SMS parts of J's text for the person whose fields are DATA (LEN
 * bytes), remembered in J's memo (made on first use, freed by camp_memo_free). */
int camp_person_segments(camp_job *j, const char *data, size_t len);

/* Frees a job's memo M (NULL: nothing to do). */
void camp_memo_free(struct seg_memo *m);

/* ---- gw_campaign_resume.c ---- */

/* The timer gw_campaigns_new arms (ARG = the gw_campaigns): moves an older
 * roster on, or takes over fan-outs whose owner mark ran out. */
void camp_on_resume_tick(evutil_socket_t fd, short what, void *arg);

/* Sends one chunk of the move of a roster kept by an older version, unless
 * one is out already or Redis is down; its answer sets cs->to_migrate and
 * sends the next while any is left. */
void camp_migrate_step(gw_campaigns *cs);

#endif
