/* gw_main.c - gatewayd: one libevent loop serving carriers and staff.
 *
 *   gatewayd --config FILE [--check-config]
 *
 * Start-up: load and check the config (a bad one exits 2 naming file, line
 * and key), load the templates, bind both listeners, connect to Redis in
 * the background (the daemon serves "busy" until Redis is up).
 * SIGHUP reloads the templates (a broken set is refused, the old one kept).
 * SIGTERM/SIGINT: stop accepting, let requests in flight finish (at most
 * 10 s), exit 0. */
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "gw_admin.h"
#include "gw_calendar.h"
#include "gw_campaign.h"
#include "gw_clock.h"
#include "gw_config.h"
#include "gw_dlr.h"
#include "gw_http.h"
#include "gw_inbound.h"
#include "gw_incident.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_phone.h"
#include "gw_records.h"
#include "gw_redis.h"
#include "gw_sender.h"
#include "gw_ussd.h"
#include "gw_window.h"
#include "prov.h"
#include "prov_http.h"
#include "q.h"
#include "tpl.h"

#define DRAIN_MAX_MS 10000

typedef struct daemon_state {
    struct event_base *base;
    int refused;                /* Redis evicts keys: gatewayd will not run on it */
    gw_config *cfg;
    tpl_set *tpl;
    gw_calendar *calendar;
    gw_redis *redis;
    gw_incidents *incidents;    /* mutual-aid incidents: admin API and USSD menu 4 */
    prov_http *http_client;
    gw_records *records;
    gw_ussd *ussd;
    gw_inbound *inbound;
    gw_dlr *dlr;
    gw_admin *admin;
    q *queue;
    prov_registry *providers;
    gw_sender *sender;
    gw_campaigns *campaigns;    /* reminders' texts and coordinators' campaigns */
    int releasing;              /* the queue lease is being given back */
    gw_http *carrier_http;
    gw_http *admin_http;
    struct event *drain_ev;
    int64_t drain_started_ms;
    int cal_missing;            /* this year and the next without a calendar file */
    gw_date cal_warned;         /* the local day it was last said ({0} none) */
} daemon_state;

static void usage(FILE *out)
{
    fprintf(out, "usage: gatewayd --config FILE [--check-config]\n"
                 "       gatewayd --version\n");
}

/* How many of this year and the next CAL has no file for, warning of each
 * (claim deadlines there skip weekends only) when WARN. */
static int calendar_missing(const gw_calendar *cal, int warn)
{
    int year = gw_incident_today().y, missing = 0;
    for (int y = year; y <= year + 1; y++) {
        if (gw_calendar_has_year(cal, y))
            continue;
        missing++;
        if (warn)
            gw_warn("main", "no holiday calendar for %d: claim deadlines in %d skip weekends "
                    "only (add ops/calendars/CN-%d.tsv from the State Council's notice)", y, y, y);
    }
    return missing;
}

/* Loads the business calendar: [calendar] files, or every .tsv file in ops/calendars/
 * when none are named, and warns when this year or the next has no file. */
static int load_calendar(const gw_config *cfg, gw_calendar **out, char *err, size_t errlen)
{
    glob_t g;
    memset(&g, 0, sizeof g);
    const char *const *files = (const char *const *)cfg->calendar_files;
    int globbed = 0;
    if (files == NULL || files[0] == NULL) {
        if (glob("ops/calendars/*.tsv", 0, NULL, &g) == 0) {
            files = (const char *const *)g.gl_pathv;
            globbed = 1;
        }
    }
    int rc = gw_calendar_load(globbed || (files != NULL && files[0] != NULL) ? files : NULL,
                              out, err, errlen);
    size_t nfiles = 0;
    while (files != NULL && files[nfiles] != NULL)
        nfiles++;
    if (globbed)
        globfree(&g);
    if (rc != 0)
        return -1;
    int years[16];
    size_t n = gw_calendar_years(*out, years, 16);
    char list[16 * 8] = "";
    for (size_t i = 0; i < n && i < 16; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i > 0 ? ", " : "",
                 years[i]);
    gw_info("main", "holiday calendar: %s loaded from %zu file%s", n > 0 ? list : "no year",
            nfiles, nfiles == 1 ? "" : "s");
    gw_metrics_calendar_missing(calendar_missing(*out, 1));
    return 0;
}

/* Remembers what load_calendar has just said of CAL. */
static void calendar_said(daemon_state *d)
{
    d->cal_missing = calendar_missing(d->calendar, 0);
    d->cal_warned = d->cal_missing > 0 ? gw_incident_today() : (gw_date){0, 0, 0};
}

/* Hourly: a daemon running over New Year looks at the new next year, and
 * while a year has no file the log says so again once a day (from December
 * on, claim windows reach into the next year). */
static void on_calendar_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    daemon_state *d = arg;
    int missing = calendar_missing(d->calendar, 0);
    gw_date today = gw_incident_today();
    if (missing > 0 && (missing != d->cal_missing || gw_date_cmp(today, d->cal_warned) != 0)) {
        calendar_missing(d->calendar, 1);
        d->cal_warned = today;
    }
    d->cal_missing = missing;
    gw_metrics_calendar_missing(missing);
}

/* Loads the texts of CFG's [templates] dir into *OUT, their SMS measured
 * with the configured signature, hotline and service code. */
static int load_texts(const gw_config *cfg, tpl_set **out, char *err, size_t errlen)
{
    tpl_var fixed[] = {{"hotline", cfg->ussd_hotline},
                       {"service_code", cfg->ussd_service_code}};
    tpl_opts opts = {cfg->sms_signature, cfg->sms_max_segments, fixed, 2};
    return tpl_load_ex(cfg->templates_dir, &opts, out, err, errlen);
}

static void on_hup(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    daemon_state *d = arg;
    tpl_set *fresh = NULL;
    char err[512];
    if (load_texts(d->cfg, &fresh, err, sizeof err) != 0) {
        gw_error("main", "SIGHUP: templates not reloaded, keeping the old ones: %s", err);
        return;
    }
    gw_calendar *cal = NULL;
    if (load_calendar(d->cfg, &cal, err, sizeof err) != 0) {
        gw_error("main", "SIGHUP: calendar not reloaded, keeping the old one: %s", err);
    } else {
        gw_calendar_free(d->calendar);
        d->calendar = cal;
        calendar_said(d);
        gw_incidents_recheck(d->incidents);
    }
    tpl_free(d->tpl);
    d->tpl = fresh;
    gw_campaigns_texts_reloaded(d->campaigns);
    gw_info("main", "SIGHUP: templates and menus reloaded from %s", d->cfg->templates_dir);
}

/* On each connection to Redis. The queue and sessions must never be
 * evicted: an evicting Redis would lose accepted messages silently. Refuse
 * it, loudly (a policy that cannot be read, POLICY NULL, was warned of).
 * Otherwise incidents judged by another calendar than the one loaded are
 * judged again. */
static void on_redis_check(gw_redis *r, const char *policy, int appendonly, void *arg)
{
    (void)r;
    (void)appendonly;
    daemon_state *d = arg;
    if ((policy == NULL || strcmp(policy, "noeviction") == 0) && !d->refused) {
        /* connected: incidents judged by another calendar are judged again */
        if (d->incidents != NULL)
            gw_incidents_recheck(d->incidents);
        return;
    }
    if (d->refused)
        return;
    gw_error("main", "Redis has maxmemory-policy %s: it may evict queued messages and "
             "reminders. gatewayd refuses to run on it; set maxmemory-policy noeviction "
             "(see ops/redis.conf)", policy);
    d->refused = 1;
    event_base_loopexit(d->base, NULL);
}

/* A carrier's "the recipient blocked you" answer: the resident asked not
 * to be messaged, so the number joins the opt-out list. */
/* The reminders' send window ([reminders] send_window in its time zone,
 * which is the process's TZ): its next opening at or after NOW_MS. */
static int64_t reminder_window(int64_t now_ms, void *arg)
{
    const gw_config *cfg = arg;
    return gw_window_next(now_ms, cfg->send_window_start_min, cfg->send_window_end_min);
}

static void on_blocked(const char *e164, const char *account, void *arg)
{
    daemon_state *d = arg;
    char channel[80], masked[32];
    snprintf(channel, sizeof channel, "carrier:%s", account);
    gw_phone_mask(e164, masked, sizeof masked);
    gw_info("main", "%s says %s blocks our messages: added to the opt-out list", account,
            masked);
    if (gw_optout_set(d->redis, e164, 1, channel, NULL, NULL) != 0)
        gw_error("main", "could not add %s to the opt-out list: Redis is down", masked);
}

static void on_released(q *q, long n, void *arg)
{
    (void)q;
    daemon_state *d = arg;
    if (n > 0)
        gw_info("main", "gave %ld unfinished messages back to the queue", n);
    event_base_loopexit(d->base, NULL);
}

/* Stops once requests and carrier calls in flight are done (or after
 * DRAIN_MAX_MS), giving back the queue lease so nothing waits for it to
 * expire. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    daemon_state *d = arg;
    int64_t waited = gw_clock_mono_ms() - d->drain_started_ms;
    size_t busy = gw_http_in_flight(), sending = gw_sender_busy(d->sender);
    if (d->releasing) {
        if (waited >= DRAIN_MAX_MS + 1000)
            event_base_loopexit(d->base, NULL);
        return;
    }
    if ((busy == 0 && sending == 0) || waited >= DRAIN_MAX_MS) {
        if (busy > 0 || sending > 0)
            gw_warn("main", "stopping with %zu requests and %zu messages unfinished after %d ms "
                    "(the messages go back to the queue)", busy, sending, DRAIN_MAX_MS);
        d->releasing = 1;
        if (q_release(d->queue, sending > 0, on_released, d) != 0)
            event_base_loopexit(d->base, NULL);
    }
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    daemon_state *d = arg;
    if (d->drain_ev != NULL)
        return;
    gw_info("main", "signal %d: draining (no new connections)", (int)fd);
    gw_http_stop_accepting(d->carrier_http);
    gw_http_stop_accepting(d->admin_http);
    gw_sender_stop(d->sender);
    d->drain_started_ms = gw_clock_mono_ms();
    d->drain_ev = event_new(d->base, -1, EV_PERSIST, on_drain_tick, d);
    struct timeval tv = {0, 20 * 1000};
    event_add(d->drain_ev, &tv);
    on_drain_tick(-1, 0, d);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    int check_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("gatewayd %s\n", GW_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (config_path == NULL) {
        usage(stderr);
        return 2;
    }

    daemon_state d;
    memset(&d, 0, sizeof d);
    char err[1024];
    d.cfg = gw_config_load(config_path, err, sizeof err);
    if (d.cfg == NULL) {
        fprintf(stderr, "gatewayd: %s\n", err);
        return 2;
    }
    /* Local dates and times are the configured timezone's (Asia/Shanghai). */
    setenv("TZ", d.cfg->reminders_timezone, 1);
    tzset();
    if (load_texts(d.cfg, &d.tpl, err, sizeof err) != 0) {
        fprintf(stderr, "gatewayd: %s\n", err);
        gw_config_free(d.cfg);
        return 2;
    }
    if (load_calendar(d.cfg, &d.calendar, err, sizeof err) != 0) {
        fprintf(stderr, "gatewayd: %s\n", err);
        tpl_free(d.tpl);
        gw_config_free(d.cfg);
        return 2;
    }
    if (check_only) {
        gw_calendar_free(d.calendar);
        printf("%s: ok\n", config_path);
        tpl_free(d.tpl);
        gw_config_free(d.cfg);
        return 0;
    }

    signal(SIGPIPE, SIG_IGN);
    int rc = 1;
    /* The changelist folds the many event add/delete pairs of one loop turn
     * (HTTP write readiness, hiredis' write event) into fewer epoll_ctl calls. */
    struct event_config *evcfg = event_config_new();
    if (evcfg != NULL) {
        event_config_set_flag(evcfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        d.base = event_base_new_with_config(evcfg);
        event_config_free(evcfg);
    }
    if (d.base == NULL) {
        fprintf(stderr, "gatewayd: cannot create the event loop\n");
        goto out;
    }
    d.carrier_http = gw_http_new(d.base, "carrier", d.cfg->http_listen.host,
                                 d.cfg->http_listen.port, d.cfg->http_max_body, err, sizeof err);
    if (d.carrier_http == NULL)
        goto fail;
    d.admin_http = gw_http_new(d.base, "admin", d.cfg->admin_listen.host,
                               d.cfg->admin_listen.port, d.cfg->admin_max_body, err, sizeof err);
    if (d.admin_http == NULL)
        goto fail;

    d.redis = d.cfg->redis_sentinels != NULL
                  ? gw_redis_new_sentinel(d.base, d.cfg->redis_sentinels, d.cfg->redis_master,
                                          d.cfg->redis_db, d.cfg->redis_password)
                  : gw_redis_new(d.base, d.cfg->redis_host, d.cfg->redis_port, d.cfg->redis_db,
                                 d.cfg->redis_password);
    if (d.redis != NULL)
        gw_redis_on_check(d.redis, on_redis_check, &d);
    d.http_client = prov_http_new(d.base);
    if (d.redis == NULL || d.http_client == NULL) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    d.providers = prov_registry_new(d.cfg, d.http_client, err, sizeof err);
    if (d.providers == NULL)
        goto fail;
    d.queue = q_new(d.base, d.redis);
    if (d.queue == NULL || (d.sender = gw_sender_new(d.base, d.cfg, d.queue, d.providers)) == NULL) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    gw_sender_on_blocked(d.sender, on_blocked, &d);
    d.campaigns = gw_campaigns_new(d.base, d.cfg, d.redis, &d.tpl);
    if (d.campaigns == NULL) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    gw_sender_on_render(d.sender, gw_campaigns_render, d.campaigns);
    gw_store_set_reminder_hook(gw_campaigns_auto_times, d.campaigns);
    q_set_reminder_policy(d.queue, reminder_window, (void *)d.cfg,
                          d.cfg->min_interval_hours * 3600);
    for (size_t i = 0; i < prov_registry_count(d.providers); i++)
        gw_metrics_sms_provider(prov_registry_conf(d.providers, i)->name);
    gw_metrics_set_queue(q_stats_get(d.queue));
    if (gw_store_init(d.base, d.redis) != 0) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    d.records = gw_records_new(d.cfg, d.redis, d.http_client);
    d.incidents = gw_incidents_new(d.base, d.cfg, d.redis, &d.calendar);
    if (d.incidents == NULL) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    gw_incidents_on_segments(d.incidents, gw_campaigns_claim_segments, d.campaigns);
    d.ussd = gw_ussd_new(d.base, d.cfg, d.redis, d.records, &d.tpl);
    d.admin = gw_admin_new(d.base, d.cfg, d.redis);
    if (d.admin != NULL) {
        gw_admin_set_outbound(d.admin, d.queue, d.providers, d.sender, &d.tpl);
        gw_admin_set_calendar(d.admin, &d.calendar);
        gw_admin_set_campaigns(d.admin, d.campaigns);
        gw_admin_set_incidents(d.admin, d.incidents);
    }
    if (d.ussd != NULL) {
        gw_ussd_set_outbound(d.ussd, d.sender);
        gw_ussd_set_incidents(d.ussd, d.incidents);
    }
    d.inbound = gw_inbound_new(d.cfg, d.redis, d.records, &d.tpl, d.sender);
    d.dlr = gw_dlr_new(d.cfg, d.queue);
    if (d.inbound == NULL || gw_inbound_register(d.inbound, d.carrier_http) != 0 ||
        d.dlr == NULL || gw_dlr_register(d.dlr, d.carrier_http) != 0) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    if (d.records == NULL || d.ussd == NULL || d.admin == NULL ||
        gw_ussd_register(d.ussd, d.carrier_http) != 0 ||
        gw_admin_register(d.admin, d.admin_http) != 0) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }

    struct event *sig_term = evsignal_new(d.base, SIGTERM, on_term, &d);
    struct event *sig_int = evsignal_new(d.base, SIGINT, on_term, &d);
    struct event *sig_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
    event_add(sig_term, NULL);
    event_add(sig_int, NULL);
    event_add(sig_hup, NULL);
    calendar_said(&d);
    struct event *cal_tick = event_new(d.base, -1, EV_PERSIST, on_calendar_tick, &d);
    struct timeval hourly = {3600, 0};
    if (cal_tick != NULL)
        event_add(cal_tick, &hourly);

    if (d.cfg->redis_sentinels != NULL)
        gw_info("main", "gatewayd %s started (config %s, records %s, redis master %s from "
                "sentinels %s)", GW_VERSION, config_path, d.cfg->records_backend,
                d.cfg->redis_master, d.cfg->redis_sentinels);
    else
        gw_info("main", "gatewayd %s started (config %s, records %s, redis %s:%d)", GW_VERSION,
                config_path, d.cfg->records_backend, d.cfg->redis_host, d.cfg->redis_port);
    event_base_dispatch(d.base);
    gw_info("main", "stopped");

    event_free(sig_term);
    event_free(sig_int);
    event_free(sig_hup);
    if (cal_tick != NULL)
        event_free(cal_tick);
    rc = d.refused ? 1 : 0;
    goto out;

fail:
    fprintf(stderr, "gatewayd: %s\n", err);
    rc = 1;
out:
    /* Order matters: freeing Redis and the HTTP client calls their pending
     * callbacks, which may still answer requests on the listeners. */
    gw_store_shutdown();
    gw_redis_free(d.redis);
    gw_incidents_free(d.incidents);     /* after Redis: its waiting calls are answered */
    prov_registry_free(d.providers);
    gw_sender_free(d.sender);
    gw_campaigns_free(d.campaigns);
    q_free(d.queue);
    gw_metrics_set_queue(NULL);
    prov_http_free(d.http_client);
    gw_ussd_free(d.ussd);
    gw_inbound_free(d.inbound);
    gw_dlr_free(d.dlr);
    gw_admin_free(d.admin);
    gw_records_free(d.records);
    gw_http_free(d.carrier_http);
    gw_http_free(d.admin_http);
    if (d.drain_ev != NULL)
        event_free(d.drain_ev);
    if (d.base != NULL)
        event_base_free(d.base);
    tpl_free(d.tpl);
    gw_calendar_free(d.calendar);
    gw_config_free(d.cfg);
    return rc;
}
