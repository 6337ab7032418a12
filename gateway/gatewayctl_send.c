/* gatewayctl_send.c - the outbound commands of gatewayctl:
 *
 *   send --to N [--to N ...] (--text T | --template NAME [--var K=V ...])
 *        [--language zh|en] [--lane reply|bulk] [--at RFC3339]
 *   message ID
 *   queue
 *
 * Each is one admin API call (POST /v1/messages, GET /v1/messages/ID,
 * GET /v1/queue); the gateway checks everything and its refusal is printed
 * as it says it. Single-threaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatewayctl.h"

/* One JSON call: BODY (may be NULL; not stolen) to PATH. Returns 0 with the
 * parsed answer in *OUT (caller decrefs; may be NULL with --json, where the
 * raw answer is printed), or EXIT_HTTP / EXIT_USAGE after saying why. */
int api_call(const ctl *c, const char *method, const char *path, json_t *body,
                    const char *what, json_t **out)
{
    *out = NULL;
    const char *token = admin_token();
    if (token == NULL)
        return EXIT_USAGE;
    char *url = join_url(c->url, path);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body != NULL && text == NULL)
        die_oom();
    http_call call = {.method = method, .url = url, .token = token, .timeout_s = 60,
                      .content_type = body != NULL ? "application/json" : NULL,
                      .body = text, .body_len = text != NULL ? strlen(text) : 0};
    http_answer ans;
    int rc = EXIT_HTTP;
    if (http_perform(&call, &ans) != 0 || !is_2xx(ans.status)) {
        report_failure(what, &call, &ans);
        if (c->json && ans.status != 0)
            print_raw(&ans);
    } else if (c->json) {
        print_raw(&ans);
        rc = 0;
    } else {
        *out = json_loads(buf_str(&ans.body), 0, NULL);
        if (!json_is_object(*out)) {
            fail("%s: the gateway's answer is not a JSON object: %.200s", what,
                 buf_str(&ans.body));
            json_decref(*out);
            *out = NULL;
        } else {
            rc = 0;
        }
    }
    free(ans.body.data);
    free(text);
    free(url);
    return rc;
}

int cmd_send(const ctl *c, int argc, char **argv)
{
    json_t *to = json_array(), *vars = json_object(), *body = json_object();
    const char *text = NULL, *tpl = NULL, *lang = NULL, *lane = NULL, *at = NULL;
    if (to == NULL || vars == NULL || body == NULL)
        die_oom();
    int rc = -1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if ((r = opt_value(argc, argv, &i, "--to", &v)) == 1) {
            json_array_append_new(to, json_string(v));
        } else if (r == 0 && (r = opt_value(argc, argv, &i, "--text", &text)) == 1) {
        } else if (r == 0 && (r = opt_value(argc, argv, &i, "--template", &tpl)) == 1) {
        } else if (r == 0 && (r = opt_value(argc, argv, &i, "--language", &lang)) == 1) {
        } else if (r == 0 && (r = opt_value(argc, argv, &i, "--lane", &lane)) == 1) {
        } else if (r == 0 && (r = opt_value(argc, argv, &i, "--at", &at)) == 1) {
        } else if (r == 0 && (r = opt_value(argc, argv, &i, "--var", &v)) == 1) {
            const char *eq = strchr(v, '=');
            if (eq == NULL || eq == v) {
                fail("--var %s: give it as NAME=VALUE", v);
                goto out;
            }
            json_object_setn_new(vars, v, (size_t)(eq - v), json_string(eq + 1));
        } else {
            if (r < 0)
                fail("%s needs a value", argv[i]);
            else
                fail("%s: unknown argument", argv[i]);
            goto out;
        }
    }
    if (json_array_size(to) == 0 || (text == NULL) == (tpl == NULL)) {
        fail("send needs --to and either --text or --template");
        goto out;
    }
    /* One number goes as a string: a single message in the reply lane. */
    json_object_set(body, "to", json_array_size(to) == 1 ? json_array_get(to, 0) : to);
    if (text != NULL)
        json_object_set_new(body, "text", json_string(text));
    if (tpl != NULL)
        json_object_set_new(body, "template", json_string(tpl));
    if (json_object_size(vars) > 0)
        json_object_set(body, "vars", vars);
    if (lang != NULL)
        json_object_set_new(body, "language", json_string(lang));
    if (lane != NULL)
        json_object_set_new(body, "lane", json_string(lane));
    if (at != NULL)
        json_object_set_new(body, "send_at", json_string(at));
    json_t *ans;
    rc = api_call(c, "POST", "/v1/messages", body, "send", &ans);
    if (rc == 0 && ans != NULL) {
        json_int_t n = json_integer_value(json_object_get(ans, "count"));
        const char *id = json_string_value(json_object_get(ans, "id"));
        const char *last = json_string_value(json_object_get(ans, "last_id"));
        int seg = (int)json_integer_value(json_object_get(ans, "segments"));
        const char *enc = json_string_value(json_object_get(ans, "encoding"));
        if (n > 1)
            printf("queued %lld messages, ids %s to %s", (long long)n, id ? id : "?",
                   last ? last : "?");
        else
            printf("queued message %s", id ? id : "?");
        printf(" (%d segment%s%s, %s, %s lane)\n", seg, seg == 1 ? "" : "s",
               n > 1 ? " each" : "", enc != NULL && strcmp(enc, "ucs2") == 0 ? "UCS-2" : "GSM-7",
               json_string_value(json_object_get(ans, "lane")));
        const char *goes = json_string_value(json_object_get(ans, "goes_at"));
        if (goes != NULL)
            printf("outside the send window: %s at %s (--lane reply goes at once)\n",
                   n > 1 ? "they go" : "it goes", goes);
        json_decref(ans);
    }
out:
    json_decref(to);
    json_decref(vars);
    json_decref(body);
    return rc;
}

int cmd_message(const ctl *c, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '\0' || strspn(argv[1], "0123456789") != strlen(argv[1]))
        return -1;
    char path[64], what[64];
    snprintf(path, sizeof path, "/v1/messages/%.30s", argv[1]);
    snprintf(what, sizeof what, "message %.30s", argv[1]);
    json_t *ans;
    int rc = api_call(c, "GET", path, NULL, what, &ans);
    if (rc == 0 && ans != NULL) {
        print_fields(ans);
        json_decref(ans);
    }
    return rc;
}

int cmd_queue(const ctl *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return -1;
    json_t *ans;
    int rc = api_call(c, "GET", "/v1/queue", NULL, "queue", &ans);
    if (rc == 0 && ans != NULL && json_is_false(json_object_get(ans, "fresh"))) {
        /* a daemon just started reads them within a second */
        json_decref(ans);
        struct timespec pause = {1, 200 * 1000 * 1000};
        nanosleep(&pause, NULL);
        rc = api_call(c, "GET", "/v1/queue", NULL, "queue", &ans);
    }
    if (rc != 0 || ans == NULL)
        return rc;
    json_t *lanes = json_object_get(ans, "lanes");
    if (json_is_false(json_object_get(ans, "fresh")))
        printf("(the gateway has not read the queue's figures from Redis yet: it does every "
               "second, unless Redis is down; these are not current)\n");
    printf("%-8s %12s %12s %14s\n", "lane", "scheduled", "ready", "oldest due");
    const char *names[] = {"reply", "bulk"};
    for (int i = 0; i < 2; i++) {
        json_t *l = json_object_get(lanes, names[i]);
        printf("%-8s %12lld %12lld %12.1f s\n", names[i],
               (long long)json_integer_value(json_object_get(l, "scheduled")),
               (long long)json_integer_value(json_object_get(l, "ready")),
               json_number_value(json_object_get(l, "oldest_seconds")));
    }
    printf("in flight: %lld   dead: %lld   daemons sending: %lld   recovered after a crash: %lld\n",
           (long long)json_integer_value(json_object_get(ans, "in_flight")),
           (long long)json_integer_value(json_object_get(ans, "dead")),
           (long long)json_integer_value(json_object_get(ans, "consumers")),
           (long long)json_integer_value(json_object_get(ans, "recovered")));
    size_t i;
    json_t *p;
    printf("\n%-16s %-16s %8s %8s  %s\n", "account", "type", "priority", "max_tps", "state");
    json_array_foreach(json_object_get(ans, "providers"), i, p) {
        printf("%-16s %-16s %8lld %8lld  %s\n", json_string_value(json_object_get(p, "name")),
               json_string_value(json_object_get(p, "type")),
               (long long)json_integer_value(json_object_get(p, "priority")),
               (long long)json_integer_value(json_object_get(p, "max_tps")),
               json_is_true(json_object_get(p, "circuit_open")) ? "skipped (failing)" : "ok");
    }
    json_decref(ans);
    return 0;
}
