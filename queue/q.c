/* q.c - the durable outbound queue on Redis; see q.h for the key layout
 * and the guarantees, queue/lua/ for the scripts that change it.
 *
 * Owns: the five scripts' registrations, a one-second timer (lease
 * heartbeat, reaping of dead consumers' work, the stats snapshot), the
 * buffer of outcomes waiting to be written (flushed in one EVALSHA per loop
 * turn by a zero-delay event) and the stats snapshot.
 * Invariant: an outcome stays in the buffer until Redis has answered the
 * call that carried it; a call lost with the connection is sent again
 * (the ack script tolerates repeats: a message no longer held is not put
 * back twice).
 * Runs on the daemon's loop; not thread safe. */
#include "q.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "gw_clock.h"
#include "gw_log.h"
#include "gw_redis.h"

extern const char gw_lua_q_enqueue[];
extern const char gw_lua_q_claim[];
extern const char gw_lua_q_ack[];
extern const char gw_lua_q_reap[];
extern const char gw_lua_q_stats[];
extern const char gw_lua_q_dlr[];

#define TICK_MS 1000
#define ACK_GROUP 8             /* arguments per outcome in q_ack.lua */
#define ACK_FLUSH_MAX 512       /* outcomes per ack call */
#define MEMBER_MAX 256

/* One outcome waiting to be written: its 8 arguments, copied, and the
 * lease it was claimed under. */
typedef struct ack_rec {
    unsigned lease;
    char id[24];
    char lane[8];
    char kind[2];
    char provider[64];
    char carrier_id[128];
    char num[24];
    char member[MEMBER_MAX];
    char reason[160];
} ack_rec;

/* An ack call in flight: which records it carries. */
typedef struct ack_call {
    q *q;
    ack_rec *recs;
    size_t n;
} ack_call;

struct q {
    struct event_base *base;
    gw_redis *redis;
    char base_id[112];          /* HOST:PID:RANDOM */
    unsigned lease;             /* current lease number */
    char consumer[128];         /* base_id:lease */
    gw_redis_script *s_enqueue, *s_claim, *s_ack, *s_reap, *s_stats, *s_dlr;
    struct event *tick;
    struct event *flush_ev;
    ack_rec *acks;              /* waiting to be sent */
    size_t nacks, capacks;
    size_t acks_in_flight;      /* sent, not yet answered */
    int stats_pending;
    q_stats stats;
    q_window_fn *window;        /* reminders' send window, NULL: none */
    void *window_arg;
    int min_interval_s;
};

const char *const q_skip_reasons[Q_SKIP_REASONS] = {
    "opted_out", "paid", "duplicate", "cancelled", "removed", "phone_changed", "rescheduled",
    "reported", "expired", "no_contribution", "no_phone",
};

/* ---- small helpers ---- */

static int64_t reply_int(const redisReply *r, int64_t dflt)
{
    if (r == NULL)
        return dflt;
    if (r->type == REDIS_REPLY_INTEGER)
        return (int64_t)r->integer;
    if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->len < 24) {
        char buf[24], *end;
        memcpy(buf, r->str, r->len);
        buf[r->len] = '\0';
        long long v = strtoll(buf, &end, 10);
        return *end == '\0' ? (int64_t)v : dflt;
    }
    return dflt;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

/* Lua arguments may not hold the field separators of member or status. */
static void copy_clean(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src != NULL && src[i] != '\0' && i + 1 < cap; i++)
        dst[i] = (src[i] == '|' || src[i] == '\n' || src[i] == '\r') ? ' ' : src[i];
    dst[i] = '\0';
}

/* ---- ticks: heartbeat, reaping, stats ---- */

static void on_stats(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    q *q = arg;
    q->stats_pending = 0;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 12 + Q_SKIP_REASONS + 1)
        return;
    redisReply **e = reply->element;
    for (int lane = 0; lane < 2; lane++) {
        q->stats.total[lane] = reply_int(e[lane * 3], 0);
        q->stats.ready[lane] = reply_int(e[lane * 3 + 1], 0);
        q->stats.oldest_ms[lane] = reply_int(e[lane * 3 + 2], -1);
    }
    q->stats.in_flight = reply_int(e[6], 0);
    q->stats.dead = reply_int(e[7], 0);
    q->stats.consumers = reply_int(e[8], 0);
    q->stats.recovered = reply_int(e[9], 0);
    q->stats.lost_lease = reply_int(e[10], 0);
    q->stats.dropped_done = reply_int(e[11], 0);
    for (int i = 0; i < Q_SKIP_REASONS; i++)
        q->stats.skipped[i] = reply_int(e[12 + i], 0);
    q->stats.deferred = reply_int(e[12 + Q_SKIP_REASONS], 0);
    q->stats.valid = 1;
}

static void on_reap(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    (void)arg;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
        gw_warn("queue", "put back %lld messages held by a consumer that stopped answering "
                "(possible duplicates)", (long long)reply->integer);
    else if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        gw_error("queue", "reap: %s", reply->str);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    q *q = arg;
    if (!gw_redis_up(q->redis))
        return;
    char now[24], lease[24];
    snprintf(now, sizeof now, "%" PRId64, gw_clock_now_ms());
    snprintf(lease, sizeof lease, "%d", Q_LEASE_MS);
    /* The heartbeat of this consumer's lease, then the reaping of others'. */
    const char *reap_argv[] = {now, "", "0", q->consumer, lease};
    gw_redis_eval(q->redis, q->s_reap, on_reap, q, 0, 5, reap_argv, NULL);
    if (!q->stats_pending) {
        const char *argv[1 + Q_SKIP_REASONS] = {now};
        for (int i = 0; i < Q_SKIP_REASONS; i++)
            argv[1 + i] = q_skip_reasons[i];
        if (gw_redis_eval(q->redis, q->s_stats, on_stats, q, 0, 1 + Q_SKIP_REASONS, argv,
                          NULL) == 0)
            q->stats_pending = 1;
    }
    if (q->nacks > 0)
        event_active(q->flush_ev, EV_TIMEOUT, 0);
}

/* ---- acknowledgements ---- */

static void flush_acks(evutil_socket_t fd, short what, void *arg);

static void on_ack(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    ack_call *c = arg;
    q *q = c->q;
    q->acks_in_flight -= c->n;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* Not known to be written: keep the outcomes and send them again. */
        if (reply != NULL)
            gw_error("queue", "ack: %s", reply->str);
        if (q->nacks + c->n > q->capacks) {
            size_t cap = q->nacks + c->n;
            ack_rec *grown = realloc(q->acks, cap * sizeof *grown);
            if (grown == NULL) {
                gw_error("queue", "out of memory keeping %zu outcomes; their leases will "
                         "put them back", c->n);
                goto out;
            }
            q->acks = grown;
            q->capacks = cap;
        }
        memcpy(q->acks + q->nacks, c->recs, c->n * sizeof *c->recs);
        q->nacks += c->n;
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        gw_warn("queue", "%lld outcomes arrived after their lease had been reclaimed",
                (long long)reply->integer);
    }
out:
    free(c->recs);
    free(c);
}

static void flush_acks(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    q *q = arg;
    while (q->nacks > 0 && gw_redis_up(q->redis)) {
        /* One call per lease: the outcomes leave that consumer's hash. */
        size_t n = 1;
        while (n < q->nacks && n < ACK_FLUSH_MAX && q->acks[n].lease == q->acks[0].lease)
            n++;
        char consumer[sizeof q->consumer];
        snprintf(consumer, sizeof consumer, "%s:%u", q->base_id, q->acks[0].lease);
        ack_call *c = calloc(1, sizeof *c);
        const char **argv = malloc((4 + n * ACK_GROUP) * sizeof *argv);
        if (c == NULL || argv == NULL) {
            free(c);
            free(argv);
            return;
        }
        c->q = q;
        c->n = n;
        c->recs = malloc(n * sizeof *c->recs);
        if (c->recs == NULL) {
            free(c);
            free(argv);
            return;
        }
        memcpy(c->recs, q->acks, n * sizeof *c->recs);
        char now[24], lease[24], ttl[24];
        snprintf(now, sizeof now, "%" PRId64, gw_clock_now_ms());
        snprintf(lease, sizeof lease, "%d", Q_LEASE_MS);
        snprintf(ttl, sizeof ttl, "%d", Q_RECORD_TTL_S);
        int argc = 0;
        argv[argc++] = consumer;
        argv[argc++] = now;
        argv[argc++] = lease;
        argv[argc++] = ttl;
        for (size_t i = 0; i < n; i++) {
            ack_rec *a = &c->recs[i];
            argv[argc++] = a->id;
            argv[argc++] = a->lane;
            argv[argc++] = a->kind;
            argv[argc++] = a->provider;
            argv[argc++] = a->carrier_id;
            argv[argc++] = a->num;
            argv[argc++] = a->member;
            argv[argc++] = a->reason;
        }
        int rc = gw_redis_eval(q->redis, q->s_ack, on_ack, c, 0, argc, argv, NULL);
        free(argv);
        if (rc != 0) {
            free(c->recs);
            free(c);
            return;     /* kept; the next tick tries again */
        }
        memmove(q->acks, q->acks + n, (q->nacks - n) * sizeof *q->acks);
        q->nacks -= n;
        q->acks_in_flight += n;
    }
}

int q_ack(q *q, const q_ack_entry *e)
{
    if (e == NULL || e->item == NULL || e->provider == NULL)
        return -1;
    if (q->nacks == q->capacks) {
        size_t cap = q->capacks ? q->capacks * 2 : 256;
        ack_rec *grown = realloc(q->acks, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        q->acks = grown;
        q->capacks = cap;
    }
    ack_rec *a = &q->acks[q->nacks];
    memset(a, 0, sizeof *a);
    a->lease = e->item->lease;
    snprintf(a->id, sizeof a->id, "%" PRId64, e->item->id);
    copy_str(a->lane, sizeof a->lane, q_lane_name(e->lane));
    copy_clean(a->provider, sizeof a->provider, e->provider);
    q_item next = *e->item;
    switch (e->kind) {
    case Q_ACK_SENT:
        a->kind[0] = 'a';
        copy_clean(a->carrier_id, sizeof a->carrier_id, e->carrier_id);
        break;
    case Q_ACK_RETRY:
        a->kind[0] = 'r';
        next.attempt++;
        snprintf(a->num, sizeof a->num, "%" PRId64, e->due_ms / 1000);
        break;
    case Q_ACK_THROTTLED:
        a->kind[0] = 't';
        snprintf(a->num, sizeof a->num, "%" PRId64, e->pause_ms > 0 ? e->pause_ms : 1000);
        break;
    case Q_ACK_DEAD:
        a->kind[0] = 'd';
        next.attempt++;
        snprintf(a->num, sizeof a->num, "%d", e->refused ? 1 : 0);
        break;
    default:
        return -1;
    }
    copy_clean(a->reason, sizeof a->reason, e->reason);
    if (q_member_format(&next, a->member, sizeof a->member) < 0)
        return -1;
    q->nacks++;
    if (q->nacks == 1 || q->nacks >= ACK_FLUSH_MAX)
        event_active(q->flush_ev, EV_TIMEOUT, 0);
    return 0;
}

size_t q_ack_pending(const q *q)
{
    return q->nacks + q->acks_in_flight;
}

/* ---- enqueue ---- */

typedef struct enq_call {
    q *q;
    q_enqueue_cb *cb;
    void *arg;
} enq_call;

static void on_enqueue(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    enq_call *c = arg;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        char bid[24];
        const redisReply *b = reply->element[1];
        snprintf(bid, sizeof bid, "%.*s", b->type == REDIS_REPLY_STRING ? (int)b->len : 0,
                 b->type == REDIS_REPLY_STRING ? b->str : "");
        c->cb(c->q, reply_int(reply->element[0], -1), bid, NULL, c->arg);
    } else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        c->cb(c->q, -1, NULL, reply->str, c->arg);
    } else {
        c->cb(c->q, -1, NULL, "redis connection lost", c->arg);
    }
    free(c);
}

int q_enqueue(q *q, const q_batch *b, q_enqueue_cb *cb, void *arg)
{
    if (b == NULL || cb == NULL || b->n == 0 || b->n > Q_BATCH_MAX || b->segments < 1 ||
        (b->text == NULL && b->body_id == NULL) || (b->lane != Q_REPLY && b->lane != Q_BULK))
        return -1;
    if (b->extra != NULL && (strchr(b->extra, ':') || strchr(b->extra, '|')))
        return -1;
    size_t argc = 8 + b->n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *argvlen = malloc(argc * sizeof *argvlen);
    char *body = NULL;
    enq_call *c = malloc(sizeof *c);
    if (argv == NULL || argvlen == NULL || c == NULL)
        goto fail;
    int64_t now = gw_clock_now_ms();
    int64_t due_ms = b->due_ms > now ? b->due_ms : now;
    char due[24], seg[8], ttl[24];
    snprintf(due, sizeof due, "%" PRId64, due_ms / 1000);
    snprintf(seg, sizeof seg, "%d", b->segments);
    /* A body outlives its last message's due time by the record TTL. */
    snprintf(ttl, sizeof ttl, "%" PRId64, (due_ms - now) / 1000 + Q_RECORD_TTL_S);
    size_t bodylen = 0;
    if (b->text != NULL) {
        bodylen = b->text_len + 1;
        body = malloc(bodylen);
        if (body == NULL)
            goto fail;
        body[0] = b->ucs2 ? 'u' : 'g';
        memcpy(body + 1, b->text, b->text_len);
    }
    argv[0] = q_lane_name(b->lane);
    argv[1] = due;
    argv[2] = seg;
    argv[3] = body != NULL ? body : "";
    argv[4] = b->body_id != NULL ? b->body_id : "";
    argv[5] = ttl;
    argv[6] = b->extra != NULL ? b->extra : "";
    argv[7] = b->track ? "1" : "0";
    for (size_t i = 0; i < 8; i++)
        argvlen[i] = i == 3 ? bodylen : strlen(argv[i]);   /* the body has no NUL */
    for (size_t i = 0; i < b->n; i++) {
        const char *p = b->phones[i];
        if (p == NULL || p[0] == '\0' || strchr(p, ':') || strchr(p, '|') || strlen(p) >= 24)
            goto fail;
        argv[8 + i] = p;
        argvlen[8 + i] = strlen(p);
    }
    c->q = q;
    c->cb = cb;
    c->arg = arg;
    if (gw_redis_eval(q->redis, q->s_enqueue, on_enqueue, c, 0, (int)argc, argv, argvlen) != 0)
        goto fail;
    free(argv);
    free(argvlen);
    free(body);
    return 0;
fail:
    free(argv);
    free(argvlen);
    free(body);
    free(c);
    return -1;
}

/* ---- claim ---- */

typedef struct claim_call {
    q *q;
    unsigned lease;             /* the lease the claim was made under */
    q_claim_cb *cb;
    void *arg;
} claim_call;

static void on_claim(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    claim_call *c = arg;
    q_claim_result res;
    memset(&res, 0, sizeof res);
    q_claimed *items = NULL;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 5 ||
        reply->element[2]->type != REDIS_REPLY_ARRAY ||
        reply->element[3]->type != REDIS_REPLY_ARRAY) {
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
            gw_error("queue", "claim: %s", reply->str);
        } else if (reply == NULL && c->lease == c->q->lease) {
            /* It may have been carried out: what it took is in our hash, but
             * we do not know what. Let that lease run out. */
            gw_warn("queue", "a claim's answer was lost with the connection; whatever it "
                    "took comes back when its lease runs out");
            q_abandon(c->q);
        }
        c->cb(c->q, &res, c->arg);
        free(c);
        return;
    }
    res.ok = 1;
    res.paused_ms = reply_int(reply->element[0], 0);
    res.wait_ms = reply_int(reply->element[1], 0);
    res.taken = reply->elements > 6 ? reply_int(reply->element[6], 0) : 0;
    const redisReply *list = reply->element[2], *bodies = reply->element[3];
    const redisReply *datas = reply->elements > 5 && reply->element[5]->type == REDIS_REPLY_ARRAY
                              ? reply->element[5] : NULL;
    size_t n = list->elements / 2;
    if (n > 0)
        items = calloc(n, sizeof *items);
    size_t k = 0;
    for (size_t i = 0; items != NULL && i < n; i++) {
        const redisReply *lane = list->element[2 * i], *m = list->element[2 * i + 1];
        if (lane->type != REDIS_REPLY_STRING || m->type != REDIS_REPLY_STRING)
            continue;
        q_claimed *it = &items[k];
        if (q_member_parse(m->str, m->len, &it->item) != 0) {
            gw_error("queue", "a malformed queue entry was claimed and dropped (%zu bytes)",
                     m->len);
            continue;
        }
        it->item.lease = c->lease;
        it->lane = (lane->len == 5 && memcmp(lane->str, "reply", 5) == 0) ? Q_REPLY : Q_BULK;
        it->member = m->str;
        it->data = "";
        if (datas != NULL && i < datas->elements && datas->element[i]->type == REDIS_REPLY_STRING) {
            it->data = datas->element[i]->str;
            it->data_len = datas->element[i]->len;
        }
        for (size_t j = 0; j + 1 < bodies->elements; j += 2) {
            const redisReply *bid = bodies->element[j], *body = bodies->element[j + 1];
            if (bid->type == REDIS_REPLY_STRING && strlen(it->item.body_id) == bid->len &&
                memcmp(bid->str, it->item.body_id, bid->len) == 0) {
                if (body->type == REDIS_REPLY_STRING && body->len >= 1) {
                    it->ucs2 = body->str[0] == 'u';
                    it->templated = body->str[0] == 't';
                    it->text = body->str + 1;
                    it->text_len = body->len - 1;
                }
                break;
            }
        }
        k++;
    }
    if (n > 0 && items == NULL) {
        gw_error("queue", "out of memory reading %zu claimed messages; they come back when "
                 "their lease runs out", n);
        q_abandon(c->q);
    }
    res.n = k;
    res.items = items;
    c->cb(c->q, &res, c->arg);
    free(items);
    free(c);
}

void q_set_reminder_policy(q *q, q_window_fn *window, void *arg, int min_interval_s)
{
    q->window = window;
    q->window_arg = arg;
    q->min_interval_s = min_interval_s > 0 ? min_interval_s : 0;
}

int q_claim(q *q, int64_t now_ms, int max, const char *provider, double rate, double burst,
            q_claim_cb *cb, void *arg)
{
    if (max < 1 || provider == NULL || cb == NULL)
        return -1;
    claim_call *c = malloc(sizeof *c);
    if (c == NULL)
        return -1;
    c->q = q;
    c->lease = q->lease;
    c->cb = cb;
    c->arg = arg;
    char now[24], lease[24], maxs[16], rates[32], bursts[32];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(lease, sizeof lease, "%d", Q_LEASE_MS);
    snprintf(maxs, sizeof maxs, "%d", max);
    snprintf(rates, sizeof rates, "%.3f", rate > 0 ? rate : 0.0);
    snprintf(bursts, sizeof bursts, "%.3f", burst > 0 ? burst : 0.0);
    char wnext[24], minint[16];
    snprintf(wnext, sizeof wnext, "%" PRId64,
             q->window != NULL ? q->window(now_ms, q->window_arg) : (int64_t)0);
    snprintf(minint, sizeof minint, "%d", q->min_interval_s);
    /* today's local date (TZ is [reminders] timezone): deadlines are dates */
    char today[16];
    gw_clock_ymd(now_ms, today, sizeof today);
    const char *argv[] = {now,    q->consumer, lease,  maxs, provider,
                          rates,  bursts,      wnext,  minint, today};
    if (gw_redis_eval(q->redis, q->s_claim, on_claim, c, 0, 10, argv, NULL) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- release, status ---- */

typedef struct done_call {
    q *q;
    q_done_cb *cb;
    void *arg;
} done_call;

static void on_release(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    done_call *c = arg;
    long n = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? (long)reply->integer : -1;
    if (c->cb != NULL)
        c->cb(c->q, n, c->arg);
    free(c);
}

int q_release(q *q, int unsure, q_done_cb *done, void *arg)
{
    done_call *c = malloc(sizeof *c);
    if (c == NULL)
        return -1;
    c->q = q;
    c->cb = done;
    c->arg = arg;
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, gw_clock_now_ms());
    const char *argv[] = {now, q->consumer, unsure ? "1" : "0", "", "0"};
    if (gw_redis_eval(q->redis, q->s_reap, on_release, c, 0, 5, argv, NULL) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

typedef struct status_call {
    q *q;
    int64_t id;
    q_status_cb *cb;
    void *arg;
} status_call;

static void on_status(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    status_call *c = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        c->cb(c->q, c->id, NULL, -1, 0, c->arg);
    } else {
        const redisReply *rec = reply->element[0];
        char *text = NULL;
        if (rec->type == REDIS_REPLY_STRING) {
            text = malloc(rec->len + 1);
            if (text != NULL) {
                memcpy(text, rec->str, rec->len);
                text[rec->len] = '\0';
            }
        }
        c->cb(c->q, c->id, text, reply_int(reply->element[1], 0), 1, c->arg);
        free(text);
    }
    free(c);
}

int q_status(q *q, int64_t id, q_status_cb *cb, void *arg)
{
    status_call *c = malloc(sizeof *c);
    if (c == NULL)
        return -1;
    c->q = q;
    c->id = id;
    c->cb = cb;
    c->arg = arg;
    char key[48];
    snprintf(key, sizeof key, "gw:{q}:m:%" PRId64, id);
    if (gw_redis_command(q->redis, on_status, c, "MGET %s gw:{q}:seq", key) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- delivery reports ---- */

typedef struct dlr_call {
    q *q;
    q_dlr_cb *cb;
    void *arg;
} dlr_call;

static void on_dlr(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    dlr_call *c = arg;
    char id[32] = "", result[16] = "";
    int ok = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
             reply->element[0]->type == REDIS_REPLY_STRING &&
             reply->element[1]->type == REDIS_REPLY_STRING;
    if (ok) {
        snprintf(id, sizeof id, "%.*s", (int)reply->element[0]->len, reply->element[0]->str);
        snprintf(result, sizeof result, "%.*s", (int)reply->element[1]->len,
                 reply->element[1]->str);
    } else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        gw_error("queue", "delivery report: %s", reply->str);
    }
    c->cb(c->q, id, ok ? result : NULL, c->arg);
    free(c);
}

int q_dlr(q *q, const char *const *accounts, size_t n, const char *cid, const char *state,
          const char *reason, q_dlr_cb *cb, void *arg)
{
    enum { MAX_ACCOUNTS = 16 };
    if (n == 0 || n > MAX_ACCOUNTS || cid == NULL || cid[0] == '\0' || cb == NULL)
        return -1;
    char norm[128], keys[MAX_ACCOUNTS][200], now[24], why[160];
    q_carrier_id_norm(cid, norm, sizeof norm);
    snprintf(now, sizeof now, "%" PRId64, gw_clock_now_ms());
    copy_clean(why, sizeof why, reason);
    const char *argv[3 + MAX_ACCOUNTS];
    argv[0] = state;
    argv[1] = now;
    argv[2] = why;
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "%s:%s", accounts[i], norm);
        argv[3 + i] = keys[i];
    }
    dlr_call *c = malloc(sizeof *c);
    if (c == NULL)
        return -1;
    c->q = q;
    c->cb = cb;
    c->arg = arg;
    if (gw_redis_eval(q->redis, q->s_dlr, on_dlr, c, 0, (int)(3 + n), argv, NULL) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- lifetime ---- */

q *q_new(struct event_base *base, gw_redis *redis)
{
    q *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    q->base = base;
    q->redis = redis;
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (*p == ':' || *p == '|' || *p == ' ')
            *p = '_';
    uint64_t rnd = (uint64_t)gw_clock_mono_us() ^ ((uint64_t)getpid() << 32);
    rnd ^= rnd >> 17;
    rnd *= 0x9E3779B97F4A7C15ULL;
    snprintf(q->base_id, sizeof q->base_id, "%s:%ld:%08llx", host, (long)getpid(),
             (unsigned long long)(rnd >> 32));
    snprintf(q->consumer, sizeof q->consumer, "%s:%u", q->base_id, q->lease);
    q->s_enqueue = gw_redis_script_add(redis, "q_enqueue", gw_lua_q_enqueue);
    q->s_claim = gw_redis_script_add(redis, "q_claim", gw_lua_q_claim);
    q->s_ack = gw_redis_script_add(redis, "q_ack", gw_lua_q_ack);
    q->s_reap = gw_redis_script_add(redis, "q_reap", gw_lua_q_reap);
    q->s_stats = gw_redis_script_add(redis, "q_stats", gw_lua_q_stats);
    q->s_dlr = gw_redis_script_add(redis, "q_dlr", gw_lua_q_dlr);
    q->tick = event_new(base, -1, EV_PERSIST, on_tick, q);
    q->flush_ev = event_new(base, -1, 0, flush_acks, q);
    if (q->s_enqueue == NULL || q->s_claim == NULL || q->s_ack == NULL || q->s_reap == NULL ||
        q->s_stats == NULL || q->s_dlr == NULL || q->tick == NULL || q->flush_ev == NULL) {
        q_free(q);
        return NULL;
    }
    struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    event_add(q->tick, &tv);
    q->stats.oldest_ms[0] = q->stats.oldest_ms[1] = -1;
    return q;
}

void q_free(q *q)
{
    if (q == NULL)
        return;
    if (q->tick != NULL)
        event_free(q->tick);
    if (q->flush_ev != NULL)
        event_free(q->flush_ev);
    free(q->acks);
    free(q);
}

const char *q_consumer(const q *q)
{
    return q->consumer;
}

void q_abandon(q *q)
{
    q->lease++;
    snprintf(q->consumer, sizeof q->consumer, "%s:%u", q->base_id, q->lease);
}

const q_stats *q_stats_get(const q *q)
{
    return &q->stats;
}
