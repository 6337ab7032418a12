/* gw_sender.c - the dispatcher; see gw_sender.h.
 *
 * One claim at a time: pick the account, claim up to the free send slots
 * (at most CLAIM_MAX), start one carrier call per message, and claim again
 * as soon as the batch was full or a slot frees; otherwise wait for the
 * token bucket, a pause, or the next poll (POLL_MS; a local enqueue pokes
 * at once). Each outcome is handed to q_ack, which writes them in one Lua
 * call per loop turn.
 * Owns: its timer and one send_job per carrier call in flight (the
 * message's text copied). Runs on the daemon's loop; not thread safe. */
#include "gw_sender.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "gw_clock.h"
#include "gw_config.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_phone.h"
#include "prov.h"
#include "q.h"

#define CLAIM_MAX 200
#define CLAIM_MIN (GW_SENDER_MAX_IN_FLIGHT / 4)
#define POLL_MS 100
#define RETRY_REDIS_MS 500

struct gw_sender {
    struct event_base *base;
    const gw_config *cfg;
    q *q;
    prov_registry *reg;
    struct event *timer;
    int claiming;               /* a claim is out */
    int claim_account;          /* the account it was made for */
    int stopped;
    size_t in_flight;           /* carrier calls out */
    struct send_job *jobs;      /* those calls, to free them at exit */
    uint32_t rng;
};

typedef struct send_job {
    gw_sender *s;
    struct send_job *prev, *next;
    size_t account;
    q_lane lane;
    q_item item;
    char id[24];
    char *text;
} send_job;

static void kick(gw_sender *s);

static uint32_t next_rand(gw_sender *s)
{
    /* xorshift32: jitter only, not security */
    uint32_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return s->rng = x;
}

static void arm(gw_sender *s, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    event_add(s->timer, &tv);
}

/* Carrier ids are matched case-insensitively and without leading zeros
 * (carriers echo them back in delivery reports in varying forms). */
static void carrier_id_norm(const char *in, char *out, size_t outlen)
{
    while (*in == '0' && in[1] != '\0')
        in++;
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < outlen; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

/* ---- outcomes ---- */

static void record(gw_sender *s, send_job *job, const prov_result *res)
{
    const gw_provider_conf *conf = prov_registry_conf(s->reg, job->account);
    const char *prov = conf->name;
    int64_t now = gw_clock_now_ms();
    q_ack_entry e;
    memset(&e, 0, sizeof e);
    e.lane = job->lane;
    e.item = &job->item;
    e.provider = prov;
    e.reason = res->reason;
    char cid[128], masked[32];
    gw_metrics_sms(prov, prov_outcome_name(res->outcome),
                   res->outcome == PROV_ACCEPTED ? job->item.segments : 0);
    switch (res->outcome) {
    case PROV_ACCEPTED:
        carrier_id_norm(res->carrier_id, cid, sizeof cid);
        e.kind = Q_ACK_SENT;
        e.carrier_id = cid;
        break;
    case PROV_THROTTLED:
        e.kind = Q_ACK_THROTTLED;
        e.pause_ms = res->retry_after_ms > 0 ? res->retry_after_ms : 1000;
        prov_registry_pause(s->reg, job->account, now + e.pause_ms);
        gw_warn("sender", "provider %s throttled: paused %" PRId64 " ms", prov, e.pause_ms);
        break;
    case PROV_RETRY:
    case PROV_UNKNOWN:
        if (job->item.attempt + 1 >= Q_MAX_ATTEMPTS) {
            e.kind = Q_ACK_DEAD;
        } else {
            /* Failover: when another account can take it now, it goes at
             * once; else it waits its backoff. */
            int next = prov_registry_pick(s->reg, now, NULL);
            e.kind = Q_ACK_RETRY;
            e.due_ms = next >= 0 && (size_t)next != job->account
                           ? now
                           : now + q_backoff_ms(job->item.attempt + 1, next_rand(s));
        }
        break;
    case PROV_PERMANENT:
    default:
        e.kind = Q_ACK_DEAD;
        break;
    }
    if (e.kind == Q_ACK_DEAD || res->outcome == PROV_UNKNOWN) {
        gw_phone_mask(job->item.phone, masked, sizeof masked);
        gw_warn("sender", "message %s to %s via %s: %s (%s)%s", job->id, masked, prov,
                prov_outcome_name(res->outcome), res->reason,
                e.kind == Q_ACK_DEAD ? ", given up" : ", will retry");
    }
    if (q_ack(s->q, &e) != 0)
        gw_error("sender", "message %s: outcome not recorded; its lease will put it back",
                 job->id);
}

static void job_free(send_job *job)
{
    gw_sender *s = job->s;
    if (job->prev != NULL)
        job->prev->next = job->next;
    else if (s->jobs == job)
        s->jobs = job->next;
    if (job->next != NULL)
        job->next->prev = job->prev;
    free(job->text);
    free(job);
}

static void on_sent(prov_registry *reg, size_t account, const prov_result *res, void *arg)
{
    (void)reg;
    (void)account;
    send_job *job = arg;
    gw_sender *s = job->s;
    s->in_flight--;
    record(s, job, res);
    job_free(job);
    kick(s);
}

/* ---- claiming ---- */

static void start_send(gw_sender *s, size_t account, const q_claimed *c)
{
    send_job *job = calloc(1, sizeof *job);
    prov_result res;
    memset(&res, 0, sizeof res);
    if (job == NULL) {
        gw_error("sender", "out of memory; message %" PRId64 " left to its lease", c->item.id);
        return;
    }
    job->s = s;
    job->account = account;
    job->lane = c->lane;
    job->item = c->item;
    snprintf(job->id, sizeof job->id, "%" PRId64, c->item.id);
    if (c->text == NULL) {
        res.outcome = PROV_PERMANENT;
        snprintf(res.reason, sizeof res.reason, "the message text has expired");
        record(s, job, &res);
        job_free(job);
        return;
    }
    job->text = malloc(c->text_len + 1);
    if (job->text == NULL) {
        free(job);
        gw_error("sender", "out of memory; message %" PRId64 " left to its lease", c->item.id);
        return;
    }
    memcpy(job->text, c->text, c->text_len);
    job->text[c->text_len] = '\0';
    prov_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.id = job->id;
    msg.to = job->item.phone;
    msg.text = job->text;
    msg.text_len = c->text_len;
    msg.ucs2 = c->ucs2;
    msg.segments = job->item.segments;
    if (prov_send(s->reg, account, &msg, on_sent, job, &res) != 0) {
        if (res.reason[0] == '\0') {
            res.outcome = PROV_RETRY;
            snprintf(res.reason, sizeof res.reason, "the request could not be started");
        }
        record(s, job, &res);
        job_free(job);
        return;
    }
    job->next = s->jobs;
    if (s->jobs != NULL)
        s->jobs->prev = job;
    s->jobs = job;
    s->in_flight++;
}

static void on_claim(q *q, const q_claim_result *res, void *arg)
{
    (void)q;
    gw_sender *s = arg;
    s->claiming = 0;
    if (!res->ok) {
        arm(s, RETRY_REDIS_MS);
        return;
    }
    int64_t now = gw_clock_now_ms();
    size_t account = (size_t)s->claim_account;
    for (size_t i = 0; i < res->n; i++)
        start_send(s, account, &res->items[i]);
    if (res->paused_ms > 0) {
        /* A pause seen in Redis (another daemon's throttle answer, or ops)
         * is looked at again each second: it may be lifted early. */
        prov_registry_pause(s->reg, account,
                            now + (res->paused_ms < 1000 ? res->paused_ms : 1000));
        kick(s);                /* another account may be free */
    } else if (res->n > 0 && res->wait_ms == 0) {
        kick(s);                /* there may be more due */
    } else if (res->wait_ms > 0) {
        arm(s, res->wait_ms < POLL_MS ? res->wait_ms : POLL_MS);
    } else {
        arm(s, POLL_MS);
    }
}

static void kick(gw_sender *s)
{
    /* Claim in batches: when a quarter of the slots are free, or all are
     * (a slow trickle, a rate-limited account). */
    if (s->stopped || s->claiming ||
        (s->in_flight > 0 && GW_SENDER_MAX_IN_FLIGHT - s->in_flight < CLAIM_MIN))
        return;
    int64_t now = gw_clock_now_ms(), wait = POLL_MS;
    int account = prov_registry_pick(s->reg, now, &wait);
    if (account < 0) {
        arm(s, wait > 0 && wait < POLL_MS ? wait : POLL_MS);
        return;
    }
    const gw_provider_conf *conf = prov_registry_conf(s->reg, (size_t)account);
    double rate = conf->max_tps > 0 ? conf->max_tps : 0;
    double burst = q_bucket_burst(conf->max_tps, s->cfg->sms_max_segments);
    int max = (int)(GW_SENDER_MAX_IN_FLIGHT - s->in_flight);
    if (max > CLAIM_MAX)
        max = CLAIM_MAX;
    s->claim_account = account;
    if (q_claim(s->q, now, max, conf->name, rate, burst, on_claim, s) != 0) {
        arm(s, RETRY_REDIS_MS);
        return;
    }
    s->claiming = 1;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kick(arg);
}

/* ---- lifetime ---- */

gw_sender *gw_sender_new(struct event_base *base, const gw_config *cfg, q *q,
                         prov_registry *reg)
{
    gw_sender *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->base = base;
    s->cfg = cfg;
    s->q = q;
    s->reg = reg;
    s->rng = (uint32_t)gw_clock_mono_us() | 1u;
    s->timer = evtimer_new(base, on_timer, s);
    if (s->timer == NULL) {
        free(s);
        return NULL;
    }
    arm(s, POLL_MS);
    return s;
}

void gw_sender_free(gw_sender *s)
{
    if (s == NULL)
        return;
    while (s->jobs != NULL)     /* their calls were cancelled with the registry */
        job_free(s->jobs);
    event_free(s->timer);
    free(s);
}

void gw_sender_poke(gw_sender *s)
{
    if (!s->claiming && !s->stopped)
        arm(s, 0);
}

void gw_sender_stop(gw_sender *s)
{
    s->stopped = 1;
    event_del(s->timer);
}

size_t gw_sender_busy(const gw_sender *s)
{
    return s->in_flight + q_ack_pending(s->q);
}
