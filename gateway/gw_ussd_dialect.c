/* gw_ussd_dialect.c - parse carrier USSD requests and write their answers.
 * Pure functions; see gw_ussd_dialect.h. */
#include "gw_ussd_dialect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gw_form.h"

static int session_id_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

/* Copies VALUE of field NAME into DST, checking presence and length. */
static int take(const char *name, const char *value, int required, char *dst, size_t cap,
                char *err, size_t errlen)
{
    if (value == NULL) {
        if (required) {
            snprintf(err, errlen, "%s: missing", name);
            return -1;
        }
        value = "";
    }
    size_t n = strlen(value);
    if (n >= cap) {
        snprintf(err, errlen, "%s: too long (at most %zu bytes)", name, cap - 1);
        return -1;
    }
    memcpy(dst, value, n + 1);
    return 0;
}

int gw_dialect_parse_at(const char *body, size_t len, gw_hop_req *out, char *err, size_t errlen)
{
    char why[128];
    gw_form *f = gw_form_parse(body, len, why, sizeof why);
    if (f == NULL) {
        snprintf(err, errlen, "malformed form body: %s", why);
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->dialect = GW_DIALECT_AT;
    out->type = GW_HOP_INPUT;
    int rc = -1;
    if (take("sessionId", gw_form_get(f, "sessionId"), 1, out->session, sizeof out->session,
             err, errlen) != 0 ||
        take("phoneNumber", gw_form_get(f, "phoneNumber"), 1, out->phone, sizeof out->phone,
             err, errlen) != 0 ||
        take("serviceCode", gw_form_get(f, "serviceCode"), 0, out->service_code,
             sizeof out->service_code, err, errlen) != 0 ||
        take("text", gw_form_get(f, "text"), 0, out->text, sizeof out->text, err, errlen) != 0)
        goto done;
    if (!session_id_ok(out->session)) {
        snprintf(err, errlen, "sessionId: must be 1..127 of [A-Za-z0-9_.:-]");
        goto done;
    }
    if (out->phone[0] == '\0') {
        snprintf(err, errlen, "phoneNumber: empty");
        goto done;
    }
    rc = 0;
done:
    gw_form_free(f);
    return rc;
}

int gw_dialect_parse_hubtel(const char *body, size_t len, gw_hop_req *out, char *err,
                            size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "malformed JSON: %s", jerr.text);
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->dialect = GW_DIALECT_HUBTEL;
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "expected a JSON object");
        goto done;
    }
    const char *fields[] = {"SessionId", "Mobile", "ServiceCode", "Type", "Message"};
    const char *v[5];
    for (int i = 0; i < 5; i++) {
        json_t *j = json_object_get(root, fields[i]);
        if (j != NULL && !json_is_string(j)) {
            snprintf(err, errlen, "%s: must be a string", fields[i]);
            goto done;
        }
        v[i] = j != NULL ? json_string_value(j) : NULL;
    }
    if (take("SessionId", v[0], 1, out->session, sizeof out->session, err, errlen) != 0 ||
        take("Mobile", v[1], 1, out->phone, sizeof out->phone, err, errlen) != 0 ||
        take("ServiceCode", v[2], 0, out->service_code, sizeof out->service_code, err,
             errlen) != 0 ||
        take("Message", v[4], 0, out->text, sizeof out->text, err, errlen) != 0)
        goto done;
    if (!session_id_ok(out->session)) {
        snprintf(err, errlen, "SessionId: must be 1..127 of [A-Za-z0-9_.:-]");
        goto done;
    }
    if (out->phone[0] == '\0') {
        snprintf(err, errlen, "Mobile: empty");
        goto done;
    }
    if (v[3] == NULL) {
        snprintf(err, errlen, "Type: missing");
        goto done;
    }
    if (strcmp(v[3], "Initiation") == 0) {
        out->type = GW_HOP_BEGIN;
        out->text[0] = '\0';        /* the dialled code, not an input */
    } else if (strcmp(v[3], "Response") == 0) {
        out->type = GW_HOP_INPUT;
    } else if (strcmp(v[3], "Release") == 0 || strcmp(v[3], "Timeout") == 0) {
        out->type = GW_HOP_RELEASE;
    } else {
        snprintf(err, errlen, "Type: must be Initiation, Response, Release or Timeout");
        goto done;
    }
    json_t *seq = json_object_get(root, "Sequence");
    if (seq != NULL) {
        if (!json_is_integer(seq) || json_integer_value(seq) < 1 ||
            json_integer_value(seq) > 1000000) {
            snprintf(err, errlen, "Sequence: must be a positive integer");
            goto done;
        }
        out->sequence = (long)json_integer_value(seq);
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

char *gw_dialect_answer(enum gw_dialect d, int end, const char *screen, size_t *len,
                        const char **content_type)
{
    if (d == GW_DIALECT_AT) {
        size_t n = strlen(screen);
        char *out = malloc(n + 5);
        if (out == NULL)
            return NULL;
        memcpy(out, end ? "END " : "CON ", 4);
        memcpy(out + 4, screen, n + 1);
        *len = n + 4;
        *content_type = "text/plain; charset=utf-8";
        return out;
    }
    json_t *j = json_pack("{s:s, s:s, s:s}", "Type", end ? "Release" : "Response",
                          "Message", screen, "ClientState", "");
    char *out = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (out == NULL)
        return NULL;
    *len = strlen(out);
    *content_type = "application/json; charset=utf-8";
    return out;
}
