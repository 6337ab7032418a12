/* gw_inbound.h - SMS from residents, through the carriers' callbacks
 * (SPEC.md, Carrier-facing endpoints and Inbound SMS keywords).
 *
 *   POST /sms/inbound/africastalking   form from, to, text, date, id, linkId
 *   POST /sms/inbound/twilio           form From, To, Body, MessageSid, AccountSid ...;
 *                                      X-Twilio-Signature checked when the account
 *                                      has an auth token (403 and nothing done if bad)
 *   GET|POST /sms/inbound/kannel       from, to, text, id, coding, charset (Kannel's
 *                                      get-url %p %P %a %I %c %C; UTF-16BE text decoded)
 *
 * A message is answered as soon as its carrier id is recorded (SET NX, kept
 * two days): a carrier repeating it gets 200 and nothing happens twice. The
 * work comes after the answer: the phone's participants are looked up, the
 * keyword acted on (opt-out and opt-in written before their confirmation is
 * queued), the reply queued in the resident's language on the reply lane,
 * anything that is not a keyword put in the coordinators' inbox.
 *
 * The opt-out list is the hash gw:optout (E.164 -> "MS|CHANNEL"), every
 * change also logged to gw:optout:log; the inbox is the list gw:inbox (JSON,
 * newest first, at most 10,000).
 * Runs on the daemon's loop; not thread safe. */
#ifndef GW_INBOUND_H
#define GW_INBOUND_H

#include <stdint.h>

struct event_base;
struct gw_config;
struct gw_redis;
struct gw_records;
struct gw_http;
struct tpl_set;
struct gw_sender;
struct gw_http_req;
struct gw_form;

typedef struct gw_inbound gw_inbound;

gw_inbound *gw_inbound_new(const struct gw_config *cfg, struct gw_redis *redis,
                           struct gw_records *records, struct tpl_set *const *tpl,
                           struct gw_sender *sender);

/* Routes the three inbound endpoints on CARRIER. */
int gw_inbound_register(gw_inbound *in, struct gw_http *carrier);

void gw_inbound_free(gw_inbound *in);

/* 1 when REQ (a Twilio callback with form F) carries a valid
 * X-Twilio-Signature for one of CFG's Twilio accounts that has an auth token
 * (the one its AccountSid names), or when no Twilio account has a token. */
int gw_twilio_request_ok(const struct gw_config *cfg, struct gw_http_req *req,
                         const struct gw_form *f);

/* Adds (OUT 1) or removes (OUT 0) E164 on the opt-out list, recording when
 * and through which CHANNEL ("sms:twilio", "admin", "ussd"). DONE gets 0,
 * or -1 when Redis failed. Returns 0 when sent, -1 when Redis is down. */
typedef void gw_optout_cb(int status, void *arg);
int gw_optout_set(struct gw_redis *redis, const char *e164, int out, const char *channel,
                  gw_optout_cb *done, void *arg);

#endif
