/* gw_campaign.c - reminders' texts and times, and campaigns' fan-out (see
 * gw_campaign.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "gw_calendar.h"
#include "gw_campaign.h"
#include "gw_clock.h"
#include "gw_config.h"
#include "gw_format.h"
#include "gw_log.h"
#include "gw_participant.h"
#include "gw_redis.h"
#include "gw_sender.h"
#include "gw_texts.h"
#include "gw_window.h"
#include "tpl.h"

extern const char gw_lua_camp_scan[];
extern const char gw_lua_camp_push[];

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
    time_t now = (time_t)(gw_clock_now_ms() / 1000);
    struct tm tm;
    localtime_r(&now, &tm);
    return tm.tm_year + 1900;
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
            p.contribution_year = atoi(f[2]);
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
    } else if ((kind == 'c' || kind == 'l') && nf >= 5) {
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

struct gw_campaigns {
    struct event_base *base;
    const gw_config *cfg;
    gw_redis *redis;
    tpl_set **tpl;
    gw_sender *sender;
    gw_redis_script *s_scan, *s_push;
};

gw_campaigns *gw_campaigns_new(struct event_base *base, const gw_config *cfg, gw_redis *redis,
                               tpl_set **tpl, gw_sender *sender)
{
    gw_campaigns *cs = calloc(1, sizeof *cs);
    if (cs == NULL)
        return NULL;
    cs->base = base;
    cs->cfg = cfg;
    cs->redis = redis;
    cs->tpl = tpl;
    cs->sender = sender;
    cs->s_scan = gw_redis_script_add(redis, "camp_scan", gw_lua_camp_scan);
    cs->s_push = gw_redis_script_add(redis, "camp_push", gw_lua_camp_push);
    if (cs->s_scan == NULL || cs->s_push == NULL) {
        free(cs);
        return NULL;
    }
    return cs;
}

void gw_campaigns_free(gw_campaigns *cs)
{
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
    if (p->contribution_paid_fen > 0 || p->phone[0] == '\0' || p->contribution_due[0] == '\0' ||
        cfg->unpaid_offsets_count == 0)
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
    gw_campaign_cb *cb;
    void *arg;
    char kind;
    int dry;
    char *township, *village, *text, *tkey;
    char **ids;
    size_t nids, next_id;
    char source[4];               /* "set" or "ids" */
    char key[256];                /* the roster index walked */
    char cursor[32];
    int started;
    char today[32];
    char tag[16];                 /* kind n: the text's hash */
    char seen[64];                /* kind n, dry run: phones counted */
    char bid[32];
    char *body;                   /* 'g'|'u'|'t' + text or template name */
    size_t body_len;
    int text_segments;            /* a text for everyone: its segments */
    int64_t due_ms;
    int64_t pend_ttl_s;
    gw_campaign_result res;
} camp_job;

static void job_free(camp_job *j)
{
    for (size_t i = 0; i < j->nids; i++)
        free(j->ids[i]);
    free(j->ids);
    free(j->township);
    free(j->village);
    free(j->text);
    free(j->tkey);
    free(j->body);
    free(j);
}

static void job_finish(camp_job *j, const char *error)
{
    j->res.error = error;
    j->res.send_at_ms = j->due_ms;
    j->cb(&j->res, j->arg);
    job_free(j);
}

static void next_chunk(camp_job *j);

/* The end of a start: the counts of the fan-out go into the record and the
 * campaign is running (unless it was cancelled meanwhile). */
static void on_done(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    job_finish(j, reply == NULL || reply->type == REDIS_REPLY_ERROR
                      ? "Redis did not record the end of the fan-out" : NULL);
}

static void finish_start(camp_job *j)
{
    char ck[64], paid[24], opt[24], nop[24], dup[24], unk[24], segt[24], segm[16];
    snprintf(ck, sizeof ck, "gw:{q}:camp:%s", j->res.id);
    snprintf(paid, sizeof paid, "%" PRId64, j->res.paid);
    snprintf(opt, sizeof opt, "%" PRId64, j->res.opted_out);
    snprintf(nop, sizeof nop, "%" PRId64, j->res.no_phone);
    snprintf(dup, sizeof dup, "%" PRId64, j->res.duplicate);
    snprintf(unk, sizeof unk, "%" PRId64, j->res.unknown);
    snprintf(segt, sizeof segt, "%" PRId64, j->res.segments_total);
    snprintf(segm, sizeof segm, "%d", j->res.segments_per_message);
    if (gw_redis_command(j->cs->redis, on_done, j,
                         "EVAL %s 1 %s %s %s %s %s %s %s %s",
                         "if redis.call('HGET', KEYS[1], 'state') == 'fanning_out' then "
                         "redis.call('HSET', KEYS[1], 'state', 'running') end "
                         "redis.call('HSET', KEYS[1], 'skipped_paid', ARGV[1], "
                         "'skipped_opted_out', ARGV[2], 'skipped_no_phone', ARGV[3], "
                         "'skipped_duplicate', ARGV[4], 'unknown', ARGV[5], "
                         "'segments_total', ARGV[6], 'segments_per_message', ARGV[7]) "
                         "return 1",
                         ck, paid, opt, nop, dup, unk, segt, segm) != 0)
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
        job_finish(j, "Redis did not queue part of the campaign; GET it to see what was queued");
        return;
    }
    if (reply->element[0]->integer < 0) {
        j->res.cancelled = 1;
        finish_start(j);
        return;
    }
    j->res.recipients += reply->element[0]->integer;
    if (reply->elements > 1 && reply->element[1]->type == REDIS_REPLY_INTEGER)
        j->res.duplicate += reply->element[1]->integer;
    next_chunk(j);
}

static const char *str_el(const redisReply *r, size_t *len)
{
    if (r->type != REDIS_REPLY_STRING)
        return NULL;
    *len = r->len;
    return r->str;
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
        if (!j->dry && j->res.id[0] != '\0')
            finish_start(j);   /* keep what was queued, say so */
        else
            job_finish(j, "Redis did not answer while walking the roster");
        return;
    }
    snprintf(j->cursor, sizeof j->cursor, "%s", reply->element[0]->str);
    const redisReply *list = reply->element[1];
    j->res.paid += reply->element[2]->integer;
    j->res.opted_out += reply->element[3]->integer;
    j->res.no_phone += reply->element[4]->integer;
    j->res.duplicate += reply->element[5]->integer;
    j->res.unknown += reply->element[6]->integer;
    size_t n = list->elements / 4;
    const char **argv = NULL;
    char (*segs)[8] = NULL;
    if (!j->dry && n > 0) {
        argv = calloc(6 + 4 * n, sizeof *argv);
        segs = calloc(n, sizeof *segs);
        if (argv == NULL || segs == NULL) {
            free(argv);
            free(segs);
            finish_start(j);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *const *e = list->element + 4 * i;
        size_t dlen = 0, l;
        const char *data = str_el(e[3], &dlen);
        int seg = j->text_segments;
        if (seg == 0) {
            seg = 1;
            char *t = data != NULL ? gw_reminder_text(*j->cs->tpl, j->cs->cfg, j->kind, j->tkey,
                                                      data, dlen, NULL, NULL, &seg)
                                   : NULL;
            free(t);
        }
        if (seg > j->res.segments_per_message)
            j->res.segments_per_message = seg;
        j->res.segments_total += seg;
        if (j->dry) {
            j->res.recipients++;
            continue;
        }
        snprintf(segs[i], sizeof segs[i], "%d", seg);
        argv[6 + 4 * i] = str_el(e[0], &l);
        argv[6 + 4 * i + 1] = str_el(e[1], &l);
        argv[6 + 4 * i + 2] = segs[i];
        argv[6 + 4 * i + 3] = str_el(e[2], &l);
        for (int k = 0; k < 4; k++)
            if (argv[6 + 4 * i + k] == NULL)
                argv[6 + 4 * i + k] = "";
    }
    if (j->dry || n == 0) {
        free(argv);
        free(segs);
        next_chunk(j);
        return;
    }
    char kind[2] = {j->kind, '\0'}, due[24], ttl[24];
    snprintf(due, sizeof due, "%" PRId64, j->due_ms / 1000);
    snprintf(ttl, sizeof ttl, "%" PRId64, j->pend_ttl_s);
    argv[0] = j->res.id;
    argv[1] = kind;
    argv[2] = due;
    argv[3] = j->bid;
    argv[4] = ttl;
    argv[5] = j->cursor;
    int rc = gw_redis_eval(j->cs->redis, j->cs->s_push, on_push, j, 0, (int)(6 + 4 * n), argv,
                           NULL);
    free(argv);
    free(segs);
    if (rc != 0)
        finish_start(j);
}

static void next_chunk(camp_job *j)
{
    int done = j->source[0] == 's' ? (j->started && strcmp(j->cursor, "0") == 0)
                                   : j->next_id >= j->nids;
    if (done) {
        if (j->dry)
            job_finish(j, NULL);
        else
            finish_start(j);
        return;
    }
    j->started = 1;
    size_t nids = 0;
    if (j->source[0] == 'i') {
        nids = j->nids - j->next_id;
        if (nids > GW_CAMPAIGN_CHUNK)
            nids = GW_CAMPAIGN_CHUNK;
    }
    const char **argv = calloc(10 + nids, sizeof *argv);
    if (argv == NULL) {
        job_finish(j, "out of memory");
        return;
    }
    char kind[2] = {j->kind, '\0'}, count[16], ttl[16];
    snprintf(count, sizeof count, "%d", GW_CAMPAIGN_CHUNK);
    snprintf(ttl, sizeof ttl, "%d", 3600);
    argv[0] = kind;
    argv[1] = j->source;
    argv[2] = j->key;
    argv[3] = j->cursor;
    argv[4] = count;
    argv[5] = j->res.id;
    argv[6] = j->today;
    argv[7] = j->tag;
    argv[8] = j->seen;
    argv[9] = ttl;
    for (size_t i = 0; i < nids; i++)
        argv[10 + i] = j->ids[j->next_id + i];
    j->next_id += nids;
    int rc = gw_redis_eval(j->cs->redis, j->cs->s_scan, on_scan, j, 0, (int)(10 + nids), argv,
                           NULL);
    free(argv);
    if (rc != 0) {
        if (!j->dry && j->res.id[0] != '\0')
            finish_start(j);
        else
            job_finish(j, "Redis is not reachable");
    }
}

/* The record is written and the body stored: walk the roster. */
static void on_record(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        job_finish(j, "Redis did not store the campaign");
        return;
    }
    next_chunk(j);
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
    char ck[64], bk[64], created[24], send_at[24], kind[2] = {j->kind, '\0'}, bttl[24];
    snprintf(ck, sizeof ck, "gw:{q}:camp:%s", j->res.id);
    snprintf(bk, sizeof bk, "gw:{q}:body:%s", j->bid);
    snprintf(created, sizeof created, "%" PRId64, gw_clock_now_ms());
    snprintf(send_at, sizeof send_at, "%" PRId64, j->due_ms);
    snprintf(bttl, sizeof bttl, "%" PRId64, j->pend_ttl_s + Q_RECORD_TTL_S);
    const char *filter = j->ids != NULL ? "participant_ids" : j->key;
    const char *text = j->text != NULL ? j->text : "";
    const char *tkey = j->tkey != NULL ? j->tkey : "";
    if (gw_redis_command(j->cs->redis, NULL, NULL, "SET %s %b EX %s", bk, j->body, j->body_len,
                         bttl) != 0 ||
        gw_redis_command(j->cs->redis, on_record, j,
                         "HSET %s id %s kind %s state fanning_out created_ms %s send_at_ms %s "
                         "filter %s text %s template %s queued 0 sent 0 delivered 0 failed 0 "
                         "skipped 0 recipients 0",
                         ck, j->res.id, kind, created, send_at, filter, text, tkey) != 0)
        job_finish(j, "Redis went away");
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

int gw_campaign_run(gw_campaigns *cs, const gw_campaign_spec *spec, gw_campaign_cb *cb,
                    void *arg)
{
    if (!gw_redis_up(cs->redis))
        return -1;
    camp_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return -1;
    j->cs = cs;
    j->cb = cb;
    j->arg = arg;
    j->kind = spec->kind;
    j->dry = spec->dry_run;
    j->township = dup_or_null(spec->township);
    j->village = dup_or_null(spec->village);
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
    } else {
        snprintf(j->source, sizeof j->source, "set");
        if (spec->village != NULL)
            snprintf(j->key, sizeof j->key, "gw:idx:vl:%s\x1f%s",
                     spec->township != NULL ? spec->township : "", spec->village);
        else if (spec->township != NULL)
            snprintf(j->key, sizeof j->key, "gw:idx:tw:%s", spec->township);
        else
            snprintf(j->key, sizeof j->key, "gw:idx:all");
    }
    int64_t now = gw_clock_now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    snprintf(j->today, sizeof j->today, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday);
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
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)ready, strlen(ready), md);
        for (int i = 0; i < 6; i++)
            snprintf(j->tag + 2 * i, 3, "%02x", md[i]);
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
        if (spec->kind == 'n') {
            unsigned char md[SHA_DIGEST_LENGTH];
            SHA1((const unsigned char *)k, strlen(k), md);
            for (int i = 0; i < 6; i++)
                snprintf(j->tag + 2 * i, 3, "%02x", md[i]);
        }
    }
    if (j->dry && spec->kind == 'n')
        snprintf(j->seen, sizeof j->seen, "gw:{q}:seen:%" PRId64 ":%08x", now,
                 (unsigned)rand());
    if (j->dry) {
        next_chunk(j);
        return 0;
    }
    if (gw_redis_command(cs->redis, on_id, j, "INCR gw:{q}:camp:seq") != 0) {
        job_free(j);
        return -1;
    }
    return 0;
oom:
    job_free(j);
    return -1;
}
