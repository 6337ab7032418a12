/* gw_admin_campaigns.c - coordinators' campaigns.
 *
 *   POST /v1/campaigns {"kind": "unpaid_contribution"|"claim_report"|"policy_notice",
 *                       "filter": {"township", "village"} | {"participant_ids": [...]} | {},
 *                       "text" | "template", "send_at" (RFC 3339), "dry_run"}
 *        (a village alone is the one of that name; the answers then give its
 *        "township". A place nobody of the roster lives in is 422
 *        unknown_place, a village alone found in several townships 400
 *        ambiguous_village, both with the names to choose from: "townships"
 *        or "villages".)
 *        dry run -> 200 {"recipients", "skipped": {"paid", "opted_out", "no_phone",
 *                        "duplicate", "past_due" (unpaid: its due date has passed)},
 *                        "segments_per_message", "segments_total",
 *                        "send_at", "unknown_ids", "sample": the first
 *                        recipient's message as it will go, signature and all;
 *                        with "list": true also "recipients_list": [{"participant_id",
 *                        "name", "phone"}] (the first GW_CAMPAIGN_LIST_MAX) and
 *                        "recipients_list_complete"}
 *        start   -> 202 {"id", "state", the same counts, "held"}
 *   GET  /v1/campaigns/{id} -> {"id", "kind", "state", "send_at", "recipients",
 *                               "counts": {"queued", "sent", "delivered", "failed",
 *                               "skipped"}, "skipped_at_start": {...}, "segments_total",
 *                               "held", "skipped_why": {REASON: n} (paid, opted_out,
 *                               cancelled, duplicate, ... as q_claim.lua says)}
 *   POST /v1/campaigns/{id}/cancel -> the same, state "cancelled"
 *
 * Each message of a campaign is in exactly one count: queued (waiting or
 * being retried), sent (accepted by the carrier, no report yet), delivered,
 * failed, skipped (not sent: checked at send time, or cancelled). "held":
 * duplicates queued in case the campaign they duplicate is cancelled
 * (camp_push.lua), in no count until one goes. A state "running" with
 * nothing queued or held reads "done". The walk over the roster and the
 * checks are gw_campaign's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gw_admin_internal.h"
#include "gw_campaign.h"
#include "gw_clock.h"
#include "gw_format.h"
#include "gw_log.h"
#include "gw_participant.h"
#include "gw_roster.h"
#include "tpl.h"

/* The furthest ahead a campaign may be scheduled. */
#define SEND_AT_MAX_DAYS 366

static const char *kind_name(char k)
{
    return k == 'u' ? "unpaid_contribution" : k == 'c' ? "claim_report" : "policy_notice";
}

typedef struct camp_req {
    gw_http_req *req;
    char township[GW_PLACE_MAX], village[GW_PLACE_MAX];   /* as asked, to name */
    char kind;
    int dry;
    int list;                     /* a dry run listing its recipients */
    int max_segments;             /* [sms] max_segments */
} camp_req;

/* A and B ("" for none) as one warning, "A; B". */
static json_t *warning_of(const char *a, const char *b)
{
    if (b[0] == '\0')
        return json_string(a);
    size_t n = strlen(a) + strlen(b) + 3;
    char *s = malloc(n);
    if (s == NULL)
        return json_string(a);
    memcpy(s, a, strlen(a));
    memcpy(s + strlen(a), "; ", 2);
    memcpy(s + strlen(a) + 2, b, strlen(b) + 1);
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* 422 unknown_place (no one of the roster lives there) or 400
 * ambiguous_village (a village given alone, found in several townships),
 * with the names to choose from, in the message and as a list. */
static void place_refused(const camp_req *c, const gw_campaign_result *r)
{
    int amb = r->place_error == 3;
    const char *list = r->place_error == 2 ? "villages" : "townships";
    char msg[4096];                  /* room for every name: never cut inside one */
    size_t n;
    switch (r->place_error) {
    case 1:
        n = (size_t)snprintf(msg, sizeof msg, "no participant of the roster lives in township "
                             "\"%s\"; its townships:", c->township);
        break;
    case 2:
        n = (size_t)snprintf(msg, sizeof msg, "no participant of the roster lives in village "
                             "\"%s\" of %s; its villages:", c->village, c->township);
        break;
    case 3:
        n = (size_t)snprintf(msg, sizeof msg, "there is a village \"%s\" in several "
                             "townships: give the \"township\" too, one of", c->village);
        break;
    default:
        n = (size_t)snprintf(msg, sizeof msg, "no participant of the roster lives in a village "
                             "\"%s\"; the roster's townships:", c->village);
        break;
    }
    json_t *names = json_array();
    for (int i = 0; i < r->n_place_names && n < sizeof msg; i++) {
        json_array_append_new(names, json_string(r->place_names[i]));
        n += (size_t)snprintf(msg + n, sizeof msg - n, "%s %s", i > 0 ? "," : "",
                              r->place_names[i]);
    }
    if (r->n_place_names == 0 && n < sizeof msg)
        snprintf(msg + n, sizeof msg - n, " none (import the roster first)");
    else if (r->n_place_names == GW_CAMPAIGN_PLACE_NAMES && n < sizeof msg)
        snprintf(msg + n, sizeof msg - n, ", ...");
    gw_http_reply_json(c->req, amb ? 400 : 422,
                       json_pack("{s:s, s:s, s:o}", "error",
                                 amb ? "ambiguous_village" : "unknown_place", "message", msg,
                                 list, names));
}

/* "recipients_list": [{"participant_id", "name", "phone"}, ...] from R's
 * list, and "recipients_list_complete" (false: only the first
 * GW_CAMPAIGN_LIST_MAX of them, or fewer when memory ran short). */
static void add_list(json_t *o, const gw_campaign_result *r)
{
    json_t *list = json_array();
    if (list == NULL)
        return;
    for (size_t i = 0; i < r->listed; i++)
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "participant_id",
                                              r->list[i].id, "name", r->list[i].name, "phone",
                                              r->list[i].phone));
    json_object_set_new(o, "recipients_list", list);
    json_object_set_new(o, "recipients_list_complete",
                        json_boolean(!r->list_short && (int64_t)r->listed >= r->recipients));
}

static void on_campaign(const gw_campaign_result *r, void *arg)
{
    camp_req *c = arg;
    if (r->place_error != 0) {
        place_refused(c, r);
        free(c);
        return;
    }
    if (r->error != NULL && r->id[0] == '\0') {
        gw_http_error(c->req, 503, r->upgrading ? "indexes_upgrading" : "redis_unavailable",
                      r->error);
        free(c);
        return;
    }
    char at[40];
    gw_admin_time(r->send_at_ms, at, sizeof at);
    json_t *o = json_pack("{s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:i, s:I, s:s, s:I, s:s}",
                          "recipients", (json_int_t)r->recipients, "skipped", "paid",
                          (json_int_t)r->paid, "opted_out", (json_int_t)r->opted_out, "no_phone",
                          (json_int_t)r->no_phone, "duplicate", (json_int_t)r->duplicate,
                          "past_due", (json_int_t)r->past_due,
                          "segments_per_message", r->segments_per_message, "segments_total",
                          (json_int_t)r->segments_total, "send_at", at, "unknown_ids",
                          (json_int_t)r->unknown, "kind", kind_name(c->kind));
    json_t *named = json_array();      /* the first ten of them, to be corrected */
    for (int i = 0; named != NULL && i < r->n_unknown_ids; i++)
        json_array_append_new(named, json_string(r->unknown_ids[i]));
    if (o != NULL && named != NULL && r->unknown > 0)
        json_object_set(o, "unknown_ids_first", named);
    json_decref(named);
    if (o != NULL && r->township[0] != '\0')  /* a village given alone: its township */
        json_object_set_new(o, "township", json_string(r->township));
    if (o != NULL && c->dry && r->sample != NULL && r->recipients > 0)
        json_object_set_new(o, "sample", json_string(r->sample));
    if (o != NULL && c->dry && c->list)
        add_list(o, r);
    /* A template's text grows with each person's name; a long one goes whole. */
    char w[512] = "";
    if (r->segments_per_message > c->max_segments)
        snprintf(w, sizeof w, "some texts take %d SMS parts, more than [sms] max_segments (%d), "
                 "for long names: they are sent whole, and cost what segments_total says",
                 r->segments_per_message, c->max_segments);
    if (o != NULL && !c->dry) {
        json_object_set_new(o, "id", json_string(r->id));
        json_object_set_new(o, "state", json_string(r->cancelled ? "cancelled" : "running"));
        json_object_set_new(o, "held", json_integer((json_int_t)r->held));
        if (r->error != NULL)         /* the fan-out stopped short: said first */
            json_object_set_new(o, "warning", warning_of(r->error, w));
        gw_info("campaign", "campaign %s (%s) started: %" PRId64 " recipients, %" PRId64
                " segments, at %s", r->id, kind_name(c->kind), r->recipients,
                r->segments_total, at);
    }
    if (o != NULL && w[0] != '\0' && json_object_get(o, "warning") == NULL)
        json_object_set_new(o, "warning", json_string(w));
    gw_http_reply_json(c->req, c->dry ? 200 : 202, o);
    free(c);
}

static void handle_create(gw_admin *a, gw_http_req *req)
{
    size_t len;
    const char *body = gw_http_body(req, &len);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    char err[256];
    const char **ids = NULL;
    if (root == NULL || !json_is_object(root)) {
        snprintf(err, sizeof err, "the body must be a JSON object%s%s",
                 root == NULL ? ": " : "", root == NULL ? jerr.text : "");
        gw_http_error(req, 400, "bad_json", err);
        goto out;
    }
    const char *known[] = {"kind", "filter", "text", "template", "send_at", "dry_run", "list"};
    if (!gw_admin_fields_known(req, root, known, sizeof known / sizeof known[0]))
        goto out;
    gw_campaign_spec spec;
    memset(&spec, 0, sizeof spec);
    const char *kind = json_string_value(json_object_get(root, "kind"));
    if (kind == NULL || (strcmp(kind, "unpaid_contribution") != 0 &&
                         strcmp(kind, "claim_report") != 0 && strcmp(kind, "policy_notice") != 0)) {
        gw_http_error(req, 400, "bad_kind",
                      "\"kind\" must be unpaid_contribution, claim_report or policy_notice");
        goto out;
    }
    spec.kind = kind[0] == 'u' ? 'u' : kind[0] == 'c' ? 'c' : 'n';
    json_t *filter = json_object_get(root, "filter");
    if (filter != NULL && !json_is_object(filter)) {
        gw_http_error(req, 400, "bad_filter", "\"filter\" must be an object");
        goto out;
    }
    if (filter != NULL) {
        const char *k;
        json_t *v;
        json_object_foreach(filter, k, v) {
            if (strcmp(k, "township") != 0 && strcmp(k, "village") != 0 &&
                strcmp(k, "participant_ids") != 0) {
                snprintf(err, sizeof err, "unknown filter \"%.40s\" (township, village or "
                         "participant_ids)", k);
                gw_http_error(req, 400, "bad_filter", err);
                goto out;
            }
        }
        json_t *tw = json_object_get(filter, "township"), *vl = json_object_get(filter, "village");
        json_t *pids = json_object_get(filter, "participant_ids");
        if ((tw != NULL && (!json_is_string(tw) || json_string_length(tw) == 0 ||
                            json_string_length(tw) >= GW_PLACE_MAX)) ||
            (vl != NULL && (!json_is_string(vl) || json_string_length(vl) == 0 ||
                            json_string_length(vl) >= GW_PLACE_MAX))) {
            gw_http_error(req, 400, "bad_filter",
                          "\"township\" and \"village\" must be non-empty names");
            goto out;
        }
        if (pids != NULL && (tw != NULL || vl != NULL)) {
            gw_http_error(req, 400, "bad_filter",
                          "give either a place or \"participant_ids\", not both");
            goto out;
        }
        spec.township = json_string_value(tw);
        spec.village = json_string_value(vl);
        if (pids != NULL) {
            size_t n = json_is_array(pids) ? json_array_size(pids) : 0;
            if (n == 0 || n > GW_CAMPAIGN_IDS_MAX) {
                snprintf(err, sizeof err, "\"participant_ids\" must be a list of 1 to %d ids",
                         GW_CAMPAIGN_IDS_MAX);
                gw_http_error(req, 400, "bad_filter", err);
                goto out;
            }
            ids = calloc(n, sizeof *ids);
            if (ids == NULL) {
                gw_http_error(req, 503, "out_of_memory", "try again");
                goto out;
            }
            for (size_t i = 0; i < n; i++) {
                ids[i] = json_string_value(json_array_get(pids, i));
                if (ids[i] == NULL || !gw_participant_id_valid(ids[i], strlen(ids[i]))) {
                    snprintf(err, sizeof err, "participant_ids[%zu] is not a participant id", i);
                    gw_http_error(req, 400, "bad_filter", err);
                    goto out;
                }
            }
            spec.ids = ids;
            spec.nids = n;
        }
    }
    json_t *jt = json_object_get(root, "text"), *jk = json_object_get(root, "template");
    if (jt != NULL && jk != NULL) {
        gw_http_error(req, 400, "bad_request", "give \"text\" or \"template\", not both");
        goto out;
    }
    if (jt != NULL) {
        spec.text = json_string_value(jt);
        if (spec.text == NULL || spec.text[0] == '\0' ||
            !tpl_utf8_valid(spec.text, strlen(spec.text))) {
            gw_http_error(req, 400, "bad_text", "\"text\" must be a non-empty string");
            goto out;
        }
        tpl_sms info;
        char *ready = tpl_sms_prepare(a->cfg->sms_signature, spec.text, strlen(spec.text), &info);
        free(ready);
        if (ready == NULL || info.segments > a->cfg->sms_max_segments) {
            snprintf(err, sizeof err, "the text takes %d SMS parts with the signature; at most "
                     "%d are allowed ([sms] max_segments)", info.segments,
                     a->cfg->sms_max_segments);
            gw_http_error(req, 422, "text_too_long", err);
            goto out;
        }
    } else if (jk != NULL) {
        spec.template_key = json_string_value(jk);
        char full[96];
        snprintf(full, sizeof full, "sms.%s", spec.template_key != NULL ? spec.template_key : "");
        const char *vars = spec.template_key != NULL && strlen(spec.template_key) <= 60
                           ? tpl_key_vars(full) : NULL;
        if (vars == NULL) {
            gw_http_error(req, 400, "bad_template",
                          "\"template\" must name a text of the [sms] section "
                          "(e.g. unpaid_reminder)");
            goto out;
        }
        /* Every placeholder must be one this kind fills from the record:
         * a claim text for an unpaid reminder would go out with blanks. */
        const char *can = spec.kind == 'c' ? " name kind deadline reference hotline "
                                           : " name year due_amount due_date tier hotline ";
        char one[40];
        for (const char *v = vars; *v != '\0';) {
            size_t n = strcspn(v, " ");
            if (n > 0 && n < sizeof one - 2) {
                snprintf(one, sizeof one, " %.*s ", (int)n, v);
                if (strstr(can, one) == NULL) {
                    snprintf(err, sizeof err, "the template %s needs {%.*s}, which a%s %s "
                             "campaign cannot fill", spec.template_key, (int)n, v,
                             kind[0] != '\0' && strchr("aeiou", kind[0]) != NULL ? "n" : "",
                             kind);
                    gw_http_error(req, 400, "bad_template", err);
                    goto out;
                }
            }
            v += n;
            while (*v == ' ')
                v++;
        }
    } else if (spec.kind == 'n') {
        gw_http_error(req, 400, "bad_text", "a policy notice needs a \"text\" (or \"template\")");
        goto out;
    }
    json_t *jat = json_object_get(root, "send_at");
    if (!gw_admin_send_at(req, jat, &spec.send_at_ms))
        goto out;
    /* Each recipient stays marked pending (other campaigns skip them) until
     * their message goes: a send_at years ahead, a typing slip, would hold
     * back every later reminder to them. */
    if (jat != NULL && spec.send_at_ms > gw_clock_now_ms() + SEND_AT_MAX_DAYS * 86400000LL) {
        snprintf(err, sizeof err, "\"send_at\" is more than %d days ahead; a campaign is "
                 "scheduled at most that far (its recipients are held for it until then)",
                 SEND_AT_MAX_DAYS);
        gw_http_error(req, 400, "bad_send_at", err);
        goto out;
    }
    json_t *jd = json_object_get(root, "dry_run");
    if (jd != NULL && !json_is_boolean(jd)) {
        gw_http_error(req, 400, "bad_request", "\"dry_run\" must be true or false");
        goto out;
    }
    spec.dry_run = json_is_true(jd);
    json_t *jl = json_object_get(root, "list");
    if (jl != NULL && (!json_is_boolean(jl) || (json_is_true(jl) && !spec.dry_run))) {
        gw_http_error(req, 400, "bad_request",
                      "\"list\" is true or false, and lists the recipients of a dry run only");
        goto out;
    }
    spec.list = json_is_true(jl);
    if (a->campaigns == NULL) {
        gw_http_error(req, 503, "unavailable", "campaigns are not ready");
        goto out;
    }
    camp_req *c = calloc(1, sizeof *c);
    if (c == NULL) {
        gw_http_error(req, 503, "out_of_memory", "try again");
        goto out;
    }
    c->req = req;
    snprintf(c->township, sizeof c->township, "%s", spec.township != NULL ? spec.township : "");
    snprintf(c->village, sizeof c->village, "%s", spec.village != NULL ? spec.village : "");
    c->kind = spec.kind;
    c->dry = spec.dry_run;
    c->list = spec.list;
    c->max_segments = a->cfg->sms_max_segments;
    int rc = gw_campaign_run(a->campaigns, &spec, on_campaign, c);
    if (rc != 0) {
        free(c);
        if (rc == -2)
            gw_http_error(req, 503, "indexes_upgrading",
                          "the roster's indexes are being upgraded after an update of the "
                          "gateway; try again in a minute (nothing was done)");
        else
            gw_http_error(req, 503, "redis_unavailable",
                          "Redis is not reachable; nothing was done");
    }
out:
    free(ids);
    json_decref(root);
}

/* ---- one campaign ---- */

typedef struct one_req {
    gw_http_req *req;
} one_req;

static json_int_t field_int(const redisReply *r, const char *name)
{
    const char *v = gw_reply_field(r, name);
    return v != NULL ? (json_int_t)strtoll(v, NULL, 10) : 0;
}

static const char *field_str(const redisReply *r, const char *name)
{
    const char *v = gw_reply_field(r, name);
    return v != NULL ? v : "";
}

static void on_campaign_record(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    gw_http_req *req = arg;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        gw_http_error(req, 503, "redis_unavailable", "Redis did not answer");
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        gw_http_error(req, 404, "not_found", "no such campaign");
        return;
    }
    const char *state = field_str(reply, "state");
    json_int_t queued = field_int(reply, "queued");
    if (strcmp(state, "running") == 0 && queued <= 0 && field_int(reply, "held") <= 0)
        state = "done";
    const char *kind = field_str(reply, "kind");
    char at[40];
    gw_admin_time((int64_t)field_int(reply, "send_at_ms"), at, sizeof at);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I}, "
        "s:I}",
        "id", field_str(reply, "id"), "kind", kind_name(kind[0]), "state", state, "send_at", at,
        "recipients", field_int(reply, "recipients"), "counts", "queued", queued, "sent",
        field_int(reply, "sent"), "delivered", field_int(reply, "delivered"), "failed",
        field_int(reply, "failed"), "skipped", field_int(reply, "skipped"), "skipped_at_start",
        "paid", field_int(reply, "skipped_paid"),
        "opted_out", field_int(reply, "skipped_opted_out"),
        "no_phone", field_int(reply, "skipped_no_phone"), "duplicate",
        field_int(reply, "skipped_duplicate"), "past_due", field_int(reply, "skipped_past_due"),
        "segments_total", field_int(reply, "segments_total"));
    if (o != NULL)
        json_object_set_new(o, "held", json_integer(field_int(reply, "held")));
    /* why the skipped were skipped when due (q_claim.lua) or by a cancel */
    json_t *why = json_object();
    for (size_t i = 0; why != NULL && i + 1 < reply->elements; i += 2) {
        const redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strncmp(k->str, "skip_", 5) == 0 && strtoll(v->str, NULL, 10) > 0)
            json_object_set_new(why, k->str + 5, json_integer(strtoll(v->str, NULL, 10)));
    }
    if (o != NULL && why != NULL)
        json_object_set_new(o, "skipped_why", why);
    else
        json_decref(why);
    gw_http_reply_json(req, 200, o);
}

/* Cancelling: what is still queued will not be sent (q_claim.lua skips the
 * messages of a cancelled campaign when their time comes), so it counts as
 * skipped at once; a fan-out under way stops at its next chunk. A campaign
 * with nothing left to send is done, and stays so. */
static const char cancel_lua[] =
    "local st = redis.call('HGET', KEYS[1], 'state') "
    "if not st then return 0 end "
    "local q = tonumber(redis.call('HGET', KEYS[1], 'queued') or '0') "
    "local h = tonumber(redis.call('HGET', KEYS[1], 'held') or '0') "
    "if st == 'fanning_out' or (st == 'running' and (q > 0 or h > 0)) then "
    "  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'queued', 0, 'cancelled_ms', ARGV[1]) "
    "  redis.call('HINCRBY', KEYS[1], 'skipped', q) "
    "  redis.call('HINCRBY', KEYS[1], 'skip_cancelled', q) "
    "end "
    "return redis.call('HGETALL', KEYS[1])";

static void handle_campaign(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_auth(a, req))
        return;
    const char *rest = gw_http_path(req) + strlen("/v1/campaigns/");
    char id[24];
    size_t n = 0;
    while (rest[n] >= '0' && rest[n] <= '9' && n < sizeof id - 1)
        n++;
    memcpy(id, rest, n);
    id[n] = '\0';
    int cancel = strcmp(rest + n, "/cancel") == 0;
    if (n == 0 || id[0] == '0' || (rest[n] != '\0' && !cancel)) {
        gw_http_error(req, 404, "not_found", "campaign ids are positive numbers: "
                      "/v1/campaigns/ID or /v1/campaigns/ID/cancel");
        return;
    }
    if (cancel != (gw_http_method(req) == GW_HTTP_POST) ||
        (!cancel && gw_http_method(req) != GW_HTTP_GET)) {
        gw_http_error(req, 405, "method_not_allowed",
                      cancel ? "use POST to cancel" : "use GET");
        return;
    }
    char key[64], now[24];
    snprintf(key, sizeof key, "gw:{q}:camp:%s", id);
    int rc;
    if (cancel) {
        snprintf(now, sizeof now, "%" PRId64, gw_clock_now_ms());
        rc = gw_redis_command(a->redis, on_campaign_record, req, "EVAL %s 1 %s %s", cancel_lua,
                              key, now);
    } else {
        rc = gw_redis_command(a->redis, on_campaign_record, req, "HGETALL %s", key);
    }
    if (rc != 0)
        gw_http_error(req, 503, "redis_unavailable", "Redis is not reachable");
}

static void handle_campaigns(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_post(a, req))
        return;
    handle_create(a, req);
}

int gw_admin_campaigns_register(gw_admin *a, gw_http *admin)
{
    if (gw_http_route(admin, "/v1/campaigns", handle_campaigns, a) != 0 ||
        gw_http_route(admin, "/v1/campaigns/", handle_campaign, a) != 0)
        return -1;
    return 0;
}
