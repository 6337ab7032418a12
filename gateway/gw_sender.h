/* gw_sender.h - the dispatcher: claims due messages from the queue, sends
 * each through the preferred usable carrier account, and records what
 * became of it (sent, retried with backoff, paused by a throttle, dead).
 *
 * Providers are tried in order of preference (prov_registry_pick): a paused
 * or broken account is skipped for the next one. Claims are rate limited in
 * Redis (the account's token bucket, in segments), so several daemons share
 * one limit. At most 64 carrier requests (GW_SENDER_MAX_IN_FLIGHT messages)
 * are out at once. For a carrier that takes many numbers in one request
 * (Africa's Talking), claimed messages sharing one text go together, up to
 * its max_recipients.
 * Runs on the daemon's loop; not thread safe. */
#ifndef GW_SENDER_H
#define GW_SENDER_H

#include <stddef.h>

#include "q.h"

struct event_base;
struct gw_config;
struct prov_registry;

#define GW_SENDER_MAX_IN_FLIGHT 1024   /* messages; at most 64 requests */

typedef struct gw_sender gw_sender;

/* Starts dispatching on BASE. Returns NULL on OOM. */
gw_sender *gw_sender_new(struct event_base *base, const struct gw_config *cfg, struct q *q,
                         struct prov_registry *reg);

/* Frees; sends in flight are abandoned (their leases put them back).
 * Free the provider registry first: it cancels their calls. */
void gw_sender_free(gw_sender *s);

/* Called when a carrier refuses a number because its owner asked the
 * carrier to block messages (Africa's Talking UserInBlacklist, Twilio
 * 21610): the daemon puts it on the opt-out list. */
typedef void gw_sender_blocked_cb(const char *e164, const char *account, void *arg);
void gw_sender_on_blocked(gw_sender *s, gw_sender_blocked_cb *cb, void *arg);

/* Writes a reminder queued as a template (q_claimed.templated) for its
 * recipient, just before it is sent: returns the malloc'd text as it goes on
 * the air (signature included) with its length, encoding and SMS parts (the
 * roster may have changed the text since it was queued: the parts sent are
 * counted, not those planned), or NULL when it cannot be written (the
 * message then fails with a reason). */
typedef char *gw_sender_render_cb(const q_claimed *c, size_t *len, int *ucs2, int *segments,
                                  void *arg);
void gw_sender_on_render(gw_sender *s, gw_sender_render_cb *cb, void *arg);

/* Queues TEXT to E164 as one reply (the reply lane, a status record),
 * prepared as every SMS is (the [sms] signature, GSM-7 or UCS-2), and looks
 * for due work at once. CB is q_enqueue's. Returns 0, or -1 when TEXT is
 * not valid UTF-8 or Redis is down (CB not called). */
int gw_sender_reply(gw_sender *s, const char *e164, const char *text, q_enqueue_cb *cb,
                    void *arg);

/* Something was queued: look for due work now rather than at the next poll. */
void gw_sender_poke(gw_sender *s);

/* Stops claiming new work (a clean stop); sends in flight finish. */
void gw_sender_stop(gw_sender *s);

/* Messages in carrier calls, outcomes not yet written to Redis, and a claim
 * not yet answered: a clean stop waits for these. */
size_t gw_sender_busy(const gw_sender *s);

#endif
