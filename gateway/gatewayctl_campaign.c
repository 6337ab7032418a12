/* gatewayctl_campaign.c - coordinators' campaigns from the command line:
 *   campaign preview|start --kind KIND [filter] [--text T | --template NAME] [--at TIME]
 *   campaign status ID [--watch]
 *   campaign cancel ID */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayctl.h"
#include "gw_clock.h"
#include "gw_format.h"

static const char *kind_arg(const char *k)
{
    if (k == NULL)
        return NULL;
    if (strcmp(k, "unpaid") == 0 || strcmp(k, "unpaid_contribution") == 0)
        return "unpaid_contribution";
    if (strcmp(k, "claim") == 0 || strcmp(k, "claim_report") == 0)
        return "claim_report";
    if (strcmp(k, "notice") == 0 || strcmp(k, "policy_notice") == 0)
        return "policy_notice";
    return NULL;
}

/* "--ids A,B,C" or "--ids @FILE" (one id per line). */
static int add_ids(json_t *list, const char *arg)
{
    char *copy = NULL;
    if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "r");
        if (f == NULL) {
            fail("cannot read %s", arg + 1);
            return -1;
        }
        char line[256];
        while (fgets(line, sizeof line, f) != NULL) {
            line[strcspn(line, "\r\n,; \t")] = '\0';
            if (line[0] != '\0')
                json_array_append_new(list, json_string(line));
        }
        fclose(f);
        return 0;
    }
    if ((copy = strdup(arg)) == NULL)
        die_oom();
    char *save = NULL;
    for (char *t = strtok_r(copy, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save))
        json_array_append_new(list, json_string(t));
    free(copy);
    return 0;
}

/* The duplicates queued held (pending in another campaign), if any. */
static void print_held(const json_t *ans)
{
    json_int_t held = json_integer_value(json_object_get(ans, "held"));
    if (held > 0)
        printf("  %lld of the duplicates %s pending in another campaign: queued but held, "
               "%s only if that campaign is cancelled first\n"
               "  (at this one's send time, or just after that one's when it is later)\n",
               (long long)held, held == 1 ? "is" : "are", held == 1 ? "it goes" : "they go");
}

/* What the duplicates of a campaign of KIND are, when there are any. */
static void print_duplicate(const json_t *sk, const char *kind)
{
    if (json_integer_value(json_object_get(sk, "duplicate")) <= 0)
        return;
    int notice = kind != NULL && strcmp(kind, "policy_notice") == 0;
    printf("  duplicate: %s within [reminders] min_interval_hours, or it is pending in "
           "another campaign%s\n",
           notice ? "the same text was sent to the phone" : "the same reminder was sent",
           notice ? ", or another person on the same phone was counted already (one per "
                    "household phone)"
                  : "");
}

/* "s" unless N is 1. */
static const char *plural(json_int_t n)
{
    return n == 1 ? "" : "s";
}

static void print_counts(const json_t *ans, int dry)
{
    const json_t *sk = json_object_get(ans, "skipped");
    json_int_t n = json_integer_value(json_object_get(ans, "recipients"));
    json_int_t parts = json_integer_value(json_object_get(ans, "segments_total"));
    printf("%s%s%s: %lld recipient%s, %lld SMS part%s in all (up to %lld per message), "
           "from %s\n", dry ? "" : "campaign ",
           dry ? json_string_value(json_object_get(ans, "kind"))
               : json_string_value(json_object_get(ans, "id")),
           dry ? " (preview, nothing sent)" : "", (long long)n, plural(n), (long long)parts,
           plural(parts),
           (long long)json_integer_value(json_object_get(ans, "segments_per_message")),
           json_string_value(json_object_get(ans, "send_at")));
    printf("  skipped: %lld paid, %lld opted out, %lld without a phone, %lld duplicate\n",
           (long long)json_integer_value(json_object_get(sk, "paid")),
           (long long)json_integer_value(json_object_get(sk, "opted_out")),
           (long long)json_integer_value(json_object_get(sk, "no_phone")),
           (long long)json_integer_value(json_object_get(sk, "duplicate")));
    print_duplicate(sk, json_string_value(json_object_get(ans, "kind")));
    json_int_t late = json_integer_value(json_object_get(sk, "past_due"));
    if (late > 0)
        printf("  and %lld whose last day to pay has passed (a reminder would ask them to pay "
               "by it; reach them another way)\n", (long long)late);
    json_int_t unknown = json_integer_value(json_object_get(ans, "unknown_ids"));
    if (unknown > 0) {
        printf("  %lld participant id%s not in the roster", (long long)unknown,
               unknown == 1 ? " is" : "s are");
        size_t i;
        json_t *id;
        const json_t *named = json_object_get(ans, "unknown_ids_first");
        json_array_foreach(named, i, id)
            printf("%s%s", i == 0 ? ": " : ", ", json_string_value(id));
        if ((json_int_t)json_array_size(named) < unknown && json_array_size(named) > 0)
            printf(", ...");
        printf("\n");
    }
    print_held(ans);
}

/* A preview's recipients, when asked for (--list): id, name, phone. */
static void print_list(const json_t *ans)
{
    const json_t *list = json_object_get(ans, "recipients_list");
    if (list == NULL)
        return;
    printf("  recipients (participant id, name, phone):\n");
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e)
        printf("    %-16s %-12s %s\n", json_string_value(json_object_get(e, "participant_id")),
               json_string_value(json_object_get(e, "name")),
               json_string_value(json_object_get(e, "phone")));
    if (!json_is_true(json_object_get(ans, "recipients_list_complete")))
        printf("  (the first %zu of %lld: a township or village lists them all)\n",
               json_array_size(list),
               (long long)json_integer_value(json_object_get(ans, "recipients")));
}

static int create(const ctl *c, int argc, char **argv, int dry)
{
    const char *kind = NULL, *tw = NULL, *vl = NULL, *ids = NULL, *text = NULL, *tpl = NULL,
               *at = NULL;
    int list = 0, everyone = 0;
    for (int i = 2; i < argc; i++) {
        if (dry && strcmp(argv[i], "--list") == 0) {
            list = 1;
            continue;
        }
        if (strcmp(argv[i], "--everyone") == 0) {
            everyone = 1;
            continue;
        }
        int r = opt_value(argc, argv, &i, "--kind", &kind);
        if (r == 0)
            r = opt_value(argc, argv, &i, "--township", &tw);
        if (r == 0)
            r = opt_value(argc, argv, &i, "--village", &vl);
        if (r == 0)
            r = opt_value(argc, argv, &i, "--ids", &ids);
        if (r == 0)
            r = opt_value(argc, argv, &i, "--text", &text);
        if (r == 0)
            r = opt_value(argc, argv, &i, "--template", &tpl);
        if (r == 0)
            r = opt_value(argc, argv, &i, "--at", &at);
        if (r != 1)
            return -1;
    }
    if (kind_arg(kind) == NULL) {
        fail("--kind must be unpaid, claim or notice");
        return EXIT_USAGE;
    }
    /* a start to the whole county is said so, not left to a forgotten option */
    if (!dry && tw == NULL && vl == NULL && ids == NULL && !everyone) {
        fail("without --township, --village or --ids this goes to everyone in the roster: "
             "preview it, then add --everyone to send it to them all");
        return EXIT_USAGE;
    }
    if (everyone && (tw != NULL || vl != NULL || ids != NULL)) {
        fail("--everyone is instead of --township, --village or --ids");
        return EXIT_USAGE;
    }
    json_t *body = json_pack("{s:s, s:b, s:{}}", "kind", kind_arg(kind), "dry_run", dry,
                             "filter");
    if (body == NULL)
        die_oom();
    if (list)
        json_object_set_new(body, "list", json_true());
    json_t *filter = json_object_get(body, "filter");
    if (tw != NULL)
        json_object_set_new(filter, "township", json_string(tw));
    if (vl != NULL)
        json_object_set_new(filter, "village", json_string(vl));
    if (ids != NULL) {
        json_t *list = json_array();
        if (list == NULL || add_ids(list, ids) != 0) {
            json_decref(list);
            json_decref(body);
            return EXIT_USAGE;
        }
        json_object_set_new(filter, "participant_ids", list);
    }
    if (text != NULL)
        json_object_set_new(body, "text", json_string(text));
    if (tpl != NULL)
        json_object_set_new(body, "template", json_string(tpl));
    if (at != NULL)
        json_object_set_new(body, "send_at", json_string(at));
    json_t *ans = NULL;
    int rc = api_call(c, "POST", "/v1/campaigns", body, dry ? "campaign preview" : "campaign start",
                      &ans);
    size_t nids = json_array_size(json_object_get(filter, "participant_ids"));
    json_decref(body);
    if (rc == 0 && ans != NULL) {
        /* who it is for, as the gateway understood it (a village given
         * alone: the township it found it in) */
        const char *found = json_string_value(json_object_get(ans, "township"));
        char place[512];
        if (vl != NULL)
            snprintf(place, sizeof place, "%s %s", tw != NULL ? tw : found != NULL ? found : "?",
                     vl);
        else
            snprintf(place, sizeof place, "%s", tw != NULL ? tw : "");
        print_counts(ans, dry);
        if (ids != NULL)
            printf("  to: the %zu participant id%s given\n", nids, nids == 1 ? "" : "s");
        else if (place[0] != '\0')
            printf("  to: %s %s\n", vl != NULL ? "village" : "township", place);
        else
            printf("  to: everyone in the roster (no --township, --village or --ids given)\n");
        const char *sample = json_string_value(json_object_get(ans, "sample"));
        if (sample != NULL)
            printf("  the first of them will get:\n    %s\n", sample);
        print_list(ans);
        const char *state = json_string_value(json_object_get(ans, "state"));
        const char *warning = json_string_value(json_object_get(ans, "warning"));
        if (warning != NULL)    /* the fan-out stopped short: the counts are not all */
            printf("warning: %s\n", warning);
        if (!dry && state != NULL && strcmp(state, "cancelled") == 0)
            printf("it was cancelled while it was being queued: nothing more is sent\n");
        else if (!dry)
            printf("follow it with: gatewayctl campaign status %s --watch\n",
                   json_string_value(json_object_get(ans, "id")));
    }
    json_decref(ans);
    return rc;
}

/* One line: a bar of what is done (sent, delivered, failed, skipped) out of
 * all the campaign's messages (held ones too), then the counts. */
static void draw(const json_t *ans, int tty)
{
    const json_t *n = json_object_get(ans, "counts");
    long long q = json_integer_value(json_object_get(n, "queued"));
    long long s = json_integer_value(json_object_get(n, "sent"));
    long long d = json_integer_value(json_object_get(n, "delivered"));
    long long f = json_integer_value(json_object_get(n, "failed"));
    long long k = json_integer_value(json_object_get(n, "skipped"));
    long long h = json_integer_value(json_object_get(ans, "held"));
    long long all = q + h + s + d + f + k, left = q + h;
    int width = 30, fill = all > 0 ? (int)((all - left) * width / all) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    char held[40] = "", waits[64] = "";
    if (h > 0)
        snprintf(held, sizeof held, "  held %lld", h);
    /* nothing has gone and its time is ahead: say when it goes, not just "running" */
    const char *state = json_string_value(json_object_get(ans, "state"));
    const char *at = json_string_value(json_object_get(ans, "send_at"));
    int64_t at_ms;
    if (state != NULL && strcmp(state, "running") == 0 && s + d + f + k == 0 && at != NULL &&
        gw_rfc3339_parse(at, &at_ms) == 0 && at_ms > gw_clock_now_ms()) {
        state = "waiting";
        snprintf(waits, sizeof waits, "  (goes at %s)", at);
    }
    printf("%s%s %-9s [%s] %3lld%%  queued %lld  sent %lld  delivered %lld  failed %lld  "
           "skipped %lld%s%s%s", tty ? "\r" : "", json_string_value(json_object_get(ans, "id")),
           state, bar, all > 0 ? (all - left) * 100 / all : 100, q, s, d, f, k, held, waits,
           tty ? "\033[K" : "\n");
    fflush(stdout);
}

static int status(const ctl *c, const char *id, int watch)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/campaigns/%s", id);
    int tty = watch && isatty(STDOUT_FILENO);
    for (;;) {
        json_t *ans = NULL;
        int rc = api_call(c, "GET", path, NULL, "campaign status", &ans);
        if (rc != 0 || ans == NULL) {
            if (tty)
                putchar('\n');
            return rc;
        }
        if (!watch) {
            const json_t *sk = json_object_get(ans, "skipped_at_start");
            printf("campaign %s (%s): %s, sends from %s\n",
                   json_string_value(json_object_get(ans, "id")),
                   json_string_value(json_object_get(ans, "kind")),
                   json_string_value(json_object_get(ans, "state")),
                   json_string_value(json_object_get(ans, "send_at")));
            draw(ans, 0);
            printf("  not queued at start: %lld paid, %lld opted out, %lld without a phone, "
                   "%lld duplicate\n",
                   (long long)json_integer_value(json_object_get(sk, "paid")),
                   (long long)json_integer_value(json_object_get(sk, "opted_out")),
                   (long long)json_integer_value(json_object_get(sk, "no_phone")),
                   (long long)json_integer_value(json_object_get(sk, "duplicate")));
            print_duplicate(sk, json_string_value(json_object_get(ans, "kind")));
            if (json_integer_value(json_object_get(sk, "past_due")) > 0)
                printf("  and %lld past their last day to pay\n",
                       (long long)json_integer_value(json_object_get(sk, "past_due")));
            print_held(ans);
            const json_t *why = json_object_get(ans, "skipped_why");
            if (json_object_size(why) > 0) {
                const char *reason;
                json_t *n;
                const char *sep = "  skipped since: ";
                json_object_foreach((json_t *)why, reason, n) {
                    char words[64];         /* opted_out -> opted out */
                    snprintf(words, sizeof words, "%s", reason);
                    for (char *u = strchr(words, '_'); u != NULL; u = strchr(u, '_'))
                        *u = ' ';
                    printf("%s%lld %s", sep, (long long)json_integer_value(n), words);
                    sep = ", ";
                }
                printf("\n");
            }
            json_decref(ans);
            return 0;
        }
        draw(ans, tty);
        const char *st = json_string_value(json_object_get(ans, "state"));
        /* done: nothing left to send (delivery reports may still come) */
        int over = st != NULL && (strcmp(st, "cancelled") == 0 || strcmp(st, "done") == 0);
        json_decref(ans);
        if (over) {
            if (tty)
                putchar('\n');
            return 0;
        }
        sleep(1);
    }
}

int cmd_campaign(const ctl *c, int argc, char **argv)
{
    if (argc < 2)
        return -1;
    if (strcmp(argv[1], "preview") == 0 || strcmp(argv[1], "start") == 0)
        return create(c, argc, argv, argv[1][0] == 'p');
    if (strcmp(argv[1], "status") == 0 && (argc == 3 || argc == 4)) {
        int watch = argc == 4 && strcmp(argv[3], "--watch") == 0;
        if (argc == 4 && !watch)
            return -1;
        return status(c, argv[2], watch);
    }
    if (strcmp(argv[1], "cancel") == 0 && argc == 3) {
        char path[96];
        snprintf(path, sizeof path, "/v1/campaigns/%s/cancel", argv[2]);
        json_t *ans = NULL;
        int rc = api_call(c, "POST", path, NULL, "campaign cancel", &ans);
        if (rc == 0 && ans != NULL) {
            const char *st = json_string_value(json_object_get(ans, "state"));
            if (st != NULL && strcmp(st, "done") == 0)
                printf("campaign %s is done: everything was sent or skipped already; "
                       "nothing to cancel\n", json_string_value(json_object_get(ans, "id")));
            else
                printf("campaign %s is %s; what was not yet sent will not be sent\n",
                       json_string_value(json_object_get(ans, "id")), st);
            draw(ans, 0);
        }
        json_decref(ans);
        return rc;
    }
    return -1;
}
