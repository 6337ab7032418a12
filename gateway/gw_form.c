/* gw_form.c - application/x-www-form-urlencoded bodies; see gw_form.h.
 *
 * A parsed form is one allocation: the pair table and, after it, the
 * decoded keys and values as NUL-terminated strings. Decoding only shrinks
 * a pair, so the body's length plus two NULs per pair always suffices.
 * Anything malformed fails the whole body: carriers send well-formed forms,
 * and a half-read callback is worse than a rejected one. */
#include "gw_form.h"
#include "gw_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORM_MAX_PAIRS 64
#define FORM_MAX_BODY (64 * 1024)

struct gw_form {
    size_t count;
    const char *keys[FORM_MAX_PAIRS];
    const char *values[FORM_MAX_PAIRS];
    char data[];
};

static int form_fail(char *err, size_t errlen, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    return -1;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Returns 1 when S[0..LEN) is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n)
        if ((n = gw_utf8_char(s + i, len - i)) == 0)
            return 0;
    return 1;
}

/* Decodes IN[0..LEN) to OUT and NUL-terminates it. Returns the decoded
 * length, or -1 with a reason in ERR. */
static long form_decode(const char *in, size_t len, char *out, char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '+') {
            out[n++] = ' ';
        } else if (in[i] == '%') {
            int hi = i + 2 < len ? hex_value((unsigned char)in[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value((unsigned char)in[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return form_fail(err, errlen, "malformed %-escape");
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = in[i];
        }
    }
    out[n] = '\0';
    if (memchr(out, '\0', n) != NULL)
        return form_fail(err, errlen, "NUL byte in the form");
    if (!utf8_valid((const unsigned char *)out, n))
        return form_fail(err, errlen, "invalid UTF-8 in the form");
    return (long)n;
}

gw_form *gw_form_parse(const char *body, size_t len, char *err, size_t errlen)
{
    if (body == NULL && len > 0) {
        form_fail(err, errlen, "no body");
        return NULL;
    }
    if (len > FORM_MAX_BODY) {
        form_fail(err, errlen, "form body over 64 KiB");
        return NULL;
    }
    if (len > 0 && memchr(body, '\0', len) != NULL) {
        form_fail(err, errlen, "NUL byte in the form");
        return NULL;
    }
    gw_form *f = malloc(sizeof *f + len + 2 * FORM_MAX_PAIRS + 1);
    if (f == NULL) {
        form_fail(err, errlen, "out of memory");
        return NULL;
    }
    f->count = 0;
    char *w = f->data;
    size_t segments = 0;
    for (size_t pos = 0; pos < len;) {
        const char *seg = body + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t seglen = amp != NULL ? (size_t)(amp - seg) : len - pos;
        pos += seglen + 1;
        if (seglen == 0)
            continue;
        if (++segments > FORM_MAX_PAIRS) {
            form_fail(err, errlen, "more than 64 pairs");
            goto fail;
        }
        const char *eq = memchr(seg, '=', seglen);
        size_t klen = eq != NULL ? (size_t)(eq - seg) : seglen;
        char *key = w;
        long kn = form_decode(seg, klen, key, err, errlen);
        if (kn < 0)
            goto fail;
        char *value = key + kn + 1;
        long vn = eq != NULL ? form_decode(eq + 1, seglen - klen - 1, value, err, errlen)
                             : form_decode("", 0, value, err, errlen);
        if (vn < 0)
            goto fail;
        if (kn == 0 || gw_form_get(f, key) != NULL)
            continue;   /* no key, or a repeated one: the first value stands */
        f->keys[f->count] = key;
        f->values[f->count] = value;
        f->count++;
        w = value + vn + 1;
    }
    return f;
fail:
    free(f);
    return NULL;
}

const char *gw_form_get(const gw_form *form, const char *key)
{
    if (form == NULL || key == NULL)
        return NULL;
    for (size_t i = 0; i < form->count; i++)
        if (strcmp(form->keys[i], key) == 0)
            return form->values[i];
    return NULL;
}

size_t gw_form_count(const gw_form *form)
{
    return form != NULL ? form->count : 0;
}

int gw_form_pair(const gw_form *form, size_t i, const char **key, const char **value)
{
    if (form == NULL || i >= form->count)
        return -1;
    if (key != NULL)
        *key = form->keys[i];
    if (value != NULL)
        *value = form->values[i];
    return 0;
}

void gw_form_free(gw_form *form)
{
    free(form);
}

char *gw_form_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (s == NULL)
        s = "";
    size_t len = strlen(s);
    char *out = malloc(len * 3 + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return out;
}
