/* gw_redis.c - async hiredis connection with reconnect; see gw_redis.h.
 *
 * Owns one redisAsyncContext to Redis at a time (ac) and, with Sentinel, one
 * to a sentinel (sac: first asking for the master's address, then subscribed
 * to +switch-master while the connection to the master lasts). hiredis frees
 * a context itself after its connect callback reports failure and after its
 * disconnect callback; we free one ourselves only from a timer or from the
 * deferred step event, never inside a hiredis callback: a callback that wants
 * a connection gone records it and activates step_ev. Before we free a
 * context its data is set to NULL, so its remaining callbacks ignore it.
 * A sentinel round asks the sentinels in turn, starting with the one that
 * answered last, each with a deadline; when none answers the round ends in
 * the usual backoff (or, while the master's connection is fine, in a quiet
 * re-watch timer). */
#include "gw_redis_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "gw_clock.h"
#include "gw_format.h"
#include "gw_log.h"

/* A command's context, so we can count what is pending and hide stale
 * replies from the callers after a reconnect. */
typedef struct cmd_ctx {
    gw_redis *r;
    gw_redis_cb *cb;
    void *arg;
} cmd_ctx;

static void redis_connect(gw_redis *r);

/* ---- state ---- */

struct timeval gwr_ms_tv(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static void set_up(gw_redis *r, int up)
{
    if (r->up == up)
        return;
    r->up = up;
    gw_info("redis", "%s %s:%d", up ? "up" : "down", r->host, r->port);
    if (r->state_cb != NULL)
        r->state_cb(r, up, r->state_arg);
}

void gwr_schedule_retry(gw_redis *r)
{
    struct timeval tv = gwr_ms_tv(r->backoff_ms);
    evtimer_add(r->retry_ev, &tv);
    r->backoff_ms *= 2;
    if (r->backoff_ms > BACKOFF_MAX_MS)
        r->backoff_ms = BACKOFF_MAX_MS;
}

static void lost(gw_redis *r)
{
    r->ac = NULL;
    r->ready = 0;
    r->ping_sent_ms = 0;
    for (gw_redis_script *s = r->scripts; s != NULL; s = s->next)
        s->sha[0] = '\0';
    set_up(r, 0);
    gwr_schedule_retry(r);
}

/* Closes the connection to Redis and reconnects after the backoff. Not from
 * inside a hiredis callback of ac. */
static void drop_connection(gw_redis *r)
{
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    r->ready = 0;
    ac->data = NULL;          /* our disconnect callback must not run */
    redisAsyncFree(ac);       /* pending callbacks get NULL */
    lost(r);
}

/* From inside a callback: drop the current connection from step_ev. */
void gwr_drop_later(gw_redis *r)
{
    r->drop_generation = r->generation;
    event_active(r->step_ev, EV_TIMEOUT, 0);
}

/* ---- command plumbing ---- */

/* Commands queued during one loop turn go out in one write when the turn's
 * other callbacks are done, instead of waiting for the next epoll round to
 * report the socket writable: one loop turn less per Redis round trip. */
static void schedule_flush(gw_redis *r)
{
    if (!r->flush_pending) {
        r->flush_pending = 1;
        event_active(r->flush_ev, EV_TIMEOUT, 0);
    }
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_redis *r = arg;
    r->flush_pending = 0;
    if (r->ac != NULL && (r->ac->c.flags & REDIS_CONNECTED))
        redisAsyncHandleWrite(r->ac);
}

static void cmd_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    cmd_ctx *c = privdata;
    gw_redis *r = c->r;
    r->pending--;
    if (c->cb != NULL)
        c->cb(r, reply, c->arg);
    free(c);
}

/* A command's context when Redis is ready for commands, else NULL. */
static cmd_ctx *cmd_new(gw_redis *r, gw_redis_cb *cb, void *arg)
{
    if (r->ac == NULL || !r->ready)
        return NULL;
    cmd_ctx *c = malloc(sizeof *c);
    if (c == NULL)
        return NULL;
    c->r = r;
    c->cb = cb;
    c->arg = arg;
    return c;
}

/* Counts a command sent with C, or frees C when RC says it was not. */
static int cmd_sent(gw_redis *r, cmd_ctx *c, int rc)
{
    if (rc != REDIS_OK) {
        free(c);
        return -1;
    }
    r->pending++;
    schedule_flush(r);
    return 0;
}

static int send_argv(gw_redis *r, gw_redis_cb *cb, void *arg, int argc,
                     const char **argv, const size_t *argvlen)
{
    cmd_ctx *c = cmd_new(r, cb, arg);
    if (c == NULL)
        return -1;
    /* RESP is formatted here (hiredis' own formatter goes through a
     * printf-like sdscatfmt per argument). */
    size_t total = 16;
    for (int i = 0; i < argc; i++)
        total += (argvlen != NULL ? argvlen[i] : strlen(argv[i])) + 32;
    char stackbuf[2048];
    char *cmd = total <= sizeof stackbuf ? stackbuf : malloc(total);
    if (cmd == NULL) {
        free(c);
        return -1;
    }
    size_t len = 0;
    cmd[len++] = '*';
    len += gw_uint_format(cmd + len, (size_t)argc);
    cmd[len++] = '\r';
    cmd[len++] = '\n';
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        cmd[len++] = '$';
        len += gw_uint_format(cmd + len, n);
        cmd[len++] = '\r';
        cmd[len++] = '\n';
        memcpy(cmd + len, argv[i], n);
        len += n;
        cmd[len++] = '\r';
        cmd[len++] = '\n';
    }
    int rc = redisAsyncFormattedCommand(r->ac, cmd_reply, c, cmd, len);
    if (cmd != stackbuf)
        free(cmd);
    return cmd_sent(r, c, rc);
}

int gw_redis_argv(gw_redis *r, gw_redis_cb *cb, void *arg, int argc,
                  const char **argv, const size_t *argvlen)
{
    return send_argv(r, cb, arg, argc, argv, argvlen);
}

int gw_redis_command(gw_redis *r, gw_redis_cb *cb, void *arg, const char *fmt, ...)
{
    cmd_ctx *c = cmd_new(r, cb, arg);
    if (c == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->ac, cmd_reply, c, fmt, ap);
    va_end(ap);
    return cmd_sent(r, c, rc);
}

int gw_redis_eval(gw_redis *r, gw_redis_script *script, gw_redis_cb *cb, void *arg,
                  int nkeys, int argc, const char **argv, const size_t *argvlen)
{
    enum { SMALL = 64 };
    if (argc < 0 || argc > INT_MAX - 3 || nkeys > argc)
        return -1;
    const char *small_v[SMALL];
    size_t small_vl[SMALL];
    const char **v = small_v;
    size_t *vl = small_vl;
    if (argc + 3 > SMALL) {     /* a queue batch: thousands of arguments */
        v = malloc((size_t)(argc + 3) * sizeof *v);
        vl = malloc((size_t)(argc + 3) * sizeof *vl);
        if (v == NULL || vl == NULL) {
            free(v);
            free(vl);
            return -1;
        }
    }
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    int loaded = script->sha[0] != '\0';
    v[0] = loaded ? "EVALSHA" : "EVAL";
    v[1] = loaded ? script->sha : script->body;
    v[2] = nk;
    for (int i = 0; i < 3; i++)
        vl[i] = strlen(v[i]);
    for (int i = 0; i < argc; i++) {
        v[3 + i] = argv[i];
        vl[3 + i] = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
    }
    int rc = send_argv(r, cb, arg, argc + 3, v, vl);
    if (v != small_v) {
        free(v);
        free(vl);
    }
    return rc;
}

size_t gw_redis_pending(const gw_redis *r)
{
    return r->pending;
}

const char *gw_reply_field(const redisReply *r, const char *name)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0 &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return r->element[i + 1]->str;
    return NULL;
}

int gw_redis_up(const gw_redis *r)
{
    return r->up;
}

void gw_redis_on_state(gw_redis *r, gw_redis_state_cb *cb, void *arg)
{
    r->state_cb = cb;
    r->state_arg = arg;
}

gw_redis_script *gw_redis_script_add(gw_redis *r, const char *name, const char *body)
{
    gw_redis_script *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->name = name;
    s->body = body;
    s->next = r->scripts;
    r->scripts = s;
    if (r->ready)
        gw_redis_command(r, NULL, NULL, "SCRIPT LOAD %s", body);
    return s;
}

/* ---- connection set-up ---- */

typedef struct gen_arg {
    unsigned generation;
    gw_redis_script *script;
} gen_arg;

static void on_script_loaded(gw_redis *r, redisReply *reply, void *arg)
{
    gen_arg *g = arg;
    if (reply != NULL && reply->type == REDIS_REPLY_STRING && reply->len == 40 &&
        g->generation == r->generation)
        memcpy(g->script->sha, reply->str, 41);
    else if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        gw_error("redis", "script %s: %s", g->script->name, reply->str);
    free(g);
}

/* The answer to CONFIG GET maxmemory-policy appendonly (name, value pairs). */
static void on_policy(gw_redis *r, redisReply *reply, void *arg)
{
    (void)arg;
    const char *policy = NULL;
    int appendonly = -1;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < reply->elements; i += 2) {
            const redisReply *k = reply->element[i], *v = reply->element[i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                continue;
            if (strcmp(k->str, "maxmemory-policy") == 0)
                policy = v->str;
            else if (strcmp(k->str, "appendonly") == 0)
                appendonly = strcmp(v->str, "yes") == 0;
        }
    }
    if (policy == NULL)
        gw_warn("redis", "cannot read Redis' maxmemory-policy and appendonly (%s): make sure "
                "it runs with maxmemory-policy noeviction and appendonly yes",
                reply != NULL && reply->type == REDIS_REPLY_ERROR ? reply->str : "no answer");
    else if (appendonly == 0)
        gw_warn("redis", "appendonly is off: queued messages and reminders are lost if Redis "
                "restarts; set appendonly yes (see ops/redis.conf)");
    if (r->check_cb != NULL)
        r->check_cb(r, policy, appendonly, r->check_arg);
    else if (policy != NULL && strcmp(policy, "noeviction") != 0)
        gw_warn("redis", "maxmemory-policy is %s: Redis may evict queued work and "
                "sessions; set maxmemory-policy noeviction", policy);
}

void gw_redis_on_check(gw_redis *r, gw_redis_check_cb *cb, void *arg)
{
    r->check_cb = cb;
    r->check_arg = arg;
}

/* A set-up command (sent before the connection is ready), with the
 * connection's generation as the callback's ARG. */
static void setup_command(gw_redis *r, gw_redis_cb *cb, const char *fmt, ...)
{
    cmd_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return;       /* the set-up deadline drops the connection */
    c->r = r;
    c->cb = cb;
    c->arg = (void *)(uintptr_t)r->generation;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->ac, cmd_reply, c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK)
        free(c);
    else
        r->pending++;
}

static int current(gw_redis *r, void *generation_arg)
{
    return r->ac != NULL && (unsigned)(uintptr_t)generation_arg == r->generation;
}

static void become_ready(gw_redis *r)
{
    r->ready = 1;
    r->backoff_ms = BACKOFF_MIN_MS;
    for (gw_redis_script *s = r->scripts; s != NULL; s = s->next) {
        gen_arg *g = malloc(sizeof *g);
        if (g == NULL)
            continue;
        g->generation = r->generation;
        g->script = s;
        if (gw_redis_command(r, on_script_loaded, g, "SCRIPT LOAD %s", s->body) != 0)
            free(g);
    }
    gw_redis_command(r, on_policy, NULL, "CONFIG GET maxmemory-policy appendonly");
    set_up(r, 1);
}

/* The role in a ROLE answer ("master", "slave", "sentinel"), or NULL. */
static const char *role_of(const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return NULL;
    return reply->element[0]->str;
}

/* With Sentinel: only a master is written to; anything else is dropped and
 * the sentinels are asked again. Returns 1 when REPLY says master. */
static int check_master(gw_redis *r, const redisReply *reply)
{
    const char *role = role_of(reply);
    if (role != NULL && strcmp(role, "master") == 0)
        return 1;
    if (reply->type == REDIS_REPLY_ERROR)
        gw_warn("redis", "%s:%d: ROLE failed: %s; asking the sentinels again", r->host,
                r->port, reply->str);
    else
        gw_warn("redis", "%s:%d is a %s, not the master of %s: asking the sentinels again",
                r->host, r->port, role != NULL ? role : "server of unknown role", r->master);
    gwr_drop_later(r);
    return 0;
}

static void on_role(gw_redis *r, redisReply *reply, void *arg)
{
    if (current(r, arg) && reply != NULL && check_master(r, reply))
        become_ready(r);
}

static void on_auth(gw_redis *r, redisReply *reply, void *arg)
{
    if (current(r, arg) && reply != NULL && reply->type == REDIS_REPLY_ERROR)
        gw_error("redis", "%s:%d: AUTH failed: %s", r->host, r->port, reply->str);
}

static void on_select(gw_redis *r, redisReply *reply, void *arg)
{
    if (!current(r, arg) || reply == NULL)
        return;       /* a lost connection is retried by its disconnect */
    if (reply->type == REDIS_REPLY_ERROR) {
        gw_error("redis", "set-up failed: %s (retry in %d ms)", reply->str, r->backoff_ms);
        gwr_drop_later(r);
    } else if (r->nsentinels > 0) {
        setup_command(r, on_role, "ROLE");
    } else {
        become_ready(r);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    gw_redis *r = ac->data;
    if (r == NULL)
        return;
    if (status != REDIS_OK) {
        gw_warn("redis", "connect to %s:%d failed: %s (retry in %d ms)", r->host, r->port,
                ac->errstr, r->backoff_ms);
        lost(r);      /* hiredis frees the context */
        return;
    }
    /* AUTH and SELECT go first; commands are refused until they answer. */
    if (r->password != NULL)
        setup_command(r, on_auth, "AUTH %s", r->password);
    setup_command(r, on_select, "SELECT %d", r->db);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    gw_redis *r = ac->data;
    if (r == NULL)
        return;
    if (status != REDIS_OK)
        gw_warn("redis", "connection lost: %s", ac->errstr);
    lost(r);          /* hiredis frees the context after this returns */
}

/* Connects to r->host:r->port. */
void gwr_data_connect(gw_redis *r)
{
    evtimer_del(r->retry_ev);
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (ac == NULL) {
        gwr_schedule_retry(r);
        return;
    }
    if (ac->err) {
        gw_warn("redis", "connect to %s:%d failed: %s", r->host, r->port, ac->errstr);
        redisAsyncFree(ac);
        gwr_schedule_retry(r);
        return;
    }
    ac->data = r;
    r->generation++;
    r->ac = ac;
    r->connect_ms = gw_clock_mono_ms();
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

/* Work callbacks asked for, outside any hiredis callback. */
static void on_step(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_redis *r = arg;
    unsigned generation = r->drop_generation, seq = r->next_ask_seq;
    r->drop_generation = 0;
    r->next_ask_seq = 0;
    if (generation != 0 && r->ac != NULL && generation == r->generation)
        drop_connection(r);
    if (seq != 0 && seq == r->ask_seq) {
        gwr_sentinel_close(r);
        gwr_sentinel_ask(r);
    }
}

static void redis_connect(gw_redis *r)
{
    if (r->nsentinels > 0)
        gwr_sentinel_round(r);
    else
        gwr_data_connect(r);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_connect(arg);
}

/* ---- health ---- */

static void on_pong(gw_redis *r, redisReply *reply, void *arg)
{
    if (!current(r, arg))
        return;
    r->ping_sent_ms = 0;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR || !r->ready)
        return;
    if (r->nsentinels == 0 || check_master(r, reply))
        set_up(r, 1);
}

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_redis *r = arg;
    if (r->ac == NULL)
        return;
    int64_t now = gw_clock_mono_ms();
    if (!r->ready) {
        if (now - r->connect_ms > SETUP_DEADLINE_MS) {
            gw_warn("redis", "%s:%d: not connected and set up within %d ms: dropping the "
                    "connection", r->host, r->port, SETUP_DEADLINE_MS);
            drop_connection(r);
        }
        return;
    }
    if (r->ping_sent_ms != 0) {
        if (now - r->ping_sent_ms > PING_DEADLINE_MS) {
            gw_warn("redis", "no answer to PING for %d ms: dropping the connection",
                    PING_DEADLINE_MS);
            drop_connection(r);
        }
        return;
    }
    /* With Sentinel the health check is ROLE: a master demoted behind our back
     * is left at once. */
    if (gw_redis_command(r, on_pong, (void *)(uintptr_t)r->generation,
                         r->nsentinels > 0 ? "ROLE" : "PING") == 0)
        r->ping_sent_ms = now;
}

/* ---- life cycle ---- */

static gw_redis *redis_alloc(struct event_base *base, int db, const char *password)
{
    gw_redis *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->base = base;
    r->db = db;
    r->password = password != NULL ? strdup(password) : NULL;
    r->backoff_ms = BACKOFF_MIN_MS;
    r->retry_ev = evtimer_new(base, on_retry, r);
    r->ping_ev = event_new(base, -1, EV_PERSIST, on_ping_timer, r);
    r->flush_ev = event_new(base, -1, 0, on_flush, r);
    r->sentinel_ev = evtimer_new(base, gwr_on_sentinel_timer, r);
    r->step_ev = event_new(base, -1, 0, on_step, r);
    if (r->retry_ev == NULL || r->ping_ev == NULL || r->flush_ev == NULL ||
        r->sentinel_ev == NULL || r->step_ev == NULL || (password != NULL && r->password == NULL)) {
        gw_redis_free(r);
        return NULL;
    }
    return r;
}

static gw_redis *redis_start(gw_redis *r)
{
    struct timeval tv = gwr_ms_tv(PING_EVERY_MS);
    event_add(r->ping_ev, &tv);
    redis_connect(r);
    return r;
}

gw_redis *gw_redis_new(struct event_base *base, const char *host, int port, int db,
                       const char *password)
{
    gw_redis *r = redis_alloc(base, db, password);
    if (r == NULL)
        return NULL;
    r->host = strdup(host);
    r->port = port;
    if (r->host == NULL) {
        gw_redis_free(r);
        return NULL;
    }
    return redis_start(r);
}

gw_redis *gw_redis_new_sentinel(struct event_base *base, const char *sentinels,
                                const char *master, int db, const char *password)
{
    if (master == NULL || master[0] == '\0')
        return NULL;
    gw_redis *r = redis_alloc(base, db, password);
    if (r == NULL)
        return NULL;
    int max = 1;
    for (const char *c = sentinels; *c != '\0'; c++)
        max += *c == ',';
    r->sentinels = calloc((size_t)max, sizeof *r->sentinels);
    r->master = strdup(master);
    if (r->sentinels == NULL || r->master == NULL) {
        gw_redis_free(r);
        return NULL;
    }
    for (const char *p = sentinels; p != NULL;) {
        const char *comma = strchr(p, ','), *e = comma != NULL ? comma : p + strlen(p);
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (gwr_parse_sentinel(p, (size_t)(e - p), &r->sentinels[r->nsentinels]) != 0) {
            gw_redis_free(r);
            return NULL;
        }
        r->nsentinels++;
        p = comma != NULL ? comma + 1 : NULL;
    }
    return redis_start(r);
}

void gw_redis_free(gw_redis *r)
{
    if (r == NULL)
        return;
    if (r->ac != NULL) {
        redisAsyncContext *ac = r->ac;
        ac->data = NULL;
        r->ac = NULL;
        redisAsyncFree(ac);
    }
    if (r->sentinel_ev != NULL)
        gwr_sentinel_close(r);
    struct event *evs[] = {r->retry_ev, r->ping_ev, r->flush_ev, r->sentinel_ev, r->step_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i] != NULL)
            event_free(evs[i]);
    while (r->scripts != NULL) {
        gw_redis_script *next = r->scripts->next;
        free(r->scripts);
        r->scripts = next;
    }
    free(r->sentinels);
    free(r->master);
    free(r->host);
    free(r->password);
    free(r);
}
