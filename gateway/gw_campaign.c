/* gw_campaign.c - reminders' texts and times, and campaigns' fan-out (see
 * gw_campaign.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <openssl/sha.h>

#include "gw_calendar.h"
#include "gw_campaign.h"
#include "gw_clock.h"
#include "gw_config.h"
#include "gw_format.h"
#include "gw_log.h"
#include "gw_participant.h"
#include "gw_records.h"
#include "gw_redis.h"
#include "gw_texts.h"
#include "gw_window.h"
#include "tpl.h"

extern const char gw_lua_camp_scan[];
extern const char gw_lua_camp_push[];
extern const char gw_lua_idx_migrate[];

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
    char fullkey[96], amount[48], date[48], year[16], tier[48];
    tpl_var vars[8];
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
            text = gw_text_contribution(set, lang, &p, "sms", local_year());
        } else {
            snprintf(year, sizeof year, "%s", f[2][0] ? f[2] : "");
            if (year[0] == '\0')
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
        vars[nv++] = (tpl_var){"name", f[0]};
        vars[nv++] = (tpl_var){"kind", label != NULL ? label : f[2]};
        vars[nv++] = (tpl_var){"deadline", date};
        vars[nv++] = (tpl_var){"reference", f[4]};
        vars[nv++] = (tpl_var){"hotline", cfg->ussd_hotline};
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

/* ---- campaigns ---- */

#define OWNER_MS 15000            /* a fan-out's owner silent this long has died */
/* camp_push.lua's arguments before the recipients' groups of four. */
#define PUSH_HEAD 15
#define RESUME_EVERY_S 5

static void on_resume_tick(evutil_socket_t fd, short what, void *arg);
struct camp_job;
static void job_finish(struct camp_job *j, const char *error);

struct gw_campaigns {
    const gw_config *cfg;
    gw_redis *redis;
    tpl_set **tpl;
    gw_redis_script *s_scan, *s_push, *s_migrate;
    unsigned texts;               /* loads of the texts (SIGHUP): counts made before are stale */
    long long to_migrate;         /* participants an older version kept (-1: not known yet) */
    int migrating;                /* a migration call is out */
    struct camp_job *running;     /* dry runs and fan-outs under way here */
    int stopping;                 /* freeing: Redis may be gone already */
    char owner[96];               /* this process, as the owner of fan-outs */
    unsigned jobs;                /* fan-outs begun here: each has its own token */
    struct event *resume;         /* looks for fan-outs cut short */
};

gw_campaigns *gw_campaigns_new(struct event_base *base, const gw_config *cfg, gw_redis *redis,
                               tpl_set **tpl)
{
    gw_campaigns *cs = calloc(1, sizeof *cs);
    if (cs == NULL)
        return NULL;
    cs->cfg = cfg;
    cs->redis = redis;
    cs->tpl = tpl;
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(cs->owner, sizeof cs->owner, "%s:%ld:%08x", host, (long)getpid(),
             (unsigned)(gw_clock_mono_us() ^ (uint64_t)rand()));
    cs->s_scan = gw_redis_script_add(redis, "camp_scan", gw_lua_camp_scan);
    cs->s_push = gw_redis_script_add(redis, "camp_push", gw_lua_camp_push);
    cs->s_migrate = gw_redis_script_add(redis, "idx_migrate", gw_lua_idx_migrate);
    cs->to_migrate = -1;
    cs->resume = event_new(base, -1, EV_PERSIST, on_resume_tick, cs);
    struct timeval every = {RESUME_EVERY_S, 0};
    if (cs->s_scan == NULL || cs->s_push == NULL || cs->s_migrate == NULL || cs->resume == NULL ||
        event_add(cs->resume, &every) != 0) {
        if (cs->resume != NULL)
            event_free(cs->resume);
        free(cs);
        return NULL;
    }
    return cs;
}

void gw_campaigns_free(gw_campaigns *cs)
{
    if (cs == NULL)
        return;
    /* Jobs still walking: their fan-outs resume in the next daemon. */
    cs->stopping = 1;
    while (cs->running != NULL)
        job_finish(cs->running, "the daemon stopped; the fan-out resumes when one is running");
    event_free(cs->resume);
    free(cs);
}

char *gw_campaigns_render(const q_claimed *c, size_t *len, int *ucs2, void *arg)
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
                            NULL);
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
    /* measured with a reference of the usual width */
    int len = snprintf(data, sizeof data,
                       "%s\x1f%s\x1f%s\x1f%04d-%02d-%02d\x1f" "BA00000000-000000", p->name,
                       p->language, incident_kind, deadline.y, deadline.m, deadline.d);
    if (len > 0 && (size_t)len < sizeof data) {
        char *t = gw_reminder_text(*cs->tpl, cs->cfg, kind, NULL, data, (size_t)len, NULL, NULL,
                                   &seg);
        free(t);
    }
    return seg;
}

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
    int kidx;                     /* place: which of them now */
    char cursor[32];
    int started;                  /* list: walked from the start */
    int64_t carry_paid;           /* the paid, counted at the start, for the first chunk */
    char today[32];
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

static void job_token(gw_campaigns *cs, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%u", cs->owner, ++cs->jobs);
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

static void memo_free(seg_memo *m)
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

/* The SMS parts of J's text for the person whose fields are DATA. */
static int person_segments(camp_job *j, const char *data, size_t len)
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

static void job_free(camp_job *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else if (j->cs->running == j)
        j->cs->running = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    for (size_t i = 0; i < j->nids; i++)
        free(j->ids[i]);
    free(j->ids);
    free(j->text);
    free(j->tkey);
    free(j->body);
    memo_free(j->memo);
    free(j);
}

static void job_finish(camp_job *j, const char *error)
{
    if (j->seen[0] != '\0' && !j->cs->stopping)
        gw_redis_command(j->cs->redis, NULL, NULL, "DEL %s", j->seen);
    j->res.error = error;
    j->res.send_at_ms = j->due_ms;
    if (j->cb != NULL)
        j->cb(&j->res, j->arg);
    else if (error != NULL)
        gw_error("campaign", "campaign %s: resumed fan-out stopped: %s", j->res.id, error);
    else
        gw_info("campaign", "campaign %s: resumed fan-out finished", j->res.id);
    job_free(j);
}

static void next_chunk(camp_job *j);
static void on_scan(gw_redis *r, redisReply *reply, void *arg);
static int send_scan(camp_job *j);

/* The end of a start: the campaign is running (unless it was cancelled
 * meanwhile) and its fan-out is no longer anyone's. */
static void on_done(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    job_finish(j, reply == NULL || reply->type == REDIS_REPLY_ERROR
                      ? "Redis did not record the end of the fan-out" : NULL);
}

static const char done_lua[] =
    "if redis.call('HGET', KEYS[1], 'state') == 'fanning_out' then "
    "  redis.call('HSET', KEYS[1], 'state', 'running') end "
    "redis.call('HSET', KEYS[1], 'walked', '1') "
    "redis.call('SREM', 'gw:{q}:camp:fanning', ARGV[1]) "
    "if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end "
    "redis.call('DEL', KEYS[3]) "
    "return 1";

static void finish_start(camp_job *j)
{
    char ck[64], ok[72], lk[72];
    snprintf(ck, sizeof ck, "gw:{q}:camp:%s", j->res.id);
    snprintf(ok, sizeof ok, "gw:{q}:camp:%s:owner", j->res.id);
    snprintf(lk, sizeof lk, "gw:{q}:camp:%s:ids", j->res.id);
    if (gw_redis_command(j->cs->redis, on_done, j, "EVAL %s 3 %s %s %s %s %s", done_lua, ck, ok,
                         lk, j->res.id, j->owner) != 0)
        job_finish(j, "Redis went away during the fan-out");
}

static void on_push(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        gw_error("campaign", "campaign %s: queuing a chunk failed: %s", j->res.id,
                 reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : "no answer");
        /* left to whichever daemon resumes it once the owner mark runs out */
        job_finish(j, "Redis did not queue part of the campaign; it resumes by itself "
                      "when Redis is back (GET it to follow)");
        return;
    }
    long long n = reply->element[0]->integer;
    if (n == -1) {
        j->res.cancelled = 1;
        finish_start(j);
        return;
    }
    if (n < 0) {
        job_finish(j, "another daemon took the fan-out over; GET the campaign to follow it");
        return;
    }
    j->res.recipients += n;
    if (reply->elements > 1 && reply->element[1]->type == REDIS_REPLY_INTEGER)
        j->res.duplicate += reply->element[1]->integer;
    if (reply->elements > 3 && reply->element[3]->type == REDIS_REPLY_INTEGER)
        j->res.segments_total += reply->element[3]->integer;
    next_chunk(j);
}

/* A new job of CS, on its list (freed with it if the daemon stops first). */
static camp_job *job_new(gw_campaigns *cs)
{
    camp_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->cs = cs;
    j->next = cs->running;
    if (cs->running != NULL)
        cs->running->prev = j;
    cs->running = j;
    return j;
}

static const char *str_el(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? r->str : "";
}

/* 1 when nothing is left to walk. */
static int walk_done(const camp_job *j)
{
    switch (j->source[0]) {
    case 'i':
        return j->next_id >= j->nids;
    case 'p':
        return j->classes[j->kidx] == '\0';
    default:
        return j->started && strcmp(j->cursor, "0") == 0;
    }
}

static void on_scan(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 7 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        gw_error("campaign", "walking the roster failed: %s",
                 reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : "no answer");
        job_finish(j, j->dry ? "Redis did not answer while walking the roster"
                             : "Redis did not answer while walking the roster; the fan-out "
                               "resumes by itself when Redis is back (GET it to follow)");
        return;
    }
    snprintf(j->cursor, sizeof j->cursor, "%s", reply->element[0]->str);
    if (j->source[0] == 'p' && strcmp(j->cursor, "0") == 0)
        j->kidx++;              /* this class is walked: the next one */
    /* A dry run asks for its next chunk before counting this one, so that
     * Redis walks while the daemon writes texts to count their parts. */
    int more = 0, lost = 0;
    if (j->dry && !walk_done(j)) {
        more = 1;
        lost = send_scan(j) != 0;
    }
    const redisReply *list = reply->element[1];
    long long skips[5];
    for (int k = 0; k < 5; k++)
        skips[k] = reply->element[2 + k]->type == REDIS_REPLY_INTEGER
                   ? reply->element[2 + k]->integer : 0;
    j->res.paid += skips[0];
    j->res.opted_out += skips[1];
    j->res.no_phone += skips[2];
    j->res.duplicate += skips[3];
    j->res.unknown += skips[4];
    size_t n = list->elements / 4;
    const char **argv = NULL;
    char (*segs)[8] = NULL;
    char counts[5][24];
    if (!j->dry) {
        argv = calloc(PUSH_HEAD + 4 * n, sizeof *argv);
        segs = calloc(n > 0 ? n : 1, sizeof *segs);
        if (argv == NULL || segs == NULL) {
            free(argv);
            free(segs);
            job_finish(j, "out of memory; the fan-out resumes by itself");
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *const *e = list->element + 4 * i;
        int seg = j->text_segments;
        if (seg == 0)
            seg = e[3]->type == REDIS_REPLY_STRING ? person_segments(j, e[3]->str, e[3]->len) : 1;
        if (seg > j->res.segments_per_message)
            j->res.segments_per_message = seg;
        if (j->dry) {
            j->res.recipients++;
            j->res.segments_total += seg;
            continue;
        }
        snprintf(segs[i], sizeof segs[i], "%d", seg);
        argv[PUSH_HEAD + 4 * i] = str_el(e[0]);
        argv[PUSH_HEAD + 4 * i + 1] = str_el(e[1]);
        argv[PUSH_HEAD + 4 * i + 2] = segs[i];
        argv[PUSH_HEAD + 4 * i + 3] = str_el(e[2]);
    }
    if (j->dry) {
        if (lost)
            job_finish(j, "Redis went away while walking the roster");
        else if (!more)
            job_finish(j, NULL);
        return;
    }
    /* Every chunk is recorded, with or without recipients: its skips and the
     * cursor a resumed fan-out starts from. */
    char kind[2] = {j->kind, '\0'}, due[24], ttl[24], owner_ms[16], now_s[24];
    snprintf(due, sizeof due, "%" PRId64, j->due_ms / 1000);
    snprintf(now_s, sizeof now_s, "%" PRId64, gw_clock_now_ms() / 1000);
    snprintf(ttl, sizeof ttl, "%" PRId64, j->pend_ttl_s);
    snprintf(owner_ms, sizeof owner_ms, "%d", OWNER_MS);
    skips[0] += j->carry_paid;
    j->carry_paid = 0;
    for (int k = 0; k < 5; k++)
        snprintf(counts[k], sizeof counts[k], "%lld", skips[k]);
    char cursor[48];
    if (j->source[0] == 'p')
        snprintf(cursor, sizeof cursor, "%d:%s", j->kidx, j->cursor);
    else
        snprintf(cursor, sizeof cursor, "%s", j->cursor);
    const char *head[PUSH_HEAD] = {j->res.id, kind,      due,       j->bid,    ttl,
                                   cursor,    j->owner,  owner_ms,  walk_done(j) ? "1" : "0",
                                   counts[0], counts[1], counts[2], counts[4], counts[3],
                                   now_s};
    memcpy(argv, head, sizeof head);
    int rc = gw_redis_eval(j->cs->redis, j->cs->s_push, on_push, j, 0, (int)(PUSH_HEAD + 4 * n),
                           argv, NULL);
    free(argv);
    free(segs);
    if (rc != 0)
        job_finish(j, "Redis went away; the fan-out resumes by itself when it is back");
}

/* Sends the walk's next chunk. Returns 0, or -1 (out of memory, Redis down). */
static int send_scan(camp_job *j)
{
    int chunk = j->dry ? GW_CAMPAIGN_CHUNK_DRY : GW_CAMPAIGN_CHUNK;
    j->started = 1;
    size_t nids = 0;
    if (j->source[0] == 'i') {
        nids = j->nids - j->next_id;
        if (nids > (size_t)chunk)
            nids = (size_t)chunk;
    }
    const char **argv = calloc(11 + nids, sizeof *argv);
    if (argv == NULL)
        return -1;
    char kind[2] = {j->kind, '\0'}, count[16], ttl[16], now_s[24];
    snprintf(now_s, sizeof now_s, "%" PRId64, gw_clock_now_ms() / 1000);
    snprintf(count, sizeof count, "%d", chunk);
    snprintf(ttl, sizeof ttl, "%d", 3600);
    char key[300];
    if (j->source[0] == 'p')
        snprintf(key, sizeof key, "%c\x1e%s", j->classes[j->kidx], j->key);
    else
        snprintf(key, sizeof key, "%s", j->key);
    argv[0] = kind;
    argv[1] = j->source;
    argv[2] = key;
    argv[3] = j->cursor;
    argv[4] = count;
    argv[5] = j->res.id;
    argv[6] = j->today;
    argv[7] = j->tag;
    argv[8] = j->seen;
    argv[9] = ttl;
    argv[10] = now_s;
    for (size_t i = 0; i < nids; i++)
        argv[11 + i] = j->ids[j->next_id + i];
    j->next_id += nids;
    int rc = gw_redis_eval(j->cs->redis, j->cs->s_scan, on_scan, j, 0, (int)(11 + nids), argv,
                           NULL);
    free(argv);
    return rc;
}

static void next_chunk(camp_job *j)
{
    if (walk_done(j)) {
        if (j->dry)
            job_finish(j, NULL);
        else
            finish_start(j);
        return;
    }
    if (send_scan(j) != 0)
        job_finish(j, j->dry ? "Redis is not reachable"
                             : "Redis went away; the fan-out resumes by itself when it is back");
}

static void on_paid(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        gw_error("campaign", "counting the paid: %s", reply->str);
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
        j->res.paid += reply->integer;
        j->carry_paid = reply->integer;
    }
    next_chunk(j);
}

/* Walks the roster; an unpaid reminder to everyone first counts the paid
 * (HLEN of their hash) without reading them one by one; over a township or
 * village the walk counts them (classes "up"). */
static void begin_walk(camp_job *j)
{
    if (j->source[0] == 'p' && j->kind == 'u' && strcmp(j->classes, "u") == 0 &&
        gw_redis_command(j->cs->redis, on_paid, j, "HLEN gw:pt:p") == 0)
        return;
    next_chunk(j);
}

/* The record is written, the body and the id list stored, the fan-out is
 * ours: walk the roster. */
static void on_record(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        job_finish(j, "Redis did not store the campaign");
        return;
    }
    for (size_t i = 0; i < j->nids; i++)
        free(j->ids[i]);
    free(j->ids);
    j->ids = NULL;
    j->nids = 0;
    begin_walk(j);
}

static void on_id(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        job_finish(j, "Redis did not give the campaign an id");
        return;
    }
    snprintf(j->res.id, sizeof j->res.id, "%lld", (long long)reply->integer);
    snprintf(j->bid, sizeof j->bid, "c%s", j->res.id);
    char ck[64], bk[64], ok[72], created[24], send_at[24], kind[2] = {j->kind, '\0'}, bttl[24];
    char pttl[24], owner_ms[16];
    snprintf(ck, sizeof ck, "gw:{q}:camp:%s", j->res.id);
    snprintf(bk, sizeof bk, "gw:{q}:body:%s", j->bid);
    snprintf(ok, sizeof ok, "gw:{q}:camp:%s:owner", j->res.id);
    snprintf(created, sizeof created, "%" PRId64, gw_clock_now_ms());
    snprintf(send_at, sizeof send_at, "%" PRId64, j->due_ms);
    snprintf(bttl, sizeof bttl, "%" PRId64, j->pend_ttl_s + Q_RECORD_TTL_S);
    snprintf(pttl, sizeof pttl, "%" PRId64, j->pend_ttl_s);
    snprintf(owner_ms, sizeof owner_ms, "%d", OWNER_MS);
    if (j->ids != NULL) {
        snprintf(j->source, sizeof j->source, "list");
        snprintf(j->key, sizeof j->key, "gw:{q}:camp:%s:ids", j->res.id);
    }
    const char *filter = j->ids != NULL ? "participant_ids" : j->key;
    /* One transaction: the record, the body, the id list, the owner mark and
     * the set of fan-outs under way; a resumed fan-out finds all it needs. */
    gw_redis *rd = j->cs->redis;
    job_token(j->cs, j->owner, sizeof j->owner);
    if (gw_redis_command(rd, NULL, NULL, "MULTI") != 0) {
        job_finish(j, "Redis went away");
        return;
    }
    int rc = gw_redis_command(rd, NULL, NULL, "SET %s %b EX %s", bk, j->body, j->body_len, bttl);
    if (rc == 0)
        rc = gw_redis_command(rd, NULL, NULL,
                              "HSET %s id %s kind %s state fanning_out created_ms %s "
                              "send_at_ms %s filter %s text %s template %s queued 0 sent 0 "
                              "delivered 0 failed 0 skipped 0 recipients 0 source %s key %s "
                              "classes %s cursor 0 tag %s bid %s pend_ttl_s %s",
                              ck, j->res.id, kind, created, send_at, filter,
                              j->text != NULL ? j->text : "", j->tkey != NULL ? j->tkey : "",
                              j->source, j->key, j->classes[0] ? j->classes : "-", j->tag,
                              j->bid, pttl);
    for (size_t i = 0; j->ids != NULL && i < j->nids && rc == 0; i += 1000) {
        size_t m = j->nids - i < 1000 ? j->nids - i : 1000;
        const char *argv[1002];
        argv[0] = "RPUSH";
        argv[1] = j->key;
        for (size_t k = 0; k < m; k++)
            argv[2 + k] = j->ids[i + k];
        rc = gw_redis_argv(rd, NULL, NULL, (int)(2 + m), argv, NULL);
    }
    if (rc == 0)
        rc = gw_redis_command(rd, NULL, NULL, "SET %s %s PX %s", ok, j->owner, owner_ms);
    if (rc == 0)
        rc = gw_redis_command(rd, NULL, NULL, "SADD gw:{q}:camp:fanning %s", j->res.id);
    if (rc == 0)
        rc = gw_redis_command(rd, on_record, j, "EXEC");
    if (rc != 0) {
        gw_redis_command(rd, NULL, NULL, "DISCARD");   /* fails harmlessly when Redis is gone */
        job_finish(j, "Redis went away");
    }
}

/* A dry run walks; a start first takes an id and writes its record. */
static int job_start(camp_job *j)
{
    if (j->dry) {
        begin_walk(j);
        return 0;
    }
    return gw_redis_command(j->cs->redis, on_id, j, "INCR gw:{q}:camp:seq");
}

/* Participants (or old keys) per call of idx_migrate.lua. */
#define MIGRATE_CHUNK 500

static void migrate_step(gw_campaigns *cs);

static void on_checked(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        job_finish(j, "Redis did not answer");
        return;
    }
    if (reply->integer > 0) {
        j->res.upgrading = 1;
        migrate_step(j->cs);
        job_finish(j, "the roster's indexes are being upgraded after an update of the gateway; "
                      "try again in a minute (nothing was done)");
        return;
    }
    j->cs->to_migrate = 0;
    gw_store_old_moved();
    if (job_start(j) != 0)
        job_finish(j, "Redis went away");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void hash_tag(const char *s, char out[16])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s, strlen(s), md);
    for (int i = 0; i < 6; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int gw_campaign_run(gw_campaigns *cs, const gw_campaign_spec *spec, gw_campaign_cb *cb,
                    void *arg)
{
    if (!gw_redis_up(cs->redis))
        return -1;
    if (cs->to_migrate > 0)
        return -2;                /* the walk would miss who is not moved yet */
    camp_job *j = job_new(cs);
    if (j == NULL)
        return -1;
    j->cb = cb;
    j->arg = arg;
    j->kind = spec->kind;
    j->dry = spec->dry_run;
    j->text = dup_or_null(spec->text);
    j->tkey = dup_or_null(spec->template_key);
    snprintf(j->cursor, sizeof j->cursor, "0");
    if (spec->nids > 0) {
        snprintf(j->source, sizeof j->source, "ids");
        j->ids = calloc(spec->nids, sizeof *j->ids);
        if (j->ids == NULL)
            goto oom;
        for (size_t i = 0; i < spec->nids; i++) {
            if ((j->ids[i] = strdup(spec->ids[i])) == NULL)
                goto oom;
            j->nids++;
        }
        /* an id given twice is one recipient, in the dry run as in the start */
        qsort(j->ids, j->nids, sizeof *j->ids, cmp_str);
        size_t u = 0;
        for (size_t i = 0; i < j->nids; i++) {
            if (u > 0 && strcmp(j->ids[u - 1], j->ids[i]) == 0)
                free(j->ids[i]);
            else
                j->ids[u++] = j->ids[i];
        }
        j->nids = u;
    } else {
        snprintf(j->source, sizeof j->source, "place");
        snprintf(j->key, sizeof j->key, "%s\x1e%s", spec->township != NULL ? spec->township : "",
                 spec->village != NULL ? spec->village : "");
        /* an unpaid reminder reaches only the unpaid (and over a place walks
         * the paid to count them); the others everyone */
        snprintf(j->classes, sizeof j->classes, "%s",
                 spec->kind != 'u' ? "upo" : spec->township != NULL ? "up" : "u");
    }
    int64_t now = gw_clock_now_ms();
    gw_clock_ymd(now, j->today, sizeof j->today);
    int64_t due = spec->send_at_ms > now ? spec->send_at_ms : now;
    j->due_ms = gw_window_next(due, cs->cfg->send_window_start_min,
                               cs->cfg->send_window_end_min);
    j->pend_ttl_s = (j->due_ms - now) / 1000 + (int64_t)cs->cfg->min_interval_hours * 3600 +
                    86400;
    /* The body every message of the campaign shares. */
    if (spec->text != NULL) {
        tpl_sms info;
        char *ready = tpl_sms_prepare(cs->cfg->sms_signature, spec->text, strlen(spec->text),
                                      &info);
        if (ready == NULL)
            goto oom;
        j->body_len = strlen(ready) + 1;
        j->body = malloc(j->body_len);
        if (j->body == NULL) {
            free(ready);
            goto oom;
        }
        j->body[0] = info.ucs2 ? 'u' : 'g';
        memcpy(j->body + 1, ready, j->body_len - 1);
        j->text_segments = info.segments;
        hash_tag(ready, j->tag);
        free(ready);
    } else {
        const char *k = spec->template_key != NULL ? spec->template_key
                        : spec->kind == 'c'        ? "claim_reminder"
                                                   : "unpaid_reminder";
        j->body_len = strlen(k) + 1;
        j->body = malloc(j->body_len);
        if (j->body == NULL)
            goto oom;
        j->body[0] = 't';
        memcpy(j->body + 1, k, j->body_len - 1);
        if (spec->kind == 'n')
            hash_tag(k, j->tag);
    }
    if (j->dry && spec->kind == 'n')
        snprintf(j->seen, sizeof j->seen, "gw:{q}:seen:%" PRId64 ":%08x", now,
                 (unsigned)rand());
    if (cs->to_migrate < 0) {
        /* not known yet whether anything an older version kept is left: a
         * step of the move answers (and ends it when little is left) */
        char chunk[16], now_s[24];
        snprintf(chunk, sizeof chunk, "%d", MIGRATE_CHUNK);
        snprintf(now_s, sizeof now_s, "%" PRId64, gw_clock_now_ms() / 1000);
        const char *argv[] = {chunk, now_s};
        if (gw_redis_eval(cs->redis, cs->s_migrate, on_checked, j, 0, 2, argv, NULL) != 0) {
            job_free(j);
            return -1;
        }
        return 0;
    }
    if (job_start(j) != 0) {
        job_free(j);
        return -1;
    }
    return 0;
oom:
    job_free(j);
    return -1;
}

/* ---- resuming a fan-out cut short ---- */

typedef struct orphan {
    gw_campaigns *cs;
    char id[24];
    char owner[112];              /* the token the take-over is marked with */
} orphan;

/* The record of a fan-out this process now owns: carry on from its cursor. */
static void on_orphan(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    orphan *o = arg;
    gw_campaigns *cs = o->cs;
    char token[112];
    snprintf(token, sizeof token, "%s", o->owner);
    free(o);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2)
        return;
    const char *id = gw_reply_field(reply, "id"), *kind = gw_reply_field(reply, "kind");
    const char *source = gw_reply_field(reply, "source"), *key = gw_reply_field(reply, "key");
    const char *cursor = gw_reply_field(reply, "cursor"), *bid = gw_reply_field(reply, "bid");
    const char *state = gw_reply_field(reply, "state"), *walked = gw_reply_field(reply, "walked");
    if (id == NULL || kind == NULL || source == NULL || key == NULL || cursor == NULL ||
        bid == NULL || state == NULL)
        return;
    camp_job *j = job_new(cs);
    if (j == NULL)
        return;
    snprintf(j->owner, sizeof j->owner, "%s", token);
    j->kind = kind[0];
    snprintf(j->res.id, sizeof j->res.id, "%s", id);
    snprintf(j->source, sizeof j->source, "%s", source);
    snprintf(j->key, sizeof j->key, "%s", key);
    const char *classes = gw_reply_field(reply, "classes"), *colon = strchr(cursor, ':');
    int fresh = 0;                /* no chunk recorded yet: the walk starts over */
    if (strcmp(j->source, "set") == 0) {
        /* an older version's fan-out, over its place sets: this version's
         * walk of the same place starts over (pending marks keep anyone
         * queued already from being queued twice) */
        const char *vl = strncmp(key, "gw:idx:vl:", 10) == 0 ? strchr(key + 10, '\x1f') : NULL;
        if (vl != NULL)
            snprintf(j->key, sizeof j->key, "%.*s\x1e%s", (int)(vl - key - 10), key + 10, vl + 1);
        else if (strncmp(key, "gw:idx:tw:", 10) == 0)
            snprintf(j->key, sizeof j->key, "%s\x1e", key + 10);
        else
            snprintf(j->key, sizeof j->key, "\x1e");
        snprintf(j->source, sizeof j->source, "place");
        snprintf(j->classes, sizeof j->classes, "%s", j->kind == 'u' ? "u" : "upo");
        snprintf(j->cursor, sizeof j->cursor, "0");
    } else if (j->source[0] == 'p') {
        snprintf(j->classes, sizeof j->classes, "%s", classes != NULL ? classes : "upo");
        /* "KIDX:CURSOR": KIDX is one digit (at most three classes) */
        int k = colon == cursor + 1 && cursor[0] >= '0' && cursor[0] <= '9' ? cursor[0] - '0' : 0;
        j->kidx = (size_t)k <= strlen(j->classes) ? k : 0;
        snprintf(j->cursor, sizeof j->cursor, "%s", colon != NULL ? colon + 1 : "0");
        fresh = colon == NULL;    /* "0": the first chunk never went */
    } else {
        snprintf(j->cursor, sizeof j->cursor, "%s", cursor);
    }
    snprintf(j->bid, sizeof j->bid, "%s", bid);
    const char *tag = gw_reply_field(reply, "tag"), *tkey = gw_reply_field(reply, "template");
    const char *text = gw_reply_field(reply, "text");
    snprintf(j->tag, sizeof j->tag, "%s", tag != NULL ? tag : "");
    if (tkey != NULL && tkey[0] != '\0')
        j->tkey = strdup(tkey);
    if (text != NULL && text[0] != '\0') {
        tpl_sms info;
        char *ready = tpl_sms_prepare(cs->cfg->sms_signature, text, strlen(text), &info);
        j->text_segments = ready != NULL ? info.segments : 1;
        free(ready);
    }
    const char *due = gw_reply_field(reply, "send_at_ms"), *pttl = gw_reply_field(reply, "pend_ttl_s");
    j->due_ms = due != NULL ? strtoll(due, NULL, 10) : gw_clock_now_ms();
    j->pend_ttl_s = pttl != NULL ? strtoll(pttl, NULL, 10) : 86400;
    gw_clock_ymd(gw_clock_now_ms(), j->today, sizeof j->today);
    /* A list's cursor of 0 is its start, unless the last chunk was recorded. */
    j->started = walked != NULL && strcmp(walked, "1") == 0;
    if (j->started && j->source[0] == 'p')
        j->kidx = (int)strlen(j->classes);
    gw_warn("campaign", "campaign %s: resuming a fan-out cut short (%s), from cursor %s", id,
            strcmp(state, "fanning_out") == 0 ? "its daemon stopped" : state, cursor);
    if (fresh && !j->started)
        begin_walk(j);          /* its paid were not counted yet either */
    else
        next_chunk(j);
}


static void on_owned(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    orphan *o = arg;
    if (reply != NULL && reply->type == REDIS_REPLY_STATUS &&   /* "OK": ours now */
        gw_redis_command(o->cs->redis, on_orphan, o, "HGETALL gw:{q}:camp:%s", o->id) == 0)
        return;
    free(o);
}

static void on_fanning(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    gw_campaigns *cs = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements && i < 64; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > 20)
            continue;
        orphan *o = malloc(sizeof *o);
        if (o == NULL)
            return;
        o->cs = cs;
        snprintf(o->id, sizeof o->id, "%s", e->str);
        job_token(cs, o->owner, sizeof o->owner);
        char owner_ms[16];
        snprintf(owner_ms, sizeof owner_ms, "%d", OWNER_MS);
        if (gw_redis_command(cs->redis, on_owned, o, "SET gw:{q}:camp:%s:owner %s NX PX %s",
                             o->id, o->owner, owner_ms) != 0)
            free(o);
    }
}

/* ---- moving a roster kept by an older version ---- */


static void migrate_step(gw_campaigns *cs);

static void on_migrated(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    gw_campaigns *cs = arg;
    cs->migrating = 0;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
            gw_error("campaign", "moving the roster: %s", reply->str);
        return;                   /* tried again at the next tick */
    }
    long long left = reply->integer;
    if (cs->to_migrate < 0 && left > 0)
        gw_warn("campaign", "the roster was kept by an older version: moving it to this "
                "version's form (%lld participants still to go); campaigns wait until it is "
                "done, everything else reads both forms meanwhile", left);
    if (cs->to_migrate > 0 && left == 0)
        gw_info("campaign", "the roster is moved");
    if (left == 0)
        gw_store_old_moved();
    cs->to_migrate = left;
    if (left > 0)
        migrate_step(cs);
}

/* One chunk; the next goes when it is answered (Redis stays free between). */
static void migrate_step(gw_campaigns *cs)
{
    char n[16], now_s[24];
    snprintf(n, sizeof n, "%d", MIGRATE_CHUNK);
    snprintf(now_s, sizeof now_s, "%" PRId64, gw_clock_now_ms() / 1000);
    const char *argv[] = {n, now_s};
    if (!cs->migrating && gw_redis_up(cs->redis) &&
        gw_redis_eval(cs->redis, cs->s_migrate, on_migrated, cs, 0, 2, argv, NULL) == 0)
        cs->migrating = 1;
}

/* Every few seconds: a fan-out whose owner mark ran out (its daemon died,
 * or lost Redis mid-way) is taken over by whichever daemon marks it first;
 * but until it is known that nothing is kept the old way, the move goes on
 * instead. */
static void on_resume_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_campaigns *cs = arg;
    if (!gw_redis_up(cs->redis))
        return;
    if (cs->to_migrate != 0) {
        /* a fan-out resumed now could miss who is not moved yet */
        migrate_step(cs);
        return;
    }
    gw_redis_command(cs->redis, on_fanning, cs, "SMEMBERS gw:{q}:camp:fanning");
}
