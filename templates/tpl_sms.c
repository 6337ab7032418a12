/* tpl_sms.c - an SMS as it goes on the air: its encoding (GSM-7 when every
 * character is in GSM 03.38, else UCS-2), its length in septets or UTF-16
 * units and its number of parts; the replacement of look-alike punctuation
 * that lets a text stay GSM-7; and the message actually sent (signature +
 * text). See tpl.h.
 * Pure functions; tpl_sms_normalize and tpl_sms_prepare allocate their
 * result, nothing else allocates. Invalid UTF-8 bytes are never GSM-7 and
 * count one UCS-2 unit each, as in tpl_encoding.c. */
#include "tpl.h"
#include "tpl_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define GSM7_SINGLE 160     /* septets in a message of one part */
#define GSM7_PART 153       /* septets per part once split (7 go to the UDH) */
#define UCS2_SINGLE 70      /* UTF-16 units in a message of one part */
#define UCS2_PART 67        /* UTF-16 units per part once split */

/* ---- measuring ---- */

void tpl_sms_measure(const char *s, size_t len, tpl_sms *info)
{
    int ucs2 = !tpl_gsm7_encodable(s, len);
    size_t single = ucs2 ? UCS2_SINGLE : GSM7_SINGLE, part = ucs2 ? UCS2_PART : GSM7_PART;
    size_t units = 0, fill = 0, parts = 1;
    uint32_t cp;
    /* Fill parts in order: a character whose septets (escape + code) or
     * units (surrogate pair) do not fit in what is left of a part starts
     * the next one whole. */
    for (size_t i = 0; i < len;) {
        i += tpl_utf8_next(s + i, len - i, &cp);
        size_t w = ucs2 ? tpl_ucs2_cp_units(cp) : tpl_gsm7_cp_septets(cp);
        units += w;
        if (fill + w > part) {
            parts++;
            fill = w;
        } else {
            fill += w;
        }
    }
    info->ucs2 = ucs2;
    info->units = units;
    /* an empty message still goes as one part */
    info->segments = units <= single ? 1 : parts > INT_MAX ? INT_MAX : (int)parts;
}

/* ---- look-alike punctuation ---- */

/* The GSM-7 text that stands for CP in place of a look-alike: a string of
 * ASCII ("" for a character that is dropped), or NULL when CP is kept as
 * is. BUF receives a full-width form's ASCII character. */
static const char *lookalike(uint32_t cp, char buf[2])
{
    if (cp >= 0xFF01 && cp <= 0xFF5E) {   /* full-width ASCII forms */
        buf[0] = (char)(cp - 0xFEE0);
        buf[1] = '\0';
        return buf[0] == '`' ? "'" : buf;
    }
    switch (cp) {
    case 0x0060:            /* grave accent: not in GSM 03.38 */
    case 0x00B4:            /* acute accent */
    case 0x2018: case 0x2019: case 0x201A: case 0x201B:     /* single quotes */
    case 0x2032: case 0x2035:                               /* prime, reversed prime */
        return "'";
    case 0x201C: case 0x201D: case 0x201E: case 0x201F:     /* double quotes */
    case 0x2033: case 0x2036:                               /* double primes */
        return "\"";
    case 0x2010: case 0x2011: case 0x2012:                  /* hyphens, figure dash */
    case 0x2013: case 0x2014: case 0x2015:                  /* en, em dash, bar */
    case 0x2212:                                            /* minus sign */
        return "-";
    case 0x2026:                                            /* ellipsis */
        return "...";
    case 0x0009:                                            /* tab */
    case 0x00A0:                                            /* no-break space */
    case 0x2000: case 0x2001: case 0x2002: case 0x2003: case 0x2004: case 0x2005:
    case 0x2006: case 0x2007: case 0x2008: case 0x2009: case 0x200A:  /* en quad .. hair */
    case 0x202F: case 0x205F:                               /* narrow, math spaces */
    case 0x3000:                                            /* ideographic space */
        return " ";
    case 0x00AD:                                            /* soft hyphen */
    case 0x200B: case 0x2060: case 0xFEFF:                  /* zero-width spaces */
        return "";
    case 0x3001:                                            /* ideographic comma */
        return ",";
    case 0x3002:                                            /* ideographic full stop */
        return ".";
    case 0xFFE1:                                            /* full-width pound */
        return "\xC2\xA3";
    case 0xFFE5:                                            /* full-width yen */
        return "\xC2\xA5";
    default:
        return NULL;
    }
}

char *tpl_sms_normalize(const char *s, size_t len, size_t *outlen)
{
    char buf[2];
    size_t n = 0;
    int gsm = 1, changed = 0;
    uint32_t cp;
    /* First pass: is the replaced text all GSM-7, and how long is it? */
    for (size_t i = 0; i < len && gsm;) {
        size_t cl = tpl_utf8_next(s + i, len - i, &cp);
        const char *r = cp == TPL_CP_BAD ? NULL : lookalike(cp, buf);
        if (r != NULL) {
            changed = 1;
            n += strlen(r);   /* ASCII, or the two bytes of £ ¥: all GSM-7 */
        } else if (cp == TPL_CP_BAD || tpl_gsm7_cp_septets(cp) == 0) {
            gsm = 0;          /* it goes as UCS-2 anyway: keep it as written */
        } else {
            n += cl;
        }
        i += cl;
    }
    if (!gsm || !changed) {
        changed = 0;
        n = len;
    }
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    if (!changed) {
        if (len > 0)
            memcpy(out, s, len);
    } else {
        size_t o = 0;
        for (size_t i = 0; i < len;) {
            size_t cl = tpl_utf8_next(s + i, len - i, &cp);
            const char *r = lookalike(cp, buf);
            size_t rl = r != NULL ? strlen(r) : cl;
            memcpy(out + o, r != NULL ? r : s + i, rl);
            o += rl;
            i += cl;
        }
    }
    out[n] = '\0';
    if (outlen != NULL)
        *outlen = n;
    return out;
}

/* ---- the message sent ---- */

char *tpl_sms_prepare(const char *signature, const char *text, size_t len, tpl_sms *info)
{
    size_t sl = signature != NULL ? strlen(signature) : 0;
    if (text == NULL && len > 0)
        return NULL;
    if (!tpl_utf8_valid(signature, sl) || !tpl_utf8_valid(text, len) ||
        (len > 0 && memchr(text, '\0', len) != NULL) || len > SIZE_MAX - 1 - sl)
        return NULL;
    char *msg = malloc(sl + len + 1);
    if (msg == NULL)
        return NULL;
    if (sl > 0)
        memcpy(msg, signature, sl);
    if (len > 0)
        memcpy(msg + sl, text, len);
    msg[sl + len] = '\0';
    size_t n;
    char *out = tpl_sms_normalize(msg, sl + len, &n);
    free(msg);
    if (out != NULL && info != NULL)
        tpl_sms_measure(out, n, info);
    return out;
}
