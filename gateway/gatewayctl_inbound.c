/* gatewayctl_inbound.c - gatewayctl's commands for what residents send:
 *
 *   optout list | add NUMBER | remove NUMBER    (GET|POST /v1/optouts)
 *   inbox [--limit N]                           (GET /v1/inbox)
 *   incident add --participant ID --kind K --date D [--reported-on D]
 *                                                     (POST /v1/incidents)
 *   incident show REFERENCE                           (GET /v1/incidents/REF)
 *   incident reported REFERENCE [--on DATE]  (POST /v1/incidents/REF/report)
 *
 * Single-threaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayctl.h"

int cmd_optout(const ctl *c, int argc, char **argv)
{
    json_t *ans = NULL;
    int rc;
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        rc = api_call(c, "GET", "/v1/optouts", NULL, "optout list", &ans);
        if (rc == 0 && ans != NULL) {
            size_t i;
            json_t *o;
            json_array_foreach(json_object_get(ans, "optouts"), i, o)
                printf("%-16s since %s (%s)\n", json_string_value(json_object_get(o, "phone")),
                       json_string_value(json_object_get(o, "since")),
                       json_string_value(json_object_get(o, "channel")));
            printf("%lld number%s opted out\n",
                   (long long)json_integer_value(json_object_get(ans, "count")),
                   json_integer_value(json_object_get(ans, "count")) == 1 ? "" : "s");
        }
    } else if (argc == 3 && (strcmp(argv[1], "add") == 0 || strcmp(argv[1], "remove") == 0)) {
        json_t *body = json_pack("{s:s, s:s}", "phone", argv[2], "action", argv[1]);
        if (body == NULL)
            die_oom();
        rc = api_call(c, "POST", "/v1/optouts", body, "optout", &ans);
        json_decref(body);
        if (rc == 0 && ans != NULL)
            printf("%s %s\n", json_string_value(json_object_get(ans, "phone")),
                   json_is_true(json_object_get(ans, "opted_out"))
                       ? "is opted out: no reminders or notices (replies still go)"
                       : "receives reminders and notices again");
    } else {
        return -1;
    }
    json_decref(ans);
    return rc;
}

int cmd_inbox(const ctl *c, int argc, char **argv)
{
    const char *limit = "50";
    for (int i = 1; i < argc; i++) {
        int r = opt_value(argc, argv, &i, "--limit", &limit);
        if (r != 1)
            return -1;
    }
    if (strspn(limit, "0123456789") != strlen(limit) || strlen(limit) > 4 || !*limit)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/v1/inbox?limit=%s", limit);
    json_t *ans = NULL;
    int rc = api_call(c, "GET", path, NULL, "inbox", &ans);
    if (rc == 0 && ans != NULL) {
        size_t i, j;
        json_t *m, *p;
        json_array_foreach(json_object_get(ans, "messages"), i, m) {
            printf("%s  %s", json_string_value(json_object_get(m, "received_at")),
                   json_string_value(json_object_get(m, "from")));
            json_array_foreach(json_object_get(m, "participants"), j, p)
                printf("%s %s (%s)", j == 0 ? "  " : ",",
                       json_string_value(json_object_get(p, "name")),
                       json_string_value(json_object_get(p, "id")));
            printf("\n    %s\n", json_string_value(json_object_get(m, "text")));
        }
        if (json_array_size(json_object_get(ans, "messages")) == 0)
            printf("the inbox is empty\n");
    }
    json_decref(ans);
    return rc;
}

/* The fields of an incident as the API answers it (NULL when absent). */
typedef struct incident_view {
    const char *ref, *kind, *who, *on, *due, *state;
} incident_view;

/* Field NAME of ANS, "?" when absent (never NULL: it goes to printf). */
static const char *field(const json_t *ans, const char *name)
{
    const char *v = json_string_value(json_object_get(ans, name));
    return v != NULL ? v : "?";
}

static incident_view incident_view_of(const json_t *ans)
{
    incident_view v = {field(ans, "reference"), field(ans, "kind"), field(ans, "participant_id"),
                       field(ans, "occurred_on"), field(ans, "deadline"), field(ans, "state")};
    return v;
}

/* What incident ANS (GET /v1/incidents/REF's answer) is, in a sentence. */
static void print_incident(const json_t *ans)
{
    incident_view v = incident_view_of(ans);
    const char *at = json_string_value(json_object_get(ans, "reported_at"));
    const char *how = json_string_value(json_object_get(ans, "reported_channel"));
    printf("incident %s: %s of %s on %s, the claim to be reported by %s\n", v.ref, v.kind,
           v.who, v.on, v.due);
    const char *day = json_string_value(json_object_get(ans, "reported_on"));
    if (strcmp(v.state, "reported") == 0)
        printf("  reported%s%s, %s%s%s\n", day != NULL ? " on " : "", day != NULL ? day : "",
               how != NULL && strcmp(how, "ussd") == 0 ? "by the member through USSD"
                                                       : "recorded by staff",
               at != NULL ? " at " : "", at != NULL ? at : "");
    else if (json_is_true(json_object_get(ans, "window_closed")))
        printf("  not recorded as reported; the report window closed on %s\n", v.due);
    else
        printf("  open: not recorded as reported yet\n");
}

/* incident show REFERENCE | reported REFERENCE [--on YYYY-MM-DD] */
static int incident_by_reference(const ctl *c, int argc, char **argv)
{
    int report = strcmp(argv[1], "reported") == 0;
    const char *on = NULL;
    for (int i = 3; i < argc; i++)
        if (!report || opt_value(argc, argv, &i, "--on", &on) != 1)
            return -1;
    char *ref = curl_easy_escape(NULL, argv[2], 0);
    if (ref == NULL)
        die_oom();
    size_t n = strlen("/v1/incidents//report") + strlen(ref) + 1;
    char *path = malloc(n);
    if (path == NULL)
        die_oom();
    snprintf(path, n, "/v1/incidents/%s%s", ref, report ? "/report" : "");
    curl_free(ref);
    json_t *body = NULL;
    if (on != NULL && (body = json_pack("{s:s}", "reported_on", on)) == NULL) {
        fprintf(stderr, "gatewayctl: incident reported: --on must be UTF-8 text\n");
        free(path);
        return EXIT_USAGE;
    }
    json_t *ans = NULL;
    int rc = api_call(c, report ? "POST" : "GET", path, body,
                      report ? "incident reported" : "incident show", &ans);
    json_decref(body);
    free(path);
    if (rc == 0 && ans != NULL) {
        if (report && json_is_false(json_object_get(ans, "changed")))
            printf("already reported; nothing changed\n");
        else if (report)
            printf("recorded as reported: no more reminders for this claim\n");
        print_incident(ans);
    }
    json_decref(ans);
    return rc;
}

int cmd_incident(const ctl *c, int argc, char **argv)
{
    const char *pid = NULL, *kind = NULL, *date = NULL, *reported_on = NULL;
    if (argc >= 3 && (strcmp(argv[1], "show") == 0 || strcmp(argv[1], "reported") == 0) &&
        argv[2][0] != '\0')
        return incident_by_reference(c, argc, argv);
    if (argc < 2 || strcmp(argv[1], "add") != 0)
        return -1;
    for (int i = 2; i < argc; i++) {
        int r = opt_value(argc, argv, &i, "--participant", &pid);
        if (r == 0)
            r = opt_value(argc, argv, &i, "--kind", &kind);
        if (r == 0)
            r = opt_value(argc, argv, &i, "--date", &date);
        if (r == 0)
            r = opt_value(argc, argv, &i, "--reported-on", &reported_on);
        if (r != 1)
            return -1;
    }
    if (pid == NULL || kind == NULL || date == NULL)
        return -1;
    json_t *body = json_pack("{s:s, s:s, s:s}", "participant_id", pid, "kind", kind,
                             "occurred_on", date);
    if (body != NULL && reported_on != NULL &&
        json_object_set_new(body, "reported_on", json_string(reported_on)) != 0) {
        json_decref(body);
        body = NULL;
    }
    if (body == NULL) {
        /* jansson takes only UTF-8 text */
        fprintf(stderr, "gatewayctl: incident add: --participant, --kind, --date and "
                        "--reported-on must be UTF-8 text\n");
        return EXIT_USAGE;
    }
    json_t *ans = NULL;
    int rc = api_call(c, "POST", "/v1/incidents", body, "incident add", &ans);
    json_decref(body);
    if (rc == 0 && ans != NULL) {
        incident_view v = incident_view_of(ans);
        const char *warning = json_string_value(json_object_get(ans, "warning"));
        json_t *queued = json_object_get(ans, "reminders");
        const char *on = json_string_value(json_object_get(ans, "reported_on"));
        if (strcmp(v.state, "reported") == 0 && on != NULL)
            printf("incident %s: %s of %s on %s, reported on %s (recorded by staff), in time "
                   "for the claim's deadline %s; %s\n", v.ref, v.kind, v.who, v.on, on, v.due,
                   json_is_true(json_object_get(ans, "created"))
                       ? "no reminders" : "it was registered before: its reminders stop");
        else if (strcmp(v.state, "reported") == 0)
            printf("incident %s: %s of %s on %s was already reported; nothing to do\n", v.ref,
                   v.kind, v.who, v.on);
        else if (json_is_false(json_object_get(ans, "created")))
            printf("incident %s: %s of %s on %s was already registered (the same incident); "
                   "the claim must be reported by %s\n", v.ref, v.kind, v.who, v.on, v.due);
        else
            printf("incident %s: %s of %s on %s; the claim must be reported by %s\n", v.ref,
                   v.kind, v.who, v.on, v.due);
        long long n = json_integer_value(queued);
        if (json_is_integer(queued) && json_is_true(json_object_get(ans, "opted_out")))
            printf("no SMS reminder will go: the member's phone opted out\n");
        else if (json_is_integer(queued) && json_is_false(json_object_get(ans, "created")))
            printf("%lld SMS reminder%s for the member in all\n", n, n == 1 ? "" : "s");
        else if (json_is_integer(queued))
            printf("%lld SMS reminder%s queued for the member\n", n, n == 1 ? "" : "s");
        if (warning != NULL)
            printf("warning: %s\n", warning);
    }
    json_decref(ans);
    return rc;
}
