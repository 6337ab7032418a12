/* gw_campaign_resume.c - fan-outs cut short (their daemon stopped, died or
 * lost Redis mid-way) resumed from their recorded cursor, and a roster kept
 * by an older version moved to this version's form (idx_migrate.lua), one
 * chunk at a time. Both go from the timer gw_campaigns_new arms, on the
 * daemon's loop. A fan-out is resumed only by the daemon whose owner mark
 * (SET NX) took it, and only once nothing is left to move; it goes on as a
 * job without a callback. Owns the take-overs under way (freed by their
 * callbacks). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_campaign_internal.h"
#include "gw_clock.h"
#include "gw_log.h"
#include "gw_records.h"

/* ---- resuming a fan-out cut short ---- */

typedef struct orphan {
    gw_campaigns *cs;
    char id[24];
    char owner[112];              /* the token the take-over is marked with */
} orphan;

/* Carries J on: from where its walk was recorded, or from its start. */
static void resume_walk(camp_job *j, int fresh)
{
    if (fresh && !j->started)
        camp_begin_walk(j);          /* its paid were not counted yet either */
    else
        camp_next_chunk(j);
}

/* A resumed place walk whose recorded HSCAN cursor came from another Redis
 * process than the one now serving (restarted, or a replica promoted): that
 * cursor would pass over entries of the new process' order, so the class
 * being walked starts over. Those queued already keep their pending marks
 * and are not queued again; their walk's skips are counted again. */
typedef struct run_check {
    camp_job *j;
    char was[48];                 /* the run_id the cursor was recorded under */
} run_check;

static void on_run_id(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    run_check rc = *(run_check *)arg;
    free(arg);
    camp_job *j = rc.j;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        camp_job_finish(j, "Redis did not answer; the fan-out resumes by itself when it is back");
        return;
    }
    if (reply->type != REDIS_REPLY_STRING || strcmp(reply->str, rc.was) != 0) {
        gw_warn("campaign", "campaign %s: Redis was restarted or replaced since its cursor was "
                "recorded: the walk of this class starts over (those queued already are not "
                "queued again; their skips are counted again)", j->res.id);
        snprintf(j->cursor, sizeof j->cursor, "0");
        j->started = 0;
    }
    resume_walk(j, 0);
}

static const char run_id_lua[] =
    "return string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''";

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
    camp_job *j = camp_job_new(cs);
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
    const char *due = gw_reply_field(reply, "send_at_ms");
    const char *pttl = gw_reply_field(reply, "pend_ttl_s");
    j->due_ms = due != NULL ? strtoll(due, NULL, 10) : gw_clock_now_ms();
    j->pend_ttl_s = pttl != NULL ? strtoll(pttl, NULL, 10) : 86400;
    gw_clock_ymd(j->due_ms > gw_clock_now_ms() ? j->due_ms : gw_clock_now_ms(), j->today,
                 sizeof j->today);     /* the day they go, as at the start */
    /* A list's cursor of 0 is its start, unless the last chunk was recorded. */
    j->started = walked != NULL && strcmp(walked, "1") == 0;
    if (j->started && j->source[0] == 'p')
        j->kidx = (int)strlen(j->classes);
    gw_warn("campaign", "campaign %s: resuming a fan-out cut short (%s), from cursor %s", id,
            strcmp(state, "fanning_out") == 0 ? "its daemon stopped" : state, cursor);
    const char *run = gw_reply_field(reply, "walk_run");
    if (j->source[0] == 'p' && !fresh && !j->started && run != NULL) {
        run_check *rc = malloc(sizeof *rc);
        if (rc == NULL) {
            camp_job_finish(j, "out of memory; the fan-out resumes by itself");
            return;
        }
        rc->j = j;
        snprintf(rc->was, sizeof rc->was, "%s", run);
        if (gw_redis_command(cs->redis, on_run_id, rc, "EVAL %s 0", run_id_lua) != 0) {
            free(rc);
            camp_job_finish(j, "Redis went away; the fan-out resumes by itself when it is back");
        }
        return;
    }
    resume_walk(j, fresh);
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
        camp_job_token(cs, o->owner, sizeof o->owner);
        char owner_ms[16];
        snprintf(owner_ms, sizeof owner_ms, "%d", OWNER_MS);
        if (gw_redis_command(cs->redis, on_owned, o, "SET gw:{q}:camp:%s:owner %s NX PX %s",
                             o->id, o->owner, owner_ms) != 0)
            free(o);
    }
}

/* ---- moving a roster kept by an older version ---- */

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
                "version's form (%lld participants still to go, or a step: its places); "
                "campaigns wait until it is done, everything else reads both forms "
                "meanwhile", left);
    if (cs->to_migrate > 0 && left == 0)
        gw_info("campaign", "the roster is moved");
    if (left == 0)
        gw_store_old_moved();
    cs->to_migrate = left;
    if (left > 0)
        camp_migrate_step(cs);
}

/* One chunk; the next goes when it is answered (Redis stays free between). */
void camp_migrate_step(gw_campaigns *cs)
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
void camp_on_resume_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_campaigns *cs = arg;
    if (!gw_redis_up(cs->redis))
        return;
    if (cs->to_migrate != 0) {
        /* a fan-out resumed now could miss who is not moved yet */
        camp_migrate_step(cs);
        return;
    }
    gw_redis_command(cs->redis, on_fanning, cs, "SMEMBERS gw:{q}:camp:fanning");
}
