/* prov_fixtures.h - messages and accounts shared by the providers' tests
 * (test_prov.c, test_prov_registry.c). Include after cmocka.h. */
#ifndef PROV_FIXTURES_H
#define PROV_FIXTURES_H

#include <stdio.h>
#include <string.h>

#include "gw_config.h"
#include "prov.h"

static const prov_msg msg_gsm = {
    .id = "42", .to = "+8613800000001", .text = "Hello world & more=1+1",
    .text_len = 22, .ucs2 = 0, .segments = 1,
};

/* "缴费" (pay contributions): E7 BC B4 E8 B4 B9 in UTF-8. */
static const prov_msg msg_ucs2 = {
    .id = "43", .to = "+8613800000002", .text = "\xe7\xbc\xb4\xe8\xb4\xb9",
    .text_len = 6, .ucs2 = 1, .segments = 1,
};

static inline gw_provider_conf conf_at(void)
{
    return (gw_provider_conf){
        .name = "at", .type = "africastalking", .sender = "COUNTY", .max_tps = 10,
        .timeout_ms = 5000, .priority = 100, .username = "county", .api_key = "KEY123",
    };
}

static inline gw_provider_conf conf_twilio(void)
{
    return (gw_provider_conf){
        .name = "tw", .type = "twilio", .sender = "+8610000000000", .max_tps = 10,
        .timeout_ms = 4000, .priority = 100, .account_sid = "AC123", .auth_token = "tok",
    };
}

static inline gw_provider_conf conf_kannel(void)
{
    return (gw_provider_conf){
        .name = "cmcc", .type = "kannel", .base_url = "http://127.0.0.1:13013/",
        .sender = "1069012345", .max_tps = 10, .timeout_ms = 3000, .priority = 100,
        .username = "gateway", .password = "p@ss w",
    };
}

/* The start of file PATH (up to 4 KiB), NUL-terminated, in a static buffer. */
static inline char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

#endif
