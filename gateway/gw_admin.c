/* gw_admin.c - health, metrics, the ops page and the /v1 API; see gw_admin.h.
 *
 * A roster import streams the request body through the CSV parser and
 * upserts the good rows (gw_store_upsert: 128 rows to a Lua call); at most
 * IMPORT_HIGH rows are in flight at once, parsing resumes below IMPORT_LOW,
 * so a million-row file never sits in Redis' input buffer or in our memory
 * twice, and Redis has work while the next rows are parsed. Rows are
 * independent: a bad row is reported with its line and never stops the
 * good ones. A participant id given again later in the file is such a bad
 * row (which of the two is right is the coordinator's to say): the first
 * is imported, the later one rejected naming the first's line; the ids are
 * remembered as 64-bit hashes, 16 bytes an id while the import runs. */
#include "gw_admin.h"
#include "gw_admin_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>  /* evhttp_uridecode */
#include <jansson.h>

#include "gw_clock.h"
#include "gw_config.h"
#include "gw_format.h"
#include "gw_http.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_records.h"
#include "gw_redis.h"
#include "gw_roster.h"

#define IMPORT_CHUNK (64 * 1024)
#define IMPORT_HIGH 8192
#define IMPORT_LOW 4096
#define MAX_REJECTED_LISTED 10000
#define READYZ_TIMEOUT_MS 1000

/* ---- auth ---- */

static int token_ok(const gw_admin *a, gw_http_req *req)
{
    const char *h = gw_http_header(req, "Authorization");
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return 0;
    const char *given = h + 7, *want = a->cfg->admin_token;
    size_t gl = strlen(given), wl = strlen(want);
    unsigned char diff = (unsigned char)(gl != wl);
    for (size_t i = 0; i < wl; i++)          /* constant time in the token's length */
        diff |= (unsigned char)(want[i] ^ (i < gl ? given[i] : 0));
    return diff == 0;
}

int gw_admin_require_auth(gw_admin *a, gw_http_req *req)
{
    if (token_ok(a, req))
        return 1;
    gw_http_add_header(req, "WWW-Authenticate", "Bearer");
    gw_http_error(req, 401, "unauthorized", "missing or wrong bearer token");
    return 0;
}

int gw_admin_require_post(gw_admin *a, gw_http_req *req)
{
    if (!gw_admin_require_auth(a, req))
        return 0;
    if (gw_http_method(req) == GW_HTTP_POST)
        return 1;
    gw_http_error(req, 405, "method_not_allowed", "use POST with a JSON body");
    return 0;
}

/* ---- health ---- */

static void handle_healthz(gw_http_req *req, void *arg)
{
    (void)arg;
    gw_http_reply(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

typedef struct readyz {
    gw_http_req *req;
    struct event *timer;
    gw_admin *a;
    int answered;
    int outstanding;
} readyz;

static void readyz_done(readyz *r, int ok, const char *why)
{
    if (!r->answered) {
        r->answered = 1;
        event_del(r->timer);
        if (ok)
            gw_http_reply(r->req, 200, "text/plain; charset=utf-8", "ready\n", 6);
        else
            gw_http_error(r->req, 503, "not_ready", why);
    }
    if (r->outstanding == 0) {
        event_free(r->timer);
        free(r);
    }
}

static void on_readyz_set(gw_redis *redis, redisReply *reply, void *arg)
{
    (void)redis;
    readyz *r = arg;
    r->outstanding--;
    int ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
    readyz_done(r, ok, reply != NULL && reply->type == REDIS_REPLY_ERROR
                           ? "redis refused a write" : "redis unreachable");
}

static void on_readyz_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    readyz_done(arg, 0, "redis did not answer in time");
}

static void handle_readyz(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    readyz *r = calloc(1, sizeof *r);
    if (r == NULL || (r->timer = evtimer_new(a->base, on_readyz_timeout, r)) == NULL) {
        free(r);
        gw_http_error(req, 503, "not_ready", "out of memory");
        return;
    }
    r->req = req;
    r->a = a;
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, gw_clock_now_ms());
    const char *argv[] = {"SET", "gw:readyz", now, "PX", "10000"};
    if (gw_redis_argv(a->redis, on_readyz_set, r, 5, argv, NULL) != 0) {
        readyz_done(r, 0, "redis unreachable");
        return;
    }
    r->outstanding++;
    struct timeval tv = {0, READYZ_TIMEOUT_MS * 1000};
    evtimer_add(r->timer, &tv);
}

static void handle_metrics(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        gw_http_error(req, 500, "internal", "out of memory");
        return;
    }
    gw_metrics_render(buf, gw_redis_up(a->redis));
    size_t n = evbuffer_get_length(buf);
    gw_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8",
                  (const char *)evbuffer_pullup(buf, -1), n);
    evbuffer_free(buf);
}

static void handle_status_page(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (strcmp(gw_http_path(req), "/") != 0) {
        gw_http_error(req, 404, "not_found", "no such endpoint");
        return;
    }
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        gw_http_error(req, 500, "internal", "out of memory");
        return;
    }
    int up = gw_redis_up(a->redis);
    evbuffer_add_printf(buf,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"refresh\" content=\"5\"><title>gatewayd status</title>"
        "<style>body{font:15px sans-serif;margin:2em;max-width:50em}"
        ".ok{color:#070}.bad{color:#b00}td,th{padding:.2em 1em;text-align:left}"
        "pre{background:#f4f4f4;padding:1em;overflow:auto}</style></head><body>"
        "<h1>gatewayd %s</h1><table>"
        "<tr><th>Redis</th><td class=\"%s\">%s</td></tr>"
        "<tr><th>USSD service code</th><td>%s</td></tr>"
        "<tr><th>Records backend</th><td>%s</td></tr>"
        "<tr><th>Requests in flight</th><td>%zu</td></tr>",
        GW_VERSION, up ? "ok" : "bad", up ? "up" : "DOWN: hops answer busy",
        a->cfg->ussd_service_code, a->cfg->records_backend, gw_http_in_flight());
    gw_metrics_render_summary(buf);
    evbuffer_add_printf(buf, "</table><details><summary>All metrics "
                        "(<a href=\"/metrics\">/metrics</a>)</summary><pre>");
    struct evbuffer *m = evbuffer_new();
    if (m != NULL) {
        gw_metrics_render(m, up);
        size_t n = evbuffer_get_length(m);
        const char *text = (const char *)evbuffer_pullup(m, -1);
        for (size_t i = 0; i < n; i++) {   /* metric text has no markup but '<' in theory */
            if (text[i] == '<')
                evbuffer_add(buf, "&lt;", 4);
            else if (text[i] == '&')
                evbuffer_add(buf, "&amp;", 5);
            else if (text[i] != '#' || (i > 0 && text[i - 1] != '\n'))
                evbuffer_add(buf, text + i, 1);
            else {                          /* skip HELP/TYPE comment lines */
                while (i < n && text[i] != '\n')
                    i++;
            }
        }
        evbuffer_free(m);
    }
    evbuffer_add_printf(buf, "</pre></details></body></html>\n");
    size_t n = evbuffer_get_length(buf);
    gw_http_reply(req, 200, "text/html; charset=utf-8", (const char *)evbuffer_pullup(buf, -1), n);
    evbuffer_free(buf);
}

/* ---- participants ---- */

static json_t *money_json(int64_t fen)
{
    if (fen < 0)
        return json_null();
    char buf[32];
    gw_money_format(fen, buf, sizeof buf);
    return json_string(buf);
}

static json_t *participant_json(const gw_participant *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "participant_id", json_string(p->id));
    json_object_set_new(o, "phone", p->phone[0] ? json_string(p->phone) : json_null());
    json_object_set_new(o, "name", json_string(p->name));
    json_object_set_new(o, "id_last4_on_record", json_boolean(p->id_last4[0] != '\0'));
    json_object_set_new(o, "township", json_string(p->township));
    json_object_set_new(o, "village", json_string(p->village));
    json_object_set_new(o, "language", json_string(p->language));
    json_object_set_new(o, "contribution_year",
                        p->contribution_year ? json_integer(p->contribution_year) : json_null());
    json_object_set_new(o, "contribution_tier_yuan", money_json(p->contribution_tier_fen));
    json_object_set_new(o, "contribution_paid_yuan", money_json(p->contribution_paid_fen));
    json_object_set_new(o, "contribution_paid", json_boolean(p->contribution_paid_fen > 0));
    json_object_set_new(o, "contribution_due",
                        p->contribution_due[0] ? json_string(p->contribution_due) : json_null());
    json_object_set_new(o, "account_balance_yuan", money_json(p->account_balance_fen));
    json_object_set_new(o, "account_balance_fen", p->account_balance_fen >= 0
                            ? json_integer(p->account_balance_fen) : json_null());
    json_object_set_new(o, "pension_monthly_yuan", money_json(p->pension_monthly_fen));
    json_object_set_new(o, "pension_last_paid",
                        p->pension_last_paid[0] ? json_string(p->pension_last_paid) : json_null());
    json_object_set_new(o, "mutual_aid_member", json_boolean(p->mutual_aid_member));
    return o;
}

static void on_participant(int status, const gw_participant *list, size_t n, void *arg)
{
    gw_http_req *req = arg;
    if (status != 0)
        gw_http_error(req, 503, "redis_unavailable", "the roster store is not reachable");
    else if (n == 0)
        gw_http_error(req, 404, "not_found", "no participant with this id");
    else
        gw_http_reply_json(req, 200, participant_json(&list[0]));
}

static void handle_participant(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_auth(a, req))
        return;
    if (gw_http_method(req) != GW_HTTP_GET) {
        gw_http_error(req, 405, "method_not_allowed", "use GET");
        return;
    }
    const char *raw = gw_http_path(req) + strlen("/v1/participants/");
    char *id = evhttp_uridecode(raw, 0, NULL);
    gw_participant probe;
    gw_participant_init(&probe);
    char err[160];
    if (id == NULL || gw_roster_set_field(&probe, "participant_id", id, err, sizeof err) != 0) {
        gw_http_error(req, 400, "bad_id", "participant id must be 1..63 of [A-Za-z0-9_.-]");
    } else if (gw_store_get(a->redis, probe.id, on_participant, req) != 0) {
        gw_http_error(req, 503, "redis_unavailable", "the roster store is not reachable");
    }
    free(id);
}

/* ---- roster import ---- */

/* The participant ids an import has seen: open addressing over 64-bit
 * hashes (two different ids alike in all 64 bits are not to be met in a
 * county's roster), with the line each was first on. */
typedef struct id_seen {
    uint64_t hash;                /* 0: an empty slot */
    size_t line;
} id_seen;

typedef struct import_job {
    gw_admin *a;
    gw_http_req *req;
    gw_roster *parser;
    const char *body;
    size_t len, off;
    size_t inflight;
    int finished;           /* the whole body was fed */
    int redis_failed;
    int answered;
    char parse_error[160];
    size_t imported, updated, unchanged, nrejected;
    json_t *rejected;
    id_seen *seen;                /* NULL until the first row */
    size_t nseen, cap;            /* cap a power of two; grows past half full */
} import_job;

static uint64_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;         /* FNV-1a, then mixed (splitmix64) */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h != 0 ? h : 1;
}

/* Remembers ID, first seen on LINE: 0, or the line it was on before, or
 * (size_t)-1 when memory is short (the row is then imported unchecked). */
static size_t id_first_line(import_job *job, const char *id, size_t line)
{
    if (job->nseen + 1 > job->cap / 2) {
        size_t cap = job->cap != 0 ? job->cap * 2 : 4096;
        id_seen *t = calloc(cap, sizeof *t);
        if (t == NULL)
            return (size_t)-1;
        for (size_t i = 0; i < job->cap; i++) {
            if (job->seen[i].hash == 0)
                continue;
            size_t k = (size_t)job->seen[i].hash & (cap - 1);
            while (t[k].hash != 0)
                k = (k + 1) & (cap - 1);
            t[k] = job->seen[i];
        }
        free(job->seen);
        job->seen = t;
        job->cap = cap;
    }
    uint64_t h = id_hash(id);
    size_t k = (size_t)h & (job->cap - 1);
    while (job->seen[k].hash != 0) {
        if (job->seen[k].hash == h)
            return job->seen[k].line;
        k = (k + 1) & (job->cap - 1);
    }
    job->seen[k].hash = h;
    job->seen[k].line = line;
    job->nseen++;
    return 0;
}

static void import_pump(import_job *job);

static void import_answer(import_job *job)
{
    if (job->answered || job->inflight > 0 || !job->finished)
        return;
    job->answered = 1;
    gw_metrics_import("imported", job->imported);
    gw_metrics_import("updated", job->updated);
    gw_metrics_import("unchanged", job->unchanged);
    gw_metrics_import("rejected", job->nrejected);
    json_t *res = json_pack("{s:I, s:I, s:I, s:O, s:I}", "imported", (json_int_t)job->imported,
                            "updated", (json_int_t)job->updated, "unchanged",
                            (json_int_t)job->unchanged, "rejected", job->rejected,
                            "rejected_count", (json_int_t)job->nrejected);
    if (job->nrejected > MAX_REJECTED_LISTED)
        json_object_set_new(res, "rejected_truncated", json_true());
    if (job->redis_failed) {
        json_object_set_new(res, "error", json_string("redis_unavailable"));
        json_object_set_new(res, "message", json_string(
            "Redis became unreachable during the import; rows counted above were written, "
            "the rest were not. Import the same file again: it is idempotent."));
        gw_http_reply_json(job->req, 503, res);
    } else if (job->parse_error[0] != '\0') {
        json_object_set_new(res, "error", json_string("bad_csv"));
        json_object_set_new(res, "message", json_string(job->parse_error));
        gw_http_reply_json(job->req, 400, res);
    } else {
        gw_http_reply_json(job->req, 200, res);
    }
    gw_info("admin", "roster import: %zu imported, %zu updated, %zu unchanged, %zu rejected",
            job->imported, job->updated, job->unchanged, job->nrejected);
    gw_roster_free(job->parser);
    json_decref(job->rejected);
    free(job->seen);
    free(job);
}

static void on_upserted(int result, void *arg)
{
    import_job *job = arg;
    job->inflight--;
    switch (result) {
    case 1: job->imported++; break;
    case 2: job->updated++; break;
    case 0: job->unchanged++; break;
    default: job->redis_failed = 1; break;
    }
    if (!job->finished && job->inflight < IMPORT_LOW)
        import_pump(job);
    else
        import_answer(job);
}

static void on_reject(size_t line, const char *reason, void *arg);

static int on_row(const gw_participant *p, size_t line, void *arg)
{
    import_job *job = arg;
    size_t first = id_first_line(job, p->id, line);
    if (first != 0 && first != (size_t)-1) {
        char why[GW_PID_MAX + 160];
        snprintf(why, sizeof why, "participant_id %s is given twice: the row on line %zu was "
                 "imported, this one was not (say which is right and import again)", p->id,
                 first);
        on_reject(line, why, job);
        return 0;
    }
    if (job->redis_failed || gw_store_upsert(job->a->redis, p, on_upserted, job) != 0) {
        job->redis_failed = 1;
        return 1;
    }
    job->inflight++;
    return 0;
}

static void on_reject(size_t line, const char *reason, void *arg)
{
    import_job *job = arg;
    job->nrejected++;
    if (job->nrejected <= MAX_REJECTED_LISTED)
        json_array_append_new(job->rejected,
                              json_pack("{s:I, s:s}", "line", (json_int_t)line, "reason", reason));
}

static void import_pump(import_job *job)
{
    while (!job->finished && job->inflight < IMPORT_HIGH) {
        if (job->off < job->len) {
            size_t n = job->len - job->off;
            if (n > IMPORT_CHUNK)
                n = IMPORT_CHUNK;
            if (gw_roster_feed(job->parser, job->body + job->off, n) != 0)
                goto stop;
            job->off += n;
        } else {
            if (gw_roster_finish(job->parser) != 0)
                goto stop;
            job->finished = 1;
        }
    }
    import_answer(job);
    return;
stop:
    if (!job->redis_failed)
        snprintf(job->parse_error, sizeof job->parse_error, "%s", gw_roster_error(job->parser));
    job->finished = 1;
    import_answer(job);
}

static void handle_import(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_auth(a, req))
        return;
    if (gw_http_method(req) != GW_HTTP_POST) {
        gw_http_error(req, 405, "method_not_allowed", "use POST with a text/csv body");
        return;
    }
    const char *ctype = gw_http_header(req, "Content-Type");
    if (ctype != NULL && strncmp(ctype, "text/csv", 8) != 0 &&
        strncmp(ctype, "text/plain", 10) != 0 &&
        strncmp(ctype, "application/octet-stream", 24) != 0) {
        gw_http_error(req, 415, "unsupported_media_type", "send the roster as text/csv");
        return;
    }
    if (!gw_redis_up(a->redis)) {
        gw_http_error(req, 503, "redis_unavailable", "the roster store is not reachable");
        return;
    }
    size_t len;
    const char *body = gw_http_body(req, &len);
    if (len == 0) {
        gw_http_error(req, 400, "empty", "the roster is empty: send the CSV with its header row");
        return;
    }
    import_job *job = calloc(1, sizeof *job);
    if (job == NULL || (job->rejected = json_array()) == NULL ||
        (job->parser = gw_roster_new(on_row, on_reject, job)) == NULL) {
        if (job != NULL)
            json_decref(job->rejected);
        free(job);
        gw_http_error(req, 503, "overloaded", "out of memory");
        return;
    }
    job->a = a;
    job->req = req;
    job->body = body;
    job->len = len;
    import_pump(job);
}

static void handle_v1_unknown(gw_http_req *req, void *arg)
{
    if (gw_admin_require_auth(arg, req))
        gw_http_error(req, 404, "not_found", "no such endpoint");
}

/* ---- set-up ---- */

gw_admin *gw_admin_new(struct event_base *base, const gw_config *cfg, gw_redis *redis)
{
    gw_admin *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->base = base;
    a->cfg = cfg;
    a->redis = redis;
    return a;
}

int gw_admin_register(gw_admin *a, gw_http *admin)
{
    if (gw_http_route(admin, "/healthz", handle_healthz, a) != 0 ||
        gw_http_route(admin, "/readyz", handle_readyz, a) != 0 ||
        gw_http_route(admin, "/metrics", handle_metrics, a) != 0 ||
        gw_http_route(admin, "/", handle_status_page, a) != 0 ||
        gw_http_route(admin, "/v1/participants/import", handle_import, a) != 0 ||
        gw_http_route(admin, "/v1/participants/", handle_participant, a) != 0 ||
        gw_admin_messages_register(a, admin) != 0 ||
        gw_admin_inbound_register(a, admin) != 0 ||
        gw_admin_incidents_register(a, admin) != 0 ||
        gw_admin_campaigns_register(a, admin) != 0 ||
        gw_http_route(admin, "/v1/", handle_v1_unknown, a) != 0)
        return -1;
    return 0;
}

void gw_admin_set_outbound(gw_admin *a, struct q *q, struct prov_registry *reg,
                           struct gw_sender *sender, struct tpl_set **tpl)
{
    a->q = q;
    a->reg = reg;
    a->sender = sender;
    a->tpl = tpl;
}

int gw_admin_send_at(gw_http_req *req, const json_t *jat, int64_t *ms)
{
    if (jat == NULL)
        return 1;
    int64_t at;
    if (!json_is_string(jat) || gw_rfc3339_parse(json_string_value(jat), &at) != 0) {
        gw_http_error(req, 400, "bad_send_at", "\"send_at\" must be an RFC 3339 time with "
                      "its offset, e.g. 2026-12-01T09:00:00+08:00");
        return 0;
    }
    if (at < gw_clock_now_ms() - 86400000LL) {
        gw_http_error(req, 400, "bad_send_at", "\"send_at\" is more than a day ago: check "
                      "the date, or leave send_at out to send at once");
        return 0;
    }
    *ms = at;
    return 1;
}

void gw_admin_time(long long ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    char buf[64];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);  /* ...+0800 */
    if (n < 5 || n + 2 > cap) {
        if (cap > 0)
            out[0] = '\0';
        return;
    }
    memcpy(out, buf, n - 2);                  /* RFC 3339 wants +08:00 */
    out[n - 2] = ':';
    memcpy(out + n - 1, buf + n - 2, 2);
    out[n + 1] = '\0';
}

int gw_admin_fields_known(gw_http_req *req, json_t *root, const char *const *known, size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        size_t i = 0;
        while (i < n && strcmp(known[i], k) != 0)
            i++;
        if (i == n) {
            char err[96];
            snprintf(err, sizeof err, "unknown field \"%.40s\"", k);
            gw_http_error(req, 400, "bad_request", err);
            return 0;
        }
    }
    return 1;
}

void gw_admin_set_campaigns(gw_admin *a, struct gw_campaigns *campaigns)
{
    a->campaigns = campaigns;
}

void gw_admin_set_calendar(gw_admin *a, struct gw_calendar *const *calendar)
{
    a->calendar = calendar;
}

void gw_admin_set_incidents(gw_admin *a, struct gw_incidents *incidents)
{
    a->incidents = incidents;
}

void gw_admin_free(gw_admin *a)
{
    free(a);
}
