/* gw_metrics.h - the daemon's Prometheus metrics (SPEC.md, Metrics).
 *
 * Counters live in this process (each daemon is scraped on its own admin
 * listener); gauges that mirror shared state are read when rendered.
 * Runs on the daemon's loop; not thread safe. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>

#include "gw_ussd_dialect.h"

struct evbuffer;
struct q_stats;


enum gw_ussd_outcome {
    GW_USSD_CON,        /* the session goes on */
    GW_USSD_END,        /* the session ended normally */
    GW_USSD_BUSY,       /* Redis or the records backend was down or late */
    GW_USSD_UNKNOWN,    /* the phone is not on the roster */
    GW_USSD_DUPLICATE,  /* a carrier's repeated hop, answered from the session */
    GW_USSD_BAD_REQUEST,
    GW_USSD_OUTCOME_COUNT
};

const char *gw_dialect_name(enum gw_dialect d);

/* Counts one USSD answer and its latency. */
void gw_metrics_ussd(enum gw_dialect d, enum gw_ussd_outcome outcome, double seconds);

/* Counts one roster row outcome: "imported", "updated", "unchanged", "rejected". */
void gw_metrics_import(const char *result, size_t n);

/* Names a carrier account so its SMS series are shown from the start.
 * At most GW_METRICS_PROVIDERS accounts; later ones share "other". */
#define GW_METRICS_PROVIDERS 16
void gw_metrics_sms_provider(const char *provider);

/* Counts one carrier answer: RESULT is a prov_outcome_name ("accepted",
 * "retry", "unknown", "throttled", "permanent"); SEGMENTS are added to
 * gateway_sms_segments_total when accepted. */
void gw_metrics_sms(const char *provider, const char *result, int segments);

/* Counts one inbound SMS: DIALECT "africastalking" | "twilio" | "kannel",
 * KIND a keyword name ("optout", "optin", "help", "status", "other") or
 * "duplicate" (a carrier's repeat) or "bad_signature". */
void gw_metrics_inbound(const char *dialect, const char *kind);

/* Counts one delivery report: STATUS "sent", "delivered", "failed" or
 * "unmatched" (no known message). */
void gw_metrics_dlr(const char *dialect, const char *status);

/* How many of this year and the next have no holiday calendar file
 * (gateway_calendar_missing_years). */
void gw_metrics_calendar_missing(int years);

/* The queue snapshot rendered as gateway_queue_* gauges (NULL: none). */
void gw_metrics_set_queue(const struct q_stats *qs);

/* Appends HTML table rows (<tr>...</tr>) summing up the counters for the
 * ops status page: hops answered and how, answer times, roster rows. */
void gw_metrics_render_summary(struct evbuffer *out);

/* Appends the Prometheus text exposition to OUT. REDIS_UP is the current
 * state of the Redis connection. */
void gw_metrics_render(struct evbuffer *out, int redis_up);

#endif
