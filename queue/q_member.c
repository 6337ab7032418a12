/* q_member.c - the queue's pure helpers: lane names, the member string of a
 * queued message, retry backoff and token-bucket sizing. No I/O, no state;
 * unit-tested in tests/queue/test_q_member.c. */
#include "q.h"

#include <ctype.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS (5 * 60 * 1000)

const char *q_lane_name(q_lane lane)
{
    return lane == Q_REPLY ? "reply" : "bulk";
}

int q_lane_parse(const char *s)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "reply") == 0)
        return Q_REPLY;
    if (strcmp(s, "bulk") == 0)
        return Q_BULK;
    return -1;
}

/* Reads a decimal field of P up to ':' or END into *V; returns the position
 * after the ':' (or END), or NULL when it is not a number. */
static const char *field_num(const char *p, const char *end, int64_t *v)
{
    int64_t x = 0;
    const char *start = p;
    while (p < end && *p >= '0' && *p <= '9') {
        if (x > (INT64_MAX - 9) / 10)
            return NULL;
        x = x * 10 + (*p - '0');
        p++;
    }
    if (p == start || (p < end && *p != ':'))
        return NULL;
    *v = x;
    return p < end ? p + 1 : p;
}

/* Copies a text field of P up to ':' (or END when LAST) into OUT. */
static const char *field_str(const char *p, const char *end, char *out, size_t outlen, int last)
{
    const char *q = p;
    while (q < end && (last || *q != ':'))
        q++;
    size_t n = (size_t)(q - p);
    if (n >= outlen || memchr(p, '|', n) != NULL)
        return NULL;
    memcpy(out, p, n);
    out[n] = '\0';
    return q < end ? q + 1 : q;
}

int q_member_parse(const char *member, size_t len, q_item *out)
{
    const char *p = member, *end = member + len;
    int64_t id, attempt, seg;
    memset(out, 0, sizeof *out);
    if ((p = field_num(p, end, &id)) == NULL || p == end ||
        (p = field_num(p, end, &attempt)) == NULL || p == end ||
        (p = field_num(p, end, &seg)) == NULL || p == end)
        return -1;
    if (attempt > 1000 || seg < 1 || seg > 255)
        return -1;
    if ((p = field_str(p, end, out->phone, sizeof out->phone, 0)) == NULL || p == end ||
        p[-1] != ':')
        return -1;
    if ((p = field_str(p, end, out->body_id, sizeof out->body_id, 0)) == NULL ||
        out->body_id[0] == '\0')
        return -1;
    if (p < end && field_str(p, end, out->extra, sizeof out->extra, 1) == NULL)
        return -1;
    if (out->phone[0] == '\0')
        return -1;
    out->id = id;
    out->attempt = (int)attempt;
    out->segments = (int)seg;
    return 0;
}

static int clean(const char *s)
{
    return strchr(s, ':') == NULL && strchr(s, '|') == NULL;
}

int q_member_format(const q_item *item, char *buf, size_t buflen)
{
    if (!clean(item->phone) || !clean(item->body_id) || !clean(item->extra) ||
        item->phone[0] == '\0' || item->body_id[0] == '\0' || item->id < 0 ||
        item->attempt < 0 || item->segments < 1)
        return -1;
    int n = snprintf(buf, buflen, "%lld:%d:%d:%s:%s%s%s", (long long)item->id, item->attempt,
                     item->segments, item->phone, item->body_id, item->extra[0] ? ":" : "",
                     item->extra);
    if (n < 0 || (size_t)n >= buflen)
        return -1;
    return n;
}

int64_t q_backoff_ms(int attempt, uint32_t rnd)
{
    if (attempt < 1)
        attempt = 1;
    int64_t base = BACKOFF_BASE_MS;
    for (int i = 1; i < attempt && base < BACKOFF_CAP_MS; i++)
        base *= 2;
    if (base > BACKOFF_CAP_MS)
        base = BACKOFF_CAP_MS;
    int64_t half = base / 2;
    return half + (int64_t)(rnd % (uint32_t)(half + 1));
}

double q_bucket_burst(int max_tps, int max_segments)
{
    if (max_tps <= 0)
        return 0;
    double burst = max_tps / 5.0;
    if (burst < max_segments)
        burst = max_segments;
    if (burst < 1)
        burst = 1;
    return burst;
}

void q_carrier_id_norm(const char *in, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    while (*in == '0' && in[1] != '\0')
        in++;
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < outlen; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}
