/* gw_records.h - where participants' records come from.
 *
 * Two backends answer "who uses this phone": `redis` (the roster imported
 * into Redis, the embedded default) and `http` (an agency system asked
 * GET {url}?phone=E164, answering JSON with the roster's column names).
 * The roster store (import, look-up by id) is always Redis.
 * All calls are asynchronous on the daemon's loop; not thread safe. */
#ifndef GW_RECORDS_H
#define GW_RECORDS_H

#include <stddef.h>

#include "gw_participant.h"

struct gw_config;
struct gw_redis;
struct prov_http;

typedef struct gw_records gw_records;

/* STATUS is 0 with the participants (N may be 0: unknown phone), or -1
 * when the backend failed or was unreachable. LIST is valid only during
 * the call; sorted by participant id. */
typedef void gw_records_cb(int status, const gw_participant *list, size_t n, void *arg);

/* Returns the backend named in CFG, or NULL on OOM. HTTP is needed for the
 * http backend only. */
gw_records *gw_records_new(const struct gw_config *cfg, struct gw_redis *redis,
                           struct prov_http *http);

void gw_records_free(gw_records *rec);

/* Looks up the participants of phone E164. Returns 0 when started (CB is
 * called exactly once, later, from the loop), or -1 when it cannot start
 * (backend down; CB is not called). */
int gw_records_by_phone(gw_records *rec, const char *e164, gw_records_cb *cb, void *arg);

/* ---- the roster store in Redis (gw_records_redis.c) ---- */

/* The result of an upsert: 1 new, 2 updated, 0 unchanged, -1 failed. */
typedef void gw_store_upsert_cb(int result, void *arg);

/* Registers the store's Lua scripts on REDIS and its batching on BASE; call
 * once at start-up. Returns 0, or -1 (out of memory). */
struct event_base;
int gw_store_init(struct event_base *base, struct gw_redis *redis);

/* Sends what is batched and stops batching (before freeing REDIS). */
void gw_store_shutdown(void);

/* Writes P (insert or update by id, keeping the phone and place indexes
 * in step), batched with the other rows of this loop turn (up to 64 a Lua
 * call). Returns 0 when queued (CB is called later, exactly once), -1 when
 * Redis is down (CB not called). */
int gw_store_upsert(struct gw_redis *redis, const gw_participant *p,
                    gw_store_upsert_cb *cb, void *arg);

/* Automatic reminders scheduled with each upsert: HOOK writes into TIMES
 * (room for GW_STORE_REMINDERS_MAX) the Unix ms at which P's reminders are
 * due (none when P has paid, has no phone or no due date) and their SMS
 * parts into *SEGMENTS, and returns how many. The upsert script queues them
 * once per due date and phone (a re-import with the same data adds nothing;
 * with another due date it queues new ones, and the old ones are skipped
 * when their time comes). */
#define GW_STORE_REMINDERS_MAX 17
typedef size_t gw_store_reminder_hook(const gw_participant *p, int64_t *times, int *segments,
                                      void *arg);
void gw_store_set_reminder_hook(gw_store_reminder_hook *hook, void *arg);

/* Reads one participant. CB gets status 0 with n = 1 or n = 0 (unknown
 * id), or -1. Returns 0 when sent, -1 when Redis is down. */
int gw_store_get(struct gw_redis *redis, const char *id, gw_records_cb *cb, void *arg);

/* Called once an older version's participants are all moved (see
 * lua/lib_participant.lua): phone look-ups stop reading its keys too. */
void gw_store_old_moved(void);

/* Redis keys (lua/lib_participant.lua). */
#define GW_KEY_PHONES "gw:pt:ph"             /* hash: E.164 -> "ID\x1fRECORD" joined by \x1e */

#endif
