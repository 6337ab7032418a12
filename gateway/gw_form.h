/* gw_form.h - application/x-www-form-urlencoded bodies (carrier callbacks).
 *
 * Parses "a=1&b=x%20y+z" into decoded pairs: '+' is a space, %XX a byte.
 * Malformed escapes ("%G1", "%4"), NUL bytes, invalid UTF-8 after decoding,
 * more than 64 pairs or a body over 64 KiB are errors: nothing is returned.
 * A key given twice keeps the first value. */
#ifndef GW_FORM_H
#define GW_FORM_H

#include <stddef.h>

typedef struct gw_form gw_form;

/* Returns a new form, or NULL with a reason in ERR. Caller frees. */
gw_form *gw_form_parse(const char *body, size_t len, char *err, size_t errlen);

/* The decoded value of KEY, or NULL when absent. Owned by FORM. */
const char *gw_form_get(const gw_form *form, const char *key);

size_t gw_form_count(const gw_form *form);
/* I-th pair (in body order); returns -1 when out of range. */
int gw_form_pair(const gw_form *form, size_t i, const char **key, const char **value);

void gw_form_free(gw_form *form);

/* Percent-encodes S for a form body or query string into a malloc'd
 * string (unreserved characters kept, space as "%20"). NULL on OOM. */
char *gw_form_encode(const char *s);

#endif
