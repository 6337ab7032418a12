/* gw_admin.h - the admin listener's endpoints (SPEC.md, Admin API).
 *
 * Without auth: GET /healthz, /readyz (Redis reachable and writable),
 * /metrics (Prometheus text), / (the ops status page). With
 * "Authorization: Bearer TOKEN": the /v1 API. Runs on the daemon's loop. */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

struct event_base;
struct gw_config;
struct gw_redis;
struct gw_http;
struct q;
struct prov_registry;
struct gw_sender;
struct tpl_set;
struct gw_calendar;
struct gw_incidents;

typedef struct gw_admin gw_admin;

gw_admin *gw_admin_new(struct event_base *base, const struct gw_config *cfg,
                       struct gw_redis *redis);

/* Routes the admin endpoints on ADMIN. */
int gw_admin_register(gw_admin *a, struct gw_http *admin);

/* The outbound side for /v1/messages and /v1/queue (before the loop runs).
 * TPL points at the daemon's current template set (replaced on SIGHUP). */
void gw_admin_set_outbound(gw_admin *a, struct q *q, struct prov_registry *reg,
                           struct gw_sender *sender, struct tpl_set **tpl);

/* The business calendar for claim deadlines (swapped on SIGHUP). */
/* Campaigns (POST /v1/campaigns) go through CAMPAIGNS. */
struct gw_campaigns;
void gw_admin_set_campaigns(gw_admin *a, struct gw_campaigns *campaigns);

void gw_admin_set_calendar(gw_admin *a, struct gw_calendar *const *calendar);

/* The incidents behind POST /v1/incidents (before the loop runs); without
 * them the endpoint answers 503. */
void gw_admin_set_incidents(gw_admin *a, struct gw_incidents *incidents);

void gw_admin_free(gw_admin *a);

#endif
