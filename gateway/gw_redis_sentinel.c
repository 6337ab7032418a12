/* gw_redis_sentinel.c - finding the Redis master through Sentinel and
 * following it through failovers; see gw_redis.h and gw_redis_internal.h.
 *
 * A round asks the sentinels in turn (SENTINEL get-master-addr-by-name),
 * starting with the one that answered last, each within its deadline; the
 * one that answers stays subscribed to +switch-master so a failover moves
 * the connection at once. Runs on the daemon's loop, never blocking. */
#include "gw_redis_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>

#include "gw_clock.h"
#include "gw_log.h"

/* ---- Sentinel ---- */

/* Trouble with one sentinel is a warning while the daemon waits for the
 * master's address, and only debug while it re-watches (Redis is fine). */
#define sentinel_trouble(r, ...) \
    gw_log((r)->ac != NULL ? GW_LOG_DEBUG : GW_LOG_WARN, "redis", __VA_ARGS__)

void gwr_sentinel_ask(gw_redis *r);

static const sentinel_addr *asked(const gw_redis *r)
{
    return &r->sentinels[r->sac_idx];
}

void gwr_sentinel_close(gw_redis *r)
{
    evtimer_del(r->sentinel_ev);
    r->watching = 0;
    if (r->sac == NULL)
        return;
    redisAsyncContext *sac = r->sac;
    r->sac = NULL;
    sac->data = NULL;
    redisAsyncFree(sac);
}

/* From inside a callback: give up this ask and try the next sentinel. */
static void ask_next_later(gw_redis *r)
{
    r->next_ask_seq = r->ask_seq;
    event_active(r->step_ev, EV_TIMEOUT, 0);
}

/* Starts a round: every sentinel in turn until one gives an address. */
void gwr_sentinel_round(gw_redis *r)
{
    gwr_sentinel_close(r);
    r->tries = 0;
    gwr_sentinel_ask(r);
}

/* A +switch-master message: "NAME OLDHOST OLDPORT NEWHOST NEWPORT". */
static void on_switch(redisAsyncContext *sac, void *reply, void *arg)
{
    (void)arg;
    gw_redis *r = sac->data;
    const redisReply *m = reply;
    if (r == NULL || m == NULL || m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
        m->element[0]->type != REDIS_REPLY_STRING || strcmp(m->element[0]->str, "message") != 0 ||
        m->element[2]->type != REDIS_REPLY_STRING)
        return;       /* the SUBSCRIBE confirmation, or the context going away */
    const char *text = m->element[2]->str;
    size_t n = strlen(r->master);
    if (strncmp(text, r->master, n) != 0 || text[n] != ' ')
        return;       /* another master of this sentinel */
    gw_warn("redis", "sentinel %s:%d: failover of %s (%s): reconnecting", asked(r)->host,
            asked(r)->port, r->master, text + n + 1);
    if (r->ac != NULL) {
        gwr_drop_later(r);
    } else {                  /* waiting out a backoff: no need to any more */
        r->backoff_ms = BACKOFF_MIN_MS;
        gwr_schedule_retry(r);
    }
}

/* The address in a get-master-addr-by-name answer; 0 when valid. */
static int parse_master_addr(const redisReply *a, char *host, size_t hostlen, int *port)
{
    if (a->type != REDIS_REPLY_ARRAY || a->elements != 2 ||
        a->element[0]->type != REDIS_REPLY_STRING || a->element[1]->type != REDIS_REPLY_STRING ||
        a->element[0]->len == 0 || a->element[0]->len >= hostlen)
        return -1;
    char *end;
    long p = strtol(a->element[1]->str, &end, 10);
    if (end == a->element[1]->str || *end != '\0' || p < 1 || p > 65535)
        return -1;
    memcpy(host, a->element[0]->str, a->element[0]->len + 1);
    *port = (int)p;
    return 0;
}

/* The sentinel says the master is HOST:PORT. */
static void master_found(gw_redis *r, const char *host, int port)
{
    const sentinel_addr *s = asked(r);
    int moved = r->host == NULL || strcmp(r->host, host) != 0 || r->port != port;
    if (r->ac != NULL) {      /* a re-watch while connected */
        if (moved) {
            gw_warn("redis", "sentinel %s:%d: master %s is at %s:%d, not %s:%d: reconnecting",
                    s->host, s->port, r->master, host, port, r->host, r->port);
            gwr_drop_later(r);
        } else {
            gw_info("redis", "watching sentinel %s:%d for failovers of %s again", s->host,
                    s->port, r->master);
        }
        return;
    }
    if (moved) {
        char *copy = strdup(host);
        if (copy == NULL) {
            gwr_schedule_retry(r);
            return;
        }
        if (r->host != NULL)
            gw_warn("redis", "master %s moved from %s:%d to %s:%d (sentinel %s:%d)", r->master,
                    r->host, r->port, host, port, s->host, s->port);
        else
            gw_info("redis", "master %s is at %s:%d (sentinel %s:%d)", r->master, host, port,
                    s->host, s->port);
        free(r->host);
        r->host = copy;
        r->port = port;
    } else {
        gw_info("redis", "master %s is still at %s:%d (sentinel %s:%d)", r->master, host, port,
                s->host, s->port);
    }
    gwr_data_connect(r);
}

static void on_master_addr(redisAsyncContext *sac, void *reply, void *arg)
{
    gw_redis *r = sac->data;
    const redisReply *a = reply;
    if (r == NULL || a == NULL || (unsigned)(uintptr_t)arg != r->ask_seq)
        return;       /* a lost connection goes on in on_sentinel_disconnect */
    evtimer_del(r->sentinel_ev);
    const sentinel_addr *s = asked(r);
    char host[256];
    int port;
    if (parse_master_addr(a, host, sizeof host, &port) == 0) {
        r->watching = 1;
        redisAsyncCommand(sac, on_switch, NULL, "SUBSCRIBE +switch-master");
        master_found(r, host, port);
        return;
    }
    if (a->type == REDIS_REPLY_NIL)
        gw_log(r->ac != NULL ? GW_LOG_DEBUG : GW_LOG_ERROR, "redis",
               "sentinel %s:%d does not know a master named \"%s\" (check [redis] master)",
               s->host, s->port, r->master);
    else
        sentinel_trouble(r, "sentinel %s:%d: unexpected answer to get-master-addr-by-name%s%s",
                         s->host, s->port, a->type == REDIS_REPLY_ERROR ? ": " : "",
                         a->type == REDIS_REPLY_ERROR ? a->str : "");
    ask_next_later(r);
}

static void on_sentinel_connect(const redisAsyncContext *sac, int status)
{
    gw_redis *r = sac->data;
    if (r == NULL || status == REDIS_OK)
        return;
    sentinel_trouble(r, "sentinel %s:%d: %s", asked(r)->host, asked(r)->port, sac->errstr);
    r->sac = NULL;    /* hiredis frees it */
    evtimer_del(r->sentinel_ev);
    ask_next_later(r);
}

static void on_sentinel_disconnect(const redisAsyncContext *sac, int status)
{
    gw_redis *r = sac->data;
    if (r == NULL)
        return;
    r->sac = NULL;    /* hiredis frees it */
    const char *why = status == REDIS_OK ? "closed" : sac->errstr;
    if (!r->watching) {
        sentinel_trouble(r, "sentinel %s:%d: %s", asked(r)->host, asked(r)->port, why);
        evtimer_del(r->sentinel_ev);
        ask_next_later(r);
        return;
    }
    r->watching = 0;
    if (r->ac == NULL)
        return;       /* the reconnect asks the sentinels anyway */
    gw_warn("redis", "lost sentinel %s:%d (%s): failovers of %s go unnoticed until a "
            "sentinel answers again", asked(r)->host, asked(r)->port, why, r->master);
    struct timeval tv = gwr_ms_tv(REWATCH_MS);
    evtimer_add(r->sentinel_ev, &tv);
}

/* Asks the next sentinel of this round, or ends the round. */
void gwr_sentinel_ask(gw_redis *r)
{
    for (; r->tries < r->nsentinels; r->tries++) {
        if (r->tries > 0)
            r->sac_idx = (r->sac_idx + 1) % r->nsentinels;
        r->ask_seq++;
        const sentinel_addr *s = asked(r);
        redisAsyncContext *sac = redisAsyncConnect(s->host, s->port);
        if (sac == NULL || sac->err) {
            sentinel_trouble(r, "sentinel %s:%d: %s", s->host, s->port,
                             sac != NULL ? sac->errstr : "out of memory");
            if (sac != NULL)
                redisAsyncFree(sac);
            continue;
        }
        sac->data = r;
        r->sac = sac;
        r->watching = 0;
        redisLibeventAttach(sac, r->base);
        redisAsyncSetConnectCallback(sac, on_sentinel_connect);
        redisAsyncSetDisconnectCallback(sac, on_sentinel_disconnect);
        if (redisAsyncCommand(sac, on_master_addr, (void *)(uintptr_t)r->ask_seq,
                              "SENTINEL get-master-addr-by-name %s", r->master) != REDIS_OK) {
            gwr_sentinel_close(r);
            continue;
        }
        r->tries++;
        struct timeval tv = gwr_ms_tv(SENTINEL_DEADLINE_MS);
        evtimer_add(r->sentinel_ev, &tv);
        return;
    }
    r->sac_idx = (r->sac_idx + 1) % r->nsentinels;  /* next round starts where this one did */
    if (r->ac != NULL) {      /* a re-watch: Redis is fine, try again quietly */
        struct timeval tv = gwr_ms_tv(REWATCH_MS);
        evtimer_add(r->sentinel_ev, &tv);
        return;
    }
    gw_warn("redis", "no sentinel gave the address of master %s (retry in %d ms)", r->master,
            r->backoff_ms);
    gwr_schedule_retry(r);
}

void gwr_on_sentinel_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_redis *r = arg;
    if (r->sac != NULL && !r->watching) {
        sentinel_trouble(r, "sentinel %s:%d did not answer in %d ms", asked(r)->host,
                         asked(r)->port, SENTINEL_DEADLINE_MS);
        gwr_sentinel_close(r);
        gwr_sentinel_ask(r);
    } else if (r->sac == NULL && r->ac != NULL) {
        gwr_sentinel_round(r);    /* re-watch */
    }
}


/* Parses one "HOST:PORT" or "[V6]:PORT" item S[0..LEN) into OUT; 0 when valid. */
int gwr_parse_sentinel(const char *s, size_t len, sentinel_addr *out)
{
    const char *h = s, *he, *rest;
    if (len > 0 && s[0] == '[') {
        h = s + 1;
        he = memchr(s, ']', len);
        if (he == NULL)
            return -1;
        rest = he + 1;
    } else {
        he = rest = memrchr(s, ':', len);
        if (he == NULL)
            return -1;
    }
    const char *end = s + len;
    size_t hl = (size_t)(he - h);
    if (hl == 0 || hl >= sizeof out->host || rest >= end || *rest != ':' || end - rest < 2 ||
        end - rest > 6)
        return -1;
    long port = 0;
    for (const char *p = rest + 1; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535)
        return -1;
    memcpy(out->host, h, hl);
    out->host[hl] = '\0';
    out->port = (int)port;
    return 0;
}
