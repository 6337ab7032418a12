/* gw_redis.h - the daemon's one Redis connection: async hiredis on the
 * libevent loop, with reconnect and backoff.
 *
 * All commands of the process go through one connection, so concurrent
 * hops are pipelined for free. While Redis is down, commands fail at once
 * (the callback is not called and the call returns -1) and the module
 * reconnects with a doubling backoff (100 ms .. 5 s). A PING each second
 * notices a hung server: no answer within 3 s drops the connection.
 * Lua scripts are registered once, loaded at each (re)connect and sent as
 * EVALSHA (EVAL while the load has not been confirmed).
 *
 * With Redis Sentinel (gw_redis_new_sentinel) each (re)connect first asks
 * the sentinels in turn, on the loop, for the master's address, then checks
 * with ROLE that the server found is the master (and keeps checking with
 * ROLE instead of PING): a replica is dropped and the sentinels are asked
 * again. The sentinel that answered stays subscribed to +switch-master, so a
 * failover moves the connection to the new master at once.
 * Runs on the loop given to gw_redis_new; not thread safe. */
#ifndef GW_REDIS_H
#define GW_REDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

struct event_base;

typedef struct gw_redis gw_redis;

/* REPLY is NULL when the connection was lost before the answer. REPLY is
 * owned by hiredis and valid only during the call. */
typedef void gw_redis_cb(gw_redis *r, redisReply *reply, void *arg);

/* Called on every change of the up/down state. */
typedef void gw_redis_state_cb(gw_redis *r, int up, void *arg);

/* A Lua script registered with gw_redis_script; owned by the gw_redis. */
typedef struct gw_redis_script gw_redis_script;

/* Connects to HOST:PORT (db DB, AUTH PASSWORD when not NULL) in the
 * background. Returns NULL only on OOM. */
gw_redis *gw_redis_new(struct event_base *base, const char *host, int port, int db,
                       const char *password);

/* The same through Redis Sentinel: SENTINELS is the config's comma-separated
 * "HOST:PORT,[V6]:PORT" list, MASTER the monitored master's name; DB and
 * PASSWORD (may be NULL) apply to the master. Returns NULL on OOM or when
 * SENTINELS holds a bad entry or none, or MASTER is empty. */
gw_redis *gw_redis_new_sentinel(struct event_base *base, const char *sentinels,
                                const char *master, int db, const char *password);

/* Disconnects (pending callbacks get NULL) and frees. */
void gw_redis_free(gw_redis *r);

void gw_redis_on_state(gw_redis *r, gw_redis_state_cb *cb, void *arg);

/* 1 when connected, selected and answering. */
int gw_redis_up(const gw_redis *r);

/* Called after each (re)connect with the server's maxmemory-policy (NULL
 * when it cannot be read, e.g. CONFIG refused) and appendonly (1 yes, 0 no,
 * -1 unknown), so the daemon can refuse an evicting Redis. Without a
 * callback an evicting policy is only logged. */
typedef void gw_redis_check_cb(gw_redis *r, const char *policy, int appendonly, void *arg);
void gw_redis_on_check(gw_redis *r, gw_redis_check_cb *cb, void *arg);

/* printf-like hiredis command (%s, %b with pointer and size, %d ...).
 * Returns 0 when sent (CB will be called exactly once, CB may be NULL), or
 * -1 when Redis is down (CB is not called). */
int gw_redis_command(gw_redis *r, gw_redis_cb *cb, void *arg, const char *fmt, ...);

/* The same with an argument vector (ARGVLEN may be NULL for C strings). */
int gw_redis_argv(gw_redis *r, gw_redis_cb *cb, void *arg, int argc,
                  const char **argv, const size_t *argvlen);

/* Registers a script BODY (static storage; not copied). Call before the
 * loop runs. Returns NULL on OOM. */
gw_redis_script *gw_redis_script_add(gw_redis *r, const char *name, const char *body);

/* Runs SCRIPT with NKEYS keys followed by arguments, as gw_redis_argv.
 * ARGV holds keys then args (ARGC entries). */
int gw_redis_eval(gw_redis *r, gw_redis_script *script, gw_redis_cb *cb, void *arg,
                  int nkeys, int argc, const char **argv, const size_t *argvlen);

/* Commands sent and not yet answered. */
size_t gw_redis_pending(const gw_redis *r);

/* In an HGETALL answer R (field, value, ...), the value of field NAME, or
 * NULL when it is absent. */
const char *gw_reply_field(const redisReply *r, const char *name);

#endif
