/* test_config.c - gw_config: every key, the defaults, and each error's exact
 * "FILE:LINE: key: reason". Config files are written under /tmp with mkstemp;
 * run from the repository root (the example test reads ops/ and templates/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_config.h"

/* The required keys, for tests about something else (5 lines). */
#define MINIMAL \
    "[admin]\ntoken = 0123456789abcdef\n[ussd]\nservice_code = *120*12345#\nhotline = 12333\n"

static char cfg_path[64];
static char scratch[64];   /* a directory for calendar, template and secret files */

/* Writes TEXT to a fresh file under /tmp; its name goes to cfg_path. */
static void write_config(const char *text)
{
    snprintf(cfg_path, sizeof cfg_path, "/tmp/test_config_XXXXXX");
    int fd = mkstemp(cfg_path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static gw_config *load_text(const char *text, char *err, size_t errlen)
{
    write_config(text);
    gw_config *cfg = gw_config_load(cfg_path, err, errlen);
    unlink(cfg_path);
    return cfg;
}

static gw_config *load_ok(const char *text)
{
    char err[512] = "";
    gw_config *cfg = load_text(text, err, sizeof err);
    if (cfg == NULL)
        fail_msg("rejected: %s", err);
    return cfg;
}

/* TEXT must fail with exactly "<file>:" WANT. */
static void expect_error(const char *text, const char *want)
{
    char err[512] = "", full[600];
    gw_config *cfg = load_text(text, err, sizeof err);
    if (cfg != NULL) {
        gw_config_free(cfg);
        fail_msg("accepted, wanted error \"%s\"", want);
    }
    snprintf(full, sizeof full, "%s:%s", cfg_path, want);
    assert_string_equal(err, full);
}

/* Like expect_error, with the required keys appended after TEXT. */
static void expect_error_min(const char *body, const char *want)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", body, MINIMAL);
    expect_error(text, want);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int make_scratch(void)
{
    snprintf(scratch, sizeof scratch, "/tmp/test_config_dir_XXXXXX");
    if (mkdtemp(scratch) == NULL)
        return -1;
    char p[128];
    snprintf(p, sizeof p, "%s/tpl", scratch);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/2026.ini", scratch);
    write_file(p, "[holidays]\n");
    snprintf(p, sizeof p, "%s/2027.ini", scratch);
    write_file(p, "[holidays]\n");
    snprintf(p, sizeof p, "%s/secret", scratch);
    write_file(p, "s3cret-from-a-file\n\n");
    return 0;
}

static void remove_scratch(void)
{
    const char *names[] = {"tpl", "2026.ini", "2027.ini", "secret"};
    char p[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", scratch, names[i]);
        remove(p);
    }
    rmdir(scratch);
}

/* ---- valid files ---- */

static void test_full_file(void **state)
{
    (void)state;
    char text[4096];
    setenv("TEST_CFG_TOKEN", "token-from-the-environment", 1);
    snprintf(text, sizeof text,
             "; every key\n"
             "[http]\nlisten = 0.0.0.0:9080\nmax_body_bytes = 131072\n"
             "[admin]\nlisten = [::1]:9081\ntoken = env:TEST_CFG_TOKEN\nmax_body_bytes = 1048576\n"
             "[redis]\nurl = redis://:pa55@redis.local:6390/2\n"
             "sentinels = 10.0.0.1:26379, [fd00::2]:26379 ,s3.local:26379\nmaster = gw-master\n"
             "[records]\nbackend = http\nurl = https://records.example/api\ntimeout_ms = 900\n"
             "[ussd]\nservice_code = *120*777#\nsession_ttl_s = 60\nhop_deadline_ms = 2000\n"
             "hotline = 0351-12333 ; inline comment\n"
             "[sms]\nsignature = 【某县人社】\nmax_segments = 4\ndefault_provider = tw\n"
             "[provider at]\ntype = africastalking\nusername = county\napi_key = file:%s/secret\n"
             "base_url = https://api.sandbox.africastalking.com\nsender = COUNTY\nmax_tps = 0\n"
             "timeout_ms = 5000\npriority = 5\n"
             "[provider tw]\nsender = +8610000\ntype = twilio\naccount_sid = AC123\n"
             "auth_token = tok\n"
             "[provider k-1]\ntype = kannel\nbase_url = http://127.0.0.1:13013\nusername = u\n"
             "password = p\n"
             "[provider console]\ntype = console\npath = /tmp/outbox.txt\n"
             "[reminders]\ntimezone = Europe/London\nsend_window = 09:30-18:45\n"
             "unpaid_offsets_days = 60, 14,0\nmin_interval_hours = 0\n"
             "[claims]\naccident_days = 5\ncritical_illness_days = 30\n"
             "[calendar]\nfiles = %s/2026.ini , %s/2027.ini\n"
             "[templates]\ndir = %s/tpl\n",
             scratch, scratch, scratch, scratch);
    gw_config *c = load_ok(text);
    assert_string_equal(c->path, cfg_path);
    assert_string_equal(c->http_listen.host, "0.0.0.0");
    assert_int_equal(c->http_listen.port, 9080);
    assert_int_equal(c->http_max_body, 131072);
    assert_string_equal(c->admin_listen.host, "::1");
    assert_int_equal(c->admin_listen.port, 9081);
    assert_string_equal(c->admin_token, "token-from-the-environment");
    assert_int_equal(c->admin_max_body, 1048576);
    assert_string_equal(c->redis_url, "redis://:pa55@redis.local:6390/2");
    assert_string_equal(c->redis_host, "redis.local");
    assert_int_equal(c->redis_port, 6390);
    assert_int_equal(c->redis_db, 2);
    assert_string_equal(c->redis_password, "pa55");
    assert_string_equal(c->redis_sentinels, "10.0.0.1:26379, [fd00::2]:26379 ,s3.local:26379");
    assert_string_equal(c->redis_master, "gw-master");
    assert_string_equal(c->records_backend, "http");
    assert_string_equal(c->records_url, "https://records.example/api");
    assert_int_equal(c->records_timeout_ms, 900);
    assert_string_equal(c->ussd_service_code, "*120*777#");
    assert_int_equal(c->ussd_session_ttl_s, 60);
    assert_int_equal(c->ussd_hop_deadline_ms, 2000);
    assert_string_equal(c->ussd_hotline, "0351-12333");
    assert_string_equal(c->sms_signature, "【某县人社】");
    assert_int_equal(c->sms_max_segments, 4);
    assert_string_equal(c->sms_default_provider, "tw");

    const gw_provider_conf *p = c->providers;
    assert_non_null(p);
    assert_string_equal(p->name, "at");
    assert_string_equal(p->type, "africastalking");
    assert_string_equal(p->username, "county");
    assert_string_equal(p->api_key, "s3cret-from-a-file");   /* trailing newlines dropped */
    assert_string_equal(p->base_url, "https://api.sandbox.africastalking.com");
    assert_string_equal(p->sender, "COUNTY");
    assert_int_equal(p->max_tps, 0);
    assert_int_equal(p->timeout_ms, 5000);
    assert_int_equal(p->priority, 5);
    assert_null(p->account_sid);
    p = p->next;
    assert_string_equal(p->name, "tw");
    assert_string_equal(p->type, "twilio");
    assert_string_equal(p->account_sid, "AC123");
    assert_string_equal(p->auth_token, "tok");
    assert_string_equal(p->sender, "+8610000");
    assert_null(p->base_url);
    assert_int_equal(p->max_tps, 10);
    assert_int_equal(p->timeout_ms, 10000);
    assert_int_equal(p->priority, 100);
    p = p->next;
    assert_string_equal(p->name, "k-1");
    assert_string_equal(p->username, "u");
    assert_string_equal(p->password, "p");
    p = p->next;
    assert_string_equal(p->name, "console");
    assert_string_equal(p->path, "/tmp/outbox.txt");
    assert_null(p->next);
    assert_ptr_equal(gw_config_provider(c, "k-1"), c->providers->next->next);
    assert_null(gw_config_provider(c, "k"));
    assert_null(gw_config_provider(c, NULL));

    assert_string_equal(c->reminders_timezone, "Europe/London");
    assert_int_equal(c->send_window_start_min, 9 * 60 + 30);
    assert_int_equal(c->send_window_end_min, 18 * 60 + 45);
    assert_int_equal(c->unpaid_offsets_count, 3);
    assert_int_equal(c->unpaid_offsets_days[0], 60);
    assert_int_equal(c->unpaid_offsets_days[1], 14);
    assert_int_equal(c->unpaid_offsets_days[2], 0);
    assert_int_equal(c->min_interval_hours, 0);
    assert_int_equal(c->claims_accident_days, 5);
    assert_int_equal(c->claims_critical_illness_days, 30);
    char want[128];
    snprintf(want, sizeof want, "%s/2026.ini", scratch);
    assert_string_equal(c->calendar_files[0], want);
    snprintf(want, sizeof want, "%s/2027.ini", scratch);
    assert_string_equal(c->calendar_files[1], want);
    assert_null(c->calendar_files[2]);
    snprintf(want, sizeof want, "%s/tpl", scratch);
    assert_string_equal(c->templates_dir, want);
    gw_config_free(c);
    unsetenv("TEST_CFG_TOKEN");
}

static void test_minimal_defaults(void **state)
{
    (void)state;
    gw_config *c = load_ok(MINIMAL);
    assert_string_equal(c->http_listen.host, "127.0.0.1");
    assert_int_equal(c->http_listen.port, 8080);
    assert_int_equal(c->http_max_body, 65536);
    assert_string_equal(c->admin_listen.host, "127.0.0.1");
    assert_int_equal(c->admin_listen.port, 8081);
    assert_string_equal(c->admin_token, "0123456789abcdef");
    assert_int_equal(c->admin_max_body, 256u << 20);
    assert_string_equal(c->redis_url, "redis://127.0.0.1:6379/0");
    assert_string_equal(c->redis_host, "127.0.0.1");
    assert_int_equal(c->redis_port, 6379);
    assert_int_equal(c->redis_db, 0);
    assert_null(c->redis_password);
    assert_null(c->redis_sentinels);
    assert_null(c->redis_master);
    assert_string_equal(c->records_backend, "redis");
    assert_null(c->records_url);
    assert_int_equal(c->records_timeout_ms, 800);
    assert_string_equal(c->ussd_service_code, "*120*12345#");
    assert_int_equal(c->ussd_session_ttl_s, 180);
    assert_int_equal(c->ussd_hop_deadline_ms, 1500);
    assert_string_equal(c->ussd_hotline, "12333");
    assert_string_equal(c->sms_signature, "");
    assert_int_equal(c->sms_max_segments, 3);
    assert_null(c->sms_default_provider);
    assert_null(c->providers);
    assert_string_equal(c->reminders_timezone, "Asia/Shanghai");
    assert_int_equal(c->send_window_start_min, 480);
    assert_int_equal(c->send_window_end_min, 1200);
    assert_int_equal(c->unpaid_offsets_count, 3);
    assert_int_equal(c->unpaid_offsets_days[0], 30);
    assert_int_equal(c->unpaid_offsets_days[1], 7);
    assert_int_equal(c->unpaid_offsets_days[2], 1);
    assert_int_equal(c->min_interval_hours, 20);
    assert_int_equal(c->claims_accident_days, 3);
    assert_int_equal(c->claims_critical_illness_days, 10);
    assert_non_null(c->calendar_files);
    assert_null(c->calendar_files[0]);
    assert_string_equal(c->templates_dir, "templates/data");
    gw_config_free(c);
    gw_config_free(NULL);
}

/* Indented lines are plain keys (no inih continuation), a UTF-8 BOM and CRLF
 * line ends are fine, and a 199-byte line is the longest accepted. */
static void test_layout(void **state)
{
    (void)state;
    char text[1024], token[200];
    memset(token, 'x', sizeof token);
    token[199 - strlen("token = ")] = '\0';
    snprintf(text, sizeof text,
             "\xEF\xBB\xBF[admin]\r\ntoken = %s\n\t[ussd]\r\n   service_code = *1#\r\n"
             "\thotline = 110\r\n  # comment\r\n[calendar]\nfiles =\n[reminders]\n"
             "unpaid_offsets_days =",
             token);
    gw_config *c = load_ok(text);
    assert_int_equal(strlen(c->admin_token), 199 - strlen("token = "));
    assert_string_equal(c->ussd_service_code, "*1#");
    assert_string_equal(c->ussd_hotline, "110");
    assert_null(c->calendar_files[0]);
    assert_int_equal(c->unpaid_offsets_count, 0);
    gw_config_free(c);

    memset(token, 'x', sizeof token);
    token[200 - strlen("token = ")] = '\0';
    snprintf(text, sizeof text, "[admin]\ntoken = %s\n", token);
    expect_error(text, "2: line longer than 199 bytes");
}

/* The example shipped in ops/ is valid once its secrets and directories exist. */
static void test_example_file(void **state)
{
    (void)state;
    FILE *fp = fopen("ops/gateway.example.ini", "r");
    assert_non_null(fp);
    char line[512], text[16384] = "";
    size_t used = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        if (strncmp(line, "dir = ", 6) == 0)
            snprintf(line, sizeof line, "dir = %s/tpl\n", scratch);
        used += (size_t)snprintf(text + used, sizeof text - used, "%s", line);
        assert_true(used < sizeof text);
    }
    fclose(fp);
    setenv("GATEWAY_ADMIN_TOKEN", "example-token-0123456789", 1);
    setenv("GATEWAY_KANNEL_PASSWORD", "kannel-pass", 1);
    gw_config *c = load_ok(text);
    assert_string_equal(c->admin_token, "example-token-0123456789");
    assert_string_equal(c->ussd_service_code, "*120*12345#");
    assert_string_equal(c->sms_default_provider, "cmcc");
    const gw_provider_conf *p = gw_config_provider(c, "cmcc");
    assert_non_null(p);
    assert_string_equal(p->type, "kannel");
    assert_string_equal(p->password, "kannel-pass");
    assert_null(p->next);
    /* The values it writes out are the defaults. */
    assert_int_equal(c->http_max_body, 65536);
    assert_int_equal(c->admin_max_body, 256u << 20);
    assert_int_equal(c->records_timeout_ms, 800);
    assert_int_equal(c->ussd_session_ttl_s, 180);
    assert_int_equal(c->ussd_hop_deadline_ms, 1500);
    assert_int_equal(c->sms_max_segments, 3);
    assert_int_equal(p->max_tps, 10);
    assert_int_equal(p->timeout_ms, 10000);
    assert_int_equal(p->priority, 100);
    assert_int_equal(c->send_window_start_min, 480);
    assert_int_equal(c->send_window_end_min, 1200);
    assert_int_equal(c->unpaid_offsets_count, 3);
    assert_int_equal(c->min_interval_hours, 20);
    assert_int_equal(c->claims_accident_days, 3);
    assert_int_equal(c->claims_critical_illness_days, 10);
    assert_null(c->calendar_files[0]);
    gw_config_free(c);

    unsetenv("GATEWAY_KANNEL_PASSWORD");
    c = load_text(text, line, sizeof line);
    assert_null(c);
    assert_non_null(
        strstr(line, ": password: environment variable GATEWAY_KANNEL_PASSWORD is not set"));
    unsetenv("GATEWAY_ADMIN_TOKEN");
}

/* ---- errors ---- */

static void test_cannot_open(void **state)
{
    (void)state;
    char err[256];
    assert_null(gw_config_load("/nonexistent/gw.ini", err, sizeof err));
    assert_string_equal(err, "/nonexistent/gw.ini:0: cannot open: No such file or directory");
    assert_null(gw_config_load("/tmp", err, sizeof err));
    assert_string_equal(err, "/tmp:0: cannot open: Is a directory");
    assert_null(gw_config_load("/nonexistent/gw.ini", NULL, 0));   /* no buffer is fine */
    char tiny[8];
    assert_null(gw_config_load("/nonexistent/gw.ini", tiny, sizeof tiny));
    assert_string_equal(tiny, "/nonexi");
}

static void test_unknown_section_and_key(void **state)
{
    (void)state;
    expect_error_min("[http]\nlisten = 127.0.0.1:1\n[smtp]\nhost = x\n",
                     "3: [smtp]: unknown section");
    expect_error_min("[Admin]\n", "1: [Admin]: unknown section");
    expect_error_min("[providers]\n", "1: [providers]: unknown section");
    expect_error_min("[http]\nlisten = 127.0.0.1:1\nport = 80\n", "3: port: unknown key in [http]");
    expect_error_min("[provider x]\ntype = console\ncolour = red\n",
                     "3: colour: unknown key in [provider x]");
    expect_error("token = 0123456789abcdef\n" MINIMAL, "1: token: outside of any [section]");
}

static void test_syntax_error(void **state)
{
    (void)state;
    expect_error_min("[http]\nlisten = 127.0.0.1:1\nthis line has no equals sign\n",
                     "3: syntax error");
    expect_error_min("[http\nlisten = 127.0.0.1:1\n", "1: syntax error");
    /* The first error in the file wins, syntax or not. */
    expect_error_min("[http]\nbroken\nlisten = nope\n", "2: syntax error");
    expect_error_min("[http]\nlisten = nope\nbroken\n",
                     "2: listen: the host must be a numeric IPv4 address, [IPv6 address] or "
                     "localhost; expected HOST:PORT or [IPV6]:PORT");
}

static void test_bad_int(void **state)
{
    (void)state;
    expect_error_min("[ussd]\nhop_deadline_ms = fast\n",
                     "2: hop_deadline_ms: must be an integer between 50 and 60000");
    expect_error_min("[ussd]\nhop_deadline_ms = 12ms\n",
                     "2: hop_deadline_ms: must be an integer between 50 and 60000");
    expect_error_min("[ussd]\nhop_deadline_ms =\n",
                     "2: hop_deadline_ms: must be an integer between 50 and 60000");
    expect_error_min("[ussd]\nhop_deadline_ms = 99999999999999999999999\n",
                     "2: hop_deadline_ms: must be an integer between 50 and 60000");
    expect_error_min("[provider p]\ntype = console\nmax_tps = ten\n",
                     "3: max_tps: must be an integer between 0 and 10000");
}

static void test_out_of_range(void **state)
{
    (void)state;
    expect_error_min("[ussd]\n\nhop_deadline_ms = 49\n",
                     "3: hop_deadline_ms: must be an integer between 50 and 60000");
    expect_error_min("[ussd]\nsession_ttl_s = 3601\n",
                     "2: session_ttl_s: must be an integer between 10 and 3600");
    expect_error_min("[records]\ntimeout_ms = 120001\n",
                     "2: timeout_ms: must be an integer between 50 and 120000");
    expect_error_min("[sms]\nmax_segments = 0\n",
                     "2: max_segments: must be an integer between 1 and 10");
    expect_error_min("[claims]\naccident_days = 366\n",
                     "2: accident_days: must be an integer between 1 and 365");
    expect_error_min("[claims]\ncritical_illness_days = -1\n",
                     "2: critical_illness_days: must be an integer between 1 and 365");
    expect_error_min("[reminders]\nmin_interval_hours = 721\n",
                     "2: min_interval_hours: must be an integer between 0 and 720");
    expect_error_min("[http]\nmax_body_bytes = 100\n",
                     "2: max_body_bytes: must be an integer between 1024 and 1073741824");
    expect_error_min("[provider p]\ntype = console\nmax_tps = 10001\n",
                     "3: max_tps: must be an integer between 0 and 10000");
    expect_error_min("[provider p]\ntype = twilio\ntimeout_ms = 10\n",
                     "3: timeout_ms: must be an integer between 50 and 120000");
}

static void test_offsets(void **state)
{
    (void)state;
    const char *why = "must be up to 16 comma-separated days between 0 and 365, e.g. 30,7,1";
    char want[256];
    snprintf(want, sizeof want, "2: unpaid_offsets_days: %s", why);
    expect_error_min("[reminders]\nunpaid_offsets_days = 30,366\n", want);
    expect_error_min("[reminders]\nunpaid_offsets_days = 30,,1\n", want);
    expect_error_min("[reminders]\nunpaid_offsets_days = 30;7\n", want);
    expect_error_min("[reminders]\n"
                     "unpaid_offsets_days = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n", want);
    expect_error_min("[reminders]\nunpaid_offsets_days = 7,3,7\n",
                     "2: unpaid_offsets_days: 7 is listed twice");
    gw_config *c = load_ok("[reminders]\nunpaid_offsets_days = "
                           "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\n" MINIMAL);
    assert_int_equal(c->unpaid_offsets_count, 16);
    assert_int_equal(c->unpaid_offsets_days[15], 16);
    gw_config_free(c);
}

static void test_missing_required(void **state)
{
    (void)state;
    expect_error("[ussd]\nservice_code = *1#\nhotline = 1\n", "0: [admin] token: required");
    expect_error("[ussd]\nservice_code = *1#\nhotline = 1\n\n[admin]\nlisten = 127.0.0.1:9\n",
                 "5: [admin] token: required");
    expect_error("[admin]\ntoken = 0123456789abcdef\n[ussd]\nservice_code = *1#\n",
                 "3: [ussd] hotline: required");
    expect_error("[admin]\ntoken = 0123456789abcdef\n", "0: [ussd] service_code: required");
    expect_error("", "0: [admin] token: required");
}

static void test_duplicates(void **state)
{
    (void)state;
    expect_error_min("[sms]\nmax_segments = 2\nsignature = x\nmax_segments = 2\n",
                     "4: max_segments: given twice (first on line 2)");
    expect_error_min("[provider p]\ntype = console\ntype = console\n",
                     "3: type: given twice (first on line 2)");
    expect_error_min("[provider p]\ntype = console\n[provider q]\ntype = console\n[provider p]\n",
                     "5: [provider p]: provider given twice (first on line 1)");
    expect_error_min("[sms]\n[http]\n[sms]\n", "3: [sms]: section given twice (first on line 1)");
    /* The same key in two sections is two keys. */
    gw_config *c = load_ok("[http]\nlisten = 127.0.0.1:1\n[admin]\nlisten = 127.0.0.1:2\n"
                           "token = 0123456789abcdef\n[ussd]\nservice_code = *1#\nhotline = 1\n");
    assert_int_equal(c->http_listen.port, 1);
    assert_int_equal(c->admin_listen.port, 2);
    gw_config_free(c);
}

static void test_listen(void **state)
{
    (void)state;
    const char *tail = "; expected HOST:PORT or [IPV6]:PORT";
    struct { const char *value, *why; } bad[] = {
        {"127.0.0.1", "a :PORT is required"},
        {"127.0.0.1:", "the port must be an integer between 1 and 65535"},
        {"127.0.0.1:0", "the port must be an integer between 1 and 65535"},
        {"127.0.0.1:65536", "the port must be an integer between 1 and 65535"},
        {"127.0.0.1:80x", "the port must be an integer between 1 and 65535"},
        {"gateway.example:80",
         "the host must be a numeric IPv4 address, [IPv6 address] or localhost"},
        {"300.1.1.1:80", "the host must be a numeric IPv4 address, [IPv6 address] or localhost"},
        {":8080", "the host is empty"},
        {"::1:8080", "an IPv6 address needs brackets, e.g. [::1]:8080"},
        {"[::1:8080", "missing ] after the IPv6 address"},
        {"[1.2.3.4]:80", "not an IPv6 address between the brackets"},
        {"[::1]8080", "unexpected text after the host"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[128], want[256];
        snprintf(body, sizeof body, "[http]\nlisten = %s\n", bad[i].value);
        snprintf(want, sizeof want, "2: listen: %s%s", bad[i].why, tail);
        expect_error_min(body, want);
    }
    gw_config *c = load_ok("[http]\nlisten = localhost:65535\n[admin]\nlisten = [::]:1\n"
                           "token = 0123456789abcdef\n[ussd]\nservice_code = *1#\nhotline = 1\n");
    assert_string_equal(c->http_listen.host, "localhost");
    assert_int_equal(c->http_listen.port, 65535);
    assert_string_equal(c->admin_listen.host, "::");
    gw_config_free(c);
}

static void test_redis(void **state)
{
    (void)state;
    const char *tail = "; expected redis://[:PASSWORD@]HOST[:PORT][/DB]";
    struct { const char *value, *why; } bad[] = {
        {"rediss://127.0.0.1", "only redis:// URLs are supported"},
        {"unix:///run/redis.sock", "only redis:// URLs are supported"},
        {"127.0.0.1:6379", "only redis:// URLs are supported"},
        {"redis://user:pw@h", "user names are not supported; write redis://:PASSWORD@HOST"},
        {"redis://:@h", "the password is empty"},
        {"redis://", "the host is empty"},
        {"redis://h:0", "the port must be an integer between 1 and 65535"},
        {"redis://h/x", "the database must be an integer between 0 and 1023"},
        {"redis://h/1024", "the database must be an integer between 0 and 1023"},
        {"redis://h?db=1",
         "the host name has characters other than letters, digits, '.', '-' and '_'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[128], want[256];
        snprintf(body, sizeof body, "[redis]\nurl = %s\n", bad[i].value);
        snprintf(want, sizeof want, "2: url: %s%s", bad[i].why, tail);
        expect_error_min(body, want);
    }
    gw_config *c = load_ok("[redis]\nurl = redis://:p@ss/w@[::1]\n" MINIMAL);
    assert_string_equal(c->redis_host, "::1");
    assert_int_equal(c->redis_port, 6379);
    assert_int_equal(c->redis_db, 0);
    assert_string_equal(c->redis_password, "p@ss/w");
    gw_config_free(c);

    expect_error_min("[redis]\nsentinels = 10.0.0.1:26379\n",
                     "1: [redis] master: required when sentinels is set");
    expect_error_min("[redis]\nmaster = m\n", "2: master: only used with sentinels");
    expect_error_min("[redis]\nsentinels = 10.0.0.1:26379,10.0.0.2\nmaster = m\n",
                     "2: sentinels: \"10.0.0.2\": a :PORT is required; "
                     "expected HOST:PORT,HOST:PORT");
    expect_error_min("[redis]\nsentinels = 10.0.0.1:26379\nmaster = a b\n",
                     "3: master: must be a name of letters, digits, '.', '_' and '-'");
}

static void test_records(void **state)
{
    (void)state;
    expect_error_min("[records]\nbackend = mysql\n", "2: backend: must be redis or http");
    expect_error_min("\n[records]\nbackend = http\n",
                     "2: [records] url: required when backend = http");
    expect_error_min("[records]\nurl = http://x\n", "2: url: only used with backend = http");
    expect_error_min("[records]\nbackend = http\nurl = ftp://x\n",
                     "3: url: must be a URL starting with http:// or https://");
    expect_error_min("[records]\nbackend = http\nurl = http://\n",
                     "3: url: must be a URL starting with http:// or https://");
}

static void test_window(void **state)
{
    (void)state;
    const char *why = "must be HH:MM-HH:MM with the start before the end, e.g. 08:00-20:00";
    const char *bad[] = {"20:00-08:00", "08:00-08:00", "8:00-20:00", "08:00 - 20:00",
                         "08:60-20:00", "25:00-26:00", "08:00-24:01", "08:00", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[128], want[256];
        snprintf(body, sizeof body, "[reminders]\nsend_window = %s\n", bad[i]);
        snprintf(want, sizeof want, "2: send_window: %s", why);
        expect_error_min(body, want);
    }
    gw_config *c = load_ok("[reminders]\nsend_window = 00:00-24:00\n" MINIMAL);
    assert_int_equal(c->send_window_start_min, 0);
    assert_int_equal(c->send_window_end_min, 1440);
    gw_config_free(c);
}

static void test_timezone(void **state)
{
    (void)state;
    expect_error_min("[reminders]\ntimezone = Asia/Shangai\n",
                     "2: timezone: unknown time zone Asia/Shangai (not in /usr/share/zoneinfo/)");
    expect_error_min("[reminders]\ntimezone = Asia\n",   /* a directory, not a zone */
                     "2: timezone: unknown time zone Asia (not in /usr/share/zoneinfo/)");
    expect_error_min("[reminders]\ntimezone = ../../etc/passwd\n",
                     "2: timezone: must be a tz database name such as Asia/Shanghai");
    expect_error_min("[reminders]\ntimezone = /etc/localtime\n",
                     "2: timezone: must be a tz database name such as Asia/Shanghai");
    expect_error_min("[reminders]\ntimezone =\n",
                     "2: timezone: must be a tz database name such as Asia/Shanghai");
}

static void test_strings(void **state)
{
    (void)state;
    expect_error("[admin]\ntoken = short\n", "2: token: must be at least 16 characters");
    expect_error("[admin]\ntoken = 0123456789 abcdef\n",
                 "2: token: must not contain blanks or control characters");
    expect_error("[ussd]\nservice_code = 12345\n",
                 "2: service_code: must be a USSD code of digits, * and #, e.g. *120*12345#");
    expect_error("[ussd]\nservice_code = *12a#\n",
                 "2: service_code: must be a USSD code of digits, * and #, e.g. *120*12345#");
    expect_error("[ussd]\nhotline =\n", "2: hotline: must not be empty");
    expect_error("[ussd]\nhotline = 123456789012345678901234567890123\n",
                 "2: hotline: must be at most 32 bytes");
    expect_error("[sms]\nsignature = 【一二三四五六七八九十"
                 "一二三四五六七八九十一二三】\n",
                 "2: signature: must be at most 24 characters");
}

static void test_providers(void **state)
{
    (void)state;
    expect_error_min("[provider x]\ntype = smpp\n",
                     "2: type: must be africastalking, twilio, kannel or console");
    expect_error_min("[provider x]\nsender = me\n", "1: [provider x] type: required");
    expect_error_min("[provider at]\ntype = africastalking\nusername = u\n",
                     "1: [provider at] api_key: required for type africastalking");
    expect_error_min("[provider tw]\ntype = twilio\naccount_sid = AC1\n",
                     "1: [provider tw] auth_token: required for type twilio");
    expect_error_min("[provider k]\ntype = kannel\nusername = u\npassword = p\n",
                     "1: [provider k] base_url: required for type kannel");
    expect_error_min("[provider k]\ntype = kannel\nbase_url = http://k\nusername = u\n",
                     "1: [provider k] password: required for type kannel");
    /* Keys of another type: the first such line is named, even before type. */
    expect_error_min("[provider tw]\naccount_sid = AC1\nauth_token = t\napi_key = k\n"
                     "type = twilio\n",
                     "4: api_key: not allowed for type twilio");
    expect_error_min("[provider c]\npath = /tmp/o\nbase_url = http://x\ntimeout_ms = 100\n"
                     "type = console\n",
                     "3: base_url: not allowed for type console");
    expect_error_min("[provider k]\ntype = kannel\nbase_url = http://k\nusername = u\n"
                     "password = p\npath = /x\n",
                     "6: path: not allowed for type kannel");
    expect_error_min("[provider at]\ntype = africastalking\nbase_url = api.africastalking.com\n",
                     "3: base_url: must be a URL starting with http:// or https://");
    expect_error_min("[provider at]\ntype = africastalking\napi_key =\n",
                     "3: api_key: must not be empty");
    expect_error_min("[provider]\n",
                     "1: [provider]: a provider section is [provider NAME], "
                     "NAME of 1 to 32 letters, digits, '_' and '-'");
    expect_error_min("[provider a.b]\n",
                     "1: [provider a.b]: a provider section is [provider NAME], "
                     "NAME of 1 to 32 letters, digits, '_' and '-'");
    expect_error_min("[provider a b]\n",
                     "1: [provider a b]: a provider section is [provider NAME], "
                     "NAME of 1 to 32 letters, digits, '_' and '-'");
    /* Providers come back in file order, whitespace in the header ignored. */
    gw_config *c = load_ok("[ provider  B_2 ]\ntype = console\n[provider a-1]\n"
                           "type = console\n" MINIMAL);
    assert_string_equal(c->providers->name, "B_2");
    assert_string_equal(c->providers->next->name, "a-1");
    assert_null(c->providers->path);
    gw_config_free(c);
}

static void test_default_provider(void **state)
{
    (void)state;
    expect_error_min("[sms]\ndefault_provider = cmcc\n[provider cucc]\ntype = console\n",
                     "2: default_provider: no [provider cmcc] section");
    expect_error_min("[sms]\ndefault_provider = Cucc\n[provider cucc]\ntype = console\n",
                     "2: default_provider: no [provider Cucc] section");
    /* Named before it is defined is fine. */
    gw_config *c = load_ok("[sms]\ndefault_provider = cucc\n[provider cucc]\n"
                           "type = console\n" MINIMAL);
    assert_string_equal(c->sms_default_provider, "cucc");
    assert_non_null(gw_config_provider(c, c->sms_default_provider));
    gw_config_free(c);
}

static void test_env_values(void **state)
{
    (void)state;
    setenv("TEST_CFG_HOTLINE", "96655", 1);
    setenv("TEST_CFG_PORT", "7000", 1);
    gw_config *c = load_ok("[admin]\ntoken = 0123456789abcdef\n[ussd]\nservice_code = *1#\n"
                           "hotline = env:TEST_CFG_HOTLINE\n[http]\nlisten = 127.0.0.1:7000\n"
                           "max_body_bytes = env:TEST_CFG_PORT\n");
    assert_string_equal(c->ussd_hotline, "96655");
    assert_int_equal(c->http_max_body, 7000);
    gw_config_free(c);
    unsetenv("TEST_CFG_UNSET");
    expect_error("[admin]\ntoken = env:TEST_CFG_UNSET\n",
                 "2: token: environment variable TEST_CFG_UNSET is not set");
    expect_error_min("[provider t]\ntype = twilio\naccount_sid = AC\n"
                     "auth_token = env:TEST_CFG_UNSET\n",
                     "4: auth_token: environment variable TEST_CFG_UNSET is not set");
    expect_error("[admin]\ntoken = env:\n", "2: token: env: needs a variable name");
    /* The value is checked after it is read. */
    setenv("TEST_CFG_SHORT", "abc", 1);
    expect_error("[admin]\ntoken = env:TEST_CFG_SHORT\n",
                 "2: token: must be at least 16 characters");
    unsetenv("TEST_CFG_SHORT");
    unsetenv("TEST_CFG_HOTLINE");
    unsetenv("TEST_CFG_PORT");
}

static void test_file_values(void **state)
{
    (void)state;
    char text[512], want[256], path[128];
    snprintf(path, sizeof path, "%s/token", scratch);
    write_file(path, "file-token-0123456789\r\n");
    snprintf(text, sizeof text,
             "[admin]\ntoken = file:%s\n[ussd]\nservice_code = *1#\nhotline = 1\n", path);
    gw_config *c = load_ok(text);
    assert_string_equal(c->admin_token, "file-token-0123456789");
    gw_config_free(c);
    write_file(path, "two\nlines\n");
    snprintf(text, sizeof text, "[ussd]\nhotline = file:%s\n", path);
    expect_error(text, "2: hotline: must not contain control characters");
    remove(path);

    snprintf(text, sizeof text, "[admin]\ntoken = file:%s/missing\n", scratch);
    snprintf(want, sizeof want, "2: token: cannot read %s/missing: No such file or directory",
             scratch);
    expect_error(text, want);
    snprintf(text, sizeof text, "[admin]\ntoken = file:%s\n", scratch);
    snprintf(want, sizeof want, "2: token: cannot read %s: Is a directory", scratch);
    expect_error(text, want);
    expect_error("[admin]\ntoken = file:\n", "2: token: file: needs a path");
}

static void test_calendar(void **state)
{
    (void)state;
    char text[512], want[256];
    snprintf(text, sizeof text, "[calendar]\nfiles = %s/2026.ini,%s/2028.ini\n", scratch, scratch);
    snprintf(want, sizeof want, "2: files: cannot read %s/2028.ini: No such file or directory",
             scratch);
    expect_error_min(text, want);
    snprintf(text, sizeof text, "[calendar]\nfiles = %s\n", scratch);
    snprintf(want, sizeof want, "2: files: %s is not a regular file", scratch);
    expect_error_min(text, want);
    snprintf(text, sizeof text, "[calendar]\nfiles = %s/2026.ini,,%s/2027.ini\n", scratch, scratch);
    expect_error_min(text, "2: files: empty path in the list");
    /* Relative paths are the process's cwd's (the tests run from the repo root). */
    gw_config *c = load_ok("[calendar]\nfiles = ops/gateway.example.ini\n" MINIMAL);
    assert_string_equal(c->calendar_files[0], "ops/gateway.example.ini");
    assert_null(c->calendar_files[1]);
    gw_config_free(c);
}

static void test_templates_dir(void **state)
{
    (void)state;
    char text[512], want[256];
    snprintf(text, sizeof text, "[templates]\ndir = %s/nothing\n", scratch);
    snprintf(want, sizeof want, "2: dir: cannot open %s/nothing: No such file or directory",
             scratch);
    expect_error_min(text, want);
    snprintf(text, sizeof text, "[templates]\ndir = %s/2026.ini\n", scratch);
    snprintf(want, sizeof want, "2: dir: %s/2026.ini is not a directory", scratch);
    expect_error_min(text, want);
    gw_config *c = load_ok("[templates]\ndir = templates/data\n" MINIMAL);
    assert_string_equal(c->templates_dir, "templates/data");
    gw_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_cannot_open),
        cmocka_unit_test(test_unknown_section_and_key),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_bad_int),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_redis),
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_timezone),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_providers),
        cmocka_unit_test(test_default_provider),
        cmocka_unit_test(test_env_values),
        cmocka_unit_test(test_file_values),
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_templates_dir),
    };
    if (make_scratch() != 0)
        return 1;
    atexit(remove_scratch);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
