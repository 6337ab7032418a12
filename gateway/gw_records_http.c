/* gw_records_http.c - the `http` records backend: an agency system asked
 * GET {url}?phone=E164 through the curl-multi client, with a timeout.
 *
 * A 404 means "no participant with this phone"; any other non-2xx, a
 * timeout or an unparsable body is a backend failure (the hop says busy).
 * Every field goes through the roster's own rules (gw_roster_set_field),
 * so a record from the agency is held to the same checks as an import. */
#include "gw_records_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "gw_form.h"
#include "gw_log.h"
#include "prov_http.h"

struct gw_records_http {
    char *url;
    int timeout_ms;
    prov_http *http;
};

typedef struct http_ctx {
    gw_records_cb *cb;
    void *arg;
} http_ctx;

gw_records_http *gw_records_http_new(const char *url, int timeout_ms, prov_http *http)
{
    gw_records_http *h = calloc(1, sizeof *h);
    if (h == NULL || http == NULL || (h->url = strdup(url)) == NULL) {
        free(h);
        return NULL;
    }
    h->timeout_ms = timeout_ms;
    h->http = http;
    return h;
}

void gw_records_http_free(gw_records_http *h)
{
    if (h == NULL)
        return;
    free(h->url);
    free(h);
}

static void on_answer(const prov_http_response *resp, void *arg)
{
    http_ctx *c = arg;
    if (resp->ok && resp->status == 404) {
        c->cb(0, NULL, 0, c->arg);
    } else if (resp->ok && resp->status >= 200 && resp->status < 300) {
        gw_participant *list = NULL;
        char err[256];
        int n = gw_records_parse_json(resp->body, resp->body_len, &list, err, sizeof err);
        if (n < 0)
            gw_warn("records", "agency answer unusable: %s", err);
        c->cb(n < 0 ? -1 : 0, list, n < 0 ? 0 : (size_t)n, c->arg);
        free(list);
    } else {
        gw_warn("records", "agency look-up failed: %s",
                resp->ok ? "unexpected HTTP status" : resp->error);
        c->cb(-1, NULL, 0, c->arg);
    }
    free(c);
}

int gw_records_http_by_phone(gw_records_http *h, const char *e164, gw_records_cb *cb, void *arg)
{
    char *phone = gw_form_encode(e164);
    if (phone == NULL)
        return -1;
    char url[2048];
    int n = snprintf(url, sizeof url, "%s%sphone=%s", h->url,
                     strchr(h->url, '?') != NULL ? "&" : "?", phone);
    free(phone);
    if (n < 0 || (size_t)n >= sizeof url)
        return -1;
    http_ctx *c = malloc(sizeof *c);
    if (c == NULL)
        return -1;
    c->cb = cb;
    c->arg = arg;
    static const char *const headers[] = {"Accept: application/json", NULL};
    prov_http_request req = {
        .method = "GET", .url = url, .headers = headers, .timeout_ms = h->timeout_ms,
    };
    if (prov_http_send(h->http, &req, on_answer, c) < 0) {
        free(c);
        return -1;
    }
    return 0;
}
