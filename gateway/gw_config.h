/* gw_config.h - the gateway's INI configuration (SPEC.md, Configuration).
 *
 * gw_config_load parses the file with inih, checks every section, key and
 * value, fills defaults, and resolves `env:NAME` and `file:PATH` values
 * (for secrets; a file's trailing newline is dropped). Any error stops the
 * load with "FILE:LINE: key: reason" in ERR; a missing required key names
 * the line of its section header (or line 0 when the section is missing).
 * The returned config is read-only afterwards and owned by the caller. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>

typedef struct gw_listen {
    char host[64];   /* numeric IPv4/IPv6 or "localhost" */
    int port;        /* 1..65535 */
} gw_listen;

typedef struct gw_provider_conf {
    char *name;                 /* from "[provider NAME]" */
    char *type;                 /* africastalking | twilio | kannel | console */
    char *base_url;             /* NULL = the carrier's public default */
    char *sender;
    int max_tps;                /* messages per second; 0 = no limit; default 10 */
    int timeout_ms;             /* default 10000 */
    int priority;               /* lower first; default 100 */
    char *username, *api_key;   /* africastalking (both required); kannel username */
    char *account_sid, *auth_token; /* twilio (both required) */
    char *password;             /* kannel (required with username) */
    char *path;                 /* console: file to append to; NULL = stdout */
    struct gw_provider_conf *next;
} gw_provider_conf;

typedef struct gw_config {
    char *path;                 /* the file loaded */

    gw_listen http_listen;      /* [http] listen, default 127.0.0.1:8080 */
    size_t http_max_body;       /* [http] max_body_bytes, default 65536 */

    gw_listen admin_listen;     /* [admin] listen, default 127.0.0.1:8081 */
    char *admin_token;          /* [admin] token, required, >= 16 chars */
    size_t admin_max_body;      /* [admin] max_body_bytes, default 256 MiB */

    char *redis_url;            /* [redis] url, default redis://127.0.0.1:6379/0 */
    char redis_host[256];       /* parsed from url */
    int redis_port;
    int redis_db;
    char *redis_password;       /* from url "redis://:PASS@host" or NULL */
    char *redis_sentinels;      /* optional, comma-separated host:port */
    char *redis_master;         /* required when sentinels is set */

    char *records_backend;      /* [records] backend: "redis" (default) | "http" */
    char *records_url;          /* required for http: base URL, ?phone=E164 is added */
    int records_timeout_ms;     /* default 800 */

    char *ussd_service_code;    /* [ussd] service_code, required, e.g. "*120*12345#" */
    int ussd_session_ttl_s;     /* default 180 */
    int ussd_hop_deadline_ms;   /* default 1500 */
    char *ussd_hotline;         /* [ussd] hotline shown to unknown phones, required */

    char *sms_signature;        /* [sms] signature, e.g. "【某县人社】", default "" */
    int sms_max_segments;       /* default 3, 1..10 */
    char *sms_default_provider; /* must name a [provider NAME] when set */

    gw_provider_conf *providers;/* in file order */

    char *reminders_timezone;   /* default Asia/Shanghai; must exist in tzdata */
    int send_window_start_min;  /* minutes after local midnight, from send_window */
    int send_window_end_min;    /* default 08:00-20:00 -> 480, 1200 */
    int unpaid_offsets_days[16];/* [reminders] unpaid_offsets_days "30,7,1" */
    int unpaid_offsets_count;   /* default 30,7,1 */
    int min_interval_hours;     /* default 20 */

    int claims_accident_days;          /* default 3 */
    int claims_critical_illness_days;  /* default 10 */

    char **calendar_files;      /* [calendar] files, NULL-terminated, may be empty */
    char *templates_dir;        /* [templates] dir, default "templates/data" relative to the cwd */
} gw_config;

/* Loads PATH. Returns a new config, or NULL with "FILE:LINE: key: reason"
 * in ERR (ERRLEN >= 256 recommended). */
gw_config *gw_config_load(const char *path, char *err, size_t errlen);

/* Frees everything the config owns. NULL is fine. */
void gw_config_free(gw_config *cfg);

/* The provider named NAME, or NULL. */
const gw_provider_conf *gw_config_provider(const gw_config *cfg, const char *name);

#endif
