/* gw_admin_inbound.c - the opt-out list and the coordinators' inbox.
 *
 *   GET  /v1/optouts                 -> {"count", "optouts": [{"phone", "since", "channel"}]}
 *   POST /v1/optouts {"phone", "action": "add"|"remove"}
 *                                    -> {"phone", "opted_out"}
 *   GET  /v1/inbox[?limit=N]         -> {"messages": [...]} newest first (N <= 1000, default 50)
 *
 * The list and the inbox are kept by gw_inbound.c (gw:{q}:optout, gw:inbox);
 * staff changes go through the same gw_optout_set, recorded as channel
 * "admin". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gw_admin_internal.h"
#include "gw_inbound.h"
#include "gw_participant.h"
#include "gw_phone.h"

#define INBOX_DEFAULT 50
#define INBOX_LIMIT 1000

static void on_optout_list(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    gw_http_req *req = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        gw_http_error(req, 503, "redis_unavailable", "the opt-out list is not reachable");
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        char when[32] = "";
        gw_admin_time(strtoll(v->str, NULL, 10), when, sizeof when);
        const char *bar = strchr(v->str, '|');
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "phone", k->str, "since", when,
                                              "channel", bar != NULL ? bar + 1 : ""));
    }
    gw_http_reply_json(req, 200, json_pack("{s:I, s:o}", "count",
                                           (json_int_t)json_array_size(list), "optouts", list));
}

typedef struct optout_req {
    gw_http_req *req;
    char phone[GW_PHONE_MAX];
    int out;
} optout_req;

static void on_optout_set(int status, void *arg)
{
    optout_req *o = arg;
    if (status != 0)
        gw_http_error(o->req, 503, "redis_unavailable", "the opt-out list is not reachable");
    else
        gw_http_reply_json(o->req, 200, json_pack("{s:s, s:b}", "phone", o->phone, "opted_out",
                                                  o->out));
    free(o);
}

static void handle_optouts(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_auth(a, req))
        return;
    if (gw_http_method(req) == GW_HTTP_GET) {
        const char *argv[] = {"HGETALL", "gw:{q}:optout"};
        if (gw_redis_argv(a->redis, on_optout_list, req, 2, argv, NULL) != 0)
            gw_http_error(req, 503, "redis_unavailable", "the opt-out list is not reachable");
        return;
    }
    if (gw_http_method(req) != GW_HTTP_POST) {
        gw_http_error(req, 405, "method_not_allowed", "use GET, or POST {\"phone\", \"action\"}");
        return;
    }
    size_t len;
    const char *body = gw_http_body(req, &len);
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const char *phone = json_string_value(json_object_get(root, "phone"));
    const char *action = json_string_value(json_object_get(root, "action"));
    char why[96], msg[160];
    optout_req *o = calloc(1, sizeof *o);
    if (o == NULL) {
        gw_http_error(req, 503, "overloaded", "out of memory");
    } else if (!json_is_object(root) || phone == NULL || action == NULL ||
               (strcmp(action, "add") != 0 && strcmp(action, "remove") != 0)) {
        gw_http_error(req, 400, "bad_request",
                      "send {\"phone\": NUMBER, \"action\": \"add\" or \"remove\"}");
    } else if (gw_phone_normalize(phone, o->phone, sizeof o->phone, why, sizeof why) != 0) {
        snprintf(msg, sizeof msg, "\"phone\": %s", why);
        gw_http_error(req, 400, "bad_phone", msg);
    } else {
        o->req = req;
        o->out = strcmp(action, "add") == 0;
        if (gw_optout_set(a->redis, o->phone, o->out, "admin", on_optout_set, o) == 0)
            o = NULL;    /* owned by on_optout_set */
        else
            gw_http_error(req, 503, "redis_unavailable", "the opt-out list is not reachable");
    }
    free(o);
    json_decref(root);
}

static void on_inbox(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    gw_http_req *req = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        gw_http_error(req, 503, "redis_unavailable", "the inbox is not reachable");
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        json_t *m = e->type == REDIS_REPLY_STRING ? json_loadb(e->str, e->len, 0, NULL) : NULL;
        if (m != NULL)
            json_array_append_new(list, m);
    }
    gw_http_reply_json(req, 200, json_pack("{s:o}", "messages", list));
}

static void handle_inbox(gw_http_req *req, void *arg)
{
    gw_admin *a = arg;
    if (!gw_admin_require_auth(a, req))
        return;
    if (gw_http_method(req) != GW_HTTP_GET) {
        gw_http_error(req, 405, "method_not_allowed", "use GET");
        return;
    }
    long limit = INBOX_DEFAULT;
    const char *q = gw_http_query(req);
    const char *l = strstr(q, "limit=");
    if (l != NULL && (l == q || l[-1] == '&')) {
        char *end;
        limit = strtol(l + 6, &end, 10);
        if (end == l + 6 || (*end != '\0' && *end != '&') || limit < 1 || limit > INBOX_LIMIT) {
            gw_http_error(req, 400, "bad_limit", "limit is a whole number from 1 to 1000");
            return;
        }
    }
    char stop[24];
    snprintf(stop, sizeof stop, "%ld", limit - 1);
    const char *argv[] = {"LRANGE", "gw:inbox", "0", stop};
    if (gw_redis_argv(a->redis, on_inbox, req, 4, argv, NULL) != 0)
        gw_http_error(req, 503, "redis_unavailable", "the inbox is not reachable");
}

int gw_admin_inbound_register(gw_admin *a, gw_http *admin)
{
    if (gw_http_route(admin, "/v1/optouts", handle_optouts, a) != 0 ||
        gw_http_route(admin, "/v1/inbox", handle_inbox, a) != 0)
        return -1;
    return 0;
}
