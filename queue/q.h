/* q.h - the durable outbound queue on Redis: messages scheduled for a time,
 * ready, in flight, retried with backoff, or dead; two lanes (reply before
 * bulk); per-provider token buckets and pauses; leases so that a daemon's
 * death leaves its work to the others.
 *
 * Redis layout (every key under the one hash tag {q}, so a Cluster keeps
 * the queue on one shard and its Lua scripts stay legal):
 *   gw:{q}:seq                  INCR counter of message ids
 *   gw:{q}:sched:LANE           ZSET of due seconds that hold messages (member = score)
 *   gw:{q}:b:LANE:SECOND        LIST of members due at SECOND, FIFO
 *   gw:{q}:sched:prio, gw:{q}:b:prio:SECOND
 *                               the same for the bulk lane's claim reminders,
 *                               claimed before the rest of the lane (a member's
 *                               legal window must not wait behind a campaign);
 *                               counted in the lane; a retried or reclaimed one
 *                               goes back among them
 *   gw:{q}:body:BID             STRING 'g'|'u' (GSM-7 / UCS-2) + the text to send;
 *                               shared by every message of a batch or campaign
 *   gw:{q}:n                    HASH lane -> messages waiting (scheduled + ready)
 *   gw:{q}:consumers            ZSET consumer -> lease expiry (ms, on Redis' clock:
 *                               daemons' clocks may differ; due times use theirs)
 *   gw:{q}:fl:CONSUMER          HASH id -> "LANE|MEMBER": what it is sending
 *   gw:{q}:m:ID                 STRING status "STATE|PROVIDER|CARRIER_ID|ATTEMPT|MS[|REASON]",
 *                               STATE queued (one-off sends only), retrying, sent, failed;
 *                               expires (record_ttl)
 *   gw:{q}:cid:PROVIDER:CID     STRING "ID", "ID|CAMPAIGN" or, for a reminder,
 *                               "ID|CAMPAIGN|KEY", for delivery reports; expires
 *   gw:{q}:dead                 LIST "MS|LANE|REASON|MEMBER", newest first, capped
 *   gw:{q}:pause:PROVIDER       a throttle answer's pause (PX)
 *   gw:{q}:tb:PROVIDER          HASH tokens, ts: the provider's token bucket (segments)
 *   gw:{q}:stats                HASH recovered, lost_lease, dropped_done
 * A member is "ID:ATTEMPT:SEGMENTS:PHONE:BID[:EXTRA]" (about 30 bytes): a
 * queued message costs one list entry, not a key.
 *
 * At-least-once: a message leaves its bucket only into a consumer's
 * in-flight hash (one Lua call), and leaves that hash only with its outcome
 * recorded (one Lua call). A consumer renews its lease every second; a
 * lease that runs out (kill -9) puts its in-flight messages back (q_reap),
 * counted as possible duplicates, with their attempt raised (it may have
 * reached the phone: a refusal of the next one proves nothing). Two live
 * daemons never hold one message.
 * Runs on the daemon's loop through gw_redis; not thread safe. */
#ifndef Q_H
#define Q_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct gw_redis;

typedef enum q_lane { Q_REPLY = 0, Q_BULK = 1 } q_lane;

#define Q_LEASE_MS 6000          /* a consumer silent this long is presumed dead */
#define Q_RECORD_TTL_S (7 * 86400) /* status records and carrier ids kept a week */
#define Q_MAX_ATTEMPTS 6         /* carrier failures before a message is dead */
#define Q_BATCH_MAX 100000       /* recipients of one q_enqueue */

/* "reply" / "bulk"; q_lane_parse returns -1 for anything else. */
const char *q_lane_name(q_lane lane);
int q_lane_parse(const char *s);

/* ---- pure helpers (q_member.c) ---- */

/* One queued message, parsed from its member. */
typedef struct q_item {
    int64_t id;
    int attempt;             /* carrier attempts so far (throttles not counted) */
    int segments;
    char phone[24];          /* E.164 */
    char body_id[24];
    char extra[128];         /* producer's data ("" when none) */
    unsigned lease;          /* not in the member: which of this process's leases
                                it was claimed under (set by q_claim, used by q_ack) */
} q_item;

/* Parses MEMBER[0..LEN). Returns 0, or -1 when it is malformed. */
int q_member_parse(const char *member, size_t len, q_item *out);

/* Writes ITEM's member into BUF. Returns its length, or -1 when it does not
 * fit or a field holds ':' or '|'. */
int q_member_format(const q_item *item, char *buf, size_t buflen);

/* Writes the form carrier ids are matched in: leading zeros dropped, ASCII
 * letters lower-cased (carriers echo ids back in varying forms). */
void q_carrier_id_norm(const char *in, char *out, size_t outlen);

/* Delay before retry number ATTEMPT (1 = after the first failure): 1 s,
 * 2 s, 4 s ... capped at 5 min, with "equal jitter" (half fixed, half
 * drawn from RND) so daemons retrying together spread out. */
int64_t q_backoff_ms(int attempt, uint32_t rnd);

/* The token bucket a provider gets for MAX_TPS segments per second: a
 * burst of a fifth of a second's worth, never below MAX_SEGMENTS (else a
 * long message could never go). MAX_TPS 0 = no limit (returns 0). */
double q_bucket_burst(int max_tps, int max_segments);

/* ---- the queue on Redis (q.c) ---- */

typedef struct q q;

/* A queue on REDIS for this process, with a fresh consumer id
 * ("HOST:PID:RANDOM"). Starts the lease heartbeat and the reaper of dead
 * consumers' work (every second) on BASE. Returns NULL on OOM. */
q *q_new(struct event_base *base, struct gw_redis *redis);

/* Stops the timers and frees; pending callbacks are not called. */
void q_free(q *q);

/* The consumer id claims are made under now ("HOST:PID:RANDOM:LEASE"). */
const char *q_consumer(const q *q);

/* Gives up the current lease: claims made under it that this process can no
 * longer account for (a claim whose answer was lost with the connection, an
 * out-of-memory path) come back to the queue when it runs out, as after a
 * crash, while later claims go under a new consumer id. q_claim calls it
 * itself when a claim's answer is lost. */
void q_abandon(q *q);

/* Called with the first id of the batch (ids are FIRST .. FIRST+N-1) and the
 * body id, or with ERR set (Redis down or refused) and nothing queued. */
typedef void q_enqueue_cb(q *q, int64_t first_id, const char *body_id, const char *err,
                          void *arg);

typedef struct q_batch {
    q_lane lane;
    int64_t due_ms;          /* not before; <= now means at once */
    const char *text;        /* the text to send (signature included), or NULL */
    size_t text_len;         /*   to reuse BODY_ID's stored text */
    const char *body_id;     /* NULL: the first id */
    int ucs2;
    int segments;
    const char *const *phones; /* E.164 */
    size_t n;                /* 1 .. Q_BATCH_MAX */
    const char *extra;       /* NULL or producer data (no ':' '|') */
    int track;               /* 1: a "queued" status record per message */
} q_batch;

/* Schedules B's messages atomically. Returns 0 (CB called later), or -1
 * when B is invalid or Redis is down (CB not called). */
int q_enqueue(q *q, const q_batch *b, q_enqueue_cb *cb, void *arg);

/* What q_claim handed out. Pointers are valid only during the callback. */
typedef struct q_claimed {
    q_lane lane;
    q_item item;
    const char *member;      /* as stored; needed to acknowledge */
    const char *text;        /* the body's text, NULL when it has expired; when
                                TEMPLATED, the name of the [sms] text to render */
    size_t text_len;
    int ucs2;
    int templated;           /* a reminder written per recipient at send time */
    const char *data;        /* what its text needs (fields joined by \31), "" none */
    size_t data_len;
} q_claimed;

typedef struct q_claim_result {
    int ok;                  /* 0: Redis down or error; nothing was claimed */
    int64_t paused_ms;       /* > 0: the provider is paused this long; nothing claimed */
    int64_t wait_ms;         /* > 0: the token bucket is short; try again after */
    size_t n;
    const q_claimed *items;
    int64_t taken;           /* members taken from due buckets, also those skipped,
                                deferred or dropped: more may be due at once */
} q_claim_result;

typedef void q_claim_cb(q *q, const q_claim_result *res, void *arg);

/* Reminders (bulk messages whose EXTRA is a reminder's, gateway/gw_campaign.h)
 * go only inside the send window: WINDOW returns the window's next opening
 * at or after NOW_MS (NOW_MS itself when inside). The same reminder does not
 * go twice within MIN_INTERVAL_S. Without a policy reminders go at any time
 * and are not checked for duplicates. */
typedef int64_t q_window_fn(int64_t now_ms, void *arg);
void q_set_reminder_policy(q *q, q_window_fn *window, void *arg, int min_interval_s);

/* Claims up to MAX due messages for sending through PROVIDER, whose
 * bucket refills RATE segments/s up to BURST (RATE 0: no limit). */
int q_claim(q *q, int64_t now_ms, int max, const char *provider, double rate, double burst,
            q_claim_cb *cb, void *arg);

/* How a sent message ended, recorded by q_ack. */
typedef enum q_ack_kind {
    Q_ACK_SENT,              /* carrier accepted: status sent, carrier id kept */
    Q_ACK_RETRY,             /* back in its lane at DUE_MS with attempt + 1 */
    Q_ACK_THROTTLED,         /* back at the front now; provider paused PAUSE_MS */
    Q_ACK_DEAD,              /* status failed, kept on the dead list */
} q_ack_kind;

typedef struct q_ack_entry {
    q_ack_kind kind;
    q_lane lane;
    const q_item *item;      /* as claimed */
    const char *provider;
    const char *carrier_id;  /* SENT: normalised, "" if none */
    int64_t due_ms;          /* RETRY */
    int64_t pause_ms;        /* THROTTLED */
    const char *reason;      /* DEAD and RETRY: short, no phone number */
    int refused;             /* DEAD: 1 when it certainly reached no phone (the carrier
                                refused its first attempt): a reminder's mark goes, so
                                the next one is not taken for a duplicate */
} q_ack_entry;

/* Queues E's outcome; outcomes are written in one Lua call per loop turn.
 * Returns 0, or -1 when E is invalid. Acks are kept while Redis is down and
 * written on reconnect (the lease covers them meanwhile). */
int q_ack(q *q, const q_ack_entry *e);

/* Outcomes not yet confirmed by Redis. */
size_t q_ack_pending(const q *q);

/* Puts back everything this consumer still holds and drops its lease (a
 * clean stop). UNSURE 1: some of it was out at a carrier with no answer yet
 * (a stop that could not wait), so it is counted as recovered (a possible
 * duplicate) and goes back with its attempt raised. DONE (may be NULL) is
 * called once with the count put back, or
 * -1 when Redis could not be reached. */
typedef void q_done_cb(q *q, long n, void *arg);
int q_release(q *q, int unsure, q_done_cb *done, void *arg);

/* Applies a delivery report: the message whose carrier id is CID at one of
 * ACCOUNTS[0..N) moves to STATE ("sent", "delivered", "failed") unless it
 * is already there or further. CB gets our id ("" when unmatched) and
 * "applied", "ignored", "expired" or "unmatched"; RESULT NULL when Redis
 * could not answer. Returns 0 when sent, -1 when Redis is down. */
typedef void q_dlr_cb(q *q, const char *id, const char *result, void *arg);
int q_dlr(q *q, const char *const *accounts, size_t n, const char *cid, const char *state,
          const char *reason, q_dlr_cb *cb, void *arg);

/* Why a bulk message was not sent at its time (see queue/lua/q_claim.lua). */
#define Q_SKIP_REASONS 11
extern const char *const q_skip_reasons[Q_SKIP_REASONS];

/* The numbers of the queue, refreshed every second from Redis. */
typedef struct q_stats {
    int valid;               /* 0 until the first refresh */
    int64_t total[2];        /* per lane: waiting (scheduled + ready) */
    int64_t ready[2];        /* per lane: due now */
    int64_t oldest_ms[2];    /* per lane: age of the oldest due message, -1 none */
    int64_t in_flight;       /* all consumers */
    int64_t dead;
    int64_t consumers;
    int64_t recovered;       /* put back from dead consumers (possible duplicates) */
    int64_t lost_lease;
    int64_t dropped_done;    /* claimed again after being finished: not resent */
    int64_t skipped[Q_SKIP_REASONS]; /* bulk messages not sent, by q_skip_reasons */
    int64_t deferred;        /* reminders moved to the send window's next opening */
} q_stats;

const q_stats *q_stats_get(const q *q);

/* Reads message ID's status record. CB gets RECORD (NULL when there is
 * none), the highest id given so far (-1 when Redis could not answer), and
 * OK 0 when Redis could not answer. */
typedef void q_status_cb(q *q, int64_t id, const char *record, int64_t last_id, int ok,
                         void *arg);
int q_status(q *q, int64_t id, q_status_cb *cb, void *arg);

#endif
