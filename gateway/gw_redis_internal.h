/* gw_redis_internal.h - what gw_redis.c and gw_redis_sentinel.c share: the
 * connection object and the few functions each calls in the other. Nothing
 * outside these two files includes it. */
#ifndef GW_REDIS_INTERNAL_H
#define GW_REDIS_INTERNAL_H

#include <stdint.h>
#include <sys/time.h>

#include <event2/event.h>
#include <hiredis/async.h>

#include "gw_redis.h"

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
    gw_redis_check_cb *check_cb;   /* the server's eviction and persistence settings */
    void *check_arg;
    gw_redis_script *scripts;
};

/* gw_redis.c */
struct timeval gwr_ms_tv(int ms);
void gwr_schedule_retry(gw_redis *r);   /* reconnect after the backoff */
void gwr_drop_later(gw_redis *r);       /* drop ac from outside the callback */
void gwr_data_connect(gw_redis *r);     /* connect to r->host:r->port */

/* gw_redis_sentinel.c */
void gwr_sentinel_round(gw_redis *r);   /* ask the sentinels for the master */
void gwr_sentinel_ask(gw_redis *r);     /* ask the next sentinel */
void gwr_sentinel_close(gw_redis *r);   /* leave the sentinel connection */
void gwr_on_sentinel_timer(evutil_socket_t fd, short what, void *arg);
int gwr_parse_sentinel(const char *s, size_t len, sentinel_addr *out);

#endif
