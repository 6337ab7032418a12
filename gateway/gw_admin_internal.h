/* gw_admin_internal.h - what the admin API's files share: the admin
 * object and the bearer-token check. */
#ifndef GW_ADMIN_INTERNAL_H
#define GW_ADMIN_INTERNAL_H

#include "gw_admin.h"
#include "gw_config.h"
#include "gw_http.h"
#include "gw_redis.h"

struct gw_admin {
    struct event_base *base;
    const gw_config *cfg;
    gw_redis *redis;
    struct q *q;                  /* outbound queue (NULL until set) */
    struct prov_registry *reg;
    struct gw_sender *sender;
    struct tpl_set **tpl;
    struct gw_calendar *const *calendar;   /* the business calendar (swapped on SIGHUP) */
    struct gw_incidents *incidents;        /* POST /v1/incidents (NULL until set) */
    struct gw_campaigns *campaigns;        /* POST /v1/campaigns (NULL until set) */
};

/* 1 when every field of the JSON object ROOT is one of KNOWN[0..N); else
 * answers 400 naming the first that is not, and returns 0. */
struct json_t;
int gw_admin_fields_known(gw_http_req *req, struct json_t *root, const char *const *known,
                          size_t n);

/* Unix time MS as RFC 3339 in the daemon's local time, which is [reminders]
 * timezone (gw_main.c sets TZ): "2026-12-01T16:00:00+08:00", into OUT (CAP
 * >= 26; "" when it does not fit). Staff read times as the residents live them. */
void gw_admin_time(long long ms, char *out, size_t cap);

/* The "send_at" of a request body, JAT (NULL: none, *MS left as it is),
 * into *MS. An RFC 3339 time with its offset, not more than a day ago (a
 * slip of the year, month or day, not "now"); else answers 400 bad_send_at
 * and returns 0. Returns 1 when it is good. */
int gw_admin_send_at(gw_http_req *req, const struct json_t *jat, int64_t *ms);

/* 1 when REQ carries the admin token; else answers 401 and returns 0. */
int gw_admin_require_auth(gw_admin *a, gw_http_req *req);

/* The same, for an endpoint that takes only POST with a JSON body: answers
 * 401 or 405 and returns 0, or returns 1. */
int gw_admin_require_post(gw_admin *a, gw_http_req *req);

/* Routes /v1/messages, /v1/messages/{id} and /v1/queue (gw_admin_messages.c). */
int gw_admin_messages_register(gw_admin *a, gw_http *admin);

/* Routes /v1/optouts and /v1/inbox (gw_admin_inbound.c). */
int gw_admin_inbound_register(gw_admin *a, gw_http *admin);

/* Routes /v1/incidents and /v1/incidents/{reference}[/report] (gw_admin_incidents.c). */
int gw_admin_incidents_register(gw_admin *a, gw_http *admin);

/* Routes /v1/campaigns and /v1/campaigns/{id}[/cancel] (gw_admin_campaigns.c). */
int gw_admin_campaigns_register(gw_admin *a, gw_http *admin);

#endif
