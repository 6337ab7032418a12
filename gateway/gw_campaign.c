/* gw_campaign.c - a campaign's run (see gw_campaign.h): a dry run walks the
 * roster in chunks (camp_scan.lua) and counts; a start takes an id, writes
 * its record, body and id list in one transaction, then walks and queues each
 * chunk (camp_push.lua), recording its cursor under the fan-out's owner mark.
 * Owns the gw_campaigns object and its jobs (cs->running): a job that has
 * begun ends by camp_job_finish, which calls its callback once and frees it;
 * gw_campaigns_free ends those still walking. Runs on the daemon's loop; a
 * job has one Redis call with a callback out at a time, and each answer sends
 * the next. The texts and their parts are in gw_campaign_texts.c; fan-outs
 * cut short and an older roster's move in gw_campaign_resume.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include <openssl/sha.h>

#include "gw_campaign_internal.h"
#include "gw_clock.h"
#include "gw_log.h"
#include "gw_records.h"
#include "gw_window.h"

extern const char gw_lua_camp_scan[];
extern const char gw_lua_camp_push[];
extern const char gw_lua_idx_migrate[];
extern const char gw_lua_place_check[];

/* ---- campaigns ---- */

/* camp_push.lua's arguments before the recipients' groups of four. */
#define PUSH_HEAD 16
#define RESUME_EVERY_S 5

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
    cs->s_place = gw_redis_script_add(redis, "place_check", gw_lua_place_check);
    cs->to_migrate = -1;
    cs->resume = event_new(base, -1, EV_PERSIST, camp_on_resume_tick, cs);
    struct timeval every = {RESUME_EVERY_S, 0};
    if (cs->s_scan == NULL || cs->s_push == NULL || cs->s_migrate == NULL ||
        cs->s_place == NULL || cs->resume == NULL || event_add(cs->resume, &every) != 0) {
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
        camp_job_finish(cs->running, "the daemon stopped; the fan-out resumes when one is running");
    event_free(cs->resume);
    free(cs);
}

void camp_job_token(gw_campaigns *cs, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%u", cs->owner, ++cs->jobs);
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
    free(j->res.sample);
    free(j->res.list);
    camp_memo_free(j->memo);
    free(j);
}

void camp_job_finish(camp_job *j, const char *error)
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

static void on_scan(gw_redis *r, redisReply *reply, void *arg);
static int send_scan(camp_job *j);

/* The end of a start: the campaign is running (unless it was cancelled
 * meanwhile) and its fan-out is no longer anyone's. */
static void on_done(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        j->moved_end = 0;       /* an import moved more people meanwhile: read them too */
        camp_next_chunk(j);
        return;
    }
    camp_job_finish(j, reply == NULL || reply->type == REDIS_REPLY_ERROR
                           ? "Redis did not record the end of the fan-out" : NULL);
}

/* The end of a fan-out, unless (ARGV[3], the moved participants read, not
 * "-") an import moved more while it was not cancelled: then 0. The set of
 * a participant_ids campaign's ids (KEYS[5]) stays while its messages may
 * go, and ARGV[4] seconds more, as its text does: a notice looks in it for
 * the others of a household phone (q_claim.lua). */
static const char done_lua[] =
    "local st = redis.call('HGET', KEYS[1], 'state') "
    "if st == 'fanning_out' and ARGV[3] ~= '-' and "
    "   redis.call('LLEN', KEYS[4]) > tonumber(ARGV[3]) then return 0 end "
    "if st == 'fanning_out' then redis.call('HSET', KEYS[1], 'state', 'running') end "
    "redis.call('HSET', KEYS[1], 'walked', '1') "
    "redis.call('SREM', 'gw:{q}:camp:fanning', ARGV[1]) "
    "if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end "
    "redis.call('DEL', KEYS[3], KEYS[4]) "
    "local ttl = tonumber(redis.call('HGET', KEYS[1], 'pend_ttl_s') or '') or 0 "
    "redis.call('EXPIRE', KEYS[5], ttl + ARGV[4]) "
    "return 1";

static void finish_start(camp_job *j)
{
    char ck[64], ok[72], lk[72], mk[72], sk[72], keep[24];
    snprintf(ck, sizeof ck, "gw:{q}:camp:%s", j->res.id);
    snprintf(ok, sizeof ok, "gw:{q}:camp:%s:owner", j->res.id);
    snprintf(lk, sizeof lk, "gw:{q}:camp:%s:ids", j->res.id);
    snprintf(mk, sizeof mk, "gw:{q}:camp:%s:moved", j->res.id);
    snprintf(sk, sizeof sk, "gw:{q}:camp:%s:idset", j->res.id);
    /* a place walk has read the moved list up to its cursor */
    const char *read = j->source[0] == 'p' && j->moved_end ? j->cursor : "-";
    snprintf(keep, sizeof keep, "%d", Q_RECORD_TTL_S);   /* as long as the campaign's text */
    if (gw_redis_command(j->cs->redis, on_done, j, "EVAL %s 5 %s %s %s %s %s %s %s %s %s",
                         done_lua, ck, ok, lk, mk, sk, j->res.id, j->owner, read, keep) != 0)
        camp_job_finish(j, "Redis went away during the fan-out");
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
        camp_job_finish(j, "Redis did not queue part of the campaign; it resumes by "
                           "itself when Redis is back (GET it to follow)");
        return;
    }
    long long n = reply->element[0]->integer;
    if (n == -1) {
        j->res.cancelled = 1;
        finish_start(j);
        return;
    }
    if (n < 0) {
        camp_job_finish(j, "another daemon took the fan-out over; GET the campaign to follow it");
        return;
    }
    j->res.recipients += n;
    if (reply->elements > 1 && reply->element[1]->type == REDIS_REPLY_INTEGER)
        j->res.duplicate += reply->element[1]->integer;
    if (reply->elements > 3 && reply->element[3]->type == REDIS_REPLY_INTEGER)
        j->res.segments_total += reply->element[3]->integer;
    if (reply->elements > 4 && reply->element[4]->type == REDIS_REPLY_INTEGER)
        j->res.held += reply->element[4]->integer;
    /* the queued ones' parts: those found duplicates here do not count */
    if (reply->elements > 5 && reply->element[5]->type == REDIS_REPLY_INTEGER &&
        reply->element[5]->integer > j->res.segments_per_message)
        j->res.segments_per_message = (int)reply->element[5]->integer;
    camp_next_chunk(j);
}

camp_job *camp_job_new(gw_campaigns *cs)
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
        return j->classes[j->kidx] == '\0' && (j->dry || j->moved_end);
    default:
        return j->started && strcmp(j->cursor, "0") == 0;
    }
}

/* Appends a recipient to J's list: ID, the name (DATA's first field) and
 * PHONE. Past GW_CAMPAIGN_LIST_MAX, or when memory is short, the list ends
 * there. */
static void list_add(camp_job *j, const char *id, const redisReply *data, const char *phone)
{
    gw_campaign_result *r = &j->res;
    if (r->listed >= GW_CAMPAIGN_LIST_MAX || r->list_short)
        return;
    if (r->listed == r->list_cap) {
        size_t cap = r->list_cap > 0 ? 2 * r->list_cap : 256;
        gw_campaign_listed *l = realloc(r->list, cap * sizeof *l);
        if (l == NULL) {
            r->list_short = 1;
            return;
        }
        r->list = l;
        r->list_cap = cap;
    }
    gw_campaign_listed *e = &r->list[r->listed++];
    const char *name = data->type == REDIS_REPLY_STRING ? data->str : "";
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->name, sizeof e->name, "%.*s", (int)strcspn(name, "\x1f"), name);
    snprintf(e->phone, sizeof e->phone, "%s", phone);
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
        camp_job_finish(j, j->dry ? "Redis did not answer while walking the roster"
                                  : "Redis did not answer while walking the roster; the "
                                    "fan-out resumes by itself when Redis is back (GET it "
                                    "to follow)");
        return;
    }
    snprintf(j->cursor, sizeof j->cursor, "%s", reply->element[0]->str);
    if (j->source[0] == 'p' && j->classes[j->kidx] == '\0')
        j->moved_end = reply->elements > 8 && reply->element[8]->type == REDIS_REPLY_INTEGER &&
                       reply->element[8]->integer == 1;
    else if (j->source[0] == 'p' && strcmp(j->cursor, "0") == 0)
        j->kidx++;              /* this class is walked: the next one (or those moved) */
    /* A dry run asks for its next chunk before counting this one, so that
     * Redis walks while the daemon writes texts to count their parts. */
    int more = 0, lost = 0;
    if (j->dry && !walk_done(j)) {
        more = 1;
        lost = send_scan(j) != 0;
    }
    const redisReply *list = reply->element[1];
    long long skips[6] = {0};     /* paid, opted out, no phone, duplicate, unknown, past due */
    for (int k = 0; k < 6 && (size_t)(2 + k) < reply->elements; k++)
        skips[k] = reply->element[2 + k]->type == REDIS_REPLY_INTEGER
                   ? reply->element[2 + k]->integer : 0;
    j->res.paid += skips[0];
    j->res.opted_out += skips[1];
    j->res.no_phone += skips[2];
    j->res.duplicate += skips[3];
    j->res.unknown += skips[4];
    j->res.past_due += skips[5];
    const redisReply *ids = reply->elements > 9 ? reply->element[9] : NULL;
    for (size_t k = 0; ids != NULL && ids->type == REDIS_REPLY_ARRAY && k < ids->elements &&
                       j->res.n_unknown_ids < 10; k++)
        if (ids->element[k]->type == REDIS_REPLY_STRING)
            snprintf(j->res.unknown_ids[j->res.n_unknown_ids++],
                     sizeof j->res.unknown_ids[0], "%s", ids->element[k]->str);
    size_t n = list->elements / 4;
    const char **argv = NULL;
    char (*segs)[8] = NULL;
    char counts[6][24];
    if (!j->dry) {
        argv = calloc(PUSH_HEAD + 4 * n, sizeof *argv);
        segs = calloc(n > 0 ? n : 1, sizeof *segs);
        if (argv == NULL || segs == NULL) {
            free(argv);
            free(segs);
            camp_job_finish(j, "out of memory; the fan-out resumes by itself");
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *const *e = list->element + 4 * i;
        int seg = j->text_segments;
        if (seg == 0)
            seg = e[3]->type == REDIS_REPLY_STRING
                      ? camp_person_segments(j, e[3]->str, e[3]->len) : 1;
        if (j->dry) {
            if (j->list)
                list_add(j, str_el(e[0]), e[3], str_el(e[1]));
            if (seg > j->res.segments_per_message)
                j->res.segments_per_message = seg;
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
            camp_job_finish(j, "Redis went away while walking the roster");
        else if (!more)
            camp_job_finish(j, NULL);
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
    for (int k = 0; k < 6; k++)
        snprintf(counts[k], sizeof counts[k], "%lld", skips[k]);
    char cursor[48];
    if (j->source[0] == 'p')
        snprintf(cursor, sizeof cursor, "%d:%s", j->kidx, j->cursor);
    else
        snprintf(cursor, sizeof cursor, "%s", j->cursor);
    const char *head[PUSH_HEAD] = {j->res.id, kind,      due,       j->bid,    ttl,
                                   cursor,    j->owner,  owner_ms,  walk_done(j) ? "1" : "0",
                                   counts[0], counts[1], counts[2], counts[4], counts[3],
                                   now_s,     counts[5]};
    memcpy(argv, head, sizeof head);
    int rc = gw_redis_eval(j->cs->redis, j->cs->s_push, on_push, j, 0, (int)(PUSH_HEAD + 4 * n),
                           argv, NULL);
    free(argv);
    free(segs);
    if (rc != 0)
        camp_job_finish(j, "Redis went away; the fan-out resumes by itself when it is back");
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
    char key[340];
    const char *source = j->source;
    if (j->source[0] == 'p' && j->classes[j->kidx] == '\0') {
        source = "moved";
        snprintf(key, sizeof key, "gw:{q}:camp:%s:moved\x1e%s", j->res.id, j->key);
    } else if (j->source[0] == 'p') {
        snprintf(key, sizeof key, "%c\x1e%s", j->classes[j->kidx], j->key);
    } else {
        snprintf(key, sizeof key, "%s", j->key);
    }
    argv[0] = kind;
    argv[1] = source;
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

void camp_next_chunk(camp_job *j)
{
    if (walk_done(j)) {
        if (j->dry)
            camp_job_finish(j, NULL);
        else
            finish_start(j);
        return;
    }
    if (send_scan(j) != 0)
        camp_job_finish(j, j->dry ? "Redis is not reachable"
                                  : "Redis went away; the fan-out resumes by itself when it "
                                    "is back");
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
    camp_next_chunk(j);
}

/* The paid counted, and the record marked so in the same step: from then
 * on an import that moves one of them to the unpaid lists them "~ID"
 * (participant_upsert.lua), and the walk takes them back from the paid. */
static const char paid_lua[] =
    "redis.call('HSET', KEYS[1], 'paid_counted', '1') "
    "return redis.call('HLEN', 'gw:pt:p')";

/* Walks the roster; an unpaid reminder to everyone first counts the paid
 * (HLEN of their hash) without reading them one by one; over a township or
 * village the walk counts them (classes "up"). */
void camp_begin_walk(camp_job *j)
{
    if (j->source[0] != 'p' || j->kind != 'u' || strcmp(j->classes, "u") != 0) {
        camp_next_chunk(j);
        return;
    }
    char ck[64];
    snprintf(ck, sizeof ck, "gw:{q}:camp:%s", j->res.id);
    int rc = j->dry ? gw_redis_command(j->cs->redis, on_paid, j, "HLEN gw:pt:p")
                    : gw_redis_command(j->cs->redis, on_paid, j, "EVAL %s 1 %s", paid_lua, ck);
    if (rc != 0)
        camp_next_chunk(j);
}

/* The record is written, the body and the id list stored, the fan-out is
 * ours: walk the roster. */
static void on_record(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        camp_job_finish(j, "Redis did not store the campaign");
        return;
    }
    for (size_t i = 0; i < j->nids; i++)
        free(j->ids[i]);
    free(j->ids);
    j->ids = NULL;
    j->nids = 0;
    camp_begin_walk(j);
}

static void on_id(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        camp_job_finish(j, "Redis did not give the campaign an id");
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
    char idset[80];
    snprintf(idset, sizeof idset, "gw:{q}:camp:%s:idset", j->res.id);
    /* One transaction: the record, the body, the id list, the owner mark and
     * the set of fan-outs under way; a resumed fan-out finds all it needs. */
    gw_redis *rd = j->cs->redis;
    camp_job_token(j->cs, j->owner, sizeof j->owner);
    if (gw_redis_command(rd, NULL, NULL, "MULTI") != 0) {
        camp_job_finish(j, "Redis went away");
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
        /* and as a set: who the campaign reaches, for a notice's household
         * phone (q_claim.lua) */
        argv[0] = "SADD";
        argv[1] = idset;
        if (rc == 0)
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
        camp_job_finish(j, "Redis went away");
    }
}

static int job_start(camp_job *j);

static void on_place(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        camp_job_finish(j, "Redis did not answer");
        return;
    }
    const redisReply *names = reply->element[1];
    for (size_t i = 0; i < names->elements && i < GW_CAMPAIGN_PLACE_NAMES; i++)
        if (names->element[i]->type == REDIS_REPLY_STRING)
            snprintf(j->res.place_names[j->res.n_place_names++], GW_PLACE_MAX, "%s",
                     names->element[i]->str);
    long long code = reply->element[0]->integer;
    if (code != 0 || j->res.n_place_names != 1) {
        j->res.place_error = code > 0 && code <= 4 ? (int)code : 4;
        camp_job_finish(j, "the place is not in the roster, or not alone there");
        return;
    }
    /* the walk's place: a village given alone is its township's */
    if (j->key[0] == '\x1e') {
        const char *tw = j->res.place_names[0];
        size_t tl = strlen(tw), kl = strlen(j->key);     /* both names < GW_PLACE_MAX */
        if (tl + kl < sizeof j->key) {
            memmove(j->key + tl, j->key, kl + 1);
            memcpy(j->key, tw, tl);
        }
        snprintf(j->res.township, sizeof j->res.township, "%s", tw);
    }
    j->res.n_place_names = 0;
    j->place_checked = 1;
    if (job_start(j) != 0)
        camp_job_finish(j, "Redis went away");
}

/* A township or village is looked up first; then a dry run walks, and a
 * start first takes an id and writes its record. */
static int job_start(camp_job *j)
{
    if (j->source[0] == 'p' && strcmp(j->key, "\x1e") != 0 && !j->place_checked) {
        /* "TOWNSHIP\x1eVILLAGE", either given */
        char tw[sizeof j->key], most[16];
        const char *sep = strchr(j->key, '\x1e');
        snprintf(tw, sizeof tw, "%.*s", (int)(sep - j->key), j->key);
        snprintf(most, sizeof most, "%d", GW_CAMPAIGN_PLACE_NAMES);
        const char *argv[] = {tw, sep + 1, most};
        return gw_redis_eval(j->cs->redis, j->cs->s_place, on_place, j, 0, 3, argv, NULL);
    }
    if (j->dry) {
        camp_begin_walk(j);
        return 0;
    }
    return gw_redis_command(j->cs->redis, on_id, j, "INCR gw:{q}:camp:seq");
}

static void on_checked(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    camp_job *j = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        camp_job_finish(j, "Redis did not answer");
        return;
    }
    if (reply->integer > 0) {
        j->res.upgrading = 1;
        camp_migrate_step(j->cs);
        camp_job_finish(j, "the roster's indexes are being upgraded after an update of the "
                           "gateway; try again in a minute (nothing was done)");
        return;
    }
    j->cs->to_migrate = 0;
    gw_store_old_moved();
    if (job_start(j) != 0)
        camp_job_finish(j, "Redis went away");
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
    camp_job *j = camp_job_new(cs);
    if (j == NULL)
        return -1;
    j->cb = cb;
    j->arg = arg;
    j->kind = spec->kind;
    j->dry = spec->dry_run;
    j->list = spec->dry_run && spec->list;
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
                 spec->kind != 'u'                                  ? "upo"
                 : spec->township != NULL || spec->village != NULL ? "up"
                                                                    : "u");
    }
    int64_t now = gw_clock_now_ms();
    int64_t due = spec->send_at_ms > now ? spec->send_at_ms : now;
    j->due_ms = gw_window_next(due, cs->cfg->send_window_start_min,
                               cs->cfg->send_window_end_min);
    /* who is past due, or whose claim window has closed, is judged on the
     * day the messages go (as the queue will), not today */
    gw_clock_ymd(j->due_ms, j->today, sizeof j->today);
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
        if (j->dry)
            j->res.sample = strdup(ready);    /* NULL when memory is short: none shown */
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
