/* gw_redis.c - async hiredis connection with reconnect; see gw_redis.h.
 *
 * Owns one redisAsyncContext at a time. hiredis frees a context itself after
 * its connect callback reports failure and after its disconnect callback;
 * we free one ourselves only from a timer (never inside a hiredis callback),
 * when the health PING has gone unanswered. */
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

struct gw_redis_script {
    const char *name;
    const char *body;
    char sha[41];          /* "" until SCRIPT LOAD answered on this connection */
    gw_redis_script *next;
};

struct gw_redis {
    struct event_base *base;
    char *host;
    int port;
    int db;
    char *password;

    redisAsyncContext *ac;  /* NULL while disconnected */
    int ready;              /* AUTH/SELECT done */
    int up;                 /* ready and answering PINGs */
    unsigned generation;    /* bumps at each connect; stale callbacks check it */
    int backoff_ms;
    struct event *retry_ev;
    struct event *ping_ev;
    struct event *flush_ev; /* writes queued commands at the end of this loop turn */
    int flush_pending;
    int64_t ping_sent_ms;   /* 0 when no PING outstanding */
    size_t pending;

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
    struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
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

static void on_ready(gw_redis *r, redisReply *reply, void *arg)
{
    unsigned generation = (unsigned)(uintptr_t)arg;
    if (generation != r->generation || r->ac == NULL)
        return;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        gw_error("redis", "set-up failed: %s", reply != NULL ? reply->str : "connection lost");
        return;   /* the PING deadline or a disconnect will retry */
    }
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

static void on_connect(const redisAsyncContext *ac, int status)
{
    gw_redis *r = ac->data;
    if (status != REDIS_OK) {
        gw_warn("redis", "connect to %s:%d failed: %s (retry in %d ms)", r->host, r->port,
                ac->errstr, r->backoff_ms);
        lost(r);      /* hiredis frees the context */
        return;
    }
    /* AUTH and SELECT go first; commands are refused until they answer. */
    cmd_ctx *c;
    if (r->password != NULL) {
        c = calloc(1, sizeof *c);
        if (c != NULL) {
            c->r = r;
            redisAsyncCommand(r->ac, cmd_reply, c, "AUTH %s", r->password);
            r->pending++;
        }
    }
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return;
    c->r = r;
    c->cb = on_ready;
    c->arg = (void *)(uintptr_t)r->generation;
    redisAsyncCommand(r->ac, cmd_reply, c, "SELECT %d", r->db);
    r->pending++;
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

static void redis_connect(gw_redis *r)
{
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
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
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
    unsigned generation = (unsigned)(uintptr_t)arg;
    if (generation != r->generation)
        return;
    r->ping_sent_ms = 0;
    if (reply != NULL && reply->type != REDIS_REPLY_ERROR && r->ready)
        set_up(r, 1);
}

static void on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gw_redis *r = arg;
    if (r->ac == NULL || !r->ready)
        return;
    int64_t now = gw_clock_mono_ms();
    if (r->ping_sent_ms != 0) {
        if (now - r->ping_sent_ms > PING_DEADLINE_MS) {
            gw_warn("redis", "no answer to PING for %d ms: dropping the connection",
                    PING_DEADLINE_MS);
            redisAsyncContext *ac = r->ac;
            r->ac = NULL;
            r->ready = 0;
            ac->data = NULL;          /* our disconnect callback must not run */
            redisAsyncFree(ac);       /* pending callbacks get NULL */
            lost(r);
        }
        return;
    }
    if (gw_redis_command(r, on_pong, (void *)(uintptr_t)r->generation, "PING") == 0)
        r->ping_sent_ms = now;
}

gw_redis *gw_redis_new(struct event_base *base, const char *host, int port, int db,
                       const char *password)
{
    gw_redis *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->base = base;
    r->host = strdup(host);
    r->port = port;
    r->db = db;
    r->password = password != NULL ? strdup(password) : NULL;
    r->backoff_ms = BACKOFF_MIN_MS;
    r->retry_ev = evtimer_new(base, on_retry, r);
    r->ping_ev = event_new(base, -1, EV_PERSIST, on_ping_timer, r);
    r->flush_ev = event_new(base, -1, 0, on_flush, r);
    if (r->host == NULL || r->retry_ev == NULL || r->ping_ev == NULL || r->flush_ev == NULL ||
        (password != NULL && r->password == NULL)) {
        gw_redis_free(r);
        return NULL;
    }
    struct timeval tv = {PING_EVERY_MS / 1000, (PING_EVERY_MS % 1000) * 1000};
    event_add(r->ping_ev, &tv);
    redis_connect(r);
    return r;
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
    if (r->retry_ev != NULL)
        event_free(r->retry_ev);
    if (r->ping_ev != NULL)
        event_free(r->ping_ev);
    if (r->flush_ev != NULL)
        event_free(r->flush_ev);
    while (r->scripts != NULL) {
        gw_redis_script *next = r->scripts->next;
        free(r->scripts);
        r->scripts = next;
    }
    free(r->host);
    free(r->password);
    free(r);
}
