/* gw_dlr.h - delivery reports from the carriers: POST /dlr/africastalking,
 * POST /dlr/twilio, GET /dlr/kannel (see gw_dlr.c). Each report moves its
 * message's status forward only (sent, then delivered or failed); reports
 * for no known message are counted (gateway_dlr_unmatched_total).
 * Runs on the daemon's loop. */
#ifndef GW_DLR_H
#define GW_DLR_H

struct gw_config;
struct gw_http;
struct q;

typedef struct gw_dlr gw_dlr;

gw_dlr *gw_dlr_new(const struct gw_config *cfg, struct q *queue);
int gw_dlr_register(gw_dlr *g, struct gw_http *carrier);
void gw_dlr_free(gw_dlr *g);

/* A carrier's report word as our state: "sent", "delivered" or "failed",
 * or NULL when unknown. DIALECT "africastalking" (Success, Sent, Buffered,
 * Rejected, Failed ...), "twilio" (queued, sent, delivered, undelivered,
 * failed ...) or "kannel" (its %d value as text: 1, 2, 4, 8, 16). */
const char *gw_dlr_state(const char *dialect, const char *word);

/* Kannel's %d delivery value as our state, NULL when unknown. */
const char *gw_dlr_kannel_state(long status);

#endif
