/* gw_config_parse.c - the configuration's value parsers: numbers, lists,
 * host:port, Redis URLs, HH:MM, used by gw_config.c. Each returns false or
 * a reason string on a bad value; only gw_cfg_parse_redis_url allocates
 * (the password, owned by the config it fills). */
#include "gw_config_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Parses the decimal integer S[0..LEN) into *OUT if it lies in MIN..MAX. */
bool gw_cfg_parse_long(const char *s, size_t len, long min, long max, long *out)
{
    char buf[24];
    if (len == 0 || len >= sizeof buf || !(isdigit((unsigned char)s[0]) || s[0] == '-'))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Steps through a comma-separated list: the next item, blanks trimmed, in
 * *ITEM and *LEN; *P moves past it (NULL after the last). Returns false at the end. */
bool gw_cfg_next_item(const char **p, const char **item, size_t *len)
{
    if (*p == NULL)
        return false;
    const char *s = *p, *comma = strchr(s, ',');
    const char *e = comma != NULL ? comma : s + strlen(s);
    *p = comma != NULL ? comma + 1 : NULL;
    while (s < e && isblank((unsigned char)*s))
        s++;
    while (e > s && isblank((unsigned char)e[-1]))
        e--;
    *item = s;
    *len = (size_t)(e - s);
    return true;
}

bool gw_cfg_has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

bool gw_cfg_all_chars(const char *s, size_t len, const char *extra)
{
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
            return false;
    return len > 0;
}

bool gw_cfg_is_http_url(const char *v)
{
    const char *rest = strncmp(v, "http://", 7) == 0 ? v + 7
                       : strncmp(v, "https://", 8) == 0 ? v + 8 : NULL;
    if (rest == NULL || *rest == '\0' || *rest == '/')
        return false;
    for (const char *c = v; *c != '\0'; c++)
        if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c))
            return false;
    return true;
}

/* Parses "HOST[:PORT]" or "[V6][:PORT]" from S[0..LEN). NUMERIC: the host must
 * be an IPv4 address, a bracketed IPv6 address or localhost; otherwise a DNS
 * name is fine too. A missing port leaves *PORT alone unless PORT_REQUIRED.
 * Returns NULL, or why not. */
const char *gw_cfg_parse_hostport(const char *s, size_t len, bool numeric, bool port_required,
                                  char *host, size_t hostlen, int *port)
{
    const char *h = s, *he, *rest;
    bool v6 = len > 0 && s[0] == '[';
    if (v6) {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return "missing ] after the IPv6 address";
        h = s + 1;
        he = close;
        rest = close + 1;
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) != NULL)
            return "an IPv6 address needs brackets, e.g. [::1]:8080";
        he = rest = colon != NULL ? colon : s + len;
    }
    size_t hl = (size_t)(he - h);
    if (hl == 0)
        return "the host is empty";
    if (hl >= hostlen)
        return "the host is too long";
    memcpy(host, h, hl);
    host[hl] = '\0';
    unsigned char addr[16];
    if (v6) {
        if (inet_pton(AF_INET6, host, addr) != 1)
            return "not an IPv6 address between the brackets";
    } else if (numeric) {
        if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, addr) != 1)
            return "the host must be a numeric IPv4 address, [IPv6 address] or localhost";
    } else if (!gw_cfg_all_chars(host, hl, ".-_")) {
        return "the host name has characters other than letters, digits, '.', '-' and '_'";
    }
    if (rest == s + len)
        return port_required ? "a :PORT is required" : NULL;
    long p;
    if (*rest != ':')
        return "unexpected text after the host";
    if (!gw_cfg_parse_long(rest + 1, len - (size_t)(rest + 1 - s), 1, 65535, &p))
        return "the port must be an integer between 1 and 65535";
    *port = (int)p;
    return NULL;
}

/* Parses redis://[:PASSWORD@]HOST[:PORT][/DB] into CFG's redis_* fields. */
const char *gw_cfg_parse_redis_url(const char *v, gw_config *cfg)
{
    if (strncmp(v, "redis://", 8) != 0)
        return "only redis:// URLs are supported";
    const char *rest = v + 8, *at = strrchr(rest, '@');
    char *password = NULL;
    if (at != NULL) {
        if (rest[0] != ':')
            return "user names are not supported; write redis://:PASSWORD@HOST";
        if (at == rest + 1)
            return "the password is empty";
        password = strndup(rest + 1, (size_t)(at - rest - 1));
        if (password == NULL)
            return "out of memory";
        rest = at + 1;
    }
    const char *slash = strchr(rest, '/');
    size_t hostlen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
    int port = 6379;
    long db = 0;
    char host[sizeof cfg->redis_host];
    const char *why = gw_cfg_parse_hostport(rest, hostlen, false, false, host, sizeof host, &port);
    if (why == NULL && slash != NULL && slash[1] != '\0' &&
        !gw_cfg_parse_long(slash + 1, strlen(slash + 1), 0, 1023, &db))
        why = "the database must be an integer between 0 and 1023";
    if (why != NULL) {
        free(password);
        return why;
    }
    memcpy(cfg->redis_host, host, sizeof host);
    free(cfg->redis_password);
    cfg->redis_password = password;
    cfg->redis_port = port;
    cfg->redis_db = (int)db;
    return NULL;
}

/* "HH:MM" at S into minutes after midnight (24:00 allowed as an end). */
bool gw_cfg_parse_hhmm(const char *s, int *min)
{
    for (int i = 0; i < 5; i++)
        if (i == 2 ? s[i] != ':' : !isdigit((unsigned char)s[i]))
            return false;
    int h = (s[0] - '0') * 10 + s[1] - '0', m = (s[3] - '0') * 10 + s[4] - '0';
    if (h > 24 || m > 59 || (h == 24 && m != 0))
        return false;
    *min = h * 60 + m;
    return true;
}
