/* tpl_encoding.c - UTF-8 validation and how long a text is on the air:
 * GSM 03.38 septets (basic table 1, extension table 2) and UCS-2 (UTF-16)
 * units, and the USSD screen length and limit that follow.
 * Pure functions over (pointer, length); no state, no allocation.
 * Invalid UTF-8 bytes are never GSM-7 and count one UCS-2 unit each (as
 * the replacement character a carrier would send). */
#include "tpl.h"
#include "tpl_internal.h"

/* The non-ASCII characters of the GSM 03.38 basic table, sorted. */
static const uint16_t gsm_basic_high[] = {
    0x00A1, 0x00A3, 0x00A4, 0x00A5, 0x00A7, 0x00BF, 0x00C4, 0x00C5, 0x00C6, 0x00C7,
    0x00C9, 0x00D1, 0x00D6, 0x00D8, 0x00DC, 0x00DF, 0x00E0, 0x00E4, 0x00E5, 0x00E6,
    0x00E8, 0x00E9, 0x00EC, 0x00F1, 0x00F2, 0x00F6, 0x00F8, 0x00F9, 0x00FC,
    0x0393, 0x0394, 0x0398, 0x039B, 0x039E, 0x03A0, 0x03A3, 0x03A6, 0x03A8, 0x03A9,
};

size_t tpl_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned c = u[0];
    size_t n;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07;
    } else {
        goto bad;   /* continuation byte, C0/C1 (always overlong), F5.. */
    }
    if (len < n)
        goto bad;
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            goto bad;
        v = (v << 6) | (u[i] & 0x3F);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF))
        goto bad;
    *cp = v;
    return n;
bad:
    *cp = TPL_CP_BAD;
    return 1;
}

unsigned tpl_gsm7_cp_septets(uint32_t cp)
{
    if (cp < 0x80) {
        switch (cp) {
        case '\n': case '\r':
            return 1;
        case '^': case '{': case '}': case '\\': case '[': case '~': case ']': case '|':
            return 2;
        case '\f':
            return 2;   /* extension 0x0A, page break */
        case '`':
            return 0;
        default:
            return cp >= 0x20 && cp < 0x7F ? 1 : 0;
        }
    }
    if (cp == 0x20AC)   /* euro sign, extension 0x65 */
        return 2;
    size_t lo = 0, hi = sizeof gsm_basic_high / sizeof gsm_basic_high[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (gsm_basic_high[mid] == cp)
            return 1;
        if (gsm_basic_high[mid] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

unsigned tpl_ucs2_cp_units(uint32_t cp)
{
    return cp != TPL_CP_BAD && cp > 0xFFFF ? 2 : 1;
}

int tpl_utf8_valid(const char *s, size_t len)
{
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;   /* fast path: ASCII */
            continue;
        }
        i += tpl_utf8_next(s + i, len - i, &cp);
        if (cp == TPL_CP_BAD)
            return 0;
    }
    return 1;
}

int tpl_gsm7_encodable(const char *s, size_t len)
{
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        i += tpl_utf8_next(s + i, len - i, &cp);
        if (cp == TPL_CP_BAD || tpl_gsm7_cp_septets(cp) == 0)
            return 0;
    }
    return 1;
}

size_t tpl_gsm7_septets(const char *s, size_t len)
{
    size_t n = 0;
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        i += tpl_utf8_next(s + i, len - i, &cp);
        unsigned sp = cp == TPL_CP_BAD ? 0 : tpl_gsm7_cp_septets(cp);
        n += sp != 0 ? sp : 1;   /* not GSM: counted 1, see tpl.h */
    }
    return n;
}

size_t tpl_ucs2_units(const char *s, size_t len)
{
    size_t n = 0;
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        i += tpl_utf8_next(s + i, len - i, &cp);
        n += tpl_ucs2_cp_units(cp);
    }
    return n;
}

size_t tpl_ussd_length(const char *s, size_t len, size_t *limit)
{
    size_t septets = 0, units = 0;
    int gsm = 1;
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        i += tpl_utf8_next(s + i, len - i, &cp);
        unsigned sp = cp == TPL_CP_BAD ? 0 : tpl_gsm7_cp_septets(cp);
        if (sp == 0)
            gsm = 0;
        septets += sp;
        units += tpl_ucs2_cp_units(cp);
    }
    if (limit != NULL)
        *limit = gsm ? TPL_USSD_GSM7_MAX : TPL_USSD_UCS2_MAX;
    return gsm ? septets : units;
}
