/* gw_metrics.c - counters and histograms in Prometheus text form. */
#include "gw_metrics.h"

#include <string.h>

#include <event2/buffer.h>

#include "q.h"

#define NRESULTS 5
static const char *sms_results[NRESULTS] = {"accepted", "retry", "unknown", "throttled",
                                            "permanent"};

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

static const char *outcome_names[GW_USSD_OUTCOME_COUNT] = {
    "continue", "end", "busy", "unknown_phone", "duplicate", "bad_request",
};

#define NIN_DIALECTS 3
#define NIN_KINDS 7
static const char *in_dialects[NIN_DIALECTS] = {"africastalking", "twilio", "kannel"};
static const char *in_kinds[NIN_KINDS] = {"optout", "optin", "help", "status", "other",
                                          "duplicate", "bad_signature"};

#define NDLR 4
static const char *dlr_states[NDLR] = {"sent", "delivered", "failed", "unmatched"};

static struct {
    int calendar_missing;
    unsigned long long dlr[NIN_DIALECTS][NDLR];
    unsigned long long inbound[NIN_DIALECTS][NIN_KINDS];
    unsigned long long ussd[GW_DIALECT_COUNT][GW_USSD_OUTCOME_COUNT];
    unsigned long long hist[NBUCKETS];
    unsigned long long hist_count;
    double hist_sum;
    unsigned long long import[4];
    char provider[GW_METRICS_PROVIDERS + 1][64];   /* the last is "other" */
    size_t nproviders;
    unsigned long long sms[GW_METRICS_PROVIDERS + 1][NRESULTS];
    unsigned long long segments[GW_METRICS_PROVIDERS + 1];
    const q_stats *queue;
} m;

static const char *import_names[4] = {"imported", "updated", "unchanged", "rejected"};

const char *gw_dialect_name(enum gw_dialect d)
{
    return d == GW_DIALECT_AT ? "africastalking" : "hubtel";
}

void gw_metrics_ussd(enum gw_dialect d, enum gw_ussd_outcome outcome, double seconds)
{
    m.ussd[d][outcome]++;
    for (size_t i = 0; i < NBUCKETS; i++)
        if (seconds <= buckets[i])
            m.hist[i]++;
    m.hist_count++;
    m.hist_sum += seconds;
}

void gw_metrics_import(const char *result, size_t n)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(result, import_names[i]) == 0)
            m.import[i] += n;
}

static size_t provider_slot(const char *provider)
{
    for (size_t i = 0; i < m.nproviders; i++)
        if (strcmp(m.provider[i], provider) == 0)
            return i;
    return GW_METRICS_PROVIDERS;
}

void gw_metrics_sms_provider(const char *provider)
{
    if (provider_slot(provider) != GW_METRICS_PROVIDERS || m.nproviders >= GW_METRICS_PROVIDERS)
        return;
    size_t n = strlen(provider);
    if (n >= sizeof m.provider[0])
        n = sizeof m.provider[0] - 1;
    memcpy(m.provider[m.nproviders], provider, n);
    m.provider[m.nproviders][n] = '\0';
    m.nproviders++;
}

void gw_metrics_sms(const char *provider, const char *result, int segments)
{
    size_t p = provider_slot(provider);
    for (int i = 0; i < NRESULTS; i++)
        if (strcmp(result, sms_results[i]) == 0)
            m.sms[p][i]++;
    if (segments > 0)
        m.segments[p] += (unsigned long long)segments;
}

void gw_metrics_inbound(const char *dialect, const char *kind)
{
    for (int d = 0; d < NIN_DIALECTS; d++)
        for (int k = 0; k < NIN_KINDS; k++)
            if (strcmp(dialect, in_dialects[d]) == 0 && strcmp(kind, in_kinds[k]) == 0)
                m.inbound[d][k]++;
}

void gw_metrics_dlr(const char *dialect, const char *status)
{
    for (int d = 0; d < NIN_DIALECTS; d++)
        for (int k = 0; k < NDLR; k++)
            if (strcmp(dialect, in_dialects[d]) == 0 && strcmp(status, dlr_states[k]) == 0)
                m.dlr[d][k]++;
}

void gw_metrics_calendar_missing(int years)
{
    m.calendar_missing = years;
}

void gw_metrics_set_queue(const q_stats *qs)
{
    m.queue = qs;
}

static void render_sms(struct evbuffer *out)
{
    size_t n = m.nproviders;
    int other = 0;
    for (int r = 0; r < NRESULTS; r++)
        other |= m.sms[GW_METRICS_PROVIDERS][r] != 0;
    evbuffer_add_printf(out,
        "# HELP gateway_sms_submitted_total Carrier answers to message submissions, by result.\n"
        "# TYPE gateway_sms_submitted_total counter\n");
    for (size_t p = 0; p <= GW_METRICS_PROVIDERS; p++) {
        if (p >= n && (p != GW_METRICS_PROVIDERS || !other))
            continue;
        const char *name = p == GW_METRICS_PROVIDERS ? "other" : m.provider[p];
        for (int r = 0; r < NRESULTS; r++)
            evbuffer_add_printf(out, "gateway_sms_submitted_total{provider=\"%s\",result=\"%s\"} %llu\n",
                                name, sms_results[r], m.sms[p][r]);
    }
    evbuffer_add_printf(out,
        "# HELP gateway_sms_segments_total Segments accepted by carriers.\n"
        "# TYPE gateway_sms_segments_total counter\n");
    for (size_t p = 0; p <= GW_METRICS_PROVIDERS; p++) {
        if (p >= n && (p != GW_METRICS_PROVIDERS || !other))
            continue;
        evbuffer_add_printf(out, "gateway_sms_segments_total{provider=\"%s\"} %llu\n",
                            p == GW_METRICS_PROVIDERS ? "other" : m.provider[p], m.segments[p]);
    }
    const q_stats *q = m.queue;
    if (q == NULL || !q->valid)
        return;
    evbuffer_add_printf(out,
        "# HELP gateway_queue_depth Messages in the shared queue, by lane and state.\n"
        "# TYPE gateway_queue_depth gauge\n");
    for (int lane = 0; lane < 2; lane++) {
        const char *ln = q_lane_name((q_lane)lane);
        int64_t sched = q->total[lane] - q->ready[lane];
        evbuffer_add_printf(out,
            "gateway_queue_depth{lane=\"%s\",state=\"scheduled\"} %lld\n"
            "gateway_queue_depth{lane=\"%s\",state=\"ready\"} %lld\n",
            ln, (long long)(sched > 0 ? sched : 0), ln, (long long)q->ready[lane]);
    }
    evbuffer_add_printf(out,
        "gateway_queue_depth{lane=\"all\",state=\"in_flight\"} %lld\n"
        "gateway_queue_depth{lane=\"all\",state=\"dead\"} %lld\n"
        "# HELP gateway_queue_oldest_seconds Age of the oldest message due and not yet sent.\n"
        "# TYPE gateway_queue_oldest_seconds gauge\n",
        (long long)q->in_flight, (long long)q->dead);
    for (int lane = 0; lane < 2; lane++)
        evbuffer_add_printf(out, "gateway_queue_oldest_seconds{lane=\"%s\"} %.3f\n",
                            q_lane_name((q_lane)lane),
                            q->oldest_ms[lane] > 0 ? (double)q->oldest_ms[lane] / 1000.0 : 0.0);
    evbuffer_add_printf(out,
        "# HELP gateway_queue_recovered_total Messages put back from daemons that died mid-send "
        "(each a possible duplicate).\n"
        "# TYPE gateway_queue_recovered_total counter\n"
        "gateway_queue_recovered_total %lld\n"
        "# HELP gateway_queue_consumers Daemons holding a dispatch lease.\n"
        "# TYPE gateway_queue_consumers gauge\n"
        "gateway_queue_consumers %lld\n",
        (long long)q->recovered, (long long)q->consumers);
    evbuffer_add_printf(out,
        "# HELP gateway_reminders_skipped_total Bulk messages not sent when their time came, "
        "by reason.\n"
        "# TYPE gateway_reminders_skipped_total counter\n");
    for (int i = 0; i < Q_SKIP_REASONS; i++)
        evbuffer_add_printf(out, "gateway_reminders_skipped_total{reason=\"%s\"} %lld\n",
                            q_skip_reasons[i], (long long)q->skipped[i]);
    evbuffer_add_printf(out,
        "# HELP gateway_reminders_deferred_total Reminders due outside the send window, moved "
        "to its next opening.\n"
        "# TYPE gateway_reminders_deferred_total counter\n"
        "gateway_reminders_deferred_total %lld\n", (long long)q->deferred);
}

void gw_metrics_render(struct evbuffer *out, int redis_up)
{
    evbuffer_add_printf(out,
        "# HELP gateway_build_info Version of the running gatewayd.\n"
        "# TYPE gateway_build_info gauge\n"
        "gateway_build_info{version=\"%s\"} 1\n"
        "# HELP gateway_redis_up 1 when Redis is connected and answering.\n"
        "# TYPE gateway_redis_up gauge\n"
        "gateway_redis_up %d\n", GW_VERSION, redis_up ? 1 : 0);

    evbuffer_add_printf(out,
        "# HELP gateway_ussd_requests_total USSD hops answered, by dialect and outcome.\n"
        "# TYPE gateway_ussd_requests_total counter\n");
    for (int d = 0; d < GW_DIALECT_COUNT; d++)
        for (int o = 0; o < GW_USSD_OUTCOME_COUNT; o++)
            evbuffer_add_printf(out, "gateway_ussd_requests_total{dialect=\"%s\",outcome=\"%s\"} %llu\n",
                                gw_dialect_name((enum gw_dialect)d), outcome_names[o], m.ussd[d][o]);

    evbuffer_add_printf(out,
        "# HELP gateway_ussd_response_seconds Time from a hop's arrival to its answer.\n"
        "# TYPE gateway_ussd_response_seconds histogram\n");
    for (size_t i = 0; i < NBUCKETS; i++)
        evbuffer_add_printf(out, "gateway_ussd_response_seconds_bucket{le=\"%g\"} %llu\n",
                            buckets[i], m.hist[i]);
    evbuffer_add_printf(out,
        "gateway_ussd_response_seconds_bucket{le=\"+Inf\"} %llu\n"
        "gateway_ussd_response_seconds_sum %.6f\n"
        "gateway_ussd_response_seconds_count %llu\n",
        m.hist_count, m.hist_sum, m.hist_count);

    evbuffer_add_printf(out,
        "# HELP gateway_roster_rows_total Roster rows processed by imports, by result.\n"
        "# TYPE gateway_roster_rows_total counter\n");
    for (int i = 0; i < 4; i++)
        evbuffer_add_printf(out, "gateway_roster_rows_total{result=\"%s\"} %llu\n",
                            import_names[i], m.import[i]);
    render_sms(out);
    evbuffer_add_printf(out,
        "# HELP gateway_inbound_sms_total SMS from residents, by carrier and what they asked.\n"
        "# TYPE gateway_inbound_sms_total counter\n");
    for (int d = 0; d < NIN_DIALECTS; d++)
        for (int k = 0; k < NIN_KINDS; k++)
            evbuffer_add_printf(out, "gateway_inbound_sms_total{provider=\"%s\",kind=\"%s\"} %llu\n",
                                in_dialects[d], in_kinds[k], m.inbound[d][k]);
    unsigned long long unmatched = 0;
    evbuffer_add_printf(out,
        "# HELP gateway_dlr_total Delivery reports, by carrier and the status they reported.\n"
        "# TYPE gateway_dlr_total counter\n");
    for (int d = 0; d < NIN_DIALECTS; d++) {
        for (int k = 0; k < NDLR - 1; k++)
            evbuffer_add_printf(out, "gateway_dlr_total{provider=\"%s\",status=\"%s\"} %llu\n",
                                in_dialects[d], dlr_states[k], m.dlr[d][k]);
        unmatched += m.dlr[d][NDLR - 1];
    }
    evbuffer_add_printf(out,
        "# HELP gateway_dlr_unmatched_total Delivery reports for no known message.\n"
        "# TYPE gateway_dlr_unmatched_total counter\n"
        "gateway_dlr_unmatched_total %llu\n", unmatched);
    evbuffer_add_printf(out,
        "# HELP gateway_calendar_missing_years Of this year and the next, how many have no "
        "holiday calendar (claim deadlines then skip weekends only).\n"
        "# TYPE gateway_calendar_missing_years gauge\n"
        "gateway_calendar_missing_years %d\n", m.calendar_missing);
}

void gw_metrics_render_summary(struct evbuffer *out)
{
    unsigned long long by[GW_USSD_OUTCOME_COUNT] = {0}, total = 0;
    for (int d = 0; d < GW_DIALECT_COUNT; d++)
        for (int o = 0; o < GW_USSD_OUTCOME_COUNT; o++) {
            by[o] += m.ussd[d][o];
            total += m.ussd[d][o];
        }
    double pct = total > 0 ? 100.0 / (double)total : 0;
    evbuffer_add_printf(out,
        "<tr><th>USSD hops answered</th><td>%llu</td></tr>"
        "<tr><th>&nbsp; with a screen</th><td>%llu</td></tr>"
        "<tr><th>&nbsp; ended normally</th><td>%llu</td></tr>"
        "<tr><th>&nbsp; unknown phones</th><td>%llu</td></tr>"
        "<tr><th>&nbsp; repeated by the carrier</th><td>%llu</td></tr>"
        "<tr><th>&nbsp; &ldquo;service busy&rdquo;</th><td class=\"%s\">%llu (%.1f%%)</td></tr>"
        "<tr><th>&nbsp; refused as malformed</th><td>%llu</td></tr>",
        total, by[GW_USSD_CON], by[GW_USSD_END], by[GW_USSD_UNKNOWN], by[GW_USSD_DUPLICATE],
        by[GW_USSD_BUSY] > 0 ? "bad" : "ok", by[GW_USSD_BUSY], (double)by[GW_USSD_BUSY] * pct,
        by[GW_USSD_BAD_REQUEST]);
    if (m.hist_count > 0)
        evbuffer_add_printf(out,
            "<tr><th>Mean answer time</th><td>%.2f ms</td></tr>"
            "<tr><th>Answered within 5 ms</th><td>%.1f%%</td></tr>",
            m.hist_sum * 1000.0 / (double)m.hist_count,
            100.0 * (double)m.hist[2] / (double)m.hist_count);
    evbuffer_add_printf(out,
        "<tr><th>Roster rows imported / updated / unchanged / rejected</th>"
        "<td>%llu / %llu / %llu / %llu</td></tr>",
        m.import[0], m.import[1], m.import[2], m.import[3]);
    unsigned long long sms[NRESULTS] = {0};
    for (size_t p = 0; p <= GW_METRICS_PROVIDERS; p++)
        for (int r = 0; r < NRESULTS; r++)
            sms[r] += m.sms[p][r];
    evbuffer_add_printf(out,
        "<tr><th>SMS accepted by carriers</th><td>%llu</td></tr>"
        "<tr><th>&nbsp; retried / no answer / throttled / refused</th>"
        "<td class=\"%s\">%llu / %llu / %llu / %llu</td></tr>",
        sms[0], sms[4] > 0 ? "bad" : "ok", sms[1], sms[2], sms[3], sms[4]);
    const q_stats *q = m.queue;
    if (q != NULL && q->valid) {
        int64_t late = q->oldest_ms[Q_REPLY] > 60000 ? 1 : 0;
        evbuffer_add_printf(out,
            "<tr><th>Queue: replies waiting (oldest due)</th><td class=\"%s\">%lld (%.0f s)</td></tr>"
            "<tr><th>Queue: bulk waiting (oldest due)</th><td>%lld (%.0f s)</td></tr>"
            "<tr><th>Queue: in flight / dead</th><td>%lld / %lld</td></tr>",
            late ? "bad" : "ok", (long long)q->total[Q_REPLY],
            q->oldest_ms[Q_REPLY] > 0 ? (double)q->oldest_ms[Q_REPLY] / 1000.0 : 0.0,
            (long long)q->total[Q_BULK],
            q->oldest_ms[Q_BULK] > 0 ? (double)q->oldest_ms[Q_BULK] / 1000.0 : 0.0,
            (long long)q->in_flight, (long long)q->dead);
        long long other = 0;
        for (int i = 3; i < Q_SKIP_REASONS; i++)
            other += (long long)q->skipped[i];
        evbuffer_add_printf(out,
            "<tr><th>Reminders not sent at their time: paid / opted out / duplicate / other"
            "</th><td>%lld / %lld / %lld / %lld</td></tr>"
            "<tr><th>Reminders moved to the send window's opening</th><td>%lld</td></tr>",
            (long long)q->skipped[1], (long long)q->skipped[0], (long long)q->skipped[2], other,
            (long long)q->deferred);
    }
}
