/* gw_ussd.h - the USSD engine: menus for residents over any dialect.
 *
 * A hop is a chain of callbacks with a deadline: load the session state,
 * the phone's language choice and its participants (one round trip,
 * pipelined), decide the next screen, save the state with its TTL, answer.
 * If any step is late or Redis/records are down, the deadline answers an
 * END "busy" screen within hop_deadline_ms. Session state lives in Redis
 * (gw:{s:DIALECT:SESSION}), never in this process, so any daemon can
 * answer any hop; a repeated hop is answered from the saved screen.
 * Runs on the daemon's loop; not thread safe. */
#ifndef GW_USSD_H
#define GW_USSD_H

struct event_base;
struct gw_config;
struct gw_redis;
struct gw_records;
struct gw_http;
struct tpl_set;
struct gw_sender;
struct gw_incidents;

typedef struct gw_ussd gw_ussd;

/* TPL points at the daemon's current template set; it may be swapped
 * between hops (SIGHUP). Registers the id_attempt script on REDIS. */
gw_ussd *gw_ussd_new(struct event_base *base, const struct gw_config *cfg,
                     struct gw_redis *redis, struct gw_records *records,
                     struct tpl_set *const *tpl);

/* Lets the contribution screen offer its text by SMS ("1 send this to me"):
 * the message goes to the caller's phone through SENDER's reply lane.
 * Without it the offer is not shown. */
void gw_ussd_set_outbound(gw_ussd *u, struct gw_sender *sender);

/* Lets the main menu offer "4 report a mutual-aid claim" to members: the
 * kind, then the date (YYYYMMDD, or MMDD of this year), then an END with
 * the reference and deadline, or with the deadline that passed and the
 * hotline. Without it the item is not shown. */
void gw_ussd_set_incidents(gw_ussd *u, struct gw_incidents *incidents);

/* Routes POST /ussd/africastalking and /ussd/hubtel on CARRIER. */
int gw_ussd_register(gw_ussd *u, struct gw_http *carrier);


void gw_ussd_free(gw_ussd *u);

#endif
