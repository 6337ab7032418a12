/* gw_admin_messages.c - one-off sends and the queue, for staff and scripts.
 *
 *   POST /v1/messages        {"to": PHONE | [PHONE, ...], "text": TEXT |
 *                             "template": NAME, "vars": {...}, "language": "zh"|"en",
 *                             "lane": "reply"|"bulk", "send_at": RFC3339}
 *                            -> 202 {"id", "count", "last_id", "segments", "encoding", "lane"}
 *   GET  /v1/messages/{id}   -> {"id", "status", "provider", "carrier_id", "attempts",
 *                                "updated_at", "reason"}
 *   GET  /v1/queue           -> the queue's numbers and the carrier accounts
 *
 * Every recipient is normalised to E.164 and the text prepared (signature,
 * look-alike punctuation, encoding, segments) before anything is queued;
 * any bad part refuses the whole request with a 4xx that names it, and
 * nothing is queued. A list of recipients shares one stored text: their
 * ids are consecutive, "id" .. "last_id". One recipient goes to the reply
 * lane (a staff member waiting on it) unless told otherwise; a list goes
 * to the bulk lane. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gw_admin_internal.h"
#include "gw_clock.h"
#include "gw_format.h"
#include "gw_log.h"
#include "gw_phone.h"
#include "gw_sender.h"
#include "gw_window.h"
#include "prov.h"
#include "q.h"
#include "tpl.h"

#define MAX_VARS 16
#define PHONE_LEN 24

typedef struct send_req {
    gw_admin *a;
    gw_http_req *req;
    char (*phones)[PHONE_LEN];
    size_t n;
    q_lane lane;
    int segments;
    int ucs2;
    int64_t goes_ms;              /* bulk due outside the send window: its next opening */
} send_req;

static void send_req_free(send_req *s)
{
    free(s->phones);
    free(s);
}

static void on_enqueued(q *q, int64_t first_id, const char *body_id, const char *err,
                        void *arg)
{
    (void)q;
    (void)body_id;
    send_req *s = arg;
    if (err != NULL) {
        gw_error("admin", "queueing %zu messages failed: %s", s->n, err);
        gw_http_error(s->req, 503, "queue_unavailable", "the queue could not take the message");
        send_req_free(s);
        return;
    }
    char id[24], last[24];
    snprintf(id, sizeof id, "%" PRId64, first_id);
    snprintf(last, sizeof last, "%" PRId64, first_id + (int64_t)s->n - 1);
    json_t *o = json_pack("{s:s, s:I, s:s, s:i, s:s, s:s}", "id", id, "count", (json_int_t)s->n,
                          "last_id", last, "segments", s->segments, "encoding",
                          s->ucs2 ? "ucs2" : "gsm7", "lane", q_lane_name(s->lane));
    if (o != NULL && s->goes_ms > 0) {
        char at[40];
        gw_admin_time(s->goes_ms, at, sizeof at);
        json_object_set_new(o, "goes_at", json_string(at));
    }
    gw_http_reply_json(s->req, 202, o);
    if (s->a->sender != NULL)
        gw_sender_poke(s->a->sender);
    send_req_free(s);
}

/* 1 when NAME is one of the space-separated placeholder names in ALLOWED. */
static int has_placeholder(const char *allowed, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = allowed; n > 0 && *p != '\0';) {
        size_t len = strcspn(p, " ");
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
        p += len;
        while (*p == ' ')
            p++;
    }
    return 0;
}

/* Renders template NAME ("unpaid_reminder" -> text key "sms.unpaid_reminder")
 * in LANG with VARS (an object of strings or numbers). Returns a malloc'd
 * text, or NULL with a reason in ERR. */
static char *render_template(gw_admin *a, const char *name, const char *lang, json_t *vars,
                             char *err, size_t errlen)
{
    char key[96];
    const char *allowed;
    if (strlen(name) + 5 >= sizeof key || strchr(name, '.') != NULL) {
        snprintf(err, errlen, "no template named \"%.40s\"", name);
        return NULL;
    }
    snprintf(key, sizeof key, "sms.%s", name);
    if ((allowed = tpl_key_vars(key)) == NULL) {
        snprintf(err, errlen, "no template named \"%.40s\"", name);
        return NULL;
    }
    if (vars != NULL && !json_is_object(vars)) {
        snprintf(err, errlen, "vars must be an object of strings");
        return NULL;
    }
    tpl_var tv[MAX_VARS];
    char numbuf[MAX_VARS][32];
    size_t nv = 0;
    const char *k;
    json_t *v;
    json_object_foreach(vars, k, v) {
        if (!has_placeholder(allowed, k)) {
            snprintf(err, errlen, "template %.40s has no placeholder {%.40s} (it has: %s)",
                     name, k, allowed[0] ? allowed : "none");
            return NULL;
        }
        if (nv == MAX_VARS) {
            snprintf(err, errlen, "too many vars");
            return NULL;
        }
        if (json_is_string(v)) {
            tv[nv].value = json_string_value(v);
        } else if (json_is_integer(v)) {
            snprintf(numbuf[nv], sizeof numbuf[nv], "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
            tv[nv].value = numbuf[nv];
        } else {
            snprintf(err, errlen, "vars.%.40s must be a string or a whole number", k);
            return NULL;
        }
        tv[nv].name = k;
        nv++;
    }
    /* Every placeholder of the template must be given. */
    const char *p = allowed;
    while (*p != '\0') {
        const char *e = strchr(p, ' ');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        if (len > 0 && (vars == NULL || json_object_getn(vars, p, len) == NULL)) {
            snprintf(err, errlen, "template %.40s needs vars.%.*s", name, (int)len, p);
            return NULL;
        }
        p += len;
        while (*p == ' ')
            p++;
    }
    char *text = tpl_render(*a->tpl, lang, key, tv, nv);
    if (text == NULL)
        snprintf(err, errlen, "out of memory");
    return text;
}

static void handle_send(gw_admin *a, gw_http_req *req)
{
    size_t len;
    const char *body = gw_http_body(req, &len);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    char err[256], reason[64];
    char *text = NULL, *prepared = NULL;
    send_req *s = NULL;
    if (root == NULL || !json_is_object(root)) {
        snprintf(err, sizeof err, "the body must be a JSON object%s%s",
                 root == NULL ? ": " : "", root == NULL ? jerr.text : "");
        gw_http_error(req, 400, "bad_json", err);
        goto out;
    }
    const char *known[] = {"to", "text", "template", "vars", "language", "lane", "send_at"};
    if (!gw_admin_fields_known(req, root, known, sizeof known / sizeof known[0]))
        goto out;
    json_t *to = json_object_get(root, "to");
    size_t n = json_is_string(to) ? 1 : json_is_array(to) ? json_array_size(to) : 0;
    if (n == 0 || n > Q_BATCH_MAX) {
        snprintf(err, sizeof err, "\"to\" must be a phone number or a list of 1 to %d of them",
                 Q_BATCH_MAX);
        gw_http_error(req, 400, "bad_to", err);
        goto out;
    }
    const char *lang = "zh";
    json_t *jl = json_object_get(root, "language");
    if (jl != NULL) {
        lang = json_string_value(jl);
        if (lang == NULL || (strcmp(lang, "zh") != 0 && strcmp(lang, "en") != 0)) {
            gw_http_error(req, 400, "bad_language", "\"language\" must be \"zh\" or \"en\"");
            goto out;
        }
    }
    int lane = json_is_array(to) ? Q_BULK : Q_REPLY;
    json_t *jlane = json_object_get(root, "lane");
    if (jlane != NULL && (lane = q_lane_parse(json_string_value(jlane))) < 0) {
        gw_http_error(req, 400, "bad_lane", "\"lane\" must be \"reply\" or \"bulk\"");
        goto out;
    }
    int64_t due = 0;
    json_t *jat = json_object_get(root, "send_at");
    if (!gw_admin_send_at(req, jat, &due))
        goto out;
    json_t *jtext = json_object_get(root, "text"), *jtpl = json_object_get(root, "template");
    if ((jtext == NULL) == (jtpl == NULL)) {
        gw_http_error(req, 400, "bad_request", "give either \"text\" or \"template\"");
        goto out;
    }
    if (jtext != NULL) {
        const char *t = json_string_value(jtext);
        if (t == NULL || json_string_length(jtext) == 0 || strlen(t) != json_string_length(jtext)) {
            gw_http_error(req, 400, "bad_text", "\"text\" must be a non-empty string");
            goto out;
        }
        text = strdup(t);
    } else {
        const char *name = json_string_value(jtpl);
        if (name == NULL) {
            gw_http_error(req, 400, "bad_template", "\"template\" must be a template name");
            goto out;
        }
        text = render_template(a, name, lang, json_object_get(root, "vars"), err, sizeof err);
        if (text == NULL) {
            gw_http_error(req, 400, "bad_template", err);
            goto out;
        }
    }
    if (text == NULL) {
        gw_http_error(req, 503, "overloaded", "out of memory");
        goto out;
    }
    tpl_sms info;
    prepared = tpl_sms_prepare(a->cfg->sms_signature, text, strlen(text), &info);
    if (prepared == NULL) {
        gw_http_error(req, 400, "bad_text", "the text is not valid UTF-8");
        goto out;
    }
    if (info.segments > a->cfg->sms_max_segments) {
        snprintf(err, sizeof err,
                 "the message takes %d segments (%zu %s with the signature); "
                 "at most %d are allowed ([sms] max_segments)",
                 info.segments, info.units, info.ucs2 ? "UCS-2 characters" : "GSM-7 characters",
                 a->cfg->sms_max_segments);
        gw_http_error(req, 400, "too_long", err);
        goto out;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL || (s->phones = calloc(n, sizeof *s->phones)) == NULL) {
        gw_http_error(req, 503, "overloaded", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *ph = json_is_string(to) ? json_string_value(to)
                                            : json_string_value(json_array_get(to, i));
        if (ph == NULL || gw_phone_normalize(ph, s->phones[i], PHONE_LEN, reason,
                                             sizeof reason) != 0) {
            if (json_is_string(to))
                snprintf(err, sizeof err, "\"to\": %s", ph == NULL ? "not a string" : reason);
            else
                snprintf(err, sizeof err, "\"to\"[%zu]: %s", i,
                         ph == NULL ? "not a string" : reason);
            gw_http_error(req, 400, "bad_phone", err);
            goto out;
        }
    }
    if (a->q == NULL || !gw_redis_up(a->redis)) {
        gw_http_error(req, 503, "queue_unavailable", "the queue (Redis) is not reachable");
        goto out;
    }
    const char **ptrs = malloc(n * sizeof *ptrs);
    if (ptrs == NULL) {
        gw_http_error(req, 503, "overloaded", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ptrs[i] = s->phones[i];
    s->a = a;
    s->req = req;
    s->n = n;
    s->lane = (q_lane)lane;
    s->segments = info.segments;
    s->ucs2 = info.ucs2;
    /* Bulk waits for [reminders] send_window (q_claim.lua); the answer says when. */
    int64_t at = due > gw_clock_now_ms() ? due : gw_clock_now_ms();
    int64_t opening = gw_window_next(at, a->cfg->send_window_start_min,
                                     a->cfg->send_window_end_min);
    if (lane == Q_BULK && opening > at)
        s->goes_ms = opening;
    q_batch b;
    memset(&b, 0, sizeof b);
    b.lane = (q_lane)lane;
    b.due_ms = due;
    b.text = prepared;
    b.text_len = strlen(prepared);
    b.ucs2 = info.ucs2;
    b.segments = info.segments;
    b.phones = ptrs;
    b.n = n;
    b.track = n == 1;
    int rc = q_enqueue(a->q, &b, on_enqueued, s);
    free(ptrs);
    if (rc != 0) {
        gw_http_error(req, 503, "queue_unavailable", "the queue (Redis) is not reachable");
        goto out;
    }
    s = NULL;   /* owned by on_enqueued now */
out:
    if (s != NULL)
        send_req_free(s);
    free(text);
    free(prepared);
    json_decref(root);
}

/* ---- status of one message ---- */

typedef struct status_req {
    gw_http_req *req;
} status_req;

/* Splits "STATE|PROVIDER|CARRIER_ID|ATTEMPT|MS[|REASON]" into F (6 slots). */
static void split_status(char *rec, char *f[6])
{
    for (int i = 0; i < 6; i++)
        f[i] = "";
    for (int i = 0; i < 6 && rec != NULL; i++) {
        f[i] = rec;
        char *bar = i < 5 ? strchr(rec, '|') : NULL;
        if (bar == NULL)
            break;
        *bar = '\0';
        rec = bar + 1;
    }
}

static void on_status(q *q, int64_t id, const char *record, int64_t last_id, int ok, void *arg)
{
    (void)q;
    gw_http_req *req = arg;
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    if (!ok) {
        gw_http_error(req, 503, "queue_unavailable", "the queue (Redis) is not reachable");
        return;
    }
    if (record == NULL) {
        if (id < 1 || id > last_id) {
            gw_http_error(req, 404, "not_found", "no message with this id");
            return;
        }
        /* Messages of a list have no record until they are sent; records
         * expire a week after the last change. */
        gw_http_reply_json(req, 200, json_pack("{s:s, s:s}", "id", ids, "status", "queued"));
        return;
    }
    char *copy = strdup(record);
    if (copy == NULL) {
        gw_http_error(req, 503, "overloaded", "out of memory");
        return;
    }
    char *f[6];
    split_status(copy, f);
    json_t *o = json_pack("{s:s, s:s}", "id", ids, "status", f[0]);
    if (f[1][0] != '\0')
        json_object_set_new(o, "provider", json_string(f[1]));
    if (f[2][0] != '\0')
        json_object_set_new(o, "carrier_id", json_string(f[2]));
    json_object_set_new(o, "attempts", json_integer(strtol(f[3], NULL, 10)));
    long long ms = strtoll(f[4], NULL, 10);
    if (ms > 0) {
        char when[40];
        gw_admin_time(ms, when, sizeof when);
        json_object_set_new(o, "updated_at", json_string(when));
    }
    if (f[5][0] != '\0')
        json_object_set_new(o, "reason", json_string(f[5]));
    free(copy);
    gw_http_reply_json(req, 200, o);
}

static void handle_message(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_auth(a, req))
        return;
    const char *id = gw_http_path(req) + strlen("/v1/messages/");
    char *end;
    long long v = strtoll(id, &end, 10);
    if (gw_http_method(req) != GW_HTTP_GET) {
        gw_http_error(req, 405, "method_not_allowed", "use GET");
        return;
    }
    if (*id == '\0' || *end != '\0' || v < 1 || id[0] == '+' || id[0] == '-') {
        gw_http_error(req, 404, "not_found", "message ids are positive numbers");
        return;
    }
    if (a->q == NULL || q_status(a->q, (int64_t)v, on_status, req) != 0)
        gw_http_error(req, 503, "queue_unavailable", "the queue (Redis) is not reachable");
}

static void handle_messages(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_post(a, req))
        return;
    handle_send(a, req);
}

/* ---- the queue ---- */

static void handle_queue(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_auth(a, req))
        return;
    if (gw_http_method(req) != GW_HTTP_GET) {
        gw_http_error(req, 405, "method_not_allowed", "use GET");
        return;
    }
    if (a->q == NULL) {
        gw_http_error(req, 503, "queue_unavailable", "no queue");
        return;
    }
    const q_stats *st = q_stats_get(a->q);
    json_t *lanes = json_object();
    for (int l = 0; l < 2; l++) {
        int64_t sched = st->total[l] - st->ready[l];
        json_object_set_new(lanes, q_lane_name((q_lane)l),
            json_pack("{s:I, s:I, s:f}", "scheduled", (json_int_t)(sched > 0 ? sched : 0),
                      "ready", (json_int_t)st->ready[l], "oldest_seconds",
                      st->oldest_ms[l] > 0 ? (double)st->oldest_ms[l] / 1000.0 : 0.0));
    }
    json_t *provs = json_array();
    int64_t now = gw_clock_now_ms();
    for (size_t i = 0; a->reg != NULL && i < prov_registry_count(a->reg); i++) {
        const gw_provider_conf *c = prov_registry_conf(a->reg, i);
        json_array_append_new(provs, json_pack("{s:s, s:s, s:i, s:i, s:b}", "name", c->name,
                                               "type", c->type, "priority", c->priority,
                                               "max_tps", c->max_tps, "circuit_open",
                                               prov_registry_broken(a->reg, i, now)));
    }
    json_t *o = json_pack("{s:o, s:I, s:I, s:I, s:I, s:b, s:o}", "lanes", lanes, "in_flight",
                          (json_int_t)st->in_flight, "dead", (json_int_t)st->dead, "consumers",
                          (json_int_t)st->consumers, "recovered", (json_int_t)st->recovered,
                          "fresh", st->valid, "providers", provs);
    gw_http_reply_json(req, 200, o);
}

int gw_admin_messages_register(gw_admin *a, gw_http *admin)
{
    if (gw_http_route(admin, "/v1/messages", handle_messages, a) != 0 ||
        gw_http_route(admin, "/v1/messages/", handle_message, a) != 0 ||
        gw_http_route(admin, "/v1/queue", handle_queue, a) != 0)
        return -1;
    return 0;
}
