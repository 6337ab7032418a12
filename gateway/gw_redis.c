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
#include "gw_redis.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "gw_clock.h"
#include "gw_log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define PING_EVERY_MS 1000
#define PING_DEADLINE_MS 3000
#define SETUP_DEADLINE_MS 3000     /* connect + AUTH/SELECT(/ROLE) */
#define SENTINEL_DEADLINE_MS 1000  /* connect + get-master-addr-by-name */
#define REWATCH_MS 1000            /* retry of a lost +switch-master watch */

struct gw_redis_script {
    const char *name;
    const char *body;
    char sha[41];          /* "" until SCRIPT LOAD answered on this connection */
    gw_redis_script *next;
};

typedef struct sentinel_addr {
    char host[256];
    int port;
} sentinel_addr;

struct gw_redis {
    struct event_base *base;
    char *host;             /* the server's address; with Sentinel the last master found */
    int port;
    int db;
    char *password;

    redisAsyncContext *ac;  /* NULL while disconnected */
    int ready;              /* AUTH/SELECT (and with Sentinel ROLE) done */
    int up;                 /* ready and answering PINGs */
    unsigned generation;    /* bumps at each connect; stale callbacks check it */
    int backoff_ms;
    struct event *retry_ev;
    struct event *ping_ev;
    struct event *flush_ev; /* writes queued commands at the end of this loop turn */
    int flush_pending;
    int64_t ping_sent_ms;   /* 0 when no PING outstanding */
    int64_t connect_ms;     /* when ac was opened */
    size_t pending;

    /* Sentinel mode when nsentinels > 0 */
    sentinel_addr *sentinels;
    int nsentinels;
    char *master;
    redisAsyncContext *sac; /* asking, then watching; NULL when neither */
    int sac_idx;            /* the sentinel asked last */
    int tries;              /* sentinels asked in this round */
    int watching;           /* sac answered and is subscribed to +switch-master */
    unsigned ask_seq;       /* bumps at each ask; stale answers check it */
    struct event *sentinel_ev; /* an ask's deadline; without sac, the re-watch timer */

    /* Work deferred out of hiredis callbacks to step_ev (0: nothing to do). */
    struct event *step_ev;
    unsigned drop_generation;  /* drop ac if it is still this connection */
    unsigned next_ask_seq;     /* leave sac and ask the next sentinel if still this ask */

    gw_redis_state_cb *state_cb;
    void *state_arg;
    gw_redis_script *scripts;
};

/* A command's context, so we can count what is pending and hide stale
 * replies from the callers after a reconnect. */
typedef struct cmd_ctx {
    gw_redis *r;
    gw_redis_cb *cb;
    void *arg;
} cmd_ctx;

static void redis_connect(gw_redis *r);

/* ---- state ---- */

static struct timeval ms_tv(int ms)
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

static void schedule_retry(gw_redis *r)
{
    struct timeval tv = ms_tv(r->backoff_ms);
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
    schedule_retry(r);
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
static void drop_later(gw_redis *r)
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

static size_t fmt_size(char *out, size_t n)
{
    char tmp[24];
    size_t len = 0;
    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    for (size_t i = 0; i < len; i++)
        out[i] = tmp[len - 1 - i];
    return len;
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

static int send_argv(gw_redis *r, gw_redis_cb *cb, void *arg, int argc,
                     const char **argv, const size_t *argvlen)
{
    if (r->ac == NULL || !r->ready)
        return -1;
    cmd_ctx *c = malloc(sizeof *c);
    if (c == NULL)
        return -1;
    c->r = r;
    c->cb = cb;
    c->arg = arg;
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
    len += fmt_size(cmd + len, (size_t)argc);
    cmd[len++] = '\r';
    cmd[len++] = '\n';
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        cmd[len++] = '$';
        len += fmt_size(cmd + len, n);
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
    if (rc != REDIS_OK) {
        free(c);
        return -1;
    }
    r->pending++;
    schedule_flush(r);
    return 0;
}

int gw_redis_argv(gw_redis *r, gw_redis_cb *cb, void *arg, int argc,
                  const char **argv, const size_t *argvlen)
{
    return send_argv(r, cb, arg, argc, argv, argvlen);
}

int gw_redis_command(gw_redis *r, gw_redis_cb *cb, void *arg, const char *fmt, ...)
{
    if (r->ac == NULL || !r->ready)
        return -1;
    cmd_ctx *c = malloc(sizeof *c);
    if (c == NULL)
        return -1;
    c->r = r;
    c->cb = cb;
    c->arg = arg;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->ac, cmd_reply, c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(c);
        return -1;
    }
    r->pending++;
    schedule_flush(r);
    return 0;
}

int gw_redis_eval(gw_redis *r, gw_redis_script *script, gw_redis_cb *cb, void *arg,
                  int nkeys, int argc, const char **argv, const size_t *argvlen)
{
    enum { MAXARGS = 64 };
    if (argc < 0 || argc + 3 > MAXARGS || nkeys > argc)
        return -1;
    const char *v[MAXARGS];
    size_t vl[MAXARGS];
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
    return send_argv(r, cb, arg, argc + 3, v, vl);
}

size_t gw_redis_pending(const gw_redis *r)
{
    return r->pending;
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

static void on_policy(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    (void)arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
        return;
    const char *policy = reply->element[1]->str;
    if (policy != NULL && strcmp(policy, "noeviction") != 0)
        gw_warn("redis", "maxmemory-policy is %s: Redis may evict queued work and "
                "sessions; set maxmemory-policy noeviction", policy);
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
    gw_redis_command(r, on_policy, NULL, "CONFIG GET maxmemory-policy");
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
    drop_later(r);
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
        drop_later(r);
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
static void data_connect(gw_redis *r)
{
    evtimer_del(r->retry_ev);
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (ac == NULL) {
        schedule_retry(r);
        return;
    }
    if (ac->err) {
        gw_warn("redis", "connect to %s:%d failed: %s", r->host, r->port, ac->errstr);
        redisAsyncFree(ac);
        schedule_retry(r);
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

/* ---- Sentinel ---- */

/* Trouble with one sentinel is a warning while the daemon waits for the
 * master's address, and only debug while it re-watches (Redis is fine). */
#define sentinel_trouble(r, ...) \
    gw_log((r)->ac != NULL ? GW_LOG_DEBUG : GW_LOG_WARN, "redis", __VA_ARGS__)

static void sentinel_ask(gw_redis *r);

static const sentinel_addr *asked(const gw_redis *r)
{
    return &r->sentinels[r->sac_idx];
}

static void sentinel_close(gw_redis *r)
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
static void sentinel_round(gw_redis *r)
{
    sentinel_close(r);
    r->tries = 0;
    sentinel_ask(r);
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
        drop_later(r);
    } else {                  /* waiting out a backoff: no need to any more */
        r->backoff_ms = BACKOFF_MIN_MS;
        schedule_retry(r);
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
            drop_later(r);
        } else {
            gw_info("redis", "watching sentinel %s:%d for failovers of %s again", s->host,
                    s->port, r->master);
        }
        return;
    }
    if (moved) {
        char *copy = strdup(host);
        if (copy == NULL) {
            schedule_retry(r);
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
    data_connect(r);
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
    struct timeval tv = ms_tv(REWATCH_MS);
    evtimer_add(r->sentinel_ev, &tv);
}

/* Asks the next sentinel of this round, or ends the round. */
static void sentinel_ask(gw_redis *r)
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
            sentinel_close(r);
            continue;
        }
        r->tries++;
        struct timeval tv = ms_tv(SENTINEL_DEADLINE_MS);
        evtimer_add(r->sentinel_ev, &tv);
        return;
    }
    r->sac_idx = (r->sac_idx + 1) % r->nsentinels;  /* next round starts where this one did */
    if (r->ac != NULL) {      /* a re-watch: Redis is fine, try again quietly */
        struct timeval tv = ms_tv(REWATCH_MS);
        evtimer_add(r->sentinel_ev, &tv);
        return;
    }
    gw_warn("redis", "no sentinel gave the address of master %s (retry in %d ms)", r->master,
            r->backoff_ms);
    schedule_retry(r);
}

static void on_sentinel_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_redis *r = arg;
    if (r->sac != NULL && !r->watching) {
        sentinel_trouble(r, "sentinel %s:%d did not answer in %d ms", asked(r)->host,
                         asked(r)->port, SENTINEL_DEADLINE_MS);
        sentinel_close(r);
        sentinel_ask(r);
    } else if (r->sac == NULL && r->ac != NULL) {
        sentinel_round(r);    /* re-watch */
    }
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
        sentinel_close(r);
        sentinel_ask(r);
    }
}

static void redis_connect(gw_redis *r)
{
    if (r->nsentinels > 0)
        sentinel_round(r);
    else
        data_connect(r);
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
    r->sentinel_ev = evtimer_new(base, on_sentinel_timer, r);
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
    struct timeval tv = ms_tv(PING_EVERY_MS);
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

/* Parses one "HOST:PORT" or "[V6]:PORT" item S[0..LEN) into OUT; 0 when valid. */
static int parse_sentinel(const char *s, size_t len, sentinel_addr *out)
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
        if (parse_sentinel(p, (size_t)(e - p), &r->sentinels[r->nsentinels]) != 0) {
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
        sentinel_close(r);
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
