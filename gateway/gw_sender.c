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
#include "tpl.h"

#define CLAIM_MAX 500            /* messages per claim */
#define REQ_MAX 64               /* carrier requests in flight */
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
    size_t in_flight;           /* messages in carrier requests out */
    size_t requests;            /* carrier requests out */
    struct send_job *jobs;      /* those requests, to free them at exit */
    uint32_t rng;
    gw_sender_blocked_cb *blocked_cb;
    void *blocked_arg;
    gw_sender_render_cb *render;
    void *render_arg;
    char **dlr_urls;            /* per account: Kannel's dlr-url template, else NULL */
    size_t ndlr_urls;
};

/* One message of a request. */
typedef struct job_msg {
    q_lane lane;
    q_item item;
    char id[24];
} job_msg;

/* One carrier request: N messages sharing one text (N > 1 only for
 * carriers that take many numbers per request). */
typedef struct send_job {
    gw_sender *s;
    struct send_job *prev, *next;
    size_t account;
    char *text;
    size_t text_len;
    int ucs2;
    size_t n;
    job_msg msgs[];
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

/* ---- outcomes ---- */

static void record(gw_sender *s, size_t account, const job_msg *m, const prov_result *res)
{
    const gw_provider_conf *conf = prov_registry_conf(s->reg, account);
    const char *prov = conf->name;
    int64_t now = gw_clock_now_ms();
    q_ack_entry e;
    memset(&e, 0, sizeof e);
    e.lane = m->lane;
    e.item = &m->item;
    e.provider = prov;
    e.reason = res->reason;
    char cid[128], masked[32];
    gw_metrics_sms(prov, prov_outcome_name(res->outcome),
                   res->outcome == PROV_ACCEPTED ? m->item.segments : 0);
    switch (res->outcome) {
    case PROV_ACCEPTED:
        q_carrier_id_norm(res->carrier_id, cid, sizeof cid);
        e.kind = Q_ACK_SENT;
        e.carrier_id = cid;
        break;
    case PROV_THROTTLED:
        e.kind = Q_ACK_THROTTLED;
        e.pause_ms = res->retry_after_ms > 0 ? res->retry_after_ms : 1000;
        prov_registry_pause(s->reg, account, now + e.pause_ms);
        break;
    case PROV_RETRY:
    case PROV_UNKNOWN:
        if (m->item.attempt + 1 >= Q_MAX_ATTEMPTS) {
            e.kind = Q_ACK_DEAD;
        } else {
            /* Failover: when another account can take it now, it goes at
             * once; else it waits its backoff. */
            int next = prov_registry_pick(s->reg, now, NULL);
            e.kind = Q_ACK_RETRY;
            e.due_ms = next >= 0 && (size_t)next != account
                           ? now
                           : now + q_backoff_ms(m->item.attempt + 1, next_rand(s));
        }
        break;
    case PROV_PERMANENT:
    default:
        e.kind = Q_ACK_DEAD;
        /* A refusal at the first attempt reached no phone; after earlier
         * attempts whose outcome was unknown, a copy may have. */
        e.refused = res->outcome == PROV_PERMANENT && m->item.attempt == 0;
        break;
    }
    if (res->recipient_blocked && s->blocked_cb != NULL)
        s->blocked_cb(m->item.phone, prov, s->blocked_arg);
    if (e.kind == Q_ACK_DEAD) {
        gw_phone_mask(m->item.phone, masked, sizeof masked);
        gw_warn("sender", "message %s to %s via %s: %s (%s), given up", m->id, masked, prov,
                prov_outcome_name(res->outcome), res->reason);
    }
    if (q_ack(s->q, &e) != 0) {
        gw_error("sender", "message %s: outcome not recorded; it comes back when its lease "
                 "runs out", m->id);
        q_abandon(s->q);
    }
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

static void on_sent(prov_registry *reg, size_t account, const prov_result *res, size_t n,
                    void *arg)
{
    (void)reg;
    send_job *job = arg;
    gw_sender *s = job->s;
    s->in_flight -= job->n;
    s->requests--;
    for (size_t i = 0; i < job->n; i++)
        record(s, account, &job->msgs[i], &res[i < n ? i : n - 1]);
    job_free(job);
    kick(s);
}

/* ---- claiming ---- */

/* Starts one request for JOB; on failure records why for each message. */
static void start_job(gw_sender *s, send_job *job)
{
    prov_result res;
    memset(&res, 0, sizeof res);
    prov_msg *msgs = calloc(job->n, sizeof *msgs);
    if (msgs == NULL) {
        gw_error("sender", "out of memory; %zu messages come back when their lease runs out",
                 job->n);
        q_abandon(s->q);
        job_free(job);
        return;
    }
    for (size_t i = 0; i < job->n; i++) {
        msgs[i].id = job->msgs[i].id;
        msgs[i].to = job->msgs[i].item.phone;
        msgs[i].text = job->text;
        msgs[i].text_len = job->text_len;
        msgs[i].ucs2 = job->ucs2;
        msgs[i].segments = job->msgs[i].item.segments;
        msgs[i].dlr_url = s->dlr_urls != NULL ? s->dlr_urls[job->account] : NULL;
    }
    int rc = prov_send_batch(s->reg, job->account, msgs, job->n, on_sent, job, &res);
    free(msgs);
    if (rc != 0) {
        if (res.reason[0] == '\0') {
            res.outcome = PROV_RETRY;
            snprintf(res.reason, sizeof res.reason, "the request could not be started");
        }
        for (size_t i = 0; i < job->n; i++)
            record(s, job->account, &job->msgs[i], &res);
        job_free(job);
        return;
    }
    job->next = s->jobs;
    if (s->jobs != NULL)
        s->jobs->prev = job;
    s->jobs = job;
    s->in_flight += job->n;
    s->requests++;
}

static send_job *job_new(gw_sender *s, size_t account, const q_claimed *c, size_t cap)
{
    send_job *job = calloc(1, sizeof *job + cap * sizeof job->msgs[0]);
    if (job == NULL)
        return NULL;
    job->s = s;
    job->account = account;
    job->ucs2 = c->ucs2;
    job->text_len = c->text_len;
    job->text = malloc(c->text_len + 1);
    if (job->text == NULL) {
        free(job);
        return NULL;
    }
    memcpy(job->text, c->text, c->text_len);
    job->text[c->text_len] = '\0';
    return job;
}

static void job_add(send_job *job, const q_claimed *c)
{
    job_msg *m = &job->msgs[job->n++];
    m->lane = c->lane;
    m->item = c->item;
    snprintf(m->id, sizeof m->id, "%" PRId64, c->item.id);
}

/* 1 when C can join JOB: the same text, a number not yet in it, room left. */
static int joins(const send_job *job, const q_claimed *c, size_t cap)
{
    if (job->n >= cap || job->ucs2 != c->ucs2 || job->text_len != c->text_len ||
        memcmp(job->text, c->text, c->text_len) != 0)
        return 0;
    for (size_t i = 0; i < job->n; i++)
        if (strcmp(job->msgs[i].item.phone, c->item.phone) == 0)
            return 0;
    return 1;
}

/* Turns the claimed messages into requests: one per message, or for a
 * carrier that takes many numbers, one per run of the same text. */
static void start_sends(gw_sender *s, size_t account, const q_claimed *items, size_t n)
{
    size_t cap = prov_registry_max_recipients(s->reg, account);
    send_job *open = NULL;
    for (size_t i = 0; i < n; i++) {
        const q_claimed *c = &items[i];
        q_claimed written;
        char *text = NULL;
        if (c->text != NULL && c->templated) {
            written = *c;
            written.templated = 0;
            int segments = 0;
            if (s->render != NULL)
                text = s->render(c, &written.text_len, &written.ucs2, &segments, s->render_arg);
            if (text != NULL && segments > 0)
                written.item.segments = segments;
            written.text = text;
            c = &written;
            if (text == NULL)
                gw_error("sender", "reminder %" PRId64 " could not be written; it fails",
                         c->item.id);
        }
        if (c->text == NULL) {
            job_msg m = {c->lane, c->item, ""};
            snprintf(m.id, sizeof m.id, "%" PRId64, c->item.id);
            prov_result res;
            memset(&res, 0, sizeof res);
            res.outcome = PROV_PERMANENT;
            snprintf(res.reason, sizeof res.reason, "%s",
                     c == &written ? "the reminder could not be written"
                                   : "the message text has expired");
            record(s, account, &m, &res);
            continue;
        }
        if (open != NULL && !joins(open, c, cap)) {
            start_job(s, open);
            open = NULL;
        }
        if (open == NULL && (open = job_new(s, account, c, cap)) == NULL) {
            gw_error("sender", "out of memory; message %" PRId64 " comes back when its lease "
                     "runs out", c->item.id);
            q_abandon(s->q);
            free(text);
            continue;
        }
        job_add(open, c);
        free(text);
    }
    if (open != NULL)
        start_job(s, open);
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
    if (s->stopped)
        return;     /* stopping: q_release gives what was claimed back */
    int64_t now = gw_clock_now_ms();
    size_t account = (size_t)s->claim_account;
    start_sends(s, account, res->items, res->n);
    if (res->paused_ms > 0) {
        /* A pause seen in Redis (another daemon's throttle answer, or ops)
         * is looked at again each second: it may be lifted early. */
        prov_registry_pause(s->reg, account,
                            now + (res->paused_ms < 1000 ? res->paused_ms : 1000));
        kick(s);                /* another account may be free */
    } else if ((res->n > 0 || res->taken > 0) && res->wait_ms == 0) {
        kick(s);                /* there may be more due (a cancelled campaign's skips
                                   are cleared at once, not a claim per poll) */
    } else if (res->wait_ms > 0) {
        arm(s, res->wait_ms < POLL_MS ? res->wait_ms : POLL_MS);
    } else {
        arm(s, POLL_MS);
    }
}

/* How many messages a claim for ACCOUNT may take now. */
static size_t room(const gw_sender *s, size_t account)
{
    size_t per_req = prov_registry_max_recipients(s->reg, account);
    size_t by_msgs = GW_SENDER_MAX_IN_FLIGHT - s->in_flight;
    size_t by_reqs = (REQ_MAX - s->requests) * per_req;
    size_t n = by_msgs < by_reqs ? by_msgs : by_reqs;
    return n < CLAIM_MAX ? n : CLAIM_MAX;
}

static void kick(gw_sender *s)
{
    if (s->stopped || s->claiming || s->in_flight >= GW_SENDER_MAX_IN_FLIGHT ||
        s->requests >= REQ_MAX)
        return;
    int64_t now = gw_clock_now_ms(), wait = POLL_MS;
    int account = prov_registry_pick(s->reg, now, &wait);
    if (account < 0) {
        arm(s, wait > 0 && wait < POLL_MS ? wait : POLL_MS);
        return;
    }
    /* Claim in batches: when a quarter of the room is free, or nothing is
     * out (a slow trickle, a rate-limited account). */
    size_t max = room(s, (size_t)account);
    size_t full = prov_registry_max_recipients(s->reg, (size_t)account) * REQ_MAX;
    if (full > GW_SENDER_MAX_IN_FLIGHT)
        full = GW_SENDER_MAX_IN_FLIGHT;
    if (s->requests > 0 && max < full / 4)
        return;
    const gw_provider_conf *conf = prov_registry_conf(s->reg, (size_t)account);
    double rate = conf->max_tps > 0 ? conf->max_tps : 0;
    double burst = q_bucket_burst(conf->max_tps, s->cfg->sms_max_segments);
    s->claim_account = account;
    if (q_claim(s->q, now, (int)max, conf->name, rate, burst, on_claim, s) != 0) {
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
    size_t naccounts = prov_registry_count(reg);
    s->dlr_urls = calloc(naccounts > 0 ? naccounts : 1, sizeof *s->dlr_urls);
    if (s->timer == NULL || s->dlr_urls == NULL) {
        if (s->timer != NULL)
            event_free(s->timer);
        free(s->dlr_urls);
        free(s);
        return NULL;
    }
    /* Kannel runs beside the daemon and reports to its carrier listener;
     * "%i" becomes our message id, "%d" is Kannel's delivery status. */
    const char *host = cfg->http_listen.host;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        host = "127.0.0.1";
    for (size_t i = 0; i < naccounts; i++) {
        const gw_provider_conf *c = prov_registry_conf(reg, i);
        if (strcmp(c->type, "kannel") != 0)
            continue;
        char url[512];
        snprintf(url, sizeof url, "http://%s%s%s:%d/dlr/kannel?account=%s&id=%%i&status=%%d",
                 strchr(host, ':') != NULL ? "[" : "", host, strchr(host, ':') != NULL ? "]" : "",
                 cfg->http_listen.port, c->name);
        s->dlr_urls[i] = strdup(url);
    }
    s->ndlr_urls = naccounts;
    arm(s, POLL_MS);
    return s;
}

void gw_sender_free(gw_sender *s)
{
    if (s == NULL)
        return;
    while (s->jobs != NULL)     /* their calls were cancelled with the registry */
        job_free(s->jobs);
    for (size_t i = 0; i < s->ndlr_urls; i++)
        free(s->dlr_urls[i]);
    free(s->dlr_urls);
    event_free(s->timer);
    free(s);
}

void gw_sender_on_blocked(gw_sender *s, gw_sender_blocked_cb *cb, void *arg)
{
    s->blocked_cb = cb;
    s->blocked_arg = arg;
}

void gw_sender_on_render(gw_sender *s, gw_sender_render_cb *cb, void *arg)
{
    s->render = cb;
    s->render_arg = arg;
}

int gw_sender_reply(gw_sender *s, const char *e164, const char *text, q_enqueue_cb *cb,
                    void *arg)
{
    tpl_sms info;
    char *ready = tpl_sms_prepare(s->cfg->sms_signature, text, strlen(text), &info);
    if (ready == NULL)
        return -1;
    const char *phones[] = {e164};
    q_batch b;
    memset(&b, 0, sizeof b);
    b.lane = Q_REPLY;
    b.text = ready;
    b.text_len = strlen(ready);
    b.ucs2 = info.ucs2;
    b.segments = info.segments;
    b.phones = phones;
    b.n = 1;
    b.track = 1;
    int rc = q_enqueue(s->q, &b, cb, arg);
    free(ready);
    if (rc == 0)
        gw_sender_poke(s);
    return rc;
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
    return s->in_flight + q_ack_pending(s->q) + (size_t)s->claiming;
}
