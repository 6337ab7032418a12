/* gw_records_http.c - the `http` records backend: an agency system asked
 * GET {url}?phone=E164 through the curl-multi client, with a timeout.
 *
 * A 404 means "no participant with this phone"; any other non-2xx, a
 * timeout or an unparsable body is a backend failure (the hop says busy).
 * Every field goes through the roster's own rules (gw_roster_set_field),
 * so a record from the agency is held to the same checks as an import. */
#include "gw_records_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gw_form.h"
#include "gw_log.h"
#include "gw_phone.h"
#include "gw_roster.h"
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

static int by_id(const void *a, const void *b)
{
    return strcmp(((const gw_participant *)a)->id, ((const gw_participant *)b)->id);
}

/* One JSON value as the text a roster cell would hold. */
static int value_text(json_t *v, char *buf, size_t cap)
{
    if (json_is_string(v))
        return snprintf(buf, cap, "%s", json_string_value(v)) < (int)cap ? 0 : -1;
    if (json_is_integer(v))
        return snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < (int)cap ? 0 : -1;
    if (json_is_real(v))   /* amounts: two decimals at most, re-read as text */
        return snprintf(buf, cap, "%.2f", json_real_value(v)) < (int)cap ? 0 : -1;
    if (json_is_true(v))
        return snprintf(buf, cap, "yes"), 0;
    if (json_is_false(v) || json_is_null(v))
        return buf[0] = '\0', 0;
    return -1;
}

int gw_records_parse_json(const char *body, size_t len, gw_participant **out,
                          char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "invalid JSON: %s", jerr.text);
        return -1;
    }
    json_t *arr = json_is_array(root) ? root : json_object_get(root, "participants");
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "expected an array of participants");
        json_decref(root);
        return -1;
    }
    size_t n = json_array_size(arr);
    gw_participant *list = calloc(n > 0 ? n : 1, sizeof *list);
    if (list == NULL) {
        json_decref(root);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_array_get(arr, i);
        if (!json_is_object(obj)) {
            snprintf(err, errlen, "participant %zu: not an object", i);
            goto fail;
        }
        gw_participant_init(&list[i]);
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v) {
            char text[512], why[160];
            if (value_text(v, text, sizeof text) != 0) {
                snprintf(err, errlen, "participant %zu: %s: unusable value", i, k);
                goto fail;
            }
            if (gw_roster_set_field(&list[i], k, text, why, sizeof why) != 0) {
                snprintf(err, errlen, "participant %zu: %s", i, why);
                goto fail;
            }
        }
        char why[160];
        if (gw_participant_check(&list[i], why, sizeof why) != 0) {
            snprintf(err, errlen, "participant %zu: %s", i, why);
            goto fail;
        }
    }
    json_decref(root);
    qsort(list, n, sizeof *list, by_id);
    *out = list;
    return (int)n;
fail:
    json_decref(root);
    free(list);
    return -1;
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
