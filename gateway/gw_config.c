/* gw_config.c - loads and checks the gateway's INI file; see gw_config.h.
 *
 * inih does the tokenising through ini_parse_stream; our reader wraps fgets,
 * counts physical lines (so every message can name one), strips leading
 * blanks (which turns off inih's indented continuation lines) and handles
 * "[section]" headers itself, so empty and unknown sections are seen too.
 * Keys are checked as they come, against one table for the fixed sections
 * and one for [provider NAME]; checks that need the whole file (required
 * keys, per-type provider keys, default_provider) run after the parse.
 * The first error wins and stops the parse. Runs on the loading thread only;
 * the returned gw_config owns every string in it. */
#include "gw_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "gw_config_internal.h"

#define SECRET_MAX 65536      /* largest file: value */
#define ZONEINFO "/usr/share/zoneinfo/"
#define MAX_BODY_MIN 1024L
#define MAX_BODY_MAX (1L << 30)

/* ---- tables ---- */

enum { S_HTTP, S_ADMIN, S_REDIS, S_RECORDS, S_USSD, S_SMS, S_REMINDERS, S_CLAIMS,
       S_CALENDAR, S_TEMPLATES, S_COUNT, S_PROVIDER = S_COUNT, S_NONE = -1 };

static const char *const section_names[S_COUNT] = {
    "http", "admin", "redis", "records", "ussd", "sms", "reminders", "claims",
    "calendar", "templates"};

typedef struct loader loader;
typedef struct keydef keydef;
typedef int (*setter)(loader *ld, const keydef *k, const char *v);

struct keydef {
    int section;
    const char *key;
    setter set;
    size_t off;         /* field in gw_config */
    long min, max;      /* for numbers and lengths */
    bool required;
};

/* Provider types as bits, so a key can list the types that allow it. */
enum { T_AT = 1, T_TWILIO = 2, T_KANNEL = 4, T_CONSOLE = 8,
       T_HTTP = T_AT | T_TWILIO | T_KANNEL, T_ALL = T_HTTP | T_CONSOLE };

static const struct { const char *name; unsigned bit; } provider_types[] = {
    {"africastalking", T_AT}, {"twilio", T_TWILIO}, {"kannel", T_KANNEL}, {"console", T_CONSOLE}};

enum { P_TYPE, P_STR, P_URL, P_INT };

typedef struct pkeydef {
    const char *key;
    int kind;
    size_t off;         /* field in gw_provider_conf */
    long min, max;
    unsigned allowed, required;   /* type bits */
} pkeydef;

#define POFF(f) offsetof(gw_provider_conf, f)
static const pkeydef provider_keys[] = {
    {"type",        P_TYPE, POFF(type),        0, 0,      T_ALL,             T_ALL},
    {"base_url",    P_URL,  POFF(base_url),    0, 0,      T_HTTP,            T_KANNEL},
    {"sender",      P_STR,  POFF(sender),      0, 0,      T_ALL,             0},
    {"max_tps",     P_INT,  POFF(max_tps),     0, 10000,  T_ALL,             0},
    {"timeout_ms",  P_INT,  POFF(timeout_ms),  50, 120000, T_HTTP,           0},
    {"priority",    P_INT,  POFF(priority),    0, 10000,  T_ALL,             0},
    {"username",    P_STR,  POFF(username),    0, 0,      T_AT | T_KANNEL,   T_AT | T_KANNEL},
    {"api_key",     P_STR,  POFF(api_key),     0, 0,      T_AT,              T_AT},
    {"account_sid", P_STR,  POFF(account_sid), 0, 0,      T_TWILIO,          T_TWILIO},
    {"auth_token",  P_STR,  POFF(auth_token),  0, 0,      T_TWILIO,          T_TWILIO},
    {"password",    P_STR,  POFF(password),    0, 0,      T_KANNEL,          T_KANNEL},
    {"path",        P_STR,  POFF(path),        0, 0,      T_CONSOLE,         0},
};
#define N_PKEYS (sizeof provider_keys / sizeof provider_keys[0])

/* What the loader remembers about one [provider NAME] beyond gw_provider_conf. */
typedef struct provider_meta {
    gw_provider_conf *conf;
    int header_line;
    int key_line[N_PKEYS];
    struct provider_meta *next;
} provider_meta;

struct loader {
    gw_config *cfg;
    const char *path;
    FILE *fp;
    int line;                   /* physical line just handed to inih */
    bool failed;
    int err_line;
    char msg[1024];
    int section;                /* S_* of the current header */
    int section_line[S_COUNT];  /* header line, 0 = absent */
    int *key_line;              /* parallel to keydefs */
    provider_meta *providers, *provider_tail, *provider; /* provider = current */
    gw_provider_conf **conf_tail;
};

/* ---- errors ---- */

/* Records the first error: "FILE:LINE: WHAT: reason" ("FILE:LINE: reason"
 * when WHAT is NULL). Returns -1 for the callers' convenience. */
__attribute__((format(printf, 4, 5)))
static int fail(loader *ld, int line, const char *what, const char *fmt, ...)
{
    if (ld->failed)
        return -1;
    ld->failed = true;
    ld->err_line = line;
    int n = snprintf(ld->msg, sizeof ld->msg, "%s:%d: %s%s", ld->path, line,
                     what != NULL ? what : "", what != NULL ? ": " : "");
    if (n > 0 && (size_t)n < sizeof ld->msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ld->msg + n, sizeof ld->msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int oom(loader *ld, const char *key)
{
    return fail(ld, ld->line, key, "out of memory");
}


/* Reads the secret file PATH: its contents without trailing newlines. */
static char *read_secret(loader *ld, const char *key, const char *path)
{
    if (*path == '\0') {
        fail(ld, ld->line, key, "file: needs a path");
        return NULL;
    }
    FILE *fp = fopen(path, "r");
    char *buf = malloc(SECRET_MAX + 1);
    size_t n = 0;
    int e = 0;
    if (fp == NULL || buf == NULL) {
        e = fp == NULL ? errno : ENOMEM;
    } else {
        n = fread(buf, 1, SECRET_MAX + 1, fp);
        if (ferror(fp))
            e = errno != 0 ? errno : EIO;
    }
    if (fp != NULL)
        fclose(fp);
    if (e != 0 || n > SECRET_MAX || memchr(buf, '\0', n) != NULL) {
        if (e != 0)
            fail(ld, ld->line, key, "cannot read %s: %s", path, strerror(e));
        else
            fail(ld, ld->line, key, "%s: %s", path,
                 n > SECRET_MAX ? "larger than 65536 bytes" : "contains a NUL byte");
        free(buf);
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return buf;
}

/* The value as given, or what "env:NAME" / "file:PATH" point at; malloc'd. */
static char *resolve(loader *ld, const char *key, const char *v)
{
    if (strncmp(v, "file:", 5) == 0)
        return read_secret(ld, key, v + 5);
    if (strncmp(v, "env:", 4) == 0) {
        if (v[4] == '\0') {
            fail(ld, ld->line, key, "env: needs a variable name");
            return NULL;
        }
        const char *env = getenv(v + 4);
        if (env == NULL) {
            fail(ld, ld->line, key, "environment variable %s is not set", v + 4);
            return NULL;
        }
        v = env;
    }
    char *s = strdup(v);
    if (s == NULL)
        oom(ld, key);
    return s;
}

/* ---- setters for the fixed sections ---- */

#define FIELD(cfg, k, type) ((type *)((char *)(cfg) + (k)->off))

static int put_string(loader *ld, const char *key, char **slot, const char *v)
{
    char *s = strdup(v);
    if (s == NULL)
        return oom(ld, key);
    free(*slot);
    *slot = s;
    return 0;
}

static int set_int(loader *ld, const keydef *k, const char *v)
{
    long n;
    if (!gw_cfg_parse_long(v, strlen(v), k->min, k->max, &n))
        return fail(ld, ld->line, k->key, "must be an integer between %ld and %ld", k->min, k->max);
    *FIELD(ld->cfg, k, int) = (int)n;
    return 0;
}

static int set_size(loader *ld, const keydef *k, const char *v)
{
    long n;
    if (!gw_cfg_parse_long(v, strlen(v), k->min, k->max, &n))
        return fail(ld, ld->line, k->key, "must be an integer between %ld and %ld", k->min, k->max);
    *FIELD(ld->cfg, k, size_t) = (size_t)n;
    return 0;
}

/* Free text of MIN..MAX bytes without control characters. */
static int set_text(loader *ld, const keydef *k, const char *v)
{
    size_t len = strlen(v);
    if (len == 0 && k->min > 0)
        return fail(ld, ld->line, k->key, "must not be empty");
    if (len > (size_t)k->max)
        return fail(ld, ld->line, k->key, "must be at most %ld bytes", k->max);
    if (gw_cfg_has_control(v))
        return fail(ld, ld->line, k->key, "must not contain control characters");
    return put_string(ld, k->key, FIELD(ld->cfg, k, char *), v);
}

/* A name: letters, digits, '.', '_' and '-'. */
static int set_word(loader *ld, const keydef *k, const char *v)
{
    if (!gw_cfg_all_chars(v, strlen(v), "._-"))
        return fail(ld, ld->line, k->key, "must be a name of letters, digits, '.', '_' and '-'");
    return put_string(ld, k->key, FIELD(ld->cfg, k, char *), v);
}

static int set_listen(loader *ld, const keydef *k, const char *v)
{
    gw_listen l = {.port = 0};
    const char *why = gw_cfg_parse_hostport(v, strlen(v), true, true, l.host, sizeof l.host, &l.port);
    if (why != NULL)
        return fail(ld, ld->line, k->key, "%s; expected HOST:PORT or [IPV6]:PORT", why);
    *FIELD(ld->cfg, k, gw_listen) = l;
    return 0;
}

static int set_token(loader *ld, const keydef *k, const char *v)
{
    if (strlen(v) < 16)
        return fail(ld, ld->line, k->key, "must be at least 16 characters");
    for (const char *c = v; *c != '\0'; c++)
        if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c))
            return fail(ld, ld->line, k->key, "must not contain blanks or control characters");
    return put_string(ld, k->key, &ld->cfg->admin_token, v);
}

static int set_redis_url(loader *ld, const keydef *k, const char *v)
{
    const char *why = gw_cfg_parse_redis_url(v, ld->cfg);
    if (why != NULL)
        return fail(ld, ld->line, k->key, "%s; expected redis://[:PASSWORD@]HOST[:PORT][/DB]", why);
    return put_string(ld, k->key, &ld->cfg->redis_url, v);
}

static int set_sentinels(loader *ld, const keydef *k, const char *v)
{
    const char *p = v, *item, *why;
    size_t len;
    char host[256];
    int port;
    while (gw_cfg_next_item(&p, &item, &len))
        if ((why = gw_cfg_parse_hostport(item, len, false, true, host, sizeof host, &port)) != NULL)
            return fail(ld, ld->line, k->key, "\"%.*s\": %s; expected HOST:PORT,HOST:PORT",
                        (int)len, item, why);
    return put_string(ld, k->key, &ld->cfg->redis_sentinels, v);
}

static int set_backend(loader *ld, const keydef *k, const char *v)
{
    if (strcmp(v, "redis") != 0 && strcmp(v, "http") != 0)
        return fail(ld, ld->line, k->key, "must be redis or http");
    return put_string(ld, k->key, &ld->cfg->records_backend, v);
}

static int set_http_url(loader *ld, const keydef *k, const char *v)
{
    if (!gw_cfg_is_http_url(v))
        return fail(ld, ld->line, k->key, "must be a URL starting with http:// or https://");
    return put_string(ld, k->key, FIELD(ld->cfg, k, char *), v);
}

static int set_service_code(loader *ld, const keydef *k, const char *v)
{
    size_t len = strlen(v);
    bool ok = len >= 3 && len <= 32 && (v[0] == '*' || v[0] == '#') && v[len - 1] == '#' &&
              strspn(v, "0123456789*#") == len && strpbrk(v, "0123456789") != NULL;
    if (!ok)
        return fail(ld, ld->line, k->key,
                    "must be a USSD code of digits, * and #, e.g. *120*12345#");
    return put_string(ld, k->key, &ld->cfg->ussd_service_code, v);
}

/* The sender signature: at most MAX characters (UTF-8 code points). */
static int set_signature(loader *ld, const keydef *k, const char *v)
{
    long chars = 0;
    for (const char *c = v; *c != '\0'; c++)
        chars += ((unsigned char)*c & 0xc0) != 0x80;
    if (chars > k->max)
        return fail(ld, ld->line, k->key, "must be at most %ld characters", k->max);
    if (gw_cfg_has_control(v))
        return fail(ld, ld->line, k->key, "must not contain control characters");
    return put_string(ld, k->key, &ld->cfg->sms_signature, v);
}

static int set_timezone(loader *ld, const keydef *k, const char *v)
{
    char file[512];
    struct stat st;
    if (!gw_cfg_all_chars(v, strlen(v), "/_+-") || v[0] == '/' || strstr(v, "..") != NULL)
        return fail(ld, ld->line, k->key, "must be a tz database name such as Asia/Shanghai");
    if ((size_t)snprintf(file, sizeof file, ZONEINFO "%s", v) >= sizeof file ||
        stat(file, &st) != 0 || !S_ISREG(st.st_mode))
        return fail(ld, ld->line, k->key, "unknown time zone %s (not in " ZONEINFO ")", v);
    return put_string(ld, k->key, &ld->cfg->reminders_timezone, v);
}

static int set_window(loader *ld, const keydef *k, const char *v)
{
    int start, end;
    if (strlen(v) != 11 || v[5] != '-' || !gw_cfg_parse_hhmm(v, &start) || !gw_cfg_parse_hhmm(v + 6, &end) ||
        start >= end)
        return fail(ld, ld->line, k->key, "must be HH:MM-HH:MM with the start before the end, "
                    "e.g. 08:00-20:00");
    ld->cfg->send_window_start_min = start;
    ld->cfg->send_window_end_min = end;
    return 0;
}

static int set_offsets(loader *ld, const keydef *k, const char *v)
{
    int days[16], n = 0;
    const char *p = *v != '\0' ? v : NULL, *item;
    size_t len;
    long d;
    while (gw_cfg_next_item(&p, &item, &len)) {
        if (n == 16 || !gw_cfg_parse_long(item, len, 0, 365, &d))
            return fail(ld, ld->line, k->key,
                        "must be up to 16 comma-separated days between 0 and 365, e.g. 30,7,1");
        for (int i = 0; i < n; i++)
            if (days[i] == (int)d)
                return fail(ld, ld->line, k->key, "%ld is listed twice", d);
        days[n++] = (int)d;
    }
    memcpy(ld->cfg->unpaid_offsets_days, days, sizeof days);
    ld->cfg->unpaid_offsets_count = n;
    return 0;
}

static int set_calendar(loader *ld, const keydef *k, const char *v)
{
    size_t n = 0, len;
    const char *p = *v != '\0' ? v : NULL, *item;
    while (gw_cfg_next_item(&p, &item, &len))
        n++;
    char **files = calloc(n + 1, sizeof *files);
    if (files == NULL)
        return oom(ld, k->key);
    p = *v != '\0' ? v : NULL;
    for (size_t i = 0; gw_cfg_next_item(&p, &item, &len); i++) {
        struct stat st;
        int fd = -1;
        if (len == 0) {
            fail(ld, ld->line, k->key, "empty path in the list");
        } else if ((files[i] = strndup(item, len)) == NULL) {
            oom(ld, k->key);
        } else if ((fd = open(files[i], O_RDONLY)) < 0 || fstat(fd, &st) != 0) {
            fail(ld, ld->line, k->key, "cannot read %s: %s", files[i], strerror(errno));
        } else if (!S_ISREG(st.st_mode)) {
            fail(ld, ld->line, k->key, "%s is not a regular file", files[i]);
        }
        if (fd >= 0)
            close(fd);
        if (ld->failed)
            break;
    }
    char **old = ld->failed ? files : ld->cfg->calendar_files;
    if (!ld->failed)
        ld->cfg->calendar_files = files;
    for (size_t i = 0; old[i] != NULL; i++)
        free(old[i]);
    free(old);
    return ld->failed ? -1 : 0;
}

static int set_dir(loader *ld, const keydef *k, const char *v)
{
    struct stat st;
    if (*v == '\0')
        return fail(ld, ld->line, k->key, "must not be empty");
    if (stat(v, &st) != 0)
        return fail(ld, ld->line, k->key, "cannot open %s: %s", v, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fail(ld, ld->line, k->key, "%s is not a directory", v);
    return put_string(ld, k->key, &ld->cfg->templates_dir, v);
}

/* Every key of the fixed sections, with its setter, field, bounds and whether
 * it is required. */
#define COFF(f) offsetof(gw_config, f)
static const keydef keydefs[] = {
    {S_HTTP, "listen", set_listen, COFF(http_listen), 0, 0, false},
    {S_HTTP, "max_body_bytes", set_size, COFF(http_max_body), MAX_BODY_MIN, MAX_BODY_MAX, false},
    {S_ADMIN, "listen", set_listen, COFF(admin_listen), 0, 0, false},
    {S_ADMIN, "token", set_token, COFF(admin_token), 0, 0, true},
    {S_ADMIN, "max_body_bytes", set_size, COFF(admin_max_body), MAX_BODY_MIN, MAX_BODY_MAX, false},
    {S_REDIS, "url", set_redis_url, COFF(redis_url), 0, 0, false},
    {S_REDIS, "sentinels", set_sentinels, COFF(redis_sentinels), 0, 0, false},
    {S_REDIS, "master", set_word, COFF(redis_master), 0, 0, false},
    {S_RECORDS, "backend", set_backend, COFF(records_backend), 0, 0, false},
    {S_RECORDS, "url", set_http_url, COFF(records_url), 0, 0, false},
    {S_RECORDS, "timeout_ms", set_int, COFF(records_timeout_ms), 50, 120000, false},
    {S_USSD, "service_code", set_service_code, COFF(ussd_service_code), 0, 0, true},
    {S_USSD, "session_ttl_s", set_int, COFF(ussd_session_ttl_s), 10, 3600, false},
    {S_USSD, "hop_deadline_ms", set_int, COFF(ussd_hop_deadline_ms), 50, 60000, false},
    {S_USSD, "hotline", set_text, COFF(ussd_hotline), 1, 32, true},
    {S_SMS, "signature", set_signature, COFF(sms_signature), 0, 24, false},
    {S_SMS, "max_segments", set_int, COFF(sms_max_segments), 1, 10, false},
    {S_SMS, "default_provider", set_word, COFF(sms_default_provider), 0, 0, false},
    {S_REMINDERS, "timezone", set_timezone, COFF(reminders_timezone), 0, 0, false},
    {S_REMINDERS, "send_window", set_window, 0, 0, 0, false},
    {S_REMINDERS, "unpaid_offsets_days", set_offsets, 0, 0, 0, false},
    {S_REMINDERS, "min_interval_hours", set_int, COFF(min_interval_hours), 0, 720, false},
    {S_CLAIMS, "accident_days", set_int, COFF(claims_accident_days), 1, 365, false},
    {S_CLAIMS, "critical_illness_days", set_int, COFF(claims_critical_illness_days), 1, 365, false},
    {S_CALENDAR, "files", set_calendar, COFF(calendar_files), 0, 0, false},
    {S_TEMPLATES, "dir", set_dir, COFF(templates_dir), 0, 0, false},
};
#define N_KEYS (sizeof keydefs / sizeof keydefs[0])

static int key_index(int section, const char *key)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (keydefs[i].section == section && strcmp(keydefs[i].key, key) == 0)
            return (int)i;
    return -1;
}

/* ---- providers ---- */

static unsigned type_bit(const char *type)
{
    for (size_t i = 0; type != NULL && i < sizeof provider_types / sizeof provider_types[0]; i++)
        if (strcmp(provider_types[i].name, type) == 0)
            return provider_types[i].bit;
    return 0;
}

static int set_provider_key(loader *ld, const pkeydef *pk, const char *v)
{
    gw_provider_conf *p = ld->provider->conf;
    void *field = (char *)p + pk->off;
    long n;
    switch (pk->kind) {
    case P_TYPE:
        if (type_bit(v) == 0)
            return fail(ld, ld->line, pk->key, "must be africastalking, twilio, kannel or console");
        break;
    case P_URL:
        if (!gw_cfg_is_http_url(v))
            return fail(ld, ld->line, pk->key, "must be a URL starting with http:// or https://");
        break;
    case P_INT:
        if (!gw_cfg_parse_long(v, strlen(v), pk->min, pk->max, &n))
            return fail(ld, ld->line, pk->key, "must be an integer between %ld and %ld",
                        pk->min, pk->max);
        *(int *)field = (int)n;
        return 0;
    default:
        if (*v == '\0')
            return fail(ld, ld->line, pk->key, "must not be empty");
        if (gw_cfg_has_control(v))
            return fail(ld, ld->line, pk->key, "must not contain control characters");
    }
    return put_string(ld, pk->key, (char **)field, v);
}

/* Starts "[provider NAME]" (REST is what follows "provider"). */
static int begin_provider(loader *ld, const char *section, const char *rest)
{
    const char *name = rest + strspn(rest, " \t");
    size_t len = strlen(name);
    if (name == rest || !gw_cfg_all_chars(name, len, "_-") || len > 32)
        return fail(ld, ld->line, section, "a provider section is [provider NAME], "
                    "NAME of 1 to 32 letters, digits, '_' and '-'");
    for (provider_meta *m = ld->providers; m != NULL; m = m->next)
        if (strcmp(m->conf->name, name) == 0)
            return fail(ld, ld->line, section, "provider given twice (first on line %d)",
                        m->header_line);
    provider_meta *m = calloc(1, sizeof *m);
    gw_provider_conf *p = calloc(1, sizeof *p);
    if (m == NULL || p == NULL || (p->name = strdup(name)) == NULL) {
        free(m);
        free(p);
        return oom(ld, section);
    }
    p->max_tps = 10;
    p->timeout_ms = 10000;
    p->priority = 100;
    *ld->conf_tail = p;
    ld->conf_tail = &p->next;
    m->conf = p;
    m->header_line = ld->line;
    if (ld->provider_tail != NULL)
        ld->provider_tail->next = m;
    else
        ld->providers = m;
    ld->provider_tail = ld->provider = m;
    ld->section = S_PROVIDER;
    return 0;
}

/* ---- the inih callbacks ---- */

/* A "[NAME]" header (BRACKETED is the whole "[...]", NAME trimmed). */
static int begin_section(loader *ld, const char *bracketed, const char *name)
{
    if (strncmp(name, "provider", 8) == 0 && (name[8] == '\0' || isblank((unsigned char)name[8])))
        return begin_provider(ld, bracketed, name + 8);
    for (int s = 0; s < S_COUNT; s++) {
        if (strcmp(section_names[s], name) != 0)
            continue;
        if (ld->section_line[s] != 0)
            return fail(ld, ld->line, bracketed, "section given twice (first on line %d)",
                        ld->section_line[s]);
        ld->section_line[s] = ld->line;
        ld->section = s;
        return 0;
    }
    return fail(ld, ld->line, bracketed, "unknown section");
}

/* ini_reader: fgets that counts lines, refuses lines longer than inih's
 * buffer, drops a UTF-8 BOM and leading blanks, and sees section headers. */
static char *read_line(char *buf, int size, void *stream)
{
    loader *ld = stream;
    if (ld->failed || fgets(buf, size, ld->fp) == NULL)
        return NULL;
    ld->line++;
    size_t len = strlen(buf);
    if (len > 0 && buf[len - 1] != '\n') {
        int c = len + 1 == (size_t)size ? getc(ld->fp) : EOF;
        if (c != EOF && c != '\n') {
            fail(ld, ld->line, NULL, "line longer than %d bytes", size - 1);
            return NULL;
        }
        if (len + 1 < (size_t)size && !feof(ld->fp)) {
            fail(ld, ld->line, NULL, "NUL byte in the line");
            return NULL;
        }
    }
    size_t skip = ld->line == 1 && strncmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    skip += strspn(buf + skip, " \t\r\f\v");
    memmove(buf, buf + skip, len - skip + 1);

    char *close = buf[0] == '[' ? strchr(buf, ']') : NULL;
    if (close != NULL) {   /* an unclosed '[' is left to inih: a syntax error */
        char name[256], bracketed[sizeof name + 2];
        const char *s = buf + 1, *e = close;
        while (s < e && isblank((unsigned char)*s))
            s++;
        while (e > s && isblank((unsigned char)e[-1]))
            e--;
        snprintf(name, sizeof name, "%.*s", (int)(e - s), s);
        snprintf(bracketed, sizeof bracketed, "[%s]", name);
        if (begin_section(ld, bracketed, name) != 0)
            return NULL;
    }
    return buf;
}

/* ini_handler: one "key = value" line of the current section. */
static int on_key(void *user, const char *section, const char *key, const char *value)
{
    loader *ld = user;
    (void)section;   /* read_line tracked it, with its line number */
    if (ld->failed)
        return 0;
    if (ld->section == S_NONE) {
        fail(ld, ld->line, key, "outside of any [section]");
        return 0;
    }

    int *seen = NULL;
    const keydef *k = NULL;
    const pkeydef *pk = NULL;
    if (ld->section == S_PROVIDER) {
        for (size_t i = 0; i < N_PKEYS && pk == NULL; i++)
            if (strcmp(provider_keys[i].key, key) == 0) {
                pk = &provider_keys[i];
                seen = &ld->provider->key_line[i];
            }
    } else {
        int i = key_index(ld->section, key);
        if (i >= 0) {
            k = &keydefs[i];
            seen = &ld->key_line[i];
        }
    }
    if (seen == NULL) {
        if (ld->section == S_PROVIDER)
            fail(ld, ld->line, key, "unknown key in [provider %s]", ld->provider->conf->name);
        else
            fail(ld, ld->line, key, "unknown key in [%s]", section_names[ld->section]);
        return 0;
    }
    if (*seen != 0) {
        fail(ld, ld->line, key, "given twice (first on line %d)", *seen);
        return 0;
    }
    *seen = ld->line;

    char *v = resolve(ld, key, value);
    int rc = v == NULL ? -1 : pk != NULL ? set_provider_key(ld, pk, v) : k->set(ld, k, v);
    free(v);
    return rc == 0;
}

/* ---- whole-file checks ---- */

static int check_provider(loader *ld, const provider_meta *m)
{
    const gw_provider_conf *p = m->conf;
    char what[64];
    unsigned bit = type_bit(p->type);
    if (bit == 0) {
        snprintf(what, sizeof what, "[provider %s] type", p->name);
        return fail(ld, m->header_line, what, "required");
    }
    size_t first = N_PKEYS;   /* the earliest key this type does not take */
    for (size_t i = 0; i < N_PKEYS; i++)
        if (m->key_line[i] != 0 && !(provider_keys[i].allowed & bit) &&
            (first == N_PKEYS || m->key_line[i] < m->key_line[first]))
            first = i;
    if (first < N_PKEYS)
        return fail(ld, m->key_line[first], provider_keys[first].key,
                    "not allowed for type %s", p->type);
    for (size_t i = 0; i < N_PKEYS; i++)
        if ((provider_keys[i].required & bit) && m->key_line[i] == 0) {
            snprintf(what, sizeof what, "[provider %s] %s", p->name, provider_keys[i].key);
            return fail(ld, m->header_line, what, "required for type %s", p->type);
        }
    return 0;
}

static int key_line(const loader *ld, int section, const char *key)
{
    return ld->key_line[key_index(section, key)];
}

static int check_whole(loader *ld)
{
    gw_config *c = ld->cfg;
    char what[64];
    for (const keydef *k = keydefs; k < keydefs + N_KEYS; k++)
        if (k->required && ld->key_line[k - keydefs] == 0) {
            snprintf(what, sizeof what, "[%s] %s", section_names[k->section], k->key);
            return fail(ld, ld->section_line[k->section], what, "required");
        }
    if (c->redis_sentinels != NULL && c->redis_master == NULL)
        return fail(ld, ld->section_line[S_REDIS], "[redis] master",
                    "required when sentinels is set");
    if (c->redis_master != NULL && c->redis_sentinels == NULL)
        return fail(ld, key_line(ld, S_REDIS, "master"), "master", "only used with sentinels");
    if (strcmp(c->records_backend, "http") == 0 && c->records_url == NULL)
        return fail(ld, ld->section_line[S_RECORDS], "[records] url",
                    "required when backend = http");
    if (strcmp(c->records_backend, "http") != 0 && c->records_url != NULL)
        return fail(ld, key_line(ld, S_RECORDS, "url"), "url", "only used with backend = http");
    for (const provider_meta *m = ld->providers; m != NULL; m = m->next)
        if (check_provider(ld, m) != 0)
            return -1;
    if (c->sms_default_provider != NULL && gw_config_provider(c, c->sms_default_provider) == NULL)
        return fail(ld, key_line(ld, S_SMS, "default_provider"), "default_provider",
                    "no [provider %s] section", c->sms_default_provider);
    return 0;
}

/* ---- public ---- */

static gw_config *config_new(const char *path)
{
    gw_config *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->http_listen = (gw_listen){"127.0.0.1", 8080};
    c->http_max_body = 65536;
    c->admin_listen = (gw_listen){"127.0.0.1", 8081};
    c->admin_max_body = 256u << 20;
    c->redis_url = strdup("redis://127.0.0.1:6379/0");
    if (c->redis_url != NULL)
        gw_cfg_parse_redis_url(c->redis_url, c);
    c->records_backend = strdup("redis");
    c->records_timeout_ms = 800;
    c->ussd_session_ttl_s = 180;
    c->ussd_hop_deadline_ms = 1500;
    c->sms_signature = strdup("");
    c->sms_max_segments = 3;
    c->reminders_timezone = strdup("Asia/Shanghai");
    c->send_window_start_min = 8 * 60;
    c->send_window_end_min = 20 * 60;
    c->unpaid_offsets_days[0] = 30;
    c->unpaid_offsets_days[1] = 7;
    c->unpaid_offsets_days[2] = 1;
    c->unpaid_offsets_count = 3;
    c->min_interval_hours = 20;
    c->claims_accident_days = 3;
    c->claims_critical_illness_days = 10;
    c->calendar_files = calloc(1, sizeof *c->calendar_files);
    c->templates_dir = strdup("templates/data");
    c->path = strdup(path);
    if (c->redis_url == NULL || c->records_backend == NULL || c->sms_signature == NULL ||
        c->reminders_timezone == NULL || c->calendar_files == NULL || c->templates_dir == NULL ||
        c->path == NULL) {
        gw_config_free(c);
        return NULL;
    }
    return c;
}

gw_config *gw_config_load(const char *path, char *err, size_t errlen)
{
    int key_lines[N_KEYS] = {0};
    loader ld = {.path = path, .section = S_NONE, .key_line = key_lines};
    struct stat st;
    ld.fp = fopen(path, "r");
    int open_errno = ld.fp == NULL ? errno
                     : fstat(fileno(ld.fp), &st) == 0 && S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (open_errno != 0) {
        snprintf(ld.msg, sizeof ld.msg, "%s:0: cannot open: %s", path, strerror(open_errno));
        ld.failed = true;
    } else if ((ld.cfg = config_new(path)) == NULL) {
        snprintf(ld.msg, sizeof ld.msg, "%s:0: out of memory", path);
        ld.failed = true;
    } else {
        ld.conf_tail = &ld.cfg->providers;
        int rc = ini_parse_stream(read_line, &ld, on_key, &ld);
        if (rc > 0 && (!ld.failed || rc < ld.err_line)) {
            snprintf(ld.msg, sizeof ld.msg, "%s:%d: syntax error", path, rc);
            ld.failed = true;
        } else if (!ld.failed && ferror(ld.fp)) {
            snprintf(ld.msg, sizeof ld.msg, "%s:%d: cannot read: %s", path, ld.line,
                     strerror(errno));
            ld.failed = true;
        } else if (!ld.failed && rc != 0) {
            snprintf(ld.msg, sizeof ld.msg, "%s:%d: out of memory", path, ld.line);
            ld.failed = true;
        }
        if (!ld.failed)
            check_whole(&ld);
    }
    if (ld.fp != NULL)
        fclose(ld.fp);
    while (ld.providers != NULL) {
        provider_meta *next = ld.providers->next;
        free(ld.providers);
        ld.providers = next;
    }
    if (ld.failed) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s", ld.msg);
        gw_config_free(ld.cfg);
        return NULL;
    }
    return ld.cfg;
}

void gw_config_free(gw_config *cfg)
{
    if (cfg == NULL)
        return;
    while (cfg->providers != NULL) {
        gw_provider_conf *p = cfg->providers;
        cfg->providers = p->next;
        for (size_t i = 0; i < N_PKEYS; i++)
            if (provider_keys[i].kind != P_INT)
                free(*(char **)((char *)p + provider_keys[i].off));
        free(p->name);
        free(p);
    }
    for (size_t i = 0; cfg->calendar_files != NULL && cfg->calendar_files[i] != NULL; i++)
        free(cfg->calendar_files[i]);
    free(cfg->calendar_files);
    char *strings[] = {cfg->path, cfg->admin_token, cfg->redis_url, cfg->redis_password,
                       cfg->redis_sentinels, cfg->redis_master, cfg->records_backend,
                       cfg->records_url, cfg->ussd_service_code, cfg->ussd_hotline,
                       cfg->sms_signature, cfg->sms_default_provider, cfg->reminders_timezone,
                       cfg->templates_dir};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        free(strings[i]);
    free(cfg);
}

const gw_provider_conf *gw_config_provider(const gw_config *cfg, const char *name)
{
    for (const gw_provider_conf *p = cfg != NULL ? cfg->providers : NULL; p != NULL; p = p->next)
        if (name != NULL && strcmp(p->name, name) == 0)
            return p;
    return NULL;
}
