/* gw_records_json.c - an agency system's participant list in JSON.
 *
 * Pure function; shared by the http records backend and the unit tests.
 * Every field goes through the roster's own rules (gw_roster_set_field), so
 * a record from the agency is held to the same checks as an import. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gw_records_internal.h"
#include "gw_roster.h"

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
    if (json_is_real(v)) {
        /* Amounts: the decimal with at most two decimals that reads back as
         * exactly this double; else all its digits, which the roster rules
         * refuse (1.005 must not become 1.00 or 1.01). */
        double d = json_real_value(v);
        for (int decimals = 0; decimals <= 2; decimals++) {
            if (snprintf(buf, cap, "%.*f", decimals, d) >= (int)cap)
                return -1;
            if (strtod(buf, NULL) == d)
                return 0;
        }
        return snprintf(buf, cap, "%.17g", d) < (int)cap ? 0 : -1;
    }
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
