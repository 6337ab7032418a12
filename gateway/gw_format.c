/* gw_format.c - money in integer fen, calendar dates and masked names; see gw_format.h.
 *
 * Pure functions on caller buffers: no allocation, no global state, safe
 * from any thread. Money never passes through floating point: amounts are
 * read digit by digit into int64 fen, bounded well below overflow. */
#include "gw_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MONEY_MAX_YUAN 100000000LL

static int format_fail(char *err, size_t errlen, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    return -1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ---- money ---- */

int gw_money_parse(const char *s, int64_t *fen, char *err, size_t errlen)
{
    if (s == NULL)
        return format_fail(err, errlen, "empty amount");
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0)
        return format_fail(err, errlen, "empty amount");
    if (s[0] == '-')
        return format_fail(err, errlen, "negative amount");

    int64_t yuan = 0;
    size_t i = 0;
    for (; i < len && is_digit(s[i]); i++) {
        yuan = yuan * 10 + (s[i] - '0');
        if (yuan > MONEY_MAX_YUAN)
            return format_fail(err, errlen, "amount too large");
    }
    if (i == 0)
        return format_fail(err, errlen, "not an amount");
    int64_t cents = 0;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        for (; i < len && is_digit(s[i]); i++)
            if (i - start < 2)
                cents = cents * 10 + (s[i] - '0');
        size_t decimals = i - start;
        if (decimals == 0 && i == len)
            return format_fail(err, errlen, "not an amount");
        if (decimals > 2 && i == len)
            return format_fail(err, errlen, "more than two decimals");
        if (decimals == 1)
            cents *= 10;
    }
    if (i != len)
        return format_fail(err, errlen, "not an amount");
    if (yuan == MONEY_MAX_YUAN && cents > 0)
        return format_fail(err, errlen, "amount too large");
    if (fen != NULL)
        *fen = yuan * 100 + cents;
    return 0;
}

int gw_money_format(int64_t fen, char *out, size_t outlen)
{
    if (fen < 0 || out == NULL || outlen == 0)
        return -1;
    int n = fen % 100 == 0
                ? snprintf(out, outlen, "%" PRId64, fen / 100)
                : snprintf(out, outlen, "%" PRId64 ".%02d", fen / 100, (int)(fen % 100));
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        return -1;
    }
    return n;
}

/* ---- dates ---- */

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int gw_date_parse(const char *s, int *y, int *m, int *d)
{
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !is_digit(s[i]))
            return -1;
    int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int month = (s[5] - '0') * 10 + (s[6] - '0');
    int day = (s[8] - '0') * 10 + (s[9] - '0');
    if (year < 1900 || year > 2199 || month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month))
        return -1;
    if (y != NULL)
        *y = year;
    if (m != NULL)
        *m = month;
    if (d != NULL)
        *d = day;
    return 0;
}

int gw_date_entry_parse(const char *s, int this_year, int *y, int *m, int *d)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n != 8 && n != 4)
        return GW_DATE_ENTRY_FORMAT;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return GW_DATE_ENTRY_FORMAT;
    if (n == 4 && (this_year < 0 || this_year > 9999))
        return GW_DATE_ENTRY_NO_SUCH_DAY;
    char ymd[16];
    if (n == 8)
        snprintf(ymd, sizeof ymd, "%.4s-%.2s-%.2s", s, s + 4, s + 6);
    else
        snprintf(ymd, sizeof ymd, "%04d-%.2s-%.2s", this_year, s, s + 2);
    return gw_date_parse(ymd, y, m, d) == 0 ? 0 : GW_DATE_ENTRY_NO_SUCH_DAY;
}

/* ---- names ---- */

/* Length in bytes of the UTF-8 character at S (never past its NUL), or 0
 * when S does not start a well-formed character. */
static size_t utf8_char_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xC2 && s[0] <= 0xDF   ? 2
               : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
               : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                              : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

typedef struct mask_out {
    char *buf;
    size_t cap, len;
    int full;   /* a character did not fit: everything after is dropped */
} mask_out;

static void mask_put(mask_out *o, const char *bytes, size_t n)
{
    if (o->full || o->len + n >= o->cap) {
        o->full = 1;
        return;
    }
    memcpy(o->buf + o->len, bytes, n);
    o->len += n;
}

void gw_name_mask(const char *name, char *out, size_t outlen)
{
    if (out == NULL || outlen == 0)
        return;
    mask_out o = {out, outlen, 0, 0};
    const unsigned char *s = (const unsigned char *)(name != NULL ? name : "");

    /* Latin-script names (any ASCII letter) are masked word by word;
     * Chinese names keep the first and, from three characters, the last. */
    int words = 0;
    size_t chars = 0;
    for (const unsigned char *p = s; *p != '\0'; chars++) {
        size_t n = utf8_char_len(p);
        if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')
            words = 1;
        p += n > 0 ? n : 1;
    }

    size_t index = 0;
    int in_word = 0;
    for (const unsigned char *p = s; *p != '\0'; index++) {
        size_t n = utf8_char_len(p);
        int keep;
        if (words) {
            keep = *p == ' ' || !in_word;
            in_word = *p != ' ';
        } else {
            keep = index == 0 || (chars >= 3 && index == chars - 1);
        }
        if (!keep)
            mask_put(&o, "*", 1);
        else if (n == 0)
            mask_put(&o, "?", 1);
        else
            mask_put(&o, (const char *)p, n);
        p += n > 0 ? n : 1;
    }
    out[o.len] = '\0';
}

size_t gw_uint_format(char *out, uint64_t n)
{
    char tmp[20];
    size_t len = 0;
    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    for (size_t i = 0; i < len; i++)
        out[i] = tmp[len - 1 - i];
    return len;
}

size_t gw_utf8_char(const unsigned char *s, size_t len)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* ---- RFC 3339 ---- */

int64_t gw_days_from_civil(int y, int m, int d)
{
    /* H. Hinnant's days_from_civil: exact for every Gregorian date. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int gw_rfc3339_parse(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, se;
    char date[11];
    if (s == NULL || strlen(s) < 20)
        return -1;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (gw_date_parse(date, &y, &mo, &d) != 0 || (s[10] != 'T' && s[10] != 't') ||
        digits(s + 11, 2, &h) != 0 || s[13] != ':' || digits(s + 14, 2, &mi) != 0 ||
        s[16] != ':' || digits(s + 17, 2, &se) != 0 || h > 23 || mi > 59 || se > 60)
        return -1;
    const char *p = s + 19;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            frac_ms *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) != 0 || p[3] != ':' || digits(p + 4, 2, &om) != 0 ||
            oh > 23 || om > 59)
            return -1;
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    if (se == 60)
        se = 59;    /* a leap second is read as the second before it */
    int64_t secs = gw_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
                   (int64_t)offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}
